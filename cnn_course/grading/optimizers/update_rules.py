"""Checks of section 10: the update rules momentum, RMSProp and Adam.

The update rules take and return a state dict. A student may update the dict they were
given or build a new one; either way the returned state must hold the new values (and
Adam's ``"t"`` must be the int step count).
"""

from __future__ import annotations

import numpy as np

from ..core import Case, Out, Variant, f64, float_dtypes, reference, run_check
from ._common import _HIDDEN


# =========================================================================== update rules


def _copy_state(state):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()}


def _steps(func, values):
    """Run several updates in a row, each fed the w and state the previous one returned."""
    w, dws, state, *hyper = values
    result = None
    for dw in dws:
        result = func(w, dw, state, *hyper)
        if not (isinstance(result, (tuple, list)) and len(result) == 2 and isinstance(result[1], dict)):
            return result  # reported as a wrong return value
        w, state = result
    return result


def _update_case(w, dw, state, hyper, ref_fn, sims, *, steps=1, note="", hint="", state_hints=None, inspect=None,
                 key_hint=""):
    """A case for an update rule: (w_next, state) from the reference, variants from ``sims``.

    hyper: [(name, value), ...] passed positionally after state (a prefix of the rule's
    parameters; the rest keep their defaults). sims: [(hint, fn(w, dw, state) -> (w_next,
    state))] one step each with pristine float64 copies. steps > 1 runs the student's
    function that many times in a row on dw[0], dw[1], ... inspect(expected_state) -> a
    Case.inspect for mismatches no sim explains; key_hint is added when the function
    reads a key the state does not have.
    """
    kw = dict(hyper)
    dws = list(dw) if steps > 1 else [dw]
    w_ref, s_ref = w.copy(), _copy_state(state)
    for g in dws:
        w_ref, s_ref = ref_fn(w_ref, g.copy(), s_ref, **kw)
    w0, st0, dws0 = w.copy(), _copy_state(state), [g.copy() for g in dws]

    def variants():
        out = []
        for h, sim in sims:
            wv, sv = f64(w0), {k: (f64(v) if isinstance(v, np.ndarray) else v) for k, v in st0.items()}
            with np.errstate(all="ignore"):
                for g in dws0:
                    wv, sv = sim(wv, f64(g), sv)
            out.append(Variant(h, {"w_next": wv, "state": sv} if sv is not None else {"w_next": wv}))
        return out

    def describe_state():
        parts = []
        for k, v in state.items():
            if isinstance(v, np.ndarray):
                parts.append(f"{k}: zeros" if not np.any(v) else f"{k}: nonzero")
            else:
                parts.append(f"{k}={v!r}")
        return "state {" + ", ".join(parts) + "}"

    hp = ", ".join(f"{k}={v:g}" for k, v in hyper) if hyper else "default hyperparameters"
    if steps > 1:
        args = [("w", w), ("dws", tuple(dws)), ("state", state)] + list(hyper)
        what = f"{steps} steps in a row, each given the w and state your function returned"
    else:
        args = [("w", w), ("dw", dw), ("state", state)] + list(hyper)
        what = "one step"
    return Case(args=args,
                outputs=[Out("w_next", w_ref, shape_hint="w_next has the shape of w."),
                         Out("state", s_ref, kind="dict", hints=state_hints or {})],
                describe=f"{what}: w.shape={w.shape}, {describe_state()}, {hp}, dtype={np.dtype(w.dtype).name}",
                dtype=w.dtype, note=note, hint=hint, variants=variants, inplace_ok=frozenset({"state"}),
                call=_steps if steps > 1 else None, inspect=inspect(s_ref) if inspect else None,
                exception_hint=lambda exc, line: (f"state is the dict of the previous step, with the keys "
                                                  f"{list(state)}; return (w_next, state)."
                                                  + (" " + key_hint if key_hint and isinstance(exc, KeyError) else "")
                                                  if isinstance(exc, (KeyError, TypeError)) else hint))


def _rule_cases(hidden, seed, make, visible):
    if not hidden:
        return visible()
    rng = np.random.default_rng(seed)
    cases = []
    for k, dt in enumerate(float_dtypes(rng, _HIDDEN)):
        shape = tuple(int(n) for n in rng.integers(1, 6, size=int(rng.integers(1, 3))))
        cases.append(make(rng, shape, dt, 3 if k % 5 == 4 else 1))
    return cases


def _grad(rng, shape, dt, tiny=False):
    g = rng.standard_normal(shape) * (1e-5 if tiny else 1.0)
    return g.astype(dt)


# --------------------------------------------------------------------------- momentum

MOMENTUM_HINT = "v = β·v + (1 − β)·dw, then w_next = w − lr·v; return (w_next, state) with state[\"v\"] = the new v."


def _momentum_sims(lr, beta):
    def step(kind):
        def sim(w, dw, s):
            v = s["v"]
            if kind == "no_one_minus":
                vn = beta * v + dw
            elif kind == "swapped":
                vn = (1 - beta) * v + beta * dw
            else:
                vn = beta * v + (1 - beta) * dw
            if kind == "old_v":
                return w - lr * v, {"v": vn}
            if kind == "sign":
                return w + lr * vn, {"v": vn}
            if kind == "dw_step":
                return w - lr * dw, {"v": vn}
            return w - lr * vn, {"v": vn}
        return sim

    return [("the course's momentum averages the gradients: v = β·v + (1 − β)·dw. Without (1 − β) the steps are "
             "about 1/(1 − β) times larger (that form is torch.optim.SGD's).", step("no_one_minus")),
            ("β weighs the old velocity and (1 − β) the new gradient: v = β·v + (1 − β)·dw.", step("swapped")),
            ("update v first, then step with the new v: w_next = w − lr·v_new.", step("old_v")),
            ("step against the velocity: w_next = w − lr·v.", step("sign")),
            ("the step uses the velocity v (the average of the gradients), not dw: w_next = w − lr·v.",
             step("dw_step"))]


def _momentum_case(w, dw, v, hyper, steps=1, note=""):
    kw = {"lr": 0.01, "beta": 0.9, **dict(hyper)}
    return _update_case(w, dw, {"v": v}, hyper, reference("optim").momentum_update,
                        _momentum_sims(kw["lr"], kw["beta"]), steps=steps, note=note, hint=MOMENTUM_HINT)


def momentum_update(func, hidden=False, seed=0):
    """Check ``momentum_update(w, dw, state, lr=0.01, beta=0.9) -> (w_next, state)``, state {"v": ...}."""
    __tracebackhide__ = True

    def visible():
        w = np.array([1.0, -2.0, 0.5])
        dw = np.array([0.5, 1.0, -1.0])
        return [_momentum_case(w, dw, np.zeros(3), [], note="the first step from momentum_init's zeros, default "
                               "lr = 0.01 and beta = 0.9: v = 0.1·dw"),
                _momentum_case(w.copy(), dw.copy(), np.array([0.2, -0.1, 0.3]), [("lr", 0.1), ("beta", 0.5)],
                               note="a velocity carried over from earlier steps"),
                _momentum_case(np.linspace(-1, 1, 6).reshape(2, 3), [np.full((2, 3), 1.0), np.full((2, 3), -0.5),
                                                                     np.linspace(0, 1, 6).reshape(2, 3)],
                               np.zeros((2, 3)), [("lr", 0.1), ("beta", 0.9)], steps=3,
                               note="three steps, feeding each step the state returned by the one before")]

    def make(rng, shape, dt, steps):
        hyper = [("lr", float(rng.choice([0.001, 0.01, 0.1, 0.5])))]
        if rng.integers(0, 3):
            hyper.append(("beta", float(rng.choice([0.5, 0.8, 0.9, 0.99]))))
        v = np.zeros(shape, dt) if rng.integers(0, 3) == 0 else _grad(rng, shape, dt) * 0.3
        dw = [_grad(rng, shape, dt) for _ in range(steps)] if steps > 1 else _grad(rng, shape, dt)
        return _momentum_case(_grad(rng, shape, dt), dw, v, hyper, steps)

    run_check("momentum_update", func, _rule_cases(hidden, seed, make, visible), hidden=hidden)


# --------------------------------------------------------------------------- RMSProp

RMSPROP_HINT = ("s = β·s + (1 − β)·dw², then w_next = w − lr·dw / (√s + ε), with ε outside the square root "
                "(as torch.optim.RMSprop); return (w_next, state) with state[\"s\"] = the new s.")


def _rmsprop_sims(lr, beta, eps):
    def step(kind):
        def sim(w, dw, st):
            s = st["s"]
            sq = dw if kind == "no_square" else dw * dw
            sn = beta * s + sq if kind == "no_one_minus" else beta * s + (1 - beta) * sq
            den = {"eps_inside": np.sqrt(sn + eps), "no_eps": np.sqrt(sn), "no_sqrt": sn + eps,
                   "old_s": np.sqrt(s) + eps}.get(kind, np.sqrt(sn) + eps)
            return w - lr * dw / den, {"s": sn}
        return sim

    return [("ε goes outside the square root: w_next = w − lr·dw / (√s + ε), as in torch.optim.RMSprop; "
             "√(s + ε) is a different rule.", step("eps_inside")),
            ("s averages the squared gradients: s = β·s + (1 − β)·dw²; you left out (1 − β).", step("no_one_minus")),
            ("square the gradient: s = β·s + (1 − β)·dw**2 (the mean of the squares).", step("no_square")),
            ("add ε to the denominator, √s + ε: where s = 0 (a gradient that has been 0 so far) you divide 0 by 0.",
             step("no_eps")),
            ("divide by the root of s (√s + ε), not by s itself.", step("no_sqrt")),
            ("update s first, then divide by the root of the new s.", step("old_s"))]


def _rmsprop_case(w, dw, s, hyper, steps=1, note=""):
    kw = {"lr": 0.001, "beta": 0.9, "eps": 1e-8, **dict(hyper)}
    return _update_case(w, dw, {"s": s}, hyper, reference("optim").rmsprop_update,
                        _rmsprop_sims(kw["lr"], kw["beta"], kw["eps"]), steps=steps, note=note, hint=RMSPROP_HINT)


def rmsprop_update(func, hidden=False, seed=0):
    """Check ``rmsprop_update(w, dw, state, lr=0.001, beta=0.9, eps=1e-8) -> (w_next, state)``, state {"s"}."""
    __tracebackhide__ = True

    def visible():
        w = np.array([1.0, -2.0, 0.5, 3.0])
        dw = np.array([0.5, 2.0, -1.0, 0.0])
        return [_rmsprop_case(w, dw, np.zeros(4), [], note="the first step from rmsprop_init's zeros, default "
                              "hyperparameters; the last gradient is 0"),
                _rmsprop_case(w.copy(), dw.copy(), np.array([0.04, 0.25, 1.0, 0.01]),
                              [("lr", 0.01), ("beta", 0.9), ("eps", 0.1)],
                              note="a large ε = 0.1 shows where ε goes: outside the square root"),
                _rmsprop_case(np.linspace(-1, 1, 6).reshape(3, 2),
                              [np.full((3, 2), 1e-3), np.full((3, 2), -2e-3),
                               np.linspace(-1e-3, 1e-3, 6).reshape(3, 2)],
                              np.zeros((3, 2)), [("lr", 0.01), ("beta", 0.99)], steps=3,
                              note="three steps with tiny gradients, each given the state returned before")]

    def make(rng, shape, dt, steps):
        hyper = [("lr", float(rng.choice([0.001, 0.01, 0.1])))]
        if rng.integers(0, 4):
            hyper.append(("beta", float(rng.choice([0.5, 0.9, 0.99, 0.999]))))
            if rng.integers(0, 3):
                hyper.append(("eps", float(rng.choice([1e-8, 1e-6, 1e-3, 0.1]))))
        tiny = bool(rng.integers(0, 3) == 0)
        s = np.zeros(shape, dt) if rng.integers(0, 3) == 0 else (np.abs(_grad(rng, shape, dt, tiny)) ** 2).astype(dt)
        dw = [_grad(rng, shape, dt, tiny) for _ in range(steps)] if steps > 1 else _grad(rng, shape, dt, tiny)
        return _rmsprop_case(_grad(rng, shape, dt), dw, s, hyper, steps)

    run_check("rmsprop_update", func, _rule_cases(hidden, seed, make, visible), hidden=hidden)


# --------------------------------------------------------------------------- Adam

ADAM_HINT = ("t = state[\"t\"] + 1; v = β1·v + (1 − β1)·dw (momentum's v); s = β2·s + (1 − β2)·dw² (RMSProp's s); "
             "v̂ = v / (1 − β1**t); ŝ = s / (1 − β2**t); w_next = w − lr·v̂ / (√ŝ + ε); the new state holds v, s "
             "(not v̂, ŝ) and t.")
T_HINT = "state[\"t\"] counts the steps taken: an int, state[\"t\"] + 1 after this step (not a float)."
NAMES_HINT = ("this course names Adam's two averages after momentum and RMSProp: state[\"v\"] is the average of "
              "the gradients (the first moment, with β1) and state[\"s\"] the average of their squares (the "
              "second moment, with β2). Kingma & Ba's paper calls them m and v; here they are v and s.")
SWAPPED_HINT = "you swapped v and s: " + NAMES_HINT


def _adam_sims(lr, b1, b2, eps):
    def step(kind):
        def sim(w, dw, st):
            v, s, t = st["v"], st["s"], st["t"]
            if kind == "keys_swapped":  # the first moment kept under "s", the second under "v"
                v, s = s, v
            bv, bs = (b2, b1) if kind == "betas_swapped" else (b1, b2)
            vn = b1 * v + dw if kind == "no_one_minus" else bv * v + (1 - bv) * dw
            sn = bs * s + (1 - bs) * (dw if kind == "no_square" else dw * dw)
            tn = t + 1
            tc = t if kind == "t_after" else tn
            if kind == "no_correction":
                vh, sh = vn, sn
            else:
                vh, sh = vn / (1 - b1 ** tc), sn / (1 - b2 ** tc)
            if kind == "ratio_swapped":
                vh, sh = sh, vh
            den = {"eps_inside": np.sqrt(sh + eps), "no_sqrt": sh + eps}.get(kind, np.sqrt(sh) + eps)
            w_next = w - lr * vh / den
            if kind == "store_hat":
                return w_next, {"v": vh, "s": sh, "t": tn}
            if kind == "t_kept":
                return w_next, {"v": vn, "s": sn, "t": t}
            if kind in ("keys_swapped", "stored_swapped"):
                return w_next, {"v": sn, "s": vn, "t": tn}
            return w_next, {"v": vn, "s": sn, "t": tn}
        return sim

    return [("you skipped the bias correction: v̂ = v / (1 − β1**t) and ŝ = s / (1 − β2**t), with t already "
             "incremented; step with v̂ / (√ŝ + ε).", step("no_correction")),
            ("increment t before the bias correction: the first step uses t = 1 (with t = 0, 1 − β**0 = 0 and the "
             "correction divides by zero).", step("t_after")),
            ("store the new step count in the state: state[\"t\"] = t + 1.", step("t_kept")),
            ("keep the raw averages v and s in the state; v̂ and ŝ are only for this step's update (the next step "
             "averages v and s further).", step("store_hat")),
            ("ε goes outside the square root: w_next = w − lr·v̂ / (√ŝ + ε), as in torch.optim.Adam.",
             step("eps_inside")),
            ("divide by the root of ŝ: w_next = w − lr·v̂ / (√ŝ + ε).", step("no_sqrt")),
            (SWAPPED_HINT, step("keys_swapped")),
            (SWAPPED_HINT, step("stored_swapped")),
            ("the step is v̂ / (√ŝ + ε): the average gradient v̂ on top, the root of the average square ŝ below.",
             step("ratio_swapped")),
            ("β1 goes with v (the average of dw) and β2 with s (the average of dw²); you swapped the betas.",
             step("betas_swapped")),
            ("v averages the gradients: v = β1·v + (1 − β1)·dw; you left out (1 − β1).", step("no_one_minus")),
            ("s averages the squared gradients: s = β2·s + (1 − β2)·dw**2.", step("no_square"))]


def _adam_inspect(expected):
    """A state whose v holds the expected s (or whose s the expected v): the two were swapped;
    a state keyed m/v (Kingma & Ba's names): to be renamed."""
    def inspect(got):
        state = got.get("state")
        if not isinstance(state, dict):
            return None
        if "m" in state and "s" not in state:
            return NAMES_HINT + " Rename m to v and v to s (in what you read and in what you return)."
        for key, other in (("v", "s"), ("s", "v")):
            value = state.get(key)
            if (isinstance(value, np.ndarray) and value.shape == expected[other].shape
                    and not np.allclose(expected[key], expected[other], rtol=1e-4, atol=1e-8)
                    and np.allclose(value, expected[other], rtol=1e-4, atol=1e-8)):
                return SWAPPED_HINT
        return None

    return inspect


def _adam_case(w, dw, state, hyper, steps=1, note=""):
    kw = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, **dict(hyper)}
    return _update_case(w, dw, state, hyper, reference("optim").adam_update,
                        _adam_sims(kw["lr"], kw["beta1"], kw["beta2"], kw["eps"]), steps=steps, note=note,
                        hint=ADAM_HINT, state_hints={"t": T_HINT}, inspect=_adam_inspect,
                        key_hint="This course n" + NAMES_HINT[len("this course n"):])


def adam_update(func, hidden=False, seed=0):
    """Check ``adam_update(w, dw, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8) -> (w_next, state)``,
    state {"v": first moment, "s": second moment, "t": step count}."""
    __tracebackhide__ = True

    def visible():
        w = np.array([1.0, -2.0, 0.5])
        dw = np.array([0.5, 2.0, -1.0])
        return [_adam_case(w, dw, {"v": np.zeros(3), "s": np.zeros(3), "t": 0}, [],
                           note="the first step from adam_init's state (t = 0), default hyperparameters: "
                                "t becomes 1 before the correction"),
                _adam_case(w.copy(), dw.copy(), {"v": np.array([0.1, -0.2, 0.05]), "s": np.array([0.01, 0.04, 0.002]),
                                                 "t": 5}, [("lr", 0.01), ("beta1", 0.8), ("beta2", 0.99), ("eps", 0.1)],
                           note="step 6 of a run, with a large ε = 0.1"),
                _adam_case(np.linspace(-1, 1, 6).reshape(2, 3), [np.full((2, 3), 1.0), np.full((2, 3), -0.5),
                                                                 np.linspace(0, 1, 6).reshape(2, 3)],
                           {"v": np.zeros((2, 3)), "s": np.zeros((2, 3)), "t": 0}, [("lr", 0.1)], steps=3,
                           note="three steps from t = 0, each given the state returned by the one before")]

    def make(rng, shape, dt, steps):
        hyper = [("lr", float(rng.choice([0.001, 0.01, 0.1])))]
        if rng.integers(0, 4):
            hyper += [("beta1", float(rng.choice([0.5, 0.8, 0.9]))), ("beta2", float(rng.choice([0.9, 0.99, 0.999])))]
            if rng.integers(0, 3):
                hyper.append(("eps", float(rng.choice([1e-8, 1e-6, 1e-2, 0.1]))))
        t = int(rng.choice([0, 0, 1, 2, 5, 10, 100]))
        if t == 0:
            state = {"v": np.zeros(shape, dt), "s": np.zeros(shape, dt), "t": 0}
        else:
            state = {"v": (_grad(rng, shape, dt) * 0.2).astype(dt),
                     "s": (np.abs(_grad(rng, shape, dt)) * 0.05).astype(dt), "t": t}
        dw = [_grad(rng, shape, dt) for _ in range(steps)] if steps > 1 else _grad(rng, shape, dt)
        return _adam_case(_grad(rng, shape, dt), dw, state, hyper, steps)

    run_check("adam_update", func, _rule_cases(hidden, seed, make, visible), hidden=hidden)
