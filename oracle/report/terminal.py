"""What a person sees in the terminal: a progress bar while the run works, then the verdicts.

Verbosity: -1 quiet (failures and the last line only), 0 normal (progress bar, summary table,
failures), 1 verbose (also a line per verdict as it finishes, and the known failures in full).
Without a terminal (piped, CI) there is no bar to watch, so normal verbosity prints the line
per finished verdict instead, and tables take the width they need instead of wrapping at 80.

Names and messages come from plugins: every one passes through oracle.sanitize.for_terminal.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..baseline import Comparison
from ..result import Run, Verdict
from ..sanitize import for_terminal
from . import error_text, first_line, op_text, status_of

__all__ = ["ProgressListener", "summary_table", "print_summary", "print_failure", "print_unwrapped", "last_line", "STYLES"]

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
        self.running: dict[str, str] = {}      # verdict id -> what the bar says about it, while workers judge it

    def __enter__(self) -> "ProgressListener":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def started(self, total: int) -> None:
        self.task = self.progress.add_task("starting", total=total)

    def starting(self, impl, dtype: str) -> None:
        label = impl.label if impl.label == impl.op else f"{impl.label} ({impl.op})"
        # Workers judge several at once: the bar names the latest and counts the others running.
        self.running[f"{impl.plugin}/{impl.label}/{dtype}"] = f"{impl.plugin} · {label} · {dtype}"
        self._describe()

    def _describe(self) -> None:
        if self.task is not None and self.running:
            latest = list(self.running.values())[-1]
            more = f" (+{len(self.running) - 1} running)" if len(self.running) > 1 else ""
            self.progress.update(self.task, description=escape(for_terminal(latest, 200) + more))

    def finished(self, verdict: Verdict) -> None:
        self.running.pop(verdict.id, None)
        self._describe()
        if self.task is not None:
            self.progress.advance(self.task)
        if self.verbosity > 0 or (self.verbosity == 0 and not self.console.is_terminal):
            self.progress.console.print(verdict_line(verdict), soft_wrap=True)


def verdict_line(verdict: Verdict) -> Text:
    """'FAILED mine affine float64 20 cases 1.3s  gradient for 'w' differs ...': one finished verdict."""
    cases = f"{verdict.examples} case{'' if verdict.examples == 1 else 's'}"
    line = Text.assemble(_status(verdict), for_terminal(f" {verdict.plugin} {op_text(verdict)} {verdict.dtype} "
                                                        f"{cases} {verdict.duration:.1f}s", 400))
    if verdict.status != "passed":
        line.append(f"  {for_terminal(first_line(verdict.message), 300)}", style="dim")
    return line


def summary_table(run: Run) -> Table:
    table = Table(title=None, show_edge=False, pad_edge=False, header_style="bold")
    for column in ("plugin", "op", "dtype", "status", "worst error", "cases"):
        table.add_column(column, justify="right" if column == "cases" else "left", overflow="fold")
    for verdict in run.verdicts:
        table.add_row(for_terminal(verdict.plugin, 200), for_terminal(op_text(verdict), 200), verdict.dtype,
                      _status(verdict), error_text(verdict), str(verdict.examples) if verdict.examples else "")
    return table


def print_unwrapped(console: Console, table: Table) -> None:
    """A table as wide as it needs when no terminal fixes a width: a CI log must not fold cells at 80 columns."""
    if console.is_terminal:
        console.print(table)
        return
    needed = console.measure(table, options=console.options.update(width=100_000)).maximum
    width = console.width
    console.width = max(width, needed)
    try:
        console.print(table)
    finally:
        console.width = width


def print_failure(verdict: Verdict, console: Console) -> None:
    """One failure as the design's failure message, with a rule above it naming the verdict."""
    from ..message import format_failure

    console.rule(Text(for_terminal(f"{status_of(verdict)}: {verdict.plugin} {op_text(verdict)} {verdict.dtype}", 200),
                      style=STYLES[status_of(verdict)]))
    console.print(for_terminal(format_failure(verdict)), markup=False, highlight=False, soft_wrap=True)


MISSING_SHOWN = 10


def print_summary(run: Run, console: Console, verbosity: int = 0, comparison: Comparison | None = None,
                  baseline_path: str | None = None) -> None:
    """Everything after the run but the last line: table, failures, baseline news, incompleteness."""
    if verbosity >= 0 and run.verdicts:
        print_unwrapped(console, summary_table(run))
    for verdict in run.verdicts:
        if verdict.status in ("failed", "errored") and (not verdict.known or verbosity > 0):
            print_failure(verdict, console)
    for verdict in run.verdicts if verbosity >= 0 else ():   # passed, with something to say (float64_grads = "warn")
        if verdict.status == "passed" and verdict.hints:
            console.print(Text(for_terminal(f"warning: {verdict.plugin} {op_text(verdict)} {verdict.dtype}: "
                                            + "; ".join(verdict.hints), 600), style="yellow"), soft_wrap=True)
    known = [v for v in run.verdicts if v.known]
    if known and verbosity <= 0:
        console.print(Text(f"{len(known)} known failure(s), listed in the baseline {baseline_path or ''}".rstrip(),
                           style=STYLES["known"]))
        for verdict in known:
            console.print(f"  {for_terminal(verdict.fingerprint, 400)}", markup=False, highlight=False, soft_wrap=True)
    if comparison and comparison.fixed:
        one = len(comparison.fixed) == 1
        console.print(Text(f"{len(comparison.fixed)} baseline entr{'y no longer fails' if one else 'ies no longer fail'}; "
                           "`oracle baseline` removes them (and keeps the entries of ops this run did not judge):",
                           style="yellow"))
        for fingerprint in comparison.fixed:
            console.print(f"  {for_terminal(fingerprint, 400)}", markup=False, highlight=False, soft_wrap=True)
    if run.incomplete:
        console.print(Text(f"incomplete ({run.stopped_because or 'interrupted'}) after {len(run.verdicts)} verdict(s): "
                           "the reports hold what finished", style="bold yellow"))
    if run.missing:   # the gate fails while any planned verdict is missing: say which
        shown = ", ".join(run.missing[:MISSING_SHOWN]) + (f" and {len(run.missing) - MISSING_SHOWN} more"
                                                         if len(run.missing) > MISSING_SHOWN else "")
        console.print(Text(f"{len(run.missing)} planned verdict(s) not judged ({run.stopped_because or 'not run'}): "
                           f"{shown}", style="bold red"), soft_wrap=True)


def last_line(run: Run) -> Text:
    """'N passed, M failed[, K errored][, S skipped]', with the known failures and the time."""
    known = sum(v.known for v in run.verdicts)
    text = run.summary_line() + (f" ({known} known)" if known else "") + f" in {run.duration:.1f}s"
    if run.incomplete:
        text += " (incomplete)"
    style = "bold green" if run.ok and not run.incomplete else ("bold yellow" if run.ok else "bold red")
    return Text(text, style=style)
