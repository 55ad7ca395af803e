"""Time the NumPy depthwise convolution against torch's grouped convolution, one thread each.

    python benchmarks/bench_depthwise.py [--repeats 20] [--warmup 3] [--shape 64 32 32 32] [--f 3] [--pad 1]

Forward + backward (dx, dw, db) in float32 of ``cnn_course.ref.depthwise_conv2d_forward`` /
``depthwise_conv2d_backward`` against ``F.conv2d(x, w, b, padding=pad, groups=C)`` with
autograd. Both sides run on one thread (OMP/OPENBLAS/MKL_NUM_THREADS=1 set before NumPy is
imported, threadpoolctl, ``torch.set_num_threads(1)``); every repeat runs the two back to
back, alternating which goes first. Prints the fastest and the median time of each side, the
ratio NumPy ÷ torch of the fastest times (the verdict, against the target 1.5), of the medians
and the median ratio of the back-to-back pairs. Not a test: exit code 0.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy starts its BLAS thread pool

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from cnn_course import ref  # noqa: E402

TARGET = 1.5


def timeit_pair(ours, theirs, repeats, warmup):
    """Run ours() and theirs() alternately; return two arrays of seconds."""
    for _ in range(warmup):
        ours()
        theirs()
    t_ours, t_theirs = [], []
    for k in range(repeats):
        pair = [(ours, t_ours), (theirs, t_theirs)]
        for fn, acc in pair if k % 2 == 0 else pair[::-1]:
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    return np.array(t_ours), np.array(t_theirs)


def depthwise_fns(shape, f, pad, rng):
    """The NumPy and the torch forward + backward on the same float32 data."""
    N, C, H, W = shape
    x = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal((C, 1, f, f), dtype=np.float32) * np.float32(0.3)
    b = rng.standard_normal(C, dtype=np.float32)
    dout = rng.standard_normal((N, C, H + 2 * pad - f + 1, W + 2 * pad - f + 1), dtype=np.float32)

    def ours():
        _, cache = ref.depthwise_conv2d_forward(x, w, b, 1, pad)
        return ref.depthwise_conv2d_backward(dout, cache)

    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    dt = torch.from_numpy(dout)

    def theirs():
        xt.grad = wt.grad = bt.grad = None
        F.conv2d(xt, wt, bt, padding=pad, groups=C).backward(dt)
        return xt.grad, wt.grad, bt.grad

    return ours, theirs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20, help="timed runs of each side (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    p.add_argument("--shape", type=int, nargs=4, default=[64, 32, 32, 32], metavar=("N", "C", "H", "W"))
    p.add_argument("--f", type=int, default=3, help="filter size (default 3)")
    p.add_argument("--pad", type=int, default=1, help="zero padding (default 1)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    ours, theirs = depthwise_fns(tuple(args.shape), args.f, args.pad, np.random.default_rng(args.seed))
    for a, c in zip(ours(), theirs()):  # same numbers before timing anything
        np.testing.assert_allclose(a, c.numpy(), rtol=1e-3, atol=1e-3)
    with threadpool_limits(limits=1):
        t_o, t_t = timeit_pair(ours, theirs, args.repeats, args.warmup)
    N, C, H, W = args.shape
    print(f"# numpy {np.__version__}, torch {torch.__version__}, 1 thread each, "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"# depthwise {args.f}x{args.f} pad {args.pad}, x {N}x{C}x{H}x{W} float32, forward + backward, "
          f"{args.repeats} repeats")
    print(f"numpy  ref.depthwise_conv2d_*     fastest {t_o.min() * 1e3:7.2f} ms   median {np.median(t_o) * 1e3:7.2f} ms")
    print(f"torch  F.conv2d(groups=C)         fastest {t_t.min() * 1e3:7.2f} ms   median {np.median(t_t) * 1e3:7.2f} ms")
    ratio = t_o.min() / t_t.min()
    verdict = "PASS" if ratio <= TARGET else "MISS"
    # each repeat's two runs are back to back, so their ratio cancels slow phases of the machine
    paired = np.median(t_o / t_t)
    print(f"ratio numpy / torch (fastest): {ratio:.2f}  (medians: {np.median(t_o) / np.median(t_t):.2f}, "
          f"median of paired runs: {paired:.2f}), target <= {TARGET}: {verdict}")


if __name__ == "__main__":
    main()
