"""The oracle passes every gatecore implementation of the catalogue, in float64 and float32."""

import pytest

import oracle
from oracle.message import format_failure
from oracle.plugins.gatecore import plugin
from oracle.specs import names

DTYPES = ("float64", "float32")
EXAMPLES = 6
SEED = 20240611


@pytest.fixture(scope="module")
def run():
    return oracle.check(["gatecore"], dtypes=list(DTYPES), examples=EXAMPLES, seed=SEED)


def test_every_catalogue_op_has_a_gatecore_implementation():
    # The assignment families (judged on students' files, tests/test_assignments_*.py) are not gatecore's.
    from oracle.specs import assignment_layers, recurrent

    assignment_ops = {spec.name for module in (assignment_layers, recurrent) for spec in module.SPECS}
    assert sorted({impl.op for impl in plugin.implementations}) == sorted(set(names()) - assignment_ops)


def test_gatecore_uses_every_registration_convention():
    conventions = {impl.convention for impl in plugin.implementations}
    assert conventions == {"gate", "pullback", "layer", "value_and_grad", "loss"}


def test_fused_and_composed_sigmoid_are_both_registered():
    assert {(i.label, i.convention) for i in plugin.implementations if i.op == "sigmoid"} == {
        ("sigmoid", "gate"), ("sigmoid_composed", "pullback")}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("label", [impl.label for impl in plugin.implementations])
def test_oracle_passes_gatecore(run, label, dtype):
    (verdict,) = [v for v in run.verdicts if v.implementation == label and v.dtype == dtype]
    assert verdict.status == "passed", format_failure(verdict)
