"""What are deep ConvNets learning? The image patches that excite a unit the most (Zeiler & Fergus, 2013).

A unit of a convolutional layer is one channel at one position; it sees only its *receptive
field*, a square of the input. For a unit (channel c) of a trained network, run many images,
find the positions where channel c responds the most, and cut out the receptive field of each:
layer 1's units answer to edges and colours in small patches, deeper units to textures and
parts in larger ones.

Receptive fields follow the layers of an ``nn.Sequential`` (Conv2d, MaxPool2d, AvgPool2d and
anything that keeps positions: activations, batch norm, dropout). With pixel i of the input at
coordinate i, a unit at output position y has its field centred at ``start + y·jump`` and
``size`` pixels wide, where per layer (kernel k, stride s, padding p, dilation d, k' = d(k−1)+1):

    size ← size + (k' − 1)·jump,   start ← start + ((k' − 1)/2 − p)·jump,   jump ← jump·s

(starting from size 1, jump 1, start 0). Torch only: this is a tool to look at networks, not a
layer the course implements twice.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import torch
from torch import nn

__all__ = ["Field", "TopPatches", "layer_top_patches", "receptive_field", "top_patches"]

# Layers that keep every position where it is (the receptive field passes through unchanged).
_POINTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
              nn.Hardswish, nn.Hardtanh, nn.BatchNorm2d, nn.Dropout, nn.Dropout2d, nn.Identity, nn.LocalResponseNorm)


class Field(NamedTuple):
    """Receptive field of the units after a layer: ``size`` pixels, centres ``jump`` pixels apart,
    the first one centred at input coordinate ``start`` (pixel i at coordinate i; may be < 0)."""

    size: int
    jump: int
    start: float


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, numbers.Integral) else (int(v[0]), int(v[1]))


def _leaves(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, nn.Sequential):
        return [leaf for child in model for leaf in _leaves(child)]
    return [model]


def receptive_field(model: nn.Module) -> Field:
    """The receptive field of the output units of ``model`` (an ``nn.Sequential`` of layers).

    Square kernels, strides and paddings are required (the field is given by one size); a layer
    that does not keep positions (Linear, Flatten, adaptive pooling, a residual block) raises
    ValueError naming it.
    """
    size, jump, start = 1, 1, 0.0
    for layer in _leaves(model):
        if isinstance(layer, _POINTWISE):
            continue
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s, p = _pair(layer.kernel_size), _pair(layer.stride), _pair(layer.padding)
            d = _pair(getattr(layer, "dilation", 1))
            if len({k[0], k[1]}) + len({s[0], s[1]}) + len({p[0], p[1]}) + len({d[0], d[1]}) != 4:
                raise ValueError(f"{layer} has a non-square kernel, stride, padding or dilation: "
                                 f"its receptive field is a rectangle, which this function does not follow")
            k_eff = d[0] * (k[0] - 1) + 1
            size += (k_eff - 1) * jump
            start += ((k_eff - 1) / 2 - p[0]) * jump
            jump *= s[0]
            continue
        raise ValueError(f"cannot follow the receptive field through {type(layer).__name__}: pass the part of "
                         f"the network before it (an nn.Sequential of Conv2d, pooling and pointwise layers)")
    return Field(size, jump, start)


class TopPatches(NamedTuple):
    """The k strongest responses of one channel, strongest first.

    patches (k, C, size, size): the receptive fields, black where they reach beyond the image;
    values (k,): the activations; image_index (k,) int64; boxes (k, 4) float64 corners
    (x1, y1, x2, y2) of the fields in the image (x2 − x1 = size; may reach outside it).
    """

    patches: torch.Tensor
    values: torch.Tensor
    image_index: torch.Tensor
    boxes: torch.Tensor


def _check_images(images) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.dtype.is_floating_point:
        raise ValueError(f"images must be a float tensor of shape (N, C, H, W), got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    return images


@torch.no_grad()
def _activations(features: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    was_training = features.training
    features.eval()
    device = next((p.device for p in features.parameters()), images.device)
    try:
        out = [features(images[i : i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)]
    finally:
        features.train(was_training)
    acts = torch.cat(out)
    if acts.ndim != 4:
        raise ValueError(f"features must map (N, C, H, W) images to (N, F, h, w) maps, got shape {tuple(acts.shape)}")
    return acts


def _cut(images: torch.Tensor, n: int, x1: int, y1: int, size: int) -> torch.Tensor:
    _, C, H, W = images.shape
    patch = torch.zeros(C, size, size, dtype=images.dtype)
    ix1, iy1, ix2, iy2 = max(x1, 0), max(y1, 0), min(x1 + size, W), min(y1 + size, H)
    if ix2 > ix1 and iy2 > iy1:
        patch[:, iy1 - y1 : iy2 - y1, ix1 - x1 : ix2 - x1] = images[n, :, iy1:iy2, ix1:ix2].cpu()
    return patch


def _top(acts: torch.Tensor, images: torch.Tensor, channel: int, k: int, one_per_image: bool, field: Field):
    a = acts[:, channel]  # (N, h, w)
    N, h, w = a.shape
    flat = a.reshape(N, -1)
    if one_per_image:  # each image's best position, then the best images
        best, pos = flat.max(dim=1)
        order = torch.sort(best, descending=True, stable=True).indices[:k]
        index, pos, values = order, pos[order], best[order]
    else:
        values, idx = torch.sort(flat.reshape(-1), descending=True, stable=True)
        values, idx = values[:k], idx[:k]
        index, pos = idx // (h * w), idx % (h * w)
    ys, xs = pos // w, pos % w
    half = (field.size - 1) / 2
    x1 = torch.round(field.start + xs * field.jump - half).long()  # integral: start - half is a whole number
    y1 = torch.round(field.start + ys * field.jump - half).long()
    patches = [_cut(images, int(n), int(x), int(y), field.size) for n, x, y in zip(index, x1, y1)]
    boxes = torch.stack([x1, y1, x1 + field.size, y1 + field.size], dim=1).double()
    C = images.shape[1]
    patches = torch.stack(patches) if patches else torch.zeros(0, C, field.size, field.size, dtype=images.dtype)
    return TopPatches(patches, values, index.long(), boxes)


def top_patches(features: nn.Module, images: torch.Tensor, channel: int, k: int = 9,
                one_per_image: bool = True, batch_size: int = 256) -> TopPatches:
    """The k image patches that excite channel ``channel`` of ``features``'s output the most.

    features: the network up to the layer to look at (an ``nn.Sequential``; run in eval mode,
    without gradients); images: (N, C, H, W) float; one_per_image: at most one patch per image
    (otherwise neighbouring positions of one image may fill the list) -> ``TopPatches``.
    """
    images = _check_images(images)
    field = receptive_field(features)
    acts = _activations(features, images, int(batch_size))
    if isinstance(channel, bool) or not isinstance(channel, numbers.Integral) or not 0 <= channel < acts.shape[1]:
        raise ValueError(f"channel must be an integer in 0..{acts.shape[1] - 1}, got {channel!r}")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return _top(acts, images, int(channel), int(k), one_per_image, field)


def layer_top_patches(features: nn.Module, images: torch.Tensor, channels=None, k: int = 9,
                      one_per_image: bool = True, batch_size: int = 256) -> dict[int, TopPatches]:
    """``top_patches`` for several channels of one layer at once (the images run through once).

    channels: the channels to look at (default: all) -> {channel: TopPatches}.
    """
    images = _check_images(images)
    field = receptive_field(features)
    acts = _activations(features, images, int(batch_size))
    channels = range(acts.shape[1]) if channels is None else list(channels)
    for c in channels:
        if isinstance(c, bool) or not isinstance(c, numbers.Integral) or not 0 <= c < acts.shape[1]:
            raise ValueError(f"channels must be integers in 0..{acts.shape[1] - 1}, got {c!r}")
    return {int(c): _top(acts, images, int(c), int(k), one_per_image, field) for c in channels}
