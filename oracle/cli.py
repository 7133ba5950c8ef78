"""The command line: oracle check / baseline / list / explain / report / selftest.

Exit codes: 0 all passed (or only failures the baseline knows), 1 gradient failures, 2 a usage
or configuration error, 3 an internal error, 130 interrupted. A user's mistake is one line on
stderr that says what was wrong and what would be right; never a traceback.

The engine imports JAX, which is slow, so it is imported inside the commands that need it:
`oracle --help` and usage errors stay fast.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .baseline import BaselineError
from .baseline import from_run as baseline_from_run
from .baseline import load as load_baseline
from .config import OPTION, ConfigError, Option, load_config, resolve
from .errors import TargetError, UsageError
from .result import Run, RunFormatError

__all__ = ["cli", "main", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERNAL", "EXIT_INTERRUPTED"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEFAULT_BASELINE = "oracle-baseline.json"


# A user's mistake, wherever it is found: each becomes one line and exit code 2.
USER_ERRORS = (UsageError, ConfigError, BaselineError, RunFormatError)


# --------------------------------------------------------------------------- click, built from the option table

class _OptionType(click.ParamType):
    """A click type that checks values with the same Option.parse that checks [tool.oracle]."""

    def __init__(self, option: Option) -> None:
        self.option = option
        self.name = option.kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self.option.parse(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


def _decorator(option: Option):
    """The click.argument or click.option decorator for one entry of the option table."""
    if option.positional:
        return click.argument(option.name, nargs=-1, type=_OptionType(option), metavar=f"[{option.metavar}]...")
    if option.kind == "flag":
        return click.option(f"{option.flag}/--no-{option.flag[2:]}", option.name, default=None, help=option.help)
    default = f" [default: {option.default}]" if option.default is not None else ""
    return click.option(option.flag, option.name, type=_OptionType(option), multiple=option.multiple,
                        default=None, metavar=option.metavar, help=option.help + default)


def options(*names: str):
    """Decorate a command with the table's options of these names, in this order."""
    def decorate(command):
        for name in reversed(names):
            command = _decorator(OPTION[name])(command)
        return command
    return decorate


def verbosity(command):
    command = click.option("-v", "--verbose", count=True, help="More detail: a line per verdict, tracebacks.")(command)
    return click.option("-q", "--quiet", count=True, help="Less: failures and the last line only.")(command)


def _console() -> Console:
    # Messages hold user text: no markup, emoji codes or highlighting may rewrite it.
    return Console(highlight=False, emoji=False)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class OracleGroup(click.Group):
    """Maps every way a command can end to an exit code and at most one line of complaint."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        args = list(sys.argv[1:] if args is None else args)
        verbose = any(a == "--verbose" or (a.startswith("-v") and set(a[1:]) == {"v"}) for a in args)
        try:
            code = super().main(args, prog_name or "oracle", complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as error:  # a bare `oracle` asks for the help
            click.echo(error.ctx.get_help() if error.ctx else error.format_message())
            code = EXIT_OK
        except click.UsageError as error:
            where = error.ctx.command_path if error.ctx else "oracle"
            _complain(f"{where}: {_one_line(error.format_message())} (see '{where} --help')")
            code = EXIT_USAGE
        except click.ClickException as error:
            _complain(f"oracle: {_one_line(error.format_message())}")
            code = EXIT_USAGE
        except USER_ERRORS as error:
            _complain(f"oracle: {_one_line(error)}")
            code = EXIT_USAGE
        except click.Abort:
            _complain("oracle: interrupted")
            code = EXIT_INTERRUPTED
        except Exception as error:  # a bug in the oracle: say so in one line, the traceback on request
            if verbose:
                traceback.print_exc()
            _complain(f"oracle: internal error: {type(error).__name__}: {_one_line(error)}"
                      + ("" if verbose else " (run with -v for the traceback)"))
            code = EXIT_INTERNAL
        sys.exit(code or 0)


def _complain(line: str) -> None:
    click.echo(line, err=True)


@click.group(name="oracle", cls=OracleGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="gradient-oracle", prog_name="oracle")
def cli() -> None:
    """gradient-oracle: tells, with evidence, whether gradient code is right.

    \b
    oracle check gatecore                  check an installed plugin
    oracle check my_layers.py --op 'conv*'  check the plugins a file defines
    oracle explain matmul                  what the oracle knows about an op
    """


# --------------------------------------------------------------------------- check

@cli.command()
@options("targets", "ops", "dtypes", "examples", "seed", "report", "json", "junit_xml", "baseline",
         "time_budget", "strict")
@verbosity
def check(quiet: int, verbose: int, **given: Any) -> int:
    """Check gradient code and gate on the result.

    TARGET is an installed plugin's name (entry point group oracle.plugins), an importable
    module or a path to a .py file; without one, the targets of [tool.oracle] in pyproject.toml.
    Options override [tool.oracle].
    """
    from .report.terminal import ProgressListener, last_line, print_summary

    level = verbose - quiet
    settings = resolve(given, load_config())
    if not settings["targets"]:
        raise UsageError("no targets: name one (oracle check gatecore, oracle check my_layers.py) "
                         "or set targets = [...] in [tool.oracle] of pyproject.toml")
    baseline = load_baseline(settings["baseline"]) if settings["baseline"] else None
    _writable(settings["report"], settings["json"], settings["junit_xml"])
    from .run import check as run_check

    console = _console()
    with ProgressListener(console, level) as listener:
        run = run_check(list(settings["targets"]), ops=settings["ops"] or None,
                        dtypes=settings["dtypes"] or None, examples=settings["examples"],
                        seed=settings["seed"], time_budget=settings["time_budget"], listener=listener)
    comparison = baseline.apply(run) if baseline is not None else None
    written = _write(run, html=settings["report"], json=settings["json"], junit_xml=settings["junit_xml"])
    print_summary(run, console, level, comparison, settings["baseline"])
    stale = bool(settings["strict"] and comparison is not None and comparison.fixed)
    if stale:
        console.print(Text("--strict: the gate fails until the baseline no longer lists them", style="bold red"))
    if level >= 0:
        _print_written(console, written)
        console.print(f"seed {run.seed} (--seed {run.seed} draws the same cases again)")
    console.print(last_line(run))
    if run.stopped_because == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_OK if run.ok and not stale else EXIT_FAILED


def _writable(folder: str, *files: str | None) -> None:
    """Make the report folder and the files' folders now: a path that cannot take them fails before the run."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for file in filter(None, files):
            Path(file).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot write {error.filename or folder}: {error.strerror or error}") from None


def _write(run: Run, **paths: str | None) -> dict[str, Path]:
    """The reports asked for; a path that cannot be written is the user's to fix, so it is one line."""
    from .report import write_reports

    try:
        return write_reports(run, **paths)
    except OSError as error:
        raise UsageError(f"cannot write {error.filename or 'the reports'}: {error.strerror or error}") from None


def _print_written(console: Console, written: dict[str, Path]) -> None:
    names = {"json": "JSON", "junit_xml": "JUnit XML", "html": "HTML report"}
    for kind, path in written.items():
        console.print(f"{names[kind]}: {path}", markup=False, soft_wrap=True)


# --------------------------------------------------------------------------- baseline

def _saved_run(path: str) -> Run:
    try:
        return Run.load(path)
    except FileNotFoundError:
        raise UsageError(f"no run at {path}: run `oracle check` first, or pass the run.json it wrote") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {path}: {error}") from None
    except RunFormatError as error:
        raise RunFormatError(f"{path}: {error}") from None


@cli.command()
@click.argument("run_json", required=False, metavar="[RUN.json]")
@click.option("-o", "--output", metavar="FILE",
              help=f"Where to write it. [default: baseline of [tool.oracle], else {DEFAULT_BASELINE}]")
def baseline(run_json: str | None, output: str | None) -> int:
    """Write a baseline of known failures from a run.

    RUN.json is a run saved by `oracle check` (--json FILE, or run.json in the report folder);
    by default the last run's, REPORT/run.json. Failures the baseline lists do not fail
    `oracle check --baseline FILE`.
    """
    settings = resolve({}, load_config())
    run = _saved_run(run_json or str(Path(settings["report"]) / "run.json"))
    target = output or settings["baseline"] or DEFAULT_BASELINE
    known = baseline_from_run(run)
    try:
        known.save(target)
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
    console = _console()
    if run.incomplete:
        console.print(Text("the run is incomplete: the baseline holds only the failures of what finished", style="yellow"))
    console.print(f"wrote {target}: {len(known)} known failure{'' if len(known) == 1 else 's'}",
                  markup=False, soft_wrap=True)
    return EXIT_OK


# --------------------------------------------------------------------------- report

@cli.command()
@click.argument("run_json", metavar="RUN.json")
@click.option("--html", "html", metavar="DIR", help="Folder for the HTML report. [default: report of [tool.oracle], else reports]")
@options("junit_xml")
def report(run_json: str, html: str | None, junit_xml: str | None) -> int:
    """Render the reports of a saved run again, without re-running anything."""
    from .report.terminal import last_line

    run = _saved_run(run_json)
    written = _write(run, html=html or resolve({}, load_config())["report"], junit_xml=junit_xml)
    console = _console()
    _print_written(console, written)
    console.print(last_line(run))
    return EXIT_OK


# --------------------------------------------------------------------------- list and explain

@cli.command(name="list")
@click.argument("targets", nargs=-1, metavar="[TARGET]...")
@click.option("-v", "--verbose", is_flag=True, help="Also where each implementation's code is.")
def list_(targets: tuple[str, ...], verbose: bool) -> int:
    """List the catalogue's ops and the implementations plugins register, with their calling convention.

    Without TARGET: the catalogue and every installed plugin.
    """
    from .plugin import discover, installed_plugins

    console = _console()
    say = lambda text, **kw: console.print(text, markup=False, soft_wrap=True, **kw)  # noqa: E731
    if not targets:
        from .specs import CATALOGUE

        say(f"catalogue: {len(CATALOGUE)} ops (oracle explain OP tells more)", style="bold")
        for line in _aligned([[spec.name, spec.signature()[len(spec.name):], spec.math] for spec in CATALOGUE.values()]):
            say("  " + line)
    for target in targets or sorted(installed_plugins()):
        try:
            plugins = discover(target)
        except TargetError as error:
            if targets:
                raise
            say(f"plugin {target!r} could not be loaded: {_one_line(error)}", style="yellow")
            continue
        for plugin in plugins:
            count = len(plugin.implementations)
            say(f"plugin {plugin.name} ({target}): {count} implementation{'' if count == 1 else 's'}", style="bold")
            rows = [[impl.label, impl.op, impl.convention, ", ".join(impl.dtypes) + " only" if impl.dtypes else "",
                     impl.source if verbose else ""] for impl in plugin.implementations]
            for line in _aligned(rows):
                say("  " + line)
    return EXIT_OK


def _aligned(rows: list[list[str]]) -> list[str]:
    """Rows of text cells as lines with aligned columns; no wrapping, so each row stays one line to grep."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


@cli.command()
@click.argument("op")
def explain(op: str) -> int:
    """Explain a catalogue op: its math, arguments, shapes, domains, kinks and properties."""
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
    console.print(table)
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


# --------------------------------------------------------------------------- selftest

@cli.command()
@options("examples", "seed")
def selftest(examples: int | None, seed: int | None) -> int:
    """Run the oracle on its own mutants: every deliberately wrong implementation must be caught."""
    from .selftest import main as selftest_main

    return selftest_main(examples, seed, _console())


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="oracle")


if __name__ == "__main__":
    main()
