"""The persistent compilation cache: compiled reference programs kept on disk between runs.

JAX compiles one program per op and shape, and compiling costs far more than running. With the
cache on, a program is compiled once per machine (per jaxlib and program) and read back by every
later run and every worker process.

- Where: `JAX_COMPILATION_CACHE_DIR` when it is set, else `jax` in the user's cache folder
  (platformdirs: ~/.cache/gradient-oracle/jax on Linux).
- Bounded: at most MAX_BYTES; JAX evicts the least recently used entries past it.
- Safe under concurrent writers: with a size bound JAX reads and writes every entry under one
  file lock in the folder (`.lockfile`), so a worker never reads another's half-written entry.
- Off with `--no-cache` or `[tool.oracle] cache = false`.

`configure(enabled)` is the one place a process sets this up. `judge` calls it before anything
is compiled, so the in-process path and every worker process are configured the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENV", "MAX_BYTES", "location", "configure", "active", "describe", "info", "clear", "CacheInfo"]

ENV = "JAX_COMPILATION_CACHE_DIR"
MAX_BYTES = 512 * 2**20
_ENTRY_SUFFIX = "-cache"     # JAX's names: <key>-cache holds a program, <key>-atime its last use
_ATIME_SUFFIX = "-atime"

_configured: tuple[bool, str | None] | None = None   # (enabled, folder) as set in this process


def location() -> Path:
    """The cache folder: JAX_COMPILATION_CACHE_DIR when set, else the user's cache folder."""
    given = os.environ.get(ENV, "").strip()
    if given:
        return Path(given).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("gradient-oracle") / "jax"


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

    if _configured is not None:
        compilation_cache.reset_cache()  # JAX opens its cache once; a new setting needs a new one
    if enabled:
        Path(folder).mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_enable_compilation_cache", True)
        jax.config.update("jax_compilation_cache_dir", folder)
        # A reference program compiles in milliseconds and is small: cache every one.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
        # A bound is also what makes JAX take its file lock around every read and write.
        jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    else:
        jax.config.update("jax_enable_compilation_cache", False)
    _configured = (enabled, folder)
    return folder


def active() -> str | None:
    """The folder this process caches in, or None (off, or not configured yet)."""
    return _configured[1] if _configured else None


def describe(enabled: bool = True) -> str:
    """The cache as a run's settings name it: its folder, or 'off'."""
    return str(location()) if enabled else "off"


@dataclass(frozen=True)
class CacheInfo:
    path: Path
    entries: int
    bytes: int
    limit: int = MAX_BYTES

    def __str__(self) -> str:
        return (f"{self.path}: {self.entries} compiled program{'' if self.entries == 1 else 's'}, "
                f"{_size(self.bytes)} of at most {_size(self.limit)}")


def _entries(folder: Path) -> list[Path]:
    return list(folder.glob(f"*{_ENTRY_SUFFIX}")) if folder.is_dir() else []


def info(folder: Path | None = None) -> CacheInfo:
    """How many programs the cache holds and how much room they take."""
    folder = location() if folder is None else folder
    sizes = []
    for entry in _entries(folder):
        try:
            sizes.append(entry.stat().st_size)
        except FileNotFoundError:  # evicted by a running process meanwhile
            pass
    return CacheInfo(folder, len(sizes), sum(sizes))


def clear(folder: Path | None = None) -> CacheInfo:
    """Delete every cached program (under JAX's lock, so a running process is not disturbed); what was removed."""
    folder = location() if folder is None else folder
    removed = info(folder)
    if not folder.is_dir():
        return removed
    import filelock

    with filelock.FileLock(folder / ".lockfile", timeout=30):
        for entry in _entries(folder):
            for path in (entry, entry.with_name(entry.name[: -len(_ENTRY_SUFFIX)] + _ATIME_SUFFIX)):
                path.unlink(missing_ok=True)
    return removed


def _size(count: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count} bytes"
