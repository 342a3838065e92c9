"""``classify.*`` options reach the UDF as Flink job parameters: what Flink itself parses out of the
``pipeline.global-job-parameters`` map that ``udfs.settings`` writes (a TableEnvironment, no job)."""

from __future__ import annotations

import pytest
from pyflink.java_gateway import get_gateway
from pyflink.table import EnvironmentSettings, TableEnvironment

from udfs import settings

pytestmark = pytest.mark.flink


def job_parameters(t_env: TableEnvironment) -> dict[str, str]:
    """The map as Flink reads it from the table configuration."""
    option = get_gateway().jvm.org.apache.flink.configuration.PipelineOptions.GLOBAL_JOB_PARAMETERS
    return dict(t_env.get_config()._j_table_config.getConfiguration().get(option))


def test_values_with_map_separators_and_quotes_arrive_intact():
    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    values = {
        "classify.model": "efficientnet_lite0",
        "classify.cache-dir": "/tmp/it's, a:cache",  # ',' separates entries, ':' key and value, "'" quotes
        "classify.labels-path": '/data/"labels";v2.txt',
        "classify.mean-values": "127,127,127",
        "classify.scale-values": "",  # empty: no scaling (the k:v,k:v form cannot carry it)
        "classify.model-path": "/données/modèle: v2.onnx",  # non-ASCII; ': ' makes YAML see a key
    }
    for key, value in values.items():
        settings.set_option(t_env, key, value)
    settings.set_option(t_env, "parallelism.default", "1")  # a Flink option is not a job parameter
    assert job_parameters(t_env) == values


def test_a_bad_classify_option_fails_when_set():
    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    with pytest.raises(ValueError, match="classify.top-k"):
        settings.set_option(t_env, "classify.top-k", "many")
