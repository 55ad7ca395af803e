"""cnn_course.ref.style against loops, hand cases with the usual bugs, numerical gradients and bad input."""

import numpy as np
import pytest

from cnn_course.ref import style
from cnn_course.ref.gradcheck import eval_numerical_gradient, rel_error

# ---------------------------------------------------------------------- loops


def gram_loop(a):
    """G[k, k'] = Σ_h Σ_w a[k, h, w] a[k', h, w] for activations (n_C, n_H, n_W)."""
    n_C, n_H, n_W = a.shape
    G = np.zeros((n_C, n_C))
    for k in range(n_C):
        for kk in range(n_C):
            G[k, kk] = sum(a[k, h, w] * a[kk, h, w] for h in range(n_H) for w in range(n_W))
    return G


def style_loop(a_S, a_G):
    n_C, n_H, n_W = a_S.shape
    d = gram_loop(a_S) - gram_loop(a_G)
    return float(np.sum(d * d)) / (4 * n_C**2 * (n_H * n_W) ** 2)


def content_loop(a_C, a_G):
    n_C, n_H, n_W = a_C.shape
    total = sum((a_C[k, h, w] - a_G[k, h, w]) ** 2 for k in range(n_C) for h in range(n_H) for w in range(n_W))
    return total / (4 * n_H * n_W * n_C)


def acts(g, shape=(3, 4, 5), dtype=np.float64):
    return g.normal(size=shape).astype(dtype)


# ---------------------------------------------------------------------- unrolling and Gram


def test_unroll_keeps_channels_in_rows():
    n_C, n_H, n_W = 3, 2, 4
    a = np.zeros((n_C, n_H, n_W))
    for k in range(n_C):
        a[k] = 100 * k + np.arange(n_H * n_W).reshape(n_H, n_W)  # channel k: 100k + position
    A = style.unroll(a)
    assert A.shape == (n_C, n_H * n_W), "channels × positions"
    for k in range(n_C):
        np.testing.assert_array_equal(A[k], 100 * k + np.arange(n_H * n_W), err_msg=f"row {k} must be channel {k}")
    # the classic bug: reshaping channels-last data without moving the channel axis first
    mixed = a.transpose(1, 2, 0).reshape(n_C, n_H * n_W)
    assert not np.array_equal(mixed, A)
    np.testing.assert_array_equal(style.unroll(a[None]), A)  # a batch of one


@pytest.mark.parametrize("shape", [(3, 4, 5), (1, 1, 1), (6, 2, 3), (2, 7, 1)])
def test_gram_matrix_matches_loop(shape):
    a = acts(np.random.default_rng(0), shape)
    G = style.gram_matrix(style.unroll(a))
    assert G.shape == (shape[0], shape[0]), "(n_C, n_C): A·Aᵀ, not Aᵀ·A"
    np.testing.assert_allclose(G, gram_loop(a), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(G, G.T)


def test_gram_matrix_hand_case():
    A = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]])
    np.testing.assert_array_equal(style.gram_matrix(A), [[5, 2], [2, 10]])
    assert style.gram_matrix(A.astype(np.float32)).dtype == np.float32


def test_gram_matrix_backward_numerical():
    g = np.random.default_rng(1)
    A, dG = g.normal(size=(3, 5)), g.normal(size=(3, 3))
    num = eval_numerical_gradient(lambda x: np.sum(style.gram_matrix(x) * dG), A.copy())
    assert rel_error(style.gram_matrix_backward(dG, A), num) < 1e-8


# ---------------------------------------------------------------------- content cost


def test_content_cost_hand_case_and_constants():
    a_C = np.zeros((2, 1, 2))  # n_C = 2, n_H = 1, n_W = 2
    a_G = np.ones((2, 1, 2))
    J = style.content_cost(a_C, a_G)
    assert isinstance(J, float)
    assert J == pytest.approx(4 / (4 * 1 * 2 * 2)), "Σ(a_C − a_G)² / (4 n_H n_W n_C) = 4 / 16"
    # wrong constants a student might use: 1 (no normalisation), 1/(n_H n_W n_C), 1/(2 ...)
    for wrong in (4.0, 1.0, 0.5):
        assert abs(J - wrong) > 0.1


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(3, 4, 5), (1, 2, 2), (5, 1, 3)])
def test_content_cost_matches_loop_and_gradient(seed, shape):
    g = np.random.default_rng(seed)
    a_C, a_G = acts(g, shape), acts(g, shape)
    assert style.content_cost(a_C, a_G) == pytest.approx(content_loop(a_C, a_G), rel=1e-12)
    num = eval_numerical_gradient(lambda x: style.content_cost(a_C, x), a_G.copy())
    grad = style.content_cost_backward(a_C, a_G)
    assert grad.shape == a_G.shape and rel_error(grad, num) < 1e-7
    # a batch of one: the same cost, the gradient keeps the batch axis
    assert style.content_cost(a_C[None], a_G[None]) == style.content_cost(a_C, a_G)
    assert style.content_cost_backward(a_C[None], a_G[None]).shape == (1, *shape)


# ---------------------------------------------------------------------- style cost


def test_layer_style_cost_hand_case():
    a_S = np.array([[[1.0, 2.0, 0.0]], [[0.0, 1.0, 3.0]]])  # (2, 1, 3): G_S = [[5, 2], [2, 10]]
    a_G = np.ones_like(a_S)  # G_G = [[3, 3], [3, 3]]
    J = style.layer_style_cost(a_S, a_G)
    expected = (4 + 1 + 1 + 49) / (4 * 2**2 * 3**2)  # Σ(G_S − G_G)² / (4 n_C² (n_H n_W)²) = 55 / 144
    assert J == pytest.approx(expected, rel=1e-14)
    S, G = a_S.reshape(2, 3), a_G.reshape(2, 3)
    wrong = {  # the usual mistakes, on the same numbers
        "no normalisation": 55.0,
        "(2 n_C n_H n_W) without the square": 55 / (2 * 2 * 3),
        "Gram of the wrong orientation (positions × positions)": np.sum((S.T @ S - G.T @ G) ** 2) / 144,  # 69/144
        "squared Gram difference not summed but averaged": 55 / 4 / 144,
    }
    for name, value in wrong.items():
        assert value != pytest.approx(J, rel=1e-3), name
    # Why the example needs a_G != 0: ‖AᵀA‖_F = ‖AAᵀ‖_F, so against an all-zero a_G the wrong
    # orientation gives exactly the right number.
    assert np.sum((S.T @ S) ** 2) == pytest.approx(np.sum((S @ S.T) ** 2))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(3, 4, 5), (4, 2, 2), (1, 3, 3)])
def test_layer_style_cost_matches_loop_and_gradient(seed, shape):
    g = np.random.default_rng(seed)
    a_S, a_G = acts(g, shape), acts(g, shape)
    assert style.layer_style_cost(a_S, a_G) == pytest.approx(style_loop(a_S, a_G), rel=1e-12)
    num = eval_numerical_gradient(lambda x: style.layer_style_cost(a_S, x), a_G.copy())
    grad = style.layer_style_cost_backward(a_S, a_G)
    assert grad.shape == shape and rel_error(grad, num) < 1e-7
    assert style.layer_style_cost_backward(a_S[None], a_G[None]).shape == (1, *shape)


def test_style_cost_is_invariant_to_moving_content_around():
    """Style compares channel correlations summed over positions: permuting the positions of the
    generated image (the same permutation in every channel) does not change it; content does."""
    g = np.random.default_rng(3)
    a_S, a_G = acts(g), acts(g)
    perm = g.permutation(4 * 5)
    shuffled = a_G.reshape(3, -1)[:, perm].reshape(a_G.shape)
    assert style.layer_style_cost(a_S, shuffled) == pytest.approx(style.layer_style_cost(a_S, a_G), rel=1e-12)
    assert style.content_cost(a_S, shuffled) != pytest.approx(style.content_cost(a_S, a_G))
    # whereas mixing channels and positions changes it
    mixed = a_G.transpose(1, 2, 0).reshape(a_G.shape)
    assert style.layer_style_cost(a_S, mixed) != pytest.approx(style.layer_style_cost(a_S, a_G))


def test_style_cost_weighted_sum_and_gradient():
    g = np.random.default_rng(4)
    shapes = [(2, 6, 6), (4, 3, 3), (8, 2, 1)]
    S = [acts(g, s) for s in shapes]
    Gs = [acts(g, s) for s in shapes]
    weights = [0.5, 0.3, 0.2]
    J = style.style_cost(S, Gs, weights)
    assert J == pytest.approx(sum(w * style_loop(s, x) for s, x, w in zip(S, Gs, weights)), rel=1e-12)
    grads = style.style_cost_backward(S, Gs, weights)
    for layer in range(3):
        def f(x, layer=layer):
            gen = list(Gs)
            gen[layer] = x
            return style.style_cost(S, gen, weights)

        assert rel_error(grads[layer], eval_numerical_gradient(f, Gs[layer].copy())) < 1e-6, f"layer {layer}"
    assert style.style_cost(S, Gs, [1, 0, 0]) == pytest.approx(style.layer_style_cost(S[0], Gs[0]))


def test_total_cost():
    assert style.total_cost(2.0, 3.0) == 10 * 2 + 40 * 3, "α = 10 weighs content, β = 40 weighs style"
    assert style.total_cost(2.0, 3.0) != 40 * 2 + 10 * 3, "α and β swapped"
    assert style.total_cost(2.0, 3.0, alpha=1, beta=0.5) == 3.5
    assert style.total_cost(J_style=1.0, J_content=0.0) == 40


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: style.content_cost(np.zeros((2, 3, 3)), np.zeros((2, 3, 4))), "same layer"),
        (lambda: style.content_cost(np.zeros((2, 2, 3, 3)), np.zeros((2, 2, 3, 3))), "batch of 2"),
        (lambda: style.layer_style_cost(np.zeros((3, 3)), np.zeros((3, 3))), r"shape \(n_C, n_H, n_W\)"),
        (lambda: style.layer_style_cost(np.zeros((1, 3, 3), int), np.zeros((1, 3, 3), int)), "floating-point"),
        (lambda: style.gram_matrix(np.zeros((2, 3, 3))), "unroll"),
        (lambda: style.style_cost([np.zeros((1, 2, 2))], [np.zeros((1, 2, 2))], [0.5, 0.5]), "one entry per layer"),
        (lambda: style.style_cost([], [], []), "at least one layer"),
        (lambda: style.style_cost([np.zeros((1, 2, 2))], [np.zeros((1, 2, 2))], [float("nan")]), "finite"),
        (lambda: style.total_cost(1.0, 2.0, alpha=None), "alpha"),
        (lambda: style.total_cost(np.ones(3), 2.0), "J_content"),
        (lambda: style.content_cost([[[0.0]]], np.zeros((1, 1, 1))), "NumPy array"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
