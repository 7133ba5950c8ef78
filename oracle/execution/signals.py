"""Signals in the supervisor: SIGTERM ends a run as Ctrl-C does, and neither interrupts the writing of its results."""

from __future__ import annotations

import signal
from typing import Any, Self

__all__ = ["Terminated", "ignore_interrupts", "restore_interrupts", "stop_on_signals"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the supervisor's main thread: the run ends as on Ctrl-C, as 'terminated'."""


def ignore_interrupts() -> Any:
    """Ctrl-C ignored (while the run's results are gathered); what was there before, for restore_interrupts."""
    try:
        return signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:            # not the main thread
        return None


def restore_interrupts(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGINT, previous)


class stop_on_signals:
    """`oracle check`: SIGTERM ends the run as Ctrl-C does; after the first, both are ignored until exit.

    So reports are still written, and a second Ctrl-C while they are cannot print a traceback.
    """

    def __enter__(self) -> Self:
        self.previous = {number: signal.signal(number, self._stop) for number in (signal.SIGINT, signal.SIGTERM)}
        return self

    @staticmethod
    def _stop(number: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # inherited: a Ctrl-C at the terminal reaches workers too
        # SIGTERM is ignored by a handler that does nothing, not by SIG_IGN: an ignored signal stays
        # ignored in a spawned child, and pebble stops a worker that is still starting (one replacing a
        # cancelled job's) with SIGTERM after it has removed the pool's semaphores. A child deaf to that
        # SIGTERM goes on starting, cannot open the semaphores and prints a traceback.
        signal.signal(signal.SIGTERM, _ignore)
        raise Terminated() if number == signal.SIGTERM else KeyboardInterrupt()

    def __exit__(self, *exc: object) -> None:
        pass    # the command ends soon; what was ignored stays ignored


def _ignore(number: int, frame: Any) -> None:
    """A handler that ignores its signal; children still start with the signal's default action."""
