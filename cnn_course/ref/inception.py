"""1×1 ("pointwise") convolutions and the multiply counts of Inception and MobileNet layers.

A 1×1 convolution is a fully connected layer applied across the channels at every pixel:
each output pixel (n, :, h, w) is ``w2 @ x[n, :, h, w] + b`` with the same ``w2`` (F, C)
everywhere, so the whole layer is one matrix product:

    x    (N, C, H, W)     input
    w    (F, C, 1, 1)     F filters of size 1×1 (torch's layout); w2 = w.reshape(F, C)
    b    (F,)             one bias per filter (or None)
    out  (N, F, H, W)     out[n] = w2 @ x[n].reshape(C, H*W) + b, reshaped to (F, H, W)

It changes the number of channels (C -> F) and leaves n_H, n_W alone, where pooling does
the opposite.

Multiply counts follow one convention: multiplications only (no additions, no bias), for a
layer whose OUTPUT is n_H × n_W (give the output size; with "same" padding it equals the
input size). A standard f×f convolution from n_C to n_C' channels costs
n_H·n_W·n_C'·f·f·n_C; for 28×28×192 -> 28×28×32 with 5×5 that is 120,422,400, and a 1×1
bottleneck to 16 channels first brings it down to 2,408,448 + 10,035,200 = 12,443,648.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v

__all__ = [
    "bottleneck_mults",
    "conv_mults",
    "depthwise_mults",
    "pointwise_conv_backward",
    "pointwise_conv_forward",
    "pointwise_mults",
    "separable_mults",
    "separable_ratio",
]


# ----------------------------------------------------------------------------------------
# The 1×1 convolution
# ----------------------------------------------------------------------------------------


def _check_pointwise(x, w, b):
    """Validate the arguments of a 1×1 convolution and return the result dtype."""
    v.check_ndim(x, 4, "x", "(N, C, H, W)")
    v.check_ndim(w, 4, "w", "(F, C, 1, 1)")
    v.check_float(x, "x")
    v.check_float(w, "w")
    C = x.shape[1]
    F = w.shape[0]
    if tuple(w.shape[2:]) != (1, 1):
        raise ValueError(f"w must have shape (F, C, 1, 1) for a 1x1 convolution, got {tuple(w.shape)}")
    if w.shape[1] != C:
        raise ValueError(
            f"channel mismatch: x has C={C} channels (x.shape={tuple(x.shape)}, layout (N, C, H, W)) "
            f"but w expects C={w.shape[1]} (w.shape={tuple(w.shape)}, layout (F, C, 1, 1))"
        )
    if b is None:
        return np.result_type(x.dtype, w.dtype)
    v.check_ndim(b, 1, "b", "(F,)")
    v.check_float(b, "b")
    if b.shape != (F,):
        raise ValueError(f"b must have shape (F,) = ({F},) to match w.shape={tuple(w.shape)}, got {tuple(b.shape)}")
    return np.result_type(x.dtype, w.dtype, b.dtype)


def pointwise_conv_forward(x, w, b):
    """1×1 convolution as ONE matrix product over the channels.

    x: (N, C, H, W), w: (F, C, 1, 1), b: (F,) or None.
    Returns out (N, F, H, W) and a cache (x, w, b) for the backward pass.
    out[n, :, h, w] = w.reshape(F, C) @ x[n, :, h, w] + b: a fully connected layer from C to
    F units, the same at every pixel.
    """
    dtype = _check_pointwise(x, w, b)
    N, C, H, W = x.shape
    F = w.shape[0]
    w2 = w.reshape(F, C).astype(dtype, copy=False)
    # (F, C) @ (N, C, H*W) -> (N, F, H*W): every pixel's channel vector times w2
    out = np.matmul(w2, x.reshape(N, C, H * W).astype(dtype, copy=False))
    if b is not None:
        out += b.astype(dtype, copy=False)[:, None]
    return out.reshape(N, F, H, W), (x, w, b)


def pointwise_conv_backward(dout, cache):
    """Backward pass of :func:`pointwise_conv_forward`.

    dout: (N, F, H, W) upstream gradient; cache from pointwise_conv_forward.
    Returns dx (N, C, H, W), dw (F, C, 1, 1), db (F,) (None if b was None).
    The gradients of out = w2 @ X + b: dX = w2.T @ dout, dw2 = sum over pixels of dout @ X.T.
    """
    v.check_cache(cache, 3)
    x, w, b = cache
    N, C, H, W = x.shape
    F = w.shape[0]
    v.check_ndim(dout, 4, "dout", "(N, F, H, W)")
    v.check_same_shape(dout, (N, F, H, W), "dout")
    dtype = np.result_type(x.dtype, w.dtype, *(() if b is None else (b.dtype,)))
    d = dout.reshape(N, F, H * W).astype(dtype, copy=False)
    X = x.reshape(N, C, H * W).astype(dtype, copy=False)
    w2 = w.reshape(F, C).astype(dtype, copy=False)
    dx = np.matmul(w2.T, d).reshape(N, C, H, W)
    # sum over n and pixels of d[n] @ X[n].T, as one (F, N*HW) x (N*HW, C) contraction
    dw = np.tensordot(d, X, axes=([0, 2], [0, 2])).reshape(F, C, 1, 1)
    db = d.sum(axis=(0, 2)) if b is not None else None
    return dx, dw, db


# ----------------------------------------------------------------------------------------
# Multiply counts (multiplications only; n_H, n_W are the OUTPUT's height and width)
# ----------------------------------------------------------------------------------------


def _ints(**values):
    return [v.check_positive_int(value, name) for name, value in values.items()]


def conv_mults(n_H, n_W, n_C, f, n_C_out):
    """Multiplies of a standard f×f convolution from n_C to n_C_out channels.

    Every one of the n_H·n_W·n_C_out output numbers is a sum of f·f·n_C products:
    n_H·n_W·n_C_out·f·f·n_C. Example: 28×28×192 -> 28×28×32 with 5×5: 120,422,400.
    """
    n_H, n_W, n_C, f, n_C_out = _ints(n_H=n_H, n_W=n_W, n_C=n_C, f=f, n_C_out=n_C_out)
    return n_H * n_W * n_C_out * f * f * n_C


def pointwise_mults(n_H, n_W, n_C, n_C_out):
    """Multiplies of a 1×1 convolution from n_C to n_C_out channels: n_H·n_W·n_C_out·n_C."""
    return conv_mults(n_H, n_W, n_C, 1, n_C_out)


def bottleneck_mults(n_H, n_W, n_C, f, n_C_out, n_C_mid):
    """Multiplies of a 1×1 convolution to n_C_mid channels followed by an f×f one to n_C_out.

    pointwise_mults(n_H, n_W, n_C, n_C_mid) + conv_mults(n_H, n_W, n_C_mid, f, n_C_out).
    Example: 28×28×192 -> 16 -> 32 with 5×5: 2,408,448 + 10,035,200 = 12,443,648.
    """
    (n_C_mid,) = _ints(n_C_mid=n_C_mid)
    return pointwise_mults(n_H, n_W, n_C, n_C_mid) + conv_mults(n_H, n_W, n_C_mid, f, n_C_out)


def depthwise_mults(n_H, n_W, n_C, f):
    """Multiplies of a depthwise f×f convolution (one filter per channel): n_H·n_W·n_C·f·f.

    Example: 6×6×3 -> 4×4×3 with 3×3: 4·4·3·9 = 432.
    """
    n_H, n_W, n_C, f = _ints(n_H=n_H, n_W=n_W, n_C=n_C, f=f)
    return n_H * n_W * n_C * f * f


def separable_mults(n_H, n_W, n_C, f, n_C_out):
    """Multiplies of a depthwise-separable convolution: depthwise f×f, then 1×1 to n_C_out.

    depthwise_mults(n_H, n_W, n_C, f) + pointwise_mults(n_H, n_W, n_C, n_C_out).
    Example: 6×6×3 -> 4×4×5 with 3×3: 432 + 240 = 672 (the standard convolution: 2160).
    """
    return depthwise_mults(n_H, n_W, n_C, f) + pointwise_mults(n_H, n_W, n_C, n_C_out)


def separable_ratio(f, n_C_out):
    """separable_mults / conv_mults for the same layer: exactly 1/n_C_out + 1/f² (a float).

    n_H, n_W and n_C cancel. Example: f=3, n_C_out=5: 1/5 + 1/9 = 0.3111... = 672 / 2160.
    """
    f, n_C_out = _ints(f=f, n_C_out=n_C_out)
    return 1.0 / n_C_out + 1.0 / (f * f)
