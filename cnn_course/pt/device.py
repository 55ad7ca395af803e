"""Where tensors live: pick the best available device once, move tensors there."""

from __future__ import annotations

import torch


def default_device() -> torch.device:
    """The fastest device this machine offers: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def to_device(*tensors, device=None):
    """Move every tensor to ``device`` (``default_device()`` when None).

    Returns the single tensor when given one, a tuple otherwise; ``None`` passes through.
    """
    device = default_device() if device is None else torch.device(device)
    moved = tuple(None if t is None else t.to(device) for t in tensors)
    return moved[0] if len(moved) == 1 else moved
