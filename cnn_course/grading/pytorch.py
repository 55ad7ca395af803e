"""What the checks of the PyTorch exercises share.

A PyTorch exercise gives the check a class (the student's ``nn.Module``) or a function
working on torch objects (a training step). The check never reads the source: it builds
the module, compares its parameters with the expected ones, loads fixed weights, runs it,
runs a training step, and compares the NumPy results with values it computed itself.
Everything that touches the student's objects goes through the probes
(:mod:`.probes`), so the same check runs in the student's notebook and in the autograder,
where the student's code lives in a sandboxed kernel and only NumPy data and handles
reach the check.

A typical check::

    @forbids(*TORCH_FORBIDDEN)
    def tiny_net(TinyNet, hidden=False, seed=0):
        k = kernel(TinyNet)
        model = build("TinyNet", TinyNet, (4, 3))
        check_parameters("TinyNet", k.summary(model), [("fc1.weight", (8, 4)), ...])
        cases = [Case(args=[("x", x)], outputs=[Out("out", expected)], describe=...,
                      call=lambda cls, values: forward_with("TinyNet", cls, (4, 3), weights, values[0]))]
        run_check("TinyNet", TinyNet, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)

Expected values come from the check's own computation (a reference module built in this
process with the same weights, or NumPy), never from the student's side.
"""

from __future__ import annotations

import numpy as np

from .core import TORCH_FORBIDDEN, CheckFailed, NotYourOwnWork, _cheat_message, _student_frame, \
    find_forbidden_static
from .probes import kernel

__all__ = ["build", "check_parameters", "forward_with", "own_work", "random_weights", "shapes_table"]


def own_work(name: str, obj, forbidden=TORCH_FORBIDDEN) -> None:
    """Raise :class:`NotYourOwnWork` when the class or function ``obj`` uses the course's
    ready-made layers or models (a static look at its code and its methods')."""
    __tracebackhide__ = True
    found = find_forbidden_static(obj, forbidden)
    if found:
        raise NotYourOwnWork(_cheat_message(name, found, "found in your code", forbidden))


def _failure(what: str, exc: BaseException) -> CheckFailed:
    lines = [f"{what} raised {type(exc).__name__}: {exc}"]
    fr = _student_frame(exc)
    if fr is not None:
        lines.append(f"at line {fr.lineno}, in {fr.name}" + (f":  {fr.line.strip()}" if fr.line else ""))
    if isinstance(exc, NotImplementedError):
        lines.append("Hint: replace the `raise NotImplementedError()` line with your implementation.")
    return CheckFailed("\n  ".join(lines))


def build(name: str, cls, args=(), kwargs=None):
    """``cls(*args, **kwargs)``: the student's module (a handle, under the autograder), or a
    :class:`CheckFailed` naming the student's line when the constructor fails."""
    __tracebackhide__ = True
    shown = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in (kwargs or {}).items())])
    try:
        return cls(*args, **(kwargs or {}))
    except Exception as exc:  # the student's constructor: feedback, not a grader error
        raise _failure(f"{name}({shown})", exc) from None


def shapes_table(params) -> str:
    """One line per parameter: ``name  shape`` (``params``: [(name, shape, ...)]), for a line of
    a message whose lines are joined with ``"\\n  "`` (every row then starts 6 spaces in)."""
    width = max((len(p[0]) for p in params), default=0)
    return "\n  ".join(f"    {p[0]:<{width}}  {tuple(p[1])}" for p in params) or "    (none)"


def check_parameters(name: str, summary: dict, expected, *, hint: str = "") -> None:
    """Compare the parameters of the student's module (``summary`` from the ``summary``
    probe) with ``expected`` = [(label, shape)] in order; raise :class:`CheckFailed` with
    both tables on a difference. Names may differ (``conv1`` vs ``features.0``); the order
    of creation in ``__init__`` and the shapes must not."""
    __tracebackhide__ = True
    got = summary["parameters"]
    want_total = sum(int(np.prod(shape)) for _, shape in expected)
    problem = None
    if len(got) != len(expected):
        problem = f"{name} has {len(got)} parameter tensors, expected {len(expected)}."
    else:
        for k, ((gname, gshape, *_), (label, shape)) in enumerate(zip(got, expected)):
            if tuple(gshape) != tuple(shape):
                problem = (f"parameter {k + 1} of {name} ({gname}) has shape {tuple(gshape)}, expected {tuple(shape)} "
                           f"({label}).")
                break
    if problem is None:
        frozen = [p[0] for p in got if len(p) > 2 and not p[2]]
        if frozen:
            problem = f"{name}'s parameter {frozen[0]} has requires_grad=False: it would never be trained."
    if problem is None:
        return
    lines = [problem,
             f"Expected ({want_total:,} parameters, in the order __init__ creates them):",
             shapes_table([(label, shape) for label, shape in expected]),
             f"Yours ({summary['n_parameters']:,} parameters):",
             shapes_table(got)]
    if hint:
        lines.append(f"Hint: {hint}")
    raise CheckFailed("\n  ".join(lines))


def random_weights(shapes, rng: np.random.Generator, dtype=np.float32, scale: float = 0.5) -> list[np.ndarray]:
    """Fixed weights for a check: one array per shape, uniform in [-scale/√fan_in, scale/√fan_in]
    (fan_in: the product of all but the first dimension; 1 for a vector)."""
    out = []
    for shape in shapes:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        bound = scale / np.sqrt(fan_in)
        out.append(rng.uniform(-bound, bound, size=shape).astype(dtype))
    return out


def forward_with(name: str, cls, args, weights, x, *, kwargs=None, mode: str | None = "eval"):
    """Build the student's module, load ``weights`` (in parameter order), run it on the
    NumPy array ``x`` in ``mode`` and return the output as a NumPy array. For a
    :class:`~.core.Case` ``call``."""
    __tracebackhide__ = True
    k = kernel(cls)
    model = build(name, cls, args, kwargs)
    k.set_parameters(model, weights)
    return k.forward(model, x, mode=mode)


def eval_then_train(name: str, cls, args, params, buffers, x):
    """Build the student's module, load ``params`` and ``buffers``, run ``x`` once in eval
    mode and once in train mode: ``(out_eval, buffers after, out_train, buffers after)``,
    what a batch-norm check compares (running statistics used, then updated)."""
    __tracebackhide__ = True
    k = kernel(cls)
    model = build(name, cls, args)
    k.set_parameters(model, params)
    k.set_buffers(model, buffers)
    out_eval = k.forward(model, x, mode="eval")
    after_eval = k.buffers(model)
    out_train = k.forward(model, x, mode="train")
    return out_eval, after_eval, out_train, k.buffers(model)
