"""Parameter dicts drawn over the whole valid range, and the file's own preconditions respected."""

import textwrap

from assignment_support import CORPUS, implementation
from hypothesis import HealthCheck, given, settings
from oracle.specs import get

from oracle.cases import cases
from oracle.conventions.assignment_table import TABLE
from oracle.conventions.assignments import scan


def drawn(spec, n=300):
    """Cases hypothesis draws for a spec (float64)."""
    seen = []

    @settings(max_examples=n, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(cases(spec, "float64"))
    def collect(case):
        seen.append(case)

    collect()
    return seen


def test_affine_inputs_have_any_number_of_feature_dims():
    seen = drawn(get("affine_nd"))
    ranks = {c.inputs["x"].ndim for c in seen}
    assert ranks == {2, 3, 4}
    for c in seen:
        x, w = c.inputs["x"], c.inputs["w"]
        assert w.shape[0] == x[0].size
    assert any(c.inputs["x"].shape[0] == 1 for c in seen)          # a batch of one
    assert any(c.inputs["x"][0].size == 1 for c in seen)           # D = 1


def test_conv_draws_every_stride_pad_and_non_square_kernels():
    seen = drawn(get("conv2d"))
    assert {c.hyper["stride"] for c in seen} == {1, 2}
    assert {c.hyper["pad"] for c in seen} == {0, 1, 2}
    assert any(c.dims["hh"] != c.dims["ww"] for c in seen)
    assert any((c.dims["h"] + 2 * c.hyper["pad"] - c.dims["hh"]) % c.hyper["stride"] for c in seen)  # floored sizes too
    assert any(c.dims["n"] == 1 for c in seen)


def test_pools_are_non_square_overlapping_and_not():
    seen = drawn(get("max_pool"))
    assert any(c.hyper["pool_height"] != c.hyper["pool_width"] for c in seen)
    assert any(c.hyper["stride"] < max(c.hyper["pool_height"], c.hyper["pool_width"]) for c in seen)   # overlapping
    assert any(c.hyper["stride"] >= max(c.hyper["pool_height"], c.hyper["pool_width"]) for c in seen)  # not
    assert all(c.hyper["pool_height"] <= c.dims["h"] and c.hyper["pool_width"] <= c.dims["w"] for c in seen)


def test_groups_divide_the_channels():
    for c in drawn(get("spatial_groupnorm"), 100):
        assert c.inputs["x"].shape[1] % c.hyper["G"] == 0
        assert c.inputs["gamma"].shape == (1, c.inputs["x"].shape[1], 1, 1)


def test_a_file_that_asserts_sizes_divide_evenly_is_only_given_such_sizes():
    impl = implementation(CORPUS / "fast_layers.py", "conv_fast")
    seen = drawn(impl.spec, 200)
    assert {c.hyper["stride"] for c in seen} == {1, 2}
    for c in seen:
        for side, kernel in (("h", "hh"), ("w", "ww")):
            assert (c.dims[side] + 2 * c.hyper["pad"] - c.dims[kernel]) % c.hyper["stride"] == 0
    pool = implementation(CORPUS / "fast_layers.py", "max_pool_fast")
    for c in drawn(pool.spec, 200):
        assert (c.dims["h"] - c.hyper["pool_height"]) % c.hyper["stride"] == 0
        assert (c.dims["w"] - c.hyper["pool_width"]) % c.hyper["stride"] == 0


def _evenly(source):
    found, _ = scan(textwrap.dedent(source), TABLE)
    return {f.label: f.evenly for f in found}


def test_the_precondition_is_read_from_asserts_docstrings_and_helpers_only():
    pair = "\n        def conv_backward_naive(dout, cache):\n            return dout, dout, dout\n"
    assert _evenly('''
        def conv_forward_naive(x, w, b, conv_param):
            assert (x.shape[2] - w.shape[2]) % conv_param["stride"] == 0
            return x, None
    ''' + pair) == {"conv_naive": True}
    assert _evenly('''
        def conv_forward_naive(x, w, b, conv_param):
            """You can assume that (H + 2 * pad - HH) % stride == 0."""
            return x, None
    ''' + pair) == {"conv_naive": True}
    assert _evenly('''
        def _im2col(x, stride):
            assert (x.shape[2] - 1) % stride == 0, "height does not work"
            return x

        def conv_forward_naive(x, w, b, conv_param):
            return _im2col(x, conv_param["stride"]), None
    ''' + pair) == {"conv_naive": True}
    assert _evenly('''
        def conv_forward_naive(x, w, b, conv_param):
            """H' = 1 + (H + 2 * pad - HH) // stride"""
            return x, None
    ''' + pair) == {"conv_naive": False}


RESHAPE_POOL = '''
import numpy as np

def max_pool_forward_reshape(x, pool_param):
    N, C, H, W = x.shape
    pool_height, pool_width = pool_param["pool_height"], pool_param["pool_width"]
    stride = pool_param["stride"]
    assert pool_height == pool_width == stride, "Invalid pool params"
    assert H % pool_height == 0
    assert W % pool_height == 0
    x_reshaped = x.reshape(N, C, H // pool_height, pool_height, W // pool_width, pool_width)
    out = x_reshaped.max(axis=3).max(axis=4)
    assert out.ndim == 4          # about a computed value: not a precondition
    return out, (x, x_reshaped, out)

def max_pool_backward_reshape(dout, cache):
    x, x_reshaped, out = cache
    dx_reshaped = np.zeros_like(x_reshaped)
    out_newaxis = out[:, :, :, np.newaxis, :, np.newaxis]
    mask = x_reshaped == out_newaxis
    dout_newaxis = dout[:, :, :, np.newaxis, :, np.newaxis]
    dout_broadcast, _ = np.broadcast_arrays(dout_newaxis, dx_reshaped)
    dx_reshaped[mask] = dout_broadcast[mask]
    dx_reshaped /= np.sum(mask, axis=(3, 5), keepdims=True)
    return dx_reshaped.reshape(x.shape)
'''


def test_the_forwards_own_asserts_on_its_inputs_are_preconditions(tmp_path):
    path = tmp_path / "fast_layers.py"
    path.write_text(RESHAPE_POOL)
    impl = implementation(path, "max_pool_reshape")
    seen = drawn(impl.spec, 150)
    assert seen
    for c in seen:
        h = c.hyper
        assert h["pool_height"] == h["pool_width"] == h["stride"]
        assert c.dims["h"] % h["pool_height"] == 0 and c.dims["w"] % h["pool_height"] == 0
    from oracle.run import judge

    assert judge(impl, "float64", examples=15).status == "passed"
