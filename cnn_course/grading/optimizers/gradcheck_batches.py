"""Checks of sections 7-8: gradient checking and mini-batches."""

from __future__ import annotations

import numpy as np

from ..core import Case, Out, Variant, describe, f64, float_dtypes, reference, run_check
from ._common import _HIDDEN, RNG_HINT, _log_softmax, _pick, _random_params, _shapes, _softmax_rows


# =========================================================================== gradient checking

GRADCHECK_HINT = ("for every parameter name (in the dict's order) and every entry idx of it (for idx in "
                  "np.ndindex(W.shape) walks them in row-major order), set that entry of a float64 copy of the "
                  "params to θ + ε, evaluate cost, set it to θ − ε, evaluate again, and put it back: gradapprox_i = "
                  "(J(θ + ε e_i) − J(θ − ε e_i)) / (2ε). Flatten grads['d' + name] in the same order (np.ravel), "
                  "then difference = ‖grad − gradapprox‖₂ / (‖grad‖₂ + ‖gradapprox‖₂).")


FLOAT32_HINT = ("nudge float64 copies of the parameters, np.array(value, dtype=np.float64): these are float32, "
                "which keeps about 7 significant digits, so θ + ε with a small ε is rounded to a neighbouring "
                "float32 number and the nudge you divide by 2ε is not the one J saw.")
ZERO_HINT = ("here every gradient is 0 (the cost does not depend on the parameters), so the formula is 0 / 0 = nan: "
             "return 0.0 when ‖grad‖₂ + ‖gradapprox‖₂ is 0.")


class _Cost:
    """A cost J(params) for the gradient-check cases, with its exact gradient.

    kind "net": mean softmax cross-entropy of a tanh network on fixed data;
    "cubic": Σ C·P³/3 + D·P over every parameter P; "sin": Σ C·sin(P); "flat": a constant
    (every gradient is 0, so the difference is 0 / 0 unless the function says 0.0).
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
        if self.kind == "flat":
            return 1.5
        if self.kind == "cubic":
            return float(sum(np.sum(self.C[k] * P[k] ** 3) / 3 + np.sum(self.D[k] * P[k]) for k in P))
        if self.kind == "sin":
            return float(sum(np.sum(self.C[k] * np.sin(P[k])) for k in P))
        Z = np.tanh(self.X @ P["W1"].T + P["b1"]) @ P["W2"].T + P["b2"]
        return float(-np.mean(_pick(_log_softmax(Z), self.y)))

    def grads(self, params):
        P = {k: f64(v) for k, v in params.items()}
        if self.kind == "flat":
            return {"d" + k: np.zeros(v.shape) for k, v in P.items()}
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
    """Numerical gradient as one vector (dict order, C order) with switchable differences;
    kind "own_dtype" nudges copies in the parameters' own dtype (float32: the nudge rounds)."""
    out = []
    base = cost({k: f64(v).copy() for k, v in params.items()}) if kind == "forward" else None
    copy = (lambda a: np.array(a)) if kind == "own_dtype" else (lambda a: f64(a).copy())
    for k, v in params.items():
        for idx in np.ndindex(v.shape):
            plus = {kk: copy(vv) for kk, vv in params.items()}
            minus = {kk: copy(vv) for kk, vv in params.items()}
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
        with np.errstate(all="ignore"):  # the mistakes modelled here may divide 0 by 0
            return _variants()

    def _variants():
        g = _vec(grads, ["d" + k for k in p0])
        central = _approx(cost, p0, eps)
        if not np.any(g) and not np.any(central):  # every formula is 0 / 0 here: only the guard tells
            return [Variant(ZERO_HINT, {"difference": float("nan")})]

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
        if any(v.dtype != np.float64 for v in p0.values()):
            out.append((diff(g, _approx(cost, p0, eps, "own_dtype")), FLOAT32_HINT))
        sorted_keys = sorted(grads)
        if sorted_keys != ["d" + k for k in p0]:
            out.append((diff(_vec(grads, sorted_keys), central), "take the gradients in the same order as the "
                        "parameters (dW1, db1, dW2, ... matching W1, b1, W2, ...), so entry i of grad and of "
                        "gradapprox belong to the same θ_i."))
        return [Variant(h, {"difference": v}) for v, h in out]

    args = [("cost", cost), ("params", params), ("grads", grads)]
    if epsilon is not None:
        args.append(("epsilon", epsilon))
    dtypes = sorted({np.dtype(v.dtype).name for v in params.values()})
    # Rounding makes J(θ ± ε) uncertain by ~1e-16·|J|, so the difference itself is only
    # reproducible to about 1e-15 / ε: compare with that absolute tolerance.
    return Case(args=args, outputs=[Out("difference", expected, kind="scalar")],
                describe=f"params={_shapes(params)} ({', '.join(dtypes)}), "
                         f"epsilon={'1e-7 (the default)' if epsilon is None else eps}",
                note=note, hint=GRADCHECK_HINT, variants=variants, tol=(1e-6, 1e-15 / eps),
                exception_hint=lambda exc, line: ("cost takes a dict like params; grads uses the keys 'd' + name "
                                                  "(dW1, db1, ...)." if isinstance(exc, (TypeError, KeyError,
                                                                                         ValueError))
                                                  else GRADCHECK_HINT))


def _gradcheck_problem(rng, kind, dims, *, broken=None, epsilon=None, dtype=np.float64, note=""):
    params = _random_params(rng, np.float64, dims, bias_scale=0.5)
    if kind != "net":
        params = {k: v * 0.8 for k, v in params.items()}
    params = {k: v.astype(dtype) for k, v in params.items()}
    cost = _Cost(kind, {k: v.shape for k, v in params.items()}, rng)
    grads = {k: v.astype(dtype) for k, v in cost.grads(params).items()}
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
                                    note="a cubic cost with ε = 1e-3: one-sided differences would be visibly off"),
                 _gradcheck_problem(rng, "net", [3, 2, 2], dtype=np.float32,
                                    note="float32 parameters: nudge float64 copies (in float32, θ + 1e-7 is rounded "
                                         "to a neighbouring float32 number)"),
                 _gradcheck_problem(rng, "flat", [2, 2], note="a cost that does not depend on the parameters: both "
                                    "gradients are 0, and the difference is 0.0")]
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
        for kind in ("net", "cubic", "sin"):
            dims = [int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(2, 4))]
            cases.append(_gradcheck_problem(rng, kind, dims if kind == "net" else dims[:2], dtype=np.float32,
                                            broken=str(rng.choice(["none", "scale"])),
                                            epsilon=float(rng.choice([1e-7, 1e-5]))))
        cases.append(_gradcheck_problem(rng, "flat", [int(d) for d in rng.integers(1, 4, size=3)]))
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
