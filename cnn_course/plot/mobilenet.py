"""Figures of the MobileNet notebook: augmentations of photos side by side, and the
transfer-learning runs (test accuracy of each method, with and without augmentation)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._common import _finish, _to_numpy

__all__ = ["show_augmentations", "plot_transfer"]


def _get(obj, name):
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def show_augmentations(rows: dict, size: float = 1.9, title: str | None = None):
    """One row per photo, one column per version: ``rows`` is ``{photo name: {version name:
    image}}``, images (H, W) grey or (H, W, 3) in [0, 1] (or uint8); every row must list the
    same versions. Returns the figure."""
    if not rows:
        raise ValueError("rows is empty: expected {photo: {version: image}}")
    columns = list(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(size * len(columns), size * len(rows)), squeeze=False)
    for r, (photo, versions) in enumerate(rows.items()):
        if list(versions) != columns:
            raise ValueError(f"row {photo!r} has the versions {list(versions)}, expected {columns}")
        for c, (name, image) in enumerate(versions.items()):
            img = _to_numpy(image)
            ax = axes[r, c]
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1 if img.dtype.kind == "f" else 255)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=9)
            if c == 0:
                ax.set_ylabel(photo, fontsize=9)
    return _finish(fig, title)


def plot_transfer(runs, title: str | None = None):
    """Grouped bars: the test accuracy (%) of each method, without and with augmentation.

    runs: ``cnn_course.pt.transfer.TransferRun`` objects (or dicts with ``method``,
    ``augmented``, ``accuracy``), in any order. Returns the figure."""
    if not runs:
        raise ValueError("runs is empty: expected transfer_experiment(...)'s list")
    methods = list(dict.fromkeys(_get(r, "method") for r in runs))
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    x = np.arange(len(methods))
    for k, (augmented, colour, name) in enumerate(((False, "tab:gray", "no augmentation"),
                                                   (True, "tab:blue", "with augmentation"))):
        acc = [next((100 * _get(r, "accuracy") for r in runs if _get(r, "method") == m
                     and bool(_get(r, "augmented")) == augmented), np.nan) for m in methods]
        bars = ax.bar(x + (k - 0.5) * 0.38, acc, 0.38, color=colour, label=name)
        for b, a in zip(bars, acc):
            if np.isfinite(a):
                ax.text(b.get_x() + b.get_width() / 2, a + 0.8, f"{a:.1f}", ha="center", fontsize=8)
    ax.axhline(50, color="k", lw=0.8, ls=":", label="chance (2 classes)")
    ax.set_xticks(x, methods)
    ax.set_ylabel("test accuracy on the new classes (%)")
    ax.set_ylim(40, 104)
    ax.legend(loc="upper right", fontsize=8)
    return _finish(fig, title, ax)
