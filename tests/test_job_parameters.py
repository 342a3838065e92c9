"""classify.* options reach the UDF through Flink's map option pipeline.global-job-parameters."""

from __future__ import annotations

import pytest

from udfs.settings import job_parameters_value

OPTIONS = {
    "classify.model": "resnet50",
    "classify.mean-values": "123.68,116.78,103.94",  # the map's separator
    "classify.scale-values": "",                     # empty: no scaling
    "classify.model-path": "/data/it's: a \"model\".xml",  # quotes, YAML's key separator
    "classify.labels-path": "/données/labels.txt",
}


@pytest.mark.flink
def test_flink_parses_every_value_back():
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    configuration = jvm.org.apache.flink.configuration.Configuration()
    configuration.setString("pipeline.global-job-parameters", job_parameters_value(OPTIONS))
    parsed = configuration.get(jvm.org.apache.flink.configuration.PipelineOptions.GLOBAL_JOB_PARAMETERS)
    assert dict(parsed) == OPTIONS
