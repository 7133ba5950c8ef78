"""assert_gradients: check one implementation in one call, from any test.

    from oracle.testing import assert_gradients

    def test_my_relu():
        assert_gradients(relu_pullback, "relu")                                # pullback convention
        assert_gradients((affine_forward, affine_backward), "affine")          # layer convention
        assert_gradients(MultiplyGate, "mul", convention="gate")
        assert_gradients(my_plugin, ops=["matmul"])                            # a whole plugin
        assert_gradients(MyLayerNorm, "layernorm")      # a torch.autograd.Function: torch, recognised
        assert_gradients(my_softmax, "softmax")         # a function using jax (custom_vjp...): jax, recognised
        assert_gradients(tanh_jvp, "tanh", convention="jvp")                   # NumPy forward mode
        assert_gradients(relu, "relu", examples_from="oracle-pinned.json")     # pinned cases first (oracle pin)

On failure it raises AssertionError whose text is the oracle's failure message: op, check,
argument, shrunk shapes, worst elements, error against threshold, seed and a reproduce line.

Inside a pytest test the settings not passed come from the test (@pytest.mark.oracle, then
--oracle-*, then [tool.oracle]), the seed is the session's, and the reproduce line is a pytest
command; elsewhere they are the engine's defaults and a random seed.
"""

from __future__ import annotations

import inspect
import os
import shlex
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .errors import UsageError
from .message import format_failure
from .plugin import Plugin
from .result import Run
from .spec import Spec

__all__ = ["assert_gradients", "as_plugin", "Settings", "HYPOTHESIS_PROFILE", "register_hypothesis_profile"]

HYPOTHESIS_PROFILE = "oracle-ci"


def register_hypothesis_profile() -> None:
    """'oracle-ci': hypothesis draws the same examples on every run, with no example database and no deadline.

    The oracle's own searches are seeded from the run seed whatever the profile; this one is for
    the rest of a suite in CI: pytest --hypothesis-profile oracle-ci.
    """
    from hypothesis import settings

    settings.register_profile(HYPOTHESIS_PROFILE, derandomize=True, database=None, deadline=None, print_blob=True)


register_hypothesis_profile()


@dataclass(frozen=True)
class Settings:
    """The gradient-check settings of one test: the `oracle_settings` fixture.

        @pytest.mark.oracle(examples=20, dtypes=["float64"])
        def test_relu(oracle_settings):
            oracle_settings.assert_gradients(relu, "relu")
    """

    examples: int
    dtypes: tuple[str, ...]
    seed: int
    name: str = field(default="assert_gradients", repr=False)          # names the plugin around a bare implementation
    command: tuple[str, ...] = field(default=(), repr=False)          # the pytest command that runs the test again
    seed_option: tuple[str, ...] = field(default=(), repr=False)      # ("--oracle-seed", "N") for the session's seed
    record: Callable[[list], None] | None = field(default=None, repr=False)   # keeps verdicts for --oracle-report
    examples_from: tuple[str, ...] = field(default=(), repr=False)            # pinned cases of [tool.oracle]

    def assert_gradients(self, implementation: Any, op: str | Spec | None = None, **options: Any) -> Run:
        """assert_gradients with this test's settings; keyword arguments override them."""
        __tracebackhide__ = True
        return _assert_gradients(implementation, op, options, self)

    def reproduce(self, seed_passed: bool) -> str:
        return shlex.join([*self.command, *(() if seed_passed else self.seed_option)])


def _guess_convention(implementation: Any) -> str:
    from .conventions.recognise import framework_of

    framework = framework_of(implementation)
    if framework:
        return framework
    if isinstance(implementation, tuple) and len(implementation) == 2:
        return "layer"
    if inspect.isclass(implementation):
        return "gate"
    return "pullback"


def as_plugin(implementation: Any, op: str | Spec, convention: str | None = None, name: str = "assert_gradients") -> Plugin:
    """A one-implementation plugin around a function, a gate class or a (forward, backward) pair."""
    convention = convention or _guess_convention(implementation)
    plugin = Plugin(name)
    if convention == "layer":
        if not (isinstance(implementation, tuple) and len(implementation) == 2):
            raise UsageError("the layer convention takes a (forward, backward) pair")
        plugin.layer(op, forward=implementation[0], backward=implementation[1])
    elif convention in ("pullback", "gate", "value_and_grad", "loss", "torch", "jax", "jvp"):
        getattr(plugin, convention)(op, implementation)
    else:
        raise UsageError(f"unknown calling convention {convention!r}; "
                         "choose from pullback, layer, gate, value_and_grad, loss, torch, jax, jvp")
    return plugin


def assert_gradients(implementation: Any, op: str | Spec | None = None, *, convention: str | None = None,
                     ops: Sequence[str] | None = None, dtypes: Sequence[str] | None = None, examples: int | None = None,
                     seed: int | None = None, **options: Any) -> Run:
    """Check an implementation (or a Plugin, or a plugin name) and raise AssertionError on any failure."""
    __tracebackhide__ = True
    given = dict(convention=convention, ops=ops, dtypes=dtypes, examples=examples, seed=seed, **options)
    return _assert_gradients(implementation, op, given, _running_test())


def _running_test() -> Settings | None:
    """The settings of the pytest test that is running now, if any: the plugin knows which one it is."""
    plugin = sys.modules.get("oracle.pytest_plugin")
    return plugin.active_settings() if plugin is not None else None


def _assert_gradients(implementation: Any, op: str | Spec | None, given: dict[str, Any], test: Settings | None) -> Run:
    __tracebackhide__ = True
    from .run import check

    options = {key: value for key, value in given.items() if value is not None}
    convention, ops = options.pop("convention", None), options.pop("ops", None)
    pinned = options.pop("examples_from", None) or (test.examples_from if test is not None else ())
    pinned = [pinned] if isinstance(pinned, (str, os.PathLike)) else list(pinned)
    if pinned:   # pinned regression cases are tried before any new one
        options["examples_from"] = [str(os.path.abspath(p)) for p in pinned]
    seed_passed = "seed" in options
    if test is not None:
        options = {"examples": test.examples, "dtypes": test.dtypes, "seed": test.seed, **options}
    if isinstance(implementation, (Plugin, str)):
        if op is not None:
            ops = [op.name if isinstance(op, Spec) else op, *(ops or [])]
        targets = [implementation]
    else:
        if op is None:
            raise UsageError("assert_gradients needs the op (a catalogue name or an oracle.Spec) for an implementation")
        targets = [as_plugin(implementation, op, convention, name=test.name if test else "assert_gradients")]
    run = check(targets, ops=ops, **options)
    if test is not None:
        for verdict in run.verdicts:
            verdict.reproduce = test.reproduce(seed_passed)
        if test.record is not None:
            test.record(run.verdicts)
    failures = [v for v in run.verdicts if v.status in ("failed", "errored")]
    if failures:
        raise AssertionError("\n\n".join(format_failure(v) for v in failures)
                             + f"\n\n{run.summary_line()} (seed {run.seed})")
    return run
