"""cnn_course.ref.face against independent loops, hand cases (with the usual student bugs) and bad input."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_curve as sk_roc_curve

from cnn_course.ref import face
from cnn_course.ref.gradcheck import eval_numerical_gradient, rel_error

# ---------------------------------------------------------------------- independent loops


def sqdist(u, v):
    return sum((float(a) - float(b)) ** 2 for a, b in zip(u, v))


def triplet_loss_loop(a, p, n, alpha):
    return sum(max(sqdist(a[i], p[i]) - sqdist(a[i], n[i]) + alpha, 0.0) for i in range(len(a)))


def hardest_loop(x, y):
    out = []
    for i in range(len(x)):
        pos = [j for j in range(len(x)) if j != i and y[j] == y[i]]
        neg = [k for k in range(len(x)) if y[k] != y[i]]
        if not pos or not neg:
            continue
        jp = max(pos, key=lambda j: (sqdist(x[i], x[j]), -j))  # largest distance, lowest index on ties
        kn = min(neg, key=lambda k: (sqdist(x[i], x[k]), k))
        out.append((i, jp, kn))
    return out


def semi_hard_loop(x, y, alpha):
    out = []
    for i in range(len(x)):
        for j in range(len(x)):
            if j == i or y[j] != y[i]:
                continue
            dap = sqdist(x[i], x[j])
            band = [k for k in range(len(x)) if y[k] != y[i] and dap < sqdist(x[i], x[k]) < dap + alpha]
            if band:
                out.append((i, j, min(band, key=lambda k: (sqdist(x[i], x[k]), k))))
    return out


def triples(result):
    a, p, n = result
    for t in result:
        assert isinstance(t, np.ndarray) and t.dtype == np.int64 and t.shape == a.shape
    return list(zip(a.tolist(), p.tolist(), n.tolist()))


# ---------------------------------------------------------------------- triplet loss

A = np.zeros((3, 2))
P = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
N = np.array([[0.0, 1.0], [1.0, 0.0], [3.0, 0.0]])
# per triplet: 1 - 1 + 0.2 = 0.2;  4 - 1 + 0.2 = 3.2;  0 - 9 + 0.2 < 0 -> 0
HAND_J = 3.4
BUGGY = {  # what the usual mistakes give on (A, P, N), α = 0.2: all different from 3.4
    "max outside the sum": 0.0,  # max(0.2 + 3.2 - 8.8, 0)
    "mean instead of sum": 3.4 / 3,
    "distances not squared": 1.4,  # 1 - 1 + .2, 2 - 1 + .2, 0 - 3 + .2 -> 0
    "sum over the wrong axis (axis 0)": 3.2,  # per feature: [1 - 10 + .2, 4 - 1 + .2]
    "no axis: one sum over everything": 0.0,  # max(5 - 11 + .2, 0)
}


def test_triplet_loss_hand_case_and_bugs():
    J = face.triplet_loss(A, P, N, alpha=0.2)
    assert isinstance(J, float)
    assert J == pytest.approx(HAND_J, abs=1e-12)
    for bug, value in BUGGY.items():
        assert abs(value - HAND_J) > 0.1, bug
    assert face.triplet_loss(A, P, N) == pytest.approx(HAND_J), "default alpha is 0.2"
    assert face.triplet_loss(A, P, N, alpha=0.0) == pytest.approx(3.0)
    assert face.triplet_loss(A[:0], P[:0], N[:0]) == 0.0


BUGGY_CODE = {  # the mistakes written out, to show that BUGGY holds what they really give
    "max outside the sum": lambda a, p, n, al: max(np.sum(np.sum((a - p) ** 2, 1) - np.sum((a - n) ** 2, 1) + al), 0),
    "mean instead of sum": lambda a, p, n, al: np.mean(np.maximum(
        np.sum((a - p) ** 2, 1) - np.sum((a - n) ** 2, 1) + al, 0)),
    "distances not squared": lambda a, p, n, al: np.sum(np.maximum(
        np.linalg.norm(a - p, axis=1) - np.linalg.norm(a - n, axis=1) + al, 0)),
    "sum over the wrong axis (axis 0)": lambda a, p, n, al: np.sum(np.maximum(
        np.sum((a - p) ** 2, 0) - np.sum((a - n) ** 2, 0) + al, 0)),
    "no axis: one sum over everything": lambda a, p, n, al: np.sum(np.maximum(
        np.sum((a - p) ** 2) - np.sum((a - n) ** 2) + al, 0)),
}


@pytest.mark.parametrize("bug", sorted(BUGGY))
def test_buggy_variants_give_the_listed_numbers(bug):
    assert BUGGY_CODE[bug](A, P, N, 0.2) == pytest.approx(BUGGY[bug], abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_triplet_loss_matches_loop(seed, dtype):
    g = np.random.default_rng(seed)
    m, d = int(g.integers(1, 20)), int(g.integers(1, 9))
    a, p, n = (g.normal(size=(m, d)).astype(dtype) for _ in range(3))
    alpha = float(g.uniform(0, 2))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert face.triplet_loss(a, p, n, alpha) == pytest.approx(triplet_loss_loop(a, p, n, alpha), rel=tol, abs=tol)


@pytest.mark.parametrize("seed", range(4))
def test_triplet_loss_backward_numerical(seed):
    g = np.random.default_rng(seed)
    m, d = 7, 5
    a, p, n = (g.normal(size=(m, d)) for _ in range(3))
    alpha = 0.5
    h = np.sum((a - p) ** 2, 1) - np.sum((a - n) ** 2, 1) + alpha
    assert np.abs(h).min() > 1e-3, "pick data away from the hinge's kink"
    assert (h > 0).any() and (h < 0).any(), "both active and inactive triplets"
    grads = face.triplet_loss_backward(a, p, n, alpha)
    inputs = [a, p, n]
    for k, name in enumerate(("anchor", "positive", "negative")):
        def f(x, k=k):
            args = list(inputs)
            args[k] = x
            return face.triplet_loss(*args, alpha=alpha)

        num = eval_numerical_gradient(f, inputs[k].copy())
        assert grads[k].shape == (m, d) and grads[k].dtype == np.float64
        assert rel_error(grads[k], num) < 1e-7, name


def test_triplet_loss_backward_dtype_and_inactive():
    a = np.zeros((2, 3), np.float32)
    p = np.zeros((2, 3), np.float32)
    n = np.full((2, 3), 5.0, np.float32)  # far negatives: no loss, no gradient
    for g in face.triplet_loss_backward(a, p, n):
        assert g.dtype == np.float32 and not g.any()
    # a hinge of exactly 0 (pos - neg + α = 0) gets the subgradient 0, as torch.relu
    a, p, n = np.zeros((1, 1)), np.zeros((1, 1)), np.array([[0.5]])
    assert face.triplet_loss(a, p, n, alpha=0.25) == 0.0
    assert not any(g.any() for g in face.triplet_loss_backward(a, p, n, alpha=0.25))


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.zeros(3), np.zeros(3), np.zeros(3)), "2-D"),
        ((np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((2, 3))), "positive must have the shape"),
        ((np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((3, 3))), "negative must have the shape"),
        ((np.zeros((2, 3), int), np.zeros((2, 3)), np.zeros((2, 3))), "floating-point"),
        (([[0.0]], np.zeros((1, 1)), np.zeros((1, 1))), "NumPy array"),
        ((np.full((1, 1), np.nan), np.zeros((1, 1)), np.zeros((1, 1))), "NaN"),
    ],
)
def test_triplet_loss_bad_input(args, match):
    with pytest.raises((ValueError, TypeError), match=match):
        face.triplet_loss(*args)
    with pytest.raises((ValueError, TypeError), match=match):
        face.triplet_loss_backward(*args)


@pytest.mark.parametrize("alpha", [-0.1, float("nan"), float("inf"), True, "0.2", None])
def test_triplet_loss_bad_alpha(alpha):
    with pytest.raises(ValueError, match="margin"):
        face.triplet_loss(A, P, N, alpha)


# ---------------------------------------------------------------------- distances


@pytest.mark.parametrize("seed", range(4))
def test_pairwise_distances_match_loop(seed):
    g = np.random.default_rng(seed)
    x, y = g.normal(size=(int(g.integers(0, 9)), 4)), g.normal(size=(int(g.integers(1, 9)), 4))
    D = face.pairwise_distances(x, y)
    assert D.shape == (len(x), len(y)) and D.dtype == np.float64
    for i in range(len(x)):
        for j in range(len(y)):
            assert D[i, j] == pytest.approx(sqdist(x[i], y[j]), rel=1e-12)
    np.testing.assert_allclose(face.pairwise_distances(x, y, squared=False), np.sqrt(D), rtol=1e-15)


def test_pairwise_distances_exact_zero_on_identical_rows_and_chunks():
    g = np.random.default_rng(0)
    x = g.normal(size=(300, 100)).astype(np.float32) * 1e3  # large values: x·x − 2x·y would cancel
    D = face.pairwise_distances(x, x, squared=False)
    assert (np.diag(D) == 0).all() and (D >= 0).all()
    # more rows than one chunk (2**22 numbers): the rows are computed in pieces
    big = g.normal(size=(700, 64))
    D = face.pairwise_distances(big, big[:200])
    np.testing.assert_allclose(D[650], np.sum((big[650] - big[:200]) ** 2, axis=1), rtol=1e-12)


def test_pairwise_distances_bad_input():
    with pytest.raises(ValueError, match="same number of features"):
        face.pairwise_distances(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"x must be 2-D"):
        face.pairwise_distances(np.zeros(3), np.zeros((2, 3)))


# ---------------------------------------------------------------------- mining


def random_batch(g, m=16, d=3, ids=4, integer=False):
    x = g.normal(size=(m, d))
    if integer:  # small integers: many exact ties in the distances
        x = np.round(x * 1.5)
    return x, g.integers(0, ids, m).astype(np.int64)


@pytest.mark.parametrize("seed", range(8))
def test_hardest_triplets_match_loop(seed):
    g = np.random.default_rng(seed)
    x, y = random_batch(g, integer=seed % 2 == 0)
    assert triples(face.hardest_triplets(x, y)) == hardest_loop(x, y)


def test_hardest_triplets_hand_case():
    # identities 0: x = 0, 1, 5; 1: x = 3; 2: x = 2.5, 9 ; points on a line
    x = np.array([[0.0], [1.0], [5.0], [3.0], [2.5], [9.0]])
    y = np.array([0, 0, 0, 1, 2, 2])
    got = triples(face.hardest_triplets(x, y))
    # anchor 3 (identity 1) is alone: no positive, skipped
    assert got == [(0, 2, 4), (1, 2, 4), (2, 0, 3), (4, 5, 3), (5, 4, 2)]


def test_mining_degenerate_batches():
    x = np.arange(4.0)[:, None]
    for labels in (np.zeros(4, np.int64), np.arange(4)):  # one identity: no negative; all distinct: no positive
        assert triples(face.hardest_triplets(x, labels)) == []
        assert triples(face.semi_hard_triplets(x, labels, 10.0)) == []
    assert triples(face.hardest_triplets(x[:0], np.zeros(0, np.int64))) == []
    assert triples(face.semi_hard_triplets(x[:0], np.zeros(0, np.int64))) == []


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("alpha", [0.2, 1.0, 5.0])
def test_semi_hard_triplets_match_loop(seed, alpha):
    g = np.random.default_rng(seed)
    x, y = random_batch(g, integer=seed % 2 == 0)
    assert triples(face.semi_hard_triplets(x, y, alpha)) == semi_hard_loop(x, y, alpha)


def test_semi_hard_triplets_hand_case():
    x = np.array([[0.0], [1.0], [1.2], [1.5], [0.9]])
    y = np.array([0, 0, 1, 1, 2])
    # anchor 0, positive 1: d_ap = 1; negatives d = 1.44, 2.25, 0.81: band (1, 1 + α)
    assert triples(face.semi_hard_triplets(x, y, 0.5))[:1] == [(0, 1, 2)]
    got = dict(((a, p), n) for a, p, n in triples(face.semi_hard_triplets(x, y, 0.3)))
    assert (0, 1) not in got, "1.44 is not < 1 + 0.3: no semi-hard negative, the pair is skipped"
    a, p, n = face.semi_hard_triplets(x, y, 0.5)
    loss = face.triplet_loss(x[a], x[p], x[n], 0.5)
    assert 0 < loss < 0.5 * len(a), "every semi-hard triplet has a loss in (0, α)"


def test_mining_bad_labels():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"labels must have shape \(m,\) = \(3,\)"):
        face.hardest_triplets(x, np.zeros(4, np.int64))
    with pytest.raises(TypeError, match="integer identities"):
        face.semi_hard_triplets(x, np.zeros(3), 0.2)


# ---------------------------------------------------------------------- verify and who_is_it

DB = {
    "ada": np.array([0.0, 0.0, 0.0, 0.0]),
    "bob": np.array([3.0, 0.0, 0.0, 0.0]),
    "cy": np.array([0.0, 1.0, 0.0, 0.0]),
}


def test_verify_distance_and_rule():
    e = np.array([0.0, 0.0, 1.0, 1.0])  # ‖e − ada‖ = √2, squared 2
    d, ok = face.verify(e, "ada", DB, 1.5)
    assert isinstance(d, float) and isinstance(ok, bool)
    assert d == pytest.approx(math.sqrt(2)), "the Euclidean distance, not squared"
    assert ok, "√2 <= 1.5: accepted"
    assert face.verify(e, "ada", DB, 1.4) == (pytest.approx(math.sqrt(2)), False), "√2 > 1.4: rejected"
    assert face.verify(np.array([0.0, 3.0, 4.0, 0.0]), "ada", DB, 5.0)[1], "distance == τ is accepted"
    assert face.verify(e[None, :], "bob", DB, 10)[0] == pytest.approx(math.sqrt(11)), "(1, d) accepted"


def test_verify_bad_input():
    with pytest.raises(KeyError, match="not in the database"):
        face.verify(np.zeros(4), "eve", DB, 1.0)
    with pytest.raises(ValueError, match="4 features"):
        face.verify(np.zeros(3), "ada", DB, 1.0)
    with pytest.raises(ValueError, match="threshold"):
        face.verify(np.zeros(4), "ada", DB, float("nan"))
    with pytest.raises(TypeError, match="dict"):
        face.verify(np.zeros(4), "ada", [np.zeros(4)], 1.0)


def test_who_is_it_nearest_not_first():
    e = np.array([0.0, 0.8, 0.0, 0.0])  # ada at 0.8, cy at 0.2: both under τ = 1
    d, who = face.who_is_it(e, DB, 1.0)
    assert who == "cy", "the nearest identity, not the first under the threshold"
    assert d == pytest.approx(0.2)
    d, who = face.who_is_it(np.array([0.0, 0.0, 7.0, 0.0]), DB, 1.0)
    assert who is None and d == pytest.approx(math.sqrt(49)), "farther than τ from everyone: None"
    assert face.who_is_it(np.array([1.5, 0.0, 0.0, 0.0]), DB, 1.5) == (1.5, "ada"), "ties: first in the database"
    with pytest.raises(ValueError, match="empty"):
        face.who_is_it(np.zeros(4), {}, 1.0)


@pytest.mark.parametrize("seed", range(3))
def test_who_is_it_matches_loop(seed):
    g = np.random.default_rng(seed)
    db = {f"p{k}": g.normal(size=8) for k in range(20)}
    for _ in range(10):
        e = g.normal(size=8)
        dists = {k: math.sqrt(sqdist(e, v)) for k, v in db.items()}
        best = min(dists, key=dists.get)
        tau = float(np.median(list(dists.values())) * 0.6)
        d, who = face.who_is_it(e, db, tau)
        assert d == pytest.approx(dists[best])
        assert who == (best if dists[best] <= tau else None)


# ---------------------------------------------------------------------- ROC and τ


def random_pairs(g, n=60, integer=False):
    same = g.random(n) < 0.4
    d = np.where(same, g.normal(1.0, 0.5, n), g.normal(2.0, 0.5, n))
    if integer:
        d = np.round(d * 2) / 2  # many ties
    same[:2] = [True, False]
    return d, same


@pytest.mark.parametrize("seed", range(6))
def test_roc_curve_matches_sklearn(seed):
    g = np.random.default_rng(seed)
    d, same = random_pairs(g, integer=seed % 2 == 0)
    far, tar, thr = face.roc_curve(d, same)
    fpr, tpr, sk_thr = sk_roc_curve(same, -d, drop_intermediate=False)  # a higher score is "more same"
    np.testing.assert_allclose(far, fpr, rtol=0, atol=1e-15)
    np.testing.assert_allclose(tar, tpr, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(thr, -sk_thr)
    assert thr[0] == -np.inf and (far[0], tar[0]) == (0.0, 0.0) and (far[-1], tar[-1]) == (1.0, 1.0)
    for k in (1, len(thr) // 2, len(thr) - 1):  # the definition, counted directly
        assert far[k] == np.mean(d[~same] <= thr[k]) and tar[k] == np.mean(d[same] <= thr[k])


def test_roc_curve_hand_case():
    d = np.array([0.1, 0.4, 0.35, 0.8])
    same = np.array([True, False, True, False])
    far, tar, thr = face.roc_curve(d, same)
    np.testing.assert_array_equal(thr, [-np.inf, 0.1, 0.35, 0.4, 0.8])
    np.testing.assert_array_equal(tar, [0, 0.5, 1, 1, 1])
    np.testing.assert_array_equal(far, [0, 0, 0, 0.5, 1])
    assert face.threshold_for_far(d, same, 0.0) == 0.35
    assert face.threshold_for_far(d, same, 0.5) == 0.4
    assert face.threshold_for_far(d, same, 0.49) == 0.35
    assert face.threshold_for_far(d, same, 1.0) == 0.8
    assert face.threshold_for_far(np.array([0.1, 0.2]), np.array([False, True]), 0.0) == -np.inf


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("target", [0.0, 0.01, 0.1, 0.25, 0.5, 1.0])
def test_threshold_for_far_matches_brute_force(seed, target):
    g = np.random.default_rng(seed)
    d, same = random_pairs(g, integer=seed % 2 == 0)
    tau = face.threshold_for_far(d, same, target)
    ok = [t for t in np.unique(d) if np.mean(d[~same] <= t) <= target]
    assert tau == (max(ok) if ok else -np.inf)
    assert np.mean(d[~same] <= tau) <= target


def test_pair_distances():
    x = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    d, same = face.pair_distances(x, np.array([7, 7, 2]))
    np.testing.assert_allclose(d, [5.0, 1.0, math.sqrt(18)])  # pairs (0, 1), (0, 2), (1, 2)
    np.testing.assert_array_equal(same, [True, False, False])
    np.testing.assert_allclose(face.pair_distances(x, np.zeros(3, np.int64), squared=True)[0], [25, 1, 18])
    far, tar, _ = face.roc_curve(d, same)
    np.testing.assert_array_equal(tar, [0, 0, 0, 1])


def test_roc_bad_input():
    with pytest.raises(ValueError, match="both same-person"):
        face.roc_curve(np.array([0.1, 0.2]), np.array([True, True]))
    with pytest.raises(ValueError, match="shape"):
        face.roc_curve(np.array([0.1, 0.2]), np.array([True]))
    with pytest.raises(ValueError, match="booleans"):
        face.roc_curve(np.array([0.1, 0.2]), np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="finite"):
        face.roc_curve(np.array([0.1, np.nan]), np.array([True, False]))
    with pytest.raises(ValueError, match="target_far"):
        face.threshold_for_far(np.array([0.1, 0.2]), np.array([True, False]), 1.5)
    far, tar, _ = face.roc_curve(np.array([0.1, 0.2]), np.array([1, 0]))  # 0/1 labels are fine
    np.testing.assert_array_equal(tar, [0, 1, 1])


# ---------------------------------------------------------------------- the Siamese head


def test_siamese_head_matches_loop():
    g = np.random.default_rng(0)
    fi, fj, w = g.normal(size=(5, 4)), g.normal(size=(5, 4)), g.normal(size=4)
    out = face.siamese_head(fi, fj, w, 0.3)
    for i in range(5):
        z = sum(w[k] * abs(fi[i, k] - fj[i, k]) for k in range(4)) + 0.3
        assert out[i] == pytest.approx(1 / (1 + math.exp(-z)), rel=1e-12)
    np.testing.assert_allclose(face.siamese_head(fj, fi, w, 0.3), out, rtol=1e-15)  # symmetric
    big = face.siamese_head(np.zeros((2, 1)), np.array([[1e4], [-1e4]]), np.array([-1.0]), 0.0)
    assert np.isfinite(big).all() and big[0] == 0.0
