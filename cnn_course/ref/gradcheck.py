"""Numerical gradients, to check the backward passes written by hand.

The centred difference (f(x + h) - f(x - h)) / 2h is accurate to O(h^2); in float64 with
h = 1e-5 a correct analytic gradient usually agrees to a relative error below 1e-7.
Use float64 arrays here: in float32 the rounding error swamps the difference.
"""

from __future__ import annotations

import numpy as np

__all__ = ["eval_numerical_gradient", "eval_numerical_gradient_array", "rel_error"]


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
