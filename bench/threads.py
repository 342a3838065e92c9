"""Where the CPU goes in our Flink job: per-thread CPU of the client process (which runs the UDF
in loopback mode) and of the JVM, over a window in the middle of a warm job.

    python -m bench.threads [--images 2000] [--warm-jobs 2] [--window 8] [-D key=value ...]

Runs ``--warm-jobs`` unmeasured jobs (JIT, page cache), then one more job over ``--images``
files; ``--window`` seconds after a 5 s lead-in it reads ``/proc/<pid>/task/*/stat`` twice and
prints CPU-seconds per thread group. Threads the Python ``threading`` module knows (the UDF's
Beam harness threads, which decode) are named; the other native threads of the client are
OpenVINO's. Images/s of the measured job (start-up included) is printed for scale.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import make_image_dir, model_options
from udfs.config_file import parse_key_values

TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[str, tuple[str, float]]:
    """{tid: (name, CPU-seconds)} of a process's live threads."""
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        threads[tid] = (name, (int(fields[11]) + int(fields[12])) / TICKS)
    return threads


def group(process: str, tid: str, name: str, python_threads: dict[str, str]) -> str:
    if process == "jvm":
        if "CompilerThre" in name:
            return "JVM: JIT compiler"
        if name.startswith(("Source:", "Source Data Fet")):
            return "JVM: source, Arrow to/from Python, sink (task threads)"
        if name.startswith(("G1 ", "GC ")):
            return "JVM: garbage collector"
        return "JVM: other (RPC, split requests, coordinator, gRPC)"
    if tid in python_threads:
        return "Python: UDF / Beam harness threads (decode, Arrow, gRPC)"
    return "Python: OpenVINO inference threads"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--warm-jobs", type=int, default=2)
    parser.add_argument("--window", type=float, default=8.0)
    parser.add_argument("-D", dest="options", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    try:
        overrides = model_options("resnet50") | parse_key_values(args.options, "-D")
    except ValueError as error:
        parser.error(str(error))

    import psutil
    from pyflink.table import EnvironmentSettings, TableEnvironment

    from udfs import settings
    from udfs.catalog import create_images_table

    t_env = settings.configure(TableEnvironment.create(EnvironmentSettings.in_batch_mode()), overrides=overrides)
    t_env.execute_sql("CREATE TEMPORARY TABLE sink (path STRING, label STRING) WITH ('connector' = 'blackhole')")
    samples: dict[str, collections.Counter] = {}

    def sample() -> None:
        time.sleep(5)
        jvm = next(p.pid for p in psutil.Process().children(recursive=True) if "java" in p.name())
        pids = {"python": os.getpid(), "jvm": jvm}
        before = {process: thread_cpu(pid) for process, pid in pids.items()}
        time.sleep(args.window)
        after = {process: thread_cpu(pid) for process, pid in pids.items()}
        python_threads = {str(t.native_id): t.name for t in threading.enumerate()}
        for process in pids:
            counter = samples.setdefault(process, collections.Counter())
            for tid, (name, cpu) in after[process].items():
                counter[group(process, tid, name, python_threads)] += cpu - before[process].get(tid, (name, 0.0))[1]

    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        create_images_table(t_env, str(make_image_dir(Path(tmp), args.images)), name="images")
        insert = "INSERT INTO sink SELECT path, classify_resnet50(image).label FROM images"
        for _ in range(args.warm_jobs):
            t_env.execute_sql(insert).wait()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        t_env.execute_sql(insert).wait()
        elapsed = time.perf_counter() - started
        sampler.join()

    print(f"job: {args.images} images in {elapsed:.1f} s = {args.images / elapsed:.1f} images/s "
          f"(start-up included); CPU-seconds per thread group in a {args.window:.0f} s window "
          f"({os.cpu_count()} cores = {os.cpu_count() * args.window:.0f} CPU-s):")
    for process in ("python", "jvm"):
        for name, cpu in samples.get(process, collections.Counter()).most_common():
            if cpu >= 0.05:
                print(f"  {cpu:6.2f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
