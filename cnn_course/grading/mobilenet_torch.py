"""Checks for the PyTorch exercises of the topic-7 notebook (MobileNet).

* ``InvertedResidual(in_channels, out_channels, stride, expand_ratio)``, MobileNet v2's
  block: 1×1 expansion to ``hidden = in_channels · expand_ratio`` channels → BN → ReLU6
  (left out when ``expand_ratio == 1``), depthwise 3×3 (stride, padding 1,
  ``groups=hidden``) → BN → ReLU6, 1×1 linear projection to ``out_channels`` → BN with NO
  activation; the input is added when ``stride == 1`` and ``in_channels == out_channels``,
  which the attribute ``use_residual`` says: :func:`inverted_residual`.
* ``freeze_and_replace_head(model, num_classes)``: every parameter of ``model`` frozen
  (``requires_grad=False``), ``model.classifier[-1]`` (an ``nn.Linear``) replaced by a new
  trainable ``nn.Linear`` with the same inputs and ``num_classes`` outputs, the model
  returned: :func:`freeze_and_replace_head`.

Both are judged by behaviour through the probes (:mod:`.probes`): parameter shapes in
creation order and which of them require gradients, then outputs with fixed weights in
both modes against a reference built here from torch's layers (the known mistakes: a ReLU6
after the projection, a missing shortcut, ReLU instead of ReLU6, a full convolution where
the depthwise one belongs, an old head that still trains). torch is imported only when a
check runs.
"""

from __future__ import annotations

import numpy as np

from . import probes
from .core import TORCH_FORBIDDEN, Case, CheckFailed, Out, Variant, forbids, run_check
from .probes import kernel
from .pytorch import _failure, build, check_parameters, own_work, shapes_table

__all__ = ["inverted_residual", "freeze_and_replace_head", "block_shapes"]

_OUTS = ("out in evaluation mode", "running statistics after the evaluation-mode forward",
         "out in training mode", "running statistics after the training-mode forward", "use_residual")

RELU_AFTER_PROJECTION = ("your block applies an activation after the projection (1×1 → BN → ReLU6): the projection "
                         "is LINEAR. It maps the wide representation back to few channels, and a ReLU there would "
                         "zero part of a low-dimensional signal and lose information; end with the batch norm.")
NO_RESIDUAL = ("your block never adds its input: when stride == 1 and in_channels == out_channels the output is "
               "x + project(...), as in a ResNet.")
RELU_NOT_RELU6 = ("your activations are plain ReLUs: MobileNet v2 uses ReLU6, min(max(z, 0), 6) (nn.ReLU6), which "
                  "stays accurate in low-precision arithmetic on phones.")
RESIDUAL_WHEN_SHAPES_CHANGE = ("the input cannot be added here: with stride 2 (or out_channels ≠ in_channels) x and "
                               "the block's output have different shapes. Add x only when stride == 1 and "
                               "in_channels == out_channels (set self.use_residual = ... in __init__).")
USE_RESIDUAL = ("self.use_residual must be the bool `stride == 1 and in_channels == out_channels`, set in __init__ "
                "and used by forward.")
GROUPS = ("the depthwise convolution has ONE 3×3 filter per channel, weight shape (hidden, 1, 3, 3): "
          "nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False). Without groups=hidden it "
          "is a full convolution, weight (hidden, hidden, 3, 3), which mixes the channels and costs hidden times more.")
EXPAND_WHEN_1 = ("with expand_ratio == 1 the block has no expansion layer (hidden = in_channels already): it starts "
                 "with the depthwise convolution.")
NO_PROJECTION = ("the block ends without its 1×1 projection to out_channels (the pointwise step): after the "
                 "depthwise convolution, nn.Conv2d(hidden, out_channels, 1, bias=False) and its nn.BatchNorm2d.")
CONV_BIAS = ("your convolutions have a bias (nn.Conv2d's default): before batch norm it does nothing; create them "
             "with bias=False.")
LAYERS = ("the layers, in this order: [1×1 conv in → hidden, BN, ReLU6 — only when expand_ratio != 1], depthwise 3×3 "
          "conv (groups=hidden, stride, padding 1), BN, ReLU6, 1×1 conv hidden → out, BN; no conv biases.")


def _torch():
    import torch

    return torch


# --------------------------------------------------------------------------- the reference


def _ref_block(c_in, c_out, stride, t, *, last_act=False, residual="right", act="relu6"):
    torch = _torch()
    nn = torch.nn
    hidden = int(round(c_in * t))

    def a():
        return nn.ReLU6() if act == "relu6" else nn.ReLU()

    layers = []
    if t != 1:
        layers += [nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), a()]
    layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), a(),
               nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
    if last_act:
        layers.append(a())
    body = nn.Sequential(*layers)
    use = stride == 1 and c_in == c_out if residual == "right" else False

    class Ref(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = body

        def forward(self, x):
            return x + self.conv(x) if use else self.conv(x)

    return Ref()


def block_shapes(c_in, c_out, t):
    """(parameter shapes, buffer shapes) of InvertedResidual(c_in, c_out, stride, t), in creation order."""
    hidden = int(round(c_in * t))
    shapes, buffers = [], []
    if t != 1:
        shapes += [("expand conv.weight", (hidden, c_in, 1, 1)), ("expand bn.weight", (hidden,)),
                   ("expand bn.bias", (hidden,))]
        buffers += [(hidden,), (hidden,), ()]
    shapes += [("depthwise conv.weight", (hidden, 1, 3, 3)), ("depthwise bn.weight", (hidden,)),
               ("depthwise bn.bias", (hidden,)), ("project conv.weight", (c_out, hidden, 1, 1)),
               ("project bn.weight", (c_out,)), ("project bn.bias", (c_out,))]
    buffers += [(hidden,), (hidden,), (), (c_out,), (c_out,), ()]
    return shapes, buffers


def _fixed_state(rng, shapes, buffer_shapes):
    """Weights large enough that ReLU6 clips (γ in [1, 3]) and running statistics, float32."""
    params = []
    for label, shape in shapes:
        if label.endswith("bn.weight"):
            params.append(rng.uniform(1.0, 3.0, shape))
        elif label.endswith("bn.bias"):
            params.append(rng.uniform(-1.0, 1.0, shape))
        else:
            fan_in = int(np.prod(shape[1:]))
            params.append(rng.uniform(-1, 1, shape) * 2.5 / np.sqrt(fan_in))
    buffers = []
    for k, shape in enumerate(buffer_shapes):
        if shape == ():
            buffers.append(np.array(int(rng.integers(1, 50))))
        elif k % 3 == 0:
            buffers.append(rng.normal(0, 0.3, shape).astype(np.float32))
        else:
            buffers.append(rng.uniform(0.3, 1.5, shape).astype(np.float32))
    return [p.astype(np.float32) for p in params], buffers


def _experiment(net, x):
    torch = _torch()
    xt = torch.as_tensor(x)
    with torch.no_grad():
        out_eval = net.eval()(xt).numpy()
        after_eval = [b.numpy().copy() for b in net.buffers()]
        out_train = net.train()(xt).numpy()
        after_train = [b.numpy().copy() for b in net.buffers()]
    return out_eval, after_eval, out_train, after_train


def _structure_hint(c_in, c_out, t):
    hidden = int(round(c_in * t))

    def hint(got):
        shapes = [tuple(s) for _, s, *_ in got]
        if (hidden, hidden, 3, 3) in shapes and hidden > 1:
            return GROUPS
        if t == 1 and (hidden, c_in, 1, 1) in shapes and len(shapes) > 6:
            return EXPAND_WHEN_1
        if (c_out, hidden, 1, 1) not in shapes:
            return NO_PROJECTION
        if any(len(s) == 4 for s in shapes) and len(shapes) > len(block_shapes(c_in, c_out, t)[0]):
            return CONV_BIAS
        return LAYERS
    return hint


def _check_structure(label, cls, args, c_in, c_out, t) -> None:
    __tracebackhide__ = True
    shapes, buffer_shapes = block_shapes(c_in, c_out, t)
    try:
        info = kernel(cls).summary(build(label.split("(")[0], cls, args))
    except TypeError as exc:
        raise CheckFailed(f"{label} is not a PyTorch module ({exc}).\n  Hint: derive the class from nn.Module and "
                          "call super().__init__() first in __init__.") from None
    check_parameters(label, info, shapes, hint=_structure_hint(c_in, c_out, t)(info["parameters"]))
    got = [tuple(s) for _, s in info["buffers"]]
    if got != [tuple(s) for s in buffer_shapes]:
        raise CheckFailed("\n  ".join([
            f"{label} has {len(got)} buffers, expected the running statistics of {len(buffer_shapes) // 3} "
            "batch-norm layers:", shapes_table([(f"buffer {i + 1}", s) for i, s in enumerate(buffer_shapes)]),
            "Yours:", shapes_table(info["buffers"]),
            "Hint: one nn.BatchNorm2d after each convolution, with its defaults, created in the order of the layers."]))


def _run_block(cls, args, params, buffers, x):
    __tracebackhide__ = True
    k = kernel(cls)
    model = build("InvertedResidual", cls, args)
    k.set_parameters(model, params)
    k.set_buffers(model, buffers)
    out_eval = k.forward(model, x, mode="eval")
    after_eval = k.buffers(model)
    out_train = k.forward(model, x, mode="train")
    return out_eval, after_eval, out_train, k.buffers(model), k.attribute(model, "use_residual")


DEPTHWISE_PADDING = ("x and the block's output have different sizes although the residual is right here (stride 1, "
                     "as many output as input channels): the depthwise 3×3 convolution needs padding=1, so that with "
                     "stride 1 it keeps H and W.")


def _exception_hint(exc, line, residual_right):
    text = str(exc)
    if "use_residual" in text:
        return USE_RESIDUAL
    if "size of tensor" in text or "must match" in text:
        return DEPTHWISE_PADDING if residual_right else RESIDUAL_WHEN_SHAPES_CHANGE
    return None


def _block_case(cls, c_in, c_out, stride, t, rng, m, side, note=""):
    shapes, buffer_shapes = block_shapes(c_in, c_out, t)
    params, buffers = _fixed_state(rng, shapes, buffer_shapes)
    x = (2.0 * rng.standard_normal((m, c_in, side, side))).astype(np.float32)
    args = (c_in, c_out, stride, t)

    def reference(**kw):
        net = _ref_block(c_in, c_out, stride, t, **kw)
        probes.set_parameters(net, params)
        probes.set_buffers(net, buffers)
        return _experiment(net, x)

    expected = reference()
    use = stride == 1 and c_in == c_out

    def variants():
        found = [(RELU_AFTER_PROJECTION, dict(last_act=True)), (RELU_NOT_RELU6, dict(act="relu"))]
        if use:
            found.append((NO_RESIDUAL, dict(residual="never")))
        out = []
        for hint, kw in found:
            v = reference(**kw)
            out.append(Variant(hint, {_OUTS[0]: v[0], _OUTS[2]: v[2]}))
        return out

    h = (side - 1) // stride + 1
    return Case(
        args=[("x", x)], dtype=np.float32, note=note, tol=(2e-4, 2e-4),
        describe=f"InvertedResidual({c_in}, {c_out}, stride={stride}, expand_ratio={t}) with fixed weights and "
                 f"running statistics, x.shape={x.shape}",
        outputs=[Out(_OUTS[0], expected[0], shape_hint=f"the block's output has shape (m, {c_out}, {h}, {h}): the "
                                                        "depthwise 3×3 convolution needs padding=1, and the stride "
                                                        "goes there only."),
                 Out(_OUTS[1], expected[1], kind="list"), Out(_OUTS[2], expected[2]),
                 Out(_OUTS[3], expected[3], kind="list"), Out(_OUTS[4], use, kind="exact")],
        call=lambda c, _values: _run_block(c, args, params, buffers, x),
        variants=variants, hint=LAYERS + " Output: x + that when use_residual, else that alone.",
        exception_hint=lambda exc, line: _exception_hint(exc, line, use),
        inspect=lambda got: USE_RESIDUAL if got.get(_OUTS[4]) != use else None,
    )


@forbids(*TORCH_FORBIDDEN)
def inverted_residual(InvertedResidual, hidden=False, seed=0):
    """Check ``InvertedResidual(in_channels, out_channels, stride, expand_ratio)``: parameters
    and buffers in creation order, then outputs and running statistics in both modes with
    fixed weights, and ``use_residual``, against torch's layers."""
    __tracebackhide__ = True
    own_work("InvertedResidual", InvertedResidual)
    rng = np.random.default_rng(seed + 707)
    if not hidden:
        specs = [(4, 4, 1, 6, 2, 5, "4 → 4 channels, stride 1: the residual is added"),
                 (4, 4, 2, 6, 2, 6, "4 → 4 channels, stride 2: no residual, the size halves"),
                 (3, 5, 1, 1, 2, 4, "expand_ratio 1 (no expansion layer), 3 → 5 channels: no residual")]
    else:
        specs = [(3, 3, 2, 4, 2, 6, "stride 2 with equal channels: no residual"),
                 (5, 5, 1, 2, 2, 5, "stride 1 with equal channels: the residual is added")]
        for _ in range(2):
            stride = int(rng.integers(1, 3))
            c_in = int(rng.integers(1, 5))
            c_out = c_in if rng.random() < 0.5 else int(rng.integers(1, 7))
            specs.append((c_in, c_out, stride, int(rng.choice([1, 2, 3, 6])), 2, int(rng.integers(4, 8)), ""))
    for c_in, c_out, stride, t, *_ in dict.fromkeys(s[:4] for s in specs):
        _check_structure(f"InvertedResidual({c_in}, {c_out}, {stride}, {t})", InvertedResidual,
                         (c_in, c_out, stride, t), c_in, c_out, t)
    cases = [_block_case(InvertedResidual, c_in, c_out, s, t, rng, m, side, note)
             for c_in, c_out, s, t, m, side, note in specs]
    run_check("InvertedResidual", InvertedResidual, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)


# --------------------------------------------------------------------------- freezing and a new head

NOT_RETURNED = ("freeze_and_replace_head must return the model (the same object, changed in place, is fine): got "
                "{got}.")
NOT_FROZEN_ALL = ("none of the pretrained parameters is frozen: every parameter of the model must get "
                  "requires_grad=False before the new head is put in (model.eval() does NOT freeze: it only switches "
                  "batch norm and dropout to their evaluation behaviour).")
OLD_HEAD_TRAINS = ("{name} still has requires_grad=True: it belongs to the pretrained classifier, which must not train "
                   "either. Freeze EVERY parameter of the model (for p in model.parameters(): p.requires_grad = False), "
                   "not just model.features; only the new layer trains.")
PARTLY_FROZEN = ("{name} (pretrained) still has requires_grad=True: freeze every parameter of the model, then put the "
                 "new head in.")
NEW_HEAD_FROZEN = ("the new head has requires_grad=False: nothing would train. Freeze the model first, then create the "
                   "new nn.Linear (a new layer requires gradients by default).")
HEAD_NOT_REPLACED = ("the last layer still has {old} outputs: replace model.classifier[-1] by a NEW "
                     "nn.Linear(in_features, num_classes) (changing its .out_features attribute does not change its "
                     "weights).")
HEAD_APPENDED = ("the old head ({old} outputs) is still in the model, and your new layer comes after it: appended "
                 "behind the old head (its {old} scores would feed your layer) or not used at all. Replace the old "
                 "head itself: model.classifier[-1] = nn.Linear(in_features, num_classes).")
HEAD_SHAPES = ("the parameters should be those of the pretrained model, except the last layer: (num_classes, "
               "in_features) and (num_classes,), in_features being the old head's number of inputs.")
HEAD_UNUSED = ("the model's output does not come from your new head (its scores have {got} columns): put the new layer "
               "where forward uses it, model.classifier[-1] = nn.Linear(...).")
VALUES_CHANGED = ("a pretrained parameter ({name}) changed its values: freezing keeps the learned weights as they are; "
                  "only the new head starts from scratch.")


def _spec_model(k, c_in, width, hidden_layer, old_classes):
    """The model a case hands to the student's function, built on the student's side:
    features (conv → BN → ReLU → global average pooling → flatten) and a classifier
    ([Linear → ReLU →] Dropout → Linear); and its parameter shapes."""
    features = k.sequential(("Conv2d", (c_in, width, 3), {"padding": 1, "bias": False}), ("BatchNorm2d", (width,)),
                            ("ReLU",), ("AdaptiveAvgPool2d", (1,)), ("Flatten",))
    head_in = width
    layers = []
    if hidden_layer:
        layers += [("Linear", (width, hidden_layer)), ("ReLU",)]
        head_in = hidden_layer
    layers += [("Dropout", (0.2,)), ("Linear", (head_in, old_classes))]
    classifier = k.sequential(*layers)
    model = k.new("torch.nn.Sequential", {"features": features, "classifier": classifier})
    shapes = [("features.0.weight", (width, c_in, 3, 3)), ("features.1.weight", (width,)), ("features.1.bias", (width,))]
    if hidden_layer:
        shapes += [("classifier.0.weight", (hidden_layer, width)), ("classifier.0.bias", (hidden_layer,))]
    return model, shapes, head_in


def _reference_forward(c_in, width, hidden_layer, head_in, num_classes, params, buffers, x):
    torch = _torch()
    nn = torch.nn
    layers = [nn.Conv2d(c_in, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
              nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if hidden_layer:
        layers += [nn.Linear(width, hidden_layer), nn.ReLU()]
    layers += [nn.Dropout(0.2), nn.Linear(head_in, num_classes)]
    net = nn.Sequential(*layers)
    probes.set_parameters(net, params)
    probes.set_buffers(net, buffers)
    with torch.no_grad():
        return net.eval()(torch.as_tensor(x)).numpy()


def _freeze_case(func, spec, rng, number, total, kind, hidden):
    """Run the student's function on one model; raise CheckFailed on a structural problem,
    else return the Case comparing the outputs and the frozen values."""
    __tracebackhide__ = True
    c_in, width, hidden_layer, old_classes, num_classes, note = spec
    k = kernel(func)
    model, frozen_shapes, head_in = _spec_model(k, c_in, width, hidden_layer, old_classes)
    label = (f"a model with features (conv {c_in} → {width}, BN, ReLU, global average pooling) and classifier "
             + ("(Linear, ReLU, Dropout, Linear)" if hidden_layer else "(Dropout, Linear)")
             + f" with {old_classes} classes; num_classes={num_classes}")
    header = f"freeze_and_replace_head failed {kind} case {number} of {total}" + (f" ({note})" if note else "")

    def fail(*lines):
        return CheckFailed(f"{header}: {label}\n  " + "\n  ".join(lines))

    before = k.parameters(model)
    k.set_parameters(model, [rng.uniform(-0.5, 0.5, p.shape).astype(np.float32) for p in before])
    before = k.parameters(model)
    buffers = k.buffers(model)
    try:
        result, type_name = k.call(func, model, num_classes)
    except Exception as exc:  # the student's code: feedback
        raise fail(str(_failure("freeze_and_replace_head", exc))) from None
    try:
        info = k.summary(result)
    except Exception:
        raise fail(NOT_RETURNED.format(got=type_name if result is not None else "None")) from None
    params = info["parameters"]
    want = frozen_shapes + [("new head weight", (num_classes, head_in)), ("new head bias", (num_classes,))]
    shapes = [tuple(p[1]) for p in params]
    if shapes != [s for _, s in want]:
        if shapes == [s for _, s in frozen_shapes] + [(old_classes, head_in), (old_classes,)]:
            hint = HEAD_NOT_REPLACED.format(old=old_classes)
        elif shapes[:len(frozen_shapes) + 2] == [s for _, s in frozen_shapes] + [(old_classes, head_in), (old_classes,)]:
            hint = HEAD_APPENDED.format(old=old_classes)
        else:
            hint = HEAD_SHAPES
        raise fail("the parameters of the returned model are not the pretrained ones plus a new head:",
                   "Expected:", shapes_table(want), "Yours:", shapes_table(params), f"Hint: {hint}")
    grads = [bool(p[2]) for p in params]
    if all(grads[:-2]):
        raise fail(NOT_FROZEN_ALL)
    for (name, _, g), (label_, _) in zip(params[:-2], frozen_shapes):
        if g:
            text = OLD_HEAD_TRAINS if label_.startswith("classifier") else PARTLY_FROZEN
            raise fail(text.format(name=name))
    if not all(grads[-2:]):
        raise fail(NEW_HEAD_FROZEN)
    after = k.parameters(result)
    for (name, *_), a, b in zip(params[:-2], after[:-2], before[:len(frozen_shapes)]):
        if not np.array_equal(a, b):
            raise fail(VALUES_CHANGED.format(name=name))
    x = rng.standard_normal((3, c_in, 5, 5)).astype(np.float32)
    expected = _reference_forward(c_in, width, hidden_layer, head_in, num_classes, before[:len(frozen_shapes)]
                                  + after[-2:], buffers, x)

    def call(f, _values):
        return k.forward(result, x, mode="eval")

    def inspect(got):
        out = got.get("scores in evaluation mode")
        if isinstance(out, np.ndarray) and out.ndim == 2 and out.shape[1] != num_classes:
            return HEAD_UNUSED.format(got=out.shape[1])
        return None

    return Case(args=[("x", x)], dtype=np.float32, describe=f"{label}, the returned model's scores for x.shape={x.shape}",
                note=note, outputs=[Out("scores in evaluation mode", expected,
                                        shape_hint=f"the scores have shape (m, num_classes) = (3, {num_classes}).")],
                call=call, inspect=inspect, tol=(2e-4, 2e-4),
                hint="the new head must be the model's last layer: features → the frozen classifier layers → the new "
                     "nn.Linear.")


@forbids(*TORCH_FORBIDDEN)
def freeze_and_replace_head(func, hidden=False, seed=0):
    """Check ``freeze_and_replace_head(model, num_classes) -> model``: only the new head
    (``model.classifier[-1]``, (num_classes, in_features) and (num_classes,)) requires
    gradients, the pretrained values are unchanged, and the scores come from the new head."""
    __tracebackhide__ = True
    if not callable(func):
        raise CheckFailed(f"freeze_and_replace_head: expected your function, got {type(func).__name__}. Run the cell "
                          "that defines it first.")
    own_work("freeze_and_replace_head", func)
    rng = np.random.default_rng(seed + 708)
    if not hidden:
        specs = [(1, 4, 0, 8, 2, "a classifier (Dropout, Linear), 8 → 2 classes, as in MobileNet v2"),
                 (3, 5, 6, 10, 3, "a classifier with a hidden layer: only its last Linear is replaced")]
    else:
        specs = [(int(rng.integers(1, 4)), int(rng.integers(2, 7)), int(rng.choice([0, 3, 5])),
                  int(rng.integers(3, 11)), int(rng.integers(2, 6)), "") for _ in range(3)]
        specs.append((2, 3, 4, 5, 5, "as many new classes as old ones"))
    kind = "hidden" if hidden else "visible"
    cases = [_freeze_case(func, spec, rng, i, len(specs), kind, hidden) for i, spec in enumerate(specs, 1)]
    run_check("freeze_and_replace_head", func, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)
