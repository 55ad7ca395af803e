"""Static anti-cheat in the judge: an AST look at what the student wrote.

Runs in the grader process (never in the student's kernel), on the autograded notebook
after nbgrader restored its locked cells, next to the release notebook. Only
*student-authored* code is judged: code cells whose source is not, verbatim, a code cell
of the release notebook (test cells, whose hidden tests nbgrader put back, are recognised
by their grade id and their visible part).

Two questions, answered per test cell by :meth:`StaticReport.problem`:

* **Is the graded function the student's own work?** The graded functions are the names
  a test cell hands to a check (``check.conv_forward(conv_forward)``). For each, the
  definition live when that test cell runs (the last top-level ``def NAME`` /
  ``NAME = ...`` / ``import ... as NAME`` above it; every branch of an ``if``/``try``
  counts) is read, and every function of the notebook it calls is followed,
  transitively. A reference to a forbidden module (``core.FORBIDDEN``: the course
  library ``cnn_course.ref``/``cnn_course.pt``, ``torch``, ``scipy.signal``,
  ``scipy.ndimage``) through an import in the function, a module-level import or alias
  (also in instructor cells: the notebook's own ``from cnn_course import ref``), an
  attribute chain (``import cnn_course`` + ``cnn_course.ref.conv.conv2d_forward``), or
  a module-level object built from one, costs that exercise, with core's
  "earns no points" message. A dynamic import (``importlib``, ``__import__``) inside
  a graded function or a helper it calls hides what it calls and costs that exercise
  the same way (and only that one).

* **Does the notebook tamper with the grader?** Anywhere in student code: the profiler
  and tracer hooks the kernel-side watcher uses (``sys.setprofile``/``settrace``/
  ``getprofile``, ``threading.setprofile``), the grading package
  (``cnn_course.grading``: anything but importing a topic module and calling its
  public checks, which a student may re-run in a scratch cell) and its kernel agent
  (``__cnn_agent__``, also as a string),
  ``gc`` (finds and rewrites any live object), ``importlib``/``__import__`` outside the
  graded functions, ``exec``/``eval``/``compile``/``globals()``, the ``builtins`` module
  and ``__builtins__``, the module table and import hooks (``sys.modules``,
  ``sys.meta_path``, ...), stack frames (``sys._getframe``, ``inspect.currentframe``,
  ``f_back``, ``tb_frame``, ...), function internals (``__globals__``, ``__code__``,
  ``__subclasses__``), IPython's internals (``user_ns``, ``run_cell``, input/AST
  transformers, event hooks), replacing attributes of an imported module
  (monkeypatching ``np.allclose``), ``getattr(sys, <computed name>)`` on such modules,
  ``%run``/``%load``, and, in a notebook that writes files or runs shell commands, an
  import of a module that is not installed (one the notebook may have written itself,
  whose code this analysis cannot read). Tampering costs every graded
  exercise whose test cell comes after the tampering cell; the message says which cell
  and what, and asks the student to have the instructor review the notebook by hand.

Deliberately *not* tampering: ``ctypes``, ``os._exit``, ``os.kill``, ``signal``,
``socket``, ``sqlite3``, ``open``, ``subprocess`` and shell escapes (``!cmd``). They
can crash or hang the kernel, or try to reach files and the network, which the sandbox
(no network, no gradebook or solutions in sight) and the executor (timeouts, restart
and replay) already contain at the cost of the exercise they break; a segfault through
``ctypes`` inside a graded function must cost that exercise only. Nor is shadowing a
builtin name (``sum = 0``): the test code runs in the judge, where builtins are the
real ones.

The analysis is a second line of defence: verdicts are computed outside the kernel
(``remote.py``), so nothing the kernel does can change how a result is compared; what
tampering could still hide is a forbidden call from the kernel-side watcher. It is
exact on what it reads, conservative where code is conditional (any branch counts),
and blind to what no static analysis can see (strings built at run time, data read
from files); the kernel-side watcher remains for those.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from . import core

__all__ = ["graded_names", "student_cells", "analyze", "StaticReport", "Finding"]

# --------------------------------------------------------------------------- what is flagged

GRADING_PACKAGE = "cnn_course.grading"
AGENT_NAME = "__cnn_agent__"

# Dotted names (after alias resolution): a name is flagged when it equals an entry or
# starts with entry + ".". Value: what it is, for the message.
TAMPER_DOTTED: dict[str, str] = {
    GRADING_PACKAGE: "the grader's own code",
    "gc": "the garbage collector, which finds and changes the grader's objects",
    "builtins": "Python's builtins",
    "__builtin__": "Python's builtins",
    "sys.setprofile": "the hook the grader uses to watch calls",
    "sys.settrace": "the hook the grader uses to watch calls",
    "sys.getprofile": "the hook the grader uses to watch calls",
    "sys.gettrace": "the hook the grader uses to watch calls",
    "sys.monitoring": "the hook the grader uses to watch calls",
    "threading.setprofile": "the hook the grader uses to watch calls",
    "threading.settrace": "the hook the grader uses to watch calls",
    "threading.setprofile_all_threads": "the hook the grader uses to watch calls",
    "threading.settrace_all_threads": "the hook the grader uses to watch calls",
    "sys._getframe": "the grader's stack frames",
    "sys._current_frames": "the grader's stack frames",
    "inspect.currentframe": "the grader's stack frames",
    "inspect.stack": "the grader's stack frames",
    "inspect.trace": "the grader's stack frames",
    "inspect.getouterframes": "the grader's stack frames",
    "inspect.getinnerframes": "the grader's stack frames",
    "sys.modules": "the table of loaded modules",
    "sys.meta_path": "Python's import machinery",
    "sys.path_hooks": "Python's import machinery",
    "sys.path_importer_cache": "Python's import machinery",
}
# Dynamic imports: tampering, except inside a graded function (or a helper it calls),
# where they cost that exercise only (they hide what the function calls).
DYNAMIC_DOTTED: dict[str, str] = {
    "importlib": "a dynamic import",
    "imp": "a dynamic import",
}
# Bare names (builtins and the agent) that are flagged wherever they are read.
TAMPER_NAMES: dict[str, str] = {
    "exec": "runs code built at run time",
    "eval": "runs code built at run time",
    "compile": "builds code at run time",
    "globals": "rewrites the notebook's namespace behind the grader's back",
    "__builtins__": "Python's builtins",
    AGENT_NAME: "the grader's agent in your kernel",
    "__loader__": "Python's import machinery",
}
DYNAMIC_NAMES: dict[str, str] = {"__import__": "a dynamic import"}
# Attribute names flagged on any object.
TAMPER_ATTRS: dict[str, str] = {
    "__globals__": "another function's namespace",
    "__builtins__": "Python's builtins",
    "__subclasses__": "Python's object internals",
    "__code__": "a function's compiled code",
    "f_back": "the grader's stack frames",
    "f_globals": "the grader's stack frames",
    "f_locals": "the grader's stack frames",
    "f_builtins": "the grader's stack frames",
    "tb_frame": "the grader's stack frames",
    "gi_frame": "the grader's stack frames",
    "cr_frame": "the grader's stack frames",
    "ag_frame": "the grader's stack frames",
    AGENT_NAME: "the grader's agent in your kernel",
    "user_ns": "IPython's internals",
    "user_global_ns": "IPython's internals",
    "run_cell": "IPython's internals",
    "run_cell_async": "IPython's internals",
    "run_code": "IPython's internals",
    "safe_execfile": "IPython's internals",
    "ast_transformers": "IPython's internals",
    "input_transformers_post": "IPython's internals",
    "input_transformers_cleanup": "IPython's internals",
    "input_transformer_manager": "IPython's internals",
    "set_custom_exc": "IPython's internals",
}
TAMPER_STRINGS: dict[str, str] = {AGENT_NAME: "the grader's agent in your kernel"}
# Attribute names flagged on any object, whatever it is called (``os.sys.setprofile``).
SYS_ATTRS = ("setprofile", "settrace", "getprofile", "gettrace", "_getframe", "_current_frames", "modules",
             "meta_path", "path_hooks", "path_importer_cache", "monitoring")
# getattr/setattr/vars with a computed name on these modules can reach anything above.
SENSITIVE_MODULES = ("sys", "builtins", "__builtin__", "gc", "importlib", "imp", "inspect", "threading",
                     "cnn_course", "IPython", "ipykernel")
# Assigning to these attributes of a module is configuration, not monkeypatching.
MODULE_STORE_OK = ("torch.backends", "matplotlib.rcParams", "matplotlib.pyplot.rcParams")
# IPython magics whose argument is Python code run in the notebook's namespace.
CODE_MAGICS = ("time", "timeit", "prun", "capture")
# IPython magics that run code from a file the analysis cannot read.
FILE_MAGICS = ("run", "load", "loadpy", "macro")
EXTENSION_MAGICS = ("load_ext", "reload_ext")

# Calls that write files or run other programs: with one of them in the notebook, an
# import of a module that is not installed may be of a module the notebook wrote.
WRITER_METHODS = ("write_text", "write_bytes", "system", "getoutput", "popen", "Popen", "symlink_to", "rename")
WRITER_CALLS = ("os.system", "os.popen", "os.rename", "os.replace", "os.link", "os.symlink", "os.write", "os.open",
                "os.spawnv", "os.execv", "subprocess", "shutil", "numpy.save", "numpy.savetxt", "numpy.savez",
                "json.dump", "pickle.dump", "io.open", "codecs.open", "urllib.request.urlretrieve", "zipfile",
                "tarfile")
WRITING_MAGICS = ("writefile", "file", "bash", "sh", "script", "python", "python2", "python3", "perl", "ruby",
                  "system", "sx")

CHECK_PACKAGE = GRADING_PACKAGE
MAX_PLACES = 3  # places listed in a tampering message


def _matches(dotted: str, prefixes) -> str | None:
    for p in prefixes:
        if dotted == p or dotted.startswith(p + "."):
            return p
    return None


@functools.lru_cache(maxsize=None)
def _installed(top: str) -> bool:
    """Whether a top-level module can be imported from the course environment."""
    if top in sys.builtin_module_names or top in sys.stdlib_module_names:
        return True
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


@functools.lru_cache(maxsize=1)
def _check_api() -> frozenset[str]:
    """What of the grading package a student may use in a scratch cell (re-running a
    check in the kernel is harmless: the grade comes from the judge): the topic modules
    and their public functions, and the exception classes."""
    allowed = {GRADING_PACKAGE, f"{GRADING_PACKAGE}.CheckFailed", f"{GRADING_PACKAGE}.NotYourOwnWork"}
    for path in Path(core.__file__).resolve().parent.glob("*.py"):
        if path.stem.startswith("_") or path.stem in ("core", "agent", "remote", "static"):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError):
            continue
        fns = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
        if fns:
            allowed.add(f"{GRADING_PACKAGE}.{path.stem}")
            allowed.update(f"{GRADING_PACKAGE}.{path.stem}.{f}" for f in fns)
    return frozenset(allowed)


def _is_module(dotted: str) -> bool:
    """Whether a resolved name is a module (not a function or class of one). Never
    imports anything new into the grader: a dotted name whose parent is not imported
    yet counts as a module when its top-level package is installed (the conservative
    answer for "is this monkeypatching a library?")."""
    top = dotted.split(".")[0]
    if not _installed(top):
        return False
    if "." not in dotted:
        return True
    parent = dotted.rpartition(".")[0]
    mod = sys.modules.get(parent)
    if mod is None:
        return True
    if not hasattr(mod, "__path__"):
        return False
    try:
        return importlib.util.find_spec(dotted) is not None
    except Exception:  # a broken package: not ours to judge
        return False


# --------------------------------------------------------------------------- cells


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else (src or "")


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip("\n").splitlines()).strip()


def _nbgrader(cell) -> dict:
    md = cell.get("metadata", {}) or {}
    nbg = md.get("nbgrader", {}) if isinstance(md, dict) else {}
    return nbg if isinstance(nbg, dict) else {}


def _without_hidden_tests(source: str) -> str:
    """The cell as nbgrader releases it (ClearHiddenTests): hidden-test regions removed."""
    out, inside = [], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def _release_index(release_nb):
    """(set of normalised release code sources, {test grade_id: normalised visible source})."""
    sources, tests = set(), {}
    for cell in release_nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        src = _norm(_source(cell))
        sources.add(src)
        nbg = _nbgrader(cell)
        if nbg.get("grade") and not nbg.get("solution") and nbg.get("grade_id"):
            tests[nbg["grade_id"]] = src
    return sources, tests


_RESTORED = re.compile(r"\A# This cell \(id:[^)]*\) was missing from the submission\..*\n(\s*\n)*")


def _is_instructor_cell(cell, release_sources, release_tests) -> bool:
    src = _source(cell)
    if _norm(src) in release_sources:
        return True
    gid = _nbgrader(cell).get("grade_id")
    # A test cell whose hidden tests nbgrader restored (OverwriteCells): its visible part
    # is the release cell's. Recognised by grade id, not by flags a student could edit;
    # a deleted one that nbgrader added back starts with nbgrader's note, as a comment.
    return gid in release_tests and _norm(_without_hidden_tests(_RESTORED.sub("", src))) == release_tests[gid]


def student_cells(submission_nb, release_nb) -> list[tuple[int, str]]:
    """(cell index, source) of the code cells the student wrote or changed: those whose
    source is not, verbatim (up to trailing spaces), a code cell of the release notebook,
    and that are not test cells restored by nbgrader."""
    release_sources, release_tests = _release_index(release_nb)
    return [(i, _source(c)) for i, c in enumerate(submission_nb.get("cells", []))
            if c.get("cell_type") == "code" and not _is_instructor_cell(c, release_sources, release_tests)]


@functools.lru_cache(maxsize=1)
def _transformer():
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # plain Python: magics stay syntax errors
        return None
    return TransformerManager()


@functools.lru_cache(maxsize=4096)
def _parse(source: str) -> ast.Module | None:
    """The cell as the kernel runs it (IPython syntax turned into Python), or None when it
    does not compile (then it defines and runs nothing)."""
    tm = _transformer()
    try:
        code = tm.transform_cell(source) if tm is not None else source
    except Exception:  # IPython's transformer gave up: the kernel would too
        return None
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


# --------------------------------------------------------------------------- graded names


def _check_aliases(tree: ast.Module) -> dict[str, str]:
    """Names the test code binds to a check module of cnn_course.grading -> that module."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == CHECK_PACKAGE and not node.level:
            for a in node.names:  # the topic modules (not CheckFailed & co)
                if a.name[:1].islower():
                    aliases[a.asname or a.name] = f"{CHECK_PACKAGE}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if (a.name == CHECK_PACKAGE or a.name.startswith(CHECK_PACKAGE + ".")) and a.asname:
                    aliases[a.asname] = a.name
    return aliases


def _check_forbidden(module: str, check: str) -> tuple[str, ...] | None:
    """The modules the check ``module.check`` forbids the graded function (its
    ``forbidden`` attribute, see :func:`.core.forbids`); None when it sets none."""
    try:
        fn = getattr(importlib.import_module(module), check)
    except (ImportError, AttributeError):  # not a check
        return None
    forbidden = getattr(fn, "forbidden", None)
    return tuple(forbidden) if isinstance(forbidden, tuple) else None


def graded_checks(test_source: str, default=core.FORBIDDEN) -> dict[str, tuple[str, ...]]:
    """The student functions a test cell grades, in order, each with the modules its check
    forbids: the plain names passed to ``check.X(...)`` calls, where ``check`` is bound by
    ``from cnn_course.grading import T as check`` (or ``import cnn_course.grading.T as
    check``). A test cell without such checks (e.g. ``expect(relu(x) ...)``) grades the
    functions it calls by name. A check that declares no list (see :func:`.core.forbids`)
    forbids ``default``; a name two checks grade gets both lists."""
    tree = _parse(test_source)
    if tree is None:
        return {}
    aliases = _check_aliases(tree)
    found: dict[str, tuple[str, ...]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id in aliases:
            forbidden = _check_forbidden(aliases[node.func.value.id], node.func.attr) or tuple(default)
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                if isinstance(arg, ast.Name):
                    old = found.get(arg.id, ())
                    found[arg.id] = old + tuple(f for f in forbidden if f not in old)
    if found or aliases:
        return {n: found[n] for n in sorted(found, key=lambda n: _first_use(tree, n))}
    return {n: tuple(default) for n in _called_names(tree)}


def graded_names(test_source: str) -> list[str]:
    """The student functions a test cell grades, in order (see :func:`graded_checks`)."""
    return list(graded_checks(test_source))


def _called_names(tree: ast.Module) -> list[str]:
    """The names a test cell without check modules calls, except its own and Python's."""
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    called = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            n = node.func.id
            if n not in bound and n not in _BUILTINS and n not in called:
                called.append(n)
    return sorted(called, key=lambda n: _first_use(tree, n))


_BUILTINS = frozenset(dir(__import__("builtins")))


def _first_use(tree: ast.Module, name: str) -> tuple[int, int]:
    spots = [(n.lineno, n.col_offset) for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == name]
    return min(spots) if spots else (10**9, 0)


# --------------------------------------------------------------------------- module scope


@dataclass
class _Binding:
    kind: str  # "def" (function/class/lambda), "assign" (value expression), "import", "other"
    node: ast.AST | None  # def node, value expression, or None
    dotted: str | None  # import target
    cell: int
    student: bool
    conditional: bool


@dataclass
class Finding:
    """One tampering (or dynamic-import) spot in student code."""

    cell: int  # index in the notebook
    line: int  # line in the cell
    code: str  # that line, stripped
    what: str  # e.g. "sys.setprofile"
    why: str  # e.g. "the hook the grader uses to watch calls"
    kind: str = "tamper"  # "tamper" or "dynamic"
    top_def: str | None = None  # the top-level function it is in, if any


def _chain(node: ast.AST) -> tuple[str, list[str]] | None:
    """``a.b.c`` -> ("a", ["b", "c"]); None when the chain does not start at a name."""
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return node.id, attrs[::-1]
    return None


def _const_str(node) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _function_scope(node) -> tuple[set[str], set[str]]:
    """(local names, names declared global) of a function or lambda, nested scopes included
    (a conservative union: a name local anywhere inside is treated as local)."""
    local, glob = set(), set()
    args = node.args
    for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if a is not None:
            local.add(a.arg)
    body = node.body if isinstance(node.body, list) else [node.body]
    for stmt in body:
        for n in ast.walk(stmt):
            if isinstance(n, ast.Global):
                glob.update(n.names)
            elif isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
                local.add(n.id)
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                local.add(n.name)
            elif isinstance(n, (ast.Import, ast.ImportFrom)):
                for a in n.names:
                    if a.name != "*":
                        local.add((a.asname or a.name).split(".")[0])
            elif isinstance(n, ast.arg):
                local.add(n.arg)
            elif isinstance(n, ast.ExceptHandler) and n.name:
                local.add(n.name)
    return local - glob, glob


class _Module:
    """The notebook's module-level bindings, all code cells in execution order."""

    def __init__(self):
        self.bindings: dict[str, list[_Binding]] = {}
        self.star_forbidden: list[tuple[int, str]] = []  # (cell, module) of `from <forbidden> import *`
        # The moment names are looked up: the index of the cell being run (a test cell runs
        # after the cells above it only), or None with ``union``: every binding ever.
        self.horizon: int | None = None
        self.union = False

    def bind(self, name: str, b: _Binding) -> None:
        self.bindings.setdefault(name, []).append(b)

    def bound(self, name: str) -> bool:
        return any(self.horizon is None or b.cell < self.horizon for b in self.bindings.get(name, []))

    def live(self, name: str) -> list[_Binding]:
        """Bindings that may hold when cell ``horizon`` runs: from the last unconditional one
        before it on (all of them with ``union``)."""
        bs = [b for b in self.bindings.get(name, []) if self.horizon is None or b.cell < self.horizon]
        if self.union:
            return bs
        for k in range(len(bs) - 1, -1, -1):
            if not bs[k].conditional:
                return bs[k:]
        return bs

    def stars_before(self) -> list[tuple[int, str]]:
        return [(c, m) for c, m in self.star_forbidden if self.horizon is None or c < self.horizon]

    def add_cell(self, tree: ast.Module, cell: int, student: bool, forbidden) -> None:
        for stmt in tree.body:
            self._statement(stmt, cell, student, False, forbidden)

    def _statement(self, stmt, cell, student, conditional, forbidden) -> None:
        def bind(name, kind, node=None, dotted=None):
            self.bind(name, _Binding(kind, node, dotted, cell, student, conditional))

        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bind(stmt.name, "def", stmt)
            self._globals_in(stmt, cell, student)
        elif isinstance(stmt, ast.Import):
            for a in stmt.names:
                if a.asname:
                    bind(a.asname, "import", dotted=a.name)
                else:
                    top = a.name.split(".")[0]
                    bind(top, "import", dotted=top)
        elif isinstance(stmt, ast.ImportFrom):
            if stmt.level or not stmt.module:
                return
            for a in stmt.names:
                if a.name == "*":
                    if student and _matches(stmt.module, forbidden):
                        self.star_forbidden.append((cell, stmt.module))
                    continue
                bind(a.asname or a.name, "import", dotted=f"{stmt.module}.{a.name}")
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            value = stmt.value
            for t in targets:
                self._target(t, value, bind, aug=isinstance(stmt, ast.AugAssign))
            if value is not None:
                self._walrus(value, bind)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            self._target(stmt.target, None, bind)
            for s in [*stmt.body, *stmt.orelse]:
                self._statement(s, cell, student, True, forbidden)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                if item.optional_vars is not None:
                    self._target(item.optional_vars, None, bind)
            for s in stmt.body:
                self._statement(s, cell, student, True, forbidden)
        elif isinstance(stmt, (ast.If, ast.While)):
            for s in [*stmt.body, *stmt.orelse]:
                self._statement(s, cell, student, True, forbidden)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            for s in [*stmt.body, *stmt.orelse, *stmt.finalbody]:
                self._statement(s, cell, student, True, forbidden)
            for h in stmt.handlers:
                if h.name:
                    bind(h.name, "other")
                for s in h.body:
                    self._statement(s, cell, student, True, forbidden)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                for s in case.body:
                    self._statement(s, cell, student, True, forbidden)
        elif isinstance(stmt, ast.Delete):
            for t in stmt.targets:
                if isinstance(t, ast.Name):
                    bind(t.id, "other")
        elif isinstance(stmt, ast.Expr):
            self._walrus(stmt.value, bind)

    def _target(self, target, value, bind, aug=False) -> None:
        if isinstance(target, ast.Name):
            if aug or value is None:
                bind(target.id, "other" if value is None else "assign", value)
            elif isinstance(value, ast.Lambda):
                bind(target.id, "def", value)
            else:
                bind(target.id, "assign", value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(
                target.elts) else [value] * len(target.elts)
            for t, v in zip(target.elts, values):
                self._target(t, v, bind, aug)
        elif isinstance(target, ast.Starred):
            self._target(target.value, value, bind, aug)

    def _walrus(self, expr, bind) -> None:
        for n in ast.walk(expr):
            if isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name):
                bind(n.target.id, "assign", n.value)

    def _globals_in(self, fdef, cell, student) -> None:
        """Imports and assignments inside a function to names it declares ``global``."""
        glob = {n for s in ast.walk(fdef) if isinstance(s, ast.Global) for n in s.names}
        if not glob:
            return
        for n in ast.walk(fdef):
            if isinstance(n, ast.Import):
                for a in n.names:
                    name = a.asname or a.name.split(".")[0]
                    if name in glob:
                        self.bind(name, _Binding("import", None, a.name if a.asname else name, cell, student, True))
            elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
                for a in n.names:
                    if (a.asname or a.name) in glob:
                        self.bind(a.asname or a.name,
                                  _Binding("import", None, f"{n.module}.{a.name}", cell, student, True))
            elif isinstance(n, ast.Assign):
                for t in n.targets:
                    if isinstance(t, ast.Name) and t.id in glob:
                        self.bind(t.id, _Binding("assign", n.value, None, cell, student, True))

    # ---- alias resolution

    def resolve(self, name: str, depth: int = 0) -> set[str]:
        """Dotted module paths a global name may stand for (``F`` -> torch.nn.functional)."""
        if depth > 8:
            return set()
        out = set()
        for b in self.live(name):
            if b.kind == "import" and b.dotted:
                out.add(b.dotted)
            elif b.kind == "assign" and b.node is not None:
                out |= self.resolve_expr(b.node, {}, set(), depth + 1)
        return out

    def resolve_expr(self, node, local_aliases: dict, local: set, depth: int = 0) -> set[str]:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2 and _const_str(node.args[1]) is not None:
            return {f"{d}.{_const_str(node.args[1])}" for d in self.resolve_expr(node.args[0], local_aliases, local,
                                                                                  depth)}
        c = _chain(node)
        if c is None:
            return set()
        root, attrs = c
        if root in local_aliases:
            bases = set(local_aliases[root])
        elif root in local:
            return set()
        else:
            bases = self.resolve(root, depth)
        return {".".join([b, *attrs]) for b in bases}


# --------------------------------------------------------------------------- scanning code


@dataclass
class _Ref:
    kind: str  # "forbidden", "tamper", "dynamic", "global"
    what: str
    why: str
    line: int
    top_def: str | None


class _Scanner(ast.NodeVisitor):
    """Collects references in one piece of code: forbidden modules, tampering, and the
    global names it reads (for following helpers)."""

    def __init__(self, module: _Module, forbidden, top_def: str | None = None):
        self.m, self.forbidden = module, tuple(forbidden)
        self.refs: list[_Ref] = []
        self.scopes: list[tuple[set[str], dict[str, set[str]]]] = []  # (locals, local aliases)
        self.top_def = top_def

    # ---- helpers

    def _local(self, name: str) -> bool:
        return any(name in loc for loc, _ in self.scopes)

    def _local_aliases(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for _, al in self.scopes:
            out.update(al)
        return out

    def _all_locals(self) -> set[str]:
        out = set()
        for loc, _ in self.scopes:
            out |= loc
        return out

    def _add(self, kind, what, why, node) -> None:
        self.refs.append(_Ref(kind, what, why, getattr(node, "lineno", 0), self.top_def))

    def _classify(self, dotted: str, node) -> None:
        if _matches(dotted, self.forbidden):
            self._add("forbidden", dotted, "", node)
        hit = _matches(dotted, TAMPER_DOTTED)
        if hit and not (hit == GRADING_PACKAGE and dotted in _check_api()):
            self._add("tamper", dotted, TAMPER_DOTTED[hit], node)
        hit = _matches(dotted, DYNAMIC_DOTTED)
        if hit:
            self._add("dynamic", dotted, DYNAMIC_DOTTED[hit], node)

    def _resolve(self, node) -> set[str]:
        return self.m.resolve_expr(node, self._local_aliases(), self._all_locals())

    def _import_check(self, dotted: str, node) -> None:
        self._classify(dotted, node)
        top = dotted.split(".")[0]
        if not _installed(top):
            self._add("unknown", top, "a module that is not installed in the course environment: one the notebook "
                                      "wrote itself, whose code the grader cannot check", node)

    # ---- imports

    def visit_Import(self, node):
        for a in node.names:
            self._import_check(a.name, node)
            if self.scopes:
                name = a.asname or a.name.split(".")[0]
                self.scopes[-1][1][name] = {a.name if a.asname else a.name.split(".")[0]}

    def visit_ImportFrom(self, node):
        if node.level or not node.module:
            return
        for a in node.names:  # the most precise name first: cnn_course.ref.conv.conv2d_forward
            if a.name == "*":
                continue
            dotted = f"{node.module}.{a.name}"
            self._classify(dotted, node)
            if self.scopes:
                self.scopes[-1][1][a.asname or a.name] = {dotted}
        self._import_check(node.module, node)

    # ---- names and attributes

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) or isinstance(node.ctx, ast.Del):
            name = node.id
            if name in self._local_aliases():
                for d in self._local_aliases()[name]:
                    self._classify(d, node)
                return
            if self._local(name):
                return
            if name in TAMPER_NAMES:
                self._add("tamper", name, TAMPER_NAMES[name], node)
            elif name in DYNAMIC_NAMES:
                self._add("dynamic", name, DYNAMIC_NAMES[name], node)
            for d in self.m.resolve(name):
                self._classify(d, node)
            self._add("global", name, "", node)

    def visit_Attribute(self, node):
        if node.attr == "register" and isinstance(node.value, ast.Attribute) and node.value.attr == "events":
            self._add("tamper", ".events.register", "IPython's internals", node)
        c = _chain(node)
        if c is None:
            if node.attr in TAMPER_ATTRS:
                self._add("tamper", f".{node.attr}", TAMPER_ATTRS[node.attr], node)
            self.generic_visit(node)
            return
        attrs = c[1]
        for a in attrs:
            if a in TAMPER_ATTRS:
                self._add("tamper", f".{a}", TAMPER_ATTRS[a], node)
        for k, a in enumerate(attrs[:-1]):  # sys reached through another module: os.sys.setprofile
            if a == "sys" and attrs[k + 1] in SYS_ATTRS:
                self._classify("sys." + ".".join(attrs[k + 1:]), node)
        dotted = self._resolve(node)
        for d in dotted:
            self._classify(d, node)
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            for d in self._resolve(node.value):
                if not _matches(".".join([d, node.attr]), MODULE_STORE_OK) and _is_module(d):
                    self._add("tamper", f"{d}.{node.attr}", "replacing part of a library (monkeypatching)",
                              node)
        # the root name: a global helper or alias read
        root = node
        while isinstance(root, ast.Attribute):
            root = root.value
        if not dotted:
            self.visit(root)
        elif not self._local(root.id):
            self._add("global", root.id, "", root)

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            for s, why in TAMPER_STRINGS.items():
                if s in node.value:
                    self._add("tamper", repr(s), why, node)

    # ---- calls: getattr & co, IPython magics

    def _writes(self, node) -> None:
        """Note code that writes files or runs other programs (which could write a module
        the notebook then imports)."""
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        if name == "open":
            mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"),
                                                                 None)
            text = _const_str(mode) if mode is not None else "r"
            if text is None or set(text) & set("wax+"):
                self._add("writes", "open", "", node)
        elif name in WRITER_METHODS or any(_matches(d, WRITER_CALLS) for d in self._resolve(f)):
            self._add("writes", name, "", node)
        elif name in ("run_cell_magic", "run_line_magic") and node.args \
                and (_const_str(node.args[0]) or "").lstrip("%") in WRITING_MAGICS:
            self._add("writes", _const_str(node.args[0]), "", node)

    def visit_Call(self, node):
        self._writes(node)
        f = node.func
        if isinstance(f, ast.Name) and f.id in ("vars", "locals") and not node.args and not self.scopes \
                and not self._local(f.id):
            self._add("tamper", f"{f.id}()", "rewrites the notebook's namespace behind the grader's back", node)
        if isinstance(f, ast.Name) and not self._local(f.id) and f.id in ("getattr", "setattr", "delattr", "hasattr",
                                                                         "vars") and node.args:
            self._attr_call(f.id, node)
        elif isinstance(f, ast.Attribute) and f.attr in ("run_line_magic", "run_cell_magic", "magic"):
            self._magic(f.attr, node)
        self.generic_visit(node)

    def _attr_call(self, fn: str, node) -> None:
        bases = self._resolve(node.args[0])
        if fn == "vars":
            for d in bases:
                if _is_module(d):
                    self._add("tamper", f"vars({d})", "a module's namespace", node)
            return
        if len(node.args) < 2:
            return
        name = _const_str(node.args[1])
        if name is None:
            for d in bases:
                if _matches(d, SENSITIVE_MODULES):
                    self._add("tamper", f"{fn}({d}, <computed name>)", "a module the grader relies on", node)
            return
        if name in TAMPER_ATTRS:
            self._add("tamper", f".{name}", TAMPER_ATTRS[name], node)
        for d in bases:
            self._classify(f"{d}.{name}", node)
            if fn in ("setattr", "delattr") and _is_module(d) \
                    and not _matches(f"{d}.{name}", MODULE_STORE_OK):
                self._add("tamper", f"{fn}({d}, {name!r})", "replacing part of a library (monkeypatching)", node)

    def _magic(self, fn: str, node) -> None:
        args = [_const_str(a) for a in node.args]
        if not args or args[0] is None:
            return
        name = args[0].lstrip("%")
        if fn == "magic":  # get_ipython().magic("time x = 1")
            name, _, rest = name.partition(" ")
            args = [name, rest]
        if name in CODE_MAGICS:
            code = args[-1] if fn == "run_cell_magic" and len(args) >= 3 else (args[1] if len(args) > 1 else None)
            if code:
                tree = _parse(code)
                if tree is not None:
                    self.scopes.append((set(), {}))  # its imports stay its own
                    try:
                        for stmt in tree.body:
                            self.visit(stmt)
                    finally:
                        self.scopes.pop()
        elif name in FILE_MAGICS:
            self._add("tamper", f"%{name}", "code from a file, which the grader cannot check", node)
        elif name in EXTENSION_MAGICS and len(args) > 1 and args[1]:
            for mod in args[1].split():
                self._import_check(mod, node)

    # ---- scopes

    def _visit_function(self, node):
        for d in getattr(node, "decorator_list", []):
            self.visit(d)
        args = node.args
        for dflt in [*args.defaults, *[d for d in args.kw_defaults if d is not None]]:
            self.visit(dflt)
        local, _ = _function_scope(node)
        self.scopes.append((local, {}))
        outer = self.top_def
        if self.top_def is None and not isinstance(node, ast.Lambda) and len(self.scopes) == 1:
            self.top_def = node.name
        try:
            body = node.body if isinstance(node.body, list) else [node.body]
            for stmt in body:
                self.visit(stmt)
        finally:
            self.scopes.pop()
            self.top_def = outer

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _visit_function

    def visit_ClassDef(self, node):
        for d in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(d)
        local = {n.id for s in node.body for n in ast.walk(s) if isinstance(n, ast.Name)
                 and isinstance(n.ctx, ast.Store)}
        self.scopes.append((local, {}))
        outer = self.top_def
        if self.top_def is None and len(self.scopes) == 1:
            self.top_def = node.name
        try:
            for stmt in node.body:
                self.visit(stmt)
        finally:
            self.scopes.pop()
            self.top_def = outer


# --------------------------------------------------------------------------- the report


def _line(source_tree_cell: str, line: int) -> str:
    lines = source_tree_cell.splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


class StaticReport:
    """What the static look found; :meth:`problem` turns it into a test cell's verdict.

    ``cells``: the student cells (index, source); ``tampering``: every tampering spot, in
    notebook order; ``not_own_work``: graded function -> message, for the functions that
    are not the student's own work where the notebook's own test cells check them.
    """

    def __init__(self, *, cells, tampering, module, forbidden, test_cells, labels, n_cells, graded_at):
        self.cells: list[tuple[int, str]] = cells
        self.tampering: list[Finding] = tampering
        self._module = module
        self._forbidden: dict[str, tuple] = forbidden  # graded function -> the modules its check forbids
        self._test_cells, self._labels, self._n_cells = test_cells, labels, n_cells
        self._cache: dict[tuple[str, int], tuple[str, str] | None] = {}
        self.not_own_work: dict[str, str] = {}
        for name, where in graded_at.items():
            msg = self._own_message(name, where)
            if msg is not None:
                self.not_own_work[name] = msg

    def _found(self, name: str, where: int) -> tuple[str, str] | None:
        key = (name, where)
        if key not in self._cache:
            self._module.horizon, self._module.union = where, False
            self._cache[key] = _reach(self._module, name, self._forbidden_for(name))[0]
        return self._cache[key]

    def _forbidden_for(self, name: str) -> tuple:
        return self._forbidden.get(name, core.FORBIDDEN)

    def _own_message(self, name: str, where: int) -> str | None:
        found = self._found(name, where)
        if found is None:
            return None
        what, how = found
        if how == "forbidden":
            return core._cheat_message(name, what, "found in your code", self._forbidden_for(name))
        return (f"{name} earns no points: it imports a module by a name computed at run time ({what}), "
                "which hides what it calls.\n  This exercise asks for your own NumPy implementation: import "
                "NumPy with a plain `import numpy as np` at the top of your cell. If you think this is a "
                "mistake, ask your instructor to review your notebook by hand.")

    def _test_index(self, test_source: str) -> int:
        for key in (_norm(test_source), _norm(_without_hidden_tests(test_source))):
            if key in self._test_cells:
                return self._test_cells[key]
        return self._n_cells

    def tampering_before(self, cell_index: int) -> list[Finding]:
        return [f for f in self.tampering if f.cell < cell_index]

    def problem(self, test_source: str, cell_index: int | None = None) -> str | None:
        """Feedback message that fails this test cell, or None when the static look has no
        objection. ``cell_index`` is the test cell's index in the notebook (found from
        its source when not given; an unknown test counts as coming after every cell)."""
        where = self._test_index(test_source) if cell_index is None else cell_index
        names = graded_names(test_source)
        label = names[0] if names else "this exercise"
        before = self.tampering_before(where)
        if before:
            return self._tamper_message(label, before)
        for k, name in enumerate(names):
            found = self._found(name, where)
            if found is None:
                continue
            if k == 0:
                return self._own_message(name, where)
            what, how = found
            reason = f"calls {what}" if how == "forbidden" else f"imports a module by a computed name ({what})"
            return (f"{label} cannot be checked: your {name}, which its check also uses, {reason}, which is not "
                    f"your own work.\n  Hint: fix {name} first.")
        return None

    def _tamper_message(self, label: str, found: list[Finding]) -> str:
        first = found[0]
        places: dict[tuple[int, int], list[Finding]] = {}
        for f in found:
            places.setdefault((f.cell, f.line), []).append(f)
        lines = [f"{label} was not graded automatically: your notebook interferes with the grader."]
        for k, ((cell, line), fs) in enumerate(places.items()):
            if k == MAX_PLACES:
                lines.append(f"  ... and {len(places) - MAX_PLACES} more place(s).")
                break
            whys: dict[str, list[str]] = {}
            for f in fs:
                if f.why not in whys.setdefault(f.what, []):
                    whys[f.what].append(f.why)
            whats = "; ".join(f"{w}: {', '.join(ys)}" for w, ys in whys.items())
            code = f": {fs[0].code}" if fs[0].code else ""
            lines.append(f"  {self._cell_label(cell)}, line {line}{code}\n      ({whats})")
        lines.append(f"  Code that reaches into the grader is not allowed, so every exercise tested after "
                     f"{self._cell_label(first.cell)} earns no points automatically. Remove that code; if you "
                     "think this is a mistake, ask your instructor to review your notebook by hand.")
        return "\n".join(lines)

    def _cell_label(self, cell: int) -> str:
        return self._labels.get(cell, f"cell {cell + 1}")


def analyze(submission_nb, release_nb, forbidden=core.FORBIDDEN) -> StaticReport:
    """Read the submission's student-authored code; see the module docstring.

    ``submission_nb`` is the notebook being graded, after nbgrader restored its locked
    cells (OverwriteCells); ``release_nb`` the student version the course handed out.
    ``forbidden`` is what a graded function must not use when its check declares nothing
    else (see :func:`graded_checks`).
    """
    release_sources, release_tests = _release_index(release_nb)
    checks = {gid: graded_checks(src, forbidden) for gid, src in release_tests.items()}
    forbidden_of: dict[str, tuple] = {}
    for graded in checks.values():
        for n, mods in graded.items():
            old = forbidden_of.get(n, ())
            forbidden_of[n] = old + tuple(m for m in mods if m not in old)
    # every module some check forbids: what a star import is recorded for
    forbidden = tuple(dict.fromkeys([*forbidden, *(m for mods in forbidden_of.values() for m in mods)]))
    cells = submission_nb.get("cells", [])
    module = _Module()
    student: list[tuple[int, str]] = []
    parsed: dict[int, ast.Module] = {}
    test_cells: dict[str, int] = {}
    test_at: dict[str, int] = {}  # release test grade_id -> index in the submission
    labels: dict[int, str] = {}
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        src = _source(cell)
        mine = not _is_instructor_cell(cell, release_sources, release_tests)
        gid = _nbgrader(cell).get("grade_id")
        if not mine and gid in release_tests:
            test_cells.setdefault(_norm(src), i)
            test_cells.setdefault(_norm(_without_hidden_tests(src)), i)
            test_at.setdefault(gid, i)
        if mine:
            student.append((i, src))
            labels[i] = f'cell {i + 1} (the answer cell "{gid}")' if gid and _nbgrader(cell).get("solution") \
                else f"cell {i + 1}"
        tree = _parse(src)
        if tree is None:
            continue
        parsed[i] = tree
        module.add_cell(tree, i, mine, forbidden)

    # graded functions, each where its first test cell runs (the end when that cell is missing)
    graded_at: dict[str, int] = {}
    for gid, graded in checks.items():
        for n in graded:
            graded_at[n] = min(graded_at.get(n, len(cells)), test_at.get(gid, len(cells)))
    # the helpers the graded functions call, wherever they are tested (dynamic imports there
    # cost those exercises only)
    reach_defs: set = set()
    for gid, graded in checks.items():
        for n in graded:
            module.horizon, module.union = test_at.get(gid, len(cells)), False
            reach_defs |= _reach(module, n, forbidden_of[n])[1]

    tampering: list[Finding] = []
    module.horizon, module.union = None, True  # any binding a name ever had
    scanned: list[tuple[int, str, list[_Ref]]] = []
    for i, src in student:
        tree = parsed.get(i)
        if tree is None:
            continue
        sc = _Scanner(module, forbidden)
        for stmt in tree.body:
            sc.visit(stmt)
        scanned.append((i, src, sc.refs))
    # an import of a module that is not installed only matters when the notebook could
    # have written that module itself (otherwise it fails in the kernel, costing what it breaks)
    writes = any(r.kind == "writes" for _, _, refs in scanned for r in refs)
    for i, src, refs in scanned:
        for r in refs:
            if r.kind == "tamper" or (r.kind == "unknown" and writes) or (
                    r.kind == "dynamic" and (r.top_def is None or (i, r.top_def) not in reach_defs)):
                tampering.append(Finding(i, r.line, _line(src, r.line), r.what, r.why, r.kind, r.top_def))
    tampering.sort(key=lambda f: (f.cell, f.line))
    return StaticReport(cells=student, tampering=tampering, module=module, forbidden=forbidden_of,
                        test_cells=test_cells, labels=labels, n_cells=len(cells), graded_at=graded_at)


def _reach(module: _Module, name: str, forbidden) -> tuple[tuple[str, str] | None, set]:
    """(first (what, "forbidden"|"dynamic") found, {(cell, top-level def name)} reached) for
    the graded function ``name`` as it stands when cell ``module.horizon`` runs. Only a
    function whose live definition is (at least partly) student code is judged."""
    live = module.live(name)
    reached: set = set()
    if not any(b.student for b in live):
        return None, reached
    seen: set[int] = set()
    first: tuple[str, str] | None = None
    dynamic: tuple[str, str] | None = None
    queue: list[tuple[_Binding, str, str]] = [(b, name, "") for b in live]
    while queue:
        b, owner, via = queue.pop(0)
        key = id(b.node) if b.node is not None else id(b)
        if key in seen:
            continue
        seen.add(key)
        if b.kind == "import":
            if b.dotted and _matches(b.dotted, forbidden) and first is None:
                first = (b.dotted + via, "forbidden")
            continue
        if b.kind not in ("def", "assign") or b.node is None:
            continue
        if b.kind == "assign" and not b.student:
            continue  # instructor data, not code
        top = b.node.name if isinstance(b.node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else owner
        reached.add((b.cell, top))
        sc = _Scanner(module, forbidden, top_def=top)
        sc.visit(b.node)
        for r in sc.refs:
            if r.kind == "forbidden" and first is None:
                first = (r.what + via, "forbidden")
            elif r.kind == "dynamic" and dynamic is None:
                dynamic = (r.what + via, "dynamic")
            elif r.kind == "global" and r.what != name:
                stars = [(c, m) for c, m in module.stars_before() if _matches(m, forbidden)]
                if stars and first is None and not module.bound(r.what) and r.what not in _BUILTINS:
                    mod = stars[-1][1]
                    first = (f"{mod}.{r.what} (from {mod} import *){via}", "forbidden")
                for nb in module.live(r.what):
                    if nb.kind in ("def", "assign"):
                        whose = ("your function" if nb.kind == "def" else "your variable") if nb.student \
                            else "the notebook's function"
                        queue.append((nb, r.what, via or f" (through {whose} {r.what})"))
    return (first or dynamic), reached
