"""Figures of the face-recognition notebook: detections on a photo, face crops, an embedding
space in 2D, verification ROC curves, recordings of several identities and a "who is it"
gallery."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from ._common import _finish

__all__ = ["plot_detections", "plot_faces", "plot_embedding_2d", "plot_roc_curves", "plot_recordings",
           "plot_gallery"]


def _show(ax, img):
    img = np.asarray(img)
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1 if img.dtype.kind == "f" else 255)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_detections(image, boxes, landmarks=None, reference=None, matched=None, title=None, size=9.0):
    """The photo with the detected boxes (green where ``matched`` is True, red otherwise),
    their five landmarks (dots) and the reference boxes (dashed yellow), if given."""
    image = np.asarray(image)
    h, w = image.shape[:2]
    fig, ax = plt.subplots(figsize=(size, size * h / w))
    _show(ax, image)
    for b in np.asarray(reference if reference is not None else np.zeros((0, 4))):
        ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="yellow", ls="--", lw=1))
    for k, b in enumerate(np.asarray(boxes)):
        ok = True if matched is None else bool(matched[k])
        ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="lime" if ok else "red",
                               lw=1.5))
    if landmarks is not None and len(landmarks):
        lm = np.asarray(landmarks).reshape(-1, 2)
        ax.plot(lm[:, 0], lm[:, 1], ".", color="cyan", ms=2)
    return _finish(fig, title, ax)


def plot_faces(crops, titles=None, cols=10, size=1.1, title=None):
    """A grid of face crops (K, S, S[, 3]) with optional titles."""
    crops = np.asarray(crops)
    n = len(crops)
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size * 1.15), squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k < n:
            _show(ax, crops[k])
            if titles is not None:
                ax.set_title(str(titles[k]), fontsize=7)
        else:
            ax.axis("off")
    return _finish(fig, title)


def plot_embedding_2d(panels, title=None, size=4.2, same_scale=True):
    """One scatter per panel: ``panels`` = {name: (points (N, 2), labels (N,))}; one colour per
    identity, the recordings of one identity joined to their centre by thin lines. With
    ``same_scale`` every panel gets the same axis limits (the largest extent), so that a cloud that
    is tiny in one panel looks tiny; the ticks stay."""
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size), squeeze=False)
    allpts = np.concatenate([np.asarray(p) for p, _ in panels.values()])
    half = 0.55 * float(np.abs(allpts).max()) if len(allpts) else 1.0
    cmap = plt.get_cmap("tab20")
    for ax, (name, (pts, labels)) in zip(axes[0], panels.items()):
        pts, labels = np.asarray(pts), np.asarray(labels)
        for k, lab in enumerate(np.unique(labels)):
            p = pts[labels == lab]
            c = p.mean(axis=0)
            for q in p:
                ax.plot([c[0], q[0]], [c[1], q[1]], color=cmap(k % 20), lw=0.6, alpha=0.6)
            ax.scatter(p[:, 0], p[:, 1], s=18, color=cmap(k % 20), label=str(lab))
        ax.set_title(name, fontsize=10)
        if same_scale:
            ax.set_xlim(-half * 2, half * 2)
            ax.set_ylim(-half * 2, half * 2)
        ax.tick_params(labelsize=7)
    return _finish(fig, title)


def plot_roc_curves(curves, marks=None, title=None, size=5.0):
    """ROC curves: ``curves`` = {name: (far, tar)}; ``marks`` = {name: (far, tar)} points (the
    operating point at the chosen τ). False-accept rate on a log axis, as face verification
    papers draw it."""
    fig, axes = plt.subplots(1, 2, figsize=(2 * size, size * 0.85))
    for k, (name, (far, tar)) in enumerate(curves.items()):
        color = f"C{k}"
        for ax in axes:
            ax.plot(far, tar, color=color, label=name, drawstyle="steps-post")
        if marks and name in marks:
            for ax in axes:
                ax.plot(*marks[name], "o", color=color)
    axes[0].plot([0, 1], [0, 1], ":", color="grey", lw=1)
    axes[0].set_title("linear axes")
    axes[1].set_xscale("log")
    axes[1].set_xlim(1e-3, 1)
    axes[1].set_title("false-accept rate on a log axis")
    for ax in axes:
        ax.set_xlabel("false-accept rate (impostor pairs accepted)")
        ax.set_ylabel("true-accept rate (genuine pairs accepted)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    return _finish(fig, title)


def plot_recordings(x, y, pigs, per_pig=3, length=None, title=None):
    """The first ``per_pig`` recordings (N, 1, T) of each identity in ``pigs``, one row per
    identity (the first ``length`` steps)."""
    fig, axes = plt.subplots(len(pigs), 1, figsize=(10, 1.4 * len(pigs)), sharex=True, squeeze=False)
    for ax, p in zip(axes[:, 0], pigs):
        for k, i in enumerate(np.flatnonzero(np.asarray(y) == p)[:per_pig]):
            s = np.asarray(x[i, 0] if length is None else x[i, 0, :length])
            ax.plot(s, lw=0.8, color=f"C{k}")
        ax.set_ylabel(f"pig {p}", fontsize=8)
        ax.set_yticks([])
    axes[-1, 0].set_xlabel("time step")
    return _finish(fig, title)


def plot_gallery(queries, answers, gallery, names, distances, title=None, size=1.4):
    """Queries (top row) and what ``who_is_it`` answered (bottom row): the gallery face of the
    identity it returned, or an empty box for None, with the distance."""
    n = len(queries)
    fig, axes = plt.subplots(2, n, figsize=(n * size, 2 * size * 1.3), squeeze=False)
    for k in range(n):
        _show(axes[0, k], queries[k])
        axes[0, k].set_title(str(names[k]), fontsize=7)
        ans = answers[k]
        if ans is None:
            axes[1, k].imshow(np.ones((8, 8)), cmap="gray", vmin=0, vmax=1)
            axes[1, k].set_xticks([])
            axes[1, k].set_yticks([])
            axes[1, k].set_title(f"None\nd = {distances[k]:.2f}", fontsize=7)
        else:
            _show(axes[1, k], gallery[ans])
            axes[1, k].set_title(f"{ans}\nd = {distances[k]:.2f}", fontsize=7)
    axes[0, 0].set_ylabel("query", fontsize=8)
    axes[1, 0].set_ylabel("who_is_it", fontsize=8)
    return _finish(fig, title)
