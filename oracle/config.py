"""Options, declared once, and the [tool.oracle] table of a project's pyproject.toml.

Every setting a run takes is one Option in OPTIONS. The command line builds its click options
from this table and the pytest plugin its --oracle-* options, and values from either place, or
from pyproject.toml, are checked by the same Option.convert, so all three accept the same values
and word their complaints the same way.

    [tool.oracle]
    targets = ["gatecore", "tests/my_layers.py"]
    ops = ["matmul", "relu*"]
    dtypes = ["float64"]
    examples = 50
    seed = 1234
    report = "reports"
    baseline = "oracle-baseline.json"
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

__all__ = ["Option", "OPTIONS", "OPTION", "DTYPES", "Config", "ConfigError", "load_config", "find_pyproject", "resolve"]

DTYPES = ("float64", "float32")
HALF_DTYPES = ("float16", "bfloat16")   # for the torch and jax conventions only
MAX_EXAMPLES = 100_000     # more cases per verdict is a typo, not a plan: it would run for days
SECTION = "tool.oracle"


class ConfigError(ValueError):
    """A setting with a value the oracle cannot use, or a key it does not know: a user's mistake."""


@dataclass(frozen=True)
class Option:
    """One setting: how it is spelled on the command line and in [tool.oracle], and what it accepts.

    kind is one of: str, path, int, float, choice, flag. A multiple option takes the flag again for
    every value (--op add --op 'mat*') and a list in pyproject.toml.
    """

    name: str                        # the setting's name in Python: run settings, pytest's option dest
    help: str
    kind: str = "str"
    default: Any = None
    config_key: str | None = None    # its key in [tool.oracle]; None for command-line only
    multiple: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    open_minimum: bool = False       # minimum itself is not allowed (a time budget of 0 seconds)
    maximum: float | None = None
    metavar: str | None = None
    positional: bool = False         # the command line takes it as arguments, not an --option
    short: str | None = None         # a one-letter command-line spelling too ("-n")

    @property
    def flag(self) -> str:
        """'--junit-xml' for name 'junit_xml'; multiple options are spelled in the singular."""
        return "--" + (self.name[:-1] if self.multiple and self.name.endswith("s") else self.name).replace("_", "-")

    @property
    def pytest_flag(self) -> str:
        return "--oracle-" + self.flag[2:]

    def convert(self, value: Any) -> Any:
        """A value from [tool.oracle] (a list for a multiple option), checked; ValueError saying what is accepted."""
        if self.multiple:
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, (list, tuple)):
                raise ValueError(f"must be a list of {self._wanted()}, got {value!r}")
            return tuple(self.parse(v) for v in values)
        return self.parse(value)

    def parse(self, value: Any) -> Any:
        """One value (a command-line string or a TOML scalar), checked; ValueError otherwise."""
        if self.kind == "flag":
            if isinstance(value, bool):
                return value
            raise ValueError(f"must be true or false, got {value!r}")
        if self.kind in ("str", "path"):
            if isinstance(value, str) and value.strip():
                return value
            raise ValueError(f"must be a non-empty {self._wanted()}, got {value!r}")
        if self.kind == "workers":   # a count of worker processes, or "auto" for the cores available
            if value == "auto":
                return value
            number = _number(value, "int")
            if number is None or number < 0:
                raise ValueError(f"must be {self._wanted()}, got {value!r}")
            return number
        if self.kind == "choice":
            if value in self.choices:
                return value
            raise ValueError(f"must be {self._wanted()}, got {value!r}")
        if self.kind in ("int", "float"):
            number = _number(value, self.kind)
            if number is None:
                raise ValueError(f"must be {self._wanted()}, got {value!r}")
            too_small = self.minimum is not None and (number <= self.minimum if self.open_minimum else number < self.minimum)
            if too_small or (self.maximum is not None and number > self.maximum):
                raise ValueError(f"must be {self._wanted()}, got {value!r}")
            return number
        raise AssertionError(f"option {self.name}: unknown kind {self.kind!r}")

    def _wanted(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "workers":
            return "a whole number >= 0 or auto"
        if self.kind in ("int", "float"):
            noun = "a whole number" if self.kind == "int" else "a number"
            if self.minimum is None:
                return noun
            if self.maximum is not None:
                return f"{noun} from {self.minimum:g} to {self.maximum:g}"
            return f"{noun} {'>' if self.open_minimum else '>='} {self.minimum:g}"
        return {"str": "string", "path": "path", "flag": "true or false"}[self.kind]


def _number(value: Any, kind: str) -> int | float | None:
    if isinstance(value, bool):
        return None
    if kind == "int":
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value)
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
    return number if math.isfinite(number) else None


OPTIONS: tuple[Option, ...] = (
    Option("targets", "Plugins to check: an installed plugin's name, an importable module or a .py file.",
           multiple=True, config_key="targets", metavar="TARGET", positional=True),
    Option("ops", "Only implementations whose label or op matches this glob (repeatable).",
           multiple=True, config_key="ops", metavar="GLOB"),
    Option("dtypes", "Only this dtype: float64 or float32; float16 or bfloat16 for torch and jax code (repeatable).",
           kind="choice", choices=DTYPES + HALF_DTYPES, multiple=True,
           config_key="dtypes", metavar="DTYPE"),
    Option("examples", "Cases drawn per implementation and dtype.", kind="int", minimum=1, maximum=MAX_EXAMPLES,
           config_key="examples", metavar="N"),
    Option("seed", "Seed of the run; the same seed draws the same cases.", kind="int", minimum=0,
           config_key="seed", metavar="SEED"),
    Option("report", "Folder for the HTML report (with run.json beside it).", kind="path", default="reports",
           config_key="report", metavar="DIR"),
    Option("json", "Also write the run as JSON to this file.", kind="path", metavar="FILE"),
    Option("junit_xml", "Write JUnit XML (xunit2) to this file.", kind="path", metavar="FILE"),
    Option("baseline", "Known failures (from `oracle baseline`): they are listed but do not fail the gate.",
           kind="path", config_key="baseline", metavar="FILE"),
    Option("time_budget", "Stop after this many seconds; what finished is reported, marked incomplete.",
           kind="float", minimum=0, open_minimum=True, config_key="time_budget", metavar="SECONDS"),
    Option("strict", "Fail the gate while the baseline lists a failure that now passes.", kind="flag",
           default=False, config_key="strict"),
    Option("workers", "Worker processes that judge in parallel; auto: the cores available; 0: judge in this "
           "process (for a debugger).", kind="workers", default="auto", config_key="workers", metavar="N|auto",
           short="-n"),
    Option("shard", "Judge only the K-th of N parts of the (implementation, dtype) work, for a CI matrix; "
           "`oracle report --merge` joins the parts.", metavar="K/N"),
    Option("timeout", "Seconds one call of an implementation may take before it counts as hung; a case that runs "
           "three times as long has its worker stopped.", kind="float", minimum=0, open_minimum=True,
           config_key="timeout", metavar="SECONDS"),
    Option("memory_limit", "Megabytes of memory one worker may hold before it is stopped and its implementation "
           "errored.", kind="int", minimum=64, default=4096, config_key="memory_limit", metavar="MB"),
    Option("executor", "Where workers run: local processes, or a dask.distributed cluster (extra: dask).",
           kind="choice", choices=("processes", "dask"), default="processes", config_key="executor"),
    Option("scheduler", "The dask scheduler's address, for --executor dask.", config_key="scheduler",
           metavar="ADDRESS"),
    Option("fail_under", "Pass the gate when at least this percentage of the judged verdicts pass (as coverage.py's).",
           kind="float", minimum=0, maximum=100, config_key="fail_under", metavar="PERCENT"),
    Option("examples_from", "Pinned cases (from `oracle pin`) replayed before the search (repeatable).",
           kind="path", multiple=True, config_key="examples_from", metavar="FILE"),
    Option("cache", "Keep compiled reference programs between runs, in the user's cache folder or "
           "JAX_COMPILATION_CACHE_DIR (`oracle cache info`).", kind="flag", default=True, config_key="cache"),
)

OPTION: dict[str, Option] = {option.name: option for option in OPTIONS}
_BY_KEY: dict[str, Option] = {option.config_key: option for option in OPTIONS if option.config_key}


@dataclass(frozen=True)
class Config:
    """The checked [tool.oracle] table (paths made absolute) and the file it came from."""

    values: Mapping[str, Any]
    path: Path | None = None


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above `start`: the project the command runs in."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(start: Path | None = None) -> Config:
    """[tool.oracle] from the nearest pyproject.toml; an empty Config when there is none."""
    path = find_pyproject((start or Path.cwd()).resolve())
    if path is None:
        return Config({})
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    table = document.get("tool", {}).get("oracle", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{SECTION}] must be a table")
    return Config(parse_table(table, path), path)


def parse_table(table: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """Check every key and value of [tool.oracle]; paths in it are relative to the file's folder."""
    values: dict[str, Any] = {}
    for key, raw in table.items():
        if key in ASSIGNMENT_KEYS:  # how assignment files are read: checked by their own module
            values[key] = _assignment_setting(key, raw, path)
            continue
        option = _BY_KEY.get(key)
        if option is None:
            close = difflib.get_close_matches(key, _BY_KEY, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(_BY_KEY)
            raise ConfigError(f"{path}: unknown key {key!r} in [{SECTION}]; {hint}")
        try:
            value = option.convert(raw)
        except ValueError as error:
            raise ConfigError(f"{path}: [{SECTION}] {key} {error}") from None
        if option.kind == "path":
            value = tuple(str(path.parent / v) for v in value) if option.multiple else str(path.parent / value)
        if option.name == "targets":
            value = tuple(_anchor_target(t, path.parent) for t in value)
        values[option.name] = value
    return values


# Settings of discovered assignment files (oracle.conventions.assignments): the conventions table's
# extra rows ([[tool.oracle.conventions]]) and what a float64 gradient for a float32 input does there.
ASSIGNMENT_KEYS = ("conventions", "assignments_float64_grads")


def _assignment_setting(key: str, raw: Any, path: Path) -> Any:
    from .errors import UsageError

    if key == "assignments_float64_grads":
        if raw not in ("warn", "fail"):
            raise ConfigError(f"{path}: [{SECTION}] {key} must be \"warn\" or \"fail\", got {raw!r}")
        return raw
    from .conventions.assignment_table import parse_conventions

    try:
        return parse_conventions(raw, f"{path}: [{SECTION}] conventions")
    except UsageError as error:
        raise ConfigError(str(error)) from None


def _anchor_target(target: str, folder: Path) -> str:
    """A .py target in the configuration is relative to the configuration's folder."""
    if target.endswith(".py") or "/" in target:
        return str(folder / target)
    return target


def resolve(given: Mapping[str, Any], config: Config) -> dict[str, Any]:
    """Settings for a run: what was given (None or empty for not given) over the config over the defaults."""
    settings: dict[str, Any] = {}
    for option in OPTIONS:
        value = given.get(option.name)
        if value is None or (option.multiple and not value):
            value = config.values.get(option.name, option.default)
        settings[option.name] = value
    return settings
