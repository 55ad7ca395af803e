"""Checks for the topic-7 notebook (MobileNet): the NumPy exercises.

The graded functions and their checks:

* ``depthwise_conv2d_forward(x, w, b, stride=1, pad=0) -> (out, cache)``, x (N, C, H, W),
  w (C, 1, f, f), b (C,): every channel convolved with its own filter, no mixing across
  channels (:func:`depthwise_conv2d_forward`);
* ``depthwise_conv2d_backward(dout, cache) -> (dx, dw, db)`` with the cache of the
  student's own forward pass (:func:`depthwise_conv2d_backward`);
* ``separable_costs(n_H, n_W, n_C, f, n_C_out) -> (normal, depthwise, pointwise, ratio)``:
  multiplications of a normal f×f convolution and of the two steps of a depthwise-separable
  one for an output of n_H × n_W positions, and ratio = (depthwise + pointwise) / normal
  (:func:`separable_costs`);
* three augmentations: ``mirror(images, labels, rng, p=0.5) -> (images, labels)`` on a
  batch (N, H, W) or (N, H, W, C), image i mirrored (its W axis reversed) when the i-th
  number of ``rng.random(N)`` is below p (:func:`mirror`);
  ``random_crop(image, rng, size, pad=0)`` for one image (H, W) or (H, W, C): zero-pad
  by ``pad`` on each side of H and W, then an (h, w) window fully inside, every position
  possible (:func:`random_crop`, judged by behaviour over many draws); and
  ``color_shift(image, rng, max_shift)`` for (H, W, C): one shift per channel drawn with
  ``rng.uniform(-max_shift, max_shift, size=C)``, added to every pixel, clipped to [0, 1]
  (:func:`color_shift`).

Expected values are computed here with torch (float64) for the convolutions and with NumPy
for the rest; never with the course's ``cnn_course.ref.mobilenet`` or ``ref.augment``.
A graded function may use NumPy only (:data:`~.core.FORBIDDEN`: the course library, torch,
SciPy's filters). torch is imported only when a check runs.
"""

from __future__ import annotations

import contextlib

import numpy as np

from .core import (
    FORBIDDEN,
    Case,
    CheckFailed,
    Out,
    Variant,
    _exception_lines,
    _type_name,
    compare,
    describe,
    find_forbidden_static,
    float_dtypes,
    forbids,
    run_check,
    watch_forbidden_calls,
)

__all__ = ["depthwise_conv2d_forward", "depthwise_conv2d_backward", "separable_costs", "mirror", "random_crop",
           "color_shift", "reference_depthwise", "costs"]

_HIDDEN = 8

FULL_CONV = ("each output channel of yours mixes ALL input channels (a normal convolution with the same filter "
             "for every input channel): in a depthwise convolution output channel c = input channel c convolved "
             "with filter w[c, 0] alone, plus b[c]; no sum over channels.")
NO_BIAS = "your output misses the bias: add b[c] to every position of output channel c."
FLIPPED = ("your output is a true convolution (the filter flipped): deep-learning 'convolutions' are "
           "cross-correlations, out[.., i, j] = Σ x[.., i·s + p, j·s + q] · w[c, 0, p, q], no flip.")
SAME_FILTER = ("every channel of yours used the filter of channel 0: channel c has its own filter w[c, 0].")
FWD_RECIPE = ("zero-pad H and W by pad, then for every channel c and output position (i, j): out[n, c, i, j] = "
              "Σ_p,q x_pad[n, c, i·stride + p, j·stride + q] · w[c, 0, p, q] + b[c]; H' = (H + 2·pad − f) // "
              "stride + 1. A loop over the f·f filter taps with strided slices of x_pad is fast.")
SHAPE_HINT = "out has shape (N, C, H', W') with H' = (H + 2·pad − f) // stride + 1, W' likewise."

GRAD_FULL = ("your gradients are those of a normal convolution (channels mixed): in a depthwise convolution channel "
             "c of dout only reaches channel c of x and of w.")
GRAD_OVERWRITE = ("where the windows overlap (stride < f), your dx keeps only the last tap's contribution: an input "
                  "value takes part in several output values, and its gradient is the SUM of their contributions; "
                  "accumulate with +=, not =.")
GRAD_NO_UNPAD = "dx has the shape of x: remove the padding (dx_pad[:, :, pad:-pad, pad:-pad] when pad > 0)."
GRAD_DB = "db has one entry per channel: the sum of dout over the batch and the positions (axes 0, 2, 3)."
GRAD_DW = "dw has the shape of w, (C, 1, f, f): one filter per channel, summed over the batch and the positions."
BWD_RECIPE = ("with x_pad the padded input: db[c] = Σ dout[:, c]; dw[c, 0, p, q] = Σ_n,i,j dout[n, c, i, j] · "
              "x_pad[n, c, i·s + p, j·s + q]; dx_pad[n, c, i·s + p, j·s + q] += dout[n, c, i, j] · w[c, 0, p, q] "
              "(the same loop over the taps as the forward pass), then dx = dx_pad without its border.")


def _torch():
    import torch

    return torch


# --------------------------------------------------------------------------- the reference, in torch


def reference_depthwise(x, w, b, stride=1, pad=0, dout=None, *, mode="right"):
    """The depthwise convolution in float64 with torch: ``{"out", "dx", "dw", "db"}`` (the
    gradients when ``dout`` is given). ``mode`` switches a known mistake on: "full" (every
    output channel sums all input channels, with its own filter), "no_bias", "flipped",
    "same_filter" (every channel uses w[0])."""
    torch = _torch()
    F = torch.nn.functional
    c = x.shape[1]
    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    wt = torch.tensor(np.asarray(w, dtype=np.float64), requires_grad=True)
    bt = torch.tensor(np.asarray(b, dtype=np.float64), requires_grad=True)
    if mode == "full":
        out = F.conv2d(xt, wt.expand(c, c, *w.shape[2:]), bt, stride=stride, padding=pad)
    elif mode == "flipped":
        out = F.conv2d(xt, torch.flip(wt, (2, 3)), bt, stride=stride, padding=pad, groups=c)
    elif mode == "same_filter":
        out = F.conv2d(xt, wt[:1].expand(c, 1, *w.shape[2:]), bt, stride=stride, padding=pad, groups=c)
    else:
        out = F.conv2d(xt, wt, None if mode == "no_bias" else bt, stride=stride, padding=pad, groups=c)
    result = {"out": out.detach().numpy().copy()}
    if dout is not None:
        out.backward(torch.tensor(np.asarray(dout, dtype=np.float64)))
        result.update(dx=xt.grad.numpy().copy(), dw=wt.grad.numpy().copy(),
                      db=(bt.grad.numpy().copy() if bt.grad is not None else np.zeros(b.shape)))
    return result


def _out_shape(x, w, stride, pad):
    n, c, h, wd = x.shape
    f = w.shape[2]
    return n, c, (h + 2 * pad - f) // stride + 1, (wd + 2 * pad - f) // stride + 1


def _dx_overwritten(x, w, stride, pad, dout):
    """dx when each filter tap overwrites (=) instead of adding (+=), taps in the order p, then q."""
    n, c, h, wd = x.shape
    f = w.shape[2]
    h_out, w_out = dout.shape[2:]
    dx_pad = np.zeros((n, c, h + 2 * pad, wd + 2 * pad))
    for p in range(f):
        for q in range(f):
            dx_pad[:, :, p:p + stride * h_out:stride, q:q + stride * w_out:stride] = dout * w[:, 0, p, q].reshape(1, c, 1, 1)
    return dx_pad[:, :, pad:pad + h, pad:pad + wd]


def _random_case(rng):
    """(x, w, b, stride, pad) for a hidden case."""
    f = int(rng.choice([1, 3, 3, 5]))
    stride = int(rng.integers(1, 3))
    pad = int(rng.integers(0, f // 2 + 2))
    n, c = int(rng.integers(1, 4)), int(rng.integers(2, 6))
    h = int(rng.integers(max(1, f - 2 * pad), 8))
    wd = int(rng.integers(max(1, f - 2 * pad), 8))
    x = rng.normal(0, 1, (n, c, h, wd))
    w = rng.normal(0, 1, (c, 1, f, f))
    b = rng.normal(0, 1, c)
    return x, w, b, stride, pad


def _visible_cases():
    rng = np.random.default_rng(7071)
    x1 = np.round(rng.normal(0, 1, (2, 3, 5, 5)), 2)
    w1 = np.round(rng.normal(0, 1, (3, 1, 3, 3)), 2)
    b1 = np.array([0.5, -1.0, 2.0])
    x2 = np.round(rng.normal(0, 1, (1, 4, 6, 7)), 2)
    w2 = np.round(rng.normal(0, 1, (4, 1, 3, 3)), 2)
    b2 = np.round(rng.normal(0, 1, 4), 2)
    return [(x1, w1, b1, 1, 0, "3 channels, 3×3 filters, stride 1, no padding"),
            (x1, w1, b1, 1, 1, "the same with padding 1 ('same' size)"),
            (x2, w2, b2, 2, 1, "4 channels, stride 2, padding 1, a non-square image")]


def _forward_case(x, w, b, stride, pad, dtype=np.float64, note=""):
    x, w, b = (np.asarray(a, dtype=dtype) for a in (x, w, b))
    ref = reference_depthwise(x, w, b, stride, pad)

    def variants():
        return [Variant(hint, {"out": reference_depthwise(x, w, b, stride, pad, mode=m)["out"]})
                for hint, m in ((FULL_CONV, "full"), (NO_BIAS, "no_bias"), (FLIPPED, "flipped"),
                                (SAME_FILTER, "same_filter"))]

    return Case(args=[("x", x), ("w", w), ("b", b), ("stride", stride), ("pad", pad)], dtype=dtype, note=note,
                describe=describe(dtype, x=x, w=w, stride=stride, pad=pad),
                outputs=[Out("out", ref["out"], shape_hint=SHAPE_HINT)], returns=("out", "cache"),
                variants=variants, hint=FWD_RECIPE)


@forbids(*FORBIDDEN)
def depthwise_conv2d_forward(func, hidden=False, seed=0):
    """Check ``depthwise_conv2d_forward(x, w, b, stride=1, pad=0) -> (out, cache)`` against
    torch's grouped convolution (``groups=C``) in float64."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_forward_case(x, w, b, s, p, note=note) for x, w, b, s, p, note in _visible_cases()]
    else:
        rng = np.random.default_rng(seed)
        cases = [_forward_case(*_random_case(rng), dtype=dt) for dt in float_dtypes(rng, _HIDDEN)]
    run_check("depthwise_conv2d_forward", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- backward


def _fix_forward_first(lines):
    return CheckFailed("\n  ".join(
        ["the cache comes from your depthwise_conv2d_forward, which does not work yet:"]
        + [f"  {line}" for line in lines]
        + ["Hint: fix depthwise_conv2d_forward first (its own check explains what is wrong); this check can only "
           "judge the backward pass once the forward pass is right."]))


def _backward_case(forward, x, w, b, stride, pad, dout, note=""):
    ref = reference_depthwise(x, w, b, stride, pad, dout)

    def prepare(watch):
        watcher = watch_forbidden_calls(FORBIDDEN) if watch else None
        try:
            with watcher if watcher is not None else contextlib.nullcontext():
                result = forward(x.copy(), w.copy(), b.copy(), stride, pad)
        except Exception as exc:
            raise _fix_forward_first(_exception_lines("depthwise_conv2d_forward", exc,
                                                      Case(args=[], outputs=[], describe=""), forward)) from None
        if watcher is not None and watcher.found:
            raise _fix_forward_first([f"depthwise_conv2d_forward calls {watcher.found}, which is not your own work."])
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            got = (f"a {type(result).__name__} of length {len(result)}" if isinstance(result, (tuple, list))
                   else _type_name(result))
            raise _fix_forward_first([f"depthwise_conv2d_forward must return a tuple (out, cache), got {got}."])
        lines = compare(Out("out", ref["out"]), result[0], np.float64)
        if lines:
            raise _fix_forward_first([f"depthwise_conv2d_forward's {line}" if k == 0 else line
                                      for k, line in enumerate(lines)])
        return {"cache": result[1]}

    def variants():
        full = reference_depthwise(x, w, b, stride, pad, dout, mode="full")
        return [Variant(GRAD_FULL, {"dx": full["dx"]}), Variant(GRAD_FULL, {"dw": full["dw"]}),
                Variant(GRAD_OVERWRITE, {"dx": _dx_overwritten(x, w, stride, pad, dout)})]

    return Case(
        args=[("dout", dout), ("cache", None)], dtype=np.float64, note=note,
        describe=describe(x=x, w=w, stride=stride, pad=pad, dout=dout),
        outputs=[Out("dx", ref["dx"], shape_hint=GRAD_NO_UNPAD), Out("dw", ref["dw"], shape_hint=GRAD_DW),
                 Out("db", ref["db"], shape_hint=GRAD_DB)],
        inplace_ok=frozenset({"cache"}), prepare=prepare, variants=variants, hint=BWD_RECIPE,
        inplace_hint="dout must come back unchanged: build new arrays for the gradients.",
        exception_hint=lambda exc, line: ("cache is exactly the second value your depthwise_conv2d_forward returned: "
                                          "unpack it the way you packed it."),
    )


@forbids(*FORBIDDEN)
def depthwise_conv2d_backward(func, forward_func, hidden=False, seed=0):
    """Check ``depthwise_conv2d_backward(dout, cache) -> (dx, dw, db)``, with the cache of the
    student's own ``forward_func``, against torch's autograd (float64)."""
    __tracebackhide__ = True
    for name, f in (("depthwise_conv2d_backward", func), ("depthwise_conv2d_forward", forward_func)):
        if not callable(f):
            got = "None" if f is None else _type_name(f)
            raise CheckFailed(f"depthwise_conv2d_backward's check needs your function {name}, got {got}. "
                              "Run the cell that defines it first.")
    found = find_forbidden_static(forward_func, FORBIDDEN)
    if found:
        raise CheckFailed(f"depthwise_conv2d_backward cannot be checked: your depthwise_conv2d_forward, whose cache "
                          f"it needs, calls {found}, which is not your own work.\n  Hint: fix depthwise_conv2d_forward "
                          "first.")
    if not hidden:
        rng = np.random.default_rng(7072)
        cases = []
        for x, w, b, s, p, note in _visible_cases():
            dout = np.round(rng.normal(0, 1, _out_shape(x, w, s, p)), 2)
            cases.append(_backward_case(forward_func, x, w, b, s, p, dout, note))
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for _ in range(_HIDDEN - 2):
            x, w, b, s, p = _random_case(rng)
            cases.append(_backward_case(forward_func, x, w, b, s, p, rng.normal(0, 1, _out_shape(x, w, s, p))))
    run_check("depthwise_conv2d_backward", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- costs


def costs(n_H, n_W, n_C, f, n_C_out, *, mistake=None):
    """(normal, depthwise, pointwise, ratio) multiplications for an output of n_H × n_W
    positions; ``mistake`` switches a known one on (for the diagnoses)."""
    positions = n_H * n_W
    normal = f * f * n_C * positions * n_C_out
    depthwise = f * f * positions * n_C
    pointwise = n_C * positions * n_C_out
    if mistake == "depthwise_mixing":
        depthwise = f * f * n_C * positions * n_C
    elif mistake == "depthwise_no_area":
        depthwise = positions * n_C
    elif mistake == "depthwise_f":
        depthwise = f * positions * n_C
        normal = f * n_C * positions * n_C_out
    elif mistake == "normal_no_channels":
        normal = f * f * positions * n_C_out
    elif mistake == "normal_no_filters":
        normal = f * f * n_C * positions
    elif mistake == "pointwise_no_filters":
        pointwise = n_C * positions
    separable = depthwise + pointwise
    if mistake == "ratio_inverted":
        ratio = normal / separable
    elif mistake == "ratio_over_pointwise":
        ratio = separable / pointwise
    elif mistake == "ratio_no_pointwise":
        ratio = depthwise / normal
    else:
        ratio = separable / normal
    return normal, depthwise, pointwise, ratio


_COST_MISTAKES = {
    "depthwise_mixing": "your depthwise cost counts f·f·n_C multiplications per output value, as if each filter "
                        "covered every channel: a depthwise filter is f×f on ONE channel, f·f multiplications per "
                        "output value, n_H·n_W·n_C output values.",
    "depthwise_no_area": "your depthwise cost leaves out the filter area: each output value of the depthwise step "
                         "takes f·f multiplications.",
    "depthwise_f": "you multiplied by f, not by the filter area f·f = f².",
    "normal_no_channels": "your normal cost leaves out n_C: a normal filter is f×f×n_C, f·f·n_C multiplications per "
                          "output value.",
    "normal_no_filters": "your normal cost leaves out the number of filters n_C': the output has n_H·n_W·n_C' "
                         "values.",
    "pointwise_no_filters": "your pointwise cost leaves out the number of filters n_C': the 1×1 step computes "
                            "n_H·n_W·n_C' values, n_C multiplications each.",
    "ratio_inverted": "your ratio is normal / separable: the ratio asked for is separable / normal "
                      "(the fraction of the normal cost that the separable convolution needs, below 1).",
    "ratio_over_pointwise": "your ratio divides the separable cost by the pointwise cost (672 / 240 = 2.8 in the "
                            "6×6×3 example): divide by the normal convolution's cost (672 / 2160 ≈ 0.31).",
    "ratio_no_pointwise": "your ratio counts the depthwise step only: the separable cost is depthwise + pointwise.",
}
COST_RECIPE = ("for an output of n_H × n_W positions: normal = (f·f·n_C)·(n_H·n_W)·n_C'; depthwise = (f·f)·(n_H·n_W)"
               "·n_C; pointwise = n_C·(n_H·n_W)·n_C'; ratio = (depthwise + pointwise) / normal = 1/n_C' + 1/f².")


def _cost_case(n_H, n_W, n_C, f, n_C_out, note=""):
    normal, depthwise, pointwise, ratio = costs(n_H, n_W, n_C, f, n_C_out)

    def variants():
        out = []
        for mistake, hint in _COST_MISTAKES.items():
            v = costs(n_H, n_W, n_C, f, n_C_out, mistake=mistake)
            out.append(Variant(hint, dict(zip(("normal", "depthwise", "pointwise", "ratio"), v))))
        return out

    return Case(args=[("n_H", n_H), ("n_W", n_W), ("n_C", n_C), ("f", f), ("n_C_out", n_C_out)],
                outputs=[Out("normal", normal, kind="int"), Out("depthwise", depthwise, kind="int"),
                         Out("pointwise", pointwise, kind="int"), Out("ratio", ratio, kind="scalar")],
                describe=f"n_H={n_H}, n_W={n_W}, n_C={n_C}, f={f}, n_C_out={n_C_out}", note=note,
                variants=variants, hint=COST_RECIPE, tol=(1e-9, 1e-12))


@forbids(*FORBIDDEN)
def separable_costs(func, hidden=False, seed=0):
    """Check ``separable_costs(n_H, n_W, n_C, f, n_C_out) -> (normal, depthwise, pointwise, ratio)``."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_cost_case(4, 4, 3, 3, 5, "6×6×3 → 4×4×5 with 3×3 filters"),
                 _cost_case(14, 14, 512, 3, 512, "a layer of MobileNet v1: 14×14×512 → 14×14×512"),
                 _cost_case(7, 5, 8, 5, 16, "5×5 filters, a non-square output")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_cost_case(int(rng.integers(1, 60)), int(rng.integers(1, 60)), int(rng.integers(1, 600)),
                            int(rng.choice([1, 3, 5, 7])), int(rng.integers(1, 1100))) for _ in range(_HIDDEN)]
    run_check("separable_costs", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- mirror

MIRROR_VERTICAL = ("your images are upside down: you reversed the H axis (axis 1 of the batch). Mirroring reverses "
                   "the W axis, axis 2 of (N, H, W) and of (N, H, W, C): left and right swap, the top stays on top.")
MIRROR_CHANNELS = ("you reversed the LAST axis: for a grey batch (N, H, W) that is W, but for a colour batch (N, H, W, "
                   "C) it is the channels (RGB → BGR). W is axis 2 in both layouts.")
MIRROR_BATCH = ("you reversed the batch axis (axis 0) of the chosen images: they swapped places, each next to the "
                "label of another image, and none is mirrored. The labels must stay with their images: only the W "
                "axis (axis 2) of each chosen image is reversed.")
MIRROR_ALL_AXES = "you reversed every axis (np.flip without an axis): only W, axis 2, is reversed."
MIRROR_EVERY = ("you mirrored every image: image i is mirrored only when the i-th number of rng.random(N) is below p "
                "(with p = 0.5, about half of them).")
MIRROR_INVERTED = "you mirrored the images whose number is ≥ p: mirror image i when rng.random(N)[i] < p."
MIRROR_RECIPE = ("draw u = rng.random(N) (one number per image, in order), and for every i with u[i] < p reverse the W "
                 "axis of image i (axis 2 of the batch, axis 1 of the image); return a new array and the labels "
                 "unchanged, in the same order.")


def _mirror_expected(images, labels, seed, p, *, axis=2, rule="below"):
    u = np.random.default_rng(seed).random(len(images))
    pick = {"below": u < p, "all": np.ones(len(images), bool), "above": u >= p}[rule]
    out = images.copy()
    if axis == "batch":  # the chosen images reversed in order, not mirrored
        out[pick] = images[pick][::-1]
        return out, labels.copy()
    for i in np.nonzero(pick)[0]:
        out[i] = np.flip(images[i], axis=None if axis == "all" else axis - 1)
    return out, labels.copy()


def _mirror_case(images, labels, seed, p, note=""):
    expected, exp_labels = _mirror_expected(images, labels, seed, p)
    colour = images.ndim == 4

    def variants():
        found = [(MIRROR_VERTICAL, dict(axis=1)), (MIRROR_ALL_AXES, dict(axis="all")),
                 (MIRROR_BATCH, dict(axis="batch")), (MIRROR_EVERY, dict(rule="all")),
                 (MIRROR_INVERTED, dict(rule="above"))]
        if colour:
            found.insert(1, (MIRROR_CHANNELS, dict(axis=3)))
        return [Variant(hint, {"images": _mirror_expected(images, labels, seed, p, **kw)[0]}) for hint, kw in found]

    def call(func, values):
        return func(values[0], values[1], np.random.default_rng(seed), p)

    def inspect(got):
        lab = got.get("labels")
        if isinstance(lab, np.ndarray) and lab.shape == labels.shape and not np.array_equal(lab, labels):
            return ("the labels changed: mirroring keeps what a picture shows, so every image keeps its label, in "
                    "the same order (return labels as they are, or a copy).")
        return None

    layout = "(N, H, W, C)" if colour else "(N, H, W)"
    return Case(args=[("images", images), ("labels", labels)], dtype=images.dtype, note=note,
                describe=f"images.shape={images.shape} {layout}, labels.shape={labels.shape}, "
                         f"rng=np.random.default_rng({seed}), p={p}",
                outputs=[Out("images", expected, shape_hint="mirroring keeps the shape of the batch."),
                         Out("labels", exp_labels, kind="ints")],
                returns=("images", "labels"), call=call, variants=variants, inspect=inspect, hint=MIRROR_RECIPE)


def _random_batch(rng, n, h, w, c=None, classes=10):
    shape = (n, h, w) if c is None else (n, h, w, c)
    return rng.random(shape), rng.integers(0, classes, n)


@forbids(*FORBIDDEN)
def mirror(func, hidden=False, seed=0):
    """Check ``mirror(images, labels, rng, p=0.5) -> (images, labels)``: image i mirrored (W
    axis reversed) when ``rng.random(N)[i] < p``; labels unchanged; the inputs untouched."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed + 7073)
    if not hidden:
        cases = [_mirror_case(*_random_batch(rng, 6, 3, 4), 1, 0.5, "a grey batch (N, H, W)"),
                 _mirror_case(*_random_batch(rng, 6, 4, 5, 3), 2, 0.5, "a colour batch (N, H, W, C)"),
                 _mirror_case(*_random_batch(rng, 4, 3, 3, 3), 3, 1.0, "p = 1: every image is mirrored")]
    else:
        cases = []
        for k in range(_HIDDEN - 2):
            n, h, w = int(rng.integers(2, 9)), int(rng.integers(2, 7)), int(rng.integers(2, 7))
            c = None if k % 2 == 0 else int(rng.choice([1, 3, 4]))
            p = float(rng.choice([0.5, 0.5, 0.3, 0.8, 0.0]))
            cases.append(_mirror_case(*_random_batch(rng, n, h, w, c), int(rng.integers(0, 10_000)), p))
    run_check("mirror", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- random crop

COVERAGE_DRAWS = 60  # the case that checks every position is reached (6 positions: all reached but 1 in 9,000)
CROP_DRAWS = 8  # the other cases: shape and window only (each draw is a call into the student's kernel)
CORNERS = f"top-left corners reached in {COVERAGE_DRAWS} draws"


def _windows(padded, h, w):
    """{(top, left): window} of every (h, w) window of ``padded``."""
    H, W = padded.shape[:2]
    return {(i, j): padded[i:i + h, j:j + w] for i in range(H - h + 1) for j in range(W - w + 1)}


def _pad(image, pad):
    widths = [(pad, pad), (pad, pad)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, widths)


def _crop_exception_hint(exc, line):
    if "high <= 0" in str(exc) or "low >= high" in str(exc):
        return ("rng.integers got an empty range: size = (h, w) has h along H (axis 0) and w along W (axis 1), and "
                "the crop has shape (h, w) (+ the channels): top goes from 0 to H + 2·pad − h, left from 0 to "
                "W + 2·pad − w.")
    return None


def _crop_case(image, size, pad, seed, note="", coverage=False):
    h, w = size
    draws = COVERAGE_DRAWS if coverage else CROP_DRAWS
    padded = _pad(image, pad)
    wins = _windows(padded, h, w)
    all_corners = sorted(wins)
    shape = (h, w) + image.shape[2:]

    def locate(crop):
        for pos, win in wins.items():
            if np.array_equal(crop, win):
                return pos
        return None

    def call(func, values):
        bad, corners = 0, set()
        for k in range(draws):
            crop = func(values[0], np.random.default_rng(seed + k), values[1], values[2])
            if not isinstance(crop, np.ndarray) or crop.shape != shape:
                return (crop, 0, sorted(corners))[:n_outs]  # the first crop of the wrong type or shape fails
            pos = locate(crop)
            if pos is None:
                bad += 1
            else:
                corners.add(pos)
        # "a crop" is judged by its type and shape only: its values are judged through the positions
        return (np.zeros(shape, dtype=image.dtype), bad, sorted(corners))[:n_outs]

    def inspect(got):
        first = got.get("a crop")
        if not isinstance(first, np.ndarray) or first.shape != shape:
            return None  # the shape hint says more
        if got.get("crops that are not a window of the zero-padded image"):
            return ("a crop is not a window of the image zero-padded by pad on each side of H and W (not the "
                    "channels). Pad with zeros (np.pad's default mode, 'constant'; 'edge' or 'reflect' copy the border "
                    "pixels instead), then take image_pad[top:top + h, left:left + w] with 0 ≤ top ≤ H + 2·pad − h "
                    "and 0 ≤ left ≤ W + 2·pad − w.")
        corners = got.get(CORNERS)
        if isinstance(corners, list) and corners:
            tops = {c[0] for c in corners}
            lefts = {c[1] for c in corners}
            t_max, l_max = max(p[0] for p in all_corners), max(p[1] for p in all_corners)
            if len(corners) == 1:
                return ("every draw gave the same window: the position must be random, drawn with rng (a fresh "
                        "rng.integers call for top and for left).")
            if t_max not in tops or l_max not in lefts:
                return ("the last positions are never drawn: rng.integers(low, high) never returns high, so the "
                        "top is drawn with rng.integers(0, H + 2·pad − h + 1) (and the left likewise).")
            if 0 not in tops or 0 not in lefts:
                return "the first positions (top = 0 or left = 0) are never drawn: positions start at 0."
        return None

    outputs = [Out("a crop", np.zeros(shape, dtype=image.dtype),
                   shape_hint=f"a crop of size (h, w) = {size} has shape {shape}: the window must lie fully inside "
                              "the padded image (NumPy silently shortens a slice that runs past the border)."),
               Out("crops that are not a window of the zero-padded image", 0, kind="int")]
    if coverage:
        outputs.append(Out(CORNERS, all_corners, kind="list"))
    n_outs = len(outputs)
    return Case(args=[("image", image), ("size", size), ("pad", pad)], dtype=image.dtype, note=note,
                describe=f"image.shape={image.shape}, size={size}, pad={pad}, {draws} draws with "
                         f"rng=np.random.default_rng({seed} + k)",
                outputs=outputs, returns=tuple(o.name for o in outputs),
                call=call, inspect=inspect, exception_hint=_crop_exception_hint,
                hint="every position of the window inside the padded image must be possible, each with the same "
                     "chance: top from 0 to H + 2·pad − h, left from 0 to W + 2·pad − w.")


@forbids(*FORBIDDEN)
def random_crop(func, hidden=False, seed=0):
    """Check ``random_crop(image, rng, size, pad=0)`` by behaviour over many draws: every crop
    has shape ``size`` (+ the channels) and is a window of the zero-padded image; on a small
    case with 3 × 2 possible positions, 60 draws must reach all six; the image is untouched."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed + 7074)

    def image(shape):  # distinct values above 0: a window is found exactly, and zeros come from the padding only
        return rng.uniform(0.05, 1.0, shape)

    if not hidden:
        cases = [_crop_case(image((4, 4)), (2, 3), 0, 10, "a grey image, no padding: 3 × 2 possible positions",
                            coverage=True),
                 _crop_case(image((4, 4, 3)), (4, 4), 1, 20, "a colour image padded by 1, crops of its own size"),
                 _crop_case(image((5, 3, 3)), (3, 2), 1, 30, "a non-square crop (h, w) = (3, 2)")]
    else:
        H, W, pad = int(rng.integers(3, 6)), int(rng.integers(2, 5)), int(rng.integers(0, 2))
        shape = (H, W) if rng.random() < 0.5 else (H, W, 3)
        cases = [_crop_case(image(shape), (H + 2 * pad - 2, W + 2 * pad - 1), pad, int(rng.integers(0, 10_000)),
                            coverage=True)]  # 3 × 2 positions
        for k in range(3):
            H, W = int(rng.integers(2, 7)), int(rng.integers(2, 7))
            pad = int(rng.integers(0, 3))
            h, w = int(rng.integers(1, H + 2 * pad + 1)), int(rng.integers(1, W + 2 * pad + 1))
            shape = (H, W) if k % 2 == 0 else (H, W, 3)
            cases.append(_crop_case(image(shape), (h, w), pad, int(rng.integers(0, 10_000))))
    run_check("random_crop", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- colour shift

SHIFT_RECIPE = ("draw the C shifts at once, shifts = rng.uniform(-max_shift, max_shift, size=C), add shifts[c] to "
                "every pixel of channel c (broadcasting over H and W: image + shifts for (H, W, C)), then clip to "
                "[0, 1] (np.clip).")


def _shift_expected(image, seed, max_shift, *, mode="right"):
    rng = np.random.default_rng(seed)
    c = image.shape[-1]
    if mode == "per_pixel":
        return np.clip(image + rng.uniform(-max_shift, max_shift, size=image.shape), 0, 1)
    if mode == "per_row":
        return np.clip(image + rng.uniform(-max_shift, max_shift, size=(image.shape[0], 1, 1)), 0, 1)
    s = rng.uniform(-max_shift, max_shift, size=c)
    if mode == "same":
        s = np.full(c, s[0])
    out = image + s
    if mode == "no_clip":
        return out
    if mode == "clip_255":
        return np.clip(out, 0, 255)
    return np.clip(out, 0.0, 1.0)


def _shift_case(image, seed, max_shift, note=""):
    expected = _shift_expected(image, seed, max_shift)

    def variants():
        found = [("your result is not clipped: after the shift some values leave [0, 1]; np.clip(..., 0, 1) them.",
                  "no_clip"),
                 ("you clipped to [0, 255]: these images are floats in [0, 1], so clip to [0, 1].", "clip_255"),
                 ("every channel got the same shift (a brightness change): each channel gets its own shift, "
                  "rng.uniform(-max_shift, max_shift, size=C).", "same"),
                 ("your shift differs from pixel to pixel (noise): a colour shift adds ONE number per channel to "
                  "every pixel of that channel, like a change of the light's colour.", "per_pixel"),
                 ("your shift changes from row to row (along H): a colour shift adds ONE number per channel, the last "
                  "axis of (H, W, C), to every pixel.", "per_row")]
        return [Variant(hint, {"shifted": _shift_expected(image, seed, max_shift, mode=m)}) for hint, m in found]

    def call(func, values):
        return func(values[0], np.random.default_rng(seed), values[1])

    return Case(args=[("image", image), ("max_shift", max_shift)], dtype=image.dtype, note=note,
                describe=f"image.shape={image.shape}, max_shift={max_shift}, rng=np.random.default_rng({seed})",
                outputs=[Out("shifted", expected, shape_hint="a colour shift keeps the shape (H, W, C).")],
                call=call, variants=variants, hint=SHIFT_RECIPE)


@forbids(*FORBIDDEN)
def color_shift(func, hidden=False, seed=0):
    """Check ``color_shift(image, rng, max_shift)`` for (H, W, C) images in [0, 1]: the shifts
    ``rng.uniform(-max_shift, max_shift, size=C)`` added per channel, then clipped to [0, 1]."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed + 7075)
    if not hidden:
        cases = [_shift_case(rng.uniform(0.2, 0.8, (3, 4, 3)), 1, 0.1, "an RGB image, small shifts: nothing clipped"),
                 _shift_case(rng.random((4, 4, 3)), 2, 0.3, "values near 0 and 1: the result must be clipped"),
                 _shift_case(rng.random((2, 5, 4)), 3, 0.2, "4 channels")]
    else:
        cases = [_shift_case(rng.random((int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.choice([1, 3, 4])))),
                             int(rng.integers(0, 10_000)), float(rng.choice([0.05, 0.1, 0.2, 0.5])))
                 for _ in range(_HIDDEN - 2)]
    run_check("color_shift", func, cases, hidden=hidden)
