"""CS231n-style assignment files judged with no glue: pairs found by name, called by convention.

    oracle check cs231n/layers.py         # every *_forward/*_backward pair the table knows
    oracle check assignment2/             # every such file in the folder
    oracle list cs231n/layers.py          # what was found, and what was not and why

A file is read first (ast, nothing runs) for top-level functions named by the conventions
table (`assignment_table.TABLE`): `conv_forward_naive` with `conv_backward_naive`, a second
backward `batchnorm_backward_alt` with `batchnorm_forward`, a loss `softmax_loss`. A function
whose body is still the skeleton (`pass`, or returning only names assigned None) is "not
implemented"; one whose parameters cannot take the convention's arguments has an "unknown
signature". Only files with such functions are imported.

The adapters are module-level classes holding the file's path and the functions' names, so an
implementation pickles to a worker process and finds the student's functions there again. Each
exposes the student's function as `__wrapped__`, so failures name it and its file:line.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import TargetError, UsageError
from ..plugin import Plugin, StructureError, describe_value, resolve_spec
from .assignment_scan import Found, scan
from .assignment_table import FLOAT64_GRADS, Convention, table
from .preconditions import Preconditions

__all__ = [
    "AssignmentPlugin",
    "Backward",
    "Forward",
    "Loss",
    "by_convention",
    "defines_plugin",
    "discover_file",
    "discover_folder",
    "load_module",
    "scan",
]

_MODULES: dict[str, Any] = {}
_ADDED_MODULES: set[str] = set()     # the student's modules the last file loaded brought in
_ADDED_PATHS: list[str] = []         # and the import paths added for it
_LOOKS_LIKE_LAYERS = re.compile(r"^def \w+_(forward|backward)\w*\(", re.MULTILINE)
_SKIP_FOLDERS = {"__pycache__", "site-packages", "node_modules", "build", "dist"}


# --------------------------------------------------------------------------- loading a file again, in any process

def load_module(path: str) -> Any:
    """The module of an assignment file, imported once per process.

    A file inside a package (a folder with __init__.py, like cs231n/) is imported under its
    package name, so `from .layers import *` works as it does in the course's notebooks.
    """
    resolved = str(Path(path).resolve())
    if resolved in _MODULES:
        return _MODULES[resolved]
    folder, parts = _package_of(Path(resolved))
    _forget_earlier_files()
    # As in the course's notebooks, which run from the assignment's folder: the file's package root
    # first (`from cs231n.layers import *`), then the folder above it (`from utils.im2col import ...`
    # of a folder without __init__.py).
    for entry in (str(folder.parent), str(folder)):
        sys.path.insert(0, entry)
        _ADDED_PATHS.append(entry)
    before = set(sys.modules)
    try:
        if len(parts) > 1:
            module = importlib.import_module(".".join(parts))
        else:
            from ..plugin import _import_path

            module = _import_path(Path(resolved))
    except Exception as error:  # the student's file failed while importing
        raise TargetError(f"loading {path} failed: {type(error).__name__}: {error}") from error
    finally:
        _ADDED_MODULES.update(n for n in set(sys.modules) - before if _is_students(sys.modules.get(n), folder.parent))
    _MODULES[resolved] = module
    return module


def _is_students(module: Any, root: Path) -> bool:
    file = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", None) or ()), None)
    return bool(file) and "site-packages" not in str(file) and Path(file).resolve().is_relative_to(root)


def _forget_earlier_files() -> None:
    """Let assignment2/cs231n and assignment3/cs231n both be imported in one process: the modules
    and import paths a file loaded before brought in are dropped before the next file is loaded.
    What was loaded keeps working (its functions hold their own globals; _MODULES keeps each)."""
    for name in _ADDED_MODULES:
        sys.modules.pop(name, None)
    for entry in _ADDED_PATHS:
        if entry in sys.path:
            sys.path.remove(entry)
    _ADDED_MODULES.clear()
    _ADDED_PATHS.clear()


def _package_of(path: Path) -> tuple[Path, list[str]]:
    """(the folder to import from, the dotted name's parts): cs231n/layers.py in a package is cs231n.layers."""
    folder, parts = path.resolve().parent, [path.stem]
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, parts


class _Part:
    """One of the student's functions, found again by file and name (picklable: data only)."""

    def __init__(self, path: str, name: str, arguments: Sequence[Any] = (), names: Sequence[str] = (),
                 outputs: int = 1, state: str | None = None) -> None:
        self.path, self.name = path, name
        self.arguments, self.names, self.outputs = tuple(arguments), tuple(names), outputs
        self.state = state   # the dict that carries running statistics (bn_param), for the state check
        self.__module__ = os.path.basename(path)   # Implementation.source: 'layers.py:conv_forward_naive'
        self.__qualname__ = name

    @property
    def __wrapped__(self) -> Any:
        # Failures are located in the student's function, not in this adapter (oracle.blame).
        return self.function()

    def function(self) -> Any:
        return getattr(load_module(self.path), self.name)

    def build(self, args: Sequence[Any], overrides: dict[str, dict] | None = None) -> tuple[list, dict[str, dict]]:
        """The student's arguments from the protocol's (*inputs, *hyper), and the dicts among them."""
        values = dict(zip(self.names, args))
        built, dicts = [], {}
        for argument in self.arguments:
            if not argument.is_dict:
                built.append(values[argument.name])
                continue
            entry = {key: values[source] if source is not None else copy.deepcopy(fixed)
                     for key, source, fixed in argument.entries}
            entry.update((overrides or {}).get(argument.name, {}))
            dicts[argument.name] = entry
            built.append(entry)
        return built, dicts

    def __repr__(self) -> str:
        return f"{self.__module__}:{self.name}"


class Forward(_Part):
    """forward(*inputs, *hyper) -> (out, cache) from the student's `f(x, w, b, conv_param) -> (out, cache)`."""

    def __call__(self, *args: Any) -> tuple[Any, Any]:
        returned, _ = self.call_with(args)
        return returned

    def call_with(self, args: Sequence[Any], overrides: dict[str, dict] | None = None) -> tuple[tuple[Any, Any], dict]:
        """((out, cache), the dicts the student was given, as it left them): the state check reads them."""
        built, dicts = self.build(args, overrides)
        returned = self.function()(*built)
        if not isinstance(returned, (tuple, list)) or len(returned) != self.outputs + 1:
            wanted = "(out, cache)" if self.outputs == 1 else f"({self.outputs} outputs, cache)"
            raise StructureError(f"{self.name} must return {wanted}; got {describe_value(returned)}")
        out = returned[0] if self.outputs == 1 else tuple(returned[:-1])
        return (out, returned[-1]), dicts


class Backward(_Part):
    """backward(dout, cache), or backward(dnext_h, dnext_c, cache) for a layer with two outputs."""

    def __call__(self, dout: Any, cache: Any) -> Any:
        if self.outputs > 1:
            return self.function()(*dout, cache)
        return self.function()(dout, cache)


class Loss(_Part):
    """f(*inputs) -> (loss, dx) from the student's `softmax_loss(x, y)`."""

    def __call__(self, *args: Any) -> Any:
        built, _ = self.build(args)
        return self.function()(*built)


# --------------------------------------------------------------------------- plugins from files and folders

class AssignmentPlugin(Plugin):
    """The implementations found in one assignment file, and what was not judged and why."""

    def __init__(self, name: str, path: str, float64_grads: str = FLOAT64_GRADS) -> None:
        super().__init__(name, float64_grads=float64_grads)
        self.path = path
        self.not_found: list[tuple[str, str]] = []
        self.import_error: str | None = None
        # label -> (forward, backward or None, the preconditions the file states, in words)
        self.found: dict[str, tuple[str, str | None, list[str]]] = {}

    def note(self, label: str) -> str:
        """'max_pool_forward_fast + max_pool_backward_fast; output sizes divide evenly (the file says so)'."""
        forward, backward, stated = self.found[label]
        return "; ".join([f"{forward} + {backward}" if backward else forward, *stated])


def defines_plugin(source: str) -> bool:
    """True when the file uses oracle itself (it registers a Plugin): then it is not found by convention."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "oracle" or a.name.startswith("oracle.") for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "oracle":
            return True
    return False


def by_convention(path: Path) -> bool:
    """A .py file that does not use oracle is found by convention (an unreadable one is left to the importer)."""
    try:
        return not defines_plugin(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError):
        return False


def _settings(path: Path) -> tuple[tuple[Convention, ...], str]:
    from ..config import load_config

    config = load_config(path.parent)
    return tuple(config.values.get("conventions", ())), config.values.get("assignments_float64_grads", FLOAT64_GRADS)


def _build(path: Path, name: str, target: str, found: list[Found], missing: list[tuple[str, str]],
           float64_grads: str) -> AssignmentPlugin:
    plugin = AssignmentPlugin(name, target, float64_grads)
    try:
        module = load_module(str(path))
    except TargetError as error:
        # Every pair is still listed and judged: each call says why the file cannot be loaded, so
        # the verdicts (errored) fail the gate instead of the pairs silently missing.
        module, plugin.import_error = None, str(error)
        plugin.not_found.append((path.name, f"its pairs are reported as errored: {error}"))
    for item in found:
        if module is not None and not callable(getattr(module, item.forward, None)):
            plugin.not_found.append((item.forward, "defined, but not a function after the file ran"))
            continue
        spec = resolve_spec(item.convention.op)
        item.convention.check_against(spec)
        stated: list[str] = []
        if item.evenly or item.asserted[2]:
            where = Preconditions(spec, item.convention.arguments, item.convention.evenly if item.evenly else (),
                                  item.asserted)
            spec = dataclasses.replace(spec, where=where)
            stated = where.describe()
        names = spec.input_names + list(spec.hyper)
        arguments = item.convention.arguments
        if item.backward is None:
            plugin.value_and_grad(spec, Loss(str(path), item.forward, arguments, names), name=item.label)
        else:
            plugin.layer(spec, Forward(str(path), item.forward, arguments, names, spec.outputs, item.convention.state),
                         Backward(str(path), item.backward, (), (), spec.outputs), name=item.label)
        plugin.found[item.label] = (item.forward, item.backward, stated)
    plugin.not_found.extend(missing)
    return plugin.with_target(target)


def discover_file(path: Path, target: str | None = None, name: str | None = None) -> AssignmentPlugin:
    """The pairs of one assignment file; a TargetError when it has none that the table knows."""
    try:
        source = path.read_text(encoding="utf-8")
        extra, float64_grads = _settings(path)
        found, missing = scan(source, table(extra))
    except SyntaxError as error:
        raise TargetError(f"{path} is not valid Python: line {error.lineno}: {error.msg}") from None
    except (UsageError, ValueError) as error:  # a bad [tool.oracle] table (ConfigError) or conventions row
        raise TargetError(str(error)) from None
    if not found and not missing:
        raise TargetError(f"{target or path} defines no oracle.Plugin and no function the assignment conventions know "
                          f"(affine_forward, conv_forward_naive, softmax_loss, ...)")
    # The plugin is named as the file would be imported (cs231n.layers), whether found in a folder or
    # named alone: a worker finds an implementation again by its file and plugin name.
    return _build(path, name or ".".join(_package_of(path)[1]), target or str(path), found, missing, float64_grads)


def discover_folder(folder: Path, target: str) -> list[Plugin]:
    """Every assignment file (and oracle plugin file) in a folder and its subfolders."""
    from ..plugin import discover

    plugins: list[Plugin] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_FOLDERS and not d.endswith("venv"))
        for file in sorted(f for f in files if f.endswith(".py")):
            path = Path(root) / file
            try:
                source = path.read_text(encoding="utf-8")
                if defines_plugin(source):
                    plugins.extend(discover(str(path)))
                    continue
                extra, _ = _settings(path)
                found, missing = scan(source, table(extra))
            except SyntaxError as error:
                # A broken helper script is no reason to stop; a layers file that does not parse
                # (Python 2's `print x`, say) is listed with the reason, judged it cannot be.
                if _LOOKS_LIKE_LAYERS.search(source):
                    plugin = AssignmentPlugin(".".join(_package_of(path)[1]), str(Path(target) / path.relative_to(folder)))
                    plugin.not_found.append((path.name, f"not valid Python 3: line {error.lineno}: {error.msg}"))
                    plugins.append(plugin)
                continue
            except UnicodeDecodeError:
                continue
            if found or missing:
                plugins.append(discover_file(path, str(Path(target) / path.relative_to(folder))))
    if not plugins:
        raise TargetError(f"{target} is a directory, and no .py file in it defines an oracle.Plugin or a function "
                          f"the assignment conventions know")
    return plugins
