"""2-D convolution in NumPy: forward and backward, vectorised and with loops.

Layout is NCHW, as in PyTorch:

    x    (N, C, H, W)       a batch of N inputs with C channels
    w    (F, C, f_H, f_W)   F filters (the course uses square ones, f_H = f_W = f)
    b    (F,)               one bias per filter
    out  (N, F, H', W')     H' = (H + 2*pad - f_H) // stride + 1, same for W'

"Convolution" here is cross-correlation (the filter is not flipped), like every deep
learning library. The vectorised functions turn the sliding windows into a matrix
("im2col") so that the whole layer is a handful of matrix products; the ``*_loops``
functions compute the very same numbers one window at a time, for reading.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import _validate as v

__all__ = [
    "Conv2d",
    "conv2d_backward",
    "conv2d_backward_loops",
    "conv2d_forward",
    "conv2d_forward_loops",
    "conv_output_size",
    "zero_pad",
]


def conv_output_size(n, f, pad, stride):
    """Output length of a convolution along one axis: floor((n + 2*pad - f) / stride) + 1.

    n: input length, f: filter length, pad: zeros added on each side, stride: step.
    """
    n = v.check_positive_int(n, "n")
    f = v.check_positive_int(f, "f")
    pad = v.check_nonneg_int(pad, "pad")
    stride = v.check_positive_int(stride, "stride")
    if f > n + 2 * pad:
        raise ValueError(f"filter length f={f} is larger than the padded input length n + 2*pad = {n + 2 * pad}")
    return (n + 2 * pad - f) // stride + 1


def zero_pad(x, pad):
    """Pad the two spatial axes of x with ``pad`` zeros on every side.

    x: (N, C, H, W) -> (N, C, H + 2*pad, W + 2*pad), same dtype; x is not modified.
    """
    v.check_ndim(x, 4, "x", "(N, C, H, W)")
    pad = v.check_nonneg_int(pad, "pad")
    N, C, H, W = x.shape
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
    xp[:, :, pad : pad + H, pad : pad + W] = x
    return xp


def _check_inputs(x, w, b, stride, pad):
    """Validate and return (stride, pad, dtype) where dtype is the dtype of the result."""
    stride, pad = v.check_conv_args(x, w, b, stride, pad)
    v.check_float(x, "x")
    v.check_float(w, "w")
    if b is not None:
        v.check_float(b, "b")
        return stride, pad, np.result_type(x.dtype, w.dtype, b.dtype)
    return stride, pad, np.result_type(x.dtype, w.dtype)


def _out_shape(x_shape, w_shape, stride, pad):
    N, _, H, W = x_shape
    F, _, fH, fW = w_shape
    return N, F, (H + 2 * pad - fH) // stride + 1, (W + 2 * pad - fW) // stride + 1


# ----------------------------------------------------------------------------------------
# Vectorised implementation
# ----------------------------------------------------------------------------------------


class _ConvWorkspace:
    """The scratch arrays of one convolution geometry, allocated on first use and reused.

    The matrices put the batch inside the columns, so each pass is one large GEMM
    (K = C*f_H*f_W, and L = H' * row, where row = W + 2p for stride 1, else W'):
        cols   (K, N*L)      im2col matrix: rows (c, i, j) like w.reshape(F, K), columns
                             (n, h', w'); the ``for_forward`` part
        out_t  (F, N*L)      w @ cols, transposed into the NCHW output afterwards
        dout_t (F, N*L)      dout laid out like out_t (columns w' >= W' stay zero)
        dcols  (K, B*L)      w.T @ dout_t for a chunk of B samples
        dxp    (N, C, ...)   padded input gradient

    For stride 1 the grid is "wide": each output row has W + 2p columns, W' of them real.
    Then the window offset (i, j) is a plain shift by i*(W+2p) + j in the flattened padded
    image, so im2col and col2im copy long contiguous runs instead of short strided ones.
    The extra columns cost a few percent more GEMM work; their dout is zero, so they add
    nothing to dw or dx.
    """

    chunk_bytes = 2 << 20  # size of one chunk of dcols: small enough to stay in cache

    def __init__(self, x_shape, w_shape, stride, pad, dtype):
        self.key = (tuple(x_shape), tuple(w_shape), stride, pad, np.dtype(dtype))
        self.x_shape, self.w_shape, self.stride, self.pad, self.dtype = self.key
        N, C, H, W = x_shape
        F, _, fH, fW = w_shape
        _, _, self.Ho, self.Wo = _out_shape(x_shape, w_shape, stride, pad)
        self.Hp, self.Wp = H + 2 * pad, W + 2 * pad
        self.row = self.Wp if stride == 1 else self.Wo  # columns per output row on the grid
        self.L = self.Ho * self.row
        self.K = C * fH * fW
        self.cols = self.out_t = self.xp = self.dout_t = self.dcols = self.dxp = None

    def for_forward(self):
        """Allocate (once) what the forward pass needs."""
        if self.cols is None:
            N, C, H, W = self.x_shape
            F = self.w_shape[0]
            if self.stride == 1:
                # flat padded images, f_W - 1 spare zeros at the end for the last shifted run
                self.xp = np.zeros((N, C, self.Hp * self.Wp + self.w_shape[3] - 1), self.dtype)
            elif self.pad:
                self.xp = np.zeros((N, C, self.Hp, self.Wp), self.dtype)
            self.cols = np.empty((self.K, N * self.L), self.dtype)
            self.out_t = np.empty((F, N * self.L), self.dtype)
        return self

    def for_backward(self):
        """Allocate (once) what the backward pass needs."""
        if self.dout_t is None:
            N, C, H, W = self.x_shape
            F = self.w_shape[0]
            self.dout_t = np.zeros((F, N * self.L), self.dtype)
            self.B = max(1, min(N, self.chunk_bytes // (self.K * self.L * self.dtype.itemsize)))
            self.dcols = np.empty((self.K, self.B * self.L), self.dtype)
            if self.stride == 1:
                self.dxp = np.empty((N, C, self.Hp * self.Wp + self.w_shape[3] - 1), self.dtype)
            else:
                self.dxp = np.empty((N, C, self.Hp, self.Wp), self.dtype)
        return self


def _im2col(x, ws):
    """Fill ws.cols (K, N*L) with the receptive fields of x (N, C, H, W)."""
    N, C, H, W = x.shape
    fH, fW = ws.w_shape[2:]
    p, s = ws.pad, ws.stride
    cols = ws.cols.reshape(C, fH, fW, N, ws.L)
    if s == 1:
        xp = ws.xp[:, :, : ws.Hp * ws.Wp].reshape(N, C, ws.Hp, ws.Wp)
        xp[:, :, p : p + H, p : p + W] = x  # the zero border is never written
        flat = ws.xp.transpose(1, 0, 2)  # (C, N, Hp*Wp + fW - 1)
        for i in range(fH):
            for j in range(fW):
                o = i * ws.Wp + j
                np.copyto(cols[:, i, j], flat[:, :, o : o + ws.L])
        return ws.cols
    if p:
        ws.xp[:, :, p : p + H, p : p + W] = x
        xp = ws.xp
    else:
        xp = x
    # windows[n, c, h', w', i, j] = xp[n, c, h'*s + i, w'*s + j]  (a view, no copy)
    windows = sliding_window_view(xp, (fH, fW), axis=(2, 3))[:, :, ::s, ::s]
    np.copyto(cols.reshape(C, fH, fW, N, ws.Ho, ws.Wo), windows.transpose(1, 4, 5, 0, 2, 3))
    return ws.cols


def _conv_forward(x, w, b, ws):
    N = x.shape[0]
    F = w.shape[0]
    cols = _im2col(x, ws)
    np.matmul(w.reshape(F, -1).astype(ws.dtype, copy=False), cols, out=ws.out_t)
    # (F, N, H', row) -> (N, F, H', W'), dropping the extra columns of the wide grid
    grid = ws.out_t.reshape(F, N, ws.Ho, ws.row)[:, :, :, : ws.Wo].transpose(1, 0, 2, 3)
    out = np.empty((N, F, ws.Ho, ws.Wo), ws.dtype)
    if b is None:
        np.copyto(out, grid)
    else:
        np.add(grid, b.astype(ws.dtype, copy=False).reshape(1, F, 1, 1), out=out)
    return out


def _col2im(dcols, n0, ws):
    """Add the columns of dcols (K, B*L), samples n0..n0+B, back onto ws.dxp."""
    N, C, H, W = ws.x_shape
    fH, fW = ws.w_shape[2:]
    B = dcols.shape[1] // ws.L
    d = dcols.reshape(C, fH, fW, B, ws.L)
    acc = ws.dxp[n0 : n0 + B]
    if ws.stride == 1:
        L = ws.L
        acc[:, :, :L] = d[:, 0, 0].transpose(1, 0, 2)
        acc[:, :, L:] = 0
        for i in range(fH):
            for j in range(fW):
                if i or j:
                    o = i * ws.Wp + j
                    acc[:, :, o : o + L] += d[:, i, j].transpose(1, 0, 2)
        return
    s, Ho, Wo = ws.stride, ws.Ho, ws.Wo
    acc.fill(0)
    d = d.reshape(C, fH, fW, B, Ho, Wo)
    for i in range(fH):
        for j in range(fW):
            acc[:, :, i : i + s * Ho : s, j : j + s * Wo : s] += d[:, i, j].transpose(1, 0, 2, 3)


def _conv_backward(dout, w, has_b, ws):
    N, F = dout.shape[:2]
    C = ws.x_shape[1]
    p, H, W = ws.pad, ws.x_shape[2], ws.x_shape[3]
    dout_t = ws.dout_t
    # (N, F, H', W') -> (F, N, H', row); the extra columns of a wide grid stay zero
    grid = dout_t.reshape(F, N, ws.Ho, ws.row)[:, :, :, : ws.Wo]
    np.copyto(grid, dout.transpose(1, 0, 2, 3))
    db = dout_t.sum(axis=1) if has_b else None
    # dw = dout_t @ cols.T: one GEMM over all N*L columns
    dw = np.matmul(dout_t, ws.cols.T).reshape(w.shape)
    w_t = w.reshape(F, -1).astype(ws.dtype, copy=False).T  # (K, F)
    B, L = ws.B, ws.L
    for n0 in range(0, N, B):
        n1 = min(n0 + B, N)
        dcols = ws.dcols[:, : (n1 - n0) * L]
        np.matmul(w_t, dout_t[:, n0 * L : n1 * L], out=dcols)
        _col2im(dcols, n0, ws)
    dxp = ws.dxp[:, :, : ws.Hp * ws.Wp].reshape(N, C, ws.Hp, ws.Wp)
    dx = dxp[:, :, p : p + H, p : p + W].copy()
    return dx, dw, db


def conv2d_forward(x, w, b, stride=1, pad=0):
    """Convolve a batch with a bank of filters (vectorised, im2col + matrix product).

    x: (N, C, H, W), w: (F, C, f_H, f_W), b: (F,) or None; stride >= 1, pad >= 0 integers.
    Returns out (N, F, H', W') and a cache (x, w, b, stride, pad, cols) for the backward pass,
    where cols (C*f_H*f_W, N*L) holds the unrolled windows of x (see _ConvWorkspace for L).
    """
    stride, pad, dtype = _check_inputs(x, w, b, stride, pad)
    ws = _ConvWorkspace(x.shape, w.shape, stride, pad, dtype).for_forward()
    out = _conv_forward(x, w, b, ws)
    return out, (x, w, b, stride, pad, ws.cols)


def conv2d_backward(dout, cache):
    """Backward pass of :func:`conv2d_forward`.

    dout: (N, F, H', W') upstream gradient; cache from conv2d_forward.
    Returns dx (N, C, H, W), dw (F, C, f_H, f_W), db (F,) (None if b was None).
    """
    v.check_cache(cache, 6)
    x, w, b, stride, pad, cols = cache
    v.check_ndim(dout, 4, "dout", "(N, F, H', W')")
    v.check_same_shape(dout, _out_shape(x.shape, w.shape, stride, pad), "dout")
    ws = _ConvWorkspace(x.shape, w.shape, stride, pad, cols.dtype).for_backward()
    ws.cols = cols
    return _conv_backward(dout, w, b is not None, ws)


class Conv2d:
    """A convolution layer that keeps its scratch buffers between calls.

    Same numbers as conv2d_forward / conv2d_backward, but when the input shape does not
    change (the usual case in training) nothing large is allocated except the outputs.

        layer = Conv2d(w, b, stride=1, pad=1)
        out = layer.forward(x)      # (N, F, H', W')
        dx = layer.backward(dout)   # (N, C, H, W); also sets layer.dw, layer.db
    """

    def __init__(self, w, b=None, stride=1, pad=0):
        v.check_ndim(w, 4, "w", "(F, C, f, f)")
        self.w = w
        self.b = b
        self.stride = v.check_positive_int(stride, "stride")
        self.pad = v.check_nonneg_int(pad, "pad")
        self.dw = None
        self.db = None
        self._ws = None
        self._fresh = False  # True between a forward and the next backward

    def forward(self, x):
        """x: (N, C, H, W) -> out (N, F, H', W')."""
        stride, pad, dtype = _check_inputs(x, self.w, self.b, self.stride, self.pad)
        key = (tuple(x.shape), tuple(self.w.shape), stride, pad, np.dtype(dtype))
        if self._ws is None or self._ws.key != key:
            self._ws = _ConvWorkspace(x.shape, self.w.shape, stride, pad, dtype)
        out = _conv_forward(x, self.w, self.b, self._ws.for_forward())
        self._fresh = True
        return out

    def backward(self, dout):
        """dout: (N, F, H', W') -> dx (N, C, H, W); stores self.dw and self.db."""
        if not self._fresh:
            raise ValueError("backward() called before forward(): there is no cached input")
        ws = self._ws
        v.check_ndim(dout, 4, "dout", "(N, F, H', W')")
        v.check_same_shape(dout, (ws.x_shape[0], ws.w_shape[0], ws.Ho, ws.Wo), "dout")
        dx, self.dw, self.db = _conv_backward(dout, self.w, self.b is not None, ws.for_backward())
        return dx


# ----------------------------------------------------------------------------------------
# Loop implementation, for reading
# ----------------------------------------------------------------------------------------


def conv2d_forward_loops(x, w, b, stride=1, pad=0):
    """Same as conv2d_forward, one output number at a time.

    x: (N, C, H, W), w: (F, C, f_H, f_W), b: (F,) or None.
    Returns out (N, F, H', W') and cache (x, w, b, stride, pad).
    """
    stride, pad, dtype = _check_inputs(x, w, b, stride, pad)
    N, F, Ho, Wo = _out_shape(x.shape, w.shape, stride, pad)
    fH, fW = w.shape[2:]
    xp = zero_pad(x, pad)
    out = np.zeros((N, F, Ho, Wo), dtype)
    for n in range(N):
        for k in range(F):
            for h in range(Ho):
                for c in range(Wo):
                    top, left = h * stride, c * stride
                    window = xp[n, :, top : top + fH, left : left + fW]  # (C, f_H, f_W)
                    out[n, k, h, c] = np.sum(window * w[k])
            if b is not None:
                out[n, k] += b[k]
    return out, (x, w, b, stride, pad)


def conv2d_backward_loops(dout, cache):
    """Same as conv2d_backward, one output number at a time.

    Every output out[n, k, h, c] = sum(window * w[k]) + b[k] sends dout[n, k, h, c] * w[k]
    back to its window of x, and dout[n, k, h, c] * window to w[k].
    Returns dx (N, C, H, W), dw (F, C, f_H, f_W), db (F,) (None if b was None).
    """
    v.check_cache(cache, 5)
    x, w, b, stride, pad = cache
    v.check_ndim(dout, 4, "dout", "(N, F, H', W')")
    N, F, Ho, Wo = _out_shape(x.shape, w.shape, stride, pad)
    v.check_same_shape(dout, (N, F, Ho, Wo), "dout")
    dtype = np.result_type(x.dtype, w.dtype)
    fH, fW = w.shape[2:]
    xp = zero_pad(x, pad)
    dxp = np.zeros(xp.shape, dtype)
    dw = np.zeros(w.shape, dtype)
    for n in range(N):
        for k in range(F):
            for h in range(Ho):
                for c in range(Wo):
                    top, left = h * stride, c * stride
                    g = dout[n, k, h, c]
                    dxp[n, :, top : top + fH, left : left + fW] += g * w[k]
                    dw[k] += g * xp[n, :, top : top + fH, left : left + fW]
    H, W = x.shape[2:]
    dx = dxp[:, :, pad : pad + H, pad : pad + W].copy()
    db = dout.sum(axis=(0, 2, 3)).astype(dtype) if b is not None else None
    return dx, dw, db
