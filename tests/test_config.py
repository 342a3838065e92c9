from pathlib import Path

import pytest

from udfs import presets
from udfs.config import COMPILED_MODEL_DIR, OPTIONS, load_config, options_markdown
from udfs.presets import Preprocessing, get_preset

from conftest import REPO


def test_defaults():
    config = load_config({})
    assert config.preset is get_preset("resnet50")
    assert config.preprocessing == Preprocessing(channel_order="BGR", layout="NHWC", mean=presets.CAFFE_MEAN_BGR)
    assert (config.device, config.precision, config.performance_hint) == ("CPU", "auto", "THROUGHPUT")
    assert (config.infer_requests, config.top_k) == (0, 5)
    assert (config.batch_size, config.decode_threads) == (0, 1)  # batch 0: automatic
    assert config.model_path is None and config.labels_path is None
    assert config.max_pixels == 50_000_000 and config.max_image_bytes == 64 * 1024 * 1024
    assert config.cache_dir == COMPILED_MODEL_DIR


def test_non_classify_keys_are_ignored():
    assert load_config({"pipeline.name": "x", "python.fn-execution.bundle.size": "10"}) == load_config({})


def test_overrides():
    config = load_config(
        {
            "classify.model": "EfficientNet_Lite0",
            "classify.model-path": "/models/e.onnx",
            "classify.precision": "F32",
            "classify.performance-hint": "latency",
            "classify.infer-requests": "4",
            "classify.batch-size": "16",
            "classify.decode-threads": "2",
            "classify.top-k": "3",
            "classify.crop-size": "200",
            "classify.cache-dir": "",
        }
    )
    assert config.preset.name == "efficientnet_lite0"
    assert config.model_path == Path("/models/e.onnx")
    assert (config.precision, config.performance_hint) == ("f32", "LATENCY")
    assert (config.infer_requests, config.top_k) == (4, 3)
    assert (config.batch_size, config.decode_threads) == (16, 2)
    assert config.preprocessing.crop_size == 200
    assert config.preprocessing.mean == (127.0, 127.0, 127.0)  # rest of the preset kept
    assert config.cache_dir is None


def test_old_tutorial_knobs():
    # The tutorial wrote the mean in RGB and reversed the channels: the model is fed BGR with the
    # mean reversed along, which is the resnet50 preset's own recipe (Keras "caffe" mode).
    config = load_config(
        {
            "classify.channel-order": "RGB",
            "classify.mean-values": "123.68,116.78,103.94",
            "classify.scale-values": "",
            "classify.reverse-input-channels": "true",
            "classify.crop-size": "224",
        }
    )
    assert config.preprocessing == Preprocessing(
        channel_order="BGR", layout="NHWC", mean=(103.94, 116.78, 123.68), scale=None, crop_size=224
    )
    assert config.preprocessing.mean == pytest.approx(presets.CAFFE_MEAN_BGR, abs=0.01)


def test_reverse_input_channels_reverses_order_mean_and_scale():
    config = load_config({"classify.model": "efficientnet_lite0", "classify.mean-values": "1,2,3",
                          "classify.scale-values": "4,5,6", "classify.reverse-input-channels": "true"})
    assert config.preprocessing.channel_order == "BGR"
    assert (config.preprocessing.mean, config.preprocessing.scale) == ((3.0, 2.0, 1.0), (6.0, 5.0, 4.0))
    assert load_config({"classify.channel-order": "RGB", "classify.reverse-input-channels": "true"}
                       ).preprocessing.channel_order == "BGR"


def test_single_mean_value():
    assert load_config({"classify.mean-values": "127.5"}).preprocessing.mean == (127.5,)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"classify.mean-values": "abc"}, "classify.mean-values: expected 1 or 3 comma-separated numbers, got 'abc'"),
        ({"classify.mean-values": "1,2"}, "classify.mean-values: expected 1 or 3 comma-separated numbers, got '1,2'"),
        ({"classify.scale-values": "1,0,1"}, "classify.scale-values: expected non-zero numbers, got '1,0,1'"),
        ({"classify.model": "resnet99"}, "classify.model: expected one of resnet50, resnet50_onnx, mobilenet_v2_quant, efficientnet_lite0, got 'resnet99'"),
        ({"classify.top-k": "five"}, "classify.top-k: expected an integer, got 'five'"),
        ({"classify.top-k": "0"}, "classify.top-k: expected an integer >= 1, got '0'"),
        ({"classify.infer-requests": "-1"}, "classify.infer-requests: expected an integer >= 0, got '-1'"),
        ({"classify.batch-size": "-1"}, "classify.batch-size: expected an integer >= 0, got '-1'"),
        ({"classify.decode-threads": "0"}, "classify.decode-threads: expected an integer >= 1, got '0'"),
        ({"classify.precision": "int4"}, "classify.precision: expected one of auto, f32, bf16, f16, int8, got 'int4'"),
        ({"classify.model": "mobilenet_v2_quant", "classify.precision": "int8"},
         "classify.precision: expected a precision offered for preset 'mobilenet_v2_quant' (int8: efficientnet_lite0, "
         "resnet50), got 'int8'"),
        ({"classify.reverse-input-channels": "yes"}, "classify.reverse-input-channels: expected true or false, got 'yes'"),
        ({"classify.layout": "CHW"}, "classify.layout: expected one of NCHW, NHWC, got 'CHW'"),
        ({"classify.crop-size": "300"}, "classify.crop-size: expected <= classify.resize-size (256), got '300'"),
    ],
)
def test_bad_values(params, message):
    with pytest.raises(ValueError) as error:
        load_config(params)
    assert str(error.value) == message


def test_unknown_key_suggests_closest():
    with pytest.raises(ValueError, match=r"^classify\.top_k: unknown option; did you mean 'classify\.top-k'\?"):
        load_config({"classify.top_k": "3"})


def test_unknown_preset_via_registry():
    with pytest.raises(ValueError, match="unknown model preset 'nope'; valid presets: efficientnet_lite0, mobilenet_v2_quant, resnet50"):
        get_preset("nope")


def test_markdown_lists_every_option():
    table = options_markdown()
    assert table.startswith("| Key | Type | Default | Description |")
    for option in OPTIONS:
        assert f"| `{option.key}` |" in table
    assert len(table.splitlines()) == len(OPTIONS) + 2


def test_readme_option_table_is_current():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert options_markdown() in readme, "README.md: paste the output of `python -m udfs.config`"
