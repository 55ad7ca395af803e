"""Semantic segmentation metrics in NumPy: pixel accuracy, per-class IoU and Dice.

Inputs are label maps of any shape, e.g. (N, H, W) or (N, D, H, W):

    pred    integer class of every pixel (the argmax over the class scores)
    target  the true class of every pixel, same shape, values in 0 .. num_classes - 1

Every metric pools the counts over ALL pixels given (the whole batch or test set), then
divides once; averaging per-image scores would give small images and empty slices the same
weight as large ones. Class 0 is the background.

For a class k, with A = pixels predicted k and B = pixels truly k:

    IoU_k  = |A ∩ B| / |A ∪ B|         = TP / (TP + FP + FN)
    Dice_k = 2 |A ∩ B| / (|A| + |B|)   = 2 TP / (2 TP + FP + FN)   (= 2 IoU / (1 + IoU))

0/0: when class k is in neither the prediction nor the target, both are 0/0. We return NaN
for it and leave it out of the means (``mean_iou``, ``mean_dice``): there was nothing to find
and nothing was claimed, so the class says nothing about this data. Counting it as 1 would
let a batch without a rare class inflate that class's score; counting it as 0 would punish a
correct "nothing here". If every class is NaN the mean is NaN.

``ignore_background=True`` scores the foreground classes 1 .. num_classes - 1 only (for a
binary mask: the Dice of the object alone); the background, usually most of the image, would
otherwise push every mean towards 1.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["confusion_matrix", "dice", "mean_dice", "mean_iou", "per_class_iou", "pixel_accuracy"]


def _check_labels(pred, target, num_classes=None):
    pred, target = np.asarray(pred), np.asarray(target)
    for name, a in (("pred", pred), ("target", target)):
        if a.dtype.kind not in "iub":
            raise ValueError(f"{name} must hold integer class labels (take the argmax over the class axis "
                             f"of the scores first), got dtype {a.dtype}")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape (one label per pixel), got "
                         f"pred {pred.shape} and target {target.shape}")
    if pred.size == 0:
        raise ValueError("pred and target are empty: there is no pixel to score")
    if num_classes is not None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        for name, a in (("pred", pred), ("target", target)):
            lo, hi = int(a.min()), int(a.max())
            if lo < 0 or hi >= num_classes:
                raise ValueError(f"{name} labels must lie in 0 .. {num_classes - 1} (num_classes={num_classes}), "
                                 f"got values from {lo} to {hi}")
    return pred.astype(np.int64, copy=False), target.astype(np.int64, copy=False)


def confusion_matrix(pred, target, num_classes):
    """Counts (num_classes, num_classes): entry [t, p] = number of pixels of true class t predicted p."""
    pred, target = _check_labels(pred, target, num_classes)
    k = int(num_classes)
    return np.bincount((target * k + pred).ravel(), minlength=k * k).reshape(k, k)


def pixel_accuracy(pred, target):
    """Fraction of pixels whose predicted class is the true class (a float in [0, 1])."""
    pred, target = _check_labels(pred, target)
    return float(np.mean(pred == target))


def _ratio(num, den):
    out = np.full(num.shape, np.nan)
    ok = den > 0
    out[ok] = num[ok] / den[ok]
    return out


def _scores(pred, target, num_classes, ignore_background, kind):
    cm = confusion_matrix(pred, target, num_classes)
    tp = np.diag(cm).astype(np.float64)
    fp = cm.sum(axis=0) - tp  # predicted k, truly something else
    fn = cm.sum(axis=1) - tp  # truly k, predicted something else
    scores = _ratio(tp, tp + fp + fn) if kind == "iou" else _ratio(2 * tp, 2 * tp + fp + fn)
    if ignore_background:
        if num_classes < 2:
            raise ValueError("ignore_background=True needs num_classes >= 2 (class 0 is the background)")
        return scores[1:]
    return scores


def per_class_iou(pred, target, num_classes, ignore_background=False):
    """IoU of every class, TP / (TP + FP + FN), float64 array (num_classes,); NaN for a class
    absent from both pred and target. ``ignore_background=True`` returns classes 1.. only."""
    return _scores(pred, target, num_classes, ignore_background, "iou")


def dice(pred, target, num_classes, ignore_background=False):
    """Dice of every class, 2 TP / (2 TP + FP + FN), float64 array (num_classes,); NaN for a class
    absent from both pred and target. ``ignore_background=True`` returns classes 1.. only
    (for a binary mask, ``dice(pred, target, 2, ignore_background=True)[0]`` is the object's Dice)."""
    return _scores(pred, target, num_classes, ignore_background, "dice")


def _nanmean(scores):
    scores = scores[~np.isnan(scores)]
    return float(scores.mean()) if scores.size else float("nan")


def mean_iou(pred, target, num_classes, ignore_background=False):
    """Mean of :func:`per_class_iou` over the classes that occur (NaNs left out)."""
    return _nanmean(per_class_iou(pred, target, num_classes, ignore_background))


def mean_dice(pred, target, num_classes, ignore_background=False):
    """Mean of :func:`dice` over the classes that occur (NaNs left out)."""
    return _nanmean(dice(pred, target, num_classes, ignore_background))
