"""Hidden tests draw new cases for every submission (cnn_course/autograde/seeds.py)."""

from __future__ import annotations

import copy

import nbformat
import pytest

from cnn_course.autograde import seeds
from cnn_course.autograde.executor import SandboxedExecute

from test_nbgrader_ext import UID, errors, outputs, toy

CELL = ("check.conv_forward(conv_forward)\n"
        "### BEGIN HIDDEN TESTS\n"
        "check.conv_forward(conv_forward, hidden=True, seed=104)  # é: columns are bytes\n"
        "check.pool_forward(pool_forward, mode=\"max\", hidden=True,\n"
        "                   seed=106)\n"
        "f(seed=True, other=3)\n"
        "### END HIDDEN TESTS\n")


def _key(student="alice", secret="s3cret", cells=("a = 1",)):
    return seeds.submission_key(secret, student, nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in cells]))


def test_only_the_seed_literals_change():
    key = _key()
    out = seeds.reseed_source(CELL, key, "test_conv_forward")
    a, b = seeds.derive(key, "test_conv_forward", 104), seeds.derive(key, "test_conv_forward", 106)
    assert out == CELL.replace("seed=104", f"seed={a}").replace("seed=106", f"seed={b}")
    assert len(out.splitlines()) == len(CELL.splitlines()) and 0 <= a < 2**31 and a != b


@pytest.mark.parametrize("other", [
    dict(student="bob"),  # another student
    dict(cells=("a = 2",)),  # the same student's next submission
    dict(secret="another course"),
])
def test_recorded_cases_are_worthless_elsewhere(other):
    assert seeds.derive(_key(), "t", 104) != seeds.derive(_key(**other), "t", 104)


def test_the_same_submission_draws_the_same_cases():
    assert seeds.derive(_key(), "t", 104) == seeds.derive(_key(), "t", 104)
    assert seeds.reseed_source("x = 1\n", _key(), "t") == "x = 1\n"
    assert seeds.reseed_source("def (:\n", _key(), "t") == "def (:\n"  # the judge reports syntax errors


def test_the_secret_comes_from_the_environment_or_a_private_file(tmp_path, monkeypatch):
    monkeypatch.setenv(seeds.SECRET_ENV, "from-env")
    assert seeds.course_secret() == "from-env"
    monkeypatch.delenv(seeds.SECRET_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    first = seeds.course_secret()
    path = tmp_path / "cnn-course" / seeds.SECRET_FILE
    assert len(first) == 64 and path.stat().st_mode & 0o077 == 0
    assert seeds.course_secret() == first  # kept


def test_the_grader_runs_hidden_tests_with_the_submissions_seeds(tmp_path, monkeypatch):
    monkeypatch.setenv(seeds.SECRET_ENV, "test-secret")
    nb = toy()
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_count_positive"]
    cell.source += "\n### BEGIN HIDDEN TESTS\nprint('seed', dict(seed=7)['seed'])\n### END HIDDEN TESTS\n"

    def run(student):
        ex = SandboxedExecute(timeout=60, sandbox_uid=UID, startup_timeout=60)
        (tmp_path / student).mkdir()
        resources = {"metadata": {"path": str(tmp_path / student)}, "nbgrader": {"student": student}}
        graded, _ = ex.preprocess(copy.deepcopy(nb), resources)
        assert errors(graded, "test_count_positive") == []
        return "".join(o.get("text", "") for o in outputs(graded, "test_count_positive"))

    alice = run("alice")
    key = seeds.submission_key("test-secret", "alice", nb)
    assert f"seed {seeds.derive(key, 'test_count_positive', 7)}" in alice
    assert "seed 7\n" not in alice and alice != run("bob")
