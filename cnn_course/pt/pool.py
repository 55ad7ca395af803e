"""2-D pooling in PyTorch, the twin of ``cnn_course.ref.pool``.

Each f×f window (stride s) is cut out with ``Tensor.unfold`` (a strided view, no loops),
then reduced with an argmax or a mean. Autograd provides the backward.

Shapes: x (N, C, H, W) -> out (N, C, H', W'), H' = (H - f) // s + 1, W' = (W - f) // s + 1.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _validate

__all__ = ["pool2d", "MaxPool2d", "AvgPool2d"]

_MODES = ("max", "average")


def pool2d(x: torch.Tensor, f: int, stride: int, mode: str = "max") -> torch.Tensor:
    """Max- or average-pool every channel of ``x`` over f×f windows with the given stride.

    x: (N, C, H, W) -> (N, C, H', W'). ``mode`` is "max" or "average".

    Max pooling: the FIRST maximum of each window (row-major order) is the one selected, so
    it alone receives the gradient when several entries tie -- the same rule as
    ``F.max_pool2d``. Average pooling spreads the gradient evenly over the window.
    """
    f, stride = _validate.check_pool_args(x, f, stride)
    _validate.check_float(x, "x")
    mode = _validate.check_pool_mode(mode, _MODES)
    N, C = x.shape[:2]
    # (N, C, H', W', f, f) -> (N, C, H', W', f*f): one row per window, in row-major order.
    windows = x.unfold(2, f, stride).unfold(3, f, stride)
    H_out, W_out = windows.shape[2:4]
    windows = windows.reshape(N, C, H_out, W_out, f * f)
    if mode == "average":
        return windows.mean(dim=-1)
    # argmax returns the first maximum; gather makes the gradient flow to that entry only.
    # (amax would split the gradient between ties, unlike torch's max pooling.)
    first_max = windows.argmax(dim=-1, keepdim=True)
    return windows.gather(-1, first_max).squeeze(-1)


class _Pool2d(nn.Module):
    mode = "max"

    def __init__(self, f: int, stride: int | None = None):
        super().__init__()
        self.f = _validate.check_positive_int(f, "f")
        self.stride = self.f if stride is None else _validate.check_positive_int(stride, "stride")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pool2d(x, self.f, self.stride, mode=self.mode)

    def extra_repr(self) -> str:
        return f"f={self.f}, stride={self.stride}"


class MaxPool2d(_Pool2d):
    """Max pooling with :func:`pool2d`; ``stride`` defaults to ``f`` (as ``nn.MaxPool2d``).

    Input (N, C, H, W) -> output (N, C, (H-f)//s+1, (W-f)//s+1). No parameters.
    """

    mode = "max"


class AvgPool2d(_Pool2d):
    """Average pooling with :func:`pool2d`; ``stride`` defaults to ``f`` (as ``nn.AvgPool2d``).

    Input (N, C, H, W) -> output (N, C, (H-f)//s+1, (W-f)//s+1). No parameters.
    """

    mode = "average"
