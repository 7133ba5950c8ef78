"""Discovery: the plugins a target names, through entry points, a module name or a .py path.

A plugin module's own Specs are checked as it loads, so a broken Spec is reported then, in one line.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from .errors import TargetError
from .plugin import _FILE_MODULE_PREFIX, ENTRY_POINT_GROUP, Plugin
from .sanitize import safe_str
from .spec import Spec


def installed_plugins() -> dict[str, Any]:
    """Entry points of the group oracle.plugins, by name."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _plugins_in(module: Any) -> list[Plugin]:
    # One Plugin bound to two names (plugin = mine = Plugin(...)) is one plugin, judged once.
    found = {id(value): value for value in vars(module).values() if isinstance(value, Plugin)}
    return list(found.values())


def _import_path(path: Path) -> Any:
    name = _FILE_MODULE_PREFIX + "".join(c if c.isalnum() else "_" for c in str(path.resolve()))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # Let the file import its neighbours, as `python file.py` would.
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def discover(target: str) -> list[Plugin]:
    """Plugins named by a target: an entry-point name, an importable module, or a .py path."""
    installed = installed_plugins()
    try:
        if target in installed:
            loaded = installed[target].load()
            found = [loaded] if isinstance(loaded, Plugin) else _plugins_in(loaded)
        elif target.endswith(".py") or os.sep in target or os.path.isdir(target):
            path = Path(target)
            if path.is_dir():  # every assignment file and plugin file in it
                from .conventions.assignments import discover_folder

                return discover_folder(path, target)
            if not path.is_file():
                raise TargetError(f"no such file: {target}")
            from .conventions.assignments import by_convention, discover_file

            if by_convention(path):  # a file that does not use oracle: its functions are found by their names
                return [discover_file(path, target)]
            found = _plugins_in(_import_path(path))
        else:
            try:
                module = importlib.import_module(target)
            except ModuleNotFoundError as error:
                if error.name and target.startswith(error.name):
                    known = ", ".join(sorted(installed)) or "none installed"
                    raise TargetError(
                        f"{target!r} is not an installed plugin, an importable module or a .py file "
                        f"(installed plugins: {known})"
                    ) from None
                raise
            found = _plugins_in(module)
    except TargetError:
        raise
    except SystemExit as error:  # a module that exits while importing is broken, not a reason for the oracle to exit
        raise TargetError(f"loading {target!r} failed: it called sys.exit({safe_str(error.code)}) while importing") from None
    except Exception as error:  # the user's module failed while importing
        raise TargetError(f"loading {target!r} failed: {type(error).__name__}: {safe_str(error)}") from error
    if not found:
        raise TargetError(f"{target!r} defines no oracle.Plugin at module level")
    for plugin in found:
        _check_own_specs(plugin, target)
    return [plugin.with_target(target) for plugin in found]


_CHECKED_SPECS: set[int] = set()


def _check_own_specs(plugin: Plugin, target: str) -> None:
    """A spec the plugin defines itself gets its reference called once on a valid case, now.

    A reference that raises would otherwise fail every verdict of the op with the same error, as
    if the implementations were wrong; here it is one line that names the spec.
    """
    for impl in plugin.implementations:
        spec = impl.spec
        if id(spec) in _CHECKED_SPECS or spec.reference is None or _in_catalogue(spec):
            continue
        _CHECKED_SPECS.add(id(spec))
        problem = _reference_problem(spec)
        if problem:
            raise TargetError(f"loading {target!r}: the reference of spec {spec.name!r} {problem}")


def _in_catalogue(spec: Spec) -> bool:
    from oracle.specs import CATALOGUE

    return CATALOGUE.get(spec.name) is spec


def _reference_problem(spec: Spec) -> str | None:
    """Why the spec's reference cannot be evaluated on a case drawn from the spec, or None."""
    import warnings

    from hypothesis.errors import NonInteractiveExampleWarning

    from .cases import build_case, cases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        try:
            case = None
            if not spec.hyper and spec.where is None:   # the smallest case, without hypothesis' slow example()
                case = build_case(spec, "float64", {n: spec.dim_range(n)[0] for n in spec.dim_names()}, (), {}, 0)
            case = case or cases(spec, "float64").example()
        except Exception as error:  # noqa: BLE001 - the spec's own domains or hyper-parameters are at fault
            return f"cannot be given a case: drawing one failed with {type(error).__name__}: {safe_str(error)}"
    try:
        import jax.numpy as jnp

        spec.reference(*[jnp.asarray(a) for a in case.inputs.values()], *case.hyper.values())
    except Exception as error:  # noqa: BLE001 - whatever the user's reference raises is the finding
        return f"raises on a valid case ({case.describe()}): {type(error).__name__}: {safe_str(error)}"
    return None


def source_lines(code: Any) -> str:
    """The source of an implementation, for the HTML report; empty when unavailable."""
    try:
        parts = code if isinstance(code, tuple) else (code,)
        return "\n".join(inspect.getsource(p) for p in parts)
    except (OSError, TypeError):
        return ""
