"""The benchmarks' common steps (settings, image folders, machine facts, worker subprocesses).
The shared assets (photos, ground truth, model files) and the reference preprocessing come from
``udfs.shared_assets`` and ``udfs.reference_preprocessing``, which the tests use too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Mapping

from udfs.config import PRECISIONS
from udfs.config_file import JOB_CONF, parse_key_values, read_config_file
from udfs.presets import PRESETS
from udfs.reference_preprocessing import reference_input  # noqa: F401  (for the benchmarks)
from udfs.shared_assets import IMAGENET_DEV, MODELS, PHOTOS, SHARED, imagenet_truth, model_options  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


# --- benchmark settings ------------------------------------------------------------------------------


def add_model_arguments(parser: argparse.ArgumentParser, options_help: str) -> None:
    """--model, --model-path, --precision and -D KEY=VALUE."""
    parser.add_argument("--model", default="resnet50", choices=sorted(PRESETS))
    parser.add_argument("--model-path", type=Path, help="another model file for the preset (e.g. an INT8 IR)")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="int8: the model's INT8 IR (python -m udfs.models quantize)")
    parser.add_argument("-D", dest="options", action="append", default=[], metavar="KEY=VALUE", help=options_help)


def job_options(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str]]:
    """(conf/job.yaml + the model and precision arguments, the -D entries); a malformed -D entry
    is a ValueError naming it."""
    conf = read_config_file(JOB_CONF) | model_options(args.model, args.model_path)
    conf["classify.precision"] = args.precision
    return conf, parse_key_values(args.options, "-D")


def classify_options(options: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in options.items() if k.startswith("classify.")}


def model_file(options: Mapping[str, str]) -> Path:
    """The model file the classifier will load with ``options``: the INT8 IR at precision int8
    (a ValueError says how to get it)."""
    from udfs.config import load_config
    from udfs.models import resolve_int8_model_path, resolve_model_path

    config = load_config(classify_options(options))
    return resolve_int8_model_path(config) if config.precision == "int8" else resolve_model_path(config)


def make_image_dir(root: Path, count: int) -> Path:
    """``count`` files named ``<i>_<original>`` cycling over the 500 imagenet-dev JPEGs, hard-linked
    (or copied) under ``root``."""
    folder = root / f"images_{count}"
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(IMAGENET_DEV.glob("*.JPEG"))
    for i in range(count):
        src = sources[i % len(sources)]
        dst = folder / f"{i:06d}_{src.name}"
        if dst.exists():
            continue
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    return folder


# --- measurement -------------------------------------------------------------------------------------


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "unknown")
    flags = next((line for line in cpuinfo if line.startswith("flags")), "")
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni") if f" {f}" in flags]
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "isa": isa, "memory_gib": round(mem, 1),
            "python": platform.python_version(), "load_avg_at_start": os.getloadavg()}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fmt(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


# --- worker subprocesses: every measurement in a fresh process ---------------------------------------

_RESULT = "@@RESULT@@"


def run_worker(module: str, kind: str, spec: dict, timeout: float, env: Mapping[str, str] | None = None) -> dict:
    """``python -m <module> --worker <kind>`` in the checkout, ``spec`` as JSON on stdin; its result."""
    proc = subprocess.run([sys.executable, "-m", module, "--worker", kind], cwd=REPO, input=json.dumps(spec),
                          capture_output=True, text=True, timeout=timeout, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith(_RESULT):
            return json.loads(line[len(_RESULT):])
    causes = [line for line in proc.stderr.splitlines() if "Exception" in line or "Error" in line][:10]
    raise RuntimeError(f"{kind} worker failed (rc {proc.returncode}):\n" + "\n".join(causes)
                       + f"\n...\n{proc.stderr[-3000:]}")


def serve_worker(workers: Mapping[str, Callable[[dict], dict]], kind: str) -> int:
    """The worker side of ``run_worker``."""
    result = workers[kind](json.loads(sys.stdin.read()))
    print(_RESULT + json.dumps(result), flush=True)
    return 0
