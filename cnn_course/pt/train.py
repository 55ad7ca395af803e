"""A small, reproducible training loop for the notebooks.

``fit`` trains a classifier with cross-entropy, prints one line per epoch and returns a
:class:`History`. Seeded runs on the CPU are bit-for-bit reproducible for a given seed
and number of threads, and on every x86-64 CPU with AVX2: the CPU code paths are pinned
(:mod:`cnn_course.numerics`) and the data handed to torch is copied into aligned memory.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import GRADING_ENV_VAR, grading_run
from ..numerics import portable_cpu
from .device import default_device

__all__ = ["History", "set_seed", "fit", "evaluate", "GRADING_ENV_VAR", "GRADING_SUBSET"]

#: Number of training (and test) examples used by the short run during grading.
GRADING_SUBSET = 256


@dataclass
class History:
    """What happened during :func:`fit`: one entry per epoch in each list.

    Losses are mean cross-entropies, accuracies fractions in [0, 1]. ``train_*`` are
    running averages over the epoch's mini-batches; ``test_*`` are measured after the
    epoch (empty lists when ``fit`` got no test set). ``seconds`` is the wall time of
    the whole run and ``device`` where it ran, e.g. ``"cpu"`` or ``"cuda"``.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "cpu"


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) generators, and ask cuDNN for
    deterministic kernels (cheap for the small models of this course)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def _aligned(t: torch.Tensor) -> torch.Tensor:
    """``t`` if it is contiguous and 64-byte aligned (as oneMKL's reproducibility mode asks
    of its inputs), else a copy that is: torch's CPU allocator aligns to 64 bytes, while a
    NumPy array (shared by ``torch.as_tensor``) or a slice of one may start anywhere."""
    if t.device.type == "cpu" and (not t.is_contiguous() or t.data_ptr() % 64):
        return t.clone(memory_format=torch.contiguous_format)
    return t


def _as_tensors(data, name: str):
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(f"{name} must be a pair (x, y), got {type(data).__name__}")
    x, y = (_aligned(torch.as_tensor(a)) for a in data)
    if x.ndim < 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{name} must be (x, y) with x of shape (N, ...) and y of shape (N,), "
            f"got x {tuple(x.shape)} and y {tuple(y.shape)}"
        )
    if not x.dtype.is_floating_point:
        x = x.float()
    return x, y.long()


def _make_optimizer(optimizer, params, lr: float):
    if callable(optimizer):
        return optimizer(params, lr=lr)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    raise ValueError(f"optimizer must be 'adam', 'sgd' or a torch.optim class, got {optimizer!r}")


@torch.no_grad()
def evaluate(model: torch.nn.Module, x, y, batch_size: int = 512, device=None) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (fraction in [0, 1]) of ``model`` on ``(x, y)``.

    x: (N, ...) float, y: (N,) integer labels; NumPy arrays or tensors. The model is put
    in eval mode for the measurement and returned to its previous mode afterwards.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    x, y = _as_tensors((x, y), "(x, y)")
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    with portable_cpu(device):
        for start in range(0, len(x), batch_size):
            xb = _aligned(x[start:start + batch_size]).to(device)
            yb = y[start:start + batch_size].to(device)
            logits = model(xb)
            total_loss += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(1) == yb).sum().item()
    model.train(was_training)
    return total_loss / len(x), correct / len(x)


def fit(model: torch.nn.Module, train, test=None, *, epochs: int, lr: float, batch_size: int,
        seed: int = 0, device=None, optimizer="adam", progress: bool = True) -> History:
    """Train ``model`` with cross-entropy on ``train = (x, y)``; report on ``test`` each epoch.

    x: (N, C, H, W) float (NumPy or torch), y: (N,) integer labels. The model and the data
    go to ``device`` (``default_device()`` when None, so a GPU is used when present).
    ``optimizer`` is "adam", "sgd" (momentum 0.9) or a ``torch.optim`` class.
    Mini-batches are shuffled by a generator seeded with ``seed``; with the same seed, the
    same initial model and the same thread count, a CPU run repeats bit for bit.

    Prints one line per epoch (no timings, so notebook outputs are stable), then
    ``trained in 12.3 s on cpu``. A ``tqdm`` bar shows progress (``progress=False`` hides it).

    Under nbgrader (environment variable ``NBGRADER_EXECUTION`` set) the run is cut to one
    epoch on the first ``GRADING_SUBSET`` examples, and a line says so: grading checks the
    exercises, not the training, and must stay fast across hundreds of submissions.

    Returns a :class:`History`.
    """
    device = default_device() if device is None else torch.device(device)
    x_train, y_train = _as_tensors(train, "train")
    if test is not None:
        x_test, y_test = _as_tensors(test, "test")
    if grading_run():
        epochs = 1
        x_train, y_train = x_train[:GRADING_SUBSET], y_train[:GRADING_SUBSET]
        if test is not None:
            x_test, y_test = x_test[:GRADING_SUBSET], y_test[:GRADING_SUBSET]
        print(f"{GRADING_ENV_VAR} is set: short run (1 epoch on {len(x_train)} examples); "
              "training is not graded")

    model.to(device)
    x_train, y_train = x_train.to(device), y_train.to(device)
    opt = _make_optimizer(optimizer, model.parameters(), lr)
    shuffler = torch.Generator().manual_seed(seed)  # CPU generator: same order on any device
    n = len(x_train)
    n_batches = (n + batch_size - 1) // batch_size
    history = History(device=device.type)

    start_time = time.perf_counter()
    bar = tqdm(total=epochs * n_batches, desc="training", leave=False, disable=not progress)
    with portable_cpu(device):  # convolutions off oneDNN/NNPACK on the CPU: same bits on every CPU
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(n, generator=shuffler).to(device)
            total_loss, correct = 0.0, 0
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                xb, yb = x_train[idx], y_train[idx]
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total_loss += loss.item() * len(idx)
                correct += (logits.argmax(1) == yb).sum().item()
                bar.update(1)
            history.train_loss.append(total_loss / n)
            history.train_acc.append(correct / n)
            line = (f"epoch {epoch}/{epochs}  train loss {history.train_loss[-1]:.4f}  "
                    f"train acc {100 * history.train_acc[-1]:.1f}%")
            if test is not None:
                loss_t, acc_t = evaluate(model, x_test, y_test, batch_size=max(batch_size, 512), device=device)
                history.test_loss.append(loss_t)
                history.test_acc.append(acc_t)
                line += f"  test loss {loss_t:.4f}  test acc {100 * acc_t:.1f}%"
            bar.write(line)
    bar.close()
    history.seconds = time.perf_counter() - start_time
    print(f"trained in {history.seconds:.1f} s on {history.device}")
    return history
