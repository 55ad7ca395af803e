"""Input checks shared by the NumPy and the PyTorch implementations.

Every check raises ``ValueError`` with a message that states what was expected and
what was received, so that a student who passes the wrong thing learns what to fix.
They work on anything with ``.shape`` and ``.ndim`` (NumPy arrays and torch tensors).
"""

from __future__ import annotations

import numbers


def _shape(a) -> tuple:
    return tuple(int(d) for d in a.shape)


def check_ndim(a, ndim: int, name: str, layout: str) -> None:
    """Require ``a.ndim == ndim``; ``layout`` names the axes, e.g. ``"(N, C, H, W)"``."""
    if not hasattr(a, "ndim") or not hasattr(a, "shape"):
        raise ValueError(f"{name} must be an array of shape {layout}, got {type(a).__name__}")
    if a.ndim != ndim:
        raise ValueError(
            f"{name} must be {ndim}-D with shape {layout}, got a {a.ndim}-D array of shape {_shape(a)}"
        )


def check_float(a, name: str) -> None:
    """Require a floating-point array (float16/32/64 or torch's float types)."""
    kind = getattr(a.dtype, "kind", None)
    if kind is None:  # torch dtype
        ok = a.dtype.is_floating_point
    else:
        ok = kind == "f"
    if not ok:
        raise ValueError(f"{name} must have a floating-point dtype, got {a.dtype}")


def check_positive_int(value, name: str) -> int:
    """Require an integer >= 1 (bools are rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r} ({type(value).__name__})")
    return int(value)


def check_nonneg_int(value, name: str) -> int:
    """Require an integer >= 0 (bools and floats such as 1.0 are rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r} ({type(value).__name__})")
    return int(value)


def check_conv_args(x, w, b, stride, pad) -> tuple[int, int]:
    """Validate the arguments of a 2-D convolution and return ``(stride, pad)`` as ints.

    x: (N, C, H, W), w: (F, C, f_H, f_W), b: (F,) or None.
    """
    check_ndim(x, 4, "x", "(N, C, H, W)")
    check_ndim(w, 4, "w", "(F, C, f, f)")
    stride = check_positive_int(stride, "stride")
    pad = check_nonneg_int(pad, "pad")
    N, C, H, W = _shape(x)
    F, C_w, fH, fW = _shape(w)
    if C_w != C:
        raise ValueError(
            f"channel mismatch: x has C={C} channels (x.shape={_shape(x)}, layout (N, C, H, W)) "
            f"but w expects C={C_w} (w.shape={_shape(w)}, layout (F, C, f, f))"
        )
    if b is not None:
        check_ndim(b, 1, "b", "(F,)")
        if _shape(b) != (F,):
            raise ValueError(f"b must have shape (F,) = ({F},) to match w.shape={_shape(w)}, got {_shape(b)}")
    if fH > H + 2 * pad or fW > W + 2 * pad:
        raise ValueError(
            f"filter ({fH}x{fW}) is larger than the padded input ({H + 2 * pad}x{W + 2 * pad}): "
            f"x.shape={_shape(x)}, w.shape={_shape(w)}, pad={pad}"
        )
    return stride, pad


def check_pool_args(x, f, stride) -> tuple[int, int]:
    """Validate the arguments of a 2-D pooling and return ``(f, stride)`` as ints."""
    check_ndim(x, 4, "x", "(N, C, H, W)")
    f = check_positive_int(f, "f")
    stride = check_positive_int(stride, "stride")
    H, W = _shape(x)[2:]
    if f > H or f > W:
        raise ValueError(f"pooling window f={f} is larger than the input ({H}x{W}): x.shape={_shape(x)}")
    return f, stride


def check_pool_mode(mode, allowed: tuple[str, ...]) -> str:
    """Require ``mode`` to be one of ``allowed`` (e.g. ``("max", "average")``)."""
    if not isinstance(mode, str) or mode not in allowed:
        raise ValueError(f"mode must be one of {allowed}, got {mode!r}")
    return mode


def check_same_shape(a, expected_shape: tuple, name: str) -> None:
    """Require ``a.shape == expected_shape``."""
    if _shape(a) != tuple(expected_shape):
        raise ValueError(f"{name} must have shape {tuple(expected_shape)}, got {_shape(a)}")


def check_cache(cache, n: int) -> None:
    """Require the ``n``-tuple that the matching forward function returned."""
    if not isinstance(cache, tuple) or len(cache) != n:
        raise ValueError(
            f"cache must be the {n}-tuple returned by the matching forward function, got {type(cache).__name__}"
            + (f" of length {len(cache)}" if isinstance(cache, tuple) else "")
        )
