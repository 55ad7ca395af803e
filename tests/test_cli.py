"""The ``cnn-course`` command line: help, clear errors, exit statuses."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from _nbgrader_helpers import REPO, TOY_ROOT
from cnn_course.autograde import cli

SUBCOMMANDS = [c.name for c in cli.COMMANDS]


@pytest.fixture
def toy_root(tmp_path):
    """A course root (config + solutions/) holding only the toy assignment."""
    root = tmp_path / "root"
    shutil.copytree(TOY_ROOT / "solutions", root / "solutions")
    shutil.copy(REPO / "nbgrader_config.py", root)
    return root


def test_console_script_help():
    # The console script sits beside the interpreter running the tests (the venv's bin/).
    exe = Path(sys.executable).with_name("cnn-course")
    assert exe.exists(), f"console script not installed at {exe}: pip install -e ."
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for name in SUBCOMMANDS:
        assert name in out.stdout


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_every_subcommand_has_help(sub, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([sub, "--help"])
    assert exc.value.code == 0
    assert f"cnn-course {sub}" in capsys.readouterr().out


def test_no_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([])
    assert exc.value.code == 2


@pytest.mark.parametrize("sub", ["generate", "execute"])
def test_unknown_assignment(sub, toy_root, capsys):
    code = cli.main(["--root", str(toy_root), sub, "07_nonexistent"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert "unknown assignment" in err and "07_nonexistent" in err and "00_toy" in err, err


def test_root_without_config(tmp_path, capsys):
    code = cli.main(["--root", str(tmp_path), "generate"])
    assert code == cli.EXIT_USAGE
    assert "nbgrader_config.py" in capsys.readouterr().err


def test_root_accepted_after_subcommand(toy_root, capsys):
    assert cli.main(["generate", "--root", str(toy_root), "00_toy"]) == 0
    assert (toy_root / "course" / "00_toy" / "00_toy.ipynb").is_file()
    assert cli.main(["check-sync", "--root", str(toy_root)]) == 0


def test_generate_records_the_assignment_in_the_gradebook(toy_root, tmp_path, monkeypatch, capsys):
    """`generate --gradebook` fills the configured gradebook, as `nbgrader autograde` needs."""
    from nbgrader.api import Gradebook

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # where the config puts the gradebook
    assert cli.main(["--root", str(toy_root), "generate", "--gradebook", "00_toy"]) == 0
    db = tmp_path / "cache" / "cnn-course" / "gradebook.db"
    assert "recorded 00_toy" in capsys.readouterr().out
    with Gradebook(f"sqlite:///{db}") as gb:
        notebook = gb.find_notebook("00_toy", "00_toy")
        assert {c.name for c in notebook.grade_cells} >= {"test_relu", "test_count_positive"}
        # the hidden tests are stored, so autograding can put them back
        (test_relu,) = [c for c in notebook.source_cells if c.name == "test_relu"]
        assert "BEGIN HIDDEN TESTS" in test_relu.source
    assert cli.main(["check-sync", "--root", str(toy_root)]) == 0  # course/ is the same either way


def test_full_generate_removes_stale_topics(toy_root, capsys):
    (toy_root / "course" / "98_removed_topic").mkdir(parents=True)
    assert cli.main(["--root", str(toy_root), "generate"]) == 0
    assert not (toy_root / "course" / "98_removed_topic").exists()
    assert "removed" in capsys.readouterr().out


def test_validate_malformed_notebook(tmp_path, toy_root, capsys):
    bad = tmp_path / "broken.ipynb"
    bad.write_text('{"cells": [ this is not json')
    code = cli.main(["--root", str(toy_root), "validate", str(bad)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert "broken.ipynb" in err and "not appear to be JSON" in err, err


def test_validate_not_a_notebook(tmp_path, toy_root, capsys):
    code = cli.main(["--root", str(toy_root), "validate", str(tmp_path / "missing.ipynb")])
    assert code == cli.EXIT_USAGE
    assert "no such notebook" in capsys.readouterr().err


def test_validate_exit_status(toy_root, capsys):
    """Stock `nbgrader validate` exits 0 when tests fail; ours exits 1 and names the cells."""
    assert cli.main(["--root", str(toy_root), "generate"]) == 0
    release = toy_root / "course" / "00_toy" / "00_toy.ipynb"
    solution = toy_root / "solutions" / "00_toy" / "00_toy.ipynb"
    code = cli.main(["--root", str(toy_root), "validate", "--timeout", "30", str(release), str(solution)])
    out = capsys.readouterr().out
    assert code == cli.EXIT_FAILED
    assert f"FAIL {release}" in out and f"PASS {solution}" in out, out
    assert "NotImplementedError" in out and "relu([-1, 2]) should be [0, 2]" in out, out


def test_execute_writes_fresh_outputs(toy_root, capsys):
    nb_path = toy_root / "solutions" / "00_toy" / "00_toy.ipynb"
    assert cli.main(["--root", str(toy_root), "execute", "00_toy"]) == 0
    nb = nbformat.read(nb_path, as_version=4)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), counts
    assert all("execution" not in c.metadata for c in nb.cells), "timing metadata would churn every commit"


def test_execute_stores_figures_even_under_agg(toy_root, monkeypatch):
    """MPLBACKEND=Agg in the caller's environment (the tests' own setting) must not cost the
    committed notebooks their pictures: the kernel draws with Jupyter's inline backend."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb_path = toy_root / "solutions" / "00_toy" / "00_toy.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1])\nplt.close(fig)\nfig",
        id="figure"))
    nbformat.write(nb, nb_path)
    assert cli.main(["--root", str(toy_root), "execute", "00_toy"]) == 0
    outputs = nbformat.read(nb_path, as_version=4).cells[-1].outputs
    assert any("image/png" in o.get("data", {}) for o in outputs), outputs


def test_execute_reports_a_raising_cell(toy_root, capsys):
    nb_path = toy_root / "solutions" / "00_toy" / "00_toy.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('boom in the last cell')", id="boom"))
    nbformat.write(nb, nb_path)
    before = nb_path.read_text()
    assert cli.main(["--root", str(toy_root), "execute"]) == cli.EXIT_FAILED
    assert "boom in the last cell" in capsys.readouterr().err
    assert nb_path.read_text() == before, "a failed execution must not overwrite the notebook"


@pytest.mark.parametrize("result, reason", [
    # nbgrader's own failure: its exception line, not the traceback above it
    ({"success": False, "log": "[INFO] Sanitizing\n[ERROR] There was an error processing assignment\n",
      "error": "Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n    raise RuntimeError(...)\n"
               "RuntimeError: No end hidden tests statement found\n"},
     "nbgrader could not generate feedback: RuntimeError: No end hidden tests statement found"),
    # an [ERROR] line that goes on into a traceback keeps only the sentence
    ({"success": False, "log": "[ERROR] Kernel died " + "x " * 300 + "Traceback (most recent call last): boom\n"},
     "nbgrader could not generate feedback: Kernel died " + " ".join(["x"] * 94) + " …"),
])
def test_nbgrader_failures_read_as_one_sentence(result, reason):
    from cnn_course.autograde.gradebook import _nbgrader_reason

    got = _nbgrader_reason(result).replace("could not grade it", "could not generate feedback")
    assert got == reason and "\n" not in got and len(got) < 300
