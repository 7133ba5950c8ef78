"""A wrong gradient is described by what it looks like, from the evidence of its case alone.

Each test writes a small wrong implementation (not one of the mutants: the diagnosis must
be general), evaluates it on a fixed case, and reads the diagnosis of the first finding.
"""

import json

import numpy as np
import pytest

import oracle
from oracle.cases import build_case
from oracle.checks import run_checks
from oracle.diagnose import KINDS, diagnose
from oracle.testing import as_plugin


def diagnosis_of(implementation, op, dims, convention="pullback", dtype="float64", hyper=None, batch=(), seed=3):
    """(finding, diagnosis) of the implementation on one fixed case; the case must fail."""
    (impl,) = as_plugin(implementation, op, convention).implementations
    case = build_case(impl.spec, dtype, dims, batch, hyper or {}, seed)
    finding, evaluation = run_checks(impl, case)
    assert finding is not None, "the case was expected to fail"
    found = diagnose(impl.spec, finding, evaluation)
    if found is not None:  # a diagnosis is data: a declared kind, a text, JSON-ready evidence
        assert found["kind"] in KINDS and isinstance(found["text"], str) and isinstance(found["evidence"], dict)
        json.dumps(found, allow_nan=False)
    return finding, found


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# --------------------------------------------------------------------------- transposes, multiples, reductions

def test_a_transposed_gradient_on_square_inputs_looks_like_the_transpose():
    def matmul(a, b):
        return a @ b, lambda g: ((b @ g.T).T, g.T @ a)

    _, text = diagnosis_of(matmul, "matmul", {"n": 3, "k": 3, "m": 3})
    assert text["kind"] == "transpose"
    assert text["text"] == "looks like the transpose of the reference"


def test_a_transposed_gradient_of_the_wrong_shape_names_both_shapes():
    def matmul(a, b):
        return a @ b, lambda g: (g @ b.T, g.T @ a)

    finding, text = diagnosis_of(matmul, "matmul", {"n": 2, "k": 3, "m": 4})
    assert finding.check == "shape"
    assert text["text"] == "looks like the transpose of the reference (shape (4, 3) where (3, 4) was expected)"


@pytest.mark.parametrize("factor, said", [(-1.0, "equals -1 × the reference: the sign is wrong"),
                                          (2.0, "equals 2 × the reference"),
                                          (1 + 1e-5, "equals (1 + 1e-05) × the reference")])
def test_a_multiple_of_the_reference_is_named_with_its_factor(factor, said):
    def tanh(x):
        y = np.tanh(x)
        return y, lambda g: (g * (1 - y**2) * factor,)

    _, text = diagnosis_of(tanh, "tanh", {"n": 4}, batch=(3,))
    assert text["text"] == said
    assert text["kind"] == "scale"


def test_a_factor_equal_to_a_dimension_is_pointed_out():
    def mean(x, axis):
        return np.mean(x, axis=axis), lambda g: (np.broadcast_to(np.expand_dims(g, axis), x.shape).copy(),)

    _, text = diagnosis_of(mean, "mean", {"n": 3, "m": 2}, hyper={"axis": 0})
    assert text["text"] == "equals 3 × the reference (3 is the size of n: a division by n missing?)"


def test_a_factor_that_is_a_ratio_of_two_dimensions_names_both():
    def mean(x, axis):
        return np.mean(x, axis=axis), lambda g: (np.broadcast_to(np.expand_dims(g, axis), x.shape) / x.shape[1],)

    _, text = diagnosis_of(mean, "mean", {"n": 2, "m": 3}, hyper={"axis": 0})
    assert text["text"] == "equals 2/3 × the reference (2/3 is n/m: divided by m instead of n?)"


def test_a_single_element_off_by_an_arbitrary_factor_is_not_called_a_multiple():
    def exp(x):
        y = np.exp(x)
        return y, lambda g: (g * y * 1.2345,)

    _, text = diagnosis_of(exp, "exp", {"n": 1})
    assert text is None or text["kind"] != "scale"


def test_a_broadcast_gradient_left_unreduced_says_which_axis_to_sum():
    def bias_add(x, b):
        return x + b, lambda g: (g, g)

    finding, text = diagnosis_of(bias_add, "bias_add", {"n": 3, "d": 2})
    assert finding.check == "shape"
    assert text["kind"] == "unreduced"
    assert text["text"].startswith("summed over axis 0 it equals the reference")


def test_a_reduced_gradient_not_broadcast_back_says_along_which_axis():
    def total(x, axis):
        return np.sum(x, axis=axis), lambda g: (g,)

    _, text = diagnosis_of(total, "sum", {"n": 3, "m": 2}, hyper={"axis": 1})
    assert text["kind"] == "not_broadcast"
    assert text["text"].startswith("repeated along axis 1 it equals the reference")


def test_a_gradient_summed_over_the_wrong_axis_names_both_axes():
    def affine(x, W, b):
        return x @ W + b, lambda g: (g @ W.T, x.T @ g, g.sum(axis=1))

    _, text = diagnosis_of(affine, "affine", {"n": 3, "d": 2, "m": 3})
    assert text["kind"] == "wrong_axis"
    assert "summed over axis 1, where the reference is it summed over axis 0" in text["text"]


def test_right_values_in_the_wrong_shape_are_recognised():
    def reshape(x, shape):
        return x.reshape(shape), lambda g: (g,)

    _, text = diagnosis_of(reshape, "reshape", {"n": 2, "m": 3}, hyper={"shape": (6,)})
    assert text["kind"] == "reshaped"
    assert "(6,) instead of (2, 3)" in text["text"]


# --------------------------------------------------------------------------- which elements

def test_a_few_wrong_elements_are_listed_by_index():
    def tanh(x):
        y = np.tanh(x)

        def pullback(g):
            dx = g * (1 - y**2)
            dx[0, 2] *= 3.0
            return (dx,)

        return y, pullback

    _, text = diagnosis_of(tanh, "tanh", {"n": 3}, batch=(2,))
    assert text["text"] == "right except at 1 of 6 elements: index (0, 2)"


def test_a_gradient_zeroed_where_it_should_not_be_says_where():
    def leaky_relu(x, alpha):
        return np.where(x > 0, x, alpha * x), lambda g: (g * (x > 0),)

    (impl,) = as_plugin(leaky_relu, "leaky_relu").implementations
    case = build_case(impl.spec, "float64", {"n": 5}, (), {"alpha": 0.1}, seed=3)
    negative = [(int(i),) for i in np.flatnonzero(case.inputs["x"] < 0)]
    assert negative, "the case needs a negative input"
    finding, ev = run_checks(impl, case)
    text = diagnose(impl.spec, finding, ev)
    assert text["kind"] == "zero"
    assert f"at {len(negative)} of 5 elements: index {', '.join(map(str, negative))}" in text["text"]


def test_a_mask_taken_from_the_wrong_comparison_is_called_so():
    def maximum(x, y):
        return np.maximum(x, y), lambda g: (g * (x > 0), g * (y > 0))

    (impl,) = as_plugin(maximum, "max").implementations
    for seed in range(50):  # a case where the wrong mask both drops and leaks gradient
        case = build_case(impl.spec, "float64", {"n": 6}, (), {}, seed)
        x, y = case.inputs["x"], case.inputs["y"]
        if np.any((x > y) & (x < 0)) and np.any((x < y) & (x > 0)):
            break
    finding, ev = run_checks(impl, case)
    assert diagnose(impl.spec, finding, ev)["kind"] == "mask"


def test_a_mask_taken_from_the_upstream_gradient_is_not_linear_in_it():
    def relu(x):
        return np.maximum(x, 0), lambda g: (g * (g > 0),)

    _, text = diagnosis_of(relu, "relu", {"n": 6})
    assert text["kind"] == "nonlinear"


def test_gradient_where_the_reference_is_exactly_zero_is_a_leak():
    def relu(x):
        return np.maximum(x, 0), lambda g: (g,)

    (impl,) = as_plugin(relu, "relu").implementations
    case = build_case(impl.spec, "float64", {"n": 6}, (), {}, seed=3)
    assert np.any(case.inputs["x"] < 0)
    finding, ev = run_checks(impl, case)
    assert diagnose(impl.spec, finding, ev)["kind"] == "leak"


# --------------------------------------------------------------------------- how the gradient was computed

def test_a_derivative_evaluated_at_the_output_is_recognised():
    def tanh(x):
        y = np.tanh(x)
        return y, lambda g: (g * (1 - np.tanh(y) ** 2),)

    _, text = diagnosis_of(tanh, "tanh", {"n": 4})
    assert text["text"] == "matches the derivative taken at the output y = f(x) instead of at the input x"


def test_a_jacobian_used_only_on_its_diagonal_is_recognised():
    def softmax(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        s = e / e.sum(axis=1, keepdims=True)
        return s, lambda g: (g * s * (1 - s),)

    _, text = diagnosis_of(softmax, "softmax", {"n": 2, "c": 3})
    assert text["kind"] == "diagonal"


def test_another_inputs_gradient_is_named():
    def mul(x, y):
        return x * y, lambda g: (g * x, g * y)

    _, text = diagnosis_of(mul, "mul", {"n": 4})
    assert text["kind"] == "swapped"
    assert text["text"].startswith("equals the reference gradient of 'y', not of 'x'")


def test_a_power_off_by_one_is_a_ratio_of_the_input():
    def reciprocal(x):
        return 1 / x, lambda g: (-g / x,)

    _, text = diagnosis_of(reciprocal, "reciprocal", {"n": 4})
    assert text["text"] == "equals the reference multiplied elementwise by 'x': a power off by one?"


def test_a_fan_out_gradient_overwritten_is_the_gradient_through_one_output():
    class Copy:
        def forward(self, x):
            return x, x

        def backward(self, g1, g2):
            return g1

    _, text = diagnosis_of(Copy, "copy", {"n": 3}, convention="gate")
    assert text["kind"] == "partial"
    assert "through output 1 alone" in text["text"]


def test_a_term_constant_along_an_axis_is_an_offset():
    # batchnorm's backward with the term through the batch mean, -mean(dxhat), left out
    from oracle.plugins.mutants.layers import batchnorm_backward_missing_mean as batchnorm_backward
    from oracle.plugins.mutants.layers import batchnorm_forward

    _, text = diagnosis_of((batchnorm_forward, batchnorm_backward), "batchnorm", {"n": 4, "d": 3},
                           convention="layer", hyper={"eps": 1e-5})
    assert text["kind"] == "offset"
    assert "the same along axis 0" in text["text"]


def test_a_forward_off_by_a_constant_is_an_offset():
    def mse(y_pred, y):
        d = y_pred - y
        return np.mean(d**2) + 1, (2 * d / d.size, -2 * d / d.size)

    finding, text = diagnosis_of(mse, "mse", {"n": 2, "d": 2}, convention="value_and_grad")
    assert finding.check == "forward"
    assert text["text"] == "the output differs from the reference by exactly +1: a constant term too many or missing"


def test_a_gradient_rounded_through_half_precision_is_recognised():
    def matmul(a, b):
        def pullback(g):
            h = np.float16
            return ((g.astype(h) @ b.T.astype(h)).astype(a.dtype), a.T @ g)

        return a @ b, pullback

    _, text = diagnosis_of(matmul, "matmul", {"n": 3, "k": 3, "m": 3}, dtype="float32")
    assert text["kind"] == "precision"


# --------------------------------------------------------------------------- asking the implementation again

def test_a_gradient_that_ignores_the_upstream_is_recognised():
    def exp(x):
        y = np.exp(x)
        return y, lambda g: (y,)

    _, text = diagnosis_of(exp, "exp", {"n": 3})
    assert text["text"] == ("the gradient for 'x' does not change with the upstream gradient: "
                    "the upstream gradient was not multiplied in")


def test_a_gradient_not_linear_in_the_upstream_is_recognised():
    def exp(x):
        y = np.exp(x)
        return y, lambda g: (g * np.abs(g) * y,)

    _, text = diagnosis_of(exp, "exp", {"n": 3})
    assert text["kind"] == "nonlinear"


def test_a_gradient_that_changes_between_calls_is_nondeterministic():
    rng = np.random.default_rng()

    def exp(x):
        y = np.exp(x)
        return y, lambda g: (g * y * (1 + rng.uniform(-1e-3, 1e-3, size=y.shape)),)

    _, text = diagnosis_of(exp, "exp", {"n": 3})
    assert text["kind"] == "nondeterministic"


def test_an_input_written_in_place_is_named():
    def relu(x):
        x[x < 0] = 0
        return x.copy(), lambda g: (g * (x > 0),)

    (impl,) = as_plugin(relu, "relu").implementations
    case = build_case(impl.spec, "float64", {"n": 6}, (), {}, seed=3)
    assert np.any(case.inputs["x"] < 0)
    finding, ev = run_checks(impl, case)
    text = diagnose(impl.spec, finding, ev)
    assert text["text"].startswith("input 'x' was changed in place")


def test_an_upstream_gradient_written_in_place_is_named():
    def relu(x):
        def pullback(g):
            g[x <= 0] = 0
            return (g,)

        return np.maximum(x, 0), pullback

    (impl,) = as_plugin(relu, "relu").implementations
    case = build_case(impl.spec, "float64", {"n": 6}, (), {}, seed=3)
    finding, ev = run_checks(impl, case)
    assert finding.check == "mutation"
    assert diagnose(impl.spec, finding, ev)["text"].startswith("the upstream gradient was changed in place")


# --------------------------------------------------------------------------- no diagnosis without evidence

def test_an_unrelated_wrong_gradient_gets_no_diagnosis():
    noise = np.random.default_rng(5).uniform(-1, 1, size=(3, 4))

    def tanh(x):
        y = np.tanh(x)
        return y, lambda g: (g * noise,)

    _, text = diagnosis_of(tanh, "tanh", {"n": 4}, batch=(3,))
    assert text is None


def test_a_failure_to_run_gets_no_diagnosis():
    def broken(x):
        raise RuntimeError("not written yet")

    finding, text = diagnosis_of(broken, "exp", {"n": 2})
    assert finding.status == "errored"
    assert text is None


def test_kinds_are_declared_once_and_a_diagnosis_of_an_undeclared_kind_cannot_be_made():
    from oracle.diagnose import diagnosis

    assert diagnosis("scale", "equals 2 × the reference", factor=np.float64(2.0)) == {
        "kind": "scale", "text": "equals 2 × the reference", "evidence": {"factor": 2.0}}
    with pytest.raises(ValueError):
        diagnosis("looks odd", "something")
    import oracle.diagnose as package

    assert not hasattr(package, "kind_of")  # the kind is never read back from the text


# --------------------------------------------------------------------------- where the diagnosis is shown

def test_the_diagnosis_travels_in_the_verdict_the_json_the_message_and_the_html(tmp_path):
    from oracle.message import format_failure
    from oracle.report.html import write_html

    def sub(x, y):
        return x - y, lambda g: (g, g)

    run = oracle.check([as_plugin(sub, "sub", name="demo")], dtypes=["float64"], examples=10, seed=1)
    (verdict,) = run.verdicts
    said = "equals -1 × the reference: the sign is wrong"
    assert verdict.status == "failed" and verdict.diagnosis["text"] == said and verdict.diagnosis["kind"] == "scale"
    assert json.loads(run.to_json())["verdicts"][0]["diagnosis"]["kind"] == "scale"
    assert said in format_failure(verdict)
    write_html(run, tmp_path)
    assert any(said in page.read_text(encoding="utf-8") for page in tmp_path.rglob("*.html"))

