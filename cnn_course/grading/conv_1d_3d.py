"""Checks for the topic-13 notebook (convolution in 1D and 3D): the NumPy convolutions and the
size of a layer.

The graded functions and their checks:

* ``conv1d_forward(x, w, b, stride=1, pad=0) -> out``: :func:`conv1d_forward`. x is (m, n_C, n_L),
  w (n_F, n_C, f) (PyTorch's layout), b (n_F,); out (m, n_F, n_L') with
  out[i, k, t] = Σ_c Σ_u w[k, c, u] · x_pad[i, c, t·s + u] + b[k], x_pad padded with ``pad``
  zeros at both ends, n_L' = (n_L + 2·pad - f) // s + 1 (cross-correlation, as in every
  deep-learning library: the filter is not flipped).
* ``conv3d_forward(x, w, b, stride=1, pad=0) -> out``: :func:`conv3d_forward`, the same on
  (m, n_C, n_D, n_H, n_W) with w (n_F, n_C, f, f, f); stride and pad the same on every axis.
* ``conv_layer_size(in_shape, n_filters, f, stride=1, pad=0) -> (out_shape, n_params, n_mults)``:
  :func:`conv_layer_size`. in_shape (n_C, S_1, ..., S_d) channels first, d = 1, 2 or 3; a
  filter of f on every spatial axis spans all n_C channels; out_shape (n_filters, O_1, ..., O_d);
  n_params = n_filters·(n_C·f^d + 1); n_mults = n_filters·ΠO·n_C·f^d (multiplications only).

Expected values are computed here with NumPy (sliding windows and tensordot), never with the
library; the known mistakes used for diagnoses are the same computation with one thing changed
(the filter flipped, no bias, the padding on one side, the window not sliding along an axis,
the stride on some axes only, the filter reading one channel...). None of the graded functions
may use the course library, PyTorch or SciPy (:data:`~.core.FORBIDDEN`).
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .core import FORBIDDEN, Case, Out, Variant, describe, float_dtypes, forbids, run_check

__all__ = ["conv1d_forward", "conv3d_forward", "conv_layer_size", "conv_reference", "layer_size"]

_AXES = {1: ("n_L",), 3: ("n_D", "n_H", "n_W")}
_AXIS_NAMES = {1: ("time",), 2: ("height", "width"), 3: ("depth", "height", "width")}

# --------------------------------------------------------------------------- reference


def _out_size(S, f, s, p):
    return (S + 2 * p - f) // s + 1


def conv_reference(x, w, b, stride=1, pad=0, *, flip=False, bias=True, pad_side="both", fixed_axis=None,
                   stride_axes=None, channels="all"):
    """The convolution (cross-correlation) of x (m, C, *S) with w (F, C, *f) in float64, with
    one known mistake switched on: ``flip`` (a true convolution), ``bias=False``, ``pad_side``
    "start" / "end" (all 2·pad zeros on one side: same size), ``fixed_axis`` a (the window does
    not slide along spatial axis a: every output along it equals the first), ``stride_axes``
    (the stride used on these spatial axes only, the others step by 1, the output size kept),
    ``channels`` "first" (every filter reads channel 0 only) / "diagonal" (filter k reads
    channel k mod C only)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    d = x.ndim - 2
    spatial = tuple(range(2, d + 2))
    if flip:
        w = w[(slice(None), slice(None)) + (slice(None, None, -1),) * d]
    if channels == "first":
        x, w = x[:, :1], w[:, :1]
    widths = [(0, 0), (0, 0)] + [{"both": (pad, pad), "start": (2 * pad, 0), "end": (0, 2 * pad)}[pad_side]] * d
    xp = np.pad(x, widths)
    O = tuple(_out_size(S, fa, stride, pad) for S, fa in zip(x.shape[2:], w.shape[2:]))
    win = sliding_window_view(xp, w.shape[2:], axis=spatial)  # (m, C, *P-f+1, *f)
    steps = [stride if (stride_axes is None or a in stride_axes) else 1 for a in range(d)]
    idx = (slice(None), slice(None)) + tuple(slice(0, st * (o - 1) + 1, st) for st, o in zip(steps, O))
    win = win[idx]
    if fixed_axis is not None:
        sl = [slice(None)] * win.ndim
        sl[2 + fixed_axis] = slice(0, 1)
        win = np.repeat(win[tuple(sl)], O[fixed_axis], axis=2 + fixed_axis)
    if channels == "diagonal":
        F, C = w.shape[:2]
        out = np.stack([np.tensordot(win[:, k % C], w[k, k % C], axes=d) for k in range(F)], axis=1)
    else:
        axes_win = [1] + list(range(d + 2, 2 * d + 2))
        out = np.moveaxis(np.tensordot(win, w, axes=(axes_win, list(range(1, d + 2)))), -1, 1)
    if bias:
        out = out + np.asarray(b, dtype=np.float64).reshape((1, -1) + (1,) * d)
    return out


# --------------------------------------------------------------------------- hints

def _recipe(d):
    idx = {1: "t", 3: "d, h, v"}[d]
    fx = {1: "t·s + u", 3: "d·s + u, h·s + u', v·s + u''"}[d]
    sums = {1: "Σ_c Σ_u", 3: "Σ_c Σ_u Σ_u' Σ_u''"}[d]
    return (f"pad x with `pad` zeros at both ends of every spatial axis, then out[i, k, {idx}] = {sums} "
            f"w[k, c, ...] · x_pad[i, c, {fx}] + b[k]: the filter k spans ALL n_C channels and f positions on "
            f"every spatial axis, its window starts at (output index)·stride on EVERY axis, and the output size is "
            f"(n + 2·pad - f) // stride + 1 on each axis.")


FLIPPED = ("your output is the true convolution, with the filter flipped: deep-learning libraries (and this course) "
           "compute the cross-correlation, out = Σ w[k, c, u] · x_pad[..., t·s + u], the filter read in its own order "
           "(no w[..., ::-1]).")
NO_BIAS = "your output misses the bias: add b[k] to every output value of filter k."
PAD_ONE_SIDE = ("all the padding is on one side: pad adds `pad` zeros at the START and `pad` zeros at the END of every "
                "spatial axis (np.pad with (pad, pad) on each spatial axis, (0, 0) on the example and channel axes).")
PAD_ONE_SIDE_SHAPE = ("your output is the size that padding on ONE side gives, (n + pad - f) // stride + 1: pad adds "
                      "`pad` zeros at both ends of every spatial axis, so the size is (n + 2·pad - f) // stride + 1.")
NO_PAD = ("your output has the size of an unpadded convolution, (n - f) // stride + 1: pad the input with `pad` zeros "
          "at both ends of every spatial axis first, (n + 2·pad - f) // stride + 1.")
NO_STRIDE = ("your output has the size of a stride-1 convolution: with stride s the window jumps by s, and the output "
             "has (n + 2·pad - f) // s + 1 positions on each axis.")
FIRST_CHANNEL = ("your filters read only the first input channel: a filter has shape (n_C, f, ...) and spans ALL the "
                 "input's channels; sum w[k] · window over the channel axis too (the window is x_pad[i, :, ...], "
                 "every channel).")
DIAGONAL = ("your filter k reads only input channel k (one channel per filter, like a depthwise convolution): in an "
            "ordinary convolution every filter spans ALL n_C input channels, w[k] has shape (n_C, f, ...), and the "
            "products are summed over the channels as well.")
LAYOUT = ("out must be channels first, (m, n_F, ...spatial): one channel per filter right after the example axis. "
          "Move the filter axis with np.moveaxis(out, -1, 1) if you built it last.")


def _fixed_hint(d, a):
    name = _AXIS_NAMES[d][a]
    return (f"your output is the same at every position along the {name} axis: the window does not slide along it "
            f"(an axis dropped from the loop or from the slice). The window of output position t starts at "
            f"t·stride on the {name} axis as on every other axis.")


def _stride_hint(d, axes):
    names = [_AXIS_NAMES[d][a] for a in range(d) if a not in axes]
    return (f"your window steps by 1 along the {' and '.join(names)} axis, not by the stride: the stride applies to "
            f"EVERY spatial axis, so the window of output position (d, h, v) starts at (d·s, h·s, v·s).")


def _stride_shape_hint(d, axes):
    names = [_AXIS_NAMES[d][a] for a in range(d) if a not in axes]
    return (f"your output has the stride-1 size along the {' and '.join(names)} axis: the stride applies to EVERY "
            f"spatial axis, (n + 2·pad - f) // stride + 1 on each.")


# --------------------------------------------------------------------------- cases


def _conv_case(d, x, w, b, stride, pad, note=""):
    dtype = x.dtype
    expected = conv_reference(x, w, b, stride, pad).astype(dtype)
    m, C = x.shape[:2]
    F, f = w.shape[0], w.shape[2]
    S = x.shape[2:]

    def variants():
        found = [Variant(FLIPPED, {"out": conv_reference(x, w, b, stride, pad, flip=True)}),
                 Variant(NO_BIAS, {"out": conv_reference(x, w, b, stride, pad, bias=False)})]
        if pad > 0:
            found += [Variant(PAD_ONE_SIDE, {"out": conv_reference(x, w, b, stride, pad, pad_side=side)})
                      for side in ("start", "end")]
        for a in range(d):
            if expected.shape[2 + a] > 1:
                found.append(Variant(_fixed_hint(d, a), {"out": conv_reference(x, w, b, stride, pad, fixed_axis=a)}))
        if stride > 1:
            for k in range(0, d):
                for axes in itertools.combinations(range(d), k):
                    found.append(Variant(_stride_hint(d, axes),
                                         {"out": conv_reference(x, w, b, stride, pad, stride_axes=set(axes))}))
        if C > 1:
            found.append(Variant(FIRST_CHANNEL, {"out": conv_reference(x, w, b, stride, pad, channels="first")}))
            found.append(Variant(DIAGONAL, {"out": conv_reference(x, w, b, stride, pad, channels="diagonal")}))
        return found

    def inspect(got):
        out = got.get("out")
        if not isinstance(out, np.ndarray) or out.shape == expected.shape:
            return None
        shape = tuple(out.shape)
        if len(shape) == len(expected.shape) - 1:
            return (f"your output has {len(shape) - 2} spatial axes, expected {d}: an axis was dropped. The output is "
                    f"(m, n_F, " + ", ".join(f"{a}'" for a in _AXES[d]) + ")" + ", every spatial axis of x keeps one.")
        O = lambda s, p: tuple(_out_size(n, f, s, p) for n in S)  # noqa: E731
        if shape == (m, F) + tuple((n + pad - f) // stride + 1 for n in S):
            return PAD_ONE_SIDE_SHAPE
        if pad > 0 and shape == (m, F) + O(stride, 0):
            return NO_PAD
        if stride > 1 and shape == (m, F) + O(1, pad):
            return NO_STRIDE
        if stride > 1 and d > 1 and shape[:2] == (m, F) and len(shape) == d + 2:
            one, full = O(1, pad), O(stride, pad)
            axes = {a for a in range(d) if shape[2 + a] == full[a] != one[a]}
            if all(shape[2 + a] in (one[a], full[a]) for a in range(d)) and len(axes) < d:
                return _stride_shape_hint(d, axes)
        if shape == (m,) + expected.shape[2:] + (F,):
            return LAYOUT
        return None

    def exception_hint(exc, line):
        text = str(exc)
        if "broadcast" in text or "shape" in text or "aligned" in text:
            return ("check the shapes: x is (m, n_C, ...spatial), w (n_F, n_C, f, ...) and a window of x_pad for one "
                    "output position is x_pad[i, :, ...] of shape (n_C, f, ...), the same as w[k]. " + _recipe(d))
        if "index" in text:
            return ("an index runs past the end: the output has (n + 2·pad - f) // stride + 1 positions per axis, and "
                    "the window of position t covers t·stride ... t·stride + f - 1 in the PADDED input.")
        return None

    kw = dict(stride=stride, pad=pad)
    return Case(
        args=[("x", x), ("w", w), ("b", b), ("stride", stride), ("pad", pad)], dtype=dtype, note=note,
        describe=describe(dtype, x=x, w=w, **kw),
        outputs=[Out("out", expected, dtype=dtype,
                     shape_hint=f"out has shape (m, n_F, " + ", ".join(f"{a}'" for a in _AXES[d])
                                + f") = {expected.shape}, each spatial size (n + 2·pad - f) // stride + 1.")],
        variants=variants, inspect=inspect, hint=_recipe(d), exception_hint=exception_hint,
    )


def _random_conv(rng, d, dtype):
    m = int(rng.integers(1, 3))
    C = int(rng.integers(2, 4))
    F = int(rng.integers(2, 4))
    f = int(rng.choice([2, 3] if d == 3 else [2, 3, 5]))
    stride = int(rng.choice([1, 2, 3]))
    pad = int(rng.integers(1, f))
    hi = 7 if d == 3 else 15
    S = tuple(int(rng.integers(max(1, f - 2 * pad), hi)) for _ in range(d))
    S = tuple(max(s, f) for s in S)
    x = rng.standard_normal((m, C) + S).astype(dtype)
    w = (rng.standard_normal((F, C) + (f,) * d) / np.sqrt(C * f ** d)).astype(dtype)
    b = rng.normal(0.0, 0.5, F).astype(dtype)
    return x, w, b, stride, pad


def _visible_1d():
    rng = np.random.default_rng(1301)
    x1 = np.array([[[3.0, 1, 4, 1, 5, 9, 2, 6]]])
    w1 = np.array([[[1.0, 0, -1]]])
    b1 = np.array([0.5])
    x2 = np.round(rng.standard_normal((2, 3, 9)), 2)
    w2 = np.round(rng.standard_normal((4, 3, 3)), 2)
    b2 = np.round(rng.normal(0, 0.5, 4), 2)
    x3 = rng.standard_normal((2, 2, 11)).astype(np.float32)
    w3 = (rng.standard_normal((3, 2, 4)) / 3).astype(np.float32)
    b3 = rng.normal(0, 0.5, 3).astype(np.float32)
    return [(x1, w1, b1, 1, 0, "one signal, one channel, an asymmetric filter"),
            (x2, w2, b2, 1, 1, "3 channels → 4 filters, pad 1"),
            (x3, w3, b3, 2, 2, "stride 2, pad 2, float32")]


def _visible_3d():
    rng = np.random.default_rng(1303)
    x1 = np.round(rng.standard_normal((1, 1, 4, 4, 4)), 2)
    w1 = np.round(rng.standard_normal((2, 1, 3, 3, 3)), 2)
    b1 = np.array([0.5, -1.0])
    x2 = np.round(rng.standard_normal((2, 3, 5, 4, 6)), 2)
    w2 = np.round(rng.standard_normal((2, 3, 3, 3, 3)) / 3, 2)
    b2 = np.round(rng.normal(0, 0.5, 2), 2)
    x3 = rng.standard_normal((1, 2, 7, 6, 5)).astype(np.float32)
    w3 = (rng.standard_normal((3, 2, 3, 3, 3)) / 5).astype(np.float32)
    b3 = rng.normal(0, 0.5, 3).astype(np.float32)
    return [(x1, w1, b1, 1, 0, "a 4×4×4 volume, one channel, two filters"),
            (x2, w2, b2, 1, 1, "3 channels, a 5×4×6 volume, pad 1"),
            (x3, w3, b3, 2, 1, "stride 2 on every axis, pad 1, float32")]


def _check_conv(name, d, func, hidden, seed):
    __tracebackhide__ = True
    if not hidden:
        cases = [_conv_case(d, *args) for args in (_visible_1d() if d == 1 else _visible_3d())]
    else:
        rng = np.random.default_rng(seed)
        cases = [_conv_case(d, *_random_conv(rng, d, dt)) for dt in float_dtypes(rng, 10)]
    run_check(name, func, cases, hidden=hidden)


@forbids(*FORBIDDEN)
def conv1d_forward(func, hidden=False, seed=0):
    """Check ``conv1d_forward(x, w, b, stride=1, pad=0) -> out`` (x (m, C, L), w (F, C, f))."""
    __tracebackhide__ = True
    _check_conv("conv1d_forward", 1, func, hidden, seed)


@forbids(*FORBIDDEN)
def conv3d_forward(func, hidden=False, seed=0):
    """Check ``conv3d_forward(x, w, b, stride=1, pad=0) -> out`` (x (m, C, D, H, W), w (F, C, f, f, f))."""
    __tracebackhide__ = True
    _check_conv("conv3d_forward", 3, func, hidden, seed)


# --------------------------------------------------------------------------- the size of a layer

SIZE_RULE = ("in_shape = (n_C, S_1, ..., S_d); each of the n_filters filters has shape (n_C, f, ..., f) (f on every "
             "spatial axis, spanning all n_C channels). out_shape = (n_filters, O_1, ..., O_d) with O_a = "
             "(S_a + 2·pad - f) // stride + 1; n_params = n_filters · (n_C · f^d + 1) (the weights and one bias per "
             "filter); n_mults = (number of output values) · n_C · f^d = n_filters · O_1 ··· O_d · n_C · f^d.")


def layer_size(in_shape, n_filters, f, stride=1, pad=0, *, power=None, channels=True, bias=True, keep_channels=False,
               pad_side=2, filters_in_mults=True, mults_bias=False):
    """(out_shape, n_params, n_mults) of a convolution layer, with one known mistake switched on:
    ``power`` (f to another power than d: 1 for "f once"), ``channels=False`` (the filter does
    not span the channels: n_C left out of the weights and multiplications), ``bias=False``,
    ``keep_channels`` (out_shape keeps n_C), ``pad_side`` 1 / 0 (padding on one side / none),
    ``filters_in_mults=False`` (n_mults of one filter), ``mults_bias`` (one more multiplication per
    output value)."""
    n_C, *S = in_shape
    d = len(S)
    k = f ** (d if power is None else power)
    O = tuple((s + pad_side * pad - f) // stride + 1 for s in S)
    out_shape = ((n_C if keep_channels else n_filters),) + O
    weights = (n_C if channels else 1) * k
    n_params = n_filters * (weights + (1 if bias else 0))
    n_mults = int(np.prod(O)) * (n_filters if filters_in_mults else 1) * (weights + (1 if mults_bias else 0))
    return tuple(int(v) for v in out_shape), int(n_params), int(n_mults)


def _size_variants(args):
    d = len(args[0]) - 1
    found = [("your numbers leave out the filter's extent on some axes: a filter of size f on each of the d spatial "
              f"axes has f^d positions per channel (f^{d} = {args[2] ** d} here).", dict(power=p))
             for p in range(0, 4) if p != d]
    found += [
        ("your filters do not span the input's channels: each filter has n_C · f^d weights (one per channel and "
         "window position), and every output value takes that many multiplications.", dict(channels=False)),
        ("your parameter count leaves out the biases: one per filter.", dict(bias=False)),
        ("your out_shape keeps the input's channels: the output has one channel per FILTER, n_filters.",
         dict(keep_channels=True)),
        ("your sizes use the padding on one side only: (S + 2·pad - f) // stride + 1.", dict(pad_side=1)),
        ("your sizes leave out the padding: (S + 2·pad - f) // stride + 1.", dict(pad_side=0)),
        ("your multiplications are those of ONE filter: every filter computes its own output channel, so multiply by "
         "n_filters (or count all n_filters · O_1 ··· O_d output values).", dict(filters_in_mults=False)),
        ("your multiplications count the bias as one more: the bias is an addition; count n_C · f^d multiplications "
         "per output value.", dict(mults_bias=True)),
    ]
    return found


def _size_case(in_shape, n_filters, f, stride=1, pad=0, note=""):
    out_shape, n_params, n_mults = layer_size(in_shape, n_filters, f, stride, pad)

    def variants():
        found = []
        for hint, kw in _size_variants((in_shape, n_filters, f, stride, pad)):
            v_shape, v_params, v_mults = layer_size(in_shape, n_filters, f, stride, pad, **kw)
            found += [Variant(hint, {"out_shape": v_shape}), Variant(hint, {"n_params": v_params}),
                      Variant(hint, {"n_mults": v_mults})]
        return found

    def inspect(got):
        s = got.get("out_shape")
        if isinstance(s, (tuple, list)) and len(s) == len(out_shape) and tuple(s[1:]) + (s[0],) == out_shape[1:] + (
                out_shape[0],) and tuple(s) != out_shape:
            return ("out_shape is channels first, like in_shape and the arrays: (n_filters, O_1, ..., O_d).")
        if isinstance(s, (tuple, list)) and any(isinstance(v, float) for v in s):
            return "use integer division, // : a size is a whole number of positions."
        return None

    args = [("in_shape", tuple(in_shape)), ("n_filters", n_filters), ("f", f), ("stride", stride), ("pad", pad)]
    text = ", ".join(f"{k}={v!r}" for k, v in args)
    return Case(args=args, describe=text, note=note,
                outputs=[Out("out_shape", out_shape, kind="exact"), Out("n_params", n_params, kind="int"),
                         Out("n_mults", n_mults, kind="int")],
                variants=variants, inspect=inspect, hint=SIZE_RULE,
                exception_hint=lambda exc, line: ("in_shape is a tuple (n_C, S_1, ..., S_d): n_C, *S = in_shape "
                                                  "gives the channels and the list of spatial sizes. " + SIZE_RULE))


@forbids(*FORBIDDEN)
def conv_layer_size(func, hidden=False, seed=0):
    """Check ``conv_layer_size(in_shape, n_filters, f, stride=1, pad=0) -> (out_shape, n_params, n_mults)``."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_size_case((1, 14), 16, 5, note="EKG, layer 1: 14 samples, 16 filters of 5 → 16 × 10"),
                 _size_case((16, 10), 32, 5, note="EKG, layer 2: 32 filters of 5 × 16 → 32 × 6"),
                 _size_case((1, 14, 14, 14), 16, 5, note="CT, layer 1: 16 filters of 5×5×5×1 → 16 × 10×10×10"),
                 _size_case((16, 10, 10, 10), 32, 5, note="CT, layer 2: 32 filters of 5×5×5×16 → 32 × 6×6×6"),
                 _size_case((3, 32, 32), 8, 5, 2, 2, note="a 2D layer with stride 2 and padding 2")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k in range(10):
            d = 1 + k % 3
            n_C = int(rng.integers(1, 64))
            f = int(rng.choice([1, 2, 3, 5, 7]))
            pad = int(rng.integers(0, 3))
            stride = int(rng.integers(1, 4))
            S = tuple(int(rng.integers(max(1, f - 2 * pad), 40)) for _ in range(d))
            cases.append(_size_case((n_C,) + S, int(rng.integers(1, 64)), f, stride, pad))
    run_check("conv_layer_size", func, cases, hidden=hidden)
