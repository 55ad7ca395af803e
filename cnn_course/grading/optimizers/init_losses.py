"""Checks of sections 3-4: He initialisation, and the softmax cross-entropy cost with its gradient."""

from __future__ import annotations

import math

import numpy as np

from ..core import Case, Out, Variant, describe, f64, float_dtypes, forbids, reference, run_check
from ._common import _HIDDEN, LOSS_FORBIDDEN, RNG_HINT, _has_nonfinite, _log_softmax, _pick, _quiet, _softmax_rows


# =========================================================================== initialisation

HE_FORMULA = ("for l = 1, ..., L: W{l} = rng.standard_normal((n[l], n[l-1])) * np.sqrt(2 / n[l-1]) and "
              "b{l} = np.zeros(n[l]), with n = layer_dims")
PARAMS_SHAPES = ("W{l} has shape (n[l], n[l-1]) (one row per unit of layer l, like torch.nn.Linear.weight) and "
                 "b{l} has shape (n[l],): a 1-D vector, because activations are batch-first rows "
                 "(Z = A_prev @ W.T + b).")


def _init_sim(dims, seed, *, std=None, shape="right", b_shape="flat"):
    """He-style initialisation with switchable mistakes (the draws in the documented order)."""
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(1, len(dims)):
        n, n_prev = dims[l], dims[l - 1]
        s = math.sqrt(2 / n_prev) if std is None else std(n, n_prev)
        if shape == "right":
            W = rng.standard_normal((n, n_prev)) * s
        elif shape == "transposed":
            W = rng.standard_normal((n_prev, n)) * s
        else:  # drawn transposed, then turned around
            W = rng.standard_normal((n_prev, n)).T * s
        params[f"W{l}"] = W
        params[f"b{l}"] = np.zeros((n, 1) if b_shape == "column" else n)
    return params


def _init_inspect(dims, seed, expected):
    def inspect(got):
        params = got.get("parameters")
        if not isinstance(params, dict):
            return None
        draws = _init_sim(dims, seed, std=lambda n, n_prev: 1.0)
        for l in range(1, len(dims)):
            W, z = params.get(f"W{l}"), draws[f"W{l}"]
            if not isinstance(W, np.ndarray) or W.shape != z.shape or W.dtype.kind != "f":
                continue
            if np.allclose(W, expected[f"W{l}"], rtol=1e-6, atol=1e-10):
                continue
            scale = float(np.sum(W * z) / np.sum(z * z))
            if np.allclose(W, z * scale, rtol=1e-6, atol=1e-12):
                return (f"W{l} holds the right random numbers times {scale:.6g}; He initialisation multiplies them "
                        f"by np.sqrt(2 / n[l-1]) = np.sqrt(2 / {dims[l - 1]}) = {math.sqrt(2 / dims[l - 1]):.6g}.")
            return RNG_HINT.format(what="s: " + HE_FORMULA + " (no draws for b)")
        return None

    return inspect


def _init_case(dims, seed, note=""):
    expected = reference("init").initialize_parameters(list(dims), "he", np.random.default_rng(seed))

    def variants():
        out = [
            (_init_sim(dims, seed, std=lambda n, n_prev: math.sqrt(1 / n_prev)),
             "you scaled by np.sqrt(1 / n[l-1]) (Xavier initialisation); He initialisation, made for ReLU, uses "
             "np.sqrt(2 / n[l-1])."),
            (_init_sim(dims, seed, std=lambda n, n_prev: math.sqrt(2 / n)),
             "the He scale uses the number of inputs of layer l, n[l-1] = layer_dims[l-1], not n[l]."),
            (_init_sim(dims, seed, std=lambda n, n_prev: 1.0),
             "you did not scale the random numbers: multiply them by np.sqrt(2 / n[l-1])."),
            (_init_sim(dims, seed, shape="transposed"),
             "your W{l} is transposed: " + PARAMS_SHAPES + " Draw rng.standard_normal((n[l], n[l-1]))."),
            (_init_sim(dims, seed, shape="turned"),
             "draw W{l} with the shape (n[l], n[l-1]) directly: drawing (n[l-1], n[l]) and transposing puts the "
             "random numbers in other places."),
            (_init_sim(dims, seed, b_shape="column"),
             "b{l} must be 1-D, of shape (n[l],), not (n[l], 1): " + PARAMS_SHAPES),
        ]
        return [Variant(h, {"parameters": v}) for v, h in out]

    return Case(args=[("layer_dims", list(dims)), ("rng", np.random.default_rng(seed))],
                outputs=[Out("parameters", expected, kind="dict", shape_hint=PARAMS_SHAPES,
                             hints={k: PARAMS_SHAPES for k in expected})],
                describe=f"layer_dims={list(dims)}, rng=np.random.default_rng({seed})", note=note,
                hint=HE_FORMULA + ".", variants=variants, inspect=_init_inspect(dims, seed, expected))


def initialize_parameters_he(func, hidden=False, seed=0):
    """Check ``initialize_parameters_he(layer_dims, rng) -> parameters`` (He initialisation)."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_init_case([3, 2, 1], 1, "3 inputs, a hidden layer of 2 units, 1 output"),
                 _init_case([4, 5, 3, 2], 2, "three layers"),
                 _init_case([6, 4], 3, "a single layer")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for _ in range(_HIDDEN):
            L = int(rng.integers(1, 5))
            dims = [int(d) for d in rng.integers(1, 9, size=L + 1)]
            cases.append(_init_case(dims, int(rng.integers(0, 2**31))))
    run_check("initialize_parameters_he", func, cases, hidden=hidden)


# =========================================================================== softmax and cross-entropy

OVERFLOW_HINT = ("np.exp of a large logit overflows to inf and inf / inf gives nan: subtract each row's maximum "
                 "first, Z − Z.max(axis=1, keepdims=True); the result is the same and the largest exponent "
                 "becomes exp(0) = 1.")
KEEPDIMS_HINT = ("keep the reduced axis so it broadcasts: Z.max(axis=1, keepdims=True) has shape (m, 1) and "
                 "lines up with Z (m, K); Z.max(axis=1) has shape (m,).")


def _random_logits(rng, dt, *, square_ok=False):
    while True:
        m, K = int(rng.integers(1, 7)), int(rng.integers(1, 7))
        if square_ok or m != K:
            break
    Z = rng.standard_normal((m, K)) * 3
    kind = rng.integers(0, 4)
    if kind == 1:  # huge logits: overflow without the max shift
        Z = Z * 300
    elif kind == 2:  # rows at very different heights: a global shift underflows
        Z = Z + rng.choice([-900.0, 0.0, 900.0], size=(m, 1))
    return Z.astype(dt)


VISIBLE_Z = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
SPREAD_Z = np.array([[1000.0, 999.0, 998.0, 997.0], [1.0, 2.0, 3.0, 4.0], [-5.0, 0.0, 5.0, 1.0]])


CE_HINT = ("cost = −(1/m)·Σ_i log softmax(Z)[i, y_i]; compute the log-probabilities directly with log-sum-exp: "
           "log softmax(Z) = Z − max − log Σ_j exp(Z_j − max) (row by row), then pick entry y_i of row i "
           "(logp[np.arange(m), y]).")
LOG_UNDERFLOW_HINT = ("np.log(softmax(Z)) is log(0) = −inf where a probability underflows to 0 (a class far "
                      "below the best one, e.g. logits 1000 apart): compute the log-probabilities directly, "
                      "log softmax(Z) = (Z − max) − np.log(np.sum(np.exp(Z − max), axis=1, keepdims=True)).")
DZ_HINT = ("dZ = (softmax(Z) − one_hot(y)) / m, where one_hot(y)[i, y_i] = 1: start from softmax(Z) (the "
           "notebook's softmax), subtract 1 at [i, y_i] in every row, divide by m.")
NO_SHIFT_HINT = ("your log-sum-exp overflows (or underflows): np.exp of a logit far from 0 is inf (or 0), and its log "
                 "inf (or −inf); subtract each row's maximum before np.exp. " + CE_HINT)
LABELS_HINT = "y holds integer class labels of shape (m,); Z is (m, K)."


def _ce_variants(Z, y, expected):
    """Known mistakes in the cost: (value, hint)."""
    m, K = Z.shape
    logp = _log_softmax(Z)
    return [(expected * m, "average over the m examples (np.mean or divide by m); you summed the losses."),
            (-float(np.mean(_pick(np.exp(logp), y))),
             "you forgot the log: the cost is −log p[i, y_i], not −p[i, y_i]."),
            (_quiet(lambda: -float(np.mean(np.log(_pick(_softmax_rows(Z), y))))), LOG_UNDERFLOW_HINT),
            (_quiet(lambda: -float(np.mean(_pick(_log_softmax(Z, shift=False), y)))), NO_SHIFT_HINT),
            (_quiet(lambda: -float(np.mean(np.log(_pick(f64(Z), y))))),
             "Z holds logits (any real numbers), not probabilities: turn them into log-probabilities first. "
             + CE_HINT),
            (expected / K, "average over the m examples only: averaging −one_hot·log p over all m·K entries "
             "also divides by K."),
            (-expected, "the cost is −log p (a positive number): you lost the minus sign."),
            (-float(np.mean(logp[:, y])), "pick one entry per row, logp[np.arange(m), y]; logp[:, y] takes "
             "every row for every label.")]


def _dz_variants(Z, y):
    """Known mistakes in the gradient: (value, hint)."""
    m, K = Z.shape
    A = _softmax_rows(Z)
    Y = np.zeros((m, K))
    Y[np.arange(m), y] = 1.0
    return [(A - Y, "divide dZ by m: the cost is the mean over the m examples, so every example's gradient "
             "carries a factor 1/m."),
            ((Y - A) / m, "the sign of dZ is flipped: dZ = (softmax(Z) − one_hot(y)) / m."),
            (A / m, "subtract the one-hot labels: dZ = (softmax(Z) − one_hot(y)) / m."),
            ((A - Y) / (m * K), "divide dZ by m only (the number of examples), not by m·K."),
            (_quiet(lambda: (_softmax_rows(Z, shift=False) - Y) / m),
             "the softmax in your dZ overflows: " + OVERFLOW_HINT)]


def _nonfinite_outputs(got):
    for name, hint in (("cost", LOG_UNDERFLOW_HINT), ("dZ", OVERFLOW_HINT)):
        value = got.get(name)
        if value is not None and _has_nonfinite(value):
            return f"your {name} contains nan or inf: {hint}"
    return None


def _sce_case(Z, y, note=""):
    cost, dZ = reference("losses").softmax_cross_entropy(Z.copy(), y.copy())
    cost = float(cost)

    def variants():
        # Without the max shift both outputs go wrong together; naming them both tells this
        # mistake apart from np.log(softmax(Z)), whose cost can be just as infinite.
        m = Z.shape[0]
        logp = _quiet(_log_softmax, Z, shift=False)
        one_hot = np.eye(Z.shape[1])[y]
        no_shift = Variant(NO_SHIFT_HINT, {"cost": _quiet(lambda: -float(np.mean(_pick(logp, y)))),
                                           "dZ": _quiet(lambda: (np.exp(logp) - one_hot) / m)})
        return ([no_shift] + [Variant(h, {"cost": v}) for v, h in _ce_variants(Z, y, cost)]
                + [Variant(h, {"dZ": v}) for v, h in _dz_variants(Z, y)])

    return Case(args=[("Z", Z), ("y", y)],
                outputs=[Out("cost", cost, kind="scalar"),
                         Out("dZ", dZ, shape_hint="dZ has the shape of Z, (m, K).")],
                describe=describe(Z.dtype, Z=Z, y=y), dtype=Z.dtype, note=note, hint=CE_HINT + " " + DZ_HINT,
                variants=variants, inspect=_nonfinite_outputs,
                exception_hint=lambda exc, line: KEEPDIMS_HINT if "broadcast" in str(exc) else LABELS_HINT)


VISIBLE_Y = np.array([2, 0])
HUGE_CE_Z = np.array([[1000.0, 0.0, -1000.0], [2.0, 1.0, 0.0]])
HUGE_CE_Y = np.array([1, 0])


def _random_labels(rng, Z):
    return rng.integers(0, Z.shape[1], size=Z.shape[0]).astype(np.int64)


@forbids(*LOSS_FORBIDDEN)
def softmax_cross_entropy(func, hidden=False, seed=0):
    """Check ``softmax_cross_entropy(Z, y) -> (cost, dZ)``: the mean cross-entropy of softmax(Z)
    computed stably from the logits, and its gradient (softmax(Z) − one_hot(y)) / m."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_sce_case(VISIBLE_Z.copy(), VISIBLE_Y.copy(), "two examples, three classes, labels [2, 0]"),
                 _sce_case(HUGE_CE_Z.copy(), HUGE_CE_Y.copy(),
                           "huge logits: the first example's class is 1000 below the best, so its loss is 1000"),
                 _sce_case(SPREAD_Z.copy(), np.array([0, 2, 1]), "rows at very different heights"),
                 _sce_case(np.array([[0.5, -0.5, 0.0, 1.0]]), np.array([3]), "a single example, four classes")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for dt in float_dtypes(rng, _HIDDEN):
            Z = _random_logits(rng, dt)
            if Z.shape[1] == 1:
                Z = np.concatenate([Z, -Z], axis=1)
            cases.append(_sce_case(Z, _random_labels(rng, Z)))
    run_check("softmax_cross_entropy", func, cases, hidden=hidden, forbidden=LOSS_FORBIDDEN)
