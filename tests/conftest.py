"""Shared fixtures: every test gets its own seeded generators."""

import os
import random

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# Hidden tests draw per-submission seeds from the course's secret: a fixed one keeps the
# pipeline and adversarial suites' verdicts the same on every machine (and writes no file
# into ~/.config).
os.environ.setdefault("CNN_COURSE_HIDDEN_SECRET", "cnn-course test suite")

# Toy notebooks used by the nbgrader tests are data, not notebooks for nbval to run.
collect_ignore = ["fixtures"]


@pytest.fixture
def rng():
    """A NumPy Generator seeded per test, so failures reproduce."""
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.manual_seed(0)


@pytest.fixture
def one_torch_thread():
    """Tiny tensors gain nothing from intra-op threads, and on busy shared cores OpenMP's
    spinning threads make such runs over 10x slower: use one thread, then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
