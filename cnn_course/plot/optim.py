"""Figures of the optimizers notebook (topic 2): optimisation paths on a loss surface,
decision boundaries, exponentially weighted averages, loss surfaces in 3-D and
hyperparameter samples."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._common import _PATH_COLORS, _finish, _grid, _to_numpy

__all__ = ["plot_paths", "draw_paths", "plot_decision_boundary", "plot_ewa", "plot_surfaces", "plot_samples"]


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
    return _finish(fig, title, ax)


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
    return _finish(fig, title if len(predictors) > 1 else None)


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
    return _finish(fig, title, ax)


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
    return _finish(fig)


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
    return _finish(fig)
