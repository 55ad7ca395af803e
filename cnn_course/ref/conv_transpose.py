"""Transposed 2-D convolution in NumPy: forward and backward, vectorised and with loops.

Layout is NCHW, weights in PyTorch's layout for ``F.conv_transpose2d``:

    x    (N, C_in, H, W)          the small input (e.g. a U-Net's coarse feature map)
    w    (C_in, C_out, f_H, f_W)  note the order: input channels FIRST
    b    (C_out,)
    out  (N, C_out, H', W')       H' = (H - 1)*stride - 2*pad + f_H + output_padding

How it works: every input value x[n, c, i, j] multiplies a whole filter w[c] (C_out, f, f),
and that scaled filter is ADDED onto the output grid with its top-left corner at
(i*stride, j*stride). Where placements overlap, the values are summed. The full grid has
(H - 1)*stride + f rows; ``pad`` rows are then cut off at the top and at the bottom (the
opposite of a convolution's padding, which adds them), and ``output_padding`` adds extra rows
at the bottom (columns at the right) only.

Why "transposed": a convolution is a linear map x -> conv(x) = A x. The transposed
convolution with the same weights is y -> A^T y: it is exactly the gradient of
``conv2d_forward(x, w, stride, pad)`` with respect to x, so <conv(x), y> = <x, conv_t(y)>.
That is how it is computed here: its forward pass is the input-gradient step of the
convolution (a matrix product, then col2im), its backward pass is a convolution forward.

Several input sizes of a strided convolution give the same output size (7 and 8 both give 4
with f=3, s=2, p=1), so the transposed convolution needs ``output_padding`` (0 <= op < stride)
to say which one it should produce.

Worked example (one channel): x = [[2, 1], [3, 2]], w = [[1, 2, 1], [2, 0, 1], [0, 2, 1]],
stride 2, pad 1. The full grid is 5x5; cutting one row and column on each side leaves 3x3.
The classic 4x4 answer cuts the first row and column only: that is PyTorch's
``pad=1, output_padding=1`` (H' = (2-1)*2 - 2 + 3 + 1 = 4)::

    [[ 0,  4,  0,  1],
     [10,  7,  6,  3],
     [ 0,  7,  0,  2],
     [ 6,  3,  4,  2]]
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v
from .conv import _col2im, _conv_forward, _ConvWorkspace

__all__ = [
    "conv_transpose2d_backward",
    "conv_transpose2d_contributions",
    "conv_transpose2d_forward",
    "conv_transpose2d_forward_loops",
    "conv_transpose_output_size",
]


def conv_transpose_output_size(n, f, pad=0, stride=1, output_padding=0):
    """Output length of a transposed convolution along one axis.

    (n - 1)*stride - 2*pad + f + output_padding: the full grid (n - 1)*stride + f, minus the
    ``pad`` cropped on each side, plus ``output_padding`` extra at the end.
    """
    n = v.check_positive_int(n, "n")
    f = v.check_positive_int(f, "f")
    pad = v.check_nonneg_int(pad, "pad")
    stride = v.check_positive_int(stride, "stride")
    output_padding = v.check_nonneg_int(output_padding, "output_padding")
    if output_padding >= stride:
        raise ValueError(f"output_padding must be smaller than stride (it picks one of the {stride} input "
                         f"sizes a stride-{stride} convolution maps to the same size), got "
                         f"output_padding={output_padding}, stride={stride}")
    size = (n - 1) * stride - 2 * pad + f + output_padding
    if size < 1:
        raise ValueError(f"pad={pad} crops away the whole output: (n-1)*stride - 2*pad + f + output_padding "
                         f"= ({n}-1)*{stride} - 2*{pad} + {f} + {output_padding} = {size}")
    return size


def _check_inputs(x, w, b, stride, pad, output_padding):
    """Validate; return (stride, pad, output_padding, out_shape, dtype)."""
    v.check_ndim(x, 4, "x", "(N, C_in, H, W)")
    v.check_ndim(w, 4, "w", "(C_in, C_out, f, f)")
    v.check_float(x, "x")
    v.check_float(w, "w")
    N, C_in, H, W = (int(d) for d in x.shape)
    C_w, C_out, fH, fW = (int(d) for d in w.shape)
    if C_w != C_in:
        raise ValueError(
            f"channel mismatch: x has C_in={C_in} channels (x.shape={tuple(x.shape)}, layout (N, C_in, H, W)) "
            f"but w has {C_w} input channels (w.shape={tuple(w.shape)}, layout (C_in, C_out, f, f): "
            f"a transposed convolution's weight lists the input channels first)")
    numpy = isinstance(x, np.ndarray)  # torch tensors (the pt twin) get dtype None
    dtype = np.result_type(x.dtype, w.dtype) if numpy else None
    if b is not None:
        v.check_ndim(b, 1, "b", "(C_out,)")
        v.check_float(b, "b")
        if tuple(b.shape) != (C_out,):
            raise ValueError(f"b must have shape (C_out,) = ({C_out},) to match w.shape={tuple(w.shape)}, "
                             f"got {tuple(b.shape)}")
        dtype = np.result_type(dtype, b.dtype) if numpy else None
    Ho = conv_transpose_output_size(H, fH, pad, stride, output_padding)
    Wo = conv_transpose_output_size(W, fW, pad, stride, output_padding)
    return int(stride), int(pad), int(output_padding), (N, C_out, Ho, Wo), dtype


def _wide(ws, a, out=None):
    """Lay a (N, C, H, W) out as the (C, N*L) matrix of a conv workspace (extra columns zero)."""
    N, C = a.shape[:2]
    t = np.zeros((C, N * ws.L), ws.dtype) if out is None else out
    np.copyto(t.reshape(C, N, ws.Ho, ws.row)[:, :, :, : ws.Wo], a.transpose(1, 0, 2, 3))
    return t


def conv_transpose2d_forward(x, w, b, stride=1, pad=0, output_padding=0):
    """Transposed convolution (vectorised: one matrix product per chunk, then col2im).

    x: (N, C_in, H, W), w: (C_in, C_out, f_H, f_W), b: (C_out,) or None; stride >= 1,
    pad >= 0, 0 <= output_padding < stride.
    Returns out (N, C_out, H', W'), H' = (H-1)*stride - 2*pad + f_H + output_padding, and a
    cache (x, w, b, stride, pad, output_padding). Equal to
    ``F.conv_transpose2d(x, w, b, stride, pad, output_padding)``.
    """
    stride, pad, op, out_shape, dtype = _check_inputs(x, w, b, stride, pad, output_padding)
    N, C_out, Ho, Wo = out_shape
    C_in = x.shape[1]
    # the convolution whose input gradient this is: input (N, C_out, H', W') -> (N, C_in, H, W)
    ws = _ConvWorkspace(out_shape, w.shape, stride, pad, dtype).for_backward()
    _wide(ws, x, out=ws.dout_t)  # its extra columns stay zero
    w_t = w.reshape(C_in, -1).astype(dtype, copy=False).T  # (C_out*f*f, C_in)
    B, L = ws.B, ws.L
    for n0 in range(0, N, B):
        n1 = min(n0 + B, N)
        dcols = ws.dcols[:, : (n1 - n0) * L]
        np.matmul(w_t, ws.dout_t[:, n0 * L : n1 * L], out=dcols)  # every input value times its filter
        _col2im(dcols, n0, ws)  # ... added onto the grid at (i*stride, j*stride)
    full = ws.dxp[:, :, : ws.Hp * ws.Wp].reshape(N, C_out, ws.Hp, ws.Wp)
    out = full[:, :, pad : pad + Ho, pad : pad + Wo].copy()  # crop pad on each side
    if b is not None:
        out += b.astype(dtype, copy=False).reshape(1, C_out, 1, 1)
    return out, (x, w, b, stride, pad, op)


def conv_transpose2d_backward(dout, cache):
    """Backward pass of :func:`conv_transpose2d_forward`.

    dout: (N, C_out, H', W'). Returns dx (N, C_in, H, W), dw (C_in, C_out, f_H, f_W) and
    db (C_out,) (None if b was None). dx is an ordinary convolution of dout with w (stride,
    pad): the transpose of the transpose.
    """
    v.check_cache(cache, 6)
    x, w, b, stride, pad, op = cache
    *_, out_shape, dtype = _check_inputs(x, w, b, stride, pad, op)
    v.check_ndim(dout, 4, "dout", "(N, C_out, H', W')")
    v.check_same_shape(dout, out_shape, "dout")
    dout = dout.astype(dtype, copy=False)
    ws = _ConvWorkspace(out_shape, w.shape, stride, pad, dtype).for_forward()
    dx = _conv_forward(dout, w, None, ws)  # fills ws.cols with the windows of dout
    dw = np.matmul(_wide(ws, x), ws.cols.T).reshape(w.shape)
    db = dout.sum(axis=(0, 2, 3)) if b is not None else None
    return dx, dw, db


# ----------------------------------------------------------------------------------------
# Loop implementation, for reading and for pictures
# ----------------------------------------------------------------------------------------


def conv_transpose2d_forward_loops(x, w, b, stride=1, pad=0, output_padding=0):
    """Same as conv_transpose2d_forward, one input value at a time.

    Each x[n, c, i, j] scales the filter w[c] (C_out, f_H, f_W), which is added onto the full
    grid at (i*stride, j*stride); the grid is then cropped by ``pad`` on each side.
    Returns out (N, C_out, H', W') and the same cache as conv_transpose2d_forward.
    """
    stride, pad, op, (N, C_out, Ho, Wo), dtype = _check_inputs(x, w, b, stride, pad, output_padding)
    _, C_in, H, W = x.shape
    fH, fW = w.shape[2:]
    # big enough for every placement and for the output window [pad, pad + H')
    full = np.zeros((N, C_out, max((H - 1) * stride + fH, pad + Ho), max((W - 1) * stride + fW, pad + Wo)), dtype)
    for n in range(N):
        for c in range(C_in):
            for i in range(H):
                for j in range(W):
                    top, left = i * stride, j * stride
                    full[n, :, top : top + fH, left : left + fW] += x[n, c, i, j] * w[c]  # add, never overwrite
    out = full[:, :, pad : pad + Ho, pad : pad + Wo].copy()
    if b is not None:
        out += b.reshape(1, C_out, 1, 1)
    return out, (x, w, b, stride, pad, op)


def conv_transpose2d_contributions(x, w, stride=1, pad=0, output_padding=0, crop=True):
    """What each input value adds to the output of a one-channel transposed convolution.

    x: (H, W), w: (f_H, f_W). Returns c (H, W, H_g, W_g) where c[i, j] is x[i, j] * w placed
    at (i*stride, j*stride) on the full grid, so that ``c.sum(axis=(0, 1))`` is the output.
    With ``crop=True`` the grid is the output (H', W') (the ``pad`` border cut away, as in
    conv_transpose2d_forward); with ``crop=False`` it is the uncropped grid, the output
    window starting at (pad, pad), for drawing what the padding throws away.
    """
    v.check_ndim(x, 2, "x", "(H, W)")
    v.check_ndim(w, 2, "w", "(f, f)")
    x4, w4 = np.asarray(x)[None, None], np.asarray(w)[None, None]
    stride, pad, op, (_, _, Ho, Wo), dtype = _check_inputs(x4, w4, None, stride, pad, output_padding)
    H, W = x.shape
    fH, fW = w.shape
    Hg, Wg = max((H - 1) * stride + fH, pad + Ho), max((W - 1) * stride + fW, pad + Wo)
    c = np.zeros((H, W, Hg, Wg), dtype)
    for i in range(H):
        for j in range(W):
            c[i, j, i * stride : i * stride + fH, j * stride : j * stride + fW] = x[i, j] * w
    return c[:, :, pad : pad + Ho, pad : pad + Wo].copy() if crop else c
