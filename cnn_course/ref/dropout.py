"""Inverted dropout in NumPy.

``keep_prob`` is the probability of KEEPING a unit (the course's convention). PyTorch's
``nn.Dropout(p)`` takes the probability of DROPPING one: p = 1 - keep_prob.

Training: every unit is kept with probability keep_prob, the kept ones are divided by
keep_prob, so the expected output equals the input and nothing has to change at test time:

    mask = rng.random(A.shape) < keep_prob      (one draw of A.size uniforms)
    out  = A * mask / keep_prob

Evaluation (train=False), or keep_prob == 1: out = A, no random numbers drawn.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .init import _check_rng

__all__ = ["dropout_backward", "dropout_forward"]


def _check_keep_prob(keep_prob) -> float:
    if isinstance(keep_prob, bool) or not isinstance(keep_prob, numbers.Real) or not math.isfinite(keep_prob):
        raise TypeError(f"keep_prob must be a number in (0, 1], got {keep_prob!r} ({type(keep_prob).__name__})")
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(
            f"keep_prob is the probability of keeping a unit and must lie in (0, 1], got {keep_prob} "
            "(torch's Dropout(p) takes the drop probability p = 1 - keep_prob)"
        )
    return float(keep_prob)


def _check_float_array(a, name: str) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype.kind != "f":
        raise TypeError(f"{name} must have a floating-point dtype (float32 or float64), got {a.dtype}")
    return a


def dropout_forward(A, keep_prob, rng, train=True):
    """Inverted dropout of activations A (any shape, e.g. (m, n)).

    keep_prob: probability of keeping each unit, in (0, 1]; rng: ``numpy.random.Generator``
    (may be None when no mask is drawn); train: False for evaluation.
    Returns ``(out, mask)``: out shaped like A (same dtype), mask a bool array shaped like A
    (True = kept), drawn as ``rng.random(A.shape) < keep_prob``. When train is False or
    keep_prob == 1: out is a copy of A, mask is None and rng is not used.
    """
    A = _check_float_array(A, "A")
    keep_prob = _check_keep_prob(keep_prob)
    if not train or keep_prob == 1.0:
        return A.copy(), None
    _check_rng(rng)
    mask = rng.random(A.shape) < keep_prob
    return A * mask / keep_prob, mask


def dropout_backward(dout, mask, keep_prob):
    """Gradient of inverted dropout: dA = dout * mask / keep_prob (dout itself, copied, if mask is None).

    dout: upstream gradient shaped like the forward's A; mask: the forward's bool mask (or None);
    keep_prob: the forward's keep probability. Returns dA shaped like dout, same dtype.
    """
    dout = _check_float_array(dout, "dout")
    keep_prob = _check_keep_prob(keep_prob)
    if mask is None:
        return dout.copy()
    mask = np.asarray(mask)
    if mask.shape != dout.shape:
        raise ValueError(f"mask must have the shape of dout {dout.shape}, got {mask.shape}")
    if mask.dtype != bool:
        raise TypeError(f"mask must be the bool array returned by dropout_forward, got dtype {mask.dtype}")
    return dout * mask / keep_prob
