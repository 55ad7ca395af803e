"""Time a 5×5 convolution against its 1×1 bottleneck (the Inception notebook's example).

    python benchmarks/bench_inception_bottleneck.py [--batch 1] [--repeats 50] [--threads 1] [--rounds 3]

The layer: 28×28×192 → 28×28×32 with 5×5 "same" filters, ``nn.Conv2d(192, 32, 5, padding=2)``;
the bottleneck: ``nn.Conv2d(192, 16, 1)`` then ``nn.Conv2d(16, 32, 5, padding=2)``. What is
measured: the forward pass only, without autograd, in float32, on the CPU, with torch's default
convolution kernels and ``--threads`` threads, as the fastest of ``--repeats`` timed calls after
a few untimed ones (``cnn_course.pt.inception_experiments.time_bottleneck``), repeated for
``--rounds`` rounds so that the spread shows. It prints both times, their ratio, and the ratio
of the multiplications (120,422,400 against 12,443,648: 9.7). Not a test: exit code 0.
"""

from __future__ import annotations

import argparse
import platform

import torch

from cnn_course.pt.inception_experiments import time_bottleneck


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} thread(s), "
          f"batch {args.batch}, fastest of {args.repeats} calls per round")
    print(f"{'round':>5s} {'5x5 conv (ms)':>14s} {'1x1 -> 5x5 (ms)':>16s} {'time ratio':>11s} {'mult ratio':>11s}")
    for k in range(1, args.rounds + 1):
        t = time_bottleneck(28, 28, 192, 5, 32, 16, batch=args.batch, repeats=args.repeats, threads=args.threads,
                            seed=k)
        print(f"{k:>5d} {t.standard_seconds * 1e3:>14.3f} {t.bottleneck_seconds * 1e3:>16.3f} "
              f"{t.time_ratio:>10.2f}x {t.mult_ratio:>10.2f}x")
    print(f"multiplications: {t.standard_mults:,} (5x5) against {t.bottleneck_mults:,} (1x1 -> 5x5) for "
          f"{args.batch} image(s)")


if __name__ == "__main__":
    main()
