"""The torch, jax and NumPy forward-mode mutants and their labels; torch's only when torch is installed."""

from __future__ import annotations

import importlib.util

from . import Bug, forward_mode, jax_rules

BUGS: dict[str, Bug] = {
    # torch.autograd.Function rules
    "tanh_torch_wrong_jvp": Bug("wrong forward-mode rule", ()),
    "tanh_torch_jvp_ignores_tangent": Bug("wrong forward-mode rule", ()),
    "tanh_torch_backward_through_numpy": Bug("double backward broken: the backward leaves the framework", ()),
    "tanh_torch_backward_detaches": Bug("double backward wrong: the backward detaches", ()),
    # torch refuses the transposed dB itself (a contract finding), so no diagnosis is asked of it.
    "matmul_torch_transposed_backward": Bug("transposed gradient", ()),
    "mul_torch_gradients_in_wrong_order": Bug("gradients returned in the wrong order", ()),
    "mul_torch_too_few_gradients": Bug("framework contract broken", ()),
    "leaky_relu_torch_grad_for_slope": Bug("framework contract broken", ()),
    "cross_entropy_torch_needs_input_grad_ignored": Bug("framework contract broken", ()),
    "exp_torch_float32_only": Bug("rule right only for float32", ()),
    "sigmoid_torch_bfloat16_loss": Bug("precision lost only in bfloat16", ()),
    "exp_torch_residual_mutated": Bug("residual mutated in place", ()),
    "relu_torch_mask_from_upstream": Bug("ReLU mask taken from the wrong tensor", ()),
    "softmax_torch_diagonal_only": Bug("softmax missing its off-diagonal term", ()),
    "exp_torch_saved_output_changed": Bug("framework contract broken", ()),
    # jax.custom_vjp / custom_jvp rules
    "softmax_jax_diagonal_only": Bug("softmax missing its off-diagonal term", ()),
    "mul_jax_bwd_one_cotangent": Bug("framework contract broken", ()),
    "mul_jax_bwd_float16_cotangent": Bug("gradient of the wrong dtype", ()),
    "tanh_jax_bwd_stops_gradient": Bug("double backward wrong: the backward detaches", ()),
    "exp_jax_float32_only": Bug("rule right only for float32", ()),
    "matmul_jax_transposed_bwd": Bug("transposed gradient", ()),
    "sigmoid_jax_bfloat16_loss": Bug("precision lost only in bfloat16", ()),
    "tanh_jax_wrong_custom_jvp": Bug("wrong forward-mode rule", ()),
    "log_softmax_jax_jvp_missing_term": Bug("wrong forward-mode rule", ()),
    # NumPy forward mode
    "tanh_jvp_derivative_at_input": Bug("wrong forward-mode rule", ()),
    "sigmoid_jvp_ignores_tangent": Bug("wrong forward-mode rule", ()),
    "mul_jvp_one_term": Bug("wrong forward-mode rule", ()),
}


def register(plugin) -> None:
    forward_mode.register(plugin)
    jax_rules.register(plugin)
    if importlib.util.find_spec("torch") is not None:
        from . import torch_rules

        torch_rules.register(plugin)
