"""Transfer learning from a pretrained network to two new classes with 20 images each.

The experiment of the MobileNet notebook: a small MobileNet-v2 pretrained on 8 classes of
Fashion-MNIST (``cnn_course.pt.mobilenet.load_pretrained_mobilenet_fashion8``) learns the
2 held-out classes from a few labelled images, three ways, each with and without data
augmentation (random mirroring and random crops of the padded image), next to a baseline
without any network:

* ``"linear on pixels"``: a linear layer (logistic regression) on the raw pixels;
* ``"new head"``: every pretrained layer frozen; the images' pooled features are computed
  once (:func:`cut_activations`) and only a new linear layer is trained on them;
* ``"fine-tune last blocks"``: the first layers frozen, their activations computed once;
  the last ``k`` blocks of ``model.features`` (starting from their pretrained weights) and a
  new linear layer are trained;
* ``"from scratch"``: the same architecture with random weights, every layer trained.

Every run gets the same images, the same number of Adam steps on full batches, the same
seed; augmentation gives the frozen methods ``copies`` augmented versions of each image
(computed once, like the features) and the network trained from scratch a new augmented
batch at every step. The model must have torchvision's layout: ``model.features`` (an
``nn.Sequential``), global average pooling, ``model.classifier`` ending with an ``nn.Linear``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from .. import GRADING_ENV_VAR, grading_run
from ..numerics import portable_cpu
from . import augment
from .train import GRADING_SUBSET, _aligned, set_seed

__all__ = ["few_shot_split", "augment_batch", "cut_activations", "train_on_activations", "train_from_scratch",
           "train_on_pixels", "recompute_bn_statistics", "TransferRun", "transfer_experiment", "transfer_table",
           "draws_comparison", "mirror_average", "METHODS"]

METHODS = ("linear on pixels", "new head", "fine-tune last blocks", "from scratch")


def few_shot_split(x_train, y_train, x_test, y_test, classes, n_per_class: int, *, n_test_per_class=None,
                   seed: int = 0):
    """The few-shot task: ``n_per_class`` training images of each class in ``classes`` (drawn
    with ``seed``) and the test images of those classes (the first ``n_test_per_class`` of
    each, all when None), labels renumbered 0, 1, ... in the order of ``classes``.

    Returns ``(x_few, y_few, x_eval, y_eval)`` as float32 / int64 tensors.
    """
    rng = np.random.default_rng(seed)
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    few_idx, eval_idx, few_y, eval_y = [], [], [], []
    for new, c in enumerate(classes):
        pool = np.flatnonzero(y_train == c)
        if len(pool) < n_per_class:
            raise ValueError(f"class {c} has {len(pool)} training images, fewer than n_per_class={n_per_class}")
        chosen = rng.choice(pool, n_per_class, replace=False)
        few_idx.append(chosen)
        few_y.append(np.full(n_per_class, new))
        test = np.flatnonzero(y_test == c)[:n_test_per_class]
        eval_idx.append(test)
        eval_y.append(np.full(len(test), new))
    few_idx, eval_idx = np.concatenate(few_idx), np.concatenate(eval_idx)
    as_x = lambda a, i: _aligned(torch.as_tensor(np.asarray(a)[i], dtype=torch.float32))  # noqa: E731
    return (as_x(x_train, few_idx), torch.as_tensor(np.concatenate(few_y)), as_x(x_test, eval_idx),
            torch.as_tensor(np.concatenate(eval_y)))


def augment_batch(x: torch.Tensor, generator: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Random mirroring (each image with probability 1/2) and a random crop of the image
    zero-padded by ``pad``, at its own size, for a batch (N, C, H, W); a new tensor
    (``cnn_course.pt.augment``'s ``mirror`` then ``random_crop``)."""
    return augment.random_crop(augment.mirror(x, 0.5, generator), tuple(x.shape[2:]), pad, generator)


def _body(model: nn.Module, k: int) -> tuple[nn.Module, nn.Module]:
    """(frozen part, trained part) of ``model.features`` for fine-tuning its last ``k`` blocks."""
    layers = list(model.features)
    if not 0 <= k < len(layers):
        raise ValueError(f"k must be between 0 and {len(layers) - 1} (model.features has {len(layers)} entries), got {k}")
    return nn.Sequential(*layers[:len(layers) - k]), nn.Sequential(*layers[len(layers) - k:])


@torch.no_grad()
def cut_activations(frozen: nn.Module, x: torch.Tensor, *, pool: bool, batch_size: int = 500) -> torch.Tensor:
    """``frozen(x)`` in evaluation mode, by batches; globally average-pooled to (N, C) when ``pool``."""
    frozen.eval()
    outs = []
    for start in range(0, len(x), batch_size):
        a = frozen(x[start:start + batch_size])
        outs.append(a.mean(dim=(2, 3)) if pool else a)
    return torch.cat(outs)


def _head_in(model: nn.Module) -> int:
    last = model.classifier[-1]
    if not isinstance(last, nn.Linear):
        raise TypeError(f"model.classifier[-1] must be an nn.Linear, got {type(last).__name__}")
    return last.in_features


class _Top(nn.Module):
    """The trained part: the last blocks (possibly none), global average pooling, a new linear layer."""

    def __init__(self, blocks: nn.Module, in_features: int, num_classes: int):
        super().__init__()
        self.blocks = blocks
        self.head = nn.Linear(in_features, num_classes)

    def forward(self, a):
        a = self.blocks(a)
        return self.head(a.mean(dim=(2, 3)) if a.dim() == 4 else a)


def _train(model: nn.Module, x, y, *, steps: int, lr: float, augment: Callable | None = None,
           generator: torch.Generator | None = None) -> None:
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for _ in range(steps):
        xb = augment(x, generator) if augment is not None else x
        loss = nn.functional.cross_entropy(model(xb), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


@torch.no_grad()
def recompute_bn_statistics(model: nn.Module, x: torch.Tensor) -> None:
    """Set every batch norm's running mean and variance of ``model`` to the statistics of the
    batch ``x`` (one training-mode pass without gradients; momentum restored afterwards).

    After a few fast-moving training steps the running averages (momentum 0.1) still mix in
    the statistics of earlier weights, and a network evaluated with them can predict one class
    for everything; the training images' own statistics fit the final weights."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: after one batch, exactly that batch's statistics
    was_training = model.training
    model.train()
    model(x)
    model.train(was_training)
    for m, momentum in zip(norms, saved):
        m.momentum = momentum


@torch.no_grad()
def _accuracy(model: nn.Module, a, y, batch_size: int = 500) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(a), batch_size):
        correct += (model(a[start:start + batch_size]).argmax(1) == y[start:start + batch_size]).sum().item()
    return correct / len(a)


@dataclass
class TransferRun:
    """One run: the method, with or without augmentation, the test accuracy on the new classes,
    the training time (activations computed once included; evaluation left out), the number of
    trained parameters and of training examples (augmented copies counted), and the accuracy
    on the (un-augmented) training images."""

    method: str
    augmented: bool
    accuracy: float
    seconds: float
    trained_parameters: int
    examples: int
    notes: dict = field(default_factory=dict)
    train_accuracy: float = float("nan")


def train_on_activations(pretrained: nn.Module, few, evaluation, *, k: int = 0, augmented: bool = False,
                         copies: int = 8, steps: int = 150, lr: float = 0.01, seed: int = 0,
                         augment: Callable = augment_batch, eval_activations=None) -> TransferRun:
    """A new head (``k = 0``) or the last ``k`` blocks of ``model.features`` and a new head,
    trained on activations of the frozen first layers computed once. ``pretrained`` is left
    untouched (the blocks are copies). ``few`` and ``evaluation`` are ``(x, y)`` tensors;
    ``eval_activations``: the frozen part's activations of ``evaluation[0]`` when already
    computed (:func:`cut_activations` of the same ``k``)."""
    set_seed(seed)
    model = copy.deepcopy(pretrained)
    for p in model.parameters():
        p.requires_grad_(False)
    frozen, blocks = _body(model, k)
    for p in blocks.parameters():
        p.requires_grad_(True)
    num_classes = int(torch.max(torch.cat([few[1], evaluation[1]]))) + 1
    top = _Top(blocks, _head_in(model), num_classes)
    x, y = few
    start = time.perf_counter()
    if augmented:
        g = torch.Generator().manual_seed(seed)
        x = torch.cat([x] + [augment(x, g) for _ in range(copies - 1)])
        y = y.repeat(copies)
    a = cut_activations(frozen, x, pool=k == 0)
    _train(top, a, y, steps=steps, lr=lr)
    own = a[:len(few[0])]  # the activations of the un-augmented training images
    recompute_bn_statistics(top, own)
    seconds = time.perf_counter() - start
    if eval_activations is None:
        eval_activations = cut_activations(frozen, evaluation[0], pool=k == 0)
    acc = _accuracy(top, eval_activations, evaluation[1])
    trained = sum(p.numel() for p in top.parameters() if p.requires_grad)
    return TransferRun(METHODS[1] if k == 0 else METHODS[2], augmented, acc, seconds, trained, len(x),
                       {"blocks": k, "model": top, "eval_activations": eval_activations}, _accuracy(top, own, few[1]))


def train_from_scratch(build: Callable[[], nn.Module], few, evaluation, *, augmented: bool = False,
                       steps: int = 150, lr: float = 0.01, seed: int = 0,
                       augment: Callable = augment_batch) -> TransferRun:
    """The same architecture from random weights (``build()``, called after seeding), every
    layer trained on the few images (a freshly augmented batch at every step when ``augmented``)."""
    set_seed(seed)
    model = build()
    model.classifier[-1] = nn.Linear(_head_in(model), int(torch.max(torch.cat([few[1], evaluation[1]]))) + 1)
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    _train(model, *few, steps=steps, lr=lr, augment=augment if augmented else None, generator=g)
    recompute_bn_statistics(model, few[0])
    seconds = time.perf_counter() - start
    acc = _accuracy(model, *evaluation)
    trained = sum(p.numel() for p in model.parameters())
    return TransferRun(METHODS[3], augmented, acc, seconds, trained, len(few[0]),
                       {"augmented anew every step": augmented}, _accuracy(model, *few))


def train_on_pixels(few, evaluation, *, augmented: bool = False, copies: int = 8, steps: int = 150,
                    lr: float = 0.01, seed: int = 0, augment: Callable = augment_batch) -> TransferRun:
    """The baseline without a network: a linear layer on the raw pixels (logistic regression),
    trained like the new head (the augmented copies made once)."""
    set_seed(seed)
    x, y = few
    num_classes = int(torch.max(torch.cat([y, evaluation[1]]))) + 1
    start = time.perf_counter()
    if augmented:
        g = torch.Generator().manual_seed(seed)
        x = torch.cat([x] + [augment(x, g) for _ in range(copies - 1)])
        y = y.repeat(copies)
    model = nn.Sequential(nn.Flatten(), nn.Linear(x[0].numel(), num_classes))
    _train(model, x, y, steps=steps, lr=lr)
    seconds = time.perf_counter() - start
    acc = _accuracy(model, *evaluation)
    return TransferRun(METHODS[0], augmented, acc, seconds, sum(p.numel() for p in model.parameters()), len(x),
                       {}, _accuracy(model, *few))


def transfer_experiment(pretrained: nn.Module, build: Callable[[], nn.Module], few, evaluation, *, k: int = 2,
                        copies: int = 8, steps: int = 150, seed: int = 0, progress: bool = True) -> list[TransferRun]:
    """The eight runs: each method of :data:`METHODS` without and with augmentation, on the CPU
    with its portable convolutions (the same numbers on every CPU, see ``cnn_course.numerics``).

    Under nbgrader (``cnn_course.grading_run()``) the runs are cut to 2 steps and the first
    ``GRADING_SUBSET`` test images, and a line says so: grading checks the exercises, not the
    experiment."""
    if grading_run():
        steps, copies = 2, 2
        evaluation = (evaluation[0][:GRADING_SUBSET], evaluation[1][:GRADING_SUBSET])
        print(f"{GRADING_ENV_VAR} is set: short runs (2 steps, {len(evaluation[0])} test images); "
              "the experiment is not graded")
    runs = []
    with portable_cpu():
        cached = {j: cut_activations(_body(pretrained, j)[0], evaluation[0], pool=j == 0) for j in (0, k)}
        for augmented in (False, True):
            common = dict(augmented=augmented, steps=steps, seed=seed)
            runs.append(train_on_pixels(few, evaluation, copies=copies, **common))
            runs.append(train_on_activations(pretrained, few, evaluation, k=0, copies=copies,
                                             eval_activations=cached[0], **common))
            runs.append(train_on_activations(pretrained, few, evaluation, k=k, copies=copies, lr=0.003,
                                             eval_activations=cached[k], **common))
            runs.append(train_from_scratch(build, few, evaluation, **common))
            if progress:
                print(f"{'with' if augmented else 'without'} augmentation: done")
    return runs


def transfer_table(runs: list[TransferRun], *, times: bool = True) -> str:
    """The runs as a text table: method, augmentation, accuracy on the training and on the test
    images, trained parameters, examples (and training time, when ``times``: it varies from
    run to run)."""
    head = (f"{'method':22s} {'augmentation':12s} {'train acc':>9s} {'test acc':>9s} {'trained params':>14s} "
            f"{'examples':>8s}")
    lines = [head + (f" {'train time':>10s}" if times else ""), "-" * (len(head) + (11 if times else 0))]
    for r in runs:
        row = (f"{r.method:22s} {'yes' if r.augmented else 'no':12s} {100 * r.train_accuracy:8.1f}% "
               f"{100 * r.accuracy:8.1f}% {r.trained_parameters:>14,} {r.examples:>8,}")
        # "(1.2 s)", left-aligned: nbval masks the time, and the padding must not depend on its digits
        lines.append(row + (f"   ({r.seconds:.1f} s)" if times else ""))
    return "\n".join(lines)


def draws_comparison(pretrained: nn.Module, x_train, y_train, evaluation, classes, *, seeds=range(5),
                     n_per_class: int = 20, steps: int = 50, eval_features=None) -> list[tuple[int, float, float]]:
    """``[(seed, accuracy of the linear layer on pixels, accuracy of the new head)]`` for several
    draws of the few training images (``few_shot_split``'s seed), on the same test images: the
    two cheap methods of :func:`transfer_experiment`, without augmentation, for each draw.
    ``eval_features``: the pooled features of ``evaluation[0]`` when already computed (a
    "new head" run's ``notes["eval_activations"]``)."""
    out = []
    with portable_cpu():
        features = (cut_activations(_body(pretrained, 0)[0], evaluation[0], pool=True) if eval_features is None
                    else eval_features)
        for seed in seeds:
            x, y, _, _ = few_shot_split(x_train, y_train, x_train[:0], y_train[:0], classes, n_per_class,
                                        seed=seed)
            pixels = train_on_pixels((x, y), evaluation, steps=steps, seed=seed)
            head = train_on_activations(pretrained, (x, y), evaluation, k=0, steps=steps, seed=seed,
                                        eval_activations=features)
            out.append((int(seed), pixels.accuracy, head.accuracy))
    return out


@torch.no_grad()
def mirror_average(pretrained: nn.Module, head_run: TransferRun, evaluation) -> tuple[float, float]:
    """Test-time augmentation with two crops, the image and its mirror: the test accuracy of a
    new head (a ``"new head"`` run of :func:`transfer_experiment`) on the images alone and with
    the class probabilities averaged over each image and its mirror."""
    if head_run.notes.get("blocks") != 0 or "model" not in head_run.notes:
        raise ValueError("mirror_average needs a 'new head' run of transfer_experiment")
    top = head_run.notes["model"].eval()
    with portable_cpu():
        frozen = _body(pretrained, 0)[0]
        plain = torch.softmax(top(head_run.notes["eval_activations"]), 1)
        mirrored = torch.softmax(top(cut_activations(frozen, evaluation[0].flip(3), pool=True)), 1)
    y = evaluation[1]
    return (plain.argmax(1) == y).float().mean().item(), ((plain + mirrored).argmax(1) == y).float().mean().item()
