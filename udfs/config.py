"""Option schema of the classifier and its validation.

Options are Flink-style dotted kebab keys, set in SQL with ``SET 'classify.model' = '...'`` and
read as job parameters. ``load_config`` turns those strings into a typed ``ClassifierConfig``;
every rejected value raises ``ValueError`` naming the key, what was expected and what it got.
``python -m udfs.config`` prints the option table as Markdown.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from udfs import presets
from udfs.presets import ModelEntry, Preprocessing

PREFIX = "classify."
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "flink-image-udfs"
MODEL_DIR = CACHE_ROOT / "models"
COMPILED_MODEL_DIR = CACHE_ROOT / "openvino"

PRECISIONS = ("auto", "f32", "bf16", "f16", "int8")
PERFORMANCE_HINTS = ("THROUGHPUT", "LATENCY")
_FROM_PRESET = None  # options left unset keep the preset's preprocessing field


# --- value parsers: str -> typed value, raising ValueError(<what was expected>) ----------------


def _parse_string(text: str) -> str:
    return text.strip()


def _parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("expected an integer") from None


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise ValueError("expected true or false")
    return value == "true"


def _parse_numbers(text: str) -> tuple[float, ...] | None:
    if not text.strip():
        return None  # empty: skip the step
    try:
        numbers = tuple(float(part) for part in text.split(","))
    except ValueError:
        numbers = ()
    if len(numbers) not in (1, 3):
        raise ValueError("expected 1 or 3 comma-separated numbers")
    return numbers


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)$")
_SECONDS_PER_UNIT = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "h": 3600}


def _parse_duration(text: str) -> float:
    """Seconds, from Flink-style text such as ``5 min``, ``300 s`` or ``500 ms``; a unit is
    required (Flink reads a bare number as milliseconds, a trap for a timeout), except for 0."""
    value = text.strip().lower()
    if value == "0":
        return 0.0
    match = _DURATION.match(value)
    if not match:
        raise ValueError("expected a duration with a unit, such as '5 min', '300 s' or '500 ms' (0 = none)")
    number, unit = match.groups()
    unit = "ms" if unit == "ms" else "h" if unit.startswith("h") else "min" if unit.startswith("m") else "s"
    return float(number) * _SECONDS_PER_UNIT[unit]


def _parse_path(text: str) -> Path | None:
    return Path(text.strip()).expanduser() if text.strip() else None


PARSERS: Mapping[str, Callable[[str], Any]] = {
    "string": _parse_string,
    "int": _parse_int,
    "bool": _parse_bool,
    "list<float>": _parse_numbers,
    "path": _parse_path,
    "duration": _parse_duration,
}


@dataclass(frozen=True)
class Option:
    """One entry of the schema, in the spirit of Model API's typed parameter descriptors."""

    key: str
    type_name: str  # a key of PARSERS
    default: Any
    description: str
    choices: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    default_text: str | None = None  # how the docs show a computed default

    def convert(self, text: str) -> Any:
        """Parse and check ``text``; errors read ``<key>: expected <x>, got '<text>'``."""
        try:
            value = PARSERS[self.type_name](text)
            if self.choices is not None:
                value = self._match_choice(value)
            self._check_range(value)
        except ValueError as error:
            raise ValueError(f"{self.key}: {error}, got '{text}'") from None
        return value

    def _match_choice(self, value: str) -> str:
        for choice in self.choices:
            if value.lower() == choice.lower():
                return choice
        raise ValueError(f"expected one of {', '.join(self.choices)}")

    def _check_range(self, value: Any) -> None:
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"expected an integer >= {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"expected an integer <= {self.maximum}")


OPTIONS: tuple[Option, ...] = (
    Option("classify.model", "string", presets.DEFAULT,
           "Model preset: which model, preprocessing and labels to use.",
           choices=tuple(presets.PRESETS)),
    Option("classify.model-path", "path", None,
           "Local model file (OpenVINO IR .xml, .onnx, .tflite, .pb, PaddlePaddle). Default: the "
           "preset's file as downloaded by `python -m udfs.models fetch <preset>`.",
           default_text="`~/.cache/flink-image-udfs/models/<preset file>`"),
    Option("classify.labels-path", "path", None,
           "Text file with one class name per line (line i = class i). Default: the packaged "
           "ImageNet-1k labels.", default_text="packaged ImageNet-1k"),
    Option("classify.device", "string", "CPU", "OpenVINO device: CPU, GPU, AUTO, ..."),
    Option("classify.precision", "string", "auto",
           "Inference precision. f32, bf16, f16: the float model with that INFERENCE_PRECISION_HINT "
           "(f32 gives reference numbers). int8: the INT8 model made by `python -m udfs.models "
           "quantize <preset> --calibration DIR` (presets whose INT8 accuracy holds; other layers at "
           "the device default). auto: the fastest of these at unchanged accuracy on this machine, "
           "from the CPU's features and a one-time measurement cached in `classify.cache-dir`; the "
           "choice and why are logged.",
           choices=PRECISIONS),
    Option("classify.performance-hint", "string", "THROUGHPUT",
           "OpenVINO PERFORMANCE_HINT: THROUGHPUT for batches, LATENCY for single images.",
           choices=PERFORMANCE_HINTS),
    Option("classify.infer-requests", "int", 0,
           "Parallel inference requests per worker (the old tutorial's concurrentNum); 0 lets "
           "OpenVINO choose the optimal number for the device and hint.", minimum=0),
    Option("classify.batch-size", "int", 0,
           "Images per inference request (the model's batch dimension); 0 = 8 when the model "
           "allows a batch, else 1. A part-filled batch costs as much as a full one.",
           minimum=0, maximum=256),
    Option("classify.decode-threads", "int", 1,
           "Threads decoding and resizing images in each worker, alongside inference.",
           minimum=1, maximum=64),
    Option("classify.reduced-jpeg-decode", "bool", True,
           "Decode large JPEGs at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling) when the "
           "shorter side stays at least the resize target: less CPU for camera photos, a "
           "slightly different downscale; false decodes every pixel first."),
    Option("classify.streams", "int", 0,
           "OpenVINO NUM_STREAMS: parallel inference streams per worker; 0 lets the performance "
           "hint choose. With several workers on one machine, fewer streams each avoid "
           "oversubscribing the cores.", minimum=0),
    Option("classify.top-k", "int", 5, "Number of best classes returned per image.",
           minimum=1, maximum=1000),
    Option("classify.embedding", "bool", False,
           "Also fill the `embedding` field of `classify_resnet50`'s result: the preset's image "
           "embedding (L2-normalised ARRAY<FLOAT>, 2048 for resnet50) from the same inference as "
           "the classes. `embed_image` always gives it; presets without one fail naming "
           "`classify.model`."),
    Option("classify.channel-order", "string", _FROM_PRESET,
           "Channel order the model expects; decoded BGR images are converted inside the graph.",
           choices=presets.CHANNEL_ORDERS, default_text="from preset"),
    Option("classify.reverse-input-channels", "bool", False,
           "Feed the model the other channel order (RGB <-> BGR) than `classify.channel-order` "
           "says, reversing the mean and scale values with it: the old tutorial's "
           "reverse-input-channels knob (mean 123.68,116.78,103.94 written in RGB, model fed BGR)."),
    Option("classify.mean-values", "list<float>", _FROM_PRESET,
           "Per-channel mean subtracted in 0-255 pixel units, in the order of "
           "`classify.channel-order` (1 or 3 comma-separated numbers; empty = none). The old "
           "tutorial used 123.68,116.78,103.94 (RGB).", default_text="from preset"),
    Option("classify.scale-values", "list<float>", _FROM_PRESET,
           "Per-channel divisor applied after the mean, in the same order as the mean (1 or 3 "
           "comma-separated non-zero numbers; empty = none).", default_text="from preset"),
    Option("classify.layout", "string", _FROM_PRESET, "Model input layout.",
           choices=presets.LAYOUTS, default_text="from preset"),
    Option("classify.resize-size", "int", _FROM_PRESET,
           "Shorter side after resizing (resize-shorter-side-then-crop policy only).",
           minimum=1, default_text="from preset"),
    Option("classify.crop-size", "int", _FROM_PRESET,
           "Side of the square center crop fed to the model.", minimum=1,
           default_text="from preset"),
    Option("classify.resize-policy", "string", _FROM_PRESET,
           "resize-shorter-side-then-crop (torchvision), center-crop (plain crop, upscaling "
           "images smaller than the crop) or stretch (squash to the crop size).",
           choices=presets.RESIZE_POLICIES, default_text="from preset"),
    Option("classify.max-pixels", "int", 50_000_000,
           "Images whose declared width x height exceeds this are refused before decoding "
           "(decompression-bomb guard), and so are images whose decoded samples (width x height x "
           "channels x bytes per sample, e.g. 8 bytes per pixel for 16-bit RGBA) exceed 3 bytes "
           "per allowed pixel.", minimum=1),
    Option("classify.max-image-bytes", "int", 64 * 1024 * 1024,
           "Encoded images larger than this are refused.", minimum=1),
    Option("classify.max-jpeg-scans", "int", 500,
           "JPEGs with more scans than this are refused before decoding: a small progressive JPEG "
           "can repeat a scan thousands of times and keep a decoder busy for minutes. 500 is "
           "libjpeg-turbo's own limit.", minimum=1),
    Option("classify.call-timeout", "duration", 300.0,
           "A UDF call that makes no progress (no image decoded, no inference finished) for "
           "this long fails with an error naming the stage it was stuck in, so that Flink "
           "restarts the task instead of waiting for ever; counted in the `stalledCalls` "
           "metric. A unit is required (`5 min`, `300 s`); 0 disables the guard.",
           default_text="`5 min`"),
    Option("classify.cache-dir", "path", COMPILED_MODEL_DIR,
           "OpenVINO compiled-model cache (CACHE_DIR), speeds up worker start; empty disables.",
           default_text="`~/.cache/flink-image-udfs/openvino`"),
)
OPTIONS_BY_KEY: Mapping[str, Option] = {option.key: option for option in OPTIONS}

# Options that override one field of the preset's Preprocessing.
_PREPROCESSING_FIELDS = {
    "classify.channel-order": "channel_order",
    "classify.mean-values": "mean",
    "classify.scale-values": "scale",
    "classify.layout": "layout",
    "classify.resize-size": "resize_size",
    "classify.crop-size": "crop_size",
    "classify.resize-policy": "resize_policy",
}


@dataclass(frozen=True)
class ClassifierConfig:
    """Resolved, typed settings of one classifier."""

    preset: ModelEntry
    preprocessing: Preprocessing
    model_path: Path | None  # None: the preset's downloaded file (udfs.models)
    labels_path: Path | None  # None: the preset's packaged labels
    device: str
    precision: str
    performance_hint: str
    infer_requests: int
    batch_size: int
    decode_threads: int
    reduced_jpeg_decode: bool
    streams: int
    top_k: int
    embedding: bool
    max_pixels: int
    max_image_bytes: int
    max_jpeg_scans: int
    call_timeout: float  # seconds; 0 = unguarded
    cache_dir: Path | None


def load_config(params: Mapping[str, str]) -> ClassifierConfig:
    """Validate the ``classify.*`` job parameters; other keys are ignored."""
    given = {key: text for key, text in params.items() if key.startswith(PREFIX)}
    for key in given:
        if key not in OPTIONS_BY_KEY:
            raise ValueError(_unknown_key_message(key))
    values = {
        option.key: option.convert(given[option.key]) if option.key in given else option.default
        for option in OPTIONS
    }
    preset = presets.get_preset(values["classify.model"])
    if values["classify.embedding"] and preset.embedding is None:
        raise ValueError(f"classify.embedding: {no_embedding_message(preset)}")
    if values["classify.precision"] == "int8" and not preset.offers_int8:
        offered = ", ".join(sorted(name for name, entry in presets.PRESETS.items() if entry.offers_int8))
        raise ValueError(f"classify.precision: expected a precision offered for preset '{preset.name}' "
                         f"(int8: {offered}), got 'int8'")
    return ClassifierConfig(
        preset=preset,
        preprocessing=_resolve_preprocessing(preset.preprocessing, values, given),
        model_path=values["classify.model-path"],
        labels_path=values["classify.labels-path"],
        device=values["classify.device"] or "CPU",
        precision=values["classify.precision"],
        performance_hint=values["classify.performance-hint"],
        infer_requests=values["classify.infer-requests"],
        batch_size=values["classify.batch-size"],
        decode_threads=values["classify.decode-threads"],
        reduced_jpeg_decode=values["classify.reduced-jpeg-decode"],
        streams=values["classify.streams"],
        top_k=values["classify.top-k"],
        embedding=values["classify.embedding"],
        max_pixels=values["classify.max-pixels"],
        max_image_bytes=values["classify.max-image-bytes"],
        max_jpeg_scans=values["classify.max-jpeg-scans"],
        call_timeout=values["classify.call-timeout"],
        cache_dir=values["classify.cache-dir"],
    )


def no_embedding_message(preset: ModelEntry) -> str:
    """Why an embedding cannot be had from ``preset``, and what to set instead."""
    having = ", ".join(name for name, entry in presets.PRESETS.items() if entry.embedding is not None)
    return (f"preset '{preset.name}' gives no embedding; set classify.model to a preset that does "
            f"({having})")


def _resolve_preprocessing(
    base: Preprocessing, values: Mapping[str, Any], given: Iterable[str]
) -> Preprocessing:
    overrides = {field: values[key] for key, field in _PREPROCESSING_FIELDS.items() if key in given}
    preprocessing = replace(base, **overrides)
    if values["classify.reverse-input-channels"]:
        preprocessing = replace(
            preprocessing,
            channel_order="BGR" if preprocessing.channel_order == "RGB" else "RGB",
            mean=_reversed(preprocessing.mean),
            scale=_reversed(preprocessing.scale),
        )
    _check_preprocessing(preprocessing)
    return preprocessing


def _reversed(values: tuple[float, ...] | None) -> tuple[float, ...] | None:
    return None if values is None else tuple(reversed(values))


def _check_preprocessing(preprocessing: Preprocessing) -> None:
    if preprocessing.scale is not None and 0.0 in preprocessing.scale:
        raise ValueError(
            "classify.scale-values: expected non-zero numbers, "
            f"got '{','.join(f'{s:g}' for s in preprocessing.scale)}'"
        )
    if (
        preprocessing.resize_policy == "resize-shorter-side-then-crop"
        and preprocessing.crop_size > preprocessing.resize_size
    ):
        raise ValueError(
            f"classify.crop-size: expected <= classify.resize-size ({preprocessing.resize_size}), "
            f"got '{preprocessing.crop_size}'"
        )


def _unknown_key_message(key: str) -> str:
    message = f"{key}: unknown option"
    closest = difflib.get_close_matches(key, OPTIONS_BY_KEY, n=1)
    if closest:
        message += f"; did you mean '{closest[0]}'?"
    return message + f" Valid options: {', '.join(OPTIONS_BY_KEY)}"


def options_markdown() -> str:
    """The option table as Markdown, for the README."""
    rows = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for option in OPTIONS:
        if option.default_text is not None:
            default = option.default_text
        elif isinstance(option.default, bool):
            default = f"`{str(option.default).lower()}`"
        else:
            default = f"`{option.default}`"
        description = option.description
        if option.choices:
            description += " One of: " + ", ".join(f"`{c}`" for c in option.choices) + "."
        if option.minimum is not None and option.maximum is not None:
            description += f" Range: {option.minimum} to {option.maximum}."
        elif option.minimum is not None:
            description += f" Minimum: {option.minimum}."
        rows.append(f"| `{option.key}` | {option.type_name} | {default} | {description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(options_markdown())
