"""Time the NumPy reference (cnn_course.ref) against PyTorch's CPU kernels.

    python benchmarks/bench_ref.py [--repeats 30] [--threads 2] [--warmup 3] [--only NAME]

Each case times forward + backward (all gradients) of our implementation and of torch's
built-in, alternating the two in every repeat so that a noisy machine slows both alike.
NumPy's BLAS and torch are limited to the same number of threads. Prints median and
minimum times and their ratios; the verdict uses the median. Not a test: exit code is 0.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_info, threadpool_limits

from cnn_course import ref

CONV_CASES = [
    # name, (N, C, H, W), (F, f), stride, pad, target ratio
    ("conv 64x3x32x32 -> 32, 3x3 p1", (64, 3, 32, 32), (32, 3), 1, 1, 1.0),
    ("conv 64x32x16x16 -> 64, 3x3 p1", (64, 32, 16, 16), (64, 3), 1, 1, 2.0),
]
POOL_CASES = [
    # name, (N, C, H, W), f, stride, mode, target ratio
    ("maxpool 64x32x32x32, 2x2 s2", (64, 32, 32, 32), 2, 2, "max", 1.0),
]
BN_CASES = [
    # name, (N, C, H, W), target ratio; train mode (batch statistics, running stats updated)
    ("batchnorm 64x32x32x32, train", (64, 32, 32, 32), 1.5),
]


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


def conv_fns(shape, filt, stride, pad, rng):
    N, C, H, W = shape
    Fo, f = filt
    x = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal((Fo, C, f, f), dtype=np.float32) * np.float32(0.1)
    b = rng.standard_normal(Fo, dtype=np.float32)
    Ho = (H + 2 * pad - f) // stride + 1
    Wo = (W + 2 * pad - f) // stride + 1
    dout = rng.standard_normal((N, Fo, Ho, Wo), dtype=np.float32)

    def functional():
        _, cache = ref.conv2d_forward(x, w, b, stride, pad)
        ref.conv2d_backward(dout, cache)

    layer = ref.Conv2d(w, b, stride, pad)

    def layered():
        layer.forward(x)
        layer.backward(dout)

    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    bt = torch.from_numpy(b).requires_grad_()
    dt = torch.from_numpy(dout)

    def torch_fn():
        xt.grad = wt.grad = bt.grad = None
        F.conv2d(xt, wt, bt, stride=stride, padding=pad).backward(dt)

    return {"functional": functional, "Conv2d layer": layered}, torch_fn


def pool_fns(shape, f, stride, mode, rng):
    x = rng.standard_normal(shape, dtype=np.float32)
    N, C, H, W = shape
    dout = rng.standard_normal((N, C, (H - f) // stride + 1, (W - f) // stride + 1), dtype=np.float32)

    def functional():
        _, cache = ref.pool2d_forward(x, f, stride, mode)
        ref.pool2d_backward(dout, cache)

    layer = ref.Pool2d(f, stride, mode)

    def layered():
        layer.forward(x)
        layer.backward(dout)

    xt = torch.from_numpy(x).requires_grad_()
    dt = torch.from_numpy(dout)
    tfn = F.max_pool2d if mode == "max" else F.avg_pool2d

    def torch_fn():
        xt.grad = None
        tfn(xt, f, stride).backward(dt)

    return {"functional": functional, "Pool2d layer": layered}, torch_fn


def bn_fns(shape, rng):
    C = shape[1]
    x = rng.standard_normal(shape, dtype=np.float32)
    dout = rng.standard_normal(shape, dtype=np.float32)
    gamma = rng.standard_normal(C, dtype=np.float32)
    beta = rng.standard_normal(C, dtype=np.float32)
    running_mean, running_var = np.zeros(C, np.float32), np.ones(C, np.float32)

    def functional():
        _, cache = ref.batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True)
        ref.batchnorm_backward(dout, cache)

    layer = ref.BatchNorm(C, dtype=np.float32)
    layer.gamma[:], layer.beta[:] = gamma, beta

    def layered():
        layer.forward(x)
        layer.backward(dout)

    module = torch.nn.BatchNorm2d(C)  # train mode
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(gamma))
        module.bias.copy_(torch.from_numpy(beta))
    xt = torch.from_numpy(x).requires_grad_()
    dt = torch.from_numpy(dout)

    def torch_fn():
        xt.grad = module.weight.grad = module.bias.grad = None
        module(xt).backward(dt)

    return {"functional": functional, "BN layer": layered}, torch_fn


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=30, help="timed runs of each side (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    p.add_argument("--threads", type=int, default=2, help="BLAS and torch threads (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", default="", help="run only the cases whose name contains this text")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    blas = [f"{i.get('internal_api')} {i.get('version')}" for i in threadpool_info() if i.get("user_api") == "blas"]
    print(f"# numpy {np.__version__} ({', '.join(blas) or 'unknown BLAS'}), torch {torch.__version__}, "
          f"threads {args.threads}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")
    print(f"# float32, forward + backward, {args.repeats} repeats; ratio = ours / torch (median, min)")
    header = f"{'case':34s} {'impl':13s} {'ours ms':>15s} {'torch ms':>15s} {'ratio':>13s} {'target':>7s}  verdict"
    print(header)
    print("-" * len(header))
    cases = [("conv", c) for c in CONV_CASES] + [("pool", c) for c in POOL_CASES]
    cases += [("bn", c) for c in BN_CASES]
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for kind, case in cases:
            if args.only not in case[0]:
                continue
            if kind == "conv":
                name, shape, filt, stride, pad, target = case
                ours, theirs = conv_fns(shape, filt, stride, pad, rng)
            elif kind == "pool":
                name, shape, f, stride, mode, target = case
                ours, theirs = pool_fns(shape, f, stride, mode, rng)
            else:
                name, shape, target = case
                ours, theirs = bn_fns(shape, rng)
            results = {}
            for impl, fn in ours.items():
                t_o, t_t = timeit_pair(fn, theirs, args.repeats, args.warmup)
                results[impl] = (np.median(t_o), t_o.min(), np.median(t_t), t_t.min())
            best = min(results, key=lambda k: results[k][0] / results[k][2])
            for impl, (om, omin, tm, tmin) in results.items():
                ratio = om / tm
                verdict = ("PASS" if ratio <= target else "MISS") + (" (faster)" if impl == best else "")
                print(f"{name:34s} {impl:13s} {om*1e3:7.2f} /{omin*1e3:6.2f} {tm*1e3:7.2f} /{tmin*1e3:6.2f} "
                      f"{ratio:5.2f}/{omin/tmin:5.2f}x {target:6.1f}x  {verdict}")


if __name__ == "__main__":
    main()
