"""The ResNet notebook's measurements: plain vs residual networks of growing depth.

* :func:`gradient_norms`: the norm of the loss gradient reaching each layer's weights, for
  one mini-batch, at initialisation (train mode, as in the first training step).
* :func:`depth_experiment`: plain and residual networks of several depths, each trained for
  the same budget (same data, same mini-batches, same optimizer and learning rate); reports
  the training error each reaches, measured afterwards on the training images in
  evaluation mode. :func:`depth_table` prints the runs as a table.
* :func:`halve`: images at half the resolution (2×2 average), to make the experiment fit a
  CPU budget.

The networks come from a ``builder(depth, plain)``; by default
``cnn_course.pt.models.cifar_resnet(depth, plain=plain, width=width, in_channels=...)``, the
CIFAR-style ResNet of He et al. (2016, §4.2) whose ``plain=True`` removes every shortcut. Like
the other training helpers, every run is cut short under nbgrader
(``cnn_course.grading_run()``): one epoch on the first ``GRADING_SUBSET`` examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate
from ..numerics import portable_cpu
from .device import default_device
from .experiments import RunHistory, _short_run, _short_run_line, _train
from .train import _as_tensors, evaluate, set_seed

__all__ = ["LayerGradient", "DepthRun", "gradient_norms", "depth_experiment", "depth_table", "halve",
           "default_builder"]


@dataclass
class LayerGradient:
    """One layer's weight gradient at initialisation: its name (as in ``named_parameters``),
    its position among the weight layers (1 = closest to the input) and the gradient's norm."""

    name: str
    index: int
    norm: float


@dataclass
class DepthRun:
    """One network of :func:`depth_experiment`: its depth, whether it is plain, its number of
    parameters, the training error (fraction in [0, 1]) and loss measured after training on
    the training images in evaluation mode, the test error, and the run's history."""

    depth: int
    plain: bool
    params: int
    train_error: float
    train_loss: float
    test_error: float | None
    seconds: float
    history: RunHistory = field(repr=False)

    @property
    def label(self) -> str:
        return f"{'plain' if self.plain else 'residual'}-{self.depth}"


def default_builder(width: int = 16, in_channels: int = 1, num_classes: int = 10) -> Callable[[int, bool], nn.Module]:
    """``builder(depth, plain)`` building ``cnn_course.pt.models.cifar_resnet``."""
    from .models import cifar_resnet

    def build(depth: int, plain: bool) -> nn.Module:
        return cifar_resnet(depth, num_classes=num_classes, in_channels=in_channels, plain=plain, width=width)

    return build


def halve(x) -> np.ndarray:
    """Images (N, C, H, W) at half the resolution: the mean of each 2×2 block (H, W even)."""
    x = np.asarray(x)
    _validate.check_ndim(x, 4, "x", "(N, C, H, W)")
    n, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ValueError(f"halve needs an even height and width, got x.shape={x.shape}")
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5)).astype(x.dtype)


def _weight_layers(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [(f"{name}.weight", m.weight) for name, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight is not None]


def gradient_norms(model: nn.Module, x, y, device=None) -> list[LayerGradient]:
    """The norm ``||∂L/∂W||`` of every convolution's and linear layer's weight gradient for
    the mini-batch ``(x, y)`` (cross-entropy, mean over the batch), in the order the layers
    are registered (the forward order for the course's models). The model runs in training
    mode (batch statistics, as in a training step) on a copy, so its weights, running
    statistics, gradients and mode are left untouched."""
    import copy

    device = default_device() if device is None else torch.device(device)
    probe = copy.deepcopy(model).to(device).train()
    x, y = _as_tensors((x, y), "(x, y)")
    layers = _weight_layers(probe)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Conv2d or Linear layers")
    probe.zero_grad(set_to_none=True)
    with portable_cpu(device):
        F.cross_entropy(probe(x.to(device)), y.to(device)).backward()
    return [LayerGradient(name, k, float(w.grad.norm())) for k, (name, w) in enumerate(layers, 1)]


def depth_experiment(depths, train, test=None, *, builder: Callable[[int, bool], nn.Module] | None = None,
                     epochs: int, lr: float, batch_size: int, seed: int = 0, optimizer="sgd", device=None,
                     plain=(True, False)) -> list[DepthRun]:
    """Train a plain and a residual network of every depth for the same budget.

    depths: e.g. ``(8, 20, 56)`` (the builder's depths); train, test: ``(x, y)``. Every network
    starts from ``seed`` (torch's generator is seeded right before it is built) and sees the
    same mini-batches in the same order (``epochs`` passes, ``batch_size``, ``optimizer`` at
    learning rate ``lr``). Afterwards the training error and loss are measured on the whole
    training set in evaluation mode, and the test error on ``test`` if given.
    Prints one line per network; returns the :class:`DepthRun` list, depth by depth, plain first.
    """
    depths = [_validate.check_positive_int(d, "depth") for d in depths]
    if not depths:
        raise ValueError("depths must hold at least one depth")
    builder = builder or default_builder()
    train, test, epochs, short = _short_run(train, test, epochs)
    if short:
        print(_short_run_line(len(train[0])))
    device = default_device() if device is None else torch.device(device)
    runs = []
    for depth in depths:
        for is_plain in plain:
            set_seed(seed)
            model = builder(depth, is_plain)
            label = f"{'plain' if is_plain else 'residual'}-{depth}"
            history = _train(model, train, test, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                             optimizer=optimizer, device=device, watch=None, watch_unit=0, watch_every=1,
                             percentiles=(50.0,), label=label)
            with portable_cpu(device):
                loss, acc = evaluate(model, *train, device=device)
            test_error = 1 - history.test_acc[-1] if history.test_acc else None
            run = DepthRun(depth, is_plain, sum(p.numel() for p in model.parameters()), 1 - acc, loss, test_error,
                           history.seconds, history)
            line = f"{label:<12} {run.params:>9,} parameters   training error {100 * run.train_error:5.1f}%"
            if test_error is not None:
                line += f"   test error {100 * test_error:5.1f}%"
            print(line + f"   ({history.seconds:.1f} s)")
            runs.append(run)
    return runs


def depth_table(runs: list[DepthRun]) -> str:
    """The runs as a table: one row per depth, the training error of the plain and the
    residual network side by side (and their test errors when measured)."""
    by = {(r.depth, r.plain): r for r in runs}
    depths = list(dict.fromkeys(r.depth for r in runs))
    with_test = all(r.test_error is not None for r in runs)
    head = f"{'depth':>5} | {'plain: train error':>18} | {'residual: train error':>21}"
    if with_test:
        head += f" | {'plain: test error':>17} | {'residual: test error':>20}"
    lines = [head, "-" * len(head)]
    for d in depths:
        cells = []
        for key in ("train_error", "test_error") if with_test else ("train_error",):
            for is_plain, width in ((True, 18 if key == "train_error" else 17), (False, 21 if key == "train_error" else 20)):
                r = by.get((d, is_plain))
                cells.append(f"{100 * getattr(r, key):{width - 1}.1f}%" if r is not None else " " * width)
        lines.append(f"{d:>5} | " + " | ".join(cells))
    return "\n".join(lines)
