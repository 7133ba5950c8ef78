"""The torch convention: a torch.autograd.Function subclass or any function of tensors.

    plugin.torch("layernorm", MyLayerNorm)   # called as MyLayerNorm.apply(*tensors, *hyper)
    plugin.torch("gelu", my_gelu)            # called as my_gelu(*tensors, *hyper)

Inputs become tensors of the case's dtype (float inputs share memory with the case's copies,
so an in-place change shows up in the mutation check); the differentiable ones require grad.
Reverse mode is torch.autograd.grad with the case's cotangent, forward mode is forward-mode AD
with dual tensors (it works for old- and new-style Functions that define jvp), second order is
a double backward with create_graph=True. torch is imported only when one of these runs.

torch's own complaints about a Function (the wrong number of gradients, a gradient of the wrong
shape, a gradient for a non-tensor argument, a saved tensor changed in place) become
ContractError: findings with the message, never crashes of the oracle.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..plugin import ContractError, Implementation, ModeUnsupported, StructureError

__all__ = ["vjp", "jvp", "second_order", "unsupported", "is_function_class"]

# Substrings of torch's own error messages -> (contract kind, what it means for the user).
_CONTRACTS = (
    ("incorrect number of gradients", "gradient_count", "the backward returned the wrong number of gradients"),
    ("invalid gradient at index", "gradient_shape", "the backward returned a gradient of the wrong shape or dtype"),
    ("different than None at position", "nondifferentiable_gradient",
     "the backward returned a gradient for an argument that is not a tensor (return None there)"),
    ("modified by an inplace operation", "saved_tensor_mutated",
     "a tensor saved for backward was changed in place before the backward used it"),
    ("save_for_backward can only save", "save_for_backward", "ctx.save_for_backward was given something that is not a tensor"),
    ("saved_tensors", "save_for_backward", "ctx.saved_tensors was misused"),
    ("have already been freed", "save_for_backward", "the backward used saved tensors that were already freed"),
    ("does not require grad and does not have a grad_fn", "detached",
     "the result is not connected to the inputs in autograd (detached, or computed outside torch)"),
)


def is_function_class(code: Any) -> bool:
    import torch

    return isinstance(code, type) and issubclass(code, torch.autograd.Function)


def _contract(error: BaseException, during: str) -> ContractError | None:
    text = str(error)
    for marker, kind, meaning in _CONTRACTS:
        if marker in text:
            return ContractError(kind, f"{meaning} ({during}): torch says: {text.splitlines()[0]}")
    return None


def to_tensor(value: Any, requires_grad: bool = False):
    """A NumPy array as a tensor of the same dtype (bfloat16 via float32, which holds it exactly)."""
    import torch

    array = np.asarray(value)
    if array.dtype.name == "bfloat16":
        tensor = torch.from_numpy(array.astype(np.float32)).to(torch.bfloat16)
    else:
        tensor = torch.from_numpy(array)
    return tensor.requires_grad_(True) if requires_grad else tensor


def to_numpy(value: Any) -> Any:
    """A tensor as a NumPy array of its own dtype (bfloat16 as ml_dtypes.bfloat16); anything else unchanged."""
    import torch

    if not isinstance(value, torch.Tensor):
        return value
    value = value.detach().cpu()
    if value.dtype == torch.bfloat16:
        import ml_dtypes

        return value.float().numpy().astype(ml_dtypes.bfloat16)
    return value.numpy().copy()


def _call(impl: Implementation, tensors: Sequence[Any], hyper: Sequence[Any]):
    code = impl.code
    fn = code.apply if is_function_class(code) else code
    try:
        return fn(*tensors, *hyper)
    except (RuntimeError, TypeError) as error:
        contract = _contract(error, "in the forward")
        if contract is None:
            raise
        raise contract from None


def _inputs(impl: Implementation, args: Sequence[Any], grad: bool = True):
    """(all tensors in input order, the differentiable ones, the hyper-parameters)."""
    spec = impl.spec
    n = len(spec.inputs)
    tensors, wanted = [], []
    for name, value in zip(spec.input_names, args[:n]):
        differentiable = name in spec.differentiable
        tensor = to_tensor(value, requires_grad=grad and differentiable)
        tensors.append(tensor)
        if differentiable:
            wanted.append(tensor)
    return tensors, wanted, list(args[n:])


def _outputs(impl: Implementation, out: Any) -> tuple:
    outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    import torch

    for o in outs:
        if not isinstance(o, torch.Tensor):
            raise StructureError(f"the forward returned a {type(o).__name__}, not a tensor")
    return outs


def _as_output(impl: Implementation, outs: tuple) -> Any:
    converted = tuple(to_numpy(o) for o in outs)
    return converted if impl.spec.outputs > 1 else converted[0]


def _cotangents(g: Any) -> tuple:
    return tuple(to_tensor(c) for c in (g if isinstance(g, tuple) else (g,)))


def _label_gradients(impl: Implementation, outs: tuple, tensors: list, cotangents: tuple) -> None:
    """torch drops a Function's gradient for an integer tensor silently; ask the Function's node itself."""
    spec = impl.spec
    node = outs[0].grad_fn
    if not is_function_class(impl.code) or node is None or not hasattr(node, "_forward_cls"):
        return
    labels = [i for i, t in enumerate(tensors) if not t.is_floating_point()]
    if not labels:
        return
    returned = node.apply(*cotangents)
    returned = returned if isinstance(returned, tuple) else (returned,)
    for i in labels:
        if i < len(returned) and returned[i] is not None:
            raise ContractError("nondifferentiable_gradient",
                                f"the backward returned a gradient for {spec.input_names[i]!r}, an integer input "
                                "that cannot have one (return None there)")


def vjp(impl: Implementation, *args: Any):
    import torch

    tensors, wanted, hyper = _inputs(impl, args)
    with torch.enable_grad():
        outs = _outputs(impl, _call(impl, tensors, hyper))
    checked = []

    def pullback(g):
        cotangents = _cotangents(g)
        if len(cotangents) != len(outs):
            raise StructureError(f"{len(cotangents)} upstream gradients for {len(outs)} outputs")
        try:
            grads = torch.autograd.grad(outs, wanted, cotangents, retain_graph=True, allow_unused=True,
                                        materialize_grads=True)
        except RuntimeError as error:
            contract = _contract(error, "in the backward")
            if contract is None:
                raise
            raise contract from None
        if not checked:
            checked.append(True)
            _label_gradients(impl, outs, tensors, cotangents)
        return tuple(to_numpy(g) for g in grads)

    return _as_output(impl, outs), pullback


def jvp(impl: Implementation, args: Sequence[Any], tangents: Sequence[Any]):
    """(output, tangent of each output) by forward-mode AD with dual tensors."""
    import torch
    from torch.autograd import forward_ad

    tensors, _, hyper = _inputs(impl, args, grad=False)
    names = impl.spec.input_names
    with forward_ad.dual_level():
        duals = list(tensors)
        for name, tangent in zip(impl.spec.differentiable, tangents):
            i = names.index(name)
            duals[i] = forward_ad.make_dual(tensors[i], to_tensor(tangent))
        try:
            outs = _outputs(impl, _call(impl, duals, hyper))
        except RuntimeError as error:
            if "forward AD" in str(error) or "jvp" in str(error):
                raise ModeUnsupported(f"no forward mode: {str(error).splitlines()[0]}") from None
            raise
        unpacked = [forward_ad.unpack_dual(o) for o in outs]
        primal = tuple(u.primal for u in unpacked)
        tangent = tuple(torch.zeros_like(u.primal) if u.tangent is None else u.tangent for u in unpacked)
        return _as_output(impl, primal), tuple(to_numpy(t) for t in tangent)


def second_order(impl: Implementation, args: Sequence[Any], cotangent: Sequence[Any], direction: Sequence[Any]):
    """∇ₓ ⟨pullback(v), w⟩ for each differentiable input x: the double backward with create_graph=True."""
    import torch

    tensors, wanted, hyper = _inputs(impl, args)
    with torch.enable_grad():
        outs = _outputs(impl, _call(impl, tensors, hyper))
        # The upstream gradient requires grad too, so that a backward linear in it (add, matmul's
        # dA = g·Bᵀ with respect to A) still gives a graph to differentiate.
        cotangents = tuple(to_tensor(c, requires_grad=True) for c in cotangent)
        try:
            grads = torch.autograd.grad(outs, wanted, cotangents, create_graph=True, allow_unused=True,
                                        materialize_grads=True)
            inner = sum((g * to_tensor(w)).sum() for g, w in zip(grads, direction))
            if not inner.requires_grad:
                raise ContractError("backward_detaches",
                                    "the backward's gradients are not differentiable: it detaches or leaves torch "
                                    "(NumPy, .item(), .data); declare order=1 or mark it @once_differentiable")
            second = torch.autograd.grad(inner, wanted, allow_unused=True, materialize_grads=True)
        except RuntimeError as error:
            contract = _contract(error, "in the double backward")
            if contract is None:
                raise
            if contract.kind == "detached":
                raise ContractError("backward_detaches", str(contract)) from None
            raise contract from None
    return tuple(to_numpy(s) for s in second)


def _once_differentiable(backward: Any) -> bool:
    code = getattr(backward, "__code__", None)
    return code is not None and code.co_name == "wrapper" and "autograd" in code.co_filename.replace("\\", "/")


def unsupported(impl: Implementation) -> dict[str, str]:
    """Modes this implementation does not have, by check name, with the reason; read from the code itself."""
    import torch

    code = impl.code
    reasons: dict[str, str] = {}
    if is_function_class(code):
        if code.jvp is torch.autograd.Function.jvp and (impl.modes is None or "fwd" not in impl.modes):
            reasons["jvp"] = reasons["adjoint"] = f"{code.__name__} defines no jvp (no forward mode)"
        if _once_differentiable(code.backward) and impl.order != 2:
            reasons["second_order"] = f"{code.__name__}.backward is @once_differentiable"
    return reasons
