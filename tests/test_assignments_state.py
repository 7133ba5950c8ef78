"""Batchnorm's running statistics: updated in train mode and used in test mode, reported as their own check."""

import pytest
from assignment_support import CORPUS, planted, verdict


@pytest.mark.parametrize("label", ["batchnorm", "spatial_batchnorm"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_correct_running_statistics_pass(label, dtype):
    v = verdict(CORPUS / "layers.py", label, dtype, examples=15)
    assert v.status == "passed", v.message
    assert "running_stats" in v.checks


@pytest.mark.parametrize("old, new, words", [
    ("running_var = momentum * running_var + (1 - momentum) * var",
     "running_var = momentum * running_var + (1 - momentum) * x.var(axis=0, ddof=1)", "running_var"),
    ("running_mean = momentum * running_mean + (1 - momentum) * mu",
     "running_mean = (1 - momentum) * running_mean + momentum * mu", "running_mean"),
    ('    bn_param["running_mean"] = running_mean\n', "", "running_mean"),
    ("out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta",
     "out = gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + beta", "test mode"),
])
def test_wrong_running_statistics_fail_their_own_check(tmp_path, old, new, words):
    v = verdict(planted(tmp_path, "layers.py", old, new), "batchnorm", examples=15)
    assert (v.status, v.check) == ("failed", "running_stats"), v.message
    assert words in v.message
    assert v.source_function == "batchnorm_forward"


def test_the_gradients_are_still_judged_separately(tmp_path):
    v = verdict(planted(tmp_path, "layers.py", "    dx = dxc - dxc.mean(axis=0)\n", "    dx = dxc\n"),
                "batchnorm", examples=15)
    assert (v.status, v.check, v.argument) == ("failed", "reference", "x")
    assert v.source_function == "batchnorm_backward"
