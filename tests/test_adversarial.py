"""The adversarial suite: hostile and broken submissions, graded from the instructor
command exactly as a course would (``cnn-course generate / collect / autograde /
feedback``), each must get exactly its honest worth (tests/submissions/hostile.py).

One module-scoped run grades every submission of the guard assignment
(tests/fixtures/guard_course: five convolution exercises, 6 points) with two workers and
a short cell timeout. Then, besides every student's exact per-cell grade:

* the gradebook still holds the instructor's cells and hidden tests, unchanged, and no
  manual score, extra grade cell or changed maximum;
* no file of the course (the gradebook's folder, with a canary file next to it) was
  created or changed by a student, nothing reached a folder only code outside the
  sandbox could write to, and no connection reached a server of the grading machine;
* no process of the sandbox uids survives;
* a 1 GiB print is capped in the autograded notebook;
* the feedback never shows a hidden test line;
* tampering is shown to the instructor: the tests after it keep the grader's verdict and
  are flagged for review (the formgrader's flags, export's status and note, autograde's
  summary, the student's summary.txt).

The suite refuses to run without the bubblewrap sandbox (root + bwrap; run.py installs
it): fork bombs and ``os.kill(-1, 9)`` must never run unsandboxed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry

from _nbgrader_helpers import REPO, hidden_lines, html_text
from submissions import hostile as H

WORKERS = 2
CELL_TIMEOUT = 10  # seconds per cell (the guard notebook's slowest cell needs about 1 s; margin for a loaded CI machine)
UID_BASE = 61240  # this suite's sandbox uids, apart from other tests' (CNN_COURSE_SANDBOX_UID_BASE)
GUARD = REPO / "tests" / "fixtures" / "guard_course"
CNN_COURSE = Path(sys.executable).with_name("cnn-course")
# CNN_COURSE_ADVERSARIAL=name,name grades only those students (to iterate on one attack)
_ONLY = [n for n in os.environ.get("CNN_COURSE_ADVERSARIAL", "").split(",") if n]
STUDENTS = [h for h in H.HOSTILE + H.HONEST if not _ONLY or h.name in _ONLY]
IGNORED = ("autograded", "feedback", "gradebook.db", "gradebook.db-wal", "gradebook.db-shm", "gradebook.db-journal")


class Listener:
    """A TCP and UDP server of the grading machine on 127.0.0.1 that records who reached it."""

    def __init__(self):
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.tcp.listen(16)
        self.tcp.settimeout(0.2)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.udp.settimeout(0.2)
        self.hits: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True),
                         threading.Thread(target=self._receive, daemon=True)]
        for t in self._threads:
            t.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, addr = self.tcp.accept()
            except OSError:
                continue
            self.hits.append(f"tcp from {addr}")
            conn.close()

    def _receive(self):
        while not self._stop.is_set():
            try:
                data, addr = self.udp.recvfrom(4096)
            except OSError:
                continue
            self.hits.append(f"udp from {addr}: {data[:40]!r}")

    def close(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        self.tcp.close()
        self.udp.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def course_files(root: Path) -> dict[str, str]:
    """sha256 of every course file a grading run must not touch (the gradebook and the
    folders grading writes, autograded/ and feedback/, left out)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in IGNORED or not path.is_file():
            continue
        out[str(rel)] = _digest(path)
    return out


def gradebook_state(url: str) -> dict:
    """What the instructor put in the gradebook: every source cell (hidden tests included),
    the graded cells' maximum scores."""
    with Gradebook(url) as gb:
        nb = gb.find_notebook(H.NOTEBOOK, H.ASSIGNMENT)
        return {
            "source": {c.name: (c.cell_type, c.source, c.checksum, c.locked) for c in nb.source_cells},
            "grade": {c.name: float(c.max_score) for c in nb.grade_cells},
            "solution": sorted(c.name for c in nb.solution_cells),
            "max": float(gb.find_assignment(H.ASSIGNMENT).max_score),
        }


def grades(url: str, student: str) -> dict | None:
    """{grade_id: (score, max_score, auto_score, manual_score)} of a student, None when
    the submission was not graded."""
    with Gradebook(url) as gb:
        try:
            sub = gb.find_submission_notebook(H.NOTEBOOK, H.ASSIGNMENT, student)
        except MissingEntry:
            return None
        return {g.name: (g.score, g.max_score, g.auto_score, g.manual_score) for g in sub.grades}


def flagged(url: str, student: str) -> set[str]:
    """The test cells of a student's submission the formgrader lists as needing a person."""
    with Gradebook(url) as gb:
        try:
            sub = gb.find_submission_notebook(H.NOTEBOOK, H.ASSIGNMENT, student)
        except MissingEntry:
            return set()
        return {g.name for g in sub.grades if g.needs_manual_grade}


def sandbox_uids(root: Path) -> list[int]:
    """The sandbox uids the grading workers used (their logs name them)."""
    uids = set()
    for log in (root / "autograded" / ".cnn-course-logs").glob("*.log"):
        uids.update(int(u) for u in re.findall(r"sandbox uid (\d+)", log.read_text(errors="replace")))
    return sorted(uids)


def sandbox_processes(uids) -> list[str]:
    """Processes of the sandbox uids still alive: ``pid uid command``."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            cmd = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
        except OSError:  # gone meanwhile
            continue
        m = re.search(r"^Uid:\s+(\d+)\s+(\d+)", text, re.M)
        if m and (int(m.group(1)) in uids or int(m.group(2)) in uids):
            found.append(f"{status.parent.name} {m.group(1)} {cmd}")
    return found


@dataclass
class Graded:
    root: Path
    url: str
    canary: Path
    release: object
    source: object
    listener: Listener
    before: dict
    after: dict
    files_before: dict
    files_after: dict
    scores: dict
    autograde: subprocess.CompletedProcess
    feedback: subprocess.CompletedProcess
    seconds: float
    uids: list = field(default_factory=list)
    survivors: list = field(default_factory=list)
    workdirs: list = field(default_factory=list)
    review: dict = field(default_factory=dict)  # student -> test cells flagged for a person
    exported: dict = field(default_factory=dict)  # student -> row of `cnn-course export`'s CSV

    def autograded(self, student: str):
        return nbformat.read(self.root / "autograded" / student / H.ASSIGNMENT / f"{H.NOTEBOOK}.ipynb", as_version=4)

    def diagnosis(self, student: str) -> str:
        """Test-cell verdicts and the CLI's lines about a student, for failure messages."""
        lines = [f"autograde exit {self.autograde.returncode}"]
        lines += [x for x in (self.autograde.stdout + self.autograde.stderr).splitlines() if student in x][:5]
        try:
            nb = self.autograded(student)
        except OSError as e:
            return "\n".join(lines + [f"no autograded notebook: {e}"])
        for c in nb.cells:
            gid = c.metadata.get("nbgrader", {}).get("grade_id")
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"):
                errs = [f"{o.ename}: {o.evalue}"[:300] for o in c.get("outputs", []) if o.output_type == "error"]
                lines.append(f"  {gid}: {errs or 'passed'}")
        return "\n".join(lines)


def _run(args, root: Path, url: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "CNN_COURSE_SANDBOX_UID_BASE": str(UID_BASE), "PYTHONUNBUFFERED": "1"}
    env.pop("CNN_COURSE_DB_URL", None)
    return subprocess.run([str(CNN_COURSE), *args, "--root", str(root), "--db-url", url], cwd=root, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Graded:
    from cnn_course.autograde.sandbox import probe_bwrap

    reason = probe_bwrap()
    assert reason is None, (f"the adversarial suite needs the bubblewrap sandbox (root and bwrap; run.py installs "
                            f"it), and never runs fork bombs or kill(-1) without it: {reason}")
    assert CNN_COURSE.exists(), f"{CNN_COURSE} missing: install the package (pip install -e .)"
    root = tmp_path_factory.mktemp("adversarial")
    shutil.copytree(GUARD / "solutions", root / "solutions")
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "canary.txt").write_text("the instructor's file, next to the gradebook\n")
    canary = tmp_path_factory.mktemp("canary")  # only code outside the sandbox could write here
    url = f"sqlite:///{root / 'gradebook.db'}"
    listener = Listener()

    out = _run(["generate", H.ASSIGNMENT], root, url, 300)
    assert out.returncode == 0, out.stdout + out.stderr
    release = nbformat.read(root / "course" / H.ASSIGNMENT / f"{H.NOTEBOOK}.ipynb", as_version=4)
    source = nbformat.read(root / "solutions" / H.ASSIGNMENT / f"{H.NOTEBOOK}.ipynb", as_version=4)
    values = {"ROOT": str(root), "DB": str(root / "gradebook.db"), "PORT": str(listener.port), "CANARY": str(canary)}
    incoming = tmp_path_factory.mktemp("incoming")
    for h in STUDENTS:
        nbformat.write(H.build(release, h, values), incoming / f"{h.name}.ipynb")
    out = _run(["collect", H.ASSIGNMENT, str(incoming)], root, url, 300)
    assert out.returncode == 0, out.stdout + out.stderr

    before, files_before = gradebook_state(url), course_files(root)
    t0 = time.monotonic()
    auto = _run(["autograde", H.ASSIGNMENT, "--workers", str(WORKERS), "--timeout", str(CELL_TIMEOUT)], root, url,
                1500)
    seconds = time.monotonic() - t0
    uids = sandbox_uids(root)
    survivors = sandbox_processes(uids)
    workdirs = [str(p) for uid in uids for p in Path("/tmp/cnng").glob(f"{uid}-*")]
    scores = {h.name: grades(url, h.name) for h in STUDENTS}
    review = {h.name: flagged(url, h.name) for h in STUDENTS}
    fb = _run(["feedback", H.ASSIGNMENT], root, url, 600)
    grades_csv = tmp_path_factory.mktemp("export") / "grades.csv"
    export = _run(["export", H.ASSIGNMENT, "--csv", str(grades_csv)], root, url, 300)
    assert export.returncode == 0, export.stdout + export.stderr
    exported = {row["id"]: row for row in csv.DictReader(io.StringIO(grades_csv.read_text()))}
    print(f"\nadversarial suite: {len(STUDENTS)} submissions autograded in {seconds:.1f} s "
          f"with {WORKERS} workers (cell timeout {CELL_TIMEOUT} s)\n{auto.stdout}{auto.stderr}")
    graded = Graded(root, url, canary, release, source, listener, before, gradebook_state(url), files_before,
                    course_files(root), scores, auto, fb, seconds, uids, survivors, workdirs, review, exported)
    yield graded
    listener.close()


# --------------------------------------------------------------------------- grades


@pytest.mark.parametrize("h", STUDENTS, ids=[h.name for h in STUDENTS])
def test_each_submission_gets_exactly_its_honest_worth(graded, h):
    got = graded.scores[h.name]
    assert got is not None, f"{h.name} ({h.attack}) was not graded automatically\n{graded.diagnosis(h.name)}"
    scores = {gid: s for gid, (s, *_rest) in got.items()}
    assert scores == h.expected, (f"{h.name} ({h.attack}): expected {h.expected} ({h.total}/{H.MAX_SCORE}), got "
                                  f"{scores}\n{graded.diagnosis(h.name)}")


@pytest.mark.parametrize("h", STUDENTS, ids=[h.name for h in STUDENTS])
def test_tampering_is_graded_and_shown_to_the_instructor(graded, h):
    """Tests after a tampering cell keep the grader's verdict, and the instructor sees the
    submission everywhere: the formgrader's flags, export's status and note, autograde's summary."""
    assert graded.review[h.name] == set(h.review), f"{h.name} ({h.attack}): flagged {sorted(graded.review[h.name])}, " \
        f"expected {sorted(h.review)}\n{graded.diagnosis(h.name)}"
    row = graded.exported[h.name]
    summary = graded.autograde.stdout.split("need review", 1)[-1] if "need review" in graded.autograde.stdout else ""
    listed = [x for x in summary.splitlines() if x.startswith(f"  {h.name} ")]
    if h.review:
        assert row["status"] == "needs review", row
        assert row["note"].startswith("tampering in cell ") and "test cell(s) to review" in row["note"], row
        assert listed and "tampering in cell " in listed[0], graded.autograde.stdout
        fb = (graded.root / "feedback" / h.name / H.ASSIGNMENT / "summary.txt").read_text(encoding="utf-8")
        assert "needs review: your notebook interferes with the grader" in fb, fb
    else:
        assert row["status"] == "graded" and row["note"] == "", row
        assert not listed, graded.autograde.stdout


def test_every_submission_was_graded_automatically(graded):
    assert graded.autograde.returncode == 0, graded.autograde.stdout + graded.autograde.stderr
    for h in STUDENTS:
        record = graded.root / "autograded" / h.name / H.ASSIGNMENT / ".cnn-course-graded.json"
        assert record.is_file(), f"{h.name}: no completion record"


def test_scores_are_automatic_and_worth_what_the_instructor_said(graded):
    for name, got in graded.scores.items():
        assert got is not None, name
        assert set(got) == set(H.POINTS), f"{name}: graded cells {sorted(got)}"
        for gid, (score, max_score, auto, manual) in got.items():
            assert manual is None, f"{name}: {gid} has a manual score {manual}"
            assert max_score == H.POINTS[gid], f"{name}: {gid} is worth {max_score}, not {H.POINTS[gid]}"
            assert auto == score, f"{name}: {gid}: score {score} is not the automatic one {auto}"


def test_gradebook_keeps_the_instructors_cells_and_hidden_tests(graded):
    assert graded.after == graded.before
    hidden = graded.before["source"]["test_conv_forward"][1]
    assert "BEGIN HIDDEN TESTS" in hidden and "seed=104" in hidden
    assert graded.before["grade"] == H.POINTS and graded.before["max"] == H.MAX_SCORE


# --------------------------------------------------------------------------- isolation


def test_no_course_file_was_created_or_changed_by_a_student(graded):
    added = sorted(set(graded.files_after) - set(graded.files_before))
    changed = sorted(k for k in graded.files_before if graded.files_after.get(k) != graded.files_before[k])
    assert not added and not changed, f"added {added}, changed or removed {changed}"
    assert (graded.root / "canary.txt").read_text() == "the instructor's file, next to the gradebook\n"
    assert sorted(p.name for p in graded.canary.iterdir()) == [], "code ran outside the sandbox"
    for name in ("big.bin", "pwned.txt"):
        assert not (Path("/tmp") / name).exists() or (Path("/tmp") / name).stat().st_mtime < time.time() - 3600
    big = [str(p) for p in graded.root.rglob("*") if p.is_file() and p.stat().st_size > 64 * 2**20]
    assert not big, f"files over the sandbox's file-size limit: {big}"


def test_attacks_found_nothing_to_read_and_no_way_out(graded):
    def printed(student: str) -> str:
        nb = graded.autograded(student)
        return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                         if o.output_type == "stream")

    expectations = {
        "read_gradebook": "stolen: []",
        "walk_filesystem": "found on disk: []",
        "network": "network reached: []",
    }
    for student, line in expectations.items():
        if student in graded.scores:
            assert line in printed(student), f"{student} printed:\n{printed(student)[:2000]}"
    if "write_scores" in graded.scores:
        text = printed("write_scores")
        assert "could not write" in text and "wrote" not in text.replace("could not write", ""), text[:2000]
    assert graded.listener.hits == [], f"the grading machine's server was reached: {graded.listener.hits}"


def test_no_sandbox_process_or_work_dir_survives(graded):
    assert len(graded.uids) == WORKERS and all(u >= UID_BASE for u in graded.uids), graded.uids
    assert graded.survivors == [], "processes of the sandbox uids left behind:\n" + "\n".join(graded.survivors)
    assert sandbox_processes(graded.uids) == []
    assert graded.workdirs == [], f"work dirs left behind: {graded.workdirs}"


def test_a_one_gigabyte_print_is_capped(graded):
    if "huge_print" not in graded.scores:
        return
    path = graded.root / "autograded" / "huge_print" / H.ASSIGNMENT / f"{H.NOTEBOOK}.ipynb"
    assert path.stat().st_size < 2 * 2**20, f"autograded notebook of {path.stat().st_size} bytes"
    nb = graded.autograded("huge_print")
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        text = sum(len(o.get("text", "")) for o in c.get("outputs", []))
        assert text <= 256 * 1024, f"a cell kept {text} characters of output"


# --------------------------------------------------------------------------- feedback


def test_feedback_never_shows_hidden_tests(graded):
    assert graded.feedback.returncode == 0, graded.feedback.stdout + graded.feedback.stderr
    secret = hidden_lines(graded.source)
    assert secret and any("seed=104" in s for s in secret)
    for h in STUDENTS:
        folder = graded.root / "feedback" / h.name / H.ASSIGNMENT
        page = html_text((folder / f"{H.NOTEBOOK}.html").read_text(encoding="utf-8"))
        summary = (folder / "summary.txt").read_text(encoding="utf-8")
        for line in secret:
            assert line not in page, f"{h.name}: hidden test line {line!r} in the feedback page"
            assert line not in summary, f"{h.name}: hidden test line {line!r} in summary.txt"
        assert "hidden=True" not in page and "hidden=True" not in summary, h.name


def test_feedback_explains_the_lost_points(graded):
    for name, needle in {"ref_aliases": "earns no points: it calls cnn_course.ref",
                         "disable_watcher": "needs review: your notebook interferes with the grader",
                         "honest_one_bug": "conv_forward failed visible case"}.items():
        if name not in graded.scores:
            continue
        summary = (graded.root / "feedback" / name / H.ASSIGNMENT / "summary.txt").read_text(encoding="utf-8")
        assert needle in summary, f"{name}:\n{summary}"


def test_the_suite_stays_fast(graded):
    assert graded.seconds < 600, f"autograding took {graded.seconds:.0f} s"
