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

import argparse

import _pairs  # first: one BLAS thread before NumPy starts
import numpy as np
import torch
import torch.nn.functional as F

from cnn_course import ref

TARGET = 1.5


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

    ours, theirs = depthwise_fns(tuple(args.shape), args.f, args.pad, np.random.default_rng(args.seed))
    shape = "x".join(map(str, args.shape))
    _pairs.compare(ours, theirs, what=f"depthwise {args.f}x{args.f} pad {args.pad}, x {shape} float32, forward + backward",
                   names=("ref.depthwise_conv2d_*", "F.conv2d(groups=C)"), target=TARGET, repeats=args.repeats, warmup=args.warmup,
                   rtol=1e-3, atol=1e-3)


if __name__ == "__main__":
    main()
