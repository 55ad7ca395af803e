"""Depthwise convolution in NumPy (MobileNet's building block): forward and backward.

A depthwise convolution gives every input channel its own f×f filter and does not mix
channels (torch: ``F.conv2d(x, w, b, stride, pad, groups=C)``):

    x    (N, C, H, W)      a batch of N inputs with C channels
    w    (C, 1, f_H, f_W)  one filter per channel (torch's layout for groups=C)
    b    (C,)              one bias per channel (or None)
    out  (N, C, H', W')    out[n, c] = x[n, c] ⋆ w[c, 0] + b[c],
                           H' = (H + 2*pad - f_H) // stride + 1, same for W'

Followed by a 1×1 convolution (``cnn_course.ref.inception.pointwise_conv_forward``) it
makes a depthwise-separable convolution, which costs 1/n_C' + 1/f² of a standard one
(``separable_ratio``; the multiply counts are re-exported here from ref.inception).

The vectorised functions work channel by channel on a "wide" flat layout: channel c of all
N padded images is one contiguous row of about N·(H+p)·(W+p) numbers (neighbouring rows
share their zero padding), and filter tap (i, j) is then a plain shift of that row by
i·(W+p) + j. Each tap is one multiply-add over a long
contiguous run (BLAS axpy) while the row stays in cache; the positions of the grid that
are not outputs (the last f-1 rows and columns of every image) are computed and dropped.
Going one channel at a time keeps the working set (a few rows) in the CPU's cache, which
matters more here than the arithmetic: each number is touched f·f times.
The ``*_loops`` functions compute the same numbers one window at a time, for reading.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.blas import get_blas_funcs

from .. import _validate as v
from .conv import zero_pad
from .inception import (
    depthwise_mults,
    pointwise_conv_backward,
    pointwise_conv_forward,
    pointwise_mults,
    separable_mults,
    separable_ratio,
)

__all__ = [
    "depthwise_conv2d_backward",
    "depthwise_conv2d_backward_loops",
    "depthwise_conv2d_forward",
    "depthwise_conv2d_forward_loops",
    "depthwise_mults",
    "pointwise_mults",
    "separable_conv2d_backward",
    "separable_conv2d_forward",
    "separable_mults",
    "separable_ratio",
]


def _check_inputs(x, w, b, stride, pad):
    """Validate and return (stride, pad, dtype) where dtype is the dtype of the result."""
    v.check_ndim(x, 4, "x", "(N, C, H, W)")
    v.check_ndim(w, 4, "w", "(C, 1, f, f)")
    v.check_float(x, "x")
    v.check_float(w, "w")
    C = x.shape[1]
    if w.shape[0] != C or w.shape[1] != 1:
        hint = " (that is a full convolution's weight; a depthwise filter sees one channel)" if w.shape[1] > 1 else ""
        raise ValueError(
            f"w must have shape (C, 1, f, f) = ({C}, 1, f, f): one filter per channel of x "
            f"(x.shape={tuple(x.shape)}), got w.shape={tuple(w.shape)}{hint}"
        )
    stride = v.check_positive_int(stride, "stride")
    pad = v.check_nonneg_int(pad, "pad")
    H, W = x.shape[2:]
    fH, fW = w.shape[2:]
    if fH > H + 2 * pad or fW > W + 2 * pad:
        raise ValueError(
            f"filter ({fH}x{fW}) is larger than the padded input ({H + 2 * pad}x{W + 2 * pad}): "
            f"x.shape={tuple(x.shape)}, w.shape={tuple(w.shape)}, pad={pad}"
        )
    if b is None:
        return stride, pad, np.result_type(x.dtype, w.dtype)
    v.check_ndim(b, 1, "b", "(C,)")
    v.check_float(b, "b")
    if b.shape != (C,):
        raise ValueError(f"b must have shape (C,) = ({C},), one bias per channel, got {tuple(b.shape)}")
    return stride, pad, np.result_type(x.dtype, w.dtype, b.dtype)


def _out_shape(x_shape, w_shape, stride, pad):
    N, C, H, W = x_shape
    fH, fW = w_shape[2:]
    return N, C, (H + 2 * pad - fH) // stride + 1, (W + 2 * pad - fW) // stride + 1


# ----------------------------------------------------------------------------------------
# Vectorised implementation
# ----------------------------------------------------------------------------------------


class _Grid:
    """The wide flat layout of one geometry (see the module docstring).

    One channel at a time: a row holds the N padded images of that channel one after the
    other, M = N * Hp * Wp numbers, plus zeros at the end so that the largest shift stays
    inside. Output (n, h', w') of stride s sits at row position n*Hp*Wp + s*h'*Wp + s*w', and
    input pixel (n, k, l) at n*Hp*Wp + (k + pad)*Wp + l + pad.
    The rows are allocated once per call and reused for every channel, so they stay in cache.
    """

    def __init__(self, x_shape, w_shape, stride, pad, dtype):
        self.N, self.C, self.H, self.W = x_shape
        self.fH, self.fW = w_shape[2:]
        self.s, self.p, self.dtype = stride, pad, np.dtype(dtype)
        _, _, self.Ho, self.Wo = _out_shape(x_shape, w_shape, stride, pad)
        # Neighbouring rows (and images) share their zero padding when pad < f: the right
        # padding of one row is the left padding of the next. Then no output position
        # wraps into the next row, and the grid is smaller (6 % at 32×32, 3×3, pad 1).
        share = pad if pad < min(self.fH, self.fW) else 0
        self.Hp, self.Wp = self.H + 2 * pad - share, self.W + 2 * pad - share
        self.M = self.N * self.Hp * self.Wp
        self.shifts = [i * self.Wp + j for i in range(self.fH) for j in range(self.fW)]
        self.row_len = self.M + (self.fH - 1 + share) * self.Wp + self.fW - 1 + share

    def row(self):
        """A zero row (row_len,); the parts never written stay zero."""
        return np.zeros(self.row_len, self.dtype)

    def images(self, row):
        """(row_len,) -> its (N, Hp, Wp) view."""
        return row[: self.M].reshape(self.N, self.Hp, self.Wp)

    def inside(self, row):
        """The (N, H, W) view of the unpadded images."""
        p = self.p
        return self.images(row)[:, p : p + self.H, p : p + self.W]

    def outputs(self, row):
        """The (N, H', W') view of the output positions."""
        s = self.s
        return self.images(row)[:, : s * self.Ho : s, : s * self.Wo : s]


def _axpy_for(dtype):
    """y += a * x in place on contiguous 1-D runs: BLAS for float32/64, NumPy otherwise."""
    if dtype.char in "fd":
        axpy = get_blas_funcs("axpy", dtype=dtype)
        return lambda xs, ys, a: axpy(xs, ys, a=a)

    def numpy_axpy(xs, ys, a):
        ys += a * xs

    return numpy_axpy


def depthwise_conv2d_forward(x, w, b, stride=1, pad=0):
    """Convolve every channel of x with its own filter (vectorised, per-tap multiply-adds).

    x: (N, C, H, W), w: (C, 1, f_H, f_W), b: (C,) or None; stride >= 1, pad >= 0 integers.
    Returns out (N, C, H', W') and a cache (x, w, b, stride, pad) for the backward pass.
    A stride s > 1 computes the stride-1 grid and keeps every s-th position: simple, and
    s² times the work of a dedicated kernel.
    """
    stride, pad, dtype = _check_inputs(x, w, b, stride, pad)
    g = _Grid(x.shape, w.shape, stride, pad, dtype)
    wt = w.reshape(g.C, -1).astype(dtype, copy=False)
    axpy = _axpy_for(g.dtype)
    src, acc = g.row(), g.row()
    out = np.empty((g.N, g.C, g.Ho, g.Wo), dtype)
    for c in range(g.C):
        g.inside(src)[...] = x[:, c]
        acc.fill(0 if b is None else b[c])  # the bias first: one pass less than adding it at the end
        for t, o in enumerate(g.shifts):
            axpy(src[o : o + g.M], acc[: g.M], wt[c, t])
        out[:, c] = g.outputs(acc)
    return out, (x, w, b, stride, pad)


def depthwise_conv2d_backward(dout, cache):
    """Backward pass of :func:`depthwise_conv2d_forward`.

    dout: (N, C, H', W') upstream gradient; cache from depthwise_conv2d_forward.
    Returns dx (N, C, H, W), dw (C, 1, f_H, f_W), db (C,) (None if b was None).
    Tap t = (i, j) of channel c: dw[c, t] = Σ dout · (x shifted by t), and dout · w[c, t]
    goes back to x shifted by t; both are one pass over channel c's row per tap.
    """
    v.check_cache(cache, 5)
    x, w, b, stride, pad = cache
    v.check_ndim(dout, 4, "dout", "(N, C, H', W')")
    v.check_same_shape(dout, _out_shape(x.shape, w.shape, stride, pad), "dout")
    dtype = np.result_type(x.dtype, w.dtype, *(() if b is None else (b.dtype,)))
    g = _Grid(x.shape, w.shape, stride, pad, dtype)
    wt = w.reshape(g.C, -1).astype(dtype, copy=False)
    dw = np.empty(wt.shape, dtype)
    dx = np.empty(x.shape, dtype)
    axpy = _axpy_for(g.dtype)
    db = np.empty(g.C, dtype) if b is not None else None
    src, d, acc = g.row(), g.row(), g.row()  # d stays zero wherever there is no output
    dM = d[: g.M]
    ones = np.ones(g.M, dtype)  # a dot product with ones sums faster than ndarray.sum
    for c in range(g.C):
        g.inside(src)[...] = x[:, c]
        g.outputs(d)[...] = dout[:, c]
        if db is not None:
            db[c] = np.dot(dM, ones)
        np.multiply(dM, wt[c, 0], out=acc[: g.M])  # tap (0, 0) has shift 0
        acc[g.M :] = 0
        dw[c, 0] = np.dot(dM, src[: g.M])
        for t in range(1, len(g.shifts)):
            o = g.shifts[t]
            dw[c, t] = np.dot(dM, src[o : o + g.M])
            axpy(dM, acc[o : o + g.M], wt[c, t])
        dx[:, c] = g.inside(acc)
    return dx, dw.reshape(w.shape), db


SEPARABLE_KEYS = ("w_dw", "b_dw", "w_pw", "b_pw")


def separable_conv2d_forward(x, params, stride=1, pad=0):
    """Depthwise-separable convolution: depthwise f×f (stride, pad), then pointwise 1×1.

    x: (N, C, H, W); params: {"w_dw": (C, 1, f, f), "b_dw": (C,) or None,
    "w_pw": (F, C, 1, 1), "b_pw": (F,) or None}. No activation in between (MobileNet puts
    batch norm and ReLU there; add them outside). Returns out (N, F, H', W') and a cache.
    """
    if not isinstance(params, dict) or any(k not in params for k in SEPARABLE_KEYS):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"params must be a dict with keys {SEPARABLE_KEYS}, got {got}")
    mid, cache_dw = depthwise_conv2d_forward(x, params["w_dw"], params["b_dw"], stride, pad)
    out, cache_pw = pointwise_conv_forward(mid, params["w_pw"], params["b_pw"])
    return out, (cache_dw, cache_pw)


def separable_conv2d_backward(dout, cache):
    """Backward pass of :func:`separable_conv2d_forward`.

    dout: (N, F, H', W'). Returns dx (N, C, H, W) and grads, a dict with the keys of params
    ("w_dw", "b_dw", "w_pw", "b_pw"), each shaped like its parameter (None for a None bias).
    """
    v.check_cache(cache, 2)
    cache_dw, cache_pw = cache
    dmid, dw_pw, db_pw = pointwise_conv_backward(dout, cache_pw)
    dx, dw_dw, db_dw = depthwise_conv2d_backward(dmid, cache_dw)
    return dx, {"w_dw": dw_dw, "b_dw": db_dw, "w_pw": dw_pw, "b_pw": db_pw}


# ----------------------------------------------------------------------------------------
# Loop implementation, for reading
# ----------------------------------------------------------------------------------------


def depthwise_conv2d_forward_loops(x, w, b, stride=1, pad=0):
    """Same as depthwise_conv2d_forward, one output number at a time.

    x: (N, C, H, W), w: (C, 1, f_H, f_W), b: (C,) or None.
    Returns out (N, C, H', W') and cache (x, w, b, stride, pad).
    Unlike a full convolution, output channel c only ever sees input channel c.
    """
    stride, pad, dtype = _check_inputs(x, w, b, stride, pad)
    N, C, Ho, Wo = _out_shape(x.shape, w.shape, stride, pad)
    fH, fW = w.shape[2:]
    xp = zero_pad(x, pad)
    out = np.zeros((N, C, Ho, Wo), dtype)
    for n in range(N):
        for c in range(C):
            for h in range(Ho):
                for col in range(Wo):
                    top, left = h * stride, col * stride
                    window = xp[n, c, top : top + fH, left : left + fW]  # (f_H, f_W): one channel
                    out[n, c, h, col] = np.sum(window * w[c, 0])
            if b is not None:
                out[n, c] += b[c]
    return out, (x, w, b, stride, pad)


def depthwise_conv2d_backward_loops(dout, cache):
    """Same as depthwise_conv2d_backward, one output number at a time.

    out[n, c, h, col] = sum(window * w[c, 0]) + b[c] sends dout[n, c, h, col] * w[c, 0] back
    to its window of channel c of x, and dout[n, c, h, col] * window to w[c, 0].
    Returns dx (N, C, H, W), dw (C, 1, f_H, f_W), db (C,) (None if b was None).
    """
    v.check_cache(cache, 5)
    x, w, b, stride, pad = cache
    v.check_ndim(dout, 4, "dout", "(N, C, H', W')")
    N, C, Ho, Wo = _out_shape(x.shape, w.shape, stride, pad)
    v.check_same_shape(dout, (N, C, Ho, Wo), "dout")
    dtype = np.result_type(x.dtype, w.dtype)
    fH, fW = w.shape[2:]
    xp = zero_pad(x, pad)
    dxp = np.zeros(xp.shape, dtype)
    dw = np.zeros(w.shape, dtype)
    for n in range(N):
        for c in range(C):
            for h in range(Ho):
                for col in range(Wo):
                    top, left = h * stride, col * stride
                    g = dout[n, c, h, col]
                    dxp[n, c, top : top + fH, left : left + fW] += g * w[c, 0]
                    dw[c, 0] += g * xp[n, c, top : top + fH, left : left + fW]
    H, W = x.shape[2:]
    dx = dxp[:, :, pad : pad + H, pad : pad + W].copy()
    db = dout.sum(axis=(0, 2, 3)).astype(dtype) if b is not None else None
    return dx, dw, db
