"""Helpers for the nbgrader pipeline tests: a throw-away course directory, submissions
built from the release notebook, scores read back from the gradebook.

Everything happens under a temporary folder: the repository's course/ and any real
gradebook are never touched.
"""

from __future__ import annotations

import copy
import functools
import html
import os
import re
import shutil
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import nbgrader.api
from nbgrader import utils as nbu
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from cnn_course.autograde.course import grade_cell_ids, list_assignments, load_config

# Every new gradebook asks nbgrader for the alembic head by running `alembic heads` in a
# subprocess (about 5 s on a busy machine). The answer is fixed for the installed
# nbgrader, so the tests compute it once per process.
if not hasattr(nbgrader.api.get_alembic_version, "cache_info"):
    nbgrader.api.get_alembic_version = functools.lru_cache(maxsize=1)(nbgrader.api.get_alembic_version)

REPO = Path(__file__).resolve().parent.parent
# Pipeline tests grade in bwrap sandboxes; two sandboxes that run at the same time must not
# share a uid (the process limit and the clean-up after a kill are per uid). Each test
# process (pytest-xdist worker, or another pytest run on the same machine) takes an even uid
# of its own from its pid, away from the CLI's workers (61000 + k); TEST_SANDBOX_UID + 1 is
# free for a second sandbox of the same process.
TEST_SANDBOX_UID = 63000 + 2 * (os.getpid() % 2000)
TOY_ROOT = REPO / "tests" / "fixtures" / "toy_course"
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


@dataclass(frozen=True)
class AssignmentRef:
    root: Path  # folder holding solutions/
    name: str

    def __str__(self) -> str:
        return self.name


def all_assignments() -> list[AssignmentRef]:
    """Every assignment of the course plus the toy fixture."""
    refs = [AssignmentRef(REPO, a) for a in list_assignments(REPO / "solutions")]
    return refs + [AssignmentRef(TOY_ROOT, a) for a in list_assignments(TOY_ROOT / "solutions")]


class Course:
    """An nbgrader course directory in ``tmp`` with one generated assignment."""

    def __init__(self, tmp: Path, ref: AssignmentRef, timeout: int | None = None):
        self.tmp, self.ref, self.name = Path(tmp), ref, ref.name
        shutil.copytree(ref.root / "solutions" / ref.name, self.tmp / "solutions" / ref.name)
        overrides = {
            "CourseDirectory.root": str(self.tmp),
            "CourseDirectory.db_url": f"sqlite:///{self.tmp / 'gradebook.db'}",
            "SandboxedExecute.sandbox_uid": TEST_SANDBOX_UID,
        }
        if timeout:
            overrides["Execute.timeout"] = timeout
        self.config = load_config(REPO, **overrides)
        self.api = NbGraderAPI(coursedir=CourseDirectory(config=self.config), config=self.config)
        self.db_url = overrides["CourseDirectory.db_url"]
        self._check(self.api.generate_assignment(self.name, force=True, create=True), "generate_assignment")
        self.notebooks = sorted(p.stem for p in (self.tmp / "solutions" / self.name).glob("*.ipynb"))

    @staticmethod
    def _check(result: dict, what: str) -> dict:
        if not result["success"]:
            raise RuntimeError(f"nbgrader {what} failed:\n{result.get('log', '')}\n{result.get('error', '')}")
        return result

    def source_nb(self, nb: str):
        return nbformat.read(self.tmp / "solutions" / self.name / f"{nb}.ipynb", as_version=4)

    def release_nb(self, nb: str):
        return nbformat.read(self.tmp / "course" / self.name / f"{nb}.ipynb", as_version=4)

    def submit(self, student: str, notebooks: dict) -> None:
        """Place ``{notebook name: NotebookNode}`` as ``student``'s submission."""
        folder = self.tmp / "submitted" / student / self.name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for nb_name, nb in notebooks.items():
            nbformat.write(nb, folder / f"{nb_name}.ipynb")

    def autograde(self, student: str = "*") -> dict:
        """Autograde one student, or all submitted ones (``"*"``) in a single call.

        Returns nbgrader's result dict (success False when a student could not be
        graded; the others are graded anyway).
        """
        return self.api.autograde(self.name, student, force=True, create=True)

    def scores(self, student: str) -> dict[str, tuple[float, float]]:
        """``{grade_id: (score, max_score)}`` of the autograded test cells."""
        out = {}
        with Gradebook(self.db_url) as gb:
            for nb in self.notebooks:
                sub = gb.find_submission_notebook(nb, self.name, student)
                for g in sub.grades:
                    out[g.name] = (g.score, g.max_score)
        return out

    def autograded_nb(self, student: str, nb: str):
        return nbformat.read(self.tmp / "autograded" / student / self.name / f"{nb}.ipynb", as_version=4)

    def feedback_html(self, student: str, nb: str) -> str:
        self._check(self.api.generate_feedback(self.name, student, force=True), "generate_feedback")
        return (self.tmp / "feedback" / student / self.name / f"{nb}.html").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- notebooks


def grade_ids(nb) -> list[str]:
    """Autograded test cells (grade cells that are not answer cells)."""
    return grade_cell_ids(nb)


def answer_ids(nb) -> list[str]:
    return [c.metadata.nbgrader["grade_id"] for c in nb.cells if nbu.is_solution(c)]


def solution_sources(source_nb) -> dict[str, str]:
    """Answer cells of the instructor notebook, solution markers removed."""
    out = {}
    for c in source_nb.cells:
        if nbu.is_solution(c):
            lines = [x for x in c.source.splitlines() if "BEGIN SOLUTION" not in x and "END SOLUTION" not in x]
            out[c.metadata.nbgrader["grade_id"]] = "\n".join(lines)
    return out


def fill_answers(release_nb, answers: dict[str, str]):
    """A copy of ``release_nb`` whose answer cells ``answers`` (grade_id -> source) are
    replaced; a grade_id that is not an answer cell is an error (typo guard)."""
    nb = copy.deepcopy(release_nb)
    todo = dict(answers)
    for c in nb.cells:
        gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if nbu.is_solution(c) and gid in todo:
            c.source = todo.pop(gid)
    if todo:
        raise KeyError(f"no answer cell(s) {sorted(todo)} in the notebook; answer cells: {answer_ids(nb)}")
    return nb


def drop_cells(nb, grade_ids_to_drop: set[str]):
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") not in grade_ids_to_drop]
    return nb


def _regions(source: str) -> tuple[list[str], list[str]]:
    """(lines inside solution/hidden regions, lines outside), stripped."""
    inside, outside, depth = [], [], 0
    for line in source.splitlines():
        if "BEGIN SOLUTION" in line or "BEGIN HIDDEN TESTS" in line:
            depth += 1
        elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
            depth -= 1
        elif line.strip():
            (inside if depth else outside).append(line.strip())
    return inside, outside


def secret_lines(source_nb, min_len: int = 8) -> set[str]:
    """Stripped lines that only occur inside solution or hidden-test regions of the
    instructor notebook (long enough to be specific)."""
    inside, outside = set(), set()
    for c in source_nb.cells:
        i, o = _regions(c.source)
        inside.update(i)
        outside.update(o)
    return {x for x in inside - outside if len(x) >= min_len and not x.startswith("#")}


def hidden_lines(source_nb, min_len: int = 8) -> set[str]:
    """Stripped lines of hidden-test regions that are not also visible somewhere."""
    hidden, visible = set(), set()
    for c in source_nb.cells:
        inside = False
        for line in c.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif line.strip():
                (hidden if inside else visible).add(line.strip())
    return {x for x in hidden - visible if len(x) >= min_len and not x.startswith("#")}


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def html_text(page: str) -> str:
    """Visible text of an HTML page (syntax-highlighting spans joined back)."""
    p = _Text()
    p.feed(page)
    return html.unescape("".join(p.parts))


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
