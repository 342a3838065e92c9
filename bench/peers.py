"""Optional peers for bench/run.py: the same decode + infer code (``ImageClassifier``) driven by
Spark and by Ray Data instead of Flink, on the same image folders, 2 cores.

    python3 -m venv /tmp/peers-venv
    .venv/bin/pip freeze | grep -v "^-e\|flink-image-udfs\|@ file" > /tmp/peers-constraints.txt
    /tmp/peers-venv/bin/pip install -e . pyspark 'ray[data]' psutil -c /tmp/peers-constraints.txt
    /tmp/peers-venv/bin/pip install 'pyarrow>=18,<21'     # pyspark 4 needs pyarrow >= 18
    /tmp/peers-venv/bin/python bench/peers.py [--images 2000] [--repeats 1] [--only spark,ray]

- spark: ``local[2]``, ``spark.read.format("binaryFile")`` -> ``mapInPandas`` over ``content``
  (Arrow batches of ``BATCH`` rows, as in conf/job.yaml) -> ``write.format("noop")`` (Spark's blackhole).
  The classifier is a module-level lazy singleton per Python worker (Spark reuses its Python
  workers across tasks and jobs, so the model is loaded once per worker for the whole session).
- ray: ``ray.init(num_cpus=2)``, ``ray.data.read_binary_files`` -> ``map_batches(<callable class
  building ImageClassifier once>, batch_size=BATCH)`` -> ``materialize()``. Each dataset execution
  starts its actor pool, so every job loads the model (like a Flink job).

Per repeat: a 1-image job then the N-image job, after one cold 1-image job (session start, first
workers). Steady images/s = (N - 1) / (t_N - t_1), end-to-end = N / t_N, start-up = t_1, as in
run.py. Each peer runs in its own subprocess. Prints a Markdown table (also written to
bench/results/peers-<timestamp>.{md,json}).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))

from udfs.config_file import JOB_CONF, read_config_file  # noqa: E402

import run  # noqa: E402  (bench/run.py: make_image_dir, MODELS, helpers)

PEERS = ("spark", "ray")
# Rows per classify() call: the same as our UDF's Arrow batch (conf/job.yaml).
BATCH = int(read_config_file(JOB_CONF)["python.fn-execution.arrow.batch.size"])


# --- shared ------------------------------------------------------------------------------------------

_CLASSIFIER = None


def get_classifier(options: dict):
    """Module-level lazy singleton: one ImageClassifier per Python worker process."""
    global _CLASSIFIER
    if _CLASSIFIER is None:
        from udfs.classifier import ImageClassifier
        from udfs.config import load_config

        _CLASSIFIER = ImageClassifier(load_config(options))
    return _CLASSIFIER


def predictions_frame(paths, contents, options):
    import pandas as pd

    predictions = get_classifier(options).classify(list(contents))
    return pd.DataFrame({
        "path": list(paths),
        "label": [p.label for p in predictions],
        "class_id": [p.class_id for p in predictions],
        "probability": [p.probability for p in predictions],
        "error": [p.error for p in predictions],
    })


class CpuTracker(threading.Thread):
    """user+sys CPU of this process and all its descendants (JVM, Python workers, raylet, actors),
    sampled every 0.1 s and remembered per process, so processes that exit (Ray's actors end with
    each dataset execution) still count up to their last sample."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: dict[tuple[int, float], float] = {}
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def sample(self) -> None:
        import psutil

        me = psutil.Process()
        for proc in [me, *me.children(recursive=True)]:
            try:
                key, cpu = (proc.pid, proc.create_time()), sum(proc.cpu_times()[:2])
            except psutil.Error:
                continue
            with self.lock:
                self.seen[key] = max(cpu, self.seen.get(key, 0.0))

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.sample()

    def total(self) -> float:
        self.sample()
        with self.lock:
            return sum(self.seen.values())


def measure(run_job, spec: dict) -> dict:
    """cold 1-image job, then per repeat a 1-image and an N-image job (as run.py's worker_flink)."""
    n, small_n = spec["images"], 1
    cpu = {"small": [], "big": []}
    tracker = CpuTracker()
    tracker.start()
    tree_cpu = tracker.total

    def timed(which: str, folder: str) -> float:
        t, c = time.perf_counter(), tree_cpu()
        done = run_job(folder)
        cpu[which].append(tree_cpu() - c)
        expected = n if which == "big" else small_n
        assert done == expected, f"{which}: {done} of {expected} images classified without error"
        return time.perf_counter() - t

    cold = timed("small", spec["small_folder"])
    small, big = [], []
    for _ in range(spec["repeats"]):
        small.append(timed("small", spec["small_folder"]))
        big.append(timed("big", spec["folder"]))
    tracker.stop.set()
    t_small = statistics.median(small)
    return {"startup_cold_s": cold, "startup_s": t_small, "small_s": small, "big_s": big, "images": n,
            "rates": [n / t for t in big],
            "steady_rates": [(n - small_n) / max(tb - t_small, 1e-9) for tb in big],
            "cpu_ms_per_image": [(cb - statistics.median(cpu["small"][1:])) / (n - small_n) * 1000
                                 for cb in cpu["big"]]}


# --- Spark ---------------------------------------------------------------------------------------------


def worker_spark(spec: dict) -> dict:
    import pyspark
    from pyspark.sql import SparkSession

    options = run.classify_options(spec)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    t0 = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").appName("peers-spark")
             .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH))
             .config("spark.python.worker.reuse", "true")
             .config("spark.driver.memory", "4g")
             .config("spark.ui.enabled", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    session_s = time.perf_counter() - t0
    schema = "path string, label string, class_id int, probability float, error string"

    def classify_batches(batches):
        for pdf in batches:
            yield predictions_frame(pdf["path"], pdf["content"], options)

    def frame(folder: str):
        return (spark.read.format("binaryFile").option("pathGlobFilter", "*.JPEG").load(folder)
                .select("path", "content").mapInPandas(classify_batches, schema))

    def job(folder: str) -> int:  # timed: the noop sink (Spark's blackhole) forces full execution
        frame(folder).write.format("noop").mode("overwrite").save()
        return spec["images"] if folder == spec["folder"] else 1

    try:
        result = measure(job, spec)
        # untimed check: all N images classified without error
        result["check_ok_images"] = frame(spec["folder"]).filter("error IS NULL").count()
        assert result["check_ok_images"] == spec["images"], result["check_ok_images"]
        result["partitions"] = (spark.read.format("binaryFile").load(spec["folder"]).rdd.getNumPartitions())
    finally:
        spark.stop()
    return {**result, "session_start_s": session_s, "version": pyspark.__version__,
            "peak_rss_mb": run.peak_rss_mb()}


# --- Ray -----------------------------------------------------------------------------------------------


class RayClassify:
    """Callable class for map_batches: builds ImageClassifier once per actor."""

    def __init__(self, options: dict) -> None:
        self.options = options
        get_classifier(options)

    def __call__(self, batch):
        frame = predictions_frame(batch["path"], batch["bytes"], self.options)
        return {col: frame[col].to_numpy() for col in frame.columns}


def worker_ray(spec: dict) -> dict:
    import ray

    options = run.classify_options(spec)
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": f"{REPO}:{BENCH}"}})
    session_s = time.perf_counter() - t0
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False

    def run_job(folder: str) -> int:
        ds = (ray.data.read_binary_files(folder, include_paths=True)
              .map_batches(RayClassify, fn_constructor_kwargs={"options": options}, batch_size=BATCH,
                           batch_format="numpy", concurrency=1, num_cpus=1))
        out = ds.materialize()
        return out.filter(lambda row: row["error"] is None).count()

    try:
        result = measure(run_job, spec)
    finally:
        ray.shutdown()
    return {**result, "session_start_s": session_s, "version": ray.__version__,
            "peak_rss_mb": run.peak_rss_mb()}


WORKERS = {"spark": worker_spark, "ray": worker_ray}


def run_worker(kind: str, spec: dict, timeout: float) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(BENCH), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", kind],
                          input=json.dumps(spec), capture_output=True, text=True, timeout=timeout, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULT@@"):
            return json.loads(line[len("@@RESULT@@"):])
    raise RuntimeError(f"{kind} worker failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}")


# --- main ----------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--model", default="resnet50", choices=sorted(run.MODELS))
    parser.add_argument("--model-path", type=Path)
    parser.add_argument("--precision", default="auto", choices=("auto", "f32", "bf16", "f16"))
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(PEERS)}")
    parser.add_argument("-D", dest="options", action="append", default=[], metavar="KEY=VALUE",
                        help="classify.* option (overrides conf/job.yaml)")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:  # via the importable module, so Spark/Ray pickle our functions by reference
        import peers  # and the classifier singleton lives in the workers' `peers` module

        result = peers.WORKERS[args.worker](json.loads(sys.stdin.read()))
        print("@@RESULT@@" + json.dumps(result), flush=True)
        return 0

    options = read_config_file(JOB_CONF)
    options.update({"classify.model": args.model,
                    "classify.model-path": str(args.model_path or run.MODELS[args.model]),
                    "classify.precision": args.precision})
    options.update(dict(o.split("=", 1) for o in args.options))
    only = args.only.split(",") if args.only else list(PEERS)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        big = run.make_image_dir(Path(tmp), args.images)
        small = run.make_image_dir(Path(tmp), 1)
        spec = {"options": options, "repeats": args.repeats, "images": args.images,
                "folder": str(big), "small_folder": str(small)}
        for key in PEERS:
            if key not in only:
                continue
            print(f"[peers] {key} ...", file=sys.stderr, flush=True)
            t = time.perf_counter()
            load_before = os.getloadavg()[0]
            try:
                results[key] = run_worker(key, spec, timeout=3600)
                results[key]["load_1min"] = [load_before, os.getloadavg()[0]]
            except Exception as error:
                results[key] = {"error": str(error)}
                print(f"[peers] {key} FAILED: {error}", file=sys.stderr)
            print(f"[peers] {key} done in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)

    med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
    names = {"spark": "5a. Spark local[2], binaryFile + mapInPandas (ImageClassifier)",
             "ray": "5b. Ray Data num_cpus=2, read_binary_files + map_batches (ImageClassifier)"}
    m = run.machine()
    lines = [
        f"Peers {time.strftime('%Y-%m-%dT%H:%M:%S')}: model `{args.model}` "
        f"({Path(options['classify.model-path']).name}), precision `{args.precision}`; {args.images} images "
        f"(500 imagenet-dev JPEGs cycled), median of {args.repeats} repeats; batch {BATCH} rows.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_avg_at_start'])}.",
        f"Command: `{' '.join(['python', 'bench/peers.py', *sys.argv[1:]])}`",
        "",
        "| approach | version | images/s (steady) | end-to-end images/s | start-up s | cold first job s | "
        "CPU ms/image | peak RSS MB (driver) | 1-min load before/after |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key in PEERS:
        r = results.get(key)
        if not r:
            continue
        if "error" in r:
            lines.append(f"| {names[key]} | - | FAILED | | | | | | |")
            continue
        lines.append(
            f"| {names[key]} | {r['version']} | {run.fmt(med(r['steady_rates']))} | {run.fmt(med(r['rates']))} | "
            f"{run.fmt(r['startup_s'])} | {run.fmt(r['startup_cold_s'] + r['session_start_s'])} | "
            f"{run.fmt(med(r['cpu_ms_per_image']))} | {run.fmt(r['peak_rss_mb'], 0)} | "
            f"{'/'.join(f'{x:.1f}' for x in r['load_1min'])} |")
    lines += ["", "Steady = (N - 1) / (t_N - t_1); end-to-end = N / t_N; start-up = a 1-image job (median); "
              "cold = session start + the first 1-image job. Spark reuses its Python workers (model "
              "loaded once per worker per session, so its start-up excludes model loading); Ray starts "
              "a new actor (model load) per dataset execution. CPU ms/image: user+sys of the driver "
              "and all its descendants (sampled every 0.1 s, exited processes counted), steady state."]
    table = "\n".join(lines) + "\n"
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "peers-" + time.strftime("%Y%m%d-%H%M%S")
    (args.out / f"{stem}.md").write_text(table)
    (args.out / f"{stem}.json").write_text(json.dumps({"options": options, "raw": results}, indent=2))
    print(f"[peers] results in {args.out}/{stem}.{{md,json}}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
