"""Checks for the topic-11 notebook (face recognition): the triplet loss, distances, verification,
recognition, batch-hard mining and the threshold for a target false-accept rate.

The graded functions and their checks:

* ``triplet_loss(anchor, positive, negative, alpha=0.2) -> float``: :func:`triplet_loss`.
  J = Σ_i max(‖a_i − p_i‖² − ‖a_i − n_i‖² + α, 0): squared distances summed over the
  features of each row (axis -1), the max per triplet, inside the sum over the batch.
* ``pairwise_distances(x, y) -> D``: :func:`pairwise_distances`, D (m, n) with
  D[i, j] = ‖x_i − y_j‖² (squared Euclidean).
* ``verify(embedding, identity, database, threshold) -> (distance, accepted)``: :func:`verify`,
  distance = ‖embedding − database[identity]‖₂ (not squared), accepted = distance <= τ.
* ``who_is_it(embedding, database, threshold) -> (min_distance, identity)``: :func:`who_is_it`,
  the nearest stored encoding, its identity or None when min_distance > τ.
* ``hardest_triplets(embeddings, labels) -> (anchors, positives, negatives)``:
  :func:`hardest_triplets`, for each anchor with a positive and a negative in the batch, the
  farthest positive and the nearest negative (squared distances).
* ``threshold_for_far(distances, same, target_far) -> τ``: :func:`threshold_for_far`, the
  largest distance τ among the pairs' distances whose false-accept rate (accepted
  different-person pairs / all different-person pairs) is <= target_far.

Expected values are computed here with NumPy; the known mistakes (the max outside the sum,
distances not squared, the sum over the wrong axis, the mean instead of the sum, ≥ for ≤, the
first identity under the threshold instead of the nearest...) are the same computation with
one thing changed. None of the graded functions may use the course library, torch or SciPy.
"""

from __future__ import annotations

import numpy as np

from .core import FORBIDDEN, Case, Out, Variant, describe, forbids, run_check

__all__ = ["triplet_loss", "pairwise_distances", "verify", "who_is_it", "hardest_triplets", "threshold_for_far",
           "triplet_reference", "hardest_reference", "far_threshold_reference"]

def _merged(found: list[Variant]) -> list[Variant]:
    """Known mistakes that give the same value on a case are told together ("... Or: ..."):
    the first match would otherwise name only one of them."""
    out: list[Variant] = []
    for v in found:
        for w in out:
            if w.values.keys() == v.values.keys() and all(
                    _same_value(w.values[k], v.values[k]) for k in v.values) and v.hint not in w.hint:
                w.hint = f"{w.hint} Or: {v.hint}"
                break
        else:
            out.append(Variant(v.hint, dict(v.values)))
    return out


def _same_value(a, b) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b)
                and all(_same_value(x, y) for x, y in zip(a, b)))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and bool(np.array_equal(a, b))
    if a is None or b is None or isinstance(a, str) or isinstance(b, str):
        return a == b
    return bool(a == b or (np.isnan(a) and np.isnan(b))) if isinstance(a, float) and isinstance(b, float) else a == b


# --------------------------------------------------------------------------- the triplet loss

LOSS_RECIPE = ("J = Σ_i max(‖a_i − p_i‖² − ‖a_i − n_i‖² + α, 0): per triplet i, the squared distances summed over "
               "the d features of row i (np.sum(..., axis=-1), one number per triplet), then the hinge max(·, 0) per "
               "triplet, then the SUM over the m triplets.")
MAX_OUTSIDE = ("your loss takes the max after summing over the batch, max(Σ_i (...) + α, 0): the hinge belongs to "
               "each triplet, Σ_i max(pos_i − neg_i + α, 0). An easy triplet (negative far away) must contribute 0, "
               "not cancel the loss of a hard one.")
NOT_SQUARED = ("your distances are not squared: the triplet loss compares ‖a − p‖² and ‖a − n‖², the sums of squared "
               "differences, without a square root.")
NO_AXIS = ("your squared distances are summed over the whole batch instead of over the features of each triplet: "
           "np.sum((a - p) ** 2) without axis=-1 gives one number for all m triplets, so the hinge sees a single "
           "'triplet'. Sum over axis=-1 to get one distance per triplet.")
AXIS0 = ("your squared distances are summed over axis 0 (the triplets) instead of axis -1 (the features): "
         "the rows are the triplets, so ‖a_i − p_i‖² = np.sum((a - p) ** 2, axis=-1).")
MEAN_NOT_SUM = ("your loss is the mean over the triplets: this triplet loss is their SUM, J = Σ_i max(...), so "
                "divide by nothing.")
NO_ALPHA = "your loss leaves out the margin α: max(‖a − p‖² − ‖a − n‖² + α, 0)."
ALPHA_OUTSIDE = ("the margin α is added outside the hinge: it goes inside, max(‖a − p‖² − ‖a − n‖² + α, 0), so that a "
                 "triplet whose negative is more than α farther than its positive contributes 0.")
SWAPPED = ("your loss has the positive and the negative swapped: the positive (same person) should be the NEAR one, "
           "J = Σ max(‖a − p‖² − ‖a − n‖² + α, 0).")


def triplet_reference(a, p, n, alpha, *, max_outside=False, squared=True, axis=-1, mean=False, alpha_in=True,
                      alpha_out=False, swap=False):
    """The loss in float64 with one known mistake switched on (for the diagnoses)."""
    a, p, n = (np.asarray(v, dtype=np.float64) for v in (a, p, n))
    if swap:
        p, n = n, p
    pos = np.sum((a - p) ** 2, axis=axis)
    neg = np.sum((a - n) ** 2, axis=axis)
    if not squared:
        pos, neg = np.sqrt(pos), np.sqrt(neg)
    h = pos - neg + (alpha if alpha_in else 0.0)
    if max_outside:
        return float(max(np.sum(h), 0.0))
    loss = np.maximum(h, 0.0)
    total = float(np.mean(loss) if mean else np.sum(loss))
    return total + (alpha if alpha_out else 0.0)


def _loss_case(a, p, n, alpha, note=""):
    expected = triplet_reference(a, p, n, alpha)
    known = [(MAX_OUTSIDE, dict(max_outside=True)), (NOT_SQUARED, dict(squared=False)), (NO_AXIS, dict(axis=None)),
             (AXIS0, dict(axis=0)), (MEAN_NOT_SUM, dict(mean=True)), (NO_ALPHA, dict(alpha_in=False)),
             (ALPHA_OUTSIDE, dict(alpha_in=False, alpha_out=True)), (SWAPPED, dict(swap=True))]

    def variants():
        found = []
        if triplet_reference(a, p, n, alpha, max_outside=True) == triplet_reference(a, p, n, alpha, axis=None):
            found.append(Variant(f"{MAX_OUTSIDE} Or: {NO_AXIS}", {"loss": triplet_reference(a, p, n, alpha, axis=None)}))
        for hint, kw in known:
            if kw.get("axis") == 0 and a.shape[0] != a.shape[1]:
                continue  # a (d,) vector of "distances": not a single number, told by the shape message
            try:
                found.append(Variant(hint, {"loss": triplet_reference(a, p, n, alpha, **kw)}))
            except ValueError:
                pass
        return found

    return Case(args=[("anchor", a), ("positive", p), ("negative", n), ("alpha", alpha)],
                outputs=[Out("loss", expected, kind="scalar")], dtype=a.dtype, note=note,
                describe=describe(a.dtype, anchor=a, positive=p, negative=n, alpha=alpha),
                variants=variants, hint=LOSS_RECIPE)


def _mixed_triplets(rng, m, d, dtype, alpha):
    """m triplets with some hinges positive and some zero (so the max's place matters)."""
    a = rng.standard_normal((m, d))
    p = a + rng.standard_normal((m, d)) * rng.uniform(0.1, 0.9, size=(m, 1))
    n = a + rng.standard_normal((m, d)) * rng.uniform(0.1, 0.6, size=(m, 1))
    return a.astype(dtype), p.astype(dtype), n.astype(dtype)


@forbids(*FORBIDDEN)
def triplet_loss(func, hidden=False, seed=0):
    """Check ``triplet_loss(anchor, positive, negative, alpha=0.2) -> float``."""
    __tracebackhide__ = True
    if not hidden:
        a = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
        p = np.array([[0.3, 0.4], [1.0, 2.0], [0.0, 3.0]])
        n = np.array([[0.0, 1.0], [1.5, 1.0], [0.6, 2.8]])
        rng = np.random.default_rng(1101)
        cases = [_loss_case(a, p, n, 0.2, "3 triplets in 2-D: losses 0, 0.95 and 0.2, so J = 1.15"),
                 _loss_case(*_mixed_triplets(rng, 5, 8, np.float64, 0.5), 0.5, "5 triplets of 8 features"),
                 _loss_case(*_mixed_triplets(rng, 4, 128, np.float32, 0.2), 0.2, "float32, d = 128")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k in range(8):
            m, d = int(rng.integers(2, 12)), int(rng.integers(2, 40))
            if m == d:
                d += 1
            alpha = float(rng.choice([0.2, 0.5, 1.0]))
            dtype = np.float32 if k % 2 else np.float64
            cases.append(_loss_case(*_mixed_triplets(rng, m, d, dtype, alpha), alpha))
    run_check("triplet_loss", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- pairwise distances

DIST_RECIPE = ("D[i, j] = ‖x_i − y_j‖² = Σ_k (x[i, k] − y[j, k])²: broadcast x[:, None, :] − y[None, :, :] to "
               "(m, n, d), square, and sum over the last axis (or use ‖x‖² + ‖y‖² − 2 x·yᵀ).")
DIST_SQRT = "your distances have a square root: pairwise_distances returns the SQUARED distances ‖x_i − y_j‖²."
DIST_T = "your D is transposed: row i belongs to x_i and column j to y_j, shape (m, n)."
DIST_NO_SQUARE = "your differences are summed without squaring them: Σ_k (x[i, k] − y[j, k])²."
DIST_DOT = ("your D holds only the cross term: ‖x_i − y_j‖² = ‖x_i‖² + ‖y_j‖² − 2 x_i·y_j, all three terms.")


def _dist_case(x, y, note=""):
    diff = x.astype(np.float64)[:, None, :] - y.astype(np.float64)[None, :, :]
    expected = np.sum(diff ** 2, axis=-1)

    def variants():
        found = [Variant(DIST_SQRT, {"D": np.sqrt(expected)}), Variant(DIST_NO_SQUARE, {"D": diff.sum(axis=-1)}),
                 Variant(DIST_DOT, {"D": -2 * x.astype(np.float64) @ y.astype(np.float64).T})]
        if expected.shape[0] == expected.shape[1]:
            found.append(Variant(DIST_T, {"D": expected.T}))
        return found

    return Case(args=[("x", x), ("y", y)], outputs=[Out("D", expected, shape_hint=f"D has shape (m, n) = "
                                                      f"{expected.shape}: one row per row of x, one column per "
                                                      "row of y (a D of shape (n, m) is transposed).")],
                dtype=x.dtype, note=note, describe=describe(x.dtype, x=x, y=y), variants=variants, hint=DIST_RECIPE)


@forbids(*FORBIDDEN)
def pairwise_distances(func, hidden=False, seed=0):
    """Check ``pairwise_distances(x, y) -> D (m, n)`` of squared Euclidean distances."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed if hidden else 1102)
    if not hidden:
        cases = [_dist_case(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[3.0, 4.0], [1.0, 1.0], [0.0, 1.0]]),
                            "D = [[25, 2, 1], [13, 0, 1]]"),
                 _dist_case(rng.standard_normal((4, 4)), rng.standard_normal((4, 4)), "square: 4 by 4"),
                 _dist_case(rng.standard_normal((5, 16)).astype(np.float32),
                            rng.standard_normal((3, 16)).astype(np.float32), "float32")]
    else:
        cases = []
        for k in range(6):
            m, n, d = (int(v) for v in rng.integers(1, 10, size=3))
            dtype = np.float32 if k % 2 else np.float64
            cases.append(_dist_case(rng.standard_normal((m, d)).astype(dtype),
                                    rng.standard_normal((n, d)).astype(dtype)))
    run_check("pairwise_distances", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- verify and who_is_it

VERIFY_RECIPE = ("distance = ‖embedding − database[identity]‖₂ = np.sqrt(np.sum((e − ref)²)), the Euclidean "
                 "distance (not squared); accepted = distance <= threshold (a distance equal to τ is accepted).")
VERIFY_REVERSED = ("your decision is reversed: a SMALL distance means the same person, so accept when "
                   "distance <= threshold (you accept when it is larger).")
VERIFY_STRICT = ("a distance exactly equal to the threshold must be accepted: use distance <= threshold, "
                 "not <.")
VERIFY_SQUARED = ("your distance is squared: verify returns the Euclidean distance ‖e − ref‖₂, the square root "
                  "of the sum of squares (and compares that with τ).")
WHO_RECIPE = ("compute the Euclidean distance from the embedding to EVERY stored encoding, keep the smallest and its "
              "identity (the nearest); return (that distance, that identity) if it is <= threshold, else "
              "(that distance, None).")
WHO_FIRST = ("you return the FIRST identity under the threshold, not the NEAREST: look at every encoding in the "
             "database and keep the one at the smallest distance before comparing with τ.")
WHO_NO_NONE = ("the nearest identity is too far (its distance is above the threshold): then the face is not in the "
               "database and the identity must be None.")
WHO_SQUARED = "your distance is squared: use the Euclidean distance ‖e − ref‖₂ (np.sqrt of the sum of squares)."
WHO_REVERSED = ("your comparison with the threshold is reversed: the face is recognised when min_distance <= "
                "threshold and unknown (None) when it is larger.")
WHO_FARTHEST = "you return the farthest identity: who_is_it keeps the SMALLEST distance."


def _as_bool(result):
    """Turn a NumPy bool in position 1 of the result into a Python bool (both are fine)."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], np.bool_):
        return result[0], bool(result[1])
    return result


def _verify_case(e, identity, db, tau, note=""):
    ref = np.asarray(db[identity], dtype=np.float64)
    d = float(np.sqrt(np.sum((np.asarray(e, dtype=np.float64) - ref) ** 2)))
    d2 = d * d

    def variants():
        found = [Variant(VERIFY_SQUARED, {"distance": d2}), Variant(VERIFY_REVERSED, {"accepted": bool(d >= tau)})]
        if d == tau:
            found.append(Variant(VERIFY_STRICT, {"accepted": False}))
        if d != tau:
            found.append(Variant(VERIFY_REVERSED, {"accepted": bool(d > tau)}))
        return found

    return Case(args=[("embedding", e), ("identity", identity), ("database", db), ("threshold", tau)],
                outputs=[Out("distance", d, kind="scalar"), Out("accepted", bool(d <= tau), kind="exact")],
                note=note, dtype=e.dtype,
                describe=f"embedding.shape={e.shape}, identity={identity!r}, database of {len(db)}, threshold={tau:g}",
                call=lambda f, v: _as_bool(f(*v)), variants=variants, hint=VERIFY_RECIPE)


def _who_reference(e, db, tau, *, first=False, squared=False, no_none=False, reversed_=False, farthest=False):
    names = list(db)
    dist = np.array([np.sqrt(np.sum((np.asarray(e, np.float64) - np.asarray(db[k], np.float64)) ** 2))
                     for k in names])
    if squared:
        dist = dist ** 2
    if first:
        under = np.flatnonzero(dist <= tau)
        k = int(under[0]) if len(under) else int(np.argmin(dist))
    else:
        k = int(np.argmax(dist) if farthest else np.argmin(dist))
    d = float(dist[k])
    ok = d > tau if reversed_ else d <= tau
    return d, (names[k] if (ok or no_none) else None)


def _who_case(e, db, tau, note=""):
    d, who = _who_reference(e, db, tau)

    def variants():
        found = []
        for hint, kw in ((WHO_FIRST, dict(first=True)), (WHO_NO_NONE, dict(no_none=True)),
                         (WHO_SQUARED, dict(squared=True)), (WHO_REVERSED, dict(reversed_=True)),
                         (WHO_FARTHEST, dict(farthest=True))):
            vd, vwho = _who_reference(e, db, tau, **kw)
            found.append(Variant(hint, {"identity": vwho}))
            found.append(Variant(hint, {"min_distance": vd}))
        return _merged(found)

    return Case(args=[("embedding", e), ("database", db), ("threshold", tau)],
                outputs=[Out("identity", who, kind="exact"), Out("min_distance", d, kind="scalar")],
                returns=("min_distance", "identity"),
                note=note, dtype=e.dtype,
                describe=f"embedding.shape={e.shape}, database {{{', '.join(map(repr, db))}}}, threshold={tau:g}",
                variants=variants, hint=WHO_RECIPE)


def _database(rng, k, d, dtype=np.float64):
    names = [str(v) for v in rng.choice(["ada", "alan", "grace", "marie", "niels", "paul", "max", "lise", "emmy",
                                         "erwin", "linus", "kurt"], size=k, replace=False)]
    return {n: rng.standard_normal(d).astype(dtype) for n in names}


@forbids(*FORBIDDEN)
def verify(func, hidden=False, seed=0):
    """Check ``verify(embedding, identity, database, threshold) -> (distance, accepted)``."""
    __tracebackhide__ = True
    db = {"ada": np.array([0.0, 0.0, 0.0]), "alan": np.array([1.0, 2.0, 2.0])}
    if not hidden:
        cases = [_verify_case(np.array([0.3, 0.0, 0.4]), "ada", db, 0.7, "distance 0.5 <= 0.7: accepted"),
                 _verify_case(np.array([0.3, 0.0, 0.4]), "alan", db, 0.7, "distance 2.5 > 0.7: rejected"),
                 _verify_case(np.array([3.0, 4.0, 0.0]), "ada", db, 5.0, "distance exactly 5 = τ: accepted")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_verify_case(np.array([6.0, 8.0, 0.0]), "ada", db, 10.0, "distance exactly τ")]
        for k in range(7):
            d = int(rng.integers(2, 20))
            dtype = np.float32 if k % 2 else np.float64
            base = _database(rng, int(rng.integers(1, 5)), d, dtype)
            who = list(base)[int(rng.integers(len(base)))]
            e = (base[who] + rng.standard_normal(d) * rng.uniform(0.05, 0.8)).astype(dtype)
            true_d = float(np.linalg.norm(e.astype(np.float64) - base[who]))
            tau = float(round(true_d * (0.8 if k % 3 == 0 else 1.25), 3))
            cases.append(_verify_case(e, who, base, tau))
    run_check("verify", func, cases, hidden=hidden)


@forbids(*FORBIDDEN)
def who_is_it(func, hidden=False, seed=0):
    """Check ``who_is_it(embedding, database, threshold) -> (min_distance, identity or None)``."""
    __tracebackhide__ = True
    db = {"ada": np.array([0.0, 1.0]), "alan": np.array([1.0, 0.0]), "grace": np.array([0.9, 0.8])}
    if not hidden:
        cases = [_who_case(np.array([0.8, 0.7]), db, 0.8, "alan is under τ too, grace is the nearest"),
                 _who_case(np.array([0.1, 0.9]), db, 0.5, "ada is the nearest"),
                 _who_case(np.array([3.0, 3.0]), db, 0.5, "nobody within τ: None")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k in range(8):
            d = int(rng.integers(2, 16))
            base = _database(rng, int(rng.integers(3, 7)), d)
            names = list(base)
            # the true person last, and others within τ before it: the first under τ is not the nearest
            who = names[-1]
            e = base[who] + rng.standard_normal(d) * 0.1
            dists = sorted(np.linalg.norm(e - base[n]) for n in names)
            tau = float(dists[1] + 0.01) if k % 4 else float(dists[0] * 0.5)
            cases.append(_who_case(e, base, tau))
    run_check("who_is_it", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- batch-hard mining

HARD_RECIPE = ("with D the squared distances between all embeddings: for each anchor i whose identity has another "
               "member (a positive) and which has a member of another identity (a negative), the hardest positive "
               "is the j != i with labels[j] == labels[i] and the LARGEST D[i, j], the hardest negative the k with "
               "labels[k] != labels[i] and the SMALLEST D[i, k]. Return three integer arrays, anchors in increasing "
               "order; skip anchors without a positive.")
HARD_NEAR_POS = ("your positive is the NEAREST one: the hardest positive is the same-identity example FARTHEST from "
                 "the anchor (largest distance).")
HARD_FAR_NEG = ("your negative is the FARTHEST one: the hardest negative is the other-identity example NEAREST to "
                "the anchor (smallest distance).")
HARD_SELF = ("an anchor is its own positive: exclude j == i from the positives (its distance is 0), and skip an "
             "anchor whose identity has no other member in the batch.")
HARD_NO_SKIP = ("you keep anchors that have no positive (their identity has a single member in the batch): they "
                "make no triplet, so leave them out.")


def hardest_reference(emb, labels, *, near_pos=False, far_neg=False, self_pos=False, no_skip=False):
    """(anchors, positives, negatives) int64 with one known mistake switched on."""
    e = np.asarray(emb, dtype=np.float64)
    D = np.sum((e[:, None, :] - e[None, :, :]) ** 2, axis=-1)
    same = labels[:, None] == labels[None, :]
    pos = same if self_pos else same & ~np.eye(len(labels), dtype=bool)
    neg = ~same
    valid = neg.any(axis=1) & (pos.any(axis=1) | no_skip)
    if no_skip:
        pos = pos | (~pos.any(axis=1, keepdims=True) & np.eye(len(labels), dtype=bool))
    big = np.where(pos, D, np.inf if near_pos else -np.inf)
    p = np.argmin(big, axis=1) if near_pos else np.argmax(big, axis=1)
    small = np.where(neg, D, -np.inf if far_neg else np.inf)
    n = np.argmax(small, axis=1) if far_neg else np.argmin(small, axis=1)
    a = np.flatnonzero(valid)
    return a.astype(np.int64), p[a].astype(np.int64), n[a].astype(np.int64)


def _hard_case(emb, labels, note=""):
    a, p, n = hardest_reference(emb, labels)
    names = ("anchors", "positives", "negatives")

    def variants():
        found = []
        for hint, kw in ((HARD_NEAR_POS, dict(near_pos=True)), (HARD_FAR_NEG, dict(far_neg=True)),
                         (HARD_SELF, dict(self_pos=True)), (HARD_NO_SKIP, dict(no_skip=True))):
            v = hardest_reference(emb, labels, **kw)
            found += [Variant(hint, {name: val}) for name, val in zip(names, v)]
        return _merged(found)

    return Case(args=[("embeddings", emb), ("labels", labels)],
                outputs=[Out(name, v, kind="ints") for name, v in zip(names, (a, p, n))], dtype=emb.dtype,
                note=note, describe=f"{describe(emb.dtype, embeddings=emb)}, labels={labels.tolist()}",
                variants=variants, hint=HARD_RECIPE)


@forbids(*FORBIDDEN)
def hardest_triplets(func, hidden=False, seed=0):
    """Check ``hardest_triplets(embeddings, labels) -> (anchors, positives, negatives)``."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed if hidden else 1105)
    if not hidden:
        emb = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 0.0], [1.0, 2.5], [5.0, 5.0]])
        labels = np.array([0, 0, 0, 1, 1, 2])
        cases = [_hard_case(emb, labels, "6 embeddings of 3 identities; identity 2 has one member: no anchor"),
                 _hard_case(rng.standard_normal((8, 4)), np.array([0, 1, 0, 1, 2, 2, 0, 1]), "8 embeddings, 4-D")]
    else:
        cases = []
        for k in range(6):
            m = int(rng.integers(4, 14))
            labels = rng.integers(0, int(rng.integers(2, 5)), size=m).astype(np.int64)
            if len(np.unique(labels)) < 2:
                labels[0] = labels[0] + 1
            cases.append(_hard_case(rng.standard_normal((m, int(rng.integers(2, 9)))), labels))
    run_check("hardest_triplets", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- threshold for a false-accept rate

FAR_RECIPE = ("candidates are the distances themselves (accept iff d <= τ); at τ, FAR = (different-person pairs with "
              "d <= τ) / (all different-person pairs). Return the LARGEST candidate τ with FAR <= target_far "
              "(it has the highest true-accept rate among them); if even the smallest distance gives too many false "
              "accepts, return -inf.")
FAR_ALL_PAIRS = ("your false-accept rate divides by ALL pairs: it is the fraction of DIFFERENT-person pairs that get "
                 "accepted, #(different, d <= τ) / #different.")
FAR_SMALLEST = ("you return the smallest threshold that meets the target: the largest one (still with FAR <= "
                "target_far) accepts the most genuine pairs.")
FAR_STRICT = ("your rate counts pairs with d < τ: a pair at exactly τ is accepted (d <= τ), so it counts as "
              "accepted too.")
FAR_SAME = ("your rate counts the SAME-person pairs: the false-accept rate is about the different-person pairs "
            "(impostors) that get accepted.")
FAR_EXCEEDS = ("your threshold lets more impostors in than the target allows: at the τ you return, more than "
               "target_far of the different-person pairs have d <= τ.")


def far_threshold_reference(d, same, target, *, all_pairs=False, smallest=False, strict=False, on_same=False):
    d = np.asarray(d, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    cands = np.concatenate([[-np.inf], np.unique(d)])
    group = same if on_same else ~same
    denom = len(d) if all_pairs else group.sum()
    acc = [(np.sum((d < t) & group) if strict else np.sum((d <= t) & group)) / denom for t in cands]
    ok = np.flatnonzero(np.array(acc) <= target)
    if smallest:
        ok = ok[1:] if len(ok) > 1 else ok
        return float(cands[ok[0]])
    return float(cands[ok[-1]])


def _far_case(d, same, target, note=""):
    tau = far_threshold_reference(d, same, target)

    def variants():
        found = []
        for hint, kw in ((FAR_ALL_PAIRS, dict(all_pairs=True)), (FAR_SMALLEST, dict(smallest=True)),
                         (FAR_STRICT, dict(strict=True)), (FAR_SAME, dict(on_same=True))):
            found.append(Variant(hint, {"threshold": far_threshold_reference(d, same, target, **kw)}))
        return _merged(found)

    def inspect(got):
        t = got.get("threshold")
        try:
            t = float(t)
        except (TypeError, ValueError):
            return None
        far = np.mean(d[~same] <= t)
        return FAR_EXCEEDS if far > target else None

    return Case(args=[("distances", d), ("same", same), ("target_far", target)],
                outputs=[Out("threshold", tau, kind="scalar")], note=note,
                describe=f"{len(d)} pairs ({int(same.sum())} same, {int((~same).sum())} different), "
                         f"target_far={target}",
                variants=variants, inspect=inspect, hint=FAR_RECIPE)


def _random_pairs(rng, n):
    same = rng.random(n) < 0.3
    same[:2] = [True, False]
    d = np.where(same, rng.gamma(2.0, 0.3, size=n), rng.gamma(4.0, 0.35, size=n))
    return np.round(d, 3), same


@forbids(*FORBIDDEN)
def threshold_for_far(func, hidden=False, seed=0):
    """Check ``threshold_for_far(distances, same, target_far) -> τ``."""
    __tracebackhide__ = True
    if not hidden:
        d = np.array([0.2, 0.5, 0.4, 0.9, 0.7, 1.1, 1.3, 0.6])
        same = np.array([True, True, False, False, True, False, False, False])
        rng = np.random.default_rng(1106)
        cases = [_far_case(d, same, 0.2, "5 different pairs: at most 1 may be accepted, τ = 0.5"),
                 _far_case(d, same, 0.0, "no false accept at all: τ = 0.2"),
                 _far_case(*_random_pairs(rng, 40), 0.1, "40 pairs, FAR <= 10 %")]
    else:
        rng = np.random.default_rng(seed)
        cases = [_far_case(np.array([0.1, 0.3, 0.5]), np.array([False, True, True]), 0.0,
                           "the nearest pair is an impostor: -inf")]
        for k in range(5):
            cases.append(_far_case(*_random_pairs(rng, int(rng.integers(10, 80))), float(rng.choice([0.0, 0.05,
                                                                                                    0.1, 0.3]))))
    run_check("threshold_for_far", func, cases, hidden=hidden)
