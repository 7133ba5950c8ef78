"""What a person sees in the terminal: a progress bar while the run works, then the verdicts.

Verbosity: -1 quiet (failures and the last line only), 0 normal (progress bar, summary table,
failures), 1 verbose (also a line per verdict as it finishes, and the known failures in full).
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..baseline import Comparison
from ..result import Run, Verdict
from . import error_text, first_line, op_text, status_of

__all__ = ["ProgressListener", "summary_table", "print_summary", "print_failure", "last_line", "STYLES"]

STYLES = {"passed": "green", "failed": "bold red", "errored": "bold magenta", "skipped": "yellow", "known": "cyan"}


def _status(verdict: Verdict) -> Text:
    status = status_of(verdict)
    return Text(status.upper() if status in ("failed", "errored") else status, style=STYLES[status])


class ProgressListener:
    """The engine's listener: a rich progress bar naming the plugin, op and dtype being checked.

    Use as a context manager so the bar is taken down however the run ends.
    """

    def __init__(self, console: Console, verbosity: int = 0) -> None:
        self.console = console
        self.verbosity = verbosity
        # A bar only where someone watches it redraw; logs of CI get the per-verdict lines of -v instead.
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=True, disable=verbosity < 0 or not console.is_terminal,
        )
        self.task = None

    def __enter__(self) -> "ProgressListener":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def started(self, total: int) -> None:
        self.task = self.progress.add_task("starting", total=total)

    def starting(self, impl, dtype: str) -> None:
        if self.task is not None:
            label = impl.label if impl.label == impl.op else f"{impl.label} ({impl.op})"
            self.progress.update(self.task, description=escape(f"{impl.plugin} · {label} · {dtype}"))

    def finished(self, verdict: Verdict) -> None:
        if self.task is not None:
            self.progress.advance(self.task)
        if self.verbosity > 0:
            line = Text.assemble(_status(verdict), f" {verdict.plugin} {op_text(verdict)} {verdict.dtype}")
            detail = f"{verdict.examples} cases" if verdict.status == "passed" else first_line(verdict.message)
            line.append(f"  {detail}", style="dim")
            self.progress.console.print(line, soft_wrap=True)


def summary_table(run: Run) -> Table:
    table = Table(title=None, show_edge=False, pad_edge=False, header_style="bold")
    for column in ("plugin", "op", "dtype", "status", "worst error", "cases"):
        table.add_column(column, justify="right" if column == "cases" else "left", overflow="fold")
    for verdict in run.verdicts:
        table.add_row(verdict.plugin, op_text(verdict), verdict.dtype, _status(verdict), error_text(verdict),
                      str(verdict.examples) if verdict.examples else "")
    return table


def print_failure(verdict: Verdict, console: Console) -> None:
    """One failure as the design's failure message, with a rule above it naming the verdict."""
    from ..message import format_failure

    console.rule(Text(f"{status_of(verdict)}: {verdict.plugin} {op_text(verdict)} {verdict.dtype}",
                      style=STYLES[status_of(verdict)]))
    console.print(format_failure(verdict), markup=False, highlight=False, soft_wrap=True)


def print_summary(run: Run, console: Console, verbosity: int = 0, comparison: Comparison | None = None,
                  baseline_path: str | None = None) -> None:
    """Everything after the run but the last line: table, failures, baseline news, incompleteness."""
    if verbosity >= 0 and run.verdicts:
        console.print(summary_table(run))
    for verdict in run.verdicts:
        if verdict.status in ("failed", "errored") and (not verdict.known or verbosity > 0):
            print_failure(verdict, console)
    known = [v for v in run.verdicts if v.known]
    if known and verbosity <= 0:
        console.print(Text(f"{len(known)} known failure(s), listed in the baseline {baseline_path or ''}".rstrip(),
                           style=STYLES["known"]))
        for verdict in known:
            console.print(f"  {verdict.fingerprint}", markup=False, highlight=False, soft_wrap=True)
    if comparison and comparison.fixed:
        one = len(comparison.fixed) == 1
        console.print(Text(f"{len(comparison.fixed)} baseline entr{'y no longer fails' if one else 'ies no longer fail'}; "
                           "remove them (oracle baseline writes the file again):", style="yellow"))
        for fingerprint in comparison.fixed:
            console.print(f"  {fingerprint}", markup=False, highlight=False, soft_wrap=True)
    if run.incomplete:
        console.print(Text(f"incomplete ({run.stopped_because or 'interrupted'}) after {len(run.verdicts)} verdict(s): "
                           "the reports hold what finished", style="bold yellow"))


def last_line(run: Run) -> Text:
    """'N passed, M failed[, K errored][, S skipped]', with the known failures and the time."""
    known = sum(v.known for v in run.verdicts)
    text = run.summary_line() + (f" ({known} known)" if known else "") + f" in {run.duration:.1f}s"
    if run.incomplete:
        text += " (incomplete)"
    style = "bold green" if run.ok and not run.incomplete else ("bold yellow" if run.ok else "bold red")
    return Text(text, style=style)
