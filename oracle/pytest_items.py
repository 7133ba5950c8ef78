"""The pytest plugin's items for `pytest --oracle TARGET` (a test per plugin, implementation and dtype),
and what the session keeps in pytest's stash. Like oracle.pytest_plugin, it imports nothing of the
engine at import time: pytest loads it at every start."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["MARKER", "SESSION", "VERDICTS", "OracleFailure", "OracleItem", "OracleTargets"]

MARKER = "oracle"


@dataclass
class _Session:
    """What the whole session shares: the seed, the settings given, and the verdicts for the report."""

    seed: int
    given: dict[str, Any]             # --oracle-* values; None when not given
    project: dict[str, Any]           # [tool.oracle] of the project, checked
    project_error: str | None         # why [tool.oracle] could not be used; raised where it is needed
    targets: list[str]
    report: str | None
    worker: bool
    started: str = ""
    clock: float = 0.0
    selected: tuple[str, ...] = ()    # node ids of --oracle items given as arguments: only these run


SESSION = pytest.StashKey[_Session]()
VERDICTS = pytest.StashKey[list]()     # verdicts a test or an item produced, for the report


# --------------------------------------------------------------------------- --oracle TARGET: collection

class OracleFailure(Exception):
    """A verdict that did not pass; its report is the oracle's failure message."""

    def __init__(self, verdict: Any) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


class OracleTargets(pytest.Collector):
    """The plugins named by --oracle: a test item per (plugin, implementation, dtype)."""

    def collect(self):
        from .execution.supervisor import discover_targets
        from .run import DTYPES, plan

        state = self.config.stash[SESSION]
        ops = state.given["ops"] or state.project.get("ops") or None
        dtypes = state.given["dtypes"] or state.project.get("dtypes") or DTYPES
        examples = state.given["examples"] or state.project.get("examples")
        items = []
        # The targets are imported in a worker process; items hold plain descriptors of their implementations.
        for impl, dtype in plan(discover_targets(state.targets), ops, dtypes):
            target = impl.target or ""
            path = Path(target).resolve() if target.endswith(".py") else self.path
            item = OracleItem.from_parent(self, name=f"{impl.label}[{dtype}]", path=path,
                                          nodeid=f"{impl.plugin}::{impl.label}[{dtype}]",
                                          impl=impl, dtype=dtype, examples=examples)
            item.extra_keyword_matches.update({impl.plugin, impl.op})
            item.add_marker(MARKER)
            items.append(item)
        return items

    def repr_failure(self, excinfo):
        from .errors import UsageError

        if isinstance(excinfo.value, UsageError):
            return f"oracle: {excinfo.value}"
        return super().repr_failure(excinfo)


class OracleItem(pytest.Item):
    """One (plugin, implementation, dtype): passes, fails with the oracle's message, or is skipped."""

    def __init__(self, *, impl: Any, dtype: str, examples: int | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.impl, self.dtype, self.examples = impl, dtype, examples

    def runtest(self) -> None:
        from .execution.supervisor import judge_in_worker
        from .run import DEFAULT_EXAMPLES

        # In a worker: an implementation that ends its process fails this item, never the session.
        state = self.config.stash[SESSION]
        verdict = judge_in_worker(self.impl, self.dtype, {"examples": self.examples or DEFAULT_EXAMPLES,
                                                          "seed": state.seed,
                                                          "examples_from": list(state.project.get("examples_from", ()))})
        verdict.reproduce = self.reproduce()
        self.stash.setdefault(VERDICTS, []).append(verdict)
        if verdict.status == "skipped":
            pytest.skip(verdict.message)
        if verdict.status in ("failed", "errored"):
            raise OracleFailure(verdict)

    def reproduce(self) -> str:
        """The pytest command that runs this item again, with the session's seed."""
        import shlex

        state = self.config.stash[SESSION]
        words = ["pytest", "--oracle", self.impl.target or self.impl.plugin, self.nodeid, "--oracle-seed", str(state.seed)]
        if self.examples:
            words += ["--oracle-examples", str(self.examples)]
        return shlex.join(words)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, OracleFailure):
            from .message import format_failure

            return format_failure(excinfo.value.verdict)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, self.nodeid
