"""Interactive explorers (ipywidgets 8) for the detection notebook (topic 8).

``nms_explorer(images, candidates)`` shows a detector's raw candidate boxes on an image next to
what survives a score threshold and per-class non-max suppression, with sliders for both
thresholds. ``grid_explorer(image, boxes, labels)`` draws a YOLO grid of adjustable size over
an image, marks each object's centre and responsible cell, says which anchor its shape takes
and which objects collide in one (cell, anchor) slot.

As in :mod:`cnn_course.widgets`, pictures are rendered with matplotlib's Agg canvas into an
``ipywidgets.Image``; the text representation is short and deterministic (``message``).
"""

from __future__ import annotations

import io

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .ref.boxes import batched_nms, nms
from .ref.yolo import assign_anchors

__all__ = ["NMSExplorer", "GridExplorer", "nms_explorer", "grid_explorer"]

_COLORS = ("tab:orange", "tab:cyan", "tab:pink", "tab:olive", "tab:red", "tab:purple")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    return buf.getvalue()


def _grey(image) -> np.ndarray:
    im = np.asarray(image, dtype=np.float64)
    if im.ndim == 3 and im.shape[0] in (1, 3):
        im = im.mean(axis=0)
    if im.ndim == 3:
        im = im.mean(axis=-1)
    if im.ndim != 2:
        raise ValueError(f"image must be (H, W), (1, H, W) or (H, W, 3), got shape {np.shape(image)}")
    return im


def _draw(ax, image, boxes, labels, scores=None, styles=None, class_names=None):
    ax.clear()
    H, W = image.shape
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, extent=(0, W, H, 0), interpolation="nearest")
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.set_axis_off()
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        c = _COLORS[int(labels[k]) % len(_COLORS)]
        ls, lw = (styles[k] if styles is not None else ("-", 1.5))
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=c, lw=lw, ls=ls))
        if scores is not None and ls == "-":
            name = class_names[int(labels[k])] if class_names is not None else str(int(labels[k]))
            ax.text(x1, y1, f"{name} {scores[k]:.2f}", color="black", fontsize=7, va="bottom", clip_on=True,
                    bbox=dict(facecolor=c, edgecolor="none", pad=0.5, alpha=0.85))


class NMSExplorer(widgets.VBox):
    """Widget: score threshold and NMS IoU threshold over a detector's raw candidates."""

    def __init__(self, images, candidates, class_names=None):
        if len(images) != len(candidates) or len(images) == 0:
            raise ValueError("images and candidates must be non-empty lists of the same length")
        self.images = [_grey(im) for im in images]
        self.candidates = [tuple(np.asarray(a) for a in c) for c in candidates]
        self.class_names = class_names
        self.controls = {
            "image": widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image"),
            "score": widgets.FloatSlider(value=0.3, min=0.0, max=0.95, step=0.05, description="score >"),
            "iou": widgets.FloatSlider(value=0.5, min=0.05, max=1.0, step=0.05, description="IoU >"),
            "per_class": widgets.Checkbox(value=True, description="per class"),
        }
        self.info = widgets.HTML()
        self.picture = widgets.Image(format="png")
        self.message = ""
        self.kept = np.zeros(0, np.int64)
        self.draw = True
        self._fig = None
        for w in self.controls.values():
            w.observe(self.update, names="value")
        c = list(self.controls.values())
        super().__init__([widgets.HBox(c[:2]), widgets.HBox(c[2:]), self.info, self.picture])
        self.update()

    def update(self, change=None) -> None:
        """Filter by score, run NMS, redraw."""
        k = self.controls["image"].value
        boxes, scores, labels = self.candidates[k]
        t, u = self.controls["score"].value, self.controls["iou"].value
        above = np.flatnonzero(scores > t)
        b, s, l = boxes[above], scores[above], labels[above]
        if self.controls["per_class"].value:
            keep = batched_nms(b, s, l, u)
        else:
            keep = nms(b, s, u)
        self.kept = above[keep]
        self.message = (f"image {k}: {len(boxes)} candidates, {len(above)} with score > {t:.2f}, "
                        f"{len(keep)} kept by {'per-class ' if self.controls['per_class'].value else ''}NMS at IoU > {u:.2f}")
        self.info.value = self.message
        if not self.draw:
            return
        if self._fig is None:
            self._fig = Figure(figsize=(7, 3.6))
            self._axes = self._fig.subplots(1, 2)
            self._fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.9, wspace=0.05)
        image = self.images[k]
        _draw(self._axes[0], image, b, l, s, styles=[("-", 0.8)] * len(b), class_names=None)
        self._axes[0].set_title(f"score > {t:.2f}: {len(b)} boxes", fontsize=9)
        _draw(self._axes[1], image, b[keep], l[keep], s[keep], class_names=self.class_names)
        self._axes[1].set_title(f"after NMS: {len(keep)} boxes", fontsize=9)
        self.picture.value = _png(self._fig)

    def __repr__(self) -> str:
        return f"{type(self).__name__}: {self.message}"


class GridExplorer(widgets.VBox):
    """Widget: an S×S grid over an image, the responsible cells and the anchors the objects take."""

    def __init__(self, image, boxes, labels, anchors=None, class_names=None, grids=(2, 3, 4, 8, 16)):
        self.image = _grey(image)
        self.boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        self.labels = np.asarray(labels, np.int64).reshape(-1)
        self.anchors = None if anchors is None else np.asarray(anchors, np.float64)
        self.class_names = class_names
        self.controls = {"S": widgets.SelectionSlider(options=list(grids), value=grids[min(3, len(grids) - 1)],
                                                      description="grid S")}
        if self.anchors is not None:
            self.controls["use_anchors"] = widgets.Checkbox(value=True, description="anchors")
        self.info = widgets.HTML()
        self.picture = widgets.Image(format="png")
        self.message = ""
        self.draw = True
        self._fig = None
        for w in self.controls.values():
            w.observe(self.update, names="value")
        super().__init__([widgets.HBox(list(self.controls.values())), self.info, self.picture])
        self.update()

    def slots(self):
        """(row, col, anchor) of every box for the current settings."""
        S = self.controls["S"].value
        H, W = self.image.shape
        b = self.boxes
        u, v = (b[:, 0] + b[:, 2]) / 2 * S / W, (b[:, 1] + b[:, 3]) / 2 * S / H
        col = np.minimum(np.floor(u), S - 1).astype(int)
        row = np.minimum(np.floor(v), S - 1).astype(int)
        use = self.anchors is not None and self.controls["use_anchors"].value
        shapes = np.stack([(b[:, 3] - b[:, 1]) / H, (b[:, 2] - b[:, 0]) / W], axis=1)
        anchor = assign_anchors(shapes, self.anchors) if use and len(b) else np.zeros(len(b), int)
        return row, col, anchor

    def update(self, change=None) -> None:
        """Recompute the slots and redraw."""
        S = self.controls["S"].value
        row, col, anchor = self.slots()
        keys = list(zip(row.tolist(), col.tolist(), anchor.tolist()))
        lost = [i for i, key in enumerate(keys) if key in keys[:i]]
        use = self.anchors is not None and self.controls["use_anchors"].value
        parts = [f"S = {S}: output {S}×{S}×{(len(self.anchors) if use else 1)}·(5 + C)"]
        for i, (r, c, a) in enumerate(keys):
            name = self.class_names[self.labels[i]] if self.class_names is not None else f"object {i}"
            parts.append(f"{name}: cell (row {r}, col {c})" + (f", anchor {a}" if use else "")
                         + (" — LOST: its slot is taken" if i in lost else ""))
        self.message = "; ".join(parts)
        self.info.value = "<br>".join(parts)
        if not self.draw:
            return
        if self._fig is None:
            self._fig = Figure(figsize=(3.8, 3.8))
            self._ax = self._fig.subplots()
            self._fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99)
        ax = self._ax
        _draw(ax, self.image, self.boxes, self.labels)
        H, W = self.image.shape
        for k in range(1, S):
            ax.axhline(k * H / S, color="white", lw=0.5)
            ax.axvline(k * W / S, color="white", lw=0.5)
        for i, (r, c, _) in enumerate(keys):
            ax.add_patch(Rectangle((c * W / S, r * H / S), W / S, H / S, color=_COLORS[self.labels[i] % len(_COLORS)],
                                   alpha=0.35))
        ax.plot((self.boxes[:, 0] + self.boxes[:, 2]) / 2, (self.boxes[:, 1] + self.boxes[:, 3]) / 2, "r+", ms=10)
        self.picture.value = _png(self._fig)

    def __repr__(self) -> str:
        return f"{type(self).__name__}: {self.message}"


def nms_explorer(images, candidates, class_names=None) -> NMSExplorer:
    """The NMS explorer over ``images`` and, per image, raw ``(boxes (K, 4), scores (K,), labels (K,))``."""
    return NMSExplorer(images, candidates, class_names)


def grid_explorer(image, boxes, labels, anchors=None, class_names=None) -> GridExplorer:
    """The grid/anchor explorer for one image and its true boxes; anchors (B, 2) rows (h, w) as image fractions."""
    return GridExplorer(image, boxes, labels, anchors, class_names)
