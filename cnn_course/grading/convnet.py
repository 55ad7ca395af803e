"""Checks for the PyTorch exercises of the topic-1 notebook: ``ConvNet`` and ``train_step``.

``conv_net`` grades the student's ``nn.Module`` by its parameters (shapes and names, in the
order ``__init__`` creates them) and by its output for fixed weights, against a reference
computed here with ``torch.nn.functional``. ``train_step`` grades one training step by its
effect: two calls on the same batch, with fixed weights and a fixed optimizer, must give
the losses and the parameters that zero_grad -> forward -> loss -> backward -> step gives.
Known mistakes (no ReLU, a softmax before the loss, gradients that accumulate, ...) are
simulated here too, so that the message can name them.

Everything that touches the student's objects goes through the probes
(:mod:`cnn_course.grading.probes`), so the checks run the same in the student's notebook and
in the autograder. torch is imported only when a check runs.
"""

from __future__ import annotations

import numpy as np

from .core import TORCH_FORBIDDEN, Case, CheckFailed, Out, Variant, describe, forbids, run_check
from . import probes
from .probes import kernel
from .pytorch import build, check_parameters, forward_with, own_work, random_weights

__all__ = ["conv_net", "train_step", "convnet_layers"]

SIDE = 28  # input images are 1 x 28 x 28
FLAT = 16 * 7 * 7  # after two 2x2 poolings: 28 -> 14 -> 7, 16 channels


def convnet_layers(n_classes: int = 10) -> list[tuple[str, tuple[int, ...]]]:
    """The parameters of ``ConvNet(n_classes)``: (name, shape) in creation order."""
    return [("conv1.weight", (8, 1, 3, 3)), ("conv1.bias", (8,)),
            ("conv2.weight", (16, 8, 3, 3)), ("conv2.bias", (16,)),
            ("fc.weight", (n_classes, FLAT)), ("fc.bias", (n_classes,))]


STRUCTURE_HINT = ("conv1: 8 filters of 3×3 on 1 channel; conv2: 16 filters of 3×3 on conv1's 8 channels; "
                  f"fc: 16·7·7 = {FLAT} inputs (28 → 14 → 7 through the two poolings, 'same' padding keeps "
                  "the size through each convolution) to n_classes scores.")


def _fc_inputs_hint(n_inputs: int) -> str | None:
    known = {
        16 * 5 * 5: "400 = 16·5·5 is the size without padding (28 → 26 → 13 → 11 → 5): use 'same' padding "
                    "(padding=1 for a 3×3 filter), which keeps 28 → 28 → 14 → 14 → 7.",
        16 * 14 * 14: "3 136 = 16·14·14 is the size after one pooling only: each of the two poolings halves "
                      "the sides, 28 → 14 → 7.",
        16 * 28 * 28: "12 544 = 16·28·28 is the size without any pooling: each 2×2 max pooling halves the "
                      "sides, 28 → 14 → 7.",
        8 * 7 * 7: "392 = 8·7·7 counts conv1's 8 channels; the flattened volume comes out of conv2, which has "
                   "16 channels: 16·7·7.",
        7 * 7: "49 = 7·7 forgets the channels: the flattened volume is 16 channels of 7×7.",
    }
    return known.get(n_inputs)


def _structure_hint(got) -> str:
    """The shape mistake the student's parameter list shows, or the layer recipe."""
    shapes = {name: tuple(shape) for name, shape, *_ in got}
    for name, shape in shapes.items():
        if name.endswith("weight") and len(shape) == 2:  # the dense layer
            found = _fc_inputs_hint(shape[1])
            if found:
                return found
        if name.endswith("weight") and len(shape) == 4 and shape[0] == 16 and shape[1] != 8:
            return f"conv2's filters must span the 8 channels that conv1 produces: (16, 8, 3, 3), not {shape}."
    return STRUCTURE_HINT


def _check_names(summary: dict, expected) -> None:
    __tracebackhide__ = True
    got = [p[0] for p in summary["parameters"]]
    want = [name for name, _ in expected]
    if got != want:
        raise CheckFailed(
            f"ConvNet's layers have the right shapes, but its parameters are named {got}; expected {want}.\n"
            "  Hint: create the layers as attributes named conv1, conv2 and fc (self.conv1 = ...): the cells "
            "after the training read model.conv1 to show the learned filters.")


def _reference_scores(weights, x, *, relu=(True, True), pool="max", flatten="nchw", last=None):
    """The scores of the ConvNet for ``weights``, with switchable mistakes."""
    import torch
    import torch.nn.functional as F

    w1, b1, w2, b2, w3, b3 = (torch.tensor(w) for w in weights)
    pool_fn = F.max_pool2d if pool == "max" else F.avg_pool2d
    with torch.no_grad():
        a = F.conv2d(torch.tensor(x), w1, b1, padding=1)
        a = pool_fn(F.relu(a) if relu[0] else a, 2)
        a = F.conv2d(a, w2, b2, padding=1)
        a = pool_fn(F.relu(a) if relu[1] else a, 2)
        a = a.permute(0, 2, 3, 1) if flatten == "nhwc" else a
        z = a.reshape(a.shape[0], -1) @ w3.T + b3
        if last == "softmax":
            z = F.softmax(z, dim=1)
        elif last == "relu":
            z = F.relu(z)
    return z.numpy()


def _convnet_case(x, weights, n_classes, note=""):
    expected = _reference_scores(weights, x)
    kwargs = {} if n_classes == 10 else {"n_classes": n_classes}

    def variants():
        out = [(dict(relu=(False, False)), "your scores are those of the network without ReLU: apply torch.relu "
                "after each convolution, before its pooling. Without it, two convolutions and a dense layer "
                "collapse into one linear map."),
               (dict(relu=(False, True)), "the ReLU after conv1 is missing (conv2's is there)."),
               (dict(relu=(True, False)), "the ReLU after conv2 is missing (conv1's is there)."),
               (dict(pool="avg"), "your scores are those of average pooling: the network uses max pooling "
                "(nn.MaxPool2d or F.max_pool2d)."),
               (dict(flatten="nhwc"), "you flattened the volume in the order (height, width, channels): "
                "flatten the (m, 16, 7, 7) volume as it is, torch.flatten(x, 1) or x.reshape(len(x), -1)."),
               (dict(last="softmax"), "your forward returns probabilities (a softmax of the scores): return the "
                "raw scores (logits); F.cross_entropy applies the softmax itself, and twice is wrong."),
               (dict(last="relu"), "a ReLU after fc clips the negative scores to 0: return fc's output as it is.")]
        return [Variant(hint, {"scores": _reference_scores(weights, x, **kw)}) for kw, hint in out]

    return Case(args=[("x", x)], outputs=[Out("scores", expected, shape_hint="forward returns one row of "
                                               "n_classes scores per image: (m, n_classes).")],
                describe=describe(np.float32, x=x) + f", n_classes={n_classes}, fixed weights",
                dtype=np.float32, note=note,
                hint="forward: conv1 → ReLU → 2×2 max pooling → conv2 → ReLU → 2×2 max pooling → flatten → fc, "
                     "returning fc's output (no softmax).",
                call=lambda cls, values: forward_with("ConvNet", cls, (), weights, values[0], kwargs=kwargs),
                variants=variants)


def _summary(k, model) -> dict:
    __tracebackhide__ = True
    try:
        return k.summary(model)
    except TypeError as exc:
        raise CheckFailed(f"ConvNet() is not a PyTorch module ({exc}).\n  Hint: derive the class from "
                          "nn.Module (class ConvNet(nn.Module):) and call super().__init__() first in __init__.") \
            from None


@forbids(*TORCH_FORBIDDEN)
def conv_net(ConvNet, hidden=False, seed=0):
    """Check the class ``ConvNet(n_classes=10)``: conv1 (8 filters 3×3, same padding) -> ReLU ->
    max pool 2 -> conv2 (16 filters 3×3, same) -> ReLU -> max pool 2 -> flatten -> fc -> scores."""
    __tracebackhide__ = True
    own_work("ConvNet", ConvNet)
    k = kernel(ConvNet)
    rng = np.random.default_rng(seed)
    for n_classes in (10, 3):
        kwargs = {} if n_classes == 10 else {"n_classes": n_classes}
        summary = _summary(k, build("ConvNet", ConvNet, (), kwargs))
        expected = convnet_layers(n_classes)
        check_parameters(f"ConvNet({'' if n_classes == 10 else f'n_classes={n_classes}'})", summary, expected,
                         hint=_structure_hint(summary["parameters"]))
        _check_names(summary, expected)
    cases = []
    sizes = [(2, 10)] if not hidden else [(1, 10), (3, 10), (4, 3), (2, 10)]
    for m, n_classes in sizes:
        weights = random_weights([s for _, s in convnet_layers(n_classes)], rng, scale=1.5)
        x = rng.random((m, 1, SIDE, SIDE)).astype(np.float32)
        note = "two 28×28 images, the default 10 classes" if not hidden else ""
        cases.append(_convnet_case(x, weights, n_classes, note))
    run_check("ConvNet", ConvNet, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)


# --------------------------------------------------------------------------- the training step

# The model the check hands to train_step: small, with batch norm, so that the mode matters.
STEP_MODEL = (("Conv2d", (1, 2, 3), {"padding": 1}), ("BatchNorm2d", (2,)), ("ReLU",), ("MaxPool2d", (2,)),
              ("Flatten",), ("Linear", (8, 3)))
STEP_SHAPES = [(2, 1, 3, 3), (2,), (2,), (2,), (3, 8), (3,)]
CORRECT_ORDER = ("train", "zero_grad", "forward", "backward", "step")


def _torch_model():
    import torch

    layers = []
    for name, *rest in STEP_MODEL:
        args = rest[0] if rest else ()
        kwargs = rest[1] if len(rest) > 1 else {}
        layers.append(getattr(torch.nn, name)(*args, **kwargs))
    return torch.nn.Sequential(*layers)


def _simulate(weights, X, y, optimizer, *, order=CORRECT_ORDER, loss="ce", returned="before", steps=2):
    """Run ``steps`` training steps made of ``order`` in this process; (losses, parameters)."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    model = _torch_model()
    probes.set_parameters(model, weights)
    model.eval()  # as the check hands it over
    name, kwargs = optimizer
    opt = getattr(torch.optim, name)(model.parameters(), **kwargs)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    losses = []
    for _ in range(steps):
        value = None
        for op in order:
            if op in ("train", "eval"):
                model.train(op == "train")
            elif op == "zero_grad":
                opt.zero_grad()
            elif op == "forward":
                z = model(Xt)
                if loss == "ce":
                    value = F.cross_entropy(z, yt)
                elif loss == "softmax_ce":
                    value = F.cross_entropy(F.softmax(z, dim=1), yt)
                elif loss == "nll":
                    value = F.nll_loss(z, yt)
                elif loss == "sum":
                    value = F.cross_entropy(z, yt, reduction="sum")
            elif op == "backward":
                value.backward()
            elif op == "step":
                opt.step()
        if returned == "after":
            with torch.no_grad():
                value = F.cross_entropy(model(Xt), yt)
        losses.append(float(value.item()))
    return losses, [p.detach().numpy().copy() for p in model.parameters()]


def _run_student_steps(fn, weights, X, y, optimizer):
    """The experiment, on the student's side: the model (in eval mode), the optimizer, two calls."""
    k = kernel(fn)
    model = k.sequential(*STEP_MODEL)
    k.set_parameters(model, weights)
    k.forward(model, X[:1], mode="eval")  # hand the model over in evaluation mode
    name, kwargs = optimizer
    opt = k.new(f"torch.optim.{name}", model, **kwargs)
    Xt, yt = k.tensor(X), k.tensor(y, "int64")
    (l1, t1), (l2, _) = k.call(fn, model, opt, Xt, yt), k.call(fn, model, opt, Xt, yt)
    return t1, l1, l2, k.parameters(model)


FROZEN = ("the parameters did not change: a step is zero_grad() → forward → loss → backward() → step(), in this "
          "order. step() before backward() finds no gradients (zero_grad() just removed them), zero_grad() "
          "between backward() and step() wipes them, and without step() nothing is updated.")


def _step_case(weights, X, y, optimizer, note=""):
    (l1, l2), params = _simulate(weights, X, y, optimizer)
    opt_text = f"{optimizer[0]}({', '.join(f'{k}={v}' for k, v in optimizer[1].items())})"

    def variants():
        sims = [
            (dict(order=("train", "forward", "backward", "step")),
             "the gradients of step 1 were still there in step 2: backward() adds to .grad, so call "
             "optimizer.zero_grad() before loss.backward()."),
            (dict(order=("train", "zero_grad", "forward", "step", "backward")), FROZEN),
            (dict(order=("train", "forward", "backward", "zero_grad", "step")), FROZEN),
            (dict(order=("train", "zero_grad", "forward", "backward")), FROZEN),
            (dict(order=("zero_grad", "forward", "backward", "step")),
             "the model ran in evaluation mode: put it in training mode at the start of the step (model.train()). "
             "The model handed to train_step was in eval mode, where batch norm uses its running averages "
             "instead of the batch's statistics (and dropout is off)."),
            (dict(order=("eval", "zero_grad", "forward", "backward", "step")),
             "the model ran in evaluation mode (model.eval()): a training step runs in training mode, "
             "model.train()."),
            (dict(loss="softmax_ce"), "you applied a softmax before F.cross_entropy, which applies it itself: "
             "pass the raw scores (logits) to the loss."),
            (dict(loss="nll"), "F.nll_loss expects log-probabilities; on raw scores use F.cross_entropy (log-softmax "
             "and negative log-likelihood in one)."),
            (dict(loss="sum"), "your loss is the sum over the batch; use the mean (the default reduction of "
             "F.cross_entropy), so that the step size does not grow with the batch size."),
            (dict(returned="after"), "you returned the loss after the update (a second forward pass); return the "
             "loss of the forward pass of this step, the one backward() differentiated."),
        ]
        out = []
        for kw, hint in sims:
            (b1, b2), bp = _simulate(weights, X, y, optimizer, **kw)
            out.append(Variant(hint, {"loss of step 1": b1, "loss of step 2": b2, "parameters after step 2": bp}))
        for kind in ("Tensor", "ndarray"):
            out.append(Variant(f"you returned a {kind}: return loss.item(), the loss as a Python float (a tensor "
                               "also keeps the whole graph of the step alive).", {"type of the result": kind}))
        return out

    def exception_hint(exc, line):
        text = str(exc)
        if "does not require grad" in text:
            return ("the loss has no graph to differentiate: do not run the forward pass under torch.no_grad() "
                    "(or on detached tensors) in a training step.")
        if "backward through the graph a second time" in text:
            return "call loss.backward() once per step, on a loss computed in this step."
        return None

    return Case(args=[], dtype=np.float32, note=note,
                describe=f"two calls on one batch: X.shape={X.shape}, {len(set(y.tolist()))} classes, optimizer "
                         f"{opt_text}, a small model with batch norm handed over in eval mode",
                outputs=[Out("type of the result", "float", kind="exact"), Out("loss of step 1", l1, "scalar"),
                         Out("loss of step 2", l2, "scalar"), Out("parameters after step 2", params, "list")],
                hint="one step: model.train(), optimizer.zero_grad(), scores = model(X), loss = "
                     "F.cross_entropy(scores, y), loss.backward(), optimizer.step(), return loss.item().",
                call=lambda fn, values: _run_student_steps(fn, weights, X, y, optimizer),
                variants=variants, exception_hint=exception_hint, tol=(1e-4, 1e-5))


@forbids(*TORCH_FORBIDDEN)
def train_step(func, hidden=False, seed=0):
    """Check ``train_step(model, optimizer, X, y) -> float``: one step of training in training
    mode, returning the batch's mean cross-entropy before the update."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed)
    if not hidden:
        setups = [(6, ("SGD", {"lr": 0.5}), "plain gradient descent, lr 0.5, 6 images of 4×4")]
    else:
        setups = [(4, ("SGD", {"lr": 0.2}), ""), (5, ("Adam", {"lr": 0.05}), ""),
                  (8, ("SGD", {"lr": 0.1, "momentum": 0.9}), "")]
    cases = []
    for m, optimizer, note in setups:
        weights = random_weights(STEP_SHAPES, rng, scale=1.5)
        weights[2] = (1.0 + 0.2 * rng.standard_normal(2)).astype(np.float32)  # batch-norm scale near 1
        X = rng.standard_normal((m, 1, 4, 4)).astype(np.float32)
        y = rng.permutation(np.arange(m) % 3).astype(np.int64)
        cases.append(_step_case(weights, X, y, optimizer, note))
    run_check("train_step", func, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)
