r"""Optional peers for bench/run.py: the same decode + infer code (``ImageClassifier``) driven by
Spark, Ray Data and Daft instead of Flink, on the same image folders, 2 cores.

    python3 -m venv /tmp/peers-venv
    .venv/bin/pip freeze | grep -v "^-e\|flink-image-udfs\|@ file" > /tmp/peers-constraints.txt
    /tmp/peers-venv/bin/pip install -e . pyspark 'ray[data]' daft psutil -c /tmp/peers-constraints.txt
    /tmp/peers-venv/bin/pip install 'pyarrow>=18,<21'     # pyspark 4 needs pyarrow >= 18
    /tmp/peers-venv/bin/python -m bench.peers [--images 2000] [--repeats 1] [--only spark,ray,daft,daft-decode]

- spark: ``local[2]``, ``spark.read.format("binaryFile")`` -> ``mapInPandas`` over ``content``
  (Arrow batches of ``BATCH`` rows, as in conf/job.yaml) -> ``write.format("noop")`` (Spark's blackhole).
  The classifier is a module-level lazy singleton per Python worker (Spark reuses its Python
  workers across tasks and jobs, so the model is loaded once per worker for the whole session).
- ray: ``ray.init(num_cpus=2)``, ``ray.data.read_binary_files`` -> ``map_batches(<callable class
  building ImageClassifier once>, batch_size=BATCH)`` -> ``materialize()``. Each dataset execution
  starts its actor pool, so every job loads the model (like a Flink job).
- daft: the native (local, 2 threads) runner, ``daft.from_glob_path`` -> ``download()`` of the
  bytes -> a ``@daft.cls`` class whose ``@daft.method.batch`` method calls ``ImageClassifier.classify``
  on ``BATCH`` rows -> ``collect()``.
- daft-decode: the same, but Daft decodes the images natively (``decode_image``, RGB) and the
  batch method only resizes, crops (``udfs.preprocess.resize_and_crop``) and infers with the
  classifier's OpenVINO runtime: the way Daft's own image-classification examples split the work.

Per repeat: a 1-image job then the N-image job, after one cold 1-image job (session start, first
workers). Steady images/s = (N - 1) / (t_N - t_1), end-to-end = N / t_N, start-up = t_1, as in
bench/run.py. Each peer runs in its own subprocess. Prints a Markdown table (also written to
bench/results/peers-<timestamp>.{md,json}).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import (
    REPO,
    RESULTS,
    add_model_arguments,
    classify_options,
    fmt,
    job_options,
    machine,
    make_image_dir,
    model_file,
    peak_rss_mb,
    run_worker,
    serve_worker,
)
from udfs.config_file import JOB_CONF, read_config_file

PEERS = {
    "spark": "5a. Spark local[2], binaryFile + mapInPandas (ImageClassifier)",
    "ray": "5b. Ray Data num_cpus=2, read_binary_files + map_batches (ImageClassifier)",
    "daft": "5c. Daft native runner, 2 threads, download + @daft.cls batch method (ImageClassifier)",
    "daft-decode": "5d. Daft native runner, Daft's native decode, then our resize/crop + OpenVINO",
}
# Rows per classify() call: the same as our UDF's Arrow batch (conf/job.yaml).
BATCH = int(read_config_file(JOB_CONF)["python.fn-execution.arrow.batch.size"])
# Spark's Python workers and Ray's actors import this module by name (functions pickle by reference).
WORKER_ENV = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


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

    options = classify_options(spec["options"])
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
            "peak_rss_mb": peak_rss_mb()}


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

    options = classify_options(spec["options"])
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": WORKER_ENV})
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
            "peak_rss_mb": peak_rss_mb()}


# --- Daft ----------------------------------------------------------------------------------------------


def daft_classify_class():
    """A ``@daft.cls`` class: one ImageClassifier per instance, a batch method per ``BATCH`` rows,
    returning the prediction as a struct."""
    import daft
    from daft import DataType

    prediction = DataType.struct({"label": DataType.string(), "class_id": DataType.int32(),
                                  "probability": DataType.float32(), "error": DataType.string()})

    @daft.cls(max_concurrency=1)  # one classifier, whose OpenVINO requests use every core
    class Classify:
        def __init__(self, options: dict) -> None:
            self.classifier = get_classifier(options)

        @daft.method.batch(return_dtype=prediction, batch_size=BATCH)
        def encoded(self, images: daft.Series) -> list[dict]:
            return as_dicts(self.classifier.classify(images.to_pylist()))

        @daft.method.batch(return_dtype=prediction, batch_size=BATCH)
        def decoded(self, images: daft.Series) -> list[dict]:
            """RGB arrays decoded by Daft, turned BGR (as OpenCV decodes): our resize and crop, then
            the classifier's OpenVINO runtime."""
            import numpy as np

            from udfs.preprocess import resize_and_crop

            classifier = self.classifier
            crops = ((row, resize_and_crop(np.ascontiguousarray(rgb[..., ::-1]), classifier.config.preprocessing))
                     for row, rgb in enumerate(images.to_pylist()))
            scores = classifier._runtime.infer(crops)
            return as_dicts([classifier._prediction(scores[row]) for row in range(len(images))])

    return Classify


def as_dicts(predictions) -> list[dict]:
    return [{"label": p.label, "class_id": p.class_id, "probability": p.probability, "error": p.error}
            for p in predictions]


def worker_daft(spec: dict, native_decode: bool = False) -> dict:
    import daft
    from daft import col
    from daft.functions import decode_image, download

    options = classify_options(spec["options"])
    t0 = time.perf_counter()
    daft.set_runner_native(num_threads=2)
    session_s = time.perf_counter() - t0
    classifier = daft_classify_class()(options)  # instances are built lazily, by the query
    classify = classifier.decoded if native_decode else classifier.encoded

    def run_job(folder: str) -> int:
        images = daft.from_glob_path(f"{folder}/*.JPEG").select(col("path"), download(col("path")).alias("image"))
        if native_decode:
            images = images.with_column("image", decode_image(col("image"), mode="RGB"))
        predictions = images.select(col("path"), classify(col("image")).alias("p")).collect()
        return sum(p["error"] is None for p in predictions.to_pydict()["p"])

    result = measure(run_job, spec)
    return {**result, "session_start_s": session_s, "version": daft.__version__, "peak_rss_mb": peak_rss_mb()}


WORKERS = {"spark": worker_spark, "ray": worker_ray, "daft": worker_daft,
           "daft-decode": lambda spec: worker_daft(spec, native_decode=True)}


# --- main ----------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=1)
    add_model_arguments(parser, "classify.* option (overrides conf/job.yaml)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(PEERS)}")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:  # through the module imported by name, so that Spark and Ray pickle our
        from bench import peers  # functions by reference and the classifier singleton lives there

        return serve_worker(peers.WORKERS, args.worker)

    try:
        conf_options, overrides = job_options(args)
        options = conf_options | overrides
        model_path = model_file(options)
    except ValueError as error:
        parser.error(str(error))
    only = args.only.split(",") if args.only else list(PEERS)
    if unknown := set(only) - set(PEERS):
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}; choose from {', '.join(PEERS)}")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        big = make_image_dir(Path(tmp), args.images)
        small = make_image_dir(Path(tmp), 1)
        spec = {"options": options, "repeats": args.repeats, "images": args.images,
                "folder": str(big), "small_folder": str(small)}
        for key in PEERS:
            if key not in only:
                continue
            print(f"[peers] {key} ...", file=sys.stderr, flush=True)
            t = time.perf_counter()
            load_before = os.getloadavg()[0]
            try:
                results[key] = run_worker("bench.peers", key, spec, timeout=3600, env={**os.environ, **WORKER_ENV})
                results[key]["load_1min"] = [load_before, os.getloadavg()[0]]
            except Exception as error:
                results[key] = {"error": str(error)}
                print(f"[peers] {key} FAILED: {error}", file=sys.stderr)
            print(f"[peers] {key} done in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)

    med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
    m = machine()
    lines = [
        f"Peers {time.strftime('%Y-%m-%dT%H:%M:%S')}: model `{args.model}` "
        f"({model_path.name}), precision `{args.precision}`; {args.images} images "
        f"(500 imagenet-dev JPEGs cycled), median of {args.repeats} repeats; batch {BATCH} rows.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_avg_at_start'])}.",
        f"Command: `{' '.join(['python -m bench.peers', *sys.argv[1:]])}`",
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
            lines.append(f"| {PEERS[key]} | - | FAILED | | | | | | |")
            continue
        lines.append(
            f"| {PEERS[key]} | {r['version']} | {fmt(med(r['steady_rates']))} | {fmt(med(r['rates']))} | "
            f"{fmt(r['startup_s'])} | {fmt(r['startup_cold_s'] + r['session_start_s'])} | "
            f"{fmt(med(r['cpu_ms_per_image']))} | {fmt(r['peak_rss_mb'], 0)} | "
            f"{'/'.join(f'{x:.1f}' for x in r['load_1min'])} |")
    lines += ["", "Steady = (N - 1) / (t_N - t_1); end-to-end = N / t_N; start-up = a 1-image job (median); "
              "cold = session start + the first 1-image job. Spark reuses its Python workers (model "
              "loaded once per worker per session, so its start-up excludes model loading); Ray starts "
              "a new actor (model load) per dataset execution; Daft runs one instance of the class, in a "
              "thread or a process of its choosing. CPU ms/image: user+sys of the driver "
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
