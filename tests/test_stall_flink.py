"""A stuck classify call inside real Flink jobs: the job fails naming the stage (batch), and the
runner's progress says that nothing is being classified while rows wait (streaming).

The jobs run on the embedded MiniCluster, whose Python workers run in this process (PyFlink's
loopback mode): the test makes one image's decoding block by patching ``decode_image``, the
seam the classifier calls for every row."""

from __future__ import annotations

import io
import threading
import time

import pytest

import udfs.classifier
from udfs import settings
from udfs.catalog import create_images_table
from udfs.progress import JobProgress, stop_job
from udfs.sql import run_files
from udfs.sql_script import ScriptError

from conftest import REPO, model_options, needs_shared

pytestmark = [pytest.mark.flink, needs_shared]

SAMPLES = REPO / "samples" / "images"
STUCK = b"stuck: this file never finishes decoding"


@pytest.fixture
def stuck_decoding(monkeypatch):
    """Decoding STUCK blocks until the test ends; everything else decodes as usual."""
    release = threading.Event()
    decode = udfs.classifier.decode_image

    def decode_or_block(data, *args):
        if data == STUCK:
            release.wait()
        return decode(data, *args)

    monkeypatch.setattr(udfs.classifier, "decode_image", decode_or_block)
    yield
    release.set()


def images_folder(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("hot_dog.jpg", "owl.jpg"):
        (folder / name).write_bytes((SAMPLES / name).read_bytes())
    (folder / "stuck.jpg").write_bytes(STUCK)
    return folder


def test_a_stuck_call_fails_the_job_naming_its_stage(tmp_path, stuck_decoding):
    t_env = settings.configure(settings.table_environment("batch"), overrides={
        **model_options("mobilenet_v2_quant"), "classify.call-timeout": "3 s", "restart-strategy.type": "none",
        "parallelism.default": "1"})
    create_images_table(t_env, images_folder(tmp_path))
    script = tmp_path / "classify.sql"
    script.write_text("SELECT name, classify_resnet50(image).label FROM images;\n")
    started = time.monotonic()
    with pytest.raises(ScriptError) as failed:
        run_files(t_env, [script], {})
    message = str(failed.value)
    assert "classify call made no progress for" in message and "classify.call-timeout = 3 s" in message, message
    assert "while decoding and resizing image" in message, message
    assert time.monotonic() - started < 120


def test_streaming_progress_says_when_nothing_is_classified_while_rows_wait(tmp_path, stuck_decoding):
    t_env = settings.configure(settings.table_environment("streaming"), overrides={
        **model_options("mobilenet_v2_quant"), "classify.call-timeout": "0", "parallelism.default": "1"})
    create_images_table(t_env, images_folder(tmp_path), monitor_interval="1 s")
    t_env.execute_sql("CREATE TEMPORARY TABLE sink (label STRING) WITH ('connector' = 'blackhole')")
    job = t_env.execute_sql("INSERT INTO sink SELECT classify_resnet50(image).label FROM images").get_job_client()
    stream = io.StringIO()
    try:
        with JobProgress(t_env, job, show=False, stream=stream, poll_interval=0.5, stall_notice=5):
            deadline = time.monotonic() + 180
            while "No image classified" not in stream.getvalue():
                assert time.monotonic() < deadline, f"no stall notice: {stream.getvalue()!r}"
                time.sleep(0.5)
    finally:
        assert stop_job(job, grace=60)
    notice = stream.getvalue()
    assert "rows wait for the classifier" in notice and "classify.call-timeout" in notice, notice
    assert notice.count("No image classified") == 1, "said once per stall"
