"""The jax convention (custom_vjp, custom_jvp, plain JAX) and the NumPy jvp convention."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import oracle
from oracle.run import check
from oracle.testing import assert_gradients


def judge_jax(code, op, dtype="float64", examples=6, convention="jax", **declared):
    plugin = oracle.Plugin("j")
    getattr(plugin, convention)(op, code, **declared)
    (verdict,) = check([plugin], dtypes=[dtype], examples=examples, seed=7, workers=0).verdicts
    return verdict


@jax.custom_vjp
def softmax(x):
    return jax.nn.softmax(x, axis=-1)


def _softmax_fwd(x):
    y = jax.nn.softmax(x, axis=-1)
    return y, y


def _softmax_bwd(y, g):
    return (y * (g - jnp.sum(g * y, axis=-1, keepdims=True)),)


softmax.defvjp(_softmax_fwd, _softmax_bwd)


@jax.custom_vjp
def softmax_diagonal_only(x):
    return jax.nn.softmax(x, axis=-1)


softmax_diagonal_only.defvjp(_softmax_fwd, lambda y, g: (y * (1 - y) * g,))


def test_a_correct_custom_vjp_passes_and_its_bwd_is_differentiated_for_second_order():
    verdict = judge_jax(softmax, "softmax")
    assert verdict.status == "passed", verdict.message
    assert "second_order" in verdict.checks
    assert "jvp (skipped: a jax.custom_vjp function has no forward mode)" in verdict.checks


def test_a_rule_compiles_with_the_reference_quick_options_on_small_inputs_and_xla_defaults_on_large(monkeypatch):
    from oracle.conventions import jax as convention
    from oracle.reference import COMPILER_OPTIONS, OPTIMISED_FROM

    options, jit = [], jax.jit
    monkeypatch.setattr(jax, "jit", lambda f, **given: options.append(given.get("compiler_options")) or jit(f, **given))
    convention._programs.cache_clear()
    plugin = oracle.Plugin("j")
    plugin.jax("tanh", jnp.tanh)
    (impl,) = plugin.implementations
    try:
        for size in (8, OPTIMISED_FROM):
            _, pullback = convention.vjp(impl, np.linspace(-1.0, 1.0, size))
            assert pullback(np.ones(size))[0].shape == (size,)
    finally:
        convention._programs.cache_clear()
    assert COMPILER_OPTIONS in options and None in options


def test_the_users_x64_setting_is_left_alone_and_float64_cases_still_compute_in_float64():
    before = jax.config.jax_enable_x64
    seen = []

    def spy(x):
        seen.append(x.dtype)
        return jnp.tanh(x)

    assert judge_jax(spy, "tanh", "float64", examples=3).status == "passed"
    assert judge_jax(spy, "tanh", "float32", examples=3).status == "passed"
    assert jax.config.jax_enable_x64 == before
    assert jnp.ones(1).dtype == (jnp.float64 if before else jnp.float32)
    assert {jnp.dtype("float64"), jnp.dtype("float32")} <= set(seen)


def test_a_wrong_custom_vjp_fails_against_the_reference():
    verdict = judge_jax(softmax_diagonal_only, "softmax")
    assert verdict.status == "failed" and verdict.check == "reference", verdict.message


@jax.custom_vjp
def mul_one_cotangent(x, y):
    return x * y


mul_one_cotangent.defvjp(lambda x, y: (x * y, (x, y)), lambda r, g: (g * r[1],))


@jax.custom_vjp
def mul_float16_cotangent(x, y):
    return x * y


mul_float16_cotangent.defvjp(lambda x, y: (x * y, (x, y)), lambda r, g: (g * r[1], (g * r[0]).astype(jnp.float16)))


def test_a_bwd_rule_of_the_wrong_structure_is_a_contract_finding():
    verdict = judge_jax(mul_one_cotangent, "mul")
    assert verdict.status == "failed" and verdict.check == "contract", verdict.message
    assert verdict.facts["contract"] == "custom_vjp_structure"


def test_a_bwd_rule_of_the_wrong_dtype_is_caught_by_the_precision_it_loses():
    # JAX casts the float16 cotangent back to the input's float32; its rounding remains.
    verdict = judge_jax(mul_float16_cotangent, "mul", "float32")
    assert verdict.status == "failed" and verdict.check in ("dtype", "mul_swaps", "reference"), verdict.message
    assert judge_jax(mul_float16_cotangent, "mul", "float16").status == "passed"


@jax.custom_jvp
def tanh_wrong_jvp(x):
    return jnp.tanh(x)


@tanh_wrong_jvp.defjvp
def _tanh_wrong_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    y = jnp.tanh(x)
    return y, t * (1 - y)            # should be 1 - y²


def test_a_wrong_custom_jvp_fails_and_reverse_mode_inherits_it():
    verdict = judge_jax(tanh_wrong_jvp, "tanh")
    assert verdict.status == "failed" and verdict.check in ("reference", "jvp"), verdict.message


@jax.custom_vjp
def tanh_stopped(x):
    return jnp.tanh(x)


def _tanh_stopped_bwd(y, g):
    return (g * (1 - jax.lax.stop_gradient(y) ** 2),)


tanh_stopped.defvjp(lambda x: (jnp.tanh(x), jnp.tanh(x)), _tanh_stopped_bwd)


def test_a_bwd_that_stops_gradients_has_wrong_second_derivatives_unless_order_1_is_declared():
    verdict = judge_jax(tanh_stopped, "tanh")
    assert verdict.status == "failed" and verdict.check == "second_order", verdict.message
    declared = judge_jax(tanh_stopped, "tanh", order=1)
    assert declared.status == "passed" and "second_order (skipped: declared order=1)" in declared.checks


@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16", "float16"])
def test_jax_nn_builtins_pass_in_every_dtype(dtype):
    for code, op in [(jax.nn.sigmoid, "sigmoid"), (lambda x: jax.nn.log_softmax(x, axis=-1), "log_softmax"),
                     (jnp.matmul, "matmul")]:
        verdict = judge_jax(code, op, dtype)
        assert verdict.status == "passed", (op, dtype, verdict.message)


def test_a_bfloat16_precision_loss_is_caught_in_bfloat16():
    def lossy(x):  # the gradient of exp an eighth too small: 16 rounding units of bfloat16
        @jax.custom_vjp
        def f(x):
            return jnp.exp(x)

        f.defvjp(lambda x: (jnp.exp(x), jnp.exp(x)), lambda y, g: (g * y * (1 - 1 / 8),))
        return f(x)

    assert judge_jax(lossy, "exp", "bfloat16", examples=10).status == "failed"


# --------------------------------------------------------------------------- NumPy forward mode

def tanh_jvp(x, t):
    y = np.tanh(x)
    return y, t * (1 - y * y)


def tanh_jvp_wrong(x, t):
    y = np.tanh(x)
    return y, t * (1 - y)


def test_a_numpy_jvp_is_judged_in_forward_mode_and_through_the_pullback_built_from_it():
    verdict = judge_jax(tanh_jvp, "tanh", convention="jvp")
    assert verdict.status == "passed", verdict.message
    assert "jvp" in verdict.checks and any(c.startswith("adjoint (skipped") for c in verdict.checks)
    wrong = judge_jax(tanh_jvp_wrong, "tanh", convention="jvp")
    assert wrong.status == "failed" and wrong.check in ("reference", "jvp")


def test_assert_gradients_recognises_jax_functions_and_takes_convention():
    assert_gradients(softmax, "softmax", dtypes=["float32"], examples=4, seed=1, workers=0)
    assert_gradients(lambda x: jnp.tanh(x), "tanh", dtypes=["bfloat16"], examples=4, seed=1, workers=0)
    assert_gradients(tanh_jvp, "tanh", convention="jvp", dtypes=["float64"], examples=4, seed=1, workers=0)
    with pytest.raises(AssertionError):
        assert_gradients(softmax_diagonal_only, "softmax", dtypes=["float64"], examples=4, seed=1, workers=0)


def test_registration_validates_declarations():
    plugin = oracle.Plugin("v")
    with pytest.raises(ValueError, match="order="):
        plugin.jax("tanh", jnp.tanh, order=3)
    with pytest.raises(ValueError, match="modes="):
        plugin.jax("tanh", jnp.tanh, modes=("sideways",))


def test_custom_rules_travel_to_worker_processes_by_cloudpickle():
    import cloudpickle

    rebuilt = cloudpickle.loads(cloudpickle.dumps(softmax))
    x = jnp.arange(3.0)
    assert jnp.allclose(jax.grad(lambda v: rebuilt(v)[0])(x), jax.grad(lambda v: softmax(v)[0])(x))
    assert jnp.allclose(cloudpickle.loads(cloudpickle.dumps(tanh_wrong_jvp))(x), jnp.tanh(x))
    plugin = oracle.Plugin("travel")
    plugin.jax("softmax", softmax)
    (verdict,) = check([plugin], dtypes=["float32"], examples=3, seed=1, workers=1).verdicts
    assert verdict.status == "passed", verdict.message


def test_the_command_line_takes_bfloat16_for_framework_code(tmp_path):
    from click.testing import CliRunner

    from oracle.cli import cli

    target = tmp_path / "rules.py"
    target.write_text("import jax.numpy as jnp\nimport oracle\nplugin = oracle.Plugin('rules')\n"
                      "plugin.jax('tanh', jnp.tanh)\n")
    result = CliRunner().invoke(cli, ["check", str(target), "--dtype", "bfloat16", "--examples", "3", "--seed", "1",
                                      "--report", str(tmp_path / "report"), "-n", "0"])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(cli, ["check", str(target), "--dtype", "float8"]).exit_code == 2
