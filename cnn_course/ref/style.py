"""Neural style transfer's costs in NumPy, with their gradients with respect to the generated image's activations.

Shapes (one image's activations at one layer, channels first as in PyTorch):

    a_C, a_S, a_G   (n_C, n_H, n_W)   content, style and generated image at layer l;
                                      (1, n_C, n_H, n_W), a batch of one, is accepted too
                                      (gradients then keep that shape); larger batches are refused
    A               (n_C, n_H·n_W)    unrolled activations: row k is channel k at every position
    G               (n_C, n_C)        Gram ("style") matrix A·Aᵀ: G[k, k'] = Σ_p A[k, p] A[k', p]

Unrolling channels-first activations is a plain ``reshape(n_C, n_H * n_W)``: each row keeps one
channel (channels × positions). From channels-last (n_H, n_W, n_C) activations you must first
move the channel axis to the front; reshaping those straight to (n_C, n_H·n_W) mixes channels
and positions.

    J_content        = Σ (a_C − a_G)² / (4 n_H n_W n_C)
    J_style^[l]      = Σ (G_S − G_G)² / (4 n_C² (n_H n_W)²)
    J_style          = Σ_l λ_l J_style^[l]
    J(G)             = α J_content + β J_style          (α = 10, β = 40 by default)

Each ``*_backward`` returns dJ/da_G shaped like a_G (float64).
``cnn_course.pt.style`` is the PyTorch twin (autograd).
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "content_cost",
    "content_cost_backward",
    "gram_matrix",
    "gram_matrix_backward",
    "layer_style_cost",
    "layer_style_cost_backward",
    "style_cost",
    "style_cost_backward",
    "total_cost",
    "unroll",
]


# ----------------------------------------------------------------------------------------
# Validation (shared wording with cnn_course.pt.style)
# ----------------------------------------------------------------------------------------

LAYOUT = "(n_C, n_H, n_W) (or (1, n_C, n_H, n_W))"


def _shape_error(name: str, shape) -> str | None:
    """The message for activations of a wrong shape, or None when the shape is fine."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 4 and shape[0] != 1:
        return (f"{name} must be one image's activations {LAYOUT}, got a batch of {shape[0]} "
                f"(shape {shape}): compute the cost image by image")
    if len(shape) not in (3, 4):
        return f"{name} must have shape {LAYOUT}, got shape {shape}"
    return None


def _check_acts(a, name: str) -> np.ndarray:
    """-> the activations as (n_C, n_H, n_W) (a view when a batch axis of 1 is dropped)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of shape {LAYOUT}, got {type(a).__name__}")
    message = _shape_error(name, a.shape)
    if message:
        raise ValueError(message)
    if a.dtype.kind != "f":
        raise TypeError(f"{name} must have a floating-point dtype, got {a.dtype}")
    return a[0] if a.ndim == 4 else a


def _check_pair(a_X, a_G, name: str):
    X, G = _check_acts(a_X, name), _check_acts(a_G, "a_G")
    if X.shape != G.shape:
        raise ValueError(f"{name} and a_G must be activations of the same layer: {name} has shape "
                         f"{a_X.shape}, a_G {a_G.shape}")
    return X.astype(np.float64), G.astype(np.float64)


def _check_layers(style_acts, gen_acts, weights):
    seqs = {"style_acts": style_acts, "gen_acts": gen_acts, "weights": weights}
    for name, s in seqs.items():
        if isinstance(s, (str, bytes, dict)) or not hasattr(s, "__len__"):
            raise TypeError(f"{name} must be a list (one entry per style layer), got {type(s).__name__}")
    if not len(style_acts) == len(gen_acts) == len(weights):
        raise ValueError(f"style_acts, gen_acts and weights must have one entry per layer: got "
                         f"{len(style_acts)}, {len(gen_acts)} and {len(weights)}")
    if not len(weights):
        raise ValueError("style_cost needs at least one layer")
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not np.isfinite(w):
            raise ValueError(f"weights[{i}] must be a finite number (the layer's λ), got {w!r}")
    return [float(w) for w in weights]


def check_coefficient(value, name: str) -> float:
    """Require a finite real number (α, β, a cost) and return it as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


# ----------------------------------------------------------------------------------------
# Unrolling and the Gram matrix
# ----------------------------------------------------------------------------------------


def unroll(a):
    """(n_C, n_H, n_W) (or (1, n_C, n_H, n_W)) activations -> A (n_C, n_H·n_W), row k = channel k.

    Positions are in row-major order (p = h·n_W + w); the same order for every channel.
    """
    a = _check_acts(a, "a")
    return a.reshape(a.shape[0], -1)


def gram_matrix(A):
    """The Gram matrix of the rows of A: G = A·Aᵀ, G[k, k'] = Σ_p A[k, p] A[k', p].

    A: (n_C, n_H·n_W) unrolled activations -> G: (n_C, n_C), symmetric, A's dtype.
    """
    if not isinstance(A, np.ndarray):
        raise TypeError(f"A must be a NumPy array of shape (n_C, n_H*n_W), got {type(A).__name__}")
    if A.ndim != 2:
        raise ValueError(f"A must be 2-D with shape (n_C, n_H*n_W) (unrolled activations, one row per "
                         f"channel), got shape {A.shape}; unroll (n_C, n_H, n_W) activations first")
    if A.dtype.kind != "f":
        raise TypeError(f"A must have a floating-point dtype, got {A.dtype}")
    return A @ A.T


def gram_matrix_backward(dG, A):
    """dJ/dA = (dG + dGᵀ)·A for G = A·Aᵀ.  dG: (n_C, n_C), A: (n_C, P) -> (n_C, P)."""
    G = gram_matrix(A)
    if not isinstance(dG, np.ndarray) or dG.shape != G.shape:
        got = getattr(dG, "shape", type(dG).__name__)
        raise ValueError(f"dG must have the Gram matrix's shape {G.shape}, got {got}")
    return (dG + dG.T) @ A


# ----------------------------------------------------------------------------------------
# Content cost
# ----------------------------------------------------------------------------------------


def content_cost(a_C, a_G) -> float:
    """J_content = Σ (a_C − a_G)² / (4 n_H n_W n_C), a Python float.

    a_C, a_G: (n_C, n_H, n_W) (or (1, n_C, n_H, n_W)) activations of the content and the
    generated image at the same layer.
    """
    C, G = _check_pair(a_C, a_G, "a_C")
    n_C, n_H, n_W = G.shape
    return float(np.sum((C - G) ** 2) / (4 * n_H * n_W * n_C))


def content_cost_backward(a_C, a_G):
    """dJ_content/da_G = (a_G − a_C) / (2 n_H n_W n_C), shaped like a_G, float64."""
    C, G = _check_pair(a_C, a_G, "a_C")
    n_C, n_H, n_W = G.shape
    return ((G - C) / (2 * n_H * n_W * n_C)).reshape(a_G.shape)


# ----------------------------------------------------------------------------------------
# Style cost
# ----------------------------------------------------------------------------------------


def _style_parts(a_S, a_G):
    S, G = _check_pair(a_S, a_G, "a_S")
    n_C, n_H, n_W = G.shape
    A_G = G.reshape(n_C, -1)
    diff = gram_matrix(S.reshape(n_C, -1)) - gram_matrix(A_G)  # G_S − G_G, (n_C, n_C)
    return diff, A_G, 4.0 * n_C**2 * (n_H * n_W) ** 2


def layer_style_cost(a_S, a_G) -> float:
    """J_style^[l] = Σ (G_S − G_G)² / (4 n_C² (n_H n_W)²), a Python float.

    a_S, a_G: (n_C, n_H, n_W) (or (1, n_C, n_H, n_W)) activations of the style and the
    generated image at one layer; G_S, G_G are their (n_C, n_C) Gram matrices.
    """
    diff, _, scale = _style_parts(a_S, a_G)
    return float(np.sum(diff**2) / scale)


def layer_style_cost_backward(a_S, a_G):
    """dJ_style^[l]/da_G = 4 (G_G − G_S)·A_G / (4 n_C² (n_H n_W)²), shaped like a_G, float64.

    From dJ/dG_G = 2 (G_G − G_S) / scale (symmetric) and ``gram_matrix_backward``.
    """
    diff, A_G, scale = _style_parts(a_S, a_G)
    return gram_matrix_backward(-2.0 * diff / scale, A_G).reshape(a_G.shape)


def style_cost(style_acts, gen_acts, weights) -> float:
    """J_style = Σ_l λ_l J_style^[l] over the chosen layers, a Python float.

    style_acts, gen_acts: lists of activations, entry l of each from the same layer
    ((n_C, n_H, n_W) or (1, n_C, n_H, n_W); layers may differ in shape); weights: the λ_l,
    one per layer (commonly summing to 1, which is not required).
    """
    weights = _check_layers(style_acts, gen_acts, weights)
    return float(sum(w * layer_style_cost(s, g) for s, g, w in zip(style_acts, gen_acts, weights)))


def style_cost_backward(style_acts, gen_acts, weights) -> list:
    """dJ_style/da_G for every layer: a list of λ_l · layer_style_cost_backward(a_S^[l], a_G^[l])."""
    weights = _check_layers(style_acts, gen_acts, weights)
    return [w * layer_style_cost_backward(s, g) for s, g, w in zip(style_acts, gen_acts, weights)]


def total_cost(J_content, J_style, alpha=10, beta=40) -> float:
    """J(G) = α J_content + β J_style, a Python float (α weighs content, β style)."""
    J_content = check_coefficient(J_content, "J_content")
    J_style = check_coefficient(J_style, "J_style")
    return check_coefficient(alpha, "alpha") * J_content + check_coefficient(beta, "beta") * J_style
