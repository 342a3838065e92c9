"""Where the CPU goes per image: our Flink job (pandas UDF fed the bytes or the paths, or
ML_PREDICT) against the tight Python loop, by thread group, and inside them with real profilers.

    python -m bench.threads [--images 2000] [--warm-jobs 2] [--window 10] [--udf pandas|file|ml-predict|tight]
                            [--py-spy] [--jfr] [--out DIR] [-D key=value ...]

Runs ``--warm-jobs`` unmeasured jobs (JIT, page cache, the precision choice), then one more over
``--images`` files; from 4 s after its first image, for ``--window`` seconds, it reads the CPU time of every
thread of this process (the UDF runs here: local jobs use PyFlink's loopback mode) and of the JVM
from ``/proc/<pid>/task/*/stat`` and the images classified (the ``classify.images`` counter, over
Flink's REST API), so every figure is CPU ms per image. ``--udf tight`` measures the tight loop
of ``bench.run`` (``ImageClassifier.classify`` per Arrow-batch-sized list, a thread per core) the
same way: the reference the job is compared with.

In the same window, ``--py-spy`` samples this process's Python threads with py-spy (``pip install
py-spy``; native frames included) and ``--jfr`` records the JVM with Java Flight Recorder (``jcmd
<pid> JFR.start``; what ``-XX:StartFlightRecording`` in ``env.java.opts`` does for a cluster).
Both are summarised as CPU ms per image by what the code does (decode, Arrow, gRPC, ...); the raw
files stay in ``--out`` (speedscope-compatible collapsed stacks, ``.jfr``).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import RESULTS, make_image_dir, model_options
from udfs.config_file import JOB_CONF, parse_key_values, read_config_file

TICKS = os.sysconf("SC_CLK_TCK")
LEAD_IN_S = 4.0

# Python stacks (py-spy), innermost frame first: the first frame matching a pattern names the work.
PYTHON_WORK = (
    ("decode + resize + crop (OpenCV)", re.compile(r"udfs/preprocess\.py|cv2")),
    ("OpenVINO calls from Python (copy into tensors, start, results)", re.compile(r"udfs/runtime\.py|openvino")),
    ("results to rows (classifier, functions.predictions_frame)", re.compile(r"udfs/classifier\.py|udfs/functions\.py")),
    ("Arrow <-> pandas (PyFlink coders, pyarrow, pandas)",
     re.compile(r"pyarrow|pandas/|pyflink/fn_execution/(coder|stream|formats|ResettableIO)|pyflink/table/utils")),
    ("Beam harness, gRPC (data plane to the JVM)", re.compile(r"apache_beam|grpc|pyflink/fn_execution")),
    ("reading files (tight loop)", re.compile(r"pathlib|read_bytes")),
)
# JVM stacks (JFR execution samples), top frame first; JDK frames belong to their caller.
JVM_WORK = (
    ("reading files (whole-file source)", re.compile(r"^(dev\.flinkimageudfs\.format|java\.io\.File|sun\.nio\.ch\.File|org\.apache\.flink\.core\.fs|org\.apache\.flink\.connector\.file)")),
    ("rows <-> Arrow batches", re.compile(r"\.arrow\.|\.arrow$|Arrow")),
    ("Beam / gRPC / Netty (to and from Python)", re.compile(r"org\.apache\.beam|\.grpc\.|\.netty\.|python\.shaded")),
    ("openvino provider (decode, crop, JNA calls)", re.compile(r"^(dev\.flinkimageudfs\.model|com\.sun\.jna)")),
    ("Flink runtime (operators, serializers, network, sink)", re.compile(r"^org\.apache\.flink")),
)


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
            return "JVM: task threads (source, operators, sink)"
        if name.startswith(("G1 ", "GC ")):
            return "JVM: garbage collector"
        if name.startswith("openvino-infer"):
            return "JVM: openvino provider queue threads"
        return "JVM: other (RPC, split requests, coordinator, gRPC)"
    if tid in python_threads:
        return "Python threads (decode, harness, Arrow, gRPC)"
    return "native threads (OpenVINO inference)"


# A Python thread blocked in one of these (innermost frame that is not an anonymous libc address)
# is waiting, not working: py-spy with --native does not recognise every such wait as idle. A
# bare libc syscall() at the top is a futex wait (gRPC's completion queues, libstdc++ futures).
_WAITING = re.compile(r"^syscall \(libc|futex|PyThread_acquire_lock|time_sleep|nanosleep|pthread_cond|epoll|poll|"
                      r"select|sem_wait|::wait|_wait_until|gpr_cv|cq_next|accept|recv|read \(libc")
_ANONYMOUS = re.compile(r"^0x[0-9a-f]+ \(libc")


def waiting(frames: list[str]) -> bool:
    """Whether a stack (innermost frame first) is blocked rather than running."""
    named = next((frame for frame in frames if not _ANONYMOUS.match(frame)), "")
    return bool(_WAITING.search(named))


def work_of(frames: list[str], patterns) -> str:
    for frame in frames:
        for work, pattern in patterns:
            if pattern.search(frame):
                return work
    return "other"


def py_spy_summary(raw: Path, rate: int, images: int) -> collections.Counter:
    """Busy ms per image by work, from py-spy's collapsed stacks (outermost frame first), waits
    left out: an estimate of the Python threads' CPU by what they run."""
    totals: collections.Counter = collections.Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")[::-1]
        if not waiting(frames):
            totals[work_of(frames, PYTHON_WORK)] += int(count) / rate * 1000 / images
    return totals


def jfr_summary(recording: Path) -> collections.Counter:
    """Share of the JVM's Java execution samples by work (the JFR samples running Java threads
    every 10-20 ms; JIT and GC threads are in the thread table instead)."""
    jfr = shutil.which("jfr") or str(Path(os.path.realpath(shutil.which("java"))).parent / "jfr")
    text = subprocess.run([jfr, "print", "--events", "jdk.ExecutionSample", "--stack-depth", "64", str(recording)],
                          capture_output=True, text=True, check=True).stdout
    counts: collections.Counter = collections.Counter()
    for block in text.split("jdk.ExecutionSample")[1:]:
        frames = re.findall(r"^\s+([\w.$]+)\(", block, re.MULTILINE)
        counts[work_of(frames, JVM_WORK)] += 1
    total = sum(counts.values()) or 1
    return collections.Counter({work: n / total for work, n in counts.items()})


class DecodedImages:
    """Images decoded in this process (the UDF runs here in loopback mode, as does the tight
    loop): counted per image by wrapping ``udfs.classifier.prepare_crop``, where the UDF's
    ``classify.images`` metric moves a whole Arrow batch at a time."""

    def __init__(self) -> None:
        from udfs import classifier

        self.count, lock, original = 0, threading.Lock(), classifier.prepare_crop

        def counted(*args, **kwargs):
            with lock:
                self.count += 1
            return original(*args, **kwargs)

        classifier.prepare_crop = counted

    def __call__(self) -> int:
        return self.count


def minor_faults(pid: int) -> int:
    """Minor page faults of a process so far (a fresh page touched: allocation churn)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


class Window:
    """CPU per thread group, page faults and images done between start() and stop()."""

    def __init__(self, pids: dict[str, int], images_done) -> None:
        self.pids, self.images_done = pids, images_done

    def start(self) -> None:
        self.before = {process: thread_cpu(pid) for process, pid in self.pids.items()}
        self.faults = {process: minor_faults(pid) for process, pid in self.pids.items()}
        self.images_before, self.started = self.images_done(), time.perf_counter()

    def stop(self) -> dict:
        after = {process: thread_cpu(pid) for process, pid in self.pids.items()}
        faults = {process: minor_faults(pid) - self.faults[process] for process, pid in self.pids.items()}
        seconds, images = time.perf_counter() - self.started, self.images_done() - self.images_before
        python_threads = {str(t.native_id): t.name for t in threading.enumerate()}
        groups: collections.Counter = collections.Counter()
        names: collections.Counter = collections.Counter()  # (process, thread name without numbers)
        for process, threads in after.items():
            for tid, (name, cpu) in threads.items():
                used = cpu - self.before[process].get(tid, (name, 0.0))[1]
                groups[group(process, tid, name, python_threads)] += used
                names[(process, re.sub(r"\d+", "#", python_threads.get(tid, name)))] += used
        return {"seconds": seconds, "images": images, "groups": groups, "threads": names, "faults": faults,
                "ended": time.perf_counter()}


def profile(pids: dict[str, int], images_done, args, out: Path) -> dict:
    """Sample the window (once images flow, after a lead-in) with the thread table and the
    chosen profilers."""
    while images_done() == 0:
        time.sleep(0.2)
    time.sleep(LEAD_IN_S)
    window = Window(pids, images_done)
    recorders = []
    if args.py_spy:
        recorders.append(subprocess.Popen(
            [shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(os.getpid()),
             "--native", "--rate", str(args.rate), "--format", "raw",
             "--output", str(out / "python.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    if args.jfr and "jvm" in pids:
        subprocess.run(["jcmd", str(pids["jvm"]), "JFR.start", "name=bench", "settings=profile",
                        f"filename={out / 'jvm.jfr'}", f"duration={int(args.window)}s"], check=True, capture_output=True)
    window.start()
    time.sleep(args.window)
    result = window.stop()
    for recorder in recorders:
        recorder.send_signal(signal.SIGINT)  # py-spy stops sampling and writes its file
        _, errors = recorder.communicate(timeout=300)
        if recorder.returncode != 0:
            print(f"py-spy failed: {errors[-500:]}", file=sys.stderr)
    if args.jfr and "jvm" in pids:
        deadline = time.time() + 30  # the recording is written when its duration has passed
        while not (out / "jvm.jfr").is_file() and time.time() < deadline:
            time.sleep(0.5)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--warm-jobs", type=int, default=2)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--udf", choices=("pandas", "file", "ml-predict", "tight"), default="pandas",
                        help="pandas: classify_resnet50(image); file: classify_file(path)")
    parser.add_argument("--py-spy", action="store_true", help="sample the Python threads with py-spy")
    parser.add_argument("--jfr", action="store_true", help="record the JVM with Java Flight Recorder")
    parser.add_argument("--rate", type=int, default=50, help="py-spy samples per second (it pauses the process to sample)")
    parser.add_argument("--out", type=Path, default=RESULTS / "profile", help="raw profiles go to <out>/<udf>/")
    parser.add_argument("-D", dest="options", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    try:
        overrides = model_options("resnet50") | parse_key_values(args.options, "-D")
    except ValueError as error:
        parser.error(str(error))
    out = args.out / args.udf
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("python.txt", "jvm.jfr"):
        (out / stale).unlink(missing_ok=True)

    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        folder = make_image_dir(Path(tmp), args.images)
        if args.udf == "tight":
            result, elapsed = tight_loop(folder, overrides, args, out)
        else:
            result, elapsed = flink_job(folder, overrides, args, out)

    images = max(result["images"], 1)
    print(f"{args.udf}: {args.images} images in {elapsed:.1f} s (start-up included); window {result['seconds']:.1f} s: "
          f"{result['images']} images = {result['images'] / result['seconds']:.1f} images/s; CPU ms per image:")
    total = sum(result["groups"].values())
    for name, cpu in result["groups"].most_common():
        if cpu >= 0.005 * total:
            print(f"  {cpu / images * 1000:6.2f}  {name}")
    print(f"  {total / images * 1000:6.2f}  total")
    print("busiest threads (name, numbers as #), CPU ms per image: " + ", ".join(
        f"{process} '{name}' {cpu / images * 1000:.2f}" for (process, name), cpu in result["threads"].most_common(8)))
    print("minor page faults per image: " + ", ".join(f"{process} {n / images:.0f}" for process, n in result["faults"].items()))
    if (out / "python.txt").is_file():
        print(f"py-spy, Python threads ({out / 'python.txt'}), CPU ms per image:")
        for work, ms in py_spy_summary(out / "python.txt", args.rate, images).most_common():
            print(f"  {ms:6.2f}  {work}")
    if (out / "jvm.jfr").is_file():
        print(f"JFR, JVM Java threads ({out / 'jvm.jfr'}), share of execution samples:")
        for work, share in jfr_summary(out / "jvm.jfr").most_common():
            print(f"  {share * 100:5.1f} %  {work}")
    return 0


def flink_job(folder: Path, overrides: dict[str, str], args, out: Path) -> tuple[dict, float]:
    import psutil

    from udfs import settings
    from udfs.catalog import create_images_table
    from udfs.progress import JobProgress

    t_env = settings.configure(settings.table_environment("batch"), overrides=overrides)  # REST on a known port
    t_env.execute_sql("CREATE TEMPORARY TABLE sink (path STRING, label STRING) WITH ('connector' = 'blackhole')")
    create_images_table(t_env, str(folder), name="images")
    if args.udf == "ml-predict":
        from udfs.model_provider import create_classifier_model, provider_options

        conf = read_config_file(JOB_CONF) | overrides
        create_classifier_model(t_env, provider_options(conf))
        insert = ("INSERT INTO sink SELECT path, label FROM ML_PREDICT(TABLE images, MODEL image_classifier, "
                  "DESCRIPTOR(image), MAP['async', 'true', 'max-concurrent-operations', '16'])")
    elif args.udf == "file":  # the table projects no image: the UDF reads each file
        insert = "INSERT INTO sink SELECT path, classify_file(path).label FROM images"
    else:
        insert = "INSERT INTO sink SELECT path, classify_resnet50(image).label FROM images"
    decoded = DecodedImages()
    for _ in range(args.warm_jobs):
        t_env.execute_sql(insert).wait()
    started = time.perf_counter()
    result = t_env.execute_sql(insert)
    jvm = next(p.pid for p in psutil.Process().children(recursive=True) if "java" in p.name())
    with JobProgress(t_env, result.get_job_client(), show=False) as progress:
        measured = {}
        counter = (lambda: images_done(progress)) if args.udf == "ml-predict" else decoded
        sampler = threading.Thread(target=lambda: measured.update(
            profile({"python": os.getpid(), "jvm": jvm}, counter, args, out)), daemon=True)
        sampler.start()
        result.wait()
        finished = time.perf_counter()
        sampler.join()
    return checked(measured, finished), finished - started


def images_done(progress) -> int:
    """The job's classify.images counter; waits (up to a minute) until the job serves its metrics."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return progress.poll().images
        except (OSError, ValueError, KeyError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def checked(measured: dict, finished: float) -> dict:
    """The window's figures, if it ended before the run did (perf_counter times)."""
    if not measured or measured["ended"] > finished:
        raise SystemExit("the run ended before the window did: use more --images or a shorter --window")
    return measured


def tight_loop(folder: Path, overrides: dict[str, str], args, out: Path) -> tuple[dict, float]:
    from concurrent.futures import ThreadPoolExecutor

    from udfs.classifier import ImageClassifier
    from udfs.config import load_config

    conf = read_config_file(JOB_CONF) | overrides
    config = load_config({k: v for k, v in conf.items() if k.startswith("classify.")})
    batch = int(conf.get("python.fn-execution.arrow.batch.size", 128))
    threads = os.cpu_count()
    classifiers = [ImageClassifier(config) for _ in range(threads)]
    files = sorted(folder.iterdir())
    decoded = DecodedImages()

    def share(index: int) -> None:
        mine = files[index::threads]
        for start in range(0, len(mine), batch):
            classifiers[index].classify([f.read_bytes() for f in mine[start:start + batch]])

    with ThreadPoolExecutor(threads) as pool:
        for _ in range(args.warm_jobs):
            list(pool.map(share, range(threads)))
        measured = {}
        sampler = threading.Thread(target=lambda: measured.update(
            profile({"python": os.getpid()}, decoded, args, out)), daemon=True)
        sampler.start()
        started = time.perf_counter()
        list(pool.map(share, range(threads)))
        finished = time.perf_counter()
        sampler.join()
    for classifier in classifiers:
        classifier.close()
    return checked(measured, finished), finished - started


if __name__ == "__main__":
    sys.exit(main())
