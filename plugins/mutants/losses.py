"""Wrong classifier outputs and losses: CS231n's softmax and SVM losses, the lecture's two-layer net."""

from __future__ import annotations

import numpy as np


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _log_probs(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


# --------------------------------------------------------------------------- softmax

def softmax_forward(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    out = e / e.sum(axis=1, keepdims=True)
    return out, out


def softmax_backward_diagonal_only(dout, cache):
    """Each output treated as if it depended on its own input only: s(1 - s), no -sᵢsⱼ terms."""
    s = cache
    return dout * s * (1 - s)


def softmax_loss_missing_mean(x, y):
    """The loss is averaged over the batch; its gradient is not."""
    n = x.shape[0]
    log_probs = _log_probs(x)
    loss = -log_probs[np.arange(n), y].sum() / n
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return loss, dx


def softmax_loss_squeezed_batch(x, y):
    """The batch size read after squeezing the scores, which takes the class count when there is one row."""
    n = len(np.atleast_1d(x.squeeze()))
    rows = np.arange(x.shape[0])
    log_probs = _log_probs(x)
    loss = -log_probs[rows, y].sum() / n
    dx = np.exp(log_probs)
    dx[rows, y] -= 1
    return loss, dx / n


# --------------------------------------------------------------------------- SVM

def svm_loss_counts_correct_class(x, y):
    """The correct class's own margin (always 1) is never zeroed, so it is counted in the loss."""
    n = x.shape[0]
    rows = np.arange(n)
    margins = np.maximum(0, x - x[rows, y][:, None] + 1)
    loss = margins.sum() / n
    positive = (margins > 0).astype(x.dtype)
    dx = positive
    dx[rows, y] -= positive.sum(axis=1)
    return loss, dx / n


def svm_loss_count_not_reset(x, y):
    """The loop's counter of positive margins is set once, not per example."""
    n, classes = x.shape
    loss = 0.0
    dx = np.zeros_like(x)
    count = 0
    for i in range(n):
        for j in range(classes):
            if j == y[i]:
                continue
            margin = x[i, j] - x[i, y[i]] + 1
            if margin > 0:
                loss += margin
                dx[i, j] += 1
                count += 1
        dx[i, y[i]] -= count
    return loss / n, dx / n


# --------------------------------------------------------------------------- mean squared error

def mse_target_sign(y_pred, y):
    """The target's gradient given the prediction's sign."""
    diff = y_pred - y
    d = 2 * diff / diff.size
    return np.mean(diff**2), (d, d)


# --------------------------------------------------------------------------- the two-layer net

def two_layer_net_forward_order(weights, x, y):
    """A small tape whose backward walks the recorded steps first to last instead of last to first."""
    w1, w2 = weights["w1"], weights["w2"]
    z = x @ w1
    h = _sigmoid(z)
    p = h @ w2
    r = p - y
    loss = np.sum(r**2)

    grads = {name: np.zeros_like(value) for name, value in dict(w1=w1, w2=w2, z=z, h=h, p=p, r=r).items()}

    def add(name, value):
        grads[name] += value

    steps = [                                                         # recorded as the forward ran
        lambda: add("w1", x.T @ grads["z"]),                          # z = x w1
        lambda: add("z", grads["h"] * h * (1 - h)),                   # h = σ(z)
        lambda: (add("h", grads["p"] @ w2.T), add("w2", h.T @ grads["p"])),  # p = h w2
        lambda: add("p", grads["r"]),                                 # r = p - y
        lambda: add("r", 2 * r),                                      # loss = Σ r²
    ]
    for step in steps:
        step()
    return loss, {"w1": grads["w1"], "w2": grads["w2"]}


def two_layer_net_missing_two(weights, x, y):
    """d(r²)/dr written as r: both weight gradients are half the truth."""
    w1, w2 = weights["w1"], weights["w2"]
    h = _sigmoid(x @ w1)
    r = h @ w2 - y
    loss = np.sum(r**2)
    dp = r
    dw2 = h.T @ dp
    dz = (dp @ w2.T) * h * (1 - h)
    dw1 = x.T @ dz
    return loss, {"w1": dw1, "w2": dw2}


def register(plugin) -> None:
    plugin.layer("softmax", softmax_forward, softmax_backward_diagonal_only, name="softmax_missing_off_diagonal")
    plugin.value_and_grad("softmax_cross_entropy", softmax_loss_missing_mean, name="softmax_cross_entropy_missing_mean")
    plugin.value_and_grad("softmax_cross_entropy", softmax_loss_squeezed_batch, name="softmax_cross_entropy_squeezed")
    plugin.value_and_grad("svm_loss", svm_loss_counts_correct_class, name="svm_counts_correct_class")
    plugin.value_and_grad("svm_loss", svm_loss_count_not_reset, name="svm_count_not_reset")
    plugin.value_and_grad("mse", mse_target_sign, name="mse_target_sign")
    plugin.loss("two_layer_net", two_layer_net_forward_order, name="two_layer_net_forward_order")
    plugin.loss("two_layer_net", two_layer_net_missing_two, name="two_layer_net_missing_two")
