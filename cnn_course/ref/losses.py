"""Softmax, cross-entropy and the L2 penalty in NumPy.

Shapes (batch-first rows, as in ``torch.nn.functional.cross_entropy``):

    Z   (m, K)   logits: one row of K class scores per example
    y   (m,)     integer class labels in 0..K-1 (int64 or any integer dtype)
    A   (m, K)   softmax(Z): every row is a probability distribution

The loss is computed from the logits, never from softmax probabilities: log softmax is
``Z - logsumexp(Z)`` with the row maximum subtracted first, so logits of size 1e4 neither
overflow exp nor give log(0).

L2 regularisation adds (λ / 2m) Σ_l ‖W{l}‖²_F to the cost (weights only: the keys of
``params`` that start with "W"; biases are not penalised) and (λ / m) W{l} to dW{l}.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "cross_entropy",
    "l2_cost",
    "l2_grads",
    "log_softmax",
    "one_hot",
    "softmax",
    "softmax_cross_entropy",
]


def _check_logits(Z, name: str = "Z") -> np.ndarray:
    if not isinstance(Z, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of shape (m, K), got {type(Z).__name__}")
    if Z.ndim != 2:
        raise ValueError(f"{name} must be 2-D with shape (m, K) (one row per example), got shape {Z.shape}")
    if Z.dtype.kind != "f":
        raise TypeError(f"{name} must have a floating-point dtype (float32 or float64), got {Z.dtype}")
    if Z.shape[1] < 1:
        raise ValueError(f"{name} must have at least one class column, got shape {Z.shape}")
    return Z


def _check_labels(y, m: int, K: int) -> np.ndarray:
    if not isinstance(y, np.ndarray):
        raise TypeError(f"y must be a NumPy array of integer labels of shape (m,), got {type(y).__name__}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"y must hold integer class labels (e.g. int64), got dtype {y.dtype}")
    if y.shape != (m,):
        raise ValueError(f"y must have shape (m,) = ({m},) to match the {m} rows of Z, got {y.shape}")
    if m and (y.min() < 0 or y.max() >= K):
        raise ValueError(f"labels y must lie in 0..{K - 1} (K = {K} classes), got values in {y.min()}..{y.max()}")
    return y


def _check_lambd_m(lambd, m) -> tuple[float, int]:
    if isinstance(lambd, bool) or not isinstance(lambd, numbers.Real) or not math.isfinite(lambd) or lambd < 0:
        raise ValueError(f"lambd must be a finite number >= 0, got {lambd!r}")
    if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1:
        raise ValueError(f"m (the number of training examples) must be a positive integer, got {m!r}")
    return float(lambd), int(m)


def _weights(params) -> list[str]:
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict such as {{'W1': ..., 'b1': ...}}, got {type(params).__name__}")
    return [k for k in params if isinstance(k, str) and k.startswith("W")]


def softmax(Z):
    """Row-wise softmax: A[i, k] = exp(Z[i, k]) / Σ_j exp(Z[i, j]).

    Z: (m, K) float -> A: (m, K), same dtype, every row sums to 1. The row maximum is
    subtracted first (it cancels in the ratio) so that exp never overflows.
    """
    Z = _check_logits(Z)
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def log_softmax(Z):
    """Row-wise log softmax: Z - log Σ_j exp(Z[:, j]), computed by log-sum-exp.

    Z: (m, K) float -> (m, K), same dtype; finite for any finite logits.
    """
    Z = _check_logits(Z)
    shifted = Z - Z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def one_hot(y, K, dtype=np.float64):
    """One-hot rows: Y[i, y[i]] = 1, every other entry 0.

    y: (m,) integer labels in 0..K-1; K: number of classes -> Y: (m, K) of ``dtype``.
    """
    if isinstance(K, bool) or not isinstance(K, numbers.Integral) or K < 1:
        raise ValueError(f"K (the number of classes) must be a positive integer, got {K!r}")
    if isinstance(y, np.ndarray) and y.ndim != 1:
        raise ValueError(f"y must be 1-D with shape (m,), got shape {y.shape}")
    m = len(y) if isinstance(y, np.ndarray) else 0
    y = _check_labels(y, m, int(K))
    Y = np.zeros((m, int(K)), dtype=dtype)
    Y[np.arange(m), y] = 1
    return Y


def cross_entropy(Z, y) -> float:
    """Mean cross-entropy of logits Z (m, K) and labels y (m,): -1/m Σ_i log softmax(Z)[i, y_i].

    Equals ``torch.nn.functional.cross_entropy(Z, y)``; returns a Python float.
    """
    return softmax_cross_entropy(Z, y)[0]


def softmax_cross_entropy(Z, y):
    """Cross-entropy loss of logits and its gradient with respect to the logits.

    Z: (m, K) float, y: (m,) integer labels -> (loss, dZ) with loss a Python float (the mean
    over the m examples) and dZ: (m, K), same dtype as Z, dZ = (softmax(Z) - one_hot(y)) / m.
    """
    Z = _check_logits(Z)
    m, K = Z.shape
    y = _check_labels(y, m, K)
    if m == 0:
        raise ValueError("Z must hold at least one example (m >= 1), got shape (0, K)")
    logp = log_softmax(Z)
    rows = np.arange(m)
    loss = -float(np.mean(logp[rows, y], dtype=np.float64))
    dZ = np.exp(logp)
    dZ[rows, y] -= 1
    dZ /= m
    return loss, dZ


def l2_cost(params, lambd, m) -> float:
    """The L2 penalty (λ / 2m) Σ_l ‖W{l}‖²_F over the weights of ``params`` (keys "W...").

    params: {"W1": (n1, n0), "b1": (n1,), ...} (biases are ignored); lambd: λ >= 0;
    m: number of training examples. Returns a Python float.
    """
    lambd, m = _check_lambd_m(lambd, m)
    total = sum(float(np.sum(np.square(np.asarray(params[k], dtype=np.float64)))) for k in _weights(params))
    return lambd / (2 * m) * total


def l2_grads(grads, params, lambd, m):
    """Gradients with the L2 term added: dW{l} + (λ / m) W{l}; every other entry unchanged.

    grads: {"dW1": ..., "db1": ...} shaped like params; params: {"W1": ..., "b1": ...}.
    Returns a new dict (new arrays); neither input is modified.
    """
    lambd, m = _check_lambd_m(lambd, m)
    weights = _weights(params)
    if not isinstance(grads, dict):
        raise TypeError(f"grads must be a dict such as {{'dW1': ..., 'db1': ...}}, got {type(grads).__name__}")
    out = {k: np.array(g, copy=True) for k, g in grads.items()}
    for k in weights:
        dk = "d" + k
        if dk not in grads:
            raise ValueError(f"grads has no entry {dk!r} for the weight {k!r}")
        W = np.asarray(params[k])
        if out[dk].shape != W.shape:
            raise ValueError(f"grads[{dk!r}] must have the shape of params[{k!r}] {W.shape}, got {out[dk].shape}")
        out[dk] = out[dk] + (lambd / m) * W
    return out
