"""Data augmentation in NumPy: each transform is a pure function of (image, rng).

    image   (H, W) grey or (H, W, C) colour (C = 3 for RGB), floating point, values in [0, 1]
            (uint8 images are refused: convert with ``image / 255`` first)
    rng     a ``np.random.Generator`` (``np.random.default_rng(seed)``): the same seed gives
            the same output; the input image is never modified

The random transforms draw their decision from ``rng`` and call a deterministic one:
``mirror`` -> ``hflip``; ``random_crop`` -> ``crop``; ``rotate`` -> ``rotate_by``;
``shear`` -> ``shear_by``; ``color_shift`` -> ``shift_color``; ``pca_color`` ->
``pca_shift``. The deterministic ones let a caller (or the PyTorch twins in
``cnn_course.pt.augment``) apply exactly the same decision.

Every transform keeps the label's meaning and (except ``random_crop`` with a smaller
``size``) the image's shape; rotation and shear fill the corners they uncover with zeros.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import ndimage

from .. import _validate as v

__all__ = [
    "augment",
    "color_shift",
    "crop",
    "hflip",
    "mirror",
    "pca_color",
    "pca_color_fit",
    "pca_shift",
    "random_crop",
    "rotate",
    "rotate_by",
    "shear",
    "shear_by",
    "shift_color",
]


# ----------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------


def _check_image(image, name="image"):
    """Require a float image (H, W) or (H, W, C) with values in [0, 1]."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be a NumPy array of shape (H, W) or (H, W, C), got {type(image).__name__}")
    if image.ndim not in (2, 3):
        raise ValueError(f"{name} must be (H, W) or (H, W, C), got a {image.ndim}-D array of shape {image.shape}")
    if image.dtype.kind != "f":
        hint = " (convert a uint8 image with image / 255)" if image.dtype == np.uint8 else ""
        raise ValueError(f"{name} must have a floating-point dtype with values in [0, 1], got {image.dtype}{hint}")
    if image.size and not (np.isfinite(image).all() and image.min() >= 0 and image.max() <= 1):
        raise ValueError(
            f"{name} values must lie in [0, 1], got min {np.nanmin(image):.4g}, max {np.nanmax(image):.4g}"
            + ("" if np.isfinite(image).all() else " and non-finite values")
        )


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a np.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")


def _check_nonneg(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def _check_size(size, image):
    """size: int or (h, w) -> (h, w) positive ints."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (size, size)
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ValueError(f"size must be an int or a pair (h, w), got {size!r}")
    return tuple(v.check_positive_int(s, "size") for s in size)


# ----------------------------------------------------------------------------------------
# Deterministic transforms
# ----------------------------------------------------------------------------------------


def hflip(image):
    """The mirror image: flip the width axis (columns). (H, W[, C]) -> same shape, a copy."""
    _check_image(image)
    return image[:, ::-1].copy()


def crop(image, top, left, size, pad=0):
    """Zero-pad by ``pad`` on every side, then cut the (h, w) window at (top, left).

    image (H, W[, C]) -> (h, w[, C]); top, left are coordinates in the padded image, with
    0 <= top <= H + 2*pad - h and 0 <= left <= W + 2*pad - w (the window lies fully inside).
    """
    _check_image(image)
    h, w = _check_size(size, image)
    pad = v.check_nonneg_int(pad, "pad")
    H, W = image.shape[:2]
    top = v.check_nonneg_int(top, "top")
    left = v.check_nonneg_int(left, "left")
    if top + h > H + 2 * pad or left + w > W + 2 * pad:
        raise ValueError(
            f"the crop (top={top}, left={left}, size=({h}, {w})) does not fit inside the padded image "
            f"({H + 2 * pad}x{W + 2 * pad} = image {H}x{W} + 2*pad {pad})"
        )
    padded = np.zeros((H + 2 * pad, W + 2 * pad) + image.shape[2:], image.dtype)
    padded[pad : pad + H, pad : pad + W] = image
    return padded[top : top + h, left : left + w].copy()


def _transform(image, matrix, offset):
    """Resample with output pixel (r, c) taken from input matrix @ (r, c) + offset, bilinear."""
    if image.ndim == 3:  # the channel axis maps to itself
        m3 = np.eye(3)
        m3[:2, :2] = matrix
        matrix, offset = m3, np.append(offset, 0.0)
    out = ndimage.affine_transform(image, matrix, offset=offset, order=1, mode="constant", cval=0.0)
    return np.clip(out, 0.0, 1.0, out=out)


def rotate_by(image, degrees):
    """Rotate anticlockwise by ``degrees`` about the image centre, same shape, zero corners."""
    _check_image(image)
    a = np.deg2rad(float(degrees))
    # output (r, c) comes from input R(-a) applied around the centre (rows point down)
    matrix = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    centre = (np.array(image.shape[:2]) - 1) / 2.0
    return _transform(image, matrix, centre - matrix @ centre)


def shear_by(image, shear):
    """Horizontal shear about the centre row: row r moves right by shear * (centre - r) pixels.

    (H, W[, C]) -> same shape; shear = 0.2 slants vertical lines by atan(0.2) ≈ 11°.
    """
    _check_image(image)
    s = float(shear)
    matrix = np.array([[1.0, 0.0], [s, 1.0]])  # input column = c + s * (r - centre_row)
    centre = (np.array(image.shape[:2]) - 1) / 2.0
    return _transform(image, matrix, centre - matrix @ centre)


def shift_color(image, shift):
    """Add ``shift[c]`` to channel c (one number for a grey image), clipped to [0, 1].

    image (H, W) with shift a number or shape (1,); image (H, W, C) with shift (C,).
    """
    _check_image(image)
    C = 1 if image.ndim == 2 else image.shape[2]
    shift = np.asarray(shift, dtype=image.dtype).reshape(-1)
    if shift.shape != (C,):
        raise ValueError(f"shift must have one value per channel, shape ({C},), got {shift.shape}")
    out = image + (shift[0] if image.ndim == 2 else shift)
    return np.clip(out, 0.0, 1.0, out=out)


def pca_shift(eigvals, eigvecs, alphas):
    """AlexNet's colour shift Σ_i α_i λ_i p_i: eigvecs (3, 3) with p_i = eigvecs[:, i],
    eigvals (3,), alphas (3,) -> (3,), one number to add to each of R, G, B."""
    eigvals, eigvecs, alphas = (np.asarray(a, dtype=np.float64) for a in (eigvals, eigvecs, alphas))
    for a, shape, name in ((eigvals, (3,), "eigvals"), (eigvecs, (3, 3), "eigvecs"), (alphas, (3,), "alphas")):
        if a.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    return eigvecs @ (alphas * eigvals)


# ----------------------------------------------------------------------------------------
# Random transforms: pure functions of (image, rng)
# ----------------------------------------------------------------------------------------


def mirror(image, rng=None, p=0.5):
    """Flip the width axis with probability p (decided by rng.random() < p).

    image (H, W[, C]) -> same shape, a new array. rng None: always flip (the mirror image).
    """
    _check_image(image)
    if rng is None:
        return hflip(image)
    _check_rng(rng)
    p = _check_nonneg(p, "p")
    if p > 1:
        raise ValueError(f"p must be a probability in [0, 1], got {p}")
    return hflip(image) if rng.random() < p else image.copy()


def random_crop(image, rng, size, pad=0):
    """Zero-pad by ``pad``, then crop an (h, w) window at a uniformly random place inside.

    image (H, W[, C]) -> (h, w[, C]); size int or (h, w), at most (H + 2*pad, W + 2*pad).
    With size = (H, W) and pad > 0 this is a random shift by up to pad pixels.
    Draws top = rng.integers(0, H + 2*pad - h + 1), then left likewise.
    """
    _check_image(image)
    _check_rng(rng)
    h, w = _check_size(size, image)
    pad = v.check_nonneg_int(pad, "pad")
    H, W = image.shape[:2]
    if h > H + 2 * pad or w > W + 2 * pad:
        raise ValueError(f"size ({h}, {w}) is larger than the padded image ({H + 2 * pad}x{W + 2 * pad})")
    top = int(rng.integers(0, H + 2 * pad - h + 1))
    left = int(rng.integers(0, W + 2 * pad - w + 1))
    return crop(image, top, left, (h, w), pad)


def rotate(image, rng, max_degrees):
    """Rotate by an angle drawn uniformly in [-max_degrees, max_degrees]; same shape."""
    _check_image(image)
    _check_rng(rng)
    m = _check_nonneg(max_degrees, "max_degrees")
    return rotate_by(image, rng.uniform(-m, m))


def shear(image, rng, max_shear):
    """Shear horizontally by a factor drawn uniformly in [-max_shear, max_shear]; same shape."""
    _check_image(image)
    _check_rng(rng)
    m = _check_nonneg(max_shear, "max_shear")
    return shear_by(image, rng.uniform(-m, m))


def color_shift(image, rng, max_shift):
    """Add to each channel a number drawn uniformly in [-max_shift, max_shift], clip to [0, 1].

    image (H, W) draws one number, (H, W, C) draws C (rng.uniform(-m, m, size=C)).
    """
    _check_image(image)
    _check_rng(rng)
    m = _check_nonneg(max_shift, "max_shift")
    C = 1 if image.ndim == 2 else image.shape[2]
    return shift_color(image, rng.uniform(-m, m, size=C))


def pca_color_fit(images):
    """Principal axes of the RGB pixel values of a set of images (AlexNet's colour PCA).

    images: (..., 3) — one image (H, W, 3) or a batch (N, H, W, 3), values in [0, 1].
    Returns eigvals (3,) in decreasing order, the variances along the axes, and eigvecs
    (3, 3) whose COLUMNS are the unit axes p_i of the 3×3 covariance of the pixels.
    """
    images = np.asarray(images)
    if images.ndim < 2 or images.shape[-1] != 3 or images.dtype.kind != "f":
        raise ValueError(f"images must be float RGB with shape (..., 3), got {images.shape} {images.dtype}")
    pixels = images.reshape(-1, 3).astype(np.float64)
    if len(pixels) < 2:
        raise ValueError(f"need at least 2 pixels to estimate a covariance, got {len(pixels)}")
    eigvals, eigvecs = np.linalg.eigh(np.cov(pixels, rowvar=False))
    order = np.argsort(eigvals)[::-1]
    return np.clip(eigvals[order], 0.0, None), eigvecs[:, order]


def pca_color(image, rng, eigvals, eigvecs, sigma=0.1, clip=True):
    """AlexNet's PCA colour augmentation: add Σ_i α_i λ_i p_i to every pixel.

    image (H, W, 3) -> (H, W, 3); eigvals (3,), eigvecs (3, 3) from pca_color_fit;
    α = rng.normal(0, sigma, size=3), drawn once per image. The shift moves the colours
    along the directions in which the data's colours vary, most along the first.
    clip: clip the result to [0, 1] (the default); False returns image + shift exactly.
    """
    _check_image(image)
    _check_rng(rng)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"pca_color needs an RGB image (H, W, 3), got shape {image.shape}")
    sigma = _check_nonneg(sigma, "sigma")
    shift = pca_shift(eigvals, eigvecs, rng.normal(0.0, sigma, size=3))
    out = image + shift.astype(image.dtype)
    return np.clip(out, 0.0, 1.0, out=out) if clip else out


_STEPS = {
    "mirror": mirror,
    "random_crop": random_crop,
    "rotate": rotate,
    "shear": shear,
    "color_shift": color_shift,
    "pca_color": pca_color,
}


def augment(image, rng, steps):
    """Apply several random transforms in order, all drawing from the same rng.

    steps: a sequence of (name or function, kwargs) pairs, e.g.
    ``[("mirror", {}), ("random_crop", {"size": 28, "pad": 2}), ("color_shift", {"max_shift": 0.1})]``;
    a function is called as ``fn(image, rng, **kwargs)``. Names: mirror, random_crop, rotate,
    shear, color_shift, pca_color. Returns the new image.
    """
    _check_image(image)
    _check_rng(rng)
    out = image
    for k, step in enumerate(steps):
        if not (isinstance(step, (tuple, list)) and len(step) == 2 and isinstance(step[1], dict)):
            raise ValueError(f"steps[{k}] must be a pair (name or function, kwargs dict), got {step!r}")
        fn, kwargs = step
        if isinstance(fn, str):
            if fn not in _STEPS:
                raise ValueError(f"steps[{k}]: unknown transform {fn!r}; known: {', '.join(_STEPS)}")
            fn = _STEPS[fn]
        out = fn(out, rng, **kwargs)
    return out.copy() if out is image else out
