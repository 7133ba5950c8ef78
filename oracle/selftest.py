"""The self-test: run the oracle on its own mutants and on its correct corpora, and score it.

Every mutant (oracle.plugins.mutants) is wrong in one known way; it counts as caught when
at least one of its verdicts (one per dtype) fails. gatecore, the textbook corpus (correct code
written the naive way lectures write it) and the built-ins are right; any verdict of them that
does not pass is a false alarm. Each mutant also names the diagnoses that describe its bug. The
oracle passes its self-test at 100% caught, no false alarm and at least DIAGNOSIS_SHARE of the
mutants diagnosed as their label says (the share is printed by kind).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .result import Run, Verdict

__all__ = ["selftest", "main", "SelftestResult", "MutantResult", "DEFAULT_EXAMPLES", "DEFAULT_SEED"]

# Cases per implementation and dtype, unless the caller gives one number for both. A mutant's
# search ends at its first failing case, so it can afford many: enough for the rarest "wrong
# only when ..." condition to be drawn from any seed. gatecore passes, so it always uses all of
# its cases; its own tests judge it more thoroughly.
DEFAULT_EXAMPLES = {"mutants": 25, "gatecore": 8, "textbook": 8, "builtins": 8}
# The mutants include rules wrong only in bfloat16, and torch's and JAX's built-ins must pass in
# every dtype they compute in; NumPy implementations are skipped in the half-precision dtypes.
DTYPES = {"mutants": ("float64", "float32", "bfloat16"), "gatecore": ("float64", "float32"),
          "textbook": ("float64", "float32"),
          "builtins": ("float64", "float32", "float16", "bfloat16")}
DEFAULT_SEED = 0
# The share of mutants (of those that expect a diagnosis) that must be diagnosed as their label says.
DIAGNOSIS_SHARE = 0.9


@dataclass
class MutantResult:
    """How the oracle did on one mutant, over its dtypes."""

    label: str
    op: str
    convention: str
    kind: str
    expect: tuple[str, ...]
    verdicts: list[Verdict]

    @property
    def caught_in(self) -> list[str]:
        return [v.dtype for v in self.verdicts if _caught(v)]

    @property
    def caught(self) -> bool:
        return bool(self.caught_in)

    @property
    def diagnoses(self) -> list[str | None]:
        return [(v.diagnosis or {}).get("kind") for v in self.verdicts if _caught(v)]

    @property
    def diagnosed(self) -> bool | None:
        """Every failing verdict diagnosed as one of the expected kinds; None when none is expected."""
        if not self.expect:
            return None
        return self.caught and all(kind in self.expect for kind in self.diagnoses)


@dataclass
class SelftestResult:
    run: Run
    mutants: list[MutantResult] = field(default_factory=list)
    false_alarms: list[Verdict] = field(default_factory=list)
    gatecore_verdicts: int = 0              # verdicts of the correct corpora (gatecore, textbook, built-ins)
    correct_plugins: list[str] = field(default_factory=list)

    @property
    def caught(self) -> int:
        return sum(m.caught for m in self.mutants)

    @property
    def total(self) -> int:
        return len(self.mutants)

    @property
    def survivors(self) -> list[MutantResult]:
        return [m for m in self.mutants if not m.caught]

    @property
    def diagnosable(self) -> list[MutantResult]:
        return [m for m in self.mutants if m.expect]

    @property
    def diagnosed(self) -> int:
        return sum(bool(m.diagnosed) for m in self.diagnosable)

    @property
    def ok(self) -> bool:
        return (self.total > 0 and self.caught == self.total and not self.false_alarms and not self.run.incomplete
                and self.diagnosed >= DIAGNOSIS_SHARE * len(self.diagnosable))

    def by_diagnosis(self) -> dict[str, tuple[int, int]]:
        """expected diagnosis kind (the label's first) -> (diagnosed rightly, caught mutants of it)."""
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for m in self.diagnosable:
            if m.caught:
                counts[m.expect[0]][0] += bool(m.diagnosed)
                counts[m.expect[0]][1] += 1
        return {kind: (d, t) for kind, (d, t) in counts.items()}

    def false_alarms_by_plugin(self) -> dict[str, int]:
        counts = {plugin: 0 for plugin in self.correct_plugins}
        for verdict in self.false_alarms:
            counts[verdict.plugin] = counts.get(verdict.plugin, 0) + 1
        return counts

    def by_kind(self) -> dict[str, tuple[int, int]]:
        """bug kind -> (caught, total), in the order the kinds first appear."""
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for m in self.mutants:
            counts[m.kind][0] += m.caught
            counts[m.kind][1] += 1
        return {kind: (c, t) for kind, (c, t) in counts.items()}


def _joined(runs: list[Run]) -> Run:
    """One run holding the verdicts of several, as if they had been one."""
    first = runs[0]
    return Run(seed=first.seed, verdicts=[v for r in runs for v in r.verdicts], targets=[t for r in runs for t in r.targets],
               settings={**first.settings, "examples": {t: r.settings["examples"] for r in runs for t in r.targets}},
               versions=first.versions, started=first.started, duration=sum(r.duration for r in runs),
               incomplete=any(r.incomplete for r in runs),
               stopped_because=next((r.stopped_because for r in runs if r.stopped_because), None))


def _caught(verdict: Verdict) -> bool:
    # An implementation that raises is flagged too; a search that could not run flags nothing.
    return verdict.status == "failed" or (verdict.status == "errored" and verdict.check != "oracle")


def selftest(examples: int | None = None, seed: int | None = None, listener: Any = None,
             workers: int | str | None = None) -> SelftestResult:
    """Run the mutants and the correct corpora through the oracle; the score, survivors and false alarms.

    workers: worker processes, as `oracle check -n` (None: the cores available)."""
    from oracle.plugins.mutants import BUGS, plugin as mutants

    from .run import check

    seed = DEFAULT_SEED if seed is None else seed
    runs = []
    for target, default in DEFAULT_EXAMPLES.items():
        runs.append(check([target], examples=default if examples is None else examples, seed=seed, listener=listener,
                          workers=workers, dtypes=DTYPES[target]))
        if runs[-1].incomplete:
            break
    run = _joined(runs)
    by_label: dict[str, list[Verdict]] = defaultdict(list)
    result = SelftestResult(run)
    for verdict in run.verdicts:
        if verdict.plugin == mutants.name:
            by_label[verdict.implementation].append(verdict)
        else:
            result.gatecore_verdicts += 1
            if verdict.plugin not in result.correct_plugins:
                result.correct_plugins.append(verdict.plugin)
            if verdict.status in ("failed", "errored"):
                result.false_alarms.append(verdict)
    for impl in mutants.implementations:
        if impl.label not in by_label:
            continue  # not reached: the run stopped early
        bug = BUGS[impl.label]
        result.mutants.append(MutantResult(impl.label, impl.op, impl.convention, bug.kind, bug.expect,
                                           by_label[impl.label]))
    return result


# --------------------------------------------------------------------------- the command

class _Progress:
    """A transient progress bar over the (implementation, dtype) pairs."""

    def __init__(self, console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=console, transient=True)
        self.task = None

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def started(self, total: int) -> None:
        if self.task is None:
            self.task = self.bar.add_task("selftest", total=total)
        else:  # the next target's share of the work
            self.bar.update(self.task, total=self.bar.tasks[0].total + total)

    def starting(self, impl, dtype: str) -> None:
        self.bar.update(self.task, description=f"{impl.plugin}/{impl.label} {dtype}")

    def finished(self, verdict) -> None:
        self.bar.advance(self.task)


def main(examples: int | None, seed: int | None, console, workers: int | str | None = None) -> int:
    """`oracle selftest`: print the score by bug kind, survivors, false alarms and diagnoses; the exit code."""
    from rich.markup import escape
    from rich.table import Table

    seed = DEFAULT_SEED if seed is None else seed
    with _Progress(console) as progress:
        result = selftest(examples, seed, listener=progress, workers=workers)
    run = result.run

    counts = {t: examples for t in DEFAULT_EXAMPLES} if examples is not None else DEFAULT_EXAMPLES
    console.print(f"oracle selftest: {result.total} mutants and {result.gatecore_verdicts} verdicts of correct code, "
                  f"{counts['mutants']} cases per mutant and {counts['gatecore']} per correct implementation "
                  "in each dtype, "
                  f"seed {seed}, {run.duration:.0f} s")
    if run.incomplete:
        console.print(f"[bold red]incomplete[/]: stopped by {run.stopped_because}; the score covers what ran")

    table = Table(title="mutation score by bug kind", title_justify="left")
    table.add_column("bug kind")
    table.add_column("caught", justify="right")
    for kind, (caught, total) in result.by_kind().items():
        style = "green" if caught == total else "bold red"
        table.add_row(escape(kind), f"[{style}]{caught} of {total}[/]")
    console.print(table)

    share = 100 * result.caught / result.total if result.total else 0.0
    style = "bold green" if result.caught == result.total and result.total else "bold red"
    console.print(f"mutation score: [{style}]{result.caught} of {result.total} caught ({share:.0f}%)[/]")
    for mutant in result.survivors:
        console.print(f"  [red]survived[/] {escape(mutant.label)} ({mutant.op}, {mutant.convention}): {escape(mutant.kind)}")

    for plugin, count in (result.false_alarms_by_plugin() or {"gatecore": 0}).items():
        console.print(f"false alarms on {escape(plugin)}: " + (f"[bold red]{count}[/]" if count else "[green]0[/]"))
    for verdict in result.false_alarms:
        console.print(f"  [red]{verdict.status}[/] {escape(verdict.id)}: {escape(_first_line(verdict.message))}")

    diagnosable = result.diagnosable
    console.print(f"diagnosis: {result.diagnosed} of {len(diagnosable)} mutants diagnosed as their label says"
                  + (f" ({result.total - len(diagnosable)} expect no diagnosis)" if result.total > len(diagnosable) else ""))
    kinds = Table(title="diagnosis by kind", title_justify="left")
    kinds.add_column("expected diagnosis")
    kinds.add_column("diagnosed", justify="right")
    for kind, (right, total) in result.by_diagnosis().items():
        style = "green" if right == total else ("yellow" if right >= DIAGNOSIS_SHARE * total else "bold red")
        kinds.add_row(escape(kind), f"[{style}]{right} of {total}[/]")
    console.print(kinds)
    share = 100 * result.diagnosed / len(diagnosable) if diagnosable else 100.0
    enough = result.diagnosed >= DIAGNOSIS_SHARE * len(diagnosable)
    console.print(f"diagnosis share: [{'bold green' if enough else 'bold red'}]{share:.0f}%[/] "
                  f"(at least {100 * DIAGNOSIS_SHARE:.0f}% required)")
    for mutant in diagnosable:
        if mutant.caught and not mutant.diagnosed:
            said = "; ".join(sorted({(v.diagnosis or {}).get("text") or "no diagnosis"
                                     for v in mutant.verdicts if _caught(v)}))
            console.print(f"  {mutant.label}: expected {' or '.join(mutant.expect)}; said: {said}", markup=False)

    if run.stopped_because == "interrupted":
        return 130
    return 0 if result.ok else 1


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0] if text and text.strip() else ""
