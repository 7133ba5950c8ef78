"""The command line: oracle check / baseline / list / explain / report / selftest.

Exit codes: 0 all passed (or only failures the baseline knows), 1 gradient failures, 2 a usage
or configuration error, 3 an internal error, 5 nothing to check (as pytest's "no tests collected"),
130 interrupted. A user's mistake is one line on
stderr that says what was wrong and what would be right; never a traceback.

The engine imports JAX, which is slow, so it is imported inside the commands that need it:
`oracle --help` and usage errors stay fast.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .baseline import BaselineError
from .cache_command import cache as cache_command
from .baseline import update as update_baseline
from .baseline import load as load_baseline
from .config import OPTION, ConfigError, Option, load_config, resolve
from .errors import TargetError, UsageError
from .examples_db import PinError
from .sanitize import for_terminal
from .schemas import SchemaError
from .execution.journal import JOURNAL_NAME
from .result import Run, RunFormatError

__all__ = ["cli", "main", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERNAL", "EXIT_NOTHING", "EXIT_INTERRUPTED"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_NOTHING, EXIT_INTERRUPTED = 0, 1, 2, 3, 5, 130
EXIT_TERMINATED = 143    # 128 + SIGTERM, as a shell reports a process SIGTERM ended
DEFAULT_BASELINE = "oracle-baseline.json"


# A user's mistake, wherever it is found: each becomes one line and exit code 2.
USER_ERRORS = (UsageError, ConfigError, BaselineError, RunFormatError, SchemaError, PinError)


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
    return click.option(*filter(None, (option.short, option.flag)), option.name, type=_OptionType(option),
                        multiple=option.multiple, default=None, metavar=option.metavar, help=option.help + default)


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


def _one_line(text: object) -> str:
    return " ".join(for_terminal(text, limit=2000).split())


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
         "time_budget", "strict", "fail_under", "examples_from", "workers", "shard", "timeout", "memory_limit",
         "executor", "scheduler", "cache")
@verbosity
def check(quiet: int, verbose: int, **given: Any) -> int:
    """Check gradient code and gate on the result.

    TARGET is an installed plugin's name (entry point group oracle.plugins), an importable
    module or a path to a .py file; without one, the targets of [tool.oracle] in pyproject.toml.
    Options override [tool.oracle]. The last failing case of each verdict is kept in
    .oracle/examples and tried first by the next run.
    """
    from . import examples_db
    from .report.terminal import ProgressListener, last_line, print_summary

    level = verbose - quiet
    config = load_config()
    settings = resolve(given, config)
    if not settings["targets"]:
        raise UsageError("no targets: name one (oracle check gatecore, oracle check my_layers.py) "
                         "or set targets = [...] in [tool.oracle] of pyproject.toml")
    baseline = load_baseline(settings["baseline"], missing_ok=True) if settings["baseline"] else None
    for pinned in settings["examples_from"] or ():
        try:
            examples_db.read(pinned)     # a missing file is no cases yet; a malformed one is the user's to fix
        except (SchemaError, OSError, UnicodeDecodeError) as error:
            raise UsageError(f"pinned examples {pinned}: {error}") from None
    _writable(settings["report"], settings["json"], settings["junit_xml"])
    from .execution.supervisor import stop_on_signals
    from .run import check as run_check

    console = _console()
    if baseline is not None and baseline.missing and level >= 0:
        console.print(Text(f"baseline {settings['baseline']} does not exist yet, so no failure is known; "
                           "`oracle baseline` writes it from this run", style="yellow"), soft_wrap=True)
    database = (config.path.parent if config.path else Path.cwd()) / examples_db.DEFAULT_DB
    pinned = [str(Path(p).resolve()) for p in settings["examples_from"] or ()]
    with ProgressListener(console, level) as listener, stop_on_signals():
        run = run_check(list(settings["targets"]), ops=settings["ops"] or None,
                        dtypes=settings["dtypes"] or None, examples=settings["examples"],
                        seed=settings["seed"], time_budget=settings["time_budget"], listener=listener,
                        cache=settings["cache"], examples_from=pinned, examples_db=str(database.resolve()),
                        **execution_settings(settings))
    if not run.verdicts and not run.incomplete:
        _complain(f"oracle: nothing to check: no implementation is registered by {', '.join(map(_one_line, settings['targets']))} "
                  "(plugin.pullback('op') and its siblings register one; for an assignment file, "
                  "`oracle list FILE` says why each function was not judged)")
        return EXIT_NOTHING
    comparison = baseline.apply(run) if baseline is not None else None
    written = _write(run, html=settings["report"], json=settings["json"], junit_xml=settings["junit_xml"])
    print_summary(run, console, level, comparison, settings["baseline"])
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from .report.github import annotations

        for line in annotations(run):
            click.echo(line)
    stale = bool(settings["strict"] and comparison is not None and comparison.fixed)
    if stale:
        console.print(Text("--strict: the gate fails until the baseline no longer lists them", style="bold red"))
    passed = run.ok
    if settings["fail_under"] is not None:
        share, judged = pass_share(run)
        passed = share >= settings["fail_under"]
        console.print(Text(f"{share:.1f}% of {judged} judged verdict{'' if judged == 1 else 's'} pass; "
                           f"--fail-under {settings['fail_under']:g}%: {'passed' if passed else 'failed'}",
                           style="green" if passed else "bold red"))
    if level >= 0:
        _print_written(console, written)
        console.print(f"seed {run.seed} (--seed {run.seed} draws the same cases again)")
    console.print(last_line(run))
    if run.stopped_because == "interrupted":
        return EXIT_INTERRUPTED
    if run.stopped_because == "terminated":
        return EXIT_TERMINATED
    return EXIT_OK if passed and not stale and not run.missing else EXIT_FAILED


def execution_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The run's execution options (oracle.execution), and its journal beside run.json in the report folder."""
    from .execution.journal import JOURNAL_NAME

    chosen = {name: settings[name] for name in ("workers", "shard", "memory_limit", "executor", "scheduler")}
    if settings["timeout"] is not None:
        chosen["timeout"] = settings["timeout"]
    return dict(chosen, journal=str(Path(settings["report"]) / JOURNAL_NAME), keep_pool=False)


def pass_share(run: Run) -> tuple[float, int]:
    """(percentage of judged verdicts that pass or are known failures, how many were judged); skipped ones are not judged."""
    judged = [v for v in run.verdicts if v.status != "skipped"]
    if not judged:
        return 100.0, 0
    good = sum(v.status == "passed" or v.known for v in judged)
    return 100.0 * good / len(judged), len(judged)


def _writable(folder: str, *files: str | None) -> None:
    """Try the report folder and the files' places now: a path that cannot take them fails before the run.

    The message names the path the user gave, never the probe written to find out.
    """
    def fail(path: str, why: str) -> None:
        raise UsageError(f"cannot write {path}: {why}")

    def probe(place: Path, named: str) -> None:
        try:
            place.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=place, prefix=".oracle-probe-"):
                pass
        except (NotADirectoryError, FileExistsError):
            fail(named, "a part of the path is a file, not a folder")
        except OSError as error:
            fail(named, error.strerror or str(error))

    if Path(folder).exists() and not Path(folder).is_dir():
        fail(folder, "it is a file; --report names a folder")
    probe(Path(folder), folder)
    for file in filter(None, files):
        path = Path(file)
        if path.is_dir():
            fail(file, "it is a folder; name a file")
        probe(path.parent if str(path.parent) else Path("."), file)
        if path.exists() and not os.access(path, os.W_OK):
            fail(file, "permission denied")


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

def _killed_since(run_json: str) -> bool:
    """A journal beside run.json that is newer and never ended: the last run was killed before writing run.json."""
    from .execution.journal import KILLED
    from .execution.journal import read as read_journal

    journal, saved = Path(run_json).with_name(JOURNAL_NAME), Path(run_json)
    if Path(run_json).name != "run.json" or not journal.is_file():
        return False
    if saved.is_file() and saved.stat().st_mtime >= journal.stat().st_mtime:
        return False
    try:
        return read_journal(journal).stopped_because == KILLED
    except (OSError, RunFormatError, ValueError, TypeError):
        return False


def _saved_run(path: str) -> Run:
    """A run saved by `oracle check`, checked against the run schema before anything reads it; or its journal."""
    from .execution.journal import read as read_journal
    from .schemas import load_json

    try:
        if path.endswith(".jsonl") or _killed_since(path):
            return read_journal(path if path.endswith(".jsonl") else Path(path).with_name(JOURNAL_NAME))
        return Run.from_dict(load_json(path, "run"))
    except FileNotFoundError:
        raise UsageError(f"no run at {path}: run `oracle check` first, or pass the run.json it wrote") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder; pass the run.json in it") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {path}: {error}") from None
    except (RunFormatError, SchemaError, TypeError, ValueError) as error:
        raise RunFormatError(f"{path}: {error}") from None


@cli.command()
@click.argument("run_json", required=False, metavar="[RUN.json]")
@click.option("-o", "--output", metavar="FILE",
              help=f"Where to write it. [default: baseline of [tool.oracle], else {DEFAULT_BASELINE}]")
def baseline(run_json: str | None, output: str | None) -> int:
    """Write or update the baseline of known failures from a run.

    RUN.json is a run saved by `oracle check` (--json FILE, or run.json in the report folder);
    by default the last run's, REPORT/run.json. Failures the baseline lists do not fail
    `oracle check --baseline FILE`. Only the verdicts the run judged are updated: the known
    failures of ops a filtered run left out stay in the file.
    """
    settings = resolve({}, load_config())
    run = _saved_run(run_json or str(Path(settings["report"]) / "run.json"))
    target = output or settings["baseline"] or DEFAULT_BASELINE
    before = load_baseline(target, missing_ok=True)
    known = update_baseline(before, run)
    try:
        known.save(target)
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
    console = _console()
    if run.incomplete:
        console.print(Text("the run is incomplete: the baseline holds only the failures of what finished", style="yellow"))
    added, removed = len(set(known.known) - set(before.known)), len(set(before.known) - set(known.known))
    kept = len(set(before.known) & set(known.known))
    console.print(f"wrote {target}: {len(known)} known failure{'' if len(known) == 1 else 's'} "
                  f"({added} added, {removed} removed, {kept} kept)", markup=False, soft_wrap=True)
    return EXIT_OK


# --------------------------------------------------------------------------- report

@cli.command()
@click.argument("run_json", nargs=-1, required=True, metavar="RUN.json...")
@click.option("--html", "html", metavar="DIR", help="Folder for the HTML report. [default: report of [tool.oracle], else reports]")
@click.option("--merge", is_flag=True, help="Join the runs of the shards of one run (oracle check --shard K/N).")
@options("junit_xml")
def report(run_json: tuple[str, ...], html: str | None, merge: bool, junit_xml: str | None) -> int:
    """Render the reports of a saved run again, without re-running anything.

    RUN.json is a run.json, or the journal.jsonl a run leaves in its report folder as it goes
    (a run that was killed is rendered from it, marked incomplete).
    """
    from .report.terminal import last_line

    if merge:
        from .execution.shards import merge as merge_shards

        run = merge_shards([_saved_run(path) for path in run_json], list(run_json))
    elif len(run_json) > 1:
        raise UsageError("oracle report renders one run; pass --merge to join the runs of shards")
    else:
        run = _saved_run(run_json[0])
    written = _write(run, html=html or resolve({}, load_config())["report"], junit_xml=junit_xml)
    console = _console()
    _print_written(console, written)
    console.print(last_line(run))
    return EXIT_OK


# --------------------------------------------------------------------------- pin

@cli.command()
@click.argument("run_json", metavar="RUN.json")
@click.argument("label")
@click.option("-o", "--output", metavar="FILE",
              help="The file of pinned cases. [default: the first examples_from of [tool.oracle], else oracle-pinned.json]")
def pin(run_json: str, label: str, output: str | None) -> int:
    """Keep the shrunk case of a failing verdict as a permanent regression example.

    LABEL names the verdict: its id (plugin/implementation/dtype), its implementation's label,
    or its fingerprint. `oracle check --examples-from FILE`, examples_from = [...] in
    [tool.oracle] and assert_gradients(..., examples_from=FILE) try its cases before any new one.
    """
    from .examples_db import DEFAULT_PINNED, pin as pin_case

    run = _saved_run(run_json)
    pinned = resolve({}, load_config())["examples_from"]
    target = output or (pinned[0] if pinned else DEFAULT_PINNED)
    try:
        verdict, new = pin_case(run, label, target)
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
    case = verdict.case
    what = f"{case.shapes_text()}, case seed {case.seed}" if case else "its case"
    say = "pinned" if new else "already pinned"
    _console().print(f"{say} {verdict.id} ({what}) in {target}", markup=False, soft_wrap=True)
    if new and not pinned and output is None:
        _console().print(f'replay it with --examples-from {target}, or examples_from = ["{target}"] in [tool.oracle]',
                         markup=False, soft_wrap=True)
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
    # Plugin and implementation names are the plugin's text: no control sequence reaches the terminal.
    say = lambda text, **kw: console.print(for_terminal(text), markup=False, soft_wrap=True, **kw)  # noqa: E731
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


# --------------------------------------------------------------------------- selftest

@cli.command()
@options("examples", "seed", "workers")
def selftest(examples: int | None, seed: int | None, workers: int | str | None) -> int:
    """Run the oracle on its own mutants: every deliberately wrong implementation must be caught."""
    from .selftest import main as selftest_main

    return selftest_main(examples, seed, _console(), workers=resolve({"workers": workers}, load_config())["workers"])


cli.add_command(cache_command)   # oracle cache info | clear


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="oracle")


if __name__ == "__main__":
    main()
