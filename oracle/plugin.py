"""Plugins: named sets of implementations, their calling conventions, and discovery.

Every calling convention is normalised by a small adapter to one protocol:

    implementation.vjp(*inputs, *hyper) -> (output, pullback)
    pullback(cotangent) -> tuple with one gradient per differentiable input

so the checks never need to know how the user wrote their code.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .errors import TargetError
from .spec import Spec

__all__ = ["Plugin", "Implementation", "TargetError", "StructureError", "ContractError", "ModeUnsupported", "discover",
           "resolve_spec", "CONVENTIONS", "MODES"]

ENTRY_POINT_GROUP = "oracle.plugins"
_FILE_MODULE_PREFIX = "_oracle_target_"
CONVENTIONS = ("pullback", "layer", "gate", "value_and_grad", "loss", "torch", "jax", "jvp")
# Conventions whose adapters live in oracle.conventions and are imported only when used.
FRAMEWORK_CONVENTIONS = {"torch": "torch", "jax": "jax", "jvp": "jvp"}
MODES = ("rev", "fwd")   # reverse mode (pullback) and forward mode (jvp)


class StructureError(Exception):
    """An implementation returned something that is not of the protocol's shape."""


class ContractError(StructureError):
    """A framework's contract broken (a torch.autograd.Function's backward, a jax.custom_vjp rule): a finding."""

    check = "contract"

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def facts(self) -> dict:
        return {"contract": self.kind}


class ModeUnsupported(Exception):
    """The implementation has no such mode (forward mode, a differentiable backward); reason in the message."""


def resolve_spec(op: str | Spec) -> Spec:
    if isinstance(op, Spec):
        return op
    from oracle.specs import get  # the catalogue imports JAX; only load it when a name is used

    return get(op)


def _as_grads(spec: Spec, returned: Any) -> tuple:
    """One gradient per differentiable input, from whatever sequence the user's backward returned."""
    wanted = spec.differentiable
    if isinstance(returned, dict):  # {"x": dx, "w": dw}
        missing = [n for n in wanted if n not in returned]
        if missing:
            raise StructureError(f"backward returned a dict without {', '.join(map(repr, missing))}")
        return tuple(returned[n] for n in wanted)
    if isinstance(returned, (list, tuple)):
        grads = tuple(returned)
    else:
        grads = (returned,)
    every = spec.input_names
    while len(grads) > len(every) and grads[-1] is None:  # None slots for hyper-parameters
        grads = grads[:-1]
    if len(grads) == len(wanted):
        return grads
    if len(grads) == len(every):  # a gradient slot (maybe None) for every input, labels too
        return tuple(g for g, n in zip(grads, every) if n in wanted)
    raise StructureError(
        f"backward returned {len(grads)} gradient(s); {spec.name} needs {len(wanted)} "
        f"({', '.join(wanted)})"
    )


def _is_multi(spec: Spec) -> bool:
    return spec.outputs > 1


@dataclass
class Implementation:
    """Gradient code under test for one spec, behind the common vjp protocol."""

    spec: Spec
    convention: str
    code: Any                      # the user's function, class or (forward, backward) pair
    plugin: str
    label: str                     # unique within the plugin; the op name unless a variant
    dtypes: tuple[str, ...] | None = None
    target: str | None = None      # how to find the plugin again, for reproduce commands
    order: int | None = None       # declared: 1 = first derivatives only, 2 = its pullback is differentiable too
    modes: tuple[str, ...] | None = None   # declared: "rev" (pullback), "fwd" (jvp)
    # A float64 gradient for a float32 input: "fail" the verdict, or "warn" (reported, values still judged).
    float64_grads: str = "fail"

    @property
    def op(self) -> str:
        return self.spec.name

    @property
    def source(self) -> str:
        """'module:qualname' of the user's code, for listings and reports."""
        code = self.code[0] if isinstance(self.code, tuple) else self.code
        module = getattr(code, "__module__", "?")
        if module.startswith(_FILE_MODULE_PREFIX):  # imported from a path: name the file instead
            module = os.path.basename(getattr(sys.modules.get(module), "__file__", None) or module)
        return f"{module}:{getattr(code, '__qualname__', repr(code))}"

    def vjp(self, *args: Any) -> tuple[Any, Callable[[Any], tuple]]:
        if self.convention in FRAMEWORK_CONVENTIONS:
            return self.adapter().vjp(self, *args)
        return _ADAPTERS[self.convention](self, *args)

    def jvp(self, args: tuple, tangents: list) -> tuple[Any, tuple]:
        """(output, tangent of each output) along one tangent per differentiable input; framework conventions only."""
        return self.adapter().jvp(self, args, tangents)

    def second_order(self, args: tuple, cotangent: list, direction: list) -> tuple:
        """∇ₓ ⟨pullback(cotangent), direction⟩ for each differentiable input x; torch and jax only."""
        return self.adapter().second_order(self, args, cotangent, direction)

    def adapter(self) -> Any:
        """The oracle.conventions module of a framework convention (torch, jax, jvp); None for the others."""
        module = FRAMEWORK_CONVENTIONS.get(self.convention)
        return importlib.import_module(f"oracle.conventions.{module}") if module else None


# -- adapters: each turns one calling convention into (output, pullback)

def _pullback_adapter(impl: Implementation, *args: Any):
    returned = impl.code(*args)
    if not isinstance(returned, (tuple, list)) or len(returned) != 2 or not callable(returned[1]):
        raise StructureError(f"a pullback implementation must return (output, pullback); got {describe_value(returned)}"
                             + convention_hint(returned))
    out, pb = returned
    return out, lambda g: _as_grads(impl.spec, pb(g))


def _layer_adapter(impl: Implementation, *args: Any):
    forward, backward = impl.code
    returned = forward(*args)
    if not isinstance(returned, (tuple, list)) or len(returned) != 2:
        raise StructureError(f"a layer's forward must return (out, cache); got {describe_value(returned)}")
    out, cache = returned
    return out, lambda g: _as_grads(impl.spec, backward(g, cache))


def _gate_adapter(impl: Implementation, *args: Any):
    gate = impl.code()
    out = gate.forward(*args)

    def pullback(g):
        return _as_grads(impl.spec, gate.backward(*g) if _is_multi(impl.spec) else gate.backward(g))

    return out, pullback


def _scaled(grads: tuple, c: Any) -> tuple:
    import numpy as np

    # Computed at an upstream gradient of 1; the chain rule scales it by the real upstream.
    return tuple(None if g is None else np.asarray(g) * np.asarray(c, dtype=np.asarray(g).dtype) for g in grads)


def _value_and_grad_adapter(impl: Implementation, *args: Any):
    returned = impl.code(*args)
    if not isinstance(returned, (tuple, list)) or len(returned) != 2:
        raise StructureError(f"a value_and_grad implementation must return (loss, grads); got {describe_value(returned)}")
    loss, grads = returned
    grads = _as_grads(impl.spec, grads)
    return loss, lambda c: _scaled(grads, c)


def _loss_adapter(impl: Implementation, *args: Any):
    spec = impl.spec
    n = len(spec.inputs)
    values = dict(zip(spec.input_names, args[:n]))
    weights = {w: values[w] for w in spec.weight_names}
    data = [values[name] for name in spec.input_names if name not in weights] + list(args[n:])
    returned = impl.code(weights, *data)
    if not isinstance(returned, (tuple, list)) or len(returned) != 2 or not isinstance(returned[1], dict):
        raise StructureError(f"a loss implementation must return (loss, {{name: grad}}); got {describe_value(returned)}")
    loss, by_name = returned
    missing = [name for name in spec.differentiable if name not in by_name]
    if missing:
        raise StructureError(f"the gradient dict has no entry for {', '.join(map(repr, missing))}")
    grads = tuple(by_name[name] for name in spec.differentiable)
    return loss, lambda c: _scaled(grads, c)


_ADAPTERS = {
    "pullback": _pullback_adapter,
    "layer": _layer_adapter,
    "gate": _gate_adapter,
    "value_and_grad": _value_and_grad_adapter,
    "loss": _loss_adapter,
}


def convention_hint(returned: Any) -> str:
    """'; it looks like ...': the convention a pullback's wrong return value suggests, or ''."""
    import numpy as np

    if not isinstance(returned, (tuple, list)) or len(returned) != 2:
        return ""
    first, second = returned
    arrays = (np.ndarray, np.generic, float, int)
    is_scalar = isinstance(first, arrays) and np.ndim(first) == 0
    grads_like = isinstance(second, (np.ndarray, dict)) or (
        isinstance(second, (tuple, list)) and second and all(isinstance(g, np.ndarray) or g is None for g in second))
    if is_scalar and grads_like:   # softmax_loss(x, y) -> (loss, dx)
        return ("; it looks like (loss, gradient): register it with plugin.value_and_grad(...), "
                "or pass convention='value_and_grad' to assert_gradients")
    if isinstance(first, np.ndarray):   # affine_forward(x, w, b) -> (out, cache)
        return ("; it looks like a layer's forward returning (out, cache): register it with "
                "plugin.layer(op, forward=..., backward=...), or pass (forward, backward) to assert_gradients")
    return ""


def describe_value(value: Any) -> str:
    """'a tuple of 2', 'None', 'an array of dtype object', 'a str': what came back, for messages."""
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    if value is None:
        return "None"
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        return f"an array of dtype {value.dtype}"
    return f"a {type(value).__name__}"


def _defining_file() -> str | None:
    """The .py file that creates a Plugin at module level: discovery can find it there again."""
    frame = sys._getframe(2)
    filename = frame.f_code.co_filename
    if frame.f_code.co_name != "<module>" or not filename.endswith(".py") or not os.path.isfile(filename):
        return None
    if frame.f_globals.get("__name__", "").startswith("oracle."):
        return None  # built-in plugins are found by their entry-point names
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive
        return filename
    return filename if relative.startswith("..") else relative


class Plugin:
    """A named set of implementations.

        plugin = oracle.Plugin("mypkg")

        @plugin.pullback("matmul")
        def matmul(a, b):
            return a @ b, lambda g: (g @ b.T, a.T @ g)
    """

    def __init__(self, name: str, *, float64_grads: str = "fail") -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a plugin needs a non-empty name")
        if float64_grads not in ("fail", "warn"):
            raise ValueError(f"float64_grads= is 'fail' or 'warn', got {float64_grads!r}")
        self.name = name
        # A float64 gradient for a float32 input fails the verdict ("fail"), or is reported and its values judged.
        self.float64_grads = float64_grads
        self.implementations: list[Implementation] = []
        self.target: str | None = _defining_file()

    def __repr__(self) -> str:
        return f"Plugin({self.name!r}, {len(self.implementations)} implementations)"

    def _add(self, op: str | Spec, convention: str, code: Any, name: str | None, dtypes: Iterable[str] | None,
             order: int | None = None, modes: Iterable[str] | None = None) -> None:
        if order not in (None, 1, 2):
            raise ValueError(f"order= is 1 (first derivatives only) or 2 (differentiable twice), got {order!r}")
        if modes is not None:
            modes = (modes,) if isinstance(modes, str) else tuple(modes)
            unknown = [m for m in modes if m not in MODES]
            if unknown or not modes:
                raise ValueError(f"modes= takes {' and '.join(map(repr, MODES))}, got {modes!r}")
        spec = resolve_spec(op)
        label = name or spec.name
        if any(i.label == label for i in self.implementations):
            raise ValueError(
                f"plugin {self.name!r} already has an implementation named {label!r}; "
                f"pass name='...' to register a second one of {spec.name!r}"
            )
        self.implementations.append(
            Implementation(spec, convention, code, self.name, label, tuple(dtypes) if dtypes else None, self.target,
                           order, modes, float64_grads=self.float64_grads)
        )

    def pullback(self, op: str | Spec, fn: Callable | None = None, *, name: str | None = None, dtypes: Iterable[str] | None = None):
        """f(*inputs, *hyper) -> (out, pullback); pullback(g) -> tuple of grads. Usable as a decorator."""
        return self._register(op, "pullback", fn, name, dtypes)

    def gate(self, op: str | Spec, cls: type | None = None, *, name: str | None = None, dtypes: Iterable[str] | None = None):
        """A class with forward(*inputs, *hyper) and backward(dout) (one dout per output). A fresh instance per call."""
        return self._register(op, "gate", cls, name, dtypes)

    def value_and_grad(self, op: str | Spec, fn: Callable | None = None, *, name: str | None = None, dtypes: Iterable[str] | None = None):
        """f(*inputs, *hyper) -> (scalar loss, grad or tuple of grads)."""
        return self._register(op, "value_and_grad", fn, name, dtypes)

    def loss(self, op: str | Spec, fn: Callable | None = None, *, name: str | None = None, dtypes: Iterable[str] | None = None):
        """f(weights dict, *data, *hyper) -> (scalar loss, {name: grad})."""
        return self._register(op, "loss", fn, name, dtypes)

    def layer(self, op: str | Spec, forward: Callable, backward: Callable, *, name: str | None = None, dtypes: Iterable[str] | None = None) -> None:
        """forward(*inputs, *hyper) -> (out, cache); backward(dout, cache) -> grad or tuple of grads."""
        if not callable(forward) or not callable(backward):
            raise TypeError("layer() needs callable forward= and backward=")
        self._add(op, "layer", (forward, backward), name, dtypes)

    def torch(self, op: str | Spec, fn: Callable | None = None, *, name: str | None = None,
              dtypes: Iterable[str] | None = None, order: int | None = None, modes: Iterable[str] | None = None):
        """A torch.autograd.Function subclass (called as Fn.apply(*tensors, *hyper)) or any function of tensors.

        Inputs become tensors of the case's dtype; gradients come from torch.autograd. order=1 says the
        backward is not differentiable; modes=("rev",) says there is no forward mode.
        """
        return self._register(op, "torch", fn, name, dtypes, order, modes)

    def jax(self, op: str | Spec, fn: Callable | None = None, *, name: str | None = None,
            dtypes: Iterable[str] | None = None, order: int | None = None, modes: Iterable[str] | None = None):
        """A JAX function of arrays (often with jax.custom_vjp or jax.custom_jvp), judged by jax.vjp and jax.jvp."""
        importlib.import_module("oracle.conventions.jax")   # custom_vjp/custom_jvp rules can then go to workers
        return self._register(op, "jax", fn, name, dtypes, order, modes)

    def jvp(self, op: str | Spec, fn: Callable | None = None, *, name: str | None = None, dtypes: Iterable[str] | None = None):
        """NumPy forward mode: f(*inputs, *hyper, *tangents) -> (out, tangent_out), one tangent per differentiable input."""
        return self._register(op, "jvp", fn, name, dtypes, None, ("fwd",))

    def _register(self, op, convention, code, name, dtypes, order=None, modes=None):
        if code is None:
            def decorator(fn):
                self._add(op, convention, fn, name, dtypes, order, modes)
                return fn
            return decorator
        if not callable(code):
            raise TypeError(f"{convention}() needs a callable, got {type(code).__name__}")
        self._add(op, convention, code, name, dtypes, order, modes)
        return code

    def with_target(self, target: str) -> "Plugin":
        self.target = target
        for impl in self.implementations:
            impl.target = target
        return self


# Discovery lives in its own module; these names are part of this module's interface too.
from .discovery import _import_path, discover, installed_plugins, source_lines  # noqa: E402,F401
