"""cnn_course.pt.face against its NumPy twin cnn_course.ref.face, autograd against the NumPy gradient."""

import numpy as np
import pytest
import torch

from cnn_course import pt
from cnn_course.pt import face as tface
from cnn_course.ref import face
from test_ref_face import A, HAND_J, N, P, random_batch, random_pairs

pytestmark = pytest.mark.usefixtures("one_torch_thread")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _t(a, device="cpu", grad=False):
    return torch.tensor(a, device=device, requires_grad=grad)


def test_triplet_loss_hand_case():
    J = tface.triplet_loss(_t(A), _t(P), _t(N), alpha=0.2)
    assert J.ndim == 0 and J.item() == pytest.approx(HAND_J)
    assert tface.triplet_loss(_t(A), _t(P), _t(N)).item() == pytest.approx(HAND_J), "default alpha is 0.2"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", range(5))
def test_triplet_loss_and_autograd_match_numpy(seed, device):
    g = np.random.default_rng(seed)
    m, d = int(g.integers(1, 20)), int(g.integers(1, 9))
    a, p, n = (g.normal(size=(m, d)) for _ in range(3))
    alpha = float(g.uniform(0, 2))
    ta, tp, tn = (_t(x, device, grad=True) for x in (a, p, n))
    J = tface.triplet_loss(ta, tp, tn, alpha)
    assert J.item() == pytest.approx(face.triplet_loss(a, p, n, alpha), rel=1e-12, abs=1e-12)
    J.backward()
    for t, ref_grad in zip((ta, tp, tn), face.triplet_loss_backward(a, p, n, alpha)):
        np.testing.assert_allclose(t.grad.cpu().numpy(), ref_grad, rtol=1e-12, atol=1e-12)


def test_triplet_loss_bad_input():
    with pytest.raises(ValueError, match="positive must have the shape"):
        tface.triplet_loss(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 3))
    with pytest.raises(TypeError, match="tensor"):
        tface.triplet_loss(np.zeros((2, 3)), torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="margin"):
        tface.triplet_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3), alpha=-1)


@pytest.mark.parametrize("seed", range(3))
def test_pairwise_distances_match_numpy_and_cdist(seed):
    g = np.random.default_rng(seed)
    x, y = g.normal(size=(7, 5)), g.normal(size=(4, 5))
    for squared in (True, False):
        ours = tface.pairwise_distances(_t(x), _t(y), squared=squared)
        np.testing.assert_allclose(ours.numpy(), face.pairwise_distances(x, y, squared=squared), rtol=1e-12)
    np.testing.assert_allclose(tface.pairwise_distances(_t(x), _t(y), squared=False).numpy(),
                               torch.cdist(_t(x), _t(y)).numpy(), rtol=1e-10)


def test_pairwise_distances_gradient_finite_at_zero():
    x = torch.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    D = tface.pairwise_distances(x, x, squared=False)
    assert (torch.diagonal(D) == 0).all()
    D.sum().backward()
    assert torch.isfinite(x.grad).all(), "sqrt at 0 must not give NaN gradients"
    assert torch.autograd.gradcheck(lambda z: tface.pairwise_distances(z, z.flip(0) + 0.5, squared=False),
                                    (x.detach().clone().requires_grad_(),))


@pytest.mark.parametrize("seed", range(8))
def test_mining_matches_numpy(seed):
    g = np.random.default_rng(seed)
    x, y = random_batch(g, integer=seed % 2 == 0)
    tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y)
    for ours, theirs in [
        (tface.hardest_triplets(tx, ty), face.hardest_triplets(x, y)),
        (tface.semi_hard_triplets(tx, ty, 1.0), face.semi_hard_triplets(x, y, 1.0)),
    ]:
        for o, t in zip(ours, theirs):
            assert o.dtype == torch.int64 and not o.requires_grad
            assert o.tolist() == t.tolist()
    for labels in (torch.zeros(4, dtype=torch.int64), torch.arange(4)):
        for result in (tface.hardest_triplets(torch.zeros(4, 2), labels),
                       tface.semi_hard_triplets(torch.zeros(4, 2), labels, 1.0)):
            assert [r.tolist() for r in result] == [[], [], []]
    for result in (tface.hardest_triplets(torch.zeros(0, 2), torch.zeros(0, dtype=torch.int64)),
                   tface.semi_hard_triplets(torch.zeros(0, 2), torch.zeros(0, dtype=torch.int64))):
        assert [r.tolist() for r in result] == [[], [], []]


def test_mining_bad_labels():
    with pytest.raises(TypeError, match="integer identities"):
        tface.hardest_triplets(torch.zeros(3, 2), torch.zeros(3))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        tface.semi_hard_triplets(torch.zeros(3, 2), torch.zeros(2, dtype=torch.int64))


def test_verify_and_who_is_it_match_numpy():
    g = np.random.default_rng(0)
    db = {f"p{k}": g.normal(size=6) for k in range(12)}
    tdb = {k: torch.tensor(v, dtype=torch.float32) for k, v in db.items()}
    for _ in range(20):
        e = g.normal(size=6)
        tau = float(g.uniform(1, 4))
        d_ref, who_ref = face.who_is_it(e, db, tau)
        d, who = tface.who_is_it(torch.tensor(e, dtype=torch.float32)[None], tdb, tau)
        assert d == pytest.approx(d_ref, rel=1e-6) and who == who_ref
        d, ok = tface.verify(torch.tensor(e, dtype=torch.float32), "p3", tdb, tau)
        assert isinstance(ok, bool)
        assert (d, ok) == (pytest.approx(face.verify(e, "p3", db, tau)[0], rel=1e-6), face.verify(e, "p3", db, tau)[1])
    small = {"ada": torch.zeros(2), "cy": torch.tensor([0.0, 1.0])}
    assert tface.who_is_it(torch.tensor([0.0, 0.8]), small, 1.0)[1] == "cy", "nearest, not first under τ"
    assert tface.who_is_it(torch.tensor([0.0, 0.5]), small, 1.0)[1] == "ada", "ties: first in the database"
    assert tface.verify(torch.tensor([3.0, 4.0]), "ada", small, 5.0) == (5.0, True), "d == τ is accepted"
    with pytest.raises(KeyError):
        tface.verify(torch.zeros(2), "eve", small, 1.0)


@pytest.mark.parametrize("seed", range(4))
def test_roc_and_threshold_match_numpy(seed):
    g = np.random.default_rng(seed)
    d, same = random_pairs(g, integer=seed % 2 == 0)
    ours = tface.roc_curve(torch.tensor(d), torch.tensor(same))
    for o, t in zip(ours, face.roc_curve(d, same)):
        assert o.dtype == torch.float64
        np.testing.assert_array_equal(o.numpy(), t)
    for target in (0.0, 0.1, 0.5, 1.0):
        assert tface.threshold_for_far(torch.tensor(d), torch.tensor(same), target) == \
            face.threshold_for_far(d, same, target)
    x, y = random_batch(g)
    for squared in (False, True):
        for o, t in zip(tface.pair_distances(torch.tensor(x), torch.tensor(y), squared),
                        face.pair_distances(x, y, squared)):
            np.testing.assert_allclose(o.numpy(), t, rtol=1e-12)
    with pytest.raises(ValueError, match="both same-person"):
        tface.roc_curve(torch.tensor([0.1, 0.2]), torch.tensor([False, False]))


def test_siamese_head_matches_numpy_and_trains():
    torch.manual_seed(0)
    head = pt.SiameseHead(4).double()
    g = np.random.default_rng(0)
    fi, fj = g.normal(size=(6, 4)), g.normal(size=(6, 4))
    out = head(torch.tensor(fi), torch.tensor(fj))
    assert out.shape == (6,)
    w, b = head.linear.weight.detach().numpy()[0], float(head.linear.bias.detach())
    np.testing.assert_allclose(out.detach().numpy(), face.siamese_head(fi, fj, w, b), rtol=1e-12)
    torch.testing.assert_close(torch.sigmoid(head.logits(torch.tensor(fi), torch.tensor(fj))), out)
    # same pairs are close, different pairs far: a few steps of logistic regression separate them
    x = torch.randn(64, 4, dtype=torch.float64)
    same = torch.arange(64) % 2 == 0
    other = torch.where(same[:, None], x + 0.1 * torch.randn_like(x), torch.randn_like(x) * 2)
    opt = torch.optim.SGD(head.parameters(), lr=0.5)
    for _ in range(200):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head.logits(x, other), same.double())
        loss.backward()
        opt.step()
    assert ((head(x, other) > 0.5) == same).float().mean() > 0.95
    assert head.linear.weight.detach().max() < 0, "a larger |f_i − f_j| means less likely the same person"
    with pytest.raises(ValueError, match="built for d = 4"):
        head(torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="positive integer"):
        pt.SiameseHead(0)


def test_exported_names():
    from cnn_course import ref

    for name in ("triplet_loss", "pair_distances", "pairwise_distances", "hardest_triplets", "semi_hard_triplets",
                 "verify", "who_is_it", "roc_curve", "threshold_for_far"):
        assert getattr(pt, name) is getattr(tface, name)
        assert getattr(ref, name) is getattr(face, name)
    assert ref.triplet_loss_backward is face.triplet_loss_backward and ref.siamese_head is face.siamese_head
    assert pt.SiameseHead is tface.SiameseHead
