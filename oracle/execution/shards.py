"""Shards: a CI matrix judges `--shard K/N` on each machine; `oracle report --merge` joins the parts.

A shard judges every N-th (implementation, dtype) of the plan, starting at the K-th, so the
parts are disjoint, together are the whole plan, and each verdict is the one an unsharded run
gives (every verdict's search is seeded from the run seed and its own identity).
"""

from __future__ import annotations

from ..errors import UsageError
from ..result import Run

__all__ = ["merge"]


def _shard(run: Run, name: str) -> tuple[int, int]:
    text = run.settings.get("shard")
    if not text:
        raise UsageError(f"{name} is not a shard (it was not run with --shard K/N)")
    k, n = (int(part) for part in str(text).split("/"))
    return k, n


def merge(runs: list[Run], names: list[str]) -> Run:
    """One run from the shards of one: same seed and settings, each part once; incomplete when a part is missing."""
    if len(runs) < 2:
        raise UsageError("--merge needs the runs of at least two shards")
    parts = [_shard(run, name) for run, name in zip(runs, names)]
    first, first_name = runs[0], names[0]
    common = {k: v for k, v in first.settings.items() if k != "shard"}
    for run, name, (k, n) in zip(runs, names, parts):
        if run.seed != first.seed:
            raise UsageError(f"cannot merge {name} (seed {run.seed}) with {first_name} (seed {first.seed}): "
                             "shards of one run share its seed")
        settings = {key: value for key, value in run.settings.items() if key != "shard"}
        if settings != common:
            differ = sorted(key for key in set(settings) | set(common) if settings.get(key) != common.get(key))
            raise UsageError(f"cannot merge {name} with {first_name}: their settings differ ({', '.join(differ)})")
        if n != parts[0][1]:
            raise UsageError(f"cannot merge {name} (shard {k}/{n}) with {first_name} (shard {parts[0][0]}/{parts[0][1]})")
    seen: dict[int, str] = {}
    for name, (k, n) in zip(names, parts):
        if k in seen:
            raise UsageError(f"{name} and {seen[k]} are the same shard {k}/{n}")
        seen[k] = name
    total = parts[0][1]
    absent = [f"{k}/{total}" for k in range(1, total + 1) if k not in seen]
    # Shard k holds plan positions k-1, k-1+n, ...: interleaving the parts restores the plan's order.
    placed = sorted(((i * total + k - 1, verdict) for run, (k, _) in zip(runs, parts)
                     for i, verdict in enumerate(run.verdicts)), key=lambda pair: pair[0])
    stopped = next((run.stopped_because for run in runs if run.stopped_because), None)
    if absent:
        stopped = f"shard{'s' if len(absent) > 1 else ''} {', '.join(absent)} not merged"
    return Run(seed=first.seed, verdicts=[verdict for _, verdict in placed],
               targets=list(dict.fromkeys(t for run in runs for t in run.targets)), settings=common,
               versions=first.versions, started=min(run.started for run in runs),
               duration=max(run.duration for run in runs), incomplete=bool(absent) or any(r.incomplete for r in runs),
               stopped_because=stopped, missing=[vid for run in runs for vid in run.missing])
