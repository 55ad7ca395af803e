"""A small fully connected network in NumPy, for the demos of initialisation, L2, dropout
and the optimizers.

Shapes (batch-first rows; m examples, layer sizes [n0, n1, ..., nL]):

    X       (m, n0)              inputs
    W{l}    (n_l, n_{l-1})       weights (as torch.nn.Linear.weight), b{l} (n_l,)
    Z{l}    (m, n_l)             Z{l} = A{l-1} @ W{l}.T + b{l}, with A{0} = X
    A{l}    (m, n_l)             act(Z{l}) for the hidden layers l < L (relu, tanh or sigmoid),
                                 then inverted dropout when keep_prob < 1
    Z{L}    (m, nL)              the logits; softmax and the cross-entropy live in the loss

``train_mlp`` trains such a network with the update rules of ``cnn_course.ref.optim``.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from .dropout import _check_keep_prob, dropout_backward, dropout_forward
from .init import _check_dim, _check_rng, initialize_parameters
from .losses import _check_labels, l2_cost, l2_grads, softmax_cross_entropy

__all__ = [
    "ACTIVATIONS",
    "OPTIMIZERS",
    "MLPCache",
    "mlp_accuracy",
    "mlp_backward",
    "mlp_forward",
    "mlp_loss",
    "mlp_predict",
    "train_mlp",
]

#: Hidden-layer activations of :func:`mlp_forward`.
ACTIVATIONS = ("relu", "tanh", "sigmoid")
#: Update rules of :func:`train_mlp` and the default learning rate of each.
OPTIMIZERS = {"gd": 0.01, "momentum": 0.01, "rmsprop": 0.001, "adam": 0.001}


class MLPCache(NamedTuple):
    """What ``mlp_forward`` keeps for ``mlp_backward`` (lists indexed by layer l - 1).

    inputs: A{l-1} (m, n_{l-1}) fed to layer l; weights: W{l}; hidden: act(Z{l}) before dropout
    for l < L; masks: the dropout masks (None without dropout); activation; keep_prob.
    """

    inputs: list
    weights: list
    hidden: list
    masks: list
    activation: str
    keep_prob: float


def _check_activation(activation) -> str:
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    return activation


def _check_X(X) -> np.ndarray:
    if not isinstance(X, np.ndarray):
        raise TypeError(f"X must be a NumPy array of shape (m, n0), got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D with shape (m, n0) (one row per example), got shape {X.shape}")
    if X.dtype.kind != "f":
        raise TypeError(f"X must have a floating-point dtype (float32 or float64), got {X.dtype}")
    return X


def _layers(params, n0: int) -> int:
    """Number of layers L of params {"W1", "b1", ..., "WL", "bL"} after checking their shapes."""
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict {{'W1': ..., 'b1': ..., ...}}, got {type(params).__name__}")
    L = 0
    while f"W{L + 1}" in params:
        L += 1
    if L == 0:
        raise ValueError(f"params must hold the weights W1, ..., WL (and biases b1, ..., bL), got keys {list(params)}")
    n_prev = n0
    for layer in range(1, L + 1):
        W, b = params[f"W{layer}"], params.get(f"b{layer}")
        if not isinstance(W, np.ndarray) or W.ndim != 2 or W.dtype.kind != "f":
            raise ValueError(f"W{layer} must be a 2-D float array of shape (n{layer}, n{layer - 1})")
        if W.shape[1] != n_prev:
            raise ValueError(
                f"W{layer} must have shape (n{layer}, {n_prev}) to take the {n_prev} features of the previous "
                f"layer (X has n0 = {n0}), got {W.shape}"
            )
        if not isinstance(b, np.ndarray) or b.shape != (W.shape[0],):
            raise ValueError(f"b{layer} must be an array of shape ({W.shape[0]},) to match W{layer} {W.shape}")
        n_prev = W.shape[0]
    return L


def _act(Z, activation):
    if activation == "relu":
        return np.maximum(Z, 0)
    if activation == "tanh":
        return np.tanh(Z)
    return 0.5 * (1 + np.tanh(0.5 * Z))  # the sigmoid 1 / (1 + e^-Z), without overflow


def _act_backward(dH, H, activation):
    """dZ from dH for H = act(Z): relu' = [H > 0], tanh' = 1 - H², sigmoid' = H (1 - H)."""
    if activation == "relu":
        return dH * (H > 0)
    if activation == "tanh":
        return dH * (1 - H * H)
    return dH * H * (1 - H)


def mlp_forward(X, params, activation="relu", keep_prob=1.0, rng=None):
    """Forward pass: hidden layers Linear -> act -> dropout, last layer Linear (the logits).

    X: (m, n0) float; params: {"W1": (n1, n0), "b1": (n1,), ..., "WL": (nL, n_{L-1}), "bL": (nL,)};
    activation: "relu", "tanh" or "sigmoid"; keep_prob: keep probability of inverted dropout on the hidden
    activations (1.0 = no dropout); rng: ``numpy.random.Generator`` for the masks (needed only
    when keep_prob < 1; one ``rng.random`` draw per hidden layer, layer 1 first).
    Returns ``(Z_L, cache)``: Z_L (m, nL) the logits; cache an :class:`MLPCache`.
    """
    X = _check_X(X)
    L = _layers(params, X.shape[1])
    activation = _check_activation(activation)
    keep_prob = _check_keep_prob(keep_prob)
    if keep_prob < 1 and L > 1:
        _check_rng(rng)
    cache = MLPCache([], [], [], [], activation, keep_prob)
    A = X
    for layer in range(1, L + 1):
        W, b = params[f"W{layer}"], params[f"b{layer}"]
        cache.inputs.append(A)
        cache.weights.append(W)
        Z = A @ W.T + b
        if layer == L:
            return Z, cache
        H = _act(Z, activation)
        A, mask = dropout_forward(H, keep_prob, rng) if keep_prob < 1 else (H, None)
        cache.hidden.append(H)
        cache.masks.append(mask)


def mlp_backward(dZ_L, cache):
    """Backward pass of :func:`mlp_forward`.

    dZ_L: (m, nL) gradient of the cost with respect to the logits; cache: the forward's cache.
    Returns grads {"dW1": (n1, n0), "db1": (n1,), ..., "dWL", "dbL"} shaped like the params.
    """
    if not isinstance(cache, MLPCache):
        raise TypeError(f"cache must be the MLPCache returned by mlp_forward, got {type(cache).__name__}")
    L = len(cache.weights)
    m, nL = cache.inputs[0].shape[0], cache.weights[-1].shape[0]
    if not isinstance(dZ_L, np.ndarray) or dZ_L.shape != (m, nL):
        raise ValueError(f"dZ_L must be an array of shape (m, nL) = ({m}, {nL}), got {np.shape(dZ_L)}")
    grads = {}
    dZ = dZ_L
    for layer in range(L, 0, -1):
        A_prev, W = cache.inputs[layer - 1], cache.weights[layer - 1]
        grads[f"dW{layer}"] = dZ.T @ A_prev
        grads[f"db{layer}"] = dZ.sum(axis=0)
        if layer > 1:
            dA = dropout_backward(dZ @ W, cache.masks[layer - 2], cache.keep_prob)
            dZ = _act_backward(dA, cache.hidden[layer - 2], cache.activation)
    return {k: grads[k] for layer in range(1, L + 1) for k in (f"dW{layer}", f"db{layer}")}


def mlp_loss(X, y, params, lambd=0.0, activation="relu", keep_prob=1.0, rng=None):
    """Cost and gradients of the network: mean softmax cross-entropy + (λ / 2m) Σ ‖W{l}‖².

    X: (m, n0), y: (m,) integer labels, params as in :func:`mlp_forward`; lambd: λ >= 0.
    Returns ``(cost, grads)``: cost a Python float, grads {"dW1": ..., "db1": ..., ...}.
    """
    Z, cache = mlp_forward(X, params, activation, keep_prob, rng)
    m = X.shape[0]
    cross_entropy, dZ = softmax_cross_entropy(Z, y)
    grads = l2_grads(mlp_backward(dZ, cache), params, lambd, m)
    return cross_entropy + l2_cost(params, lambd, m), grads


def mlp_predict(X, params, activation="relu"):
    """Predicted class of every example (no dropout): X (m, n0) -> labels (m,) int64."""
    Z, _ = mlp_forward(X, params, activation)
    return Z.argmax(axis=1).astype(np.int64)


def mlp_accuracy(X, y, params, activation="relu") -> float:
    """Fraction of the m examples whose predicted class equals y (a float in [0, 1])."""
    Z, _ = mlp_forward(X, params, activation)
    y = _check_labels(y, *Z.shape)
    return float(np.mean(Z.argmax(axis=1) == y))


def _hyper(optimizer, lr, beta, beta1, beta2, eps) -> dict:
    if optimizer == "gd":
        return {"lr": lr}
    if optimizer == "momentum":
        return {"lr": lr, "beta": beta}
    if optimizer == "rmsprop":
        return {"lr": lr, "beta": beta, "eps": eps}
    return {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps}


def _check_lr(lr, optimizer) -> float:
    if lr is None:
        return OPTIMIZERS[optimizer]
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    return float(lr)


def train_mlp(X, y, layer_dims, *, method="he", optimizer="gd", lr=None, epochs=1000, batch_size=None,
              lambd=0.0, keep_prob=1.0, seed=0, beta=0.9, beta1=0.9, beta2=0.999, eps=1e-8, decay=None,
              record_every=100, activation="relu", scale=0.01):
    """Train a fully connected classifier with mini-batch gradient descent or one of its variants.

    X: (m, n0) float, y: (m,) integer labels in 0..nL-1; layer_dims: [n0, ..., nL].
    method: initialisation (see ``cnn_course.ref.init``, ``scale`` for "random");
    optimizer: "gd", "momentum", "rmsprop" or "adam" (the rules of ``cnn_course.ref.optim``);
    lr: learning rate (None: 0.01 for gd/momentum, 0.001 for rmsprop/adam); beta (momentum,
    rmsprop), beta1, beta2, eps (adam, eps also rmsprop): the rules' hyperparameters.
    epochs: passes over the data; batch_size: None for full-batch steps (the data in its
    order), else mini-batches of ``ref.optim.random_mini_batches`` reshuffled every epoch.
    lambd: L2 strength; keep_prob: dropout on hidden layers (1.0 = none); activation: "relu"/"tanh"/"sigmoid".
    decay: None or a function ``decay(lr0, epoch) -> lr`` (epoch counts from 0), e.g.
    ``functools.partial(ref.lr_inverse_time, decay_rate=1.0)``.
    Randomness: one ``np.random.default_rng(seed)`` draws, in order, the initial weights, then
    per epoch the shuffle (when batch_size is set) and per step the dropout masks.
    Returns ``(params, costs)``: the trained params dict and a list of floats, the cost of
    epochs 0, record_every, 2·record_every, ... (mean over the epoch's mini-batches, weighted
    by their sizes; it includes the L2 term).
    """
    from . import optim  # written alongside this module; imported when training starts

    X = _check_X(X)
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {tuple(OPTIMIZERS)}, got {optimizer!r}")
    lr0 = _check_lr(lr, optimizer)
    epochs = _check_dim(epochs, "epochs")
    record_every = _check_dim(record_every, "record_every")
    if batch_size is not None:
        batch_size = _check_dim(batch_size, "batch_size")
    if decay is not None and not callable(decay):
        raise TypeError(f"decay must be None or a function decay(lr0, epoch) -> lr, got {type(decay).__name__}")
    rng = np.random.default_rng(seed)
    params = initialize_parameters(layer_dims, method, rng, scale=scale, dtype=X.dtype)
    _check_labels(y, X.shape[0], int(layer_dims[-1]))
    if X.shape[1] != layer_dims[0]:
        raise ValueError(f"X must have layer_dims[0] = {layer_dims[0]} features (columns), got shape {X.shape}")
    states = optim.init_states(params, optimizer)
    costs = []
    for epoch in range(epochs):
        lr_epoch = lr0 if decay is None else float(decay(lr0, epoch))
        hyper = _hyper(optimizer, lr_epoch, beta, beta1, beta2, eps)
        batches = [(X, y)] if batch_size is None else optim.random_mini_batches(X, y, batch_size, rng)
        total = 0.0
        for X_b, y_b in batches:
            cost, grads = mlp_loss(X_b, y_b, params, lambd, activation, keep_prob, rng)
            total += cost * X_b.shape[0]
            params, states = optim.update_parameters(params, grads, states, optimizer, **hyper)
        if epoch % record_every == 0:
            costs.append(total / X.shape[0])
    return params, costs
