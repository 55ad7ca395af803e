"""cnn_course.pt.style against its NumPy twin cnn_course.ref.style; autograd against the NumPy gradients."""

import numpy as np
import pytest
import torch

from cnn_course import pt
from cnn_course.pt import style as tstyle
from cnn_course.ref import style

pytestmark = pytest.mark.usefixtures("one_torch_thread")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", range(3))
def test_costs_and_gradients_match_numpy(seed, device):
    g = np.random.default_rng(seed)
    shapes = [(3, 5, 4), (6, 2, 3)]
    S = [g.normal(size=s) for s in shapes]
    Gs = [g.normal(size=s) for s in shapes]
    C = g.normal(size=shapes[0])
    weights = [0.7, 0.3]
    tS = [torch.tensor(a, device=device) for a in S]
    tC = torch.tensor(C, device=device)
    tG = [torch.tensor(a, device=device, requires_grad=True) for a in Gs]

    A = tstyle.unroll(tG[0])
    assert A.shape == (3, 20)
    np.testing.assert_allclose(tstyle.gram_matrix(A).detach().cpu().numpy(),
                               style.gram_matrix(style.unroll(Gs[0])), rtol=1e-12)

    Jc = tstyle.content_cost(tC, tG[0])
    assert Jc.ndim == 0 and Jc.item() == pytest.approx(style.content_cost(C, Gs[0]), rel=1e-12)
    (grad,) = torch.autograd.grad(Jc, tG[0], retain_graph=True)
    np.testing.assert_allclose(grad.cpu().numpy(), style.content_cost_backward(C, Gs[0]), rtol=1e-10, atol=1e-14)

    Jl = tstyle.layer_style_cost(tS[1], tG[1])
    assert Jl.item() == pytest.approx(style.layer_style_cost(S[1], Gs[1]), rel=1e-12)
    (grad,) = torch.autograd.grad(Jl, tG[1])
    np.testing.assert_allclose(grad.cpu().numpy(), style.layer_style_cost_backward(S[1], Gs[1]), rtol=1e-10, atol=1e-14)

    Js = tstyle.style_cost(tS, tG, weights)
    assert Js.item() == pytest.approx(style.style_cost(S, Gs, weights), rel=1e-12)
    grads = torch.autograd.grad(Js, tG, retain_graph=True)
    for ours, theirs in zip(grads, style.style_cost_backward(S, Gs, weights)):
        np.testing.assert_allclose(ours.cpu().numpy(), theirs, rtol=1e-10, atol=1e-14)

    J = tstyle.total_cost(Jc, Js)
    assert J.item() == pytest.approx(style.total_cost(Jc.item(), Js.item()), rel=1e-12)
    J.backward()
    assert all(t.grad is not None for t in tG)


def test_batch_of_one_and_float32():
    g = torch.Generator().manual_seed(0)
    a_S = torch.randn(1, 4, 3, 3, generator=g)
    a_G = torch.randn(1, 4, 3, 3, generator=g, requires_grad=True)
    J = tstyle.layer_style_cost(a_S, a_G)
    assert J.dtype == torch.float32
    assert J.item() == pytest.approx(style.layer_style_cost(a_S.numpy(), a_G.detach().numpy()), rel=1e-5)
    J.backward()
    assert a_G.grad.shape == (1, 4, 3, 3)
    assert tstyle.content_cost(a_S, a_G).item() == pytest.approx(
        style.content_cost(a_S.numpy(), a_G.detach().numpy()), rel=1e-6)


def test_one_optimisation_step_lowers_the_cost():
    """Adam on the pixels of G: the generated activations move towards content and style."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    for p in conv.parameters():
        p.requires_grad_(False)
    content, style_img = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    a_C, a_S = conv(content), conv(style_img)
    G = (content + 0.1 * torch.randn_like(content)).clamp(0, 1).requires_grad_()
    opt = torch.optim.Adam([G], lr=0.02)
    costs = []
    for _ in range(20):
        opt.zero_grad()
        a_G = conv(G)
        J = tstyle.total_cost(tstyle.content_cost(a_C, a_G), tstyle.style_cost([a_S], [a_G], [1.0]))
        J.backward()
        opt.step()
        with torch.no_grad():
            G.clamp_(0, 1)
        costs.append(J.item())
    assert costs[-1] < costs[0]


def test_bad_input_and_exports():
    with pytest.raises(ValueError, match="batch of 2"):
        tstyle.content_cost(torch.zeros(2, 1, 2, 2), torch.zeros(2, 1, 2, 2))
    with pytest.raises(ValueError, match="same layer"):
        tstyle.layer_style_cost(torch.zeros(1, 2, 2), torch.zeros(2, 2, 2))
    with pytest.raises(TypeError, match="tensor"):
        tstyle.content_cost(np.zeros((1, 2, 2)), torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="unroll"):
        tstyle.gram_matrix(torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="0-d"):
        tstyle.total_cost(torch.zeros(3), torch.zeros(()))
    with pytest.raises(ValueError, match="one entry per layer"):
        tstyle.style_cost([torch.zeros(1, 2, 2)], [torch.zeros(1, 2, 2)], [1.0, 2.0])
    assert tstyle.total_cost(1.0, 2.0) == 90
    from cnn_course import ref

    for name in ("gram_matrix", "content_cost", "layer_style_cost", "style_cost", "total_cost", "unroll"):
        assert getattr(pt, name) is getattr(tstyle, name)
        assert getattr(ref, name) is getattr(style, name)
    for name in ("content_cost_backward", "layer_style_cost_backward", "style_cost_backward", "gram_matrix_backward"):
        assert getattr(ref, name) is getattr(style, name)
