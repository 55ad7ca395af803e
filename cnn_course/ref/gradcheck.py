"""Numerical gradients, to check the backward passes written by hand.

The centred difference (f(x + h) - f(x - h)) / 2h is accurate to O(h^2); in float64 with
h = 1e-5 a correct analytic gradient usually agrees to a relative error below 1e-7.
Use float64 arrays here: in float32 the rounding error swamps the difference.

For a whole network, ``gradient_check`` flattens a parameter dict into one vector θ
(``dict_to_vector``), nudges each entry by ±ε on copies and compares the resulting
gradient with the analytic one by ``‖g - g̃‖₂ / (‖g‖₂ + ‖g̃‖₂)``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "GRADCHECK_BAD",
    "GRADCHECK_OK",
    "dict_to_vector",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "gradient_check",
    "rel_error",
    "vector_to_dict",
]

#: A ``gradient_check`` difference at or below this: the backward pass is almost surely right.
GRADCHECK_OK = 1e-7
#: A difference above this: almost surely a bug in the backward pass (between the two: look closer).
GRADCHECK_BAD = 1e-3


def rel_error(x, y):
    """Largest elementwise relative error max |x - y| / max(1e-8, |x| + |y|) (a float)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error needs two arrays of the same shape, got {x.shape} and {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def eval_numerical_gradient(f, x, h=1e-5):
    """Gradient of a scalar function f at x by centred differences.

    f: callable taking x and returning a number; x: array (any shape), nudged in place
    one element at a time and restored afterwards. Returns an array shaped like x.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    flat = x.reshape(-1)  # a view: writing it nudges x
    if not np.shares_memory(flat, x):
        raise ValueError(f"x must be a contiguous array that can be nudged in place, got strides {x.strides}")
    gflat = grad.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + h
        f_plus = float(f(x))
        flat[k] = old - h
        f_minus = float(f(x))
        flat[k] = old
        gflat[k] = (f_plus - f_minus) / (2 * h)
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Gradient of sum(f(x) * df) with respect to x by centred differences.

    f: callable taking x and returning an array shaped like df (the upstream gradient);
    this is the vector-Jacobian product that a backward pass computes. Returns an array
    shaped like x.
    """
    df = np.asarray(df)

    def projected(x):
        out = np.asarray(f(x), dtype=np.float64)
        if out.shape != df.shape:
            raise ValueError(f"f(x) must have the shape of df {df.shape}, got {out.shape}")
        return np.sum(out * df)

    return eval_numerical_gradient(projected, x, h)


def dict_to_vector(d, keys=None):
    """Flatten a dict of arrays into one float64 vector.

    d: {name: array}; keys: the names to take, in order (default: all of d, in its order).
    Returns ``(theta, keys, shapes)``: theta (sum of sizes,) float64, each array in C order,
    one after the other; keys the list of names; shapes the list of their shapes.
    """
    if not isinstance(d, dict):
        raise TypeError(f"d must be a dict of arrays, got {type(d).__name__}")
    keys = list(d) if keys is None else list(keys)
    missing = [k for k in keys if k not in d]
    if missing:
        raise ValueError(f"keys {missing} are not in the dict (it has {list(d)})")
    arrays = [np.asarray(d[k], dtype=np.float64) for k in keys]
    shapes = [a.shape for a in arrays]
    theta = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0)
    return theta, keys, shapes


def vector_to_dict(theta, keys, shapes):
    """Inverse of ``dict_to_vector``: {keys[i]: array of shapes[i]} cut from theta, in order.

    theta: 1-D vector of length sum of the sizes; returns new float64 arrays (copies).
    """
    theta = np.asarray(theta, dtype=np.float64)
    keys, shapes = list(keys), [tuple(s) for s in shapes]
    if theta.ndim != 1:
        raise ValueError(f"theta must be a 1-D vector, got shape {theta.shape}")
    if len(keys) != len(shapes):
        raise ValueError(f"keys and shapes must have the same length, got {len(keys)} and {len(shapes)}")
    sizes = [math.prod(s) for s in shapes]
    if sum(sizes) != theta.size:
        raise ValueError(f"theta has {theta.size} entries but the shapes {shapes} need {sum(sizes)}")
    out, start = {}, 0
    for k, s, n in zip(keys, shapes, sizes):
        out[k] = theta[start : start + n].reshape(s).copy()
        start += n
    return out


def gradient_check(cost, params, grads, epsilon=1e-7):
    """Compare analytic gradients with centred differences of the cost, parameter by parameter.

    cost: callable taking a params dict and returning the (scalar) cost; params: {name: array};
    grads: the analytic gradients {"d" + name: array shaped like params[name]} (extra keys are
    ignored); epsilon: the nudge ε.
    Every entry θ_i of every parameter (in the dict's key order, each array in C order) is
    nudged on float64 copies: g̃_i = (J(θ + ε e_i) - J(θ - ε e_i)) / (2ε); params is not modified.
    Returns ``(difference, grad_approx)``: difference = ‖g - g̃‖₂ / (‖g‖₂ + ‖g̃‖₂) as a float
    (0.0 when both are zero), grad_approx = {"d" + name: array shaped like params[name]}.
    Reading: difference <= GRADCHECK_OK (1e-7) is right, > GRADCHECK_BAD (1e-3) is a bug.
    """
    if not callable(cost):
        raise TypeError(f"cost must be a function of the params dict, got {type(cost).__name__}")
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not (0 < epsilon < 1):
        raise ValueError(f"epsilon must be a small positive number such as 1e-7, got {epsilon!r}")
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict such as {{'W1': ..., 'b1': ...}}, got {type(params).__name__}")
    if not isinstance(grads, dict):
        raise TypeError(f"grads must be a dict such as {{'dW1': ...}}, got {type(grads).__name__}")
    theta, keys, shapes = dict_to_vector(params)
    for k, s in zip(keys, shapes):
        if "d" + k not in grads:
            raise ValueError(f"grads has no entry {'d' + k!r} for the parameter {k!r}")
        if np.shape(grads["d" + k]) != s:
            got = np.shape(grads["d" + k])
            raise ValueError(f"grads[{'d' + k!r}] must have the shape of params[{k!r}] {s}, got {got}")
    grad = dict_to_vector({k: grads["d" + k] for k in keys})[0]
    approx = np.zeros_like(theta)
    for i in range(theta.size):
        nudged = theta.copy()
        nudged[i] = theta[i] + epsilon
        j_plus = _scalar_cost(cost, vector_to_dict(nudged, keys, shapes))
        nudged[i] = theta[i] - epsilon
        j_minus = _scalar_cost(cost, vector_to_dict(nudged, keys, shapes))
        approx[i] = (j_plus - j_minus) / (2 * epsilon)
    denominator = np.linalg.norm(grad) + np.linalg.norm(approx)
    difference = 0.0 if denominator == 0 else float(np.linalg.norm(grad - approx) / denominator)
    grad_approx = {"d" + k: a for k, a in vector_to_dict(approx, keys, shapes).items()}
    return difference, grad_approx


def _scalar_cost(cost, params) -> float:
    value = cost(params)
    if np.ndim(value) != 0:
        raise ValueError(f"cost must return a scalar, got an array of shape {np.shape(value)}")
    return float(value)
