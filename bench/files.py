"""Many small files: how fast a folder of small JPEGs becomes rows, through the ``whole-file``
format (filesystem connector, one split per file), the ``whole-file`` connector (many files per
split) and, when a Spark interpreter is there, Spark's ``binaryFile`` source; and what enumerating
a very large folder costs the JobManager.

    .venv/bin/python -m bench.files [--files 20000,100000] [--repeats 1] [--only format,connector,spark]
    .venv/bin/python -m bench.files --enumerate 1000000        # + enumeration time and memory

Spark (optional, its own venv outside the repo): ``python3 -m venv /tmp/spark-venv &&
/tmp/spark-venv/bin/pip install pyspark``; ``--spark-python`` points elsewhere.

Query, as a backfill's first pass: ``SELECT COUNT(*) FROM images WHERE image IS NOT NULL`` (Spark:
``.where("content IS NOT NULL").count()``), batch, parallelism 2 (Spark ``local[2]``, driver heap a
quarter of the memory like the Flink JVM's default: with Spark's 1 GiB a million files fail). Each
approach runs in its own process: one unmeasured job on the smallest folder warms the JVM, then per
repeat a 1-file job (start-up) and the N-file jobs. end-to-end files/s = N / t_N, steady files/s =
(N - 1) / (t_N - t_1); CPU = user + system seconds of the process and its JVM. ``format-quiet`` is
the format with the file source's INFO logging off (it writes ~13 log lines per file), to show
that share of the per-file cost.

Folders (not in the repo; ``--data``, default ``$TMPDIR/flink-image-udfs-files``): N files of one
1.8 KB JPEG in 100 sub-folders, hard links to one file per sub-folder (the page cache holds them
either way), kept between runs. Results: bench/results/files-<timestamp>.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SUBFOLDERS = 100
APPROACHES = {
    "format": "whole-file format (filesystem connector, 1 file per split)",
    "format-quiet": "whole-file format, file source INFO logs off",
    "connector": "whole-file connector (many files per split)",
    "spark": "Spark binaryFile, local[2]",
}
# The loggers that write a line or more per split: the file source's enumerator and assigner,
# the source reader and its fetchers, the source coordinator.
PER_SPLIT_LOGGERS = (
    "org.apache.flink.connector.file.src",
    "org.apache.flink.connector.base.source.reader",
    "org.apache.flink.runtime.source.coordinator",
)


# --- folders ------------------------------------------------------------------------------------------


def tiny_jpeg() -> bytes:
    """A 80x60 JPEG of about 1.8 KB: a shared photo scaled down, or a gradient without ../shared."""
    import cv2
    import numpy as np

    from udfs.shared_assets import IMAGENET_DEV

    photos = sorted(IMAGENET_DEV.glob("*.JPEG"))
    if photos:
        image = cv2.resize(cv2.imread(str(photos[0])), (80, 60), interpolation=cv2.INTER_AREA)
    else:
        ramp = np.linspace(0, 255, 80, dtype=np.uint8)
        image = np.dstack([np.tile(ramp, (60, 1))] * 3)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 75])
    return encoded.tobytes()


def make_folder(data: Path, count: int) -> Path:
    """``count`` files in ``SUBFOLDERS`` sub-folders (``d000/img0000000.jpg`` ...), made once."""
    folder = data / f"files_{count}"
    done = folder / ".complete"  # hidden: not listed by Flink or Spark
    if done.exists():
        return folder
    content = tiny_jpeg()
    for d in range(min(SUBFOLDERS, count)):
        sub = folder / f"d{d:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / ".source").write_bytes(content)
    for i in range(count):
        sub = folder / f"d{i % SUBFOLDERS:03d}"
        target = sub / f"img{i:07d}.jpg"
        if not target.exists():
            os.link(sub / ".source", target)
    done.touch()
    return folder


# --- measurement helpers (stdlib only: the Spark worker runs in Spark's venv) ---------------------------


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants (the JVM of a Python session)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def timed(count_rows) -> dict:
    """Runs ``count_rows()`` (a job returning the row count); wall and CPU seconds."""
    cpu, start = tree_cpu_seconds(os.getpid()), time.perf_counter()
    rows = count_rows()
    return {"rows": rows, "wall_s": time.perf_counter() - start,
            "cpu_s": tree_cpu_seconds(os.getpid()) - cpu}


def measure(count_rows, spec: dict) -> dict:
    """The warm-up job, then the 1-file job and the N-file jobs."""
    folders = {int(n): path for n, path in spec["folders"].items()}
    count_rows(folders[min(folders)])
    runs = {"1": [timed(lambda: count_rows(spec["one_file"]))]}
    for n, folder in sorted(folders.items()):
        runs[str(n)] = [timed(lambda: count_rows(folder))]
    return {"runs": runs, "load_1min": [os.getloadavg()[0]]}


def merge(into: dict, result: dict) -> None:
    """Adds one worker's runs (and any error) to an approach's results."""
    if "error" in result:
        into.setdefault("error", result["error"])
        return
    for n, runs in result["runs"].items():
        into.setdefault("runs", {}).setdefault(n, []).extend(runs)
    into.setdefault("load_1min", []).extend(result["load_1min"])
    if "log_bytes_per_file" in result:
        into.setdefault("log_bytes_per_file", []).append(result["log_bytes_per_file"])
    if "version" in result:
        into["version"] = result["version"]


# --- workers --------------------------------------------------------------------------------------------


def worker_flink(spec: dict) -> dict:
    from pyflink.java_gateway import get_gateway
    from pyflink.table import EnvironmentSettings, TableEnvironment

    from udfs.catalog import IMAGES_COLUMNS, create_images_table, sql_string, use_format_jar
    from udfs.config_file import JOB_CONF, read_config_file

    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    for key, value in read_config_file(JOB_CONF).items():
        if not key.startswith("classify."):
            t_env.get_config().set(key, value)
    use_format_jar(t_env)
    jvm = get_gateway().jvm
    if spec["approach"] == "format-quiet":
        warn = jvm.org.apache.logging.log4j.Level.WARN
        for logger in PER_SPLIT_LOGGERS:
            jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(logger, warn)
    log_file = jvm.System.getProperty("log.file")
    tables = iter(range(10**9))

    def images_table(folder: str) -> str:
        name = f"images_{next(tables)}"
        if spec["approach"] == "connector":
            t_env.execute_sql(
                f"CREATE TEMPORARY TABLE {name} (\n{IMAGES_COLUMNS}\n) WITH ('connector' = 'whole-file',"
                f" 'path' = {sql_string(folder)})"
            )
            return name
        return create_images_table(t_env, folder, name)

    def count_rows(folder: str) -> int:
        table = images_table(folder)
        with t_env.execute_sql(f"SELECT COUNT(*) FROM {table} WHERE image IS NOT NULL").collect() as rows:
            return next(iter(rows))[0]

    log_bytes = lambda: sum(f.stat().st_size for f in Path(log_file).parent.glob("*.log*")) if log_file else 0
    before = log_bytes()
    result = measure(count_rows, spec)
    files = min(map(int, spec["folders"])) + 1 + sum(map(int, spec["folders"]))  # warm-up, 1, N...
    result["log_bytes_per_file"] = (log_bytes() - before) / files
    return result


def worker_spark(spec: dict) -> dict:
    from pyspark.sql import SparkSession

    # The driver heap a JVM gets by default (a quarter of the memory), as Flink's here: Spark's
    # default of 1 GiB runs out listing a million files.
    heap_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4 // 2**20
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.memory", f"{heap_mib}m")
             .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    spark.sparkContext.setLogLevel("WARN")
    import pyspark

    def count_rows(folder: str) -> int:
        frame = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(folder)
        return frame.where("content IS NOT NULL").count()

    return measure(count_rows, spec) | {"version": pyspark.__version__}


def worker_enumerate(spec: dict) -> dict:
    """Time and retained heap of listing one folder into splits, in a fresh JVM, with Flink's
    NonSplittingRecursiveEnumerator (the filesystem connector's for a non-splittable format; its
    planner runs it too, for statistics) or the connector's FileBatchEnumerator."""
    from pyflink.java_gateway import get_gateway
    from pyflink.table import EnvironmentSettings, TableEnvironment

    from udfs.catalog import use_format_jar

    use_format_jar(TableEnvironment.create(EnvironmentSettings.in_batch_mode()))  # jar on the class path
    gateway = get_gateway()
    jvm = gateway.jvm
    runtime = jvm.java.lang.Runtime.getRuntime()

    def heap_used() -> int:
        for _ in range(3):
            jvm.java.lang.System.gc()
        return runtime.totalMemory() - runtime.freeMemory()

    def batch_enumerator():  # package-private: the connector builds it, not users
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        cls = jvm.java.lang.Class.forName("dev.flinkimageudfs.format.FileBatchEnumerator", True, loader)
        parameters = gateway.new_array(jvm.java.lang.Class, 1)
        parameters[0] = jvm.java.lang.Integer.TYPE
        constructor = cls.getDeclaredConstructor(parameters)
        constructor.setAccessible(True)
        arguments = gateway.new_array(jvm.java.lang.Object, 1)
        arguments[0] = 1000
        return constructor.newInstance(arguments)

    make = {
        "format": jvm.org.apache.flink.connector.file.src.enumerate.NonSplittingRecursiveEnumerator,
        "connector": batch_enumerator,
    }[spec["enumerator"]]
    paths = gateway.new_array(jvm.org.apache.flink.core.fs.Path, 1)
    paths[0] = jvm.org.apache.flink.core.fs.Path(spec["folder"])
    enumerator = make()
    before = heap_used()
    start = time.perf_counter()
    splits = enumerator.enumerateSplits(paths, 2)
    seconds = time.perf_counter() - start
    retained = heap_used() - before
    return {"seconds": seconds, "retained_mb": retained / 2**20, "splits": splits.size(),
            "max_heap_mb": runtime.maxMemory() / 2**20, "load_1min": os.getloadavg()[0]}


WORKERS = {"flink": worker_flink, "spark": worker_spark, "enumerate": worker_enumerate}


def run_worker(python: str, kind: str, spec: dict, timeout: float) -> dict:
    """This file as a script under ``python``, ``spec`` as JSON on stdin; the JSON last line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYFLINK_", "_PYTHON_", "_python"))}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([python, str(Path(__file__)), "--worker", kind], cwd=REPO, input=json.dumps(spec),
                          capture_output=True, text=True, timeout=timeout, env=env)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        causes = [line for line in proc.stderr.splitlines() if "Exception" in line or "Error" in line]
        return {"error": f"{kind} worker failed (rc {proc.returncode}): " + " | ".join(causes[:5])}
    return json.loads(lines[-1])


# --- report ---------------------------------------------------------------------------------------------


def table_rows(results: dict) -> list[dict]:
    rows = []
    for approach, result in results.items():
        if "runs" not in result:
            rows.append({"approach": APPROACHES[approach], "error": result["error"].splitlines()[0]})
            continue
        startup = statistics.median(r["wall_s"] for r in result["runs"]["1"])
        for n, runs in result["runs"].items():
            if n == "1":
                continue
            n_files = int(n)
            wall = statistics.median(r["wall_s"] for r in runs)
            cpu = statistics.median(r["cpu_s"] for r in runs)
            assert all(r["rows"] == n_files for r in runs), f"{approach}: wrong row count {runs}"
            rows.append({
                "approach": APPROACHES[approach], "files": n_files, "wall_s": wall, "startup_s": startup,
                "files_per_s": n_files / wall,
                "steady_files_per_s": (n_files - 1) / (wall - startup) if wall > startup else None,
                "cpu_s": cpu, "cpu_us_per_file": cpu / n_files * 1e6,
                "log_bytes_per_file": (statistics.median(result["log_bytes_per_file"])
                                       if "log_bytes_per_file" in result else None),
            })
    return rows


def markdown(meta: dict, rows: list[dict], enumeration: dict | None) -> str:
    f = lambda x, d=1: "-" if x is None else f"{x:,.{d}f}"
    lines = [
        f"Machine: {meta['cpu']}, {meta['cores']} cores; load average {f(meta['load_before'], 1)} before,"
        f" {f(meta['load_after'], 1)} after (other work on the machine inflates wall times; CPU"
        " seconds are steadier). Query: `SELECT COUNT(*) FROM images WHERE image IS NOT NULL`, batch,"
        f" parallelism 2; 1.8 KB JPEGs in {SUBFOLDERS} folders; median of {meta['repeats']} run(s) after"
        " a warm-up job.",
        "",
        "| approach | files | wall s | files/s | steady files/s | start-up s | CPU s | CPU µs/file | log bytes/file |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['approach']} | error: {r['error']} | | | | | | | |")
            continue
        lines.append(
            f"| {r['approach']} | {r['files']:,} | {f(r['wall_s'])} | {f(r['files_per_s'], 0)} |"
            f" {f(r['steady_files_per_s'], 0)} | {f(r['startup_s'])} | {f(r['cpu_s'])} |"
            f" {f(r['cpu_us_per_file'], 0)} | {f(r['log_bytes_per_file'], 0)} |"
        )
    if enumeration:
        lines += [
            "",
            f"Enumeration of {enumeration['files']:,} files, each enumerator in a fresh JVM: heap retained"
            " after GC = what the JobManager's enumerator holds until the splits are assigned.",
            "",
            "| enumerator | splits | seconds | retained MB | bytes per file | max heap MB | load |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, title in (("format", "Flink NonSplittingRecursiveEnumerator (format)"),
                            ("connector", "FileBatchEnumerator (connector)")):
            e = enumeration[name]
            if "error" in e:
                lines.append(f"| {title} | error: {e['error'].splitlines()[0]} | | | | | |")
                continue
            lines.append(f"| {title} | {e['splits']:,} | {f(e['seconds'])} | {f(e['retained_mb'])} |"
                         f" {f(e['retained_mb'] * 2**20 / enumeration['files'], 0)} |"
                         f" {f(e['max_heap_mb'], 0)} | {f(e['load_1min'])} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    parser.add_argument("--files", default="20000,100000", help="folder sizes, comma-separated")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--only", default="format,format-quiet,connector,spark",
                        help=f"comma-separated subset of {','.join(APPROACHES)}")
    parser.add_argument("--enumerate", type=int, metavar="N", help="also list an N-file folder (e.g. 1000000)")
    parser.add_argument("--spark-python", default="/tmp/spark-venv/bin/python")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "flink-image-udfs-files")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](json.loads(sys.stdin.read()))), flush=True)
        return 0

    from bench.common import RESULTS, machine

    counts = sorted(int(n) for n in args.files.split(","))
    folders = {str(n): str(make_folder(args.data, n)) for n in counts}
    one_file = str(make_folder(args.data, 1))
    spec = {"folders": folders, "one_file": one_file}
    meta = machine() | {"repeats": args.repeats, "load_before": os.getloadavg()[0]}
    approaches = [a for a in args.only.split(",") if a != "spark" or Path(args.spark_python).exists()]
    if "spark" in args.only.split(",") and "spark" not in approaches:
        print(f"spark: {args.spark_python} not found, skipped (see --help)", file=sys.stderr)
    results: dict[str, dict] = {}
    for repeat in range(args.repeats):  # approaches take turns, so that load from elsewhere hits all
        for approach in approaches:
            if approach == "spark":
                result = run_worker(args.spark_python, "spark", spec, args.timeout)
            else:
                result = run_worker(sys.executable, "flink", spec | {"approach": approach}, args.timeout)
            merge(results.setdefault(approach, {}), result)
            print(f"{approach}: run {repeat + 1} done", file=sys.stderr, flush=True)
    enumeration = None
    if args.enumerate:
        folder = str(make_folder(args.data, args.enumerate))
        enumeration = {"files": args.enumerate}
        for enumerator in ("format", "connector"):
            enumeration[enumerator] = run_worker(
                sys.executable, "enumerate", {"folder": folder, "enumerator": enumerator}, args.timeout)
    meta["load_after"] = os.getloadavg()[0]
    rows = table_rows(results)
    report = markdown(meta, rows, enumeration)
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"files-{stamp}.md").write_text(report)
    (RESULTS / f"files-{stamp}.json").write_text(
        json.dumps({"meta": meta, "results": results, "rows": rows, "enumeration": enumeration}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
