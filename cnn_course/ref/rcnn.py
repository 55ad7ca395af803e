"""The R-CNN family in NumPy: RoI pooling, RoIAlign, box-regression targets, anchors and the RPN.

Regions of interest are rows of an array

    rois      (K, 5)          [batch_index, x1, y1, x2, y2], corners in *image* pixels
    features  (N, C, H, W)    a feature map whose pixel (h, w) covers image pixels / spatial_scale
    out       (K, C, oh, ow)  one oh×ow grid of C numbers per region

``spatial_scale`` maps image pixels to feature pixels (1/16 after four stride-2 stages).
The rois are converted to the features' dtype and all the arithmetic below happens in it, as
in torchvision (which requires rois and features to share a dtype).
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

with widths x2 - x1 (no "+1": torchvision's current ``BoxCoder``; the original Fast/Faster R-CNN
code, py-faster-rcnn, used x2 - x1 + 1 for inclusive pixel indices). ``decode_boxes`` inverts it,
clamping tw/ww and th/wh at log(1000/16) so that exp cannot overflow (as torchvision).

The region proposal network (Faster R-CNN) scores A anchors per feature pixel (``generate_anchors``).
``match_anchors`` labels each anchor 1 / 0 / -1 (positive / negative / ignored) by its best IoU
with the ground truth, ``sample_anchors`` draws a balanced mini-batch of them, ``rpn_loss`` is
the objectness cross-entropy plus the smooth-L1 box loss on the positives, and
``proposals_after_nms`` turns the network's outputs into region proposals.

``cnn_course.pt.rcnn`` is the PyTorch twin, function for function (autograd for the backward passes).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _validate as v
from .boxes import _float_dtype, _iou, check_boxes, check_iou_threshold, nms
from .yolo import _check_image_size

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
    where = f"an integer image index in 0..{n - 1}" if n else "an image index, and there is no image"
    return (f"rois[{i}] = {_row(row)} has batch index {float(row[0]):g}, but features hold N = {n} images: "
            f"the first column must be {where}")


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
    if features.shape[2] == 0 or features.shape[3] == 0:
        raise ValueError(f"features must have at least 1×1 pixels, got shape {tuple(features.shape)}")


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


# ----------------------------------------------------------------------------------------
# Box-regression targets
# ----------------------------------------------------------------------------------------


def check_weights(weights) -> tuple[float, float, float, float]:
    ok = isinstance(weights, (tuple, list)) and len(weights) == 4 and all(
        isinstance(w, numbers.Real) and not isinstance(w, bool) and math.isfinite(w) and w > 0 for w in weights)
    if not ok:
        raise ValueError(f"weights must be four positive numbers (wx, wy, ww, wh), got {weights!r}")
    return tuple(float(w) for w in weights)


def _sizes(boxes):
    """Widths, heights and centres of corner boxes (x2 - x1: no +1)."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return w, h, boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h


def _check_positive_size(boxes, name: str) -> None:
    bad = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}[{i}] = {_row(boxes[i])} has zero width or height: box-regression targets "
                         f"divide by the width and height and take their logarithm, so boxes must have x2 > x1 and y2 > y1")


def _check_pair(a, b, name_a: str, name_b: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{name_a} and {name_b} must have one row each per box, got {a.shape[0]} and {b.shape[0]} rows")


def encode_boxes(proposals, gt, weights=(1.0, 1.0, 1.0, 1.0)):
    """The regression target that moves each proposal onto its ground truth.

    proposals: (N, 4), gt: (N, 4) corners with positive widths and heights, weights (wx, wy, ww, wh)
    ->  (N, 4) rows (tx, ty, tw, th) = (wx·(gx - px)/pw, wy·(gy - py)/ph, ww·log(gw/pw), wh·log(gh/ph)),
    centres (x1 + w/2, y1 + h/2) and sizes w = x2 - x1, h = y2 - y1 (torchvision's BoxCoder).
    """
    check_boxes(proposals, "proposals")
    check_boxes(gt, "gt")
    _check_pair(proposals, gt, "proposals", "gt")
    wx, wy, ww, wh = check_weights(weights)
    _check_positive_size(proposals, "proposals")
    _check_positive_size(gt, "gt")
    dtype = np.result_type(_float_dtype(proposals), _float_dtype(gt))
    pw, ph, px, py = _sizes(proposals.astype(dtype, copy=False))
    gw, gh, gx, gy = _sizes(gt.astype(dtype, copy=False))
    return np.stack([wx * (gx - px) / pw, wy * (gy - py) / ph, ww * np.log(gw / pw), wh * np.log(gh / ph)],
                    axis=1).astype(dtype, copy=False)


def decode_boxes(proposals, deltas, weights=(1.0, 1.0, 1.0, 1.0)):
    """Apply regression outputs to proposals: the inverse of ``encode_boxes``.

    proposals: (N, 4) corners, deltas: (N, 4) rows (tx, ty, tw, th), weights (wx, wy, ww, wh)
    ->  (N, 4) corners: centre p + (t/w)·size, size·exp(t/w), with tw/ww and th/wh clamped at
    ``BBOX_XFORM_CLIP`` = log(1000/16) first (a box at most 62.5 times its proposal), as torchvision.
    """
    check_boxes(proposals, "proposals")
    v.check_ndim(deltas, 2, "deltas", "(N, 4), rows (tx, ty, tw, th)")
    if deltas.shape[1] != 4:
        raise ValueError(f"deltas must have shape (N, 4), rows (tx, ty, tw, th), got shape {tuple(deltas.shape)}")
    v.check_float(deltas, "deltas")
    _check_pair(proposals, deltas, "proposals", "deltas")
    if not np.isfinite(deltas).all():
        i = int(np.argmin(np.isfinite(deltas).all(axis=1)))
        raise ValueError(f"deltas[{i}] = {_row(deltas[i])} is not finite")
    wx, wy, ww, wh = check_weights(weights)
    dtype = np.result_type(_float_dtype(proposals), deltas.dtype)
    pw, ph, px, py = _sizes(proposals.astype(dtype, copy=False))
    d = deltas.astype(dtype, copy=False)
    dw = np.minimum(d[:, 2] / ww, BBOX_XFORM_CLIP)
    dh = np.minimum(d[:, 3] / wh, BBOX_XFORM_CLIP)
    cx, cy = d[:, 0] / wx * pw + px, d[:, 1] / wy * ph + py
    w, h = np.exp(dw) * pw, np.exp(dh) * ph
    return np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=1).astype(dtype, copy=False)


# ----------------------------------------------------------------------------------------
# Anchors
# ----------------------------------------------------------------------------------------


def _positive_numbers(values, name: str):
    ok = isinstance(values, (tuple, list, np.ndarray)) and len(values) > 0 and all(
        isinstance(s, numbers.Real) and not isinstance(s, bool) and math.isfinite(s) and s > 0 for s in values)
    if not ok:
        raise ValueError(f"{name} must be a non-empty sequence of positive numbers, got {values!r}")
    return np.asarray(values, np.float64)


def _pair(value, name: str, kind):
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return tuple(kind(x, f"{name}[{i}]") for i, x in enumerate(value))
    return kind(value, name), kind(value, name)


def _positive_number(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a positive number, got {x!r}")
    return float(x)


def generate_anchors(feature_size, stride, sizes, aspect_ratios, offset=0.0):
    """Every anchor of a feature map, in image pixels.

    feature_size: (H, W) feature pixels, stride: image pixels per feature pixel (a number or
    (sy, sx)), sizes: anchor sizes s (area s²), aspect_ratios: heights / widths a (so h = s·√a,
    w = s/√a), offset: the anchors of feature pixel (y, x) are centred at ((x + offset)·sx,
    (y + offset)·sy) — 0 as torchvision's AnchorGenerator, 0.5 for the pixel's centre
    ->  (H·W·A, 4) corners, A = len(sizes)·len(aspect_ratios); row (y·W + x)·A + r·len(sizes) + i
    is ratio r and size i at (y, x). (torchvision also rounds its base anchors to whole pixels.)
    """
    H, W = _pair(feature_size, "feature_size", v.check_positive_int)
    sy, sx = _pair(stride, "stride", _positive_number)
    s = _positive_numbers(sizes, "sizes")
    a = _positive_numbers(aspect_ratios, "aspect_ratios")
    if isinstance(offset, bool) or not isinstance(offset, numbers.Real) or not math.isfinite(offset):
        raise ValueError(f"offset must be a finite number (0: torchvision, 0.5: pixel centres), got {offset!r}")
    hs = (np.sqrt(a)[:, None] * s[None, :]).ravel()  # (A,), ratio-major as torchvision
    ws = (s[None, :] / np.sqrt(a)[:, None]).ravel()
    base = np.stack([-ws, -hs, ws, hs], axis=1) / 2  # (A, 4) centred on 0
    cy, cx = np.meshgrid((np.arange(H) + offset) * sy, (np.arange(W) + offset) * sx, indexing="ij")
    shifts = np.stack([cx, cy, cx, cy], axis=-1).reshape(-1, 1, 4)  # (H*W, 1, 4)
    return (shifts + base[None]).reshape(-1, 4)


def _check_iou_pair(pos_iou, neg_iou):
    pos = check_iou_threshold(pos_iou, "pos_iou")
    neg = check_iou_threshold(neg_iou, "neg_iou")
    if neg > pos:
        raise ValueError(f"neg_iou must be <= pos_iou, got neg_iou={neg_iou!r} > pos_iou={pos_iou!r}")
    return pos, neg


def match_anchors(anchors, gt_boxes, pos_iou=0.7, neg_iou=0.3):
    """Faster R-CNN's anchor labels and each anchor's ground truth.

    anchors: (A, 4), gt_boxes: (G, 4) corners  ->  (labels (A,) int64, matched (A,) int64):
    with m = an anchor's highest IoU with any ground truth,
    - 1 (positive) when m >= pos_iou, 0 (negative) when m < neg_iou, -1 (ignored) in between;
    - also 1 for every anchor that has some ground truth's highest IoU over all anchors (ties
      included: all of them), so that every ground truth gets an anchor; a ground truth that
      overlaps no anchor at all (highest IoU 0) makes none positive;
    - matched: the index of the anchor's highest-IoU ground truth (lowest index on ties), -1 when G = 0.
    Without ground truth every anchor is negative. As torchvision's Matcher(allow_low_quality_matches=True).
    """
    check_boxes(anchors, "anchors")
    check_boxes(gt_boxes, "gt_boxes")
    pos, neg = _check_iou_pair(pos_iou, neg_iou)
    A, G = anchors.shape[0], gt_boxes.shape[0]
    if G == 0:
        return np.zeros(A, np.int64), np.full(A, -1, np.int64)
    iou = box_iou_float64(anchors, gt_boxes)  # (A, G)
    best = iou.max(axis=1) if A else np.zeros(0)
    matched = iou.argmax(axis=1).astype(np.int64) if A else np.zeros(0, np.int64)
    labels = np.full(A, -1, np.int64)
    labels[best < neg] = 0
    labels[best >= pos] = 1
    if A:
        best_per_gt = iou.max(axis=0)  # (G,)
        low_quality = ((iou == best_per_gt[None, :]) & (best_per_gt[None, :] > 0)).any(axis=1)
        labels[low_quality] = 1
    return labels, matched


def box_iou_float64(boxes1, boxes2):
    """box_iou in float64, without the checks (the boxes are checked already)."""
    return _iou(boxes1.astype(np.float64), boxes2.astype(np.float64))


def label_anchors(anchors, gt_boxes, pos_iou=0.7, neg_iou=0.3):
    """The labels of ``match_anchors``: (A, 4), (G, 4) -> (A,) int64, 1 positive / 0 negative / -1 ignored."""
    return match_anchors(anchors, gt_boxes, pos_iou, neg_iou)[0]


def anchor_targets(anchors, gt_boxes, pos_iou=0.7, neg_iou=0.3, weights=(1.0, 1.0, 1.0, 1.0)):
    """Labels and regression targets of every anchor, for ``rpn_loss``.

    anchors: (A, 4) with positive sizes, gt_boxes: (G, 4)  ->  (labels (A,) int64, target_deltas (A, 4)
    float64): ``encode_boxes(anchor, its matched ground truth)`` for positive anchors, 0 elsewhere.
    """
    labels, matched = match_anchors(anchors, gt_boxes, pos_iou, neg_iou)
    targets = np.zeros((anchors.shape[0], 4))
    pos = labels == 1
    if pos.any():
        targets[pos] = encode_boxes(anchors[pos].astype(np.float64), gt_boxes[matched[pos]].astype(np.float64), weights)
    return labels, targets


def _check_labels(labels, n=None, name: str = "labels") -> None:
    v.check_ndim(labels, 1, name, "(A,)")
    if n is not None and labels.shape[0] != n:
        raise ValueError(f"{name} must have shape (A,) = ({n},), one per anchor, got shape {tuple(labels.shape)}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers 1 (positive), 0 (negative) or -1 (ignored), got dtype {labels.dtype}")
    bad = (labels < -1) | (labels > 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}[{i}] = {labels[i]}: labels must be 1 (positive), 0 (negative) or -1 (ignored)")


def check_sampling(batch_size, positive_fraction) -> tuple[int, float]:
    batch_size = v.check_positive_int(batch_size, "batch_size")
    if isinstance(positive_fraction, bool) or not isinstance(positive_fraction, numbers.Real) \
            or not 0 <= positive_fraction <= 1:
        raise ValueError(f"positive_fraction must be a number in [0, 1], got {positive_fraction!r}")
    return batch_size, float(positive_fraction)


def sample_anchors(labels, batch_size=256, positive_fraction=0.5, rng=None):
    """A random mini-batch of anchors for the RPN loss (torchvision's BalancedPositiveNegativeSampler).

    labels: (A,) 1 / 0 / -1, rng: a ``np.random.Generator``  ->  (A,) int64, the labels with every
    anchor left out of the batch set to -1. At most int(batch_size·positive_fraction) positives
    are drawn (all when fewer), then negatives fill the batch up to batch_size (all when fewer).
    """
    _check_labels(labels)
    batch_size, fraction = check_sampling(batch_size, positive_fraction)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a np.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    positives, negatives = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    n_pos = min(positives.size, int(batch_size * fraction))
    n_neg = min(negatives.size, batch_size - n_pos)
    out = np.full(labels.shape[0], -1, np.int64)
    out[rng.permutation(positives)[:n_pos]] = 1
    out[rng.permutation(negatives)[:n_neg]] = 0
    return out


# ----------------------------------------------------------------------------------------
# RPN loss and proposals
# ----------------------------------------------------------------------------------------


def _check_deltas(d, n: int, name: str) -> None:
    v.check_ndim(d, 2, name, "(A, 4)")
    if d.shape != (n, 4):
        raise ValueError(f"{name} must have shape (A, 4) = ({n}, 4), one row per anchor, got shape {tuple(d.shape)}")
    v.check_float(d, name)


def rpn_loss(objectness_logits, deltas, labels, target_deltas, beta=1 / 9):
    """The region proposal network's two losses over the sampled anchors, and their gradients.

    objectness_logits: (A,), deltas: (A, 4) predicted (tx, ty, tw, th), labels: (A,) 1 / 0 / -1
    (-1: not in the batch, e.g. after ``sample_anchors``), target_deltas: (A, 4)
    ->  (objectness_loss, box_loss, dlogits (A,), ddeltas (A, 4)); with S the sampled anchors (labels >= 0):

        objectness_loss = (1/S) Σ_S BCE(sigmoid(logit), label)
        box_loss = (1/S) Σ_{label = 1} Σ_4 smoothL1_β(delta - target),
        smoothL1_β(d) = d²/(2β) if |d| < β else |d| - β/2

    (torchvision's RPN: β = 1/9, the box loss divided by all S sampled anchors, not only the
    positives). Anchors with label -1 get zero gradients; no sampled anchor gives losses 0.
    """
    v.check_ndim(objectness_logits, 1, "objectness_logits", "(A,)")
    v.check_float(objectness_logits, "objectness_logits")
    A = objectness_logits.shape[0]
    _check_deltas(deltas, A, "deltas")
    _check_labels(labels, A)
    _check_deltas(target_deltas, A, "target_deltas")
    beta = _positive_number(beta, "beta")
    z = objectness_logits.astype(np.float64)
    sampled, pos = labels >= 0, labels == 1
    S = max(int(sampled.sum()), 1)
    y = pos.astype(np.float64)
    bce = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    objectness_loss = float(bce[sampled].sum() / S)
    dlogits = np.where(sampled, (np.exp(-np.logaddexp(0, -z)) - y) / S, 0.0)
    d = deltas.astype(np.float64) - target_deltas.astype(np.float64)
    ad = np.abs(d)
    small = ad < beta
    sl1 = np.where(small, 0.5 * d**2 / beta, ad - 0.5 * beta)
    box_loss = float(sl1[pos].sum() / S)
    ddeltas = np.where(pos[:, None], np.where(small, d / beta, np.sign(d)) / S, 0.0)
    return (objectness_loss, box_loss, dlogits.astype(objectness_logits.dtype),
            ddeltas.astype(deltas.dtype))


def _check_top_n(x, name: str) -> int:
    return v.check_positive_int(x, name)


def proposals_after_nms(anchors, objectness, deltas, image_size, pre_nms_top_n=1000, post_nms_top_n=1000,
                        iou_threshold=0.7, min_size=1e-3, weights=(1.0, 1.0, 1.0, 1.0)):
    """The RPN's region proposals for one image, in the order of the Faster R-CNN reference code.

    anchors: (A, 4), objectness: (A,) logits, deltas: (A, 4), image_size: (H, W) pixels
    ->  (boxes (P, 4), scores (P,) = sigmoid(objectness)), P <= post_nms_top_n, best first:
    1. decode every anchor's deltas (``decode_boxes``); 2. clip the boxes to the image
    (0 <= x <= W, 0 <= y <= H); 3. drop boxes narrower or lower than ``min_size``;
    4. keep the ``pre_nms_top_n`` highest objectness (ties: lower anchor index first);
    5. non-max suppression at ``iou_threshold`` (``nms``); 6. keep the first ``post_nms_top_n``.
    (torchvision takes the top-k first and then clips and filters: the same boxes unless small
    boxes rank high.)
    """
    check_boxes(anchors, "anchors")
    A = anchors.shape[0]
    v.check_ndim(objectness, 1, "objectness", "(A,)")
    v.check_float(objectness, "objectness")
    if objectness.shape[0] != A:
        raise ValueError(f"objectness must have shape (A,) = ({A},), one logit per anchor, got shape {tuple(objectness.shape)}")
    if not np.isfinite(objectness).all():
        raise ValueError(f"objectness[{int(np.argmin(np.isfinite(objectness)))}] is not finite")
    H, W = _check_image_size(image_size)
    pre, post = _check_top_n(pre_nms_top_n, "pre_nms_top_n"), _check_top_n(post_nms_top_n, "post_nms_top_n")
    t = check_iou_threshold(iou_threshold)
    if isinstance(min_size, bool) or not isinstance(min_size, numbers.Real) or not min_size >= 0:
        raise ValueError(f"min_size must be a number >= 0 (pixels), got {min_size!r}")
    boxes = decode_boxes(anchors, deltas, weights)
    boxes = np.clip(boxes, 0, np.array([W, H, W, H], boxes.dtype))
    keep = np.flatnonzero((boxes[:, 2] - boxes[:, 0] >= min_size) & (boxes[:, 3] - boxes[:, 1] >= min_size))
    keep = keep[np.argsort(-objectness[keep].astype(np.float64), kind="stable")[:pre]]
    keep = keep[nms(boxes[keep], objectness[keep], t)][:post]
    scores = np.exp(-np.logaddexp(0, -objectness[keep].astype(np.float64))).astype(objectness.dtype)
    return boxes[keep], scores
