"""2-D max and average pooling in NumPy: forward and backward, vectorised and with loops.

Layout is NCHW:

    x    (N, C, H, W)
    out  (N, C, H', W')    H' = (H - f) // stride + 1, same for W'

Each channel is pooled on its own over f x f windows taken every ``stride`` pixels
(no padding). ``mode`` is "max" or "average".

Max-pool gradient: as in PyTorch, when a window holds its maximum more than once,
only the first one in row-major order receives the gradient, so the gradient is
never counted twice.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v

__all__ = [
    "AvgPool2d",
    "MaxPool2d",
    "Pool2d",
    "pool2d_backward",
    "pool2d_backward_loops",
    "pool2d_forward",
    "pool2d_forward_loops",
]

MODES = ("max", "average")


def _check_inputs(x, f, stride, mode):
    f, stride = v.check_pool_args(x, f, stride)
    v.check_float(x, "x")
    mode = v.check_pool_mode(mode, MODES)
    return f, stride, mode


def _out_shape(x_shape, f, stride):
    N, C, H, W = x_shape
    return N, C, (H - f) // stride + 1, (W - f) // stride + 1


def _offsets(f):
    """Window offsets (i, j) in row-major order: the order that decides ties."""
    return [(i, j) for i in range(f) for j in range(f)]


def _window_slice(a, i, j, stride, Ho, Wo):
    """View of a (N, C, H, W) holding element (i, j) of every window: (N, C, H', W')."""
    return a[:, :, i : i + stride * (Ho - 1) + 1 : stride, j : j + stride * (Wo - 1) + 1 : stride]


def _tiles(x_shape, f, stride):
    """True when the windows cover x exactly once (stride == f and f divides H and W)."""
    H, W = x_shape[2:]
    return stride == f and H % f == 0 and W % f == 0


class _PoolWorkspace:
    """Scratch arrays of one pooling geometry, allocated on first use and then reused."""

    def __init__(self, x_shape, f, stride, dtype):
        self.key = (tuple(x_shape), f, stride, np.dtype(dtype))
        self.x_shape, self.dtype = tuple(x_shape), np.dtype(dtype)
        self.out_shape = _out_shape(x_shape, f, stride)
        self._arrays = {}

    def get(self, name, shape):
        a = self._arrays.get(name)
        if a is None or a.shape != shape:
            a = self._arrays[name] = np.empty(shape, self.dtype)
        return a


def _is_2x2_tiling(x_shape, f, stride):
    return f == 2 and _tiles(x_shape, f, stride)


def _maxpool2x2_forward(x, ws):
    """2x2, stride 2 max pooling in two passes: the max of each row pair, then of each column pair.

    Returns out (N, C, H/2, W/2) and the masks (right, bottom): 1.0 where the right column
    (the bottom row) of a pair holds the maximum. Strict ">" sends ties to the left/top,
    which is exactly the first maximum in row-major order.
    """
    N, C, H, W = x.shape
    Ho, Wo = H // 2, W // 2
    left, right = x[..., 0::2], x[..., 1::2]  # (N, C, H, W/2) each
    rowmax = np.maximum(left, right, out=ws.get("rowmax", (N, C, H, Wo)))
    m_right = np.greater(right, left, out=ws.get("m_right", (N, C, H, Wo)))
    pairs = rowmax.reshape(N, C, Ho, 2, Wo)
    top, bottom = pairs[:, :, :, 0], pairs[:, :, :, 1]
    out = np.maximum(top, bottom, out=np.empty((N, C, Ho, Wo), x.dtype))
    m_bottom = np.greater(bottom, top, out=ws.get("m_bottom", (N, C, Ho, Wo)))
    return out, (m_right, m_bottom)


def _maxpool2x2_backward(dout, masks, ws):
    m_right, m_bottom = masks
    N, C, H, Wo = m_right.shape
    Ho = H // 2
    # gradient of rowmax: the bottom row of a pair gets dout * m_bottom, the top the rest
    g = ws.get("g_rowmax", (N, C, H, Wo))
    g4 = g.reshape(N, C, Ho, 2, Wo)
    np.multiply(dout, m_bottom, out=g4[:, :, :, 1])
    np.subtract(dout, g4[:, :, :, 1], out=g4[:, :, :, 0])
    dx = np.empty((N, C, H, 2 * Wo), m_right.dtype)
    np.multiply(g, m_right, out=dx[..., 1::2])
    np.subtract(g, dx[..., 1::2], out=dx[..., 0::2])
    return dx


def _pool_forward(x, f, stride, mode, ws):
    """Returns out and the extra arrays that max-pool backward needs (None if none)."""
    if mode == "max" and _is_2x2_tiling(x.shape, f, stride):
        return _maxpool2x2_forward(x, ws)
    N, C, Ho, Wo = _out_shape(x.shape, f, stride)
    out = np.empty((N, C, Ho, Wo), x.dtype)
    offsets = _offsets(f)
    np.copyto(out, _window_slice(x, *offsets[0], stride, Ho, Wo))
    combine = np.maximum if mode == "max" else np.add
    for i, j in offsets[1:]:
        combine(out, _window_slice(x, i, j, stride, Ho, Wo), out=out)
    if mode == "average":
        out *= x.dtype.type(1.0 / (f * f))
    return out, None


def _pool_backward(dout, x, out, extra, f, stride, mode, ws):
    dout = dout.astype(x.dtype, copy=False)
    if mode == "max" and _is_2x2_tiling(x.shape, f, stride):
        return _maxpool2x2_backward(dout, extra, ws)
    Ho, Wo = dout.shape[2:]
    dtype = x.dtype
    tiles = _tiles(x.shape, f, stride)
    # when the windows tile x, every element of dx is written exactly once: no zeroing
    dx = np.empty(x.shape, dtype) if tiles else np.zeros(x.shape, dtype)
    offsets = _offsets(f)
    tmp = ws.get("tmp", dout.shape)
    if mode == "average":
        g = np.multiply(dout, dtype.type(1.0 / (f * f)), out=tmp)
        for i, j in offsets:
            dxs = _window_slice(dx, i, j, stride, Ho, Wo)
            if tiles:
                np.copyto(dxs, g)
            else:
                dxs += g
        return dx
    # max: walk the window in row-major order; the first element equal to the maximum
    # takes the whole gradient, which is then removed from `rest` so later ties get none
    rest, hit = ws.get("rest", dout.shape), ws.get("hit", dout.shape)
    np.copyto(rest, dout)
    last = len(offsets) - 1
    for k, (i, j) in enumerate(offsets):
        np.equal(_window_slice(x, i, j, stride, Ho, Wo), out, out=hit)
        contrib = np.multiply(rest, hit, out=tmp)
        dxs = _window_slice(dx, i, j, stride, Ho, Wo)
        if tiles:
            np.copyto(dxs, contrib)
        else:
            dxs += contrib
        if k < last:
            rest -= contrib
    return dx


def pool2d_forward(x, f, stride, mode="max"):
    """Max or average pooling over f x f windows (vectorised over the batch and channels).

    x: (N, C, H, W); f, stride: positive integers; mode: "max" or "average".
    Returns out (N, C, H', W') and a cache (x, out, extra, f, stride, mode). Max pooling
    keeps out to find each window's maximum again, except 2x2 windows with stride 2, which
    keep instead (in extra) the two masks that locate it; average pooling keeps neither.
    """
    f, stride, mode = _check_inputs(x, f, stride, mode)
    ws = _PoolWorkspace(x.shape, f, stride, x.dtype)
    out, extra = _pool_forward(x, f, stride, mode, ws)
    return out, (x, out if mode == "max" and extra is None else None, extra, f, stride, mode)


def pool2d_backward(dout, cache):
    """Backward pass of :func:`pool2d_forward`: dout (N, C, H', W') -> dx (N, C, H, W)."""
    v.check_cache(cache, 6)
    x, out, extra, f, stride, mode = cache
    v.check_ndim(dout, 4, "dout", "(N, C, H', W')")
    v.check_same_shape(dout, _out_shape(x.shape, f, stride), "dout")
    ws = _PoolWorkspace(x.shape, f, stride, x.dtype)
    return _pool_backward(dout, x, out, extra, f, stride, mode, ws)


class Pool2d:
    """A pooling layer that keeps its scratch buffers between calls.

        layer = Pool2d(f=2, stride=2, mode="max")
        out = layer.forward(x)      # (N, C, H', W')
        dx = layer.backward(dout)   # (N, C, H, W)
    """

    def __init__(self, f, stride=None, mode="max"):
        self.f = v.check_positive_int(f, "f")
        self.stride = self.f if stride is None else v.check_positive_int(stride, "stride")
        self.mode = v.check_pool_mode(mode, MODES)
        self._ws = None
        self._x = self._out = self._extra = None

    def forward(self, x):
        """x: (N, C, H, W) -> out (N, C, H', W')."""
        _check_inputs(x, self.f, self.stride, self.mode)
        key = (tuple(x.shape), self.f, self.stride, np.dtype(x.dtype))
        if self._ws is None or self._ws.key != key:
            self._ws = _PoolWorkspace(x.shape, self.f, self.stride, x.dtype)
        self._x = x
        self._out, self._extra = _pool_forward(x, self.f, self.stride, self.mode, self._ws)
        return self._out

    def backward(self, dout):
        """dout: (N, C, H', W') -> dx (N, C, H, W)."""
        if self._x is None:
            raise ValueError("backward() called before forward(): there is no cached input")
        x = self._x
        v.check_ndim(dout, 4, "dout", "(N, C, H', W')")
        v.check_same_shape(dout, _out_shape(x.shape, self.f, self.stride), "dout")
        return _pool_backward(dout, x, self._out, self._extra, self.f, self.stride, self.mode, self._ws)


class MaxPool2d(Pool2d):
    """Max pooling layer; ``stride`` defaults to ``f``."""

    def __init__(self, f, stride=None):
        super().__init__(f, stride, "max")


class AvgPool2d(Pool2d):
    """Average pooling layer; ``stride`` defaults to ``f``."""

    def __init__(self, f, stride=None):
        super().__init__(f, stride, "average")


# ----------------------------------------------------------------------------------------
# Loop implementation, for reading
# ----------------------------------------------------------------------------------------


def pool2d_forward_loops(x, f, stride, mode="max"):
    """Same as pool2d_forward, one window at a time.

    Returns out (N, C, H', W') and cache (x, f, stride, mode).
    """
    f, stride, mode = _check_inputs(x, f, stride, mode)
    N, C, Ho, Wo = _out_shape(x.shape, f, stride)
    out = np.zeros((N, C, Ho, Wo), x.dtype)
    for n in range(N):
        for c in range(C):
            for h in range(Ho):
                for w in range(Wo):
                    top, left = h * stride, w * stride
                    window = x[n, c, top : top + f, left : left + f]
                    out[n, c, h, w] = window.max() if mode == "max" else window.mean()
    return out, (x, f, stride, mode)


def pool2d_backward_loops(dout, cache):
    """Same as pool2d_backward, one window at a time.

    Max: the gradient goes to the first maximum of the window (np.argmax is row-major).
    Average: every element of the window gets an equal share, dout / (f*f).
    """
    v.check_cache(cache, 4)
    x, f, stride, mode = cache
    v.check_ndim(dout, 4, "dout", "(N, C, H', W')")
    N, C, Ho, Wo = _out_shape(x.shape, f, stride)
    v.check_same_shape(dout, (N, C, Ho, Wo), "dout")
    dx = np.zeros(x.shape, x.dtype)
    for n in range(N):
        for c in range(C):
            for h in range(Ho):
                for w in range(Wo):
                    top, left = h * stride, w * stride
                    g = dout[n, c, h, w]
                    if mode == "max":
                        window = x[n, c, top : top + f, left : left + f]
                        i, j = np.unravel_index(np.argmax(window), window.shape)
                        dx[n, c, top + i, left + j] += g
                    else:
                        dx[n, c, top : top + f, left : left + f] += g / (f * f)
    return dx
