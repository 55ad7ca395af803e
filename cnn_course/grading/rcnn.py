"""Checks for the topic-9 notebook (the R-CNN family): RoI pooling, RoIAlign's bilinear sampling,
box-regression encode / decode, anchor labelling and the RPN's proposals after NMS.

The graded functions and their checks:

* ``roi_pool(features, rois, output_size, spatial_scale) -> (K, C, oh, ow)``: :func:`roi_pool`.
  torchvision's RoIPool: corners times ``spatial_scale`` rounded half away from zero; the region
  holds feature pixels x1'..x2' inclusive (width x2' - x1' + 1, at least 1); bin j spans
  [floor(j·w/ow), ceil((j+1)·w/ow)) from x1', clipped to the map; max per bin, 0 for an empty bin.
* ``bilinear_sample(feature, points) -> (C, P)``: :func:`bilinear_sample`, RoIAlign's sampling rule
  (torchvision): a point (y, x) outside [-1, H] × [-1, W] gives 0; otherwise coordinates below 0
  become 0, and a point at or past the last row (column) reads the last row (column).
* ``encode_boxes(proposals, gt, weights) -> (N, 4)`` and ``decode_boxes(proposals, deltas, weights)
  -> (N, 4)``: :func:`encode_boxes`, :func:`decode_boxes` (the decode check also runs the student's
  encode and decode one after the other: they must be inverses).
* ``label_anchors(anchors, gt_boxes, pos_iou, neg_iou) -> (A,)``: :func:`label_anchors`, Faster
  R-CNN's 1 / 0 / -1 with the best-match rule (every anchor whose IoU with some ground truth is
  that ground truth's highest, and > 0, is positive; ties: all of them).
* ``select_proposals(boxes, scores, image_size, pre_nms_top_n, post_nms_top_n, iou_threshold,
  min_size) -> (boxes, scores)``: :func:`select_proposals`, the RPN's proposals of one image.

Expected values are computed here with plain NumPy loops, never with the library (the grading
tests check that they agree with ``cnn_course.ref.rcnn``); the known mistakes (``Variant``) are
the same computation with one thing changed. None of the graded functions may use the course
library, PyTorch or SciPy (:data:`~.core.FORBIDDEN`).
"""

from __future__ import annotations

import math

import numpy as np

from .core import FORBIDDEN, Case, CheckFailed, Out, Variant, describe, find_forbidden_static, forbids, run_check

__all__ = ["roi_pool", "bilinear_sample", "encode_boxes", "decode_boxes", "label_anchors", "select_proposals",
           "roi_pool_reference", "bilinear_reference", "encode_reference", "decode_reference", "labels_reference",
           "proposals_reference"]


def _rows(b, k=3):
    rows = [tuple(float(x) for x in r) for r in np.asarray(b)[:k]]
    text = ", ".join("(" + ", ".join(f"{x:g}" for x in r) + ")" for r in rows)
    return f"[{text}{', ...' if len(b) > k else ''}]"


def _iou(a, b):
    """(N, M) IoU in float64 (corners), 0 where the union is 0."""
    a = np.asarray(a, np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, np.float64).reshape(-1, 4)[None, :, :]
    iw = np.maximum(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0)
    ih = np.maximum(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0)
    inter = iw * ih
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


# --------------------------------------------------------------------------- RoI pooling

POOL_RECIPE = ("for each roi [b, x1, y1, x2, y2]: x1' = round(x1·spatial_scale) with halves going up (floor(v + 0.5) "
               "for v >= 0), same for y1', x2', y2'; the region is w = max(x2' - x1' + 1, 1) feature pixels wide "
               "(x1' to x2' inclusive) and h = max(y2' - y1' + 1, 1) high; bin (i, j) covers rows y1' + floor(i·h/oh) "
               "to y1' + ceil((i+1)·h/oh) (end excluded) and columns x1' + floor(j·w/ow) to x1' + ceil((j+1)·w/ow), "
               "each clipped to [0, H] and [0, W]; the output is the maximum of features[b, c] over the bin, 0 when "
               "the clipped bin is empty.")
POOL_FLOOR = ("your corners are rounded down (int() or np.floor): RoI pooling rounds to the NEAREST feature pixel, "
              "halves going up: 2.5 -> 3, 2.4 -> 2 (floor(v + 0.5)).")
POOL_CEIL = "your corners are rounded up (np.ceil): RoI pooling rounds to the nearest feature pixel, halves going up."
POOL_BANKER = ("your corners are rounded with np.round (or Python's round), which sends halves to the EVEN "
               "neighbour (2.5 -> 2): RoI pooling rounds halves away from zero, 2.5 -> 3, as C's round(). Use "
               "np.floor(v + 0.5).")
POOL_NO_SCALE = ("your regions are taken in image pixels: multiply the roi's corners by spatial_scale (feature "
                 "pixels per image pixel, e.g. 1/16) before rounding — the features are smaller than the image.")
POOL_NO_PLUS_ONE = ("your regions are one feature pixel too small: the corners x1'..x2' are both INSIDE the region "
                    "(inclusive), so it is x2' - x1' + 1 pixels wide (and at least 1).")
POOL_FLOOR_BINS = ("your bins end at floor((j+1)·w/ow): the end is rounded UP, ceil((j+1)·w/ow), so that every "
                   "pixel of the region is in some bin (neighbouring bins may share a pixel).")
POOL_MEAN = "your bins are averaged: RoI pooling takes the MAXIMUM of each bin."
POOL_XY = ("x and y are mixed up: the bins' rows come from y1, y2 (columns 2 and 4 of a roi) and the features' "
           "axis 2 (H); the columns from x1, x2 (columns 1 and 3) and axis 3 (W).")
POOL_BATCH = "every roi is pooled from image 0: rois[k, 0] says which image of the batch (features[b]) it lies on."


def _round(v, how):
    if how == "floor":
        return math.floor(v)
    if how == "ceil":
        return math.ceil(v)
    if how == "banker":
        return int(np.round(v))
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def roi_pool_reference(features, rois, output_size, spatial_scale, *, rounding="half_away", scale=True,
                       plus_one=True, end="ceil", reduce="max", swap_xy=False, batch=True):
    """(K, C, oh, ow) float64, torchvision's RoIPool, with one known mistake switched on."""
    F = np.asarray(features, np.float64)
    N, C, H, W = F.shape
    oh, ow = output_size
    rois = np.asarray(rois, np.float64).reshape(-1, 5)
    out = np.zeros((len(rois), C, oh, ow))
    s = spatial_scale if scale else 1.0
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        if swap_xy:
            x1, y1, x2, y2 = y1, x1, y2, x2
        fm = F[int(b) if batch else 0]
        c1, r1, c2, r2 = (_round(v * s, rounding) for v in (x1, y1, x2, y2))
        extra = 1 if plus_one else 0
        w, h = max(c2 - c1 + extra, 1), max(r2 - r1 + extra, 1)
        for i in range(oh):
            hs = min(max(math.floor(i * h / oh) + r1, 0), H)
            he = min(max((math.ceil if end == "ceil" else math.floor)((i + 1) * h / oh) + r1, 0), H)
            for j in range(ow):
                ws = min(max(math.floor(j * w / ow) + c1, 0), W)
                we = min(max((math.ceil if end == "ceil" else math.floor)((j + 1) * w / ow) + c1, 0), W)
                if he <= hs or we <= ws:
                    continue
                region = fm[:, hs:he, ws:we]
                out[k, :, i, j] = region.max(axis=(1, 2)) if reduce == "max" else region.mean(axis=(1, 2))
    return out


def _pool_case(features, rois, output_size, spatial_scale, note=""):
    expected = roi_pool_reference(features, rois, output_size, spatial_scale)

    def variants():
        found = [(POOL_NO_SCALE, dict(scale=False)), (POOL_BANKER, dict(rounding="banker")),
                 (POOL_FLOOR, dict(rounding="floor")), (POOL_CEIL, dict(rounding="ceil")),
                 (POOL_NO_PLUS_ONE, dict(plus_one=False)), (POOL_FLOOR_BINS, dict(end="floor")),
                 (POOL_MEAN, dict(reduce="mean")), (POOL_XY, dict(swap_xy=True)), (POOL_BATCH, dict(batch=False))]
        return [Variant(h, {"out": roi_pool_reference(features, rois, output_size, spatial_scale, **kw)})
                for h, kw in found]

    K, C = len(rois), features.shape[1]
    return Case(args=[("features", features), ("rois", rois), ("output_size", tuple(output_size)),
                      ("spatial_scale", spatial_scale)],
                outputs=[Out("out", expected, shape_hint=f"(K, C, oh, ow) = {(K, C, *output_size)}")],
                describe=f"features.shape={features.shape}, rois {_rows(rois)}, output_size={tuple(output_size)}, "
                         f"spatial_scale={spatial_scale:g}",
                dtype=features.dtype, note=note, variants=variants, hint=POOL_RECIPE)


def _random_rois(rng, k, n, size, min_side=4.0):
    xy = rng.uniform(0, size - min_side, (k, 2))
    wh = rng.uniform(min_side, max(size / 2, min_side + 1), (k, 2))
    corners = np.clip(np.concatenate([xy, xy + wh], axis=1), 0, size)
    return np.concatenate([rng.integers(0, n, (k, 1)).astype(np.float64), np.round(corners * 2) / 2], axis=1)


@forbids(*FORBIDDEN)
def roi_pool(func, hidden=False, seed=0):
    """Check ``roi_pool(features, rois, output_size, spatial_scale) -> (K, C, oh, ow)``."""
    __tracebackhide__ = True
    grid = np.arange(64, dtype=np.float64).reshape(1, 1, 8, 8)
    if not hidden:
        cases = [_pool_case(grid, np.array([[0, 4, 8, 28, 24]], np.float64), (2, 2), 0.25,
                            note="the worked example: corners (1, 2, 7, 6), a 7 × 5 region, bins overlapping"),
                 _pool_case(grid, np.array([[0, 0, 0, 7, 7], [0, 2, 1, 3, 6]], np.float64), (2, 2), 1.0,
                            note="spatial_scale 1: the whole map, then a thin region"),
                 _pool_case(np.random.default_rng(9).standard_normal((2, 3, 6, 6)),
                            np.array([[1, 3, 2, 10, 7], [0, 0, 0, 5, 5]], np.float64), (3, 3), 0.5,
                            note="two images, three channels; x·0.5 = 1.5, 3.5 and 2.5 round up to 2, 4 and 3")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_pool_case(grid, np.array([[0, 5, 3, 13, 27]], np.float64), (2, 3), 0.5,
                            note="corners 2.5, 1.5, 6.5, 13.5: every one a half, and rounded up"),
                 _pool_case(grid, np.array([[0, 16, 16, 112, 80]], np.float64), (3, 3), 1 / 16,
                            note="spatial_scale 1/16 (a VGG-16 feature map)"),
                 _pool_case(grid, np.array([[0, 6, 6, 6, 6]], np.float64), (2, 2), 1.0,
                            note="a zero-size roi is one feature pixel"),
                 _pool_case(-1 - grid, np.array([[0, 24, 24, 40, 40]], np.float64), (2, 2), 0.25,
                            note="a roi running off the map: bins past the edge are empty (0); negative features")]
        for n, c, hw, k, out, s in ((2, 3, 8, 4, (2, 2), 0.5), (1, 2, 10, 5, (3, 2), 0.25), (3, 1, 7, 6, (4, 4), 1.0),
                                    (2, 4, 12, 3, (7, 7), 0.5)):
            dtype = np.float32 if k % 2 else np.float64
            feats = rng.standard_normal((n, c, hw, hw)).astype(dtype)
            cases.append(_pool_case(feats, _random_rois(rng, k, n, hw / s), out, s))
    run_check("roi_pool", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- bilinear sampling

BILINEAR_RECIPE = ("for a point (y, x): if y < -1 or y > H or x < -1 or x > W the value is 0; otherwise y = max(y, 0); "
                   "y0 = floor(y); if y0 >= H - 1 then y0 = y1 = H - 1 (and y = y0), else y1 = y0 + 1; same for x; "
                   "with ly = y - y0, lx = x - x0, hy = 1 - ly, hx = 1 - lx the value is hy·hx·f[y0, x0] + "
                   "hy·lx·f[y0, x1] + ly·hx·f[y1, x0] + ly·lx·f[y1, x1], for every channel.")
BIL_SWAPPED = ("your weights are swapped: the pixel at y0 gets the weight 1 - (y - y0), the one at y1 the weight "
               "y - y0 (a point close to y0 must look like f[y0]).")
BIL_XY = ("x and y are mixed up: each point is a row (y, x); y indexes the rows (axis 1 of feature, size H), x the "
          "columns (axis 2, size W).")
BIL_NEAREST = ("your samples read the nearest pixel: bilinear sampling mixes the four neighbours with the weights "
               "(1 - ly)(1 - lx), (1 - ly)lx, ly(1 - lx), ly·lx.")
BIL_FLOOR = "your samples read the pixel at (floor(y), floor(x)) only: interpolate between the four neighbours."
BIL_NO_ZERO = ("a point beyond the map (y < -1, y > H, x < -1 or x > W) must give 0; yours reads the border. Only "
               "points within one pixel of the map are moved onto it.")
BIL_ZERO_NEAR = ("a point just outside the map (between -1 and 0, or between the last pixel and H) must be moved onto "
                 "the map (y = max(y, 0); at or past the last row, the last row) and read there, not give 0.")
BIL_INDEX = ("an index ran past the map: a point at or past the last row (y >= H - 1) has no row below; read the last "
             "row for both neighbours (y0 = y1 = H - 1), the same for the last column.")


def bilinear_reference(feature, points, *, swap_w=False, swap_xy=False, mode="bilinear", zero=True, near_zero=False):
    """(C, P) float64, torchvision's bilinear rule, with one known mistake switched on."""
    f = np.asarray(feature, np.float64)
    C, H, W = f.shape
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    out = np.zeros((C, len(pts)))
    for p, (y, x) in enumerate(pts):
        if swap_xy:
            y, x = x, y
        if zero and (y < -1 or y > H or x < -1 or x > W):
            continue
        if near_zero and (y < 0 or y > H - 1 or x < 0 or x > W - 1):
            continue
        y, x = min(max(y, 0.0), float(H)), min(max(x, 0.0), float(W))
        y0, x0 = int(math.floor(y)), int(math.floor(x))
        if y0 >= H - 1:
            y0 = y1 = H - 1
            y = float(y0)
        else:
            y1 = y0 + 1
        if x0 >= W - 1:
            x0 = x1 = W - 1
            x = float(x0)
        else:
            x1 = x0 + 1
        ly, lx = y - y0, x - x0
        if mode == "nearest":
            ry = y1 if ly >= 0.5 else y0
            rx = x1 if lx >= 0.5 else x0
            out[:, p] = f[:, ry, rx]
            continue
        if mode == "floor":
            out[:, p] = f[:, y0, x0]
            continue
        hy, hx = 1 - ly, 1 - lx
        if swap_w:
            ly, hy, lx, hx = hy, ly, hx, lx
        out[:, p] = hy * hx * f[:, y0, x0] + hy * lx * f[:, y0, x1] + ly * hx * f[:, y1, x0] + ly * lx * f[:, y1, x1]
    return out


def _bilinear_case(feature, points, note=""):
    expected = bilinear_reference(feature, points)

    def variants():
        found = [(BIL_SWAPPED, dict(swap_w=True)), (BIL_XY, dict(swap_xy=True)), (BIL_NEAREST, dict(mode="nearest")),
                 (BIL_FLOOR, dict(mode="floor")), (BIL_NO_ZERO, dict(zero=False)), (BIL_ZERO_NEAR, dict(near_zero=True))]
        return [Variant(h, {"values": bilinear_reference(feature, points, **kw)}) for h, kw in found]

    def exception_hint(exc, line):
        return BIL_INDEX if isinstance(exc, IndexError) else None

    return Case(args=[("feature", feature), ("points", points)],
                outputs=[Out("values", expected, shape_hint="(C, P): one value per channel and point")],
                describe=f"feature.shape={feature.shape}, {len(points)} point(s) (y, x) {_rows(points, 4)}",
                dtype=feature.dtype, note=note, variants=variants, exception_hint=exception_hint,
                hint=BILINEAR_RECIPE)


@forbids(*FORBIDDEN)
def bilinear_sample(func, hidden=False, seed=0):
    """Check ``bilinear_sample(feature, points) -> (C, P)``."""
    __tracebackhide__ = True
    f = np.array([[[0.0, 1.0, 2.0], [10.0, 11.0, 12.0], [20.0, 21.0, 22.0]]])
    if not hidden:
        cases = [_bilinear_case(f, np.array([[0.25, 0.5]]), note="between rows 0 and 1, columns 0 and 1: 3.0"),
                 _bilinear_case(f, np.array([[1.0, 1.0], [0.5, 1.75], [2.0, 2.0], [0.0, 0.0]]),
                                note="pixel centres and a point between them"),
                 _bilinear_case(np.random.default_rng(3).standard_normal((2, 4, 5)),
                                np.array([[3.5, 1.2], [-0.5, 2.0], [1.0, -2.0], [3.0, 4.6]]),
                                note="two channels; past the last row, just above the map, far left of it")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_bilinear_case(f, np.array([[0.9, 0.2]]), note="close to pixel (1, 0): mostly 10"),
                 _bilinear_case(f, np.array([[0.3, 1.6]]), note="x and y differ: (0.3, 1.6) is not (1.6, 0.3)"),
                 _bilinear_case(f, np.array([[-1.5, 1.0], [1.0, 3.2], [3.0, 1.0], [-0.999, -0.999]]),
                                note="one point far above (0), one just right of the map, one on y = H, one close to (-1, -1)"),
                 _bilinear_case(np.arange(20.0).reshape(1, 4, 5), np.array([[2.99, 3.99], [3.0, 1.5], [1.5, 4.0]]),
                                note="the last row and column")]
        for c, h, w, p in ((1, 5, 5, 8), (3, 4, 7, 10), (2, 8, 3, 12), (4, 6, 6, 20)):
            dtype = np.float32 if p % 4 else np.float64
            feat = rng.standard_normal((c, h, w)).astype(dtype)
            pts = np.stack([rng.uniform(-1.5, h + 0.5, p), rng.uniform(-1.5, w + 0.5, p)], axis=1)
            cases.append(_bilinear_case(feat, pts))
    run_check("bilinear_sample", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- box regression

ENCODE_RECIPE = ("with widths w = x2 - x1, heights h = y2 - y1 and centres (x1 + w/2, y1 + h/2) of the proposal P "
                 "and the ground truth G: tx = wx·(Gx - Px)/Pw, ty = wy·(Gy - Py)/Ph, tw = ww·log(Gw/Pw), "
                 "th = wh·log(Gh/Ph), weights = (wx, wy, ww, wh); one row (tx, ty, tw, th) per pair.")
DECODE_RECIPE = ("the inverse of encode: centre x = Px + (tx/wx)·Pw, centre y = Py + (ty/wy)·Ph, width = "
                 "Pw·exp(tw/ww), height = Ph·exp(th/wh); return the corners (cx - w/2, cy - h/2, cx + w/2, cy + h/2).")
ENC_PLUS_ONE = ("your widths add 1 (x2 - x1 + 1, the old pixel-index convention of py-faster-rcnn): here boxes are "
                "continuous, w = x2 - x1.")
ENC_NO_LOG = ("your tw, th are the ratios Gw/Pw, Gh/Ph: take their logarithm, so that 0 means 'same size' and the "
              "network's output can be any real number.")
ENC_GT_SIZE = ("your tx, ty divide by the ground truth's size: the offsets are measured in units of the PROPOSAL's "
               "width and height, (Gx - Px)/Pw, because the proposal is what the network sees.")
ENC_CORNERS = ("your tx, ty use the corners (x1, y1): they are offsets between the CENTRES, (x1 + x2)/2, "
               "(y1 + y2)/2, so that a box that only grows gives tx = ty = 0.")
ENC_NO_WEIGHTS = "your deltas ignore the weights: multiply tx, ty, tw, th by wx, wy, ww, wh."
ENC_REVERSED = ("your deltas move the ground truth onto the proposal: they go FROM the proposal TO the ground truth, "
                "tx = (Gx - Px)/Pw, tw = log(Gw/Pw).")
ENC_XY = ("x and y are mixed up: tx and Pw come from the x coordinates (columns 0 and 2), ty and Ph from the y "
          "coordinates (columns 1 and 3).")
DEC_NO_EXP = "your widths are Pw·(tw/ww): the size is Pw·exp(tw/ww), the inverse of the log in encode."
DEC_TIMES_W = ("your deltas are multiplied by the weights: encode multiplied them, so decode DIVIDES, tx/wx, "
               "ty/wy, tw/ww, th/wh.")
DEC_CENTRE = "your result is (cx, cy, w, h): decode returns corners (x1, y1, x2, y2)."
DEC_NO_HALF = "your corners are the centre ± the full width: a box spans w/2 on each side of its centre."
DEC_CORNER = ("your centre starts from the proposal's corner (x1, y1): the deltas move the proposal's CENTRE, "
              "(x1 + x2)/2 + (tx/wx)·Pw, as encode measured them between centres.")
DEC_PLUS_ONE = ("your decode uses widths x2 - x1 + 1 (and subtracts 1 from the result): here w = x2 - x1 in both "
                "directions.")
NOT_INVERSES = ("decode_boxes(proposals, encode_boxes(proposals, gt)) must give back gt: your encode and decode are "
                "not inverses of each other. Check that both use the same widths, centres and weights (decode divides "
                "by what encode multiplied).")


def _sizes(b, plus=0.0):
    b = np.asarray(b, np.float64)
    w, h = b[:, 2] - b[:, 0] + plus, b[:, 3] - b[:, 1] + plus
    return w, h, b[:, 0] + 0.5 * w, b[:, 1] + 0.5 * h


def encode_reference(proposals, gt, weights=(1.0, 1.0, 1.0, 1.0), *, plus=0.0, log=True, by="proposal",
                     centre=True, use_weights=True, reverse=False, swap_xy=False):
    """(N, 4) float64 deltas, with one known mistake switched on."""
    P, G = np.asarray(proposals, np.float64), np.asarray(gt, np.float64)
    if reverse:
        P, G = G, P
    if swap_xy:
        P, G = P[:, [1, 0, 3, 2]], G[:, [1, 0, 3, 2]]
    pw, ph, px, py = _sizes(P, plus)
    gw, gh, gx, gy = _sizes(G, plus)
    if not centre:
        px, py, gx, gy = P[:, 0], P[:, 1], G[:, 0], G[:, 1]
    dw, dh = (gw, gh) if by == "gt" else (pw, ph)
    wx, wy, ww, wh = weights if use_weights else (1.0, 1.0, 1.0, 1.0)
    sw, sh = (np.log(gw / pw), np.log(gh / ph)) if log else (gw / pw, gh / ph)
    t = np.stack([wx * (gx - px) / dw, wy * (gy - py) / dh, ww * sw, wh * sh], axis=1)
    return t[:, [1, 0, 3, 2]] if swap_xy else t


def decode_reference(proposals, deltas, weights=(1.0, 1.0, 1.0, 1.0), *, exp=True, times=False, out="corners",
                     half=True, plus=0.0, centre=True):
    """(N, 4) float64 corners, with one known mistake switched on."""
    pw, ph, px, py = _sizes(proposals, plus)
    if not centre:
        px, py = np.asarray(proposals, np.float64)[:, 0], np.asarray(proposals, np.float64)[:, 1]
    d = np.asarray(deltas, np.float64)
    w4 = np.asarray(weights, np.float64)
    d = d * w4 if times else d / w4
    cx, cy = px + d[:, 0] * pw, py + d[:, 1] * ph
    w, h = (pw * np.exp(d[:, 2]), ph * np.exp(d[:, 3])) if exp else (pw * d[:, 2], ph * d[:, 3])
    if out == "centre":
        return np.stack([cx, cy, w, h], axis=1)
    k = 0.5 if half else 1.0
    box = np.stack([cx - k * w, cy - k * h, cx + k * w, cy + k * h], axis=1)
    if plus:
        box[:, 2:] -= plus
    return box


def _encode_case(proposals, gt, weights, note=""):
    proposals, gt = np.asarray(proposals, np.float64), np.asarray(gt, np.float64)
    expected = encode_reference(proposals, gt, weights)

    def variants():
        found = [(ENC_PLUS_ONE, dict(plus=1.0)), (ENC_NO_LOG, dict(log=False)), (ENC_GT_SIZE, dict(by="gt")),
                 (ENC_CORNERS, dict(centre=False)), (ENC_NO_WEIGHTS, dict(use_weights=False)),
                 (ENC_REVERSED, dict(reverse=True)), (ENC_XY, dict(swap_xy=True))]
        return [Variant(h, {"deltas": encode_reference(proposals, gt, weights, **kw)}) for h, kw in found]

    return Case(args=[("proposals", proposals), ("gt", gt), ("weights", tuple(weights))],
                outputs=[Out("deltas", expected, shape_hint="(N, 4): one row (tx, ty, tw, th) per pair")],
                describe=f"proposals {_rows(proposals)}, gt {_rows(gt)}, weights={tuple(weights)}", note=note,
                variants=variants, hint=ENCODE_RECIPE)


def _random_pairs(rng, n, size=64.0):
    xy = rng.uniform(0, size * 0.7, (n, 2))
    wh = rng.uniform(4, size * 0.3, (n, 2))
    p = np.concatenate([xy, xy + wh], axis=1)
    g = p + rng.normal(0, 3, (n, 4))
    g[:, 2:] = np.maximum(g[:, 2:], g[:, :2] + 2)
    return np.round(p, 2), np.round(g, 2)


@forbids(*FORBIDDEN)
def encode_boxes(func, hidden=False, seed=0):
    """Check ``encode_boxes(proposals, gt, weights) -> (N, 4)``."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_encode_case([[10, 10, 30, 50]], [[14, 12, 34, 52]], (1, 1, 1, 1),
                              note="the worked example: moved by (4, 2), same size: (0.2, 0.05, 0, 0)"),
                 _encode_case([[0, 0, 10, 10], [20, 20, 40, 30]], [[0, 0, 20, 5], [25, 15, 45, 25]], (1, 1, 1, 1),
                              note="a box that grows wide and flat, and one that moves"),
                 _encode_case([[10, 10, 30, 50]], [[14, 12, 34, 52]], (10, 10, 5, 5), note="the head's weights")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_encode_case([[5, 8, 15, 28]], [[5, 8, 25, 38]], (1, 1, 1, 1),
                              note="top-left corner fixed, the box grows: the centre moves"),
                 _encode_case([[0, 0, 4, 16]], [[2, 0, 6, 16]], (2, 3, 4, 5), note="a tall proposal; four different weights"),
                 _encode_case(np.zeros((0, 4)), np.zeros((0, 4)), (1, 1, 1, 1), note="no boxes: shape (0, 4)")]
        for n, wts in ((5, (1, 1, 1, 1)), (8, (10, 10, 5, 5)), (12, (1, 2, 3, 4)), (20, (10, 10, 5, 5))):
            cases.append(_encode_case(*_random_pairs(rng, n), wts))
    run_check("encode_boxes", func, cases, hidden=hidden)


def _decode_case(proposals, deltas, weights, note=""):
    proposals, deltas = np.asarray(proposals, np.float64), np.asarray(deltas, np.float64)
    expected = decode_reference(proposals, deltas, weights)

    def variants():
        found = [(DEC_NO_EXP, dict(exp=False)), (DEC_TIMES_W, dict(times=True)), (DEC_CENTRE, dict(out="centre")),
                 (DEC_NO_HALF, dict(half=False)), (DEC_PLUS_ONE, dict(plus=1.0)), (DEC_CORNER, dict(centre=False))]
        return [Variant(h, {"boxes": decode_reference(proposals, deltas, weights, **kw)}) for h, kw in found]

    return Case(args=[("proposals", proposals), ("deltas", deltas), ("weights", tuple(weights))],
                outputs=[Out("boxes", expected, shape_hint="(N, 4): one box (x1, y1, x2, y2) per proposal")],
                describe=f"proposals {_rows(proposals)}, deltas {_rows(deltas)}, weights={tuple(weights)}", note=note,
                variants=variants, hint=DECODE_RECIPE)


def _roundtrip_case(encode, proposals, gt, weights, note=""):
    proposals, gt = np.asarray(proposals, np.float64), np.asarray(gt, np.float64)

    def call(decode, values):
        return decode(proposals, encode(proposals, gt, tuple(weights)), tuple(weights))

    return Case(args=[("proposals", proposals), ("gt", gt), ("weights", tuple(weights))],
                outputs=[Out("boxes", gt, shape_hint="(N, 4): the ground-truth boxes again")],
                describe=f"decode_boxes(proposals, encode_boxes(proposals, gt, weights), weights) with proposals "
                         f"{_rows(proposals)}, gt {_rows(gt)}, weights={tuple(weights)} (your encode and decode)",
                note=note or "round trip: must give gt back", call=call, hint=NOT_INVERSES)


@forbids(*FORBIDDEN)
def decode_boxes(func, encode, hidden=False, seed=0):
    """Check ``decode_boxes(proposals, deltas, weights) -> (N, 4)``, and that the student's
    ``encode_boxes`` and ``decode_boxes`` are inverses."""
    __tracebackhide__ = True
    if not callable(encode):
        got = "None" if encode is None else type(encode).__name__
        raise CheckFailed(f"decode_boxes's check needs your function encode_boxes, got {got}. Run the cell that "
                          "defines it first.")
    found = find_forbidden_static(encode, FORBIDDEN)
    if found:
        raise CheckFailed(f"decode_boxes cannot be checked: its round trip runs your encode_boxes, which calls "
                          f"{found}, not your own work.\n  Hint: fix encode_boxes first.")
    if not hidden:
        cases = [_decode_case([[10, 10, 30, 50]], [[0.2, 0.05, 0.0, 0.0]], (1, 1, 1, 1),
                              note="the worked example backwards: (14, 12, 34, 52)"),
                 _decode_case([[0, 0, 10, 10]], [[0.0, 0.0, math.log(2), -math.log(2)]], (1, 1, 1, 1),
                              note="twice as wide, half as high, same centre"),
                 _decode_case([[10, 10, 30, 50]], [[2.0, 0.5, 0.0, 0.0]], (10, 10, 5, 5),
                              note="the head's weights: divide by them, (14, 12, 34, 52) again"),
                 _roundtrip_case(encode, [[10, 10, 30, 50], [0, 0, 10, 10]], [[14, 12, 34, 52], [0, 0, 20, 5]],
                                 (10, 10, 5, 5))]
    else:
        rng = np.random.default_rng(seed)
        cases = [_decode_case([[4, 6, 12, 30]], [[1.0, -0.5, 0.3, 0.1]], (2, 3, 4, 5), note="four different weights"),
                 _decode_case(np.zeros((0, 4)), np.zeros((0, 4)), (1, 1, 1, 1), note="no boxes: shape (0, 4)")]
        for n, wts in ((6, (1, 1, 1, 1)), (10, (10, 10, 5, 5))):
            p = _random_pairs(rng, n)[0]
            cases.append(_decode_case(p, np.round(rng.normal(0, 0.4, (n, 4)), 3), wts))
        for n, wts in ((7, (1, 1, 1, 1)), (9, (10, 10, 5, 5)), (5, (1, 2, 3, 4))):
            cases.append(_roundtrip_case(encode, *_random_pairs(rng, n), wts))
    run_check("decode_boxes", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- anchor labelling

LABEL_RECIPE = ("compute the (A, G) IoU matrix; each anchor's best IoU m decides: 1 when m >= pos_iou, 0 when "
                "m < neg_iou, -1 in between; then, for each ground truth whose best IoU over all anchors is > 0, "
                "every anchor reaching that best IoU (ties: all of them) becomes 1 as well. Without ground truth "
                "every anchor is 0. Return an integer array (A,).")
NO_BEST_MATCH = ("a ground truth was left without a positive anchor: after the thresholds, also make positive, for "
                 "each ground truth, the anchor(s) with the highest IoU with it (even below pos_iou) — otherwise a small "
                 "or oddly shaped object never gets trained.")
BEST_FIRST_ONLY = ("only one anchor per ground truth got the best-match rule: when several anchors tie for a ground "
                   "truth's highest IoU, all of them become positive (compare with the maximum, not argmax).")
BEST_ZERO = ("an anchor that overlaps nothing became positive: the best-match rule applies only when the ground "
             "truth's highest IoU is > 0 (a box that no anchor touches gives no positive).")
LABEL_GE_NEG = ("an anchor whose best IoU equals neg_iou was labelled negative: negatives have IoU strictly below "
                "neg_iou (< neg_iou), positives at least pos_iou (>= pos_iou).")
LABEL_GT_POS = ("an anchor whose best IoU equals pos_iou was not made positive: positives have IoU >= pos_iou.")
LABEL_SWAPPED = "your negatives and ignored anchors are swapped: 0 means negative (IoU < neg_iou), -1 ignored (in between)."
LABEL_PER_GT = ("your thresholds look at one ground truth only (or the wrong axis): an anchor's label comes from its "
                "best IoU over ALL ground-truth boxes, the maximum along the ground-truth axis.")
LABEL_BEST_BEFORE = ("the best-match positives were overwritten by the thresholds: apply the thresholds first, then "
                     "set the best-match anchors to 1.")
LABEL_NO_GT = "without ground-truth boxes every anchor is negative (0)."


def labels_reference(anchors, gt, pos_iou=0.7, neg_iou=0.3, *, best=True, ties=True, best_zero=False, ge_neg=False,
                     gt_pos=False, swapped=False, per_gt=False, best_first=False):
    anchors, gt = np.asarray(anchors, np.float64).reshape(-1, 4), np.asarray(gt, np.float64).reshape(-1, 4)
    A, G = len(anchors), len(gt)
    if G == 0:
        return np.zeros(A, np.int64)
    iou = _iou(anchors, gt)
    m = iou[:, 0] if per_gt else iou.max(axis=1)
    neg, ign = (-1, 0) if swapped else (0, -1)
    labels = np.full(A, ign, np.int64)
    quality = np.zeros(A, bool)
    if best:
        top = iou.max(axis=0)
        if ties:
            hit = (iou == top[None, :])
        else:
            hit = np.zeros_like(iou, bool)
            hit[iou.argmax(axis=0), np.arange(G)] = True
        if not best_zero:
            hit &= top[None, :] > 0
        quality = hit.any(axis=1)
    if best_first:
        labels[quality] = 1
    labels[(m <= neg_iou) if ge_neg else (m < neg_iou)] = neg
    labels[(m > pos_iou) if gt_pos else (m >= pos_iou)] = 1
    if not best_first:
        labels[quality] = 1
    return labels


def _label_case(anchors, gt, pos_iou=0.7, neg_iou=0.3, note=""):
    anchors, gt = np.asarray(anchors, np.float64).reshape(-1, 4), np.asarray(gt, np.float64).reshape(-1, 4)
    expected = labels_reference(anchors, gt, pos_iou, neg_iou)

    def variants():
        found = [(NO_BEST_MATCH, dict(best=False)), (BEST_FIRST_ONLY, dict(ties=False)), (BEST_ZERO, dict(best_zero=True)),
                 (LABEL_GE_NEG, dict(ge_neg=True)), (LABEL_GT_POS, dict(gt_pos=True)), (LABEL_SWAPPED, dict(swapped=True)),
                 (LABEL_PER_GT, dict(per_gt=True)), (LABEL_BEST_BEFORE, dict(best_first=True))]
        return [Variant(h, {"labels": labels_reference(anchors, gt, pos_iou, neg_iou, **kw)}) for h, kw in found]

    def inspect(got):
        out = got.get("labels")
        if len(gt) == 0 and isinstance(out, np.ndarray) and out.shape == expected.shape:
            return LABEL_NO_GT
        return None

    return Case(args=[("anchors", anchors), ("gt_boxes", gt), ("pos_iou", pos_iou), ("neg_iou", neg_iou)],
                outputs=[Out("labels", expected, kind="ints", shape_hint="(A,): one label per anchor")],
                describe=f"{len(anchors)} anchors {_rows(anchors)}, {len(gt)} ground truth {_rows(gt)}, "
                         f"pos_iou={pos_iou}, neg_iou={neg_iou}",
                note=note, variants=variants, inspect=inspect, hint=LABEL_RECIPE)


def _anchor_grid(size=32, stride=8, shapes=((8, 8), (12, 6), (6, 12))):
    c = np.arange(stride / 2, size, stride)
    cy, cx = np.meshgrid(c, c, indexing="ij")
    out = []
    for y, x in zip(cy.ravel(), cx.ravel()):
        for h, w in shapes:
            out.append([x - w / 2, y - h / 2, x + w / 2, y + h / 2])
    return np.array(out)


@forbids(*FORBIDDEN)
def label_anchors(func, hidden=False, seed=0):
    """Check ``label_anchors(anchors, gt_boxes, pos_iou, neg_iou) -> (A,)``."""
    __tracebackhide__ = True
    four = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [6, 0, 16, 10], [30, 30, 40, 40]], np.float64)
    if not hidden:
        cases = [_label_case(four, [[1, 0, 11, 10]], note="IoUs 0.82, 0.82, 0.33, 0: two positives, one ignored, one negative"),
                 _label_case(four, [[30, 30, 34, 34]], note="a small box: its best anchor (IoU 0.16) is positive anyway"),
                 _label_case(_anchor_grid(), [[3, 4, 13, 12], [18, 16, 30, 22]], note="a 4×4 grid of 3 anchors")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_label_case(four, [[0, 20, 4, 24]], note="a box no anchor touches: no positive (best IoU 0)"),
                 _label_case(np.array([[0, 0, 10, 10], [0, 0, 10, 10], [20, 0, 30, 10]], float), [[0, 0, 5, 10]],
                             note="two identical anchors tie for the best IoU (0.5): both positive"),
                 _label_case(np.array([[0, 0, 10, 10], [0, 0, 20, 10], [0, 0, 10, 30]], float),
                             [[0, 0, 20, 10], [0, 0, 10, 20]], 0.5, 0.5,
                             note="IoU exactly 0.5 with pos_iou = neg_iou = 0.5: positive"),
                 _label_case(np.array([[0, 0, 10, 10], [5, 0, 15, 10], [0, 0, 10, 20]], float), [[0, 0, 10, 10]], 0.7,
                             1 / 3, note="an IoU exactly equal to neg_iou (1/3) is ignored, not negative"),
                 _label_case(four, np.zeros((0, 4)), note="no ground truth: every anchor negative"),
                 _label_case(_anchor_grid(), [[0, 0, 6, 6], [20, 20, 32, 32]], note="two objects, the best match of the "
                                                                                    "second one not the first's")]
        for g in (1, 3, 5, 2):
            gt = _random_pairs(rng, g, 32.0)[1]
            cases.append(_label_case(_anchor_grid(), gt, float(rng.choice([0.5, 0.6, 0.7])), 0.3))
    run_check("label_anchors", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- proposals after NMS

PROPOSAL_RECIPE = ("1. clip the boxes to the image (0 <= x <= W, 0 <= y <= H, image_size = (H, W)); 2. drop boxes whose "
                   "width or height (after clipping) is below min_size; 3. keep the pre_nms_top_n highest scores "
                   "(a stable sort by decreasing score); 4. non-max suppression: visit them by decreasing score, keep "
                   "a box unless its IoU with an already kept box is > iou_threshold; 5. keep the first post_nms_top_n. "
                   "Return (boxes (P, 4), scores (P,)) of the kept proposals, best first.")
PROP_NOT_SORTED = ("your NMS visits the boxes in input order: sort by decreasing score first, so that a box is only "
                   "ever suppressed by a better one.")
PROP_NO_CLIP = "your boxes are not clipped to the image: clip x to [0, W] and y to [0, H] first (image_size is (H, W))."
PROP_CLIP_HW = ("your clipping mixes up height and width: image_size is (H, W); x (columns 0 and 2) is clipped to "
                "[0, W], y (columns 1 and 3) to [0, H].")
PROP_CLIP_LATE = ("your boxes are clipped after NMS: clip first, because clipping changes the boxes' overlaps (and "
                  "their sizes for the min_size test).")
PROP_POST_FIRST = ("you keep post_nms_top_n boxes BEFORE the NMS: the NMS removes duplicates first, then the best "
                   "post_nms_top_n survivors are kept.")
PROP_NO_PRE = "all boxes went into the NMS: keep only the pre_nms_top_n best scores before it."
PROP_GE = ("a box whose IoU with a kept box equals iou_threshold was suppressed: suppress only when IoU > "
           "iou_threshold.")
PROP_SMALL = ("boxes smaller than min_size (after clipping) were kept, or a box exactly min_size wide was dropped: "
              "drop a box when its width or height is < min_size.")
PROP_SMALL_LATE = ("the small boxes were removed after taking the pre_nms_top_n best: remove them first, so that "
                   "pre_nms_top_n counts usable boxes.")
PROP_BY_ALL = ("a box was suppressed by a box that had itself been suppressed: compare each box only with the boxes "
               "already KEPT.")


def proposals_reference(boxes, scores, image_size, pre, post, th, min_size, *, sort=True, clip="first", hw=True,
                        post_first=False, use_pre=True, ge=False, small="right", by="kept"):
    b = np.asarray(boxes, np.float64).copy()
    s = np.asarray(scores, np.float64)
    H, W = image_size if hw else image_size[::-1]
    lim = np.array([W, H, W, H], np.float64)

    def do_clip(x):
        return np.minimum(np.maximum(x, 0), lim)

    if clip == "first":
        b = do_clip(b)
    idx = np.arange(len(b))

    def size_ok(i):
        w, h = b[i, 2] - b[i, 0], b[i, 3] - b[i, 1]
        if small == "none":
            return np.ones(len(i), bool)
        if small == "gt":
            return (w > min_size) & (h > min_size)
        return (w >= min_size) & (h >= min_size)

    if small != "late":
        idx = idx[size_ok(idx)]
    idx = idx[np.argsort(-s[idx], kind="stable")]
    if use_pre:
        idx = idx[:pre]
    if small == "late":
        w, h = b[idx, 2] - b[idx, 0], b[idx, 3] - b[idx, 1]
        idx = idx[(w >= min_size) & (h >= min_size)]
    if post_first:
        idx = idx[:post]
    if not sort:
        idx = np.sort(idx)
    iou = _iou(b[idx], b[idx])
    keep, dead = [], np.zeros(len(idx), bool)
    for a in range(len(idx)):
        if by == "kept":
            if dead[a]:
                continue
            keep.append(a)
            over = iou[a] >= th if ge else iou[a] > th
            dead |= over
        else:
            if not any(iou[a, j] > th for j in range(a)):
                keep.append(a)
    kept = idx[np.asarray(keep, np.int64)][:post]
    out = b[kept]
    if clip == "late":
        out = do_clip(out)
    return out, s[kept]


def _proposal_case(boxes, scores, image_size, pre, post, th, min_size, note=""):
    boxes, scores = np.asarray(boxes, np.float64), np.asarray(scores, np.float64)
    args = (boxes, scores, tuple(image_size), pre, post, th, min_size)
    b, s = proposals_reference(*args)

    def variants():
        found = [(PROP_NOT_SORTED, dict(sort=False)), (PROP_NO_CLIP, dict(clip="none")), (PROP_CLIP_HW, dict(hw=False)),
                 (PROP_CLIP_LATE, dict(clip="late")), (PROP_POST_FIRST, dict(post_first=True)),
                 (PROP_NO_PRE, dict(use_pre=False)), (PROP_GE, dict(ge=True)), (PROP_SMALL, dict(small="none")),
                 (PROP_SMALL, dict(small="gt")), (PROP_SMALL_LATE, dict(small="late")), (PROP_BY_ALL, dict(by="all"))]
        out = []
        for h, kw in found:
            vb, vs = proposals_reference(*args, **kw)
            out.append(Variant(h, {"boxes": vb, "scores": vs}))
        return out

    return Case(args=[("boxes", boxes), ("scores", scores), ("image_size", tuple(image_size)), ("pre_nms_top_n", pre),
                      ("post_nms_top_n", post), ("iou_threshold", th), ("min_size", min_size)],
                outputs=[Out("boxes", b, shape_hint="(P, 4): the kept proposals, best first"),
                         Out("scores", s, shape_hint="(P,)")],
                describe=f"{len(boxes)} boxes {_rows(boxes)}, scores {np.round(scores, 3).tolist()[:5]}"
                         f"{'...' if len(scores) > 5 else ''}, " + describe(image_size=tuple(image_size),
                         pre_nms_top_n=pre, post_nms_top_n=post, iou_threshold=th, min_size=min_size),
                note=note, variants=variants, hint=PROPOSAL_RECIPE)


def _tied_proposals():
    """40 boxes that do not overlap (a grid of 6 × 6 squares), scores from only three values: a sort by
    decreasing score that is not stable (``np.argsort(-scores)``) reorders the ties."""
    y, x = np.divmod(np.arange(40), 8)
    boxes = np.stack([x * 8.0, y * 8.0, x * 8.0 + 6, y * 8.0 + 6], axis=1)
    scores = np.array([0.3, 0.5, 0.7])[np.random.default_rng(1).integers(0, 3, 40)]
    return boxes, scores


def _random_proposals(rng, n, size=64.0):
    centres = rng.uniform(4, size - 4, (4, 2))
    c = centres[rng.integers(0, 4, n)] + rng.normal(0, 3, (n, 2))
    wh = rng.uniform(2, 24, (n, 2))
    boxes = np.round(np.concatenate([c - wh / 2, c + wh / 2], axis=1), 1)
    return boxes, rng.permutation(np.round(np.linspace(0.05, 0.95, n), 4))


@forbids(*FORBIDDEN)
def select_proposals(func, hidden=False, seed=0):
    """Check ``select_proposals(boxes, scores, image_size, pre_nms_top_n, post_nms_top_n, iou_threshold,
    min_size) -> (boxes, scores)``."""
    __tracebackhide__ = True
    six = np.array([[10, 10, 30, 30], [12, 11, 31, 32], [40, 40, 70, 55], [11, 9, 29, 31], [41, 42, 60, 57],
                    [-5, 20, 3, 40]], np.float64)
    sc = np.array([0.9, 0.75, 0.8, 0.6, 0.7, 0.95])
    if not hidden:
        cases = [_proposal_case(six, sc, (64, 64), 6, 6, 0.5, 1.0,
                                note="two objects with duplicates, boxes running off the image"),
                 _proposal_case(six[[1, 0, 2]], sc[[1, 0, 2]], (64, 64), 3, 2, 0.5, 1.0,
                                note="the better box listed second; only two proposals kept")]
    else:
        rng = np.random.default_rng(seed)
        chain = np.array([[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]], float)
        cases = [_proposal_case(six[::-1].copy(), sc[::-1].copy(), (64, 64), 6, 6, 0.5, 1.0, note="input reversed"),
                 _proposal_case(np.array([[0, 0, 3, 1], [1, 0, 4, 1]], float), np.array([0.9, 0.8]), (8, 8), 2, 2,
                                0.5, 0.5, note="an IoU exactly equal to the threshold: both stay"),
                 _proposal_case(chain, np.array([0.9, 0.8, 0.7]), (16, 32), 3, 3, 0.4, 1.0,
                                note="a chain: box 1 is suppressed by box 0, so it cannot suppress box 2"),
                 _proposal_case(np.array([[60, 10, 80, 20], [0, 0, 30, 10], [28, 2, 40, 12]], float),
                                np.array([0.9, 0.8, 0.7]), (20, 64), 3, 3, 0.3, 1.0,
                                note="a wide image (H, W) = (20, 64): x clipped at 64, y at 20"),
                 _proposal_case(np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]], float),
                                np.array([0.9, 0.8, 0.7]), (64, 64), 3, 2, 0.5, 1.0,
                                note="the second best is a duplicate: NMS first, then the best 2 survivors"),
                 _proposal_case(np.array([[62, 5, 70, 15], [0, 0, 0.5, 10], [5, 5, 6, 6], [20, 20, 30, 30]], float),
                                np.array([0.9, 0.95, 0.8, 0.5]), (64, 64), 2, 4, 0.7, 1.0,
                                note="boxes narrower than min_size = 1 (one after clipping) are dropped before the top-2"),
                 _proposal_case(np.zeros((0, 4)), np.zeros(0), (64, 64), 5, 5, 0.7, 1.0, note="no boxes"),
                 _proposal_case(*_tied_proposals(), (64, 64), 40, 6, 0.5, 1.0,
                                note="40 separate boxes, many with equal scores: equal scores keep their input order")]
        for n, pre, post, th in ((15, 10, 5, 0.5), (30, 20, 8, 0.7), (40, 40, 10, 0.3), (25, 8, 8, 0.6)):
            cases.append(_proposal_case(*_random_proposals(rng, n), (64, 64), pre, post, th, 1.0))
    run_check("select_proposals", func, cases, hidden=hidden)
