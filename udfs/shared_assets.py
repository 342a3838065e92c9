"""The shared sample assets the tests, the benchmarks and the INT8 calibration read: the 500
imagenet-dev photos with their ground truth, a few other photos, and a model file per preset that
has one (read-only; see its README). One setting finds them: ``FLINK_IMAGE_UDFS_SHARED``, default
``../shared`` beside the checkout.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

ENV_VAR = "FLINK_IMAGE_UDFS_SHARED"
SHARED = Path(os.environ.get(ENV_VAR) or Path(__file__).resolve().parents[2] / "shared")
IMAGENET_DEV = SHARED / "images" / "imagenet-dev"
PHOTOS = SHARED / "images" / "photos"

# The model file of each preset that has one. light_resnet50 is the ResNet-50 graph of the ONNX
# zoo with constant weights: right for speed, meaningless predictions. The real ResNet-50 (preset
# resnet50) lives in the model cache (`python -m udfs.models fetch resnet50`).
MODELS = {
    "resnet50_onnx": SHARED / "models" / "light_resnet50.onnx",
    "efficientnet_lite0": SHARED / "models" / "efficientnet_lite0_imagenet.onnx",
    "mobilenet_v2_quant": SHARED / "models" / "mobilenet_v2_1.0_224_quant.tflite",
}


def missing(what: str = "shared assets") -> str:
    """Why something that needs ``what`` from the shared folder cannot run (a skip reason)."""
    return f"{SHARED} ({what}) not available: set {ENV_VAR} to the folder of shared test assets"


def model_options(model: str, model_path: Path | str | None = None) -> dict[str, str]:
    """The ``classify.*`` options that select a preset and its model file: ``model_path``, else
    its file in ``MODELS``, else none (the classifier takes the preset's cached model)."""
    path = model_path or MODELS.get(model)
    return {"classify.model": model} | ({"classify.model-path": str(path)} if path else {})


@cache
def imagenet_truth() -> dict[str, int]:
    """imagenet-dev file name -> ImageNet class index (names are ``<wnid>_<label>.JPEG``)."""
    wnid_to_class = {}
    for line in (SHARED / "labels" / "imagenet_sample_images_index.tsv").read_text().splitlines():
        index, wnid, _ = line.split("\t")
        if index.isdigit():
            wnid_to_class[wnid] = int(index)
    return {f.name: wnid_to_class[f.name.split("_")[0]] for f in IMAGENET_DEV.glob("*.JPEG")}
