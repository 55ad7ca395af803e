"""What units of a network respond to: the top image patches per unit (``cnn_course.pt.visualize``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._common import _finish, _to_numpy

__all__ = ["show_top_patches"]


def _as_image(patch: np.ndarray) -> np.ndarray:
    """(C, h, w) -> an (h, w) or (h, w, 3) picture in [0, 1]: as it is when already in [0, 1],
    else rescaled by its own min and max (normalised inputs)."""
    img = patch[0] if patch.shape[0] == 1 else patch[:3].transpose(1, 2, 0)
    lo, hi = float(img.min()), float(img.max())
    if lo >= 0 and hi <= 1:
        return img
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def show_top_patches(by_unit, cols: int | None = None, size: float = 0.9, suptitle: str | None = None):
    """One row per unit, its strongest patches left to right (the output of ``layer_top_patches``).

    by_unit: {channel: TopPatches} (or any mapping to objects with ``patches`` (k, C, s, s) and
    ``values`` (k,)); cols: patches per row (default: all). Patches in [0, 1] are drawn as they
    are, others rescaled to their own range; the row label names the channel.
    Returns the figure (one axes per patch shown).
    """
    if not by_unit:
        raise ValueError("by_unit is empty: pass {channel: TopPatches}, e.g. layer_top_patches(...)")
    units = list(by_unit)
    k = max(len(by_unit[u].patches) for u in units)
    cols = k if cols is None else min(int(cols), k)
    figsize = (size * cols + 0.6, size * len(units) + 0.4)
    fig, axes = plt.subplots(len(units), cols, figsize=figsize, squeeze=False)
    for r, unit in enumerate(units):
        patches = _to_numpy(by_unit[unit].patches).astype(float)
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(patches):
                img = _as_image(patches[c])
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
            else:
                fig.delaxes(ax)
        axes[r, 0].set_ylabel(f"unit {unit}", fontsize=8)
    return _finish(fig, suptitle)
