"""Time one LeNet-5 training step: the NumPy network (cnn_course.ref) against the torch one.

    python benchmarks/bench_lenet_numpy_vs_torch.py [--batch 64] [--repeats 20] [--threads 1] [--modern]

One step = forward, softmax cross-entropy, backward (every gradient) and one Adam update:
``ref.lenet5_train_step`` (ref.conv2d_*, ref.pool2d_*, ref.optim's Adam) against
``torch.nn.Sequential`` LeNet-5 + ``F.cross_entropy`` + ``torch.optim.Adam``, both starting
from the same weights, in float32 and float64. NumPy's BLAS and torch get the same number of
threads. Each repeat runs the two back to back, alternating which goes first, so background
load slows both alike; the table shows the fastest and the median time of each and the ratio
NumPy / torch of both. Not a test: exit code 0.
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
from torch import nn

from cnn_course import ref


def torch_lenet5(modern=False, num_classes=10):
    """Same layout as cnn_course.pt.models.lenet5 (parameters in the order ref.LENET5_KEYS)."""
    act, pool = (nn.ReLU, nn.MaxPool2d) if modern else (nn.Tanh, nn.AvgPool2d)
    return nn.Sequential(nn.Conv2d(1, 6, 5), act(), pool(2), nn.Conv2d(6, 16, 5), act(), pool(2), nn.Flatten(),
                         nn.Linear(400, 120), act(), nn.Linear(120, 84), act(), nn.Linear(84, num_classes))


def step_fns(dtype, batch, modern, rng):
    """(numpy_step, torch_step): each runs one training step on the same fixed batch."""
    x = rng.standard_normal((batch, 1, 32, 32)).astype(dtype)
    y = rng.integers(0, 10, batch)
    state = {"params": ref.lenet5_init(0, modern=modern, dtype=dtype), "states": None}

    def numpy_step():
        _, state["params"], state["states"] = ref.lenet5_train_step(x, y, state["params"], state["states"], modern)

    module = ref.params_to_torch(state["params"], torch_lenet5(modern).to(torch.from_numpy(x).dtype))
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def torch_step():
        opt.zero_grad()
        F.cross_entropy(module(xt), yt).backward()
        opt.step()

    return numpy_step, torch_step


def timeit_pair(a, b, repeats, warmup):
    """Run a() and b() alternately; return two arrays of seconds."""
    for _ in range(warmup):
        a()
        b()
    t_a, t_b = [], []
    for k in range(repeats):
        pair = [(a, t_a), (b, t_b)]
        for fn, acc in pair if k % 2 == 0 else pair[::-1]:
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    return np.array(t_a), np.array(t_b)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--repeats", type=int, default=20, help="timed steps of each side (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (default 1)")
    p.add_argument("--modern", action="store_true", help="ReLU + max pooling instead of tanh + average pooling")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    blas = [f"{i.get('internal_api')} {i.get('version')}" for i in threadpool_info() if i.get("user_api") == "blas"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# numpy {np.__version__} ({', '.join(blas) or 'unknown BLAS'}), torch {torch.__version__}, "
          f"threads {args.threads}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"load average {load:.1f}")
    print(f"# LeNet-5 ({'modern' if args.modern else 'classic'}), one training step (forward + loss + backward "
          f"+ Adam), batch {args.batch}, {args.repeats} repeats; ratio = NumPy / torch")
    header = f"{'dtype':8s} {'NumPy ms (min/median)':>22s} {'torch ms (min/median)':>22s} {'ratio min':>10s} {'median':>7s}"
    print(header)
    print("-" * len(header))
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for dtype in (np.float32, np.float64):
            numpy_step, torch_step = step_fns(dtype, args.batch, args.modern, rng)
            t_np, t_t = timeit_pair(numpy_step, torch_step, args.repeats, args.warmup)
            print(f"{np.dtype(dtype).name:8s} {t_np.min()*1e3:10.2f} /{np.median(t_np)*1e3:9.2f} "
                  f"{t_t.min()*1e3:10.2f} /{np.median(t_t)*1e3:9.2f} {t_np.min()/t_t.min():9.2f}x "
                  f"{np.median(t_np)/np.median(t_t):6.2f}x")


if __name__ == "__main__":
    main()
