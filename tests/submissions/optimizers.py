'''Topic-2 submissions: correct solutions, other correct forms, and bugs.

``CORRECT`` maps each exercise of ``solutions/02_optimizers`` to the source a careful
student would write (plain NumPy, loops where natural). ``GIVEN_SOFTMAX`` is the notebook's worked
softmax, which a cost may call. ``ALTERNATIVE`` holds other
correct solutions (updating the state dict in place, loops instead of vectorised code,
equivalent draws) that the checks must accept. ``BUGS`` lists wrong or cheating submissions
with the hint the grader must give. ``PIPELINE_BUGS``, ``FEEDBACK_BUG`` and ``MISBEHAVING``
drive the nbgrader pipeline tests (tests/_pipeline.py).
'''

from __future__ import annotations

from . import Bug, replacer

# The notebook gives softmax as worked code (cell "softmax-worked"); a submission's cost may call it.
GIVEN_SOFTMAX = '''\
import numpy as np

def softmax(Z):
    T = np.exp(Z - Z.max(axis=1, keepdims=True))
    return T / T.sum(axis=1, keepdims=True)
'''

CORRECT: dict[str, str] = {
    "initialize_parameters_he": '''\
import numpy as np

def initialize_parameters_he(layer_dims, rng):
    parameters = {}
    L = len(layer_dims) - 1
    for l in range(1, L + 1):
        n, n_prev = layer_dims[l], layer_dims[l - 1]
        parameters["W" + str(l)] = rng.standard_normal((n, n_prev)) * np.sqrt(2 / n_prev)
        parameters["b" + str(l)] = np.zeros(n)
    return parameters
''',
    "softmax_cross_entropy": '''\
import numpy as np

def softmax_cross_entropy(Z, y):
    m = Z.shape[0]
    Z_shift = Z - np.max(Z, axis=1, keepdims=True)
    log_probs = Z_shift - np.log(np.sum(np.exp(Z_shift), axis=1, keepdims=True))
    cost = -np.sum(log_probs[np.arange(m), y]) / m
    dZ = np.exp(log_probs)
    dZ[np.arange(m), y] -= 1
    dZ = dZ / m
    return float(cost), dZ
''',
    "l2_regularization": '''\
import numpy as np

def l2_regularization(cost, grads, params, lambd, m):
    L = len(params) // 2
    total = 0.0
    for l in range(1, L + 1):
        total += np.sum(np.square(params["W" + str(l)]))
    l2_cost = lambd / (2 * m) * total
    new_grads = {}
    for key, value in grads.items():
        if key.startswith("dW"):
            new_grads[key] = value + lambd / m * params[key[1:]]
        else:
            new_grads[key] = value
    return float(cost + l2_cost), new_grads
''',
    "dropout_forward": '''\
import numpy as np

def dropout_forward(A, keep_prob, rng):
    mask = rng.random(A.shape) < keep_prob
    out = A * mask / keep_prob
    return out, mask
''',
    "gradient_check": '''\
import numpy as np

def gradient_check(cost, params, grads, epsilon=1e-7):
    grad, gradapprox = [], []
    for key in params:
        for idx in np.ndindex(params[key].shape):
            theta_plus = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
            theta_minus = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
            theta_plus[key][idx] += epsilon
            theta_minus[key][idx] -= epsilon
            J_plus = cost(theta_plus)
            J_minus = cost(theta_minus)
            gradapprox.append((J_plus - J_minus) / (2 * epsilon))
            grad.append(grads["d" + key][idx])
    grad = np.array(grad, dtype=np.float64)
    gradapprox = np.array(gradapprox)
    numerator = np.linalg.norm(grad - gradapprox)
    denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)
    if denominator == 0:
        return 0.0
    difference = numerator / denominator
    return float(difference)
''',
    "random_mini_batches": '''\
import numpy as np

def random_mini_batches(X, y, batch_size, rng):
    m = X.shape[0]
    perm = rng.permutation(m)
    X_shuffled = X[perm]
    y_shuffled = y[perm]
    mini_batches = []
    num_complete = m // batch_size
    for k in range(num_complete):
        X_b = X_shuffled[k * batch_size:(k + 1) * batch_size]
        y_b = y_shuffled[k * batch_size:(k + 1) * batch_size]
        mini_batches.append((X_b, y_b))
    if m % batch_size != 0:
        X_b = X_shuffled[num_complete * batch_size:]
        y_b = y_shuffled[num_complete * batch_size:]
        mini_batches.append((X_b, y_b))
    return mini_batches
''',
    "momentum_update": '''\
import numpy as np

def momentum_update(w, dw, state, lr=0.01, beta=0.9):
    v = beta * state["v"] + (1 - beta) * dw
    w_next = w - lr * v
    return w_next, {"v": v}
''',
    "rmsprop_update": '''\
import numpy as np

def rmsprop_update(w, dw, state, lr=0.001, beta=0.9, eps=1e-8):
    s = beta * state["s"] + (1 - beta) * dw ** 2
    w_next = w - lr * dw / (np.sqrt(s) + eps)
    return w_next, {"s": s}
''',
    "adam_update": '''\
import numpy as np

def adam_update(w, dw, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    t = state["t"] + 1
    v = beta1 * state["v"] + (1 - beta1) * dw
    s = beta2 * state["s"] + (1 - beta2) * dw ** 2
    v_hat = v / (1 - beta1 ** t)
    s_hat = s / (1 - beta2 ** t)
    w_next = w - lr * v_hat / (np.sqrt(s_hat) + eps)
    return w_next, {"v": v, "s": s, "t": t}
''',
    "train_adam": '''\
import torch
import torch.nn.functional as F

def train_adam(model, X, y, epochs, batch_size, lr0, decay_rate, betas=(0.9, 0.999), eps=1e-8):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr0, betas=betas, eps=eps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1 / (1 + decay_rate * epoch))
    losses = []
    for epoch in range(epochs):
        for start in range(0, X.shape[0], batch_size):
            X_b, y_b = X[start:start + batch_size], y[start:start + batch_size]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(X_b), y_b)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
    return losses
''',
}

# Other correct ways to write an exercise: the checks must accept every one.
ALTERNATIVE: dict[str, dict[str, str]] = {
    "he_normal_and_shape_unpacking": {"initialize_parameters_he": '''\
import numpy as np

def initialize_parameters_he(layer_dims, rng):
    params = {}
    for l in range(1, len(layer_dims)):
        std = (2.0 / layer_dims[l - 1]) ** 0.5
        params[f"W{l}"] = rng.normal(0.0, std, size=(layer_dims[l], layer_dims[l - 1]))
        params[f"b{l}"] = np.zeros((layer_dims[l],))
    return params
'''},
    # The cost computed with the notebook's worked softmax (here defined in the same cell).
    "cross_entropy_with_the_given_softmax": {"softmax_cross_entropy": GIVEN_SOFTMAX + '''
def softmax_cross_entropy(Z, y):
    m = Z.shape[0]
    Z_shift = Z - Z.max(axis=1, keepdims=True)
    log_probs = Z_shift - np.log(np.exp(Z_shift).sum(axis=1, keepdims=True))
    dZ = softmax(Z)
    dZ[np.arange(m), y] -= 1
    return float(-log_probs[np.arange(m), y].mean()), dZ / m
'''},
    "cross_entropy_one_hot": {"softmax_cross_entropy": '''\
import numpy as np

def softmax_cross_entropy(Z, y):
    m, K = Z.shape
    Y = np.eye(K)[y]
    mx = Z.max(axis=1, keepdims=True)
    log_p = Z - mx - np.log(np.exp(Z - mx).sum(axis=1, keepdims=True))
    return -np.sum(Y * log_p) / m, (np.exp(log_p) - Y) / m
'''},
    "l2_vectorised_and_copies": {"l2_regularization": '''\
import numpy as np

def l2_regularization(cost, grads, params, lambd, m):
    weights = [W for name, W in params.items() if name.startswith("W")]
    cost = cost + lambd / (2 * m) * sum(np.linalg.norm(W) ** 2 for W in weights)
    new_grads = {key: value.copy() for key, value in grads.items()}
    L = len(params) // 2
    for l in range(1, L + 1):
        new_grads["dW" + str(l)] = new_grads["dW" + str(l)] + (lambd / m) * params["W" + str(l)]
    return cost, new_grads
'''},
    "dropout_uniform_draw": {"dropout_forward": '''\
import numpy as np

def dropout_forward(A, keep_prob, rng):
    D = rng.uniform(0, 1, size=A.shape)
    mask = D < keep_prob
    out = np.multiply(A, mask)
    out /= keep_prob
    return out, mask
'''},
    "gradient_check_vectors": {"gradient_check": '''\
import numpy as np

def dictionary_to_vector(d, keys):
    return np.concatenate([np.asarray(d[k], dtype=np.float64).reshape(-1) for k in keys])

def vector_to_dictionary(theta, keys, shapes):
    out, start = {}, 0
    for k in keys:
        size = int(np.prod(shapes[k]))
        out[k] = theta[start:start + size].reshape(shapes[k])
        start += size
    return out

def gradient_check(cost, params, grads, epsilon=1e-7):
    keys = list(params)
    shapes = {k: params[k].shape for k in keys}
    theta = dictionary_to_vector(params, keys)
    grad = dictionary_to_vector(grads, ["d" + k for k in keys])
    gradapprox = np.zeros(theta.shape)
    for i in range(theta.size):
        theta_plus = np.copy(theta)
        theta_plus[i] = theta_plus[i] + epsilon
        theta_minus = np.copy(theta)
        theta_minus[i] = theta_minus[i] - epsilon
        J_plus = cost(vector_to_dictionary(theta_plus, keys, shapes))
        J_minus = cost(vector_to_dictionary(theta_minus, keys, shapes))
        gradapprox[i] = (J_plus - J_minus) / (2 * epsilon)
    numerator = np.linalg.norm(grad - gradapprox)
    denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)
    return numerator / denominator if denominator else 0.0
'''},
    "mini_batches_permuted_arrays": {"random_mini_batches": '''\
import numpy as np
import math

def random_mini_batches(X, y, batch_size, rng):
    m = len(X)
    idx = np.arange(m)
    rng.shuffle(idx)
    n_batches = math.ceil(m / batch_size)
    return [(X[idx[k * batch_size:(k + 1) * batch_size]], y[idx[k * batch_size:(k + 1) * batch_size]])
            for k in range(n_batches)]
'''},
    # The state dict may be updated in place (and returned), arrays included.
    "updates_mutate_state": {
        "momentum_update": '''\
import numpy as np

def momentum_update(w, dw, state, lr=0.01, beta=0.9):
    state["v"] *= beta
    state["v"] += (1 - beta) * dw
    return w - lr * state["v"], state
''',
        "rmsprop_update": '''\
import numpy as np

def rmsprop_update(w, dw, state, lr=0.001, beta=0.9, eps=1e-8):
    state["s"] = beta * state["s"] + (1 - beta) * np.square(dw)
    return w - lr * dw / (np.sqrt(state["s"]) + eps), state
''',
        "adam_update": '''\
import numpy as np

def adam_update(w, dw, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    state["t"] += 1
    state["v"] = beta1 * state["v"] + (1 - beta1) * dw
    state["s"] = beta2 * state["s"] + (1 - beta2) * (dw * dw)
    v_hat = state["v"] / (1 - beta1 ** state["t"])
    s_hat = state["s"] / (1 - beta2 ** state["t"])
    w_next = w.copy()
    w_next -= lr * v_hat / (np.sqrt(s_hat) + eps)
    return w_next, state
'''},
    # A DataLoader without shuffling gives the same consecutive batches; MultiplicativeLR the same decay.
    "train_adam_data_loader": {"train_adam": '''\
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

def train_adam(model, X, y, epochs, batch_size, lr0, decay_rate, betas=(0.9, 0.999), eps=1e-8):
    loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr0, betas=betas, eps=eps)
    scheduler = torch.optim.lr_scheduler.MultiplicativeLR(
        optimizer, lambda epoch: (1 + decay_rate * (epoch - 1)) / (1 + decay_rate * epoch))
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for epoch in range(epochs):
        for X_b, y_b in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(X_b), y_b)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        scheduler.step()
    return losses
'''},
}


_replace = replacer(CORRECT)


BUGS: list[Bug] = [
    # ------------------------------------------------------------------ initialisation
    Bug("he_xavier_scale", "initialize_parameters_he",
        _replace("initialize_parameters_he", "np.sqrt(2 / n_prev)", "np.sqrt(1 / n_prev)"),
        frozenset({"initialize_parameters_he"}), "Xavier initialisation"),
    Bug("he_fan_out", "initialize_parameters_he",
        _replace("initialize_parameters_he", "np.sqrt(2 / n_prev)", "np.sqrt(2 / n)"),
        frozenset({"initialize_parameters_he"}), "not n[l]"),
    Bug("he_transposed", "initialize_parameters_he",
        _replace("initialize_parameters_he", "rng.standard_normal((n, n_prev))", "rng.standard_normal((n_prev, n))"),
        frozenset({"initialize_parameters_he"}), "is transposed"),
    Bug("he_global_random", "initialize_parameters_he",
        _replace("initialize_parameters_he", "rng.standard_normal((n, n_prev))", "np.random.randn(n, n_prev)"),
        frozenset({"initialize_parameters_he"}), "np.random.* functions"),
    Bug("he_column_bias", "initialize_parameters_he",
        _replace("initialize_parameters_he", "np.zeros(n)", "np.zeros((n, 1))"),
        frozenset({"initialize_parameters_he"}), "not (n[l], 1)"),
    Bug("he_calls_ref", "initialize_parameters_he", '''\
import numpy as np
from cnn_course.ref.init import initialize_parameters

def initialize_parameters_he(layer_dims, rng):
    return initialize_parameters(layer_dims, "he", rng)
''', frozenset({"initialize_parameters_he"}), "cnn_course.ref"),
    # ------------------------------------------------------------------ softmax and cross-entropy
    Bug("cross_entropy_no_shift", "softmax_cross_entropy",
        _replace("softmax_cross_entropy", "Z_shift = Z - np.max(Z, axis=1, keepdims=True)", "Z_shift = Z"),
        frozenset({"softmax_cross_entropy"}), "your log-sum-exp overflows"),
    Bug("cross_entropy_no_keepdims", "softmax_cross_entropy",
        _replace("softmax_cross_entropy", "np.max(Z, axis=1, keepdims=True)", "np.max(Z, axis=1)"),
        frozenset({"softmax_cross_entropy"}), "keepdims=True"),
    Bug("cross_entropy_sum", "softmax_cross_entropy",
        _replace("softmax_cross_entropy", "cost = -np.sum(log_probs[np.arange(m), y]) / m",
                 "cost = -np.sum(log_probs[np.arange(m), y])"),
        frozenset({"softmax_cross_entropy"}), "you summed the losses"),
    Bug("cross_entropy_no_log", "softmax_cross_entropy", GIVEN_SOFTMAX + '''
def softmax_cross_entropy(Z, y):
    m = Z.shape[0]
    probs = softmax(Z)
    cost = -np.mean(probs[np.arange(m), y])
    dZ = probs.copy()
    dZ[np.arange(m), y] -= 1
    return float(cost), dZ / m
''', frozenset({"softmax_cross_entropy"}), "you forgot the log"),
    Bug("cross_entropy_log_of_softmax", "softmax_cross_entropy", GIVEN_SOFTMAX + '''
def softmax_cross_entropy(Z, y):
    m = Z.shape[0]
    probs = softmax(Z)
    cost = -np.mean(np.log(probs[np.arange(m), y]))
    dZ = probs.copy()
    dZ[np.arange(m), y] -= 1
    return float(cost), dZ / m
''', frozenset({"softmax_cross_entropy"}), "log(0) = −inf"),
    Bug("cross_entropy_log_of_logits", "softmax_cross_entropy",
        _replace("softmax_cross_entropy", "cost = -np.sum(log_probs[np.arange(m), y]) / m",
                 "cost = -np.mean(np.log(Z[np.arange(m), y]))"),
        frozenset({"softmax_cross_entropy"}), "Z holds logits"),
    Bug("cross_entropy_calls_torch", "softmax_cross_entropy", '''\
import numpy as np
import torch.nn.functional as F
import torch

def softmax_cross_entropy(Z, y):
    Zt = torch.tensor(Z, requires_grad=True)
    cost = F.cross_entropy(Zt, torch.from_numpy(y))
    cost.backward()
    return float(cost), Zt.grad.numpy()
''', frozenset({"softmax_cross_entropy"}), "torch"),
    Bug("dz_no_m", "softmax_cross_entropy",
        _replace("softmax_cross_entropy", "dZ = dZ / m", "dZ = dZ"),
        frozenset({"softmax_cross_entropy"}), "divide dZ by m"),
    Bug("dz_sign", "softmax_cross_entropy",
        _replace("softmax_cross_entropy", "dZ = dZ / m", "dZ = -dZ / m"),
        frozenset({"softmax_cross_entropy"}), "the sign of dZ is flipped"),
    Bug("dz_calls_ref", "softmax_cross_entropy", '''\
import numpy as np
from cnn_course.ref import losses

def softmax_cross_entropy(Z, y):
    return losses.softmax_cross_entropy(Z, y)
''', frozenset({"softmax_cross_entropy"}), "cnn_course.ref"),
    # ------------------------------------------------------------------ L2
    Bug("l2_cost_lambda_over_m", "l2_regularization",
        _replace("l2_regularization", "l2_cost = lambd / (2 * m) * total", "l2_cost = lambd / m * total"),
        frozenset({"l2_regularization"}), "you used λ/m"),
    Bug("l2_cost_with_bias", "l2_regularization",
        _replace("l2_regularization", '''        total += np.sum(np.square(params["W" + str(l)]))''',
                 '''        total += np.sum(np.square(params["W" + str(l)]))
        total += np.sum(np.square(params["b" + str(l)]))'''),
        frozenset({"l2_regularization"}), "leave the biases"),
    Bug("l2_cost_forgot_cross_entropy", "l2_regularization",
        _replace("l2_regularization", "return float(cost + l2_cost), new_grads", "return float(l2_cost), new_grads"),
        frozenset({"l2_regularization"}), "add the L2 term to the cost you were given"),
    Bug("l2_cost_norm_not_squared", "l2_regularization",
        _replace("l2_regularization", 'np.sum(np.square(params["W" + str(l)]))',
                 'np.linalg.norm(params["W" + str(l)])'),
        frozenset({"l2_regularization"}), "use the squared norm"),
    Bug("l2_backward_in_place", "l2_regularization", '''\
import numpy as np

def l2_regularization(cost, grads, params, lambd, m):
    L = len(params) // 2
    for l in range(1, L + 1):
        cost = cost + lambd / (2 * m) * np.sum(params["W" + str(l)] ** 2)
        grads["dW" + str(l)] += lambd / m * params["W" + str(l)]
    return cost, grads
''', frozenset({"l2_regularization"}), "in place"),
    Bug("l2_backward_shallow_copy", "l2_regularization", '''\
import numpy as np

def l2_regularization(cost, grads, params, lambd, m):
    new_grads = grads.copy()
    L = len(params) // 2
    for l in range(1, L + 1):
        cost = cost + lambd / (2 * m) * np.sum(params["W" + str(l)] ** 2)
        new_grads["dW" + str(l)] += lambd / m * params["W" + str(l)]
    return cost, new_grads
''', frozenset({"l2_regularization"}), "copies the dict but not its arrays"),
    Bug("l2_backward_entries_replaced", "l2_regularization", '''\
import numpy as np

def l2_regularization(cost, grads, params, lambd, m):
    L = len(params) // 2
    for l in range(1, L + 1):
        cost = cost + lambd / (2 * m) * np.sum(params["W" + str(l)] ** 2)
        grads["dW" + str(l)] = grads["dW" + str(l)] + lambd / m * params["W" + str(l)]
    return cost, grads
''', frozenset({"l2_regularization"}), "replaced its entry"),
    Bug("l2_backward_half", "l2_regularization",
        _replace("l2_regularization", "value + lambd / m * params[key[1:]]", "value + lambd / (2 * m) * params[key[1:]]"),
        frozenset({"l2_regularization"}), "the 2 of the square cancels"),
    Bug("l2_backward_bias", "l2_regularization",
        _replace("l2_regularization", '''        if key.startswith("dW"):
            new_grads[key] = value + lambd / m * params[key[1:]]
        else:
            new_grads[key] = value''', '''        new_grads[key] = value + lambd / m * params[key[1:]]'''),
        frozenset({"l2_regularization"}), "biases are not regularised"),
    # ------------------------------------------------------------------ dropout
    Bug("dropout_no_scale", "dropout_forward",
        _replace("dropout_forward", "out = A * mask / keep_prob", "out = A * mask"),
        frozenset({"dropout_forward"}), "divides by keep_prob"),
    Bug("dropout_one_minus", "dropout_forward",
        _replace("dropout_forward", "out = A * mask / keep_prob", "out = A * mask / (1 - keep_prob)"),
        frozenset({"dropout_forward"}), "not by 1 − keep_prob"),
    Bug("dropout_greater", "dropout_forward",
        _replace("dropout_forward", "rng.random(A.shape) < keep_prob", "rng.random(A.shape) > keep_prob"),
        frozenset({"dropout_forward"}), "with > you keep"),
    Bug("dropout_global_random", "dropout_forward",
        _replace("dropout_forward", "rng.random(A.shape)", "np.random.rand(*A.shape)"),
        frozenset({"dropout_forward"}), "np.random.* functions"),
    Bug("dropout_int_mask", "dropout_forward",
        _replace("dropout_forward", "mask = rng.random(A.shape) < keep_prob",
                 "mask = (rng.random(A.shape) < keep_prob).astype(int)"),
        frozenset({"dropout_forward"}), "dtype bool"),
    Bug("dropout_calls_ref", "dropout_forward", '''\
import numpy as np
import cnn_course.ref.dropout as D

def dropout_forward(A, keep_prob, rng):
    return D.dropout_forward(A, keep_prob, rng)
''', frozenset({"dropout_forward"}), "cnn_course.ref"),
    # ------------------------------------------------------------------ gradient checking
    Bug("gradient_check_one_sided", "gradient_check",
        _replace("gradient_check", "gradapprox.append((J_plus - J_minus) / (2 * epsilon))",
                 "gradapprox.append((J_plus - cost(params)) / epsilon)"),
        frozenset({"gradient_check"}), "use centred differences"),
    Bug("gradient_check_no_normalisation", "gradient_check",
        _replace("gradient_check", "difference = numerator / denominator", "difference = numerator"),
        frozenset({"gradient_check"}), "normalise the difference"),
    Bug("gradient_check_over_eps", "gradient_check",
        _replace("gradient_check", "(J_plus - J_minus) / (2 * epsilon)", "(J_plus - J_minus) / epsilon"),
        frozenset({"gradient_check"}), "spans 2ε"),
    Bug("gradient_check_fixed_eps", "gradient_check",
        _replace("gradient_check", "def gradient_check(cost, params, grads, epsilon=1e-7):",
                 "def gradient_check(cost, params, grads, epsilon=1e-7):\n    epsilon = 1e-7"),
        frozenset({"gradient_check"}), "use the epsilon argument"),
    Bug("gradient_check_nudges_params", "gradient_check", '''\
import numpy as np

def gradient_check(cost, params, grads, epsilon=1e-7):
    grad, gradapprox = [], []
    for key in params:
        for idx in np.ndindex(params[key].shape):
            params[key][idx] += epsilon
            J_plus = cost(params)
            params[key][idx] -= 2 * epsilon
            J_minus = cost(params)
            params[key][idx] += epsilon
            gradapprox.append((J_plus - J_minus) / (2 * epsilon))
            grad.append(grads["d" + key][idx])
    grad, gradapprox = np.array(grad), np.array(gradapprox)
    return float(np.linalg.norm(grad - gradapprox) / (np.linalg.norm(grad) + np.linalg.norm(gradapprox)))
''', frozenset({"gradient_check"}), "in place"),
    Bug("gradient_check_float32_copies", "gradient_check",
        _replace("gradient_check", "np.array(v, dtype=np.float64)", "np.array(v)", count=2),
        frozenset({"gradient_check"}), "nudge float64 copies"),
    Bug("gradient_check_zero_is_nan", "gradient_check",
        _replace("gradient_check", "    if denominator == 0:\n        return 0.0\n", ""),
        frozenset({"gradient_check"}), "return 0.0 when"),
    Bug("gradient_check_calls_ref", "gradient_check", '''\
import numpy as np
from cnn_course.ref import gradcheck

def gradient_check(cost, params, grads, epsilon=1e-7):
    return gradcheck.gradient_check(cost, params, grads, epsilon)[0]
''', frozenset({"gradient_check"}), "cnn_course.ref"),
    # ------------------------------------------------------------------ mini-batches
    Bug("mini_batches_drop_last", "random_mini_batches",
        _replace("random_mini_batches", "if m % batch_size != 0:", "if False:"),
        frozenset({"random_mini_batches"}), "keep the last, smaller mini-batch"),
    Bug("mini_batches_two_permutations", "random_mini_batches",
        _replace("random_mini_batches", "y_shuffled = y[perm]", "y_shuffled = y[rng.permutation(m)]"),
        frozenset({"random_mini_batches"}), "different permutations"),
    Bug("mini_batches_global_random", "random_mini_batches",
        _replace("random_mini_batches", "perm = rng.permutation(m)", "perm = np.random.permutation(m)"),
        frozenset({"random_mini_batches"}), "np.random.* functions"),
    Bug("mini_batches_overlap", "random_mini_batches",
        _replace("random_mini_batches", "batch_size:(k + 1) * batch_size]", "batch_size:(k + 1) * batch_size + 1]",
                 count=2),
        frozenset({"random_mini_batches"}), "exactly once"),
    Bug("mini_batches_calls_ref", "random_mini_batches", '''\
import numpy as np
from cnn_course import ref

def random_mini_batches(X, y, batch_size, rng):
    return ref.random_mini_batches(X, y, batch_size, rng)
''', frozenset({"random_mini_batches"}), "cnn_course.ref"),
    # ------------------------------------------------------------------ update rules
    Bug("momentum_no_one_minus", "momentum_update",
        _replace("momentum_update", "(1 - beta) * dw", "dw"),
        frozenset({"momentum_update"}), "Without (1 − β)"),
    Bug("momentum_old_velocity", "momentum_update", '''\
import numpy as np

def momentum_update(w, dw, state, lr=0.01, beta=0.9):
    w_next = w - lr * state["v"]
    v = beta * state["v"] + (1 - beta) * dw
    return w_next, {"v": v}
''', frozenset({"momentum_update"}), "update v first"),
    Bug("momentum_w_in_place", "momentum_update", '''\
import numpy as np

def momentum_update(w, dw, state, lr=0.01, beta=0.9):
    v = beta * state["v"] + (1 - beta) * dw
    w -= lr * v
    return w, {"v": v}
''', frozenset({"momentum_update"}), "in place"),
    Bug("rmsprop_eps_inside", "rmsprop_update",
        _replace("rmsprop_update", "(np.sqrt(s) + eps)", "np.sqrt(s + eps)"),
        frozenset({"rmsprop_update"}), "ε goes outside the square root"),
    Bug("rmsprop_no_square", "rmsprop_update",
        _replace("rmsprop_update", "dw ** 2", "dw"),
        frozenset({"rmsprop_update"}), "square the gradient"),
    Bug("rmsprop_no_one_minus", "rmsprop_update",
        _replace("rmsprop_update", "(1 - beta) * dw ** 2", "dw ** 2"),
        frozenset({"rmsprop_update"}), "you left out (1 − β)"),
    Bug("rmsprop_calls_torch", "rmsprop_update", '''\
import numpy as np
import torch

def rmsprop_update(w, dw, state, lr=0.001, beta=0.9, eps=1e-8):
    p = torch.nn.Parameter(torch.tensor(w))
    opt = torch.optim.RMSprop([p], lr=lr, alpha=beta, eps=eps)
    opt.state[p]["square_avg"] = torch.tensor(state["s"])
    opt.state[p]["step"] = torch.tensor(0.0)
    p.grad = torch.tensor(dw)
    opt.step()
    return p.detach().numpy(), {"s": opt.state[p]["square_avg"].numpy()}
''', frozenset({"rmsprop_update"}), "torch"),
    Bug("adam_no_bias_correction", "adam_update",
        _replace("adam_update", "w - lr * v_hat / (np.sqrt(s_hat) + eps)", "w - lr * v / (np.sqrt(s) + eps)"),
        frozenset({"adam_update"}), "you skipped the bias correction"),
    Bug("adam_t_after_correction", "adam_update", '''\
import numpy as np

def adam_update(w, dw, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    t = state["t"]
    v = beta1 * state["v"] + (1 - beta1) * dw
    s = beta2 * state["s"] + (1 - beta2) * dw ** 2
    v_hat = v / (1 - beta1 ** t)
    s_hat = s / (1 - beta2 ** t)
    w_next = w - lr * v_hat / (np.sqrt(s_hat) + eps)
    t = t + 1
    return w_next, {"v": v, "s": s, "t": t}
''', frozenset({"adam_update"}), "increment t before the bias correction"),
    Bug("adam_stores_corrected", "adam_update",
        _replace("adam_update", '{"v": v, "s": s, "t": t}', '{"v": v_hat, "s": s_hat, "t": t}'),
        frozenset({"adam_update"}), "keep the raw averages v and s"),
    Bug("adam_float_t", "adam_update",
        _replace("adam_update", 't = state["t"] + 1', 't = state["t"] + 1.0'),
        frozenset({"adam_update"}), "an int"),
    Bug("adam_eps_inside", "adam_update",
        _replace("adam_update", "(np.sqrt(s_hat) + eps)", "np.sqrt(s_hat + eps)"),
        frozenset({"adam_update"}), "ε goes outside the square root"),
    Bug("adam_moments_swapped", "adam_update",
        _replace("adam_update", '{"v": v, "s": s, "t": t}', '{"v": s, "s": v, "t": t}'),
        frozenset({"adam_update"}), "you swapped v and s"),
    Bug("adam_kingma_ba_names", "adam_update", '''\
import numpy as np

def adam_update(w, dw, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    t = state["t"] + 1
    m = beta1 * state["m"] + (1 - beta1) * dw
    v = beta2 * state["v"] + (1 - beta2) * dw ** 2
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), {"m": m, "v": v, "t": t}
''', frozenset({"adam_update"}), "Kingma & Ba's paper calls them m and v"),
    Bug("adam_betas_swapped", "adam_update",
        _replace("adam_update", '''    v = beta1 * state["v"] + (1 - beta1) * dw
    s = beta2 * state["s"] + (1 - beta2) * dw ** 2''', '''    v = beta2 * state["v"] + (1 - beta2) * dw
    s = beta1 * state["s"] + (1 - beta1) * dw ** 2'''),
        frozenset({"adam_update"}), "you swapped the betas"),
    Bug("adam_calls_ref", "adam_update", '''\
import numpy as np
from cnn_course.ref.optim import adam_update as reference_adam

def adam_update(w, dw, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return reference_adam(w, dw, state, lr, beta1, beta2, eps)
''', frozenset({"adam_update"}), "cnn_course.ref"),
    # ------------------------------------------------------------------ the PyTorch training loop
    Bug("train_adam_scheduler_per_batch", "train_adam",
        _replace("train_adam", "            losses.append(loss.item())\n        scheduler.step()",
                 "            losses.append(loss.item())\n            scheduler.step()"),
        frozenset({"train_adam"}), "not after every mini-batch"),
    Bug("train_adam_no_scheduler", "train_adam",
        _replace("train_adam", "        scheduler.step()\n", ""),
        frozenset({"train_adam"}), "the learning rate never decayed"),
    Bug("train_adam_scheduler_before_optimizer", "train_adam",
        _replace("train_adam", "    for epoch in range(epochs):\n",
                 "    for epoch in range(epochs):\n        scheduler.step()\n").replace(
            "        scheduler.step()\n    return", "    return"),
        frozenset({"train_adam"}), "one epoch ahead"),
    Bug("train_adam_no_zero_grad", "train_adam",
        _replace("train_adam", "            optimizer.zero_grad()\n", ""),
        frozenset({"train_adam"}), "call optimizer.zero_grad() before every loss.backward()"),
    Bug("train_adam_default_betas_eps", "train_adam",
        _replace("train_adam", "lr=lr0, betas=betas, eps=eps", "lr=lr0"),
        frozenset({"train_adam"}), "use the betas and eps you were given"),
    Bug("train_adam_returns_tensors", "train_adam",
        _replace("train_adam", "losses.append(loss.item())", "losses.append(loss)"),
        frozenset({"train_adam"}), "append loss.item()"),
    Bug("train_adam_loss_per_epoch", "train_adam",
        _replace("train_adam", "            losses.append(loss.item())\n        scheduler.step()",
                 "        scheduler.step()\n        losses.append(loss.item())"),
        frozenset({"train_adam"}), "not one per epoch"),
    Bug("train_adam_shuffled", "train_adam", '''\
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

def train_adam(model, X, y, epochs, batch_size, lr0, decay_rate, betas=(0.9, 0.999), eps=1e-8):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr0, betas=betas, eps=eps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1 / (1 + decay_rate * epoch))
    losses = []
    for epoch in range(epochs):
        for X_b, y_b in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(X_b), y_b)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
    return losses
''', frozenset({"train_adam"}), "no shuffling"),
    Bug("train_adam_loss_after_step", "train_adam",
        _replace("train_adam", "            losses.append(loss.item())",
                 "            with torch.no_grad():\n"
                 "                losses.append(F.cross_entropy(model(X_b), y_b).item())"),
        frozenset({"train_adam"}), "computed before optimizer.step()"),
    Bug("train_adam_calls_course_adam", "train_adam",
        _replace("train_adam", "import torch\n", "import torch\nfrom cnn_course.pt.optim import Adam\n").replace(
            "torch.optim.Adam(model.parameters(), lr=lr0, betas=betas, eps=eps)",
            "Adam(model.parameters(), lr=lr0, beta1=betas[0], beta2=betas[1], eps=eps)"),
        frozenset({"train_adam"}), "cnn_course.pt"),
]

# --------------------------------------------------------------------------- nbgrader pipeline

# Bugs autograded end to end by default: the ones the course brief names first
# (CNN_COURSE_ALL_BUGS=1 grades every bug).
PIPELINE_BUGS = [
    "adam_no_bias_correction",
    "adam_moments_swapped",
    "momentum_no_one_minus",
    "rmsprop_eps_inside",
    "dropout_no_scale",
    "mini_batches_drop_last",
    "he_xavier_scale",
    "cross_entropy_no_shift",
    "cross_entropy_sum",
    "l2_cost_lambda_over_m",
    "l2_backward_in_place",
    "gradient_check_one_sided",
    "train_adam_scheduler_per_batch",
    "gradient_check_float32_copies",
    "train_adam_shuffled",
    "gradient_check_zero_is_nan",
]

# The bug whose feedback page the pipeline reads.
FEEDBACK_BUG = "adam_no_bias_correction"

# Submissions that misbehave, graded alongside the others:
# name -> ({answer cell: source}, the test cells that must score 0). Everything else
# keeps full marks (no other exercise calls these two functions).
MISBEHAVING = {
    # Hangs in the test cell (and in the two demo cells that call it: the worked example and
    # the optimisation paths); each is interrupted at the cell timeout.
    "rmsprop_infinite_loop": (
        {"rmsprop_update": "def rmsprop_update(w, dw, state, lr=0.001, beta=0.9, eps=1e-8):\n    while True:\n"
                           "        pass"},
        {"test_rmsprop_update"},
    ),
    # Kills the kernel while the answer cell runs; the function is then never defined (the
    # demos that call it fail too, but they are not graded; train_adam's check uses its own Adam).
    "momentum_kernel_crash": (
        {"momentum_update": "import os\nos._exit(1)\n\ndef momentum_update(w, dw, state, lr=0.01, beta=0.9):\n"
                            "    pass"},
        {"test_momentum_update"},
    ),
}
