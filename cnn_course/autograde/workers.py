"""``cnn-course autograde``: grade the collected submissions in parallel worker processes, resumably.

Resuming. A submission counts as graded only when its *completion record*
``autograded/<student>/<assignment>/.cnn-course-graded.json`` exists, holds the sha256 of
the submitted notebook(s) that are there now, and the gradebook has the submission. A
worker writes that record last, after nbgrader's ``Autograde`` returned and the score was
read back from the gradebook, so a run killed at any moment leaves either a complete
record or none; the next run regrades exactly the submissions without one, with
nbgrader's ``force`` (the same gradebook rows are updated, never duplicated).

Parallel grading. ``autograde`` starts N worker processes (``spawn``); each runs
nbgrader's ``Autograde`` for one student at a time with its own sandbox uid
(``SandboxedExecute.sandbox_uid = 61000 + worker index``; ``$CNN_COURSE_SANDBOX_UID_BASE``
moves the base; a uid that a concurrent grading run on this machine already holds is
skipped, so two runs never share a sandbox user). Workers run in their own
session (Ctrl-C reaches only the main process, which then kills them and their kernels)
and die with the main process (``PR_SET_PDEATHSIG``). A worker that dies, or is still on
one submission after the hard limit, is killed with its process tree and replaced; that
student is flagged "needs manual grading" (a marker file and nbgrader's own
``needs_manual_grade`` flags in the gradebook) and the others go on.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

from .course import REVIEW_KEY, CheckFailed, UsageError
from .gradebook import (
    MANUAL_NAME, RECORD_NAME, STATUS_MANUAL, STATUS_REVIEW, CourseRoot, review_line, _fmt, _gradebook_submissions, _nbgrader_reason,
    assignment_info, open_course, read_record, record_is_current, submission_hashes, submitted_students,
)

LOG_DIR = ".cnn-course-logs"  # under autograded/; nbgrader's globs skip dot folders
SANDBOX_UID_BASE = 61000  # worker i: uid 61000 + i (env CNN_COURSE_SANDBOX_UID_BASE moves the base)
SANDBOX_UID_ENV = "CNN_COURSE_SANDBOX_UID_BASE"


@dataclass
class GradeOutcome:
    student: str
    status: str  # "graded" or "failed"
    score: float | None = None
    max_score: float | None = None
    seconds: float = 0.0
    reason: str = ""  # why it failed (it then needs manual grading)
    review: str = ""  # graded, but tampering was found: what and where (a person confirms the grades)


@dataclass
class AutogradeResult:
    assignment: str
    workers: int
    outcomes: list[GradeOutcome] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    interrupted: bool = False
    disk_full: str = ""  # the full disk's folder, when grading stopped for it
    not_graded: list[str] = field(default_factory=list)  # left for the next run (the disk was full)

    @property
    def graded(self) -> list[GradeOutcome]:
        return [o for o in self.outcomes if o.status == "graded"]

    @property
    def failed(self) -> list[GradeOutcome]:
        return [o for o in self.outcomes if o.status != "graded"]

    @property
    def per_minute(self) -> float:
        return 60.0 * len(self.outcomes) / self.elapsed if self.elapsed > 0 else 0.0


class Interrupted(Exception):
    """Ctrl-C during autograde: the workers are stopped; carries the partial result."""

    def __init__(self, result: AutogradeResult):
        super().__init__("interrupted")
        self.result = result


def _executor_sections(config) -> list[str]:
    """Config sections of the execute preprocessor(s) in the autograde list."""
    names = {"Execute"}
    try:
        from nbconvert.preprocessors import ExecutePreprocessor

        for pp in config.Autograde.get("autograde_preprocessors", []):
            if isinstance(pp, type) and issubclass(pp, ExecutePreprocessor):
                names.add(pp.__name__)
    except Exception:  # noqa: BLE001 - a config we cannot inspect: Execute alone
        pass
    return sorted(names)


def sandbox_uid_base() -> int:
    value = os.environ.get(SANDBOX_UID_ENV, "").strip()
    if not value:
        return SANDBOX_UID_BASE
    try:
        base = int(value)
    except ValueError:
        raise UsageError(f"${SANDBOX_UID_ENV} must be a number (a uid), not {value!r}") from None
    if not 1000 <= base <= 2**31 - 1000:
        raise UsageError(f"${SANDBOX_UID_ENV}={base} is not a sensible unprivileged uid base")
    return base


_uid_claim = None  # the worker's claim on its sandbox uid, held until it exits


def claim_sandbox_uid(index: int, workers: int, base: int | None = None, tries: int = 64) -> int:
    """``base + index``, or when another grading run on this machine holds that uid,
    ``base + index + k * workers`` for the first free k. A uid is held by binding an
    abstract unix socket named after it (Linux; released when the process dies)."""
    import socket

    global _uid_claim
    base = sandbox_uid_base() if base is None else base
    step = max(1, workers)
    for k in range(tries):
        uid = base + index + k * step
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(f"\0cnn-course-sandbox-uid-{uid}")
        except OSError as e:
            sock.close()
            if getattr(e, "errno", None) == 98:  # EADDRINUSE: another run's worker has it
                continue
            return base + index  # no abstract sockets here: no claims
        _uid_claim = sock
        return uid
    return base + index


def worker_config(course: CourseRoot, index: int, cell_timeout: int | None = None, sandbox_uid: int | None = None):
    """The config one grading worker runs nbgrader with: this root and gradebook, the
    per-cell timeout, and its own sandbox uid (a trait of ``SandboxedExecute``; a
    section for a class that does not exist is ignored by traitlets)."""
    config = course.config()
    if cell_timeout:
        for section in _executor_sections(config):
            config[section]["timeout"] = int(cell_timeout)
    config.SandboxedExecute.sandbox_uid = sandbox_uid if sandbox_uid is not None else sandbox_uid_base() + index
    return config


def _write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=str(path.parent))
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def grade_one(course: CourseRoot, config, assignment: str, student: str) -> GradeOutcome:
    """Autograde one student with nbgrader (``force``), read the score back from the
    gradebook, then write the completion record (last)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    start = time.monotonic()
    hashes = submission_hashes(course, assignment, student)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    result = api.autograde(assignment, student, force=True, create=True)
    seconds = time.monotonic() - start
    if not result.get("success"):  # the whole story goes to the worker's log
        print(f"nbgrader autograde failed for {student}:\n{result.get('log', '')}\n{result.get('error', '')}", flush=True)
        return GradeOutcome(student, "failed", seconds=seconds, reason=_nbgrader_reason(result))
    reviews = _reviews(course, assignment, student)
    with course.gradebook() as gb:
        sub = gb.find_submission(assignment, student)
        if reviews:  # the formgrader lists these grades as needing a person
            flagged = {r["grade_id"] for r in reviews}
            for nb in sub.notebooks:
                for grade in nb.grades:
                    if grade.name in flagged:
                        grade.needs_manual_grade = True
            gb.db.commit()
        score, max_score, manual = float(sub.score), float(sub.max_score), bool(sub.needs_manual_grade)
    _write_json_atomic(
        course.folder("autograded", student, assignment) / RECORD_NAME,
        {
            "student": student,
            "assignment": assignment,
            "submission_sha256": hashes,
            "score": score,
            "max_score": max_score,
            "needs_manual_grade": manual,
            "review": reviews,
            "sandbox_uid": config.SandboxedExecute.get("sandbox_uid"),
            "graded_at": _now(),
            "seconds": round(seconds, 3),
        },
    )
    return GradeOutcome(student, "graded", score, max_score, seconds, review=review_line(reviews))


def _reviews(course: CourseRoot, assignment: str, student: str) -> list[dict]:
    """The grader's list of test cells graded after tampering, from the autograded notebooks."""
    import nbformat

    found = []
    for path in sorted(course.folder("autograded", student, assignment).glob("*.ipynb")):
        try:
            entries = nbformat.read(path, as_version=4).metadata.get(REVIEW_KEY) or []
        except Exception:  # noqa: BLE001 - nbgrader wrote it; unreadable means nothing to add
            continue
        found += [{"grade_id": str(e.get("grade_id")), "reason": str(e.get("reason", ""))[:300],
                   "passed": bool(e.get("passed"))} for e in entries if isinstance(e, dict)]
    return found


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when its parent dies (the CLI killed with -9)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the workers' pipes still close
        pass
    if os.getppid() != parent:
        os._exit(1)


def _worker_main(index: int, workers: int, conn, root: str, db_url: str, assignment: str, cell_timeout, parent: int,
                 log_path: str, grade_fn) -> None:
    """A grading worker: its own session, its output to a log file, one student at a time."""
    try:
        os.setsid()
    except OSError:
        pass
    _die_with_parent(parent)
    try:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    except OSError:
        pass
    try:
        course = CourseRoot(Path(root), db_url)
        uid = claim_sandbox_uid(index, workers)
        config = worker_config(course, index, cell_timeout, sandbox_uid=uid)
        print(f"--- {_now()} worker {index} (pid {os.getpid()}): sandbox uid {uid}", flush=True)
        conn.send(("ready", uid))
    except BaseException:  # noqa: BLE001 - tell the parent why, then stop
        conn.send(("fatal", traceback.format_exc()))
        return
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        print(f"--- {_now()} worker {index}: grading {task}", flush=True)
        try:
            outcome = grade_fn(course, config, assignment, task)
        except Exception as e:  # noqa: BLE001 - one student's trouble; the worker goes on
            traceback.print_exc()
            outcome = GradeOutcome(task, "failed", reason=f"grading raised {type(e).__name__}: {e}")
        conn.send(("result", outcome))


def in_shard(student: str, k: int, n: int) -> bool:
    """Whether ``student`` is in part ``k`` (1..n) of ``n``: a hash of the id, the same on
    every machine and in every run."""
    digest = hashlib.sha256(student.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % n == k - 1


_NO_SPACE = "No space left on device"
DISK_MARGIN = 16 * 2**20  # less free space than this on the course's disk: stop grading


def disk_full(root: Path, margin: int = DISK_MARGIN) -> bool:
    """Whether the disk holding the course folder (the autograded notebooks, the records,
    a SQLite gradebook next to them) has less than ``margin`` bytes free."""
    try:
        return shutil.disk_usage(root).free < margin
    except OSError:
        return False


def _kill_tree(pid: int) -> None:
    """SIGKILL a worker and everything it started (kernels, sandboxes)."""
    procs = []
    try:
        import psutil

        p = psutil.Process(pid)
        procs = p.children(recursive=True) + [p]
        for q in procs:
            try:
                q.kill()
            except psutil.Error:
                pass
    except Exception:  # noqa: BLE001 - psutil missing or the process gone
        pass
    try:
        if os.getpgid(pid) == pid:  # the worker leads its own session/group
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if procs:
        try:
            import psutil

            psutil.wait_procs(procs, timeout=5)
        except Exception:  # noqa: BLE001
            pass


def mark_needs_manual_grading(course: CourseRoot, assignment: str, student: str, reason: str) -> None:
    """Flag a submission the autograder could not finish: a marker file next to where
    its autograded notebook goes, and nbgrader's ``needs_manual_grade`` in the gradebook
    (so the formgrader lists it)."""
    folder = course.folder("autograded", student, assignment)
    record = folder / RECORD_NAME
    if record.exists():  # a stale record must not make it look graded
        record.unlink()
    _write_json_atomic(folder / MANUAL_NAME, {"student": student, "assignment": assignment, "reason": reason, "at": _now()})
    import warnings

    try:
        with course.gradebook() as gb, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbgrader's add_submission trips SQLAlchemy autoflush warnings
            gb.update_or_create_student(student)
            sub = gb.update_or_create_submission(assignment, student)
            for nb in sub.notebooks:
                for grade in nb.grades:
                    grade.needs_manual_grade = True
            gb.db.commit()
    except Exception:  # noqa: BLE001 - the marker file is enough for export
        pass


class _Progress:
    """tqdm on a terminal; else one line per finished submission."""

    def __init__(self, total: int, stream=None):
        self.stream = stream or sys.stderr
        self.bar = None
        if total and getattr(self.stream, "isatty", lambda: False)():
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, file=self.stream, unit="sub", desc="autograde")
            except ImportError:
                self.bar = None
        self.total, self.done = total, 0

    def update(self, o: GradeOutcome) -> None:
        self.done += 1
        if o.status == "graded":
            line = f"{o.student} {_fmt(o.score)}/{_fmt(o.max_score)} {o.seconds:.1f}s"
            if o.review:
                line += f" — {STATUS_REVIEW}: {o.review}"
        else:
            line = f"{o.student} {STATUS_MANUAL}: {o.reason} {o.seconds:.1f}s"
        if self.bar is not None:
            if o.status != "graded" or o.review:
                self.bar.write(line, file=self.stream)
            self.bar.set_postfix_str(o.student, refresh=False)
            self.bar.update(1)
        else:
            print(f"[{self.done}/{self.total}] {line}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class _Slot:
    index: int
    proc: object = None
    conn: object = None
    ready: bool = False
    task: str | None = None
    started: float = 0.0


def available_cores() -> int:
    """Cores this process may run on (the CPU affinity mask, as a container sets it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_hard_limit(course: CourseRoot, assignment: str, cell_timeout: int | None) -> int:
    """Generous per-submission wall-clock limit, a backstop behind the executor's own
    limits: its notebook budget (``notebook_timeout``) when it has one, else every code
    cell hitting its timeout twice (a timeout, then the restart and replay); plus five
    minutes for nbgrader's own work."""
    import nbformat

    cfg = course.config()
    sections = _executor_sections(cfg)
    budgets = [int(cfg[s]["notebook_timeout"]) for s in sections if cfg[s].get("notebook_timeout")]
    if budgets:
        return max(budgets) + 300
    if not cell_timeout:
        cell_timeout = max(int(cfg[s].get("timeout", 0) or 0) for s in sections) or 120
    cells = 0
    for path in (course.root / "solutions" / assignment).glob("*.ipynb"):
        cells += sum(c.cell_type == "code" for c in nbformat.read(path, as_version=4).cells)
    return 2 * max(cells, 1) * int(cell_timeout) + 300


def autograde(
    root: str | os.PathLike,
    assignment: str,
    *,
    db_url: str | None = None,
    workers: int | None = None,
    students: Sequence[str] | None = None,
    force: bool = False,
    cell_timeout: int | None = None,
    hard_limit: float | None = None,
    progress_stream=None,
    grade_fn: Callable = grade_one,
    shard: tuple[int, int] | None = None,
) -> AutogradeResult:
    """Grade every collected submission of ``assignment`` that has no current completion
    record (all of them with ``force``; only ``students`` when given) in ``workers``
    processes. Raises ``Interrupted`` on Ctrl-C after stopping the workers.

    The workers are ``spawn``ed: a script calling this needs the usual
    ``if __name__ == "__main__":`` guard. ``grade_fn(course, config, assignment, student)``
    (default ``grade_one``) must be importable by name in the workers.

    ``shard=(k, n)`` grades only the k-th of n disjoint parts of the submissions (by a hash
    of the student id, :func:`in_shard`): n graders, on one machine or several sharing the
    course folder and a PostgreSQL gradebook, each started with its own k, grade every
    submission exactly once."""
    import multiprocessing as mp
    from multiprocessing.connection import wait

    course = open_course(root, db_url)
    sandbox_uid_base()  # a bad $CNN_COURSE_SANDBOX_UID_BASE is a usage error, before any work
    assignment_info(course, assignment, create=True)  # also: WAL + the assignment in the gradebook
    collected = submitted_students(course, assignment)
    if students:
        unknown = [s for s in dict.fromkeys(students) if s not in collected]
        if unknown:
            raise UsageError(
                f"no collected submission of {assignment} for student(s) {', '.join(map(repr, unknown))} "
                f"(collected: {', '.join(collected) or 'none'}; run `cnn-course collect` first)"
            )
        chosen = list(dict.fromkeys(students))
    else:
        chosen = collected
    if shard is not None:
        k, n_shards = shard
        if not (isinstance(k, int) and isinstance(n_shards, int) and 1 <= k <= n_shards):
            raise UsageError(f"--shard must be K/N with 1 <= K <= N, got {k}/{n_shards}")
        chosen = [s for s in chosen if in_shard(s, k, n_shards)]
    in_gb = _gradebook_submissions(course, assignment)
    todo, skipped = [], []
    for s in chosen:
        if not force and record_is_current(course, assignment, s, s in in_gb):
            skipped.append(s)
        else:
            todo.append(s)
    n = max(1, min(int(workers or available_cores()), len(todo) or 1))
    result = AutogradeResult(assignment, n if todo else 0, skipped=skipped)
    if not todo:
        return result

    log_dir = course.root / "autograded" / LOG_DIR
    log_tag = f"-shard{shard[0]}of{shard[1]}" if shard else ""
    log_dir.mkdir(parents=True, exist_ok=True)
    ctx = mp.get_context("spawn")
    queue = deque(todo)
    slots = [_Slot(i) for i in range(n)]
    progress = _Progress(len(todo), progress_stream)
    start_failures = 0

    def start(slot: _Slot) -> None:
        parent_end, child_end = ctx.Pipe()
        slot.proc = ctx.Process(
            target=_worker_main,
            args=(slot.index, n, child_end, str(course.root), course.db_url, assignment, cell_timeout, os.getpid(),
                  str(log_dir / f"{assignment}{log_tag}-worker{slot.index}.log"), grade_fn),
            name=f"cnn-course-grader-{slot.index}",
            daemon=True,
        )
        slot.proc.start()
        child_end.close()
        slot.conn, slot.ready, slot.task = parent_end, False, None

    def finish(slot: _Slot, outcome: GradeOutcome) -> None:
        if outcome.status != "graded" and (_NO_SPACE in outcome.reason or disk_full(course.root)):
            # not the submission's fault: stop here, keep what is graded, leave the rest for a rerun
            result.disk_full = str(course.root)
            result.not_graded += [outcome.student, *queue]
            queue.clear()
            return
        if outcome.status != "graded":
            mark_needs_manual_grading(course, assignment, outcome.student, outcome.reason)
        result.outcomes.append(outcome)
        progress.update(outcome)

    def lost(slot: _Slot, reason: str) -> None:
        """The worker is gone or killed: settle its student, start a fresh worker."""
        nonlocal start_failures
        if slot.task is not None:
            student, seconds = slot.task, time.monotonic() - slot.started
            slot.task = None
            in_gb_now = student in _gradebook_submissions(course, assignment)
            record = read_record(course, assignment, student)
            if record_is_current(course, assignment, student, in_gb_now) and record:  # finished just before
                finish(slot, GradeOutcome(student, "graded", record.get("score"), record.get("max_score"), seconds))
            else:
                finish(slot, GradeOutcome(student, "failed", seconds=seconds, reason=reason))
        elif not slot.ready:
            start_failures += 1
            if start_failures > 3:
                raise CheckFailed(
                    f"grading workers die while starting; see {log_dir / f'{assignment}{log_tag}-worker{slot.index}.log'}"
                )
        try:
            slot.conn.close()
        except OSError:
            pass
        slot.proc = None
        if queue:
            start(slot)

    t0 = time.monotonic()
    try:
        for slot in slots:
            start(slot)
        if hard_limit is None:  # while the workers start
            hard_limit = default_hard_limit(course, assignment, cell_timeout)
        while queue or any(s.task is not None for s in slots):
            live = [s for s in slots if s.proc is not None]
            if not live:
                break
            wait([s.conn for s in live] + [s.proc.sentinel for s in live], timeout=0.5)
            now = time.monotonic()
            for slot in live:
                dead = False
                try:
                    while slot.conn.poll():
                        kind, payload = slot.conn.recv()
                        if kind == "ready":
                            slot.ready = True
                        elif kind == "result":
                            slot.task = None
                            finish(slot, payload)
                        elif kind == "fatal":
                            raise CheckFailed(f"a grading worker could not start: {payload.strip().splitlines()[-1]}")
                except (EOFError, OSError):
                    dead = True
                if dead or not slot.proc.is_alive():
                    slot.proc.join(timeout=1)
                    _kill_tree(slot.proc.pid)  # its kernels, if any survived it
                    code = slot.proc.exitcode
                    lost(slot, f"the grading worker died (exit code {code})")
                    continue
                if slot.task is not None and now - slot.started > hard_limit:
                    _kill_tree(slot.proc.pid)
                    slot.proc.join(timeout=5)
                    lost(slot, f"still running after the hard limit of {_fmt(hard_limit)} s; the worker was killed")
                    continue
                if slot.ready and slot.task is None and queue and disk_full(course.root):
                    result.disk_full = str(course.root)
                    result.not_graded += list(queue)
                    queue.clear()
                if slot.ready and slot.task is None and queue:
                    slot.task, slot.started = queue.popleft(), time.monotonic()
                    slot.conn.send(slot.task)
        for slot in slots:
            if slot.proc is not None:
                try:
                    slot.conn.send(None)
                except OSError:
                    pass
        deadline = time.monotonic() + 1.0  # idle workers hold nothing worth waiting for
        for slot in slots:
            if slot.proc is not None:
                slot.proc.join(timeout=max(0.0, deadline - time.monotonic()))
                if slot.proc.is_alive():
                    _kill_tree(slot.proc.pid)
    except KeyboardInterrupt:
        for slot in slots:
            if slot.proc is not None:
                _kill_tree(slot.proc.pid)
        result.elapsed = time.monotonic() - t0
        result.interrupted = True
        progress.close()
        raise Interrupted(result) from None
    except BaseException:
        for slot in slots:
            if slot.proc is not None:
                _kill_tree(slot.proc.pid)
        progress.close()
        raise
    result.elapsed = time.monotonic() - t0
    progress.close()
    result.outcomes.sort(key=lambda o: o.student)
    return result
