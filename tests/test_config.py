"""[tool.oracle] in pyproject.toml and the option table both the command line and pytest build from."""

from __future__ import annotations

import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from oracle.cli import check, cli
from oracle.config import OPTIONS, OPTION, Config, ConfigError, find_pyproject, load_config, resolve


def write_pyproject(folder: Path, body: str) -> Path:
    path = folder / "pyproject.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_every_check_option_comes_from_the_table_and_every_table_entry_is_an_option_of_check():
    from_table = {OPTION[name].flag for name in OPTION if not OPTION[name].positional}
    on_check = {opt for p in check.params if isinstance(p, click.Option) for opt in p.opts if opt.startswith("--")}
    assert from_table <= on_check
    assert on_check - from_table == {"--quiet", "--verbose"}


def test_options_are_spelled_the_same_for_pytest_under_one_prefix():
    assert OPTION["ops"].flag == "--op" and OPTION["ops"].pytest_flag == "--oracle-op"
    assert OPTION["junit_xml"].flag == "--junit-xml"
    assert OPTION["time_budget"].pytest_flag == "--oracle-time-budget"
    assert all(o.pytest_flag.startswith("--oracle-") for o in OPTIONS)


@pytest.mark.parametrize("name, given, expected", [
    ("examples", "12", 12), ("examples", 12, 12), ("seed", "0", 0), ("time_budget", "2.5", 2.5),
    ("dtypes", "float32", "float32"), ("ops", "mat*", "mat*"), ("strict", True, True),
])
def test_option_parse_accepts_command_line_strings_and_toml_values(name, given, expected):
    assert OPTION[name].parse(given) == expected


@pytest.mark.parametrize("name, given, says", [
    ("examples", "0", "a whole number from 1 to 100000"), ("examples", "many", "a whole number from 1 to 100000"),
    ("examples", True, "a whole number"), ("seed", -1, ">= 0"), ("time_budget", "0", "a number > 0"),
    ("time_budget", "nan", "a number > 0"), ("dtypes", "float8", "one of float64, float32, float16, bfloat16"),
    ("strict", "yes", "true or false"), ("report", "", "non-empty path"),
])
def test_option_parse_rejects_a_bad_value_saying_what_is_accepted(name, given, says):
    with pytest.raises(ValueError, match=says):
        OPTION[name].parse(given)


def test_the_table_is_read_from_the_nearest_pyproject_with_paths_relative_to_it(tmp_path):
    write_pyproject(tmp_path, """
        [project]
        name = "someone"

        [tool.oracle]
        targets = ["gatecore", "tests/layers.py"]
        ops = "matmul"
        dtypes = ["float64"]
        examples = 7
        seed = 11
        report = "out/oracle"
        baseline = "known.json"
        time_budget = 30
        strict = true
    """)
    inner = tmp_path / "src" / "deep"
    inner.mkdir(parents=True)
    config = load_config(inner)
    assert config.path == tmp_path / "pyproject.toml"
    assert config.values == {
        "targets": ("gatecore", str(tmp_path / "tests/layers.py")), "ops": ("matmul",), "dtypes": ("float64",),
        "examples": 7, "seed": 11, "report": str(tmp_path / "out/oracle"), "baseline": str(tmp_path / "known.json"),
        "time_budget": 30.0, "strict": True,
    }


def test_a_project_without_the_table_or_without_pyproject_has_empty_configuration(tmp_path):
    assert find_pyproject(tmp_path) is None
    assert load_config(tmp_path) == Config({})
    write_pyproject(tmp_path, "[project]\nname = 'x'\n")
    assert load_config(tmp_path) == Config({}, tmp_path / "pyproject.toml")


def test_an_unknown_key_is_an_error_that_names_it_and_the_closest_known_one(tmp_path):
    write_pyproject(tmp_path, "[tool.oracle]\nexmaples = 5\n")
    with pytest.raises(ConfigError, match=r"unknown key 'exmaples' in \[tool.oracle\]; did you mean 'examples'\?"):
        load_config(tmp_path)


def test_an_unknown_key_with_no_close_match_lists_the_known_keys(tmp_path):
    write_pyproject(tmp_path, "[tool.oracle]\nflavour = 'mint'\n")
    with pytest.raises(ConfigError, match="known keys: targets, ops, dtypes, examples"):
        load_config(tmp_path)


def test_a_value_of_the_wrong_kind_names_the_key_and_what_it_takes(tmp_path):
    write_pyproject(tmp_path, "[tool.oracle]\nexamples = 'lots'\n")
    with pytest.raises(ConfigError, match=r"\[tool.oracle\] examples must be a whole number from 1 to 100000, got 'lots'"):
        load_config(tmp_path)
    write_pyproject(tmp_path, "[tool.oracle]\ndtypes = ['float64', 'float8']\n")
    with pytest.raises(ConfigError, match="dtypes must be one of float64, float32, float16, bfloat16, got 'float8'"):
        load_config(tmp_path)


def test_a_pyproject_that_is_not_toml_is_a_configuration_error(tmp_path):
    write_pyproject(tmp_path, "[tool.oracle\nexamples = 5\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(tmp_path)


def test_options_given_override_the_table_which_overrides_the_defaults():
    config = Config({"examples": 7, "ops": ("matmul", "relu"), "report": "/p/out", "strict": True})
    settings = resolve({"examples": 3, "ops": (), "dtypes": ("float32",), "strict": None}, config)
    assert settings["examples"] == 3                 # given beats the table
    assert settings["ops"] == ("matmul", "relu")     # not given: the table
    assert settings["dtypes"] == ("float32",)
    assert settings["report"] == "/p/out"
    assert settings["strict"] is True
    assert resolve({}, Config({}))["report"] == "reports"    # neither: the default
    assert resolve({"ops": ("add",)}, config)["ops"] == ("add",)   # a list given replaces the table's


def test_the_command_line_reports_a_bad_table_in_one_line_with_exit_code_2(tmp_path, monkeypatch):
    write_pyproject(tmp_path, "[tool.oracle]\ntargets = ['gatecore']\nseeds = 3\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"oracle: {tmp_path / 'pyproject.toml'}: unknown key 'seeds' in [tool.oracle]; did you mean 'seed'?"]
    assert result.stdout == ""


def test_a_bad_option_value_on_the_command_line_is_one_line_with_exit_code_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check", "gatecore", "--examples", "0"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "oracle check: Invalid value for '--examples': must be a whole number from 1 to 100000, got '0' (see 'oracle check --help')"]
