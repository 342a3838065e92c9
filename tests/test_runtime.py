from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from udfs.presets import Preprocessing, get_preset
from udfs.preprocess import decode_image, resize_and_crop
from udfs.runtime import AUTO_BATCH_SIZE, ClassificationRuntime, _SharedModel, prepare_model, preprocessing_model

from udfs.reference_preprocessing import reference_input
from conftest import SHARED, needs_shared

CROP = 8
NUM_CLASSES = 10


def save(model: ov.Model, tmp_path: Path, name: str = "model.xml") -> Path:
    path = tmp_path / name
    ov.save_model(model, path, compress_to_fp16=False)
    return path


def linear_classifier(layout: str = "NCHW", softmax: bool = False, seed: int = 0, fixed_batch: bool = False) -> ov.Model:
    """Flatten -> MatMul: every input value changes the scores, so any preprocessing slip shows.
    ``fixed_batch`` appends a constant [1, 1] score column, which only fits a batch of one."""
    shape = [1, 3, CROP, CROP] if layout == "NCHW" else [1, CROP, CROP, 3]
    image = ops.parameter(shape, np.float32, name="image")
    weights = np.random.default_rng(seed).normal(0, 0.05, (3 * CROP * CROP, NUM_CLASSES)).astype(np.float32)
    flat = ops.reshape(image, [-1, 3 * CROP * CROP], special_zero=False)
    scores = ops.matmul(flat, weights, False, False)
    if fixed_batch:
        scores = ops.concat([ops.matmul(flat, weights[:, 1:], False, False), np.zeros((1, 1), np.float32)], 1)
    if softmax:
        scores = ops.reshape(ops.softmax(scores, -1), [-1, NUM_CLASSES], special_zero=False)
    return ov.Model([scores], [image], "linear_classifier")


def raw_outputs(path: Path, tensor: np.ndarray) -> np.ndarray:
    compiled = ov.Core().compile_model(path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled(tensor)[0][0]


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()


def make_runtime(path: Path, preprocessing: Preprocessing, **kwargs) -> ClassificationRuntime:
    kwargs.setdefault("num_classes", NUM_CLASSES)
    return ClassificationRuntime(path, preprocessing, precision="f32", **kwargs)


def random_crops(count: int, size: int = CROP) -> list[np.ndarray]:
    rng = np.random.default_rng(42)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]


@pytest.mark.parametrize(
    "preprocessing",
    [
        Preprocessing(resize_size=CROP, crop_size=CROP, mean=(123.675, 116.28, 103.53), scale=(58.395, 57.12, 57.375)),
        Preprocessing(resize_size=CROP, crop_size=CROP, channel_order="BGR", mean=(127.0,), scale=(128.0,)),
        Preprocessing(resize_size=CROP, crop_size=CROP, layout="NHWC"),
    ],
    ids=["rgb-nchw-imagenet", "bgr-scalar-mean", "nhwc-no-normalisation"],
)
def test_embedded_preprocessing_matches_host_reference(tmp_path, preprocessing):
    path = save(linear_classifier(preprocessing.layout), tmp_path)
    runtime = make_runtime(path, preprocessing, output_activation="softmax")
    crops = random_crops(6)
    results = runtime.infer(enumerate(crops))
    assert sorted(results) == list(range(6))
    for row, crop in enumerate(crops):
        expected = softmax(raw_outputs(path, reference_input(crop, preprocessing)))
        np.testing.assert_allclose(results[row], expected, atol=1e-4)


@pytest.mark.parametrize(
    "preprocessing",
    [
        Preprocessing(resize_size=CROP, crop_size=CROP, mean=(123.675, 116.28, 103.53), scale=(58.395, 57.12, 57.375)),
        Preprocessing(resize_size=CROP, crop_size=CROP, channel_order="BGR", layout="NHWC", mean=(103.939, 116.779, 123.68)),
    ],
    ids=["rgb-nchw-imagenet", "bgr-nhwc-caffe"],
)
def test_preprocessing_model_computes_the_embedded_preprocessing(preprocessing):
    """What quantization calibrates on: the runtime's preprocessing graph alone."""
    compiled = ov.Core().compile_model(preprocessing_model(preprocessing), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    for crop in random_crops(3):
        np.testing.assert_allclose(compiled(crop[np.newaxis])[0], reference_input(crop, preprocessing), atol=1e-4)


@needs_shared
def test_efficientnet_embedded_matches_host_reference():
    entry = get_preset("efficientnet_lite0")
    path = SHARED / "models" / "efficientnet_lite0_imagenet.onnx"
    runtime = make_runtime(path, entry.preprocessing, num_classes=1000, output_activation=entry.output_activation)
    photos = [SHARED / "images" / "photos" / name for name in ("dog.jpg", "bird.bmp", "skimage_coffee.png")]
    crops = [resize_and_crop(decode_image(p.read_bytes(), 10**8), entry.preprocessing) for p in photos]
    results = runtime.infer(enumerate(crops))
    for row, crop in enumerate(crops):
        expected = softmax(raw_outputs(path, reference_input(crop, entry.preprocessing)))
        np.testing.assert_allclose(results[row], expected, atol=1e-4)
        assert results[row].argmax() == expected.argmax()


def test_auto_adds_softmax_to_logits(tmp_path):
    path = save(linear_classifier(), tmp_path)
    preprocessing = Preprocessing(resize_size=CROP, crop_size=CROP)
    crop = random_crops(1)[0]
    probabilities = make_runtime(path, preprocessing, output_activation="auto").infer([(0, crop)])[0]
    np.testing.assert_allclose(probabilities, softmax(raw_outputs(path, reference_input(crop, preprocessing))), atol=1e-5)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_auto_keeps_existing_softmax(tmp_path):
    path = save(linear_classifier(softmax=True), tmp_path)
    preprocessing = Preprocessing(resize_size=CROP, crop_size=CROP)
    crop = random_crops(1)[0]
    probabilities = make_runtime(path, preprocessing, output_activation="auto").infer([(0, crop)])[0]
    np.testing.assert_allclose(probabilities, raw_outputs(path, reference_input(crop, preprocessing)), atol=1e-6)


def count_ops(model: ov.Model, type_name: str) -> int:
    return sum(op.get_type_name() == type_name for op in model.get_ops())


@needs_shared
def test_light_resnet50_gets_no_second_softmax():
    entry = get_preset("resnet50_onnx")
    model = prepare_model(ov.Core(), SHARED / "models" / "light_resnet50.onnx", entry.preprocessing, 1000, entry.output_activation)
    assert count_ops(model, "Softmax") == 1


@needs_shared
def test_efficientnet_gets_a_softmax():
    entry = get_preset("efficientnet_lite0")
    model = prepare_model(ov.Core(), SHARED / "models" / "efficientnet_lite0_imagenet.onnx", entry.preprocessing, 1000, entry.output_activation)
    assert count_ops(model, "Softmax") == 1


@needs_shared
def test_quantised_scores_become_probabilities():
    entry = get_preset("mobilenet_v2_quant")
    runtime = make_runtime(SHARED / "models" / "mobilenet_v2_1.0_224_quant.tflite", entry.preprocessing, num_classes=1001, output_activation=entry.output_activation)
    probabilities = runtime.infer(enumerate(random_crops(2, 224)))[0]
    assert probabilities.dtype == np.float32 and probabilities.shape == (1001,)
    assert probabilities.min() >= 0 and probabilities.max() <= 1
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_precision_and_request_count_are_reported(tmp_path):
    path = save(linear_classifier(), tmp_path)
    runtime = make_runtime(path, Preprocessing(resize_size=CROP, crop_size=CROP), infer_requests=3, streams=1)
    assert runtime.precision == "f32"
    assert runtime.infer_requests == 3
    assert runtime.streams == 1
    runtime.close()


def test_wrong_rank_is_refused(tmp_path):
    vector = ops.parameter([1, 192], np.float32, name="x")
    path = save(ov.Model([ops.relu(vector)], [vector], "flat"), tmp_path)
    with pytest.raises(ValueError, match=r"classify.model-path: expected a rank-4 image input, got shape \[1,192\]"):
        make_runtime(path, Preprocessing(resize_size=CROP, crop_size=CROP))


def test_label_count_mismatch_names_labels_path(tmp_path):
    path = save(linear_classifier(), tmp_path)
    with pytest.raises(ValueError, match=r"classify.labels-path: the model outputs 10 scores but the labels give 1000"):
        make_runtime(path, Preprocessing(resize_size=CROP, crop_size=CROP), num_classes=1000)


def test_crop_size_mismatch_names_crop_size(tmp_path):
    path = save(linear_classifier(), tmp_path)
    with pytest.raises(ValueError, match=r"classify.crop-size: expected 8"):
        make_runtime(path, Preprocessing())


def test_missing_model_file_names_model_path(tmp_path):
    missing = tmp_path / "nowhere.onnx"
    with pytest.raises(ValueError, match=f"classify.model-path: model file not found: '{missing}'"):
        make_runtime(missing, Preprocessing())


def test_unreadable_model_file_names_model_path(tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ValueError, match=f"classify.model-path: cannot read model '{garbage}'"):
        make_runtime(garbage, Preprocessing())


@pytest.mark.parametrize("batch_size", [1, 4, 0])
def test_batches_give_the_single_image_results(tmp_path, batch_size):
    """11 crops: full batches and a part-filled last one whose leftover rows must be ignored."""
    path = save(linear_classifier(), tmp_path)
    preprocessing = Preprocessing(resize_size=CROP, crop_size=CROP)
    runtime = make_runtime(path, preprocessing, batch_size=batch_size, output_activation="softmax")
    assert runtime.batch_size == (batch_size or AUTO_BATCH_SIZE)
    crops = random_crops(11)
    runtime.infer(enumerate(reversed(crops)))  # fill the requests with other images first
    results = runtime.infer(enumerate(crops))
    assert sorted(results) == list(range(11))
    for row, crop in enumerate(crops):
        expected = softmax(raw_outputs(path, reference_input(crop, preprocessing)))
        np.testing.assert_allclose(results[row], expected, atol=1e-4)
    runtime.close()


def test_fixed_batch_model_falls_back_to_single_images(tmp_path):
    path = save(linear_classifier(fixed_batch=True), tmp_path)
    preprocessing = Preprocessing(resize_size=CROP, crop_size=CROP)
    runtime = make_runtime(path, preprocessing)  # batch_size 0: automatic
    assert runtime.batch_size == 1
    crops = random_crops(3)
    results = runtime.infer(enumerate(crops))
    np.testing.assert_allclose(results[2], softmax(raw_outputs(path, reference_input(crops[2], preprocessing))), atol=1e-4)
    with pytest.raises(ValueError, match=r"classify.batch-size: the model cannot take batches of 4 .*set classify.batch-size to 1"):
        make_runtime(path, preprocessing, batch_size=4)


def test_runtimes_with_the_same_settings_share_one_compiled_model(tmp_path):
    path = save(linear_classifier(), tmp_path)
    preprocessing = Preprocessing(resize_size=CROP, crop_size=CROP)
    first, second = make_runtime(path, preprocessing), make_runtime(path, preprocessing)
    other_batch = make_runtime(path, preprocessing, batch_size=2)
    assert first._compiled is second._compiled
    assert other_batch._compiled is not first._compiled
    assert first._requests[0] is not second._requests[0]  # each runtime has its own requests
    crops = random_crops(5)
    expected = first.infer(enumerate(crops))
    first.close()
    after_close = second.infer(enumerate(crops))  # the model outlives its first user
    for row in expected:
        np.testing.assert_array_equal(after_close[row], expected[row])
    second.close()
    other_batch.close()
    assert not [key for key in _SharedModel._models if key.path == path]  # the last user released it


@needs_shared
def test_failing_crop_source_leaves_no_request_running():
    """A batch of a slow model (f32 ResNet-50, 8 images: ~100 ms) is running when producing the
    next crop fails: infer() waits for it before raising, so the next call starts from idle
    requests rather than writing into a running one's input."""
    entry = get_preset("resnet50_onnx")
    runtime = ClassificationRuntime(SHARED / "models" / "light_resnet50.onnx", entry.preprocessing,
                                    num_classes=1000, precision="f32", batch_size=8, infer_requests=1)
    crops = random_crops(9, size=entry.preprocessing.crop_size)

    def failing_after_one_batch():
        yield from enumerate(crops[:8])
        raise MemoryError("decoding failed")

    with pytest.raises(MemoryError):
        runtime.infer(failing_after_one_batch())
    [request] = runtime._requests
    assert request.wait_for(0), "the started batch is still running"
    assert sorted(runtime.infer(enumerate(crops))) == list(range(9))
    runtime.close()
