"""Figures of the Inception notebook: what a bottleneck saves in multiplications against what
it saves in measured time, and how the channels and the size change through a stack of
Inception modules and max poolings."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._common import _finish

__all__ = ["plot_mults_and_time", "plot_stack_shapes"]


def _get(obj, name):
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def plot_mults_and_time(timing, labels=("5×5 conv", "1×1 → 5×5"), title: str | None = None):
    """Two bar charts side by side, the standard layer and its bottleneck: multiplications
    (millions) on the left, measured forward time (milliseconds) on the right, each with the
    ratio standard ÷ bottleneck written above.

    timing: a ``cnn_course.pt.inception_experiments.BottleneckTiming`` (or a dict with
    ``standard_mults``, ``bottleneck_mults``, ``standard_seconds``, ``bottleneck_seconds``).
    Returns the figure (two axes).
    """
    values = {k: float(_get(timing, k)) for k in ("standard_mults", "bottleneck_mults", "standard_seconds",
                                                    "bottleneck_seconds")}
    if min(values.values()) <= 0:
        raise ValueError(f"every count and time must be positive, got {values}")
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.2))
    panels = ((axes[0], values["standard_mults"] / 1e6, values["bottleneck_mults"] / 1e6, "multiplications (millions)",
               "counted"),
              (axes[1], values["standard_seconds"] * 1e3, values["bottleneck_seconds"] * 1e3, "forward time (ms)",
               "measured"))
    for ax, a, b, ylabel, kind in panels:
        ax.bar([0, 1], [a, b], color=["tab:red", "tab:blue"], width=0.6)
        ax.set_xticks([0, 1], labels)
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, a * 1.25)
        ax.set_title(f"{kind}: {a / b:.1f}× less with the bottleneck", fontsize="medium")
        for x, v in ((0, a), (1, b)):
            ax.text(x, v, f"{v:.3g}", ha="center", va="bottom")
        ax.grid(True, axis="y", alpha=0.3)
    return _finish(fig, title)


def plot_stack_shapes(shapes, names=None, in_shape=None, title: str | None = None):
    """The channels n_C after each layer of a stack (bars, with their numbers), each layer labelled
    with its name and its n_H × n_W.

    shapes: a list of ``(n_C, n_H, n_W)``, one per layer (what ``inception_stack`` returns);
    names: the layers' labels (default 1, 2, ...); in_shape: the input's shape, drawn first
    as "input" when given. Returns the figure (one axes).
    """
    shapes = [tuple(int(v) for v in s) for s in shapes]
    if not shapes or any(len(s) != 3 for s in shapes):
        raise ValueError(f"shapes must be a non-empty list of (n_C, n_H, n_W), got {shapes!r}")
    names = [str(n) for n in (names if names is not None else range(1, len(shapes) + 1))]
    if len(names) != len(shapes):
        raise ValueError(f"names has {len(names)} entries for {len(shapes)} shapes")
    if in_shape is not None:
        shapes = [tuple(int(v) for v in in_shape)] + shapes
        names = ["input"] + names
    x = np.arange(len(shapes))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(shapes) + 2), 3.4))
    ax.bar(x, [s[0] for s in shapes], color="tab:blue", width=0.6)
    for k, s in enumerate(shapes):
        ax.text(k, s[0], str(s[0]), ha="center", va="bottom", fontsize="small")
    ax.set_xticks(x, [f"{n}\n{s[1]}×{s[2]}" for n, s in zip(names, shapes)])
    ax.set_ylabel("channels n_C")
    ax.set_ylim(0, 1.15 * max(s[0] for s in shapes))
    ax.grid(True, axis="y", alpha=0.3)
    return _finish(fig, title, ax)
