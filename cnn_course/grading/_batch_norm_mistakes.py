"""The known mistakes of the topic-3 exercises, for the hints of :mod:`.batch_norm`.

The hint texts, and the builders of :class:`~.core.Variant` values: what a batch-norm
forward or backward pass returns when it makes one classic mistake (running statistics in
train mode, ε outside the square root, the wrong axes, a missing path of the backward pass,
...), computed in float64 next to the expected values. A student's output that matches a
variant gets that variant's hint.
"""

from __future__ import annotations

import dis

import numpy as np


# --------------------------------------------------------------------------- hints

TRAIN_RUNNING = ("in train mode, normalise with the batch's own mean and (biased) variance; running_mean and "
                 "running_var are only used in eval mode (train=False).")
EVAL_BATCH = ("in eval mode (train=False), normalise with running_mean and running_var, not with the batch's own "
              "statistics: at test time one example must get the same output alone as inside a batch.")
UNBIASED_NORM = ("normalise the batch with the biased variance (divide by N: np.var's default, ddof=0); only the "
                 "running variance uses the unbiased estimate (divide by N − 1).")
EPS_PLACE = "ε goes inside the square root: x̂ = (x − μ) / √(σ² + ε), not (x − μ) / (√σ² + ε)."
DIVIDE_VAR = "divide by the standard deviation √(σ² + ε), not by the variance σ² + ε."
SWAPPED = "γ and β are swapped: out = γ·x̂ + β (gamma scales, beta shifts)."
NO_AFFINE = "your out is x̂ alone: apply the learned scale and shift, out = γ·x̂ + β."
AXIS_2D = ("x is (N, D): each feature (column) is normalised over the batch, so the mean and variance are taken "
           "over axis=0 and have shape (D,), like gamma and beta.")
EXC_2D = AXIS_2D + " Keep the signature (x, gamma, beta, running_mean, running_var, train, momentum, eps)."
RV_BIASED = ("the running variance uses the unbiased batch variance, as torch does: running_var = (1 − momentum)·"
             "running_var + momentum·σ²·N/(N − 1) (the batch itself is still normalised with the biased σ²).")
RV_STD = "running_var is a moving average of the variance σ², not of the standard deviation."
EVAL_UPDATED = ("in eval mode (train=False) the running statistics must not change: update them only when train "
                "is True.")
INPUT_KEPT = ("only running_mean and running_var may be updated in place; x, gamma and beta must stay as they were "
              "(x - mu builds a new array, x -= mu overwrites the caller's x).")
DOUT_KEPT = ("dout belongs to the caller (the layer above may still use it): build new arrays (dout * gamma) "
             "instead of writing into it (dout *= gamma).")

SP_AXIS0 = ("you took statistics per (C, H, W) position (over axis 0 only); spatial batch norm has one mean and "
            "one variance per channel, over the batch and all positions: axes (0, 2, 3).")
SP_AXES01 = ("statistics over axes (0, 1) mix the channels and keep one value per position; spatial batch norm "
             "normalises each channel over axes (0, 2, 3).")
SP_MIX = ("x.reshape(-1, C) on an (N, C, H, W) array mixes the channels: its columns are not channels. Move C last "
          "first, x.transpose(0, 2, 3, 1).reshape(-1, C), and undo that on the way back.")
SP_BACK = ("your out is the (N·H·W, C) result reshaped straight to (N, C, H, W), which scrambles it; undo the "
           "transpose: .reshape(N, H, W, C).transpose(0, 3, 1, 2).")
SP_COUNT = ("the running variance is unbiased over all M = N·H·W values of a channel: multiply σ² by M/(M − 1), "
            "not by N/(N − 1).")
EXC_4D = ("x is (N, C, H, W) and gamma, beta, running_mean, running_var are (C,): one mean and variance per channel, "
          "over axes (0, 2, 3). Reuse batchnorm_forward on x.transpose(0, 2, 3, 1).reshape(-1, C).")

BW_CONST = ("your dx treats μ and σ as constants, but both depend on x. The full gradient is dx = γ/(N·√(σ² + ε))·"
            "(N·dout − Σ dout − x̂·Σ(dout·x̂)), sums over the batch axis.")
BW_NO_VAR = ("your dx has the path through μ but misses the one through σ²: subtract x̂·mean(dout·x̂) too "
             "(dx = γ/√(σ² + ε)·(dout − mean(dout) − x̂·mean(dout·x̂))).")
BW_NO_MEAN = ("your dx has the path through σ² but misses the one through μ: subtract mean(dout) too "
              "(dx = γ/√(σ² + ε)·(dout − mean(dout) − x̂·mean(dout·x̂))).")
BW_N = ("dx has a wrong 1/N factor: dx = γ/(N·√(σ² + ε))·(N·dout − Σ dout − x̂·Σ(dout·x̂)), which is "
        "γ/√(σ² + ε)·(dout − mean(dout) − x̂·mean(dout·x̂)).")
BW_GAMMA = "dx is missing the factor γ: out = γ·x̂ + β, so the gradient reaching x̂ is γ·dout."
DG_NO_XHAT = "dgamma = Σ dout·x̂ over the batch (∂out/∂γ = x̂); you summed dout alone, which is dbeta."
DG_X = "dgamma uses the normalised x̂, not the raw x: dgamma = Σ dout·x̂."
DB_SWAP = "dbeta = Σ dout (β only shifts); Σ dout·x̂ is dgamma."
MEAN_NOT_SUM = "{name} is a sum over the batch, not a mean."
AXIS_BW_2D = "{name} has one entry per feature, shape (D,): sum over the batch axis (axis=0), not axis 1."
AXIS_BW_4D = "{name} has one entry per channel, shape (C,): sum over axes (0, 2, 3)."
SP_BW_COUNT = ("the N in the 1/N factor is the number of values per channel, M = N·H·W, not the batch size: reuse "
               "batchnorm_backward on the (N·H·W, C) arrays and it comes right by itself.")
SP_BW_MIX = ("dout.reshape(-1, C) mixes the channels: transpose first, dout.transpose(0, 2, 3, 1).reshape(-1, C), "
             "exactly as in the forward pass.")
SP_BW_BACK = ("your dx is the (N·H·W, C) result reshaped straight to (N, C, H, W); undo the transpose: "
              ".reshape(N, H, W, C).transpose(0, 3, 1, 2).")


# --------------------------------------------------------------------------- NumPy helpers (float64)


def _vec(v, ndim):
    """A per-feature/per-channel vector (D,) or (C,) shaped to broadcast against x."""
    return np.asarray(v).reshape((1, -1) + (1,) * (ndim - 2))


def _axes(ndim):
    return (0,) if ndim == 2 else (0, 2, 3)


def _moments(x, axes):
    """Mean and biased variance over ``axes``, keepdims (they broadcast against x)."""
    mu = x.mean(axis=axes, keepdims=True)
    return mu, ((x - mu) ** 2).mean(axis=axes, keepdims=True)


def _unbiased(var, count):
    return var * count / (count - 1)


def _affine(xhat, gamma, beta, ndim):
    return _vec(gamma, ndim) * xhat + _vec(beta, ndim)


def _flat(a):
    """(N, C, H, W) -> (N·H·W, C) with C last; (N, D) unchanged."""
    return a if a.ndim == 2 else a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1])


def _unflat(a, shape):
    """Inverse of :func:`_flat`."""
    if len(shape) == 2:
        return a
    n, c, h, w = shape
    return a.reshape(n, h, w, c).transpose(0, 3, 1, 2)


def _finite(*arrays) -> bool:
    return all(np.all(np.isfinite(a)) for a in arrays)


def _param_name(func, index: int, default: str) -> str:
    code = getattr(func, "__code__", None)
    if code is not None and code.co_argcount > index:
        return code.co_varnames[index]
    return default


def _assigns(func, name: str) -> bool:
    """Whether the function's own body assigns to the local name ``name`` (x = ..., x += ...)."""
    code = getattr(func, "__code__", None)
    if code is None:
        return False
    stores = getattr(code, "cnn_stores", None)  # a function in the kernel: the names it assigns
    if stores is not None:
        return name in stores
    return any(ins.opname in ("STORE_FAST", "STORE_DEREF", "STORE_NAME") and ins.argval == name
               for ins in dis.get_instructions(code))


def _stat_hints(name: str, stat: str) -> dict[str, str]:
    return {
        "momentum": (f"momentum weights the NEW batch statistic: {name} = (1 − momentum)·{name} + momentum·{stat} "
                     "(torch's convention: momentum = 0.1 keeps 90 % of the old value). You swapped the two weights."),
        "no_average": (f"{name} is a moving average, (1 − momentum)·{name} + momentum·{stat}; you stored the batch "
                       "statistic itself."),
    }


def _unchanged_hint(func, index: int, name: str, stat: str) -> str:
    pname = _param_name(func, index, name)
    if _assigns(func, pname):
        return (f"the caller's {name} did not change: your function assigns a new array to the name {pname}, which "
                "only rebinds the local name inside the function. Update the caller's array in place: "
                f"{pname}[:] = (1 − momentum) * {pname} + momentum * ... (or in-place operators *= and +=).")
    return (f"{name} was not updated: after a train-mode call the caller's array must hold (1 − momentum)·{name} + "
            f"momentum·{stat}. Update it in place ({name}[:] = ...), so the caller sees the new values.")


def _train_variants(x, gamma, beta, rm, rv, momentum, eps, rm_new, rv_new):
    """Known mistakes of a train-mode forward: (hint, {output: value}) pairs, float64."""
    nd, axes = x.ndim, _axes(x.ndim)
    count = x.size // x.shape[1]
    mu, var = _moments(x, axes)
    var_u = _unbiased(var, count)
    g, b = gamma, beta
    aff = lambda xhat: _affine(xhat, g, b, nd)  # noqa: E731
    out = [
        (TRAIN_RUNNING, {"out": aff((x - _vec(rm, nd)) / np.sqrt(_vec(rv, nd) + eps))}),
        (TRAIN_RUNNING, {"out": aff((x - _vec(rm_new, nd)) / np.sqrt(_vec(rv_new, nd) + eps))}),
        (UNBIASED_NORM, {"out": aff((x - mu) / np.sqrt(var_u + eps))}),
        (EPS_PLACE, {"out": aff((x - mu) / (np.sqrt(var) + eps))}),
        (DIVIDE_VAR, {"out": aff((x - mu) / (var + eps))}),
        (SWAPPED, {"out": _affine((x - mu) / np.sqrt(var + eps), b, g, nd)}),
        (NO_AFFINE, {"out": (x - mu) / np.sqrt(var + eps)}),
    ]
    mu_s, var_s = mu.reshape(-1), var.reshape(-1)
    stats = {"running_mean": (rm, mu_s), "running_var": (rv, _unbiased(var_s, count))}
    for name, (old, new) in stats.items():
        hints = _stat_hints(name, "μ" if name == "running_mean" else "σ²_unbiased")
        out += [(hints["momentum"], {name: momentum * old + (1 - momentum) * new}),
                (hints["no_average"], {name: new})]
    out += [(RV_BIASED, {"running_var": (1 - momentum) * rv + momentum * var_s}),
            (_stat_hints("running_var", "σ²_unbiased")["momentum"],
             {"running_var": momentum * rv + (1 - momentum) * var_s}),
            (RV_STD, {"running_var": (1 - momentum) * rv + momentum * np.sqrt(_unbiased(var_s, count))})]
    if nd == 2:
        m1, v1 = _moments(x, (1,))
        out.append((AXIS_2D, {"out": aff((x - m1) / np.sqrt(v1 + eps))}))
    else:
        out += _spatial_train_variants(x, g, b, rm, rv, momentum, eps)
    return out


def _spatial_train_variants(x, g, b, rm, rv, momentum, eps):
    n, c, h, w = x.shape
    out = []
    m0, v0 = _moments(x, (0,))
    out.append((SP_AXIS0, {"out": _affine((x - m0) / np.sqrt(v0 + eps), g, b, 4)}))
    m01, v01 = _moments(x, (0, 1))
    out.append((SP_AXES01, {"out": _affine((x - m01) / np.sqrt(v01 + eps), g, b, 4)}))
    mixed = x.reshape(-1, c)
    mm, vm = _moments(mixed, (0,))
    out_mixed = _affine((mixed - mm) / np.sqrt(vm + eps), g, b, 2)
    out.append((SP_MIX, {"out": out_mixed.reshape(x.shape)}))
    if x.size > c:
        out += [(SP_MIX, {"running_mean": (1 - momentum) * rm + momentum * mm.reshape(-1)}),
                (SP_MIX, {"running_var": (1 - momentum) * rv + momentum * _unbiased(vm.reshape(-1), x.size // c)})]
    flat = _flat(x)
    mf, vf = _moments(flat, (0,))
    out.append((SP_BACK, {"out": _affine((flat - mf) / np.sqrt(vf + eps), g, b, 2).reshape(x.shape)}))
    if n > 1:
        out.append((SP_COUNT, {"running_var": (1 - momentum) * rv + momentum * _unbiased(vf.reshape(-1), n)}))
    return out


def _eval_variants(x, gamma, beta, rm, rv, momentum, eps):
    nd, axes = x.ndim, _axes(x.ndim)
    count = x.size // x.shape[1]
    aff = lambda xhat: _affine(xhat, gamma, beta, nd)  # noqa: E731
    rmv, rvv = _vec(rm, nd), _vec(rv, nd)
    mu, var = _moments(x, axes)
    out = [
        (EVAL_BATCH, {"out": aff((x - mu) / np.sqrt(var + eps))}),
        (EPS_PLACE, {"out": aff((x - rmv) / (np.sqrt(rvv) + eps))}),
        (DIVIDE_VAR, {"out": aff((x - rmv) / (rvv + eps))}),
        (SWAPPED, {"out": _affine((x - rmv) / np.sqrt(rvv + eps), beta, gamma, nd)}),
        (NO_AFFINE, {"out": (x - rmv) / np.sqrt(rvv + eps)}),
    ]
    if nd == 4:
        c = x.shape[1]
        xhat_flat = (_flat(x) - rm) / np.sqrt(rv + eps)
        out.append((SP_BACK, {"out": _affine(xhat_flat, gamma, beta, 2).reshape(x.shape)}))
        mixed = x.reshape(-1, c)
        out.append((SP_MIX, {"out": _affine((mixed - rm) / np.sqrt(rv + eps), gamma, beta, 2).reshape(x.shape)}))
    mu_s, var_s = mu.reshape(-1), var.reshape(-1)
    rm_upd = (1 - momentum) * rm + momentum * mu_s
    for v in ([var_s, _unbiased(var_s, count)] if count > 1 else [var_s]):  # updated first, then used
        rv_upd = (1 - momentum) * rv + momentum * v
        out.append((EVAL_UPDATED, {"out": aff((x - _vec(rm_upd, nd)) / np.sqrt(_vec(rv_upd, nd) + eps))}))
    out += [(EVAL_UPDATED, {"running_mean": (1 - momentum) * rm + momentum * mu_s}),
            (EVAL_UPDATED, {"running_mean": momentum * rm + (1 - momentum) * mu_s}),
            (EVAL_UPDATED, {"running_var": (1 - momentum) * rv + momentum * var_s})]
    if count > 1:
        out.append((EVAL_UPDATED, {"running_var": (1 - momentum) * rv + momentum * _unbiased(var_s, count)}))
    return out


def _grads(x, gamma, eps, dout):
    """Reference-style pieces in the (M, C) layout: x̂, std, dout_flat, gamma (all float64)."""
    xf, df = _flat(x), _flat(dout)
    mu, var = _moments(xf, (0,))
    std = np.sqrt(var + eps)
    return (xf - mu) / std, std, df


def _dx_formula(df, xhat, std, gamma, mode="right", count=None):
    """dx in the (M, C) layout, correct or with one of the classic mistakes (``mode``)."""
    g = gamma.reshape(1, -1)
    s, sx = df.sum(axis=0), (df * xhat).sum(axis=0)
    m = df.shape[0]
    if mode == "constant":
        return g * df / std
    if mode == "no_var":
        return g / std * (df - s / m)
    if mode == "no_mean":
        return g / std * (df - xhat * sx / m)
    if mode == "sums":
        return g / std * (df - s - xhat * sx)
    if mode == "no_n_first":
        return g / (m * std) * (df - s - xhat * sx)
    if mode == "times_n":
        return g / std * (m * df - s - xhat * sx)
    if mode == "twice":
        return g / (m * m * std) * (m * df - s - xhat * sx)
    if mode == "no_gamma":
        return 1.0 / (m * std) * (m * df - s - xhat * sx)
    if mode == "count":
        return g / (count * std) * (count * df - s - xhat * sx)
    return g / (m * std) * (m * df - s - xhat * sx)


def _backward_variants(x, gamma, eps, dout):
    shape, nd = x.shape, x.ndim
    xhat, std, df = _grads(x, gamma, eps, dout)
    dxv = lambda mode, count=None: _unflat(_dx_formula(df, xhat, std, gamma, mode, count), shape)  # noqa: E731
    n = shape[0]
    out = []
    if nd == 4 and n < x.size // shape[1]:  # before the generic 1/N hints, which also match it
        out.append((SP_BW_COUNT, {"dx": dxv("count", n)}))
    out += [(BW_CONST, {"dx": dxv("constant")}), (BW_NO_VAR, {"dx": dxv("no_var")}),
            (BW_NO_MEAN, {"dx": dxv("no_mean")}), (BW_GAMMA, {"dx": dxv("no_gamma")})]
    out += [(BW_N, {"dx": dxv(m)}) for m in ("times_n", "sums", "no_n_first", "twice")]
    out += [(DG_NO_XHAT, {"dgamma": df.sum(axis=0)}), (DG_X, {"dgamma": (df * _flat(x)).sum(axis=0)}),
            (MEAN_NOT_SUM.format(name="dgamma"), {"dgamma": (df * xhat).mean(axis=0)}),
            (MEAN_NOT_SUM.format(name="dbeta"), {"dbeta": df.mean(axis=0)}),
            (DB_SWAP, {"dbeta": (df * xhat).sum(axis=0)})]
    xhat_full, d = _unflat(xhat, shape), dout
    if nd == 2:
        out += [(AXIS_BW_2D.format(name="dgamma"), {"dgamma": (d * xhat_full).sum(axis=1)}),
                (AXIS_BW_2D.format(name="dbeta"), {"dbeta": d.sum(axis=1)}),
                (AXIS_BW_2D.format(name="dbeta"), {"dbeta": np.array(d.sum())})]
    else:
        c = shape[1]
        out += [(AXIS_BW_4D.format(name="dgamma"), {"dgamma": (d * xhat_full).sum(axis=0)}),
                (AXIS_BW_4D.format(name="dbeta"), {"dbeta": d.sum(axis=0)}),
                (AXIS_BW_4D.format(name="dgamma"), {"dgamma": (d * xhat_full).sum(axis=(0, 1))}),
                (AXIS_BW_4D.format(name="dbeta"), {"dbeta": d.sum(axis=(0, 1))}),
                (SP_BW_BACK, {"dx": _dx_formula(df, xhat, std, gamma).reshape(shape)})]
        mixed = dout.reshape(-1, c)
        out += [(SP_BW_MIX, {"dx": _unflat(_dx_formula(mixed, xhat, std, gamma), shape)}),
                (SP_BW_MIX, {"dgamma": (mixed * xhat).sum(axis=0)}),
                (SP_BW_MIX, {"dbeta": mixed.sum(axis=0)})]
    return out
