"""Shortcuts a case takes must not change what it finds.

- A comparison that passes without computing elementwise errors (tolerances.within_everywhere)
  would pass with them.
- The reference and its copy nudged by one rounding unit (the conditioning estimate) come from one
  program called once, with the values two separate evaluations give; a large case, from its own
  program (neither padded nor paired), called once for each, with the same values.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import compiled_programs
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from oracle.cases import build_case
from oracle.checks.evaluation import nudging
from oracle.reference import reference, reference_and_nudged
from oracle.specs import get
from oracle.tolerances import relative_errors, within_everywhere

values = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from([0.0, -0.0, 1e-300, 1.0])


@pytest.mark.filterwarnings("ignore:overflow encountered")   # squares of values past 1e154, rescaled
@settings(max_examples=400, deadline=None)
@given(data=st.data(), shape=st.sampled_from([(), (1,), (5,), (3, 4)]), rtol=st.sampled_from([4e-13, 4e-6, 1e-3]))
def test_a_comparison_passed_without_elementwise_errors_passes_with_them(data, shape, rtol):
    expected = data.draw(arrays(np.float64, shape, elements=values))
    with np.errstate(over="ignore", invalid="ignore"):
        nearby = expected * (1 + data.draw(arrays(np.float64, shape, elements=st.floats(-1e-3, 1e-3))))
    got = data.draw(st.sampled_from([nearby, data.draw(arrays(np.float64, shape, elements=values))]))
    rounding = data.draw(st.none() | arrays(np.float64, shape, elements=st.floats(0, 1e-3)))
    if within_everywhere(got, expected, rtol, rounding):
        assert np.all(relative_errors(got, expected, rtol, rounding) <= rtol)


def test_the_shortcut_is_taken_for_a_right_gradient_and_not_for_a_wrong_one():
    expected = np.linspace(-1.0, 1.0, 1000)
    assert within_everywhere(expected * (1 + 1e-14), expected, 4e-13)
    wrong = expected.copy()
    wrong[7] *= 1.01
    assert not within_everywhere(wrong, expected, 4e-13)
    assert not within_everywhere(np.full(3, np.nan), np.zeros(3), 4e-13)


def _case(op, dims, hyper, dtype="float32"):
    return build_case(get(op), dtype, dims, (), hyper, seed=3)


def test_the_reference_and_its_nudged_copy_come_from_one_program_with_the_values_of_two_evaluations():
    for op, dims, hyper in [("tanh", {"n": 5}, {}), ("matmul", {"n": 2, "k": 3, "m": 4}, {}),
                            ("softmax_cross_entropy", {"n": 3, "c": 4}, {}), ("dropout", {"n": 2, "d": 3}, {"p": 0.5, "seed": 7})]:
        case = _case(op, dims, hyper)
        paired = []
        assert compiled_programs(lambda: paired.append(reference_and_nudged(case, case.cotangent, nudging(case)))) <= 1
        outputs, cotangent, grads, (nudged_outputs, nudged_grads) = paired[0]
        alone = reference(case, case.cotangent)
        replay = nudging(case)                   # the same draws, in the same order: inputs, then the upstream
        moved = {n: replay(a) if a.dtype.kind == "f" else a for n, a in case.inputs.items()}
        nudged_cotangent = tuple(replay(c) for c in cotangent)
        by_itself = reference(replace(case, inputs=moved), lambda shapes: nudged_cotangent)
        for a, b in zip(outputs + grads + nudged_outputs + nudged_grads, alone[0] + alone[2] + by_itself[0] + by_itself[2]):
            np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-300, err_msg=op)
        assert any(np.any(a != b) for a, b in zip(grads, nudged_grads)), op   # nudged: not the same point


def test_a_large_case_is_evaluated_as_it_is_one_point_at_a_time_with_the_values_of_two_evaluations():
    from oracle import reference as module

    size = module.OPTIMISED_FROM + 3            # not a power of two: a flat layout would pad it
    spec = replace(get("tanh"), dims={"n": (size, size)})
    case = build_case(spec, "float64", {"n": size}, (), {}, seed=3)
    outputs, cotangent, grads, (nudged_outputs, nudged_grads) = reference_and_nudged(case, case.cotangent, nudging(case))
    loaded = [signature for signature in module._LOADED if signature[1] == "tanh" and signature[3][0][0] == (size,)]
    assert [signature[0] for signature in loaded] == ["value_and_vjp"]
    x = case.inputs["x"]
    np.testing.assert_allclose(outputs[0], np.tanh(x), rtol=1e-14)
    np.testing.assert_allclose(grads[0], (1 - np.tanh(x) ** 2) * cotangent[0], rtol=1e-13, atol=1e-300)
    replay = nudging(case)
    moved, moved_cotangent = replay(x), replay(cotangent[0])
    np.testing.assert_allclose(nudged_outputs[0], np.tanh(moved), rtol=1e-14)
    np.testing.assert_allclose(nudged_grads[0], (1 - np.tanh(moved) ** 2) * moved_cotangent, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("size", [7, 10_001])      # drawn as indices, and as packed bits
def test_a_nudge_moves_every_element_by_one_rounding_unit_either_way_at_random_and_reproducibly(size):
    case = _case("tanh", {"n": 3}, {}, dtype="float64")
    values = np.linspace(1.0, 2.0, size)
    moved = nudging(case)(values)
    eps = np.finfo(np.float64).eps
    up = moved == values * (1 + eps)
    assert np.all(up | (moved == values * (1 - eps)))
    np.testing.assert_array_equal(nudging(case)(values), moved)
    if size > 100:
        assert abs(up.mean() - 0.5) < 4 * 0.5 / np.sqrt(size)      # within four standard deviations
        assert not np.array_equal(nudging(replace(case, seed=4))(values), moved)


def test_a_reference_that_runs_only_one_case_at_a_time_is_evaluated_so_and_stays_compiled():
    import jax
    import jax.numpy as jnp

    from oracle import reference as module
    from oracle.spec import Spec, choice

    def scaled(x, k):   # the callback takes one case's k, as a Python number: not mapped over a pair
        factor = jax.pure_callback(lambda k: np.asarray(float(k) + 1.0), jax.ShapeDtypeStruct((), jnp.float64), k,
                                   vmap_method="broadcast_all")
        return x * factor

    spec = Spec("scaled_by_callback", inputs={"x": "n"}, hyper={"k": replace(choice(2.0), traced=True)}, reference=scaled)
    case = build_case(spec, "float64", {"n": 3}, (), {"k": 2.0}, seed=1)
    outputs, cotangent, grads, (nudged_outputs, nudged_grads) = reference_and_nudged(case, case.cotangent, nudging(case))
    np.testing.assert_allclose(outputs[0], 3.0 * case.inputs["x"], rtol=1e-15)
    np.testing.assert_allclose(grads[0], 3.0 * cotangent[0], rtol=1e-15)
    np.testing.assert_allclose(nudged_grads[0], 3.0 * cotangent[0], rtol=1e-15)
    assert spec.name in module._UNPAIRED and spec.name not in module._UNTRACEABLE
