"""Non-max suppression step by step (topic 8): which box is kept and which are dropped at each step.

:func:`nms_steps` replays greedy NMS and records every step; :func:`show_nms_steps` draws them,
one panel per step, after a first panel with all the proposals and their scores.
"""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle

from ._common import _finish, _grid, _to_numpy

__all__ = ["nms_steps", "show_nms_steps"]


def _iou_one(box, boxes) -> np.ndarray:
    w = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = w * h
    union = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms_steps(boxes, scores, iou_threshold: float, labels=None) -> list[dict]:
    """Greedy NMS, recorded: one dict per kept box, in the order they are kept, with
    ``kept`` (its index), ``score``, ``dropped`` (indices it suppresses at this step),
    ``ious`` ({index: IoU with the kept box} for every box still undecided, the dropped ones
    included) and ``remaining`` (the undecided indices after the step). Sorting is stable
    (equal scores: the lower index first); a box is dropped when its IoU with the kept box is
    strictly greater than ``iou_threshold``; with ``labels``, only boxes of the same label."""
    b = _to_numpy(boxes).astype(np.float64).reshape(-1, 4)
    s = _to_numpy(scores).astype(np.float64).reshape(-1)
    if len(s) != len(b):
        raise ValueError(f"scores must have one entry per box: {len(b)} boxes, {len(s)} scores")
    lab = None if labels is None else _to_numpy(labels).reshape(-1)
    order = [int(i) for i in np.argsort(-s, kind="stable")]
    steps = []
    while order:
        best, rest = order[0], order[1:]
        ious = _iou_one(b[best], b[rest]) if rest else np.zeros(0)
        same = np.ones(len(rest), bool) if lab is None else lab[rest] == lab[best]
        drop = [j for j, v, m in zip(rest, ious, same) if m and v > iou_threshold]
        order = [j for j in rest if j not in drop]
        steps.append({"kept": best, "score": float(s[best]), "dropped": drop,
                      "ious": {j: float(v) for j, v, m in zip(rest, ious, same) if m}, "remaining": list(order)})
    return steps


def _draw(ax, box, color, k, lw=1.5, ls="-", alpha=1.0):
    """A box and its index, the index staggered along the top edge so that near-identical
    boxes stay readable."""
    x1, y1, x2, y2 = box
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=color, lw=lw, ls=ls, alpha=alpha))
    ax.text(x1 + (k % 4 + 0.4) * 0.22 * (x2 - x1), y1 - 0.02 * (y2 - y1), str(k), color=color, fontsize=9,
            ha="center", va="bottom", alpha=alpha, fontweight="bold")


def _legend(ax, lines):
    """(text, colour) lines under the panel."""
    for i, (text, color) in enumerate(lines):
        ax.text(0.0, -0.03 - 0.085 * i, text, color=color, fontsize=8, transform=ax.transAxes, va="top")


def show_nms_steps(boxes, scores, iou_threshold: float, labels=None, cols: int = 4, size: float = 3.2,
                   title: str | None = None):
    """Draw greedy NMS step by step: panel 0 every proposal with its index and score; then one
    panel per step: the box kept at this step (thick green), the boxes it drops (red, dashed),
    the boxes kept earlier (green), dropped earlier (grey, dotted) and still undecided (blue);
    under each panel, every box's IoU with the kept one and the decision. Returns the closed figure."""
    b = _to_numpy(boxes).astype(np.float64).reshape(-1, 4)
    s = _to_numpy(scores).astype(np.float64).reshape(-1)
    steps = nms_steps(b, s, iou_threshold, labels)
    fig, axes = _grid(len(steps) + 1, cols, size)
    pad = 0.08 * max(np.ptp(b[:, [0, 2]]), np.ptp(b[:, [1, 3]]), 1.0)
    lims = (b[:, 0].min() - pad, b[:, 2].max() + pad, b[:, 3].max() + pad, b[:, 1].min() - 2 * pad)
    for ax in axes:
        ax.set_xlim(lims[0], lims[1])
        ax.set_ylim(lims[2], lims[3])  # y down, as in an image
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    order = np.argsort(-s, kind="stable")
    for k in order:
        _draw(axes[0], b[k], "tab:blue", int(k))
    _legend(axes[0], [(f"box {k}: score {s[k]:.2f}", "tab:blue") for k in order])
    axes[0].set_title("proposals (index: score)", fontsize=9)
    kept, dropped = [], []
    for ax, step in zip(axes[1:], steps):
        lines = []
        for j in kept:
            _draw(ax, b[j], "tab:green", j, lw=1.2)
            lines.append((f"box {j}: kept before", "tab:green"))
        for j in dropped:
            _draw(ax, b[j], "grey", j, lw=1.0, ls=":", alpha=0.6)
        lines.append((f"box {step['kept']}: score {step['score']:.2f}, highest left -> KEEP", "tab:green"))
        for j in step["remaining"]:
            iou = step["ious"].get(j)
            _draw(ax, b[j], "tab:blue", j, lw=1.0)
            lines.append((f"box {j}: " + (f"IoU {iou:.2f} <= {iou_threshold:g} -> stays" if iou is not None
                                          else "other class -> stays"), "tab:blue"))
        for j in step["dropped"]:
            _draw(ax, b[j], "tab:red", j, lw=1.5, ls="--")
            lines.append((f"box {j}: IoU {step['ious'][j]:.2f} > {iou_threshold:g} -> DROP", "tab:red"))
        _draw(ax, b[step["kept"]], "tab:green", step["kept"], lw=3.0)
        _legend(ax, lines)
        gone = ", ".join(map(str, step["dropped"])) or "nothing"
        ax.set_title(f"step {len(kept) + 1}: keep {step['kept']}, drop {gone}", fontsize=9)
        kept.append(step["kept"])
        dropped += step["dropped"]
    return _finish(fig, title or f"greedy NMS at IoU threshold {iou_threshold}: kept {kept}")
