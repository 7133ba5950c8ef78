"""The worked example (examples/cs231n/layers.py) fails on its two bugs and on nothing else."""

from pathlib import Path

from assignment_support import verdict

from oracle.plugin import discover

EXAMPLE = Path(__file__).parent.parent / "examples" / "cs231n" / "layers.py"


def test_the_example_is_found_whole_and_fails_only_where_its_bugs_are():
    (plugin,) = discover(str(EXAMPLE))
    assert sorted(i.label for i in plugin.implementations) == ["affine", "conv_naive", "max_pool_naive", "relu"]
    assert plugin.not_found == []
    outcome = {label: verdict(EXAMPLE, label, examples=20, seed=1) for label in ("affine", "relu", "conv_naive",
                                                                                  "max_pool_naive")}
    assert {label: (v.status, v.check, v.source_function) for label, v in outcome.items()} == {
        "affine": ("passed", None, None),
        "relu": ("passed", None, None),
        "conv_naive": ("failed", "shape", "conv_backward_naive"),             # [pad:-pad] is empty at pad 0
        "max_pool_naive": ("failed", "reference", "max_pool_backward_naive"),  # = where windows overlap must add
    }
