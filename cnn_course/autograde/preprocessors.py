"""The nbgrader preprocessors ``nbgrader_config.py`` adds besides the executor.

Sanitizing a submission before it runs (``Autograde.sanitize_preprocessors``), where stock
nbgrader 0.9.6 crashes on edited cells:

``SafeDeduplicateIds``
    Drops nbgrader metadata that is not the instructor's shape before deduplicating ids.
``RestoreCells``
    Rebuilds every known cell's nbgrader metadata from the gradebook, strips it from
    cells the gradebook does not know, and puts deleted test cells back in place.

Cleaning feedback (``GenerateFeedback.preprocessors``):

``HideHiddenTestTracebacks``
    Feedback shows each cell's outputs. A failing hidden test leaves a traceback whose
    frames quote the cell's source, hidden lines included, and ``ClearHiddenTests`` only
    cleans the cell's *source*. This preprocessor runs before it and rewrites those
    tracebacks: the ``ename: evalue`` line (our feedback message) stays, the quoted
    source of a cell with hidden tests goes.
``ClearHiddenTestsInTestCells``
    ``ClearHiddenTests`` that leaves students' cells alone (marker text there is just text).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbconvert.filters import strip_ansi
from nbgrader.api import MissingEntry
from nbgrader import utils as nbgrader_utils
from nbgrader.preprocessors import ClearHiddenTests, DeduplicateIds, NbGraderPreprocessor, OverwriteCells
from traitlets import Unicode

from .course import hidden_test_lines

# --------------------------------------------------------------------------- feedback


# "----> 12 check(x)" / "     11 y = 1" in IPython's frame listings (after strip_ansi).
_CONTEXT_LINE = re.compile(r"^\s*(?:-*>)?\s*\d+\s?(.*)$")
# The header of a frame that is a notebook cell: "Cell In[7], line 3" (IPython >= 8)
# or "<ipython-input-7-...>" (older).
_CELL_FRAME = re.compile(r"Cell In\s*\[(\d+)\]|<ipython-input-(\d+)-")


def _quotes_cell_source(entry: str, hidden: set[str], execution_count: int | None) -> bool:
    """Whether a traceback entry shows the source of the failing cell or a hidden line.

    Frames of *other* cells (the student's function, say) are kept: they help.
    """
    plain = strip_ansi(entry)
    m = _CELL_FRAME.search(plain)
    if m and (execution_count is None or int(m.group(1) or m.group(2)) == execution_count):
        return True
    for line in plain.splitlines():
        m = _CONTEXT_LINE.match(line)
        code = (m.group(1) if m else line).strip()
        if code and code in hidden:
            return True
    return False


class HideHiddenTestTracebacks(NbGraderPreprocessor):
    """Drop the source context of tracebacks raised in cells that hold hidden tests
    (and hidden lines echoed in their stream outputs, as warnings do).

    Must run before ``ClearHiddenTests`` (it reads the hidden-test markers).
    """

    notice = Unicode(
        "[test cell code not shown: it contains hidden tests]",
        help="Replaces each traceback frame that quotes the source of a cell with hidden tests.",
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if not _is_test_cell(cell):
            return cell, resources
        hidden = set(hidden_test_lines(cell.source))
        if not hidden:
            return cell, resources
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                # Python's warnings echo the source line that triggered them.
                lines = output.text.splitlines(keepends=True)
                output.text = "".join(x for x in lines if x.strip() not in hidden)
            if output.output_type != "error":
                continue
            kept = []
            for entry in output.get("traceback", []):
                if _quotes_cell_source(entry, hidden, cell.get("execution_count")):
                    if not kept or kept[-1] != self.notice:
                        kept.append(self.notice)
                else:
                    kept.append(entry)
            # The last entry is IPython's "ename: evalue"; make sure it survives even if
            # the message happened to repeat a hidden line.
            final = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
            if not kept or strip_ansi(kept[-1]).strip() != final.strip():
                kept.append(final)
            output.traceback = kept
        return cell, resources


def _is_test_cell(cell) -> bool:
    """An autograder test cell: the only cells whose hidden-test markers are the course's.
    (Their metadata comes from the gradebook: ``RestoreCells`` rebuilt it before grading.)"""
    return cell.cell_type == "code" and nbgrader_utils.is_grade(cell) and not nbgrader_utils.is_solution(cell)


class ClearHiddenTestsInTestCells(ClearHiddenTests):
    """nbgrader's ``ClearHiddenTests`` for test cells only. Stock, it reads the markers in
    every code cell, so a student's comment "BEGIN HIDDEN TESTS" made feedback fail ("No
    end hidden tests statement found") or cut the student's own code; in a student's cell
    the marker text is just text."""

    def preprocess_cell(self, cell, resources, cell_index):
        if not _is_test_cell(cell):
            return cell, resources
        return super().preprocess_cell(cell, resources, cell_index)


# --------------------------------------------------------------------------- sanitizing


class SafeDeduplicateIds(DeduplicateIds):
    """nbgrader's ``DeduplicateIds``, first dropping nbgrader metadata that is not the
    instructor's shape (not a dict, no string ``grade_id``): stock nbgrader crashes on it
    (KeyError), which would take the whole submission out of automatic grading."""

    def preprocess_cell(self, cell, resources, cell_index):
        md = cell.get("metadata", {})
        if "nbgrader" in md:
            nbg = md["nbgrader"]
            if not isinstance(nbg, dict) or not isinstance(nbg.get("grade_id"), str) or not nbg["grade_id"]:
                self.log.warning("cell %d has nbgrader metadata without a grade_id: dropped", cell_index)
                del md["nbgrader"]
                return cell, resources
        return super().preprocess_cell(cell, resources, cell_index)


class RestoreCells(OverwriteCells):
    """nbgrader's ``OverwriteCells``, hardened against submissions that edit cells.

    * The nbgrader metadata of every cell the gradebook knows is rebuilt from the
      gradebook (grade, solution, task, locked, points), so a test cell turned into an
      answer cell, or given 100 points, is the instructor's again (stock nbgrader only
      restores ``locked`` and ``points``, then fails with "Inconsistent checksums").
    * A cell whose grade_id the gradebook does not know loses its nbgrader metadata
      entirely: it is the student's code, never a grade cell (stock nbgrader leaves its
      flags and then crashes on the missing id).
    * Deleted grade cells (``add_missing_cells``) go back after the nearest cell before
      them, in the release notebook's order, that the submission still has (stock
      nbgrader assumes the cell just before is a grade or answer cell that is present,
      and crashes otherwise).
    """

    def preprocess(self, nb, resources):
        self._order = _release_grade_ids(self.config, resources)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, cell_index):
        nbg = cell.get("metadata", {}).get("nbgrader")
        if not isinstance(nbg, dict) or not nbg.get("grade_id"):
            cell.get("metadata", {}).pop("nbgrader", None)
            return cell, resources
        grade_id = nbg["grade_id"]
        try:
            source = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
        except MissingEntry:
            self.log.warning("cell %s is not in the gradebook: its nbgrader metadata is dropped", grade_id)
            del cell.metadata["nbgrader"]
            return cell, resources
        restored = {"grade_id": grade_id, "locked": bool(source.locked), "schema_version": 3,
                    "grade": False, "solution": False, "task": False}
        for kind, find in (("grade", self.gradebook.find_grade_cell), ("solution", self.gradebook.find_solution_cell),
                           ("task", self.gradebook.find_task_cell)):
            try:
                found = find(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                continue
            restored[kind] = True
            if kind in ("grade", "task"):
                restored["points"] = float(found.max_score)
        changed = {k: (nbg.get(k), v) for k, v in restored.items() if nbg.get(k) != v and k != "schema_version"}
        if changed:
            self.log.warning("cell %s: nbgrader metadata restored from the gradebook: %s", grade_id, changed)
        cell.metadata["nbgrader"] = restored
        return super().preprocess_cell(cell, resources, cell_index)

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = {c.name: c for c in source_nb.source_cells}
        solution_ids = {c.name for c in source_nb.solution_cells}
        grade_cells = {c.name: c for c in source_nb.grade_cells}
        order = [g for g in self._order if g in source_cells] or list(source_cells)
        order += [g for g in grade_cells if g not in order]

        def present() -> dict[str, int]:
            out = {}
            for i, c in enumerate(nb.cells):
                gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if gid is not None:
                    out.setdefault(gid, i)
            return out

        for k, grade_id in enumerate(order):
            if grade_id not in grade_cells or grade_id in present():
                continue
            self.log.warning("Missing grade cell %s encountered, adding to notebook", grade_id)
            cell = self.missing_cell_transform(source_cells[grade_id], grade_cells[grade_id].max_score,
                                               is_solution=grade_id in solution_ids)
            where = present()
            before = [where[g] for g in order[:k] if g in where]
            after = [where[g] for g in order[k + 1:] if g in where]
            index = before[-1] + 1 if before else (after[0] if after else len(nb.cells))
            nb.cells.insert(index, cell)
        return nb, resources


def _release_grade_ids(config, resources) -> list[str]:
    """grade_ids of the release notebook's cells, in notebook order ([] if not found)."""
    nb = _read_release_notebook(config, resources)
    if nb is None:
        return []
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if isinstance(c.get("metadata", {}).get("nbgrader"), dict) and c.metadata["nbgrader"].get("grade_id")]


def _read_release_notebook(config, resources, log=None):
    """The release (student) version of the notebook being graded, from the course
    directory nbgrader's config names; None when it is not there."""
    info = resources.get("nbgrader", {})
    assignment, notebook = info.get("assignment"), info.get("notebook")
    if not assignment or not notebook:
        return None
    try:
        from nbgrader.coursedir import CourseDirectory

        coursedir = CourseDirectory(config=config)
        path = Path(coursedir.format_path(coursedir.release_directory, ".", assignment)) / f"{notebook}.ipynb"
        if path.is_file():
            return nbformat.read(path, as_version=4)
        if log is not None:
            log.warning("release notebook %s not found", path)
    except Exception as e:
        if log is not None:
            log.warning("could not read the release notebook: %s", e)
    return None
