"""The classic convolutional networks, written by hand with ``torch.nn`` layers.

Each builder returns a :class:`ClassicNet`, an ``nn.Sequential`` that checks its input shape
(``model.input_shape`` = (C, H, W)) and whose children carry readable names (``conv1``,
``pool1``, ``fc6``…), so ``print(model)`` and ``layer_table(model, …)`` read like the papers'
tables. The parameter counts below are exact and held by ``tests/test_pt_classic.py``.

==============  ==========================  ==================  ====================
builder         source                      input (N, C, H, W)  parameters (default)
==============  ==========================  ==================  ====================
``lenet5``      LeCun et al., 1998          (N, 1, 32, 32)      61,706
``alexnet``     Krizhevsky et al., 2012     (N, 3, 227, 227)    62,378,344
``vgg16``       Simonyan & Zisserman, 2014  (N, 3, 224, 224)    138,357,544
==============  ==========================  ==================  ====================

Weights live in the convolutions and the linear layers only: activations, pooling, dropout
and flatten have no parameters.
"""

from __future__ import annotations

import numbers
from collections import OrderedDict

from torch import nn

from .. import _validate

__all__ = ["VGG16_CFG", "ClassicNet", "alexnet", "lenet5", "vgg", "vgg16", "vgg_block"]

#: VGG-16's convolutional part ("configuration D"): (number of 3×3 convolutions, channels) per block.
VGG16_CFG = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return value


class ClassicNet(nn.Sequential):
    """An ``nn.Sequential`` that knows its input shape and checks it.

    ``input_shape`` = (C, H, W) of one image; ``arch`` names the network in error messages.
    A slice (``model[:6]``) is a ``ClassicNet`` without a fixed input shape.
    """

    def __init__(self, *args, input_shape=None, arch: str = "this network"):
        super().__init__(*args)
        self.input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
        self.arch = arch

    def forward(self, x):
        """x: (N, *input_shape) -> logits (N, num_classes)."""
        if self.input_shape is not None:
            layout = "(N, {}, {}, {})".format(*self.input_shape)
            _validate.check_ndim(x, 4, "x", layout)
            if tuple(x.shape[1:]) != self.input_shape:
                raise ValueError(f"{self.arch} expects images of shape {layout}, got x.shape={tuple(x.shape)}")
        return super().forward(x)


def lenet5(num_classes: int = 10, modern: bool = False) -> ClassicNet:
    """LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998) for (N, 1, 32, 32) images.

    ========================  ================  ==========================
    layer                     output shape      parameters
    ========================  ================  ==========================
    input                     (N, 1, 32, 32)
    conv1  Conv 5×5, 6        (N, 6, 28, 28)    6·(1·5·5) + 6     =    156
    act1, pool1  avg 2×2/2    (N, 6, 14, 14)
    conv2  Conv 5×5, 16       (N, 16, 10, 10)   16·(6·5·5) + 16   =  2,416
    act2, pool2  avg 2×2/2    (N, 16, 5, 5)
    flatten                   (N, 400)
    fc3  Linear 400→120       (N, 120)          400·120 + 120     = 48,120
    fc4  Linear 120→84        (N, 84)           120·84 + 84       = 10,164
    fc5  Linear 84→classes    (N, 10)           84·10 + 10        =    850
    ========================  ================  ==========================
    total (10 classes)                                              61,706

    The five layers with weights (conv1, conv2, fc3, fc4, fc5) give the network its name.
    Classic (``modern=False``): tanh activations and average pooling. ``modern=True``: ReLU
    and max pooling, the same shapes and parameter count. Differences from the 1998 paper:
    conv2 sees all 6 input maps (the paper's C3 used a sparse connection table, 1,516
    weights instead of 2,416), C5 is written as flatten + Linear (the same numbers on a 5×5
    input), and the output is a plain linear layer instead of RBF units; torch's default
    initialisation.
    """
    num_classes = _validate.check_positive_int(num_classes, "num_classes")
    modern = _check_bool(modern, "modern")
    act = nn.ReLU if modern else nn.Tanh
    pool = (lambda: nn.MaxPool2d(2, 2)) if modern else (lambda: nn.AvgPool2d(2, 2))
    return ClassicNet(OrderedDict([
        ("conv1", nn.Conv2d(1, 6, 5)), ("act1", act()), ("pool1", pool()),
        ("conv2", nn.Conv2d(6, 16, 5)), ("act2", act()), ("pool2", pool()),
        ("flatten", nn.Flatten()),
        ("fc3", nn.Linear(16 * 5 * 5, 120)), ("act3", act()),
        ("fc4", nn.Linear(120, 84)), ("act4", act()),
        ("fc5", nn.Linear(84, num_classes)),
    ]), input_shape=(1, 32, 32), arch="lenet5")


def alexnet(num_classes: int = 1000) -> ClassicNet:
    """AlexNet (Krizhevsky, Sutskever & Hinton, 2012) as one tower, for (N, 3, 227, 227) images.

    =======================================  ===============  =============
    layer                                    output shape     parameters
    =======================================  ===============  =============
    conv1  96 @ 11×11, stride 4              (N, 96, 55, 55)         34,944
    pool1  max 3×3/2                         (N, 96, 27, 27)
    conv2  256 @ 5×5, pad 2                  (N, 256, 27, 27)       614,656
    pool2  max 3×3/2                         (N, 256, 13, 13)
    conv3  384 @ 3×3, pad 1                  (N, 384, 13, 13)       885,120
    conv4  384 @ 3×3, pad 1                  (N, 384, 13, 13)     1,327,488
    conv5  256 @ 3×3, pad 1                  (N, 256, 13, 13)       884,992
    pool5  max 3×3/2, flatten                (N, 9216)
    fc6    Linear 9216→4096, dropout 0.5     (N, 4096)           37,752,832
    fc7    Linear 4096→4096, dropout 0.5     (N, 4096)           16,781,312
    fc8    Linear 4096→classes               (N, 1000)            4,097,000
    =======================================  ===============  =============
    total (1000 classes)                                         62,378,344

    The input is 227×227, not the 224 the paper states: (227 − 11)/4 + 1 = 55 is what makes
    conv1's 55×55 output work. Left out: local response normalisation (no parameters, later
    found to help little) and the split of every layer over two GPUs (which made conv2, conv4
    and conv5 see only half of the previous layer's channels, so the paper's network has
    fewer weights: 60,965,224). ReLU after every convolution and hidden linear layer,
    dropout after fc6 and fc7 as in the paper; torch's default initialisation.
    """
    num_classes = _validate.check_positive_int(num_classes, "num_classes")
    return ClassicNet(OrderedDict([
        ("conv1", nn.Conv2d(3, 96, 11, stride=4)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(3, 2)),
        ("conv2", nn.Conv2d(96, 256, 5, padding=2)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(3, 2)),
        ("conv3", nn.Conv2d(256, 384, 3, padding=1)), ("relu3", nn.ReLU()),
        ("conv4", nn.Conv2d(384, 384, 3, padding=1)), ("relu4", nn.ReLU()),
        ("conv5", nn.Conv2d(384, 256, 3, padding=1)), ("relu5", nn.ReLU()), ("pool5", nn.MaxPool2d(3, 2)),
        ("flatten", nn.Flatten()),
        ("fc6", nn.Linear(256 * 6 * 6, 4096)), ("relu6", nn.ReLU()), ("drop6", nn.Dropout(0.5)),
        ("fc7", nn.Linear(4096, 4096)), ("relu7", nn.ReLU()), ("drop7", nn.Dropout(0.5)),
        ("fc8", nn.Linear(4096, num_classes)),
    ]), input_shape=(3, 227, 227), arch="alexnet")


def vgg_block(num_convs: int, in_channels: int, out_channels: int) -> nn.Sequential:
    """One VGG block: ``num_convs`` × (3×3 "same" convolution → ReLU), then 2×2/2 max pooling.

    (N, in_channels, H, W) -> (N, out_channels, H // 2, W // 2); children ``conv1``,
    ``relu1``, …, ``conv<num_convs>``, ``relu<num_convs>``, ``pool``. Parameters:
    out·(in·9 + 1) for the first convolution and out·(out·9 + 1) for each further one.
    """
    num_convs = _validate.check_positive_int(num_convs, "num_convs")
    in_channels = _validate.check_positive_int(in_channels, "in_channels")
    out_channels = _validate.check_positive_int(out_channels, "out_channels")
    layers = []
    for i in range(1, num_convs + 1):
        layers.append((f"conv{i}", nn.Conv2d(in_channels if i == 1 else out_channels, out_channels, 3, padding=1)))
        layers.append((f"relu{i}", nn.ReLU()))
    layers.append(("pool", nn.MaxPool2d(2, 2)))
    return nn.Sequential(OrderedDict(layers))


def _check_cfg(cfg) -> tuple[tuple[int, int], ...]:
    try:
        blocks = tuple((int(n), int(c)) for n, c in cfg if not isinstance(n, bool) and not isinstance(c, bool)
                       and isinstance(n, numbers.Integral) and isinstance(c, numbers.Integral))
        ok = len(blocks) == len(cfg) and blocks and all(n >= 1 and c >= 1 for n, c in blocks)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            "cfg must be a non-empty sequence of (num_convs, out_channels) pairs of positive integers, "
            f"e.g. VGG16_CFG = {VGG16_CFG}; got {cfg!r}"
        )
    return blocks


def vgg(cfg, num_classes: int = 1000, in_channels: int = 3, width: float = 1.0, image_size: int = 224,
        hidden: int = 4096, dropout: float = 0.5) -> ClassicNet:
    """A VGG network (Simonyan & Zisserman, 2014) for (N, in_channels, image_size, image_size) images.

    ``cfg``: one ``(num_convs, out_channels)`` pair per :func:`vgg_block` (children ``block1``,
    ``block2``, …); each block halves H and W, so ``image_size`` must be divisible by
    2**len(cfg). Channels are multiplied by ``width`` (rounded, at least 1): ``width=0.25``
    gives a narrow network for small images. Then ``flatten``, ``fc1`` (→ hidden), ``relu1``,
    ``drop1``, ``fc2`` (hidden → hidden), ``relu2``, ``drop2``, ``fc3`` (→ num_classes);
    ``dropout`` is the drop probability (0 turns dropout off).

    Initialised like torchvision's VGG: convolutions Kaiming-normal (fan_out, ReLU gain) with
    zero bias, linear layers N(0, 0.01²) with zero bias.
    """
    blocks = _check_cfg(cfg)
    num_classes = _validate.check_positive_int(num_classes, "num_classes")
    in_channels = _validate.check_positive_int(in_channels, "in_channels")
    image_size = _validate.check_positive_int(image_size, "image_size")
    hidden = _validate.check_positive_int(hidden, "hidden")
    if isinstance(width, bool) or not isinstance(width, numbers.Real) or not width > 0:
        raise ValueError(f"width must be a positive number (channel multiplier), got {width!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
    if image_size % 2 ** len(blocks):
        raise ValueError(
            f"image_size must be divisible by 2**{len(blocks)} = {2 ** len(blocks)} "
            f"({len(blocks)} blocks each halve H and W), got {image_size}"
        )
    layers, c_in = [], in_channels
    for i, (num_convs, channels) in enumerate(blocks, start=1):
        c_out = max(1, round(channels * width))
        layers.append((f"block{i}", vgg_block(num_convs, c_in, c_out)))
        c_in = c_out
    side = image_size // 2 ** len(blocks)
    layers += [
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(c_in * side * side, hidden)), ("relu1", nn.ReLU()), ("drop1", nn.Dropout(dropout)),
        ("fc2", nn.Linear(hidden, hidden)), ("relu2", nn.ReLU()), ("drop2", nn.Dropout(dropout)),
        ("fc3", nn.Linear(hidden, num_classes)),
    ]
    model = ClassicNet(OrderedDict(layers), input_shape=(in_channels, image_size, image_size), arch="vgg")
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    return model


def vgg16(num_classes: int = 1000) -> ClassicNet:
    """VGG-16 (Simonyan & Zisserman, 2014, configuration D) for (N, 3, 224, 224) images.

    Thirteen 3×3 "same" convolutions in five blocks (64, 128, 256, 512, 512 channels, each
    block ending in a 2×2/2 max pool: 224 → 112 → 56 → 28 → 14 → 7), then three linear
    layers 25,088 → 4096 → 4096 → 1000. 138,357,544 parameters for 1000 classes, of which
    14,714,688 in the convolutions and 102,764,544 (74 %) in ``fc1`` alone.
    """
    return vgg(VGG16_CFG, num_classes=num_classes)
