"""Reading an assignment file with ast (nothing runs): the pairs the conventions table knows,
and for every other candidate why it is not judged (a skeleton, an unknown signature, no
partner, no convention)."""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..plugin import resolve_spec
from .assignment_table import Convention
from .preconditions import asserted, states_evenly

__all__ = ["Found", "scan", "unimplemented"]


@dataclass
class Found:
    """A pair (or loss) that the table knows, as read from the file."""

    label: str
    convention: Convention
    forward: str
    backward: str | None
    evenly: bool = False
    asserted: tuple = ((), (), ())     # the forward's parameters, bindings and asserts (preconditions.asserted)


def _assigned_only_none(function: ast.FunctionDef, name: str) -> bool:
    """True when every assignment to `name` in the function assigns None (the skeleton's `dx = None`)."""
    seen = False
    for node in ast.walk(function):
        pairs: list[tuple[ast.AST, ast.AST | None]] = []
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple) and len(target.elts) == len(node.value.elts):
                    pairs += list(zip(target.elts, node.value.elts))
                else:
                    pairs.append((target, node.value))
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.With, ast.NamedExpr)):
            targets = [node.target] if hasattr(node, "target") else [i.optional_vars for i in node.items]
            pairs += [(t, None) for t in targets if t is not None]
        for target, value in pairs:
            names = {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
            if name in names:
                seen = True
                if not (isinstance(target, ast.Name) and (_is_none(value) or _of_itself(value, name))):
                    return False
    return seen


def _is_none(value: ast.AST | None) -> bool:
    return isinstance(value, ast.Constant) and value.value is None


def _of_itself(value: ast.AST | None, name: str) -> bool:
    """`out = out.astype(x.dtype, copy=False)`: the skeleton converts a value it never computed."""
    while isinstance(value, (ast.Call, ast.Attribute, ast.Subscript)):
        value = value.func if isinstance(value, ast.Call) else value.value
    return isinstance(value, ast.Name) and value.id == name


def unimplemented(function: ast.FunctionDef, first_only: bool) -> bool:
    """The skeleton of an assignment: only `pass`, or it returns only names that were only ever assigned None."""
    body = [s for s in function.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if all(isinstance(s, ast.Pass) for s in body):
        return True
    if any(isinstance(s, ast.Raise) and "NotImplementedError" in ast.unparse(s) for s in body):
        return True
    returns = [n for n in ast.walk(function) if isinstance(n, ast.Return)]
    if not returns:
        return True
    for node in returns:
        value = node.value
        values = value.elts if isinstance(value, ast.Tuple) else [value]
        for item in values[:1] if first_only else values:
            if item is None or (isinstance(item, ast.Constant) and item.value is None):
                continue
            if isinstance(item, ast.Name) and _assigned_only_none(function, item.id):
                continue
            return False
    return True


def _positional(function: ast.FunctionDef) -> tuple[int, int | None]:
    """(required, most) positional arguments the function accepts (most None with *args)."""
    args = function.args
    count = len(args.posonlyargs) + len(args.args)
    return count - len(args.defaults), None if args.vararg else count


def _accepts(function: ast.FunctionDef, n: int) -> bool:
    required, most = _positional(function)
    return required <= n and (most is None or n <= most)


def _signature(function: ast.FunctionDef) -> str:
    return f"{function.name}({', '.join(a.arg for a in function.args.posonlyargs + function.args.args)})"


def scan(source: str, conventions: Sequence[Convention]) -> tuple[list[Found], list[tuple[str, str]]]:
    """(pairs the table knows, [(function, why it is not judged)]) of a file's source."""
    tree = ast.parse(source)
    defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    found: list[Found] = []
    missing: list[tuple[str, str]] = []
    known_stems = set()

    def not_judgeable(conv: Convention, forward: str, backward: str | None) -> tuple[str, str] | None:
        """(the function, why) when the pair cannot be judged."""
        spec_outputs = _outputs(conv)
        wanted = ", ".join(a.name for a in conv.arguments)
        if not _accepts(defs[forward], len(conv.arguments)):
            return forward, f"unknown signature {_signature(defs[forward])}: the convention calls {forward}({wanted})"
        if backward is not None and not _accepts(defs[backward], spec_outputs + 1):
            douts = "dout, cache" if spec_outputs == 1 else ", ".join(f"d{i}" for i in range(spec_outputs)) + ", cache"
            return backward, f"unknown signature {_signature(defs[backward])}: the convention calls {backward}({douts})"
        for name, first_only in ((forward, conv.kind == "layer"), (backward, False)):
            if name is not None and unimplemented(defs[name], first_only):
                return name, "not implemented: still the skeleton (pass, or returns only None)"
        return None

    for conv in conventions:
        known_stems.add(conv.stem)
        if conv.kind == "loss":
            if conv.stem in defs:
                why = not_judgeable(conv, conv.stem, None)
                if why:
                    missing.append(why)
                else:
                    found.append(Found(conv.stem, conv, conv.stem, None))
            continue
        pattern = re.compile(rf"^{re.escape(conv.stem)}_(forward|backward)((?:_\w+)?)$")
        halves: dict[str, dict[str, str]] = {"forward": {}, "backward": {}}
        for name in defs:
            match = pattern.match(name)
            if match:
                halves[match.group(1)][match.group(2)] = name
        pairs = [(s, f, halves["backward"].get(s)) for s, f in halves["forward"].items()]
        pairs += [(s, halves["forward"].get(""), b) for s, b in halves["backward"].items() if s not in halves["forward"]]
        for suffix, forward, backward in pairs:
            if forward is None:
                missing.append((backward, f"no {conv.stem}_forward{suffix} or {conv.stem}_forward to pair it with"))
                continue
            if backward is None:
                missing.append((forward, f"no {conv.stem}_backward{suffix}"))
                continue
            why = not_judgeable(conv, forward, backward)
            if why:
                missing.append(why)
                continue
            evenly = bool(conv.evenly) and states_evenly(forward, defs)
            found.append(Found(conv.stem + suffix, conv, forward, backward, evenly, asserted(defs[forward])))
    for name in defs:
        match = re.match(r"^(\w+?)_forward(?:_\w+)?$", name)
        if match and not any(name.startswith(stem + "_forward") for stem in known_stems):
            missing.append((name, f"no convention for {match.group(1)!r} (add one: [[tool.oracle.conventions]])"))
    return found, missing


def _outputs(conv: Convention) -> int:
    return resolve_spec(conv.op).outputs
