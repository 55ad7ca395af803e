"""The judge outside the kernel (cnn_course.autograde.judge, .codec, .links and .agent).

The key test runs every catalogued submission (correct, alternative, buggy, cheating) of the
three topics twice, locally (the function object, as in the notebook) and through the
judge (test cell executed by ``run_test_cell``, the function exec'd into a namespace that
stands for the kernel, reached through ``LoopbackLink`` and the full message encoding), and
requires the same verdict and the same message.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import re
import select
import subprocess
import sys
import textwrap
import time
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnn_course.autograde import agent, codec, links
from cnn_course.autograde.codec import (
    CodecError, Decoder, Encoder, Unsupported, decode, decode_message, encode, encode_message, read_message,
    write_message,
)
from cnn_course.autograde.judge import KernelCrashedError, RemoteSession, TestResult, run_test_cell
from cnn_course.autograde.links import AgentError, FileLink, KernelDied, LoopbackLink, RemoteTimeout
from cnn_course.grading import core
from submissions import namespace

ROOT = Path(__file__).resolve().parents[1]
SEED = 4242

# =========================================================================== the key test: local == remote

BN_CHECKS = {
    "batchnorm_forward": [("batchnorm_forward_train", ()), ("batchnorm_forward_eval", ())],
    "batchnorm_backward": [("batchnorm_backward", ("batchnorm_forward",))],
    "spatial_batchnorm_forward": [("spatial_batchnorm_forward", ())],
    "spatial_batchnorm_backward": [("spatial_batchnorm_backward", ("spatial_batchnorm_forward",))],
    "BNConvNet": [("bn_conv_net", ())],
    "evaluate_accuracy": [("evaluate_accuracy", ())],
}
CHECK_MODULES = {"bn_conv_net": "batch_norm_torch", "evaluate_accuracy": "batch_norm_torch"}  # else the topic's
TOPICS = ("convolution", "optimizers", "batch_norm")


def catalog(topic):
    return importlib.import_module(f"submissions.{topic}")


def test_cells(topic: str, exercises) -> list[str]:
    """The sources of the test cells checking ``exercises``, visible and hidden, as the
    notebooks write them."""
    cells = []
    for ex in exercises:
        checks = getattr(catalog(topic), "CHECKS", {}).get(ex, (ex,))  # where a check is not named after ex
        for name, deps in BN_CHECKS[ex] if topic == "batch_norm" else [(c, ()) for c in checks]:
            args = ", ".join((ex,) + deps)
            for kw in ("", f", hidden=True, seed={SEED}"):
                module = CHECK_MODULES.get(name, topic) if topic == "batch_norm" else topic
                cells.append(f"from cnn_course.grading import {module} as check\ncheck.{name}({args}{kw})\n")
    return cells


test_cells.__test__ = False


def _entries():
    """(topic, name, overrides, exercises to check, kind) for every catalogued submission: the
    bugs are checked on the exercises they break (and their own), like the topic tests do."""
    out = []
    for topic in TOPICS:
        cat = catalog(topic)
        out.append((topic, "correct", {}, list(cat.CORRECT), "correct"))
        for name, src in getattr(cat, "VECTORISED", {}).items():
            out.append((topic, f"vectorised_{name}", {name: src}, [name], "correct"))
        alt = getattr(cat, "ALTERNATIVE", {})
        if topic == "batch_norm":  # one self-consistent set replacing all four exercises
            out.append((topic, "alternative", alt, list(alt), "correct"))
        else:
            for name, sources in alt.items():
                out.append((topic, f"alternative_{name}", sources, list(sources), "correct"))
        for bug in cat.BUGS:
            exercises = [ex for ex in cat.CORRECT if ex in bug.breaks | {bug.function}]
            out.append((topic, bug.name, {bug.function: bug.source}, exercises, "bug" if bug.breaks else "correct"))
    return out


ENTRIES = _entries()


def local_cell(source: str, ns: dict) -> TestResult:
    """The test cell run the notebook's way: in the namespace that holds the functions."""
    g = dict(ns)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            exec(compile(source, "<test cell>", "exec"), g)
    except Exception as exc:
        return TestResult(False, out.getvalue(), type(exc).__name__, str(exc))
    return TestResult(True, out.getvalue())


@pytest.mark.parametrize("topic, name, overrides, exercises, kind", ENTRIES, ids=[f"{e[0]}-{e[1]}" for e in ENTRIES])
def test_local_and_remote_verdicts_are_identical(topic, name, overrides, exercises, kind):
    correct = catalog(topic).CORRECT
    verdicts = []
    for source in test_cells(topic, exercises):
        np.random.seed(0)  # submissions that (wrongly) draw from NumPy's global generator draw the same
        local = local_cell(source, namespace(correct, overrides))
        np.random.seed(0)
        link = LoopbackLink(namespace(correct, overrides))
        judged = run_test_cell(source, link, timeout=120)
        assert judged == local, f"{source}\nlocal:  {local}\nremote: {judged}"
        verdicts.append(judged.passed)
    assert sys.getprofile() is None, "a profile hook was left installed"
    if kind == "correct":
        assert all(verdicts), name
    else:
        assert not all(verdicts), name


def test_catalog_coverage():
    names = {(e[0], e[1]) for e in ENTRIES}
    for topic in TOPICS:
        assert {(topic, b.name) for b in catalog(topic).BUGS} <= names
    assert sum(1 for e in ENTRIES if e[4] == "bug") >= 100
    cheats = [e for e in ENTRIES if "calls" in e[1] or "autograd" in e[1] or "hidden_import" in e[1]]
    assert len(cheats) >= 15


# =========================================================================== the notebooks' own test cells


def notebook_test_cells(path: Path) -> dict[str, str]:
    nb = json.loads(path.read_text())
    cells = {}
    for cell in nb["cells"]:
        md = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and md.get("grade") and not md.get("solution"):
            cells[md["grade_id"]] = "".join(cell["source"])
    return cells


notebook_test_cells.__test__ = False

NOTEBOOKS = {"convolution": "01_convolution", "optimizers": "02_optimizers", "batch_norm": "03_batch_norm"}


@pytest.mark.parametrize("topic", TOPICS)
def test_real_test_cells_pass_for_correct_work(topic):
    nb = ROOT / "solutions" / NOTEBOOKS[topic] / f"{NOTEBOOKS[topic]}.ipynb"
    cells = notebook_test_cells(nb)
    assert len(cells) >= 5
    link = LoopbackLink(namespace(catalog(topic).CORRECT))
    for grade_id, source in cells.items():
        assert "### BEGIN HIDDEN TESTS" in source
        result = run_test_cell(source, link, timeout=120, filename=f"<{grade_id}>")
        assert result.passed, (grade_id, result)
        assert "visible case" in result.output and "hidden case" in result.output, result.output


@pytest.mark.parametrize("topic", TOPICS)
def test_real_test_cell_fails_with_the_feedback(topic):
    cat = catalog(topic)
    bug = next(b for b in cat.BUGS if b.name == cat.FEEDBACK_BUG)
    nb = ROOT / "solutions" / NOTEBOOKS[topic] / f"{NOTEBOOKS[topic]}.ipynb"
    cells = notebook_test_cells(nb)
    link = LoopbackLink(namespace(cat.CORRECT, {bug.function: bug.source}))
    failed = {}
    for grade_id, source in cells.items():
        result = run_test_cell(source, link, timeout=120)
        if not result.passed:
            failed[grade_id] = result
    assert failed, bug.name
    assert any(bug.hint in r.evalue and r.ename == "CheckFailed" for r in failed.values()), failed
    assert all("Traceback" not in r.evalue for r in failed.values())


def toy_namespace(relu_src=None) -> dict:
    nb = json.loads((ROOT / "tests/fixtures/toy_course/solutions/00_toy/00_toy.ipynb").read_text())
    ns: dict = {"__name__": "__main__"}
    for cell in nb["cells"]:
        md = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and not md.get("grade"):
            src = "".join(cell["source"])
            if md.get("grade_id") == "relu" and relu_src is not None:
                src = relu_src
            exec(src, ns)
    return ns


def test_toy_cells_with_the_kernels_expect_and_with_the_graders():
    nb = ROOT / "tests/fixtures/toy_course/solutions/00_toy/00_toy.ipynb"
    cells = notebook_test_cells(nb)
    good = LoopbackLink(toy_namespace())
    bad = LoopbackLink(toy_namespace("def relu(x):\n    return x\n"))
    for prefix, ename in (("", "AssertionError"), ("from cnn_course.grading.core import expect\n", "CheckFailed")):
        assert run_test_cell(prefix + cells["test_relu"], good, timeout=30).passed
        assert run_test_cell(prefix + cells["test_count_positive"], good, timeout=30).passed
        result = run_test_cell(prefix + cells["test_relu"], bad, timeout=30)
        assert result == TestResult(False, "", ename, "relu([-1, 2]) should be [0, 2]")


def test_core_expect():
    core.expect(np.bool_(True), "never shown")
    with pytest.raises(core.CheckFailed, match="^relu is wrong$"):
        core.expect(False, "relu is wrong")


# =========================================================================== test cells: names, errors, budget


def test_missing_function_is_a_name_error_that_says_what_to_do():
    result = run_test_cell("from cnn_course.grading import convolution as check\ncheck.conv_forward(conv_forward)\n",
                           LoopbackLink({}), timeout=10)
    assert result == TestResult(False, "", "NameError", "conv_forward is not defined: run the cell that defines it")


def test_names_assigned_by_the_test_code_and_builtins_never_reach_the_kernel():
    link = LoopbackLink({"len": lambda x: 99, "x": 5})
    src = "from cnn_course.grading.core import expect\nx = [1, 2]\n" \
          "expect(len(x) == 2, 'builtins are the grader\\'s')\n" \
          "def f():\n    return x\nexpect(f() == [1, 2], 'functions see the cell\\'s names')\n"
    assert run_test_cell(src, link, timeout=10).passed
    assert link.requests == 0


def test_kernel_data_and_modules():
    fake_module = types.ModuleType("student_helpers")
    ns = {"data": {"x": np.arange(3), "y": (1.5, "a")}, "np": np, "helpers": fake_module, "math": __import__("math")}
    link = LoopbackLink(ns)
    src = textwrap.dedent("""\
        import numpy
        from cnn_course.grading.core import expect
        expect(np is numpy, "np is the grader's own numpy")
        expect(data["x"].sum() == 3 and data["y"] == (1.5, "a"), "data comes by value")
        expect(math.sqrt(4) == 2, "math")
        print("seen", data["x"].dtype)
        """)
    result = run_test_cell(src, link, timeout=10)
    assert result == TestResult(True, "seen int64\n"), result
    assert link.requests == 3  # np, data, math: one lookup each
    result = run_test_cell("helpers.f()\n", link, timeout=10)
    assert result.ename == "NameError" and "student_helpers" in result.evalue and "cannot import" in result.evalue


def test_failures_of_the_test_code_itself_are_readable():
    link = LoopbackLink({"f": lambda: 1})
    assert run_test_cell("assert f() == 2\n", link, timeout=5) == TestResult(
        False, "", "AssertionError", "the test failed (AssertionError at line 1 of the test cell)")
    assert run_test_cell("x = (\n", link, timeout=5).ename == "SyntaxError"
    assert run_test_cell("print('a')\n1 / 0\n", link, timeout=5) == TestResult(
        False, "a\n", "ZeroDivisionError", "division by zero")


def test_kernel_output_is_part_of_the_cell_output():
    ns = namespace({"f": "def f(x):\n    print('inside', x)\n    return x + 1\n"})
    result = run_test_cell("print('before')\nassert f(1) == 2\nprint('after')\n", LoopbackLink(ns), timeout=5)
    assert result == TestResult(True, "before\ninside 1\nafter\n")


class ScriptedLink:
    """Wraps a LoopbackLink; fails the calls of chosen functions the way a link would."""

    def __init__(self, ns, fail: dict[str, type], timeouts=None):
        self.inner = LoopbackLink(ns)
        self.fail = fail
        self.ns = ns
        self.timeouts = [] if timeouts is None else timeouts
        self.calls = []

    @property
    def requests(self):
        return self.inner.requests

    def request(self, op, payload, arrays, timeout):
        self.timeouts.append(timeout)
        if op == "call":
            func = agent._HANDLES[payload["handle"]]
            self.calls.append(func.__name__)
            if func.__name__ in self.fail:
                self.inner.requests += 1
                raise self.fail[func.__name__]("scripted")
        return self.inner.request(op, payload, arrays, timeout)


CONV_CELL = ("from cnn_course.grading import convolution as check\n"
             "check.conv_forward(conv_forward, hidden=True, seed=3)\n")


def test_a_looping_function_fails_its_cell_with_a_timeout():
    conv = catalog("convolution")
    link = ScriptedLink(namespace(conv.CORRECT), {"conv_forward": RemoteTimeout})
    result = run_test_cell(CONV_CELL, link, timeout=5)
    assert result.passed is False and result.ename == "TimeoutError"
    assert result.evalue.startswith("conv_forward did not return within ") and result.evalue.endswith(
        " s (an infinite loop?)"), result.evalue
    assert link.calls == ["conv_forward"]  # no probe, no later case: the cell ended at once
    assert all(t <= 5 for t in link.timeouts) and link.timeouts == sorted(link.timeouts, reverse=True)


def test_a_crash_fails_its_cell_and_every_later_call_fails_fast():
    conv = catalog("convolution")
    link = ScriptedLink(namespace(conv.CORRECT), {"conv_forward": KernelDied})
    result = run_test_cell(CONV_CELL, link, timeout=5)
    assert result.ename == "RuntimeError"
    assert result.evalue.startswith("the Python kernel crashed while running conv_forward")
    session = RemoteSession(link, 5)
    conv_forward, zero_pad = session.lookup("conv_forward"), session.lookup("zero_pad")
    with pytest.raises(KernelCrashedError) as first:
        conv_forward(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 2, 2)), np.zeros(1))
    before = link.requests
    with pytest.raises(KernelCrashedError) as later:
        zero_pad(np.zeros((1, 1, 2, 2)), 1)
    assert link.requests == before and str(later.value) == str(first.value)
    with pytest.raises(KernelCrashedError):
        session.lookup("pool_forward")


def test_the_budget_is_for_the_whole_cell():
    ns = namespace({"slow": "import time\n\ndef slow():\n    time.sleep(0.2)\n    return 1\n"})
    result = run_test_cell("for _ in range(20):\n    slow()\n", LoopbackLink(ns), timeout=0.5)
    assert result.ename == "TimeoutError" and result.evalue.startswith("slow did not return within")
    assert run_test_cell("slow()\n", LoopbackLink(ns), timeout=0).ename == "TimeoutError"


def test_an_agent_error_fails_the_cell_readably():
    class Broken:
        requests = 0

        def request(self, op, payload, arrays, timeout):
            raise AgentError("ValueError: something odd")

    result = run_test_cell("f()\n", Broken(), timeout=5)
    assert result.ename == "RuntimeError" and "could not run the lookup of f" in result.evalue


def test_one_request_per_call():
    conv = catalog("convolution")
    calls = []
    ns = namespace(conv.CORRECT)
    inner = ns["conv_forward"]

    def counted(*args, **kw):
        calls.append(1)
        return inner(*args, **kw)

    ns["conv_forward"] = counted
    link = LoopbackLink(ns)
    assert run_test_cell(CONV_CELL, link, timeout=60).passed
    assert len(calls) == 25
    assert link.requests == 1 + 1 + 25  # the lookup, the static anti-cheat look, one per call


# =========================================================================== the proxy: in place, identity, exceptions


def proxies(sources: dict[str, str]):
    ns = namespace(sources)
    session = RemoteSession(LoopbackLink(ns), 30)
    return ns, {name: session.lookup(name) for name in sources}


MUTATOR = '''\
import numpy as np

def mutate(d, lst, a, t, rng):
    d["added"] = 1
    del d["gone"]
    d["replaced"] = np.ones(2)
    d["mutated"] += 1
    lst.append(d["mutated"])
    a *= 2
    t[0][:] = 7
    rng.random(3)
    return d, d["mutated"], a, t, rng, lst[-1], np.zeros(1)
'''


def _mutator_args():
    return ({"gone": 0, "replaced": np.zeros(2), "mutated": np.arange(3.0), "kept": np.ones(1)}, [1],
            np.arange(4.0), (np.zeros(2), 5), np.random.default_rng(9))


def test_arguments_come_back_changed_as_they_would_locally():
    ns, p = proxies({"mutate": MUTATOR})
    local_args, remote_args = _mutator_args(), _mutator_args()
    d, lst, a, t, rng = remote_args
    mutated, kept = d["mutated"], d["kept"]
    local = ns["mutate"](*local_args)
    got = p["mutate"](*remote_args)
    # the same values...
    assert list(d) == list(local_args[0]) == ["replaced", "mutated", "kept", "added"]
    assert all(np.array_equal(d[k], local_args[0][k]) for k in d)
    assert lst == [1, mutated] and np.array_equal(a, local_args[2]) and np.array_equal(t[0], [7, 7])
    assert rng.random() == local[4].random()
    # ... the same identities: entries kept or mutated in place are the caller's objects
    assert d["mutated"] is mutated and d["kept"] is kept and lst[1] is mutated
    assert got[0] is d and got[1] is mutated and got[2] is a and got[3] is t and got[4] is rng and got[5] is mutated
    assert isinstance(got[6], np.ndarray) and got[6].flags.writeable


@pytest.mark.parametrize("body", [
    "d['k'] = d['k'] + 1",  # replaced entry
    "d['new'] = 1",  # added key
    "d.pop('k')",  # removed key
    "d['k'] += 1",  # array changed in place
    "d['k'][0] = float('nan')",
    "d.update(k=d.pop('k'))",  # same entries, order kept
])
def test_in_place_verdicts_match(body):
    src = f"import numpy as np\n\ndef f(d):\n    {body}\n    return 0\n"
    ns, p = proxies({"f": src})
    verdicts = []
    for func in (ns["f"], p["f"]):
        d = {"k": np.arange(3.0), "z": np.ones(2)}
        snaps = core._snapshot([("d", d)])
        func(d)
        verdicts.append(core._inplace_lines("f", snaps))
    assert verdicts[0] == verdicts[1]


EXCEPTIONS = '''\
import numpy as np
import sys

class MyError(Exception):
    pass

def not_done(x):
    raise NotImplementedError()

def key(d):
    return d["W3"]

def axis(x):
    return np.sum(x, axis=5)

def custom(x):
    raise MyError("mine", 2)

def leaves(x):
    sys.exit(3)

def args(a, b):
    return a
'''


@pytest.mark.parametrize("name, arg, cls", [
    ("not_done", 1, NotImplementedError), ("key", {"W1": 1}, KeyError), ("axis", np.zeros(2), ValueError),
    ("custom", 0, Exception), ("leaves", 0, Exception), ("args", 0, TypeError),
])
def test_student_exceptions_are_reraised_with_their_type_message_and_line(name, arg, cls):
    ns = namespace({"exceptions": EXCEPTIONS})
    func = RemoteSession(LoopbackLink(ns), 30).lookup(name)
    call_args = (arg,)
    with pytest.raises(BaseException) as local:
        ns[name](*call_args)
    with pytest.raises(cls) as remote_exc:
        func(*call_args)
    assert type(remote_exc.value).__name__ == type(local.value).__name__
    assert str(remote_exc.value) == str(local.value)
    if type(local.value).__module__ == "builtins" and isinstance(local.value, Exception):
        assert type(remote_exc.value) is type(local.value)
    here = core._student_frame(local.value)
    there = core._student_frame(remote_exc.value)
    if name == "args":  # raised by the call itself: no student line on either side worth showing
        assert there is None
    else:
        assert (there.filename, there.lineno, there.name, there.line) == (here.filename, here.lineno, here.name,
                                                                           here.line)
    if name == "axis":
        assert isinstance(remote_exc.value, IndexError)  # numpy's AxisError is both


def test_kernel_watcher_and_static_look_reach_the_graders_checks():
    src = '''\
import importlib

def cheat(x):
    lib = importlib.import_module("cnn_course.r" + "ef")
    return lib.zero_pad(x, 1)
'''
    ns, p = proxies({"cheat": src, "plain": "def plain(x):\n    return x\n"})
    static_src = "from cnn_course.ref import conv2d_forward\n\ndef direct(x):\n    return conv2d_forward(x)\n"
    ns2, p2 = proxies({"direct": static_src})
    assert core.find_forbidden_static(p2["direct"]) == core.find_forbidden_static(ns2["direct"]) is not None
    assert core.find_forbidden_static(p["plain"]) is None
    found = []
    for func in (ns["cheat"], p["cheat"]):
        with core.watch_forbidden_calls() as w:
            func(np.ones((1, 1, 2, 2)))
        found.append(w.found)
    assert found[0] == found[1] and found[0].startswith("cnn_course.ref")
    assert sys.getprofile() is None and core.active_watcher() is None


def test_numpy_error_state_travels():
    ns, p = proxies({"div": "import numpy as np\n\ndef div(a):\n    return a / 0\n"})
    with np.errstate(all="raise"), pytest.raises(FloatingPointError):
        p["div"](np.ones(1))
    with np.errstate(all="ignore"):
        assert np.isinf(p["div"](np.ones(1))[0])


def test_callables_as_arguments():
    srcs = {"apply": "def apply(f, x):\n    return f(x)\n", "twice": "def twice(x):\n    return 2 * x\n",
            "make": "class Box:\n    def __init__(self, v):\n        self.v = v\n\ndef make(v):\n    return Box(v)\n",
            "unbox": "def unbox(b):\n    return b.v\n"}
    ns, p = proxies(srcs)
    assert p["apply"](p["twice"], 3) == 6  # a function of the kernel, by handle
    assert p["apply"](np.sum, np.arange(4)) == 6  # a module-level function, by qualified name
    box = p["make"](np.arange(2))
    assert isinstance(box, Unsupported) and type(box).__name__ == "Box" and "Box object" in repr(box)
    assert np.array_equal(p["unbox"](box), [0, 1])  # passed back to the kernel by handle
    with pytest.raises(CodecError, match="function cannot be sent"):
        p["apply"](lambda x: x, 1)


def test_function_metadata_for_the_hints():
    src = "def f(x, gamma, running_mean, eps=1e-5):\n    running_mean = running_mean * 2\n    return x\n"
    ns, p = proxies({"f": src})
    code = p["f"].__code__
    assert code.co_argcount == 4 and code.co_varnames[:4] == ("x", "gamma", "running_mean", "eps")
    assert "running_mean" in code.cnn_stores
    from cnn_course.grading import batch_norm
    assert batch_norm._assigns(p["f"], "running_mean") is batch_norm._assigns(ns["f"], "running_mean") is True
    assert batch_norm._param_name(p["f"], 2, "?") == "running_mean"
    assert p["f"].__name__ == "f" and callable(p["f"])


# =========================================================================== the codec


class Foo:
    def __repr__(self):
        return "Foo(1)"


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes() \
            and a.flags.f_contiguous == b.flags.f_contiguous
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (float, np.floating)) and np.isnan(a):
        return bool(np.isnan(b))
    if isinstance(a, float) and a == 0:
        return str(a) == str(b)
    if isinstance(a, complex):
        return _same(a.real, b.real) and _same(a.imag, b.imag)
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and (a == b or (a != a and b != b))
    return a == b


def roundtrip(obj, **kw):
    tree, arrays = encode(obj, **kw)
    tree2, arrays2 = decode_message(encode_message(tree, arrays))
    return decode(tree2, arrays2)


def test_roundtrip_keeps_types_dtypes_and_special_values():
    arrays = [np.array([True, False]), np.arange(5, dtype=np.int8), np.arange(3, dtype=np.uint16),
              np.array([np.nan, -np.inf, -0.0], dtype=np.float16), np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3),
              np.array([1 + 2j, np.nan]), np.array(["ab", "c"]), np.array([1.5, 2.5], dtype=">f8"),
              np.asfortranarray(np.arange(6.0).reshape(2, 3)), np.arange(12.0).reshape(3, 4)[::2, ::3],
              np.array(3.5), np.zeros((0, 3)), np.array([b"x", b"yz"])]
    scalars = [None, True, False, 0, -2**70, 1.5, float("nan"), float("inf"), -float("inf"), -0.0, "ünï \udc80",
               b"\x00bytes", 1 + 2j, complex(float("nan"), 1), np.float32(1.5), np.float64("nan"), np.int8(-3),
               np.uint64(2**64 - 1), np.bool_(True), np.float16(0.1), np.complex64(1j), np.longdouble(1) / 3,
               np.str_("x"), np.datetime64]
    obj = {"arrays": arrays, "scalars": tuple(scalars[:-1]), 3: [1, (2, [3, {"deep": {}}])], (1, "k"): None,
           "z": "key order kept", "a": 0}
    back = roundtrip(obj)
    assert _same(back, obj)
    assert [type(x) for x in back["scalars"]] == [type(x) for x in scalars[:-1]]
    assert back["arrays"][7].dtype.str == ">f8" and back["arrays"][8].flags.f_contiguous


def test_identity_references_inside_a_message():
    a = np.arange(3)
    shared = {"x": a}
    loop = [1]
    loop.append(loop)
    back = roundtrip([a, a, shared, shared, (a,), loop])
    assert back[0] is back[1] is back[2]["x"] is back[4][0]
    assert back[2] is back[3]
    assert back[5][1] is back[5]
    t = ([],)
    t[0].append(t)
    with pytest.raises(CodecError, match="contains itself"):
        encode(t)


def test_external_references_and_generators():
    x, y = np.ones(2), {"k": 1}
    enc = Encoder(external={id(x): 0, id(y): 1})
    node = enc.encode([x, y, x.copy()])
    assert node["v"][0] == {"$": "ext", "i": 0}
    back = Decoder(enc.arrays, external=[x, y]).decode(node)
    assert back[0] is x and back[1] is y and back[2] is not x
    for gen in (np.random.default_rng(5), np.random.Generator(np.random.MT19937(3))):
        gen.random(7)
        twin = roundtrip(gen)
        assert isinstance(twin, np.random.Generator) and twin is not gen
        assert np.array_equal(twin.random(4), gen.random(4))


def test_read_only_arrays_stay_read_only():
    a = np.arange(3.0)
    a.flags.writeable = False
    assert not roundtrip(a).flags.writeable
    assert roundtrip(np.arange(3.0)).flags.writeable


def test_unsupported_values():
    with pytest.raises(CodecError, match="Foo cannot be carried"):
        encode(Foo())
    with pytest.raises(CodecError):
        encode(np.array([1, None], dtype=object))
    with pytest.raises(CodecError):
        encode(print)
    back = roundtrip([Foo(), np.array([1, None], dtype=object)], fallback=codec.unsupported_fallback)
    assert isinstance(back[0], Unsupported) and type(back[0]).__name__ == "Foo" and repr(back[0]) == "Foo(1)"
    assert type(back[1]).__name__ == "ndarray" and not isinstance(back[1], np.ndarray)
    assert type(roundtrip(Foo(), fallback=codec.unsupported_fallback)) is type(back[0])  # one class per name
    huge = roundtrip(10**2000, fallback=codec.unsupported_fallback)
    assert isinstance(huge, Unsupported) and type(huge).__name__ == "int"


def test_limits_give_clear_errors():
    with pytest.raises(CodecError, match="more than 0 MiB"):
        Encoder(max_array_bytes=1000).encode(np.zeros(1000))
    deep: list = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(CodecError, match="nested deeper"):
        encode(deep)
    with pytest.raises(CodecError, match="more than 10 values"):
        Encoder(max_items=10).encode(list(range(20)))
    with pytest.raises(CodecError, match="too large or too deeply nested"):
        Decoder({}, max_items=5).decode(Encoder().encode(list(range(20))))


@pytest.mark.parametrize("node", [
    {"$": "nd", "a": "a0"}, [1, 2], {"$": "nope"}, {"$": "func", "m": "os", "q": "system"},
    {"$": "obj", "m": "os", "q": "system", "d": None}, {"$": "ref", "i": 3}, {"$": "ext", "i": 0},
    {"$": "np", "t": "|O", "v": 1}, {"$": "np", "t": "<f8", "v": [1]}, {"$": "float", "v": "1e400"},
    {"$": "dict", "k": [{"$": "list", "v": []}], "v": [1]}, {"$": "rng", "s": {"bit_generator": "Evil"}},
    {"$": "tuple", "v": [{"$": "ref", "i": 0}]},
])
def test_malformed_trees_are_refused(node):
    with pytest.raises(CodecError):
        Decoder({}).decode(node)


def _zip(members: dict[str, bytes], compress=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _npy(arr, allow_pickle=False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def test_messages_refuse_pickles_lies_and_surprises():
    tree = b'{"root": {"$": "nd", "a": "a0"}}'
    good = _zip({"tree.json": tree, "a0.npy": _npy(np.arange(3))})
    assert np.array_equal(decode(*decode_message(good)), np.arange(3))
    pickled = _npy(np.array([Foo()], dtype=object), allow_pickle=True)
    header = _npy(np.zeros(2))
    lying = header.replace(b"(2,)", b"(99999999999,)", 1)
    bad = {
        "pickle": _zip({"tree.json": tree, "a0.npy": pickled}),
        "lying header": _zip({"tree.json": tree, "a0.npy": lying}),
        "compressed": _zip({"tree.json": tree, "a0.npy": _npy(np.arange(3))}, zipfile.ZIP_DEFLATED),
        "odd member": _zip({"tree.json": tree, "../evil.npy": _npy(np.arange(3))}),
        "no tree": _zip({"a0.npy": _npy(np.arange(3))}),
        "tree not json": _zip({"tree.json": b"{nope"}),
        "tree not an object": _zip({"tree.json": b"[1]"}),
        "structured": _zip({"tree.json": tree, "a0.npy": _npy(np.zeros(2, dtype=[("a", "f8")]))}),
        "not a zip": b"\x80\x04K\x01.",  # a pickle of 1
    }
    for what, data in bad.items():
        with pytest.raises(CodecError):
            decode_message(data)
            pytest.fail(what)


def test_message_files(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    write_message(path, *encode({"a": np.arange(4.0), "b": [1, "x"]}))
    assert not list(tmp_path.glob("*.tmp"))
    back = decode(*read_message(path))
    assert np.array_equal(back["a"], np.arange(4.0)) and back["b"] == [1, "x"]
    assert np.load(path, allow_pickle=False)["a0"].tolist() == [0, 1, 2, 3]  # a plain .npz for numpy too
    link = tmp_path / "link.npz"
    link.symlink_to(path)
    with pytest.raises(CodecError, match="cannot open"):
        read_message(link)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(CodecError, match="not a regular file"):
        read_message(fifo)  # and does not block
    monkeypatch.setattr(codec, "MAX_MESSAGE_BYTES", 100)
    with pytest.raises(CodecError, match="larger than"):
        read_message(path)


# =========================================================================== the agent in a kernel


def test_serve_answers_and_never_raises(tmp_path):
    ns = namespace({"f": "def f(x):\n    return x * 2\n"})
    req, resp = tmp_path / "req.npz", tmp_path / "resp.npz"
    write_message(req, links.request_envelope("lookup", {"name": "f"}), {})
    agent.serve(str(req), str(resp), ns)
    tree, _ = read_message(resp)
    assert tree["ok"] and tree["payload"]["kind"] == "function"
    req.write_bytes(b"garbage")
    agent.serve(str(req), str(resp), ns)
    tree, _ = read_message(resp)
    assert tree["ok"] is False and "not a message" in tree["error"]
    write_message(req, links.request_envelope("call", {"handle": 10**9, "args": None}), {})
    agent.serve(str(req), str(resp), ns)
    assert "unknown handle" in read_message(resp)[0]["error"]
    agent.serve(str(req), str(tmp_path / "missing-dir" / "resp.npz"), ns)  # cannot write: still no exception


KERNEL = r'''
import json, os, sys
main = vars(sys.modules["__main__"])
out = os.fdopen(int(sys.argv[1]), "w")
for line in sys.stdin:
    try:
        exec(compile(json.loads(line), "<kernel cell>", "exec"), main)
        reply = "ok"
    except BaseException as exc:
        reply = "error: " + repr(exc)
    out.write(json.dumps(reply) + "\n")
    out.flush()
'''


class FakeKernel:
    """A Python process standing for the notebook's kernel: it runs code sent on stdin in
    its __main__ namespace and replies on a pipe; run_code implements the executor's part
    of a FileLink (kill on timeout, KernelDied when it is gone)."""

    def __init__(self, workdir: Path):
        r, w = os.pipe()
        self.proc = subprocess.Popen([sys.executable, "-c", KERNEL, str(w)], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, pass_fds=(w,), cwd=workdir, text=True)
        os.close(w)
        self.replies = r
        self.buffer = b""

    def run_code(self, code: str, timeout: float) -> str:
        try:
            self.proc.stdin.write(json.dumps(code) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):  # ValueError: the pipe was closed after a kill
            raise KernelDied("gone") from None
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.replies], [], [], left)[0]:
                self.close()
                raise RemoteTimeout("no answer")
            chunk = os.read(self.replies, 65536)
            if not chunk:
                self.proc.wait()
                raise KernelDied("exited")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        with contextlib.suppress(OSError):
            os.close(self.replies)


@pytest.fixture
def kernel(tmp_path):
    k = FakeKernel(tmp_path)
    yield k
    k.close()


def test_a_real_kernel_process_cannot_tamper_with_the_checks(kernel, tmp_path):
    conv = catalog("convolution")
    bug = next(b for b in conv.BUGS if b.name == "conv_forward_no_bias")
    tamper = textwrap.dedent('''\
        import builtins, numpy as np
        import cnn_course.grading.core as core
        np.allclose = lambda *a, **k: True
        np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, dtype=bool)
        core.compare = lambda *a, **k: None
        core.run_check = lambda *a, **k: print("✓ all passed")
        builtins.print = lambda *a, **k: None
        ''')
    sources = {**conv.CORRECT, "conv_forward": bug.source}
    for src in [tamper] + list(sources.values()):
        assert kernel.run_code(src, 30) == "ok"
    link = FileLink(kernel.run_code, tmp_path)
    result = run_test_cell(CONV_CELL, link, timeout=60)
    assert result.ename == "CheckFailed" and bug.hint in result.evalue, result
    good = run_test_cell(CONV_CELL.replace("conv_forward", "zero_pad"), link, timeout=60)
    assert good.passed and good.output == "✓ zero_pad: 20 hidden cases passed\n"
    assert not list(tmp_path.glob("cnn-agent-*"))


def test_a_real_kernel_that_loops_or_dies(kernel, tmp_path):
    src = textwrap.dedent('''\
        import os

        def spin(x):
            while True:
                try:
                    pass
                except KeyboardInterrupt:
                    pass

        def die(x):
            os._exit(1)
        ''')
    assert kernel.run_code(src, 30) == "ok"
    link = FileLink(kernel.run_code, tmp_path)
    start = time.monotonic()
    result = run_test_cell("spin(1)\n", link, timeout=1.5)
    assert result.ename == "TimeoutError"
    assert re.fullmatch(r"spin did not return within [\d.]+ s \(an infinite loop\?\)", result.evalue), result
    assert time.monotonic() - start < 10
    assert run_test_cell("spin(1)\n", link, timeout=5).ename == "RuntimeError"  # killed: now gone

    fresh = FakeKernel(tmp_path)
    try:
        assert fresh.run_code(src, 30) == "ok"
        result = run_test_cell("die(1)\n", FileLink(fresh.run_code, tmp_path), timeout=30)
        assert result.ename == "RuntimeError"
        assert result.evalue.startswith("the Python kernel crashed while running die")
    finally:
        fresh.close()


class ForgingLink:
    """A kernel that replaced the agent: the lookup is honest, the call's answer is forged."""

    def __init__(self, answer, arrays=None, info=None):
        self.answer, self.arrays, self.info = answer, arrays or {}, info

    def request(self, op, payload, arrays, timeout):
        if op == "lookup":
            return {"kind": "function", "handle": 1, "info": self.info if self.info is not None else {}}, {}
        return self.answer, self.arrays


def _value(node):
    return {"$": "tuple", "v": [node, {"$": "list", "v": []}, None]}


@pytest.mark.parametrize("answer, arrays, info", [
    ({}, None, None),
    ({"value": [1, 2]}, None, None),
    ({"value": {"$": "tuple", "v": [1]}}, None, None),
    ({"value": {"$": "tuple", "v": [1, {"$": "list", "v": [{"$": "tuple", "v": [99, "a", 1]}]}, None]}}, None, None),
    ({"value": _value({"$": "nd", "a": "a0"})}, {"a0": np.array([1, None], dtype=object)}, None),
    ({"value": _value(None), "error": {"type": "ExceptionGroup", "builtin": True, "message": "x"}}, None, None),
    ({"value": _value(None), "error": {"type": "Evil", "bases": 7, "frame": [1, "x", 2, 3]}}, None, None),
    ({"value": _value(None), "error": {"type": "SystemExit", "builtin": True, "message": "bye"}}, None, None),
    ({"value": _value(None)}, None, ["not", "a", "dict"]),
    ({"value": _value(None)}, None, {"code": {"argcount": "many", "varnames": 3}}),
])
def test_forged_answers_fail_the_cell_but_never_the_grader(answer, arrays, info):
    result = run_test_cell("f(1)\n", ForgingLink(answer, arrays, info), timeout=5)
    assert result.ename in (None, "RuntimeError", "ExceptionGroup", "Evil", "SystemExit"), result
    if result.ename in ("ExceptionGroup", "Evil", "SystemExit"):  # a student exception, re-raised as one
        assert isinstance(result.evalue, str)
