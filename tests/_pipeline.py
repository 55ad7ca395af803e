"""End-to-end nbgrader pipeline: the machinery and the tests every assignment shares.

Each assignment has its own test file (``tests/test_pipeline_<topic>.py``, setting
``ASSIGNMENT``), so pytest-xdist grades the assignments in parallel; those files import
the tests below (``from _pipeline import *``; real topics also import the ``TOPIC_TESTS``).

generate -> validate the instructor notebook -> autograde submissions (empty, correct,
each catalogued bug, and misbehaving code: hung loops, crashed kernels) -> feedback without hidden
tests. All in a throw-away course directory per assignment (module-scoped: autograding
runs whole notebooks and is the slow part, so every student of an assignment is graded
in one nbgrader call).

The catalog of a topic is ``tests/submissions/<topic>.py`` (``01_convolution`` ->
``convolution``): ``CORRECT``, ``BUGS``, ``PIPELINE_BUGS`` (graded end to end),
``FEEDBACK_BUG`` and ``MISBEHAVING`` (hung loops, crashed kernels). A whole notebook
costs ~20 s per student, so bugs that touch disjoint exercises share one submission (every other exercise gets
``CORRECT``): each failure is still attributable to exactly one bug, and every untouched
exercise must keep full marks. By default a representative subset of bugs is graded
end to end (``PIPELINE_BUGS``; the checks themselves are tested bug by bug, without
nbgrader, in test_grading_*.py); set ``CNN_COURSE_ALL_BUGS=1`` to autograde the whole catalog.
"""

from __future__ import annotations

import copy
import importlib
import os
import time

import nbformat

import pytest

from _nbgrader_helpers import (
    MARKERS,
    AssignmentRef,
    Course,
    all_assignments,
    drop_cells,
    fill_answers,
    grade_ids,
    hidden_lines,
    html_text,
    secret_lines,
    solution_sources,
    squash,
)
from cnn_course.autograde.cli import validate_notebook

TOY = "00_toy"
TOY_TIMEOUT = 5  # seconds per cell for the toy: its cells take milliseconds
# Seconds per cell for a real topic: its slowest cell needs ~6 s under grading on a busy
# 2-core machine; the configured 120 s would make each hung cell cost two minutes here.
TOPIC_TIMEOUT = 30
# What every assignment's test file imports; real topics add TOPIC_TESTS.
__all__ = [
    "graded", "graded_topic", "graded_toy",
    "test_autograde_call_succeeds", "test_source_notebook_validates",
    "test_release_has_no_solutions_hidden_tests_or_outputs", "test_release_keeps_every_graded_cell",
    "test_empty_submission_scores_zero_everywhere", "test_correct_submission_gets_full_marks",
    "test_feedback_shows_message_but_no_hidden_tests",
]
TOPIC_TESTS = [
    "test_bugs_lose_points_exactly_where_expected", "test_catalog_bugs_are_all_graded",
    "test_each_bug_gets_its_hint", "test_misbehaving_topic_submission_loses_only_its_exercise",
]

# Toy submissions that misbehave: name -> {answer cell: source}
INFINITE_LOOP = "def relu(x):\n    while True:\n        pass"
SWALLOWED_INTERRUPT = (
    "import time\n\ndef count_positive(x):\n    while True:\n        try:\n            time.sleep(0.05)\n"
    "        except KeyboardInterrupt:\n            pass"
)
CRASH_IN_ANSWER = "import os\nos._exit(1)"
KILL_IN_TEST = "import os\n\ndef count_positive(x):\n    os.kill(os.getpid(), 9)"
# Runs once, then kills every fresh kernel that replays it: grading must give up on the
# rest of the notebook and score the unrun test cells 0 (not "no error, full marks").
CRASH_ON_REPLAY_RELU = (
    "import os, pathlib\n\nif pathlib.Path('ran_once').exists():\n    os._exit(1)\n"
    "pathlib.Path('ran_once').touch()\n\ndef relu(x):\n    return np.maximum(x, 0.0)"
)
WRONG_SHAPE_RELU = "def relu(x):\n    return np.maximum(x, 0.0).ravel()"

def edit_metadata(nb):
    """A copy whose test_relu cell claims to be an unlocked answer cell that passes, whose
    test_count_positive is worth 100 points, with an extra "grade cell" without an id and
    a second test_relu (a plain pass) at the end. nbgrader's sanitizing must undo it all."""
    nb = copy.deepcopy(nb)
    fake_test = None
    for cell in nb.cells:
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        if nbg.get("grade_id") == "test_relu":
            nbg.update(grade=False, solution=True, locked=False)
            nbg.pop("points", None)
            cell.source = "print('all tests passed')"
            fake_test = copy.deepcopy(cell)
        elif nbg.get("grade_id") == "test_count_positive":
            nbg["points"] = 100
    fake_test.metadata.nbgrader.update(grade=True, solution=False, locked=True, points=2)
    fake_test.source = "pass"
    fake_test["id"] = "fake-test-relu"
    forged = nbformat.v4.new_code_cell("print('bonus')", metadata={"nbgrader": {"grade": True, "points": 100}})
    nb.cells += [forged, fake_test]
    return nb


def _catalog(ref: AssignmentRef):
    topic = ref.name.split("_", 1)[1]
    try:
        return importlib.import_module(f"submissions.{topic}")
    except ModuleNotFoundError:
        return None


def pack_bugs(bugs) -> list[list]:
    """Group bugs into submissions whose touched exercises (the edited one and the ones
    it breaks) are pairwise disjoint; greedy, in catalog order."""
    groups: list[tuple[set, list]] = []
    for bug in bugs:
        touched = {bug.function, *bug.breaks}
        for used, members in groups:
            if not used & touched:
                used |= touched
                members.append(bug)
                break
        else:
            groups.append((set(touched), [bug]))
    return [members for _, members in groups]


def _function_of(gid: str, functions) -> str | None:
    """The exercise a test cell grades: test_<name> or test_<name>_<part>."""
    best = None
    for f in functions:
        if gid == f"test_{f}" or gid.startswith(f"test_{f}_"):
            if best is None or len(f) > len(best):
                best = f
    return best


class Graded:
    """One assignment, generated and autograded for every student."""

    def __init__(self, tmp, ref: AssignmentRef):
        t0 = time.perf_counter()
        self.ref = ref
        self.toy = ref.name == TOY
        self.timeout = TOY_TIMEOUT if self.toy else TOPIC_TIMEOUT
        self.course = Course(tmp, ref, timeout=self.timeout)
        (self.nb_name,) = self.course.notebooks  # one notebook per topic folder
        self.source = self.course.source_nb(self.nb_name)
        self.release = self.course.release_nb(self.nb_name)
        self.solution = solution_sources(self.source)
        self.catalog = _catalog(ref)
        self.students: dict[str, object] = {"empty": self.release, "solution": fill_answers(self.release, self.solution)}
        self.bug_groups: dict[str, list] = {}  # student -> the bugs in their submission
        if self.catalog is not None:
            wanted = None if os.environ.get("CNN_COURSE_ALL_BUGS") else set(self.catalog.PIPELINE_BUGS)
            chosen = [b for b in self.catalog.BUGS if wanted is None or b.name in wanted]
            for i, group in enumerate(pack_bugs(chosen)):
                student = f"bugs_{i}"
                self.bug_groups[student] = group
                answers = {**self.catalog.CORRECT, **{b.function: b.source for b in group}}
                self.students[student] = fill_answers(self.release, answers)
        if self.toy:
            for student, answers in {
                "infinite_loop": {"relu": INFINITE_LOOP},
                "swallowed_interrupt": {"count_positive": SWALLOWED_INTERRUPT},
                "crash_in_answer": {"relu": CRASH_IN_ANSWER},
                "kill_in_test": {"count_positive": KILL_IN_TEST},
                "wrong_shape": {"relu": WRONG_SHAPE_RELU},
                "crash_on_replay": {"relu": CRASH_ON_REPLAY_RELU, "count_positive": CRASH_IN_ANSWER},
            }.items():
                self.students[student] = fill_answers(self.release, {**self.solution, **answers})
            self.students["deleted_test_cell"] = drop_cells(self.students["solution"], {"test_relu"})
            # The cell before the deleted test is gone too: it goes back after the
            # nearest cell the submission still has (the exercise's markdown).
            self.students["deleted_answer_and_test"] = drop_cells(
                self.students["solution"], {"count_positive", "test_count_positive"})
            self.students["edited_metadata"] = edit_metadata(self.students["solution"])
        self.misbehaving = getattr(self.catalog, "MISBEHAVING", {})
        for student, (answers, _) in self.misbehaving.items():
            self.students[student] = fill_answers(self.release, {**self.solution, **answers})

        # The toy also proves that grading misbehaving students leaves another
        # student's grade alone: grade "solution" alone first, then everyone.
        if self.toy:
            self.course.submit("solution", {self.nb_name: self.students["solution"]})
            self.alone = self.course.autograde("solution")
            self.solution_alone = self.course.scores("solution")
        for student, nb in self.students.items():
            self.course.submit(student, {self.nb_name: nb})
        t1 = time.perf_counter()
        self.result = self.course.autograde("*")
        self.seconds = time.perf_counter() - t1
        self.scores = {s: self.course.scores(s) for s in self.students}
        self.setup_seconds = time.perf_counter() - t0
        print(f"\n{ref.name}: autograded {len(self.students)} students in {self.seconds:.1f} s "
              f"(setup total {self.setup_seconds:.1f} s)")


ASSIGNMENTS = all_assignments()
TOPICS = [a for a in ASSIGNMENTS if a.name != TOY]  # real topics: each has a catalog of bugs
_GRADED: dict[str, Graded] = {}


def _graded(ref: AssignmentRef, tmp_path_factory) -> Graded:
    """Each assignment is generated and autograded once per session, whichever fixture asks."""
    if ref.name not in _GRADED:
        _GRADED[ref.name] = Graded(tmp_path_factory.mktemp(ref.name), ref)
    return _GRADED[ref.name]


@pytest.fixture(scope="module")
def graded(request, tmp_path_factory):
    """The assignment named by the test module's ``ASSIGNMENT``, autograded for every student."""
    name = request.module.ASSIGNMENT
    (ref,) = [a for a in ASSIGNMENTS if a.name == name]
    return _graded(ref, tmp_path_factory)


@pytest.fixture(scope="module")
def graded_topic(graded):
    assert graded.catalog is not None, f"{graded.ref.name} has no catalog of bugs in tests/submissions/"
    return graded


@pytest.fixture(scope="module")
def graded_toy(tmp_path_factory):
    (toy,) = [a for a in ASSIGNMENTS if a.name == TOY]
    return _graded(toy, tmp_path_factory)


def test_autograde_call_succeeds(graded):
    assert graded.result["success"], (
        "nbgrader could not grade every student:\n" + graded.result.get("log", "")[-4000:]
    )


def test_source_notebook_validates(graded, tmp_path):
    path = graded.course.tmp / "solutions" / graded.ref.name / f"{graded.nb_name}.ipynb"
    result = validate_notebook(path, timeout=graded.timeout)
    assert result.ok, f"{path} does not pass its own tests:\n" + "\n".join(c["error"][-2000:] for c in result.failed)


def test_release_has_no_solutions_hidden_tests_or_outputs(graded):
    text = "\n".join(c.source for c in graded.release.cells)
    for marker in MARKERS:
        assert marker not in text, f"release notebook still contains {marker!r}"
    release_lines = {line.strip() for c in graded.release.cells for line in c.source.splitlines()}
    leaked = sorted(secret_lines(graded.source) & release_lines)
    assert not leaked, f"solution / hidden-test lines in the release notebook: {leaked[:10]}"
    for c in graded.release.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None, f"cell {c.get('id')} of the release has outputs"


def test_release_keeps_every_graded_cell(graded):
    assert grade_ids(graded.release) == grade_ids(graded.source)
    assert grade_ids(graded.release), "no autograded test cells at all"


def test_empty_submission_scores_zero_everywhere(graded):
    nonzero = {g: s for g, s in graded.scores["empty"].items() if s[0] != 0}
    assert not nonzero, f"the unmodified release notebook earns points on {nonzero}: a test passes without an answer"


def test_correct_submission_gets_full_marks(graded):
    """The instructor's solutions pasted into the release notebook. (The catalog's
    CORRECT sources are graded too: they fill every exercise a bug leaves alone.)"""
    lost = {g: s for g, s in graded.scores["solution"].items() if s[0] != s[1]}
    assert not lost, f"the solution pasted into the release loses points on {lost}"


def test_bugs_lose_points_exactly_where_expected(graded_topic):
    graded = graded_topic
    functions = list(graded.catalog.CORRECT)
    problems = []
    for student, group in graded.bug_groups.items():
        broken = {fn: b.name for b in group for fn in b.breaks}
        per_function: dict[str, list] = {}
        for gid, (score, max_score) in graded.scores[student].items():
            per_function.setdefault(_function_of(gid, functions), []).append((gid, score, max_score))
        for fn, cells in per_function.items():
            lost = sum(m - s for _, s, m in cells)
            if fn in broken and lost == 0:
                problems.append(f"{broken[fn]}: every test of {fn} gives full marks ({cells}) but the bug breaks it")
            if fn not in broken and lost > 0:
                names = ", ".join(b.name for b in group)
                problems.append(f"[{names}]: {fn} loses points ({cells}) though no bug in this submission breaks it")
    assert not problems, "\n".join(problems)


def test_catalog_bugs_are_all_graded(graded_topic):
    graded = graded_topic
    graded_names = {b.name for g in graded.bug_groups.values() for b in g}
    if not os.environ.get("CNN_COURSE_ALL_BUGS"):
        missing = set(graded.catalog.PIPELINE_BUGS) - graded_names
        assert not missing, f"PIPELINE_BUGS not in the catalog: {sorted(missing)}"
    assert len(graded_names) >= 6


def test_each_bug_gets_its_hint(graded_topic):
    graded = graded_topic
    functions = list(graded.catalog.CORRECT)
    missing = []
    for student, group in graded.bug_groups.items():
        nb = graded.course.autograded_nb(student, graded.nb_name)
        for bug in group:
            if not bug.hint:
                continue
            messages = " ".join(
                f"{o.get('ename', '')}: {o.get('evalue', '')}"
                for c in nb.cells
                if c.cell_type == "code"
                and _function_of(c.metadata.get("nbgrader", {}).get("grade_id", ""), functions) == bug.function
                for o in c.outputs
                if o.output_type == "error"
            )
            if bug.hint not in messages:
                missing.append(f"{bug.name}: hint {bug.hint!r} not in {messages[:300]!r}")
    assert not missing, "\n".join(missing)


def _feedback_student(graded) -> str:
    if graded.toy:
        return "wrong_shape"
    for student, group in graded.bug_groups.items():
        if any(b.name == graded.catalog.FEEDBACK_BUG for b in group):
            return student
    return next(iter(graded.bug_groups), "empty")


def test_feedback_shows_message_but_no_hidden_tests(graded):
    student = _feedback_student(graded)
    page = graded.course.feedback_html(student, graded.nb_name)
    text = squash(html_text(page))
    for marker in ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in page, f"feedback for {student} contains {marker!r}"
    leaked = sorted(line for line in hidden_lines(graded.source) if squash(line) in text)
    assert not leaked, f"feedback for {student} shows hidden-test code: {leaked[:5]}"
    # Every failure message of the autograded notebook reaches the student.
    nb = graded.course.autograded_nb(student, graded.nb_name)
    evalues = [o.evalue for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error" and o.evalue]
    assert evalues, f"{student} has no failing cell to give feedback on"
    missing = [v for v in evalues if squash(v) not in text]
    assert not missing, f"feedback for {student} lacks the failure message(s) {missing[:3]}"
    # Hidden tests did run for this student (the failure came from one of them on the toy).
    if graded.toy:
        assert "relu must keep the input's shape" in text
        assert graded.scores[student]["test_relu"][0] == 0


def test_misbehaving_topic_submission_loses_only_its_exercise(graded_topic):
    """A hung loop and a crashed kernel in the real notebook cost only what they break."""
    graded = graded_topic
    assert graded.misbehaving, f"{graded.ref.name}: no misbehaving submissions defined"
    problems = []
    for student, (_, failing) in graded.misbehaving.items():
        for gid, (score, max_score) in graded.scores[student].items():
            want = 0 if gid in failing else max_score
            if score != want:
                problems.append(f"{student}: {gid} scored {score}/{max_score}, expected {want}")
    assert not problems, "\n".join(problems)


