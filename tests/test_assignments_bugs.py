"""Each classic assignment bug, planted in a copy of the correct corpus, is caught and blamed on the right function."""

import pytest
from assignment_support import planted, verdict

BUGS = [
    # (file, label, correct text, planted text, check expected, function blamed)
    ("layers.py", "affine", "dx = dout.dot(w.T).reshape(x.shape)", "dx = dout.dot(w.T)", "shape", "affine_backward"),
    ("layers.py", "conv_naive", "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]", "dx = dx_pad[:, :, pad:-pad, pad:-pad]",
     "shape", "conv_backward_naive"),
    ("layers.py", "max_pool_naive", "dx[n, c, i * stride + r, j * stride + s] += dout[n, c, i, j]",
     "dx[n, c, i * stride + r, j * stride + s] = dout[n, c, i, j]", "reference", "max_pool_backward_naive"),
    ("fast_layers.py", "max_pool_fast", "np.add.at(dx, (n, c, i * stride + r, j * stride + s), dout)",
     "dx[n, c, i * stride + r, j * stride + s] = dout", "reference", "max_pool_backward_fast"),
    ("layers.py", "affine", "out = x.reshape(x.shape[0], -1).dot(w) + b", "out = x.reshape(x.shape[0], -1).dot(w) - b",
     "forward", "affine_forward"),
    ("layers.py", "softmax_loss", "dx[np.arange(N), y] -= 1\n    dx /= N", "dx[np.arange(N), y] -= 1", "reference",
     "softmax_loss"),
    ("layers.py", "layernorm", "dx = (D * dxhat - dxhat.sum(axis=1, keepdims=True)",
     "dx = (D * dxhat - dxhat.sum(axis=0, keepdims=True)", "reference", "layernorm_backward"),
    ("layers.py", "spatial_groupnorm", "dgamma = np.sum(dout * xhat, axis=(0, 2, 3), keepdims=True)",
     "dgamma = np.sum(dout * xhat, axis=(0, 2, 3))", "shape", "spatial_groupnorm_backward"),
    ("rnn_layers.py", "word_embedding", "np.add.at(dW, x, dout)", "dW[x] = dout", "reference", "word_embedding_backward"),
    ("rnn_layers.py", "rnn", "rnn_step_backward(dh[:, t] + dprev, cache[t])", "rnn_step_backward(dh[:, t], cache[t])",
     "reference", "rnn_backward"),
    ("rnn_layers.py", "lstm_step", "dprev_c = dc * f", "dprev_c = dc", "reference", "lstm_step_backward"),
    ("rnn_layers.py", "temporal_softmax_loss", "    dx_flat *= mask_flat[:, None]\n", "", "reference",
     "temporal_softmax_loss"),
]


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """The verdict on a copy of the corpus with one bug planted, judged once for every test that reads it."""
    verdicts = {}

    def judge_planted(file, label, old, new):
        if (file, label, old, new) not in verdicts:
            path = planted(tmp_path_factory.mktemp("planted"), file, old, new)
            verdicts[file, label, old, new] = verdict(path, label, examples=25)
        return verdicts[file, label, old, new]

    return judge_planted


@pytest.mark.parametrize("file, label, old, new, check, function", BUGS, ids=[f"{b[1]}-{b[4]}" for b in BUGS])
def test_a_planted_bug_is_caught_and_blamed_on_its_function(judged, file, label, old, new, check, function):
    v = judged(file, label, old, new)
    assert (v.status, v.check) == ("failed", check), v.message
    assert v.source_function == function
    assert v.source_file.endswith(file) and v.source_line > 0


def test_the_unpadding_bug_shrinks_to_pad_zero(judged):
    v = judged("layers.py", "conv_naive", "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]", "dx = dx_pad[:, :, pad:-pad, pad:-pad]")
    assert v.case.hyper["pad"] == 0
    assert v.facts["got_shape"][2:] == [0, 0]


def test_the_overwrite_bug_shrinks_to_overlapping_windows(judged):
    v = judged("layers.py", "max_pool_naive", "dx[n, c, i * stride + r, j * stride + s] += dout[n, c, i, j]",
               "dx[n, c, i * stride + r, j * stride + s] = dout[n, c, i, j]")
    hyper = v.case.hyper
    assert hyper["stride"] < max(hyper["pool_height"], hyper["pool_width"])


def test_a_pool_backward_that_assumes_square_windows_is_caught_on_a_non_square_pool(tmp_path):
    # Right for every square pool: only a pool_height × pool_width window with the two different shows it.
    path = planted(tmp_path, "layers.py", "window = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw]",
                   "window = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + ph]")
    v = verdict(path, "max_pool_naive", examples=25)
    assert (v.status, v.check, v.source_function) == ("failed", "reference", "max_pool_backward_naive"), v.message
    assert v.case.hyper["pool_height"] != v.case.hyper["pool_width"]
