"""The standalone-cluster driver without a JVM: configuration layering, the conf dir it writes,
the Prometheus port range and scrape configuration, the ``flink run`` command line, and the
command line's errors. tests/test_cluster.py runs it for real."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from udfs.cluster import Cluster, ClusterError
from udfs.cluster.__main__ import main
from udfs.cluster.conf import merged_config, with_high_availability, write_conf_dir
from udfs.cluster.prometheus import check_ports_suffice, parse_ports, reporter_ports, scrape_config
from udfs.cluster.submit import PACKAGE_DIR, flink_run_command
from udfs.cluster.zookeeper import server_jar
from udfs.config_file import read_config_file

REPORTER = {"metrics.reporter.prom.factory.class": "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"}


def test_config_layers_wheel_then_overlay_then_overrides(tmp_path):
    overlay = tmp_path / "cluster.yaml"
    overlay.write_text("taskmanager:\n  numberOfTaskSlots: 3\nrest.port: 8082\npipeline.jars: [a.jar, b.jar]\n")
    config = merged_config({"rest.port": "9000"}, overlay=overlay)
    assert config["jobmanager.execution.failover-strategy"] == "region"  # from the wheel's config.yaml
    assert config["taskmanager.numberOfTaskSlots"] == "3"
    assert config["rest.port"] == "9000"
    assert config["pipeline.jars"] == "a.jar;b.jar"  # Flink's list syntax


def test_conf_dir_has_the_merged_config_and_a_worker_line_per_taskmanager(tmp_path):
    config = merged_config({"taskmanager.host": "localhost", "rest.port": "8555"})
    write_conf_dir(tmp_path / "conf", config, taskmanagers=3)
    assert read_config_file(tmp_path / "conf" / "config.yaml") == config
    assert (tmp_path / "conf" / "workers").read_text().splitlines() == ["localhost"] * 3
    assert (tmp_path / "conf" / "masters").read_text() == "localhost:8555\n"
    assert (tmp_path / "conf" / "log4j.properties").is_file()


def test_high_availability_conf_has_the_zookeeper_a_master_per_jobmanager_and_durable_checkpoints(tmp_path):
    config = with_high_availability(merged_config({"rest.port": "8555"}), tmp_path, zookeeper_port=2999)
    assert config["high-availability.type"] == "zookeeper"
    assert config["high-availability.zookeeper.quorum"] == "localhost:2999"
    assert config["high-availability.storageDir"] == (tmp_path / "ha").as_uri()
    assert config["execution.checkpointing.dir"] == (tmp_path / "checkpoints").as_uri()
    assert int(config["high-availability.zookeeper.client.session-timeout"]) < 60000  # conf/cluster/config.yaml
    given = with_high_availability({"high-availability.storageDir": "s3://bucket/ha",
                                    "high-availability.zookeeper.quorum": "zk1:2181,zk2:2181"}, tmp_path, None)
    assert given["high-availability.storageDir"] == "s3://bucket/ha"  # what the user set wins
    assert given["high-availability.zookeeper.quorum"] == "zk1:2181,zk2:2181"  # an ensemble: no ZooKeeper of its own
    write_conf_dir(tmp_path / "conf", config, taskmanagers=1, jobmanager_ports=[8555, 8556])
    assert (tmp_path / "conf" / "masters").read_text() == "localhost:8555\nlocalhost:8556\n"


def test_high_availability_refuses_bad_set_ups_before_starting_anything(tmp_path, monkeypatch):
    cluster = Cluster(tmp_path / "cluster")
    with pytest.raises(ClusterError, match="--standby-port must differ from the REST port 8555"):
        cluster.start(ha=True, port=8555, standby_port=8555)
    with pytest.raises(ClusterError, match="add-jobmanager needs a cluster started with --ha"):
        cluster.add_jobmanager()
    assert not cluster.processes() and not (tmp_path / "cluster" / "conf").exists()
    monkeypatch.setenv("ZOOKEEPER_JAR", str(tmp_path / "missing.jar"))
    with pytest.raises(ClusterError, match="--ha needs ZooKeeper \\(apt-get install -y zookeeper"):
        server_jar()


def test_cluster_processes_get_two_malloc_arenas_unless_the_environment_says_otherwise(tmp_path):
    """glibc's per-thread arenas grew a TaskManager's native memory with every ML_PREDICT job
    (tests/test_cancel_storm.py); the cluster's processes start with two."""
    assert Cluster(tmp_path / "a", base_env={"PATH": "/usr/bin"}).env()["MALLOC_ARENA_MAX"] == "2"
    assert Cluster(tmp_path / "b", base_env={"MALLOC_ARENA_MAX": "8"}).env()["MALLOC_ARENA_MAX"] == "8"


def test_port_ranges():
    assert parse_ports("9249-9251,9300") == [9249, 9250, 9251, 9300]
    assert parse_ports("9249") == [9249]
    for bad in ("92a9", "9260-9250", "0-3", "70000"):
        with pytest.raises(ValueError, match="port range"):
            parse_ports(bad)
    assert reporter_ports({}) == []
    assert reporter_ports(REPORTER) == [9249]
    assert reporter_ports(REPORTER | {"metrics.reporter.prom.port": "9250-9252"}) == [9250, 9251, 9252]
    with pytest.raises(ValueError, match="'metrics.reporter.prom.port'"):
        reporter_ports(REPORTER | {"metrics.reporter.prom.port": "x"})


def test_port_range_must_cover_every_process():
    config = REPORTER | {"metrics.reporter.prom.port": "9250-9251"}
    check_ports_suffice(config, processes=2)
    with pytest.raises(ValueError, match="2 port\\(s\\) for 3 processes.*metrics.reporter.prom.port"):
        check_ports_suffice(config, processes=3)


def test_start_refuses_bad_counts_before_starting_anything(tmp_path):
    cluster = Cluster(tmp_path / "cluster")
    with pytest.raises(ClusterError, match="--taskmanagers must be at least 1"):
        cluster.start(taskmanagers=0)
    with pytest.raises(ClusterError, match="widen metrics.reporter.prom.port"):
        cluster.start(taskmanagers=3, overrides={"metrics.reporter.prom.port": "9250-9251"})
    with pytest.raises(ClusterError, match="'rest.port' must be an integer"):
        cluster.start(overrides={"rest.port": "eighty"})
    assert not cluster.processes() and not (tmp_path / "cluster" / "conf").exists()


@pytest.mark.flink  # Flink's own memory calculation (BashJavaUtils) runs in a JVM
def test_start_refuses_a_taskmanager_memory_split_flink_refuses(tmp_path):
    cluster = Cluster(tmp_path / "cluster")
    with pytest.raises(ClusterError, match="Flink refuses this TaskManager memory configuration: .*Task Off-Heap "
                                           "Memory \\(2.000gb .* exceed configured Total Flink Memory"):
        cluster.start(overrides={"taskmanager.memory.process.size": "1024m", "taskmanager.memory.task.off-heap.size": "2g"})
    assert not cluster.processes() and not (tmp_path / "cluster" / "conf").exists()


def test_scrape_config_lists_every_port_of_the_range():
    config = REPORTER | {"metrics.reporter.prom.port": "9250-9252", "jobmanager.rpc.address": "localhost"}
    scrape = scrape_config(config, interval="2s")
    assert scrape["global"]["scrape_interval"] == "2s"
    (job,) = scrape["scrape_configs"]
    assert job["static_configs"] == [{"targets": ["localhost:9250", "localhost:9251", "localhost:9252"]}]
    with pytest.raises(ValueError, match="no Prometheus reporter"):
        scrape_config({})


def test_cluster_config_enables_prometheus_for_every_process():
    config = merged_config()
    check_ports_suffice(config, processes=1 + 2)  # JobManager + two TaskManagers at least
    assert yaml.safe_load(yaml.safe_dump(scrape_config(config)))["scrape_configs"][0]["job_name"] == "flink"


def test_flink_run_command():
    command = flink_run_command("/flink/bin/flink", "localhost:8081", ["-f", "x.sql"], parallelism=3,
                                savepoint="file:/sp/savepoint-1", options={"a.b": "c"}, archives=["v.tgz#venv"],
                                python="venv/bin/python", detached=True)
    assert command[:7] == ["/flink/bin/flink", "run", "-m", "localhost:8081", "-p", "3", "-d"]
    assert command[command.index("-s") + 1] == "file:/sp/savepoint-1"
    assert "-Da.b=c" in command
    assert command[command.index("-pyfs") + 1] == str(PACKAGE_DIR)
    assert command[command.index("-pyexec") + 1] == "venv/bin/python"
    assert command[command.index("-pyarch") + 1] == "v.tgz#venv"
    assert command[-3:] == ["--", "-f", "x.sql"]


def test_command_line_names_a_malformed_define(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--work-dir", str(tmp_path), "start", "-D", "taskmanager.numberOfTaskSlots"])
    assert exit_info.value.code == 2
    assert "-D 'taskmanager.numberOfTaskSlots': expected KEY=VALUE" in capsys.readouterr().err


def test_command_line_reports_cluster_errors(tmp_path, capsys):
    assert main(["--work-dir", str(tmp_path), "prometheus-config"]) == 1
    assert "no cluster was started in" in capsys.readouterr().err


def test_driver_does_not_import_the_table_api():
    code = "import sys, udfs.cluster, udfs.cluster.__main__; print('pyflink.table' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
