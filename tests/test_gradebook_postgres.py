"""nbgrader's gradebook on PostgreSQL: what a large course uses instead of one SQLite file.

The module starts its own throw-away PostgreSQL server: ``initdb`` into a fresh folder
under /tmp (owned by the ``postgres`` system user when the tests run as root, since the
server refuses to run as root; by the current user otherwise), ``pg_ctl start`` with
``listen_addresses=''`` (no TCP at all) and its unix socket in that 0700 folder, a free
port number, fsync off. A finalizer stops it and removes the folder; a small watchdog
process does the same if pytest itself is killed.

Checked: nbgrader's ``Gradebook`` API, generating the toy assignment into the PostgreSQL
gradebook, and the instructor workflow (``collect``, ``autograde --workers 2 --db-url``,
``export``) giving exactly the grades and CSV that the same submissions get with SQLite.

Without PostgreSQL's server programs (Debian: ``apt-get install postgresql``; another
folder: ``CNN_COURSE_PG_BIN``) or a user to run them as, the tests skip with the reason
when run by hand, and FAIL when the environment variable CI is set: CI must really test
this, and ``python3 run.py test`` installs the server there.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import sqlalchemy

import _nbgrader_helpers  # noqa: F401  (caches nbgrader's `alembic heads` lookup in this process)
from _nbgrader_helpers import TOY_ROOT, fill_answers
from cnn_course.autograde.course import load_config

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "00_toy"
NB_NAME = "00_toy"


def _run_py():
    """run.py (stdlib only) as a module: the same server lookup as `python3 run.py test`."""
    spec = importlib.util.spec_from_file_location("cnn_course_run_py", REPO / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _unavailable(reason: str):
    reason = f"PostgreSQL gradebook test: {reason}"
    if os.environ.get("CI"):
        pytest.fail(f"{reason} -- CI must run this test (python3 run.py test installs postgresql as root)", pytrace=False)
    pytest.skip(reason)


# The watchdog: when the test process dies without its finalizer (SIGKILL, a crash), its end
# of the pipe closes; the watchdog then stops the server (SIGQUIT to the postmaster:
# immediate shutdown) and removes the folder.
_WATCHDOG = r"""
import os, shutil, signal, sys, time
folder = sys.argv[1]
sys.stdin.buffer.read()  # returns at EOF: the test process closed the pipe or died
pid_file = os.path.join(folder, "data", "postmaster.pid")
try:
    with open(pid_file) as f:
        pid = int(f.readline())
    os.kill(pid, signal.SIGQUIT)
    for _ in range(100):
        os.kill(pid, 0)
        time.sleep(0.1)
except (OSError, ValueError):
    pass
shutil.rmtree(folder, ignore_errors=True)
"""


@dataclass
class PgServer:
    bin: Path
    folder: Path  # data/ and the unix socket live here
    port: int
    user: str  # the database superuser (= the OS user running the server)
    run_as: dict  # subprocess kwargs to run the server programs as that user

    def url(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` (psycopg2 over the unix socket; trust auth)."""
        return f"postgresql+psycopg2://{self.user}@/{database}?host={self.folder}&port={self.port}"

    def create_database(self, name: str) -> str:
        import psycopg2

        conn = psycopg2.connect(host=str(self.folder), port=self.port, user=self.user, dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **self.run_as)
        if check and proc.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}\n{tail}")
        return proc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg(request) -> PgServer:
    pg_bin = _run_py().postgres_bin()
    if pg_bin is None:
        _unavailable(
            "PostgreSQL's server programs (initdb, pg_ctl, postgres) were not found in /usr/lib/postgresql/*/bin, "
            "on PATH or in $CNN_COURSE_PG_BIN; install them with `apt-get install postgresql`"
        )
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        _unavailable("psycopg2 is not installed in this environment (it is pinned: run `python3 run.py test`)")
    if os.geteuid() == 0:
        # The server refuses to run as root: run it as Debian's `postgres` system user.
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root, and there is no `postgres` system user to run the server as "
                         "(Debian's postgresql package creates it)")
        run_as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    else:
        pw = pwd.getpwuid(os.geteuid())
        run_as = {}
    folder = Path(tempfile.mkdtemp(prefix="cnnpg-"))  # short: unix socket paths must stay < 108 bytes
    os.chown(folder, pw.pw_uid, pw.pw_gid)
    run_as.update(cwd=str(folder), env={"PATH": "/usr/bin:/bin", "LANG": "C", "LC_ALL": "C"})
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(folder)], stdin=subprocess.PIPE,
                                start_new_session=True)
    server = PgServer(bin=pg_bin, folder=folder, port=_free_port(), user=pw.pw_name, run_as=run_as)

    def stop():
        if (folder / "data" / "postmaster.pid").exists():
            server.pg_ctl("stop", "-m", "immediate", "-w", "-t", "30", check=False)
        shutil.rmtree(folder, ignore_errors=True)
        watchdog.stdin.close()
        try:
            watchdog.wait(timeout=15)
        except subprocess.TimeoutExpired:
            watchdog.kill()

    request.addfinalizer(stop)
    init = subprocess.run(
        [str(pg_bin / "initdb"), "-D", str(folder / "data"), "-U", pw.pw_name, "--auth=trust",
         "-E", "UTF8", "--locale=C", "--no-sync"],
        capture_output=True, text=True, timeout=120, **run_as,
    )
    if init.returncode != 0:
        _unavailable(f"initdb failed ({init.returncode}): {init.stderr.strip()[-500:]}")
    options = (f"-c listen_addresses='' -c unix_socket_directories='{folder}' -p {server.port} "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
    start = server.pg_ctl("start", "-w", "-t", "60", "-l", str(folder / "server.log"), "-o", options, check=False)
    if start.returncode != 0:
        log = (folder / "server.log").read_text(errors="replace")[-1000:] if (folder / "server.log").exists() else ""
        _unavailable(f"pg_ctl start failed ({start.returncode}): {start.stderr.strip()} {log}")
    return server


# --------------------------------------------------------------------------- gradebook API


def test_server_is_private_and_has_no_tcp_listener(pg):
    import psycopg2

    conn = psycopg2.connect(host=str(pg.folder), port=pg.port, user=pg.user, dbname="postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW listen_addresses")
            assert cur.fetchone() == ("",)
            cur.execute("SELECT version()")
            assert "PostgreSQL" in cur.fetchone()[0]
    finally:
        conn.close()
    assert (pg.folder / f".s.PGSQL.{pg.port}").exists()
    assert oct(pg.folder.stat().st_mode & 0o777) == "0o700"


def test_gradebook_api_on_postgres(pg, monkeypatch):
    from nbgrader.api import Gradebook, MissingEntry

    # A new gradebook asks the `alembic` tool (in this Python's scripts folder) for its schema version.
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    url = pg.create_database("gradebook_api")
    with Gradebook(url) as gb:
        gb.add_assignment("a1", duedate="2030-01-31 23:59:00")
        gb.add_student("s1", first_name="Ada", last_name="Lovelace")
        gb.add_student("s2")
        gb.update_or_create_student("s2", email="s2@example.org")
        assert [a.name for a in gb.assignments] == ["a1"]
        assert sorted(s.id for s in gb.students) == ["s1", "s2"]
        assert gb.find_student("s2").email == "s2@example.org"
        gb.remove_student("s1")
        with pytest.raises(MissingEntry):
            gb.find_student("s1")
    # A second connection (another grader, another process) sees the same data,
    # and nbgrader stamped the schema version it created.
    with Gradebook(url) as gb:
        assert [s.id for s in gb.students] == ["s2"]
        version = gb.db.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
        assert version


def test_course_config_names_a_course():
    """nbgrader 0.9.6 files every assignment under ``CourseDirectory.course_id`` (default
    ``""``) as a foreign key into its course table, but creates no course row for ``""``.
    SQLite does not enforce foreign keys, so nothing shows there; PostgreSQL refuses the
    assignment (ForeignKeyViolation on assignment_course_id_fkey) and generate, collect and
    autograde all fail. The course's configuration must therefore name the course."""
    course_id = load_config(REPO).CourseDirectory.get("course_id", "")
    assert course_id.strip(), (
        "nbgrader_config.py must set c.CourseDirectory.course_id (e.g. 'cnn-course'): with the default '' "
        "a PostgreSQL gradebook rejects every assignment (foreign key assignment_course_id_fkey)"
    )


def _toy_course(tmp: Path, db_url: str):
    """The toy course in ``tmp``, generated into ``db_url``; returns (config, NbGraderAPI)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    shutil.copytree(TOY_ROOT / "solutions", tmp / "solutions")
    config = load_config(REPO, **{"CourseDirectory.root": str(tmp), "CourseDirectory.db_url": db_url})
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    result = api.generate_assignment(ASSIGNMENT, force=True, create=True)
    assert result["success"], result.get("log", "") + result.get("error", "")
    return config, api


def test_generate_assignment_into_postgres(pg, tmp_path):
    from nbgrader.api import Gradebook

    url = pg.create_database("gradebook_generate")
    _toy_course(tmp_path, url)
    with Gradebook(url) as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        (notebook,) = assignment.notebooks
        assert notebook.name == NB_NAME
        points = {c.name: c.max_score for c in notebook.grade_cells}
        assert points == {"test_relu": 2.0, "test_count_positive": 1.0}
        # The hidden tests are stored for autograde to put back (source cells keep them).
        sources = {c.name: c.source for c in notebook.source_cells}
        assert "BEGIN HIDDEN TESTS" in sources["test_relu"]
        assert assignment.max_score == 3.0



# --------------------------------------------------------------------------- instructor workflow

# Four students whose honest worth is known: {notebook name: (answers, {grade_id: points})}.
# The "empty" one hands in the release notebook unchanged.
RELU = "def relu(x):\n    return np.maximum(x, 0.0)\n"
COUNT = "def count_positive(x):\n    return int(np.sum(x > 0))\n"
STUDENTS = {
    "correct": ({"relu": RELU, "count_positive": COUNT}, {"test_relu": 2.0, "test_count_positive": 1.0}),
    "empty": ({}, {"test_relu": 0.0, "test_count_positive": 0.0}),
    # Right count, but a float: passes the visible test, fails the hidden isinstance check.
    "partial": ({"relu": RELU, "count_positive": COUNT.replace("int(", "float(")},
                {"test_relu": 2.0, "test_count_positive": 0.0}),
    "wrong_relu": ({"relu": "def relu(x):\n    return np.abs(x)\n", "count_positive": COUNT},
                   {"test_relu": 0.0, "test_count_positive": 1.0}),
}


def _course_root(tmp: Path) -> Path:
    """A course root like the repository: the course's nbgrader_config.py + the toy solutions."""
    shutil.copytree(TOY_ROOT / "solutions", tmp / "solutions")
    shutil.copy2(REPO / "nbgrader_config.py", tmp / "nbgrader_config.py")
    return tmp


def _submissions(folder: Path) -> Path:
    from cnn_course.autograde.course import generate_release

    generate_release(TOY_ROOT, [ASSIGNMENT], folder / "release", config_dir=REPO)
    release = nbformat.read(folder / "release" / ASSIGNMENT / f"{NB_NAME}.ipynb", as_version=4)
    (folder / "inbox").mkdir()
    for student, (answers, _) in STUDENTS.items():
        nbformat.write(fill_answers(copy.deepcopy(release), answers), folder / "inbox" / f"{student}.ipynb")
    return folder / "inbox"


def _workflow(root: Path, db_url: str, inbox: Path) -> tuple[dict, str]:
    """collect + autograde --workers 2 + export through the cnn-course command; returns
    ({student: {grade_id: score}} from the gradebook, the CSV text)."""
    from nbgrader.api import Gradebook

    from cnn_course.autograde.cli import main

    common = ["--root", str(root), "--db-url", db_url]
    assert main(["collect", ASSIGNMENT, str(inbox), *common]) == 0
    assert main(["autograde", ASSIGNMENT, "--workers", "2", "--timeout", "30", *common]) == 0
    csv_path = root / "grades.csv"
    assert main(["export", ASSIGNMENT, "--csv", str(csv_path), *common]) == 0
    grades = {}
    with Gradebook(db_url) as gb:
        for student in STUDENTS:
            sub = gb.find_submission_notebook(NB_NAME, ASSIGNMENT, student)
            grades[student] = {g.name: g.score for g in sub.grades}
        # One submission row per student: nothing graded twice.
        assert sorted(s.student.id for s in gb.find_assignment(ASSIGNMENT).submissions) == sorted(STUDENTS)
    return grades, csv_path.read_text(encoding="utf-8")


def test_instructor_workflow_gives_the_same_grades_on_postgres_as_on_sqlite(pg, tmp_path, capsys):
    from cnn_course.autograde import workers

    inbox = _submissions(tmp_path)
    sqlite_url = f"sqlite:///{tmp_path / 'sqlite' / 'gradebook.db'}"
    pg_url = pg.create_database("gradebook_workflow")
    lite = _workflow(_course_root(tmp_path / "sqlite"), sqlite_url, inbox)
    post = _workflow(_course_root(tmp_path / "postgres"), pg_url, inbox)
    capsys.readouterr()

    expected = {student: points for student, (_, points) in STUDENTS.items()}
    assert lite[0] == expected, f"SQLite grades {lite[0]} are not the submissions' worth {expected}"
    assert post[0] == lite[0], f"PostgreSQL grades {post[0]} differ from SQLite's {lite[0]}"
    assert post[1] == lite[1], f"the exported CSV differs:\n--- SQLite\n{lite[1]}--- PostgreSQL\n{post[1]}"
    rows = [f"{student},{p['test_relu']:g},{p['test_count_positive']:g},{sum(p.values()):g},3,graded,"
            for student, p in sorted(expected.items())]
    assert post[1] == "\n".join(["id,test_relu,test_count_positive,total,max_total,status,note", *rows]) + "\n"

    # Resume on PostgreSQL: a second run finds every completion record current, grades nothing.
    again = workers.autograde(tmp_path / "postgres", ASSIGNMENT, db_url=pg_url, workers=2,
                                 progress_stream=io.StringIO())
    assert sorted(again.skipped) == sorted(STUDENTS) and not again.outcomes


def test_missing_server_skips_by_hand_but_fails_in_ci(monkeypatch):
    """The rule this module follows when PostgreSQL cannot be started (checked directly, so
    that it runs everywhere, server or not)."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL gradebook test: no server"):
        _unavailable("no server")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run this test"):
        _unavailable("no server")


# --------------------------------------------------------------------------- sharding


def _shard_class(folder: Path, copies: int) -> tuple[Path, dict]:
    """``copies`` students per kind of STUDENTS (``correct_3``...); their expected grades."""
    inbox = _submissions(folder / "one")
    many = folder / "many"
    many.mkdir()
    expected = {}
    for student, (_, points) in STUDENTS.items():
        for i in range(copies):
            shutil.copy(inbox / f"{student}.ipynb", many / f"{student}_{i}.ipynb")
            expected[f"{student}_{i}"] = points
    return many, expected


def _grader(root: Path, db_url: str, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "CNN_COURSE_DB_URL"}
    return subprocess.Popen([sys.executable, "-m", "cnn_course.autograde.cli", "autograde", ASSIGNMENT, "--workers",
                             "1", "--timeout", "30", "--root", str(root), "--db-url", db_url, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)


def _graded_by_log(root: Path) -> list[str]:
    """Every "grading <student>" line of every worker log: one per grading."""
    logs = (root / "autograded" / ".cnn-course-logs").glob("*.log")
    return [line.split("grading ", 1)[1].strip() for log in logs for line in log.read_text().splitlines()
            if " grading " in line]


def test_two_shards_grade_every_submission_exactly_once_and_a_killed_one_resumes(pg, tmp_path):
    import signal
    import time

    from nbgrader.api import Gradebook

    from cnn_course.autograde import workers
    from cnn_course.autograde.cli import main

    inbox, expected = _shard_class(tmp_path, copies=3)
    root, url = _course_root(tmp_path / "root"), pg.create_database("gradebook_shards")
    common = ["--root", str(root), "--db-url", url]
    assert main(["collect", ASSIGNMENT, str(inbox), *common]) == 0
    parts = {k: sorted(s for s in expected if workers.in_shard(s, k, 2)) for k in (1, 2)}
    assert parts[1] and parts[2] and sorted(parts[1] + parts[2]) == sorted(expected)

    # Shard 1 is killed (SIGKILL, the whole process group) once it has graded one submission.
    first = _grader(root, url, "--shard", "1/2")
    deadline = time.monotonic() + 120
    while not any((root / "autograded" / s / ASSIGNMENT / ".cnn-course-graded.json").exists() for s in parts[1]):
        assert time.monotonic() < deadline and first.poll() is None, first.communicate()[0]
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    done_before = [s for s in parts[1] if (root / "autograded" / s / ASSIGNMENT / ".cnn-course-graded.json").exists()]
    assert 1 <= len(done_before) < len(parts[1])

    # Both shards started at the same moment: shard 1 resumes, shard 2 grades its part.
    runs = [_grader(root, url, "--shard", f"{k}/2") for k in (1, 2)]
    outs = [r.communicate(timeout=600)[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outs
    assert (f"\n{ASSIGNMENT}: graded {len(parts[1]) - len(done_before)}, skipped {len(done_before)} (already graded), "
            "failed 0\n") in outs[0], outs[0]
    assert f"\n{ASSIGNMENT}: graded {len(parts[2])}, skipped 0 (already graded), failed 0\n" in outs[1], outs[1]

    log = _graded_by_log(root)
    for s in expected:  # exactly once, but for the one the kill may have caught halfway
        assert log.count(s) == 1 or (s in parts[1] and s not in done_before and log.count(s) == 2), (s, log.count(s))
    with Gradebook(url) as gb:
        for student, points in expected.items():
            sub = gb.find_submission_notebook(NB_NAME, ASSIGNMENT, student)
            assert {g.name: g.score for g in sub.grades} == points, student
        assert sorted(s.student.id for s in gb.find_assignment(ASSIGNMENT).submissions) == sorted(expected)


def test_a_shard_must_be_k_of_n(capsys):
    from cnn_course.autograde.cli import main

    for bad in ("0/2", "3/2", "1", "a/b"):
        with pytest.raises(SystemExit):
            main(["autograde", ASSIGNMENT, "--shard", bad])
        assert "expected K/N" in capsys.readouterr().err
