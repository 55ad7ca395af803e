"""Unit tests of cnn_course.nbgrader_ext that need no kernel."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cnn_course.nbgrader_ext import HideHiddenTestTracebacks, canonical_notebook, hidden_test_lines

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
