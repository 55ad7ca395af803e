"""The timing harness the NumPy-vs-torch benchmarks share: one thread each, paired runs.

Import this module before NumPy: it sets OMP/OPENBLAS/MKL_NUM_THREADS=1 so that NumPy's BLAS
starts with one thread. ``compare(ours, theirs, ...)`` checks that both sides compute the same
numbers, times them back to back (alternating which goes first, so neither always runs on a
warm cache) and prints the fastest and median times and the ratio NumPy ÷ torch against a target.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy starts its BLAS thread pool

import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


def timeit_pair(ours, theirs, repeats, warmup):
    """Run ours() and theirs() alternately; return two arrays of seconds."""
    for _ in range(warmup):
        ours()
        theirs()
    t_ours, t_theirs = [], []
    for k in range(repeats):
        # alternate who goes first, so neither always runs on a warm cache
        pair = [(ours, t_ours), (theirs, t_theirs)]
        for fn, acc in pair if k % 2 == 0 else pair[::-1]:
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    return np.array(t_ours), np.array(t_theirs)


def compare(ours, theirs, *, what, names, target, repeats, warmup, rtol=1e-3, atol=1e-3):
    """Check, time and report ``ours`` (NumPy, returns arrays) against ``theirs`` (torch, returns
    tensors) on one thread each. ``what`` describes the case; ``names`` = (ours, theirs) labels.
    Returns the ratio of the fastest times."""
    torch.set_num_threads(1)
    for a, c in zip(ours(), theirs()):  # same numbers before timing anything
        np.testing.assert_allclose(a, c.numpy(), rtol=rtol, atol=atol)
    with threadpool_limits(limits=1):
        t_o, t_t = timeit_pair(ours, theirs, repeats, warmup)
    print(f"# numpy {np.__version__}, torch {torch.__version__}, 1 thread each, "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"# {what}, {repeats} repeats")
    for name, t in zip(("numpy  " + names[0], "torch  " + names[1]), (t_o, t_t)):
        print(f"{name:<33} fastest {t.min() * 1e3:7.2f} ms   median {np.median(t) * 1e3:7.2f} ms")
    ratio = t_o.min() / t_t.min()
    verdict = "PASS" if ratio <= target else "MISS"
    # each repeat's two runs are back to back, so their ratio cancels slow phases of the machine
    paired = np.median(t_o / t_t)
    print(f"ratio numpy / torch (fastest): {ratio:.2f}  (medians: {np.median(t_o) / np.median(t_t):.2f}, "
          f"median of paired runs: {paired:.2f}), target <= {target}: {verdict}")
    return ratio
