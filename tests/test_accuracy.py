"""End-to-end accuracy on the shared imagenet-dev photos, at f32, against the preset's reference
numbers (``meta["dev_top1"]``, ``meta["dev_top5"]``)."""

import time

import pytest

from udfs.classifier import ImageClassifier
from udfs.config import load_config
from udfs.presets import get_preset

from conftest import SHARED, imagenet_truth, model_options, needs_shared

pytestmark = needs_shared


def imagenet_dev() -> tuple[list[bytes], list[int]]:
    truth = sorted(imagenet_truth().items())
    folder = SHARED / "images" / "imagenet-dev"
    return [(folder / name).read_bytes() for name, _ in truth], [label for _, label in truth]


def classifier(preset: str, **options: str) -> ImageClassifier:
    params = model_options(preset) | {"classify.precision": "f32", "classify.cache-dir": ""}
    return ImageClassifier(load_config(params | {f"classify.{k.replace('_', '-')}": v for k, v in options.items()}))


@pytest.mark.parametrize("preset", ["mobilenet_v2_quant", "efficientnet_lite0"])
def test_top1_and_top5_match_the_preset(preset, measured):
    images, truth = imagenet_dev()
    with classifier(preset) as model:
        model.classify(images[:8])  # warm up every request
        start = time.perf_counter()
        predictions = model.classify(images)
        seconds = time.perf_counter() - start
        precision = model.precision
    assert len(predictions) == len(images) and all(p.error is None for p in predictions)
    top1 = sum(p.class_id == y for p, y in zip(predictions, truth)) / len(truth)
    top5 = sum(y in [c for _, c, _ in p.top_k] for p, y in zip(predictions, truth)) / len(truth)
    measured(f"{preset}: precision {precision}, top-1 {top1:.3f}, top-5 {top5:.3f}, "
             f"{len(images) / seconds:.1f} images/s ({len(images)} images, decode included)")
    assert precision == "f32"
    meta = get_preset(preset).meta
    assert top1 == pytest.approx(meta["dev_top1"], abs=0.01)
    assert top5 == pytest.approx(meta["dev_top5"], abs=0.01)


def test_light_resnet50_through_resnet50_onnx_preset():
    photos = sorted((SHARED / "images" / "photos").iterdir())[:6]
    with classifier("resnet50_onnx", top_k="1000") as model:
        predictions = model.classify([p.read_bytes() for p in photos])
    assert len(predictions) == len(photos)
    for prediction in predictions:
        assert prediction.error is None and 0 <= prediction.class_id < 1000
        assert prediction.label == model.labels[prediction.class_id]
        assert sum(p for _, _, p in prediction.top_k) == pytest.approx(1.0, abs=1e-3)


@needs_shared
def test_reduced_jpeg_decode_keeps_the_top1_of_the_photos():
    """Camera-sized JPEGs decoded at 1/2 or 1/4 scale: same class as decoding every pixel."""
    photos = sorted((SHARED / "images" / "photos").glob("*.jpg"))
    params = model_options("efficientnet_lite0") | {"classify.precision": "f32"}
    results = {}
    for reduced in ("false", "true"):
        with ImageClassifier(load_config({**params, "classify.reduced-jpeg-decode": reduced})) as classifier:
            assert (classifier._min_side is not None) == (reduced == "true")
            results[reduced] = classifier.classify([p.read_bytes() for p in photos])
    assert len(photos) >= 5
    for photo, full, reduced in zip(photos, results["false"], results["true"]):
        assert reduced.class_id == full.class_id, photo.name
