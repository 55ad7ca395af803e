"""The judge outside the kernel: test cells run in the grader, the student's functions in the kernel.

A test cell (an nbgrader grade cell, trusted instructor code) is executed by the grading
process itself, in a clean namespace (:class:`RemoteNamespace`) where every name the test
code reads that is neither a builtin nor assigned by the test code resolves to the
student's kernel: a callable becomes a :class:`RemoteFunction` proxy, a module becomes the
grader's own import of the same module, anything else is fetched as data. Calling a proxy
sends the arguments to the small agent inside the kernel (:mod:`.agent`), which calls the
student's function and answers with the result, the arguments' state after the call (so
the checks' in-place tests see exactly what a local call would show), the student's
exception (type, message, the student's own frame) and what the kernel-side anti-cheat saw.
So :func:`~cnn_course.grading.core.run_check` and every comparison with the reference run
in the grader's clean process: code in the kernel cannot monkeypatch NumPy, the checks or
builtins there, and hidden test data only ever reaches the kernel as the arguments of a call.

Everything crosses through a safe codec (:mod:`.codec`: a JSON tree plus NumPy arrays,
never pickle). The transport is not this module's business: a :class:`~.links.Link`
(:mod:`.links`; the executor's goes through the Jupyter kernel) carries one request and its
answer, raising :class:`~.links.RemoteTimeout` or :class:`~.links.KernelDied`.

Outcomes that end a test cell at once (:class:`CellAborted`, a ``BaseException`` so that no
``except Exception`` in a check or in the test code can swallow it): the kernel did not
answer in time (:class:`KernelTimeoutError`, reported as ``TimeoutError``), it died
(:class:`KernelCrashedError`, ``RuntimeError``; every later call of the cell then fails the
same way at once), or its answer could not be read (:class:`AgentFailure`).
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import io
import sys
import time
import traceback
from dataclasses import dataclass

import numpy as np

from cnn_course.grading import core

from .codec import MAX_CLASSES, MAX_TEXT, CodecError, Decoder, Encoder, Unsupported
from .links import AgentError, KernelDied, Link, RemoteTimeout

__all__ = [
    "CellAborted", "KernelTimeoutError", "KernelCrashedError", "AgentFailure", "RemoteSession", "RemoteFunction",
    "RemoteNamespace", "TestResult", "run_test_cell", "rebuild_exception",
]

# --------------------------------------------------------------------------- outcomes that end a cell


class CellAborted(BaseException):
    """Ends the test cell at once (a BaseException: no ``except Exception`` may swallow it)."""

    ename = "RuntimeError"


class KernelTimeoutError(CellAborted):
    """A call into the kernel did not return within the cell's time (reported as TimeoutError)."""

    ename = "TimeoutError"


class KernelCrashedError(CellAborted):
    """The kernel died during a call (reported as RuntimeError)."""


class AgentFailure(CellAborted):
    """The kernel's answer could not be used (reported as RuntimeError)."""


def _seconds(t: float) -> str:
    return f"{t:.0f}" if t >= 9.5 else f"{t:.2g}"


# --------------------------------------------------------------------------- exceptions from the kernel

_EXC_CLASSES: dict[tuple, type] = {}


def _builtin_exception(name) -> type | None:
    cls = getattr(builtins, name, None) if isinstance(name, str) else None
    return cls if isinstance(cls, type) and issubclass(cls, BaseException) else None


def _exception_class(name: str, module: str, bases: tuple[type, ...]) -> type:
    """A class named like the student's exception type, deriving from its builtin bases (so
    ``isinstance(exc, ValueError)`` holds for numpy's AxisError, say). Its str is the kernel's."""
    key = (name, module, bases)
    cls = _EXC_CLASSES.get(key)
    if cls is None:
        def __str__(self):
            text = self.__dict__.get("_cnn_message")
            return text if text is not None else Exception.__str__(self)

        try:
            cls = type(name, bases, {"__str__": __str__, "__module__": module})
        except TypeError:  # incompatible layouts (two builtin bases that cannot be combined)
            cls = type(name, bases[:1], {"__str__": __str__, "__module__": module})
        if len(_EXC_CLASSES) < MAX_CLASSES:
            _EXC_CLASSES[key] = cls
    return cls


def _instantiate(cls: type, args, message: str) -> BaseException | None:
    for attempt in ((args,) if isinstance(args, tuple) else ()) + ((message,), ()):
        try:
            return cls(*attempt)
        except Exception:  # a constructor that wants other arguments
            continue
    return None


def rebuild_exception(info: dict, args) -> BaseException:
    """The student's exception, judge-side: the same builtin type when it is one (with the
    same args, so str() matches), else a class of the same name deriving from the builtin
    exception types of the original's MRO. ``__cnn_frame__`` is the student's frame as the
    kernel found it (see :func:`cnn_course.grading.core._student_frame`)."""
    name = str(info.get("type") or "Exception")[:100]
    message = str(info.get("message", ""))
    builtin = _builtin_exception(name) if info.get("builtin") else None
    exc = None
    if builtin is not None and issubclass(builtin, Exception) and isinstance(args, tuple):
        with contextlib.suppress(Exception):
            exc = builtin(*args)
            if _safe_str(exc) != message:
                exc = None
    if exc is None:
        if builtin is not None and issubclass(builtin, Exception):
            bases, module = (builtin,), "builtins"
        else:
            names = info.get("bases") if isinstance(info.get("bases"), list) else []
            bases = tuple(b for b in (_builtin_exception(n) for n in names)
                          if b is not None and issubclass(b, Exception)) or (Exception,)
            module = str(info.get("module") or "__main__")[:200]
        exc = _instantiate(_exception_class(name, module, bases), args, message)
        if exc is None:
            exc = _exception_class(name, module, (Exception,))(message)
        exc._cnn_message = message
    fr = info.get("frame")
    if isinstance(fr, list) and len(fr) == 4:
        exc.__cnn_frame__ = traceback.FrameSummary(str(fr[0]), fr[1] if type(fr[1]) is int else None,
                                                   str(fr[2]), line=str(fr[3] or ""))
    else:
        exc.__cnn_frame__ = None
    return exc


def _safe_str(exc) -> str:
    try:
        return str(exc)
    except Exception:
        return ""


# --------------------------------------------------------------------------- the grader's side


_IMPORTABLE = ("numpy", "math", "cmath", "random", "statistics", "itertools", "functools", "collections",
               "operator", "cnn_course")


class RemoteSession:
    """One test cell's connection to the kernel: the link, the cell's deadline, and whether
    the kernel already timed out or died (then every later request fails the same way)."""

    def __init__(self, link: Link, timeout: float):
        self.link = link
        self.timeout = float(timeout)
        self.deadline = time.monotonic() + self.timeout
        self.failure: CellAborted | None = None
        self.requests = 0
        self._probes: dict[str, RemoteFunction] = {}

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def request(self, op: str, payload: dict, arrays: dict, what: str) -> tuple[dict, dict]:
        """Send one request; ``what`` names the call in messages ("conv_forward")."""
        __tracebackhide__ = True
        if self.failure is not None:
            raise type(self.failure)(*self.failure.args)
        left = self.remaining()
        if left <= 0:
            self.failure = KernelTimeoutError(f"{what} did not return within {_seconds(self.timeout)} s "
                                              "(an infinite loop?)")
            raise self.failure
        self.requests += 1
        old = sys.getprofile()
        suspend = callable(old)  # a C profiler (cProfile) cannot be put back through sys.setprofile: left on
        if suspend:
            sys.setprofile(None)  # a watcher in this process has nothing to see: the kernel watches
        try:
            return self.link.request(op, payload, arrays, left)
        except RemoteTimeout:
            self.failure = KernelTimeoutError(f"{what} did not return within {_seconds(left)} s (an infinite loop?)")
        except KernelDied:
            self.failure = KernelCrashedError(
                f"the Python kernel crashed while running {what} (out of memory, a crash of the interpreter, "
                "or a call such as os._exit); the rest of this test cannot run")
        except AgentError as exc:
            raise AgentFailure(f"the grader could not run {what} in the notebook's kernel: {exc}") from None
        finally:
            if suspend:
                sys.setprofile(old)
        raise self.failure

    # ---------------------------------------------------------------- what goes to the kernel

    def encode_fallback(self, obj) -> dict:
        """Encode, for the kernel, what the codec does not carry by value."""
        if isinstance(obj, RemoteFunction):
            if obj._session is not self and obj._session.link is not self.link:
                raise CodecError(f"{obj.__name__} belongs to another kernel")
            return {"$": "handle", "h": obj._handle}
        if isinstance(obj, Unsupported):
            if obj.handle is None:
                raise CodecError(f"the {obj.type_name} from the kernel cannot be sent back")
            return {"$": "handle", "h": obj.handle}
        if isinstance(obj, type(sys)):
            return {"$": "mod", "m": obj.__name__}
        mod, qual = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if callable(obj) and isinstance(mod, str) and isinstance(qual, str) and "<" not in qual:
            if _by_qualname(mod, qual) is obj:
                return {"$": "func", "m": mod, "q": qual}
        cls = type(obj)
        if cls.__module__.startswith("cnn_course.") and "<" not in cls.__qualname__ and hasattr(obj, "__dict__") \
                and _by_qualname(cls.__module__, cls.__qualname__) is cls:
            # an object of the course package (a gradient check's cost function, say): by value
            return {"$": "obj", "m": cls.__module__, "q": cls.__qualname__, "d": None, "state": vars(obj)}
        raise CodecError(f"a {cls.__name__} cannot be sent to the kernel")

    def probe(self, name: str) -> "RemoteFunction":
        """The probe ``name`` (:mod:`cnn_course.grading.probes`) in the kernel, as a proxy (one
        per session)."""
        if name not in self._probes:
            payload, _ = self.request("probe", {"name": name}, {}, f"the grader's probe {name}")
            info = payload.get("info")
            self._probes[name] = RemoteFunction(self, name, payload.get("handle"),
                                                info if isinstance(info, dict) else {})
        return self._probes[name]

    def lookup(self, name: str):
        """The kernel's ``name``: a RemoteFunction, the grader's import of a module, or data."""
        payload, arrays = self.request("lookup", {"name": name}, {}, f"the lookup of {name}")
        kind = payload.get("kind")
        if kind == "missing":
            raise NameError(f"{name} is not defined: run the cell that defines it", name=name)
        if kind == "function":
            info = payload.get("info")
            return RemoteFunction(self, name, payload.get("handle"), info if isinstance(info, dict) else {})
        if kind == "module":
            modname = str(payload.get("module", ""))
            if modname in sys.modules or modname.split(".")[0] in _IMPORTABLE:
                try:
                    return importlib.import_module(modname)
                except Exception:  # not importable here
                    pass
            raise NameError(f"{name} is the module {modname[:100]} in the notebook, which the grader cannot import",
                            name=name)
        if kind == "data":
            try:
                return Decoder(arrays).decode(payload.get("value"))
            except CodecError as exc:
                raise AgentFailure(f"the value of {name} in the notebook's kernel could not be read: {exc}") from None
        raise AgentFailure(f"the notebook's kernel gave an unexpected answer for {name}")


def _by_qualname(module: str, qualname: str):
    mod = sys.modules.get(module)
    if mod is None:
        return None
    obj = mod
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


class _ArgEncoder(Encoder):
    """The encoder for a call's arguments: course objects go by value (their ``__dict__``)."""

    def __init__(self, session: RemoteSession):
        super().__init__(fallback=self._fallback_node)
        self._session = session

    def _fallback_node(self, obj):
        node = self._session.encode_fallback(obj)
        if node.get("$") == "obj":
            state = node.pop("state")
            node["d"] = self._enc(state, 1)
        return node


class RemoteCode:
    """What the checks read from a function's ``__code__`` (argument names, the names it
    assigns), for a function that lives in the kernel."""

    def __init__(self, info: dict):
        self.co_argcount = int(info.get("argcount", 0))
        self.co_posonlyargcount = int(info.get("posonly", 0))
        self.co_kwonlyargcount = int(info.get("kwonly", 0))
        self.co_varnames = tuple(str(v) for v in list(info.get("varnames", ())))
        self.co_name = str(info.get("name", ""))
        self.co_filename = str(info.get("filename", ""))
        self.co_firstlineno = int(info.get("firstlineno", 0))
        self.cnn_stores = frozenset(str(v) for v in list(info.get("stores", ())))


class RemoteFunction:
    """A callable proxy for a function living in the kernel (see the module docstring).

    One request per call. The arguments are sent by value; after the call, arrays changed in
    place, list and dict entries added, removed or replaced are written back into the
    grader's own argument objects; a result that is one of the arguments (or an entry of one)
    comes back as that very object. The student's exception is re-raised (see
    :func:`rebuild_exception`); a watcher of :mod:`cnn_course.grading.core` running around
    the call gets what the kernel's watcher found.
    """

    __cnn_remote__ = True

    def __init__(self, session: RemoteSession, name: str, handle, info: dict):
        self._session = session
        self._handle = handle
        self._static: dict[tuple, str | None] = {}
        self.__name__ = str(info.get("name") or name)
        self.__qualname__ = str(info.get("qualname") or self.__name__)
        self.__module__ = str(info.get("module") or "__main__")
        self.__doc__ = info.get("doc") if isinstance(info.get("doc"), str) else None
        self._label = name
        self._code = None
        with contextlib.suppress(TypeError, ValueError):  # what the kernel said is not a code summary
            if isinstance(info.get("code"), dict):
                self._code = RemoteCode(info["code"])

    @property
    def __code__(self):
        if self._code is None:
            raise AttributeError("__code__")
        return self._code

    def __repr__(self):
        return f"<function {self.__qualname__} (in the notebook's kernel)>"

    def __cnn_static__(self, forbidden: tuple) -> str | None:
        """find_forbidden_static, done in the kernel on the real function (cached per cell)."""
        if forbidden not in self._static:
            payload, _ = self._session.request("static", {"handle": self._handle, "forbidden": list(forbidden)}, {},
                                               self._label)
            found = payload.get("found")
            self._static[forbidden] = str(found)[:MAX_TEXT] if found is not None else None
        return self._static[forbidden]

    def __call__(self, *args, **kwargs):
        __tracebackhide__ = True
        session = self._session
        enc = _ArgEncoder(session)
        node = enc.encode((args, kwargs))
        watcher = core.active_watcher()
        payload = {"handle": self._handle, "args": node, "err": np.geterr(),
                   "watch": list(watcher.forbidden) if watcher is not None else None}
        answer, arrays = session.request("call", payload, enc.arrays, self._label)
        try:
            result, afters, exc_args = Decoder(arrays, external=enc.objects).decode(answer.get("value"))
            _write_back(afters, enc.objects)
        except (CodecError, TypeError, ValueError) as exc:
            raise AgentFailure(f"the answer of {self._label} from the notebook's kernel could not be read: "
                               f"{exc}") from None
        found = answer.get("found")
        if watcher is not None and found is not None and watcher.found is None:
            watcher.found = str(found)[:MAX_TEXT]
        out = answer.get("out")
        if isinstance(out, str) and out:
            sys.stdout.write(out)
        error = answer.get("error")
        if isinstance(error, dict):
            try:
                exc = rebuild_exception(error, exc_args)
            except Exception as bad:  # a forged answer
                raise AgentFailure(f"the exception {self._label} raised in the notebook's kernel could not be "
                                   f"read: {bad}") from None
            raise exc from None
        return result


def _write_back(afters, table: list) -> None:
    """Apply the kernel's after-call state of the arguments to the grader's objects."""
    if not isinstance(afters, list):
        raise CodecError("malformed answer: after-states")
    for entry in afters:
        if not isinstance(entry, tuple) or len(entry) < 3 or type(entry[0]) is not int \
                or not 0 <= entry[0] < len(table):
            raise CodecError("malformed answer: after-state")
        target, kind = table[entry[0]], entry[1]
        if kind == "a" and isinstance(target, np.ndarray) and isinstance(entry[2], np.ndarray):
            new = entry[2]
            # An array resized or retyped in place (ndarray.resize, .dtype = ...) is left alone:
            # resizing the grader's array could leave its views dangling.
            if new.shape == target.shape and new.dtype == target.dtype:
                with contextlib.suppress(ValueError, TypeError):  # a read-only array of the grader's
                    np.copyto(target, new, casting="no")
        elif kind == "l" and isinstance(target, list) and isinstance(entry[2], list):
            target[:] = entry[2]
        elif kind == "d" and isinstance(target, dict) and len(entry) == 4 and isinstance(entry[2], list) \
                and isinstance(entry[3], list) and len(entry[2]) == len(entry[3]):
            items = list(zip(entry[2], entry[3]))
            target.clear()
            target.update(items)
        elif kind == "g" and isinstance(target, np.random.Generator) and isinstance(entry[2], dict):
            with contextlib.suppress(ValueError, TypeError, KeyError):
                target.bit_generator.state = entry[2]
        else:
            raise CodecError("malformed answer: after-state")


class RemoteNamespace(dict):
    """The namespace a test cell runs in (its globals): names the test code assigns stay
    here; builtins fall through; any other name is looked up in the kernel once (a function
    becomes a :class:`RemoteFunction`, data is decoded, a module is the grader's own import)
    and kept; a name the kernel does not have raises NameError ("conv_forward is not
    defined: run the cell that defines it")."""

    def __init__(self, session: RemoteSession):
        super().__init__()
        self.session = session
        self["__builtins__"] = builtins
        self["__name__"] = "__main__"

    def __missing__(self, key):
        if not isinstance(key, str) or hasattr(builtins, key) or (key.startswith("__") and key.endswith("__")):
            raise KeyError(key)
        value = self.session.lookup(key)
        self[key] = value
        return value


# --------------------------------------------------------------------------- running a test cell


@dataclass
class TestResult:
    """A test cell's verdict: ``output`` is what it printed (the checks' ✓ lines); on failure
    ``ename``/``evalue`` are the exception's name and message (a CheckFailed's message is the
    student's feedback)."""

    __test__ = False  # not a pytest test class

    passed: bool
    output: str
    ename: str | None = None
    evalue: str | None = None


class _CappedText(io.TextIOBase):
    def __init__(self, limit: int):
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit

    def writable(self):
        return True

    def write(self, s):
        if self.size < self.limit:
            self.parts.append(s[: self.limit - self.size])
            if self.size + len(s) > self.limit:
                self.parts.append("\n[... output cut]\n")
        self.size += len(s)
        return len(s)

    def getvalue(self) -> str:
        return "".join(self.parts)


def run_test_cell(source: str, link: Link, *, timeout: float, filename: str = "<test cell>",
                  output_limit: int = 2**20) -> TestResult:
    """Execute a (trusted) test cell's source in the grader, the names it reads resolved in
    the kernel behind ``link``; ``timeout`` is the budget of the whole cell (each call into
    the kernel gets what is left). Any exception fails the cell with a readable message."""
    session = RemoteSession(link, timeout)
    ns = RemoteNamespace(session)
    out = _CappedText(output_limit)
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as exc:
        return TestResult(False, "", "SyntaxError", f"the test cell does not compile: {exc.msg} (line {exc.lineno})")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            exec(code, ns)
    except CellAborted as exc:
        return TestResult(False, out.getvalue(), exc.ename, str(exc))
    except Exception as exc:
        evalue = _safe_str(exc)
        if not evalue:
            lines = [fr.lineno for fr in traceback.extract_tb(exc.__traceback__) if fr.filename == filename]
            evalue = f"the test failed ({type(exc).__name__}" + (f" at line {lines[-1]} of the test cell)"
                                                                  if lines else ")")
        return TestResult(False, out.getvalue(), type(exc).__name__, evalue)
    return TestResult(True, out.getvalue())
