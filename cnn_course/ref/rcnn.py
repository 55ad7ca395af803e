"""The R-CNN family in NumPy: RoI pooling, RoIAlign, box-regression targets, anchors and the RPN.

Regions of interest are rows of an array

    rois      (K, 5)          [batch_index, x1, y1, x2, y2], corners in *image* pixels
    features  (N, C, H, W)    a feature map whose pixel (h, w) covers image pixels / spatial_scale
    out       (K, C, oh, ow)  one oh×ow grid of C numbers per region

``spatial_scale`` maps image pixels to feature pixels (1/16 after four stride-2 stages).
``roi_pool`` and ``roi_align`` compute exactly what ``torchvision.ops.roi_pool`` / ``roi_align``
compute (their CPU kernels, read line by line):

RoIPool (Fast R-CNN). The corners are scaled and *rounded* to whole feature pixels, half away
from zero (C's ``round``): x1' = round(x1·s), x2' = round(x2·s), same for y. The region holds
the pixels x1'..x2' *inclusive*, so it is roi_w = max(x2' - x1' + 1, 1) pixels wide (a malformed
region becomes 1×1). Bin j along x covers pixels [x1' + floor(j·roi_w/ow), x1' + ceil((j+1)·roi_w/ow)),
clipped to the map: bins overlap by a pixel when ow does not divide roi_w. Each bin outputs its
maximum; a bin left empty by the clipping outputs 0. The gradient goes to the first maximum of
the bin in row-major order (the kernel's ``>`` scan from -FLT_MAX; values <= -FLT_MAX or NaN
are never picked, and a bin holding only those outputs -FLT_MAX and passes no gradient).

RoIAlign (Mask R-CNN). No rounding: x1' = x1·s - o, x2' = x2·s - o with the offset o = 0.5 when
``aligned`` (a pixel's centre is at +0.5, so this samples the right place) and 0 otherwise
(the original Detectron behaviour, kept for compatibility). Without ``aligned`` the region is
at least 1×1 feature pixel; with it, it may be empty. Each bin averages g_h × g_w samples taken
at the centres of a regular g_h × g_w sub-grid, g = ``sampling_ratio`` when > 0, else
ceil(roi_h / oh) (and ceil(roi_w / ow)): about one sample per feature pixel; 0 samples give 0.
A sample at (y, x) is bilinearly interpolated from its four neighbours, except that a sample
with y < -1 or y > H (x < -1 or x > W) gives 0; otherwise coordinates below 0 are moved to 0
and ones at or past the last pixel to the last pixel. The output is linear in ``features``: the
backward pass sends each output's gradient back with the same bilinear weights.

Here that linearity is used literally: along each axis the samples form an interpolation matrix
A_y (oh, H) and A_x (ow, W), and one region's output is A_y · F · A_xᵀ / (g_h·g_w) per channel.

Box regression (R-CNN, Faster R-CNN): a proposal P and a ground truth G in centre–size form give

    tx = wx·(Gx - Px)/Pw,  ty = wy·(Gy - Py)/Ph,  tw = ww·log(Gw/Pw),  th = wh·log(Gh/Ph)

with widths x2 - x1 (no "+1": torchvision's current ``BoxCoder``; the R-CNN paper's code used
x2 - x1 + 1 for pixel-index boxes). ``decode_boxes`` inverts it, clamping tw/wt and th/wh at
log(1000/16) so that exp cannot overflow (as torchvision).

``cnn_course.pt.rcnn`` is the PyTorch twin, function for function (autograd for the backward passes).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _validate as v
from .boxes import _float_dtype, _iou, check_boxes, check_iou_threshold, nms

__all__ = [
    "BBOX_XFORM_CLIP",
    "anchor_targets",
    "decode_boxes",
    "encode_boxes",
    "generate_anchors",
    "label_anchors",
    "match_anchors",
    "proposals_after_nms",
    "roi_align",
    "roi_align_backward",
    "roi_align_forward",
    "roi_pool",
    "roi_pool_backward",
    "roi_pool_forward",
    "rpn_loss",
    "sample_anchors",
]

#: The largest float32, the kernel's starting value of a bin's running maximum.
FLT_MAX = float(np.finfo(np.float32).max)
#: decode_boxes clamps tw and th (after dividing by their weights) at log(1000/16), as torchvision.
BBOX_XFORM_CLIP = math.log(1000.0 / 16)


# ----------------------------------------------------------------------------------------
# Validation (the torch twin uses the same messages)
# ----------------------------------------------------------------------------------------


def _row(row) -> str:
    return "(" + ", ".join(f"{float(c):g}" for c in row) + ")"


def rois_order_message(i: int, row, axis: str) -> str:
    a, b = ("x1", "x2") if axis == "x" else ("y1", "y2")
    return (f"rois[{i}] = {_row(row)} has {b} < {a}: rois are rows [batch_index, x1, y1, x2, y2] with "
            f"x1 <= x2 and y1 <= y2. Did you pass (x, y, w, h) boxes, or forget the batch index column?")


def rois_batch_message(i: int, row, n: int) -> str:
    return (f"rois[{i}] = {_row(row)} has batch index {float(row[0]):g}, but features hold N = {n} images: "
            f"the first column must be an integer image index in 0..{n - 1}")


def check_output_size(output_size) -> tuple[int, int]:
    """An int or a pair (oh, ow) of positive ints -> (oh, ow)."""
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        return (v.check_positive_int(output_size[0], "output_size[0]"),
                v.check_positive_int(output_size[1], "output_size[1]"))
    if isinstance(output_size, numbers.Integral) and not isinstance(output_size, bool):
        s = v.check_positive_int(output_size, "output_size")
        return s, s
    raise ValueError(f"output_size must be a positive int or a pair (oh, ow) of them, got {output_size!r}")


def check_spatial_scale(spatial_scale) -> float:
    if isinstance(spatial_scale, bool) or not isinstance(spatial_scale, numbers.Real) \
            or not math.isfinite(spatial_scale) or spatial_scale <= 0:
        raise ValueError(f"spatial_scale must be a finite number > 0 (feature pixels per image pixel, "
                         f"e.g. 1/16), got {spatial_scale!r}")
    return float(spatial_scale)


def check_sampling_ratio(sampling_ratio) -> int:
    if isinstance(sampling_ratio, bool) or not isinstance(sampling_ratio, numbers.Integral):
        raise ValueError(f"sampling_ratio must be an int (<= 0: adaptive, ceil(roi size / output size)), "
                         f"got {sampling_ratio!r}")
    return int(sampling_ratio)


def check_aligned(aligned) -> bool:
    if not isinstance(aligned, (bool, np.bool_)):
        raise ValueError(f"aligned must be True or False, got {aligned!r}")
    return bool(aligned)


def _check_features(features) -> None:
    v.check_ndim(features, 4, "features", "(N, C, H, W)")
    v.check_float(features, "features")
    if features.shape[0] == 0 or features.shape[2] == 0 or features.shape[3] == 0:
        raise ValueError(f"features must hold at least one image of at least 1×1 pixels, got shape {tuple(features.shape)}")


def _check_rois(rois, n: int) -> None:
    v.check_ndim(rois, 2, "rois", "(K, 5), rows [batch_index, x1, y1, x2, y2]")
    if rois.shape[1] != 5:
        raise ValueError(f"rois must have shape (K, 5), rows [batch_index, x1, y1, x2, y2], got shape {tuple(rois.shape)}")
    if rois.dtype.kind not in "fiu":
        raise ValueError(f"rois must hold real numbers (a float or integer dtype), got {rois.dtype}")
    finite = np.isfinite(rois).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        raise ValueError(f"rois[{i}] = {_row(rois[i])} is not finite (NaN or infinity)")
    b = rois[:, 0]
    bad = (b != np.floor(b)) | (b < 0) | (b >= n)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(rois_batch_message(i, rois[i], n))
    for axis, (lo, hi) in (("x", (1, 3)), ("y", (2, 4))):
        bad = rois[:, hi] < rois[:, lo]
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(rois_order_message(i, rois[i], axis))


def _check_roi_args(features, rois, output_size, spatial_scale):
    _check_features(features)
    _check_rois(rois, features.shape[0])
    return check_output_size(output_size), check_spatial_scale(spatial_scale)


def _check_dout(dout, shape) -> None:
    v.check_ndim(dout, 4, "dout", "(K, C, oh, ow)")
    v.check_same_shape(dout, shape, "dout")


def round_half_away(x):
    """C's round(): halves go away from zero (np.round sends them to the even neighbour). Exact."""
    x = np.asarray(x, np.float64)
    a = np.abs(x)
    f = np.floor(a)
    return np.sign(x) * (f + (a - f >= 0.5))


# ----------------------------------------------------------------------------------------
# RoI pooling
# ----------------------------------------------------------------------------------------


def roi_pool_bins(roi, size: int, scale, dtype, extent: int):
    """Bin limits along one axis of one region: (start, end) int arrays of length ``size``.

    roi: the two corners (c1, c2) along this axis in image pixels; extent: H or W.
    Bin j covers feature pixels start[j] <= p < end[j] (empty when end <= start).
    """
    T = np.dtype(dtype).type
    c1, c2 = (int(round_half_away(T(c) * T(scale))) for c in roi)  # the product in the kernel's dtype
    length = max(c2 - c1 + 1, 1)
    bin_size = T(length) / T(size)
    j = np.arange(size).astype(dtype)
    start = np.floor(j * bin_size).astype(np.int64) + c1
    end = np.ceil((j + T(1)) * bin_size).astype(np.int64) + c1
    return np.clip(start, 0, extent), np.clip(end, 0, extent)


def _first_max(vals, mask, axis_len):
    """Max and first argmax over the last axis of ``vals`` (..., L) restricted by ``mask`` (P, L).

    vals: (..., L) -> (..., P) max and (..., P) index (-inf and 0 where nothing counts).
    """
    masked = np.where(mask, vals[..., None, :], -np.inf)  # (..., P, L)
    return masked.max(axis=-1), masked.argmax(axis=-1)


def _roi_pool_one(F, hs, he, ws, we, dtype):
    """One region: F (C, H, W) and bin limits -> out (C, oh, ow), argmax (C, oh, ow) flat in H*W or -1."""
    C, H, W = F.shape
    oh, ow = len(hs), len(ws)
    empty = (he[:, None] <= hs[:, None]) | (we[None, :] <= ws[None, :])  # (oh, ow)
    out = np.zeros((C, oh, ow), dtype)
    arg = np.full((C, oh, ow), -1, np.int64)
    if empty.all():
        return out, arg
    h0, h1, w0, w1 = hs.min(), he.max(), ws.min(), we.max()
    crop = F[:, h0:h1, w0:w1]
    vals = np.where(crop > -FLT_MAX, crop, -np.inf)  # the kernel never picks these (nor NaN)
    rows, cols = np.arange(h0, h1), np.arange(w0, w1)
    mask_w = (cols[None, :] >= ws[:, None]) & (cols[None, :] < we[:, None])  # (ow, w1-w0)
    mask_h = (rows[None, :] >= hs[:, None]) & (rows[None, :] < he[:, None])  # (oh, h1-h0)
    # separable: the first maximum in row-major order is, in the first row holding the bin's
    # maximum, that row's first maximum
    m1, i1 = _first_max(vals, mask_w, w1 - w0)  # (C, rh, ow)
    m2, i2 = _first_max(np.moveaxis(m1, 1, 2), mask_h, h1 - h0)  # (C, ow, oh)
    m2, i2 = np.moveaxis(m2, 2, 1), np.moveaxis(i2, 2, 1)  # (C, oh, ow)
    col = np.take_along_axis(i1, i2, axis=1)  # i1[c, i2[c, p, q], q]
    found = m2 > -np.inf
    arg = np.where(found & ~empty, (h0 + i2) * W + (w0 + col), -1)
    out = np.where(empty, 0, np.where(found, m2, -FLT_MAX)).astype(dtype)
    return out, arg


def roi_pool_forward(features, rois, output_size, spatial_scale=1.0):
    """Max pooling of each region into a fixed oh×ow grid (``torchvision.ops.roi_pool``; module docstring).

    features: (N, C, H, W) float, rois: (K, 5) [batch_index, x1, y1, x2, y2] in image pixels,
    output_size: int or (oh, ow), spatial_scale: feature pixels per image pixel
    ->  out (K, C, oh, ow) of the features' dtype, and a cache for ``roi_pool_backward``.
    """
    (oh, ow), scale = _check_roi_args(features, rois, output_size, spatial_scale)
    N, C, H, W = features.shape
    K = rois.shape[0]
    out = np.zeros((K, C, oh, ow), features.dtype)
    argmax = np.full((K, C, oh, ow), -1, np.int64)
    for k in range(K):
        b = int(rois[k, 0])
        hs, he = roi_pool_bins(rois[k, [2, 4]], oh, scale, features.dtype, H)
        ws, we = roi_pool_bins(rois[k, [1, 3]], ow, scale, features.dtype, W)
        out[k], argmax[k] = _roi_pool_one(features[b], hs, he, ws, we, features.dtype)
    return out, (features.shape, features.dtype, rois[:, 0].astype(np.int64), argmax)


def roi_pool_backward(dout, cache):
    """Backward pass of ``roi_pool_forward``: dout (K, C, oh, ow) -> dfeatures (N, C, H, W).

    Each output's gradient is added to the feature pixel that was its bin's maximum
    (nothing for empty bins); overlapping bins and regions accumulate.
    """
    v.check_cache(cache, 4)
    shape, dtype, batch, argmax = cache
    _check_dout(dout, argmax.shape)
    N, C, H, W = shape
    K = argmax.shape[0]
    hit = argmax >= 0
    channel = np.arange(C)[None, :, None, None]
    flat = (batch[:, None, None, None] * C + channel) * (H * W) + argmax  # into dfeatures.ravel()
    grad = np.bincount(flat[hit], weights=dout[hit].astype(np.float64), minlength=N * C * H * W)
    return grad.reshape(shape).astype(dtype) if K else np.zeros(shape, dtype)


def roi_pool(features, rois, output_size, spatial_scale=1.0):
    """``roi_pool_forward`` without the cache: (N, C, H, W), (K, 5) -> (K, C, oh, ow)."""
    return roi_pool_forward(features, rois, output_size, spatial_scale)[0]


# ----------------------------------------------------------------------------------------
# RoIAlign
# ----------------------------------------------------------------------------------------


def roi_align_geometry(roi, size: int, scale, sampling_ratio: int, aligned: bool, dtype):
    """Sample coordinates along one axis of one region: (size, g) array in feature pixels, and g.

    roi: the two corners (c1, c2) along this axis in image pixels. The arithmetic (and its
    order) is the kernel's, in the features' dtype.
    """
    T = np.dtype(dtype).type
    offset = T(0.5) if aligned else T(0)
    start = T(roi[0]) * T(scale) - offset
    end = T(roi[1]) * T(scale) - offset
    length = end - start
    if not aligned:
        length = max(length, T(1))
    bin_size = length / T(size)
    g = sampling_ratio if sampling_ratio > 0 else int(math.ceil(length / T(size)))
    j = np.arange(size).astype(dtype)[:, None]
    i = (np.arange(g) + 0.5).astype(dtype)[None, :]
    return (start + j * bin_size) + (i * bin_size) / T(max(g, 1)), g


def interpolation_matrix(coords, extent: int):
    """Bilinear weights of samples along one axis: coords (P, g) -> A (P, extent), A[p, i] = Σ_samples weight.

    A sample c < -1 or c > extent weighs nothing; else c <= 0 is read at 0, and one at or past
    the last pixel reads the last pixel; in between, weight 1 - (c - floor c) goes to floor c and
    c - floor c to floor c + 1.
    """
    P, g = coords.shape
    T = coords.dtype.type
    A = np.zeros((P, extent), coords.dtype)
    valid = (coords >= -1) & (coords <= extent)
    c = np.clip(coords, 0, extent)  # only the upper clip's effect is new, and only on invalid samples
    low = np.floor(c).astype(np.int64)
    last = low >= extent - 1
    low = np.where(last, extent - 1, low)
    high = np.where(last, extent - 1, low + 1)
    c = np.where(last, low.astype(coords.dtype), c)
    frac = (c - low.astype(coords.dtype)).astype(coords.dtype)
    w_low = np.where(valid, T(1) - frac, T(0))
    w_high = np.where(valid, frac, T(0))
    rows = np.repeat(np.arange(P), g)
    np.add.at(A, (rows, low.ravel()), w_low.ravel())
    np.add.at(A, (rows, high.ravel()), w_high.ravel())
    return A


def _roi_align_matrices(roi, oh, ow, H, W, scale, sampling_ratio, aligned, dtype):
    """A_y (oh, H), A_x (ow, W) and the sample count of one region [x1, y1, x2, y2]."""
    ys, gh = roi_align_geometry((roi[1], roi[3]), oh, scale, sampling_ratio, aligned, dtype)
    xs, gw = roi_align_geometry((roi[0], roi[2]), ow, scale, sampling_ratio, aligned, dtype)
    return interpolation_matrix(ys, H), interpolation_matrix(xs, W), max(gh * gw, 1)


def roi_align_forward(features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    """Bilinear RoI pooling (``torchvision.ops.roi_align``; module docstring).

    features: (N, C, H, W) float, rois: (K, 5) [batch_index, x1, y1, x2, y2] in image pixels,
    output_size: int or (oh, ow), spatial_scale: feature pixels per image pixel, sampling_ratio:
    samples per bin along each axis (<= 0: ceil(roi size / output size)), aligned: half-pixel offset
    ->  out (K, C, oh, ow) of the features' dtype, and a cache for ``roi_align_backward``.
    """
    (oh, ow), scale = _check_roi_args(features, rois, output_size, spatial_scale)
    sampling_ratio, aligned = check_sampling_ratio(sampling_ratio), check_aligned(aligned)
    N, C, H, W = features.shape
    K = rois.shape[0]
    out = np.zeros((K, C, oh, ow), features.dtype)
    mats = []
    for k in range(K):
        Ay, Ax, count = _roi_align_matrices(rois[k, 1:], oh, ow, H, W, scale, sampling_ratio, aligned, features.dtype)
        out[k] = Ay @ features[int(rois[k, 0])] @ Ax.T / features.dtype.type(count)
        mats.append((int(rois[k, 0]), Ay, Ax, count))
    return out, (features.shape, features.dtype, mats)


def roi_align_backward(dout, cache):
    """Backward pass of ``roi_align_forward``: dout (K, C, oh, ow) -> dfeatures (N, C, H, W).

    The transposed interpolation: region k sends A_yᵀ · dout[k] · A_x / count to its image.
    """
    v.check_cache(cache, 3)
    shape, dtype, mats = cache
    C = shape[1]
    oh = mats[0][1].shape[0] if mats else dout.shape[2]
    ow = mats[0][2].shape[0] if mats else dout.shape[3]
    _check_dout(dout, (len(mats), C, oh, ow))
    grad = np.zeros(shape, dtype)
    for k, (b, Ay, Ax, count) in enumerate(mats):
        grad[b] += Ay.T @ dout[k].astype(dtype, copy=False) @ Ax / dtype.type(count)
    return grad


def roi_align(features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    """``roi_align_forward`` without the cache: (N, C, H, W), (K, 5) -> (K, C, oh, ow)."""
    return roi_align_forward(features, rois, output_size, spatial_scale, sampling_ratio, aligned)[0]
