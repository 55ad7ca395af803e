"""Softmax, cross-entropy and the L2 penalty in PyTorch, the twin of ``cnn_course.ref.losses``.

Written with plain tensor operations (max, exp, log, sum, gather), not ``F.softmax`` or
``F.cross_entropy``, so that autograd differentiates exactly what the reference computes.

    Z  (m, K) logits;  y  (m,) int64 class labels in 0..K-1
"""

from __future__ import annotations

import torch
from torch import nn

from ..ref.losses import _check_lambd_m

__all__ = ["cross_entropy", "l2_penalty", "log_softmax", "softmax"]


def _check_logits(Z) -> torch.Tensor:
    if not isinstance(Z, torch.Tensor):
        raise TypeError(f"Z must be a tensor of shape (m, K), got {type(Z).__name__}")
    if Z.ndim != 2:
        raise ValueError(f"Z must be 2-D with shape (m, K) (one row per example), got shape {tuple(Z.shape)}")
    if not Z.dtype.is_floating_point:
        raise TypeError(f"Z must have a floating-point dtype, got {Z.dtype}")
    if Z.shape[1] < 1:
        raise ValueError(f"Z must have at least one class column, got shape {tuple(Z.shape)}")
    return Z


def _check_labels(y, Z: torch.Tensor) -> torch.Tensor:
    m, K = Z.shape
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a tensor of integer labels of shape (m,), got {type(y).__name__}")
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise TypeError(f"y must hold integer class labels (int64), got dtype {y.dtype}")
    if tuple(y.shape) != (m,):
        raise ValueError(f"y must have shape (m,) = ({m},) to match the {m} rows of Z, got {tuple(y.shape)}")
    if y.device != Z.device:
        raise ValueError(f"y must be on the device of Z ({Z.device}), got {y.device}")
    if m and (int(y.min()) < 0 or int(y.max()) >= K):
        raise ValueError(
            f"labels y must lie in 0..{K - 1} (K = {K} classes), got values in {int(y.min())}..{int(y.max())}"
        )
    return y.long()


def softmax(Z: torch.Tensor) -> torch.Tensor:
    """Row-wise softmax, stable: exp(Z - max) / Σ exp(Z - max). Z (m, K) -> (m, K), rows sum to 1."""
    Z = _check_logits(Z)
    E = torch.exp(Z - Z.amax(dim=1, keepdim=True))
    return E / E.sum(dim=1, keepdim=True)


def log_softmax(Z: torch.Tensor) -> torch.Tensor:
    """Row-wise log softmax by log-sum-exp: (Z - max) - log Σ exp(Z - max). Z (m, K) -> (m, K)."""
    Z = _check_logits(Z)
    shifted = Z - Z.amax(dim=1, keepdim=True)
    return shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))


def cross_entropy(Z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy from logits: -1/m Σ_i log softmax(Z)[i, y_i], a 0-d tensor.

    Z: (m, K) float, y: (m,) integer labels. Equals ``F.cross_entropy(Z, y)``.
    """
    Z = _check_logits(Z)
    y = _check_labels(y, Z)
    if Z.shape[0] == 0:
        raise ValueError("Z must hold at least one example (m >= 1), got shape (0, K)")
    return -log_softmax(Z).gather(1, y[:, None]).mean()


def _weights(model_or_params) -> list:
    if isinstance(model_or_params, nn.Module):
        # weights of Linear/Conv layers have >= 2 dimensions; biases and batch norm's γ, β have 1
        return [p for p in model_or_params.parameters() if p.ndim >= 2]
    if isinstance(model_or_params, dict):
        return [t for k, t in model_or_params.items() if isinstance(k, str) and k.startswith("W")]
    if isinstance(model_or_params, torch.Tensor):
        raise TypeError("pass a module, a dict {'W1': ...} or a list of weight tensors, not a single tensor")
    try:
        tensors = list(model_or_params)
    except TypeError:
        raise TypeError(
            f"model_or_params must be an nn.Module, a dict or a list of tensors, got {type(model_or_params).__name__}"
        ) from None
    if not all(isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError("every entry of the list of weights must be a tensor")
    return tensors


def l2_penalty(model_or_params, lambd, m) -> torch.Tensor:
    """The L2 penalty (λ / 2m) Σ ‖W‖²_F as a 0-d tensor (differentiable).

    model_or_params: an ``nn.Module`` (every parameter with >= 2 dimensions, i.e. the weights
    of Linear and Conv layers; biases and batch-norm parameters are skipped), a dict
    {"W1": ..., "b1": ...} (keys starting with "W"), or a list of weight tensors (all of them).
    lambd: λ >= 0; m: number of training examples.
    """
    lambd, m = _check_lambd_m(lambd, m)
    weights = _weights(model_or_params)
    if not weights:
        return torch.zeros(())
    total = sum((w * w).sum() for w in weights)
    return lambd / (2 * m) * total
