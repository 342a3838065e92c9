"""Throughput benchmark: the OpenVINO ceiling, the tight Python loop, our Flink SQL job (batch and
streaming; classify_resnet50(image) and classify_file(path)), ML_PREDICT and a naive row-at-a-time
UDF, on the same images and model, in one command.

    python -m bench.run [--images 2000] [--repeats 3] [--rounds 1] [--model resnet50]
                        [--precision auto|f32] [--quick] [-D key=value ...] [--only ceiling,tight,...]

The 500 shared ImageNet JPEGs are hard-linked (or copied) under new names into a temp dir until
there are --images files. Every measurement runs in its own subprocess (clean OpenVINO state,
its own peak RSS). Flink jobs: a 1-image job gives start-up (submit -> job finished), the N-image
job gives end-to-end images/s, and steady state is (N - 1) / (t_N - t_1).
--rounds R runs the selected approaches R times in turn (tight, Flink, tight, Flink, ...): on a
machine whose speed drifts by a few % over minutes, each row's "x tight loop" is then the median
of its per-round ratios to the tight loop of the same round, and the table lists every round's.
Results: bench/results/<timestamp>.{json,md,png} and latest.{json,md,png}.
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
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (
    IMAGENET_DEV,
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

BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Approach:
    """A row of the result table: which worker measures it, with what on top of the common spec."""

    key: str
    title: str
    worker: str  # a key of WORKERS
    spec: dict = field(default_factory=dict)


APPROACHES = (
    Approach("ceiling", "1. ceiling: OpenVINO on pre-decoded crops", "ceiling"),
    Approach("tight", "2. tight loop: Python read+decode+infer, a thread per core", "tight",
             {"threads": os.cpu_count()}),
    Approach("tight-1", "2'. tight loop, one thread", "tight", {"threads": 1}),
    Approach("flink-batch", "3a. Flink SQL batch, pandas UDF (ours)", "flink", {"mode": "batch", "udf": "pandas"}),
    Approach("flink-streaming", "3b. Flink SQL streaming, pandas UDF (ours)", "flink",
             {"mode": "streaming", "udf": "pandas"}),
    Approach("flink-batch-file", "3c. Flink SQL batch, classify_file(path): the pandas UDF reads the files", "flink",
             {"mode": "batch", "udf": "file"}),
    Approach("naive-batch", "4. Flink SQL batch, naive row UDF, sync infer", "flink",
             {"mode": "batch", "udf": "naive", "image_set": "naive"}),
    Approach("ml-predict-async", "5a. Flink SQL batch, ML_PREDICT, openvino provider (Java), async", "flink",
             {"mode": "batch", "udf": "ml-predict-async"}),
    Approach("ml-predict-sync", "5b. Flink SQL batch, ML_PREDICT, openvino provider (Java), sync", "flink",
             {"mode": "batch", "udf": "ml-predict-sync"}),
    # run only when -D gives Flink options: the same job with conf/job.yaml as it is
    Approach("flink-batch-conf", "3a'. Flink SQL batch, pandas UDF, conf/job.yaml without the -D options", "flink",
             {"mode": "batch", "udf": "pandas", "settings": "conf"}),
)
BY_KEY = {a.key: a for a in APPROACHES}


# --- workers (each runs in its own process) --------------------------------------------------------


def worker_ceiling(spec: dict) -> dict:
    """OpenVINO alone on pre-decoded u8 crops: the same ClassificationRuntime (compile settings,
    in-graph preprocessing, request pool) as the UDF, no decoding in the loop."""
    from udfs.classifier import ImageClassifier
    from udfs.config import load_config
    from udfs.preprocess import decode_image, resize_and_crop

    config = load_config(classify_options(spec["options"]))
    t0 = time.perf_counter()
    classifier = ImageClassifier(config)
    compile_s = time.perf_counter() - t0
    runtime = classifier._runtime
    crops = [resize_and_crop(decode_image(p.read_bytes(), config.max_pixels), config.preprocessing)
             for p in sorted(IMAGENET_DEV.glob("*.JPEG"))]
    runtime.infer((i, crops[i % len(crops)]) for i in range(4 * runtime.infer_requests * runtime.batch_size))  # warm up
    n = spec["images"]
    times, cpu = [], []
    for _ in range(spec["repeats"]):
        t, c = time.perf_counter(), time.process_time()
        runtime.infer((i, crops[i % len(crops)]) for i in range(n))
        times.append(time.perf_counter() - t)
        cpu.append((time.process_time() - c) / n * 1000)
    result = {"times_s": times, "rates": [n / t for t in times], "compile_s": compile_s, "cpu_ms_per_image": cpu,
              "precision": classifier.precision, "infer_requests": runtime.infer_requests,
              "infer_batch": runtime.batch_size, "peak_rss_mb": peak_rss_mb()}
    classifier.close()  # the model is freed now, not in interpreter shutdown
    return result


def worker_tight(spec: dict) -> dict:
    """One Python process, no Flink: ``threads`` threads each read their share of the files and
    call ImageClassifier.classify per batch (decode overlapped with inference; the classifiers
    share one compiled model, as the UDF's subtasks do in one worker)."""
    from concurrent.futures import ThreadPoolExecutor

    from udfs.classifier import ImageClassifier
    from udfs.config import load_config

    config = load_config(classify_options(spec["options"]))
    threads = spec["threads"]
    t0 = time.perf_counter()
    classifiers = [ImageClassifier(config) for _ in range(threads)]
    compile_s = time.perf_counter() - t0
    files = sorted(Path(spec["folder"]).iterdir())
    batch = int(spec["options"].get("python.fn-execution.arrow.batch.size", 64))

    def classify_share(index: int) -> int:
        done = 0
        share = files[index::threads]
        for start in range(0, len(share), batch):
            predictions = classifiers[index].classify([f.read_bytes() for f in share[start:start + batch]])
            done += sum(p.error is None for p in predictions)
        return done

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda c: c.classify([f.read_bytes() for f in files[:batch]]), classifiers))  # warm up
        times, cpu = [], []
        for _ in range(spec["repeats"]):
            t, c = time.perf_counter(), time.process_time()
            done = sum(pool.map(classify_share, range(threads)))
            times.append(time.perf_counter() - t)
            cpu.append((time.process_time() - c) / len(files) * 1000)
            assert done == len(files), f"{len(files) - done} images failed"
    runtime = classifiers[0]._runtime
    result = {"times_s": times, "rates": [len(files) / t for t in times], "compile_s": compile_s,
              "cpu_ms_per_image": cpu, "precision": classifiers[0].precision,
              "infer_requests": runtime.infer_requests, "infer_batch": runtime.batch_size, "threads": threads,
              "batch": batch, "peak_rss_mb": peak_rss_mb()}
    for classifier in classifiers:
        classifier.close()
    return result


class RssSampler(threading.Thread):
    """Peak RSS of every descendant process (JVM, Python UDF workers), sampled every 0.2 s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[int, tuple[str, float]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self.stop.wait(0.2):
            try:
                children = me.children(recursive=True)
            except psutil.Error:
                continue
            for proc in children:
                try:
                    rss = proc.memory_info().rss / 2**20
                    kind = "jvm" if "java" in proc.name() else "python"
                except psutil.Error:
                    continue
                if rss > self.peaks.get(proc.pid, ("", 0))[1]:
                    self.peaks[proc.pid] = (kind, rss)

    def summary(self) -> dict:
        py = [rss for kind, rss in self.peaks.values() if kind == "python"]
        jvm = [rss for kind, rss in self.peaks.values() if kind == "jvm"]
        return {"python_worker_peak_rss_mb": max(py, default=None), "python_workers_seen": len(py),
                "jvm_peak_rss_mb": max(jvm, default=None)}


def worker_flink(spec: dict) -> dict:
    """Per repeat: a 1-image job then an N-image job, INSERT INTO a blackhole sink."""
    from pyflink.table import EnvironmentSettings, Schema, TableDescriptor, TableEnvironment

    from udfs import settings
    from udfs.catalog import create_images_table

    sampler = RssSampler()
    sampler.start()
    options = spec["conf_options"] if spec.get("settings") == "conf" else spec["options"]
    folder = spec["naive_folder"] if spec.get("image_set") == "naive" else spec["folder"]
    t0 = time.perf_counter()
    env_settings = (EnvironmentSettings.in_streaming_mode() if spec["mode"] == "streaming"
                    else EnvironmentSettings.in_batch_mode())
    t_env = settings.configure(TableEnvironment.create(env_settings), overrides=options)
    env_s = time.perf_counter() - t0
    query = register_udf(t_env, spec["udf"], options)
    create_images_table(t_env, spec["small_folder"], name="images_small")
    create_images_table(t_env, folder, name="images_big")
    # a blackhole sink shaped like the query's result, whatever the function returns
    result = t_env.sql_query(query.format(table="images_small")).get_resolved_schema()
    t_env.create_temporary_table("sink", TableDescriptor.for_connector("blackhole").schema(
        Schema.new_builder().from_row_data_type(result.to_physical_row_data_type()).build()).build())
    n = len(os.listdir(folder))
    small_n = len(os.listdir(spec["small_folder"]))

    import psutil

    me = psutil.Process()

    def tree_cpu() -> float:  # this process (loopback UDF workers run here) + JVM + any workers
        total = sum(me.cpu_times()[:2])
        for proc in me.children(recursive=True):
            try:
                total += sum(proc.cpu_times()[:2])
            except psutil.Error:
                pass
        return total

    cpu: dict[str, list[float]] = {"images_small": [], "images_big": []}

    def run(table: str) -> float:
        t, c = time.perf_counter(), tree_cpu()
        t_env.execute_sql(f"INSERT INTO sink {query.format(table=table)}").wait()
        cpu[table].append(tree_cpu() - c)
        return time.perf_counter() - t

    cold = run("images_small")  # first job of this JVM: class loading, first Python worker
    # One unmeasured full job: the JIT compiles the hot paths (C2 took ~1 of 16 CPU-s per 8 s in
    # a JVM's second job), as it has in any job that runs for more than a minute.
    warmup = run("images_big")
    cpu["images_big"].clear()
    small, big = [], []
    for _ in range(spec["repeats"]):
        small.append(run("images_small"))
        big.append(run("images_big"))
    sampler.stop.set()
    sampler.join()
    t_small = statistics.median(small)
    return {"env_start_s": env_s, "small_s": small, "big_s": big, "images": n, "small_images": small_n,
            "startup_cold_s": cold, "startup_s": t_small, "warmup_job_s": warmup,
            "rates": [n / t for t in big],
            "steady_rates": [(n - small_n) / max(tb - t_small, 1e-9) for tb in big],
            # process mode: workers are the JVM's children and gone when a job ends, so not counted
            "cpu_ms_per_image": [] if spec.get("worker_mode") == "process" else
                                [(cb - statistics.median(cpu["images_small"])) / (n - small_n) * 1000
                                 for cb in cpu["images_big"]],
            "startup_cpu_s": statistics.median(cpu["images_small"]),
            **sampler.summary(), "client_peak_rss_mb": peak_rss_mb()}


def register_udf(t_env, udf: str, options: dict) -> str:
    """Make ``udf`` callable in SQL on ``t_env``; returns the query classifying ``{table}``."""
    if udf == "pandas":  # ours, registered by settings.configure
        return "SELECT path, classify_resnet50(image) AS p FROM {table}"
    if udf == "naive":
        from bench.naive_udf import classify_naive

        t_env.add_python_file(str(BENCH))  # the `bench` package, for Python workers in process mode
        t_env.create_temporary_system_function("classify_naive", classify_naive)
        return "SELECT path, classify_naive(image) AS p FROM {table}"
    if udf == "file":  # ours too: the same classifier, fed the path column (reads the files itself)
        return "SELECT path, classify_file(path) AS p FROM {table}"
    if udf.startswith("ml-predict"):  # the same classify.* options, as the model's WITH options
        from udfs.model_provider import create_classifier_model, provider_options

        create_classifier_model(t_env, provider_options(options))
        mode = "'async', 'true', 'max-concurrent-operations', '16'" if udf.endswith("async") else "'async', 'false'"
        return ("SELECT path, label, class_id, probability, top_labels, top_probabilities, error FROM "
                f"ML_PREDICT(TABLE {{table}}, MODEL image_classifier, DESCRIPTOR(image), MAP[{mode}])")
    raise ValueError(f"unknown udf {udf!r}")


WORKERS = {"ceiling": worker_ceiling, "tight": worker_tight, "flink": worker_flink}


def run_approach(approach: Approach, spec: dict, timeout: float) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYFLINK_", "_PYTHON_", "_python"))}
    if spec.get("worker_mode"):  # PyFlink: 'loopback' (default for local jobs: UDFs run in the client) or 'process'
        env["_python_worker_execution_mode"] = spec["worker_mode"]
    return run_worker("bench.run", approach.worker, {**spec, **approach.spec}, timeout, env)


# --- report -------------------------------------------------------------------------------------------


def steady_rates(approach: Approach, result: dict) -> list[float]:
    """The images/s a row reports: steady state for Flink jobs, every repeat's rate otherwise."""
    return result["steady_rates"] if approach.worker == "flink" else result["rates"]


def merge_rounds(rounds: list[dict]) -> dict:
    """One result per approach from each round's (``run_round`` gives every result that did not
    fail its ``load_1min``): the lists of every repeat of every round, the largest peak RSS, the
    first round's other single values, and ``round_rates`` (each round's median images/s)."""
    merged: dict[str, dict] = {}
    for results in rounds:
        for key, result in results.items():
            if "error" in merged.get(key, {}):
                continue
            if "error" in result:  # a row that failed in any round reports the failure
                merged[key] = result
                continue
            rate = statistics.median(steady_rates(BY_KEY[key], result))
            if key not in merged:
                merged[key] = {**result, "round_rates": [rate], "load_1min": list(result["load_1min"])}
                continue
            into = merged[key]
            for field_, value in result.items():
                if isinstance(value, list) and field_ != "load_1min":
                    into[field_] = into.get(field_, []) + value
                elif field_.endswith("peak_rss_mb") and value is not None:
                    into[field_] = max(value, into.get(field_) or 0)
            into["round_rates"].append(rate)
            into["load_1min"][1] = result["load_1min"][1]  # before the first round, after the last
    return merged


def build_rows(results: dict) -> list[dict]:
    rows = []
    med = lambda xs: statistics.median(xs) if xs else None
    tight = med(results.get("tight", {}).get("rates", []))
    tight_rounds = results.get("tight", {}).get("round_rates", [])
    ceiling = med(results.get("ceiling", {}).get("rates", []))
    naive = med(results.get("naive-batch", {}).get("steady_rates", []))
    for approach in APPROACHES:
        r = results.get(approach.key)
        if not r or "error" in r:
            continue
        flink = approach.worker == "flink"
        rate = med(steady_rates(approach, r))
        # several rounds: each against the tight loop of its own round, then the median of those
        per_round = [a / b for a, b in zip(r.get("round_rates", []), tight_rounds)] if len(tight_rounds) > 1 else []
        rows.append({
            "key": approach.key, "approach": approach.title, "images_per_s": rate,
            "end_to_end_images_per_s": med(r["rates"]) if flink else None,
            "startup_s": r.get("startup_s"),
            "vs_tight": med(per_round) if per_round else rate / tight if tight else None,
            "vs_tight_rounds": per_round,
            "vs_ceiling": rate / ceiling if ceiling else None,
            "vs_naive": rate / naive if naive and flink else None,
            "peak_rss_mb": (r.get("jvm_peak_rss_mb") if approach.spec.get("udf", "").startswith("ml-predict")
                            else max(x for x in (r.get("python_worker_peak_rss_mb"), r.get("client_peak_rss_mb")) if x)
                            if flink else r.get("peak_rss_mb")),
            "cpu_ms_per_image": med(r.get("cpu_ms_per_image", [])),
            "load_1min": r.get("load_1min"),
        })
    return rows


def markdown(meta: dict, rows: list[dict]) -> str:
    m = meta["machine"]
    rounds = meta.get("rounds", 1)
    rounds_text = (f" in each of {rounds} rounds (the approaches in turn; x tight loop: median of the "
                   "per-round ratios)" if rounds > 1 else "")
    per_round = any(r["vs_tight_rounds"] for r in rows)
    lines = [
        f"Benchmark {meta['timestamp']}: model `{meta['model']}` ({Path(meta['model_path']).name}), "
        f"precision requested `{meta['precision_requested']}`, used `{meta.get('precision_used')}`; "
        f"{meta['images']} images (500 imagenet-dev JPEGs cycled), median of {meta['repeats']} repeats"
        f"{rounds_text}; "
        f"Arrow batch {meta['arrow_batch_size']}, infer requests {meta.get('infer_requests')} of "
        f"{meta.get('infer_batch')} images, "
        f"Flink parallelism {meta['parallelism']}, Python worker mode {meta['worker_mode']}.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, ISA {', '.join(m['isa'])}; "
        f"load average at start {', '.join(f'{x:.2f}' for x in m['load_avg_at_start'])} "
        "(shared machine: other jobs may have been running).",
        f"Command: `{meta['command']}`",
        "",
        "| approach | images/s (steady) | end-to-end images/s | start-up s | x tight loop | "
        + ("x tight loop, each round | " if per_round else "")
        + "x ceiling | x naive | CPU ms/image | peak RSS MB (per Python worker) | 1-min load before/after |",
        "|---|---:|---:|---:|---:|" + ("---|" if per_round else "") + "---:|---:|---:|---:|---|",
    ]
    for r in rows:
        rounds_cell = (" ".join(fmt(x, 2) for x in r["vs_tight_rounds"]) + " | ") if per_round else ""
        lines.append(
            f"| {r['approach']} | {fmt(r['images_per_s'])} | {fmt(r['end_to_end_images_per_s'])} | "
            f"{fmt(r['startup_s'])} | {fmt(r['vs_tight'], 2)} | {rounds_cell}{fmt(r['vs_ceiling'], 2)} | "
            f"{fmt(r['vs_naive'], 2)} | {fmt(r['cpu_ms_per_image'])} | {fmt(r['peak_rss_mb'], 0)} | "
            f"{'/'.join(f'{x:.1f}' for x in r['load_1min'] or [])} |")
    lines += ["", "Flink: start-up = a 1-image job, submit to finish (median; each job starts its Python "
              "worker(s) and loads the model; the JVM's very first job, ~2-3 s slower, is excluded; one unmeasured N-image job warms the JIT first); steady = (N - 1) / (t_N - t_1) with medians; end-to-end = N / t_N. "
              "CPU ms/image: user+sys CPU of all our processes (client, JVM, Python workers) per image "
              "in steady state, less sensitive than images/s to other load on the machine. Peak RSS for "
              "Flink: the largest Python process (embedded jobs run the UDF in loopback mode, inside the "
              "client process, so with parallelism 2 both subtasks share it); for ML_PREDICT the JVM, "
              "which runs the model (no Python worker)."]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], meta: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    labels = [r["key"] for r in rows]
    steady = [r["images_per_s"] or 0 for r in rows]
    e2e = [r["end_to_end_images_per_s"] or 0 for r in rows]
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], steady, 0.4, label="steady images/s")
    ax.bar([i + 0.2 for i in x], e2e, 0.4, label="end-to-end images/s (Flink, incl. start-up)")
    for i, v in enumerate(steady):
        ax.text(i - 0.2, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), labels)
    ax.set_ylabel("images/s")
    ax.set_title(f"{meta['model']} ({meta.get('precision_used')}), {meta['images']} images, "
                 f"{meta['machine']['cores']} cores")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# --- main -----------------------------------------------------------------------------------------


def run_round(approaches: list[Approach], spec: dict, label: str) -> dict[str, dict]:
    """Each approach once, in order; a failure is kept as its result and the rest still run."""
    results: dict[str, dict] = {}
    for approach in approaches:
        key = approach.key
        print(f"[bench] {label}{key} ...", file=sys.stderr, flush=True)
        t = time.perf_counter()
        try:
            load_before = os.getloadavg()[0]
            try:
                results[key] = run_approach(approach, spec, timeout=3600)
            except RuntimeError as error:  # a shared machine: retry a failed job once
                print(f"[bench] {key} failed, retrying once: {str(error)[:300]}", file=sys.stderr)
                results[key] = run_approach(approach, spec, timeout=3600)
            results[key]["load_1min"] = [load_before, os.getloadavg()[0]]
        except Exception as error:  # keep the other measurements
            results[key] = {"error": str(error)}
            print(f"[bench] {key} FAILED: {error}", file=sys.stderr)
        print(f"[bench] {label}{key} done in {time.perf_counter() - t:.0f} s: "
              f"{ {k: v for k, v in results[key].items() if k in ('rates', 'steady_rates', 'startup_s', 'precision')} }",
              file=sys.stderr, flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the approaches this many times in turn; ratios per round (see above)")
    add_model_arguments(parser, "Flink or classify.* option for all approaches (overrides conf/job.yaml)")
    parser.add_argument("--quick", action="store_true", help="500 images, 1 repeat")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BY_KEY)}")
    parser.add_argument("--naive-images", type=int, default=500,
                        help="images for the naive baseline (it is slow; steady state is per image)")
    parser.add_argument("--worker-mode", choices=("loopback", "process"),
                        help="PyFlink Python worker mode for the embedded MiniCluster (default: loopback)")
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        return serve_worker(WORKERS, args.worker)

    if args.quick:
        args.images, args.repeats = 500, 1
    if args.rounds < 1:
        parser.error(f"--rounds: expected 1 or more, got {args.rounds}")
    if args.only and (unknown := set(args.only.split(",")) - set(BY_KEY)):
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}; choose from {', '.join(BY_KEY)}")
    try:
        conf_options, overrides = job_options(args)
        options = conf_options | overrides
        model_path = model_file(options)
    except ValueError as error:
        parser.error(str(error))
    if args.only:
        only = args.only.split(",")
    else:
        flink_overrides = any(not key.startswith("classify.") for key in overrides)
        only = [a.key for a in APPROACHES if a.key != "flink-batch-conf" or flink_overrides]
    meta = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
        "machine": machine(), "model": args.model, "model_path": str(model_path),
        "precision_requested": args.precision, "images": args.images, "repeats": args.repeats,
        "rounds": args.rounds,
        "arrow_batch_size": int(options.get("python.fn-execution.arrow.batch.size", 1000)),
        "parallelism": options.get("parallelism.default", f"default ({os.cpu_count()} cores)"),
        "worker_mode": args.worker_mode or "loopback (PyFlink default for local jobs)",
        "options": options,
    }
    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        spec = {"options": options, "conf_options": conf_options, "repeats": args.repeats, "images": args.images,
                "folder": str(make_image_dir(Path(tmp), args.images)),
                "small_folder": str(make_image_dir(Path(tmp), 1)),
                "naive_folder": str(make_image_dir(Path(tmp), min(args.naive_images, args.images))),
                "worker_mode": args.worker_mode}
        rounds = [run_round([a for a in APPROACHES if a.key in only], spec, f"round {i + 1} of {args.rounds}: "
                            if args.rounds > 1 else "") for i in range(args.rounds)]
    results = merge_rounds(rounds)
    for key in ("ceiling", "tight"):
        if key in results and "precision" in results[key]:
            meta["precision_used"] = results[key]["precision"]
            meta["infer_requests"] = results[key]["infer_requests"]
            meta["infer_batch"] = results[key].get("infer_batch")
    rows = build_rows(results)
    table = markdown(meta, rows)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = time.strftime("%Y%m%d-%H%M%S") + (f"-{args.tag}" if args.tag else "")
    for name in (stem, "latest"):
        (args.out / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows, "raw": results, "raw_rounds": rounds}, indent=2))
        (args.out / f"{name}.md").write_text(table)
        try:
            plot(rows, meta, args.out / f"{name}.png")
        except Exception as error:
            print(f"[bench] plot failed: {error}", file=sys.stderr)
    print(f"[bench] results in {args.out}/{stem}.{{json,md,png}}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
