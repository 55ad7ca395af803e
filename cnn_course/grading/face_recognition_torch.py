"""Check of the PyTorch exercise of the topic-11 notebook: a training step with the batch-hard
triplet loss.

``triplet_train_step(model, optimizer, x, labels, alpha=0.2) -> float``: embed the batch
(``model(x)``, (m, d)), take for every anchor that has a positive and a negative in the batch
its farthest positive and nearest negative (squared distances, chosen without gradient), the
loss L = (1/K) Σ_k max(‖f_a − f_p‖² − ‖f_a − f_n‖² + α, 0) over those K anchors (the mean, so
the step does not grow with the batch), then ``optimizer.zero_grad()``, ``L.backward()``,
``optimizer.step()``; return L as a Python float.

Judged by behaviour through the probes: two steps on one batch with a reference model (a
linear embedding built on the student's side by ``k.sequential``) and SGD, the two losses, the
type of the result and the parameters after the second step, against the same steps computed
here with torch. The known mistakes (no ``zero_grad``, the sum instead of the mean, the nearest
positive, the farthest negative, a step before ``backward``, the tensor instead of a float) are
the same computation with one thing changed.
"""

from __future__ import annotations

import numpy as np

from .core import TORCH_FORBIDDEN, Case, Out, Variant, forbids, run_check
from .probes import kernel
from .pytorch import own_work, random_weights

__all__ = ["triplet_train_step", "step_reference"]

STEP_RECIPE = ("the loss is the MEAN over the anchors that have a positive and a negative in the batch of "
               "max(‖f_a − f_p‖² − ‖f_a − f_n‖² + alpha, 0), with each anchor's farthest positive and nearest "
               "negative (squared distances); one optimizer step on it (gradients cleared first), and the loss "
               "returned as a Python float.")
NO_ZERO_GRAD = ("the gradients of step 1 were still there in step 2: call optimizer.zero_grad() before "
                "loss.backward() (PyTorch ADDS new gradients to .grad).")
SUM_NOT_MEAN = ("your loss is the sum over the anchors: this training step uses the MEAN of the triplet losses "
                "(.mean()), so that the step size does not depend on the batch size.")
NEAR_POS = "your positive is the nearest one: the hardest positive is the FARTHEST example of the same identity."
FAR_NEG = "your negative is the farthest one: the hardest negative is the NEAREST example of another identity."
STEP_FIRST = ("the parameters did not move in step 1 as expected: call loss.backward() BEFORE optimizer.step() "
              "(the step uses the gradients backward() computes).")
NOT_SQUARED = "your distances are not squared: the triplet loss uses ‖f_a − f_p‖², the sum of squares."

D_IN, D_OUT = 5, 3
LABELS = np.array([0, 0, 1, 1, 1, 2, 2, 3], dtype=np.int64)


def _torch():
    import torch

    return torch


def step_reference(weights, x, labels, alpha, lr, steps=2, *, zero_grad=True, mean=True, near_pos=False,
                   far_neg=False, step_first=False, squared=True):
    """Losses and parameters after ``steps`` training steps of a Linear(D_IN, D_OUT) embedding with
    SGD, with one known mistake switched on."""
    torch = _torch()
    model = torch.nn.Linear(D_IN, D_OUT)
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(torch.tensor(w))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    xt, yt = torch.tensor(x), torch.tensor(labels)
    losses = []
    for _ in range(steps):
        if zero_grad:
            opt.zero_grad()
        emb = model(xt)
        with torch.no_grad():
            D = ((emb[:, None, :] - emb[None, :, :]) ** 2).sum(-1)
            same = yt[:, None] == yt[None, :]
            pos = same & ~torch.eye(len(yt), dtype=torch.bool)
            neg = ~same
            a = torch.nonzero(pos.any(1) & neg.any(1)).flatten()
            p = (torch.where(pos, D, torch.inf).argmin(1) if near_pos else torch.where(pos, D, -torch.inf).argmax(1))
            n = (torch.where(neg, D, -torch.inf).argmax(1) if far_neg else torch.where(neg, D, torch.inf).argmin(1))
        dp = ((emb[a] - emb[p[a]]) ** 2).sum(1)
        dn = ((emb[a] - emb[n[a]]) ** 2).sum(1)
        if not squared:
            dp, dn = dp.sqrt(), dn.sqrt()
        h = torch.relu(dp - dn + alpha)
        loss = h.mean() if mean else h.sum()
        if step_first:
            opt.step()
            loss.backward()
        else:
            loss.backward()
            opt.step()
        losses.append(loss.item())
    return losses, [q.detach().numpy().copy() for q in model.parameters()]


def _two_steps(fn, weights, x, labels, alpha, lr):
    k = kernel(fn)
    model = k.sequential(("Linear", (D_IN, D_OUT)))
    k.set_parameters(model, weights)
    opt = k.new("torch.optim.SGD", model, lr=lr)
    xt, yt = k.tensor(x), k.tensor(labels, "int64")
    (l1, t1), (l2, _) = k.call(fn, model, opt, xt, yt, alpha), k.call(fn, model, opt, xt, yt, alpha)
    return t1, l1, l2, k.parameters(model)


def _case(rng, alpha, lr, note=""):
    weights = random_weights([(D_OUT, D_IN), (D_OUT,)], rng, scale=0.8)
    x = rng.standard_normal((len(LABELS), D_IN)).astype(np.float32)
    (l1, l2), params = step_reference(weights, x, LABELS, alpha, lr)

    def variants():
        found = []
        for hint, kw in ((NO_ZERO_GRAD, dict(zero_grad=False)), (SUM_NOT_MEAN, dict(mean=False)),
                         (NEAR_POS, dict(near_pos=True)), (FAR_NEG, dict(far_neg=True)),
                         (STEP_FIRST, dict(step_first=True)), (NOT_SQUARED, dict(squared=False))):
            (v1, v2), vp = step_reference(weights, x, LABELS, alpha, lr, **kw)
            found += [Variant(hint, {"loss of step 1": v1}), Variant(hint, {"loss of step 2": v2}),
                      Variant(hint, {"parameters after step 2": vp})]
        return found

    return Case(
        args=[], dtype=np.float32, note=note,
        describe=f"two steps of SGD (lr {lr}) with alpha={alpha}, a Linear({D_IN}, {D_OUT}) embedding, "
                 f"labels {LABELS.tolist()}",
        outputs=[Out("type of the result", "float", kind="exact"), Out("loss of step 1", l1, "scalar"),
                 Out("loss of step 2", l2, "scalar"), Out("parameters after step 2", params, "list")],
        call=lambda fn, values: _two_steps(fn, weights, x, LABELS, alpha, lr),
        variants=variants, hint=STEP_RECIPE,
    )


@forbids(*TORCH_FORBIDDEN)
def triplet_train_step(func, hidden=False, seed=0):
    """Check ``triplet_train_step(model, optimizer, x, labels, alpha) -> float``."""
    __tracebackhide__ = True
    own_work("triplet_train_step", func)
    rng = np.random.default_rng(seed if hidden else 1107)
    if not hidden:
        cases = [_case(rng, 0.2, 0.1, "alpha 0.2"), _case(rng, 1.0, 0.05, "alpha 1.0")]
    else:
        cases = [_case(rng, float(rng.choice([0.2, 0.5, 1.0])), float(rng.choice([0.05, 0.1, 0.2])))
                 for _ in range(3)]
    run_check("triplet_train_step", func, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)
