"""``classify.precision`` resolved to what the runtime compiles: a model file and a precision hint.

* ``f32``, ``bf16``, ``f16``: the float model with that ``INFERENCE_PRECISION_HINT``;
* ``int8``: the INT8 IR that ``python -m udfs.models quantize`` wrote beside the float model
  (``udfs.models.int8_model_path``); its float layers run at the device default;
* ``auto``: the fastest of those at unchanged accuracy on this machine, by one rule that the Java
  model provider implements too (``AutoPrecision.java``), sharing the cache file:

  1. candidates from the CPU: ``f32`` always; ``bf16`` when OpenVINO lists BF16 in the CPU's
     ``OPTIMIZATION_CAPABILITIES`` (AVX-512 BF16 or AMX); ``int8`` when the preset offers it, its
     INT8 IR exists and the CPU has VNNI (``avx512_vnni``, ``avx_vnni`` or ``amx_int8`` in
     ``/proc/cpuinfo``);
  2. one measurement: each candidate compiled as the classifier compiles it and timed on grey
     crops, two interleaved rounds, best round counts; the fastest wins unless a more precise
     candidate (f32, then bf16, then int8) is within ``TIE_MARGIN`` of it;
  3. the choice is cached beside the compiled models, in ``<classify.cache-dir>/precision-<key>.json``
     (key: the model files' paths, sizes and modification times, device, CPU model and
     features), so it is measured once per machine and model, not per worker or job;
  4. with no cache directory nothing is measured: ``int8`` if a candidate, else ``bf16`` if a
     candidate, else ``f32``: the order measured for ResNet-50 with and without AMX (int8 1.6x
     bf16 on AMX, 1.7x on AVX-512 VNNI alone; bench/README.md).

Non-CPU devices keep their own default precision under ``auto``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Mapping

import numpy as np

from udfs.config import ClassifierConfig
from udfs.models import int8_model_path, resolve_int8_model_path, resolve_model_path

log = logging.getLogger(__name__)

FLOAT_HINTS = ("f32", "bf16", "f16")
# From most to least precise: a faster but less precise candidate must beat the more precise by this.
PRECISION_ORDER = ("f32", "bf16", "int8")
TIE_MARGIN = 0.05
CACHE_VERSION = "flink-image-udfs precision choice 1"
# /proc/cpuinfo flags that matter to the choice (recorded in the cache key and the log).
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
AMX_FLAGS = ("amx_bf16", "amx_int8")
MEASURE_SECONDS = 0.25  # at least this long per candidate and round (and two rounds of every request)


@dataclass(frozen=True)
class PrecisionChoice:
    """What to compile: ``model_path`` with ``hint`` as INFERENCE_PRECISION_HINT (None: the
    device's default), reported as ``precision``; ``reason`` says why."""

    precision: str
    model_path: Path
    hint: str | None
    reason: str


@dataclass(frozen=True)
class CpuInfo:
    model: str
    flags: tuple[str, ...]  # the CPU_FLAGS present
    capabilities: tuple[str, ...]  # OpenVINO's OPTIMIZATION_CAPABILITIES of the CPU device

    @property
    def has_amx(self) -> bool:
        return any(flag in self.flags for flag in AMX_FLAGS)

    @property
    def has_vnni(self) -> bool:
        return any(flag in self.flags for flag in VNNI_FLAGS)

    def describe(self) -> str:
        flags = ", ".join(self.flags) or "none of " + ", ".join(CPU_FLAGS)
        return f"{self.model} ({flags}{'' if self.has_amx else '; no AMX'})"


def read_cpu_info(cpuinfo: str | None = None) -> CpuInfo:
    """The CPU's model name and relevant flags from ``/proc/cpuinfo``, and OpenVINO's capabilities."""
    import openvino as ov

    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    lines = cpuinfo.splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")
    present = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    capabilities = tuple(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    return CpuInfo(model, tuple(flag for flag in CPU_FLAGS if flag in present), capabilities)


@cache
def _cpu_info() -> CpuInfo:
    return read_cpu_info()


def choose_precision(config: ClassifierConfig, cpu: CpuInfo | None = None) -> PrecisionChoice:
    """Resolve ``config.precision`` (see the module docstring); raises ValueError naming the option."""
    if config.precision in FLOAT_HINTS:
        return PrecisionChoice(config.precision, resolve_model_path(config), config.precision,
                               f"classify.precision = '{config.precision}'")
    if config.precision == "int8":
        return PrecisionChoice("int8", resolve_int8_model_path(config), None, "classify.precision = 'int8'")
    float_model = resolve_model_path(config)
    if config.device.upper() != "CPU":
        return PrecisionChoice("auto", float_model, None,
                               f"classify.precision = 'auto' on device {config.device}: the device's default")
    cpu = cpu or _cpu_info()
    int8_model = int8_model_path(float_model)
    candidates = candidate_precisions(cpu, config.preset.offers_int8 and int8_model.is_file())
    models = {precision: int8_model if precision == "int8" else float_model for precision in candidates}
    if len(candidates) == 1:
        choice, why = candidates[0], "the only candidate"
    elif config.cache_dir is None:
        choice = preferred_unmeasured(candidates)
        why = f"by CPU features alone (candidates {', '.join(candidates)}; classify.cache-dir is empty, so nothing is measured)"
    else:
        choice, why = _measured_choice(config, cpu, models)
    reason = f"classify.precision = 'auto' chose {choice} on {cpu.describe()}: {why}"
    log.info("%s", reason)
    return PrecisionChoice(choice, models[choice], None if choice == "int8" else choice, reason)


def candidate_precisions(cpu: CpuInfo, int8_available: bool) -> list[str]:
    """The precisions worth measuring on ``cpu``, most precise first."""
    candidates = ["f32"]
    if "BF16" in cpu.capabilities:
        candidates.append("bf16")
    if int8_available and cpu.has_vnni:
        candidates.append("int8")
    return candidates


def preferred_unmeasured(candidates: list[str]) -> str:
    """The choice without a measurement: int8, else bf16, else f32."""
    if "int8" in candidates:
        return "int8"
    return "bf16" if "bf16" in candidates else "f32"


def fastest(rates: Mapping[str, float]) -> str:
    """The fastest precision, unless a more precise one is within TIE_MARGIN of it."""
    ordered = [p for p in PRECISION_ORDER if p in rates]
    best = ordered[0]
    for precision in ordered[1:]:
        if rates[precision] > rates[best] * (1 + TIE_MARGIN):
            best = precision
    return best


# --- the cached measurement ---------------------------------------------------------------------

_measure_lock = threading.Lock()  # fcntl locks are per process: threads take this first


def cache_key(device: str, cpu: CpuInfo, models: Mapping[str, Path]) -> str:
    """The same text, hashed, as AutoPrecision.cacheKey in Java."""
    float_model = models["f32"]
    int8_model = models.get("int8")
    lines = [CACHE_VERSION, f"device={device.upper()}", f"cpu={cpu.model}", f"flags={' '.join(cpu.flags)}",
             f"float={_file_identity(float_model)}", f"int8={_file_identity(int8_model) if int8_model else '-'}"]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def _file_identity(path: Path) -> str:
    stat = path.stat()
    return f"{os.path.realpath(path)}:{stat.st_size}:{stat.st_mtime_ns // 1_000_000}"


def _measured_choice(config: ClassifierConfig, cpu: CpuInfo, models: Mapping[str, Path]) -> tuple[str, str]:
    cache_file = Path(config.cache_dir) / f"precision-{cache_key(config.device, cpu, models)}.json"
    with _measure_lock:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with open(cache_file.with_suffix(".lock"), "a") as lock:
            fcntl.lockf(lock, fcntl.LOCK_EX)  # another worker or the provider may be measuring
            try:
                cached = _read_choice(cache_file, models)
                if cached is not None:
                    return cached["choice"], f"{_rates_text(cached['images_per_s'])} (cached in {cache_file})"
                rates = measure(config, models)
                choice = fastest(rates)
                _write_choice(cache_file, {
                    "choice": choice, "images_per_s": rates, "cpu": cpu.model, "flags": list(cpu.flags),
                    "capabilities": list(cpu.capabilities), "device": config.device.upper(),
                    "models": {p: str(path) for p, path in models.items()}, "measured_by": "udfs.precision",
                    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                })
                return choice, f"{_rates_text(rates)} (measured now, cached in {cache_file})"
            finally:
                fcntl.lockf(lock, fcntl.LOCK_UN)


def _rates_text(rates: Mapping[str, float]) -> str:
    measured = ", ".join(f"{p} {rates[p]:.1f}" for p in sorted(rates, key=rates.get, reverse=True))
    return f"measured images/s {measured}"


def _read_choice(cache_file: Path, models: Mapping[str, Path]) -> dict | None:
    try:
        cached = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or cached.get("choice") not in models or not isinstance(cached.get("images_per_s"), dict):
        return None  # unreadable, or from candidates this process does not have: measure again
    return cached


def _write_choice(cache_file: Path, document: dict) -> None:
    with tempfile.NamedTemporaryFile("w", dir=cache_file.parent, prefix=f".{cache_file.name}.", delete=False) as part:
        json.dump(document, part, indent=2)
    os.replace(part.name, cache_file)


def measure(config: ClassifierConfig, models: Mapping[str, Path]) -> dict[str, float]:
    """Images/s of each candidate, compiled as the classifier compiles it, on grey crops: two
    interleaved rounds of at least MEASURE_SECONDS, the better one counts."""
    from udfs.classifier import load_labels
    from udfs.runtime import ClassificationRuntime

    num_classes = len(load_labels(config.labels_path, config.preset.labels)) + config.preset.label_offset
    side = config.preprocessing.crop_size
    grey = np.full((side, side, 3), 128, np.uint8)
    runtimes = {}
    try:
        for precision, path in models.items():
            runtimes[precision] = ClassificationRuntime(
                path, config.preprocessing, num_classes=num_classes, output_activation=config.preset.output_activation,
                device=config.device, precision="auto" if precision == "int8" else precision,
                performance_hint=config.performance_hint, infer_requests=config.infer_requests,
                batch_size=config.batch_size, streams=config.streams, cache_dir=config.cache_dir,
                embedding_output=config.preset.embedding_output)
        rates: dict[str, float] = {}
        for _ in range(2):
            for precision, runtime in runtimes.items():
                rates[precision] = max(rates.get(precision, 0.0), _images_per_s(runtime, grey))
        return rates
    finally:
        for runtime in runtimes.values():
            runtime.close()


def _images_per_s(runtime, crop: np.ndarray) -> float:
    per_call = runtime.infer_requests * runtime.batch_size
    runtime.infer((i, crop) for i in range(per_call))  # every request runs once before timing
    images, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < MEASURE_SECONDS or images < 2 * per_call:
        runtime.infer((i, crop) for i in range(per_call))
        images += per_call
    return images / elapsed
