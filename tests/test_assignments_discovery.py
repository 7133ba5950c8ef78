"""Assignment files are found by their names and signatures, with what was not judged and why."""

import pickle
import subprocess
import sys
import textwrap

import pytest
from assignment_support import CORPUS, implementation
from click.testing import CliRunner

import oracle
from oracle.cli import cli
from oracle.conventions import assignment_table
from oracle.conventions.assignments import by_convention
from oracle.errors import TargetError
from oracle.plugin import discover


def write(tmp_path, name, source):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def test_every_pair_of_a_layers_file_is_found_with_its_catalogue_op():
    (plugin,) = discover(str(CORPUS / "layers.py"))
    found = {i.label: (i.op, i.convention) for i in plugin.implementations}
    assert found == {
        "affine": ("affine_nd", "layer"), "relu": ("relu", "layer"), "sigmoid": ("sigmoid", "layer"),
        "batchnorm": ("batchnorm_running", "layer"), "batchnorm_alt": ("batchnorm_running", "layer"),
        "layernorm": ("layernorm", "layer"), "dropout": ("dropout_any", "layer"), "conv_naive": ("conv2d", "layer"),
        "max_pool_naive": ("max_pool", "layer"), "spatial_batchnorm": ("spatial_batchnorm", "layer"),
        "spatial_groupnorm": ("spatial_groupnorm", "layer"),
        "softmax_loss": ("softmax_cross_entropy", "value_and_grad"), "svm_loss": ("svm_loss", "value_and_grad"),
    }
    assert plugin.not_found == []


def test_the_second_batchnorm_backward_is_paired_with_the_one_forward():
    assert plugin_note(CORPUS / "layers.py", "batchnorm_alt") == "batchnorm_forward + batchnorm_backward_alt"


def plugin_note(path, label):
    (plugin,) = discover(str(path))
    return plugin.note(label)


def test_recurrent_and_fast_layers_are_found_too():
    labels = {p.name: sorted(i.label for i in p.implementations) for p in discover(str(CORPUS))}
    assert labels["rnn_layers"] == sorted(["rnn_step", "rnn", "lstm_step", "lstm", "word_embedding",
                                           "temporal_affine", "temporal_softmax_loss"])
    assert labels["fast_layers"] == ["conv_fast", "max_pool_fast"]
    assert len(labels["layers"]) == 13


SKELETON = '''
    import numpy as np

    def relu_forward(x):
        """Computes the forward pass for a layer of rectified linear units (ReLUs)."""
        out = None
        ###########################################################################
        # TODO: Implement the ReLU forward pass.                                  #
        ###########################################################################
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        pass
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        cache = x
        return out, cache

    def relu_backward(dout, cache):
        dx, x = None, cache
        pass
        return dx

    def batchnorm_forward(x, gamma, beta, bn_param):
        mode = bn_param["mode"]
        N, D = x.shape
        running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
        out, cache = None, None
        if mode == "train":
            pass
        elif mode == "test":
            pass
        bn_param["running_mean"] = running_mean
        return out, cache

    def batchnorm_backward(dout, cache):
        dx, dgamma, dbeta = None, None, None
        return dx, dgamma, dbeta

    def affine_forward(x, w, b):
        out = x.reshape(x.shape[0], -1) @ w + b
        return out, (x, w, b)

    def affine_backward(dout, cache):
        raise NotImplementedError

    def conv_forward_naive(x, w, conv_param):
        return x, None

    def conv_backward_naive(dout, cache):
        return dout, dout, dout

    def dropout_forward(x, dropout_param):
        p, mode = dropout_param["p"], dropout_param["mode"]
        mask = None
        out = None
        if mode == "train":
            pass
        elif mode == "test":
            pass
        cache = (dropout_param, mask)
        out = out.astype(x.dtype, copy=False)
        return out, cache

    def dropout_backward(dout, cache):
        dropout_param, mask = cache
        dx = None
        if dropout_param["mode"] == "train":
            pass
        elif dropout_param["mode"] == "test":
            dx = dout
        return dx

    def sigmoid_forward(x):
        return 1 / (1 + np.exp(-x)), x

    def conv_relu_forward(x, w, b, conv_param):
        return x, None
'''


def test_skeletons_and_unknown_signatures_are_listed_with_the_reason(tmp_path):
    (plugin,) = discover(str(write(tmp_path, "layers.py", SKELETON)))
    reasons = dict(plugin.not_found)
    assert plugin.implementations == []
    assert reasons["relu_forward"].startswith("not implemented")
    assert reasons["batchnorm_forward"].startswith("not implemented")
    assert reasons["affine_backward"].startswith("not implemented")
    assert reasons["dropout_forward"].startswith("not implemented")   # out = out.astype(...) of a None
    assert reasons["conv_forward_naive"].startswith("unknown signature conv_forward_naive(x, w, conv_param)")
    assert reasons["sigmoid_forward"] == "no sigmoid_backward"
    assert "no convention for 'conv_relu'" in reasons["conv_relu_forward"]


def test_oracle_list_shows_what_was_found_and_what_was_not(tmp_path):
    path = write(tmp_path, "layers.py", SKELETON)
    result = CliRunner().invoke(cli, ["list", str(path)])
    assert result.exit_code == 0, result.output
    assert "plugin layers" in result.output
    assert "not judged: relu_forward: not implemented" in result.output
    assert "not judged: conv_forward_naive: unknown signature" in result.output


def test_oracle_list_names_the_functions_and_the_stated_precondition():
    result = CliRunner().invoke(cli, ["list", str(CORPUS / "fast_layers.py")])
    assert result.exit_code == 0, result.output
    assert "conv_forward_fast + conv_backward_fast; output sizes divide evenly (the file says so)" in result.output


def test_a_file_that_uses_oracle_is_a_plugin_file_not_a_convention_file(tmp_path):
    path = write(tmp_path, "mine.py", "import oracle\nplugin = oracle.Plugin('mine')\n")
    assert not by_convention(path)
    assert by_convention(CORPUS / "layers.py")


def test_a_file_with_nothing_the_table_knows_is_one_clear_error(tmp_path):
    path = write(tmp_path, "helpers.py", "def helper(x):\n    return x\n")
    with pytest.raises(TargetError, match="no function the assignment conventions know"):
        discover(str(path))


def test_a_folder_is_searched_and_package_relative_imports_work(tmp_path):
    write(tmp_path, "assignment2/cs231n/__init__.py", "")
    write(tmp_path, "assignment2/cs231n/layers.py", (CORPUS / "layers.py").read_text())
    write(tmp_path, "assignment2/cs231n/layer_utils.py", '''
        from .layers import *

        def affine_relu_forward(x, w, b):
            a, fc_cache = affine_forward(x, w, b)
            out, relu_cache = relu_forward(a)
            return out, (fc_cache, relu_cache)
    ''')
    write(tmp_path, "assignment2/collect_submission.py", "raise SystemExit('never run me')\n")
    plugins = discover(str(tmp_path / "assignment2"))
    names = {p.name: p for p in plugins}
    assert set(names) == {"cs231n.layers", "cs231n.layer_utils"}
    assert len(names["cs231n.layers"].implementations) == 13
    assert "no convention for 'affine_relu'" in dict(names["cs231n.layer_utils"].not_found)["affine_relu_forward"]
    assert names["cs231n.layers"].implementations[0].target.endswith("cs231n/layers.py")


def test_a_course_extends_the_table_in_pyproject(tmp_path):
    write(tmp_path, "pyproject.toml", '''
        [tool.oracle]
        assignments_float64_grads = "fail"

        [[tool.oracle.conventions]]
        stem = "leaky_relu"
        op = "leaky_relu"
        call = "x, lrelu_param{alpha}"
    ''')
    path = write(tmp_path, "layers.py", '''
        import numpy as np

        def leaky_relu_forward(x, lrelu_param):
            a = lrelu_param["alpha"]
            return np.where(x > 0, x, a * x), (x, a)

        def leaky_relu_backward(dout, cache):
            x, a = cache
            return np.where(x > 0, dout, a * dout)
    ''')
    (plugin,) = discover(str(path))
    (impl,) = plugin.implementations
    assert (impl.label, impl.op, impl.float64_grads) == ("leaky_relu", "leaky_relu", "fail")
    out, _ = impl.vjp(__import__("numpy").array([-1.0, 2.0]), 0.1)
    assert out.tolist() == [-0.1, 2.0]


def test_a_course_extends_the_table_in_python(tmp_path, monkeypatch):
    monkeypatch.setattr(assignment_table, "TABLE", assignment_table.TABLE + [
        assignment_table.Convention("square", "pow_const", "x, p")])
    path = write(tmp_path, "layers.py", '''
        def square_forward(x, p):
            return x ** p, (x, p)

        def square_backward(dout, cache):
            x, p = cache
            return dout * p * x ** (p - 1)
    ''')
    (plugin,) = discover(str(path))
    assert [i.op for i in plugin.implementations] == ["pow_const"]
    # Worker processes start with the built-in table: the run hands them this one.
    run = oracle.check([str(path)], dtypes=["float64"], examples=3, seed=1, workers=1)
    assert [(v.implementation, v.status) for v in run.verdicts] == [("square", "passed")]


def test_a_bad_convention_row_is_one_line_naming_it(tmp_path):
    write(tmp_path, "pyproject.toml", '''
        [[tool.oracle.conventions]]
        stem = "leaky_relu"
        op = "leaky_relu"
        call = "x, lrelu_param{alpha=}"
    ''')
    path = write(tmp_path, "layers.py", "def leaky_relu_forward(x, p):\n    return x, x\n")
    with pytest.raises(TargetError) as error:
        discover(str(path))
    assert "conventions" in str(error.value) and "\n" not in str(error.value)


def test_a_call_naming_what_the_op_does_not_have_is_refused():
    spec = __import__("oracle.specs", fromlist=["get"]).get("conv2d")
    row = assignment_table.Convention("conv", "conv2d", "x, w, b, conv_param{stride, padding}")
    with pytest.raises(Exception, match="padding is not an input or hyper-parameter of conv2d"):
        row.check_against(spec)


def test_implementations_are_recreated_from_the_file_in_another_process(tmp_path):
    impl = implementation(CORPUS / "layers.py", "affine")
    blob = tmp_path / "impl.pickle"
    blob.write_bytes(pickle.dumps(impl.code))
    program = textwrap.dedent(f'''
        import pickle, numpy as np
        forward, backward = pickle.loads(open({str(blob)!r}, "rb").read())
        out, cache = forward(np.ones((2, 3, 2)), np.ones((6, 4)), np.zeros(4))
        dx, dw, db = backward(np.ones((2, 4)), cache)
        print(out.shape, dx.shape, forward.function().__module__)
    ''')
    done = subprocess.run([sys.executable, "-c", program], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:4] == ["(2,", "4)", "(2,", "3,"]


def test_a_folder_is_judged_in_worker_processes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "assignment3/cs231n/__init__.py", "")
    write(tmp_path, "assignment3/cs231n/rnn_layers.py", (CORPUS / "rnn_layers.py").read_text())
    result = CliRunner().invoke(cli, ["check", "assignment3", "--op", "rnn_step", "--op", "word_embedding",
                                      "--examples", "5", "--report", "report", "--json", "run.json"])
    assert result.exit_code == 0, result.output
    run = __import__("json").loads((tmp_path / "run.json").read_text())
    assert {(v["plugin"], v["implementation"], v["status"]) for v in run["verdicts"]} == {
        ("cs231n.rnn_layers", label, "passed") for label in ("rnn_step", "word_embedding")}


def test_two_assignments_with_a_package_of_the_same_name_are_both_imported(tmp_path):
    for n in (2, 3):
        write(tmp_path, f"assignment{n}/cs231n/__init__.py", "")
        write(tmp_path, f"assignment{n}/cs231n/layers.py", (CORPUS / "layers.py").read_text()
              + f"\n\ndef which():\n    return {n}\n")
    write(tmp_path, "assignment3/cs231n/rnn_layers.py",
          "from cs231n.layers import which\n\nASSIGNMENT = which()\n\n" + (CORPUS / "rnn_layers.py").read_text())
    plugins = discover(str(tmp_path))
    assert sorted(p.name for p in plugins) == ["cs231n.layers", "cs231n.layers", "cs231n.rnn_layers"]
    rnn = next(p for p in plugins if p.name == "cs231n.rnn_layers")
    forward = rnn.implementations[0].code[0]
    assert forward.function().__globals__["ASSIGNMENT"] == 3   # its own assignment's cs231n, not the first one


def test_a_file_that_fails_to_import_has_every_pair_errored_not_missing(tmp_path):
    path = write(tmp_path, "layers.py", "import not_installed_anywhere\n\n" + (CORPUS / "layers.py").read_text())
    (plugin,) = discover(str(path))
    assert len(plugin.implementations) == 13
    assert "not_installed_anywhere" in dict(plugin.not_found)["layers.py"]
    from oracle.run import judge

    v = judge(plugin.implementations[0], "float64", examples=3)
    assert (v.status, v.check) == ("errored", "call")
    assert "No module named 'not_installed_anywhere'" in v.message


def test_a_layers_file_that_does_not_parse_is_listed_with_the_reason(tmp_path):
    write(tmp_path, "a2/layers.py", "def relu_forward(x):\n    print x\n    return x, x\n")
    write(tmp_path, "a2/collect_submission.py", "print 'not a layers file'\n")
    write(tmp_path, "a2/rnn_layers.py", (CORPUS / "rnn_layers.py").read_text())
    plugins = {p.name: p for p in discover(str(tmp_path / "a2"))}
    assert set(plugins) == {"layers", "rnn_layers"}
    assert "not valid Python 3: line 2" in dict(plugins["layers"].not_found)["layers.py"]


def test_any_suffix_names_another_implementation_of_the_same_layer(tmp_path):
    conv = (CORPUS / "fast_layers.py").read_text()
    source = conv + "\n" + conv.replace("conv_forward_fast", "conv_forward_strides").replace(
        "conv_backward_fast", "conv_backward_strides").replace("max_pool_forward_fast", "max_pool_forward_im2col").replace(
        "max_pool_backward_fast", "max_pool_backward_im2col")
    (plugin,) = discover(str(write(tmp_path, "fast_layers.py", source)))
    assert {i.label: i.op for i in plugin.implementations} == {
        "conv_fast": "conv2d", "conv_strides": "conv2d", "max_pool_fast": "max_pool", "max_pool_im2col": "max_pool"}


def test_oracle_list_of_a_folder_shows_every_file_found_and_what_was_not(tmp_path):
    write(tmp_path, "assignment2/cs231n/__init__.py", "")
    write(tmp_path, "assignment2/cs231n/layers.py", SKELETON)
    write(tmp_path, "assignment2/cs231n/fast_layers.py", (CORPUS / "fast_layers.py").read_text())
    result = CliRunner().invoke(cli, ["list", str(tmp_path / "assignment2")])
    assert result.exit_code == 0, result.output
    assert "plugin cs231n.fast_layers" in result.output and "plugin cs231n.layers" in result.output
    assert "conv_forward_fast + conv_backward_fast" in result.output
    assert "not judged: relu_forward: not implemented" in result.output
