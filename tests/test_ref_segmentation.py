"""Segmentation metrics (NumPy and torch) against loops over pixels, and the Dice losses."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_course import pt, ref

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _loop_scores(pred, target, K):
    """Independent: sets of pixel indices per class."""
    pred, target = pred.ravel().tolist(), target.ravel().tolist()
    iou, dice = [], []
    for k in range(K):
        A = {i for i, p in enumerate(pred) if p == k}
        B = {i for i, t in enumerate(target) if t == k}
        inter, union = len(A & B), len(A | B)
        iou.append(inter / union if union else math.nan)
        dice.append(2 * inter / (len(A) + len(B)) if A or B else math.nan)
    return np.array(iou), np.array(dice)


def _nanmean(a):
    a = a[~np.isnan(a)]
    return a.mean() if a.size else math.nan


@pytest.mark.parametrize("shape, K", [((2, 6, 7), 3), ((1, 5, 5), 2), ((3, 4, 4, 4), 4), ((20,), 5), ((2, 3, 3), 6)])
def test_metrics_match_loops(rng, shape, K):
    target = rng.integers(0, K, shape)
    pred = np.where(rng.random(shape) < 0.6, target, rng.integers(0, K, shape))
    if K == 6:
        pred[pred == 5] = 4  # class 5: nowhere in pred ...
        target[target == 5] = 4  # ... nor in target -> NaN
    iou, dc = _loop_scores(pred, target, K)
    for lib, conv in ((ref, np.asarray), (pt, torch.tensor)):
        p, t = conv(pred), conv(target)
        np.testing.assert_allclose(np.asarray(lib.per_class_iou(p, t, K)), iou, err_msg=lib.__name__)
        np.testing.assert_allclose(np.asarray(lib.dice(p, t, K)), dc, err_msg=lib.__name__)
        np.testing.assert_allclose(np.asarray(lib.dice(p, t, K, ignore_background=True)), dc[1:])
        np.testing.assert_allclose(np.asarray(lib.per_class_iou(p, t, K, ignore_background=True)), iou[1:])
        assert lib.mean_iou(p, t, K) == pytest.approx(_nanmean(iou))
        assert lib.mean_dice(p, t, K) == pytest.approx(_nanmean(dc))
        assert lib.mean_dice(p, t, K, ignore_background=True) == pytest.approx(_nanmean(dc[1:]))
        assert lib.pixel_accuracy(p, t) == pytest.approx(np.mean(pred == target))
        cm = np.asarray(lib.confusion_matrix(p, t, K))
        assert cm.sum() == pred.size and np.trace(cm) == (pred == target).sum()
        assert cm[1, 0] == np.sum((target == 1) & (pred == 0)), "rows are the true class, columns the prediction"
    if K == 6:
        assert np.isnan(iou[5]) and np.isnan(dc[5])


def test_hand_example():
    # 4 pixels of brain (1); predicted 3 of them plus 1 background pixel
    target = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 0, 1]])
    assert ref.dice(pred, target, 2, ignore_background=True)[0] == pytest.approx(2 * 3 / (4 + 4))
    assert ref.per_class_iou(pred, target, 2)[1] == pytest.approx(3 / 5)
    assert ref.pixel_accuracy(pred, target) == pytest.approx(6 / 8)
    # background Dice: 3 common pixels, 4 + 4 -> 0.75; mean over both classes 0.75, foreground only 0.75
    assert ref.mean_dice(pred, target, 2) == pytest.approx(0.75)
    # mostly background: the background term pushes the mean up, the foreground Dice stays low
    t = np.zeros((10, 10), int)
    t[0, :2] = 1
    p = np.zeros((10, 10), int)
    p[0, 1:3] = 1
    assert ref.dice(p, t, 2, ignore_background=True)[0] == pytest.approx(0.5)
    assert ref.mean_dice(p, t, 2) > 0.7


def test_both_empty_is_nan_and_left_out():
    empty = np.zeros((4, 4), int)
    assert np.isnan(ref.dice(empty, empty, 2, ignore_background=True)[0])
    assert np.isnan(ref.mean_dice(empty, empty, 2, ignore_background=True))
    assert ref.mean_dice(empty, empty, 2) == 1.0  # the background is perfect; the absent class is left out
    assert np.isnan(pt.mean_iou(torch.zeros(3, 3, dtype=torch.long), torch.zeros(3, 3, dtype=torch.long), 2, True))
    # predicted something where nothing is: 0, not NaN
    p = empty.copy()
    p[0, 0] = 1
    assert ref.dice(p, empty, 2)[1] == 0.0


def test_metric_errors():
    with pytest.raises(ValueError, match="argmax"):
        ref.dice(np.zeros((2, 2)), np.zeros((2, 2), int), 2)
    with pytest.raises(ValueError, match="same shape"):
        ref.dice(np.zeros((2, 2), int), np.zeros((2, 3), int), 2)
    with pytest.raises(ValueError, match=r"0 \.\. 1"):
        ref.per_class_iou(np.full((2, 2), 2), np.zeros((2, 2), int), 2)
    with pytest.raises(ValueError, match="num_classes"):
        ref.mean_iou(np.zeros((2, 2), int), np.zeros((2, 2), int), 0)
    with pytest.raises(ValueError, match="argmax"):
        pt.dice(torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.long), 2)
    with pytest.raises(ValueError, match=r"0 \.\. 2"):
        pt.dice(torch.full((2, 2), 3), torch.zeros(2, 2, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="num_classes >= 2"):
        ref.dice(np.zeros((2, 2), int), np.zeros((2, 2), int), 1, ignore_background=True)


# ---------------------------------------------------------------------------- losses


def _loop_soft_dice(logits, target, ignore_background, smooth):
    K = logits.shape[1]
    if K == 1:
        p = [torch.sigmoid(logits[:, 0])]
        t = [(target == 1).double()]
    else:
        probs = torch.softmax(logits, 1)
        ks = range(1, K) if ignore_background else range(K)
        p = [probs[:, k] for k in ks]
        t = [(target == k).double() for k in ks]
    scores = [(2 * (pk * tk).sum() + smooth) / (pk.sum() + tk.sum() + smooth) for pk, tk in zip(p, t)]
    return 1 - sum(scores) / len(scores)


@pytest.mark.parametrize("K, spatial", [(3, (5, 6)), (2, (4, 4)), (1, (6, 5)), (4, (3, 3, 3))])
@pytest.mark.parametrize("ignore_background", [False, True])
def test_dice_loss_matches_loop(K, spatial, ignore_background):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, K, *spatial, generator=g, dtype=torch.float64)
    target = torch.randint(0, max(K, 2), (2, *spatial), generator=g)
    loss = pt.dice_loss(logits, target, ignore_background=ignore_background)
    want = _loop_soft_dice(logits, target, ignore_background and K > 1, 1.0)
    torch.testing.assert_close(loss, want)
    combo = pt.dice_ce_loss(logits, target, dice_weight=0.7, ce_weight=0.3, ignore_background=ignore_background)
    ce = (F.binary_cross_entropy_with_logits(logits[:, 0], target.double()) if K == 1
          else F.cross_entropy(logits, target))
    torch.testing.assert_close(combo, 0.3 * ce + 0.7 * want)
    x = logits.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda z: pt.dice_ce_loss(z, target, ignore_background=ignore_background), (x,))


def test_dice_loss_limits():
    target = torch.tensor([[[0, 1], [1, 2]]])
    perfect = F.one_hot(target, 3).movedim(-1, 1).double() * 40 - 20
    assert pt.dice_loss(perfect, target).item() < 1e-6
    assert pt.dice_loss(-perfect, target).item() > 0.6
    # a class absent from the target and predicted absent scores 1: no loss from it
    t0 = torch.zeros(1, 2, 2, dtype=torch.long)
    logits = torch.stack([torch.full((1, 2, 2), 20.0), torch.full((1, 2, 2), -20.0)], 1)
    assert pt.dice_loss(logits, t0, ignore_background=True).item() < 1e-6


def test_loss_errors():
    with pytest.raises(ValueError, match=r"\(N, \*spatial\)"):
        pt.dice_loss(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        pt.dice_loss(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match=r"0 \.\. 2"):
        pt.dice_ce_loss(torch.zeros(2, 3, 4, 4), torch.full((2, 4, 4), 3))
