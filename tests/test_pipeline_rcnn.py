"""nbgrader pipeline on 09_rcnn: generate, validate, autograde the empty release, the solution,
the catalogued bugs (tests/submissions/rcnn.py) and misbehaving submissions, then check scores,
hints and feedback. The tests themselves live in tests/_pipeline.py."""

from _pipeline import *  # noqa: F401,F403  (the tests every assignment shares)
from _pipeline import TOPIC_TESTS  # noqa: F401  (listed here so the coverage test sees them)
from _pipeline import (  # noqa: F401
    test_bugs_lose_points_exactly_where_expected,
    test_catalog_bugs_are_all_graded,
    test_each_bug_gets_its_hint,
    test_misbehaving_topic_submission_loses_only_its_exercise,
)

ASSIGNMENT = "09_rcnn"
