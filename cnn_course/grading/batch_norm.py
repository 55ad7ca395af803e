"""Checks for the topic-3 notebook (batch normalisation, forward and backward).

The graded functions and their checks:

* ``batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1,
  eps=1e-5) -> (out, cache)`` for x of shape (N, D): :func:`batchnorm_forward_train` and
  :func:`batchnorm_forward_eval`;
* ``batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)``: :func:`batchnorm_backward`,
  which takes the cache from the student's own forward pass;
* ``spatial_batchnorm_forward`` / ``spatial_batchnorm_backward``: the same for x of shape
  (N, C, H, W), one mean and variance per channel.

Every check runs through :func:`.core.run_check`. Batch norm updates ``running_mean`` and
``running_var`` in place: each case owns its copies of them (``Case.inplace_ok``), whose
values after the call are two more outputs (``Case.observe``) next to the returned ``out``
(the ``cache`` is not compared: ``Case.returns``), while ``x``, ``gamma``, ``beta`` (and
``dout``) must stay untouched. A backward case first runs the student's own forward pass for
its cache (``Case.prepare``); a broken forward pass fails the case with "fix it first".
Expected values come from :mod:`cnn_course.ref`; the known mistakes used for hints are
computed next to them, in float64.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from .core import (
    Case,
    CheckFailed,
    Out,
    Variant,
    _exception_lines,
    _type_name,
    compare,
    describe,
    f64,
    find_forbidden_static,
    float_dtypes,
    reference,
    run_check,
    watch_forbidden_calls,
)
from ._batch_norm_mistakes import (  # noqa: F401  (_assigns, _param_name: the remote-grading tests use them)
    DOUT_KEPT,
    EXC_2D,
    EXC_4D,
    INPUT_KEPT,
    _assigns,
    _backward_variants,
    _eval_variants,
    _finite,
    _flat,
    _param_name,
    _train_variants,
    _unchanged_hint,
)

__all__ = [
    "batchnorm_forward_train", "batchnorm_forward_eval", "batchnorm_backward",
    "spatial_batchnorm_forward", "spatial_batchnorm_backward",
    "EXAMPLE_X", "EXAMPLE_GAMMA", "EXAMPLE_BETA",
]

_HIDDEN = 20
_EPSILONS = (1e-5, 1e-3, 0.1, 1e-5, 0.5)  # cycled through, so a misplaced ε always shows somewhere
_MOMENTA = (0.1, 0.05, 0.3, 0.1, 0.9)

#: The small batch of the visible train/eval/backward cases (4 examples, 3 features):
#: the notebook may use it as its worked example.
EXAMPLE_X = np.array([[1.0, 2.0, -1.0], [3.0, 6.0, 0.0], [5.0, 10.0, 1.0], [7.0, 2.0, 4.0]])
EXAMPLE_GAMMA = np.array([1.0, 2.0, 0.5])
EXAMPLE_BETA = np.array([0.0, -1.0, 3.0])

# The step-by-step recipes: shown when a case fails in a way no known mistake explains.
_TRAIN_STEPS = ("step by step, in train mode: mu = the mean of each column of x (axis=0, shape (D,)); var = the "
                "mean of (x - mu)**2 over axis 0 (the biased variance: divide by N); x_hat = (x - mu) / "
                "np.sqrt(var + eps); out = gamma * x_hat + beta. Then write into the caller's arrays: running_mean[:] = "
                "(1 - momentum) * running_mean + momentum * mu and running_var[:] = (1 - momentum) * running_var + "
                "momentum * var * N / (N - 1).")
_EVAL_STEPS = ("step by step, in eval mode: x_hat = (x - running_mean) / np.sqrt(running_var + eps); "
               "out = gamma * x_hat + beta; running_mean and running_var stay exactly as they were.")
_SPATIAL_STEPS = ("step by step: move the channels last and merge the other axes, x.transpose(0, 2, 3, 1).reshape(-1, "
                  "C), an (N·H·W, C) matrix whose column c holds channel c; normalise it with your batchnorm_forward "
                  "(which, in train mode, updates running_mean and running_var from M = N·H·W values per channel); "
                  "then undo both steps on the result: .reshape(N, H, W, C).transpose(0, 3, 1, 2).")


# --------------------------------------------------------------------------- running

_NO_HINTS = Case(args=[], outputs=[], describe="")  # describes an exception without probing further


def _require(fname: str, func, role: str = "") -> None:
    """Refuse something that is not a function (the cell defining it was not run, say)."""
    __tracebackhide__ = True
    if not callable(func):
        got = "None" if func is None else _type_name(func)
        raise CheckFailed(f"{role or fname}: expected your function {fname}, got {got}. "
                          "Run the cell that defines it first.")


# --------------------------------------------------------------------------- forward


def _forward_case(x, gamma, beta, rm, rv, train, momentum, eps, note="", func=None):
    """A call ``func(x, gamma, beta, running_mean, running_var, train, momentum, eps)``.

    x: (N, D) or (N, C, H, W); gamma, beta, rm, rv: (D,) or (C,); all of x's dtype. The case
    passes its own copies of the running arrays and compares them after the call. ``func``
    (the student's function) lets the hints tell a rebound name from a missing update.
    """
    x64, g64, b64, rm64, rv64 = (f64(a) for a in (x, gamma, beta, rm, rv))
    rm_new, rv_new = rm64.copy(), rv64.copy()
    out, _ = reference("batchnorm").batchnorm_forward(x64.copy(), g64, b64, rm_new, rv_new, train=train, momentum=momentum, eps=eps)
    layout = "(N, D)" if x.ndim == 2 else "(N, C, H, W)"
    vec = "(D,)" if x.ndim == 2 else "(C,)"

    def variants():
        with np.errstate(all="ignore"):
            if train:
                found = _train_variants(x64, g64, b64, rm64, rv64, momentum, eps, rm_new, rv_new)
                found = [(_unchanged_hint(func, 3, "running_mean", "μ"), {"running_mean": rm64}),
                         (_unchanged_hint(func, 4, "running_var", "σ²_unbiased"), {"running_var": rv64})] + found
            else:
                found = _eval_variants(x64, g64, b64, rm64, rv64, momentum, eps)
        return [Variant(h, v) for h, v in found if _finite(*v.values())]

    hint = _SPATIAL_STEPS if x.ndim == 4 else _TRAIN_STEPS if train else _EVAL_STEPS
    return Case(
        args=[("x", x), ("gamma", gamma), ("beta", beta), ("running_mean", rm.copy()),
              ("running_var", rv.copy()), ("train", train), ("momentum", momentum), ("eps", eps)],
        describe=describe(x.dtype, x=x, train=train, momentum=momentum, eps=eps),
        returns=("out", "cache"),
        outputs=[Out("out", out, shape_hint=f"out has the shape of x {layout}."),
                 Out("running_mean", rm_new, shape_hint=f"running_mean keeps its shape {vec}."),
                 Out("running_var", rv_new, shape_hint=f"running_var keeps its shape {vec}.")],
        observe=lambda values: {"running_mean": values[3], "running_var": values[4]},
        inplace_ok=frozenset({"running_mean", "running_var"}), inplace_hint=INPUT_KEPT,
        dtype=x.dtype, note=note, hint=hint, variants=variants,
        exception_hint=lambda exc, line: EXC_2D if x.ndim == 2 else EXC_4D)


def _example(dtype=np.float64):
    return EXAMPLE_X.astype(dtype), EXAMPLE_GAMMA.astype(dtype), EXAMPLE_BETA.astype(dtype)


def _visible_2d(train: bool, func=None) -> list[Case]:
    x, g, b = _example()
    rm, rv = np.zeros(3), np.ones(3)
    rng = np.random.default_rng(3031)
    x2 = np.round(rng.normal(2.0, 3.0, size=(5, 2)), 1)
    g2, b2 = np.array([1.5, -0.5]), np.array([0.25, 2.0])
    rm2, rv2 = np.array([1.0, -2.0]), np.array([4.0, 0.5])
    x3 = np.array([[0.5, 1.0, -2.0, 3.0], [0.5, -1.0, 0.0, 1.0], [0.5, 2.0, 2.0, -1.0]])
    cases = [_forward_case(x, g, b, rm, rv, train, 0.1, 1e-5,
                           "the notebook's 4×3 example batch, running statistics starting at 0 and 1", func),
             _forward_case(x2, g2, b2, rm2, rv2, train, 0.2, 1e-5, "5 examples, 2 features, momentum = 0.2", func)]
    if train:
        cases.append(_forward_case(x3, np.ones(4), np.zeros(4), np.zeros(4), np.ones(4), train, 0.1, 0.5,
                                   "a constant first feature and a large ε = 0.5, so where ε goes shows", func))
    else:
        cases.append(_forward_case(x2[:1], g2, b2, rm2, rv2, train, 0.1, 0.5,
                                   "a single example and a large ε = 0.5: eval mode needs no batch", func))
    return cases


def _random_2d(rng, k, dt, train, func=None):
    n = int(rng.integers(2 if train else 1, 9))
    d = int(rng.integers(1, 7))
    if k % 7 == 0:
        n = 2 if train else 1  # the smallest batch
    x = rng.normal(rng.normal(0, 2), rng.uniform(0.5, 3.0), size=(n, d))
    if k % 5 == 3:
        x[:, -1] = x[0, -1]  # a constant feature: σ² = 0, only ε keeps the division finite
    return _random_rest(rng, k, x, d, dt, train, func)


def _safe_dtype(dtype, x):
    """float64 instead of float32 where float32 cannot resolve the answer to the checks' tolerance:
    a channel with only two values (x̂ = ±1, and the terms of dx cancel almost exactly) or with a
    spread that is tiny next to its values (σ² loses most of its digits)."""
    flat = _flat(x)
    if flat.shape[0] == 2 or np.min(flat.std(axis=0)) < 0.1:
        return np.float64
    return dtype


def _random_rest(rng, k, x, d, dt, train, func=None):
    gamma, beta = rng.normal(1.0, 0.5, size=d), rng.normal(0.0, 1.0, size=d)
    rm, rv = rng.normal(0.0, 1.0, size=d), rng.uniform(0.5, 2.0, size=d)
    dt = _safe_dtype(dt, x) if train else dt
    arrays = [a.astype(dt) for a in (x, gamma, beta, rm, rv)]
    return _forward_case(*arrays, train, _MOMENTA[k % len(_MOMENTA)], _EPSILONS[k % len(_EPSILONS)], func=func)


def _forward_check(label, func, train, hidden, seed):
    __tracebackhide__ = True
    if not hidden:
        cases = _visible_2d(train, func)
    else:
        rng = np.random.default_rng(seed)
        cases = [_random_2d(rng, k, dt, train, func) for k, dt in enumerate(float_dtypes(rng, _HIDDEN))]
    run_check("batchnorm_forward", func, cases, hidden=hidden, label=label)


def batchnorm_forward_train(func, hidden=False, seed=0):
    """Check ``batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum, eps)``.

    x: (N, D); gamma, beta, running_mean, running_var: (D,). Compares out and the running
    arrays after the call (they must be updated in place, torch's convention).
    """
    __tracebackhide__ = True
    _forward_check("batchnorm_forward (train mode)", func, True, hidden, seed)


def batchnorm_forward_eval(func, hidden=False, seed=0):
    """Check ``batchnorm_forward(..., train=False, ...)``: normalise with the running statistics,
    leave them unchanged. Shapes as in :func:`batchnorm_forward_train`; N may be 1."""
    __tracebackhide__ = True
    _forward_check("batchnorm_forward (eval mode)", func, False, hidden, seed)


def _visible_4d(func=None) -> list[Case]:
    x1 = np.arange(24.0).reshape(2, 3, 2, 2) % 7 - 2.0
    rng = np.random.default_rng(3032)
    x2 = np.round(rng.normal(1.0, 2.0, size=(1, 2, 3, 4)), 1)
    x3 = np.round(rng.normal(0.0, 1.0, size=(2, 2, 2, 3)), 1)
    g3, b3 = np.array([2.0, 0.5]), np.array([-1.0, 1.0])
    return [_forward_case(x1, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), True, 0.1, 1e-5,
                          "two 2×2 images with 3 channels, train mode", func),
            _forward_case(x2, g3, b3, np.array([0.5, -0.5]), np.array([2.0, 1.0]), True, 0.1, 1e-5,
                          "a single 3×4 image with 2 channels: statistics over its 12 positions", func),
            _forward_case(x3, g3, b3, np.array([0.5, -0.5]), np.array([2.0, 1.0]), False, 0.1, 1e-5,
                          "eval mode: the running statistics normalise each channel", func)]


def _random_4d_x(rng, train):
    while True:
        n, c = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        h, w = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        if not train or n * h * w >= 3:  # with two values per channel x̂ = ±1 however they are grouped
            return rng.normal(rng.normal(0, 2), rng.uniform(0.5, 3.0), size=(n, c, h, w))


def spatial_batchnorm_forward(func, hidden=False, seed=0):
    """Check ``spatial_batchnorm_forward(x, gamma, beta, running_mean, running_var, train, momentum, eps)``.

    x: (N, C, H, W); gamma, beta, running_mean, running_var: (C,), one statistic per channel
    over axes (0, 2, 3). Train and eval cases.
    """
    __tracebackhide__ = True
    if not hidden:
        cases = _visible_4d(func)
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k, dt in enumerate(float_dtypes(rng, _HIDDEN)):
            train = k % 3 != 2
            x = _random_4d_x(rng, train)
            cases.append(_random_rest(rng, k, x, x.shape[1], dt, train, func))
    run_check("spatial_batchnorm_forward", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- backward


def _fix_forward_first(fwd_name: str, lines: list[str]) -> CheckFailed:
    test = "test_batchnorm_forward_train" if fwd_name == "batchnorm_forward" else "test_spatial_batchnorm_forward"
    return CheckFailed("\n  ".join(
        [f"the cache comes from your {fwd_name} (train mode), which does not work yet:"]
        + [f"  {line}" for line in lines]
        + [f"Hint: fix {fwd_name} first (its own check, {test}, explains what is wrong); "
           "this check can only judge the backward pass once the forward pass is right."]))


def _backward_case(forward, x, gamma, beta, rm, rv, momentum, eps, dout, note=""):
    """A call ``func(dout, cache)`` with the cache of the student's own ``forward`` in train mode."""
    x64, g64, b64 = f64(x), f64(gamma), f64(beta)
    ref = reference("batchnorm")
    out64, cache = ref.batchnorm_forward(x64.copy(), g64, b64, f64(rm), f64(rv), train=True,
                                         momentum=momentum, eps=eps)
    dx, dgamma, dbeta = ref.batchnorm_backward(f64(dout), cache)
    fwd_name = "batchnorm_forward" if x.ndim == 2 else "spatial_batchnorm_forward"
    vec = "(D,)" if x.ndim == 2 else "(C,)"

    def prepare(watch):
        x_in = x.copy()
        watcher = watch_forbidden_calls() if watch else None
        try:
            with watcher if watcher is not None else contextlib.nullcontext():
                result = forward(x_in, gamma, beta, rm.copy(), rv.copy(), True, momentum, eps)
        except Exception as exc:
            raise _fix_forward_first(fwd_name, _exception_lines(fwd_name, exc, _NO_HINTS, forward)) from None
        if watcher is not None and watcher.found:
            raise _fix_forward_first(fwd_name, [f"{fwd_name} calls {watcher.found}, which is not your own work."])
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            got = (f"a {type(result).__name__} of length {len(result)}" if isinstance(result, (tuple, list))
                   else _type_name(result))
            raise _fix_forward_first(fwd_name, [f"{fwd_name} must return a tuple (out, cache), got {got}."])
        lines = compare(Out("out", out64), result[0], x.dtype)
        if lines is None and not np.array_equal(x_in, x):
            lines = [f"{fwd_name} modified its input x in place."]
        if lines:
            raise _fix_forward_first(fwd_name, [f"{fwd_name}'s {line}" if k == 0 else line
                                                for k, line in enumerate(lines)])
        return {"cache": result[1]}

    return Case(
        args=[("dout", dout), ("cache", None)],  # the cache comes from prepare
        describe=describe(x.dtype, x=x, dout=dout, eps=eps),
        outputs=[Out("dx", dx, shape_hint="dx has the shape of x (and of dout)."),
                 Out("dgamma", dgamma, shape_hint=f"dgamma has the shape of gamma {vec}."),
                 Out("dbeta", dbeta, shape_hint=f"dbeta has the shape of beta {vec}.")],
        inplace_ok=frozenset({"cache"}), inplace_hint=DOUT_KEPT, dtype=x.dtype, note=note,
        hint=("dbeta = Σ dout, dgamma = Σ dout·x̂ (sums over the batch" + (")" if x.ndim == 2 else
              " and all positions)") + ", dx = γ/√(σ² + ε)·(dout − mean(dout) − x̂·mean(dout·x̂))."),
        variants=lambda: [Variant(h, v) for h, v in _backward_variants(x64, g64, eps, f64(dout))],
        exception_hint=lambda exc, line: (f"cache is exactly the second value your {fwd_name} returned: unpack "
                                          f"it the way you packed it. dout has the shape of x {x.shape}."),
        prepare=prepare, extra={"out": out64, "forward": forward, "args": (x, gamma, beta, rm, rv, momentum, eps)})


def _fmt_err(e: float) -> str:
    if not np.isfinite(e):
        return "nan"
    if e == 0.0:
        return "0"
    if e < 1e-7:
        return f"< 1e-{min(12, math.floor(-math.log10(e))):02d}"
    return f"{e:.1e}"


def _gradient_report(fname: str, fwd_name: str, func, case: Case) -> None:
    """Visible mode: compare the student's gradients on ``case`` with centred differences of
    the student's own forward pass, and print the relative errors (nothing when either fails)."""
    forward = case.extra["forward"]
    x, gamma, beta, rm, rv, momentum, eps = case.extra["args"]
    dout = dict(case.args)["dout"]
    ref = reference()
    try:
        with np.errstate(all="ignore"):
            out, cache = forward(x.copy(), gamma.copy(), beta.copy(), rm.copy(), rv.copy(), True, momentum, eps)
            if compare(Out("out", case.extra["out"]), out, x.dtype) is not None:
                return
            grads = func(dout.copy(), cache)

            def fwd(xx, gg, bb):
                return np.asarray(forward(xx, gg, bb, rm.copy(), rv.copy(), True, momentum, eps)[0])

            numeric = [ref.eval_numerical_gradient_array(lambda a: fwd(a, gamma, beta), x.copy(), dout),
                       ref.eval_numerical_gradient_array(lambda a: fwd(x, a, beta), gamma.copy(), dout),
                       ref.eval_numerical_gradient_array(lambda a: fwd(x, gamma, a), beta.copy(), dout)]
            errors = [ref.rel_error(np.asarray(g, dtype=np.float64), n) for g, n in zip(grads, numeric)]
    except Exception:  # the cases below report whatever went wrong
        return
    good = all(e < 1e-7 for e in errors)
    verdict = ("below 1e-7: your gradients agree with the numerical ones" if good else
               "far above 1e-7: the analytic and numerical gradients disagree" if max(errors) > 1e-3 else
               "between 1e-7 and 1e-3: look closer")
    parts = ", ".join(f"{n} {_fmt_err(e)}" for n, e in zip(("dx", "dgamma", "dbeta"), errors))
    print(f"Gradient check of {fname} against centred differences of your {fwd_name} (visible case 1):\n"
          f"  relative errors {parts} — {verdict}")


def _backward_check(label, fname, fwd_name, func, forward, cases, hidden):
    __tracebackhide__ = True
    _require(fname, func)
    _require(fwd_name, forward, role=f"{fname}'s check also needs {fwd_name}")
    found = find_forbidden_static(forward)
    if found:
        raise CheckFailed(f"{label} cannot be checked: your {fwd_name}, whose cache it needs, calls {found}, "
                          f"which is not your own work.\n  Hint: fix {fwd_name} first.")
    if not hidden and find_forbidden_static(func) is None:
        _gradient_report(fname, fwd_name, func, cases[0])
    run_check(fname, func, cases, hidden=hidden, label=label)


def _dout(rng, shape, dtype):
    if rng is None:
        return (np.linspace(-1.0, 2.0, int(np.prod(shape))).reshape(shape) ** 2 - 1.0).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def batchnorm_backward(func, forward_func, hidden=False, seed=0):
    """Check ``batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)``.

    dout, dx: (N, D); dgamma, dbeta: (D,). ``cache`` comes from the student's own
    ``forward_func`` (batchnorm_forward, train mode); a wrong forward pass fails the check
    with "fix batchnorm_forward first". Visible mode also prints the relative errors against
    a numerical gradient of the student's forward pass.
    """
    __tracebackhide__ = True

    def make(x, g, b, eps=1e-5, note="", rng=None, momentum=0.1):
        d = x.shape[1]
        rm, rv = np.zeros(d, dtype=x.dtype), np.ones(d, dtype=x.dtype)
        return _backward_case(forward_func, x, g, b, rm, rv, momentum, eps, _dout(rng, x.shape, x.dtype), note)

    if not hidden:
        x, g, b = _example()
        rng = np.random.default_rng(3033)
        x2 = np.round(rng.normal(0.0, 2.0, size=(2, 5)), 1)
        x3 = np.round(rng.normal(1.0, 1.0, size=(6, 2)), 1)
        cases = [make(x, g, b, note="the notebook's 4×3 example batch"),
                 make(x2, np.linspace(0.5, 2.5, 5), np.zeros(5), note="the smallest batch: N = 2"),
                 make(x3, np.array([-1.0, 3.0]), np.array([0.5, 0.5]), eps=0.1, note="6 examples, ε = 0.1")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k, dt in enumerate(float_dtypes(rng, _HIDDEN)):
            n, d = (2 if k % 7 == 0 else int(rng.integers(2, 9))), int(rng.integers(1, 7))
            x = rng.normal(rng.normal(0, 2), rng.uniform(0.5, 3.0), size=(n, d))
            dt = _safe_dtype(dt, x)
            x = x.astype(dt)
            g, b = rng.normal(1.0, 0.5, size=d).astype(dt), rng.normal(0.0, 1.0, size=d).astype(dt)
            cases.append(make(x, g, b, eps=_EPSILONS[k % len(_EPSILONS)], rng=rng))
    _backward_check("batchnorm_backward", "batchnorm_backward", "batchnorm_forward", func, forward_func, cases,
                    hidden)


def spatial_batchnorm_backward(func, forward_func, hidden=False, seed=0):
    """Check ``spatial_batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)``.

    dout, dx: (N, C, H, W); dgamma, dbeta: (C,). ``cache`` comes from the student's own
    ``forward_func`` (spatial_batchnorm_forward, train mode); visible mode prints the
    numerical gradient check like :func:`batchnorm_backward`.
    """
    __tracebackhide__ = True

    def make(x, g, b, eps=1e-5, note="", rng=None):
        c = x.shape[1]
        rm, rv = np.zeros(c, dtype=x.dtype), np.ones(c, dtype=x.dtype)
        return _backward_case(forward_func, x, g, b, rm, rv, 0.1, eps, _dout(rng, x.shape, x.dtype), note)

    if not hidden:
        x1 = np.arange(24.0).reshape(2, 3, 2, 2) % 7 - 2.0
        rng = np.random.default_rng(3034)
        x2 = np.round(rng.normal(1.0, 2.0, size=(1, 2, 3, 4)), 1)
        cases = [make(x1, np.array([1.0, 2.0, -1.0]), np.array([0.0, 1.0, 0.5]),
                      note="two 2×2 images with 3 channels"),
                 make(x2, np.array([0.5, 1.5]), np.zeros(2), eps=0.1,
                      note="a single 3×4 image with 2 channels, ε = 0.1")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k, dt in enumerate(float_dtypes(rng, _HIDDEN)):
            x = _random_4d_x(rng, True)
            c = x.shape[1]
            dt = _safe_dtype(dt, x)
            x = x.astype(dt)
            g, b = rng.normal(1.0, 0.5, size=c).astype(dt), rng.normal(0.0, 1.0, size=c).astype(dt)
            cases.append(make(x, g, b, eps=_EPSILONS[k % len(_EPSILONS)], rng=rng))
    _backward_check("spatial_batchnorm_backward", "spatial_batchnorm_backward", "spatial_batchnorm_forward", func,
                    forward_func, cases, hidden)
