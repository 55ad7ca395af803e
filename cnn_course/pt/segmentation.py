"""Semantic segmentation metrics and losses in PyTorch, the twin of ``cnn_course.ref.segmentation``.

Metrics (on integer label maps of any shape, pooled over all pixels, NaN for a class in
neither pred nor target and left out of the means; see ``cnn_course.ref.segmentation``):
``confusion_matrix``, ``pixel_accuracy``, ``per_class_iou``, ``dice``, ``mean_iou``, ``mean_dice``.

Losses (on raw scores, differentiable):

* ``dice_loss``: 1 - mean over classes of the *soft* Dice, (2 Σ p·t + smooth) / (Σ p + Σ t + smooth),
  with p the predicted probabilities (softmax over the classes; a sigmoid when there is one
  output channel) and t the one-hot target, the sums over the batch and every pixel. The
  metric's 0/0 = NaN cannot go into a loss: ``smooth`` (default 1) makes an absent class,
  correctly predicted absent, score 1 (nothing to gain) and keeps the gradient finite.
* ``dice_ce_loss``: cross-entropy + Dice. Cross-entropy gives every pixel a steady gradient
  from the start; Dice looks at each class as a whole, so a small structure is not drowned by
  the background.
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

from .. import _validate

__all__ = ["confusion_matrix", "dice", "dice_ce_loss", "dice_loss", "mean_dice", "mean_iou", "per_class_iou",
           "pixel_accuracy"]


def _check_labels(pred, target, num_classes=None):
    for name, a in (("pred", pred), ("target", target)):
        if not isinstance(a, torch.Tensor):
            raise ValueError(f"{name} must be a torch tensor of class labels, got {type(a).__name__}")
        if a.dtype.is_floating_point or a.dtype.is_complex:
            raise ValueError(f"{name} must hold integer class labels (take the argmax over the class axis "
                             f"of the scores first), got dtype {a.dtype}")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape (one label per pixel), got "
                         f"pred {tuple(pred.shape)} and target {tuple(target.shape)}")
    if pred.numel() == 0:
        raise ValueError("pred and target are empty: there is no pixel to score")
    if num_classes is not None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        for name, a in (("pred", pred), ("target", target)):
            lo, hi = int(a.min()), int(a.max())
            if lo < 0 or hi >= num_classes:
                raise ValueError(f"{name} labels must lie in 0 .. {num_classes - 1} (num_classes={num_classes}), "
                                 f"got values from {lo} to {hi}")
    return pred.long(), target.long()


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts (num_classes, num_classes), int64: entry [t, p] = pixels of true class t predicted p."""
    pred, target = _check_labels(pred, target, num_classes)
    k = int(num_classes)
    return torch.bincount((target * k + pred).flatten(), minlength=k * k).reshape(k, k)


def pixel_accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of pixels whose predicted class is the true class."""
    pred, target = _check_labels(pred, target)
    return (pred == target).double().mean().item()


def _scores(pred, target, num_classes, ignore_background, kind):
    cm = confusion_matrix(pred, target, num_classes).double()
    tp = cm.diagonal()
    fp, fn = cm.sum(0) - tp, cm.sum(1) - tp
    num, den = (tp, tp + fp + fn) if kind == "iou" else (2 * tp, 2 * tp + fp + fn)
    scores = torch.where(den > 0, num / den.clamp(min=1), torch.full_like(num, float("nan")))
    if ignore_background:
        if num_classes < 2:
            raise ValueError("ignore_background=True needs num_classes >= 2 (class 0 is the background)")
        return scores[1:]
    return scores


def per_class_iou(pred, target, num_classes: int, ignore_background: bool = False) -> torch.Tensor:
    """IoU of every class, float64 (num_classes,) (classes 1.. with ignore_background); NaN if absent from both."""
    return _scores(pred, target, num_classes, ignore_background, "iou")


def dice(pred, target, num_classes: int, ignore_background: bool = False) -> torch.Tensor:
    """Dice of every class, float64 (num_classes,) (classes 1.. with ignore_background); NaN if absent from both."""
    return _scores(pred, target, num_classes, ignore_background, "dice")


def _nanmean(scores: torch.Tensor) -> float:
    ok = ~torch.isnan(scores)
    return scores[ok].mean().item() if ok.any() else float("nan")


def mean_iou(pred, target, num_classes: int, ignore_background: bool = False) -> float:
    """Mean of :func:`per_class_iou` over the classes that occur."""
    return _nanmean(per_class_iou(pred, target, num_classes, ignore_background))


def mean_dice(pred, target, num_classes: int, ignore_background: bool = False) -> float:
    """Mean of :func:`dice` over the classes that occur."""
    return _nanmean(dice(pred, target, num_classes, ignore_background))


def _check_scores(logits, target):
    if not isinstance(logits, torch.Tensor) or logits.dim() < 2:
        raise ValueError("logits must be a tensor (N, K, *spatial) of raw class scores")
    _validate.check_float(logits, "logits")
    if not isinstance(target, torch.Tensor) or target.dtype.is_floating_point:
        raise ValueError("target must be an integer tensor (N, *spatial) of class labels")
    want = (logits.shape[0],) + tuple(logits.shape[2:])
    if tuple(target.shape) != want:
        raise ValueError(f"target must have shape (N, *spatial) = {want} to match logits "
                         f"{tuple(logits.shape)} (N, K, *spatial), got {tuple(target.shape)}")
    K = logits.shape[1]
    hi = 1 if K == 1 else K - 1
    if target.numel() and (int(target.min()) < 0 or int(target.max()) > hi):
        raise ValueError(f"target labels must lie in 0 .. {hi} for {K} output channel(s), got values from "
                         f"{int(target.min())} to {int(target.max())}")
    return K


def dice_loss(logits: torch.Tensor, target: torch.Tensor, ignore_background: bool = False,
              smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice loss: 1 - mean_k (2 Σ p_k t_k + smooth) / (Σ p_k + Σ t_k + smooth).

    logits: (N, K, *spatial) raw scores; K == 1 means one foreground channel (sigmoid, target
    0/1), K >= 2 a softmax over K classes. target: (N, *spatial) integer labels. Sums run over
    the batch and every pixel. ``ignore_background`` (K >= 2) leaves class 0 out of the mean.
    """
    K = _check_scores(logits, target)
    if K == 1:
        p = torch.sigmoid(logits)  # (N, 1, ...): the foreground class only
        t = target.unsqueeze(1).to(logits.dtype)
    else:
        p = torch.softmax(logits, dim=1)
        t = F.one_hot(target.long(), K).movedim(-1, 1).to(logits.dtype)
        if ignore_background:
            p, t = p[:, 1:], t[:, 1:]
    dims = [0] + list(range(2, logits.dim()))
    inter = (p * t).sum(dims)
    total = p.sum(dims) + t.sum(dims)
    return 1 - ((2 * inter + smooth) / (total + smooth)).mean()


def dice_ce_loss(logits: torch.Tensor, target: torch.Tensor, dice_weight: float = 1.0, ce_weight: float = 1.0,
                 ignore_background: bool = False, smooth: float = 1.0) -> torch.Tensor:
    """ce_weight · cross-entropy + dice_weight · :func:`dice_loss`.

    Cross-entropy is ``F.cross_entropy`` (mean over pixels) for K >= 2 channels and
    ``F.binary_cross_entropy_with_logits`` for one.
    """
    K = _check_scores(logits, target)
    if K == 1:
        ce = F.binary_cross_entropy_with_logits(logits[:, 0], target.to(logits.dtype))
    else:
        ce = F.cross_entropy(logits, target.long())
    return ce_weight * ce + dice_weight * dice_loss(logits, target, ignore_background, smooth)
