"""The mutants: many, labelled, in every calling convention, and each wrong in exactly the way its label says.

A mutant that is wrong "only when ..." must be right everywhere else, or the self-test
would not show that the search finds the condition; these tests pin both sides of it on
fixed cases.
"""

import numpy as np
import pytest

from oracle.cases import build_case
from oracle.checks import run_checks
from oracle.diagnose import KINDS
from oracle.plugin import CONVENTIONS
from oracle.plugins.mutants import BUGS, plugin

IMPLEMENTATIONS = {impl.label: impl for impl in plugin.implementations}

# The bug kinds the self-test promises to cover, by the words of its table.
REQUIRED_KINDS = [
    "transposed gradient", "wrong sign", "factor of two", "upstream not multiplied in",
    "derivative taken at the output", "ReLU mask taken from the wrong tensor", "max routed to the wrong input",
    "max routed to both inputs", "fan-out overwritten instead of added", "backward run in forward order",
    "broadcast gradient not reduced", "reduced over the wrong axis", "mean missing 1/N",
    "softmax missing its off-diagonal term", "cross-entropy missing the batch mean",
    "SVM counting the correct class's margin", "batchnorm missing the mean term",
    "shape-correct matmul bug on square inputs", "wrong only for non-square shapes",
    "wrong only when a dimension is 1", "wrong only when the batch is larger than 1", "wrong in one element",
    "relative error 1e-3", "relative error 1e-5", "relative error 1e-7", "input mutated in place",
    "nondeterministic gradient", "stale variable", "precision lost only in float32",
]


def finding_of(label, dims, hyper=None, dtype="float64", batch=(), seed=7):
    impl = IMPLEMENTATIONS[label]
    case = build_case(impl.spec, dtype, dims, batch, hyper or {}, seed)
    assert case is not None
    finding, _ = run_checks(impl, case)
    return finding


# --------------------------------------------------------------------------- the table

def test_there_are_at_least_forty_mutants_each_with_a_distinct_label_in_the_table():
    labels = [impl.label for impl in plugin.implementations]
    assert len(labels) >= 40
    assert len(set(labels)) == len(labels)
    assert set(labels) == set(BUGS)


def test_every_calling_convention_has_mutants():
    assert {impl.convention for impl in plugin.implementations} == set(CONVENTIONS)


def test_every_required_bug_kind_has_a_mutant():
    kinds = {bug.kind for bug in BUGS.values()}
    assert [k for k in REQUIRED_KINDS if k not in kinds] == []


def test_every_expected_diagnosis_is_a_kind_the_diagnosis_knows():
    for label, bug in BUGS.items():
        assert set(bug.expect) <= set(KINDS), label


def test_the_mutants_are_found_as_the_installed_plugin_mutants():
    from oracle.plugin import discover

    (found,) = discover("mutants")
    assert found is plugin and found.name == "mutants"


# --------------------------------------------------------------------------- wrong only when ...

@pytest.mark.parametrize("dims, axis", [({"n": 3, "m": 3}, 0), ({"n": 2, "m": 4}, 1), ({"n": 2, "m": 4}, None)])
def test_the_mean_with_the_last_axis_count_is_right_on_square_inputs_and_other_axes(dims, axis):
    assert finding_of("mean_count_of_last_axis", dims, {"axis": axis}) is None


def test_the_mean_with_the_last_axis_count_is_wrong_on_non_square_inputs():
    assert finding_of("mean_count_of_last_axis", {"n": 2, "m": 3}, {"axis": 0}).check == "reference"


@pytest.mark.parametrize("dims", [{"n": 3, "c": 4}, {"n": 1, "c": 1}, {"n": 3, "c": 1}])
def test_the_squeezed_cross_entropy_is_right_unless_the_batch_is_one_row_of_several_classes(dims):
    assert finding_of("softmax_cross_entropy_squeezed", dims) is None


def test_the_squeezed_cross_entropy_is_wrong_for_one_row_of_several_classes():
    assert finding_of("softmax_cross_entropy_squeezed", {"n": 1, "c": 3}) is not None


def test_the_svm_with_a_stale_count_is_right_for_one_example_and_wrong_for_more():
    for seed in range(5):
        assert finding_of("svm_count_not_reset", {"n": 1, "c": 4}, seed=seed) is None
    assert any(finding_of("svm_count_not_reset", {"n": 3, "c": 4}, seed=seed) for seed in range(5))


@pytest.mark.parametrize("size, stride", [(2, 2), (1, 1), (1, 2)])
def test_the_overwriting_max_pool_is_right_when_windows_do_not_overlap(size, stride):
    dims = {"n": 2, "c": 2, "h": 4, "w": 4}
    assert finding_of("max_pool2d_overlap_overwritten", dims, {"size": size, "stride": stride}) is None


def test_the_overwriting_max_pool_is_wrong_when_windows_overlap():
    dims = {"n": 2, "c": 2, "h": 5, "w": 5}
    assert any(finding_of("max_pool2d_overlap_overwritten", dims, {"size": 3, "stride": 1}, seed=s) for s in range(3))


def test_the_one_element_mutant_is_wrong_in_exactly_its_first_element():
    finding = finding_of("log_skips_first_element", {"n": 4}, batch=(3,))
    assert (finding.check, finding.bad, finding.total) == ("reference", 1, 12)
    assert finding.worst[0].index == [0, 0]


def test_the_half_precision_matmul_is_right_in_float64_and_wrong_in_float32():
    dims = {"n": 3, "k": 4, "m": 2}
    assert finding_of("matmul_half_precision", dims, dtype="float64") is None
    assert finding_of("matmul_half_precision", dims, dtype="float32") is not None


def test_the_relative_error_of_1e_7_is_below_float32_rounding_and_caught_in_float64():
    assert finding_of("sigmoid_relative_1e-7", {"n": 5}, dtype="float32") is None
    assert finding_of("sigmoid_relative_1e-7", {"n": 5}, dtype="float64").check == "reference"


@pytest.mark.parametrize("label", ["dropout_not_rescaled", "dropout_mask_redrawn"])
def test_the_dropout_mutants_are_right_when_nothing_is_dropped(label):
    assert finding_of(label, {"n": 3, "d": 4}, {"p": 0.0, "seed": 11}) is None


def test_the_swapped_matmul_gradients_have_the_right_shapes_only_on_square_inputs():
    assert finding_of("matmul_grads_swapped", {"n": 3, "k": 3, "m": 3}).check == "matmul_transpose"
    assert finding_of("matmul_grads_swapped", {"n": 2, "k": 3, "m": 4}).check == "shape"


# --------------------------------------------------------------------------- one bug each

@pytest.mark.parametrize("label, check", [
    ("exp_overwrites_input", "mutation"),
    ("relu_zeroes_upstream_in_place", "mutation"),
    ("svm_counts_correct_class", "forward"),
    ("add_const_grad_for_constant", "structure"),
])
def test_mutants_with_right_gradients_are_caught_by_the_check_for_their_one_bug(label, check):
    dims = {"n": 4, "c": 3} if label.startswith("svm") else {"n": 6}
    hyper = {"c": 1.5} if label.startswith("add_const") else {}
    assert finding_of(label, dims, hyper).check == check


def test_the_nondeterministic_mutant_gives_two_gradients_for_one_case():
    impl = IMPLEMENTATIONS["dropout_mask_redrawn"]
    x = np.linspace(-1, 1, 40).reshape(4, 10)
    _, pullback = impl.vjp(x, 0.5, 3)
    g = np.ones_like(x)
    assert not np.array_equal(pullback(g)[0], pullback(g)[0])
