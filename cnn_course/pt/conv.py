"""2-D convolution in PyTorch, the twin of ``cnn_course.ref.conv``.

The convolution is written as "unfold + matrix multiply" (im2col): every f×f patch of the
padded input becomes one column, and one matrix product applies all F filters to all
patches at once. Autograd differentiates it, so no hand-written backward is needed here;
the NumPy reference derives that backward by hand.

Shapes (NCHW, as PyTorch):
    x: (N, C, H, W)    w: (F, C, f, f)    b: (F,)    out: (N, F, H', W')
    H' = (H + 2p - f) // s + 1,   W' = (W + 2p - f) // s + 1
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate

# One source of truth for the size formula: the NumPy reference.
from ..ref.conv import conv_output_size

__all__ = ["zero_pad", "conv_output_size", "conv2d", "Conv2d"]


def zero_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Surround every image with ``pad`` rows/columns of zeros (H and W only).

    x: (N, C, H, W)  ->  (N, C, H + 2*pad, W + 2*pad)
    """
    _validate.check_ndim(x, 4, "x", "(N, C, H, W)")
    pad = _validate.check_nonneg_int(pad, "pad")
    # F.pad lists the last axis first: (W_left, W_right, H_top, H_bottom).
    return F.pad(x, (pad, pad, pad, pad))


def _check_same_kind(x: torch.Tensor, w: torch.Tensor, b) -> None:
    for name, t in (("w", w), ("b", b)):
        if t is None:
            continue
        if t.dtype != x.dtype:
            raise ValueError(f"{name} must have the same dtype as x ({x.dtype}), got {t.dtype}")
        if t.device != x.device:
            raise ValueError(f"{name} must be on the same device as x ({x.device}), got {t.device}")


def conv2d(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, stride: int = 1, pad: int = 0):
    """Cross-correlate ``x`` with the filters ``w`` (what deep learning calls convolution).

    x: (N, C, H, W), w: (F, C, f_H, f_W), b: (F,) or None  ->  out: (N, F, H', W')

    Same result as ``torch.nn.functional.conv2d(x, w, b, stride, pad)``, built from
    ``F.unfold`` and one matrix product; gradients come from autograd.
    """
    stride, pad = _validate.check_conv_args(x, w, b, stride, pad)
    _validate.check_float(x, "x")
    _validate.check_float(w, "w")
    if b is not None:
        _validate.check_float(b, "b")
    _check_same_kind(x, w, b)
    N, C, H, W = x.shape
    n_F, _, fH, fW = w.shape
    H_out = conv_output_size(H, fH, pad, stride)
    W_out = conv_output_size(W, fW, pad, stride)

    # cols: (N, C*fH*fW, H_out*W_out), one column per output position.
    cols = F.unfold(zero_pad(x, pad), (fH, fW), stride=stride)
    # (F, C*fH*fW) @ (N, C*fH*fW, L) -> (N, F, L): every filter dotted with every patch.
    out = w.reshape(n_F, -1) @ cols
    if b is not None:
        out = out + b.reshape(1, n_F, 1)
    return out.reshape(N, n_F, H_out, W_out)


class Conv2d(nn.Module):
    """Convolution layer using :func:`conv2d`; a drop-in for ``nn.Conv2d`` (square filters).

    Parameters: weight (out_channels, in_channels, f, f), bias (out_channels,).
    Input (N, in_channels, H, W) -> output (N, out_channels, H', W').

    Initialised exactly as ``nn.Conv2d``: weight ~ U(-1/√fan_in, 1/√fan_in) (kaiming_uniform
    with a=√5), bias ~ U(-1/√fan_in, 1/√fan_in), fan_in = in_channels·f·f. With the same seed
    it draws the same numbers as ``nn.Conv2d(in_channels, out_channels, f)``.
    """

    def __init__(self, in_channels: int, out_channels: int, f: int, stride: int = 1, pad: int = 0,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_channels = _validate.check_positive_int(in_channels, "in_channels")
        self.out_channels = _validate.check_positive_int(out_channels, "out_channels")
        self.f = _validate.check_positive_int(f, "f")
        self.stride = _validate.check_positive_int(stride, "stride")
        self.pad = _validate.check_nonneg_int(pad, "pad")
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, f, f, **factory))
        self.bias = nn.Parameter(torch.empty(out_channels, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fan_in = self.in_channels * self.f * self.f
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # bound = 1/sqrt(fan_in)
        if self.bias is not None:
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv2d(x, self.weight, self.bias, stride=self.stride, pad=self.pad)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, f={self.f}, stride={self.stride}, "
                f"pad={self.pad}, bias={self.bias is not None}")
