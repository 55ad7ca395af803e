"""Batch normalisation in PyTorch, the twin of ``cnn_course.ref.batchnorm``.

``batch_norm`` is written with plain tensor operations (means, a subtraction, a square
root), so autograd derives the backward pass that the NumPy reference writes by hand.
``BatchNorm1d`` and ``BatchNorm2d`` are drop-in replacements for torch's modules of the same
names: same parameters (weight, bias), buffers (running_mean, running_var,
num_batches_tracked), state_dict keys, train/eval behaviour and numbers.

Shapes: x is (N, C) or (N, C, L) for BatchNorm1d, (N, C, H, W) for BatchNorm2d; every
per-channel tensor (weight/gamma, bias/beta, running_mean, running_var) is (C,). The
statistics of channel c are taken over all axes but axis 1, m = x.numel() / C values.

Train mode: xhat = (x - mean) / sqrt(var + eps) with the batch mean and the BIASED batch
variance (divided by m); the running statistics are updated in place,
running = (1 - momentum) * running + momentum * batch statistic, with the UNBIASED variance
(divided by m - 1) for running_var. Eval mode uses the running statistics.
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from .. import _validate

__all__ = ["batch_norm", "BatchNorm1d", "BatchNorm2d"]


def _check_momentum(momentum, allow_none=False):
    if momentum is None and allow_none:
        return None
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0.0 <= momentum <= 1.0:
        extra = " or None (cumulative average)" if allow_none else ""
        raise ValueError(f"momentum must be a number in [0, 1]{extra}, got {momentum!r}")
    return float(momentum)


def _check_eps(eps):
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps >= 0:
        raise ValueError(f"eps must be a non-negative number, got {eps!r}")
    return float(eps)


def _check_per_channel(t, name, x):
    if t is None:
        return
    C = x.shape[1]
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape (C,) = ({C},), got {type(t).__name__}")
    if tuple(t.shape) != (C,):
        raise ValueError(
            f"{name} must have shape (C,) = ({C},) to match x.shape={tuple(x.shape)}, got {tuple(t.shape)}"
        )
    if t.dtype != x.dtype:
        raise ValueError(f"{name} must have the same dtype as x ({x.dtype}), got {t.dtype}")
    if t.device != x.device:
        raise ValueError(f"{name} must be on the same device as x ({x.device}), got {t.device}")


def _check_count(x):
    """Train mode needs at least two values per channel; returns m = x.numel() / C."""
    C = x.shape[1]
    m = x.numel() // C if C else 0
    if m < 2:
        raise ValueError(
            f"train mode needs more than one value per channel to estimate a variance, "
            f"got m = {m} for x.shape={tuple(x.shape)}"
        )
    return m


def batch_norm(x: torch.Tensor, gamma: torch.Tensor | None, beta: torch.Tensor | None,
               running_mean: torch.Tensor | None = None, running_var: torch.Tensor | None = None,
               train: bool = True, momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """Normalise every channel of x, then scale by gamma and shift by beta.

    x: (N, C, *) with at least 2 axes, e.g. (N, D) or (N, C, H, W); gamma, beta,
    running_mean, running_var: (C,) or None (gamma None = 1, beta None = 0).
    train=True: batch statistics; running_mean/running_var (if given) are updated in place
    with torch's momentum convention. train=False: the running statistics normalise.
    Returns a tensor shaped like x. Same numbers as
    ``torch.nn.functional.batch_norm(x, running_mean, running_var, gamma, beta, train,
    momentum, eps)``; the backward pass comes from autograd.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a tensor of shape (N, C, ...), got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(
            f"x must have at least 2 axes (N, C, ...), got a {x.ndim}-D tensor of shape {tuple(x.shape)}"
        )
    _validate.check_float(x, "x")
    per_channel = {"gamma": gamma, "beta": beta, "running_mean": running_mean, "running_var": running_var}
    for name, t in per_channel.items():
        _check_per_channel(t, name, x)
    momentum = _check_momentum(momentum)
    eps = _check_eps(eps)
    if not train and (running_mean is None or running_var is None):
        raise ValueError("eval mode (train=False) needs running_mean and running_var")
    C = x.shape[1]
    dims = [0] + list(range(2, x.ndim))  # every axis but the channel axis
    shape = (1, C) + (1,) * (x.ndim - 2)  # a (C,) tensor reshaped to broadcast against x
    if train:
        m = _check_count(x)
        mean = x.mean(dim=dims)
        xmu = x - mean.reshape(shape)
        var = (xmu * xmu).mean(dim=dims)  # biased: divided by m
        if running_mean is not None and running_var is not None:
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mean)
                running_var.mul_(1 - momentum).add_(momentum * var * (m / (m - 1)))
    else:
        xmu = x - running_mean.reshape(shape)
        var = running_var
    out = xmu * torch.rsqrt(var + eps).reshape(shape)
    if gamma is not None:
        out = out * gamma.reshape(shape)
    if beta is not None:
        out = out + beta.reshape(shape)
    return out


class _BatchNorm(nn.Module):
    """Common code of BatchNorm1d and BatchNorm2d (the same as torch's _BatchNorm).

    Parameters weight (C,) = 1, bias (C,) = 0 when affine; buffers running_mean (C,) = 0,
    running_var (C,) = 1, num_batches_tracked () = 0 (int64) when track_running_stats.
    momentum=None averages all batches seen so far (cumulative moving average, factor
    1/num_batches_tracked), like torch.
    """

    _ndims: tuple = ()
    _layouts: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None):
        super().__init__()
        self.num_features = _validate.check_positive_int(num_features, "num_features")
        self.eps = _check_eps(eps)
        self.momentum = _check_momentum(momentum, allow_none=True)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        factory = {"device": device, "dtype": dtype}
        if self.affine:
            self.weight = nn.Parameter(torch.ones(num_features, **factory))
            self.bias = nn.Parameter(torch.zeros(num_features, **factory))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            nn.init.ones_(self.weight)
            nn.init.zeros_(self.bias)

    def _check_input(self, x):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"input must be a tensor, got {type(x).__name__}")
        if x.ndim not in self._ndims:
            raise ValueError(
                f"{type(self).__name__} expects input of shape {' or '.join(self._layouts)}, "
                f"got a {x.ndim}-D tensor of shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) expects C = {self.num_features} channels "
                f"(axis 1), got input of shape {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        use_batch_stats = self.training or self.running_mean is None
        if use_batch_stats:
            _check_count(x)  # before num_batches_tracked counts a batch that cannot be used
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        # train mode without tracking, or eval mode without buffers: batch statistics only
        track = not self.training or self.track_running_stats
        return batch_norm(x, self.weight, self.bias,
                          self.running_mean if track else None, self.running_var if track else None,
                          use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs; statistics per channel over N (and L).

    Same constructor and behaviour as ``torch.nn.BatchNorm1d``.
    """

    _ndims = (2, 3)
    _layouts = ("(N, C)", "(N, C, L)")


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs; statistics per channel over N, H and W.

    Same constructor and behaviour as ``torch.nn.BatchNorm2d``.
    """

    _ndims = (4,)
    _layouts = ("(N, C, H, W)",)
