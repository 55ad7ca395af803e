"""The 3D experiment of the 1D/3D notebook: segmenting the brain in the Colin27 MRI volume with
a small fully convolutional 3D network, against the same network in 2D applied slice by slice.

* :func:`brain_volume_split`: the T1 volume (downsampled, scaled to [0, 1]) and its brain mask,
  cut along the vertical axis into a test slab (the middle of the brain) and two training slabs
  (below and above it, with a gap): one head, so split by position, never at random.
* :func:`segmenter`: ``dims`` = 3 (Conv3d, filters f×f×f) or 2 (Conv2d on every horizontal
  slice of the volume, filters f×f): "same" convolutions with ReLUs and a final 1×1 convolution
  to 2 class scores per voxel. Input (N, 1, X, Y, Z) in both cases, output (N, 2, X, Y, Z).
* :func:`train_segmenter`: Adam on random crops of the training slabs, seeded, on the CPU without
  oneDNN (:func:`cnn_course.numerics.portable_cpu`), and the test Dice after training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..data import load_colin27
from ..numerics import portable_cpu

__all__ = ["VolumeSplit", "brain_volume_split", "SliceNet", "segmenter", "dice", "train_segmenter"]


@dataclass
class VolumeSplit:
    """t1 (X, Y, Z) float32 in [0, 1], mask (X, Y, Z) bool, the slabs as (start, stop) z ranges."""

    t1: np.ndarray
    mask: np.ndarray
    train: list
    test: tuple

    def slab(self, z_range):
        """(x (1, 1, X, Y, dz) float32 tensor, y (1, X, Y, dz) int64 tensor) for a z range."""
        a, b = z_range
        return (torch.from_numpy(np.ascontiguousarray(self.t1[None, None, :, :, a:b])),
                torch.from_numpy(np.ascontiguousarray(self.mask[None, :, :, a:b].astype(np.int64))))


def brain_volume_split(downsample: int = 4, test=(0.4, 0.6), gap: int = 1, root=None) -> VolumeSplit:
    """The Colin27 T1 volume and brain mask at 1/``downsample`` resolution on every axis, split by
    z (bottom → top): the test slab is the ``test`` fraction of the brain's z extent, the
    training slabs are the rest of the volume below and above it, ``gap`` slices away.

    The T1 is averaged over k×k×k blocks (:func:`cnn_course.data.load_colin27`) and scaled by its
    99.9th percentile; a block is labelled brain when more than half of its voxels are (the
    majority, which matches the averaged intensities better than the block's middle voxel).
    """
    k = int(downsample)
    t1 = load_colin27("t1", root, downsample=k)
    full = load_colin27("brain_mask", root).astype(np.float32)
    X, Y, Z = t1.shape
    mask = full[:X * k, :Y * k, :Z * k].reshape(X, k, Y, k, Z, k).mean(axis=(1, 3, 5)) > 0.5
    t1 = np.clip(t1 / np.percentile(t1, 99.9), 0, 1).astype(np.float32)
    zs = np.flatnonzero(mask.any(axis=(0, 1)))
    lo, hi = int(zs[0]), int(zs[-1]) + 1
    n = hi - lo
    t = (lo + int(test[0] * n), lo + int(test[1] * n))
    train = [(0, t[0] - gap), (t[1] + gap, Z)]
    return VolumeSplit(t1, mask, train, t)


class SliceNet(nn.Module):
    """A 2D network applied to every horizontal slice of (N, C, X, Y, Z): (N, K, X, Y, Z)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        N, C, X, Y, Z = x.shape
        out = self.net(x.permute(0, 4, 1, 2, 3).reshape(N * Z, C, X, Y))
        return out.reshape(N, Z, -1, X, Y).permute(0, 2, 3, 4, 1)


def segmenter(dims: int = 3, width: int = 8, layers: int = 3, f: int = 3, num_classes: int = 2) -> nn.Module:
    """``layers`` "same" convolutions (f on every axis, ``width`` channels, ReLU), then a 1×1 to
    ``num_classes``: in 3D on the volume, or (dims=2) in 2D on each horizontal slice."""
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 or 3, got {dims!r}")
    conv = nn.Conv3d if dims == 3 else nn.Conv2d
    mods, c = [], 1
    for _ in range(layers):
        mods += [conv(c, width, f, padding=f // 2), nn.ReLU()]
        c = width
    net = nn.Sequential(*mods, conv(c, num_classes, 1))
    return net if dims == 3 else SliceNet(net)


def dice(pred, target) -> float:
    """2|P ∩ T| / (|P| + |T|) of two boolean (or 0/1) arrays; 1.0 when both are empty."""
    p, t = np.asarray(pred).astype(bool), np.asarray(target).astype(bool)
    total = p.sum() + t.sum()
    return 1.0 if total == 0 else float(2 * (p & t).sum() / total)


@dataclass
class SegmentationRun:
    """What :func:`train_segmenter` returns: the trained model, the losses, the prediction on the
    whole volume (X, Y, Z) bool, the test slab's Dice and voxel accuracy, and the training time in
    seconds."""

    model: nn.Module
    losses: list = field(default_factory=list)
    prediction: np.ndarray | None = None
    test_dice: float = float("nan")
    test_accuracy: float = float("nan")
    seconds: float = 0.0


def train_segmenter(model: nn.Module, split: VolumeSplit, steps: int = 300, lr: float = 0.01,
                    crop=(24, 24, 8), batch_size: int = 4, seed: int = 0) -> SegmentationRun:
    """Adam with cross-entropy per voxel on mini-batches of ``batch_size`` random crops (x, y, z
    sizes ``crop``) of the training slabs, the learning rate falling linearly from ``lr`` to 0;
    seeded (crops from ``numpy.random.default_rng(seed)``), on the CPU without oneDNN. Then the
    whole volume is segmented (the network is fully convolutional) and the test slab scored:
    its prediction sees the voxels around it, as far as the receptive field reaches, but no
    label outside the training slabs is ever used."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    t1 = torch.from_numpy(split.t1)
    mask = torch.from_numpy(split.mask.astype(np.int64))
    X, Y, _ = t1.shape
    cx, cy, cz = crop
    starts = [z for a, b in split.train for z in range(a, b - cz + 1)]
    if not starts or cx > X or cy > Y:
        raise ValueError(f"crop {crop} does not fit the training slabs {split.train} of a volume {tuple(t1.shape)}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1 - k / steps)
    run = SegmentationRun(model)
    start = time.perf_counter()
    model.train()
    with portable_cpu():
        for _ in range(steps):
            xs, ys = [], []
            for _ in range(batch_size):
                a, b = int(rng.integers(0, X - cx + 1)), int(rng.integers(0, Y - cy + 1))
                c = starts[int(rng.integers(len(starts)))]
                xs.append(t1[a:a + cx, b:b + cy, c:c + cz])
                ys.append(mask[a:a + cx, b:b + cy, c:c + cz])
            loss = nn.functional.cross_entropy(model(torch.stack(xs)[:, None]), torch.stack(ys))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            run.losses.append(loss.item())
        run.seconds = time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            run.prediction = model(t1[None, None]).argmax(1)[0].numpy().astype(bool)
    a, b = split.test
    pred, truth = run.prediction[:, :, a:b], split.mask[:, :, a:b]
    run.test_dice = dice(pred, truth)
    run.test_accuracy = float((pred == truth).mean())
    return run
