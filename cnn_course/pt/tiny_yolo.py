"""A small YOLO for the detection scenes (topic 8), trained on CPU in about a minute.

    x (N, 1, 64, 64)
      -conv 3×3 stride 2, 16 + BN + LeakyReLU -> (N, 16, 32, 32)
      -[conv 3×3 + BN + LeakyReLU, max pool 2] × 2, widths 32, 64 -> (N, 64, 8, 8)
      -conv 3×3 64 + BN + LeakyReLU -> conv 1×1 B·(5+C) -> (N, B·(5+C), 8, 8)
      -permute -> raw (N, S, S, B·(5+C)), S = 8: one cell per 8×8 pixels

The output is *raw* (before ``yolo_activate``), in the layout of ``cnn_course.pt.yolo``;
``yolo_loss`` trains it against ``yolo_encode`` targets and ``detect`` turns it into scored
boxes. The anchors are box shapes (h, w) as fractions of the image: by default a tall, a
square and a wide one, the shapes of trousers, bags and sneakers.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from .. import _validate as v
from .yolo import yolo_activate, yolo_decode, yolo_encode, yolo_loss

__all__ = ["DEFAULT_ANCHORS", "TinyYOLO", "tiny_yolo", "yolo_targets", "detect", "train_tiny_yolo"]

#: (h, w) fractions of the image: tall, square, wide -- about the median shapes of the trousers,
#: the bags and the sneakers in the training scenes (0.39 × 0.16, 0.30 × 0.33, 0.17 × 0.38).
DEFAULT_ANCHORS = ((0.38, 0.17), (0.31, 0.34), (0.17, 0.38))


def _block(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.1)]


class TinyYOLO(nn.Module):
    """(N, in_channels, H, W) -> raw (N, H/2^downsamplings, W/2^downsamplings, B*(5+C))."""

    def __init__(self, num_classes: int, anchors=DEFAULT_ANCHORS, in_channels: int = 1, width: int = 16,
                 downsamplings: int = 3):
        super().__init__()
        self.num_classes = v.check_positive_int(num_classes, "num_classes")
        anchors = torch.as_tensor(anchors, dtype=torch.float32)
        if anchors.ndim != 2 or anchors.shape[1] != 2 or not bool((anchors > 0).all()):
            raise ValueError(f"anchors must be (B, 2) positive (h, w) fractions of the image, got {anchors.tolist()}")
        self.register_buffer("anchors", anchors)
        c = v.check_positive_int(in_channels, "in_channels")
        # the first halving by a stride-2 convolution (4× cheaper at full resolution), the others by max pooling
        layers = _block(c, width, stride=2)
        c = width
        for k in range(1, v.check_positive_int(downsamplings, "downsamplings")):
            layers += _block(c, width * 2**k) + [nn.MaxPool2d(2)]
            c = width * 2**k
        layers += _block(c, c)
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(c, len(anchors) * (5 + num_classes), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).permute(0, 2, 3, 1)


def tiny_yolo(num_classes: int, grid: int = 8, anchors=DEFAULT_ANCHORS, image_size: int = 64,
              in_channels: int = 1) -> TinyYOLO:
    """A :class:`TinyYOLO` whose S×S grid is ``grid`` (image_size / grid must be a power of two)."""
    grid, image_size = v.check_positive_int(grid, "grid"), v.check_positive_int(image_size, "image_size")
    stride = image_size // grid
    if image_size % grid or stride < 2 or stride & (stride - 1):
        raise ValueError(f"image_size / grid must be a power of two >= 2 (the network halves the image "
                         f"that many times), got {image_size} / {grid}")
    return TinyYOLO(num_classes, anchors, in_channels, downsamplings=stride.bit_length() - 1)


def yolo_targets(targets, image_size: int, grid: int, num_classes: int, anchors=DEFAULT_ANCHORS) -> torch.Tensor:
    """Per-image ``(boxes, labels)`` -> the stacked YOLO targets (N, S, S, B*(5+C)) float32.

    Exactly ``yolo_encode`` of each image (same cell, anchor and slot rules: a later box that
    finds its (cell, anchor) taken is dropped), computed for all boxes at once: encoding 2,000
    scenes one ``yolo_encode`` call at a time takes seconds, this a few milliseconds.
    """
    S, C = v.check_positive_int(grid, "grid"), v.check_positive_int(num_classes, "num_classes")
    size = float(v.check_positive_int(image_size, "image_size"))
    a = np.asarray(anchors.cpu() if isinstance(anchors, torch.Tensor) else anchors, np.float64).reshape(-1, 2)
    B, D = len(a), 5 + C
    boxes = np.concatenate([np.asarray(b, np.float64).reshape(-1, 4) for b, _ in targets] + [np.zeros((0, 4))])
    labels = np.concatenate([np.asarray(l, np.int64).reshape(-1) for _, l in targets] + [np.zeros(0, np.int64)])
    image = np.repeat(np.arange(len(targets)), [len(np.asarray(l).reshape(-1)) for _, l in targets])
    if len(boxes) and (labels.min() < 0 or labels.max() >= C):
        raise ValueError(f"labels must lie in 0..{C - 1}, got values in {labels.min()}..{labels.max()}")
    u = (boxes[:, 0] + boxes[:, 2]) / 2 * S / size
    w = (boxes[:, 1] + boxes[:, 3]) / 2 * S / size
    if len(boxes) and (u.min() < 0 or u.max() > S or w.min() < 0 or w.max() > S):
        raise ValueError("a box's centre lies outside the image: no cell can be responsible for it")
    col, row = np.minimum(np.floor(u), S - 1), np.minimum(np.floor(w), S - 1)
    bh, bw = (boxes[:, 3] - boxes[:, 1]) / size, (boxes[:, 2] - boxes[:, 0]) / size
    inter = np.minimum(bh[:, None], a[None, :, 0]) * np.minimum(bw[:, None], a[None, :, 1])
    union = (bh * bw)[:, None] + (a[:, 0] * a[:, 1])[None] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=inter > 0)
    anchor = iou.argmax(axis=1)  # the first of equal IoUs, as assign_anchors
    key = ((image * S + row.astype(np.int64)) * S + col.astype(np.int64)) * B + anchor
    _, first = np.unique(key, return_index=True)  # the first box in input order keeps the slot
    target = np.zeros((len(targets), S, S, B, D), np.float64)
    i, r, c, k = image[first], row[first].astype(np.int64), col[first].astype(np.int64), anchor[first]
    target[i, r, c, k, :5] = np.stack([np.ones(len(first)), u[first] - col[first], w[first] - row[first],
                                       bh[first], bw[first]], axis=1)
    target[i, r, c, k, 5 + labels[first]] = 1
    return torch.from_numpy(target.reshape(len(targets), S, S, B * D).astype(np.float32))


@torch.no_grad()
def detect(model: TinyYOLO, images, score_threshold: float = 0.01, iou_threshold: float = 0.5,
           batch_size: int = 256) -> list:
    """Scored boxes for each image: a list of ``(boxes (K, 4), scores (K,), labels (K,))`` NumPy
    arrays (per-class NMS at ``iou_threshold``), the ``detections`` of ``mean_average_precision``."""
    model.eval()
    x = torch.as_tensor(images, dtype=torch.float32)
    H, W = x.shape[-2:]
    out = []
    for k in range(0, len(x), batch_size):
        pred = yolo_activate(model(x[k : k + batch_size]), model.num_classes, model.anchors)
        for p in pred:
            b, s, l = yolo_decode(p, (H, W), model.num_classes, score_threshold, iou_threshold)
            out.append((b.numpy(), s.numpy(), l.numpy()))
    return out


def _flip(x: torch.Tensor, t: torch.Tensor, anchors) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror images left-right, and their targets with them (cells reversed, bx -> 1 - bx)."""
    S, D = t.shape[2], t.shape[3] // len(anchors)
    t = t.flip(2).reshape(*t.shape[:3], len(anchors), D).clone()
    obj = t[..., 0] > 0
    t[..., 1] = torch.where(obj, 1 - t[..., 1], t[..., 1])
    return x.flip(3), t.reshape(*t.shape[:3], -1)


def train_tiny_yolo(model: TinyYOLO, images, targets, epochs: int = 12, batch_size: int = 32, lr: float = 3e-3,
                    seed: int = 0, flip: bool = True, log=None) -> list[float]:
    """Train with Adam and a one-cycle learning rate on ``yolo_loss``; returns the mean loss per epoch.

    images (N, C, H, W); targets per image ``(boxes, labels)``. Random left-right mirroring when ``flip``.
    ``log``: called with (epoch, mean loss, seconds so far) after each epoch.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(images, dtype=torch.float32)
    S = model(x[:1]).shape[1]
    y = yolo_targets(targets, x.shape[-1], S, model.num_classes, model.anchors)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    history, start = [], time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for k in range(0, len(x), batch_size):
            idx = order[k : k + batch_size]
            xb, yb = x[idx], y[idx]
            if flip:
                mirror = torch.rand(len(idx), generator=gen) < 0.5
                fx, fy = _flip(xb[mirror], yb[mirror], model.anchors)
                xb, yb = xb.clone(), yb.clone()
                xb[mirror], yb[mirror] = fx, fy
            loss = yolo_loss(model(xb), yb, model.num_classes, model.anchors)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / len(x))
        if log is not None:
            log(epoch, history[-1], time.perf_counter() - start)
    model.eval()
    return history
