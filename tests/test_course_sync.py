"""course/ (committed student notebooks) must be exactly what solutions/ generates."""

from __future__ import annotations

import re
import shutil

import nbformat
import pytest

from _nbgrader_helpers import REPO, TOY_ROOT
from cnn_course.autograde.cli import check_sync, compare_trees
from cnn_course.autograde.course import generate_release, list_assignments

FIX = "run `cnn-course generate` (then commit course/)"


def test_course_matches_a_fresh_generation():
    assert list_assignments(REPO / "solutions"), "solutions/ holds no assignment"
    problems = check_sync(REPO)
    assert not problems, f"course/ is out of sync with solutions/; {FIX}:\n" + "\n".join(problems)


def test_generation_is_deterministic(tmp_path):
    """Two generations of the toy assignment are byte-identical."""
    a, b = tmp_path / "a", tmp_path / "b"
    generate_release(TOY_ROOT, ["00_toy"], a, config_dir=REPO)
    generate_release(TOY_ROOT, ["00_toy"], b, config_dir=REPO)
    assert compare_trees(a, b) == []
    assert (a / "00_toy" / "00_toy.ipynb").is_file()


def test_check_sync_reports_edits_and_stale_folders(tmp_path):
    root = tmp_path / "course_root"
    shutil.copytree(TOY_ROOT / "solutions", root / "solutions")
    shutil.copy(REPO / "nbgrader_config.py", root)
    generate_release(root, ["00_toy"], root / "course")
    assert check_sync(root) == []
    nb = root / "course" / "00_toy" / "00_toy.ipynb"
    nb.write_text(nb.read_text().replace("Toy assignment", "Toy assignment (edited by hand)"))
    (root / "course" / "99_gone").mkdir()
    problems = check_sync(root)
    assert any("differs" in p and "edited by hand" in p for p in problems), problems
    assert any("99_gone" in p for p in problems), problems


FIGURE_CALL = re.compile(r"(?<![\w.])(show_\w+|plot_\w+|compare_histories)\(")


@pytest.mark.parametrize("path", sorted((REPO / "solutions").glob("*/*.ipynb")), ids=lambda p: p.parent.name)
def test_solution_notebooks_keep_their_figures(path):
    """Every cell that draws with cnn_course.plot stored its figure. A notebook executed with
    MPLBACKEND=Agg (as the tests run) stores none, and nbval, which skips images, passes it."""
    nb = nbformat.read(path, as_version=4)
    missing = [cell.get("id") for cell in nb.cells if cell.cell_type == "code" and FIGURE_CALL.search(cell.source)
               and not any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))]
    assert not missing, (f"{path.name}: these cells draw but stored no figure: {missing}; re-execute with "
                         "`cnn-course execute` (it runs matplotlib's inline backend whatever MPLBACKEND says)")
