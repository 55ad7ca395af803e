"""Transposed 2-D convolution in PyTorch, the twin of ``cnn_course.ref.conv_transpose``.

Written as "matrix product + fold" (col2im): one product scales every filter by every input
value, ``F.fold`` adds the scaled filters onto the output grid at stride steps (summing the
overlaps), and the ``pad`` border is cropped. Autograd differentiates it.

Shapes (NCHW, weights in torch's layout):
    x: (N, C_in, H, W)    w: (C_in, C_out, f, f)    b: (C_out,)    out: (N, C_out, H', W')
    H' = (H - 1)*s - 2p + f + output_padding
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate
from ..ref.conv_transpose import _check_inputs, conv_transpose_output_size

__all__ = ["conv_transpose2d", "ConvTranspose2d", "conv_transpose_output_size"]


def conv_transpose2d(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, stride: int = 1,
                     pad: int = 0, output_padding: int = 0) -> torch.Tensor:
    """Transposed convolution; the same numbers as ``F.conv_transpose2d(x, w, b, stride, pad, output_padding)``.

    x: (N, C_in, H, W), w: (C_in, C_out, f_H, f_W), b: (C_out,) or None -> (N, C_out, H', W').
    """
    stride, pad, op, (N, C_out, Ho, Wo), _ = _check_inputs(x, w, b, stride, pad, output_padding)
    for name, t in (("w", w), ("b", b)):
        if t is not None and (t.dtype != x.dtype or t.device != x.device):
            raise ValueError(f"{name} must have x's dtype and device ({x.dtype}, {x.device}), got {t.dtype}, {t.device}")
    _, C_in, H, W = x.shape
    fH, fW = w.shape[2:]
    # (C_out*fH*fW, C_in) @ (N, C_in, H*W) -> (N, C_out*fH*fW, H*W): input value × filter
    cols = w.reshape(C_in, -1).t() @ x.reshape(N, C_in, H * W)
    Hg, Wg = max((H - 1) * stride + fH, pad + Ho), max((W - 1) * stride + fW, pad + Wo)
    # fold adds each column's f×f block at (i*stride, j*stride); overlaps are summed
    full = F.fold(cols, (Hg, Wg), (fH, fW), stride=stride)
    out = full[:, :, pad : pad + Ho, pad : pad + Wo]
    if b is not None:
        out = out + b.reshape(1, C_out, 1, 1)
    return out


class ConvTranspose2d(nn.Module):
    """Transposed convolution layer using :func:`conv_transpose2d`; a drop-in for ``nn.ConvTranspose2d``.

    Parameters: weight (in_channels, out_channels, f, f), bias (out_channels,). Initialised as
    ``nn.ConvTranspose2d`` (bounds 1/√fan_in with fan_in = out_channels·f·f, torch's rule for
    this layout), so the same seed draws the same numbers.
    """

    def __init__(self, in_channels: int, out_channels: int, f: int, stride: int = 1, pad: int = 0,
                 output_padding: int = 0, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_channels = _validate.check_positive_int(in_channels, "in_channels")
        self.out_channels = _validate.check_positive_int(out_channels, "out_channels")
        self.f = _validate.check_positive_int(f, "f")
        self.stride = _validate.check_positive_int(stride, "stride")
        self.pad = _validate.check_nonneg_int(pad, "pad")
        self.output_padding = _validate.check_nonneg_int(output_padding, "output_padding")
        if self.output_padding >= self.stride:
            raise ValueError(f"output_padding must be smaller than stride, got {output_padding} and {stride}")
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(in_channels, out_channels, f, f, **factory))
        self.bias = nn.Parameter(torch.empty(out_channels, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # torch takes fan_in from dim 1: out_channels·f·f
        if self.bias is not None:
            bound = 1 / math.sqrt(self.out_channels * self.f * self.f)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.pad, self.output_padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, f={self.f}, stride={self.stride}, pad={self.pad}, "
                f"output_padding={self.output_padding}, bias={self.bias is not None}")
