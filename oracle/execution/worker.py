"""What runs inside a worker process: import the target, judge one job, report the case being judged.

Only this module (and the engine it calls) ever imports or calls user code. The supervisor
sends plain data in (a Job) and gets plain data back (descriptors, a Verdict); a plugin given
as an object travels as cloudpickle bytes.

Before each case the worker writes the case to the job's heartbeat file, so that when the
implementation never returns (or ends the process) the supervisor knows which case it was.
What the implementation prints goes, at the file-descriptor level, to the job's output file,
so C-level writes and a closed sys.stdout are caught too, and the terminal stays clean.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
import traceback
import zlib
from dataclasses import dataclass, field
from typing import Any

from . import allocator, dispatch

__all__ = ["ImplInfo", "ImplRef", "Job", "describe", "describe_all", "discover_job", "initialize", "judge_job",
           "killed_with_parent", "resolve"]


@dataclass(frozen=True)
class ImplRef:
    """How a worker finds an implementation: by target (discovered again) or by value (cloudpickle bytes)."""

    plugin: str
    label: str
    target: str | None = None
    pickled: bytes | None = field(default=None, repr=False)
    key: str = ""                      # digest of `pickled`: a worker unpickles each plugin once
    nth: int = 0                       # of the plugins of this name its target defines (two Plugin("mine") in one module)


@dataclass(frozen=True)
class ImplInfo:
    """What the supervisor knows of an implementation: plain data, enough to plan and to report."""

    plugin: str
    label: str
    op: str
    convention: str
    dtypes: tuple[str, ...] | None
    source: str
    target: str | None
    ref: ImplRef = field(repr=False, compare=False)


@dataclass(frozen=True)
class PluginInfo:
    name: str
    target: str | None
    implementations: list[ImplInfo]


@dataclass(frozen=True)
class Job:
    """One (implementation, dtype) to judge, with the judge's keyword settings passed through as they are."""

    index: int
    info: ImplInfo
    dtype: str
    settings: dict[str, Any]
    heartbeat: str | None = None       # file the worker writes the current case to
    output: str | None = None          # file that receives the worker's fd 1 and 2 during the job
    cwd: str = ""                      # the supervisor's folder and import path when the job was made
    path: tuple[str, ...] = ()
    conventions: tuple | None = None   # the supervisor's assignment conventions, where Python code changed them


def describe(plugin: Any, ref_for=None, nth: int = 0) -> PluginInfo:
    """Plain descriptors of a Plugin's implementations; ref_for(impl) says how a worker finds each again."""
    infos = []
    for impl in plugin.implementations:
        ref = ref_for(impl) if ref_for else ImplRef(impl.plugin, impl.label, impl.target, nth=nth)
        infos.append(ImplInfo(impl.plugin, impl.label, impl.op, impl.convention, impl.dtypes, impl.source,
                              impl.target, ref))
    return PluginInfo(plugin.name, plugin.target, infos)


def pickle_plugin(plugin: Any) -> tuple[bytes, str]:
    """A plugin object by value: its lambdas, closures and notebook classes travel with it."""
    import cloudpickle

    from ..plugin import _FILE_MODULE_PREFIX

    # A module imported from a .py path exists in this process only: send its functions by value.
    for impl in plugin.implementations:
        for code in impl.code if isinstance(impl.code, tuple) else (impl.code,):
            module = sys.modules.get(getattr(code, "__module__", "") or "")
            if module is not None and module.__name__.startswith(_FILE_MODULE_PREFIX):
                cloudpickle.register_pickle_by_value(module)
    data = cloudpickle.dumps(plugin)
    return data, hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- the worker process

_START = {"cwd": "", "path": []}
_plugins_by_value: dict[str, Any] = {}
_plugins_by_target: dict[str, list] = {}


def initialize(path: list[str], cwd: str, environ: dict[str, str] | None = None) -> None:
    """Run once in each new worker: the supervisor's import path, folder and environment (a worker forked
    from the fork server has the fork server's); the engine loaded before any job."""
    if environ is not None and environ != os.environ:
        os.environ.clear()
        os.environ.update(environ)
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # the user's Ctrl-C is the supervisor's to handle
    # Between jobs nothing a worker prints may reach the terminal (a worker stopped while it imports
    # JAX, say); during a job fds 1 and 2 go to the job's output file.
    quiet = os.open(os.devnull, os.O_WRONLY)
    for target in (1, 2):
        os.dup2(quiet, target)
    os.close(quiet)
    try:
        os.setsid()    # no controlling terminal: an implementation cannot open /dev/tty and write over the progress
    except OSError:
        pass
    _die_with_parent()
    allocator.keep_large_blocks()
    dispatch.run_in_calling_thread()
    sys.path[:] = [p for p in path if p] + [p for p in sys.path if p not in path]
    _START.update(cwd=cwd, path=list(sys.path))
    os.chdir(cwd)
    from ..checks import calling

    calling.IN_WORKER = True
    import oracle.run  # noqa: F401 - the engine loads once per worker, not per job (JAX's backend at its first job)


def killed_with_parent() -> bool:
    """Ask the kernel to kill this process when its parent ends (Linux's PR_SET_PDEATHSIG); False where it cannot."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        return False
    return True


def _die_with_parent() -> None:
    """A worker whose parent ended ends too, even in the middle of a job that never returns. Its parent is the
    supervisor, or the fork server, which ends with the supervisor (execution.lifeline)."""
    parent = os.getppid()
    killed_with_parent()

    def watch() -> None:
        import time

        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(70)

    threading.Thread(target=watch, daemon=True, name="oracle-parent-watch").start()


def _fresh_state(job: Job) -> None:
    """Undo what an earlier job's implementation may have changed in this process; the supervisor's folder and path."""
    try:
        os.chdir(job.cwd or _START["cwd"])
    except OSError:
        pass
    if job.path:
        sys.path[:] = list(job.path) + [p for p in _START["path"] if p not in job.path]
    from ..conventions import assignment_table

    if assignment_table.use(job.conventions):
        _plugins_by_target.clear()     # found under another table
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():   # not in dask's threads
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
    if job.output:
        # os.open takes the lowest free descriptor, which is 1 or 2 if the implementation closed them.
        fd = os.open(job.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for target in (1, 2):
            if fd != target:
                os.dup2(fd, target)
        if fd > 2:
            os.close(fd)
    for name, number in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name, None)
        if stream is None or stream.closed or getattr(stream, "fileno", None) is None:
            setattr(sys, name, os.fdopen(os.dup(number), "w", buffering=1, encoding="utf-8",
                                         errors="backslashreplace"))


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


class Heartbeat:
    """Writes {pid, phase, case} over the job's heartbeat file; the supervisor times each case from its mtime.

    Each record is one pwrite at offset 0 of a file kept open for the job: creating and renaming a
    file per case cost a few hundred microseconds, more than a cheap case's own work. The record
    starts with its checksum and length (see `watch.read_heartbeat`), so a record read while it is
    being written is told from a whole one.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.fd: int | None = None
        self.identity: tuple[int, int] | None = None
        self.size = 0                  # bytes written so far: a shorter record is padded over a longer one

    def __call__(self, phase: str, case: Any = None) -> None:
        if not self.path:
            return
        from ..result import jsonable

        record = None
        if case is not None:   # a CaseRecord without the arrays: dims, hyper-parameters and seed rebuild them
            record = {"dims": dict(case.dims), "batch": list(case.batch), "hyper": jsonable(dict(case.hyper)),
                      "dtype": case.dtype, "seed": int(case.seed),
                      "shapes": {name: list(array.shape) for name, array in case.inputs.items()}}
        text = json.dumps({"pid": os.getpid(), "phase": phase, "case": record}, allow_nan=False).encode()
        data = b"%08x %d %s" % (zlib.crc32(text), len(text), text)
        self.size = max(self.size, len(data))
        os.pwrite(self._descriptor(), data.ljust(self.size), 0)

    def _descriptor(self) -> int:
        """The open heartbeat file; opened again if the implementation closed its descriptor or reused the number."""
        if not self._ours():
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            stat = os.fstat(self.fd)
            self.identity = (stat.st_dev, stat.st_ino)
        return self.fd

    def _ours(self) -> bool:
        if self.fd is None:
            return False
        try:
            stat = os.fstat(self.fd)
        except OSError:
            return False
        return (stat.st_dev, stat.st_ino) == self.identity

    def case(self, case: Any) -> None:
        self("case", case)

    def close(self) -> None:
        if self._ours():
            os.close(self.fd)
        self.fd = None


def resolve(ref: ImplRef) -> Any:
    """The Implementation a reference names, imported or unpickled in this process."""
    if ref.pickled is not None:
        plugin = _plugins_by_value.get(ref.key)
        if plugin is None:
            import cloudpickle

            plugin = _plugins_by_value[ref.key] = cloudpickle.loads(ref.pickled)
        plugins = [plugin]
    else:
        key = f"{os.getcwd()}\0{ref.target}"     # a relative .py path means another file in another folder
        plugins = _plugins_by_target.get(key)
        if plugins is None:
            from ..plugin import discover

            plugins = _plugins_by_target[key] = discover(ref.target)
    for plugin in [p for p in plugins if p.name == ref.plugin][ref.nth:ref.nth + 1]:
        for impl in plugin.implementations:
            if impl.plugin == ref.plugin and impl.label == ref.label:
                return impl
    raise LookupError(f"{ref.target or 'the plugin'} no longer has {ref.plugin}/{ref.label}")


def discover_job(target: str, heartbeat: str | None = None, output: str | None = None, cwd: str = "",
                 path: tuple[str, ...] = (), conventions: tuple | None = None) -> list[PluginInfo]:
    """Import a target here, in the worker; plain descriptors of what it registers."""
    from ..errors import TargetError

    _fresh_state(Job(-1, None, "", {}, heartbeat, output, cwd, path, conventions))   # type: ignore[arg-type]
    beat = Heartbeat(heartbeat)
    beat("loading")
    try:
        plugins = _plugins_by_target[f"{os.getcwd()}\0{target}"] = _discover(target)
    except TargetError:
        raise
    except BaseException as error:  # noqa: BLE001 - sys.exit, KeyboardInterrupt... at import: the target's fault
        raise TargetError(f"loading {target!r} failed: {_raised(error)}") from None
    finally:
        beat.close()
        _flush()
    return describe_all(plugins)


def describe_all(plugins: list) -> list[PluginInfo]:
    """Descriptors of a target's plugins; two of one name from one file or module are told apart by their order
    (ImplRef.nth); a folder's files each have their own target, found again alone."""
    seen: dict[tuple[str, str | None], int] = {}
    infos = []
    for plugin in plugins:
        key = (plugin.name, plugin.target)
        seen[key] = seen.get(key, -1) + 1
        infos.append(describe(plugin, nth=seen[key]))
    return infos


def _discover(target: str) -> list:
    from ..plugin import discover

    return discover(target)


def _raised(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"it called sys.exit({error.code!r})"
    text = str(error)
    return f"it raised {type(error).__name__}" + (f": {text}" if text else "")


def judge_job(job: Job) -> Any:
    """Judge one (implementation, dtype); whatever the implementation raises is its verdict, never a crash.

    None when the run's time budget ran out in the middle of it.
    """
    from ..result import Verdict
    from ..run import OutOfTime, judge, reproduce_command

    _fresh_state(job)
    beat = Heartbeat(job.heartbeat)
    beat("loading")
    try:
        from .naming import named

        # Found by its plain name; judged under the run's (assignment2/cs231n.layers when two targets share one).
        impl = named(resolve(job.info.ref), job.info.plugin)
        verdict = judge(impl, job.dtype, on_case=beat.case, **job.settings)
    except OutOfTime:
        return None                    # the run's time budget ended this verdict: not judged
    except BaseException as error:  # noqa: BLE001 - a BaseException from user code is a finding
        info = job.info
        frames = traceback.extract_tb(error.__traceback__)
        where = f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
        verdict = Verdict(
            plugin=info.plugin, op=info.op, dtype=job.dtype, status="errored", implementation=info.label,
            convention=info.convention, check="call", seed=job.settings.get("seed"), source=info.source,
            target=info.target, message=f"the implementation {_raised(error)}{where}, outside any check",
            reproduce=reproduce_command(info, job.dtype, job.settings.get("seed", 0), job.settings.get("examples", 0)),
            facts={"fault": "raised", "exception": type(error).__name__})
    finally:
        beat.close()
        _flush()
    return verdict
