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

import torch
from torch import nn

from .. import _validate as v
from ..ref.rcnn import (
    BBOX_XFORM_CLIP,
    FLT_MAX,
    check_aligned,
    check_output_size,
    check_sampling_ratio,
    check_spatial_scale,
    rois_batch_message,
    rois_order_message,
)

__all__ = [
    "RoIAlign",
    "RoIPool",
    "roi_align",
    "roi_pool",
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
    if features.shape[0] == 0 or features.shape[2] == 0 or features.shape[3] == 0:
        raise ValueError(f"features must hold at least one image of at least 1×1 pixels, got shape {tuple(features.shape)}")


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
