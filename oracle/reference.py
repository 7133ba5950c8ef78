"""The JAX reference: the spec's forward and `jax.vjp` of it, in float64.

float64 is switched on only inside `jax.enable_x64(True)`, a scoped context, so the JAX
settings that the user's own code sees are never changed. The reference is evaluated at
exactly the values the implementation saw (a float32 case is cast up, not redrawn).

JAX compiles per shape, and compiling costs far more than running (tens of milliseconds
against a tenth of one). So:

- one jitted program per (op, static hyper-parameters), shared by both dtypes and by every
  plugin that implements the op; continuous and seed-like hyper-parameters (Hyper.traced) are
  arguments, not part of the program;
- compiled with the XLA options in COMPILER_OPTIONS (3-7x faster to compile, same results), or
  XLA's defaults from OPTIMISED_FROM input elements, where running costs more than compiling;
- inputs are converted in NumPy, never by JAX, which would compile a conversion per shape;
- output shapes are inferred once per (op, hyper-parameters, input shapes);
- compiled programs persist between runs, with their output shapes, under the oracle's own key
  (oracle.executables: a warm run neither traces nor lowers) and under JAX's (oracle.compile_cache:
  a program whose key changed is still not compiled again); at most MAX_COMPILED stay loaded in a
  process.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from . import compile_cache, executables, layouts, symbolic_shapes
from .cases import Case
from .spec import Spec

__all__ = ["COMPILER_OPTIONS", "MAX_COMPILED", "reference"]

# XLA's CPU compiler spends most of a small program's compile time in its fusion emitters and
# LLVM's optimiser. Without them every catalogue op compiles 3-7x faster and gives the same
# results to the last bit or within a few ulps (compared op by op); running time stays ~0.1 ms.
# One code-generation unit instead of several (made to compile large programs in parallel)
# saves another third on programs this small.
COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 0,
                    "xla_cpu_parallel_codegen_split_count": 1}


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value


def _compiler_options() -> dict | None:
    import jax

    return COMPILER_OPTIONS if jax.default_backend() == "cpu" else None


# From this many input elements a program is compiled with XLA's default options: without its
# optimiser, tanh's value and VJP at 10⁶ elements runs in 21 ms instead of 7, and a program that
# large is compiled once for many evaluations that each cost more than the compile saved.
OPTIMISED_FROM = 2**16


def optimised(*groups: Sequence[np.ndarray]) -> bool:
    """Whether arrays this large are compiled for with XLA's default options (see OPTIMISED_FROM)."""
    return sum(int(np.size(a)) for group in groups for a in group) >= OPTIMISED_FROM


def compiler_options(optimised: bool) -> dict | None:
    """The options a program is compiled with: XLA's defaults for large inputs, else COMPILER_OPTIONS."""
    return None if optimised else _compiler_options()


@lru_cache(maxsize=512)
def _programs(spec: Spec, static: tuple) -> tuple[Callable, Callable]:
    """(forward, value-and-vjp) for one spec with its static hyper-parameters fixed (jitted by _jitted).

    static holds (name, value) for hyper-parameters that shape the computation (a stride, an
    axis); the traced ones (Hyper.traced) arrive as arguments with the non-differentiated inputs.
    """
    import jax

    wanted = spec.differentiable
    names = spec.input_names
    fixed = dict(static)
    traced = [h for h in spec.hyper if h not in fixed]

    def forward(primals, others):
        args = dict(zip([n for n in names if n not in wanted] + traced, others))
        args.update(zip(wanted, primals))
        args.update(fixed)
        return spec.reference(*(args[n] for n in names), *(args[h] for h in spec.hyper))

    def value_and_vjp(primals, others, cotangent):
        out, pullback = jax.vjp(lambda *p: forward(p, others), *primals)
        grads = pullback(cotangent if isinstance(out, (tuple, list)) else cotangent[0])
        return _as_tuple(out), grads

    return forward, value_and_vjp


@lru_cache(maxsize=512)
def _jitted(spec: Spec, static: tuple, pair: bool, optimised: bool) -> Callable:
    """The value-and-VJP program jitted: mapped over a pair of cases (jax.vmap: a case and its nudged
    copy in one call) or not; with XLA's default options for inputs of OPTIMISED_FROM elements or
    more (optimised), else with COMPILER_OPTIONS."""
    import jax

    value_and_vjp = _programs(spec, static)[1]
    return jax.jit(jax.vmap(value_and_vjp) if pair else value_and_vjp,
                   compiler_options=compiler_options(optimised))


# Every compiled shape keeps its executable, jaxpr and module alive: about 1.3 MB. At most this many
# programs stay loaded in a process, the least recently used leaving first (the stores on disk still
# have them, so reloading one costs a file read, not a compile); and after every this many
# compiles, JAX's own in-memory caches, which hold what was compiled here, are dropped. A run
# judges one op after another, so the programs that leave are those of ops already judged. This
# bounds what a long run keeps alive: 150 programs against 400 took a worker from 810 MB to 476 MB.
MAX_COMPILED = 120
# (compiled program, output shapes) by program signature, in this process, oldest use first.
_LOADED: OrderedDict[tuple, tuple[Callable, list[tuple[int, ...]]]] = OrderedDict()
_compiled_since_cleared = 0


def _make_room(compiling: bool) -> None:
    """Room in _LOADED for one more program; JAX's caches dropped after MAX_COMPILED compiles here."""
    global _compiled_since_cleared
    import jax

    while len(_LOADED) >= MAX_COMPILED:
        _LOADED.popitem(last=False)
    if compiling:
        _compiled_since_cleared += 1
        if _compiled_since_cleared >= MAX_COMPILED:
            _compiled_since_cleared = 0
            jax.clear_caches()
            _programs.cache_clear()
            _jitted.cache_clear()


# Specs whose reference cannot be traced (NumPy on labels, say) are evaluated op by op instead.
_UNTRACEABLE: set[str] = set()
# Specs whose reference traces, but not mapped over a pair of cases (jax.vmap): evaluated twice instead.
_UNPAIRED: set[str] = set()


def _array(value: Any, precision: str) -> np.ndarray:
    """A float input in the evaluation's precision, anything else (labels) as it is; converted by NumPy."""
    value = np.asarray(value)
    return value.astype(precision, copy=False) if value.dtype.kind in "fV" else value


def _hyper_value(value: Any, precision: str) -> np.ndarray:
    """A traced hyper-parameter: whole numbers (a seed) stay exact integers; others take the precision."""
    if isinstance(value, (bool, np.bool_)):
        return np.asarray(value)
    if isinstance(value, (int, np.integer)):
        return np.asarray(value, dtype=np.int64)
    return np.asarray(value, dtype=precision)


def _ran(program: Callable, *args: Any) -> tuple[tuple, tuple]:
    """A value-and-VJP program's (outputs, gradients), read into NumPy. JAX runs a program asynchronously, so
    one that cannot run (a stored program missing one of its kernels) fails here, when its outputs are read,
    not when it is called."""
    outputs, grads = program(*args)
    return tuple(np.asarray(o) for o in _as_tuple(outputs)), tuple(np.asarray(g) for g in grads)


def _signature(arrays: Sequence[np.ndarray]) -> tuple:
    return tuple((a.shape, a.dtype.str) for a in arrays)


def _load_or_compile(signature: tuple, key_for: Callable[[], str | None], lower: Callable[[], tuple[Any, list]],
                     stored: bool = True) -> tuple[Any, list[tuple[int, ...]]]:
    """(compiled program, output shapes) for a signature: already loaded in this process, read from the
    store of compiled programs (oracle.executables), or lowered, compiled and stored. stored=False
    compiles afresh (a stored program that failed to run)."""
    found = _LOADED.get(signature) if stored else None
    if found is not None:
        _LOADED.move_to_end(signature)
        return found
    key = key_for()
    found = executables.load(key) if stored else None
    _make_room(compiling=found is None)
    if found is None:
        lowered, shapes = lower()
        # An executable that JAX read back from its own cache serializes without its kernels, so a
        # program for the store is compiled here, not looked up there.
        with executables.compiling_afresh() if key is not None else contextlib.nullcontext():
            found = (lowered.compile(), shapes)
        executables.save(key, *found, replace=not stored)
    _LOADED[signature] = found
    return found


def _compiled(spec: Spec, static: tuple, primals: tuple, others: tuple, precision: str, stored: bool = True,
              pair: bool = False):
    """(compiled value-and-VJP, output shapes) at these argument shapes; pair: the program mapped over a
    pair (_jitted), whose arguments are these stacked two deep. Raises when the reference cannot be traced."""
    import jax

    def lower():
        shapes = list(_output_shapes(spec, static, _signature(primals), _signature(others)))
        args = (primals, others, tuple(jax.ShapeDtypeStruct(s, np.dtype(precision)) for s in shapes))
        if pair:
            args = tuple(tuple(jax.ShapeDtypeStruct((2, *a.shape), a.dtype) for a in group) for group in args)
        return _jitted(spec, static, pair, optimised(primals, others)).lower(*args), shapes

    name = "value_and_vjp_pair" if pair else "value_and_vjp"
    signature = (name, spec.name, static, _signature(primals), _signature(others), precision)
    return _load_or_compile(signature, lambda: executables.program_key(spec, static, (primals, others), precision,
                                                                      program=name), lower, stored)


def stored_program(name: str, spec: Spec, static: tuple, jitted: Any, args: tuple, precision: str,
                   stored: bool = True) -> Callable:
    """`jitted` compiled at these arguments (a tuple of groups of arrays), kept as the value-and-VJP
    program is (reference_modes' programs). stored=False compiles afresh."""

    signature = (name, spec.name, static, tuple(_signature(g) for g in args), precision)
    return _load_or_compile(signature, lambda: executables.program_key(spec, static, args, precision, program=name),
                            lambda: (jitted.lower(*args), []), stored)[0]


@lru_cache(maxsize=2048)
def _output_shapes(spec: Spec, static: tuple, primals: tuple, others: tuple) -> list[tuple[int, ...]]:
    """The reference's output shapes at these argument signatures ((shape, dtype) pairs): from the symbolic
    trace of their pattern (oracle.symbolic_shapes: one for many signatures, kept in this process and in
    the store), else traced at these shapes and kept in the store for later runs: what a program compiled
    for a padded layout cannot tell."""
    import jax

    forward = _programs(spec, static)[0]
    # A reference the oracle does not see whole (the store has no key for it) is traced at these shapes.
    if _keyed(spec, static):
        shapes = symbolic_shapes.output_shapes((spec, static), forward, (primals, others),
                                               symbolic_shapes.axis_names(spec, (primals, others)),
                                               _stored_patterns(spec, static), symbolic_shapes.free_of_ones(spec))
        if shapes is not None:
            return shapes
    as_structs = [tuple(jax.ShapeDtypeStruct(shape, np.dtype(dtype)) for shape, dtype in group)
                  for group in (primals, others)]
    key = executables.program_key(spec, static, as_structs, "", program="output_shapes")
    shapes = executables.load_shapes(key)
    if shapes is None:
        shapes = [tuple(s.shape) for s in _as_tuple(jax.eval_shape(forward, *as_structs))]
        executables.save_shapes(key, shapes)
    return shapes


@lru_cache(maxsize=512)
def _keyed(spec: Spec, static: tuple) -> bool:
    """Whether the store can name this reference's programs (its key sees all of the reference)."""
    return executables.program_key(spec, static, (), "", program="output_shapes") is not None


def _stored_patterns(spec: Spec, static: tuple) -> symbolic_shapes.Stored:
    """The store's entries for the symbolic traces of one spec's forward, by pattern."""
    def key(shaped: tuple) -> str | None:
        return executables.program_key(spec, static, (), "", program="output_shapes_pattern", signature=shaped)

    return symbolic_shapes.Stored(lambda shaped: executables.load_symbolic(key(shaped)),
                                  lambda shaped, text: executables.save_symbolic(key(shaped), text))


def reference(case: Case, cotangent_for: Callable[[Sequence[tuple[int, ...]]], tuple[np.ndarray, ...]],
              precision: str = "float64"):
    """(outputs, cotangent, gradients) of the spec's reference at the case, as float64 NumPy.

    cotangent_for gets the output shapes and returns the upstream gradients to pull back.
    precision "float32" evaluates the reference in float32 instead: a measure of the rounding
    that a sound float32 algorithm makes in this case.
    """
    (outputs, grads), cotangent = _evaluate(case, cotangent_for, precision, None)
    return outputs, cotangent, grads


def reference_and_nudged(case: Case, cotangent_for: Callable[[Sequence[tuple[int, ...]]], tuple[np.ndarray, ...]],
                         nudge: Callable[[np.ndarray], np.ndarray]):
    """reference()'s (outputs, cotangent, gradients) at the case, then (outputs, gradients) with every float
    input and upstream gradient passed through nudge: both from one program, in one call."""
    (outputs, grads), cotangent, nudged = _evaluate(case, cotangent_for, "float64", nudge)
    return outputs, cotangent, grads, nudged


def _evaluate(case: Case, cotangent_for: Callable, precision: str, nudge: Callable | None):
    """((outputs, gradients), cotangent), and the nudged (outputs, gradients) after them when nudge is given."""
    import jax

    compile_cache.ensure()  # judge() configures the cache; a caller outside it gets the default
    spec = case.spec
    wanted = spec.differentiable
    static = tuple((k, _hashable(v)) for k, v in case.hyper.items() if not spec.hyper[k].traced)
    inputs = {n: _array(a, precision) for n, a in case.inputs.items()}
    points = [inputs] if nudge is None else [
        inputs, {n: np.asarray(nudge(a), dtype=precision) if a.dtype.kind in "fV" else a for n, a in inputs.items()}]
    # A large case is evaluated as it is, each point on its own: padding it or stacking a pair
    # copies every array once more, and its program, compiled once, costs less than those copies.
    large = optimised(inputs.values())
    laid = None if large else layouts.layout(spec, inputs, static)
    true_static, static = static, static if laid is None else laid.static
    true = ([inputs[n] for n in wanted], [inputs[n] for n in spec.input_names if n not in wanted])
    hyper = tuple(_hyper_value(v, precision) for k, v in case.hyper.items() if spec.hyper[k].traced)

    def arguments(point: dict) -> tuple[tuple, tuple]:
        point = point if laid is None else laid.inputs(point)
        return tuple(point[n] for n in wanted), tuple(point[n] for n in spec.input_names if n not in wanted) + hyper

    args = [arguments(point) for point in points]
    primals, others = args[0]
    with jax.enable_x64(True):
        program, shapes, pair = _traced(spec, static, primals, others, precision, pair=nudge is not None and not large)
        true_shapes = shapes if laid is None else laid.output_shapes(spec, shapes, lambda: _output_shapes(
            spec, true_static, _signature(true[0]), _signature(true[1]) + _signature(hyper)))
        cotangent = cotangent_for(true_shapes)
        cts = [tuple(np.asarray(c, dtype=precision) for c in cotangent)]
        if [c.shape for c in cts[0]] != [tuple(s) for s in true_shapes]:
            # The caller's mistake (a diagnosis trying a cotangent shaped like an input): it must not
            # pass for a program that does not run, which would send the op to op-by-op evaluation.
            raise ValueError(f"upstream gradients of shapes {[c.shape for c in cts[0]]} for outputs of shapes "
                             f"{[tuple(s) for s in true_shapes]}")
        if nudge is not None:
            cts.append(tuple(np.asarray(nudge(c), dtype=precision) for c in cotangent))
        if laid is not None:
            cts = [tuple(laid.cotangent(c, s) for c, s in zip(ct, shapes)) for ct in cts]
        results = _run(spec, static, program, pair, [(*a, ct) for a, ct in zip(args, cts)], precision)
    if laid is not None:
        results = [(tuple(laid.cut(o, s) for o, s in zip(outputs, true_shapes)),
                    tuple(laid.cut(g, a.shape) for g, a in zip(grads, true[0]))) for outputs, grads in results]
    results = [(tuple(np.asarray(o, dtype=np.float64) for o in outputs), tuple(np.asarray(g, dtype=np.float64) for g in grads))
               for outputs, grads in results]
    return (results[0], cotangent) if nudge is None else (results[0], cotangent, results[1])


def _traced(spec: Spec, static: tuple, primals: tuple, others: tuple, precision: str, pair: bool):
    """(compiled program or None, output shapes, whether it is a pair program). None for a reference that
    cannot be traced (evaluated op by op); the single program where a pair was asked for but cannot be made."""
    if spec.name not in _UNTRACEABLE:
        if pair and spec.name not in _UNPAIRED:
            try:
                return (*_compiled(spec, static, primals, others, precision, pair=True), True)
            except Exception:  # noqa: BLE001 - not under vmap: the single program, called twice
                _UNPAIRED.add(spec.name)
        try:
            return (*_compiled(spec, static, primals, others, precision), False)
        except Exception:  # noqa: BLE001 - any failure to trace means: evaluate op by op
            _UNTRACEABLE.add(spec.name)
    return None, [tuple(np.shape(o)) for o in _as_tuple(_programs(spec, static)[0](primals, others))], False


def _run(spec: Spec, static: tuple, program: Any, pair: bool, calls: list[tuple], precision: str) -> list[tuple]:
    """(outputs, gradients) of each of calls ((primals, others, cotangent) each), by program: a pair program
    takes the two calls stacked, a single one each in turn; None means op by op. Called with float64
    switched on (_evaluate's jax.enable_x64), as every program here was traced."""
    value_and_vjp = _programs(spec, static)[1]
    if program is None:
        return [_ran(value_and_vjp, *c) for c in calls]

    def by(program: Any) -> list[tuple]:
        return _split(_ran(program, *_stacked(calls))) if pair else [_ran(program, *c) for c in calls]

    try:
        return by(program)
    except Exception:  # noqa: BLE001
        pass
    # A stored program that does not run (written by another jaxlib build, or serialized without one of
    # its kernels): compile it again.
    try:
        return by(_compiled(spec, static, calls[0][0], calls[0][1], precision, stored=False, pair=pair)[0])
    except Exception:  # noqa: BLE001
        if pair:   # mapped over a pair it traces but does not run (a callback that takes one case): one at a time
            _UNPAIRED.add(spec.name)
            try:
                single = _compiled(spec, static, calls[0][0], calls[0][1], precision)[0]
            except Exception:  # noqa: BLE001
                _UNTRACEABLE.add(spec.name)
                single = None
            return _run(spec, static, single, False, calls, precision)
        # Traceable in shape but not in value (a Python branch on data): op by op may still work.
        _UNTRACEABLE.add(spec.name)
        return [_ran(value_and_vjp, *c) for c in calls]


def _stacked(calls: list[tuple]) -> tuple:
    """Two calls' arguments as one call of a pair program: every array stacked two deep."""
    return tuple(tuple(_pair(a, b) for a, b in zip(first, second)) for first, second in zip(*calls))


def _pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.stack([a, b]) for two arrays of one shape and dtype, without its generic bookkeeping."""
    a, b = np.asarray(a), np.asarray(b)
    both = np.empty((2, *a.shape), dtype=np.result_type(a, b))
    both[0], both[1] = a, b
    return both


def _split(result: tuple) -> list[tuple]:
    """A pair program's (outputs, gradients) as each call's."""
    outputs, grads = result
    return [(tuple(o[i] for o in outputs), tuple(g[i] for g in grads)) for i in (0, 1)]
