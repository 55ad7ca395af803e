"""Nearest-neighbour baselines for labelled time series (the UCR archive's reference classifiers).

A new series gets the label of the closest training series (1-NN), with one of two distances:

* Euclidean: ``sqrt(Σ_t (a_t - b_t)²)``, the two series compared time step by time step;
* dynamic time warping (DTW): the smallest sum of squared differences over all monotone
  alignments of the two series (a step may be matched with several steps of the other), so
  that the same shape a little earlier or later still counts as close. The square root of that
  sum is returned, as the UCR archive does. ``window`` (a Sakoe-Chiba band, in time steps)
  limits how far an alignment may stray from the diagonal; None means no limit.

Series are (N, T) or (N, C, T) arrays; with C > 1 the channels' squared differences are added
(the "dependent" multivariate DTW). Everything is NumPy, vectorised over all pairs.
"""

from __future__ import annotations

import numpy as np

__all__ = ["euclidean_distances", "dtw_distances", "nearest_neighbour"]


def _as_3d(a, name):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2:
        a = a[:, None, :]
    if a.ndim != 3:
        raise ValueError(f"{name} must be (N, T) or (N, C, T), got shape {a.shape}")
    return a


def euclidean_distances(a, b) -> np.ndarray:
    """(len(a), len(b)) Euclidean distances between the series of a and of b (same shape (C, T))."""
    a, b = _as_3d(a, "a"), _as_3d(b, "b")
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"series must have the same shape, got {a.shape[1:]} and {b.shape[1:]}")
    fa, fb = a.reshape(len(a), -1), b.reshape(len(b), -1)
    sq = (fa ** 2).sum(1)[:, None] + (fb ** 2).sum(1)[None, :] - 2 * fa @ fb.T
    return np.sqrt(np.maximum(sq, 0.0))


def dtw_distances(a, b, window: int | None = None) -> np.ndarray:
    """(len(a), len(b)) DTW distances, every pair at once: D[i, j] = c(i, j) + min(D[i-1, j],
    D[i, j-1], D[i-1, j-1]) with c(i, j) = Σ_c (a[c, i] - b[c, j])², the distance √D[T, T']."""
    a, b = _as_3d(a, "a"), _as_3d(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"series must have the same number of channels, got {a.shape[1]} and {b.shape[1]}")
    n, m, T, U = len(a), len(b), a.shape[2], b.shape[2]
    w = max(T, U) if window is None else max(int(window), abs(T - U))
    prev = np.full((n, m, U + 1), np.inf)
    prev[:, :, 0] = 0.0
    for i in range(T):
        cur = np.full((n, m, U + 1), np.inf)
        ai = a[:, :, i]  # (n, C)
        lo, hi = max(0, i - w), min(U, i + w + 1)
        cost = ((ai[:, None, :, None] - b[None, :, :, lo:hi]) ** 2).sum(axis=2)  # (n, m, hi - lo)
        best = np.minimum(prev[:, :, lo + 1:hi + 1], prev[:, :, lo:hi])  # from above, from the diagonal
        for k, j in enumerate(range(lo, hi)):
            cur[:, :, j + 1] = cost[:, :, k] + np.minimum(best[:, :, k], cur[:, :, j])
        prev = cur
    return np.sqrt(prev[:, :, U])


def nearest_neighbour(dist, y_train) -> np.ndarray:
    """Labels of the nearest training series: dist (N_test, N_train) -> y_train[argmin] (ties: the first)."""
    dist = np.asarray(dist)
    y_train = np.asarray(y_train)
    if dist.ndim != 2 or dist.shape[1] != len(y_train):
        raise ValueError(f"dist must be (N_test, N_train={len(y_train)}), got {dist.shape}")
    return y_train[dist.argmin(axis=1)]
