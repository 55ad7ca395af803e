"""The course on disk as nbgrader sees it: the course root, its assignments, its
configuration and its notebooks' format; the errors the instructor commands report.

The lowest layer of the instructor side: :mod:`.cli` and the commands (:mod:`.gradebook`,
:mod:`.collect`, :mod:`.workers`, :mod:`.export`, :mod:`.feedback`) import it, it imports
none of them. Light on purpose (nbformat and nbgrader are imported where they are used):
``cnn-course --help`` imports it.

* :class:`UsageError` (exit status 2) and :class:`CheckFailed` (exit status 1): what the
  CLI reports as one sentence, without a traceback.
* :func:`find_root`, :func:`list_assignments`: the course root (``nbgrader_config.py`` +
  ``solutions/``) and its topic folders.
* :func:`load_config`: the course's ``nbgrader_config.py`` as a traitlets ``Config``,
  with overrides (a throw-away root and gradebook, say).
* :func:`generate_release`: the student notebooks of ``solutions/`` through nbgrader's
  GenerateAssignment, in canonical form (:func:`canonical_notebook`: deterministic cell
  ids, so two generations are byte-identical), optionally recorded in a gradebook.
* The hidden-test markers of an instructor's test cell (:func:`hidden_test_lines`,
  :func:`without_hidden_tests`: the cell as nbgrader releases it) and the autograded test
  cells of a notebook (:func:`grade_cell_ids`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from traitlets.config import Config, PyFileConfigLoader

if TYPE_CHECKING:
    from nbformat.notebooknode import NotebookNode

CONFIG_FILE = "nbgrader_config.py"
DB_URL_ENV = "CNN_COURSE_DB_URL"
#: Notebook metadata key where the grader lists the test cells graded after tampering:
#: ``[{"grade_id", "reason", "passed"}]``; the worker flags them for review.
REVIEW_KEY = "cnn_course_review"
ASSIGNMENT_RE = re.compile(r"\d\d_[a-z0-9_]+")  # topic folders: 01_convolution; always .fullmatch
BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"


class UsageError(Exception):
    """Bad input from the user: reported without a traceback, exit status 2."""


class CheckFailed(Exception):
    """A check did not pass: reported without a traceback, exit status 1."""


def find_root(start: str | os.PathLike | None = None) -> Path:
    """The course root: the nearest folder at or above ``start`` (default: the current
    directory, then this package's checkout) holding both ``nbgrader_config.py`` and
    ``solutions/``."""
    candidates = [Path(start or os.getcwd()).resolve()]
    if start is None:
        candidates.append(Path(__file__).resolve().parents[2])
    for base in candidates:
        for folder in (base, *base.parents):
            if (folder / CONFIG_FILE).is_file() and (folder / "solutions").is_dir():
                return folder
    raise FileNotFoundError(
        f"no course root found: expected a folder containing {CONFIG_FILE} and solutions/ "
        f"at or above {candidates[0]} (pass --root)"
    )


def list_assignments(solutions: str | os.PathLike) -> list[str]:
    """Assignment folders ``NN_topic`` under ``solutions`` that hold a notebook."""
    solutions = Path(solutions)
    if not solutions.is_dir():
        return []
    return sorted(
        p.name for p in solutions.iterdir() if p.is_dir() and ASSIGNMENT_RE.fullmatch(p.name) and any(p.glob("*.ipynb"))
    )


def load_config(root: str | os.PathLike, **overrides) -> Config:
    """The course's ``nbgrader_config.py`` as a traitlets ``Config``.

    ``overrides`` are ``"Section.trait"`` keys with their values, e.g.
    ``{"CourseDirectory.root": tmp, "Execute.timeout": 10}`` (pass them as
    ``**{...}``); they win over the file.
    """
    root = Path(root)
    config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
    for key, value in overrides.items():
        section, trait = key.rsplit(".", 1)
        config[section][trait] = value
    return config


def hidden_test_lines(source: str) -> list[str]:
    """Stripped, non-empty lines between the hidden-test markers of a cell source."""
    hidden, inside = [], False
    for line in source.splitlines():
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif inside and line.strip():
            hidden.append(line.strip())
    return hidden


def without_hidden_tests(source: str) -> str:
    """The cell as nbgrader releases it (ClearHiddenTests): hidden-test regions removed."""
    out, inside = [], False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def canonical_notebook(nb: NotebookNode, id_prefix: str = "cell") -> str:
    """The notebook as stable text: nbformat's own layout, deterministic cell ids.

    A cell that lacks an id (nbformat makes random ones) gets one derived from its
    nbgrader grade_id or its position, so two generations are byte-identical.
    """
    import nbformat

    nb = nbformat.from_dict(nb)
    nb.nbformat, nb.nbformat_minor = 4, 5
    seen = set()
    for i, cell in enumerate(nb.cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        cid = cell.get("id") or grade_id or f"{id_prefix}-{i}"
        cid = re.sub(r"[^A-Za-z0-9_-]", "-", cid)[:64]
        if cid in seen:
            cid = f"{cid[:56]}-{i}"
        seen.add(cid)
        cell["id"] = cid
        # Timing metadata and widget state differ run to run.
        cell.get("metadata", {}).pop("execution", None)
    nb.metadata.pop("widgets", None)
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def grade_cell_ids(nb: NotebookNode) -> list[str]:
    """grade_ids of the autograded test cells (grade, not solution) in notebook order."""
    from nbgrader import utils as nbgrader_utils

    return [
        c.metadata.nbgrader["grade_id"]
        for c in nb.cells
        if nbgrader_utils.is_grade(c) and not nbgrader_utils.is_solution(c)
    ]


def generate_release(
    root: Path,
    assignments: Sequence[str],
    dest: Path,
    *,
    config_dir: Path | None = None,
    quiet: bool = True,
    db_url: str | None = None,
) -> None:
    """Generate the student version of ``assignments`` from ``root/solutions`` into
    ``dest/<assignment>/`` (replacing what is there) with nbgrader's GenerateAssignment,
    configured by ``config_dir/nbgrader_config.py`` (default: ``root``'s).

    nbgrader runs on a throw-away copy, so the repository is not touched; every notebook
    is then rewritten in canonical form so that two runs give byte-identical files. The
    gradebook is a throw-away one too, unless ``db_url`` names the instructor's: then the
    assignment, its cells and hidden tests are recorded there, ready for autograding.
    """
    import nbformat
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    root, dest = Path(root), Path(dest)
    with tempfile.TemporaryDirectory(prefix="cnn-course-generate-") as tmp:
        tmp = Path(tmp)
        for a in assignments:
            shutil.copytree(
                root / "solutions" / a,
                tmp / "solutions" / a,
                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc", ".pytest_cache"),
            )
        config = load_config(
            config_dir or root,
            **{
                "CourseDirectory.root": str(tmp),
                "CourseDirectory.source_directory": "solutions",
                "CourseDirectory.release_directory": "release",
                "CourseDirectory.db_url": db_url or f"sqlite:///{tmp / 'gradebook.db'}",
            },
        )
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        for a in assignments:
            result = api.generate_assignment(a, force=True, create=True)
            if not result["success"]:
                raise CheckFailed(
                    f"nbgrader could not generate {a}:\n{result.get('log', '')}\n{result.get('error', '')}"
                )
            out = tmp / "release" / a
            for path in sorted(out.rglob("*.ipynb")):
                nb = nbformat.read(path, as_version=4)
                path.write_text(canonical_notebook(nb), encoding="utf-8")
            target = dest / a
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(out, target)
            for path in target.rglob("*"):
                if path.is_file():
                    path.chmod(0o644)
            if not quiet:
                print(f"generated {target}")
