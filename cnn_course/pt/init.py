"""Weight initialisation in PyTorch, the twin of ``cnn_course.ref.init``.

``initialize_(module_or_tensor, method)`` fills weights in place with N(0, std²), std from
``init_std`` (the same formulas as the NumPy reference), and sets biases to zero.
For a weight of shape (n_out, n_in, *kernel): fan_in = n_prev = weight[0].numel()
(n_in·k_H·k_W for a convolution) and fan_out = n = weight[:, 0].numel(), as torch.nn.init.

Relation to ``torch.nn.init`` (same generator -> same numbers):

    "he"      = kaiming_normal_(w, mode="fan_in", nonlinearity="relu")
    "xavier"  = kaiming_normal_(w, mode="fan_in", nonlinearity="linear")   (std 1/sqrt(fan_in))
    "glorot"  = xavier_normal_(w)                                          (std sqrt(2/(fan_in+fan_out)))
    "random"  = normal_(w, 0, scale);   "zeros" = zeros_(w)
"""

from __future__ import annotations

import torch
from torch import nn

from ..ref.init import INIT_METHODS, _check_method, _check_scale, init_std
from .conv import Conv2d

__all__ = ["INIT_METHODS", "init_std", "initialize_"]

_LAYERS = (nn.Linear, nn.modules.conv._ConvNd, Conv2d)


def _fill_(weight: torch.Tensor, method: str, generator, scale: float) -> None:
    if weight.ndim < 2:
        raise ValueError(
            "a weight to initialise must have at least 2 dimensions (n_out, n_in, ...), "
            f"got shape {tuple(weight.shape)}"
        )
    if not weight.dtype.is_floating_point:
        raise TypeError(f"the weight must have a floating-point dtype, got {weight.dtype}")
    with torch.no_grad():
        if method == "zeros":
            weight.zero_()
            return
        std = init_std(weight[0].numel(), weight[:, 0].numel(), method, scale)
        weight.normal_(0.0, std, generator=generator)


def initialize_(module_or_tensor, method, generator=None, scale=0.01):
    """Initialise in place and return the argument.

    module_or_tensor: a weight tensor (n_out, n_in, ...) or an ``nn.Module``: every
    ``nn.Linear``, ``nn.Conv1d/2d/3d`` and ``cnn_course.pt.Conv2d`` inside it (in
    ``module.modules()`` order) gets its weight drawn and its bias zeroed; other layers
    (e.g. batch norm) are left alone. method: one of ``INIT_METHODS``; generator: optional
    ``torch.Generator`` on the weights' device; scale: the std of "random".
    """
    method = _check_method(method)
    scale = _check_scale(scale)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if isinstance(module_or_tensor, torch.Tensor):
        _fill_(module_or_tensor, method, generator, scale)
        return module_or_tensor
    if not isinstance(module_or_tensor, nn.Module):
        raise TypeError(f"initialize_ takes an nn.Module or a weight tensor, got {type(module_or_tensor).__name__}")
    layers = [m for m in module_or_tensor.modules() if isinstance(m, _LAYERS)]
    if not layers:
        raise ValueError(f"found no Linear or Conv layer to initialise in {type(module_or_tensor).__name__}")
    for layer in layers:
        _fill_(layer.weight, method, generator, scale)
        if layer.bias is not None:
            with torch.no_grad():
                layer.bias.zero_()
    return module_or_tensor
