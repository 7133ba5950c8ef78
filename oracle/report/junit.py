"""JUnit XML (the xunit2 flavour pytest writes): one testcase per (plugin, implementation, dtype).

CI systems show a failed testcase with its message, so a failure carries the full failure
text. A failure the baseline knows is written as skipped with type "known", the way pytest
writes an expected failure, so that it is visible without turning the build red.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ..result import Run, Verdict, write_atomic
from . import first_line, status_of

__all__ = ["junit_xml", "write_junit"]

# Characters XML 1.0 cannot hold at all (control characters, lone surrogates).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    """Text with every character XML cannot hold replaced by a visible #xNN."""
    return _ILLEGAL.sub(lambda m: f"#x{ord(m.group()):02X}", str(text))


def _failure_text(verdict: Verdict) -> str:
    from ..message import format_failure

    return format_failure(verdict)


def _testcase(suite: ET.Element, verdict: Verdict) -> None:
    case = ET.SubElement(suite, "testcase", {
        "classname": _clean(f"oracle.{verdict.plugin}"),
        "name": _clean(f"{verdict.implementation}[{verdict.dtype}]"),
        "time": f"{verdict.duration:.3f}",
    })
    status = status_of(verdict)
    summary = _clean(first_line(verdict.message, verdict.status))
    if status == "known":
        ET.SubElement(case, "skipped", {"type": "known", "message": f"known failure (baseline): {verdict.fingerprint}"})
    elif status == "skipped":
        ET.SubElement(case, "skipped", {"type": "skipped", "message": summary})
    elif status in ("failed", "errored"):
        tag = "failure" if status == "failed" else "error"
        element = ET.SubElement(case, tag, {"type": _clean(verdict.check or status), "message": summary})
        element.text = _clean(_failure_text(verdict))


def junit_xml(run: Run) -> str:
    counts = run.counts()
    known = sum(v.known for v in run.verdicts)
    root = ET.Element("testsuites")
    suite = ET.SubElement(root, "testsuite", {
        "name": "oracle",
        "tests": str(len(run.verdicts)),
        "failures": str(sum(status_of(v) == "failed" for v in run.verdicts)),
        "errors": str(sum(status_of(v) == "errored" for v in run.verdicts)),
        "skipped": str(counts["skipped"] + known),
        "time": f"{run.duration:.3f}",
        "timestamp": _clean(run.started),
    })
    properties = ET.SubElement(suite, "properties")
    facts = {"seed": run.seed, "targets": " ".join(run.targets), "incomplete": str(run.incomplete).lower()}
    if run.stopped_because:
        facts["stopped_because"] = run.stopped_because
    facts.update({f"version.{k}": v for k, v in run.versions.items()})
    for name, value in facts.items():
        ET.SubElement(properties, "property", {"name": _clean(name), "value": _clean(value)})
    for verdict in run.verdicts:
        _testcase(suite, verdict)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(run: Run, path: str | Path) -> None:
    write_atomic(Path(path), junit_xml(run))
