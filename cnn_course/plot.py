"""Plotting helpers for the notebooks (matplotlib only).

Every helper draws one figure, closes it in pyplot (so Jupyter's inline backend does
not draw it a second time) and returns it: a notebook cell that ends with the call
shows the picture exactly once (elsewhere use ``display(fig)`` or ``fig.savefig``),
and a test can count the axes. None of them calls ``plt.show()``. Images are NumPy arrays: ``(H, W)`` grey or ``(H, W, 3)`` colour;
stacks of maps follow the course layout ``(C, H, W)`` (or ``(1, C, H, W)``).
"""

from __future__ import annotations

import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle

__all__ = [
    "show_images",
    "show_matrix",
    "show_matrices",
    "show_conv_step",
    "show_feature_maps",
    "show_filters",
    "plot_history",
]


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


def _grid(n: int, cols: int, size: float):
    """A figure with exactly ``n`` axes laid out on a grid of ``cols`` columns."""
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    axes = axes.ravel()
    for ax in axes[n:]:  # drop the unused cells so len(fig.axes) == n
        fig.delaxes(ax)
    return fig, list(axes[:n])


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
    if suptitle:
        fig.suptitle(suptitle)
    _tight(fig)
    plt.close(fig)
    return fig


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
    _tight(fig)
    plt.close(fig)
    return fig


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
    if suptitle:
        fig.suptitle(suptitle)
    _tight(fig)
    plt.close(fig)
    return fig


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
    if suptitle:
        fig.suptitle(suptitle)
    _tight(fig)
    plt.close(fig)
    return fig


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
    _tight(fig)
    plt.close(fig)
    return fig


# --------------------------------------------------------------------------- batch norm (topic 3)

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
    _tight(fig)
    plt.close(fig)
    return fig


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
    _tight(fig)
    plt.close(fig)
    return fig


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
    if title:
        ax.set_title(title)
    _tight(fig)
    plt.close(fig)
    return fig


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
    _tight(fig)
    plt.close(fig)
    return fig


__all__ += ["plot_run_comparison", "plot_percentile_bands", "plot_batch_size_effect", "plot_histograms"]


# =========================================================================== optimizers (topic 2)
# Helpers for the optimizers notebook: optimisation paths, decision boundaries, cost curves,
# moving averages, loss surfaces and hyperparameter samples.

__all__ += [
    "plot_paths",
    "draw_paths",
    "plot_decision_boundary",
    "plot_curves",
    "compare_histories",
    "plot_ewa",
    "plot_surfaces",
    "plot_samples",
]

_PATH_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def _check_paths(paths) -> dict:
    if not isinstance(paths, dict) or not paths:
        raise ValueError(f"paths must be a non-empty dict {{name: array (steps + 1, 2)}}, got {type(paths).__name__}")
    out = {}
    for name, p in paths.items():
        p = _to_numpy(p).astype(float)
        if p.ndim != 2 or p.shape[1] != 2 or len(p) < 1:
            raise ValueError(f"path {name!r} must have shape (steps + 1, 2), got {p.shape}")
        out[str(name)] = p
    return out


def _path_limits(paths: dict):
    """A view around the starts, the minimum at 0 and every point that stays near them, so that
    one diverging path does not shrink the others to a dot."""
    starts = np.array([p[0] for p in paths.values()])
    radius = 3.0 * max(float(np.abs(starts).max()), 1e-9)
    pts = np.concatenate([p[np.all(np.isfinite(p), axis=1)] for p in paths.values()] + [np.zeros((1, 2))])
    pts = pts[np.all(np.abs(pts) <= radius, axis=1)]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    margin = 0.12 * np.maximum(hi - lo, 1e-3)
    return (lo[0] - margin[0], hi[0] + margin[0]), (lo[1] - margin[1], hi[1] + margin[1])


def _surface_grid(loss_fn, xlim, ylim, n: int = 80):
    """Loss values on an n x n grid; loss_fn(w) -> (f, grad) or f, for one point w of shape (2,)."""
    xs, ys = np.linspace(*xlim, n), np.linspace(*ylim, n)
    Z = np.empty((n, n))
    for i, yv in enumerate(ys):
        for j, xv in enumerate(xs):
            out = loss_fn(np.array([xv, yv]))
            Z[i, j] = out[0] if isinstance(out, tuple) else out
    return xs, ys, Z


def draw_paths(ax, paths: dict, loss_fn=None, xlim=None, ylim=None, levels: int = 15):
    """Contours of ``loss_fn`` and the paths on an existing axes (used by ``plot_paths`` and
    by the optimizer explorer). Returns the dict {name: Line2D}."""
    paths = _check_paths(paths)
    if xlim is None or ylim is None:
        auto_x, auto_y = _path_limits(paths)
        xlim, ylim = xlim or auto_x, ylim or auto_y
    if loss_fn is not None:
        xs, ys, Z = _surface_grid(loss_fn, xlim, ylim)
        # levels evenly spaced in sqrt(f): on a quadratic bowl the ellipses are then evenly spaced
        top = float(np.sqrt(max(Z.max(), 1e-12)))
        ax.contour(xs, ys, Z, levels=np.linspace(0, top, levels + 1)[1:] ** 2, colors="0.75", linewidths=0.8)
        ax.plot([0], [0], marker="*", color="k", markersize=11, linestyle="none")
    lines = {}
    for k, (name, p) in enumerate(paths.items()):
        color = _PATH_COLORS[k % len(_PATH_COLORS)]
        (lines[name],) = ax.plot(p[:, 0], p[:, 1], "-o", color=color, markersize=2.5, linewidth=1.3, label=name)
        ax.plot(p[:1, 0], p[:1, 1], "s", color="k", markersize=5)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("$w_0$")
    ax.set_ylabel("$w_1$")
    ax.legend(loc="upper right", fontsize=9)
    return lines


def plot_paths(paths, loss_fn=None, title: str | None = None, xlim=None, ylim=None, size=(8.0, 4.0)):
    """The points visited by optimisers on a 2-D loss surface.

    paths: {name: array (steps + 1, 2)}, row 0 the start (drawn as a black square), e.g. from
        ``cnn_course.ref.optimize_path``.
    loss_fn: optional function of one point w (2,) returning ``(f, grad)`` (like
        ``ref.ill_conditioned``) or ``f``; its contours are drawn behind the paths, with a star
        at the minimum w = (0, 0).
    xlim, ylim: the view; by default it frames the starts, the minimum and every point that
        stays within 3x the start's distance (a diverging path leaves the picture).
    Returns the figure (1 axes).
    """
    paths = _check_paths(paths)  # before the figure exists, so a bad input leaks no figure
    fig, ax = plt.subplots(figsize=size)
    draw_paths(ax, paths, loss_fn, xlim, ylim)
    if title:
        ax.set_title(title)
    _tight(fig)
    plt.close(fig)
    return fig


def _predictors(predict) -> dict:
    if callable(predict):
        return {"": predict}
    if isinstance(predict, dict) and predict and all(callable(f) for f in predict.values()):
        return dict(predict)
    raise ValueError("predict must be a function points (n, 2) -> labels (n,), or a non-empty dict of them")


def plot_decision_boundary(predict, X, y, title: str | None = None, cols: int = 3, size: float = 3.6,
                           resolution: int = 200, accuracy: bool = True):
    """The regions a classifier assigns to each class, with the data on top.

    predict: a function mapping points (n, 2) to integer labels (n,), or a dict
        {title: function} for several classifiers side by side (one axes each).
    X: (m, 2) points; y: (m,) integer labels.
    accuracy: append the accuracy on (X, y) to each title.
    Returns the figure (one axes per classifier).
    """
    predictors = _predictors(predict)
    X, y = _to_numpy(X).astype(float), _to_numpy(y)
    if X.ndim != 2 or X.shape[1] != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"expected X of shape (m, 2) and y of shape (m,), got {X.shape} and {y.shape}")
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    xs = np.linspace(X[:, 0].min() - pad[0], X[:, 0].max() + pad[0], resolution)
    ys = np.linspace(X[:, 1].min() - pad[1], X[:, 1].max() + pad[1], resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    n_classes = int(max(y.max(), 1)) + 1
    fig, axes = _grid(len(predictors), cols, size)
    for ax, (name, f) in zip(axes, predictors.items()):
        regions = np.asarray(f(grid)).reshape(gx.shape)
        ax.contourf(gx, gy, regions, levels=np.arange(n_classes + 1) - 0.5, cmap="coolwarm", alpha=0.35)
        ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", vmin=0, vmax=n_classes - 1, s=12,
                   edgecolors="k", linewidths=0.3)
        label = name
        if accuracy:
            acc = float(np.mean(np.asarray(f(X)).reshape(-1) == y))
            label = f"{name}  (accuracy {100 * acc:.1f}%)" if name else f"accuracy {100 * acc:.1f}%"
        ax.set_title(label if title is None or len(predictors) > 1 else f"{title}  {label}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if title and len(predictors) > 1:
        fig.suptitle(title)
    _tight(fig)
    plt.close(fig)
    return fig


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
    if title:
        ax.set_title(title)
    _tight(fig)
    plt.close(fig)
    return fig


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
    if title:
        fig.suptitle(title)
    _tight(fig)
    plt.close(fig)
    return fig


def plot_ewa(values, betas=(0.9, 0.98, 0.5), bias_correction=False, x=None, xlabel: str = "day",
             ylabel: str = "temperature", title: str | None = None):
    """A noisy series and its exponentially weighted averages v_t = β v_{t-1} + (1-β) θ_t.

    values: (T,) the series θ_1 .. θ_T (drawn as dots); betas: the β of each average line.
    bias_correction: False (v_t), True (v_t / (1 - β^t)) or "both" (corrected lines solid,
        uncorrected ones dashed, to show the start-up bias).
    x: optional (T,) positions (default 1 .. T).
    Returns the figure (1 axes).
    """
    from cnn_course.ref.optim import ewa

    values = _to_numpy(values).astype(float)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"values must be a non-empty 1-D series (T,), got shape {values.shape}")
    if bias_correction not in (True, False, "both"):
        raise ValueError(f"bias_correction must be True, False or 'both', got {bias_correction!r}")
    x = np.arange(1, len(values) + 1) if x is None else _to_numpy(x)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.plot(x, values, ".", color="0.55", markersize=4, label="data θ_t")
    for k, beta in enumerate(betas):
        color = ("tab:red", "tab:green", "gold", "tab:blue", "tab:purple")[k % 5]
        days = 1 / (1 - beta)
        if bias_correction in (False, "both"):
            style = "--" if bias_correction == "both" else "-"
            ax.plot(x, ewa(values, beta, bias_correction=False), style, color=color, linewidth=1.6,
                    label=f"β = {beta} (≈ {days:.0f} days)" + (", no correction" if bias_correction == "both" else ""))
        if bias_correction in (True, "both"):
            ax.plot(x, ewa(values, beta, bias_correction=True), "-", color=color, linewidth=1.6,
                    label=f"β = {beta} (≈ {days:.0f} days), bias-corrected")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title)
    _tight(fig)
    plt.close(fig)
    return fig


def plot_surfaces(surfaces, xlim=(-2.0, 2.0), ylim=(-2.0, 2.0), n: int = 60, size: float = 4.0):
    """3-D pictures of loss surfaces over two parameters (local minimum, saddle point, plateau).

    surfaces: {title: f} with f(W0, W1) -> J computed element-wise on arrays (NumPy
        broadcasting), e.g. ``lambda a, b: a**2 - b**2``.
    Returns the figure (one 3-D axes per surface).
    """
    if not isinstance(surfaces, dict) or not surfaces:
        raise ValueError("surfaces must be a non-empty dict {title: f(W0, W1)}")
    xs, ys = np.linspace(*xlim, n), np.linspace(*ylim, n)
    W0, W1 = np.meshgrid(xs, ys)
    values = {}
    for name, f in surfaces.items():
        values[name] = np.asarray(f(W0, W1), dtype=float)
        if values[name].shape != W0.shape:
            raise ValueError(f"surface {name!r} must return an array shaped like its inputs {W0.shape}, "
                             f"got {values[name].shape}")
    k = len(surfaces)
    fig = plt.figure(figsize=(size * k, size))
    for i, (name, J) in enumerate(values.items()):
        ax = fig.add_subplot(1, k, i + 1, projection="3d")
        ax.plot_surface(W0, W1, J, cmap="viridis", linewidth=0, antialiased=True, alpha=0.9)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("$w_0$")
        ax.set_ylabel("$w_1$")
        ax.set_zlabel("J")
    _tight(fig)
    plt.close(fig)
    return fig


def plot_samples(samples, low: float, high: float, log: bool = True, bins: int = 20, size=(10.0, 3.2)):
    """Histograms of hyperparameter samples, to compare sampling schemes.

    samples: {title: array of values} (one axes each), all meant to lie in [low, high].
    log: draw the x-axis on a log scale with bins evenly spaced in log10 (else linear).
    Each title gets the share of samples per decade when ``log`` is true.
    Returns the figure (one axes per entry).
    """
    if not isinstance(samples, dict) or not samples:
        raise ValueError("samples must be a non-empty dict {title: values}")
    if not 0 < low < high:
        raise ValueError(f"need 0 < low < high, got low={low}, high={high}")
    fig, axes = plt.subplots(1, len(samples), figsize=size, squeeze=False)
    edges = np.logspace(np.log10(low), np.log10(high), bins + 1) if log else np.linspace(low, high, bins + 1)
    decades = np.arange(np.floor(np.log10(low)), np.ceil(np.log10(high)))
    for ax, (name, vals) in zip(axes[0], samples.items()):
        vals = _to_numpy(vals).astype(float).ravel()
        ax.hist(vals, bins=edges, color="tab:blue", edgecolor="white")
        if log:
            ax.set_xscale("log")
            counts = [np.mean((vals >= 10 ** d) & (vals < 10 ** (d + 1))) for d in decades]
            shares = ", ".join(f"{100 * c:.0f}%" for c in counts)
            ax.set_title(f"{name}\nper decade: {shares}", fontsize=10)
        else:
            ax.set_title(name, fontsize=10)
        ax.set_xlabel("value")
        ax.set_ylabel("count")
    _tight(fig)
    plt.close(fig)
    return fig
