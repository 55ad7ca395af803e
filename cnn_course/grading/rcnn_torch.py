"""Check of the PyTorch exercise of the topic-9 notebook: the region proposal network's head.

``RPNHead(in_channels, num_anchors)``: on a feature map x (N, C, H, W),

1. a 3×3 convolution C -> C (padding 1, with bias), then a ReLU: t (N, C, H, W);
2. a 1×1 convolution C -> A on t: one objectness logit per anchor and pixel, (N, A, H, W);
3. a 1×1 convolution C -> 4A on t: the deltas (tx, ty, tw, th) of anchor a in channels 4a..4a+3;

``forward(x)`` returns ``(objectness (N, H·W·A), deltas (N, H·W·A, 4))`` with the anchors in
``generate_anchors``' order: row (y·W + x)·A + a, pixel by pixel, the A anchors of a pixel
together. The logits are raw (no sigmoid: the loss takes logits).

Judged by behaviour through the probes (:mod:`.probes`): the parameters (shapes, in creation
order: the 3×3 convolution, the objectness one, the deltas one), then, with fixed weights, both
outputs, against a reference built here from torch's own layers. The known mistakes (the
outputs flattened without moving the channels last, the deltas grouped by coordinate, no ReLU,
a sigmoid on the logits) are that reference with one thing changed, so a message can name them.
"""

from __future__ import annotations

import numpy as np

from . import probes
from .core import TORCH_FORBIDDEN, Case, CheckFailed, Out, Variant, forbids, run_check
from .probes import kernel
from .pytorch import build, check_parameters, forward_with, own_work, random_weights

__all__ = ["rpn_head", "head_shapes", "reference_head", "RPN_FORBIDDEN"]

#: The course's ready-made detector (cnn_course.pt) is not own work; nor is torchvision's.
RPN_FORBIDDEN = (*TORCH_FORBIDDEN, "torchvision")

LAYERS = ("in __init__, in this order: a 3×3 convolution that keeps the channels and the size, a 1×1 convolution "
          "to num_anchors channels for the objectness, a 1×1 convolution to 4·num_anchors channels for the deltas "
          "(all with bias). In forward: the 3×3 convolution and a ReLU, then both 1×1 convolutions on its output. "
          "Both outputs list the anchors pixel by pixel, then anchor: row (y·W + x)·A + a; the 4A delta channels are "
          "grouped by anchor, 4a..4a+3 being anchor a's (tx, ty, tw, th). Which axis has to be last before the "
          "reshape?")
NO_PERMUTE_OBJ = ("your objectness is flattened straight from (N, A, H, W): that lists all pixels of anchor 0 first. "
                  "The anchors are ordered pixel by pixel, row (y·W + x)·A + a: move the anchor axis last "
                  "(.permute(0, 2, 3, 1)) before flattening.")
NO_PERMUTE_DELTAS = ("your deltas are reshaped straight from (N, 4A, H, W) to (N, -1, 4): rows then mix pixels and "
                     "coordinates. Move the channels last first, (N, H, W, 4A), then reshape to (N, H·W·A, 4): "
                     "channels 4a..4a+3 are anchor a's (tx, ty, tw, th).")
DELTAS_BY_COORD = ("your deltas read channel k·A + a as coordinate k of anchor a: the 4A channels are grouped by "
                   "anchor, 4a..4a+3 being anchor a's (tx, ty, tw, th) — view them as (N, A, 4, H, W).")
NO_RELU = "the 3×3 convolution's output goes to the two 1×1 convolutions without a ReLU: apply ReLU first."
SIGMOID = ("your objectness went through a sigmoid: return the raw logits (the loss, binary cross-entropy with "
           "logits, applies the sigmoid itself, more accurately).")
SEPARATE_CONVS = ("the objectness and the deltas come from the same 3×3 features t: one shared 3×3 convolution, then "
                  "two 1×1 convolutions on it.")


def head_shapes(c: int, a: int):
    return [("conv 3×3 weight", (c, c, 3, 3)), ("conv 3×3 bias", (c,)), ("objectness 1×1 weight", (a, c, 1, 1)),
            ("objectness 1×1 bias", (a,)), ("deltas 1×1 weight", (4 * a, c, 1, 1)), ("deltas 1×1 bias", (4 * a,))]


def reference_head(c: int, a: int, *, obj_permute=True, deltas="right", relu=True, sigmoid=False):
    """The head from torch's layers, with one known mistake switched on."""
    import torch
    from torch import nn

    class RefRPNHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.cls = nn.Conv2d(c, a, 1)
            self.bbox = nn.Conv2d(c, 4 * a, 1)

        def forward(self, x):
            t = self.conv(x)
            t = torch.relu(t) if relu else t
            n, _, h, w = t.shape
            o = self.cls(t)
            o = o.permute(0, 2, 3, 1).reshape(n, -1) if obj_permute else o.reshape(n, -1)
            if sigmoid:
                o = torch.sigmoid(o)
            d = self.bbox(t)
            if deltas == "no_permute":
                d = d.reshape(n, -1, 4)
            elif deltas == "by_coord":
                d = d.view(n, 4, a, h, w).permute(0, 3, 4, 2, 1).reshape(n, -1, 4)
            else:
                d = d.view(n, a, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 4)
            return o, d

    return RefRPNHead()


def _head_case(c, a, x, weights, note=""):
    def reference(**kw):
        net = reference_head(c, a, **kw)
        probes.set_parameters(net, weights)
        return probes.forward(net, x, mode="eval")

    obj, deltas = reference()
    n, _, h, w = x.shape

    def variants():
        found = [(NO_PERMUTE_OBJ, dict(obj_permute=False)), (NO_PERMUTE_DELTAS, dict(deltas="no_permute")),
                 (DELTAS_BY_COORD, dict(deltas="by_coord")), (NO_RELU, dict(relu=False)), (SIGMOID, dict(sigmoid=True))]
        out = []
        for hint, kw in found:
            o, d = reference(**kw)
            values = {}
            if not np.allclose(o, obj):
                values["objectness"] = o
            if not np.allclose(d, deltas):
                values["deltas"] = d
            out.append(Variant(hint, values))
        return out

    return Case(args=[("x", x)], dtype=np.float32, note=note,
                describe=f"RPNHead({c}, {a}) with fixed weights, x.shape={x.shape}",
                outputs=[Out("objectness", obj, shape_hint=f"(N, H·W·A) = {(n, h * w * a)}"),
                         Out("deltas", deltas, shape_hint=f"(N, H·W·A, 4) = {(n, h * w * a, 4)}")],
                call=lambda cls, _values: forward_with("RPNHead", cls, (c, a), weights, x),
                variants=variants, hint=LAYERS)


@forbids(*RPN_FORBIDDEN)
def rpn_head(RPNHead, hidden=False, seed=0):
    """Check ``RPNHead(in_channels, num_anchors)``: six parameter tensors in creation order, then
    ``forward(x) -> (objectness (N, H·W·A), deltas (N, H·W·A, 4))`` with fixed weights."""
    __tracebackhide__ = True
    own_work("RPNHead", RPNHead, RPN_FORBIDDEN)
    rng = np.random.default_rng(seed if hidden else 9090)
    if not hidden:
        specs = [(2, 1, (1, 2, 2, 3), "one anchor, a 2 × 3 map"), (3, 2, (2, 3, 3, 2), "two anchors, two images"),
                 (4, 3, (1, 4, 4, 4), "three anchors")]
    else:
        specs = [(int(rng.integers(1, 6)), int(rng.integers(1, 10)),
                  None, "") for _ in range(4)]
        specs = [(c, a, (int(rng.integers(1, 3)), c, int(rng.integers(1, 6)), int(rng.integers(1, 6))), n)
                 for c, a, _, n in specs]
    for c, a, _, _ in specs:
        k = kernel(RPNHead)
        try:
            info = k.summary(build("RPNHead", RPNHead, (c, a)))
        except TypeError as exc:
            raise CheckFailed(f"RPNHead({c}, {a}) is not a PyTorch module ({exc}).\n  Hint: derive the class from "
                              "nn.Module and call super().__init__() first in __init__.") from None
        shapes = [tuple(s) for _, s, *_ in info["parameters"]]
        hint = LAYERS
        if len(shapes) == 8 and (c, c, 3, 3) in shapes:
            hint = SEPARATE_CONVS
        check_parameters(f"RPNHead({c}, {a})", info, head_shapes(c, a), hint=hint)
    cases = []
    for c, a, shape, note in specs:
        x = rng.standard_normal(shape).astype(np.float32)
        weights = random_weights([s for _, s in head_shapes(c, a)], rng, scale=1.5)
        cases.append(_head_case(c, a, x, weights, note))
    run_check("RPNHead", RPNHead, cases, hidden=hidden, forbidden=RPN_FORBIDDEN)
