"""Checks for the topic-6 notebook (Inception): the 1×1 convolution, multiply counts and the
channel bookkeeping of a stack of Inception modules.

The graded functions and their checks:

* ``pointwise_conv_forward(x, w, b) -> (out, cache)``: :func:`pointwise_conv_forward`. x is
  (m, n_C, n_H, n_W), w (n_C', n_C, 1, 1), b (n_C',); out (m, n_C', n_H, n_W) with
  out[i, f, h, v] = Σ_c w[f, c] x[i, c, h, v] + b[f] (no activation).
* ``pointwise_conv_backward(dout, cache) -> (dx, dw, db)``: :func:`pointwise_conv_backward`,
  with the cache of the student's own forward pass; dw has w's shape (n_C', n_C, 1, 1).
* ``layer_mults(kind, n_H, n_W, n_C, f, n_C_out, n_C_mid=None) -> int``: the multiplications
  of a "standard" f×f convolution, a "bottleneck" (1×1 to n_C_mid, then f×f) or a
  "separable" one (depthwise f×f, then 1×1), with (n_H, n_W) the OUTPUT size:
  :func:`layer_mults`.
* ``inception_stack(in_shape, layers) -> (shapes, n_params)``: the shape after each layer of
  a stack of Inception modules (6-tuples ``(c1, c3_reduce, c3, c5_reduce, c5, pool_proj)``)
  and ``"maxpool"`` layers (3×3, stride 2, padding 1), and the learnable parameters of the
  stack (conv weights and biases): :func:`inception_stack`.

Expected values are computed here with NumPy (einsum and plain arithmetic), never with the
library; the known mistakes used for diagnoses are the same computation with one thing
changed (transposed weights, no bias, the average instead of the sum, the filter area or the
number of filters left out, the pool branch without its projection...). None of the graded
functions may use the course library, PyTorch or SciPy (:data:`~.core.FORBIDDEN`).
"""

from __future__ import annotations

import numpy as np

from .core import (
    Case,
    FORBIDDEN,
    Out,
    Variant,
    describe,
    float_dtypes,
    forbids,
    forward_cache,
    require_forward,
    run_check,
)

__all__ = ["pointwise_conv_forward", "pointwise_conv_backward", "layer_mults", "inception_stack",
           "pointwise_reference", "count_mults", "stack_reference", "module_params"]

_HIDDEN = 10

# --------------------------------------------------------------------------- 1×1 convolution: reference

FORWARD_RECIPE = ("out[i, f, h, v] = Σ_c w[f, c, 0, 0] · x[i, c, h, v] + b[f]: at every pixel, a fully connected "
                  "layer from the n_C input channels to the n_C' output channels. Reshape w to (n_C', n_C), "
                  "multiply it with x's channel axis (np.einsum, np.tensordot, or a matrix product after moving the "
                  "channels), then add b along the channel axis (b[None, :, None, None]).")
TRANSPOSED_W = ("your output is what w[:, :, 0, 0].T gives: the weights are transposed. w has shape (n_C', n_C): row "
                "f holds the weights of output channel f, one per input channel, so out = W @ x_channels with "
                "W = w[:, :, 0, 0] of shape (n_C', n_C).")
NO_BIAS = "your output misses the bias: add b[f] to every pixel of output channel f (b[None, :, None, None])."
BIAS_WRONG_AXIS = ("the bias was added along the last axis (width) instead of the channel axis: b has one entry per "
                   "output channel, so reshape it to (1, n_C', 1, 1) before adding: b[None, :, None, None].")
RELU_ADDED = ("your output is the ReLU of the right answer: the 1×1 convolution here is the linear part only, "
              "w·x + b (the ReLU is a separate layer).")
RESHAPE_NO_MOVE = ("x.reshape(n_C, -1) keeps the image axis in front (x is (m, n_C, n_H, n_W)), so its rows are not "
                   "channels once m > 1: move the channel axis first (x.transpose(1, 0, 2, 3).reshape(n_C, -1)), and "
                   "back the same way for the result, or use np.einsum / np.tensordot on the channel axis.")
CHANNELS_LAST = ("out must keep the channels-first layout (m, n_C', n_H, n_W): if you computed (m, n_H, n_W, n_C') "
                 "with channels last, move the axis back (np.moveaxis(out, -1, 1) or .transpose(0, 3, 1, 2)).")

BACKWARD_RECIPE = ("with W = w[:, :, 0, 0] (n_C', n_C): dx[i, c, h, v] = Σ_f W[f, c] · dout[i, f, h, v] (the "
                   "transpose of W), dw[f, c] = Σ over i, h, v of dout[i, f, h, v] · x[i, c, h, v] (reshaped to "
                   "(n_C', n_C, 1, 1)), db[f] = Σ over i, h, v of dout[i, f, h, v].")
DX_NOT_TRANSPOSED = ("your dx uses W where the backward pass needs the transpose of W: dx[i, c] = Σ_f W[f, c] "
                     "dout[i, f], so the sum runs over the OUTPUT channels f (W.T @ dout_channels).")
DW_TRANSPOSED = ("your dw is transposed: dw[f, c] pairs output channel f (from dout) with input channel c (from x), "
                 "shape (n_C', n_C, 1, 1) like w.")
DW_MEAN = ("your dw (or db) is an average: the gradient of a sum over the batch and the pixels is the SUM of "
           "each position's contribution; do not divide by the number of examples or pixels.")
DW_FIRST_IMAGE = ("your dw (or db) only holds the contribution of one image (a loop that overwrites instead of "
                  "adding?): the same weights act on every example of the batch, so sum over the examples too "
                  "(axes i, h, v).")
DW_NO_PIXEL_SUM = ("your dw (or db) only uses one pixel per image: the same 1×1 filter acts at every pixel, so its "
                   "gradient sums the contributions of all n_H·n_W positions and all examples.")
DB_WRONG_AXES = ("db must have one entry per output channel, shape (n_C',): sum dout over the examples and the pixels, "
                 "axes (0, 2, 3).")
DW_SHAPE = ("dw has the shape of w, (n_C', n_C, 1, 1): reshape your (n_C', n_C) matrix with "
            "dw.reshape(w.shape) or dw[:, :, None, None].")


def pointwise_reference(x, w, b, *, transpose=False, bias="right", relu=False, flat=None):
    """``out`` of the 1×1 convolution in float64 (x (m, C, H, W), w (F, C, 1, 1), b (F,)),
    with one known mistake switched on: ``transpose`` (W.T, square only), ``bias`` "none" /
    "last_axis" (b added along the width axis; needs W == F), ``flat`` "direct" / "moved"
    (x.reshape(C, -1) without moving the channel axis first, the result reshaped back to
    (m, F, H, W) directly or as (F, m, H, W) then transposed)."""
    W = np.asarray(w, dtype=np.float64).reshape(w.shape[0], w.shape[1])
    if flat is not None:
        m, C, H, Wd = x.shape
        mat = W @ np.asarray(x, dtype=np.float64).reshape(C, -1) + np.asarray(b, dtype=np.float64)[:, None]
        return mat.reshape(m, -1, H, Wd) if flat == "direct" else mat.reshape(-1, m, H, Wd).transpose(1, 0, 2, 3)
    if transpose:
        W = W.T
    out = np.einsum("fc,ichw->ifhw", W, np.asarray(x, dtype=np.float64))
    if bias == "right":
        out = out + np.asarray(b, dtype=np.float64)[None, :, None, None]
    elif bias == "last_axis":
        out = out + np.asarray(b, dtype=np.float64)[None, None, None, :]
    if relu:
        out = np.maximum(out, 0.0)
    return out


def pointwise_grads(x, w, dout, *, dx_transposed=False, dw="right", db="right"):
    """(dx, dw, db) of the 1×1 convolution in float64, with one known mistake switched on
    (for the diagnoses): ``dx_transposed``; ``dw``/``db`` "transposed" (dw only), "mean"
    (divided by m·H·W), "mean_batch" (divided by m), "first_image", "last_image", "no_pixel_sum"."""
    x = np.asarray(x, dtype=np.float64)
    dout = np.asarray(dout, dtype=np.float64)
    F, C = w.shape[0], w.shape[1]
    W = np.asarray(w, dtype=np.float64).reshape(F, C)
    dx = np.einsum("cf,ifhw->ichw" if dx_transposed else "fc,ifhw->ichw", W, dout)
    m, _, H, Wd = x.shape

    def reduce(kind, full, first, last, pixel):
        if kind == "mean":
            return full / (m * H * Wd)
        if kind == "mean_batch":
            return full / m
        if kind == "first_image":
            return first
        if kind == "last_image":
            return last
        if kind == "no_pixel_sum":
            return pixel
        return full

    dw_full = np.einsum("ifhw,ichw->fc", dout, x)
    dw_val = reduce(dw, dw_full, np.einsum("fhw,chw->fc", dout[0], x[0]), np.einsum("fhw,chw->fc", dout[-1], x[-1]),
                    np.einsum("if,ic->fc", dout[:, :, 0, 0], x[:, :, 0, 0]))
    if dw == "transposed":  # (C, F) computed, then reshaped to w's shape
        dw_val = dw_full.T.reshape(F, C)
    db_full = dout.sum(axis=(0, 2, 3))
    db_val = reduce(db, db_full, dout[0].sum(axis=(1, 2)), dout[-1].sum(axis=(1, 2)), dout[:, :, 0, 0].sum(axis=0))
    return dx, dw_val.reshape(F, C, 1, 1), db_val


def _flat_grads(x, w, dout):
    """dx (reshaped back both ways), dw and db computed from x.reshape(C, -1) and dout.reshape(F, -1)
    without moving the channel axis first: a known mistake."""
    m, C, H, Wd = x.shape
    F = w.shape[0]
    W = np.asarray(w, dtype=np.float64).reshape(F, C)
    d = np.asarray(dout, dtype=np.float64).reshape(F, -1)
    xm = np.asarray(x, dtype=np.float64).reshape(C, -1)
    dx_mat = W.T @ d
    return {"dx": dx_mat.reshape(m, C, H, Wd), "dw": (d @ xm.T).reshape(F, C, 1, 1), "db": d.sum(axis=1)}


def _forward_exception_hint(exc, line):
    text = str(exc)
    if "could not be broadcast" in text and "+" in line:
        return ("the bias does not line up with the output: b has one entry per output channel, so add it along the "
                "channel axis, b[None, :, None, None] (or b[:, None] on a (n_C', m·n_H·n_W) matrix).")
    if ("matmul" in text or "aligned" in text) and (".T" in line or "transpose" in line):
        return ("the matrix product does not fit, which is what happens when the weights are transposed: "
                "w[:, :, 0, 0] has shape (n_C', n_C), row f holding the weights of output channel f, so out = "
                "W @ x_channels with W = w[:, :, 0, 0], no .T.")
    if "matmul" in text or "aligned" in text or "operands could not be broadcast" in text or "shape" in text:
        return ("check the shapes: x is (m, n_C, n_H, n_W), w (n_C', n_C, 1, 1) and b (n_C',). "
                "W = w[:, :, 0, 0] (or w.reshape(n_C', n_C)) maps n_C channels to n_C'.")
    return None


def _forward_case(x, w, b, note=""):
    dtype = x.dtype
    expected = pointwise_reference(x, w, b).astype(dtype)
    F, C = w.shape[:2]

    def variants():
        found = [Variant(NO_BIAS, {"out": pointwise_reference(x, w, b, bias="none")}),
                 Variant(RELU_ADDED, {"out": pointwise_reference(x, w, b, relu=True)})]
        if F == C:
            found.append(Variant(TRANSPOSED_W, {"out": pointwise_reference(x, w, b, transpose=True)}))
        if x.shape[3] == F:
            found.append(Variant(BIAS_WRONG_AXIS, {"out": pointwise_reference(x, w, b, bias="last_axis")}))
        if expected.transpose(0, 2, 3, 1).shape == expected.shape:
            found.append(Variant(CHANNELS_LAST, {"out": expected.transpose(0, 2, 3, 1)}))
        if x.shape[0] > 1:
            found += [Variant(RESHAPE_NO_MOVE, {"out": pointwise_reference(x, w, b, flat=k)}) for k in ("direct", "moved")]
        return found

    def inspect(got):
        out = got.get("out")
        if not isinstance(out, np.ndarray) or out.shape == expected.shape:
            return None
        if out.shape == (x.shape[0], x.shape[2], x.shape[3], F):
            return CHANNELS_LAST
        if x.shape[3] == 1 and out.shape == (x.shape[0], F, x.shape[2], F):
            return BIAS_WRONG_AXIS
        return None

    return Case(
        args=[("x", x), ("w", w), ("b", b)], dtype=dtype, note=note,
        describe=describe(dtype, x=x, w=w, b=b),
        outputs=[Out("out", expected, dtype=dtype,
                     shape_hint=f"out has shape (m, n_C', n_H, n_W) = {expected.shape}: one output channel per filter, "
                                "the same n_H × n_W as x.")],
        returns=("out", "cache"), variants=variants, inspect=inspect, hint=FORWARD_RECIPE,
        exception_hint=_forward_exception_hint,
    )


def _random_pointwise(rng, dtype, square=False):
    m = int(rng.integers(1, 4))
    C = int(rng.integers(2 if square else 1, 6))  # a square W of size 1 is its own transpose
    F = C if square else int(rng.integers(1, 6))
    H, W = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    if rng.random() < 0.3:
        W = F  # the width equals the number of filters: a bias on the wrong axis still broadcasts
    x = rng.standard_normal((m, C, H, W)).astype(dtype)
    w = (rng.standard_normal((F, C, 1, 1)) / np.sqrt(C)).astype(dtype)
    b = rng.normal(0.0, 0.5, F).astype(dtype)
    return x, w, b


def _visible_pointwise():
    rng = np.random.default_rng(6061)
    x1 = np.arange(18, dtype=np.float64).reshape(1, 3, 2, 3) / 4 - 2
    w1 = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]]).reshape(2, 3, 1, 1)
    b1 = np.array([0.1, -0.2])
    x2 = np.round(rng.standard_normal((2, 3, 3, 3)), 2)
    w2 = np.round(rng.standard_normal((3, 3, 1, 1)), 2)
    b2 = np.round(rng.normal(0, 0.5, 3), 2)
    x3 = rng.standard_normal((2, 4, 2, 5)).astype(np.float32)
    w3 = (rng.standard_normal((5, 4, 1, 1)) / 2).astype(np.float32)
    b3 = rng.normal(0, 0.5, 5).astype(np.float32)
    return [(x2, w2, b2, "two images, 3 → 3 channels"), (x1, w1, b1, "one image, 3 → 2 channels"),
            (x3, w3, b3, "4 → 5 channels, float32, n_W = n_C' = 5")]


@forbids(*FORBIDDEN)
def pointwise_conv_forward(func, hidden=False, seed=0):
    """Check ``pointwise_conv_forward(x, w, b) -> (out, cache)`` against NumPy's einsum."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_forward_case(x, w, b, note) for x, w, b, note in _visible_pointwise()]
    else:
        rng = np.random.default_rng(seed)
        cases = [_forward_case(*_random_pointwise(rng, dt, square=k % 3 == 0))
                 for k, dt in enumerate(float_dtypes(rng, _HIDDEN))]
    run_check("pointwise_conv_forward", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- backward


def _backward_case(forward, x, w, b, dout, note=""):
    dtype = x.dtype
    dx, dw, db = (a.astype(dtype) for a in pointwise_grads(x, w, dout))
    F, C = w.shape[:2]

    def prepare(watch):
        return forward_cache("pointwise_conv_forward", lambda: forward(x.copy(), w.copy(), b.copy()), pointwise_reference(x, w, b), dtype, FORBIDDEN, watch)

    def variants():
        found = []
        if F == C:
            found.append(Variant(DX_NOT_TRANSPOSED, {"dx": pointwise_grads(x, w, dout, dx_transposed=True)[0]}))
        found.append(Variant(DW_TRANSPOSED, {"dw": pointwise_grads(x, w, dout, dw="transposed")[1]}))
        if dout.shape[0] == F:
            found.append(Variant(DB_WRONG_AXES, {"db": dout.sum(axis=(1, 2, 3)).astype(np.float64)}))
        if x.shape[0] > 1:
            found += [Variant(RESHAPE_NO_MOVE, {k: v}) for k, v in _flat_grads(x, w, dout).items()]
        for kind, hint in (("mean", DW_MEAN), ("mean_batch", DW_MEAN), ("first_image", DW_FIRST_IMAGE),
                           ("last_image", DW_FIRST_IMAGE), ("no_pixel_sum", DW_NO_PIXEL_SUM)):
            _, dw_v, db_v = pointwise_grads(x, w, dout, dw=kind, db=kind)
            found.append(Variant(hint, {"dw": dw_v}))
            found.append(Variant(hint, {"db": db_v}))
        return found

    def inspect(got):
        g_dw, g_db = got.get("dw"), got.get("db")
        if isinstance(g_dw, np.ndarray) and g_dw.shape == (F, C):
            return DW_SHAPE
        if isinstance(g_dw, np.ndarray) and g_dw.shape == (C, F, 1, 1) and F != C:
            return DW_TRANSPOSED
        if isinstance(g_db, np.ndarray) and g_db.shape != (F,):
            return DB_WRONG_AXES
        return None

    return Case(
        args=[("dout", dout), ("cache", None)], dtype=dtype, note=note,
        describe=describe(dtype, x=x, w=w, dout=dout),
        outputs=[Out("dx", dx, dtype=dtype, shape_hint=f"dx has the shape of x: {x.shape}."),
                 Out("dw", dw, dtype=dtype, shape_hint=f"dw has the shape of w: {w.shape}. " + DW_SHAPE),
                 Out("db", db, dtype=dtype, shape_hint=f"db has the shape of b: {b.shape}. " + DB_WRONG_AXES)],
        inplace_ok=frozenset({"cache"}), prepare=prepare, variants=variants, inspect=inspect, hint=BACKWARD_RECIPE,
        exception_hint=lambda exc, line: ("cache is exactly the second value your pointwise_conv_forward returned: "
                                          "unpack it the way you packed it, and check the shapes: "
                                          + BACKWARD_RECIPE),
    )


@forbids(*FORBIDDEN)
def pointwise_conv_backward(func, forward_func, hidden=False, seed=0):
    """Check ``pointwise_conv_backward(dout, cache) -> (dx, dw, db)`` with the cache of the
    student's own ``forward_func``, against the gradients written out with einsum."""
    __tracebackhide__ = True
    require_forward("pointwise_conv_backward", func, "pointwise_conv_forward", forward_func, FORBIDDEN)
    rng = np.random.default_rng(seed if hidden else 6062)
    if not hidden:
        cases = []
        for x, w, b, note in _visible_pointwise():
            dout = np.round(rng.standard_normal((x.shape[0], w.shape[0], x.shape[2], x.shape[3])), 2).astype(x.dtype)
            cases.append(_backward_case(forward_func, x, w, b, dout, note))
    else:
        cases = []
        for k, dt in enumerate(float_dtypes(rng, _HIDDEN)):
            x, w, b = _random_pointwise(rng, dt, square=k % 3 == 0)
            if k % 4 == 1:  # at least two examples and two pixels: a missing sum shows
                x = rng.standard_normal((2, x.shape[1], 2, 3)).astype(dt)
            dout = rng.standard_normal((x.shape[0], w.shape[0], x.shape[2], x.shape[3])).astype(dt)
            cases.append(_backward_case(forward_func, x, w, b, dout))
    run_check("pointwise_conv_backward", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- multiply counts

KINDS = ("standard", "bottleneck", "separable")
MULTS_RULE = ("count one multiplication per filter weight per OUTPUT value, (n_H, n_W) being the output size; a "
              "bottleneck and a separable layer are two layers in a row: count both.")
MULTS_RECIPE = {
    "standard": "a standard layer has n_H·n_W·n_C_out output values, each computed by an f×f×n_C filter.",
    "bottleneck": "the bottleneck is a 1×1 convolution from n_C to n_C_mid channels, then an f×f convolution from "
                  "n_C_mid to n_C_out channels, both at n_H × n_W.",
    "separable": "the separable layer is a depthwise step (one f×f filter per input channel, each on its own channel) "
                 "then a pointwise step (n_C_out filters of 1×1×n_C), both at n_H × n_W.",
}


def count_mults(kind, n_H, n_W, n_C, f, n_C_out, n_C_mid=None, *, area=2, filters=True, stage="both",
                mid_as_out=False, full_in=False, depthwise_full=False, pointwise_area=False, reduce_area=False):
    """Multiplications of a layer (the seeds' convention: multiplies only, output size given),
    with one known mistake switched on (for the diagnoses): ``area`` 0 / 1 (the filter area f·f
    left out, or f instead of f·f), ``filters=False`` (the number of output channels left out),
    ``stage`` "first" / "second" (only one of the two steps counted), ``mid_as_out`` (the
    bottleneck's 1×1 step counted to n_C_out channels), ``full_in`` (the bottleneck's f×f step
    on all n_C channels), ``depthwise_full`` (the depthwise step counted as a standard
    convolution), ``pointwise_area`` (the pointwise step with f·f weights per channel), ``reduce_area``
    (the bottleneck's 1×1 step with f·f weights per channel)."""
    fa = f ** area
    k_out = n_C_out if filters else 1
    if kind == "standard":
        return n_H * n_W * k_out * fa * n_C
    if kind == "bottleneck":
        k_mid = (n_C_out if mid_as_out else n_C_mid) if filters else 1
        first = n_H * n_W * k_mid * n_C * (fa if reduce_area else 1)
        second = n_H * n_W * k_out * fa * (n_C if full_in else n_C_mid)
    elif kind == "separable":
        first = n_H * n_W * n_C * fa * (k_out if depthwise_full else 1)
        second = n_H * n_W * k_out * n_C * (fa if pointwise_area else 1)
    else:
        raise ValueError(kind)
    return {"both": first + second, "first": first, "second": second}[stage]


def _mults_case(kind, n_H, n_W, n_C, f, n_C_out, n_C_mid=None, note=""):
    expected = count_mults(kind, n_H, n_W, n_C, f, n_C_out, n_C_mid)

    def variants():
        common = [(f"your count is off by the filter area: every output value needs f·f·(input channels) "
                   f"multiplications for an f×f filter (f·f = {f * f} here), not {what}.", dict(area=a))
                  for a, what in ((0, "just the channels"), (1, "f·(channels)"))]
        common.append(("your count is off by the number of filters: there is one output value per output channel "
                       "and pixel, n_H·n_W·n_C_out of them, each computed by its own filter.", dict(filters=False)))
        found = list(common)
        if kind == "bottleneck":
            found += [("only the f×f step is counted: the bottleneck's 1×1 convolution (n_C → n_C_mid) costs "
                       "n_H·n_W·n_C_mid·n_C multiplications too.", dict(stage="second")),
                      ("only the 1×1 step is counted: add the f×f convolution from n_C_mid to n_C_out channels.",
                       dict(stage="first")),
                      ("your 1×1 step produces n_C_out channels: it shrinks n_C to n_C_mid (the bottleneck), and "
                       "the f×f convolution then goes from n_C_mid to n_C_out.", dict(mid_as_out=True)),
                      ("your f×f step works on all n_C input channels: after the bottleneck it sees only n_C_mid "
                       "channels, which is where the saving comes from.", dict(full_in=True)),
                      ("your 1×1 step is counted with f·f weights per input channel: a 1×1 filter has just n_C "
                       "weights.", dict(reduce_area=True))]
        elif kind == "separable":
            found += [("your depthwise step is counted like a standard convolution (× n_C_out): each of its n_C "
                       "filters sees ONE channel, so it costs n_H·n_W·n_C·f·f.", dict(depthwise_full=True)),
                      ("the pointwise (1×1) step is missing: after the depthwise step, n_C_out filters of 1×1×n_C "
                       "mix the channels, n_H·n_W·n_C_out·n_C multiplications.", dict(stage="first")),
                      ("only the pointwise step is counted: add the depthwise one, n_H·n_W·n_C·f·f.",
                       dict(stage="second")),
                      ("your pointwise step has f·f weights per channel: it is a 1×1 convolution, one weight per "
                       "input channel.", dict(pointwise_area=True))]
        out = []
        for hint, kw in found:
            value = count_mults(kind, n_H, n_W, n_C, f, n_C_out, n_C_mid, **kw)
            out.append(Variant(hint, {"number of multiplications": value}))
        return out

    args = [("kind", kind), ("n_H", n_H), ("n_W", n_W), ("n_C", n_C), ("f", f), ("n_C_out", n_C_out)]
    if kind == "bottleneck":
        args.append(("n_C_mid", n_C_mid))
    text = ", ".join(f"{k}={v!r}" for k, v in args)
    return Case(args=args, outputs=[Out("number of multiplications", expected, kind="int")], describe=text,
                note=note, variants=variants, hint=f"{MULTS_RULE} {MULTS_RECIPE.get(kind, '')}".strip(),
                exception_hint=lambda exc, line: ("layer_mults(kind, n_H, n_W, n_C, f, n_C_out, n_C_mid=None): "
                                                  "n_C_mid is given for the bottleneck only; kind is one of "
                                                  f"{KINDS}."))


@forbids(*FORBIDDEN)
def layer_mults(func, hidden=False, seed=0):
    """Check ``layer_mults(kind, n_H, n_W, n_C, f, n_C_out, n_C_mid=None) -> int``."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_mults_case("standard", 28, 28, 192, 5, 32, note="the 5×5 branch: 120,422,400"),
                 _mults_case("bottleneck", 28, 28, 192, 5, 32, 16, note="with a 16-channel bottleneck: 12,443,648"),
                 _mults_case("standard", 4, 4, 3, 3, 5, note="6×6×3 → 4×4×5 with 3×3 filters: 2160"),
                 _mults_case("separable", 4, 4, 3, 3, 5, note="the same layer, depthwise-separable: 432 + 240")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k in range(12):
            kind = KINDS[k % 3]
            n_H = int(rng.integers(1, 60))
            n_W = n_H if rng.random() < 0.6 else int(rng.integers(1, 60))
            n_C = int(rng.integers(2, 300))
            f = int(rng.choice([2, 3, 5, 7]))
            n_C_out = int(rng.integers(2, 300))
            n_C_mid = int(rng.integers(1, max(2, n_C // 2))) if kind == "bottleneck" else None
            cases.append(_mults_case(kind, n_H, n_W, n_C, f, n_C_out, n_C_mid))
    run_check("layer_mults", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- channel bookkeeping

STACK_RECIPE = ("an Inception module (c1, c3_reduce, c3, c5_reduce, c5, pool_proj) keeps n_H × n_W and outputs "
                "c1 + c3 + c5 + pool_proj channels (the reduce layers are inside their branches, and the pool "
                "branch ends with its own 1×1 projection); its parameters are those of its six convolutions, "
                "f·f·C_in·C_out weights + C_out biases each: 1×1 n_C→c1, 1×1 n_C→c3_reduce, 3×3 c3_reduce→c3, "
                "1×1 n_C→c5_reduce, 5×5 c5_reduce→c5, 1×1 n_C→pool_proj. \"maxpool\" (3×3, stride 2, padding 1) keeps "
                "the channels and maps n to (n + 2·1 - 3) // 2 + 1, no parameters.")


def module_params(n_C, cfg, *, bias=True, pool_proj=True, reduce="right", f5=5):
    """Learnable parameters of an Inception module on n_C channels, ``cfg`` = (c1, c3r, c3, c5r,
    c5, pp), with one known mistake switched on (``bias=False``, ``pool_proj=False``,
    ``reduce`` "full_in" (the 3×3 and 5×5 convolutions on all n_C channels) or "none" (the same,
    and no reduce layers), ``f5=3``)."""
    c1, c3r, c3, c5r, c5, pp = cfg
    k = 1 if bias else 0

    def conv(f, c_in, c_out):
        return f * f * c_in * c_out + k * c_out

    narrow = reduce == "right"
    total = conv(1, n_C, c1) + conv(3, c3r if narrow else n_C, c3) + conv(f5, c5r if narrow else n_C, c5)
    if reduce != "none":
        total += conv(1, n_C, c3r) + conv(1, n_C, c5r)
    if pool_proj:
        total += conv(1, n_C, pp)
    return total


def stack_reference(in_shape, layers, *, out="right", pool="right", update_in=True, **params_kw):
    """(shapes, n_params) of a stack, with one known mistake switched on: ``out`` "no_pool"
    (pool branch left out of the channels), "pool_input" (the pool branch passes its n_C input
    channels, no projection), "with_reduce" (the reduce widths added to the channels); ``pool``
    "floor" (n // 2), "none" (the max pool changes nothing); ``update_in=False`` (every module's
    parameters counted on the stack's input channels); ``params_kw`` for :func:`module_params`."""
    n_C, n_H, n_W = in_shape
    c_in0 = n_C
    shapes, total = [], 0
    for layer in layers:
        if isinstance(layer, str):
            if pool == "floor":
                n_H, n_W = n_H // 2, n_W // 2
            elif pool == "right":
                n_H, n_W = (n_H - 1) // 2 + 1, (n_W - 1) // 2 + 1
        else:
            c1, c3r, c3, c5r, c5, pp = layer
            kw = dict(params_kw)
            if out == "pool_input":
                kw["pool_proj"] = False
            total += module_params(n_C if update_in else c_in0, layer, **kw)
            if out == "no_pool":
                n_C = c1 + c3 + c5
            elif out == "pool_input":
                n_C = c1 + c3 + c5 + n_C
            elif out == "with_reduce":
                n_C = c1 + c3r + c3 + c5r + c5 + pp
            else:
                n_C = c1 + c3 + c5 + pp
        shapes.append((n_C, n_H, n_W))
    return shapes, total


_STACK_VARIANTS = [
    ("the pool branch is missing from your channel count: the module concatenates FOUR branches, c1 + c3 + c5 + "
     "pool_proj channels.", dict(out="no_pool")),
    ("your pool branch passes its input channels through (n_C of them) with no 1×1 projection: the max pooling keeps "
     "all n_C channels, so the branch ends with a 1×1 convolution to pool_proj channels (pool_proj·(n_C + 1) "
     "parameters). Without it the channels would pile up from module to module.", dict(out="pool_input")),
    ("your channel count includes the reduce layers: c3_reduce and c5_reduce are inside their branches (the "
     "bottlenecks), only the last layer of each branch reaches the concatenation: c1 + c3 + c5 + pool_proj.",
     dict(out="with_reduce")),
    ("your max pooling rounds down: with padding 1, a 3×3 window and stride 2, n maps to (n + 2 - 3) // 2 + 1, which "
     "is n / 2 rounded UP (7 → 4, not 3).", dict(pool="floor")),
    ("your \"maxpool\" layers leave n_H and n_W unchanged: the max pooling between modules has stride 2, "
     "(n + 2 - 3) // 2 + 1.", dict(pool="none")),
    ("your parameter count uses the stack's input channels for every module: each module's input is the previous "
     "module's output (c1 + c3 + c5 + pool_proj channels).", dict(update_in=False)),
    ("your parameter count leaves out the biases: each convolution has one per output channel.", dict(bias=False)),
    ("your parameter count has no 1×1 projection in the pool branch: pool_proj·n_C weights + pool_proj biases.",
     dict(pool_proj=False)),
    ("your 3×3 and 5×5 convolutions are counted on all n_C input channels: they work on the reduced c3_reduce and "
     "c5_reduce channels (the 1×1 bottlenecks before them).", dict(reduce="full_in")),
    ("your 3×3 and 5×5 convolutions are counted on all n_C input channels, without the 1×1 reduce layers: the module "
     "has six convolutions, the 3×3 and 5×5 ones on the reduced c3_reduce and c5_reduce channels.",
     dict(reduce="none")),
    ("your 5×5 convolution is counted with a 3×3 filter: 25·c5_reduce·c5 weights.", dict(f5=3)),
]


def _stack_case(in_shape, layers, note=""):
    shapes, total = stack_reference(in_shape, layers)

    def variants():
        out = []
        for hint, kw in _STACK_VARIANTS:
            v_shapes, v_total = stack_reference(in_shape, layers, **kw)
            out.append(Variant(hint, {"shapes": v_shapes}))
            out.append(Variant(hint, {"number of parameters": v_total}))
        return out

    def inspect(got):
        s = got.get("shapes")
        if isinstance(s, (list, tuple)) and len(s) == len(layers) + 1:
            return ("shapes has one entry per layer, the shape AFTER it; leave out the input shape.")
        return None

    shown = ", ".join("'maxpool'" if isinstance(layer, str) else str(tuple(layer)) for layer in layers)
    return Case(
        args=[("in_shape", tuple(in_shape)), ("layers", list(layers))], note=note,
        describe=f"in_shape={tuple(in_shape)}, layers=[{shown}]",
        outputs=[Out("shapes", shapes, kind="list", parts=("n_C", "n_H", "n_W")),
                 Out("number of parameters", total, kind="int")],
        variants=variants, inspect=inspect, hint=STACK_RECIPE,
        exception_hint=lambda exc, line: ("a layer is either the string \"maxpool\" or a 6-tuple (c1, c3_reduce, c3, "
                                          "c5_reduce, c5, pool_proj): test isinstance(layer, str) to tell them "
                                          "apart."),
    )


def _random_stack(rng):
    n_C = int(rng.integers(1, 200))
    side = int(rng.integers(3, 40))
    shape = (n_C, side, side if rng.random() < 0.7 else int(rng.integers(3, 40)))
    layers = []
    for _ in range(int(rng.integers(2, 6))):
        if layers and not isinstance(layers[-1], str) and rng.random() < 0.35:
            layers.append("maxpool")
        else:
            c = [int(v) for v in rng.integers(1, 130, size=6)]
            layers.append(tuple(c))
    if not any(isinstance(layer, str) for layer in layers):
        layers.insert(1, "maxpool")
    return shape, layers


# GoogLeNet's modules 3a and 3b, its max pool, and 4a (Szegedy et al. 2014, table 1).
_GOOGLENET_3A_4A = [(64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), "maxpool", (192, 96, 208, 16, 48, 64)]


@forbids(*FORBIDDEN)
def inception_stack(func, hidden=False, seed=0):
    """Check ``inception_stack(in_shape, layers) -> (shapes, n_params)``."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_stack_case((192, 28, 28), [(64, 96, 128, 16, 32, 32)], "one module: the 28×28×192 example"),
                 _stack_case((192, 28, 28), _GOOGLENET_3A_4A, "GoogLeNet's 3a, 3b, max pool, 4a"),
                 _stack_case((3, 7, 5), [(2, 1, 2, 1, 1, 1), "maxpool", (1, 2, 1, 1, 2, 2), "maxpool"],
                             "odd sizes: 7 × 5 → 4 × 3 → 2 × 2")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_stack_case(*_random_stack(rng)) for _ in range(8)]
    run_check("inception_stack", func, cases, hidden=hidden)
