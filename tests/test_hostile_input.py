"""Hostile input and misconfiguration: nothing crashes, nothing is lost, every error is clear.

The generated corpus (tests/corpus.py) goes through ``ImageClassifier.classify`` directly (through
real Flink jobs of both paths: test_golden.py); decompression bombs are decoded in fresh subprocesses to
measure their peak memory; a missing model file fails the job naming ``classify.model-path``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from udfs.classifier import ImageClassifier
from udfs.config import load_config
from udfs.preprocess import ImageDecodeError, decode_image

from conftest import REPO, SHARED, needs_shared, subprocess_env
from corpus import build_corpus, corpus_files, scan_bomb_jpeg
from test_classify_flink import MOBILENET, classify_folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, build_corpus(folder)


def check(name: str, expected_error: str | None, label, error) -> None:
    if expected_error is None:
        assert error is None, f"{name}: expected a prediction, got error {error!r}"
        assert label, name
    else:
        assert label is None, f"{name}: expected an error, got label {label!r}"
        assert error and expected_error in error, f"{name}: expected error containing {expected_error!r}, got {error!r}"


def test_corpus_has_every_kind(corpus):
    _, expectations = corpus
    assert len(expectations) >= 30
    assert sum(e.error is None for e in expectations.values()) >= 15  # unusual but valid images


@needs_shared
def test_corpus_directly_through_the_classifier(corpus):
    folder, expectations = corpus
    names = sorted(expectations)
    with ImageClassifier(load_config(MOBILENET | {"classify.cache-dir": ""})) as classifier:
        predictions = classifier.classify([(folder / name).read_bytes() for name in names])
    assert len(predictions) == len(names)
    for name, prediction in zip(names, predictions):
        check(name, expectations[name].expected_error(through_table=False), prediction.label, prediction.error)


# The corpus through real Flink jobs (the UDF and ML_PREDICT), with one table of expectations
# for both paths: tests/test_golden.py.


# --- decompression bombs: peak memory -----------------------------------------------------------

# VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a child of a big test
# process would report the parent's peak; VmHWM belongs to the new address space.
_MEASURE = """
import json, sys, time
import udfs.preprocess as preprocess  # first: sets OpenCV's pixel cap before cv2 loads
data = open(sys.argv[1], "rb").read()
started = time.perf_counter()
try:
    outcome = "shape %s" % (preprocess.decode_image(data, int(sys.argv[2])).shape,)
except preprocess.ImageDecodeError as error:
    outcome = str(error)
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"peak_kb": int(hwm.split()[1]),
                  "seconds": time.perf_counter() - started, "outcome": outcome}))
"""

BOMBS = ["bomb.png", "bomb.jpg", "bomb.tiff", "bomb_deflate.tiff", "bomb.ppm", "bomb.hdr", "bomb.jp2"]
BYTE_BOMBS = {"strip_bomb.tiff": "truncated or corrupt TIFF: strip 0", "deep_bomb.png": "too many bytes to decode"}


def measure(path, max_pixels: int = 50_000_000, **env: str) -> dict:
    """Decode the file in a fresh interpreter; its RSS high-water mark (VmHWM)."""
    result = subprocess.run([sys.executable, "-c", _MEASURE, str(path), str(max_pixels)], env=subprocess_env(**env),
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@needs_shared
def test_bombs_cost_no_more_memory_than_a_photo(corpus, capsys):
    folder, _ = corpus
    baseline = measure(SHARED / "images" / "photos" / "dog.jpg")
    assert baseline["outcome"].startswith("shape")
    lines = [f"  baseline dog.jpg: peak {baseline['peak_kb'] / 1024:.0f} MB ({baseline['outcome']})"]
    for bomb in BOMBS:
        result = measure(folder / bomb)
        assert "too many pixels" in result["outcome"], (bomb, result)
        extra_mb = (result["peak_kb"] - baseline["peak_kb"]) / 1024
        lines.append(f"  {bomb:17} peak {result['peak_kb'] / 1024:.0f} MB ({extra_mb:+.0f} MB), "
                     f"{result['seconds'] * 1000:.1f} ms: {result['outcome']}")
        assert extra_mb < 50, (bomb, result)
    for bomb, refusal in BYTE_BOMBS.items():  # under the pixel cap: refused by bytes
        result = measure(folder / bomb)
        assert refusal in result["outcome"], (bomb, result)
        extra_mb = (result["peak_kb"] - baseline["peak_kb"]) / 1024
        lines.append(f"  {bomb:17} peak {result['peak_kb'] / 1024:.0f} MB ({extra_mb:+.0f} MB): {result['outcome']}")
        assert extra_mb < 50, (bomb, result)
    # Control: with both caps lifted the same measurement sees the bomb's allocation.
    uncapped = measure(folder / "bomb_deflate.tiff", max_pixels=10**9, OPENCV_IO_MAX_IMAGE_PIXELS=str(10**9))
    extra_mb = (uncapped["peak_kb"] - baseline["peak_kb"]) / 1024
    lines.append(f"  control, caps lifted: bomb_deflate.tiff peak {uncapped['peak_kb'] / 1024:.0f} MB ({extra_mb:+.0f} MB)")
    assert extra_mb > 200, uncapped
    with capsys.disabled():
        print("\n[bomb peak RSS, cap on]\n" + "\n".join(lines))


def timed(decode) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        outcome = f"shape {decode().shape}"
    except ImageDecodeError as error:
        outcome = str(error)
    return time.perf_counter() - started, outcome


def test_scan_bomb_is_refused_before_it_costs_time(capsys):
    """A 512x512 progressive JPEG repeating its last scan 600 times (a few kB): refused by the
    marker walk at once; decoding it anyway (the control, scan limit lifted) applies every scan."""
    bomb = scan_bomb_jpeg(512, 512, 600)
    refused_seconds, refused = timed(lambda: decode_image(bomb, 50_000_000))
    decoded_seconds, decoded = timed(lambda: decode_image(bomb, 50_000_000, max_jpeg_scans=10**6))
    with capsys.disabled():
        print(f"\n[scan bomb, {len(bomb)} bytes] refused in {refused_seconds * 1000:.1f} ms ({refused}); "
              f"decoded with the limit lifted in {decoded_seconds * 1000:.0f} ms ({decoded})")
    assert refused == "too many scans: JPEG with more than 500 scans > max 500"
    assert decoded == "shape (512, 512, 3)"
    assert decoded_seconds > 20 * refused_seconds  # the walk is a pass over the bytes, the decode 600 passes over the image


def test_bomb_files_are_small():
    files = corpus_files()
    assert all(len(files[bomb][0]) < 200_000 for bomb in BOMBS)


# --- misconfiguration fails the job, naming the setting -----------------------------------------


@pytest.mark.flink
def test_missing_model_file_fails_the_flink_job(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "x.png").write_bytes(corpus_files()["one_pixel.png"][0])
    missing = tmp_path / "no_such_model.tflite"
    with pytest.raises(Exception) as failure:
        classify_folder(images, MOBILENET | {"classify.model-path": str(missing)})
    assert f"classify.model-path: model file not found: '{missing}'" in str(failure.value)


def _save_model(path, inputs, outputs) -> str:
    import openvino as ov

    ov.save_model(ov.Model(outputs, inputs), path, compress_to_fp16=False)
    return str(path)


def _tiny_options(tmp_path, model_path: str, **extra: str) -> dict[str, str]:
    labels = tmp_path / "labels.txt"
    if not labels.exists():
        labels.write_text("a\nb\nc\nd\n")
    return {"classify.model": "resnet50_onnx", "classify.model-path": model_path, "classify.labels-path": str(labels),
            "classify.resize-size": "8", "classify.crop-size": "8", "classify.cache-dir": "", **extra}


def test_integer_input_model_with_mean_values_names_mean_values(tmp_path):
    import numpy as np
    import openvino.opset13 as ops

    image = ops.parameter([1, 3, 8, 8], np.uint8, name="image")
    scores = ops.reduce_mean(ops.convert(image, "f32"), [2, 3], keep_dims=False)
    zero = ops.constant(np.zeros((1, 1), np.float32))
    path = _save_model(tmp_path / "u8.xml", [image], [ops.concat([scores, zero], 1)])
    with pytest.raises(ValueError, match=r"^classify.mean-values: the model takes integer input \(u8\)"):
        ImageClassifier(load_config(_tiny_options(tmp_path, path)))


def test_model_with_two_outputs_names_model_path(tmp_path):
    import numpy as np
    import openvino.opset13 as ops

    image = ops.parameter([1, 3, 8, 8], np.float32, name="image")
    scores = ops.reduce_mean(image, [2, 3], keep_dims=False)
    path = _save_model(tmp_path / "two.xml", [image], [scores, ops.relu(scores)])
    with pytest.raises(ValueError, match="classify.model-path: expected a model with 1 input and 1 output, got 1 inputs and 2 outputs"):
        ImageClassifier(load_config(_tiny_options(tmp_path, path)))


def test_empty_labels_file_names_labels_path(tmp_path):
    (tmp_path / "labels.txt").write_text("")
    with pytest.raises(ValueError, match="classify.labels-path: no labels in"):
        ImageClassifier(load_config(_tiny_options(tmp_path, str(tmp_path / "unused.xml"))))


def test_no_model_path_and_no_cached_model_names_model_path(tmp_path, monkeypatch):
    import udfs.models

    monkeypatch.setattr(udfs.models, "MODEL_DIR", tmp_path)
    with pytest.raises(ValueError, match=r"classify.model-path: not set and no cached model for preset "
                                         r"'efficientnet_lite0' at .*; set classify.model-path to your copy"):
        ImageClassifier(load_config({"classify.model": "efficientnet_lite0"}))
