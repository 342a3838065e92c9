"""TF.js layers model -> OpenVINO conversion (udfs.tfjs), checked against a numpy reference."""

from __future__ import annotations

import json

import numpy as np
import openvino as ov
import pytest

import tiny_tfjs
from udfs.tfjs import SUPPORTED_LAYERS, ConversionError, convert


def infer_f32(model: ov.Model, x: np.ndarray) -> list[np.ndarray]:
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    results = compiled(x)
    return [results[output] for output in compiled.outputs]


def test_tiny_model_covers_every_supported_layer_type():
    assert {layer["class_name"] for layer in tiny_tfjs.layers()} == set(SUPPORTED_LAYERS)


def test_converted_model_matches_numpy_reference(tmp_path):
    model = convert(tiny_tfjs.write_model(tmp_path))
    assert [tuple(i.get_partial_shape().to_string() for i in model.inputs)] == [("[?,11,9,3]",)]
    assert [o.get_any_name() for o in model.outputs] == ["probabilities", "score"]
    x = np.random.default_rng(1).normal(0, 1, (3, *tiny_tfjs.INPUT_SHAPE)).astype(np.float32)
    probabilities, score = infer_f32(model, x)
    expected_probabilities, expected_score = tiny_tfjs.reference(x)
    np.testing.assert_allclose(probabilities, expected_probabilities, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(score, expected_score, rtol=1e-4, atol=1e-5)


def test_batch_norm_after_linear_conv_is_folded(tmp_path):
    model = convert(tiny_tfjs.write_model(tmp_path))
    counts = {}
    for op in model.get_ops():
        counts[op.get_type_name()] = counts.get(op.get_type_name(), 0) + 1
    # bn_a follows a relu conv: one explicit Multiply; bn_b lives in conv_b's kernel and bias
    assert counts["Multiply"] == 1 and counts["Convolution"] == 3


def test_unknown_layer_type_is_named(tmp_path):
    layers = tiny_tfjs.layers()
    layers[-1] = {**layers[-1], "class_name": "LSTM"}
    with pytest.raises(ConversionError, match=r"unsupported layer type\(s\) LSTM; supported: InputLayer, .*Dense"):
        convert(tiny_tfjs.write_model(tmp_path, layers))


def test_unknown_activation_is_named(tmp_path):
    layers = tiny_tfjs.layers()
    layers[8]["config"]["activation"] = "gelu"
    with pytest.raises(ConversionError, match=r"layer 'relu': activation 'gelu' is not supported"):
        convert(tiny_tfjs.write_model(tmp_path, layers))


def test_short_shards_are_an_error(tmp_path):
    model_json = tiny_tfjs.write_model(tmp_path)
    shard = tmp_path / "group1-shard2of2.bin"
    shard.write_bytes(shard.read_bytes()[:-8])
    with pytest.raises(ConversionError, match=r"weight '.*': the shards .* end before it does"):
        convert(model_json)


def test_graph_models_are_refused(tmp_path):
    (tmp_path / "model.json").write_text(json.dumps({"format": "graph-model", "modelTopology": {}}))
    with pytest.raises(ConversionError, match="not a TF.js layers model .*graph models are not supported"):
        convert(tmp_path / "model.json")
