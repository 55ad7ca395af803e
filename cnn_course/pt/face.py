"""Face verification and recognition in PyTorch, the twin of ``cnn_course.ref.face``.

Same functions, same conventions: the triplet loss is the *sum* over the batch of
max(‖a − p‖² − ‖a − n‖² + α, 0) (differentiable, autograd); mining uses squared distances;
verification and recognition accept iff the Euclidean distance ‖f(x) − f(y)‖₂ <= τ.
Plus ``SiameseHead``, the seeds' alternative to the triplet loss: a logistic unit on
|f(x_i) − f(x_j)|.

    anchor, positive, negative, embeddings  (m, d) float tensors;  labels (m,) int64
    embedding (d,) or (1, d);  database {identity: (d,) tensor}
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import torch
from torch import nn

from ..ref.face import check_alpha, check_threshold

__all__ = [
    "SiameseHead",
    "hardest_triplets",
    "pair_distances",
    "pairwise_distances",
    "roc_curve",
    "semi_hard_triplets",
    "threshold_for_far",
    "triplet_loss",
    "verify",
    "who_is_it",
]


# ----------------------------------------------------------------------------------------
# Validation (the reference's wording)
# ----------------------------------------------------------------------------------------


def _check_matrix(x, name: str, layout: str = "(m, d)") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape {layout}, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D with shape {layout} (one embedding per row), got shape {tuple(x.shape)}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name} must have a floating-point dtype, got {x.dtype}")
    if not bool(torch.isfinite(x.detach()).all()):
        raise ValueError(f"{name} holds NaN or infinity: embeddings must be finite")
    return x


def _check_same(x, ref, name: str, ref_name: str) -> None:
    if tuple(x.shape) != tuple(ref.shape):
        raise ValueError(f"{name} must have the shape of {ref_name} {tuple(ref.shape)}, got {tuple(x.shape)}")
    if x.device != ref.device:
        raise ValueError(f"{name} must be on the device of {ref_name} ({ref.device}), got {x.device}")


def _check_labels(labels, x: torch.Tensor) -> torch.Tensor:
    m = x.shape[0]
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a tensor of integer identities of shape (m,), got {type(labels).__name__}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"labels must hold integer identities (int64), got dtype {labels.dtype}")
    if tuple(labels.shape) != (m,):
        raise ValueError(f"labels must have shape (m,) = ({m},), one identity per embedding, got {tuple(labels.shape)}")
    if labels.device != x.device:
        raise ValueError(f"labels must be on the device of embeddings ({x.device}), got {labels.device}")
    return labels


def _as_vector(e, name: str, d: int | None = None) -> torch.Tensor:
    if not isinstance(e, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape (d,) (or (1, d)), got {type(e).__name__}")
    if e.ndim == 2 and e.shape[0] == 1:
        e = e[0]
    if e.ndim != 1:
        raise ValueError(f"{name} must be one encoding of shape (d,) or (1, d), got shape {tuple(e.shape)}")
    if e.dtype.is_complex or e.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers (a float dtype), got {e.dtype}")
    if d is not None and e.shape[0] != d:
        raise ValueError(f"{name} has {e.shape[0]} features, but the encoding compared with it has {d}")
    if not bool(torch.isfinite(e.detach()).all()):
        raise ValueError(f"{name} holds NaN or infinity: encodings must be finite")
    return e.detach().to(torch.float64)


# ----------------------------------------------------------------------------------------
# Triplet loss, distances, mining
# ----------------------------------------------------------------------------------------


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, alpha=0.2) -> torch.Tensor:
    """J = Σ_i max(‖a_i − p_i‖² − ‖a_i − n_i‖² + α, 0), a 0-d tensor (differentiable).

    anchor, positive, negative: (m, d) float tensors on one device; alpha: the margin α >= 0.
    """
    _check_matrix(anchor, "anchor")
    _check_matrix(positive, "positive")
    _check_matrix(negative, "negative")
    _check_same(positive, anchor, "positive", "anchor")
    _check_same(negative, anchor, "negative", "anchor")
    alpha = check_alpha(alpha)
    pos = ((anchor - positive) ** 2).sum(dim=1)
    neg = ((anchor - negative) ** 2).sum(dim=1)
    return torch.relu(pos - neg + alpha).sum()


def pairwise_distances(x: torch.Tensor, y: torch.Tensor, squared: bool = True) -> torch.Tensor:
    """D[i, j] = ‖x_i − y_j‖² (or ‖x_i − y_j‖₂ with ``squared=False``); x (m, d), y (n, d) -> (m, n).

    From the differences, so identical rows give exactly 0; differentiable, and the
    non-squared distance has gradient 0 (not NaN) where it is 0.
    """
    _check_matrix(x, "x", "(m, d)")
    _check_matrix(y, "y", "(n, d)")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same number of features d: x is {tuple(x.shape)}, "
                         f"y is {tuple(y.shape)}")
    if x.device != y.device:
        raise ValueError(f"y must be on the device of x ({x.device}), got {y.device}")
    D = ((x[:, None, :] - y[None, :, :]) ** 2).sum(dim=2)
    if squared:
        return D
    pos = D > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, D, torch.ones_like(D))), torch.zeros_like(D))


def _masks(labels: torch.Tensor):
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def _no_triplets(device):
    return tuple(torch.zeros(0, dtype=torch.int64, device=device) for _ in range(3))


def _first_arg(values: torch.Tensor, best: torch.Tensor) -> torch.Tensor:
    """Per row, the lowest column index where values equals the row's best value."""
    m = values.shape[1]
    cols = torch.arange(m, device=values.device).expand_as(values)
    return torch.where(values == best[:, None], cols, m).amin(dim=1)


@torch.no_grad()
def hardest_triplets(embeddings: torch.Tensor, labels: torch.Tensor):
    """Batch-hard mining, the twin of ``cnn_course.ref.hardest_triplets``.

    embeddings: (m, d), labels: (m,) -> (anchors, positives, negatives), (K,) int64 tensors:
    for each anchor with a positive and a negative in the batch, the farthest positive and
    the nearest negative (squared distances; ties: lowest index). Anchors whose identity has
    one member, or a batch of one identity, give no triplet.
    """
    _check_matrix(embeddings, "embeddings")
    labels = _check_labels(labels, embeddings)
    if embeddings.shape[0] == 0:
        return _no_triplets(embeddings.device)
    D = pairwise_distances(embeddings.detach(), embeddings.detach())
    pos_mask, neg_mask = _masks(labels)
    valid = pos_mask.any(dim=1) & neg_mask.any(dim=1)
    far = torch.where(pos_mask, D, -torch.inf)
    near = torch.where(neg_mask, D, torch.inf)
    positives = _first_arg(far, far.amax(dim=1))
    negatives = _first_arg(near, near.amin(dim=1))
    anchors = torch.nonzero(valid).flatten()
    return anchors, positives[anchors], negatives[anchors]


@torch.no_grad()
def semi_hard_triplets(embeddings: torch.Tensor, labels: torch.Tensor, alpha=0.2):
    """FaceNet's semi-hard mining, the twin of ``cnn_course.ref.semi_hard_triplets``.

    Every anchor–positive pair (i, j) with its nearest negative k such that
    d(i, j) < d(i, k) < d(i, j) + α (squared distances; ties: lowest index); pairs without
    one are skipped. -> (anchors, positives, negatives), (K,) int64, by anchor then positive.
    """
    _check_matrix(embeddings, "embeddings")
    labels = _check_labels(labels, embeddings)
    alpha = check_alpha(alpha)
    D = pairwise_distances(embeddings.detach(), embeddings.detach())
    pos_mask, neg_mask = _masks(labels)
    anchors, positives = torch.nonzero(pos_mask, as_tuple=True)  # row-major order
    if anchors.numel() == 0:
        return _no_triplets(embeddings.device)
    d_ap = D[anchors, positives][:, None]
    d_an = D[anchors]
    band = neg_mask[anchors] & (d_an > d_ap) & (d_an < d_ap + alpha)
    cand = torch.where(band, d_an, torch.inf)
    negatives = _first_arg(cand, cand.amin(dim=1))
    ok = band.any(dim=1)
    return anchors[ok], positives[ok], negatives[ok]


# ----------------------------------------------------------------------------------------
# Verification and recognition
# ----------------------------------------------------------------------------------------


def verify(embedding: torch.Tensor, identity, database, threshold):
    """(distance, accepted): distance = ‖embedding − database[identity]‖₂ (a float),
    accepted = distance <= τ (a bool). embedding (d,) or (1, d); database {identity: (d,) tensor}."""
    e = _as_vector(embedding, "embedding")
    threshold = check_threshold(threshold)
    if not isinstance(database, Mapping):
        raise TypeError(f"database must be a dict {{identity: encoding (d,)}}, got {type(database).__name__}")
    if identity not in database:
        raise KeyError(f"identity {identity!r} is not in the database (known: {list(database)[:10]})")
    ref = _as_vector(database[identity], f"database[{identity!r}]", e.shape[0]).to(e.device)
    distance = float(torch.sqrt(((e - ref) ** 2).sum()))
    return distance, distance <= threshold


def who_is_it(embedding: torch.Tensor, database, threshold):
    """(min_distance, identity): the nearest stored encoding's Euclidean distance and its
    identity, or None when min_distance > τ; equal distances: the first in the database."""
    e = _as_vector(embedding, "embedding")
    threshold = check_threshold(threshold)
    if not isinstance(database, Mapping):
        raise TypeError(f"database must be a dict {{identity: encoding (d,)}}, got {type(database).__name__}")
    if not database:
        raise ValueError("database is empty: add at least one identity's encoding")
    names = list(database)
    M = torch.stack([_as_vector(database[k], f"database[{k!r}]", e.shape[0]).to(e.device) for k in names])
    dist = torch.sqrt(((M - e) ** 2).sum(dim=1))
    d = float(dist.min())
    k = int(torch.nonzero(dist == dist.min())[0])
    return d, (names[k] if d <= threshold else None)


# ----------------------------------------------------------------------------------------
# ROC
# ----------------------------------------------------------------------------------------


@torch.no_grad()
def pair_distances(embeddings: torch.Tensor, labels: torch.Tensor, squared: bool = False):
    """(distances, same) over every pair i < j (row-major): Euclidean (or squared) distances,
    float64, and True where both have one identity; the twin of ``cnn_course.ref.pair_distances``."""
    _check_matrix(embeddings, "embeddings")
    labels = _check_labels(labels, embeddings)
    i, j = torch.triu_indices(embeddings.shape[0], embeddings.shape[0], offset=1, device=embeddings.device)
    x = embeddings.detach().to(torch.float64)
    D = pairwise_distances(x, x, squared=squared)
    return D[i, j], labels[i] == labels[j]


def _check_pairs(distances, same):
    if not isinstance(distances, torch.Tensor) or distances.ndim != 1:
        got = tuple(distances.shape) if isinstance(distances, torch.Tensor) else type(distances).__name__
        raise ValueError(f"distances must be a 1-D tensor (one distance per pair), got {got}")
    if distances.dtype.is_complex or distances.dtype == torch.bool or not bool(torch.isfinite(distances).all()):
        raise ValueError("distances must be finite real numbers")
    if not isinstance(same, torch.Tensor) or same.shape != distances.shape:
        raise ValueError(f"same must be a tensor of shape {tuple(distances.shape)}, True where the pair is one person")
    if same.dtype != torch.bool:
        if same.dtype.is_floating_point or same.dtype.is_complex or not bool(((same == 0) | (same == 1)).all()):
            raise ValueError(f"same must be booleans (or 0/1): True where the pair is one person, "
                             f"got dtype {same.dtype}")
        same = same.bool()
    if bool(same.all()) or not bool(same.any()):
        raise ValueError("same must contain both same-person (True) and different-person (False) pairs: "
                         f"got {int(same.sum())} same and {int((~same).sum())} different")
    return distances.detach().to(torch.float64).cpu(), same.cpu()


def roc_curve(distances: torch.Tensor, same: torch.Tensor):
    """(far, tar, thresholds), float64 tensors: thresholds = [-inf, the distinct distances
    ascending]; at each τ the false- and true-accept rates of "accept iff d <= τ"."""
    d, same = _check_pairs(distances, same)
    thresholds = torch.unique(d)  # sorted
    genuine, impostor = torch.sort(d[same]).values, torch.sort(d[~same]).values
    tar = torch.searchsorted(genuine, thresholds, right=True).double() / genuine.numel()
    far = torch.searchsorted(impostor, thresholds, right=True).double() / impostor.numel()
    zero = torch.zeros(1, dtype=torch.float64)
    return (torch.cat([zero, far]), torch.cat([zero, tar]),
            torch.cat([torch.full((1,), -torch.inf, dtype=torch.float64), thresholds]))


def threshold_for_far(distances: torch.Tensor, same: torch.Tensor, target_far) -> float:
    """The largest ROC threshold whose false-accept rate is <= target_far (a float; may be -inf)."""
    if isinstance(target_far, bool) or not isinstance(target_far, numbers.Real) or not 0 <= target_far <= 1:
        raise ValueError(f"target_far must be a rate in [0, 1], got {target_far!r}")
    far, _, thresholds = roc_curve(distances, same)
    return float(thresholds[torch.nonzero(far <= target_far)[-1]])


# ----------------------------------------------------------------------------------------
# The Siamese head
# ----------------------------------------------------------------------------------------


class SiameseHead(nn.Module):
    """Verification as binary classification: ŷ = σ(Σ_k w_k |f(x_i)_k − f(x_j)_k| + b).

    d: the encoding size. ``forward(f_i, f_j)`` with (m, d) encodings -> (m,) probabilities
    that each pair shows one person; ``logits`` gives z before the sigmoid, for
    ``F.binary_cross_entropy_with_logits``. The encoder that produces f is shared by both
    images (a Siamese network) and lives outside this head.
    """

    def __init__(self, d: int):
        super().__init__()
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1:
            raise ValueError(f"d (the encoding size) must be a positive integer, got {d!r}")
        self.linear = nn.Linear(int(d), 1)

    def logits(self, f_i: torch.Tensor, f_j: torch.Tensor) -> torch.Tensor:
        _check_matrix(f_i, "f_i")
        _check_matrix(f_j, "f_j")
        _check_same(f_j, f_i, "f_j", "f_i")
        if f_i.shape[1] != self.linear.in_features:
            raise ValueError(f"f_i has {f_i.shape[1]} features, but this head was built for d = "
                             f"{self.linear.in_features}")
        return self.linear(torch.abs(f_i - f_j)).squeeze(1)

    def forward(self, f_i: torch.Tensor, f_j: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(f_i, f_j))
