"""The catalogue: every op is there, its reference means what the contract says, and no case is drawn
where the op is not differentiable.

Each JAX reference is compared with an independent plain-NumPy forward (loops where that is the
clearest way to say it, as in CS231n), in float64.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, find, given, settings
from hypothesis import strategies as st

import oracle
from oracle import specs

OPS = [
    "add", "sub", "mul", "div", "neg", "max", "min", "copy", "exp", "log", "reciprocal",
    "add_const", "mul_const", "pow_const", "sigmoid", "tanh", "relu", "leaky_relu",
    "matmul", "dot", "transpose", "reshape", "sum", "mean", "bias_add", "l2_squared", "affine",
    "softmax", "log_softmax", "softmax_cross_entropy", "svm_loss", "mse", "two_layer_net",
    "batchnorm", "layernorm", "conv2d", "max_pool2d", "dropout",
]

FEW = settings(max_examples=6, deadline=None, database=None, derandomize=True,
               suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


# --------------------------------------------------------------------------- NumPy forwards

def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def np_softmax_loss(x, y):
    return -np_log_softmax(x)[np.arange(len(y)), y].mean()


def np_svm_loss(x, y):
    loss = 0.0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            if j != y[i]:
                loss += max(0.0, x[i, j] - x[i, y[i]] + 1.0)
    return loss / x.shape[0]


def np_normalise(x, gamma, beta, eps, axis):
    mean = x.mean(axis=axis, keepdims=True)
    return gamma * (x - mean) / np.sqrt(x.var(axis=axis, keepdims=True) + eps) + beta


def np_conv2d(x, w, b, stride, pad):
    n, _, h, wd = x.shape
    f, _, hh, ww = w.shape
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, f, 1 + (h + 2 * pad - hh) // stride, 1 + (wd + 2 * pad - ww) // stride))
    for i in range(n):
        for k in range(f):
            for r in range(out.shape[2]):
                for s in range(out.shape[3]):
                    window = padded[i, :, r * stride:r * stride + hh, s * stride:s * stride + ww]
                    out[i, k, r, s] = np.sum(window * w[k]) + b[k]
    return out


def np_max_pool2d(x, size, stride):
    n, c, h, w = x.shape
    out = np.zeros((n, c, 1 + (h - size) // stride, 1 + (w - size) // stride))
    for r in range(out.shape[2]):
        for s in range(out.shape[3]):
            out[:, :, r, s] = x[:, :, r * stride:r * stride + size, s * stride:s * stride + size].max(axis=(2, 3))
    return out


def np_dropout(x, p, seed):
    mask = np.random.default_rng(seed).random(x.shape) >= p
    return x * mask / (1 - p)


FORWARDS = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "neg": lambda x: -x,
    "max": np.maximum,
    "min": np.minimum,
    "copy": lambda x: (x, x),
    "exp": np.exp,
    "log": np.log,
    "reciprocal": lambda x: 1.0 / x,
    "add_const": lambda x, c: x + c,
    "mul_const": lambda x, c: x * c,
    "pow_const": lambda x, p: x ** p,
    "sigmoid": np_sigmoid,
    "tanh": np.tanh,
    "relu": lambda x: np.where(x > 0, x, 0.0),
    "leaky_relu": lambda x, alpha: np.where(x > 0, x, alpha * x),
    "matmul": lambda a, b: a @ b,
    "dot": lambda x, y: sum(x[i] * y[i] for i in range(len(x))),
    "transpose": lambda x: x.T,
    "reshape": lambda x, shape: x.reshape(shape),
    "sum": lambda x, axis: x.sum(axis=axis),
    "mean": lambda x, axis: x.mean(axis=axis),
    "bias_add": lambda x, b: x + b[None, :],
    "l2_squared": lambda W, x: float(np.sum((W @ x) ** 2)),
    "affine": lambda x, W, b: x @ W + b,
    "softmax": lambda x: np.exp(np_log_softmax(x)),
    "log_softmax": np_log_softmax,
    "softmax_cross_entropy": np_softmax_loss,
    "svm_loss": np_svm_loss,
    "mse": lambda y_pred, y: np.mean((y_pred - y) ** 2),
    "two_layer_net": lambda x, y, w1, w2: np.sum((np_sigmoid(x @ w1) @ w2 - y) ** 2),
    "batchnorm": lambda x, gamma, beta, eps: np_normalise(x, gamma, beta, eps, axis=0),
    "layernorm": lambda x, gamma, beta, eps: np_normalise(x, gamma, beta, eps, axis=1),
    "conv2d": np_conv2d,
    "max_pool2d": np_max_pool2d,
    "dropout": np_dropout,
}

# Concrete cases: (dims, batch dims, hyper values in the spec's order).
ELEMENTWISE_CASES = [({"n": 3}, (2,), ()), ({"n": 1}, (), ())]
CASES = {name: ELEMENTWISE_CASES for name in
         ["add", "sub", "mul", "div", "neg", "max", "min", "copy", "exp", "log", "reciprocal",
          "sigmoid", "tanh", "relu"]}
CASES.update({
    "add_const": [({"n": 4}, (), (-2.5,)), ({"n": 2}, (3, 1), (0.75,))],
    "mul_const": [({"n": 4}, (), (-3.0,)), ({"n": 2}, (2,), (1.5,))],
    "pow_const": [({"n": 4}, (), (p,)) for p in (-2, -1, 0.5, 2, 3)],
    "leaky_relu": [({"n": 5}, (2,), (0.1,)), ({"n": 3}, (), (0.01,))],
    "matmul": [({"n": 3, "k": 2, "m": 4}, (), ()), ({"n": 1, "k": 1, "m": 1}, (), ())],
    "dot": [({"n": 4}, (), ()), ({"n": 1}, (), ())],
    "transpose": [({"n": 2, "m": 3}, (), ())],
    "reshape": [({"n": 2, "m": 3}, (), ((3, 2),)), ({"n": 2, "m": 3}, (), ((6, 1),))],
    "sum": [({"n": 2, "m": 3}, (), (0,)), ({"n": 2, "m": 3}, (), (1,))],
    "mean": [({"n": 2, "m": 3}, (), (None,)), ({"n": 2, "m": 3}, (), (0,)), ({"n": 4, "m": 1}, (), (1,))],
    "bias_add": [({"n": 3, "d": 2}, (), ())],
    "l2_squared": [({"m": 3, "n": 2}, (), ())],
    "affine": [({"n": 3, "d": 2, "m": 4}, (), ())],
    "softmax": [({"n": 3, "c": 4}, (), ()), ({"n": 2, "c": 1}, (), ())],
    "log_softmax": [({"n": 3, "c": 4}, (), ())],
    "softmax_cross_entropy": [({"n": 4, "c": 3}, (), ()), ({"n": 2, "c": 1}, (), ())],
    "svm_loss": [({"n": 4, "c": 3}, (), ()), ({"n": 2, "c": 1}, (), ())],
    "mse": [({"n": 3, "d": 2}, (), ())],
    "two_layer_net": [({"n": 3, "d": 2, "h": 4, "o": 2}, (), ())],
    "batchnorm": [({"n": 4, "d": 3}, (), (1e-5,)), ({"n": 1, "d": 2}, (), (1e-5,))],
    "layernorm": [({"n": 2, "d": 4}, (), (1e-5,)), ({"n": 3, "d": 1}, (), (1e-5,))],
    "conv2d": [({"n": 2, "c": 3, "h": 5, "w": 4, "f": 2, "hh": 3, "ww": 2}, (), (1, 0)),
               ({"n": 1, "c": 2, "h": 4, "w": 5, "f": 3, "hh": 3, "ww": 3}, (), (2, 1)),
               ({"n": 1, "c": 1, "h": 1, "w": 2, "f": 2, "hh": 3, "ww": 2}, (), (2, 2))],
    "max_pool2d": [({"n": 1, "c": 2, "h": 4, "w": 5}, (), (2, 2)),
                   ({"n": 2, "c": 1, "h": 5, "w": 5}, (), (3, 1)),
                   ({"n": 1, "c": 1, "h": 3, "w": 2}, (), (1, 2))],
    "dropout": [({"n": 3, "d": 4}, (), (0.5, 7)), ({"n": 2, "d": 3}, (), (0.0, 0)),
                ({"n": 4, "d": 4}, (), (0.75, 2**32 - 1))],
})


def draw_inputs(spec, dims, batch, seed=0):
    """Inputs as the spec's own domains draw them, in float64 (labels stay int64)."""
    rng = np.random.default_rng(seed)
    shapes = spec.shapes(dims, batch)
    return [spec.inputs[name].domain.sample(rng, shapes[name], dims) for name in spec.input_names]


def traced(spec, inputs, hyper):
    """The reference as the engine traces it: f(primals, others), with the differentiable inputs
    as primals; labels, data and continuous hyper-parameters are traced too (others), the other
    hyper-parameters are fixed. Returns (f, primals, others) as float64 JAX values."""
    wanted = [n in spec.differentiable for n in spec.input_names]
    is_traced = [spec.hyper[k].traced for k in spec.hyper]

    def f(primals, others):
        p, o = iter(primals), iter(others)
        args = [next(p) if w else next(o) for w in wanted]
        return spec.reference(*args, *[next(o) if t else v for t, v in zip(is_traced, hyper)])

    primals = [jnp.asarray(a) for a, w in zip(inputs, wanted) if w]
    others = [jnp.asarray(a) for a, w in zip(inputs, wanted) if not w]
    others += [jnp.asarray(v, dtype=jnp.float64) for v, t in zip(hyper, is_traced) if t]
    return f, primals, others


def run_reference(spec, inputs, hyper):
    # One compiled program per case, as the engine runs it: faster than op-by-op dispatch, and
    # it shows the reference traces with labels and continuous hyper-parameters as arguments.
    with jax.enable_x64(True):
        f, primals, others = traced(spec, inputs, hyper)
        return jax.tree_util.tree_map(np.asarray, jax.jit(f)(primals, others))


def all_cases():
    return [(name, *case) for name in OPS for case in CASES[name]]


# --------------------------------------------------------------------------- what is in the catalogue

def test_every_contract_op_is_in_the_catalogue_and_nothing_else():
    # The assignment families have their own tests (tests/test_assignments_specs.py).
    from oracle.specs import assignment_layers, recurrent

    assignment_ops = {spec.name for module in (assignment_layers, recurrent) for spec in module.SPECS}
    assert sorted(set(specs.names()) - assignment_ops) == sorted(OPS)
    assert set(FORWARDS) == set(OPS) == set(CASES)


@pytest.mark.parametrize("name", OPS)
def test_every_op_states_its_math_in_one_line(name):
    spec = specs.get(name)
    assert spec.name == name
    assert spec.math.strip() and "\n" not in spec.math


def test_an_unknown_op_is_a_spec_error_that_suggests_the_closest_name():
    with pytest.raises(oracle.SpecError, match="matmul"):
        specs.get("matmull")


def test_an_unknown_op_far_from_everything_points_at_the_catalogue_listing_in_one_line():
    with pytest.raises(oracle.SpecError, match=r"^unknown op 'qqqqqqqqqqqq'; `oracle list` shows the \d+ ops of the catalogue$"):
        specs.get("qqqqqqqqqqqq")


def test_only_the_gate_ops_carry_properties():
    carrying = {name: specs.get(name).properties for name in OPS if specs.get(name).properties}
    assert carrying == {"add": ("add_distributes",), "mul": ("mul_swaps",), "max": ("max_routes",),
                        "copy": ("copy_adds",), "relu": ("relu_sparse",), "matmul": ("matmul_transpose",)}


def test_elementwise_inputs_share_one_batched_shape():
    for name in ["add", "sub", "mul", "div", "max", "min"]:
        assert [a.shape for a in specs.get(name).inputs.values()] == ["*batch n", "*batch n"]
    for name in ["neg", "copy", "exp", "log", "reciprocal", "add_const", "mul_const", "pow_const",
                 "sigmoid", "tanh", "relu", "leaky_relu"]:
        assert [a.shape for a in specs.get(name).inputs.values()] == ["*batch n"]


def test_domains_keep_inputs_where_the_op_is_defined():
    def domain(op, arg):
        return specs.get(op).inputs[arg].domain

    assert domain("log", "x").low > 0 and domain("pow_const", "x").low > 0
    for op, arg in [("div", "y"), ("reciprocal", "x")]:
        assert domain(op, arg).kind == "nonzero" and domain(op, arg).low > 0
    for op in ["softmax_cross_entropy", "svm_loss"]:
        assert specs.get(op).inputs["y"].is_labels and domain(op, "y").classes == "c"
        assert specs.get(op).differentiable == ["x"]


def test_two_layer_net_differentiates_only_its_weights():
    spec = specs.get("two_layer_net")
    assert spec.input_names == ["x", "y", "w1", "w2"]
    assert spec.differentiable == ["w1", "w2"] and spec.weight_names == ["w1", "w2"]


def test_mse_differentiates_both_arguments():
    assert specs.get("mse").differentiable == ["y_pred", "y"]


def test_hyper_parameters_are_passed_in_the_contract_order():
    order = {name: list(specs.get(name).hyper) for name in OPS if specs.get(name).hyper}
    assert order == {
        "add_const": ["c"], "mul_const": ["c"], "pow_const": ["p"], "leaky_relu": ["alpha"],
        "reshape": ["shape"], "sum": ["axis"], "mean": ["axis"], "batchnorm": ["eps"], "layernorm": ["eps"],
        "conv2d": ["stride", "pad"], "max_pool2d": ["size", "stride"], "dropout": ["p", "seed"],
    }


# --------------------------------------------------------------------------- hyper-parameter ranges

def drawn_values(strategy, examples=60):
    seen = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True)
    @given(strategy)
    def collect(value):
        seen.append(value)

    collect()
    return seen


@pytest.mark.parametrize("name, arg, expected", [
    ("pow_const", "p", {-2, -1, 0.5, 2, 3}),
    ("leaky_relu", "alpha", {0.01, 0.1, 0.2}),
    ("sum", "axis", {0, 1}),
    ("mean", "axis", {None, 0, 1}),
    ("batchnorm", "eps", {1e-5}),
    ("layernorm", "eps", {1e-5}),
    ("conv2d", "stride", {1, 2}),
    ("conv2d", "pad", {0, 1, 2}),
    ("max_pool2d", "size", {1, 2, 3}),
    ("max_pool2d", "stride", {1, 2}),
    ("dropout", "p", {0.0, 0.25, 0.5, 0.75}),
])
def test_choice_hyper_parameters_cover_their_whole_range(name, arg, expected):
    assert set(drawn_values(specs.get(name).hyper[arg].strategy({}))) == expected


@pytest.mark.parametrize("name", ["add_const", "mul_const"])
def test_constants_are_drawn_from_minus_three_to_three(name):
    values = drawn_values(specs.get(name).hyper["c"].strategy({}), examples=100)
    assert all(-3.0 <= v <= 3.0 for v in values)
    assert min(values) < 0 < max(values)


def test_dropout_seeds_are_non_negative_integers_of_any_size():
    values = drawn_values(specs.get("dropout").hyper["seed"].strategy({}), examples=100)
    assert all(isinstance(v, int) and 0 <= v < 2**32 for v in values)
    assert max(values) > 2**16


def test_reshape_targets_are_the_four_shapes_of_the_same_size():
    strategy = specs.get("reshape").hyper["shape"].strategy({"n": 2, "m": 3})
    assert set(drawn_values(strategy)) == {(6,), (3, 2), (1, 6), (6, 1)}


@pytest.mark.parametrize("name, arg, simplest", [
    ("conv2d", "stride", 1), ("conv2d", "pad", 0), ("dropout", "seed", 0), ("reshape", "shape", (6,)),
])
def test_failures_shrink_toward_the_most_ordinary_hyper_parameter(name, arg, simplest):
    strategy = specs.get(name).hyper[arg].strategy({"n": 2, "m": 3})
    assert find(strategy, lambda _: True, settings=settings(database=None)) == simplest


def test_conv_windows_larger_than_the_padded_image_are_not_drawn():
    fits = specs.get("conv2d").where
    dims = {"n": 1, "c": 1, "f": 1, "h": 2, "w": 4, "hh": 3, "ww": 3}
    assert not fits(dims, {"stride": 1, "pad": 0})
    assert fits(dims, {"stride": 1, "pad": 1})
    assert fits({**dims, "h": 3}, {"stride": 2, "pad": 0})
    assert not fits({**dims, "h": 3, "w": 1}, {"stride": 1, "pad": 0})
    assert specs.get("conv2d").dim_range("hh") == (1, 3) and specs.get("conv2d").dim_range("h") == (1, 5)


def test_pool_windows_larger_than_the_image_are_not_drawn():
    fits = specs.get("max_pool2d").where
    assert fits({"h": 3, "w": 3}, {"size": 3, "stride": 2})
    assert not fits({"h": 2, "w": 3}, {"size": 3, "stride": 1})
    assert not fits({"h": 3, "w": 2}, {"size": 3, "stride": 1})


# --------------------------------------------------------------------------- references

@pytest.mark.parametrize("name, dims, batch, hyper", all_cases())
def test_reference_agrees_with_a_plain_numpy_forward_in_float64(name, dims, batch, hyper):
    spec = specs.get(name)
    inputs = draw_inputs(spec, dims, batch)
    got = run_reference(spec, inputs, hyper)
    expected = FORWARDS[name](*inputs, *hyper)
    got, expected = (got, expected) if spec.outputs > 1 else ((got,), (expected,))
    assert len(got) == len(expected) == spec.outputs
    for g, e in zip(got, expected):
        assert g.dtype == np.float64
        assert g.shape == np.shape(e)
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


def expected_shape(name, dims, batch, hyper):
    """The output shape each op promises, in the contract's words."""
    d = dims
    if specs.get(name).has_batch:
        return tuple(batch) + (d["n"],)
    if name in ("dot", "l2_squared", "softmax_cross_entropy", "svm_loss", "mse", "two_layer_net"):
        return ()
    if name == "matmul":
        return (d["n"], d["m"])
    if name == "transpose":
        return (d["m"], d["n"])
    if name == "reshape":
        return hyper["shape"]
    if name in ("sum", "mean"):
        return {None: (), 0: (d["m"],), 1: (d["n"],)}[hyper["axis"]]
    if name == "affine":
        return (d["n"], d["m"])
    if name in ("softmax", "log_softmax"):
        return (d["n"], d["c"])
    if name in ("bias_add", "batchnorm", "layernorm", "dropout"):
        return (d["n"], d["d"])
    if name == "conv2d":
        side = lambda size, k: 1 + (size + 2 * hyper["pad"] - k) // hyper["stride"]  # noqa: E731
        return (d["n"], d["f"], side(d["h"], d["hh"]), side(d["w"], d["ww"]))
    if name == "max_pool2d":
        side = lambda size: 1 + (size - hyper["size"]) // hyper["stride"]  # noqa: E731
        return (d["n"], d["c"], side(d["h"]), side(d["w"]))
    raise AssertionError(f"no expected shape written for {name}")


@pytest.mark.parametrize("name", OPS)
@FEW
@given(data=st.data())
def test_reference_output_has_the_promised_shape_for_drawn_dims(name, data):
    spec = specs.get(name)
    dims = {n: data.draw(st.integers(*spec.dim_range(n)), label=n) for n in spec.dim_names()}
    batch = data.draw(st.lists(st.integers(1, 3), max_size=2), label="batch") if spec.has_batch else []
    hyper = {k: data.draw(h.strategy(dims), label=k) for k, h in spec.hyper.items()}
    assume(spec.where is None or spec.where(dims, hyper))
    with jax.enable_x64(True):
        f, primals, others = traced(spec, draw_inputs(spec, dims, batch), list(hyper.values()))
        out = jax.eval_shape(f, primals, others)
    outs = out if spec.outputs > 1 else (out,)
    for o in outs:
        assert o.shape == expected_shape(name, dims, batch, hyper)
        assert o.dtype == np.float64


def directional_derivative(forward, inputs, hyper, diff, direction, step=1e-6):
    """(F(x + h u) - F(x - h u)) / 2h of a NumPy forward, moving only the differentiable inputs."""
    def moved(sign):
        args = [a + sign * step * direction[i] if i in diff else a for i, a in enumerate(inputs)]
        return np.asarray(forward(*args, *hyper), dtype=np.float64)
    return (moved(1) - moved(-1)) / (2 * step)


# The first case of every op, and every case of the ops whose indexing is easiest to get wrong.
GRADIENT_CASES = [(name, *CASES[name][0]) for name in OPS if name != "copy"] + [
    (name, *case) for name in ("sum", "mean", "conv2d", "max_pool2d") for case in CASES[name][1:]]


@pytest.mark.parametrize("name, dims, batch, hyper", GRADIENT_CASES)
def test_reference_gradient_is_the_derivative_of_the_numpy_forward(name, dims, batch, hyper):
    # <vjp(c), u> must equal <c, J u>, with J u from central differences of the NumPy forward.
    spec = specs.get(name)
    inputs = draw_inputs(spec, dims, batch, seed=1)
    if spec.kinks is not None:
        kinks = spec.kinks(*inputs, *hyper)
        assert np.min(np.abs(kinks), initial=np.inf) > 1e-3  # the case is away from every kink
    diff = [i for i, n in enumerate(spec.input_names) if spec.inputs[n].differentiable]
    rng = np.random.default_rng(2)
    direction = {i: rng.uniform(-1, 1, inputs[i].shape) for i in diff}
    with jax.enable_x64(True):
        f, primals, others = traced(spec, inputs, hyper)
        cotangent = rng.uniform(-1, 1, jax.eval_shape(f, primals, others).shape)
        grads = jax.jit(lambda p, o: jax.vjp(lambda *q: f(q, o), *p)[1](cotangent))(primals, others)
    assert len(grads) == len(diff)
    got = sum(float(np.sum(np.asarray(g) * direction[i])) for g, i in zip(grads, diff))
    expected = float(np.sum(cotangent * directional_derivative(FORWARDS[name], inputs, hyper, diff, direction)))
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-8)


def test_copy_reference_hands_the_same_value_to_both_outputs():
    x = np.array([1.5, -2.0])
    with jax.enable_x64(True):
        (a, b), pullback = jax.vjp(specs.get("copy").reference, jnp.asarray(x))
        (dx,) = pullback((jnp.array([1.0, 2.0]), jnp.array([10.0, 20.0])))
    np.testing.assert_array_equal(a, x)
    np.testing.assert_array_equal(b, x)
    np.testing.assert_array_equal(dx, [11.0, 22.0])


def test_dropout_keeps_exactly_the_contract_mask():
    x = np.ones((3, 5))
    out = run_reference(specs.get("dropout"), [x], [0.25, 11])
    kept = np.random.default_rng(11).random((3, 5)) >= 0.25
    np.testing.assert_allclose(out, np.where(kept, 1 / 0.75, 0.0))


def test_dropout_with_p_zero_is_the_identity():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(run_reference(specs.get("dropout"), [x], [0.0, 3]), x)


# --------------------------------------------------------------------------- kinks

def test_only_ops_with_non_differentiable_points_declare_kinks():
    with_kinks = {name for name in OPS if specs.get(name).kinks is not None}
    assert with_kinks == {"relu", "leaky_relu", "max", "min", "svm_loss", "max_pool2d"}


def test_relu_kinks_are_the_inputs_themselves():
    x = np.array([[-1.0, 0.0, 2.5]])
    np.testing.assert_array_equal(specs.get("relu").kinks(x), x)
    np.testing.assert_array_equal(specs.get("leaky_relu").kinks(x, 0.1), x)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_and_min_kinks_are_the_differences(name):
    x, y = np.array([1.0, 2.0, -1.0]), np.array([1.0, 0.5, 3.0])
    np.testing.assert_array_equal(specs.get(name).kinks(x, y), [0.0, 1.5, -4.0])


def test_svm_kinks_are_the_margins_of_the_wrong_classes_only():
    x = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 2.0]])
    y = np.array([0, 2])
    margins = specs.get("svm_loss").kinks(x, y)
    # Row 0: classes 1 and 2 against 1.0; row 1: classes 0 and 1 against 2.0. Never the +1 of j == y_i.
    assert sorted(np.ravel(margins)) == [-0.5, -0.5, 2.0, 3.0]


def test_svm_with_one_class_has_no_kinks():
    assert np.size(specs.get("svm_loss").kinks(np.array([[0.3], [-1.0]]), np.array([0, 0]))) == 0


def test_max_pool_kinks_find_a_tie_for_a_window_maximum():
    kinks = specs.get("max_pool2d").kinks
    tie = np.array([[[[1.0, 1.0], [0.0, 0.0]]]])
    np.testing.assert_array_equal(kinks(tie, 2, 2), [0.0])
    # A tie below the maximum does not matter: the gap is largest minus second largest.
    np.testing.assert_array_equal(kinks(np.array([[[[3.0, 1.0], [1.0, 0.0]]]]), 2, 2), [2.0])


def test_max_pool_kinks_cover_every_overlapping_window():
    x = np.array([[[[0.0, 5.0, 1.0],
                    [2.0, 4.0, 5.0],
                    [9.0, 3.0, 3.0]]]])
    # Windows (top-left first): {0,5,2,4} {5,1,4,5} {2,4,9,3} {4,5,3,3}.
    np.testing.assert_array_equal(specs.get("max_pool2d").kinks(x, 2, 1), [1.0, 0.0, 5.0, 1.0])
    # With stride 2 only the top-left window fits; the last row and column are dropped (floor).
    np.testing.assert_array_equal(specs.get("max_pool2d").kinks(x, 2, 2), [1.0])


def test_max_pool_windows_of_one_element_have_no_kinks():
    x = np.ones((2, 1, 3, 3))
    assert np.size(specs.get("max_pool2d").kinks(x, 1, 1)) == 0
    assert np.size(specs.get("max_pool2d").kinks(x, 1, 2)) == 0
