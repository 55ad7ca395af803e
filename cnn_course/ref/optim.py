"""Optimisation algorithms in NumPy: mini-batches, moving averages, update rules, schedules.

Everything here works on plain arrays, one parameter at a time:

    w, dw      any shape (the same for both), float32 or float64; results keep w's dtype
    state      a dict of arrays shaped like w, made by the rule's ``*_init(w)``

Update rules (lr = α, β's as in the course):

    gd        w ← w − α·dw
    momentum  v ← β·v + (1−β)·dw;                       w ← w − α·v
    rmsprop   s ← β·s + (1−β)·dw²;                      w ← w − α·dw / (√s + ε)
    adam      t ← t + 1;  v ← β1·v + (1−β1)·dw;  s ← β2·s + (1−β2)·dw²
              v̂ = v / (1−β1^t),  ŝ = s / (1−β2^t);      w ← w − α·v̂ / (√ŝ + ε)

Adam keeps momentum's v (the average of the gradients, the "first moment") and RMSProp's s
(the average of their squares, the "second moment") under the same names; Kingma & Ba's
paper writes m for our v and v for our s, torch's ``Adam`` state calls them ``exp_avg`` and
``exp_avg_sq``. ε sits outside the square root, as in ``torch.optim.RMSprop`` and
``torch.optim.Adam``.
Every update returns a new array and a new state dict: the caller's ``w``, ``dw`` and state
arrays are never written to, so a state can be kept to compare or replay steps.

Also here: ``random_mini_batches`` (one shuffle, then consecutive slices), ``ewa`` (the
exponentially weighted average behind momentum and Adam), four learning-rate decays,
log-scale hyperparameter samplers, and a small ill-conditioned quadratic with
``optimize_path`` for drawing the paths the rules take.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _validate as v

__all__ = [
    "ILL_CONDITIONED_KAPPA",
    "ILL_CONDITIONED_START",
    "RULES",
    "adam_init",
    "adam_update",
    "ewa",
    "gd_update",
    "ill_conditioned",
    "init_states",
    "lr_exponential",
    "lr_inverse_sqrt",
    "lr_inverse_time",
    "lr_scheduled",
    "momentum_init",
    "momentum_update",
    "optimize_path",
    "random_mini_batches",
    "rmsprop_init",
    "rmsprop_update",
    "sample_beta",
    "sample_log_uniform",
    "update_parameters",
]


# ----------------------------------------------------------------------------------------
# Small private checks
# ----------------------------------------------------------------------------------------


def _real(value, name: str) -> float:
    """A finite real number (bools rejected), returned as a Python float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r} ({type(value).__name__})")
    return float(value)


def _check_lr(lr) -> float:
    lr = _real(lr, "lr")
    if lr < 0:
        raise ValueError(f"lr must be >= 0, got {lr}")
    return lr


def _check_beta(beta, name: str = "beta") -> float:
    beta = _real(beta, name)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"{name} must satisfy 0 <= {name} < 1, got {beta}")
    return beta


def _check_eps(eps) -> float:
    eps = _real(eps, "eps")
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    return eps


def _check_rng(rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "rng must be a numpy.random.Generator, e.g. np.random.default_rng(0), "
            f"got {type(rng).__name__}"
        )


def _check_w_dw(w, dw) -> tuple[np.ndarray, np.ndarray]:
    """w and dw as float arrays of the same shape (no copies made)."""
    w, dw = np.asarray(w), np.asarray(dw)
    v.check_float(w, "w")
    v.check_float(dw, "dw")
    v.check_same_shape(dw, w.shape, "dw (the gradient of w)")
    return w, dw


def _state_array(state, key: str, w: np.ndarray, init: str) -> np.ndarray:
    if not isinstance(state, dict) or key not in state:
        raise ValueError(f"state must be the dict returned by {init}(w) (with key {key!r}), got {state!r}")
    a = np.asarray(state[key])
    v.check_same_shape(a, w.shape, f"state[{key!r}]")
    return a


# ----------------------------------------------------------------------------------------
# Mini-batches and moving averages
# ----------------------------------------------------------------------------------------


def random_mini_batches(X, y, batch_size=64, rng=None):
    """Shuffle the examples once, then cut them into consecutive mini-batches.

    X: (m, ...) batch-first examples (any trailing shape), y: (m, ...) labels (usually (m,)).
    Returns a list of ``ceil(m / batch_size)`` pairs ``(X_b, y_b)`` with X_b (b, ...) and
    y_b (b, ...): every batch holds ``batch_size`` examples except possibly the last,
    which keeps the m mod batch_size left-over ones. Each example appears exactly once.

    The shuffle is ``perm = rng.permutation(m)``, the one and only draw from ``rng`` (a
    ``numpy.random.Generator``, required): the same generator state gives the same batches.
    """
    _check_rng(rng)
    batch_size = v.check_positive_int(batch_size, "batch_size")
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim < 1 or y.ndim < 1:
        raise ValueError(f"X and y must have a leading example axis (m, ...), got shapes {X.shape} and {y.shape}")
    m = X.shape[0]
    if y.shape[0] != m:
        raise ValueError(f"X and y must hold the same number of examples, got len(X)={m} and len(y)={y.shape[0]}")
    perm = rng.permutation(m)
    X_shuffled, y_shuffled = X[perm], y[perm]
    return [(X_shuffled[k:k + batch_size], y_shuffled[k:k + batch_size]) for k in range(0, m, batch_size)]


def ewa(values, beta, bias_correction=True):
    """Exponentially weighted average of a sequence θ_1, ..., θ_T (along axis 0).

    values: (T,) or (T, ...), float or integer; returns a float array of the same shape
    (float64 for integer input) holding v_1, ..., v_T where

        v_0 = 0,   v_t = β·v_{t−1} + (1−β)·θ_t,   and with bias correction v_t / (1 − β^t).

    v_t averages roughly the last 1/(1−β) values. Because v_0 = 0, the early v_t are too
    small (v_1 = (1−β)·θ_1); dividing by 1 − β^t, the total weight given so far, removes
    that bias: the corrected average of a constant sequence is the constant at every t.
    """
    beta = _check_beta(beta)
    values = np.asarray(values)
    if values.ndim < 1:
        raise ValueError("values must be a sequence with time on axis 0, shape (T, ...), got a scalar")
    if values.dtype.kind not in "biuf":
        raise ValueError(f"values must be numbers, got dtype {values.dtype}")
    dtype = values.dtype if values.dtype.kind == "f" else np.float64
    out = np.empty(values.shape, dtype=dtype)
    avg = np.zeros(values.shape[1:], dtype=dtype)
    for t in range(values.shape[0]):
        avg = beta * avg + (1 - beta) * values[t]
        out[t] = avg / (1 - beta ** (t + 1)) if bias_correction else avg
    return out


# ----------------------------------------------------------------------------------------
# Update rules
# ----------------------------------------------------------------------------------------


def gd_update(w, dw, lr):
    """One step of plain gradient descent: w − lr·dw.

    w, dw: same shape, float; returns a new array with w's dtype.
    """
    w, dw = _check_w_dw(w, dw)
    lr = _check_lr(lr)
    return (w - lr * dw).astype(w.dtype, copy=False)


def momentum_init(w):
    """State of gradient descent with momentum for a parameter w: {"v": zeros like w}."""
    w = np.asarray(w)
    v.check_float(w, "w")
    return {"v": np.zeros_like(w)}


def momentum_update(w, dw, state, lr=0.01, beta=0.9):
    """One step of gradient descent with momentum (the course's form).

    v ← β·v + (1−β)·dw, then w ← w − lr·v. w, dw: same shape; state: {"v": shape of w}.
    Returns ``(w_next, new_state)``; the inputs are not modified.
    """
    w, dw = _check_w_dw(w, dw)
    lr, beta = _check_lr(lr), _check_beta(beta)
    vel = _state_array(state, "v", w, "momentum_init")
    vel = (beta * vel + (1 - beta) * dw).astype(w.dtype, copy=False)
    w_next = (w - lr * vel).astype(w.dtype, copy=False)
    return w_next, {"v": vel}


def rmsprop_init(w):
    """State of RMSProp for a parameter w: {"s": zeros like w}."""
    w = np.asarray(w)
    v.check_float(w, "w")
    return {"s": np.zeros_like(w)}


def rmsprop_update(w, dw, state, lr=0.001, beta=0.9, eps=1e-8):
    """One step of RMSProp.

    s ← β·s + (1−β)·dw², then w ← w − lr·dw / (√s + ε), with ε outside the root like
    ``torch.optim.RMSprop(alpha=beta, eps=eps)``. w, dw: same shape; state: {"s": shape of w}.
    Returns ``(w_next, new_state)``; the inputs are not modified.
    """
    w, dw = _check_w_dw(w, dw)
    lr, beta, eps = _check_lr(lr), _check_beta(beta), _check_eps(eps)
    s = _state_array(state, "s", w, "rmsprop_init")
    s = (beta * s + (1 - beta) * dw * dw).astype(w.dtype, copy=False)
    w_next = (w - lr * dw / (np.sqrt(s) + eps)).astype(w.dtype, copy=False)
    return w_next, {"s": s}


def adam_init(w):
    """State of Adam for a parameter w: {"v": zeros, "s": zeros (like w), "t": 0}."""
    w = np.asarray(w)
    v.check_float(w, "w")
    return {"v": np.zeros_like(w), "s": np.zeros_like(w), "t": 0}


def adam_update(w, dw, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """One step of Adam: momentum's v and RMSProp's s, both bias-corrected.

    t ← t + 1 (before the corrections, so the first step uses t = 1);
    v ← β1·v + (1−β1)·dw;  s ← β2·s + (1−β2)·dw²;  v̂ = v/(1−β1^t);  ŝ = s/(1−β2^t);
    w ← w − lr·v̂ / (√ŝ + ε)   (ε outside the root, like ``torch.optim.Adam``).

    w, dw: same shape; state: {"v": shape of w, "s": shape of w, "t": int >= 0}
    (v is Kingma & Ba's m, s their v).
    Returns ``(w_next, new_state)``; the inputs are not modified.
    """
    w, dw = _check_w_dw(w, dw)
    lr, eps = _check_lr(lr), _check_eps(eps)
    beta1, beta2 = _check_beta(beta1, "beta1"), _check_beta(beta2, "beta2")
    vel = _state_array(state, "v", w, "adam_init")
    sq = _state_array(state, "s", w, "adam_init")
    t = v.check_nonneg_int(state.get("t"), 'state["t"]') + 1
    vel = (beta1 * vel + (1 - beta1) * dw).astype(w.dtype, copy=False)
    sq = (beta2 * sq + (1 - beta2) * dw * dw).astype(w.dtype, copy=False)
    v_hat = vel / (1 - beta1 ** t)
    s_hat = sq / (1 - beta2 ** t)
    w_next = (w - lr * v_hat / (np.sqrt(s_hat) + eps)).astype(w.dtype, copy=False)
    return w_next, {"v": vel, "s": sq, "t": t}


#: The update rules by name: (init function, update function, accepted hyperparameters).
RULES = {
    "gd": (None, gd_update, ("lr",)),
    "momentum": (momentum_init, momentum_update, ("lr", "beta")),
    "rmsprop": (rmsprop_init, rmsprop_update, ("lr", "beta", "eps")),
    "adam": (adam_init, adam_update, ("lr", "beta1", "beta2", "eps")),
}


def _check_rule(rule):
    if not isinstance(rule, str) or rule not in RULES:
        raise ValueError(f"rule must be one of {tuple(RULES)}, got {rule!r}")
    return RULES[rule]


def _rule(rule, hyper):
    """(init, update) of a rule, after checking that ``hyper`` suits it."""
    init, update, names = _check_rule(rule)
    unknown = sorted(set(hyper) - set(names))
    if unknown:
        raise TypeError(f"rule {rule!r} takes the hyperparameters {names}, got unexpected {unknown}")
    if rule == "gd" and "lr" not in hyper:
        raise TypeError("rule 'gd' needs a learning rate: pass lr=...")
    return init, update


def _step(rule, w, dw, state, hyper):
    init, update = _rule(rule, hyper)
    if init is None:
        return update(w, dw, **hyper), {}
    return update(w, dw, state, **hyper)


def init_states(params, rule):
    """Fresh optimizer states for every parameter: {name: rule's init(params[name])}.

    params: {"W1": ..., "b1": ...}; rule: "gd", "momentum", "rmsprop" or "adam"
    ("gd" keeps no state: every entry is an empty dict).
    """
    init = _check_rule(rule)[0]
    return {name: ({} if init is None else init(w)) for name, w in params.items()}


def update_parameters(params, grads, states, rule, **hyper):
    """Apply one step of ``rule`` to every parameter of a network.

    params: {"W1": (n1, n0), "b1": (n1,), ...}; grads: {"dW1": ..., "db1": ...} shaped like
    params; states: {"W1": state, ...} keyed like params, or None to start from
    ``init_states(params, rule)``. rule: "gd", "momentum", "rmsprop" or "adam"; hyper: that
    rule's keyword arguments (lr, beta, beta1, beta2, eps).
    Returns ``(new_params, new_states)``, new dicts; the given ones are not modified.
    """
    _rule(rule, hyper)
    if not isinstance(params, dict) or not isinstance(grads, dict):
        raise TypeError(f"params and grads must be dicts, got {type(params).__name__} and {type(grads).__name__}")
    if states is None:
        states = init_states(params, rule)
    new_params, new_states = {}, {}
    for name, w in params.items():
        if "d" + name not in grads:
            raise ValueError(f"grads has no entry {'d' + name!r} for parameter {name!r}")
        if name not in states:
            raise ValueError(f"states has no entry for parameter {name!r}: pass init_states(params, {rule!r})")
        new_params[name], new_states[name] = _step(rule, w, grads["d" + name], states[name], hyper)
    return new_params, new_states


# ----------------------------------------------------------------------------------------
# Learning-rate decay
# ----------------------------------------------------------------------------------------


def _epochs(epoch, minimum: int):
    """epoch as a float array (scalar or array input) after checking epoch >= minimum."""
    e = np.asarray(epoch)
    if e.dtype.kind not in "iuf" or not np.all(np.isfinite(e)):
        raise ValueError(f"epoch must be a number or an array of numbers, got {epoch!r}")
    if np.any(e < minimum):
        raise ValueError(f"epoch must be >= {minimum}, got {epoch!r}")
    return e.astype(np.float64)


def _scalar_or_array(x, epoch):
    return float(x) if np.ndim(epoch) == 0 else x


def _check_decay_rate(decay_rate) -> float:
    decay_rate = _real(decay_rate, "decay_rate")
    if decay_rate < 0:
        raise ValueError(f"decay_rate must be >= 0, got {decay_rate}")
    return decay_rate


def lr_inverse_time(lr0, epoch, decay_rate):
    """lr0 / (1 + decay_rate·epoch), epoch = 0, 1, 2, ... (scalar, or an array of epochs)."""
    lr0, decay_rate = _check_lr(lr0), _check_decay_rate(decay_rate)
    e = _epochs(epoch, 0)
    return _scalar_or_array(lr0 / (1 + decay_rate * e), epoch)


def lr_exponential(lr0, epoch, base=0.95):
    """base**epoch · lr0, epoch = 0, 1, 2, ...; base in (0, 1] (scalar, or an array of epochs)."""
    lr0, base = _check_lr(lr0), _real(base, "base")
    if not 0 < base <= 1:
        raise ValueError(f"base must satisfy 0 < base <= 1, got {base}")
    e = _epochs(epoch, 0)
    return _scalar_or_array(base ** e * lr0, epoch)


def lr_inverse_sqrt(lr0, epoch, k=1.0):
    """k / √epoch · lr0 for epoch = 1, 2, 3, ... (epoch 0 would divide by zero)."""
    lr0, k = _check_lr(lr0), _real(k, "k")
    if k <= 0:
        raise ValueError(f"k must be > 0, got {k}")
    e = _epochs(epoch, 1)
    return _scalar_or_array(k / np.sqrt(e) * lr0, epoch)


def lr_scheduled(lr0, epoch, decay_rate, time_interval=1):
    """lr0 / (1 + decay_rate·⌊epoch / time_interval⌋): inverse-time decay applied in steps,
    the rate drops once every ``time_interval`` epochs and stays flat in between (with the
    default time_interval = 1 it is ``lr_inverse_time``)."""
    lr0, decay_rate = _check_lr(lr0), _check_decay_rate(decay_rate)
    time_interval = v.check_positive_int(time_interval, "time_interval")
    e = _epochs(epoch, 0)
    return _scalar_or_array(lr0 / (1 + decay_rate * np.floor(e / time_interval)), epoch)


# ----------------------------------------------------------------------------------------
# Hyperparameter sampling
# ----------------------------------------------------------------------------------------


def sample_log_uniform(low, high, rng, size=None):
    """Sample on a log scale between ``low`` and ``high`` (0 < low <= high).

    r ~ U[log10 low, log10 high] (one ``rng.uniform`` draw), returns 10**r: every decade
    (1e-4..1e-3, 1e-3..1e-2, ...) gets the same share of the samples, which is what a search
    over a learning rate needs. size=None gives a float, otherwise an array of that shape.
    """
    _check_rng(rng)
    low, high = _real(low, "low"), _real(high, "high")
    if not 0 < low <= high:
        raise ValueError(f"need 0 < low <= high, got low={low}, high={high}")
    r = rng.uniform(math.log10(low), math.log10(high), size)
    return 10.0 ** r


def sample_beta(low, high, rng, size=None):
    """Sample an averaging coefficient β between ``low`` and ``high`` (0 <= low <= high < 1).

    β near 1 is where small changes matter (0.999 → 0.9995 halves the noise window of
    1/(1−β) ≈ 1000 examples), so 1−β is sampled on a log scale between 1−high and 1−low:
    r ~ U[log10(1−high), log10(1−low)] (one ``rng.uniform`` draw), returns 1 − 10**r.
    size=None gives a float, otherwise an array of that shape.
    """
    _check_rng(rng)
    low, high = _real(low, "low"), _real(high, "high")
    if not 0 <= low <= high < 1:
        raise ValueError(f"need 0 <= low <= high < 1, got low={low}, high={high}")
    r = rng.uniform(math.log10(1 - high), math.log10(1 - low), size)
    return 1.0 - 10.0 ** r


# ----------------------------------------------------------------------------------------
# A test surface for path pictures
# ----------------------------------------------------------------------------------------

#: Condition number of ``ill_conditioned``: the bowl is this many times steeper along w1.
ILL_CONDITIONED_KAPPA = 20.0
#: A starting point far along the flat direction, a little off the valley floor.
ILL_CONDITIONED_START = np.array([-8.0, 1.5])


def ill_conditioned(w, kappa=ILL_CONDITIONED_KAPPA):
    """An elongated quadratic bowl: f(w) = ½·(w0² + κ·w1²), minimum 0 at w = (0, 0).

    w: (2,) -> (f, grad) with f a float and grad = (w0, κ·w1) of shape (2,).
    The curvatures 1 and κ differ by the factor κ (default 20): a learning rate small enough
    for the steep w1 direction (lr < 2/κ) crawls along the flat w0 direction, and plain
    gradient descent zig-zags across the valley, which momentum, RMSProp and Adam damp.
    """
    w = np.asarray(w, dtype=np.float64)
    v.check_same_shape(w, (2,), "w")
    kappa = _real(kappa, "kappa")
    if kappa <= 0:
        raise ValueError(f"kappa must be > 0, got {kappa}")
    scale = np.array([1.0, kappa])
    return 0.5 * float(np.sum(scale * w * w)), scale * w


def optimize_path(rule, w0, steps, grad_fn=ill_conditioned, **hyper):
    """Run ``steps`` updates of ``rule`` from ``w0`` and return every point visited.

    rule: "gd", "momentum", "rmsprop" or "adam"; w0: (2,) start (any shape works);
    grad_fn(w) -> (f, grad) with grad shaped like w (``ill_conditioned`` by default);
    hyper: the rule's keyword arguments (lr, beta, ...; "gd" needs lr).
    Returns the path, float64 of shape (steps + 1, 2): row 0 is w0, row k the point after k
    updates, ready for ``plt.plot(path[:, 0], path[:, 1])``.
    """
    _rule(rule, hyper)
    steps = v.check_nonneg_int(steps, "steps")
    w = np.array(w0, dtype=np.float64)
    state = init_states({"w": w}, rule)["w"]
    path = np.empty((steps + 1,) + w.shape)
    path[0] = w
    for k in range(1, steps + 1):
        _, grad = grad_fn(w)
        w, state = _step(rule, w, np.asarray(grad, dtype=np.float64), state, hyper)
        path[k] = w
    return path
