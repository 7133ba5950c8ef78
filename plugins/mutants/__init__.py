"""mutants: deliberately wrong implementations, the oracle's own self-test.

Each one is written the way people really get a gradient wrong, in every calling
convention, and is wrong in exactly one way. Those that are wrong "only when ..." are
right everywhere else, so the search has to find the condition and shrink onto it.
`oracle selftest` runs them all and reports how many the oracle caught.

BUGS maps each implementation's label to its bug kind and to the diagnoses
(oracle.diagnose.KINDS) that name it correctly; an empty tuple means no diagnosis is
expected (the failing check's own message says it all).
"""

from __future__ import annotations

from dataclasses import dataclass

import oracle

from . import elementwise, kernels, layers, linalg, losses, staged

__all__ = ["plugin", "BUGS", "Bug"]


@dataclass(frozen=True)
class Bug:
    kind: str                    # what kind of mistake, for the score by kind
    expect: tuple[str, ...]      # diagnosis kinds that describe it rightly


plugin = oracle.Plugin("mutants")
for _family in (elementwise, linalg, losses, layers, staged, kernels):
    _family.register(plugin)


BUGS: dict[str, Bug] = {
    # elementwise
    "sub_wrong_sign": Bug("wrong sign", ("scale",)),
    "add_splits_upstream": Bug("factor of two", ("scale",)),
    "mul_not_swapped": Bug("gradient of the wrong input", ("swapped",)),
    "mul_stale_closure": Bug("stale variable", ("swapped",)),
    "div_quotient_sign": Bug("wrong sign", ("scale",)),
    # With a single element where x > y, "zero where it should not be" is the whole story.
    "max_routes_to_smaller": Bug("max routed to the wrong input", ("swapped", "zero")),
    # With a single element where x < y, routing to both looks like routing to y.
    "max_routes_to_both": Bug("max routed to both inputs", ("leak", "swapped")),
    "min_copied_from_max": Bug("max routed to the wrong input", ("swapped", "zero")),
    "copy_overwrites_fanout": Bug("fan-out overwritten instead of added", ("partial",)),
    "neg_returns_upstream": Bug("wrong sign", ("scale",)),
    "sigmoid_upstream_ignored": Bug("upstream not multiplied in", ("upstream_ignored", "nonlinear")),
    "sigmoid_derivative_at_output": Bug("derivative taken at the output", ("output",)),
    "sigmoid_relative_1e-7": Bug("relative error 1e-7", ("scale",)),
    "tanh_derivative_at_output": Bug("derivative taken at the output", ("output",)),
    "tanh_relative_1e-5": Bug("relative error 1e-5", ("scale",)),
    "exp_relative_1e-3": Bug("relative error 1e-3", ("scale",)),
    "exp_overwrites_input": Bug("input mutated in place", ("mutated",)),
    # One element wrong; the search shrinks to a one-element input, where it is all zero.
    "log_skips_first_element": Bug("wrong in one element", ("zero", "elements")),
    "reciprocal_missing_square": Bug("power off by one", ("times_input",)),
    "pow_const_exponent_kept": Bug("power off by one", ("times_input",)),
    "add_const_grad_for_constant": Bug("gradient returned for a constant", ()),
    # A mask of the upstream gradient is not linear in it; on one element it only zeroes or leaks.
    "relu_mask_from_upstream": Bug("ReLU mask taken from the wrong tensor", ("nonlinear", "mask", "zero", "leak")),
    "relu_zeroes_upstream_in_place": Bug("input mutated in place", ("mutated",)),
    "leaky_relu_slope_lost": Bug("another op's backward reused", ("zero",)),
    # linear algebra and reductions
    "matmul_transposed_grad": Bug("transposed gradient", ("transpose",)),
    "matmul_grads_swapped": Bug("shape-correct matmul bug on square inputs", ("swapped",)),
    # Half precision used only for float32 inputs: both descriptions are right.
    "matmul_half_precision": Bug("precision lost only in float32", ("precision", "precision32")),
    "dot_own_input_as_grad": Bug("gradient of the wrong input", ("swapped",)),
    "transpose_not_transposed_back": Bug("transposed gradient", ("transpose",)),
    # Where every axis but one has size 1 (as shrinking likes), leaving a gradient in the output's
    # shape, not reducing it, not broadcasting it back and not reshaping it are the same array.
    # A (1, n) input reshaped to (n, 1) is also its own transpose.
    "reshape_not_reshaped_back": Bug("gradient in the wrong shape", ("reshaped", "transpose")),
    "sum_not_broadcast_back": Bug("gradient not broadcast back", ("not_broadcast", "reshaped")),
    "mean_missing_1_over_n": Bug("mean missing 1/N", ("scale",)),
    "mean_count_of_last_axis": Bug("wrong only for non-square shapes", ("scale",)),
    "bias_add_not_reduced": Bug("broadcast gradient not reduced", ("unreduced", "reshaped")),
    "affine_bias_wrong_axis": Bug("reduced over the wrong axis", ("wrong_axis",)),
    "l2_squared_missing_two": Bug("factor of two", ("scale",)),
    # losses
    "softmax_missing_off_diagonal": Bug("softmax missing its off-diagonal term", ("diagonal",)),
    "softmax_cross_entropy_missing_mean": Bug("cross-entropy missing the batch mean", ("scale",)),
    "softmax_cross_entropy_squeezed": Bug("wrong only when a dimension is 1", ("scale",)),
    "svm_counts_correct_class": Bug("SVM counting the correct class's margin", ("offset",)),
    # The stale count lands on one correct-class entry, which is 0 in the reference when that row has no positive margin.
    "svm_count_not_reset": Bug("wrong only when the batch is larger than 1", ("elements", "leak")),
    "mse_target_sign": Bug("wrong sign", ("scale",)),
    "two_layer_net_forward_order": Bug("backward run in forward order", ("zero",)),
    "two_layer_net_missing_two": Bug("factor of two", ("scale",)),
    # layers
    # With one row, batch statistics make the reference exactly zero and the missing term is all there is.
    "batchnorm_missing_mean_term": Bug("batchnorm missing the mean term", ("offset", "leak")),
    "layernorm_dgamma_not_reduced": Bug("broadcast gradient not reduced", ("unreduced", "reshaped")),
    "conv2d_db_not_reduced": Bug("broadcast gradient not reduced", ("unreduced", "reshaped")),
    # The whole window is assigned: where the shrunk case only shows an element zeroed by a later
    # window, "zero where the reference is not" is the whole story.
    "max_pool2d_overlap_overwritten": Bug("fan-out overwritten instead of added", ("overwritten", "zero")),
    "dropout_not_rescaled": Bug("forward's constant forgotten in the backward", ("scale",)),
    "dropout_mask_redrawn": Bug("nondeterministic gradient", ("nondeterministic",)),
    # staged backward code (staged.py)
    "sigmoid_derivative_on_input": Bug("derivative from the input where the output was meant", ("input_for_output",)),
    "tanh_derivative_on_input": Bug("derivative from the input where the output was meant", ("input_for_output",)),
    "exp_derivative_on_input": Bug("derivative from the input where the output was meant", ("input_for_output",)),
    "sigmoid_cache_read_as_output": Bug("derivative from the input where the output was meant", ("input_for_output",)),
    "tanh_gate_derivative_on_input": Bug("derivative from the input where the output was meant", ("input_for_output",)),
    "log_derivative_on_output": Bug("derivative from the output where the input was meant", ("output",)),
    "reciprocal_derivative_on_output": Bug("derivative from the output where the input was meant", ("output",)),
    "tanh_sign_typo": Bug("sign typo in one term", ("typo",)),
    "tanh_constant_typo": Bug("constant typo in one term", ("typo",)),
    "sigmoid_sign_typo": Bug("sign typo in one term", ("typo",)),
    "softmax_sign_typo": Bug("sign typo in one term", ("typo",)),
    "softmax_constant_typo": Bug("constant typo in one term", ("typo",)),
    "exp_previous_output": Bug("value from an earlier call", ("stale",)),
    "mul_previous_input": Bug("value from an earlier call", ("stale",)),
    "matmul_previous_b": Bug("value from an earlier call", ("stale",)),
    "tanh_gate_class_attribute": Bug("value from an earlier call", ("stale",)),
    "sigmoid_cache_from_previous_call": Bug("value from an earlier call", ("stale",)),
    "softmax_fixed_shift": Bug("precision lost only in float32", ("precision32",)),
    "log_softmax_fixed_shift": Bug("precision lost only in float32", ("precision32",)),
    "softmax_loss_fixed_shift": Bug("precision lost only in float32", ("precision32",)),
    "mul_offset_cancels": Bug("precision lost only in float32", ("precision32",)),
    "tanh_gate_offset_cancels": Bug("precision lost only in float32", ("precision32",)),
    "matmul_offset_cancels": Bug("precision lost only in float32", ("precision32",)),
    # convolution and pooling (kernels.py)
    "conv2d_dw_flipped": Bug("flipped or transposed kernel", ("kernel",)),
    "conv2d_dx_kernel_flipped": Bug("flipped or transposed kernel", ("kernel",)),
    "conv2d_dw_transposed": Bug("flipped or transposed kernel", ("kernel",)),
    "conv2d_dw_channels_swapped": Bug("flipped or transposed kernel", ("kernel",)),
    "conv2d_dx_channels_swapped": Bug("flipped or transposed kernel", ("kernel",)),
    "conv2d_dx_overwritten": Bug("overwritten instead of accumulated", ("overwritten",)),
    "max_pool2d_assigns_at_max": Bug("overwritten instead of accumulated", ("overwritten",)),
}

# Rules written for torch and jax, labelled in their own module.
from . import frameworks  # noqa: E402 - needs Bug, defined above

frameworks.register(plugin)
BUGS.update(frameworks.BUGS)
