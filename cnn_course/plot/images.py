"""Pictures of arrays: images side by side, matrices with their numbers, one step of a
convolution, feature maps and filters (topic 1)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle

from ._common import _finish, _grid, _tight, _to_numpy

__all__ = ["show_images", "show_matrix", "show_matrices", "show_conv_step", "show_feature_maps", "show_filters"]


def _robust_limits(im: np.ndarray) -> tuple[float, float]:
    """Colour limits at the 1st and 99th percentiles, so a few extreme pixels don't wash out the rest."""
    lo, hi = np.percentile(im, [1, 99])
    return float(lo), float(hi if hi > lo else lo + 1e-12)


def show_images(images, titles=None, cols: int = 4, cmap: str = "gray", size: float = 3.0,
                suptitle: str | None = None, vmin=None, vmax=None, robust: bool = False):
    """Show images side by side on a grid.

    images: a list of arrays, each (H, W) or (H, W, 3), or one array of shape
        (N, H, W) (N grey images) or (H, W) / (H, W, 3) (a single image).
    titles: optional list of N strings.
    cols: maximum number of images per row.
    cmap, vmin, vmax: passed to ``imshow`` for grey images (colour images ignore them).
    robust: scale each grey image between its 1st and 99th percentiles (useful for
        filter responses, where a few strong pixels would leave the rest black).
    Returns the figure (N axes).
    """
    if isinstance(images, np.ndarray) or hasattr(images, "detach"):
        arr = _to_numpy(images)
        is_single = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3)
        images = [arr] if is_single else list(arr)
    images = [_to_numpy(im) for im in images]
    if len(images) == 0:
        raise ValueError("show_images needs at least one image, got an empty list")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"expected {len(images)} titles (one per image), got {len(titles)}")
    fig, axes = _grid(len(images), cols, size)
    for i, (ax, im) in enumerate(zip(axes, images)):
        if im.ndim == 3 and im.shape[-1] == 3:
            ax.imshow(np.clip(im, 0, 1) if im.dtype.kind == "f" else im)
        elif im.ndim == 2:
            lo, hi = _robust_limits(im) if robust else (vmin, vmax)
            ax.imshow(im, cmap=cmap, vmin=lo, vmax=hi)
        else:
            raise ValueError(f"image {i} must have shape (H, W) or (H, W, 3), got {im.shape}")
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
    return _finish(fig, suptitle)


def _text_colour(rgba) -> str:
    """Black on light cells, white on dark ones (relative luminance of the cell colour)."""
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b >= 0.5 else "white"


def _draw_matrix(ax, a, title=None, annotate=True, cmap="gray", fmt=None, highlight=None,
                 highlight_color="tab:red", vmin=None, vmax=None):
    """Draw ``a`` as a grid of grey cells, large values light (as ``imshow(cmap="gray")``
    draws an image: a bright pixel is a light cell), each number written in black or white,
    whichever reads better on its cell."""
    a = _to_numpy(a)
    if a.ndim != 2:
        raise ValueError(f"a matrix must be 2-D (rows, cols), got shape {a.shape}")
    lo = float(np.min(a)) if vmin is None else vmin
    hi = float(np.max(a)) if vmax is None else vmax
    if hi <= lo:  # a constant matrix: one mid tone
        lo, hi = lo - 1.0, hi + 1.0
    # the smallest value is dark grey rather than black, so the grid lines stay visible
    norm = Normalize(vmin=lo - 0.25 * (hi - lo), vmax=hi, clip=True)
    colormap = plt.get_cmap(cmap)
    ax.imshow(a, cmap=colormap, norm=norm)
    rows, cols = a.shape
    if annotate:
        if fmt is None:
            fmt = "{:.0f}" if np.allclose(a, np.round(a)) else "{:.2f}"
        for i in range(rows):
            for j in range(cols):
                text = fmt.format(a[i, j] + 0.0)
                if float(text) == 0:  # no "-0.00" for tiny negative numbers
                    text = fmt.format(0.0)
                ax.text(j, i, text, ha="center", va="center", fontsize=10,
                        color=_text_colour(colormap(norm(a[i, j]))))
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="0.6", linewidth=0.8)
    ax.tick_params(which="both", bottom=False, left=False, labelbottom=False, labelleft=False)
    if highlight is not None:
        r, c, h, w = highlight
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), w, h, fill=False, edgecolor=highlight_color, linewidth=3))
    if title:
        ax.set_title(title, fontsize=11)


def show_matrix(a, title: str | None = None, annotate: bool = True, cmap: str = "gray",
                fmt: str | None = None, highlight=None, size: float = 0.5):
    """Draw a small 2-D array as a grid of cells, optionally with the numbers written in.

    Large values are light and small ones dark, as in a grey image (a bright pixel is a
    light cell); a signed array therefore shows its most negative entries darkest.
    a: (rows, cols) array.
    annotate: write each value in its cell (integers without decimals).
    fmt: format string for the numbers, e.g. ``"{:.1f}"``; chosen automatically if None.
    highlight: optional ``(row, col, height, width)`` rectangle to outline in red.
    size: inches per cell.
    Returns the figure (1 axes).
    """
    a = _to_numpy(a)
    if a.ndim != 2:
        raise ValueError(f"show_matrix expects a 2-D array (rows, cols), got shape {a.shape}")
    rows, cols = a.shape
    fig, ax = plt.subplots(figsize=(max(2.0, size * cols + 0.5), max(2.0, size * rows + 0.7)))
    _draw_matrix(ax, a, title, annotate, cmap, fmt, highlight)
    return _finish(fig)


def show_matrices(mats, titles=None, symbols=None, annotate: bool = True, cmap: str = "gray",
                  fmt: str | None = None, highlights=None, size: float = 0.5):
    """Draw several small matrices in a row, e.g. ``image * filter = output``.

    mats: list of K 2-D arrays.
    titles: optional list of K strings.
    symbols: optional list of K-1 strings printed between neighbours (e.g. ``["*", "="]``).
    highlights: optional list of K entries, each None or ``(row, col, height, width)``.
    Returns the figure (K axes).
    """
    mats = [_to_numpy(m) for m in mats]
    k = len(mats)
    for name, seq, n in (("titles", titles, k), ("symbols", symbols, k - 1), ("highlights", highlights, k)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"expected {n} {name} for {k} matrices, got {len(seq)}")
    widths = [m.shape[1] for m in mats]
    height = max(m.shape[0] for m in mats)
    width = sum(max(size * w, 1.9) for w in widths) + 0.8 * k
    fig, axes = plt.subplots(1, k, figsize=(width, size * height + 1.0),
                             gridspec_kw={"width_ratios": widths}, squeeze=False)
    axes = axes.ravel()
    for i, (ax, m) in enumerate(zip(axes, mats)):
        _draw_matrix(ax, m, titles[i] if titles else None, annotate, cmap, fmt,
                     highlights[i] if highlights else None)
    _tight(fig, w_pad=3.0)
    if symbols:
        for i, sym in enumerate(symbols):
            right = axes[i].get_position().x1
            left = axes[i + 1].get_position().x0
            fig.text((right + left) / 2, 0.5 * (axes[i].get_position().y0 + axes[i].get_position().y1),
                     sym, ha="center", va="center", fontsize=20)
    plt.close(fig)
    return fig


def show_conv_step(x, w, i: int, j: int, stride: int = 1, pad: int = 0, b: float = 0.0, size: float = 0.5):
    """Show which f x f window of the (padded) input produces output entry (i, j).

    x: (n_H, n_W) input; w: (f, f) filter; b: scalar bias.
    i, j: output row and column; stride, pad: as in the convolution.
    Draws the padded input with the window outlined, the filter, and the full output
    with entry (i, j) outlined; the title of the output spells the sum for that entry.
    Returns the figure (3 axes).
    """
    x, w = _to_numpy(x).astype(float), _to_numpy(w).astype(float)
    if x.ndim != 2 or w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"expected x (n_H, n_W) and a square w (f, f), got {x.shape} and {w.shape}")
    f = w.shape[0]
    xp = np.pad(x, pad)
    n_H = (xp.shape[0] - f) // stride + 1
    n_W = (xp.shape[1] - f) // stride + 1
    if n_H < 1 or n_W < 1:
        raise ValueError(f"filter ({f}x{f}) is larger than the padded input {xp.shape}")
    if not (0 <= i < n_H and 0 <= j < n_W):
        raise ValueError(f"output entry ({i}, {j}) is outside the output of shape ({n_H}, {n_W})")
    out = np.empty((n_H, n_W))
    for r in range(n_H):
        for c in range(n_W):
            out[r, c] = np.sum(xp[r * stride:r * stride + f, c * stride:c * stride + f] * w) + b
    value = out[i, j]
    fmt = "{:.0f}" if np.allclose(out, np.round(out)) else "{:.2f}"
    return show_matrices(
        [xp, w, out],
        titles=[f"input (pad={pad})", "filter", f"output[{i}, {j}] = {fmt.format(value + 0.0)}"],
        symbols=["*", "="],
        highlights=[(i * stride, j * stride, f, f), None, (i, j, 1, 1)],
        size=size,
    )


def show_feature_maps(maps, cols: int = 8, cmap: str = "viridis", titles=None, size: float = 1.6,
                      suptitle: str | None = None):
    """Show the channels of one activation volume as a grid of small images.

    maps: (C, H, W) or (1, C, H, W) array or tensor.
    titles: optional list of C strings (default "0", "1", ...).
    Each map gets its own colour scale, because what matters is where it responds.
    Returns the figure (C axes).
    """
    maps = _to_numpy(maps)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (C, H, W) or (1, C, H, W), got {maps.shape}")
    if titles is not None and len(titles) != maps.shape[0]:
        raise ValueError(f"expected {maps.shape[0]} titles (one per channel), got {len(titles)}")
    fig, axes = _grid(maps.shape[0], cols, size)
    for c, ax in enumerate(axes):
        ax.imshow(maps[c], cmap=cmap)
        ax.set_axis_off()
        ax.set_title(titles[c] if titles is not None else str(c), fontsize=9)
    return _finish(fig, suptitle)


def show_filters(w, cols: int = 8, cmap: str = "gray", size: float = 1.3, suptitle: str | None = None):
    """Show the filters of a convolution layer.

    w: weights (F, C, f, f). Single-channel filters are drawn in grey (one colour
    scale shared by all, symmetric around 0 so that 0 is mid-grey); 3-channel filters
    are rescaled to [0, 1] and drawn as colour patches; otherwise channel 0 is drawn.
    Returns the figure (F axes).
    """
    w = _to_numpy(w).astype(float)
    if w.ndim != 4:
        raise ValueError(f"w must have shape (F, C, f, f), got {w.shape}")
    fig, axes = _grid(w.shape[0], cols, size)
    lim = np.abs(w).max() or 1.0
    for k, ax in enumerate(axes):
        if w.shape[1] == 3:
            patch = w[k].transpose(1, 2, 0)
            patch = (patch - patch.min()) / (np.ptp(patch) or 1.0)
            ax.imshow(patch)
        else:
            ax.imshow(w[k, 0], cmap=cmap, vmin=-lim, vmax=lim)
        ax.set_axis_off()
        ax.set_title(str(k), fontsize=9)
    return _finish(fig, suptitle)
