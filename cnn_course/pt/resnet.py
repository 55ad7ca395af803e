"""Residual networks (He, Zhang, Ren & Sun, 2016), written by hand with ``torch.nn`` layers.

A residual block computes a[l+2] = ReLU(z[l+2] + shortcut(a[l])): the shortcut is the
identity when the block keeps the shape, and a 1×1 convolution + batch norm with the block's
stride (a "projection") when it changes the number of channels or the size.

* ``BasicBlock``: 3×3 conv → BN → ReLU → 3×3 conv → BN, (+ shortcut), ReLU.
* ``Bottleneck``: 1×1 conv (reduce to ``mid_channels``) → BN → ReLU → 3×3 conv (the block's
  stride, as in torchvision's "v1.5") → BN → ReLU → 1×1 conv (expand to 4·mid) → BN,
  (+ shortcut), ReLU.

``plain=True`` removes every shortcut, projections included: the same stack of layers
without the additions, for the plain-vs-residual comparison.

=================  ======================  ======================  =============
builder            blocks per stage        input (N, C, H, W)      parameters
=================  ======================  ======================  =============
``resnet18``       Basic 2, 2, 2, 2        (N, 3, 224, 224)        11,689,512
``resnet34``       Basic 3, 4, 6, 3        (N, 3, 224, 224)        21,797,672
``resnet50``       Bottleneck 3, 4, 6, 3   (N, 3, 224, 224)        25,557,032
``resnet20``       Basic 3, 3, 3           (N, 1, 28, 28)/32×32    see ``cifar_resnet``
=================  ======================  ======================  =============

The ImageNet models have torchvision's parameter names and order (``conv1``, ``bn1``,
``layer1.0.conv1``, …, ``layer4.1.downsample.0``, ``downsample.1``, ``fc``), so a torchvision
state dict loads into them; the only extra child is the parameter-free ``flatten``. All
convolutions are bias-free (the batch norm's β is the bias). Initialisation as torchvision:
convolutions Kaiming-normal (fan_out, ReLU gain), batch norm γ = 1 and β = 0, the final
linear layer torch's default. ``zero_init_residual=True`` sets the last batch norm's γ of
every block to 0, so at initialisation each block's residual branch outputs 0 and the block
is the identity (followed by a ReLU, which changes nothing on the non-negative activations
a block receives).
"""

from __future__ import annotations

from torch import nn

from .. import _validate
from .classic import _check_bool

__all__ = [
    "BasicBlock", "Bottleneck", "ResNet",
    "cifar_resnet", "resnet18", "resnet20", "resnet32", "resnet34", "resnet50", "resnet56",
]


def _conv(c_in: int, c_out: int, f: int, stride: int = 1) -> nn.Conv2d:
    """f×f "same" convolution (pad f // 2) without bias: the batch norm after it has β."""
    return nn.Conv2d(c_in, c_out, f, stride=stride, padding=f // 2, bias=False)


def _check_input(x, in_channels: int, who: str) -> None:
    _validate.check_ndim(x, 4, "x", f"(N, {in_channels}, H, W)")
    if x.shape[1] != in_channels:
        raise ValueError(f"{who} expects {in_channels} input channels, got x.shape={tuple(x.shape)} "
                         f"(layout (N, C, H, W))")


class _Block(nn.Module):
    """What both blocks share: the shortcut and the forward pass around the residual branch."""

    def _make_shortcut(self, in_channels: int, out_channels: int, stride: int, plain: bool) -> None:
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.plain = _check_bool(plain, "plain")
        needs_projection = stride != 1 or in_channels != out_channels
        self.downsample = (nn.Sequential(_conv(in_channels, out_channels, 1, stride), nn.BatchNorm2d(out_channels))
                           if needs_projection and not plain else None)

    def forward(self, x):
        """x: (N, in_channels, H, W) -> (N, out_channels, H', W'), H' = (H - 1) // stride + 1."""
        _check_input(x, self.in_channels, type(self).__name__)
        out = self.residual(x)
        if not self.plain:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)

    def last_bn(self) -> nn.BatchNorm2d:
        """The batch norm that ends the residual branch (zeroed by ``zero_init_residual``)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}, plain={self.plain}"


class BasicBlock(_Block):
    """Two 3×3 convolutions with a shortcut: the block of ResNet-18/34 and the CIFAR ResNets.

    (N, in_channels, H, W) -> (N, out_channels, H', W'), H' = (H - 1) // stride + 1.
    Children (torchvision's): ``conv1`` (3×3, stride), ``bn1``, ``relu``, ``conv2`` (3×3),
    ``bn2`` and, when the shape changes (stride ≠ 1 or in_channels ≠ out_channels) and
    ``plain`` is False, ``downsample`` = 1×1 conv (stride) + BN. Parameters:
    9·in·out + 9·out² + 4·out (+ in·out + 2·out with the projection).
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, plain: bool = False):
        super().__init__()
        in_channels = _validate.check_positive_int(in_channels, "in_channels")
        out_channels = _validate.check_positive_int(out_channels, "out_channels")
        stride = _validate.check_positive_int(stride, "stride")
        self.conv1 = _conv(in_channels, out_channels, 3, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = _conv(out_channels, out_channels, 3)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self._make_shortcut(in_channels, out_channels, stride, plain)

    def residual(self, x):
        """The residual branch z[l+2] (before the addition and the last ReLU)."""
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2


class Bottleneck(_Block):
    """1×1 reduce → 3×3 → 1×1 expand (×4) with a shortcut: the block of ResNet-50/101/152.

    (N, in_channels, H, W) -> (N, 4·mid_channels, H', W'), H' = (H - 1) // stride + 1.
    Children (torchvision's): ``conv1`` (1×1, in → mid), ``bn1``, ``conv2`` (3×3, mid → mid,
    the stride), ``bn2``, ``conv3`` (1×1, mid → 4·mid), ``bn3``, ``relu`` and, when the shape
    changes and ``plain`` is False, ``downsample`` = 1×1 conv (stride) + BN. The 1×1
    convolutions make it cheap: in·mid + 9·mid² + 4·mid² weights instead of 2·9·(4·mid)²
    for two 3×3 convolutions at the block's output width.
    """

    expansion = 4

    def __init__(self, in_channels: int, mid_channels: int, stride: int = 1, plain: bool = False):
        super().__init__()
        in_channels = _validate.check_positive_int(in_channels, "in_channels")
        mid_channels = _validate.check_positive_int(mid_channels, "mid_channels")
        stride = _validate.check_positive_int(stride, "stride")
        out_channels = mid_channels * self.expansion
        self.conv1 = _conv(in_channels, mid_channels, 1)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = _conv(mid_channels, mid_channels, 3, stride)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = _conv(mid_channels, out_channels, 1)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self._make_shortcut(in_channels, out_channels, stride, plain)

    def residual(self, x):
        """The residual branch z[l+3] (before the addition and the last ReLU)."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3


class ResNet(nn.Module):
    """A stem, stages of residual blocks, global average pooling and a linear classifier.

    ``block``: ``BasicBlock`` or ``Bottleneck``; ``layers``: blocks per stage; ``widths``:
    each stage's width (a Bottleneck stage outputs 4× that). The first block of every stage
    after the first has stride 2 (halving H and W, with a projection shortcut).
    ``small_input=False``: the ImageNet stem, 7×7/2 conv (64) → BN → ReLU → 3×3/2 max pool
    (224 → 56); ``small_input=True``: the CIFAR stem, one 3×3 conv (widths[0]) → BN → ReLU.
    Children: ``conv1``, ``bn1``, ``relu``, (``maxpool``), ``layer1``…, ``avgpool``,
    ``flatten``, ``fc``. Input (N, in_channels, H, W) -> logits (N, num_classes).
    """

    def __init__(self, block, layers, widths=(64, 128, 256, 512), num_classes: int = 1000,
                 in_channels: int = 3, small_input: bool = False, plain: bool = False,
                 zero_init_residual: bool = False):
        super().__init__()
        if block not in (BasicBlock, Bottleneck):
            raise TypeError(f"block must be BasicBlock or Bottleneck, got {block!r}")
        layers = [_validate.check_positive_int(n, "layers[i]") for n in layers]
        widths = [_validate.check_positive_int(w, "widths[i]") for w in widths]
        if not layers or len(layers) != len(widths):
            raise ValueError(f"layers and widths need one entry per stage, got layers={layers}, widths={widths}")
        num_classes = _validate.check_positive_int(num_classes, "num_classes")
        self.in_channels = _validate.check_positive_int(in_channels, "in_channels")
        small_input = _check_bool(small_input, "small_input")
        plain = _check_bool(plain, "plain")
        if _check_bool(zero_init_residual, "zero_init_residual") and plain:
            raise ValueError("zero_init_residual=True needs shortcuts: in a plain network (plain=True) a block whose "
                             "last batch norm has γ = 0 outputs zeros instead of its input")
        stem = widths[0] if small_input else 64
        self.conv1 = _conv(in_channels, stem, 3) if small_input else _conv(in_channels, stem, 7, stride=2)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU()
        if not small_input:
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        c_in = stem
        for i, (n, width) in enumerate(zip(layers, widths), start=1):
            stage = []
            for j in range(n):
                stage.append(block(c_in, width, stride=2 if (j == 0 and i > 1) else 1, plain=plain))
                c_in = width * block.expansion
            setattr(self, f"layer{i}", nn.Sequential(*stage))
        self.num_stages = len(layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.blocks():
                nn.init.zeros_(m.last_bn().weight)

    def blocks(self) -> list[_Block]:
        """Every residual block, in forward order."""
        return [m for m in self.modules() if isinstance(m, _Block)]

    def forward(self, x):
        """x: (N, in_channels, H, W) -> logits (N, num_classes)."""
        _check_input(x, self.in_channels, "this ResNet")
        x = self.relu(self.bn1(self.conv1(x)))
        if hasattr(self, "maxpool"):
            x = self.maxpool(x)
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(self.flatten(self.avgpool(x)))


def resnet18(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
             plain: bool = False) -> ResNet:
    """ResNet-18 (He et al., 2016) for (N, 3, 224, 224) images: 11,689,512 parameters."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes, in_channels=in_channels,
                  plain=plain, zero_init_residual=zero_init_residual)


def resnet34(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
             plain: bool = False) -> ResNet:
    """ResNet-34 (He et al., 2016) for (N, 3, 224, 224) images: 21,797,672 parameters."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes=num_classes, in_channels=in_channels,
                  plain=plain, zero_init_residual=zero_init_residual)


def resnet50(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
             plain: bool = False) -> ResNet:
    """ResNet-50 (He et al., 2016; stride on the 3×3 as torchvision) for (N, 3, 224, 224): 25,557,032 parameters."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes, in_channels=in_channels,
                  plain=plain, zero_init_residual=zero_init_residual)


def cifar_resnet(depth: int, num_classes: int = 10, in_channels: int = 1, plain: bool = False, width: int = 16,
                 zero_init_residual: bool = False) -> ResNet:
    """The small-image ResNets of He et al. 2016, §4.2 (CIFAR-10), for 28×28 or 32×32 inputs.

    depth = 6n + 2: a 3×3 conv (``width`` channels), three stages of n BasicBlocks with
    width, 2·width, 4·width channels (16/32/64 by default; the second and third stages start
    with stride 2: 32 → 16 → 8, or 28 → 14 → 7), global average pooling and ``fc``.

    Shortcuts: the paper uses option A here (identity with zero-padded extra channels, no
    parameters); this builder uses option B, a 1×1 conv + BN projection where the shape
    changes (the two stage transitions), like the ImageNet models — 2,752 more parameters
    at width 16. Exact counts (10 classes):

    =====  =====================  =====================  ===================================
    depth  option B, 1 channel    option B, 3 channels   plain = option A, 1 / 3 channels
    =====  =====================  =====================  ===================================
    20     272,186                272,474                269,434 / 269,722
    32     466,618                466,906                463,866 / 464,154
    56     855,482                855,770                852,730 / 853,018
    =====  =====================  =====================  ===================================

    (The paper's 0.27 M / 0.46 M / 0.85 M are the option-A counts on 3-channel CIFAR images.)
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), got {depth!r}")
    width = _validate.check_positive_int(width, "width")
    n = (depth - 2) // 6
    return ResNet(BasicBlock, [n, n, n], widths=(width, 2 * width, 4 * width), num_classes=num_classes,
                  in_channels=in_channels, small_input=True, plain=plain, zero_init_residual=zero_init_residual)


def resnet20(num_classes: int = 10, in_channels: int = 1, plain: bool = False, width: int = 16,
             zero_init_residual: bool = False) -> ResNet:
    """ResNet-20 for small images (``cifar_resnet(20, ...)``, 3 blocks per stage): ≈ 0.27 M parameters."""
    return cifar_resnet(20, num_classes, in_channels, plain, width, zero_init_residual)


def resnet32(num_classes: int = 10, in_channels: int = 1, plain: bool = False, width: int = 16,
             zero_init_residual: bool = False) -> ResNet:
    """ResNet-32 for small images (``cifar_resnet(32, ...)``, 5 blocks per stage): ≈ 0.46 M parameters."""
    return cifar_resnet(32, num_classes, in_channels, plain, width, zero_init_residual)


def resnet56(num_classes: int = 10, in_channels: int = 1, plain: bool = False, width: int = 16,
             zero_init_residual: bool = False) -> ResNet:
    """ResNet-56 for small images (``cifar_resnet(56, ...)``, 9 blocks per stage): ≈ 0.85 M parameters."""
    return cifar_resnet(56, num_classes, in_channels, plain, width, zero_init_residual)
