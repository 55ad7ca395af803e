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
import dis
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

# --------------------------------------------------------------------------- hints

TRAIN_RUNNING = ("in train mode, normalise with the batch's own mean and (biased) variance; running_mean and "
                 "running_var are only used in eval mode (train=False).")
EVAL_BATCH = ("in eval mode (train=False), normalise with running_mean and running_var, not with the batch's own "
              "statistics: at test time one example must get the same output alone as inside a batch.")
UNBIASED_NORM = ("normalise the batch with the biased variance (divide by N: np.var's default, ddof=0); only the "
                 "running variance uses the unbiased estimate (divide by N − 1).")
EPS_PLACE = "ε goes inside the square root: x̂ = (x − μ) / √(σ² + ε), not (x − μ) / (√σ² + ε)."
DIVIDE_VAR = "divide by the standard deviation √(σ² + ε), not by the variance σ² + ε."
SWAPPED = "γ and β are swapped: out = γ·x̂ + β (gamma scales, beta shifts)."
NO_AFFINE = "your out is x̂ alone: apply the learned scale and shift, out = γ·x̂ + β."
AXIS_2D = ("x is (N, D): each feature (column) is normalised over the batch, so the mean and variance are taken "
           "over axis=0 and have shape (D,), like gamma and beta.")
EXC_2D = AXIS_2D + " Keep the signature (x, gamma, beta, running_mean, running_var, train, momentum, eps)."
RV_BIASED = ("the running variance uses the unbiased batch variance, as torch does: running_var = (1 − momentum)·"
             "running_var + momentum·σ²·N/(N − 1) (the batch itself is still normalised with the biased σ²).")
RV_STD = "running_var is a moving average of the variance σ², not of the standard deviation."
EVAL_UPDATED = ("in eval mode (train=False) the running statistics must not change: update them only when train "
                "is True.")
INPUT_KEPT = ("only running_mean and running_var may be updated in place; x, gamma and beta must stay as they were "
              "(x - mu builds a new array, x -= mu overwrites the caller's x).")
DOUT_KEPT = ("dout belongs to the caller (the layer above may still use it): build new arrays (dout * gamma) "
             "instead of writing into it (dout *= gamma).")

SP_AXIS0 = ("you took statistics per (C, H, W) position (over axis 0 only); spatial batch norm has one mean and "
            "one variance per channel, over the batch and all positions: axes (0, 2, 3).")
SP_AXES01 = ("statistics over axes (0, 1) mix the channels and keep one value per position; spatial batch norm "
             "normalises each channel over axes (0, 2, 3).")
SP_MIX = ("x.reshape(-1, C) on an (N, C, H, W) array mixes the channels: its columns are not channels. Move C last "
          "first, x.transpose(0, 2, 3, 1).reshape(-1, C), and undo that on the way back.")
SP_BACK = ("your out is the (N·H·W, C) result reshaped straight to (N, C, H, W), which scrambles it; undo the "
           "transpose: .reshape(N, H, W, C).transpose(0, 3, 1, 2).")
SP_COUNT = ("the running variance is unbiased over all M = N·H·W values of a channel: multiply σ² by M/(M − 1), "
            "not by N/(N − 1).")
EXC_4D = ("x is (N, C, H, W) and gamma, beta, running_mean, running_var are (C,): one mean and variance per channel, "
          "over axes (0, 2, 3). Reuse batchnorm_forward on x.transpose(0, 2, 3, 1).reshape(-1, C).")

BW_CONST = ("your dx treats μ and σ as constants, but both depend on x. The full gradient is dx = γ/(N·√(σ² + ε))·"
            "(N·dout − Σ dout − x̂·Σ(dout·x̂)), sums over the batch axis.")
BW_NO_VAR = ("your dx has the path through μ but misses the one through σ²: subtract x̂·mean(dout·x̂) too "
             "(dx = γ/√(σ² + ε)·(dout − mean(dout) − x̂·mean(dout·x̂))).")
BW_NO_MEAN = ("your dx has the path through σ² but misses the one through μ: subtract mean(dout) too "
              "(dx = γ/√(σ² + ε)·(dout − mean(dout) − x̂·mean(dout·x̂))).")
BW_N = ("dx has a wrong 1/N factor: dx = γ/(N·√(σ² + ε))·(N·dout − Σ dout − x̂·Σ(dout·x̂)), which is "
        "γ/√(σ² + ε)·(dout − mean(dout) − x̂·mean(dout·x̂)).")
BW_GAMMA = "dx is missing the factor γ: out = γ·x̂ + β, so the gradient reaching x̂ is γ·dout."
DG_NO_XHAT = "dgamma = Σ dout·x̂ over the batch (∂out/∂γ = x̂); you summed dout alone, which is dbeta."
DG_X = "dgamma uses the normalised x̂, not the raw x: dgamma = Σ dout·x̂."
DB_SWAP = "dbeta = Σ dout (β only shifts); Σ dout·x̂ is dgamma."
MEAN_NOT_SUM = "{name} is a sum over the batch, not a mean."
AXIS_BW_2D = "{name} has one entry per feature, shape (D,): sum over the batch axis (axis=0), not axis 1."
AXIS_BW_4D = "{name} has one entry per channel, shape (C,): sum over axes (0, 2, 3)."
SP_BW_COUNT = ("the N in the 1/N factor is the number of values per channel, M = N·H·W, not the batch size: reuse "
               "batchnorm_backward on the (N·H·W, C) arrays and it comes right by itself.")
SP_BW_MIX = ("dout.reshape(-1, C) mixes the channels: transpose first, dout.transpose(0, 2, 3, 1).reshape(-1, C), "
             "exactly as in the forward pass.")
SP_BW_BACK = ("your dx is the (N·H·W, C) result reshaped straight to (N, C, H, W); undo the transpose: "
              ".reshape(N, H, W, C).transpose(0, 3, 1, 2).")




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


# --------------------------------------------------------------------------- NumPy helpers (float64)



def _vec(v, ndim):
    """A per-feature/per-channel vector (D,) or (C,) shaped to broadcast against x."""
    return np.asarray(v).reshape((1, -1) + (1,) * (ndim - 2))


def _axes(ndim):
    return (0,) if ndim == 2 else (0, 2, 3)


def _moments(x, axes):
    """Mean and biased variance over ``axes``, keepdims (they broadcast against x)."""
    mu = x.mean(axis=axes, keepdims=True)
    return mu, ((x - mu) ** 2).mean(axis=axes, keepdims=True)


def _unbiased(var, count):
    return var * count / (count - 1)


def _affine(xhat, gamma, beta, ndim):
    return _vec(gamma, ndim) * xhat + _vec(beta, ndim)


def _flat(a):
    """(N, C, H, W) -> (N·H·W, C) with C last; (N, D) unchanged."""
    return a if a.ndim == 2 else a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1])


def _unflat(a, shape):
    """Inverse of :func:`_flat`."""
    if len(shape) == 2:
        return a
    n, c, h, w = shape
    return a.reshape(n, h, w, c).transpose(0, 3, 1, 2)


def _finite(*arrays) -> bool:
    return all(np.all(np.isfinite(a)) for a in arrays)




def _param_name(func, index: int, default: str) -> str:
    code = getattr(func, "__code__", None)
    if code is not None and code.co_argcount > index:
        return code.co_varnames[index]
    return default


def _assigns(func, name: str) -> bool:
    """Whether the function's own body assigns to the local name ``name`` (x = ..., x += ...)."""
    code = getattr(func, "__code__", None)
    if code is None:
        return False
    stores = getattr(code, "cnn_stores", None)  # a function in the kernel: the names it assigns
    if stores is not None:
        return name in stores
    return any(ins.opname in ("STORE_FAST", "STORE_DEREF", "STORE_NAME") and ins.argval == name
               for ins in dis.get_instructions(code))


# --------------------------------------------------------------------------- forward


def _stat_hints(name: str, stat: str) -> dict[str, str]:
    return {
        "momentum": (f"momentum weights the NEW batch statistic: {name} = (1 − momentum)·{name} + momentum·{stat} "
                     "(torch's convention: momentum = 0.1 keeps 90 % of the old value). You swapped the two weights."),
        "no_average": (f"{name} is a moving average, (1 − momentum)·{name} + momentum·{stat}; you stored the batch "
                       "statistic itself."),
    }


def _unchanged_hint(func, index: int, name: str, stat: str) -> str:
    pname = _param_name(func, index, name)
    if _assigns(func, pname):
        return (f"the caller's {name} did not change: your function assigns a new array to the name {pname}, which "
                "only rebinds the local name inside the function. Update the caller's array in place: "
                f"{pname}[:] = (1 − momentum) * {pname} + momentum * ... (or in-place operators *= and +=).")
    return (f"{name} was not updated: after a train-mode call the caller's array must hold (1 − momentum)·{name} + "
            f"momentum·{stat}. Update it in place ({name}[:] = ...), so the caller sees the new values.")


def _train_variants(x, gamma, beta, rm, rv, momentum, eps, rm_new, rv_new):
    """Known mistakes of a train-mode forward: (hint, {output: value}) pairs, float64."""
    nd, axes = x.ndim, _axes(x.ndim)
    count = x.size // x.shape[1]
    mu, var = _moments(x, axes)
    var_u = _unbiased(var, count)
    g, b = gamma, beta
    aff = lambda xhat: _affine(xhat, g, b, nd)  # noqa: E731
    out = [
        (TRAIN_RUNNING, {"out": aff((x - _vec(rm, nd)) / np.sqrt(_vec(rv, nd) + eps))}),
        (TRAIN_RUNNING, {"out": aff((x - _vec(rm_new, nd)) / np.sqrt(_vec(rv_new, nd) + eps))}),
        (UNBIASED_NORM, {"out": aff((x - mu) / np.sqrt(var_u + eps))}),
        (EPS_PLACE, {"out": aff((x - mu) / (np.sqrt(var) + eps))}),
        (DIVIDE_VAR, {"out": aff((x - mu) / (var + eps))}),
        (SWAPPED, {"out": _affine((x - mu) / np.sqrt(var + eps), b, g, nd)}),
        (NO_AFFINE, {"out": (x - mu) / np.sqrt(var + eps)}),
    ]
    mu_s, var_s = mu.reshape(-1), var.reshape(-1)
    stats = {"running_mean": (rm, mu_s), "running_var": (rv, _unbiased(var_s, count))}
    for name, (old, new) in stats.items():
        hints = _stat_hints(name, "μ" if name == "running_mean" else "σ²_unbiased")
        out += [(hints["momentum"], {name: momentum * old + (1 - momentum) * new}),
                (hints["no_average"], {name: new})]
    out += [(RV_BIASED, {"running_var": (1 - momentum) * rv + momentum * var_s}),
            (_stat_hints("running_var", "σ²_unbiased")["momentum"],
             {"running_var": momentum * rv + (1 - momentum) * var_s}),
            (RV_STD, {"running_var": (1 - momentum) * rv + momentum * np.sqrt(_unbiased(var_s, count))})]
    if nd == 2:
        m1, v1 = _moments(x, (1,))
        out.append((AXIS_2D, {"out": aff((x - m1) / np.sqrt(v1 + eps))}))
    else:
        out += _spatial_train_variants(x, g, b, rm, rv, momentum, eps)
    return out


def _spatial_train_variants(x, g, b, rm, rv, momentum, eps):
    n, c, h, w = x.shape
    out = []
    m0, v0 = _moments(x, (0,))
    out.append((SP_AXIS0, {"out": _affine((x - m0) / np.sqrt(v0 + eps), g, b, 4)}))
    m01, v01 = _moments(x, (0, 1))
    out.append((SP_AXES01, {"out": _affine((x - m01) / np.sqrt(v01 + eps), g, b, 4)}))
    mixed = x.reshape(-1, c)
    mm, vm = _moments(mixed, (0,))
    out_mixed = _affine((mixed - mm) / np.sqrt(vm + eps), g, b, 2)
    out.append((SP_MIX, {"out": out_mixed.reshape(x.shape)}))
    if x.size > c:
        out += [(SP_MIX, {"running_mean": (1 - momentum) * rm + momentum * mm.reshape(-1)}),
                (SP_MIX, {"running_var": (1 - momentum) * rv + momentum * _unbiased(vm.reshape(-1), x.size // c)})]
    flat = _flat(x)
    mf, vf = _moments(flat, (0,))
    out.append((SP_BACK, {"out": _affine((flat - mf) / np.sqrt(vf + eps), g, b, 2).reshape(x.shape)}))
    if n > 1:
        out.append((SP_COUNT, {"running_var": (1 - momentum) * rv + momentum * _unbiased(vf.reshape(-1), n)}))
    return out


def _eval_variants(x, gamma, beta, rm, rv, momentum, eps):
    nd, axes = x.ndim, _axes(x.ndim)
    count = x.size // x.shape[1]
    aff = lambda xhat: _affine(xhat, gamma, beta, nd)  # noqa: E731
    rmv, rvv = _vec(rm, nd), _vec(rv, nd)
    mu, var = _moments(x, axes)
    out = [
        (EVAL_BATCH, {"out": aff((x - mu) / np.sqrt(var + eps))}),
        (EPS_PLACE, {"out": aff((x - rmv) / (np.sqrt(rvv) + eps))}),
        (DIVIDE_VAR, {"out": aff((x - rmv) / (rvv + eps))}),
        (SWAPPED, {"out": _affine((x - rmv) / np.sqrt(rvv + eps), beta, gamma, nd)}),
        (NO_AFFINE, {"out": (x - rmv) / np.sqrt(rvv + eps)}),
    ]
    if nd == 4:
        c = x.shape[1]
        xhat_flat = (_flat(x) - rm) / np.sqrt(rv + eps)
        out.append((SP_BACK, {"out": _affine(xhat_flat, gamma, beta, 2).reshape(x.shape)}))
        mixed = x.reshape(-1, c)
        out.append((SP_MIX, {"out": _affine((mixed - rm) / np.sqrt(rv + eps), gamma, beta, 2).reshape(x.shape)}))
    mu_s, var_s = mu.reshape(-1), var.reshape(-1)
    rm_upd = (1 - momentum) * rm + momentum * mu_s
    for v in ([var_s, _unbiased(var_s, count)] if count > 1 else [var_s]):  # updated first, then used
        rv_upd = (1 - momentum) * rv + momentum * v
        out.append((EVAL_UPDATED, {"out": aff((x - _vec(rm_upd, nd)) / np.sqrt(_vec(rv_upd, nd) + eps))}))
    out += [(EVAL_UPDATED, {"running_mean": (1 - momentum) * rm + momentum * mu_s}),
            (EVAL_UPDATED, {"running_mean": momentum * rm + (1 - momentum) * mu_s}),
            (EVAL_UPDATED, {"running_var": (1 - momentum) * rv + momentum * var_s})]
    if count > 1:
        out.append((EVAL_UPDATED, {"running_var": (1 - momentum) * rv + momentum * _unbiased(var_s, count)}))
    return out


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


def _grads(x, gamma, eps, dout):
    """Reference-style pieces in the (M, C) layout: x̂, std, dout_flat, gamma (all float64)."""
    xf, df = _flat(x), _flat(dout)
    mu, var = _moments(xf, (0,))
    std = np.sqrt(var + eps)
    return (xf - mu) / std, std, df


def _dx_formula(df, xhat, std, gamma, mode="right", count=None):
    """dx in the (M, C) layout, correct or with one of the classic mistakes (``mode``)."""
    g = gamma.reshape(1, -1)
    s, sx = df.sum(axis=0), (df * xhat).sum(axis=0)
    m = df.shape[0]
    if mode == "constant":
        return g * df / std
    if mode == "no_var":
        return g / std * (df - s / m)
    if mode == "no_mean":
        return g / std * (df - xhat * sx / m)
    if mode == "sums":
        return g / std * (df - s - xhat * sx)
    if mode == "no_n_first":
        return g / (m * std) * (df - s - xhat * sx)
    if mode == "times_n":
        return g / std * (m * df - s - xhat * sx)
    if mode == "twice":
        return g / (m * m * std) * (m * df - s - xhat * sx)
    if mode == "no_gamma":
        return 1.0 / (m * std) * (m * df - s - xhat * sx)
    if mode == "count":
        return g / (count * std) * (count * df - s - xhat * sx)
    return g / (m * std) * (m * df - s - xhat * sx)


def _backward_variants(x, gamma, eps, dout):
    shape, nd = x.shape, x.ndim
    xhat, std, df = _grads(x, gamma, eps, dout)
    dxv = lambda mode, count=None: _unflat(_dx_formula(df, xhat, std, gamma, mode, count), shape)  # noqa: E731
    n = shape[0]
    out = []
    if nd == 4 and n < x.size // shape[1]:  # before the generic 1/N hints, which also match it
        out.append((SP_BW_COUNT, {"dx": dxv("count", n)}))
    out += [(BW_CONST, {"dx": dxv("constant")}), (BW_NO_VAR, {"dx": dxv("no_var")}),
            (BW_NO_MEAN, {"dx": dxv("no_mean")}), (BW_GAMMA, {"dx": dxv("no_gamma")})]
    out += [(BW_N, {"dx": dxv(m)}) for m in ("times_n", "sums", "no_n_first", "twice")]
    out += [(DG_NO_XHAT, {"dgamma": df.sum(axis=0)}), (DG_X, {"dgamma": (df * _flat(x)).sum(axis=0)}),
            (MEAN_NOT_SUM.format(name="dgamma"), {"dgamma": (df * xhat).mean(axis=0)}),
            (MEAN_NOT_SUM.format(name="dbeta"), {"dbeta": df.mean(axis=0)}),
            (DB_SWAP, {"dbeta": (df * xhat).sum(axis=0)})]
    xhat_full, d = _unflat(xhat, shape), dout
    if nd == 2:
        out += [(AXIS_BW_2D.format(name="dgamma"), {"dgamma": (d * xhat_full).sum(axis=1)}),
                (AXIS_BW_2D.format(name="dbeta"), {"dbeta": d.sum(axis=1)}),
                (AXIS_BW_2D.format(name="dbeta"), {"dbeta": np.array(d.sum())})]
    else:
        c = shape[1]
        out += [(AXIS_BW_4D.format(name="dgamma"), {"dgamma": (d * xhat_full).sum(axis=0)}),
                (AXIS_BW_4D.format(name="dbeta"), {"dbeta": d.sum(axis=0)}),
                (AXIS_BW_4D.format(name="dgamma"), {"dgamma": (d * xhat_full).sum(axis=(0, 1))}),
                (AXIS_BW_4D.format(name="dbeta"), {"dbeta": d.sum(axis=(0, 1))}),
                (SP_BW_BACK, {"dx": _dx_formula(df, xhat, std, gamma).reshape(shape)})]
        mixed = dout.reshape(-1, c)
        out += [(SP_BW_MIX, {"dx": _unflat(_dx_formula(mixed, xhat, std, gamma), shape)}),
                (SP_BW_MIX, {"dgamma": (mixed * xhat).sum(axis=0)}),
                (SP_BW_MIX, {"dbeta": mixed.sum(axis=0)})]
    return out


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
