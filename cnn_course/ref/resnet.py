"""A residual block in NumPy ("basic block" of He et al. 2016): forward and backward.

Built from the course's own layers (``conv2d_forward``/``conv2d_backward``,
``batchnorm_forward``/``batchnorm_backward``) and a ReLU. With x the block's input:

    main path   z1 = BN1(conv3x3(x; W1, b1, stride s, pad 1));  a1 = relu(z1)
                z2 = BN2(conv3x3(a1; W2, b2, stride 1, pad 1))
    shortcut    sc = x                                          (identity: same shape)
                sc = BNs(conv1x1(x; Ws, bs, stride s, pad 0))   (projection: shape changes)
    output      out = relu(z2 + sc)                     a[l+2] = g(z[l+2] + a[l])

Shapes (N examples, C_in -> C_out channels, stride s; H' = (H - 1) // s + 1, same for W'):

    x                 (N, C_in, H, W)
    W1 (C_out, C_in, 3, 3)    b1, gamma1, beta1, running_mean1, running_var1: (C_out,)
    W2 (C_out, C_out, 3, 3)   b2, gamma2, beta2, running_mean2, running_var2: (C_out,)
    Ws (C_out, C_in, 1, 1)    bs, gammas, betas, running_means, running_vars: (C_out,)
    out               (N, C_out, H', W')

The identity shortcut needs C_in = C_out and s = 1; otherwise the six "s" keys (the
projection) must be in ``params``. If they are there, the projection is used whatever the
shapes. The running statistics live in ``params`` and are updated IN PLACE in train mode,
exactly as ``batchnorm_forward`` does (torch's momentum convention); eval mode uses them
and leaves them unchanged. The conv biases b1, b2, bs are kept for the contract with the
notebooks; the batch norm right after a conv removes any constant, so in train mode their
gradients are zero (up to rounding) and torch's ResNets omit them.

Backward: the sum z2 + sc hands the same gradient dz to both branches, and x feeds both,
so the gradient reaching x is a SUM of two terms,

    dx = dx_main + dx_shortcut,       dx_shortcut = dz (identity) or the projection's dx,

which is why even a very deep stack of blocks passes a gradient back to its first layers:
the identity term carries dz unchanged, whatever the main path does to it.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .. import _validate as v
from .batchnorm import batchnorm_backward, batchnorm_forward
from .conv import conv2d_backward, conv2d_forward

__all__ = [
    "RESIDUAL_LEARNABLE",
    "ResidualCache",
    "residual_block_backward",
    "residual_block_forward",
    "residual_block_init",
    "residual_block_learnable",
]

#: Learnable parameters of the main path and of the projection shortcut, in order.
_MAIN = ("W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2")
_PROJ = ("Ws", "bs", "gammas", "betas")
_STATS = {"1": ("running_mean1", "running_var1"), "2": ("running_mean2", "running_var2"),
          "s": ("running_means", "running_vars")}
#: Names of every learnable parameter a block may hold (identity blocks have the first 8).
RESIDUAL_LEARNABLE = _MAIN + _PROJ


class ResidualCache(NamedTuple):
    """What ``residual_block_forward`` keeps for the backward pass.

        conv1, bn1   caches of the first conv and its batch norm
        a1           (N, C_out, H', W') relu(z1), for the mask of the inner ReLU
        conv2, bn2   caches of the second conv and its batch norm
        convs, bns   caches of the projection's conv and batch norm (None: identity shortcut)
        out          (N, C_out, H', W') the block's output, for the mask of the final ReLU
    """

    conv1: tuple
    bn1: object
    a1: np.ndarray
    conv2: tuple
    bn2: object
    convs: tuple | None
    bns: object | None
    out: np.ndarray


# ----------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------


def _check_params(x, params):
    """Validate params against x; return (projection?, C_out)."""
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict with keys {_MAIN} (+ running stats), got {type(params).__name__}")
    C_in = x.shape[1]
    projection = "Ws" in params
    keys = _MAIN + (_PROJ if projection else ()) + _STATS["1"] + _STATS["2"] + (_STATS["s"] if projection else ())
    missing = [k for k in keys if k not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; a block needs {list(keys)}")
    for k in keys:
        if not isinstance(params[k], np.ndarray) or params[k].dtype.kind != "f":
            raise ValueError(f"params[{k!r}] must be a float NumPy array, got {type(params[k]).__name__}")
    W1 = params["W1"]
    if W1.ndim != 4 or W1.shape[1:] != (C_in, 3, 3):
        raise ValueError(f"W1 must have shape (C_out, C_in, 3, 3) = (C_out, {C_in}, 3, 3) for x.shape={x.shape}, "
                         f"got {W1.shape}")
    C_out = W1.shape[0]
    expected = {"W2": (C_out, C_out, 3, 3)}
    if projection:
        expected["Ws"] = (C_out, C_in, 1, 1)
    for suffix in ("1", "2") + (("s",) if projection else ()):
        for name in ("b", "gamma", "beta"):
            expected[name + suffix] = (C_out,)
        for name in _STATS[suffix]:
            expected[name] = (C_out,)
    for k, shape in expected.items():
        if params[k].shape != shape:
            raise ValueError(f"params[{k!r}] must have shape {shape} (C_in={C_in}, C_out={C_out}), "
                             f"got {params[k].shape}")
    return projection, C_out


def _check_forward(x, params, stride, train):
    v.check_ndim(x, 4, "x", "(N, C_in, H, W)")
    v.check_float(x, "x")
    stride = v.check_positive_int(stride, "stride")
    if not isinstance(train, (bool, np.bool_)):
        raise TypeError(f"train must be True or False, got {train!r}")
    projection, C_out = _check_params(x, params)
    if not projection and (stride != 1 or C_out != x.shape[1]):
        raise ValueError(
            f"the identity shortcut cannot add x (C_in={x.shape[1]}, stride 1) to the main path's output "
            f"(C_out={C_out}, stride {stride}): the shape changes, so params needs the projection "
            f"shortcut {list(_PROJ) + list(_STATS['s'])} (see residual_block_init)"
        )
    return stride, projection


# ----------------------------------------------------------------------------------------
# Forward and backward
# ----------------------------------------------------------------------------------------


def _conv_bn(x, params, suffix, stride, pad, train, momentum, eps):
    """BN(conv(x)) with the parameters W{suffix}, b{suffix}, gamma{suffix}, ... of params."""
    z, conv_cache = conv2d_forward(x, params["W" + suffix], params["b" + suffix], stride=stride, pad=pad)
    running_mean, running_var = (params[k] for k in _STATS[suffix])
    out, bn_cache = batchnorm_forward(z, params["gamma" + suffix], params["beta" + suffix], running_mean,
                                      running_var, train=train, momentum=momentum, eps=eps)
    return out, conv_cache, bn_cache


def _conv_bn_backward(dout, conv_cache, bn_cache, suffix, grads):
    """Backward of _conv_bn: fills grads["dW"+suffix], ... and returns the gradient of its input."""
    dz, grads["dgamma" + suffix], grads["dbeta" + suffix] = batchnorm_backward(dout, bn_cache)
    dx, grads["dW" + suffix], grads["db" + suffix] = conv2d_backward(dz, conv_cache)
    return dx


def residual_block_forward(x, params, stride=1, train=True, momentum=0.1, eps=1e-5):
    """Forward pass of a residual block: relu(BN2(conv2(relu(BN1(conv1(x))))) + shortcut(x)).

    x: (N, C_in, H, W) float; params: the dict of :func:`residual_block_init` (shapes in the
    module docstring): the 8 main-path arrays W1, b1, gamma1, beta1, W2, b2, gamma2, beta2,
    the running statistics running_mean1/running_var1/running_mean2/running_var2 and, for
    the projection shortcut, Ws, bs, gammas, betas, running_means, running_vars.
    stride: of the first 3x3 conv and of the projection; train: batch statistics (and the
    running statistics in params updated in place) or running statistics (eval);
    momentum, eps: as in ``batchnorm_forward``.
    Returns out (N, C_out, H', W') and a :class:`ResidualCache`.
    """
    stride, projection = _check_forward(x, params, stride, train)
    # main path: conv 3x3 (stride s) -> BN -> ReLU -> conv 3x3 -> BN
    z1, conv1, bn1 = _conv_bn(x, params, "1", stride, 1, train, momentum, eps)
    a1 = np.maximum(z1, 0)
    z2, conv2, bn2 = _conv_bn(a1, params, "2", 1, 1, train, momentum, eps)
    # shortcut: x itself, or conv 1x1 (stride s) -> BN when the shape changes
    if projection:
        sc, convs, bns = _conv_bn(x, params, "s", stride, 0, train, momentum, eps)
    else:
        sc, convs, bns = x, None, None
    # add BEFORE the final ReLU
    out = np.maximum(z2 + sc, 0)
    return out, ResidualCache(conv1, bn1, a1, conv2, bn2, convs, bns, out)


def residual_block_backward(dout, cache):
    """Backward pass of :func:`residual_block_forward`.

    dout: (N, C_out, H', W') upstream gradient; cache: the forward's ResidualCache.
    Returns grads: {"dW1", "db1", "dgamma1", "dbeta1", "dW2", ..., "dbeta2"} shaped like the
    parameters (+ "dWs", "dbs", "dgammas", "dbetas" for a projection shortcut) and "dx"
    (N, C_in, H, W). The running statistics get no gradient.

    dx is the sum of the two paths' gradients: dx = dx_main + dx_shortcut.
    """
    if not isinstance(cache, ResidualCache):
        raise TypeError(f"cache must be the ResidualCache returned by residual_block_forward, "
                        f"got {type(cache).__name__}")
    v.check_ndim(dout, 4, "dout", "(N, C_out, H', W')")
    v.check_same_shape(dout, cache.out.shape, "dout")
    grads = {}
    # final ReLU: out = relu(z2 + sc)
    dz = dout * (cache.out > 0)
    # the sum z2 + sc passes dz unchanged to BOTH branches
    dz2, dsc = dz, dz
    # main path, backwards: BN2 -> conv2 -> ReLU -> BN1 -> conv1
    da1 = _conv_bn_backward(dz2, cache.conv2, cache.bn2, "2", grads)
    dz1 = da1 * (cache.a1 > 0)
    dx_main = _conv_bn_backward(dz1, cache.conv1, cache.bn1, "1", grads)
    # shortcut, backwards: the identity hands dsc to x as it is
    if cache.convs is None:
        dx_shortcut = dsc
    else:
        dx_shortcut = _conv_bn_backward(dsc, cache.convs, cache.bns, "s", grads)
    # x fed both paths: its gradient is the sum
    grads["dx"] = dx_main + dx_shortcut
    order = _MAIN + (_PROJ if cache.convs is not None else ())
    return {**{"d" + k: grads["d" + k] for k in order}, "dx": grads["dx"]}


# ----------------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------------


def residual_block_init(c_in, c_out, stride=1, seed=0, zero_gamma=False, dtype=np.float64):
    """Parameters of a residual block, ready for :func:`residual_block_forward`.

    c_in, c_out: channels; stride: the block's stride. The projection shortcut (Ws, bs,
    gammas, betas, running_means, running_vars) is included when the shape changes
    (stride != 1 or c_in != c_out), otherwise the shortcut is the identity.
    Weights: He normal, W ~ N(0, 2 / fan_in) with fan_in = C_in*f*f, drawn in float64 from
    ``np.random.default_rng(seed)`` in the order W1, W2, Ws, then cast to ``dtype``; conv
    biases and BN betas 0, gammas 1, running means 0, running variances 1 (torch's BN).
    zero_gamma: set gamma2 to 0, so that at initialisation the main path outputs beta2 = 0
    and the block computes relu(shortcut(x)): for an identity block and x >= 0 (the output of
    a previous block), the identity itself.
    Returns a dict of arrays (fresh, writable).
    """
    c_in = v.check_positive_int(c_in, "c_in")
    c_out = v.check_positive_int(c_out, "c_out")
    stride = v.check_positive_int(stride, "stride")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
    rng = np.random.default_rng(seed)
    projection = stride != 1 or c_in != c_out
    shapes = {"1": (c_out, c_in, 3, 3), "2": (c_out, c_out, 3, 3)}
    if projection:
        shapes["s"] = (c_out, c_in, 1, 1)
    params = {}
    for suffix, shape in shapes.items():
        fan_in = shape[1] * shape[2] * shape[3]
        params["W" + suffix] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)
        params["b" + suffix] = np.zeros(c_out, dtype)
        params["gamma" + suffix] = np.ones(c_out, dtype)
        params["beta" + suffix] = np.zeros(c_out, dtype)
    for suffix in shapes:
        running_mean, running_var = _STATS[suffix]
        params[running_mean] = np.zeros(c_out, dtype)
        params[running_var] = np.ones(c_out, dtype)
    if zero_gamma:
        params["gamma2"][:] = 0
    order = _MAIN + (_PROJ if projection else ()) + tuple(k for s in shapes for k in _STATS[s])
    return {k: params[k] for k in order}


def residual_block_learnable(params):
    """The learnable entries of a block's params (no running statistics), in order: a dict of
    the same arrays (not copies), e.g. for ``gradient_check`` or ``update_parameters``."""
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict, got {type(params).__name__}")
    return {k: params[k] for k in RESIDUAL_LEARNABLE if k in params}
