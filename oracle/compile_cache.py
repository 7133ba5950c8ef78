"""The persistent compilation cache: compiled reference programs kept on disk between runs.

JAX compiles one program per op and shape, and compiling costs far more than running. With the
cache on, a program is compiled once per machine (per jaxlib and program) and read back by every
later run and every worker process.

- Where: `JAX_COMPILATION_CACHE_DIR` when it is set, else `jax` in the user's cache folder
  (platformdirs: ~/.cache/gradient-oracle/jax on Linux).
- Bounded: past MAX_BYTES the least recently used programs are deleted (checked when a process
  starts using the cache, unless another did in the last PRUNE_INTERVAL, and again after every
  MAX_BYTES / 8 it writes).
- Safe under concurrent writers: an entry is written to a temporary file and renamed into place,
  so a reader sees a whole entry or none; an entry deleted under a reader is a miss.
- Off with `--no-cache` or `[tool.oracle] cache = false`.

The entries are JAX's own (`<key>-cache` files). JAX's bounded cache would take a file lock and
list the whole folder on every write (55 ms per write at a thousand entries, more than most of
our programs take to compile), so the oracle hands JAX the store below; where a JAX version lacks
the hook it uses, JAX's own bounded cache is used instead.

`configure(enabled)` is the one place a process sets this up. `judge` calls it before anything
is compiled, so the in-process path and every worker process are configured the same way.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENV", "MAX_BYTES", "CacheInfo", "active", "bypassed", "clear", "configure", "describe", "ensure", "info", "location", "prune",
           "store"]

ENV = "JAX_COMPILATION_CACHE_DIR"
MAX_BYTES = 512 * 2**20
_ENTRY_SUFFIX = "-cache"     # JAX's names: <key>-cache holds a program (<key>-atime its last use, in JAX's own store)
_ATIME_SUFFIX = "-atime"
_STALE_TEMPORARY = 3600.0    # seconds after which a temporary file is a leftover of a killed writer
_PRUNED = ".pruned"          # its modification time: when a process last pruned at start
PRUNE_INTERVAL = 600.0       # seconds

_configured: tuple[bool, str | None] | None = None   # (enabled, folder) as set in this process


def location() -> Path:
    """The cache folder: JAX_COMPILATION_CACHE_DIR when set, else the user's cache folder."""
    given = os.environ.get(ENV, "").strip()
    if given:
        return Path(given).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("gradient-oracle") / "jax"


# Set by bypassed(): this thread's reads miss, so what it compiles is compiled, not read back.
_bypass = threading.local()


@contextlib.contextmanager
def bypassed() -> Iterator[None]:
    """Within the block, this thread neither reads nor writes the store.

    JAX decides once per process whether its persistent cache is in use, so switching the cache off
    for one compile through JAX's settings has no effect; a miss in the store JAX reads does."""
    before = getattr(_bypass, "on", False)
    _bypass.on = True
    try:
        yield
    finally:
        _bypass.on = before


class _AtomicFiles:
    """JAX's cache interface (get/put of bytes by key) over one folder, written by rename."""

    def __init__(self, folder: Path) -> None:
        self._path = folder
        self._written = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        if getattr(_bypass, "on", False):
            return None
        path = self._path / f"{key}{_ENTRY_SUFFIX}"
        try:
            data = path.read_bytes()
            os.utime(path)        # its last use, for pruning
        except OSError:           # absent, or deleted by another process's pruning meanwhile
            return None
        return data

    def put(self, key: str, value: bytes, replace: bool = False) -> None:
        """Write an entry; one already there is kept unless replace (an entry found not to work)."""
        if getattr(_bypass, "on", False):
            return    # JAX writing what the oracle compiled for its own store: kept once, there
        path = self._path / f"{key}{_ENTRY_SUFFIX}"
        if path.exists() and not replace:
            return
        temporary = self._path / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            temporary.write_bytes(value)
            os.replace(temporary, path)
        except OSError:           # a full or read-only disk costs a compile next time, nothing more
            temporary.unlink(missing_ok=True)
            return
        with self._lock:
            self._written += len(value)
            due = self._written > MAX_BYTES // 8
            if due:
                self._written = 0
        if due:
            prune(self._path)


def _install(folder: Path) -> bool:
    """Hand JAX the atomic store; False where this JAX has no such hook (its own bounded cache is used)."""
    try:
        from jax._src import compilation_cache as jax_cache
    except ImportError:
        return False
    if not all(hasattr(jax_cache, name) for name in ("_cache", "_cache_initialized", "_cache_initialized_mutex")):
        return False
    with jax_cache._cache_initialized_mutex:
        jax_cache._cache = _AtomicFiles(folder)
        jax_cache._cache_initialized = True
    return True


def configure(enabled: bool = True) -> str | None:
    """Turn the persistent cache on (at location()) or off for this process; the folder, or None when off.

    Cheap when nothing changes, so it is called before every judged (implementation, dtype).
    """
    global _configured
    folder = str(location()) if enabled else None
    if _configured == (enabled, folder):
        return folder
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    compilation_cache.reset_cache()   # JAX opens its cache once; a new setting needs a new one
    if enabled:
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            if _prune_due(Path(folder)):
                prune(Path(folder))
        except OSError:   # a folder that cannot be made or read: run without the cache rather than not at all
            return configure(False)
        jax.config.update("jax_enable_compilation_cache", True)
        jax.config.update("jax_compilation_cache_dir", folder)
        # A reference program compiles in milliseconds and is small: cache every one.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
        if not _install(Path(folder)):
            # JAX's own store: bounded, and locked around every read and write.
            jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    else:
        jax.config.update("jax_enable_compilation_cache", False)
    _configured = (enabled, folder)
    return folder


_stores: dict[str, _AtomicFiles] = {}


def store() -> _AtomicFiles | None:
    """The active folder as a store of named entries (oracle.executables keeps its programs there), or None when off."""
    folder = active()
    if folder is None:
        return None
    if folder not in _stores:
        _stores[folder] = _AtomicFiles(Path(folder))
    return _stores[folder]


def _prune_due(folder: Path) -> bool:
    """Whether this process should prune at start: not when another did within PRUNE_INTERVAL.

    Listing a folder of tens of thousands of entries costs most of a second, and every worker of
    every run starts by configuring the cache; a run's own writes still prune when they add up."""
    stamp = folder / _PRUNED
    try:
        if time.time() - stamp.stat().st_mtime < PRUNE_INTERVAL:
            return False
    except FileNotFoundError:
        pass
    stamp.touch()
    return True


def active() -> str | None:
    """The folder this process caches in, or None (off, or not configured yet)."""
    return _configured[1] if _configured else None


def ensure() -> None:
    """Configure with the default (on) unless this process is configured already, on or off."""
    if _configured is None:
        configure()


def describe(enabled: bool = True) -> str:
    """The cache as a run's settings name it: its folder, or 'off'."""
    return str(location()) if enabled else "off"


def _entries(folder: Path) -> list[tuple[float, int, Path]]:
    """(last use, size, path) of every cached program."""
    found = []
    try:
        with os.scandir(folder) as listing:
            for entry in listing:
                if entry.name.endswith(_ENTRY_SUFFIX):
                    try:
                        stat = entry.stat()
                    except FileNotFoundError:   # deleted by another process meanwhile
                        continue
                    found.append((stat.st_mtime, stat.st_size, Path(entry.path)))
    except FileNotFoundError:
        pass
    return found


def _remove(entry: Path) -> None:
    entry.unlink(missing_ok=True)
    entry.with_name(entry.name[: -len(_ENTRY_SUFFIX)] + _ATIME_SUFFIX).unlink(missing_ok=True)


def prune(folder: Path, limit: int = MAX_BYTES) -> int:
    """Delete the least recently used programs until the cache holds at most 3/4 of `limit`; how many went."""
    entries = _entries(folder)
    total = sum(size for _, size, _ in entries)
    removed = 0
    if total > limit:
        for _, size, path in sorted(entries):
            if total <= limit * 3 // 4:
                break
            _remove(path)
            total -= size
            removed += 1
    now = time.time()
    for leftover in folder.glob(".*.tmp"):
        try:
            if now - leftover.stat().st_mtime > _STALE_TEMPORARY:
                leftover.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
    return removed


@dataclass(frozen=True)
class CacheInfo:
    path: Path
    entries: int
    bytes: int
    limit: int = MAX_BYTES

    def __str__(self) -> str:
        return (f"{self.path}: {self.entries} compiled program{'' if self.entries == 1 else 's'}, "
                f"{_size(self.bytes)} of at most {_size(self.limit)}")


def info(folder: Path | None = None) -> CacheInfo:
    """How many programs the cache holds and how much room they take."""
    folder = location() if folder is None else folder
    entries = _entries(folder)
    return CacheInfo(folder, len(entries), sum(size for _, size, _ in entries))


def clear(folder: Path | None = None) -> CacheInfo:
    """Delete every cached program; what was removed. A running process only misses them (and compiles again)."""
    folder = location() if folder is None else folder
    removed = info(folder)
    for _, _, path in _entries(folder):
        _remove(path)
    return removed


def _size(count: float) -> str:
    if count < 1024:
        return f"{count:.0f} bytes"
    for unit in ("KB", "MB", "GB"):
        count /= 1024
        if count < 1024 or unit == "GB":
            return f"{count:.1f} {unit}"
    return f"{count:.1f} GB"
