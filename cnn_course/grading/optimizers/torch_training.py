"""Check of section 14: a PyTorch training loop with torch.optim.Adam and a learning-rate scheduler.

The student writes ``train_adam(model, X, y, epochs, batch_size, lr0, decay_rate, betas, eps)``:
mini-batch Adam over consecutive mini-batches (no shuffling), the learning rate of epoch e
being lr0 / (1 + decay_rate·e) (a ``torch.optim.lr_scheduler``, stepped once per epoch), and
the list of the mini-batches' losses returned. The check hands it a small ReLU network with
fixed weights (built on the student's side through the probes) and compares the losses and
the trained weights with the notebook's NumPy Adam (``ref.adam_update`` through
``ref.update_parameters``) and inverse-time decay (``ref.lr_scheduled``) on the same batches:
float32 PyTorch and float64 NumPy agree to about 1e-6 here, the bugs below differ by 1e-2 and
more. Known mistakes are recomputed with the same NumPy loop, changed the way the bug changes
it (the scheduler stepped per batch, before the optimizer or never; no zero_grad; the default
betas and eps instead of the given ones; ...).
"""

from __future__ import annotations

import numpy as np

from ..core import TORCH_FORBIDDEN, Case, Out, Variant, forbids, reference, run_check
from ..probes import kernel
from ..pytorch import random_weights

STEP_HINT = ("create torch.optim.Adam(model.parameters(), lr=lr0, betas=betas, eps=eps) and a scheduler that "
             "multiplies lr0 by 1 / (1 + decay_rate·epoch), e.g. torch.optim.lr_scheduler.LambdaLR(optimizer, "
             "lambda epoch: 1 / (1 + decay_rate * epoch)); then for every epoch, for every consecutive mini-batch "
             "X[k:k + batch_size]: optimizer.zero_grad(), loss = F.cross_entropy(model(X_b), y_b), loss.backward(), "
             "optimizer.step(), losses.append(loss.item()); and after the epoch's last mini-batch, scheduler.step().")

_NAMES = ("W1", "b1", "W2", "b2")


def _numpy_adam(weights, X, y, *, epochs, batch_size, lr0, decay_rate, betas, eps, mode="right"):
    """The notebook's NumPy Adam and inverse-time decay on the same network and batches, or
    a known mistake (``mode``): the losses of the mini-batches and the weights at the end."""
    optim, mlp = reference("optim"), reference("mlp")
    params = {k: np.asarray(w, dtype=np.float64) for k, w in zip(_NAMES, weights)}
    states = optim.init_states(params, "adam")
    b1, b2 = betas
    if mode == "defaults":
        b1, b2, eps = 0.9, 0.999, 1e-8
    elif mode == "betas_swapped":
        b1, b2 = b2, b1
    losses, total, step = [], None, 0
    for epoch in range(epochs):
        for start in range(0, len(X), batch_size):
            X_b, y_b = np.asarray(X[start:start + batch_size], dtype=np.float64), y[start:start + batch_size]
            cost, grads = mlp.mlp_loss(X_b, y_b, params)
            if mode == "no_zero_grad" or (mode == "zero_grad_per_epoch" and start > 0):
                grads = {k: total[k] + g for k, g in grads.items()} if total is not None else grads
            total = grads
            counter = {"per_batch": step, "no_scheduler": 0, "before": epoch + 1,
                       "before_per_batch": step + 1}.get(mode, epoch)
            lr = optim.lr_scheduled(lr0, counter, decay_rate)
            params, states = optim.update_parameters(params, grads, states, "adam", lr=lr, beta1=b1, beta2=b2,
                                                     eps=eps)
            losses.append(float(cost))
            step += 1
    return losses, [params[k].astype(np.float32) for k in _NAMES]


MISTAKES = [
    ("per_batch", "the learning rate decays once per epoch: call scheduler.step() after the last mini-batch of "
                  "each epoch, not after every mini-batch (yours decayed at every step)."),
    ("no_scheduler", "the learning rate never decayed: create a torch.optim.lr_scheduler for the optimizer and "
                     "call scheduler.step() once at the end of every epoch."),
    ("before", "your learning rates are one epoch ahead: scheduler.step() comes after the epoch's "
               "optimizer.step() calls (the first epoch uses lr0); calling it before them skips lr0."),
    ("before_per_batch", "call scheduler.step() once per epoch, after that epoch's optimizer.step() calls, not "
                         "before every optimizer.step()."),
    ("no_zero_grad", "the gradients of earlier mini-batches were still there: backward() adds to .grad, so call "
                     "optimizer.zero_grad() before every loss.backward()."),
    ("zero_grad_per_epoch", "the gradients of the epoch's earlier mini-batches were still there: call "
                            "optimizer.zero_grad() before every loss.backward(), not once per epoch."),
    ("defaults", "use the betas and eps you were given: torch.optim.Adam(..., betas=betas, eps=eps); yours ran "
                 "with Adam's defaults (0.9, 0.999) and 1e-8."),
    ("betas_swapped", "betas=(β1, β2): β1 (for the average of the gradients) comes first, β2 (for the average of "
                      "their squares) second; you swapped them."),
]


def _experiment(fn, spec):
    """Build the network on the student's side, load the weights, run ``train_adam`` and read
    back what the check compares: (result type, type of each loss, losses, trained weights)."""
    k = kernel(fn)
    n0, h, C = spec["dims"]
    model = k.sequential(("Linear", (n0, h)), ("ReLU",), ("Linear", (h, C)))
    k.set_parameters(model, spec["weights"])
    X, y = k.tensor(spec["X"], "float32"), k.tensor(spec["y"], "int64")
    result, type_name = k.call(fn, model, X, y, **spec["hyper"])
    if isinstance(result, (list, tuple)):
        # a tensor comes back from the kernel as a NumPy copy: name both
        kinds = sorted({"float" if isinstance(v, float) else "tensor or NumPy array" if isinstance(v, np.ndarray)
                        else type(v).__name__ for v in result})
        entries = ", ".join(kinds) if kinds else "float"
    else:
        entries = "(not a list)"
    return type_name, entries, result, k.parameters(model)


FIRST_LOSS_HINT = ("your very first loss is already different, before any update could matter: it must be the mean "
                   "cross-entropy of the model's logits on the first mini-batch, X[0:batch_size] and y[0:batch_size] "
                   "(consecutive examples, no shuffling), computed before optimizer.step() (the loss the step was "
                   "computed from, loss.item() of the loss you called backward() on).")


def _inspect(hyper, n_steps, first_loss):
    def inspect(got):
        result, entries = got.get("losses"), got.get("the type of each loss")
        if got.get("the type of the result") != "list":
            return "return a list (losses = [] before the loops, losses.append(...) at every step)."
        if entries != "float":
            return ("append loss.item(), a Python float, not the loss tensor itself (a tensor keeps the whole "
                    "computation graph of its step alive).")
        if isinstance(result, (list, tuple)) and len(result) == hyper["epochs"] != n_steps:
            return (f"return one loss per mini-batch step ({n_steps} here: {hyper['epochs']} epochs of "
                    f"{n_steps // hyper['epochs']} mini-batches), not one per epoch.")
        if isinstance(result, (list, tuple)) and len(result) != n_steps:
            return (f"every epoch goes through all the mini-batches X[k:k + batch_size] for k = 0, batch_size, "
                    f"2·batch_size, ... (the last one may be smaller): {n_steps} steps in all, one loss each.")
        if isinstance(result, (list, tuple)) and result and abs(result[0] - first_loss) > 1e-4 * max(1.0, first_loss):
            return FIRST_LOSS_HINT
        return None

    return inspect


def _case(rng, dims, m, hyper, note=""):
    n0, h, C = dims
    weights = random_weights([(h, n0), (h,), (C, h), (C,)], rng, scale=1.0)
    X = rng.standard_normal((m, n0)).astype(np.float32)
    y = rng.integers(0, C, size=m).astype(np.int64)
    losses, params = _numpy_adam(weights, X, y, **hyper)
    spec = {"dims": dims, "weights": weights, "X": X, "y": y, "hyper": hyper}

    def variants():
        out = []
        for mode, hint in MISTAKES:
            v_losses, v_params = _numpy_adam(weights, X, y, mode=mode, **hyper)
            out.append(Variant(hint, {"losses": v_losses, "weights after training": v_params}))
        return out

    bs = hyper["batch_size"]
    n_batches = -(-m // bs)
    shown = ", ".join(f"{k}={v}" for k, v in hyper.items())
    return Case(
        args=[("X", X), ("y", y)], dtype=np.float32, note=note, hint=STEP_HINT, variants=variants,
        describe=(f"a {n0} → {h} → {C} ReLU network with fixed weights, X.shape=({m}, {n0}), {shown} "
                  f"({n_batches} mini-batches per epoch, {hyper['epochs'] * n_batches} steps)"),
        outputs=[Out("the type of the result", "list", kind="exact"),
                 Out("the type of each loss", "float", kind="exact"),
                 Out("losses", losses, kind="list"),
                 Out("weights after training", params, kind="list")],
        call=lambda fn, values: _experiment(fn, spec), inspect=_inspect(hyper, hyper["epochs"] * n_batches, losses[0]),
        exception_hint=lambda exc, line: STEP_HINT,
    )


@forbids(*TORCH_FORBIDDEN)
def train_adam(func, hidden=False, seed=0):
    """Check ``train_adam(model, X, y, epochs, batch_size, lr0, decay_rate, betas=(0.9, 0.999), eps=1e-8)``
    -> the list of the mini-batch losses, against the notebook's NumPy Adam with inverse-time decay."""
    __tracebackhide__ = True
    if not hidden:
        rng = np.random.default_rng(14)
        cases = [_case(rng, (4, 6, 3), 12, dict(epochs=3, batch_size=4, lr0=0.05, decay_rate=1.0, betas=(0.9, 0.999),
                                                 eps=1e-8),
                       "3 epochs of 3 mini-batches, learning rates 0.05, 0.025, 0.0167, Adam's default betas and eps"),
                 _case(rng, (3, 5, 2), 10, dict(epochs=2, batch_size=4, lr0=0.1, decay_rate=0.5, betas=(0.8, 0.95),
                                                 eps=1e-3),
                       "a last, smaller mini-batch of 2 examples; other betas and eps")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for _ in range(6):
            dims = (int(rng.integers(2, 7)), int(rng.integers(3, 9)), int(rng.integers(2, 5)))
            m = int(rng.choice([8, 12, 15, 20]))
            hyper = dict(epochs=int(rng.integers(2, 5)), batch_size=int(rng.choice([3, 4, 5, 8])),
                         lr0=float(rng.choice([0.01, 0.05, 0.1])), decay_rate=float(rng.choice([0.3, 0.5, 1.0, 2.0])),
                         betas=(float(rng.choice([0.7, 0.8, 0.9])), float(rng.choice([0.9, 0.95, 0.99]))),
                         eps=float(rng.choice([1e-8, 1e-6, 1e-3, 0.1])))
            cases.append(_case(rng, dims, m, hyper))
    run_check("train_adam", func, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)
