"""cnn_course.pt.face_experiments and cnn_course.plot.face: the PigCVP identity split, the signal
encoder and its triplet training, one-shot verification, face alignment and encodings, figures."""

import math

import matplotlib
import numpy as np
import pytest
import torch

from cnn_course.plot import face as face_plot
from cnn_course.pt import face_experiments as fx


@pytest.fixture(scope="module")
def split():
    return fx.pig_identity_split(n_train=30, n_val=10, seed=0)


def test_split_is_by_identity(split):
    groups = [set(split.y_train), set(split.y_val), set(split.y_test)]
    assert [len(g) for g in groups] == [30, 10, 12]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    for y in (split.y_train, split.y_val, split.y_test):
        assert np.all(np.bincount(y)[np.unique(y)] == 6)  # six recordings per pig
    assert split.x_train.shape[1:] == (1, 2000) and split.x_train.dtype == np.float32
    np.testing.assert_allclose(split.x_test.mean(axis=2), 0, atol=1e-4)
    np.testing.assert_allclose(split.x_test.std(axis=2), 1, atol=1e-3)
    assert "train: 30 pigs, 180 recordings" in split.describe()
    with pytest.raises(ValueError):
        fx.pig_identity_split(n_train=40, n_val=12)


def test_signal_embedding_gives_unit_vectors_for_any_length():
    torch.manual_seed(0)
    net = fx.SignalEmbedding(d=8, width=4)
    for T in (64, 512, 2000):
        out = net(torch.randn(3, 1, T))
        assert out.shape == (3, 8)
        torch.testing.assert_close(out.norm(dim=1), torch.ones(3))


def test_training_is_seeded_and_lowers_the_loss(split):
    def trained(seed):
        torch.manual_seed(0)
        net = fx.SignalEmbedding(d=8, width=4)
        log = fx.train_embedding(net, split.x_train, split.y_train, steps=40, length=256, seed=seed,
                                 pigs_per_batch=6, crops_per_pig=3)
        return net, log

    (a, log_a), (b, _) = trained(0), trained(0)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert 30 <= log_a.steps == len(log_a.loss) == len(log_a.active) == len(log_a.triplets) <= 40
    assert np.mean(log_a.loss[-10:]) < np.mean(log_a.loss[:10])
    for mining in ("hard", "random"):
        torch.manual_seed(0)
        log = fx.train_embedding(fx.SignalEmbedding(d=8, width=4), split.x_train, split.y_train, steps=2,
                                 length=128, mining=mining)
        assert len(log.loss) == 2
    with pytest.raises(ValueError, match="mining"):
        fx.train_embedding(a, split.x_train, split.y_train, steps=1, mining="easy")


def test_grading_run_cuts_the_training(split, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    log = fx.train_embedding(fx.SignalEmbedding(d=8, width=4), split.x_train, split.y_train, steps=100, length=128)
    assert log.steps == len(log.loss) <= 3


def _clusters(rng, k=6, per=5, d=4, spread=0.05):
    centres = rng.standard_normal((k, d)) * 3
    labels = np.repeat(np.arange(k), per)
    return centres[labels] + spread * rng.standard_normal((k * per, d)), labels


def test_evaluation_of_perfect_and_useless_encodings():
    rng = np.random.default_rng(0)
    ev, yv = _clusters(rng)
    et, yt = _clusters(rng)
    r = fx.evaluate_verification("clusters", ev, yv, et, yt, target_far=0.05)
    assert (r.test_tar, r.test_far, r.rank1, r.auc) == (1.0, 0.0, 1.0, 1.0)
    assert "clusters" in r.line() and "TAR 100.0%" in r.line() and "who-is-it 24/24" in r.line()
    assert (r.rank1_hits, r.rank1_queries) == (24, 24)
    noise = fx.evaluate_verification("noise", rng.standard_normal(ev.shape), yv, rng.standard_normal(et.shape), yt)
    assert 0.2 < noise.auc < 0.8 and noise.rank1 < 0.6


def test_random_triplets_of_separated_clusters_have_zero_loss():
    rng = np.random.default_rng(1)
    emb, labels = _clusters(rng, spread=0.3)
    s = fx.random_triplet_stats(emb, labels, alpha=0.2, n=2000)
    assert s["random_zero"] > 0.9 and s["hard_zero"] <= s["random_zero"]
    assert s["hard_mean_loss"] >= s["random_mean_loss"]


def test_raw_signal_embedding_has_unit_rows(split):
    e = fx.raw_signal_embedding(split.x_val)
    assert e.shape == (60, 2000)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1)


def test_alignment_puts_the_eyes_in_place():
    """Two bright dots at a tilted pair of "eyes" land where align_faces puts the eyes."""
    img = np.zeros((200, 240, 3), np.float32)
    angle, half = math.radians(25), 30
    centre = np.array([120.0, 90.0])
    left = centre - half * np.array([math.cos(angle), math.sin(angle)])
    right = centre + half * np.array([math.cos(angle), math.sin(angle)])
    yy, xx = np.mgrid[:200, :240]
    for eye in (left, right):
        img[(xx - eye[0]) ** 2 + (yy - eye[1]) ** 2 <= 9] = 1.0
    marks = np.zeros((1, 5, 2))
    marks[0, 0], marks[0, 1] = left, right
    crop = fx.align_faces(img, marks, size=64)[0].mean(axis=2)
    assert crop.shape == (64, 64)
    ys, xs = np.nonzero(crop > 0.5)
    left_blob = xs < 32
    eye_y = 0.36 * 64 - 0.5
    assert abs(ys[left_blob].mean() - eye_y) < 1.0 and abs(ys[~left_blob].mean() - eye_y) < 1.0  # level
    gap = xs[~left_blob].mean() - xs[left_blob].mean()
    assert abs(gap - 0.42 * 64) < 1.0
    assert fx.align_faces(img, np.zeros((0, 5, 2)), size=16).shape == (0, 16, 16, 3)
    grey = fx.align_faces((img[:, :, 0] * 255).astype(np.uint8), marks, size=32)
    assert grey.shape == (1, 32, 32, 3) and grey.max() <= 1.0


def test_encodings_of_crops():
    rng = np.random.default_rng(0)
    crops = rng.random((3, 48, 48, 3)).astype(np.float32)
    f = fx.onet_features(crops)
    assert f.shape == (3, 256)
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1)
    with pytest.raises(ValueError, match="48×48"):
        fx.onet_features(crops[:, :40, :40])
    p = fx.pixel_encoding(crops)
    np.testing.assert_allclose(p, fx.pixel_encoding(0.5 * crops + 0.2), atol=1e-7)  # brightness and contrast
    assert p.shape == (3, 48 * 48)


def test_rescaled_copy_boxes_and_projection():
    rng = np.random.default_rng(0)
    img = rng.random((40, 60)).astype(np.float32)
    small = fx.rescaled_copy(img, scale=0.5, gamma=2.0)
    assert small.shape == (20, 30) and 0 <= small.min() and small.max() <= 1
    assert fx.rescaled_copy(rng.random((40, 60, 3)), 0.5).shape == (20, 30, 3)
    ref_boxes = np.array([[0, 0, 10, 10], [20, 20, 40, 40]], float)
    np.testing.assert_array_equal(fx.match_boxes(ref_boxes[::-1] * 0.5, ref_boxes, scale=0.5), [1, 0])
    a, b = fx.pca_2d(rng.standard_normal((10, 5)), rng.standard_normal((4, 5)))
    assert a.shape == (10, 2) and b.shape == (4, 2)


def test_siamese_head_learns_separable_pairs():
    rng = np.random.default_rng(0)
    emb, labels = _clusters(rng, k=5, per=4, d=6, spread=0.1)
    head = fx.train_siamese_head(emb, labels, steps=200)
    i, j = np.triu_indices(len(labels), k=1)
    with torch.no_grad():
        prob = head(torch.tensor(emb[i], dtype=torch.float32), torch.tensor(emb[j], dtype=torch.float32)).numpy()
    same = labels[i] == labels[j]
    assert prob[same].min() > prob[~same].max()


def test_figures():
    rng = np.random.default_rng(0)
    img = rng.random((50, 80))
    boxes = np.array([[5, 5, 20, 20], [30, 10, 50, 30]], float)
    figs = [face_plot.plot_detections(img, boxes, rng.random((2, 5, 2)) * 40, reference=boxes, matched=[True, False]),
            face_plot.plot_faces(rng.random((3, 16, 16, 3)), titles=list("abc"), cols=2),
            face_plot.plot_embedding_2d({"x": (rng.standard_normal((6, 2)), np.repeat([0, 1], 3))}),
            face_plot.plot_roc_curves({"r": (np.linspace(0, 1, 5), np.linspace(0, 1, 5) ** 0.5)}, marks={"r": (0.1, 0.5)}),
            face_plot.plot_recordings(rng.standard_normal((4, 1, 30)), np.array([0, 0, 1, 1]), [0, 1], per_pig=2),
            face_plot.plot_gallery([rng.random((8, 8, 3))] * 2, ["a", None], {"a": rng.random((8, 8, 3))},
                                   ["q1", "q2"], [0.1, 0.9])]
    assert all(isinstance(f, matplotlib.figure.Figure) for f in figs)
    assert len(figs[0].axes) == 1 and len(figs[-1].axes) == 4
