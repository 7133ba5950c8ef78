"""Which job an idle worker process takes next: an op it has judged before, so its compiled programs are reused.

Both dtypes of an op share its compiled reference programs (one program per op and static
hyper-parameters); handing an op's other dtype to the process that judged the first, rather than to a
second process that would trace and load the same programs again, is most of what makes two
workers nearly twice as fast as one. The choice never changes a verdict: each search is seeded
from the run seed and its own identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .worker import Job

__all__ = ["Slots", "next_job"]


@dataclass
class Slots:
    """Executors, how many jobs each may run at once, and the op each of its freed processes judged last.

    An executor never runs more jobs than it has processes, so a job submitted when one finished is
    taken by the process that finished it, the only idle one (a pebble pool's processes take jobs
    from one queue). `freed` says which op that process has judged: its reference programs are
    compiled and loaded there.
    """

    executors: list[Any]
    busy: dict[int, int] = field(default_factory=dict)
    freed: dict[int, list[str | None]] = field(default_factory=dict)

    def free(self) -> Any | None:
        for executor in self.executors:
            if self.busy.get(id(executor), 0) < max(1, executor.workers):
                return executor
        return None

    def take(self, executor: Any) -> str | None:
        """Count a job on the executor; the op its idle process judged last, if known."""
        self.busy[id(executor)] = self.busy.get(id(executor), 0) + 1
        freed = self.freed.get(id(executor))
        return freed.pop() if freed else None

    def give(self, executor: Any, op: str | None) -> None:
        """A job ended; op is what its process judged (None: the process was replaced, it holds nothing)."""
        self.busy[id(executor)] -= 1
        self.freed.setdefault(id(executor), []).append(op)


def next_job(pending: list[Job], last_op: str | None, running_ops: set[str]) -> Job:
    """The job an idle process takes: the op it judged last, else an op no other process is on, else the next.

    `pending` is in reverse plan order, so ties go to the plan's order (and -n 0 and -n 1 keep it).
    """
    for wanted in (lambda job: job.info.op == last_op, lambda job: job.info.op not in running_ops):
        for index in range(len(pending) - 1, -1, -1):
            if wanted(pending[index]):
                return pending.pop(index)
    return pending.pop()
