"""nbgrader pipeline on the toy assignment (tests/fixtures/toy_course): misbehaving
submissions (hung loops, swallowed interrupts, killed kernels, deleted test cells) cost
only what they break, and never change another student's grade."""

from __future__ import annotations

from pathlib import Path

import pytest

from _pipeline import *  # noqa: F401,F403  (the tests every assignment shares)
from _pipeline import TOPIC_TESTS, TOPICS, _catalog
from cnn_course.autograde.course import hidden_test_lines

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
        ("deleted_answer_and_test", {"test_count_positive"}),  # comes back, fails: no count_positive
        ("edited_metadata", set()),  # metadata restored from the gradebook: real tests, real points
        ("crash_on_replay", {"test_count_positive"}),  # the crashing cell never defined count_positive
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

    def outputs(student, gid):
        nb = graded.course.autograded_nb(student, graded.nb_name)
        (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid]
        return [(o.ename, o.evalue) for o in cell.outputs if o.output_type == "error"]

    # The student's function killed the kernel while the judge called it.
    (error,) = outputs("kill_in_test", "test_count_positive")
    assert error[0] == "KernelDied" and "crashed while running count_positive" in error[1], error
    assert "SIGKILL" in error[1], f"the message should say how the kernel ended: {error[1]}"
    # An answer cell that exits the kernel says so; the cells before it were replayed in a
    # fresh kernel (the relu cell, which crashes on a replay, was left out after trying),
    # so only count_positive, which never got defined, fails.
    (error,) = outputs("crash_on_replay", "count_positive")
    assert error[0] == "KernelDied" and "exit code 1" in error[1], error
    assert outputs("crash_on_replay", "test_count_positive") == [
        ("NameError", "count_positive is not defined: run the cell that defines it")
    ]
    assert graded.scores["crash_on_replay"]["test_relu"][0] == 2
    # A loop that swallows the interrupt: the cell's time limit, then a fresh kernel.
    (error,) = outputs("swallowed_interrupt", "test_count_positive")
    assert error[0] == "TimeoutError" and "count_positive did not return within" in error[1], error


def test_hidden_test_lines_helper_matches_fixture(graded_toy):
    graded = graded_toy
    (cell,) = [c for c in graded.source.cells if c.get("id") == "test_relu"]
    assert hidden_test_lines(cell.source)[0].startswith("hidden_grid_7 =")


def test_edited_cell_metadata_is_restored_from_the_gradebook(graded_toy):
    graded = graded_toy
    assert graded.scores["edited_metadata"] == {"test_relu": (2.0, 2.0), "test_count_positive": (1.0, 1.0)}
    nb = graded.course.autograded_nb("edited_metadata", graded.nb_name)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_relu"]
    (cell,) = tests  # the duplicate lost its id (nbgrader keeps the last copy)
    nbg = cell.metadata.nbgrader
    assert (nbg["grade"], nbg["solution"], nbg["locked"], nbg["points"]) == (True, False, True, 2.0)
    assert "hidden_grid_7" in cell.source and "all tests passed" not in cell.source
    forged = [c for c in nb.cells if "bonus" in c.source]
    assert forged and all("nbgrader" not in c.metadata for c in forged)
    # a deleted test cell goes back right after the nearest cell the submission still has
    nb = graded.course.autograded_nb("deleted_answer_and_test", graded.nb_name)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids.index("test_count_positive") == ids.index("ex2") + 1
