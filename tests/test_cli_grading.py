"""The instructor loop of ``cnn-course``: collect, autograde (parallel, resumable), export,
feedback, on the toy course (tests/fixtures/toy_course) in a throw-away root with its own
SQLite gradebook."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from _nbgrader_helpers import REPO, TOY_ROOT, fill_answers, hidden_lines, html_text, solution_sources, squash
from cnn_course.autograde import cli, gradebook, workers

A = "00_toy"
NB = "00_toy"

# Answer cells of the toy notebook, by student.
# passes the visible test only; its comment is nbgrader's marker text, harmless outside test cells
WRONG_SHAPE_RELU = "def relu(x):\n    # BEGIN HIDDEN TESTS, said the student\n    return np.maximum(np.ravel(x), 0.0)"
SLEEPY_RELU = "import time\ntime.sleep(120)\n\ndef relu(x):\n    return np.maximum(x, 0.0)"


def _answers(sol: dict) -> dict[str, dict[str, str]]:
    return {
        "correct": sol,
        "empty": {},
        "partial": {"relu": sol["relu"]},
        "wrong": {"relu": WRONG_SHAPE_RELU, "count_positive": sol["count_positive"]},
    }


SCORES = {"correct": (3, 3), "empty": (0, 3), "partial": (2, 3), "wrong": (1, 3)}
CELLS = {
    "correct": {"test_relu": 2, "test_count_positive": 1},
    "empty": {"test_relu": 0, "test_count_positive": 0},
    "partial": {"test_relu": 2, "test_count_positive": 0},
    "wrong": {"test_relu": 0, "test_count_positive": 1},
}


# --------------------------------------------------------------------------- fixtures

UID_BASE = 61120  # this file's sandbox uids, apart from other suites' that may run at the same time


@pytest.fixture(scope="module", autouse=True)
def _own_sandbox_uids():
    old = os.environ.get(workers.SANDBOX_UID_ENV)
    os.environ[workers.SANDBOX_UID_ENV] = str(UID_BASE)
    yield
    if old is None:
        os.environ.pop(workers.SANDBOX_UID_ENV, None)
    else:
        os.environ[workers.SANDBOX_UID_ENV] = old



@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A course root with the toy assignment generated (course/) and recorded in a
    gradebook; the tests copy it."""
    tmp = tmp_path_factory.mktemp("base")
    root = tmp / "root"
    shutil.copytree(TOY_ROOT / "solutions", root / "solutions")
    shutil.copy(REPO / "nbgrader_config.py", root)
    db = tmp / "gradebook.db"
    cli.generate_release(root, [A], root / "course")
    gradebook.assignment_info(gradebook.open_course(root, f"sqlite:///{db}"), A, create=True)
    release = nbformat.read(root / "course" / A / f"{NB}.ipynb", as_version=4)
    sol = solution_sources(nbformat.read(root / "solutions" / A / f"{NB}.ipynb", as_version=4))
    return tmp, release, _answers(sol)


class Setup:
    def __init__(self, tmp: Path, base):
        src, self.release, self.answers = base
        self.tmp = tmp
        shutil.copytree(src / "root", tmp / "root")
        shutil.copy(src / "gradebook.db", tmp / "gradebook.db")
        self.root, self.db_path = tmp / "root", tmp / "gradebook.db"
        self.db = f"sqlite:///{self.db_path}"
        self.inbox = tmp / "inbox"
        self.inbox.mkdir()

    def args(self, *extra) -> list[str]:
        return ["--root", str(self.root), "--db-url", self.db, *map(str, extra)]

    def write(self, student: str, answers: dict | None = None, folder: Path | None = None) -> Path:
        nb = fill_answers(self.release, self.answers[student] if answers is None else answers)
        path = (folder or self.inbox) / f"{student}.ipynb"
        nbformat.write(nb, path)
        return path

    def sql(self, query: str) -> list[tuple]:
        con = sqlite3.connect(self.db_path)
        try:
            return con.execute(query).fetchall()
        finally:
            con.close()

    def submissions_per_student(self) -> dict[str, int]:
        return dict(self.sql("SELECT student_id, count(*) FROM submitted_assignment GROUP BY student_id"))

    def scores(self) -> dict[str, dict[str, float]]:
        rows = self.sql(
            "SELECT sa.student_id, gc.name, g.auto_score FROM grade g "
            "JOIN base_cell gc ON g.cell_id = gc.id "
            "JOIN submitted_notebook sn ON g.notebook_id = sn.id "
            "JOIN submitted_assignment sa ON sn.assignment_id = sa.id"
        )
        out: dict[str, dict[str, float]] = {}
        for student, cell, score in rows:
            out.setdefault(student, {})[cell] = score
        return out

    def record(self, student: str) -> dict:
        return json.loads((self.root / "autograded" / student / A / gradebook.RECORD_NAME).read_text())


@pytest.fixture
def setup(tmp_path, base):
    return Setup(tmp_path, base)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, base):
    """Four submissions and one roster student who did not submit, collected and
    autograded with two workers."""
    s = Setup(tmp_path_factory.mktemp("graded"), base)
    for student in SCORES:
        s.write(student)
    roster = s.tmp / "roster.csv"
    roster.write_text("id,first_name,last_name\nabsent,Ab,Sent\ncorrect,Co,Rrect\nempty,,\npartial,,\nwrong,,\n")
    assert cli.main(["collect", A, str(s.inbox), "--roster", str(roster), *s.args()]) == 0
    start = time.monotonic()
    s.result = workers.autograde(s.root, A, db_url=s.db, workers=2)
    s.seconds = time.monotonic() - start
    return s


# --------------------------------------------------------------------------- help


def test_help_lists_the_loop_in_order(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    loop = ["generate", "validate", "collect", "autograde", "export", "feedback"]
    positions = [out.index(f"    {name} ") for name in loop]
    assert positions == sorted(positions), out
    assert "--db-url" in out


@pytest.mark.parametrize(
    "sub, options",
    [
        ("collect", ["ASSIGNMENT", "SOURCE", "--roster", "--root", "--db-url"]),
        ("autograde", ["--workers", "--student", "--force", "--timeout", "--hard-limit", "--root", "--db-url"]),
        ("export", ["--csv", "--root", "--db-url"]),
        ("feedback", ["--student", "--root", "--db-url"]),
    ],
)
def test_grading_subcommand_help(sub, options, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([sub, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: cnn-course {sub}" in out
    for option in options:
        assert option in out, f"{sub} --help does not mention {option}"


# --------------------------------------------------------------------------- collect


def test_collect_from_folder(setup, capsys):
    paths = [setup.write(s) for s in ("correct", "empty")]
    (setup.inbox / ".DS_Store").write_text("junk")
    assert cli.main(["collect", A, str(setup.inbox), *setup.args()]) == 0
    out = capsys.readouterr().out
    assert "collected correct (new)\ncollected empty (new)\n" in out, out
    for path in paths:
        target = setup.root / "submitted" / path.stem / A / f"{NB}.ipynb"
        assert target.read_bytes() == path.read_bytes()
        assert (target.parent / "timestamp.txt").read_text().strip().endswith("UTC")
    assert sorted(r[0] for r in setup.sql("SELECT id FROM student")) == ["correct", "empty"]
    # collecting the same files again changes nothing
    assert cli.main(["collect", A, str(setup.inbox), *setup.args()]) == 0
    assert "collected correct (unchanged)" in capsys.readouterr().out


def test_collect_from_zip_with_a_top_folder(setup, capsys):
    zpath = setup.tmp / "download.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.write(setup.write("correct"), "hand-in/correct.ipynb")
        z.write(setup.write("partial"), "hand-in/partial.ipynb")
        z.writestr("__MACOSX/hand-in/._correct.ipynb", b"\x00\x05resource fork")
        z.writestr("hand-in/.ipynb_checkpoints/correct-checkpoint.ipynb", "{}")
    assert cli.main(["collect", A, str(zpath), *setup.args()]) == 0
    out = capsys.readouterr().out
    assert "collected correct (new)\ncollected partial (new)\n" in out, out
    assert (setup.root / "submitted" / "partial" / A / f"{NB}.ipynb").read_bytes() == (setup.inbox / "partial.ipynb").read_bytes()


def test_collect_refuses_hostile_zip_names_by_name(setup, capsys):
    """A trailing newline is not a student id ("$" used to accept it), and an entry whose path
    leaves the zip is refused with its reason, not dropped as if it were a dotfile."""
    zpath = setup.tmp / "hostile.zip"
    good = setup.write("correct").read_bytes()
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("correct.ipynb", good)
        z.writestr("evil\n.ipynb", good)
        z.writestr("../escape.ipynb", good)
        z.writestr("/abs.ipynb", good)
    code = cli.main(["collect", A, str(zpath), *setup.args()])
    captured = capsys.readouterr()
    assert code == cli.EXIT_FAILED
    assert captured.err.splitlines() == [
        "skipped ../escape.ipynb: its path leaves the zip's folder (.. or an absolute path); refused",
        "skipped /abs.ipynb: its path leaves the zip's folder (.. or an absolute path); refused",
        "skipped 'evil\\n.ipynb': 'evil\\n' is not a valid student id (letters, digits, _ . - only)",
    ], captured.err
    assert sorted(p.name for p in (setup.root / "submitted").iterdir()) == ["correct"]
    assert sorted(r[0] for r in setup.sql("SELECT id FROM student")) == ["correct"]


def test_db_url_elsewhere_makes_no_default_gradebook_folder(setup, capsys, monkeypatch):
    cache = setup.tmp / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("CNN_COURSE_DB_URL", raising=False)
    setup.write("correct")
    assert cli.main(["collect", A, str(setup.inbox), *setup.args()]) == 0
    assert cli.main(["export", A, "--csv", str(setup.tmp / "grades.csv"), *setup.args()]) == 0
    assert not cache.exists(), "nbgrader_config.py made the default gradebook's folder although --db-url names another"
    assert "CNN_COURSE_DB_URL" not in os.environ  # main() puts the environment back


def test_collect_renumbers_duplicated_cell_ids_in_one_line(setup, capsys, recwarn):
    path = setup.write("correct")
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        cell["id"] = "same"
    path.write_text(json.dumps(nb))
    assert cli.main(["collect", A, str(setup.inbox), *setup.args()]) == 0
    captured = capsys.readouterr()
    n = len(nb["cells"]) - 1
    assert captured.out.splitlines()[0] == f"collected correct (new; {n} duplicated cell id(s) renumbered)", captured.out
    assert "Non-unique" not in captured.err and not [w for w in recwarn if "cell id" in str(w.message)]
    stored = json.loads((setup.root / "submitted" / "correct" / A / f"{NB}.ipynb").read_text())
    ids = [c["id"] for c in stored["cells"]]
    assert len(set(ids)) == len(ids) and ids[0] == "same"


def test_collect_reports_each_bad_notebook(setup, capsys):
    setup.write("correct")
    (setup.inbox / "notjson.ipynb").write_text('{"cells": [ this is not json')
    (setup.inbox / "old.ipynb").write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}))
    (setup.inbox / "nocells.ipynb").write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}}))
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('my other homework')")])
    nbformat.write(other, setup.inbox / "otherhw.ipynb")
    deleted = fill_answers(setup.release, {})
    deleted.cells = [c for c in deleted.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") != "test_relu"]
    nbformat.write(deleted, setup.inbox / "deleter.ipynb")
    (setup.inbox / "notes.txt").write_text("not a notebook")
    setup.write("mallory", {})
    roster = setup.tmp / "roster.txt"
    roster.write_text("# ids\ncorrect\nnotjson\nold\nnocells\notherhw\ndeleter\n")

    code = cli.main(["collect", A, str(setup.inbox), "--roster", str(roster), *setup.args()])
    captured = capsys.readouterr()
    assert code == cli.EXIT_FAILED
    assert captured.err.splitlines() == [
        "skipped mallory.ipynb: unknown student 'mallory' (not in the roster " + str(roster) + ")",
        "skipped nocells.ipynb: not a Jupyter notebook (no cells list)",
        "skipped notes.txt: not a notebook; expected <student_id>.ipynb",
        "skipped notjson.ipynb: not valid JSON (Expecting value at line 1, column 13)",
        "skipped old.ipynb: nbformat 3 notebook; expected nbformat 4 (open and save it in Jupyter to convert it)",
        "skipped otherhw.ipynb: not a 00_toy notebook (it has none of the cells "
        "relu, test_relu, count_positive, test_count_positive)",
    ], captured.err
    assert captured.out.splitlines() == [
        "collected correct (new)",
        "collected deleter (new; missing cell(s) test_relu: nbgrader puts deleted test cells back)",
        f"2 submission(s) of 00_toy in {setup.root / 'submitted'}; 6 file(s) skipped",
    ]
    assert sorted(p.name for p in (setup.root / "submitted").iterdir()) == ["correct", "deleter"]
    # the whole roster is in the gradebook (export lists who did not submit); mallory is not
    assert sorted(r[0] for r in setup.sql("SELECT id FROM student")) == sorted(
        ["correct", "notjson", "old", "nocells", "otherhw", "deleter"]
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["collect", "99_nope", "{inbox}"], "cnn-course collect: error: unknown assignment '99_nope': expected one of 00_toy"),
        (["collect", A, "{tmp}/missing"], "cnn-course collect: error: no such folder or zip file: {tmp}/missing"),
        (["collect", A, "{inbox}", "--roster", "{tmp}/nobody.csv"], "cnn-course collect: error: no such roster file: {tmp}/nobody.csv"),
        (["autograde", "99_nope"], "cnn-course autograde: error: unknown assignment '99_nope': expected one of 00_toy"),
        (["autograde", A, "--student", "ghost"],
         "cnn-course autograde: error: no collected submission of 00_toy for student(s) 'ghost' "
         "(collected: correct; run `cnn-course collect` first)"),
        (["export", "99_nope"], "cnn-course export: error: unknown assignment '99_nope': expected one of 00_toy"),
        (["feedback", A, "--student", "ghost"], "cnn-course feedback: error: unknown student(s) 'ghost': not in the gradebook"),
    ],
)
def test_usage_errors(setup, capsys, argv, message):
    setup.write("correct")
    assert cli.main(["collect", A, str(setup.inbox), *setup.args()]) == 0
    capsys.readouterr()
    fill = {"inbox": str(setup.inbox), "tmp": str(setup.tmp)}
    code = cli.main([a.format(**fill) for a in argv] + setup.args())
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert err.startswith(message.format(**fill)), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


# --------------------------------------------------------------------------- autograde


def test_autograde_in_two_workers(graded):
    result = graded.result
    assert result.workers == 2
    assert {o.student: (o.score, o.max_score) for o in result.outcomes} == SCORES
    assert not result.failed and not result.skipped
    assert graded.scores() == CELLS
    assert graded.submissions_per_student() == dict.fromkeys(SCORES, 1)
    for student, (score, max_score) in SCORES.items():
        record = graded.record(student)
        assert (record["score"], record["max_score"]) == (score, max_score)
        sub = graded.root / "submitted" / student / A / f"{NB}.ipynb"
        assert record["submission_sha256"] == {f"{NB}.ipynb": gradebook.sha256_file(sub)}
    # each worker its own sandbox user
    assert {graded.record(s)["sandbox_uid"] for s in SCORES} == {UID_BASE, UID_BASE + 1}
    # SQLite in WAL mode, used with a busy timeout
    assert graded.sql("PRAGMA journal_mode") == [("wal",)]
    print(f"\n[toy course] 4 submissions, 2 workers: {graded.seconds:.1f} s, {result.per_minute:.1f} submissions/min")


def test_autograde_again_skips_graded_and_prints_a_summary(graded, capsys):
    before = {s: graded.record(s) for s in SCORES}
    assert cli.main(["autograde", A, *graded.args()]) == 0
    out = capsys.readouterr().out
    assert out == "00_toy: graded 0, skipped 4 (already graded), failed 0\n"
    assert {s: graded.record(s) for s in SCORES} == before


def test_export_csv(graded, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["export", A, *graded.args()]) == 0
    assert capsys.readouterr().out == "wrote 5 student(s) to grades-00_toy.csv (4 graded, 1 not submitted)\n"
    assert (tmp_path / "grades-00_toy.csv").read_text() == (
        "id,test_relu,test_count_positive,total,max_total,status,note\n"
        "absent,,,,3,not submitted,\n"
        "correct,2,1,3,3,graded,\n"
        "empty,0,0,0,3,graded,\n"
        "partial,2,0,2,3,graded,\n"
        "wrong,0,1,1,3,graded,\n"
    )


def test_feedback_summary(graded, capsys):
    assert cli.main(["feedback", A, "--student", "wrong", "empty", *graded.args()]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"feedback {graded.root / 'feedback' / 'wrong' / A}",
        f"feedback {graded.root / 'feedback' / 'empty' / A}",
    ]
    folder = graded.root / "feedback" / "wrong" / A
    summary = (folder / "summary.txt").read_text()
    assert summary == (
        "Feedback for wrong on 00_toy\n"
        "\n"
        "test_relu: 0 / 2\n"
        "    relu must keep the input's shape\n"
        "test_count_positive: 1 / 1\n"
        "\n"
        "Total: 1 / 3\n"
    )
    assert "test_relu: 0 / 2\n    not answered yet: the function still raises NotImplementedError\n" in (
        graded.root / "feedback" / "empty" / A / "summary.txt"
    ).read_text()
    page = squash(html_text((folder / f"{NB}.html").read_text()))
    secret = hidden_lines(nbformat.read(graded.root / "solutions" / A / f"{NB}.ipynb", as_version=4))
    assert secret
    for line in secret:
        assert line not in summary
        assert squash(line) not in page, f"hidden test line in the feedback page: {line}"
    assert not list(folder.glob(".cnn-course-*")), "grading records must not be released as feedback"
    assert "BEGIN HIDDEN TESTS, said the student" in page and "np.ravel(x)" in page  # the student's code, whole


def test_force_regrades_without_duplicates(graded, capsys):
    record = graded.root / "autograded" / "partial" / A / gradebook.RECORD_NAME
    before = record.stat().st_mtime_ns
    assert cli.main(["autograde", A, "--force", "--student", "partial", "--workers", "1", *graded.args()]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("00_toy: graded 1, skipped 0 (already graded), failed 0\nthroughput: ")
    assert captured.err.startswith("[1/1] partial 2/3 "), captured.err  # one line per submission off a TTY
    assert record.stat().st_mtime_ns > before, "--force must regrade (a new completion record)"
    assert graded.submissions_per_student() == dict.fromkeys(SCORES, 1)
    assert graded.scores() == CELLS


def test_resume_after_the_command_is_killed(setup):
    """SIGKILL the CLI after its first completion record; the rerun grades the rest, each
    student exactly once."""
    import psutil

    for student in SCORES:
        setup.write(student)
    assert cli.main(["collect", A, str(setup.inbox), *setup.args()]) == 0
    records = {s: setup.root / "autograded" / s / A / gradebook.RECORD_NAME for s in SCORES}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn_course.autograde.cli", "autograde", A, "--workers", "1", *setup.args()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not any(p.exists() for p in records.values()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no completion record within 120 s"
        time.sleep(0.02)
    family = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    _, alive = psutil.wait_procs(family, timeout=20)
    assert not alive, f"workers or kernels outlived the killed command: {alive}"
    first = {s: p.read_text() for s, p in records.items() if p.exists()}
    assert 1 <= len(first) < len(SCORES)

    assert cli.main(["autograde", A, "--workers", "2", *setup.args()]) == 0
    assert {s: records[s].read_text() for s in first} == first, "the rerun must not regrade finished work"
    assert all(p.exists() for p in records.values())
    assert setup.submissions_per_student() == dict.fromkeys(SCORES, 1)
    assert setup.scores() == CELLS
    assert setup.sql("SELECT count(*) FROM grade") == [(2 * len(SCORES),)]
    assert {s: (setup.record(s)["score"], setup.record(s)["max_score"]) for s in SCORES} == SCORES


def test_ctrl_c_stops_the_workers_and_says_how_to_resume(setup):
    import psutil

    for student in ("correct", "empty", "partial"):
        setup.write(student)
    assert cli.main(["collect", A, str(setup.inbox), *setup.args()]) == 0
    # A process started with SIGINT ignored keeps ignoring it (Python installs its Ctrl-C handler
    # only over the default). Whatever the pytest worker inherited or set, give the grader the
    # default a terminal user's shell gives it.
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn_course.autograde.cli", "autograde", A, "--workers", "1", *setup.args()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    first = proc.stderr.readline()
    assert first.startswith("[1/3] correct 3/3 "), first + proc.stderr.read()
    family = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == cli.EXIT_FAILED
    assert err.splitlines()[-2:] == [
        "interrupted: the workers and their kernels are stopped; 1 submission(s) graded in this run are kept. "
        "To resume (grading only what has no completion record), run:",
        f"  cnn-course autograde 00_toy --root {setup.root} --db-url {setup.db}",
    ], err
    assert "Traceback" not in err
    _, alive = psutil.wait_procs(family, timeout=10)
    assert not alive, f"still running after Ctrl-C: {alive}"


def crash_for_crasher(course, config, assignment, student):
    """grade_fn for the test below: the worker grading 'crasher' dies."""
    if student == "crasher":
        os._exit(3)
    return workers.grade_one(course, config, assignment, student)


def test_dead_or_stuck_worker_is_replaced(setup, capsys, tmp_path, monkeypatch):
    setup.write("correct")
    setup.write("crasher", setup.answers["correct"])
    setup.write("sleepy", {"relu": SLEEPY_RELU})
    setup.write("partial")
    assert cli.main(["collect", A, str(setup.inbox), *setup.args()]) == 0
    result = workers.autograde(
        setup.root, A, db_url=setup.db, workers=2, cell_timeout=60, hard_limit=12, grade_fn=crash_for_crasher
    )
    outcome = {o.student: o for o in result.outcomes}
    assert outcome["crasher"].status == "failed"
    assert outcome["crasher"].reason == "the grading worker died (exit code 3)"
    assert outcome["sleepy"].status == "failed"
    assert outcome["sleepy"].reason == "still running after the hard limit of 12 s; the worker was killed"
    assert (outcome["correct"].score, outcome["partial"].score) == (3, 2)
    assert outcome["correct"].status == outcome["partial"].status == "graded"

    monkeypatch.chdir(tmp_path)
    assert cli.main(["export", A, *setup.args()]) == 0
    assert Path("grades-00_toy.csv").read_text().splitlines()[1:] == [
        "correct,2,1,3,3,graded,",
        "crasher,,,,3,needs manual grading,the grading worker died (exit code 3)",
        "partial,2,0,2,3,graded,",
        "sleepy,,,,3,needs manual grading,still running after the hard limit of 12 s; the worker was killed",
    ]
    capsys.readouterr()
    assert cli.main(["feedback", A, "--student", "crasher", "correct", *setup.args()]) == cli.EXIT_FAILED
    assert capsys.readouterr().err == (
        "no feedback for crasher: no autograded submission of 00_toy: its grading needs a person\n"
    )
    assert (setup.root / "feedback" / "correct" / A / "summary.txt").is_file()
    # nbgrader's own flag, so the formgrader lists them too
    flagged = setup.sql("SELECT DISTINCT sa.student_id FROM grade g JOIN submitted_notebook sn ON g.notebook_id = sn.id "
                        "JOIN submitted_assignment sa ON sn.assignment_id = sa.id WHERE g.needs_manual_grade = 1")
    assert sorted(r[0] for r in flagged) == ["crasher", "sleepy"]


def test_a_sandbox_uid_held_by_another_run_is_skipped(monkeypatch):
    base = 61500 + os.getpid() % 200 * 4
    held = []
    try:
        assert workers.claim_sandbox_uid(0, 2, base) == base
        held.append(workers._uid_claim)
        assert workers.claim_sandbox_uid(1, 2, base) == base + 1
        held.append(workers._uid_claim)
        # a second run on the same machine: its worker 0 gets the next free uid of its slot
        assert workers.claim_sandbox_uid(0, 2, base) == base + 2
        held.append(workers._uid_claim)
    finally:
        for sock in held:
            sock.close()
        workers._uid_claim = None
    assert workers.claim_sandbox_uid(0, 2, base) == base  # released with the socket
    workers._uid_claim.close()
    workers._uid_claim = None
    monkeypatch.setenv(workers.SANDBOX_UID_ENV, "lots")
    with pytest.raises(cli.UsageError, match="CNN_COURSE_SANDBOX_UID_BASE must be a number"):
        workers.sandbox_uid_base()


# --------------------------------------------------------------------------- gradebook


def test_sqlite_url_gets_a_busy_timeout_nbgrader_accepts(tmp_path):
    from nbgrader.api import Gradebook

    url = gradebook.gradebook_url(f"sqlite:///{tmp_path / 'gb.db'}")
    assert url == f"sqlite:///{tmp_path / 'gb.db'}?timeout=60"
    assert gradebook.gradebook_url(f"sqlite:///{tmp_path / 'gb.db'}?timeout=5").endswith("?timeout=5")
    assert gradebook.gradebook_url("postgresql://grader:secret@db.example/course") == "postgresql://grader:secret@db.example/course"
    gradebook.prepare_sqlite(url)
    with Gradebook(url) as gb:
        gb.add_student("alice")
        assert gb.db.connection().exec_driver_sql("PRAGMA busy_timeout").scalar() == 60000
        assert gb.db.connection().exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_db_url_from_the_environment(setup, monkeypatch, capsys):
    setup.write("correct")
    monkeypatch.setenv("CNN_COURSE_DB_URL", setup.db)
    assert cli.main(["collect", A, str(setup.inbox), "--root", str(setup.root)]) == 0
    assert [r[0] for r in setup.sql("SELECT id FROM student")] == ["correct"]


def fill_disk_after_correct(course, config, assignment, student):
    """grade_fn for the test below: the course's disk is full once 'correct' is graded."""
    outcome = workers.grade_one(course, config, assignment, student)
    if student == "correct":
        with open(course.root / "ballast.bin", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 2**20)
            except OSError:  # ENOSPC: the disk is full
                pass
    return outcome


@pytest.fixture
def small_disk(tmp_path):
    """A 48 MiB file system (tmpfs) for a course folder, unmounted afterwards."""
    import ctypes

    disk = tmp_path / "disk"
    disk.mkdir()
    libc = ctypes.CDLL(None, use_errno=True)
    ok = libc.mount(b"tmpfs", bytes(disk), b"tmpfs", 0, b"size=48m") == 0
    assert ok, f"mounting a tmpfs needs root with CAP_SYS_ADMIN (as the sandbox's work dirs do): errno {ctypes.get_errno()}"
    yield disk
    libc.umount2(bytes(disk), 2)


def test_a_full_disk_stops_grading_and_keeps_every_completed_grade(small_disk, base, capsys, monkeypatch):
    setup = Setup(small_disk, base)
    for student in ("correct", "partial", "wrong"):
        setup.write(student)
    assert cli.main(["collect", A, str(setup.inbox), *setup.args()]) == 0
    capsys.readouterr()
    result = workers.autograde(setup.root, A, db_url=setup.db, workers=1, cell_timeout=60,
                               grade_fn=fill_disk_after_correct)
    assert result.disk_full == str(setup.root) and [o.student for o in result.outcomes] == ["correct"]
    assert sorted(result.not_graded) == ["partial", "wrong"] and not result.failed
    assert setup.record("correct")["score"] == 3
    for student in ("partial", "wrong"):  # nothing half-done, nothing marked for a person
        folder = setup.root / "autograded" / student / A
        assert not (folder / gradebook.RECORD_NAME).exists() and not (folder / gradebook.MANUAL_NAME).exists()

    (setup.root / "ballast.bin").unlink()  # space again (SQLite may not even read a full disk)
    assert setup.scores()["correct"] == {"test_relu": 2, "test_count_positive": 1}  # the completed grade is kept
    assert cli.main(["autograde", A, "--workers", "1", *setup.args()]) == 0
    out = capsys.readouterr().out
    assert out.startswith("00_toy: graded 2, skipped 1 (already graded), failed 0"), out
    assert setup.record("correct")["score"] == 3 and setup.record("partial")["score"] == 2


def test_the_cli_says_in_one_sentence_that_the_disk_is_full(setup, capsys, monkeypatch):
    setup.write("correct")
    assert cli.main(["collect", A, str(setup.inbox), *setup.args()]) == 0
    monkeypatch.setattr(workers, "disk_full", lambda root, margin=0: True)
    capsys.readouterr()
    assert cli.main(["autograde", A, *setup.args()]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith(f"stopped: the disk holding {setup.root} is full. The 0 submission(s) graded in this run "
                          "are kept; 1 are not graded yet."), err
