"""Figures of the batch-norm notebook (topic 3): runs compared across learning rates,
how a unit's distribution moves during training, accuracy against batch size, histograms."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._common import _finish, _to_numpy

__all__ = ["plot_run_comparison", "plot_percentile_bands", "plot_batch_size_effect", "plot_histograms"]


def _bn_get(run, name):
    value = run.get(name) if isinstance(run, dict) else getattr(run, name, None)
    return [] if value is None else value


def _bn_moving_average(values, window: int) -> np.ndarray:
    """Trailing mean over up to ``window`` values (shorter at the start), NaNs propagate."""
    v = np.asarray(values, dtype=float)
    window = max(1, min(int(window), len(v)))
    c = np.cumsum(np.insert(v, 0, 0.0))
    out = np.empty_like(v)
    idx = np.arange(len(v))
    lo = np.maximum(idx + 1 - window, 0)
    out[:] = (c[idx + 1] - c[lo]) / (idx + 1 - lo)
    return out


def plot_run_comparison(runs, smooth: int = 20, loss_ylim=None):
    """Training curves of several models at several learning rates, one column per rate.

    runs: ``{(label, lr): run}`` as returned by ``cnn_course.pt.experiments.compare_runs``;
        each run has ``step_loss`` (one loss per mini-batch step) and ``test_acc`` (one
        accuracy in [0, 1] per epoch), as attributes or dict keys.
    smooth: the loss curves are trailing means over this many steps (the raw losses are
        drawn faintly behind them).
    loss_ylim: optional ``(low, high)`` for the loss axes.
    Top row: training loss per step; bottom row: test accuracy (%) per epoch. Each label
    keeps its colour across columns. Returns the figure (2 × number of rates axes).
    """
    if not runs:
        raise ValueError("runs is empty: expected {(label, lr): history, ...}")
    labels = list(dict.fromkeys(label for label, _ in runs))
    lrs = list(dict.fromkeys(lr for _, lr in runs))
    colours = {label: f"C{k}" for k, label in enumerate(labels)}
    fig, axes = plt.subplots(2, len(lrs), figsize=(4.6 * len(lrs), 6.4), squeeze=False, sharey="row")
    for col, lr in enumerate(lrs):
        ax_loss, ax_acc = axes[0, col], axes[1, col]
        for label in labels:
            run = runs.get((label, lr))
            if run is None:
                continue
            losses = np.asarray(_bn_get(run, "step_loss"), dtype=float)
            if len(losses):
                steps = np.arange(1, len(losses) + 1)
                ax_loss.plot(steps, losses, color=colours[label], alpha=0.15, linewidth=0.8)
                ax_loss.plot(steps, _bn_moving_average(losses, smooth), color=colours[label], label=label)
            acc = 100 * np.asarray(_bn_get(run, "test_acc"), dtype=float)
            if len(acc):
                ax_acc.plot(np.arange(1, len(acc) + 1), acc, "-o", markersize=3, color=colours[label], label=label)
        ax_loss.set_title(f"learning rate {lr:g}: training loss")
        ax_loss.set_xlabel("mini-batch step")
        ax_acc.set_title(f"learning rate {lr:g}: test accuracy")
        ax_acc.set_xlabel("epoch")
        ax_acc.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        for ax in (ax_loss, ax_acc):
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=9)
        if loss_ylim is not None:
            ax_loss.set_ylim(*loss_ylim)
    axes[0, 0].set_ylabel("cross-entropy")
    axes[1, 0].set_ylabel("accuracy (%)")
    return _finish(fig)


def plot_percentile_bands(traces, titles=None, ylabel: str = "value", sharey: bool = True):
    """How a unit's distribution moves during training: one panel per trace.

    traces: list of K runs, each with ``watch_steps`` (T step numbers), ``watch_values``
        (T × P percentiles, P odd, e.g. the 15th, 50th and 85th) and ``percentiles`` (the P
        levels), as attributes or dict keys (``cnn_course.pt.experiments.RunHistory``).
    titles: optional list of K strings (default: each run's ``label``).
    The middle percentile is drawn as a line, the band between the outer ones is shaded.
    Returns the figure (K axes).
    """
    traces = list(traces)
    if not traces:
        raise ValueError("traces is empty: expected runs with watch_steps and watch_values")
    if titles is not None and len(titles) != len(traces):
        raise ValueError(f"expected {len(traces)} titles (one per trace), got {len(titles)}")
    fig, axes = plt.subplots(1, len(traces), figsize=(4.8 * len(traces), 3.4), squeeze=False, sharey=sharey)
    for k, (ax, run) in enumerate(zip(axes[0], traces)):
        steps = np.asarray(_bn_get(run, "watch_steps"), dtype=float)
        values = np.asarray(_bn_get(run, "watch_values"), dtype=float)
        levels = list(_bn_get(run, "percentiles"))
        if values.ndim != 2 or values.shape[0] != len(steps) or values.shape[1] != len(levels) or not len(levels) % 2:
            raise ValueError(f"trace {k}: expected watch_values of shape (len(watch_steps), P) with P odd "
                             f"matching percentiles, got {values.shape} for {len(steps)} steps and {levels}")
        mid = len(levels) // 2
        ax.plot(steps, values[:, mid], color="C0", label=f"{levels[mid]:g}th percentile")
        if mid:
            ax.fill_between(steps, values[:, 0], values[:, -1], color="C0", alpha=0.25,
                            label=f"{levels[0]:g}th–{levels[-1]:g}th percentile")
        ax.set_title(titles[k] if titles is not None else str(_bn_get(run, "label") or f"trace {k}"), fontsize=11)
        ax.set_xlabel("mini-batch step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    axes[0, 0].set_ylabel(ylabel)
    return _finish(fig)


def plot_batch_size_effect(batch_sizes, accuracies, reference=None, title: str | None = None):
    """Accuracy against the size of the batch whose statistics a BN network normalises with.

    batch_sizes: list of B sizes (x axis, log scale base 2).
    accuracies: ``{label: list of B accuracies in [0, 1]}``, one line each.
    reference: optional ``{label: accuracy}`` drawn as dashed horizontal lines (e.g. the
        accuracy with running statistics, which does not depend on the batch).
    Returns the figure (1 axes).
    """
    batch_sizes = list(batch_sizes)
    if not batch_sizes:
        raise ValueError("batch_sizes is empty")
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for k, (label, accs) in enumerate(accuracies.items()):
        accs = list(accs)
        if len(accs) != len(batch_sizes):
            raise ValueError(f"{label!r}: expected {len(batch_sizes)} accuracies (one per batch size), got {len(accs)}")
        ax.plot(batch_sizes, 100 * np.asarray(accs, dtype=float), "-o", color=f"C{k}", label=label)
    for k, (label, acc) in enumerate((reference or {}).items()):
        ax.axhline(100 * float(acc), color=f"C{len(accuracies) + k}", linestyle="--", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(batch_sizes)
    ax.set_xticklabels([str(b) for b in batch_sizes])
    ax.set_xlabel("test batch size")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return _finish(fig, title, ax)


def plot_histograms(arrays, titles=None, bins: int = 30, size: float = 3.2, sharex: bool = False):
    """Histograms side by side, each annotated with its mean and standard deviation.

    arrays: list of K arrays of any shape (flattened), or one array of shape (K, n).
    titles: optional list of K strings.
    Returns the figure (K axes).
    """
    if isinstance(arrays, np.ndarray) or hasattr(arrays, "detach"):
        arrays = list(_to_numpy(arrays))
    arrays = [_to_numpy(a).astype(float).ravel() for a in arrays]
    if not arrays:
        raise ValueError("plot_histograms needs at least one array")
    if titles is not None and len(titles) != len(arrays):
        raise ValueError(f"expected {len(arrays)} titles (one per array), got {len(titles)}")
    fig, axes = plt.subplots(1, len(arrays), figsize=(size * len(arrays), 0.8 * size), squeeze=False,
                             sharex=sharex)
    for k, (ax, a) in enumerate(zip(axes[0], arrays)):
        ax.hist(a, bins=bins, color=f"C{k}", alpha=0.8)
        ax.text(0.02, 0.97, f"mean {round(a.mean(), 2) + 0.0:.2f}\nstd {a.std():.2f}", transform=ax.transAxes,
                va="top", fontsize=9)
        if titles is not None:
            ax.set_title(titles[k], fontsize=10)
        ax.grid(alpha=0.3)
    return _finish(fig)
