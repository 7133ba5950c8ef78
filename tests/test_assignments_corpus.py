"""No false alarm: our correct assignment-style layers pass in float64 and float32."""

import pytest
from assignment_support import CORPUS, implementation, planted

from oracle.run import judge

PAIRS = [(file, label) for file, labels in {
    "layers.py": ["affine", "relu", "sigmoid", "batchnorm", "batchnorm_alt", "layernorm", "dropout", "conv_naive",
                  "max_pool_naive", "spatial_batchnorm", "spatial_groupnorm", "softmax_loss", "svm_loss"],
    "fast_layers.py": ["conv_fast", "max_pool_fast"],
    "rnn_layers.py": ["rnn_step", "rnn", "lstm_step", "lstm", "word_embedding", "temporal_affine",
                      "temporal_softmax_loss"],
}.items() for label in labels]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("file, label", PAIRS, ids=[label for _, label in PAIRS])
def test_correct_assignment_code_passes(file, label, dtype):
    v = judge(implementation(CORPUS / file, label), dtype, examples=12, seed=7)
    assert v.status == "passed", v.message


def test_a_float64_gradient_for_a_float32_input_is_reported_and_its_values_judged():
    impl = implementation(CORPUS / "layers.py", "dropout")     # dx = dout * mask, the mask float64
    v = judge(impl, "float32", examples=12, seed=7)
    assert v.status == "passed"
    assert any("float64 for a float32 input" in hint for hint in v.hints)
    assert "float64 for a float32 input" in v.message


def test_the_same_gradient_fails_the_gate_when_the_setting_is_fail():
    impl = implementation(CORPUS / "layers.py", "dropout")
    impl.float64_grads = "fail"
    v = judge(impl, "float32", examples=12, seed=7)
    assert (v.status, v.check) == ("failed", "dtype")


def test_plugins_are_strict_by_default_and_may_choose():
    from oracle.plugin import Plugin

    def relu(x):
        return x * (x > 0), lambda g: (g * (x > 0)).astype("float64")

    strict, lenient = Plugin("strict"), Plugin("lenient", float64_grads="warn")
    for plugin in (strict, lenient):
        plugin.pullback("relu", relu)
    assert judge(strict.implementations[0], "float32", examples=5).check == "dtype"
    assert judge(lenient.implementations[0], "float32", examples=5).status == "passed"


def test_a_float64_gradient_with_wrong_values_still_fails_on_its_values(tmp_path):
    # db built in np.zeros (float64) and divided by N: the dtype is only reported, the value fails.
    path = planted(tmp_path, "layers.py", "    db = np.sum(dout, axis=0)\n",
                   "    db = np.zeros(b.shape)\n    db += np.sum(dout, axis=0) / x.shape[0]\n")
    v = judge(implementation(path, "affine"), "float32", examples=25, seed=7)
    assert (v.status, v.check, v.argument) == ("failed", "reference", "b"), v.message
    assert any("float64 for a float32 input" in hint for hint in v.hints)
