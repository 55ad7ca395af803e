"""Weight initialisation of a fully connected network in NumPy.

A network with layer sizes ``layer_dims = [n0, n1, ..., nL]`` has, for l = 1..L,

    W{l}  (n_l, n_{l-1})   drawn from N(0, std²), std depending on the method
    b{l}  (n_l,)           zeros

Methods and the standard deviation of W{l} (n_prev = n_{l-1}, fan-in; n = n_l, fan-out):

    "zeros"    0                       every unit computes the same thing: symmetry never breaks
    "random"   scale                   a fixed small (or large) std, whatever the layer size
    "he"       sqrt(2 / n_prev)        keeps the variance of ReLU activations constant
    "xavier"   sqrt(1 / n_prev)        the same for tanh (the course's "Xavier")
    "glorot"   sqrt(2 / (n_prev + n))  Glorot & Bengio's average of fan-in and fan-out

Draw order (what the graded exercises reproduce): for l = 1, ..., L in turn,
``W{l} = rng.standard_normal((n_l, n_{l-1})) * std``; biases draw nothing; "zeros" draws nothing.
The numbers are drawn in float64 and then cast, so float32 parameters hold the same
values (rounded) as float64 ones from the same seed.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["INIT_METHODS", "init_std", "initialize_parameters"]

#: The initialisation methods understood by :func:`init_std` and :func:`initialize_parameters`.
INIT_METHODS = ("zeros", "random", "he", "xavier", "glorot")


def _check_rng(rng, name: str = "rng") -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator, e.g. np.random.default_rng(0), got {type(rng).__name__}"
        )


def _check_method(method) -> str:
    if not isinstance(method, str) or method not in INIT_METHODS:
        raise ValueError(f"method must be one of {INIT_METHODS}, got {method!r}")
    return method


def _check_dim(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r} ({type(value).__name__})")
    return int(value)


def _check_scale(scale) -> float:
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not math.isfinite(scale) or scale < 0:
        raise ValueError(f"scale must be a finite number >= 0, got {scale!r}")
    return float(scale)


def _check_layer_dims(layer_dims) -> list[int]:
    if isinstance(layer_dims, (str, bytes)) or not hasattr(layer_dims, "__len__"):
        raise TypeError(f"layer_dims must be a list of layer sizes [n0, n1, ..., nL], got {layer_dims!r}")
    if len(layer_dims) < 2:
        raise ValueError(
            f"layer_dims must hold at least two sizes [n0, n1] (input and output), got {list(layer_dims)!r}"
        )
    return [_check_dim(n, f"layer_dims[{i}]") for i, n in enumerate(layer_dims)]


def init_std(n_prev, n, method, scale=0.01) -> float:
    """Standard deviation of the weights of a layer with n_prev inputs and n outputs.

    method: "he" sqrt(2/n_prev), "xavier" sqrt(1/n_prev), "glorot" sqrt(2/(n_prev + n)),
    "zeros" 0.0, "random" ``scale``. Returns a Python float.
    """
    method = _check_method(method)
    n_prev = _check_dim(n_prev, "n_prev")
    n = _check_dim(n, "n")
    if method == "zeros":
        return 0.0
    if method == "random":
        return _check_scale(scale)
    if method == "he":
        return math.sqrt(2.0 / n_prev)
    if method == "xavier":
        return math.sqrt(1.0 / n_prev)
    return math.sqrt(2.0 / (n_prev + n))


def initialize_parameters(layer_dims, method="he", rng=None, scale=0.01, dtype=np.float64):
    """Parameters of a fully connected network: {"W1": (n1, n0), "b1": (n1,), ..., "bL": (nL,)}.

    layer_dims: [n0, n1, ..., nL] (n0 = number of input features, nL = number of outputs);
    method: one of ``INIT_METHODS``; rng: a ``numpy.random.Generator`` (may be None only for
    "zeros"); scale: the std of "random"; dtype: float32 or float64.
    For l = 1..L in order: W{l} = rng.standard_normal((n_l, n_{l-1})) * std, b{l} = zeros.
    """
    dims = _check_layer_dims(layer_dims)
    method = _check_method(method)
    if method != "zeros":
        _check_rng(rng)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating-point type such as np.float64, got {dtype}")
    params = {}
    for layer in range(1, len(dims)):
        n_prev, n = dims[layer - 1], dims[layer]
        std = init_std(n_prev, n, method, scale)
        if method == "zeros":
            W = np.zeros((n, n_prev), dtype=dtype)
        else:
            W = (rng.standard_normal((n, n_prev)) * std).astype(dtype, copy=False)
        params[f"W{layer}"] = W
        params[f"b{layer}"] = np.zeros(n, dtype=dtype)
    return params
