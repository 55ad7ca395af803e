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

import argparse

import _pairs  # first: one BLAS thread before NumPy starts
import numpy as np
import torch
import torch.nn.functional as F

from cnn_course import ref

TARGET = 1.5


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

    ours, theirs = conv_transpose_fns(tuple(args.shape), args.c_out, args.f, args.stride,
                                      np.random.default_rng(args.seed))
    shape = "x".join(map(str, args.shape))
    _pairs.compare(ours, theirs, what=f"conv_transpose2d {args.f}x{args.f} stride {args.stride}, x {shape} -> {args.c_out} channels, float32, forward + backward",
                   names=("ref.conv_transpose2d_*", "F.conv_transpose2d"), target=TARGET, repeats=args.repeats, warmup=args.warmup,
                   rtol=1e-3, atol=1e-2)


if __name__ == "__main__":
    main()
