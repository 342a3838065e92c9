"""The entry points as a user meets them: the SQL runner over sql/, the Table API job and
`./demo.sh --streaming`, run as processes on the embedded MiniCluster, plus the runner's
substitution and failure reports against real Flink jobs."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from udfs import settings
from udfs.sql import run_files
from udfs.sql_script import ScriptError

from conftest import REPO, model_options, needs_shared, subprocess_env

pytestmark = [pytest.mark.flink, needs_shared]

MOBILENET = model_options("mobilenet_v2_quant")
MODEL_ARGS = [arg for key, value in MOBILENET.items() for arg in ("--set", f"{key}={value}")]
SAMPLES = REPO / "samples" / "images"
SCRIPTS = ["-i", "sql/10_images.sql", "-i", "sql/20_functions.sql", "-i", "sql/29_sinks.sql", "-f", "sql/30_classify.sql"]
FINAL_LINE = re.compile(r"^Job Runtime: \d+ ms, (\d+) images, [\d.]+ images/s", re.MULTILINE)
GRPC_LINES = ("absl::InitializeLog", "fork_posix.cc", "Other threads are currently calling into gRPC")


def run_sql_runner(*args: str, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "udfs.sql", *args],
        cwd=REPO, env=subprocess_env(**env), capture_output=True, text=True, timeout=600, **kwargs,
    )


def json_lines(folder: Path) -> list[dict]:
    """Rows of the committed part files (in-progress ones start with '.')."""
    return [json.loads(line) for part in folder.glob("[!.]*") for line in part.read_text().splitlines()]


def test_sql_scripts_print_and_write_json_lines_quietly(tmp_path):
    output = tmp_path / "out"
    result = run_sql_runner(*MODEL_ARGS, *SCRIPTS, env={"IMAGES_DIR": str(SAMPLES), "OUTPUT_DIR": str(output)})
    assert result.returncode == 0, result.stderr[-3000:]
    samples = sorted(p.name for p in SAMPLES.iterdir())
    printed = [line for line in result.stdout.splitlines() if "+I[" in line]
    assert len(printed) == len(samples)
    written = json_lines(output)
    assert sorted(Path(row["path"]).name for row in written) == samples
    by_name = {Path(row["path"]).name: row for row in written}
    assert by_name["hot_dog.jpg"]["label"] == "hotdog" and by_name["hot_dog.jpg"]["error"] is None
    assert all(p > 0 for row in written for p in row["top_probabilities"]), "no 0.0 classes in top-k"
    # the final line, and nothing else on stderr: no progress lines off a terminal, no gRPC start-up lines
    assert [int(n) for n in FINAL_LINE.findall(result.stdout)] == [len(samples)]
    assert "sql/30_classify.sql:" in FINAL_LINE.search(result.stdout).string
    assert not any(marker in result.stderr for marker in GRPC_LINES), result.stderr
    assert "images/s" not in result.stderr and "\r" not in result.stderr


def test_progress_is_redrawn_on_a_terminal(tmp_path):
    """stderr on a pseudo-terminal: the status line counts the 8 sample files and is cleared at the end."""
    leader, follower = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    process = subprocess.Popen(
        [sys.executable, "-m", "udfs.sql", *MODEL_ARGS, *SCRIPTS], cwd=REPO,
        env=subprocess_env(IMAGES_DIR=str(SAMPLES), OUTPUT_DIR=str(tmp_path / "out")),
        stdout=subprocess.PIPE, stderr=follower, text=True,
    )
    os.close(follower)
    stdout, _ = process.communicate(timeout=600)
    reader.join(timeout=10)
    os.close(leader)
    terminal = b"".join(chunks).decode()
    assert process.returncode == 0, terminal[-3000:]
    assert re.search(r"\r\x1b\[K\d/8 images \(\d+%\), \d+ errors", terminal), terminal
    assert terminal.endswith("\r\x1b[K"), "the status line is cleared"
    assert FINAL_LINE.search(stdout)


def test_paths_with_quotes_spaces_and_non_ascii(tmp_path):
    folder = tmp_path / "John's photos – Zoë 写真"
    folder.mkdir()
    for name in ("hot_dog.jpg", "owl.jpg"):
        (folder / name).write_bytes((SAMPLES / name).read_bytes())
    t_env = settings.configure(settings.table_environment("batch"), overrides=MOBILENET)
    run_files(t_env, [REPO / "sql" / "10_images.sql"], {"IMAGES_DIR": str(folder)})
    with t_env.execute_sql("SELECT path FROM images").collect() as rows:
        assert sorted(row[0] for row in rows) == [str(folder / "hot_dog.jpg"), str(folder / "owl.jpg")]


def run_failing_script(tmp_path, script: str) -> str:
    """The runner's message for a script that must fail."""
    (tmp_path / "job.sql").write_text(script)
    t_env = settings.configure(settings.table_environment("batch"), overrides=MOBILENET)
    with pytest.raises(ScriptError) as failure:
        run_files(t_env, [REPO / "sql" / "20_functions.sql", tmp_path / "job.sql"], {})
    return str(failure.value)


IMAGES_DDL = """CREATE TEMPORARY TABLE images (image BYTES, path STRING NOT NULL METADATA FROM 'file.path')
WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'whole-file'{options});
"""


def test_missing_folder_reports_the_cause(tmp_path):
    message = run_failing_script(tmp_path, IMAGES_DDL.format(path=tmp_path / "nonexistent", options="")
                                 + "\nSELECT path, classify_resnet50(image).label FROM images;\n")
    assert message.startswith(f"{tmp_path / 'job.sql'}:4: job failed: java.io.FileNotFoundException: "
                              f"File {tmp_path / 'nonexistent'} does not exist"), message


def test_oversize_file_under_fail_handling_reports_the_file_and_option(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "big.jpg").write_bytes((SAMPLES / "hot_dog.jpg").read_bytes() + b"\0" * 2_000_000)
    options = ", 'whole-file.max-file-size' = '1 mb', 'whole-file.oversize-handling' = 'fail'"
    message = run_failing_script(tmp_path, IMAGES_DDL.format(path=images, options=options)
                                 + "CREATE TEMPORARY TABLE sink (label STRING) WITH ('connector' = 'blackhole');\n"
                                 + "INSERT INTO sink SELECT classify_resnet50(image).label FROM images;\n")
    assert re.match(rf"^{re.escape(str(tmp_path / 'job.sql'))}:4: job failed: java.io.IOException: "
                    rf"File file:{re.escape(str(images / 'big.jpg'))} is \d+ bytes, larger than "
                    r"'whole-file.max-file-size'.*'whole-file.oversize-handling'", message), message


def test_python_worker_error_reports_the_python_error(tmp_path):
    message = run_failing_script(
        tmp_path, "SET 'classify.model-path' = '/nonexistent.onnx';\n" + IMAGES_DDL.format(path=SAMPLES, options="")
        + "SELECT classify_resnet50(image).label FROM images;\n")
    assert message.endswith(":4: job failed: ValueError: classify.model-path: model file not found: "
                            "'/nonexistent.onnx'"), message


def test_sql_runner_reports_the_failing_line(tmp_path):
    script = tmp_path / "bad.sql"
    script.write_text("-- a comment\nCREATE TEMPORARY TABLE t (x INT) WITH ('connector' = 'datagen');\n\n"
                      "SELECT x FROM no_such_table;\n")
    result = run_sql_runner("-f", str(script), env={})
    assert result.returncode == 1
    assert f"{script}:4:" in result.stderr and "no_such_table" in result.stderr


def test_unknown_classify_option_fails_before_the_job(tmp_path):
    script = tmp_path / "bad.sql"
    script.write_text("SET 'classify.topk' = '3';\n")
    result = run_sql_runner("-f", str(script), env={})
    assert result.returncode == 1
    assert "classify.topk: unknown option; did you mean 'classify.top-k'?" in result.stderr


def test_table_api_job_logs_progress_lines_and_reports_runtime_and_throughput(tmp_path):
    """Off a terminal, progress comes as plain lines at --progress-interval (30 s by default, so
    the short runs above print none)."""
    output = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "udfs.job", "--images", str(SAMPLES), "--output", str(output), "--no-print",
         "--progress-interval", "1", *(f"-D{key}={value}" for key, value in MOBILENET.items())],
        cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    samples = len(list(SAMPLES.iterdir()))
    assert [int(n) for n in FINAL_LINE.findall(result.stdout)] == [samples]
    progress = result.stderr.splitlines()
    assert progress and "\r" not in result.stderr, result.stderr
    # progress lines only, and on a slow machine the notice that nothing was classified for a while
    assert all(re.fullmatch(rf"\d/{samples} images \(\d+%\), \d+ errors(, .* images/s.*)?", line)
               or line.startswith("No image classified for ") for line in progress), progress
    written = json_lines(output)
    assert len(written) == samples and all(row["error"] is None for row in written)


def processes_with(marker: str) -> list[int]:
    """Processes whose environment holds ``marker`` (the runner's JVM inherits it)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_streaming_demo_classifies_files_as_they_land_and_stops_on_ctrl_c(tmp_path):
    incoming, output = tmp_path / "incoming", tmp_path / "predictions"
    marker = f"DEMO_TEST_RUN={uuid.uuid4().hex}"
    key, value = marker.split("=")
    demo = subprocess.Popen(
        [str(REPO / "demo.sh"), "--streaming", *MODEL_ARGS], cwd=REPO, text=True,
        env=subprocess_env(IMAGES_DIR=str(incoming), OUTPUT_DIR=str(output), **{key: value}),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(demo.stdout), daemon=True).start()

    def wait_for(condition, what: str, seconds: float = 300) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert demo.poll() is None, f"demo exited ({demo.returncode}) waiting for {what}: {demo.stderr.read()}"
            assert time.monotonic() < deadline, f"no {what} after {seconds} s; stdout: {lines}"
            time.sleep(0.5)

    def predicted(name: str) -> bool:
        return any(f"{incoming / name}, " in line for line in lines)

    try:
        wait_for(incoming.is_dir, "watched folder")
        for name in ("hot_dog.jpg", "owl.jpg"):  # written under a hidden name, then moved in: read whole
            (incoming / f".{name}.part").write_bytes((SAMPLES / name).read_bytes())
            (incoming / f".{name}.part").rename(incoming / name)
            wait_for(lambda: predicted(name), f"prediction for {name}")
        assert any(f"{incoming / 'hot_dog.jpg'}, hotdog, " in line for line in lines), lines  # its label
        wait_for(lambda: len(json_lines(output)) == 2, "JSON lines committed by a checkpoint", 120)
        assert len(processes_with(marker)) >= 2, "the runner and its JVM carry the marker"
    finally:
        demo.send_signal(signal.SIGINT)
        stderr = demo.communicate(timeout=120)[1]
    assert demo.returncode == 130, stderr
    assert "Stopped (Ctrl-C): the running job was cancelled." in stderr
    assert "Traceback" not in stderr and not any(marker in stderr for marker in GRPC_LINES), stderr
    deadline = time.monotonic() + 30
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_with(marker) == [], "the runner's JVM is gone"


@pytest.mark.slow
def test_ctrl_c_stops_the_runner_even_when_a_udf_never_returns(tmp_path):
    """A streaming job whose UDF is stuck (tests/stuck_udf.py): Ctrl-C still ends the runner,
    with status 130 and no process left behind."""
    incoming, entered = tmp_path / "incoming", tmp_path / "udf-entered"
    incoming.mkdir()
    (incoming / "hot_dog.jpg").write_bytes((SAMPLES / "hot_dog.jpg").read_bytes())
    script = tmp_path / "stuck.sql"
    script.write_text("CREATE TEMPORARY SYSTEM FUNCTION stuck AS 'stuck_udf.stuck' LANGUAGE PYTHON;\n"
                      "SELECT path, stuck(image) FROM images;\n")
    marker = f"STUCK_TEST_RUN={uuid.uuid4().hex}"
    key, value = marker.split("=")
    runner = subprocess.Popen(
        [sys.executable, "-m", "udfs.sql", "--mode", "streaming", "-i", "sql/10_images.sql",
         "-i", "sql/15_watch_images.sql", "-f", str(script)],
        cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=subprocess_env(IMAGES_DIR=str(incoming), MONITOR_INTERVAL="1 s", PYTHONPATH=str(REPO / "tests"),
                           STUCK_UDF_MARKER=str(entered), **{key: value}),
    )
    try:
        deadline = time.monotonic() + 300
        while not entered.exists():
            assert runner.poll() is None, f"runner exited ({runner.returncode}): {runner.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, "the UDF was never called"
            time.sleep(0.5)
        time.sleep(2)
        runner.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        stderr = runner.communicate(timeout=120)[1]
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 130, stderr[-3000:]
    assert time.monotonic() - interrupted < 60
    assert "Stopped (Ctrl-C)" in stderr and "Traceback" not in stderr, stderr[-3000:]
    deadline = time.monotonic() + 60
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_with(marker) == [], "the runner's JVM is gone"


@pytest.mark.slow
def test_files_landing_together_on_a_fresh_worker_are_all_classified(tmp_path):
    """The first-images hang as a user met it: several files moved into a watched folder at the
    same moment, read by 4 subtasks of a new runner whose Python workers have never inferred."""
    incoming, output = tmp_path / "incoming", tmp_path / "predictions"
    staging = tmp_path / "staging"
    staging.mkdir()
    incoming.mkdir()
    names = sorted(p.name for p in SAMPLES.iterdir())
    for name in names:
        (staging / name).write_bytes((SAMPLES / name).read_bytes())
    runner = subprocess.Popen(
        [sys.executable, "-m", "udfs.sql", "--mode", "streaming", *MODEL_ARGS, "--set", "parallelism.default=4",
         "--set", "execution.checkpointing.interval=5s", "-i", "sql/10_images.sql", "-i", "sql/15_watch_images.sql",
         "-i", "sql/20_functions.sql", "-i", "sql/29_sinks.sql", "-f", "sql/30_classify.sql"],
        cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=subprocess_env(IMAGES_DIR=str(incoming), OUTPUT_DIR=str(output), MONITOR_INTERVAL="1 s"),
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(runner.stdout), daemon=True).start()
    try:
        time.sleep(10)  # the job starting, or running already: either way the files land together
        assert runner.poll() is None, f"runner exited ({runner.returncode}): {runner.stderr.read()[-3000:]}"
        staging.rename(incoming / "batch")  # every file lands at once
        deadline = time.monotonic() + 240
        while len({line.split(",")[0] for line in lines if "+I[" in line}) < len(names):
            assert runner.poll() is None, f"runner exited ({runner.returncode}): {runner.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, f"classified {len(lines)} of {len(names)} files: {lines}"
            time.sleep(0.5)
    finally:
        runner.send_signal(signal.SIGINT)
        stderr = runner.communicate(timeout=120)[1]
    printed = [line for line in lines if "+I[" in line]
    assert len(printed) == len(names) and not any(", null]" not in line for line in printed), printed
    assert runner.returncode == 130, stderr[-3000:]
