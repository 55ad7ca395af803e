"""Checks of the PyTorch exercises of the topic-10 notebook: ``crop_or_pad`` and ``UpBlock``.

* ``crop_or_pad(skip, like) -> tensor``: ``skip`` (m, C, H, W) centre-cropped or zero-padded on
  its last two axes to ``like``'s (H', W'), each axis on its own; an odd difference puts the
  extra row at the bottom / column at the right (crop and pad alike).
* ``UpBlock(in_channels, out_channels)`` with ``forward(x, skip)``: a 2×2 transposed
  convolution with stride 2 (in → out, bias), ``torch.cat([crop_or_pad(skip, up), up], dim=1)``,
  then two 3×3 convolutions with padding 1 (2·out → out → out, biases), each followed by a ReLU.

Judged by behaviour through the probes (:mod:`.probes`): outputs for tensors made on the
student's side, the block's parameter shapes in creation order, then its output with fixed
weights against a reference built here from torch's functional layers. Known mistakes (corner
crop, extra row at the top, the concatenation in the other order or on another axis, a ReLU
missing) are the reference with one thing changed, or recognised from the error torch raises.
"""

from __future__ import annotations

import numpy as np

from .core import TORCH_FORBIDDEN, Case, CheckFailed, Out, Variant, forbids, run_check
from .probes import kernel
from .pytorch import build, check_parameters, own_work, random_weights

__all__ = ["crop_or_pad", "up_block", "crop_or_pad_reference", "up_block_reference", "block_shapes",
           "UNET_FORBIDDEN"]

#: the course's ready-made U-Net pieces (cnn_course.pt.unet) are not own work; nor is torchvision.
UNET_FORBIDDEN = (*TORCH_FORBIDDEN, "torchvision")

_HIDDEN = 8

CROP_RECIPE = ("for each of the axes 2 and 3: d = have - want; if d > 0 keep skip.narrow(axis, d // 2, want) (d // 2 "
               "dropped at the start, the rest at the end); if d < 0 pad with zeros, (-d) // 2 before and the rest "
               "after (F.pad lists the LAST axis first: [left, right, top, bottom]).")
CORNER = ("your crop keeps the top-left corner: crop around the CENTRE, dropping d // 2 rows at the top and the rest "
          "at the bottom (the same for columns), so that the skip lines up with the up-sampled map.")
PAD_CORNER = ("your padding is all at the end (bottom/right): split it, (want - have) // 2 before and the rest after, "
              "so that the skip stays centred.")
EXTRA_START = ("with an odd difference your extra row/column is at the top/left: put it at the end (bottom/right), "
               "i.e. drop or add d // 2 at the start and d - d // 2 at the end.")
AXES_SWAPPED = ("your F.pad amounts go to the wrong axes: F.pad's list starts with the LAST axis, [left, right, top, "
                "bottom] for (m, C, H, W).")


def crop_or_pad_reference(skip, want, *, crop="centre", pad="centre"):
    """``skip`` (m, C, H, W) NumPy, cropped / padded to ``want`` = (H', W'), with known mistakes:
    ``crop`` / ``pad`` "corner" (everything dropped / added at the end: the top-left corner kept),
    "start" (the odd extra at the start instead of the end)."""
    out = np.asarray(skip)
    for axis, target in zip((2, 3), want):
        have = out.shape[axis]
        d = abs(have - target)
        how = crop if have > target else pad
        first = {"centre": d // 2, "corner": 0, "start": d - d // 2}[how]
        if have > target:
            out = np.take(out, range(first, first + target), axis=axis)
        elif have < target:
            widths = [(0, 0)] * 4
            widths[axis] = (first, d - first)
            out = np.pad(out, widths)
    return out


def _crop_case(skip, like_shape, note=""):
    want = like_shape[2:]
    expected = crop_or_pad_reference(skip, want)

    def variants():
        found = [(CORNER, dict(crop="corner")), (PAD_CORNER, dict(pad="corner")),
                 (CORNER + " " + PAD_CORNER, dict(crop="corner", pad="corner")),
                 (EXTRA_START, dict(crop="start", pad="start")), (EXTRA_START, dict(crop="start")),
                 (EXTRA_START, dict(pad="start"))]
        return [Variant(hint, {"out": crop_or_pad_reference(skip, want, **kw)}) for hint, kw in found]

    def inspect(got):
        out = got.get("out")
        if isinstance(out, np.ndarray) and out.ndim == 4 and out.shape[2:] == tuple(want)[::-1] != tuple(want):
            return AXES_SWAPPED
        return None

    def call(func, _values):
        k = kernel(func)
        like = np.zeros(like_shape, dtype=np.float32)
        result, kind = k.call(func, k.tensor(skip), k.tensor(like))
        if kind != "Tensor":
            raise CheckFailed(f"crop_or_pad returned a {kind}, expected a torch.Tensor (m, C, H', W').")
        return result

    return Case(args=[("skip", skip), ("like", np.zeros(like_shape, np.float32))], dtype=np.float32, note=note,
                describe=f"skip.shape={skip.shape}, like.shape={tuple(like_shape)}",
                outputs=[Out("out", expected, shape_hint=f"the result has skip's (m, C) and like's (H', W'): "
                                                         f"{expected.shape}.")],
                call=call, variants=variants, inspect=inspect, hint=CROP_RECIPE)


@forbids(*UNET_FORBIDDEN)
def crop_or_pad(func, hidden=False, seed=0):
    """Check ``crop_or_pad(skip, like)`` on float32 tensors: crops, pads, mixed, odd differences."""
    __tracebackhide__ = True
    own_work("crop_or_pad", func, UNET_FORBIDDEN)
    rng = np.random.default_rng(seed if hidden else 10051)
    if not hidden:
        specs = [((1, 1, 6, 6), (1, 1, 4, 4), "crop 6×6 → 4×4: one row and column from each side"),
                 ((1, 2, 4, 5), (1, 3, 4, 5), "equal sizes: unchanged"),
                 ((2, 1, 7, 4), (2, 1, 4, 6), "crop 7 → 4 rows (1 at the top, 2 at the bottom), pad 4 → 6 columns"),
                 ((1, 1, 3, 3), (1, 1, 4, 4), "pad 3 → 4: the extra row at the bottom, column at the right")]
    else:
        specs = []
        for _ in range(_HIDDEN):
            m, c = int(rng.integers(1, 3)), int(rng.integers(1, 3))
            h, w, h2, w2 = (int(v) for v in rng.integers(2, 9, size=4))
            specs.append(((m, c, h, w), (m, int(rng.integers(1, 4)), h2, w2), ""))
    cases = []
    for skip_shape, like_shape, note in specs:
        skip = (rng.integers(1, 10, size=skip_shape)).astype(np.float32)  # no zeros: padding shows
        cases.append(_crop_case(skip, like_shape, note))
    run_check("crop_or_pad", func, cases, hidden=hidden, forbidden=UNET_FORBIDDEN)


# --------------------------------------------------------------------------- UpBlock

LAYERS = ("three layers, created in this order: nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2); "
          "nn.Conv2d(2 * out_channels, out_channels, 3, padding=1); nn.Conv2d(out_channels, out_channels, 3, "
          "padding=1); forward: up = transposed conv of x; torch.cat([crop_or_pad(skip, up), up], dim=1); conv, "
          "ReLU, conv, ReLU.")
CAT_ORDER = ("your concatenation has the two maps in the other order: put the skip FIRST, torch.cat([skip, up], "
             "dim=1), so that the first out_channels input channels of the next convolution read the skip.")
NO_RELU_1 = "the first 3×3 convolution has no ReLU after it: conv → ReLU → conv → ReLU."
NO_RELU_2 = "the block's output has no ReLU: the second 3×3 convolution is followed by a ReLU too."
NO_SKIP = ("your output does not depend on the skip: concatenate it (after crop_or_pad) with the up-sampled map on the "
           "channel axis.")
WRONG_AXIS = ("the first 3×3 convolution did not get 2·out_channels channels: the skip and the up-sampled map must "
              "be concatenated on dim=1, the CHANNEL axis (dim=0 stacks examples, dims 2 and 3 enlarge the image).")
NOT_FITTED = ("the skip and the up-sampled map have different heights or widths: make the skip fit first with your "
              "crop_or_pad(skip, up), then concatenate.")


def block_shapes(c_in, c_out):
    return [("up: transposed conv 2×2 weight", (c_in, c_out, 2, 2)), ("up: bias", (c_out,)),
            ("conv 1 (3×3) weight", (c_out, 2 * c_out, 3, 3)), ("conv 1 bias", (c_out,)),
            ("conv 2 (3×3) weight", (c_out, c_out, 3, 3)), ("conv 2 bias", (c_out,))]


def up_block_reference(weights, x, skip, *, order="skip_up", relu1=True, relu2=True):
    """The block's output (NumPy float32) with torch's functional layers; one known mistake:
    ``order`` "up_skip", ``relu1`` / ``relu2`` False."""
    import torch
    import torch.nn.functional as F

    w = [torch.as_tensor(a) for a in weights]
    with torch.no_grad():
        up = F.conv_transpose2d(torch.as_tensor(x), w[0], w[1], stride=2)
        s = torch.as_tensor(crop_or_pad_reference(skip, tuple(up.shape[2:])))
        h = torch.cat([s, up] if order == "skip_up" else [up, s], dim=1)
        h = F.conv2d(h, w[2], w[3], padding=1)
        h = F.relu(h) if relu1 else h
        h = F.conv2d(h, w[4], w[5], padding=1)
        return (F.relu(h) if relu2 else h).numpy()


def _exception_hint(exc, line):
    text = str(exc)
    if "channels" in text and ("expected input" in text or "to have" in text):
        return WRONG_AXIS
    if "Sizes of tensors must match" in text:
        return NOT_FITTED if "except in dimension 1." in text else WRONG_AXIS
    return None


def _block_case(args, weights, x, skip, note=""):
    expected = up_block_reference(weights, x, skip)
    m, _, h, w = x.shape

    def variants():
        found = [(CAT_ORDER, dict(order="up_skip")), (NO_RELU_1, dict(relu1=False)), (NO_RELU_2, dict(relu2=False))]
        out = [Variant(hint, {"out": up_block_reference(weights, x, skip, **kw)}) for hint, kw in found]
        out.append(Variant(NO_SKIP, {"out": up_block_reference(weights, x, np.zeros_like(skip))}))
        return out

    def call(cls, _values):
        k = kernel(cls)
        model = build("UpBlock", cls, args)
        k.set_parameters(model, weights)
        result, kind = k.call(model, k.tensor(x), k.tensor(skip))
        return result

    def inspect(got):
        out = got.get("out")
        if isinstance(out, np.ndarray) and out.shape != expected.shape and out.ndim == 4:
            if out.shape[2:] == (h, w):
                return ("your output has the input's size: the 2×2 transposed convolution with stride 2 must double "
                        "it, (n - 1)·2 + 2 = 2n.")
        return None

    return Case(args=[("x", x), ("skip", skip)], dtype=np.float32, note=note,
                describe=f"UpBlock{args} with fixed weights, x.shape={x.shape}, skip.shape={skip.shape}",
                outputs=[Out("out", expected, shape_hint=f"the output is (m, out_channels, 2·n_H, 2·n_W) = "
                                                         f"{expected.shape}.")],
                call=call, variants=variants, inspect=inspect, hint=LAYERS, exception_hint=_exception_hint)


@forbids(*UNET_FORBIDDEN)
def up_block(UpBlock, hidden=False, seed=0):
    """Check ``UpBlock(in_channels, out_channels)``: its 6 parameter tensors in creation order,
    then ``forward(x, skip)`` with fixed weights against torch's functional layers."""
    __tracebackhide__ = True
    own_work("UpBlock", UpBlock, UNET_FORBIDDEN)
    rng = np.random.default_rng(seed if hidden else 10061)
    if not hidden:
        specs = [((4, 2), (2, 4, 3, 3), (2, 2, 6, 6), "skip of the same size (6×6)"),
                 ((2, 3), (1, 2, 2, 3), (1, 3, 6, 8), "a larger skip (6×8 → cropped to 4×6)"),
                 ((3, 4), (1, 3, 3, 2), (1, 4, 5, 4), "a smaller skip (5×4 → padded to 6×4)")]
    else:
        specs = []
        for _ in range(4):
            c_in, c_out = int(rng.integers(1, 5)), int(rng.integers(1, 4))
            m, h, w = int(rng.integers(1, 3)), int(rng.integers(1, 5)), int(rng.integers(1, 5))
            specs.append(((c_in, c_out), (m, c_in, h, w),
                          (m, c_out, 2 * h + int(rng.integers(-1, 3)), 2 * w + int(rng.integers(-1, 3))), ""))
    for args, _, _, _ in specs:
        k = kernel(UpBlock)
        try:
            info = k.summary(build("UpBlock", UpBlock, args))
        except TypeError as exc:
            raise CheckFailed(f"UpBlock{args} is not a PyTorch module ({exc}).\n  Hint: derive the class from "
                              "nn.Module and call super().__init__() first in __init__.") from None
        check_parameters(f"UpBlock{args}", info, block_shapes(*args), hint=LAYERS)
    cases = []
    for args, x_shape, skip_shape, note in specs:
        for _ in range(50):  # weights whose output is not mostly cut off by the ReLUs: every bug shows
            weights = random_weights([s for _, s in block_shapes(*args)], rng, scale=1.5)
            x = rng.standard_normal(x_shape).astype(np.float32)
            skip = rng.standard_normal(skip_shape).astype(np.float32)
            if (up_block_reference(weights, x, skip) > 0).mean() > 0.3:
                break
        cases.append(_block_case(args, weights, x, skip, note))
    run_check("UpBlock", UpBlock, cases, hidden=hidden, forbidden=UNET_FORBIDDEN)
