"""Checks for the PyTorch exercises of the topic-4 notebook: ``LeNet5``, ``vgg_block``, ``VGGNet``.

Each is graded by behaviour through the probes (:mod:`.probes`): the parameters (shapes, in
the order ``__init__`` creates them), then the outputs in evaluation mode for fixed weights,
against a reference computed here with ``torch.nn.functional``. Known mistakes (tanh and
ReLU or average and max pooling mixed up, the pooling of a VGG block in the wrong place, a
3×3 convolution without "same" padding, a wrong flatten size...) are simulated here too, so
that the message can name them. ``lenet_reference`` also serves the NumPy LeNet-5 check in
:mod:`.classic`. torch is imported only when a check runs.
"""

from __future__ import annotations

import numpy as np

from .core import TORCH_FORBIDDEN, Case, CheckFailed, Out, Variant, forbids, run_check
from .probes import kernel
from .pytorch import build, check_parameters, forward_with, own_work, random_weights

__all__ = ["lenet5", "vgg_block", "vgg_net", "LENET_SHAPES", "lenet_reference"]


def _torch():
    import torch
    import torch.nn.functional as F

    return torch, F


# --------------------------------------------------------------------------- LeNet-5


def LENET_SHAPES(n_classes: int = 10) -> list[tuple[str, tuple[int, ...]]]:
    """The parameters of LeNet-5 for 32×32×1 inputs, (label, shape) in creation order."""
    return [("conv1.weight", (6, 1, 5, 5)), ("conv1.bias", (6,)), ("conv2.weight", (16, 6, 5, 5)),
            ("conv2.bias", (16,)), ("fc1.weight", (120, 400)), ("fc1.bias", (120,)),
            ("fc2.weight", (84, 120)), ("fc2.bias", (84,)), ("fc3.weight", (n_classes, 84)),
            ("fc3.bias", (n_classes,))]


def lenet_reference(weights, x, *, modern=False, act=None, pool=None, order="act_pool", fc_act=True,
                    conv_act=True, flatten="nchw", last=None):
    """LeNet-5's logits for ``weights`` (10 arrays, LENET_SHAPES order) on ``x`` (m, 1, 32, 32),
    computed in the weights' dtype; the keywords switch on known mistakes (``act``/``pool``
    "swap" use the other variant's activation / pooling)."""
    torch, F = _torch()
    w = [torch.as_tensor(np.asarray(a)) for a in weights]
    use_relu = modern != (act == "swap")
    use_max = modern != (pool == "swap")
    g = torch.relu if use_relu else torch.tanh
    p = (lambda a: F.max_pool2d(a, 2)) if use_max else (lambda a: F.avg_pool2d(a, 2))
    a = torch.as_tensor(np.asarray(x)).to(w[0].dtype)
    with torch.no_grad():
        for k in (0, 2):
            z = F.conv2d(a, w[k], w[k + 1])
            if not conv_act:
                a = p(z)
            elif order == "pool_act":
                a = g(p(z))
            else:
                a = p(g(z))
        if flatten == "nhwc":
            a = a.permute(0, 2, 3, 1)
        a = a.reshape(a.shape[0], -1)
        for k in (4, 6):
            a = a @ w[k].T + w[k + 1]
            a = g(a) if fc_act else a
        z = a @ w[8].T + w[9]
        if last == "softmax":
            z = torch.softmax(z, dim=1)
        elif last == "act":
            z = g(z)
    return z.numpy()


_LENET_INPUTS = {
    16 * 6 * 6: "576 = 16·6·6 is what 'same' padding in conv1 gives (32 → 32 → 16 → 12 → 6); LeNet-5's "
                "convolutions are valid (no padding): 32 → 28 → 14 → 10 → 5, so fc1 gets 16·5·5 = 400 numbers.",
    16 * 4 * 4: "256 = 16·4·4 is the size for a 28×28 input; LeNet-5 takes 32×32 images (Fashion-MNIST's 28×28 "
                "are padded to 32×32 before): 32 → 28 → 14 → 10 → 5, so 16·5·5 = 400.",
    6 * 5 * 5: "150 = 6·5·5 counts conv1's 6 channels; the flattened volume comes out of conv2, which has 16: "
               "16·5·5 = 400.",
    5 * 5: "25 = 5·5 forgets the channels: the flattened volume is 16 channels of 5×5, 400 numbers.",
    16 * 10 * 10: "1600 = 16·10·10 is the size before the second pooling: 10×10 → 5×5, so 16·5·5 = 400.",
    16 * 14 * 14: "3136 = 16·14·14 is not a size of this network: 32 → 28 (conv1) → 14 (pool) → 10 (conv2) → 5 "
                  "(pool), so fc1 gets 16·5·5 = 400 numbers.",
}
LENET_LAYERS = ("conv1: 6 filters 5×5 on 1 channel (no padding); conv2: 16 filters 5×5 on 6 channels; fc1: 400 → "
                "120; fc2: 120 → 84; fc3: 84 → n_classes; created in this order.")


def _lenet_hint(got) -> str:
    for name, shape, *_ in got:
        shape = tuple(shape)
        if len(shape) == 2 and shape[0] == 120 and shape[1] != 400 and shape[1] in _LENET_INPUTS:
            return _LENET_INPUTS[shape[1]]
        if len(shape) == 4 and shape[2:] != (5, 5):
            return f"LeNet-5's convolutions use 5×5 filters; {name} has {shape[2]}×{shape[3]}."
    return LENET_LAYERS


def _summary(k, model, what) -> dict:
    __tracebackhide__ = True
    try:
        return k.summary(model)
    except TypeError as exc:
        raise CheckFailed(f"{what} is not a PyTorch module ({exc}).\n  Hint: derive the class from nn.Module "
                          "and call super().__init__() first in __init__ (or return an nn.Sequential).") from None


_LENET_MISTAKES = [
    (dict(act="swap"), "{other_act} (modern={modern} means {act}, {pool} pooling)."),
    (dict(pool="swap"), "{other_pool} (modern={modern} means {act}, {pool} pooling)."),
    (dict(act="swap", pool="swap"), "your numbers are those of the other variant: modern=False is tanh + average "
     "pooling (1998), modern=True is ReLU + max pooling (today)."),
    (dict(order="pool_act"), "the activation comes right after each convolution, before its pooling "
     "(conv → {act} → pool). Pooling first is how the 1998 paper ordered it, not this notebook's LeNet-5."),
    (dict(fc_act=False), "the hidden fully connected layers (120 and 84 units) need the activation too: "
     "fc1 → {act} → fc2 → {act} → fc3."),
    (dict(conv_act=False), "the convolutions need the activation: conv → {act} → pool."),
    (dict(flatten="nhwc"), "you flattened the (m, 16, 5, 5) volume in the order (height, width, channels): "
     "flatten it as it is (torch.flatten(x, 1) or nn.Flatten())."),
    (dict(last="softmax"), "forward returns probabilities (a softmax of the scores): return the raw scores "
     "(logits); the loss applies the softmax itself."),
    (dict(last="act"), "no activation after fc3: return its raw scores (logits)."),
]


def _mistake_text(hint, modern):
    act, pool = ("ReLU", "max") if modern else ("tanh", "average")
    other_act = ("your network uses tanh where it should use ReLU" if modern else
                 "your network uses ReLU where it should use tanh")
    other_pool = ("your network uses average pooling where it should use max pooling" if modern else
                  "your network uses max pooling where it should use average pooling")
    return hint.format(act=act, pool=pool, modern=modern, other_act=other_act, other_pool=other_pool)


def _lenet_case(rng, m, modern, n_classes, note=""):
    weights = random_weights([s for _, s in LENET_SHAPES(n_classes)], rng, scale=1.5)
    x = rng.standard_normal((m, 1, 32, 32)).astype(np.float32)
    expected = lenet_reference(weights, x, modern=modern)
    kwargs = {"modern": modern} if n_classes == 10 else {"n_classes": n_classes, "modern": modern}

    def variants():
        return [Variant(_mistake_text(hint, modern), {"scores": lenet_reference(weights, x, modern=modern, **kw)})
                for kw, hint in _LENET_MISTAKES]

    shown = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    return Case(args=[("x", x)], dtype=np.float32, note=note, variants=variants,
                describe=f"LeNet5({shown}) with fixed weights, x.shape={x.shape}",
                outputs=[Out("scores", expected, shape_hint="forward returns one row of n_classes scores per image: "
                             "(m, n_classes).")],
                hint="forward: conv1 → act → pool → conv2 → act → pool → flatten → fc1 → act → fc2 → act → fc3, "
                     "with tanh and average pooling (modern=False) or ReLU and max pooling (modern=True).",
                call=lambda cls, values: forward_with("LeNet5", cls, (), weights, values[0], kwargs=kwargs),
                exception_hint=lambda exc, line: _lenet_hint_from_error(str(exc)))


def _lenet_hint_from_error(text):
    if "shapes cannot be multiplied" in text:
        return ("the flattened volume does not have fc1's number of inputs: 32 → 28 → 14 → 10 → 5 with 16 "
                "channels gives 400; flatten with torch.flatten(x, 1) (keep the batch axis).")
    if "Expected 3D" in text or "Expected 4D" in text or "input[" in text:
        return "LeNet-5 takes a batch (m, 1, 32, 32): conv1 has 1 input channel."
    return None


@forbids(*TORCH_FORBIDDEN)
def lenet5(LeNet5, hidden=False, seed=0):
    """Check the class ``LeNet5(n_classes=10, modern=False)`` for (m, 1, 32, 32) images: conv1
    (6@5×5) → act → pool 2 → conv2 (16@5×5) → act → pool 2 → flatten → fc1 (120) → act → fc2
    (84) → act → fc3 (n_classes); act/pool = tanh/average, or ReLU/max when ``modern``."""
    __tracebackhide__ = True
    own_work("LeNet5", LeNet5)
    k = kernel(LeNet5)
    for kwargs in ({}, {"modern": True}, {"n_classes": 3}):
        shown = ", ".join(f"{a}={b}" for a, b in kwargs.items())
        summary = _summary(k, build("LeNet5", LeNet5, (), kwargs), f"LeNet5({shown})")
        check_parameters(f"LeNet5({shown})", summary, LENET_SHAPES(kwargs.get("n_classes", 10)),
                         hint=_lenet_hint(summary["parameters"]))
    rng = np.random.default_rng(seed)
    if not hidden:
        cases = [_lenet_case(rng, 2, False, 10, "the classic LeNet-5: tanh, average pooling"),
                 _lenet_case(rng, 2, True, 10, "modern=True: ReLU, max pooling")]
    else:
        cases = [_lenet_case(rng, int(rng.integers(1, 4)), bool(i % 2), int(rng.choice([10, 3])))
                 for i in range(4)]
    run_check("LeNet5", LeNet5, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)


# --------------------------------------------------------------------------- vgg_block


def _block_shapes(num_convs, c_in, c_out):
    shapes = []
    for i in range(num_convs):
        shapes += [(f"conv {i + 1} weight", (c_out, c_in if i == 0 else c_out, 3, 3)), (f"conv {i + 1} bias", (c_out,))]
    return shapes


def _block_ref(weights, x, *, pad=1, pool="max", where="end", relu="all", pool_f=2, pool_s=2):
    """A VGG block's output for ``weights`` on ``x`` (NumPy), with switchable mistakes."""
    torch, F = _torch()
    w = [torch.as_tensor(a) for a in weights]
    n = len(w) // 2
    pool_2d = F.max_pool2d if pool == "max" else F.avg_pool2d

    def pool_fn(a):
        return pool_2d(a, pool_f, pool_s)

    a = torch.as_tensor(x)
    with torch.no_grad():
        if where == "start":
            a = pool_fn(a)
        for i in range(n):
            a = F.conv2d(a, w[2 * i], w[2 * i + 1], padding=pad)
            if relu == "all" or (relu == "not_last" and i < n - 1):
                a = torch.relu(a)
            if where == "each":
                a = pool_fn(a)
        if where == "end":
            a = pool_fn(a)
    return a.numpy()


_BLOCK_MISTAKES = [
    (dict(where="each"), "you pooled after every convolution: a VGG block pools once, at its end, after all "
     "num_convs (conv → ReLU) pairs."),
    (dict(where="start"), "you pooled before the convolutions: a VGG block pools once, at its end."),
    (dict(where="none"), "the block must end with a 2×2 max pooling of stride 2 (nn.MaxPool2d(2))."),
    (dict(pad=0), "your 3×3 convolutions have no padding, so each one shrinks the image by 2 pixels: VGG's "
     "convolutions are 'same', padding=1 for a 3×3 filter."),
    (dict(pad=2), "padding=2 makes a 3×3 convolution grow the image by 2 pixels: 'same' padding for a 3×3 filter "
     "is (f − 1)/2 = 1."),
    (dict(pool="avg"), "VGG uses max pooling (nn.MaxPool2d), not average pooling."),
    (dict(relu="none"), "a ReLU follows every convolution: without it the block's convolutions collapse into one "
     "linear map."),
    (dict(relu="not_last"), "the last convolution of the block needs its ReLU too (conv → ReLU, num_convs times, "
     "then the pooling)."),
    (dict(pool_s=1), "the pooling needs stride 2 (nn.MaxPool2d(2) has stride 2 by default; stride 1 barely shrinks "
     "the image)."),
    (dict(pool_f=3, pool_s=2), "VGG pools 2×2 windows with stride 2: nn.MaxPool2d(2) (3×3 windows are AlexNet's)."),
]


def _block_case(rng, num_convs, c_in, c_out, m, h, w, note=""):
    weights = random_weights([s for _, s in _block_shapes(num_convs, c_in, c_out)], rng, scale=1.5)
    x = rng.standard_normal((m, c_in, h, w)).astype(np.float32)
    expected = _block_ref(weights, x)

    def variants():
        out = []
        for kw, hint in _BLOCK_MISTAKES:
            try:
                out.append(Variant(hint, {"out": _block_ref(weights, x, **kw)}))
            except RuntimeError:  # a mistake that cannot run on this input
                pass
        return out

    def exception_hint(exc, line):
        text = str(exc)
        if "Output size is too small" in text or "Kernel size can't be greater" in text:
            return ("the image became too small for a layer: if your 3×3 convolutions have no padding, each one "
                    "shrinks the image by 2 pixels (VGG's are 'same', padding=1); and the block pools only once, at "
                    "its end.")
        if "expected input" in text and "channels" in text:
            return ("the first convolution takes in_channels, every later one takes out_channels (the output of "
                    "the convolution before it).")
        return None

    return Case(args=[("x", x)], dtype=np.float32, note=note, variants=variants, exception_hint=exception_hint,
                describe=f"vgg_block({num_convs}, {c_in}, {c_out}) with fixed weights, x.shape={x.shape}",
                outputs=[Out("out", expected, shape_hint=f"the block keeps the size through its 'same' convolutions "
                             f"and halves it once (floor) at the end: ({m}, {c_out}, {h // 2}, {w // 2}).")],
                hint="num_convs × (3×3 conv, padding 1 → ReLU), then one 2×2 max pooling of stride 2.",
                call=lambda fn, values: forward_with("vgg_block", fn, (num_convs, c_in, c_out), weights, values[0]))


def _block_structure(fn, num_convs, c_in, c_out):
    __tracebackhide__ = True
    what = f"vgg_block({num_convs}, {c_in}, {c_out})"
    summary = _summary(kernel(fn), build("vgg_block", fn, (num_convs, c_in, c_out)), f"the result of {what}")
    got = summary["parameters"]
    hint = "num_convs × (nn.Conv2d(…, kernel_size=3, padding=1), nn.ReLU()), then nn.MaxPool2d(2), e.g. in an " \
           "nn.Sequential; the first convolution takes in_channels, the others out_channels."
    convs = [tuple(s) for _, s, *_ in got if len(s) == 4]
    if len(convs) > 1 and convs[1][1] == c_in and c_in != c_out:
        hint = ("every convolution after the first takes out_channels: it sees the previous convolution's "
                f"{c_out} channels, not the block's input ({c_in}).")
    elif convs and convs[0][2:] != (3, 3):
        hint = f"VGG uses only 3×3 filters (kernel_size=3); yours are {convs[0][2]}×{convs[0][3]}."
    elif len(convs) != num_convs:
        hint = f"the block has num_convs = {num_convs} convolutions; yours has {len(convs)}."
    check_parameters(what, summary, _block_shapes(num_convs, c_in, c_out), hint=hint)


@forbids(*TORCH_FORBIDDEN)
def vgg_block(func, hidden=False, seed=0):
    """Check ``vgg_block(num_convs, in_channels, out_channels) -> nn.Module``: num_convs ×
    (3×3 conv, padding 1 → ReLU), then a 2×2 max pooling of stride 2."""
    __tracebackhide__ = True
    own_work("vgg_block", func)
    rng = np.random.default_rng(seed)
    if not hidden:
        sizes = [(2, 3, 4, 2, 8, 8, "two convolutions, 3 → 4 channels, an 8×8 image"),
                 (1, 2, 5, 1, 7, 9, "one convolution, odd sides: the pooling takes the floor")]
    else:
        sizes = [(int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(2, 7)), int(rng.integers(1, 4)),
                  int(rng.integers(6, 14)), int(rng.integers(6, 14)), "") for _ in range(5)]
    for num_convs, c_in, c_out, *_ in sizes:
        _block_structure(func, num_convs, c_in, c_out)
    cases = [_block_case(rng, *s[:6], note=s[6]) for s in sizes]
    run_check("vgg_block", func, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)


# --------------------------------------------------------------------------- VGGNet


def _net_shapes(cfg, in_channels, image_size, hidden, n_classes):
    shapes, c = [], in_channels
    for b, (num_convs, c_out) in enumerate(cfg):
        for i in range(num_convs):
            shapes += [(f"block {b + 1} conv {i + 1} weight", (c_out, c, 3, 3)), (f"block {b + 1} conv {i + 1} bias",
                                                                                 (c_out,))]
            c = c_out
    side = image_size // 2 ** len(cfg)
    return shapes + [("fc1.weight", (hidden, c * side * side)), ("fc1.bias", (hidden,)),
                     ("fc2.weight", (hidden, hidden)), ("fc2.bias", (hidden,)),
                     ("fc3.weight", (n_classes, hidden)), ("fc3.bias", (n_classes,))]


def _net_ref(weights, cfg, x, *, fc_relu=True, last_relu=False, flatten="nchw"):
    torch, F = _torch()
    w = [torch.as_tensor(a) for a in weights]
    a, k = torch.as_tensor(x), 0
    with torch.no_grad():
        for num_convs, _ in cfg:
            for _ in range(num_convs):
                a = torch.relu(F.conv2d(a, w[k], w[k + 1], padding=1))
                k += 2
            a = F.max_pool2d(a, 2)
        if flatten == "nhwc":
            a = a.permute(0, 2, 3, 1)
        a = a.reshape(a.shape[0], -1)
        for j in range(2):
            a = a @ w[k].T + w[k + 1]
            a = torch.relu(a) if fc_relu else a
            k += 2
        z = a @ w[k].T + w[k + 1]
        if last_relu:
            z = torch.relu(z)
    return z.numpy()


def _net_hint(got, cfg, in_channels, image_size, hidden, n_classes) -> str:
    want = _net_shapes(cfg, in_channels, image_size, hidden, n_classes)
    n_conv = 2 * sum(n for n, _ in cfg)
    convs = [tuple(s) for _, s, *_ in got if len(s) == 4]
    for (label, shape), g in zip(want[:n_conv:2], convs):
        if g[1] != shape[1]:
            return f"{label}: it takes the {shape[1]} channels of what comes before it (in_channels for the first " \
                   "block, then the previous block's channels), not " + str(g[1]) + "."
    fc = [tuple(s) for _, s, *_ in got if len(s) == 2]
    side, c_last = image_size // 2 ** len(cfg), cfg[-1][1]
    if fc and fc[0][1] != want[n_conv][1][1]:
        n_in = fc[0][1]
        if n_in == c_last * image_size * image_size:
            return f"fc1's input is the volume after the {len(cfg)} poolings, not the input image: " \
                   f"{c_last}·{side}·{side} = {c_last * side * side}."
        if n_in == cfg[0][1] * side * side:
            return f"the flattened volume has the last block's {c_last} channels, not the first block's."
        return (f"fc1 gets the flattened output of the last block: {c_last} channels of {side}×{side} "
                f"({image_size} halved {len(cfg)} times, rounding down each time: image_size // 2**len(cfg)), "
                f"{c_last * side * side} numbers.")
    if len(fc) != 3:
        return f"the classifier has three fully connected layers: ({hidden} units) → ReLU → ({hidden}) → ReLU → " \
               f"({n_classes})."
    return "for each (num_convs, channels) of cfg a vgg_block, then flatten and Linear → ReLU → Linear → ReLU → Linear."


_NET_MISTAKES = [
    (dict(fc_relu=False), "the two hidden fully connected layers need a ReLU each: fc1 → ReLU → fc2 → ReLU → fc3."),
    (dict(last_relu=True), "no ReLU after the last layer: return its raw scores (logits)."),
    (dict(flatten="nhwc"), "flatten the (m, C, H, W) volume as it is (torch.flatten(x, 1) or nn.Flatten()), not in "
     "the order (height, width, channels)."),
]


def _net_case(rng, cfg, in_channels, image_size, hidden, n_classes, m, note=""):
    shapes = [s for _, s in _net_shapes(cfg, in_channels, image_size, hidden, n_classes)]
    weights = random_weights(shapes, rng, scale=1.5)
    x = rng.standard_normal((m, in_channels, image_size, image_size)).astype(np.float32)
    expected = _net_ref(weights, cfg, x)
    kwargs = {"in_channels": in_channels, "image_size": image_size, "hidden": hidden, "n_classes": n_classes}

    def variants():
        return [Variant(hint, {"scores": _net_ref(weights, cfg, x, **kw)}) for kw, hint in _NET_MISTAKES]

    shown = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    return Case(args=[("x", x)], dtype=np.float32, note=note, variants=variants,
                describe=f"VGGNet({cfg}, {shown}) with fixed weights, x.shape={x.shape}",
                outputs=[Out("scores", expected, shape_hint="forward returns (m, n_classes) scores.")],
                hint="the blocks of cfg (each: (3×3 conv, padding 1 → ReLU) × num_convs, then 2×2 max pooling), "
                     "flatten, fc1 → ReLU → fc2 → ReLU → fc3 (logits, no softmax).",
                call=lambda cls, values: forward_with("VGGNet", cls, (cfg,), weights, values[0], kwargs=kwargs))


@forbids(*TORCH_FORBIDDEN)
def vgg_net(VGGNet, hidden=False, seed=0):
    """Check the class ``VGGNet(cfg, in_channels=1, image_size=32, hidden=64, n_classes=10)``: one VGG
    block per (num_convs, channels) of ``cfg``, then flatten, Linear(·, hidden) → ReLU →
    Linear(hidden, hidden) → ReLU → Linear(hidden, n_classes)."""
    __tracebackhide__ = True
    own_work("VGGNet", VGGNet)
    rng = np.random.default_rng(seed)
    if not hidden:
        setups = [(((1, 8), (1, 16), (2, 32)), 1, 32, 64, 10, 2, "the network trained in section 7"),
                  (((1, 4), (2, 6)), 3, 14, 12, 5, 2, "14 → 7 → 3: the second pooling rounds down")]
    else:
        setups = []
        for _ in range(4):
            n_blocks = int(rng.integers(1, 4))
            cfg = tuple((int(rng.integers(1, 3)), int(rng.integers(2, 9))) for _ in range(n_blocks))
            size = int(rng.integers(2 ** n_blocks, 2 ** n_blocks + 14))
            setups.append((cfg, int(rng.integers(1, 4)), size, int(rng.integers(4, 20)), int(rng.integers(2, 11)),
                           int(rng.integers(1, 4)), ""))
    k = kernel(VGGNet)
    for cfg, c, size, hid, n, _, _ in setups:
        what = f"VGGNet({cfg}, in_channels={c}, image_size={size}, hidden={hid}, n_classes={n})"
        summary = _summary(k, build("VGGNet", VGGNet, (cfg,), {"in_channels": c, "image_size": size, "hidden": hid,
                                                                "n_classes": n}), what)
        check_parameters(what, summary, _net_shapes(cfg, c, size, hid, n),
                         hint=_net_hint(summary["parameters"], cfg, c, size, hid, n))
    cases = [_net_case(rng, *s[:6], note=s[6]) for s in setups]
    run_check("VGGNet", VGGNet, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)
