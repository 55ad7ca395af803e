"""The topic-4 checks (classic networks): correct submissions pass, every catalogued bug fails
with its hint, the famous tables are right, and the PyTorch checks give the same verdict in the
student's kernel and in the autograder's judge."""

import io
import math
import re
import sys
import time
from contextlib import redirect_stdout

import numpy as np
import pytest
import torch

from cnn_course.grading import CheckFailed, NotYourOwnWork
from cnn_course.grading import classic as check
from submissions import local_and_judged, namespace
from submissions.classic_networks import BUGS, CHECKS, CORRECT, VECTORISED

EXERCISES = list(CORRECT)
SEED = 2041
TORCH_EXERCISES = ("LeNet5", "vgg_block", "VGGNet")


def checks_of(name):
    return CHECKS.get(name, (name,))


def run(name, func, **kw):
    """Run one check; return its printed output."""
    buf = io.StringIO()
    with redirect_stdout(buf):
        getattr(check, name)(func, **kw)
    return buf.getvalue()


def outcome(check_name, func, **kw) -> CheckFailed | None:
    try:
        run(check_name, func, **kw)
    except CheckFailed as err:
        return err
    return None


@pytest.fixture(scope="module")
def correct_ns():
    return namespace(CORRECT)


@pytest.mark.parametrize("name", EXERCISES)
def test_correct_solution_passes_visible_and_hidden(correct_ns, name):
    (check_name,) = checks_of(name)
    visible = run(check_name, correct_ns[name])
    hidden = run(check_name, correct_ns[name], hidden=True, seed=SEED)
    assert re.fullmatch(rf"✓ {name}: \d+ visible cases? passed\n", visible), visible
    assert re.fullmatch(rf"✓ {name}: \d+ hidden cases passed\n", hidden), hidden
    assert sys.getprofile() is None, "the profile hook was left installed"


@pytest.mark.parametrize("name", list(VECTORISED))
def test_other_correct_solutions_pass(name):
    ns = namespace(CORRECT, VECTORISED)
    run(checks_of(name)[0], ns[name])
    run(checks_of(name)[0], ns[name], hidden=True, seed=SEED + 1)


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_bug_fails_its_checks_with_the_hint(bug):
    """A broken exercise fails its check, visible and hidden, with the bug's hint; the
    exercises that call it fail one of theirs; every exercise it does not break passes."""
    ns = namespace(CORRECT, {bug.function: bug.source})
    for name in EXERCISES:
        (c,) = checks_of(name)
        if name == bug.function:
            for hidden in (False, True):
                err = outcome(c, ns[name], hidden=hidden, seed=SEED)
                assert err, f"{bug.name}: the {'hidden' if hidden else 'visible'} check of {name} passes"
                assert bug.hint in str(err), f"hint {bug.hint!r} missing from:\n{err}"
        elif name in bug.breaks:  # a test cell runs both: one failing is enough to lose its points
            errs = [outcome(c, ns[name], hidden=hidden, seed=SEED) for hidden in (False, True)]
            assert any(errs), f"{bug.name}: every check of {name} passes"
        else:
            run(c, ns[name], hidden=True, seed=SEED)


def test_every_exercise_has_a_bug_and_cheats_are_caught():
    assert set(EXERCISES) <= {b.function for b in BUGS}
    for bug in BUGS:
        if "calls" in bug.name:
            ns = namespace(CORRECT, {bug.function: bug.source})
            with pytest.raises(NotYourOwnWork) as info, redirect_stdout(io.StringIO()):
                getattr(check, checks_of(bug.function)[0])(ns[bug.function])
            if bug.function in TORCH_EXERCISES:
                assert "build it yourself from torch.nn" in str(info.value)
            else:
                assert "The course's layer functions (cnn_course.ref.conv2d_forward" in str(info.value)


def test_course_layer_functions_are_allowed_but_not_torch_in_the_numpy_lenet(correct_ns):
    """Composing cnn_course.ref's layers is the exercise; the watcher does not flag them."""
    assert "cnn_course.ref" not in check.LENET_FORBIDDEN and "torch" in check.LENET_FORBIDDEN
    run("lenet5_forward", correct_ns["lenet5_forward"], hidden=True, seed=3)


def test_the_famous_numbers():
    tables = {name: check._table(spec, shape) for name, (spec, shape) in check.FAMOUS.items()}
    totals = {name: (sum(r[2] for r in t), sum(r[3] for r in t)) for name, t in tables.items()}
    assert totals == {"LeNet-5": (61_706, 423_038), "AlexNet": (62_378_344, 1_135_915_368),
                      "VGG-16": (138_357_544, 15_483_821_032)}
    assert [r[1] for r in tables["AlexNet"] if r[0] == "maxpool"] == [(96, 27, 27), (256, 13, 13), (256, 6, 6)]
    first_fc = next(r for r in tables["VGG-16"] if r[0] == "fc")
    assert first_fc[2] == 25_088 * 4096 + 4096 == 102_764_544


def test_spec_tables_agree_with_torchinfo():
    """The check's own table code (params and mult-adds per layer) is torchinfo's, on torch layers."""
    import torchinfo
    from torch import nn

    def module(layer, shape):
        kind = layer[0]
        if kind == "conv":
            return nn.Conv2d(shape[0], layer[1], layer[2], stride=layer[3], padding=layer[4])
        if kind == "fc":
            return nn.Linear(shape[0], layer[1])
        if kind in ("maxpool", "avgpool"):
            return (nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d)(layer[1], layer[2])
        return {"relu": nn.ReLU, "tanh": nn.Tanh, "flatten": nn.Flatten, "dropout": nn.Dropout}[kind]()

    rng = np.random.default_rng(0)
    specs = [(check.LENET5, check.LENET5_INPUT), (check.ALEXNET, check.ALEXNET_INPUT)]
    specs += [check._random_spec(rng) for _ in range(5)]
    for spec, shape in specs:
        layers, current = [], shape
        for layer in spec:
            layers.append(module(layer, current))
            current = check._shape(layer, current)
        stats = torchinfo.summary(nn.Sequential(*layers), (1, *shape), verbose=0)
        rows = check._table(spec, shape)
        got = [(tuple(s.output_size[1:]), s.num_params, s.macs) for s in stats.summary_list[1:]]
        assert got == [(s, p, m) for _, s, p, m in rows], spec


def test_value_messages_name_the_case_and_the_layer():
    ns = namespace(CORRECT, {"layer_counts": next(b for b in BUGS if b.name == "layer_counts_pool_params").source})
    msg = str(outcome("layer_counts", ns["layer_counts"]))
    assert "layer_counts failed visible case 2 of 6 (a pooling layer): layer=('avgpool', 2, 2), " \
           "input_shape=(6, 28, 28)" in msg, msg
    assert "params is wrong: expected 0, got 24." in msg
    rows_bug = next(b for b in BUGS if b.name == "network_table_input_shape_rows")
    ns = namespace(CORRECT, {"network_table": rows_bug.source})
    msg = str(outcome("network_table", ns["network_table"]))
    assert "table[0][1] (output shape)" in msg and "yours shows its input shape" in msg, msg


def test_hidden_cases_cover_every_row_of_the_famous_tables():
    calls = []

    def spy(layer, input_shape):
        calls.append((tuple(layer), tuple(input_shape)))
        return check._counts(layer, input_shape)

    run("layer_counts", spy, hidden=True, seed=SEED)
    for spec, shape in (check.FAMOUS["AlexNet"], check.FAMOUS["VGG-16"]):
        current = shape
        for layer in spec:
            assert (tuple(layer), current) in calls
            current = check._shape(layer, current)


def test_checks_are_fast(correct_ns):
    for name in EXERCISES:
        start = time.perf_counter()
        run(checks_of(name)[0], correct_ns[name], hidden=True, seed=SEED)
        assert time.perf_counter() - start < 3.0, name


def test_rebuilding_vgg16_from_the_student_classes_gives_its_count(correct_ns):
    with torch.device("meta"):
        model = correct_ns["VGGNet"](check.VGG16_CFG, in_channels=3, image_size=224, hidden=4096, n_classes=1000)
    assert sum(p.numel() for p in model.parameters()) == 138_357_544
    with torch.device("meta"):
        lenet = correct_ns["LeNet5"]()
    assert sum(p.numel() for p in lenet.parameters()) == 61_706
    assert math.prod((16, 5, 5)) == 400


JUDGED = [b for b in BUGS if b.function in TORCH_EXERCISES or b.function == "lenet5_forward"]


@pytest.mark.parametrize("bug", [None, *JUDGED], ids=["correct", *(b.name for b in JUDGED)])
def test_checks_judged_as_in_the_notebook(bug):
    """The PyTorch checks (and the NumPy LeNet-5 with its own forbidden list) give the same verdict
    and message in the student's kernel and in the autograder's judge (LoopbackLink)."""
    overrides = {} if bug is None else {bug.function: bug.source}
    functions = (*TORCH_EXERCISES, "lenet5_forward") if bug is None else (bug.function,)
    for fn in functions:
        local, judged = local_and_judged("classic", checks_of(fn)[0], fn, CORRECT, overrides)
        assert judged == local, f"local:  {local}\njudged: {judged}"
        assert judged.passed is (bug is None), judged
        if bug is not None:
            assert bug.hint in judged.evalue, judged.evalue


def test_the_judges_static_pass_flags_the_cheats_but_not_the_course_layers():
    """Under the autograder, a static look at the notebook refuses the cheats of the catalogue before
    anything runs, with the message of the check's own forbidden list; the correct NumPy LeNet-5,
    which calls ref.conv2d_forward and ref.pool2d_forward, is not flagged (tests/test_static.py
    checks every correct solution)."""
    import nbformat
    from _nbgrader_helpers import REPO, fill_answers
    from cnn_course.autograde.static import analyze

    release = nbformat.read(REPO / "course" / "04_classic_networks" / "04_classic_networks.ipynb", as_version=4)
    solution = nbformat.read(REPO / "solutions" / "04_classic_networks" / "04_classic_networks.ipynb", as_version=4)
    tests = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    report = analyze(fill_answers(release, CORRECT), release)
    assert report.problem(tests["test_lenet5_forward"]) is None
    for bug in [b for b in BUGS if "calls" in b.name]:
        report = analyze(fill_answers(release, {**CORRECT, bug.function: bug.source}), release)
        msg = report.problem(tests[f"test_{bug.function}"])
        assert msg and msg.startswith(f"{bug.function} earns no points"), (bug.name, msg)
        if bug.function == "lenet5_forward" and "torch" not in bug.name:
            assert "The course's layer functions (cnn_course.ref.conv2d_forward" in msg, msg


def test_the_notebooks_specs_are_the_graders():
    """The layer lists the notebook teaches with are the ones the checks grade against."""
    import ast

    import nbformat
    from _nbgrader_helpers import REPO

    nb = nbformat.read(REPO / "solutions" / "04_classic_networks" / "04_classic_networks.ipynb", as_version=4)
    specs = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) \
                        and node.targets[0].id in ("LENET5", "ALEXNET"):
                    specs[node.targets[0].id] = ast.literal_eval(node.value)
    assert specs == {"LENET5": check.LENET5, "ALEXNET": check.ALEXNET}
    from cnn_course.pt.models import VGG16_CFG  # the notebook builds its VGG16 spec from the zoo's configuration

    assert check.VGG16_CFG == VGG16_CFG == ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
