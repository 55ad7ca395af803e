"""Checks for the topic-5 notebook (ResNet): the NumPy residual block and a parameter count.

The graded functions and their checks:

* ``residual_block_forward(x, params, stride=1, train=True) -> (out, cache)``:
  :func:`residual_block_forward`. x is (N, C_in, H, W); ``params`` holds ``W1, b1, gamma1,
  beta1, W2, b2, gamma2, beta2`` and the running statistics ``running_mean1/2,
  running_var1/2`` (updated in place in train mode); with ``Ws, bs, gammas, betas,
  running_means, running_vars`` the shortcut is the 1×1 projection (conv with the block's
  stride, then batch norm), otherwise the identity. out = relu(BN2(conv2(relu(BN1(conv1(x)))))
  + shortcut(x)).
* ``residual_block_backward(dout, cache) -> grads``: :func:`residual_block_backward`, with
  the cache of the student's own forward pass (train mode); ``grads`` has ``dx`` and a
  ``d<name>`` for every learnable entry of ``params``.
* ``block_parameters(kind, in_channels, width, stride=1) -> int``: the number of learnable
  parameters of a "basic" or "bottleneck" block in the torch layout (no conv biases before
  batch norm; projection shortcut when the shape changes): :func:`block_parameters`.

The student may compose the course's layer functions (``ref.conv2d_forward``,
``ref.batchnorm_forward`` and their backward passes): composing them is the exercise. The
ready-made block (``cnn_course.ref.resnet``), ``cnn_course.pt`` and PyTorch are not own
work (:data:`RESIDUAL_FORBIDDEN`). Expected values are computed here with torch's autograd
in float64, never with the library's block; the known mistakes used for diagnoses are the
same torch computation with one thing changed (the shortcut added after the final ReLU, a
ReLU on the shortcut, batch norm in the wrong mode, a gradient that misses the shortcut...).
torch is imported only when a check runs.
"""

from __future__ import annotations

import numpy as np

from .core import (
    Case,
    FORBIDDEN,
    Out,
    Variant,
    compare,
    find_forbidden_static,
    forbids,
    forward_cache,
    require_forward,
    run_check,
)

__all__ = ["residual_block_forward", "residual_block_backward", "block_parameters", "RESIDUAL_FORBIDDEN",
           "reference_block"]

#: The NumPy block may use the course's layer functions, not its ready-made block.
RESIDUAL_FORBIDDEN = ("cnn_course.ref.resnet", "cnn_course.pt", "torch", "scipy.signal", "scipy.ndimage")

MAIN = ("W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2")
PROJ = ("Ws", "bs", "gammas", "betas")
STATS = {"1": ("running_mean1", "running_var1"), "2": ("running_mean2", "running_var2"),
         "s": ("running_means", "running_vars")}
MOMENTUM, EPS = 0.1, 1e-5
_HIDDEN = 10
_GRAD_POINTS = 8  # entries of x the visible gradient check compares

RECIPE = ("out = relu(z2 + shortcut), with z1 = BN1(conv 3×3 of x, stride s, pad 1), a1 = relu(z1), "
          "z2 = BN2(conv 3×3 of a1, stride 1, pad 1); shortcut = x, or BNs(conv 1×1 of x, stride s, pad 0) when "
          "params has 'Ws'. ref.conv2d_forward(x, W, b, stride, pad) and ref.batchnorm_forward(z, gamma, beta, "
          "running_mean, running_var, train=train) do the layers.")
ADD_AFTER_RELU = ("your output is relu(z2) + shortcut: the shortcut is added AFTER the final ReLU. The block adds it "
                  "before: a[l+2] = g(z[l+2] + a[l]), out = relu(z2 + shortcut).")
RELU_SHORTCUT = ("your output is relu(z2 + relu(shortcut)): there is a ReLU on the shortcut path. The shortcut "
                 "carries x (or BNs(conv1x1(x))) to the sum unchanged; the only ReLU after the sum is the final one.")
NO_FINAL_RELU = "your output is z2 + shortcut without the final ReLU: out = relu(z2 + shortcut)."
NO_SHORTCUT = ("your output is relu(z2), the plain two-layer block: the shortcut is missing. Add x (or its "
               "projection) to z2 before the final ReLU.")
EVAL_IN_TRAIN = ("in train mode your batch norms normalised with the running statistics (eval mode) and left them "
                 "unchanged: pass train=train to every ref.batchnorm_forward, so that a training step uses the "
                 "batch's statistics and updates the running ones.")
TRAIN_IN_EVAL = ("in eval mode your batch norms normalised with the batch's own statistics (and updated the running "
                 "ones): pass train=train to every ref.batchnorm_forward.")
STRIDE_SECOND = ("your block applies the stride in the second 3×3 convolution: it belongs to the first one (and to "
                 "the 1×1 projection), so that the block downsamples right away and conv2 works at the new size.")
PROJ_NO_BN = ("your projection shortcut is the 1×1 convolution alone: it is followed by its own batch norm "
              "(gammas, betas, running_means, running_vars), like each convolution of the main path.")
IGNORED_PROJECTION = ("params has a projection (Ws, ...) but your block used the identity shortcut: the shortcut "
                      "is the projection whenever params has 'Ws', even where the shapes would allow the identity.")
NO_BIAS = ("your result is what the block gives without the conv biases b1, b2 (bs): pass them to "
           "ref.conv2d_forward. In train mode batch norm removes them, but in eval mode they shift the output.")
SHAPES = ("the two paths must give the same shape before they are added: padding 1 for each 3×3 convolution (0 for "
          "the 1×1 projection), the stride in the first 3×3 convolution and in the projection only; when the shape "
          "changes, params has 'Ws' and the shortcut must be the projection.")
NO_WS = "an identity block's params has no 'Ws': use the projection only when 'Ws' in params."

GRAD_NO_SHORTCUT = ("dx misses the shortcut's term. x feeds both paths, so its gradient is a SUM: dx = dx_main + "
                    "dx_shortcut, where dx_shortcut is dz itself (identity) or the projection's dx.")
GRAD_SHORTCUT_ONLY = ("dx is only the shortcut's term: add the main path's gradient (back through BN2, conv2, the "
                      "inner ReLU, BN1 and conv1).")
GRAD_NO_FINAL_MASK = ("your gradients ignore the final ReLU: dz = dout * (out > 0) (or (z2 + shortcut > 0)) before "
                      "it goes into both paths.")
GRAD_UNMASKED_SHORTCUT = ("the shortcut's gradient skipped the final ReLU: both paths receive the same dz = "
                          "dout * (out > 0), the gradient of the sum z2 + shortcut.")
GRAD_NO_INNER_MASK = "your gradients ignore the inner ReLU (a1 = relu(z1)): multiply by (z1 > 0) or (a1 > 0)."
BACKWARD_RECIPE = ("dz = dout * (out > 0); the sum hands dz to both paths: main path back through BN2 → conv2 → "
                   "inner ReLU → BN1 → conv1 (ref.batchnorm_backward, ref.conv2d_backward), shortcut: dz itself or "
                   "back through BNs → conv 1×1; dx = dx_main + dx_shortcut.")


def _torch():
    import torch

    return torch


# --------------------------------------------------------------------------- the reference, in torch


def reference_block(x, params, stride=1, train=True, dout=None, *, add="before", relu_shortcut=False, bn="right",
                    stride_on="first", proj_bn=True, projection=None, biases=True, grad="right"):
    """The block computed with torch in float64: ``{"out", "running", "grads"}`` (grads when
    ``dout`` is given; running: the running statistics after the call).

    The keywords switch one known mistake on (for the diagnoses): ``add`` "after" (relu(z2) +
    sc), "no_relu" (z2 + sc) or "none" (relu(z2)); ``relu_shortcut``; ``bn`` "eval_always" /
    "batch_always"; ``stride_on`` "second"; ``proj_bn=False``; ``projection`` forced True or
    False; ``biases=False``; ``grad`` "main_only", "shortcut_only", "no_final_mask",
    "unmasked_shortcut", "no_inner_mask" (the forward values stay right, the gradient is the
    mistaken one).
    """
    torch = _torch()
    F = torch.nn.functional
    learnable = [k for k in MAIN + PROJ if k in params]
    t = {k: torch.tensor(np.asarray(params[k], dtype=np.float64), requires_grad=True) for k in learnable}
    running = {k: torch.tensor(np.asarray(params[k], dtype=np.float64)) for s in STATS.values() for k in s
               if k in params}
    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    training = {"right": train, "eval_always": False, "batch_always": True}[bn]

    def norm(z, s):
        rm, rv = STATS[s]
        return F.batch_norm(z, running[rm], running[rv], t["gamma" + s], t["beta" + s], training=training,
                            momentum=MOMENTUM, eps=EPS)

    def relu(z, straight=False):
        return z + (F.relu(z) - z).detach() if straight else F.relu(z)

    def bias(k):
        return t[k] if biases else None

    x_main = xt.detach() if grad == "shortcut_only" else xt
    x_sc = xt.detach() if grad == "main_only" else xt
    s1, s2 = (stride, 1) if stride_on == "first" else (1, stride)
    a1 = relu(norm(F.conv2d(x_main, t["W1"], bias("b1"), stride=s1, padding=1), "1"), grad == "no_inner_mask")
    z2 = norm(F.conv2d(a1, t["W2"], bias("b2"), stride=s2, padding=1), "2")
    use_proj = ("Ws" in params) if projection is None else projection
    if use_proj:
        sc = F.conv2d(x_sc, t["Ws"], bias("bs"), stride=stride)
        if proj_bn:
            sc = norm(sc, "s")
    else:
        sc = x_sc
    if relu_shortcut:
        sc = F.relu(sc)
    if add == "after":
        out = F.relu(z2) + sc
    elif add == "no_relu":
        out = z2 + sc
    elif add == "none":
        out = F.relu(z2)
    elif grad == "unmasked_shortcut":
        out = F.relu(z2 + sc.detach()) + (sc - sc.detach())
    else:
        out = relu(z2 + sc, grad == "no_final_mask")
    result = {"out": out.detach().numpy().copy(), "running": {k: v.numpy().copy() for k, v in running.items()}}
    if dout is not None:
        out.backward(torch.tensor(np.asarray(dout, dtype=np.float64)))
        grads = {"d" + k: (t[k].grad.numpy().copy() if t[k].grad is not None else np.zeros(params[k].shape))
                 for k in learnable}
        grads["dx"] = xt.grad.numpy().copy()
        result["grads"] = grads
    return result


# --------------------------------------------------------------------------- cases


def make_params(rng, c_in, c_out, projection, dtype=np.float64):
    """Parameters for a check: He-scaled filters, biases, γ near 1, β, running statistics."""
    p = {}
    shapes = {"1": (c_out, c_in, 3, 3), "2": (c_out, c_out, 3, 3)}
    if projection:
        shapes["s"] = (c_out, c_in, 1, 1)
    for s, shape in shapes.items():
        fan_in = shape[1] * shape[2] * shape[3]
        p["W" + s] = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        p["b" + s] = rng.normal(0.0, 0.2, c_out)
        p["gamma" + s] = rng.uniform(0.5, 1.5, c_out)
        p["beta" + s] = rng.normal(0.0, 0.3, c_out)
    for s in shapes:
        p[STATS[s][0]] = rng.normal(0.0, 0.3, c_out)
        p[STATS[s][1]] = rng.uniform(0.5, 2.0, c_out)
    order = MAIN + (PROJ if projection else ()) + tuple(k for s in shapes for k in STATS[s])
    return {k: np.asarray(p[k], dtype=dtype) for k in order}


def _stats_of(params):
    return {k: params[k] for s in STATS.values() for k in s if k in params}


def _learnable_of(params):
    return {k: params[k] for k in MAIN + PROJ if k in params}


def _block_text(x, params, stride, train):
    kind = "projection" if "Ws" in params else "identity"
    return (f"{kind} block, x.shape={x.shape}, C_out={params['W1'].shape[0]}, stride={stride}, "
            f"{'train' if train else 'eval'} mode")


def _forward_exception_hint(exc, line):
    text = str(exc)
    if "broadcast" in text or "shape" in text:
        return SHAPES
    if isinstance(exc, KeyError) and "Ws" in text:
        return NO_WS
    return None


def _forward_case(x, params, stride, train, note=""):
    ref = reference_block(x, params, stride, train)
    originals = {k: v.copy() for k, v in params.items()}

    def variants():
        found = [(ADD_AFTER_RELU, dict(add="after")), (RELU_SHORTCUT, dict(relu_shortcut=True)),
                 (NO_FINAL_RELU, dict(add="no_relu")), (NO_SHORTCUT, dict(add="none")),
                 (EVAL_IN_TRAIN if train else TRAIN_IN_EVAL, dict(bn="eval_always" if train else "batch_always")),
                 (NO_BIAS, dict(biases=False))]
        if stride != 1:
            found.append((STRIDE_SECOND, dict(stride_on="second")))
        if "Ws" in params:
            found.append((PROJ_NO_BN, dict(proj_bn=False)))
            if stride == 1 and x.shape[1] == params["W1"].shape[0]:
                found.append((IGNORED_PROJECTION, dict(projection=False)))
        out = []
        for hint, kw in found:
            r = reference_block(x, params, stride, train, **kw)
            out.append(Variant(hint, {"out": r["out"]}))
            if kw.get("bn"):
                out.append(Variant(hint, {"running statistics after the call": r["running"]}))
        return out

    def call(func, values):
        x_in, p_in = values[0], values[1]
        result = func(x_in, p_in, stride, train)
        return result

    def observe(values):
        p_in = values[1]
        if not isinstance(p_in, dict):
            return {}
        return {"running statistics after the call": {k: p_in.get(k) for k in _stats_of(originals)},
                "learnable entries of params after the call": {k: p_in.get(k) for k in _learnable_of(originals)}}

    return Case(
        args=[("x", x), ("params", params)], dtype=np.float64, note=note,
        describe=_block_text(x, params, stride, train),
        outputs=[Out("out", ref["out"], shape_hint="out has shape (N, C_out, H', W'): H' = (H - 1) // stride + 1 "
                                                 "with padding 1 for the 3×3 convolutions."),
                 Out("running statistics after the call", ref["running"], kind="dict"),
                 Out("learnable entries of params after the call", _learnable_of(originals), kind="dict")],
        returns=("out", "cache"), call=call, observe=observe, inplace_ok=frozenset({"params"}),
        variants=variants, hint=RECIPE, exception_hint=_forward_exception_hint,
    )


def _random_block(rng):
    """(x, params, stride) for a hidden case: identity, projection with a changed shape, or a
    projection where the identity would fit."""
    kind = int(rng.integers(0, 3))
    n = int(rng.integers(2, 4))
    c_in = int(rng.integers(1, 4))
    side = int(rng.integers(3, 7))
    if kind == 0:
        c_out, stride, projection = c_in, 1, False
    elif kind == 1:
        stride = int(rng.integers(1, 3))
        c_out = c_in + int(rng.integers(0 if stride == 2 else 1, 3))
        projection = True
    else:
        c_out, stride, projection = c_in, 1, True
    x = rng.normal(0.0, 1.0, (n, c_in, side, side + int(rng.integers(0, 2))))
    return x, make_params(rng, c_in, c_out, projection), stride


def _visible_blocks():
    rng = np.random.default_rng(5051)
    x1 = np.round(rng.normal(0.0, 1.0, (2, 2, 4, 4)), 2)
    x2 = np.round(rng.normal(0.0, 1.0, (2, 2, 5, 5)), 2)
    return [(x1, make_params(rng, 2, 2, False), 1, True, "an identity block, train mode"),
            (x2, make_params(rng, 2, 3, True), 2, True, "a projection block: 2 → 3 channels, stride 2, train mode"),
            (x1, make_params(rng, 2, 2, False), 1, False, "an identity block, eval mode (running statistics)")]


@forbids(*RESIDUAL_FORBIDDEN)
def residual_block_forward(func, hidden=False, seed=0):
    """Check ``residual_block_forward(x, params, stride=1, train=True) -> (out, cache)``.

    Compares out, the running statistics in ``params`` after the call (updated in train
    mode, unchanged in eval mode) and the learnable entries of ``params`` (unchanged), in
    float64, on identity and projection blocks in both modes.
    """
    __tracebackhide__ = True
    if not hidden:
        cases = [_forward_case(x, p, s, train, note) for x, p, s, train, note in _visible_blocks()]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k in range(_HIDDEN):
            x, p, s = _random_block(rng)
            cases.append(_forward_case(x, p, s, bool(k % 3 != 2)))
    run_check("residual_block_forward", func, cases, hidden=hidden, forbidden=RESIDUAL_FORBIDDEN)


# --------------------------------------------------------------------------- backward


def _backward_case(forward, x, params, stride, dout, note=""):
    ref = reference_block(x, params, stride, True, dout)

    def prepare(watch):
        p_in = {k: v.copy() for k, v in params.items()}
        return forward_cache("residual_block_forward", lambda: forward(x.copy(), p_in, stride, True), ref["out"], np.float64, RESIDUAL_FORBIDDEN, watch, mode=" (train mode)", own_check="test_residual_block_forward")

    def variants():
        found = [(GRAD_NO_SHORTCUT, "main_only"), (GRAD_SHORTCUT_ONLY, "shortcut_only"),
                 (GRAD_NO_FINAL_MASK, "no_final_mask"), (GRAD_UNMASKED_SHORTCUT, "unmasked_shortcut"),
                 (GRAD_NO_INNER_MASK, "no_inner_mask")]
        return [Variant(hint, {"grads": reference_block(x, params, stride, True, dout, grad=g)["grads"]})
                for hint, g in found]

    want = ref["grads"]
    hints = {k: f"{k} has the shape of {k[1:]}: {params[k[1:]].shape}." for k in want if k != "dx"}
    hints["dx"] = f"dx has the shape of x: {x.shape}."
    return Case(
        args=[("dout", dout), ("cache", None)], dtype=np.float64, note=note,
        describe=f"{_block_text(x, params, stride, True)}, dout.shape={dout.shape}",
        outputs=[Out("grads", want, kind="dict", hints=hints)],
        inplace_ok=frozenset({"cache"}), prepare=prepare, variants=variants, hint=BACKWARD_RECIPE,
        inplace_hint="dout must come back unchanged: compute dz = dout * mask into a new array, not with *=.",
        exception_hint=lambda exc, line: ("cache is exactly the second value your residual_block_forward returned: "
                                          "unpack it the way you packed it."),
    )


def _gradient_report(func, forward_func, case_args) -> None:
    """Visible mode: dx of the student's backward against centred differences of the student's
    own forward pass (train mode) on the first visible case; prints the relative error, or
    nothing when either function fails (the cases then say what is wrong)."""
    x, params, stride, dout = case_args
    try:
        with np.errstate(all="ignore"):
            out, cache = forward_func(x.copy(), {k: v.copy() for k, v in params.items()}, stride, True)
            if compare(Out("out", reference_block(x, params, stride, True)["out"]), out, np.float64):
                return
            dx = np.asarray(func(dout.copy(), cache)["dx"], dtype=np.float64)

            def f(xx):
                return np.asarray(forward_func(xx, {k: v.copy() for k, v in params.items()}, stride, True)[0])

            h, positions = 1e-5, list(np.ndindex(x.shape))[::max(1, x.size // _GRAD_POINTS)]
            num = np.empty(len(positions))
            for k, idx in enumerate(positions):  # a sample of x's entries keeps the check fast
                xp, xm = x.copy(), x.copy()
                xp[idx] += h
                xm[idx] -= h
                num[k] = np.sum((f(xp) - f(xm)) * dout) / (2 * h)
            ana = np.array([dx[idx] for idx in positions])
            err = float(np.max(np.abs(ana - num) / np.maximum(1e-8, np.abs(ana) + np.abs(num))))
    except Exception:  # the cases below report whatever went wrong
        return
    verdict = ("below 1e-7: your dx agrees with the numerical gradient" if err < 1e-7 else
               "far above 1e-7: your dx and the numerical gradient disagree" if err > 1e-3 else
               "between 1e-7 and 1e-3: look closer")
    print(f"Gradient check of residual_block_backward's dx against centred differences of your "
          f"residual_block_forward (visible case 1, {len(positions)} entries of x):\n  relative error {err:.1e} — "
          f"{verdict}")


@forbids(*RESIDUAL_FORBIDDEN)
def residual_block_backward(func, forward_func, hidden=False, seed=0):
    """Check ``residual_block_backward(dout, cache) -> grads`` (a dict: ``dx`` and ``dW1``,
    ``db1``, ..., ``dbeta2`` (+ ``dWs``, ``dbs``, ``dgammas``, ``dbetas``)), with the cache of
    the student's own ``forward_func`` in train mode, against torch's autograd."""
    __tracebackhide__ = True
    require_forward("residual_block_backward", func, "residual_block_forward", forward_func, RESIDUAL_FORBIDDEN)
    if not hidden:
        rng = np.random.default_rng(5052)
        blocks = [(x, p, s, note) for x, p, s, train, note in _visible_blocks() if train]
        douts = [np.round(rng.normal(0, 1, _out_shape(x, p, s)), 2) for x, p, s, _ in blocks]
        cases = [_backward_case(forward_func, x, p, s, dout, note) for (x, p, s, note), dout in zip(blocks, douts)]
        if find_forbidden_static(func, RESIDUAL_FORBIDDEN) is None:
            _gradient_report(func, forward_func, (blocks[0][0], blocks[0][1], blocks[0][2], douts[0]))
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for _ in range(_HIDDEN // 2 + 1):
            x, p, s = _random_block(rng)
            cases.append(_backward_case(forward_func, x, p, s, rng.normal(0, 1, _out_shape(x, p, s))))
    run_check("residual_block_backward", func, cases, hidden=hidden, forbidden=RESIDUAL_FORBIDDEN)


def _out_shape(x, params, stride):
    n, _, h, w = x.shape
    return (n, params["W1"].shape[0], (h - 1) // stride + 1, (w - 1) // stride + 1)


# --------------------------------------------------------------------------- parameter count


def count_block(kind, in_channels, width, stride=1, *, conv_bias=False, bn=True, running=False,
                projection="auto", proj_bn=True, expansion=4):
    """Learnable parameters of a block in the torch layout; the keywords switch one mistake on
    (conv biases counted, batch norm left out, running statistics counted as parameters, the
    projection forgotten / always there / without its BN, the bottleneck's expansion missing)."""
    bn_per_channel = (2 if bn else 0) + (2 if running else 0)  # γ, β (+ running mean and variance)
    counter = 1 if running == "all" else 0  # + num_batches_tracked, one number per batch norm

    def conv(c_in, c_out, f):
        return c_out * c_in * f * f + (c_out if conv_bias else 0) + c_out * bn_per_channel + counter

    if kind == "basic":
        out_channels = width
        total = conv(in_channels, width, 3) + conv(width, width, 3)
    else:
        out_channels = width * expansion
        total = conv(in_channels, width, 1) + conv(width, width, 3) + conv(width, out_channels, 1)
    needs = stride != 1 or in_channels != out_channels
    if projection is True or (projection == "auto" and needs):
        total += conv(in_channels, out_channels, 1) - (0 if proj_bn else out_channels * bn_per_channel + counter)
    return total


def _count_case(kind, c_in, width, stride, note=""):
    expected = count_block(kind, c_in, width, stride)
    out_c = width if kind == "basic" else 4 * width

    def variants():
        found = [("you counted a bias for each convolution: a convolution followed by batch norm has none in the "
                  "torch layout (bias=False), since BN's β takes its role.", dict(conv_bias=True)),
                 ("you left out the batch norms: each has a γ and a β per channel (2·C parameters).", dict(bn=False)),
                 ("you counted the running mean and variance of each batch norm: they are buffers, updated by "
                  "averaging, not parameters learned by gradient descent; count γ and β only.", dict(running=True)),
                 ("you counted the running mean and variance and the batch counter (num_batches_tracked) of each "
                  "batch norm: they are buffers, updated by averaging or counting, not parameters learned by gradient "
                  "descent; count γ and β only.", dict(running="all")),
                 ("you counted a bias for each convolution and left out the batch norms' γ and β.",
                  dict(conv_bias=True, bn=False))]
        needs = stride != 1 or c_in != out_c
        if needs:
            found.append(("the projection shortcut is missing: here the shape changes (stride "
                          f"{stride}, {c_in} → {out_c} channels), so the shortcut is a 1×1 convolution "
                          f"({c_in}·{out_c} weights) followed by batch norm (2·{out_c}).", dict(projection=False)))
            found.append(("your projection has no batch norm: the 1×1 convolution of the shortcut is followed by "
                          f"its own BN (2·{out_c} parameters).", dict(proj_bn=False)))
        else:
            found.append(("you counted a projection shortcut, but here the shape does not change (stride 1, "
                          f"{c_in} → {out_c} channels): the shortcut is the identity, with no parameters.",
                          dict(projection=True)))
        if kind == "bottleneck":
            found.append(("your bottleneck ends with `width` channels: its last 1×1 convolution expands to "
                          "4·width channels (the block's output), and the shortcut must match that.",
                          dict(expansion=1)))
        return [Variant(hint, {"number of parameters": count_block(kind, c_in, width, stride, **kw)})
                for hint, kw in found]

    return Case(args=[("kind", kind), ("in_channels", c_in), ("width", width), ("stride", stride)],
                outputs=[Out("number of parameters", expected, kind="int")],
                describe=f"kind={kind!r}, in_channels={c_in}, width={width}, stride={stride}", note=note,
                variants=variants,
                hint=("per convolution f·f·C_in·C_out weights (no bias), per batch norm 2·C (γ and β); basic: "
                      "3×3 (in → width), 3×3 (width → width); bottleneck: 1×1 (in → width), 3×3 (width → width), "
                      "1×1 (width → 4·width); plus a 1×1 projection and its BN when the stride is not 1 or the "
                      "channels change."))


@forbids(*FORBIDDEN)
def block_parameters(func, hidden=False, seed=0):
    """Check ``block_parameters(kind, in_channels, width, stride=1) -> int``."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_count_case("basic", 64, 64, 1, "ResNet-34's first stage"),
                 _count_case("bottleneck", 256, 64, 1, "ResNet-50's first stage, after its first block"),
                 _count_case("basic", 64, 128, 2, "a basic block that halves the size and doubles the channels")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_count_case("bottleneck", 64, 64, 1)]  # ResNet-50's very first block: projection at stride 1
        for k in range(7):
            kind = ("basic", "bottleneck")[k % 2]
            width = int(rng.choice([8, 16, 32, 64, 128, 256, 512]))
            stride = int(rng.integers(1, 3))
            out_c = width if kind == "basic" else 4 * width
            c_in = out_c if (stride == 1 and k % 3 == 0) else int(rng.choice([out_c, out_c // 2, width, 3 * width]))
            cases.append(_count_case(kind, c_in, width, stride))
    run_check("block_parameters", func, cases, hidden=hidden)
