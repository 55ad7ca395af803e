"""Checks for the topic-2 notebook (initialisation, losses, regularisation, optimisers).

Each public function takes the student's function, runs a few fixed, explainable cases
(``hidden=False``) or ~20 random ones drawn from ``np.random.default_rng(seed)``
(``hidden=True``), and raises :class:`~cnn_course.grading.CheckFailed` with a teaching
message on the first problem. Expected values come from :mod:`cnn_course.ref`; the known
mistakes used for hints are computed next to them.

Conventions (the course's, see the notebook): activations are batch-first rows (m, n),
W{l} is (n[l], n[l-1]) and b{l} is (n[l],), labels are integer classes y (m,), and every
function that needs randomness takes a ``numpy.random.Generator`` ``rng``: the check hands
the student a freshly seeded generator and computes the expected result from an
identically seeded one, so exactly the documented draws must be made.

The update rules take and return a state dict. A student may update the dict they were
given or build a new one; either way the returned state must hold the new values (and
Adam's ``"t"`` must be the int step count).
"""

from __future__ import annotations

import math

import numpy as np

from .core import FORBIDDEN, Case, Out, Variant, describe, f64, float_dtypes, reference, run_check

__all__ = [
    "initialize_parameters_he", "softmax", "cross_entropy_cost", "softmax_cross_entropy_backward",
    "compute_cost_with_l2", "l2_backward", "dropout_forward", "dropout_backward", "gradient_check",
    "random_mini_batches", "momentum_update", "rmsprop_update", "adam_update", "lr_inverse_time",
    "lr_scheduled", "sample_log_uniform",
]

_HIDDEN = 20
# scipy.special has softmax and logsumexp ready-made: not for the loss exercises.
LOSS_FORBIDDEN = FORBIDDEN + ("scipy.special",)

RNG_HINT = ("use the rng argument you were given (a numpy.random.Generator) and make exactly the documented "
            "draw{what}; np.random.* functions (np.random.randn, np.random.rand, np.random.permutation, ...) "
            "use NumPy's global generator, so the result cannot be reproduced from rng.")







def _shapes(d: dict) -> str:
    return "{" + ", ".join(f"{k}: {v.shape}" for k, v in d.items()) + "}"


def _quiet(fn, *args, **kw):
    """Run a variant formula that may overflow (the mistake it models does) without warnings."""
    with np.errstate(all="ignore"):
        return fn(*args, **kw)


def _has_nonfinite(got) -> bool:
    try:
        return not bool(np.all(np.isfinite(np.asarray(got, dtype=np.float64))))
    except (TypeError, ValueError):
        return False


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

SOFTMAX_HINT = ("A[i, k] = exp(Z[i, k] − max_j Z[i, j]) / Σ_j exp(Z[i, j] − max_j Z[i, j]): one row per example, "
                "the max and the sum over axis=1 with keepdims=True.")
OVERFLOW_HINT = ("np.exp of a large logit overflows to inf and inf / inf gives nan: subtract each row's maximum "
                 "first, Z − Z.max(axis=1, keepdims=True); the result is the same and the largest exponent "
                 "becomes exp(0) = 1.")
KEEPDIMS_HINT = ("keep the reduced axis so it broadcasts: Z.max(axis=1, keepdims=True) has shape (m, 1) and "
                 "lines up with Z (m, K); Z.max(axis=1) has shape (m,).")


def _softmax_rows(Z, axis=1, shift="row"):
    """Softmax with switchable mistakes, in Z's own dtype (float32 overflows where the student's does)."""
    Z = np.asarray(Z)
    if shift == "row":
        Z = Z - Z.max(axis=axis, keepdims=True)
    elif shift == "global":
        Z = Z - Z.max()
    e = np.exp(Z)
    return e / (e.sum() if axis is None else e.sum(axis=axis, keepdims=True))


def _nonfinite_inspect(name, hint):
    def inspect(got):
        value = got.get(name)
        return hint if value is not None and _has_nonfinite(value) else None

    return inspect


def _softmax_case(Z, note=""):
    expected = reference("losses").softmax(Z.copy())

    def variants():
        out = [(_quiet(_softmax_rows, Z, shift=None), "your softmax overflows: " + OVERFLOW_HINT),
               (_quiet(_softmax_rows, Z, shift="global"),
                "subtract each row's own maximum (Z.max(axis=1, keepdims=True)), not the maximum of the whole "
                "array: a row far below the global maximum underflows to exp(−1000) = 0, and 0 / 0 is nan."),
               (_quiet(_softmax_rows, Z, axis=0),
                "each row of A (one example) must sum to 1: take the max and the sum over axis=1 (the classes), "
                "not axis=0 (the examples)."),
               (_quiet(_softmax_rows, Z, axis=None),
                "normalise each row separately (sum over axis=1 with keepdims=True), not the whole array at once.")]
        return [Variant(h, {"A": v}) for v, h in out]

    return Case(args=[("Z", Z)],
                outputs=[Out("A", expected, shape_hint="A has the shape of Z, (m, K); a result of shape (m, m) "
                             "means a max or a sum lost its axis: " + KEEPDIMS_HINT)],
                describe=describe(Z.dtype, Z=Z), dtype=Z.dtype, note=note, hint=SOFTMAX_HINT, variants=variants,
                inspect=_nonfinite_inspect("A", "your A contains nan or inf: " + OVERFLOW_HINT),
                exception_hint=lambda exc, line: KEEPDIMS_HINT if "broadcast" in str(exc) else SOFTMAX_HINT)


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
HUGE_Z = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0]])
SPREAD_Z = np.array([[1000.0, 999.0, 998.0, 997.0], [1.0, 2.0, 3.0, 4.0], [-5.0, 0.0, 5.0, 1.0]])


def softmax(func, hidden=False, seed=0):
    """Check ``softmax(Z) -> A`` for logits Z of shape (m, K), rows summing to 1."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_softmax_case(VISIBLE_Z.copy(), "two examples, three classes; the second row is uniform"),
                 _softmax_case(HUGE_Z.copy(), "huge logits: np.exp(1000) overflows unless you shift by the row max"),
                 _softmax_case(SPREAD_Z.copy(), "rows at very different heights: shift each row by its own max")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_softmax_case(_random_logits(rng, dt)) for dt in float_dtypes(rng, _HIDDEN)]
    run_check("softmax", func, cases, hidden=hidden, forbidden=LOSS_FORBIDDEN)


CE_HINT = ("cost = −(1/m)·Σ_i log softmax(Z)[i, y_i]; compute the log-probabilities directly with log-sum-exp: "
           "log softmax(Z) = Z − max − log Σ_j exp(Z_j − max) (row by row).")
LOG_UNDERFLOW_HINT = ("np.log(softmax(Z)) is log(0) = −inf where a probability underflows to 0 (a class far "
                      "below the best one, e.g. logits 1000 apart): compute the log-probabilities directly, "
                      "log softmax(Z) = (Z − max) − np.log(np.sum(np.exp(Z − max), axis=1, keepdims=True)).")


def _log_softmax(Z, shift=True):
    Z = np.asarray(Z)
    if shift:
        Z = Z - Z.max(axis=1, keepdims=True)
    return Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))


def _pick(M, y):
    return M[np.arange(M.shape[0]), y]


def _ce_case(Z, y, note=""):
    expected = float(reference("losses").cross_entropy(Z.copy(), y.copy()))
    m, K = Z.shape

    def variants():
        logp = _log_softmax(Z)
        out = [(expected * m, "average over the m examples (np.mean or divide by m); you summed the losses."),
               (-float(np.mean(_pick(np.exp(logp), y))),
                "you forgot the log: the cost is −log p[i, y_i], not −p[i, y_i]."),
               (_quiet(lambda: -float(np.mean(np.log(_pick(_softmax_rows(Z), y))))), LOG_UNDERFLOW_HINT),
               (_quiet(lambda: -float(np.mean(np.log(_pick(f64(Z), y))))),
                "Z holds logits (any real numbers), not probabilities: turn them into log-probabilities first. "
                + CE_HINT),
               (_quiet(lambda: -float(np.mean(_pick(_log_softmax(Z, shift=False), y)))),
                "your log-sum-exp overflows: subtract the row maximum before np.exp. " + CE_HINT),
               (expected / K, "average over the m examples only: averaging −one_hot·log p over all m·K entries "
                "also divides by K."),
               (-expected, "the cost is −log p (a positive number): you lost the minus sign."),
               (-float(np.mean(logp[:, y])), "pick one entry per row, logp[np.arange(m), y]; logp[:, y] takes "
                "every row for every label.")]
        return [Variant(h, {"cost": v}) for v, h in out]

    return Case(args=[("Z", Z), ("y", y)], outputs=[Out("cost", expected, kind="scalar")],
                describe=describe(Z.dtype, Z=Z, y=y), dtype=Z.dtype, note=note, hint=CE_HINT, variants=variants,
                inspect=_nonfinite_inspect("cost", "your cost is nan or inf: " + LOG_UNDERFLOW_HINT),
                exception_hint=lambda exc, line: (KEEPDIMS_HINT if "broadcast" in str(exc) else
                                                  "y holds integer class labels of shape (m,); Z is (m, K)."))


VISIBLE_Y = np.array([2, 0])
HUGE_CE_Z = np.array([[1000.0, 0.0, -1000.0], [2.0, 1.0, 0.0]])
HUGE_CE_Y = np.array([1, 0])


def _random_labels(rng, Z):
    return rng.integers(0, Z.shape[1], size=Z.shape[0]).astype(np.int64)


def cross_entropy_cost(func, hidden=False, seed=0):
    """Check ``cross_entropy_cost(Z, y) -> float``: mean cross-entropy from logits, stable."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_ce_case(VISIBLE_Z.copy(), VISIBLE_Y.copy(), "the softmax example, labels [2, 0]"),
                 _ce_case(HUGE_CE_Z.copy(), HUGE_CE_Y.copy(),
                          "huge logits: the first example's class is 1000 below the best, so its loss is 1000"),
                 _ce_case(np.array([[0.5, -0.5]]), np.array([1]), "a single example, two classes")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for dt in float_dtypes(rng, _HIDDEN):
            Z = _random_logits(rng, dt)
            if Z.shape[1] == 1:
                Z = np.concatenate([Z, -Z], axis=1)
            cases.append(_ce_case(Z, _random_labels(rng, Z)))
    run_check("cross_entropy_cost", func, cases, hidden=hidden, forbidden=LOSS_FORBIDDEN)


DZ_HINT = "dZ = (softmax(Z) − one_hot(y)) / m, where one_hot(y)[i, y_i] = 1."


def _dz_case(Z, y, note=""):
    expected = reference("losses").softmax_cross_entropy(Z.copy(), y.copy())[1]
    m, K = Z.shape

    def variants():
        A = _softmax_rows(Z)
        Y = np.zeros((m, K))
        Y[np.arange(m), y] = 1.0
        out = [(A - Y, "divide by m: the cost is the mean over the m examples, so every example's gradient "
                "carries a factor 1/m."),
               ((Y - A) / m, "the sign is flipped: dZ = (softmax(Z) − one_hot(y)) / m."),
               (A / m, "subtract the one-hot labels: dZ = (softmax(Z) − one_hot(y)) / m."),
               ((A - Y) / (m * K), "divide by m only (the number of examples), not by m·K."),
               (_quiet(lambda: (_softmax_rows(Z, shift=None) - Y) / m), "your softmax overflows: " + OVERFLOW_HINT)]
        return [Variant(h, {"dZ": v}) for v, h in out]

    return Case(args=[("Z", Z), ("y", y)],
                outputs=[Out("dZ", expected, shape_hint="dZ has the shape of Z, (m, K).")],
                describe=describe(Z.dtype, Z=Z, y=y), dtype=Z.dtype, note=note, hint=DZ_HINT, variants=variants,
                inspect=_nonfinite_inspect("dZ", "your dZ contains nan or inf: " + OVERFLOW_HINT),
                exception_hint=lambda exc, line: "y holds integer class labels of shape (m,); Z is (m, K).")


def softmax_cross_entropy_backward(func, hidden=False, seed=0):
    """Check ``softmax_cross_entropy_backward(Z, y) -> dZ = (softmax(Z) − one_hot(y)) / m``."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_dz_case(VISIBLE_Z.copy(), VISIBLE_Y.copy(), "the softmax example, labels [2, 0]"),
                 _dz_case(SPREAD_Z.copy(), np.array([0, 2, 1]), "huge logits, rows at very different heights"),
                 _dz_case(np.array([[0.5, -0.5, 0.0, 1.0]]), np.array([3]), "a single example")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for dt in float_dtypes(rng, _HIDDEN):
            Z = _random_logits(rng, dt)
            cases.append(_dz_case(Z, _random_labels(rng, Z)))
    run_check("softmax_cross_entropy_backward", func, cases, hidden=hidden, forbidden=LOSS_FORBIDDEN)


# =========================================================================== L2 regularisation

L2_COST_HINT = ("cost = cross_entropy + λ/(2m) · Σ_l ‖W{l}‖², with ‖W‖² = np.sum(np.square(W)) over the weights "
                "W1, ..., WL only (no biases).")


def _layers(params):
    return sorted(int(k[1:]) for k in params if k.startswith("W"))


def _sumsq(params, prefix="W", layers=None):
    return float(sum(np.sum(np.square(f64(params[f"{prefix}{l}"]))) for l in (layers or _layers(params))))


def _random_params(rng, dt, dims=None, bias_scale=1.0):
    if dims is None:
        L = int(rng.integers(1, 4))
        dims = [int(d) for d in rng.integers(1, 6, size=L + 1)]
    params = {}
    for l in range(1, len(dims)):
        params[f"W{l}"] = rng.standard_normal((dims[l], dims[l - 1])).astype(dt)
        params[f"b{l}"] = (rng.standard_normal(dims[l]) * bias_scale).astype(dt)
    return params


def _l2_cost_case(ce, params, lambd, m, note=""):
    expected = float(ce + reference("losses").l2_cost({k: v.copy() for k, v in params.items()}, lambd, m))
    dtype = params["W1"].dtype

    def variants():
        w2 = _sumsq(params)
        layers = _layers(params)
        out = [(ce + lambd / m * w2, "the L2 term is λ/(2m)·Σ‖W‖²; you used λ/m (that factor belongs to the "
                "gradient, where the 2 of the square cancels the 1/2)."),
               (ce + lambd / (2 * m) * (w2 + _sumsq(params, "b")),
                "regularise the weights only: leave the biases b{l} out of the sum."),
               (lambd / (2 * m) * w2, "add the L2 term to the cross-entropy cost you were given."),
               (ce + lambd / (2 * m) * sum(np.linalg.norm(f64(params[f"W{l}"])) for l in layers),
                "use the squared norm, np.sum(np.square(W)); np.linalg.norm(W) is its square root."),
               (ce + lambd / (2 * m) * sum(float(np.sum(f64(params[f"W{l}"]))) for l in layers),
                "square the weights before summing: np.sum(np.square(W))."),
               (ce + lambd / 2 * w2, "divide by m too: λ/(2m)·Σ‖W‖²."),
               (ce + lambd / (2 * m) * _sumsq(params, layers=layers[-1:]),
                "sum over every layer l = 1, ..., L, not only the last one."),
               (ce + lambd / (2 * m) * _sumsq(params, layers=layers[:1]),
                "sum over every layer l = 1, ..., L, not only the first one.")]
        return [Variant(h, {"cost": v}) for v, h in out]

    return Case(args=[("cross_entropy", ce), ("params", params), ("lambd", lambd), ("m", m)],
                outputs=[Out("cost", expected, kind="scalar")],
                describe=f"cross_entropy={ce:.6g}, params={_shapes(params)}, lambd={lambd:.6g}, m={m}, "
                         f"dtype={np.dtype(dtype).name}",
                dtype=dtype, note=note, hint=L2_COST_HINT, variants=variants,
                exception_hint=lambda exc, line: ("params holds W1, b1, ..., WL, bL; L = len(params) // 2."
                                                  if isinstance(exc, KeyError) else L2_COST_HINT))


VISIBLE_PARAMS = {"W1": np.array([[1.0, -2.0], [0.5, 0.0], [3.0, 1.0]]), "b1": np.array([1.0, 2.0, -1.0]),
                  "W2": np.array([[2.0, -1.0, 1.0]]), "b2": np.array([0.5])}


def _visible_params():
    return {k: v.copy() for k, v in VISIBLE_PARAMS.items()}


def compute_cost_with_l2(func, hidden=False, seed=0):
    """Check ``compute_cost_with_l2(cross_entropy, params, lambd, m) -> float``."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_l2_cost_case(0.7, _visible_params(), 0.1, 5,
                               "Σ‖W‖² = 15.25 + 6 = 21.25, so the L2 term is 0.1 / 10 · 21.25 = 0.2125"),
                 _l2_cost_case(1.2, _visible_params(), 0.0, 5, "λ = 0 adds nothing"),
                 _l2_cost_case(0.3, _random_params(np.random.default_rng(4), np.float64, [4, 3, 3, 2]), 0.7, 1,
                               "three layers, a single example (m = 1)")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for dt in float_dtypes(rng, _HIDDEN):
            params = _random_params(rng, dt)
            cases.append(_l2_cost_case(float(rng.uniform(0, 3)), params, float(rng.choice([0.01, 0.1, 0.7, 2.0])),
                                       int(rng.integers(1, 50))))
    run_check("compute_cost_with_l2", func, cases, hidden=hidden)


L2_GRAD_HINT = ("the result is a new dict with every entry of grads: dW{l} + (λ/m)·W{l} for the weights, "
                "db{l} unchanged.")


def _grads_for(params, rng, dt):
    return {"d" + k: rng.standard_normal(v.shape).astype(dt) for k, v in params.items()}


def _l2_grads_sim(grads, params, coef_w, coef_b=0.0, replace=False):
    out = {}
    for k, g in grads.items():
        p = f64(params[k[1:]])
        coef = coef_w if k.startswith("dW") else coef_b
        out[k] = coef * p if (replace and k.startswith("dW")) else f64(g) + coef * p
    return out


def _l2_grads_case(grads, params, lambd, m, note=""):
    expected = reference("losses").l2_grads({k: v.copy() for k, v in grads.items()},
                                       {k: v.copy() for k, v in params.items()}, lambd, m)
    g0 = {k: v.copy() for k, v in grads.items()}
    p0 = {k: v.copy() for k, v in params.items()}
    dtype = params["W1"].dtype

    def variants():
        out = [(_l2_grads_sim(g0, p0, lambd / (2 * m)), "the derivative of λ/(2m)·‖W‖² is (λ/m)·W: the 2 of the "
                "square cancels the 1/2."),
               (_l2_grads_sim(g0, p0, 2 * lambd / m), "add (λ/m)·W, not (2λ/m)·W: the 2 of the square cancels "
                "the 1/2 of λ/(2m)."),
               (_l2_grads_sim(g0, p0, lambd / m, lambd / m), "the biases are not regularised: db{l} stays as it is."),
               (_l2_grads_sim(g0, p0, lambd / m, replace=True), "add (λ/m)·W to the gradient you were given "
                "(dW + λ/m·W); you replaced dW by (λ/m)·W."),
               ({k: v for k, v in _l2_grads_sim(g0, p0, lambd / m).items() if k.startswith("dW")},
                "keep the bias gradients too: the result holds every entry of grads (db{l} unchanged)."),
               (_l2_grads_sim(g0, p0, lambd), "divide by m: (λ/m)·W.")]
        return [Variant(h, {"grads": v}) for v, h in out]

    return Case(args=[("grads", grads), ("params", params), ("lambd", lambd), ("m", m)],
                outputs=[Out("grads", expected, kind="dict", shape_hint="every gradient has its parameter's shape.")],
                describe=f"grads={_shapes(grads)}, lambd={lambd:.6g}, m={m}, dtype={np.dtype(dtype).name}",
                dtype=dtype, note=note, hint=L2_GRAD_HINT, variants=variants,
                exception_hint=lambda exc, line: ("grads holds dW1, db1, ..., params holds W1, b1, ...: the "
                                                  "weight of dW{l} is params['W' + str(l)]."
                                                  if isinstance(exc, KeyError) else L2_GRAD_HINT))


def l2_backward(func, hidden=False, seed=0):
    """Check ``l2_backward(grads, params, lambd, m) -> new grads`` (dW += λ/m·W; db unchanged)."""
    __tracebackhide__ = True
    if not hidden:
        rng = np.random.default_rng(5)
        p = _visible_params()
        cases = [_l2_grads_case({k: np.full(v.shape, 0.5) for k, v in (("d" + k, v) for k, v in p.items())},
                                p, 0.2, 4, "every gradient 0.5, λ/m = 0.05: dW = 0.5 + 0.05·W, db stays 0.5"),
                 _l2_grads_case(_grads_for(p, rng, np.float64), _visible_params(), 1.0, 1, "λ = 1, m = 1"),
                 _l2_grads_case(_grads_for(_visible_params(), rng, np.float64), _visible_params(), 0.0, 3,
                                "λ = 0: the gradients come back unchanged")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for dt in float_dtypes(rng, _HIDDEN):
            params = _random_params(rng, dt)
            cases.append(_l2_grads_case(_grads_for(params, rng, dt), params,
                                        float(rng.choice([0.01, 0.1, 0.7, 2.0])), int(rng.integers(1, 50))))
    run_check("l2_backward", func, cases, hidden=hidden)


# =========================================================================== dropout

DROPOUT_HINT = ("mask = rng.random(A.shape) < keep_prob (one draw, True = keep the unit); "
                "out = A * mask / keep_prob (inverted dropout).")
MASK_SHAPE_HINT = ("the mask has the shape of A: one independent draw per unit and per example, "
                   "rng.random(A.shape).")


def _dropout_inspect(A, keep_prob, expected_mask):
    def inspect(got):
        out, mask = got.get("out"), got.get("mask")
        if not (isinstance(mask, np.ndarray) and mask.shape == A.shape) or np.array_equal(mask, expected_mask):
            return None
        ok_out = isinstance(out, np.ndarray) and out.shape == A.shape and np.allclose(
            f64(out), f64(A) * mask / keep_prob, rtol=1e-4, atol=1e-6)
        return (("out is right for your mask, but " if ok_out else "") + "your mask is not "
                "rng.random(A.shape) < keep_prob: " + RNG_HINT.format(what=", rng.random(A.shape)"))

    return inspect


def _dropout_forward_case(A, keep_prob, seed, note=""):
    out, mask = reference("dropout").dropout_forward(A.copy(), keep_prob, np.random.default_rng(seed))
    A0 = A.copy()

    def variants():
        r = np.random.default_rng(seed).random(A0.shape)
        gt = r > keep_prob
        a = f64(A0)
        res = [Variant("inverted dropout divides by keep_prob: out = A * mask / keep_prob, so that every unit "
                       "keeps its expected value.", {"out": a * mask, "mask": mask}),
               Variant("divide by keep_prob (the probability of keeping a unit), not by 1 − keep_prob.",
                       {"out": a * mask / (1 - keep_prob), "mask": mask}),
               Variant("keep a unit where rng.random(A.shape) < keep_prob (probability keep_prob); with > you keep "
                       "it with probability 1 − keep_prob.", {"out": a * gt / keep_prob, "mask": gt}),
               Variant("multiply by the mask (out = A * mask / keep_prob): dropout zeroes the units it drops.",
                       {"out": a / keep_prob, "mask": mask})]
        return res

    return Case(args=[("A", A), ("keep_prob", keep_prob), ("rng", np.random.default_rng(seed))],
                outputs=[Out("out", out, shape_hint="out has the shape of A."),
                         Out("mask", mask, kind="mask", shape_hint=MASK_SHAPE_HINT)],
                describe=describe(A.dtype, A=A, keep_prob=keep_prob) + f", rng=np.random.default_rng({seed})",
                dtype=A.dtype, note=note, hint=DROPOUT_HINT, variants=variants,
                inspect=_dropout_inspect(A0, keep_prob, mask))


def dropout_forward(func, hidden=False, seed=0):
    """Check ``dropout_forward(A, keep_prob, rng) -> (out, mask)`` (inverted dropout, bool mask)."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_dropout_forward_case(np.arange(1.0, 11.0).reshape(2, 5), 0.8, 1,
                                       "keep_prob = 0.8: about 80 % of the units kept, each scaled by 1/0.8"),
                 _dropout_forward_case(np.linspace(-1, 1, 12).reshape(3, 4), 0.3, 2, "keep_prob = 0.3"),
                 _dropout_forward_case(np.ones((1, 6)), 0.6, 3, "a single example")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for dt in float_dtypes(rng, _HIDDEN):
            shape = tuple(int(n) for n in rng.integers(1, 8, size=int(rng.integers(2, 4))))
            kp = float(rng.choice([0.1, 0.25, 0.6, 0.8, 0.9, 0.99, round(float(rng.uniform(0.05, 0.95)), 3)]))
            cases.append(_dropout_forward_case(rng.standard_normal(shape).astype(dt), kp,
                                               int(rng.integers(0, 2**31))))
    run_check("dropout_forward", func, cases, hidden=hidden)


def _dropout_backward_case(dout, mask, keep_prob, note=""):
    expected = reference("dropout").dropout_backward(dout.copy(), mask.copy(), keep_prob)
    d = f64(dout)

    def variants():
        out = [(d * mask, "divide by keep_prob, as the forward pass did: dA = dout * mask / keep_prob."),
               (d * mask / (1 - keep_prob), "divide by keep_prob, not by 1 − keep_prob."),
               (d / keep_prob, "multiply by the mask: the dropped units get no gradient."),
               (d * mask * keep_prob, "divide by keep_prob (the forward pass divided), don't multiply.")]
        return [Variant(h, {"dA": v}) for v, h in out]

    return Case(args=[("dout", dout), ("mask", mask), ("keep_prob", keep_prob)],
                outputs=[Out("dA", expected, shape_hint="dA has the shape of dout.")],
                describe=describe(dout.dtype, dout=dout, keep_prob=keep_prob), dtype=dout.dtype, note=note,
                hint="dA = dout * mask / keep_prob: the same mask and scaling as the forward pass.", variants=variants)


def dropout_backward(func, hidden=False, seed=0):
    """Check ``dropout_backward(dout, mask, keep_prob) -> dA = dout * mask / keep_prob``."""
    __tracebackhide__ = True
    if not hidden:
        mask = np.array([[True, False, True, True], [False, True, True, False]])
        cases = [_dropout_backward_case(np.ones((2, 4)), mask, 0.8, "dout all ones, keep_prob = 0.8: kept units "
                                        "get 1.25"),
                 _dropout_backward_case(np.linspace(-2, 2, 8).reshape(2, 4), mask, 0.3, "keep_prob = 0.3")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for dt in float_dtypes(rng, _HIDDEN):
            shape = tuple(int(n) for n in rng.integers(1, 8, size=int(rng.integers(2, 4))))
            kp = float(rng.choice([0.1, 0.25, 0.6, 0.8, 0.9, 0.99]))
            cases.append(_dropout_backward_case(rng.standard_normal(shape).astype(dt), rng.random(shape) < kp, kp))
    run_check("dropout_backward", func, cases, hidden=hidden)


# =========================================================================== gradient checking

GRADCHECK_HINT = ("for every entry θ_i of every parameter (in the dict's order): gradapprox_i = (J(θ + ε e_i) − "
                  "J(θ − ε e_i)) / (2ε), on copies of params; then difference = ‖grad − gradapprox‖₂ / "
                  "(‖grad‖₂ + ‖gradapprox‖₂).")


class _Cost:
    """A cost J(params) for the gradient-check cases, with its exact gradient.

    kind "net": mean softmax cross-entropy of a tanh network on fixed data;
    "cubic": Σ C·P³/3 + D·P over every parameter P; "sin": Σ C·sin(P).
    """

    def __init__(self, kind, shapes, rng):
        self.kind, self.shapes = kind, dict(shapes)
        self.C = {k: rng.uniform(0.5, 2.0, s) for k, s in shapes.items()}
        self.D = {k: rng.standard_normal(s) for k, s in shapes.items()}
        if kind == "net":
            n = shapes["W1"][1]
            K = shapes["W2"][0]
            self.X = rng.standard_normal((4, n))
            self.y = rng.integers(0, K, size=4)

    def _check(self, params):
        if not isinstance(params, dict):
            raise TypeError(f"cost(params) takes a dict of arrays like params (keys {list(self.shapes)}), got "
                            f"{type(params).__name__}: turn your vector back into a dict before calling cost")
        for k, s in self.shapes.items():
            if k not in params:
                raise KeyError(f"cost(params): params has no entry {k!r}")
            if np.shape(params[k]) != s:
                raise ValueError(f"cost(params): params[{k!r}] must have shape {s}, got {np.shape(params[k])}")

    def __call__(self, params):
        self._check(params)
        P = {k: np.asarray(params[k], dtype=np.float64) for k in self.shapes}
        if self.kind == "cubic":
            return float(sum(np.sum(self.C[k] * P[k] ** 3) / 3 + np.sum(self.D[k] * P[k]) for k in P))
        if self.kind == "sin":
            return float(sum(np.sum(self.C[k] * np.sin(P[k])) for k in P))
        Z = np.tanh(self.X @ P["W1"].T + P["b1"]) @ P["W2"].T + P["b2"]
        return float(-np.mean(_pick(_log_softmax(Z), self.y)))

    def grads(self, params):
        P = {k: f64(v) for k, v in params.items()}
        if self.kind == "cubic":
            return {"d" + k: self.C[k] * P[k] ** 2 + self.D[k] for k in P}
        if self.kind == "sin":
            return {"d" + k: self.C[k] * np.cos(P[k]) for k in P}
        A1 = np.tanh(self.X @ P["W1"].T + P["b1"])
        Z2 = A1 @ P["W2"].T + P["b2"]
        Y = np.zeros(Z2.shape)
        Y[np.arange(len(self.y)), self.y] = 1
        dZ2 = (_softmax_rows(Z2) - Y) / len(self.y)
        dZ1 = (dZ2 @ P["W2"]) * (1 - A1 ** 2)
        return {"dW1": dZ1.T @ self.X, "db1": dZ1.sum(0), "dW2": dZ2.T @ A1, "db2": dZ2.sum(0)}


def _approx(cost, params, eps, kind="central"):
    """Numerical gradient as one vector (dict order, C order) with switchable differences."""
    out = []
    base = cost({k: f64(v).copy() for k, v in params.items()}) if kind == "forward" else None
    for k, v in params.items():
        for idx in np.ndindex(v.shape):
            plus = {kk: f64(vv).copy() for kk, vv in params.items()}
            minus = {kk: f64(vv).copy() for kk, vv in params.items()}
            plus[k][idx] += eps
            minus[k][idx] -= eps
            if kind == "forward":
                out.append((cost(plus) - base) / eps)
            elif kind == "over_eps":
                out.append((cost(plus) - cost(minus)) / eps)
            else:
                out.append((cost(plus) - cost(minus)) / (2 * eps))
    return np.array(out)


def _vec(d, keys=None):
    return np.concatenate([f64(d[k]).ravel() for k in (keys or list(d))])


def _gradcheck_case(cost, params, grads, epsilon=None, note=""):
    eps = 1e-7 if epsilon is None else epsilon
    expected = float(reference("gradcheck").gradient_check(cost, {k: v.copy() for k, v in params.items()},
                                                        {k: v.copy() for k, v in grads.items()}, eps)[0])
    p0 = {k: v.copy() for k, v in params.items()}

    def variants():
        g = _vec(grads, ["d" + k for k in p0])
        central = _approx(cost, p0, eps)

        def diff(a, b, norm=True):
            num = np.linalg.norm(a - b)
            den = np.linalg.norm(a) + np.linalg.norm(b)
            return float(num / den if norm else num)

        out = []
        if eps != 1e-7:
            out.append((diff(g, _approx(cost, p0, 1e-7)), f"use the epsilon argument (here ε = {eps:g}), "
                        "not a fixed 1e-7."))
        out += [(diff(g, _approx(cost, p0, eps, "forward")), "use centred differences, (J(θ + ε) − J(θ − ε)) / (2ε): "
                "the one-sided (J(θ + ε) − J(θ)) / ε is only accurate to O(ε)."),
               (diff(g, central, norm=False), "normalise the difference: divide ‖grad − gradapprox‖₂ by "
                "‖grad‖₂ + ‖gradapprox‖₂, so that it does not depend on the scale of the gradient."),
               (float(np.linalg.norm(g - central) / np.linalg.norm(g)), "the denominator is ‖grad‖₂ + "
                "‖gradapprox‖₂ (both norms)."),
               (diff(g, _approx(cost, p0, eps, "over_eps")), "the centred difference spans 2ε: divide "
                "J(θ + ε) − J(θ − ε) by 2ε, not ε."),
               (float(np.sum((g - central) ** 2) / (np.sum(g ** 2) + np.sum(central ** 2))),
                "use the norms ‖·‖₂ (np.linalg.norm), not the squared norms.")]
        sorted_keys = sorted(grads)
        if sorted_keys != ["d" + k for k in p0]:
            out.append((diff(_vec(grads, sorted_keys), central), "take the gradients in the same order as the "
                        "parameters (dW1, db1, dW2, ... matching W1, b1, W2, ...), so entry i of grad and of "
                        "gradapprox belong to the same θ_i."))
        return [Variant(h, {"difference": v}) for v, h in out]

    args = [("cost", cost), ("params", params), ("grads", grads)]
    if epsilon is not None:
        args.append(("epsilon", epsilon))
    # Rounding makes J(θ ± ε) uncertain by ~1e-16·|J|, so the difference itself is only
    # reproducible to about 1e-15 / ε: compare with that absolute tolerance.
    return Case(args=args, outputs=[Out("difference", expected, kind="scalar")],
                describe=f"params={_shapes(params)}, epsilon={'1e-7 (the default)' if epsilon is None else eps}",
                note=note, hint=GRADCHECK_HINT, variants=variants, tol=(1e-6, 1e-15 / eps),
                exception_hint=lambda exc, line: ("cost takes a dict like params; grads uses the keys 'd' + name "
                                                  "(dW1, db1, ...)." if isinstance(exc, (TypeError, KeyError,
                                                                                         ValueError))
                                                  else GRADCHECK_HINT))


def _gradcheck_problem(rng, kind, dims, *, broken=None, epsilon=None, note=""):
    params = _random_params(rng, np.float64, dims, bias_scale=0.5)
    if kind != "net":
        params = {k: v * 0.8 for k, v in params.items()}
    cost = _Cost(kind, {k: v.shape for k, v in params.items()}, rng)
    grads = cost.grads(params)
    if broken == "scale":
        grads["dW1"] = grads["dW1"] * 1.2
    elif broken == "bias_sign":
        key = "db2" if "db2" in grads else "db1"
        grads[key] = -grads[key]
    elif broken == "entry":
        grads["dW1"] = grads["dW1"].copy()
        grads["dW1"][0, 0] += 0.05
    return _gradcheck_case(cost, params, grads, epsilon, note)


def gradient_check(func, hidden=False, seed=0):
    """Check ``gradient_check(cost, params, grads, epsilon=1e-7) -> difference`` (a float)."""
    __tracebackhide__ = True
    if not hidden:
        rng = np.random.default_rng(7)
        cases = [_gradcheck_problem(rng, "net", [3, 2, 2], note="a small tanh network with its correct gradients: "
                                    "difference < 1e-7"),
                 _gradcheck_problem(rng, "net", [3, 2, 2], broken="scale", epsilon=1e-7,
                                    note="the same network, dW1 off by 20 %: a large difference"),
                 _gradcheck_problem(rng, "cubic", [2, 3], epsilon=1e-3,
                                    note="a cubic cost with ε = 1e-3: one-sided differences would be visibly off")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k in range(15):
            kind = ("net", "cubic", "sin")[k % 3]
            dims = ([int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(2, 4))] if kind == "net"
                    else [int(d) for d in rng.integers(1, 4, size=int(rng.integers(2, 4)))])
            broken = rng.choice(["none", "none", "scale", "bias_sign", "entry"])
            eps = rng.choice([None, 1e-7, 1e-5, 1e-3, 1e-2])
            cases.append(_gradcheck_problem(rng, kind, dims, broken=str(broken),
                                            epsilon=None if eps is None else float(eps)))
    run_check("gradient_check", func, cases, hidden=hidden)


# =========================================================================== mini-batches

BATCHES_HINT = ("perm = rng.permutation(m) (one draw); shuffle X[perm] and y[perm] with that same perm; then "
                "cut consecutive slices of batch_size: ⌈m / batch_size⌉ batches, the last one holding the "
                "m mod batch_size left-over examples.")


def _batches_sim(X, y, bs, seed, *, mode="right"):
    m = X.shape[0]
    rng = np.random.default_rng(seed)
    if mode == "two_perms":
        px, py = rng.permutation(m), rng.permutation(m)
    elif mode == "no_shuffle":
        px = py = np.arange(m)
    elif mode == "replace":
        px = py = rng.choice(m, m)
    elif mode == "integers":
        px = py = rng.integers(0, m, m)
    else:
        px = py = rng.permutation(m)
    Xs, ys = X[px], y[py]
    batches = [(Xs[k:k + bs], ys[k:k + bs]) for k in range(0, m, bs)]
    if mode == "drop_last" and m % bs:
        batches = batches[:-1]
    return batches


def _batches_inspect(X, y, bs):
    """Say what is wrong with batches no variant explains, from which examples they hold."""
    m = X.shape[0]
    rows = {X[i].tobytes(): i for i in range(m)}

    def inspect(got):
        batches = got.get("mini_batches")
        if not isinstance(batches, (list, tuple)) or not all(isinstance(b, (list, tuple)) and len(b) == 2
                                                              for b in batches):
            return None
        idx, ys = [], []
        for Xb, yb in batches:
            Xb, yb = np.asarray(Xb, dtype=X.dtype), np.asarray(yb)
            if Xb.shape[1:] != X.shape[1:] or yb.shape[:1] != Xb.shape[:1]:
                return None
            for row, label in zip(Xb, yb):
                if row.tobytes() not in rows:
                    return None
                idx.append(rows[row.tobytes()])
                ys.append(label)
        if sorted(idx) != list(range(m)):
            return ("every example must appear exactly once (a permutation, rng.permutation(m)): your batches hold "
                    f"{len(idx)} examples of which {len(set(idx))} are different, out of m = {m}.")
        if not np.array_equal(np.asarray(ys), y[idx]):
            return ("y_b must hold the labels of the examples in X_b: shuffle X and y with the same permutation, "
                    "X[perm] and y[perm].")
        sizes = [len(b[0]) for b in batches]
        want = [min(bs, m - k) for k in range(0, m, bs)]
        if sizes != want:
            return (f"your batches have sizes {sizes}; they must be consecutive slices of batch_size = {bs} "
                    f"examples, the last one holding what is left: {want}.")
        if idx == list(range(m)):
            return "you did not shuffle: draw perm = rng.permutation(m) once and take X[perm], y[perm]."
        return "your shuffle is not rng.permutation(m): " + RNG_HINT.format(what=", perm = rng.permutation(m)")

    return inspect


def _batches_case(X, y, bs, seed, note=""):
    expected = reference("optim").random_mini_batches(X.copy(), y.copy(), bs, np.random.default_rng(seed))
    expected = [(Xb, yb) for Xb, yb in expected]
    X0, y0 = X.copy(), y.copy()
    m = X.shape[0]

    def variants():
        out = [("drop_last", "keep the last, smaller mini-batch: there are ⌈m / batch_size⌉ batches and the last one "
                "holds the m mod batch_size left-over examples."),
               ("two_perms", "X and y were shuffled with different permutations, so the labels no longer belong to "
                "their examples: draw one perm = rng.permutation(m) and index both, X[perm] and y[perm]."),
               ("no_shuffle", "you did not shuffle: draw perm = rng.permutation(m) once and take X[perm], y[perm]."),
               ("replace", "each example must appear exactly once: rng.permutation(m); rng.choice(m, m) samples "
                "with replacement, so it repeats some examples and drops others."),
               ("integers", "each example must appear exactly once: rng.permutation(m); rng.integers(0, m, m) "
                "repeats some examples and drops others.")]
        return [Variant(h, {"mini_batches": _batches_sim(X0, y0, bs, seed, mode=mode)}) for mode, h in out]

    return Case(args=[("X", X), ("y", y), ("batch_size", bs), ("rng", np.random.default_rng(seed))],
                outputs=[Out("mini_batches", expected, kind="list", parts=("X_b", "y_b"))],
                describe=describe(X.dtype, X=X, y=y, batch_size=bs) + f" ({-(-m // bs)} batches), "
                         f"rng=np.random.default_rng({seed})",
                dtype=X.dtype, note=note, hint=BATCHES_HINT, variants=variants,
                inspect=_batches_inspect(X0, y0, bs))


def random_mini_batches(func, hidden=False, seed=0):
    """Check ``random_mini_batches(X, y, batch_size, rng) -> [(X_b, y_b), ...]``."""
    __tracebackhide__ = True
    if not hidden:
        X = np.arange(20.0).reshape(10, 2)
        y = np.arange(10) % 3
        cases = [_batches_case(X, y, 4, 1, "10 examples in batches of 4: sizes 4, 4, 2"),
                 _batches_case(X.copy(), y.copy(), 5, 2, "10 examples in batches of 5: no partial batch"),
                 _batches_case(np.arange(12.0).reshape(3, 1, 2, 2), np.array([0, 1, 1]), 64, 3,
                               "images (m, C, H, W), batch_size larger than m: a single batch")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for dt in float_dtypes(rng, _HIDDEN):
            m = int(rng.integers(1, 40))
            shape = (m,) + tuple(int(n) for n in rng.integers(1, 4, size=int(rng.integers(1, 4))))
            bs = int(rng.choice([1, 2, 3, 4, 8, 16, 32, 64]))
            cases.append(_batches_case(rng.standard_normal(shape).astype(dt),
                                       rng.integers(0, 5, size=m).astype(np.int64), bs, int(rng.integers(0, 2**31))))
    run_check("random_mini_batches", func, cases, hidden=hidden)


# =========================================================================== update rules


def _copy_state(state):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()}


def _steps(func, values):
    """Run several updates in a row, each fed the w and state the previous one returned."""
    w, dws, state, *hyper = values
    result = None
    for dw in dws:
        result = func(w, dw, state, *hyper)
        if not (isinstance(result, (tuple, list)) and len(result) == 2 and isinstance(result[1], dict)):
            return result  # reported as a wrong return value
        w, state = result
    return result


def _update_case(w, dw, state, hyper, ref_fn, sims, *, steps=1, note="", hint="", state_hints=None):
    """A case for an update rule: (w_next, state) from the reference, variants from ``sims``.

    hyper: [(name, value), ...] passed positionally after state (a prefix of the rule's
    parameters; the rest keep their defaults). sims: [(hint, fn(w, dw, state) -> (w_next,
    state))] one step each with pristine float64 copies. steps > 1 runs the student's
    function that many times in a row on dw[0], dw[1], ...
    """
    kw = dict(hyper)
    dws = list(dw) if steps > 1 else [dw]
    w_ref, s_ref = w.copy(), _copy_state(state)
    for g in dws:
        w_ref, s_ref = ref_fn(w_ref, g.copy(), s_ref, **kw)
    w0, st0, dws0 = w.copy(), _copy_state(state), [g.copy() for g in dws]

    def variants():
        out = []
        for h, sim in sims:
            wv, sv = f64(w0), {k: (f64(v) if isinstance(v, np.ndarray) else v) for k, v in st0.items()}
            with np.errstate(all="ignore"):
                for g in dws0:
                    wv, sv = sim(wv, f64(g), sv)
            out.append(Variant(h, {"w_next": wv, "state": sv} if sv is not None else {"w_next": wv}))
        return out

    def describe_state():
        parts = []
        for k, v in state.items():
            if isinstance(v, np.ndarray):
                parts.append(f"{k}: zeros" if not np.any(v) else f"{k}: nonzero")
            else:
                parts.append(f"{k}={v!r}")
        return "state {" + ", ".join(parts) + "}"

    hp = ", ".join(f"{k}={v:g}" for k, v in hyper) if hyper else "default hyperparameters"
    if steps > 1:
        args = [("w", w), ("dws", tuple(dws)), ("state", state)] + list(hyper)
        what = f"{steps} steps in a row, each given the w and state your function returned"
    else:
        args = [("w", w), ("dw", dw), ("state", state)] + list(hyper)
        what = "one step"
    return Case(args=args,
                outputs=[Out("w_next", w_ref, shape_hint="w_next has the shape of w."),
                         Out("state", s_ref, kind="dict", hints=state_hints or {})],
                describe=f"{what}: w.shape={w.shape}, {describe_state()}, {hp}, dtype={np.dtype(w.dtype).name}",
                dtype=w.dtype, note=note, hint=hint, variants=variants, inplace_ok=frozenset({"state"}),
                call=_steps if steps > 1 else None,
                exception_hint=lambda exc, line: (f"state is the dict of the previous step, with the keys "
                                                  f"{list(state)}; return (w_next, state)."
                                                  if isinstance(exc, (KeyError, TypeError)) else hint))


def _rule_cases(hidden, seed, make, visible):
    if not hidden:
        return visible()
    rng = np.random.default_rng(seed)
    cases = []
    for k, dt in enumerate(float_dtypes(rng, _HIDDEN)):
        shape = tuple(int(n) for n in rng.integers(1, 6, size=int(rng.integers(1, 3))))
        cases.append(make(rng, shape, dt, 3 if k % 5 == 4 else 1))
    return cases


def _grad(rng, shape, dt, tiny=False):
    g = rng.standard_normal(shape) * (1e-5 if tiny else 1.0)
    return g.astype(dt)


# --------------------------------------------------------------------------- momentum

MOMENTUM_HINT = "v = β·v + (1 − β)·dw, then w_next = w − lr·v; return (w_next, state) with state[\"v\"] = the new v."


def _momentum_sims(lr, beta):
    def step(kind):
        def sim(w, dw, s):
            v = s["v"]
            if kind == "no_one_minus":
                vn = beta * v + dw
            elif kind == "swapped":
                vn = (1 - beta) * v + beta * dw
            else:
                vn = beta * v + (1 - beta) * dw
            if kind == "old_v":
                return w - lr * v, {"v": vn}
            if kind == "sign":
                return w + lr * vn, {"v": vn}
            if kind == "dw_step":
                return w - lr * dw, {"v": vn}
            return w - lr * vn, {"v": vn}
        return sim

    return [("the course's momentum averages the gradients: v = β·v + (1 − β)·dw. Without (1 − β) the steps are "
             "about 1/(1 − β) times larger (that form is torch.optim.SGD's).", step("no_one_minus")),
            ("β weighs the old velocity and (1 − β) the new gradient: v = β·v + (1 − β)·dw.", step("swapped")),
            ("update v first, then step with the new v: w_next = w − lr·v_new.", step("old_v")),
            ("step against the velocity: w_next = w − lr·v.", step("sign")),
            ("the step uses the velocity v (the average of the gradients), not dw: w_next = w − lr·v.",
             step("dw_step"))]


def _momentum_case(w, dw, v, hyper, steps=1, note=""):
    kw = {"lr": 0.01, "beta": 0.9, **dict(hyper)}
    return _update_case(w, dw, {"v": v}, hyper, reference("optim").momentum_update,
                        _momentum_sims(kw["lr"], kw["beta"]), steps=steps, note=note, hint=MOMENTUM_HINT)


def momentum_update(func, hidden=False, seed=0):
    """Check ``momentum_update(w, dw, state, lr=0.01, beta=0.9) -> (w_next, state)``, state {"v": ...}."""
    __tracebackhide__ = True

    def visible():
        w = np.array([1.0, -2.0, 0.5])
        dw = np.array([0.5, 1.0, -1.0])
        return [_momentum_case(w, dw, np.zeros(3), [], note="the first step from momentum_init's zeros, default "
                               "lr = 0.01 and beta = 0.9: v = 0.1·dw"),
                _momentum_case(w.copy(), dw.copy(), np.array([0.2, -0.1, 0.3]), [("lr", 0.1), ("beta", 0.5)],
                               note="a velocity carried over from earlier steps"),
                _momentum_case(np.linspace(-1, 1, 6).reshape(2, 3), [np.full((2, 3), 1.0), np.full((2, 3), -0.5),
                                                                     np.linspace(0, 1, 6).reshape(2, 3)],
                               np.zeros((2, 3)), [("lr", 0.1), ("beta", 0.9)], steps=3,
                               note="three steps, feeding each step the state returned by the one before")]

    def make(rng, shape, dt, steps):
        hyper = [("lr", float(rng.choice([0.001, 0.01, 0.1, 0.5])))]
        if rng.integers(0, 3):
            hyper.append(("beta", float(rng.choice([0.5, 0.8, 0.9, 0.99]))))
        v = np.zeros(shape, dt) if rng.integers(0, 3) == 0 else _grad(rng, shape, dt) * 0.3
        dw = [_grad(rng, shape, dt) for _ in range(steps)] if steps > 1 else _grad(rng, shape, dt)
        return _momentum_case(_grad(rng, shape, dt), dw, v, hyper, steps)

    run_check("momentum_update", func, _rule_cases(hidden, seed, make, visible), hidden=hidden)


# --------------------------------------------------------------------------- RMSProp

RMSPROP_HINT = ("s = β·s + (1 − β)·dw², then w_next = w − lr·dw / (√s + ε), with ε outside the square root "
                "(as torch.optim.RMSprop); return (w_next, state) with state[\"s\"] = the new s.")


def _rmsprop_sims(lr, beta, eps):
    def step(kind):
        def sim(w, dw, st):
            s = st["s"]
            sq = dw if kind == "no_square" else dw * dw
            sn = beta * s + sq if kind == "no_one_minus" else beta * s + (1 - beta) * sq
            den = {"eps_inside": np.sqrt(sn + eps), "no_eps": np.sqrt(sn), "no_sqrt": sn + eps,
                   "old_s": np.sqrt(s) + eps}.get(kind, np.sqrt(sn) + eps)
            return w - lr * dw / den, {"s": sn}
        return sim

    return [("ε goes outside the square root: w_next = w − lr·dw / (√s + ε), as in torch.optim.RMSprop; "
             "√(s + ε) is a different rule.", step("eps_inside")),
            ("s averages the squared gradients: s = β·s + (1 − β)·dw²; you left out (1 − β).", step("no_one_minus")),
            ("square the gradient: s = β·s + (1 − β)·dw**2 (the mean of the squares).", step("no_square")),
            ("add ε to the denominator, √s + ε: where s = 0 (a gradient that has been 0 so far) you divide 0 by 0.",
             step("no_eps")),
            ("divide by the root of s (√s + ε), not by s itself.", step("no_sqrt")),
            ("update s first, then divide by the root of the new s.", step("old_s"))]


def _rmsprop_case(w, dw, s, hyper, steps=1, note=""):
    kw = {"lr": 0.001, "beta": 0.9, "eps": 1e-8, **dict(hyper)}
    return _update_case(w, dw, {"s": s}, hyper, reference("optim").rmsprop_update,
                        _rmsprop_sims(kw["lr"], kw["beta"], kw["eps"]), steps=steps, note=note, hint=RMSPROP_HINT)


def rmsprop_update(func, hidden=False, seed=0):
    """Check ``rmsprop_update(w, dw, state, lr=0.001, beta=0.9, eps=1e-8) -> (w_next, state)``, state {"s"}."""
    __tracebackhide__ = True

    def visible():
        w = np.array([1.0, -2.0, 0.5, 3.0])
        dw = np.array([0.5, 2.0, -1.0, 0.0])
        return [_rmsprop_case(w, dw, np.zeros(4), [], note="the first step from rmsprop_init's zeros, default "
                              "hyperparameters; the last gradient is 0"),
                _rmsprop_case(w.copy(), dw.copy(), np.array([0.04, 0.25, 1.0, 0.01]),
                              [("lr", 0.01), ("beta", 0.9), ("eps", 0.1)],
                              note="a large ε = 0.1 shows where ε goes: outside the square root"),
                _rmsprop_case(np.linspace(-1, 1, 6).reshape(3, 2),
                              [np.full((3, 2), 1e-3), np.full((3, 2), -2e-3),
                               np.linspace(-1e-3, 1e-3, 6).reshape(3, 2)],
                              np.zeros((3, 2)), [("lr", 0.01), ("beta", 0.99)], steps=3,
                              note="three steps with tiny gradients, each given the state returned before")]

    def make(rng, shape, dt, steps):
        hyper = [("lr", float(rng.choice([0.001, 0.01, 0.1])))]
        if rng.integers(0, 4):
            hyper.append(("beta", float(rng.choice([0.5, 0.9, 0.99, 0.999]))))
            if rng.integers(0, 3):
                hyper.append(("eps", float(rng.choice([1e-8, 1e-6, 1e-3, 0.1]))))
        tiny = bool(rng.integers(0, 3) == 0)
        s = np.zeros(shape, dt) if rng.integers(0, 3) == 0 else (np.abs(_grad(rng, shape, dt, tiny)) ** 2).astype(dt)
        dw = [_grad(rng, shape, dt, tiny) for _ in range(steps)] if steps > 1 else _grad(rng, shape, dt, tiny)
        return _rmsprop_case(_grad(rng, shape, dt), dw, s, hyper, steps)

    run_check("rmsprop_update", func, _rule_cases(hidden, seed, make, visible), hidden=hidden)


# --------------------------------------------------------------------------- Adam

ADAM_HINT = ("t = state[\"t\"] + 1; m = β1·m + (1 − β1)·dw; v = β2·v + (1 − β2)·dw²; m̂ = m / (1 − β1**t); "
             "v̂ = v / (1 − β2**t); w_next = w − lr·m̂ / (√v̂ + ε); the new state holds m, v (not m̂, v̂) and t.")
T_HINT = "state[\"t\"] counts the steps taken: an int, state[\"t\"] + 1 after this step (not a float)."


def _adam_sims(lr, b1, b2, eps):
    def step(kind):
        def sim(w, dw, st):
            m, v, t = st["m"], st["v"], st["t"]
            bm, bv = (b2, b1) if kind == "swapped" else (b1, b2)
            mn = b1 * m + dw if kind == "no_one_minus" else bm * m + (1 - bm) * dw
            vn = bv * v + (1 - bv) * (dw if kind == "no_square" else dw * dw)
            tn = t + 1
            tc = t if kind == "t_after" else tn
            if kind == "no_correction":
                mh, vh = mn, vn
            else:
                mh, vh = mn / (1 - b1 ** tc), vn / (1 - b2 ** tc)
            den = {"eps_inside": np.sqrt(vh + eps), "no_sqrt": vh + eps}.get(kind, np.sqrt(vh) + eps)
            w_next = w - lr * mh / den
            if kind == "store_hat":
                return w_next, {"m": mh, "v": vh, "t": tn}
            if kind == "t_kept":
                return w_next, {"m": mn, "v": vn, "t": t}
            return w_next, {"m": mn, "v": vn, "t": tn}
        return sim

    return [("you skipped the bias correction: m̂ = m / (1 − β1**t) and v̂ = v / (1 − β2**t), with t already "
             "incremented; step with m̂ / (√v̂ + ε).", step("no_correction")),
            ("increment t before the bias correction: the first step uses t = 1 (with t = 0, 1 − β**0 = 0 and the "
             "correction divides by zero).", step("t_after")),
            ("store the new step count in the state: state[\"t\"] = t + 1.", step("t_kept")),
            ("keep the raw averages m and v in the state; m̂ and v̂ are only for this step's update (the next step "
             "averages m and v further).", step("store_hat")),
            ("ε goes outside the square root: w_next = w − lr·m̂ / (√v̂ + ε), as in torch.optim.Adam.",
             step("eps_inside")),
            ("divide by the root of v̂: w_next = w − lr·m̂ / (√v̂ + ε).", step("no_sqrt")),
            ("β1 goes with m (the average of dw) and β2 with v (the average of dw²); you swapped them.",
             step("swapped")),
            ("m averages the gradients: m = β1·m + (1 − β1)·dw; you left out (1 − β1).", step("no_one_minus")),
            ("v averages the squared gradients: v = β2·v + (1 − β2)·dw**2.", step("no_square"))]


def _adam_case(w, dw, state, hyper, steps=1, note=""):
    kw = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, **dict(hyper)}
    return _update_case(w, dw, state, hyper, reference("optim").adam_update,
                        _adam_sims(kw["lr"], kw["beta1"], kw["beta2"], kw["eps"]), steps=steps, note=note,
                        hint=ADAM_HINT, state_hints={"t": T_HINT})


def adam_update(func, hidden=False, seed=0):
    """Check ``adam_update(w, dw, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8) -> (w_next, state)``."""
    __tracebackhide__ = True

    def visible():
        w = np.array([1.0, -2.0, 0.5])
        dw = np.array([0.5, 2.0, -1.0])
        return [_adam_case(w, dw, {"m": np.zeros(3), "v": np.zeros(3), "t": 0}, [],
                           note="the first step from adam_init's state (t = 0), default hyperparameters: "
                                "t becomes 1 before the correction"),
                _adam_case(w.copy(), dw.copy(), {"m": np.array([0.1, -0.2, 0.05]), "v": np.array([0.01, 0.04, 0.002]),
                                                 "t": 5}, [("lr", 0.01), ("beta1", 0.8), ("beta2", 0.99), ("eps", 0.1)],
                           note="step 6 of a run, with a large ε = 0.1"),
                _adam_case(np.linspace(-1, 1, 6).reshape(2, 3), [np.full((2, 3), 1.0), np.full((2, 3), -0.5),
                                                                 np.linspace(0, 1, 6).reshape(2, 3)],
                           {"m": np.zeros((2, 3)), "v": np.zeros((2, 3)), "t": 0}, [("lr", 0.1)], steps=3,
                           note="three steps from t = 0, each given the state returned by the one before")]

    def make(rng, shape, dt, steps):
        hyper = [("lr", float(rng.choice([0.001, 0.01, 0.1])))]
        if rng.integers(0, 4):
            hyper += [("beta1", float(rng.choice([0.5, 0.8, 0.9]))), ("beta2", float(rng.choice([0.9, 0.99, 0.999])))]
            if rng.integers(0, 3):
                hyper.append(("eps", float(rng.choice([1e-8, 1e-6, 1e-2, 0.1]))))
        t = int(rng.choice([0, 0, 1, 2, 5, 10, 100]))
        if t == 0:
            state = {"m": np.zeros(shape, dt), "v": np.zeros(shape, dt), "t": 0}
        else:
            state = {"m": (_grad(rng, shape, dt) * 0.2).astype(dt),
                     "v": (np.abs(_grad(rng, shape, dt)) * 0.05).astype(dt), "t": t}
        dw = [_grad(rng, shape, dt) for _ in range(steps)] if steps > 1 else _grad(rng, shape, dt)
        return _adam_case(_grad(rng, shape, dt), dw, state, hyper, steps)

    run_check("adam_update", func, _rule_cases(hidden, seed, make, visible), hidden=hidden)


# =========================================================================== learning-rate decay


ARRAY_EPOCH_HINT = ("epoch may be an array of epochs (the plots pass np.arange(...)): use NumPy operations, e.g. "
                    "np.floor(epoch / time_interval) or epoch // time_interval, not math.floor, round() or an if.")


def _lr_case(ref_fn, args, wrong, hint, note=""):
    """A learning-rate case; epoch (args[1]) is an int or an array of ints, and ``wrong``
    lists (formula(epoch as a float array) -> lr, hint) for the known mistakes."""
    values = [v for _, v in args]
    epoch = values[1]
    expected = ref_fn(*values)
    expected = float(expected) if np.ndim(epoch) == 0 else np.asarray(expected, dtype=np.float64)

    def variants():
        out = []
        e = np.asarray(epoch, dtype=np.float64)
        for formula, h in wrong:
            with np.errstate(all="ignore"):
                v = np.asarray(formula(e), dtype=np.float64)
            if np.all(np.isfinite(v)):
                out.append(Variant(h, {"lr": float(v) if np.ndim(epoch) == 0 else v}))
        return out

    def describe(k, v):
        if isinstance(v, np.ndarray):
            return f"{k}=np.array({v.tolist()})"
        return f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v!r}"

    return Case(args=list(args),
                outputs=[Out("lr", expected, kind="scalar" if np.ndim(epoch) == 0 else "array",
                             shape_hint="for an array of epochs, return an array of the same shape.")],
                describe=", ".join(describe(k, v) for k, v in args), note=note, hint=hint, variants=variants,
                exception_hint=lambda exc, line: ARRAY_EPOCH_HINT if np.ndim(epoch) else hint)


INV_TIME_HINT = "lr = lr0 / (1 + decay_rate · epoch)."


def _inverse_time_case(lr0, epoch, rate, note=""):
    wrong = [(lambda e: lr0 / (1 + rate) * e, "epoch belongs in the denominator, multiplied by decay_rate: "
              "lr0 / (1 + decay_rate * epoch); lr0 / (1 + decay_rate) * epoch multiplies by epoch."),
             (lambda e: lr0 / 1 + rate * e, "mind the parentheses: lr0 / (1 + decay_rate * epoch)."),
             (lambda e: lr0 / (1 + rate) ** e, "inverse-time decay divides by (1 + decay_rate · epoch); raising to "
              "the power epoch is an exponential decay."),
             (lambda e: lr0 / (1 + e) * rate, "decay_rate multiplies epoch inside the denominator: "
              "lr0 / (1 + decay_rate · epoch)."),
             (lambda e: lr0 / (rate * e), "keep the 1 +: lr0 / (1 + decay_rate · epoch) (so that epoch 0 gives lr0)."),
             (lambda e: 1 / (1 + rate * e), "multiply by lr0: lr = lr0 / (1 + decay_rate · epoch)."),
             (lambda e: lr0 * (1 + rate * e), "divide lr0 by (1 + decay_rate · epoch): the learning rate must "
              "shrink."),
             (lambda e: lr0 / (1 + rate * (e + 1)), "epochs count from 0 here: epoch 0 gives lr0."),
             (lambda e: lr0 / (1 + rate / e), "multiply decay_rate by epoch, don't divide.")]
    return _lr_case(reference("optim").lr_inverse_time, [("lr0", lr0), ("epoch", epoch), ("decay_rate", rate)], wrong,
                    INV_TIME_HINT, note)


def _random_lr0(rng):
    return float(10 ** rng.uniform(-4, 0))


def lr_inverse_time(func, hidden=False, seed=0):
    """Check ``lr_inverse_time(lr0, epoch, decay_rate)``: lr0 / (1 + decay_rate·epoch), epoch an int or an array."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_inverse_time_case(0.5, 0, 1.0, "epoch 0 gives lr0"),
                 _inverse_time_case(0.5, 1, 1.0, "0.5 / (1 + 1·1) = 0.25"),
                 _inverse_time_case(0.1, 10, 0.3, "0.1 / (1 + 0.3·10) = 0.025"),
                 _inverse_time_case(0.2, np.arange(5), 1.0, "an array of epochs 0, ..., 4 gives an array of rates")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k in range(_HIDDEN):
            epoch = int(rng.integers(0, 200)) if k % 4 else rng.integers(0, 200, size=int(rng.integers(1, 8)))
            cases.append(_inverse_time_case(_random_lr0(rng), epoch, float(rng.choice(
                [0.01, 0.1, 0.5, 1.0, 2.0, round(float(rng.uniform(0, 3)), 3)]))))
    run_check("lr_inverse_time", func, cases, hidden=hidden)


SCHEDULED_HINT = ("lr = lr0 / (1 + decay_rate · ⌊epoch / time_interval⌋): the rate drops once every time_interval "
                  "epochs (np.floor(epoch / time_interval) or epoch // time_interval) and stays flat in between.")


def _scheduled_case(lr0, epoch, rate, interval, note=""):
    wrong = [(lambda e: lr0 / (1 + rate * e / interval), "the rate drops in steps: take the floor, "
              "⌊epoch / time_interval⌋ (np.floor(epoch / time_interval) or epoch // time_interval)."),
             (lambda e: lr0 / (1 + rate * np.round(e / interval)), "take the floor of epoch / time_interval "
              "(np.floor or //), not round()."),
             (lambda e: lr0 / (1 + rate * np.ceil(e / interval)), "take the floor of epoch / time_interval "
              "(np.floor or //), not the ceiling."),
             (lambda e: lr0 / (1 + rate * e), "divide epoch by time_interval (and take the floor): the rate changes "
              "once every time_interval epochs."),
             (lambda e: lr0 / (1 + rate * np.floor(e * interval)), "divide epoch by time_interval, don't multiply."),
             (lambda e: lr0 / (1 + rate * np.floor(interval / e)), "it is ⌊epoch / time_interval⌋, epoch on top.")]
    return _lr_case(reference("optim").lr_scheduled,
                    [("lr0", lr0), ("epoch", epoch), ("decay_rate", rate), ("time_interval", interval)], wrong,
                    SCHEDULED_HINT, note)


def _off_the_steps(rng, interval, size=None):
    """Epochs in 0 .. 5·interval that are not multiples of the interval (where floor matters)."""
    epoch = rng.integers(0, 5 * interval + 2, size=size)
    if interval > 1:
        epoch = np.where(epoch % interval == 0, epoch + 1, epoch)
    return int(epoch) if size is None else epoch


def lr_scheduled(func, hidden=False, seed=0):
    """Check ``lr_scheduled(lr0, epoch, decay_rate, time_interval)``: lr0 / (1 + decay_rate·⌊epoch/interval⌋)."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_scheduled_case(0.5, 999, 1.0, 1000, "epoch 999 is still in the first interval: lr0"),
                 _scheduled_case(0.5, 1000, 1.0, 1000, "the first drop, at epoch 1000: 0.5 / 2 = 0.25"),
                 _scheduled_case(0.1, 25, 0.5, 10, "⌊25 / 10⌋ = 2 drops: 0.1 / (1 + 0.5·2) = 0.05"),
                 _scheduled_case(0.2, np.arange(7), 1.0, 3, "an array of epochs 0, ..., 6 with a drop every 3")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k in range(_HIDDEN):
            interval = int(rng.choice([1, 3, 10, 100, 1000]))
            epoch = _off_the_steps(rng, interval, None if k % 4 else (int(rng.integers(1, 8)),))
            cases.append(_scheduled_case(_random_lr0(rng), epoch, float(rng.choice(
                [0.1, 0.5, 1.0, 2.0, round(float(rng.uniform(0.05, 3)), 3)])), interval))
    run_check("lr_scheduled", func, cases, hidden=hidden)


# =========================================================================== log-scale sampling

LOG_SAMPLE_HINT = ("r = rng.uniform(np.log10(low), np.log10(high), size) (one draw), then return 10 ** r: "
                   "every decade between low and high gets the same share of the samples.")


def _log_sample_inspect(low, high, size):
    def inspect(got):
        value = got.get("sample")
        try:
            a = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        if size is not None and a.shape != tuple(np.atleast_1d(size)):
            return (f"with size={size!r}, return an array of that shape: pass size on to rng.uniform "
                    "(size=None gives a single number).")
        if a.size == 0 or not np.all(np.isfinite(a)):
            return None
        if np.any(a < low * (1 - 1e-9)) or np.any(a > high * (1 + 1e-9)):
            return f"every sample must lie between low = {low:g} and high = {high:g}. " + LOG_SAMPLE_HINT
        return "your samples are not the expected draws: " + RNG_HINT.format(
            what=", rng.uniform(np.log10(low), np.log10(high), size)")

    return inspect


def _log_sample_case(low, high, seed, size=None, note=""):
    expected = reference("optim").sample_log_uniform(low, high, np.random.default_rng(seed), size)

    def draw(fn):
        return fn(np.random.default_rng(seed))

    def variants():
        a, b = math.log10(low), math.log10(high)
        out = [(draw(lambda r: r.uniform(low, high, size)),
                "sample the exponent, not the value: r = rng.uniform(np.log10(low), np.log10(high)), then 10 ** r. "
                "Uniform between low and high puts about 90 % of the samples in the top decade."),
               (draw(lambda r: r.random(size) * high),
                "r * high samples uniformly on the linear scale (most samples land in the top decade); sample the "
                "exponent r = rng.uniform(np.log10(low), np.log10(high)) and return 10 ** r."),
               (draw(lambda r: 10.0 ** r.uniform(math.log(low), math.log(high), size)),
                "np.log is the natural log: with 10 ** r use np.log10 (or use np.log with np.exp)."),
               (draw(lambda r: np.exp(r.uniform(a, b, size))),
                "np.exp undoes np.log, not np.log10: with np.log10 return 10 ** r."),
               (draw(lambda r: r.uniform(a, b, size)), "return 10 ** r, not the exponent r.")]
        return [Variant(h, {"sample": v if size is not None else float(v)}) for v, h in out]

    args = [("low", low), ("high", high), ("rng", np.random.default_rng(seed))]
    if size is not None:
        args.append(("size", size))
    return Case(args=args,
                outputs=[Out("sample", float(expected) if size is None else expected,
                             kind="scalar" if size is None else "array",
                             shape_hint="with size given, return an array of that shape (pass size to rng.uniform).")],
                describe=f"low={low:g}, high={high:g}, rng=np.random.default_rng({seed})"
                         + (f", size={size!r}" if size is not None else ""),
                note=note, hint=LOG_SAMPLE_HINT, variants=variants, inspect=_log_sample_inspect(low, high, size))


def sample_log_uniform(func, hidden=False, seed=0):
    """Check ``sample_log_uniform(low, high, rng, size=None)``: 10**r, r ~ U[log10 low, log10 high]."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_log_sample_case(1e-4, 1.0, 0, note="one learning rate between 1e-4 and 1"),
                 _log_sample_case(1e-3, 1e-1, 1, (5,), "five samples between 0.001 and 0.1"),
                 _log_sample_case(1e-6, 1e-2, 2, (2, 3), "a (2, 3) array between 1e-6 and 0.01")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for _ in range(_HIDDEN):
            low = float(10 ** rng.uniform(-7, -1))
            high = low * float(10 ** rng.uniform(0.5, 5))
            size = [None, None, (int(rng.integers(1, 8)),), (int(rng.integers(1, 4)), int(rng.integers(1, 4)))][
                int(rng.integers(0, 4))]
            cases.append(_log_sample_case(low, high, int(rng.integers(0, 2**31)), size))
    run_check("sample_log_uniform", func, cases, hidden=hidden)
