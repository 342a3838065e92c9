"""Fuzzing the decoder with mutated real JPEG/PNG bytes: a BGR image or ImageDecodeError, nothing else.

Bit flips, truncation, splices of two files, overwritten header fields and byte runs, applied to
small real images (reproducible: ``derandomize=True``, no example database). Every mutant goes
through ``decode_image`` + ``resize_and_crop``; a few batches go through ``ImageClassifier`` too.
"""

from __future__ import annotations

import struct
from functools import cache

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from udfs.presets import Preprocessing
from udfs.preprocess import ImageDecodeError, decode_image, resize_and_crop

from conftest import SHARED

MAX_PIXELS = 4_000_000  # keeps a mutant that grew its declared size cheap to refuse or decode
FUZZ = settings(max_examples=300, deadline=2000, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@cache
def seeds() -> tuple[bytes, ...]:
    """Small real images: shared photos scaled down when available, else a generated picture."""
    photo = SHARED / "images" / "photos" / "dog.jpg"
    if photo.is_file():
        image = cv2.imdecode(np.fromfile(photo, np.uint8), cv2.IMREAD_COLOR)
    else:
        ys, xs = np.mgrid[0:240, 0:320]
        image = np.dstack([xs % 256, ys % 256, (xs + ys) % 256]).astype(np.uint8)
    small = cv2.resize(image, (96, 72), interpolation=cv2.INTER_AREA)
    encoded = [
        cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])[1],
        cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1],
        cv2.imencode(".png", small)[1],
        cv2.imencode(".png", cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))[1],
    ]
    return tuple(buffer.tobytes() for buffer in encoded)


def _header_field(data: bytes, value: int) -> bytes:
    """Overwrite the declared size (JPEG SOF / PNG IHDR) with ``value`` for one dimension."""
    out = bytearray(data)
    if data.startswith(b"\x89PNG") and len(data) >= 24:
        struct.pack_into(">I", out, 16 + 4 * (value & 1), value)
    else:
        sof = max(data.find(b"\xff\xc0"), data.find(b"\xff\xc2"))
        if 0 <= sof and sof + 9 <= len(data):
            struct.pack_into(">H", out, sof + 5 + 2 * (value & 1), value & 0xFFFF)
    return bytes(out)


@st.composite
def mutants(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds())))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "splice", "header", "overwrite", "insert"]))
        if not data:
            break
        if kind == "flip":  # biased towards the headers, where parsers branch most
            position = draw(st.one_of(st.integers(0, min(len(data), 700) - 1), st.integers(0, len(data) - 1)))
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif kind == "splice":
            other = draw(st.sampled_from(seeds()))
            cut, start = draw(st.integers(0, len(data))), draw(st.integers(0, len(other)))
            data = data[:cut] + other[start:]
        elif kind == "header":
            data = bytearray(_header_field(bytes(data), draw(st.integers(0, 70_000))))
        elif kind == "overwrite":
            position = draw(st.integers(0, len(data) - 1))
            data[position : position + 8] = draw(st.binary(min_size=1, max_size=8))
        else:
            position = draw(st.integers(0, len(data)))
            data[position:position] = draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


def decode_or_error(data: bytes) -> np.ndarray | None:
    try:
        image = decode_image(data, MAX_PIXELS)
    except ImageDecodeError as error:
        assert str(error), "an error says what was wrong"
        return None
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    assert image.shape[0] * image.shape[1] <= MAX_PIXELS
    crop = resize_and_crop(image, Preprocessing())
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8 and crop.flags["C_CONTIGUOUS"]
    return crop


def test_seeds_decode():
    assert all(decode_or_error(seed) is not None for seed in seeds())


@FUZZ
@given(data=mutants())
def test_mutated_images_decode_or_raise_image_decode_error(data):
    decode_or_error(data)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """ImageClassifier over a tiny generated model (see test_classifier.tiny_model)."""
    from test_classifier import CLASSES, tiny_model

    from udfs.classifier import ImageClassifier
    from udfs.config import load_config

    folder = tmp_path_factory.mktemp("tiny")
    tiny_model(folder / "tiny.xml", background=False, layout="NCHW")
    (folder / "labels.txt").write_text("\n".join(CLASSES))
    params = {
        "classify.model": "resnet50_onnx",  # NCHW RGB, like the tiny model
        "classify.model-path": str(folder / "tiny.xml"), "classify.labels-path": str(folder / "labels.txt"),
        "classify.resize-size": "8", "classify.crop-size": "8", "classify.mean-values": "",
        "classify.scale-values": "255", "classify.cache-dir": "", "classify.max-pixels": str(MAX_PIXELS),
    }
    with ImageClassifier(load_config(params)) as classifier:
        yield classifier


@settings(max_examples=25, deadline=5000, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(batch=st.lists(mutants(), min_size=1, max_size=6))
def test_mutated_batches_through_the_classifier(classifier, batch):
    predictions = classifier.classify(batch)
    assert len(predictions) == len(batch)
    for prediction in predictions:
        assert (prediction.error is None) != (prediction.label is None)
