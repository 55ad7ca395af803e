"""Checks of section 6: L2 regularisation and inverted dropout."""

from __future__ import annotations

import numpy as np

from ..core import Case, Out, Variant, describe, f64, float_dtypes, reference, run_check
from ._common import _HIDDEN, RNG_HINT, _layers, _random_params, _shapes, _sumsq


# =========================================================================== L2 regularisation

L2_COST_HINT = ("cost = cost + λ/(2m) · Σ_l ‖W{l}‖², with ‖W‖² = np.sum(np.square(W)) over the weights "
                "W1, ..., WL only (no biases).")
L2_GRAD_HINT = ("the new grads is a new dict with every entry of grads: dW{l} + (λ/m)·W{l} for the weights, "
                "db{l} unchanged; build it without writing into the arrays you were given.")


def _l2_cost_variants(ce, params, lambd, m):
    """Known mistakes in the regularised cost: (value, hint)."""
    w2 = _sumsq(params)
    layers = _layers(params)
    return [(ce + lambd / m * w2, "the L2 term of the cost is λ/(2m)·Σ‖W‖²; you used λ/m (that factor belongs to "
             "the gradient, where the 2 of the square cancels the 1/2)."),
            (ce + lambd / (2 * m) * (w2 + _sumsq(params, "b")),
             "regularise the weights only: leave the biases b{l} out of the sum."),
            (lambd / (2 * m) * w2, "add the L2 term to the cost you were given (the cross-entropy)."),
            (ce + lambd / (2 * m) * sum(np.linalg.norm(f64(params[f"W{l}"])) for l in layers),
             "use the squared norm, np.sum(np.square(W)); np.linalg.norm(W) is its square root."),
            (ce + lambd / (2 * m) * sum(float(np.sum(f64(params[f"W{l}"]))) for l in layers),
             "square the weights before summing: np.sum(np.square(W))."),
            (ce + lambd / 2 * w2, "divide the L2 term by m too: λ/(2m)·Σ‖W‖²."),
            (ce + lambd / (2 * m) * _sumsq(params, layers=layers[-1:]),
             "sum over every layer l = 1, ..., L, not only the last one."),
            (ce + lambd / (2 * m) * _sumsq(params, layers=layers[:1]),
             "sum over every layer l = 1, ..., L, not only the first one.")]


def _l2_grads_sim(grads, params, coef_w, coef_b=0.0, replace=False):
    out = {}
    for k, g in grads.items():
        p = f64(params[k[1:]])
        coef = coef_w if k.startswith("dW") else coef_b
        out[k] = coef * p if (replace and k.startswith("dW")) else f64(g) + coef * p
    return out


def _l2_grad_variants(grads, params, lambd, m):
    """Known mistakes in the regularised gradients: (value, hint)."""
    return [(_l2_grads_sim(grads, params, lambd / (2 * m)), "the derivative of λ/(2m)·‖W‖² is (λ/m)·W: the 2 of "
             "the square cancels the 1/2."),
            (_l2_grads_sim(grads, params, 2 * lambd / m), "add (λ/m)·W to dW, not (2λ/m)·W: the 2 of the square "
             "cancels the 1/2 of λ/(2m)."),
            (_l2_grads_sim(grads, params, lambd / m, lambd / m), "the biases are not regularised: db{l} stays as it is."),
            (_l2_grads_sim(grads, params, lambd / m, replace=True), "add (λ/m)·W to the gradient you were given "
             "(dW + λ/m·W); you replaced dW by (λ/m)·W."),
            ({k: v for k, v in _l2_grads_sim(grads, params, lambd / m).items() if k.startswith("dW")},
             "keep the bias gradients too: the new grads holds every entry of grads (db{l} unchanged)."),
            (_l2_grads_sim(grads, params, lambd), "divide by m: add (λ/m)·W to dW.")]


def _l2_case(ce, grads, params, lambd, m, note=""):
    losses = reference("losses")
    cost = float(ce + losses.l2_cost({k: v.copy() for k, v in params.items()}, lambd, m))
    new_grads = losses.l2_grads({k: v.copy() for k, v in grads.items()}, {k: v.copy() for k, v in params.items()},
                                lambd, m)
    g0 = {k: v.copy() for k, v in grads.items()}
    p0 = {k: v.copy() for k, v in params.items()}
    dtype = params["W1"].dtype

    def variants():
        return ([Variant(h, {"cost": v}) for v, h in _l2_cost_variants(ce, p0, lambd, m)]
                + [Variant(h, {"grads": v}) for v, h in _l2_grad_variants(g0, p0, lambd, m)])

    def exception_hint(exc, line):
        if isinstance(exc, KeyError):
            return ("params holds W1, b1, ..., WL, bL and grads dW1, db1, ...: the weight of grads['dW1'] is "
                    "params['W1'] (the key without its 'd').")
        return L2_COST_HINT

    return Case(args=[("cost", ce), ("grads", grads), ("params", params), ("lambd", lambd), ("m", m)],
                outputs=[Out("cost", cost, kind="scalar"),
                         Out("grads", new_grads, kind="dict", shape_hint="every gradient has its parameter's shape.")],
                describe=f"cost={ce:.6g}, grads={_shapes(grads)}, lambd={lambd:.6g}, m={m}, "
                         f"dtype={np.dtype(dtype).name}",
                dtype=dtype, note=note, hint=L2_COST_HINT + " " + L2_GRAD_HINT, variants=variants,
                exception_hint=exception_hint)


VISIBLE_PARAMS = {"W1": np.array([[1.0, -2.0], [0.5, 0.0], [3.0, 1.0]]), "b1": np.array([1.0, 2.0, -1.0]),
                  "W2": np.array([[2.0, -1.0, 1.0]]), "b2": np.array([0.5])}


def _visible_params():
    return {k: v.copy() for k, v in VISIBLE_PARAMS.items()}


def _grads_for(params, rng, dt):
    return {"d" + k: rng.standard_normal(v.shape).astype(dt) for k, v in params.items()}


def l2_regularization(func, hidden=False, seed=0):
    """Check ``l2_regularization(cost, grads, params, lambd, m) -> (cost, grads)``: the cost plus
    λ/(2m)·Σ‖W‖², and new gradients dW + (λ/m)·W (db unchanged, the given grads untouched)."""
    __tracebackhide__ = True
    if not hidden:
        rng = np.random.default_rng(5)
        halves = {"d" + k: np.full(v.shape, 0.5) for k, v in VISIBLE_PARAMS.items()}
        cases = [_l2_case(0.7, halves, _visible_params(), 0.2, 4,
                          "Σ‖W‖² = 15.25 + 6 = 21.25 and λ/m = 0.05: cost 0.7 + 0.025·21.25 = 1.23125, "
                          "dW = 0.5 + 0.05·W, db stays 0.5"),
                 _l2_case(1.2, _grads_for(VISIBLE_PARAMS, rng, np.float64), _visible_params(), 0.0, 5,
                          "λ = 0 changes nothing"),
                 _l2_case(0.3, _grads_for(VISIBLE_PARAMS, rng, np.float64), _visible_params(), 1.0, 1,
                          "λ = 1, a single example (m = 1)"),
                 _l2_case(0.3, *_params_and_grads(np.random.default_rng(4), np.float64, [4, 3, 3, 2]), 0.7, 3,
                          "three layers")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for dt in float_dtypes(rng, _HIDDEN):
            grads, params = _params_and_grads(rng, dt)
            cases.append(_l2_case(float(rng.uniform(0, 3)), grads, params, float(rng.choice([0.01, 0.1, 0.7, 2.0])),
                                  int(rng.integers(1, 50))))
    run_check("l2_regularization", func, cases, hidden=hidden)


def _params_and_grads(rng, dt, dims=None):
    params = _random_params(rng, dt, dims)
    return _grads_for(params, rng, dt), params


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
