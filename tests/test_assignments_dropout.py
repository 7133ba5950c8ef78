"""Dropout judged from its own output, whatever RNG it uses; the backward against the mask it revealed."""

import pytest
from assignment_support import CORPUS, planted, verdict

KEEP_MASK = "mask = (np.random.rand(*x.shape) < p) / p"


def dropout(tmp_path, old=None, new=None, dtype="float64", examples=25):
    path = planted(tmp_path, "layers.py", old, new) if old else CORPUS / "layers.py"
    return verdict(path, "dropout", dtype, examples=examples)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_p_as_keep_probability_passes(dtype):
    v = dropout(None, dtype=dtype)
    assert v.status == "passed", v.message
    assert "dropout_mask" in v.checks and "finite_differences" not in v.checks


def test_p_as_drop_probability_passes_too(tmp_path):
    v = dropout(tmp_path, KEEP_MASK, "mask = (np.random.rand(*x.shape) >= p) / (1 - p)")
    assert v.status == "passed", v.message


def test_any_rng_is_fine_even_one_that_ignores_the_seed(tmp_path):
    v = dropout(tmp_path, KEEP_MASK, "mask = (np.random.default_rng().random(x.shape) < p) / p")
    assert v.status == "passed", v.message


def test_a_missing_rescale_fails_the_forward(tmp_path):
    v = dropout(tmp_path, KEEP_MASK, "mask = (np.random.rand(*x.shape) < p) * 1.0")
    assert (v.status, v.check) == ("failed", "dropout_forward")
    assert "missing or wrong rescale" in v.message
    assert v.source_function == "dropout_forward"


def test_a_rescale_that_reads_p_the_other_way_from_the_mask_fails(tmp_path):
    v = dropout(tmp_path, KEEP_MASK, "mask = (np.random.rand(*x.shape) < p) / (1 - p)")
    assert (v.status, v.check) == ("failed", "dropout_forward")
    assert "read p differently" in v.message


def test_reading_p_one_way_at_one_value_and_another_at_another_fails(tmp_path):
    v = dropout(tmp_path, KEEP_MASK, "keep = p if p > 0.5 else 1 - p\n        mask = (np.random.rand(*x.shape) < keep) / keep")
    assert (v.status, v.check) == ("failed", "dropout_forward")


def test_test_mode_must_be_the_identity(tmp_path):
    v = dropout(tmp_path, '''    elif mode == "test":
        out = x
    cache''', '''    elif mode == "test":
        out = x * p
    cache''')
    assert (v.status, v.check) == ("failed", "dropout_forward")
    assert "test mode" in v.message
    assert v.case.hyper["mode"] == "test"


def test_a_backward_with_a_fresh_mask_fails_against_the_revealed_one(tmp_path):
    v = dropout(tmp_path, '''        dx = dout * mask
''', '''        dx = dout * (np.random.rand(*dout.shape) < dropout_param["p"]) / dropout_param["p"]
''')
    # Shrinking may settle on a case where the fresh mask happens to match this forward's, but not the next call's.
    assert v.status == "failed" and v.check in ("dropout_backward", "linearity", "determinism")
    assert v.source_function == "dropout_backward"


def test_a_backward_that_forgets_the_rescale_fails(tmp_path):
    v = dropout(tmp_path, '''        dx = dout * mask
''', '''        dx = dout * (mask != 0)
''')
    assert (v.status, v.check, v.argument) == ("failed", "dropout_backward", "x")


def test_a_mask_that_scales_by_random_amounts_fails_the_forward(tmp_path):
    # Shrunk to one element, it is a kept element with the wrong scale.
    v = dropout(tmp_path, KEEP_MASK, "mask = np.random.rand(*x.shape) / p")
    assert (v.status, v.check, v.source_function) == ("failed", "dropout_forward", "dropout_forward")


def test_the_backward_in_test_mode_must_pass_the_upstream_gradient_through(tmp_path):
    v = dropout(tmp_path, '''    elif mode == "test":
        dx = dout
''', '''    elif mode == "test":
        dx = dout * dropout_param["p"]
''')
    assert (v.status, v.check, v.source_function) == ("failed", "dropout_backward", "dropout_backward")
    assert v.case.hyper["mode"] == "test"
