"""Convolution and pooling over any number of spatial axes in PyTorch, the twin of
``cnn_course.ref.convnd``.

The windows are cut with ``Tensor.unfold`` once per spatial axis (strided views, no copies),
then one matrix product applies all filters to all windows. The code does not depend on the
number of axes d: ``conv1d`` and ``conv3d`` are the same function. Autograd gives the backward.

Shapes: x (N, C, *S), w (F, C, *f), b (F,) -> out (N, F, *O), O_a = (S_a + 2 p_a - f_a) // s_a + 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..ref.convnd import _check_conv, _check_pool, convnd_output_shape

__all__ = ["conv1d", "conv3d", "convnd", "convnd_output_shape", "pool1d", "pool3d", "poolnd"]


def _windows(x: torch.Tensor, f, stride) -> torch.Tensor:
    """(N, C, *S) -> (N, C, *O, *f): every window, as a view."""
    for a, (fa, sa) in enumerate(zip(f, stride)):
        x = x.unfold(2 + a, fa, sa)  # appends the window axis at the end
    return x


def convnd(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, stride=1, pad=0) -> torch.Tensor:
    """Convolve x (N, C, *S) with w (F, C, *f) over every spatial axis; stride/pad int or per axis.

    Same numbers as ``F.conv1d`` / ``F.conv2d`` / ``F.conv3d``.
    """
    stride, pad, _ = _check_conv(x, w, b, stride, pad)
    for name, t in (("w", w), ("b", b)):
        if t is not None and (t.dtype != x.dtype or t.device != x.device):
            raise ValueError(f"{name} must have x's dtype and device ({x.dtype}, {x.device}), got {t.dtype}, {t.device}")
    d = x.dim() - 2
    N, C = x.shape[:2]
    n_F, f = w.shape[0], tuple(w.shape[2:])
    # F.pad lists the last axis first
    xp = F.pad(x, [p for p in reversed(pad) for _ in range(2)])
    win = _windows(xp, f, stride)  # (N, C, *O, *f)
    O = tuple(win.shape[2 : 2 + d])
    # (N, *O, C, *f) -> (N, L, K) @ (K, F) -> (N, L, F) -> (N, F, *O)
    order = (0,) + tuple(range(2, 2 + d)) + (1,) + tuple(range(2 + d, 2 + 2 * d))
    cols = win.permute(order).reshape(N, -1, C * w[0, 0].numel())
    out = (cols @ w.reshape(n_F, -1).t()).transpose(1, 2).reshape(N, n_F, *O)
    if b is not None:
        out = out + b.reshape((1, n_F) + (1,) * d)
    return out


def conv1d(x, w, b=None, stride=1, pad=0):
    """1-D convolution: x (N, C, L), w (F, C, f) -> (N, F, L'). Same as ``F.conv1d``."""
    _check_conv(x, w, b, stride, pad, d=1)
    return convnd(x, w, b, stride, pad)


def conv3d(x, w, b=None, stride=1, pad=0):
    """3-D convolution: x (N, C, D, H, W), w (F, C, f, f, f) -> (N, F, D', H', W'). Same as ``F.conv3d``."""
    _check_conv(x, w, b, stride, pad, d=3)
    return convnd(x, w, b, stride, pad)


def poolnd(x: torch.Tensor, f, stride=None, mode: str = "max") -> torch.Tensor:
    """Max or average pooling of x (N, C, *S) over windows f (int or per axis), stride defaulting to f.

    Max takes the first maximum of each window (row-major), so only it gets the gradient, as
    ``F.max_pool3d``.
    """
    f, stride, mode = _check_pool(x, f, stride, mode)
    d = x.dim() - 2
    win = _windows(x, f, stride)
    win = win.reshape(*win.shape[: 2 + d], -1)  # (N, C, *O, prod f), windows in row-major order
    if mode == "average":
        return win.mean(dim=-1)
    return win.gather(-1, win.argmax(dim=-1, keepdim=True)).squeeze(-1)


def pool1d(x, f, stride=None, mode="max"):
    """1-D pooling: x (N, C, L) -> (N, C, L')."""
    _check_pool(x, f, stride, mode, d=1)
    return poolnd(x, f, stride, mode)


def pool3d(x, f, stride=None, mode="max"):
    """3-D pooling: x (N, C, D, H, W) -> (N, C, D', H', W')."""
    _check_pool(x, f, stride, mode, d=3)
    return poolnd(x, f, stride, mode)
