"""ImageClassifier on a tiny generated model: row handling, labels, background offset."""

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from udfs.classifier import NULL_IMAGE_ERROR, ImageClassifier, Prediction, load_labels
from udfs.config import load_config

from conftest import SHARED, model_options, needs_shared

CLASSES = [f"class {i}" for i in range(4)]


def tiny_model(path, background: bool, layout: str) -> None:
    """Scores = [background 0], mean R, G, B, 0: a red image wins class 0."""
    nchw = layout == "NCHW"
    image = ops.parameter([1, 3, 8, 8] if nchw else [1, 8, 8, 3], np.float32, name="image")
    channel_means = ops.reduce_mean(image, [2, 3] if nchw else [1, 2], keep_dims=False)
    zero = ops.constant(np.zeros((1, 1), np.float32))
    scores = [zero, channel_means, zero] if background else [channel_means, zero]
    ov.save_model(ov.Model([ops.concat(scores, 1)], [image]), path)


@pytest.fixture
def make_classifier(tmp_path):
    def make(preset: str = "resnet50_onnx", **options: str) -> ImageClassifier:
        config = load_config({"classify.model": preset})
        tiny_model(tmp_path / "tiny.xml", config.preset.label_offset == 1, config.preprocessing.layout)
        labels = tmp_path / "labels.txt"
        labels.write_text("\n".join(CLASSES))
        params = {
            "classify.model": preset,
            "classify.model-path": str(tmp_path / "tiny.xml"),
            "classify.labels-path": str(labels),
            "classify.resize-size": "8",
            "classify.crop-size": "8",
            "classify.mean-values": "",
            "classify.scale-values": "255",
            "classify.top-k": "2",
            "classify.cache-dir": "",
            **options,
        }
        return ImageClassifier(load_config(params))

    return make


def png(color_bgr) -> bytes:
    return cv2.imencode(".png", np.full((20, 30, 3), color_bgr, np.uint8))[1].tobytes()


def test_rows_keep_their_order_and_errors(make_classifier):
    with make_classifier() as classifier:
        predictions = classifier.classify([png((0, 0, 255)), None, b"garbage", png((255, 0, 0)), b""])
    assert len(predictions) == 5
    assert predictions[0].label == "class 0" and predictions[0].class_id == 0  # red -> R channel
    assert predictions[3].class_id == 2  # blue -> B channel (RGB order inside the graph)
    assert predictions[1] == Prediction(error=NULL_IMAGE_ERROR)
    assert predictions[2].error.startswith("not an image") and predictions[2].label is None
    assert predictions[4].error == "empty input: 0 bytes"
    assert [c for _, c, _ in predictions[0].top_k] == [0, 1]
    assert predictions[0].probability == pytest.approx(predictions[0].top_k[0][2])


def test_bgr_nhwc_preset_feeds_bgr(make_classifier):
    with make_classifier("resnet50") as classifier:  # Keras ResNet-50: BGR, NHWC
        red, blue = classifier.classify([png((0, 0, 255)), png((255, 0, 0))])
    assert (red.class_id, blue.class_id) == (2, 0)  # the model's channel 0 is blue


def test_empty_batch(make_classifier):
    with make_classifier() as classifier:
        assert classifier.classify([]) == []


def test_background_offset_is_dropped(make_classifier):
    with make_classifier("mobilenet_v2_quant") as classifier:  # index 0 = background
        prediction = classifier.classify([png((0, 255, 0))])[0]
    # Output index 2 (G) minus the background slot = class 1.
    assert prediction.class_id == 1 and prediction.label == "class 1"


def test_oversize_image_is_a_row_error(make_classifier):
    with make_classifier(**{"classify.max-pixels": "100"}) as classifier:
        prediction = classifier.classify([png((0, 0, 255))])[0]
    assert prediction.error == "too many pixels: declared 30x20 > max 100"


def test_packaged_labels():
    labels = load_labels(None)
    assert len(labels) == 1000 and labels[0] == "tench" and labels[999] == "toilet tissue"


def test_unreadable_labels_name_the_option(tmp_path):
    with pytest.raises(ValueError, match="classify.labels-path: cannot read labels"):
        load_labels(tmp_path / "missing.txt")


def test_parallel_decoding_keeps_rows_in_order(make_classifier):
    images = [png((0, 0, 255)), b"garbage", None, png((255, 0, 0)), png((0, 255, 0)), b""] * 5
    with make_classifier() as serial, make_classifier(**{"classify.decode-threads": "3"}) as parallel:
        assert parallel._decoder is not None and serial._decoder is None
        assert parallel.classify(images) == serial.classify(images)


def test_top_k_leaves_out_classes_without_probability(make_classifier, tmp_path):
    """Scores = softmax(1000 x mean R, G, B, 0): exp(-1000) is 0 in float32, so a pure colour
    gives its class probability 1 and every other class exactly 0."""
    image = ops.parameter([1, 3, 8, 8], np.float32, name="image")
    logits = ops.multiply(ops.reduce_mean(image, [2, 3], keep_dims=False), ops.constant(np.float32(1000)))
    scores = ops.softmax(ops.concat([logits, ops.constant(np.zeros((1, 1), np.float32))], 1), -1)
    ov.save_model(ov.Model([scores], [image]), tmp_path / "sharp.xml")
    options = {"classify.model-path": str(tmp_path / "sharp.xml"), "classify.top-k": "3"}
    with make_classifier(**options) as classifier:
        red, magenta = classifier.classify([png((0, 0, 255)), png((255, 0, 255))])
    assert red.top_k == [("class 0", 0, 1.0)]
    assert [(c, p) for _, c, p in magenta.top_k] == [(0, pytest.approx(0.5)), (2, pytest.approx(0.5))]


@needs_shared
def test_quantised_model_top_k_has_no_zero_probability_padding():
    """MobileNetV2 (u8 scores) is sure of the hot dog: no 0.0 classes after it."""
    config = load_config(model_options("mobilenet_v2_quant") | {"classify.cache-dir": ""})
    with ImageClassifier(config) as classifier:
        [prediction] = classifier.classify([(SHARED / "images" / "photos" / "hot_dog.jpg").read_bytes()])
    assert prediction.label == "hotdog" and prediction.probability > 0.9
    assert 1 <= len(prediction.top_k) < 5
    assert all(p > 0 for _, _, p in prediction.top_k)
