"""Checks for the topic-8 notebook (detection and YOLO): IoU, non-max suppression, YOLO targets,
decoding, score filtering and average precision.

The graded functions and their checks:

* ``iou(boxes1, boxes2) -> (N, M)``: :func:`iou`. Corners (x1, y1, x2, y2) in pixels; entry
  [i, j] is the IoU of boxes1[i] and boxes2[j]; disjoint or touching boxes give 0.
* ``yolo_target(boxes, labels, image_size, grid_size, num_classes) -> (S, S, 5 + C)``:
  :func:`yolo_target`. One box per cell (the tests never put two centres in one cell); the
  responsible cell holds the centre (a centre on a border goes to the right / lower cell, one
  on the image's right or bottom edge to the last cell); (pc, bx, by, bh, bw, one-hot) with bx,
  by the centre inside the cell in [0, 1] and bh, bw relative to the image.
* ``decode_boxes(pred, image_size) -> (S, S, 4)``: :func:`decode_boxes`, corners in pixels of
  every cell's box (not clipped).
* ``filter_boxes(pc, class_probs, boxes, threshold) -> (boxes, scores, labels)``:
  :func:`filter_boxes`; score = pc · max class probability, label its argmax, keep score >
  threshold (strictly), in input order.
* ``nms(boxes, scores, iou_threshold, labels=None) -> keep``: :func:`nms`; kept indices in
  decreasing score order (equal scores: lower index first); a box is dropped when its IoU with
  a kept, higher-scoring box of the same class exceeds the threshold (strictly).
* ``average_precision(scores, is_tp, n_gt) -> float``: :func:`average_precision`, COCO's
  101-point interpolated AP of one class from its detections' scores and match flags.

Expected values are computed here with plain NumPy, never with the library; the known mistakes
(``Variant``) are the same computation with one thing changed. None of the graded functions may
use the course library, PyTorch or SciPy (:data:`~.core.FORBIDDEN`).
"""

from __future__ import annotations

import numpy as np

from .core import FORBIDDEN, Case, Out, Variant, forbids, run_check

__all__ = ["iou", "yolo_target", "decode_boxes", "filter_boxes", "nms", "average_precision",
           "iou_reference", "target_reference", "decode_reference", "filter_reference", "nms_reference",
           "ap_reference"]

# --------------------------------------------------------------------------- IoU

IOU_RECIPE = ("for boxes a and b: the intersection is the rectangle from (max(a.x1, b.x1), max(a.y1, b.y1)) to "
              "(min(a.x2, b.x2), min(a.y2, b.y2)); its width and height are clamped at 0 (max(0, ...)) so that "
              "disjoint boxes share nothing; union = area(a) + area(b) - intersection; IoU = intersection / union. "
              "Broadcast boxes1[:, None, :] against boxes2[None, :, :] (or loop) to fill the (N, M) matrix.")
NO_CLAMP = ("your IoU is not 0 for boxes that do not overlap: clamp the intersection's width and height at 0 "
            "(np.maximum(0, x2 - x1)) before multiplying; for boxes apart in both x and y the two negative "
            "lengths multiply to a positive 'intersection'.")
NO_SUBTRACT = ("your union counts the intersection twice: area(a) + area(b) includes the overlap once in each box, "
               "so subtract the intersection once: union = area(a) + area(b) - intersection.")
XXYY = ("your IoU reads the boxes as (x1, x2, y1, y2): the columns are (x1, y1, x2, y2), x1 = boxes[:, 0], "
        "y1 = boxes[:, 1], x2 = boxes[:, 2], y2 = boxes[:, 3].")
XY_MIXED = ("your intersection mixes x and y: its width comes from the x coordinates of both boxes (columns 0 "
            "and 2), its height from the y coordinates (columns 1 and 3).")
CENTRE_SIZE = ("your IoU reads the boxes as (centre x, centre y, width, height): here they are corners "
               "(x1, y1, x2, y2).")
PLUS_ONE = ("your areas add 1 pixel to each side ((x2 - x1 + 1)·(y2 - y1 + 1), the old PASCAL VOC convention): "
            "here boxes are continuous, width = x2 - x1.")


def iou_reference(b1, b2, *, clamp=True, subtract=True, layout="xyxy", plus=0.0):
    """(N, M) IoU in float64, with one known mistake switched on."""
    a = np.asarray(b1, np.float64).reshape(-1, 4)
    b = np.asarray(b2, np.float64).reshape(-1, 4)
    if layout == "xxyy":
        a, b = a[:, [0, 2, 1, 3]], b[:, [0, 2, 1, 3]]
    elif layout == "cwh":
        a = np.concatenate([a[:, :2] - a[:, 2:] / 2, a[:, :2] + a[:, 2:] / 2], axis=1)
        b = np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2], axis=1)
    a, b = a[:, None, :], b[None, :, :]
    iw = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + plus
    if layout == "mixed":
        ih = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 0], b[..., 0]) + plus
    else:
        ih = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + plus
    inter = np.maximum(iw, 0) * np.maximum(ih, 0) if clamp else iw * ih
    area_a = (a[..., 2] - a[..., 0] + plus) * (a[..., 3] - a[..., 1] + plus)
    area_b = (b[..., 2] - b[..., 0] + plus) * (b[..., 3] - b[..., 1] + plus)
    union = area_a + area_b - (inter if subtract else 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return out.reshape(a.shape[0], b.shape[1])


def _iou_case(b1, b2, note=""):
    expected = iou_reference(b1, b2)

    def variants():
        found = [(NO_CLAMP, dict(clamp=False)), (NO_SUBTRACT, dict(subtract=False)), (XY_MIXED, dict(layout="mixed")),
                 (XXYY, dict(layout="xxyy")), (CENTRE_SIZE, dict(layout="cwh")), (PLUS_ONE, dict(plus=1.0))]
        return [Variant(h, {"iou": iou_reference(b1, b2, **kw)}) for h, kw in found]

    def inspect(got):
        out = got.get("iou")
        if isinstance(out, np.ndarray) and out.shape == expected.T.shape and out.shape != expected.shape:
            return "the result is transposed: entry [i, j] pairs boxes1[i] with boxes2[j], shape (N, M)."
        if isinstance(out, np.ndarray) and out.shape == expected.shape and out.size and (out < 0).any():
            return NO_CLAMP
        return None

    return Case(args=[("boxes1", b1), ("boxes2", b2)],
                outputs=[Out("iou", expected, shape_hint="(N, M): one row per box of boxes1")],
                describe=f"boxes1 {b1.shape[0]} box(es) {_rows(b1)}, boxes2 {b2.shape[0]} box(es) {_rows(b2)}",
                note=note, variants=variants, inspect=inspect, hint=IOU_RECIPE)


def _rows(b, k=3):
    rows = [tuple(float(x) for x in r) for r in np.asarray(b)[:k]]
    text = ", ".join("(" + ", ".join(f"{x:g}" for x in r) + ")" for r in rows)
    return f"[{text}{', ...' if len(b) > k else ''}]"


def _random_boxes(rng, n, size=40.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(2, size / 2, (n, 2))
    return np.round(np.concatenate([xy, xy + wh], axis=1), 1)


@forbids(*FORBIDDEN)
def iou(func, hidden=False, seed=0):
    """Check ``iou(boxes1, boxes2) -> (N, M)``."""
    __tracebackhide__ = True
    A = np.array([[0.0, 0.0, 4.0, 2.0]])
    if not hidden:
        cases = [_iou_case(A, np.array([[2.0, 1.0, 6.0, 4.0]]), note="overlap 2×1 = 2, union 8 + 12 - 2 = 18: 1/9"),
                 _iou_case(A, A.copy(), note="identical boxes: 1"),
                 _iou_case(A, np.array([[6.0, 3.0, 8.0, 5.0]]), note="apart in x and in y: 0"),
                 _iou_case(np.array([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]]),
                           np.array([[1.0, 0.0, 3.0, 2.0], [2.0, 0.0, 4.0, 2.0], [0.0, 2.0, 2.0, 4.0]]),
                           note="2 × 3 matrix with touching boxes (IoU 0)")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_iou_case(np.array([[0.0, 0.0, 3.0, 1.0]]), np.array([[5.0, 4.0, 9.0, 7.0]]),
                           note="apart in x and y: the negative lengths multiply to a positive number"),
                 _iou_case(np.array([[0.0, 0.0, 10.0, 4.0]]), np.array([[2.0, 1.0, 6.0, 3.0]]),
                           note="one box inside the other: 8 / 40"),
                 _iou_case(np.array([[1.0, 2.0, 7.0, 3.0]]), np.array([[2.0, 0.0, 3.0, 9.0]]),
                           note="a wide and a tall box crossing"),
                 _iou_case(np.zeros((0, 4)), _random_boxes(rng, 3), note="no boxes in boxes1: shape (0, 3)")]
        for n, m in ((5, 7), (1, 9), (8, 1), (12, 12)):
            cases.append(_iou_case(_random_boxes(rng, n), _random_boxes(rng, m)))
    run_check("iou", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- YOLO target

TARGET_RECIPE = ("centre (cx, cy) = ((x1 + x2)/2, (y1 + y2)/2); in cell units u = cx·S/W, v = cy·S/H; col = floor(u), "
                 "row = floor(v), capped at S - 1 (a centre on the right/bottom edge); the slot target[row, col] "
                 "holds (1, u - col, v - row, (y2 - y1)/H, (x2 - x1)/W) followed by the one-hot class; everything "
                 "else is 0. image_size is (H, W).")
CELL_UNITS = ("your bh, bw are measured in cells (S times too large): in this course's convention bh = (y2 - y1)/H "
              "and bw = (x2 - x1)/W are fractions of the whole image, in [0, 1].")
ROW_COL = ("your box sits in target[col, row]: the first index is the row (vertical, from y), the second the column "
           "(horizontal, from x).")
ROUNDED = ("the responsible cell must be floor(u), not round(u): a centre at 2.6 cells lies in cell 2 (from 2 to 3), "
           "its offset bx = 0.6.")
BORDER_LEFT = ("a centre exactly on a border between two cells belongs to the right (lower) cell: col = floor(u), "
               "so u = 2.0 gives cell 2 with bx = 0, not cell 1 with bx = 1.")
OFFSET_IMAGE = ("your bx, by are the centre relative to the image (cx/W): they are the centre inside the responsible "
                "cell, u - col, from 0 at the cell's left (top) edge to 1 at its right (bottom) edge.")
HW_SWAPPED = ("your slot holds (pc, bx, by, bw, bh): the order is (pc, bx, by, bh, bw), height before width.")
W_FOR_H = ("a non-square image: the vertical quantities (cy, bh) are measured against the height H = image_size[0], "
           "the horizontal ones (cx, bw) against the width W = image_size[1].")


def target_reference(boxes, labels, image_size, S, C, *, units="image", swap=False, cell="floor", offset="cell",
                     hw="hw", sizes="right"):
    """(S, S, 5 + C) float64 target, with one known mistake switched on."""
    H, W = image_size
    if sizes == "swapped":
        H, W = W, H
    t = np.zeros((S, S, 5 + C))
    for (x1, y1, x2, y2), lab in zip(np.asarray(boxes, np.float64), labels):
        u, v = (x1 + x2) / 2 * S / W, (y1 + y2) / 2 * S / H
        if cell == "round":
            col, row = int(np.round(u)), int(np.round(v))
        elif cell == "left":
            col, row = int(np.ceil(u)) - 1, int(np.ceil(v)) - 1
        else:
            col, row = int(np.floor(u)), int(np.floor(v))
        col, row = min(max(col, 0), S - 1), min(max(row, 0), S - 1)
        bx, by = (u - col, v - row) if offset == "cell" else (u / S, v / S)
        bh, bw = (y2 - y1) / H, (x2 - x1) / W
        if units == "cell":
            bh, bw = bh * S, bw * S
        if hw == "wh":
            bh, bw = bw, bh
        r, c = (col, row) if swap else (row, col)
        t[r, c, :5] = (1.0, bx, by, bh, bw)
        t[r, c, 5 + int(lab)] = 1.0
    return t


def _target_case(boxes, labels, image_size, S, C, note=""):
    boxes = np.asarray(boxes, np.float64)
    labels = np.asarray(labels, np.int64)
    expected = target_reference(boxes, labels, image_size, S, C)

    def variants():
        found = [(CELL_UNITS, dict(units="cell")), (ROW_COL, dict(swap=True)), (ROUNDED, dict(cell="round")),
                 (BORDER_LEFT, dict(cell="left")), (OFFSET_IMAGE, dict(offset="image")), (HW_SWAPPED, dict(hw="wh")),
                 (W_FOR_H, dict(sizes="swapped"))]
        out = []
        for h, kw in found:
            try:
                out.append(Variant(h, {"target": target_reference(boxes, labels, image_size, S, C, **kw)}))
            except (IndexError, ValueError):
                pass
        return out

    def exception_hint(exc, line):
        if isinstance(exc, IndexError):
            return ("an index ran past the grid: a centre on the image's right or bottom edge gives u = S, so cap the "
                    "cell at S - 1 (min(floor(u), S - 1)).")
        return None

    return Case(args=[("boxes", boxes), ("labels", labels), ("image_size", tuple(image_size)), ("grid_size", S),
                      ("num_classes", C)],
                outputs=[Out("target", expected, shape_hint="(S, S, 5 + C)")],
                describe=f"{len(boxes)} box(es) {_rows(boxes)}, labels {labels.tolist()}, image_size={tuple(image_size)}, "
                         f"grid_size={S}, num_classes={C}",
                note=note, variants=variants, exception_hint=exception_hint, hint=TARGET_RECIPE)


def _random_targets(rng, S, H, W, C, n):
    cells = rng.choice(S * S, size=n, replace=False)
    boxes = []
    for k in cells:
        row, col = divmod(int(k), S)
        cx, cy = (col + rng.uniform(0.05, 0.95)) * W / S, (row + rng.uniform(0.05, 0.95)) * H / S
        w, h = rng.uniform(0.05, 0.6) * W, rng.uniform(0.05, 0.6) * H
        boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return np.array(boxes), rng.integers(0, C, n)


@forbids(*FORBIDDEN)
def yolo_target(func, hidden=False, seed=0):
    """Check ``yolo_target(boxes, labels, image_size, grid_size, num_classes) -> (S, S, 5 + C)``."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_target_case([[30, 10, 50, 40]], [2], (90, 90), 3, 3,
                              note="the 3×3 grid: centre (40, 25) in cell row 0, col 1; bx = 1/3, by = 5/6"),
                 _target_case([[12, 4, 28, 36], [40, 40, 56, 60]], [0, 1], (64, 64), 8, 2,
                              note="two boxes on an 8×8 grid; the first centre (20, 20) lies at 2.5 cells"),
                 _target_case([[8, 8, 24, 24]], [0], (64, 64), 4, 1, note="centre (16, 16) exactly on a cell corner")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_target_case([[20, 30, 60, 50]], [1], (80, 80), 4, 2, note="centre (40, 40) on a border: cell (2, 2)"),
                 _target_case([[60, 10, 68, 20]], [0], (64, 64), 4, 1, note="centre x = 64 on the image's right edge: the last column"),
                 _target_case([[50, 54, 64, 64]], [0], (64, 64), 8, 1, note="a box touching the bottom-right corner"),
                 _target_case([[60, 2, 64, 6], [0, 58, 4, 62]], [0, 1], (64, 64), 8, 2,
                              note="centres in the top-right and bottom-left cells: row and column must not be swapped"),
                 _target_case([[10, 20, 30, 70]], [0], (96, 48), 6, 1, note="a 96×48 image (H, W): rows from y"),
                 _target_case([[21, 3, 35, 13]], [1], (64, 64), 8, 2, note="centre x = 28 = 3.5 cells")]
        for S, H, W, C, n in ((3, 90, 90, 3, 4), (8, 64, 64, 4, 6), (5, 100, 60, 2, 5), (19, 608, 608, 3, 9)):
            b, l = _random_targets(rng, S, H, W, C, n)
            cases.append(_target_case(b, l, (H, W), S, C))
    run_check("yolo_target", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- decoding

DECODE_RECIPE = ("for the cell in row r, column c: cx = (c + bx)·W/S, cy = (r + by)·H/S, w = bw·W, h = bh·H; the "
                 "corners are (cx - w/2, cy - h/2, cx + w/2, cy + h/2). pred[..., 1:5] holds (bx, by, bh, bw).")
NO_OFFSET = ("your boxes all sit in the top-left cell: bx, by are offsets inside each cell, so add the cell's column "
             "(for x) and row (for y) before scaling: cx = (c + bx)·W/S.")
DEC_CELL_UNITS = ("your widths and heights are S times too small: bw and bh are fractions of the whole image, "
                  "w = bw·W, not bw·W/S.")
DEC_ROW_COL = ("row and column are swapped: x comes from the column index (the second axis of pred), y from the row "
               "(the first axis). np.meshgrid needs indexing='ij' for that.")
NO_HALF = ("your corners are the centre ± the full width: the box spans w/2 on each side of the centre.")
DEC_HW = ("pred[..., 3] is bh (the height) and pred[..., 4] is bw (the width), in that order.")
DEC_CENTRE = ("your result is (cx, cy, w, h): the function returns corners (x1, y1, x2, y2).")


def decode_reference(pred, image_size, *, offset=True, units="image", swap=False, half=True, hw="hw", centre=False):
    """(S, S, 4) corners in float64, with one known mistake switched on."""
    H, W = image_size
    p = np.asarray(pred, np.float64)
    S = p.shape[0]
    rows, cols = np.meshgrid(np.arange(S), np.arange(S), indexing="xy" if swap else "ij")
    bx, by, bh, bw = p[..., 1], p[..., 2], p[..., 3], p[..., 4]
    if hw == "wh":
        bh, bw = bw, bh
    cx = ((cols if offset else 0) + bx) * W / S
    cy = ((rows if offset else 0) + by) * H / S
    w, h = bw * W, bh * H
    if units == "cell":
        w, h = w / S, h / S
    if centre:
        return np.stack([cx, cy, w, h], axis=-1)
    k = 0.5 if half else 1.0
    return np.stack([cx - k * w, cy - k * h, cx + k * w, cy + k * h], axis=-1)


def _decode_case(pred, image_size, note=""):
    expected = decode_reference(pred, image_size)

    def variants():
        found = [(NO_OFFSET, dict(offset=False)), (DEC_CELL_UNITS, dict(units="cell")), (DEC_ROW_COL, dict(swap=True)),
                 (NO_HALF, dict(half=False)), (DEC_HW, dict(hw="wh")), (DEC_CENTRE, dict(centre=True))]
        return [Variant(h, {"boxes": decode_reference(pred, image_size, **kw)}) for h, kw in found]

    S, D = pred.shape[0], pred.shape[2]
    return Case(args=[("pred", pred), ("image_size", tuple(image_size))],
                outputs=[Out("boxes", expected, shape_hint="(S, S, 4): one box (x1, y1, x2, y2) per cell")],
                describe=f"pred of shape ({S}, {S}, {D}), image_size={tuple(image_size)}", note=note,
                variants=variants, hint=DECODE_RECIPE)


def _random_pred(rng, S, C):
    p = rng.uniform(0.05, 0.95, (S, S, 5 + C))
    p[..., 3:5] = rng.uniform(0.05, 0.5, (S, S, 2))
    return np.round(p, 3)


@forbids(*FORBIDDEN)
def decode_boxes(func, hidden=False, seed=0):
    """Check ``decode_boxes(pred, image_size) -> (S, S, 4)``."""
    __tracebackhide__ = True
    if not hidden:
        one = np.zeros((3, 3, 8))
        one[0, 1, :5] = (1.0, 1 / 3, 5 / 6, 1 / 3, 2 / 9)
        cases = [_decode_case(one, (90, 90), note="the box of yolo_target's first visible case: (30, 10, 50, 40) "
                                                  "in cell (0, 1), zeros elsewhere"),
                 _decode_case(_random_pred(np.random.default_rng(7), 2, 1), (64, 64), note="a 2×2 grid")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_decode_case(_random_pred(rng, S, C), size)
                 for S, C, size in ((3, 3, (90, 90)), (4, 2, (64, 96)), (5, 1, (100, 60)), (8, 4, (64, 64)))]
    run_check("decode_boxes", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- filtering by score

FILTER_RECIPE = ("score of each box = pc · max over the classes of class_probs, label = the argmax; keep the boxes "
                 "whose score is strictly greater than threshold, in their input order, and return (boxes, scores, "
                 "labels) of those.")
PC_ONLY = "your scores are pc alone: the score is pc times the best class probability (how sure that an object is there AND which)."
PROB_ONLY = "your scores are the class probabilities alone: multiply by pc, the probability that the slot holds an object."
GE = ("a box whose score equals the threshold exactly was kept: keep only scores strictly greater than threshold (>).")
SUM_PROBS = "your scores use the sum of the class probabilities: take their maximum (the best class)."


def filter_reference(pc, probs, boxes, threshold, *, score="right", ge=False):
    pc, probs, boxes = np.asarray(pc, np.float64), np.asarray(probs, np.float64), np.asarray(boxes)
    if score == "pc":
        s = pc
    elif score == "prob":
        s = probs.max(axis=1)
    elif score == "sum":
        s = pc * probs.sum(axis=1)
    else:
        s = pc * probs.max(axis=1)
    labels = probs.argmax(axis=1).astype(np.int64)
    keep = s >= threshold if ge else s > threshold
    return boxes[keep], s[keep], labels[keep]


def _filter_case(pc, probs, boxes, threshold, note=""):
    b, s, l = filter_reference(pc, probs, boxes, threshold)

    def variants():
        found = [(PC_ONLY, dict(score="pc")), (PROB_ONLY, dict(score="prob")), (GE, dict(ge=True)),
                 (SUM_PROBS, dict(score="sum"))]
        out = []
        for h, kw in found:
            vb, vs, vl = filter_reference(pc, probs, boxes, threshold, **kw)
            out.append(Variant(h, {"boxes": vb, "scores": vs, "labels": vl}))
        return out

    return Case(args=[("pc", pc), ("class_probs", probs), ("boxes", boxes), ("threshold", threshold)],
                outputs=[Out("boxes", b, shape_hint="(k, 4): the kept boxes"), Out("scores", s, shape_hint="(k,)"),
                         Out("labels", l, kind="ints")],
                describe=f"{len(pc)} boxes, {probs.shape[1]} classes, threshold={threshold}", note=note,
                variants=variants, hint=FILTER_RECIPE)


def _random_filter(rng, k, C):
    pc = np.round(rng.uniform(0, 1, k), 2)
    probs = rng.dirichlet(np.ones(C), k)
    return pc, probs, _random_boxes(rng, k, 64.0)


@forbids(*FORBIDDEN)
def filter_boxes(func, hidden=False, seed=0):
    """Check ``filter_boxes(pc, class_probs, boxes, threshold) -> (boxes, scores, labels)``."""
    __tracebackhide__ = True
    pc = np.array([0.9, 0.5, 0.2, 0.8])
    probs = np.array([[0.1, 0.9], [0.8, 0.2], [0.5, 0.5], [0.3, 0.7]])
    boxes = np.array([[0, 0, 10, 10], [5, 5, 20, 15], [1, 2, 3, 4], [30, 30, 40, 50]], np.float64)
    if not hidden:
        cases = [_filter_case(pc, probs, boxes, 0.5, note="scores 0.81, 0.40, 0.10, 0.56: the first and last stay")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_filter_case(pc, probs, boxes, 0.4, note="a score (0.5 · 0.8) equal to the threshold 0.4 is dropped"),
                 _filter_case(pc, probs, boxes, 0.95, note="nothing above the threshold: empty results")]
        for k, C, th in ((10, 3, 0.3), (25, 4, 0.2), (7, 1, 0.5), (40, 6, 0.1)):
            cases.append(_filter_case(*_random_filter(rng, k, C), th))
    run_check("filter_boxes", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- NMS

NMS_RECIPE = ("visit the boxes by decreasing score (np.argsort(-scores, kind='stable')); keep the best remaining box, "
              "then drop every remaining box whose IoU with it is greater than iou_threshold (and, with labels, of "
              "the same class); repeat until no box remains. Return the kept indices (into the input) in the order "
              "they were kept, as an integer array.")
NOT_SORTED = ("your NMS visits the boxes in input order: it must start from the highest score, so sort by score "
              "first (a lower-scoring box listed first must not suppress a better one).")
GE_NMS = ("a box whose IoU equals the threshold exactly was dropped: the rule drops a box only when its IoU "
          "with a kept box is strictly greater than iou_threshold (>), so IoU = threshold stays.")
ACROSS = ("boxes of different classes suppressed each other: with labels, non-max suppression runs per class; a "
          "sneaker's box never removes an overlapping bag's.")
INDEX_ORDER = ("the right boxes are kept but listed in index order: return them in the order NMS keeps them, by "
               "decreasing score.")
BY_ALL = ("a box was dropped by a box that was itself suppressed: compare each candidate only with the boxes already "
          "KEPT, not with every higher-scoring box.")
LE_NMS = ("your NMS keeps boxes whose IoU with a kept box is above the threshold, or drops the ones below: drop "
          "when IoU > iou_threshold.")


def nms_reference(boxes, scores, th, labels=None, *, order="score", ge=False, classes=True, out="kept", by="kept",
                  flip=False):
    """Kept indices (int64), with one known mistake switched on."""
    boxes = np.asarray(boxes, np.float64)
    scores = np.asarray(scores, np.float64)
    n = len(boxes)
    idx = np.argsort(-scores, kind="stable") if order == "score" else np.arange(n)
    ious = iou_reference(boxes, boxes)
    lab = np.zeros(n, np.int64) if (labels is None or not classes) else np.asarray(labels)
    keep, dead = [], np.zeros(n, bool)
    for pos, i in enumerate(idx):
        if by == "kept":
            if dead[i]:
                continue
            keep.append(int(i))
            for j in idx[pos + 1:]:
                if lab[j] == lab[i]:
                    over = ious[i, j] >= th if ge else ious[i, j] > th
                    if flip:
                        over = not over
                    if over:
                        dead[j] = True
        else:  # dropped when ANY higher-scoring box of the class overlaps it
            if not any(lab[j] == lab[i] and ious[i, j] > th for j in idx[:pos]):
                keep.append(int(i))
    keep = np.asarray(keep, np.int64)
    return np.sort(keep) if out == "sorted" else keep


def _nms_case(boxes, scores, th, labels=None, note=""):
    boxes = np.asarray(boxes, np.float64)
    scores = np.asarray(scores, np.float64)
    expected = nms_reference(boxes, scores, th, labels)

    def variants():
        found = [(INDEX_ORDER, dict(out="sorted")), (NOT_SORTED, dict(order="input")), (GE_NMS, dict(ge=True)),
                 (BY_ALL, dict(by="all")), (LE_NMS, dict(flip=True))]
        if labels is not None:
            found.append((ACROSS, dict(classes=False)))
        return [Variant(h, {"keep": nms_reference(boxes, scores, th, labels, **kw)}) for h, kw in found]

    args = [("boxes", boxes), ("scores", scores), ("iou_threshold", th)]
    if labels is not None:
        args.append(("labels", np.asarray(labels, np.int64)))
    return Case(args=args, outputs=[Out("keep", expected, kind="ints")],
                describe=f"{len(boxes)} boxes {_rows(boxes)}, scores {np.round(scores, 3).tolist()[:6]}"
                         f"{'...' if len(scores) > 6 else ''}, iou_threshold={th}"
                         + (f", labels {np.asarray(labels).tolist()[:6]}" if labels is not None else ""),
                note=note, variants=variants, hint=NMS_RECIPE)


def _cluster_boxes(rng, n, C):
    centres = rng.uniform(10, 54, (3, 2))
    k = rng.integers(0, 3, n)
    c = centres[k] + rng.normal(0, 2.5, (n, 2))
    wh = rng.uniform(8, 16, (n, 2))
    boxes = np.round(np.concatenate([c - wh / 2, c + wh / 2], axis=1), 1)
    scores = rng.permutation(np.round(np.linspace(0.1, 0.95, n), 4))
    return boxes, scores, rng.integers(0, C, n)


@forbids(*FORBIDDEN)
def nms(func, hidden=False, seed=0):
    """Check ``nms(boxes, scores, iou_threshold, labels=None) -> keep``."""
    __tracebackhide__ = True
    five = np.array([[10, 10, 30, 30], [12, 11, 31, 32], [40, 40, 60, 55], [11, 9, 29, 31], [41, 42, 60, 57]], float)
    sc = np.array([0.9, 0.75, 0.8, 0.6, 0.7])
    if not hidden:
        cases = [_nms_case(five, sc, 0.5, note="two objects, five boxes: 0 and 2 stay"),
                 _nms_case(five[[1, 0]], sc[[1, 0]], 0.5, note="the better box listed second")]
    else:
        rng = np.random.default_rng(seed)
        chain = np.array([[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]], float)  # IoU(0,1) = IoU(1,2) = 0.43, (0,2) = 0.11
        tie = np.array([[0, 0, 3, 1], [1, 0, 4, 1]], float)  # IoU exactly 0.5
        cases = [_nms_case(five[::-1].copy(), sc[::-1].copy(), 0.5, note="input in reverse order"),
                 _nms_case(tie, np.array([0.9, 0.8]), 0.5, note="IoU exactly equal to the threshold 0.5: both stay"),
                 _nms_case(chain, np.array([0.9, 0.8, 0.7]), 0.4,
                           note="a chain: box 1 is suppressed by box 0, so it cannot suppress box 2"),
                 _nms_case(five, sc, 0.5, labels=np.array([0, 1, 0, 0, 1]),
                           note="per class: boxes of different classes never suppress each other"),
                 _nms_case(np.zeros((0, 4)), np.zeros(0), 0.5, note="no boxes: an empty integer array")]
        for n, th, C in ((12, 0.5, None), (20, 0.3, None), (15, 0.5, 3), (30, 0.45, 2)):
            b, s, l = _cluster_boxes(rng, n, C or 1)
            cases.append(_nms_case(b, s, th, labels=None if C is None else l))
    run_check("nms", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- average precision

AP_RECIPE = ("sort the detections by decreasing score (stable); after the k-th, TP_k = matches so far, recall_k = "
             "TP_k / n_gt, precision_k = TP_k / k; the envelope p_interp(k) = max of precision_j over j >= k; AP = "
             "mean over the 101 recall levels r = 0, 0.01, ..., 1 of p_interp at the first k with recall_k >= r "
             "(0 when recall never reaches r).")
NO_ENVELOPE = ("your AP uses the raw precision at each recall level: take the monotone envelope first, the best "
               "precision at this recall or any higher one (np.maximum.accumulate over the reversed precision).")
RECALL_DETS = ("your recall divides by the number of detections: recall is the fraction of the GROUND-TRUTH objects "
               "found, TP_k / n_gt.")
AP_UNSORTED = "your AP follows the detections in input order: rank them by decreasing score first."
ELEVEN = ("your AP averages 11 recall levels (0, 0.1, ..., 1, PASCAL VOC 2007): this course uses COCO's 101 levels "
          "0, 0.01, ..., 1.")
AREA = ("your AP is the area under the envelope (PASCAL VOC 2010+): COCO samples the envelope at the 101 recall levels "
        "0, 0.01, ..., 1 and averages.")


def ap_reference(scores, is_tp, n_gt, *, envelope=True, recall="gt", sort=True, levels=101, area=False):
    scores = np.asarray(scores, np.float64)
    tp = np.asarray(is_tp, bool)
    if sort:
        o = np.argsort(-scores, kind="stable")
        tp = tp[o]
    k = len(tp)
    if k == 0:
        return 0.0
    ctp = np.cumsum(tp).astype(np.float64)
    rec = ctp / (n_gt if recall == "gt" else k)
    prec = ctp / np.arange(1, k + 1)
    if envelope:
        prec = np.maximum.accumulate(prec[::-1])[::-1]
    if area:
        r = np.concatenate([[0.0], rec])
        return float(np.sum((r[1:] - r[:-1]) * prec))
    thr = np.linspace(0, 1, levels)
    first = np.searchsorted(rec, thr, side="left")
    ok = first < k
    q = np.zeros(levels)
    q[ok] = prec[first[ok]]
    return float(q.mean())


def _ap_case(scores, is_tp, n_gt, note=""):
    scores = np.asarray(scores, np.float64)
    is_tp = np.asarray(is_tp, bool)
    expected = ap_reference(scores, is_tp, n_gt)

    def variants():
        found = [(NO_ENVELOPE, dict(envelope=False)), (RECALL_DETS, dict(recall="dets")), (AP_UNSORTED, dict(sort=False)),
                 (ELEVEN, dict(levels=11)), (AREA, dict(area=True))]
        return [Variant(h, {"AP": ap_reference(scores, is_tp, n_gt, **kw)}) for h, kw in found]

    return Case(args=[("scores", scores), ("is_tp", is_tp), ("n_gt", n_gt)],
                outputs=[Out("AP", expected, kind="scalar")],
                describe=f"{len(scores)} detections, matches {is_tp.astype(int).tolist()[:12]}"
                         f"{'...' if len(scores) > 12 else ''}, n_gt={n_gt}",
                note=note, variants=variants, hint=AP_RECIPE)


@forbids(*FORBIDDEN)
def average_precision(func, hidden=False, seed=0):
    """Check ``average_precision(scores, is_tp, n_gt) -> float``."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_ap_case([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 1, 0], 4, note="the worked example of the text"),
                 _ap_case([0.9, 0.8], [1, 1], 2, note="two right answers: AP 1")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_ap_case([0.6, 0.9, 0.7, 0.8], [1, 0, 1, 1], 5, note="scores not sorted; one object never found"),
                 _ap_case([0.9, 0.8, 0.7, 0.6], [0, 0, 1, 1], 2, note="the precision rises late: the envelope matters"),
                 _ap_case([0.9, 0.8, 0.7], [1, 0, 0], 1, note="one object, three detections: recall counts the objects"),
                 _ap_case([], [], 3, note="no detections: AP 0.0")]
        for k, n_gt in ((10, 6), (30, 20), (50, 12), (8, 8)):
            s = rng.permutation(np.round(np.linspace(0.05, 0.99, k), 4))
            t = rng.random(k) < 0.6
            cases.append(_ap_case(s, t, max(n_gt, int(t.sum()))))
    run_check("average_precision", func, cases, hidden=hidden)
