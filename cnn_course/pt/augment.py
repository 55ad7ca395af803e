"""Data augmentation on torch batches, the twins of ``cnn_course.ref.augment``.

    x          (N, C, H, W) float tensor, values in [0, 1], on any device
    generator  a ``torch.Generator`` (or None: torch's global CPU one); the decisions are drawn
               on the generator's device, so a CPU generator gives the same batch whatever
               device x is on

Each image of the batch gets its own random decision. The decision can also be given
explicitly (``flip=``, ``offsets=``, ``shifts=``); then the result equals the NumPy
reference's deterministic transform (``hflip``, ``crop``, ``shift_color``) applied to each
image in (H, W, C) layout. Nothing here is differentiated: call them on data, not on
activations.
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

from .. import _validate

__all__ = ["color_shift", "mirror", "random_crop"]


def _check_batch(x):
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch tensor of shape (N, C, H, W), got {type(x).__name__}")
    _validate.check_ndim(x, 4, "x", "(N, C, H, W)")
    _validate.check_float(x, "x")


def _check_generator(generator):
    """Return the device to draw on: the generator's, or the CPU."""
    if generator is None:
        return torch.device("cpu")
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator.device


def _check_decision(t, shape, name, layout):
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a tensor of shape {layout} = {shape}, got {type(t).__name__}")
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {layout} = {shape}, got {tuple(t.shape)}")


def mirror(x, p=0.5, generator=None, flip=None):
    """Flip the width axis of each image with probability p. (N, C, H, W) -> same shape.

    flip: (N,) bool, the decisions; None draws them as ``torch.rand(N) < p``.
    """
    _check_batch(x)
    dev = _check_generator(generator)
    N = x.shape[0]
    if flip is None:
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
        flip = torch.rand(N, generator=generator, device=dev) < p
    _check_decision(flip, (N,), "flip", "(N,)")
    flip = flip.to(device=x.device, dtype=torch.bool).view(N, 1, 1, 1)
    return torch.where(flip, x.flip(-1), x)


def random_crop(x, size, pad=0, generator=None, offsets=None):
    """Zero-pad each image by ``pad``, then crop an (h, w) window at a random place inside.

    x (N, C, H, W) -> (N, C, h, w); size int or (h, w), at most (H + 2*pad, W + 2*pad).
    offsets: (N, 2) integer (top, left) in padded coordinates, 0 <= top <= H + 2*pad - h;
    None draws top, then left, uniformly with torch.randint.
    """
    _check_batch(x)
    dev = _check_generator(generator)
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (size, size)
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ValueError(f"size must be an int or a pair (h, w), got {size!r}")
    h, w = (_validate.check_positive_int(s, "size") for s in size)
    pad = _validate.check_nonneg_int(pad, "pad")
    N, C, H, W = x.shape
    Hp, Wp = H + 2 * pad, W + 2 * pad
    if h > Hp or w > Wp:
        raise ValueError(f"size ({h}, {w}) is larger than the padded image ({Hp}x{Wp})")
    if offsets is None:
        top = torch.randint(0, Hp - h + 1, (N,), generator=generator, device=dev)
        left = torch.randint(0, Wp - w + 1, (N,), generator=generator, device=dev)
        offsets = torch.stack([top, left], dim=1)
    _check_decision(offsets, (N, 2), "offsets", "(N, 2)")
    offsets = offsets.to(torch.long)
    bad = (offsets < 0).any(dim=1) | (offsets[:, 0] > Hp - h) | (offsets[:, 1] > Wp - w)
    if bad.any():
        k = int(bad.nonzero()[0])
        raise ValueError(
            f"offsets[{k}] = {offsets[k].tolist()} puts the ({h}, {w}) crop outside the padded "
            f"image ({Hp}x{Wp}); top must be in [0, {Hp - h}], left in [0, {Wp - w}]"
        )
    xp = F.pad(x, (pad, pad, pad, pad))
    offsets = offsets.to(x.device)
    rows = (offsets[:, 0, None] + torch.arange(h, device=x.device)).view(N, 1, h, 1)
    cols = (offsets[:, 1, None] + torch.arange(w, device=x.device)).view(N, 1, 1, w)
    n = torch.arange(N, device=x.device).view(N, 1, 1, 1)
    c = torch.arange(C, device=x.device).view(1, C, 1, 1)
    return xp[n, c, rows, cols]


def color_shift(x, max_shift, generator=None, shifts=None):
    """Add a number to each channel of each image, then clip to [0, 1]. Same shape.

    shifts: (N, C), the numbers; None draws them uniformly in [-max_shift, max_shift]
    (``(2 * torch.rand(N, C) - 1) * max_shift``).
    """
    _check_batch(x)
    dev = _check_generator(generator)
    N, C = x.shape[:2]
    if shifts is None:
        if isinstance(max_shift, bool) or not isinstance(max_shift, numbers.Real) or not max_shift >= 0:
            raise ValueError(f"max_shift must be a non-negative number, got {max_shift!r}")
        shifts = (2 * torch.rand(N, C, generator=generator, dtype=torch.float64, device=dev) - 1) * max_shift
    _check_decision(shifts, (N, C), "shifts", "(N, C)")
    shifts = shifts.to(device=x.device, dtype=x.dtype).view(N, C, 1, 1)
    return (x + shifts).clamp(0.0, 1.0)
