"""YOLO in PyTorch, the twin of ``cnn_course.ref.yolo``: same layout, conventions and numbers.

Per image the output is (S, S, B*(5+C)) with slots (pc, bx, by, bh, bw, c_1..c_C); bx, by place
the centre inside its responsible cell, bh, bw are relative to the whole image (see the
reference's docstring). Batches are (N, S, S, B*(5+C)): a convolutional head's (N, B*(5+C), S, S)
output becomes that layout with ``.permute(0, 2, 3, 1)``. ``yolo_loss`` returns a scalar tensor
and autograd gives its gradient (the reference derives it by hand).
"""

from __future__ import annotations

import numbers

import torch

from .. import _validate as v
from ..ref.boxes import check_iou_threshold
from ..ref.yolo import _check_image_size
from .boxes import _float_dtype, batched_nms, check_boxes

__all__ = [
    "anchor_iou",
    "assign_anchors",
    "yolo_activate",
    "yolo_decode",
    "yolo_encode",
    "yolo_loss",
]


def _check_shapes(shapes, name: str) -> None:
    if not isinstance(shapes, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (K, 2), rows (h, w), got {type(shapes).__name__}")
    v.check_ndim(shapes, 2, name, "(K, 2), rows (h, w)")
    if shapes.shape[1] != 2:
        raise ValueError(f"{name} must have shape (K, 2), rows (h, w), got shape {tuple(shapes.shape)}")
    if shapes.dtype.is_complex or shapes.dtype == torch.bool:
        raise ValueError(f"{name} must hold real numbers, got dtype {shapes.dtype}")
    d = shapes.detach()
    bad = ~torch.isfinite(d).all(dim=1) | (d < 0).any(dim=1)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        raise ValueError(f"{name}[{i}] = {tuple(d[i].tolist())} must be a finite, non-negative (h, w)")


def _check_anchors(anchors):
    if anchors is None:
        return None
    _check_shapes(anchors, "anchors")
    if anchors.shape[0] == 0:
        raise ValueError("anchors must hold at least one (h, w) row, or be None for one box per cell")
    if bool((anchors <= 0).any()):
        i = int(torch.nonzero((anchors <= 0).any(dim=1))[0])
        raise ValueError(f"anchors[{i}] = {tuple(anchors[i].tolist())}: anchor heights and widths must be > 0")
    return anchors


def _check_output(y, num_classes, n_anchors, name: str, batched: bool) -> None:
    layout = "(N, S, S, B*(5+C))" if batched else "(S, S, B*(5+C))"
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape {layout}, got {type(y).__name__}")
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


def anchor_iou(shapes1: torch.Tensor, shapes2: torch.Tensor) -> torch.Tensor:
    """IoU of shapes on a common centre.  shapes1: (N, 2), shapes2: (M, 2), rows (h, w) -> (N, M)."""
    _check_shapes(shapes1, "shapes1")
    _check_shapes(shapes2, "shapes2")
    dtype = torch.promote_types(_float_dtype(shapes1), _float_dtype(shapes2))
    a, b = shapes1.to(dtype)[:, None, :], shapes2.to(dtype)[None, :, :]
    inter = torch.minimum(a[..., 0], b[..., 0]) * torch.minimum(a[..., 1], b[..., 1])
    union = a[..., 0] * a[..., 1] + b[..., 0] * b[..., 1] - inter
    overlap = inter > 0
    return torch.where(overlap, inter / torch.where(overlap, union, torch.ones_like(union)), torch.zeros_like(inter))


def assign_anchors(shapes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Best anchor per box shape: (N, 2), (B, 2) -> (N,) int64; equal IoUs go to the lower index."""
    _check_shapes(shapes, "shapes")
    anchors = _check_anchors(anchors)
    if anchors is None:
        raise ValueError("assign_anchors needs anchors of shape (B, 2), got None")
    if shapes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64, device=shapes.device)
    iou = anchor_iou(shapes, anchors)
    # argmax of the first maximum, explicitly (torch.argmax does not promise which of equal values)
    best = iou.max(dim=1, keepdim=True).values
    idx = torch.arange(iou.shape[1], device=iou.device).expand_as(iou)
    return torch.where(iou == best, idx, iou.shape[1]).min(dim=1).values


@torch.no_grad()
def yolo_encode(boxes, labels, image_size, grid_size, num_classes, anchors=None, dtype=None, return_dropped=False):
    """The YOLO target of one image; the twin of ``cnn_course.ref.yolo_encode``.

    boxes: (N, 4) corners in pixels, labels: (N,) integer, image_size (H, W), grid_size S,
    num_classes C, anchors (B, 2) (h, w) fractions of the image or None  ->  (S, S, B*(5+C)) of
    ``dtype`` (default: torch's default dtype) on the boxes' device; with ``return_dropped``
    also the indices of the boxes that lost their (cell, anchor) slot to an earlier box.
    """
    check_boxes(boxes)
    n = boxes.shape[0]
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"labels must be a torch.Tensor of shape (N,), got {type(labels).__name__}")
    v.check_ndim(labels, 1, "labels", "(N,)")
    if labels.shape[0] != n:
        raise ValueError(f"labels must have shape (N,) = ({n},), one class per box, got shape {tuple(labels.shape)}")
    C = v.check_positive_int(num_classes, "num_classes")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if n and (int(labels.min()) < 0 or int(labels.max()) >= C):
        raise ValueError(f"labels must lie in 0..{C - 1} (num_classes = {C}), got values in "
                         f"{int(labels.min())}..{int(labels.max())}")
    S = v.check_positive_int(grid_size, "grid_size")
    H, W = _check_image_size(image_size)
    anchors = _check_anchors(anchors)
    B = 1 if anchors is None else anchors.shape[0]
    D = 5 + C
    b = boxes.to(torch.float64)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    outside = (cx < 0) | (cx > W) | (cy < 0) | (cy > H)
    if bool(outside.any()):
        i = int(torch.nonzero(outside)[0])
        raise ValueError(f"boxes[{i}] = {tuple(b[i].tolist())} has its centre ({cx[i].item():g}, {cy[i].item():g}) "
                         f"outside the {H:g}×{W:g} image (image_size is (H, W)): no grid cell can be responsible for it")
    u, w_ = cx * S / W, cy * S / H
    col = torch.clamp(torch.floor(u), max=S - 1)
    row = torch.clamp(torch.floor(w_), max=S - 1)
    bx, by = u - col, w_ - row
    bh, bw = (b[:, 3] - b[:, 1]) / H, (b[:, 2] - b[:, 0]) / W
    slot = (torch.zeros(n, dtype=torch.int64, device=boxes.device) if anchors is None
            else assign_anchors(torch.stack([bh, bw], dim=1), anchors.to(device=boxes.device, dtype=torch.float64)))
    target = torch.zeros(S, S, B, D, dtype=torch.float64, device=boxes.device)
    dropped = []
    for i, (r, c, a) in enumerate(zip(row.long().tolist(), col.long().tolist(), slot.tolist())):
        if target[r, c, a, 0] == 1:
            dropped.append(i)
            continue
        target[r, c, a, :5] = torch.stack([torch.ones((), dtype=torch.float64, device=boxes.device), bx[i], by[i], bh[i], bw[i]])
        target[r, c, a, 5 + int(labels[i])] = 1.0
    target = target.reshape(S, S, B * D).to(dtype or torch.get_default_dtype())
    if return_dropped:
        return target, torch.tensor(dropped, dtype=torch.int64, device=boxes.device)
    return target


@torch.no_grad()
def yolo_decode(pred, image_size, num_classes, score_threshold=0.5, iou_threshold=None):
    """Scored boxes from one image's predictions (target units); the twin of ``cnn_course.ref.yolo_decode``.

    pred: (S, S, B*(5+C))  ->  (boxes (K, 4) clipped to the image, scores (K,), labels (K,) int64),
    decreasing score (ties: row, col, anchor); slots with score <= score_threshold are dropped;
    per-class NMS when ``iou_threshold`` is given.
    """
    C = v.check_positive_int(num_classes, "num_classes")
    _check_output(pred, C, None, "pred", batched=False)
    H, W = _check_image_size(image_size)
    if isinstance(score_threshold, bool) or not isinstance(score_threshold, numbers.Real) or score_threshold != score_threshold:
        raise ValueError(f"score_threshold must be a finite number, got {score_threshold!r}")
    S = pred.shape[0]
    p = pred.reshape(S, S, -1, 5 + C)
    ar = torch.arange(S, device=pred.device, dtype=pred.dtype)
    rows, cols = torch.meshgrid(ar, ar, indexing="ij")
    cx = (cols[..., None] + p[..., 1]) * (W / S)
    cy = (rows[..., None] + p[..., 2]) * (H / S)
    h, w = p[..., 3] * H, p[..., 4] * W
    boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1).reshape(-1, 4)
    limit = torch.tensor([W, H, W, H], dtype=pred.dtype, device=pred.device)
    boxes = torch.minimum(boxes.clamp(min=0), limit)
    prob, labels = p[..., 5:].max(dim=-1)
    # torch.max may pick any of equal maxima: take the first, as NumPy's argmax does
    labels = torch.where(p[..., 5:] == prob[..., None], torch.arange(C, device=pred.device), C).min(dim=-1).values
    scores = (p[..., 0] * prob).reshape(-1)
    labels = labels.reshape(-1)
    keep = torch.nonzero(scores > score_threshold).flatten()
    keep = keep[torch.sort(scores[keep].to(torch.float64), descending=True, stable=True).indices]
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    if iou_threshold is not None:
        keep = batched_nms(boxes, scores, labels, check_iou_threshold(iou_threshold))
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    return boxes, scores, labels


def _activate(t: torch.Tensor, anchors) -> torch.Tensor:
    """yolo_activate on (..., B, 5+C) slots, without the checks."""
    xy = torch.sigmoid(t[..., :3])
    hw = torch.sigmoid(t[..., 3:5]) if anchors is None else anchors.to(t.dtype) * torch.exp(t[..., 3:5])
    return torch.cat([xy, hw, torch.softmax(t[..., 5:], dim=-1)], dim=-1)


def yolo_activate(raw: torch.Tensor, num_classes: int, anchors=None) -> torch.Tensor:
    """Raw outputs (..., S, S, B*(5+C)) -> predictions in the target's units, same shape (differentiable)."""
    C = v.check_positive_int(num_classes, "num_classes")
    anchors = _check_anchors(anchors)
    if not isinstance(raw, torch.Tensor) or raw.ndim not in (3, 4):
        raise ValueError(f"raw must be a tensor of shape (S, S, B*(5+C)) or (N, S, S, B*(5+C)), got "
                         f"{tuple(raw.shape) if isinstance(raw, torch.Tensor) else type(raw).__name__}")
    _check_output(raw, C, None if anchors is None else anchors.shape[0], "raw", batched=raw.ndim == 4)
    return _activate(raw.reshape(*raw.shape[:-1], -1, 5 + C), anchors).reshape(raw.shape)


def yolo_loss(raw: torch.Tensor, target: torch.Tensor, num_classes: int, anchors=None,
              lambda_coord: float = 5.0, lambda_noobj: float = 0.5) -> torch.Tensor:
    """YOLOv1's sum-squared loss of raw outputs (N, S, S, B*(5+C)) against targets of the same shape.

    Returns a scalar tensor (sum over the batch divided by N); the formula is the reference's.
    """
    C = v.check_positive_int(num_classes, "num_classes")
    anchors = _check_anchors(anchors)
    _check_output(raw, C, None if anchors is None else anchors.shape[0], "raw", batched=True)
    if not isinstance(target, torch.Tensor):
        raise ValueError(f"target must be a torch.Tensor of shape {tuple(raw.shape)}, got {type(target).__name__}")
    v.check_same_shape(target, raw.shape, "target")
    for name, lam in (("lambda_coord", lambda_coord), ("lambda_noobj", lambda_noobj)):
        if isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not lam == lam or lam < 0 or lam == float("inf"):
            raise ValueError(f"{name} must be a finite number >= 0, got {lam!r}")
    N = raw.shape[0]
    t = raw.reshape(*raw.shape[:-1], -1, 5 + C)
    y = target.reshape(t.shape).to(t.dtype)
    obj = y[..., 0]
    if not bool(((obj == 0) | (obj == 1)).all()):
        raise ValueError("target's pc entries must be 0 or 1 (is there an object in this cell and anchor?): "
                         "is it a yolo_encode output in the layout (N, S, S, B*(5+C))?")
    p = _activate(t, anchors)
    pc, bxy, bhw, prob = p[..., 0], p[..., 1:3], p[..., 3:5], p[..., 5:]
    root_t = torch.sqrt(y[..., 3:5])
    # √ of a positive prediction: sigmoid and exp are > 0, so the gradient stays finite
    coord = ((bxy - y[..., 1:3]) ** 2 + (torch.sqrt(bhw) - root_t) ** 2).sum(dim=-1)
    loss = (lambda_coord * (obj * coord).sum() + (obj * (pc - 1) ** 2).sum()
            + lambda_noobj * ((1 - obj) * pc**2).sum() + (obj * ((prob - y[..., 5:]) ** 2).sum(dim=-1)).sum())
    return loss / N
