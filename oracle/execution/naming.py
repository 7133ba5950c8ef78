"""Plugin names that are unique within a run.

Two targets can give plugins the same name: assignment2/cs231n/layers.py and
assignment3/cs231n/layers.py are both `cs231n.layers` (named as the file imports), and two
plugin files can each register `oracle.Plugin("mine")`. Verdict ids, report pages, baseline
fingerprints and saved examples are all keyed by the plugin name, so within one run each such
plugin is named with the shortest end of its target's path that tells them apart:
`assignment2/cs231n.layers` and `assignment3/cs231n.layers`, `a/plugin/mine` and `b/plugin/mine`.
A run without a clash keeps the plain names.

Only the descriptors are renamed: each ImplRef keeps the plain name, the one a worker finds
the implementation by when it discovers the target again; the worker then judges it under the
run's name (named()).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import PurePath
from typing import Any

from .worker import PluginInfo

__all__ = ["distinct", "local_implementations", "named", "run_names"]


def distinct(infos: list[PluginInfo]) -> list[PluginInfo]:
    """The descriptors, with every plugin name that more than one of them has qualified by where it came from."""
    names = run_names([(info.name, info.target) for info in infos])
    return [info if name == info.name else _renamed(info, name) for info, name in zip(infos, names)]


def run_names(plugins: list[tuple[str, str | None]]) -> list[str]:
    """The name each (plugin name, target) has in a run of them all: its own, unless another has it too."""
    groups: dict[str, list[int]] = {}
    for index, (name, _) in enumerate(plugins):
        groups.setdefault(name, []).append(index)
    names = [name for name, _ in plugins]
    for name, members in groups.items():
        if len(members) > 1:
            for index, qualified in zip(members, _qualified(name, [plugins[i][1] for i in members])):
                names[index] = qualified
    return names


def named(impl: Any, name: str) -> Any:
    """The implementation under the run's name for its plugin (itself when that is its own name)."""
    return impl if impl.plugin == name else dataclasses.replace(impl, plugin=name)


def local_implementations(infos: list[PluginInfo], objects: list[Any]) -> dict[tuple[str, str], Any]:
    """{(plugin, label): implementation} under the run's names, of the plugins discovered in this process
    (objects[i] made infos[i]; None for one discovered in a worker)."""
    return {(d.plugin, d.label): named(i, d.plugin) for info, plugin in zip(infos, objects) if plugin is not None
            for d, i in zip(info.implementations, plugin.implementations)}


def _renamed(info: PluginInfo, name: str) -> PluginInfo:
    impls = [dataclasses.replace(i, plugin=name) if i.plugin == info.name else i for i in info.implementations]
    return PluginInfo(name, info.target, impls)


def _qualified(name: str, targets: list[str | None]) -> list[str]:
    """Each name prefixed with the fewest trailing parts of its target's path that make them all differ."""
    wheres = [_where(name, target) for target in targets]
    for count in range(1, max(len(parts) for parts, _ in wheres) + 1):
        prefixes = [sep.join(parts[-count:]) or "." for parts, sep in wheres]
        if len(set(prefixes)) == len(prefixes):
            return [f"{prefix}/{name}" for prefix in prefixes]
    # The same target twice, or plugin objects given without one: numbered, in the order given.
    return [f"{name}#{n}" for n in range(1, len(targets) + 1)]


def _where(name: str, target: str | None) -> tuple[list[str], str]:
    """(the parts of the target that say where the plugin is, their separator), less what the name already says."""
    if target is None:
        return [], "/"
    if not (target.endswith(".py") or "/" in target or os.sep in target):   # a module or entry-point name
        return target.split("."), "."
    path = PurePath(target)
    parts = [p for p in path.parts if p != path.anchor]
    if parts and parts[-1].endswith(".py"):
        parts[-1] = parts[-1][:-3]
    # assignment2/cs231n/layers.py is the plugin cs231n.layers: the folder that tells it apart is assignment2.
    module = name.split(".")
    if parts[-len(module):] == module:
        parts = parts[:-len(module)]
    return parts, "/"
