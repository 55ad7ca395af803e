"""YOLO in NumPy: target encoding, anchors by shape, the output head, decoding and the loss.

An image of H×W pixels is cut into an S×S grid of cells, each (H/S)×(W/S) pixels. Every cell
predicts B boxes, one per anchor, each as 5 + C numbers, so the output for one image is

    y   (S, S, B*(5+C))   y[row, col, b*(5+C) : (b+1)*(5+C)] = (pc, bx, by, bh, bw, c_1, ..., c_C)

(row = vertical cell index, col = horizontal; batches add a leading N). For a box with corners
(x1, y1, x2, y2) and centre (cx, cy) = ((x1+x2)/2, (y1+y2)/2) in pixels:

- the *responsible* cell holds the centre: u = cx·S/W, v = cy·S/H, col = floor(u), row = floor(v)
  (a centre exactly on a border between two cells belongs to the right / lower one; one on the
  image's right or bottom edge to the last cell);
- bx = u - col and by = v - row: the centre inside that cell, from 0 (left/top edge) to 1;
- bh = (y2 - y1)/H and bw = (x2 - x1)/W: height and width relative to the whole *image* (as in
  the YOLO paper), not to the cell — bh and bw are in [0, 1] for a box inside the image. (Measured
  in cells instead they would be S·bh and S·bw, which can exceed 1: the same box, other units.);
- pc = 1 and the class one-hot in c_1..c_C; every slot without an object is all zeros.

With anchors (B, 2), rows (h, w) in the same units as (bh, bw), an object goes to the anchor whose
shape has the highest IoU with the box's shape (both centred at the same point; ties: lower
index). Without anchors B = 1. Two objects for the same cell and anchor cannot both be encoded:
the first in input order is kept and the later ones are dropped (``yolo_encode`` can report them).

The network's raw outputs t become predictions in the target's units through ``yolo_activate``:
pc, bx, by = sigmoid(t); bh, bw = sigmoid(t) without anchors, anchor·exp(t) with anchors (YOLOv2);
class probabilities = softmax over the C class outputs. ``yolo_loss`` is YOLOv1's sum of squared
errors on those predictions, with the target confidence 1 for objects (not the IoU):

    L = (1/N) Σ [ λ_coord Σ_obj ((bx-x)² + (by-y)² + (√bh-√h)² + (√bw-√w)²)
                 + Σ_obj (pc-1)² + λ_noobj Σ_noobj pc² + Σ_obj Σ_c (p_c - 1[c = class])² ]

``cnn_course.pt.yolo`` is the PyTorch twin (autograd instead of ``yolo_loss``'s hand-written gradient).
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _validate as v
from .boxes import _float_dtype, batched_nms, check_boxes, check_iou_threshold

__all__ = [
    "anchor_iou",
    "assign_anchors",
    "yolo_activate",
    "yolo_decode",
    "yolo_encode",
    "yolo_loss",
]


# ----------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------


def _check_image_size(image_size) -> tuple[float, float]:
    ok = isinstance(image_size, (tuple, list)) and len(image_size) == 2 and all(
        isinstance(s, numbers.Real) and not isinstance(s, bool) and np.isfinite(s) and s > 0 for s in image_size)
    if not ok:
        raise ValueError(f"image_size must be (H, W), two positive numbers of pixels, got {image_size!r}")
    return float(image_size[0]), float(image_size[1])


def _check_shapes(shapes, name: str):
    """(K, 2) rows (h, w), finite and >= 0 (anchors: > 0)."""
    v.check_ndim(shapes, 2, name, "(K, 2), rows (h, w)")
    if shapes.shape[1] != 2:
        raise ValueError(f"{name} must have shape (K, 2), rows (h, w), got shape {tuple(shapes.shape)}")
    if shapes.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold real numbers, got dtype {shapes.dtype}")
    bad = ~np.isfinite(shapes).all(axis=1) | (shapes < 0).any(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}[{i}] = {tuple(shapes[i].tolist())} must be a finite, non-negative (h, w)")


def _check_anchors(anchors):
    """None -> None; else a float64 (B, 2) array of positive (h, w)."""
    if anchors is None:
        return None
    _check_shapes(anchors, "anchors")
    if anchors.shape[0] == 0:
        raise ValueError("anchors must hold at least one (h, w) row, or be None for one box per cell")
    if (anchors <= 0).any():
        i = int(np.argmax((anchors <= 0).any(axis=1)))
        raise ValueError(f"anchors[{i}] = {tuple(anchors[i].tolist())}: anchor heights and widths must be > 0")
    return anchors.astype(np.float64)


def _check_output(y, num_classes, n_anchors, name: str, batched: bool):
    layout = "(N, S, S, B*(5+C))" if batched else "(S, S, B*(5+C))"
    v.check_ndim(y, 4 if batched else 3, name, layout)
    v.check_float(y, name)
    S1, S2, D = y.shape[-3:]
    if S1 != S2:
        raise ValueError(f"{name} must have a square S×S grid in layout {layout}, got shape {tuple(y.shape)}")
    if n_anchors is None:
        if D % (5 + num_classes):
            raise ValueError(f"{name} has {D} numbers per cell, not a multiple of 5 + C = {5 + num_classes} "
                             f"(layout {layout}, shape {tuple(y.shape)})")
    elif D != n_anchors * (5 + num_classes):
        raise ValueError(f"{name} must have B*(5+C) = {n_anchors}*{5 + num_classes} = {n_anchors * (5 + num_classes)} "
                         f"numbers per cell (layout {layout}), got shape {tuple(y.shape)}")


# ----------------------------------------------------------------------------------------
# Anchors
# ----------------------------------------------------------------------------------------


def anchor_iou(shapes1, shapes2):
    """IoU of box *shapes* placed on a common centre: out[i, j] = IoU(shapes1[i], shapes2[j]).

    shapes1: (N, 2), shapes2: (M, 2), rows (h, w) >= 0  ->  (N, M) in [0, 1]
    = min(h)·min(w) / (h1·w1 + h2·w2 - min(h)·min(w)); 0 when that intersection is empty.
    The units do not matter as long as both use the same ones (pixels, or fractions of the image).
    """
    _check_shapes(shapes1, "shapes1")
    _check_shapes(shapes2, "shapes2")
    dtype = np.result_type(_float_dtype(shapes1), _float_dtype(shapes2))
    a, b = shapes1.astype(dtype)[:, None, :], shapes2.astype(dtype)[None, :, :]
    inter = np.minimum(a[..., 0], b[..., 0]) * np.minimum(a[..., 1], b[..., 1])
    union = a[..., 0] * a[..., 1] + b[..., 0] * b[..., 1] - inter
    out = np.zeros(inter.shape, dtype)
    np.divide(inter, union, out=out, where=inter > 0)
    return out


def assign_anchors(shapes, anchors):
    """Index of the anchor whose shape best matches each box: (N, 2) (h, w), (B, 2) -> (N,) int64.

    Highest ``anchor_iou``; equal IoUs go to the lower anchor index.
    """
    _check_shapes(shapes, "shapes")
    anchors = _check_anchors(anchors)
    if anchors is None:
        raise ValueError("assign_anchors needs anchors of shape (B, 2), got None")
    return np.argmax(anchor_iou(shapes, anchors), axis=1).astype(np.int64) if shapes.shape[0] else np.zeros(0, np.int64)


# ----------------------------------------------------------------------------------------
# Encoding and decoding
# ----------------------------------------------------------------------------------------


def _cells(boxes, image_size, grid_size):
    """(row, col, bx, by, bh, bw) of every box; the validation of the centres."""
    H, W = image_size
    b = boxes.astype(np.float64)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    outside = (cx < 0) | (cx > W) | (cy < 0) | (cy > H)
    if outside.any():
        i = int(np.argmax(outside))
        raise ValueError(f"boxes[{i}] = {tuple(b[i].tolist())} has its centre ({cx[i]:g}, {cy[i]:g}) outside the "
                         f"{H:g}×{W:g} image (image_size is (H, W)): no grid cell can be responsible for it")
    u, w_ = cx * grid_size / W, cy * grid_size / H  # centre in cell units
    col = np.minimum(np.floor(u), grid_size - 1).astype(np.int64)
    row = np.minimum(np.floor(w_), grid_size - 1).astype(np.int64)
    return row, col, u - col, w_ - row, (b[:, 3] - b[:, 1]) / H, (b[:, 2] - b[:, 0]) / W


def yolo_encode(boxes, labels, image_size, grid_size, num_classes, anchors=None, dtype=np.float64,
                return_dropped=False):
    """The YOLO target of one image (module docstring for the conventions).

    boxes: (N, 4) corners in pixels, labels: (N,) integers in 0..C-1, image_size: (H, W) pixels,
    grid_size: S, num_classes: C, anchors: (B, 2) rows (h, w) as fractions of the image, or None (B = 1)
    ->  target (S, S, B*(5+C)) of ``dtype``; with ``return_dropped``, also the (K,) int64 indices
    of the boxes that lost their (cell, anchor) slot to an earlier box.
    """
    check_boxes(boxes)
    n = boxes.shape[0]
    v.check_ndim(labels, 1, "labels", "(N,)")
    if labels.shape[0] != n:
        raise ValueError(f"labels must have shape (N,) = ({n},), one class per box, got shape {tuple(labels.shape)}")
    C = v.check_positive_int(num_classes, "num_classes")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if n and (labels.min() < 0 or labels.max() >= C):
        raise ValueError(f"labels must lie in 0..{C - 1} (num_classes = {C}), got values in {labels.min()}..{labels.max()}")
    S = v.check_positive_int(grid_size, "grid_size")
    image_size = _check_image_size(image_size)
    anchors = _check_anchors(anchors)
    B = 1 if anchors is None else anchors.shape[0]
    D = 5 + C
    target = np.zeros((S, S, B, D), dtype)
    row, col, bx, by, bh, bw = _cells(boxes, image_size, S)
    slot = np.zeros(n, np.int64) if anchors is None else assign_anchors(np.stack([bh, bw], axis=1), anchors)
    dropped = []
    for i in range(n):
        cell = target[row[i], col[i], slot[i]]
        if cell[0] == 1:
            dropped.append(i)
            continue
        cell[:5] = (1.0, bx[i], by[i], bh[i], bw[i])
        cell[5 + labels[i]] = 1.0
    target = target.reshape(S, S, B * D)
    return (target, np.asarray(dropped, np.int64)) if return_dropped else target


def yolo_decode(pred, image_size, num_classes, score_threshold=0.5, iou_threshold=None):
    """Scored boxes from one image's predictions (the target's units: ``yolo_activate``'s output).

    pred: (S, S, B*(5+C)), image_size: (H, W) pixels, num_classes: C
    ->  (boxes (K, 4) corners in pixels clipped to the image, scores (K,), labels (K,) int64),
    in decreasing score order (ties: row, col, anchor). A slot's score is pc · max_c p(c) and
    its label the argmax; slots with score <= ``score_threshold`` are dropped. With an
    ``iou_threshold``, per-class non-max suppression (``batched_nms``) follows.
    ``yolo_decode(yolo_encode(boxes, ...))`` gives the encoded boxes back.
    """
    C = v.check_positive_int(num_classes, "num_classes")
    _check_output(pred, C, None, "pred", batched=False)
    H, W = _check_image_size(image_size)
    if isinstance(score_threshold, bool) or not isinstance(score_threshold, numbers.Real) or not np.isfinite(score_threshold):
        raise ValueError(f"score_threshold must be a finite number, got {score_threshold!r}")
    S = pred.shape[0]
    p = pred.reshape(S, S, -1, 5 + C)
    rows, cols = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    cx = (cols[..., None] + p[..., 1]) * (W / S)
    cy = (rows[..., None] + p[..., 2]) * (H / S)
    h, w = p[..., 3] * H, p[..., 4] * W
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1).reshape(-1, 4)
    boxes = np.clip(boxes, 0, [W, H, W, H]).astype(pred.dtype)
    scores = (p[..., 0] * p[..., 5:].max(axis=-1)).reshape(-1)
    labels = p[..., 5:].argmax(axis=-1).reshape(-1).astype(np.int64)
    keep = np.flatnonzero(scores > score_threshold)
    keep = keep[np.argsort(-scores[keep].astype(np.float64), kind="stable")]
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    if iou_threshold is not None:
        keep = batched_nms(boxes, scores, labels, check_iou_threshold(iou_threshold))
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    return boxes, scores, labels


# ----------------------------------------------------------------------------------------
# Head and loss
# ----------------------------------------------------------------------------------------


def _sigmoid(x):
    return np.exp(-np.logaddexp(0, -x))  # 1 / (1 + e^-x) without overflow


def yolo_activate(raw, num_classes, anchors=None):
    """Raw network outputs -> predictions in the target's units (module docstring).

    raw: (..., S, S, B*(5+C)) float  ->  same shape and dtype: per slot sigmoid(pc, bx, by),
    (bh, bw) = sigmoid(t) (no anchors) or anchor·exp(t), softmax over the C class outputs.
    """
    C = v.check_positive_int(num_classes, "num_classes")
    anchors = _check_anchors(anchors)
    if raw.ndim not in (3, 4):
        raise ValueError(f"raw must have shape (S, S, B*(5+C)) or (N, S, S, B*(5+C)), got shape {tuple(raw.shape)}")
    _check_output(raw, C, None if anchors is None else anchors.shape[0], "raw", batched=raw.ndim == 4)
    return _activate(raw.reshape(*raw.shape[:-1], -1, 5 + C), anchors).reshape(raw.shape)


def _activate(t, anchors):
    """yolo_activate on (..., B, 5+C) slots, without the checks."""
    out = np.empty_like(t)
    out[..., :3] = _sigmoid(t[..., :3])
    out[..., 3:5] = _sigmoid(t[..., 3:5]) if anchors is None else anchors * np.exp(t[..., 3:5])
    z = t[..., 5:] - t[..., 5:].max(axis=-1, keepdims=True)
    e = np.exp(z)
    out[..., 5:] = e / e.sum(axis=-1, keepdims=True)
    return out


def yolo_loss(raw, target, num_classes, anchors=None, lambda_coord=5.0, lambda_noobj=0.5):
    """YOLOv1's sum-squared loss (module docstring) and its gradient with respect to the raw outputs.

    raw: (N, S, S, B*(5+C)) float network outputs, target: same shape (``yolo_encode`` of each image,
    stacked)  ->  (loss, draw): loss a float (sum over the batch divided by N), draw like raw.
    """
    C = v.check_positive_int(num_classes, "num_classes")
    anchors = _check_anchors(anchors)
    _check_output(raw, C, None if anchors is None else anchors.shape[0], "raw", batched=True)
    v.check_same_shape(target, raw.shape, "target")
    for name, lam in (("lambda_coord", lambda_coord), ("lambda_noobj", lambda_noobj)):
        if isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not np.isfinite(lam) or lam < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {lam!r}")
    N = raw.shape[0]
    D = 5 + C
    t = raw.reshape(*raw.shape[:-1], -1, D).astype(np.float64)
    y = target.reshape(t.shape).astype(np.float64)
    obj = y[..., 0]
    if not np.isin(obj, (0.0, 1.0)).all():
        raise ValueError("target's pc entries must be 0 or 1 (is there an object in this cell and anchor?): "
                         "is it a yolo_encode output in the layout (N, S, S, B*(5+C))?")
    p = _activate(t, anchors)  # (N, S, S, B, D)
    pc, bxy, bhw, prob = p[..., 0], p[..., 1:3], p[..., 3:5], p[..., 5:]
    root, root_t = np.sqrt(bhw), np.sqrt(y[..., 3:5])
    noobj = 1.0 - obj
    loss = (lambda_coord * np.sum(obj[..., None] * ((bxy - y[..., 1:3]) ** 2 + (root - root_t) ** 2))
            + np.sum(obj * (pc - 1) ** 2) + lambda_noobj * np.sum(noobj * pc**2)
            + np.sum(obj[..., None] * (prob - y[..., 5:]) ** 2)) / N
    dt = np.empty_like(t)
    dpc = 2 * obj * (pc - 1) + 2 * lambda_noobj * noobj * pc
    dt[..., 0] = dpc * pc * (1 - pc)
    dt[..., 1:3] = lambda_coord * obj[..., None] * 2 * (bxy - y[..., 1:3]) * bxy * (1 - bxy)
    droot = lambda_coord * obj[..., None] * 2 * (root - root_t)
    # d√b/dt: √b(1-b)/2 for b = sigmoid(t); √b/2 for b = anchor·exp(t)
    dt[..., 3:5] = droot * (root * (1 - bhw) / 2 if anchors is None else root / 2)
    g = obj[..., None] * 2 * (prob - y[..., 5:])  # dL/dp, then through the softmax
    dt[..., 5:] = prob * (g - np.sum(g * prob, axis=-1, keepdims=True))
    return float(loss), (dt / N).reshape(raw.shape).astype(raw.dtype)
