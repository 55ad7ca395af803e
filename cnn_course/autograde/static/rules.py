"""What the static pass flags: the tampering, dynamic-import and file-writing rules.

Dotted names, bare names and attributes that count as tampering with the grader (and
why, for the message), the modules whose dynamic use hides what a function calls, the
calls that write files, and the graded check API a student may still use in a scratch
cell (:func:`_check_api`).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
from pathlib import Path

from cnn_course.grading import core

from ..links import AGENT_NAME

GRADING_PACKAGE = "cnn_course.grading"
AUTOGRADE_PACKAGE = "cnn_course.autograde"

# Dotted names (after alias resolution): a name is flagged when it equals an entry or
# starts with entry + ".". Value: what it is, for the message.
TAMPER_DOTTED: dict[str, str] = {
    GRADING_PACKAGE: "the grader's own code",
    AUTOGRADE_PACKAGE: "the grader's own code",
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
        if path.stem.startswith("_") or path.stem == "core":
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
