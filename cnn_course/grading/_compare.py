"""How a student's output is compared with the expected one, and how the mismatch is told.

:class:`Out` describes one expected output and the kind of comparison it needs (an array
within a tolerance, a boolean mask or integers exactly, a number, a dict or list entry by
entry...); :func:`compare` returns the lines that explain a mismatch (type, shape, dtype,
the first differing positions) or None; :func:`matches` says whether a result equals a
known mistake's value, which is how :func:`cnn_course.grading.core.run_check` diagnoses it.
:func:`tolerances` gives the (rtol, atol) a float dtype allows.

Part of :mod:`cnn_course.grading.core`, which re-exports every name here.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_LISTED = 5  # differing positions shown in a value mismatch


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
    each tuple in a "list" (e.g. ``("X_b", "y_b")``) for the messages. ``dtype`` (kind
    "array"): the exact dtype the result must have, e.g. the inputs' float32 (None: any float).
    ``equal_nan`` (kinds "array" and "scalar"): a NaN expected is matched by a NaN got (a
    score that is undefined, such as a 0/0 IoU).
    """

    name: str
    expected: Any
    kind: str = "array"
    shape_hint: str = ""
    hints: dict = field(default_factory=dict)
    parts: tuple = ()
    dtype: Any = None
    equal_nan: bool = False



def tolerances(dtype) -> tuple[float, float]:
    """(rtol, atol) for comparing results computed from inputs of ``dtype`` (an explicit
    ``(rtol, atol)`` pair, a case's ``tol``, is returned as it is)."""
    if isinstance(dtype, tuple):
        return dtype
    if np.dtype(dtype) == np.float32:
        return 1e-4, 1e-4
    return 1e-6, 1e-8



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


def _not_numeric_array(name: str, got) -> str:
    """The message for a result that is not an array of numbers."""
    if isinstance(got, np.ndarray) or type(got).__name__ == "ndarray":  # the latter: one the sandbox could not send
        dtype = f"dtype {got.dtype}" if isinstance(got, np.ndarray) else "dtype object, text or structured"
        return (f"{name} must be a NumPy array of numbers (float, int or bool), got an array of {dtype}. "
                "Hint: an array built from Python objects or None has dtype object; build it from numbers.")
    return f"{name} must be a NumPy array, got {_type_name(got)}."


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
        if not _close(np.asarray(got), np.asarray(exp), dtype, equal_nan=out.equal_nan):
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
    if not isinstance(got, np.ndarray) or got.dtype.kind not in "biufc":
        return [_not_numeric_array(name, got)]
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
    if out.dtype is not None and got.dtype != np.dtype(out.dtype):
        return [f"{name} has dtype {got.dtype}, but it must keep the dtype of the inputs, {np.dtype(out.dtype)}. "
                "Hint: np.zeros(shape) and float64 constants or arrays mixed in (np.float64(...), .astype(float)) "
                "turn a float32 computation into float64; use np.zeros(shape, dtype=x.dtype) or stay with x's "
                "own arrays."]
    bad = ~_close(got, exp, dtype, equal_nan=out.equal_nan)
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
    if isinstance(value, (bool, np.bool_, str)) or value is None:
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
    if not isinstance(got, np.ndarray) or got.dtype.kind not in "biufc":
        return [_not_numeric_array(name, got)]
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

