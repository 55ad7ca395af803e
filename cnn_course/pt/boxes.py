"""Bounding boxes in PyTorch, the twin of ``cnn_course.ref.boxes``: same functions, same conventions.

Boxes are corners (x1, y1, x2, y2) in pixels, tensors of shape (N, 4); centre–size boxes are
(cx, cy, w, h). IoU is 0 whenever the intersection has zero area (disjoint, touching or
degenerate boxes: never NaN), NMS drops a box when its IoU with a kept higher-scoring box is
strictly greater than the threshold, and equal scores rank by index. Floating tensors keep
their dtype (mixed dtypes promote); integer boxes are computed in float64, as in the reference.
``box_area``, ``box_iou`` and the conversions are differentiable (autograd), with finite
gradients also for zero-area intersections; ``nms`` returns int64 indices on the boxes' device.
"""

from __future__ import annotations

import torch

from .. import _validate as v
from ..ref.boxes import _nonfinite_message, _order_message, _row_text, check_iou_threshold

__all__ = [
    "batched_nms",
    "box_area",
    "box_iou",
    "centers_to_corners",
    "check_boxes",
    "corners_to_centers",
    "nms",
]


# ----------------------------------------------------------------------------------------
# Validation (the messages are the reference's)
# ----------------------------------------------------------------------------------------


def _is_int(dtype) -> bool:
    return not dtype.is_floating_point and not dtype.is_complex and dtype != torch.bool


def _float_dtype(t):
    if t.dtype.is_floating_point:
        return t.dtype
    if _is_int(t.dtype):
        return torch.float64
    raise ValueError(f"boxes must hold real numbers (a float or integer dtype), got {t.dtype}")


def _check_real(t, name: str) -> None:
    if not (t.dtype.is_floating_point or _is_int(t.dtype)):
        raise ValueError(f"{name} must hold real numbers (a float or integer dtype), got {t.dtype}")


def _check_tensor(t, name: str, layout: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape {layout}, got {type(t).__name__}")


def check_boxes(boxes, name: str = "boxes", layout: str = "(x1, y1, x2, y2)") -> None:
    """Require a real tensor of shape (N, 4), finite, with x1 <= x2 and y1 <= y2 in every row."""
    _check_tensor(boxes, name, f"(N, 4), rows {layout}")
    v.check_ndim(boxes, 2, name, f"(N, 4), rows {layout}")
    if boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), rows {layout}, got shape {tuple(boxes.shape)}")
    _check_real(boxes, name)
    b = boxes.detach()
    finite = torch.isfinite(b).all(dim=1)
    if not bool(finite.all()):
        i = int(torch.nonzero(~finite)[0])
        raise ValueError(_nonfinite_message(name, i, b[i].tolist()))
    for axis, (lo, hi) in (("x", (0, 2)), ("y", (1, 3))):
        bad = b[:, hi] < b[:, lo]
        if bool(bad.any()):
            i = int(torch.nonzero(bad)[0])
            raise ValueError(_order_message(name, i, b[i].tolist(), axis))


def _check_scores(scores, boxes, name: str = "scores") -> None:
    n = boxes.shape[0]
    _check_tensor(scores, name, "(N,)")
    v.check_ndim(scores, 1, name, "(N,)")
    if scores.shape[0] != n:
        raise ValueError(f"{name} must have shape (N,) = ({n},), one per box, got shape {tuple(scores.shape)}")
    _check_real(scores, name)
    if scores.device != boxes.device:
        raise ValueError(f"{name} must be on the same device as boxes ({boxes.device}), got {scores.device}")
    finite = torch.isfinite(scores.detach())
    if not bool(finite.all()):
        i = int(torch.nonzero(~finite)[0])
        raise ValueError(f"{name}[{i}] = {scores[i].item()} is not finite: scores must be finite numbers")


def _check_labels(labels, boxes) -> None:
    n = boxes.shape[0]
    _check_tensor(labels, "labels", "(N,)")
    v.check_ndim(labels, 1, "labels", "(N,)")
    if labels.shape[0] != n:
        raise ValueError(f"labels must have shape (N,) = ({n},), one class per box, got shape {tuple(labels.shape)}")
    if not _is_int(labels.dtype):
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if labels.device != boxes.device:
        raise ValueError(f"labels must be on the same device as boxes ({boxes.device}), got {labels.device}")


# ----------------------------------------------------------------------------------------
# Area, IoU, conversions
# ----------------------------------------------------------------------------------------


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area of each box: (x2 - x1) * (y2 - y1).  boxes: (N, 4) corners -> (N,)."""
    check_boxes(boxes)
    b = boxes.to(_float_dtype(boxes))
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every pair.  boxes1: (N, 4), boxes2: (M, 4) corners -> (N, M).

    Overlaps are clamped at 0: disjoint or touching boxes give exactly 0, and so does any pair
    whose intersection has zero area (also two identical zero-area boxes).
    """
    check_boxes(boxes1, "boxes1")
    check_boxes(boxes2, "boxes2")
    if boxes1.device != boxes2.device:
        raise ValueError(f"boxes2 must be on the same device as boxes1 ({boxes1.device}), got {boxes2.device}")
    dtype = torch.promote_types(_float_dtype(boxes1), _float_dtype(boxes2))
    return _iou(boxes1.to(dtype), boxes2.to(dtype))


def _iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """box_iou without the checks; both tensors already in the result's float dtype."""
    a = boxes1[:, None, :]  # (N, 1, 4)
    b = boxes2[None, :, :]  # (1, M, 4)
    w = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    h = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = w * h  # (N, M)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    overlap = inter > 0  # then union >= inter > 0; the inner where keeps the gradient finite elsewhere
    return torch.where(overlap, inter / torch.where(overlap, union, torch.ones_like(union)), torch.zeros_like(inter))


def corners_to_centers(boxes: torch.Tensor) -> torch.Tensor:
    """(x1, y1, x2, y2) -> (cx, cy, w, h).  boxes: (N, 4) -> (N, 4), float dtype."""
    check_boxes(boxes)
    b = boxes.to(_float_dtype(boxes))
    return torch.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], dim=1)


def centers_to_corners(boxes: torch.Tensor) -> torch.Tensor:
    """(cx, cy, w, h) -> (x1, y1, x2, y2) = (cx - w/2, cy - h/2, cx + w/2, cy + h/2).

    boxes: (N, 4) centre–size, w >= 0 and h >= 0  ->  (N, 4) corners, float dtype.
    """
    _check_tensor(boxes, "boxes", "(N, 4), rows (cx, cy, w, h)")
    v.check_ndim(boxes, 2, "boxes", "(N, 4), rows (cx, cy, w, h)")
    if boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), rows (cx, cy, w, h), got shape {tuple(boxes.shape)}")
    _check_real(boxes, "boxes")
    d = boxes.detach()
    finite = torch.isfinite(d).all(dim=1)
    if not bool(finite.all()):
        i = int(torch.nonzero(~finite)[0])
        raise ValueError(_nonfinite_message("boxes", i, d[i].tolist()))
    negative = (d[:, 2] < 0) | (d[:, 3] < 0)
    if bool(negative.any()):
        i = int(torch.nonzero(negative)[0])
        raise ValueError(f"boxes[{i}] = {_row_text(d[i].tolist())} has a negative width or height: "
                         f"centre–size boxes are (cx, cy, w, h) with w >= 0 and h >= 0")
    b = boxes.to(_float_dtype(boxes))
    half_w, half_h = b[:, 2] / 2, b[:, 3] / 2
    return torch.stack([b[:, 0] - half_w, b[:, 1] - half_h, b[:, 0] + half_w, b[:, 1] + half_h], dim=1)


# ----------------------------------------------------------------------------------------
# Non-max suppression
# ----------------------------------------------------------------------------------------


def _score_order(scores: torch.Tensor) -> torch.Tensor:
    """Indices by decreasing score; equal scores keep index order (a stable sort)."""
    return torch.sort(scores.detach().to(torch.float64), descending=True, stable=True).indices


@torch.no_grad()
def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-max suppression; the twin of ``cnn_course.ref.nms``.

    boxes: (N, 4) corners, scores: (N,), iou_threshold in [0, 1]
    ->  keep: (K,) int64 indices of the kept boxes, in decreasing score order (ties: index).
    A box is dropped when its IoU with a kept, higher-scoring box is strictly greater than the threshold.
    """
    check_boxes(boxes)
    _check_scores(scores, boxes)
    t = check_iou_threshold(iou_threshold)
    b = boxes.detach().to(_float_dtype(boxes))
    remaining = _score_order(scores)
    keep = []
    while remaining.numel():
        best, rest = remaining[:1], remaining[1:]
        keep.append(best)
        remaining = rest[_iou(b[best], b[rest])[0] <= t]
    return torch.cat(keep) if keep else torch.zeros(0, dtype=torch.int64, device=boxes.device)


@torch.no_grad()
def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Non-max suppression within each class (boxes of different labels never suppress each other).

    boxes: (N, 4), scores: (N,), labels: (N,) integer  ->  keep: (K,) int64, decreasing score (ties: index).
    """
    check_boxes(boxes)
    _check_scores(scores, boxes)
    _check_labels(labels, boxes)
    t = check_iou_threshold(iou_threshold)
    kept = []
    for c in torch.unique(labels):
        idx = torch.nonzero(labels == c).flatten()
        kept.append(idx[nms(boxes[idx], scores[idx], t)])
    keep = torch.cat(kept) if kept else torch.zeros(0, dtype=torch.int64, device=boxes.device)
    keep = torch.sort(keep).values  # then a stable sort by score: equal scores stay in index order
    return keep[_score_order(scores[keep])]
