"""The pytest plugin: gradient checks as ordinary tests, registered under the pytest11 entry point.

    pytest --oracle gatecore                    a test item per (plugin, implementation, dtype)
    pytest --oracle my_layers.py -k matmul      pytest's own selection, --junitxml and -n work on them
    pytest --oracle-seed 1234                   repeat a run; the seed is in the header of every run
    pytest --oracle-report reports              the HTML report of every check the session made

In a test, oracle.testing.assert_gradients takes its settings from the test: the marker
@pytest.mark.oracle(examples=..., dtypes=[...], seed=...) over --oracle-* over [tool.oracle]
over the engine's defaults. The fixture `oracle_settings` hands them to the test.

pytest imports this module at every start, wherever the package is installed, so it imports
nothing of the engine here: JAX, the catalogue and the search load inside the hooks that need
them, and only when the session asks for the oracle.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from .pytest_items import MARKER, SESSION, VERDICTS, OracleTargets, _Session

PROPERTY = "oracle_verdicts"          # user_properties key that carries verdicts from xdist workers
MARKER_ARGUMENTS = ("examples", "dtypes", "seed")
COMMAND_LINE = ("ops", "dtypes", "examples", "seed", "report")   # entries of oracle.config.OPTIONS we share


_running: list[pytest.Item] = []       # the test being run, for assert_gradients called inside it


# --------------------------------------------------------------------------- options

def _argument_type(option):
    """An argparse type that checks a value with the same Option.parse as the command line and [tool.oracle]."""
    def convert(text: str) -> Any:
        try:
            return option.parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    convert.__name__ = option.kind
    return convert


def pytest_addoption(parser: pytest.Parser) -> None:
    from .config import OPTION

    group = parser.getgroup("oracle", "gradient-oracle: gradient checks as tests")
    targets = OPTION["targets"]
    group.addoption("--oracle", action="append", dest="oracle_targets", metavar=targets.metavar,
                    type=_argument_type(targets),
                    help=targets.help + " Collects a test per (plugin, implementation, dtype); repeatable.")
    for name in COMMAND_LINE:
        option = OPTION[name]
        help_text = option.help
        if name == "report":
            help_text += " Also holds the checks of assert_gradients in tests."
        elif name == "seed":
            help_text += " Default: [tool.oracle] seed, else random; printed in the header."
        group.addoption(option.pytest_flag, dest="oracle_" + name, metavar=option.metavar,
                        type=_argument_type(option), action="append" if option.multiple else "store",
                        default=None, help=help_text)


# --------------------------------------------------------------------------- the session

@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(examples=None, dtypes=None, seed=None): settings of the gradient "
                            "checks (oracle.testing.assert_gradients) this test makes")
    if config.getoption("hypothesis_profile", None):
        from .testing import register_hypothesis_profile

        register_hypothesis_profile()   # 'oracle-ci' exists before hypothesis' own plugin loads a profile
    given = {name: config.getoption("oracle_" + name) for name in COMMAND_LINE}
    targets = list(config.getoption("oracle_targets") or [])
    selected = _take_oracle_node_ids(config, targets)
    project, problem = {}, None
    try:
        from .config import ConfigError, load_config

        project = dict(load_config(config.rootpath).values)
    except ConfigError as error:
        problem = str(error)
        if targets or given["report"]:
            raise pytest.UsageError(f"oracle: {problem}") from None
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "oracle_seed" in workerinput:
        seed = int(workerinput["oracle_seed"])   # every xdist worker uses the controller's seed
    elif given["seed"] is not None:
        seed = given["seed"]
    elif project.get("seed") is not None:
        seed = project["seed"]
    else:
        seed = secrets.randbelow(2**32)
    config.stash[SESSION] = _Session(
        seed=seed, given=given, project=project, project_error=problem, targets=targets, report=given["report"],
        worker=workerinput is not None, started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        clock=time.perf_counter(), selected=selected)
    if given["report"] and workerinput is None:
        config.pluginmanager.register(OracleReport(config, config.stash[SESSION]), "oracle-report")


def _is_oracle_node_id(arg: str, folder: Path) -> bool:
    """'gatecore::relu[float64]': a plugin's name, not a path, before the first '::'."""
    head, sep, _ = arg.partition("::")
    return bool(sep and head) and "/" not in head and os.sep not in head and not head.endswith(".py") \
        and not (folder / head).exists()


def _take_oracle_node_ids(config: pytest.Config, targets: list[str]) -> tuple[str, ...]:
    """Node ids of --oracle items among pytest's file arguments: taken out (they name no file) and kept.

    `pytest "gatecore::relu[float64]"` re-runs one item, as pytest re-runs any test by its node id;
    without --oracle, the plugin named before '::' is the target.
    """
    folder = config.invocation_params.dir
    chosen = [arg for arg in config.args if _is_oracle_node_id(arg, folder)]
    if chosen:
        config.args[:] = [arg for arg in config.args if arg not in chosen]
        if not targets:
            targets.extend(dict.fromkeys(arg.partition("::")[0] for arg in chosen))
    return tuple(chosen)


def _chosen(nodeid: str, selected: tuple[str, ...]) -> bool:
    """An item named exactly, or every dtype of 'plugin::label', or every item of 'plugin::'."""
    return any(nodeid == s or nodeid.startswith(s + "[") or (s.endswith("::") and nodeid.startswith(s)) for s in selected)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: hand the session's seed to each worker before it starts."""
    node.workerinput["oracle_seed"] = node.config.stash[SESSION].seed


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.stash[SESSION].seed
    return f"oracle: seed {seed} (repeat with --oracle-seed {seed})"


# --------------------------------------------------------------------------- the marker

def marker_settings(item: pytest.Item) -> dict[str, Any]:
    """The checked arguments of the closest @pytest.mark.oracle; ValueError naming the marker and the problem."""
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return {}
    where = f"@pytest.mark.{MARKER} on {item.name}"
    if marker.args:
        raise ValueError(f"{where}: takes keyword arguments only ({', '.join(MARKER_ARGUMENTS)}), "
                         f"got positional {', '.join(map(repr, marker.args))}")
    from .config import OPTION

    values: dict[str, Any] = {}
    for key, value in marker.kwargs.items():
        if key not in MARKER_ARGUMENTS:
            close = difflib.get_close_matches(key, MARKER_ARGUMENTS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"it takes {', '.join(MARKER_ARGUMENTS)}"
            raise ValueError(f"{where}: unknown argument {key!r}; {hint}")
        option = OPTION[key]
        try:
            if key == "dtypes":
                if not isinstance(value, (list, tuple, str)) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"must be a list of dtypes ({', '.join(option.choices)}), got {value!r}")
                values[key] = option.convert(value)
            else:
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError(f"must be {option._wanted()}, got {value!r}")
                values[key] = option.parse(value)
        except ValueError as error:
            raise ValueError(f"{where}: {key} {error}") from None
    return values


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object):
    """A test whose marker cannot be used is a collection error, reported before anything runs."""
    result = yield
    for node in result if isinstance(result, list) else [result]:
        if isinstance(node, pytest.Function) and node.get_closest_marker(MARKER) is not None:
            try:
                marker_settings(node)
            except ValueError as error:
                raise collector.CollectError(str(error)) from None
    return result


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """Add the --oracle items before anything selects (-k, -m) or reorders the collected tests."""
    state = config.stash[SESSION]
    if not state.targets:
        return
    collector = OracleTargets.from_parent(session, name=MARKER, nodeid="--oracle " + " ".join(state.targets))
    report = collector.ihook.pytest_make_collect_report(collector=collector)
    session.ihook.pytest_collectreport(report=report)
    found = list(report.result) if report.passed else []
    if state.selected:
        missing = [s for s in state.selected if not any(_chosen(item.nodeid, (s,)) for item in found)]
        if missing and report.passed:
            known = ", ".join(item.nodeid for item in found[:8]) + (", ..." if len(found) > 8 else "")
            raise pytest.UsageError(f"oracle: no --oracle item {missing[0]!r} (there are: {known or 'none'})")
        found = [item for item in found if _chosen(item.nodeid, state.selected)]
    for item in found:
        item.ihook.pytest_itemcollected(item=item)
        items.append(item)


# --------------------------------------------------------------------------- settings for a test

def settings_for(item: pytest.Item):
    """oracle.testing.Settings of a test: marker over --oracle-* over [tool.oracle] over the engine's defaults."""
    from .errors import UsageError
    from .run import DEFAULT_EXAMPLES, DTYPES
    from .testing import Settings

    state = item.config.stash[SESSION]
    if state.project_error:
        raise UsageError(state.project_error)
    try:
        marker = marker_settings(item)
    except ValueError as error:
        raise UsageError(str(error)) from None
    given, project = state.given, state.project
    seed_option = () if "seed" in marker else ("--oracle-seed", str(state.seed))
    repeat = [item.nodeid]            # what the reproduce line passes again: what came from the command line
    if "examples" not in marker and given["examples"]:
        repeat += ["--oracle-examples", str(given["examples"])]
    if "dtypes" not in marker and given["dtypes"]:
        for dtype in given["dtypes"]:
            repeat += ["--oracle-dtype", dtype]
    return Settings(
        examples=marker.get("examples") or given["examples"] or project.get("examples") or DEFAULT_EXAMPLES,
        dtypes=tuple(marker.get("dtypes") or given["dtypes"] or project.get("dtypes") or DTYPES),
        seed=marker["seed"] if "seed" in marker else state.seed,
        name=item.name, command=("pytest", *repeat), seed_option=seed_option,
        record=item.stash.setdefault(VERDICTS, []).extend,
        examples_from=tuple(project.get("examples_from", ())),
    )


def active_settings():
    """Settings of the test running now, or None outside a test (assert_gradients then uses the defaults)."""
    return settings_for(_running[-1]) if _running else None


@pytest.fixture
def oracle_settings(request: pytest.FixtureRequest):
    """The gradient-check settings of this test (examples, dtypes, seed) and assert_gradients bound to them."""
    return settings_for(request.node)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    _running.append(item)
    try:
        return (yield)
    finally:
        _running.pop()


# --------------------------------------------------------------------------- --oracle-report

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Verdicts ride on the call's report: pytest-xdist carries them from a worker to the controller."""
    report = yield
    verdicts = item.stash.get(VERDICTS, None)
    if call.when == "call" and verdicts and item.config.stash[SESSION].report:
        from dataclasses import asdict

        report.user_properties.append((PROPERTY, json.dumps([asdict(v) for v in verdicts], allow_nan=False)))
    return report


class OracleReport:
    """--oracle-report on the controller (or without xdist): gathers verdicts, writes the HTML at the end."""

    def __init__(self, config: pytest.Config, state: _Session) -> None:
        self.config, self.state = config, state
        self.verdicts: list[tuple[str, dict]] = []     # (node id, verdict), in the order reports arrive
        self.written: Path | None = None
        self.expected: set[str] = set()                # node ids collected (here, or by the xdist workers)
        self.reported: set[str] = set()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.expected.update(item.nodeid for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.expected.update(ids)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Take the verdicts off the report before --junitxml writes its properties; a crashed worker's item is errored."""
        self.reported.add(report.nodeid)
        carried = [value for key, value in report.user_properties if key == PROPERTY]
        if carried:
            report.user_properties[:] = [(k, v) for k, v in report.user_properties if k != PROPERTY]
            self.verdicts += [(report.nodeid, verdict) for text in carried for verdict in json.loads(text)]
        elif report.when == "???":        # pytest-xdist's report for the item a crashed worker was running
            self.verdicts.append((report.nodeid, _crashed(report)))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from .report import write_reports

        self.written = write_reports(self.run(session, exitstatus), html=self.state.report)["html"]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.written is not None:
            count = len(self.verdicts)
            terminalreporter.write_line(f"oracle: HTML report {self.written} ({count} verdict{'' if count == 1 else 's'})")

    def run(self, session: pytest.Session, exitstatus: int):
        from .result import Run, Verdict
        from .run import versions

        state, verdicts, seen = self.state, [], set()
        # By node id, so that the report is the same whichever xdist worker finished first.
        for _, data in sorted(self.verdicts, key=lambda pair: pair[0]):
            verdict = Verdict.from_dict(data)
            label, n = verdict.implementation, 1
            while verdict.id in seen:     # one test may check the same op twice: the report keeps both
                n += 1
                verdict.implementation = f"{label} #{n}"
            seen.add(verdict.id)
            verdicts.append(verdict)
        stopped = session.shouldstop or session.shouldfail
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            stopped = "interrupted"
        missing = sorted(self.expected - self.reported)
        if missing and not stopped:
            stopped = "items never reported"
        given, project = state.given, state.project
        return Run(seed=state.seed, verdicts=verdicts, targets=state.targets or ["pytest"],
                   settings={"examples": given["examples"] or project.get("examples"),
                             "dtypes": list(given["dtypes"] or project.get("dtypes") or []),
                             "ops": list(given["ops"] or project.get("ops") or [])},
                   versions=versions(), started=state.started, duration=time.perf_counter() - state.clock,
                   incomplete=bool(stopped), stopped_because=str(stopped) if stopped else None, missing=missing)


def _crashed(report: pytest.TestReport) -> dict:
    """An errored verdict for an item whose xdist worker died: an --oracle item by its node id, else the test."""
    from dataclasses import asdict

    from .result import Verdict

    # --oracle items have the node id OracleTargets.collect gives them: "plugin::label[dtype]".
    item = re.fullmatch(r"([^:/\[]+)::(.+)\[([a-z0-9]+)\]", report.nodeid)
    plugin, label, dtype = item.groups() if item else ("pytest", report.nodeid, "")
    text = str(report.longrepr or "").strip().splitlines()
    return asdict(Verdict(plugin=plugin, op=label, implementation=label, dtype=dtype, status="errored", check="call",
                          message="the pytest-xdist worker running it crashed" + (f": {text[0]}" if text else ""),
                          facts={"fault": "worker crashed"}))
