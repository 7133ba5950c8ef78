"""The diagnosis kinds added for bugs people make in staged backward code: each from its evidence alone.

Each test writes a small wrong implementation (not a mutant), runs the checks on one fixed
case and reads the diagnosis as data: its kind, never parsed from the text.
"""

import numpy as np
from oracle.plugins.mutants.layers import (
    conv2d_forward,
    max_pool2d_backward_overwrites,
    max_pool2d_forward,
)

from oracle.cases import build_case
from oracle.plugins.mutants.kernels import conv2d_backward_dw_flipped
from oracle.checks import run_checks
from oracle.diagnose import KINDS, diagnose
from oracle.testing import as_plugin


def diagnosed(implementation, op, dims, convention="pullback", dtype="float64", hyper=None, batch=(), seed=3,
              before=None):
    (impl,) = as_plugin(implementation, op, convention).implementations
    case = build_case(impl.spec, dtype, dims, batch, hyper or {}, seed)
    if before is not None:  # an earlier call, on other inputs of the same shapes
        impl.vjp(*build_case(impl.spec, dtype, dims, batch, hyper or {}, before).args())
    finding, evaluation = run_checks(impl, case)
    assert finding is not None, "the case was expected to fail"
    found = diagnose(impl.spec, finding, evaluation)
    assert found is None or found["kind"] in KINDS
    return found


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_a_derivative_written_through_the_output_but_evaluated_on_the_input():
    def sig(x):
        y = sigmoid(x)
        return y, lambda g: (g * x * (1 - x),)

    found = diagnosed(sig, "sigmoid", {"n": 5})
    assert found["kind"] == "input_for_output"
    assert found["evidence"] == {"meant": "y", "used": "x", "formula": "t·(1 − t)"}
    assert "y·(1 − y)" in found["text"] and "x·(1 − x)" in found["text"]


def test_a_derivative_written_through_the_input_but_evaluated_on_the_output_is_taken_at_the_output():
    def log(x):
        y = np.log(x)
        return y, lambda g: (g / y,)

    assert diagnosed(log, "log", {"n": 5})["kind"] == "output"


def test_a_value_kept_from_the_previous_call_is_stale():
    kept = {}

    def exp(x):
        previous = kept.get("x", x)
        kept["x"] = x
        return np.exp(x), lambda g: (g * np.exp(previous),)

    found = diagnosed(exp, "exp", {"n": 4}, before=11)
    assert found["kind"] == "stale"
    assert found["evidence"]["order"] == "previous call"


def test_overlapping_windows_overwritten_instead_of_accumulated():
    (impl,) = as_plugin((max_pool2d_forward, max_pool2d_backward_overwrites), "max_pool2d", "layer").implementations
    for seed in range(40):  # a case where one element is the maximum of two overlapping windows
        case = build_case(impl.spec, "float64", {"n": 1, "c": 1, "h": 3, "w": 3}, (), {"size": 2, "stride": 1}, seed)
        finding, ev = run_checks(impl, case)
        if finding is not None and finding.check == "reference":
            break
    found = diagnose(impl.spec, finding, ev)
    assert found["kind"] == "overwritten"
    assert found["evidence"]["at"]


def test_a_flipped_kernel_gradient_is_named():
    found = diagnosed((conv2d_forward, conv2d_backward_dw_flipped), "conv2d",
                      {"n": 1, "c": 1, "f": 1, "h": 4, "w": 4, "hh": 2, "ww": 2}, convention="layer",
                      hyper={"stride": 1, "pad": 0})
    assert found["kind"] == "kernel"


def test_precision_lost_in_float32_only_is_not_called_a_multiple():
    def mul(x, y):
        return x * y, lambda g: ((g * y + 3000) - 3000, g * x)

    found = diagnosed(mul, "mul", {"n": 12}, dtype="float32")
    assert found["kind"] == "precision32"
    assert found["evidence"]["error_float64"] < 1e-9 < found["evidence"]["error_float32"]
    assert "× the reference" not in found["text"]


def test_a_forward_that_loses_precision_in_float32_only_is_not_called_a_multiple():
    # A shift "for stability" that is added and taken away again: x + 3000 keeps only a few bits
    # of x in float32, so the outputs are off by rounding-sized amounts, right in float64.
    def softmax(x):
        shifted = (x + np.asarray(3000.0, dtype=x.dtype)) - np.asarray(3000.0, dtype=x.dtype)
        e = np.exp(shifted - shifted.max(axis=1, keepdims=True))
        s = e / e.sum(axis=1, keepdims=True)
        return s, lambda g: (s * (g - (g * s).sum(axis=1, keepdims=True)),)

    found = diagnosed(softmax, "softmax", {"n": 3, "c": 4}, dtype="float32")
    assert found["kind"] == "precision32"
    assert found["evidence"]["where"] == "output"
    assert found["evidence"]["error_float64"] < 1e-9 < found["evidence"]["error_float32"]
    assert "× the reference" not in found["text"]


def test_a_sign_typo_in_one_term_is_named_with_the_term():
    def tanh(x):
        y = np.tanh(x)
        return y, lambda g: (g * (1 + y**2),)

    found = diagnosed(tanh, "tanh", {"n": 5})
    assert found["kind"] == "typo"
    assert found["evidence"]["multiple"] == 2.0
    assert set(found["evidence"]["term"].split("·")) == {"g", "y"}


def test_a_constant_typo_in_one_term_of_a_staged_softmax_backward():
    def softmax(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        s = e / e.sum(axis=1, keepdims=True)
        return s, lambda g: (s * (g - 2 * (g * s).sum(axis=1, keepdims=True)),)

    found = diagnosed(softmax, "softmax", {"n": 2, "c": 3})
    assert found["kind"] == "typo"
