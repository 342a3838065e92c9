"""A standalone cluster with high availability (``python -m udfs.cluster start --ha``): its own
ZooKeeper (Debian's package) on a free port, a leader and a standby JobManager, one TaskManager.
The leading JobManager is killed with kill -9 while a streaming job classifies files that keep
landing: the standby takes over, recovers the job from its last checkpoint, and every file ends up
with exactly one committed row."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error

import pytest

from udfs.cluster import Cluster
from udfs.cluster.processes import ZOOKEEPER
from udfs.cluster.zookeeper import answers

from cluster_jobs import (  # noqa: F401  (model_sql: a fixture)
    ASSETS_MISSING, TEST_TASKMANAGER_MEMORY, StreamingJob, free_port, free_port_range, model_sql, photos, row_counts,
    wait_for_rows,
)
from conftest import subprocess_env

pytestmark = [pytest.mark.flink, pytest.mark.slow]

if ASSETS_MISSING:
    pytest.skip(ASSETS_MISSING, allow_module_level=True)


@pytest.fixture(scope="module")
def ha_cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("flink-ha-cluster"), base_env=subprocess_env())
    try:
        cluster.start(
            taskmanagers=1, slots=2, port=free_port(), standby_port=free_port(), ha=True, timeout=240,
            overrides={
                # two JobManagers, the TaskManager and a third JobManager added after the failover
                "metrics.reporter.prom.port": free_port_range(4),
                "jobmanager.memory.process.size": "1024m",
                **TEST_TASKMANAGER_MEMORY,
            },
        )
        yield cluster
    finally:
        cluster.stop()
        for pid in cluster.processes():  # stop() already escalates to SIGKILL; belt and braces
            os.kill(pid, signal.SIGKILL)
        assert not cluster.processes()


def during_failover(read, default=None):
    """``read()``, or ``default`` while no JobManager serves the REST API (the leader is dead and
    the standby not leading yet: connection refused, or 503 "ongoing leader election")."""
    try:
        return read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return default


def test_jobmanager_killed_mid_stream_standby_recovers_the_job(ha_cluster, model_sql, tmp_path):
    cluster = ha_cluster
    config = cluster.config()
    assert config["high-availability.type"] == "zookeeper"
    zookeeper_port = int(config["high-availability.zookeeper.quorum"].rsplit(":", 1)[1])
    assert answers(zookeeper_port) and list(cluster.processes((ZOOKEEPER,)).values()) == [ZOOKEEPER]
    jobmanagers = cluster.jobmanagers()
    assert sorted(jobmanagers.values()) == sorted(cluster.rest_ports) and len(jobmanagers) == 2
    leader = cluster.leader()
    standby = next(pid for pid in jobmanagers if pid != leader)

    job = StreamingJob(cluster, tmp_path, model_sql, parallelism=1)
    images = photos()
    landed: list[str] = []

    def land(phase: str, count: int = 1) -> set[str]:
        names = {f"{phase}_{len(landed) + i:03d}.jpg" for i in range(count)}
        for name in sorted(names):
            job.land(images[len(landed) % len(images)], name)
            landed.append(name)
        return names

    try:
        # files whose rows a completed checkpoint has committed, then files still on their way
        wait_for_rows(job, land("before", 5), 180)
        land("in_flight", 3)
        last_checkpoint = job.checkpoints()["latest"]["completed"]
        os.kill(leader, signal.SIGKILL)
        killed_at = time.monotonic()

        def recovered():
            details = during_failover(job.details)
            checkpoints = during_failover(job.checkpoints)
            return (details is not None and checkpoints is not None and details["state"] == "RUNNING"
                    and all(v["status"] == "RUNNING" for v in details["vertices"])
                    and checkpoints["latest"]["restored"] is not None and checkpoints)

        # a file a second lands while no JobManager leads (at most 30)
        during: set[str] = set()
        while not (checkpoints := recovered()):
            assert time.monotonic() - killed_at < 180, "the standby did not run the job again within 180 s"
            if len(during) < 30:
                during |= land("during")
            time.sleep(1)
        took_over = time.monotonic() - killed_at
        land("after", 5)

        assert cluster.leader() == standby and leader not in cluster.jobmanagers()
        restored = checkpoints["latest"]["restored"]
        # the same job (not a new submission), restarted from the last checkpoint it completed
        assert job.details()["jid"] == job.job_id
        assert not restored["is_savepoint"] and restored["id"] >= last_checkpoint["id"], (restored, last_checkpoint)

        started = time.monotonic()
        expected = set(landed)
        wait_for_rows(job, expected, 180)
        time.sleep(5)  # a few more checkpoints: duplicates would show up now
        counts = row_counts(job)
        duplicates = {name: n for name, n in counts.items() if n != 1}
        print(f"JobManager failover: kill -9 of the leader (pid {leader}) with 3 files in flight, {len(during)} "
              f"landed while no JobManager led; job RUNNING again on the standby (pid {standby}) {took_over:.1f} s "
              f"later, restored from checkpoint {restored['id']} (last completed before the kill: "
              f"{last_checkpoint['id']}); all rows committed {time.monotonic() - started:.1f} s after the last file "
              f"landed; {sum(counts.values())} rows for {len(expected)} files, duplicates: {duplicates}")
        assert set(counts) == expected
        assert not duplicates

        # a new standby on the dead leader's port restores the redundancy
        added = cluster.add_jobmanager()
        assert cluster.jobmanagers() == {standby: jobmanagers[standby], added: jobmanagers[leader]}
        status = subprocess.run([sys.executable, "-m", "udfs.cluster", "--work-dir", str(cluster.work_dir), "status"],
                                env=subprocess_env(), capture_output=True, text=True, timeout=120)
        assert status.returncode == 0, status.stderr
        status = json.loads(status.stdout)
        assert {jm["pid"]: jm["leader"] for jm in status["jobmanagers"]} == {standby: True, added: False}
        assert [j["jid"] for j in status["jobs"] if j["state"] == "RUNNING"] == [job.job_id]
    finally:
        during_failover(job.cancel)
