"""The conventions of CS231n-style assignment files, as one table of data.

Each row says how functions of one name are called and what they mean:

    Convention("conv", "conv2d", "x, w, b, conv_param{stride, pad}",
               evenly=("(h + 2*pad - hh) % stride", "(w + 2*pad - ww) % stride"))

- stem: a layer's functions are `<stem>_forward<suffix>` and `<stem>_backward<suffix>` (any
  suffix: `_naive`, `_fast`, `_im2col`); a loss is the function called `<stem>` itself.
- op: the catalogue op it implements.
- call: the forward's arguments, in order. A name is the op's input or hyper-parameter of that
  name; `conv_param{stride, pad}` is a dict built from them, and `key='train'` a fixed entry.
- kind: "layer" (forward -> (out, cache), backward(dout, cache) -> grads) or "loss"
  (f(x, y) -> (loss, dx)).
- evenly: expressions over the op's dims and hyper-parameters that must be 0 when the file
  states that output sizes divide evenly (an assert or the docstring mentions `% stride`).
- state: the dict whose running statistics the `running_stats` check inspects.

A course extends the table in pyproject.toml:

    [[tool.oracle.conventions]]
    stem = "leaky_relu"
    op = "leaky_relu"
    call = "x, lrelu_param{alpha}"

or in Python: `oracle.conventions.assignment_table.TABLE.append(Convention(...))`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError

__all__ = ["BUILT_IN", "FLOAT64_GRADS", "TABLE", "Argument", "Convention", "in_force", "parse_call", "parse_conventions",
           "table", "use"]

# What a float64 gradient for a float32 input does to the gate of a discovered assignment file.
# "warn": reported, values still judged, gate unaffected. Course code builds its gradients with
# np.zeros(shape) (float64 by default) and the courses grade in float64, so a failure here would
# flag nearly every correct submission for an idiom the course itself teaches.
FLOAT64_GRADS = "warn"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Argument:
    """One argument of the forward: an input or hyper-parameter by name, or a dict built from them."""

    name: str
    entries: tuple[tuple[str, str | None, Any], ...] | None = None   # (key, source name, fixed value)

    @property
    def is_dict(self) -> bool:
        return self.entries is not None

    def names(self) -> list[str]:
        if self.entries is None:
            return [self.name]
        return [source for _, source, _ in self.entries if source is not None]


@dataclass(frozen=True)
class Convention:
    stem: str
    op: str
    call: str
    kind: str = "layer"
    evenly: tuple[str, ...] = ()
    state: str | None = None
    arguments: tuple[Argument, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.stem):
            raise UsageError(f"convention stem {self.stem!r} is not a Python name")
        if self.kind not in ("layer", "loss"):
            raise UsageError(f"convention {self.stem!r}: kind is 'layer' or 'loss', got {self.kind!r}")
        object.__setattr__(self, "evenly", tuple(self.evenly))
        object.__setattr__(self, "arguments", parse_call(self.call, self.stem))
        if self.state is not None and not any(a.is_dict and a.name == self.state for a in self.arguments):
            raise UsageError(f"convention {self.stem!r}: state {self.state!r} is not a dict in its call")

    def check_against(self, spec: Any) -> None:
        """Every name the call uses is the op's; every input of the op is passed."""
        known = set(spec.input_names) | set(spec.hyper)
        used = [n for a in self.arguments for n in a.names()]
        unknown = [n for n in used if n not in known]
        if unknown:
            raise UsageError(f"convention {self.stem!r}: {', '.join(unknown)} is not an input or hyper-parameter of "
                             f"{spec.name} ({spec.signature()})")
        missing = [n for n in spec.input_names if n not in used]
        if missing:
            raise UsageError(f"convention {self.stem!r}: the call does not pass {', '.join(missing)} of {spec.name}")


def _split_top(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_call(text: str, stem: str = "?") -> tuple[Argument, ...]:
    """'x, w, b, conv_param{stride, pad}' -> the forward's arguments; a UsageError naming what is wrong."""
    arguments = []
    for part in _split_top(text):
        match = re.fullmatch(r"([A-Za-z_]\w*)\s*(?:\{(.*)\})?", part, re.DOTALL)
        if not match:
            raise UsageError(f"convention {stem!r}: cannot read argument {part!r} of call {text!r}")
        name, inner = match.group(1), match.group(2)
        if inner is None:
            arguments.append(Argument(name))
            continue
        entries = []
        for entry in _split_top(inner):
            key, sep, value = (s.strip() for s in entry.partition("="))
            if not _NAME.match(key) or (sep and not value):
                raise UsageError(f"convention {stem!r}: {entry.strip()!r} in {name}{{...}} is neither a name "
                                 f"nor name=value")
            if not value:
                entries.append((key, key, None))
            elif _NAME.match(value) and value not in ("True", "False", "None"):
                entries.append((key, value, None))
            else:
                try:
                    entries.append((key, None, ast.literal_eval(value)))
                except (ValueError, SyntaxError):
                    raise UsageError(f"convention {stem!r}: {value!r} in {name}{{...}} is neither a name "
                                     f"nor a Python literal") from None
        arguments.append(Argument(name, tuple(entries)))
    if not arguments:
        raise UsageError(f"convention {stem!r}: the call names no argument")
    return tuple(arguments)


_IMAGE_PARAM = "bn_param{mode='train', eps, momentum}"

TABLE: list[Convention] = [
    Convention("affine", "affine_nd", "x, w, b"),
    Convention("relu", "relu", "x"),
    Convention("sigmoid", "sigmoid", "x"),
    Convention("batchnorm", "batchnorm_running", "x, gamma, beta, " + _IMAGE_PARAM, state="bn_param"),
    Convention("layernorm", "layernorm", "x, gamma, beta, ln_param{eps}"),
    Convention("dropout", "dropout_any", "x, dropout_param{p, mode, seed}"),
    Convention("conv", "conv2d", "x, w, b, conv_param{stride, pad}",
               evenly=("(h + 2*pad - hh) % stride", "(w + 2*pad - ww) % stride")),
    Convention("max_pool", "max_pool", "x, pool_param{pool_height, pool_width, stride}",
               evenly=("(h - pool_height) % stride", "(w - pool_width) % stride")),
    Convention("spatial_batchnorm", "spatial_batchnorm", "x, gamma, beta, " + _IMAGE_PARAM, state="bn_param"),
    Convention("spatial_groupnorm", "spatial_groupnorm", "x, gamma, beta, G, gn_param{eps}"),
    Convention("softmax_loss", "softmax_cross_entropy", "x, y", kind="loss"),
    Convention("svm_loss", "svm_loss", "x, y", kind="loss"),
    Convention("rnn_step", "rnn_step", "x, prev_h, Wx, Wh, b"),
    Convention("rnn", "rnn", "x, h0, Wx, Wh, b"),
    Convention("lstm_step", "lstm_step", "x, prev_h, prev_c, Wx, Wh, b"),
    Convention("lstm", "lstm", "x, h0, Wx, Wh, b"),
    Convention("word_embedding", "word_embedding", "x, W"),
    Convention("temporal_affine", "temporal_affine", "x, w, b"),
    Convention("temporal_softmax_loss", "temporal_softmax_loss", "x, y, mask", kind="loss"),
]
BUILT_IN: tuple[Convention, ...] = tuple(TABLE)


def in_force() -> tuple[Convention, ...] | None:
    """The table as this process has it, when Python code changed it (None while it is the built-in one).

    Worker processes start with the built-in table; the supervisor hands them this with each job.
    """
    return None if tuple(TABLE) == BUILT_IN else tuple(TABLE)


def use(rows: Sequence[Convention] | None) -> bool:
    """Make `rows` (None: the built-in rows) the table of this process; True when that changed it."""
    wanted = list(BUILT_IN if rows is None else rows)
    if TABLE == wanted:
        return False
    TABLE[:] = wanted
    return True


def parse_conventions(raw: Any, where: str) -> tuple[Convention, ...]:
    """[[tool.oracle.conventions]] rows -> Conventions; a UsageError (one line) naming the bad row."""
    rows = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(rows, Sequence) or isinstance(rows, str):
        raise UsageError(f"{where} must be a list of tables with stem, op and call")
    allowed = {"stem", "op", "call", "kind", "evenly", "state"}
    parsed = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or not {"stem", "op", "call"} <= set(row):
            raise UsageError(f"{where}: row {i + 1} needs stem, op and call")
        unknown = set(row) - allowed
        if unknown:
            raise UsageError(f"{where}: row {i + 1} has unknown key {min(unknown)!r}; known: {', '.join(sorted(allowed))}")
        try:
            parsed.append(Convention(**{k: tuple(v) if k == "evenly" else v for k, v in row.items()}))
        except UsageError as error:
            raise UsageError(f"{where}: row {i + 1}: {error}") from None
    return tuple(parsed)


def table(extra: Sequence[Convention] = ()) -> list[Convention]:
    """The table in force: extra rows (from [tool.oracle]) first, so a course can redefine a stem."""
    rows = {c.stem: c for c in TABLE}
    for convention in extra:
        rows[convention.stem] = convention
    ordered = [rows.pop(c.stem) for c in extra if c.stem in rows]
    return ordered + list(rows.values())
