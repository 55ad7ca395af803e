"""Checks for the topic-2 notebook (initialisation, losses, regularisation, optimisers).

Each public function takes the student's function, runs a few fixed, explainable cases
(``hidden=False``) or ~20 random ones drawn from ``np.random.default_rng(seed)``
(``hidden=True``), and raises :class:`~cnn_course.grading.CheckFailed` with a teaching
message on the first problem. Expected values come from :mod:`cnn_course.ref`; the known
mistakes used for hints are computed next to them.

Conventions (the course's, see the notebook): activations are batch-first rows (m, n),
W{l} is (n[l], n[l-1]) and b{l} is (n[l],), labels are integer classes y (m,), and every
function that needs randomness takes a ``numpy.random.Generator`` ``rng``: the check hands
the student a freshly seeded generator and computes the expected result from an
identically seeded one, so exactly the documented draws must be made.

One module per part of the notebook:

    init_losses         He initialisation, the softmax cross-entropy cost with its gradient
    regularisation      L2 (cost and gradient together), inverted dropout
    gradcheck_batches   gradient checking, mini-batches
    update_rules        momentum, RMSProp, Adam (state {"v", "s", "t"}: momentum's v, RMSProp's s)
    torch_training      a PyTorch training loop: torch.optim.Adam and a learning-rate scheduler,
                        checked against the notebook's NumPy Adam and decay

Notebooks use them as ``from cnn_course.grading import optimizers as check``.
"""

from .gradcheck_batches import gradient_check, random_mini_batches
from .init_losses import initialize_parameters_he, softmax_cross_entropy
from .regularisation import dropout_forward, l2_regularization
from .torch_training import train_adam
from .update_rules import adam_update, momentum_update, rmsprop_update

__all__ = [
    "initialize_parameters_he", "softmax_cross_entropy", "l2_regularization", "dropout_forward",
    "gradient_check", "random_mini_batches", "momentum_update", "rmsprop_update", "adam_update", "train_adam",
]

#: The check modules, in the notebook's order (tests patch their ``run_check``).
from . import gradcheck_batches, init_losses, regularisation, torch_training, update_rules  # noqa: E402

SECTIONS = (init_losses, regularisation, gradcheck_batches, update_rules, torch_training)
