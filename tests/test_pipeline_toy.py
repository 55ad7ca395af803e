"""nbgrader pipeline on the toy assignment (tests/fixtures/toy_course): misbehaving
submissions (hung loops, swallowed interrupts, killed kernels, deleted test cells) cost
only what they break, and never change another student's grade."""

from __future__ import annotations

from pathlib import Path

import pytest

from _pipeline import *  # noqa: F401,F403  (the tests every assignment shares)
from _pipeline import TOPIC_TESTS, TOPICS, _catalog
from cnn_course.nbgrader_ext import hidden_test_lines

ASSIGNMENT = "00_toy"


def test_every_topic_has_a_catalog_and_a_pipeline_test_file():
    assert TOPICS, "no assignment in solutions/"
    missing = [t.name for t in TOPICS if _catalog(t) is None]
    assert not missing, f"topics without tests/submissions/<topic>.py: {missing}"
    here = Path(__file__).parent
    no_file = []
    for t in TOPICS:
        path = here / f"test_pipeline_{t.name.split('_', 1)[1]}.py"
        text = path.read_text() if path.exists() else ""
        if f'ASSIGNMENT = "{t.name}"' not in text or not all(name in text for name in ("TOPIC_TESTS", "import *")):
            no_file.append(str(path.name))
    assert not no_file, f"missing or incomplete pipeline test files: {no_file}"
    assert TOPIC_TESTS


# --------------------------------------------------------------------------- toy only


@pytest.mark.parametrize(
    "student, failing",
    [
        ("infinite_loop", {"test_relu"}),
        ("swallowed_interrupt", {"test_count_positive"}),
        ("crash_in_answer", {"test_relu"}),
        ("kill_in_test", {"test_count_positive"}),
        ("wrong_shape", {"test_relu"}),  # passes the visible test, fails a hidden one
        ("deleted_test_cell", set()),  # the cell comes back (add_missing_cells) and passes
        ("crash_on_replay", {"test_count_positive"}),  # unrun after giving up: 0, not full marks
    ],
)
def test_misbehaving_submission_loses_only_its_exercise(graded_toy, student, failing):
    scores = graded_toy.scores[student]
    for gid, (score, max_score) in scores.items():
        if gid in failing:
            assert score == 0, f"{student}: {gid} should score 0, got {score}/{max_score}"
        else:
            assert score == max_score, f"{student}: {gid} should keep full marks, got {score}/{max_score}"


def test_misbehaving_students_do_not_change_another_grade(graded_toy):
    graded = graded_toy
    scores = graded.scores
    assert graded.alone["success"]
    assert scores["solution"] == graded.solution_alone, (
        f"grading alongside broken submissions changed 'solution' from {graded.solution_alone} to {scores['solution']}"
    )
    assert all(s == m for s, m in scores["solution"].values())


def test_crash_is_explained_in_the_cell(graded_toy):
    graded = graded_toy
    nb = graded.course.autograded_nb("kill_in_test", graded.nb_name)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_count_positive"]
    names = [o.ename for o in cell.outputs if o.output_type == "error"]
    assert "KernelDied" in names, f"expected a KernelDied error in the crashing cell, got {names}"
    nb = graded.course.autograded_nb("crash_on_replay", graded.nb_name)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_count_positive"]
    names = [o.ename for o in cell.outputs if o.output_type == "error"]
    assert names == ["NotRun"], f"after giving up, later cells must say why they did not run, got {names}"


def test_hidden_test_lines_helper_matches_fixture(graded_toy):
    graded = graded_toy
    (cell,) = [c for c in graded.source.cells if c.get("id") == "test_relu"]
    assert hidden_test_lines(cell.source)[0].startswith("hidden_grid_7 =")
