"""One compiled reference program serves many shapes, and gives the answer each shape's own would:
elementwise ops and reshapes are evaluated flat in power-of-two sizes, and the padded dims of other
ops (Spec.padded) are filled up to the dim's bound: with zeros, or the values Spec.padding names,
along with windows that zeros make larger and divisors of means multiplied back."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from conftest import compiled_programs
from oracle.specs import CATALOGUE, get

from oracle.cases import build_case
from oracle.layouts import Padded
from oracle.reference import reference
from oracle.spec import Padding, Spec, SpecError


def first_hyper(spec) -> dict:
    """Each hyper-parameter's simplest value: where its strategy shrinks to."""
    from hypothesis import find

    return {k: find(h.strategy({}), lambda _: True) for k, h in spec.hyper.items()}


def test_one_program_serves_every_shape_of_an_elementwise_op_up_to_a_power_of_two_elements(store):
    from oracle.layouts import MIN_FLAT

    spec = dataclasses.replace(get("tanh"), name="tanh_flat")
    shapes = [(3, ()), (4, (2,)), (5, (3, 4)), (MIN_FLAT, ()), (MIN_FLAT + 1, ()), (MIN_FLAT, (2,))]
    cases = [build_case(spec, "float64", {"n": n}, batch, {}, seed=n) for n, batch in shapes]
    results = []
    assert compiled_programs(lambda: results.extend(reference(c, c.cotangent) for c in cases)) == 2
    for case, (outputs, _, grads) in zip(cases, results):
        assert outputs[0].shape == grads[0].shape == case.inputs["x"].shape


@pytest.mark.parametrize("name", [n for n, s in CATALOGUE.items() if s.elementwise])
def test_an_elementwise_reference_on_a_shared_program_is_its_reference_on_the_shape_itself(name):
    spec = get(name)
    by_shape = dataclasses.replace(spec, name=f"{name}_by_shape", elementwise=False)
    hyper = first_hyper(spec)
    for seed, (n, batch) in enumerate([(3, (2,)), (5, ())]):
        case = build_case(spec, "float32", {dim: n + i for i, dim in enumerate(spec.dim_names())}, batch, hyper, seed)
        shared, own = reference(case, case.cotangent), reference(dataclasses.replace(case, spec=by_shape), case.cotangent)
        for a, b in zip(shared[0] + shared[2], own[0] + own[2]):
            assert a.shape == b.shape == case.inputs["x"].shape
            np.testing.assert_allclose(a, b, rtol=1e-15, atol=0)


def test_one_program_serves_every_size_of_a_padded_dim_up_to_its_bound(store):
    spec = dataclasses.replace(get("matmul"), name="matmul_padded", dims={"n": (1, 4), "k": (1, 4), "m": (1, 4)})
    sizes = [(1, 1, 1), (2, 3, 4), (4, 4, 4), (3, 1, 2)]
    cases = [build_case(spec, "float64", dict(zip("nkm", s)), (), {}, seed=i) for i, s in enumerate(sizes)]
    results = []
    assert compiled_programs(lambda: results.extend(reference(c, c.cotangent) for c in cases)) == 1
    for (n, k, m), (outputs, _, grads) in zip(sizes, results):
        assert [o.shape for o in outputs] == [(n, m)]
        assert [g.shape for g in grads] == [(n, k), (k, m)]


def _hyper_combinations(spec: Spec):
    choices = {k: getattr(h.draw, "elements", None) for k, h in spec.hyper.items()}
    if spec.name == "reshape":      # its target shape is drawn from the dims: every kind of target
        choices = {"shape": [lambda d: (d["n"] * d["m"],), lambda d: (d["m"], d["n"]), lambda d: (1, d["n"] * d["m"])]}
    fixed = [k for k, v in choices.items() if v is None]
    assert not fixed, f"{spec.name}: every hyper-parameter of a padded op is a choice here"
    for values in itertools.product(*choices.values()):
        yield dict(zip(choices, values))


def test_a_reshape_is_evaluated_flat_in_one_program_for_every_target_shape(store):
    spec = dataclasses.replace(get("reshape"), name="reshape_flat")
    cases = [build_case(spec, "float64", {"n": n, "m": m}, (), {"shape": shape}, seed=n)
             for n, m, shape in [(2, 3, (6,)), (2, 3, (3, 2)), (4, 5, (1, 20)), (5, 1, (5, 1))]]
    results = []
    assert compiled_programs(lambda: results.extend(reference(c, c.cotangent) for c in cases)) == 1
    for case, (outputs, cotangent, grads) in zip(cases, results):
        np.testing.assert_array_equal(outputs[0], case.inputs["x"].reshape(case.hyper["shape"]))
        np.testing.assert_array_equal(grads[0], cotangent[0].reshape(case.inputs["x"].shape))


def test_a_mean_over_a_padded_axis_is_one_program_for_every_size():
    from oracle.layouts import layout

    spec = get("mean")
    targets = {(n, m): layout(spec, {"x": np.zeros((n, m))}, (("axis", 0),)).targets["x"] for n in (1, 3) for m in (2, 5)}
    assert set(targets.values()) == {(8, 5)}        # the dim averaged over to a power of two, the other to its bound


def test_a_convolution_window_is_padded_with_the_image_it_slides_over():
    from oracle.layouts import layout

    spec = get("conv2d")
    targets = {layout(spec, {"x": np.zeros((1, 2, h, 4)), "w": np.zeros((3, 2, hh, 2)), "b": np.zeros(3)},
                      (("stride", 1), ("pad", 0))).targets["w"] for h, hh in [(1, 1), (3, 2), (5, 3)]}
    assert targets == {(3, 3, 3, 3)}


def _laid_out(spec: Spec) -> bool:
    return bool(spec.padded or spec.padding.dims() or spec.flat is not None)


@pytest.mark.parametrize("name", [n for n, s in CATALOGUE.items() if _laid_out(s) and not s.elementwise])
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_a_padded_reference_is_the_reference_on_the_shape_itself(name, precision):
    # What a spec declares padded (or flat) is checked here against the spec's own reference, at every
    # combination of its hyper-parameters and at sizes below, at and (a power of two) above the bound.
    spec = get(name)
    by_shape = dataclasses.replace(spec, name=f"{name}_by_shape", padded=(), padding=Padding(), flat=None)
    rng = np.random.default_rng(7)
    judged = 0
    for hyper in _hyper_combinations(spec):
        for trial in range(3):
            dims = {d: int(rng.integers(*spec.dim_range(d), endpoint=True)) for d in spec.dim_names()}
            if trial == 2:
                dims.update({d: spec.dim_range(d)[1] + 1 for d in spec.padded})
            drawn = {k: v(dims) if callable(v) else v for k, v in hyper.items()}
            if spec.where is not None and not spec.where(dims, drawn):
                continue
            case = build_case(spec, "float64", dims, (), drawn, seed=trial)
            padded = reference(case, case.cotangent, precision)
            own = reference(dataclasses.replace(case, spec=by_shape), case.cotangent, precision)
            for a, b in zip(padded[0] + padded[2], own[0] + own[2]):
                assert a.shape == b.shape
                scale = max(float(np.abs(b).max(initial=0.0)), 1e-300)
                assert float(np.abs(a - b).max(initial=0.0)) <= 8 * np.finfo(precision).eps * scale, (dims, drawn)
            judged += 1
    assert judged > 0


def test_a_dim_past_its_bound_or_with_a_large_bound_is_padded_to_a_power_of_two():
    spec = get("matmul")           # dims of at most 5
    laid = Padded.of(spec, {"a": np.zeros((6, 2)), "b": np.zeros((2, 5))}, ())
    assert laid is not None
    assert laid.targets == {"a": (8, 5), "b": (5, 5)}
    assert Padded.of(spec, {"a": np.zeros((5, 5)), "b": np.zeros((5, 5))}, ()) is None   # nothing to pad
    # A dim with a large bound grows by at most a factor of two: never to the bound itself.
    wide = dataclasses.replace(spec, dims={"n": (1, 4096), "k": (1, 5), "m": (1, 5)})
    assert Padded.of(wide, {"a": np.zeros((3, 2)), "b": np.zeros((2, 5))}, ()).targets == {"a": (4, 5), "b": (5, 5)}


def test_a_padded_dim_must_be_a_dim_that_stands_alone_in_every_shape():
    with pytest.raises(SpecError, match="not a dim"):
        dataclasses.replace(get("matmul"), padded=("q",))
    with pytest.raises(SpecError, match="stand alone"):
        Spec("flatten", inputs={"x": "n*m"}, reference=lambda x: x, padded=("n",), dims={"n": (1, 3), "m": (1, 3)})
