"""Helpers for the assignment-file tests: plant a bug in a copy of the corpus, judge one pair in-process."""

from __future__ import annotations

from pathlib import Path

from oracle.plugin import discover
from oracle.run import judge

CORPUS = Path(__file__).parent / "assignments"


def planted(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of a corpus file with one piece of text replaced (which must occur exactly once)."""
    source = (CORPUS / file).read_text(encoding="utf-8")
    assert source.count(old) == 1, f"{old!r} occurs {source.count(old)} times in {file}"
    path = tmp_path / file
    path.write_text(source.replace(old, new), encoding="utf-8")
    return path


def implementation(path: Path | str, label: str):
    (plugin,) = discover(str(path))
    return next(i for i in plugin.implementations if i.label == label)


def verdict(path: Path | str, label: str, dtype: str = "float64", examples: int = 30, seed: int = 0):
    return judge(implementation(path, label), dtype, examples=examples, seed=seed)
