"""Per-batch classification pipeline, independent of Flink.

bytes -> ``decode_image`` -> ``resize_and_crop`` -> OpenVINO (preprocessing, model, softmax)
-> probabilities (and the embedding, from the same inference) -> ``Prediction``. One
``ImageClassifier`` per worker: build it in the UDF's ``open()``, call ``classify`` (or ``embed``)
per batch, ``close()`` it in ``close()``.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from udfs.config import ClassifierConfig, no_embedding_message
from udfs.image_files import NULL_PATH_ERROR, FileReadError, read_image_file
from udfs.models import resolve_model_path
from udfs.precision import choose_precision
from udfs.preprocess import (
    OPENCV_MAX_PIXELS,
    ImageDecodeError,
    decode_image,
    needed_shorter_side,
    resize_and_crop,
)
from udfs.rules import NULL_IMAGE_ERROR, split_labels  # shared with the Java provider (presets.json)
from udfs.runtime import ClassificationRuntime
from udfs.stall import Report, StallGuard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """The result for one image: either a classification or ``error``."""

    label: str | None = None
    class_id: int | None = None
    probability: float | None = None
    top_k: list[tuple[str, int, float]] | None = None  # (label, class_id, probability), best first
    error: str | None = None
    embedding: np.ndarray | None = None  # f32, L2-normalised; only when asked (classify.embedding)


def load_labels(path: Path | None, resource: str = "imagenet1k.txt") -> list[str]:
    """Class names, line i = class i: from ``path`` or the packaged ``udfs/labels/<resource>``."""
    try:
        if path is None:
            text = resources.files("udfs").joinpath("labels", resource).read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"classify.labels-path: cannot read labels '{path}': {error}") from None
    labels = split_labels(text)
    if not labels:
        raise ValueError(f"classify.labels-path: no labels in '{path}'")
    return labels


def prepare_crop(data: bytes, config: ClassifierConfig, min_side: int | None) -> np.ndarray:
    """One encoded image as the model's u8 BGR crop: decoded (``min_side``: reduced JPEG decoding,
    see ``needed_shorter_side``), resized and cropped; raises ImageDecodeError. The classifier's
    step, also the calibration input of ``udfs.quantize``."""
    image = decode_image(data, config.max_pixels, config.max_image_bytes, min_side, config.max_jpeg_scans)
    return resize_and_crop(image, config.preprocessing)


class ImageClassifier:
    """Decodes, preprocesses and classifies (or embeds) batches of encoded images.

    ``embedding``: whether predictions carry the image embedding (default ``classify.embedding``);
    ``embed`` needs it. Either way one compiled model serves both (see ``ClassificationRuntime``).
    """

    def __init__(self, config: ClassifierConfig, *, embedding: bool | None = None) -> None:
        self.config = config
        self.embedding = config.embedding if embedding is None else embedding
        if self.embedding and config.preset.embedding is None:
            raise ValueError(f"classify.model: {no_embedding_message(config.preset)}")
        if config.max_pixels > OPENCV_MAX_PIXELS:
            log.warning(
                "classify.max-pixels = %d is above OpenCV's process-wide cap %d: larger images are "
                "refused; set OPENCV_IO_MAX_IMAGE_PIXELS in the workers' environment to raise it",
                config.max_pixels, OPENCV_MAX_PIXELS,
            )
        self.labels = load_labels(config.labels_path, config.preset.labels)
        self.precision_choice = choose_precision(config)
        self._runtime = ClassificationRuntime(
            self.precision_choice.model_path,
            config.preprocessing,
            num_classes=len(self.labels) + config.preset.label_offset,
            output_activation=config.preset.output_activation,
            device=config.device,
            precision=self.precision_choice.hint or "auto",
            performance_hint=config.performance_hint,
            infer_requests=config.infer_requests,
            batch_size=config.batch_size,
            streams=config.streams,
            cache_dir=config.cache_dir,
            embedding_output=config.preset.embedding_output,
        )
        if self.embedding and not self._runtime.has_embedding:
            self._runtime.close()
            name = config.preset.name
            raise ValueError(
                f"classify.model-path: the model '{resolve_model_path(config)}' has no output "
                f"'{config.preset.embedding.output}' (the embedding of preset '{name}'); a model "
                f"converted before embeddings existed: run `python -m udfs.models fetch {name}`"
            )
        self._min_side = needed_shorter_side(config.preprocessing) if config.reduced_jpeg_decode else None
        self._decoder = (ThreadPoolExecutor(config.decode_threads, thread_name_prefix="decode")
                         if config.decode_threads > 1 else None)
        self._guard = StallGuard(config.call_timeout, what="classify call")

    @property
    def precision(self) -> str:
        """Precision the device actually infers in (``f32``, ``bf16``, ...; ``int8`` for the INT8 model)."""
        return "int8" if self.precision_choice.precision == "int8" else self._runtime.precision

    def classify(self, images: Sequence[bytes | None]) -> list[Prediction]:
        """One ``Prediction`` per input, in order; bad rows carry ``error`` instead of failing.
        A call that makes no progress for ``classify.call-timeout`` raises
        ``udfs.stall.CallStalledError`` naming the stage it was stuck in."""
        return self._guard.run(lambda report: self._classify(images, report))

    def classify_files(self, paths: Sequence[str | None]) -> list[Prediction]:
        """``classify`` for images named by local paths, read here (``udfs.image_files``: regular
        files up to ``classify.max-image-bytes``); a path that cannot be read is an error row."""
        return self._guard.run(lambda report: self._classify(
            paths, report, self._prepare_file, stage="reading, decoding and resizing"))

    def _classify(self, images: Sequence, report: Report, prepare: Callable | None = None,
                  stage: str = "decoding and resizing") -> list[Prediction]:
        errors: dict[int, str] = {}
        embeddings: dict[int, np.ndarray] | None = {} if self.embedding else None
        probabilities = self._runtime.infer(self._crops(images, errors, report, prepare, stage), report,
                                            embeddings=embeddings)
        return [
            Prediction(error=errors[row]) if row in errors
            else self._prediction(probabilities[row], embeddings[row] if embeddings is not None else None)
            for row in range(len(images))
        ]

    def embed(self, images: Sequence[bytes | None]) -> list[np.ndarray | None]:
        """The embedding of each input, in order; None for an image that cannot be read (the
        reason is logged; ``classify`` gives it as ``error``). Stalls as ``classify``."""
        if not self.embedding:
            raise ValueError("ImageClassifier.embed: build the classifier with embedding=True")
        return self._guard.run(lambda report: self._embed(images, report))

    def _embed(self, images: Sequence[bytes | None], report: Report) -> list[np.ndarray | None]:
        errors: dict[int, str] = {}
        embeddings: dict[int, np.ndarray] = {}
        self._runtime.infer(self._crops(images, errors, report), report, embeddings=embeddings)
        return [embeddings.get(row) for row in range(len(images))]

    def _crops(self, images: Sequence, errors: dict[int, str], report: Report,
               prepare: Callable | None = None,
               stage: str = "decoding and resizing") -> Iterator[tuple[int, np.ndarray]]:
        """Yield (row, crop) in row order, as each image is ready, so decoding overlaps with
        the inference of earlier images; with ``decode-threads`` > 1, images decode in parallel
        (OpenCV releases the GIL). ``prepare`` turns a row's input into a crop or an error text
        (default ``_prepare``: encoded bytes); ``stage`` is what a stall names it doing."""
        rows = range(len(images))
        prepare = prepare or self._prepare
        prepared = iter(self._decoder.map(prepare, rows, images) if self._decoder is not None
                        else map(prepare, rows, images))
        for row in rows:
            report(f"{stage} image {row + 1} of {len(images)}")
            outcome = next(prepared)
            if isinstance(outcome, str):
                errors[row] = outcome
            else:
                yield row, outcome

    def _prepare(self, row: int, data: bytes | None) -> np.ndarray | str:
        """The crop of one image, or why there is none."""
        if data is None:
            return NULL_IMAGE_ERROR
        try:
            return prepare_crop(data, self.config, self._min_side)
        except ImageDecodeError as error:
            log.warning("row %d: cannot classify image: %s", row, error)
            return str(error)

    def _prepare_file(self, row: int, path: str | None) -> np.ndarray | str:
        """The crop of the image file ``path`` names, or why there is none."""
        if path is None:
            return NULL_PATH_ERROR
        try:
            data = read_image_file(path, self.config.max_image_bytes)
        except FileReadError as error:
            log.warning("row %d: cannot classify image file: %s", row, error)
            return str(error)
        return self._prepare(row, data)

    def _prediction(self, scores: np.ndarray, embedding: np.ndarray | None) -> Prediction:
        scores = scores[self.config.preset.label_offset :]  # drop "background": ids are 0..N-1
        ranked = np.argsort(-scores, kind="stable")[: self.config.top_k]  # ties: lower id first
        # A class the model gave no probability is no candidate (a quantised model's u8 output
        # zeroes most classes): top-k lists up to k classes, always the best one.
        best = [i for i in ranked if scores[i] > 0] or ranked[:1]
        top_k = [(self.labels[i], int(i), float(scores[i])) for i in best]
        label, class_id, probability = top_k[0]
        return Prediction(label=label, class_id=class_id, probability=probability, top_k=top_k,
                          embedding=embedding)

    def close(self) -> None:
        """Release the compiled model and the decoding threads; after a stalled call, whatever
        the stuck thread may still use is left alone (leaked, with a log line), never freed."""
        self._guard.close()
        if self._guard.stuck:
            log.error("a classify call is still stuck: its compiled model and decode threads are not released")
            return
        self._runtime.close()
        if self._decoder is not None:
            self._decoder.shutdown()
            self._decoder = None

    def __enter__(self) -> ImageClassifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
