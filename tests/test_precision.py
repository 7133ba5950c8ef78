"""Verdict precision: no false alarm from rounding in any dtype, yet errors near the rounding limit fail.

Correct textbook code cancels where the reference does not (a batch of one, one feature, one
class, a saturated sigmoid); such a case is judged against what rounding in its dtype can do
there, and where that is as large as the gradient itself the case is inconclusive, never failed.
"""

from dataclasses import replace

import numpy as np
import pytest
from oracle.plugins.textbook import layers as textbook_layers
from oracle.plugins.textbook import losses as textbook_losses
from oracle.plugins.textbook.elementwise import SigmoidGate

from oracle.cases import build_case
from oracle.checks import run_checks
from oracle.testing import as_plugin


def judged(implementation, op, dims, dtype="float32", convention=None, hyper=None, seed=5, inputs=None):
    (impl,) = as_plugin(implementation, op, convention).implementations
    case = build_case(impl.spec, dtype, dims, (), hyper or {}, seed)
    if inputs is not None:
        case = replace(case, inputs={**case.inputs, **{k: np.asarray(v, dtype=dtype) for k, v in inputs.items()}})
    finding, ev = run_checks(impl, case)
    return finding, ev


BATCHNORM = (textbook_layers.batchnorm_forward, textbook_layers.batchnorm_backward_alt)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layer, op, dims", [
    (BATCHNORM, "batchnorm", {"n": 1, "d": 4}),
    ((textbook_layers.batchnorm_forward_staged, textbook_layers.batchnorm_backward_staged), "batchnorm", {"n": 1, "d": 3}),
    ((textbook_layers.layernorm_forward, textbook_layers.layernorm_backward), "layernorm", {"n": 3, "d": 1}),
])
def test_a_true_zero_gradient_buried_in_cancellation_noise_is_no_failure(layer, op, dims, dtype):
    for seed in range(5):
        finding, _ = judged(layer, op, dims, dtype, "layer", {"eps": 1e-5}, seed=seed)
        assert finding is None, finding.message


def test_softmax_cross_entropy_with_one_class_is_no_failure():
    for seed in range(5):
        finding, _ = judged(textbook_losses.softmax_loss_naive, "softmax_cross_entropy", {"n": 3, "c": 1},
                            convention="value_and_grad", seed=seed)
        assert finding is None, finding.message


def test_a_saturated_sigmoid_written_as_one_minus_s_times_s_is_no_failure_in_float32():
    x = np.array([8.5, -9.25, 11.0, 10.125, -7.75, 9.0])
    finding, _ = judged(SigmoidGate, "sigmoid", {"n": 6}, convention="gate", inputs={"x": x})
    assert finding is None, finding.message


def batchnorm_forward_rescaled_mean(x, gamma, beta, eps):
    """A correct forward whose mean rounds (x·0.1 averaged, times 10): with one row, x − μ is rounding noise."""
    mu = (x * np.asarray(0.1, dtype=x.dtype)).mean(axis=0) * np.asarray(10, dtype=x.dtype)
    istd = 1 / np.sqrt(((x - mu) ** 2).mean(axis=0) + eps)
    xhat = (x - mu) * istd
    return gamma * xhat + beta, (xhat, gamma, istd)


def test_where_rounding_is_as_large_as_the_gradient_the_case_is_inconclusive_not_failed():
    layer = (batchnorm_forward_rescaled_mean, textbook_layers.batchnorm_backward_alt)
    outcomes = []
    for seed in range(6):
        finding, ev = judged(layer, "batchnorm", {"n": 1, "d": 3}, "float32", "layer", {"eps": 1e-5}, seed=seed)
        assert finding is None, finding.message
        outcomes.append(ev.inconclusive)
    assert any(outcomes)
    finding, ev = judged(layer, "batchnorm", {"n": 4, "d": 3}, "float32", "layer", {"eps": 1e-5})
    assert finding is None and not ev.inconclusive


def test_a_bug_visible_above_the_rounding_level_still_fails_where_rounding_is_large():
    def batchnorm_upstream_ignored(dout, cache):
        return textbook_layers.batchnorm_backward_alt(np.ones_like(dout), cache)

    layer = (textbook_layers.batchnorm_forward, batchnorm_upstream_ignored)
    finding, _ = judged(layer, "batchnorm", {"n": 3, "d": 3}, "float32", "layer", {"eps": 1e-5})
    assert finding is not None and finding.check == "reference"


def test_a_large_error_on_a_small_gradient_fails_measured_against_the_gradients_own_scale():
    # Inputs near 100 with a spread of about 0.01: the gradient is small everywhere (no absolute floor hides it).
    def batchnorm_one_element_off(dout, cache):
        dx, dgamma, dbeta = textbook_layers.batchnorm_backward_alt(dout, cache)
        dx = dx.copy()
        dx[0, 0] *= 1.24
        return dx, dgamma, dbeta

    x = 100 + np.round(np.random.default_rng(0).uniform(-0.02, 0.02, size=(4, 3)), 3)
    finding, ev = judged((textbook_layers.batchnorm_forward, batchnorm_one_element_off), "batchnorm",
                         {"n": 4, "d": 3}, "float32", "layer", {"eps": 1e-5}, inputs={"x": x, "gamma": np.full(3, 1e-5)})
    assert np.sqrt(np.mean(ev.reference_grads[0] ** 2)) < 1e-3
    assert finding is not None and finding.check == "reference" and finding.argument == "x"
    assert finding.worst[0].index == [0, 0]


@pytest.mark.parametrize("dtype, relative", [("float64", 1e-12), ("float32", 1e-5)])
def test_a_well_conditioned_case_catches_an_error_at_the_sensitivity_limit(dtype, relative):
    def tanh(x):
        y = np.tanh(x)
        return y, lambda g: ((g * (1 - y**2) * (1 + relative)).astype(x.dtype),)

    def right(x):
        y = np.tanh(x)
        return y, lambda g: (g * (1 - y**2),)

    for seed in range(5):
        finding, _ = judged(tanh, "tanh", {"n": 6}, dtype, seed=seed)
        assert finding is not None and finding.check == "reference"
        assert judged(right, "tanh", {"n": 6}, dtype, seed=seed)[0] is None


def test_inconclusive_cases_are_counted_in_the_verdict_and_the_runs_summary():
    from oracle.result import Run
    from oracle.run import judge

    (impl,) = as_plugin((batchnorm_forward_rescaled_mean, textbook_layers.batchnorm_backward_alt), "batchnorm",
                        "layer").implementations
    verdict = judge(impl, "float32", examples=40, seed=2)
    assert verdict.status == "passed" and verdict.inconclusive > 0
    assert f"({verdict.inconclusive} inconclusive: rounding in float32" in verdict.message
    assert Run(seed=0, verdicts=[verdict]).summary_line().endswith(
        f"{verdict.inconclusive} inconclusive case{'s' if verdict.inconclusive != 1 else ''}")
