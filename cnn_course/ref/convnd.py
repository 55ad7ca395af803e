"""Convolution and pooling over any number of spatial axes, in NumPy: 1-D, 2-D, 3-D, ...

Layout is channels-first, as in PyTorch, with d spatial axes:

    x    (N, C, S_1, ..., S_d)     d = 1: signals (N, C, L); d = 3: volumes (N, C, D, H, W)
    w    (F, C, f_1, ..., f_d)     every filter spans ALL C input channels
    b    (F,)
    out  (N, F, O_1, ..., O_d)     O_a = (S_a + 2*pad_a - f_a) // stride_a + 1, axis by axis

Nothing in the algorithm depends on d: the same formula holds on every axis, and the filter
slides along all of them. A filter is one weight per (channel, position in the window), so
it has C * f_1 * ... * f_d weights (+ 1 bias); the layer costs that many multiplications per
output value. ``stride`` and ``pad`` are an int (the same on every axis) or one int per axis.

The implementation is im2col, as in ``cnn_course.ref.conv``: every window becomes a column
of a (C * prod f, N * L) matrix, so a whole layer is one matrix product (forward), and two in
the backward pass plus a col2im that adds the columns back onto the input ("overlaps are
summed"). With stride 1 on every axis, a window offset is a plain shift in the flattened
padded input, so the copies are long contiguous runs; the output then sits on a "wide" grid
whose rows keep the padded length of every axis after the first (the extra values are
dropped, and their gradient is zero).

Pooling (``poolnd_forward``/``poolnd_backward``): max or average over f_1 x ... x f_d windows,
each channel on its own, no padding; ties in a max go to the first maximum in row-major
order, as in PyTorch.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import _validate as v

__all__ = [
    "conv1d_backward",
    "conv1d_forward",
    "conv3d_backward",
    "conv3d_forward",
    "convnd_backward",
    "convnd_forward",
    "convnd_output_shape",
    "pool1d_backward",
    "pool1d_forward",
    "pool3d_backward",
    "pool3d_forward",
    "poolnd_backward",
    "poolnd_forward",
]

MODES = ("max", "average")
_AXES = {1: "L", 2: "H, W", 3: "D, H, W"}
CHUNK_BYTES = 2 << 20  # one chunk of the backward's column matrix: small enough to stay in cache


def _layout(first: str, d: int) -> str:
    names = _AXES.get(d, ", ".join(f"S{a + 1}" for a in range(d)))
    return f"({first}, {names})"


def _per_axis(value, d, name, check):
    """An int (same on every axis) or a tuple/list of d ints -> tuple of d ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != d:
            raise ValueError(f"{name} must be one integer or {d} (one per spatial axis), got {value!r}")
        return tuple(check(a, f"{name}[{i}]") for i, a in enumerate(value))
    return (check(value, name),) * d


def convnd_output_shape(spatial, f, stride=1, pad=0):
    """Output size on every spatial axis: O_a = (S_a + 2*pad_a - f_a) // stride_a + 1.

    spatial, f: sequences of d positive ints; stride, pad: int or d ints. Returns a tuple.
    """
    spatial = tuple(v.check_positive_int(s, "spatial[i]") for s in spatial)
    d = len(spatial)
    f = _per_axis(tuple(f), d, "f", v.check_positive_int)
    stride = _per_axis(stride, d, "stride", v.check_positive_int)
    pad = _per_axis(pad, d, "pad", v.check_nonneg_int)
    for a in range(d):
        if f[a] > spatial[a] + 2 * pad[a]:
            raise ValueError(f"filter size {f[a]} on spatial axis {a} is larger than the padded input "
                             f"{spatial[a]} + 2*{pad[a]} = {spatial[a] + 2 * pad[a]}")
    return tuple((spatial[a] + 2 * pad[a] - f[a]) // stride[a] + 1 for a in range(d))


def _check_conv(x, w, b, stride, pad, d=None):
    """Validate; return (stride, pad, dtype) with stride and pad as d-tuples."""
    if not hasattr(x, "ndim") or x.ndim < 3 or (d is not None and x.ndim != d + 2):
        v.check_ndim(x, (d or 1) + 2, "x", _layout("N, C", d or 1))
    d = x.ndim - 2
    v.check_ndim(w, d + 2, "w", "(F, C, " + ", ".join(["f"] * d) + ")")
    v.check_float(x, "x")
    v.check_float(w, "w")
    stride = _per_axis(stride, d, "stride", v.check_positive_int)
    pad = _per_axis(pad, d, "pad", v.check_nonneg_int)
    C, F = int(x.shape[1]), int(w.shape[0])
    if int(w.shape[1]) != C:
        raise ValueError(f"channel mismatch: x has C={C} channels (x.shape={tuple(x.shape)}) but every filter "
                         f"must span all of them, and w has {int(w.shape[1])} (w.shape={tuple(w.shape)}, "
                         f"layout (F, C, f...))")
    dtype = np.result_type(x.dtype, w.dtype) if isinstance(x, np.ndarray) else None
    if b is not None:
        v.check_ndim(b, 1, "b", "(F,)")
        v.check_float(b, "b")
        if tuple(b.shape) != (F,):
            raise ValueError(f"b must have shape (F,) = ({F},) to match w.shape={tuple(w.shape)}, got {tuple(b.shape)}")
        dtype = np.result_type(dtype, b.dtype) if dtype is not None else None
    S, f = x.shape[2:], w.shape[2:]
    for a in range(d):
        if f[a] > S[a] + 2 * pad[a]:
            raise ValueError(f"filter {tuple(f)} is larger than the padded input on spatial axis {a}: "
                             f"{f[a]} > {S[a]} + 2*{pad[a]} (x.shape={tuple(x.shape)}, w.shape={tuple(w.shape)})")
    return stride, pad, dtype


class _Geometry:
    """Sizes of one convolution: padded P, output O, the column grid G (L = prod G) and offsets."""

    def __init__(self, x_shape, w_shape, stride, pad):
        self.x_shape, self.w_shape, self.stride, self.pad = tuple(x_shape), tuple(w_shape), stride, pad
        self.N, self.C, *S = x_shape
        self.F, _, *f = w_shape
        self.S, self.f = tuple(S), tuple(f)
        self.P = tuple(s + 2 * p for s, p in zip(S, pad))
        self.O = tuple((P - fa) // s + 1 for P, fa, s in zip(self.P, f, stride))
        self.K = self.C * int(np.prod(f))
        self.wide = all(s == 1 for s in stride)
        # wide: output rows keep the padded length of every axis after the first
        self.G = (self.O[0],) + self.P[1:] if self.wide else self.O
        self.L = int(np.prod(self.G))
        self.windows = list(itertools.product(*(range(fa) for fa in f)))  # row-major, like w's axes
        if self.wide:
            pstrides = [int(np.prod(self.P[a + 1 :])) for a in range(len(self.P))]
            self.shifts = [sum(k * ps for k, ps in zip(win, pstrides)) for win in self.windows]
            self.flat = int(np.prod(self.P)) + self.shifts[-1] - (self.f[0] - 1) * pstrides[0]  # room for the last shift

    def crop_grid(self):
        """Index that keeps the real outputs of a (..., *G) array."""
        return (Ellipsis,) + tuple(slice(0, o) for o in self.O)

    def interior(self):
        """Index of the unpadded input inside a (N, C, *P) array."""
        return (slice(None), slice(None)) + tuple(slice(p, p + s) for p, s in zip(self.pad, self.S))


def _padded_flat(x, g, dtype):
    """x (N, C, *S) -> zero-padded and flattened (N, C, g.flat)."""
    xp = np.zeros((g.N, g.C, g.flat), dtype)
    np.copyto(xp[:, :, : int(np.prod(g.P))].reshape(g.N, g.C, *g.P)[g.interior()], x)
    return xp


def _im2col_strided(x, g, dtype):
    """The (K, N*L) column matrix for any stride: rows (c, window offset) like w.reshape(F, K),
    columns (n, output position)."""
    d = len(g.S)
    xp = np.zeros((g.N, g.C, *g.P), dtype)
    xp[g.interior()] = x
    win = sliding_window_view(xp, g.f, axis=tuple(range(2, d + 2)))  # (N, C, *P-f+1, *f), a view
    win = win[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in g.stride)]
    cols = np.empty((g.K, g.N * g.L), dtype)
    # (N, C, *O, *f) -> (C, *f, N, *O)
    order = (1,) + tuple(range(d + 2, 2 * d + 2)) + (0,) + tuple(range(2, d + 2))
    np.copyto(cols.reshape(g.C, *g.f, g.N, *g.O), win.transpose(order))
    return cols


def _im2col_wide(flat, g, chunk, buf):
    """Columns of one chunk (n0, n1, l0, l1) on the wide grid (stride 1), into buf (K, >= size):
    every window offset is a shift by a constant in the flat padded input (N, C, flat)."""
    n0, n1, l0, l1 = chunk
    m = (n1 - n0) * (l1 - l0)
    c = buf[:, :m].reshape(g.C, len(g.shifts), n1 - n0, l1 - l0)
    src = flat[n0:n1].transpose(1, 0, 2)  # (C, B, flat)
    for k, o in enumerate(g.shifts):
        np.copyto(c[:, k], src[:, :, o + l0 : o + l1])
    return buf[:, :m]


def _col2im_add(dcols, chunk, dxp, g):
    """Add the columns of chunk (n0, n1, l0, l1) in dcols (K, .) back onto the padded dxp."""
    n0, n1, l0, l1 = chunk
    d = dcols.reshape(g.C, len(g.windows), n1 - n0, l1 - l0)
    if g.wide:
        acc = dxp[n0:n1]  # (B, C, flat)
        for k, o in enumerate(g.shifts):
            acc[:, :, o + l0 : o + l1] += d[:, k].transpose(1, 0, 2)
        return
    acc = dxp[n0:n1]  # (B, C, *P)
    for k, win in enumerate(g.windows):
        idx = (Ellipsis,) + tuple(slice(i, i + s * o, s) for i, s, o in zip(win, g.stride, g.O))
        acc[idx] += d[:, k].reshape(g.C, n1 - n0, *g.O).swapaxes(0, 1)


def _chunks(g, itemsize):
    """Column blocks (n0, n1, l0, l1) holding about CHUNK_BYTES of a (K, .) matrix: whole samples,
    or (when one sample is bigger, on the wide grid) pieces of one sample."""
    per_sample = g.K * g.L * itemsize
    if per_sample <= CHUNK_BYTES or not g.wide:
        B = max(1, CHUNK_BYTES // per_sample)
        return [(n0, min(n0 + B, g.N), 0, g.L) for n0 in range(0, g.N, B)]
    step = max(1, CHUNK_BYTES // (g.K * itemsize))
    return [(n, n + 1, l0, min(l0 + step, g.L)) for n in range(g.N) for l0 in range(0, g.L, step)]


def _columns(chunk, g):
    """The columns of a chunk in a (., N*L) matrix."""
    n0, n1, l0, l1 = chunk
    return slice(n0 * g.L + l0, (n1 - 1) * g.L + l1)


def convnd_forward(x, w, b, stride=1, pad=0):
    """Convolve x (N, C, *S) with filters w (F, C, *f) over all d spatial axes (im2col + GEMM).

    b: (F,) or None; stride, pad: int or d ints. Returns out (N, F, *O) and a cache
    (x, w, b, stride, pad, prep) for the backward pass, stride and pad as d-tuples. With
    stride 1 on every axis, prep is the zero-padded input flattened to (N, C, flat) and the
    columns are built chunk by chunk, each one small enough to stay in the CPU cache (forward
    and backward rebuild them: cheaper than storing them all); otherwise prep is the whole
    column matrix (K, N*L).
    """
    stride, pad, dtype = _check_conv(x, w, b, stride, pad)
    g = _Geometry(x.shape, w.shape, stride, pad)
    w2 = w.reshape(g.F, -1).astype(dtype, copy=False)  # (F, K)
    if g.wide:
        prep = _padded_flat(x, g, dtype)
        out_t = np.empty((g.F, g.N * g.L), dtype)
        chunks = _chunks(g, dtype.itemsize)
        buf = np.empty((g.K, max((n1 - n0) * (l1 - l0) for n0, n1, l0, l1 in chunks)), dtype)
        for chunk in chunks:
            np.matmul(w2, _im2col_wide(prep, g, chunk, buf), out=out_t[:, _columns(chunk, g)])
    else:
        prep = _im2col_strided(x, g, dtype)
        out_t = w2 @ prep  # (F, N*L)
    out = np.ascontiguousarray(out_t.reshape(g.F, g.N, *g.G)[g.crop_grid()].swapaxes(0, 1))
    if b is not None:
        out += b.astype(dtype, copy=False).reshape((1, g.F) + (1,) * len(g.S))
    return out, (x, w, b, stride, pad, prep)


def convnd_backward(dout, cache):
    """Backward pass of :func:`convnd_forward`: dout (N, F, *O) -> dx (N, C, *S), dw (F, C, *f), db (F,) or None."""
    v.check_cache(cache, 6)
    x, w, b, stride, pad, prep = cache
    g = _Geometry(x.shape, w.shape, stride, pad)
    d = len(g.S)
    v.check_ndim(dout, d + 2, "dout", _layout("N, F", d))
    v.check_same_shape(dout, (g.N, g.F, *g.O), "dout")
    dtype = prep.dtype
    dout_t = np.zeros((g.F, g.N * g.L), dtype)  # laid out like the columns; wide extras stay 0
    np.copyto(dout_t.reshape(g.F, g.N, *g.G)[g.crop_grid()], dout.swapaxes(0, 1))
    db = dout_t.sum(axis=1) if b is not None else None
    w_t = w.reshape(g.F, -1).astype(dtype, copy=False).T  # (K, F)
    dxp = np.zeros((g.N, g.C, g.flat) if g.wide else (g.N, g.C, *g.P), dtype)
    chunks = _chunks(g, dtype.itemsize)
    if g.wide:
        dw = np.zeros((g.F, g.K), dtype)
        buf = np.empty((g.K, max((n1 - n0) * (l1 - l0) for n0, n1, l0, l1 in chunks)), dtype)
    else:
        dw = dout_t @ prep.T
    for chunk in chunks:
        block = dout_t[:, _columns(chunk, g)]  # (F, columns of the chunk)
        if g.wide:
            dw += block @ _im2col_wide(prep, g, chunk, buf).T
        _col2im_add(w_t @ block, chunk, dxp, g)
    if g.wide:
        dxp = dxp[:, :, : int(np.prod(g.P))].reshape(g.N, g.C, *g.P)
    dx = np.ascontiguousarray(dxp[g.interior()])
    return dx, dw.reshape(w.shape), db


def conv1d_forward(x, w, b, stride=1, pad=0):
    """1-D convolution: x (N, C, L), w (F, C, f), b (F,) or None -> out (N, F, L'), cache."""
    _check_conv(x, w, b, stride, pad, d=1)
    return convnd_forward(x, w, b, stride, pad)


def conv1d_backward(dout, cache):
    """Backward of :func:`conv1d_forward`: dout (N, F, L') -> dx (N, C, L), dw (F, C, f), db (F,)."""
    return convnd_backward(dout, cache)


def conv3d_forward(x, w, b, stride=1, pad=0):
    """3-D convolution: x (N, C, D, H, W), w (F, C, f, f, f), b (F,) or None -> out (N, F, D', H', W'), cache."""
    _check_conv(x, w, b, stride, pad, d=3)
    return convnd_forward(x, w, b, stride, pad)


def conv3d_backward(dout, cache):
    """Backward of :func:`conv3d_forward`: dout (N, F, D', H', W') -> dx, dw, db."""
    return convnd_backward(dout, cache)


# ----------------------------------------------------------------------------------------
# Pooling
# ----------------------------------------------------------------------------------------


def _check_pool(x, f, stride, mode, d=None):
    if not hasattr(x, "ndim") or x.ndim < 3 or (d is not None and x.ndim != d + 2):
        v.check_ndim(x, (d or 1) + 2, "x", _layout("N, C", d or 1))
    d = x.ndim - 2
    v.check_float(x, "x")
    f = _per_axis(f, d, "f", v.check_positive_int)
    stride = f if stride is None else _per_axis(stride, d, "stride", v.check_positive_int)
    mode = v.check_pool_mode(mode, MODES)
    for a in range(d):
        if f[a] > x.shape[2 + a]:
            raise ValueError(f"pooling window {f} is larger than the input on spatial axis {a}: "
                             f"x.shape={tuple(x.shape)}")
    return f, stride, mode


def _pool_geometry(x_shape, f, stride):
    O = tuple((s - fa) // st + 1 for s, fa, st in zip(x_shape[2:], f, stride))
    windows = list(itertools.product(*(range(fa) for fa in f)))
    return O, windows


def _slice(win, stride, O):
    return (Ellipsis,) + tuple(slice(i, i + s * (o - 1) + 1, s) for i, s, o in zip(win, stride, O))


def poolnd_forward(x, f, stride=None, mode="max"):
    """Max or average pooling over f_1 x ... x f_d windows of x (N, C, *S) (no padding).

    f, stride: int or d ints (stride defaults to f). Returns out (N, C, *O), O_a =
    (S_a - f_a) // stride_a + 1, and a cache (x, out, f, stride, mode).
    """
    f, stride, mode = _check_pool(x, f, stride, mode)
    O, windows = _pool_geometry(x.shape, f, stride)
    out = x[_slice(windows[0], stride, O)].copy()
    combine = np.maximum if mode == "max" else np.add
    for win in windows[1:]:
        combine(out, x[_slice(win, stride, O)], out=out)
    if mode == "average":
        out *= x.dtype.type(1.0 / len(windows))
    return out, (x, out, f, stride, mode)


def poolnd_backward(dout, cache):
    """Backward of :func:`poolnd_forward`: dout (N, C, *O) -> dx (N, C, *S).

    Max: the whole gradient goes to the first maximum of each window (row-major order).
    Average: each element of the window gets dout / (f_1 * ... * f_d).
    """
    v.check_cache(cache, 5)
    x, out, f, stride, mode = cache
    O, windows = _pool_geometry(x.shape, f, stride)
    v.check_ndim(dout, x.ndim, "dout", _layout("N, C", x.ndim - 2))
    v.check_same_shape(dout, x.shape[:2] + O, "dout")
    dout = dout.astype(x.dtype, copy=False)
    dx = np.zeros(x.shape, x.dtype)
    if mode == "average":
        g = dout * x.dtype.type(1.0 / len(windows))
        for win in windows:
            dx[_slice(win, stride, O)] += g
        return dx
    rest = dout.copy()  # gradient not yet given to a maximum of its window
    for win in windows:
        hit = x[_slice(win, stride, O)] == out
        contrib = rest * hit
        dx[_slice(win, stride, O)] += contrib
        rest -= contrib
    return dx


def pool1d_forward(x, f, stride=None, mode="max"):
    """1-D pooling: x (N, C, L) -> out (N, C, L'), cache."""
    _check_pool(x, f, stride, mode, d=1)
    return poolnd_forward(x, f, stride, mode)


def pool1d_backward(dout, cache):
    """Backward of :func:`pool1d_forward`."""
    return poolnd_backward(dout, cache)


def pool3d_forward(x, f, stride=None, mode="max"):
    """3-D pooling: x (N, C, D, H, W) -> out (N, C, D', H', W'), cache."""
    _check_pool(x, f, stride, mode, d=3)
    return poolnd_forward(x, f, stride, mode)


def pool3d_backward(dout, cache):
    """Backward of :func:`pool3d_forward`."""
    return poolnd_backward(dout, cache)
