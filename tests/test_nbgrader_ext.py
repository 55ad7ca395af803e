"""Tests of the autograder's executor (cnn_course.autograde.executor, .outputs,
.preprocessors, .course): the feedback clean-up and notebook helpers (no kernel), and
SandboxedExecute on the toy assignment, one failure mode at a time."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from _nbgrader_helpers import TEST_SANDBOX_UID, TOY_ROOT, solution_sources
from cnn_course.autograde.course import REVIEW_KEY, canonical_notebook, hidden_test_lines
from cnn_course.autograde.executor import SandboxedExecute
from cnn_course.autograde.outputs import _OutputCollector
from cnn_course.autograde.preprocessors import HideHiddenTestTracebacks
from cnn_course.autograde.sandbox import processes_of_uid, sandbox_mode

RED, RESET = "\x1b[0;31m", "\x1b[0m"
TEST_SOURCE = (
    "check(f)  # visible\n"
    "### BEGIN HIDDEN TESTS\n"
    "secret_input = make_tricky_case(seed=11)\n"
    "check(f, secret_input)\n"
    "### END HIDDEN TESTS"
)


def _failing_cell(source=TEST_SOURCE, count=5):
    cell = new_code_cell(source, execution_count=count)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "test_f", "points": 1, "solution": False, "locked": True}
    tb = [
        f"{RED}---------------------------------------------------------------------------{RESET}",
        f"{RED}AssertionError{RESET}                            Traceback (most recent call last)",
        f"Cell {RED}In[{count}], line 4{RESET}\n      2 secret_input = make_tricky_case(seed=11)\n----> 4 check(f, secret_input)",
        "Cell In[2], line 3, in f(x)\n      1 def f(x):\n----> 3     return x.ravel()",
        "File /site-packages/cnn_course/grading/core.py:40, in check(fn, x)\n---> 40 raise AssertionError(msg)",
        f"{RED}AssertionError{RESET}: f must keep the shape (2, 3)",
    ]
    cell.outputs = [
        new_output("stream", name="stderr", text="warning at line 3:\n  check(f, secret_input)\nsomething else\n"),
        new_output("error", ename="AssertionError", evalue="f must keep the shape (2, 3)", traceback=tb),
    ]
    return cell


def _run(cell):
    nb = new_notebook(cells=[cell])
    nb, _ = HideHiddenTestTracebacks().preprocess(nb, {})
    return nb.cells[0]


def test_hidden_test_lines():
    assert hidden_test_lines(TEST_SOURCE) == ["secret_input = make_tricky_case(seed=11)", "check(f, secret_input)"]
    assert hidden_test_lines("x = 1\ncheck(x)") == []


def test_traceback_keeps_message_and_other_frames_but_not_the_test_cell():
    cell = _run(_failing_cell())
    stream, error = cell.outputs
    text = "\n".join(error.traceback)
    assert "make_tricky_case" not in text and "secret_input" not in text
    assert "In[5]" not in text
    assert "f must keep the shape (2, 3)" in error.traceback[-1]
    assert "def f(x):" in text, "the student's own frame is useful feedback and must stay"
    assert "grading/core.py" in text
    assert HideHiddenTestTracebacks().notice in text
    assert "secret_input" not in stream.text and "something else" in stream.text


def test_cell_without_hidden_tests_is_untouched():
    cell = _failing_cell(source="check(f)\ncheck(f, 2)")
    before = nbformat.from_dict(cell)
    assert _run(cell) == before


def test_message_survives_even_when_every_entry_is_dropped():
    cell = _failing_cell()
    cell.outputs[1].traceback = ["Cell In[5], line 4\n----> 4 check(f, secret_input)"]
    error = _run(cell).outputs[1]
    assert error.traceback[-1] == "AssertionError: f must keep the shape (2, 3)"


def test_canonical_notebook_is_deterministic_and_drops_run_noise():
    def make():
        nb = new_notebook(cells=[new_markdown_cell("# t"), new_code_cell("x = 1")])
        for c in nb.cells:
            c.pop("id", None)
        nb.cells[1].metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00"}
        nb.cells[1].metadata["nbgrader"] = {"grade_id": "answer x", "solution": True}
        nb.metadata["widgets"] = {"state": {}}
        return nb

    a, b = canonical_notebook(make()), canonical_notebook(make())
    assert a == b and a.endswith("\n")
    nb = nbformat.reads(a, as_version=4)
    assert [c.id for c in nb.cells] == ["cell-0", "answer-x"]
    assert "execution" not in nb.cells[1].metadata and "widgets" not in nb.metadata
    nbformat.validate(nb)


# --------------------------------------------------------------------------- SandboxedExecute
#
# Each test grades a copy of the toy assignment's *instructor* notebook (hidden tests in
# its test cells, as nbgrader's autograde has them after OverwriteCells) with answers
# swapped in, calling the executor directly: no gradebook, small timeouts, one kernel
# start or a few per test. The end-to-end runs through nbgrader are test_pipeline_*.py.

TOY_SOURCE = TOY_ROOT / "solutions" / "00_toy" / "00_toy.ipynb"
UID = TEST_SANDBOX_UID + 1  # not the pipeline tests' uid: they may run at the same time
CELL_TIMEOUT = 4
MODE = sandbox_mode("auto")


def _gid(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def toy(answers: dict | None = None, extra: dict | None = None):
    """The toy instructor notebook with the solutions (or ``answers``) in its answer cells;
    ``extra`` = {grade_id: source} adds a student code cell right after that cell."""
    nb = nbformat.read(TOY_SOURCE, as_version=4)
    sources = {**solution_sources(nb), **(answers or {})}
    cells = []
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell.source = sources[_gid(cell)]
        cells.append(cell)
        if extra and _gid(cell) in extra:
            cells.append(new_code_cell(extra[_gid(cell)]))
    nb.cells = cells
    return nb


def grade(nb, folder: Path, **traits):
    """Run SandboxedExecute on ``nb`` as nbgrader would, with ``folder`` as the submission
    folder; returns (notebook, executor). Checks that nothing is left behind."""
    folder.mkdir(parents=True, exist_ok=True)
    traits = {"timeout": CELL_TIMEOUT, "interrupt_grace": 2.0, "sandbox_uid": UID, "startup_timeout": 60,
              **traits}
    ex = SandboxedExecute(**traits)
    before = set(Path(ex.workdir_root).glob(f"{UID}-*")) if Path(ex.workdir_root).exists() else set()
    nb, _ = ex.preprocess(copy.deepcopy(nb), {"metadata": {"path": str(folder)}})
    assert set(Path(ex.workdir_root).glob(f"{UID}-*")) <= before, "the work dir was not removed"
    assert not processes_of_uid(UID), "processes of the sandbox survived the notebook"
    return nb, ex


def outputs(nb, gid):
    (cell,) = [c for c in nb.cells if _gid(c) == gid]
    return cell.outputs


def errors(nb, gid):
    return [(o.ename, o.evalue) for o in outputs(nb, gid) if o.output_type == "error"]


def cell_after(nb, gid):
    i = [k for k, c in enumerate(nb.cells) if _gid(c) == gid][0]
    return nb.cells[i + 1]


def test_correct_toy_passes_and_test_cells_hold_only_the_verdict(tmp_path):
    noisy = "def relu(x):\n    print('relu was called')\n    return np.maximum(x, 0.0)"
    nb, ex = grade(toy({"relu": noisy}), tmp_path / "sub")
    for gid in ("test_relu", "test_count_positive"):
        assert errors(nb, gid) == [], errors(nb, gid)
        # what the student's function printed in the kernel never reaches a test cell
        assert all("relu was called" not in o.get("text", "") for o in outputs(nb, gid))
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))
    assert nb.metadata.language_info["name"] == "python"
    assert ex._restarts == 0


def test_failing_check_becomes_one_error_output_with_the_message(tmp_path):
    nb, _ = grade(toy({"relu": "def relu(x):\n    return np.maximum(x, 0.0).ravel()"}), tmp_path / "sub")
    (out,) = outputs(nb, "test_relu")
    assert (out.output_type, out.ename, out.evalue) == ("error", "AssertionError", "relu must keep the input's shape")
    assert out.traceback == ["AssertionError: relu must keep the input's shape"]
    assert errors(nb, "test_count_positive") == []


def test_hidden_tests_never_reach_the_kernel_and_the_workdir_holds_no_notebook(tmp_path):
    """A student cell logs every piece of code the kernel is given (an IPython input
    transformer sees silent requests too) and lists its work dir."""
    folder = tmp_path / "course" / "autograded" / "alice" / "00_toy"
    folder.mkdir(parents=True)
    nbformat.write(toy(), folder / "00_toy.ipynb")  # the notebook, hidden tests included
    (folder / "gradebook.db").write_text("secret grades")
    (folder / "data.txt").write_text("data for the notebook")
    (folder / "sub").mkdir()
    (folder / "sub" / "more.csv").write_text("1,2")
    (folder / "passwd").symlink_to("/etc/passwd")
    (tmp_path / "course" / "gradebook.db").write_text("the real gradebook")
    spy = (
        "import pathlib\n"
        "def _spy(lines):\n"
        "    with open('/tmp/seen.log', 'a') as f:\n"
        "        f.write(''.join(lines) + '\\n')\n"
        "    return lines\n"
        "get_ipython().input_transformers_cleanup.append(_spy)"
    )
    report = (
        "import os, json\n"
        "files = sorted(os.path.relpath(os.path.join(d, f)) for d, _, fs in os.walk('.') for f in fs)\n"
        f"near = [os.path.exists(p) for p in ('../gradebook.db', '../../../gradebook.db', {str(tmp_path)!r})]\n"
        "print(json.dumps({'cwd': os.getcwd(), 'files': files, 'near': near}))\n"
        "print(open('/tmp/seen.log').read())"
    )
    src = nbformat.read(TOY_SOURCE, as_version=4)
    hidden = [line for c in src.cells for line in hidden_test_lines(c.source)]
    assert hidden
    # static_analysis off: the spy is tampering, and the point is to see the judge at work
    nb, _ = grade(toy(extra={"imports": spy, "test_count_positive": report}), folder, static_analysis=False)
    assert errors(nb, "test_relu") == [] and errors(nb, "test_count_positive") == []
    (out,) = [o for o in cell_after(nb, "test_count_positive").outputs if o.output_type == "stream"]
    first, seen = out.text.split("\n", 1)
    listing = json.loads(first)
    assert "__cnn_agent__.serve" in seen, "the spy did not see the judge's requests"
    assert "def relu(x)" in seen
    leaked = [line for line in hidden if line in seen]
    assert not leaked, f"hidden test lines were sent to the kernel: {leaked}"
    assert "expect(" not in seen, "test-cell code was sent to the kernel"
    files = listing["files"]
    assert "data.txt" in files and "sub/more.csv" in files, files
    assert not [f for f in files if f.endswith(".ipynb") or "gradebook" in f or f == "passwd"], files
    assert listing["cwd"] != str(folder) and listing["cwd"].startswith(SandboxedExecute().workdir_root)
    if MODE == "bwrap":
        assert listing["near"] == [False, False, False], "the sandbox sees the course folder"


def test_loop_in_a_graded_function_costs_its_test_only(tmp_path):
    """The judge's call times out, the interrupt brings the kernel back: no restart."""
    nb, ex = grade(toy({"relu": "def relu(x):\n    while True:\n        pass"}), tmp_path / "sub")
    ((ename, evalue),) = errors(nb, "test_relu")
    assert ename == "TimeoutError" and "relu did not return within" in evalue
    assert errors(nb, "test_count_positive") == []
    assert ex._restarts == 0


def test_swallowed_interrupt_kills_the_sandbox_and_replays_the_cells_before(tmp_path):
    hang = ("import time\nwhile True:\n    try:\n        time.sleep(0.05)\n"
            "    except KeyboardInterrupt:\n        pass")
    t0 = time.monotonic()
    nb, ex = grade(toy(extra={"test_relu": hang}), tmp_path / "sub")
    (ename, evalue), = [(o.ename, o.evalue) for o in cell_after(nb, "test_relu").outputs if o.output_type == "error"]
    assert ename == "CellTimeoutError" and f"within {CELL_TIMEOUT} s" in evalue and "restarted" in evalue
    assert ex._restarts == 1
    # count_positive's cell ran in the fresh kernel and needs the replayed `np` import
    assert errors(nb, "test_relu") == [] and errors(nb, "test_count_positive") == []
    assert time.monotonic() - t0 < 60


def test_crash_in_a_cell_and_in_a_graded_function(tmp_path):
    segfault = "import ctypes\n\ndef count_positive(x):\n    return ctypes.string_at(0)"
    nb, ex = grade(toy({"count_positive": segfault}, extra={"test_relu": "import os\nos._exit(3)"}), tmp_path / "s")
    ((ename, evalue),) = [(o.ename, o.evalue) for o in cell_after(nb, "test_relu").outputs]
    assert ename == "KernelDied" and "exit code 3" in evalue
    ((ename, evalue),) = errors(nb, "test_count_positive")
    assert ename == "KernelDied" and "crashed while running count_positive" in evalue and "SIGSEGV" in evalue
    assert errors(nb, "test_relu") == []
    assert ex._restarts == 2


def test_memory_bomb_sleep_and_fork_bomb(tmp_path):
    fork_bomb = (
        "import os, time\n"
        "for _ in range(1000):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(10**6)\n"
        "    except OSError:\n"
        "        break"
    )
    answers = {
        "relu": "def relu(x):\n    return np.ones(10**11) * x",
        "count_positive": "import time\n\ndef count_positive(x):\n    time.sleep(10**6)",
    }
    nb, ex = grade(toy(answers, extra={"imports": fork_bomb}), tmp_path / "sub", sandbox_processes=64)
    # the bomb's children were killed (grade() checks that none survives), the sandbox
    # restarted and the cells before replayed without the bomb
    assert [o.ename for o in cell_after(nb, "imports").outputs] == ["ProcessesLeftRunning"]
    assert ex._restarts == 1
    ((ename, evalue),) = errors(nb, "test_relu")
    assert ename == "MemoryError", (ename, evalue)
    ((ename, evalue),) = errors(nb, "test_count_positive")
    assert ename == "TimeoutError" and "count_positive did not return" in evalue


def test_output_flood_is_capped_while_it_arrives(tmp_path):
    flood = (  # many messages: each flush and each display is one
        "import sys\n"
        "for i in range(2000):\n"
        "    print('line', i, 'x' * 200, flush=True)\n"
        "for i in range(300):\n"
        "    display(i)"
    )
    # one message larger than max_message_bytes: ZeroMQ drops it (and the connection,
    # which comes back) instead of handing the grader a huge string
    big = "import sys\nsys.stdout.write('y' * 3_000_000)\nsys.stdout.flush()"
    after = solution_sources(nbformat.read(TOY_SOURCE, as_version=4))["count_positive"] + "\nprint('still here')"
    nb, ex = grade(toy({"count_positive": after}, extra={"relu": flood, "test_relu": big}), tmp_path / "sub",
                   max_message_bytes=2**20, max_outputs=20, max_output_chars=10_000)
    outs = cell_after(nb, "relu").outputs
    text = "".join(o.get("text", "") for o in outs if o.output_type == "stream")
    assert len(text) < 10_000 + 500 and "output cut" in text and "more output(s) dropped" in text, text[-500:]
    assert len(outs) <= 21
    text = "".join(o.get("text", "") for o in cell_after(nb, "test_relu").outputs)
    assert len(text) < 10_000 + 500
    # the connection came back: the next cell's output arrives
    assert [o.text for o in outputs(nb, "count_positive")] == ["still here\n"]
    assert errors(nb, "test_relu") == [] and errors(nb, "test_count_positive") == []


def test_many_oversized_messages_do_not_abort_the_grader(tmp_path):
    # Oversized frames interleaved with small ones: each drop must be survived. Reusing a
    # dropped socket (disconnect + connect) made libzmq abort the whole grader process
    # ("Assertion failed: !_more (src/fq.cpp:80)"), so the grading runs in a child process
    # and the test reads its exit status.
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import nbformat
        from test_nbgrader_ext import TOY_SOURCE, errors, grade, outputs, solution_sources, toy
        big = ("import sys\\nfor i in range(40):\\n"
               "    sys.stdout.write('y' * 1_500_000); sys.stdout.flush()\\n"
               "    print('small', i, flush=True)\\n")
        after = (solution_sources(nbformat.read(TOY_SOURCE, as_version=4))["count_positive"]
                 + "\\nprint('still here')")
        for k in range(3):
            nb, _ = grade(toy({{"count_positive": after}}, extra={{"relu": big, "test_relu": big}}),
                          Path({str(tmp_path)!r}) / f"s{{k}}", max_message_bytes=2**20,
                          max_outputs=20, max_output_chars=10_000)
            print([o.get("text") for o in outputs(nb, "count_positive")], errors(nb, "test_count_positive"))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"the grader process died ({proc.returncode}): {proc.stderr[-2000:]}"
    assert proc.stdout.splitlines() == ["['still here\\n'] []"] * 3, proc.stdout


def test_restart_cap_and_notebook_budget(tmp_path):
    crash = "import os\nos._exit(1)"
    nb, ex = grade(toy(extra={"imports": crash, "relu": crash}), tmp_path / "a", max_restarts=1)
    assert ex._restarts == 1
    for gid in ("test_relu", "test_count_positive"):
        ((ename, evalue),) = errors(nb, gid)
        assert ename == "NotRun" and "crashed or hung 1 times" in evalue
    nb, ex = grade(toy(extra={"imports": "import time\ntime.sleep(2.5)"}), tmp_path / "b",
                   notebook_timeout=3)
    for gid in ("test_relu", "test_count_positive"):
        ((ename, evalue),) = errors(nb, gid)
        assert ename == "NotRun" and "time budget of 3 s" in evalue, evalue


def test_tests_after_tampering_are_graded_and_flagged_for_review(tmp_path):
    nb, _ = grade(toy(extra={"test_relu": "import gc\ngc.collect()"}), tmp_path / "sub")
    assert errors(nb, "test_relu") == [] and errors(nb, "test_count_positive") == []  # the verdicts stand
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_count_positive"]
    note = cell.outputs[0]
    assert note.output_type == "stream" and ("needs review: its checks passed, but your notebook interferes with "
                                             "the grader.") in note.text.splitlines()[0]
    assert "gc" in note.text
    (entry,) = nb.metadata[REVIEW_KEY]
    assert entry["grade_id"] == "test_count_positive" and entry["passed"] is True
    assert entry["reason"] == "tampering in cell 6 line 1 (gc, gc.collect)"


def test_a_forged_review_list_is_replaced_by_the_graders(tmp_path):
    sub = toy()
    sub.metadata[REVIEW_KEY] = [{"grade_id": "test_relu", "reason": "forged", "passed": False}]
    nb, _ = grade(sub, tmp_path / "sub")
    assert REVIEW_KEY not in nb.metadata


def test_output_collector_caps_text_and_cleans_progress_bars():
    def msg(kind, **content):
        return {"header": {"msg_type": kind}, "msg_type": kind, "content": content, "parent_header": {}}

    c = _OutputCollector(max_chars=100, max_outputs=3, max_rich_bytes=50, execution_count=7)
    for i in range(10):
        c.add(msg("stream", name="stdout", text=f"\r{i * 10}%"))
    c.add(msg("stream", name="stdout", text="\rdone\n"))
    assert c.outputs[0].text == "done\n"
    c.add(msg("stream", name="stdout", text="a" * 500))
    assert c.chars == 100 and c.dropped_chars == 405
    c.add(msg("execute_result", data={"text/plain": "1"}, metadata={}, execution_count=99))
    assert c.outputs[-1].execution_count == 7
    c.add(msg("display_data", data={"image/png": "A" * 100}, metadata={}))  # over max_rich_bytes
    c.add(msg("error", ename="ValueError", evalue="bad", traceback=["x" * 5000, "ValueError: bad"]))
    c.add(msg("stream", name="stderr", text="late"))  # over max_outputs
    c.add(msg("clear_output", wait=True))
    out = c.finish()
    assert [o.output_type for o in out] == ["stream", "execute_result", "error", "stream"]
    assert out[2].traceback == ["ValueError: bad"]
    # "late" is text over the budget; the image is an output over the rich-data budget
    assert "at least 409 more were dropped" in out[-1].text and "1 more output(s) dropped" in out[-1].text
    c = _OutputCollector(max_chars=100, max_outputs=3, max_rich_bytes=50, execution_count=1)
    c.add(msg("stream", name="stdout", text="old"))
    c.add(msg("clear_output", wait=True))
    c.add(msg("stream", name="stdout", text="new"))
    assert [o.text for o in c.finish()] == ["new"]


def test_a_notebook_cannot_lock_the_judge_out(tmp_path):
    """A function that makes the work dir and the agent's folder read-only (and plants
    links there) loses its own test; the next test is judged normally."""
    lockout = (
        "import os\n\n"
        "def relu(x):\n"
        "    for top, dirs, files in os.walk(os.getcwd()):\n"
        "        for d in dirs:\n"
        "            os.chmod(os.path.join(top, d), 0o555)\n"
        "    os.chmod(os.getcwd(), 0o555)\n"
        "    return np.maximum(x, 0.0)"
    )
    target = tmp_path / "outside"
    target.mkdir()
    plant = f"import os\nos.rename('.grader', 'old')\nos.symlink({str(target)!r}, '.grader')\nprint('planted')"
    nb, _ = grade(toy({"relu": lockout}, extra={"relu": plant}), tmp_path / "sub")
    assert [o.get("text") for o in cell_after(nb, "relu").outputs] == ["planted\n"]
    assert not list(target.iterdir()), "the grader wrote through the student's link"
    ((ename, evalue),) = errors(nb, "test_relu")
    assert "could not run" in evalue and "relu" in evalue, (ename, evalue)
    assert errors(nb, "test_count_positive") == []


def test_files_the_notebook_writes_cannot_replace_the_restarted_kernel(tmp_path):
    """Modules written to the work dir stay importable by the notebook, but do not
    shadow the kernel's own modules when it is started again after a crash."""
    plant = (
        "for name in ('ipykernel_launcher', 'zmq', 'json'):\n"
        "    open(name + '.py', 'w').write('import time\\ntime.sleep(1000)\\n')\n"
        "open('helper.py', 'w').write('def relu(x):\\n    return x * (x > 0)\\n')\n"
        "import os\n"
        "os._exit(1)"
    )
    answers = {"relu": "from helper import relu"}
    # (static analysis off: it rejects imports of modules the notebook wrote itself)
    nb, ex = grade(toy(answers, extra={"imports": plant}), tmp_path / "sub", startup_timeout=20,
                   static_analysis=False)
    assert [o.ename for o in cell_after(nb, "imports").outputs] == ["KernelDied"]
    assert ex._restarts == 1
    assert errors(nb, "test_relu") == [] and errors(nb, "test_count_positive") == []


FILL = ("written = 0\n"
        "for i in range(80):  # 80 files of 63 MiB: 4.9 GiB, on the grading host without a bound\n"
        "    with open(f'fill{i}.bin', 'wb') as f:\n"
        "        f.write(b'\\0' * (63 * 2**20))\n"
        "    written += 1\n")


def test_a_submission_filling_its_work_dir_costs_only_that_cell(tmp_path):
    from cnn_course.autograde.sandbox import probe_bwrap

    assert probe_bwrap() is None, "the work dir's size limit is a tmpfs mounted for the bwrap sandbox"
    nb, ex = grade(toy(extra={"test_relu": FILL}), tmp_path / "sub", sandbox_work_bytes=128 * 2**20)
    filler = cell_after(nb, "test_relu")
    text = "".join(o.get("text", "") + o.get("evalue", "") for o in filler.outputs)
    assert "No space left on device" in text and "filled its work dir (128 MiB)" in text, text
    assert errors(nb, "test_relu") == [] and errors(nb, "test_count_positive") == []  # grading went on
    assert ex._restarts == 1
    assert not list(Path(ex.workdir_root).glob(f"{UID}-*"))  # unmounted and removed
