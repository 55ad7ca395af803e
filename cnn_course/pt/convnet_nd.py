"""Small convolutional classifiers for signals (1-D) and volumes (3-D), for the CPU.

``ConvNetND(dims, in_channels, num_classes, widths, f)``: for each width, a "same" convolution
of size f (along every spatial axis), [batch norm], ReLU and a 2× max pooling; then global
average pooling over the remaining positions and a linear layer to the class scores. Global
pooling makes it work for any input length (or volume size) that survives the poolings.

* ``cnn1d(in_channels, num_classes)``: input (N, C, T), e.g. an ECG or an accelerometer trace.
* ``cnn3d(in_channels, num_classes)``: input (N, C, D, H, W), e.g. patches of an MRI volume.

Parameters of one block: C_in · C_out · f**d + C_out (the filter spans all input channels
and f positions on each of the d axes), so a 3-D block costs f times the weights of a 2-D one.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _validate
from .classic import _check_bool

__all__ = ["ConvNetND", "cnn1d", "cnn3d"]

_LAYERS = {
    1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d),
    2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d),
    3: (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d),
}


class ConvNetND(nn.Module):
    """Conv blocks (conv f, [BN], ReLU, max-pool 2) per width, global average pooling, linear.

    Input (N, in_channels, *S) with d = ``dims`` spatial axes -> logits (N, num_classes).
    """

    def __init__(self, dims: int, in_channels: int, num_classes: int, widths=(16, 32), f: int = 5,
                 batch_norm: bool = True):
        super().__init__()
        if dims not in _LAYERS:
            raise ValueError(f"dims must be 1, 2 or 3, got {dims!r}")
        self.dims = dims
        self.in_channels = _validate.check_positive_int(in_channels, "in_channels")
        self.num_classes = _validate.check_positive_int(num_classes, "num_classes")
        f = _validate.check_positive_int(f, "f")
        if f % 2 == 0:
            raise ValueError(f"f must be odd (a 'same' convolution pads (f - 1) / 2 on each side), got {f}")
        batch_norm = _check_bool(batch_norm, "batch_norm")
        conv, bn, pool = _LAYERS[dims]
        layers, c_in = [], in_channels
        for w in widths:
            w = _validate.check_positive_int(w, "widths[i]")
            layers.append(conv(c_in, w, f, padding=f // 2, bias=not batch_norm))
            if batch_norm:
                layers.append(bn(w))
            layers += [nn.ReLU(inplace=True), pool(2)]
            c_in = w
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layout = {1: "(N, C, T)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}[self.dims]
        _validate.check_ndim(x, self.dims + 2, "x", layout)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"expected {self.in_channels} input channels, got x.shape={tuple(x.shape)}")
        h = self.features(x)
        return self.classifier(h.flatten(2).mean(dim=2))  # global average pooling


def cnn1d(in_channels: int = 1, num_classes: int = 2, widths=(16, 32), f: int = 5, batch_norm: bool = True):
    """1-D classifier for signals (N, in_channels, T)."""
    return ConvNetND(1, in_channels, num_classes, widths, f, batch_norm)


def cnn3d(in_channels: int = 1, num_classes: int = 2, widths=(8, 16), f: int = 3, batch_norm: bool = True):
    """3-D classifier for volumes (N, in_channels, D, H, W)."""
    return ConvNetND(3, in_channels, num_classes, widths, f, batch_norm)
