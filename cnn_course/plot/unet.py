"""Figures of the U-Net notebook: a transposed convolution as a sum of scaled, shifted filters,
and predicted brain masks drawn over MRI slices."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._common import _finish

__all__ = ["axial_view", "plot_contributions", "plot_segmentations", "transposed_conv_widget"]


def _grid_values(ax, a, title, pad_box=None):
    ax.imshow(np.zeros_like(a), cmap="Greys", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(a):
        ax.text(j, i, f"{v:g}" if v else "·", ha="center", va="center", fontsize=9)
    ax.set_xticks(np.arange(-0.5, a.shape[1]), minor=True)
    ax.set_yticks(np.arange(-0.5, a.shape[0]), minor=True)
    ax.grid(which="minor", color="0.6", lw=0.6)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    if pad_box is not None:  # (top, left, height, width) of the kept output window
        t, l, h, w = pad_box
        ax.add_patch(plt.Rectangle((l - 0.5, t - 0.5), w, h, fill=False, ec="tab:red", lw=2))
    ax.set_title(title, fontsize=9)


def plot_contributions(x, contributions, window, title: str | None = None):
    """One panel per input value: x[i, j] times the filter, placed on the full (uncropped) grid
    (``contributions[i, j]``, from ``conv_transpose2d_contributions(..., crop=False)``), then
    their sum. ``window`` = (top, left, height, width) of the output kept after cropping the
    padding, drawn in red. Returns the figure."""
    x = np.asarray(x)
    H, W = x.shape
    fig, axes = plt.subplots(1, H * W + 1, figsize=(2.1 * (H * W + 1), 2.4))
    for k, ax in enumerate(axes[:-1]):
        i, j = divmod(k, W)
        _grid_values(ax, contributions[i, j], f"x[{i},{j}] = {x[i, j]:g} × filter", window)
    _grid_values(axes[-1], contributions.sum(axis=(0, 1)), "sum (red: kept)", window)
    return _finish(fig, title)


def axial_view(a):
    """An axial slice of ``mri_slices(axis=2)`` (rows = x, left→right; columns = y, back→front; the
    volume is RAS) turned for display: transposed and flipped, so the front of the head (anterior,
    the nose) is at the top and the patient's left on the left (the neurological convention).
    Works on (..., H, W) arrays."""
    return np.flip(np.swapaxes(np.asarray(a), -1, -2), axis=-2)


def plot_segmentations(images, target, predictions, labels, n=4, title: str | None = None, upright=True):
    """Rows = ``n`` slices spread over the set; columns = the slice with the true outline (red),
    then one column per prediction (dict label -> (N, H, W) map) with its outline (yellow) and
    the true one (red). ``upright``: draw the axial slices of ``mri_slices(axis=2)`` the usual way
    up (:func:`axial_view`: front at the top, left on the left). Returns the figure."""
    view = axial_view if upright else np.asarray
    images = view(np.asarray(images)[:, 0])
    target = view(target)
    predictions = {k: view(v) for k, v in predictions.items()}
    idx = np.linspace(0, len(images) - 1, n).round().astype(int)
    cols = 1 + len(predictions)
    H, W = images.shape[1:]
    fig, axes = plt.subplots(n, cols, figsize=(2.2 * cols, 2.2 * n * H / W + 0.4), squeeze=False)
    for r, k in enumerate(idx):
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(images[k], cmap="gray")
            ax.contour(target[k] > 0, levels=[0.5], colors="red", linewidths=0.8)
            if c:
                ax.contour(predictions[labels[c - 1]][k] > 0, levels=[0.5], colors="yellow", linewidths=0.8)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("truth (red)" if c == 0 else f"{labels[c - 1]} (yellow)", fontsize=9)
    return _finish(fig, title)


def transposed_conv_widget(x, w, n=None):
    """Sliders for stride (1–3), padding (0–2) and output_padding (0–2) that redraw
    :func:`plot_contributions` for the one-channel input ``x`` (n, n) and filter ``w`` (f, f);
    an impossible setting (output_padding ≥ stride, or nothing left after the padding) prints
    why instead. Returns the ipywidgets ``interactive`` object (display it)."""
    from ipywidgets import interactive
    from IPython.display import display

    from ..ref.conv_transpose import conv_transpose2d_contributions

    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    n, f = x.shape[0], w.shape[0]

    def redraw(stride=2, pad=1, output_padding=1):
        if output_padding >= stride:
            print("output_padding must be smaller than the stride: it picks one of the `stride` sizes that a "
                  "convolution maps to the same output")
            return
        n_out = (n - 1) * stride - 2 * pad + f + output_padding
        if n_out < 1:
            print(f"({n} - 1)·{stride} - 2·{pad} + {f} + {output_padding} = {n_out}: the padding cuts away everything")
            return
        copies = conv_transpose2d_contributions(x, w, stride, pad, output_padding, crop=False)
        display(plot_contributions(x, copies, window=(pad, pad, n_out, n_out),
                                   title=f"stride {stride}, padding {pad}, output_padding {output_padding}: "
                                         f"{n_out}×{n_out}"))

    return interactive(redraw, stride=(1, 3), pad=(0, 2), output_padding=(0, 2))
