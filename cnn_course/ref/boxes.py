"""Bounding boxes in NumPy: area, intersection over union, format conversions and non-max suppression.

A box is four numbers in pixels. Unless a function says otherwise boxes are *corners*

    boxes   (N, 4)   rows (x1, y1, x2, y2): top-left corner (x1, y1), bottom-right (x2, y2),
                     with x1 <= x2 and y1 <= y2 (x grows to the right, y downwards)

and the *centre–size* form is (cx, cy, w, h) = ((x1 + x2)/2, (y1 + y2)/2, x2 - x1, y2 - y1).
Coordinates are continuous: a box's width is x2 - x1, with no "+1" for inclusive pixel
indices (as in COCO and torchvision).

Conventions every function here keeps:
- IoU = area(A ∩ B) / area(A ∪ B), and IoU = 0 whenever the intersection has zero area:
  disjoint boxes, boxes that only touch along an edge or at a corner, and zero-area
  (degenerate) boxes, including two identical degenerate ones (0/0 is defined as 0, never
  NaN; COCO's ``maskUtils.iou`` does the same).
- NMS keeps a box unless its IoU with an already kept, higher-scoring box is *strictly*
  greater than ``iou_threshold`` (IoU == threshold survives). Equal scores are ranked by
  index, lower first, so the result is deterministic.
- Floating-point boxes keep their dtype (mixed float32/float64 inputs give float64);
  integer boxes are computed in float64. Empty inputs of shape (0, 4) are valid and give
  empty results of the right shape.

``cnn_course.pt.boxes`` is the PyTorch twin, function for function.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _validate as v

__all__ = [
    "batched_nms",
    "box_area",
    "box_iou",
    "centers_to_corners",
    "check_boxes",
    "check_iou_threshold",
    "corners_to_centers",
    "nms",
]


# ----------------------------------------------------------------------------------------
# Validation (shared wording with cnn_course.pt.boxes)
# ----------------------------------------------------------------------------------------


def _row_text(row) -> str:
    return "(" + ", ".join(f"{float(c):g}" for c in row) + ")"


def _order_message(name: str, i: int, row, axis: str) -> str:
    a, b = ("x1", "x2") if axis == "x" else ("y1", "y2")
    return (
        f"{name}[{i}] = {_row_text(row)} has {b} < {a}: boxes must be corners (x1, y1, x2, y2) "
        f"with x1 <= x2 and y1 <= y2. Did you pass (x, y, w, h) or (cx, cy, w, h) boxes? "
        f"Convert them first (centers_to_corners)."
    )


def _nonfinite_message(name: str, i: int, row) -> str:
    return f"{name}[{i}] = {_row_text(row)} is not finite (NaN or infinity): box coordinates must be finite numbers"


def _float_dtype(a):
    """The dtype the computation runs in: floating inputs keep theirs, integers use float64."""
    if a.dtype.kind == "f":
        return a.dtype
    if a.dtype.kind in "iu":
        return np.dtype(np.float64)
    raise ValueError(f"boxes must hold real numbers (a float or integer dtype), got {a.dtype}")


def _check_real(a, name: str) -> None:
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold real numbers (a float or integer dtype), got {a.dtype}")


def check_boxes(boxes, name: str = "boxes", layout: str = "(x1, y1, x2, y2)") -> None:
    """Require a real array of shape (N, 4), finite, with x1 <= x2 and y1 <= y2 in every row.

    The error names the first offending row. ``layout`` only changes the message.
    """
    v.check_ndim(boxes, 2, name, f"(N, 4), rows {layout}")
    if boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), rows {layout}, got shape {tuple(boxes.shape)}")
    _check_real(boxes, name)
    finite = np.isfinite(boxes).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        raise ValueError(_nonfinite_message(name, i, boxes[i]))
    for axis, (lo, hi) in (("x", (0, 2)), ("y", (1, 3))):
        bad = boxes[:, hi] < boxes[:, lo]
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(_order_message(name, i, boxes[i], axis))


def check_iou_threshold(iou_threshold, name: str = "iou_threshold") -> float:
    """Require a real number in [0, 1] (bools, NaN and arrays are rejected) and return it as float."""
    if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, numbers.Real):
        raise ValueError(f"{name} must be a number in [0, 1], got {iou_threshold!r} ({type(iou_threshold).__name__})")
    t = float(iou_threshold)
    if not 0.0 <= t <= 1.0:  # also False for NaN
        raise ValueError(f"{name} must be in [0, 1] (an IoU), got {iou_threshold!r}")
    return t


def _check_scores(scores, n: int, name: str = "scores") -> None:
    v.check_ndim(scores, 1, name, "(N,)")
    if scores.shape[0] != n:
        raise ValueError(f"{name} must have shape (N,) = ({n},), one per box, got shape {tuple(scores.shape)}")
    _check_real(scores, name)
    finite = np.isfinite(scores)
    if not finite.all():
        i = int(np.argmin(finite))
        raise ValueError(f"{name}[{i}] = {scores[i]} is not finite: scores must be finite numbers")


def _check_labels(labels, n: int) -> None:
    v.check_ndim(labels, 1, "labels", "(N,)")
    if labels.shape[0] != n:
        raise ValueError(f"labels must have shape (N,) = ({n},), one class per box, got shape {tuple(labels.shape)}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")


# ----------------------------------------------------------------------------------------
# Area, IoU, conversions
# ----------------------------------------------------------------------------------------


def box_area(boxes):
    """Area of each box: (x2 - x1) * (y2 - y1).

    boxes: (N, 4) corners  ->  (N,), the boxes' float dtype (float64 for integer boxes).
    """
    check_boxes(boxes)
    b = boxes.astype(_float_dtype(boxes), copy=False)
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_iou(boxes1, boxes2):
    """Intersection over union of every pair: out[i, j] = IoU(boxes1[i], boxes2[j]).

    boxes1: (N, 4), boxes2: (M, 4) corners  ->  (N, M) in [0, 1].
    The overlap along each axis is clamped at 0, so disjoint or touching boxes give exactly 0;
    a pair whose intersection has zero area gives 0 (also two identical zero-area boxes).
    """
    check_boxes(boxes1, "boxes1")
    check_boxes(boxes2, "boxes2")
    dtype = np.result_type(_float_dtype(boxes1), _float_dtype(boxes2))
    return _iou(boxes1.astype(dtype, copy=False), boxes2.astype(dtype, copy=False))


def _iou(boxes1, boxes2):
    """box_iou without the checks; both arrays already in the result's float dtype."""
    a = boxes1[:, None, :]  # (N, 1, 4)
    b = boxes2[None, :, :]  # (1, M, 4)
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h  # (N, M)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    out = np.zeros(inter.shape, boxes1.dtype)
    np.divide(inter, union, out=out, where=inter > 0)  # inter > 0 implies union >= inter > 0
    return out


def corners_to_centers(boxes):
    """(x1, y1, x2, y2) -> (cx, cy, w, h).  boxes: (N, 4) -> (N, 4), float dtype."""
    check_boxes(boxes)
    b = boxes.astype(_float_dtype(boxes), copy=False)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)


def centers_to_corners(boxes):
    """(cx, cy, w, h) -> (x1, y1, x2, y2) = (cx - w/2, cy - h/2, cx + w/2, cy + h/2).

    boxes: (N, 4) centre–size, w >= 0 and h >= 0  ->  (N, 4) corners, float dtype.
    """
    v.check_ndim(boxes, 2, "boxes", "(N, 4), rows (cx, cy, w, h)")
    if boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), rows (cx, cy, w, h), got shape {tuple(boxes.shape)}")
    _check_real(boxes, "boxes")
    finite = np.isfinite(boxes).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        raise ValueError(_nonfinite_message("boxes", i, boxes[i]))
    negative = (boxes[:, 2] < 0) | (boxes[:, 3] < 0)
    if negative.any():
        i = int(np.argmax(negative))
        raise ValueError(f"boxes[{i}] = {_row_text(boxes[i])} has a negative width or height: "
                         f"centre–size boxes are (cx, cy, w, h) with w >= 0 and h >= 0")
    b = boxes.astype(_float_dtype(boxes), copy=False)
    half_w, half_h = b[:, 2] / 2, b[:, 3] / 2
    return np.stack([b[:, 0] - half_w, b[:, 1] - half_h, b[:, 0] + half_w, b[:, 1] + half_h], axis=1)


# ----------------------------------------------------------------------------------------
# Non-max suppression
# ----------------------------------------------------------------------------------------


def _score_order(scores):
    """Indices by decreasing score; equal scores keep index order (a stable sort)."""
    return np.argsort(-scores.astype(np.float64), kind="stable")


def nms(boxes, scores, iou_threshold):
    """Greedy non-max suppression.

    boxes: (N, 4) corners, scores: (N,), iou_threshold in [0, 1]
    ->  keep: (K,) int64, indices into boxes of the kept boxes, in decreasing score order.

    Repeatedly keep the highest-scoring remaining box and drop every remaining box whose IoU
    with it is strictly greater than ``iou_threshold``. Equal scores: lower index first.
    """
    check_boxes(boxes)
    _check_scores(scores, boxes.shape[0])
    t = check_iou_threshold(iou_threshold)
    b = boxes.astype(_float_dtype(boxes), copy=False)
    remaining = _score_order(scores)
    keep = []
    while remaining.size:
        best, rest = remaining[0], remaining[1:]
        keep.append(best)
        remaining = rest[_iou(b[best : best + 1], b[rest])[0] <= t]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes, scores, labels, iou_threshold):
    """Non-max suppression within each class: boxes of different labels never suppress each other.

    boxes: (N, 4) corners, scores: (N,), labels: (N,) integer classes, iou_threshold in [0, 1]
    ->  keep: (K,) int64 indices, all classes together in decreasing score order (ties: index).
    """
    check_boxes(boxes)
    n = boxes.shape[0]
    _check_scores(scores, n)
    _check_labels(labels, n)
    t = check_iou_threshold(iou_threshold)
    kept = [np.flatnonzero(labels == c)[nms(boxes[labels == c], scores[labels == c], t)] for c in np.unique(labels)]
    keep = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    keep = np.sort(keep)  # then a stable sort by score: equal scores stay in index order
    return keep[_score_order(scores[keep])].astype(np.int64)
