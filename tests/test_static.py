"""The judge's static look at student code (cnn_course/autograde/static/): graded names,
student cells, graded functions that are not the student's own work, tampering with the
grader, and no false positives on the real notebooks and the catalogs' correct solutions."""

from __future__ import annotations

import copy
import importlib
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from _nbgrader_helpers import REPO, fill_answers
from cnn_course.grading import core
from cnn_course.autograde.static import analyze, graded_names, student_cells

TOPICS = [("01_convolution", "convolution"), ("02_optimizers", "optimizers"), ("03_batch_norm", "batch_norm"),
          ("04_classic_networks", "classic_networks"), ("05_resnet", "resnet"), ("06_inception", "inception"),
          ("07_mobilenet", "mobilenet"), ("08_detection_yolo", "detection_yolo"), ("09_rcnn", "rcnn"),
          ("10_unet", "unet"), ("11_face_recognition", "face_recognition"), ("12_style_transfer", "style_transfer"),
          ("13_conv_1d_3d", "conv_1d_3d")]
LIBRARIES = ("cnn_course.ref", "cnn_course.pt", "torch", "scipy.ndimage", "scipy.signal")


def _nbg(gid, *, grade=False, solution=False, locked=True, points=None):
    md = {"grade": grade, "grade_id": gid, "locked": locked, "schema_version": 3, "solution": solution, "task": False}
    if points is not None:
        md["points"] = points
    return {"nbgrader": md}


def _test_source(name, seed, hidden=True):
    src = f"from cnn_course.grading import convolution as check\ncheck.{name}({name})"
    if hidden:
        src += f"\n### BEGIN HIDDEN TESTS\ncheck.{name}({name}, hidden=True, seed={seed})\n### END HIDDEN TESTS"
    return src


STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"


def mini(hidden: bool):
    """A two-exercise notebook: the release (hidden=False) or, with its hidden tests, what
    the judge sees after nbgrader restored the test cells."""
    cells = [
        new_markdown_cell("# mini", metadata=_nbg("intro")),
        new_code_cell("import numpy as np\nfrom cnn_course import ref", metadata=_nbg("setup")),
        new_code_cell(f"def zero_pad(X, pad):\n{STUB}", metadata=_nbg("zero_pad", solution=True, locked=False)),
        new_code_cell(_test_source("zero_pad", 1, hidden), metadata=_nbg("test_zero_pad", grade=True, points=1)),
        new_code_cell(f"def conv_output_size(n, f, pad, stride):\n{STUB}",
                      metadata=_nbg("conv_output_size", solution=True, locked=False)),
        new_code_cell(_test_source("conv_output_size", 2, hidden),
                      metadata=_nbg("test_conv_output_size", grade=True, points=1)),
    ]
    return new_notebook(cells=cells)


RELEASE = mini(hidden=False)
TESTS = {c.metadata["nbgrader"]["grade_id"]: c.source for c in mini(hidden=True).cells
         if c.metadata["nbgrader"]["grade"]}

GOOD_PAD = "import numpy as np\n\ndef zero_pad(X, pad):\n    return np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)))\n"
GOOD_SIZE = "def conv_output_size(n, f, pad, stride):\n    return (n + 2 * pad - f) // stride + 1\n"


def submission(zero_pad=GOOD_PAD, conv_output_size=GOOD_SIZE, extra=(), where="setup"):
    """The judged notebook: answers filled in, hidden tests restored, ``extra`` code cells
    added after the cell ``where``."""
    nb = mini(hidden=True)
    for c in nb.cells:
        gid = c.metadata["nbgrader"]["grade_id"]
        if gid == "zero_pad":
            c.source = zero_pad
        elif gid == "conv_output_size":
            c.source = conv_output_size
    at = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells].index(where) + 1
    nb.cells[at:at] = [new_code_cell(src) for src in extra]
    return nb


def problems(nb, release=RELEASE) -> dict[str, str]:
    report = analyze(nb, release)
    return {gid: msg for gid, src in TESTS.items() if (msg := report.problem(src))}


# --------------------------------------------------------------------------- graded names, student cells


def test_graded_names_of_real_test_cells():
    assert graded_names(TESTS["test_zero_pad"]) == ["zero_pad"]
    bn = ("from cnn_course.grading import batch_norm as check\n"
          "check.batchnorm_backward(batchnorm_backward, batchnorm_forward)\n### BEGIN HIDDEN TESTS\n"
          "check.batchnorm_backward(batchnorm_backward, batchnorm_forward, hidden=True, seed=303)\n"
          "### END HIDDEN TESTS")
    assert graded_names(bn) == ["batchnorm_backward", "batchnorm_forward"]
    assert graded_names("import cnn_course.grading.convolution as c\nc.pool_forward(pool_forward, mode='max')") \
        == ["pool_forward"]
    # no check module (the toy course): the functions the test calls by name
    toy = 'expect(np.allclose(relu(np.array([-1.0, 2.0])), [0.0, 2.0]), "relu([-1, 2]) should be [0, 2]")'
    assert graded_names("from cnn_course.grading.core import expect\n" + toy) == ["relu"]
    assert graded_names("this is not python(") == []


def test_every_test_cell_of_the_course_grades_its_function():
    for assignment, _ in TOPICS:
        nb = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
        for c in nb.cells:
            md = c.metadata.get("nbgrader", {})
            if md.get("grade") and not md.get("solution"):
                names = graded_names(c.source)
                assert names, f"{md['grade_id']}: no graded function found"
                assert md["grade_id"].startswith("test_" + names[0]), (md["grade_id"], names)


def test_student_cells_are_the_changed_code_cells():
    assert student_cells(RELEASE, RELEASE) == []
    nb = submission(extra=["x = 1"])
    cells = student_cells(nb, RELEASE)
    assert [src for _, src in cells] == ["x = 1", GOOD_PAD, GOOD_SIZE]
    # test cells with their hidden tests restored are instructor code, even with edited flags
    nb.cells[-1].metadata["nbgrader"].update(grade=False, solution=True)
    assert len(student_cells(nb, RELEASE)) == 3
    # ...also one nbgrader added back after the student deleted it (with nbgrader's note)
    restored = nb.cells[3]
    restored.source = ("# This cell (id:test_zero_pad) was missing from the submission. It was added back by "
                       "nbgrader.\n\n" + restored.source)
    assert len(student_cells(nb, RELEASE)) == 3
    # a copy of a test cell without its grade id is the student's
    fake = copy.deepcopy(nb.cells[-1])
    fake.metadata = {}
    nb.cells.append(fake)
    assert student_cells(nb, RELEASE)[-1] == (len(nb.cells) - 1, fake.source)


# --------------------------------------------------------------------------- not the student's own work


@pytest.mark.parametrize("source, found", [
    ("from cnn_course.ref.conv import zero_pad as zp\n\ndef zero_pad(X, pad):\n    return zp(X, pad)",
     "cnn_course.ref.conv.zero_pad"),
    ("import cnn_course\n\ndef zero_pad(X, pad):\n    return cnn_course.ref.zero_pad(X, pad)", "cnn_course.ref.zero_pad"),
    ("def zero_pad(X, pad):\n    return ref.zero_pad(X, pad)", "cnn_course.ref.zero_pad"),  # the setup cell's alias
    ("zero_pad = ref.zero_pad", "cnn_course.ref.zero_pad"),
    ("from cnn_course.ref import zero_pad", "cnn_course.ref.zero_pad"),
    ("def zero_pad(X, pad, _f=ref.zero_pad):\n    return _f(X, pad)", "cnn_course.ref.zero_pad"),
    ("def _helper(X, pad):\n    import torch\n    return torch.nn.functional.pad(torch.tensor(X), [pad] * 4).numpy()\n\n"
     "def zero_pad(X, pad):\n    return _helper(X, pad)", "torch (through your function _helper)"),
    ("import scipy.ndimage as nd\nPAD = {'f': nd.shift}\n\ndef zero_pad(X, pad):\n    return PAD['f'](X, pad)",
     "scipy.ndimage.shift (through your variable PAD)"),
    ("from scipy import signal\n\ndef zero_pad(X, pad):\n    return signal.correlate2d(X, X)", "scipy.signal.correlate2d"),
    ("def _setup():\n    global R\n    import cnn_course.pt as R\n\n_setup()\n\ndef zero_pad(X, pad):\n"
     "    return R.zero_pad(X, pad)", "cnn_course.pt.zero_pad"),
    ("from cnn_course.ref import *\n\ndef zero_pad(X, pad):\n    return pad_somehow(X, pad)",
     "cnn_course.ref.pad_somehow (from cnn_course.ref import *)"),
    ("import torch as T\nF = T.nn.functional\n\ndef zero_pad(X, pad):\n    return F.pad(X, (pad,) * 4)",
     "torch.nn.functional.pad"),
    ("class zero_pad:\n    def __new__(cls, X, pad):\n        import torch\n        return torch.zeros(1)", "torch"),
])
def test_graded_function_using_a_library_earns_nothing(source, found):
    got = problems(submission(zero_pad=source))
    assert set(got) == {"test_zero_pad"}, got
    assert got["test_zero_pad"] == core._cheat_message("zero_pad", found, "found in your code"), got


def test_dynamic_import_in_a_graded_function_costs_that_exercise_only():
    src = ("def zero_pad(X, pad):\n    import importlib\n    lib = importlib.import_module('cnn_' + 'course.ref')\n"
           "    return lib.zero_pad(X, pad)")
    got = problems(submission(zero_pad=src))
    assert set(got) == {"test_zero_pad"}
    assert got["test_zero_pad"].startswith("zero_pad earns no points: it imports a module by a name computed at "
                                           "run time (importlib), which hides what it calls.")
    got = problems(submission(conv_output_size="def conv_output_size(n, f, pad, stride):\n"
                                               "    return __import__('math').floor((n + 2 * pad - f) / stride) + 1"))
    assert set(got) == {"test_conv_output_size"} and "(__import__)" in got["test_conv_output_size"]
    # the same import outside a graded function is tampering
    got = problems(submission(extra=["import importlib\nnp = importlib.import_module('numpy')"]))
    assert set(got) == set(TESTS) and "importlib" in got["test_zero_pad"]


@pytest.mark.parametrize("source", [
    "def zero_pad(X, pad):\n    ref = np.pad\n    return ref(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)))",  # a local
    "def zero_pad(torch, pad):\n    return np.pad(torch, ((0, 0), (0, 0), (pad, pad), (pad, pad)))",  # a parameter
    "import torch\nprint(torch.zeros(2))\n\n" + GOOD_PAD,  # torch outside the graded function
    "def zero_pad(X, pad):\n    return ref.zero_pad(X, pad)\n\n" + GOOD_PAD,  # redefined: the first one is dead
    "import torch\n\ndef compare_with_torch(X):\n    return torch.tensor(X)\n\n" + GOOD_PAD,  # helper never called
    "def zero_pad(X, pad):\n    fn = getattr(np, 'pad')\n    return fn(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)))",
    "def zero_pad(X, pad):\n    out = np.zeros(X.shape[:2] + (X.shape[2] + 2 * pad, X.shape[3] + 2 * pad))\n"
    "    out[:, :, pad:pad + X.shape[2], pad:pad + X.shape[3]] = X\n    return out",
])
def test_own_work_is_not_flagged(source):
    assert problems(submission(zero_pad=source)) == {}


# --------------------------------------------------------------------------- tampering


@pytest.mark.parametrize("source, what", [
    ("import sys\nsys.setprofile(None)", "sys.setprofile"),
    ("from sys import settrace\nsettrace(None)", "sys.settrace"),
    ("import sys\nprint(sys.getprofile())", "sys.getprofile"),
    ("import threading\nthreading.setprofile(None)", "threading.setprofile"),
    ("import os\nos.sys.setprofile(None)", "sys.setprofile"),
    ("import sys\ngetattr(sys, 'setprofile')(None)", "sys.setprofile"),
    ("import sys\ngetattr(sys, 'set' + 'profile')(None)", "getattr(sys, <computed name>)"),
    ("import gc\ngc.collect()", "gc"),
    ("from gc import get_objects", "gc.get_objects"),
    ("exec('x = 1')", "exec"),
    ("y = eval('1 + 1')", "eval"),
    ("code = compile('1', '<s>', 'eval')", "compile"),
    ("globals()['zero_pad'] = None", "globals"),
    ("vars()['x'] = 1", "vars()"),
    ("import builtins\nbuiltins.len = lambda x: 0", "builtins.len"),
    ("__builtins__.len = lambda x: 0", "__builtins__"),
    ("import sys\nsys.modules['numpy'] = None", "sys.modules"),
    ("import sys\nnp2 = sys.modules['numpy']", "sys.modules"),
    ("import sys\nsys.meta_path.insert(0, object())", "sys.meta_path"),
    ("import sys\nf = sys._getframe(1)", "sys._getframe"),
    ("import inspect\nf = inspect.currentframe()", "inspect.currentframe"),
    ("def f():\n    pass\n\ng = f.__globals__", ".__globals__"),
    ("try:\n    1 / 0\nexcept Exception as e:\n    fr = e.__traceback__.tb_frame.f_back", ".tb_frame"),
    ("def f():\n    pass\n\nf.__code__ = (lambda: 1).__code__", ".__code__"),
    ("subs = ().__class__.__base__.__subclasses__()", ".__subclasses__"),
    ("__cnn_agent__.serve = None", "__cnn_agent__"),
    ("agent = get_ipython().user_ns['__cnn_agent__']", ".user_ns"),
    ("get_ipython().events.register('pre_run_cell', print)", ".events.register"),
    ("import cnn_course.grading.core as core\ncore.run_check = lambda *a, **k: None", "cnn_course.grading.core"),
    ("from cnn_course.grading import core", "cnn_course.grading.core"),
    ("from cnn_course.grading.convolution import run_check", "cnn_course.grading.convolution.run_check"),
    ("from cnn_course.grading import convolution as check\ncheck.zero_pad = lambda *a, **k: None",
     "cnn_course.grading.convolution.zero_pad"),
    ("import cnn_course\ncnn_course.grading.core.compare = None", "cnn_course.grading.core.compare"),
    ("import cnn_course.autograde.agent as agent\nagent.serve = None", "cnn_course.autograde.agent"),
    ("from cnn_course import autograde", "cnn_course.autograde"),
    ("np.allclose = lambda *a, **k: True", "numpy.allclose"),
    ("np.testing.assert_allclose = lambda *a, **k: None", "numpy.testing.assert_allclose"),
    ("setattr(np, 'isclose', None)", "setattr(numpy, 'isclose')"),
    ("del np.array_equal", "numpy.array_equal"),
    ("%%writefile helper_mod.py\nimport sys\n", "helper_mod"),  # ...with the import below
    ("open('h' + 'elper_mod.py', 'w').write('import sys')", "helper_mod"),
    ("import os\nos.system('echo import sys > helper_mod.py')", "helper_mod"),
    ("%run helper.py", "%run"),
    ("%time import gc", "gc"),
    ("%%timeit\nimport sys; sys.settrace(None)", "sys.settrace"),
])
def test_tampering_costs_every_later_exercise(source, what):
    extra = [source, "from helper_mod import f"] if what == "helper_mod" else [source]
    nb = submission(extra=extra, where="test_zero_pad")
    got = problems(nb)
    assert set(got) == {"test_conv_output_size"}, f"{source!r}: {got}"
    msg = got["test_conv_output_size"]
    index = [c.source for c in nb.cells].index(extra[-1])
    assert msg.startswith("conv_output_size was not graded automatically: your notebook interferes with the grader.")
    assert f"cell {index + 1}, line " in msg and what in msg, msg
    assert "every exercise tested after" in msg and "ask your instructor to review your notebook by hand" in msg


@pytest.mark.parametrize("source", [
    "import ctypes\nctypes.string_at(0)",  # a crash: contained by the executor, costs its exercise only
    "import os\nos._exit(1)",
    "import os, signal\nos.kill(-1, signal.SIGKILL)",
    "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)",
    "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)",
    "import sqlite3\nsqlite3.connect('../../../gradebook.db')",
    "open('notes.txt', 'w').write('hi')",
    "import subprocess\nsubprocess.run(['ls'])",
    "!ls -la",
    "%timeit zero_pad(np.ones((1, 1, 2, 2)), 1)",
    "%%writefile notes.txt\nhello",
    "sum = 0\nfor k in range(3):\n    sum += k",  # shadowing a builtin: the judge has its own
    "def print(*args):\n    pass",
    "import torch\ntorch.manual_seed(0)\ntorch.backends.cudnn.deterministic = True",
    "np.random.seed(0)\nnp.set_printoptions(precision=3)",
    "def f():\n    return locals()",
    "import re\npattern = re.compile('a+')",
    "import pandas as pd  # not installed: fails in the kernel, costs what it breaks",
    "import seaborn\nopen('notes.txt').read()\nprint('a-b'.replace('-', '+'))",
    "print(type(np.zeros(1)).__name__, np.zeros(1).__class__)",
    "import os\nprint(os.environ.get('NBGRADER_EXECUTION'))",
    # re-running a check in a scratch cell runs in the student's own kernel: harmless
    "from cnn_course.grading import convolution as check\ncheck.zero_pad(zero_pad)\n"
    "check.zero_pad(zero_pad, hidden=True, seed=5)",
    "check.conv_output_size(conv_output_size)",
    "from cnn_course.grading import CheckFailed\ntry:\n    check.zero_pad(zero_pad)\nexcept CheckFailed as e:\n"
    "    print(e)",
    "def pool(x, mode):\n    return getattr(np, mode)(x)",
])
def test_harmless_or_contained_code_is_not_tampering(source):
    assert problems(submission(extra=[source], where="test_zero_pad")) == {}


def test_tampering_inside_a_function_counts_where_the_function_is_defined():
    src = "import sys\n\ndef zero_pad(X, pad):\n    sys.setprofile(None)\n    return np.pad(X, pad)"
    got = problems(submission(zero_pad=src))
    assert set(got) == set(TESTS)
    assert 'cell 3 (the answer cell "zero_pad"), line 4: sys.setprofile(None)' in got["test_zero_pad"]


def test_problem_finds_the_test_cell_by_its_source_or_index():
    nb = submission(extra=["import gc"], where="test_zero_pad")
    report = analyze(nb, RELEASE)
    visible = {gid: src.split("\n### BEGIN")[0] for gid, src in TESTS.items()}
    assert report.problem(visible["test_zero_pad"]) is None
    assert report.problem(visible["test_conv_output_size"]) is not None
    assert report.problem(TESTS["test_zero_pad"], cell_index=len(nb.cells)) is not None
    assert report.problem(TESTS["test_conv_output_size"], cell_index=1) is None
    assert report.problem("check.unknown(zero_pad)") is not None  # an unknown test counts as coming last
    assert [(f.cell, f.line, f.what) for f in report.tampering] == [(4, 1, "gc")]


# --------------------------------------------------------------------------- the real course


def _release(assignment):
    return nbformat.read(REPO / "course" / assignment / f"{assignment}.ipynb", as_version=4)


def _tests(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")}


@pytest.mark.parametrize("assignment", [a for a, _ in TOPICS])
def test_no_false_positive_on_the_solutions_and_the_release(assignment):
    release = _release(assignment)
    solution = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    t0 = time.perf_counter()
    report = analyze(solution, release)
    assert time.perf_counter() - t0 < 2.0
    answer_cells = [i for i, c in enumerate(solution.cells) if c.metadata.get("nbgrader", {}).get("solution")]
    assert [i for i, _ in report.cells] == answer_cells
    assert report.tampering == [] and report.not_own_work == {}
    assert {g: report.problem(s) for g, s in _tests(solution).items() if report.problem(s)} == {}
    report = analyze(release, release)
    assert report.cells == [] and report.tampering == []


@pytest.mark.parametrize("assignment, topic", TOPICS)
def test_catalog_solutions_pass_and_catalog_cheats_are_caught(assignment, topic):
    catalog = importlib.import_module(f"submissions.{topic}")
    release = _release(assignment)
    tests = _tests(nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4))

    def flagged(answers):
        report = analyze(fill_answers(release, answers), release)
        return {graded_names(src)[0]: report.problem(src) for src in tests.values() if report.problem(src)}

    assert flagged(catalog.CORRECT) == {}
    alternatives = getattr(catalog, "VECTORISED", None) or catalog.ALTERNATIVE
    variants = list(alternatives.values()) if all(isinstance(v, dict) for v in alternatives.values()) \
        else [alternatives]
    for overrides in variants:
        assert flagged({**catalog.CORRECT, **overrides}) == {}, overrides
    for bug in catalog.BUGS:
        got = flagged({**catalog.CORRECT, bug.function: bug.source})
        # never more than the checks themselves fail...
        assert set(got) <= set(bug.breaks), (bug.name, got)
        # ...and every cheat through the libraries every check forbids is caught statically
        if bug.hint in LIBRARIES or bug.name == "conv_forward_hidden_import":
            assert bug.function in got and got[bug.function].startswith(f"{bug.function} earns no points"), \
                (bug.name, got)


def test_second_graded_function_of_a_check_is_named():
    from submissions.batch_norm import BUGS, CORRECT

    bug = next(b for b in BUGS if b.name == "bn_forward_calls_torch")
    release = _release("03_batch_norm")
    tests = _tests(nbformat.read(REPO / "solutions" / "03_batch_norm" / "03_batch_norm.ipynb", as_version=4))
    report = analyze(fill_answers(release, {**CORRECT, bug.function: bug.source}), release)
    msg = report.problem(tests["test_batchnorm_backward"])
    assert msg.startswith("batchnorm_backward cannot be checked: your batchnorm_forward, which its check also uses, "
                          "calls torch."), msg
    assert msg.endswith("Hint: fix batchnorm_forward first.")
