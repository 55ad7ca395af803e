"""Inverted dropout in PyTorch, the twin of ``cnn_course.ref.dropout``.

``keep_prob`` is the probability of KEEPING a unit (the course's convention);
``torch.nn.Dropout(p)`` takes the probability of DROPPING one, p = 1 - keep_prob. Both scale
the kept units by 1 / keep_prob during training and do nothing in evaluation mode.

    mask = torch.rand(x.shape, generator=generator) < keep_prob     (float32 uniforms)
    out  = x * mask / keep_prob

The uniforms are drawn on the generator's device (then moved to x's), so a CPU generator
gives the same mask for a CPU and a CUDA tensor. Autograd's backward is dout * mask / keep_prob.
"""

from __future__ import annotations

import torch
from torch import nn

from ..ref.dropout import _check_keep_prob

__all__ = ["Dropout", "dropout"]


def _check_generator(generator) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")


def dropout(x: torch.Tensor, keep_prob: float, train: bool = True, generator=None) -> torch.Tensor:
    """Inverted dropout of x (any shape): each entry kept with probability keep_prob, then / keep_prob.

    x: float tensor; keep_prob in (0, 1]; train: False returns x itself (as nn.Dropout in
    eval mode), so does keep_prob == 1 (no random numbers drawn); generator: optional
    ``torch.Generator`` (default: torch's global one on x's device).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"x must have a floating-point dtype, got {x.dtype}")
    keep_prob = _check_keep_prob(keep_prob)
    _check_generator(generator)
    if not train or keep_prob == 1.0:
        return x
    device = x.device if generator is None else generator.device
    u = torch.rand(x.shape, generator=generator, device=device, dtype=torch.float32)
    mask = (u < keep_prob).to(x.device)
    return x * mask / keep_prob


class Dropout(nn.Module):
    """Inverted dropout layer: :func:`dropout` in training mode, the identity in eval mode.

    keep_prob: probability of keeping a unit (``nn.Dropout(p=1 - keep_prob)`` does the same
    in distribution); generator: optional ``torch.Generator`` for reproducible masks.
    Input: any shape -> output: the same shape.
    """

    def __init__(self, keep_prob: float = 0.5, generator=None):
        super().__init__()
        self.keep_prob = _check_keep_prob(keep_prob)
        _check_generator(generator)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.keep_prob, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"keep_prob={self.keep_prob} (p={1 - self.keep_prob:g})"
