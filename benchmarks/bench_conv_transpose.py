"""Time the NumPy transposed convolution against torch's F.conv_transpose2d, one thread each.

    python benchmarks/bench_conv_transpose.py [--repeats 20] [--warmup 3] [--shape 64 64 16 16] [--c-out 32] [--f 2] [--stride 2]

Forward + backward (dx, dw, db) in float32 of ``cnn_course.ref.conv_transpose2d_forward`` /
``conv_transpose2d_backward`` against ``F.conv_transpose2d(x, w, b, stride)`` with autograd;
the default is a U-Net up-sampling step: 2×2 filters, stride 2, x 64×64×16×16 -> 64×32×32×32.
Both sides run on one thread (OMP/OPENBLAS/MKL_NUM_THREADS=1 set before NumPy is imported,
threadpoolctl, ``torch.set_num_threads(1)``); every repeat runs the two back to back,
alternating which goes first. Prints the fastest and the median time of each side and the
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


def conv_transpose_fns(shape, c_out, f, stride, rng):
    """The NumPy and the torch forward + backward on the same float32 data."""
    N, C, H, W = shape
    x = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal((C, c_out, f, f), dtype=np.float32) * np.float32(0.3)
    b = rng.standard_normal(c_out, dtype=np.float32)
    Ho, Wo = (H - 1) * stride + f, (W - 1) * stride + f
    dout = rng.standard_normal((N, c_out, Ho, Wo), dtype=np.float32)

    def ours():
        _, cache = ref.conv_transpose2d_forward(x, w, b, stride)
        return ref.conv_transpose2d_backward(dout, cache)

    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    dt = torch.from_numpy(dout)

    def theirs():
        xt.grad = wt.grad = bt.grad = None
        F.conv_transpose2d(xt, wt, bt, stride=stride).backward(dt)
        return xt.grad, wt.grad, bt.grad

    return ours, theirs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20, help="timed runs of each side (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    p.add_argument("--shape", type=int, nargs=4, default=[64, 64, 16, 16], metavar=("N", "C", "H", "W"))
    p.add_argument("--c-out", type=int, default=32, help="output channels (default 32)")
    p.add_argument("--f", type=int, default=2, help="filter size (default 2)")
    p.add_argument("--stride", type=int, default=2, help="stride (default 2)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    ours, theirs = conv_transpose_fns(tuple(args.shape), args.c_out, args.f, args.stride,
                                      np.random.default_rng(args.seed))
    for a, c in zip(ours(), theirs()):  # same numbers before timing anything
        np.testing.assert_allclose(a, c.numpy(), rtol=1e-3, atol=1e-2)
    with threadpool_limits(limits=1):
        t_o, t_t = timeit_pair(ours, theirs, args.repeats, args.warmup)
    N, C, H, W = args.shape
    print(f"# numpy {np.__version__}, torch {torch.__version__}, 1 thread each, "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"# conv_transpose2d {args.f}x{args.f} stride {args.stride}, x {N}x{C}x{H}x{W} -> {args.c_out} channels, "
          f"float32, forward + backward, {args.repeats} repeats")
    print(f"numpy  ref.conv_transpose2d_*     fastest {t_o.min() * 1e3:7.2f} ms   median {np.median(t_o) * 1e3:7.2f} ms")
    print(f"torch  F.conv_transpose2d         fastest {t_t.min() * 1e3:7.2f} ms   median {np.median(t_t) * 1e3:7.2f} ms")
    ratio = t_o.min() / t_t.min()
    verdict = "PASS" if ratio <= TARGET else "MISS"
    paired = np.median(t_o / t_t)  # back-to-back runs: their ratio cancels slow phases of the machine
    print(f"ratio numpy / torch (fastest): {ratio:.2f}  (medians: {np.median(t_o) / np.median(t_t):.2f}, "
          f"median of paired runs: {paired:.2f}), target <= {TARGET}: {verdict}")


if __name__ == "__main__":
    main()
