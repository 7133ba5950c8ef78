"""oracle baseline, report and pin: commands that read a saved run."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from .baseline import load as load_baseline
from .baseline import update as update_baseline
from .cli import (
    DEFAULT_BASELINE,
    EXIT_OK,
    _console,
    _print_written,
    _write,
    cli,
    options,
)
from .config import load_config, resolve
from .errors import UsageError
from .execution.journal import JOURNAL_NAME
from .result import Run, RunFormatError
from .schemas import SchemaError

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
    from .examples_db import DEFAULT_PINNED
    from .examples_db import pin as pin_case

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
