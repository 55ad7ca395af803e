"""``cnn-course export``: each student's status and grades, as a table and as CSV."""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .course import UsageError
from .gradebook import (
    MANUAL_NAME, STATUS_GRADED, STATUS_MANUAL, STATUS_NOT_GRADED, STATUS_NOT_SUBMITTED, STATUS_REVIEW, CourseRoot, _fmt,
    assignment_info, open_course, read_record, record_is_current, review_line,
)

def student_status(course: CourseRoot, assignment: str, student: str, submission) -> str:
    """graded / not submitted / not graded / needs manual grading / needs review."""
    return student_status_and_note(course, assignment, student, submission)[0]


def student_status_and_note(course: CourseRoot, assignment: str, student: str, submission) -> tuple[str, str]:
    """The status and, for the two that need a person, why (the ``note`` column)."""
    folder = course.folder("autograded", student, assignment)
    if (folder / MANUAL_NAME).exists():
        try:
            reason = str(json.loads((folder / MANUAL_NAME).read_text(encoding="utf-8")).get("reason", ""))
        except (OSError, ValueError, AttributeError):
            reason = ""
        return STATUS_MANUAL, reason
    if record_is_current(course, assignment, student, submission is not None):
        review = (read_record(course, assignment, student) or {}).get("review") or []
        if submission.needs_manual_grade and review:  # a person has not confirmed them all yet
            return STATUS_REVIEW, review_line(review)
        return (STATUS_MANUAL if submission.needs_manual_grade else STATUS_GRADED), ""
    return _unrecorded_status(course, assignment, student, submission), ""


def _unrecorded_status(course: CourseRoot, assignment: str, student: str, submission) -> str:
    collected = any(course.folder("submitted", student, assignment).glob("*.ipynb"))
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
    note: str = ""  # why a person is needed (needs manual grading / needs review)


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
            status, note = student_status_and_note(course, assignment, student.id, sub)
            if status in (STATUS_NOT_SUBMITTED, STATUS_NOT_GRADED):
                points = {gid: None for gid in columns}
            if all(v is None for v in points.values()):
                total = None
            rows.append(GradeRow(student.id, points, total, max_total, status, note))
    return columns, rows


def export_csv(root: str | os.PathLike, assignment: str, csv_path: str | os.PathLike, *, db_url: str | None = None) -> list[GradeRow]:
    """Write ``id, <grade_id>..., total, max_total, status, note`` (one row per student in the
    gradebook, by id) to ``csv_path``."""
    columns, rows = grade_table(root, assignment, db_url=db_url)
    csv_path = Path(csv_path)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", *columns, "total", "max_total", "status", "note"])
    for r in rows:
        w.writerow([r.student, *(_fmt(r.points[c]) for c in columns), _fmt(r.total), _fmt(r.max_total), r.status, r.note])
    if csv_path.parent and not csv_path.parent.exists():
        raise UsageError(f"no such folder for the CSV: {csv_path.parent}")
    csv_path.write_text(buf.getvalue(), encoding="utf-8")
    return rows
