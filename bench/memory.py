"""Native memory per slot, for sizing TaskManagers: the peak that one slot's classifier takes outside
the JVM heap, per model preset, on both paths.

    python -m bench.memory [--presets resnet50,efficientnet_lite0,mobilenet_v2_quant]
                           [--precision auto] [--copies 4]

One standalone cluster (``udfs.cluster``, a work dir of its own, free ports), one TaskManager with
one slot; per preset and path one batch job at parallelism 1 classifies the same folder: the 19
shared photos (up to 1920x1080) ``--copies`` times, plus a 48-megapixel JPEG and PNG generated
here (just under the 50 MP ``classify.max-pixels`` cap: the largest image a slot must decode).

* UDF path (``classify_resnet50``, sql/30_classify.sql): the slot's Python worker is a process of
  its own, outside the JVM. Its peak resident set (``VmHWM`` in /proc, read every 0.2 s until it
  exits) is what the slot needs beside the TaskManager's JVM.
* ML_PREDICT path (the ``openvino`` provider, sql/31_ml_predict.sql): OpenVINO, TurboJPEG and JNA
  allocate with malloc inside the TaskManager's JVM, which the JVM does not track. Each such job
  gets a fresh TaskManager, started with Native Memory Tracking and ``-XX:+AlwaysPreTouch`` (so
  what the JVM has committed is resident); every second ``untracked = RssAnon - NMT committed``
  (``/proc/<pid>/status``, ``jcmd <pid> VM.native_memory summary``). The job's native peak is the
  largest ``untracked`` during the job minus its value just before.

Prints a table and writes ``bench/results/memory-<time>.json``. Run it under
``flock /tmp/flink-image-udfs-bench.lock`` and note ``uptime`` before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from bench.common import MODELS, PHOTOS, REPO, RESULTS, machine
from udfs.cluster import Cluster
from udfs.cluster.conf import free_port
from udfs.cluster.memory import NMT_FLAGS, status_mib, untracked_mib
from udfs.cluster.processes import PYTHON_WORKER

PRESETS = ("resnet50", "efficientnet_lite0", "mobilenet_v2_quant")
SQL = REPO / "sql"
PATHS = {
    "udf": ["-i", str(SQL / "10_images.sql"), "-i", str(SQL / "20_functions.sql"), "-i", str(SQL / "29_sinks.sql"), "-f", str(SQL / "30_classify.sql")],
    "ml_predict": ["-i", str(SQL / "10_images.sql"), "-i", str(SQL / "21_model.sql"), "-i", str(SQL / "29_sinks.sql"), "-f", str(SQL / "31_ml_predict.sql")],
}
class Sampler(threading.Thread):
    """Samples the cluster while a job runs: the peak resident set of each Python worker, and the
    TaskManager's untracked native memory."""

    def __init__(self, cluster: Cluster, taskmanager: int, jvm: bool):
        super().__init__(daemon=True)
        self.cluster, self.taskmanager, self.jvm = cluster, taskmanager, jvm
        self.worker_peaks: dict[int, float] = {}
        self.untracked: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        next_jvm_sample = 0.0
        while not self.done.is_set():
            for pid in self.cluster.processes((PYTHON_WORKER,)):
                peak = status_mib(pid, "VmHWM")
                if peak is not None:
                    self.worker_peaks[pid] = max(peak, self.worker_peaks.get(pid, 0.0))
            if self.jvm and time.monotonic() >= next_jvm_sample:
                value = untracked_mib(self.taskmanager)
                if value is not None:
                    self.untracked.append(value)
                next_jvm_sample = time.monotonic() + 1.0
            self.done.wait(0.2)


# --- the images ------------------------------------------------------------------------------------

def make_images(folder: Path, copies: int) -> int:
    """The shared photos ``copies`` times and a 48 MP JPEG and PNG (a smooth gradient: small files
    that decode to 8000x6000x3 bytes). Returns the number of files."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = sorted(p for p in PHOTOS.iterdir() if p.is_file() and not p.name.startswith("."))
    for copy in range(copies):
        for photo in photos:
            (folder / f"{copy}_{photo.name}").write_bytes(photo.read_bytes())
    height, width = 6000, 8000
    ramp = np.linspace(0, 255, width, dtype=np.float32)
    image = np.dstack([np.tile(ramp, (height, 1)), np.tile(ramp[::-1], (height, 1)),
                       np.tile(np.linspace(0, 255, height, dtype=np.float32)[:, None], (1, width))]).astype(np.uint8)
    cv2.imwrite(str(folder / "large_48mp.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    cv2.imwrite(str(folder / "large_48mp.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return copies * len(photos) + 2


# --- one job ---------------------------------------------------------------------------------------

def fresh_taskmanager(cluster: Cluster) -> int:
    """Replace the TaskManager with a new one (nothing left over from earlier jobs); its pid."""
    for pid in cluster.taskmanager_pids():
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while cluster.taskmanager_pids() and time.monotonic() < deadline:
        time.sleep(0.5)
    cluster.add_taskmanager(timeout=300)
    cluster.wait_ready(1, timeout=300)
    (pid,) = cluster.taskmanager_pids()
    return pid


def count_rows(folder: Path) -> tuple[int, int]:
    """(rows, rows with an error) of the JSON lines the job committed."""
    rows = errors = 0
    for file in folder.rglob("*"):
        if file.is_file() and not file.name.startswith((".", "_")):
            for line in file.read_text().splitlines():
                rows += 1
                errors += json.loads(line).get("error") is not None
    return rows, errors


def model_script(precision: str, work: Path) -> Path:
    """sql/21_model.sql with ``'precision'`` in its WITH clause (the model's options come from
    there only, not from ``classify.*`` job settings)."""
    text = (SQL / "21_model.sql").read_text()
    provider = "'provider' = 'openvino',"
    assert provider in text, f"{SQL / '21_model.sql'} changed: no {provider}"
    script = work / f"21_model_{precision}.sql"
    script.write_text(text.replace(provider, f"{provider} 'precision' = '{precision}',"))
    return script


def measure(cluster: Cluster, path: str, preset: str, precision: str, images: Path, work: Path) -> dict:
    taskmanager = fresh_taskmanager(cluster)
    time.sleep(5)  # let the new JVM settle before the baseline
    baseline = untracked_mib(taskmanager)
    output = work / f"out-{path}-{preset}"
    model_path = str(MODELS.get(preset, ""))
    options = ["--set", f"classify.model={preset}", "--set", f"classify.precision={precision}"]
    if model_path:
        options += ["--set", f"classify.model-path={model_path}"]
    variables = {"IMAGES_DIR": str(images), "OUTPUT_DIR": str(output), "MODEL_PRESET": preset, "MODEL_PATH": model_path}
    sampler = Sampler(cluster, taskmanager, jvm=True)
    sampler.start()
    started = time.monotonic()
    try:
        scripts = [str(model_script(precision, work)) if arg.endswith("21_model.sql") else arg for arg in PATHS[path]]
        result = subprocess.run(cluster.submit_command([*options, *scripts], parallelism=1),
                                env={**cluster.env(), **variables}, capture_output=True, text=True, timeout=1800)
    finally:
        sampler.done.set()
        sampler.join()
    if result.returncode != 0:
        raise RuntimeError(f"{path} job with {preset} failed:\n{result.stdout[-2000:]}{result.stderr[-4000:]}")
    rows, errors = count_rows(output)
    worker_peak = max(sampler.worker_peaks.values(), default=None)
    jvm_native = max(sampler.untracked) - baseline if sampler.untracked and baseline is not None else None
    return {"path": path, "preset": preset, "precision": precision, "rows": rows, "errors": errors,
            "seconds": round(time.monotonic() - started, 1),
            "python_worker_peaks_mib": sorted(round(peak) for peak in sampler.worker_peaks.values()),
            "python_worker_peak_mib": worker_peak and round(worker_peak),
            "jvm_untracked_native_peak_mib": jvm_native and round(jvm_native),
            "taskmanager_peak_rss_mib": round(status_mib(taskmanager, "VmHWM") or 0)}


def table(rows: list[dict]) -> str:
    """The table of deploy/README.md ("Memory"): per slot, what the classifier needs outside the JVM
    heap (the Python worker on the UDF path, OpenVINO's native memory on the ML_PREDICT path)."""
    lines = ["| preset | precision | path | native peak per slot (MiB) | Python worker peak RSS (MiB) "
             "| JVM untracked native growth (MiB) | rows (errors) |",
             "|---|---|---|---:|---:|---:|---|"]
    for row in rows:
        worker, jvm = row["python_worker_peak_mib"], row["jvm_untracked_native_peak_mib"]
        peak = worker if row["path"] == "udf" else jvm
        lines.append(f"| {row['preset']} | {row['precision']} | {row['path']} | {peak} | "
                     f"{'-' if worker is None else worker} | {'-' if jvm is None else jvm} | {row['rows']} ({row['errors']}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--precision", default="auto", help="classify.precision / the model's 'precision' (default auto)")
    parser.add_argument("--copies", type=int, default=4, help="copies of the shared photos (default 4)")
    parser.add_argument("--paths", default="udf,ml_predict")
    args = parser.parse_args(argv)
    for option, given, known in (("--presets", args.presets, PRESETS), ("--paths", args.paths, tuple(PATHS))):
        unknown = [name for name in given.split(",") if name not in known]
        if unknown:
            parser.error(f"{option}: unknown {', '.join(unknown)}; choose from {', '.join(known)}")

    meta = {"timestamp": datetime.now().isoformat(timespec="seconds"), "machine": machine(),
            "precision_requested": args.precision}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        work = Path(tmp)
        images = work / "images"
        meta["images"] = make_images(images, args.copies)
        cluster = Cluster(work / "cluster")
        try:
            cluster.start(taskmanagers=1, slots=1, port=free_port(), timeout=300, overrides={
                "jobmanager.rpc.port": str(free_port()), "metrics.reporter.prom.port": f"{(port := free_port())}-{port + 5}",
                "env.java.opts.taskmanager": NMT_FLAGS,
            })
            for preset in args.presets.split(","):
                for path in args.paths.split(","):
                    row = measure(cluster, path, preset, args.precision, images, work)
                    print(json.dumps(row), flush=True)
                    rows.append(row)
        finally:
            cluster.stop()
    meta["load_avg_at_end"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"memory-{meta['timestamp'].replace(':', '')}.json"
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(table(rows))
    print(f"{meta['images']} images per job; machine {meta['machine']['cpu']}, ISA {', '.join(meta['machine']['isa'])}; "
          f"load {meta['machine']['load_avg_at_start'][0]:.1f} at start, {meta['load_avg_at_end'][0]:.1f} at end; {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
