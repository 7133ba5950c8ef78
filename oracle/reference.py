"""The JAX reference: the spec's forward and `jax.vjp` of it, in float64.

float64 is switched on only inside `jax.enable_x64(True)`, a scoped context, so the JAX
settings that the user's own code sees are never changed. The reference is evaluated at
exactly the values the implementation saw (a float32 case is cast up, not redrawn).

JAX compiles per shape, and compiling costs far more than running (tens of milliseconds
against a tenth of one). So:

- one jitted program per (op, static hyper-parameters), shared by both dtypes and by every
  plugin that implements the op; continuous and seed-like hyper-parameters (Hyper.traced) are
  arguments, not part of the program;
- compiled with the XLA options in COMPILER_OPTIONS (3-7x faster to compile, same results);
- inputs are converted in NumPy, never by JAX, which would compile a conversion per shape;
- output shapes are inferred once per (op, hyper-parameters, input shapes);
- compiled programs persist between runs, with their output shapes, under the oracle's own key
  (oracle.executables: a warm run neither traces nor lowers) and under JAX's (oracle.compile_cache:
  a program whose key changed is still not compiled again); at most MAX_COMPILED stay loaded in a
  process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from . import layouts
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


@lru_cache(maxsize=512)
def _programs(spec: Spec, static: tuple) -> tuple[Callable, Callable, Callable]:
    """(forward, value-and-vjp, its jitted form) for one spec with its static hyper-parameters fixed.

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

    return forward, value_and_vjp, jax.jit(value_and_vjp, compiler_options=_compiler_options())


# Every compiled shape keeps its executable, jaxpr and module alive: about 1.3 MB. Past this many
# programs in a process, JAX's in-memory caches are dropped and start again (the stores on disk
# still have them, so reloading one costs a file read, not a compile): this bounds what a long run
# keeps alive. Measured on gatecore's busiest ops: 150 against 400 took a worker from 810 MB to
# 476 MB for 4% more CPU.
MAX_COMPILED = 120
# (compiled program, output shapes) by program signature, in this process.
_LOADED: dict[tuple, tuple[Callable, list[tuple[int, ...]]]] = {}


def _forget_if_full() -> None:
    import jax

    if len(_LOADED) >= MAX_COMPILED:
        jax.clear_caches()
        _programs.cache_clear()
        _LOADED.clear()


# Specs whose reference cannot be traced (NumPy on labels, say) are evaluated op by op instead.
_UNTRACEABLE: set[str] = set()


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


def _ran(program: Callable, *args: Any) -> Any:
    """A program's outputs, read into NumPy. JAX runs a program asynchronously, so one that cannot run
    (a stored program missing one of its kernels) fails here, when its outputs are read, not when it is called."""
    import jax

    return jax.tree_util.tree_map(np.asarray, program(*args))


def _signature(arrays: Sequence[np.ndarray]) -> tuple:
    return tuple((a.shape, a.dtype.str) for a in arrays)


def _load_or_compile(signature: tuple, key_for: Callable[[], str | None], lower: Callable[[], tuple[Any, list]],
                     stored: bool = True) -> tuple[Any, list[tuple[int, ...]]]:
    """(compiled program, output shapes) for a signature: already loaded in this process, read from the
    store of compiled programs (oracle.executables), or lowered, compiled and stored. stored=False
    compiles afresh (a stored program that failed to run)."""
    from . import executables

    found = _LOADED.get(signature) if stored else None
    if found is not None:
        return found
    _forget_if_full()
    key = key_for()
    found = executables.load(key) if stored else None
    if found is None:
        lowered, shapes = lower()
        # An executable that JAX read back from its own cache serializes without its kernels, so a
        # program for the store is compiled here, not looked up there.
        with executables.compiling_afresh() if key is not None else contextlib.nullcontext():
            found = (lowered.compile(), shapes)
        executables.save(key, *found, replace=not stored)
    _LOADED[signature] = found
    return found


def _compiled(spec: Spec, static: tuple, primals: tuple, others: tuple, precision: str, stored: bool = True):
    """(compiled value-and-VJP, output shapes) at these argument shapes. Raises when the reference cannot be traced."""
    import jax

    from . import executables

    def lower():
        forward, _, jitted = _programs(spec, static)
        shapes = [tuple(s.shape) for s in _as_tuple(jax.eval_shape(forward, primals, others))]
        cotangent = tuple(jax.ShapeDtypeStruct(s, np.dtype(precision)) for s in shapes)
        return jitted.lower(primals, others, cotangent), shapes

    signature = ("value_and_vjp", spec.name, static, _signature(primals), _signature(others), precision)
    return _load_or_compile(signature, lambda: executables.program_key(spec, static, (primals, others), precision),
                            lower, stored)


def stored_program(name: str, spec: Spec, static: tuple, jitted: Any, args: tuple, precision: str,
                   stored: bool = True) -> Callable:
    """`jitted` compiled at these arguments (a tuple of groups of arrays), kept as the value-and-VJP
    program is (reference_modes' programs). stored=False compiles afresh."""
    from . import executables

    signature = (name, spec.name, static, tuple(_signature(g) for g in args), precision)
    return _load_or_compile(signature, lambda: executables.program_key(spec, static, args, precision, program=name),
                            lambda: (jitted.lower(*args), []), stored)[0]


@lru_cache(maxsize=2048)
def _output_shapes(spec: Spec, static: tuple, primals: tuple, others: tuple) -> list[tuple[int, ...]]:
    """The reference's output shapes at these argument signatures ((shape, dtype) pairs), by tracing
    its forward (kept in the store of compiled programs for later runs): what a program compiled for
    a padded layout cannot tell."""
    import jax

    from . import executables

    as_structs = [tuple(jax.ShapeDtypeStruct(shape, np.dtype(dtype)) for shape, dtype in group)
                  for group in (primals, others)]
    key = executables.program_key(spec, static, as_structs, "", program="output_shapes")
    shapes = executables.load_shapes(key)
    if shapes is None:
        forward = _programs(spec, static)[0]
        shapes = [tuple(s.shape) for s in _as_tuple(jax.eval_shape(forward, *as_structs))]
        executables.save_shapes(key, shapes)
    return shapes


def reference(case: Case, cotangent_for: Callable[[Sequence[tuple[int, ...]]], tuple[np.ndarray, ...]],
              precision: str = "float64"):
    """(outputs, cotangent, gradients) of the spec's reference at the case, as float64 NumPy.

    cotangent_for gets the output shapes and returns the upstream gradients to pull back.
    precision "float32" evaluates the reference in float32 instead: a measure of the rounding
    that a sound float32 algorithm makes in this case.
    """
    import jax

    from .compile_cache import ensure

    ensure()  # judge() configures the cache; a caller outside it gets the default
    spec = case.spec
    wanted = spec.differentiable
    static = tuple((k, _hashable(v)) for k, v in case.hyper.items() if not spec.hyper[k].traced)
    inputs = {n: _array(a, precision) for n, a in case.inputs.items()}
    laid = layouts.layout(spec, inputs)
    true = ([inputs[n] for n in wanted], [inputs[n] for n in spec.input_names if n not in wanted])
    if laid is not None:
        inputs = laid.inputs(inputs)
    primals = tuple(inputs[n] for n in wanted)
    hyper = tuple(_hyper_value(v, precision) for k, v in case.hyper.items() if spec.hyper[k].traced)
    others = tuple(inputs[n] for n in spec.input_names if n not in wanted) + hyper
    with jax.enable_x64(True):
        program = None
        if spec.name not in _UNTRACEABLE:
            try:
                program, shapes = _compiled(spec, static, primals, others, precision)
            except Exception:  # noqa: BLE001 - any failure to trace means: evaluate op by op
                _UNTRACEABLE.add(spec.name)
        forward, value_and_vjp, _ = _programs(spec, static)
        if program is None:
            shapes = [tuple(np.shape(o)) for o in _as_tuple(forward(primals, others))]
        true_shapes = shapes if laid is None else laid.output_shapes(spec, shapes, lambda: _output_shapes(
            spec, static, _signature(true[0]), _signature(true[1]) + _signature(hyper)))
        cotangent = cotangent_for(true_shapes)
        ct = tuple(np.asarray(c, dtype=precision) for c in cotangent)
        if [c.shape for c in ct] != [tuple(s) for s in true_shapes]:
            # The caller's mistake (a diagnosis trying a cotangent shaped like an input): it must not
            # pass for a program that does not run, which would send the op to op-by-op evaluation.
            raise ValueError(f"upstream gradients of shapes {[c.shape for c in ct]} for outputs of shapes "
                             f"{[tuple(s) for s in true_shapes]}")
        if laid is not None:
            ct = tuple(laid.cotangent(c, s) for c, s in zip(ct, shapes))
        try:
            outputs, grads = _ran(value_and_vjp if program is None else program, primals, others, ct)
        except Exception:
            if program is None:
                raise
            # A stored program that does not run (written by another jaxlib build, or serialized
            # without one of its kernels, which XLA's CPU backend sometimes does): compile it again.
            try:
                program, _ = _compiled(spec, static, primals, others, precision, stored=False)
                outputs, grads = _ran(program, primals, others, ct)
            except Exception:  # noqa: BLE001
                # Traceable in shape but not in value (a Python branch on data): op by op may still work.
                _UNTRACEABLE.add(spec.name)
                outputs, grads = _ran(value_and_vjp, primals, others, ct)
    if laid is not None:
        outputs = tuple(laid.cut(o, s) for o, s in zip(outputs, true_shapes))
        grads = tuple(laid.cut(g, a.shape) for g, a in zip(grads, true[0]))
    return (tuple(np.asarray(o, dtype=np.float64) for o in outputs), cotangent,
            tuple(np.asarray(g, dtype=np.float64) for g in grads))
