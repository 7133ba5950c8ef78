"""Every check catches the kind of wrong implementation it exists for, and names itself in the verdict."""

import dataclasses
import time

import numpy as np
import pytest

import oracle
from conftest import verdict_of
from oracle.specs import get


def relu(x):
    return np.maximum(x, 0), lambda g: (g * (x > 0),)


def matmul(a, b):
    return a @ b, lambda g: (g @ b.T, a.T @ g)


def test_a_correct_implementation_passes_every_check():
    verdict = verdict_of(matmul, "matmul")
    assert verdict.status == "passed", verdict.message
    assert {"forward", "shape", "dtype", "matmul_transpose", "reference", "finite_differences",
            "linearity", "mutation", "determinism"} <= set(verdict.checks)


def test_call_an_implementation_that_raises_is_errored_with_where_it_raised():
    def broken(x):
        raise RuntimeError("backward not written yet")

    verdict = verdict_of(broken, "relu")
    assert (verdict.status, verdict.check) == ("errored", "call")
    assert "RuntimeError: backward not written yet" in verdict.message
    assert "in broken" in verdict.message


def test_call_an_implementation_that_hangs_is_errored_after_the_time_limit():
    def hangs(x):
        def pullback(g):
            time.sleep(30)
        return np.maximum(x, 0), pullback

    started = time.perf_counter()
    verdict = verdict_of(hangs, "relu", examples=3, timeout=0.5)
    assert (verdict.status, verdict.check) == ("errored", "call")
    assert "did not return within 0.5 s" in verdict.message
    assert time.perf_counter() - started < 10


def test_a_forward_that_puts_its_own_alarm_handler_in_place_cannot_hide_a_hanging_backward():
    import signal

    def forward_then_hangs(x):
        signal.signal(signal.SIGALRM, lambda *_: None)     # its own handler, which ignores the alarm

        def pullback(g):
            time.sleep(30)
        return np.maximum(x, 0), pullback

    mine = signal.getsignal(signal.SIGALRM)
    started = time.perf_counter()
    verdict = verdict_of(forward_then_hangs, "relu", examples=3, timeout=0.5, workers=0)
    assert (verdict.status, verdict.check) == ("errored", "call")
    assert "did not return within 0.5 s" in verdict.message
    assert time.perf_counter() - started < 10
    assert signal.getsignal(signal.SIGALRM) is mine      # the process's own handler is back


@pytest.mark.parametrize("returned, words", [
    (lambda x: None, "got None"),
    (lambda x: (np.maximum(x, 0), lambda g: None), "is None"),
    (lambda x: (np.maximum(x, 0), lambda g: ("not", "an array")), "gradient"),
])
def test_structure_none_or_wrong_types_fail_the_structure_check(returned, words):
    verdict = verdict_of(returned, "relu")
    assert (verdict.status, verdict.check) == ("failed", "structure")
    assert words in verdict.message


def test_finite_nan_in_a_gradient_fails_and_names_where():
    def nan_where_negative(x):
        return np.maximum(x, 0), lambda g: (g * (x > 0) / (x > 0),)

    verdict = verdict_of(nan_where_negative, "relu")
    assert (verdict.status, verdict.check, verdict.argument) == ("failed", "finite", "x")
    assert "NaN or Inf" in verdict.message


def test_forward_a_wrong_forward_fails_before_its_gradient_is_judged():
    def leaky_forward(x):
        return np.where(x > 0, x, 0.01 * x), lambda g: (g * (x > 0),)

    verdict = verdict_of(leaky_forward, "relu")
    assert (verdict.status, verdict.check) == ("failed", "forward")
    assert verdict.worst and verdict.worst[0].got != verdict.worst[0].expected


def test_shape_an_unreduced_broadcast_gradient_fails_the_shape_check():
    def bias_add(x, b):
        return x + b, lambda g: (g, g)  # db should be g.sum(0)

    verdict = verdict_of(bias_add, "bias_add")
    assert (verdict.status, verdict.check, verdict.argument) == ("failed", "shape", "b")
    assert verdict.case.shapes["x"][0] > 1 or "has shape" in verdict.message


def test_shape_a_missing_transpose_fails_on_non_square_inputs():
    def matmul_no_transpose(a, b):
        return a @ b, lambda g: (g @ b.T, g.T @ a)  # dB needs a transpose: Aᵀ·dC

    verdict = verdict_of(matmul_no_transpose, "matmul")
    assert (verdict.status, verdict.argument) == ("failed", "b")
    if verdict.check == "shape":
        k, m = verdict.case.shapes["b"]
        assert k != m
    else:
        assert verdict.check == "matmul_transpose"


def test_dtype_float64_leaking_out_of_float32_code_fails_the_dtype_check():
    def leaks(x):
        return np.maximum(x, 0), lambda g: ((g * (x > 0)).astype(np.float64),)

    assert verdict_of(leaks, "relu", dtype="float64").status == "passed"
    verdict = verdict_of(leaks, "relu", dtype="float32")
    assert (verdict.status, verdict.check) == ("failed", "dtype")
    assert "float64" in verdict.message and "float32" in verdict.message


def test_reference_a_gradient_off_by_a_factor_fails_against_jax_with_the_worst_elements():
    def sigmoid_factor_two(x):
        s = 1 / (1 + np.exp(-x))
        return s, lambda g: (2 * g * s * (1 - s),)

    verdict = verdict_of(sigmoid_factor_two, "sigmoid")
    assert (verdict.status, verdict.check, verdict.argument) == ("failed", "reference", "x")
    worst = verdict.worst[0]
    assert worst.got == pytest.approx(2 * worst.expected)
    assert worst.finite_difference == pytest.approx(worst.expected, rel=1e-6)
    assert verdict.error > verdict.threshold


def test_reference_a_relative_error_of_1e_7_is_caught_in_float64():
    def tanh_slightly_off(x):
        t = np.tanh(x)
        return t, lambda g: (g * (1 - t * t) * (1 + 1e-7),)

    verdict = verdict_of(tanh_slightly_off, "tanh")
    assert (verdict.status, verdict.check) == ("failed", "reference")


def test_finite_differences_judge_an_op_that_has_no_reference():
    cube = oracle.Spec("cube", inputs={"x": "n"}, math="x³")

    def cube_right(x):
        return x**3, lambda g: (3 * x**2 * g,)

    def cube_wrong(x):
        return x**3, lambda g: (2 * x**2 * g,)

    assert verdict_of(cube_right, cube).status == "passed"
    verdict = verdict_of(cube_wrong, cube)
    assert (verdict.status, verdict.check) == ("failed", "finite_differences")
    # the directional check is followed by an elementwise look that names the elements
    assert verdict.argument == "x" and verdict.worst
    assert verdict.worst[0].got == pytest.approx(2 / 3 * verdict.worst[0].expected, rel=1e-5)


def test_linearity_a_pullback_that_ignores_its_upstream_gradient_fails():
    cube = oracle.Spec("cube", inputs={"x": "n"}, math="x³")

    def upstream_ignored(x):
        return x**3, lambda g: (3 * x**2 * np.ones_like(g),)

    # without a reference nothing else can see it: the gradient is right for g = 1
    verdict = verdict_of(upstream_ignored, cube)
    assert verdict.status == "failed"
    assert verdict.check in ("linearity", "finite_differences")


def test_linearity_a_pullback_that_uses_its_upstream_twice_fails():
    square = oracle.Spec("square", inputs={"x": "n"})

    def upstream_squared(x):
        return x * x, lambda g: (2 * x * g * np.abs(g),)

    verdict = verdict_of(upstream_squared, square)
    assert verdict.status == "failed" and verdict.check in ("linearity", "finite_differences")


def test_mutation_an_input_changed_in_place_fails():
    def relu_in_place(x):
        mask = x > 0
        out = np.maximum(x, 0)
        x *= 0  # "free" the input
        return out, lambda g: (g * mask,)

    verdict = verdict_of(relu_in_place, "relu")
    assert (verdict.status, verdict.check, verdict.argument) == ("failed", "mutation", "x")


def test_mutation_an_upstream_gradient_changed_in_place_fails():
    def relu_reusing_dout(x):
        def pullback(g):
            g[x < 0] = 0
            return (g,)
        return np.maximum(x, 0), pullback

    verdict = verdict_of(relu_reusing_dout, "relu")
    assert (verdict.status, verdict.check) == ("failed", "mutation")
    assert "upstream" in verdict.message


def test_determinism_a_nondeterministic_gradient_fails():
    rng = np.random.default_rng()
    square = oracle.Spec("square", inputs={"x": "n"})

    def noisy(x):
        return x * x, lambda g: (2 * x * g + rng.normal(0, 1e-12, size=x.shape),)

    verdict = verdict_of(noisy, square)
    assert verdict.status == "failed" and verdict.check in ("determinism", "finite_differences", "linearity")


def test_determinism_a_cache_used_up_by_the_first_backward_fails():
    class ReLUGate:
        def forward(self, x):
            self.cache = [x > 0]
            return np.maximum(x, 0)

        def backward(self, dout):
            mask = self.cache.pop() if self.cache else np.ones_like(dout, dtype=bool)
            return dout * mask

    verdict = verdict_of(ReLUGate, "relu", convention="gate")
    assert verdict.status == "failed"
    assert verdict.check in ("linearity", "determinism")


def test_relu_sparse_a_mask_from_the_output_instead_of_the_input_fails_the_property():
    def mask_from_output(x):
        out = np.maximum(x, 0)
        return out, lambda g: (g * (out >= 0),)

    verdict = verdict_of(mask_from_output, "relu")
    assert (verdict.status, verdict.check) == ("failed", "relu_sparse")


def test_matmul_transpose_a_shape_correct_bug_on_square_inputs_fails_the_property():
    def swapped_on_square(a, b):
        return a @ b, lambda g: ((g @ b.T).T if g.shape[0] == b.shape[0] == g.shape[1] else g @ b.T, a.T @ g)

    # Square inputs only: what is judged here is the property, not the search's luck in drawing n = k = m.
    square = dataclasses.replace(get("matmul"), dims={"n": (3, 3), "k": (3, 3), "m": (3, 3)})
    verdict = verdict_of(swapped_on_square, square, examples=10)
    assert (verdict.status, verdict.check, verdict.argument) == ("failed", "matmul_transpose", "a")


def test_add_distributes_a_scaled_add_gradient_fails_the_property():
    verdict = verdict_of(lambda x, y: (x + y, lambda g: (g, 0.5 * g)), "add")
    assert (verdict.status, verdict.check, verdict.argument) == ("failed", "add_distributes", "y")


def test_max_routes_a_max_gate_routing_to_both_inputs_fails_the_property():
    verdict = verdict_of(lambda x, y: (np.maximum(x, y), lambda g: (g, g)), "max")
    assert (verdict.status, verdict.check) == ("failed", "max_routes")


def test_mul_swaps_a_mul_gate_that_does_not_swap_fails_the_property():
    verdict = verdict_of(lambda x, y: (x * y, lambda g: (g * x, g * y)), "mul")
    assert (verdict.status, verdict.check) == ("failed", "mul_swaps")


def test_copy_adds_a_fan_out_that_overwrites_instead_of_adding_fails_the_property():
    verdict = verdict_of(lambda x: ((x, x), lambda g: (g[1],)), "copy")
    assert (verdict.status, verdict.check) == ("failed", "copy_adds")


def test_finite_differences_allow_a_forward_that_computes_in_float32_inside():
    cube = oracle.Spec("cube", inputs={"x": "n"}, math="x³")

    def float32_inside(x):
        x32 = x.astype(np.float32)
        return (x32**3).astype(x.dtype), lambda g: ((3 * x32**2).astype(x.dtype) * g,)

    assert verdict_of(float32_inside, cube, dtype="float32").status == "passed"
    wrong = verdict_of(lambda x: (x.astype(np.float32) ** 3, lambda g: (2 * x**2 * g,)), cube, dtype="float32")
    assert (wrong.status, wrong.check) == ("failed", "finite_differences")


def test_gradients_may_come_back_as_a_dict_or_with_none_for_hyper_parameters():
    assert verdict_of(lambda a, b: (a @ b, lambda g: {"a": g @ b.T, "b": a.T @ g}), "matmul").status == "passed"

    def leaky(x, alpha):
        return np.where(x > 0, x, alpha * x), lambda g: (g * np.where(x > 0, 1.0, alpha).astype(x.dtype), None)

    assert verdict_of(leaky, "leaky_relu").status == "passed"
