"""Helpers of the tests that run streaming jobs on a real standalone cluster (tests/test_cluster.py,
tests/test_cluster_ha.py): free ports, the shared photos and model, a streaming classification job
of a watched folder submitted detached (:class:`StreamingJob`), and waits for its committed rows."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import subprocess
import time
import urllib.error
from pathlib import Path

import pytest

from udfs.cluster import Cluster

from conftest import SHARED, missing

PHOTOS = SHARED / "images" / "photos"
MODEL = SHARED / "models" / "mobilenet_v2_1.0_224_quant.tflite"
ASSETS_MISSING = None if PHOTOS.is_dir() and MODEL.is_file() else missing("photos, mobilenet model")
MODEL_OPTIONS = {"classify.model": "mobilenet_v2_quant", "classify.model-path": str(MODEL), "classify.precision": "f32"}
MODEL_SQL = "".join(f"SET '{key}' = '{value}';\n" for key, value in MODEL_OPTIONS.items())
# Test-sized TaskManagers (2 slots): outside a container nothing enforces Flink's memory budgets,
# and MobileNet on the shared photos needs far less than conf/cluster/config.yaml budgets for ResNet-50.
# Metaspace 512m (Flink's default 256m): the module-scoped test cluster runs a dozen jobs, each with
# its own user-code class loader (Beam's gRPC/protobuf classes, the provider's), and a TaskManager that
# had run them all died with "OutOfMemoryError: Metaspace" as the next job started (CI, 2026-12-04)
TEST_TASKMANAGER_MEMORY = {"taskmanager.memory.process.size": "2560m", "taskmanager.memory.managed.size": "512m",
                           "taskmanager.memory.task.off-heap.size": "128m",
                           "taskmanager.memory.jvm-metaspace.size": "512m"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def free_port_range(count: int) -> str:
    """``count`` consecutive ports that are free now, in Flink's range syntax."""
    def free(port: int) -> bool:
        with socket.socket() as s:
            try:
                s.bind(("localhost", port))
                return True
            except OSError:
                return False

    for _ in range(100):
        base = random.randrange(20000, 60000)
        if all(free(port) for port in range(base, base + count)):
            return f"{base}-{base + count - 1}"
    raise RuntimeError(f"no {count} consecutive free ports")


def photos() -> list[Path]:
    return sorted(p for p in PHOTOS.iterdir() if p.is_file() and not p.name.startswith((".", "_")))


def read_json_lines(directory: Path) -> list[dict]:
    """Rows of the committed part files (hidden in-progress/pending files excluded)."""
    rows = []
    for file in sorted(directory.rglob("*")):
        if file.is_file() and not file.name.startswith((".", "_")):
            rows += [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
    return rows


@pytest.fixture
def model_sql(tmp_path) -> Path:
    path = tmp_path / "00_model.sql"
    path.write_text(MODEL_SQL)
    return path


STREAMING_SQL = """SET 'execution.checkpointing.interval' = '2 s';
SET 'execution.checkpointing.mode' = 'EXACTLY_ONCE';
SET 'restart-strategy.type' = 'fixed-delay';
SET 'restart-strategy.fixed-delay.attempts' = '60';
SET 'restart-strategy.fixed-delay.delay' = '2 s';
SET 'python.fn-execution.bundle.time' = '100';
SET 'python.fn-execution.arrow.batch.size' = '8';
SET 'python.fn-execution.bundle.size' = '8';

CREATE TABLE images (
  image BYTES,
  path STRING NOT NULL METADATA FROM 'file.path'
) WITH (
  'connector' = 'filesystem',
  'path' = '${IMAGES_DIR}',
  'format' = 'whole-file',
  'source.monitor-interval' = '1 s'
);

CREATE TEMPORARY TABLE predictions (path STRING, label STRING, class_id INT, error STRING) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'json',
  -- row formats roll part files only by size/time (default 30 min); rolled files are committed
  -- (made visible) by the next completed checkpoint
  'sink.rolling-policy.rollover-interval' = '1 s',
  'sink.rolling-policy.check-interval' = '1 s'
);

INSERT INTO predictions
SELECT path, p.label, p.class_id, p.error FROM (SELECT path, classify_resnet50(image) AS p FROM images);
"""


class StreamingJob:
    """A streaming classification job of ``folder/watched`` into ``folder/out``, submitted detached
    (``submit -d``: the SQL runner prints the job ID and returns while the job runs on);
    ``cancel()`` or ``stop_with_savepoint()`` ends it. A job resumed from a savepoint uses the same
    folder."""

    def __init__(self, cluster: Cluster, folder: Path, model_sql: Path, parallelism: int = 2,
                 savepoint: str | None = None):
        self.cluster = cluster
        self.watched, self.out = folder / "watched", folder / "out"
        self.watched.mkdir(parents=True, exist_ok=True)
        script = folder / "streaming.sql"
        script.write_text(STREAMING_SQL)
        command = cluster.submit_command(["--mode", "streaming", "-i", str(model_sql), "-f", str(script)],
                                         parallelism=parallelism, savepoint=savepoint, detached=True)
        client = subprocess.run(command, env={**cluster.env(), "IMAGES_DIR": str(self.watched), "OUTPUT_DIR": str(self.out)},
                                capture_output=True, text=True, timeout=120)
        output = client.stdout + client.stderr
        assert client.returncode == 0, f"client exited {client.returncode}: {output[-3000:]}"
        submitted = re.search(r"Submitted job ([0-9a-f]{32}), not waiting for it \(detached\)", output)
        assert submitted, f"no job ID in the detached client's output: {output[-3000:]}"
        self.job_id = submitted.group(1)
        self.wait_running(90)

    def _wait(self, condition, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            if self.details()["state"] in ("FAILED", "CANCELED", "FINISHED"):
                raise AssertionError(f"job {self.job_id} is {self.details()['state']} while waiting for {what}")
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def details(self) -> dict:
        return self.cluster.rest.get(f"/jobs/{self.job_id}")

    def checkpoints(self) -> dict:
        return self.cluster.rest.get(f"/jobs/{self.job_id}/checkpoints")

    def running(self) -> bool:
        details = self.details()
        return details["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in details["vertices"])

    def wait_running(self, timeout: float) -> None:
        self._wait(self.running, timeout, "all tasks RUNNING")

    def metrics(self) -> dict[str, float]:
        """The classify.* metrics summed over subtasks, by short name (``images``...)."""
        totals: dict[str, float] = {}
        for vertex in self.details()["vertices"]:
            base = f"/jobs/{self.job_id}/vertices/{vertex['id']}/metrics"
            names = [m["id"] for m in self.cluster.rest.get(base) if ".classify." in m["id"]]
            if not names:
                continue
            for metric in self.cluster.rest.get(base + "?get=" + ",".join(names)):
                short = metric["id"].split(".classify.", 1)[1]
                try:
                    totals[short] = totals.get(short, 0) + float(metric["value"])
                except ValueError:
                    pass
        return totals

    def land(self, source: Path, name: str) -> float:
        """Copy ``source`` into the watched dir atomically (hidden name, then rename)."""
        hidden = self.watched / f".{name}.tmp"
        shutil.copyfile(source, hidden)
        os.replace(hidden, self.watched / name)
        return time.time()

    def committed(self) -> list[dict]:
        return read_json_lines(self.out) if self.out.exists() else []

    def stop_with_savepoint(self, directory: Path) -> str:
        """Savepoint, then the job FINISHES (the savepoint can complete just before)."""
        savepoint = self.cluster.rest.stop_with_savepoint(self.job_id, str(directory))
        self._wait_state(("FINISHED", "FAILED", "CANCELED"), 120)
        return savepoint

    def cancel(self) -> None:
        if self.details()["state"] not in ("FINISHED", "CANCELED", "FAILED"):
            try:
                self.cluster.rest.cancel(self.job_id)
            except urllib.error.HTTPError as error:
                if error.code != 409:  # 409: the job is already stopping
                    raise
            self._wait_state(("CANCELED", "FAILED", "FINISHED"), 120)

    def _wait_state(self, states, timeout):
        deadline = time.monotonic() + timeout
        while (state := self.details()["state"]) not in states:
            assert time.monotonic() < deadline, f"job {self.job_id} still {state} after {timeout} s, expected {' or '.join(states)}"
            time.sleep(0.5)


def wait_until(condition, timeout: float, what: str, interval: float = 1.0):
    """Poll ``condition`` until it returns a truthy value (returned); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            assert value, f"timed out after {timeout} s waiting for {what}"
            return value
        time.sleep(interval)


def wait_for_rows(job: StreamingJob, names: set[str], timeout: float, seen: dict[str, float] | None = None) -> dict[str, float]:
    """Poll committed output until every name in ``names`` has a row; {name: first seen time}."""
    seen = {} if seen is None else seen
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = time.time()
        for row in job.committed():
            seen.setdefault(Path(row["path"]).name, now)
        if names <= set(seen):
            return seen
        time.sleep(0.1)
    missing = sorted(names - set(seen))
    raise AssertionError(f"rows missing after {timeout} s: {missing[:10]} ({len(missing)} in all)")


def row_counts(job: StreamingJob) -> dict[str, int]:
    """Committed rows per file name, each expected to be 1 (exactly once), every one classified."""
    counts: dict[str, int] = {}
    for row in job.committed():
        assert row["label"] is not None and row["error"] is None, row
        name = Path(row["path"]).name
        counts[name] = counts.get(name, 0) + 1
    return counts


def land_batch(job: StreamingJob, prefix: str, count: int) -> set[str]:
    images = photos()
    names = {f"{prefix}_{i:02d}.jpg" for i in range(count)}
    for i, name in enumerate(sorted(names)):
        job.land(images[i % len(images)], name)
    return names
