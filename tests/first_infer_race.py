"""The first-images race: threads of a fresh process, each with its own ``ClassificationRuntime``
over one shared compiled model, build their runtimes and then call ``infer`` at the same moment
(what two or more subtasks of a new Python worker do when their first rows arrive together).

Without the import-time warm-up of ``udfs.runtime`` (``_initialise_numpy_bridge``), OpenVINO's
Python binding can deadlock on the first ``Tensor.data`` of the process. Compare, one run each:

    .venv/bin/python tests/first_infer_race.py --runs 200                    # as shipped
    .venv/bin/python tests/first_infer_race.py --runs 200 --without-warmup   # the call removed

Each run is a fresh process with a timeout; the last line says how many hung.
``tests/test_first_infer_race.py`` runs the first form in CI.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WARM_UP_CALL = "\n_initialise_numpy_bridge()\n"
NUM_CLASSES = 10


def write_tiny_model(path: Path) -> Path:
    """A 224x224 NHWC image model with ``NUM_CLASSES`` outputs (mean colour x weights), as IR.
    Written by the parent: a child must not touch numpy-backed OpenVINO objects before its
    threads start."""
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    image = ops.parameter([1, 224, 224, 3], ov.Type.f32, name="image")
    colour = ops.reduce_mean(image, [1, 2], keep_dims=False)
    scores = ops.matmul(colour, ops.constant(np.ones((3, NUM_CLASSES), np.float32)), False, False)
    ov.save_model(ov.Model([scores], [image]), path)
    return path


def _import_runtime(without_warmup: bool):
    if not without_warmup:
        import udfs.runtime

        return udfs.runtime
    # The shipped module minus its warm-up call: the control experiment, never used otherwise.
    path = REPO / "udfs" / "runtime.py"
    source = path.read_text(encoding="utf-8")
    if WARM_UP_CALL not in source:
        raise SystemExit(f"the warm-up call {WARM_UP_CALL.strip()!r} is not in {path}")
    spec = importlib.util.spec_from_file_location("udfs.runtime", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["udfs.runtime"] = module
    exec(compile(source.replace(WARM_UP_CALL, "\n"), str(path), "exec"), module.__dict__)
    return module


def child(model: Path, threads: int, without_warmup: bool) -> None:
    """Runs in the fresh process: build runtimes and infer, all threads at once."""
    import numpy as np

    runtime = _import_runtime(without_warmup)
    from udfs.presets import Preprocessing

    preprocessing = Preprocessing(channel_order="BGR", layout="NHWC")
    crop = np.zeros((224, 224, 3), np.uint8)
    start, infer = threading.Barrier(threads), threading.Barrier(threads)
    failures: list[BaseException] = []

    def subtask() -> None:
        try:
            start.wait()
            classifier = runtime.ClassificationRuntime(model, preprocessing, num_classes=NUM_CLASSES,
                                                       infer_requests=1, batch_size=1)
            classifier.precision, classifier.streams  # device properties, read concurrently too
            infer.wait()
            scores = classifier.infer([(0, crop)])[0]
            assert scores.shape == (NUM_CLASSES,), scores.shape
            classifier.close()
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    workers = [threading.Thread(target=subtask) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise failures[0]
    print("ok")


def run_once(model: Path, threads: int, timeout: float, without_warmup: bool = False) -> str:
    """``ok``, ``hung`` (killed at ``timeout``) or ``failed: <stderr tail>``."""
    command = [sys.executable, __file__, "--child", str(model), "--threads", str(threads)]
    if without_warmup:
        command.append("--without-warmup")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return "hung"
    if done.returncode != 0 or done.stdout.strip() != "ok":
        return f"failed: {done.stderr.strip()[-500:]}"
    return "ok"


def run_many(model: Path, runs: int, threads: int, timeout: float, without_warmup: bool = False,
             parallel: int = 2) -> list[str]:
    """Outcomes of ``runs`` fresh processes, ``parallel`` at a time."""
    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(lambda _: run_once(model, threads, timeout, without_warmup), range(runs)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before a run counts as hung")
    parser.add_argument("--without-warmup", action="store_true", help="remove the warm-up call (control)")
    parser.add_argument("--child", type=Path, metavar="MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.threads, args.without_warmup)
        return
    with tempfile.TemporaryDirectory() as folder:
        model = write_tiny_model(Path(folder) / "tiny.xml")
        started = time.monotonic()
        outcomes = run_many(model, args.runs, args.threads, args.timeout, args.without_warmup)
    failed = [o for o in outcomes if o.startswith("failed")]
    for outcome in sorted(set(failed)):
        print(outcome)
    variant = "without the warm-up" if args.without_warmup else "as shipped"
    print(f"{variant}: hung {outcomes.count('hung')} of {args.runs} runs, failed {len(failed)} "
          f"({args.threads} threads, timeout {args.timeout:g} s, {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
