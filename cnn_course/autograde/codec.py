"""The safe codec between the judge and the agent in the student's kernel.

Values cross as a JSON tree plus NumPy arrays, never pickle. :class:`Encoder` /
:class:`Decoder` (:func:`encode` / :func:`decode`) turn Python values into a tree and its
arrays and back: numbers, text, bytes, lists, tuples, dicts, arrays of plain dtypes and
NumPy random generators. Containers are numbered as they are met, so an object seen twice
comes back as one object, and a result can refer to the call's own arguments. What the
codec does not carry becomes an :class:`Unsupported` marker named like the kernel
object's type. A message is one ``.npz`` holding the tree as ``tree.json``
(:func:`encode_message` / :func:`decode_message`, :func:`write_message` /
:func:`read_message`), read trusting nothing: every member is checked before memory is
allocated, arrays are loaded with ``allow_pickle=False``, and the sizes are capped (the
limits below).

Both sides import this module, the grader (:mod:`.judge`, :mod:`.links`) and the agent in
the kernel (:mod:`.agent`): it needs nothing but NumPy and the standard library.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import os
import re
import stat
import zipfile
from typing import Any, Callable

import numpy as np

__all__ = [
    "encode", "decode", "Encoder", "Decoder", "CodecError", "Unsupported", "encode_message", "decode_message",
    "write_message", "read_message",
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
MAX_CLASSES = 1000


def unsupported_type(name: str) -> type:
    """The :class:`Unsupported` subclass named ``name`` (one class per name)."""
    name = str(name)[:100] or "object"
    cls = _UNSUPPORTED_TYPES.get(name)
    if cls is None:
        if len(_UNSUPPORTED_TYPES) >= MAX_CLASSES:  # a kernel inventing names: stop making classes
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


def read_message(path, *, dir_fd: int | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a message written by :func:`write_message` (maybe by a hostile process): a regular
    file, not a link, not larger than the cap; the content is checked by :func:`decode_message`.
    ``dir_fd``: ``path`` is relative to that open directory (as in :func:`os.open`)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(os.fspath(path), flags, dir_fd=dir_fd)
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
