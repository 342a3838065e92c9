"""classify.precision resolved: the rule of 'auto' (candidates from CPU features, one cached
measurement, fastest unless a more precise one is within the margin), 'int8' naming the command
that makes the model, and the Java provider sharing the rule and the cache file.

The models here are tiny (8 x 8 crops, 10 classes) so measuring is quick; the ResNet-50 INT8 model
and its accuracy are tested in test_int8.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from udfs import precision
from udfs.config import load_config
from udfs.models import int8_model_path
from udfs.precision import CpuInfo, candidate_precisions, choose_precision, fastest, preferred_unmeasured, read_cpu_info

CROP = 8
AMD_EPYC = CpuInfo("AMD EPYC", ("avx2", "avx512f", "avx512_bf16", "avx512_vnni"), ("BF16", "FP32", "INT8"))
SAPPHIRE_RAPIDS = CpuInfo("Intel Xeon", ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8"),
                          ("BF16", "FP32", "INT8"))
AVX2_ONLY = CpuInfo("Intel Core", ("avx2",), ("FP32", "INT8"))


def tiny_model(folder: Path, seed: int = 0) -> Path:
    """A 10-class linear classifier of 8 x 8 RGB crops, saved as IR."""
    image = ops.parameter([1, 3, CROP, CROP], np.float32, name="image")
    weights = np.random.default_rng(seed).normal(0, 0.05, (3 * CROP * CROP, 10)).astype(np.float32)
    scores = ops.matmul(ops.reshape(image, [-1, 3 * CROP * CROP], special_zero=False), weights, False, False)
    folder.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.Model([scores], [image], "tiny"), folder / "model.xml", compress_to_fp16=False)
    return folder / "model.xml"


@pytest.fixture
def tiny(tmp_path) -> dict[str, str]:
    """classify.* options of a tiny float model with an 'INT8 model' beside it (a second tiny float
    model: what 'auto' measures and caches is under test here, not quantization)."""
    model = tiny_model(tmp_path / "models")
    tiny_model(int8_model_path(model).parent, seed=1)
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"class{i}\n" for i in range(10)))
    return {"classify.model": "efficientnet_lite0", "classify.model-path": str(model),
            "classify.labels-path": str(labels), "classify.crop-size": str(CROP), "classify.resize-size": str(CROP),
            "classify.cache-dir": str(tmp_path / "cache")}


@pytest.fixture(autouse=True)
def quick_measurement(monkeypatch):
    monkeypatch.setattr(precision, "MEASURE_SECONDS", 0.05)


# --- the rule -------------------------------------------------------------------------------------


def test_fastest_wins_unless_a_more_precise_one_is_within_the_margin():
    assert fastest({"f32": 25.6, "bf16": 43.5, "int8": 73.9}) == "int8"
    assert fastest({"f32": 100.0, "bf16": 104.0}) == "f32"  # 4 % faster: not worth bf16
    assert fastest({"f32": 30.0, "bf16": 217.4, "int8": 165.9}) == "bf16"  # AMX: bf16 beats int8
    assert fastest({"f32": 30.0, "bf16": 60.0, "int8": 62.0}) == "bf16"


def test_candidates_follow_the_cpu_features():
    assert candidate_precisions(AMD_EPYC, int8_available=True) == ["f32", "bf16", "int8"]
    assert candidate_precisions(AMD_EPYC, int8_available=False) == ["f32", "bf16"]
    assert candidate_precisions(AVX2_ONLY, int8_available=True) == ["f32"]  # no VNNI, no native bf16
    assert candidate_precisions(SAPPHIRE_RAPIDS, int8_available=True) == ["f32", "bf16", "int8"]
    # without a measurement: int8 where it is a candidate (faster with and without AMX), else bf16
    assert preferred_unmeasured(["f32", "bf16", "int8"]) == "int8"
    assert preferred_unmeasured(["f32", "bf16"]) == "bf16"
    assert preferred_unmeasured(["f32"]) == "f32"


def test_cpu_flags_come_from_cpuinfo():
    cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni sse\n"
    cpu = read_cpu_info(cpuinfo)
    assert (cpu.model, cpu.flags) == ("AMD EPYC", ("avx2", "avx512f", "avx512_bf16", "avx512_vnni"))
    assert cpu.has_vnni and not cpu.has_amx and "FP32" in cpu.capabilities


# --- auto: measured once, cached, logged ------------------------------------------------------------


def test_auto_measures_once_then_reads_the_cache_and_logs_its_choice(tiny, caplog, monkeypatch):
    config = load_config(tiny)
    cpu = read_cpu_info()
    candidates = candidate_precisions(cpu, int8_available=True)
    with caplog.at_level(logging.INFO, logger="udfs.precision"):
        choice = choose_precision(config)
    if len(candidates) == 1:  # a CPU without BF16 or VNNI: nothing to measure
        assert choice.precision == "f32" and "chose f32" in caplog.text and "the only candidate" in caplog.text
        assert not list(Path(tiny["classify.cache-dir"]).glob("precision-*.json"))
        return
    (cache_file,) = Path(tiny["classify.cache-dir"]).glob("precision-*.json")
    cached = json.loads(cache_file.read_text())
    assert sorted(cached["images_per_s"]) == sorted(candidates)
    assert cached["choice"] == choice.precision == fastest(cached["images_per_s"])
    assert f"classify.precision = 'auto' chose {choice.precision} on {cpu.model}" in caplog.text
    assert f"(measured now, cached in {cache_file})" in caplog.text
    assert choice.model_path == (int8_model_path(Path(tiny["classify.model-path"])) if choice.precision == "int8"
                                 else Path(tiny["classify.model-path"]))

    caplog.clear()
    monkeypatch.setattr(precision, "measure", lambda *args: pytest.fail("measured again"))
    with caplog.at_level(logging.INFO, logger="udfs.precision"):
        again = choose_precision(config)
    assert again.precision == choice.precision
    assert f"(cached in {cache_file})" in caplog.text


def test_auto_measures_again_when_the_int8_model_appears(tiny, monkeypatch):
    int8 = int8_model_path(Path(tiny["classify.model-path"]))
    for file in int8.parent.iterdir():
        file.unlink()
    monkeypatch.setattr(precision, "_cpu_info", lambda: AMD_EPYC)
    assert choose_precision(load_config(tiny)).precision in ("f32", "bf16")
    tiny_model(int8.parent, seed=1)
    seen = []
    monkeypatch.setattr(precision, "measure", lambda config, models: seen.append(sorted(models)) or {"f32": 1.0, "bf16": 2.0, "int8": 4.0})
    assert choose_precision(load_config(tiny)).precision == "int8"
    assert seen == [["bf16", "f32", "int8"]]
    assert len(list(Path(tiny["classify.cache-dir"]).glob("precision-*.json"))) == 2


def test_auto_without_cache_dir_decides_by_cpu_features(tiny, caplog, monkeypatch):
    monkeypatch.setattr(precision, "_cpu_info", lambda: AMD_EPYC)
    monkeypatch.setattr(precision, "measure", lambda *args: pytest.fail("measured without a cache"))
    with caplog.at_level(logging.INFO, logger="udfs.precision"):
        choice = choose_precision(load_config(tiny | {"classify.cache-dir": ""}))
    assert (choice.precision, choice.hint) == ("int8", None)
    assert "chose int8 on AMD EPYC (avx2, avx512f, avx512_bf16, avx512_vnni; no AMX): by CPU features alone" in caplog.text


def test_explicit_precisions_are_taken_as_given(tiny):
    for name in ("f32", "bf16"):
        choice = choose_precision(load_config(tiny | {"classify.precision": name}))
        assert (choice.precision, choice.hint, choice.model_path) == (name, name, Path(tiny["classify.model-path"]))
    choice = choose_precision(load_config(tiny | {"classify.precision": "int8"}))
    assert (choice.hint, choice.model_path) == (None, int8_model_path(Path(tiny["classify.model-path"])))


def test_int8_without_the_model_names_the_command(tmp_path):
    model = tiny_model(tmp_path)
    options = {"classify.model": "efficientnet_lite0", "classify.model-path": str(model), "classify.precision": "int8"}
    with pytest.raises(ValueError) as error:
        choose_precision(load_config(options))
    assert str(error.value) == (
        f"classify.precision: 'int8' needs the INT8 model of {model}, expected at {tmp_path / 'model-int8' / 'model.xml'}; "
        f"make it with `python -m udfs.models quantize efficientnet_lite0 --calibration DIR --model-path {model}` "
        "(DIR: a few hundred of your images)")


# --- the provider: the same rule, the same cache file -------------------------------------------------


def provider_spec(options: dict[str, str]):
    """The ModelSpec the provider's functions compile for these classify.* options (through the
    Java gateway, as a TaskManager resolves it)."""
    from pyflink.java_gateway import get_gateway
    from pyflink.table import EnvironmentSettings, TableEnvironment

    from udfs.model_provider import create_classifier_model, provider_options

    create_classifier_model(TableEnvironment.create(EnvironmentSettings.in_batch_mode()))  # the jar on the class path
    jvm = get_gateway().jvm
    configuration = jvm.org.apache.flink.configuration.Configuration()
    for key, value in provider_options(options).items():
        configuration.setString(key, value)
    settings = jvm.dev.flinkimageudfs.model.ClassifierSettings.of(configuration)
    return settings.modelSpec(10, 0, 8)


@pytest.mark.flink
def test_provider_shares_the_rule_and_the_cache_file(tiny, tmp_path):
    # Python measures, the provider reads its choice
    python_choice = choose_precision(load_config(tiny))
    spec = provider_spec(tiny)
    assert spec.precision() == python_choice.precision
    assert spec.modelPath().toString() == str(python_choice.model_path)
    if len(candidate_precisions(read_cpu_info(), True)) > 1:
        (cache_file,) = Path(tiny["classify.cache-dir"]).glob("precision-*.json")
        assert spec.precisionReason().endswith(f"(cached in {cache_file})")

    # the provider measures (a fresh cache), Python reads its choice
    fresh = tiny | {"classify.cache-dir": str(tmp_path / "fresh")}
    spec = provider_spec(fresh)
    reason = spec.precisionReason()
    assert reason.startswith(f"precision 'auto' chose {spec.precision()} on {read_cpu_info().describe()}: ")
    python_choice = choose_precision(load_config(fresh))
    assert python_choice.precision == spec.precision()
    files = list((tmp_path / "fresh").glob("precision-*.json"))
    assert len(files) == (1 if len(candidate_precisions(read_cpu_info(), True)) > 1 else 0)
    if files:
        cached = json.loads(files[0].read_text())
        assert cached["measured_by"] == "openvino model provider (Java)"
        assert cached["choice"] == fastest(cached["images_per_s"]) == spec.precision()
        assert "(measured now, cached in" in reason and "(cached in" in python_choice.reason


@pytest.mark.flink
def test_provider_int8_without_the_model_names_the_command(tmp_path):
    from py4j.protocol import Py4JJavaError

    model = tiny_model(tmp_path)
    with pytest.raises(Py4JJavaError) as error:
        provider_spec({"classify.model": "efficientnet_lite0", "classify.model-path": str(model),
                       "classify.precision": "int8", "classify.crop-size": str(CROP), "classify.resize-size": str(CROP)})
    assert (f"precision: 'int8' needs the INT8 model of {model}, expected at {tmp_path / 'model-int8' / 'model.xml'}; "
            f"make it with `python -m udfs.models quantize efficientnet_lite0 --calibration DIR --model-path {model}`"
            in str(error.value))
