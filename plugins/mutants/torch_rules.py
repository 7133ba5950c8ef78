"""Wrong torch.autograd.Function rules: the mistakes people make writing a custom backward or jvp.

Each is right in every way but one. Registered only when torch is installed.
"""

from __future__ import annotations

import torch


class _SavedTanh(torch.autograd.Function):
    """tanh with its output saved for both modes; subclasses get one rule wrong."""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        ctx.save_for_forward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y * y)

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved_tensors
        return t * (1 - y * y)


class TanhWrongJvp(_SavedTanh):
    """The forward-mode rule forgets the square: t·(1 − y)."""

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved_tensors
        return t * (1 - y)


class TanhJvpIgnoresTangent(_SavedTanh):
    """The forward-mode rule returns the derivative, not the derivative times the tangent."""

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved_tensors
        return (1 - y * y).expand_as(t)


class TanhBackwardThroughNumpy(_SavedTanh):
    """Right gradients, computed in NumPy: the double backward silently loses them."""

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return torch.from_numpy(g.detach().numpy() * (1 - y.detach().numpy() ** 2))


class TanhBackwardDetaches(_SavedTanh):
    """Right gradients; y detached in the backward, so its second derivative is missing a term."""

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y.detach() ** 2)


class MatmulTransposedBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g @ b.T, (a.T @ g).T       # dB transposed


class MulGradientsInWrongOrder(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * x, g * y               # (dx, dy) given as (dy, dx)


class MulTooFewGradients(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * y                      # the gradient for y forgotten


class LeakyReluGradForSlope(torch.autograd.Function):
    """A gradient for the hyper-parameter alpha, which is not a tensor: should be None."""

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return torch.where(x > 0, x, alpha * x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, g, ctx.alpha * g), (g * torch.where(x > 0, 0, x)).sum()


class CrossEntropyIgnoresNeedsInputGrad(torch.autograd.Function):
    """ctx.needs_input_grad ignored: a gradient returned for the integer labels too."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return torch.nn.functional.cross_entropy(x, y)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        p = torch.softmax(x, dim=1)
        p[torch.arange(len(y)), y] -= 1
        return g * p / len(y), torch.zeros_like(y)


class ExpRightOnlyInFloat32(torch.autograd.Function):
    """The backward computes in float32 whatever the input: right for float32 only."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.exp(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (g.float() * torch.exp(x.float())).to(x.dtype)


class SigmoidBfloat16Loss(torch.autograd.Function):
    """In bfloat16 the backward rounds σ to quarters (a lookup table): a loss only bfloat16 shows."""

    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        if s.dtype == torch.bfloat16:
            s = torch.round(s * 4) / 4
        return g * s * (1 - s)


class ExpResidualMutated(torch.autograd.Function):
    """The backward multiplies into its saved residual in place: the second backward is wrong."""

    @staticmethod
    def forward(ctx, x):
        y = torch.exp(x)
        ctx.save_for_backward(y.clone())
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return y.mul_(g)


class ReluMaskFromUpstream(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.relu(x)

    @staticmethod
    def backward(ctx, g):
        return torch.where(g > 0, g, torch.zeros_like(g))


def softmax_diagonal_only(x):
    """A function of tensors with a Function inside: the Jacobian's off-diagonal term forgotten."""
    return _SoftmaxDiagonal.apply(x)


class _SoftmaxDiagonal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.softmax(x, dim=-1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y * (1 - y)


def exp_saved_output_changed(x):
    """An in-place change of a tensor autograd saved: torch refuses the backward."""
    y = torch.exp(x)
    y.mul_(1.0)
    return y


def register(plugin) -> None:
    plugin.torch("tanh", TanhWrongJvp, name="tanh_torch_wrong_jvp")
    plugin.torch("tanh", TanhJvpIgnoresTangent, name="tanh_torch_jvp_ignores_tangent")
    plugin.torch("tanh", TanhBackwardThroughNumpy, name="tanh_torch_backward_through_numpy")
    plugin.torch("tanh", TanhBackwardDetaches, name="tanh_torch_backward_detaches")
    plugin.torch("matmul", MatmulTransposedBackward, name="matmul_torch_transposed_backward")
    plugin.torch("mul", MulGradientsInWrongOrder, name="mul_torch_gradients_in_wrong_order")
    plugin.torch("mul", MulTooFewGradients, name="mul_torch_too_few_gradients")
    plugin.torch("leaky_relu", LeakyReluGradForSlope, name="leaky_relu_torch_grad_for_slope")
    plugin.torch("softmax_cross_entropy", CrossEntropyIgnoresNeedsInputGrad, name="cross_entropy_torch_needs_input_grad_ignored")
    plugin.torch("exp", ExpRightOnlyInFloat32, name="exp_torch_float32_only")
    plugin.torch("sigmoid", SigmoidBfloat16Loss, name="sigmoid_torch_bfloat16_loss", dtypes=("bfloat16",))
    plugin.torch("exp", ExpResidualMutated, name="exp_torch_residual_mutated")
    plugin.torch("relu", ReluMaskFromUpstream, name="relu_torch_mask_from_upstream")
    plugin.torch("softmax", softmax_diagonal_only, name="softmax_torch_diagonal_only")
    plugin.torch("exp", exp_saved_output_changed, name="exp_torch_saved_output_changed")
