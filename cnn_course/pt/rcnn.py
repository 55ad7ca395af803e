"""The R-CNN family in PyTorch, the twin of ``cnn_course.ref.rcnn``: same functions, same semantics.

``roi_pool`` and ``roi_align`` compute what ``torchvision.ops.roi_pool`` / ``roi_align`` compute
(rois (K, 5) rows [batch_index, x1, y1, x2, y2] in image pixels, features (N, C, H, W), output
(K, C, oh, ow); the rules are in ``cnn_course.ref.rcnn``'s docstring). Autograd gives the
backward passes: RoIPool gathers each bin's first maximum, so its gradient goes there; RoIAlign
is two interpolation matrices, A_y · F · A_xᵀ, so its gradient uses the same bilinear weights.
As in torchvision, no gradient flows to the rois.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate as v
from ..ref.boxes import check_iou_threshold
from ..ref.rcnn import (
    BBOX_XFORM_CLIP,
    FLT_MAX,
    _check_iou_pair,
    _pair,
    _positive_number,
    _positive_numbers,
    _row,
    check_aligned,
    check_output_size,
    check_sampling,
    check_sampling_ratio,
    check_spatial_scale,
    check_weights,
    rois_batch_message,
    rois_order_message,
)
from ..ref.yolo import _check_image_size
from .boxes import _float_dtype, _iou, check_boxes, nms

__all__ = [
    "RoIAlign",
    "RoIPool",
    "anchor_targets",
    "decode_boxes",
    "encode_boxes",
    "generate_anchors",
    "label_anchors",
    "match_anchors",
    "proposals_after_nms",
    "roi_align",
    "roi_pool",
    "rpn_loss",
    "sample_anchors",
]


# ----------------------------------------------------------------------------------------
# Validation (the reference's messages)
# ----------------------------------------------------------------------------------------


def _check_tensor(t, name: str, layout: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape {layout}, got {type(t).__name__}")


def _check_features(features) -> None:
    _check_tensor(features, "features", "(N, C, H, W)")
    v.check_ndim(features, 4, "features", "(N, C, H, W)")
    v.check_float(features, "features")
    if features.shape[2] == 0 or features.shape[3] == 0:
        raise ValueError(f"features must have at least 1×1 pixels, got shape {tuple(features.shape)}")


def _check_rois(rois, features) -> None:
    layout = "(K, 5), rows [batch_index, x1, y1, x2, y2]"
    _check_tensor(rois, "rois", layout)
    v.check_ndim(rois, 2, "rois", layout)
    if rois.shape[1] != 5:
        raise ValueError(f"rois must have shape {layout}, got shape {tuple(rois.shape)}")
    if rois.dtype.is_complex or rois.dtype == torch.bool:
        raise ValueError(f"rois must hold real numbers (a float or integer dtype), got {rois.dtype}")
    if rois.device != features.device:
        raise ValueError(f"rois must be on the same device as features ({features.device}), got {rois.device}")
    r = rois.detach()
    finite = torch.isfinite(r).all(dim=1)
    if not bool(finite.all()):
        i = int(torch.nonzero(~finite)[0])
        raise ValueError(f"rois[{i}] = {tuple(r[i].tolist())} is not finite (NaN or infinity)")
    n = features.shape[0]
    b = r[:, 0]
    bad = (b != torch.floor(b)) | (b < 0) | (b >= n)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        raise ValueError(rois_batch_message(i, r[i].tolist(), n))
    for axis, (lo, hi) in (("x", (1, 3)), ("y", (2, 4))):
        bad = r[:, hi] < r[:, lo]
        if bool(bad.any()):
            i = int(torch.nonzero(bad)[0])
            raise ValueError(rois_order_message(i, r[i].tolist(), axis))


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    """C's round() (halves away from zero), exactly, in float64."""
    x = x.to(torch.float64)
    a = x.abs()
    f = torch.floor(a)
    return torch.sign(x) * (f + (a - f >= 0.5).to(torch.float64))


# ----------------------------------------------------------------------------------------
# RoI pooling
# ----------------------------------------------------------------------------------------


def _pool_bins(c1, c2, size: int, scale: float, dtype, extent: int):
    """Bin limits (K, size) along one axis of every region; corners (K,) in image pixels."""
    s = torch.tensor(scale, dtype=dtype)
    start = _round_half_away(c1.to(dtype) * s).to(torch.int64)
    end = _round_half_away(c2.to(dtype) * s).to(torch.int64)
    length = torch.clamp(end - start + 1, min=1)
    bin_size = length.to(dtype) / torch.tensor(size, dtype=dtype)  # (K,)
    j = torch.arange(size, dtype=dtype)
    lo = torch.floor(j[None, :] * bin_size[:, None]).to(torch.int64) + start[:, None]
    hi = torch.ceil((j[None, :] + 1) * bin_size[:, None]).to(torch.int64) + start[:, None]
    return lo.clamp(0, extent), hi.clamp(0, extent)


def _first_max(vals, mask):
    """vals (..., L), mask (P, L) -> (..., P) max and first argmax over the masked positions."""
    masked = torch.where(mask, vals[..., None, :], torch.tensor(-math.inf, dtype=vals.dtype, device=vals.device))
    best = masked.max(dim=-1).values
    L = vals.shape[-1]
    idx = torch.arange(L, device=vals.device)
    # the first position holding the maximum (torch.argmax promises no particular one of equal values)
    first = torch.where(masked == best[..., None], idx, L).min(dim=-1).values
    return best, first.clamp(max=L - 1)


@torch.no_grad()
def _pool_argmax(features, rois, oh, ow, scale):
    """The flat index (in H*W) of each output's bin maximum, -1 where nothing was picked, and
    whether the bin is empty: (K, C, oh, ow) int64 and (K, oh, ow) bool."""
    N, C, H, W = features.shape
    K = rois.shape[0]
    r = rois.detach().cpu()
    hs, he = _pool_bins(r[:, 2], r[:, 4], oh, scale, features.dtype, H)
    ws, we = _pool_bins(r[:, 1], r[:, 3], ow, scale, features.dtype, W)
    empty = (he <= hs)[:, :, None] | (we <= ws)[:, None, :]  # (K, oh, ow)
    argmax = torch.full((K, C, oh, ow), -1, dtype=torch.int64)
    for k in range(K):
        if bool(empty[k].all()):
            continue
        h0, h1, w0, w1 = int(hs[k].min()), int(he[k].max()), int(ws[k].min()), int(we[k].max())
        crop = features[int(r[k, 0]), :, h0:h1, w0:w1].detach().cpu()
        vals = torch.where(crop > -FLT_MAX, crop, torch.tensor(-math.inf, dtype=crop.dtype))  # NaN never wins
        rows, cols = torch.arange(h0, h1), torch.arange(w0, w1)
        mask_w = (cols[None, :] >= ws[k][:, None]) & (cols[None, :] < we[k][:, None])
        mask_h = (rows[None, :] >= hs[k][:, None]) & (rows[None, :] < he[k][:, None])
        m1, i1 = _first_max(vals, mask_w)  # (C, rh, ow): the first maximum of each row of each bin
        m2, i2 = _first_max(m1.transpose(1, 2), mask_h)  # (C, ow, oh): the first row holding the maximum
        m2, i2 = m2.transpose(1, 2), i2.transpose(1, 2)
        col = torch.gather(i1, 1, i2)
        found = (m2 > -math.inf) & ~empty[k]
        argmax[k] = torch.where(found, (h0 + i2) * W + (w0 + col), -1)
    return argmax.to(features.device), empty.to(features.device)


def roi_pool(features: torch.Tensor, rois: torch.Tensor, output_size, spatial_scale: float = 1.0) -> torch.Tensor:
    """Max pooling of each region into an oh×ow grid; ``torchvision.ops.roi_pool``'s semantics.

    features: (N, C, H, W) float, rois: (K, 5) [batch_index, x1, y1, x2, y2] in image pixels
    ->  (K, C, oh, ow), differentiable in ``features`` (the gradient goes to each bin's first maximum).
    """
    _check_features(features)
    _check_rois(rois, features)
    oh, ow = check_output_size(output_size)
    scale = check_spatial_scale(spatial_scale)
    N, C, H, W = features.shape
    K = rois.shape[0]
    if K == 0:
        return features.new_zeros((0, C, oh, ow))
    argmax, empty = _pool_argmax(features, rois, oh, ow, scale)
    batch = rois[:, 0].detach().to(torch.int64)
    channel = torch.arange(C, device=features.device)
    flat = (batch[:, None, None, None] * C + channel[None, :, None, None]) * (H * W) + argmax.clamp(min=0)
    picked = features.reshape(-1)[flat]
    fill = torch.where(empty[:, None], 0.0, -FLT_MAX).to(features.dtype)  # empty bin: 0; only values <= -FLT_MAX
    return torch.where(argmax >= 0, picked, fill)


# ----------------------------------------------------------------------------------------
# RoIAlign
# ----------------------------------------------------------------------------------------


def _align_axis(c1, c2, size: int, extent: int, scale: float, sampling_ratio: int, aligned: bool, dtype):
    """Interpolation matrices (K, size, extent) of every region along one axis and its sample
    counts g (K,), with the kernel's arithmetic in ``dtype``."""
    K = c1.shape[0]
    s = torch.tensor(scale, dtype=dtype)
    offset = torch.tensor(0.5 if aligned else 0.0, dtype=dtype)
    start = c1.to(dtype) * s - offset
    end = c2.to(dtype) * s - offset
    length = end - start
    if not aligned:
        length = torch.clamp(length, min=1.0)
    size_t = torch.tensor(size, dtype=dtype)
    bin_size = length / size_t
    if sampling_ratio > 0:
        g = torch.full((K,), sampling_ratio, dtype=torch.int64)
    else:
        g = torch.ceil(length / size_t).to(torch.int64)
    G = max(int(g.max()) if K else 0, 1)
    j = torch.arange(size, dtype=dtype)[None, :, None]
    i = (torch.arange(G, dtype=torch.float64) + 0.5).to(dtype)[None, None, :]
    gt = g.clamp(min=1).to(dtype)[:, None, None]
    coords = (start[:, None, None] + j * bin_size[:, None, None]) + (i * bin_size[:, None, None]) / gt  # (K, size, G)
    used = torch.arange(G)[None, None, :] < g[:, None, None]
    valid = used & (coords >= -1) & (coords <= extent)
    c = torch.where(valid, coords, torch.zeros((), dtype=dtype)).clamp(min=0)
    low = torch.floor(c).to(torch.int64)
    last = low >= extent - 1
    low = torch.where(last, extent - 1, low)
    high = torch.where(last, extent - 1, low + 1)
    c = torch.where(last, low.to(dtype), c)
    frac = c - low.to(dtype)
    zero = torch.zeros((), dtype=dtype)
    A = torch.zeros(K, size, extent, dtype=dtype)
    A.scatter_add_(2, low, torch.where(valid, 1 - frac, zero))
    A.scatter_add_(2, high, torch.where(valid, frac, zero))
    return A, g


def roi_align(features: torch.Tensor, rois: torch.Tensor, output_size, spatial_scale: float = 1.0,
              sampling_ratio: int = -1, aligned: bool = False) -> torch.Tensor:
    """Bilinear RoI pooling; ``torchvision.ops.roi_align``'s semantics (``cnn_course.ref.rcnn``).

    features: (N, C, H, W) float, rois: (K, 5) [batch_index, x1, y1, x2, y2] in image pixels,
    sampling_ratio <= 0: ceil(roi size / output size) samples per bin and axis, aligned: the
    half-pixel offset  ->  (K, C, oh, ow), differentiable in ``features``.
    """
    _check_features(features)
    _check_rois(rois, features)
    oh, ow = check_output_size(output_size)
    scale = check_spatial_scale(spatial_scale)
    sampling_ratio, aligned = check_sampling_ratio(sampling_ratio), check_aligned(aligned)
    N, C, H, W = features.shape
    K = rois.shape[0]
    if K == 0:
        return features.new_zeros((0, C, oh, ow))
    r = rois.detach().cpu()
    with torch.no_grad():
        Ay, gh = _align_axis(r[:, 2], r[:, 4], oh, H, scale, sampling_ratio, aligned, features.dtype)
        Ax, gw = _align_axis(r[:, 1], r[:, 3], ow, W, scale, sampling_ratio, aligned, features.dtype)
        count = (gh * gw).clamp(min=1).to(features.dtype)
        Ay, Ax, count = Ay.to(features.device), Ax.to(features.device), count.to(features.device)
    batch = r[:, 0].to(torch.int64)
    parts, order = [], []
    for n in torch.unique(batch).tolist():
        idx = torch.nonzero(batch == n).flatten()
        dev_idx = idx.to(features.device)
        # (k, 1, oh, H) @ (C, H, W) -> (k, C, oh, W); @ (k, 1, W, ow) -> (k, C, oh, ow)
        out = Ay[dev_idx][:, None] @ features[n] @ Ax[dev_idx].transpose(1, 2)[:, None]
        parts.append(out / count[dev_idx][:, None, None, None])
        order.append(idx)
    out = torch.cat(parts)
    inverse = torch.empty(K, dtype=torch.int64)
    inverse[torch.cat(order)] = torch.arange(K)
    return out[inverse.to(features.device)]


# ----------------------------------------------------------------------------------------
# Modules
# ----------------------------------------------------------------------------------------


class RoIPool(nn.Module):
    """``roi_pool`` as a layer (as ``torchvision.ops.RoIPool``): forward(features, rois) -> (K, C, oh, ow)."""

    def __init__(self, output_size, spatial_scale: float):
        super().__init__()
        self.output_size = check_output_size(output_size)
        self.spatial_scale = check_spatial_scale(spatial_scale)

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return roi_pool(features, rois, self.output_size, self.spatial_scale)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}"


class RoIAlign(nn.Module):
    """``roi_align`` as a layer (as ``torchvision.ops.RoIAlign``): forward(features, rois) -> (K, C, oh, ow)."""

    def __init__(self, output_size, spatial_scale: float, sampling_ratio: int = -1, aligned: bool = False):
        super().__init__()
        self.output_size = check_output_size(output_size)
        self.spatial_scale = check_spatial_scale(spatial_scale)
        self.sampling_ratio = check_sampling_ratio(sampling_ratio)
        self.aligned = check_aligned(aligned)

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return roi_align(features, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}")


# ----------------------------------------------------------------------------------------
# Box-regression targets
# ----------------------------------------------------------------------------------------


def _sizes(boxes):
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return w, h, boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h


def _check_positive_size(boxes, name: str) -> None:
    d = boxes.detach()
    bad = (d[:, 2] <= d[:, 0]) | (d[:, 3] <= d[:, 1])
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        raise ValueError(f"{name}[{i}] = {_row(d[i].tolist())} has zero width or height: box-regression targets "
                         f"divide by the width and height and take their logarithm, so boxes must have x2 > x1 and y2 > y1")


def _check_pair(a, b, name_a: str, name_b: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{name_a} and {name_b} must have one row each per box, got {a.shape[0]} and {b.shape[0]} rows")


def encode_boxes(proposals: torch.Tensor, gt: torch.Tensor, weights=(1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """(tx, ty, tw, th) moving each proposal onto its ground truth; the twin of ``ref.encode_boxes``.

    proposals, gt: (N, 4) corners with positive sizes  ->  (N, 4) (differentiable).
    """
    check_boxes(proposals, "proposals")
    check_boxes(gt, "gt")
    _check_pair(proposals, gt, "proposals", "gt")
    wx, wy, ww, wh = check_weights(weights)
    _check_positive_size(proposals, "proposals")
    _check_positive_size(gt, "gt")
    dtype = torch.promote_types(_float_dtype(proposals), _float_dtype(gt))
    pw, ph, px, py = _sizes(proposals.to(dtype))
    gw, gh, gx, gy = _sizes(gt.to(dtype))
    return torch.stack([wx * (gx - px) / pw, wy * (gy - py) / ph, ww * torch.log(gw / pw), wh * torch.log(gh / ph)], dim=1)


def decode_boxes(proposals: torch.Tensor, deltas: torch.Tensor, weights=(1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """Apply (tx, ty, tw, th) to proposals, the inverse of ``encode_boxes`` (tw/ww, th/wh clamped at
    log(1000/16)); the twin of ``ref.decode_boxes``.  (N, 4), (N, 4) -> (N, 4) corners (differentiable)."""
    check_boxes(proposals, "proposals")
    _check_tensor(deltas, "deltas", "(N, 4), rows (tx, ty, tw, th)")
    v.check_ndim(deltas, 2, "deltas", "(N, 4), rows (tx, ty, tw, th)")
    if deltas.shape[1] != 4:
        raise ValueError(f"deltas must have shape (N, 4), rows (tx, ty, tw, th), got shape {tuple(deltas.shape)}")
    v.check_float(deltas, "deltas")
    _check_pair(proposals, deltas, "proposals", "deltas")
    finite = torch.isfinite(deltas.detach()).all(dim=1)
    if not bool(finite.all()):
        i = int(torch.nonzero(~finite)[0])
        raise ValueError(f"deltas[{i}] = {_row(deltas[i].detach().tolist())} is not finite")
    wx, wy, ww, wh = check_weights(weights)
    dtype = torch.promote_types(_float_dtype(proposals), deltas.dtype)
    pw, ph, px, py = _sizes(proposals.to(dtype))
    d = deltas.to(dtype)
    dw = torch.clamp(d[:, 2] / ww, max=BBOX_XFORM_CLIP)
    dh = torch.clamp(d[:, 3] / wh, max=BBOX_XFORM_CLIP)
    cx, cy = d[:, 0] / wx * pw + px, d[:, 1] / wy * ph + py
    w, h = torch.exp(dw) * pw, torch.exp(dh) * ph
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=1)


# ----------------------------------------------------------------------------------------
# Anchors
# ----------------------------------------------------------------------------------------


def generate_anchors(feature_size, stride, sizes, aspect_ratios, offset=0.0, dtype=torch.float64,
                     device=None) -> torch.Tensor:
    """Every anchor of a feature map in image pixels; the twin of ``ref.generate_anchors``.

    -> (H·W·A, 4), row (y·W + x)·A + r·len(sizes) + i: aspect ratio r (h/w), size i, at
    ((x + offset)·sx, (y + offset)·sy).
    """
    H, W = _pair(feature_size, "feature_size", v.check_positive_int)
    sy, sx = _pair(stride, "stride", _positive_number)
    s = torch.as_tensor(_positive_numbers(sizes, "sizes"), dtype=torch.float64)
    a = torch.as_tensor(_positive_numbers(aspect_ratios, "aspect_ratios"), dtype=torch.float64)
    if isinstance(offset, bool) or not isinstance(offset, numbers.Real) or not math.isfinite(offset):
        raise ValueError(f"offset must be a finite number (0: torchvision, 0.5: pixel centres), got {offset!r}")
    hs = (torch.sqrt(a)[:, None] * s[None, :]).reshape(-1)
    ws = (s[None, :] / torch.sqrt(a)[:, None]).reshape(-1)
    base = torch.stack([-ws, -hs, ws, hs], dim=1) / 2
    cy, cx = torch.meshgrid((torch.arange(H, dtype=torch.float64) + offset) * sy,
                            (torch.arange(W, dtype=torch.float64) + offset) * sx, indexing="ij")
    shifts = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)
    return (shifts + base[None]).reshape(-1, 4).to(dtype=dtype, device=device)


@torch.no_grad()
def match_anchors(anchors: torch.Tensor, gt_boxes: torch.Tensor, pos_iou=0.7, neg_iou=0.3):
    """Faster R-CNN's anchor labels 1 / 0 / -1 and each anchor's best ground truth (``ref.match_anchors``).

    (A, 4), (G, 4)  ->  (labels (A,) int64, matched (A,) int64; -1 when G = 0).
    """
    check_boxes(anchors, "anchors")
    check_boxes(gt_boxes, "gt_boxes")
    pos, neg = _check_iou_pair(pos_iou, neg_iou)
    A, G = anchors.shape[0], gt_boxes.shape[0]
    dev = anchors.device
    if G == 0:
        return torch.zeros(A, dtype=torch.int64, device=dev), torch.full((A,), -1, dtype=torch.int64, device=dev)
    if A == 0:
        return torch.zeros(0, dtype=torch.int64, device=dev), torch.zeros(0, dtype=torch.int64, device=dev)
    iou = _iou(anchors.to(torch.float64), gt_boxes.to(device=dev, dtype=torch.float64))  # (A, G)
    best = iou.max(dim=1).values
    g_idx = torch.arange(G, device=dev)
    matched = torch.where(iou == best[:, None], g_idx, G).min(dim=1).values  # the first best, as np.argmax
    labels = torch.full((A,), -1, dtype=torch.int64, device=dev)
    labels[best < neg] = 0
    labels[best >= pos] = 1
    best_per_gt = iou.max(dim=0).values
    low_quality = ((iou == best_per_gt[None, :]) & (best_per_gt[None, :] > 0)).any(dim=1)
    labels[low_quality] = 1
    return labels, matched


def label_anchors(anchors: torch.Tensor, gt_boxes: torch.Tensor, pos_iou=0.7, neg_iou=0.3) -> torch.Tensor:
    """The labels of ``match_anchors``: (A,) int64, 1 positive / 0 negative / -1 ignored."""
    return match_anchors(anchors, gt_boxes, pos_iou, neg_iou)[0]


@torch.no_grad()
def anchor_targets(anchors: torch.Tensor, gt_boxes: torch.Tensor, pos_iou=0.7, neg_iou=0.3,
                   weights=(1.0, 1.0, 1.0, 1.0)):
    """(labels (A,) int64, target_deltas (A, 4) float64): ``encode_boxes`` for positives, 0 elsewhere."""
    labels, matched = match_anchors(anchors, gt_boxes, pos_iou, neg_iou)
    targets = torch.zeros(anchors.shape[0], 4, dtype=torch.float64, device=anchors.device)
    pos = labels == 1
    if bool(pos.any()):
        targets[pos] = encode_boxes(anchors[pos].to(torch.float64),
                                    gt_boxes.to(anchors.device)[matched[pos]].to(torch.float64), weights)
    return labels, targets


def _check_labels(labels, n=None, name: str = "labels") -> None:
    _check_tensor(labels, name, "(A,)")
    v.check_ndim(labels, 1, name, "(A,)")
    if n is not None and labels.shape[0] != n:
        raise ValueError(f"{name} must have shape (A,) = ({n},), one per anchor, got shape {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"{name} must be integers 1 (positive), 0 (negative) or -1 (ignored), got dtype {labels.dtype}")
    bad = (labels < -1) | (labels > 1)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        raise ValueError(f"{name}[{i}] = {int(labels[i])}: labels must be 1 (positive), 0 (negative) or -1 (ignored)")


@torch.no_grad()
def sample_anchors(labels: torch.Tensor, batch_size=256, positive_fraction=0.5, generator=None) -> torch.Tensor:
    """A random mini-batch of anchors (``ref.sample_anchors``), drawn with a ``torch.Generator``.

    labels (A,) 1 / 0 / -1  ->  (A,) int64, the labels with every anchor left out of the batch set to -1.
    """
    _check_labels(labels)
    batch_size, fraction = check_sampling(batch_size, positive_fraction)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator (torch.Generator().manual_seed(seed)), "
                         f"got {type(generator).__name__}")
    positives = torch.nonzero(labels == 1).flatten().cpu()
    negatives = torch.nonzero(labels == 0).flatten().cpu()
    n_pos = min(positives.numel(), int(batch_size * fraction))
    n_neg = min(negatives.numel(), batch_size - n_pos)
    out = torch.full((labels.shape[0],), -1, dtype=torch.int64)
    out[positives[torch.randperm(positives.numel(), generator=generator)[:n_pos]]] = 1
    out[negatives[torch.randperm(negatives.numel(), generator=generator)[:n_neg]]] = 0
    return out.to(labels.device)


# ----------------------------------------------------------------------------------------
# RPN loss and proposals
# ----------------------------------------------------------------------------------------


def _check_deltas(d, n: int, name: str) -> None:
    _check_tensor(d, name, "(A, 4)")
    v.check_ndim(d, 2, name, "(A, 4)")
    if tuple(d.shape) != (n, 4):
        raise ValueError(f"{name} must have shape (A, 4) = ({n}, 4), one row per anchor, got shape {tuple(d.shape)}")
    v.check_float(d, name)


def rpn_loss(objectness_logits: torch.Tensor, deltas: torch.Tensor, labels: torch.Tensor,
             target_deltas: torch.Tensor, beta: float = 1 / 9):
    """The RPN's (objectness_loss, box_loss) over the anchors with labels >= 0 (``ref.rpn_loss``).

    objectness_logits (A,), deltas (A, 4), labels (A,) 1 / 0 / -1, target_deltas (A, 4)
    ->  two scalar tensors: the mean binary cross-entropy over the S sampled anchors, and the
    smooth-L1 (β) of the positives' deltas summed and divided by S (torchvision's RPN). Autograd.
    """
    _check_tensor(objectness_logits, "objectness_logits", "(A,)")
    v.check_ndim(objectness_logits, 1, "objectness_logits", "(A,)")
    v.check_float(objectness_logits, "objectness_logits")
    A = objectness_logits.shape[0]
    _check_deltas(deltas, A, "deltas")
    _check_labels(labels, A)
    _check_deltas(target_deltas, A, "target_deltas")
    beta = _positive_number(beta, "beta")
    sampled, pos = labels >= 0, labels == 1
    S = max(int(sampled.sum()), 1)
    z = objectness_logits[sampled]
    objectness_loss = F.binary_cross_entropy_with_logits(z, pos[sampled].to(z.dtype), reduction="sum") / S
    box_loss = F.smooth_l1_loss(deltas[pos], target_deltas[pos].to(deltas.dtype), beta=beta, reduction="sum") / S
    return objectness_loss, box_loss


@torch.no_grad()
def proposals_after_nms(anchors: torch.Tensor, objectness: torch.Tensor, deltas: torch.Tensor, image_size,
                        pre_nms_top_n=1000, post_nms_top_n=1000, iou_threshold=0.7, min_size=1e-3,
                        weights=(1.0, 1.0, 1.0, 1.0)):
    """The RPN's proposals for one image (``ref.proposals_after_nms``): decode, clip, drop small,
    top ``pre_nms_top_n`` by objectness, NMS, first ``post_nms_top_n``
    ->  (boxes (P, 4), scores (P,) = sigmoid(objectness)), best first."""
    check_boxes(anchors, "anchors")
    A = anchors.shape[0]
    _check_tensor(objectness, "objectness", "(A,)")
    v.check_ndim(objectness, 1, "objectness", "(A,)")
    v.check_float(objectness, "objectness")
    if objectness.shape[0] != A:
        raise ValueError(f"objectness must have shape (A,) = ({A},), one logit per anchor, got shape {tuple(objectness.shape)}")
    finite = torch.isfinite(objectness)
    if not bool(finite.all()):
        raise ValueError(f"objectness[{int(torch.nonzero(~finite)[0])}] is not finite")
    H, W = _check_image_size(image_size)
    pre = v.check_positive_int(pre_nms_top_n, "pre_nms_top_n")
    post = v.check_positive_int(post_nms_top_n, "post_nms_top_n")
    t = check_iou_threshold(iou_threshold)
    if isinstance(min_size, bool) or not isinstance(min_size, numbers.Real) or not min_size >= 0:
        raise ValueError(f"min_size must be a number >= 0 (pixels), got {min_size!r}")
    boxes = decode_boxes(anchors, deltas, weights)
    limit = torch.tensor([W, H, W, H], dtype=boxes.dtype, device=boxes.device)
    boxes = torch.minimum(boxes.clamp(min=0), limit)
    keep = torch.nonzero((boxes[:, 2] - boxes[:, 0] >= min_size) & (boxes[:, 3] - boxes[:, 1] >= min_size)).flatten()
    order = torch.sort(objectness[keep].to(torch.float64), descending=True, stable=True).indices[:pre]
    keep = keep[order]
    keep = keep[nms(boxes[keep], objectness[keep], t)][:post]
    return boxes[keep], torch.sigmoid(objectness[keep])
