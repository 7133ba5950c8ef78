"""The command line: oracle check and selftest here; baseline, report and pin in cli_runs.py; list and
explain in cli_catalogue.py; cache in cache_command.py.

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
from rich.text import Text

from .baseline import BaselineError
from .baseline import load as load_baseline
from .cache_command import cache as cache_command
from .config import OPTION, ConfigError, Option, load_config, resolve
from .errors import UsageError
from .examples_db import PinError
from .execution.journal import JOURNAL_NAME
from .result import Run, RunFormatError
from .sanitize import for_terminal
from .schemas import SchemaError

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
    from .execution.signals import stop_on_signals
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


# --------------------------------------------------------------------------- selftest

@cli.command()
@options("examples", "seed", "workers")
def selftest(examples: int | None, seed: int | None, workers: int | str | None) -> int:
    """Run the oracle on its own mutants: every deliberately wrong implementation must be caught."""
    from .selftest import main as selftest_main

    return selftest_main(examples, seed, _console(), workers=resolve({"workers": workers}, load_config())["workers"])


cli.add_command(cache_command)   # oracle cache info | clear

# The commands that live in modules of their own register themselves on `cli` when imported.
from . import cli_catalogue, cli_runs  # noqa: E402,F401


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="oracle")


if __name__ == "__main__":
    # `python -m oracle.cli`: the commands of cli_runs and cli_catalogue are registered on oracle.cli's
    # group, not on this __main__ copy of it.
    from oracle.cli import main as registered_main

    registered_main()
