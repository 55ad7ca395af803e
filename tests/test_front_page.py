"""The course's front page (solutions/00_start_here.ipynb -> course/00_start_here.ipynb)
says what the notebooks really contain: their exercises (derived here from the graded
cells, so the page cannot drift), their time estimates (the notebooks' own first cells),
the thirteen topics, and feedback messages the checks really print."""

from __future__ import annotations

import ast
import re
import shutil

import nbformat
import numpy as np
import pytest

from _nbgrader_helpers import REPO
from cnn_course import ref
from cnn_course.autograde.course import list_assignments
from cnn_course.autograde.front_page import (
    FRONT_PAGE, MINUTES_PER_DEMO_CELL, MINUTES_PER_POINT, READING_WORDS_PER_MINUTE, estimate_time,
    front_page_problems, release_front_page,
)

# Each notebook's first markdown cell states "**Time:** about N minutes" (N from the course's
# estimate, cnn_course.autograde.front_page.estimate_time) and "**Prerequisites:** ...".
TIME_LINE = re.compile(r"\*\*Time:\*\*\s*about\s+(\d+)\s+minutes")
EXERCISE_LINE = re.compile(r"^\d+\.\s+`(\w+)`\s+\((\d+) points?\)", re.M)
TOPICS = list_assignments(REPO / "solutions")


def _front() -> nbformat.NotebookNode:
    return nbformat.read(REPO / "solutions" / FRONT_PAGE, as_version=4)


def _cell(cell_id: str) -> str:
    cells = [c for c in _front().cells if c.get("id") == cell_id]
    assert cells, f"solutions/{FRONT_PAGE} has no cell with id {cell_id!r}"
    return cells[0].source


def _notebook(topic: str) -> nbformat.NotebookNode:
    return nbformat.read(REPO / "solutions" / topic / f"{topic}.ipynb", as_version=4)


def exercises(nb: nbformat.NotebookNode) -> list[tuple[str, int]]:
    """(name, points) of each exercise: every answer cell, named by the first function or
    class it defines, with the points of its graded cells: those named ``test_<answer's
    grade_id>[_part]``, else the graded cells up to the next answer cell (two answer cells
    may come before their two test cells)."""
    found: list[list] = []
    by_id: dict[str, list] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            defs = [n.name for n in ast.parse(cell.source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
            found.append([defs[0] if defs else meta["grade_id"], 0])
            by_id[meta["grade_id"]] = found[-1]
        if meta.get("grade") and found:
            gid = meta["grade_id"]
            owners = [a for a in by_id if gid == f"test_{a}" or gid.startswith(f"test_{a}_")]
            (by_id[max(owners, key=len)] if owners else found[-1])[1] += int(meta.get("points", 0))
    return [tuple(e) for e in found]


def _exercise_lines(items) -> str:
    return "\n".join(f"{i}. `{name}` ({pts} point{'s' * (pts != 1)}): ..." for i, (name, pts) in enumerate(items, 1))


@pytest.mark.parametrize("topic", TOPICS)
def test_front_page_lists_every_exercise_with_its_points(topic):
    listed = [(name, int(pts)) for name, pts in EXERCISE_LINE.findall(_cell(f"notebook-{topic}"))]
    graded = exercises(_notebook(topic))
    assert graded, f"{topic} has no exercises"
    assert listed == graded, (
        f"solutions/{FRONT_PAGE}, cell 'notebook-{topic}', must list the exercises of {topic} in order "
        f"(regenerate course/ after fixing it):\n{_exercise_lines(graded)}")
    total = sum(p for _, p in graded)
    assert f"{len(graded)} exercises, {total} points" in _cell(f"notebook-{topic}")


def _first_markdown(topic: str) -> str:
    return next(c for c in _notebook(topic).cells if c.cell_type == "markdown").source


@pytest.mark.parametrize("topic", TOPICS)
def test_notebook_states_its_time_and_prerequisites_first(topic):
    first = _first_markdown(topic)
    stated = TIME_LINE.search(first)
    assert stated, f"{topic}'s first markdown cell must state '**Time:** about N minutes'"
    assert "**Prerequisites:**" in first, f"{topic}'s first markdown cell must state its prerequisites"
    est = estimate_time(_notebook(topic))
    assert int(stated.group(1)) == est.minutes, (
        f"{topic} says about {stated.group(1)} minutes; the course's estimate is about {est.minutes}: "
        f"{est.words} words of reading, {est.demos} demonstration cells, {est.points} points of exercises")


@pytest.mark.parametrize("topic", TOPICS)
def test_front_page_time_estimate_is_the_notebooks_own(topic):
    promised = TIME_LINE.search(_cell(f"notebook-{topic}"))
    assert promised, f"the front page states no '**Time:** about N minutes' for {topic}"
    stated = TIME_LINE.search(_first_markdown(topic))
    assert stated and promised.group(1) == stated.group(1), (
        f"front page: about {promised.group(1)} minutes for {topic}; the notebook says {stated and stated.group(1)}")
    assert f"about {stated.group(1)} minutes |" in _table_row(topic[:2])


def test_time_estimate_leaves_out_boxes_and_optional_sections():
    def code(grade_id, **nbgrader):
        cell = nbformat.v4.new_code_cell("x = 1")
        cell.metadata["nbgrader"] = {"grade_id": grade_id, **nbgrader}
        return cell

    md = nbformat.v4.new_markdown_cell
    nb = nbformat.v4.new_notebook(cells=[
        md("## 1. Words\n" + "word " * 128 + "\n<details><summary>box</summary>\n" + "hidden " * 500 + "\n</details>"),
        code("demo"),
        md("### Play (optional)\n" + "skipped " * 300),
        code("skipped-demo"),
        md("### Back\n```text\n" + "output " * 400 + "\n```"),
        code("answer", solution=True), code("test", grade=True, points=2),
        md("## 2. Later (optional)\n### still optional\n" + "skipped " * 50 + "\n## 3. Required again"),
        code("demo-2"),
    ])
    est = estimate_time(nb)
    assert (est.words, est.demos, est.points) == (3 + 128 + 2 + 4, 2, 2), est
    assert est.minutes == 30  # 137 / 130 + 2 / 3 + 10 = 11.7 minutes, but never less than half an hour


def test_front_page_explains_how_times_are_estimated():
    text = " ".join(_cell("topics").split())
    seconds = round(60 * MINUTES_PER_DEMO_CELL)
    for phrase in (f"{READING_WORDS_PER_MINUTE} words a minute", f"{seconds} seconds for each demonstration cell",
                   f"{MINUTES_PER_POINT} minutes for each point", "rounded to the half hour"):
        assert phrase in text, phrase


def _table_row(number: str) -> str:
    rows = [r for r in _cell("topics").splitlines() if r.startswith(f"| {number} |")]
    assert len(rows) == 1, f"the topics table needs one row for {number}"
    return rows[0]


def test_front_page_table_has_all_thirteen_topics_and_links_the_available_ones():
    numbers = re.findall(r"^\| (\d\d) \|", _cell("topics"), re.M)
    assert numbers == [f"{i:02d}" for i in range(1, 14)]
    for number in numbers:
        topic = next((t for t in TOPICS if t.startswith(number)), None)
        row = _table_row(number)
        if topic:
            assert "| available |" in row and f"({topic}/{topic}.ipynb)" in row, row
            minutes = TIME_LINE.search(_cell(f"notebook-{topic}")).group(1)
            assert row.endswith(f"| about {minutes} minutes |"), f"{row}: the time must be the section's"
        else:
            assert "| planned |" in row, row
    readme = (REPO / "README.md").read_text()
    for topic in TOPICS:  # README's topic table agrees on what is available
        assert re.search(rf"^\| {topic[:2]} \|.*\| available \|$", readme, re.M), topic


def _zero_pad_by_the_library(X, pad):  # as a student writes it, with `from cnn_course import ref` on top
    return ref.zero_pad(X, pad)


def _quoted(prefix: str) -> list[str]:
    """Lines of the fenced blocks of the 'checks' cell whose first line starts with prefix."""
    blocks = re.findall(r"```\n(.*?)```", _cell("checks"), re.S)
    block = next(b for b in blocks if b.startswith(prefix))
    return [ln.strip() for ln in block.strip().splitlines()]


def test_front_page_feedback_examples_are_what_the_checks_print():
    from cnn_course.grading import convolution as check
    from cnn_course.grading.core import CheckFailed, NotYourOwnWork

    def zero_pad(X, pad):  # the mistake the page shows: every axis padded
        return np.pad(X, pad)

    with pytest.raises(CheckFailed) as failed:
        check.zero_pad(zero_pad)
    printed = [ln.strip() for ln in f"{type(failed.value).__name__}: {failed.value}".splitlines()]
    assert _quoted("CheckFailed:") == printed

    with pytest.raises(NotYourOwnWork) as refused:
        check.zero_pad(_zero_pad_by_the_library)
    first = f"{type(refused.value).__name__}: {refused.value}".splitlines()[0]
    assert _quoted("NotYourOwnWork:") == [first]


def test_front_page_release_and_check_sync(tmp_path):
    root = tmp_path / "course_root"
    (root / "solutions").mkdir(parents=True)
    shutil.copy(REPO / "solutions" / FRONT_PAGE, root / "solutions")
    assert front_page_problems(root) == [f"missing: {root / 'course' / FRONT_PAGE}"]
    released = release_front_page(root, root / "course")
    assert front_page_problems(root) == []
    nb = nbformat.read(released, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    assert released.read_text() == (REPO / "course" / FRONT_PAGE).read_text()
    released.write_text(released.read_text().replace("Start here", "Start here (edited by hand)"))
    assert any("differs" in p and "edited by hand" in p for p in front_page_problems(root))
    (root / "solutions" / FRONT_PAGE).unlink()
    assert "stale" in front_page_problems(root)[0]
