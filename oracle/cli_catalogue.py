"""oracle list and explain: what is installed and what each op of the catalogue means."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from .cli import EXIT_OK, _console, _one_line, cli
from .errors import TargetError
from .sanitize import for_terminal

# --------------------------------------------------------------------------- list and explain

@cli.command(name="list")
@click.argument("targets", nargs=-1, metavar="[TARGET]...")
@click.option("-v", "--verbose", is_flag=True, help="Also where each implementation's code is.")
def list_(targets: tuple[str, ...], verbose: bool) -> int:
    """List the catalogue's ops and the implementations plugins register, with their calling convention.

    Without TARGET: the catalogue and every installed plugin.
    """
    from .execution.naming import run_names
    from .plugin import discover, installed_plugins

    console = _console()
    # Plugin and implementation names are the plugin's text: no control sequence reaches the terminal.
    say = lambda text, **kw: console.print(for_terminal(text), markup=False, soft_wrap=True, **kw)  # noqa: E731
    if not targets:
        from .specs import CATALOGUE

        say(f"catalogue: {len(CATALOGUE)} ops (oracle explain OP tells more)", style="bold")
        for line in _aligned([[spec.name, spec.signature()[len(spec.name):], spec.math] for spec in CATALOGUE.values()]):
            say("  " + line)
    loaded: list[tuple[str, Any]] = []     # (target, its plugins, or why it could not be loaded)
    for target in targets or sorted(installed_plugins()):
        try:
            loaded.append((target, discover(target)))
        except TargetError as error:
            if targets:
                raise
            loaded.append((target, error))
    # Named as `oracle check` of the same targets names them: two assignments' cs231n.layers apart.
    names = iter(run_names([(p.name, p.target) for _, found in loaded if isinstance(found, list) for p in found]))
    for target, plugins in loaded:
        if not isinstance(plugins, list):
            say(f"plugin {target!r} could not be loaded: {_one_line(plugins)}", style="yellow")
            continue
        for plugin in plugins:
            count = len(plugin.implementations)
            say(f"plugin {next(names)} ({target}): {count} implementation{'' if count == 1 else 's'}", style="bold")
            note = getattr(plugin, "note", None)   # assignment files: the functions found, and their preconditions
            rows = [[impl.label, impl.op, impl.convention, ", ".join(impl.dtypes) + " only" if impl.dtypes else "",
                     note(impl.label) if note else impl.source if verbose else ""] for impl in plugin.implementations]
            for line in _aligned(rows):
                say("  " + line)
            for function, why in getattr(plugin, "not_found", ()):   # and what was not judged, and why
                say(f"  not judged: {function}: {why}", style="yellow")
    return EXIT_OK


def _aligned(rows: list[list[str]]) -> list[str]:
    """Rows of text cells as lines with aligned columns; no wrapping, so each row stays one line to grep."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


@cli.command()
@click.argument("op")
def explain(op: str) -> int:
    """Explain a catalogue op: its math, arguments, shapes, domains, kinks and properties."""
    from .report.terminal import print_unwrapped
    from .specs import get

    spec = get(op)
    console = _console()
    say = lambda text="", **kw: console.print(text, markup=False, highlight=False, soft_wrap=True, **kw)  # noqa: E731
    say(spec.signature(), style="bold")
    if spec.math:
        say(f"  {spec.math}")
    say()
    table = Table(show_edge=False, header_style="bold")
    for column in ("argument", "shape", "values", "differentiable"):
        table.add_column(column, overflow="fold")
    for name, arg in spec.inputs.items():
        table.add_row(name, arg.shape or "scalar", arg.domain.describe(), "yes" if arg.differentiable else "no")
    for name, hyper in spec.hyper.items():
        table.add_row(name, "hyper-parameter", hyper.describe, "no")
    print_unwrapped(console, table)
    say()
    dims = ", ".join(f"{name} in {list(spec.dim_range(name))}" for name in spec.dim_names())
    facts = [("dims", dims + (" (plus 0-2 leading batch dims)" if spec.has_batch else ""))]
    facts.append(("outputs", str(spec.outputs)))
    facts.append(("reference", "JAX, differentiated with jax.vjp in float64" if spec.reference else
                  "none: judged by finite differences of the implementation's forward"))
    facts.append(("kinks", _function_text(spec.kinks, "kinks") + " stays away from zero" if spec.kinks else
                  "none: differentiable everywhere it is drawn"))
    if spec.properties:
        facts.append(("properties", ", ".join(spec.properties)))
    if spec.weights:
        facts.append(("weights", ", ".join(spec.weights)))
    if spec.tolerance:
        facts.append(("tolerance", ", ".join(f"{d} x{f:g}" for d, f in spec.tolerance.items())))
    width = max(len(k) for k, _ in facts)
    for key, value in facts:
        say(f"{key:<{width}}  {value}")
    return EXIT_OK


def _function_text(function: Any, keyword: str) -> str:
    """The body of a spec's lambda ('x - y'), or the function's name: what a reader needs to see."""
    import inspect

    name = getattr(function, "__name__", "")
    if name != "<lambda>":
        return f"{name}(...)"
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return "a function of the inputs"
    start = source.find(f"{keyword}=lambda")
    start = source.find("lambda") if start < 0 else start + len(keyword) + 1
    body, depth = source[source.index(":", start) + 1:], 0
    for i, char in enumerate(body):
        depth += char in "([{"
        depth -= char in ")]}"
        if depth < 0 or (depth == 0 and char in ",\n"):
            body = body[:i]
            break
    return body.strip() or "a function of the inputs"
