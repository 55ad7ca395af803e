"""``cnn-course collect``: check a folder or .zip of ``<student_id>.ipynb`` and file them.

Each valid notebook goes to ``submitted/<id>/<assignment>/<notebook>.ipynb`` with a
``timestamp.txt`` (the file's time in the folder or zip), and its student into the
gradebook; a roster, when given, limits who may submit. Problems are returned, one
sentence per file, not raised.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

from .course import UsageError
from .gradebook import (
    STUDENT_ID_RE, CourseRoot, NotebookInfo, assignment_info, check_assignment, open_course,
)

MAX_NOTEBOOK_BYTES = 100 * 2**20


@dataclass
class Collected:
    student: str
    source: str  # file name as found (zip entry or path relative to the folder)
    state: str  # "new", "updated", "unchanged"
    missing_cells: list[str] = field(default_factory=list)
    renumbered_ids: int = 0  # cells whose duplicated id collect replaced


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
    bad = [s for s in students if not STUDENT_ID_RE.fullmatch(s)]
    if bad:
        raise UsageError(f"the roster {path} has invalid student id(s) {', '.join(map(repr, bad[:5]))} (letters, digits, _ . - only)")
    return students


def _entry_time_zip(info: zipfile.ZipInfo) -> datetime:
    try:
        return datetime.fromtimestamp(time.mktime((*info.date_time, 0, 0, -1)), timezone.utc)
    except (OverflowError, ValueError):
        return datetime.now(timezone.utc)


#: Stands for a zip entry's path that escapes the zip (``../x.ipynb``, ``/x.ipynb``, ``C:x``).
UNSAFE = "\0unsafe"


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
        raw = info.filename.replace("\\", "/")
        parts = tuple(p for p in raw.split("/") if p not in ("", "."))
        if ".." in parts or raw.startswith("/") or (parts and parts[0].endswith(":")):
            parts = (UNSAFE,)  # refused by name in collect, never unpacked
        elif not parts or _ignored(parts):
            continue
        entries.append((info.filename, parts, (lambda i=info: zf.read(i)), info.file_size, _entry_time_zip(info)))
    return entries


def check_notebook(data: bytes, assignment: str, expected: list[str]) -> tuple[object, list[str], int]:
    """Parse and check one submitted notebook: ``(notebook, missing graded cells, number of
    duplicated cell ids renumbered)``.

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
    renumbered = _renumber_duplicate_ids(raw["cells"])
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
    return nb, missing, renumbered


def _renumber_duplicate_ids(cells: list) -> int:
    """Give every cell whose ``id`` repeats an earlier one a fresh id, in place; the count.

    nbformat would repair them too, with one warning per cell each time any later step
    reads the notebook; collect repairs once and says so in one line."""
    seen, renumbered = set(), 0
    for cell in cells:
        cid = cell.get("id") if isinstance(cell, dict) else None
        if not isinstance(cid, str):
            continue
        if cid in seen:
            n = len(seen)
            while f"cell-{n}" in seen:
                n += 1
            cid = cell["id"] = f"cell-{n}"
            renumbered += 1
        seen.add(cid)
    return renumbered


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=str(path.parent))
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _single_notebook(course: CourseRoot, assignment: str, infos: list[NotebookInfo]) -> NotebookInfo:
    if len(infos) != 1:
        raise UsageError(
            f"{assignment} has {len(infos)} notebooks ({', '.join(i.name for i in infos)}); "
            "collect takes one notebook per student"
        )
    return infos[0]


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
    safe = [e for e in entries if e[1] != (UNSAFE,)]
    if safe and all(len(parts) > 1 for _, parts, *_ in safe) and len({parts[0] for _, parts, *_ in safe}) == 1:
        entries = [(name, parts if parts == (UNSAFE,) else parts[1:], *rest) for name, parts, *rest in entries]
    if not entries:
        raise UsageError(f"no notebooks in {source}")

    seen: dict[str, str] = {}
    accepted = []
    for name, parts, read, size, when in sorted(entries, key=lambda e: e[0]):
        if parts == (UNSAFE,):
            result.problems.append((name, "its path leaves the zip's folder (.. or an absolute path); refused"))
            continue
        if len(parts) > 1:
            result.problems.append((name, "in a subfolder; expected <student_id>.ipynb files side by side"))
            continue
        stem, dot, ext = parts[0].rpartition(".")
        if not dot or ext != "ipynb":
            result.problems.append((name, "not a notebook; expected <student_id>.ipynb"))
            continue
        if not STUDENT_ID_RE.fullmatch(stem):
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
            nb, missing, renumbered = check_notebook(data, assignment, info.graded_cells)
        except ValueError as e:
            result.problems.append((name, str(e)))
            continue
        if renumbered:  # store the repaired notebook, so no later step warns about it again
            import nbformat

            data = (nbformat.writes(nb) + "\n").encode()
        accepted.append((stem, name, data, when, missing, renumbered))

    with course.gradebook() as gb:
        for sid, fields in (known or {}).items():  # the whole roster: export lists who did not submit
            gb.update_or_create_student(sid, **fields)
        for stem, name, data, when, missing, renumbered in accepted:
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
            result.collected.append(Collected(stem, name, state, missing, renumbered))
    return result
