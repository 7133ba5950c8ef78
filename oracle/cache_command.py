"""`oracle cache info` and `oracle cache clear`: the persistent compilation cache (oracle.compile_cache)."""

from __future__ import annotations

import click

__all__ = ["cache"]


@click.group()
def cache() -> None:
    """Show or clear the compiled reference programs kept between runs.

    They live in JAX_COMPILATION_CACHE_DIR when it is set, else in the user's cache folder.
    `oracle check --no-cache` (or cache = false in [tool.oracle]) runs without them.
    """


@cache.command()
def info() -> int:
    """Where the cache is, how many programs it holds and how much room they take."""
    from .compile_cache import info as cache_info

    click.echo(str(cache_info()))
    return 0


@cache.command()
def clear() -> int:
    """Delete every cached program; the next run compiles them again."""
    from .compile_cache import clear as cache_clear

    removed = cache_clear()
    click.echo(f"removed {removed.entries} compiled program{'' if removed.entries == 1 else 's'} "
               f"({removed.bytes / 2**20:.1f} MB) from {removed.path}")
    return 0
