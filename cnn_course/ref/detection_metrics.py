"""Detection metrics in NumPy: precision–recall, average precision and COCO's mean average precision.

NumPy only, with no torch twin: evaluation is bookkeeping over a few thousand boxes (sorting,
greedy matching, cumulative sums), nothing a GPU or autograd would help with. Torch tensors
are accepted too (detached and copied to the CPU).

Inputs, per image (lists of equal length, one entry per image):

    detections[i]    = (boxes (D, 4), scores (D,), labels (D,))   a detector's output
    ground_truths[i] = (boxes (G, 4), labels (G,))                the annotations

Boxes are corners (x1, y1, x2, y2) in pixels (``cnn_course.ref.boxes``), labels integer
classes. An image without boxes is an empty array (shape (0, 4), or any empty array).

The definition is COCO's (``pycocotools.cocoeval.COCOeval``, iouType ``'bbox'``, area range
'all', maxDets 100), which the tests reproduce to 1e-6 — ``stats[0]`` is
``mean_average_precision(..., COCO_IOU_THRESHOLDS)`` and ``stats[1]`` is the default
``iou_thresholds=(0.5,)``:

1. Per image and class, keep the ``max_detections`` (100) highest-scoring detections.
2. Match greedily in decreasing score order: each detection takes the still unmatched
   ground truth of that class and image with the highest IoU, if that IoU is >= the
   threshold (ties between equal IoUs go to the later ground truth, as in COCOeval); it is
   then a true positive, otherwise a false positive. A ground truth is matched at most once.
3. Rank all detections of the class over all images by score (equal scores: earlier image
   first, then the order of step 2). After the k-th detection,
   precision = TP_k / k and recall = TP_k / (number of ground truths of the class).
4. Average precision: replace each precision by the best precision at any higher recall
   (the monotone envelope), read it at the 101 recalls 0, 0.01, ..., 1 (0 past the last
   recall reached) and average.
5. mAP: the mean of AP over the IoU thresholds and over the classes that have at least one
   ground truth (a class that only has detections does not count; a class with ground truth
   and no detections counts with AP 0).

Not implemented (COCO-specific, absent from the course's data): crowd annotations and
ignored regions, and the area ranges 'small' / 'medium' / 'large'. COCO's 'all' range,
[0, 1e10] px², excludes nothing in images below 100,000 × 100,000 pixels.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .. import _validate as v
from .boxes import _iou, check_boxes, check_iou_threshold

__all__ = [
    "COCO_IOU_THRESHOLDS",
    "MAX_DETECTIONS",
    "RECALL_THRESHOLDS",
    "PrecisionRecall",
    "average_precision",
    "class_average_precisions",
    "mean_average_precision",
    "precision_recall",
]

RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)  # COCO's recThrs, bit for bit
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # COCO's iouThrs: 0.5, 0.55, ..., 0.95 ("mAP@[.5:.95]")
MAX_DETECTIONS = 100  # COCO's maxDets[-1], per image and class


class PrecisionRecall(NamedTuple):
    """One class's ranked detections: after the k-th, ``recall[k]``, ``precision[k]``; ``scores[k]`` is its score."""

    recall: np.ndarray
    precision: np.ndarray
    scores: np.ndarray


# ----------------------------------------------------------------------------------------
# Average precision of one curve
# ----------------------------------------------------------------------------------------


def average_precision(recall, precision) -> float:
    """COCO's 101-point interpolated average precision of one precision–recall curve.

    recall, precision: (K,) values after each of K ranked detections (recall non-decreasing,
    both in [0, 1]), as ``precision_recall`` returns them  ->  AP in [0, 1].

    AP = mean over r in {0, 0.01, ..., 1} of max{precision[k] : recall[k] >= r} (0 when no
    k reaches r). Taking the max over all k at or beyond the recall is the monotone precision
    envelope; without it a late dip in precision would cost area it should not. K = 0 gives 0.
    """
    recall = _as_curve(recall, "recall")
    precision = _as_curve(precision, "precision")
    if recall.shape != precision.shape:
        raise ValueError(f"recall and precision must have the same shape (K,), got {recall.shape} and {precision.shape}")
    if np.any(np.diff(recall) < 0):
        k = int(np.argmax(np.diff(recall) < 0)) + 1
        raise ValueError(f"recall must be non-decreasing along the ranking, but recall[{k}] = {recall[k]} "
                         f"< recall[{k - 1}] = {recall[k - 1]}; are the detections sorted by decreasing score?")
    if recall.size == 0:
        return 0.0
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # best precision at this recall or beyond
    first = np.searchsorted(recall, RECALL_THRESHOLDS, side="left")  # first k with recall[k] >= r
    reached = first < recall.size
    q = np.zeros(RECALL_THRESHOLDS.size)
    q[reached] = envelope[first[reached]]
    return float(q.mean())


def _as_curve(a, name: str) -> np.ndarray:
    a = _array(a, name)
    v.check_ndim(a, 1, name, "(K,)")
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    bad = ~np.isfinite(a) | (a < 0) | (a > 1)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"{name}[{k}] = {a[k]} is not in [0, 1]")
    return a


# ----------------------------------------------------------------------------------------
# Validation of the per-image lists
# ----------------------------------------------------------------------------------------


def _array(a, what: str) -> np.ndarray:
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # a torch tensor, possibly on a GPU or with grad
        a = a.detach().cpu()
    try:
        return np.asarray(a)
    except Exception as exc:  # noqa: BLE001 - anything np.asarray refuses
        raise ValueError(f"{what} must be an array, got {type(a).__name__}") from exc


def _check_boxes_of(a, what: str) -> np.ndarray:
    a = _array(a, what)
    if a.size == 0:
        return np.zeros((0, 4))
    check_boxes(a, what)
    return a.astype(np.float64)


def _check_vector(a, n: int, what: str, kind: str) -> np.ndarray:
    a = _array(a, what)
    if a.size == 0 and n == 0:
        return np.zeros(0, np.int64 if kind == "labels" else np.float64)
    v.check_ndim(a, 1, what, "(N,)")
    if a.shape[0] != n:
        raise ValueError(f"{what} must have shape ({n},), one per box, got shape {a.shape}")
    if kind == "labels":
        if a.dtype.kind not in "iu":
            raise ValueError(f"{what} must be integer class indices, got dtype {a.dtype}")
        return a.astype(np.int64)
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{what} must hold real numbers, got dtype {a.dtype}")
    finite = np.isfinite(a)
    if not finite.all():
        k = int(np.argmin(finite))
        raise ValueError(f"{what}[{k}] = {a[k]} is not finite: scores must be finite numbers")
    return a.astype(np.float64)


def _check_inputs(detections, ground_truths):
    """Return the per-image lists as float64 boxes / scores and int64 labels, validated."""
    for name, seq in (("detections", detections), ("ground_truths", ground_truths)):
        if isinstance(seq, (str, bytes, np.ndarray)) or not hasattr(seq, "__len__"):
            raise ValueError(f"{name} must be a list with one entry per image, got {type(seq).__name__}")
    if len(detections) != len(ground_truths):
        raise ValueError(f"detections and ground_truths must list the same images: got {len(detections)} "
                         f"detection entries and {len(ground_truths)} ground-truth entries")
    dets, gts = [], []
    for i, (det, gt) in enumerate(zip(detections, ground_truths)):
        if not isinstance(det, (tuple, list)) or len(det) != 3:
            raise ValueError(f"detections[{i}] must be a tuple (boxes, scores, labels), got {type(det).__name__}"
                             + (f" of length {len(det)}" if isinstance(det, (tuple, list)) else ""))
        if not isinstance(gt, (tuple, list)) or len(gt) != 2:
            raise ValueError(f"ground_truths[{i}] must be a tuple (boxes, labels), got {type(gt).__name__}"
                             + (f" of length {len(gt)}" if isinstance(gt, (tuple, list)) else ""))
        boxes = _check_boxes_of(det[0], f"detections[{i}] boxes")
        dets.append((boxes, _check_vector(det[1], len(boxes), f"detections[{i}] scores", "scores"),
                     _check_vector(det[2], len(boxes), f"detections[{i}] labels", "labels")))
        boxes = _check_boxes_of(gt[0], f"ground_truths[{i}] boxes")
        gts.append((boxes, _check_vector(gt[1], len(boxes), f"ground_truths[{i}] labels", "labels")))
    return dets, gts


def _check_thresholds(iou_thresholds) -> np.ndarray:
    if isinstance(iou_thresholds, numbers.Real) and not isinstance(iou_thresholds, bool):
        iou_thresholds = (iou_thresholds,)
    ts = [check_iou_threshold(t, "each IoU threshold") for t in np.asarray(iou_thresholds, dtype=object).ravel()]
    if not ts:
        raise ValueError("iou_thresholds must hold at least one IoU threshold, e.g. (0.5,)")
    return np.asarray(ts, dtype=np.float64)


# ----------------------------------------------------------------------------------------
# Matching
# ----------------------------------------------------------------------------------------


def _match_image(det_boxes, det_scores, gt_boxes, thresholds, max_detections):
    """Greedy matching in one image for one class.

    -> scores (D,) of the kept detections by decreasing score, tp (T, D) bool: matched at threshold t.
    """
    order = np.argsort(-det_scores, kind="stable")[:max_detections]
    scores = det_scores[order]
    T, D, G = thresholds.size, order.size, gt_boxes.shape[0]
    tp = np.zeros((T, D), bool)
    if D == 0 or G == 0:
        return scores, tp
    ious = _iou(det_boxes[order], gt_boxes)  # (D, G)
    need = np.minimum(thresholds, 1 - 1e-10)[:, None]  # COCOeval's cap: IoU 1 is matched at threshold 1
    used = np.zeros((T, G), bool)
    for d in range(D):
        ok = ~used & (ious[d] >= need)  # (T, G) candidates at every threshold at once
        value = np.where(ok, ious[d], -1.0)
        m = G - 1 - np.argmax(value[:, ::-1], axis=1)  # highest IoU; ties: the later ground truth
        hit = ok.any(axis=1)
        used[np.flatnonzero(hit), m[hit]] = True
        tp[hit, d] = True
    return scores, tp


def _class_ranking(dets, gts, label, thresholds, max_detections):
    """All detections of one class ranked by score: (scores (D,), tp (T, D), number of ground truths)."""
    scores, tps, n_gt = [], [], 0
    for (d_boxes, d_scores, d_labels), (g_boxes, g_labels) in zip(dets, gts):
        d, g = d_labels == label, g_labels == label
        n_gt += int(g.sum())
        s, tp = _match_image(d_boxes[d], d_scores[d], g_boxes[g], thresholds, max_detections)
        scores.append(s)
        tps.append(tp)
    scores = np.concatenate(scores) if scores else np.zeros(0)
    tp = np.concatenate(tps, axis=1) if tps else np.zeros((thresholds.size, 0), bool)
    order = np.argsort(-scores, kind="stable")
    return scores[order], tp[:, order], n_gt


def _curve(tp_row, n_gt):
    true_pos = np.cumsum(tp_row).astype(np.float64)
    recall = true_pos / n_gt
    precision = true_pos / np.arange(1, tp_row.size + 1)
    return recall, precision


# ----------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------


def precision_recall(detections, ground_truths, label, iou_threshold=0.5, max_detections=MAX_DETECTIONS):
    """The precision–recall curve of one class, for plotting and for ``average_precision``.

    detections: list per image of (boxes (D, 4), scores (D,), labels (D,)); ground_truths: list
    per image of (boxes (G, 4), labels (G,)); label: the class; iou_threshold in [0, 1].
    ->  PrecisionRecall(recall (K,), precision (K,), scores (K,)) over the class's K ranked
    detections (matching as in the module docstring). Recall counts the class's ground truths,
    so it ends below 1 when some are never found. Raises ValueError when the class has no
    ground truth (recall is undefined).
    """
    dets, gts = _check_inputs(detections, ground_truths)
    if isinstance(label, bool) or not isinstance(label, numbers.Integral):
        raise ValueError(f"label must be an integer class, got {label!r} ({type(label).__name__})")
    t = np.array([check_iou_threshold(iou_threshold)])
    max_detections = v.check_positive_int(max_detections, "max_detections")
    scores, tp, n_gt = _class_ranking(dets, gts, int(label), t, max_detections)
    if n_gt == 0:
        raise ValueError(f"class {label} has no ground-truth box in any image: its recall is undefined")
    recall, precision = _curve(tp[0], n_gt)
    return PrecisionRecall(recall, precision, scores)


def class_average_precisions(detections, ground_truths, iou_thresholds=(0.5,), max_detections=MAX_DETECTIONS):
    """AP of every class that has ground truth, averaged over ``iou_thresholds``: {label: AP}.

    Same inputs as ``mean_average_precision``; classes in increasing order.
    """
    dets, gts = _check_inputs(detections, ground_truths)
    thresholds = _check_thresholds(iou_thresholds)
    max_detections = v.check_positive_int(max_detections, "max_detections")
    labels = np.unique(np.concatenate([g[1] for g in gts])) if gts else np.zeros(0, np.int64)
    result = {}
    for label in labels.tolist():
        _, tp, n_gt = _class_ranking(dets, gts, label, thresholds, max_detections)
        result[label] = float(np.mean([average_precision(*_curve(row, n_gt)) for row in tp]))
    return result


def mean_average_precision(detections, ground_truths, iou_thresholds=(0.5,), max_detections=MAX_DETECTIONS) -> float:
    """COCO's mean average precision (bounding boxes, area 'all', at most 100 detections per image and class).

    detections: list, per image, of (boxes (D, 4), scores (D,), labels (D,)), boxes as corners;
    ground_truths: list, per image, of (boxes (G, 4), labels (G,)); iou_thresholds: one or more
    IoU thresholds in [0, 1] — (0.5,) gives mAP@0.5 (COCOeval's stats[1]), COCO_IOU_THRESHOLDS
    gives mAP@[.5:.95] (stats[0]).
    ->  the mean of AP over the thresholds and the classes that have ground truth (module docstring).
    Raises ValueError when no image has any ground truth (the mean would be over nothing).
    """
    aps = class_average_precisions(detections, ground_truths, iou_thresholds, max_detections)
    if not aps:
        raise ValueError("no ground-truth boxes in any image: mean average precision is undefined")
    return float(np.mean(list(aps.values())))
