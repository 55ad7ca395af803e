"""The course's model zoo: import every network from here.

* ``SmallConvNet`` (below): two conv blocks built from the course's own layers, for 8×8 digits.
* ``cnn_course.pt.classic``: ``lenet5``, ``alexnet``, ``vgg_block``, ``vgg``, ``vgg16``,
  ``VGG16_CFG`` (and ``ClassicNet``, the shape-checking ``nn.Sequential`` they return).
* ``cnn_course.pt.resnet``: ``BasicBlock``, ``Bottleneck``, ``ResNet``, ``resnet18``,
  ``resnet34``, ``resnet50`` and the small-image ``cifar_resnet``, ``resnet20``,
  ``resnet32``, ``resnet56``.
* ``cnn_course.pt.mobilenet``: ``depthwise_conv2d``, ``DepthwiseSeparableConv``,
  ``InvertedResidual``, ``mobilenet_v1``, ``mobilenet_v2`` (``MobileNetV1``/``MobileNetV2``;
  width multiplier, ``small_input`` for 28×28), EfficientNet's ``compound_scaling`` and
  ``efficient_mobilenet``, and the pretrained ``load_pretrained_mobilenet_fashion8``
  (``FASHION8_HELD_OUT``, ``fashion8_subset``).
* ``cnn_course.pt.inception``: ``pointwise_conv2d``, ``InceptionModule``, GoogLeNet's
  ``GOOGLENET_CFG``, the 28×28 ``small_googlenet`` (``SmallGoogLeNet``, optional auxiliary
  classifier) and ``googlenet_loss``.

``cnn_course.pt.summary.layer_table(model, input_size)`` prints any of them layer by layer.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _validate
from .classic import VGG16_CFG, ClassicNet, alexnet, lenet5, vgg, vgg16, vgg_block
from .conv import Conv2d
from .inception import GOOGLENET_CFG, InceptionModule, SmallGoogLeNet, googlenet_loss, pointwise_conv2d, small_googlenet
from .mobilenet import (
    FASHION8_HELD_OUT,
    DepthwiseSeparableConv,
    InvertedResidual,
    MobileNetV1,
    MobileNetV2,
    compound_scaling,
    depthwise_conv2d,
    efficient_mobilenet,
    fashion8_subset,
    load_pretrained_mobilenet_fashion8,
    mobilenet_v1,
    mobilenet_v2,
)
from .pool import MaxPool2d
from .resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    cifar_resnet,
    resnet18,
    resnet20,
    resnet32,
    resnet34,
    resnet50,
    resnet56,
)

__all__ = [
    "SmallConvNet",
    "ClassicNet", "VGG16_CFG", "alexnet", "lenet5", "vgg", "vgg16", "vgg_block",
    "BasicBlock", "Bottleneck", "ResNet",
    "cifar_resnet", "resnet18", "resnet20", "resnet32", "resnet34", "resnet50", "resnet56",
    "depthwise_conv2d", "DepthwiseSeparableConv", "InvertedResidual", "MobileNetV1", "MobileNetV2",
    "mobilenet_v1", "mobilenet_v2", "compound_scaling", "efficient_mobilenet",
    "FASHION8_HELD_OUT", "fashion8_subset", "load_pretrained_mobilenet_fashion8",
    "pointwise_conv2d", "InceptionModule", "GOOGLENET_CFG", "SmallGoogLeNet", "small_googlenet", "googlenet_loss",
]


class SmallConvNet(nn.Module):
    """Two conv blocks and a linear classifier, sized for scikit-learn's 8×8 digits.

    With the defaults (in_channels=1, image_size=8, widths=(16, 32), n_classes=10):

    ===========================  ==================  ==========================
    layer                        output shape        parameters
    ===========================  ==================  ==========================
    input                        (N, 1, 8, 8)
    Conv2d(1→16, f=3, pad=1)     (N, 16, 8, 8)       16·1·3·3 + 16   =    160
    ReLU, MaxPool2d(2)           (N, 16, 4, 4)
    Conv2d(16→32, f=3, pad=1)    (N, 32, 4, 4)       32·16·3·3 + 32  =  4,640
    ReLU, MaxPool2d(2)           (N, 32, 2, 2)
    flatten                      (N, 128)
    Linear(128→10)               (N, 10) logits      128·10 + 10     =  1,290
    ===========================  ==================  ==========================
    total                                                               6,090

    ``builtin=True`` swaps in ``nn.Conv2d``/``nn.MaxPool2d`` (same shapes, same parameter
    count, and with the same seed the same initial weights) to compare speed with torch's
    own kernels. ``image_size`` must be divisible by 4 (two poolings by 2).
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, image_size: int = 8,
                 widths: tuple[int, int] = (16, 32), builtin: bool = False):
        super().__init__()
        image_size = _validate.check_positive_int(image_size, "image_size")
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4 (two 2×2 poolings), got {image_size}")
        c1, c2 = (_validate.check_positive_int(c, "widths[i]") for c in widths)
        conv = (lambda i, o: nn.Conv2d(i, o, 3, padding=1)) if builtin else (lambda i, o: Conv2d(i, o, 3, pad=1))
        pool = (lambda: nn.MaxPool2d(2)) if builtin else (lambda: MaxPool2d(2))
        self.features = nn.Sequential(
            conv(in_channels, c1), nn.ReLU(), pool(),
            conv(c1, c2), nn.ReLU(), pool(),
        )
        self.classifier = nn.Linear(c2 * (image_size // 4) ** 2, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, image_size, image_size) -> logits (N, n_classes)."""
        return self.classifier(self.features(x).flatten(1))
