"""Pictures for object detection (topics 8 and 9): boxes with class names and scores on images.

Boxes are corners (x1, y1, x2, y2) in pixels with continuous coordinates (pixel (row r,
column c) covers [c, c+1] × [r, r+1], as in ``cnn_course.ref.boxes``), so images are drawn
with ``extent=(0, W, H, 0)``: a box drawn from x1 = 3 starts exactly at the left edge of
column 3.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from ._common import _finish, _grid, _to_numpy

__all__ = ["draw_boxes", "show_detections"]

_CLASS_COLORS = ("tab:orange", "tab:cyan", "tab:pink", "tab:olive", "tab:red", "tab:purple",
                 "tab:green", "tab:brown", "tab:blue", "yellow")


def _image(image) -> np.ndarray:
    im = _to_numpy(image)
    if im.ndim == 3 and im.shape[0] in (1, 3) and im.shape[-1] not in (1, 3):  # (C, H, W) -> (H, W, C)
        im = np.moveaxis(im, 0, -1)
    if im.ndim == 3 and im.shape[-1] == 1:
        im = im[..., 0]
    if im.ndim not in (2, 3) or (im.ndim == 3 and im.shape[-1] != 3):
        raise ValueError(f"image must be (H, W), (H, W, 3), (1, H, W) or (3, H, W), got shape {im.shape}")
    return im


def _boxes(boxes, name: str) -> np.ndarray:
    b = _to_numpy(boxes).astype(np.float64)
    if b.size == 0:
        return b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{name} must have shape (K, 4), rows (x1, y1, x2, y2), got shape {b.shape}")
    return b


def _caption(label, score, class_names) -> str | None:
    parts = []
    if label is not None:
        parts.append(class_names[label] if class_names is not None and 0 <= label < len(class_names) else str(label))
    if score is not None:
        parts.append(f"{score:.2f}")
    return " ".join(parts) or None


def draw_boxes(image, boxes, labels=None, scores=None, class_names=None, ax=None, title: str | None = None,
               gt_boxes=None, color=None, size: float = 4.0):
    """Draw one image and its boxes, each captioned with its class name and score.

    image: (H, W), (H, W, 3) or (C, H, W) with C = 1 or 3, values in [0, 1];
    boxes: (K, 4) corners; labels: (K,) integers (colour and caption) or None;
    scores: (K,) or None; class_names: names indexed by label;
    gt_boxes: optional (G, 4) ground truth, drawn dashed in white underneath;
    color: one colour for every box (default: one per class).
    Draws on ``ax`` and returns it when given, else returns a new figure.
    """
    im = _image(image)
    b = _boxes(boxes, "boxes")
    labels = None if labels is None else _to_numpy(labels).astype(np.int64).reshape(-1)
    scores = None if scores is None else _to_numpy(scores).astype(np.float64).reshape(-1)
    for name, a in (("labels", labels), ("scores", scores)):
        if a is not None and len(a) != len(b):
            raise ValueError(f"{name} must have one entry per box: {len(b)} boxes, {len(a)} {name}")
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(size, size))
    H, W = im.shape[:2]
    ax.imshow(im, cmap="gray", vmin=0, vmax=1, extent=(0, W, H, 0), interpolation="nearest")
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.axis("off")
    if gt_boxes is not None:
        for x1, y1, x2, y2 in _boxes(gt_boxes, "gt_boxes"):
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="white", lw=1.2, ls="--"))
    for k, (x1, y1, x2, y2) in enumerate(b):
        label = None if labels is None else int(labels[k])
        c = color or _CLASS_COLORS[(label or 0) % len(_CLASS_COLORS)]
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=c, lw=1.5))
        text = _caption(label, None if scores is None else float(scores[k]), class_names)
        if text:
            ax.text(x1, y1, text, color="black", fontsize=7, va="bottom", ha="left", clip_on=True,
                    bbox=dict(facecolor=c, edgecolor="none", pad=0.5, alpha=0.85))
    if fig is None:
        if title:
            ax.set_title(title)
        return ax
    return _finish(fig, title, ax=ax)


def show_detections(images, detections=None, ground_truths=None, class_names=None, cols: int = 4,
                    size: float = 2.5, titles=None, suptitle: str | None = None):
    """A grid of images with their boxes.

    images: (N, C, H, W), (N, H, W) or a list of images;
    detections: per image ``(boxes, scores, labels)`` (a detector's output) or None;
    ground_truths: per image ``(boxes, labels)``; drawn solid when there are no detections,
    else dashed in white underneath the detections.
    """
    ims = [im for im in images] if not hasattr(images, "shape") else list(_to_numpy(images))
    n = len(ims)
    for name, per_image in (("detections", detections), ("ground_truths", ground_truths)):
        if per_image is not None and len(per_image) != n:
            raise ValueError(f"{name} must have one entry per image: {n} images, {len(per_image)} entries")
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles must have one entry per image: {n} images, {len(titles)} titles")
    fig, axes = _grid(n, cols, size)
    for i, ax in enumerate(axes):
        gt = None if ground_truths is None else ground_truths[i]
        if detections is None:
            boxes, labels = (np.zeros((0, 4)), None) if gt is None else gt
            draw_boxes(ims[i], boxes, labels, class_names=class_names, ax=ax)
        else:
            boxes, scores, labels = detections[i]
            draw_boxes(ims[i], boxes, labels, scores, class_names, ax=ax, gt_boxes=None if gt is None else gt[0])
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    return _finish(fig, suptitle)
