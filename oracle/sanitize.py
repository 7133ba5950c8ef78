"""Text from plugins is untrusted: names, messages and printed output may hold anything.

Before it reaches a terminal, control characters go (an ESC sequence can move the cursor,
retitle the window or hide text; NUL and BEL are noise); before it reaches a page, it is cut to
a length a browser opens quickly and lone surrogates, which UTF-8 cannot encode, are replaced.
The JSON keeps the full text: json.dumps escapes whatever it holds.
"""

from __future__ import annotations

import re

__all__ = ["for_terminal", "shorten", "encodable", "safe_str", "MAX_TEXT"]

MAX_TEXT = 20_000          # characters of one message shown in a terminal or a page

# ESC [ ... final (CSI), ESC ] ... BEL or ESC \ (OSC), ESC P/X/^/_ ... ESC \ (DCS, SOS, PM, APC),
# then any other ESC pair, then the C0 and C1 control characters but tab and newline.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b.?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]",
    re.DOTALL,
)
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def encodable(text: str) -> str:
    """The text with every lone surrogate replaced by U+FFFD, so that it encodes as UTF-8."""
    return _SURROGATE.sub("\ufffd", text)


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """At most about `limit` characters, saying how much was left out and where the rest is."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"… ({len(text) - limit} more characters; the run's JSON holds the full text)"


def for_terminal(text: object, limit: int = MAX_TEXT) -> str:
    """Untrusted text made safe to print: no control sequences, no lone surrogates, a sane length."""
    return encodable(shorten(_CONTROL.sub("", str(text)), limit))


def safe_str(value: object) -> str:
    """str(value) even when its __str__ raises or returns no string: the value's fault, not ours."""
    try:
        return str(value)          # str() itself raises TypeError when __str__ returns something else
    except Exception as error:  # noqa: BLE001 - a user's __str__ may raise anything
        return f"<{type(value).__name__} whose str() raised {type(error).__name__}>"
