"""The kernel's side of the judge (see :mod:`.remote`): a small agent that runs in the
student's kernel and does what the grader asks, one request at a time.

The executor imports it in the kernel (``import cnn_course.grading.agent as __cnn_agent__``)
and runs ``__cnn_agent__.serve(request_path, response_path)`` for each request; nothing the
agent does raises into the kernel's output: its own errors become an error answer.

Operations (:func:`handle`):

* ``lookup(name)``: what the name is in the kernel: ``missing``, a ``module`` (its name), a
  ``function`` (a handle for later calls, and what the checks read from its ``__code__``),
  or ``data`` (the value through the codec; what the codec cannot carry becomes a marker
  with a handle, so it can come back as an argument).
* ``call(handle, args, watch)``: call the function; answer with the result, the state of
  every argument after the call (arrays changed in place, list and dict entries added,
  removed or replaced, generators advanced), references instead of copies for results that
  are arguments (or entries of them), the exception if any (type, message, the student's
  frame) and, with ``watch``, what :class:`~.core.watch_forbidden_calls` saw. Output the
  function prints is captured (capped) and sent along.
* ``static(handle, forbidden)``: :func:`~.core.find_forbidden_static` on the real function.
"""

from __future__ import annotations

import builtins
import contextlib
import dis
import importlib
import io
import itertools
import sys
import types

import numpy as np

from . import core
from .remote import (
    MAX_TEXT, CodecError, Decoder, Encoder, decode_message, encode_message, read_message, write_message,
)

__all__ = ["handle", "serve", "process", "dispatch"]

MAX_OUTPUT = 64 * 1024  # characters of printed output sent back per call

_HANDLES: dict[int, object] = {}
_HANDLE_OF: dict[int, int] = {}
_COUNTER = itertools.count(1)


def _handle_for(obj) -> int:
    h = _HANDLE_OF.get(id(obj))
    if h is None or _HANDLES.get(h) is not obj:
        h = next(_COUNTER)
        _HANDLES[h] = obj  # kept alive, so the id stays this object's
        _HANDLE_OF[id(obj)] = h
    return h


def _object(h):
    if type(h) is not int or h not in _HANDLES:
        raise CodecError(f"unknown handle {h!r} (the kernel restarted?)")
    return _HANDLES[h]


def _short_repr(obj) -> str:
    try:
        text = repr(obj)
    except Exception:  # a broken __repr__
        text = f"<{type(obj).__name__} object>"
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


class _TooLarge:
    def __init__(self, obj, reason: str):
        self.type_name, self.reason = type(obj).__name__, reason


def _fallback(obj) -> dict:
    """What the codec does not carry goes as a marker with a handle to the object."""
    if isinstance(obj, _TooLarge):
        return {"$": "unsup", "t": obj.type_name, "r": f"<a {obj.type_name} too large to grade: {obj.reason}>",
                "h": None}
    return {"$": "unsup", "t": type(obj).__name__, "r": _short_repr(obj), "h": _handle_for(obj)}


def _by_qualname(module: str, qualname: str):
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _resolve(tag, node, data):
    """Build the nodes only the grader sends: handles, functions, modules, course objects."""
    if tag == "handle":
        return _object(node.get("h"))
    module = node.get("m")
    if not isinstance(module, str):
        raise CodecError("malformed request: no module")
    try:
        if tag == "mod":
            return importlib.import_module(module)
        obj = _by_qualname(module, str(node.get("q")))
    except (ImportError, AttributeError) as exc:
        raise CodecError(f"cannot find {module}.{node.get('q')} in the kernel: {exc}") from None
    if tag == "func":
        return obj
    if not isinstance(obj, type) or not isinstance(data, dict):
        raise CodecError("malformed request: bad object")
    inst = obj.__new__(obj)
    inst.__dict__.update(data)
    return inst


# --------------------------------------------------------------------------- operations


def _lookup(payload, namespace):
    name = payload.get("name")
    if not isinstance(name, str) or name not in namespace:
        return {"kind": "missing"}, {}
    obj = namespace[name]
    if isinstance(obj, types.ModuleType):
        return {"kind": "module", "module": obj.__name__}, {}
    if callable(obj):
        return {"kind": "function", "handle": _handle_for(obj), "info": _info(obj)}, {}
    enc = Encoder(fallback=_fallback)
    try:
        node = enc.encode(obj)
    except CodecError as exc:
        enc = Encoder(fallback=_fallback)
        node = enc.encode(_TooLarge(obj, str(exc)))
    return {"kind": "data", "value": node}, enc.arrays


def _info(f) -> dict:
    """Names and the parts of ``__code__`` the checks read."""
    info = {}
    with contextlib.suppress(Exception):
        for key in ("__name__", "__qualname__", "__module__", "__doc__"):
            value = getattr(f, key, None)
            if isinstance(value, str):
                info[key.strip("_")] = value[:MAX_TEXT]
        code = getattr(f, "__code__", None)
        if isinstance(code, types.CodeType):
            stores = {ins.argval for ins in dis.get_instructions(code)
                      if ins.opname in ("STORE_FAST", "STORE_DEREF", "STORE_NAME") and isinstance(ins.argval, str)}
            info["code"] = {"argcount": code.co_argcount, "posonly": code.co_posonlyargcount,
                            "kwonly": code.co_kwonlyargcount, "varnames": list(code.co_varnames),
                            "name": code.co_name, "filename": code.co_filename,
                            "firstlineno": code.co_firstlineno, "stores": sorted(stores)}
    return info


def _probe(payload):
    """A handle to one of the probes (:mod:`.probes`), the only library functions the judge
    may call here by name."""
    from . import probes

    name = payload.get("name")
    fn = probes.PROBES.get(name) if isinstance(name, str) else None
    if fn is None:
        raise CodecError(f"unknown probe {name!r}")
    return {"handle": _handle_for(fn), "info": _info(fn)}, {}


def _static(payload):
    func = _object(payload.get("handle"))
    forbidden = tuple(str(f) for f in payload.get("forbidden") or core.FORBIDDEN)
    try:
        found = core.find_forbidden_static(func, forbidden)
    except Exception:  # an odd object: the watcher still sees what it calls
        found = None
    return {"found": found}, {}


class _Capture(io.TextIOBase):
    """Keeps the first MAX_OUTPUT characters written."""

    def __init__(self):
        self.parts, self.size = [], 0

    def writable(self):
        return True

    def write(self, s):
        s = str(s)
        if self.size < MAX_OUTPUT:
            self.parts.append(s[: MAX_OUTPUT - self.size])
            if self.size + len(s) > MAX_OUTPUT:
                self.parts.append("\n[... output cut]\n")
        self.size += len(s)
        return len(s)

    def getvalue(self):
        return "".join(self.parts)


_ERR_MODES = ("ignore", "warn", "raise", "print")


def _before(obj):
    if isinstance(obj, np.ndarray):
        return obj.copy()
    if type(obj) is list:
        return list(obj)
    if type(obj) is dict:
        return list(obj.items())
    if isinstance(obj, np.random.Generator):
        return obj.bit_generator.state
    return None


def _same(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape \
            and a.dtype == b.dtype and a.tobytes() == b.tobytes()
    return type(a) is type(b) and a == b


def _afters(table, before) -> list:
    """The arguments' changes: (index, "a", new contents) for an array changed in place,
    (index, "l", items) / (index, "d", keys, values) for a list / dict whose entries were
    added, removed, replaced or reordered, (index, "g", state) for an advanced generator."""
    out = []
    for i, (obj, old) in enumerate(zip(table, before)):
        if isinstance(obj, np.ndarray):
            if obj.shape != old.shape or obj.dtype != old.dtype or obj.tobytes() != old.tobytes():
                out.append((i, "a", obj.copy()))
        elif type(obj) is list:
            if len(obj) != len(old) or any(x is not y for x, y in zip(obj, old)):
                out.append((i, "l", list(obj)))
        elif type(obj) is dict:
            now = list(obj.items())
            if len(now) != len(old) or any(k1 is not k2 and k1 != k2 or v1 is not v2
                                           for (k1, v1), (k2, v2) in zip(now, old)):
                out.append((i, "d", [k for k, _ in now], [v for _, v in now]))
        elif isinstance(obj, np.random.Generator):
            state = obj.bit_generator.state
            if not _same(state, old):
                out.append((i, "g", state))
    return out


def _builtin_bases(t: type) -> list[str]:
    cands = [c for c in t.__mro__ if isinstance(c, type) and issubclass(c, BaseException)
             and getattr(builtins, c.__name__, None) is c]
    return [c.__name__ for c in cands if not any(d is not c and issubclass(d, c) for d in cands)]


def _exc_info(exc: BaseException) -> dict:
    t = type(exc)
    try:
        message = str(exc)
    except Exception:  # a broken __str__
        message = ""
    info = {"type": t.__name__, "module": getattr(t, "__module__", "builtins"),
            "builtin": getattr(builtins, t.__name__, None) is t, "bases": _builtin_bases(t),
            "message": message if len(message) <= MAX_TEXT else message[:MAX_TEXT] + "...", "frame": None}
    with contextlib.suppress(Exception):
        fr = core._student_frame(exc)
        if fr is not None and fr.filename != __file__:
            info["frame"] = [str(fr.filename), fr.lineno, str(fr.name), str(fr.line or "")]
    return info


def _encode_answer(result, afters, exc_args, table):
    """The answer's value node; a result too large for a message becomes a marker."""
    external = {id(obj): i for i, obj in enumerate(table)}
    try:
        enc = Encoder(external=external, fallback=_fallback)
        return enc.encode((result, afters, exc_args)), enc.arrays
    except CodecError as exc:
        reason = str(exc)
    try:
        enc = Encoder(external=external, fallback=_fallback)
        return enc.encode((_TooLarge(result, reason), afters, None)), enc.arrays
    except CodecError:
        enc = Encoder(external=external, fallback=_fallback)
        return enc.encode((_TooLarge(result, reason), [], None)), enc.arrays


def _call(payload, arrays, namespace):
    func = _object(payload.get("handle"))
    dec = Decoder(arrays, resolve=_resolve)
    args, kwargs = dec.decode(payload.get("args"))
    if not isinstance(args, tuple) or not isinstance(kwargs, dict):
        raise CodecError("malformed request: arguments")
    table = dec.objects
    before = [_before(obj) for obj in table]
    err = payload.get("err") if isinstance(payload.get("err"), dict) else {}
    err = {k: (v if v in _ERR_MODES else "warn") for k, v in err.items() if k in ("divide", "over", "under",
                                                                                    "invalid")}
    watch = payload.get("watch")
    watcher = core.watch_forbidden_calls(tuple(str(f) for f in watch)) if isinstance(watch, list) else None
    out = _Capture()
    result = error = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            with np.errstate(**err):
                if watcher is None:
                    result = func(*args, **kwargs)
                else:
                    with watcher:
                        result = func(*args, **kwargs)
        except BaseException as exc:  # the student's: KeyboardInterrupt and SystemExit included
            error = exc
    afters = _afters(table, before)
    value, out_arrays = _encode_answer(result, afters, tuple(error.args) if error is not None else None, table)
    tree = {"value": value, "found": watcher.found if watcher is not None else None,
            "error": _exc_info(error) if error is not None else None, "out": out.getvalue()}
    return tree, out_arrays


def handle(op: str, payload: dict, arrays: dict, namespace: dict) -> tuple[dict, dict]:
    """Answer one request (see the module docstring); errors propagate (see :func:`dispatch`)."""
    if not isinstance(payload, dict):
        raise CodecError("malformed request: payload")
    if op == "lookup":
        return _lookup(payload, namespace)
    if op == "call":
        return _call(payload, arrays, namespace)
    if op == "static":
        return _static(payload)
    if op == "probe":
        return _probe(payload)
    if op == "ping":
        return {"pong": True}, {}
    raise CodecError(f"unknown operation {op!r}")


def dispatch(tree: dict, arrays: dict, namespace: dict) -> tuple[dict, dict]:
    """A request message in, an answer message out (``{"ok": ..., "payload"/"error": ...}``);
    never raises."""
    try:
        if not isinstance(tree, dict):
            raise CodecError("malformed request")
        payload, out_arrays = handle(tree.get("op"), tree.get("payload"), arrays, namespace)
        return {"ok": True, "payload": payload}, out_arrays
    except BaseException as exc:  # the agent's own failure: an answer, never an exception in the kernel
        return {"ok": False, "error": f"{type(exc).__name__}: {_short_text(exc)}"}, {}


def _short_text(exc) -> str:
    try:
        return str(exc)[:MAX_TEXT]
    except Exception:
        return ""


def process(data: bytes, namespace: dict) -> bytes:
    """A request message's bytes in, the answer's bytes out (the in-process transport)."""
    try:
        tree, arrays = decode_message(data)
    except BaseException as exc:
        tree, arrays = {"ok": False, "error": f"unreadable request: {_short_text(exc)}"}, {}
    else:
        tree, arrays = dispatch(tree, arrays, namespace)
    try:
        return encode_message(tree, arrays)
    except BaseException as exc:
        return encode_message({"ok": False, "error": f"unsendable answer: {_short_text(exc)}"}, {})


def _user_namespace() -> dict:
    """IPython's user namespace in a kernel, else the namespace of ``__main__``."""
    shell = None
    with contextlib.suppress(ImportError):
        from IPython import get_ipython

        shell = get_ipython()
    return shell.user_ns if shell is not None else vars(sys.modules["__main__"])


def serve(request_path: str, response_path: str, namespace: dict | None = None) -> None:
    """Read the request at ``request_path``, answer it on the IPython user namespace (or
    ``namespace``), write the answer to ``response_path``. Never raises."""
    try:
        if namespace is None:
            namespace = _user_namespace()
        tree, arrays = read_message(request_path)
        answer = dispatch(tree, arrays, namespace)
    except BaseException as exc:
        answer = ({"ok": False, "error": f"{type(exc).__name__}: {_short_text(exc)}"}, {})
    try:
        write_message(response_path, *answer)
    except BaseException as exc:
        with contextlib.suppress(BaseException):
            write_message(response_path, {"ok": False, "error": f"unsendable answer: {_short_text(exc)}"}, {})
