"""Checks for the topic-4 notebook (classic networks): the module its test cells import as ``check``.

A network is described by a *layer spec*: a list of tuples, one per layer, on inputs of one
example of shape ``(n_C, n_H, n_W)`` (a volume) or ``(n,)`` (a vector)::

    ("conv", n_C, f, stride, pad)    f×f convolution with n_C filters (one bias each)
    ("maxpool", f, stride)           max pooling, no padding
    ("avgpool", f, stride)           average pooling, no padding
    ("relu",) ("tanh",) ("dropout", p)   keep the shape, no parameters
    ("flatten",)                     a volume -> a vector
    ("fc", n)                        fully connected layer with n units (needs a vector)

The checks here grade the NumPy exercises on such specs: ``output_shape(layer, shape)``,
``layer_counts(layer, shape) -> (params, mult_adds)`` and ``network_table(spec, shape)``, and
the NumPy LeNet-5 forward pass ``lenet5_forward(x, params, modern=False)``. Expected values
come from this module's own small table code (``_shape``/``_counts``), independent of the
course library; the mult-adds follow torchinfo's convention (every weight *and* bias is used
once per output position). The PyTorch exercises (``LeNet5``, ``vgg_block``, ``VGGNet``) live
in :mod:`.classic_torch` and are re-exported here.
"""

from __future__ import annotations

import math

import numpy as np

from .core import FORBIDDEN, Case, Out, Variant, forbids, run_check
from .classic_torch import LENET_SHAPES, _LENET_MISTAKES, _mistake_text, lenet_reference
from .classic_torch import lenet5, vgg_block, vgg_net  # noqa: F401  (re-exported: the notebook's check.<name>)

__all__ = ["output_shape", "layer_counts", "network_table", "lenet5_forward", "lenet5", "vgg_block", "vgg_net",
           "LENET5", "ALEXNET", "VGG16", "VGG16_CFG", "vgg_spec"]

KEEP_SHAPE = ("relu", "tanh", "dropout")
POOLS = ("maxpool", "avgpool")

# --------------------------------------------------------------------------- the three famous specs

LENET5 = [("conv", 6, 5, 1, 0), ("tanh",), ("avgpool", 2, 2),
          ("conv", 16, 5, 1, 0), ("tanh",), ("avgpool", 2, 2),
          ("flatten",), ("fc", 120), ("tanh",), ("fc", 84), ("tanh",), ("fc", 10)]
LENET5_INPUT = (1, 32, 32)

ALEXNET = [("conv", 96, 11, 4, 0), ("relu",), ("maxpool", 3, 2),
           ("conv", 256, 5, 1, 2), ("relu",), ("maxpool", 3, 2),
           ("conv", 384, 3, 1, 1), ("relu",), ("conv", 384, 3, 1, 1), ("relu",),
           ("conv", 256, 3, 1, 1), ("relu",), ("maxpool", 3, 2),
           ("flatten",), ("dropout", 0.5), ("fc", 4096), ("relu",), ("dropout", 0.5), ("fc", 4096), ("relu",),
           ("fc", 1000)]
ALEXNET_INPUT = (3, 227, 227)

VGG16_CFG = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def vgg_spec(cfg, n_classes=1000, hidden=4096):
    """The layer spec of a VGG network: per (num_convs, channels) block, num_convs × (3×3 same
    conv, ReLU), then a 2×2/2 max pooling; then flatten, FC(hidden), ReLU, dropout, FC(hidden),
    ReLU, dropout, FC(n_classes)."""
    spec = []
    for num_convs, channels in cfg:
        spec += [("conv", channels, 3, 1, 1), ("relu",)] * num_convs + [("maxpool", 2, 2)]
    return spec + [("flatten",), ("fc", hidden), ("relu",), ("dropout", 0.5), ("fc", hidden), ("relu",),
                   ("dropout", 0.5), ("fc", n_classes)]


VGG16 = vgg_spec(VGG16_CFG)
VGG16_INPUT = (3, 224, 224)

FAMOUS = {"LeNet-5": (LENET5, LENET5_INPUT), "AlexNet": (ALEXNET, ALEXNET_INPUT), "VGG-16": (VGG16, VGG16_INPUT)}

# --------------------------------------------------------------------------- the reference (and its known mistakes)


def _shape(layer, shape, bug=None):
    """Output shape of ``layer`` on ``shape``; ``bug`` names a known mistake to simulate."""
    kind = layer[0]
    if kind == "conv":
        _, n_c, f, s, p = layer
        c, h, w = shape
        if bug == "no_plus_one":
            return (n_c, (h + 2 * p - f) // s, (w + 2 * p - f) // s)
        if bug == "one_side_pad":
            return (n_c, (h + p - f) // s + 1, (w + p - f) // s + 1)
        if bug == "ignore_stride":
            return (n_c, h + 2 * p - f + 1, w + 2 * p - f + 1)
        if bug == "keep_channels":
            return (c, (h + 2 * p - f) // s + 1, (w + 2 * p - f) // s + 1)
        if bug == "round_up":
            return (n_c, -(-(h + 2 * p - f) // s) + 1, -(-(w + 2 * p - f) // s) + 1)
        if bug == "height_twice":
            return (n_c, (h + 2 * p - f) // s + 1, (h + 2 * p - f) // s + 1)
        return (n_c, (h + 2 * p - f) // s + 1, (w + 2 * p - f) // s + 1)
    if kind in POOLS:
        _, f, s = layer
        c, h, w = shape
        if bug == "pool_halves":
            return (c, h // 2, w // 2)
        if bug == "pool_stride_one":
            return (c, h - f + 1, w - f + 1)
        if bug == "no_plus_one":
            return (c, (h - f) // s, (w - f) // s)
        return (c, (h - f) // s + 1, (w - f) // s + 1)
    if kind in KEEP_SHAPE:
        return tuple(shape)
    if kind == "flatten":
        return (math.prod(shape),)
    if kind == "fc":
        if len(shape) != 1:
            raise ValueError(f"a fully connected layer needs a vector, got a volume of shape {tuple(shape)}")
        return (layer[1],)
    raise ValueError(f"unknown layer {layer!r}")


def _counts(layer, shape, bug=None):
    """(params, mult_adds) of ``layer`` on ``shape`` (torchinfo's convention), or of a known mistake."""
    kind = layer[0]
    out = _shape(layer, shape)
    if kind == "conv":
        _, n_c, f, _, _ = layer
        c = shape[0]
        weights, positions = f * f * c * n_c, out[1] * out[2]
        params = {"no_bias": weights, "bias_twice": weights + 2 * n_c, "bias_per_weight": 2 * weights,
                  "flat_filter": (f * f + 1) * n_c, "one_bias": weights + 1}.get(bug, weights + n_c)
        madds = {"madds_no_bias": weights * positions, "madds_input_size": (weights + n_c) * shape[1] * shape[2],
                 "madds_no_positions": weights + n_c,
                 "madds_times_channels": (weights + n_c) * positions * n_c}.get(bug, params * positions)
        return params, madds
    if kind == "fc":
        n_in, n = math.prod(shape), layer[1]
        weights = n_in * n
        params = {"no_bias": weights, "bias_twice": weights + 2 * n, "bias_per_weight": 2 * weights,
                  "one_bias": weights + 1}.get(bug, weights + n)
        madds = {"madds_no_bias": weights}.get(bug, params)
        return params, madds
    if kind in POOLS:
        c, f = shape[0], layer[1]
        params = {"pool_weights": f * f * c, "pool_filter_bias": (f * f + 1) * c, "pool_window": f * f,
                  "pool_lenet": 2 * c}.get(bug, 0)
        madds = {"pool_madds": f * f * math.prod(out)}.get(bug, 0)
        return params, madds
    if kind == "flatten":
        n = math.prod(shape)
        return {"flatten_params": (n, 0), "flatten_madds": (0, n)}.get(bug, (0, 0))
    return 0, 0


def _table(spec, shape, bug=None, propagate=True):
    rows, current = [], tuple(shape)
    for layer in spec:
        out = _shape(layer, current, bug if bug in _SHAPE_BUGS else None)
        params, madds = _counts(layer, current, bug if bug in _COUNT_BUGS else None)
        if bug == "input_shape_rows":
            rows.append((layer[0], current, params, madds))
        else:
            rows.append((layer[0], out, params, madds))
        if propagate:
            current = out
    return rows


_SHAPE_BUGS = ("no_plus_one", "one_side_pad", "ignore_stride", "keep_channels", "round_up", "height_twice",
               "pool_halves", "pool_stride_one")
_COUNT_BUGS = ("no_bias", "bias_twice", "bias_per_weight", "flat_filter", "one_bias", "madds_no_bias",
               "madds_input_size", "madds_no_positions", "madds_times_channels", "pool_weights", "pool_filter_bias",
               "pool_window", "pool_lenet", "pool_madds", "flatten_params", "flatten_madds")

# --------------------------------------------------------------------------- hints

SHAPE_FORMULAS = ("conv: (n_C, ⌊(n_H + 2p − f)/s⌋ + 1, ⌊(n_W + 2p − f)/s⌋ + 1); pooling: (n_C_prev, "
                  "⌊(n_H − f)/s⌋ + 1, ⌊(n_W − f)/s⌋ + 1); relu/tanh/dropout keep the shape; flatten gives "
                  "(n_C·n_H·n_W,); fc gives (n,).")
SHAPE_HINTS = {
    "no_plus_one": "your size is one too small: the formula is ⌊(n + 2p − f)/s⌋ + 1 (forgot the + 1?).",
    "one_side_pad": "padding is added on both sides: the padded size is n + 2p.",
    "ignore_stride": "your size ignores the stride: divide (n + 2p − f) by s (floor), then add 1.",
    "keep_channels": "a convolution's output has as many channels as it has filters (n_C of the layer), not "
                     "the input's number of channels.",
    "round_up": "you rounded up; the formula takes the floor: ⌊(n + 2p − f)/s⌋ + 1 (use //).",
    "height_twice": "you used the height for both sides: compute the width from n_W (the checks use "
                    "non-square inputs).",
    "pool_halves": "a pooling layer does not always halve the size: its output side is ⌊(n − f)/s⌋ + 1 "
                   "(AlexNet pools 3×3 windows with stride 2: 55 → 27).",
    "pool_stride_one": "your pooling ignores its stride: ⌊(n − f)/s⌋ + 1.",
}
COUNT_HINTS = {
    "no_bias": "you counted the weights but not the biases: every filter of a conv layer, and every unit of "
               "an fc layer, has one bias.",
    "bias_twice": "you counted the biases twice: a conv layer has n_C biases (one per filter), an fc layer n "
                  "(one per unit).",
    "bias_per_weight": "there is one bias per filter (conv) or per unit (fc), not one per weight.",
    "flat_filter": "each filter spans all the input's channels: a conv filter has f·f·n_C_prev weights.",
    "one_bias": "every filter (conv) or unit (fc) has its own bias: n_C or n biases, not one per layer.",
    "madds_no_bias": "count the bias addition too (torchinfo's convention, which the notebook follows): every "
                     "parameter, bias included, is used once per output position: mult-adds = params · "
                     "n_H_out · n_W_out for a conv, = params for an fc layer.",
    "madds_input_size": "a conv filter is applied once per *output* position: multiply by the output's "
                        "n_H · n_W, not the input's.",
    "madds_no_positions": "a conv layer uses each of its weights at every output position: mult-adds = params · "
                          "n_H_out · n_W_out.",
    "madds_times_channels": "each weight belongs to one filter, which produces one output channel: multiply the "
                            "parameters by n_H_out · n_W_out, not by n_C · n_H_out · n_W_out.",
    "pool_weights": "pooling layers have no parameters: max or average pooling takes a fixed summary of each "
                    "window, nothing is learned.",
    "pool_filter_bias": "pooling layers have no parameters: there is no filter and no bias, max or average "
                        "pooling is a fixed summary of each window.",
    "pool_window": "pooling layers have no parameters: the window size f is a hyperparameter, not a weight.",
    "pool_lenet": "LeNet-5's original subsampling layers did learn 2 numbers per map, but the pooling layers of "
                  "this notebook (and of every modern network) learn nothing: 0 parameters.",
    "pool_madds": "pooling multiplies no weights: count 0 mult-adds for it (as torchinfo does).",
    "flatten_params": "flatten has no parameters: it only reorders the numbers of the volume into a vector.",
    "flatten_madds": "flatten computes nothing: 0 mult-adds.",
}
COUNT_RULE = ("conv: params = (f·f·n_C_prev + 1)·n_C, mult-adds = params · n_H_out · n_W_out; fc: params = "
              "(n_in + 1)·n, mult-adds = params; pooling, activations, dropout, flatten: 0 and 0.")
FC_NEEDS_VECTOR = ("a fully connected layer takes a vector: on a volume (n_C, n_H, n_W) the spec must flatten "
                   "first, and your function must raise ValueError instead of returning a shape.")


TYPE_VARIANTS = [Variant(f"return the shape as a tuple of ints, (n_C, n_H, n_W) or (n,), not a {kind}: tuple(...) "
                         "turns a list into one.", {"type of the result": kind}) for kind in ("list", "ndarray")]
TYPE_VARIANTS.append(Variant("return the shape as a tuple of ints, (n_C, n_H, n_W) or (n,): a flattened volume is "
                             "the 1-tuple (n,), with the comma.", {"type of the result": "int"}))


def _describe(layer, shape) -> str:
    return f"layer={layer!r}, input_shape={tuple(shape)}"


def _int_tuple(shape) -> list:
    return [int(v) for v in shape]


# --------------------------------------------------------------------------- output_shape


def _shape_case(layer, shape, note=""):
    if layer[0] == "fc" and len(shape) != 1:
        return Case(args=[("layer", layer), ("input_shape", tuple(shape))], outputs=[], note=note,
                    describe=_describe(layer, shape), raises=ValueError, hint=FC_NEEDS_VECTOR)
    expected = _shape(layer, shape)
    variants = []
    for bug, hint in SHAPE_HINTS.items():
        try:
            value = _shape(layer, shape, bug)
        except Exception:
            continue
        if value != expected:
            variants.append(Variant(hint, {"output shape": _int_tuple(value)}))

    def call(func, values):
        result = func(*values)
        return type(result).__name__, (list(result) if isinstance(result, (tuple, list)) else result)

    return Case(args=[("layer", layer), ("input_shape", tuple(shape))], note=note, describe=_describe(layer, shape),
                outputs=[Out("type of the result", "tuple", kind="exact"),
                         Out("output shape", _int_tuple(expected), kind="list")],
                call=call, variants=lambda: variants + TYPE_VARIANTS, hint=SHAPE_FORMULAS,
                exception_hint=lambda exc, line: (
                    "this layer keeps the shape of a vector too: return the input shape unchanged for "
                    "relu, tanh and dropout." if layer[0] in KEEP_SHAPE and len(shape) == 1 else None))


def _famous_cases(make):
    cases = []
    for name, (spec, shape) in FAMOUS.items():
        current = shape
        for k, layer in enumerate(spec):
            cases.append(make(layer, current, f"{name}, layer {k + 1}"))
            current = _shape(layer, current)
    return cases


def _random_layer(rng, shape3):
    """A random layer for an input volume ``shape3`` (never square)."""
    kind = rng.choice(["conv", "conv", "maxpool", "avgpool", "relu", "flatten", "fc", "dropout", "tanh"])
    c, h, w = shape3
    if kind == "conv":
        f = int(rng.integers(1, min(h, w) + 1)) if rng.random() < 0.3 else int(rng.choice([1, 3, 5]))
        f = min(f, min(h, w))
        return ("conv", int(rng.integers(1, 65)), f, int(rng.integers(1, 4)), int(rng.integers(0, 3))), shape3
    if kind in POOLS:
        f = int(rng.integers(2, 4))
        return (str(kind), f, int(rng.integers(1, f + 1))), shape3
    if kind == "fc":
        n = int(rng.integers(1, 5000))
        return ("fc", int(rng.integers(1, 1000))), (n,)
    if kind == "dropout":
        return ("dropout", 0.5), shape3 if rng.random() < 0.5 else (int(rng.integers(1, 500)),)
    return (str(kind),), shape3


def _random_volume(rng):
    h = int(rng.integers(5, 40))
    w = h + int(rng.integers(1, 9)) * (1 if rng.random() < 0.5 else -1)
    return (int(rng.integers(1, 17)), h, max(5, w) if max(5, w) != h else h + 1)


def _random_cases(rng, make, n):
    return [make(*_random_layer(rng, _random_volume(rng))) for _ in range(n)]


def output_shape(func, hidden=False, seed=0):
    """Check ``output_shape(layer, input_shape) -> tuple`` on one layer of a spec."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_shape_case(("conv", 6, 5, 1, 0), (1, 32, 32), "LeNet-5's first convolution"),
                 _shape_case(("avgpool", 2, 2), (6, 28, 28), "LeNet-5's first pooling"),
                 _shape_case(("conv", 96, 11, 4, 0), (3, 227, 227), "AlexNet's first convolution"),
                 _shape_case(("maxpool", 3, 2), (96, 55, 55), "overlapping pooling, 3×3 windows, stride 2"),
                 _shape_case(("maxpool", 2, 1), (8, 5, 6), "pooling with stride 1: it does not halve"),
                 _shape_case(("conv", 64, 3, 1, 1), (3, 224, 180), "a 3×3 'same' convolution, non-square input"),
                 _shape_case(("tanh",), (6, 28, 28), "an activation keeps the shape"),
                 _shape_case(("flatten",), (16, 5, 5), "flatten"),
                 _shape_case(("fc", 120), (400,), "a fully connected layer"),
                 _shape_case(("fc", 120), (16, 5, 5), "an fc layer on a volume: the spec forgot to flatten")]
    else:
        rng = np.random.default_rng(seed)
        cases = _random_cases(rng, _shape_case, 30) + _famous_cases(_shape_case)
        cases += [_shape_case(("fc", int(rng.integers(1, 100))), _random_volume(rng)) for _ in range(2)]
        cases += [_shape_case(("relu",), (int(rng.integers(1, 100)),))]
    run_check("output_shape", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- layer_counts


def _counts_case(layer, shape, note=""):
    params, madds = _counts(layer, shape)
    variants = []
    for bug, hint in COUNT_HINTS.items():
        p, m = _counts(layer, shape, bug)
        if (p, m) != (params, madds):
            variants.append(Variant(hint, {"params": p, "mult_adds": m}))
    int_hint = "a count is a whole number: multiply and add ints (no /, no float(...)), and return ints."
    return Case(args=[("layer", layer), ("input_shape", tuple(shape))], note=note, describe=_describe(layer, shape),
                outputs=[Out("params", params, kind="int", shape_hint=int_hint),
                         Out("mult_adds", madds, kind="int", shape_hint=int_hint)],
                variants=lambda: variants, hint=COUNT_RULE)


def layer_counts(func, hidden=False, seed=0):
    """Check ``layer_counts(layer, input_shape) -> (params, mult_adds)``; the hidden cases include
    every layer of LeNet-5, AlexNet and VGG-16."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_counts_case(("conv", 6, 5, 1, 0), (1, 32, 32), "LeNet-5's first convolution"),
                 _counts_case(("avgpool", 2, 2), (6, 28, 28), "a pooling layer"),
                 _counts_case(("conv", 96, 11, 4, 0), (3, 227, 227), "AlexNet's first convolution"),
                 _counts_case(("flatten",), (256, 6, 6), "AlexNet's flatten"),
                 _counts_case(("fc", 4096), (9216,), "AlexNet's first fully connected layer"),
                 _counts_case(("relu",), (64, 224, 224), "an activation")]
    else:
        rng = np.random.default_rng(seed)
        cases = _random_cases(rng, _counts_case, 25) + _famous_cases(_counts_case)
    run_check("layer_counts", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- network_table

TABLE_PARTS = ("kind", "output shape", "params", "mult_adds")


def _table_case(spec, shape, note="", name=""):
    expected = [(k, _int_tuple(s), p, m) for k, s, p, m in _table(spec, shape)]

    def variants():
        out = []
        for bug, hint in {**SHAPE_HINTS, **COUNT_HINTS}.items():
            try:
                rows = [(k, _int_tuple(s), p, m) for k, s, p, m in _table(spec, shape, bug)]
            except Exception:
                continue
            if rows != expected:
                out.append(Variant(f"(from your layer functions) {hint}", {"table": rows}))
        rows = [(k, _int_tuple(s), p, m) for k, s, p, m in _table(spec, shape, "input_shape_rows")]
        out.append(Variant("each row must show the layer's *output* shape (the shape it hands to the next "
                           "layer); yours shows its input shape.", {"table": rows}))
        return out

    def inspect(got):
        rows = got.get("table")
        if not isinstance(rows, (list, tuple)) or len(rows) != len(expected):
            return None
        for k, (g, e) in enumerate(zip(rows, expected)):
            if isinstance(g, (tuple, list)) and len(g) == 4 and list(g[1]) == list(e[1]):
                continue
            if k > 0 and isinstance(g, (tuple, list)) and len(g) == 4 and \
                    list(g[1]) == list(_shape(spec[k], shape)):
                return (f"row {k + 1} ({spec[k]!r}) shows the shape this layer would give on the network's "
                        f"input {tuple(shape)}: each layer gets the *previous* layer's output shape. Keep the "
                        "current shape in a variable and update it after every layer.")
            return None
        return None

    def call(func, values):
        result = func(*values)
        if isinstance(result, (list, tuple)):
            result = [list(r) if isinstance(r, tuple) else r for r in result]
            result = [(r[0], list(r[1]) if isinstance(r[1], (tuple, list)) else r[1], *r[2:])
                      if isinstance(r, list) and len(r) == 4 else r for r in result]
        return result

    def exception_hint(exc, line):
        if isinstance(exc, ValueError):
            return ("a layer got a shape it cannot take (an fc layer a volume?): each layer must get the previous "
                    "layer's output shape, so keep the current shape in a variable and update it after every layer.")
        return None

    total_p = sum(r[2] for r in expected)
    return Case(args=[("spec", list(spec)), ("input_shape", tuple(shape))], note=note, call=call,
                exception_hint=exception_hint,
                describe=f"{name or f'a spec of {len(spec)} layers'} on input_shape={tuple(shape)} "
                         f"({len(spec)} rows, {total_p:,} parameters in total)",
                outputs=[Out("table", expected, kind="list", parts=TABLE_PARTS)], variants=variants, inspect=inspect,
                hint="one row (layer[0], output shape, params, mult_adds) per layer, in order; each layer gets the "
                     "previous layer's output shape (the first gets input_shape).")


def _random_spec(rng):
    """A random small ConvNet spec (conv/pool blocks, then flatten and fc layers) and its input."""
    shape = _random_volume(rng)
    shape = (shape[0], shape[1] + 20, shape[2] + 20)
    spec, current = [], shape
    for _ in range(int(rng.integers(1, 4))):
        f = int(rng.choice([1, 3, 5]))
        layer = ("conv", int(rng.integers(2, 33)), f, int(rng.integers(1, 3)), int(rng.integers(0, (f + 1) // 2 + 1)))
        if _shape(layer, current)[1] < 3 or _shape(layer, current)[2] < 3:
            break
        spec += [layer, (str(rng.choice(["relu", "tanh"])),)]
        current = _shape(layer, current)
        pool = (str(rng.choice(list(POOLS))), 2, 2) if rng.random() < 0.6 else ("maxpool", 3, 2)
        if min(current[1:]) >= pool[1]:
            spec.append(pool)
            current = _shape(pool, current)
    spec.append(("flatten",))
    for _ in range(int(rng.integers(1, 3))):
        spec += [("fc", int(rng.integers(5, 200))), ("relu",)]
        if rng.random() < 0.3:
            spec.append(("dropout", 0.5))
    spec.append(("fc", int(rng.integers(2, 20))))
    return spec, shape


def network_table(func, hidden=False, seed=0):
    """Check ``network_table(spec, input_shape) -> [(kind, output_shape, params, mult_adds), ...]``."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_table_case(LENET5, LENET5_INPUT, "LeNet-5", "LeNet-5"),
                 _table_case(ALEXNET, ALEXNET_INPUT, "AlexNet: every row", "AlexNet")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_table_case(VGG16, VGG16_INPUT, "VGG-16: every row", "VGG-16")]
        cases += [_table_case(*_random_spec(rng)) for _ in range(8)]
        cases.append(_table_case(ALEXNET, ALEXNET_INPUT, "AlexNet", "AlexNet"))
    run_check("network_table", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- the NumPy LeNet-5

# The course's layer functions are allowed (composing them is the exercise); the course's whole
# network, PyTorch and SciPy's filters are not.
LENET_FORBIDDEN = ("cnn_course.ref.classic", "cnn_course.ref.lenet5_forward", "cnn_course.pt",
                   *[f for f in FORBIDDEN if not f.startswith("cnn_course")])
PARAM_KEYS = ("W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4", "W5", "b5")
NUMPY_STRUCTURE = ("conv W1 (6 filters 5×5, valid) → act → pool 2×2/2 → conv W2 (16 filters 5×5) → act → pool "
                   "→ flatten (m, 400) → fc W3 → act → fc W4 → act → fc W5 → logits, where act/pool are tanh/average "
                   "(modern=False) or ReLU/max (modern=True), and a dense layer computes a @ W.T + b.")

def _numpy_params(weights) -> dict:
    return dict(zip(PARAM_KEYS, weights))


def _lenet_numpy_case(rng, m, modern, note=""):
    weights = [rng.uniform(-1, 1, s) * 1.5 / np.sqrt(np.prod(s[1:]) if len(s) > 1 else 1) for _, s in LENET_SHAPES(10)]
    x = rng.standard_normal((m, 1, 32, 32))
    expected = lenet_reference(weights, x, modern=modern)

    def variants():
        out = []
        for kw, hint in _LENET_MISTAKES:
            hint = hint.replace("torch.flatten(x, 1) or nn.Flatten()", "a.reshape(len(a), -1)")
            logits = lenet_reference(weights, x, modern=modern, **kw)
            out.append(Variant(_mistake_text(hint, modern), {"logits": logits}))
        return out

    def exception_hint(exc, line):
        text = str(exc)
        if "not aligned" in text or "matmul" in text or "shapes" in text:
            return ("a dense layer's weights are stored as in nn.Linear: W3 is (120, 400), so the layer computes "
                    "a @ W3.T + b3 on a batch a of shape (m, 400).")
        if isinstance(exc, KeyError):
            return f"params holds the keys {list(PARAM_KEYS)}."
        return None

    params = _numpy_params(weights)
    return Case(args=[("x", x), ("params", params), ("modern", modern)], note=note,
                describe=f"x.shape={x.shape}, modern={modern}, random weights (float64)",
                outputs=[Out("logits", expected, shape_hint="the logits have shape (m, 10): one row of 10 scores per "
                             "image.")], variants=variants, exception_hint=exception_hint, hint=NUMPY_STRUCTURE,
                tol=(1e-6, 1e-8))


@forbids(*LENET_FORBIDDEN)
def lenet5_forward(func, hidden=False, seed=0):
    """Check ``lenet5_forward(x, params, modern=False) -> logits``: the NumPy LeNet-5 forward pass,
    built from the course's layer functions (``cnn_course.ref.conv2d_forward`` and
    ``pool2d_forward`` are allowed; the course's whole network is not)."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed)
    if not hidden:
        cases = [_lenet_numpy_case(rng, 2, False, "classic: tanh and average pooling"),
                 _lenet_numpy_case(rng, 2, True, "modern: ReLU and max pooling")]
    else:
        cases = [_lenet_numpy_case(rng, int(rng.integers(1, 4)), bool(k % 2)) for k in range(4)]
    run_check("lenet5_forward", func, cases, hidden=hidden, forbidden=LENET_FORBIDDEN)


__all__ += ["LENET_FORBIDDEN", "PARAM_KEYS"]
