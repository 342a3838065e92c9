"""Jobs on a real standalone Flink cluster (``python -m udfs.cluster``), started once per session
from the apache-flink wheel in a temporary work dir on free ports and always stopped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from udfs.cluster import Cluster

pytestmark = [pytest.mark.flink, pytest.mark.slow]

from conftest import REPO as ROOT, SHARED, subprocess_env

PHOTOS = SHARED / "images" / "photos"
MODEL = SHARED / "models" / "mobilenet_v2_1.0_224_quant.tflite"
SQL = ROOT / "sql"
CLASSIFY_SCRIPTS = ["-i", str(SQL / "10_images.sql"), "-i", str(SQL / "20_functions.sql"), "-f", str(SQL / "30_classify.sql")]

if not (PHOTOS.is_dir() and MODEL.is_file()):
    pytest.skip(f"{SHARED} (photos, mobilenet model) not available", allow_module_level=True)

MODEL_SQL = f"""SET 'classify.model' = 'mobilenet_v2_quant';
SET 'classify.model-path' = '{MODEL}';
SET 'classify.precision' = 'f32';
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def photos() -> list[Path]:
    return sorted(p for p in PHOTOS.iterdir() if p.is_file() and not p.name.startswith((".", "_")))


def read_json_lines(directory: Path) -> list[dict]:
    """Rows of the committed part files (hidden in-progress/pending files excluded)."""
    rows = []
    for file in sorted(directory.rglob("*")):
        if file.is_file() and not file.name.startswith((".", "_")):
            rows += [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
    return rows


def env(**extra: str) -> dict[str, str]:
    return subprocess_env(**extra)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("flink-cluster"), base_env=subprocess_env())
    try:
        cluster.start(port=free_port(), overrides={"jobmanager.rpc.port": str(free_port())}, timeout=120)
        yield cluster
    finally:
        cluster.stop()
        left = cluster.processes()
        for pid in left:  # stop() already escalates to SIGKILL; belt and braces
            os.kill(pid, signal.SIGKILL)
        assert not cluster.processes()


@pytest.fixture
def model_sql(tmp_path) -> Path:
    path = tmp_path / "00_model.sql"
    path.write_text(MODEL_SQL)
    return path


def submit(cluster: Cluster, args: list[str], timeout: float = 180, **kwargs) -> subprocess.CompletedProcess:
    command = cluster.submit_command(args, **kwargs)
    started = time.perf_counter()
    result = subprocess.run(command, env=cluster.env(), capture_output=True, text=True, timeout=timeout)
    print(f"cluster job: {time.perf_counter() - started:.1f} s (exit {result.returncode})")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def by_path(rows: list[dict]) -> dict[str, dict]:
    return {row["path"]: row for row in rows}


def test_sql_job_on_cluster_matches_embedded_run(cluster, model_sql, tmp_path):
    cluster_out, embedded_out = tmp_path / "cluster", tmp_path / "embedded"
    variables = {"IMAGES_DIR": str(PHOTOS), "OUTPUT_DIR": str(cluster_out)}
    command = cluster.submit_command(["-i", str(model_sql), *CLASSIFY_SCRIPTS])
    started = time.perf_counter()
    result = subprocess.run(command, env={**cluster.env(), **variables}, capture_output=True, text=True, timeout=240)
    cluster_seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "Job Runtime:" in result.stdout

    started = time.perf_counter()
    embedded = subprocess.run(
        [sys.executable, "-m", "udfs.sql", "-i", str(model_sql), *CLASSIFY_SCRIPTS],
        cwd=ROOT, env=env(IMAGES_DIR=str(PHOTOS), OUTPUT_DIR=str(embedded_out)),
        capture_output=True, text=True, timeout=240,
    )
    embedded_seconds = time.perf_counter() - started
    assert embedded.returncode == 0, embedded.stderr[-5000:]
    print(f"19 photos: cluster {cluster_seconds:.1f} s, embedded {embedded_seconds:.1f} s")

    on_cluster, local = by_path(read_json_lines(cluster_out)), by_path(read_json_lines(embedded_out))
    assert len(on_cluster) == len(photos()) and set(on_cluster) == set(local) == {str(p) for p in photos()}
    for path, row in local.items():
        other = on_cluster[path]
        assert (other["class_id"], other["label"], other["error"]) == (row["class_id"], row["label"], row["error"]), path
        assert other["probability"] == pytest.approx(row["probability"], abs=1e-4), path
        assert other["top_probabilities"] == pytest.approx(row["top_probabilities"], abs=1e-4), path
    assert sum(row["error"] is None for row in local.values()) >= len(local) - 1


OTHER_JOB = """
import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

from udfs.catalog import create_images_table, sql_string
from udfs.settings import configure

images_dir, output_dir, model_path = sys.argv[1:4]
t_env = configure(
    TableEnvironment.create(EnvironmentSettings.in_batch_mode()),
    overrides={"classify.model": "mobilenet_v2_quant", "classify.model-path": model_path, "classify.top-k": "2"},
)
create_images_table(t_env, images_dir)
t_env.execute_sql(
    "CREATE TEMPORARY TABLE labels (name STRING, label STRING, top_labels ARRAY<STRING>) "
    f"WITH ('connector' = 'filesystem', 'path' = {sql_string(output_dir)}, 'format' = 'json')"
)
t_env.execute_sql(
    "INSERT INTO labels SELECT name, p.label, p.top_labels FROM "
    "(SELECT name, classify_resnet50(image) AS p FROM images)"
).wait()
print("other job done")
"""


def test_other_job_file_outside_the_repo(cluster, tmp_path):
    job = tmp_path / "jobs" / "my_job.py"
    job.parent.mkdir()
    job.write_text(OTHER_JOB)
    out = tmp_path / "out"
    result = submit(cluster, [str(PHOTOS), str(out), str(MODEL)], job=job)
    assert "other job done" in result.stdout
    rows = read_json_lines(out)
    assert sorted(row["name"] for row in rows) == sorted(p.name for p in photos())
    assert all(len(row["top_labels"]) == 2 for row in rows if row["label"] is not None)


def test_packed_venv_runs_the_workers(cluster, tmp_path):
    """``udfs.cluster pack``: the workers run the archived venv's python (python.archives)."""
    from udfs.cluster import pack, pack_arguments

    started = time.perf_counter()
    archive = pack(tmp_path / "venv.tar.gz")
    pack_seconds = time.perf_counter() - started
    assert pack_arguments(archive) == ["-pyarch", f"{archive}#venv", "-pyexec", "venv/bin/python"]
    job = tmp_path / "my_job.py"
    job.write_text(OTHER_JOB)
    out = tmp_path / "out"
    started = time.perf_counter()
    result = submit(cluster, [str(PHOTOS), str(out), str(MODEL)], job=job, python="venv/bin/python",
                    archives=[f"{archive}#venv"])
    print(f"pack: {archive.stat().st_size / 2**20:.0f} MiB in {pack_seconds:.1f} s; "
          f"job with it {time.perf_counter() - started:.1f} s")
    assert "other job done" in result.stdout
    assert len(read_json_lines(out)) == len(photos())
    logs = "".join(p.read_text(errors="replace") for p in cluster.log_dir.glob("*taskexecutor*.log"))
    assert "Python interpreter path: venv/bin/python" in logs


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
    """A streaming classification job submitted (attached) in the background; cancel() ends it."""

    def __init__(self, cluster: Cluster, tmp_path: Path, model_sql: Path):
        self.cluster = cluster
        self.watched, self.out = tmp_path / "watched", tmp_path / "out"
        self.watched.mkdir()
        script = tmp_path / "streaming.sql"
        script.write_text(STREAMING_SQL)
        known = {job["jid"] for job in cluster.jobs()}
        command = cluster.submit_command(["--mode", "streaming", "-i", str(model_sql), "-f", str(script)])
        self.log = open(tmp_path / "client.log", "w")
        self.client = subprocess.Popen(command, env={**cluster.env(), "IMAGES_DIR": str(self.watched),
                                                     "OUTPUT_DIR": str(self.out)},
                                       stdout=self.log, stderr=subprocess.STDOUT)
        self.job_id = self._wait(lambda: next((j["jid"] for j in cluster.jobs() if j["jid"] not in known), None), 90,
                                 "the job to be submitted")
        self.wait_running(90)

    def _wait(self, condition, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            if self.client.poll() is not None and self.client.returncode != 0:
                raise AssertionError(f"client exited {self.client.returncode}: {Path(self.log.name).read_text()[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def details(self) -> dict:
        return self.cluster.rest(f"/jobs/{self.job_id}")

    def wait_running(self, timeout: float) -> None:
        def running():
            details = self.details()
            return details["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in details["vertices"])

        self._wait(running, timeout, "all tasks RUNNING")

    def metrics(self) -> dict[str, float]:
        """The classify.* metrics summed over subtasks, by short name (``images``...)."""
        totals: dict[str, float] = {}
        for vertex in self.details()["vertices"]:
            base = f"/jobs/{self.job_id}/vertices/{vertex['id']}/metrics"
            names = [m["id"] for m in self.cluster.rest(base) if ".classify." in m["id"]]
            if not names:
                continue
            for metric in self.cluster.rest(base + "?get=" + ",".join(names)):
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

    def cancel(self) -> None:
        try:
            if self.details()["state"] not in ("FINISHED", "CANCELED", "FAILED"):
                self.cluster.cancel(self.job_id)
                self._wait_state(("CANCELED", "FAILED", "FINISHED"), 60)
        finally:
            try:
                self.client.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.client.kill()
                self.client.wait(timeout=10)
            self.log.close()

    def _wait_state(self, states, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.details()["state"] not in states:
            time.sleep(0.5)


def test_udf_metrics_in_rest_api(cluster, model_sql, tmp_path):
    job = StreamingJob(cluster, tmp_path, model_sql)
    try:
        for i, photo in enumerate(photos()):
            job.land(photo, f"{i:02d}_{photo.name}")
        deadline = time.monotonic() + 90
        metrics = {}
        while time.monotonic() < deadline:
            metrics = job.metrics()
            if metrics.get("images", 0) >= len(photos()):
                break
            time.sleep(1)
        print(f"metrics: {metrics}")
        assert metrics.get("images") == len(photos()), metrics
        assert metrics.get("errors") == 0, metrics
        assert "lastMillisPerImage" in metrics
    finally:
        job.cancel()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


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


def test_streaming_latency_and_taskmanager_crash(cluster, model_sql, tmp_path):
    job = StreamingJob(cluster, tmp_path, model_sql)
    images = photos()
    try:
        # warm up: the first file makes the Python workers load the model
        job.land(images[0], "warmup_0.jpg")
        job.land(images[1], "warmup_1.jpg")
        wait_for_rows(job, {"warmup_0.jpg", "warmup_1.jpg"}, 90)

        # latency: one file every 0.5 s, landing time -> row in a committed part file
        landed: dict[str, float] = {}
        seen: dict[str, float] = {}
        for i in range(20):
            name = f"lat_{i:02d}.jpg"
            landed[name] = job.land(images[i % len(images)], name)
            for row in job.committed():
                seen.setdefault(Path(row["path"]).name, time.time())
            time.sleep(0.5)
        wait_for_rows(job, set(landed), 60, seen)
        latencies = [seen[name] - landed[name] for name in landed]
        p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
        print(f"latency file landing -> committed row: p50 {p50:.2f} s, p95 {p95:.2f} s, max {max(latencies):.2f} s")
        assert p95 < 15

        # fault injection: kill -9 the TaskManager while files keep arriving, start a new one
        crash_names: list[str] = []
        stop = threading.Event()

        def keep_landing():
            i = 0
            while not stop.is_set() and i < 60:
                name = f"crash_{i:02d}.jpg"
                job.land(images[i % len(images)], name)
                crash_names.append(name)
                i += 1
                stop.wait(0.4)

        feeder = threading.Thread(target=keep_landing)
        feeder.start()
        try:
            time.sleep(4)
            (tm_pid,) = cluster.taskmanager_pids()
            os.kill(tm_pid, signal.SIGKILL)
            killed_at = time.monotonic()
            time.sleep(1)
            cluster.start_taskmanager()
            cluster.wait_ready(taskmanagers=1, timeout=90)
            job.wait_running(120)
            recovered = time.monotonic() - killed_at
            time.sleep(3)
        finally:
            stop.set()
            feeder.join(timeout=60)
        started = time.monotonic()
        wait_for_rows(job, set(crash_names), 120)
        time.sleep(5)  # let a few more checkpoints complete: duplicates would show up now
        caught_up = time.monotonic() - started
        rows = job.committed()
        restored = job.cluster.rest(f"/jobs/{job.job_id}/checkpoints")["counts"]["restored"]
        counts: dict[str, int] = {}
        for row in rows:
            name = Path(row["path"]).name
            counts[name] = counts.get(name, 0) + 1
        expected = {"warmup_0.jpg", "warmup_1.jpg", *landed, *crash_names}
        duplicates = {name: n for name, n in counts.items() if n != 1}
        print(f"fault injection: {len(crash_names)} files landed around the crash, job RUNNING again "
              f"{recovered:.1f} s after kill -9, all rows committed {caught_up:.1f} s after the feeder stopped; "
              f"{len(rows)} rows for {len(expected)} files, duplicates: {duplicates}, restored from checkpoint: {restored}x")
        assert restored >= 1  # the crash really made the job recover from a checkpoint
        assert set(counts) == expected
        assert not duplicates
    finally:
        job.cancel()
