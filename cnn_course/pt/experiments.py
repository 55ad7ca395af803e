"""Quiet, reproducible training runs for side-by-side comparisons (batch norm, learning rates).

``compare_runs`` trains several models at several learning rates from the same seed and
returns one :class:`RunHistory` per run: the loss of every mini-batch step, per-epoch
train/test metrics and, optionally, how the distribution of one unit's values (the input
of a chosen module, e.g. a ReLU) moves during training. ``batch_stat_accuracy`` measures
what a batch-normalised network would score if it kept using mini-batch statistics at
test time instead of its running averages.

Like :func:`cnn_course.pt.train.fit`, every run is cut short under nbgrader
(``cnn_course.grading_run()``): one epoch on the first ``GRADING_SUBSET`` examples.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate, grading_run
from ..numerics import portable_cpu
from .device import default_device
from .train import GRADING_ENV_VAR, GRADING_SUBSET, History, _aligned, _as_tensors, _make_optimizer, evaluate

__all__ = ["RunHistory", "train_run", "compare_runs", "activation_modules", "batch_stat_accuracy",
           "ACTIVATIONS"]

#: Module types that :func:`activation_modules` treats as non-linearities.
ACTIVATIONS = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.ELU, nn.GELU)


@dataclass
class RunHistory(History):
    """A :class:`~cnn_course.pt.train.History` plus what a comparison needs.

    ``label`` and ``lr`` name the run. ``step_loss`` holds the cross-entropy of every
    mini-batch step (len = epochs · batches per epoch). When a module was watched,
    ``watch_steps[k]`` is a step number (0-based) and ``watch_values[k]`` the
    ``percentiles`` of the watched unit's values on that step's mini-batch
    (shape (len(watch_steps), len(percentiles)) once converted with ``np.array``).
    ``model`` is the trained model (left out of the repr).
    """

    label: str = ""
    lr: float = 0.0
    step_loss: list[float] = field(default_factory=list)
    percentiles: tuple[float, ...] = ()
    watch_steps: list[int] = field(default_factory=list)
    watch_values: list[list[float]] = field(default_factory=list)
    model: nn.Module | None = field(default=None, repr=False, compare=False)


def activation_modules(model: nn.Module) -> list[nn.Module]:
    """The non-linearity modules of ``model`` (types in ``ACTIVATIONS``), in forward order
    of registration. Their input is a layer's pre-activation: Z, or BN's output when the
    layer is batch-normalised."""
    found = [m for m in model.modules() if isinstance(m, ACTIVATIONS)]
    if not found:
        raise ValueError(f"{type(model).__name__} has no activation modules ({', '.join(a.__name__ for a in ACTIVATIONS)}); "
                         "pass the module to watch explicitly")
    return found


def _short_run(train, test, epochs: int):
    """The data and epochs of a run: all of them, or the grading short run."""
    if not grading_run():
        return train, test, epochs, False
    train = (train[0][:GRADING_SUBSET], train[1][:GRADING_SUBSET])
    if test is not None:
        test = (test[0][:GRADING_SUBSET], test[1][:GRADING_SUBSET])
    return train, test, 1, True


def _short_run_line(n: int) -> str:
    return f"{GRADING_ENV_VAR} is set: short run (1 epoch on {n} examples); training is not graded"


def _check_run_args(epochs, lr, batch_size, watch_every, percentiles) -> tuple[float, ...]:
    _validate.check_positive_int(epochs, "epochs")
    _validate.check_positive_int(batch_size, "batch_size")
    _validate.check_positive_int(watch_every, "watch_every")
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    percentiles = tuple(float(p) for p in percentiles)
    if not percentiles or any(not 0 <= p <= 100 for p in percentiles):
        raise ValueError(f"percentiles must be numbers in [0, 100], got {percentiles}")
    return percentiles


def _watcher(history: RunHistory, unit: int, every: int, step: list[int]):
    """A forward pre-hook that stores percentiles of input[:, unit] every ``every`` steps."""
    q = torch.tensor(history.percentiles, dtype=torch.float64) / 100

    def hook(module, inputs):
        if not module.training or step[0] % every:
            return
        x = inputs[0].detach()
        if x.ndim < 2 or not 0 <= unit < x.shape[1]:
            raise ValueError(f"watch_unit={unit} is not a unit of the watched input of shape {tuple(x.shape)}")
        values = x[:, unit].reshape(-1).double()
        history.watch_steps.append(step[0])
        history.watch_values.append(torch.quantile(values, q.to(values.device)).tolist())

    return hook


def _train(model, train, test, *, epochs, lr, batch_size, seed, optimizer, device, watch, watch_unit,
           watch_every, percentiles, label) -> RunHistory:
    x_train, y_train = _as_tensors(train, "train")
    if test is not None:
        x_test, y_test = _as_tensors(test, "test")
    model.to(device)
    x_train, y_train = x_train.to(device), y_train.to(device)
    opt = _make_optimizer(optimizer, model.parameters(), lr)
    shuffler = torch.Generator().manual_seed(seed)  # CPU generator: the same order on any device
    history = RunHistory(device=device.type, label=label, lr=float(lr), percentiles=percentiles, model=model)
    step = [0]
    handle = watch.register_forward_pre_hook(_watcher(history, watch_unit, watch_every, step)) if watch else None
    n = len(x_train)
    start_time = time.perf_counter()
    with portable_cpu(device):  # convolutions off oneDNN/NNPACK on the CPU: same bits on every CPU
        try:
            for _ in range(epochs):
                model.train()
                order = torch.randperm(n, generator=shuffler).to(device)
                total_loss, correct = 0.0, 0
                for start in range(0, n, batch_size):
                    idx = order[start:start + batch_size]
                    logits = model(x_train[idx])
                    loss = F.cross_entropy(logits, y_train[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    history.step_loss.append(loss.item())
                    total_loss += history.step_loss[-1] * len(idx)
                    correct += (logits.argmax(1) == y_train[idx]).sum().item()
                    step[0] += 1
                history.train_loss.append(total_loss / n)
                history.train_acc.append(correct / n)
                if test is not None:
                    loss_t, acc_t = evaluate(model, x_test, y_test, batch_size=max(batch_size, 512), device=device)
                    history.test_loss.append(loss_t)
                    history.test_acc.append(acc_t)
        finally:
            if handle is not None:
                handle.remove()
    history.seconds = time.perf_counter() - start_time
    return history


def train_run(model: nn.Module, train, test=None, *, epochs: int, lr: float, batch_size: int, seed: int = 0,
              optimizer="sgd", device=None, watch: nn.Module | None = None, watch_unit: int = 0,
              watch_every: int = 10, percentiles=(15, 50, 85), label: str = "") -> RunHistory:
    """Train ``model`` with cross-entropy like :func:`~cnn_course.pt.train.fit`, silently.

    train, test: ``(x, y)`` with x (N, ...) float and y (N,) integer labels (NumPy or torch).
    optimizer: "sgd" (momentum 0.9), "adam", or a callable ``optimizer(params, lr=lr)``.
    Mini-batches are shuffled by a generator seeded with ``seed`` (the last one may be
    smaller); the model's initial weights are the caller's business (seed before building).
    watch: optional module of ``model`` whose *input* (N, D) or (N, C, ...) is recorded:
    every ``watch_every`` training steps the ``percentiles`` of ``input[:, watch_unit]``
    (over the mini-batch, and over H, W for a conv activation) are stored.
    Returns a :class:`RunHistory`. Under nbgrader the run is one epoch on the first
    ``GRADING_SUBSET`` examples and one line says so.
    """
    percentiles = _check_run_args(epochs, lr, batch_size, watch_every, percentiles)
    train, test, epochs, short = _short_run(train, test, epochs)
    if short:
        print(_short_run_line(len(train[0])))
    device = default_device() if device is None else torch.device(device)
    return _train(model, train, test, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                  optimizer=optimizer, device=device, watch=watch, watch_unit=watch_unit,
                  watch_every=watch_every, percentiles=percentiles, label=label)


def _fmt_lr(lr: float) -> str:
    return f"{lr:g}"


def compare_runs(builders: dict[str, Callable[[], nn.Module]], train, test, *, lrs, epochs: int,
                 batch_size: int, seed: int = 0, optimizer="sgd", device=None,
                 watch: Callable[[nn.Module], nn.Module] | None = None, watch_unit: int = 0,
                 watch_every: int = 10, percentiles=(15, 50, 85)) -> dict[tuple[str, float], RunHistory]:
    """Train every model of ``builders`` at every learning rate of ``lrs``, all from ``seed``.

    builders: ``{label: build}``, each ``build()`` returning a fresh model; torch's global
    generator is seeded with ``seed`` right before each call, so a model starts from the
    same weights at every learning rate. train, test: ``(x, y)`` as in :func:`train_run`.
    watch: optional ``watch(model) -> module`` choosing the module whose input is recorded
    (see :func:`train_run`), e.g. ``lambda m: activation_modules(m)[5]``.
    Prints one line per run (final train loss, test accuracy, wall time as "(1.2 s)").
    Returns ``{(label, lr): RunHistory}`` in the order label by label, lr by lr.
    """
    from .train import set_seed

    if not builders:
        raise ValueError("builders must name at least one model, got an empty dict")
    lrs = list(lrs)
    if not lrs:
        raise ValueError("lrs must hold at least one learning rate")
    for lr in lrs:
        percentiles = _check_run_args(epochs, lr, batch_size, watch_every, percentiles)
    train, test, epochs, short = _short_run(train, test, epochs)
    if short:
        print(_short_run_line(len(train[0])))
    device = default_device() if device is None else torch.device(device)
    width = max(len(label) for label in builders)
    lr_width = max(len(_fmt_lr(lr)) for lr in lrs)
    runs = {}
    for label, build in builders.items():
        for lr in lrs:
            set_seed(seed)
            model = build()
            history = _train(model, train, test, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                             optimizer=optimizer, device=device, watch=watch(model) if watch else None,
                             watch_unit=watch_unit, watch_every=watch_every, percentiles=percentiles,
                             label=label)
            line = f"{label:<{width}}  lr {_fmt_lr(lr):<{lr_width}}  final train loss {history.train_loss[-1]:.4f}"
            if history.test_acc:
                line += f"  test acc {100 * history.test_acc[-1]:.1f}%"
            print(line + f"  ({history.seconds:.1f} s)")
            runs[(label, float(lr))] = history
    return runs


@torch.no_grad()
def batch_stat_accuracy(model: nn.Module, x, y, batch_size: int, order=None, device=None) -> float:
    """Accuracy of ``model`` when every batch-norm layer normalises with the statistics of
    the test batch itself (train-mode BN) instead of its running averages.

    x: (N, ...) float, y: (N,) labels; ``order``: optional permutation of range(N) (e.g.
    ``np.argsort(y)`` for batches that hold a single class). Batches are consecutive
    slices of ``batch_size`` >= 2 examples in that order; a last batch of one example joins
    the previous one (a single example has no batch statistics). The model is copied, so its
    running statistics and mode are left untouched. Returns a fraction in [0, 1].
    """
    batch_size = _validate.check_positive_int(batch_size, "batch_size")
    if batch_size < 2:
        raise ValueError("batch_size must be at least 2: one example has no batch mean and variance "
                         "(its normalised value is 0 for every unit)")
    x, y = _as_tensors((x, y), "(x, y)")
    if order is not None:
        order = torch.as_tensor(np.asarray(order), dtype=torch.long)
        if order.shape != (len(x),) or not torch.equal(torch.sort(order).values, torch.arange(len(x))):
            raise ValueError(f"order must be a permutation of range({len(x)})")
        x, y = x[order], y[order]
    device = torch.device(device) if device is not None else next(model.parameters()).device
    probe = copy.deepcopy(model).to(device).train()
    starts = list(range(0, len(x), batch_size))
    if len(starts) > 1 and len(x) - starts[-1] == 1:
        starts.pop()
    bounds = starts[1:] + [len(x)]
    correct = 0
    with portable_cpu(device):
        for start, stop in zip(starts, bounds):
            logits = probe(_aligned(x[start:stop]).to(device))
            correct += (logits.argmax(1).cpu() == y[start:stop]).sum().item()
    return correct / len(x)
