"""Plan and run: every (implementation, dtype) gets a hypothesis search; each becomes a Verdict.

    discover -> plan -> generate -> evaluate -> judge -> explain -> Run

Hypothesis draws cases and, on a failure, shrinks to the smallest case that still fails;
the finding of that last case is explained (worst elements with finite differences,
hints, diagnosis) and becomes the verdict. A run survives anything an implementation
does, and Ctrl-C or the time budget end it with the verdicts found so far, marked
incomplete.
"""

from __future__ import annotations

import fnmatch
import functools
import platform
import secrets
import shlex
import threading
import time
import zlib
from typing import Any, Callable, Iterable, Sequence

from hypothesis import HealthCheck, Phase, Verbosity, example, given, settings
from hypothesis import seed as hypothesis_seed

from . import compile_cache
from . import examples_db as saved_examples
from .blame import locate
from .cases import CaseGroup, case_groups, steady_constants
from .checks import CASE_TIMEOUT, checks_for, finding_rank, run_checks
from .errors import UsageError
from .explain import explain
from .plugin import Implementation, Plugin, discover
from .result import Run, Verdict
from .sanitize import safe_str

__all__ = ["check", "judge", "plan", "DEFAULT_EXAMPLES", "DTYPES", "reproduce_command"]

DEFAULT_EXAMPLES = 50
DTYPES = ("float64", "float32")          # the default
HALF_DTYPES = ("float16", "bfloat16")     # asked for by name; only the torch and jax conventions compute in them
HALF_CONVENTIONS = ("torch", "jax")


class OutOfTime(BaseException):
    """The time budget ran out between two cases; a BaseException so the search does not shrink it as a failure."""


class CaseFailed(Exception):
    """Raised inside the hypothesis test so it shrinks; carries the evidence of the case."""

    rank = 2

    def __init__(self, finding, evaluation, case) -> None:
        super().__init__(finding.message)
        self.finding, self.evaluation, self.case = finding, evaluation, case


class ShapeFailed(CaseFailed):
    """A case whose worst finding is a wrong shape (hypothesis shrinks each exception type on its own)."""

    rank = 1


class DtypeFailed(CaseFailed):
    """A case whose worst finding is a wrong dtype: the values were right."""

    rank = 0


_FAILED_BY_RANK = {0: DtypeFailed, 1: ShapeFailed, 2: CaseFailed}


def _find_failure(error: BaseException | None) -> CaseFailed | None:
    """The most important CaseFailed inside whatever hypothesis raised (a group when it found several
    kinds of failure, each shrunk on its own, or when a failure is flaky); the first of equal rank."""
    found: list[CaseFailed] = []
    seen = set()

    def walk(error: BaseException | None) -> None:
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            if isinstance(error, CaseFailed):
                found.append(error)
                return
            for inner in getattr(error, "exceptions", ()) or ():
                walk(inner)
            error = error.__cause__ or error.__context__

    walk(error)
    return max(found, key=lambda failure: failure.rank) if found else None


def case_key(case) -> tuple:
    """A case's identity: its structure and seed (its arrays follow from them)."""
    return (case.dtype, tuple(sorted(case.dims.items())), tuple(case.batch), repr(sorted(case.hyper.items())), case.seed)


def derived_seed(seed: int, impl: Implementation, dtype: str) -> int:
    """One hypothesis seed per op, stable across runs and --op filters.

    Every implementation of an op, in every dtype, is searched from the same seed: until a
    failure steers a search elsewhere they are judged on the same shapes (a float32 case is the
    float64 one rounded), so the reference compiles once for all of them.
    """
    return zlib.crc32(f"{seed}:{impl.op}".encode())


class _Judging(threading.local):
    """What judges a case, for the search running in this thread (the innermost judge())."""

    def __init__(self) -> None:
        self.stack: list[Callable[[Any], None]] = []


_judging = _Judging()


def _search(spec: Any, dtype: str, examples: int, seed: int, key: str) -> Callable[[], None]:
    """The hypothesis test that searches one spec's cases in one dtype: one value draw per structure,
    several for the smallest ones, where shrinking ends (cases.py). It judges each case with the
    judge() running in its thread."""

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False, print_blob=False,
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet, report_multiple_bugs=True,
              phases=(Phase.explicit, Phase.generate, Phase.shrink))
    @hypothesis_seed(seed)
    @given(case_groups(spec, dtype))
    def search(group):
        judge_case = _judging.stack[-1]
        for case in group.cases():
            judge_case(case)

    # Without a key hypothesis digests the test's source on every run (a few ms); with
    # database=None the key is never used for anything else.
    search._hypothesis_internal_database_key = key.encode()
    return search


class _Same:
    """An object compared by identity, as a cache key (a spec's own equality compares every field)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.value is self.value


@functools.lru_cache(maxsize=256)
def _kept_search(spec: _Same, dtype: str, examples: int, seed: int, key: str, thread: int) -> Callable[[], None]:
    """_search(), defined once per (spec, dtype, cases, seed, implementation's name) and thread, and kept for
    every judge() of it, such as each assert_gradients call of a test suite on the same code: defining a
    hypothesis test costs about half a millisecond. The search holds the spec, so its id stays its own."""
    return _search(spec.value, dtype, examples, seed, key)


def reproduce_command(impl: Implementation, dtype: str, seed: int, examples: int) -> str:
    where = impl.target
    if where:
        return (f"oracle check {shlex.quote(where)} --op {shlex.quote(impl.label)} --dtype {dtype} "
                f"--seed {seed} --examples {examples}")
    return (f"oracle.check([{impl.plugin!r} plugin], ops=[{impl.label!r}], dtypes=[{dtype!r}], "
            f"seed={seed}, examples={examples})")


def judge(impl: Implementation, dtype: str, examples: int = DEFAULT_EXAMPLES, seed: int = 0,
          timeout: float = CASE_TIMEOUT, on_case: Callable[[Any], None] | None = None,
          deadline: float | None = None, cache: bool = True, examples_from: Sequence[str] = (),
          examples_db: str | None = None) -> Verdict:
    """Search for a case where the implementation is wrong; the verdict, with the shrunk case if one is found.

    on_case(case) is called before each case is judged and before the failing case is explained:
    a worker reports it to its supervisor, which then knows which case hung or ended the process.
    deadline (a time.perf_counter() value) is checked before each case: OutOfTime once it has passed.
    Cases saved by earlier runs are tried before any new one: the pinned cases of the files
    `examples_from`, then the last failure kept in the folder `examples_db` (oracle.examples_db),
    which also keeps this verdict's failing case, or forgets it once the verdict passes.
    cache: keep compiled reference programs on disk between runs (oracle.compile_cache).
    """
    started = time.perf_counter()
    compile_cache.configure(cache)   # before anything compiles, in this process or a worker
    base = dict(plugin=impl.plugin, op=impl.op, dtype=dtype, implementation=impl.label, convention=impl.convention,
                seed=seed, source=impl.source, target=impl.target, checks=checks_for(impl))
    if impl.dtypes is not None and dtype not in impl.dtypes:
        return Verdict(status="skipped", message=f"declared for {', '.join(impl.dtypes)} only", **base)
    if dtype in HALF_DTYPES and impl.convention not in HALF_CONVENTIONS:
        return Verdict(status="skipped", message=f"{dtype} is a dtype of the torch and jax conventions only; "
                                                 f"NumPy code ({impl.convention}) does not compute in it", **base)

    evaluated = 0
    warnings: set[str] = set()
    inconclusive: set[tuple] = set()   # distinct cases the dtype could not judge (replays count once)

    def judge_case(case):
        nonlocal evaluated
        if deadline is not None and time.perf_counter() > deadline:
            raise OutOfTime()
        evaluated += 1
        if on_case is not None:
            on_case(case)
        finding, evaluation = run_checks(impl, case, timeout)
        if evaluation is not None:
            warnings.update(evaluation.warnings)
        if finding is not None:
            # One exception type per rank: hypothesis shrinks each kind of failure on its own, and
            # the verdict takes the most important (wrong values over a wrong shape over a wrong dtype).
            raise _FAILED_BY_RANK[finding_rank(finding)](finding, evaluation, case)
        if evaluation is not None and evaluation.inconclusive:
            inconclusive.add(case_key(case))

    searched = (dtype, examples, derived_seed(seed, impl, dtype), f"{impl.plugin}:{impl.label}:{dtype}")
    saved = list(saved_examples.replay(impl, dtype, examples_from, examples_db))
    search = (_search(impl.spec, *searched) if saved
              else _kept_search(_Same(impl.spec), *searched, threading.get_ident()))
    for case in saved:   # on a search of its own: a kept one would keep them for later judge() calls
        search = example(CaseGroup(case))(search)

    reproduce = reproduce_command(impl, dtype, seed, examples)
    _judging.stack.append(judge_case)
    try:
        with steady_constants():   # the same seed draws the same cases in any process
            search()
    except Exception as error:  # noqa: BLE001 - anything the search raised becomes evidence
        failure = _find_failure(error)
        if failure is None:
            return Verdict(status="errored", check="oracle", examples=evaluated, reproduce=reproduce,
                           message=f"the search could not run: {type(error).__name__}: {safe_str(error)}",
                           duration=time.perf_counter() - started, **base)
        flaky = failure is not error and "Flaky" in type(error).__name__
        if on_case is not None:
            on_case(failure.case)
        verdict = explain(failure.finding, failure.evaluation, failure.case, base, reproduce, flaky=flaky)
        verdict.examples, verdict.duration = evaluated, time.perf_counter() - started
        verdict.inconclusive = len(inconclusive)
        verdict.hints += [w for w in sorted(warnings) if w not in verdict.hints]
        return _finish(verdict, impl, examples_db)
    finally:
        _judging.stack.pop()
    unsure = (f" ({len(inconclusive)} inconclusive: rounding in {dtype} there is as large as the gradient)"
              if inconclusive else "")
    return _finish(Verdict(status="passed", examples=evaluated, reproduce=reproduce, inconclusive=len(inconclusive),
                           message=f"{evaluated} cases, every check passed{unsure}" + "".join(f"; {w}" for w in sorted(warnings)),
                           hints=sorted(warnings), duration=time.perf_counter() - started, **base), impl, examples_db)


def _finish(verdict: Verdict, impl: Implementation, examples_db: str | None) -> Verdict:
    """Name the function the failure points at, and keep (or forget) the failing case for the next run."""
    if verdict.status in ("failed", "errored"):
        where = locate(impl.code, impl.convention, verdict.check, verdict.argument)
        if where is not None:
            verdict.source_function, verdict.source_file = where.function, where.file
            verdict.source_line, verdict.source_text = where.line, where.text
    saved_examples.remember(verdict, examples_db)
    return verdict


# --------------------------------------------------------------------------- planning

def _plugins(targets: Iterable[Any]) -> list[Plugin]:
    if isinstance(targets, (str, Plugin)):
        targets = [targets]
    plugins: list[Plugin] = []
    for target in targets:
        if isinstance(target, Plugin):
            plugins.append(target)
        elif isinstance(target, str):
            plugins.extend(discover(target))
        else:
            raise UsageError(f"a target is a Plugin or a name, module or .py path; got {type(target).__name__}")
    return plugins


def plan(plugins: Sequence[Plugin], ops: Sequence[str] | None, dtypes: Sequence[str],
         option: str = "--op") -> list[tuple[Implementation, str]]:
    """(implementation, dtype) pairs to judge, in plugin and registration order.

    option names the setting the op globs came from, for the error when one matches nothing.
    """
    impls = [impl for plugin in plugins for impl in plugin.implementations]
    if ops:
        for pattern in ops:
            if not any(fnmatch.fnmatchcase(i.label, pattern) or fnmatch.fnmatchcase(i.op, pattern) for i in impls):
                labels = sorted({i.label for i in impls} | {i.op for i in impls})
                folded = [n for n in labels if fnmatch.fnmatch(n.lower(), pattern.lower())]
                if folded:   # --op ReLU: names are matched as written, so say which one was meant
                    raise UsageError(f"{option} {pattern!r} matches no implementation; did you mean {folded[0]!r}? "
                                     "(names are matched case by case)")
                known = ", ".join(sorted({i.label for i in impls})) or "none"
                raise UsageError(f"{option} {pattern!r} matches no implementation (there are: {known})")
        impls = [i for i in impls if any(fnmatch.fnmatchcase(i.label, p) or fnmatch.fnmatchcase(i.op, p) for p in ops)]
    return [(impl, dtype) for impl in impls for dtype in dtypes]


def _validate_dtypes(dtypes: Sequence[str] | None) -> tuple[str, ...]:
    if dtypes is None:
        return DTYPES
    if isinstance(dtypes, str):
        dtypes = [dtypes]
    unknown = [d for d in dtypes if d not in DTYPES + HALF_DTYPES]
    if unknown:
        raise UsageError(f"unknown dtype {unknown[0]!r}; choose from {', '.join(DTYPES + HALF_DTYPES)}")
    return tuple(dict.fromkeys(dtypes))


def versions() -> dict[str, str]:
    return dict(_versions())


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    # Reading package metadata costs about a millisecond; it does not change while a process runs.
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("gradient-oracle", "numpy", "jax", "jaxlib", "hypothesis"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def _notify(listener: Any, event: str, *args: Any) -> None:
    method = getattr(listener, event, None)
    if method is not None:
        method(*args)


def check(targets, ops: Sequence[str] | None = None, dtypes: Sequence[str] | None = None, examples: int | None = None,
          seed: int | None = None, time_budget: float | None = None, listener: Any = None,
          timeout: float = CASE_TIMEOUT, workers: int | str | None = None, shard: str | None = None,
          journal: str | None = None, memory_limit: int | None = None, executor: str | None = None,
          scheduler: str | None = None, keep_pool: bool = True, **judge_settings: Any) -> Run:
    """Judge every implementation of the targets in every dtype; the Run, complete or marked incomplete.

    Implementations are imported and judged in worker processes (oracle.execution): `workers`
    None or "auto" uses the cores available, N uses N, 0 judges in this process (for a debugger).
    `shard` "K/N" judges the K-th of N parts of the work; `journal` is a JSON Lines file that
    receives each verdict as it is known. Other keyword settings are passed through to judge().
    """
    if isinstance(ops, str):
        ops = [ops]
    if isinstance(targets, (str, Plugin)):
        targets = [targets]
    examples = DEFAULT_EXAMPLES if examples is None else int(examples)
    if examples < 1:
        raise UsageError(f"examples must be at least 1, got {examples}")
    dtypes = _validate_dtypes(dtypes)
    seed = secrets.randbelow(2**32) if seed is None else int(seed)
    deadline = None if time_budget is None else time.perf_counter() + time_budget
    from .execution.supervisor import execute

    return execute(list(targets), ops, dtypes,
                   dict(examples=examples, seed=seed, timeout=timeout, deadline=deadline, **judge_settings),
                   seed=seed, workers=workers, shard=shard, journal=journal, time_budget=time_budget,
                   listener=listener, memory_limit=memory_limit, executor=executor, scheduler=scheduler,
                   keep_pool=keep_pool, run_settings={"examples": examples, "dtypes": list(dtypes),
                                                      "ops": list(ops or []), "time_budget": time_budget,
                                                      "cache": compile_cache.describe(judge_settings.get("cache", True))})
