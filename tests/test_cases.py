"""Cases: drawn consistently from a spec, small and reproducible, never at a kink."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import oracle
from oracle.cases import KINK_MARGIN, build_case, cases, kink_distance
from oracle.specs import get

MATMUL = get("matmul")
RELU = get("relu")


def draw_many(spec, dtype="float64", n=150):
    drawn = []

    @settings(max_examples=n, database=None, deadline=None)
    @given(cases(spec, dtype))
    def collect(case):
        drawn.append(case)

    collect()
    return drawn


def test_dims_are_shared_across_arguments():
    for case in draw_many(MATMUL, n=60):
        a, b = case.inputs["a"], case.inputs["b"]
        assert a.shape[1] == b.shape[0]
        assert (a.shape[0], b.shape[1]) == (case.dims["n"], case.dims["m"])


def test_size_one_and_non_square_shapes_are_both_drawn():
    shapes = [(c.inputs["a"].shape, c.inputs["b"].shape) for c in draw_many(MATMUL, n=80)]
    assert any(1 in a + b for a, b in shapes)
    assert any(a[0] != a[1] and b[0] != b[1] for a, b in shapes)


def test_batch_dims_come_in_any_number_from_none_to_two():
    ranks = {c.inputs["x"].ndim for c in draw_many(RELU, n=120)}
    assert ranks == {1, 2, 3}


def test_inputs_come_in_the_requested_dtype_and_labels_stay_integers():
    case = draw_many(get("softmax_cross_entropy"), dtype="float32", n=5)[0]
    assert case.inputs["x"].dtype == np.float32
    assert case.inputs["y"].dtype.kind == "i"
    assert (case.inputs["y"] < case.dims["c"]).all()


def test_no_case_is_drawn_near_a_kink():
    for case in draw_many(RELU, n=150) + draw_many(get("max"), n=100):
        assert kink_distance(case.spec, case.inputs, case.hyper) >= KINK_MARGIN
    for case in draw_many(RELU, n=150):
        assert not (case.inputs["x"] == 0).any()
    for case in draw_many(get("max"), n=100):
        assert not (case.inputs["x"] == case.inputs["y"]).any()


def test_every_hyper_parameter_value_is_drawn_over_its_range():
    conv = draw_many(get("conv2d"), n=200)
    assert {c.hyper["pad"] for c in conv} == {0, 1, 2}
    assert {c.hyper["stride"] for c in conv} == {1, 2}
    pools = draw_many(get("max_pool2d"), n=200)
    assert any(c.hyper["stride"] < c.hyper["size"] for c in pools), "overlapping windows"
    assert any(c.hyper["stride"] >= c.hyper["size"] for c in pools), "windows that do not overlap"


def test_the_same_seed_gives_the_same_arrays():
    first = build_case(MATMUL, "float64", {"n": 2, "k": 3, "m": 1}, (), {}, seed=99)
    again = build_case(MATMUL, "float64", {"n": 2, "k": 3, "m": 1}, (), {}, seed=99)
    other = build_case(MATMUL, "float64", {"n": 2, "k": 3, "m": 1}, (), {}, seed=100)
    assert all(np.array_equal(first.inputs[k], again.inputs[k]) for k in first.inputs)
    assert not np.array_equal(first.inputs["a"], other.inputs["a"])
    assert np.array_equal(first.cotangent([(2, 1)])[0], again.cotangent([(2, 1)])[0])


def test_values_are_short_decimals_for_readable_messages():
    case = build_case(MATMUL, "float64", {"n": 3, "k": 3, "m": 3}, (), {}, seed=5)
    assert np.allclose(case.inputs["a"] * 1000, np.round(case.inputs["a"] * 1000))


def test_upstream_gradients_are_thousandths_from_minus_two_to_two_in_the_case_dtype():
    case = build_case(MATMUL, "float32", {"n": 3, "k": 3, "m": 3}, (), {}, seed=5)
    upstream, scalar = case.cotangent([(300, 40), ()])
    assert upstream.dtype == np.float32 and scalar.shape == ()
    thousandths = upstream.astype(np.float64) * 1000
    assert np.allclose(thousandths, np.round(thousandths), atol=1e-3)
    assert thousandths.min() >= -2000 and thousandths.max() <= 2000
    assert len(np.unique(np.round(thousandths))) > 3000   # spread over the 4001 values, ends included
    assert not np.array_equal(upstream, case.cotangent([(300, 40)], stream=2)[0])


def test_a_user_spec_with_a_domain_is_respected():
    spec = oracle.Spec("sqrt", inputs={"x": oracle.positive("n", 0.5, 2.0)})
    for case in draw_many(spec, n=40):
        assert (case.inputs["x"] >= 0.5).all() and (case.inputs["x"] <= 2.0).all()


@given(st.data())
@settings(max_examples=30, deadline=None, database=None)
def test_conv_cases_always_have_an_output_of_at_least_one_pixel(data):
    case = data.draw(cases(get("conv2d"), "float64"))
    h = case.inputs["x"].shape[2] + 2 * case.hyper["pad"] - case.inputs["w"].shape[2]
    w = case.inputs["x"].shape[3] + 2 * case.hyper["pad"] - case.inputs["w"].shape[3]
    assert h >= 0 and w >= 0
