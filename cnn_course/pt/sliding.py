"""The convolutional implementation of sliding windows, in PyTorch.

A classifier for 14×14×3 windows (the network of the classic lecture example):

    x (N, 3, 14, 14) -conv 5×5, 16, ReLU-> (N, 16, 10, 10) -max pool 2-> (N, 16, 5, 5)
      -flatten, FC 400, ReLU-> (N, 400) -FC 400, ReLU-> (N, 400) -FC C-> logits (N, C)  (softmax: probabilities)

``fc_to_conv`` rewrites the three fully connected layers as convolutions with the *same*
weights: FC 400 on the 5×5×16 volume is a 5×5 convolution with 400 filters (filter k is row k
of the FC matrix, reshaped to 16×5×5), and the next two are 1×1 convolutions. On a 14×14 input
the result is a 1×1×C volume: the classifier's output. On a larger image the convolutions slide,
and output position (i, j) is the classifier applied to the 14×14 window whose top-left corner
is (2i, 2j): the stride of the whole network is that of its pooling, 2. A 16×16 image gives
2×2×C, a 28×28 one 8×8×C, with the work that overlapping windows share done once.
``sliding_window_loop`` runs the classifier on every window one at a time, for comparison.

``cnn_course.ref.sliding`` is the NumPy twin.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _validate as v

__all__ = ["WINDOW", "WindowClassifier", "fc_to_conv", "sliding_window_loop"]

#: The classifier's window: 14×14 pixels.
WINDOW = 14


class WindowClassifier(nn.Module):
    """The 14×14×3 classifier: (N, 3, 14, 14) -> logits (N, num_classes) (module docstring)."""

    def __init__(self, num_classes: int = 4, in_channels: int = 3):
        super().__init__()
        num_classes = v.check_positive_int(num_classes, "num_classes")
        in_channels = v.check_positive_int(in_channels, "in_channels")
        self.conv = nn.Conv2d(in_channels, 16, 5)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(16 * 5 * 5, 400)
        self.fc2 = nn.Linear(400, 400)
        self.fc3 = nn.Linear(400, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_ndim(x, 4, "x", "(N, C, 14, 14)")
        if tuple(x.shape[2:]) != (WINDOW, WINDOW):
            raise ValueError(f"the classifier takes 14×14 windows, got x.shape={tuple(x.shape)}: for larger "
                             f"images use fc_to_conv(model) or sliding_window_loop")
        h = self.pool(torch.relu(self.conv(x))).flatten(1)  # (N, 400) in (channel, row, column) order
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(h)))))


def _conv_from_linear(fc: nn.Linear, channels: int, size: int) -> nn.Conv2d:
    """A size×size convolution computing ``fc`` on a (channels, size, size) volume, same weights."""
    conv = nn.Conv2d(channels, fc.out_features, size)
    with torch.no_grad():
        conv.weight.copy_(fc.weight.reshape(fc.out_features, channels, size, size))
        conv.bias.copy_(fc.bias)
    return conv.to(device=fc.weight.device, dtype=fc.weight.dtype)


def fc_to_conv(model: WindowClassifier) -> nn.Sequential:
    """The fully convolutional network with ``model``'s weights (copies, not shared).

    Input (N, 3, H, W), H, W >= 14  ->  logits (N, C, (H-4)//2 - 4, (W-4)//2 - 4): position (i, j)
    is ``model`` on the window x[..., 2i:2i+14, 2j:2j+14].
    """
    if not isinstance(model, WindowClassifier):
        raise ValueError(f"fc_to_conv expects a WindowClassifier, got {type(model).__name__}")
    conv = nn.Conv2d(model.conv.in_channels, 16, 5)
    conv.load_state_dict(model.conv.state_dict())
    return nn.Sequential(
        conv.to(device=model.conv.weight.device, dtype=model.conv.weight.dtype), nn.ReLU(), nn.MaxPool2d(2),
        _conv_from_linear(model.fc1, 16, 5), nn.ReLU(),  # FC 400 = 5×5×16 convolution with 400 filters
        _conv_from_linear(model.fc2, 400, 1), nn.ReLU(),  # FC 400 = 1×1 convolution
        _conv_from_linear(model.fc3, 400, 1),  # FC C = 1×1 convolution
    )


@torch.no_grad()
def sliding_window_loop(model: nn.Module, image: torch.Tensor, window: int = WINDOW, stride: int = 2) -> torch.Tensor:
    """The classifier run on every window, one window at a time (the slow way).

    image: (N, C, H, W), window, stride: pixels  ->  (N, num_classes, (H-window)//stride + 1,
    (W-window)//stride + 1), position (i, j) = model(image[..., i·stride : i·stride + window,
    j·stride : j·stride + window]).
    """
    v.check_ndim(image, 4, "image", "(N, C, H, W)")
    window = v.check_positive_int(window, "window")
    stride = v.check_positive_int(stride, "stride")
    N, C, H, W = image.shape
    if H < window or W < window:
        raise ValueError(f"image ({H}×{W}) is smaller than the window ({window}×{window})")
    rows, cols = (H - window) // stride + 1, (W - window) // stride + 1
    out = None
    for i in range(rows):
        for j in range(cols):
            y = model(image[:, :, i * stride:i * stride + window, j * stride:j * stride + window])
            if out is None:
                out = y.new_zeros(N, y.shape[1], rows, cols)
            out[:, :, i, j] = y
    return out
