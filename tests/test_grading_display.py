"""In a notebook, a failed check shows its message, not the grader's traceback."""

import nbformat
from nbclient import NotebookClient

WRONG_ZERO_PAD = """\
import numpy as np

def zero_pad(X, pad):
    return np.pad(X, pad)   # pads every axis, the batch and channel axes too
"""


def test_failed_check_is_shown_as_its_message_only():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(WRONG_ZERO_PAD),
        nbformat.v4.new_code_cell("from cnn_course.grading import convolution as check\ncheck.zero_pad(zero_pad)"),
        nbformat.v4.new_code_cell("raise ValueError('an ordinary error keeps its traceback')"),
    ])
    NotebookClient(nb, allow_errors=True, kernel_name="python3", timeout=120).execute()

    (err,) = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert err.ename == "CheckFailed"
    assert err.evalue.startswith("zero_pad failed visible case 1"), err.evalue
    assert "expected" in err.evalue and "Hint:" in err.evalue, err.evalue
    assert len(err.traceback) == 1, f"expected the message alone, got {len(err.traceback)} entries"
    assert "grading/core.py" not in err.traceback[0]

    (other,) = [o for o in nb.cells[2].outputs if o.output_type == "error"]
    assert other.ename == "ValueError" and len(other.traceback) > 1, "other exceptions must be shown as usual"
