"""Pretrain the small MobileNet-v2 that notebook 07 transfers: 8 Fashion-MNIST classes, 2 held out.

The network is ``cnn_course.pt.mobilenet.fashion8_model()`` = ``mobilenet_v2(8, 0.25, 1,
small_input=True)`` (161,816 parameters). It trains on the training images of the 8 classes
``FASHION8_CLASSES`` (48,000 images; pullover and shirt, ``FASHION8_HELD_OUT``, are never
seen) with labels renumbered 0..7, and is tested on the 8,000 test images of those classes,
which are used for nothing else.

Recipe: Adam (β = 0.9, 0.999), learning rate ``--lr`` with a cosine decay to 0 over the run,
weight decay 4e-5 on the convolution and linear weights (MobileNet's), mini-batches of 128,
no augmentation. Seeded: with the same arguments and thread count it gives the same weights,
bit for bit, on the same machine (torch's default CPU kernels, not the course's pinned
portable ones, which are twice as slow here).

    python benchmarks/pretrain_mobilenet_fashion8.py [--epochs 6] [--limit N] [--test-limit N]
                                                     [--threads 2] [--lr 0.004] [--seed 0] [--out PATH]

It writes the float32 state dict to ``--out`` (default: the shipped
``cnn_course/weights/mobilenet_v2_fashion8.pt``), then prints the test accuracy on the 8
classes and the training time. ``--limit``/``--test-limit`` use only the first N training /
test images of the 8 classes (the test suite runs it that way, in seconds).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from cnn_course.data import load_fashion_mnist  # noqa: E402
from cnn_course.pt.mobilenet import FASHION8_HELD_OUT, FASHION8_WEIGHTS, fashion8_model, fashion8_subset  # noqa: E402
from cnn_course.pt.train import set_seed  # noqa: E402


@torch.no_grad()
def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """Accuracy in evaluation mode (batch norm's running statistics)."""
    model.eval()
    correct = sum((model(x[s:s + batch]).argmax(1) == y[s:s + batch]).sum().item() for s in range(0, len(x), batch))
    return correct / len(x)


def make_optimizer(model, lr: float) -> torch.optim.Optimizer:
    """Adam with weight decay 4e-5 on the weights of convolutions and linear layers only."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    return torch.optim.Adam([{"params": decay, "weight_decay": 4e-5}, {"params": rest, "weight_decay": 0.0}], lr=lr)


def train(model, x, y, epochs: int, lr: float, batch: int, seed: int, x_test, y_test) -> None:
    """Mini-batch training with a cosine learning-rate decay; one line per epoch."""
    opt = make_optimizer(model, lr)
    gen = torch.Generator().manual_seed(seed)
    n, start = len(x), time.perf_counter()
    total_steps, step = epochs * math.ceil(n / batch), 0
    for epoch in range(1, epochs + 1):
        model.train()
        order, total_loss = torch.randperm(n, generator=gen), 0.0
        for s in range(0, n, batch):
            idx = order[s:s + batch]
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total_loss += loss.item() * len(idx)
            step += 1
        acc = accuracy(model, x_test, y_test)
        print(f"epoch {epoch}/{epochs}  train loss {total_loss / n:.4f}  test acc {100 * acc:.2f}%"
              f"  ({time.perf_counter() - start:.0f} s)", flush=True)


def main(argv=None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--limit", type=int, default=0, help="train on the first N images of the 8 classes only")
    p.add_argument("--test-limit", type=int, default=0, help="test on the first N test images of the 8 classes only")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lr", type=float, default=0.004)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=FASHION8_WEIGHTS)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    x_train, y_train, x_test, y_test = load_fashion_mnist()
    x_train, y_train = (torch.from_numpy(a) for a in fashion8_subset(x_train, y_train))
    x_test, y_test = (torch.from_numpy(a) for a in fashion8_subset(x_test, y_test))
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    if args.test_limit:
        x_test, y_test = x_test[:args.test_limit], y_test[:args.test_limit]
    set_seed(args.seed)
    model = fashion8_model()
    n_params = sum(q.numel() for q in model.parameters())
    print(f"mobilenet_v2(8, width=0.25, small_input=True): {n_params:,} parameters; held out {FASHION8_HELD_OUT}; "
          f"{len(x_train):,} training and {len(x_test):,} test images; {args.epochs} epochs, batch {args.batch}, "
          f"Adam lr {args.lr} cosine, {args.threads} threads", flush=True)
    start = time.perf_counter()
    train(model, x_train, y_train, args.epochs, args.lr, args.batch, args.seed, x_test, y_test)
    seconds = time.perf_counter() - start
    acc = accuracy(model, x_test, y_test)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, args.out)
    print(f"test accuracy on the 8 classes: {100 * acc:.2f}% ({len(x_test):,} images); trained in {seconds:.0f} s "
          f"on cpu with {args.threads} threads; wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    return acc


if __name__ == "__main__":
    main()
