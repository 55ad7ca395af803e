"""The nearest-neighbour baselines of cnn_course.series against plain-Python definitions."""

import numpy as np
import pytest

from cnn_course.series import dtw_distances, euclidean_distances, nearest_neighbour


def _dtw(p, q, window=None):
    """DTW by the textbook double loop: p, q (C, T) -> sqrt of the cheapest alignment's squared cost."""
    T, U = p.shape[1], q.shape[1]
    w = max(T, U) if window is None else max(window, abs(T - U))
    D = np.full((T + 1, U + 1), np.inf)
    D[0, 0] = 0.0
    for i in range(T):
        for j in range(max(0, i - w), min(U, i + w + 1)):
            D[i + 1, j + 1] = np.sum((p[:, i] - q[:, j]) ** 2) + min(D[i, j + 1], D[i + 1, j], D[i, j])
    return np.sqrt(D[T, U])


@pytest.mark.parametrize("channels, window", [(1, None), (2, None), (1, 2), (3, 1)])
def test_dtw_matches_the_double_loop(channels, window):
    rng = np.random.default_rng(channels)
    a, b = rng.standard_normal((3, channels, 8)), rng.standard_normal((4, channels, 8))
    got = dtw_distances(a, b, window=window)
    want = [[_dtw(p, q, window) for q in b] for p in a]
    assert np.allclose(got, want)


def test_dtw_properties():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 12))
    d = dtw_distances(a, a)
    assert np.allclose(np.diag(d), 0) and np.allclose(d, d.T)
    assert np.all(d <= euclidean_distances(a, a) + 1e-12)          # the diagonal is one alignment
    assert np.allclose(dtw_distances(a, a, window=0), euclidean_distances(a, a), atol=1e-6)
    shifted = np.roll(a, 1, axis=1)
    assert np.all(np.diag(dtw_distances(a, shifted)) <= np.diag(euclidean_distances(a, shifted)) + 1e-12)


def test_euclidean_and_nearest_neighbour():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((4, 2, 6)), rng.standard_normal((7, 2, 6))
    want = np.sqrt(((a[:, None] - b[None]) ** 2).sum(axis=(2, 3)))
    assert np.allclose(euclidean_distances(a, b), want)
    y = np.arange(7) * 10
    assert np.array_equal(nearest_neighbour(want, y), y[want.argmin(1)])
    with pytest.raises(ValueError, match="N_train=7"):
        nearest_neighbour(want[:, :3], y)
    with pytest.raises(ValueError, match="same shape"):
        euclidean_distances(a, b[:, :, :5])
