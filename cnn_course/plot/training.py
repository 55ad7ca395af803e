"""Training curves: one run's loss and accuracy per epoch, several runs side by side, and
any set of curves on one axes (costs, activation sizes...)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._common import _PATH_COLORS, _finish, _to_numpy

__all__ = ["plot_history", "plot_curves", "compare_histories"]


def _series(history, name):
    if isinstance(history, dict):
        return list(history.get(name) or [])
    return list(getattr(history, name, None) or [])


def plot_history(history):
    """Loss and accuracy curves of a training run.

    history: a ``cnn_course.pt.train.History`` (or a dict) with per-epoch lists
        ``train_loss``, ``train_acc`` and optionally ``test_loss``, ``test_acc``.
    Returns the figure (2 axes: loss, accuracy).
    """
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, key, label in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
        for split, style in (("train", "-o"), ("test", "-s")):
            ys = _series(history, f"{split}_{key}")
            if ys:
                ax.plot(range(1, len(ys) + 1), ys, style, markersize=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    ax_loss.set_title("loss per epoch")
    ax_acc.set_title("accuracy per epoch")
    return _finish(fig)


def _curve(c):
    """(x, y) from a 1-D sequence (x = 0, 1, ...) or from a pair (x, y)."""
    if isinstance(c, tuple) and len(c) == 2:
        x, yv = (_to_numpy(a).astype(float).ravel() for a in c)
    else:
        yv = _to_numpy(c).astype(float).ravel()
        x = np.arange(len(yv), dtype=float)
    if len(x) != len(yv):
        raise ValueError(f"a curve's x and y must have the same length, got {len(x)} and {len(yv)}")
    return x, yv


def plot_curves(curves, xlabel: str = "iteration", ylabel: str = "cost", title: str | None = None,
                logx: bool = False, logy: bool = False, size=(7.0, 3.6), styles=None, markers: bool = False):
    """Several curves on one axes, e.g. the cost of each run or the size of activations per layer.

    curves: {label: y} with y a 1-D sequence (drawn against 0, 1, 2, ...) or a pair (x, y).
    logx, logy: logarithmic axes (for costs spanning decades, exploding activations, ...).
    styles: optional {label: matplotlib format string}, e.g. {"SGD": "-"}.
    Returns the figure (1 axes).
    """
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict {label: y or (x, y)}")
    curves = {label: _curve(c) for label, c in curves.items()}
    fig, ax = plt.subplots(figsize=size)
    for label, (x, yv) in curves.items():
        fmt = (styles or {}).get(label, "-o" if markers else "-")
        ax.plot(x, yv, fmt, label=str(label), markersize=3, linewidth=1.4)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both" if (logx or logy) else "major")
    ax.legend(fontsize=9)
    return _finish(fig, title, ax)


def compare_histories(histories, title: str | None = None):
    """Training curves of several runs side by side (e.g. one run per optimizer).

    histories: {label: History or dict} with per-epoch lists ``train_loss`` and, when the run
        had a test set, ``test_acc`` (see ``cnn_course.pt.train.History``).
    Draws the training loss (left) and the test accuracy, or the training accuracy when there
    is no test set (right), one line per run.
    Returns the figure (2 axes: loss, accuracy).
    """
    if not isinstance(histories, dict) or not histories:
        raise ValueError("histories must be a non-empty dict {label: History}")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.8))
    acc_name = "test accuracy"
    for k, (label, h) in enumerate(histories.items()):
        color = _PATH_COLORS[k % len(_PATH_COLORS)]
        loss = _series(h, "train_loss")
        acc = _series(h, "test_acc")
        if not acc:
            acc, acc_name = _series(h, "train_acc"), "training accuracy"
        ax_loss.plot(range(1, len(loss) + 1), loss, "-o", color=color, markersize=3, label=str(label))
        ax_acc.plot(range(1, len(acc) + 1), [100 * a for a in acc], "-o", color=color, markersize=3, label=str(label))
    ax_loss.set_title("training loss per epoch")
    ax_loss.set_ylabel("cross-entropy")
    ax_acc.set_title(f"{acc_name} per epoch")
    ax_acc.set_ylabel("%")
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    return _finish(fig, title)
