"""Neural style transfer's costs in PyTorch, the twin of ``cnn_course.ref.style`` (autograd).

Same shapes and formulas: activations (n_C, n_H, n_W) (or a batch of one, (1, n_C, n_H, n_W)),
unrolled to A (n_C, n_H·n_W), Gram matrix G = A·Aᵀ (n_C, n_C);
J_content = Σ(a_C − a_G)² / (4 n_H n_W n_C), J_style^[l] = Σ(G_S − G_G)² / (4 n_C² (n_H n_W)²),
J_style = Σ_l λ_l J_style^[l], J = α J_content + β J_style. Every cost is a 0-d tensor that
the optimisation loop differentiates with respect to the generated image's pixels.
"""

from __future__ import annotations

import torch

from ..ref.style import LAYOUT, _check_layers, _shape_error, check_coefficient

__all__ = ["content_cost", "gram_matrix", "layer_style_cost", "style_cost", "total_cost", "unroll"]


def _check_acts(a, name: str) -> torch.Tensor:
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape {LAYOUT}, got {type(a).__name__}")
    message = _shape_error(name, a.shape)
    if message:
        raise ValueError(message)
    if not a.dtype.is_floating_point:
        raise TypeError(f"{name} must have a floating-point dtype, got {a.dtype}")
    return a[0] if a.ndim == 4 else a


def _check_pair(a_X, a_G, name: str):
    X, G = _check_acts(a_X, name), _check_acts(a_G, "a_G")
    if X.shape != G.shape:
        raise ValueError(f"{name} and a_G must be activations of the same layer: {name} has shape "
                         f"{tuple(a_X.shape)}, a_G {tuple(a_G.shape)}")
    if X.device != G.device:
        raise ValueError(f"{name} must be on the device of a_G ({G.device}), got {X.device}")
    return X, G


def unroll(a: torch.Tensor) -> torch.Tensor:
    """(n_C, n_H, n_W) (or (1, n_C, n_H, n_W)) -> A (n_C, n_H·n_W), row k = channel k."""
    a = _check_acts(a, "a")
    return a.reshape(a.shape[0], -1)


def gram_matrix(A: torch.Tensor) -> torch.Tensor:
    """G = A·Aᵀ for unrolled activations A (n_C, n_H·n_W) -> (n_C, n_C)."""
    if not isinstance(A, torch.Tensor):
        raise TypeError(f"A must be a tensor of shape (n_C, n_H*n_W), got {type(A).__name__}")
    if A.ndim != 2:
        raise ValueError(f"A must be 2-D with shape (n_C, n_H*n_W) (unrolled activations, one row per "
                         f"channel), got shape {tuple(A.shape)}; unroll (n_C, n_H, n_W) activations first")
    if not A.dtype.is_floating_point:
        raise TypeError(f"A must have a floating-point dtype, got {A.dtype}")
    return A @ A.T


def content_cost(a_C: torch.Tensor, a_G: torch.Tensor) -> torch.Tensor:
    """J_content = Σ (a_C − a_G)² / (4 n_H n_W n_C), a 0-d tensor."""
    C, G = _check_pair(a_C, a_G, "a_C")
    n_C, n_H, n_W = G.shape
    return ((C - G) ** 2).sum() / (4 * n_H * n_W * n_C)


def layer_style_cost(a_S: torch.Tensor, a_G: torch.Tensor) -> torch.Tensor:
    """J_style^[l] = Σ (G_S − G_G)² / (4 n_C² (n_H n_W)²), a 0-d tensor."""
    S, G = _check_pair(a_S, a_G, "a_S")
    n_C, n_H, n_W = G.shape
    diff = gram_matrix(S.reshape(n_C, -1)) - gram_matrix(G.reshape(n_C, -1))
    return (diff**2).sum() / (4.0 * n_C**2 * (n_H * n_W) ** 2)


def style_cost(style_acts, gen_acts, weights) -> torch.Tensor:
    """J_style = Σ_l λ_l J_style^[l]: lists of per-layer activations and the λ_l -> 0-d tensor."""
    weights = _check_layers(style_acts, gen_acts, weights)
    return sum(w * layer_style_cost(s, g) for s, g, w in zip(style_acts, gen_acts, weights))


def total_cost(J_content, J_style, alpha=10, beta=40):
    """J(G) = α J_content + β J_style (tensors or numbers; α weighs content, β style)."""
    alpha, beta = check_coefficient(alpha, "alpha"), check_coefficient(beta, "beta")
    for name, J in (("J_content", J_content), ("J_style", J_style)):
        if isinstance(J, torch.Tensor):
            if J.numel() != 1:
                raise ValueError(f"{name} must be a single cost (a 0-d tensor), got shape {tuple(J.shape)}")
        else:
            check_coefficient(J, name)
    return alpha * J_content + beta * J_style
