"""The torch convention: a torch.autograd.Function or a function of tensors, judged in every mode it has."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import oracle  # noqa: E402
from oracle.run import check  # noqa: E402
from oracle.testing import assert_gradients  # noqa: E402
from torch.autograd.function import once_differentiable  # noqa: E402
from oracle.plugins.mutants.torch_rules import TanhWrongJvp  # noqa: E402  (the labelled mutant: t·(1 − y))


def judge_torch(code, op, dtype="float64", examples=6, **declared):
    plugin = oracle.Plugin("t")
    plugin.torch(op, code, **declared)
    (verdict,) = check([plugin], dtypes=[dtype], examples=examples, seed=7, workers=0).verdicts
    return verdict


class Tanh(torch.autograd.Function):
    """A correct Function with backward and jvp, both differentiable."""

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


class TanhNoJvp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y * y)


def test_a_correct_function_passes_every_mode_including_forward_and_second_order():
    verdict = judge_torch(Tanh, "tanh")
    assert verdict.status == "passed", verdict.message
    assert {"contract", "jvp", "adjoint", "second_order"} <= set(verdict.checks)


def test_torch_builtins_pass_in_float64_and_float32():
    for code, op in [(torch.tanh, "tanh"), (torch.matmul, "matmul"), (torch.nn.functional.relu, "relu")]:
        for dtype in ("float64", "float32"):
            verdict = judge_torch(code, op, dtype)
            assert verdict.status == "passed", (op, dtype, verdict.message)


def test_second_order_terms_that_cancel_inside_layer_norm_are_allowed_their_float32_rounding():
    # Two features normalise to ±1 whatever x is, so the second-order product (about 1e-3) is what is
    # left of terms near 1: torch's float32 lands 3e-3 of it away, as any float32 algorithm may.
    from oracle.cases import build_case
    from oracle.checks import run_checks
    from oracle.plugin import discover

    impl = next(i for p in discover("builtins") for i in p.implementations if i.label == "layernorm_torch")
    case = build_case(impl.spec, "float32", {"n": 1, "d": 2}, (), {"eps": 1e-5}, 61882)
    finding, _ = run_checks(impl, case)
    assert finding is None, finding.message


def test_linearity_allows_each_pullback_the_rounding_its_own_upstream_gradient_brings():
    # One feature: the true gradient for x is 0, and torch's is rounding noise proportional to the
    # upstream gradient. The case's first upstream is small (0.012), the linearity check's second is not.
    from oracle.cases import build_case
    from oracle.checks import run_checks
    from oracle.plugin import discover

    impl = next(i for p in discover("builtins") for i in p.implementations if i.label == "layernorm_torch")
    case = build_case(impl.spec, "float64", {"n": 1, "d": 1}, (), {"eps": 1e-5}, 4297274774)
    finding, _ = run_checks(impl, case)
    assert finding is None, finding.message


def test_a_function_without_jvp_gets_forward_mode_skipped_with_the_reason():
    verdict = judge_torch(TanhNoJvp, "tanh")
    assert verdict.status == "passed", verdict.message
    assert "jvp (skipped: TanhNoJvp defines no jvp (no forward mode))" in verdict.checks
    assert "second_order" in verdict.checks


def test_declaring_forward_mode_without_a_jvp_fails():
    verdict = judge_torch(TanhNoJvp, "tanh", modes=("rev", "fwd"))
    assert verdict.status == "failed" and verdict.check == "jvp"
    assert "declared modes=('rev', 'fwd')" in verdict.message


class TanhOnce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return torch.from_numpy(g.numpy() * (1 - y.numpy() ** 2))


def test_once_differentiable_skips_second_order_and_order_1_says_the_same():
    verdict = judge_torch(TanhOnce, "tanh")
    assert verdict.status == "passed", verdict.message
    assert "second_order (skipped: TanhOnce.backward is @once_differentiable)" in verdict.checks
    assert "second_order (skipped: declared order=1)" in judge_torch(TanhNoJvp, "tanh", order=1).checks


def test_declaring_order_2_for_a_once_differentiable_backward_fails():
    verdict = judge_torch(TanhOnce, "tanh", order=2)
    assert verdict.status == "failed"
    assert verdict.check in ("second_order", "call")


class TanhThroughNumpy(torch.autograd.Function):
    """Right first derivatives, but the backward leaves torch: its double backward silently breaks."""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return torch.from_numpy(g.detach().numpy() * (1 - y.detach().numpy() ** 2))


class TanhDetachedOutput(torch.autograd.Function):
    """Right first derivatives; the backward treats y as a constant, so the second derivative is wrong."""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y.detach() ** 2)


def test_a_backward_that_leaves_torch_is_a_contract_finding():
    verdict = judge_torch(TanhThroughNumpy, "tanh")
    assert verdict.status == "failed" and verdict.check == "contract", verdict.message
    assert verdict.facts["contract"] == "backward_detaches"
    assert "order=1" in verdict.message


def test_a_backward_that_detaches_part_of_its_graph_has_wrong_second_derivatives():
    verdict = judge_torch(TanhDetachedOutput, "tanh")
    assert verdict.status == "failed" and verdict.check == "second_order", verdict.message
    assert "second-order" in verdict.message


def test_a_wrong_forward_mode_rule_fails_the_jvp_check():
    verdict = judge_torch(TanhWrongJvp, "tanh")
    assert verdict.status == "failed" and verdict.check == "jvp", verdict.message


def test_the_adjoint_check_catches_modes_that_disagree_without_any_reference():
    no_reference = oracle.Spec("my_tanh", inputs={"x": "*batch n"})
    verdict = judge_torch(TanhWrongJvp, no_reference)
    assert verdict.status == "failed" and verdict.check == "adjoint", verdict.message
    assert "⟨J·u, v⟩" in verdict.message
    assert judge_torch(Tanh, no_reference).status == "passed"


class MulTooFew(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return (g * y,)


class MulWrongShape(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * y, (g * x).sum()[None, None, None]


class LeakyGradForSlope(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return torch.where(x > 0, x, alpha * x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, g, ctx.alpha * g), (g * x).sum()


def exp_mutates_saved(x):
    y = torch.exp(x)   # exp saves its result for the backward
    y.mul_(1.0)        # an in-place change of it (of no value here): torch's version counter notices
    return y


class ExpSavesAList(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.exp(x)
        ctx.save_for_backward([y])
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class CrossEntropyGradForLabels(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        loss = torch.nn.functional.cross_entropy(x, y)
        ctx.save_for_backward(x, y)
        return loss

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        p = torch.softmax(x, dim=1)
        p[torch.arange(len(y)), y] -= 1
        return g * p / len(y), torch.ones_like(y)


@pytest.mark.parametrize("code, op, kind", [
    (MulTooFew, "mul", "gradient_count"),
    (MulWrongShape, "mul", "gradient_shape"),
    (LeakyGradForSlope, "leaky_relu", "nondifferentiable_gradient"),
    (exp_mutates_saved, "exp", "saved_tensor_mutated"),
    (ExpSavesAList, "exp", "save_for_backward"),
    (CrossEntropyGradForLabels, "softmax_cross_entropy", "nondifferentiable_gradient"),
])
def test_contract_errors_become_findings_that_name_the_contract(code, op, kind):
    verdict = judge_torch(code, op)
    assert verdict.status == "failed" and verdict.check == "contract", verdict.message
    assert verdict.facts["contract"] == kind


def test_inputs_are_tensors_of_the_case_dtype_that_require_grad():
    seen = []

    def spy(x):
        seen.append((x.dtype, x.requires_grad))
        return torch.tanh(x)

    judge_torch(spy, "tanh", dtype="float32", examples=2)
    assert (torch.float32, True) in seen


def test_assert_gradients_recognises_a_function_class_and_a_torch_function():
    assert_gradients(Tanh, "tanh", dtypes=["float64"], examples=4, seed=1, workers=0)
    assert_gradients(lambda a, b: torch.matmul(a, b), "matmul", dtypes=["float32"], examples=4, seed=1, workers=0)
    with pytest.raises(AssertionError, match="second"):
        assert_gradients(TanhDetachedOutput, "tanh", dtypes=["float64"], examples=4, seed=1, workers=0)


def test_a_numpy_implementation_asked_for_bfloat16_is_skipped_with_the_reason():
    plugin = oracle.Plugin("np")
    plugin.pullback("tanh", lambda x: (np.tanh(x), lambda g: g * (1 - np.tanh(x) ** 2)))
    (verdict,) = check([plugin], dtypes=["bfloat16"], examples=2, seed=1, workers=0).verdicts
    assert verdict.status == "skipped"
    assert "torch and jax conventions only" in verdict.message


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_torch_builtins_pass_in_half_precision(dtype):
    import torch.nn.functional as F

    for code, op in [(torch.tanh, "tanh"), (torch.matmul, "matmul"), (lambda x: F.softmax(x, dim=-1), "softmax"),
                     (F.mse_loss, "mse")]:
        verdict = judge_torch(code, op, dtype, examples=8)
        assert verdict.status == "passed", (op, dtype, verdict.message)


class SigmoidLossyInBfloat16(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        if s.dtype == torch.bfloat16:
            s = torch.round(s * 4) / 4        # a table of quarters, for bfloat16 only
        return g * s * (1 - s)


def test_a_precision_loss_only_bfloat16_shows_is_caught_in_bfloat16_and_nowhere_else():
    assert judge_torch(SigmoidLossyInBfloat16, "sigmoid", "float32").status == "passed"
    assert judge_torch(SigmoidLossyInBfloat16, "sigmoid", "bfloat16", examples=25).status == "failed"


def test_torch_implementations_travel_to_worker_processes():
    verdicts = check([_plugin_of(Tanh, "tanh")], dtypes=["float64"], examples=3, seed=1, workers=1).verdicts
    assert [v.status for v in verdicts] == ["passed"], verdicts[0].message


def _plugin_of(code, op):
    plugin = oracle.Plugin("travel")
    plugin.torch(op, code)
    return plugin


def test_a_function_of_tensors_around_a_function_without_jvp_has_forward_mode_skipped_unless_declared():
    def wrapped(x):
        return TanhNoJvp.apply(x) * 1.0

    assert judge_torch(wrapped, "tanh").status == "passed"
    declared = judge_torch(wrapped, "tanh", modes=("rev", "fwd"))
    assert declared.status == "failed" and declared.check == "jvp"
    assert "no forward mode" in declared.message


def test_declaring_order_2_holds_the_function_to_its_second_derivatives():
    assert judge_torch(Tanh, "tanh", order=2).status == "passed"
    verdict = judge_torch(TanhDetachedOutput, "tanh", order=2)
    assert verdict.status == "failed" and verdict.check == "second_order"
