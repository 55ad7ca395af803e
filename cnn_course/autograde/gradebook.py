"""The course root and its gradebook, as the instructor commands share them.

Folders, under the course root (nbgrader's defaults)::

    submitted/<student>/<assignment>/<notebook>.ipynb   + timestamp.txt       (collect)
    autograded/<student>/<assignment>/<notebook>.ipynb  + .cnn-course-graded.json (autograde)
    feedback/<student>/<assignment>/<notebook>.html     + summary.txt          (feedback)
    autograded/.cnn-course-logs/<assignment>-worker<N>.log  raw output of the grading workers

Gradebook. SQLite is switched to WAL once and opened with a busy timeout
(``sqlite:///path?timeout=60``, which SQLAlchemy's pysqlite dialect passes to
``sqlite3.connect``), so several workers can write; or any SQLAlchemy URL nbgrader
accepts, e.g. ``postgresql://...`` (``--db-url`` / ``CNN_COURSE_DB_URL``).

Here: :class:`CourseRoot` and :func:`open_course`, the gradebook's URL and SQLite set-up,
what the gradebook knows of an assignment (:func:`assignment_info`), the submissions
collected and the completion records that say which are graded (written by
:mod:`.workers`), and the small helpers the commands share.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .course import DB_URL_ENV, UsageError, generate_release, list_assignments, load_config

STUDENT_ID_RE = re.compile(r"[A-Za-z0-9_.-]+")  # always .fullmatch: "$" would accept a trailing newline
RECORD_NAME = ".cnn-course-graded.json"  # completion record, written last
MANUAL_NAME = ".cnn-course-manual.json"  # "needs manual grading" marker
SQLITE_BUSY_TIMEOUT = 60  # seconds a writer waits for the lock

STATUS_GRADED = "graded"
STATUS_NOT_SUBMITTED = "not submitted"
STATUS_NOT_GRADED = "not graded"
STATUS_MANUAL = "needs manual grading"
STATUS_REVIEW = "needs review"  # graded, but tampering was found: a person confirms the grades


# --------------------------------------------------------------------------- course + gradebook


def resolve_db_url(root: Path, db_url: str | None = None) -> str:
    """``db_url``, else ``$CNN_COURSE_DB_URL``, else the ``CourseDirectory.db_url`` of the
    root's ``nbgrader_config.py``."""
    if db_url:
        return db_url
    if os.environ.get(DB_URL_ENV):
        return os.environ[DB_URL_ENV]
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


# --------------------------------------------------------------------------- submissions and completion records


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
        if p.is_dir() and STUDENT_ID_RE.fullmatch(p.name) and any((p / assignment).glob("*.ipynb"))
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


# --------------------------------------------------------------------------- shared by the commands


def review_line(reviews: list[dict]) -> str:
    """One line for the instructor, e.g. "tampering in cell 12 line 3 (gc): 4 test cells to review"."""
    if not reviews:
        return ""
    reasons = list(dict.fromkeys(r["reason"] for r in reviews))
    return f"{'; '.join(reasons)}: {len(reviews)} test cell(s) to review ({', '.join(r['grade_id'] for r in reviews)})"


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
    raised = [x for x in error + log if _EXCEPTION_LINE.match(x)]  # "RuntimeError: what went wrong"
    pick = useful[0] if useful else (raised[-1] if raised else (error[-1] if error else (log[-1] if log else "unknown error")))
    return "nbgrader could not grade it: " + _one_sentence(pick)


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Warning|Exit|Interrupt): \S")


def _one_sentence(text: str, limit: int = 200) -> str:
    """``text`` on one line, a traceback cut off, at most ``limit`` characters (at a word)."""
    text = re.sub(r"\s+", " ", text.split("Traceback (most recent call last)")[0]).strip() or "unknown error"
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " …"
    return text


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:g}"
