"""The first-images check, as a user meets it: ``./demo.sh --streaming`` started afresh, many
files moved into the watched folder at the same moment, every one classified; repeated.

    .venv/bin/python -m bench.first_images --runs 20 [--files 16] [--parallelism 4]

Each run starts the demo (a new runner process: new JVM, new in-process Python workers), waits
until it watches its folder, renames a folder of ``--files`` images (the sample images, cycled)
into it in one step, waits for a printed prediction of every file, then presses Ctrl-C. A run
fails if a prediction is missing after ``--timeout`` seconds or the demo does not exit 130.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench.common import REPO

SAMPLES = REPO / "samples" / "images"


def one_run(files: int, parallelism: int, timeout: float, extra: list[str]) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        incoming, staging = root / "incoming", root / "staging"
        incoming.mkdir()
        staging.mkdir()
        samples = sorted(SAMPLES.iterdir())
        for index in range(files):
            source = samples[index % len(samples)]
            shutil.copyfile(source, staging / f"{index:04d}_{source.name}")
        started = time.monotonic()
        demo = subprocess.Popen(
            [str(REPO / "demo.sh"), "--streaming", "--set", f"parallelism.default={parallelism}", *extra],
            cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "IMAGES_DIR": str(incoming), "OUTPUT_DIR": str(root / "out")},
        )
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(demo.stdout), daemon=True).start()
        try:
            time.sleep(10)  # starting or running: the files land together either way
            staging.rename(incoming / "batch")
            landed = time.monotonic()
            while len([line for line in lines if "+I[" in line]) < files:
                if demo.poll() is not None:
                    return False, f"demo exited with {demo.returncode}: {demo.stderr.read()[-500:]}"
                if time.monotonic() - landed > timeout:
                    return False, f"{sum('+I[' in line for line in lines)} of {files} classified after {timeout:g} s"
                time.sleep(0.2)
            classified = time.monotonic() - landed
        finally:
            demo.send_signal(signal.SIGINT)
            try:
                demo.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                demo.kill()
                return False, "the demo did not exit 90 s after Ctrl-C"
        if demo.returncode != 130:
            return False, f"the demo exited with {demo.returncode} after Ctrl-C"
        return True, f"{files} files classified {classified:.1f} s after landing (run {time.monotonic() - started:.0f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument("extra", nargs="*", help="more arguments for demo.sh (after --)")
    args = parser.parse_args()
    passed = 0
    for run in range(1, args.runs + 1):
        ok, detail = one_run(args.files, args.parallelism, args.timeout, args.extra)
        passed += ok
        print(f"run {run}: {'ok' if ok else 'FAILED'}: {detail}", flush=True)
    print(f"{passed} of {args.runs} runs classified every file")


if __name__ == "__main__":
    main()
