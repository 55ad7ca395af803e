"""Train notebook 05's small ResNet on all of Fashion-MNIST, long enough to try for 92 % test accuracy.

The network is the one the notebook builds in its last exercise,
``SmallResNet(((16, 1, 1), (32, 1, 2), (64, 1, 2)))``: a 3×3 stem with 16 channels, one
basic block per stage (16, 32 and 64 channels; the last two halve the size, 28 → 14 → 7,
with a 1×1 projection shortcut), global average pooling and a linear layer, 77,754
parameters. It has exactly the layers of the library's ``cifar_resnet(8, width=16)``, which
this script trains.

Recipe (the usual one for CIFAR-style ResNets, scaled down): SGD with momentum 0.9 and
weight decay 5e-4 on the weights, learning rate ``--lr`` with a cosine decay to 0 over the
run, mini-batches of 128, and light augmentation (a random shift of up to 2 pixels by
padding and cropping, and a horizontal flip, both drawn per image). The 10,000 test images
are never used for training or for choosing anything; each epoch reports the test accuracy,
and the last line the final one and the wall time.

    python benchmarks/train_resnet_fashion.py [--epochs 20] [--threads 2] [--lr 0.1] [--seed 0]
                                              [--width 16] [--no-augment] [--device cpu]

It runs on the CPU by default (``--device cuda`` if you have one). Not a test; it exits 0.
Its CPU code paths are torch's defaults (oneDNN convolutions), not the pinned, slower ones the
notebooks use for bit-for-bit repeatable outputs, so the numbers repeat on one machine only.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from cnn_course.data import load_fashion_mnist  # noqa: E402
from cnn_course.pt.models import cifar_resnet  # noqa: E402
from cnn_course.pt.train import set_seed  # noqa: E402


@torch.no_grad()
def accuracy(model, x, y, device, batch=1000) -> float:
    """Accuracy in evaluation mode (running statistics), with torch's default CPU kernels."""
    model.eval()
    correct = 0
    for s in range(0, len(x), batch):
        correct += (model(torch.tensor(x[s:s + batch]).to(device)).argmax(1).cpu() == torch.tensor(y[s:s + batch])).sum().item()
    model.train()
    return correct / len(x)


def augment(xb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random shift of up to 2 pixels (zero padding, then a 28×28 crop) and a random
    horizontal flip, drawn independently for every image of the batch."""
    n, _, h, w = xb.shape
    padded = F.pad(xb, (2, 2, 2, 2))
    dy = torch.randint(0, 5, (n,), generator=gen)
    dx = torch.randint(0, 5, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])  # (n, h)
    cols = (dx[:, None] + torch.arange(w)[None, :])  # (n, w)
    out = padded[torch.arange(n)[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
    out = out.permute(0, 3, 1, 2)
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(-1)
    return out.contiguous()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--subset", type=int, default=0, help="train on the first N images only (a smoke test)")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    x_train, y_train, x_test, y_test = load_fashion_mnist()
    set_seed(args.seed)
    model = cifar_resnet(8, width=args.width).to(device)
    n_params = sum(q.numel() for q in model.parameters())
    decay = [q for name, q in model.named_parameters() if q.ndim > 1]
    no_decay = [q for name, q in model.named_parameters() if q.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=args.lr, momentum=0.9, nesterov=True)
    if args.subset:
        x_train, y_train = x_train[:args.subset], y_train[:args.subset]
    xt, yt = torch.tensor(x_train), torch.tensor(y_train)
    n = len(xt)
    steps_per_epoch = math.ceil(n / args.batch)
    total = args.epochs * steps_per_epoch
    gen = torch.Generator().manual_seed(args.seed)
    print(f"cifar_resnet(8, width={args.width}) = SmallResNet(({args.width}, 1, 1), ({2 * args.width}, 1, 2), "
          f"({4 * args.width}, 1, 2)): {n_params:,} parameters; {n} training images, {args.epochs} epochs, "
          f"batch {args.batch}, SGD lr {args.lr} cosine, augment={not args.no_augment}, {args.threads} threads, "
          f"{device.type}")
    start, step = time.perf_counter(), 0
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen)
        total_loss = 0.0
        for s in range(0, n, args.batch):
            idx = order[s:s + args.batch]
            xb, yb = xt[idx], yt[idx]
            if not args.no_augment:
                xb = augment(xb, gen)
            for group in opt.param_groups:
                group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            loss = F.cross_entropy(model(xb.to(device)), yb.to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total_loss += loss.item() * len(idx)
            step += 1
        acc = accuracy(model, x_test, y_test, device)
        print(f"epoch {epoch:2d}/{args.epochs}  train loss {total_loss / n:.4f}  test acc {100 * acc:.2f}%  "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    train_acc = accuracy(model, x_train, y_train, device)
    print(f"final: test accuracy {100 * acc:.2f}%, training accuracy {100 * train_acc:.2f}% (no augmentation), "
          f"{time.perf_counter() - start:.0f} s on {device.type} with {args.threads} threads")


if __name__ == "__main__":
    main()
