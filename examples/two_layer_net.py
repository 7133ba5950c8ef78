"""Train the lecture's two-layer network with gatecore, checked at every step against the lecture's NumPy.

    python examples/two_layer_net.py                 # 2,000 steps, loss every 100
    python examples/two_layer_net.py --steps 300 --seed 1

The network is h = sigmoid(x w1), y_pred = h w2, loss = Σ (y_pred - y)². gatecore builds its
graph once from those three lines; each step reruns the graph's forward, walks its backward,
and compares dL/dw1 and dL/dw2 with the lecture's hand-written backward before updating.
The script exits with status 1 at the first step where they differ by more than rounding.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from oracle.plugins.gatecore import Graph, ops

N, D_in, H, D_out = 64, 1000, 100, 10
LEARNING_RATE = 1e-4
AGREEMENT = 1e-12  # largest relative difference allowed: rounding, never a different formula


def lecture_gradients(x, y, w1, w2):
    """The lecture's backward, line for line."""
    h = 1 / (1 + np.exp(-x.dot(w1)))  # sigmoid
    y_pred = h.dot(w2)
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_w1 = x.T.dot(grad_h * h * (1 - h))
    return grad_w1, grad_w2


def relative_difference(got, expected) -> float:
    """max |got - expected| / max |expected|: one number for a whole gradient."""
    return float(np.max(np.abs(got - expected)) / max(np.max(np.abs(expected)), np.finfo(float).tiny))


def train(steps: int = 2000, seed: int = 0, print_every: int = 100) -> tuple[list[float], float]:
    """Train; return the loss at every step and the largest relative difference seen.

    Raises AssertionError at the first step where gatecore and the lecture disagree.
    """
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((N, D_in)), rng.standard_normal((N, D_out))
    graph = Graph()
    w1, w2 = graph.input(rng.standard_normal((D_in, H))), graph.input(rng.standard_normal((H, D_out)))
    loss = ops.two_layer_net(graph.constant(x), graph.constant(y), w1, w2)

    print(f"checking every step: gatecore's dL/dw1 and dL/dw2 against the lecture's hand-written NumPy "
          f"backward, max |gatecore - hand| / max |hand| <= {AGREEMENT:g}")
    losses, worst = [], 0.0
    for t in range(steps):
        graph.forward()
        grad_w1, grad_w2 = graph.backward(loss)
        hand_w1, hand_w2 = lecture_gradients(x, y, w1.data, w2.data)
        difference = max(relative_difference(grad_w1, hand_w1), relative_difference(grad_w2, hand_w2))
        if difference > AGREEMENT:
            raise AssertionError(f"step {t}: gatecore's gradients differ from the lecture's by {difference:.3g}")
        worst = max(worst, difference)
        losses.append(float(loss.data))
        if t % print_every == 0 or t == steps - 1:
            print(f"step {t:5d}  loss {losses[-1]:12.4f}")

        w1.data -= LEARNING_RATE * grad_w1
        w2.data -= LEARNING_RATE * grad_w2
    print(f"gradients agreed at all {steps} steps (largest relative difference {worst:.2g})")
    return losses, worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="training steps (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data and initial weights (default 0)")
    parser.add_argument("--print-every", type=int, default=100, help="print the loss every this many steps")
    args = parser.parse_args(argv)
    try:
        train(args.steps, args.seed, args.print_every)
    except AssertionError as error:
        print(error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
