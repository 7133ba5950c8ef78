"""Compiled reference programs stored under the oracle's own key, so a warm run neither traces nor lowers.

JAX's persistent cache (oracle.compile_cache) saves XLA's compile, but it finds a program by its
lowered module: every run still traces the reference twice (its output shapes, then its VJP) and
lowers it before it can look, about 35 ms per program, which is most of what a warm run costs.
This store finds a compiled program by what determines it instead:

- the op's reference function (its module, name, line and bytecode, and the values it closes over),
  the spec's input, differentiable and hyper-parameter names, the static hyper-parameter values;
- the shapes and dtypes of every argument, and the precision it is evaluated in;
- the source of the oracle and of its spec catalogue, the JAX and jaxlib versions, the backend and
  the compiler options (any change to one of them is a different key).

It keeps the serialized executable and the output shapes, so a hit is a file read and a load
(about 2 ms). Only references defined by the oracle, its catalogue or JAX itself are stored: a
user's own reference may call helpers whose source this key does not see, so it goes through
JAX's cache alone. The entries live in the compilation cache's folder, named like JAX's, so
`oracle cache info|clear`, the size bound and `--no-cache` cover them too.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import types
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from . import compile_cache

__all__ = ["compiling_afresh", "load", "load_shapes", "load_symbolic", "program_key", "save", "save_shapes",
           "save_symbolic"]

_FORMAT = 1
_PREFIX = "oracle-reference-"
# Modules whose functions this key can see whole: the oracle with its catalogue and plugins, and JAX (by version).
_KNOWN_SOURCES = ("oracle", "jax", "jaxlib")
_PLAIN = (bool, int, float, complex, str, bytes, type(None))


def _digest_files(digest: Any, paths: Sequence[Path]) -> None:
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())


@lru_cache(maxsize=1)
def _fingerprint() -> str:
    """JAX's versions, the backend, the compiler options, and the source every reference program is built
    from: the catalogue, how a spec is read (spec.py) and how its programs are made (reference.py,
    reference_modes.py, this module)."""
    import jax
    import jaxlib

    from . import reference, reference_modes, spec, specs
    from .reference import COMPILER_OPTIONS

    digest = hashlib.sha256()
    backend = jax.devices()[0].client
    digest.update(repr((_FORMAT, jax.__version__, jaxlib.__version__, backend.platform, backend.platform_version,
                        sorted(COMPILER_OPTIONS.items()))).encode())
    _digest_files(digest, [*Path(specs.__file__).parent.rglob("*.py"), Path(spec.__file__), Path(reference.__file__),
                           Path(reference_modes.__file__), Path(__file__)])
    return digest.hexdigest()


@lru_cache(maxsize=64)
def _module_fingerprint(module: str) -> str:
    """The source of the folder that defines a reference outside the catalogue (a built-in plugin's own spec)."""
    import sys

    found = getattr(sys.modules.get(module), "__file__", None)
    if module.split(".")[0] != "oracle" or found is None:
        return ""      # JAX's own functions: its version is in _fingerprint
    digest = hashlib.sha256()
    _digest_files(digest, list(Path(found).parent.glob("*.py")))
    return digest.hexdigest()


def _known(module: str) -> bool:
    return module.split(".")[0] in _KNOWN_SOURCES


def _identity(fn: Any, depth: int = 0) -> tuple | None:
    """What makes this function the function it is, or None when the key cannot see all of it."""
    if isinstance(fn, _PLAIN):
        return ("value", repr(fn))
    if isinstance(fn, tuple) and depth < 4:
        parts = tuple(_identity(v, depth + 1) for v in fn)
        return None if None in parts else ("tuple", parts)
    module = getattr(fn, "__module__", None) or ""
    if depth > 4 or not _known(module):
        return None
    code = getattr(fn, "__code__", None)
    if not isinstance(code, types.CodeType):
        wrapped = getattr(fn, "__wrapped__", None)
        if wrapped is not None:
            return _identity(wrapped, depth + 1)
        # A JAX function object (a ufunc, a jitted function): its version is in the fingerprint.
        return (module, getattr(fn, "__qualname__", type(fn).__qualname__)) if module.split(".")[0] == "jax" else None
    cells = []
    for cell in fn.__closure__ or ():
        try:
            value = cell.cell_contents
        except ValueError:     # an empty cell
            return None
        part = _identity(value, depth + 1)
        if part is None:
            return None
        cells.append(part)
    defaults = _identity(tuple(fn.__defaults__ or ()), depth + 1)
    if defaults is None:
        return None
    return (module, fn.__qualname__, code.co_firstlineno, _code_digest(code), tuple(cells), defaults)


def _code_digest(code: types.CodeType) -> str:
    """Bytecode and constants, nested functions' included (a code object's repr holds its address)."""
    digest = hashlib.sha256(code.co_code)
    for const in code.co_consts:
        digest.update((_code_digest(const) if isinstance(const, types.CodeType) else repr(const)).encode())
    digest.update(repr(code.co_names).encode())
    return digest.hexdigest()


def _signature(arrays: Sequence[np.ndarray]) -> tuple:
    return tuple((a.shape, a.dtype.str) for a in arrays)


def program_key(spec: Any, static: tuple, groups: Sequence[Sequence[np.ndarray]], precision: str,
                program: str = "value_and_vjp", signature: tuple | None = None) -> str | None:
    """The store's name for one of the reference's programs (`program`: its value and VJP, or its forward and
    second-order modes) at these argument groups, or None when it cannot be stored. signature: the groups'
    (shape, dtype) pairs given as they are, instead of read from arrays (a symbolic pattern's)."""
    try:
        identity = _identity(spec.reference)
        fingerprint = None
        if identity is not None:
            fingerprint = (_fingerprint(), _module_fingerprint(getattr(spec.reference, "__module__", "") or ""))
    except Exception:   # noqa: BLE001 - whatever keeps a key from being made only keeps the program out of the store
        return None
    if identity is None:
        return None
    described = repr((fingerprint, identity, spec.name, tuple(spec.input_names), tuple(spec.differentiable),
                      tuple(spec.hyper), static, signature if signature is not None else tuple(_signature(g) for g in groups),
                      precision, program))
    return _PREFIX + hashlib.sha256(described.encode()).hexdigest()


@contextlib.contextmanager
def compiling_afresh() -> Iterator[None]:
    """Within the block, this thread compiles without reading JAX's persistent cache (see reference._compiled).

    The store JAX reads is the oracle's (compile_cache), which misses for this thread here. JAX's own
    switch is set as well for a JAX that keeps its own store; it only works before JAX's first compile."""
    try:
        from jax._src import config as jax_config
        switch = jax_config.enable_compilation_cache(False)
    except (ImportError, AttributeError, TypeError):   # a JAX without the scoped switch
        switch = contextlib.nullcontext()
    with switch, compile_cache.bypassed():
        yield


def _read(key: str | None) -> tuple | None:
    """An entry's fields after its format number, or None (absent, unreadable, another format, cache off)."""
    files = compile_cache.store()
    data = files.get(key) if key is not None and files is not None else None
    try:
        entry = pickle.loads(data) if data is not None else None
    except Exception:   # noqa: BLE001 - an unreadable entry is only a miss
        return None
    return tuple(entry[1:]) if isinstance(entry, tuple) and entry and entry[0] == _FORMAT else None


def _write(key: str | None, *fields: Any, replace: bool = False) -> None:
    files = compile_cache.store()
    if key is not None and files is not None:
        files.put(key, pickle.dumps((_FORMAT, *fields)), replace=replace)


def load(key: str | None) -> tuple[Callable, list[tuple[int, ...]]] | None:
    """(the compiled program, its output shapes) from the store, or None (absent, unreadable, cache off)."""
    entry = _read(key)
    try:
        from jax.experimental.serialize_executable import deserialize_and_load

        payload, in_tree, out_tree, shapes = entry
        return deserialize_and_load(payload, in_tree, out_tree), [tuple(s) for s in shapes]
    except Exception:   # noqa: BLE001 - an entry this JAX cannot load is only a miss: compile again
        return None


def save(key: str | None, compiled: Any, shapes: Sequence[tuple[int, ...]], replace: bool = False) -> None:
    """Keep a compiled program for later runs; does nothing when it cannot be stored or the cache is off.
    replace: over an entry already there (one that did not run)."""
    if key is None or compile_cache.store() is None:    # serializing costs milliseconds: not for nothing
        return
    try:
        from jax.experimental.serialize_executable import serialize

        payload, in_tree, out_tree = serialize(compiled)
    except Exception:   # noqa: BLE001 - a program that cannot be serialized is compiled again next time
        return
    _write(key, payload, in_tree, out_tree, [list(s) for s in shapes], replace=replace)


def load_shapes(key: str | None) -> list[tuple[int, ...]] | None:
    """Output shapes kept by save_shapes, or None."""
    entry = _read(key)
    try:
        (shapes,) = entry
        return [tuple(int(n) for n in s) for s in shapes]
    except Exception:   # noqa: BLE001 - an entry of another kind is only a miss
        return None


def save_shapes(key: str | None, shapes: Sequence[tuple[int, ...]]) -> None:
    """Keep a reference's output shapes at one signature (what a padded program cannot tell) for later runs."""
    _write(key, [list(s) for s in shapes])


def load_symbolic(key: str | None) -> Any | None:
    """A symbolic trace's result kept by save_symbolic (oracle.symbolic_shapes' text form), or None."""
    entry = _read(key)
    return entry[1] if entry is not None and len(entry) == 2 and entry[0] == "symbolic" else None


def save_symbolic(key: str | None, text: Any) -> None:
    """Keep what a symbolic trace of a reference's forward gave at one pattern of dims, for later runs."""
    _write(key, "symbolic", text)
