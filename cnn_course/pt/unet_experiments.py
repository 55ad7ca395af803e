"""Helpers for the topic-10 notebook (U-Net): training a segmenter and scoring its boundaries.

``train_segmenter`` trains any network that maps (N, C, H, W) images to (N, K, H, W) class
scores with pixel-wise cross-entropy (Adam), seeded and deterministic on the CPU, and prints
the test Dice of the foreground after every epoch. ``boundary_band`` / ``boundary_dice``
score a prediction only near the true outline, where a blurry, coarse prediction loses and
the skip connections' fine detail should show.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from .. import grading_run
from ..numerics import portable_cpu
from .segmentation import dice as dice_torch

__all__ = ["boundary_band", "boundary_dice", "predict", "train_segmenter"]


def predict(model, x, batch_size=64):
    """Class map (N, H, W) int64 of ``model`` on x (N, C, H, W) (NumPy or torch), evaluation mode."""
    model.eval()
    x = torch.as_tensor(x)
    out = []
    with torch.no_grad(), portable_cpu(torch.device("cpu")):
        for s in range(0, len(x), batch_size):
            out.append(model(x[s:s + batch_size]).argmax(1))
    return torch.cat(out).numpy()


def train_segmenter(model, train, test, *, epochs, lr=1e-3, batch_size=16, seed=0, num_classes=2):
    """Train ``model`` on ``train = (x, y)`` (x (N, C, H, W) float32, y (N, H, W) int64) with
    pixel-wise cross-entropy and Adam; after each epoch print the train loss and the test Dice
    of the foreground classes (mean over classes 1.., pooled over all test pixels).

    Under nbgrader (``grading_run()``) one epoch on 8 slices: training is not graded.
    Returns a dict: ``loss`` and ``test_dice`` per epoch, ``seconds``.
    """
    x_tr, y_tr = (torch.as_tensor(a) for a in train)
    x_te, y_te = (torch.as_tensor(a) for a in test)
    if grading_run():
        epochs, x_tr, y_tr = 1, x_tr[:8], y_tr[:8]
        print("grading run: 1 epoch on 8 slices; training is not graded")
    torch.manual_seed(seed)
    shuffler = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"loss": [], "test_dice": []}
    start = time.perf_counter()
    with portable_cpu(torch.device("cpu")):
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(len(x_tr), generator=shuffler)
            total = 0.0
            for s in range(0, len(x_tr), batch_size):
                idx = order[s:s + batch_size]
                loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            pred = torch.as_tensor(predict(model, x_te))
            d = float(np.nanmean(dice_torch(pred, y_te, num_classes, ignore_background=True).numpy()))
            history["loss"].append(total / len(x_tr))
            history["test_dice"].append(d)
            print(f"epoch {epoch}/{epochs}  train loss {history['loss'][-1]:.4f}  test Dice {d:.4f}")
    history["seconds"] = time.perf_counter() - start
    return history


def boundary_band(mask, width=2):
    """Pixels within ``width`` pixels (city-block steps) of the outline of ``mask`` (..., H, W) bool:
    the mask dilated minus the mask eroded, slice by slice. Returns a bool array like ``mask``."""
    mask = np.asarray(mask, dtype=bool)
    flat = mask.reshape(-1, *mask.shape[-2:])
    band = np.empty_like(flat)
    for k, m in enumerate(flat):
        band[k] = (ndimage.binary_dilation(m, iterations=width)
                   & ~ndimage.binary_erosion(m, iterations=width, border_value=1))
    return band.reshape(mask.shape)


def boundary_dice(pred, target, width=2):
    """Dice of the foreground (label > 0) counted only inside the band of ``width`` pixels around
    the TRUE outline: 2 TP / (2 TP + FP + FN) over the band's pixels. Far from the outline
    almost any network is right; here the fine detail decides."""
    pred, target = np.asarray(pred) > 0, np.asarray(target) > 0
    band = boundary_band(target, width)
    tp = np.sum(pred & target & band)
    fp = np.sum(pred & ~target & band)
    fn = np.sum(~pred & target & band)
    return float(2 * tp / (2 * tp + fp + fn))
