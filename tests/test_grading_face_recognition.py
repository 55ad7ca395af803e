"""The topic-11 checks (face recognition): correct submissions pass, every catalogued bug fails with
its hint, the checks' references agree with the library, and the notebook's test cells give the
same verdicts through the autograder's judge."""

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnn_course.grading import NotYourOwnWork
from cnn_course.grading import face_recognition as check
from cnn_course.grading import face_recognition_torch as torch_check
from submissions import Catalogue, local_and_judged, namespace
from submissions.face_recognition import ALTERNATIVE, BUGS, CORRECT, FEEDBACK_BUG, MISBEHAVING, PIPELINE_BUGS

EXERCISES = list(CORRECT)
SEED = 1191
# exercise -> (check, hidden cases)
CHECKS = {
    "triplet_loss": (check.triplet_loss, 8),
    "pairwise_distances": (check.pairwise_distances, 6),
    "hardest_triplets": (check.hardest_triplets, 6),
    "triplet_train_step": (torch_check.triplet_train_step, 3),
    "verify": (check.verify, 8),
    "who_is_it": (check.who_is_it, 8),
    "threshold_for_far": (check.threshold_for_far, 6),
}
cat = Catalogue(CHECKS, CORRECT, BUGS, seed=SEED)
run, failure, bug_ns, _fails = cat.run, cat.failure, cat.bug_ns, cat.fails
CHEATS = {"loss_calls_library", "dist_calls_library", "hard_calls_library", "step_uses_library",
          "verify_calls_library", "who_calls_library", "far_calls_library"}


@pytest.fixture(scope="module")
def correct_ns():
    return namespace(CORRECT)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_correct_solution_passes_visible_and_hidden(correct_ns, exercise):
    cat.assert_passes(correct_ns, exercise, seeds=(SEED, 7))


@pytest.mark.parametrize("exercise", EXERCISES)
def test_alternative_solutions_pass(exercise):
    ns = namespace(CORRECT, ALTERNATIVE)
    run(ns, exercise)
    run(ns, exercise, hidden=True, seed=SEED + 1)


@pytest.mark.parametrize("b", BUGS, ids=[b.name for b in BUGS])
def test_bug_fails_its_checks_with_the_hint(b):
    """Every exercise in ``breaks`` fails (visible and hidden) with the hint, the others pass."""
    ns = namespace(CORRECT, {b.function: b.source})
    for exercise in EXERCISES:
        for hidden in (False, True):
            err = _fails(ns, exercise, hidden)
            if exercise not in b.breaks:
                assert err is None, f"{b.name} breaks {exercise} ({'hidden' if hidden else 'visible'}):\n{err}"
                continue
            assert err is not None, f"{b.name}: the {'hidden' if hidden else 'visible'} checks of {exercise} pass"
            assert b.hint in str(err), f"hint {b.hint!r} missing from:\n{err}"
            assert isinstance(err, NotYourOwnWork) == (b.name in CHEATS), (b.name, type(err))
    assert sys.getprofile() is None


def test_catalog_covers_every_exercise_and_lists_known_names():
    per_exercise = {ex: [b for b in BUGS if b.function == ex] for ex in EXERCISES}
    assert all(len(bugs) >= 3 for bugs in per_exercise.values()), {k: len(v) for k, v in per_exercise.items()}
    names = {b.name for b in BUGS}
    assert len(names) == len(BUGS)
    assert set(PIPELINE_BUGS) <= names and 6 <= len(PIPELINE_BUGS) <= 12
    assert FEEDBACK_BUG in PIPELINE_BUGS
    assert CHEATS <= names
    assert {b.function for b in BUGS if b.name in CHEATS} == set(EXERCISES)  # own work is graded everywhere
    for answers, failing in MISBEHAVING.values():
        assert set(answers) <= set(EXERCISES)
        assert all(f.startswith("test_") for f in failing)


def test_the_issue_s_mistakes_are_in_the_catalog_and_the_pipeline():
    """Grading with teeth (issue 14): each named mistake is catalogued and graded end to end."""
    wanted = ("loss_max_outside_sum", "loss_not_squared", "loss_sum_no_axis", "loss_mean",  # the triplet loss
              "verify_reversed",                                                            # ≥ for ≤
              "who_first_under_threshold")                                                  # first, not nearest
    names = {b.name for b in BUGS}
    for name in wanted:
        assert name in names and name in PIPELINE_BUGS, name


def test_messages_name_case_expected_and_got():
    msg = str(failure(bug_ns("loss_max_outside_sum"), "triplet_loss"))
    assert msg.startswith("triplet_loss failed visible case 1 of 3 (3 triplets in 2-D: losses 0, 0.95 and 0.2, "
                          "so J = 1.15)"), msg
    assert "expected 1.15, got 0.6" in msg and "max after summing" in msg, msg
    msg = str(failure(bug_ns("loss_sum_no_axis"), "triplet_loss"))
    assert "expected 1.15, got 0.2" in msg and "without axis=-1" in msg, msg
    msg = str(failure(bug_ns("who_first_under_threshold"), "who_is_it"))
    assert "identity must be 'grace', got 'alan'" in msg and "NEAREST" in msg, msg
    msg = str(failure(bug_ns("verify_strict"), "verify"))
    assert "visible case 3 of 3" in msg and "accepted must be True, got False" in msg, msg


def test_hidden_cases_are_deterministic_per_seed():
    ns = bug_ns("loss_mean")
    assert str(failure(ns, "triplet_loss", hidden=True, seed=5)) == str(failure(ns, "triplet_loss", hidden=True,
                                                                                   seed=5))


def test_references_agree_with_the_library():
    from cnn_course.ref import face

    rng = np.random.default_rng(0)
    for _ in range(5):
        a, p, n = (rng.standard_normal((7, 5)) for _ in range(3))
        assert np.isclose(check.triplet_reference(a, p, n, 0.3), face.triplet_loss(a, p, n, 0.3))
        emb, labels = rng.standard_normal((9, 3)), rng.integers(0, 3, size=9)
        for got, want in zip(check.hardest_reference(emb, labels), face.hardest_triplets(emb, labels)):
            np.testing.assert_array_equal(got, want)
        d, same = np.round(rng.random(30), 2), rng.random(30) < 0.4
        same[:2] = [True, False]
        for target in (0.0, 0.1, 0.5):
            assert check.far_threshold_reference(d, same, target) == face.threshold_for_far(d, same, target)
    db = {"a": np.zeros(3), "b": np.ones(3)}
    e = np.array([0.9, 1.0, 1.1])
    assert check._who_reference(e, db, 0.5) == face.who_is_it(e, db, 0.5)


def test_step_reference_agrees_with_the_library_loss():
    torch = pytest.importorskip("torch")
    from cnn_course.pt import face

    rng = np.random.default_rng(1)
    weights = [rng.standard_normal((torch_check.D_OUT, torch_check.D_IN)).astype(np.float32),
               rng.standard_normal(torch_check.D_OUT).astype(np.float32)]
    x = rng.standard_normal((len(torch_check.LABELS), torch_check.D_IN)).astype(np.float32)
    (l1,), _ = torch_check.step_reference(weights, x, torch_check.LABELS, 0.2, 0.1, steps=1)
    emb = torch.tensor(x) @ torch.tensor(weights[0]).T + torch.tensor(weights[1])
    a, p, n = face.hardest_triplets(emb, torch.tensor(torch_check.LABELS))
    assert np.isclose(l1, float(face.triplet_loss(emb[a], emb[p], emb[n], 0.2)) / len(a), rtol=1e-5)


def test_checks_are_fast(correct_ns):
    for exercise in EXERCISES:
        start = time.perf_counter()
        run(correct_ns, exercise, hidden=True, seed=SEED)
        run(correct_ns, exercise)
        assert time.perf_counter() - start < 4.0, exercise


def _notebook_test_cells():
    path = Path(__file__).resolve().parents[1] / "solutions/11_face_recognition/11_face_recognition.ipynb"
    nb = json.loads(path.read_text())
    return {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in nb["cells"]
            if c["cell_type"] == "code" and c["metadata"]["nbgrader"].get("grade")}


def test_the_notebook_s_test_cells_give_the_same_verdicts_through_the_judge():
    from cnn_course.autograde.judge import run_test_cell
    from cnn_course.autograde.links import LoopbackLink

    cells = _notebook_test_cells()
    assert list(cells) == [f"test_{e}" for e in EXERCISES]
    link = LoopbackLink(namespace(CORRECT))
    for gid, source in cells.items():
        result = run_test_cell(source, link, timeout=120, filename=f"<{gid}>")
        assert result.passed, (gid, result)
    for name, cell in (("who_first_under_threshold", "test_who_is_it"), ("loss_mean", "test_triplet_loss"),
                       ("far_calls_library", "test_threshold_for_far")):
        b = next(b for b in BUGS if b.name == name)
        result = run_test_cell(cells[cell], LoopbackLink(namespace(CORRECT, {b.function: b.source})), timeout=120)
        assert not result.passed
        assert b.hint in result.evalue, result.evalue


@pytest.mark.parametrize("name", ["step_no_zero_grad", "step_sum", "step_returns_tensor", "step_nearest_positive"])
def test_step_bugs_get_the_same_verdict_locally_and_through_the_judge(name):
    b = next(b for b in BUGS if b.name == name)
    local, judged = local_and_judged("face_recognition_torch", "triplet_train_step", "triplet_train_step", CORRECT,
                                     {b.function: b.source})
    assert not local.passed and b.hint in local.evalue, local
    assert (judged.passed, judged.ename, judged.evalue) == (local.passed, local.ename, local.evalue)


def test_correct_step_passes_through_the_judge():
    local, judged = local_and_judged("face_recognition_torch", "triplet_train_step", "triplet_train_step", CORRECT, {})
    assert local.passed and judged.passed, (local, judged)
