"""The ``openvino`` model provider (Java): CREATE MODEL + ML_PREDICT through real Flink jobs.

Parity with the pandas UDF on the 500 shared photos for every preset, crops byte-identical to
OpenCV's, the hostile-input corpus (one row per file, errors not failures), two jobs in one JVM,
options and schemas refused at plan time, and a standalone-cluster run in which no Python worker
starts.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from py4j.java_gateway import get_field
from py4j.protocol import Py4JJavaError
from pyflink.java_gateway import get_gateway
from pyflink.table import EnvironmentSettings, TableEnvironment

from udfs import settings
from udfs.catalog import create_images_table
from udfs.config import OPTIONS
from udfs.jars import provider_jar_path
from udfs.model_provider import MODEL_OUTPUT_COLUMNS, create_classifier_model, provider_options
from udfs.preset_data import preset_document
from udfs.presets import get_preset

from conftest import REPO, SHARED, imagenet_truth, model_options, needs_shared, subprocess_env
from corpus import build_corpus, corpus_files, scan_bomb_jpeg
from test_classify_flink import F32, MOBILENET, classify_folder, top1_top5

IMAGENET_DEV = SHARED / "images" / "imagenet-dev"
PHOTOS = SHARED / "images" / "photos"
SQL = REPO / "sql"

PREDICT = """
SELECT name, label, class_id, probability, top_class_ids, top_probabilities, error
FROM ML_PREDICT(TABLE images, MODEL image_classifier, DESCRIPTOR(image){config})
"""


def predict_folder(folder: Path, options: dict[str, str], runtime: dict[str, str] | None = None,
                   **table_options) -> dict[str, tuple]:
    """ML_PREDICT over ``folder`` as a Flink batch job; ``options`` are classify.* options, given
    to the model under its provider keys; ``runtime`` is ML_PREDICT's config map. File name ->
    (label, class_id, probability, top_class_ids, top_probabilities, error)."""
    t_env = settings.configure(TableEnvironment.create(EnvironmentSettings.in_batch_mode()))
    create_images_table(t_env, folder, **table_options)
    create_classifier_model(t_env, provider_options(options))
    config = ""
    if runtime:
        config = ", MAP[" + ", ".join(f"'{k}', '{v}'" for k, v in runtime.items()) + "]"
    with t_env.execute_sql(PREDICT.format(config=config)).collect() as rows:
        result = [tuple(row) for row in rows]
    by_name = {row[0]: row[1:] for row in result}
    assert len(by_name) == len(result), "one row per file"
    return by_name


def plan_error(options: dict[str, str], output: str = MODEL_OUTPUT_COLUMNS, image_type: str = "BYTES") -> str:
    """The message of the error planning ML_PREDICT over a model declared with these parts (its
    INPUT column ``image`` is the images table's file name if ``image_type`` is STRING)."""
    t_env = settings.configure(TableEnvironment.create(EnvironmentSettings.in_batch_mode()))
    create_images_table(t_env, PHOTOS)
    create_classifier_model(t_env)  # adds the jar
    image = "name" if image_type == "STRING" else "image"
    t_env.execute_sql(f"CREATE TEMPORARY VIEW inputs AS SELECT {image} AS image FROM images")
    with_clause = ", ".join(f"'{k}' = '{v}'" for k, v in {"provider": "openvino", **options}.items())
    t_env.execute_sql(f"CREATE TEMPORARY MODEL bad INPUT (image {image_type}) OUTPUT ({output}) WITH ({with_clause})")
    with pytest.raises(Exception) as failure:
        t_env.explain_sql("SELECT * FROM ML_PREDICT(TABLE inputs, MODEL bad, DESCRIPTOR(image))")
    return str(failure.value)


# --- one source of truth -------------------------------------------------------------------------


def test_provider_options_are_the_classify_options_without_prefix():
    options = {"classify.model": "efficientnet_lite0", "classify.top-k": "3", "classify.decode-threads": "2",
               "classify.embedding": "false",
               "parallelism.default": "2"}
    assert provider_options(options) == {"model": "efficientnet_lite0", "top-k": "3"}


@pytest.mark.flink
def test_jar_carries_the_presets_and_natives_and_accepts_every_shared_option():
    with zipfile.ZipFile(provider_jar_path()) as jar:
        names = set(jar.namelist())
        assert json.loads(jar.read("dev/flinkimageudfs/model/presets.json")) == json.loads(json.dumps(preset_document()))
        lines = jar.read("dev/flinkimageudfs/model/native/linux-x86-64/MANIFEST").decode().splitlines()
        sums = dict(reversed(line.split()) for line in lines[1:])  # file name -> SHA-256
        for name, sha256 in sums.items():
            assert hashlib.sha256(jar.read(f"dev/flinkimageudfs/model/native/linux-x86-64/{name}")).hexdigest() == sha256
    assert {"com/sun/jna/linux-x86-64/libjnidispatch.so", "META-INF/services/org.apache.flink.table.factories.Factory"} <= names
    assert any(name.startswith("libopenvino_c.so") for name in sums)
    assert {"libopenvino_intel_cpu_plugin.so", "libturbojpeg.so.0"} <= set(sums)

    t_env = settings.configure(TableEnvironment.create(EnvironmentSettings.in_batch_mode()))
    create_classifier_model(t_env)  # puts the jar on the gateway's class path
    factory = get_gateway().jvm.dev.flinkimageudfs.model.OpenVinoModelProviderFactory()
    accepted = {option.key() for option in factory.optionalOptions()}
    shared = {option.key.removeprefix("classify.") for option in OPTIONS}
    # decode-threads: the provider decodes in the task threads (sync) or before batching (async);
    # call-timeout: the Python worker's stall guard (ML_PREDICT has its async timeout);
    # embedding: the provider gives it when OUTPUT lists the column
    assert shared - accepted == {"decode-threads", "call-timeout", "embedding"}
    assert accepted - shared == {"library-path"}
    deprecated = {(option.key(), fallback.getKey()) for option in factory.optionalOptions()
                  for fallback in option.fallbackKeys() if fallback.isDeprecated()}
    assert deprecated == {("model", "preset")}


# --- decoding and cropping: the same pixels as OpenCV -----------------------------------------------


@needs_shared
@pytest.mark.slow
@pytest.mark.flink
def test_java_crops_equal_opencv_crops(tmp_path, measured):
    """Decode + resize + crop in Java (TurboJPEG, javax.imageio) against udfs.preprocess (OpenCV)
    on every shared photo and every decodable corpus file: byte-identical for the presets' policy;
    the other two policies (within 1) on every fifth dev photo, the photos and the corpus."""
    from py4j.protocol import Py4JJavaError

    from udfs.presets import Preprocessing
    from udfs.preprocess import ImageDecodeError, decode_image, needed_shorter_side, resize_and_crop

    from golden import OPENCV_ONLY

    t_env = settings.configure(TableEnvironment.create(EnvironmentSettings.in_batch_mode()))
    create_classifier_model(t_env)
    jvm = get_gateway().jvm
    decoder = jvm.dev.flinkimageudfs.model.image.ImageDecoder()
    expectations = build_corpus(tmp_path)
    dev_photos = sorted(IMAGENET_DEV.glob("*.JPEG"))
    others = sorted(PHOTOS.iterdir()) + sorted(tmp_path.iterdir())
    for policy, tolerance, dev_sample in [("resize-shorter-side-then-crop", 0, dev_photos),
                                          ("center-crop", 1, dev_photos[::5]), ("stretch", 1, dev_photos[::5])]:
        files = dev_sample + others
        preprocessing = Preprocessing(resize_policy=policy)
        java_preprocessing = jvm.dev.flinkimageudfs.model.preset.Preprocessing(256, 224, policy, "linear", "RGB", "NCHW", None, None)
        min_side = needed_shorter_side(preprocessing) or 0
        compared, identical = 0, 0
        for file in files:
            data = file.read_bytes()
            refused = {}
            try:
                expected = resize_and_crop(decode_image(data, 50_000_000, None, min_side or None), preprocessing)
            except ImageDecodeError as error:
                refused["OpenCV"] = error
            try:
                decoded = decoder.decode(data, 50_000_000, 1 << 30, min_side)
            except Py4JJavaError as error:
                refused["Java"] = error.java_exception.getMessage()
            if refused:  # only where the corpus expects an error (its tests check which): never a shared photo
                expectation = expectations.get(file.name)
                may_fail = expectation is not None and (expectation.expected_error(through_table=False) is not None
                                                        or file.name in OPENCV_ONLY)
                assert may_fail, f"{policy}: {file} refused by {refused}"
                continue
            crop = jvm.dev.flinkimageudfs.model.image.ResizeAndCrop.apply(decoded, java_preprocessing)
            actual = np.frombuffer(bytes(crop), np.uint8).reshape(expected.shape)
            difference = np.abs(actual.astype(int) - expected.astype(int)).max()
            assert difference <= tolerance, (policy, file.name, difference)
            compared += 1
            identical += difference == 0
        measured(f"{policy}: {identical} of {compared} crops byte-identical")
        assert compared >= len(dev_sample) + 30 and identical >= 0.9 * compared
    decoder.close()


# --- parity with the pandas UDF ---------------------------------------------------------------------


PRESETS = ["mobilenet_v2_quant", "efficientnet_lite0", "resnet50", "resnet50_onnx"]


@needs_shared
@pytest.mark.slow
@pytest.mark.flink
@pytest.mark.parametrize("preset", PRESETS)
def test_parity_with_the_pandas_udf_on_500_photos(preset, request, tmp_path, measured):
    """Both paths over the 500 dev photos, each held to the preset's published accuracy; the
    constant-weight resnet50_onnx graph (speed only, no accuracy to hold) on 100 of them."""
    path = request.getfixturevalue("resnet50_model") if preset == "resnet50" else None
    options = model_options(preset, path) | F32
    folder, count = IMAGENET_DEV, 500
    if preset == "resnet50_onnx":
        folder, count = tmp_path / "dev100", 100
        folder.mkdir()
        for photo in sorted(IMAGENET_DEV.glob("*.JPEG"))[:count]:
            shutil.copyfile(photo, folder / photo.name)
    started = time.perf_counter()
    python = classify_folder(folder, options)
    python_seconds = time.perf_counter() - started
    started = time.perf_counter()
    java = predict_folder(folder, options, runtime={"max-concurrent-operations": "16"})
    java_seconds = time.perf_counter() - started
    assert sorted(java) == sorted(python) and len(java) == count
    assert all(row[-1] is None for row in java.values())
    same_class = sum(java[name][1] == python[name][1] for name in python) / len(python)
    same_top_k = sum(list(java[name][3]) == list(python[name][3]) for name in python) / len(python)
    probability_gap = max(abs(java[name][2] - python[name][2]) for name in python)
    (java_top1, java_top5), (python_top1, python_top5) = top1_top5(java), top1_top5(python)
    measured(f"[{preset} f32] same top-1 class {same_class:.3f}, same top-k ids {same_top_k:.3f}, largest top-1 probability gap "
             f"{probability_gap:.2e}; top-1/top-5 Java {java_top1:.3f}/{java_top5:.3f} "
             f"({java_seconds:.1f} s), pandas UDF {python_top1:.3f}/{python_top5:.3f} ({python_seconds:.1f} s)")
    assert same_class >= 0.99 and same_top_k >= 0.95
    assert abs(java_top1 - python_top1) <= 0.005
    meta = get_preset(preset).meta  # the shared resnet50_onnx graph has constant weights: no reference
    if "dev_top1" in meta:
        for top1, top5 in [(java_top1, java_top5), (python_top1, python_top5)]:
            assert top1 == pytest.approx(meta["dev_top1"], abs=0.01)
            assert top5 == pytest.approx(meta["dev_top5"], abs=0.01)


@needs_shared
@pytest.mark.flink
def test_sync_and_async_give_the_same_rows():
    options = MOBILENET | F32
    async_rows = predict_folder(PHOTOS, options)  # async is ML_PREDICT's default for this provider
    sync_rows = predict_folder(PHOTOS, options, runtime={"async": "false"})
    assert sorted(sync_rows) == sorted(async_rows)
    for name, row in sync_rows.items():
        other = async_rows[name]
        assert (row[0], row[1], row[3], row[5]) == (other[0], other[1], other[3], other[5]), name
        if row[2] is not None:
            assert row[2] == pytest.approx(other[2], abs=1e-4), name


# --- hostile input --------------------------------------------------------------------------------

# The hostile corpus through ML_PREDICT (async and sync) and through the UDF, with one table of
# expectations: tests/test_golden.py.


@pytest.mark.flink
def test_java_decoder_refuses_a_scan_bomb_before_it_costs_time(measured):
    """A scan bomb like test_hostile_input's through the provider's decoder (TurboJPEG):
    refused by the marker walk at once; with the limit lifted (TJFLAG_LIMITSCANS off too) every
    scan is applied."""
    t_env = settings.configure(TableEnvironment.create(EnvironmentSettings.in_batch_mode()))
    create_classifier_model(t_env)  # puts the jar on the gateway's class path
    jvm = get_gateway().jvm
    decoder = jvm.dev.flinkimageudfs.model.image.ImageDecoder()
    decoder.decode(corpus_files()["exif6.jpg"][0], 50_000_000, 1 << 30, 500, 0)  # loads TurboJPEG
    bomb = scan_bomb_jpeg(1024, 1024, 600)  # larger than the Python test's: a py4j call costs ~30 ms
    timings = {}
    for limit in (500, 10**6):
        started = time.perf_counter()
        try:
            decoded = decoder.decode(bomb, 50_000_000, 1 << 30, limit, 0)
            outcome = f"{get_field(decoded, 'width')}x{get_field(decoded, 'height')}"
        except Py4JJavaError as error:
            outcome = error.java_exception.getMessage()
        timings[limit] = (time.perf_counter() - started, outcome)
    decoder.close()
    measured(f"[scan bomb in Java] refused in {timings[500][0] * 1000:.1f} ms, decoded with the limit lifted in "
             f"{timings[10**6][0] * 1000:.0f} ms ({timings[10**6][1]})")
    assert "too many scans: JPEG with more than 500 scans > max 500" in timings[500][1]
    assert timings[10**6][1] == "1024x1024"
    assert timings[10**6][0] > 10 * timings[500][0]


# --- one JVM, several jobs ------------------------------------------------------------------------


@needs_shared
@pytest.mark.flink
def test_two_jobs_in_one_jvm():
    """Every job gets its own class loader, so JNA and the provider load twice in one JVM (the
    second must not trip over the native libraries the first one loaded)."""
    first = predict_folder(PHOTOS, MOBILENET)
    jvm = get_gateway().jvm
    pid = jvm.ProcessHandle.current().pid()
    second = predict_folder(PHOTOS, MOBILENET, runtime={"async": "false"})
    third = predict_folder(PHOTOS, MOBILENET)
    assert jvm.ProcessHandle.current().pid() == pid
    assert {n: r[1] for n, r in first.items()} == {n: r[1] for n, r in second.items()} == {n: r[1] for n, r in third.items()}


# --- the model option and its old name -------------------------------------------------------------


def log_written_during(job) -> str:
    """What this process's Flink gateway (the client, where CREATE MODEL is planned) logged while
    ``job()`` ran."""
    log = Path(get_gateway().jvm.System.getProperty("log.file"))
    start = log.stat().st_size if log.exists() else 0
    job()
    with log.open("rb") as file:
        file.seek(start)
        return file.read().decode(errors="replace")


@needs_shared
@pytest.mark.flink
def test_model_option_and_its_deprecated_name_preset(tmp_path):
    """'model' selects the preset; 'preset', its old name, still does, and logs a warning naming
    'model'. 24 imagenet-dev photos: a job that ignored the key would run the default preset
    (resnet50's labels and preprocessing) on MobileNet's file, far from MobileNet's accuracy."""
    images = tmp_path / "images"
    images.mkdir()
    for file in sorted(IMAGENET_DEV.glob("*.JPEG"))[::20][:24]:
        (images / file.name).write_bytes(file.read_bytes())
    truth = imagenet_truth()
    options = provider_options(MOBILENET)
    assert options["model"] == "mobilenet_v2_quant" and options["model-path"]
    old_options = {("preset" if key == "model" else key): value for key, value in options.items()}
    runs = {}

    def predict(name: str, model_options: dict[str, str]) -> None:
        t_env = settings.configure(TableEnvironment.create(EnvironmentSettings.in_batch_mode()))
        create_images_table(t_env, images)
        create_classifier_model(t_env, model_options)
        with t_env.execute_sql(PREDICT.format(config="")).collect() as rows:
            runs[name] = {row[0]: tuple(row)[1:] for row in rows}

    logs = {name: log_written_during(lambda: predict(name, given))
            for name, given in (("model", options), ("preset", old_options))}
    warning = "option 'preset' of model provider 'openvino' is deprecated, write 'model' instead"
    assert warning in logs["preset"]
    assert "image_classifier" in logs["preset"].split(warning)[0].splitlines()[-1], "names the model"
    assert warning not in logs["model"]
    assert runs["model"] == runs["preset"] and len(runs["model"]) == 24
    top1 = sum(row[1] == truth[name] for name, row in runs["model"].items()) / 24
    assert top1 >= 0.5, f"top-1 {top1:.2f} on 24 imagenet-dev photos: not MobileNet's ~0.7"


# --- bad configuration, refused at plan time -------------------------------------------------------


@pytest.mark.flink
@pytest.mark.parametrize(
    "options, message",
    [
        ({"top-kk": "3"}, "Unsupported options found for 'openvino'"),
        ({"top-k": "0"}, "Invalid value for option 'top-k' of model provider 'openvino': expected an integer >= 1, got '0'"),
        ({"top-k": "many"}, "Could not parse value 'many' for key 'top-k'"),
        ({"model": "resnet5"}, "Invalid value for option 'model' of model provider 'openvino': expected one of resnet50, "),
        ({"preset": "resnet5"}, "Invalid value for option 'model' of model provider 'openvino': expected one of resnet50, "),
        ({"precision": "int4"}, "Invalid value for option 'precision' of model provider 'openvino': expected one of auto, f32, bf16, f16, int8, got 'int4'"),
        ({"model": "mobilenet_v2_quant", "precision": "int8"},
         "Invalid value for option 'precision' of model provider 'openvino': expected a precision offered for preset "
         "'mobilenet_v2_quant' (int8: efficientnet_lite0, resnet50), got 'int8'"),
        ({"crop-size": "300"}, "Invalid value for option 'crop-size' of model provider 'openvino': expected <= resize-size (256), got '300'"),
        ({"mean-values": "1,2"}, "Invalid value for option 'mean-values' of model provider 'openvino': expected 1 or 3 comma-separated numbers, got '1,2'"),
    ],
)
def test_bad_option_fails_at_plan_time_naming_it(options, message):
    error = plan_error(options)
    assert message in error
    if "Unsupported" in message:
        assert "top-kk" in error


@pytest.mark.flink
@pytest.mark.parametrize(
    "output, image_type, message",
    [
        ("label INT", "BYTES", "OUTPUT column 'label' must be STRING"),
        ("label STRING NOT NULL", "BYTES", "OUTPUT column 'label' must be STRING (nullable"),
        ("labels STRING", "BYTES", "has no output column 'labels'; OUTPUT takes any of: label STRING, class_id INT"),
        ("label STRING", "STRING", "takes one INPUT column of type BYTES (the encoded image), got INPUT (image STRING)"),
    ],
)
def test_wrong_model_schema_fails_at_plan_time(output, image_type, message):
    assert message in plan_error({}, output, image_type)


@needs_shared
@pytest.mark.flink
def test_a_subset_of_the_output_columns_in_any_order():
    t_env = settings.configure(TableEnvironment.create(EnvironmentSettings.in_batch_mode()))
    create_images_table(t_env, PHOTOS)
    create_classifier_model(t_env)
    options = ", ".join(f"'{k}' = '{v}'" for k, v in provider_options(MOBILENET | {"classify.top-k": "2"}).items())
    t_env.execute_sql(f"CREATE TEMPORARY MODEL short INPUT (image BYTES) OUTPUT (error STRING, top_labels ARRAY<STRING>) "
                      f"WITH ('provider' = 'openvino', {options})")
    with t_env.execute_sql("SELECT name, error, top_labels FROM ML_PREDICT(TABLE images, MODEL short, DESCRIPTOR(image))").collect() as rows:
        rows = [tuple(row) for row in rows]
    assert len(rows) == len(list(PHOTOS.iterdir()))
    assert [row for row in rows if row[1] is not None] == [], "every shared photo is classified"
    assert all(1 <= len(top) <= 2 and all(top) for _, _, top in rows)  # top-k without zero-probability padding
    assert any(len(top) == 2 for _, _, top in rows)


@pytest.mark.flink
def test_missing_model_file_fails_the_job_naming_model_path(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "x.png").write_bytes(corpus_files()["one_pixel.png"][0])
    missing = tmp_path / "no_such_model.tflite"
    with pytest.raises(Exception) as failure:
        predict_folder(images, MOBILENET | {"classify.model-path": str(missing)})
    assert f"model-path: model file not found: '{missing}'" in str(failure.value)


# --- SQL scripts, embedded and on a standalone cluster -----------------------------------------------

MODEL_SCRIPTS = ["-i", str(SQL / "10_images.sql"), "-i", str(SQL / "21_model.sql"), "-i", str(SQL / "29_sinks.sql"), "-f", str(SQL / "31_ml_predict.sql")]
UDF_SCRIPTS = ["-i", str(SQL / "10_images.sql"), "-i", str(SQL / "20_functions.sql"), "-i", str(SQL / "29_sinks.sql"), "-f", str(SQL / "30_classify.sql")]


def read_json_lines(directory: Path) -> dict[str, dict]:
    rows = {}
    for file in sorted(directory.rglob("*")):
        if file.is_file() and not file.name.startswith((".", "_")):
            for line in file.read_text().splitlines():
                row = json.loads(line)
                rows[row["path"]] = row
    return rows


def script_variables(output: Path) -> dict[str, str]:
    return {"IMAGES_DIR": str(PHOTOS), "OUTPUT_DIR": str(output), "MODEL_PRESET": "mobilenet_v2_quant",
            "MODEL_PATH": MOBILENET["classify.model-path"]}


@needs_shared
@pytest.mark.flink
def test_sql_scripts_run_embedded(tmp_path):
    result = subprocess.run([sys.executable, "-m", "udfs.sql", *MODEL_SCRIPTS], cwd=REPO,
                            env=subprocess_env(**script_variables(tmp_path / "out")), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Job Runtime:" in result.stdout
    rows = read_json_lines(tmp_path / "out")
    photos = [p for p in PHOTOS.iterdir() if p.is_file()]
    assert set(rows) == {str(p) for p in photos}
    assert set(rows[str(photos[0])]) == {"path", "label", "class_id", "probability", "top_labels", "top_probabilities", "error"}


@needs_shared
@pytest.mark.flink
def test_an_installed_openvino_instead_of_the_jars_copy(tmp_path):
    """OPENVINO_LIBRARY_PATH (or the model option 'library-path') names an OpenVINO installation's
    library folder: here the openvino wheel's own; a folder without the C API fails the job saying so."""
    import openvino

    installed = Path(openvino.__file__).parent / "libs"

    def run(folder: Path, output: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "udfs.sql", *MODEL_SCRIPTS], cwd=REPO, capture_output=True,
                              text=True, timeout=300,
                              env=subprocess_env(**script_variables(output), OPENVINO_LIBRARY_PATH=str(folder)))

    result = run(installed, tmp_path / "installed")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(read_json_lines(tmp_path / "installed")) == len([p for p in PHOTOS.iterdir() if p.is_file()])
    result = run(tmp_path / "no_openvino_here", tmp_path / "missing")
    assert result.returncode != 0
    assert (f"environment variable OPENVINO_LIBRARY_PATH is '{tmp_path / 'no_openvino_here'}', which holds no "
            "libopenvino_c.so*") in result.stderr


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A cluster of this module's own, stopped when its tests are done."""
    from udfs.cluster import Cluster
    from cluster_jobs import TEST_TASKMANAGER_MEMORY
    from test_cluster import free_port, free_port_range

    cluster = Cluster(tmp_path_factory.mktemp("flink-cluster"), base_env=subprocess_env())
    try:
        cluster.start(port=free_port(), timeout=180, overrides={
            "jobmanager.rpc.port": str(free_port()), "metrics.reporter.prom.port": free_port_range(2),
            **TEST_TASKMANAGER_MEMORY})
        yield cluster
    finally:
        cluster.stop()


def run_watching_python_workers(cluster, args: list[str], variables: dict[str, str]) -> tuple[str, set[int]]:
    """Submit a job; while it runs, note every Python UDF worker process of the cluster."""
    jvm_kinds = ("StandaloneSessionClusterEntrypoint", "TaskManagerRunner")
    workers: set[int] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            workers.update(pid for pid, kind in cluster.processes().items() if kind not in jvm_kinds)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = subprocess.run(cluster.submit_command(args), env={**cluster.env(), **variables},
                                capture_output=True, text=True, timeout=400)
    finally:
        done.set()
        watcher.join()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout, workers


@needs_shared
@pytest.mark.slow
@pytest.mark.flink
def test_cluster_runs_ml_predict_without_python_workers(cluster, tmp_path, measured):
    """Two ML_PREDICT jobs on the same TaskManager (JVM), then the pandas UDF job as a control: the
    watcher sees its Python worker, and none during the ML_PREDICT jobs."""
    outputs = [tmp_path / "first", tmp_path / "second"]
    seen = []
    for output in outputs:
        _, workers = run_watching_python_workers(cluster, MODEL_SCRIPTS, script_variables(output))
        seen.append(workers)
    taskmanagers = cluster.taskmanager_pids()
    _, udf_workers = run_watching_python_workers(cluster, ["-i", str(write_udf_settings(tmp_path)), *UDF_SCRIPTS],
                                                 script_variables(tmp_path / "udf"))
    assert cluster.taskmanager_pids() == taskmanagers, "one TaskManager JVM ran every job"
    measured(f"[cluster] Python workers seen: ML_PREDICT jobs {[len(w) for w in seen]}, pandas UDF job {len(udf_workers)}")
    assert seen == [set(), set()]
    assert udf_workers, "the watcher sees Python workers when there are some"
    first, second, udf = (read_json_lines(out) for out in [*outputs, tmp_path / "udf"])
    assert len(first) == len([p for p in PHOTOS.iterdir() if p.is_file()])
    assert first == second
    for path, row in udf.items():
        assert (first[path]["class_id"], first[path]["error"] is None) == (row["class_id"], row["error"] is None), path


def write_udf_settings(tmp_path: Path) -> Path:
    path = tmp_path / "00_udf.sql"
    path.write_text("".join(f"SET '{k}' = '{v}';\n" for k, v in MOBILENET.items()))
    return path
