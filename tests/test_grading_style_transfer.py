"""The topic-12 checks (neural style transfer): correct submissions pass, every catalogued bug fails
with its hint, the checks' references agree with the library (ref.style, pt.style), and the
notebook's test cells give the same verdicts through the autograder's judge."""

import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cnn_course import ref
from cnn_course.grading import NotYourOwnWork
from cnn_course.grading import style as check
from cnn_course.grading import style_torch as torch_check
from submissions import Catalogue, local_and_judged, namespace
from submissions.style_transfer import ALTERNATIVE, BUGS, CORRECT, FEEDBACK_BUG, MISBEHAVING, PIPELINE_BUGS

EXERCISES = list(CORRECT)
SEED = 12091
# exercise -> (check, hidden cases)
CHECKS = {
    "content_cost": (check.content_cost, 8),
    "gram_matrix": (check.gram_matrix, 8),
    "layer_style_cost": (check.layer_style_cost, 8),
    "style_cost": (check.style_cost, 4),
    "total_cost": (check.total_cost, 8),
    "style_step": (torch_check.style_step, 3),
}
cat = Catalogue(CHECKS, CORRECT, BUGS, seed=SEED)
run, _fails = cat.run, cat.fails
CHEATS = {"content_calls_library", "gram_calls_torch", "step_calls_library"}


@pytest.fixture(scope="module")
def correct_ns():
    return namespace(CORRECT)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_correct_solution_passes_visible_and_hidden(correct_ns, exercise):
    visible = run(correct_ns, exercise)
    assert re.fullmatch(rf"✓ {exercise}: \d visible cases? passed\n", visible), visible
    for seed in (SEED, 7):
        hidden = run(correct_ns, exercise, hidden=True, seed=seed)
        assert hidden == f"✓ {exercise}: {CHECKS[exercise][1]} hidden cases passed\n", hidden
    assert sys.getprofile() is None


@pytest.mark.parametrize("exercise", EXERCISES)
def test_alternative_solutions_pass(exercise):
    ns = namespace(CORRECT, ALTERNATIVE)
    run(ns, exercise)
    run(ns, exercise, hidden=True, seed=SEED + 1)


@pytest.mark.parametrize("b", BUGS, ids=[b.name for b in BUGS])
def test_bug_fails_its_checks_with_the_hint(b):
    """Every exercise in ``breaks`` fails (visible and hidden), the others pass."""
    ns = namespace(CORRECT, {b.function: b.source})
    for exercise in EXERCISES:
        for hidden in (False, True):
            err = _fails(ns, exercise, hidden)
            if exercise not in b.breaks:
                assert err is None, f"{b.name} breaks {exercise} ({'hidden' if hidden else 'visible'}):\n{err}"
                continue
            assert err is not None, f"{b.name}: the {'hidden' if hidden else 'visible'} checks of {exercise} pass"
            if exercise == b.function:
                assert b.hint in str(err), f"hint {b.hint!r} missing from:\n{err}"
                assert isinstance(err, NotYourOwnWork) == (b.name in CHEATS), (b.name, type(err))
    assert sys.getprofile() is None


def test_catalog_covers_every_exercise_and_the_issue_s_mistakes():
    names = {b.name for b in BUGS}
    assert len(names) == len(BUGS)
    assert all(sum(b.function == ex for b in BUGS) >= 2 for ex in EXERCISES)
    assert set(PIPELINE_BUGS) <= names and FEEDBACK_BUG in PIPELINE_BUGS
    assert CHEATS <= names
    for answers, failing in MISBEHAVING.values():
        assert set(answers) <= set(EXERCISES) and all(f.startswith("test_") for f in failing)
    for wanted in ("gram_transposed", "layer_transposed_gram",            # Gram of the wrong orientation
                   "layer_mixed_unroll",                                  # unrolling that mixes channels and positions
                   "content_no_norm", "layer_no_norm", "layer_constant_not_squared",  # normalisation constants
                   "total_swapped", "step_swapped"):                       # α and β swapped
        assert wanted in names, wanted
        assert wanted in PIPELINE_BUGS or wanted in {"layer_transposed_gram", "layer_no_norm"}


def test_wrong_orientation_is_caught_although_the_frobenius_norms_agree():
    """‖AᵀA‖_F = ‖AAᵀ‖_F: a style cost against a_G = 0 cannot tell the orientations apart; the
    hidden cases use a_G ≠ 0 and n_C ≠ n_H·n_W, where they differ."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 8))
    assert np.isclose(np.linalg.norm(A.T @ A), np.linalg.norm(A @ A.T))
    a_S = rng.standard_normal((3, 2, 4))
    zero = np.zeros_like(a_S)
    right = check.layer_style_reference(a_S, zero)
    wrong = check.layer_style_reference(a_S, zero, transposed=True)
    assert np.isclose(right, wrong)
    a_G = rng.standard_normal((3, 2, 4))
    assert not np.isclose(check.layer_style_reference(a_S, a_G), check.layer_style_reference(a_S, a_G, transposed=True))


def test_references_match_the_library():
    rng = np.random.default_rng(1)
    for shape in ((3, 2, 4), (5, 3, 3), (2, 1, 6)):
        a, b = rng.standard_normal(shape), rng.standard_normal(shape)
        assert np.isclose(check.content_reference(a, b), ref.style.content_cost(a, b))
        assert np.isclose(check.layer_style_reference(a, b), ref.style.layer_style_cost(a, b))
        A = a.reshape(shape[0], -1)
        np.testing.assert_allclose(check.gram_reference(A), ref.style.gram_matrix(A))


def test_step_reference_matches_the_library_costs():
    from cnn_course.pt import style as pt_style
    rng = np.random.default_rng(2)
    weights = [rng.uniform(-0.3, 0.3, s).astype(np.float32) for s in ((4, 3, 3, 3), (4,))]
    C, S = (rng.uniform(0, 1, (1, 3, 5, 6)).astype(np.float32) for _ in range(2))
    G0 = np.clip(C + 0.05, 0, 1).astype(np.float32)
    (l1, _), _ = torch_check.step_reference(weights, G0, C, S, 3.0, 50.0, 0.05)
    net = torch_check._net(weights)
    with torch.no_grad():
        a_C, a_S, a_G = net(torch.tensor(C)), net(torch.tensor(S)), net(torch.tensor(G0))
    J = pt_style.total_cost(pt_style.content_cost(a_C, a_G), pt_style.layer_style_cost(a_S, a_G), 3.0, 50.0)
    assert np.isclose(l1, float(J), rtol=1e-5)


def test_checks_are_fast(correct_ns):
    for exercise in EXERCISES:
        start = time.perf_counter()
        run(correct_ns, exercise, hidden=True, seed=SEED)
        run(correct_ns, exercise)
        assert time.perf_counter() - start < 4.0, exercise


def _notebook_test_cells():
    path = Path(__file__).resolve().parents[1] / "solutions/12_style_transfer/12_style_transfer.ipynb"
    nb = json.loads(path.read_text())
    return {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in nb["cells"]
            if c["cell_type"] == "code" and c["metadata"]["nbgrader"].get("grade")}


def test_the_notebook_s_test_cells_give_the_same_verdicts_through_the_judge():
    from cnn_course.autograde.judge import run_test_cell
    from cnn_course.autograde.links import LoopbackLink

    cells = _notebook_test_cells()
    assert sorted(cells) == sorted(f"test_{e}" for e in EXERCISES)
    link = LoopbackLink(namespace(CORRECT))
    for gid, source in cells.items():
        result = run_test_cell(source, link, timeout=120, filename=f"<{gid}>")
        assert result.passed, (gid, result)


@pytest.mark.parametrize("name", ["step_no_clip", "step_swapped", "step_no_zero_grad", "step_returns_tensor"])
def test_step_bugs_get_the_same_verdict_locally_and_through_the_judge(name):
    b = next(b for b in BUGS if b.name == name)
    local, judged = local_and_judged("style_torch", "style_step", "style_step", CORRECT, {b.function: b.source})
    assert not local.passed and b.hint in local.evalue, local
    assert (judged.passed, judged.ename, judged.evalue) == (local.passed, local.ename, local.evalue)


def test_guard_memory_stops_position_sized_gram_matrices():
    check.guard_memory(namespace(CORRECT)["layer_style_cost"])
    for name in ("gram_transposed", "layer_transposed_gram"):
        b = next(b for b in BUGS if b.name == name)
        ns = namespace(CORRECT, {b.function: b.source})
        with pytest.raises(ValueError, match="positions against positions"):
            check.guard_memory(ns["layer_style_cost"])
    b = next(b for b in BUGS if b.name == "layer_mixed_unroll")  # wrong, but channel-sized: its test cell says so
    check.guard_memory(namespace(CORRECT, {b.function: b.source})["layer_style_cost"])
