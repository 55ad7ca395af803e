"""Checks for the PyTorch exercises of the topic-3 notebook: batch norm in a torch model.

* ``BNConvNet(c1=8, c2=16, n_classes=10)``: an ``nn.Module`` for (m, 1, 28, 28) images,
  CONV 3×3 (c1, padding 1, no bias) → BatchNorm2d → ReLU → MAX POOL 2 → CONV 3×3 (c2) →
  BatchNorm2d → ReLU → MAX POOL 2 → Linear(c2·7·7, n_classes): :func:`bn_conv_net`;
* ``evaluate_accuracy(model, x, y, batch_size=256) -> float``: the accuracy of ``model``
  in evaluation mode, which leaves the model in the mode it found it:
  :func:`evaluate_accuracy`.

Both are judged by behaviour through the probes (:mod:`.probes`): the network's parameters
and buffers, its outputs with fixed weights and running statistics in evaluation and in
training mode and its running statistics after each, against a reference built here with
torch's own layers; the evaluation function's accuracy, the running statistics and the
model's mode after the call, on small batch-norm models whose examples are sorted by class
(where batch statistics would change the predictions). Expected values are computed in this
process, never on the student's side.
"""

from __future__ import annotations

import copy

import numpy as np

from .core import TORCH_FORBIDDEN, Case, CheckFailed, Out, Variant, forbids, run_check
from . import probes
from .probes import kernel
from .pytorch import build, check_parameters, eval_then_train, own_work, shapes_table

__all__ = ["bn_conv_net", "evaluate_accuracy"]

_HIDDEN = 4
_BLOCKS = {  # the order of the layers after each convolution, right and wrong
    "right": ("bn", "relu", "pool"),
    "relu_first": ("relu", "bn", "pool"),
    "pool_last_bn": ("relu", "pool", "bn"),
}

NET_LAYERS = ("CONV 3×3 (c1 filters, padding 1, bias=False) → BatchNorm2d(c1) → ReLU → MAX POOL 2×2 → "
              "CONV 3×3 (c2 filters, padding 1, bias=False) → BatchNorm2d(c2) → ReLU → MAX POOL 2×2 → "
              "Linear(c2·7·7, n_classes), created in __init__ in this order.")
CONV_BIAS = ("your convolutions have a bias (nn.Conv2d's default). Before batch norm it does nothing: the batch "
             "mean removes it again, and its gradient is 0 (section 3); β takes its role. Create them with "
             "bias=False.")
NO_BUFFERS = ("each BatchNorm2d keeps its running statistics in three buffers (running_mean, running_var, "
              "num_batches_tracked); without them evaluation mode has nothing to normalise with. Use "
              "nn.BatchNorm2d(c) with its defaults (track_running_stats=True).")
RELU_FIRST = ("batch norm comes between the convolution and the ReLU: conv → BN → ReLU → pool. Yours applies the "
              "ReLU first, so BN normalises values that are already cut at 0.")
BN_LAST = ("batch norm comes right after each convolution, before the ReLU and the pooling: conv → BN → ReLU → "
           "pool. Yours normalises after the pooling.")
EVAL_BATCH_STATS = ("in evaluation mode your network still normalises with the batch's own statistics (and updates "
                    "the running ones): use nn.BatchNorm2d modules, which switch to the running statistics by "
                    "themselves after model.eval(), instead of calling a batch-norm function with training=True.")
FC_INPUTS = ("the linear layer gets c2 channels of 7×7 values (28 → 14 → 7 after two 2×2 poolings): "
             "nn.Linear(c2 * 7 * 7, n_classes), computed from the constructor's arguments, not fixed numbers.")
BN1D = ("a convolution's output is (m, C, H, W): it needs nn.BatchNorm2d(C), one mean and variance per channel "
        "over the batch and all positions. nn.BatchNorm1d is for (m, C) activations.")
FEATURE_SIZE = ("the linear layer got a number of inputs other than c2·7·7 (c2 channels of 7×7): each 3×3 "
                "convolution needs padding=1 to keep the image 28×28, and each block ends with a 2×2 max pooling, "
                "which halves it (28 → 14 → 7). Flatten to (m, c2·7·7) before the linear layer.")

FORGOT_EVAL = ("your function evaluates the model in training mode: batch norm then normalises with the statistics "
               "of each batch, so a prediction depends on the other examples of its batch (here sorted by class, "
               "as in section 10), and every batch overwrites the running statistics. Call model.eval() before "
               "the predictions.")
LEFT_IN_EVAL = ("the model was in training mode before your function and is in evaluation mode after it: a training "
                "loop that evaluates after each epoch would go on training with running statistics. Remember "
                "model.training at the start and restore it at the end (model.train(was_training)).")
FORCED_TRAIN = ("the model was in evaluation mode before your function and is in training mode after it: put it "
                "back in the mode it had (remember model.training at the start, then model.train(was_training)), "
                "not always in training mode.")
COUNT = "return the fraction of correct predictions (correct / N, between 0 and 1), not their number."
PERCENT = "return a fraction between 0 and 1, not a percentage."
NOT_FLOAT = ("you returned a {kind}: return the accuracy as a Python float (a one-element tensor's .item() gives "
             "one; so does correct / N with an int count), which prints, compares and formats like any number.")
ONE_EXAMPLE = ("in training mode batch norm cannot normalise a batch of one example (it has no variance); in "
               "evaluation mode it uses the running statistics and works for any batch size. Call model.eval() "
               "before the predictions.")


def _torch():
    import torch

    return torch


# --------------------------------------------------------------------------- BNConvNet


def _net_shapes(c1: int, c2: int, n_classes: int) -> list[tuple[str, tuple]]:
    return [("conv1.weight", (c1, 1, 3, 3)), ("bn1.weight", (c1,)), ("bn1.bias", (c1,)),
            ("conv2.weight", (c2, c1, 3, 3)), ("bn2.weight", (c2,)), ("bn2.bias", (c2,)),
            ("fc.weight", (n_classes, c2 * 7 * 7)), ("fc.bias", (n_classes,))]


def _buffer_shapes(c1: int, c2: int) -> list[tuple[str, tuple]]:
    return [("bn1.running_mean", (c1,)), ("bn1.running_var", (c1,)), ("bn1.num_batches_tracked", ()),
            ("bn2.running_mean", (c2,)), ("bn2.running_var", (c2,)), ("bn2.num_batches_tracked", ())]


def _reference_net(c1, c2, n_classes, params, buffers, order="right"):
    """The network built here with torch's layers, weights and running statistics loaded;
    ``order`` arranges BN, ReLU and pooling after each convolution (see ``_BLOCKS``)."""
    torch = _torch()
    nn = torch.nn
    layers = []
    for c_in, c_out in ((1, c1), (c1, c2)):
        layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False))
        make = {"bn": lambda c=c_out: nn.BatchNorm2d(c), "relu": nn.ReLU, "pool": lambda: nn.MaxPool2d(2)}
        layers += [make[step]() for step in _BLOCKS[order]]
    net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c2 * 7 * 7, n_classes))
    probes.set_parameters(net, params)
    probes.set_buffers(net, buffers)
    return net


def _experiment(net, x, eval_stats_in_train=False):
    """(out in eval mode, buffers after it, out in train mode, buffers after it) for ``net``;
    ``eval_stats_in_train``: the network's "eval" forward uses batch statistics."""
    torch = _torch()
    xt = torch.as_tensor(x)
    with torch.no_grad():
        out_eval = net.train(eval_stats_in_train)(xt).numpy()
        after_eval = [b.numpy().copy() for b in net.buffers()]
        out_train = net.train()(xt).numpy()
        after_train = [b.numpy().copy() for b in net.buffers()]
    return out_eval, after_eval, out_train, after_train


_NET_OUTS = ("out in evaluation mode", "running statistics after the evaluation-mode forward",
             "out in training mode", "running statistics after the training-mode forward")


def _net_case(c1, c2, n_classes, rng, m):
    params = []
    for k, (_, shape) in enumerate(_net_shapes(c1, c2, n_classes)):
        if k in (1, 4):  # γ of a batch norm
            params.append(rng.uniform(0.5, 1.5, shape))
        elif k in (2, 5):  # β
            params.append(rng.uniform(-0.5, 0.5, shape))
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            params.append(rng.uniform(-1, 1, shape) * 1.5 / np.sqrt(fan_in))
    params = [a.astype(np.float32) for a in params]
    buffers = []
    for c in (c1, c2):
        buffers += [rng.normal(0, 0.3, c).astype(np.float32), rng.uniform(0.5, 2.0, c).astype(np.float32),
                    np.array(int(rng.integers(1, 50)))]
    x = rng.standard_normal((m, 1, 28, 28)).astype(np.float32)
    expected = _experiment(_reference_net(c1, c2, n_classes, params, buffers), x)

    def variants():
        found = [(RELU_FIRST, _experiment(_reference_net(c1, c2, n_classes, params, buffers, "relu_first"), x)),
                 (BN_LAST, _experiment(_reference_net(c1, c2, n_classes, params, buffers, "pool_last_bn"), x))]
        out = [Variant(hint, {_NET_OUTS[0]: v[0], _NET_OUTS[2]: v[2]}) for hint, v in found]
        batch_stats = _experiment(_reference_net(c1, c2, n_classes, params, buffers), x, True)
        return out + [Variant(EVAL_BATCH_STATS, {_NET_OUTS[0]: batch_stats[0]})]

    def call(cls, _values):
        return eval_then_train("BNConvNet", cls, (c1, c2, n_classes), params, buffers, x)

    return Case(
        args=[("x", x)], dtype=np.float32, call=call, variants=variants,
        describe=f"BNConvNet({c1}, {c2}, {n_classes}) with fixed weights and running statistics, x.shape={x.shape}",
        outputs=[Out(_NET_OUTS[0], expected[0], shape_hint=f"the scores have shape (m, n_classes) = ({m}, {n_classes})."),
                 Out(_NET_OUTS[1], expected[1], kind="list"),
                 Out(_NET_OUTS[2], expected[2]),
                 Out(_NET_OUTS[3], expected[3], kind="list")],
        hint="the layers, in this order: " + NET_LAYERS,
        exception_hint=_net_exception_hint,
    )


def _net_exception_hint(exc, line):
    text = str(exc)
    if "2D or 3D input" in text or "3D or 4D" in text:
        return BN1D
    if "shapes cannot be multiplied" in text:
        return FEATURE_SIZE
    return None


def _structure(cls, c1, c2, n_classes) -> None:
    """The parameters and buffers of ``cls(c1, c2, n_classes)``, with a diagnosis."""
    __tracebackhide__ = True
    info = kernel(cls).summary(build("BNConvNet", cls, (c1, c2, n_classes)))
    got = info["parameters"]
    conv_bias = any(len(shape) == 4 and k + 1 < len(got) and got[k + 1][0].endswith("bias")
                    for k, (_, shape, *_) in enumerate(got))
    fc_wrong = len(got) == 8 and len(got[6][1]) == 2 and tuple(got[6][1]) != (n_classes, c2 * 49)
    check_parameters(f"BNConvNet({c1}, {c2}, {n_classes})", info, _net_shapes(c1, c2, n_classes),
                     hint=CONV_BIAS if conv_bias else FC_INPUTS if fc_wrong else "the layers: " + NET_LAYERS)
    want = _buffer_shapes(c1, c2)
    if [tuple(s) for _, s in info["buffers"]] != [s for _, s in want]:
        raise CheckFailed("\n  ".join([
            f"BNConvNet({c1}, {c2}, {n_classes}) has {len(info['buffers'])} buffers, expected the running statistics "
            "of two batch-norm layers:", shapes_table(want), "Yours:", shapes_table(info["buffers"]),
            f"Hint: {NO_BUFFERS if not info['buffers'] else BN1D}"]))


@forbids(*TORCH_FORBIDDEN)
def bn_conv_net(BNConvNet, hidden=False, seed=0):
    """Check the class ``BNConvNet(c1=8, c2=16, n_classes=10)`` (an ``nn.Module``).

    Structure: 8 parameter tensors in the order of the layers (no convolution bias) and the
    6 buffers of two BatchNorm2d. Behaviour, with fixed weights and running statistics: the
    scores (m, n_classes) in evaluation mode, the buffers unchanged by it, the scores in
    training mode and the running statistics it updates, against torch's own layers.
    """
    __tracebackhide__ = True
    own_work("BNConvNet", BNConvNet)
    rng = np.random.default_rng(seed)
    if not hidden:
        sizes = [(8, 16, 10, 3), (4, 6, 5, 2)]
    else:
        sizes = [(int(rng.integers(2, 7)), int(rng.integers(2, 9)), int(rng.integers(2, 11)), int(rng.integers(2, 5)))
                 for _ in range(_HIDDEN)]
    for size in dict.fromkeys(s[:3] for s in sizes):
        _structure(BNConvNet, *size)
    cases = [_net_case(c1, c2, n, rng, m) for c1, c2, n, m in sizes]
    run_check("BNConvNet", BNConvNet, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)


# --------------------------------------------------------------------------- evaluate_accuracy


def _small_model(d, h, n_classes, params, buffers):
    torch = _torch()
    nn = torch.nn
    net = nn.Sequential(nn.Linear(d, h, bias=False), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, n_classes))
    probes.set_parameters(net, params)
    probes.set_buffers(net, buffers)
    return net


def _accuracy(net, x, y, batch_size, train):
    """What an evaluation in ``train`` mode computes: (accuracy, buffers after), or None when
    a batch of one example makes training-mode batch norm fail."""
    torch = _torch()
    net = copy.deepcopy(net).train(train)
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb = torch.as_tensor(x[start:start + batch_size])
            if train and len(xb) == 1:
                return None
            correct += int((net(xb).argmax(1).numpy() == y[start:start + batch_size]).sum())
    return correct / len(x), [b.numpy().copy() for b in net.buffers()]


_EVAL_OUTS = ("accuracy", "running statistics after the call", "model.training after the call",
              "type of the result")


def _eval_case(rng, n, batch_size, start_training, note=""):
    d, h, n_classes = 6, 5, 3
    for _ in range(100):  # data on which forgetting eval() changes the accuracy
        params = [rng.uniform(-1, 1, (h, d)), rng.uniform(0.5, 1.5, h), rng.uniform(-0.5, 0.5, h),
                  rng.uniform(-1, 1, (n_classes, h)), rng.uniform(-0.3, 0.3, n_classes)]
        params = [p.astype(np.float32) for p in params]
        buffers = [rng.normal(0, 0.5, h).astype(np.float32), rng.uniform(0.5, 2.0, h).astype(np.float32),
                   np.array(int(rng.integers(1, 50)))]
        x = rng.normal(0, 1.5, (n, d)).astype(np.float32)
        net = _small_model(d, h, n_classes, params, buffers)
        torch = _torch()
        with torch.no_grad():
            predicted = net.eval()(torch.as_tensor(x)).argmax(1).numpy()
        y = np.where(rng.random(n) < 0.7, predicted, rng.integers(0, n_classes, n))
        order = np.argsort(y, kind="stable")  # batches of one class, as in section 10
        x, y = x[order], y[order].astype(np.int64)
        acc, _ = _accuracy(net, x, y, batch_size, False)
        wrong = _accuracy(net, x, y, batch_size, True) if start_training else None
        if not start_training or wrong is None or wrong[0] != acc:
            break
    found = [(COUNT, {"accuracy": acc * n}), (PERCENT, {"accuracy": 100 * acc}),
             (LEFT_IN_EVAL if start_training else FORCED_TRAIN, {_EVAL_OUTS[2]: not start_training})]
    found += [(NOT_FLOAT.format(kind=kind), {_EVAL_OUTS[3]: kind}) for kind in ("Tensor", "ndarray", "float32")]
    if wrong is not None:
        found += [(FORGOT_EVAL, {"accuracy": wrong[0]}), (FORGOT_EVAL, {_EVAL_OUTS[1]: wrong[1]})]

    def call(fn, _values):
        k = kernel(fn)
        model = k.sequential(("Linear", (d, h), {"bias": False}), ("BatchNorm1d", (h,)), ("ReLU",),
                             ("Linear", (h, n_classes)))
        k.set_parameters(model, params)
        k.set_buffers(model, buffers)
        if not start_training:
            k.forward(model, x[:1], mode="eval")  # an evaluation-mode forward changes nothing
        result, type_name = k.call(fn, model, k.tensor(x), k.tensor(y, "int64"), batch_size)
        type_name = "float" if type_name == "float64" else type_name  # NumPy's float64 is a Python float
        return result, k.buffers(model), k.summary(model)["training"], type_name

    mode = "training" if start_training else "evaluation"
    last = n % batch_size or batch_size
    return Case(
        args=[("x", x), ("y", y), ("batch_size", batch_size)], call=call, dtype=np.float32, note=note,
        describe=f"a batch-norm model in {mode} mode, {n} examples sorted by class, batch_size={batch_size} "
                 f"(last batch: {last})",
        outputs=[Out(_EVAL_OUTS[0], acc, kind="scalar"), Out(_EVAL_OUTS[1], buffers, kind="list"),
                 Out(_EVAL_OUTS[2], start_training, kind="exact"), Out(_EVAL_OUTS[3], "float", kind="exact")],
        variants=lambda: [Variant(hint, values) for hint, values in found],
        hint=("model.eval(), then the predictions batch by batch (the index of the highest score of each row), "
              "the fraction equal to y, and model.train(was_training) before returning."),
        exception_hint=lambda exc, line: ONE_EXAMPLE if "more than 1 value per channel" in str(exc) else None,
    )


@forbids(*TORCH_FORBIDDEN)
def evaluate_accuracy(func, hidden=False, seed=0):
    """Check ``evaluate_accuracy(model, x, y, batch_size=256) -> float``.

    model: a batch-norm classifier in training or evaluation mode; x: (N, ...) float tensor,
    y: (N,) int64 tensor, sorted by class. Compares the accuracy in evaluation mode, the
    running statistics (unchanged), ``model.training`` after the call (as before it) and the
    type of the result (a Python float).
    """
    __tracebackhide__ = True
    rng = np.random.default_rng(seed)
    if not hidden:
        cases = [_eval_case(rng, 12, 4, True, "a model in training mode, as a training loop leaves it"),
                 _eval_case(rng, 10, 4, False, "a model already in evaluation mode"),
                 _eval_case(rng, 11, 5, True, "a last batch of a single example")]
    else:
        cases = []
        for k in range(_HIDDEN + 2):
            batch_size = int(rng.integers(2, 7))
            n = batch_size * int(rng.integers(2, 5)) + (1 if k % 3 == 2 else int(rng.integers(0, batch_size)))
            cases.append(_eval_case(rng, n, batch_size, bool(k % 2 == 0)))
    run_check("evaluate_accuracy", func, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)
