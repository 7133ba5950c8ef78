"""The public Python API: specs, plugin registration in every calling convention, assert_gradients, JSON."""

import json

import numpy as np
import pytest

import oracle
from conftest import verdict_of
from oracle.result import Run, Verdict, write_atomic


# -- specs

def test_a_user_writes_a_spec_for_their_own_op_in_a_few_lines():
    import jax.numpy as jnp

    swish = oracle.Spec("swish", inputs={"x": "*batch n"}, reference=lambda x: x / (1 + jnp.exp(-x)), math="x·σ(x)")

    def swish_pullback(x):
        s = 1 / (1 + np.exp(-x))
        return x * s, lambda g: (g * (s + x * s * (1 - s)),)

    assert verdict_of(swish_pullback, swish).status == "passed"
    wrong = verdict_of(lambda x: (x / (1 + np.exp(-x)), lambda g: (g / (1 + np.exp(-x)),)), swish)
    assert (wrong.status, wrong.check) == ("failed", "reference")


@pytest.mark.parametrize("kwargs, words", [
    (dict(inputs={"x": "n k!"}), "neither a dim name nor a literal size"),
    (dict(inputs={"x": "n *batch *batch"}), "'\\*batch' appears twice"),
    (dict(inputs={"x": "n *rest"}), "only '\\*batch' may be starred"),
    (dict(inputs={"x": "n"}, hyper={"x": oracle.choice(1)}), "both as input and hyper-parameter"),
    (dict(inputs={"x": "n"}, properties=("magic",)), "unknown properties"),
    (dict(inputs={"y": oracle.labels("n", classes="c")}), "unknown dim 'c'"),
    (dict(inputs={"y": oracle.data("n")}), "no differentiable input"),
])
def test_a_spec_that_cannot_work_is_rejected_with_the_reason(kwargs, words):
    with pytest.raises(oracle.SpecError, match=words):
        oracle.Spec("bad", **kwargs)


def test_an_unknown_catalogue_name_suggests_the_closest():
    with pytest.raises(oracle.SpecError, match="did you mean matmul"):
        oracle.Plugin("p").pullback("matmull", lambda a, b: None)


def test_shape_patterns_know_scalars_literals_and_batch_dims():
    spec = oracle.Spec("s", inputs={"x": "*batch n 3", "t": ""})
    assert spec.shapes({"n": 2}, (4, 5)) == {"x": (4, 5, 2, 3), "t": ()}


# -- the calling conventions, each with a correct implementation that passes

def affine_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


class MultiplyGate:
    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dz):
        return dz * self.y, dz * self.x


class CopyGate:
    def forward(self, x):
        return x, x

    def backward(self, d1, d2):
        return d1 + d2


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -np.log(probs[np.arange(n), y]).sum() / n
    dx = probs.copy()
    dx[np.arange(n), y] -= 1
    return loss, dx / n


def two_layer_loss(weights, x, y):
    w1, w2 = weights["w1"], weights["w2"]
    h = 1 / (1 + np.exp(-x @ w1))
    y_pred = h @ w2
    grad_y_pred = 2 * (y_pred - y)
    grad_h = grad_y_pred @ w2.T
    return np.square(y_pred - y).sum(), {"w1": x.T @ (grad_h * h * (1 - h)), "w2": h.T @ grad_y_pred}


@pytest.mark.parametrize("register, op", [
    (lambda p: p.layer("affine", forward=affine_forward, backward=affine_backward), "affine"),
    (lambda p: p.gate("mul", MultiplyGate), "mul"),
    (lambda p: p.gate("copy", CopyGate), "copy"),
    (lambda p: p.value_and_grad("softmax_cross_entropy", softmax_loss), "softmax_cross_entropy"),
    (lambda p: p.loss("two_layer_net", two_layer_loss), "two_layer_net"),
])
def test_every_calling_convention_is_checked_in_both_dtypes(register, op):
    plugin = oracle.Plugin("conventions")
    register(plugin)
    run = oracle.check([plugin], examples=12, seed=2)
    assert [(v.dtype, v.status) for v in run.verdicts] == [("float64", "passed"), ("float32", "passed")], \
        [v.message for v in run.verdicts]


def test_a_second_implementation_of_an_op_needs_its_own_name():
    plugin = oracle.Plugin("twice")
    plugin.gate("mul", MultiplyGate)
    with pytest.raises(ValueError, match="name='...'"):
        plugin.gate("mul", MultiplyGate)
    plugin.gate("mul", MultiplyGate, name="mul_again")
    assert [i.label for i in plugin.implementations] == ["mul", "mul_again"]


def test_a_loss_that_forgets_a_weight_fails_the_structure_check():
    def forgets_w2(weights, x, y):
        loss, grads = two_layer_loss(weights, x, y)
        return loss, {"w1": grads["w1"]}

    verdict = verdict_of(forgets_w2, "two_layer_net", convention="loss")
    assert (verdict.status, verdict.check) == ("failed", "structure")
    assert "'w2'" in verdict.message


# -- assert_gradients

def test_assert_gradients_returns_the_run_when_right_and_raises_the_failure_message_when_wrong():
    run = oracle.assert_gradients(MultiplyGate, "mul", examples=8, seed=4)
    assert run.ok
    with pytest.raises(AssertionError) as raised:
        oracle.assert_gradients(lambda x, y: (x * y, lambda g: (g * x, g * y)), "mul", examples=8, seed=4)
    text = str(raised.value)
    for words in ("mul", "mul_swaps", "argument 'x'", "case", "index", "threshold", "seed", "reproduce"):
        assert words in text


# -- JSON

def test_non_finite_values_survive_the_json_round_trip_as_strings(tmp_path):
    verdict = Verdict(plugin="p", op="relu", dtype="float64", status="failed", check="finite",
                      got=np.array([1.0, np.nan, np.inf]), message="NaN")
    run = Run(seed=1, verdicts=[verdict])
    json.loads(run.to_json())  # strict JSON: no bare NaN
    path = tmp_path / "run.json"
    run.save(path)
    assert Run.load(path) == run
    assert Run.load(path).verdicts[0].got == [1.0, "nan", "inf"]


def test_a_file_that_is_not_a_run_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"version": 99, "verdicts": []}')
    with pytest.raises(oracle.result.RunFormatError, match="version 99"):
        Run.load(path)


def test_files_are_written_whole_or_not_at_all(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")

    with pytest.raises(TypeError):
        write_atomic(target, None)  # fails while writing
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_the_reference_runs_in_float64_without_changing_the_jax_settings_users_see():
    import jax
    import jax.numpy as jnp

    before = jax.config.jax_enable_x64
    verdict = verdict_of(lambda x: (np.tanh(x), lambda g: (g * (1 - np.tanh(x) ** 2),)), "tanh")
    assert verdict.status == "passed"
    assert jax.config.jax_enable_x64 == before
    if not before:
        assert jnp.ones(2).dtype == jnp.float32
