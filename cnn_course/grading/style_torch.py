"""Check of the PyTorch exercise of the topic-12 notebook: one optimisation step of style transfer.

``style_step(G, optimizer, net, a_C, a_S, alpha=10, beta=40) -> float``: G is the generated
image, a (1, 3, H, W) tensor with ``requires_grad=True`` that ``optimizer`` (Adam) updates;
``net`` maps an image to one layer's activations (1, n_C, n_H, n_W); a_C, a_S are that layer's
activations of the content and the style image. One step: clear the old gradients, compute
J = α J_content + β J_style^[l] on ``net(G)`` (this notebook's constants), backpropagate, take
the optimizer's step, clip G's pixels to [0, 1] in place (without recording the operation),
and return J (before the update) as a Python float.

Judged by behaviour through the probes: two steps on a fixed small network (a 3×3 convolution
and a ReLU, fixed weights) from an image with pixels near 0 and 1 (so that the clipping acts);
compared: the type of the result, J of both steps, and G after the second step (read from the
optimizer's ``param_groups``). Expected values come from the same step written here in torch.
Known mistakes (diagnosed): no clipping, α and β swapped, gradients accumulated (no
``zero_grad``), J returned after the update, the costs without their constants.
"""

from __future__ import annotations

import numpy as np

from .core import TORCH_FORBIDDEN, Case, Out, Variant, forbids, run_check
from .probes import kernel
from .pytorch import random_weights

__all__ = ["style_step", "step_reference"]

RECIPE = ("one step: optimizer.zero_grad(); a_G = net(G); J = alpha * J_content + beta * J_style (the costs of "
          "this notebook, in torch: J_content = Σ(a_C − a_G)² / (4 n_H n_W n_C), J_style = Σ(G_S − G_G)² / "
          "(4 n_C² (n_H n_W)²) with the Gram matrices of the unrolled (n_C, n_H·n_W) activations); J.backward(); "
          "optimizer.step(); then, inside torch.no_grad(), G.clamp_(0, 1); return J.item().")
NO_CLIP = ("your G leaves the range [0, 1]: after optimizer.step(), clip the pixels in place without recording it "
           "for autograd: with torch.no_grad(): G.clamp_(0, 1).")
SWAPPED = "α and β are swapped: J = alpha * J_content + beta * J_style."
NO_ZERO_GRAD = ("the gradient of step 1 was still there in step 2: call optimizer.zero_grad() before J.backward() "
                "(backward adds to G.grad).")
AFTER = ("your J is the cost AFTER the update: return the J you computed and backpropagated (of the image before "
         "this step's update).")
NO_CONST = ("your costs lack their normalisation constants: J_content divides by 4 n_H n_W n_C and J_style by "
            "4 n_C² (n_H n_W)².")
TYPE_HINT = "return a Python float: J.item() (a tensor keeps the graph alive and is not a number)."

_SHAPES = [(4, 3, 3, 3), (4,)]


def _torch():
    import torch
    return torch


def _net(weights):
    torch = _torch()
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU())
    with torch.no_grad():
        for p, w in zip(net.parameters(), weights):
            p.copy_(torch.tensor(w))
    return net


def _costs(a_C, a_S, a_G, const=True):
    n_C, n_H, n_W = a_G.shape[1:]
    d = ((a_C - a_G) ** 2).sum()
    S, Gm = a_S.reshape(n_C, -1), a_G.reshape(n_C, -1)
    s = ((S @ S.T - Gm @ Gm.T) ** 2).sum()
    if not const:
        return d, s
    return d / (4 * n_H * n_W * n_C), s / (4.0 * n_C**2 * (n_H * n_W) ** 2)


def step_reference(weights, G0, C, S, alpha, beta, lr, steps=2, *, clip=True, swap=False, zero_grad=True,
                   after=False, const=True):
    """Losses of ``steps`` steps and G after them (float32), with one known mistake switched on."""
    torch = _torch()
    net = _net(weights)
    with torch.no_grad():
        a_C, a_S = net(torch.tensor(C)), net(torch.tensor(S))
    G = torch.tensor(G0).requires_grad_(True)
    opt = torch.optim.Adam([G], lr=lr)
    a, b = (beta, alpha) if swap else (alpha, beta)
    losses = []
    for _ in range(steps):
        if zero_grad:
            opt.zero_grad()
        Jc, Js = _costs(a_C, a_S, net(G), const)
        J = a * Jc + b * Js
        J.backward()
        opt.step()
        if clip:
            with torch.no_grad():
                G.clamp_(0, 1)
        if after:
            with torch.no_grad():
                Jc, Js = _costs(a_C, a_S, net(G), const)
                J = a * Jc + b * Js
        losses.append(float(J.item()))
    return losses, G.detach().numpy().copy()


def _two_steps(fn, weights, G0, C, S, alpha, beta, lr):
    k = kernel(fn)
    net = k.sequential(("Conv2d", (3, 4, 3), {"padding": 1}), ("ReLU",))
    k.set_parameters(net, weights)
    a_C, a_S = k.forward(net, C), k.forward(net, S)
    G = k.tensor(G0, "float32", requires_grad=True)
    opt = k.new("torch.optim.Adam", [G], lr=lr)
    tC, tS = k.tensor(a_C, "float32"), k.tensor(a_S, "float32")
    (l1, t1), (l2, _) = (k.call(fn, G, opt, net, tC, tS, alpha, beta), k.call(fn, G, opt, net, tC, tS, alpha, beta))
    groups = k.attribute(opt, "param_groups")
    return t1, l1, l2, np.asarray(groups[0]["params"][0])


def _case(rng, size, alpha, beta, lr, note=""):
    weights = random_weights(_SHAPES, rng, scale=1.5)
    C = rng.uniform(0, 1, size=(1, 3, *size)).astype(np.float32)
    S = rng.uniform(0, 1, size=(1, 3, *size)).astype(np.float32)
    G0 = np.clip(C + rng.uniform(-0.1, 0.1, size=C.shape), 0, 1).astype(np.float32)
    G0[..., ::3, ::2] = 0.01   # pixels next to the edges of the range: the clipping must act
    G0[..., 1::3, 1::2] = 0.99
    args = (weights, G0, C, S, alpha, beta, lr)
    (l1, l2), G2 = step_reference(*args)

    def variants():
        found = []
        for kw, hint, keys in ((dict(clip=False), NO_CLIP, ("G after step 2",)),
                               (dict(swap=True), SWAPPED, ("J of step 1",)),
                               (dict(zero_grad=False), NO_ZERO_GRAD, ("G after step 2",)),
                               (dict(after=True), AFTER, ("J of step 1",)),
                               (dict(const=False), NO_CONST, ("J of step 1",))):
            (v1, v2), Gv = step_reference(*args, **kw)
            values = {"J of step 1": v1, "J of step 2": v2, "G after step 2": Gv}
            found.append(Variant(hint, {k: values[k] for k in keys}))
        return found

    def inspect(got):
        G = got.get("G after step 2")
        if isinstance(G, np.ndarray) and G.size and (G.min() < 0 or G.max() > 1):
            return NO_CLIP
        return None

    return Case(
        args=[], dtype=np.float32, note=note, hint=RECIPE, variants=variants, inspect=inspect,
        describe=(f"two steps of Adam (lr {lr}) on a {size[0]}×{size[1]} image, net = conv 3×3 (3 → 4 channels) + "
                  f"ReLU with fixed weights, alpha={alpha}, beta={beta}"),
        outputs=[Out("type of the result", "float", kind="exact"), Out("J of step 1", l1, "scalar"),
                 Out("J of step 2", l2, "scalar"), Out("G after step 2", G2)],
        call=lambda fn, values: _two_steps(fn, *args),
        tol=(2e-4, 2e-5),
    )


@forbids(*TORCH_FORBIDDEN)
def style_step(func, hidden=False, seed=0):
    """Check ``style_step(G, optimizer, net, a_C, a_S, alpha, beta) -> float`` by two steps."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed if hidden else 1206)
    if not hidden:
        cases = [_case(rng, (6, 5), 10.0, 40.0, 0.05, "the seeds' α = 10, β = 40")]
    else:
        cases = [_case(rng, (int(rng.integers(4, 9)), int(rng.integers(4, 9))), a, b, lr)
                 for a, b, lr in ((1.0, 1000.0, 0.05), (7.0, 3.0, 0.1), (10.0, 100.0, 0.02))]
    run_check("style_step", func, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)
