"""Layer tables from a layer spec: output shape, parameters and multiply-adds per layer (NumPy side).

A *spec* is a sequence of layer dicts, made with the small constructors below::

    spec = [conv(5, 6, name="conv1"), tanh(name="act1"), pool(2, mode="average", name="pool1"), ...]
    table = spec_table(spec, (1, 1, 32, 32))      # input shape (N, C, H, W)
    print_table(table)

``spec_table`` walks the spec with :func:`cnn_course.ref.conv_output_size` and returns a
:class:`LayerTable`, a list of :class:`Row` (name, kind, output_shape, params, mult_adds)
with the totals. ``cnn_course.pt.summary.layer_table`` measures the same table on a torch
model with torchinfo; the tests hold the two equal, row for row, for every network of the zoo.

Counting conventions (the same on both sides):

* output_shape includes the batch axis N.
* params: the learned numbers. Conv f×f, C_in → C_out: C_out·(f·f·C_in + 1), the +1 being
  the bias when there is one. Linear D → n: n·(D + 1). Batch norm: 2·C (γ and β; the running
  mean and variance are statistics, not parameters). Everything else: 0.
* mult_adds, for the whole batch: every weight of a convolution does one multiply-add per
  output position, and so does its bias (counted as one more multiply-add, as torchinfo
  does), so mult_adds = params · N·H_out·W_out; a linear layer: params · N. Pooling,
  activations, dropout, flatten and the shortcut's addition: 0. Batch norm: 0 (at inference
  it folds into the convolution before it; torchinfo itself would count 2·C per image).

Kinds and the torch layers they stand for (a row's ``kind`` is the torch class name):

===================  ====================  ==================================================
constructor          row kind              output shape from input (N, C, H, W) or (N, D)
===================  ====================  ==================================================
``conv(f, c_out)``   Conv2d                (N, c_out, H', W'), H' = conv_output_size(H, …)
``pool(f)``          MaxPool2d/AvgPool2d   (N, C, H', W')
``global_avg_pool``  AdaptiveAvgPool2d     (N, C, 1, 1)
``bn()``             BatchNorm2d           unchanged
``relu()`` …         ReLU, Tanh, Dropout…  unchanged
``flatten()``        Flatten               (N, C·H·W)
``fc(n)``            Linear                (N, n); needs a flat (N, D) input
``residual(…)``      its layers' rows      body and shortcut must agree, then a ReLU row
===================  ====================  ==================================================
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

from .. import _validate as v
from .conv import conv_output_size
from .pool import MODES as _POOL_MODES

__all__ = [
    "ALEXNET", "LENET5", "VGG16", "VGG16_CFG",
    "LayerTable", "Row",
    "alexnet_spec", "bn", "cifar_resnet_spec", "conv", "dropout", "fc", "flatten", "format_table",
    "global_avg_pool", "lenet5_spec", "pool", "print_table", "relu", "residual", "resnet_spec",
    "spec_table", "tanh", "vgg_spec",
]


class Row(NamedTuple):
    """One layer of a table: name, kind (torch class name), output shape (N, …), params, mult_adds."""

    name: str
    kind: str
    output_shape: tuple
    params: int
    mult_adds: int


class LayerTable(list):
    """A list of :class:`Row` that also knows its totals and prints as a table."""

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self)

    @property
    def total_mult_adds(self) -> int:
        return sum(r.mult_adds for r in self)

    def __str__(self) -> str:
        return format_table(self)

    def _repr_pretty_(self, p, cycle) -> None:  # IPython / Jupyter display
        p.text(str(self))


def _si(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def format_table(rows) -> str:
    """The rows as a plain-text table (fixed-width columns) with a totals line."""
    rows = list(rows)
    head = ("layer", "kind", "output shape", "params", "mult-adds")
    body = [(r.name, r.kind, str(tuple(r.output_shape)), f"{r.params:,}", f"{r.mult_adds:,}") for r in rows]
    total_p, total_m = sum(r.params for r in rows), sum(r.mult_adds for r in rows)
    foot = ("total", "", "", f"{total_p:,}", f"{total_m:,}")
    widths = [max(len(line[i]) for line in [head, *body, foot]) for i in range(5)]

    def fmt(line):
        left = "  ".join(c.ljust(w) for c, w in zip(line[:3], widths[:3]))
        return (left + "  " + "  ".join(c.rjust(w) for c, w in zip(line[3:], widths[3:]))).rstrip()

    rule = "-" * len(fmt(tuple("x" * w for w in widths)))
    lines = [fmt(head), rule, *map(fmt, body), rule, fmt(foot)]
    lines.append(f"{total_p:,} parameters ({_si(total_p)}), {total_m:,} multiply-adds ({_si(total_m)})")
    return "\n".join(lines)


def print_table(rows) -> None:
    """Print :func:`format_table` of the rows."""
    print(format_table(rows))


# ---------------------------------------------------------------------------- the spec format

def _layer(kind: str, name, **fields) -> dict:
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a string or None, got {name!r}")
    return {"kind": kind, "name": name, **fields}


def conv(f: int, c_out: int, stride: int = 1, pad: int = 0, *, bias: bool = True, name: str | None = None) -> dict:
    """A 2-D convolution with ``c_out`` filters of size f×f (row kind Conv2d)."""
    return _layer("conv", name, f=v.check_positive_int(f, "f"), c_out=v.check_positive_int(c_out, "c_out"),
                  stride=v.check_positive_int(stride, "stride"), pad=v.check_nonneg_int(pad, "pad"),
                  bias=bool(bias))


def pool(f: int, stride: int | None = None, pad: int = 0, *, mode: str = "max", name: str | None = None) -> dict:
    """f×f pooling, ``mode`` "max" or "average" as in ``ref.pool`` (stride defaults to f); no parameters."""
    v.check_pool_mode(mode, _POOL_MODES)
    return _layer("pool", name, f=v.check_positive_int(f, "f"),
                  stride=v.check_positive_int(f if stride is None else stride, "stride"),
                  pad=v.check_nonneg_int(pad, "pad"), mode=mode)


def global_avg_pool(*, name: str | None = None) -> dict:
    """Average over all of H×W: (N, C, H, W) -> (N, C, 1, 1) (torch's AdaptiveAvgPool2d(1))."""
    return _layer("gap", name)


def bn(*, name: str | None = None) -> dict:
    """Batch normalisation over the channels: 2·C parameters (γ, β), shape unchanged."""
    return _layer("bn", name)


def relu(*, name: str | None = None) -> dict:
    """ReLU: no parameters, shape unchanged."""
    return _layer("relu", name)


def tanh(*, name: str | None = None) -> dict:
    """tanh: no parameters, shape unchanged."""
    return _layer("tanh", name)


def dropout(*, name: str | None = None) -> dict:
    """Dropout: no parameters, shape unchanged."""
    return _layer("dropout", name)


def flatten(*, name: str | None = None) -> dict:
    """(N, C, H, W) -> (N, C·H·W); no parameters."""
    return _layer("flatten", name)


def fc(n: int, *, bias: bool = True, name: str | None = None) -> dict:
    """A fully connected layer (N, D) -> (N, n): n·(D + 1) parameters with a bias."""
    return _layer("fc", name, n=v.check_positive_int(n, "n"), bias=bool(bias))


def residual(body, shortcut=None, *, plain: bool = False, name: str | None = None) -> dict:
    """A residual block: ReLU(body(x) + shortcut(x)); ``plain=True`` leaves out the addition.

    ``body`` and ``shortcut`` are specs; ``shortcut=None`` (or empty) is the identity. The
    rows are the body's, then the shortcut's, then one ReLU row (named ``relu``) after the
    addition, in the order torch runs them; each row's name is prefixed with ``name + "."``.
    """
    return _layer("residual", name, body=tuple(body), shortcut=tuple(shortcut or ()), plain=bool(plain))


# ---------------------------------------------------------------------------- spec_table

_ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "dropout": "Dropout"}


def _check_input_shape(shape) -> tuple[int, ...]:
    if not isinstance(shape, (tuple, list)) or len(shape) not in (2, 4):
        raise ValueError(f"input_shape must be (N, C, H, W) or (N, D), got {shape!r}")
    return tuple(v.check_positive_int(d, "input_shape[i]") for d in shape)


def _need(shape, ndim: int, layer: str, layout: str) -> None:
    if len(shape) != ndim:
        hint = "; add flatten() before it" if layer.startswith("fc") else ""
        raise ValueError(f"{layer} needs an input of shape {layout}, got {shape}{hint}")


def _one(layer: dict, shape: tuple, name: str) -> Row:
    """The row of one (non-residual) layer given its input shape."""
    kind = layer["kind"]
    if kind == "conv":
        _need(shape, 4, f"conv {name!r}", "(N, C, H, W)")
        N, C, H, W = shape
        f, s, p = layer["f"], layer["stride"], layer["pad"]
        out = (N, layer["c_out"], conv_output_size(H, f, p, s), conv_output_size(W, f, p, s))
        params = layer["c_out"] * (f * f * C + layer["bias"])
        return Row(name, "Conv2d", out, params, params * N * out[2] * out[3])
    if kind == "pool":
        _need(shape, 4, f"pool {name!r}", "(N, C, H, W)")
        N, C, H, W = shape
        f, s, p = layer["f"], layer["stride"], layer["pad"]
        out = (N, C, conv_output_size(H, f, p, s), conv_output_size(W, f, p, s))
        return Row(name, "MaxPool2d" if layer["mode"] == "max" else "AvgPool2d", out, 0, 0)
    if kind == "gap":
        _need(shape, 4, f"global_avg_pool {name!r}", "(N, C, H, W)")
        return Row(name, "AdaptiveAvgPool2d", shape[:2] + (1, 1), 0, 0)
    if kind == "bn":
        _need(shape, 4, f"bn {name!r}", "(N, C, H, W)")
        return Row(name, "BatchNorm2d", shape, 2 * shape[1], 0)
    if kind in _ACTIVATIONS:
        return Row(name, _ACTIVATIONS[kind], shape, 0, 0)
    if kind == "flatten":
        d = 1
        for n in shape[1:]:
            d *= n
        return Row(name, "Flatten", (shape[0], d), 0, 0)
    if kind == "fc":
        _need(shape, 2, f"fc {name!r}", "(N, D)")
        params = layer["n"] * (shape[1] + layer["bias"])
        return Row(name, "Linear", (shape[0], layer["n"]), params, params * shape[0])
    raise ValueError(f"unknown layer kind {kind!r} in layer {name!r}; use the constructors conv, pool, "
                     "global_avg_pool, bn, relu, tanh, dropout, flatten, fc, residual")


def _walk(spec, shape: tuple, prefix: str, rows: list) -> tuple:
    if isinstance(spec, (str, bytes, dict)) or not hasattr(spec, "__iter__"):
        raise TypeError("a spec must be a list of layer dicts (from conv(), pool(), fc(), ...), "
                        f"got {type(spec).__name__}")
    for i, layer in enumerate(spec):
        if not isinstance(layer, dict) or "kind" not in layer:
            raise TypeError(f"spec item {prefix}{i} must be a layer dict made by conv(), pool(), fc(), ...; "
                            f"got {layer!r}")
        name = prefix + (layer.get("name") or str(i))
        if layer["kind"] != "residual":
            rows.append(_one(layer, shape, name))
            shape = rows[-1].output_shape
            continue
        out = _walk(layer["body"], shape, name + ".", rows)
        side = _walk(layer["shortcut"], shape, name + ".", rows) if layer["shortcut"] else shape
        if not layer["plain"] and side != out:
            raise ValueError(f"residual block {name!r}: the body gives {out} but the shortcut gives {side}; "
                             "they must agree to be added (use a 1×1 conv + bn projection with the block's stride)")
        rows.append(Row(name + ".relu", "ReLU", out, 0, 0))
        shape = out
    return shape


def spec_table(spec, input_shape) -> LayerTable:
    """Per-layer output shape, parameters and multiply-adds of ``spec`` on ``input_shape``.

    spec: a list of layer dicts (see the module docstring); input_shape: (N, C, H, W) (or
    (N, D) for a fully connected network). Returns a :class:`LayerTable` of :class:`Row`,
    one row per layer (a residual block gives its layers' rows and a ReLU row), with
    ``total_params`` and ``total_mult_adds``. Unnamed layers are named by their index.
    """
    rows = LayerTable()
    _walk(spec, _check_input_shape(input_shape), "", rows)
    return rows


# ---------------------------------------------------------------------------- the zoo's specs

#: VGG-16's convolutional part: (number of 3×3 convolutions, channels) per block.
VGG16_CFG = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def lenet5_spec(num_classes: int = 10, modern: bool = False) -> list[dict]:
    """LeNet-5 (input (N, 1, 32, 32)), as ``cnn_course.pt.models.lenet5``: 61,706 parameters."""
    act = relu if modern else tanh
    mode = "max" if modern else "average"
    return [
        conv(5, 6, name="conv1"), act(name="act1"), pool(2, mode=mode, name="pool1"),
        conv(5, 16, name="conv2"), act(name="act2"), pool(2, mode=mode, name="pool2"),
        flatten(name="flatten"),
        fc(120, name="fc3"), act(name="act3"), fc(84, name="fc4"), act(name="act4"),
        fc(num_classes, name="fc5"),
    ]


def alexnet_spec(num_classes: int = 1000) -> list[dict]:
    """Single-tower AlexNet (input (N, 3, 227, 227)), as ``pt.models.alexnet``: 62,378,344 parameters."""
    return [
        conv(11, 96, stride=4, name="conv1"), relu(name="relu1"), pool(3, 2, name="pool1"),
        conv(5, 256, pad=2, name="conv2"), relu(name="relu2"), pool(3, 2, name="pool2"),
        conv(3, 384, pad=1, name="conv3"), relu(name="relu3"),
        conv(3, 384, pad=1, name="conv4"), relu(name="relu4"),
        conv(3, 256, pad=1, name="conv5"), relu(name="relu5"), pool(3, 2, name="pool5"),
        flatten(name="flatten"),
        fc(4096, name="fc6"), relu(name="relu6"), dropout(name="drop6"),
        fc(4096, name="fc7"), relu(name="relu7"), dropout(name="drop7"),
        fc(num_classes, name="fc8"),
    ]


def vgg_spec(cfg=VGG16_CFG, num_classes: int = 1000, width: float = 1.0, hidden: int = 4096) -> list[dict]:
    """A VGG network as ``pt.models.vgg`` (input (N, C, H, W), H and W divisible by 2**len(cfg)).

    Block i's layers are named ``block<i>.conv<j>``, ``block<i>.relu<j>``, ``block<i>.pool``.
    """
    spec = []
    for i, (num_convs, channels) in enumerate(cfg, start=1):
        c = max(1, round(channels * width))
        for j in range(1, num_convs + 1):
            spec += [conv(3, c, pad=1, name=f"block{i}.conv{j}"), relu(name=f"block{i}.relu{j}")]
        spec.append(pool(2, name=f"block{i}.pool"))
    return spec + [
        flatten(name="flatten"),
        fc(hidden, name="fc1"), relu(name="relu1"), dropout(name="drop1"),
        fc(hidden, name="fc2"), relu(name="relu2"), dropout(name="drop2"),
        fc(num_classes, name="fc3"),
    ]


def _basic(c_in: int, c_out: int, stride: int, plain: bool, name: str) -> dict:
    body = [conv(3, c_out, stride, 1, bias=False, name="conv1"), bn(name="bn1"), relu(name="relu"),
            conv(3, c_out, 1, 1, bias=False, name="conv2"), bn(name="bn2")]
    return _block(body, c_in, c_out, stride, plain, name)


def _bottleneck(c_in: int, mid: int, stride: int, plain: bool, name: str) -> dict:
    body = [conv(1, mid, bias=False, name="conv1"), bn(name="bn1"), relu(name="relu"),
            conv(3, mid, stride, 1, bias=False, name="conv2"), bn(name="bn2"), relu(name="relu"),
            conv(1, 4 * mid, bias=False, name="conv3"), bn(name="bn3")]
    return _block(body, c_in, 4 * mid, stride, plain, name)


def _block(body, c_in: int, c_out: int, stride: int, plain: bool, name: str) -> dict:
    shortcut = None
    if not plain and (stride != 1 or c_in != c_out):
        shortcut = [conv(1, c_out, stride, bias=False, name="downsample.0"), bn(name="downsample.1")]
    return residual(body, shortcut, plain=plain, name=name)


def _stages(block, layers, widths, c_in: int, plain: bool, expansion: int) -> list[dict]:
    spec = []
    for i, (n, width) in enumerate(zip(layers, widths), start=1):
        for j in range(n):
            spec.append(block(c_in, width, 2 if (j == 0 and i > 1) else 1, plain, f"layer{i}.{j}"))
            c_in = width * expansion
    return spec


_RESNETS = {18: ("basic", [2, 2, 2, 2]), 34: ("basic", [3, 4, 6, 3]), 50: ("bottleneck", [3, 4, 6, 3])}


def resnet_spec(depth: int, num_classes: int = 1000, plain: bool = False) -> list[dict]:
    """ResNet-18/34/50 (input (N, C, 224, 224)) as ``pt.models.resnet18/34/50``, torchvision's names."""
    if depth not in _RESNETS or isinstance(depth, bool):
        raise ValueError(f"depth must be one of {sorted(_RESNETS)}, got {depth!r} (small images: cifar_resnet_spec)")
    kind, layers = _RESNETS[depth]
    block, expansion = (_basic, 1) if kind == "basic" else (_bottleneck, 4)
    stem = [conv(7, 64, 2, 3, bias=False, name="conv1"), bn(name="bn1"), relu(name="relu"),
            pool(3, 2, 1, name="maxpool")]
    head = [global_avg_pool(name="avgpool"), flatten(name="flatten"), fc(num_classes, name="fc")]
    return stem + _stages(block, layers, (64, 128, 256, 512), 64, plain, expansion) + head


def cifar_resnet_spec(depth: int, num_classes: int = 10, plain: bool = False, width: int = 16) -> list[dict]:
    """The small-image ResNet of depth 6n + 2 (input (N, C, 28 or 32, same)) as ``pt.models.cifar_resnet``."""
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), got {depth!r}")
    width = v.check_positive_int(width, "width")
    n = (depth - 2) // 6
    stem = [conv(3, width, 1, 1, bias=False, name="conv1"), bn(name="bn1"), relu(name="relu")]
    head = [global_avg_pool(name="avgpool"), flatten(name="flatten"), fc(num_classes, name="fc")]
    return stem + _stages(_basic, [n] * 3, (width, 2 * width, 4 * width), width, plain, 1) + head


#: The specs of the classic networks with their default number of classes (see the ``*_spec`` functions).
LENET5 = tuple(lenet5_spec())
ALEXNET = tuple(alexnet_spec())
VGG16 = tuple(vgg_spec())
