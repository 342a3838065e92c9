"""The golden table (tests/golden.py) through both paths: the pandas UDF job and ML_PREDICT
(async and sync), the same generated files, the same expectations: every file one row, the
expected class or the expected kind of error, nothing else in an error row."""

from __future__ import annotations

import pytest
from pyflink.java_gateway import get_gateway
from pyflink.table import EnvironmentSettings, TableEnvironment

from udfs import settings
from udfs.classifier import load_labels
from udfs.model_provider import create_classifier_model
from udfs.rules import NULL_IMAGE_ERROR

from conftest import model_options, needs_shared
from golden import MODEL, OVERSIZE_TABLE_OPTIONS, golden_cases
from test_classify_flink import F32, classify_folder
from test_model_provider import predict_folder

pytestmark = [pytest.mark.flink, needs_shared]


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    folder = tmp_path_factory.mktemp("golden")
    cases = golden_cases()
    for name, case in cases.items():
        (folder / name).write_bytes(case.data)
    return folder, cases


def check(rows: dict[str, tuple], cases: dict, path: str) -> None:
    assert sorted(rows) == sorted(cases), "rows out = rows in"
    for name, case in sorted(cases.items()):
        label, class_id, probability, top_ids, top_probabilities, error = rows[name]
        expected_label, expected_error = case.expected(path)
        if expected_error is None:
            assert (label, error) == (expected_label, None), f"{path}, {name} ({case.description})"
        else:
            assert error and expected_error in error, f"{path}, {name}: expected {expected_error!r}, got {error!r}"
            assert (label, class_id, probability, top_ids, top_probabilities) == (None,) * 5, f"{path}, {name}"
    assert rows["oversize.jpg"][-1] == NULL_IMAGE_ERROR, "the same text on both paths (udfs.rules)"


@pytest.mark.parametrize("path, runtime", [("udf", None), ("ml_predict", {"async": "true"}),
                                           ("ml_predict", {"async": "false"})], ids=["udf", "ml_predict-async", "ml_predict-sync"])
def test_golden_table(golden, path, runtime, capsys):
    folder, cases = golden
    options = model_options(MODEL) | F32
    if path == "udf":
        rows = classify_folder(folder, options, **OVERSIZE_TABLE_OPTIONS)
    else:
        rows = predict_folder(folder, options, runtime=runtime, **OVERSIZE_TABLE_OPTIONS)
    with capsys.disabled():
        print(f"\n[golden table through {path} {runtime or ''}]")
        for name in sorted(rows):
            print(f"  {name:20} {rows[name][0] or ''!s:18} {rows[name][-1] or ''}")
    check(rows, cases, path)


@pytest.mark.parametrize("text", ["a\nb\n", "a\r\nb\r\n", "a\rb", "a\nb\n\n", "a\n\nb", "a\nb"],
                         ids=["lf", "crlf", "cr", "empty-last-line", "empty-line", "no-final-break"])
def test_labels_files_are_split_alike(tmp_path, text):
    """udfs.rules.split_labels on both sides: the Java provider reads the rule from presets.json."""
    path = tmp_path / "labels.txt"
    path.write_bytes(text.encode())
    t_env = settings.configure(TableEnvironment.create(EnvironmentSettings.in_batch_mode()))
    create_classifier_model(t_env)  # puts the jar on the gateway's class path
    jvm = get_gateway().jvm
    config = jvm.org.apache.flink.configuration.Configuration()
    config.setString("labels-path", str(path))
    java = list(jvm.dev.flinkimageudfs.model.ClassifierSettings.of(config).labels())
    assert java == load_labels(path)
