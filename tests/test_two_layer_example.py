"""examples/two_layer_net.py trains the lecture's network with gatecore and agrees with the lecture's NumPy."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "two_layer_net.py"
# One BLAS thread: the suite shares two cores, and threaded BLAS only contends for them.
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def _load_example():
    spec = importlib.util.spec_from_file_location("two_layer_net_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shortened_run_prints_a_falling_loss_and_gradients_that_agree_at_every_step():
    result = subprocess.run([sys.executable, str(SCRIPT), "--steps", "201", "--seed", "3"],
                            capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("checking every step: gatecore's dL/dw1 and dL/dw2 against the lecture's")
    losses = {int(m[1]): float(m[2]) for m in re.finditer(r"step\s+(\d+)\s+loss\s+([\d.]+)", result.stdout)}
    assert sorted(losses) == [0, 100, 200]
    assert losses[0] > losses[100] > losses[200]
    assert lines[-1].startswith("gradients agreed at all 201 steps")


def test_seed_option_changes_the_data_and_weights():
    example = _load_example()
    first, _ = example.train(steps=1, seed=1, print_every=1)
    second, _ = example.train(steps=1, seed=2, print_every=1)
    assert first != second


def test_agreement_check_stops_at_a_gradient_that_differs_from_the_lecture(monkeypatch, capsys):
    example = _load_example()
    right = example.lecture_gradients

    def missing_factor_two(x, y, w1, w2):
        grad_w1, grad_w2 = right(x, y, w1, w2)
        return grad_w1, grad_w2 / 2

    monkeypatch.setattr(example, "lecture_gradients", missing_factor_two)
    with pytest.raises(AssertionError, match="step 0: gatecore's gradients differ from the lecture's"):
        example.train(steps=3, seed=0)
    assert example.main(["--steps", "3"]) == 1


def test_lecture_gradients_are_the_lecture_formulas_on_a_small_net():
    example = _load_example()
    rng = np.random.default_rng(0)
    x, y, w1, w2 = (rng.standard_normal(s) for s in ((4, 3), (4, 2), (3, 5), (5, 2)))
    grad_w1, grad_w2 = example.lecture_gradients(x, y, w1, w2)

    def loss(w1, w2):
        return np.sum((1 / (1 + np.exp(-x @ w1)) @ w2 - y) ** 2)

    step = 1e-6
    for grad, weights, which in ((grad_w1, w1, 0), (grad_w2, w2, 1)):
        direction = rng.standard_normal(weights.shape)
        args_plus, args_minus = [w1, w2], [w1, w2]
        args_plus[which], args_minus[which] = weights + step * direction, weights - step * direction
        numeric = (loss(*args_plus) - loss(*args_minus)) / (2 * step)
        assert np.isclose(np.sum(grad * direction), numeric, rtol=1e-6)
