"""Imported by the fork server alone, as the first of its preloaded modules (execution.forkserver).

Workers are forked from the fork server and each ends when its parent ends (worker._die_with_parent),
so they end with the supervisor only if the fork server does. Each worker also holds the pipe whose
closing tells the fork server that every client is gone, so the fork server would outlive a killed
supervisor as long as its workers live. The kernel ends it instead (PR_SET_PDEATHSIG), however the
supervisor ends, even while a worker hangs in C code with the GIL held.

It also ignores Ctrl-C (SIGINT), which the fork server hands on to every worker it forks (the
standard library restores, in each child, the handlers the fork server had after its preloads):
a terminal's Ctrl-C is the supervisor's to handle, even in a worker that has just started.
"""

from __future__ import annotations

import os
import signal

from .worker import killed_with_parent


def _end_with_starter() -> None:
    starter = os.getppid()
    if not killed_with_parent():
        return
    if os.getppid() != starter:   # the supervisor ended before the request took effect
        os._exit(70)


_end_with_starter()
signal.signal(signal.SIGINT, signal.SIG_IGN)
