"""gatecore: the project's own gate-based autodiff core, registered op by op with the oracle.

Single operations are gates (gates.py); compound ops are small graphs of gates (ops.py)
recorded and differentiated by the Graph (graph.py). Every op of the catalogue has an
implementation here, using each of the oracle's calling conventions where it is natural:

    gate            one gate class per elementwise and linear-algebra op
    pullback        the graphs: a fresh graph per call, its backward as the pullback
    layer           batchnorm and layernorm: forward keeps the graph as the cache
    value_and_grad  softmax_cross_entropy, as CS231n's softmax_loss(x, y) -> (loss, dx)
    loss            the lecture's two-layer network: (weights, x, y) -> (loss, {name: grad})
"""

from __future__ import annotations

import functools

import oracle

from . import ops
from .gates import (
    AddConstGate, AddGate, CopyGate, DivideGate, DotGate, ExpGate, LeakyReLUGate, LogGate,
    MatMulGate, MaxGate, MeanGate, MinGate, MulConstGate, MultiplyGate, NegateGate, PowConstGate,
    ReciprocalGate, ReLUGate, ReshapeGate, SigmoidGate, SubtractGate, SumGate, TanhGate,
    TransposeGate,
)
from .graph import Graph, Value

__all__ = ["plugin", "Graph", "Value", "ops", "GATES"]

plugin = oracle.Plugin("gatecore")

# --------------------------------------------------------------------------- single gates

GATES = {
    "add": AddGate, "sub": SubtractGate, "mul": MultiplyGate, "div": DivideGate, "neg": NegateGate,
    "max": MaxGate, "min": MinGate, "copy": CopyGate, "exp": ExpGate, "log": LogGate,
    "reciprocal": ReciprocalGate, "add_const": AddConstGate, "mul_const": MulConstGate,
    "pow_const": PowConstGate, "sigmoid": SigmoidGate, "tanh": TanhGate, "relu": ReLUGate,
    "leaky_relu": LeakyReLUGate, "matmul": MatMulGate, "dot": DotGate, "transpose": TransposeGate,
    "reshape": ReshapeGate, "sum": SumGate, "mean": MeanGate,
    "bias_add": AddGate,  # the add gate broadcasts b and sums its gradient back over the rows
}
for _op, _gate in GATES.items():
    plugin.gate(_op, _gate)


# --------------------------------------------------------------------------- graphs of gates

def graph_pullback(build, inputs: int):
    """f(*arrays, *hyper) -> (out, pullback) recording build's gates in a fresh graph per call.

    The first `inputs` arguments become the graph's inputs; the rest (hyper-parameters,
    labels) are passed to build as they are.
    """

    @functools.wraps(build)
    def f(*args):
        graph = Graph()
        out = build(*(graph.input(a) for a in args[:inputs]), *args[inputs:])
        return out.data, lambda upstream: graph.backward(out, upstream)

    return f


plugin.pullback("sigmoid", graph_pullback(ops.sigmoid_composed, 1), name="sigmoid_composed")
plugin.pullback("l2_squared", graph_pullback(ops.l2_squared, 2))
plugin.pullback("affine", graph_pullback(ops.affine, 3))
plugin.pullback("softmax", graph_pullback(ops.softmax, 1))
plugin.pullback("log_softmax", graph_pullback(ops.log_softmax, 1))
plugin.pullback("svm_loss", graph_pullback(ops.svm_loss, 1))
plugin.pullback("mse", graph_pullback(ops.mse, 2))
plugin.pullback("conv2d", graph_pullback(ops.conv2d, 3))
plugin.pullback("max_pool2d", graph_pullback(ops.max_pool2d, 1))
plugin.pullback("dropout", graph_pullback(ops.dropout, 1))


@plugin.value_and_grad("softmax_cross_entropy")
def softmax_cross_entropy(x, y):
    """CS231n's softmax_loss(x, y) -> (loss, dx), computed by a graph of gates."""
    graph = Graph()
    loss = ops.softmax_cross_entropy(graph.input(x), y)
    (dx,) = graph.backward(loss)
    return loss.data, dx


@plugin.loss("two_layer_net")
def two_layer_net(weights, x, y):
    """The lecture's network: loss and {'w1': dL/dw1, 'w2': dL/dw2}; x and y are data."""
    graph = Graph()
    w1, w2 = graph.input(weights["w1"]), graph.input(weights["w2"])
    loss = ops.two_layer_net(graph.constant(x), graph.constant(y), w1, w2)
    graph.backward(loss)
    return loss.data, {"w1": w1.grad, "w2": w2.grad}


# --------------------------------------------------------------------------- layers

def normalisation_layer(build):
    """forward(x, gamma, beta, eps) -> (out, cache) and backward(dout, cache) -> (dx, dgamma, dbeta)."""

    def forward(x, gamma, beta, eps):
        graph = Graph()
        out = build(graph.input(x), graph.input(gamma), graph.input(beta), eps)
        return out.data, (graph, out)

    def backward(dout, cache):
        graph, out = cache
        return graph.backward(out, dout)

    forward.__qualname__ = f"{build.__name__}_forward"
    backward.__qualname__ = f"{build.__name__}_backward"
    return forward, backward


plugin.layer("batchnorm", *normalisation_layer(ops.batchnorm))
plugin.layer("layernorm", *normalisation_layer(ops.layernorm))
