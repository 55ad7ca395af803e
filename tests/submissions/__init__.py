"""Catalogs of student submissions (correct ones and known bugs), one module per topic.

Used by the grading tests and by the nbgrader pipeline tests, which paste a source into
the autograded-answer cell of ``Bug.function``.
"""

from __future__ import annotations

import linecache
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Bug:
    """A wrong (or cheating) submission of one exercise.

    name: identifier; function: the exercise whose cell gets ``source``; breaks: the
    exercises whose checks must fail (the ones calling ``function`` included); hint: a
    substring the feedback of ``function``'s check must contain ("" for none).
    """

    name: str
    function: str
    source: str
    breaks: frozenset = field(default_factory=frozenset)
    hint: str = ""


def namespace(correct: dict[str, str], overrides: dict[str, str] | None = None) -> dict:
    """Execute the sources like notebook cells, in order, in one ``__main__`` namespace.

    ``overrides`` maps exercise names to replacement sources (a bug in that cell).
    Each source is registered with linecache, so tracebacks show the student's lines.
    """
    ns: dict = {"__name__": "__main__"}
    for name, src in correct.items():
        src = (overrides or {}).get(name, src)
        filename = f"<cell {name}>"
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
        exec(compile(src, filename, "exec"), ns)
    return ns


def replacer(correct: dict[str, str]):
    """``replace(name, old, new, count=1)``: ``correct[name]`` with ``old`` replaced, which
    must be there (a catalogue bug that no longer applies fails loudly, not silently)."""

    def replace(name: str, old: str, new: str, count: int = 1) -> str:
        src = correct[name]
        if src.count(old) < 1:
            raise ValueError(f"{old!r} not in CORRECT[{name!r}]")
        return src.replace(old, new, count)

    return replace


def local_and_judged(module: str, check: str, fn: str, correct: dict[str, str], overrides: dict[str, str]):
    """(verdict in the student's kernel, verdict in the autograder's judge) of a test cell
    running ``check.<check>(<fn>)`` visibly and hidden, ``<fn>`` from the cells ``correct``
    (with ``overrides``); both ``TestResult``s, which must be equal."""
    import contextlib
    import io

    from cnn_course.autograde.judge import TestResult, run_test_cell
    from cnn_course.autograde.links import LoopbackLink

    cell = (f"from cnn_course.grading import {module} as check\n"
            f"check.{check}({fn})\ncheck.{check}({fn}, hidden=True, seed=7)\n")
    g, out = dict(namespace(correct, overrides)), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            exec(compile(cell, "<test cell>", "exec"), g)
        local = TestResult(True, out.getvalue())
    except Exception as exc:
        local = TestResult(False, out.getvalue(), type(exc).__name__, str(exc))
    judged = run_test_cell(cell, LoopbackLink(namespace(correct, overrides)), timeout=120)
    return local, judged


class Catalogue:
    """A topic's checks run on catalogue submissions, as the grading tests do.

    ``checks`` maps an exercise to ``(check, hidden cases)`` or ``(check, the exercises whose
    functions the check also takes, hidden cases)``; ``correct`` and ``bugs`` are the topic's
    catalogue; ``seed`` the hidden tests' seed of :meth:`fails`."""

    def __init__(self, checks: dict, correct: dict[str, str], bugs, seed: int):
        self.checks, self.correct, self.bugs, self.seed = checks, correct, bugs, seed

    def run(self, ns: dict, exercise: str, **kw) -> str:
        """The check's printed output on the functions of ``ns`` (raises what the check raises)."""
        import contextlib
        import io

        fn, *deps, _ = self.checks[exercise]
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            fn(ns[exercise], *(ns[d] for d in (deps[0] if deps else ())), **kw)
        return buf.getvalue()

    def assert_passes(self, ns: dict, exercise: str, seeds) -> None:
        """The check passes on ``ns``: its visible line, then its hidden line with each of
        ``seeds`` (the hidden case count from ``checks``), the profile hook removed after."""
        import re
        import sys

        visible = self.run(ns, exercise)
        assert re.fullmatch(rf"✓ {exercise}: \d visible cases passed\n", visible), visible
        for seed in seeds:
            hidden = self.run(ns, exercise, hidden=True, seed=seed)
            assert hidden == f"✓ {exercise}: {self.checks[exercise][-1]} hidden cases passed\n", hidden
        assert sys.getprofile() is None, "the profile hook was left installed"

    def failure(self, ns: dict, exercise: str, **kw):
        """The CheckFailed the check raises (the test fails if it passes)."""
        import pytest

        from cnn_course.grading import CheckFailed

        with pytest.raises(CheckFailed) as info:
            self.run(ns, exercise, **kw)
        return info.value

    def fails(self, ns: dict, exercise: str, hidden: bool):
        """The CheckFailed of the visible or hidden (``self.seed``) check, or None when it passes."""
        from cnn_course.grading import CheckFailed

        try:
            self.run(ns, exercise, hidden=hidden, seed=self.seed)
        except CheckFailed as err:
            return err
        return None

    def bug_ns(self, name: str) -> dict:
        """The correct cells with bug ``name``'s cell in place."""
        b = next(b for b in self.bugs if b.name == name)
        return namespace(self.correct, {b.function: b.source})
