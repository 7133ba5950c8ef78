"""Output shapes from one symbolic trace per pattern of sizes are the shapes a concrete trace gives."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle.specs import CATALOGUE

from oracle import executables, symbolic_shapes
from oracle.cases import cases
from oracle.reference import _hyper_value, _programs
from oracle.symbolic_shapes import axis_names

PADDED = sorted(n for n, s in CATALOGUE.items() if s.padded)


def seen_whole(spec) -> bool:
    """Whether the store has a key for the spec's reference: what decides a symbolic trace (reference._output_shapes)."""
    return executables.program_key(spec, (), [], "", program="output_shapes") is not None


def signature_of(case) -> tuple:
    """(primals, others) as (shape, dtype) pairs, as reference._output_shapes is given them."""
    spec = case.spec
    hyper = [_hyper_value(v, "float64") for k, v in case.hyper.items() if spec.hyper[k].traced]
    primals = tuple((case.inputs[n].shape, case.inputs[n].dtype.str) for n in spec.differentiable)
    others = tuple((case.inputs[n].shape, case.inputs[n].dtype.str) for n in spec.input_names if n not in spec.differentiable)
    return primals, others + tuple((h.shape, h.dtype.str) for h in hyper)


NAMES = ((("n", "k", "m"),), (("m", None),))


def test_a_pattern_makes_each_named_dim_a_symbol_unless_it_is_one():
    shaped, sizes = symbolic_shapes.pattern(((((3, 1, 5), "<f8"),), (((5, 3), "<i8"),)), NAMES)
    assert shaped == (((("dim_n", 1, "dim_m"), "<f8"),), ((("dim_m", 3), "<i8"),))   # an axis without a name keeps its size
    assert sizes == {"dim_n": 3, "dim_m": 5}
    other, _ = symbolic_shapes.pattern(((((4, 1, 2), "<f8"),), (((2, 3), "<i8"),)), NAMES)
    assert other == shaped          # other sizes, the same dims of size 1: one trace serves both
    unit, _ = symbolic_shapes.pattern(((((1, 1, 2), "<f8"),), (((2, 3), "<i8"),)), NAMES)
    assert unit != shaped           # a dim of size 1: another pattern


def test_a_padded_dim_is_a_symbol_at_size_one_too():
    shaped, sizes = symbolic_shapes.pattern(((((1, 1, 5), "<f8"),), (((5, 3), "<i8"),)), NAMES, ones=frozenset({"n"}))
    assert shaped == (((("dim1_n", 1, "dim_m"), "<f8"),), ((("dim_m", 3), "<i8"),))
    other, _ = symbolic_shapes.pattern(((((4, 1, 2), "<f8"),), (((2, 3), "<i8"),)), NAMES, ones=frozenset({"n"}))
    assert other == shaped          # n of 1 and of 4: one trace


def test_a_dim_with_two_sizes_has_no_pattern():
    assert symbolic_shapes.pattern(((((3, 1, 5), "<f8"),), (((4, 3), "<i8"),)), NAMES) is None


@pytest.mark.parametrize("name", PADDED)
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
def test_a_padded_catalogue_op_has_the_output_shapes_of_its_concrete_trace(name, data):
    spec = CATALOGUE[name]
    assert seen_whole(spec)
    case = data.draw(cases(spec, "float64"))
    static = tuple((k, v) for k, v in case.hyper.items() if not spec.hyper[k].traced)
    forward = _programs(spec, static)[0]
    signature = signature_of(case)
    with jax.enable_x64(True):
        concrete = jax.eval_shape(forward, *[tuple(jax.ShapeDtypeStruct(s, np.dtype(d)) for s, d in g) for g in signature])
        symbolic = symbolic_shapes.output_shapes((spec, static), forward, signature, axis_names(spec, signature),
                                                 ones=symbolic_shapes.free_of_ones(spec))
    concrete = [tuple(o.shape) for o in (concrete if isinstance(concrete, (tuple, list)) else (concrete,))]
    assert symbolic is None or symbolic == concrete     # None: traced at its own shapes instead


@pytest.mark.parametrize("name", ["matmul", "softmax", "bias_add", "two_layer_net"])
def test_one_trace_serves_every_signature_of_a_pattern(name):
    spec = CATALOGUE[name]
    forward = _programs(spec, ())[0]
    symbolic_shapes._TRACED.clear()
    sizes = [{d: 2 + i + j % 2 for j, d in enumerate(spec.dim_names())} for i in range(4)]   # dims equal or not
    with jax.enable_x64(True):
        for dims in sizes:
            shapes = {n: spec.shapes(dims, ())[n] for n in spec.input_names}
            signature = (tuple((shapes[n], "<f8") for n in spec.differentiable),
                         tuple((shapes[n], "<f8") for n in spec.input_names if n not in spec.differentiable))
            concrete = jax.eval_shape(forward, *[tuple(jax.ShapeDtypeStruct(s, np.float64) for s, _ in g) for g in signature])
            assert symbolic_shapes.output_shapes(name, forward, signature, axis_names(spec, signature)) == [tuple(o.shape) for o in jax.tree_util.tree_leaves(concrete)]
    assert len(symbolic_shapes._TRACED) == 1


def test_a_reference_that_branches_on_a_dims_value_is_traced_at_its_own_shapes():
    def forward(primals, others):
        (x,) = primals
        return x[: int(x.shape[0]) // 2]       # int() of a symbolic dim cannot be traced symbolically

    assert symbolic_shapes.output_shapes("halves", forward, ((((6, 3), "<f8"),), ()), ((("n", "m"),), ())) is None
    # ... and at its next pattern it is not traced symbolically again
    assert symbolic_shapes.output_shapes("halves", forward, ((((6, 1), "<f8"),), ()), ((("n", "m"),), ())) is None
    assert ("halves", (((("dim_n", 1), "<f8"),), ())) not in symbolic_shapes._TRACED


def test_a_users_own_reference_is_not_seen_whole():
    def mine(x, y):
        return x @ y * 2

    assert seen_whole(CATALOGUE["matmul"])
    assert not seen_whole(dataclasses.replace(CATALOGUE["matmul"], name="mine", reference=mine))


def test_a_later_process_reads_a_patterns_trace_from_the_store_instead_of_tracing(store, monkeypatch):
    from oracle.reference import _stored_patterns

    spec = CATALOGUE["matmul"]
    forward = _programs(spec, ())[0]

    def shapes_at(n, k, m):
        signature = ((((n, k), "<f8"), ((k, m), "<f8")), ())
        with jax.enable_x64(True):
            return symbolic_shapes.output_shapes("matmul", forward, signature, axis_names(spec, signature),
                                                 _stored_patterns(spec, ()))

    traces = []
    real_trace = symbolic_shapes._trace
    monkeypatch.setattr(symbolic_shapes, "_trace", lambda *args: traces.append(args) or real_trace(*args))
    symbolic_shapes._TRACED.clear()
    assert shapes_at(2, 3, 4) == [(2, 4)] and len(traces) == 1
    symbolic_shapes._TRACED.clear()                 # as a new process finds it: only the store remembers
    assert shapes_at(5, 6, 7) == [(5, 7)] and len(traces) == 1
    assert shapes_at(5, 1, 7) == [(5, 7)] and len(traces) == 2     # another pattern (k = 1): traced


def test_a_reference_found_not_symbolic_is_remembered_so_by_the_store(store, monkeypatch):
    spec = dataclasses.replace(CATALOGUE["matmul"], name="matmul_halves")

    def forward(primals, others):
        (x, _) = primals
        return x[: int(x.shape[0]) // 2]

    from oracle.reference import _stored_patterns

    stored = _stored_patterns(spec, ())
    signature = ((((6, 3), "<f8"), ((3, 2), "<f8")), ())
    names = axis_names(spec, signature)
    assert symbolic_shapes.output_shapes("halves_stored", forward, signature, names, stored) is None
    symbolic_shapes._TRACED.clear()
    symbolic_shapes._CONCRETE.clear()
    monkeypatch.setattr(symbolic_shapes, "_trace", lambda *args: pytest.fail("traced again"))
    assert symbolic_shapes.output_shapes("halves_stored", forward, signature, names, stored) is None
