"""Apply the project's configuration to a ``TableEnvironment``.

Two kinds of settings travel differently:

* Flink options (``source.reader.close.timeout``, ``python.fn-execution.*``...) go to the
  ``TableConfig`` as they are.
* ``classify.*`` options are read by the UDF in ``open()`` through
  ``FunctionContext.get_job_parameter``, which sees only ``pipeline.global-job-parameters``, not
  the ``TableConfig``. ``set_option`` therefore mirrors every ``classify.*`` key into that map.
  SQL-client users write the map themselves:
  ``SET 'pipeline.global-job-parameters' = 'classify.model:efficientnet_lite0,classify.top-k:3';``
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Mapping

from pyflink.common import Configuration
from pyflink.table import EnvironmentSettings, TableEnvironment

from udfs.catalog import use_format_jar
from udfs.config import PREFIX, load_config
from udfs.config_file import JOB_CONF as DEFAULT_CONF, read_config_file
from udfs.functions import register_functions
from udfs.python_workers import quiet_grpc

JOB_PARAMETERS = "pipeline.global-job-parameters"
MODES = ("batch", "streaming")


def table_environment(mode: str = "batch") -> TableEnvironment:
    """A ``TableEnvironment`` in ``mode`` for our entry points: its in-process Python workers
    start without gRPC's log lines, and its embedded MiniCluster serves its REST API on a port
    known in advance (``rest.port``: the progress display reads metrics there) and refreshes those
    metrics every second (default 10 s). Submitted by ``flink run``, the cluster's address and
    port are in the configuration already."""
    if mode not in MODES:
        raise ValueError(f"execution mode: expected one of {', '.join(MODES)}, got '{mode}'")
    quiet_grpc()  # before TableEnvironment.create starts the workers' gRPC server
    builder = EnvironmentSettings.new_instance().with_configuration(
        Configuration().set_string("metrics.fetcher.update-interval", "1000")
    )
    builder = builder.in_streaming_mode() if mode == "streaming" else builder.in_batch_mode()
    t_env = TableEnvironment.create(builder.build())
    config = t_env.get_config()
    if config.get("execution.target", "local") == "local" and not config.get("rest.port", ""):
        port = str(_free_port())  # the MiniCluster of each job binds it (jobs run one at a time here)
        config.set("rest.bind-port", port)
        config.set("rest.port", port)
    return t_env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def set_option(t_env: TableEnvironment, key: str, value: str) -> None:
    """``SET 'key' = 'value'``: a Flink option, or a ``classify.*`` option (validated now)."""
    t_env.get_config().set(key, value)
    if key.startswith(PREFIX):
        _sync_job_parameters(t_env)


def classify_options(t_env: TableEnvironment) -> dict[str, str]:
    """The ``classify.*`` options currently set on ``t_env``."""
    settings = t_env.get_config().get_configuration().to_dict()
    return {key: value for key, value in settings.items() if key.startswith(PREFIX)}


def _sync_job_parameters(t_env: TableEnvironment) -> None:
    options = classify_options(t_env)
    load_config(options)  # fail at job start, naming the key, rather than in every worker
    t_env.get_config().set(JOB_PARAMETERS, job_parameters_value(options))


def job_parameters_value(options: Mapping[str, str]) -> str:
    """``options`` as the value of Flink's map option ``pipeline.global-job-parameters``.

    Flink 2 reads a map option as YAML first (then as ``k1:v1,k2:v2``), so a JSON object, which
    is YAML too, carries any value intact: commas (``classify.mean-values``), colons and quotes
    (paths) and empty values (``classify.scale-values`` = none)."""
    return json.dumps(dict(options), ensure_ascii=False)


def configure(
    t_env: TableEnvironment,
    conf_file: Path | None = DEFAULT_CONF,
    overrides: Mapping[str, str] | None = None,
) -> TableEnvironment:
    """Apply ``conf_file`` then ``overrides``, make the image table and UDF usable; return t_env.

    Python workers run with this interpreter unless ``python.executable`` is set, because the
    default ``python`` on PATH need not have this package and its dependencies installed.
    """
    config = t_env.get_config()
    if config.get("python.executable", None) is None:
        config.set("python.executable", sys.executable)
    settings = read_config_file(conf_file) if conf_file is not None else {}
    settings.update(overrides or {})
    for key, value in settings.items():
        config.set(key, value)
    _sync_job_parameters(t_env)
    use_format_jar(t_env)
    register_functions(t_env)
    return t_env
