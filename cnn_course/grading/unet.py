"""Checks for the topic-10 notebook (U-Net): the transposed convolution and segmentation scores.

The graded NumPy functions and their checks:

* ``conv_transpose_output_size(n, f, pad=0, stride=1, output_padding=0) -> int``:
  (n - 1)·stride - 2·pad + f + output_padding: :func:`conv_transpose_output_size`.
* ``conv_transpose2d_forward(x, w, b, stride=1, pad=0, output_padding=0) -> out``: x (m, C_in,
  H, W), w (C_in, C_out, f, f) (PyTorch's ``conv_transpose2d`` layout), b (C_out,); every input
  value scales its filter block, the copies are placed ``stride`` apart on the full grid and
  summed, ``pad`` is cut from each side, ``output_padding`` kept at the bottom/right:
  :func:`conv_transpose2d_forward`.
* ``per_class_iou(pred, target, num_classes) -> (num_classes,) float`` with NaN for a class in
  neither array: :func:`per_class_iou`.
* ``mean_dice(pred, target, num_classes, ignore_background=False) -> float``: Dice per class
  pooled over all pixels, averaged over the classes (class 0 left out when asked), 0/0
  classes skipped, NaN when none is left: :func:`mean_dice`.

Expected values are computed here with plain NumPy loops (never the library); the known
mistakes (flipped filter, overlaps overwritten, padding added, output_padding at the top/left,
Dice without its factor 2, the background averaged in, 0/0 counted as 0 or 1...) are the same
computation with one thing changed, so that a message can name them.
"""

from __future__ import annotations

import numpy as np

from .core import FORBIDDEN, Case, Out, Variant, describe, float_dtypes, forbids, run_check

__all__ = ["conv_transpose_output_size", "conv_transpose2d_forward", "per_class_iou", "mean_dice",
           "conv_transpose_reference", "iou_reference", "dice_reference", "SEGMENTATION_FORBIDDEN"]

#: the metric exercises: no ready-made confusion matrices or scores either.
SEGMENTATION_FORBIDDEN = (*FORBIDDEN, "sklearn")

_HIDDEN = 10

# --------------------------------------------------------------------------- output size

SIZE_RECIPE = ("the full grid has (n - 1)·stride + f entries (one filter copy per input value, stride apart); "
               "pad is cut off at BOTH ends and output_padding kept at the end: "
               "(n - 1)·stride - 2·pad + f + output_padding.")
SIZE_PAD_ADDED = ("you ADD the padding: in a transposed convolution the padding is cut off the output, 2·pad in all "
                  "(pad at each end), the opposite of a convolution that adds it to the input.")
SIZE_PAD_ONCE = "you subtract pad once: it is cut off at both ends, so subtract 2·pad."
SIZE_NO_OP = "output_padding is missing: it adds output_padding extra entries at the end."
SIZE_OP_SUB = "output_padding is subtracted: it KEEPS output_padding extra entries, so add it."
SIZE_NO_STRIDE = ("the stride is missing: the filter copies are placed stride apart on the output, so the full grid "
                  "has (n - 1)·stride + f entries, not n + f - 1.")
SIZE_N_STRIDE = ("you multiply n by the stride: the n copies start at 0, stride, ..., (n - 1)·stride, so the full "
                 "grid has (n - 1)·stride + f entries.")
SIZE_CONV = ("that is the output size of an ordinary convolution, (n + 2·pad - f) // stride + 1; the transposed "
             "convolution turns it around.")


def _size_variants(n, f, p, s, op):
    return [(SIZE_PAD_ADDED, (n - 1) * s + 2 * p + f + op), (SIZE_PAD_ONCE, (n - 1) * s - p + f + op),
            (SIZE_NO_OP, (n - 1) * s - 2 * p + f), (SIZE_OP_SUB, (n - 1) * s - 2 * p + f - op),
            (SIZE_NO_STRIDE, n + f - 1 - 2 * p + op), (SIZE_N_STRIDE, n * s - 2 * p + f + op),
            (SIZE_CONV, (n + 2 * p - f) // s + 1 if n + 2 * p >= f else None)]


def _size_case(n, f, p, s, op, note=""):
    expected = (n - 1) * s - 2 * p + f + op

    def variants():
        return [Variant(h, {"n_out": v}) for h, v in _size_variants(n, f, p, s, op) if v is not None and v != expected]

    return Case(args=[("n", n), ("f", f), ("pad", p), ("stride", s), ("output_padding", op)],
                outputs=[Out("n_out", expected, kind="int")], describe=describe(n=n, f=f, pad=p, stride=s,
                                                                              output_padding=op),
                note=note, variants=variants, hint=SIZE_RECIPE)


@forbids(*FORBIDDEN)
def conv_transpose_output_size(func, hidden=False, seed=0):
    """Check ``conv_transpose_output_size(n, f, pad=0, stride=1, output_padding=0)``."""
    __tracebackhide__ = True
    if not hidden:
        specs = [(11, 2, 0, 2, 0, "a U-Net up-sampling: 2×2, stride 2 doubles"),
                 (2, 3, 1, 2, 1, "the worked example: 2 → 4"), (2, 3, 1, 2, 0, "the same without output_padding: 3"),
                 (5, 3, 0, 1, 0, "stride 1")]
        cases = [_size_case(*spec) for spec in specs]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for _ in range(_HIDDEN):
            s, f = int(rng.integers(1, 4)), int(rng.integers(1, 6))
            p, n = int(rng.integers(0, f)), int(rng.integers(2, 12))
            op = int(rng.integers(0, s))
            if (n - 1) * s - 2 * p + f + op < 1:
                p = 0
            cases.append(_size_case(n, f, p, s, op))
    run_check("conv_transpose_output_size", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- forward

FORWARD_RECIPE = ("for every input position (i, j): the block x[:, :, i, j] (m, C_in) times w (C_in, C_out, f, f), "
                  "summed over C_in, is ADDED (+=) onto the full grid at rows i·stride .. i·stride + f - 1 and "
                  "columns j·stride .. j·stride + f - 1; the full grid has (n - 1)·stride + f rows (a few more "
                  "when output_padding > pad, left zero). Then keep rows pad .. pad + n_out - 1 (and the same "
                  "columns) and add b[None, :, None, None].")
FLIPPED = ("your output is what the filter rotated by 180° gives: a transposed convolution places the filter AS IT "
           "IS (w[c, o, 0, 0] lands at the copy's top-left corner). Flipping belongs to the textbook definition of "
           "convolution, not here.")
OVERWRITTEN = ("where two filter copies overlap, your output holds only the last copy: the copies must be SUMMED "
               "(grid[...] += ..., not grid[...] = ...).")
OP_WRONG_SIDE = ("your extra output_padding row/column is at the top/left: output_padding keeps one more row at the "
                 "BOTTOM and one more column at the RIGHT. The output window starts at (pad, pad) on the full grid.")
PAD_ADDED = ("your output is larger by 2·pad per axis: the padding of a transposed convolution is CUT OFF the full "
             "grid (pad rows at the top and at the bottom, pad columns at each side), not added.")
PAD_ONE_SIDE = ("your output cuts the padding from one side only: cut pad rows from the top AND pad from the bottom "
                "(the same for the columns).")
NO_BIAS = "the bias is missing: add b[o] to every value of output channel o (b[None, :, None, None])."
W_AXES = ("your weights are read as (C_out, C_in, f, f): for conv_transpose2d, w has shape (C_in, C_out, f, f), "
          "input channels FIRST (PyTorch's layout), so input channel c scales the block w[c].")
NO_OP = ("your output lacks the output_padding row and column: output_padding adds one more row at the bottom and one "
         "more column at the right (zeros of the full grid plus the bias where no filter copy reaches).")


def conv_transpose_reference(x, w, b, stride, pad, op, *, flip=False, overwrite=False, op_side="end",
                             crop="both", bias=True, w_axes="in_out"):
    """``out`` of the transposed convolution in float64 by loops, with one known mistake switched
    on: ``flip`` (filter rotated 180°), ``overwrite`` (copies assigned, row-major order),
    ``op_side`` "start" (output window shifted up-left by op), ``crop`` "added" (the full grid
    zero-padded by pad instead of cropped) / "start" (2·pad cut at the start only), ``bias``,
    ``w_axes`` "out_in" (w read as (C_out, C_in, f, f); square only)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if w_axes == "out_in":
        w = w.transpose(1, 0, 2, 3)
    if flip:
        w = w[:, :, ::-1, ::-1]
    m, _, H, W = x.shape
    _, C_out, fH, fW = w.shape
    Ho, Wo = (H - 1) * stride - 2 * pad + fH + op, (W - 1) * stride - 2 * pad + fW + op
    extra = 2 * pad + op
    grid = np.zeros((m, C_out, (H - 1) * stride + fH + extra, (W - 1) * stride + fW + extra))
    for i in range(H):
        for j in range(W):
            block = np.einsum("mc,cokl->mokl", x[:, :, i, j], w)
            sl = (slice(None), slice(None), slice(i * stride, i * stride + fH), slice(j * stride, j * stride + fW))
            if overwrite:
                grid[sl] = block
            else:
                grid[sl] += block
    if crop == "added":
        full = grid[:, :, :(H - 1) * stride + fH + op, :(W - 1) * stride + fW + op]
        out = np.pad(full, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    elif crop == "start":
        out = grid[:, :, 2 * pad:2 * pad + Ho, 2 * pad:2 * pad + Wo]
    else:
        t = pad - op if op_side == "start" else pad
        out = grid[:, :, t:t + Ho, t:t + Wo]
    if bias:
        out = out + np.asarray(b, dtype=np.float64)[None, :, None, None]
    return out


def _forward_case(x, w, b, s, p, op, note=""):
    dtype = x.dtype
    expected = conv_transpose_reference(x, w, b, s, p, op).astype(dtype)
    m, C_in, H, W = x.shape
    C_out, f = w.shape[1], w.shape[2]

    def variants():
        ref = lambda **kw: conv_transpose_reference(x, w, b, s, p, op, **kw)  # noqa: E731
        found = [Variant(FLIPPED, {"out": ref(flip=True)}), Variant(OVERWRITTEN, {"out": ref(overwrite=True)}),
                 Variant(NO_BIAS, {"out": ref(bias=False)})]
        if op and p >= op:
            found.append(Variant(OP_WRONG_SIDE, {"out": ref(op_side="start")}))
        if p:
            found.append(Variant(PAD_ONE_SIDE, {"out": ref(crop="start")}))
        if C_in == C_out:
            found.append(Variant(W_AXES, {"out": ref(w_axes="out_in")}))
        return found

    def inspect(got):
        out = got.get("out")
        if not isinstance(out, np.ndarray) or out.ndim != 4 or out.shape == expected.shape:
            return None
        dh = out.shape[2] - expected.shape[2]
        if p and dh == 4 * p:
            return PAD_ADDED
        if op and dh == -op:
            return NO_OP
        if out.shape[1] == C_in and C_in != C_out:
            return W_AXES
        return None

    def exception_hint(exc, line):
        if "could not be broadcast" in str(exc):
            return ("a filter copy does not fit where you add it: the full grid needs (n - 1)·stride + f rows and "
                    "columns (plus output_padding beyond the cut padding), and copy (i, j) covers rows "
                    "i·stride .. i·stride + f - 1. w is (C_in, C_out, f, f): contract x[:, :, i, j] (m, C_in) with "
                    "w's FIRST axis.")
        return None

    return Case(args=[("x", x), ("w", w), ("b", b), ("stride", s), ("pad", p), ("output_padding", op)],
                dtype=dtype, note=note, describe=describe(dtype, x=x, w=w, b=b, stride=s, pad=p, output_padding=op),
                outputs=[Out("out", expected, dtype=dtype,
                             shape_hint=f"out has shape (m, C_out, n_H', n_W') = {expected.shape}.")],
                variants=variants, inspect=inspect, hint=FORWARD_RECIPE, exception_hint=exception_hint)


def _visible_forward():
    rng = np.random.default_rng(10021)
    x1 = np.array([[2.0, 1.0], [3.0, 2.0]])[None, None]
    w1 = np.array([[1.0, 2.0, 1.0], [2.0, 0.0, 1.0], [0.0, 2.0, 1.0]])[None, None]
    x2 = np.round(rng.standard_normal((2, 3, 3, 2)), 2)
    w2 = np.round(rng.standard_normal((3, 2, 3, 3)), 2)
    b2 = np.round(rng.standard_normal(2), 2)
    x3 = rng.standard_normal((1, 2, 4, 3)).astype(np.float32)
    w3 = rng.standard_normal((2, 2, 2, 2)).astype(np.float32)
    b3 = rng.standard_normal(2).astype(np.float32)
    return [(x1, w1, np.zeros(1), 2, 1, 1, "the worked example: 4×4 [[0, 4, 0, 1], [10, 7, 6, 3], ...]"),
            (x2, w2, b2, 2, 1, 0, "3 → 2 channels, f=3, stride 2, pad 1: overlaps summed"),
            (x3, w3, b3, 2, 0, 0, "the U-Net's 2×2, stride 2 (doubles the size), float32")]


@forbids(*FORBIDDEN)
def conv_transpose2d_forward(func, hidden=False, seed=0):
    """Check ``conv_transpose2d_forward(x, w, b, stride=1, pad=0, output_padding=0) -> out``
    against a loop-based reference in float64."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_forward_case(*spec) for spec in _visible_forward()]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k, dt in enumerate(float_dtypes(rng, _HIDDEN)):
            s = int(rng.integers(1, 4))
            f = int(rng.integers(max(2, s), 5))  # f >= stride (mostly > stride): copies overlap
            p = int(rng.integers(0, f))
            op = int(rng.integers(1, s)) if s > 1 and k % 2 == 0 else 0
            if op > p:
                p = op  # so that output_padding on the wrong side gives a different window
            m, C_in, C_out = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
            H, W = int(rng.integers(2, 5)), int(rng.integers(2, 5))
            if (min(H, W) - 1) * s - 2 * p + f + op < 1:
                p = op
            x = rng.standard_normal((m, C_in, H, W)).astype(dt)
            w = rng.standard_normal((C_in, C_out, f, f)).astype(dt)
            b = rng.standard_normal(C_out).astype(dt)
            cases.append(_forward_case(x, w, b, s, p, op))
    run_check("conv_transpose2d_forward", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- IoU and Dice

IOU_RECIPE = ("for each class k: A = (pred == k), B = (target == k) over ALL pixels; IoU_k = |A & B| / |A | B| "
              "= TP / (TP + FP + FN); np.nan when |A | B| = 0 (k in neither array). Return an array of "
              "num_classes floats.")
DICE_RECIPE = ("for each class k (from 1 when ignore_background): TP = |A & B|, Dice_k = 2·TP / (|A| + |B|), "
               "pooled over all pixels; skip k when |A| + |B| = 0; return the mean of the rest as a float, "
               "or float('nan') if none is left.")
IOU_ZERO = ("a class absent from both pred and target gets 0 in your result: its IoU is 0/0, undefined, so return "
            "np.nan for it (the caller leaves it out of averages).")
IOU_ONE = ("a class absent from both pred and target gets 1 in your result: its IoU is 0/0, undefined: return np.nan "
           "for it (counting it as perfect would flatter a rare class).")
IOU_IS_DICE = "your values are Dice coefficients, 2·TP / (|A| + |B|): IoU is TP / |A ∪ B| = TP / (TP + FP + FN)."
IOU_PRECISION = "you divide by |A| (the predicted pixels) only: IoU divides by the UNION, |A| + |B| - |A ∩ B|."
IOU_PER_IMAGE = ("your values are averages of per-image scores: pool the counts over ALL pixels of all images, then "
                 "divide once.")
DICE_NO_2 = ("your Dice lacks the factor 2: Dice = 2·|A ∩ B| / (|A| + |B|), so that a perfect prediction scores 1 "
             "(without the 2 it scores 0.5).")
DICE_BG = ("the background (class 0) is in your average although ignore_background=True: average over classes "
           "1 .. num_classes - 1 only.")
DICE_BG_ALWAYS = ("you leave class 0 out although ignore_background=False: then every class, 0 included, is "
                  "averaged.")
DICE_ZERO = ("a class absent from both arrays (0/0) counts as 0 in your mean: leave it out of the mean (it says "
             "nothing about these pixels).")
DICE_ONE = "a class absent from both arrays (0/0) counts as 1 in your mean: leave it out of the mean."
DICE_NAN = ("your mean is nan: a class absent from both arrays gives 0/0 = nan, which spoils np.mean. Skip such "
            "classes (check |A| + |B| > 0 before dividing).")
DICE_IS_IOU = "you average IoU values, TP / |A ∪ B|: Dice is 2·TP / (|A| + |B|)."
DICE_PER_IMAGE = IOU_PER_IMAGE


def _counts(pred, target, k):
    p, t = pred == k, target == k
    return int(np.sum(p & t)), int(np.sum(p)), int(np.sum(t))


def iou_reference(pred, target, num_classes, *, empty="nan", kind="iou", per_image=False):
    """IoU per class (float64, NaN for 0/0) with one known mistake: ``empty`` "zero"/"one",
    ``kind`` "dice" / "precision", ``per_image`` (mean of per-image scores, first axis)."""
    if per_image:
        rows = np.array([iou_reference(p, t, num_classes, empty=empty, kind=kind) for p, t in zip(pred, target)])
        with np.errstate(all="ignore"):
            return np.array([np.nanmean(c) if np.any(~np.isnan(c)) else np.nan for c in rows.T])
    out = np.full(num_classes, np.nan)
    for k in range(num_classes):
        tp, a, b = _counts(pred, target, k)
        num, den = {"iou": (tp, a + b - tp), "dice": (2 * tp, a + b), "precision": (tp, a)}[kind]
        if den:
            out[k] = num / den
        elif a + b == 0 and empty != "nan":
            out[k] = 0.0 if empty == "zero" else 1.0
    return out


def dice_reference(pred, target, num_classes, ignore_background=False, *, factor=2, empty="skip", kind="dice",
                   per_image=False):
    """Mean Dice over the classes with one known mistake: ``factor`` 1, ``empty`` "zero"/"one"/"nan",
    ``kind`` "iou", ``per_image``."""
    if per_image:
        vals = [dice_reference(p, t, num_classes, ignore_background, factor=factor, empty=empty, kind=kind)
                for p, t in zip(pred, target)]
        vals = [v for v in vals if not np.isnan(v)]
        return float(np.mean(vals)) if vals else float("nan")
    scores = []
    for k in range(1 if ignore_background else 0, num_classes):
        tp, a, b = _counts(pred, target, k)
        if a + b == 0:
            if empty == "skip":
                continue
            scores.append({"zero": 0.0, "one": 1.0, "nan": float("nan")}[empty])
            continue
        scores.append(factor * tp / (a + b) if kind == "dice" else tp / (a + b - tp))
    return float(np.mean(scores)) if scores else float("nan")


def _label_args(pred, target, num_classes):
    return [("pred", pred), ("target", target), ("num_classes", num_classes)]


def _iou_case(pred, target, num_classes, note=""):
    expected = iou_reference(pred, target, num_classes)

    def variants():
        found = [(IOU_ZERO, dict(empty="zero")), (IOU_ONE, dict(empty="one")), (IOU_IS_DICE, dict(kind="dice")),
                 (IOU_PRECISION, dict(kind="precision"))]
        if pred.ndim >= 3 and len(pred) > 1:
            found.append((IOU_PER_IMAGE, dict(per_image=True)))
        return [Variant(h, {"iou": iou_reference(pred, target, num_classes, **kw)}) for h, kw in found]

    def inspect(got):
        iou = got.get("iou")
        if isinstance(iou, np.ndarray) and iou.shape == (num_classes - 1,):
            return ("your array has num_classes - 1 entries: return one IoU for EVERY class 0 .. num_classes - 1 "
                    "(range(num_classes)), the background included.")
        return None

    return Case(args=_label_args(pred, target, num_classes), note=note,
                describe=describe(pred=pred, target=target, num_classes=num_classes),
                outputs=[Out("iou", expected, equal_nan=True,
                             shape_hint=f"the result has one entry per class: shape ({num_classes},).")],
                variants=variants, inspect=inspect, hint=IOU_RECIPE)


def _dice_case(pred, target, num_classes, ignore_background, note=""):
    expected = dice_reference(pred, target, num_classes, ignore_background)

    def variants():
        found = [(DICE_NO_2, dict(factor=1)), (DICE_ZERO, dict(empty="zero")), (DICE_ONE, dict(empty="one")),
                 (DICE_IS_IOU, dict(kind="iou"))]
        if pred.ndim >= 3 and len(pred) > 1:
            found.append((DICE_PER_IMAGE, dict(per_image=True)))
        out = [Variant(h, {"dice": dice_reference(pred, target, num_classes, ignore_background, **kw)})
               for h, kw in found]
        out.append(Variant(DICE_BG if ignore_background else DICE_BG_ALWAYS,
                           {"dice": dice_reference(pred, target, num_classes, not ignore_background)}))
        if ignore_background:  # background in, and no factor 2
            out.append(Variant(DICE_BG + " " + DICE_NO_2, {"dice": dice_reference(pred, target, num_classes, False,
                                                                                   factor=1)}))
        return out

    def inspect(got):
        d = got.get("dice")
        if isinstance(d, float) and np.isnan(d) and not np.isnan(expected):
            return DICE_NAN
        return None

    return Case(args=[*_label_args(pred, target, num_classes), ("ignore_background", ignore_background)], note=note,
                describe=describe(pred=pred, target=target, num_classes=num_classes,
                                  ignore_background=ignore_background),
                outputs=[Out("dice", expected, kind="scalar", equal_nan=True)],
                variants=variants, inspect=inspect, hint=DICE_RECIPE)


def _visible_labels():
    pred1 = np.array([[0, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 1]])
    tgt1 = np.array([[0, 1, 1, 1], [0, 1, 1, 1], [0, 1, 1, 0]])
    rng = np.random.default_rng(10031)
    pred2 = rng.integers(0, 3, size=(2, 4, 5))
    tgt2 = np.where(rng.random((2, 4, 5)) < 0.7, pred2, rng.integers(0, 3, size=(2, 4, 5)))
    pred3 = np.array([[0, 0, 2], [2, 0, 0]])  # class 1 in neither array, class 3 only in the target
    tgt3 = np.array([[0, 2, 2], [0, 3, 0]])
    return [(pred1, tgt1, 2, "one 3×4 map, brain (1) vs background (0)"),
            (pred2, tgt2, 3, "two 4×5 maps, 3 classes: counts pooled over both"),
            (pred3, tgt3, 4, "class 1 in neither array (0/0), class 3 missed")]


def _random_labels(rng):
    shape = tuple(int(v) for v in rng.integers(1, 6, size=int(rng.integers(2, 4))))
    K = int(rng.integers(2, 5))
    pred = rng.integers(0, K, size=shape)
    target = np.where(rng.random(shape) < 0.6, pred, rng.integers(0, K, size=shape))
    if K > 2 and rng.random() < 0.6:  # a class in neither array: 0/0
        gone = int(rng.integers(1, K))
        pred[pred == gone] = 0
        target[target == gone] = 0
    return pred, target, K


@forbids(*SEGMENTATION_FORBIDDEN)
def per_class_iou(func, hidden=False, seed=0):
    """Check ``per_class_iou(pred, target, num_classes)``: float array, NaN for 0/0."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_iou_case(*spec) for spec in _visible_labels()]
    else:
        rng = np.random.default_rng(seed)
        cases = [_iou_case(*_random_labels(rng)) for _ in range(_HIDDEN)]
    run_check("per_class_iou", func, cases, hidden=hidden, forbidden=SEGMENTATION_FORBIDDEN)


@forbids(*SEGMENTATION_FORBIDDEN)
def mean_dice(func, hidden=False, seed=0):
    """Check ``mean_dice(pred, target, num_classes, ignore_background=False) -> float``."""
    __tracebackhide__ = True
    if not hidden:
        cases = []
        for pred, target, K, note in _visible_labels():
            cases.append(_dice_case(pred, target, K, False, note))
            cases.append(_dice_case(pred, target, K, True, note + ", foreground only"))
        empty = np.zeros((3, 3), dtype=np.int64)
        cases.append(_dice_case(empty, empty, 2, True, "no foreground at all: nothing to score, nan"))
    else:
        rng = np.random.default_rng(seed)
        cases = [_dice_case(*_random_labels(rng), bool(k % 2)) for k in range(_HIDDEN)]
    run_check("mean_dice", func, cases, hidden=hidden, forbidden=SEGMENTATION_FORBIDDEN)
