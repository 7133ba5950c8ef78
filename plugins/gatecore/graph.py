"""A computational graph of gates, built by ordinary expressions.

    graph = Graph()
    x, y, z = graph.input(-2.0), graph.input(5.0), graph.input(-4.0)
    q = x + y                  # each operation runs its gate's forward and records a node
    f = q * z                  # f.data == -12
    graph.backward(f)          # x.grad == -4, y.grad == -4, z.grad == 3, q.grad == -4

Nodes are recorded as they are made, after the values they use, so the list of nodes is
always in topological order: forward walks it front to back, backward back to front.
"""

from __future__ import annotations

import numbers

import numpy as np

from .gates import (
    AddConstGate, AddGate, CopyGate, DivideGate, DotGate, ExpGate, Im2ColGate, LeakyReLUGate,
    LogGate, MatMulGate, MaxAlongGate, MaxGate, MeanGate, MinGate, MulConstGate, MultiplyGate,
    NegateGate, Pad2dGate, PickGate, PowConstGate, ReciprocalGate, ReLUGate, ReshapeGate,
    SigmoidGate, SubtractGate, SumGate, TanhGate, TransposeGate,
)


class Node:
    """One gate in a graph, with the values it reads and the values it made."""

    def __init__(self, gate, inputs, hyper):
        self.gate, self.inputs, self.hyper = gate, tuple(inputs), tuple(hyper)
        self.outputs: tuple[Value, ...] = ()


class Graph:
    """Nodes in topological order; forward runs them in order, backward in reverse."""

    def __init__(self):
        self.nodes: list[Node] = []
        self.inputs: list[Value] = []   # the variables we want gradients for, in order
        self.values: list[Value] = []   # every value: inputs, constants and intermediates

    def input(self, data) -> "Value":
        value = self._value(data)
        self.inputs.append(value)
        return value

    def constant(self, data) -> "Value":
        return self._value(data)

    def _value(self, data, node=None) -> "Value":
        value = Value(data, self, node)
        self.values.append(value)
        return value

    def apply(self, gate, inputs, *hyper):
        """Run gate.forward on the inputs' data now and record it as the next node."""
        node = Node(gate, inputs, hyper)
        out = gate.forward(*(v.data for v in node.inputs), *hyper)
        node.outputs = tuple(self._value(o, node) for o in (out if gate.outputs > 1 else (out,)))
        self.nodes.append(node)
        return node.outputs if gate.outputs > 1 else node.outputs[0]

    def forward(self):
        """Run every node again, in topological order, on the inputs' current data."""
        for node in self.nodes:
            out = node.gate.forward(*(v.data for v in node.inputs), *node.hyper)
            for value, data in zip(node.outputs, out if node.gate.outputs > 1 else (out,)):
                value.data = np.asarray(data)

    def backward(self, output: "Value", upstream=None) -> tuple:
        """Set .grad = dL/dvalue on every value, L being `output`; return the inputs' gradients."""
        for value in self.values:
            value.grad = np.zeros_like(value.data)
        output.grad = np.ones_like(output.data) if upstream is None else np.array(upstream, output.dtype)  # dL/dL
        for node in reversed(self.nodes):
            grads = node.gate.backward(*(out.grad for out in node.outputs))
            for value, grad in zip(node.inputs, grads):
                if grad is not None:
                    value.grad += grad  # a value used more than once adds up its gradients
        return tuple(value.grad for value in self.inputs)


class Value:
    """A value in a graph: its data, the node that made it (None for inputs) and, after backward, its grad.

    Arithmetic on values runs gates and records them, so `q = x + y; f = q * z` builds the graph.
    Python numbers become hyper-parameters of the constant gates ('+1', '*-1'); arrays become constants.
    """

    __array_ufunc__ = None  # `array * value` calls value.__rmul__ instead of NumPy looping over it

    def __init__(self, data, graph: Graph, node: Node | None = None):
        self.data, self.graph, self.node, self.grad = np.asarray(data), graph, node, None

    def __repr__(self):
        return f"Value({self.data!r}, grad={self.grad!r})"

    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)

    def _lift(self, other) -> "Value":
        if isinstance(other, Value):
            if other.graph is not self.graph:
                raise ValueError("cannot combine values from two different graphs")
            return other
        if isinstance(other, numbers.Number):
            other = np.asarray(other, self.dtype)  # a Python 0 must not turn float32 into float64
        return self.graph.constant(other)

    def _apply(self, gate, *others, hyper=()):
        return self.graph.apply(gate, [self, *(self._lift(o) for o in others)], *hyper)

    # arithmetic
    def __add__(self, other):
        if isinstance(other, numbers.Number):
            return self._apply(AddConstGate(), hyper=(other,))
        return self._apply(AddGate(), other)

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        if isinstance(other, numbers.Number):
            return self + (-other)
        return self._apply(SubtractGate(), other)

    def __rsub__(self, other):
        if isinstance(other, numbers.Number):
            return -self + other
        return self._lift(other) - self

    def __mul__(self, other):
        if isinstance(other, numbers.Number):
            return self._apply(MulConstGate(), hyper=(other,))
        return self._apply(MultiplyGate(), other)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        if isinstance(other, numbers.Number):
            return self * (1 / other)
        return self._apply(DivideGate(), other)

    def __rtruediv__(self, other):
        if isinstance(other, numbers.Number):
            return reciprocal(self) if other == 1 else reciprocal(self) * other
        return self._lift(other) / self

    def __neg__(self):
        return self._apply(NegateGate())

    def __pow__(self, p):
        return self._apply(PowConstGate(), hyper=(p,))

    def __matmul__(self, other):
        return self._apply(MatMulGate(), other)

    def __rmatmul__(self, other):
        return self._lift(other) @ self

    # shapes and reductions
    @property
    def T(self):
        return self._apply(TransposeGate())

    def transpose(self, axes=None):
        return self._apply(TransposeGate(), hyper=(axes,))

    def reshape(self, shape):
        return self._apply(ReshapeGate(), hyper=(shape,))

    def sum(self, axis=None, keepdims=False):
        return self._apply(SumGate(), hyper=(axis, keepdims))

    def mean(self, axis=None, keepdims=False):
        return self._apply(MeanGate(), hyper=(axis, keepdims))

    def max(self, axis, keepdims=False):
        return self._apply(MaxAlongGate(), hyper=(axis, keepdims))


# --------------------------------------------------------------------------- functions of values

def exp(x: Value) -> Value:
    return x._apply(ExpGate())


def log(x: Value) -> Value:
    return x._apply(LogGate())


def reciprocal(x: Value) -> Value:
    return x._apply(ReciprocalGate())


def sigmoid(x: Value) -> Value:
    return x._apply(SigmoidGate())


def tanh(x: Value) -> Value:
    return x._apply(TanhGate())


def relu(x: Value) -> Value:
    return x._apply(ReLUGate())


def leaky_relu(x: Value, alpha) -> Value:
    return x._apply(LeakyReLUGate(), hyper=(alpha,))


def maximum(x: Value, y) -> Value:
    return x._apply(MaxGate(), y)


def minimum(x: Value, y) -> Value:
    return x._apply(MinGate(), y)


def copy(x: Value) -> tuple[Value, Value]:
    return x._apply(CopyGate())


def dot(x: Value, y) -> Value:
    return x._apply(DotGate(), y)


def pick(x: Value, labels) -> Value:
    """x[i, labels[i]] for every row i."""
    return x._apply(PickGate(), hyper=(labels,))


def pad2d(x: Value, pad) -> Value:
    return x._apply(Pad2dGate(), hyper=(pad,))


def im2col(x: Value, HH, WW, stride) -> Value:
    return x._apply(Im2ColGate(), hyper=(HH, WW, stride))
