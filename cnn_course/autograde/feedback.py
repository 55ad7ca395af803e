"""``cnn-course feedback``: nbgrader's feedback HTML and a ``summary.txt`` per student.

nbgrader's ``GenerateFeedback`` runs with the course's preprocessors (hidden tests and
their tracebacks removed: :class:`~.preprocessors.HideHiddenTestTracebacks`); the summary
lists each exercise's points and its failure message, hidden-test code removed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .course import REVIEW_KEY, UsageError, hidden_test_lines
from .gradebook import (
    MANUAL_NAME, CourseRoot, NotebookInfo, _fmt, _gradebook_submissions, _nbgrader_reason, _shown_url,
    assignment_info, open_course, record_is_current, submitted_students,
)

SUMMARY_NAME = "summary.txt"
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
            reviews = {str(r.get("grade_id")): r for r in ((nb.metadata.get(REVIEW_KEY) or []) if nb else [])
                       if isinstance(r, dict)}
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
                if gid in reviews and g.needs_manual_grade:
                    out.append(f"    needs review: your notebook interferes with the grader ({reviews[gid].get('reason')}); "
                               "these points count once your instructor has reviewed it")
                if score < maximum and gid in cells:
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
