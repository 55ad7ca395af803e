"""Check of the PyTorch exercise of the topic-8 notebook: the YOLO loss in torch.

``yolo_loss(raw, target, anchors, lambda_coord=5.0, lambda_noobj=0.5) -> scalar tensor``:
``raw`` and ``target`` (N, S, S, B*(5+C)) float32 tensors in the tiny YOLO's layout (slot b of a
cell is ``[b*(5+C) : (b+1)*(5+C)]`` = (pc, bx, by, bh, bw, c_1..c_C)), ``anchors`` (B, 2) rows
(h, w) as fractions of the image. The raw outputs are activated as the tiny YOLO's (pc, bx, by =
sigmoid; bh, bw = anchor·exp; class probabilities = softmax over the C outputs), then

    L = (1/N) Σ [ λ_coord Σ_obj ((bx-x)² + (by-y)² + (√bh-√h)² + (√bw-√w)²)
                 + Σ_obj (pc-1)² + λ_noobj Σ_noobj pc² + Σ_obj Σ_c (p_c - 1[c = class])² ]

(obj: the slots whose target pc is 1; noobj: the others). Judged by behaviour through the probes
(:mod:`.probes`): the student's function is called on tensors built in its own kernel; the result
must be a tensor (so that ``loss.backward()`` can train a network with it) whose value and whose
gradient with respect to ``raw`` (the probe ``call_backward``) match a reference computed here in
float64. The known mistakes (the no-object term on every slot, sizes
without the square root, anchors forgotten, no softmax, the class term on every slot, no division
by N, λ_coord left out) are the same reference with one thing changed, so that a message can
name them. torch is imported only when a check runs.
"""

from __future__ import annotations

import numpy as np

from .core import TORCH_FORBIDDEN, Case, Out, Variant, forbids, run_check
from .probes import kernel
from .pytorch import own_work

__all__ = ["yolo_loss", "loss_reference", "loss_gradient", "random_batch"]

FORMULA = ("activate each slot (pc, bx, by = sigmoid; bh, bw = anchor·exp(t); class probabilities = softmax over the "
           "C outputs), then L = (1/N)·[λ_coord·Σ_obj((bx-x)² + (by-y)² + (√bh-√h)² + (√bw-√w)²) + Σ_obj (pc-1)² "
           "+ λ_noobj·Σ_noobj pc² + Σ_obj Σ_c (p_c - target_c)²], obj = the slots whose target pc is 1.")
NOOBJ_EVERYWHERE = ("your no-object term runs over every slot, the responsible ones included: λ_noobj·pc² only "
                    "where the target's pc is 0 (multiply by 1 - target pc); the object slots have their own "
                    "term (pc - 1)².")
NO_SQRT = ("your size term compares bh and bw themselves: YOLO compares their square roots, (√bh - √h)² + "
           "(√bw - √w)², so that the same error in pixels costs more on a small box than on a big one.")
NO_ANCHOR = ("your predicted sizes ignore the anchors: with anchors, bh = anchor_h·exp(t_h) and bw = "
             "anchor_w·exp(t_w), anchor b being the row anchors[b] = (h, w) of slot b.")
SIGMOID_SIZES = ("your predicted sizes are sigmoid(t): with anchors they are bh = anchor_h·exp(t_h), bw = "
                 "anchor_w·exp(t_w) (a network can then predict boxes larger or smaller than the anchor).")
NO_SOFTMAX = ("your class probabilities are not a softmax over the C class outputs of the slot: p = "
              "softmax(t[..., 5:], dim=-1), so that they are positive and sum to 1.")
SIGMOID_CLASSES = ("your class probabilities are sigmoids of each output: YOLO here takes a softmax over the C "
                   "class outputs of the slot (torch.softmax(t[..., 5:], dim=-1)), so that they sum to 1.")
CLASS_EVERYWHERE = ("your class term runs over every slot: only the slots responsible for an object (target pc "
                    "= 1) know a class; multiply the class error by the target's pc.")
COORD_EVERYWHERE = ("your box term runs over every slot: only the responsible slots (target pc = 1) have a box "
                    "to compare with; multiply the coordinate error by the target's pc.")
NO_MEAN = ("your loss is the sum over the whole batch: divide by N, the number of images, so that the loss (and "
           "the learning rate) does not depend on the batch size.")
NO_LAMBDA_COORD = "your box term has no weight: multiply it by lambda_coord (5 by default)."
NO_LAMBDA_NOOBJ = "your no-object term has no weight: multiply it by lambda_noobj (0.5 by default)."
LAMBDA_FIXED = ("your loss ignores the lambda_coord / lambda_noobj arguments: use the values passed in (5 and 0.5 "
                "are only the defaults).")
DETACHED = ("no gradient reaches raw through your loss: it must be computed from raw with torch operations only "
            "(no .item(), .detach(), .numpy(), torch.no_grad() or torch.tensor(...) of a computed value), so that "
            "loss.backward() can train the network.")
NOT_TENSOR = ("return the loss as a torch tensor (a 0-dimensional one), not a Python float or a NumPy value: "
              "training calls loss.backward() on it, which .item() or .numpy() would make impossible.")


GRAD = "d loss / d raw (after loss.backward())"


def _torch():
    import torch

    return torch


def loss_reference(raw, target, anchors, lambda_coord=5.0, lambda_noobj=0.5, *, noobj="noobj", sqrt=True,
                   sizes="anchor", classes="softmax", class_mask=True, coord_mask=True, mean=True):
    """The loss in float64 (a float), with one known mistake switched on: ``noobj`` "all";
    ``sqrt`` False; ``sizes`` "exp" (no anchor) / "sigmoid"; ``classes`` "raw" / "sigmoid";
    ``class_mask`` / ``coord_mask`` False (the term on every slot); ``mean`` False (no 1/N)."""
    torch = _torch()
    a = torch.as_tensor(np.asarray(anchors, np.float64))
    B = a.shape[0]
    raw = torch.as_tensor(np.asarray(raw, np.float64))
    N = raw.shape[0]
    t = raw.reshape(*raw.shape[:-1], B, -1)
    y = torch.as_tensor(np.asarray(target, np.float64)).reshape(t.shape)
    obj = y[..., 0]
    pc, bxy = torch.sigmoid(t[..., 0]), torch.sigmoid(t[..., 1:3])
    bhw = {"anchor": a * torch.exp(t[..., 3:5]), "exp": torch.exp(t[..., 3:5]),
           "sigmoid": torch.sigmoid(t[..., 3:5])}[sizes]
    prob = {"softmax": torch.softmax(t[..., 5:], dim=-1), "raw": t[..., 5:], "sigmoid": torch.sigmoid(t[..., 5:])}[classes]
    size_err = (torch.sqrt(bhw) - torch.sqrt(y[..., 3:5])) ** 2 if sqrt else (bhw - y[..., 3:5]) ** 2
    coord = ((bxy - y[..., 1:3]) ** 2 + size_err).sum(-1)
    cls = ((prob - y[..., 5:]) ** 2).sum(-1)
    no = (1 - obj) if noobj == "noobj" else torch.ones_like(obj)
    loss = (lambda_coord * ((obj if coord_mask else 1) * coord).sum() + (obj * (pc - 1) ** 2).sum()
            + lambda_noobj * (no * pc**2).sum() + ((obj if class_mask else 1) * cls).sum())
    return float(loss / N if mean else loss)


def loss_gradient(raw, target, anchors, lambda_coord=5.0, lambda_noobj=0.5):
    """d loss / d raw of :func:`loss_reference` (no mistake), float64, by autograd."""
    torch = _torch()
    r = torch.tensor(np.asarray(raw, np.float64), requires_grad=True)
    a = torch.as_tensor(np.asarray(anchors, np.float64))
    B = a.shape[0]
    t = r.reshape(*r.shape[:-1], B, -1)
    y = torch.as_tensor(np.asarray(target, np.float64)).reshape(t.shape)
    obj = y[..., 0]
    pc, bxy, bhw = torch.sigmoid(t[..., 0]), torch.sigmoid(t[..., 1:3]), a * torch.exp(t[..., 3:5])
    coord = ((bxy - y[..., 1:3]) ** 2 + (torch.sqrt(bhw) - torch.sqrt(y[..., 3:5])) ** 2).sum(-1)
    cls = ((torch.softmax(t[..., 5:], dim=-1) - y[..., 5:]) ** 2).sum(-1)
    loss = (lambda_coord * (obj * coord).sum() + (obj * (pc - 1) ** 2).sum()
            + lambda_noobj * ((1 - obj) * pc**2).sum() + (obj * cls).sum()) / r.shape[0]
    loss.backward()
    return r.grad.numpy()


def random_batch(rng, n, S, B, C, objects):
    """raw (N, S, S, B*(5+C)) float32 and a target of the same shape with ``objects`` object
    slots per image (random cells and anchors, sizes in [0.05, 0.7]), anchors (B, 2)."""
    D = 5 + C
    raw = (1.2 * rng.standard_normal((n, S, S, B * D))).astype(np.float32)
    target = np.zeros((n, S, S, B, D), np.float32)
    for i in range(n):
        slots = rng.choice(S * S * B, size=min(objects, S * S * B), replace=False)
        for s in slots:
            r, c, b = s // (S * B), (s // B) % S, s % B
            target[i, r, c, b, :5] = [1, *rng.uniform(0.02, 0.98, 2), *rng.uniform(0.05, 0.7, 2)]
            target[i, r, c, b, 5 + rng.integers(C)] = 1
    anchors = rng.uniform(0.15, 0.45, (B, 2)).astype(np.float32)
    return raw, target.reshape(n, S, S, B * D), anchors


def _run(fn, raw, target, anchors, lambdas):
    k = kernel(fn)
    args = (k.tensor(raw, "float32", True), k.tensor(target, "float32"), k.tensor(anchors, "float32"))
    value, type_name, grads = k.call_backward(fn, *args, **lambdas)
    return type_name, value, grads[0]


def _case(raw, target, anchors, lambdas, note):
    n, S, _, _ = raw.shape
    B = anchors.shape[0]
    C = raw.shape[-1] // B - 5
    expected = loss_reference(raw, target, anchors, **lambdas)

    def variants():
        found = [(NOOBJ_EVERYWHERE, dict(noobj="all")), (NO_SQRT, dict(sqrt=False)),
                 (NO_ANCHOR, dict(sizes="exp")), (SIGMOID_SIZES, dict(sizes="sigmoid")),
                 (NO_SOFTMAX, dict(classes="raw")), (SIGMOID_CLASSES, dict(classes="sigmoid")),
                 (CLASS_EVERYWHERE, dict(class_mask=False)), (COORD_EVERYWHERE, dict(coord_mask=False)),
                 (NO_MEAN, dict(mean=False))]
        out = [Variant(hint, {"loss": loss_reference(raw, target, anchors, **lambdas, **kw)}) for hint, kw in found]
        lc, ln = lambdas.get("lambda_coord", 5.0), lambdas.get("lambda_noobj", 0.5)
        if lc != 1.0:
            out.append(Variant(NO_LAMBDA_COORD, {"loss": loss_reference(raw, target, anchors, 1.0, ln)}))
        if ln != 1.0:
            out.append(Variant(NO_LAMBDA_NOOBJ, {"loss": loss_reference(raw, target, anchors, lc, 1.0)}))
        if lambdas:
            out.append(Variant(LAMBDA_FIXED, {"loss": loss_reference(raw, target, anchors)}))
        return out

    def inspect(got):
        if got.get("type of the result") in ("float", "float32", "float64", "ndarray", "int"):
            return NOT_TENSOR
        if got.get("type of the result") == "Tensor" and got.get(GRAD) is None:
            return DETACHED
        return None

    shown = "".join(f", {k}={v}" for k, v in lambdas.items())
    return Case(
        args=[], dtype=np.float32, note=note, tol=(1e-4, 1e-5),
        describe=f"raw and target of shape {raw.shape} (N={n}, S={S}, B={B}, C={C}), anchors {np.round(anchors, 3).tolist()}"
                 f"{shown}, {int(target.reshape(n, S, S, B, -1)[..., 0].sum())} object slots",
        outputs=[Out("type of the result", "Tensor", kind="exact"), Out("loss", np.float64(expected), "scalar"),
                 Out(GRAD, loss_gradient(raw, target, anchors, **lambdas).astype(np.float32))],
        call=lambda fn, _values: _run(fn, raw, target, anchors, lambdas),
        variants=variants, inspect=inspect, hint=FORMULA,
    )


@forbids(*TORCH_FORBIDDEN)
def yolo_loss(func, hidden=False, seed=0):
    """Check ``yolo_loss(raw, target, anchors, lambda_coord=5.0, lambda_noobj=0.5)``: a scalar
    tensor equal to YOLOv1's sum-squared loss of the activated outputs (module docstring)."""
    __tracebackhide__ = True
    own_work("yolo_loss", func, TORCH_FORBIDDEN)
    rng = np.random.default_rng(seed if hidden else 8086)
    if not hidden:
        specs = [((1, 2, 1, 2, 1), {}, "one image, a 2×2 grid, one anchor, one object"),
                 ((2, 3, 2, 3, 3), {}, "two images, two anchors, three objects each"),
                 ((3, 4, 3, 4, 5), {"lambda_coord": 2.0, "lambda_noobj": 0.25}, "other λ values")]
    else:
        specs = []
        for j in range(4):
            S, B, C = int(rng.integers(2, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 5))
            lambdas = {} if j % 2 == 0 else {"lambda_coord": float(rng.uniform(1.5, 6)),
                                              "lambda_noobj": float(rng.uniform(0.1, 0.9))}
            specs.append(((int(rng.integers(1, 5)), S, B, C, int(rng.integers(1, S * S * B))), lambdas, ""))
    cases = []
    for (n, S, B, C, objects), lambdas, note in specs:
        raw, target, anchors = random_batch(rng, n, S, B, C, objects)
        cases.append(_case(raw, target, anchors, lambdas, note))
    run_check("yolo_loss", func, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)
