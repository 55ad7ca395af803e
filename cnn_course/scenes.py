"""Detection scenes: real Fashion-MNIST objects pasted on real textures, with exact boxes.

No multi-object detection data set can be installed offline here, so the detection topics
(YOLO, the R-CNN family) compose their own, from real parts, deterministically:

* the background is a random square crop of one of scikit-image's photographed textures
  (``brick``, ``grass``, ``gravel``), rescaled to ``image_size`` and to a darker grey range
  (0.05 to 0.55) so that the clothes stand out as they would under a spotlight;
* each object is a real Fashion-MNIST item of one of ``classes``, cut along its own outline
  (its mask: pixels > ``MASK_THRESHOLD`` with the holes filled, resized along with the item:
  the resized mask is where its interpolated value exceeds 1/2), resized so that its longer
  side is ``object_size`` pixels (aspect ratio jittered by up to ±20 %) and pasted at a random
  place, wholly inside the image;
* objects never cover one another (their masks are disjoint), but their boxes may overlap, up
  to an IoU of ``max_overlap`` between any two boxes;
* each box is (x1, y1, x2, y2) in pixels, tight around the object's mask: x1 is the first
  mask column, x2 one past the last (``cnn_course.ref.boxes``'s continuous convention).

Splits come from disjoint sources: training scenes use Fashion-MNIST's training items 0..53,999
and the left 60 % of every texture, validation scenes its training items 54,000..59,999 and
the next 20 %, test scenes its *test* items and the right 20 %. Scene i of a split depends on
(seed, split, i) only, so ``make_scenes(10, ...)`` is the first ten of ``make_scenes(100, ...)``.
Pixels are rounded to multiples of 1/255, as an 8-bit image would store them.
"""

from __future__ import annotations

import functools
import numbers
from typing import NamedTuple

import numpy as np

from . import _validate as v

# cnn_course.data re-exports make_scenes and detection_splits, so this module imports it
# lazily, inside the functions, never at import time.

__all__ = [
    "MASK_THRESHOLD", "SCENE_CLASSES", "SCENE_SPLITS", "SCENE_TEXTURES",
    "DetectionSplits", "Scenes", "detection_splits", "make_scenes",
]

#: The default classes: four Fashion-MNIST items with distinct shapes (tall, flat, square, booted).
SCENE_CLASSES = ("Trouser", "Sneaker", "Bag", "Ankle boot")
SCENE_TEXTURES = ("brick", "grass", "gravel")
SCENE_SPLITS = ("train", "val", "test")
#: A Fashion-MNIST pixel belongs to the object when it is brighter than this (then holes are filled).
MASK_THRESHOLD = 0.1
_TEXTURE_COLUMNS = {"train": (0.0, 0.6), "val": (0.6, 0.8), "test": (0.8, 1.0)}
_VAL_START = 54_000  # Fashion-MNIST training items from here on are the validation objects
_BACKGROUND_RANGE = (0.05, 0.55)
_PLACEMENT_TRIES = 50


class Scenes(NamedTuple):
    """``images`` (N, 1, H, W) float32 in [0, 1]; ``targets``: per image ``(boxes (K, 4) float32,
    labels (K,) int64)``, the ``ground_truths`` layout of ``mean_average_precision``."""
    images: np.ndarray
    targets: list


class DetectionSplits(NamedTuple):
    train: Scenes
    val: Scenes
    test: Scenes


# --------------------------------------------------------------------------- checks

def _check_pair(value, name: str, lo: int, hi: int) -> tuple[int, int]:
    ok = (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in value)
          and lo <= value[0] <= value[1] <= hi)
    if not ok:
        raise ValueError(f"{name} must be a pair (min, max) of integers with {lo} <= min <= max <= {hi}, got {value!r}")
    return int(value[0]), int(value[1])


def _check_classes(classes) -> tuple[str, ...]:
    from .data import FASHION_MNIST_CLASSES

    if isinstance(classes, str) or not isinstance(classes, (tuple, list)) or not classes:
        raise ValueError(f"classes must be a non-empty list of Fashion-MNIST class names, got {classes!r}")
    unknown = [c for c in classes if c not in FASHION_MNIST_CLASSES]
    if unknown:
        raise ValueError(f"unknown classes {unknown}; expected names from {list(FASHION_MNIST_CLASSES)}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must not repeat a name, got {list(classes)}")
    return tuple(classes)


def _check_args(n, seed, image_size, objects, classes, object_size, max_overlap, split):
    n = v.check_nonneg_int(n, "n")
    seed = v.check_nonneg_int(seed, "seed")
    image_size = v.check_positive_int(image_size, "image_size")
    if not 32 <= image_size <= 256:
        raise ValueError(f"image_size must be between 32 and 256 pixels, got {image_size}")
    objects = _check_pair(objects, "objects", 1, 20)
    classes = _check_classes(classes)
    object_size = _check_pair(object_size, "object_size", 8, image_size)
    if (isinstance(max_overlap, bool) or not isinstance(max_overlap, numbers.Real)
            or not 0 <= float(max_overlap) <= 1):
        raise ValueError(f"max_overlap must be a number in [0, 1] (an IoU between two boxes), got {max_overlap!r}")
    if split not in SCENE_SPLITS:
        raise ValueError(f"split must be one of {SCENE_SPLITS}, got {split!r}")
    return n, seed, image_size, objects, classes, object_size, float(max_overlap), split


# --------------------------------------------------------------------------- sources

@functools.lru_cache(maxsize=2)
def _fashion(root):
    from .data import load_fashion_mnist

    x_train, y_train, x_test, y_test = load_fashion_mnist(root)
    return x_train[:, 0], y_train, x_test[:, 0], y_test


def _object_pool(split: str, classes: tuple[str, ...], root):
    """(items (M, 28, 28), labels (M,) in 0..len(classes)-1, indices (M,) into the Fashion-MNIST set)."""
    from .data import FASHION_MNIST_CLASSES

    x_train, y_train, x_test, y_test = _fashion(root)
    if split == "test":
        x, y, offset = x_test, y_test, 0
    elif split == "val":
        x, y, offset = x_train[_VAL_START:], y_train[_VAL_START:], _VAL_START
    else:
        x, y, offset = x_train[:_VAL_START], y_train[:_VAL_START], 0
    wanted = np.array([FASHION_MNIST_CLASSES.index(c) for c in classes])
    idx = np.flatnonzero(np.isin(y, wanted))
    to_label = np.full(len(FASHION_MNIST_CLASSES), -1, np.int64)
    to_label[wanted] = np.arange(len(wanted))  # Fashion-MNIST class -> position in `classes`
    return x[idx], to_label[y[idx]], (idx + offset).astype(np.int64)


@functools.lru_cache(maxsize=3)
def _texture_band(name: str, split: str) -> np.ndarray:
    from .data import sample_image

    tex = sample_image(name, gray=True)
    lo, hi = _TEXTURE_COLUMNS[split]
    W = tex.shape[1]
    return tex[:, int(round(lo * W)) : int(round(hi * W))]


# --------------------------------------------------------------------------- one scene

def _resize(img: np.ndarray, shape) -> np.ndarray:
    from skimage.transform import resize

    return resize(img, shape, order=1, anti_aliasing=shape[0] < img.shape[0], mode="edge").astype(np.float32)


def _object_mask(patch: np.ndarray) -> np.ndarray:
    from scipy.ndimage import binary_fill_holes

    return binary_fill_holes(patch > MASK_THRESHOLD)


def _background(rng, split: str, image_size: int):
    name = SCENE_TEXTURES[rng.integers(len(SCENE_TEXTURES))]
    band = _texture_band(name, split)
    H, W = band.shape
    size = int(rng.integers(min(3 * image_size // 4, W), min(3 * image_size // 2, W, H) + 1))
    y0, x0 = int(rng.integers(H - size + 1)), int(rng.integers(W - size + 1))
    crop = _resize(band[y0 : y0 + size, x0 : x0 + size], (image_size, image_size))
    lo, hi = crop.min(), crop.max()
    a, b = _BACKGROUND_RANGE
    crop = a + (b - a) * (crop - lo) / max(hi - lo, 1e-6)
    return crop, name, (y0, x0, size)


def _make_object(rng, pool, object_size):
    """A random item of the pool, cut to its mask's bounds and resized: (patch, mask, label, source)."""
    items, labels, sources = pool
    k = int(rng.integers(len(items)))
    item = items[k]
    mask = _object_mask(item)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    longer = rng.integers(object_size[0], object_size[1] + 1)
    aspect = np.exp(rng.uniform(np.log(0.8), np.log(1.25)))  # width stretched, height squeezed
    h, w = rows[-1] + 1 - rows[0], (cols[-1] + 1 - cols[0]) * aspect
    scale = longer / max(h, w)
    shape = (max(int(round(h * scale)), 2), max(int(round(w * scale)), 2))
    # the item and its mask resized together; the resized mask is where the mask's average > 1/2
    both = _resize(np.stack([item[crop], mask[crop].astype(np.float32)], axis=-1), shape + (2,))
    return both[..., 0], both[..., 1] > 0.5, int(labels[k]), int(sources[k])


def _box_iou(box, boxes) -> np.ndarray:
    """IoU of one box with a list of boxes (all inside the image, no checks needed)."""
    if not boxes:
        return np.zeros(0)
    b = np.asarray(boxes, np.float64)
    w = np.clip(np.minimum(box[2], b[:, 2]) - np.maximum(box[0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], b[:, 3]) - np.maximum(box[1], b[:, 1]), 0, None)
    inter = w * h
    union = (box[2] - box[0]) * (box[3] - box[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return inter / union


def _one_scene(rng, pool, split, image_size, objects, object_size, max_overlap):
    image, texture, crop = _background(rng, split, image_size)
    taken = np.zeros((image_size, image_size), bool)
    boxes, labels, masks, sources = [], [], [], []
    for _ in range(int(rng.integers(objects[0], objects[1] + 1))):
        patch, mask, label, source = _make_object(rng, pool, object_size)
        h, w = mask.shape
        if h > image_size or w > image_size:
            continue
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        for _ in range(_PLACEMENT_TRIES):
            y0, x0 = int(rng.integers(image_size - h + 1)), int(rng.integers(image_size - w + 1))
            box = [x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1]
            if (_box_iou(box, boxes) > max_overlap).any() or (taken[y0 : y0 + h, x0 : x0 + w] & mask).any():
                continue
            full = np.zeros_like(taken)
            full[y0 : y0 + h, x0 : x0 + w] = mask
            taken |= full
            image[full] = patch[mask]
            boxes.append(box)
            labels.append(label)
            masks.append(full)
            sources.append(source)
            break
    image = np.round(np.clip(image, 0, 1) * 255) / 255
    target = (np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64))
    details = {"masks": np.array(masks, bool).reshape(-1, image_size, image_size),
               "sources": np.array(sources, np.int64),
               "source_set": "t10k" if split == "test" else "train",
               "texture": texture, "crop": crop}
    return image.astype(np.float32), target, details


# --------------------------------------------------------------------------- public API

def make_scenes(n: int, seed: int = 0, split: str = "train", image_size: int = 64, objects=(1, 4),
                classes=SCENE_CLASSES, object_size=(16, 32), max_overlap: float = 0.3,
                return_details: bool = False, root=None):
    """``n`` detection scenes of ``split`` ("train", "val" or "test"), deterministic in ``seed``.

    Each scene is a textured ``image_size``² grey image with ``objects`` = (min, max) real
    Fashion-MNIST items (the number drawn uniformly; an object that finds no free place in 50
    tries is left out, which is rare unless the scene is crowded) whose longer side is drawn
    from ``object_size`` = (min, max) pixels; ``max_overlap`` caps the IoU between any two
    boxes (masks never overlap). ``classes``: Fashion-MNIST class names; label k is
    ``classes[k]``. ``root``: where Fashion-MNIST is (see :func:`cnn_course.data.load_fashion_mnist`).

    Returns ``Scenes(images, targets)``: images (n, 1, image_size, image_size) float32 in [0, 1],
    targets a list of n ``(boxes (K, 4) float32 corners x1 y1 x2 y2 in pixels, labels (K,) int64)``.
    With ``return_details=True`` also a list of n dicts: ``masks`` (K, H, W) bool (each object's
    pixels), ``sources`` (K,) the items' indices in Fashion-MNIST's ``source_set`` ("train" or
    "t10k"), ``texture`` and ``crop`` (y0, x0, size) of the background in its texture band.
    """
    n, seed, image_size, objects, classes, object_size, max_overlap, split = _check_args(
        n, seed, image_size, objects, classes, object_size, max_overlap, split)
    pool = _object_pool(split, classes, root)
    split_id = SCENE_SPLITS.index(split)
    images = np.zeros((n, 1, image_size, image_size), np.float32)
    targets, details = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, split_id, i])
        images[i, 0], target, detail = _one_scene(rng, pool, split, image_size, objects, object_size, max_overlap)
        targets.append(target)
        details.append(detail)
    scenes = Scenes(images, targets)
    return (*scenes, details) if return_details else scenes


@functools.lru_cache(maxsize=2)
def _splits(seed, sizes, image_size, root):
    return DetectionSplits(*(make_scenes(k, seed, split, image_size, root=root)
                             for k, split in zip(sizes, SCENE_SPLITS)))


def detection_splits(seed: int = 0, sizes=(2000, 300, 300), image_size: int = 64, root=None) -> DetectionSplits:
    """The course's fixed detection data: ``DetectionSplits(train, val, test)`` of :func:`make_scenes`
    with its defaults, ``sizes`` = (train, val, test) scenes. Built once per process (about two
    seconds) and cached; each call returns fresh copies, so changing them in place is harmless.
    """
    seed = v.check_nonneg_int(seed, "seed")
    ok = (isinstance(sizes, (tuple, list)) and len(sizes) == 3
          and all(isinstance(k, numbers.Integral) and not isinstance(k, bool) and k >= 0 for k in sizes))
    if not ok:
        raise ValueError(f"sizes must be three non-negative integers (train, val, test), got {sizes!r}")
    cached = _splits(seed, tuple(int(k) for k in sizes), v.check_positive_int(image_size, "image_size"),
                     None if root is None else str(root))
    return DetectionSplits(*(Scenes(s.images.copy(), [(b.copy(), l.copy()) for b, l in s.targets]) for s in cached))
