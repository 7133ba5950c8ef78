"""A custom torch.autograd.Function for layer normalisation, checked by the oracle.

The backward is written by hand in torch ops (so it is itself differentiable: second order
works), the forward saves what the backward needs. Check it from the command line:

    oracle check examples/torch_custom_function.py --dtype float64 --dtype float32 --dtype bfloat16

or run this file, which does the same with assert_gradients, as a test would.
"""

import torch

import oracle


class LayerNorm(torch.autograd.Function):
    """y = γ·(x − mean)/√(var + ε) + β over each row; LayerNorm.apply(x, gamma, beta, eps).

    The backward recomputes the statistics from the saved input in torch ops. Saving x̂ and
    1/σ from the forward instead gives the same first derivatives, but the forward runs without
    autograd, so they would be constants to a double backward: the oracle's second_order check
    fails such a Function (or declare order=1 for it).
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        ctx.save_for_backward(x, gamma)
        ctx.eps = eps
        return _normalise(x, eps) * gamma + beta

    @staticmethod
    def backward(ctx, g):
        x, gamma = ctx.saved_tensors
        xhat = _normalise(x, ctx.eps)
        rstd = torch.rsqrt(x.var(dim=-1, unbiased=False, keepdim=True) + ctx.eps)
        d = x.shape[-1]
        dxhat = g * gamma
        dx = rstd / d * (d * dxhat - dxhat.sum(-1, keepdim=True) - xhat * (dxhat * xhat).sum(-1, keepdim=True))
        return dx, (g * xhat).sum(0), g.sum(0), None     # None: eps is not a tensor


def _normalise(x, eps):
    mean = x.mean(dim=-1, keepdim=True)
    return (x - mean) * torch.rsqrt(x.var(dim=-1, unbiased=False, keepdim=True) + eps)


plugin = oracle.Plugin("torch_example")
plugin.torch("layernorm", LayerNorm)      # no jvp: forward mode is skipped, with the reason


if __name__ == "__main__":
    from oracle.testing import assert_gradients

    run = assert_gradients(LayerNorm, "layernorm", dtypes=["float64", "float32", "bfloat16"], examples=30, seed=0)
    for verdict in run.verdicts:
        print(f"{verdict.implementation} {verdict.dtype}: {verdict.status}, {verdict.message}")
    print("checks:", ", ".join(run.verdicts[0].checks))
