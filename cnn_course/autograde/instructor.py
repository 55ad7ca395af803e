"""The instructor's grading loop behind ``cnn-course collect|autograde|export|feedback``.

Everything here drives nbgrader 0.9.6 (its gradebook, its ``Autograde`` and
``GenerateFeedback`` converters, its folder layout) through the course's
``nbgrader_config.py``; nothing re-implements grading. The functions are plain Python so
the tests call them directly; ``cnn_course.autograde.cli`` only parses arguments and prints.

Folders, under the course root (nbgrader's defaults)::

    submitted/<student>/<assignment>/<notebook>.ipynb   + timestamp.txt       (collect)
    autograded/<student>/<assignment>/<notebook>.ipynb  + .cnn-course-graded.json (autograde)
    feedback/<student>/<assignment>/<notebook>.html     + summary.txt          (feedback)
    autograded/.cnn-course-logs/<assignment>-worker<N>.log  raw output of the grading workers

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

Gradebook. SQLite is switched to WAL once and opened with a busy timeout
(``sqlite:///path?timeout=60``, which SQLAlchemy's pysqlite dialect passes to
``sqlite3.connect``), so several workers can write; or any SQLAlchemy URL nbgrader
accepts, e.g. ``postgresql://...`` (``--db-url`` / ``CNN_COURSE_DB_URL``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import signal
import sys
import tempfile
import time
import traceback
import zipfile
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

from cnn_course.autograde.cli import DB_URL_ENV, CheckFailed, UsageError, generate_release, list_assignments

STUDENT_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
RECORD_NAME = ".cnn-course-graded.json"  # completion record, written last
MANUAL_NAME = ".cnn-course-manual.json"  # "needs manual grading" marker
LOG_DIR = ".cnn-course-logs"  # under autograded/; nbgrader's globs skip dot folders
SUMMARY_NAME = "summary.txt"
SANDBOX_UID_BASE = 61000  # worker i: uid 61000 + i (env CNN_COURSE_SANDBOX_UID_BASE moves the base)
SANDBOX_UID_ENV = "CNN_COURSE_SANDBOX_UID_BASE"
SQLITE_BUSY_TIMEOUT = 60  # seconds a writer waits for the lock
MAX_NOTEBOOK_BYTES = 100 * 2**20

STATUS_GRADED = "graded"
STATUS_NOT_SUBMITTED = "not submitted"
STATUS_NOT_GRADED = "not graded"
STATUS_MANUAL = "needs manual grading"


# --------------------------------------------------------------------------- course + gradebook


def resolve_db_url(root: Path, db_url: str | None = None) -> str:
    """``db_url``, else ``$CNN_COURSE_DB_URL``, else the ``CourseDirectory.db_url`` of the
    root's ``nbgrader_config.py``."""
    if db_url:
        return db_url
    if os.environ.get(DB_URL_ENV):
        return os.environ[DB_URL_ENV]
    from cnn_course.autograde.course import load_config

    url = load_config(root).CourseDirectory.get("db_url")
    if not url:
        raise UsageError(f"no gradebook: nbgrader_config.py in {root} sets no CourseDirectory.db_url (pass --db-url)")
    return url


def gradebook_url(db_url: str) -> str:
    """The URL the workers use: a SQLite file gets a busy timeout (``?timeout=60``)."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(db_url)
    except Exception:
        raise UsageError(f"not a database URL: {db_url!r} (e.g. sqlite:////abs/path/gradebook.db)") from None
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if "timeout" not in url.query:
            url = url.update_query_dict({"timeout": str(SQLITE_BUSY_TIMEOUT)})
    return url.render_as_string(hide_password=False)


def _sqlite_path(db_url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _shown_url(db_url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:
        return db_url


def prepare_sqlite(db_url: str) -> None:
    """Create the SQLite file's folder and switch the database to WAL (once; WAL is
    stored in the file), so readers do not block the grading workers' writes."""
    import sqlite3

    path = _sqlite_path(db_url)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path), timeout=SQLITE_BUSY_TIMEOUT)
    try:
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()


@dataclass
class CourseRoot:
    """A course root (``nbgrader_config.py`` + ``solutions/``) and its gradebook."""

    root: Path
    db_url: str  # as given (shown to the user)

    @property
    def url(self) -> str:
        """The URL every gradebook connection uses (SQLite: with a busy timeout)."""
        return gradebook_url(self.db_url)

    def config(self, **overrides):
        """The course config, rooted here and pointed at this gradebook. Our own files
        (``.cnn-course-*``) are added to ``CourseDirectory.ignore`` so nbgrader never
        copies them into feedback."""
        from cnn_course.autograde.course import load_config

        base = load_config(self.root)
        ignore = list(base.CourseDirectory.get("ignore", []))
        settings = {
            "CourseDirectory.root": str(self.root),
            "CourseDirectory.db_url": self.url,
            "CourseDirectory.ignore": ignore + [p for p in (".cnn-course-*",) if p not in ignore],
        }
        settings.update(overrides)
        return load_config(self.root, **settings)

    @property
    def course_id(self) -> str:
        """``CourseDirectory.course_id`` of the config: nbgrader's converters open the
        gradebook with it, so the CLI does too (PostgreSQL enforces its foreign key)."""
        if not hasattr(self, "_course_id"):
            from cnn_course.autograde.course import load_config

            self._course_id = str(load_config(self.root).CourseDirectory.get("course_id", "") or "")
        return self._course_id

    @contextmanager
    def gradebook(self):
        from nbgrader.api import Gradebook

        try:
            gb = Gradebook(self.url, self.course_id)
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UsageError(f"cannot open the gradebook {_shown_url(self.db_url)}: {first}") from None
        try:
            yield gb
        finally:
            gb.close()

    def folder(self, step: str, student: str, assignment: str) -> Path:
        return self.root / step / student / assignment


def _alembic_on_path() -> None:
    """nbgrader creates a gradebook by running the ``alembic`` script by name: put the
    scripts folder of this Python on PATH (as nbgrader_config.py does), so a virtual
    environment works without activation."""
    scripts = os.path.dirname(sys.executable)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


def open_course(root: str | os.PathLike, db_url: str | None = None) -> CourseRoot:
    _alembic_on_path()
    root = Path(root).resolve()
    course = CourseRoot(root, resolve_db_url(root, db_url))
    course.url  # validates the URL
    return course


def check_assignment(course: CourseRoot, assignment: str) -> None:
    known = list_assignments(course.root / "solutions")
    if assignment not in known:
        raise UsageError(
            f"unknown assignment {assignment!r}: expected one of {', '.join(known) or '(none)'} "
            f"(folders under {course.root / 'solutions'})"
        )


@dataclass
class NotebookInfo:
    name: str
    graded_cells: list[str]  # grade_ids of answer and test cells, notebook order
    grade_cells: list[str]  # grade_ids of cells with points (tests, manually graded answers), notebook order
    max_scores: dict[str, float]


def _notebook_order(course: CourseRoot, assignment: str, nb_name: str) -> list[str]:
    """grade_ids in the order of the instructor notebook (solutions/)."""
    import nbformat

    path = course.root / "solutions" / assignment / f"{nb_name}.ipynb"
    if not path.is_file():
        return []
    nb = nbformat.read(path, as_version=4)
    return [gid for c in nb.cells if (gid := c.get("metadata", {}).get("nbgrader", {}).get("grade_id"))]


def assignment_info(course: CourseRoot, assignment: str, *, create: bool = False) -> list[NotebookInfo]:
    """The assignment's notebooks as the gradebook knows them. With ``create``, an
    assignment missing from the gradebook is recorded first (nbgrader's
    generate_assignment on a throw-away copy; course/ is not touched)."""
    from nbgrader.api import MissingEntry

    check_assignment(course, assignment)
    prepare_sqlite(course.url)
    for attempt in range(2):
        with course.gradebook() as gb:
            try:
                a = gb.find_assignment(assignment)
                notebooks = list(a.notebooks)
            except MissingEntry:
                notebooks = []
            if notebooks:
                out = []
                for nb in notebooks:
                    order = _notebook_order(course, assignment, nb.name)
                    rank = {gid: i for i, gid in enumerate(order)}

                    def ordered(names):
                        return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))

                    graded = ordered({c.name for c in nb.grade_cells} | {c.name for c in nb.solution_cells})
                    grade = ordered({c.name for c in nb.grade_cells})
                    out.append(NotebookInfo(nb.name, graded, grade, {c.name: float(c.max_score) for c in nb.grade_cells}))
                return sorted(out, key=lambda n: n.name)
        if not create or attempt:
            raise UsageError(
                f"{assignment} is not in the gradebook {_shown_url(course.db_url)} "
                f"(run `cnn-course collect` or `cnn-course generate --gradebook {assignment}` first)"
            )
        with tempfile.TemporaryDirectory(prefix="cnn-course-gradebook-") as tmp:
            generate_release(course.root, [assignment], Path(tmp), db_url=course.url)
    raise AssertionError("unreachable")


def _single_notebook(course: CourseRoot, assignment: str, infos: list[NotebookInfo]) -> NotebookInfo:
    if len(infos) != 1:
        raise UsageError(
            f"{assignment} has {len(infos)} notebooks ({', '.join(i.name for i in infos)}); "
            "collect takes one notebook per student"
        )
    return infos[0]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def submission_hashes(course: CourseRoot, assignment: str, student: str) -> dict[str, str]:
    folder = course.folder("submitted", student, assignment)
    return {p.name: sha256_file(p) for p in sorted(folder.glob("*.ipynb"))}


def submitted_students(course: CourseRoot, assignment: str) -> list[str]:
    base = course.root / "submitted"
    if not base.is_dir():
        return []
    return sorted(
        p.name for p in base.iterdir()
        if p.is_dir() and STUDENT_ID_RE.match(p.name) and any((p / assignment).glob("*.ipynb"))
    )


def read_record(course: CourseRoot, assignment: str, student: str) -> dict | None:
    path = course.folder("autograded", student, assignment) / RECORD_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def record_is_current(course: CourseRoot, assignment: str, student: str, in_gradebook: bool) -> bool:
    """Whether ``student``'s submission counts as graded: a completion record matching
    the submitted notebook(s), the autograded notebook(s), and a gradebook submission."""
    record = read_record(course, assignment, student)
    if not record or not in_gradebook:
        return False
    hashes = submission_hashes(course, assignment, student)
    if not hashes or record.get("submission_sha256") != hashes:
        return False
    graded = course.folder("autograded", student, assignment)
    return all((graded / name).is_file() for name in hashes)


def _gradebook_submissions(course: CourseRoot, assignment: str) -> set[str]:
    with course.gradebook() as gb:
        try:
            return {s.student.id for s in gb.assignment_submissions(assignment)}
        except Exception:
            return set()


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


# --------------------------------------------------------------------------- collect


@dataclass
class Collected:
    student: str
    source: str  # file name as found (zip entry or path relative to the folder)
    state: str  # "new", "updated", "unchanged"
    missing_cells: list[str] = field(default_factory=list)


@dataclass
class CollectResult:
    assignment: str
    notebook: str
    collected: list[Collected] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)

    @property
    def ok(self) -> bool:
        return not self.problems


def read_roster(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """Student ids (with optional ``first_name``/``last_name``/``email``) from a CSV with
    an ``id`` column, or from a file with one id per line (``#`` comments allowed)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"no such roster file: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read the roster {path}: {e}") from None
    lines = [x for x in text.splitlines() if x.strip() and not x.lstrip().startswith("#")]
    if not lines:
        raise UsageError(f"the roster {path} lists no students")
    header = [h.strip().lower() for h in next(csv.reader([lines[0]]))]
    students: dict[str, dict[str, str]] = {}
    if "id" in header:
        for row in csv.DictReader(io.StringIO("\n".join(lines))):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            sid = row.get("id", "")
            if sid:
                students[sid] = {k: row[k] for k in ("first_name", "last_name", "email") if row.get(k)}
    else:
        for line in lines:
            students[line.strip()] = {}
    bad = [s for s in students if not STUDENT_ID_RE.match(s)]
    if bad:
        raise UsageError(f"the roster {path} has invalid student id(s) {', '.join(map(repr, bad[:5]))} (letters, digits, _ . - only)")
    return students


def _entry_time_zip(info: zipfile.ZipInfo) -> datetime:
    try:
        return datetime.fromtimestamp(time.mktime((*info.date_time, 0, 0, -1)), timezone.utc)
    except (OverflowError, ValueError):
        return datetime.now(timezone.utc)


def _ignored(parts: Sequence[str]) -> bool:
    return any(p == "__MACOSX" or p.startswith(".") for p in parts)


def _source_entries(source: Path) -> list[tuple[str, tuple[str, ...], Callable[[], bytes], int, datetime]]:
    """(name as found, path parts, reader, size, time) of every file in the folder or zip,
    dotfiles and __MACOSX/ left out."""
    entries = []
    if source.is_dir():
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames[:] = sorted(d for d in dirnames if not _ignored([d]))
            for fn in sorted(filenames):
                path = Path(dirpath) / fn
                rel = path.relative_to(source)
                if _ignored(rel.parts) or not path.is_file():
                    continue
                st = path.stat()
                entries.append((rel.as_posix(), rel.parts, path.read_bytes, st.st_size,
                                datetime.fromtimestamp(st.st_mtime, timezone.utc)))
        return entries
    try:
        zf = zipfile.ZipFile(source)
    except zipfile.BadZipFile:
        raise UsageError(f"{source} is neither a folder nor a zip file") from None
    for info in zf.infolist():
        if info.is_dir():
            continue
        parts = tuple(p for p in info.filename.replace("\\", "/").split("/") if p not in ("", "."))
        if not parts or _ignored(parts):
            continue
        entries.append((info.filename, parts, (lambda i=info: zf.read(i)), info.file_size, _entry_time_zip(info)))
    return entries


def check_notebook(data: bytes, assignment: str, expected: list[str]) -> tuple[object, list[str]]:
    """Parse and check one submitted notebook: ``(notebook, missing graded cells)``.

    Raises ``ValueError`` with the reason (one sentence) when it cannot be collected.
    """
    import nbformat
    from nbformat.validator import ValidationError

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("not valid JSON (not UTF-8 text)") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    if not isinstance(raw, dict):
        raise ValueError("not a Jupyter notebook (the JSON is not an object)")
    version = raw.get("nbformat")
    if version is None:
        raise ValueError("not a Jupyter notebook (no nbformat version)")
    if version != 4:
        raise ValueError(f"nbformat {version} notebook; expected nbformat 4 (open and save it in Jupyter to convert it)")
    if not isinstance(raw.get("cells"), list):
        raise ValueError("not a Jupyter notebook (no cells list)")
    try:
        nb = nbformat.from_dict(raw)
        nbformat.validate(nb)
    except ValidationError as e:
        msg = str(getattr(e, "message", e)).strip().splitlines()
        raise ValueError(f"not a valid nbformat 4 notebook ({msg[0] if msg else 'schema error'})") from None
    except Exception as e:  # noqa: BLE001 - any schema trouble means the same to the instructor
        raise ValueError(f"not a valid nbformat 4 notebook ({type(e).__name__}: {e})") from None
    present = set()
    for cell in nb.cells:
        meta = cell.get("metadata", {})
        gid = meta.get("nbgrader", {}).get("grade_id") if isinstance(meta.get("nbgrader"), dict) else None
        if gid:
            present.add(gid)
    missing = [g for g in expected if g not in present]
    if expected and len(missing) == len(expected):
        raise ValueError(f"not a {assignment} notebook (it has none of the cells {', '.join(expected)})")
    return nb, missing


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=str(path.parent))
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def collect(
    root: str | os.PathLike,
    assignment: str,
    source: str | os.PathLike,
    *,
    db_url: str | None = None,
    roster: str | os.PathLike | None = None,
) -> CollectResult:
    """Check the notebooks in ``source`` (folder or .zip, ``<student_id>.ipynb`` each) and
    copy the valid ones to ``submitted/<id>/<assignment>/<notebook>.ipynb`` with a
    ``timestamp.txt`` (the file's time in the folder or zip); add those students to the
    gradebook. Problems are returned, not raised (usage errors excepted)."""
    course = open_course(root, db_url)
    check_assignment(course, assignment)
    source = Path(source)
    if not source.exists():
        raise UsageError(f"no such folder or zip file: {source}")
    known = read_roster(roster) if roster else None
    info = _single_notebook(course, assignment, assignment_info(course, assignment, create=True))
    result = CollectResult(assignment, info.name)

    entries = _source_entries(source)
    # A zip (or folder) holding one top folder: look inside it.
    if entries and all(len(parts) > 1 for _, parts, *_ in entries) and len({parts[0] for _, parts, *_ in entries}) == 1:
        entries = [(name, parts[1:], *rest) for name, parts, *rest in entries]
    if not entries:
        raise UsageError(f"no notebooks in {source}")

    seen: dict[str, str] = {}
    accepted = []
    for name, parts, read, size, when in sorted(entries, key=lambda e: e[0]):
        if len(parts) > 1:
            result.problems.append((name, "in a subfolder; expected <student_id>.ipynb files side by side"))
            continue
        stem, dot, ext = parts[0].rpartition(".")
        if not dot or ext != "ipynb":
            result.problems.append((name, "not a notebook; expected <student_id>.ipynb"))
            continue
        if not STUDENT_ID_RE.match(stem):
            result.problems.append((name, f"{stem!r} is not a valid student id (letters, digits, _ . - only)"))
            continue
        if stem in seen:
            result.problems.append((name, f"a second notebook for student {stem!r} (first: {seen[stem]})"))
            continue
        seen[stem] = name
        if known is not None and stem not in known:
            result.problems.append((name, f"unknown student {stem!r} (not in the roster {roster})"))
            continue
        if size > MAX_NOTEBOOK_BYTES:
            result.problems.append((name, f"larger than {MAX_NOTEBOOK_BYTES // 2**20} MB"))
            continue
        data = read()
        try:
            _, missing = check_notebook(data, assignment, info.graded_cells)
        except ValueError as e:
            result.problems.append((name, str(e)))
            continue
        accepted.append((stem, name, data, when, missing))

    with course.gradebook() as gb:
        for sid, fields in (known or {}).items():  # the whole roster: export lists who did not submit
            gb.update_or_create_student(sid, **fields)
        for stem, name, data, when, missing in accepted:
            folder = course.folder("submitted", stem, assignment)
            target = folder / f"{info.name}.ipynb"
            if target.is_file() and target.read_bytes() == data:
                state = "unchanged"
            else:
                state = "updated" if target.exists() else "new"
                _write_bytes_atomic(target, data)
                stamp = when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
                _write_bytes_atomic(folder / "timestamp.txt", (stamp + "\n").encode())
            if known is None:
                gb.update_or_create_student(stem)
            result.collected.append(Collected(stem, name, state, missing))
    return result


# --------------------------------------------------------------------------- autograde


@dataclass
class GradeOutcome:
    student: str
    status: str  # "graded" or "failed"
    score: float | None = None
    max_score: float | None = None
    seconds: float = 0.0
    reason: str = ""  # why it failed (it then needs manual grading)


@dataclass
class AutogradeResult:
    assignment: str
    workers: int
    outcomes: list[GradeOutcome] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    interrupted: bool = False

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
    with course.gradebook() as gb:
        sub = gb.find_submission(assignment, student)
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
            "sandbox_uid": config.SandboxedExecute.get("sandbox_uid"),
            "graded_at": _now(),
            "seconds": round(seconds, 3),
        },
    )
    return GradeOutcome(student, "graded", score, max_score, seconds)


def _nbgrader_reason(result: dict) -> str:
    log = [x.strip() for x in (result.get("log") or "").splitlines() if x.strip()]
    error = [x.strip() for x in (result.get("error") or "").splitlines() if x.strip()]
    messages, current = [], None
    for line in log:  # "[ERROR] first line" + its continuation lines (tracebacks left out)
        if re.match(r"^\[[A-Z]+\]", line):
            current = [line.removeprefix("[ERROR]").strip()] if line.startswith("[ERROR]") else None
            if current is not None:
                messages.append(current)
        elif line.startswith("Traceback"):
            current = None
        elif current is not None:
            current.append(line)
    useful = [" ".join(m) for m in messages if m[0] and not m[0].startswith(("Please see", "There was an error"))]
    pick = useful[0] if useful else (error[-1] if error else (log[-1] if log else "unknown error"))
    return "nbgrader could not grade it: " + re.sub(r"\s+", " ", pick)[:300]


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
        else:
            line = f"{o.student} {STATUS_MANUAL}: {o.reason} {o.seconds:.1f}s"
        if self.bar is not None:
            if o.status != "graded":
                self.bar.write(line, file=self.stream)
            self.bar.set_postfix_str(o.student, refresh=False)
            self.bar.update(1)
        else:
            print(f"[{self.done}/{self.total}] {line}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:g}"


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
) -> AutogradeResult:
    """Grade every collected submission of ``assignment`` that has no current completion
    record (all of them with ``force``; only ``students`` when given) in ``workers``
    processes. Raises ``Interrupted`` on Ctrl-C after stopping the workers.

    The workers are ``spawn``ed: a script calling this needs the usual
    ``if __name__ == "__main__":`` guard. ``grade_fn(course, config, assignment, student)``
    (default ``grade_one``) must be importable by name in the workers."""
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
                  str(log_dir / f"{assignment}-worker{slot.index}.log"), grade_fn),
            name=f"cnn-course-grader-{slot.index}",
            daemon=True,
        )
        slot.proc.start()
        child_end.close()
        slot.conn, slot.ready, slot.task = parent_end, False, None

    def finish(slot: _Slot, outcome: GradeOutcome) -> None:
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
                    f"grading workers die while starting; see {log_dir / f'{assignment}-worker{slot.index}.log'}"
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


# --------------------------------------------------------------------------- status + export


def student_status(course: CourseRoot, assignment: str, student: str, submission) -> str:
    """graded / not submitted / not graded / needs manual grading."""
    folder = course.folder("autograded", student, assignment)
    collected = any(course.folder("submitted", student, assignment).glob("*.ipynb"))
    if (folder / MANUAL_NAME).exists():
        return STATUS_MANUAL
    if record_is_current(course, assignment, student, submission is not None):
        return STATUS_MANUAL if submission.needs_manual_grade else STATUS_GRADED
    if collected:
        return STATUS_NOT_GRADED
    if submission is not None:  # in the gradebook without files here (another grader's machine)
        return STATUS_MANUAL if submission.needs_manual_grade else STATUS_GRADED
    return STATUS_NOT_SUBMITTED


@dataclass
class GradeRow:
    student: str
    points: dict[str, float | None]  # grade_id -> score (None: no score)
    total: float | None
    max_total: float
    status: str


def grade_table(root: str | os.PathLike, assignment: str, *, db_url: str | None = None) -> tuple[list[str], list[GradeRow]]:
    """(grade_ids in notebook order, one row per gradebook student sorted by id)."""
    from nbgrader.api import MissingEntry

    course = open_course(root, db_url)
    infos = assignment_info(course, assignment)
    columns = [gid for info in infos for gid in info.grade_cells]
    rows = []
    with course.gradebook() as gb:
        max_total = float(gb.find_assignment(assignment).max_score)
        for student in sorted(gb.students, key=lambda s: s.id):
            try:
                sub = gb.find_submission(assignment, student.id)
            except MissingEntry:
                sub = None
            points: dict[str, float | None] = {gid: None for gid in columns}
            total = None
            if sub is not None:
                for nb in sub.notebooks:
                    for g in nb.grades:
                        if g.manual_score is not None or g.auto_score is not None:
                            points[g.name] = float(g.score)
                total = float(sub.score)
            status = student_status(course, assignment, student.id, sub)
            if status in (STATUS_NOT_SUBMITTED, STATUS_NOT_GRADED):
                points = {gid: None for gid in columns}
            if all(v is None for v in points.values()):
                total = None
            rows.append(GradeRow(student.id, points, total, max_total, status))
    return columns, rows


def export_csv(root: str | os.PathLike, assignment: str, csv_path: str | os.PathLike, *, db_url: str | None = None) -> list[GradeRow]:
    """Write ``id, <grade_id>..., total, max_total, status`` (one row per student in the
    gradebook, by id) to ``csv_path``."""
    columns, rows = grade_table(root, assignment, db_url=db_url)
    csv_path = Path(csv_path)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", *columns, "total", "max_total", "status"])
    for r in rows:
        w.writerow([r.student, *(_fmt(r.points[c]) for c in columns), _fmt(r.total), _fmt(r.max_total), r.status])
    if csv_path.parent and not csv_path.parent.exists():
        raise UsageError(f"no such folder for the CSV: {csv_path.parent}")
    csv_path.write_text(buf.getvalue(), encoding="utf-8")
    return rows


# --------------------------------------------------------------------------- feedback


_TEACHING_ERRORS = {"CheckFailed", "NotYourOwnWork", "AssertionError"}


def _error_message(cell, hidden: list[str]) -> str | None:
    """The feedback message of a failed test cell (its error output), hidden-test code removed."""
    from nbconvert.filters import strip_ansi

    for out in cell.get("outputs", []):
        if out.get("output_type") != "error":
            continue
        ename, evalue = out.get("ename", "Error"), strip_ansi(str(out.get("evalue", ""))).strip()
        if ename == "NotImplementedError":
            text = "not answered yet: the function still raises NotImplementedError"
        elif ename in _TEACHING_ERRORS and evalue:
            text = evalue
        else:
            text = f"{ename}: {evalue}" if evalue else f"{ename} (no message)"
        lines = []
        for line in text.splitlines():
            s = line.strip()
            if s and any(s == h or (len(h) >= 8 and h in s) for h in hidden):
                line = "[hidden test code not shown]"
            if not lines or lines[-1] != line:
                lines.append(line)
        return "\n".join(lines)
    return None


def write_summary(course: CourseRoot, assignment: str, student: str, infos: list[NotebookInfo]) -> Path:
    """``feedback/<student>/<assignment>/summary.txt``: per exercise points / max, the
    failing message, the total."""
    import nbformat
    from nbgrader import utils as nbu

    out = [f"Feedback for {student} on {assignment}", ""]
    total = max_total = 0.0
    with course.gradebook() as gb:
        for info in infos:
            path = course.folder("autograded", student, assignment) / f"{info.name}.ipynb"
            nb = nbformat.read(path, as_version=4) if path.is_file() else None
            cells = {}
            for c in (nb.cells if nb else []):
                gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if gid and nbu.is_grade(c):
                    cells[gid] = c
            if len(infos) > 1:
                out.append(f"{info.name}:")
            for gid in info.grade_cells:
                g = gb.find_grade(gid, info.name, assignment, student)
                score = float(g.score) if (g.auto_score is not None or g.manual_score is not None) else 0.0
                maximum = float(g.max_score)
                total, max_total = total + score, max_total + maximum
                out.append(f"{gid}: {_fmt(score)} / {_fmt(maximum)}")
                if score < maximum and gid in cells:
                    from cnn_course.autograde.course import hidden_test_lines

                    try:
                        source = gb.find_source_cell(gid, info.name, assignment).source
                    except Exception:  # noqa: BLE001
                        source = ""
                    msg = _error_message(cells[gid], hidden_test_lines(source))
                    if msg:
                        out.extend("    " + line for line in msg.splitlines())
    out += ["", f"Total: {_fmt(total)} / {_fmt(max_total)}", ""]
    path = course.folder("feedback", student, assignment) / SUMMARY_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out), encoding="utf-8")
    path.chmod(0o644)
    return path


@dataclass
class FeedbackResult:
    written: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (student, reason)


def feedback(
    root: str | os.PathLike,
    assignment: str,
    *,
    db_url: str | None = None,
    students: Sequence[str] | None = None,
) -> FeedbackResult:
    """nbgrader's generate_feedback (the config hides hidden tests) into
    ``feedback/<id>/<assignment>/`` plus ``summary.txt``, for every graded student (or
    those given)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    course = open_course(root, db_url)
    infos = assignment_info(course, assignment)
    in_gb = _gradebook_submissions(course, assignment)
    with course.gradebook() as gb:
        known = {s.id for s in gb.students}
    here = set(submitted_students(course, assignment))

    def is_graded(s: str) -> bool:
        if s in here:  # collected here: graded when its completion record is current
            return record_is_current(course, assignment, s, True)
        return any(course.folder("autograded", s, assignment).glob("*.ipynb"))  # graded elsewhere

    graded = [s for s in sorted(in_gb) if is_graded(s)]
    if students:
        unknown = [s for s in dict.fromkeys(students) if s not in known and s not in submitted_students(course, assignment)]
        if unknown:
            raise UsageError(f"unknown student(s) {', '.join(map(repr, unknown))}: not in the gradebook {_shown_url(course.db_url)}")
        chosen = list(dict.fromkeys(students))
    else:
        chosen = graded
    result = FeedbackResult()
    config = course.config()
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    for student in chosen:
        if student not in graded:
            why = "its grading needs a person" if (course.folder("autograded", student, assignment) / MANUAL_NAME).exists() \
                else f"not graded yet (run `cnn-course autograde {assignment}`)"
            result.problems.append((student, f"no autograded submission of {assignment}: {why}"))
            continue
        r = api.generate_feedback(assignment, student, force=True)
        if not r.get("success"):
            result.problems.append((student, _nbgrader_reason(r).replace("could not grade it", "could not generate feedback")))
            continue
        write_summary(course, assignment, student, infos)
        result.written.append(student)
    return result
