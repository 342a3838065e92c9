"""INT8 post-training quantization of a preset's model with NNCF, calibrated on the user's images.

    python -m udfs.models quantize resnet50 --calibration DIR [--images 300] [--model-path FILE]

1. pick up to ``images`` files of DIR (recursively, sorted, spread evenly over the list);
2. prepare each exactly as the classifier does: ``udfs.classifier.prepare_crop`` (decode, EXIF,
   reduced JPEG decoding, resize, crop), then the runtime's own in-graph preprocessing
   (``udfs.runtime.preprocessing_model``: channel order, layout, f32, mean, scale) run by
   OpenVINO, because NNCF sees the model without that graph; files that do not decode are skipped;
3. ``nncf.quantize`` the float model (batch 1; NNCF's ``performance`` preset: symmetric INT8);
4. save the IR beside the float model (``udfs.models.int8_model_path``) with ``SOURCE.json``
   (tools and versions, calibration set size and hash, settings, date); built in a temporary
   folder and renamed into place, so an interrupted run leaves the previous model or none.

The INT8 IR takes the same input as the float model: the classifier embeds the same preprocessing
when it loads it (``classify.precision = 'int8'``). NNCF is an optional dependency (``.[int8]``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Sequence

import numpy as np

from udfs import presets
from udfs.classifier import prepare_crop
from udfs.config import ClassifierConfig, load_config
from udfs.config_file import parse_key_values
from udfs.models import PROVENANCE_FILE, int8_model_path, resolve_model_path, sha256_of
from udfs.preprocess import ImageDecodeError, needed_shorter_side

log = logging.getLogger(__name__)

DEFAULT_IMAGES = 300
NNCF_PRESET = "performance"  # symmetric weights and activations: the fastest INT8 kernels


def quantize_preset(preset: str, calibration: Path, *, images: int = DEFAULT_IMAGES, model_path: Path | None = None,
                    options: Sequence[str] = ()) -> Path:
    """Quantize the preset's float model (or ``model_path``) on ``images`` files of
    ``calibration``; ``options`` are ``classify.key=value`` entries that change preprocessing.
    Returns the INT8 IR's path."""
    given = parse_key_values(options, "-D")
    if not all(key.startswith("classify.") for key in given):
        raise ValueError(f"-D: expected classify.* options, got {', '.join(k for k in given if not k.startswith('classify.'))}")
    settings = {**given, "classify.model": presets.get_preset(preset).name}
    if model_path is not None:
        settings["classify.model-path"] = str(model_path)
    return quantize(load_config(settings), calibration, images=images, options=given)


def quantize(config: ClassifierConfig, calibration: Path, *, images: int = DEFAULT_IMAGES,
             options: dict[str, str] | None = None) -> Path:
    """The INT8 IR of ``config``'s float model, calibrated on ``calibration``; see the module doc."""
    try:
        import nncf
    except ImportError:
        raise ValueError("quantize needs NNCF: pip install 'flink-image-udfs[int8]' (or pip install nncf)") from None
    import openvino as ov

    from udfs.runtime import input_shape, preprocessing_model

    if images < 1:
        raise ValueError(f"--images: expected a positive number, got {images}")
    float_model = resolve_model_path(config)
    target = int8_model_path(float_model)
    files = calibration_files(Path(calibration), images)
    started = time.perf_counter()

    core = ov.Core()
    model = core.read_model(float_model)
    model.reshape({model.input(): ov.PartialShape(input_shape(config.preprocessing, 1))})
    to_input = core.compile_model(preprocessing_model(config.preprocessing, model.input().get_element_type()),
                                  "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    crops, used, skipped = _calibration_crops(files, config)
    log.info("%s: calibrating on %d images of %s (%d skipped: not decodable)", config.preset.name, len(crops),
             calibration, len(skipped))
    dataset = nncf.Dataset(crops, lambda crop: to_input(crop[np.newaxis])[0])
    quantized = nncf.quantize(model, dataset, subset_size=len(crops), preset=nncf.QuantizationPreset(NNCF_PRESET))
    seconds = time.perf_counter() - started

    target.parent.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent.parent, prefix=f".{target.parent.name}.") as work:
        staged = Path(work) / "int8"
        staged.mkdir()
        ov.save_model(quantized, staged / target.name)
        (staged / PROVENANCE_FILE).write_text(json.dumps(_provenance(
            config, float_model, Path(calibration), used, skipped, len(files), seconds, options or {},
            nncf.__version__, ov.get_version()), indent=2) + "\n")
        if target.parent.exists():  # an older quantization: replaced whole
            shutil.rmtree(target.parent)
        os.replace(staged, target.parent)
    log.info("%s: INT8 model ready at %s (%.0f s)", config.preset.name, target, seconds)
    return target


def calibration_files(folder: Path, count: int) -> list[Path]:
    """Up to ``count`` files of ``folder`` (recursively, sorted by path), spread evenly, so a
    folder sorted by class contributes every class; names starting with ``.`` or ``_`` are
    skipped, as the images table skips them."""
    if not folder.is_dir():
        raise ValueError(f"--calibration: not a folder: '{folder}'")
    files = sorted(
        path for path in folder.rglob("*")
        if path.is_file() and not any(part.startswith((".", "_")) for part in path.relative_to(folder).parts)
    )
    if not files:
        raise ValueError(f"--calibration: no files in '{folder}'")
    if len(files) <= count:
        return files
    return [files[i * len(files) // count] for i in range(count)]


def _calibration_crops(files: list[Path], config: ClassifierConfig) -> tuple[list[np.ndarray], list[Path], list[str]]:
    min_side = needed_shorter_side(config.preprocessing) if config.reduced_jpeg_decode else None
    crops, used, skipped = [], [], []
    for path in files:
        try:
            crops.append(prepare_crop(path.read_bytes(), config, min_side))
            used.append(path)
        except (ImageDecodeError, OSError) as error:
            log.warning("%s: skipped: %s", path, error)
            skipped.append(path.name)
    if not crops:
        raise ValueError(f"--calibration: none of the {len(files)} files is an image the classifier can read")
    return crops, used, skipped


def calibration_hash(folder: Path, files: list[Path]) -> str:
    """sha256 over each file's path relative to the folder and its content's sha256, in order."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(folder).as_posix()}\0{sha256_of(path)}\n".encode())
    return digest.hexdigest()


def _provenance(config: ClassifierConfig, float_model: Path, folder: Path, used: list[Path], skipped: list[str],
                picked: int, seconds: float, options: dict[str, str], nncf_version: str, openvino_version: str) -> dict:
    weights = float_model.with_suffix(".bin")
    return {
        "kind": "INT8 post-training quantization (NNCF)",
        "preset": config.preset.name,
        "float_model": {"path": str(float_model), "sha256": sha256_of(float_model),
                        **({"weights_sha256": sha256_of(weights)} if float_model.suffix == ".xml" and weights.is_file() else {})},
        "calibration": {"folder": str(folder.resolve()), "images": len(used), "files_picked": picked, "skipped": skipped,
                        "sha256": calibration_hash(folder, used),
                        "prepared_as": "udfs.classifier.prepare_crop + udfs.runtime.preprocessing_model"},
        "options": options,
        "preprocessing": {key: value for key, value in vars(config.preprocessing).items()},
        "nncf": {"version": nncf_version, "preset": NNCF_PRESET, "subset_size": len(used)},
        "tools": {"nncf": nncf_version, "openvino": openvino_version, "flink-image-udfs": _our_version()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(seconds, 1),
    }


def _our_version() -> str:
    try:
        return metadata.version("flink-image-udfs")
    except metadata.PackageNotFoundError:
        return "unknown"
