'''Topic-11 submissions (face recognition): correct solutions, bugs and misbehaving code.

``CORRECT`` maps each exercise of ``solutions/11_face_recognition`` to the source a careful
student would write, in notebook order. ``BUGS`` lists wrong or cheating submissions with the
hint the grader must give; ``breaks`` names the exercises whose checks fail.

Exercise -> check -> test cell:

    triplet_loss         face_recognition.triplet_loss                 test_triplet_loss
    pairwise_distances   face_recognition.pairwise_distances           test_pairwise_distances
    hardest_triplets     face_recognition.hardest_triplets             test_hardest_triplets
    triplet_train_step   face_recognition_torch.triplet_train_step     test_triplet_train_step
    verify               face_recognition.verify                       test_verify
    who_is_it            face_recognition.who_is_it                    test_who_is_it
    threshold_for_far    face_recognition.threshold_for_far            test_threshold_for_far

The NumPy exercises may not use the course library, torch or SciPy; the training step may use
torch but not the course's ready-made ``cnn_course.pt.face``.
'''

from __future__ import annotations

from . import Bug, replacer

CORRECT: dict[str, str] = {
    "triplet_loss": '''\
import numpy as np

def triplet_loss(anchor, positive, negative, alpha=0.2):
    pos_dist = np.sum((anchor - positive) ** 2, axis=-1)
    neg_dist = np.sum((anchor - negative) ** 2, axis=-1)
    losses = np.maximum(pos_dist - neg_dist + alpha, 0.0)
    return float(np.sum(losses))
''',
    "pairwise_distances": '''\
import numpy as np

def pairwise_distances(x, y):
    diff = x[:, None, :] - y[None, :, :]
    return np.sum(diff ** 2, axis=-1)
''',
    "hardest_triplets": '''\
import numpy as np

def hardest_triplets(embeddings, labels):
    D = np.sum((embeddings[:, None, :] - embeddings[None, :, :]) ** 2, axis=-1)
    same = labels[:, None] == labels[None, :]
    pos_mask = same & ~np.eye(len(labels), dtype=bool)
    neg_mask = ~same
    anchors = np.flatnonzero(pos_mask.any(axis=1) & neg_mask.any(axis=1))
    positives = np.argmax(np.where(pos_mask, D, -np.inf), axis=1)
    negatives = np.argmin(np.where(neg_mask, D, np.inf), axis=1)
    return anchors, positives[anchors], negatives[anchors]
''',
    "triplet_train_step": '''\
import torch

def triplet_train_step(model, optimizer, x, labels, alpha=0.2):
    emb = model(x)
    with torch.no_grad():
        D = ((emb[:, None, :] - emb[None, :, :]) ** 2).sum(dim=-1)
        same = labels[:, None] == labels[None, :]
        pos_mask = same & ~torch.eye(len(labels), dtype=torch.bool)
        neg_mask = ~same
        anchors = torch.nonzero(pos_mask.any(dim=1) & neg_mask.any(dim=1)).flatten()
        positives = torch.where(pos_mask, D, -torch.inf).argmax(dim=1)[anchors]
        negatives = torch.where(neg_mask, D, torch.inf).argmin(dim=1)[anchors]
    pos_dist = ((emb[anchors] - emb[positives]) ** 2).sum(dim=1)
    neg_dist = ((emb[anchors] - emb[negatives]) ** 2).sum(dim=1)
    loss = torch.relu(pos_dist - neg_dist + alpha).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()
''',
    "verify": '''\
import numpy as np

def verify(embedding, identity, database, threshold):
    distance = float(np.sqrt(np.sum((embedding - database[identity]) ** 2)))
    accepted = distance <= threshold
    return distance, accepted
''',
    "who_is_it": '''\
import numpy as np

def who_is_it(embedding, database, threshold):
    min_distance, identity = np.inf, None
    for name, encoding in database.items():
        distance = float(np.sqrt(np.sum((embedding - encoding) ** 2)))
        if distance < min_distance:
            min_distance, identity = distance, name
    if min_distance > threshold:
        identity = None
    return min_distance, identity
''',
    "threshold_for_far": '''\
import numpy as np

def threshold_for_far(distances, same, target_far):
    impostors = distances[~same]
    best = -np.inf
    for tau in np.unique(distances):
        far = np.sum(impostors <= tau) / len(impostors)
        if far <= target_far:
            best = float(tau)
    return best
''',
}

_replace = replacer(CORRECT)

_LOSS = frozenset({"triplet_loss"})
_DIST = frozenset({"pairwise_distances"})
_HARD = frozenset({"hardest_triplets"})
_STEP = frozenset({"triplet_train_step"})
_VERIFY = frozenset({"verify"})
_WHO = frozenset({"who_is_it"})
_FAR = frozenset({"threshold_for_far"})

BUGS: list[Bug] = [
    # ------------------------------------------------------------------ triplet_loss (the four)
    Bug("loss_max_outside_sum", "triplet_loss",
        _replace("triplet_loss", "    losses = np.maximum(pos_dist - neg_dist + alpha, 0.0)\n    return float(np.sum(losses))",
                 "    return float(np.maximum(np.sum(pos_dist - neg_dist + alpha), 0.0))"),
        _LOSS, "the max after summing over the batch"),
    Bug("loss_not_squared", "triplet_loss",
        _replace("triplet_loss", "    losses =", "    pos_dist, neg_dist = np.sqrt(pos_dist), np.sqrt(neg_dist)\n    losses ="),
        _LOSS, "distances are not squared"),
    Bug("loss_sum_no_axis", "triplet_loss",
        _replace("triplet_loss", "np.sum((anchor - positive) ** 2, axis=-1)", "np.sum((anchor - positive) ** 2)")
        .replace("np.sum((anchor - negative) ** 2, axis=-1)", "np.sum((anchor - negative) ** 2)"),
        _LOSS, "without axis=-1"),
    Bug("loss_mean", "triplet_loss",
        _replace("triplet_loss", "return float(np.sum(losses))", "return float(np.mean(losses))"),
        _LOSS, "the mean over the triplets"),
    Bug("loss_no_alpha", "triplet_loss",
        _replace("triplet_loss", "pos_dist - neg_dist + alpha", "pos_dist - neg_dist"),
        _LOSS, "leaves out the margin"),
    Bug("loss_calls_library", "triplet_loss",
        "from cnn_course.ref import face\n\ndef triplet_loss(anchor, positive, negative, alpha=0.2):\n"
        "    return face.triplet_loss(anchor, positive, negative, alpha)\n", _LOSS, "cnn_course.ref"),
    # ------------------------------------------------------------------ pairwise_distances
    Bug("dist_sqrt", "pairwise_distances",
        _replace("pairwise_distances", "return np.sum(diff ** 2, axis=-1)", "return np.sqrt(np.sum(diff ** 2, axis=-1))"),
        _DIST, "have a square root"),
    Bug("dist_transposed", "pairwise_distances",
        _replace("pairwise_distances", "return np.sum(diff ** 2, axis=-1)", "return np.sum(diff ** 2, axis=-1).T"),
        _DIST, "transposed"),
    Bug("dist_no_square", "pairwise_distances",
        _replace("pairwise_distances", "return np.sum(diff ** 2, axis=-1)", "return np.sum(diff, axis=-1)"),
        _DIST, "without squaring them"),
    Bug("dist_cross_term_only", "pairwise_distances",
        _replace("pairwise_distances", "return np.sum(diff ** 2, axis=-1)", "return -2 * x @ y.T"),
        _DIST, "only the cross term"),
    Bug("dist_calls_library", "pairwise_distances",
        "from cnn_course import ref\n\ndef pairwise_distances(x, y):\n    return ref.pairwise_distances(x, y)\n",
        _DIST, "cnn_course.ref"),
    # ------------------------------------------------------------------ hardest_triplets
    Bug("hard_nearest_positive", "hardest_triplets",
        _replace("hardest_triplets", "np.argmax(np.where(pos_mask, D, -np.inf), axis=1)",
                 "np.argmin(np.where(pos_mask, D, np.inf), axis=1)"),
        _HARD, "is the NEAREST one"),
    Bug("hard_farthest_negative", "hardest_triplets",
        _replace("hardest_triplets", "np.argmin(np.where(neg_mask, D, np.inf), axis=1)",
                 "np.argmax(np.where(neg_mask, D, -np.inf), axis=1)"),
        _HARD, "is the FARTHEST one"),
    Bug("hard_self_positive", "hardest_triplets",
        _replace("hardest_triplets", "pos_mask = same & ~np.eye(len(labels), dtype=bool)", "pos_mask = same"),
        _HARD, "its own positive"),
    Bug("hard_no_skip", "hardest_triplets",
        _replace("hardest_triplets", "np.flatnonzero(pos_mask.any(axis=1) & neg_mask.any(axis=1))",
                 "np.flatnonzero(neg_mask.any(axis=1))"),
        _HARD, "skip an anchor"),
    Bug("hard_calls_library", "hardest_triplets",
        "from cnn_course.ref import face\n\ndef hardest_triplets(embeddings, labels):\n"
        "    return face.hardest_triplets(embeddings, labels)\n", _HARD, "cnn_course.ref"),
    # ------------------------------------------------------------------ triplet_train_step
    Bug("step_no_zero_grad", "triplet_train_step",
        _replace("triplet_train_step", "    optimizer.zero_grad()\n", ""), _STEP, "optimizer.zero_grad()"),
    Bug("step_sum", "triplet_train_step",
        _replace("triplet_train_step", "alpha).mean()", "alpha).sum()"), _STEP, "the sum over the anchors"),
    Bug("step_returns_tensor", "triplet_train_step",
        _replace("triplet_train_step", "return loss.item()", "return loss"), _STEP, "must be 'float'"),
    Bug("step_uses_library", "triplet_train_step",
        "import torch\nfrom cnn_course.pt import face\n\ndef triplet_train_step(model, optimizer, x, labels, alpha=0.2):\n"
        "    emb = model(x)\n    a, p, n = face.hardest_triplets(emb, labels)\n"
        "    loss = face.triplet_loss(emb[a], emb[p], emb[n], alpha) / len(a)\n"
        "    optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()\n    return loss.item()\n",
        _STEP, "cnn_course.pt"),
    Bug("step_nearest_positive", "triplet_train_step",
        _replace("triplet_train_step", "torch.where(pos_mask, D, -torch.inf).argmax(dim=1)",
                 "torch.where(pos_mask, D, torch.inf).argmin(dim=1)"), _STEP, "positive is the nearest one"),
    Bug("step_not_squared", "triplet_train_step",
        _replace("triplet_train_step", "    loss = torch.relu(", "    pos_dist, neg_dist = pos_dist.sqrt(), neg_dist.sqrt()\n    loss = torch.relu("),
        _STEP, "not squared"),
    # ------------------------------------------------------------------ verify
    Bug("verify_reversed", "verify",
        _replace("verify", "accepted = distance <= threshold", "accepted = distance >= threshold"),
        _VERIFY, "your decision is reversed"),
    Bug("verify_strict", "verify",
        _replace("verify", "accepted = distance <= threshold", "accepted = distance < threshold"),
        _VERIFY, "exactly equal to the threshold"),
    Bug("verify_squared", "verify",
        _replace("verify", "float(np.sqrt(np.sum((embedding - database[identity]) ** 2)))",
                 "float(np.sum((embedding - database[identity]) ** 2))"),
        _VERIFY, "your distance is squared"),
    Bug("verify_calls_library", "verify",
        "from cnn_course.ref import face\n\ndef verify(embedding, identity, database, threshold):\n"
        "    return face.verify(embedding, identity, database, threshold)\n", _VERIFY, "cnn_course.ref"),
    # ------------------------------------------------------------------ who_is_it
    Bug("who_first_under_threshold", "who_is_it",
        _replace("who_is_it", "        if distance < min_distance:\n            min_distance, identity = distance, name\n",
                 "        if distance <= threshold:\n            return distance, name\n"
                 "        if distance < min_distance:\n            min_distance, identity = distance, name\n"),
        _WHO, "the FIRST identity under the threshold"),
    Bug("who_no_none", "who_is_it",
        _replace("who_is_it", "    if min_distance > threshold:\n        identity = None\n", ""),
        _WHO, "must be None"),
    Bug("who_squared", "who_is_it",
        _replace("who_is_it", "float(np.sqrt(np.sum((embedding - encoding) ** 2)))",
                 "float(np.sum((embedding - encoding) ** 2))"), _WHO, "your distance is squared"),
    Bug("who_reversed", "who_is_it",
        _replace("who_is_it", "if min_distance > threshold:", "if min_distance <= threshold:"), _WHO,
        "comparison with the threshold is reversed"),
    Bug("who_calls_library", "who_is_it",
        "from cnn_course.ref import face\n\ndef who_is_it(embedding, database, threshold):\n"
        "    return face.who_is_it(embedding, database, threshold)\n", _WHO, "cnn_course.ref"),
    # ------------------------------------------------------------------ threshold_for_far
    Bug("far_all_pairs", "threshold_for_far",
        _replace("threshold_for_far", "/ len(impostors)", "/ len(distances)"), _FAR, "divides by ALL pairs"),
    Bug("far_strict", "threshold_for_far",
        _replace("threshold_for_far", "np.sum(impostors <= tau)", "np.sum(impostors < tau)"), _FAR, "d < τ"),
    Bug("far_counts_genuine", "threshold_for_far",
        _replace("threshold_for_far", "impostors = distances[~same]", "impostors = distances[same]"), _FAR,
        "counts the SAME-person pairs"),
    Bug("far_calls_library", "threshold_for_far",
        "from cnn_course.ref import face\n\ndef threshold_for_far(distances, same, target_far):\n"
        "    return face.threshold_for_far(distances, same, target_far)\n", _FAR, "cnn_course.ref"),
]

# Graded end to end through nbgrader by default (the checks themselves are tested bug by bug
# in test_grading_face_recognition.py): the "grading with teeth" list first.
PIPELINE_BUGS: list[str] = [
    "loss_max_outside_sum",
    "loss_not_squared",
    "loss_sum_no_axis",
    "loss_mean",
    "verify_reversed",
    "who_first_under_threshold",
    "hard_nearest_positive",
    "step_no_zero_grad",
    "loss_calls_library",
]

# name -> ({answer cell grade_id: source}, the test cells that must score 0); the rest keeps full marks.
MISBEHAVING: dict[str, tuple[dict[str, str], set[str]]] = {
    # Kills the kernel while the answer cell runs: threshold_for_far is never defined.
    "face_kernel_crash": (
        {"threshold_for_far": "import os\nos._exit(1)\n\ndef threshold_for_far(distances, same, target_far):\n"
                              "    pass"},
        {"test_threshold_for_far"},
    ),
}

# The bug whose feedback page the pipeline inspects.
FEEDBACK_BUG = "who_first_under_threshold"

# A second, self-consistent correct set.
ALTERNATIVE: dict[str, str] = {
    "triplet_loss": '''\
import numpy as np

def triplet_loss(anchor, positive, negative, alpha=0.2):
    total = 0.0
    for a, p, n in zip(anchor, positive, negative):
        total += max(np.dot(a - p, a - p) - np.dot(a - n, a - n) + alpha, 0.0)
    return float(total)
''',
    "pairwise_distances": '''\
import numpy as np

def pairwise_distances(x, y):
    xx = np.sum(x.astype(np.float64) ** 2, axis=1)[:, None]
    yy = np.sum(y.astype(np.float64) ** 2, axis=1)[None, :]
    return np.maximum(xx + yy - 2 * x.astype(np.float64) @ y.astype(np.float64).T, 0)
''',
    "hardest_triplets": '''\
import numpy as np

def hardest_triplets(embeddings, labels):
    a, p, n = [], [], []
    for i in range(len(labels)):
        d = np.sum((embeddings - embeddings[i]) ** 2, axis=1)
        pos = [j for j in range(len(labels)) if labels[j] == labels[i] and j != i]
        neg = [k for k in range(len(labels)) if labels[k] != labels[i]]
        if pos and neg:
            a.append(i)
            p.append(max(pos, key=lambda j: d[j]))
            n.append(min(neg, key=lambda k: d[k]))
    return np.array(a, dtype=int), np.array(p, dtype=int), np.array(n, dtype=int)
''',
    "triplet_train_step": CORRECT["triplet_train_step"],
    "verify": '''\
import numpy as np

def verify(embedding, identity, database, threshold):
    distance = np.linalg.norm(embedding - database[identity])
    return float(distance), bool(distance <= threshold)
''',
    "who_is_it": '''\
import numpy as np

def who_is_it(embedding, database, threshold):
    names = list(database)
    dists = [np.linalg.norm(embedding - database[k]) for k in names]
    k = int(np.argmin(dists))
    return float(dists[k]), (names[k] if dists[k] <= threshold else None)
''',
    "threshold_for_far": '''\
import numpy as np

def threshold_for_far(distances, same, target_far):
    candidates = np.sort(np.unique(distances))[::-1]
    n_diff = np.count_nonzero(~same)
    for tau in candidates:
        if np.count_nonzero((distances <= tau) & ~same) / n_diff <= target_far:
            return float(tau)
    return -np.inf
''',
}
