"""gatecore reproduces the lecture's worked examples, with their numbers, and behaves as a graph should."""

import numpy as np
import pytest

from oracle.plugins.gatecore import Graph, plugin
from oracle.plugins.gatecore.gates import (
    AddGate, CopyGate, ExpGate, MatMulGate, MaxGate, MultiplyGate, ReLUGate, SigmoidGate,
)
from oracle.plugins.gatecore.graph import copy, exp, maximum, reciprocal, sigmoid
from oracle.plugins.gatecore.ops import l2_squared, sigmoid_composed


def test_add_then_multiply_example_gives_the_lecture_numbers():
    # f(x, y, z) = (x + y) z at x = -2, y = 5, z = -4
    graph = Graph()
    x, y, z = graph.input(-2.0), graph.input(5.0), graph.input(-4.0)
    q = x + y
    f = q * z
    assert f.data == -12
    assert graph.backward(f) == (-4, -4, 3)
    assert (x.grad, y.grad, z.grad, q.grad, f.grad) == (-4, -4, 3, -4, 1)


def _neuron(activation):
    graph = Graph()
    w0, x0, w1, x1, w2 = (graph.input(v) for v in (2.0, -1.0, -3.0, -2.0, -3.0))
    f = activation(w0 * x0 + w1 * x1 + w2)
    return graph, f


@pytest.mark.parametrize("activation", [sigmoid, sigmoid_composed], ids=["fused", "composed"])
def test_sigmoid_neuron_example_gives_the_lecture_numbers(activation):
    graph, f = _neuron(activation)
    grads = graph.backward(f)
    assert round(float(f.data), 2) == 0.73
    # w0, x0, w1, x1, w2
    assert [round(float(g), 2) for g in grads] == [-0.20, 0.39, -0.39, -0.59, 0.20]


def test_composed_sigmoid_has_each_gates_local_gradient_in_its_place():
    # 1/x gets dL/d(1/x) = 1 and passes -1/x² = -1/1.37² = -0.53 to the +1 gate's output;
    # +1 passes it on to exp's output; exp multiplies by e^(-1) = 0.37 for the *-1 gate's output: -0.20;
    # *-1 flips it to 0.20 for the neuron's input.
    graph = Graph()
    s = graph.input(1.0)
    negated = s * -1
    exponent = exp(negated)
    denominator = exponent + 1
    f = reciprocal(denominator)
    graph.backward(f)
    assert round(float(denominator.data), 2) == 1.37
    assert round(float(denominator.grad), 2) == -0.53
    assert round(float(exponent.grad), 2) == -0.53
    assert round(float(negated.grad), 2) == -0.20
    assert round(float(s.grad), 2) == 0.20


def test_fused_and_composed_sigmoid_give_the_same_values_and_gradients():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3)) * 3
    upstream = rng.normal(size=(4, 3))
    fused = plugin_impl("sigmoid").vjp(x)
    composed = plugin_impl("sigmoid_composed").vjp(x)
    np.testing.assert_allclose(fused[0], composed[0], rtol=1e-14)
    # σ(1 - σ) from the fused gate, σ² e⁻ˣ from the chain of four: equal up to rounding
    np.testing.assert_allclose(fused[1](upstream)[0], composed[1](upstream)[0], rtol=1e-10)


def test_relu_example_passes_upstream_only_where_x_is_positive():
    gate = ReLUGate()
    out = gate.forward(np.array([1.0, -2.0, 3.0, -1.0]))
    (dx,) = gate.backward(np.array([4.0, -1.0, 5.0, 9.0]))
    np.testing.assert_array_equal(out, [1, 0, 3, 0])
    np.testing.assert_array_equal(dx, [4, 0, 5, 0])


def test_squared_norm_of_W_x_gives_2_q_xT_and_2_WT_q():
    # The lecture's numbers: W = [[0.1, 0.5], [-0.3, 0.8]], x = [0.2, 0.4], q = W x = [0.22, 0.26].
    graph = Graph()
    W, x = graph.input(np.array([[0.1, 0.5], [-0.3, 0.8]])), graph.input(np.array([0.2, 0.4]))
    f = l2_squared(W, x)
    dW, dx = graph.backward(f)
    q = W.data @ x.data
    np.testing.assert_allclose(q, [0.22, 0.26])
    np.testing.assert_allclose(f.data, 0.116)
    np.testing.assert_allclose(dW, 2 * np.outer(q, x.data))
    np.testing.assert_allclose(dx, 2 * W.data.T @ q)
    np.testing.assert_allclose(dW, [[0.088, 0.176], [0.104, 0.208]])
    np.testing.assert_allclose(dx, [-0.112, 0.636])


def test_gates_distribute_route_and_switch_as_the_lecture_says():
    dz = np.array([2.0])
    add, mul, mx = AddGate(), MultiplyGate(), MaxGate()
    add.forward(np.array([3.0]), np.array([-4.0]))
    mul.forward(np.array([3.0]), np.array([-4.0]))
    mx.forward(np.array([3.0]), np.array([-4.0]))
    assert add.backward(dz) == (2, 2)        # distributor
    assert mul.backward(dz) == (-8, 6)       # switcher
    assert mx.backward(dz) == (2, 0)         # router
    copy_gate = CopyGate()
    copy_gate.forward(np.array([3.0]))
    assert copy_gate.backward(np.array([2.0]), np.array([5.0])) == (7,)  # adder


def test_a_value_used_more_than_once_adds_up_its_gradients():
    graph = Graph()
    x = graph.input(3.0)
    f = x * x + x          # x feeds three places: df/dx = 2x + 1
    graph.backward(f)
    assert x.grad == 7
    graph = Graph()
    x = graph.input(np.array([1.0, -2.0]))
    a, b = copy(x)         # the copy gate makes the fan-out explicit
    f = (a * 3 + b * b).sum()
    graph.backward(f)
    np.testing.assert_array_equal(x.grad, [3 + 2 * 1.0, 3 + 2 * -2.0])


def test_backward_gives_gradients_of_every_intermediate_value():
    graph = Graph()
    x, W = graph.input(np.array([[1.0, 2.0]])), graph.input(np.array([[0.5], [-1.0]]))
    s = x @ W
    h = sigmoid(s)
    loss = (h * h).sum()
    graph.backward(loss)
    assert h.grad.shape == h.shape and s.grad.shape == s.shape
    np.testing.assert_allclose(h.grad, 2 * h.data)
    np.testing.assert_allclose(s.grad, 2 * h.data * h.data * (1 - h.data))
    np.testing.assert_allclose(W.grad, x.data.T @ s.grad)


def test_bias_add_reduces_the_gradient_to_the_bias_shape():
    graph = Graph()
    x, b = graph.input(np.ones((4, 3))), graph.input(np.zeros(3))
    out = x + b
    upstream = np.arange(12.0).reshape(4, 3)
    dx, db = graph.backward(out, upstream)
    assert db.shape == (3,)
    np.testing.assert_array_equal(db, upstream.sum(axis=0))
    np.testing.assert_array_equal(dx, upstream)


def test_backward_walks_the_nodes_in_reverse_topological_order():
    # Walking forwards would apply exp's backward before its upstream gradient exists.
    graph = Graph()
    x = graph.input(0.5)
    y = exp(x * 2)
    graph.backward(y)
    assert [type(n.gate).__name__ for n in graph.nodes] == ["MulConstGate", "ExpGate"]
    np.testing.assert_allclose(x.grad, 2 * np.exp(1.0))


def test_graph_forward_reruns_the_nodes_on_new_input_data():
    graph = Graph()
    x, W = graph.input(np.array([[1.0, 2.0]])), graph.input(np.array([[1.0], [1.0]]))
    f = (x @ W).sum()
    assert f.data == 3
    W.data = np.array([[2.0], [-1.0]])
    graph.forward()
    assert f.data == 0
    graph.backward(f)
    np.testing.assert_array_equal(x.grad, [[2.0, -1.0]])


@pytest.mark.parametrize("gate, args", [
    (SigmoidGate, 1), (ExpGate, 1), (ReLUGate, 1), (MultiplyGate, 2), (MaxGate, 2), (AddGate, 2),
])
def test_gates_keep_float32(gate, args):
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    g = gate()
    out = g.forward(*[x] * args)
    grads = g.backward(np.ones_like(out))
    assert out.dtype == np.float32
    assert all(d.dtype == np.float32 for d in grads)


def test_python_numbers_in_expressions_keep_a_float32_graph_float32():
    graph = Graph()
    x = graph.input(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))
    b = graph.input(np.ones(3, dtype=np.float32))
    f = ((sigmoid_composed(x) + b) / 3 - 0.5).mean()
    f = maximum(f, 0.0) + 2 * f ** 2
    graph.backward(f)
    assert all(v.data.dtype == np.float32 and v.grad.dtype == np.float32 for v in graph.values)


def test_matmul_gate_puts_the_transposes_where_the_shapes_need_them():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    gate = MatMulGate()
    gate.forward(a, b)
    dz = np.ones((2, 4))
    da, db = gate.backward(dz)
    np.testing.assert_array_equal(da, dz @ b.T)
    np.testing.assert_array_equal(db, a.T @ dz)


def plugin_impl(label):
    return next(i for i in plugin.implementations if i.label == label)
