"""Time the NumPy 3-D convolution against torch's F.conv3d, one thread each.

    python benchmarks/bench_conv3d.py [--repeats 10] [--warmup 2] [--shape 8 8 32 32 32] [--filters 16] [--f 3] [--pad 1]

Forward + backward (dx, dw, db) in float32 of ``cnn_course.ref.conv3d_forward`` /
``conv3d_backward`` (the n-dimensional ``convnd``) against ``F.conv3d(x, w, b, padding=pad)``
with autograd; the default is 3×3×3 "same" filters on x 8×8×32³ -> 16 channels. Both sides run
on one thread (OMP/OPENBLAS/MKL_NUM_THREADS=1 set before NumPy is imported, threadpoolctl,
``torch.set_num_threads(1)``); every repeat runs the two back to back, alternating which goes
first. Prints the fastest and the median time of each side and the ratio NumPy ÷ torch of the
fastest times (the verdict, against the target 2), of the medians and the median ratio of the
back-to-back pairs. Not a test: exit code 0.
"""

from __future__ import annotations

import argparse

import _pairs  # first: one BLAS thread before NumPy starts
import numpy as np
import torch
import torch.nn.functional as F

from cnn_course import ref

TARGET = 2.0


def conv3d_fns(shape, filters, f, pad, rng):
    """The NumPy and the torch forward + backward on the same float32 data."""
    N, C, D, H, W = shape
    x = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal((filters, C, f, f, f), dtype=np.float32) * np.float32(0.1)
    b = rng.standard_normal(filters, dtype=np.float32)
    O = ref.convnd_output_shape((D, H, W), (f, f, f), 1, pad)
    dout = rng.standard_normal((N, filters, *O), dtype=np.float32)

    def ours():
        _, cache = ref.conv3d_forward(x, w, b, 1, pad)
        return ref.conv3d_backward(dout, cache)

    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    dt = torch.from_numpy(dout)

    def theirs():
        xt.grad = wt.grad = bt.grad = None
        F.conv3d(xt, wt, bt, padding=pad).backward(dt)
        return xt.grad, wt.grad, bt.grad

    return ours, theirs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=10, help="timed runs of each side (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    p.add_argument("--shape", type=int, nargs=5, default=[8, 8, 32, 32, 32], metavar=("N", "C", "D", "H", "W"))
    p.add_argument("--filters", type=int, default=16, help="output channels (default 16)")
    p.add_argument("--f", type=int, default=3, help="filter size (default 3)")
    p.add_argument("--pad", type=int, default=1, help="zero padding (default 1)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    ours, theirs = conv3d_fns(tuple(args.shape), args.filters, args.f, args.pad, np.random.default_rng(args.seed))
    shape = "x".join(map(str, args.shape))
    _pairs.compare(ours, theirs, what=f"conv3d {args.f}x{args.f}x{args.f} pad {args.pad}, x {shape} -> {args.filters} channels, float32, forward + backward",
                   names=("ref.conv3d_*", "F.conv3d"), target=TARGET, repeats=args.repeats, warmup=args.warmup,
                   rtol=1e-3, atol=5e-2)


if __name__ == "__main__":
    main()
