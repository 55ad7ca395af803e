"""Experiments of the Inception notebook: timing a 5×5 convolution against its 1×1 bottleneck,
and the VGG-style network of topic 4 to compare a small Inception network with.

* :func:`time_bottleneck` measures, with torch on the CPU, the forward pass of a "same" f×f
  convolution n_C → n_C_out against a 1×1 convolution n_C → n_C_mid followed by the f×f one
  n_C_mid → n_C_out (the bottleneck), and returns the times next to the multiply counts.
* :func:`topic4_vgg` builds the VGG-style network trained in topic 4 (``VGGNet(((1, 8), (1, 16),
  (2, 32)))`` for 32×32 grey images), layer for layer and in the same order, with PyTorch's
  default initialisation: after the same seed it starts from the same weights as there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from .. import _validate

__all__ = ["BottleneckTiming", "time_bottleneck", "topic4_vgg"]


@dataclass
class BottleneckTiming:
    """Fastest forward times (seconds) of the two layers and their multiply counts.

    ``standard_seconds``: the f×f convolution n_C → n_C_out; ``bottleneck_seconds``: the 1×1
    convolution n_C → n_C_mid then the f×f one n_C_mid → n_C_out; ``*_mults``: multiplications
    for the whole batch (output values × filter weights per value, biases left out).
    """

    standard_seconds: float
    bottleneck_seconds: float
    standard_mults: int
    bottleneck_mults: int
    batch: int
    threads: int
    repeats: int

    @property
    def time_ratio(self) -> float:
        """How many times faster the bottleneck ran (standard ÷ bottleneck)."""
        return self.standard_seconds / self.bottleneck_seconds

    @property
    def mult_ratio(self) -> float:
        """How many times fewer multiplications the bottleneck does."""
        return self.standard_mults / self.bottleneck_mults


def _fastest(fn, x, repeats: int, warmup: int) -> float:
    with torch.no_grad():
        for _ in range(warmup):
            fn(x)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            fn(x)
            best = min(best, time.perf_counter() - start)
    return best


def time_bottleneck(n_H: int = 28, n_W: int = 28, n_C: int = 192, f: int = 5, n_C_out: int = 32,
                    n_C_mid: int = 16, *, batch: int = 1, repeats: int = 20, warmup: int = 3, threads: int = 1,
                    seed: int = 0) -> BottleneckTiming:
    """Time a "same" f×f convolution n_C → n_C_out against the bottleneck n_C → n_C_mid (1×1)
    → n_C_out (f×f), on a random float32 batch of shape (batch, n_C, n_H, n_W).

    What is measured: the forward pass only, without autograd, of torch's ``nn.Conv2d`` layers
    (with their biases; no ReLU) on the CPU, with ``threads`` threads (restored afterwards), as
    the fastest of ``repeats`` timed calls after ``warmup`` untimed ones: the fastest run is the
    one least disturbed by other work on the machine. The times still depend on the machine,
    its load and torch's convolution kernels; the multiply counts do not.
    """
    for value, name in ((n_H, "n_H"), (n_W, "n_W"), (n_C, "n_C"), (f, "f"), (n_C_out, "n_C_out"),
                        (n_C_mid, "n_C_mid"), (batch, "batch"), (repeats, "repeats"), (threads, "threads")):
        _validate.check_positive_int(value, name)
    if f % 2 == 0:
        raise ValueError(f"f must be odd for a 'same' convolution (padding (f - 1) / 2), got {f}")
    warmup = int(warmup)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, n_C, n_H, n_W, generator=generator)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        standard = nn.Conv2d(n_C, n_C_out, f, padding=f // 2)
        bottleneck = nn.Sequential(nn.Conv2d(n_C, n_C_mid, 1), nn.Conv2d(n_C_mid, n_C_out, f, padding=f // 2))
        t_standard = _fastest(standard, x, repeats, warmup)
        t_bottleneck = _fastest(bottleneck, x, repeats, warmup)
    finally:
        torch.set_num_threads(previous)
    positions = batch * n_H * n_W
    return BottleneckTiming(
        standard_seconds=t_standard, bottleneck_seconds=t_bottleneck,
        standard_mults=positions * n_C_out * f * f * n_C,
        bottleneck_mults=positions * (n_C_mid * n_C + n_C_out * f * f * n_C_mid),
        batch=batch, threads=threads, repeats=repeats)


def topic4_vgg(cfg=((1, 8), (1, 16), (2, 32)), in_channels: int = 1, image_size: int = 32, hidden: int = 64,
               num_classes: int = 10) -> nn.Sequential:
    """The VGG-style network of topic 4: for each ``(num_convs, channels)`` of ``cfg``, that many
    3×3 same convolutions with ReLU, then a 2×2 max pooling of stride 2; then flatten, two dense
    layers of ``hidden`` units with ReLU and a dense layer to ``num_classes`` scores.

    Layers are created in that order with PyTorch's default initialisation, as topic 4's
    ``VGGNet`` does, so that the same seed gives the same initial weights. With the defaults:
    52,778 parameters and 1,307,402 multiply-adds for one 32×32 image.
    """
    in_channels = _validate.check_positive_int(in_channels, "in_channels")
    image_size = _validate.check_positive_int(image_size, "image_size")
    if image_size % 2 ** len(cfg):
        raise ValueError(f"image_size must be divisible by 2**{len(cfg)} (each block halves it), got {image_size}")
    layers, channels = [], in_channels
    for num_convs, out_channels in cfg:
        for i in range(num_convs):
            layers += [nn.Conv2d(channels if i == 0 else out_channels, out_channels, 3, padding=1), nn.ReLU()]
            channels = out_channels
        layers.append(nn.MaxPool2d(2, 2))
    side = image_size // 2 ** len(cfg)
    layers += [nn.Flatten(), nn.Linear(channels * side * side, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
               nn.ReLU(), nn.Linear(hidden, num_classes)]
    return nn.Sequential(*layers)
