"""Checks for the topic-1 notebook: the module its test cells import as ``check``.

The convolution checks live here; the pooling checks in :mod:`.pooling` and the PyTorch
exercises (the ConvNet module and its training step) in :mod:`.convnet`, re-exported below.
Each public function takes the student's function, runs a few fixed, explainable cases
(``hidden=False``) or ~25 random ones drawn from ``np.random.default_rng(seed)``
(``hidden=True``), and raises :class:`~cnn_course.grading.CheckFailed` with a teaching
message on the first problem. Expected values come from :mod:`cnn_course.ref`; the
known mistakes used for hints are computed next to them. Arrays are NCHW throughout.
"""

from __future__ import annotations

import re

import numpy as np

from .core import Case, Out, Variant, describe, f64, float_dtypes, matches, reference, run_check

__all__ = [
    "conv_output_size", "conv_layer_params", "zero_pad", "conv_single_step", "conv_forward", "conv_backward",
    "pool_forward", "pool_forward_unknown_mode", "pool_backward",
    "conv_net", "train_step",
]

_HIDDEN = 25

SIZE_HINT = "n_H = ⌊(n_H_prev + 2·pad − f) / stride⌋ + 1 — check the floor and the +1."
LAYOUT = ("the course's layout is channels-first (NCHW): A_prev is (m, n_C_prev, n_H_prev, n_W_prev), "
          "W is (n_C, n_C_prev, f, f) and Z is (m, n_C, n_H, n_W)")


def _sizes_ok(n, f, pad, stride):
    return f <= n + 2 * pad


# --------------------------------------------------------------------------- sizes


def _size_case(n, f, pad, stride, note=""):
    expected = int(reference().conv_output_size(n, f, pad, stride))
    x = n + 2 * pad - f
    wrong = [  # first match wins: the float versions differ from the answer only for huge n
        (int(x / stride + 1), FLOAT_DIVISION_HINT),
        (int(x / stride) + 1, FLOAT_DIVISION_HINT),
        (x // stride, "your size is one too small: forgot the + 1? " + SIZE_HINT),
        (-(-x // stride) + 1, "you rounded up; the formula takes the floor: " + SIZE_HINT),
        ((n + pad - f) // stride + 1, "padding is added on both sides, so the padded size is n + 2·pad."),
        (n + 2 * pad - f + 1, "your size ignores the stride: " + SIZE_HINT),
        ((x + 1) // stride, "the + 1 goes after the floor division: " + SIZE_HINT),
    ]
    variants = [Variant(h, {"n_out": v}) for v, h in wrong if v != expected]

    def exception_hint(exc, line):
        if not isinstance(exc, ValueError):
            return None
        if f == n + 2 * pad:
            return (f"here f = n + 2·pad = {f}: the filter fits exactly once, so the output has length 1. "
                    "Raise the ValueError only when f > n + 2·pad (strictly greater).")
        if f > n:
            return (f"the filter fits here: f = {f} is larger than n = {n}, but not than the padded input "
                    f"n + 2·pad = {n + 2 * pad}. The padding counts: raise only when f > n + 2·pad.")
        return (f"these inputs are valid (f = {f} ≤ n + 2·pad = {n + 2 * pad}), so there is an output to return; "
                "raise the ValueError only when f > n + 2·pad.")

    return Case(args=[("n", n), ("f", f), ("pad", pad), ("stride", stride)],
                outputs=[Out("n_out", expected, kind="int", shape_hint=INT_SIZE_HINT)],
                describe=describe(n=n, f=f, pad=pad, stride=stride), note=note,
                hint=SIZE_HINT, variants=lambda: variants, exception_hint=exception_hint, probes=_fit_test_probe)


def _raises_value_error(func, *args) -> bool:
    try:
        func(*args)
    except ValueError:
        return True
    except Exception:
        return False
    return False


def _fit_test_probe(func):
    """Which wrong test for "the filter does not fit" the student wrote, judged on two inputs
    that fit: n = 3, pad = 1 with f = 4 (larger than n) and f = 5 (= n + 2·pad)."""
    if _raises_value_error(func, 3, 4, 1, 1):
        return ("your function raises ValueError for n = 3, f = 4, pad = 1, but the filter fits there: the padded "
                "input is n + 2·pad = 5 long. The padding counts: raise only when f > n + 2·pad.")
    if _raises_value_error(func, 3, 5, 1, 1):
        return ("your function raises ValueError for n = 3, f = 5, pad = 1, where f = n + 2·pad: the filter fits "
                "exactly once, so the output has length 1. Raise only when f > n + 2·pad (strictly greater).")
    return None


INT_SIZE_HINT = ("use // (floor division): it gives a whole number, exactly; int(a / b) goes through a float, "
                 "which keeps only about 16 significant digits.")
FLOAT_DIVISION_HINT = ("you divided with / and turned the result into an int: a float keeps only about 16 "
                       "significant digits, so for large n the last digits are lost. Integer floor division // "
                       "is exact: n_out = (n + 2*pad - f) // stride + 1.")


def _size_raises_case(n, f, pad, stride, note=""):
    """A filter larger than the padded input: the function must raise ValueError."""
    return Case(args=[("n", n), ("f", f), ("pad", pad), ("stride", stride)], outputs=[],
                describe=describe(n=n, f=f, pad=pad, stride=stride), note=note, raises=ValueError,
                hint=(f"the filter does not fit: f = {f} > n + 2·pad = {n + 2 * pad}, so no window fits and "
                      "there is no output (the formula would give a size below 1, which means nothing). Test "
                      "for f > n + 2*pad before computing the size and raise ValueError with a message that "
                      "says so."))


def _random_size_cases(rng):
    """30 ordinary cases, 6 filters that do not fit, 4 that fit exactly (f = n + 2·pad),
    4 that fit only thanks to the padding (n < f ≤ n + 2·pad) and 4 huge inputs."""
    cases, raising, exact, padded = [], [], [], []
    while len(cases) < 30 or len(raising) < 6 or len(exact) < 4 or len(padded) < 4:
        n, f, pad, stride = (int(rng.integers(1, 13)), int(rng.integers(1, 8)), int(rng.integers(0, 3)),
                             int(rng.integers(1, 4)))
        if f > n + 2 * pad:
            if len(raising) < 6:
                raising.append(_size_raises_case(n, f, pad, stride))
        elif f == n + 2 * pad:
            if len(exact) < 4:
                exact.append(_size_case(n, f, pad, stride))
        elif f > n:
            if len(padded) < 4:
                padded.append(_size_case(n, f, pad, stride))
        elif len(cases) < 30:
            cases.append(_size_case(n, f, pad, stride))
    huge = [_size_case(10 ** 17 + int(rng.integers(0, 10 ** 6)), int(rng.integers(1, 8)), int(rng.integers(0, 3)),
                       int(rng.integers(1, 4))) for _ in range(4)]
    out = cases + raising + exact + padded
    order = rng.permutation(len(out))
    return [out[k] for k in order] + huge


def conv_output_size(func, hidden=False, seed=0):
    """Check ``conv_output_size(n, f, pad, stride) -> int``, and that it raises ValueError when
    the filter does not fit in the padded input (f > n + 2·pad)."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_size_case(6, 3, 0, 1, "the 6×6 image and 3×3 filter of the edge example"),
                 _size_case(7, 3, 1, 2, "padding 1 and stride 2"),
                 _size_case(5, 2, 0, 2, "the floor matters: (5 − 2) / 2 = 1.5"),
                 _size_raises_case(3, 5, 0, 1, "a 5-wide filter on a 3-pixel input: it does not fit"),
                 _size_case(3, 5, 1, 1, "the same filter with pad 1: it fits exactly once"),
                 _size_case(10 ** 17 + 3, 3, 1, 1, "a huge input, n = 10**17 + 3: / loses digits, // does not")]
    else:
        cases = _random_size_cases(np.random.default_rng(seed))
    run_check("conv_output_size", func, cases, hidden=hidden)


def _params_case(f, c_prev, c, note=""):
    expected = f * f * c_prev * c + c
    wrong = [
        (f * f * c_prev * c, "you counted the weights but not the biases: every filter has one bias (+ n_C)."),
        (f * f * c + c, "each filter spans all n_C_prev input channels: a filter has f·f·n_C_prev weights."),
        (f * c_prev * c + c, "a filter is f × f, so it has f·f (not f) weights per input channel."),
        (f * f * c_prev + 1, "that is the count of one filter; the layer has n_C filters."),
        (f * f * c_prev * c + f * f * c_prev * c, "there is one bias per filter (n_C), not one per weight."),
    ]
    variants = [Variant(h, {"n_params": v}) for v, h in wrong if v != expected]
    return Case(args=[("f", f), ("n_C_prev", c_prev), ("n_C", c)],
                outputs=[Out("n_params", expected, kind="int",
                             shape_hint="a count is a whole number: multiply and add the ints you are given, "
                                        "without / or float(...), and return the int.")],
                describe=describe(f=f, n_C_prev=c_prev, n_C=c), note=note,
                hint="a conv layer has n_C filters of f·f·n_C_prev weights each, plus one bias per filter.",
                variants=lambda: variants)


def conv_layer_params(func, hidden=False, seed=0):
    """Check ``conv_layer_params(f, n_C_prev, n_C) -> int``."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_params_case(3, 3, 8, "3×3 filters on an RGB image, 8 filters"),
                 _params_case(5, 1, 6, "LeNet-5's first layer"),
                 _params_case(1, 16, 4, "a 1×1 convolution")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_params_case(int(rng.integers(1, 8)), int(rng.integers(1, 65)), int(rng.integers(1, 129)))
                 for _ in range(20)]
    run_check("conv_layer_params", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- zero_pad


def _pad_axes(X, pad, axes, before=True, after=True):
    widths = [(0, 0)] * X.ndim
    for ax in axes:
        widths[ax] = (pad if before else 0, pad if after else 0)
    return np.pad(X, widths)


def _zero_pad_case(X, pad, note=""):
    expected = reference().zero_pad(X.copy(), pad)

    def variants():
        out = [(_pad_axes(X, pad, (0, 1, 2, 3)), "you padded every axis; pad only height and width "
                "(the last two axes), never the batch or channel axes."),
               (_pad_axes(X, pad, (0, 1)), "you padded the batch and channel axes (0 and 1); pad the last two "
                "axes (n_H, n_W) instead."),
               (_pad_axes(X, pad, (1, 2)), "you padded axes 1 and 2, as if the layout were channels-last "
                "(m, n_H, n_W, n_C); here it is (m, n_C, n_H, n_W): pad axes 2 and 3."),
               (_pad_axes(X, pad, (2,)), "you padded the height only; pad the width (axis 3) too."),
               (_pad_axes(X, pad, (3,)), "you padded the width only; pad the height (axis 2) too."),
               (_pad_axes(X, pad, (2, 3), after=False), "you padded one side only; pad both sides (pad before "
                "and pad after)."),
               (_pad_axes(X, 2 * pad, (2, 3)), "you added 2·pad on each side; pad on each side is enough "
                "(the size grows by 2·pad in total).")]
        return [Variant(h, {"X_pad": v}) for v, h in out if pad > 0]

    return Case(args=[("X", X), ("pad", pad)],
                outputs=[Out("X_pad", expected, shape_hint="X_pad must be (m, n_C, n_H + 2·pad, n_W + 2·pad): "
                             "pad only the last two axes, on both sides.")],
                describe=describe(X.dtype, X=X, pad=pad), dtype=X.dtype, note=note,
                hint="the border must be zeros and the middle must be X unchanged.", variants=variants)


def zero_pad(func, hidden=False, seed=0):
    """Check ``zero_pad(X, pad) -> X_pad`` (pads height and width only)."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_zero_pad_case(np.arange(1.0, 7.0).reshape(1, 1, 2, 3), 1, "a 2×3 image padded by 1"),
                 _zero_pad_case(np.linspace(-1, 1, 2 * 3 * 4 * 4).reshape(2, 3, 4, 4), 2,
                                "2 images with 3 channels, pad 2")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for dt in float_dtypes(rng, 20):
            shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 7)),
                     int(rng.integers(1, 7)))
            cases.append(_zero_pad_case(rng.standard_normal(shape).astype(dt), int(rng.integers(0, 4))))
    run_check("zero_pad", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- conv_single_step


def _single_step_case(a, W, b, note=""):
    a64, W64 = f64(a), f64(W)
    s = float(np.sum(a64 * W64))
    expected = s + float(b)

    def variants():
        wrong = [(s, "your result equals sum(a_slice_prev * W) without b: did you forget to add the bias?"),
                 (s + a.size * float(b), "you added b to every product before summing; add it once, "
                  "after the sum."),
                 (float(np.mean(a64 * W64)) + float(b), "you averaged the products; a convolution step sums them."),
                 (float(np.sum(a64) * np.sum(W64)) + float(b), "multiply element-wise first (a_slice_prev * W), "
                  "then sum; the product of the two sums is something else.")]
        return [Variant(h, {"Z": v}) for v, h in wrong if not np.isclose(v, expected)]

    return Case(args=[("a_slice_prev", a), ("W", W), ("b", b)],
                outputs=[Out("Z", expected, kind="scalar")],
                describe=describe(a.dtype, a_slice_prev=a, W=W, b=b), dtype=a.dtype, note=note,
                hint="Z = sum over all entries of a_slice_prev * W, plus b.", variants=variants)


def conv_single_step(func, hidden=False, seed=0):
    """Check ``conv_single_step(a_slice_prev, W, b) -> float``."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_single_step_case(np.array([[[1.0, 2.0], [3.0, 4.0]]]), np.array([[[1.0, 0.0], [0.0, -1.0]]]),
                                   0.5, "1·1 + 4·(−1) + 0.5 = −2.5"),
                 _single_step_case(np.arange(27.0).reshape(3, 3, 3) / 10, np.ones((3, 3, 3)), -1.0,
                                   "3 channels, an all-ones filter")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for dt in float_dtypes(rng, _HIDDEN):
            shape = (int(rng.integers(1, 4)),) + (int(rng.integers(1, 5)),) * 2
            cases.append(_single_step_case(rng.standard_normal(shape).astype(dt),
                                           rng.standard_normal(shape).astype(dt), float(rng.standard_normal())))
    run_check("conv_single_step", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- conv_forward


def _conv(A, W, b, stride, pad):
    return reference().conv2d_forward(f64(A), f64(W), f64(b), stride=stride, pad=pad)[0]


def _channels_last_probe(func, args, expected, nout):
    """Re-run ``func`` with channels-last inputs; a hint if it then gives the transposed answer."""
    A, W, rest = args[0], args[1], args[2:]
    tries = [(A.transpose(0, 2, 3, 1).copy(), W.transpose(2, 3, 1, 0).copy())]  # (f, f, n_C_prev, n_C)
    if W is not None and W.ndim == 4:
        tries.append((A.transpose(0, 2, 3, 1).copy(), W.transpose(0, 2, 3, 1).copy()))  # (n_C, f, f, n_C_prev)
    for a, w in tries:
        try:
            res = func(a, w, *[r.copy() if isinstance(r, np.ndarray) else r for r in rest])
        except Exception:
            continue
        got = res[0] if isinstance(res, tuple) and nout > 1 else res
        if isinstance(got, np.ndarray) and got.shape == expected.transpose(0, 2, 3, 1).shape and \
                np.allclose(got, expected.transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4):
            return ("your function is correct for channels-last arrays (m, n_H, n_W, n_C), but " + LAYOUT
                    + ". Read the sizes as m, n_C_prev, n_H_prev, n_W_prev = A_prev.shape and slice windows "
                    "as A_prev_pad[i, :, vert_start:vert_end, horiz_start:horiz_end].")
    return None


def _conv_forward_case(A, W, b, stride, pad, note=""):
    Z = _conv(A, W, b, stride, pad)

    def variants():
        out = [(_conv(A, W, np.zeros_like(b), stride, pad),
                "your Z equals the correct result minus b: did you forget to add the bias?"),
               (Z.transpose(0, 2, 3, 1), "your Z has the right numbers in channels-last order (m, n_H, n_W, n_C); "
                + LAYOUT + "."),
               (Z[:, :, :-1, :-1], "your Z is one row and one column short: forgot the + 1? " + SIZE_HINT),
               (_conv(A, W[:, :, ::-1, ::-1], b, stride, pad), "you flipped the filter (a true convolution); "
                "CNN layers compute a cross-correlation: multiply each window by W as it is.")]
        if stride != 1:
            dense = _conv(A, W, b, 1, pad)
            for v in (dense, dense[:, :, :Z.shape[2], :Z.shape[3]]):
                out.append((v, "your Z is what stride = 1 gives: the window must move by stride "
                            "(vert_start = h * stride, horiz_start = w * stride)."))
        if pad and W.shape[2] <= min(A.shape[2:]):
            out.append((_conv(A, W, b, stride, 0), "your Z is what pad = 0 gives: pad A_prev with zero_pad "
                        "before sliding the window."))
        return [Variant(h, {"Z": v}) for v, h in out if v.size]

    args = [("A_prev", A), ("W", W), ("b", b), ("stride", stride), ("pad", pad)]
    return Case(args=args,
                outputs=[Out("Z", Z, shape_hint="Z must be (m, n_C, n_H, n_W) with n_C = W.shape[0] and "
                             + SIZE_HINT),
                         Out("cache", (A, W, b, stride, pad), kind="cache")],
                describe=describe(A.dtype, A_prev=A, W=W, stride=stride, pad=pad), dtype=A.dtype, note=note,
                hint="Z[i, c, h, w] = conv_single_step(window of A_prev_pad[i], W[c], b[c]) with the window "
                     "starting at (h * stride, w * stride).",
                variants=variants,
                probes=lambda func: _channels_last_probe(func, [v for _, v in args], Z, 2),
                exception_hint=lambda exc, line: LAYOUT + ".")


EDGE_IMAGE = [[3, 0, 1, 2, 7, 4], [1, 5, 8, 9, 3, 1], [2, 7, 2, 5, 1, 3],
              [0, 1, 3, 1, 7, 8], [4, 2, 1, 6, 2, 8], [2, 4, 5, 2, 3, 9]]
EDGE_FILTER = [[1, 0, -1]] * 3


def _random_conv_args(rng, dt):
    while True:
        m, C, F, f = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 5)),
                      int(rng.integers(1, 5)))
        pad, stride = int(rng.integers(0, 3)), int(rng.integers(1, 4))
        H, Wd = int(rng.integers(1, 8)), int(rng.integers(1, 8))
        if _sizes_ok(H, f, pad, stride) and _sizes_ok(Wd, f, pad, stride) and H != Wd:
            return (rng.standard_normal((m, C, H, Wd)).astype(dt), rng.standard_normal((F, C, f, f)).astype(dt),
                    rng.standard_normal(F).astype(dt), stride, pad)


def conv_forward(func, hidden=False, seed=0):
    """Check ``conv_forward(A_prev, W, b, stride=1, pad=0) -> (Z, cache)``."""
    __tracebackhide__ = True
    if not hidden:
        A = np.array(EDGE_IMAGE, dtype=np.float64).reshape(1, 1, 6, 6)
        W = np.array(EDGE_FILTER, dtype=np.float64).reshape(1, 1, 3, 3)
        A2 = np.linspace(-1, 1, 2 * 4 * 4).reshape(1, 2, 4, 4)
        W2 = np.linspace(0.5, -0.5, 2 * 2 * 3 * 3).reshape(2, 2, 3, 3)
        A3 = np.arange(2 * 5 * 4, dtype=np.float64).reshape(2, 1, 5, 4) / 10
        W3 = np.array([[[[1.0, -1.0], [0.0, 2.0]]]] * 3) * np.array([1.0, 0.5, -1.0]).reshape(3, 1, 1, 1)
        cases = [_conv_forward_case(A, W, np.zeros(1), 1, 0,
                                    "the course's 6×6 vertical-edge example; Z[0, 0, 3, 3] is −16"),
                 _conv_forward_case(A2, W2, np.array([0.5, -1.0]), 2, 1, "2 channels, 2 filters, pad 1, stride 2"),
                 _conv_forward_case(A3, W3, np.array([0.0, 1.0, -1.0]), 2, 0,
                                    "2 non-square images, 3 filters, stride 2")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_conv_forward_case(*_random_conv_args(rng, dt)) for dt in float_dtypes(rng, _HIDDEN)]
    run_check("conv_forward", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- conv_backward


def _conv_backward_sim(dZ, A, W, stride, pad, *, add_dA=True, add_dW=True, order="ichw"):
    """Loop version of the conv backward with switchable mistakes; returns (dA_prev_pad, dW)."""
    A_pad = np.pad(f64(A), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    W = f64(W)
    f = W.shape[2]
    dA_pad, dW = np.zeros_like(A_pad), np.zeros_like(W)
    m, F, nH, nW = dZ.shape
    idx = [(i, c, h, w) for i in range(m) for c in range(F) for h in range(nH) for w in range(nW)]
    if order == "ihwc":
        idx.sort(key=lambda t: (t[0], t[2], t[3], t[1]))
    for i, c, h, w in idx:
        win = (i, slice(None), slice(h * stride, h * stride + f), slice(w * stride, w * stride + f))
        g = float(dZ[i, c, h, w])
        if add_dA:
            dA_pad[win] += W[c] * g
        else:
            dA_pad[win] = W[c] * g
        if add_dW:
            dW[c] += A_pad[win] * g
        else:
            dW[c] = A_pad[win] * g
    return dA_pad, dW


PAD_ZERO_HINT = ("with pad = 0, x[pad:-pad] is empty because -0 == 0: slice with [pad:pad + n_H_prev] "
                 "(and [pad:pad + n_W_prev]), which works for every pad.")
UNPAD = "da_prev_pad[:, pad:pad + n_H_prev, pad:pad + n_W_prev] (for each example i)"
_AXIS_NAMES = ("examples (axis 0)", "channels (axis 1)", "height (axis 2)", "width (axis 3)")


def _slice_text(ndim, axes, starts, lengths):
    parts = [":"] * ndim
    for ax, a, k in zip(axes, starts, lengths):
        parts[ax] = f"{a}:{a + k}"
    return "[" + ", ".join(parts) + "]"


def _find_slice(got, full, axes):
    """(starts, lengths) such that got == full sliced along ``axes``, or None."""
    lengths = [got.shape[ax] for ax in axes]
    if any(k == 0 for k in lengths) or any(got.shape[ax] != full.shape[ax] for ax in range(4) if ax not in axes):
        return None
    ranges = [range(full.shape[ax] - k + 1) for ax, k in zip(axes, lengths)]
    for a in ranges[0]:
        for b in ranges[1]:
            idx = [slice(None)] * 4
            idx[axes[0]], idx[axes[1]] = slice(a, a + lengths[0]), slice(b, b + lengths[1])
            part = full[tuple(idx)]
            if np.allclose(got, part, rtol=1e-4, atol=1e-5 * max(1.0, float(np.max(np.abs(full))))):
                return (a, b), tuple(lengths)
    return None


def _unpad_hint(got, dA_pad, pad, H, W):
    """Say which slice of the padded gradient ``got`` is, when it is one, and what to take instead."""
    if not isinstance(got, np.ndarray) or got.ndim != 4 or got.dtype.kind != "f":
        return None
    right = f"rows {pad}:{pad + H} and columns {pad}:{pad + W}"
    for axes in ((2, 3), (1, 2), (0, 1), (1, 3), (0, 2), (0, 3)):
        found = _find_slice(got, dA_pad, axes)
        if found is None or (axes == (2, 3) and found == ((pad, pad), (H, W))):
            continue
        (a, b), (k, l) = found
        what = f"your dA_prev is dA_prev_pad{_slice_text(4, axes, (a, b), (k, l))} (the padded gradient, sliced)"
        if axes != (2, 3):
            return (f"{what}: you cut {_AXIS_NAMES[axes[0]]} and {_AXIS_NAMES[axes[1]]}, but the padding sits on "
                    f"the height and width, the last two axes of the NCHW layout. Keep {right}: " + UNPAD + ".")
        if (k, l) == (H, W):
            why = (f"the size is right but the slice starts at ({a}, {b}) instead of ({pad}, {pad}): the first pad "
                   "rows and columns are the zeros that zero_pad added")
        elif (k, l) == (W, H):
            why = "height and width are swapped: the rows are n_H_prev long, the columns n_W_prev"
        elif (k, l) == (H - pad, W - pad) and (a, b) == (pad, pad):
            why = "[pad:n_H_prev] ends pad rows too early: the end must be pad + n_H_prev"
        elif k < H or l < W:
            why = (f"it is {k}×{l}, shorter than the input's {H}×{W}; the end of a slice is excluded, so the "
                   "slice that keeps n_H_prev rows from row pad is [pad:pad + n_H_prev]")
        else:
            why = f"it is {k}×{l}, larger than the input's {H}×{W}: strip pad rows and columns from each side"
        return f"{what}: {why}. The input's entries are {right} (pad = {pad}): " + UNPAD + "."
    return None


def _broadcast_unpad_hint(exc, pad, shape):
    """For numpy's "could not broadcast input array from shape X into shape Y" at the un-padding line."""
    found = re.search(r"from shape \(([\d, ]*)\) into shape \(([\d, ]*)\)", str(exc))
    if not found:
        return None
    src, dst = ([int(t) for t in g.split(",") if t.strip()] for g in found.groups())
    m, C, H, W = shape
    if dst not in ([C, H, W], [m, C, H, W]) or len(src) != len(dst):
        return None
    src_hw = src[-2:]
    if pad == 0 and 0 in src_hw:
        return PAD_ZERO_HINT
    padded = [m, C, H + 2 * pad, W + 2 * pad][-len(dst):]
    for axes in [(k, k + 1) for k in range(len(dst) - 2)]:  # the right slice, on the wrong two axes
        wrong = list(padded)
        for ax, n in zip(axes, (H, W)):
            wrong[ax] = len(range(padded[ax])[pad:pad + n])
        if src == wrong:
            names = ("the examples", "the channels", "the height", "the width")
            return (f"the slice you assign into dA_prev has shape {tuple(src)}: it cuts "
                    + " and ".join(names[ax + 4 - len(dst)] for ax in axes)
                    + ", but the padding sits on the height and the width, the last two axes of "
                    + ("da_prev_pad = dA_prev_pad[i] (n_C_prev, n_H_prev + 2·pad, n_W_prev + 2·pad)" if len(dst) == 3
                       else "dA_prev_pad (m, n_C_prev, n_H_prev + 2·pad, n_W_prev + 2·pad)")
                    + ". Keep the channel axis whole: " + UNPAD + ".")
    if src[-3] != C:
        return (f"the slice you assign into dA_prev has shape {tuple(src)}, but dA_prev[i] is "
                f"(n_C_prev, n_H_prev, n_W_prev) = {(C, H, W)}: your slice cut the channel axis. da_prev_pad is "
                f"(n_C_prev, n_H_prev + 2·pad, n_W_prev + 2·pad); keep its first axis whole: " + UNPAD + ".")
    return (f"the slice you assign into dA_prev has {src_hw[0]} rows and {src_hw[1]} columns, but the input has "
            f"n_H_prev = {H} rows and n_W_prev = {W} columns (pad = {pad}). The end of a slice is excluded: keep "
            f"rows {pad}:{pad + H} and columns {pad}:{pad + W}, " + UNPAD + ".")


def _pad_zero_probe(func, A, W, b, stride, pad, dZ):
    """Re-run a padded case on the already padded input with pad = 0 (the same windows, the same
    dZ): right there means the windows and the three rules are right, and the padding is not."""
    if pad == 0:
        return None
    A_pad = np.pad(A, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    _, cache = reference().conv2d_forward(f64(A_pad), f64(W), f64(b), stride=stride, pad=0)
    want = reference().conv2d_backward(f64(dZ), cache)
    try:
        got = func(dZ.copy(), (A_pad, W.copy(), b.copy(), stride, 0))
    except Exception:
        return None
    if isinstance(got, tuple) and len(got) == 3 and all(isinstance(g, np.ndarray) and g.shape == w.shape
                                                          and np.allclose(g, w, rtol=1e-4, atol=1e-4)
                                                          for g, w in zip(got, want)):
        return ("your conv_backward is right for this input with pad = 0 (given A_prev already padded, the same W "
                "and dZ), so the windows and the three rules are right and the padding is what goes wrong: take "
                "every window, and a_slice, from the padded A_prev and add into the padded dA_prev, then keep "
                "only the input's part: " + UNPAD + ".")
    return None


def _conv_backward_case(A, W, b, stride, pad, dZ, note="", func=None):
    ref = reference()
    _, cache = ref.conv2d_forward(f64(A), f64(W), f64(b), stride=stride, pad=pad)
    dA, dW, db = ref.conv2d_backward(f64(dZ), cache)
    m, C, H, Wd = A.shape

    def variants():
        out = [Variant("db is all zeros: did you forget db[c] += dZ[i, c, h, w] (db = dZ summed over m, n_H "
                       "and n_W)?", {"db": np.zeros_like(db)})]
        if m > 1:
            out.append(Variant("db must be summed over the whole batch (all m examples), not one.",
                               {"db": f64(dZ[0]).sum(axis=(1, 2))}))
        for order in ("ichw", "ihwc"):
            dA_pad_bad, _ = _conv_backward_sim(dZ, A, W, stride, pad, add_dA=False, order=order)
            out.append(Variant("your dA_prev keeps only the last window's contribution where windows overlap "
                               "(or filters share a window): accumulate with +=, not =.",
                               {"dA_prev": dA_pad_bad[:, :, pad:pad + H, pad:pad + Wd]}))
        _, dW_bad = _conv_backward_sim(dZ, A, W, stride, pad, add_dW=False)
        out.append(Variant("your dW keeps only the last window: dW[c] must accumulate (+=) a_slice * dZ[i, c, h, w] "
                           "over every window and every example.", {"dW": dW_bad}))
        dA_pad, _ = _conv_backward_sim(dZ, A, W, stride, pad)
        if pad:
            out.append(Variant("your dA_prev still includes the padding: strip it, keep " + UNPAD + ".",
                               {"dA_prev": dA_pad}))
        else:
            out.append(Variant(PAD_ZERO_HINT, {"dA_prev": np.zeros((m, C, 0, 0))}))
        return out

    def pad_probe():
        return _pad_zero_probe(func, A, W, b, stride, pad, dZ) if func is not None else None

    def exception_hint(exc, line):
        if pad == 0 and ":-pad" in line.replace(" ", ""):
            return PAD_ZERO_HINT
        return (_broadcast_unpad_hint(exc, pad, A.shape) or pad_probe()
                or "the cache is (A_prev, W, b, stride, pad); " + LAYOUT + ".")

    def inspect(got):
        got_dA = got.get("dA_prev")
        if not (isinstance(got_dA, np.ndarray) and got_dA.shape == dA.shape and matches(got_dA, dA, A.dtype)):
            dA_pad, _ = _conv_backward_sim(dZ, A, W, stride, pad)
            found = _unpad_hint(got_dA, dA_pad, pad, H, Wd)
            if found:
                return found
        return pad_probe()

    return Case(args=[("dZ", dZ), ("cache", (A, W, b, stride, pad))],
                outputs=[Out("dA_prev", dA, shape_hint="dA_prev has the shape of A_prev (m, n_C_prev, n_H_prev, "
                             "n_W_prev): compute it on a padded copy, then remove the padding."),
                         Out("dW", dW, shape_hint="dW has the shape of W (n_C, n_C_prev, f, f)."),
                         Out("db", db, shape_hint="db has the shape of b (n_C,): dZ summed over m, n_H and n_W.")],
                describe=describe(A.dtype, dZ=dZ, A_prev=A, W=W, stride=stride, pad=pad), dtype=A.dtype, note=note,
                hint="for every window: da_prev_pad[:, window] += W[c] * dZ[i, c, h, w], "
                     "dW[c] += a_slice * dZ[i, c, h, w], db[c] += dZ[i, c, h, w].",
                variants=variants, exception_hint=exception_hint, inspect=inspect)


def conv_backward(func, hidden=False, seed=0):
    """Check ``conv_backward(dZ, cache) -> (dA_prev, dW, db)``, cache ``(A_prev, W, b, stride, pad)``."""
    __tracebackhide__ = True
    ref = reference()

    def make(A, W, b, stride, pad, note="", rng=None):
        shape = ref.conv2d_forward(f64(A), f64(W), f64(b), stride=stride, pad=pad)[0].shape
        if rng is None:
            dZ = np.linspace(-1, 2, int(np.prod(shape))).reshape(shape).astype(A.dtype)
        else:
            dZ = rng.standard_normal(shape).astype(A.dtype)
        return _conv_backward_case(A, W, b, stride, pad, dZ, note, func)

    if not hidden:
        cases = [make(np.arange(9.0).reshape(1, 1, 3, 3), np.array([[[[1.0, -1.0], [2.0, 0.0]]]]), np.zeros(1), 1, 0,
                      "one 3×3 image, one 2×2 filter, overlapping windows"),
                 make(np.linspace(-1, 1, 32).reshape(1, 2, 4, 4), np.linspace(1, -1, 36).reshape(2, 2, 3, 3),
                      np.array([0.5, -0.5]), 2, 1, "2 channels, 2 filters, pad 1, stride 2"),
                 make(np.arange(40.0).reshape(2, 1, 5, 4) / 10, np.linspace(-1, 1, 12).reshape(3, 1, 2, 2),
                      np.zeros(3), 2, 0, "2 non-square images, 3 filters, stride 2"),
                 make(np.linspace(2, -1, 30).reshape(1, 2, 5, 3), np.linspace(-1, 1, 16).reshape(2, 2, 2, 2),
                      np.array([0.1, -0.1]), 1, 2,
                      "a 5×3 image with pad 2: dA_prev keeps rows 2:7 and columns 2:5 of the padded gradient")]
    else:
        rng = np.random.default_rng(seed)
        cases = [make(*_random_conv_args(rng, dt), rng=rng) for dt in float_dtypes(rng, _HIDDEN)]
    run_check("conv_backward", func, cases, hidden=hidden)


# The pooling checks and the PyTorch exercises, under the names the notebook's test cells use.
from .convnet import conv_net, train_step  # noqa: E402
from .pooling import MODES, pool_backward, pool_forward, pool_forward_unknown_mode  # noqa: E402
