"""Soak run: a streaming job over a watched folder, fed until N images, watching worker memory.

    python -m bench.soak [--images 10000] [--photos DIR] [--model-path FILE]

A feeder thread copies the shared photos (reused under new names) into a fresh folder, staying
at most ``--backlog`` files ahead of the results; the job (``classify_resnet50`` over
``create_images_table(..., monitor_interval="1 s")``, streaming mode) is collected back to this
process, which counts the rows. Every ``--every`` seconds the RSS of the Python UDF workers is
sampled: this process (embedded jobs run the UDF in "loopback" mode, inside the client) and any
process whose command line names PyFlink's Beam worker (the largest one is reported). Prints a table and the RSS growth from
the first 1,000 images to the end, then cancels the job. Not a CI test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from pyflink.table import EnvironmentSettings, TableEnvironment

from bench.common import MODELS, PHOTOS
from udfs import settings
from udfs.catalog import create_images_table

WORKER_MARKERS = ("pyflink.fn_execution.beam.beam_boot", "pyflink.fn_execution.beam.beam_worker_pool_service")


def rss_mb(pid: int | str) -> float:
    """Resident set size of a process from /proc, in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def parent_pid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def descends_from_us(pid: int) -> bool:
    while pid > 1:
        pid = parent_pid(pid)
        if pid == os.getpid():
            return True
    return False


def worker_pids() -> list[int]:
    """Our job's separate Python worker processes (process mode); none in loopback mode."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if any(marker in cmdline for marker in WORKER_MARKERS) and descends_from_us(int(entry.name)):
                pids.append(int(entry.name))
    return sorted(pids)


class Feeder(threading.Thread):
    """Copies photos into ``folder`` under new names, at most ``backlog`` ahead of ``done()``."""

    def __init__(self, photos: list[Path], folder: Path, total: int, backlog: int, done) -> None:
        super().__init__(daemon=True)
        self.photos, self.folder, self.total, self.backlog, self.done = photos, folder, total, backlog, done
        self.added = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while self.added < self.total and not self.stop.is_set():
            if self.added - self.done() >= self.backlog:
                time.sleep(0.2)
                continue
            photo = self.photos[self.added % len(self.photos)]
            hidden = self.folder / f".{self.added:06d}_{photo.name}"  # the source skips dot files
            shutil.copyfile(photo, hidden)
            os.rename(hidden, self.folder / hidden.name[1:])  # appears whole
            self.added += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--model", default="mobilenet_v2_quant")
    parser.add_argument("--model-path", default=str(MODELS["mobilenet_v2_quant"]))
    parser.add_argument("--backlog", type=int, default=300, help="files added ahead of the results")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    args = parser.parse_args(argv)

    photos = sorted(p for p in args.photos.iterdir() if p.is_file())
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    folder = work / "in"
    folder.mkdir()
    t_env = settings.configure(
        TableEnvironment.create(EnvironmentSettings.in_streaming_mode()),
        overrides={"classify.model": args.model, "classify.model-path": args.model_path, "parallelism.default": "1"},
    )
    create_images_table(t_env, folder, monitor_interval="1 s")
    result = t_env.execute_sql("SELECT name, p.label, p.error FROM (SELECT name, classify_resnet50(image) AS p FROM images)")

    counts = {"done": 0, "errors": 0}
    feeder = Feeder(photos, folder, args.images, args.backlog, lambda: counts["done"])
    samples: list[tuple[float, int, int, float, float]] = []  # seconds, added, done, own RSS, largest worker RSS
    started = time.monotonic()

    def sample() -> None:
        workers = max((rss_mb(pid) for pid in worker_pids()), default=0.0)  # the largest worker
        samples.append((time.monotonic() - started, feeder.added, counts["done"], rss_mb("self"), workers))
        s = samples[-1]
        print(f"{s[0]:8.0f} {s[1]:8d} {s[2]:8d} {s[3]:12.1f} {s[4]:12.1f}", flush=True)

    def sampler() -> None:
        while counts["done"] < args.images:
            sample()
            time.sleep(args.every)

    print(f"folder {folder}; {len(photos)} photos reused until {args.images} images; model {args.model}")
    print(f"{'seconds':>8} {'added':>8} {'done':>8} {'client MB':>12} {'worker MB':>12}")
    feeder.start()
    threading.Thread(target=sampler, daemon=True).start()
    try:
        with result.collect() as rows:
            for _, _, error in rows:
                counts["done"] += 1
                counts["errors"] += error is not None
                if counts["done"] >= args.images:
                    break
    finally:
        feeder.stop.set()
        sample()
        client = result.get_job_client()
        if client is not None:
            try:
                client.cancel().result()
            except Exception as error:  # already cancelled by closing the iterator
                print(f"cancel: {error}")
    seconds = time.monotonic() - started
    print(f"\n{counts['done']} images ({counts['errors']} errors) in {seconds:.0f} s = "
          f"{counts['done'] / seconds:.1f} images/s")
    after_1000 = next((s for s in samples if s[2] >= 1000), samples[0])
    end = samples[-1]
    print(f"client RSS: {after_1000[3]:.1f} MB at {after_1000[2]} images -> {end[3]:.1f} MB at {end[2]} "
          f"(growth {end[3] - after_1000[3]:+.1f} MB); max {max(s[3] for s in samples):.1f} MB")
    half = next(s for s in samples if s[2] >= counts["done"] // 2)
    print(f"client RSS over the second half: {half[3]:.1f} MB at {half[2]} images -> {end[3]:.1f} MB "
          f"(growth {end[3] - half[3]:+.1f} MB)")
    if any(s[4] for s in samples):
        print(f"worker RSS: {after_1000[4]:.1f} MB -> {end[4]:.1f} MB (growth {end[4] - after_1000[4]:+.1f} MB)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
