"""The catalogue ops of the assignment files mean what the assignments say, on values worked out by hand.

(Every correct pair of the corpus also agrees with these references at drawn sizes:
tests/test_assignments_corpus.py. Here each meaning is pinned down on its own.)
"""

import jax
import numpy as np
import pytest
from oracle.specs import get

ASSIGNMENT_OPS = ["affine_nd", "batchnorm_running", "spatial_batchnorm", "spatial_groupnorm", "max_pool", "rnn_step",
                  "rnn", "lstm_step", "lstm", "word_embedding", "temporal_affine", "temporal_softmax_loss"]


def reference(name, *args):
    with jax.enable_x64(True):
        out = get(name).reference(*[np.asarray(a) if isinstance(a, (list, np.ndarray)) else a for a in args])
        return jax.tree_util.tree_map(np.asarray, out)


def pullback(name, dout, *args, wrt=0):
    """The reference's gradient for argument `wrt` given the upstream `dout`."""
    with jax.enable_x64(True):
        arrays = [np.asarray(a, dtype=np.float64) if isinstance(a, np.ndarray) else a for a in args]

        def f(a):
            return get(name).reference(*arrays[:wrt], a, *arrays[wrt + 1:])

        _, vjp = jax.vjp(f, arrays[wrt])
        return np.asarray(vjp(np.asarray(dout, dtype=np.float64))[0])


@pytest.mark.parametrize("name", ASSIGNMENT_OPS)
def test_every_assignment_op_has_a_jax_reference_and_one_line_of_math(name):
    spec = get(name)
    assert callable(spec.reference)
    assert spec.math.strip() and "\n" not in spec.math


def test_dropout_has_no_reference_and_is_judged_by_its_own_mask():
    spec = get("dropout_any")
    assert spec.reference is None and spec.stochastic and "dropout_mask" in spec.properties


def test_affine_flattens_every_feature_dim_and_reshapes_the_gradient_back():
    x = np.arange(12.0).reshape(2, 3, 2)
    w = np.arange(18.0).reshape(6, 3) / 10
    out = reference("affine_nd", x, w, np.array([1.0, 0.0, -1.0]))
    assert np.allclose(out, np.einsum("nij,ijm->nm", x, w.reshape(3, 2, 3)) + [1.0, 0.0, -1.0])
    assert pullback("affine_nd", np.ones((2, 3)), x, w, np.zeros(3)).shape == (2, 3, 2)


def test_batchnorm_normalises_each_feature_over_the_batch_with_the_biased_variance():
    x = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 16.0]])   # means 3 and 12; biased variances 8/3 and 8
    out = reference("batchnorm_running", x, np.array([2.0, 1.0]), np.array([0.0, 1.0]), 0.0, 0.9)
    assert np.allclose(out[:, 0], 2 * np.array([-2.0, 0.0, 2.0]) / np.sqrt(8 / 3))
    assert np.allclose(out[:, 1], 1 + np.array([-2.0, -2.0, 4.0]) / np.sqrt(8))


def test_spatial_batchnorm_normalises_each_channel_over_batch_height_and_width():
    x = np.array([1.0, 3.0, 5.0, 7.0]).reshape(2, 1, 1, 2)    # one channel: mean 4, biased variance 5
    out = reference("spatial_batchnorm", x, np.array([1.0]), np.array([0.0]), 0.0, 0.9)
    assert np.allclose(out.ravel(), (np.array([1.0, 3.0, 5.0, 7.0]) - 4) / np.sqrt(5))


def test_groupnorm_normalises_each_group_of_channels_of_each_sample():
    x = np.array([1.0, 3.0, 10.0, 14.0]).reshape(1, 4, 1, 1)  # G = 2: groups (1, 3) and (10, 14)
    gamma, beta = np.ones((1, 4, 1, 1)), np.array([0.0, 0.0, 0.0, 5.0]).reshape(1, 4, 1, 1)
    out = reference("spatial_groupnorm", x, gamma, beta, 2, 0.0)
    assert np.allclose(out.ravel(), [-1.0, 1.0, -1.0, 6.0])


def test_max_pool_windows_are_non_square_overlapping_and_floored():
    x = np.array([[1.0, 5.0, 2.0], [4.0, 0.0, 3.0]]).reshape(1, 1, 2, 3)
    assert reference("max_pool", x, 1, 2, 1).reshape(2, 2).tolist() == [[5.0, 5.0], [4.0, 3.0]]
    assert reference("max_pool", x, 2, 1, 1).reshape(1, 3).tolist() == [[4.0, 5.0, 3.0]]
    assert reference("max_pool", x, 2, 2, 2).reshape(1, 1).tolist() == [[5.0]]     # the third column is left out
    # Where windows overlap, the maximum both share gets both their gradients.
    assert pullback("max_pool", np.ones((1, 1, 1, 2)), x[:, :, :1], 1, 2, 1).ravel().tolist() == [0.0, 2.0, 0.0]


def test_rnn_is_the_step_repeated_from_h0():
    rng = np.random.default_rng(0)
    x, h0 = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5))
    wx, wh, b = rng.normal(size=(4, 5)), rng.normal(size=(5, 5)), rng.normal(size=5)
    h, hs = h0, []
    for t in range(3):
        h = np.tanh(x[:, t] @ wx + h @ wh + b)
        hs.append(h)
    assert np.allclose(reference("rnn_step", x[:, 0], h0, wx, wh, b), hs[0])
    assert np.allclose(reference("rnn", x, h0, wx, wh, b), np.stack(hs, axis=1))


def test_lstm_gates_are_stacked_input_forget_output_block_as_in_the_assignment():
    # With no weights, a = b: i open, f shut, o open, g = 0.5, so c' = tanh(0.5) whatever prev_c is.
    b = np.array([30.0, -30.0, 30.0, 0.5])
    zeros_x, zeros_w = np.zeros((1, 1)), np.zeros((1, 4))
    next_h, next_c = reference("lstm_step", zeros_x, np.zeros((1, 1)), np.full((1, 1), 7.0), zeros_w, zeros_w, b)
    assert np.allclose(next_c, np.tanh(0.5)) and np.allclose(next_h, np.tanh(np.tanh(0.5)))
    # A whole sequence starts from c0 = 0 and returns every hidden state.
    hs = reference("lstm", np.zeros((1, 2, 1)), np.zeros((1, 1)), zeros_w, zeros_w, b)
    c1 = np.tanh(0.5)
    assert np.allclose(hs.ravel(), [np.tanh(c1), np.tanh(c1)])


def test_a_repeated_word_adds_its_gradients():
    w = np.arange(6.0).reshape(3, 2)
    x = np.array([[0, 2, 0]])
    assert reference("word_embedding", x, w).tolist() == [[[0.0, 1.0], [4.0, 5.0], [0.0, 1.0]]]
    with jax.enable_x64(True):
        _, vjp = jax.vjp(lambda m: get("word_embedding").reference(x, m), w)
        (dw,) = vjp(np.ones((1, 3, 2)))
    assert np.asarray(dw).tolist() == [[2.0, 2.0], [0.0, 0.0], [1.0, 1.0]]


def test_temporal_affine_applies_one_affine_at_every_step():
    x = np.arange(12.0).reshape(2, 3, 2)
    w, b = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]]), np.array([0.5, 0.0, 0.0])
    assert np.allclose(reference("temporal_affine", x, w, b), np.einsum("ntd,dm->ntm", x, w) + b)


def test_temporal_softmax_loss_sums_the_unmasked_steps_and_divides_by_n():
    x = np.zeros((2, 2, 2))                 # every step: log p = -log 2
    y = np.array([[0, 1], [1, 0]])
    mask = np.array([[True, True], [True, False]])
    assert np.isclose(reference("temporal_softmax_loss", x, y, mask), 3 * np.log(2) / 2)
    with jax.enable_x64(True):
        _, vjp = jax.vjp(lambda a: get("temporal_softmax_loss").reference(a, y, mask), x)
        (dx,) = vjp(np.float64(1.0))
    assert np.allclose(np.asarray(dx)[1, 1], 0.0)                   # a masked step gets no gradient
    assert np.allclose(np.asarray(dx)[0, 0], [-0.25, 0.25])          # (softmax - onehot) / N
