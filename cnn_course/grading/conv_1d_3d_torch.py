"""Check of the PyTorch exercise of the topic-13 notebook: a 1D convolutional network.

``SignalCNN(in_channels, num_classes, f=5, pool=2)``: for an input of shape (m, in_channels, T),

1. a 1D convolution from ``in_channels`` to 16 channels with filters of size ``f`` (no padding,
   stride 1, with a bias), a ReLU and a max pooling of size and stride ``pool``;
2. a 1D convolution from 16 to 32 channels, size ``f``, a ReLU and the same max pooling;
3. the mean over the time axis (global average pooling: one number per channel);
4. a linear layer from 32 to ``num_classes`` scores (logits, no softmax).

With ``pool=1`` (no pooling) and f = 5, 14 samples of one lead give 16 × 10, then 32 × 6:
the EKG example of the notebook. Judged by behaviour through the probes (:mod:`.probes`):
the parameters (shapes, in the order ``__init__`` creates them), then, with fixed weights, the
output on random signals, against a reference built here from torch's functional layers. The
known mistakes (padding, no ReLU, average pooling, a global max, no pooling, grouped filters...)
are the same reference with one thing changed, so that a message can name them. torch is
imported only when a check runs.
"""

from __future__ import annotations

import numpy as np

from .core import TORCH_FORBIDDEN, Case, CheckFailed, Out, Variant, forbids, run_check
from .probes import kernel
from .pytorch import build, check_parameters, forward_with, own_work, random_weights

__all__ = ["signal_cnn", "cnn_shapes", "reference_forward"]

LAYERS = ("conv1 = nn.Conv1d(in_channels, 16, f) → ReLU → max pooling (pool); conv2 = nn.Conv1d(16, 32, f) → ReLU → "
          "max pooling (pool); the mean over the time axis (dim=2) → (m, 32); fc = nn.Linear(32, num_classes). No "
          "padding, stride 1, biases kept; create the layers in this order.")
PADDED = ("your convolutions pad the signal: the network here uses no padding (a 'valid' convolution, as in the EKG "
          "example: 14 samples → 10 with f = 5), so leave padding at its default 0.")
NO_RELU = "a ReLU is missing: each convolution is followed by a ReLU (before its max pooling)."
AVG_POOL = "your pooling averages: after each convolution and its ReLU comes a MAX pooling (nn.MaxPool1d(pool))."
GLOBAL_MAX = ("you take the maximum over time: the network averages each channel over the time axis (global AVERAGE "
              "pooling, h.mean(dim=2)) before the linear layer.")
NO_POOL = ("your network does not pool (or pools only once): each convolution + ReLU is followed by a max pooling of "
           "size and stride `pool` (nn.MaxPool1d(pool); with pool = 1 it changes nothing).")
GROUPED = ("your second convolution's filters do not span the 16 input channels (weight shape (32, 1, f) or similar: "
           "groups=...): an ordinary convolution has filters of shape (16, f), one weight per input channel and "
           "position, nn.Conv1d(16, 32, f).")
CONV2D = ("your layers are 2D (weights of shape (out, in, f, f)): a signal has one spatial axis, time, so use "
          "nn.Conv1d (weights (out, in, f)) and nn.MaxPool1d.")
FLATTEN = ("your linear layer expects more than 32 inputs: the network averages every channel over time (global "
           "average pooling, h.mean(dim=2)), so the linear layer is nn.Linear(32, num_classes), whatever the length T.")


def _torch():
    import torch

    return torch


def cnn_shapes(c_in, k, f):
    """Parameters of the network, (label, shape) in creation order."""
    return [("conv1 weight", (16, c_in, f)), ("conv1 bias", (16,)), ("conv2 weight", (32, 16, f)), ("conv2 bias", (32,)),
            ("fc weight", (k, 32)), ("fc bias", (k,))]


def reference_forward(weights, x, f, pool, *, padding=0, relu=(True, True), pooling="max", pools=2,
                      global_pool="mean"):
    """The network's output (float32 NumPy) for fixed ``weights`` on ``x`` (m, C, T), with one known
    mistake switched on: ``padding`` f // 2, ``relu`` (after conv1, after conv2) with a False, ``pooling`` "avg", ``pools`` 0 / 1
    (how many of the two poolings are there), ``global_pool`` "max"."""
    torch = _torch()
    F = torch.nn.functional
    w1, b1, w2, b2, wf, bf = (torch.tensor(a) for a in weights)
    h = torch.tensor(x)
    with torch.no_grad():
        for k, (w, b) in enumerate(((w1, b1), (w2, b2))):
            h = F.conv1d(h, w, b, padding=padding)
            if relu[k]:
                h = F.relu(h)
            if k < pools:
                h = F.max_pool1d(h, pool) if pooling == "max" else F.avg_pool1d(h, pool)
        h = h.mean(dim=2) if global_pool == "mean" else h.amax(dim=2)
        return F.linear(h, wf, bf).numpy()


def _structure_hint(c_in, k, f):
    def hint(got):
        shapes = [tuple(s) for _, s, *_ in got]
        if any(len(s) == 4 for s in shapes):
            return CONV2D
        if len(shapes) == 6 and shapes[2][0] == 32 and shapes[2][1] != 16:
            return GROUPED
        if len(shapes) == 6 and shapes[4][0] == k and shapes[4][1] > 32:
            return FLATTEN
        if len(shapes) == 4 and all(len(s) != 1 for s in shapes):
            return "your layers have no bias: keep nn.Conv1d's and nn.Linear's bias (the default)."
        return LAYERS
    return hint


def _exception_hint(exc, line):
    text = str(exc)
    if "mat1 and mat2" in text:
        return ("the linear layer gets the wrong number of inputs: average over the TIME axis, h.mean(dim=2), which "
                "leaves (m, 32), one number per channel; then nn.Linear(32, num_classes).")
    if "Expected 3D" in text or "Expected 4D" in text or "expected 4D" in text or "4-dimensional" in text:
        return CONV2D
    if "smaller than kernel" in text or "Output size is too small" in text or "too small" in text:
        return ("the signal got shorter than a filter: use no padding and max pooling of size and stride `pool` (the "
                "check only uses lengths where the right network works).")
    return None


def _case(args, x, weights, note=""):
    c_in, k, f, pool = args
    expected = reference_forward(weights, x, f, pool)

    def variants():
        found = [(PADDED, dict(padding=f // 2)), (NO_RELU, dict(relu=(False, False))),
                 (NO_RELU, dict(relu=(True, False))), (NO_RELU, dict(relu=(False, True))), (GLOBAL_MAX, dict(global_pool="max"))]
        if pool > 1:
            found += [(AVG_POOL, dict(pooling="avg")), (NO_POOL, dict(pools=0)), (NO_POOL, dict(pools=1))]
        out = []
        for hint, kw in found:
            try:
                out.append(Variant(hint, {"out": reference_forward(weights, x, f, pool, **kw)}))
            except RuntimeError:  # the mistaken network cannot run on this length
                continue
        return out

    def inspect(got):
        out = got.get("out")
        if isinstance(out, np.ndarray) and out.shape != expected.shape:
            if out.ndim == 2 and out.shape[0] == x.shape[0] * 32:
                return "the output must be (m, num_classes): average over time (dim=2), not flatten the batch."
            return f"the output has one row of num_classes scores per signal: shape {expected.shape}."
        return None

    shown = ", ".join(f"{n}={v}" for n, v in zip(("in_channels", "num_classes", "f", "pool"), args))
    return Case(
        args=[("x", x)], dtype=np.float32, note=note,
        describe=f"SignalCNN({shown}) with fixed weights, x.shape={x.shape}",
        outputs=[Out("out", expected, shape_hint=f"the output has shape (m, num_classes) = {expected.shape}.")],
        call=lambda cls, _values: forward_with("SignalCNN", cls, (c_in, k), weights, x, kwargs=dict(f=f, pool=pool)),
        variants=variants, inspect=inspect, hint=LAYERS, exception_hint=_exception_hint,
    )


def _length(rng, f, pool):
    """A length T the network handles: at least one position after each conv and pooling."""
    return pool * (pool + f - 1) + f - 1 + int(rng.integers(0, 25))


@forbids(*TORCH_FORBIDDEN)
def signal_cnn(SignalCNN, hidden=False, seed=0):
    """Check ``SignalCNN(in_channels, num_classes, f=5, pool=2)``: the six parameter tensors in
    creation order, then the output with fixed weights in evaluation mode."""
    __tracebackhide__ = True
    own_work("SignalCNN", SignalCNN, TORCH_FORBIDDEN)
    rng = np.random.default_rng(seed if hidden else 1304)
    if not hidden:
        specs = [((1, 2, 5, 1), (3, 1, 14), "the EKG example: 14 samples → 16 × 10 → 32 × 6, no pooling"),
                 ((1, 2, 5, 2), (2, 1, 40), "one channel, pooling by 2"),
                 ((6, 4, 3, 2), (2, 6, 30), "6 channels (an accelerometer and a gyroscope), 4 classes")]
    else:
        specs = []
        for _ in range(4):
            f, pool = int(rng.choice([3, 5, 7])), int(rng.choice([1, 2, 3]))
            args = (int(rng.integers(1, 5)), int(rng.integers(2, 6)), f, pool)
            specs.append((args, (int(rng.integers(1, 4)), args[0], _length(rng, f, pool)), ""))
    k = kernel(SignalCNN)
    for (c_in, n_cls, f, pool), _, _ in specs:
        shown = f"{c_in}, {n_cls}, f={f}, pool={pool}"
        try:
            info = k.summary(build("SignalCNN", SignalCNN, (c_in, n_cls), dict(f=f, pool=pool)))
        except TypeError as exc:
            raise CheckFailed(f"SignalCNN({shown}) is not a PyTorch module ({exc}).\n  Hint: derive the class from "
                              "nn.Module and call super().__init__() first in __init__.") from None
        check_parameters(f"SignalCNN({shown})", info, cnn_shapes(c_in, n_cls, f),
                         hint=_structure_hint(c_in, n_cls, f)(info["parameters"]))
    cases = []
    for args, x_shape, note in specs:
        x = rng.standard_normal(x_shape).astype(np.float32)
        weights = random_weights([s for _, s in cnn_shapes(args[0], args[1], args[2])], rng, scale=1.5)
        cases.append(_case(args, x, weights, note))
    run_check("SignalCNN", SignalCNN, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)
