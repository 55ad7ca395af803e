"""The course's optimizers as ``torch.optim.Optimizer`` classes, the twin of ``cnn_course.ref.optim``.

``GD``, ``Momentum``, ``RMSProp`` and ``Adam`` apply exactly the update rules of the NumPy
reference (same formulas, same hyperparameter names and defaults) to every parameter of a
model, so they drop into any training loop, e.g.
``fit(model, ..., optimizer=functools.partial(Adam, beta1=0.8))``. Each keeps its state per
parameter under the reference's names ("v"; "s"; "v", "s", "t").

How they relate to torch's own optimizers:

    GD(lr)                     == torch.optim.SGD(lr)
    Momentum(lr, beta)         == torch.optim.SGD(lr * (1 - beta), momentum=beta, dampening=0)
    RMSProp(lr, beta, eps)     == torch.optim.RMSprop(lr, alpha=beta, eps=eps)
    Adam(lr, beta1, beta2, eps) == torch.optim.Adam(lr, betas=(beta1, beta2), eps=eps)

(equal up to floating-point rounding). ``schedule`` wraps the reference's learning-rate
decays in a ``LambdaLR``, and ``random_mini_batches`` is the shuffle-and-slice of the reference
with a ``torch.Generator``.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch.optim.lr_scheduler import LambdaLR

from .. import _validate
from ..ref import optim as _ref

__all__ = ["GD", "Momentum", "RMSProp", "Adam", "lr_lambda", "schedule", "random_mini_batches"]


def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r} ({type(value).__name__})")
    return float(value)


def _check_hyper(lr, eps=None, **betas) -> dict:
    """Validate lr >= 0, 0 <= beta < 1 for each beta, eps > 0; return them as floats."""
    out = {"lr": _real(lr, "lr")}
    if out["lr"] < 0:
        raise ValueError(f"lr must be >= 0, got {lr}")
    for name, beta in betas.items():
        out[name] = _real(beta, name)
        if not 0.0 <= out[name] < 1.0:
            raise ValueError(f"{name} must satisfy 0 <= {name} < 1, got {beta}")
    if eps is not None:
        out["eps"] = _real(eps, "eps")
        if out["eps"] <= 0:
            raise ValueError(f"eps must be > 0, got {eps}")
    return out


class _CourseOptimizer(torch.optim.Optimizer):
    """Shared ``step``: call ``_update(p, grad, state, group)`` for every parameter with a gradient."""

    def __init__(self, params, **hyper):
        super().__init__(params, _check_hyper(**hyper))

    def add_param_group(self, param_group):
        # Groups may override hyperparameters; check those too.
        keys = [k for k in self.defaults if k in param_group]
        _check_hyper(**{k: param_group[k] for k in keys}, **({} if "lr" in keys else {"lr": 0.0}))
        super().add_param_group(param_group)

    @torch.no_grad()
    def step(self, closure=None):
        """Update every parameter that has a ``.grad``; returns closure's loss when given one."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                self._update(p, p.grad, self.state[p], group)
        return loss

    def _update(self, p, grad, state, group):  # pragma: no cover - abstract
        raise NotImplementedError


class GD(_CourseOptimizer):
    """Plain gradient descent, w ← w − lr·dw (``torch.optim.SGD`` without momentum).

    params: an iterable of tensors or of param-group dicts; lr >= 0 (default 0.01).
    """

    def __init__(self, params, lr=0.01):
        super().__init__(params, lr=lr)

    def _update(self, p, grad, state, group):
        p.add_(grad, alpha=-group["lr"])


class Momentum(_CourseOptimizer):
    """Gradient descent with momentum in the course's form (``ref.momentum_update``):

        v ← β·v + (1−β)·dw,   w ← w − lr·v      (v starts at 0; state["v"] per parameter)

    ``torch.optim.SGD(momentum=β, dampening=0)`` keeps instead b ← β·b + dw, starting with
    b = dw on its first step. Both start from "no velocity", so v = (1−β)·b at every step: the
    velocities differ by the constant factor (1−β), which is the same as scaling the learning
    rate. Hence ``Momentum(lr=α, beta=β)`` takes the same steps as
    ``SGD(lr=α·(1−β), momentum=β, dampening=0)``, while with equal learning rates torch's
    steps are 1/(1−β) times larger (10× for β = 0.9). The course form keeps v on the scale
    of a gradient, so a learning rate chosen for plain GD stays sensible when momentum is
    switched on.
    params: tensors or param groups; lr >= 0 (default 0.01), 0 <= beta < 1 (default 0.9).
    """

    def __init__(self, params, lr=0.01, beta=0.9):
        super().__init__(params, lr=lr, beta=beta)

    def _update(self, p, grad, state, group):
        if "v" not in state:
            state["v"] = torch.zeros_like(p)
        v = state["v"]
        beta = group["beta"]
        v.mul_(beta).add_(grad, alpha=1 - beta)
        p.add_(v, alpha=-group["lr"])


class RMSProp(_CourseOptimizer):
    """RMSProp (``ref.rmsprop_update``):

        s ← β·s + (1−β)·dw²,   w ← w − lr·dw / (√s + ε)   (s starts at 0; state["s"])

    ε outside the root: equal to ``torch.optim.RMSprop(lr, alpha=beta, eps=eps)``.
    params: tensors or param groups; lr >= 0 (default 0.001), 0 <= beta < 1 (default 0.9),
    eps > 0 (default 1e-8).
    """

    def __init__(self, params, lr=0.001, beta=0.9, eps=1e-8):
        super().__init__(params, lr=lr, beta=beta, eps=eps)

    def _update(self, p, grad, state, group):
        if "s" not in state:
            state["s"] = torch.zeros_like(p)
        s = state["s"]
        beta = group["beta"]
        s.mul_(beta).addcmul_(grad, grad, value=1 - beta)
        p.addcdiv_(grad, s.sqrt().add_(group["eps"]), value=-group["lr"])


class Adam(_CourseOptimizer):
    """Adam (``ref.adam_update``): momentum's v and RMSProp's s, both bias-corrected,

        t ← t + 1;  v ← β1·v + (1−β1)·dw;  s ← β2·s + (1−β2)·dw²;
        w ← w − lr·v̂ / (√ŝ + ε)  with v̂ = v/(1−β1^t), ŝ = s/(1−β2^t)

    (state["v"], state["s"], state["t"] per parameter, torch's exp_avg, exp_avg_sq and step;
    ε outside the root). Equal to ``torch.optim.Adam(lr, betas=(beta1, beta2), eps=eps)``
    up to rounding.
    params: tensors or param groups; lr >= 0 (default 1e-3), 0 <= beta1, beta2 < 1
    (defaults 0.9, 0.999), eps > 0 (default 1e-8).
    """

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(params, lr=lr, beta1=beta1, beta2=beta2, eps=eps)

    def _update(self, p, grad, state, group):
        if "t" not in state:
            state.update(v=torch.zeros_like(p), s=torch.zeros_like(p), t=0)
        state["t"] += 1
        t, v, s = state["t"], state["v"], state["s"]
        b1, b2 = group["beta1"], group["beta2"]
        v.mul_(b1).add_(grad, alpha=1 - b1)
        s.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        v_hat = v / (1 - b1 ** t)
        s_hat = s / (1 - b2 ** t)
        p.addcdiv_(v_hat, s_hat.sqrt_().add_(group["eps"]), value=-group["lr"])


# ----------------------------------------------------------------------------------------
# Learning-rate schedules
# ----------------------------------------------------------------------------------------

_SCHEDULES = {
    "inverse_time": _ref.lr_inverse_time,
    "exponential": _ref.lr_exponential,
    "inverse_sqrt": _ref.lr_inverse_sqrt,
    "scheduled": _ref.lr_scheduled,
}


def lr_lambda(kind, **kw):
    """The factor lr(epoch) / lr0 of one of the reference decays, as a function of the epoch.

    kind: "inverse_time" (decay_rate), "exponential" (base=0.95), "inverse_sqrt" (k=1.0) or
    "scheduled" (decay_rate, time_interval=1), with those keyword arguments of
    ``cnn_course.ref.optim.lr_<kind>``. Torch schedulers count epochs from 0, so
    "inverse_sqrt", whose formula starts at epoch 1, is evaluated at epoch + 1.
    """
    if not isinstance(kind, str) or kind not in _SCHEDULES:
        raise ValueError(f"kind must be one of {tuple(_SCHEDULES)}, got {kind!r}")
    fn = _SCHEDULES[kind]
    offset = 1 if kind == "inverse_sqrt" else 0
    fn(1.0, offset, **kw)  # fail now, not at the first scheduler step, on bad keywords

    def factor(epoch):
        return fn(1.0, epoch + offset, **kw)

    return factor


def schedule(optimizer, kind, **kw) -> LambdaLR:
    """A ``LambdaLR`` that sets lr = lr0 · lr_lambda(kind, **kw)(epoch) in every param group.

    Call ``scheduler.step()`` once per epoch, after that epoch's optimizer steps; after n
    calls the learning rate is ``ref.lr_<kind>(lr0, n, ...)`` (``n + 1`` for "inverse_sqrt").
    """
    return LambdaLR(optimizer, lr_lambda(kind, **kw))


# ----------------------------------------------------------------------------------------
# Mini-batches
# ----------------------------------------------------------------------------------------


def random_mini_batches(x, y, batch_size=64, generator=None):
    """Shuffle the examples once, then cut them into consecutive mini-batches.

    x: (m, ...) tensor, y: (m, ...) tensor (usually (m,) labels) on the same device.
    Returns a list of ``ceil(m / batch_size)`` pairs (x_b (b, ...), y_b (b, ...)), the last
    one holding the m mod batch_size left-over examples when m is not a multiple.
    The shuffle is one ``torch.randperm(m, generator=generator)`` draw (torch's global
    generator when None); a generator on the CPU gives the same batches on any device.
    """
    batch_size = _validate.check_positive_int(batch_size, "batch_size")
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"x and y must be torch tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.ndim < 1 or y.ndim < 1:
        raise ValueError(f"x and y must have a leading example axis (m, ...), got shapes {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    m = x.shape[0]
    if y.shape[0] != m:
        raise ValueError(f"x and y must hold the same number of examples, got len(x)={m} and len(y)={y.shape[0]}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    perm_device = generator.device if generator is not None else "cpu"
    perm = torch.randperm(m, generator=generator, device=perm_device)
    xs, ys = x[perm.to(x.device)], y[perm.to(y.device)]
    return [(xs[k:k + batch_size], ys[k:k + batch_size]) for k in range(0, m, batch_size)]
