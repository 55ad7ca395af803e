'''Topic-12 submissions (neural style transfer): correct solutions, bugs and misbehaving code.

``CORRECT`` maps each exercise of ``solutions/12_style_transfer`` to the source a careful
student would write, in notebook order. ``BUGS`` lists wrong or cheating submissions with the
hint the grader must give; ``breaks`` names the exercises whose checks fail (layer_style_cost
calls the student's gram_matrix, style_cost their layer_style_cost).

Exercise -> check -> test cell:

    content_cost      style.content_cost          test_content_cost
    gram_matrix       style.gram_matrix           test_gram_matrix
    layer_style_cost  style.layer_style_cost      test_layer_style_cost
    style_cost        style.style_cost            test_style_cost
    total_cost        style.total_cost            test_total_cost
    style_step        style_torch.style_step      test_style_step

The NumPy exercises may not use the course library, torch or SciPy; the step may use torch
but not the course's ready-made costs (``cnn_course.pt``).
'''

from __future__ import annotations

from . import Bug, replacer

CORRECT: dict[str, str] = {
    "content_cost": '''\
import numpy as np

def content_cost(a_C, a_G):
    n_C, n_H, n_W = a_G.shape
    J_content = float(np.sum((a_C - a_G) ** 2) / (4 * n_H * n_W * n_C))
    return J_content
''',
    "gram_matrix": '''\
import numpy as np

def gram_matrix(A):
    G = A @ A.T
    return G
''',
    "layer_style_cost": '''\
import numpy as np

def layer_style_cost(a_S, a_G):
    n_C, n_H, n_W = a_G.shape
    GS = gram_matrix(a_S.reshape(n_C, n_H * n_W))
    GG = gram_matrix(a_G.reshape(n_C, n_H * n_W))
    J_style_layer = float(np.sum((GS - GG) ** 2) / (4 * n_C**2 * (n_H * n_W) ** 2))
    return J_style_layer
''',
    "style_cost": '''\
def style_cost(style_acts, gen_acts, weights):
    J_style = 0.0
    for a_S, a_G, lam in zip(style_acts, gen_acts, weights):
        J_style += lam * layer_style_cost(a_S, a_G)
    return J_style
''',
    "total_cost": '''\
def total_cost(J_content, J_style, alpha=10, beta=40):
    J = alpha * J_content + beta * J_style
    return J
''',
    "style_step": '''\
import torch

def style_step(G, optimizer, net, a_C, a_S, alpha=10, beta=40):
    optimizer.zero_grad()
    a_G = net(G)
    _, n_C, n_H, n_W = a_G.shape
    J_content = ((a_C - a_G) ** 2).sum() / (4 * n_H * n_W * n_C)
    A_S, A_G = a_S.reshape(n_C, -1), a_G.reshape(n_C, -1)
    J_style = ((A_S @ A_S.T - A_G @ A_G.T) ** 2).sum() / (4 * n_C**2 * (n_H * n_W) ** 2)
    J = alpha * J_content + beta * J_style
    J.backward()
    optimizer.step()
    with torch.no_grad():
        G.clamp_(0, 1)
    return J.item()
''',
}

_replace = replacer(CORRECT)

_CONTENT = frozenset({"content_cost"})
_GRAM = frozenset({"gram_matrix", "layer_style_cost", "style_cost"})
_LAYER = frozenset({"layer_style_cost", "style_cost"})
_STYLE = frozenset({"style_cost"})
_TOTAL = frozenset({"total_cost"})
_STEP = frozenset({"style_step"})

BUGS: list[Bug] = [
    # ------------------------------------------------------------------ content_cost
    Bug("content_no_norm", "content_cost",
        _replace("content_cost", " / (4 * n_H * n_W * n_C)", ""), _CONTENT, "plain sum of squared differences"),
    Bug("content_half", "content_cost",
        _replace("content_cost", " / (4 * n_H * n_W * n_C)", " / 2"), _CONTENT, "½"),
    Bug("content_not_squared", "content_cost",
        _replace("content_cost", "np.sum((a_C - a_G) ** 2)", "np.sqrt(np.sum((a_C - a_G) ** 2))"),
        _CONTENT, "a norm, not its square"),
    Bug("content_calls_library", "content_cost",
        "from cnn_course.ref import style as _style\n\ndef content_cost(a_C, a_G):\n"
        "    return _style.content_cost(a_C, a_G)\n", _CONTENT, "cnn_course"),
    # ------------------------------------------------------------------ gram_matrix
    Bug("gram_transposed", "gram_matrix", _replace("gram_matrix", "G = A @ A.T", "G = A.T @ A"),
        _GRAM, "Aᵀ·A"),
    Bug("gram_elementwise", "gram_matrix", _replace("gram_matrix", "G = A @ A.T", "G = A * A"),
        _GRAM, "G has shape (n_C, n_C)"),
    Bug("gram_calls_torch", "gram_matrix",
        "import torch\n\ndef gram_matrix(A):\n    t = torch.from_numpy(A)\n    return (t @ t.T).numpy()\n",
        _GRAM, "torch"),
    # ------------------------------------------------------------------ layer_style_cost
    Bug("layer_mixed_unroll", "layer_style_cost",
        _replace("layer_style_cost", "a_S.reshape(n_C, n_H * n_W)", "a_S.reshape(n_H * n_W, n_C).T")
        .replace("a_G.reshape(n_C, n_H * n_W)", "a_G.reshape(n_H * n_W, n_C).T"),
        _LAYER, "mixes channels and positions"),
    Bug("layer_transposed_gram", "layer_style_cost",
        _replace("layer_style_cost", "a_S.reshape(n_C, n_H * n_W))", "a_S.reshape(n_C, n_H * n_W).T)")
        .replace("a_G.reshape(n_C, n_H * n_W))", "a_G.reshape(n_C, n_H * n_W).T)"),
        _LAYER, "Aᵀ·A"),
    Bug("layer_no_norm", "layer_style_cost",
        _replace("layer_style_cost", " / (4 * n_C**2 * (n_H * n_W) ** 2)", ""), _LAYER,
        "plain sum of squared differences"),
    Bug("layer_constant_not_squared", "layer_style_cost",
        _replace("layer_style_cost", "(4 * n_C**2 * (n_H * n_W) ** 2)", "(2 * n_H * n_W * n_C)"), _LAYER,
        "without the square"),
    Bug("layer_positions_not_squared", "layer_style_cost",
        _replace("layer_style_cost", "(4 * n_C**2 * (n_H * n_W) ** 2)", "(4 * n_C**2 * n_H * n_W)"), _LAYER,
        "must be squared too"),
    Bug("layer_no_four", "layer_style_cost",
        _replace("layer_style_cost", "(4 * n_C**2 * (n_H * n_W) ** 2)", "(n_C**2 * (n_H * n_W) ** 2)"), _LAYER,
        "lacks the factor 4"),
    # ------------------------------------------------------------------ style_cost
    Bug("style_unweighted", "style_cost", _replace("style_cost", "J_style += lam * ", "J_style += "), _STYLE,
        "ignores the weights"),
    Bug("style_mean", "style_cost",
        _replace("style_cost", "    return J_style", "    return J_style / len(weights)"), _STYLE,
        "average over the layers"),
    Bug("style_overwritten", "style_cost", _replace("style_cost", "J_style += ", "J_style = "), _STYLE,
        "overwritten in the loop"),
    # ------------------------------------------------------------------ total_cost
    Bug("total_swapped", "total_cost", _replace("total_cost", "J = alpha * J_content + beta * J_style",
                                                "J = beta * J_content + alpha * J_style"),
        _TOTAL, "α and β are swapped"),
    Bug("total_wrong_defaults", "total_cost", _replace("total_cost", "alpha=10, beta=40", "alpha=1, beta=1"),
        _TOTAL, "defaults alpha=10, beta=40"),
    # ------------------------------------------------------------------ style_step
    Bug("step_no_clip", "style_step",
        _replace("style_step", "    with torch.no_grad():\n        G.clamp_(0, 1)\n", ""), _STEP, "clip the pixels"),
    Bug("step_swapped", "style_step",
        _replace("style_step", "J = alpha * J_content + beta * J_style", "J = beta * J_content + alpha * J_style"),
        _STEP, "α and β are swapped"),
    Bug("step_no_zero_grad", "style_step", _replace("style_step", "    optimizer.zero_grad()\n", ""), _STEP,
        "zero_grad"),
    Bug("step_returns_tensor", "style_step", _replace("style_step", "return J.item()", "return J"), _STEP,
        "type of the result must be 'float'"),
    Bug("step_calls_library", "style_step",
        "from cnn_course.pt import style as _style\n\n" + _replace(
            "style_step", "J = alpha * J_content + beta * J_style",
            "J = _style.total_cost(J_content, J_style, alpha, beta)"), _STEP, "cnn_course.pt"),
]

# Graded end to end through nbgrader by default (each check is tested bug by bug in
# test_grading_style_transfer.py): the list first.
PIPELINE_BUGS: list[str] = [
    "gram_transposed",
    "content_no_norm",
    "layer_mixed_unroll",
    "layer_constant_not_squared",
    "total_swapped",
    "step_no_clip",
    "step_swapped",
    "content_calls_library",
]

MISBEHAVING: dict[str, tuple[dict[str, str], set[str]]] = {
    # Kills the kernel while the answer cell runs: total_cost is never defined; nothing else grades it.
    "style_kernel_crash": (
        {"total_cost": "import os\nos._exit(1)\n\ndef total_cost(J_content, J_style, alpha=10, beta=40):\n    pass"},
        {"test_total_cost"},
    ),
}

FEEDBACK_BUG = "layer_mixed_unroll"

# A second, self-consistent correct set: einsum, np.linalg.norm, a comprehension, keyword arguments.
ALTERNATIVE: dict[str, str] = {
    "content_cost": '''\
import numpy as np

def content_cost(a_C, a_G):
    return np.linalg.norm((a_C - a_G).ravel()) ** 2 / (4 * a_C.size)
''',
    "gram_matrix": '''\
import numpy as np

def gram_matrix(A):
    return np.einsum("kp,lp->kl", A, A)
''',
    "layer_style_cost": '''\
import numpy as np

def layer_style_cost(a_S, a_G):
    n_C = a_S.shape[0]
    P = a_S[0].size
    d = gram_matrix(a_S.reshape(n_C, -1)) - gram_matrix(a_G.reshape(n_C, -1))
    return float((d ** 2).sum()) / (2 * n_C * P) ** 2
''',
    "style_cost": '''\
def style_cost(style_acts, gen_acts, weights):
    return sum(w * layer_style_cost(s, g) for s, g, w in zip(style_acts, gen_acts, weights))
''',
    "total_cost": '''\
def total_cost(J_content, J_style, alpha=10, beta=40):
    return float(alpha * J_content + beta * J_style)
''',
    "style_step": '''\
import torch

def _gram(a):
    A = a.flatten(1) if a.dim() == 3 else a[0].flatten(1)
    return A @ A.t()

def style_step(G, optimizer, net, a_C, a_S, alpha=10, beta=40):
    optimizer.zero_grad()
    a_G = net(G)
    n_C, n_H, n_W = a_G.shape[1:]
    J = alpha * torch.sum((a_G - a_C) ** 2) / (4 * n_C * n_H * n_W) \\
        + beta * torch.sum((_gram(a_S) - _gram(a_G)) ** 2) / (2 * n_C * n_H * n_W) ** 2
    J.backward()
    optimizer.step()
    G.data.clamp_(0.0, 1.0)
    return float(J.detach())
''',
}
