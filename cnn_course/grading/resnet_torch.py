"""Checks for the PyTorch exercises of the topic-5 notebook: residual blocks and a small ResNet.

* ``IdentityBlock(channels)``: conv 3×3 (pad 1, no bias) → BN → ReLU → conv 3×3 → BN, plus x,
  then ReLU: :func:`identity_block`;
* ``ConvolutionalBlock(in_channels, out_channels, stride=2)``: the same main path with the
  stride in the first convolution, and a projection shortcut (conv 1×1 with the stride, no
  bias, then BN): :func:`convolutional_block`;
* ``SmallResNet(stages, in_channels=1, num_classes=10)``: a stem (conv 3×3 → BN → ReLU), the
  stages built from the student's two blocks, global average pooling and a linear layer:
  :func:`small_resnet`.

Each is judged by behaviour through the probes (:mod:`.probes`): the parameters (shapes, in
the order ``__init__`` creates them) and the buffers (running statistics); then, with fixed
weights and running statistics, the output in evaluation mode, the output in training mode
and the running statistics after each, against a reference built here from torch's own
layers. The known mistakes (the shortcut added after the final ReLU, a ReLU on the
shortcut, batch norm in evaluation mode during training, the stride in the wrong
convolution, ...) are the same reference with one thing changed, so that a message can name
them. torch is imported only when a check runs.
"""

from __future__ import annotations

import numpy as np

from .core import TORCH_FORBIDDEN, Case, CheckFailed, Out, Variant, forbids, run_check
from . import probes
from .probes import kernel
from .pytorch import build, check_parameters, eval_then_train, own_work, shapes_table

__all__ = ["identity_block", "convolutional_block", "small_resnet", "block_shapes", "resnet_shapes"]

_OUTS = ("out in evaluation mode", "running statistics after the evaluation-mode forward",
         "out in training mode", "running statistics after the training-mode forward")

ADD_AFTER_RELU = ("your block returns relu(main path) + shortcut: the shortcut is added after the final ReLU. Add it "
                  "before: out = relu(bn2(conv2(...)) + shortcut), a[l+2] = g(z[l+2] + a[l]).")
RELU_SHORTCUT = ("your block applies a ReLU to the shortcut before the sum: the shortcut carries its input (x, or "
                 "bn(conv1x1(x))) to the sum unchanged. Inside a ResNet x comes out of a ReLU and is already >= 0, but "
                 "the block must not rely on it (the check feeds negative values too).")
NO_FINAL_RELU = "your block returns main path + shortcut without the final ReLU: out = relu(main + shortcut)."
NO_SHORTCUT = "your block returns relu(main path): the shortcut is missing. Add it before the final ReLU."
BN_EVAL_IN_TRAIN = ("in training mode your batch norms used their running statistics and did not update them: batch "
                    "norm in evaluation mode during training. Call the nn.BatchNorm2d modules themselves "
                    "(self.bn1(z)), which use the batch's statistics after model.train() and the running ones after "
                    "model.eval(), without changing their mode or calling F.batch_norm(..., training=False).")
BN_BATCH_IN_EVAL = ("in evaluation mode your batch norms still used the batch's statistics: call the nn.BatchNorm2d "
                    "modules themselves, which switch to the running statistics after model.eval().")
STRIDE_SECOND = ("your block puts the stride in the second 3×3 convolution: it belongs to the first one (and to the "
                 "1×1 projection), so that the block downsamples right away.")
CONV_BIAS = ("your convolutions have a bias (nn.Conv2d's default). Before batch norm it does nothing (the batch mean "
             "removes it, and β takes its role): create them with bias=False.")
PADDING = ("the main path changed the height and width, so it cannot be added to the shortcut: a 3×3 'same' "
           "convolution needs padding=1 (the stride belongs to the first convolution and to the 1×1 projection, "
           "which needs no padding).")
PROJ_STRIDE = ("the main path and the shortcut give different sizes: the 1×1 projection must use the block's stride, "
               "like the first 3×3 convolution (nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)), "
               "and each 3×3 convolution needs padding=1 (the 1×1 projection none).")
PROJ_MISSING = ("the projection shortcut is missing: x has in_channels channels and the full size, the main path "
                "out_channels channels and 1/stride of the size, so x cannot be added as it is. The shortcut is a 1×1 "
                "convolution with the block's stride (no bias) followed by its own nn.BatchNorm2d(out_channels), "
                "created after the main path's layers.")
PROJ_NO_BN = ("your projection shortcut is the 1×1 convolution alone: follow it with its own "
              "nn.BatchNorm2d(out_channels), as every convolution of the block.")
PROJ_KERNEL = "the projection is a 1×1 convolution: nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride)."


def _torch():
    import torch

    return torch


# --------------------------------------------------------------------------- the reference


def _ref_block(c_in, c_out, stride, projection, *, add="before", relu_shortcut=False, bn="right",
               stride_on="first", proj_bn=True, conv_bias=False):
    """A residual block built from torch's layers, with one known mistake switched on."""
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional

    class RefBlock(nn.Module):
        def __init__(self):
            super().__init__()
            s1, s2 = (stride, 1) if stride_on == "first" else (1, stride)
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=s1, padding=1, bias=conv_bias)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=s2, padding=1, bias=conv_bias)
            self.bn2 = nn.BatchNorm2d(c_out)
            if projection:
                self.conv_s = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=conv_bias)
                self.bn_s = nn.BatchNorm2d(c_out) if proj_bn else nn.Identity()

        def norm(self, layer, z):
            if bn == "right" or isinstance(layer, nn.Identity):
                return layer(z)
            training = bn == "batch_always"
            return F.batch_norm(z, layer.running_mean, layer.running_var, layer.weight, layer.bias,
                                training=training, momentum=0.1, eps=1e-5)

        def forward(self, x):
            z2 = self.norm(self.bn2, self.conv2(F.relu(self.norm(self.bn1, self.conv1(x)))))
            sc = self.norm(self.bn_s, self.conv_s(x)) if projection else x
            if relu_shortcut:
                sc = F.relu(sc)
            if add == "after":
                return F.relu(z2) + sc
            if add == "no_relu":
                return z2 + sc
            if add == "none":
                return F.relu(z2)
            return F.relu(z2 + sc)

    return RefBlock()


def _ref_resnet(stages, in_channels, num_classes, *, strides=True, pool="avg", stem_relu=True, last=None, **block):
    torch = _torch()
    nn = torch.nn
    c0 = stages[0][0]
    layers = [nn.Conv2d(in_channels, c0, 3, padding=1, bias=False), nn.BatchNorm2d(c0)]
    if stem_relu:
        layers.append(nn.ReLU())
    c_prev = c0
    for c, n, s in stages:
        for k in range(n):
            stride = s if (k == 0 and strides) else 1
            projection = k == 0 and (s != 1 or c != c_prev)
            layers.append(_ref_block(c_prev if k == 0 else c, c, stride, projection, **block))
        c_prev = c
    layers += [nn.AdaptiveAvgPool2d(1) if pool == "avg" else nn.AdaptiveMaxPool2d(1), nn.Flatten(),
               nn.Linear(c_prev, num_classes)]
    if last == "softmax":
        layers.append(nn.Softmax(dim=1))
    elif last == "relu":
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _experiment(net, x):
    """(out in eval mode, buffers after, out in train mode, buffers after): what the check compares."""
    torch = _torch()
    xt = torch.as_tensor(x)
    with torch.no_grad():
        out_eval = net.eval()(xt).numpy()
        after_eval = [b.numpy().copy() for b in net.buffers()]
        out_train = net.train()(xt).numpy()
        after_train = [b.numpy().copy() for b in net.buffers()]
    return out_eval, after_eval, out_train, after_train


# --------------------------------------------------------------------------- shapes


def block_shapes(c_in, c_out, projection):
    """Parameters of a block, (label, shape) in creation order."""
    shapes = [("conv1.weight", (c_out, c_in, 3, 3)), ("bn1.weight", (c_out,)), ("bn1.bias", (c_out,)),
              ("conv2.weight", (c_out, c_out, 3, 3)), ("bn2.weight", (c_out,)), ("bn2.bias", (c_out,))]
    if projection:
        shapes += [("shortcut conv.weight", (c_out, c_in, 1, 1)), ("shortcut bn.weight", (c_out,)),
                   ("shortcut bn.bias", (c_out,))]
    return shapes


def _block_buffers(c_out, projection):
    return [s for _ in range(3 if projection else 2) for s in ((c_out,), (c_out,), ())]


def resnet_shapes(stages, in_channels, num_classes):
    """Parameters of SmallResNet(stages, in_channels, num_classes), (label, shape) in creation order."""
    c0 = stages[0][0]
    shapes = [("stem conv.weight", (c0, in_channels, 3, 3)), ("stem bn.weight", (c0,)), ("stem bn.bias", (c0,))]
    buffers = [(c0,), (c0,), ()]
    c_prev = c0
    for i, (c, n, s) in enumerate(stages):
        for k in range(n):
            projection = k == 0 and (s != 1 or c != c_prev)
            shapes += [(f"stage {i + 1} block {k + 1}: {label}", shape)
                       for label, shape in block_shapes(c_prev if k == 0 else c, c, projection)]
            buffers += _block_buffers(c, projection)
        c_prev = c
    shapes += [("fc.weight", (num_classes, c_prev)), ("fc.bias", (num_classes,))]
    return shapes, buffers


def _fixed_state(rng, shapes, buffer_shapes):
    """Weights (γ near 1, β and filters He-like) and running statistics for a check, float32."""
    params = []
    for label, shape in shapes:
        if label.endswith("bn.weight") or label.endswith("bn1.weight") or label.endswith("bn2.weight"):
            params.append(rng.uniform(0.5, 1.5, shape))
        elif label.endswith(".bias"):
            params.append(rng.uniform(-0.5, 0.5, shape))
        else:
            fan_in = int(np.prod(shape[1:]))
            params.append(rng.uniform(-1, 1, shape) * 1.7 / np.sqrt(fan_in))
    buffers = []
    for k, shape in enumerate(buffer_shapes):
        if shape == ():
            buffers.append(np.array(int(rng.integers(1, 50))))
        elif k % 3 == 0:
            buffers.append(rng.normal(0, 0.3, shape).astype(np.float32))
        else:
            buffers.append(rng.uniform(0.5, 2.0, shape).astype(np.float32))
    return [p.astype(np.float32) for p in params], buffers


def _check_structure(label, cls, args, shapes, buffer_shapes, hint_for) -> None:
    __tracebackhide__ = True
    try:
        info = kernel(cls).summary(build(label.split("(")[0], cls, args))
    except TypeError as exc:
        raise CheckFailed(f"{label} is not a PyTorch module ({exc}).\n  Hint: derive the class from nn.Module and "
                          "call super().__init__() first in __init__.") from None
    check_parameters(label, info, shapes, hint=hint_for(info["parameters"]))
    got = [tuple(s) for _, s in info["buffers"]]
    if got != [tuple(s) for s in buffer_shapes]:
        n_bn = sum(1 for s in buffer_shapes if s == ())
        raise CheckFailed("\n  ".join([
            f"{label} has {len(got)} buffers, expected the running statistics of {n_bn} batch-norm layers "
            "(running_mean, running_var, num_batches_tracked each):",
            shapes_table([(f"buffer {i + 1}", s) for i, s in enumerate(buffer_shapes)]), "Yours:",
            shapes_table(info["buffers"]),
            "Hint: use nn.BatchNorm2d(C) with its defaults after each convolution, created in the order of the "
            "layers."]))


def _block_hint(c_in, c_out, projection):
    def hint(got):
        shapes = [tuple(s) for _, s, *_ in got]
        n_conv = sum(1 for s in shapes if len(s) == 4)
        has_bias = any(len(s) == 4 and len(shapes) > k + 3 and all(len(t) == 1 for t in shapes[k + 1:k + 4])
                       for k, s in enumerate(shapes))
        if projection:
            if n_conv == 2:
                return PROJ_MISSING
            if any(s == (c_out, c_in, 3, 3) for s in shapes[6:]):
                return PROJ_KERNEL
            if len(shapes) == 7 and shapes[6] == (c_out, c_in, 1, 1):
                return PROJ_NO_BN
        if has_bias:
            return CONV_BIAS
        return ("the layers, in this order: conv1 3×3 (padding 1, bias=False) → bn1 → conv2 3×3 → bn2"
                + (" → shortcut conv 1×1 (stride, bias=False) → shortcut bn." if projection else "."))
    return hint


_SIZE_ERRORS = ("must match the size", "size of tensor", "Output size is too small", "Kernel size can't be greater")


def _exception_hint(exc, line):
    return PADDING if any(e in str(exc) for e in _SIZE_ERRORS) else None


def _block_case(name, cls, args, c_in, c_out, stride, projection, rng, m, side, note=""):
    params, buffers = _fixed_state(rng, block_shapes(c_in, c_out, projection), _block_buffers(c_out, projection))
    x = rng.standard_normal((m, c_in, side, side)).astype(np.float32)

    def reference(**kw):
        net = _ref_block(c_in, c_out, stride, projection, **kw)
        probes.set_parameters(net, params)
        probes.set_buffers(net, buffers)
        return _experiment(net, x)

    expected = reference()

    def variants():
        found = [(ADD_AFTER_RELU, dict(add="after")), (RELU_SHORTCUT, dict(relu_shortcut=True)),
                 (NO_FINAL_RELU, dict(add="no_relu")), (NO_SHORTCUT, dict(add="none"))]
        if stride != 1:
            found.append((STRIDE_SECOND, dict(stride_on="second")))
        out = []
        for hint, kw in found:
            v = reference(**kw)
            out.append(Variant(hint, {_OUTS[0]: v[0], _OUTS[2]: v[2]}))
        v = reference(bn="eval_always")
        out.append(Variant(BN_EVAL_IN_TRAIN, {_OUTS[2]: v[2]}))
        out.append(Variant(BN_EVAL_IN_TRAIN, {_OUTS[3]: v[3]}))
        v = reference(bn="batch_always")
        out.append(Variant(BN_BATCH_IN_EVAL, {_OUTS[0]: v[0]}))
        return out

    h = (side - 1) // stride + 1
    shown = ", ".join(map(str, args))
    return Case(
        args=[("x", x)], dtype=np.float32, note=note,
        describe=f"{name}({shown}) with fixed weights and running statistics, x.shape={x.shape}",
        outputs=[Out(_OUTS[0], expected[0], shape_hint=f"the block's output has shape (m, {c_out}, {h}, {h})."),
                 Out(_OUTS[1], expected[1], kind="list"), Out(_OUTS[2], expected[2]),
                 Out(_OUTS[3], expected[3], kind="list")],
        call=lambda c, _values: eval_then_train(name, c, args, params, buffers, x),
        variants=variants, exception_hint=_exception_hint if not projection else _conv_exception_hint,
        hint=("forward: out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut), shortcut = "
              + ("bn_s(conv_s(x)) (1×1, stride)" if projection else "x") + "."),
    )


def _conv_exception_hint(exc, line):
    if any(e in str(exc) for e in _SIZE_ERRORS):
        return PROJ_STRIDE
    return None


@forbids(*TORCH_FORBIDDEN)
def identity_block(IdentityBlock, hidden=False, seed=0):
    """Check ``IdentityBlock(channels)``: 6 parameter tensors (two bias-free 3×3 convolutions
    and two batch norms), 6 buffers; outputs in evaluation and training mode and the running
    statistics, with fixed weights, against torch's layers."""
    __tracebackhide__ = True
    own_work("IdentityBlock", IdentityBlock)
    rng = np.random.default_rng(seed)
    # (sides of 5 are left out: without padding 5 -> 3 -> 1, and a 1×1 result would broadcast silently)
    sizes = [(3, 2, 6, "3 channels, two 6×6 inputs with negative values"), (1, 3, 4, "a single channel")] \
        if not hidden else [(int(rng.integers(1, 6)), int(rng.integers(2, 4)), int(rng.choice([3, 4, 6, 7])), "")
                            for _ in range(4)]
    for c in dict.fromkeys(s[0] for s in sizes):
        _check_structure(f"IdentityBlock({c})", IdentityBlock, (c,), block_shapes(c, c, False),
                         _block_buffers(c, False), _block_hint(c, c, False))
    cases = [_block_case("IdentityBlock", IdentityBlock, (c,), c, c, 1, False, rng, m, side, note)
             for c, m, side, note in sizes]
    run_check("IdentityBlock", IdentityBlock, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)


@forbids(*TORCH_FORBIDDEN)
def convolutional_block(ConvolutionalBlock, hidden=False, seed=0):
    """Check ``ConvolutionalBlock(in_channels, out_channels, stride=2)``: 9 parameter tensors
    (the main path, then the 1×1 projection and its batch norm), 9 buffers; outputs and running
    statistics in both modes, with fixed weights, against torch's layers."""
    __tracebackhide__ = True
    own_work("ConvolutionalBlock", ConvolutionalBlock)
    rng = np.random.default_rng(seed)
    if not hidden:
        sizes = [(2, 4, 2, 2, 6, "2 → 4 channels, stride 2 (the default)"),
                 (3, 5, 1, 2, 4, "3 → 5 channels, stride 1: only the channels change")]
    else:
        sizes = []
        for _ in range(4):
            stride = int(rng.integers(1, 3))
            c_in = int(rng.integers(1, 5))
            c_out = c_in + int(rng.integers(0 if stride == 2 else 1, 4))
            sizes.append((c_in, c_out, stride, int(rng.integers(2, 4)), int(rng.integers(4, 8)), ""))
    for c_in, c_out, stride, *_ in dict.fromkeys(sizes):
        args = (c_in, c_out) if stride == 2 else (c_in, c_out, stride)
        _check_structure(f"ConvolutionalBlock({', '.join(map(str, args))})", ConvolutionalBlock, args,
                         block_shapes(c_in, c_out, True), _block_buffers(c_out, True), _block_hint(c_in, c_out, True))
    cases = []
    for c_in, c_out, stride, m, side, note in sizes:
        args = (c_in, c_out) if stride == 2 else (c_in, c_out, stride)
        cases.append(_block_case("ConvolutionalBlock", ConvolutionalBlock, args, c_in, c_out, stride, True, rng, m,
                                 side, note))
    run_check("ConvolutionalBlock", ConvolutionalBlock, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)


# --------------------------------------------------------------------------- SmallResNet

STAGES_HINT = ("the first block of a stage is a ConvolutionalBlock(previous channels, channels, stride) when its "
               "stride is not 1 or the number of channels changes, an IdentityBlock(channels) otherwise; the other "
               "blocks of the stage are IdentityBlocks.")
RESNET_LAYERS = ("stem: conv 3×3 (in_channels → the first stage's channels, padding 1, bias=False) → BN → ReLU; the "
                 "stages; global average pooling over H and W; nn.Linear(last channels, num_classes).")


def _resnet_hint(stages, in_channels, num_classes):
    c_last = stages[-1][0]

    def hint(got):
        shapes = [tuple(s) for _, s, *_ in got]
        if shapes and len(shapes[-2]) == 2 and shapes[-2][0] == num_classes and shapes[-2][1] != c_last:
            return (f"the linear layer gets {shapes[-2][1]} inputs: after global average pooling each image is "
                    f"one number per channel of the last stage, {c_last} inputs (x.mean(dim=(2, 3)) or "
                    "nn.AdaptiveAvgPool2d(1) then flatten), whatever the image size.")
        want, _ = resnet_shapes(stages, in_channels, num_classes)
        if len(shapes) > len(want):
            return STAGES_HINT + " Yours has more parameter tensors than expected: a projection where the shape " \
                                 "does not change, or conv biases."
        if len(shapes) < len(want):
            return STAGES_HINT + " Yours has fewer parameter tensors than expected: a missing projection, block, " \
                                 "or the stem's batch norm."
        return RESNET_LAYERS + " " + STAGES_HINT
    return hint


def _resnet_case(stages, in_channels, num_classes, rng, m, side, note=""):
    shapes, buffer_shapes = resnet_shapes(stages, in_channels, num_classes)
    params, buffers = _fixed_state(rng, shapes, buffer_shapes)
    x = rng.standard_normal((m, in_channels, side, side)).astype(np.float32)
    args = (stages, in_channels, num_classes)

    def reference(**kw):
        net = _ref_resnet(stages, in_channels, num_classes, **kw)
        probes.set_parameters(net, params)
        probes.set_buffers(net, buffers)
        return _experiment(net, x)

    expected = reference()

    def variants():
        found = [("the strides of the stages were not applied: the first block of a stage gets the stage's stride "
                  "(its first 3×3 convolution and its projection).", dict(strides=False)),
                 ("your network pools with the maximum: ResNet ends with global AVERAGE pooling (the mean over H "
                  "and W of each channel).", dict(pool="max")),
                 ("the stem has no ReLU: conv → BN → ReLU, as in every block.", dict(stem_relu=False)),
                 ("your network returns probabilities: return the raw scores of the linear layer (no softmax); "
                  "F.cross_entropy applies the softmax itself.", dict(last="softmax")),
                 ("a ReLU after the linear layer clips the negative scores: return its output as it is.",
                  dict(last="relu")),
                 ("your blocks add the shortcut after their final ReLU (see IdentityBlock's check).",
                  dict(add="after"))]
        out = []
        for hint, kw in found:
            v = reference(**kw)
            out.append(Variant(hint, {_OUTS[0]: v[0], _OUTS[2]: v[2]}))
        return out

    return Case(
        args=[("x", x)], dtype=np.float32, note=note, tol=(2e-4, 2e-4),
        describe=f"SmallResNet({stages}, in_channels={in_channels}, num_classes={num_classes}) with fixed weights "
                 f"and running statistics, x.shape={x.shape}",
        outputs=[Out(_OUTS[0], expected[0], shape_hint=f"the scores have shape (m, num_classes) = ({m}, {num_classes})."),
                 Out(_OUTS[1], expected[1], kind="list"), Out(_OUTS[2], expected[2]),
                 Out(_OUTS[3], expected[3], kind="list")],
        call=lambda c, _values: eval_then_train("SmallResNet", c, args, params, buffers, x),
        variants=variants, hint=RESNET_LAYERS + " " + STAGES_HINT,
        exception_hint=lambda exc, line: (STAGES_HINT if "size of tensor" in str(exc) or "channels" in str(exc)
                                          else None),
    )


@forbids(*TORCH_FORBIDDEN)
def small_resnet(SmallResNet, hidden=False, seed=0):
    """Check ``SmallResNet(stages, in_channels=1, num_classes=10)``, ``stages`` a tuple of
    (channels, blocks, stride): parameters and buffers in order, then scores and running
    statistics in both modes with fixed weights, against torch's layers."""
    __tracebackhide__ = True
    own_work("SmallResNet", SmallResNet)
    rng = np.random.default_rng(seed)
    if not hidden:
        specs = [(((4, 1, 1), (8, 1, 2)), 1, 3, 2, 8, "two stages of one block each: 4 channels, then 8 at stride 2"),
                 (((4, 2, 1), (6, 1, 1)), 2, 5, 2, 6, "two blocks in the first stage; 4 → 6 channels at stride 1")]
    else:
        specs = []
        for _ in range(3):
            n_stages = int(rng.integers(2, 4))
            stages, c = [], int(rng.integers(2, 5))
            for i in range(n_stages):
                stride = 1 if i == 0 and rng.random() < 0.7 else int(rng.integers(1, 3))
                stages.append((c, int(rng.integers(1, 3)), stride))
                c += int(rng.integers(0, 3))
            specs.append((tuple(stages), int(rng.integers(1, 4)), int(rng.integers(2, 6)), 2, 8, ""))
    for stages, c_in, n_cls, *_ in dict.fromkeys(s[:3] for s in specs):
        shapes, buffer_shapes = resnet_shapes(stages, c_in, n_cls)
        _check_structure(f"SmallResNet({stages}, {c_in}, {n_cls})", SmallResNet, (stages, c_in, n_cls), shapes,
                         buffer_shapes, _resnet_hint(stages, c_in, n_cls))
    cases = [_resnet_case(stages, c_in, n_cls, rng, m, side, note) for stages, c_in, n_cls, m, side, note in specs]
    run_check("SmallResNet", SmallResNet, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)
