"""Pictures for the R-CNN notebook: RoI pooling's bins and RoIAlign's sample points on a feature map,
and the labels of anchors around ground-truth boxes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from ..ref.rcnn import roi_align_geometry, roi_pool_bins

__all__ = ["draw_roi_bins", "draw_anchor_labels"]

_BIN_COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


def draw_roi_bins(feature, roi, output_size, spatial_scale, mode: str = "pool", sampling_ratio: int = 2,
                  ax=None, title: str | None = None):
    """One channel ``feature`` (H, W) with its values, the roi (x1, y1, x2, y2 in image pixels) scaled
    to feature pixels (dashed), and either RoI pooling's bins (``mode="pool"``: the rounded region's
    bins, each a coloured rectangle of whole pixels; overlapping bins share a pixel) or RoIAlign's
    sample points (``mode="align"``, aligned=True: the exact region, its bins, and the points at which
    bilinear interpolation reads the map), or only the scaled roi (``mode="none"``). Pixel (h, w) covers [w, w + 1) × [h, h + 1)."""
    f = np.asarray(feature, np.float64)
    H, W = f.shape
    oh, ow = output_size
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4.2 * H / W))
    ax.imshow(f, cmap="Greys", extent=(0, W, H, 0), alpha=0.35)
    for h in range(H):
        for w in range(W):
            ax.text(w + 0.5, h + 0.5, f"{f[h, w]:g}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(W + 1))
    ax.set_yticks(range(H + 1))
    ax.grid(True, color="0.6", lw=0.5)
    x1, y1, x2, y2 = (float(c) for c in roi)
    ax.add_patch(Rectangle((x1 * spatial_scale, y1 * spatial_scale), (x2 - x1) * spatial_scale,
                           (y2 - y1) * spatial_scale, fill=False, ls="--", lw=1.5, color="k"))
    if mode == "pool":
        hs, he = roi_pool_bins((y1, y2), oh, spatial_scale, np.float64, H)
        ws, we = roi_pool_bins((x1, x2), ow, spatial_scale, np.float64, W)
        for i in range(oh):
            for j in range(ow):
                c = _BIN_COLOURS[(i * ow + j) % len(_BIN_COLOURS)]
                inset = 0.06 * (1 + (i * ow + j) % 3)
                ax.add_patch(Rectangle((ws[j] + inset, hs[i] + inset), we[j] - ws[j] - 2 * inset,
                                       he[i] - hs[i] - 2 * inset, fill=False, lw=2, color=c))
    elif mode == "align":
        ys, _ = roi_align_geometry((y1, y2), oh, spatial_scale, sampling_ratio, True, np.float64)
        xs, _ = roi_align_geometry((x1, x2), ow, spatial_scale, sampling_ratio, True, np.float64)
        # aligned: feature coordinates are shifted by -0.5 (a pixel's centre at its index); draw at +0.5
        bh, bw = (ys[1, 0] - ys[0, 0]) if oh > 1 else None, (xs[1, 0] - xs[0, 0]) if ow > 1 else None
        for i in range(oh):
            for j in range(ow):
                c = _BIN_COLOURS[(i * ow + j) % len(_BIN_COLOURS)]
                yy, xx = np.meshgrid(ys[i] + 0.5, xs[j] + 0.5, indexing="ij")
                ax.plot(xx.ravel(), yy.ravel(), "o", color=c, ms=4)
        y0, x0 = y1 * spatial_scale, x1 * spatial_scale
        sh, sw = (y2 - y1) * spatial_scale / oh, (x2 - x1) * spatial_scale / ow
        for i in range(oh):
            for j in range(ow):
                ax.add_patch(Rectangle((x0 + j * sw, y0 + i * sh), sw, sh, fill=False, lw=1,
                                       color=_BIN_COLOURS[(i * ow + j) % len(_BIN_COLOURS)]))
        del bh, bw
    elif mode != "none":
        raise ValueError(f"mode must be 'pool', 'align' or 'none', got {mode!r}")
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def draw_anchor_labels(image, anchors, labels, gt_boxes, ax=None, title: str | None = None, size: float = 3.5):
    """The image with its ground truth (white) and the anchors labelled positive (green) and ignored
    (orange); negatives, the vast majority, are left out. anchors (A, 4), labels (A,) 1 / 0 / -1."""
    img = np.asarray(image, np.float64)
    img = img[0] if img.ndim == 3 and img.shape[0] == 1 else img
    if ax is None:
        _, ax = plt.subplots(figsize=(size, size))
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    for lab, colour, lw, alpha in ((-1, "tab:orange", 0.5, 0.5), (1, "lime", 1.2, 1.0)):
        for x1, y1, x2, y2 in np.asarray(anchors)[np.asarray(labels) == lab]:
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=lw, color=colour, alpha=alpha))
    for x1, y1, x2, y2 in np.asarray(gt_boxes).reshape(-1, 4):
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.5, ls="--", color="white"))
    ax.set_xlim(-0.5, img.shape[1] - 0.5)
    ax.set_ylim(img.shape[0] - 0.5, -0.5)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return ax
