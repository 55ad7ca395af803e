"""Experiments on *why* batch norm helps (Santurkar et al., 2018, "How Does Batch Normalization
Help Optimization?"), on the course's own networks.

* :class:`ShiftNoise` and :func:`add_shift_noise` inject distribution shift on purpose: after
  every batch-norm layer, in train mode, each unit is scaled and shifted by random amounts
  drawn afresh at every forward pass, so the next layer's inputs move more from step to step
  than in a network without batch norm. Eval mode leaves the values unchanged.
* :func:`distribution_shift` turns a watched unit's percentiles (``RunHistory.watch_values``
  of :func:`cnn_course.pt.experiments.compare_runs`) into one number: how far the median
  moves between two recordings, in units of the distribution's width.
* :func:`loss_along_gradient` measures how well the gradient predicts the loss a step away:
  the loss and the gradient after steps of several sizes along the negative gradient.
"""

from __future__ import annotations

import copy
import numbers
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .batchnorm import _BatchNorm

__all__ = ["ShiftNoise", "add_shift_noise", "distribution_shift", "StepProbe", "loss_along_gradient"]


def _check_range(scale) -> tuple[float, float]:
    ok = (isinstance(scale, (tuple, list)) and len(scale) == 2
          and all(isinstance(s, numbers.Real) and not isinstance(s, bool) for s in scale))
    if not ok or not 0 < scale[0] <= scale[1]:
        raise ValueError(f"scale must be a pair (low, high) with 0 < low <= high, got {scale!r}")
    return float(scale[0]), float(scale[1])


class ShiftNoise(nn.Module):
    """Random per-unit scale and shift, new at every train-mode forward pass.

    Input (N, C) or (N, C, ...); output of the same shape. In train mode, unit (channel) c is
    multiplied by s_c, log-uniform in ``scale`` = (low, high), and shifted by m_c ~ N(0,
    ``shift``²), the same for every example of the batch and drawn again at the next call.
    Eval mode is the identity. ``seed`` seeds the module's own generator (CPU), so a run
    repeats exactly and the noise does not consume torch's global random numbers.
    """

    def __init__(self, num_features: int, scale=(0.7, 1.4), shift: float = 0.5, seed: int = 0):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        if isinstance(shift, bool) or not isinstance(shift, numbers.Real) or shift < 0:
            raise ValueError(f"shift must be a non-negative number, got {shift!r}")
        self.num_features, self.scale, self.shift = num_features, _check_range(scale), float(shift)
        self.generator = torch.Generator().manual_seed(int(seed))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[1] != self.num_features:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"ShiftNoise({self.num_features}) expects input (N, {self.num_features}, ...), got {got}")
        if not self.training:
            return x
        low, high = self.scale
        u = torch.rand(self.num_features, generator=self.generator, dtype=torch.float64)
        s = low * (high / low) ** u
        m = self.shift * torch.randn(self.num_features, generator=self.generator, dtype=torch.float64)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return x * s.to(x).reshape(shape) + m.to(x).reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, scale={self.scale}, shift={self.shift}"


def add_shift_noise(model: nn.Module, scale=(0.7, 1.4), shift: float = 0.5, seed: int = 0) -> nn.Module:
    """Put a :class:`ShiftNoise` right after every batch-norm layer of ``model`` (the course's
    and torch's ``BatchNorm1d``/``2d``), in place: each becomes ``nn.Sequential(bn, noise)``
    under the same name, so named layers such as ``bn3`` keep their names. The k-th noise
    module is seeded with ``seed + k``. Returns ``model``; raises ValueError when it has no
    batch-norm layer."""
    found = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (_BatchNorm, nn.modules.batchnorm._BatchNorm)):
                noise = ShiftNoise(child.num_features, scale, shift, seed + found)
                setattr(parent, name, nn.Sequential(child, noise))
                found += 1
    if not found:
        raise ValueError(f"{type(model).__name__} has no batch-norm layer to add noise after")
    return model


def distribution_shift(run) -> float:
    """Mean of |median(t) − median(t − 1)| / (width at t) over the recordings of a watched unit.

    run: a ``RunHistory`` (or dict) with ``watch_values`` of shape (T, P), T >= 2 recordings
    of P percentiles, P odd (e.g. the 15th, 50th and 85th): the median is the middle column,
    the width the outermost columns' difference. 0 means a distribution that never moves; 1
    means the median jumps by a whole band width between two recordings.
    """
    values = np.asarray(run["watch_values"] if isinstance(run, dict) else run.watch_values, dtype=float)
    if values.ndim != 2 or values.shape[0] < 2 or values.shape[1] % 2 == 0:
        raise ValueError(f"expected watch_values of shape (T, P) with T >= 2 and P odd, got {values.shape}")
    mid = values.shape[1] // 2
    width = values[1:, -1] - values[1:, 0]
    return float(np.mean(np.abs(np.diff(values[:, mid])) / np.maximum(width, 1e-12)))


@dataclass
class StepProbe:
    """One step of :func:`loss_along_gradient`: its size ``eta``, the loss before (``loss0``)
    and after (``loss``), and ``grad_change`` = ‖g(after) − g(before)‖ / ‖g(before)‖."""

    eta: float
    loss0: float
    loss: float
    grad_change: float


def loss_along_gradient(model: nn.Module, x, y, step_sizes) -> list[StepProbe]:
    """Loss and gradient after one plain gradient step θ − η·g for every η in ``step_sizes``.

    model: a classifier (left untouched: a copy is probed, in train mode, so batch-norm layers
    use the batch's statistics, as in training); x: (N, ...) float, y: (N,) labels, one
    batch (NumPy or torch); g is the gradient of the mean cross-entropy on that batch. A
    smooth loss landscape gives a loss that keeps falling and a gradient that changes little
    over the step. Returns one :class:`StepProbe` per step size, in order.
    """
    steps = [float(s) for s in step_sizes]
    if not steps or any(not s > 0 for s in steps):
        raise ValueError(f"step_sizes must be positive numbers, got {step_sizes!r}")
    probe = copy.deepcopy(model).train()
    params = [p for p in probe.parameters() if p.requires_grad]
    device = params[0].device if params else torch.device("cpu")
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(device)
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).to(device).long()
    if x.shape[0] != y.shape[0] or y.ndim != 1:
        raise ValueError(f"expected x (N, ...) and y (N,), got {tuple(x.shape)} and {tuple(y.shape)}")

    def loss_and_grad():
        for p in params:
            p.grad = None
        loss = F.cross_entropy(probe(x), y)
        loss.backward()
        return loss.item(), [p.grad.detach().clone() for p in params]

    start = [p.detach().clone() for p in params]
    loss0, g0 = loss_and_grad()
    norm0 = torch.sqrt(sum((g ** 2).sum() for g in g0)).item()
    out = []
    for eta in steps:
        with torch.no_grad():
            for p, p0, g in zip(params, start, g0):
                p.copy_(p0 - eta * g)
        loss, g1 = loss_and_grad()
        change = torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(g1, g0))).item()
        out.append(StepProbe(eta, loss0, loss, change / norm0 if norm0 > 0 else float("nan")))
    return out
