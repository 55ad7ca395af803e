"""Checks for the pooling exercises of the topic-1 notebook: pool_forward (and its unknown
modes) and pool_backward (the notebook gives its two window helpers, create_mask_from_window
and distribute_value, as worked code).

The notebook imports them through :mod:`.convolution` (``check.pool_forward``, ...). The
mode names are the course's, "max" and "average", as in :mod:`cnn_course.ref.pool`.
"""

from __future__ import annotations

import numpy as np

from .core import Case, Out, Variant, describe, f64, float_dtypes, reference, run_check

__all__ = ["MODES", "pool_forward", "pool_forward_unknown_mode", "pool_backward"]

MODES = ("max", "average")  # the course's names, in the exercises and in cnn_course.ref / pt


# --------------------------------------------------------------------------- pool_forward


def _pool(A, f, stride, mode):
    return reference().pool2d_forward(f64(A), f, stride, mode=mode)[0]


def _pool_forward_case(A, f, stride, mode, note=""):
    out_exp = _pool(A, f, stride, mode)

    def variants():
        other = "average" if mode == "max" else "max"
        out = [(_pool(A, f, stride, other),
                f"your A holds the {'average' if mode == 'max' else 'maximum'} of each window, but mode="
                f"\"{mode}\" must take the {'maximum (np.max)' if mode == 'max' else 'mean (np.mean)'}."
                + (" If your code compares mode with \"avg\": " + SPELLING if mode == "average" else "")),
               (out_exp.transpose(0, 2, 3, 1), "your A has the right numbers in channels-last order "
                "(m, n_H, n_W, n_C); the layout is (m, n_C, n_H, n_W)."),
               (out_exp[:, :, :-1, :-1], "your A is one row and one column short: n_H = ⌊(n_H_prev − f) / "
                "stride⌋ + 1.")]
        if stride != 1:
            out.append((_pool(A, f, 1, mode), "your A is what stride = 1 gives: the window must move by "
                        "stride (vert_start = h * stride)."))
        if stride != f and f <= min(A.shape[2:]):
            out.append((_pool(A, f, f, mode), "your A is what non-overlapping windows (stride = f) give: "
                        "start each window at h * stride; windows overlap when stride < f."))
        return [Variant(h, {"A": v}) for v, h in out if v.size]

    def probe(func):
        return _spelling_probe(lambda m: func(A.copy(), f, stride, m), out_exp, mode) or channels_last(func)

    def channels_last(func):
        try:
            res = func(A.transpose(0, 2, 3, 1).copy(), f, stride, mode)
        except Exception:
            return None
        got = res[0] if isinstance(res, tuple) else res
        want = out_exp.transpose(0, 2, 3, 1)
        if isinstance(got, np.ndarray) and got.shape == want.shape and np.allclose(got, want, atol=1e-4):
            return ("your function is correct for channels-last arrays (m, n_H, n_W, n_C), but the course's "
                    "layout is (m, n_C, n_H, n_W): read m, n_C, n_H_prev, n_W_prev = A_prev.shape.")
        return None

    return Case(args=[("A_prev", A), ("f", f), ("stride", stride), ("mode", mode)],
                outputs=[Out("A", out_exp, shape_hint="A must be (m, n_C, n_H, n_W) with n_H = ⌊(n_H_prev − f) / "
                             "stride⌋ + 1 (pooling has no padding and keeps the channels)."),
                         Out("cache", (A, f, stride, mode), kind="cache")],
                describe=describe(A.dtype, A_prev=A, f=f, stride=stride, mode=mode), dtype=A.dtype, note=note,
                hint=f"A[i, c, h, w] is the {'maximum' if mode == 'max' else 'mean'} of the f × f window of "
                     "A_prev[i, c] that starts at (h * stride, w * stride).",
                variants=variants, probes=probe)


SPELLING = ('this course spells the mode "average" (in pool_forward, in its cache and in pool_backward), '
            'as the exercise text does; torch\'s class is called AvgPool2d, but the mode string here is "average".')


def _spelling_probe(call, expected, mode):
    """A hint when the student's function does average pooling under the name "avg" instead."""
    if mode != "average":
        return None
    try:
        res = call("avg")
    except Exception:
        return None
    got = res[0] if isinstance(res, tuple) and res and isinstance(res[0], np.ndarray) else res
    if isinstance(got, np.ndarray) and got.shape == expected.shape and np.allclose(got, expected, atol=1e-4):
        return ('your function does average pooling when called with mode="avg", but not with mode="average": '
                + SPELLING)
    return None


def _modes(mode):
    if mode is None:
        return MODES
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES} or None, got {mode!r}")
    return (mode,)


def _random_pool_args(rng, dt, mode):
    while True:
        m, C, f, stride = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 5)), \
            int(rng.integers(1, 4))
        H, Wd = int(rng.integers(1, 8)), int(rng.integers(1, 8))
        if f <= H and f <= Wd and H != Wd:
            break
    shape = (m, C, H, Wd)
    if mode == "max" and rng.integers(0, 2):  # small integers: many tied maxima
        A = rng.integers(0, 4, size=shape).astype(dt)
    else:
        A = rng.standard_normal(shape).astype(dt)
    return A, f, stride


def _label(name, mode):
    return name if mode is None else f'{name} (mode="{mode}")'


VISIBLE_POOL = np.array([[1.0, 3.0, 2.0, 1.0], [4.0, 6.0, 5.0, 0.0], [3.0, 2.0, 1.0, 0.0], [1.0, 2.0, 3.0, 4.0]])
VISIBLE_OVERLAP = np.array([[1.0, 5.0, 2.0, 2.0, 0.0], [3.0, 1.0, 5.0, 1.0, 6.0], [2.0, 5.0, 0.0, 3.0, 1.0]])


def pool_forward(func, hidden=False, seed=0, mode=None):
    """Check ``pool_forward(A_prev, f, stride, mode) -> (A, cache)``; ``mode`` limits to one mode."""
    __tracebackhide__ = True
    modes = _modes(mode)
    if not hidden:
        cases = []
        for md in modes:
            cases.append(_pool_forward_case(VISIBLE_POOL.reshape(1, 1, 4, 4), 2, 2, md,
                                            f"{md} pooling, 2×2 windows, stride 2"))
            cases.append(_pool_forward_case(VISIBLE_OVERLAP.reshape(1, 1, 3, 5), 2, 1, md,
                                            f"{md} pooling, overlapping 2×2 windows, stride 1"))
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k, dt in enumerate(float_dtypes(rng, 24)):
            md = modes[k % len(modes)]
            cases.append(_pool_forward_case(*_random_pool_args(rng, dt, md), md))
    run_check("pool_forward", func, cases, hidden=hidden, label=_label("pool_forward", mode))


def _unknown_mode_case(A, f, stride, mode, note=""):
    """pool_forward with a mode that is neither "max" nor "average": it must raise ValueError."""
    shape = _pool(A, f, stride, "max").shape

    def inspect(got):
        res = got.get("returned")
        out = res[0] if isinstance(res, tuple) and res else res
        if not isinstance(out, np.ndarray) or out.shape != shape:
            return None
        for name, how in (("average", 'as "average"'), ("max", 'as "max"')):
            if np.allclose(out, _pool(A, f, stride, name), atol=1e-4):
                return (f"your function pooled mode={mode!r} {how}: an `else:` (or a default) treats every "
                        f"unknown mode like one of the two. Test for \"max\" and for \"average\" explicitly and "
                        "raise ValueError for anything else, so that a typo such as mode=\"mean\" is reported "
                        "instead of silently giving other numbers.")
        if np.all(out == 0):
            return (f"your function returned the zeros it started with: no branch matched mode={mode!r}, so "
                    "nothing was computed and nothing was reported. Add a last `else:` that raises ValueError "
                    "(or check the mode before the loops).")
        return None

    return Case(args=[("A_prev", A), ("f", f), ("stride", stride), ("mode", mode)], outputs=[],
                describe=describe(A.dtype, A_prev=A, f=f, stride=stride, mode=mode), dtype=A.dtype, note=note,
                raises=ValueError, inspect=inspect,
                hint=(f'mode={mode!r} is neither "max" nor "average": raise ValueError, with a message that '
                      'names the mode you got and the two allowed ones, before (or instead of) computing anything.'))


UNKNOWN_MODES = ("min", "sum", "median", "", "l2")


def pool_forward_unknown_mode(func, hidden=False, seed=0):
    """Check that ``pool_forward`` raises ValueError for a mode other than "max" and "average"."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_unknown_mode_case(VISIBLE_POOL.reshape(1, 1, 4, 4), 2, 2, "min", 'mode="min" is not a mode')]
    else:
        rng = np.random.default_rng(seed)
        cases = [_unknown_mode_case(*_random_pool_args(rng, dt, "average"), mode)
                 for dt, mode in zip(float_dtypes(rng, len(UNKNOWN_MODES)), UNKNOWN_MODES)]
    run_check("pool_forward", func, cases, hidden=hidden, label="pool_forward (unknown modes)")


# --------------------------------------------------------------------------- pool_backward


def _first_max_mask(x):
    mask = np.zeros(x.shape, dtype=bool)
    mask[np.unravel_index(np.argmax(x), x.shape)] = True
    return mask


def _window_mask(a, ties):
    """The max-pooling mask of window ``a``: the first maximum (right), or a known mistake."""
    if ties == "all":
        return a == a.max()
    if ties == "last":
        return _first_max_mask(a[::-1, ::-1])[::-1, ::-1]
    if ties == "column":
        return _first_max_mask(a.T).T
    if ties == "min":
        return _first_max_mask(-a)
    return _first_max_mask(a)


def _pool_backward_sim(dA, A, f, stride, mode, *, add=True, ties="first", stale=False, divisor=None):
    """Loop version of the pooling backward with switchable mistakes (``divisor``: what an
    average window divides its gradient by, f·f when None)."""
    A = f64(A)
    dX = np.zeros(A.shape)
    kept = np.zeros((f, f), dtype=bool)
    m, C, nH, nW = dA.shape
    for i in range(m):
        for c in range(C):
            for h in range(nH):
                for w in range(nW):
                    win = (i, c, slice(h * stride, h * stride + f), slice(w * stride, w * stride + f))
                    g = float(dA[i, c, h, w])
                    if mode == "max":
                        a = A[win]
                        mask = _window_mask(a, ties)
                        if stale:
                            kept |= _first_max_mask(a)
                            mask = kept
                        contrib = mask * g
                    else:
                        contrib = np.full((f, f), g / (f * f if divisor is None else divisor))
                    if add:
                        dX[win] += contrib
                    else:
                        dX[win] = contrib
    return dX


def _pool_backward_case(A, f, stride, mode, dA, note=""):
    ref = reference()
    _, cache = ref.pool2d_forward(f64(A), f, stride, mode=mode)
    expected = ref.pool2d_backward(f64(dA), cache)

    def variants():
        sim = lambda **kw: _pool_backward_sim(dA, A, f, stride, mode, **kw)  # noqa: E731
        out = [(sim(add=False), "your dA_prev keeps only the last window's gradient where windows overlap "
                "(stride < f): accumulate with +=, not =.")]
        if mode == "max":
            out += [(sim(ties="all"), "your gradient goes to every tied maximum of a window; only the first "
                     "maximum (row-major, as np.argmax) should get it, as in PyTorch (create_mask_from_window "
                     "does this)."),
                    (sim(ties="last"), "your gradient goes to the last of a window's tied maxima; it goes to the "
                     "first one (row-major, as np.argmax returns it, and as create_mask_from_window marks it)."),
                    (sim(ties="column"), "your gradient goes to the first maximum in column-major order; use "
                     "row-major order, as np.argmax on the window (create_mask_from_window) does."),
                    (sim(ties="min"), "your gradient goes to the minimum of each window; it goes to the maximum."),
                    (sim(stale=True), "your mask keeps the True entries of earlier windows: build a fresh mask "
                     "for every window (reset it inside the loop).")]
        else:
            out += [(sim(divisor=1), "every entry of a window got the whole gradient dA[i, c, h, w]: divide it "
                     "by the number of entries in the window, f·f (distribute_value does this)."),
                    (sim(divisor=f), "you divided dA[i, c, h, w] by f; the window has f·f entries, each of "
                     "which gets 1/(f·f) of it.")]
        other = "average" if mode == "max" else "max"
        out.append((_pool_backward_sim(dA, A, f, stride, other),
                    f"your dA_prev is the gradient of {other} pooling; cache[3] is mode=\"{mode}\"."))
        return [Variant(h, {"dA_prev": v}) for v, h in out]

    def inspect(got):
        out = got.get("dA_prev")
        if isinstance(out, np.ndarray) and out.shape == expected.shape and not np.any(out) and np.any(expected):
            return (f"your dA_prev is all zeros: no branch of your function ran for mode=\"{mode}\" (cache[3])"
                    + (". Check the spelling: " + SPELLING if mode == "average" else "."))
        return None

    return Case(args=[("dA", dA), ("cache", (A, f, stride, mode))],
                outputs=[Out("dA_prev", expected, shape_hint="dA_prev has the shape of A_prev.")],
                describe=describe(A.dtype, dA=dA, A_prev=A, f=f, stride=stride, mode=mode), dtype=A.dtype, note=note,
                hint=("each window passes dA[i, c, h, w] to its first maximum (mask * dA), added (+=) into "
                      "dA_prev." if mode == "max" else
                      "each window spreads dA[i, c, h, w] evenly over its f·f entries, added (+=) into dA_prev."),
                variants=variants, inspect=inspect,
                probes=lambda func: _spelling_probe(lambda m: func(dA.copy(), (A, f, stride, m)), expected, mode),
                exception_hint=lambda exc, line: "the cache is (A_prev, f, stride, mode) and every array is "
                                           "(m, n_C, n_H, n_W).")


def pool_backward(func, hidden=False, seed=0, mode=None):
    """Check ``pool_backward(dA, cache) -> dA_prev``, cache ``(A_prev, f, stride, mode)``."""
    __tracebackhide__ = True
    ref = reference()
    modes = _modes(mode)

    def make(A, f, stride, md, note="", rng=None):
        shape = ref.pool2d_forward(f64(A), f, stride, mode=md)[0].shape
        if rng is None:
            dA = np.linspace(1, 2, int(np.prod(shape))).reshape(shape).astype(A.dtype)
        else:
            dA = rng.standard_normal(shape).astype(A.dtype)
        return _pool_backward_case(A, f, stride, md, dA, note)

    if not hidden:
        cases = []
        for md in modes:
            cases.append(make(VISIBLE_POOL.reshape(1, 1, 4, 4), 2, 2, md, f"{md} pooling, 2×2 windows, stride 2"))
            cases.append(make(VISIBLE_OVERLAP.reshape(1, 1, 3, 5), 2, 1, md,
                              f"{md} pooling, overlapping 2×2 windows, stride 1"
                              + (", tied maxima" if md == "max" else "")))
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k, dt in enumerate(float_dtypes(rng, 24)):
            md = modes[k % len(modes)]
            A, f, stride = _random_pool_args(rng, dt, md)
            cases.append(make(A, f, stride, md, rng=rng))
    run_check("pool_backward", func, cases, hidden=hidden, label=_label("pool_backward", mode))
