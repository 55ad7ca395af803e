"""Figures of the ResNet notebook: gradient norms per layer, and plain vs residual networks
of growing depth (training error against depth, and the loss curves of every run)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._common import _finish
from .batchnorm import _bn_moving_average

__all__ = ["plot_gradient_norms", "plot_depth_experiment"]


def _get(obj, name):
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def plot_gradient_norms(curves: dict, title: str | None = None):
    """One line per network: the norm of the weight gradient of each layer (log scale)
    against the layer's position (1 = the first layer after the input).

    curves: ``{label: [LayerGradient, ...]}`` as returned by
    ``cnn_course.pt.resnet_experiments.gradient_norms`` (or dicts with ``index`` and ``norm``).
    Plain networks are drawn dashed (a label starting with "plain"). Returns the figure.
    """
    if not curves:
        raise ValueError("curves is empty: expected {label: gradient_norms(...)}")
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for k, (label, rows) in enumerate(curves.items()):
        idx = np.array([_get(r, "index") for r in rows])
        norms = np.array([_get(r, "norm") for r in rows], dtype=float)
        ax.semilogy(idx, norms, "--" if str(label).startswith("plain") else "-", color=f"C{k}", marker=".",
                    label=label)
    ax.set_xlabel("layer (1 = next to the input)")
    ax.set_ylabel("‖∂L/∂W‖ at initialisation")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _finish(fig, title, ax)


def plot_depth_experiment(runs, smooth: int = 10, title: str | None = None):
    """Left: training error (%) after the same budget against depth, plain and residual.
    Right: the training loss of every mini-batch step (trailing mean over ``smooth`` steps).

    runs: the ``DepthRun`` list of ``cnn_course.pt.resnet_experiments.depth_experiment``
    (attributes or dict keys ``depth``, ``plain``, ``train_error`` and ``history.step_loss``).
    Returns the figure (two axes).
    """
    if not runs:
        raise ValueError("runs is empty: expected depth_experiment(...)'s list")
    fig, (ax_err, ax_loss) = plt.subplots(1, 2, figsize=(11, 3.8))
    depths = sorted({_get(r, "depth") for r in runs})
    colours = {d: f"C{k}" for k, d in enumerate(depths)}
    for is_plain, style, name in ((True, "--o", "plain"), (False, "-o", "residual")):
        rows = sorted((r for r in runs if bool(_get(r, "plain")) == is_plain), key=lambda r: _get(r, "depth"))
        if rows:
            ax_err.plot([_get(r, "depth") for r in rows], [100 * _get(r, "train_error") for r in rows], style,
                        color="tab:red" if is_plain else "tab:blue", label=name)
        for r in rows:
            losses = np.asarray(_get(_get(r, "history"), "step_loss"), dtype=float)
            if len(losses):
                ax_loss.plot(np.arange(1, len(losses) + 1), _bn_moving_average(losses, smooth), "--" if is_plain else "-",
                             color=colours[_get(r, "depth")], label=f"{name}-{_get(r, 'depth')}")
    ax_err.set_xlabel("depth (weight layers)")
    ax_err.set_ylabel("training error (%)")
    ax_err.set_xticks(depths)
    ax_err.grid(True, alpha=0.3)
    ax_err.legend()
    ax_err.set_title("after the same training budget")
    ax_loss.set_xlabel("mini-batch step")
    ax_loss.set_ylabel("training loss")
    ax_loss.grid(True, alpha=0.3)
    ax_loss.legend(fontsize="small", ncol=2)
    ax_loss.set_title("training loss (dashed: plain)")
    return _finish(fig, title)
