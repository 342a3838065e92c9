"""Settings files and KEY=VALUE entries (in-process, no JVM)."""

from __future__ import annotations

import pytest

from udfs.config_file import JOB_CONF, parse_key_values, read_config_file


def test_nested_maps_become_dotted_keys_and_scalars_flink_strings(tmp_path):
    conf = tmp_path / "config.yaml"
    conf.write_text("python:\n  fn-execution:\n    bundle.size: 1000\nflag: true\nempty:\nratio: 0.5\n")
    assert read_config_file(conf) == {
        "python.fn-execution.bundle.size": "1000", "flag": "true", "empty": "", "ratio": "0.5",
    }


def test_lists_reach_flink_in_its_list_syntax(tmp_path):
    # Flink splits list options such as pipeline.jars at ';' (a ',' would make one bogus URL).
    conf = tmp_path / "config.yaml"
    conf.write_text("pipeline.jars:\n  - file:///a/one.jar\n  - file:///b/two.jar\n")
    assert read_config_file(conf) == {"pipeline.jars": "file:///a/one.jar;file:///b/two.jar"}


def test_project_job_conf_reads(tmp_path):
    assert read_config_file(JOB_CONF)["source.reader.close.timeout"] == "1000"


def test_unreadable_or_non_mapping_file_names_the_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read settings file '.*missing.yaml'"):
        read_config_file(tmp_path / "missing.yaml")
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        read_config_file(scalar)


def test_key_values_keep_everything_after_the_first_equals():
    assert parse_key_values(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}


@pytest.mark.parametrize("entry", ["novalue", "=1", " =1"])
def test_malformed_key_value_is_an_error_naming_it(entry):
    with pytest.raises(ValueError, match=rf"--set '{entry}': expected KEY=VALUE"):
        parse_key_values([entry], "--set")
