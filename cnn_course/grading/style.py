"""Checks for the topic-12 notebook (neural style transfer): the Gram matrix and the costs.

The graded functions (NumPy; activations of ONE image at one layer, channels first):

* ``gram_matrix(A) -> G``: A (n_C, n_H·n_W) unrolled activations, G = A·Aᵀ (n_C, n_C).
* ``content_cost(a_C, a_G) -> float``: Σ(a_C − a_G)² / (4 n_H n_W n_C), a_C, a_G (n_C, n_H, n_W).
* ``layer_style_cost(a_S, a_G) -> float``: Σ(G_S − G_G)² / (4 n_C² (n_H n_W)²), with the
  student's own unrolling to (n_C, n_H·n_W) and their ``gram_matrix``.
* ``style_cost(style_acts, gen_acts, weights) -> float``: Σ_l λ_l J_style^[l].
* ``total_cost(J_content, J_style, alpha=10, beta=40) -> float``: α J_content + β J_style.

Expected values are computed here with plain NumPy (never with the library). The known mistakes
used for diagnoses: the Gram matrix of the wrong orientation (AᵀA, (n_H·n_W)²), unrolling that
mixes channels and positions (``a.reshape(n_H·n_W, n_C).T``), missing or partial normalisation
constants (the seeds' ½, no 4, the positions not squared, no constant at all), a norm instead of
its square, the mean over layers, λ ignored, only the last layer, α and β swapped, wrong
defaults. Hidden cases always have a_G ≠ 0 and n_C ≠ n_H·n_W: ‖A_SᵀA_S‖_F = ‖A_S A_Sᵀ‖_F, so a
test with a_G = 0 could not tell the two orientations apart. The PyTorch exercise (one
optimisation step) is checked in :mod:`.style_torch`.
"""

from __future__ import annotations

import numpy as np

from .core import Case, Out, Variant, float_dtypes, run_check

__all__ = ["gram_matrix", "content_cost", "layer_style_cost", "style_cost", "total_cost", "guard_memory",
           "gram_reference", "layer_style_reference", "content_reference"]

_HIDDEN = 8

# --------------------------------------------------------------------------- messages

GRAM_RECIPE = ("G[k, k'] = Σ_p A[k, p] · A[k', p]: row k of A is channel k at every position, so G = A · Aᵀ, "
               "of shape (n_C, n_C).")
GRAM_TRANSPOSED = ("your G is Aᵀ·A, the correlation between POSITIONS (shape (n_H·n_W, n_H·n_W)); the style matrix "
                   "correlates CHANNELS: G = A · Aᵀ, shape (n_C, n_C) (A is (n_C, n_H·n_W)).")
GRAM_ELEMENTWISE = ("your G is an element-wise product (A * A or A ** 2): the Gram matrix is a matrix product, "
                    "G = A @ A.T, each entry a sum over the n_H·n_W positions.")
CONTENT_RECIPE = "J_content = Σ (a_C − a_G)² / (4 · n_H · n_W · n_C): the sum of squared differences, then one division."
NO_NORM = ("your cost is the plain sum of squared differences: divide it by the normalisation constant "
           "(4 · n_H · n_W · n_C for the content cost, 4 · n_C² · (n_H · n_W)² for the style cost).")
HALF = ("your cost uses ½ · Σ(...)², another common convention: this notebook's cost divides by "
        "4 · n_H · n_W · n_C, which makes it independent of the layer's size.")
NO_FOUR = "your constant lacks the factor 4: divide by 4 · n_H · n_W · n_C."
MEAN = ("your cost is the mean of the squared differences (divided by n_H · n_W · n_C only): the constant is "
        "4 · n_H · n_W · n_C.")
NOT_SQUARED = ("your cost looks like a norm, not its square: J_content is the SUM of squared differences (no square "
               "root), divided by 4 · n_H · n_W · n_C.")
STYLE_RECIPE = ("unroll a_S and a_G to (n_C, n_H·n_W) (one row per channel), take their Gram matrices G_S, G_G "
                "(n_C, n_C) with your gram_matrix, then J = Σ (G_S − G_G)² / (4 · n_C² · (n_H·n_W)²).")
STYLE_TRANSPOSED = GRAM_TRANSPOSED + (" With Aᵀ·A the cost compares positions, not channels: fix the orientation "
                                      "(your gram_matrix, or the unrolled shape you hand it).")
MIXED_UNROLL = ("your unrolling mixes channels and positions: a.reshape(n_H * n_W, n_C).T (or .T.reshape) gives "
                "the right shape but each row holds pieces of several channels. a has shape (n_C, n_H, n_W), "
                "channels first, so a.reshape(n_C, n_H * n_W) keeps channel k in row k.")
STYLE_SEED_CONSTANT = ("your constant is 2 · n_H · n_W · n_C without the square: the style cost divides by "
                       "(2 · n_H · n_W · n_C)² = 4 · n_C² · (n_H · n_W)² — a Gram entry is a sum of n_H·n_W products, "
                       "so the squared difference grows with (n_H·n_W)².")
STYLE_POSITIONS_NOT_SQUARED = "your constant is 4 · n_C² · n_H · n_W: the positions' count must be squared too, (n_H · n_W)²."
STYLE_NO_FOUR = "your constant lacks the factor 4: divide by 4 · n_C² · (n_H · n_W)²."
STYLE_COST_RECIPE = ("J_style = Σ_l λ_l · J_style^[l]: for each layer l, your layer_style_cost(style_acts[l], "
                     "gen_acts[l]) times weights[l], all added up.")
STYLE_UNWEIGHTED = "your cost ignores the weights: multiply each layer's cost by its λ_l = weights[l] before adding."
STYLE_MEAN = "your cost is the average over the layers: it is the weighted SUM Σ_l λ_l J_style^[l] (no division)."
STYLE_LAST = ("your cost is only the last layer's: the total is overwritten in the loop instead of accumulated "
              "(J += ..., not J = ...).")
STYLE_FIRST = "your cost is only the first layer's: add up the weighted costs of every layer."
TOTAL_RECIPE = "J = alpha · J_content + beta · J_style: α weighs the content cost, β the style cost."
SWAPPED = ("α and β are swapped: alpha multiplies J_content and beta multiplies J_style "
           "(J = alpha * J_content + beta * J_style).")
DEFAULTS = "called without alpha and beta, your function must use the defaults alpha=10, beta=40."


# --------------------------------------------------------------------------- references


def gram_reference(A, transposed=False):
    A = np.asarray(A, dtype=np.float64)
    return A.T @ A if transposed else A @ A.T


def content_reference(a_C, a_G, const="right"):
    """J_content in float64 with one known mistake: const "none", "half", "no_four", "mean", "sqrt"."""
    d = np.asarray(a_C, np.float64) - np.asarray(a_G, np.float64)
    n = d.size
    s = float(np.sum(d ** 2))
    return {"right": s / (4 * n), "none": s, "half": s / 2, "no_four": s / n, "mean": s / n,
            "sqrt": float(np.sqrt(s)) / (4 * n)}[const]


def layer_style_reference(a_S, a_G, unroll="right", transposed=False, const="right"):
    """J_style^[l] in float64 with one known mistake: unroll "mixed"; transposed (AᵀA);
    const "none", "seed" (2 n_H n_W n_C, not squared), "positions" (4 n_C² n_H n_W), "no_four"."""
    S, G = np.asarray(a_S, np.float64), np.asarray(a_G, np.float64)
    n_C, n_H, n_W = G.shape
    P = n_H * n_W
    if unroll == "mixed":
        A_S, A_G = S.reshape(P, n_C).T, G.reshape(P, n_C).T
    else:
        A_S, A_G = S.reshape(n_C, P), G.reshape(n_C, P)
    s = float(np.sum((gram_reference(A_S, transposed) - gram_reference(A_G, transposed)) ** 2))
    return s / {"right": 4.0 * n_C**2 * P**2, "none": 1.0, "seed": 2.0 * P * n_C,
                "positions": 4.0 * n_C**2 * P, "no_four": float(n_C**2 * P**2)}[const]


# --------------------------------------------------------------------------- gram_matrix


def _gram_case(A, note=""):
    n_C, P = A.shape

    def variants():
        found = [Variant(GRAM_ELEMENTWISE, {"G": (A.astype(np.float64) ** 2)})] if n_C == P else []
        if n_C == P:
            found.append(Variant(GRAM_TRANSPOSED, {"G": gram_reference(A, transposed=True)}))
        return found

    return Case(
        args=[("A", A)], dtype=A.dtype, note=note, hint=GRAM_RECIPE, variants=variants,
        describe=f"A.shape={A.shape} ({A.dtype})",
        outputs=[Out("G", gram_reference(A).astype(A.dtype), shape_hint=(
            f"G has shape (n_C, n_C) = {(n_C, n_C)}. " + (GRAM_TRANSPOSED if n_C != P else GRAM_RECIPE)))],
    )


def gram_matrix(func, hidden=False, seed=0):
    """Check ``gram_matrix(A) -> A·Aᵀ``."""
    __tracebackhide__ = True
    if not hidden:
        A = np.array([[1.0, 2.0, 0.0, -1.0], [0.0, 1.0, 3.0, 1.0]])
        rng = np.random.default_rng(12)
        cases = [_gram_case(A, "the worked example: 2 channels, 4 positions"),
                 _gram_case(rng.standard_normal((3, 6)).astype(np.float32), "float32")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k, dt in enumerate(float_dtypes(rng, _HIDDEN)):
            n_C = int(rng.integers(2, 7))
            P = n_C if k % 4 == 3 else int(rng.integers(n_C + 1, 3 * n_C + 4))
            cases.append(_gram_case(rng.standard_normal((n_C, P)).astype(dt)))
    run_check("gram_matrix", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- content_cost


def _acts(rng, shape, dtype, relu=True):
    a = rng.standard_normal(shape)
    return (np.maximum(a, 0) if relu else a).astype(dtype)


def _content_case(a_C, a_G, note=""):
    def variants():
        return [Variant(hint, {"J_content": content_reference(a_C, a_G, c)})
                for c, hint in (("none", NO_NORM), ("half", HALF), ("no_four", NO_FOUR), ("sqrt", NOT_SQUARED))]

    return Case(
        args=[("a_C", a_C), ("a_G", a_G)], dtype=a_C.dtype, note=note, hint=CONTENT_RECIPE, variants=variants,
        describe=f"a_C.shape = a_G.shape = {a_C.shape} (n_C, n_H, n_W) ({a_C.dtype})",
        outputs=[Out("J_content", content_reference(a_C, a_G), "scalar")],
    )


def content_cost(func, hidden=False, seed=0):
    """Check ``content_cost(a_C, a_G) -> Σ(a_C − a_G)² / (4 n_H n_W n_C)``."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed if hidden else 1201)
    if not hidden:
        a_C = np.arange(12, dtype=np.float64).reshape(3, 2, 2) / 4
        cases = [_content_case(a_C, a_C + 0.5, "every activation off by 0.5: Σ = 12 · 0.25 = 3, J = 3 / 48"),
                 _content_case(_acts(rng, (4, 3, 5), np.float32), _acts(rng, (4, 3, 5), np.float32), "float32")]
    else:
        cases = []
        for dt in float_dtypes(rng, _HIDDEN):
            shape = tuple(int(v) for v in rng.integers(1, 7, size=3))
            cases.append(_content_case(_acts(rng, shape, dt), _acts(rng, shape, dt)))
    run_check("content_cost", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- layer_style_cost


def _style_case(a_S, a_G, note=""):
    def variants():
        found = [Variant(STYLE_TRANSPOSED, {"J_style_layer": layer_style_reference(a_S, a_G, transposed=True)}),
                 Variant(MIXED_UNROLL, {"J_style_layer": layer_style_reference(a_S, a_G, unroll="mixed")})]
        found += [Variant(hint, {"J_style_layer": layer_style_reference(a_S, a_G, const=c)})
                  for c, hint in (("none", NO_NORM), ("seed", STYLE_SEED_CONSTANT),
                                  ("positions", STYLE_POSITIONS_NOT_SQUARED), ("no_four", STYLE_NO_FOUR))]
        return found

    return Case(
        args=[("a_S", a_S), ("a_G", a_G)], dtype=a_S.dtype, note=note, hint=STYLE_RECIPE, variants=variants,
        describe=f"a_S.shape = a_G.shape = {a_S.shape} (n_C, n_H, n_W) ({a_S.dtype})",
        outputs=[Out("J_style_layer", layer_style_reference(a_S, a_G), "scalar")],
    )


def _style_shape(rng):
    while True:
        n_C, n_H, n_W = (int(v) for v in rng.integers(2, 6, size=3))
        if n_C != n_H * n_W and len({n_C, n_H, n_W}) == 3:
            return n_C, n_H, n_W


def layer_style_cost(func, hidden=False, seed=0):
    """Check ``layer_style_cost(a_S, a_G) -> Σ(G_S − G_G)² / (4 n_C² (n_H n_W)²)`` (a_G ≠ 0)."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed if hidden else 1202)
    if not hidden:
        cases = [_style_case(_acts(rng, (3, 2, 4), np.float64), _acts(rng, (3, 2, 4), np.float64),
                             "3 channels, 2×4 positions"),
                 _style_case(_acts(rng, (4, 3, 2), np.float32), _acts(rng, (4, 3, 2), np.float32), "float32")]
    else:
        cases = []
        for dt in float_dtypes(rng, _HIDDEN):
            shape = _style_shape(rng)
            cases.append(_style_case(_acts(rng, shape, dt), _acts(rng, shape, dt) + 0.1))
    run_check("layer_style_cost", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- style_cost


def _style_cost_case(style_acts, gen_acts, weights, note=""):
    per = [layer_style_reference(s, g) for s, g in zip(style_acts, gen_acts)]
    expected = float(sum(w * j for w, j in zip(weights, per)))

    def variants():
        found = [Variant(STYLE_UNWEIGHTED, {"J_style": float(sum(per))}),
                 Variant(STYLE_MEAN, {"J_style": expected / len(per)}),
                 Variant(STYLE_LAST, {"J_style": weights[-1] * per[-1]}),
                 Variant(STYLE_FIRST, {"J_style": weights[0] * per[0]})]
        return found

    shapes = ", ".join(str(a.shape) for a in style_acts)
    return Case(
        args=[("style_acts", style_acts), ("gen_acts", gen_acts), ("weights", weights)], dtype=style_acts[0].dtype,
        note=note, hint=STYLE_COST_RECIPE, variants=variants,
        describe=f"{len(weights)} layers of shapes {shapes}, weights={weights}",
        outputs=[Out("J_style", expected, "scalar")],
    )


def _layers(rng, n, dtype):
    shapes = [_style_shape(rng) for _ in range(n)]
    S = [_acts(rng, s, dtype) for s in shapes]
    G = [_acts(rng, s, dtype) + np.asarray(0.1, dtype) for s in shapes]
    return S, G


def style_cost(func, hidden=False, seed=0):
    """Check ``style_cost(style_acts, gen_acts, weights) -> Σ_l λ_l J_style^[l]`` (uses the student's
    layer_style_cost, which must pass its own check first)."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed if hidden else 1203)
    if not hidden:
        S, G = _layers(rng, 3, np.float64)
        cases = [_style_cost_case(S, G, [0.5, 0.3, 0.2], "three layers"),
                 _style_cost_case(S[:1], G[:1], [1.0], "one layer: J_style = J_style^[1]")]
    else:
        cases = []
        for dt in float_dtypes(rng, _HIDDEN // 2):
            n = int(rng.integers(2, 5))
            S, G = _layers(rng, n, dt)
            weights = [round(float(w), 3) for w in rng.uniform(0.1, 1.0, size=n)]
            cases.append(_style_cost_case(S, G, weights))
    run_check("style_cost", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- total_cost


def _total_case(J_content, J_style, alpha=None, beta=None, note=""):
    a = 10.0 if alpha is None else alpha
    b = 40.0 if beta is None else beta
    expected = a * J_content + b * J_style

    def call(func, values):
        if alpha is None:
            return func(J_content, J_style)
        return func(J_content, J_style, alpha=alpha, beta=beta)

    def variants():
        found = [Variant(SWAPPED, {"J": b * J_content + a * J_style})]
        if alpha is None:
            found.append(Variant(DEFAULTS, {"J": J_content + J_style}))
        return found

    shown = "default alpha, beta" if alpha is None else f"alpha={alpha}, beta={beta}"
    return Case(
        args=[("J_content", J_content), ("J_style", J_style)], note=note, hint=TOTAL_RECIPE, variants=variants,
        describe=f"total_cost({J_content}, {J_style}) with {shown}", call=call,
        outputs=[Out("J", expected, "scalar")],
    )


def total_cost(func, hidden=False, seed=0):
    """Check ``total_cost(J_content, J_style, alpha=10, beta=40) -> α J_content + β J_style``."""
    __tracebackhide__ = True
    if not hidden:
        cases = [_total_case(2.0, 0.5, note="the defaults: 10 · 2 + 40 · 0.5 = 40"),
                 _total_case(2.0, 0.5, alpha=1.0, beta=1000.0, note="this notebook's network: β/α = 1000")]
    else:
        rng = np.random.default_rng(seed)
        cases = []
        for k in range(_HIDDEN):
            Jc, Js = (round(float(v), 4) for v in rng.uniform(0.01, 5.0, size=2))
            if k % 3 == 0:
                cases.append(_total_case(Jc, Js))
            else:
                a, b = (round(float(v), 2) for v in rng.uniform(0.5, 100.0, size=2))
                cases.append(_total_case(Jc, Js, alpha=a, beta=b))
    run_check("total_cost", func, cases, hidden=hidden)


# --------------------------------------------------------------------------- before real activations

def guard_memory(layer_style_cost, limit_mb: float = 8.0) -> None:
    """Raise a ValueError, before a notebook cell runs the student's ``layer_style_cost`` on real
    activations, when on small ones (2 channels, 40×50 positions) it allocates more than ``limit_mb``
    MB: a Gram matrix of the wrong orientation, (n_H·n_W)², takes 32 MB there, and about 1 GB per
    matrix on a 256-pixel image's first layer — enough to exhaust the grader's memory. A correct
    function needs a few hundred kB. Prints nothing when it passes."""
    import tracemalloc

    rng = np.random.default_rng(0)
    a_S, a_G = rng.random((2, 40, 50)), rng.random((2, 40, 50))
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        layer_style_cost(a_S, a_G)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if started:
            tracemalloc.stop()
    if peak > limit_mb * 2**20:
        raise ValueError(
            f"layer_style_cost allocated {peak / 2**20:.0f} MB on activations of shape (2, 40, 50), where a correct "
            f"one needs well under 1 MB: it probably builds a matrix of shape (n_H·n_W, n_H·n_W), positions against "
            f"positions. On real activations that takes gigabytes; fix Exercises 2 and 3 first (their test cells "
            f"say what is wrong).")
