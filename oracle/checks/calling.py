"""Calling user code: exceptions and hangs become ImplementationError with where they arose."""

from __future__ import annotations

import _signal   # getsignal without signal's conversion to enums, which costs more than a small call
import signal
import threading
import traceback
from contextlib import contextmanager
from typing import Any, Callable


from ..plugin import StructureError
from ..sanitize import safe_str

CASE_TIMEOUT = 10.0      # seconds an implementation may take for one call before it counts as hung

# Set in worker processes (oracle.execution.worker), where SIGINT is ignored: a KeyboardInterrupt
# there can only come from the implementation, so it is a finding like any other exception.
IN_WORKER = False

# --------------------------------------------------------------------------- calling user code

class CaseTimeout(BaseException):
    """Raised inside a hung implementation; a BaseException so `except Exception` in user code cannot swallow it."""


class ImplementationError(Exception):
    """The implementation raised (or hung); carries a short account of where."""

    def __init__(self, summary: str, hung: bool = False) -> None:
        super().__init__(summary)
        self.summary, self.hung = summary, hung


_limited = False    # a limit is running: a call made inside a called one (an adapter's) is under it already
_handling = False   # alarms_handled() has installed the handler: a call only arms and disarms the timer


def _on_alarm(signum, frame):
    raise CaseTimeout()


def _can_limit() -> bool:
    return threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")


@contextmanager
def alarms_handled():
    """Within the block, the alarm handler stays installed, so that each call under a time limit only
    arms and disarms the timer: installing a handler costs more than most calls to small code."""
    global _handling
    if _handling or not _can_limit():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    _handling = True
    try:
        yield
    finally:
        _handling = False
        signal.signal(signal.SIGALRM, previous)


def _arm(seconds: float) -> bool:
    """Start the time limit for one call; False when none can run here (or one runs already: a call
    made inside a called one, an adapter's, is under it)."""
    global _limited
    if _limited or seconds <= 0 or not _can_limit():
        return False
    if _signal.getsignal(signal.SIGALRM) is not _on_alarm:   # not installed, or code called earlier put its own there
        signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    _limited = True
    return True


def _disarm() -> None:
    global _limited
    _limited = False
    signal.setitimer(signal.ITIMER_REAL, 0)


def _user_frame(error: BaseException) -> str:
    """'file.py:12 in backward' for the innermost frame outside the oracle, where the error arose."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "/oracle/" not in f.filename.replace("\\", "/")
              or "/plugins/" in f.filename.replace("\\", "/")]
    if not frames:
        return ""
    f = frames[-1]
    return f" at {f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}"


def call(fn: Callable, *args: Any, timeout: float = CASE_TIMEOUT) -> Any:
    """Call user code under the time limit; its exceptions become ImplementationError."""
    # The limit is armed and disarmed inline, not by a context manager: this runs a dozen times a
    # case, around calls that often take microseconds.
    previous = None if _handling or not _can_limit() else _signal.getsignal(signal.SIGALRM)
    armed = False
    try:
        armed = _arm(timeout)
        return fn(*args)
    except CaseTimeout:
        raise ImplementationError(f"did not return within {timeout:g} s (hung?)", hung=True) from None
    except StructureError:
        raise
    except BaseException as error:  # noqa: BLE001 - SystemExit, GeneratorExit... from user code are findings
        if isinstance(error, KeyboardInterrupt) and not IN_WORKER:
            raise                      # in the user's own process it may be the user's Ctrl-C
        raise ImplementationError(f"raised {type(error).__name__}: {safe_str(error)}{_user_frame(error)}") from error
    finally:
        if armed:
            _disarm()
        if previous is not None and previous is not _on_alarm:   # outside alarms_handled(): put back what was there
            signal.signal(signal.SIGALRM, previous)
