"""What the figure modules share: array conversion, the grid of axes, a quiet tight layout
and the colours that tell runs apart."""

from __future__ import annotations

import math
import warnings

import matplotlib.pyplot as plt
import numpy as np

# One colour per run, in order: the optimizer paths and the histories of the same runs match.
_PATH_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def _to_numpy(a) -> np.ndarray:
    """Accept NumPy arrays, torch tensors (any device) and nested lists."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _tight(fig, **kwargs) -> None:
    """``fig.tight_layout`` without its warning when titles are wider than their axes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout(**kwargs)


def _finish(fig, title: str | None = None, ax=None):
    """Title the figure (``ax``'s title when given, else one above all axes), lay it out and
    close it: a notebook then shows it once, as the value the plotting function returns."""
    if title:
        (ax.set_title if ax is not None else fig.suptitle)(title)
    _tight(fig)
    plt.close(fig)
    return fig


def _grid(n: int, cols: int, size: float):
    """A figure with exactly ``n`` axes laid out on a grid of ``cols`` columns."""
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    axes = axes.ravel()
    for ax in axes[n:]:  # drop the unused cells so len(fig.axes) == n
        fig.delaxes(ax)
    return fig, list(axes[:n])
