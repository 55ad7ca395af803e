"""Face verification and recognition in NumPy: the triplet loss, distances, batch mining, ROC.

Shapes (one embedding f(x) per row):

    anchor, positive, negative   (m, d)   f(A), f(P), f(N) of m triplets
    embeddings                   (m, d)   a batch of embeddings, with integer labels (m,) (identities)
    embedding                    (d,)     one face's encoding (a (1, d) row is accepted too)
    database                     dict     identity -> (d,) encoding, precomputed once

The triplet loss of m triplets is the *sum* over the batch (not the mean):

    J = Σ_i max(‖a_i − p_i‖² − ‖a_i − n_i‖² + α, 0)

with squared Euclidean distances, each summed over the d features of one row (axis 1) and the
max taken per triplet, *inside* the sum. Its gradient is 2(n_i − p_i), −2(a_i − p_i) and
2(a_i − n_i) for the triplets whose hinge is strictly positive, 0 for the others (at exactly
0 the hinge's subgradient 0 is used, as ``torch.relu`` does).

Verification and recognition compare the *Euclidean* distance d = ‖f(x) − f(y)‖₂ (not
squared) with a threshold τ: two faces are accepted as the same person iff d ≤ τ (a distance
exactly equal to τ is accepted). ``roc_curve`` and ``threshold_for_far`` use the same rule
on any distances you give them.

``cnn_course.pt.face`` is the PyTorch twin, function for function, plus the Siamese
``SiameseHead`` module.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np

__all__ = [
    "hardest_triplets",
    "pair_distances",
    "pairwise_distances",
    "roc_curve",
    "semi_hard_triplets",
    "siamese_head",
    "threshold_for_far",
    "triplet_loss",
    "triplet_loss_backward",
    "verify",
    "who_is_it",
]


# ----------------------------------------------------------------------------------------
# Validation (shared wording with cnn_course.pt.face)
# ----------------------------------------------------------------------------------------


def _check_matrix(x, name: str, layout: str = "(m, d)") -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of shape {layout}, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D with shape {layout} (one embedding per row), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must have a floating-point dtype (float32 or float64), got {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinity: embeddings must be finite")
    return x


def check_alpha(alpha, name: str = "alpha") -> float:
    """Require a finite real number >= 0 (the margin) and return it as a float."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"{name} (the margin) must be a finite number >= 0, got {alpha!r}")
    return float(alpha)


def check_threshold(threshold, name: str = "threshold") -> float:
    """Require a real number that is not NaN (±inf allowed) and return it as a float."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or np.isnan(threshold):
        raise ValueError(f"{name} must be a number (a distance), got {threshold!r}")
    return float(threshold)


def _check_triplets(anchor, positive, negative):
    _check_matrix(anchor, "anchor")
    _check_matrix(positive, "positive")
    _check_matrix(negative, "negative")
    for name, x in (("positive", positive), ("negative", negative)):
        if x.shape != anchor.shape:
            raise ValueError(f"{name} must have the shape of anchor {anchor.shape} (row i of each is one "
                             f"triplet), got {x.shape}")


def _check_labels(labels, m: int) -> np.ndarray:
    if not isinstance(labels, np.ndarray):
        raise TypeError(f"labels must be a NumPy array of integer identities of shape (m,), "
                        f"got {type(labels).__name__}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must hold integer identities (e.g. int64), got dtype {labels.dtype}")
    if labels.shape != (m,):
        raise ValueError(f"labels must have shape (m,) = ({m},), one identity per embedding, got {labels.shape}")
    return labels


def _as_vector(e, name: str, d: int | None = None) -> np.ndarray:
    """A (d,) or (1, d) float array as (d,)."""
    if not isinstance(e, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of shape (d,) (or (1, d)), got {type(e).__name__}")
    if e.ndim == 2 and e.shape[0] == 1:
        e = e[0]
    if e.ndim != 1:
        raise ValueError(f"{name} must be one encoding of shape (d,) or (1, d), got shape {e.shape}")
    if e.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers (a float dtype), got {e.dtype}")
    if d is not None and e.shape[0] != d:
        raise ValueError(f"{name} has {e.shape[0]} features, but the encoding compared with it has {d}")
    if not np.isfinite(e).all():
        raise ValueError(f"{name} holds NaN or infinity: encodings must be finite")
    return e


def _check_database(database, d: int) -> tuple[list, np.ndarray]:
    """A non-empty {identity: encoding} mapping -> (identities in order, (K, d) float64 matrix)."""
    if not isinstance(database, Mapping):
        raise TypeError(f"database must be a dict {{identity: encoding (d,)}}, got {type(database).__name__}")
    if not database:
        raise ValueError("database is empty: add at least one identity's encoding")
    names = list(database)
    rows = [_as_vector(database[k], f"database[{k!r}]", d) for k in names]
    return names, np.stack(rows).astype(np.float64)


# ----------------------------------------------------------------------------------------
# Triplet loss
# ----------------------------------------------------------------------------------------


def _hinge(anchor, positive, negative, alpha):
    a, p, n = (x.astype(np.float64) for x in (anchor, positive, negative))
    pos = np.sum((a - p) ** 2, axis=1)  # (m,) squared distances, summed over the features
    neg = np.sum((a - n) ** 2, axis=1)
    return a, p, n, pos - neg + alpha


def triplet_loss(anchor, positive, negative, alpha=0.2) -> float:
    """J = Σ_i max(‖a_i − p_i‖² − ‖a_i − n_i‖² + α, 0), summed over the m triplets.

    anchor, positive, negative: (m, d) float, row i is triplet i; alpha: the margin α >= 0.
    Returns a Python float (0.0 for m = 0).
    """
    _check_triplets(anchor, positive, negative)
    alpha = check_alpha(alpha)
    *_, h = _hinge(anchor, positive, negative, alpha)
    return float(np.sum(np.maximum(h, 0.0)))


def triplet_loss_backward(anchor, positive, negative, alpha=0.2):
    """The gradient of ``triplet_loss`` with respect to its three inputs.

    (m, d) each -> (d_anchor, d_positive, d_negative), (m, d) each in the inputs' dtype.
    Triplet i contributes only if its hinge ‖a_i − p_i‖² − ‖a_i − n_i‖² + α is > 0: then
    d_anchor = 2(n_i − p_i), d_positive = −2(a_i − p_i), d_negative = 2(a_i − n_i).
    """
    _check_triplets(anchor, positive, negative)
    alpha = check_alpha(alpha)
    a, p, n, h = _hinge(anchor, positive, negative, alpha)
    active = (h > 0).astype(np.float64)[:, None]
    dtype = np.result_type(anchor, positive, negative)
    return tuple((active * g).astype(dtype) for g in (2 * (n - p), -2 * (a - p), 2 * (a - n)))


# ----------------------------------------------------------------------------------------
# Distances and triplet mining
# ----------------------------------------------------------------------------------------


def pairwise_distances(x, y, squared=True):
    """All distances between the rows of x and the rows of y.

    x: (m, d), y: (n, d) float -> D: (m, n) float64, D[i, j] = ‖x_i − y_j‖² (``squared=True``)
    or ‖x_i − y_j‖₂ (``squared=False``). Computed from the differences (not from
    ‖x‖² + ‖y‖² − 2x·y), so identical rows give exactly 0 and nothing is negative.
    """
    _check_matrix(x, "x", "(m, d)")
    _check_matrix(y, "y", "(n, d)")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same number of features d: x is {x.shape}, y is {y.shape}")
    xf, yf = x.astype(np.float64), y.astype(np.float64)
    D = np.empty((x.shape[0], y.shape[0]))
    rows = max(1, 2**22 // max(1, y.shape[0] * y.shape[1]))  # bounds the (rows, n, d) temporary
    for s in range(0, x.shape[0], rows):
        D[s : s + rows] = np.sum((xf[s : s + rows, None, :] - yf[None, :, :]) ** 2, axis=2)
    return D if squared else np.sqrt(D)


def _masks(labels):
    same = labels[:, None] == labels[None, :]
    positive = same & ~np.eye(len(labels), dtype=bool)  # same identity, another example
    return positive, ~same


def hardest_triplets(embeddings, labels):
    """Batch-hard mining: for each anchor its farthest positive and its nearest negative.

    embeddings: (m, d) float, labels: (m,) integer identities
    -> (anchors, positives, negatives): three (K,) int64 index arrays, triplet k is
    (anchors[k], positives[k], negatives[k]), anchors in increasing order.

    Distances are squared Euclidean (``pairwise_distances``). The hardest positive of anchor
    i is the j != i with labels[j] == labels[i] and the largest distance; the hardest
    negative the k with labels[k] != labels[i] and the smallest distance; ties go to the
    lowest index. An anchor whose identity has a single member in the batch has no positive
    and is skipped, and so is every anchor when the batch holds a single identity (no
    negative): K can be smaller than m, and 0.
    """
    _check_matrix(embeddings, "embeddings")
    labels = _check_labels(labels, embeddings.shape[0])
    if embeddings.shape[0] == 0:
        return tuple(np.zeros(0, np.int64) for _ in range(3))
    D = pairwise_distances(embeddings, embeddings)
    pos_mask, neg_mask = _masks(labels)
    valid = pos_mask.any(axis=1) & neg_mask.any(axis=1)
    positives = np.argmax(np.where(pos_mask, D, -np.inf), axis=1)  # argmax: first of equal maxima
    negatives = np.argmin(np.where(neg_mask, D, np.inf), axis=1)
    anchors = np.flatnonzero(valid)
    return anchors.astype(np.int64), positives[anchors].astype(np.int64), negatives[anchors].astype(np.int64)


def semi_hard_triplets(embeddings, labels, alpha=0.2):
    """FaceNet's semi-hard mining: every anchor–positive pair with its semi-hard negative.

    embeddings: (m, d) float, labels: (m,) integer identities, alpha: the margin α
    -> (anchors, positives, negatives): three (K,) int64 index arrays, ordered by anchor
    then positive.

    Every pair (i, j), j != i, of the same identity is a candidate (FaceNet uses all
    anchor–positive pairs). Its negative is the *nearest* k of another identity that is
    farther than the positive but inside the margin: d(i, j) < d(i, k) < d(i, j) + α
    (squared distances, strict inequalities; ties: lowest index). Such a triplet has a loss
    in (0, α): hard enough to teach, without the collapse that always taking the hardest
    negative can cause. Pairs with no semi-hard negative are skipped, as are anchors whose
    identity has a single member (no positive): K can be 0.
    """
    _check_matrix(embeddings, "embeddings")
    labels = _check_labels(labels, embeddings.shape[0])
    alpha = check_alpha(alpha)
    if embeddings.shape[0] == 0:
        return tuple(np.zeros(0, np.int64) for _ in range(3))
    D = pairwise_distances(embeddings, embeddings)
    pos_mask, neg_mask = _masks(labels)
    anchors, positives = np.nonzero(pos_mask)  # row-major: by anchor, then positive
    d_ap = D[anchors, positives][:, None]  # (P, 1)
    d_an = D[anchors]  # (P, m)
    band = neg_mask[anchors] & (d_an > d_ap) & (d_an < d_ap + alpha)
    negatives = np.argmin(np.where(band, d_an, np.inf), axis=1)
    ok = band.any(axis=1)
    return anchors[ok].astype(np.int64), positives[ok].astype(np.int64), negatives[ok].astype(np.int64)


# ----------------------------------------------------------------------------------------
# Verification (1:1) and recognition (1:K)
# ----------------------------------------------------------------------------------------


def verify(embedding, identity, database, threshold):
    """Is this the person they claim to be? Compare with the one stored encoding.

    embedding: (d,) (or (1, d)) the new face's encoding; identity: a key of ``database``;
    database: {identity: (d,) encoding}; threshold: τ.
    -> (distance, accepted): distance = ‖embedding − database[identity]‖₂ (Euclidean, a
    float), accepted = distance <= τ (a Python bool; equality is accepted).
    """
    e = _as_vector(embedding, "embedding")
    threshold = check_threshold(threshold)
    if not isinstance(database, Mapping):
        raise TypeError(f"database must be a dict {{identity: encoding (d,)}}, got {type(database).__name__}")
    if identity not in database:
        raise KeyError(f"identity {identity!r} is not in the database (known: {list(database)[:10]})")
    ref = _as_vector(database[identity], f"database[{identity!r}]", e.shape[0])
    distance = float(np.sqrt(np.sum((e.astype(np.float64) - ref.astype(np.float64)) ** 2)))
    return distance, bool(distance <= threshold)


def who_is_it(embedding, database, threshold):
    """Who is this? The nearest identity in the database, if it is near enough.

    embedding: (d,) (or (1, d)); database: {identity: (d,) encoding}, non-empty; threshold: τ.
    -> (min_distance, identity): the smallest Euclidean distance to any stored encoding and
    the identity of that *nearest* encoding, or None when min_distance > τ (not in the
    database). Equal distances: the identity that comes first in the database.
    """
    e = _as_vector(embedding, "embedding")
    threshold = check_threshold(threshold)
    names, M = _check_database(database, e.shape[0])
    dist = np.sqrt(np.sum((M - e.astype(np.float64)) ** 2, axis=1))
    k = int(np.argmin(dist))  # first of equal minima
    d = float(dist[k])
    return d, (names[k] if d <= threshold else None)


# ----------------------------------------------------------------------------------------
# ROC: false-accept vs true-accept rate over thresholds
# ----------------------------------------------------------------------------------------


def pair_distances(embeddings, labels, squared=False):
    """Every unordered pair of a labelled set, for ``roc_curve``: the verification data set.

    embeddings: (m, d) float, labels: (m,) integer identities -> (distances, same): (m(m−1)/2,)
    float64 Euclidean distances (squared with ``squared=True``) and (m(m−1)/2,) bool, True when
    both are one identity; pairs (i, j) with i < j in row-major order.
    """
    _check_matrix(embeddings, "embeddings")
    labels = _check_labels(labels, embeddings.shape[0])
    i, j = np.triu_indices(embeddings.shape[0], k=1)
    D = pairwise_distances(embeddings, embeddings, squared=squared)
    return D[i, j], labels[i] == labels[j]


def _check_pairs(distances, same):
    if not isinstance(distances, np.ndarray) or distances.ndim != 1:
        raise ValueError(f"distances must be a 1-D NumPy array (one distance per pair), got "
                         f"{getattr(distances, 'shape', type(distances).__name__)}")
    if distances.dtype.kind not in "fiu" or not np.isfinite(distances).all():
        raise ValueError("distances must be finite real numbers")
    if not isinstance(same, np.ndarray) or same.shape != distances.shape:
        raise ValueError(f"same must be a NumPy array of shape {distances.shape}, True where the pair is one "
                         f"person, got {getattr(same, 'shape', type(same).__name__)}")
    if same.dtype != bool:
        if same.dtype.kind not in "iu" or not np.isin(same, (0, 1)).all():
            raise ValueError(f"same must be booleans (or 0/1): True where the pair is one person, "
                             f"got dtype {same.dtype}")
        same = same.astype(bool)
    if same.all() or not same.any():
        raise ValueError("same must contain both same-person (True) and different-person (False) pairs: "
                         f"got {int(same.sum())} same and {int((~same).sum())} different")
    return distances.astype(np.float64), same


def roc_curve(distances, same):
    """The ROC curve of verification by distance: accept a pair iff distance <= τ.

    distances: (P,) one distance per pair; same: (P,) bool, True when the pair is one person
    (both kinds must occur) -> (far, tar, thresholds), three float64 arrays of equal length:
    thresholds = [-inf, then every distinct distance in increasing order], and at each τ
    far = #{different pairs with d <= τ} / #different  (false-accept rate) and
    tar = #{same pairs with d <= τ} / #same             (true-accept rate),
    both non-decreasing from (0, 0) to (1, 1).
    """
    d, same = _check_pairs(distances, same)
    thresholds = np.unique(d)  # sorted, distinct
    order = np.sort(d[same]), np.sort(d[~same])
    tar = np.searchsorted(order[0], thresholds, side="right") / order[0].size
    far = np.searchsorted(order[1], thresholds, side="right") / order[1].size
    return (np.concatenate([[0.0], far]), np.concatenate([[0.0], tar]),
            np.concatenate([[-np.inf], thresholds]))


def threshold_for_far(distances, same, target_far):
    """The threshold to use when at most a fraction ``target_far`` of impostors may get in.

    distances, same: as for ``roc_curve`` (validation pairs); target_far in [0, 1].
    -> τ (a float): the largest threshold of ``roc_curve`` whose false-accept rate is
    <= target_far, so the one with the highest true-accept rate among them. τ is one of the
    distances (accept iff d <= τ), or -inf when already the smallest distance belongs to a
    different-person pair and target_far is below 1/#different.
    """
    if isinstance(target_far, bool) or not isinstance(target_far, numbers.Real) or not 0 <= target_far <= 1:
        raise ValueError(f"target_far must be a rate in [0, 1], got {target_far!r}")
    far, _, thresholds = roc_curve(distances, same)
    return float(thresholds[np.flatnonzero(far <= target_far)[-1]])  # far is non-decreasing


# ----------------------------------------------------------------------------------------
# Verification as binary classification (the Siamese head)
# ----------------------------------------------------------------------------------------


def siamese_head(f_i, f_j, w, b):
    """ŷ = σ(Σ_k w_k |f(x_i)_k − f(x_j)_k| + b): the probability that pairs show one person.

    f_i, f_j: (m, d) encodings of the two images of m pairs; w: (d,); b: a number
    -> (m,) float64 in (0, 1). The twin of ``cnn_course.pt.SiameseHead``.
    """
    _check_matrix(f_i, "f_i")
    _check_matrix(f_j, "f_j")
    if f_j.shape != f_i.shape:
        raise ValueError(f"f_j must have the shape of f_i {f_i.shape}, got {f_j.shape}")
    w = _as_vector(w, "w", f_i.shape[1]).astype(np.float64)
    z = np.abs(f_i.astype(np.float64) - f_j.astype(np.float64)) @ w + float(b)
    return np.exp(-np.logaddexp(0.0, -z))  # σ(z) = 1 / (1 + e^(−z)) without overflow
