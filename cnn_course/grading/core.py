"""Generic machinery behind the notebook checks; topic modules only describe cases.

A topic check builds a list of :class:`Case` objects (inputs, expected outputs computed
with the reference, known-buggy variants for diagnosis) and hands them to
:func:`run_check`, which

* refuses functions that call the course library, PyTorch or SciPy's filters
  (a static look at the code, then one case run under ``sys.setprofile``),
* calls the student's function on every case, reporting any exception with the
  student's own line instead of a grader traceback,
* checks that no input was modified in place (arrays, tuples of arrays and dicts of
  arrays; ``Case.inplace_ok`` names arguments a function may update, such as a state dict),
* compares every output (type, shape, dtype, values) and, on a mismatch, names the
  known mistake the output matches, or falls back to a generic hint,
* prints a single ``✓`` line when everything passes.

Grader frames set ``__tracebackhide__`` so IPython and pytest show the student a short
message rather than the grader's internals.

This module holds the cases and the running; two parts live beside it and are
re-exported here, so ``core.<name>`` reaches every one of their names:

* :mod:`._compare`: :class:`Out` (one expected output), :func:`tolerances`, and how an
  output is compared (:func:`compare`, :func:`matches`);
* :mod:`._own_work`: what a graded function may not use (:data:`FORBIDDEN`,
  :func:`forbids`) and how the grader notices it (:func:`find_forbidden_static`,
  :class:`watch_forbidden_calls`, :func:`_cheat_message`).

Their names start with an underscore: they are the grader's internals, not checks a
student calls (see ``cnn_course.autograde.static.rules._check_api``).
"""

from __future__ import annotations

import importlib
import numbers
import os
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

# run_check and its helpers look these up as this module's globals, as before the split.
from ._compare import (  # noqa: F401  (re-exported: core.<name> is how the other modules and tests reach them)
    MAX_LISTED,
    Out,
    _brief,
    _close,
    _compare_cache,
    _compare_dict,
    _compare_entry,
    _compare_ints,
    _compare_list,
    _fmt,
    _is_value_mismatch,
    _kind_of,
    _type_name,
    _value_lines,
    compare,
    matches,
    tolerances,
)
from ._own_work import (  # noqa: F401  (re-exported, as above)
    _PATH_CACHE,
    _WATCHERS,
    FORBIDDEN,
    TORCH_FORBIDDEN,
    _cheat_message,
    _code_objects,
    _flagged_name,
    _forbidden_paths,
    _label,
    _object_module,
    active_watcher,
    find_forbidden_static,
    forbids,
    watch_forbidden_calls,
)

__all__ = [
    "CheckFailed", "NotYourOwnWork", "Out", "Variant", "Case", "run_check",
    "FORBIDDEN", "find_forbidden_static", "watch_forbidden_calls", "tolerances", "expect",
    "reference", "f64", "float_dtypes", "show_value", "describe", "TORCH_FORBIDDEN", "forbids",
]


class CheckFailed(AssertionError):
    """A graded function gave a wrong result; the message says where and why."""


class NotYourOwnWork(CheckFailed):
    """A graded function hands the work to a library instead of implementing it."""


def expect(condition, message: str) -> None:
    """Raise :class:`CheckFailed` with ``message`` unless ``condition`` holds (for the test
    cells of small exercises: ``expect(relu(x).shape == x.shape, "relu must keep the shape")``)."""
    __tracebackhide__ = True
    if not bool(condition):
        raise CheckFailed(message)


# --------------------------------------------------------------------------- helpers for the topic modules


def reference(module: str | None = None):
    """The reference implementation, ``cnn_course.ref`` or one of its modules, imported
    lazily: the grader imports fast and never pulls torch in."""
    return importlib.import_module("cnn_course.ref" + (f".{module}" if module else ""))


def f64(a) -> np.ndarray:
    """A float64 copy of ``a`` (expected values are computed in float64; a copy, so that a
    reference that updates its arguments in place never touches the case's arrays)."""
    return np.array(a, dtype=np.float64)


def float_dtypes(rng: np.random.Generator, n: int) -> list:
    """``n`` input dtypes for hidden cases, float32 or float64 at random."""
    return [np.float32 if k else np.float64 for k in rng.integers(0, 2, size=n)]


def show_value(v) -> str:
    """A short text for a case description: arrays by shape, floats to 6 digits."""
    if isinstance(v, np.ndarray):
        return f"shape {v.shape}"
    if isinstance(v, float):
        return f"{v:.6g}"
    return repr(v)


def describe(dtype=None, **items) -> str:
    """A case's description: ``x.shape=(2, 3), pad=1, dtype=float32``."""
    parts = [f"{k}.shape={v.shape}" if isinstance(v, np.ndarray) else f"{k}={show_value(v)}" for k, v in items.items()]
    if dtype is not None:
        parts.append(f"dtype={np.dtype(dtype).name}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- cases
# (Out, one expected output, and tolerances live with the comparison in _compare.)


@dataclass
class Variant:
    """A known mistake: what the outputs named in ``values`` would be, and what to say."""

    hint: str
    values: dict[str, Any]


@dataclass
class Case:
    """Inputs, expected outputs and diagnosis for one call of the student's function.

    args are passed positionally, as ``(name, value)`` pairs (names label messages).
    ``dtype`` is the float dtype of the inputs (sets the tolerance).
    ``variants`` is called only after a mismatch (a variant counts only when it names the
    output that failed); ``probes`` likewise, with the student's function, returning a hint
    or None (used to re-run it with another layout), also after an exception;
    ``exception_hint(exc, line)`` gets the exception and the student's source line.
    ``inspect(got_outputs)`` looks at the student's outputs after a mismatch that no variant
    explains and returns a hint or None (e.g. "each example must appear exactly once").
    ``inplace_ok`` names the arguments the function may modify in place (a state dict it
    may update or return); every other argument must come back unchanged.
    ``call(func, values)`` replaces the plain ``func(*values)`` (e.g. to run several steps
    that feed the function its own output); it must return what is compared.
    ``tol`` = (rtol, atol) overrides the tolerance that ``dtype`` implies.
    ``returns`` names the entries of the returned tuple when they are not the outputs
    (an entry without an :class:`Out`, such as a cache, is not compared).
    ``observe(values)`` reads outputs that are not returned from the arguments after the
    call (arrays the function updates in place, named in ``inplace_ok``) as ``{name: value}``.
    ``prepare(watched)`` runs before the call, outside the watcher and the in-place check:
    it returns ``{argument name: value}`` for arguments that come from the student's other
    functions (the cache of their own forward pass) or raises :class:`CheckFailed`, which
    becomes the case's failure; ``watched`` says whether this case runs under the
    forbidden-call watcher (so ``prepare`` can watch the code it runs too).
    ``inplace_hint`` replaces the generic hint when an argument was modified in place.
    ``raises`` is an exception type the function must raise on these inputs (invalid input:
    ``outputs`` is then empty). Returning, or raising another type, fails the case; the hint
    is ``inspect({"returned": value})`` or ``hint`` (``exception_hint`` for another type).
    """

    args: list[tuple[str, Any]]
    outputs: list[Out]
    describe: str
    dtype: Any = np.float64
    note: str = ""
    hint: str = ""
    variants: Callable[[], list[Variant]] | None = None
    probes: Callable[[Callable], str | None] | None = None
    exception_hint: Callable[[BaseException, str], str] | None = None  # (exception, student's line)
    extra: dict = field(default_factory=dict)
    inspect: Callable[[dict], str | None] | None = None
    inplace_ok: frozenset = frozenset()
    call: Callable[[Callable, list], Any] | None = None
    tol: tuple[float, float] | None = None
    returns: tuple[str, ...] = ()
    observe: Callable[[list], dict] | None = None
    prepare: Callable[[bool], dict] | None = None
    inplace_hint: str = ""
    raises: type[Exception] | None = None

    @property
    def tolerance(self):
        """What the comparisons get: ``tol`` when set, else the dtype (see :func:`tolerances`)."""
        return self.tol if self.tol is not None else self.dtype


# --------------------------------------------------------------------------- running


_GRADER_DIR = os.path.join(os.path.dirname(os.path.realpath(__file__)), "")
# Library code the student's function may call (NumPy, the standard library, the course's own
# layers): a traceback shows the student's line that called it, not the library's.
_LIB_DIRS = tuple({os.path.join(os.path.realpath(p), "") for p in
                   (os.path.dirname(np.__file__), os.path.dirname(os.__file__),
                    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))})


def _student_frame(exc: BaseException):
    """The deepest traceback frame that is the student's code (not the grader, not a library).

    None when the call itself failed (a wrong signature: only grader frames), as the judge
    reports it. An exception re-raised from another process carries that frame (or None) as
    ``__cnn_frame__``.
    """
    if hasattr(exc, "__cnn_frame__"):
        return exc.__cnn_frame__
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [fr for fr in frames
            if not os.path.realpath(fr.filename).startswith((_GRADER_DIR,) + _LIB_DIRS)
            and "site-packages" not in fr.filename]
    if mine:
        return mine[-1]
    if frames and not os.path.realpath(frames[-1].filename).startswith(_GRADER_DIR):
        return frames[-1]
    return None


def _exception_lines(name: str, exc: BaseException, case: Case, func) -> list[str]:
    lines = [f"{name} raised {type(exc).__name__}: {exc}"]
    fr = _student_frame(exc)
    if fr is not None:
        where = f"line {fr.lineno}, in {fr.name}"
        lines.append(f"at {where}" + (f":  {fr.line.strip()}" if fr.line else ""))
    if isinstance(exc, NotImplementedError):
        lines.append("Hint: replace the `raise NotImplementedError()` line with your implementation.")
        return lines
    hint = None
    if case.probes is not None:
        try:
            hint = case.probes(func)
        except Exception:  # a probe only helps; it never decides
            hint = None
    if hint is None and case.exception_hint is not None:
        hint = case.exception_hint(exc, fr.line if fr is not None and fr.line else "")
    if hint:
        lines.append(f"Hint: {hint}")
    return lines


def require_forward(name: str, func, forward_name: str, forward_func, forbidden) -> None:
    """The preamble of a backward check that needs the student's forward for its cache: both
    functions must exist, and the forward must be the student's own work."""
    __tracebackhide__ = True
    for label, f in ((name, func), (forward_name, forward_func)):
        if not callable(f):
            got = "None" if f is None else _type_name(f)
            raise CheckFailed(f"{name}'s check needs your function {label}, got {got}. "
                              "Run the cell that defines it first.")
    found = find_forbidden_static(forward_func, forbidden)
    if found:
        raise CheckFailed(f"{name} cannot be checked: your {forward_name}, whose cache it needs, calls {found}, "
                          f"which is not your own work.\n  Hint: fix {forward_name} first.")


def forward_cache(name: str, forward: Callable[[], Any], expected_out, dtype, forbidden, watch: bool,
                  mode: str = "", own_check: str = "") -> dict:
    """Run the student's forward pass for a backward check; return ``{"cache": cache}``.

    A backward check judges the student's backward on the cache of their own forward. When
    that forward raises, calls a forbidden function, does not return ``(out, cache)`` or gets
    ``out`` wrong, the backward cannot be judged: raise CheckFailed saying "fix <name> first".
    ``forward()`` calls the student's function; ``mode`` (e.g. " (train mode)") and
    ``own_check`` (the test cell's name) only change the wording.
    """
    def fix_first(lines: list[str]) -> CheckFailed:
        which = f"its own check, {own_check}," if own_check else "its own check"
        return CheckFailed("\n  ".join(
            [f"the cache comes from your {name}{mode}, which does not work yet:"]
            + [f"  {line}" for line in lines]
            + [f"Hint: fix {name} first ({which} explains what is wrong); this check can only judge "
               "the backward pass once the forward pass is right."]))

    watcher = watch_forbidden_calls(forbidden) if watch else None
    try:
        if watcher is None:
            result = forward()
        else:
            with watcher:
                result = forward()
    except Exception as exc:
        raise fix_first(_exception_lines(name, exc, Case(args=[], outputs=[], describe=""), forward)) from None
    if watcher is not None and watcher.found:
        raise fix_first([f"{name} calls {watcher.found}, which is not your own work."])
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        got = (f"a {type(result).__name__} of length {len(result)}" if isinstance(result, (tuple, list))
               else _type_name(result))
        raise fix_first([f"{name} must return a tuple (out, cache), got {got}."])
    lines = compare(Out("out", expected_out), result[0], dtype)
    if lines:
        raise fix_first([f"{name}'s {line}" if k == 0 else line for k, line in enumerate(lines)])
    return {"cache": result[1]}


def _snapshot(args, skip=frozenset()):
    """What to compare after the call: (label, original array, pristine copy) for every array
    among the arguments (also inside tuples and dicts), and (label, dict, shallow copy) for
    every dict argument. Arguments named in ``skip`` may change."""
    arrays, dicts = [], []
    for name, value in args:
        if name in skip:
            continue
        if isinstance(value, np.ndarray):
            arrays.append((name, value, value.copy()))
        elif isinstance(value, tuple):
            for k, v in enumerate(value):
                if isinstance(v, np.ndarray):
                    arrays.append((f"{name}[{k}]", v, v.copy()))
        elif isinstance(value, dict):
            dicts.append((name, value, dict(value)))
            for k, v in value.items():
                if isinstance(v, np.ndarray):
                    arrays.append((f'{name}["{k}"]' if isinstance(k, str) else f"{name}[{k!r}]", v, v.copy()))
    return arrays, dicts


DICT_INPLACE_HINT = ("build a new dict for the result (new = {} and new[key] = ..., or {**d}) and new arrays: "
                     "d.copy() copies the dict but not its arrays, so new[key] += ... still writes into the "
                     "caller's array; write new[key] = d[key] + ... instead.")


def _inplace_lines(name: str, snaps, hint: str = "") -> list[str] | None:
    arrays, dicts = snaps if isinstance(snaps, tuple) else (snaps, [])
    for label, now, before in dicts:
        if list(now) != list(before) or any(now[k] is not v for k, v in before.items()):
            added = [k for k in now if k not in before]
            removed = [k for k in before if k not in now]
            replaced = [k for k in before if k in now and now[k] is not before[k]]
            what = ("added the key " + repr(added[0]) if added else
                    "removed the key " + repr(removed[0]) if removed else
                    f"replaced its entry {replaced[0]!r}" if replaced else "reordered its keys")
            return [f"{name} modified its input {label} in place: it {what}.",
                    f"Hint: a function must not change the dict it is given; {DICT_INPLACE_HINT}"]
    for label, now, before in arrays:
        if now.shape != before.shape or not np.array_equal(now, before, equal_nan=True):
            tiny = ""
            if now.shape == before.shape:
                same = (now == before) | ((now != now) & (before != before))  # nan stays nan
                changed = int(np.sum(~same))
                if before.dtype.kind == "f" and np.all(np.isfinite(now)) and np.all(np.isfinite(before)):
                    drift = float(np.max(np.abs(now.astype(np.float64) - before)))
                    if drift <= 1e-12 * max(1.0, float(np.max(np.abs(before), initial=0.0))):
                        tiny = (f", by at most {drift:.1g}: adding a small number and taking it away again does "
                                "not always give back exactly the same number, so nudge a copy instead")
            else:
                changed = "all"
            generic = ("Hint: a function must not change its arguments in place: operators such as *=, += "
                       "or slice assignment on an input (or on a view of it) write into the caller's array. "
                       "Work on a copy (x.copy(), np.pad(...)) or build a new array.")
            if label.endswith("]") and "[\"" in label:
                generic += " For a dict: " + DICT_INPLACE_HINT
            return [f"{name} modified its input {label} in place "
                    f"({changed} of {before.size} entries changed{tiny}).", f"Hint: {hint}" if hint else generic]
    return None


def _diagnose(case: Case, func, got_outputs: dict, failing: Out) -> str | None:
    try:
        variants = case.variants() if case.variants is not None else []
    except Exception:  # a variant only helps; it never decides
        variants = []
    for v in variants:
        if failing.name not in v.values or matches(failing.expected, v.values[failing.name], case.tolerance):
            continue  # about another output, or no different from the right answer here
        if all(k in got_outputs and matches(got_outputs[k], val, case.tolerance) for k, val in v.values.items()):
            return v.hint
    if case.inspect is not None:
        try:
            hint = case.inspect(got_outputs)
        except Exception:  # an inspection only helps; it never decides
            hint = None
        if hint:
            return hint
    if case.probes is not None:
        try:
            return case.probes(func)
        except Exception:  # a probe only helps; it never decides
            return None
    return None


def _run_case(name: str, func, case: Case, profile: bool, forbidden) -> CheckFailed | None:
    __tracebackhide__ = True
    args = case.args
    if case.prepare is not None:
        try:
            prepared = case.prepare(profile)
        except CheckFailed as problem:
            return problem
        args = [(n, prepared.get(n, v)) for n, v in args]
    snaps = _snapshot(args, case.inplace_ok)
    values = [v for _, v in args]
    error = None
    watcher = watch_forbidden_calls(forbidden) if profile else None

    def call():
        # Overflow and 0/0 show up as inf/nan in the outputs, which the comparison explains;
        # numpy's warnings (or errors, under np.seterr(all="raise")) would only get in the way.
        with np.errstate(all="ignore"):
            return func(*values) if case.call is None else case.call(func, values)

    try:
        if watcher is not None:
            with watcher:
                result = call()
        else:
            result = call()
    except Exception as exc:  # the student's code failed: report it as feedback
        error = exc
    if watcher is not None and watcher.found:
        return NotYourOwnWork(_cheat_message(name, watcher.found, "seen while running your function", forbidden))
    if case.raises is not None:
        return _raises_problem(name, case, func, error, None if error is not None else result)
    if error is not None:
        return CheckFailed("\n  ".join(_exception_lines(name, error, case, func)))
    lines = _inplace_lines(name, snaps, case.inplace_hint)
    if lines:
        return CheckFailed("\n  ".join(lines))
    outs = case.outputs
    names = case.returns or tuple(o.name for o in outs)
    if len(names) > 1:
        if not isinstance(result, (tuple, list)) or len(result) != len(names):
            got = f"a {type(result).__name__} of length {len(result)}" if isinstance(result, (tuple, list)) \
                else _type_name(result)
            return CheckFailed(f"{name} must return a tuple ({', '.join(names)}), got {got}.")
        got_outputs = dict(zip(names, result))
    else:
        got_outputs = {names[0]: result}
    if case.observe is not None:
        got_outputs.update(case.observe(values))
    for out in outs:
        lines = compare(out, got_outputs[out.name], case.tolerance)
        if lines:
            hint = _diagnose(case, func, got_outputs, out)
            if hint is not None and lines[-1].startswith("Hint: "):
                lines = lines[:-1]  # the diagnosed mistake says more than the entry's generic hint
            if hint is None and "Hint:" not in lines[-1]:
                shape_wrong = lines[0].startswith(f"{out.name} has the wrong shape")
                hint = out.shape_hint if (shape_wrong and out.shape_hint) else case.hint
            if hint:
                lines.append(f"Hint: {hint}")
            return CheckFailed("\n  ".join(lines))
    return None


def _returned(value, depth: int = 0) -> str:
    """A one-line description of a returned value: numbers as they are, arrays by shape."""
    if isinstance(value, (numbers.Number, np.bool_)):
        return _fmt(value)
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, (tuple, list)) and depth == 0:
        inner = ", ".join(_returned(v, 1) for v in value[:4]) + (", ..." if len(value) > 4 else "")
        return f"a {type(value).__name__} ({inner})"
    return type(value).__name__ if value is not None else "None"


def _raises_problem(name: str, case: Case, func, error, result) -> CheckFailed | None:
    """A case that must raise ``case.raises``: None when it did, else what went wrong."""
    __tracebackhide__ = True
    want = case.raises.__name__
    if isinstance(error, case.raises):
        return None
    if isinstance(error, NotImplementedError):
        return CheckFailed("\n  ".join(_exception_lines(name, error, case, func)))
    if error is None:
        lines = [f"{name} returned {_returned(result)} instead of raising {want}."]
        hint = None
        if case.inspect is not None:
            try:
                hint = case.inspect({"returned": result})
            except Exception:  # an inspection only helps; it never decides
                hint = None
    else:
        lines = [f"{name} raised {type(error).__name__}: {error}, but it must raise {want} here."]
        fr = _student_frame(error)
        if fr is not None:
            lines.append(f"at line {fr.lineno}, in {fr.name}" + (f":  {fr.line.strip()}" if fr.line else ""))
        hint = None
        if case.exception_hint is not None:
            hint = case.exception_hint(error, fr.line if fr is not None and fr.line else "")
    hint = hint or case.hint
    if hint:
        lines.append(f"Hint: {hint}")
    return CheckFailed("\n  ".join(lines))


def run_check(name: str, func, cases: list[Case], *, hidden: bool, label: str | None = None,
              forbidden=FORBIDDEN) -> None:
    """Run ``func`` on every case; raise :class:`CheckFailed` on the first problem.

    The first case runs under the forbidden-call watcher (after its expected values were
    computed, so the grader's own reference calls are never seen). Prints one line on success.
    ``label`` names the check in the failure header and the ✓ line (``"f (train mode)"``);
    the messages about the function itself use ``name``.
    """
    __tracebackhide__ = True
    if not callable(func):
        got = "None" if func is None else _type_name(func)
        raise CheckFailed(f"{name}: expected your function {name}, got {got}. Run the cell that defines it first.")
    found = find_forbidden_static(func, forbidden)
    if found:
        raise NotYourOwnWork(_cheat_message(name, found, "found in your code", forbidden))
    kind = "hidden" if hidden else "visible"
    total = len(cases)
    for i, case in enumerate(cases, 1):
        problem = _run_case(name, func, case, i == 1, forbidden)
        if problem is not None:
            if isinstance(problem, NotYourOwnWork):
                raise problem
            note = f" ({case.note})" if case.note else ""
            header = f"{label or name} failed {kind} case {i} of {total}{note}: {case.describe}"
            raise type(problem)(f"{header}\n  {problem.args[0]}")
    print(f"✓ {label or name}: {total} {kind} case{'s' if total != 1 else ''} passed")
