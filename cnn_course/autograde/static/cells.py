"""Which cells are the student's, how a cell is parsed, and which names a test cell grades."""

from __future__ import annotations

import ast
import functools
import importlib
import re

from cnn_course.grading import core
from ..course import without_hidden_tests
from .rules import CHECK_PACKAGE


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else (src or "")


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip("\n").splitlines()).strip()


def _nbgrader(cell) -> dict:
    md = cell.get("metadata", {}) or {}
    nbg = md.get("nbgrader", {}) if isinstance(md, dict) else {}
    return nbg if isinstance(nbg, dict) else {}


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
    return gid in release_tests and _norm(without_hidden_tests(_RESTORED.sub("", src))) == release_tests[gid]


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
