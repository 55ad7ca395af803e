"""The topic-13 checks (convolution in 1D and 3D): correct submissions pass, every catalogued bug fails
with its hint, the checks' references agree with torch and the library, and the notebook's test cells
give the same verdicts through the autograder's judge."""

import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnn_course.grading import NotYourOwnWork
from cnn_course.grading import conv_1d_3d as check
from cnn_course.grading import conv_1d_3d_torch as torch_check
from submissions import Catalogue, local_and_judged, namespace
from submissions.conv_1d_3d import ALTERNATIVE, BUGS, CORRECT, FEEDBACK_BUG, MISBEHAVING, PIPELINE_BUGS

EXERCISES = list(CORRECT)
SEED = 1391
# exercise -> (check, hidden cases)
CHECKS = {
    "conv1d_forward": (check.conv1d_forward, 10),
    "conv3d_forward": (check.conv3d_forward, 10),
    "conv_layer_size": (check.conv_layer_size, 10),
    "SignalCNN": (torch_check.signal_cnn, 4),
}
cat = Catalogue(CHECKS, CORRECT, BUGS, seed=SEED)
run, failure, bug_ns, _fails = cat.run, cat.failure, cat.bug_ns, cat.fails
CHEATS = {"c1_calls_library", "c1_calls_torch", "c3_calls_library", "size_calls_library", "cnn_uses_library"}


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
    """Every exercise in ``breaks`` fails (visible and hidden), the others pass: the sets are honest."""
    ns = namespace(CORRECT, {b.function: b.source})
    for exercise in EXERCISES:
        for hidden in (False, True):
            err = _fails(ns, exercise, hidden)
            if exercise not in b.breaks:
                assert err is None, f"{b.name} breaks {exercise} ({'hidden' if hidden else 'visible'}):\n{err}"
                continue
            assert err is not None, f"{b.name}: the {'hidden' if hidden else 'visible'} checks of {exercise} pass"
            if exercise == b.function and not hidden:
                assert b.hint in str(err), f"hint {b.hint!r} missing from:\n{err}"
            if exercise == b.function:
                assert isinstance(err, NotYourOwnWork) == (b.name in CHEATS), (b.name, type(err))
    assert sys.getprofile() is None


def test_catalog_covers_every_exercise_and_lists_known_names():
    per_exercise = {ex: [b for b in BUGS if b.function == ex] for ex in EXERCISES}
    assert all(len(bugs) >= 5 for bugs in per_exercise.values()), {k: len(v) for k, v in per_exercise.items()}
    names = {b.name for b in BUGS}
    assert len(names) == len(BUGS)
    assert set(PIPELINE_BUGS) <= names and 6 <= len(PIPELINE_BUGS) <= 12
    assert FEEDBACK_BUG in PIPELINE_BUGS
    assert CHEATS <= names
    assert {b.function for b in BUGS if b.name in CHEATS} == set(EXERCISES)  # own work is graded everywhere
    for answers, failing in MISBEHAVING.values():
        assert set(answers) <= set(EXERCISES)
        assert all(f.startswith("test_") for f in failing)


def test_the_issue_s_mistakes_are_in_the_catalog():
    """Grading with teeth: each mistake the issue names has a catalogued bug (and the usual ones)."""
    names = {b.name for b in BUGS}
    for wanted in ("c1_not_sliding", "c3_depth_not_sliding", "c3_axis_dropped",     # an axis dropped
                   "c1_first_channel", "c3_first_channel", "size_no_channels",      # filter depth not spanning C
                   "cnn_grouped",
                   "c3_stride_one_axis", "c3_stride_one_axis_size", "c1_stride_ignored",  # stride on one axis only
                   "c1_no_bias", "c3_no_bias", "size_no_bias",                      # no bias
                   "c1_flipped", "c3_flipped",                                      # true convolution
                   "c1_pad_one_side", "c3_pad_one_side", "size_pad_one_side",       # padding on one side
                   "c1_calls_library", "c3_calls_library", "size_calls_library", "cnn_uses_library"):  # own work
        assert wanted in names, wanted
    hidden_caught = {"c1_not_sliding", "c3_depth_not_sliding", "c1_first_channel", "c3_first_channel",
                     "c3_stride_one_axis", "c1_flipped", "c3_flipped", "c1_pad_one_side", "c3_pad_one_side",
                     "c1_no_bias", "c3_no_bias"}
    for name in hidden_caught:  # the hidden tests alone catch them too
        b = next(b for b in BUGS if b.name == name)
        assert _fails(namespace(CORRECT, {b.function: b.source}), b.function, True) is not None, name


def test_messages_name_case_expected_and_got():
    msg = str(failure(bug_ns("c1_no_bias"), "conv1d_forward"))
    assert msg.startswith("conv1d_forward failed visible case 1 of 3 (one signal, one channel, an asymmetric "
                          "filter): x.shape=(1, 1, 8), w.shape=(1, 1, 3)"), msg
    assert re.search(r"out\[[\d, ]+\]: expected -?[\d.]+(e-?\d+)?, got", msg) and "Hint:" in msg, msg
    msg = str(failure(bug_ns("size_no_channels"), "conv_layer_size"))
    assert "visible case 2 of 5" in msg and "expected 2592, got 192" in msg, msg
    msg = str(failure(bug_ns("c3_axis_dropped"), "conv3d_forward"))
    assert "expected (1, 2, 2, 2, 2), got (1, 2, 2, 2)" in msg and "an axis was dropped" in msg, msg


def test_reference_matches_torch_and_the_library():
    torch = pytest.importorskip("torch")
    from cnn_course import ref

    rng = np.random.default_rng(0)
    for d, conv in ((1, torch.nn.functional.conv1d), (2, torch.nn.functional.conv2d),
                    (3, torch.nn.functional.conv3d)):
        for stride, pad in ((1, 0), (2, 1), (3, 2)):
            x = rng.standard_normal((2, 3) + (7,) * d)
            w = rng.standard_normal((4, 3) + (3,) * d)
            b = rng.standard_normal(4)
            want = conv(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=stride, padding=pad).numpy()
            assert np.allclose(check.conv_reference(x, w, b, stride, pad), want)
            assert np.allclose(ref.convnd_forward(x, w, b, stride, pad)[0], want)


def test_known_mistakes_are_what_they_say():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((1, 2, 6, 5, 7)), rng.standard_normal((3, 2, 3, 3, 3)), rng.standard_normal(3)
    fixed = check.conv_reference(x, w, b, 1, 1, fixed_axis=0)
    assert np.allclose(fixed, fixed[:, :, :1])
    first = check.conv_reference(x, w, b, 2, 1, channels="first")
    assert np.allclose(first, check.conv_reference(x[:, :1], w[:, :1], b, 2, 1))
    one_axis = check.conv_reference(x, w, b, 2, 1, stride_axes={0})
    full = check.conv_reference(x, w, b, 1, 1)
    assert one_axis.shape == check.conv_reference(x, w, b, 2, 1).shape
    assert np.allclose(one_axis, full[:, :, ::2, :one_axis.shape[3], :one_axis.shape[4]])
    assert np.allclose(check.conv_reference(x, w, b, 1, 1, flip=True),
                       check.conv_reference(x, w[:, :, ::-1, ::-1, ::-1], b, 1, 1))


def test_layer_sizes_reproduce_the_examples():
    assert check.layer_size((1, 14), 16, 5) == ((16, 10), 96, 800)
    assert check.layer_size((16, 10), 32, 5) == ((32, 6), 2592, 15360)
    assert check.layer_size((1, 14, 14, 14), 16, 5) == ((16, 10, 10, 10), 2016, 2_000_000)
    assert check.layer_size((16, 10, 10, 10), 32, 5) == ((32, 6, 6, 6), 64_032, 13_824_000)
    torch = pytest.importorskip("torch")
    for d, layer in ((1, torch.nn.Conv1d), (3, torch.nn.Conv3d)):
        conv = layer(16, 32, 5)
        out = conv(torch.zeros((1, 16) + (10,) * d))
        shape, params, _ = check.layer_size((16,) + (10,) * d, 32, 5)
        assert tuple(out.shape[1:]) == shape and sum(p.numel() for p in conv.parameters()) == params


def test_reference_network_matches_nn_layers():
    torch = pytest.importorskip("torch")
    from torch import nn

    ns = namespace(CORRECT)
    torch.manual_seed(0)
    net = ns["SignalCNN"](3, 4, f=5, pool=2).eval()
    weights = [p.detach().numpy().copy() for p in net.parameters()]
    assert [w.shape for w in weights] == [s for _, s in torch_check.cnn_shapes(3, 4, 5)]
    x = np.random.default_rng(2).standard_normal((2, 3, 40)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.tensor(x)).numpy()
    assert np.allclose(torch_check.reference_forward(weights, x, 5, 2), want, atol=1e-5)
    assert isinstance(net.conv1, nn.Conv1d)


def test_checks_are_fast(correct_ns):
    for exercise in EXERCISES:
        start = time.perf_counter()
        run(correct_ns, exercise, hidden=True, seed=SEED)
        run(correct_ns, exercise)
        assert time.perf_counter() - start < 6.0, exercise


def _notebook_test_cells():
    nb = json.loads((Path(__file__).resolve().parents[1] / "solutions/13_conv_1d_3d/13_conv_1d_3d.ipynb").read_text())
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
    for name in ("c3_stride_one_axis", "c3_calls_library"):
        b = next(b for b in BUGS if b.name == name)
        link = LoopbackLink(namespace(CORRECT, {b.function: b.source}))
        result = run_test_cell(cells["test_conv3d_forward"], link, timeout=120)
        assert not result.passed
        assert (b.hint if name == "c3_stride_one_axis" else "cnn_course.ref") in result.evalue, result.evalue


@pytest.mark.parametrize("name", ["cnn_grouped", "cnn_padding_same", "cnn_mean_channels"])
def test_module_bugs_get_the_same_verdict_locally_and_through_the_judge(name):
    b = next(b for b in BUGS if b.name == name)
    local, judged = local_and_judged("conv_1d_3d_torch", "signal_cnn", "SignalCNN", CORRECT, {b.function: b.source})
    assert not local.passed and b.hint in local.evalue, local
    assert (judged.passed, judged.ename, judged.evalue) == (local.passed, local.ename, local.evalue)
