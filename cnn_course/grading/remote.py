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
So :func:`~.core.run_check` and every comparison with the reference run in the grader's
clean process: code in the kernel cannot monkeypatch NumPy, the checks or builtins there,
and hidden test data only ever reaches the kernel as the arguments of a call.

Everything crosses through a safe codec (:func:`encode` / :func:`decode`): a JSON tree plus
NumPy arrays in one ``.npz`` (:func:`write_message` / :func:`read_message`), loaded with
``allow_pickle=False`` after checking every member; never pickle. The transport is not this
module's business: a :class:`Link` (the executor's, over the Jupyter kernel; :class:`FileLink`
over a shared directory; :class:`LoopbackLink` in-process for tests) carries one request and
its answer, raising :class:`RemoteTimeout` or :class:`KernelDied`.

Outcomes that end a test cell at once (:class:`CellAborted`, a ``BaseException`` so that no
``except Exception`` in a check or in the test code can swallow it): the kernel did not
answer in time (:class:`KernelTimeoutError`, reported as ``TimeoutError``), it died
(:class:`KernelCrashedError`, ``RuntimeError``; every later call of the cell then fails the
same way at once), or its answer could not be read (:class:`AgentFailure`).
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import importlib
import io
import json
import math
import os
import re
import stat
import sys
import time
import traceback
import zipfile
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from . import core

__all__ = [
    "encode", "decode", "Encoder", "Decoder", "CodecError", "Unsupported", "encode_message", "decode_message",
    "write_message", "read_message", "Link", "LoopbackLink", "FileLink", "RemoteError", "RemoteTimeout",
    "KernelDied", "AgentError", "CellAborted", "KernelTimeoutError", "KernelCrashedError", "AgentFailure",
    "RemoteSession", "RemoteFunction", "RemoteNamespace", "TestResult", "run_test_cell",
]

# --------------------------------------------------------------------------- limits

MAX_ARRAY_BYTES = 256 * 2**20  # all arrays of one message together
MAX_TREE_BYTES = 32 * 2**20  # the JSON tree of one message
MAX_MESSAGE_BYTES = MAX_ARRAY_BYTES + MAX_TREE_BYTES + 2**20
MAX_DEPTH = 64  # nesting of containers
MAX_ITEMS = 1_000_000  # nodes (scalars, containers, arrays) in one message
MAX_INT_BITS = 4096  # larger Python ints are not carried
MAX_TEXT = 10_000  # repr of an unsupported object, exception messages
ARRAY_KINDS = "biufcUS"  # bool, ints, floats, complex, fixed-width text; never object or structured

_MEMBER = re.compile(r"[A-Za-z0-9_]{1,64}")
_TREE_MEMBER = "tree.json"


class CodecError(ValueError):
    """Something cannot be encoded or decoded (type, size, depth or a malformed message)."""


# --------------------------------------------------------------------------- unsupported values


class Unsupported:
    """Stands for a kernel object the codec cannot carry (a torch tensor, a custom class, a
    function returned as a value, ...). Its class is named like the kernel object's type, so
    the checks' messages ("Z must be a NumPy array, got Tensor.") read as they would locally;
    ``repr`` is the kernel's repr. ``handle`` lets the grader pass the object back into the
    kernel as an argument (a batch-norm cache holding something odd, say)."""

    __slots__ = ("type_name", "text", "handle")

    def __init__(self, type_name: str, text: str = "", handle: int | None = None):
        self.type_name, self.text, self.handle = type_name, text, handle

    def __repr__(self):
        return self.text or f"<{self.type_name} object>"


_UNSUPPORTED_TYPES: dict[str, type] = {}
_MAX_CLASSES = 1000


def unsupported_type(name: str) -> type:
    """The :class:`Unsupported` subclass named ``name`` (one class per name)."""
    name = str(name)[:100] or "object"
    cls = _UNSUPPORTED_TYPES.get(name)
    if cls is None:
        if len(_UNSUPPORTED_TYPES) >= _MAX_CLASSES:  # a kernel inventing names: stop making classes
            return Unsupported
        cls = type(name, (Unsupported,), {"__slots__": (), "__module__": __name__})
        _UNSUPPORTED_TYPES[name] = cls
    return cls


def make_unsupported(type_name: str, text: str = "", handle: int | None = None) -> Unsupported:
    return unsupported_type(type_name)(type_name, text, handle)


def _short_repr(obj) -> str:
    try:
        text = repr(obj)
    except Exception:  # a broken __repr__ says nothing useful
        text = f"<{type(obj).__name__} object>"
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


# --------------------------------------------------------------------------- codec

_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_TABLE_TYPES = (list, tuple, dict, np.ndarray, np.random.Generator)


def _check_dtype(dtype: np.dtype) -> None:
    if dtype.hasobject or dtype.names is not None or dtype.subdtype is not None or dtype.kind not in ARRAY_KINDS:
        raise CodecError(f"arrays of dtype {dtype} are not carried (only numbers, bools and text)")


class Encoder:
    """Turns a Python object into a JSON-able tree plus named arrays (:attr:`arrays`).

    Containers, arrays and generators are numbered in pre-order (:attr:`objects`); an object
    met twice is sent once and referenced (``{"$": "ref"}``), so identity survives.
    ``external`` maps ``id(obj)`` to an index in the other side's table (the arguments of a
    call, which a result may return): such objects become ``{"$": "ext"}``. ``fallback(obj)``
    encodes what the codec does not know (returns a node) or raises :class:`CodecError`.
    """

    def __init__(self, *, external: dict[int, int] | None = None,
                 fallback: Callable[[Any], dict] | None = None,
                 max_array_bytes: int = MAX_ARRAY_BYTES, max_items: int = MAX_ITEMS, max_depth: int = MAX_DEPTH):
        self.arrays: dict[str, np.ndarray] = {}
        self.objects: list = []
        self._ids: dict[int, int] = {}
        self._open_tuples: set[int] = set()
        self._external = external or {}
        self._fallback = fallback
        self._limits = (max_array_bytes, max_items, max_depth)
        self._bytes = 0
        self._items = 0

    def encode(self, obj):
        return self._enc(obj, 0)

    def _register(self, obj) -> int:
        self._ids[id(obj)] = len(self.objects)
        self.objects.append(obj)
        return len(self.objects) - 1

    def add_array(self, arr: np.ndarray) -> str:
        _check_dtype(arr.dtype)
        self._bytes += arr.nbytes
        if self._bytes > self._limits[0]:
            raise CodecError(f"the arrays add up to more than {self._limits[0] // 2**20} MiB")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = arr
        return key

    def _enc(self, obj, depth):
        self._items += 1
        if self._items > self._limits[1]:
            raise CodecError(f"more than {self._limits[1]} values")
        if depth > self._limits[2]:
            raise CodecError(f"nested deeper than {self._limits[2]} levels")
        t = type(obj)
        if obj is None or t is bool or t is str:
            return obj
        if t is int:
            if obj.bit_length() > MAX_INT_BITS:
                return self._unknown(obj)
            return obj
        if t is float:
            return obj if math.isfinite(obj) else {"$": "float", "v": repr(obj)}
        if isinstance(obj, np.generic):
            return self._numpy_scalar(obj, depth)
        oid = id(obj)
        if oid in self._external:
            return {"$": "ext", "i": self._external[oid]}
        if oid in self._ids:
            if oid in self._open_tuples:
                raise CodecError("a tuple that contains itself cannot be carried")
            return {"$": "ref", "i": self._ids[oid]}
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject or obj.dtype.kind not in ARRAY_KINDS or obj.dtype.names is not None:
                return self._unknown(obj)
            self._register(obj)
            arr = np.asarray(obj) if t is not np.ndarray else obj
            node = {"$": "nd", "a": self.add_array(arr)}
            if not obj.flags.writeable:
                node["ro"] = True
            return node
        if isinstance(obj, (list, tuple, dict)) and t not in (list, tuple, dict):
            t = dict if isinstance(obj, dict) else (list if isinstance(obj, list) else tuple)
        if t is list:
            self._register(obj)
            return {"$": "list", "v": [self._enc(x, depth + 1) for x in list(obj)]}
        if t is tuple:
            self._register(obj)
            self._open_tuples.add(oid)
            try:
                return {"$": "tuple", "v": [self._enc(x, depth + 1) for x in obj]}
            finally:
                self._open_tuples.discard(oid)
        if t is dict:
            self._register(obj)
            items = list(obj.items())
            return {"$": "dict", "k": [self._enc(k, depth + 1) for k, _ in items],
                    "v": [self._enc(v, depth + 1) for _, v in items]}
        if isinstance(obj, np.random.Generator):
            state = obj.bit_generator.state
            if state.get("bit_generator") not in _BIT_GENERATORS:
                return self._unknown(obj)
            self._register(obj)
            return {"$": "rng", "s": self._enc(state, depth + 1)}
        if isinstance(obj, bool):  # never reached (bool is final), kept for clarity
            return bool(obj)
        if isinstance(obj, int):  # IntEnum and other int subclasses travel as ints
            return self._enc(int(obj), depth)
        if isinstance(obj, float):
            return self._enc(float(obj), depth)
        if isinstance(obj, str):
            return str(obj)
        if isinstance(obj, complex):
            return {"$": "complex", "v": [self._enc(obj.real, depth + 1), self._enc(obj.imag, depth + 1)]}
        if isinstance(obj, (bytes, bytearray)):
            self._bytes += len(obj)
            if self._bytes > self._limits[0]:
                raise CodecError(f"the data adds up to more than {self._limits[0] // 2**20} MiB")
            return {"$": "bytes", "v": base64.b64encode(bytes(obj)).decode("ascii")}
        return self._unknown(obj)

    def _numpy_scalar(self, obj: np.generic, depth):
        dt = obj.dtype
        if dt.kind == "b":
            return {"$": "np", "t": dt.str, "v": bool(obj)}
        if dt.kind in "iu":
            return {"$": "np", "t": dt.str, "v": int(obj)}
        if dt.kind == "f" and dt.itemsize <= 8:
            return {"$": "np", "t": dt.str, "v": self._enc(float(obj), depth + 1)}
        if dt.kind == "c" and dt.itemsize <= 16:
            return {"$": "np", "t": dt.str, "v": self._enc(complex(obj), depth + 1)}
        if dt.kind in ARRAY_KINDS and not dt.hasobject and dt.names is None:  # long double, text scalars
            return {"$": "np0", "a": self.add_array(np.asarray(obj))}
        return self._unknown(obj)

    def _unknown(self, obj):
        if self._fallback is None:
            raise CodecError(f"a {type(obj).__name__} cannot be carried")
        return self._fallback(obj)


class Decoder:
    """Turns a tree and its arrays back into Python objects.

    ``external`` is the other side's table (see :class:`Encoder`); ``resolve(tag, node, data)``
    builds the nodes only the grader sends to the kernel (functions by qualified name, objects
    of the course package, kernel handles); without it such nodes are refused.
    """

    def __init__(self, arrays: dict[str, np.ndarray], *, external=(), resolve=None,
                 max_items: int = MAX_ITEMS, max_depth: int = MAX_DEPTH):
        self.arrays = arrays
        self.objects: list = []
        self._external = external
        self._resolve = resolve
        self._used: set[str] = set()
        self._limits = (max_items, max_depth)
        self._items = 0

    def decode(self, node):
        try:
            return self._dec(node, 0)
        except CodecError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError, RecursionError) as exc:
            raise CodecError(f"malformed message: {type(exc).__name__}: {exc}") from None

    def _array(self, key) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays or key in self._used:
            raise CodecError(f"malformed message: no array {key!r}")
        self._used.add(key)
        arr = self.arrays[key]
        if not isinstance(arr, np.ndarray):
            raise CodecError("malformed message: not an array")
        _check_dtype(arr.dtype)
        return arr

    def _dec(self, node, depth):
        self._items += 1
        if self._items > self._limits[0] or depth > self._limits[1]:
            raise CodecError("the message is too large or too deeply nested")
        t = type(node)
        if node is None or t in (bool, int, str, float):
            return node
        if t is not dict:
            raise CodecError(f"malformed message: a bare {t.__name__}")
        tag = node.get("$")
        if tag == "float":
            v = node["v"]
            if v not in ("nan", "inf", "-inf"):
                raise CodecError("malformed message: bad float")
            return float(v)
        if tag == "np":
            dt = np.dtype(node["t"])
            _check_dtype(dt)
            v = self._dec(node["v"], depth + 1)
            if type(v) not in (bool, int, float, complex):
                raise CodecError("malformed message: bad scalar")
            return dt.type(v)
        if tag == "np0":
            arr = self._array(node["a"])
            if arr.ndim != 0:
                raise CodecError("malformed message: bad scalar")
            return arr[()]
        if tag == "complex":
            re_, im = (self._dec(x, depth + 1) for x in node["v"])
            if type(re_) is not float or type(im) is not float:
                raise CodecError("malformed message: bad complex")
            return complex(re_, im)
        if tag == "bytes":
            return base64.b64decode(node["v"].encode("ascii"), validate=True)
        if tag == "nd":
            arr = self._array(node["a"])
            if node.get("ro"):
                arr.flags.writeable = False
            self.objects.append(arr)
            return arr
        if tag == "list":
            out: list = []
            self.objects.append(out)
            out.extend(self._dec(x, depth + 1) for x in _seq(node["v"]))
            return out
        if tag == "tuple":
            k = len(self.objects)
            self.objects.append(_OPEN)
            out = tuple(self._dec(x, depth + 1) for x in _seq(node["v"]))
            self.objects[k] = out
            return out
        if tag == "dict":
            d: dict = {}
            self.objects.append(d)
            keys, values = _seq(node["k"]), _seq(node["v"])
            if len(keys) != len(values):
                raise CodecError("malformed message: bad dict")
            for kn, vn in zip(keys, values):
                key = self._dec(kn, depth + 1)
                d[key] = self._dec(vn, depth + 1)  # an unhashable key raises TypeError: malformed
            return d
        if tag == "rng":
            k = len(self.objects)
            self.objects.append(_OPEN)
            state = self._dec(node["s"], depth + 1)
            gen = _make_generator(state)
            self.objects[k] = gen
            return gen
        if tag in ("ref", "ext"):
            i = node["i"]
            table = self.objects if tag == "ref" else self._external
            if type(i) is not int or not 0 <= i < len(table) or table[i] is _OPEN:
                raise CodecError(f"malformed message: bad {tag} {i!r}")
            return table[i]
        if tag == "unsup":
            h = node.get("h")
            return make_unsupported(str(node.get("t", "object")), str(node.get("r", ""))[:MAX_TEXT],
                                    h if type(h) is int else None)
        if tag in ("func", "obj", "mod", "handle"):
            if self._resolve is None:
                raise CodecError(f"malformed message: {tag} nodes are not accepted here")
            data = None
            if tag == "obj":
                data = self._dec(node["d"], depth + 1)
            return self._resolve(tag, node, data)
        raise CodecError(f"malformed message: unknown node {tag!r}")


_OPEN = object()  # a table slot whose object is still being built


def _seq(v) -> list:
    if type(v) is not list:
        raise CodecError("malformed message: expected a list")
    return v


def _make_generator(state) -> np.random.Generator:
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _BIT_GENERATORS:
        raise CodecError(f"malformed message: bit generator {name!r}")
    bg = getattr(np.random, name)()
    bg.state = state
    return np.random.Generator(bg)


def encode(obj, *, external=None, fallback=None) -> tuple[dict, dict[str, np.ndarray]]:
    """``obj`` as a JSON-able tree and its arrays (see :class:`Encoder`). An unsupported type
    raises :class:`CodecError` unless ``fallback`` encodes it."""
    enc = Encoder(external=external, fallback=fallback)
    return {"root": enc.encode(obj)}, enc.arrays


def decode(tree: dict, arrays: dict[str, np.ndarray], *, external=(), resolve=None):
    """The object :func:`encode` turned into ``(tree, arrays)``."""
    if not isinstance(tree, dict) or "root" not in tree:
        raise CodecError("malformed message: no root")
    return Decoder(arrays, external=external, resolve=resolve).decode(tree["root"])


def unsupported_fallback(obj) -> dict:
    """Encode anything the codec does not carry as an :class:`Unsupported` marker."""
    return {"$": "unsup", "t": type(obj).__name__, "r": _short_repr(obj), "h": None}


# --------------------------------------------------------------------------- messages


def encode_message(tree: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """One ``.npz`` (an uncompressed zip of ``.npy`` files) holding ``tree`` as ``tree.json``."""
    try:
        text = json.dumps(tree, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")
    except (TypeError, ValueError, RecursionError) as exc:
        raise CodecError(f"the tree is not JSON: {exc}") from None
    if len(text) > MAX_TREE_BYTES:
        raise CodecError(f"the message's tree is larger than {MAX_TREE_BYTES // 2**20} MiB")
    total = 0
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(_TREE_MEMBER, text)
        for key, arr in arrays.items():
            if not _MEMBER.fullmatch(key):
                raise CodecError(f"bad array name {key!r}")
            arr = np.asarray(arr)
            _check_dtype(arr.dtype)
            total += arr.nbytes
            if total > MAX_ARRAY_BYTES:
                raise CodecError(f"the arrays add up to more than {MAX_ARRAY_BYTES // 2**20} MiB")
            with zf.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)
    return buf.getvalue()


def decode_message(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Read what :func:`encode_message` wrote, trusting nothing: only uncompressed members with
    the expected names, array headers checked (dtype, and a size that the member really holds)
    before any memory is allocated, ``allow_pickle=False``."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise CodecError(f"the message is larger than {MAX_MESSAGE_BYTES // 2**20} MiB")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CodecError(f"not a message: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ITEMS + 1:
            raise CodecError("too many members")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names) or _TREE_MEMBER not in names:
            raise CodecError("not a message: members missing or repeated")
        total = 0
        tree = None
        arrays: dict[str, np.ndarray] = {}
        for info in infos:
            if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
                raise CodecError("not a message: compressed or encrypted member")
            total += info.file_size
            if total > MAX_MESSAGE_BYTES:
                raise CodecError("the message is too large")
            if info.filename == _TREE_MEMBER:
                if info.file_size > MAX_TREE_BYTES:
                    raise CodecError("the message's tree is too large")
                try:
                    tree = json.loads(zf.read(info).decode("ascii"))
                except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                    raise CodecError(f"the message's tree is not JSON: {type(exc).__name__}") from None
                continue
            key = info.filename[:-4] if info.filename.endswith(".npy") else ""
            if not _MEMBER.fullmatch(key):
                raise CodecError(f"not a message: unexpected member {info.filename[:80]!r}")
            arrays[key] = _read_npy(zf, info)
    if not isinstance(tree, dict):
        raise CodecError("not a message: the tree is not an object")
    return tree, arrays


def _read_npy(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One array member: header checked (dtype, a size the member really holds) before the
    array is allocated, then the raw data read into it (never through pickle)."""
    fmt = np.lib.format
    try:
        with zf.open(info) as f:
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(f)
            else:
                raise CodecError(f"unsupported .npy version {version}")
            _check_dtype(dtype)
            if math.prod(shape) * dtype.itemsize != info.file_size - f.tell():
                raise CodecError("an array's header does not match its data")
            arr = np.empty(shape[::-1] if fortran else shape, dtype=dtype)  # fortran: the transpose, C order
            if arr.nbytes:
                view = memoryview(arr.reshape(-1).view(np.uint8))
                done = 0
                while done < arr.nbytes:
                    n = f.readinto(view[done:])
                    if not n:
                        raise CodecError("an array's data is cut short")
                    done += n
            return arr.T if fortran else arr
    except CodecError:
        raise
    except (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile, KeyError, SyntaxError) as exc:
        raise CodecError(f"a bad array in the message: {type(exc).__name__}: {exc}") from None


def write_message(path, tree: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write a message atomically (a temporary file, then a rename), readable by others."""
    data = encode_message(tree, arrays)
    path = os.fspath(path)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_message(path) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a message written by :func:`write_message` (maybe by a hostile process): a regular
    file, not a link, not larger than the cap; the content is checked by :func:`decode_message`."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(os.fspath(path), flags)
    except OSError as exc:
        raise CodecError(f"cannot open the message: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise CodecError("the message is not a regular file")
        if st.st_size > MAX_MESSAGE_BYTES:
            raise CodecError(f"the message is larger than {MAX_MESSAGE_BYTES // 2**20} MiB")
        data = f.read(MAX_MESSAGE_BYTES + 1)
    return decode_message(data)


def request_envelope(op: str, payload: dict) -> dict:
    return {"op": op, "payload": payload}


def open_envelope(tree: dict) -> dict:
    """The payload of the agent's answer; :class:`AgentError` when the agent reported one."""
    if not isinstance(tree, dict) or not isinstance(tree.get("ok"), bool):
        raise AgentError("the kernel's answer is not an answer")
    if not tree["ok"]:
        raise AgentError(str(tree.get("error", "unknown error"))[:MAX_TEXT])
    payload = tree.get("payload")
    if not isinstance(payload, dict):
        raise AgentError("the kernel's answer has no payload")
    return payload


# --------------------------------------------------------------------------- links


class RemoteError(Exception):
    """The transport to the kernel failed (raised by a :class:`Link`)."""


class RemoteTimeout(RemoteError):
    """The kernel did not answer within the time given."""


class KernelDied(RemoteError):
    """The kernel died (crash, os._exit, out of memory) while handling the request."""


class AgentError(RemoteError):
    """The agent in the kernel answered with an error, or its answer is unreadable."""


class Link(Protocol):
    """Carries one request to the agent in the kernel and returns its answer's payload.

    ``payload``/``arrays`` are what :func:`.agent.handle` receives; the answer is what it
    returned. Raises :class:`RemoteTimeout` after ``timeout`` seconds, :class:`KernelDied`
    when the kernel dies, :class:`AgentError` when the agent reports an error.
    """

    def request(self, op: str, payload: dict, arrays: dict, timeout: float) -> tuple[dict, dict]:
        ...


class LoopbackLink:
    """A :class:`Link` that runs the agent in this process on ``namespace`` (a dict standing
    for the kernel's ``user_ns``), through the full message encoding. For tests."""

    def __init__(self, namespace: dict):
        self.namespace = namespace
        self.requests = 0

    def request(self, op, payload, arrays, timeout):
        from . import agent

        self.requests += 1
        data = encode_message(request_envelope(op, payload), arrays)
        tree, out_arrays = decode_message(agent.process(data, self.namespace))
        return open_envelope(tree), out_arrays


class FileLink:
    """A :class:`Link` over a directory that the grader and the kernel both see.

    ``run_code(code, timeout)`` is the executor's: it runs ``code`` in the kernel and waits,
    raising :class:`RemoteTimeout` / :class:`KernelDied`. ``local_dir`` is the directory as
    the grader sees it, ``kernel_dir`` as the kernel sees it (the sandbox may mount it
    elsewhere). Each request writes ``<prefix>-request.npz``, runs
    ``__cnn_agent__.serve(request, response)`` in the kernel and reads ``<prefix>-response.npz``.
    """

    SETUP = "import cnn_course.grading.agent as __cnn_agent__"

    def __init__(self, run_code: Callable[[str, float], Any], local_dir, kernel_dir=None, prefix: str = "cnn-agent"):
        self.run_code = run_code
        self.local_dir = os.fspath(local_dir)
        self.kernel_dir = os.fspath(kernel_dir) if kernel_dir is not None else self.local_dir
        self.prefix = prefix
        self.requests = 0

    def _paths(self, base):
        return (os.path.join(base, f"{self.prefix}-request.npz"), os.path.join(base, f"{self.prefix}-response.npz"))

    def request(self, op, payload, arrays, timeout):
        self.requests += 1
        req, resp = self._paths(self.local_dir)
        kreq, kresp = self._paths(self.kernel_dir)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(resp)
        write_message(req, request_envelope(op, payload), arrays)
        try:
            self.run_code(f"{self.SETUP}\n__cnn_agent__.serve({kreq!r}, {kresp!r})", timeout)
            try:
                tree, out_arrays = read_message(resp)
            except CodecError as exc:
                raise AgentError(f"the kernel's answer could not be read: {exc}") from None
        finally:
            for p in (req, resp):
                with contextlib.suppress(OSError):
                    os.unlink(p)
        return open_envelope(tree), out_arrays


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
        if len(_EXC_CLASSES) < _MAX_CLASSES:
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
    kernel found it (see :func:`.core._student_frame`)."""
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
        """The probe ``name`` (:mod:`.probes`) in the kernel, as a proxy (one per session)."""
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
    :func:`rebuild_exception`); a watcher of :mod:`.core` running around the call gets what
    the kernel's watcher found.
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
