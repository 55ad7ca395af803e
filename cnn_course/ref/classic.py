"""LeNet-5 in NumPy: forward, backward and Adam training, from the course's own layers.

LeCun et al. (1998), on 32x32 grey images; the layers and shapes for a batch of N:

    x        (N, 1, 32, 32)
    conv1    6 filters 5x5, W1 (6, 1, 5, 5), b1 (6,)         -> (N, 6, 28, 28)
    act      tanh (modern: ReLU)
    pool1    2x2, stride 2, average (modern: max)           -> (N, 6, 14, 14)
    conv2    16 filters 5x5, W2 (16, 6, 5, 5), b2 (16,)     -> (N, 16, 10, 10)
    act, pool2                                               -> (N, 16, 5, 5)
    flatten  C-order, like torch.nn.Flatten                  -> (N, 400)
    fc3      W3 (120, 400), b3 (120,), act                   -> (N, 120)
    fc4      W4 (84, 120), b4 (84,), act                     -> (N, 84)
    fc5      W5 (K, 84), b5 (K,)                             -> (N, K) logits

K = num_classes; 61,706 parameters for K = 10. conv2 sees all 6 maps of pool1 (the 1998
paper wired each of its 16 maps to a subset of them, by a connection table). Fully connected
weights are laid out like ``torch.nn.Linear.weight`` (out, in), as in ``cnn_course.ref.mlp``:
Z = A @ W.T + b. The keys W1, b1, ..., W5, b5 follow the order of the torch model's
``named_parameters()`` (conv1, conv2, fc1, fc2, fc3), which is how ``params_to_torch`` and
``params_from_torch`` match them.

The convolutions and the pooling are ``ref.conv2d_*`` and ``ref.pool2d_*``, the activations
those of ``ref.mlp``, the loss ``ref.softmax_cross_entropy``, the optimiser Adam of
``ref.optim`` (``update_parameters(..., "adam")``).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .. import _validate as v
from .conv import conv2d_backward, conv2d_forward
from .losses import _check_labels, softmax_cross_entropy
from .mlp import _act, _act_backward
from .optim import init_states, random_mini_batches, update_parameters
from .pool import pool2d_backward, pool2d_forward

__all__ = [
    "LENET5_KEYS",
    "LeNet5Cache",
    "lenet5_accuracy",
    "lenet5_backward",
    "lenet5_forward",
    "lenet5_init",
    "lenet5_loss",
    "lenet5_train",
    "lenet5_train_step",
    "params_from_torch",
    "params_to_torch",
]

#: Parameter names in the order of the torch model's named_parameters().
LENET5_KEYS = ("W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4", "W5", "b5")


def _shapes(num_classes):
    """Parameter shapes of LeNet-5 with num_classes outputs, keyed as LENET5_KEYS."""
    return {"W1": (6, 1, 5, 5), "b1": (6,), "W2": (16, 6, 5, 5), "b2": (16,), "W3": (120, 400), "b3": (120,),
            "W4": (84, 120), "b4": (84,), "W5": (num_classes, 84), "b5": (num_classes,)}


class LeNet5Cache(NamedTuple):
    """What ``lenet5_forward`` keeps for ``lenet5_backward``.

        conv1, conv2   caches of ref.conv2d_forward
        a1, a2         (N, 6, 28, 28), (N, 16, 10, 10): the activations act(conv), for act'
        pool1, pool2   caches of ref.pool2d_forward
        flat           (N, 400) the flattened pool2 output, input of fc3
        a3, a4         (N, 120), (N, 84): act(fc3), act(fc4)
        W3, W4, W5     the fully connected weights (dA = dZ @ W)
        modern         False: tanh + average pooling; True: ReLU + max pooling
    """

    conv1: tuple
    a1: np.ndarray
    pool1: tuple
    conv2: tuple
    a2: np.ndarray
    pool2: tuple
    flat: np.ndarray
    a3: np.ndarray
    a4: np.ndarray
    W3: np.ndarray
    W4: np.ndarray
    W5: np.ndarray
    modern: bool


# ----------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------


def _check_modern(modern) -> bool:
    if not isinstance(modern, (bool, np.bool_)):
        raise TypeError(f"modern must be True (ReLU + max pooling) or False (tanh + average pooling), got {modern!r}")
    return bool(modern)


def _check_x(x) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a NumPy array of shape (N, 1, 32, 32), got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1:] != (1, 32, 32) or x.shape[0] < 1:
        hint = " (add the channel axis: x[:, None])" if x.ndim == 3 and x.shape[1:] == (32, 32) else ""
        hint = hint or (" (pad 28x28 images by 2 pixels on every side)" if x.shape[-2:] == (28, 28) else "")
        raise ValueError(f"LeNet-5 takes x of shape (N, 1, 32, 32) (grey 32x32 images), got {x.shape}{hint}")
    v.check_float(x, "x")
    return x


def _check_params(params) -> int:
    """Validate a LeNet-5 params dict; return num_classes."""
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict with keys {LENET5_KEYS}, got {type(params).__name__}")
    missing = [k for k in LENET5_KEYS if k not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; LeNet-5 needs {list(LENET5_KEYS)} (see lenet5_init)")
    W5 = params["W5"]
    num_classes = W5.shape[0] if isinstance(W5, np.ndarray) and W5.ndim == 2 else None
    for k, shape in _shapes(num_classes).items():
        a = params[k]
        if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
            raise ValueError(f"params[{k!r}] must be a float NumPy array, got {type(a).__name__}")
        if a.shape != shape:
            shown = str(shape).replace("None", "K")
            raise ValueError(f"params[{k!r}] must have shape {shown}, got {a.shape}")
    return num_classes


# ----------------------------------------------------------------------------------------
# Forward and backward
# ----------------------------------------------------------------------------------------


def lenet5_forward(x, params, modern=False):
    """Forward pass of LeNet-5.

    x: (N, 1, 32, 32) float; params: {"W1": (6, 1, 5, 5), "b1": (6,), ..., "W5": (K, 84),
    "b5": (K,)} (see the module docstring); modern: False for tanh and average pooling,
    True for ReLU and max pooling.
    Returns logits (N, K) and a :class:`LeNet5Cache`.
    """
    x = _check_x(x)
    _check_params(params)
    modern = _check_modern(modern)
    act, pool = ("relu", "max") if modern else ("tanh", "average")
    N = x.shape[0]
    z1, conv1 = conv2d_forward(x, params["W1"], params["b1"])        # (N, 6, 28, 28)
    a1 = _act(z1, act)
    p1, pool1 = pool2d_forward(a1, 2, 2, pool)                        # (N, 6, 14, 14)
    z2, conv2 = conv2d_forward(p1, params["W2"], params["b2"])       # (N, 16, 10, 10)
    a2 = _act(z2, act)
    p2, pool2 = pool2d_forward(a2, 2, 2, pool)                        # (N, 16, 5, 5)
    flat = p2.reshape(N, 400)
    a3 = _act(flat @ params["W3"].T + params["b3"], act)              # (N, 120)
    a4 = _act(a3 @ params["W4"].T + params["b4"], act)                # (N, 84)
    logits = a4 @ params["W5"].T + params["b5"]                       # (N, K)
    cache = LeNet5Cache(conv1, a1, pool1, conv2, a2, pool2, flat, a3, a4,
                        params["W3"], params["W4"], params["W5"], modern)
    return logits, cache


def lenet5_backward(dlogits, cache):
    """Backward pass of :func:`lenet5_forward`.

    dlogits: (N, K) gradient of the loss with respect to the logits; cache: the forward's.
    Returns grads {"dW1": (6, 1, 5, 5), "db1": (6,), ..., "dW5": (K, 84), "db5": (K,)}, shaped
    like the params and in their order, plus "dx" (N, 1, 32, 32).
    """
    if not isinstance(cache, LeNet5Cache):
        raise TypeError(f"cache must be the LeNet5Cache returned by lenet5_forward, got {type(cache).__name__}")
    N, K = cache.a4.shape[0], cache.W5.shape[0]
    if not isinstance(dlogits, np.ndarray) or dlogits.shape != (N, K):
        raise ValueError(f"dlogits must be an array of shape (N, K) = ({N}, {K}), got {np.shape(dlogits)}")
    act = "relu" if cache.modern else "tanh"
    g = {}
    # fully connected head, from the top: Z = A @ W.T + b  =>  dW = dZ.T @ A, db = sum dZ, dA = dZ @ W
    dz5 = dlogits
    g["dW5"], g["db5"] = dz5.T @ cache.a4, dz5.sum(axis=0)
    dz4 = _act_backward(dz5 @ cache.W5, cache.a4, act)
    g["dW4"], g["db4"] = dz4.T @ cache.a3, dz4.sum(axis=0)
    dz3 = _act_backward(dz4 @ cache.W4, cache.a3, act)
    g["dW3"], g["db3"] = dz3.T @ cache.flat, dz3.sum(axis=0)
    dp2 = (dz3 @ cache.W3).reshape(N, 16, 5, 5)                       # un-flatten
    # convolutional part
    dz2 = _act_backward(pool2d_backward(dp2, cache.pool2), cache.a2, act)
    dp1, g["dW2"], g["db2"] = conv2d_backward(dz2, cache.conv2)
    dz1 = _act_backward(pool2d_backward(dp1, cache.pool1), cache.a1, act)
    dx, g["dW1"], g["db1"] = conv2d_backward(dz1, cache.conv1)
    grads = {"d" + k: g["d" + k] for k in LENET5_KEYS}
    grads["dx"] = dx
    return grads


# ----------------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------------


def lenet5_init(seed=0, num_classes=10, modern=False, dtype=np.float64):
    """Random LeNet-5 parameters, drawn like torch's default initialisation.

    Every weight and bias of a layer with fan_in inputs (C_in*5*5 for a conv, n_in for a
    fully connected layer) is uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)], as
    ``torch.nn.Conv2d`` / ``nn.Linear`` draw them; the numbers come from
    ``np.random.default_rng(seed)`` in float64, key by key in LENET5_KEYS order, then are cast
    to ``dtype``. (They are not torch's numbers: copy weights across with params_to_torch.)
    modern is accepted so that calls mirror ``lenet5(num_classes, modern)``: both variants
    have the same parameters, and the same seed gives the same starting point, so a classic
    vs modern comparison starts from identical weights.
    Returns {"W1": (6, 1, 5, 5), "b1": (6,), ..., "W5": (num_classes, 84), "b5": (num_classes,)}.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    num_classes = v.check_positive_int(num_classes, "num_classes")
    _check_modern(modern)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
    rng = np.random.default_rng(seed)
    shapes = _shapes(num_classes)
    params = {}
    for k in LENET5_KEYS:
        W_shape = shapes["W" + k[1]]
        bound = 1.0 / np.sqrt(np.prod(W_shape[1:]))  # fan_in of the layer the key belongs to
        params[k] = rng.uniform(-bound, bound, shapes[k]).astype(dtype)
    return params


# ----------------------------------------------------------------------------------------
# Training with the course's Adam
# ----------------------------------------------------------------------------------------


def lenet5_loss(x, y, params, modern=False):
    """Mean softmax cross-entropy of LeNet-5 on a batch and its gradients.

    x: (N, 1, 32, 32), y: (N,) integer labels in 0..K-1. Returns (loss, grads): loss a
    Python float, grads as :func:`lenet5_backward` returns them.
    """
    logits, cache = lenet5_forward(x, params, modern)
    loss, dlogits = softmax_cross_entropy(logits, y)
    return loss, lenet5_backward(dlogits, cache)


def lenet5_train_step(x, y, params, states=None, modern=False, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """One training step: forward, backward, then one Adam update of every parameter.

    x: (N, 1, 32, 32), y: (N,); params: LeNet-5 params; states: the Adam states of the previous
    step (None on the first step: fresh ``ref.init_states(params, "adam")``).
    Same rule and hyper-parameters as ``torch.optim.Adam(lr=lr, betas=(beta1, beta2), eps=eps)``.
    Returns (loss, new_params, new_states); loss is the batch's loss BEFORE the update. The
    given params and states are not modified.
    """
    loss, grads = lenet5_loss(x, y, params, modern)
    if states is None:
        states = init_states(params, "adam")
    params, states = update_parameters(params, grads, states, "adam", lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    return loss, params, states


def lenet5_train(X, y, params, *, epochs=1, batch_size=64, modern=False, lr=1e-3, seed=0,
                 beta1=0.9, beta2=0.999, eps=1e-8):
    """Train LeNet-5 with mini-batch Adam.

    X: (m, 1, 32, 32), y: (m,) labels; params: the starting params (not modified);
    each epoch reshuffles with ``ref.random_mini_batches(X, y, batch_size, rng)``,
    rng = ``np.random.default_rng(seed)``.
    Returns (params, losses): the trained params and the loss of every step (a list of floats).
    """
    _check_x(X)
    num_classes = _check_params(params)
    _check_labels(y, X.shape[0], num_classes)
    epochs = v.check_positive_int(epochs, "epochs")
    rng = np.random.default_rng(seed)
    states, losses = None, []
    for _ in range(epochs):
        for X_b, y_b in random_mini_batches(X, y, batch_size, rng):
            loss, params, states = lenet5_train_step(X_b, y_b, params, states, modern, lr, beta1, beta2, eps)
            losses.append(loss)
    return params, losses


def lenet5_accuracy(X, y, params, modern=False, batch_size=1000) -> float:
    """Fraction of the examples X (m, 1, 32, 32) whose predicted class equals y (m,)."""
    _check_x(X)
    num_classes = _check_params(params)
    _check_labels(y, X.shape[0], num_classes)
    batch_size = v.check_positive_int(batch_size, "batch_size")
    correct = 0
    for k in range(0, X.shape[0], batch_size):
        logits, _ = lenet5_forward(X[k:k + batch_size], params, modern)
        correct += int(np.sum(logits.argmax(axis=1) == y[k:k + batch_size]))
    return correct / X.shape[0]


# ----------------------------------------------------------------------------------------
# Copying weights to and from a torch LeNet-5
# ----------------------------------------------------------------------------------------


def _torch_params(module, num_classes=None):
    """The module's parameters, matched to LENET5_KEYS by order and checked by shape."""
    named = list(module.named_parameters())
    if len(named) != len(LENET5_KEYS):
        raise ValueError(f"a LeNet-5 has {len(LENET5_KEYS)} parameter tensors (conv1, conv2, fc1, fc2, fc3: "
                         f"weight and bias each), the module has {len(named)}: {[n for n, _ in named]}")
    if num_classes is None:
        num_classes = int(named[-1][1].shape[0])
    for k, (name, p), shape in zip(LENET5_KEYS, named, _shapes(num_classes).values()):
        if tuple(p.shape) != shape:
            raise ValueError(f"module parameter {name!r} (matched to {k}) must have shape {shape}, "
                             f"got {tuple(p.shape)}")
    return dict(zip(LENET5_KEYS, (p for _, p in named)))


def params_to_torch(params, module):
    """Copy NumPy LeNet-5 params into a torch LeNet-5 (in place); returns the module.

    module: a torch.nn.Module whose ``named_parameters()`` are, in order, conv1 weight and
    bias, conv2, fc1, fc2, fc3 (such as ``cnn_course.pt.models.lenet5()``), with the shapes of
    the params; values are cast to each parameter's dtype and device.
    """
    import torch

    num_classes = _check_params(params)
    targets = _torch_params(module, num_classes)
    with torch.no_grad():
        for k, p in targets.items():
            p.copy_(torch.from_numpy(np.ascontiguousarray(params[k])).to(dtype=p.dtype, device=p.device))
    return module


def params_from_torch(module, dtype=None):
    """NumPy params (fresh arrays keyed W1, b1, ..., W5, b5) from a torch LeNet-5.

    dtype: None keeps each parameter's torch dtype (float32 -> float32), else cast to it.
    """
    params = {}
    for k, p in _torch_params(module).items():
        a = p.detach().cpu().numpy().copy()
        params[k] = a if dtype is None else a.astype(dtype)
    return params
