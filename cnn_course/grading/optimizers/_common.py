"""Helpers shared by the topic-2 check modules: hints, draws, small formulas."""

from __future__ import annotations

import numpy as np

from ..core import FORBIDDEN, f64

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


def _softmax_rows(Z, shift=True):
    """Row-wise softmax, with or without the max shift, in Z's own dtype (float32 overflows where
    the student's does)."""
    Z = np.asarray(Z)
    if shift:
        Z = Z - Z.max(axis=1, keepdims=True)
    e = np.exp(Z)
    return e / e.sum(axis=1, keepdims=True)


def _log_softmax(Z, shift=True):
    Z = np.asarray(Z)
    if shift:
        Z = Z - Z.max(axis=1, keepdims=True)
    return Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))


def _pick(M, y):
    return M[np.arange(M.shape[0]), y]


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
