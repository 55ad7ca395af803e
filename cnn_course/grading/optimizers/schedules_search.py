"""Checks of sections 11 and 13: learning-rate decay (a staircase of inverse-time decay) and log-scale
hyperparameter sampling."""

from __future__ import annotations

import math

import numpy as np

from ..core import Case, Out, Variant, reference, run_check
from ._common import _HIDDEN, RNG_HINT


# =========================================================================== learning-rate decay


ARRAY_EPOCH_HINT = ("epoch may be an array of epochs (the plots pass np.arange(...)): use NumPy operations, e.g. "
                    "np.floor(epoch / time_interval) or epoch // time_interval, not math.floor, round() or an if.")


DEFAULT_HINT = ("give time_interval the default value 1, def lr_scheduled(lr0, epoch, decay_rate, time_interval=1): "
                "called without it, lr_scheduled is plain inverse-time decay (a drop every epoch).")


def _lr_case(ref_fn, args, wrong, hint, note=""):
    """A learning-rate case; epoch (args[1]) is an int or an array of ints, and ``wrong``
    lists (formula(epoch as a float array) -> lr, hint) for the known mistakes."""
    values = [v for _, v in args]
    epoch = values[1]
    expected = ref_fn(*values)
    expected = float(expected) if np.ndim(epoch) == 0 else np.asarray(expected, dtype=np.float64)

    def variants():
        out = []
        e = np.asarray(epoch, dtype=np.float64)
        for formula, h in wrong:
            with np.errstate(all="ignore"):
                v = np.asarray(formula(e), dtype=np.float64)
            if np.all(np.isfinite(v)):
                out.append(Variant(h, {"lr": float(v) if np.ndim(epoch) == 0 else v}))
        return out

    def describe(k, v):
        if isinstance(v, np.ndarray):
            return f"{k}=np.array({v.tolist()})"
        return f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v!r}"

    return Case(args=list(args),
                outputs=[Out("lr", expected, kind="scalar" if np.ndim(epoch) == 0 else "array",
                             shape_hint="for an array of epochs, return an array of the same shape.")],
                describe=", ".join(describe(k, v) for k, v in args), note=note, hint=hint, variants=variants,
                exception_hint=lambda exc, line: (DEFAULT_HINT if "required positional argument" in str(exc)
                                                  else ARRAY_EPOCH_HINT if np.ndim(epoch) else hint))


SCHEDULED_HINT = ("lr = lr0 / (1 + decay_rate · ⌊epoch / time_interval⌋): the rate drops once every time_interval "
                  "epochs (np.floor(epoch / time_interval) or epoch // time_interval) and stays flat in between; "
                  "with the default time_interval = 1 that is lr0 / (1 + decay_rate · epoch).")


def _scheduled_case(lr0, epoch, rate, interval=None, note=""):
    """A case of ``lr_scheduled``; interval None calls it without time_interval (the default, 1)."""
    T = 1 if interval is None else interval

    def k(e):  # the number of drops so far
        return np.floor(e / T)

    wrong = [(lambda e: lr0 / (1 + rate) * k(e), "the number of drops belongs in the denominator, multiplied by "
              "decay_rate: lr0 / (1 + decay_rate * drops); lr0 / (1 + decay_rate) * drops multiplies by it."),
             (lambda e: lr0 / 1 + rate * k(e), "mind the parentheses: lr0 / (1 + decay_rate * drops)."),
             (lambda e: lr0 / (1 + rate) ** k(e), "inverse-time decay divides by (1 + decay_rate · drops); raising "
              "to a power is an exponential decay."),
             (lambda e: lr0 / (1 + k(e)) * rate, "decay_rate multiplies the number of drops inside the denominator: "
              "lr0 / (1 + decay_rate · drops)."),
             (lambda e: lr0 / (rate * k(e)), "keep the 1 +: lr0 / (1 + decay_rate · drops), so that epoch 0 gives "
              "lr0."),
             (lambda e: 1 / (1 + rate * k(e)), "multiply by lr0: lr = lr0 / (1 + decay_rate · drops)."),
             (lambda e: lr0 * (1 + rate * k(e)), "divide lr0 by (1 + decay_rate · drops): the learning rate must "
              "shrink."),
             (lambda e: lr0 / (1 + rate * (k(e) + 1)), "epochs count from 0 here: epoch 0 gives lr0.")]
    if T > 1:
        wrong += [(lambda e: lr0 / (1 + rate * e / T), "the rate drops in steps: take the floor, "
                   "⌊epoch / time_interval⌋ (np.floor(epoch / time_interval) or epoch // time_interval)."),
                  (lambda e: lr0 / (1 + rate * np.round(e / T)), "take the floor of epoch / time_interval "
                   "(np.floor or //), not round()."),
                  (lambda e: lr0 / (1 + rate * np.ceil(e / T)), "take the floor of epoch / time_interval "
                   "(np.floor or //), not the ceiling."),
                  (lambda e: lr0 / (1 + rate * e), "divide epoch by time_interval (and take the floor): the rate "
                   "changes once every time_interval epochs."),
                  (lambda e: lr0 / (1 + rate * np.floor(e * T)), "divide epoch by time_interval, don't multiply."),
                  (lambda e: lr0 / (1 + rate * np.floor(T / np.maximum(e, 1e-300))),
                   "it is ⌊epoch / time_interval⌋, epoch on top.")]
    if interval is None:
        wrong.append((lambda e: lr0 / (1 + rate * np.floor(e / 1000)), "time_interval defaults to 1 (a drop every "
                      "epoch: plain inverse-time decay), not 1000: def lr_scheduled(lr0, epoch, decay_rate, "
                      "time_interval=1)."))
    args = [("lr0", lr0), ("epoch", epoch), ("decay_rate", rate)]
    if interval is not None:
        args.append(("time_interval", interval))
    return _lr_case(lambda *a: reference("optim").lr_scheduled(*a, T) if interval is None
                    else reference("optim").lr_scheduled(*a), args, wrong, SCHEDULED_HINT, note)


def _random_lr0(rng):
    return float(10 ** rng.uniform(-4, 0))


def _off_the_steps(rng, interval, size=None):
    """Epochs in 0 .. 5·interval that are not multiples of the interval (where floor matters)."""
    epoch = rng.integers(0, 5 * interval + 2, size=size)
    if interval > 1:
        epoch = np.where(epoch % interval == 0, epoch + 1, epoch)
    return int(epoch) if size is None else epoch


def lr_scheduled(func, hidden=False, seed=0):
    """Check ``lr_scheduled(lr0, epoch, decay_rate, time_interval=1)``: lr0 / (1 + decay_rate·⌊epoch/interval⌋),
    epoch an int or an array; without time_interval, plain inverse-time decay."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_scheduled_case(0.5, 0, 1.0, note="epoch 0 gives lr0"),
                 _scheduled_case(0.1, 10, 0.3, note="no time_interval (default 1): 0.1 / (1 + 0.3·10) = 0.025"),
                 _scheduled_case(0.2, np.arange(5), 1.0, note="an array of epochs 0, ..., 4, default time_interval: "
                                 "0.2, 0.1, 0.0667, 0.05, 0.04"),
                 _scheduled_case(0.5, 999, 1.0, 1000, "epoch 999 is still in the first interval of 1000: lr0"),
                 _scheduled_case(0.1, 25, 0.5, 10, "⌊25 / 10⌋ = 2 drops: 0.1 / (1 + 0.5·2) = 0.05"),
                 _scheduled_case(0.2, np.arange(7), 1.0, 3, "an array of epochs 0, ..., 6 with a drop every 3")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k in range(_HIDDEN):
            interval = [None, 1, 3, 10, 100][k % 5]
            epoch = _off_the_steps(rng, interval or 1, None if k % 4 else (int(rng.integers(1, 8)),))
            if interval is None and np.ndim(epoch) == 0:
                epoch = int(rng.integers(1, 200))
            cases.append(_scheduled_case(_random_lr0(rng), epoch, float(rng.choice(
                [0.01, 0.1, 0.5, 1.0, 2.0, round(float(rng.uniform(0.05, 3)), 3)])), interval))
    run_check("lr_scheduled", func, cases, hidden=hidden)


# =========================================================================== log-scale sampling

LOG_SAMPLE_HINT = ("r = rng.uniform(np.log10(low), np.log10(high), size) (one draw), then return 10 ** r: "
                   "every decade between low and high gets the same share of the samples.")


def _log_sample_inspect(low, high, size):
    def inspect(got):
        value = got.get("sample")
        try:
            a = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        if size is not None and a.shape != tuple(np.atleast_1d(size)):
            return (f"with size={size!r}, return an array of that shape: pass size on to rng.uniform "
                    "(size=None gives a single number).")
        if a.size == 0 or not np.all(np.isfinite(a)):
            return None
        if np.any(a < low * (1 - 1e-9)) or np.any(a > high * (1 + 1e-9)):
            return f"every sample must lie between low = {low:g} and high = {high:g}. " + LOG_SAMPLE_HINT
        return "your samples are not the expected draws: " + RNG_HINT.format(
            what=", rng.uniform(np.log10(low), np.log10(high), size)")

    return inspect


def _log_sample_case(low, high, seed, size=None, note=""):
    expected = reference("optim").sample_log_uniform(low, high, np.random.default_rng(seed), size)

    def draw(fn):
        return fn(np.random.default_rng(seed))

    def variants():
        a, b = math.log10(low), math.log10(high)
        out = [(draw(lambda r: r.uniform(low, high, size)),
                "sample the exponent, not the value: r = rng.uniform(np.log10(low), np.log10(high)), then 10 ** r. "
                "Uniform between low and high puts about 90 % of the samples in the top decade."),
               (draw(lambda r: r.random(size) * high),
                "r * high samples uniformly on the linear scale (most samples land in the top decade); sample the "
                "exponent r = rng.uniform(np.log10(low), np.log10(high)) and return 10 ** r."),
               (draw(lambda r: 10.0 ** r.uniform(math.log(low), math.log(high), size)),
                "np.log is the natural log: with 10 ** r use np.log10 (or use np.log with np.exp)."),
               (draw(lambda r: np.exp(r.uniform(a, b, size))),
                "np.exp undoes np.log, not np.log10: with np.log10 return 10 ** r."),
               (draw(lambda r: r.uniform(a, b, size)), "return 10 ** r, not the exponent r.")]
        return [Variant(h, {"sample": v if size is not None else float(v)}) for v, h in out]

    args = [("low", low), ("high", high), ("rng", np.random.default_rng(seed))]
    if size is not None:
        args.append(("size", size))
    return Case(args=args,
                outputs=[Out("sample", float(expected) if size is None else expected,
                             kind="scalar" if size is None else "array",
                             shape_hint="with size given, return an array of that shape (pass size to rng.uniform).")],
                describe=f"low={low:g}, high={high:g}, rng=np.random.default_rng({seed})"
                         + (f", size={size!r}" if size is not None else ""),
                note=note, hint=LOG_SAMPLE_HINT, variants=variants, inspect=_log_sample_inspect(low, high, size))


def sample_log_uniform(func, hidden=False, seed=0):
    """Check ``sample_log_uniform(low, high, rng, size=None)``: 10**r, r ~ U[log10 low, log10 high]."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_log_sample_case(1e-4, 1.0, 0, note="one learning rate between 1e-4 and 1"),
                 _log_sample_case(1e-3, 1e-1, 1, (5,), "five samples between 0.001 and 0.1"),
                 _log_sample_case(1e-6, 1e-2, 2, (2, 3), "a (2, 3) array between 1e-6 and 0.01")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for _ in range(_HIDDEN):
            low = float(10 ** rng.uniform(-7, -1))
            high = low * float(10 ** rng.uniform(0.5, 5))
            size = [None, None, (int(rng.integers(1, 8)),), (int(rng.integers(1, 4)), int(rng.integers(1, 4)))][
                int(rng.integers(0, 4))]
            cases.append(_log_sample_case(low, high, int(rng.integers(0, 2**31)), size))
    run_check("sample_log_uniform", func, cases, hidden=hidden)
