"""Jobs on a real standalone Flink cluster (``python -m udfs.cluster``): a JobManager and two
TaskManagers with two slots each, started once per module from the apache-flink wheel in a
temporary work dir on free ports and always stopped. Prometheus scrapes it in the metrics test."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from functools import cache
from pathlib import Path

import pytest

from udfs.cluster import Cluster
from udfs.cluster.conf import flink_home
from udfs.cluster.prometheus import scrape_config
from udfs.index_files import read_index

from altered_copies import altered_copy
from cluster_jobs import (  # noqa: F401  (model_sql: a fixture; free_port*: for tests/test_model_provider.py)
    ASSETS_MISSING, MODEL, MODEL_OPTIONS, PHOTOS, TEST_TASKMANAGER_MEMORY, StreamingJob, free_port, free_port_range,
    land_batch, model_sql, photos, read_json_lines, row_counts, wait_for_rows, wait_until,
)
from conftest import REPO as ROOT, subprocess_env
from deploy_files import local_job_args, manifest
from prometheus_server import PrometheusServer

pytestmark = [pytest.mark.flink, pytest.mark.slow]

SQL = ROOT / "sql"
GRAFANA_DASHBOARD = ROOT / "deploy" / "grafana" / "flink-image-udfs.json"
CLASSIFY_SCRIPTS = ["-i", str(SQL / "10_images.sql"), "-i", str(SQL / "20_functions.sql"), "-i", str(SQL / "29_sinks.sql"), "-f", str(SQL / "30_classify.sql")]

if ASSETS_MISSING:
    pytest.skip(ASSETS_MISSING, allow_module_level=True)

TASKMANAGERS, SLOTS = 2, 2


@cache
def expected_labels(top_k: int) -> dict[str, list[str]]:
    """File name -> top-k labels of each photo, classified in this process with the same model
    and precision as the jobs (the reference the cluster's rows must equal)."""
    from udfs.classifier import ImageClassifier
    from udfs.config import load_config

    files = photos()
    config = load_config(MODEL_OPTIONS | {"classify.top-k": str(top_k), "classify.cache-dir": ""})
    with ImageClassifier(config) as classifier:
        predictions = classifier.classify([f.read_bytes() for f in files])
    assert all(p.error is None for p in predictions)
    return {f.name: [label for label, _, _ in p.top_k] for f, p in zip(files, predictions)}


@pytest.fixture(scope="module")  # stopped before tests/test_cluster_ha.py starts its own
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("flink-cluster"), base_env=subprocess_env())
    try:
        cluster.start(
            taskmanagers=TASKMANAGERS, slots=SLOTS, port=free_port(), timeout=180,
            overrides={
                "jobmanager.rpc.port": str(free_port()),
                # JobManager, TaskManagers and the replacement started after the crash test
                "metrics.reporter.prom.port": free_port_range(TASKMANAGERS + 2),
                **TEST_TASKMANAGER_MEMORY,
            },
        )
        yield cluster
    finally:
        cluster.stop()
        left = cluster.processes()
        for pid in left:  # stop() already escalates to SIGKILL; belt and braces
            os.kill(pid, signal.SIGKILL)
        assert not cluster.processes()


@pytest.fixture(autouse=True)
def idle_cluster(cluster):
    """Each test starts on the whole cluster at rest: both TaskManagers registered (after the crash
    test, the killed one gone from the JobManager's view), every slot free, no job running. A
    TaskManager that died in an earlier test (in CI: OutOfMemoryError: Metaspace) fails here, by
    name, rather than as a job whose subtasks all ran on the one TaskManager left."""
    def at_rest():
        overview = cluster.rest.overview() or {}
        return (overview.get("taskmanagers") == TASKMANAGERS
                and overview.get("slots-available") == overview.get("slots-total") == TASKMANAGERS * SLOTS
                and not any(job["state"] not in ("FINISHED", "CANCELED", "FAILED") for job in cluster.rest.jobs()))
    wait_until(at_rest, 180, "both TaskManagers registered, every slot free and no job running")


def submit(cluster: Cluster, args: list[str], timeout: float = 180, **kwargs) -> subprocess.CompletedProcess:
    command = cluster.submit_command(args, **kwargs)
    started = time.perf_counter()
    result = subprocess.run(command, env=cluster.env(), capture_output=True, text=True, timeout=timeout)
    print(f"cluster job: {time.perf_counter() - started:.1f} s (exit {result.returncode})")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def job_id(client_output: str) -> str:
    return re.search(r"JobID ([0-9a-f]{32})", client_output).group(1)


def classify_vertex(cluster: Cluster, job: str) -> dict:
    """REST details of the job's vertex that runs the Python UDF (its subtasks and where they run)."""
    vertex = next(v for v in cluster.rest.get(f"/jobs/{job}")["vertices"] if "PythonCalc" in v["name"])
    return cluster.rest.get(f"/jobs/{job}/vertices/{vertex['id']}")


def subtask_taskmanagers(cluster: Cluster, job: str) -> dict[int, str]:
    """{subtask index: TaskManager id} of the Python UDF's vertex."""
    return {s["subtask"]: s["taskmanager-id"] for s in classify_vertex(cluster, job)["subtasks"]}


def by_path(rows: list[dict]) -> dict[str, dict]:
    paths = [row["path"] for row in rows]
    assert len(paths) == len(set(paths)), f"duplicate rows: {sorted(p for p in paths if paths.count(p) > 1)}"
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
        cwd=ROOT, env=subprocess_env(IMAGES_DIR=str(PHOTOS), OUTPUT_DIR=str(embedded_out)),
        capture_output=True, text=True, timeout=240,
    )
    embedded_seconds = time.perf_counter() - started
    assert embedded.returncode == 0, embedded.stderr[-5000:]
    print(f"19 photos: cluster {cluster_seconds:.1f} s, embedded {embedded_seconds:.1f} s")

    # one row per photo, each classified (every shared photo decodes: BMP, PNG, grayscale, 1080p)
    on_cluster, local = by_path(read_json_lines(cluster_out)), by_path(read_json_lines(embedded_out))
    assert set(on_cluster) == set(local) == {str(p) for p in photos()}
    for path, row in local.items():
        other = on_cluster[path]
        assert row["error"] is None and other["error"] is None, (path, row["error"], other["error"])
        assert (other["class_id"], other["label"]) == (row["class_id"], row["label"]), path
        assert other["probability"] == pytest.approx(row["probability"], abs=1e-4), path
        assert other["top_probabilities"] == pytest.approx(row["top_probabilities"], abs=1e-4), path

    # parallelism 2 across both TaskManagers (taskmanager.load-balance.mode: slots)
    placement = subtask_taskmanagers(cluster, job_id(result.stdout))
    print(f"subtasks -> TaskManagers: {placement}")
    assert len(placement) == 2 and len(set(placement.values())) == 2


OTHER_JOB = """
import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

from udfs.catalog import create_images_table, sql_string
from udfs.settings import configure

images_dir, output_dir, model_path = sys.argv[1:4]
t_env = configure(
    TableEnvironment.create(EnvironmentSettings.in_batch_mode()),
    overrides={"classify.model": "mobilenet_v2_quant", "classify.model-path": model_path,
               "classify.precision": "f32", "classify.top-k": "2"},
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
    assert_top2_labels(read_json_lines(out))


def assert_top2_labels(rows: list[dict]) -> None:
    """One row per photo with the labels the model gives in process (OTHER_JOB's top-k is 2)."""
    got = {row["name"]: (row["label"], row["top_labels"]) for row in rows}
    assert len(rows) == len(got), "one row per file"
    assert got == {name: (labels[0], labels) for name, labels in expected_labels(2).items()}


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
    assert_top2_labels(read_json_lines(out))
    logs = "".join(p.read_text(errors="replace") for p in cluster.log_dir.glob("*taskexecutor*.log"))
    assert "Python interpreter path: venv/bin/python" in logs


def test_flink_deployment_job_runs_on_the_cluster(cluster, resnet50_model, tmp_path):
    """deploy/flink-deployment.yaml's job (entry class, arguments, Python options), its image paths
    mapped to this checkout, submitted as the Kubernetes operator runs it: PythonDriver from the
    flink-python jar, the SQL runner as a module, the model it names (the real ResNet-50)."""
    from udfs.models import MODEL_DIR

    spec = manifest()["spec"]
    jar = flink_home() / "opt" / spec["job"]["jarURI"].rsplit("/", 1)[-1]
    python = {key: sys.executable for key in ("python.executable", "python.client.executable")
              if key in spec["flinkConfiguration"]}
    out = tmp_path / "out"
    command = [cluster.script("flink"), "run", "-m", cluster.rest_address, "-p", "2",
               *(f"-D{key}={value}" for key, value in python.items()),
               "-c", spec["job"]["entryClass"], str(jar), *local_job_args(MODEL_DIR)]
    assert resnet50_model.is_relative_to(MODEL_DIR)
    env = {**cluster.env(), "IMAGES_DIR": str(PHOTOS), "OUTPUT_DIR": str(out)}
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    print(f"FlinkDeployment job on the standalone cluster: {time.perf_counter() - started:.1f} s")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    rows = by_path(read_json_lines(out))
    assert set(rows) == {str(p) for p in photos()}
    assert all(row["error"] is None and row["label"] for row in rows.values())
    assert rows[str(PHOTOS / "hot_dog.jpg")]["label"] == "hotdog"


def test_detached_submit_refuses_a_query(cluster, tmp_path):
    """A query prints its rows, which a detached client cannot: a clear error, and no job left running."""
    script = tmp_path / "query.sql"
    script.write_text("CREATE TABLE numbers (x INT) WITH ('connector' = 'datagen', 'rows-per-second' = '1');\n"
                      "SELECT x FROM numbers;\n")
    known = {job["jid"] for job in cluster.rest.jobs()}
    command = cluster.submit_command(["--mode", "streaming", "-f", str(script)], detached=True)
    client = subprocess.run(command, env=cluster.env(), capture_output=True, text=True, timeout=120)
    assert client.returncode != 0
    assert f"ERROR {script}:2: a query prints its rows, which needs an attached client" in client.stdout + client.stderr
    started = [job for job in cluster.rest.jobs() if job["jid"] not in known]
    assert started and all(cluster.rest.get(f"/jobs/{job['jid']}")["state"] in ("CANCELING", "CANCELED")
                           for job in started)


@pytest.fixture
def prometheus(cluster, tmp_path):
    """A real Prometheus server scraping the cluster's JobManager and TaskManagers every second."""
    try:
        server = PrometheusServer(scrape_config(cluster.config(), interval="1s"), tmp_path / "prometheus", free_port())
    except FileNotFoundError as missing:
        pytest.skip(str(missing))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_udf_metrics_in_rest_api_and_prometheus(cluster, prometheus, model_sql, tmp_path):
    job = StreamingJob(cluster, tmp_path, model_sql)
    try:
        for i, photo in enumerate(photos()):
            job.land(photo, f"{i:02d}_{photo.name}")
        not_an_image = tmp_path / "notes.jpg"
        not_an_image.write_text("this is not an image\n")
        job.land(not_an_image, "99_notes.jpg")
        files = len(photos()) + 1

        metrics = wait_until(lambda: (m := job.metrics()).get("images", 0) >= files and m, 90, "the images counter")
        print(f"REST metrics: {metrics}")
        assert (metrics["images"], metrics["errors"]) == (files, 1)
        assert metrics["batches"] >= 2 and metrics["batchMillis"] > 0 and "lastMillisPerImage" in metrics

        # the same counters through Prometheus: the reporter's names and labels, PromQL sums
        def metric(name: str) -> str:
            return f'flink_taskmanager_job_task_operator_classify_{name}{{job_id="{job.job_id}"}}'

        images_query = f"sum({metric('images')})"
        wait_until(lambda: prometheus.scalar(images_query) == files, 30, "Prometheus to scrape the images counter")
        images = prometheus.scalar(images_query)
        errors = prometheus.scalar(f"sum({metric('errors')})")
        mean_batch_ms = prometheus.scalar(f"sum({metric('batchMillis')}) / sum({metric('batches')})")
        per_subtask = prometheus.query(f"sum by (subtask_index) ({metric('images')})")  # a rate needs two scrapes
        processes_up = prometheus.scalar('count(up{job="flink"} == 1)')
        registered = prometheus.scalar("flink_jobmanager_numRegisteredTaskManagers")
        print(f"Prometheus: images {images}, errors {errors}, mean batch {mean_batch_ms:.0f} ms, "
              f"images per subtask {[(s['metric']['subtask_index'], s['value'][1]) for s in per_subtask]}, "
              f"processes up {processes_up}, TaskManagers registered {registered}")
        assert (images, errors) == (files, 1)
        assert mean_batch_ms == pytest.approx(metrics["batchMillis"] / metrics["batches"])
        assert sorted(s["metric"]["subtask_index"] for s in per_subtask) == ["0", "1"]
        assert (processes_up, registered) == (1 + TASKMANAGERS, TASKMANAGERS)  # JobManager + TaskManagers

        # every query of the Grafana dashboard finds its series
        dashboard = json.loads(GRAFANA_DASHBOARD.read_text())
        empty = [panel["title"] for panel in dashboard["panels"] for target in panel["targets"]
                 if not prometheus.query(target["expr"])]
        assert not empty, f"dashboard panels without data: {empty}"
    finally:
        job.cancel()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def test_rescale_with_savepoint(cluster, model_sql, tmp_path):
    """Stop a streaming job with a savepoint at parallelism 1, land files while it is stopped,
    resume it at parallelism 2: every file classified exactly once across the rescale."""
    first = StreamingJob(cluster, tmp_path, model_sql, parallelism=1)
    second = None
    try:
        before = land_batch(first, "before", 6)
        wait_for_rows(first, before, 90)
        chains = [[v["name"] for v in first.details()["vertices"]]]
        savepoint = first.stop_with_savepoint(tmp_path / "savepoints")
        assert first.details()["state"] == "FINISHED"
        stopped = land_batch(first, "stopped", 6)  # no job runs: the resumed one must find them

        second = StreamingJob(cluster, tmp_path, model_sql, parallelism=2, savepoint=savepoint)
        restored = second.checkpoints()["latest"]["restored"]
        assert restored["is_savepoint"] and restored["external_path"] == savepoint, restored
        assert {v["parallelism"] for v in second.details()["vertices"] if "PythonCalc" in v["name"]} == {2}
        chains.append([v["name"] for v in second.details()["vertices"]])
        print(f"operator chains at parallelism 1, then 2: {chains}")
        after = land_batch(second, "after", 6)
        wait_for_rows(second, before | stopped | after, 120)
        time.sleep(5)  # a few more checkpoints: duplicates would show up now
        counts = row_counts(second)
        print(f"rescale 1 -> 2 from {savepoint}: {sum(counts.values())} rows for {len(counts)} files")
        assert counts == dict.fromkeys(before | stopped | after, 1)
    finally:
        for job in (first, second):
            if job is not None:
                job.cancel()


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

        # fault injection: kill -9 one of the two TaskManagers, each running one subtask, while
        # files keep arriving; the job restarts from its last checkpoint on the other one
        placement = subtask_taskmanagers(cluster, job.job_id)
        assert len(set(placement.values())) == TASKMANAGERS, placement
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
            pids = cluster.taskmanager_pids()
            assert len(pids) == TASKMANAGERS
            os.kill(pids[0], signal.SIGKILL)
            killed_at = time.monotonic()
            wait_until(lambda: job.checkpoints()["counts"]["restored"] >= 1 and job.running(), 120,
                       "the job to run again from a checkpoint", interval=0.5)
            recovered = time.monotonic() - killed_at
            time.sleep(3)
        finally:
            stop.set()
            feeder.join(timeout=60)
        started = time.monotonic()
        wait_for_rows(job, set(crash_names), 120)
        time.sleep(5)  # let a few more checkpoints complete: duplicates would show up now
        caught_up = time.monotonic() - started
        counts = row_counts(job)
        restored = job.checkpoints()["counts"]["restored"]
        after = subtask_taskmanagers(cluster, job.job_id)
        expected = {"warmup_0.jpg", "warmup_1.jpg", *landed, *crash_names}
        duplicates = {name: n for name, n in counts.items() if n != 1}
        print(f"fault injection: {len(crash_names)} files landed around the crash, job RUNNING again "
              f"{recovered:.1f} s after kill -9 of one of {TASKMANAGERS} TaskManagers, all rows committed "
              f"{caught_up:.1f} s after the feeder stopped; {sum(counts.values())} rows for {len(expected)} files, "
              f"duplicates: {duplicates}, restored from checkpoint: {restored}x; subtasks {placement} -> {after}")
        assert len(set(after.values())) == 1  # both subtasks on the surviving TaskManager
        assert set(counts) == expected
        assert not duplicates
    finally:
        job.cancel()
        # back to full strength for the tests after this one
        cluster.add_taskmanager()
        cluster.wait_ready(TASKMANAGERS, timeout=120)


NEAR_DUPLICATE_COPIES = {"dog.jpg": "grayscale", "parrot.jpg": "brightness"}  # cosines 0.91, 0.97 (threshold 0.8)


def test_near_duplicate_scripts_on_the_cluster(cluster, resnet50_model, tmp_path):
    """sql/40_index.sql, then sql/41_near_duplicates.sql (streaming), submitted as README says:
    40 stores three photos (ML_PREDICT, in the TaskManagers' JVMs), 41 embeds arrivals with
    embed_image (Python workers) and searches the index that 40 committed and that its own sink
    extends, its subtasks spread over both TaskManagers; altered copies are flagged with their
    originals, a new photo is not, every arrival gets one row."""
    originals, incoming, copies = (tmp_path / name for name in ("originals", "incoming", "copies"))
    for folder in (originals, incoming, copies):
        folder.mkdir()
    for name in [*NEAR_DUPLICATE_COPIES, "kite_and_cold.jpg"]:
        (originals / name).write_bytes((PHOTOS / name).read_bytes())
    index, output = tmp_path / "index", tmp_path / "matches"
    env = {**cluster.env(), "INDEX_DIR": str(index), "OUTPUT_DIR": str(output), "MONITOR_INTERVAL": "500 ms"}
    tables = ["-i", str(SQL / "10_images.sql")]

    started = time.perf_counter()
    command = cluster.submit_command([*tables, "-i", str(SQL / "21_model.sql"), "-i", str(SQL / "36_embeddings_ml_predict.sql"),
                                      "-i", str(SQL / "35_index_table.sql"), "-f", str(SQL / "40_index.sql")])
    stored = subprocess.run(command, env={**env, "IMAGES_DIR": str(originals)}, capture_output=True, text=True, timeout=180)
    assert stored.returncode == 0, stored.stdout[-3000:] + stored.stderr[-5000:]
    stored_seconds = time.perf_counter() - started
    assert sorted(Path(row["path"]).name for row in read_index(index)[1]) == sorted(p.name for p in originals.iterdir())

    command = cluster.submit_command(
        ["--mode", "streaming", "--set", "execution.checkpointing.interval=2s", *tables, "-i", str(SQL / "15_watch_images.sql"),
         "-i", str(SQL / "20_functions.sql"), "-i", str(SQL / "36_embeddings.sql"), "-i", str(SQL / "35_index_table.sql"),
         "-f", str(SQL / "41_near_duplicates.sql")], detached=True)
    client = subprocess.run(command, env={**env, "IMAGES_DIR": str(incoming)}, capture_output=True, text=True, timeout=180)
    assert client.returncode == 0, client.stdout[-3000:] + client.stderr[-5000:]
    job = job_id(client.stdout)
    try:
        arrivals = [altered_copy(PHOTOS / name, kind, copies) for name, kind in NEAR_DUPLICATE_COPIES.items()]
        arrivals.append(PHOTOS / "sunflower.bmp")  # never stored before it arrives
        for source in arrivals:
            hidden = incoming / f".{source.name}"
            hidden.write_bytes(source.read_bytes())
            hidden.rename(incoming / source.name)

        def committed() -> list[dict]:
            if cluster.rest.get(f"/jobs/{job}")["state"] in ("FAILED", "CANCELED", "FINISHED"):
                raise AssertionError(f"job {job} ended: {cluster.rest.get(f'/jobs/{job}/exceptions')}")
            return read_json_lines(output) if output.exists() else []

        wait_until(lambda: len(committed()) >= len(arrivals), 120, f"a row for each of the {len(arrivals)} arrivals")
        placement = {s["taskmanager-id"] for v in cluster.rest.get(f"/jobs/{job}")["vertices"]
                     for s in cluster.rest.get(f"/jobs/{job}/vertices/{v['id']}")["subtasks"]}
        time.sleep(3)  # a checkpoint more: a second row for an arrival would show up now
        rows = committed()
    finally:
        cluster.rest.cancel(job)
    print(f"near-duplicates on the cluster: 40 stored {len(NEAR_DUPLICATE_COPIES) + 1} photos in {stored_seconds:.1f} s, "
          f"41 answered {len(arrivals)} arrivals {time.perf_counter() - started - stored_seconds:.1f} s later: {rows}")
    assert sorted(Path(row["arrival"]).name for row in rows) == sorted(p.name for p in arrivals), "one row per arrival"
    found = {Path(row["arrival"]).name: row for row in rows}
    for name, kind in NEAR_DUPLICATE_COPIES.items():
        row = found[f"{Path(name).stem}__{kind}.jpg"]
        assert row["nearest"] == str(originals / name) and row["near_duplicate"] is True and row["score"] >= 0.8, row
    assert found["sunflower.bmp"]["near_duplicate"] is False and found["sunflower.bmp"]["score"] < 0.8
    assert len(placement) == TASKMANAGERS, f"the job's subtasks ran in {placement}"


INDEX_SQL = """SET 'execution.checkpointing.interval' = '1 s';
SET 'execution.checkpointing.mode' = 'EXACTLY_ONCE';
SET 'restart-strategy.type' = 'fixed-delay';
SET 'restart-strategy.fixed-delay.attempts' = '60';
SET 'restart-strategy.fixed-delay.delay' = '2 s';
ADD JAR '${OPENVINO_JAR}';

CREATE TABLE arrivals (path STRING, n INT, embedding ARRAY<FLOAT>) WITH (
  'connector' = 'filesystem', 'path' = '${IMAGES_DIR}', 'format' = 'json', 'source.monitor-interval' = '500 ms'
);
CREATE TABLE seen (path STRING, n INT, embedding ARRAY<FLOAT>) WITH (
  'connector' = 'image-index', 'path' = '${INDEX_DIR}', 'dimension' = '8'
);
INSERT INTO seen SELECT * FROM arrivals;
"""


def test_index_sink_exactly_once_across_taskmanager_crash(cluster, tmp_path):
    """A streaming INSERT into an image-index table while one of the two TaskManagers running it is
    killed (kill -9): after the restart from the last checkpoint every row is stored exactly once
    (the killed subtask's uncommitted segment is never committed; the source replays its rows)."""
    import numpy as np

    from udfs.index_files import committed_segments

    watched, index = tmp_path / "arrivals", tmp_path / "index"
    watched.mkdir()
    script = tmp_path / "index.sql"
    script.write_text(INDEX_SQL)
    command = cluster.submit_command(["--mode", "streaming", "-f", str(script)], parallelism=2, detached=True)
    client = subprocess.run(command, env={**cluster.env(), "IMAGES_DIR": str(watched), "INDEX_DIR": str(index)},
                            capture_output=True, text=True, timeout=180)
    output = client.stdout + client.stderr
    assert client.returncode == 0, output[-3000:]
    job = re.search(r"Submitted job ([0-9a-f]{32})", output).group(1)

    def details() -> dict:
        return cluster.rest.get(f"/jobs/{job}")

    def running() -> bool:
        state = details()
        return state["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in state["vertices"])

    def land(number: int, rows: int = 20) -> None:
        payload = "".join(json.dumps({"path": f"f{number}-{i}", "n": number * rows + i,
                                      "embedding": [float(number + 1), float(i + 1), 1, 2, 3, 4, 5, 6]}) + "\n"
                          for i in range(rows))
        hidden = watched / f".{number}.json"
        hidden.write_text(payload)
        os.replace(hidden, watched / f"{number}.json")

    files, killed = 0, False
    try:
        wait_until(running, 120, "the index job to run", interval=0.5)
        placement = {s["taskmanager-id"] for v in details()["vertices"]
                     for s in cluster.rest.get(f"/jobs/{job}/vertices/{v['id']}")["subtasks"]}
        assert len(placement) == TASKMANAGERS, placement
        for _ in range(15):
            land(files)
            files += 1
            time.sleep(0.3)
        wait_until(lambda: read_index(index)[1], 60, "a first committed segment")
        pids = cluster.taskmanager_pids()
        os.kill(pids[0], signal.SIGKILL)
        killed = True
        for _ in range(15):  # files keep landing while the job restarts
            land(files)
            files += 1
            time.sleep(0.3)
        wait_until(lambda: cluster.rest.get(f"/jobs/{job}/checkpoints")["counts"]["restored"] >= 1 and running(),
                   120, "the job to run again from a checkpoint", interval=0.5)
        for _ in range(5):
            land(files)
            files += 1
        expected = files * 20
        wait_until(lambda: len(read_index(index)[1]) >= expected, 120, f"{expected} stored rows")
        time.sleep(3)  # a few more checkpoints: duplicates would show up now
        vectors, rows = read_index(index)
        numbers = [row["n"] for row in rows]
        duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
        orphans = [p.name for p in index.iterdir() if p.name.endswith(".inprogress")]
        print(f"index exactly-once: {len(rows)} rows for {expected} sent in {len(committed_segments(index))} segments, "
              f"duplicates {duplicates[:10]}, uncommitted in-progress files left by the crash: {len(orphans)}")
        assert sorted(numbers) == list(range(expected))
        row = rows[numbers.index(expected - 1)]
        expected_vector = np.array([files, 20, 1, 2, 3, 4, 5, 6], dtype=np.float64)
        np.testing.assert_allclose(vectors[numbers.index(expected - 1)], expected_vector / np.linalg.norm(expected_vector), rtol=1e-6)
        assert row["path"] == f"f{files - 1}-19"
    finally:
        if details()["state"] not in ("FINISHED", "CANCELED", "FAILED"):
            cluster.rest.cancel(job)
        if killed:  # back to full strength for the tests after this one
            cluster.add_taskmanager()
            cluster.wait_ready(TASKMANAGERS, timeout=120)
