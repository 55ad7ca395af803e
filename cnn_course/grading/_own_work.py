"""Own work: noticing a graded function that hands the work to a ready-made version.

A graded function must not use the course library (``cnn_course.ref``, ``cnn_course.pt``),
PyTorch or SciPy's filters (:data:`FORBIDDEN`; the PyTorch exercises forbid only the
course library, :data:`TORCH_FORBIDDEN`; a check declares its own set with :func:`forbids`).
Two looks find out:

* :func:`find_forbidden_static` reads the function's code (and its own helpers and
  classes) for references to a forbidden module, before anything runs;
* :class:`watch_forbidden_calls` watches one call under ``sys.setprofile`` and records the
  first call into a forbidden package (:func:`active_watcher` is the one now running).

:func:`_cheat_message` tells the student why such a function earns nothing.

Part of :mod:`cnn_course.grading.core`, which re-exports every name here.
"""

from __future__ import annotations

import dis
import importlib.util
import os
import sys
import types

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
    if "cnn_course.ref" not in forbidden:  # the course's layers are allowed; its ready-made whole is not
        ready = ", ".join(f for f in forbidden if f.startswith("cnn_course"))
        return (f"{name} earns no points: it calls {found} ({how}).\n"
                "  This exercise asks you to put the layers together yourself. The course's ready-made version "
                f"({ready}), PyTorch or scipy.signal / scipy.ndimage does the work for you. The course's layer "
                "functions (cnn_course.ref.conv2d_forward, pool2d_forward, ...), NumPy and your own earlier "
                "functions are fine.")
    extra = [f for f in forbidden if f not in FORBIDDEN]
    libs = "scipy.signal / scipy.ndimage" + "".join(f" / {f}" for f in extra)
    return (f"{name} earns no points: it calls {found} ({how}).\n"
            "  This exercise asks for your own NumPy implementation. Calling the course library "
            f"(cnn_course.ref, cnn_course.pt), PyTorch or {libs} does the work for you. "
            "NumPy itself (np.pad, sliding_window_view, einsum, tensordot, ...) and your own earlier "
            "functions are fine.")

