"""U-Net (Ronneberger, Fischer & Brox, 2015) for semantic segmentation, in 2-D and 3-D.

The network first contracts (two 3×3 convolutions + ReLU, then a 2×2 max pooling, ``depth``
times, doubling the channels each time), then expands back: each ``UpBlock`` doubles the size
with a 2×2 transposed convolution of stride 2 (halving the channels), concatenates the
encoder's feature map of that size (the skip connection: it carries the fine, high-resolution
detail the coarse path has lost) and applies two 3×3 convolutions + ReLU. A final 1×1
convolution gives ``num_classes`` scores per pixel.

Differences from the paper: the 3×3 convolutions are "same" (padding 1), so the output has the
input's size and no skip needs cropping (the paper's unpadded convolutions shrank every map,
so it cropped the skips: ``crop_or_pad`` does either); optional batch normalisation after
every 3×3 convolution (``batch_norm=True``); ``skips=False`` removes the concatenations (the
up-block's first convolution then reads only the up-sampled map) for the with/without-skips
experiment.

Shapes, ``unet(1, 2)`` (base 64, depth 4), input (N, 1, H, W) with H, W divisible by 16:

    encoder  (N, 64, H, W) -> (N, 128, H/2, W/2) -> ... -> bottom (N, 1024, H/16, W/16)
    decoder  (N, 512, H/8, W/8) -> ... -> (N, 64, H, W) -> 1×1 conv -> (N, 2, H, W)

and 31,030,658 parameters. Inputs whose size is not a multiple of 2**depth are zero-padded at
the bottom/right to the next multiple and the output is cropped back: the output always has
the input's size. ``dims=3`` (or ``unet3d``) builds the same network from 3-D layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate
from .classic import _check_bool

__all__ = ["DoubleConv", "UNet", "UpBlock", "crop_or_pad", "unet", "unet3d"]

_LAYERS = {
    2: (nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d, nn.BatchNorm2d),
    3: (nn.Conv3d, nn.ConvTranspose3d, nn.MaxPool3d, nn.BatchNorm3d),
}


def _layers(dims):
    if dims not in _LAYERS:
        raise ValueError(f"dims must be 2 or 3 (spatial axes), got {dims!r}")
    return _LAYERS[dims]


def crop_or_pad(skip: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``skip`` (N, C, *S) centre-cropped or zero-padded on its spatial axes to the size of ``like``.

    Works for any number of spatial axes; only the spatial sizes of ``like`` matter. An odd
    difference puts the extra row at the end (bottom / right), on both the crop and the pad.
    """
    if skip.dim() < 3 or like.dim() != skip.dim():
        raise ValueError(f"skip and like must both be (N, C, *spatial) with the same number of axes, got "
                         f"skip {tuple(skip.shape)} and like {tuple(like.shape)}")
    for a in range(2, skip.dim()):
        have, want = skip.shape[a], like.shape[a]
        if have > want:  # crop: drop (have - want) // 2 at the start, the rest at the end
            skip = skip.narrow(a, (have - want) // 2, want)
        elif have < want:
            before = (want - have) // 2
            pad = [0, 0] * (skip.dim() - 1 - a) + [before, want - have - before]  # F.pad: last axis first
            skip = F.pad(skip, pad)
    return skip


class DoubleConv(nn.Sequential):
    """Two "same" 3×3 convolutions, each followed by [batch norm and] ReLU: (N, C_in, *S) -> (N, C_out, *S)."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = False, dims: int = 2):
        conv, _, _, bn = _layers(dims)
        layers = []
        for c_in in (in_channels, out_channels):
            layers.append(conv(c_in, out_channels, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(bn(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class UpBlock(nn.Module):
    """One step of the expanding path.

    x (N, in_channels, *S) --2×2 transposed conv, stride 2--> (N, out_channels, *2S)
    --concatenate [skip, up] on the channel axis (dim 1)--> (N, skip_channels + out_channels, *2S)
    --two 3×3 convs + ReLU--> (N, out_channels, *2S).

    ``skip_channels`` defaults to ``out_channels`` (the U-Net's case); the skip is cropped or
    padded to the up-sampled map's size first. ``skip=False``: no concatenation.
    """

    def __init__(self, in_channels: int, out_channels: int, skip_channels: int | None = None,
                 batch_norm: bool = False, skip: bool = True, dims: int = 2):
        super().__init__()
        _, conv_t, _, _ = _layers(dims)
        self.in_channels = _validate.check_positive_int(in_channels, "in_channels")
        self.out_channels = _validate.check_positive_int(out_channels, "out_channels")
        self.skip_channels = out_channels if skip_channels is None else _validate.check_positive_int(
            skip_channels, "skip_channels")
        self.skip = _check_bool(skip, "skip")
        self.up = conv_t(in_channels, out_channels, 2, stride=2)
        self.conv = DoubleConv(out_channels + (self.skip_channels if self.skip else 0), out_channels,
                               _check_bool(batch_norm, "batch_norm"), dims)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if x.dim() < 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"UpBlock expects x (N, {self.in_channels}, *spatial), got {tuple(x.shape)}")
        x = self.up(x)
        if self.skip:
            if skip is None or skip.dim() != x.dim() or skip.shape[1] != self.skip_channels:
                got = None if skip is None else tuple(skip.shape)
                raise ValueError(f"UpBlock expects a skip (N, {self.skip_channels}, *spatial) from the encoder, "
                                 f"got {got}")
            x = torch.cat([crop_or_pad(skip, x), x], dim=1)
        return self.conv(x)


class UNet(nn.Module):
    """The U-Net: ``depth`` poolings down, ``depth`` UpBlocks back up, a 1×1 convolution to scores.

    Input (N, in_channels, *S) -> scores (N, num_classes, *S) (logits: apply softmax / argmax
    over dim 1). Level i of the encoder has base·2**i channels (i = 0 .. depth).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, base: int = 64, depth: int = 4,
                 batch_norm: bool = False, skips: bool = True, dims: int = 2):
        super().__init__()
        _, _, pool, _ = _layers(dims)
        self.in_channels = _validate.check_positive_int(in_channels, "in_channels")
        self.num_classes = _validate.check_positive_int(num_classes, "num_classes")
        self.base = _validate.check_positive_int(base, "base")
        self.depth = _validate.check_positive_int(depth, "depth")
        self.skips = _check_bool(skips, "skips")
        self.dims = dims
        batch_norm = _check_bool(batch_norm, "batch_norm")
        widths = [base * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([DoubleConv(in_channels, widths[0], batch_norm, dims)]
                                  + [DoubleConv(widths[i], widths[i + 1], batch_norm, dims) for i in range(depth)])
        self.pool = pool(2)
        self.up = nn.ModuleList([UpBlock(widths[i + 1], widths[i], batch_norm=batch_norm, skip=skips, dims=dims)
                                 for i in reversed(range(depth))])
        self.head = _layers(dims)[0](widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layout = "(N, C, " + ", ".join("DHW"[-self.dims:]) + ")"
        _validate.check_ndim(x, self.dims + 2, "x", layout)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"UNet expects {self.in_channels} input channels, got x.shape={tuple(x.shape)}")
        size = x.shape[2:]
        m = 2**self.depth
        extra = [(-s) % m for s in size]
        if any(extra):  # pad to a multiple of 2**depth (bottom/right), crop back at the end
            x = F.pad(x, [p for e in reversed(extra) for p in (0, e)])
        feats = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            feats.append(x)
        x = feats.pop()  # the bottom of the U
        for block in self.up:
            x = block(x, feats.pop())
        out = self.head(x)
        return out[(..., *(slice(0, s) for s in size))]


def unet(in_channels: int = 1, num_classes: int = 2, base: int = 64, depth: int = 4,
         batch_norm: bool = False, skips: bool = True) -> UNet:
    """2-D U-Net; ``unet(1, 2)`` is the paper's configuration (with same padding): 31,030,658 parameters.

    For the CPU, e.g. ``unet(1, 2, base=8, depth=3)`` (about 0.12 M parameters).
    """
    return UNet(in_channels, num_classes, base, depth, batch_norm, skips, dims=2)


def unet3d(in_channels: int = 1, num_classes: int = 2, base: int = 8, depth: int = 2,
           batch_norm: bool = False, skips: bool = True) -> UNet:
    """3-D U-Net (Çiçek et al., 2016, with same padding): the same network on volumes (N, C, D, H, W)."""
    return UNet(in_channels, num_classes, base, depth, batch_norm, skips, dims=3)
