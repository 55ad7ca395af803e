"""A small Faster R-CNN for the 64×64 detection scenes (topic 9), trained on CPU in minutes.

Two stages on one shared feature map, as Ren and colleagues' Faster R-CNN (2015):

    x (N, 1, 64, 64)
      -backbone: [conv 3×3 + BN + ReLU, max pool 2] × 2 (widths 16, 32), conv 3×3 64 + BN + ReLU
       -> features (N, 64, 16, 16): stride 4, one feature pixel per 4×4 image pixels
      -RPN: conv 3×3 64 + ReLU -> 1×1 conv to A objectness logits and 1×1 conv to 4A deltas,
       A = len(anchor_sizes)·len(aspect_ratios) anchors per feature pixel (``generate_anchors``)
      -proposals: decode, clip, NMS (``proposals_after_nms``), per image
      -RoIAlign (``roi_align``, 5×5 bins, 2×2 samples each, aligned) of every proposal
      -head: flatten -> FC 128 -> ReLU -> FC 128 -> ReLU -> class scores (C + 1, 0 = background)
       and per-class box deltas (4·(C + 1)), as torchvision's FastRCNNPredictor

Training (``train_faster_rcnn``) adds the RPN loss (``rpn_loss`` over 256 anchors per image
sampled by ``sample_anchors``, labels from ``anchor_targets``) and the head's loss
(cross-entropy over 64 proposals per image, a quarter of them foreground, plus smooth-L1 on the
foreground's deltas of their true class). The ground-truth boxes are added to the proposals
during training, as in the reference implementations, so the head sees good boxes from the
first step on. ``detect`` returns per image ``(boxes, scores, labels)`` NumPy arrays, the
``detections`` of ``cnn_course.ref.detection_metrics.mean_average_precision``.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate as v
from .boxes import box_iou
from .rcnn import anchor_targets, decode_boxes, encode_boxes, generate_anchors, roi_align, rpn_loss, \
    sample_anchors

__all__ = ["FasterRCNN", "faster_rcnn", "detect", "train_faster_rcnn", "rpn_outputs", "LOSS_NAMES",
           "HEAD_WEIGHTS", "greedy_nms", "proposals", "train_step_losses", "DEFAULT_ANCHOR_SIZES", "DEFAULT_ASPECT_RATIOS"]

#: Anchor sizes (square root of the area, pixels) and aspect ratios (height / width): the scenes'
#: objects are 16 to 32 pixels long, trousers tall, sneakers wide, bags about square.
DEFAULT_ANCHOR_SIZES = (14.0, 20.0, 28.0)
DEFAULT_ASPECT_RATIOS = (0.5, 1.0, 2.0)
#: The head's box-regression weights (wx, wy, ww, wh), torchvision's: its deltas are 10× / 5× larger numbers.
HEAD_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
LOSS_NAMES = ("rpn_objectness", "rpn_box", "head_class", "head_box")


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class FasterRCNN(nn.Module):
    """Backbone + RPN + RoIAlign head. ``forward(x)`` gives the shared features and the RPN's raw
    outputs; ``detect`` and ``train_faster_rcnn`` run the two stages."""

    def __init__(self, num_classes: int, image_size: int = 64, in_channels: int = 1, width: int = 16,
                 anchor_sizes=DEFAULT_ANCHOR_SIZES, aspect_ratios=DEFAULT_ASPECT_RATIOS, roi_size: int = 5,
                 hidden: int = 128):
        super().__init__()
        self.num_classes = v.check_positive_int(num_classes, "num_classes")
        self.image_size = v.check_positive_int(image_size, "image_size")
        if self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 (the backbone's stride), got {image_size}")
        c = v.check_positive_int(in_channels, "in_channels")
        w = v.check_positive_int(width, "width")
        self.stride = 4
        self.roi_size = v.check_positive_int(roi_size, "roi_size")
        self.anchor_sizes = tuple(float(s) for s in anchor_sizes)
        self.aspect_ratios = tuple(float(a) for a in aspect_ratios)
        A = len(self.anchor_sizes) * len(self.aspect_ratios)
        self.backbone = nn.Sequential(*_block(c, w), nn.MaxPool2d(2), *_block(w, 2 * w), nn.MaxPool2d(2),
                                      *_block(2 * w, 4 * w))
        f = 4 * w
        self.rpn_conv = nn.Conv2d(f, f, 3, padding=1)
        self.rpn_objectness = nn.Conv2d(f, A, 1)
        self.rpn_deltas = nn.Conv2d(f, 4 * A, 1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(f * roi_size * roi_size, hidden), nn.ReLU(),
                                  nn.Linear(hidden, hidden), nn.ReLU())
        self.class_scores = nn.Linear(hidden, num_classes + 1)
        self.box_deltas = nn.Linear(hidden, 4 * (num_classes + 1))
        side = self.image_size // self.stride
        anchors = generate_anchors((side, side), self.stride, self.anchor_sizes, self.aspect_ratios, offset=0.5,
                                   dtype=torch.float32)
        self.register_buffer("anchors", anchors, persistent=False)
        # the RPN's objectness starts near "no object" (most anchors are background), as in RetinaNet
        nn.init.normal_(self.rpn_objectness.weight, std=0.01)
        nn.init.constant_(self.rpn_objectness.bias, -2.0)
        nn.init.normal_(self.rpn_deltas.weight, std=0.01)
        nn.init.zeros_(self.rpn_deltas.bias)

    @property
    def num_anchors(self) -> int:
        return len(self.anchor_sizes) * len(self.aspect_ratios)

    def forward(self, x: torch.Tensor):
        """x (N, C, H, W) -> (features (N, F, H/4, W/4), objectness (N, H/4·W/4·A), deltas (N, H/4·W/4·A, 4)),
        the anchors in ``generate_anchors``' order (pixel-major, then ratio, then size)."""
        features = self.backbone(x)
        return (features, *rpn_outputs(self, features))

    def head_outputs(self, features: torch.Tensor, rois: torch.Tensor):
        """features (N, F, h, w), rois (K, 5) -> (class logits (K, C + 1), deltas (K, C + 1, 4))."""
        pooled = roi_align(features, rois, self.roi_size, 1.0 / self.stride, sampling_ratio=2, aligned=True)
        h = self.head(pooled)
        return self.class_scores(h), self.box_deltas(h).view(-1, self.num_classes + 1, 4)


def rpn_outputs(model: FasterRCNN, features: torch.Tensor):
    """The RPN on shared features: (objectness (N, h·w·A), deltas (N, h·w·A, 4)) in anchor order."""
    t = F.relu(model.rpn_conv(features))
    N, _, h, w = t.shape
    A = model.num_anchors
    obj = model.rpn_objectness(t).permute(0, 2, 3, 1).reshape(N, h * w * A)
    deltas = model.rpn_deltas(t).view(N, A, 4, h, w).permute(0, 3, 4, 1, 2).reshape(N, h * w * A, 4)
    return obj, deltas


def faster_rcnn(num_classes: int, image_size: int = 64, **kw) -> FasterRCNN:
    """A :class:`FasterRCNN` for ``image_size``² one-channel scenes (keyword arguments: see the class)."""
    return FasterRCNN(num_classes, image_size, **kw)


def greedy_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, max_keep: int | None = None,
               labels: torch.Tensor | None = None) -> torch.Tensor:
    """``nms`` (or ``batched_nms`` with ``labels``) of ``cnn_course.pt.boxes``, the same indices in
    the same order, from one IoU matrix: the library's loop recomputes IoUs at every kept box,
    which costs more than the whole network on these small images. Stops after ``max_keep``.
    """
    order = torch.sort(scores.detach().to(torch.float64), descending=True, stable=True).indices
    b = boxes.detach()[order]
    if labels is not None and len(b):  # classes far apart: boxes of different classes never overlap
        shift = (labels[order].to(b.dtype) * (float(b.max()) + 1.0))[:, None]
        b = b + shift
    iou = box_iou(b, b).numpy() if len(b) else np.zeros((0, 0))
    removed = np.zeros(len(b), bool)
    keep = []
    for i in range(len(b)):
        if removed[i]:
            continue
        keep.append(i)
        if max_keep is not None and len(keep) >= max_keep:
            break
        removed |= iou[i] > iou_threshold
    return order[torch.as_tensor(keep, dtype=torch.int64)]


def proposals(model, objectness: torch.Tensor, deltas: torch.Tensor, pre_nms_top_n: int = 300,
              post_nms_top_n: int = 50, iou_threshold: float = 0.7, min_size: float = 1.0) -> list:
    """Per image, the RPN's proposals (P, 4): exactly ``proposals_after_nms`` of ``cnn_course.pt.rcnn``
    (decode, clip, drop boxes under ``min_size``, top ``pre_nms_top_n``, NMS, first ``post_nms_top_n``;
    tested equal), for a whole batch, with :func:`greedy_nms`. Detached: no gradient flows into the
    proposals' coordinates, as in the reference implementations."""
    S = float(model.image_size)
    out = []
    with torch.no_grad():
        for o, d in zip(objectness.detach(), deltas.detach()):
            boxes = decode_boxes(model.anchors, d).clamp(0, S)
            keep = torch.nonzero((boxes[:, 2] - boxes[:, 0] >= min_size)
                                 & (boxes[:, 3] - boxes[:, 1] >= min_size)).flatten()
            keep = keep[torch.sort(o[keep].to(torch.float64), descending=True, stable=True).indices[:pre_nms_top_n]]
            keep = keep[greedy_nms(boxes[keep], o[keep], iou_threshold, post_nms_top_n)]
            out.append(boxes[keep])
    return out


def _rois(boxes_per_image) -> torch.Tensor:
    parts = [torch.cat([torch.full((len(b), 1), float(i), dtype=b.dtype), b], dim=1)
             for i, b in enumerate(boxes_per_image)]
    return torch.cat(parts) if parts else torch.zeros(0, 5)


@torch.no_grad()
def detect(model: FasterRCNN, images, score_threshold: float = 0.01, iou_threshold: float = 0.5,
           pre_nms_top_n: int = 300, post_nms_top_n: int = 50, detections_per_image: int = 100,
           batch_size: int = 64) -> list:
    """Scored boxes for each image: a list of ``(boxes (K, 4), scores (K,), labels (K,))`` NumPy
    arrays, labels 0..C-1 (the background class removed), per-class NMS at ``iou_threshold``.

    For every proposal, each class c gets the score softmax(logits)[c + 1] and its own box,
    the proposal moved by the class's deltas (``decode_boxes`` with ``HEAD_WEIGHTS``), clipped
    to the image; boxes scoring above ``score_threshold`` go through per-class NMS, and the
    ``detections_per_image`` best are returned.
    """
    model.eval()
    x = torch.as_tensor(images, dtype=torch.float32)
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(x.shape)}")
    C, S = model.num_classes, float(model.image_size)
    out = []
    for k in range(0, len(x), batch_size):
        features, obj, deltas = model(x[k : k + batch_size])
        props = proposals(model, obj, deltas, pre_nms_top_n, post_nms_top_n)
        logits, box_d = model.head_outputs(features, _rois(props))
        probs = F.softmax(logits, dim=1)
        start = 0
        for p in props:
            n = len(p)
            pr, bd = probs[start : start + n, 1:], box_d[start : start + n, 1:]
            start += n
            boxes = decode_boxes(p.repeat_interleave(C, 0), bd.reshape(-1, 4), HEAD_WEIGHTS).clamp(0, S)
            scores = pr.reshape(-1)
            labels = torch.arange(C).repeat(n)
            ok = (scores > score_threshold) & (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
            boxes, scores, labels = boxes[ok], scores[ok], labels[ok]
            keep = greedy_nms(boxes, scores, iou_threshold, detections_per_image, labels=labels)
            out.append((boxes[keep].numpy(), scores[keep].numpy(), labels[keep].numpy()))
    return out


def _flip(x: torch.Tensor, boxes: list, size: float):
    """Mirror images left-right, and their boxes: x1' = W - x2, x2' = W - x1."""
    return x.flip(3), [torch.stack([size - b[:, 2], b[:, 1], size - b[:, 0], b[:, 3]], dim=1) for b in boxes]


def _head_targets(props, gts, labels, generator, per_image: int = 64, fraction: float = 0.25):
    """Sampled proposals (the ground truth added) with their class (0 = background) and box targets."""
    boxes, classes, targets = [], [], []
    for p, g, l in zip(props, gts, labels):
        p = torch.cat([p, g]) if len(g) else p
        if len(g):
            iou = box_iou(p, g)
            best, matched = iou.max(dim=1)
            fg = best >= 0.5
        else:
            best, matched = torch.zeros(len(p)), torch.zeros(len(p), dtype=torch.int64)
            fg = torch.zeros(len(p), dtype=torch.bool)
        chosen = sample_anchors(fg.to(torch.int64), per_image, fraction, generator) >= 0
        p, fg, matched = p[chosen], fg[chosen], matched[chosen]
        cls = torch.where(fg, l[matched] + 1 if len(g) else torch.zeros_like(matched), torch.zeros_like(matched))
        t = torch.zeros(len(p), 4)
        if bool(fg.any()):
            t[fg] = encode_boxes(p[fg], g[matched[fg]], HEAD_WEIGHTS).to(torch.float32)
        boxes.append(p)
        classes.append(cls)
        targets.append(t)
    return boxes, torch.cat(classes), torch.cat(targets)


def train_step_losses(model: FasterRCNN, x: torch.Tensor, gts: list, labels: list, generator: torch.Generator,
                      pre_nms_top_n: int = 300, post_nms_top_n: int = 64) -> dict:
    """The four losses of one mini-batch (images x, per image ground-truth boxes and labels as tensors)."""
    features, obj, deltas = model(x)
    rpn_labels, rpn_targets = [], []
    for g in gts:
        lab, tgt = anchor_targets(model.anchors, g)
        rpn_labels.append(sample_anchors(lab, 256, 0.5, generator))
        rpn_targets.append(tgt.to(torch.float32))
    obj_loss, box_loss = rpn_loss(obj.reshape(-1), deltas.reshape(-1, 4), torch.cat(rpn_labels),
                                  torch.cat(rpn_targets))
    props = proposals(model, obj, deltas, pre_nms_top_n, post_nms_top_n)
    boxes, cls, tgt = _head_targets(props, gts, labels, generator)
    logits, box_d = model.head_outputs(features, _rois(boxes))
    class_loss = F.cross_entropy(logits, cls)
    fg = cls > 0
    pred = box_d[torch.nonzero(fg).flatten(), cls[fg]]
    head_box = F.smooth_l1_loss(pred, tgt[fg], beta=1 / 9, reduction="sum") / max(len(cls), 1)
    return dict(zip(LOSS_NAMES, (obj_loss, box_loss, class_loss, head_box)))


def train_faster_rcnn(model: FasterRCNN, images, targets, epochs: int = 10, batch_size: int = 16,
                      lr: float = 2e-3, seed: int = 0, flip: bool = True, log=None) -> dict:
    """Train with Adam and a one-cycle learning rate on the sum of the four losses.

    images (N, C, H, W); targets per image ``(boxes, labels)``. Random left-right mirroring when
    ``flip``. Returns ``{loss name: [value per step]}`` for the names in ``LOSS_NAMES`` plus
    "total". ``log``: called with (epoch, {name: mean over the epoch}, seconds so far) after each epoch.
    """
    epochs = v.check_positive_int(epochs, "epochs")
    batch_size = v.check_positive_int(batch_size, "batch_size")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(images, dtype=torch.float32)
    if x.ndim != 4 or len(x) != len(targets):
        raise ValueError(f"images must be (N, C, H, W) with one target per image, got {tuple(x.shape)} and "
                         f"{len(targets)} targets")
    gts = [torch.as_tensor(np.asarray(b, np.float32).reshape(-1, 4)) for b, _ in targets]
    labs = [torch.as_tensor(np.asarray(l, np.int64).reshape(-1)) for _, l in targets]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    history = {name: [] for name in (*LOSS_NAMES, "total")}
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        first = len(history["total"])
        for k in range(0, len(x), batch_size):
            idx = order[k : k + batch_size].tolist()
            xb, gb, lb = x[idx], [gts[i] for i in idx], [labs[i] for i in idx]
            if flip and bool(torch.rand((), generator=gen) < 0.5):
                xb, gb = _flip(xb, gb, float(model.image_size))
            losses = train_step_losses(model, xb, gb, lb, gen)
            total = sum(losses.values())
            opt.zero_grad()
            total.backward()
            opt.step()
            sched.step()
            for name, value in losses.items():
                history[name].append(float(value.detach()))
            history["total"].append(float(total.detach()))
        if log is not None:
            log(epoch, {n: float(np.mean(h[first:])) for n, h in history.items()}, time.perf_counter() - start)
    model.eval()
    return history
