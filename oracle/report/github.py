"""GitHub Actions annotations: each failure as an ::error on the line of the code it blames.

    ::error file=layers.py,line=11,title=oracle: mine affine float64 (reference check)::gradient for 'w' ...

GitHub shows these beside the diff of a pull request. Properties and message are escaped as the
runner's workflow-command format asks (%, CR, LF; and ':' ',' in properties), and control
characters from plugin text are removed first.
"""

from __future__ import annotations

from ..result import Run, Verdict
from ..sanitize import for_terminal
from . import first_line, op_text

__all__ = ["annotations", "annotation"]

MESSAGE_LIMIT = 2000


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(verdict: Verdict) -> str:
    """The ::error line of one failing verdict."""
    check = f" ({verdict.check} check)" if verdict.check else ""
    title = for_terminal(f"oracle: {verdict.plugin} {op_text(verdict)} {verdict.dtype}{check}", 200)
    where = []
    if verdict.source_file:
        where.append(f"file={_property(verdict.source_file)}")
        if verdict.source_line:
            where.append(f"line={verdict.source_line}")
    where.append(f"title={_property(title)}")
    body = first_line(verdict.message, verdict.status)
    if verdict.source_function:
        body += f"\nin {verdict.source_function}"
    if verdict.reproduce:
        body += f"\nreproduce: {verdict.reproduce}"
    return f"::error {','.join(where)}::{_data(for_terminal(body, MESSAGE_LIMIT))}"


def annotations(run: Run) -> list[str]:
    """An annotation per failure that fails the gate (a failure the baseline knows is not one)."""
    return [annotation(v) for v in run.verdicts if v.status in ("failed", "errored") and not v.known]
