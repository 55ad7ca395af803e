"""Figures of the 1D/3D convolution notebook: labelled time series, and a 3D segmentation shown
as slices along the three axes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._common import _finish, _to_numpy

__all__ = ["plot_series", "plot_volume_slices"]


def plot_series(x, y, class_names, n_per_class: int = 3, channel: int = 0, title: str | None = None):
    """A few series of each class on one axis per class: x (N, C, T), y (N,) ints; channel picks
    which channel is drawn. Returns the figure."""
    x, y = _to_numpy(x), _to_numpy(y)
    classes = list(range(len(class_names)))
    fig, axes = plt.subplots(1, len(classes), figsize=(3.6 * len(classes), 2.6), sharey=True, squeeze=False)
    for ax, k in zip(axes[0], classes):
        idx = np.flatnonzero(y == k)[:n_per_class]
        for i in idx:
            ax.plot(x[i, channel], lw=1.2)
        ax.set_title(f"{class_names[k]} ({int((y == k).sum())} series)")
        ax.set_xlabel("time step")
    axes[0, 0].set_ylabel("value")
    return _finish(fig, title)


def plot_volume_slices(volume, truth, predictions: dict, test_z=None, title: str | None = None,
                       misses: bool = False):
    """Rows: for each prediction (name -> (X, Y, Z) bool), three slices through the volume (X, Y, Z):
    horizontal (x, y) in the middle of the test slab, front-to-back (y, z) and left-to-right
    (x, z) through the middle; the T1 in grey, the true brain outline in white, the predicted
    brain in red, and the test slab ``test_z`` = (start, stop) between dashed lines. With
    ``misses``, the true brain voxels the prediction left out are drawn in blue."""
    vol, truth = _to_numpy(volume), _to_numpy(truth).astype(bool)
    X, Y, Z = vol.shape
    z0 = (test_z[0] + test_z[1]) // 2 if test_z is not None else Z // 2
    cuts = ((f"horizontal, z = {z0}", lambda a: a[:, :, z0].T, False),
            (f"side view, x = {X // 2}", lambda a: a[X // 2, :, :].T, True),
            (f"front view, y = {Y // 2}", lambda a: a[:, Y // 2, :].T, True))
    rows = list(predictions.items())
    fig, axes = plt.subplots(len(rows), 3, figsize=(10, 3.2 * len(rows)), squeeze=False,
                             gridspec_kw={"width_ratios": [X, Y, X]})
    for r, (name, pred) in enumerate(rows):
        pred = _to_numpy(pred).astype(bool)
        for c, (label, cut, vertical) in enumerate(cuts):
            ax = axes[r, c]
            ax.imshow(cut(vol), cmap="gray", origin="lower")
            ax.imshow(np.ma.masked_where(~cut(pred), np.zeros(cut(pred).shape)), cmap="autumn", alpha=0.45,
                      origin="lower", vmin=0, vmax=1)  # autumn at 0: red
            if misses:
                missed = cut(truth & ~pred)
                ax.imshow(np.ma.masked_where(~missed, np.zeros(missed.shape)), cmap="winter", alpha=0.7,
                          origin="lower", vmin=0, vmax=1)  # winter at 0: blue
            ax.contour(cut(truth).astype(float), levels=[0.5], colors="white", linewidths=0.8)
            if vertical and test_z is not None:
                for z in test_z:
                    ax.axhline(z - 0.5, color="cyan", ls="--", lw=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}: {label}" if c == 0 else label, fontsize=9)
    return _finish(fig, title)
