"""The static report: :func:`analyze` reads a submission, :class:`StaticReport` answers per test cell."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from cnn_course.grading import core

from ..course import without_hidden_tests
from .cells import (_BUILTINS, _is_instructor_cell, _nbgrader, _norm, _parse, _release_index, _source, graded_checks,
                    graded_names)
from .rules import MAX_PLACES, _matches
from .scope import _Binding, _Module, _Ref, _Scanner

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
        for key in (_norm(test_source), _norm(without_hidden_tests(test_source))):
            if key in self._test_cells:
                return self._test_cells[key]
        return self._n_cells

    def tampering_before(self, cell_index: int) -> list[Finding]:
        return [f for f in self.tampering if f.cell < cell_index]

    def problem(self, test_source: str, cell_index: int | None = None, tampering: bool = True) -> str | None:
        """Feedback message that fails this test cell, or None when the static look has no
        objection. ``cell_index`` is the test cell's index in the notebook (found from
        its source when not given; an unknown test counts as coming after every cell)."""
        where = self._test_index(test_source) if cell_index is None else cell_index
        names = graded_names(test_source)
        label = names[0] if names else "this exercise"
        before = self.tampering_before(where) if tampering else []
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

    def review_message(self, label: str, found: list[Finding], passed: bool) -> str:
        """What a test cell after tampering says when the judge graded it anyway."""
        verdict = "its checks passed" if passed else "its checks did not pass"
        lines = [f"{label} needs review: {verdict}, but your notebook interferes with the grader."]
        lines += self._places(found)
        lines.append("  The checks ran in the grader, so their verdict stands, but code that reaches into the "
                     "grader is not allowed: your instructor reviews every exercise tested after "
                     f"{self._cell_label(found[0].cell)} by hand before these points count. Remove that code.")
        return "\n".join(lines)

    def review_reason(self, found: list[Finding]) -> str:
        """One line for the instructor: where and what."""
        first = found[0]
        whats = ", ".join(dict.fromkeys(f.what for f in found))
        return f"tampering in {self._cell_label(first.cell)} line {first.line} ({whats})"

    def _places(self, found: list[Finding]) -> list[str]:
        places: dict[tuple[int, int], list[Finding]] = {}
        for f in found:
            places.setdefault((f.cell, f.line), []).append(f)
        lines = []
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
        return lines

    def _tamper_message(self, label: str, found: list[Finding]) -> str:
        first = found[0]
        lines = [f"{label} was not graded automatically: your notebook interferes with the grader."]
        lines += self._places(found)
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
            test_cells.setdefault(_norm(without_hidden_tests(src)), i)
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
