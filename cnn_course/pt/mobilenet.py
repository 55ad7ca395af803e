"""MobileNets (Howard et al. 2017; Sandler et al. 2018) and EfficientNet's compound scaling.

A depthwise-separable convolution replaces one f×f convolution (C → C' channels, f·f·C·C'
weights) by a **depthwise** f×f convolution, one filter per channel (f·f·C weights, channels
never mix), followed by a **pointwise** 1×1 convolution that mixes the channels (C·C'
weights). Its cost relative to the full convolution is 1/C' + 1/f².

* ``depthwise_conv2d(x, w, b, stride, pad)``: the depthwise convolution written as f·f
  shifted, per-channel scaled copies of the input (no ``groups=``); autograd gives the backward.
* ``DepthwiseSeparableConv``: MobileNet-v1's block, dw 3×3 → BN → ReLU → pw 1×1 → BN → ReLU.
* ``InvertedResidual``: MobileNet-v2's block, 1×1 expand (×t) → BN → ReLU6 → dw 3×3 → BN →
  ReLU6 → 1×1 project → BN (linear: no activation), plus the input when the shape is kept.
* ``mobilenet_v1``, ``mobilenet_v2``: the networks, with a width multiplier and a
  ``small_input`` variant for 28×28 images; ``compound_scaling`` and ``efficient_mobilenet``
  scale the small MobileNet-v2 in depth, width and resolution together.
* ``load_pretrained_mobilenet_fashion8``: a small MobileNet-v2 trained on 8 of Fashion-MNIST's
  10 classes (``FASHION8_HELD_OUT`` are left for transfer learning).

==============================================  ==================  ==========
builder                                         input (N, C, H, W)  parameters
==============================================  ==================  ==========
``mobilenet_v1()``                              (N, 3, 224, 224)     4,231,976
``mobilenet_v2()``                              (N, 3, 224, 224)     3,504,872
``mobilenet_v2(8, 0.25, 1, small_input=True)``  (N, 1, 28, 28)         161,816
``efficient_mobilenet(1)`` (10 classes)         (N, 1, 32, 32)         346,194
==============================================  ==================  ==========

``mobilenet_v2`` has torchvision's parameter names and order (``features.0.0``, ``features.1.conv.0.0``,
…, ``features.18.1``, ``classifier.1``), so a torchvision state dict loads into it. Convolutions
are bias-free (batch norm's β is the bias) and initialised as torchvision does: Kaiming-normal
(fan_out), batch norm γ = 1, β = 0, the linear layer N(0, 0.01²) with zero bias.

**Width multiplier** α: every layer's channel count c becomes ``make_divisible(α·c)``, α·c
rounded to the nearest multiple of 8 (never below 8, never more than 10 % down), as torchvision.

**small_input=True** (28×28 Fashion-MNIST): the stem convolution and the last stride-2 stage
get stride 1, so the network shrinks its input 8-fold instead of 32-fold: 28 → 28 → 14 → 7 → 4
(the ImageNet network: 224 → 112 → 56 → 28 → 14 → 7). Keeping the early stride-2 stages keeps
the expensive high-resolution layers few (the stages after the last halving work on 4×4 maps);
for MobileNet-v2 the 1,280-channel head also shrinks with α (torchvision keeps 1,280 for α < 1).

**Pretrained weights.** ``cnn_course/weights/mobilenet_v2_fashion8.pt`` (0.78 MB) holds the
float32 state dict of ``mobilenet_v2(8, FASHION8_WIDTH, 1, small_input=True)`` (161,816
parameters) trained by ``benchmarks/pretrain_mobilenet_fashion8.py`` (6 epochs, 497 s on 2
shared CPU cores) on the 48,000 training images of the 8 classes ``FASHION8_CLASSES`` (labels
renumbered 0..7 in that order; ``fashion8_subset``): 96.64 % on their 8,000 test images.
Held out: **pullover (2) and shirt (6)**, so that learning them from 20 examples each is a
real test: the two look alike (long-sleeved tops) and each resembles a class the network
did learn (coat, T-shirt), so telling them apart takes fine features (collar, buttons,
texture), not a silhouette. Shoes (sandal 5 and ankle boot 9) would make the new task too
easy: logistic regression on the raw pixels of 20 + 20 images already separates them on 94 %
of the test images (pullover vs shirt: 74 %). Measured on pullover vs shirt (20 + 20 training
images, 2,000 test images, a few draws): logistic regression on the frozen network's pooled
features 68 %; with 100 Adam steps, a new head on frozen features 67 %, the last three blocks
and a new head fine-tuned 71 %, the whole network fine-tuned 74 %, the same network trained
from scratch 52 %. So transfer beats training from scratch by far, but the pooled features of
an 8-class network are specialised and no better than raw pixels here (with sandal and ankle
boot held out, a shorter pretraining's features gave 79 % against the pixels' 94 %). Leaving
out two of the hardest classes also makes the 8-class task easier.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import torch
from torch import nn

from .. import _validate
from .classic import _check_bool
from .conv import conv_output_size, zero_pad

__all__ = [
    "depthwise_conv2d", "make_divisible", "DepthwiseSeparableConv", "InvertedResidual",
    "MobileNetV1", "MobileNetV2", "mobilenet_v1", "mobilenet_v2",
    "V1_CFG", "V2_CFG", "compound_scaling", "efficient_mobilenet",
    "FASHION8_HELD_OUT", "FASHION8_CLASSES", "FASHION8_WIDTH", "FASHION8_TEST_ACCURACY",
    "FASHION8_WEIGHTS", "fashion8_subset", "fashion8_model", "load_pretrained_mobilenet_fashion8",
]

#: MobileNet-v1's 13 separable blocks: (output channels, stride); the stem is a 3×3/2 conv to 32.
V1_CFG = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
#: MobileNet-v2's stages (Sandler et al. table 2): (expansion t, channels c, repeats n, first stride s).
V2_CFG = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
          (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


# --------------------------------------------------------------------------- depthwise conv

def depthwise_conv2d(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None,
                     stride: int = 1, pad: int = 0) -> torch.Tensor:
    """Depthwise convolution: channel c of the output sees only channel c of the input.

    x: (N, C, H, W), w: (C, 1, f, f), b: (C,) or None  ->  out: (N, C, H', W'),
    H' = (H + 2·pad - f) // stride + 1. out[n, c] = Σ_ij w[c, 0, i, j] · x_pad[n, c, i + s·h, j + s·w] + b[c].

    Same result as ``F.conv2d(x, w, b, stride, pad, groups=C)``, computed as a sum of f·f
    strided slices of the padded input, each scaled per channel (f·f·C multiplies per output
    position and image); autograd gives the backward.
    """
    _validate.check_ndim(x, 4, "x", "(N, C, H, W)")
    _validate.check_ndim(w, 4, "w", "(C, 1, f, f)")
    C = x.shape[1]
    if w.shape[0] != C or w.shape[1] != 1:
        raise ValueError(f"a depthwise filter bank for x with C={C} channels must have shape ({C}, 1, f, f), "
                         f"got w.shape={tuple(w.shape)} (a full convolution's (F, C, f, f) mixes channels)")
    stride = _validate.check_positive_int(stride, "stride")
    pad = _validate.check_nonneg_int(pad, "pad")
    if b is not None and tuple(getattr(b, "shape", ())) != (C,):
        raise ValueError(f"b must have shape (C,) = ({C},), got {tuple(getattr(b, 'shape', ()))}")
    if w.shape[2] > x.shape[2] + 2 * pad or w.shape[3] > x.shape[3] + 2 * pad:
        raise ValueError(f"filter ({w.shape[2]}x{w.shape[3]}) is larger than the padded input "
                         f"({x.shape[2] + 2 * pad}x{x.shape[3] + 2 * pad}): x.shape={tuple(x.shape)}, pad={pad}")
    for name, t in (("x", x), ("w", w), ("b", b)):
        if t is not None:
            _validate.check_float(t, name)
            if t.dtype != x.dtype or t.device != x.device:
                raise ValueError(f"{name} must have x's dtype and device ({x.dtype}, {x.device}), "
                                 f"got {t.dtype}, {t.device}")
    fH, fW = w.shape[2:]
    H_out = conv_output_size(x.shape[2], fH, pad, stride)
    W_out = conv_output_size(x.shape[3], fW, pad, stride)
    xp = zero_pad(x, pad)
    out = torch.zeros(x.shape[0], C, H_out, W_out, dtype=x.dtype, device=x.device)
    for i in range(fH):
        for j in range(fW):
            window = xp[:, :, i:i + stride * (H_out - 1) + 1:stride, j:j + stride * (W_out - 1) + 1:stride]
            out = out + w[:, 0, i, j].reshape(1, C, 1, 1) * window
    return out if b is None else out + b.reshape(1, C, 1, 1)


# --------------------------------------------------------------------------- blocks

def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``divisor``, at least ``divisor`` and never
    more than 10 % below ``value`` (torchvision's ``_make_divisible``)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def _conv_bn_act(c_in: int, c_out: int, f: int, stride: int = 1, groups: int = 1, act=nn.ReLU6) -> nn.Sequential:
    """f×f conv (same padding, no bias) → BN → activation: torchvision's ``Conv2dNormActivation``."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, f, stride, (f - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out), act())


def _check_input(x, in_channels: int, who: str) -> None:
    _validate.check_ndim(x, 4, "x", f"(N, {in_channels}, H, W)")
    if x.shape[1] != in_channels:
        raise ValueError(f"{who} expects {in_channels} input channels, got x.shape={tuple(x.shape)} "
                         f"(layout (N, C, H, W))")


class DepthwiseSeparableConv(nn.Module):
    """MobileNet-v1's block: depthwise 3×3 (stride) → BN → ReLU → pointwise 1×1 → BN → ReLU.

    (N, in_channels, H, W) -> (N, out_channels, H', W'), H' = (H - 1) // stride + 1.
    Children: ``depthwise`` (Conv2d with groups=in_channels, weight (in, 1, 3, 3)), ``bn1``,
    ``relu1``, ``pointwise`` (weight (out, in, 1, 1)), ``bn2``, ``relu2``; no biases.
    Parameters: 9·in + in·out + 2·in + 2·out (the batch norms' γ and β).
    ReLU as in the paper (TensorFlow's implementation uses ReLU6).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.in_channels = _validate.check_positive_int(in_channels, "in_channels")
        self.out_channels = _validate.check_positive_int(out_channels, "out_channels")
        self.stride = _validate.check_positive_int(stride, "stride")
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU()
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU()

    def forward(self, x):
        """x: (N, in_channels, H, W) -> (N, out_channels, H', W')."""
        _check_input(x, self.in_channels, "DepthwiseSeparableConv")
        x = self.relu1(self.bn1(self.depthwise(x)))
        return self.relu2(self.bn2(self.pointwise(x)))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class InvertedResidual(nn.Module):
    """MobileNet-v2's block: expand → depthwise → linear projection, with a shortcut.

    (N, in_channels, H, W) -> (N, out_channels, H', W'), H' = (H - 1) // stride + 1, hidden
    width m = round(in_channels · expand_ratio). ``conv`` (torchvision's names) is
    ``[conv.0: 1×1 in→m + BN + ReLU6]`` (only when expand_ratio > 1), then 3×3 depthwise m→m
    (stride) + BN + ReLU6, then ``1×1 m→out`` and ``BN`` with **no activation**: a ReLU on the
    narrow projection would zero out half of what the block passes on. ``use_residual`` is
    True iff stride == 1 and in_channels == out_channels; then the input is added.
    Parameters: in·m + 2·m (expansion) + 9·m + 2·m + m·out + 2·out.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int):
        super().__init__()
        self.in_channels = _validate.check_positive_int(in_channels, "in_channels")
        self.out_channels = _validate.check_positive_int(out_channels, "out_channels")
        self.stride = _validate.check_positive_int(stride, "stride")
        self.expand_ratio = _validate.check_positive_int(expand_ratio, "expand_ratio")
        hidden = round(in_channels * expand_ratio)
        layers = [_conv_bn_act(in_channels, hidden, 1)] if expand_ratio != 1 else []
        layers += [_conv_bn_act(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x):
        """x: (N, in_channels, H, W) -> (N, out_channels, H', W')."""
        _check_input(x, self.in_channels, "InvertedResidual")
        out = self.conv(x)
        return x + out if self.use_residual else out

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, stride={self.stride}, "
                f"expand_ratio={self.expand_ratio}, use_residual={self.use_residual}")


# --------------------------------------------------------------------------- networks

def _check_width(width) -> float:
    if isinstance(width, bool) or not isinstance(width, numbers.Real) or not 0 < width <= 10:
        raise ValueError(f"width must be a number in (0, 10], got {width!r}")
    return float(width)


def _check_dropout(p) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
        raise ValueError(f"dropout must be a probability in [0, 1), got {p!r}")
    return float(p)


def _init_weights(model: nn.Module) -> None:
    """torchvision's MobileNet initialisation."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def _small_strides(cfg, small_input: bool):
    """``cfg`` (rows ending in the stride), with the last stride-2 row set to stride 1 if small_input."""
    if not small_input:
        return cfg
    last = max(i for i, row in enumerate(cfg) if row[-1] == 2)
    return [(*row[:-1], 1) if i == last else row for i, row in enumerate(cfg)]


class _MobileNet(nn.Module):
    """``features`` → global average pooling → ``classifier`` (dropout, linear)."""

    def _finish(self, in_channels: int, last_channel: int, num_classes: int, dropout: float) -> None:
        self.in_channels, self.last_channel = in_channels, last_channel
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(nn.Dropout(_check_dropout(dropout)), nn.Linear(last_channel, num_classes))
        _init_weights(self)

    def forward_features(self, x):
        """x: (N, in_channels, H, W) -> the pooled features (N, last_channel) the classifier sees."""
        _check_input(x, self.in_channels, type(self).__name__)
        return self.flatten(self.pool(self.features(x)))

    def forward(self, x):
        """x: (N, in_channels, H, W) -> logits (N, num_classes)."""
        return self.classifier(self.forward_features(x))


class MobileNetV1(_MobileNet):
    """MobileNet-v1: a 3×3 conv (32·α, stride 2) + BN + ReLU, the 13 ``DepthwiseSeparableConv``
    blocks of ``V1_CFG``, global average pooling, dropout and a linear layer (1024·α → classes).
    Children: ``features`` (``features.0`` the stem, ``features.1``…``features.13`` the blocks),
    ``pool``, ``flatten``, ``classifier`` (``classifier.0`` dropout, ``classifier.1`` linear)."""

    def __init__(self, num_classes: int = 1000, width: float = 1.0, in_channels: int = 3,
                 small_input: bool = False, dropout: float = 0.0):
        super().__init__()
        num_classes = _validate.check_positive_int(num_classes, "num_classes")
        in_channels = _validate.check_positive_int(in_channels, "in_channels")
        width = _check_width(width)
        small_input = _check_bool(small_input, "small_input")
        c = make_divisible(32 * width)
        layers = [_conv_bn_act(in_channels, c, 3, 1 if small_input else 2, act=nn.ReLU)]
        for c_out, s in _small_strides(V1_CFG, small_input):
            layers.append(DepthwiseSeparableConv(c, make_divisible(c_out * width), s))
            c = layers[-1].out_channels
        self.features = nn.Sequential(*layers)
        self._finish(in_channels, c, num_classes, dropout)


class MobileNetV2(_MobileNet):
    """MobileNet-v2 in torchvision's layout: ``features.0`` (3×3/2 conv to 32·α + BN + ReLU6),
    ``features.1``…: the ``InvertedResidual`` blocks of ``V2_CFG`` (each stage's first block
    has the stage's stride), the last ``features`` entry a 1×1 conv to ``last_channel`` + BN
    + ReLU6; then global average pooling and ``classifier`` = (dropout, linear).
    ``depth`` multiplies every stage's number of blocks (rounded up), for compound scaling."""

    def __init__(self, num_classes: int = 1000, width: float = 1.0, in_channels: int = 3,
                 small_input: bool = False, dropout: float = 0.2, depth: float = 1.0):
        super().__init__()
        num_classes = _validate.check_positive_int(num_classes, "num_classes")
        in_channels = _validate.check_positive_int(in_channels, "in_channels")
        width = _check_width(width)
        small_input = _check_bool(small_input, "small_input")
        if isinstance(depth, bool) or not isinstance(depth, numbers.Real) or not 0 < depth <= 10:
            raise ValueError(f"depth must be a number in (0, 10], got {depth!r}")
        c = make_divisible(32 * width)
        layers = [_conv_bn_act(in_channels, c, 3, 1 if small_input else 2)]
        for t, c_out, n, s in _small_strides(V2_CFG, small_input):
            c_out = make_divisible(c_out * width)
            for i in range(math.ceil(n * depth)):
                layers.append(InvertedResidual(c, c_out, s if i == 0 else 1, t))
                c = c_out
        last = make_divisible(1280 * (width if small_input else max(1.0, width)))
        layers.append(_conv_bn_act(c, last, 1))
        self.features = nn.Sequential(*layers)
        self._finish(in_channels, last, num_classes, dropout)

    def blocks(self) -> list[InvertedResidual]:
        """The inverted residual blocks, in forward order."""
        return [m for m in self.features if isinstance(m, InvertedResidual)]


def mobilenet_v1(num_classes: int = 1000, width: float = 1.0, in_channels: int = 3,
                 small_input: bool = False) -> MobileNetV1:
    """MobileNet-v1 (Howard et al. 2017): 4,231,976 parameters at the defaults, (N, 3, 224, 224).

    Of these, 1,025,000 are the classifier's and 1,061,888 the last block's; the depthwise
    filters are only 9·(32 + 64 + 128 + 128 + 256 + 256 + 6·512 + 1024) = 44,640 of them.
    ``small_input=True`` takes (N, in_channels, 28, 28) to features (N, 1024·α, 4, 4);
    ``mobilenet_v1(10, 0.25, 1, small_input=True)`` has 215,498 parameters."""
    return MobileNetV1(num_classes, width, in_channels, small_input)


def mobilenet_v2(num_classes: int = 1000, width: float = 1.0, in_channels: int = 3,
                 small_input: bool = False, depth: float = 1.0, dropout: float = 0.2) -> MobileNetV2:
    """MobileNet-v2 (Sandler et al. 2018), torchvision's layout: 3,504,872 parameters at the defaults.

    17 inverted residual blocks (``V2_CFG``), input (N, 3, 224, 224), features (N, 1280, 7, 7).
    ``small_input=True`` takes (N, in_channels, 28, 28) to (N, last_channel, 4, 4) with
    last_channel = make_divisible(1280·width). Counts at 10 classes, 1 channel, small input:
    width 1.0: 2,236,106; 0.5: 590,122; 0.35: 305,482; 0.25: 162,458 (see the tests).
    """
    return MobileNetV2(num_classes, width, in_channels, small_input, dropout, depth)


# --------------------------------------------------------------------------- compound scaling

def compound_scaling(phi: float, alpha: float = 1.2, beta: float = 1.1,
                     gamma: float = 1.15) -> tuple[float, float, float]:
    """EfficientNet's compound scaling (Tan & Le 2019): (depth, width, resolution) multipliers.

    depth = α^φ, width = β^φ, resolution = γ^φ. A network's multiply-adds grow linearly in
    depth and quadratically in width and in resolution, so by (α·β²·γ²)^φ: with the paper's
    α = 1.2, β = 1.1, γ = 1.15, α·β²·γ² = 1.92 ≈ 2, and each step of φ about doubles the cost.
    """
    for name, v in (("phi", phi), ("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number, got {v!r}")
    for name, v in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if v < 1:
            raise ValueError(f"{name} must be >= 1 (a multiplier per step of phi), got {v!r}")
    return float(alpha) ** phi, float(beta) ** phi, float(gamma) ** phi


def efficient_mobilenet(phi: float, num_classes: int = 10, in_channels: int = 1, base_width: float = 0.25,
                        base_resolution: int = 28, alpha: float = 1.2, beta: float = 1.1,
                        gamma: float = 1.15) -> MobileNetV2:
    """The small-input MobileNet-v2 (width ``base_width``) scaled by ``compound_scaling(phi, ...)``.

    Returns ``mobilenet_v2(num_classes, base_width·w, in_channels, small_input=True, depth=d)``
    with attributes ``scaling = (d, w, r)`` and ``resolution = round(base_resolution·r)``: the
    input size to train it at (resize the images, e.g. with ``F.interpolate``; the network
    accepts any size thanks to global average pooling). φ = 0 is the base network.
    """
    d, w, r = compound_scaling(phi, alpha, beta, gamma)
    base_resolution = _validate.check_positive_int(base_resolution, "base_resolution")
    model = mobilenet_v2(num_classes, _check_width(base_width) * w, in_channels, small_input=True, depth=d)
    model.scaling, model.resolution = (d, w, r), round(base_resolution * r)
    return model


# --------------------------------------------------------------------------- pretrained weights

#: Fashion-MNIST classes left out of the pretraining, for transfer learning: pullover and shirt.
FASHION8_HELD_OUT = (2, 6)
#: The original labels of the 8 pretraining classes; the network's output k is class FASHION8_CLASSES[k].
FASHION8_CLASSES = tuple(c for c in range(10) if c not in FASHION8_HELD_OUT)
#: Width multiplier of the pretrained network.
FASHION8_WIDTH = 0.25
#: Accuracy of the shipped weights on the 8,000 test images of the 8 classes (7,731 right; the script's output).
FASHION8_TEST_ACCURACY = 0.9664
FASHION8_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "mobilenet_v2_fashion8.pt"


def fashion8_subset(x, y):
    """The images of the 8 pretraining classes, labels renumbered 0..7 (``FASHION8_CLASSES`` order).

    x: (N, ...) array or tensor, y: (N,) Fashion-MNIST labels 0..9 -> (x8, y8), same types,
    x8 (M, ...) and y8 (M,) int64 with the M images whose label is not held out, in their order.
    """
    if getattr(y, "ndim", None) != 1 or len(x) != len(y):
        raise ValueError(f"fashion8_subset needs x (N, ...) and labels y (N,), got x {tuple(x.shape)}, "
                         f"y {tuple(getattr(y, 'shape', ()))}")
    y_t = torch.as_tensor(y).long()
    lookup = torch.full((10,), -1, dtype=torch.long)
    lookup[list(FASHION8_CLASSES)] = torch.arange(8)
    keep = ~torch.isin(y_t, torch.tensor(FASHION8_HELD_OUT))
    new = lookup[y_t[keep]]
    if isinstance(y, torch.Tensor):
        return x[keep.to(x.device)], new.to(y.device)
    return x[keep.numpy()], new.numpy()


def fashion8_model() -> MobileNetV2:
    """The architecture of the pretrained network (random weights): 8 classes, 1 channel, 28×28."""
    return mobilenet_v2(8, FASHION8_WIDTH, 1, small_input=True)


def load_pretrained_mobilenet_fashion8(device=None, path=None) -> MobileNetV2:
    """``fashion8_model()`` with the shipped weights, in eval mode, on ``device`` (default CPU).

    path: another weights file (default ``FASHION8_WEIGHTS``). Raises FileNotFoundError when
    the file is missing and ValueError when it is not a state dict of this architecture
    (both say how to make it again).
    """
    path = Path(FASHION8_WEIGHTS if path is None else path)
    remedy = "recreate it with `python benchmarks/pretrain_mobilenet_fashion8.py` (about 10 minutes on a CPU)"
    if not path.is_file():
        raise FileNotFoundError(f"pretrained MobileNet-v2 weights not found at {path}; {remedy}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated file, not a torch file, pickled code
        raise ValueError(f"{path} is not a readable torch weights file ({type(err).__name__}: {err}); "
                         f"{remedy}") from err
    model = fashion8_model()
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict; {remedy}")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{path} does not fit mobilenet_v2(8, {FASHION8_WIDTH}, 1, small_input=True): "
                         f"{err}; {remedy}") from err
    return model.to(device if device is not None else "cpu").eval()
