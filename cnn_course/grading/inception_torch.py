"""Check of the PyTorch exercise of the topic-6 notebook: the Inception module.

``InceptionModule(in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj)``: four branches on
the same input, concatenated on the channel axis in this order:

1. a 1×1 convolution to ``c1`` channels, ReLU;
2. a 1×1 convolution to ``c3_reduce`` channels, ReLU, a 3×3 convolution (padding 1) to ``c3``, ReLU;
3. a 1×1 convolution to ``c5_reduce`` channels, ReLU, a 5×5 convolution (padding 2) to ``c5``, ReLU;
4. a 3×3 max pooling with stride 1 and padding 1, a 1×1 convolution to ``pool_proj``, ReLU.

Every convolution has a bias (no batch norm, as in the original GoogLeNet). Judged by behaviour
through the probes (:mod:`.probes`): the parameters (shapes, in the order ``__init__`` creates
them: the branches in this order, each from input to output), then, with fixed weights, the
output on inputs with negative values, against a reference built here from torch's own layers.
The known mistakes (branches concatenated in another order, average instead of max pooling,
a ReLU missing, the pool padded with zeros...) are the same reference with one thing changed,
so that a message can name them; a wrong concatenation axis and a branch that changes the
size are recognised from the output's shape or the error torch raises. torch is imported
only when a check runs.
"""

from __future__ import annotations

import numpy as np

from .core import TORCH_FORBIDDEN, Case, CheckFailed, Out, Variant, forbids, run_check
from . import probes
from .probes import kernel
from .pytorch import build, check_parameters, forward_with, own_work, random_weights

__all__ = ["inception_module", "module_shapes", "reference_module", "INCEPTION_FORBIDDEN"]

#: The course's ready-made module (cnn_course.pt.inception) is not own work; nor is torchvision's.
INCEPTION_FORBIDDEN = (*TORCH_FORBIDDEN, "torchvision")

ORDER = ("1×1", "1×1 → 3×3", "1×1 → 5×5", "pool → 1×1")
LAYERS = ("branches, in this order, each layer followed by a ReLU: (1) conv 1×1 in → c1; (2) conv 1×1 in → c3_reduce, "
          "conv 3×3 (padding 1) → c3; (3) conv 1×1 in → c5_reduce, conv 5×5 (padding 2) → c5; (4) max pool 3×3 "
          "(stride 1, padding 1), conv 1×1 in → pool_proj; then torch.cat of the four outputs on dim=1 (channels).")
CONCAT_ORDER = ("your output has the right channels in the wrong order: concatenate the branches as (1×1, 3×3, 5×5, "
                "pool), torch.cat([b1, b3, b5, bp], dim=1), so that channel k means the same thing as in the "
                "reference (and in the next module's weights).")
AVG_POOL = ("your pool branch averages: the Inception module's pool branch is a 3×3 MAX pooling (stride 1, padding 1) "
            "before its 1×1 projection.")
ZERO_PAD_POOL = ("your max pooling pads with zeros: on an input with negative values the border pixels then come out "
                 "as 0. nn.MaxPool2d(3, stride=1, padding=1) pads with -inf, so the padding never wins the max.")
NO_REDUCE_RELU = ("the 1×1 reduce layers of the 3×3 and 5×5 branches have no ReLU: each convolution of the module, "
                  "the bottlenecks included, is followed by a ReLU.")
NO_BRANCH_RELU = ("the branch outputs have no ReLU: each branch ends with a convolution followed by a ReLU (before "
                  "the concatenation).")
NO_POOL_RELU = "the pool branch's 1×1 projection has no ReLU after it."
POOL_AFTER_PROJ = ("your pool branch projects first and pools after: it is the 3×3 max pooling (stride 1, padding 1) "
                   "on the module's input, then the 1×1 projection to pool_proj channels, then the ReLU.")
RELU_BEFORE_POOL = ("your pool branch applies a ReLU before the max pooling: the branch is max pool → conv 1×1 → "
                    "ReLU, on the module's input as it is.")
SIZE_CHANGED = ("the branches give different n_H × n_W, so they cannot be concatenated: every branch must keep the "
                "input's size — 3×3 convolution with padding=1, 5×5 with padding=2, and nn.MaxPool2d(3, stride=1, "
                "padding=1) (its stride defaults to the kernel size, 3, unless you give stride=1).")
PROJ_MISSING = ("the pool branch has no 1×1 projection: after the max pooling (which keeps all in_channels channels) "
                "a 1×1 convolution in_channels → pool_proj shrinks it, so that the pool branch does not pass every "
                "input channel on. Create it last, after the 5×5 branch.")
NO_BIAS = ("your convolutions have no bias: the Inception module here has no batch norm, so each nn.Conv2d keeps its "
           "bias (the default).")
NO_REDUCE = ("your 3×3 or 5×5 convolution works on all in_channels channels: put a 1×1 reduce layer (in_channels → "
             "c3_reduce, resp. c5_reduce) before it, created just before it.")

_SIZE_ERRORS = ("Sizes of tensors must match", "size of tensor", "Output size is too small", "Expected size")


def _torch():
    import torch

    return torch


def module_shapes(c_in, c1, c3r, c3, c5r, c5, pp):
    """Parameters of the module, (label, shape) in creation order."""
    return [("branch 1: conv 1×1 weight", (c1, c_in, 1, 1)), ("branch 1: conv 1×1 bias", (c1,)),
            ("branch 2: reduce 1×1 weight", (c3r, c_in, 1, 1)), ("branch 2: reduce 1×1 bias", (c3r,)),
            ("branch 2: conv 3×3 weight", (c3, c3r, 3, 3)), ("branch 2: conv 3×3 bias", (c3,)),
            ("branch 3: reduce 1×1 weight", (c5r, c_in, 1, 1)), ("branch 3: reduce 1×1 bias", (c5r,)),
            ("branch 3: conv 5×5 weight", (c5, c5r, 5, 5)), ("branch 3: conv 5×5 bias", (c5,)),
            ("branch 4: projection 1×1 weight", (pp, c_in, 1, 1)), ("branch 4: projection 1×1 bias", (pp,))]


def reference_module(c_in, c1, c3r, c3, c5r, c5, pp, *, order=(0, 1, 2, 3), pool="max", reduce_relu=True,
                     branch_relu=True, pool_relu=True, relu_before_pool=False, pool_after_proj=False):
    """The module built from torch's layers (float32), with one known mistake switched on:
    ``order`` (a permutation of the branches), ``pool`` "avg" / "zero_pad", ``reduce_relu``,
    ``branch_relu`` (all four branch outputs), ``pool_relu`` (the projection's), ``relu_before_pool``,
    ``pool_after_proj`` (conv 1×1 → ReLU → max pool in the pool branch)."""
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional

    class RefInception(nn.Module):
        def __init__(self):
            super().__init__()
            self.b1 = nn.Conv2d(c_in, c1, 1)
            self.b3r = nn.Conv2d(c_in, c3r, 1)
            self.b3 = nn.Conv2d(c3r, c3, 3, padding=1)
            self.b5r = nn.Conv2d(c_in, c5r, 1)
            self.b5 = nn.Conv2d(c5r, c5, 5, padding=2)
            self.bp = nn.Conv2d(c_in, pp, 1)

        def forward(self, x):
            def r(z, on=True):
                return F.relu(z) if on else z

            y1 = r(self.b1(x), branch_relu)
            y3 = r(self.b3(r(self.b3r(x), reduce_relu)), branch_relu)
            y5 = r(self.b5(r(self.b5r(x), reduce_relu)), branch_relu)
            xp = F.relu(x) if relu_before_pool else x
            if pool == "avg":
                p = F.avg_pool2d(xp, 3, stride=1, padding=1)
            elif pool == "zero_pad":
                p = F.max_pool2d(F.pad(xp, (1, 1, 1, 1)), 3, stride=1)
            else:
                p = F.max_pool2d(xp, 3, stride=1, padding=1)
            yp = r(self.bp(p), branch_relu and pool_relu)
            if pool_after_proj:
                yp = F.max_pool2d(F.relu(self.bp(x)), 3, stride=1, padding=1)
            ys = (y1, y3, y5, yp)
            return torch.cat([ys[k] for k in order], dim=1)

    return RefInception()


def _structure_hint(args):
    c_in, c1, c3r, c3, c5r, c5, pp = args
    want = [s for _, s in module_shapes(*args)]

    def hint(got):
        shapes = [tuple(s) for _, s, *_ in got]
        if shapes == want[:10]:
            return PROJ_MISSING
        if len(shapes) == 6 and all(len(s) == 4 for s in shapes):
            return NO_BIAS
        if any(s in ((c3, c_in, 3, 3), (c5, c_in, 5, 5)) for s in shapes) and (c_in != c3r or c_in != c5r):
            return NO_REDUCE
        if sorted(shapes) == sorted(want):
            return ("the layers are right but created in another order: create them as the data flows, branch by "
                    "branch: " + LAYERS)
        return LAYERS
    return hint


def _axis_hint(shape, m, channels, h, w):
    """What a wrongly shaped output says about the concatenation axis."""
    if len(shape) != 4:
        return None
    n_branch = 4
    if shape == (m * n_branch, channels // n_branch, h, w):
        return "your branches are concatenated on axis 0 (the examples): concatenate on dim=1, the channel axis."
    if shape[2] == n_branch * h and shape[0] == m and shape[3] == w:
        return "your branches are concatenated on axis 2 (the height): concatenate on dim=1, the channel axis."
    if shape[3] == n_branch * w and shape[0] == m and shape[2] == h:
        return "your branches are concatenated on axis 3 (the width): concatenate on dim=1, the channel axis."
    if shape[0] == m and shape[2:] == (h, w) and shape[1] != channels:
        return (f"your output has {shape[1]} channels, expected c1 + c3 + c5 + pool_proj = {channels}: a branch is "
                "missing or has the wrong width (the pool branch ends with its 1×1 projection to pool_proj).")
    return None


def _first_wrong_branch(out, expected, args):
    """Which branch the first wrong output channel belongs to (the shapes being right)."""
    try:
        bad = ~np.isclose(out.astype(np.float64), expected.astype(np.float64), rtol=1e-4, atol=1e-4)
    except (TypeError, ValueError):
        return None
    wrong = np.flatnonzero(bad.any(axis=(0, 2, 3)))
    if not wrong.size:
        return None
    c1, c3, c5, pp = args[1], args[3], args[5], args[6]
    bounds = np.cumsum([c1, c3, c5, pp])
    k = int(np.searchsorted(bounds, wrong[0], side="right"))
    start = 0 if k == 0 else int(bounds[k - 1])
    names = ("the 1×1 branch", "the 3×3 branch (1×1 reduce, 3×3, each with its ReLU)",
             "the 5×5 branch (1×1 reduce, 5×5, each with its ReLU)",
             "the pool branch (max pool 3×3, stride 1, padding 1, then 1×1 projection and ReLU)")
    return (f"the first wrong channel is {int(wrong[0])}, one of channels {start}–{int(bounds[k]) - 1}, which come "
            f"from {names[k]} in the order (1×1, 3×3, 5×5, pool). Check that branch: " + LAYERS)


def _exception_hint(exc, line):
    text = str(exc)
    for axis in (0, 2, 3):
        if f"except in dimension {axis}" in text:
            return (f"your torch.cat joins the branches on dim={axis}: along every other axis their shapes must "
                    "agree, and the branches have different numbers of channels. Concatenate on dim=1, the channel "
                    "axis: the output has c1 + c3 + c5 + pool_proj channels.")
    if any(e in text for e in _SIZE_ERRORS):
        return SIZE_CHANGED + " All four branches are then concatenated on dim=1."
    return None


def _module_case(args, x, weights, note=""):
    m, _, h, w = x.shape
    channels = args[1] + args[3] + args[5] + args[6]

    def reference(**kw):
        net = reference_module(*args, **kw)
        probes.set_parameters(net, weights)
        return probes.forward(net, x, mode="eval")

    expected = reference()

    def variants():
        found = [(NO_REDUCE_RELU, dict(reduce_relu=False)), (NO_BRANCH_RELU, dict(branch_relu=False)),
                 (NO_POOL_RELU, dict(pool_relu=False)), (AVG_POOL, dict(pool="avg")),
                 (ZERO_PAD_POOL, dict(pool="zero_pad")), (RELU_BEFORE_POOL, dict(relu_before_pool=True)),
                 (POOL_AFTER_PROJ, dict(pool_after_proj=True))]
        for order in ((3, 2, 1, 0), (0, 2, 1, 3), (1, 0, 2, 3), (0, 1, 3, 2), (3, 0, 1, 2)):
            found.append((CONCAT_ORDER, dict(order=order)))
        return [Variant(hint, {"out": reference(**kw)}) for hint, kw in found]

    def inspect(got):
        out = got.get("out")
        if not isinstance(out, np.ndarray):
            return None
        if out.shape != expected.shape:
            return _axis_hint(tuple(out.shape), m, channels, h, w)
        return _first_wrong_branch(out, expected, args)

    shown = ", ".join(map(str, args))
    return Case(
        args=[("x", x)], dtype=np.float32, note=note,
        describe=f"InceptionModule({shown}) with fixed weights, x.shape={x.shape}",
        outputs=[Out("out", expected, shape_hint=f"the output has shape (m, c1 + c3 + c5 + pool_proj, n_H, n_W) = "
                                                 f"{(m, channels, h, w)}.")],
        call=lambda cls, _values: forward_with("InceptionModule", cls, args, weights, x),
        variants=variants, inspect=inspect, hint=LAYERS, exception_hint=_exception_hint,
    )


def _weights(rng, args):
    shapes = [s for _, s in module_shapes(*args)]
    return random_weights(shapes, rng, scale=1.2)


@forbids(*INCEPTION_FORBIDDEN)
def inception_module(InceptionModule, hidden=False, seed=0):
    """Check ``InceptionModule(in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj)``: the
    12 parameter tensors in creation order, then the output with fixed weights, in
    evaluation mode, against torch's layers."""
    __tracebackhide__ = True
    own_work("InceptionModule", InceptionModule, INCEPTION_FORBIDDEN)
    rng = np.random.default_rng(seed if hidden else 6064)
    if not hidden:
        specs = [((3, 2, 2, 2, 1, 2, 2), (2, 3, 5, 6), "every branch gives 2 channels"),
                 ((4, 3, 2, 4, 2, 3, 1), (2, 4, 4, 7), "different widths, a 4 × 7 input"),
                 ((192, 64, 96, 128, 16, 32, 32), (1, 192, 28, 28), "the 28×28×192 example: 163,696 parameters")]
    else:
        specs = []
        for _ in range(4):
            c_in = int(rng.integers(1, 7))
            cfg = tuple(int(v) for v in rng.integers(1, 6, size=6))
            specs.append(((c_in, *cfg), (int(rng.integers(1, 4)), c_in, int(rng.integers(3, 8)),
                                         int(rng.integers(3, 8))), ""))
    for args, _, _ in specs:
        k = kernel(InceptionModule)
        shown = ", ".join(map(str, args))
        try:
            info = k.summary(build("InceptionModule", InceptionModule, args))
        except TypeError as exc:
            raise CheckFailed(f"InceptionModule({shown}) is not a PyTorch module ({exc}).\n  Hint: derive the class "
                              "from nn.Module and call super().__init__() first in __init__.") from None
        check_parameters(f"InceptionModule({shown})", info, module_shapes(*args), hint=_structure_hint(args)(
            info["parameters"]))
    cases = []
    for args, x_shape, note in specs:
        x = rng.standard_normal(x_shape).astype(np.float32)
        cases.append(_module_case(args, x, _weights(rng, args), note))
    run_check("InceptionModule", InceptionModule, cases, hidden=hidden, forbidden=INCEPTION_FORBIDDEN)
