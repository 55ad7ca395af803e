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
"""

from __future__ import annotations

import dis
import importlib.util
import numbers
import os
import sys
import traceback
import types
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = [
    "CheckFailed", "NotYourOwnWork", "Out", "Variant", "Case", "run_check",
    "FORBIDDEN", "find_forbidden_static", "watch_forbidden_calls", "tolerances", "expect",
    "reference", "f64", "float_dtypes", "show_value", "describe", "TORCH_FORBIDDEN", "forbids",
]

# Modules whose use inside a graded function means the student did not write the code.
FORBIDDEN = ("cnn_course.ref", "cnn_course.pt", "torch", "scipy.signal", "scipy.ndimage")
# The PyTorch exercises: torch.nn and torch.optim are the point, the course's ready-made
# layers and models are not.
TORCH_FORBIDDEN = ("cnn_course.ref", "cnn_course.pt")


def forbids(*modules: str):
    """Decorator for a check: the modules the graded function must not use (default
    :data:`FORBIDDEN`). The check passes them to :func:`run_check`; the autograder's static
    pass reads them from the check's ``forbidden`` attribute."""
    def mark(check):
        check.forbidden = tuple(modules)
        return check
    return mark

MAX_LISTED = 5  # differing positions shown in a value mismatch


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


@dataclass
class Out:
    """One expected output of the student's function.

    kind: "array" (float ndarray), "mask" (bool ndarray, exact), "int" (a Python or NumPy
    integer), "scalar" (a real number, float expected), "exact" (any value compared with
    ``==``, such as a type name or a flag), "cache" (a tuple compared entry
    by entry, exactly), "dict" (a dict compared key by key: same keys, each value by the
    kind its expected value calls for; messages name the key, e.g. ``state["v"]``) or
    "list" (a list or tuple of entries, e.g. ``(X_b, y_b)`` pairs, compared entry by entry
    the same way). Inside "dict" and "list", integer arrays are compared exactly.
    ``shape_hint`` is shown when an array has the wrong shape (for kind "int": when the result
    is not an integer); ``hints`` maps a dict key to
    a hint shown when that entry has the wrong type or shape; ``parts`` names the entries of
    each tuple in a "list" (e.g. ``("X_b", "y_b")``) for the messages.
    """

    name: str
    expected: Any
    kind: str = "array"
    shape_hint: str = ""
    hints: dict = field(default_factory=dict)
    parts: tuple = ()


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


def tolerances(dtype) -> tuple[float, float]:
    """(rtol, atol) for comparing results computed from inputs of ``dtype`` (an explicit
    ``(rtol, atol)`` pair, a case's ``tol``, is returned as it is)."""
    if isinstance(dtype, tuple):
        return dtype
    if np.dtype(dtype) == np.float32:
        return 1e-4, 1e-4
    return 1e-6, 1e-8


# --------------------------------------------------------------------------- comparison


def _fmt(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        return f"{float(v):.6g}"
    return repr(v)


def _type_name(x) -> str:
    if x is None:
        return "None (did you forget the return statement?)"
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape}"
    return type(x).__name__


def _close(got: np.ndarray, expected: np.ndarray, dtype, equal_nan: bool = False) -> np.ndarray:
    rtol, atol = tolerances(dtype)
    finite = np.abs(expected[np.isfinite(expected)]) if expected.size else expected
    scale = max(1.0, float(np.max(finite))) if finite.size else 1.0
    return np.isclose(got.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol * scale,
                      equal_nan=equal_nan)


def _value_lines(name: str, got: np.ndarray, expected: np.ndarray, bad: np.ndarray) -> list[str]:
    idx = np.argwhere(bad)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    bad_diff = diff[bad]
    worst = "nan or inf" if not np.all(np.isfinite(bad_diff)) else _fmt(np.max(bad_diff))
    lines = [f"{name} has wrong values at {len(idx)} of {expected.size} positions "
             f"(max abs difference {worst}); first differences:"]
    for pos in idx[:MAX_LISTED]:
        p = tuple(int(i) for i in pos)
        where = f"{name}[{', '.join(map(str, p))}]"
        lines.append(f"  {where}: expected {_fmt(expected[p])}, got {_fmt(got[p])}")
    return lines


def compare(out: Out, got, dtype) -> list[str] | None:
    """Lines explaining why ``got`` is not ``out.expected``; None when it is correct."""
    exp, name = out.expected, out.name
    if out.kind == "int":
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, numbers.Integral):
            if isinstance(got, numbers.Real) or (isinstance(got, np.ndarray) and got.size == 1):
                shown = repr(float(got)) if isinstance(got, numbers.Real) else _fmt(got)
                return [f"{name} must be an int, got {shown} ({type(got).__name__}); expected {exp}. "
                        "Hint: " + (out.shape_hint or "compute it with whole numbers (+, -, *, //): / always "
                                    "gives a float, which keeps only about 16 significant digits.")]
            return [f"{name} must be an int, got {_type_name(got)}; expected {exp}."]
        if int(got) != exp:
            return [f"{name} is wrong: expected {exp}, got {int(got)}."]
        return None
    if out.kind == "scalar":
        if isinstance(got, np.ndarray) and got.ndim == 0:
            got = got[()]
        if isinstance(got, np.ndarray):
            return [f"{name} must be a single number (a float), got {_type_name(got)}. "
                    "Hint: np.sum(...) of the whole product gives one number; convert with float(...) if needed."]
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, numbers.Real):
            return [f"{name} must be a float, got {type(got).__name__}."]
        if isinstance(got, numbers.Integral):
            return [f"{name} must be a float, got the integer {got!r}."]
        if not _close(np.asarray(got), np.asarray(exp), dtype):
            return [f"{name} is wrong: expected {_fmt(exp)}, got {_fmt(got)} "
                    f"(difference {_fmt(abs(float(got) - float(exp)))})."]
        return None
    if out.kind == "exact":
        same = type(got) is type(exp) and not isinstance(got, np.ndarray) and got == exp
        return None if same else [f"{name} must be {exp!r}, got {_brief(got)}."]
    if out.kind == "cache":
        return _compare_cache(name, got, exp)
    if out.kind == "dict":
        return _compare_dict(out, got, dtype)
    if out.kind == "list":
        return _compare_list(out, got, dtype)
    if out.kind == "ints":
        return _compare_ints(name, got, exp)
    # "array" and "mask"
    if not isinstance(got, np.ndarray):
        return [f"{name} must be a NumPy array, got {_type_name(got)}."]
    if got.shape != exp.shape:
        return [f"{name} has the wrong shape: expected {exp.shape}, got {got.shape}."]
    if out.kind == "mask":
        if got.dtype != np.bool_:
            return [f"{name} must be a boolean array (dtype bool), got dtype {got.dtype}. "
                    "Hint: a comparison such as x == value, or np.zeros(shape, dtype=bool), gives one."]
        bad = got != exp
        if bad.any():
            return _value_lines(name, got, exp, bad)
        return None
    if got.dtype.kind != "f":
        return [f"{name} has dtype {got.dtype}, but it must be a floating-point array (like its inputs). "
                "Hint: an array made with np.zeros(shape, dtype=int) or from integers truncates every value."]
    bad = ~_close(got, exp, dtype)
    if bad.any():
        return _value_lines(name, got, exp, bad)
    return None


def _compare_cache(name, got, exp) -> list[str] | None:
    if not isinstance(got, tuple) or len(got) != len(exp):
        return [f"{name} must be a tuple of {len(exp)} entries, got {_type_name(got)}"
                + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "") + "."]
    for k, (g, e) in enumerate(zip(got, exp)):
        if isinstance(e, np.ndarray):
            same = isinstance(g, np.ndarray) and g.shape == e.shape and np.array_equal(g, e)
        else:
            same = not isinstance(g, np.ndarray) and g == e
        if not same:
            return [f"{name}[{k}] is not the expected value (expected {_brief(e)}, got {_brief(g)})."]
    return None


def _brief(v) -> str:
    return f"an array of shape {v.shape}" if isinstance(v, np.ndarray) else repr(v)


def _kind_of(value) -> str:
    """The Out kind that compares an entry of a "dict" or "list" output."""
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, np.ndarray):
        if value.dtype == np.bool_:
            return "mask"
        return "ints" if value.dtype.kind in "iu" else "array"
    if isinstance(value, (bool, np.bool_)) or value is None:
        return "exact"
    if isinstance(value, numbers.Integral):
        return "int"
    return "scalar"


def _compare_entry(label: str, got, exp, dtype, hint: str = "") -> list[str] | None:
    kind = _kind_of(exp)
    if kind == "exact":
        if got is exp or (not isinstance(got, np.ndarray) and got == exp):
            return None
        lines = [f"{label} must be {exp!r}, got {_brief(got)}."]
    else:
        lines = compare(Out(label, exp, kind), got, dtype)
    if lines and hint and kind not in ("dict", "list") and not _is_value_mismatch(label, lines[0]):
        last = lines[-1].split(" Hint: ")[0]
        lines = lines[:-1] + [last, f"Hint: {hint}"]
    return lines


def _is_value_mismatch(label: str, first: str) -> bool:
    return first.startswith((f"{label} has wrong values", f"{label} is wrong"))


def _compare_dict(out: Out, got, dtype) -> list[str] | None:
    name, exp = out.name, out.expected
    if not isinstance(got, dict):
        return [f"{name} must be a dict with the keys {list(exp)}, got {_type_name(got)}."]
    missing = [k for k in exp if k not in got]
    extra = [k for k in got if k not in exp]
    if missing or extra:
        parts = []
        if missing:
            parts.append("no " + ", ".join(f"{k!r}" for k in missing))
        if extra:
            parts.append("unexpected " + ", ".join(f"{k!r}" for k in extra))
        return [f"{name} has the wrong keys: {' and '.join(parts)} (expected exactly {list(exp)}, "
                f"got {list(got)})."]
    for key, value in exp.items():
        lines = _compare_entry(f'{name}["{key}"]' if isinstance(key, str) else f"{name}[{key!r}]",
                               got[key], value, dtype, out.hints.get(key, ""))
        if lines:
            return lines
    return None


def _compare_list(out: Out, got, dtype) -> list[str] | None:
    name, exp = out.name, out.expected
    if not isinstance(got, (list, tuple)):
        return [f"{name} must be a list of {len(exp)} entries, got {_type_name(got)}."]
    if len(got) != len(exp):
        return [f"{name} has {len(got)} entries, expected {len(exp)}."]
    for i, (g, e) in enumerate(zip(got, exp)):
        if isinstance(e, tuple) and out.parts:
            if not isinstance(g, (tuple, list)) or len(g) != len(e):
                return [f"{name}[{i}] must be a tuple ({', '.join(out.parts)}), got {_type_name(g)}"
                        + (f" of length {len(g)}" if isinstance(g, (tuple, list)) else "") + "."]
            for j, (gj, ej) in enumerate(zip(g, e)):
                part = out.parts[j] if j < len(out.parts) else str(j)
                lines = _compare_entry(f"{name}[{i}][{j}] ({part})", gj, ej, dtype)
                if lines:
                    return lines
        else:
            lines = _compare_entry(f"{name}[{i}]", g, e, dtype)
            if lines:
                return lines
    return None


def _compare_ints(name: str, got, exp: np.ndarray) -> list[str] | None:
    if not isinstance(got, np.ndarray):
        return [f"{name} must be a NumPy array, got {_type_name(got)}."]
    if got.shape != exp.shape:
        return [f"{name} has the wrong shape: expected {exp.shape}, got {got.shape}."]
    if got.dtype.kind not in "iu":
        return [f"{name} must keep the integer dtype of its input ({exp.dtype}), got dtype {got.dtype}."]
    bad = got != exp
    if bad.any():
        return _value_lines(name, got, exp, bad)
    return None


def matches(got, value, dtype) -> bool:
    """Whether ``got`` equals ``value`` within tolerance (same shape, any dtype).

    Dicts (same keys), lists and tuples are compared entry by entry; nan matches nan,
    so a variant can describe a result that overflows.
    """
    if isinstance(value, np.ndarray):
        if not isinstance(got, np.ndarray) or got.shape != value.shape:
            return False
        if value.dtype == np.bool_ or got.dtype == np.bool_:
            return got.dtype == value.dtype and bool(np.array_equal(got, value))
        try:
            return bool(_close(got, value, dtype, equal_nan=True).all())
        except (TypeError, ValueError):
            return False
    if isinstance(value, dict):
        return (isinstance(got, dict) and set(got) == set(value)
                and all(matches(got[k], v, dtype) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (isinstance(got, (list, tuple)) and len(got) == len(value)
                and all(matches(g, v, dtype) for g, v in zip(got, value)))
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        if isinstance(got, np.ndarray) and got.ndim == 0:
            got = got[()]
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, numbers.Real):
            return False
        if isinstance(value, numbers.Integral) and isinstance(got, numbers.Integral):
            return int(got) == int(value)  # exactly, as compare() checks an "int" output
        return bool(_close(np.asarray(float(got)), np.asarray(float(value)), dtype, equal_nan=True))
    if isinstance(got, np.ndarray):
        return False
    try:
        return bool(got == value)
    except Exception:  # an odd object whose == misbehaves never matches
        return False


# --------------------------------------------------------------------------- anti-cheat


def _flagged_name(name: str | None, forbidden) -> bool:
    return bool(name) and any(name == p or name.startswith(p + ".") for p in forbidden)


def _object_module(obj) -> str | None:
    """The module an object belongs to (functions, builtins, classes, instances)."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    mod = getattr(obj, "__module__", None)
    if isinstance(mod, str):
        return mod
    mod = getattr(type(obj), "__module__", None)
    return mod if isinstance(mod, str) else None


def _label(obj) -> str:
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    mod = _object_module(obj) or "?"
    return f"{mod}.{getattr(obj, '__qualname__', getattr(obj, '__name__', type(obj).__name__))}"


def _code_objects(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def find_forbidden_static(func, forbidden=FORBIDDEN) -> str | None:
    """Name of a forbidden module/function the function (or its own helpers) refers to.

    Looks at the function object itself, then the globals, closure variables and
    attribute chains its code (including nested functions and comprehensions) uses,
    following into helper functions defined in the same namespace.
    A proxy for a function that lives in another process (``remote.RemoteFunction``)
    has the look done there.
    """
    if getattr(type(func), "__cnn_remote__", False):
        return func.__cnn_static__(tuple(forbidden))
    seen: set[int] = set()

    def visit(f, via: str) -> str | None:
        if id(f) in seen:
            return None
        seen.add(id(f))
        if _flagged_name(_object_module(f), forbidden):
            return _label(f) + via
        if isinstance(f, type):
            return visit_class(f, via)
        code = getattr(f, "__code__", None)
        if code is None:
            return None
        globs = getattr(f, "__globals__", {})
        builtins = globs.get("__builtins__", {})
        if isinstance(builtins, types.ModuleType):
            builtins = vars(builtins)
        refs, attrs = [], set()
        for co in _code_objects(code):
            for ins in dis.get_instructions(co):
                if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                    name = ins.argval
                    if name in globs:
                        refs.append(globs[name])
                    elif name in builtins:
                        refs.append(builtins[name])
                elif ins.opname in ("LOAD_ATTR", "LOAD_METHOD"):
                    attrs.add(ins.argval)
        for cell in getattr(f, "__closure__", None) or ():
            try:
                refs.append(cell.cell_contents)
            except ValueError:  # empty cell
                pass
        for obj in refs:
            found = check_obj(obj, attrs, f)
            if found:
                return found
        return None

    def check_obj(obj, attrs, owner) -> str | None:
        if isinstance(obj, types.ModuleType):
            if _flagged_name(obj.__name__, forbidden):
                used = sorted(a for a in attrs if hasattr(obj, a))
                return f"{obj.__name__}.{used[0]}" if used else obj.__name__
            # a parent package (cnn_course, scipy): follow the attributes the code reads
            for a in sorted(attrs):
                sub = getattr(obj, a, None)
                if sub is not None and _flagged_name(_object_module(sub), forbidden):
                    if isinstance(sub, types.ModuleType):
                        deeper = sorted(b for b in attrs if hasattr(sub, b))
                        return f"{sub.__name__}.{deeper[0]}" if deeper else sub.__name__
                    return _label(sub)
            return None
        if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, type, types.MethodType)) \
                or callable(obj) or hasattr(obj, "__module__"):
            if _flagged_name(_object_module(obj), forbidden):
                return _label(obj)
        own_class = isinstance(obj, type) and obj.__module__ == getattr(owner, "__module__", None)
        if own_class or isinstance(obj, types.FunctionType) and (
                obj.__globals__ is getattr(owner, "__globals__", None) or obj.__module__ == "__main__"):
            inner = visit(obj, "")
            if inner:
                return f"{inner} (through your {'class' if own_class else 'function'} {obj.__name__})"
        return None

    def visit_class(cls: type, via: str) -> str | None:
        # a class is the student's code through its bases and the methods its body defines
        for base in cls.__mro__[1:]:
            if _flagged_name(_object_module(base), forbidden):
                return f"{_label(base)} (the base class of {cls.__name__}){via}"
        for attr in vars(cls).values():
            attr = getattr(attr, "__func__", None) or getattr(attr, "fget", None) or attr  # methods, properties
            if isinstance(attr, types.FunctionType) and attr.__qualname__.startswith(cls.__qualname__ + "."):
                found = visit(attr, via)
                if found:
                    return found
        return None

    return visit(func, "")


_PATH_CACHE: dict[tuple, tuple[str, ...]] = {}


def _forbidden_paths(forbidden) -> tuple[str, ...]:
    """Source directories/files of the forbidden packages, found without importing them."""
    key = tuple(forbidden)
    if key not in _PATH_CACHE:
        paths = []
        for name in forbidden:
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                spec = None
            if spec is None:
                continue
            if spec.submodule_search_locations:
                paths += [os.path.join(os.path.realpath(p), "") for p in spec.submodule_search_locations]
            elif spec.origin:
                paths.append(os.path.realpath(spec.origin))
        _PATH_CACHE[key] = tuple(paths)
    return _PATH_CACHE[key]


class watch_forbidden_calls:
    """Context manager recording the first call into a forbidden package (``.found``).

    Python calls are recognised by the module name or the file of the called code; C
    calls by the builtin's ``__module__``, ``__self__`` or ``__objclass__``. Any profiler
    installed before is restored on exit, even when the code inside raises.
    """

    def __init__(self, forbidden=FORBIDDEN):
        self.forbidden = tuple(forbidden)
        self.paths = _forbidden_paths(self.forbidden)
        self.found: str | None = None
        self._old = None

    def _hook(self, frame, event, arg):
        if self.found is not None or event not in ("call", "c_call"):
            return
        if event == "call":
            code = frame.f_code
            modname = frame.f_globals.get("__name__")
            if _flagged_name(modname, self.forbidden) or code.co_filename.startswith(self.paths):
                self.found = f"{modname}.{code.co_qualname}"
            return
        for owner in (arg, getattr(arg, "__self__", None), getattr(arg, "__objclass__", None)):
            if owner is None:
                continue
            mod = owner.__name__ if isinstance(owner, types.ModuleType) else _object_module(owner)
            if _flagged_name(mod, self.forbidden):
                self.found = f"{_object_module(arg) or mod}.{getattr(arg, '__name__', '?')}"
                return

    def __enter__(self):
        self._old = sys.getprofile()
        _WATCHERS.append(self)
        sys.setprofile(self._hook)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self._old)
        if self in _WATCHERS:
            _WATCHERS.remove(self)
        return False


_WATCHERS: list[watch_forbidden_calls] = []


def active_watcher() -> watch_forbidden_calls | None:
    """The innermost watcher now running: a proxy for a function in another process asks
    that process to watch the call and reports what it saw in ``found``."""
    return _WATCHERS[-1] if _WATCHERS else None


def _cheat_message(name: str, found: str, how: str, forbidden=FORBIDDEN) -> str:
    if "torch" not in forbidden:
        return (f"{name} earns no points: it calls {found} ({how}).\n"
                "  This exercise asks you to build it yourself from torch.nn and torch.optim. The course "
                "library (cnn_course.pt, cnn_course.ref) has it ready-made, which does the work for you.")
    extra = [f for f in forbidden if f not in FORBIDDEN]
    libs = "scipy.signal / scipy.ndimage" + "".join(f" / {f}" for f in extra)
    return (f"{name} earns no points: it calls {found} ({how}).\n"
            "  This exercise asks for your own NumPy implementation. Calling the course library "
            f"(cnn_course.ref, cnn_course.pt), PyTorch or {libs} does the work for you. "
            "NumPy itself (np.pad, sliding_window_view, einsum, tensordot, ...) and your own earlier "
            "functions are fine.")


# --------------------------------------------------------------------------- running


_GRADER_DIR = os.path.join(os.path.dirname(os.path.realpath(__file__)), "")
_LIB_DIRS = tuple({os.path.join(os.path.realpath(p), "") for p in
                   (os.path.dirname(np.__file__), os.path.dirname(os.__file__))})


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
