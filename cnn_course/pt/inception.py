"""1×1 convolutions and Inception (Lin et al. 2013; Szegedy et al. 2014), with ``torch.nn`` layers.

A 1×1 convolution is a fully connected layer applied across the channels at every pixel:
out[n, :, h, w] = W · x[n, :, h, w] + b with W of shape (F, C). It changes the number of
channels (C → F) and leaves H and W alone, as pooling changes H and W and leaves the channels.

* ``pointwise_conv2d(x, w, b)``: that 1×1 convolution as one matrix product over the channels.
* ``InceptionModule``: four branches side by side, concatenated on the channel axis — 1×1;
  1×1 → 3×3; 1×1 → 5×5; 3×3 max pool (stride 1) → 1×1 — every convolution followed by a
  ReLU (no batch norm, as GoogLeNet), every branch keeping H and W ("same" padding).
* ``GOOGLENET_CFG``: the channel numbers of GoogLeNet's nine modules (Szegedy et al. 2014,
  table 1); ``small_googlenet``: a GoogLeNet-style network for 28×28 images, with an optional
  auxiliary classifier; ``googlenet_loss`` adds the auxiliary loss during training.

The module of the course's cost example, ``InceptionModule(192, 64, 96, 128, 16, 32, 32)``,
maps (N, 192, 28, 28) to (N, 64 + 128 + 32 + 32 = 256, 28, 28) with 163,696 parameters:

===========================  ==================  ===================================
branch                       output channels     parameters (weights + biases)
===========================  ==================  ===================================
``branch1``: 1×1             64                  192·64 + 64 = 12,352
``branch3``: 1×1 → 3×3       96 → 128            18,528 + 96·9·128 + 128 = 129,248
``branch5``: 1×1 → 5×5       16 → 32             3,088 + 16·25·32 + 32 = 15,920
``branch_pool``: pool → 1×1  32                  192·32 + 32 = 6,176
===========================  ==================  ===================================
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate
from .classic import _check_bool

__all__ = ["pointwise_conv2d", "InceptionModule", "GOOGLENET_CFG", "SmallGoogLeNet", "small_googlenet",
           "googlenet_loss"]

#: GoogLeNet's Inception modules (Szegedy et al. 2014, table 1): name -> (in_channels, #1×1,
#: #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj). Outputs 256, 480, 512, 512, 512, 528,
#: 832, 832, 1024 channels; a 3×3/2 max pool follows 3b and 4e.
GOOGLENET_CFG = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


def pointwise_conv2d(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """1×1 convolution as one matrix product over the channels.

    x: (N, C, H, W), w: (F, C, 1, 1), b: (F,) or None  ->  out: (N, F, H, W),
    out[n, :, h, w] = w[:, :, 0, 0] @ x[n, :, h, w] + b. Same as ``F.conv2d(x, w, b)``.
    """
    _validate.check_ndim(x, 4, "x", "(N, C, H, W)")
    _validate.check_ndim(w, 4, "w", "(F, C, 1, 1)")
    N, C, H, W = x.shape
    n_F = w.shape[0]
    if tuple(w.shape[1:]) != (C, 1, 1):
        raise ValueError(f"w must have shape (F, C, 1, 1) = (F, {C}, 1, 1) for x with C={C} channels, "
                         f"got w.shape={tuple(w.shape)}")
    if b is not None and tuple(getattr(b, "shape", ())) != (n_F,):
        raise ValueError(f"b must have shape (F,) = ({n_F},), got {tuple(getattr(b, 'shape', ()))}")
    for name, t in (("x", x), ("w", w), ("b", b)):
        if t is not None:
            _validate.check_float(t, name)
            if t.dtype != x.dtype or t.device != x.device:
                raise ValueError(f"{name} must have x's dtype and device ({x.dtype}, {x.device}), "
                                 f"got {t.dtype}, {t.device}")
    # (F, C) @ (N, C, H·W) -> (N, F, H·W): every pixel's channel vector times the same matrix.
    out = w.reshape(n_F, C) @ x.reshape(N, C, H * W)
    if b is not None:
        out = out + b.reshape(1, n_F, 1)
    return out.reshape(N, n_F, H, W)


def _conv_relu(c_in: int, c_out: int, f: int) -> list[nn.Module]:
    """f×f "same" convolution (pad (f - 1) // 2, with bias) and a ReLU."""
    return [nn.Conv2d(c_in, c_out, f, padding=(f - 1) // 2), nn.ReLU()]


class InceptionModule(nn.Module):
    """GoogLeNet's Inception module: four branches, concatenated on the channel axis (dim 1).

    (N, in_channels, H, W) -> (N, c1 + c3 + c5 + pool_proj, H, W) (``out_channels``).
    Children (each an ``nn.Sequential``, in concatenation order):
    ``branch1`` = 1×1 conv (c1), ReLU;
    ``branch3`` = 1×1 conv (c3_reduce), ReLU, 3×3 conv pad 1 (c3), ReLU;
    ``branch5`` = 1×1 conv (c5_reduce), ReLU, 5×5 conv pad 2 (c5), ReLU;
    ``branch_pool`` = 3×3 max pool, stride 1, pad 1, then 1×1 conv (pool_proj), ReLU.
    Parameters (with biases): in·c1 + in·c3r + 9·c3r·c3 + in·c5r + 25·c5r·c5 + in·pool_proj
    + (c1 + c3r + c3 + c5r + c5 + pool_proj).
    """

    def __init__(self, in_channels: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int,
                 pool_proj: int):
        super().__init__()
        names = ("in_channels", "c1", "c3_reduce", "c3", "c5_reduce", "c5", "pool_proj")
        values = (in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj)
        in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj = (
            _validate.check_positive_int(v, n) for v, n in zip(values, names))
        self.in_channels = in_channels
        self.branch1 = nn.Sequential(*_conv_relu(in_channels, c1, 1))
        self.branch3 = nn.Sequential(*_conv_relu(in_channels, c3_reduce, 1), *_conv_relu(c3_reduce, c3, 3))
        self.branch5 = nn.Sequential(*_conv_relu(in_channels, c5_reduce, 1), *_conv_relu(c5_reduce, c5, 5))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), *_conv_relu(in_channels, pool_proj, 1))
        self.out_channels = c1 + c3 + c5 + pool_proj

    def forward(self, x):
        """x: (N, in_channels, H, W) -> (N, out_channels, H, W)."""
        _check_input(x, self.in_channels, "InceptionModule")
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}"


def _check_input(x, in_channels: int, who: str) -> None:
    _validate.check_ndim(x, 4, "x", f"(N, {in_channels}, H, W)")
    if x.shape[1] != in_channels:
        raise ValueError(f"{who} expects {in_channels} input channels, got x.shape={tuple(x.shape)} "
                         f"(layout (N, C, H, W))")


def _scaled(name: str, in_channels: int, width: float) -> InceptionModule:
    """GoogLeNet's module ``name`` with its branch widths times ``width`` (at least 1), on in_channels."""
    return InceptionModule(in_channels, *(max(1, round(c * width)) for c in GOOGLENET_CFG[name][1:]))


class SmallGoogLeNet(nn.Module):
    """A GoogLeNet for 28×28 images: GoogLeNet's modules 3a, 3b, 4a, 4b at ``width`` × their channels.

    ==================================  ============================  =====================
    layer                               output (width 0.25)           notes
    ==================================  ============================  =====================
    ``stem``: 3×3 conv (192·w), ReLU    (N, 48, 28, 28)               pad 1
    ``pool1``: 2×2 max pool             (N, 48, 14, 14)
    ``inception3a``, ``inception3b``    (N, 64, 14, 14), (N, 120, 14, 14)
    ``pool2``: 2×2 max pool             (N, 120, 7, 7)
    ``inception4a``                     (N, 128, 7, 7)                ``aux`` branches off here
    ``inception4b``                     (N, 128, 7, 7)
    ``avgpool``, ``flatten``            (N, 128)                      global average
    ``dropout`` (0.4), ``fc``           (N, num_classes)              logits
    ==================================  ============================  =====================

    ``aux`` (only with aux=True): 3×3 average pool, stride 2 (7×7 → 3×3), 1×1 conv to 128·w
    channels, ReLU, flatten, linear to num_classes — GoogLeNet's side branch, which feeds a
    gradient into the middle of the network during training and is dropped at test time.
    ``forward`` returns ``(logits, aux_logits)`` in training mode when aux=True, else logits
    (so ``cnn_course.pt.train.fit`` needs aux=False or a model in eval mode; train the aux
    version with ``googlenet_loss``). Inputs of another size work too (global average pool).
    ``layer_table`` runs the model in eval mode, so its rows and total leave ``aux`` out.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, aux: bool = False, width: float = 0.25,
                 dropout: float = 0.4):
        super().__init__()
        num_classes = _validate.check_positive_int(num_classes, "num_classes")
        self.in_channels = _validate.check_positive_int(in_channels, "in_channels")
        self.aux_enabled = _check_bool(aux, "aux")
        if isinstance(width, bool) or not isinstance(width, numbers.Real) or not 0 < width <= 4:
            raise ValueError(f"width must be a number in (0, 4], got {width!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        stem = max(1, round(192 * width))
        self.stem = nn.Sequential(*_conv_relu(in_channels, stem, 3))
        self.pool1 = nn.MaxPool2d(2)
        self.inception3a = _scaled("3a", stem, width)
        self.inception3b = _scaled("3b", self.inception3a.out_channels, width)
        self.pool2 = nn.MaxPool2d(2)
        self.inception4a = _scaled("4a", self.inception3b.out_channels, width)
        if aux:
            mid = max(1, round(128 * width))
            self.aux = nn.Sequential(nn.AvgPool2d(3, stride=2), nn.Conv2d(self.inception4a.out_channels, mid, 1),
                                     nn.ReLU(), nn.Flatten(), nn.Linear(mid * 9, num_classes))
        self.inception4b = _scaled("4b", self.inception4a.out_channels, width)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(float(dropout))
        self.fc = nn.Linear(self.inception4b.out_channels, num_classes)

    def forward(self, x):
        """x: (N, in_channels, H, W) -> logits (N, num_classes), or (logits, aux_logits) when
        training with aux=True (aux needs H, W >= 12, so that 4a's map is at least 3×3)."""
        _check_input(x, self.in_channels, "SmallGoogLeNet")
        x = self.pool1(self.stem(x))
        x = self.pool2(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux_logits = self.aux(x) if self.aux_enabled and self.training else None
        x = self.inception4b(x)
        logits = self.fc(self.dropout(self.flatten(self.avgpool(x))))
        return logits if aux_logits is None else (logits, aux_logits)


def small_googlenet(num_classes: int = 10, in_channels: int = 1, aux: bool = False, width: float = 0.25,
                    dropout: float = 0.4) -> SmallGoogLeNet:
    """A small GoogLeNet for (N, in_channels, 28, 28) images (see ``SmallGoogLeNet``).

    Parameters at 10 classes and 1 input channel: width 0.25: 88,308 (with aux: 95,326),
    9,721,224 multiply-adds per image; width 0.5: 348,542.
    """
    return SmallGoogLeNet(num_classes, in_channels, aux, width, dropout)


def googlenet_loss(outputs, y: torch.Tensor, aux_weight: float = 0.3) -> torch.Tensor:
    """Cross-entropy of the logits, plus ``aux_weight`` × that of the auxiliary logits if present.

    outputs: logits (N, K) or the pair (logits, aux_logits) a training-mode ``SmallGoogLeNet(aux=True)``
    returns; y: (N,) integer labels. GoogLeNet weighted its two side branches by 0.3.
    """
    if isinstance(aux_weight, bool) or not isinstance(aux_weight, numbers.Real) or aux_weight < 0:
        raise ValueError(f"aux_weight must be a non-negative number, got {aux_weight!r}")
    if isinstance(outputs, (tuple, list)):
        if len(outputs) != 2:
            raise ValueError(f"outputs must be logits or the pair (logits, aux_logits), got {len(outputs)} items")
        logits, aux_logits = outputs
        return F.cross_entropy(logits, y) + aux_weight * F.cross_entropy(aux_logits, y)
    return F.cross_entropy(outputs, y)
