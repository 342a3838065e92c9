"""Integration tests of the ``whole-file`` format (filesystem connector) and the ``whole-file``
connector (many files per split): real Flink jobs on the embedded MiniCluster. Tests that take the
``kind`` fixture run against both, which must produce the same rows."""

from __future__ import annotations

import hashlib
import itertools
import os
import queue
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from py4j.protocol import Py4JJavaError
from pyflink.java_gateway import get_gateway
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment
from pyflink.table.explain_detail import ExplainDetail
from pyflink.table.udf import udf

from udfs.catalog import IMAGES_COLUMNS, create_images_table, sql_string, use_format_jar
from udfs.failures import failure_message

from conftest import SHARED, missing

# Bytes that break line-oriented formats: LF, CRLF, NUL and a lone CR.
TRICKY = b"line1\nline2\r\n\x00\x00nul\rend"

_table_ids = itertools.count()


def _environment(settings: EnvironmentSettings) -> TableEnvironment:
    t_env = TableEnvironment.create(settings)
    config = t_env.get_config()
    # FLINK-40660: without this, file-source jobs stall ~30 s at the end. The value is in ms.
    config.set("source.reader.close.timeout", "1000")
    config.set("collect-sink.batch-size.max", "64 mb")  # room for the 30 MB row
    config.set("table.local-time-zone", "UTC")  # CAST(mtime AS TIMESTAMP) below is UTC
    use_format_jar(t_env)
    return t_env


@pytest.fixture(scope="module")
def batch_env() -> TableEnvironment:
    return _environment(EnvironmentSettings.in_batch_mode())


@pytest.fixture(scope="module")
def streaming_env() -> TableEnvironment:
    return _environment(EnvironmentSettings.in_streaming_mode())


# Table options of the connector, by the keyword create_images_table takes for the format's.
CONNECTOR_OPTIONS = {
    "monitor_interval": "source.monitor-interval",
    "max_file_size": "max-file-size",
    "oversize_handling": "oversize-handling",
    "split_max_files": "source.split.max-files",
}
# The WITH clause that selects each kind, and the prefix of its own options in DDL.
KINDS = {
    "format": ("'connector' = 'filesystem', 'format' = 'whole-file'", "whole-file."),
    "connector": ("'connector' = 'whole-file'", ""),
}


@pytest.fixture(params=list(KINDS))
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


def images(t_env: TableEnvironment, path: Path, kind: str = "format", **options: str) -> str:
    """Create a fresh images table over ``path`` read by the format (through the project's helper)
    or the connector; returns its (unique) name."""
    name = f"images_{next(_table_ids)}"
    if kind == "format":
        return create_images_table(t_env, str(path), name, reader="format", **options)
    with_clause = ", ".join(
        [KINDS[kind][0], f"'path' = {sql_string(str(path))}"]
        + [f"'{CONNECTOR_OPTIONS[key]}' = {sql_string(value)}" for key, value in options.items()]
    )
    t_env.execute_sql(f"CREATE TEMPORARY TABLE {name} (\n{IMAGES_COLUMNS}\n) WITH ({with_clause})")
    return name


def collect(t_env: TableEnvironment, sql: str) -> list:
    with t_env.execute_sql(sql).collect() as rows:
        return list(rows)


class _Rows(queue.Queue):
    """A running query's rows; a failure of its job, which the reader puts in their place, is
    raised by ``get`` with its cause (instead of ``get`` waiting out its timeout)."""

    def get(self, block: bool = True, timeout: float | None = None):
        item = super().get(block, timeout)
        if isinstance(item, Exception):
            raise AssertionError(f"the streaming job failed: {failure_message(item)}") from item
        return item


@contextmanager
def streaming_rows(t_env: TableEnvironment, sql: str) -> Iterator[_Rows]:
    """Runs an unbounded query; yields a queue of its rows as ``(first column, bytes of the
    second)``, filled by a thread, and cancels the job on exit. A job that fails before that
    fails the test with its cause."""
    result = t_env.execute_sql(sql)
    rows = result.collect()
    received = _Rows()
    cancelled = threading.Event()
    failures: list[Exception] = []

    def drain() -> None:
        try:
            for row in rows:
                received.put((row[0], bytes(row[1])))
        except Exception as error:
            if not cancelled.is_set():  # not the end of the job this context cancels
                failures.append(error)
                received.put(error)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        yield received
    finally:
        cancelled.set()
        if not failures:  # a failed job is over (and its MiniCluster may be gone)
            # PyFlink's CompletableFuture.result() takes no timeout: wait for it in a helper thread.
            with ThreadPoolExecutor(1) as pool:
                pool.submit(result.get_job_client().cancel().result).result(timeout=60)
        rows.close()
        reader.join(timeout=60)
    assert not reader.is_alive()
    if failures:
        raise AssertionError(f"the streaming job failed: {failure_message(failures[0])}") from failures[0]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_files(root: Path, files: dict[str, bytes]) -> dict[str, str]:
    """Write ``files`` (relative path -> bytes) under ``root``; returns absolute path -> sha256."""
    written = {}
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        written[str(target)] = sha256(content)
    return written


def read_shas(t_env: TableEnvironment, table: str) -> dict[str, str | None]:
    """Return path -> sha256 of ``image`` (None for NULL) for every row of ``table``."""
    rows = collect(t_env, f"SELECT path, image FROM {table}")
    shas = {row[0]: None if row[1] is None else sha256(bytes(row[1])) for row in rows}
    assert len(shas) == len(rows), "a file was emitted more than once"
    return shas


# --- byte-exact round trips -------------------------------------------------------------------


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"one.bin": TRICKY + os.urandom(4096)}, id="one-file"),
        pytest.param(
            {f"f{i:04d}.bin": TRICKY + os.urandom(i % 97) for i in range(1000)},
            id="1000-files",
        ),
        pytest.param({"big.bin": TRICKY + os.urandom(30 * 1024 * 1024)}, id="30MB-file"),
    ],
)
@pytest.mark.flink
def test_each_file_is_one_byte_exact_row(
    batch_env: TableEnvironment, kind: str, tmp_path: Path, files: dict[str, bytes]
) -> None:
    expected = write_files(tmp_path, files)
    assert read_shas(batch_env, images(batch_env, tmp_path, kind)) == expected


@pytest.mark.flink
def test_empty_file_is_one_row_with_empty_bytes(
    batch_env: TableEnvironment, kind: str, tmp_path: Path
) -> None:
    (tmp_path / "empty.bin").write_bytes(b"")
    table = images(batch_env, tmp_path, kind)
    rows = collect(batch_env, f"SELECT name, image, size FROM {table}")
    assert [(r[0], bytes(r[1]), r[2]) for r in rows] == [("empty.bin", b"", 0)]


# --- files over 'whole-file.max-file-size' ----------------------------------------------------


@pytest.fixture
def folder_with_oversized_file(tmp_path: Path) -> Path:
    write_files(tmp_path, {"small.bin": TRICKY, "big.bin": os.urandom(2 * 1024 * 1024)})
    return tmp_path


@pytest.mark.flink
def test_oversized_file_gives_null_row(
    batch_env: TableEnvironment, kind: str, folder_with_oversized_file: Path
) -> None:
    table = images(batch_env, folder_with_oversized_file, kind, max_file_size="1 mb")
    rows = collect(batch_env, f"SELECT name, image IS NULL, size FROM {table}")
    assert sorted(tuple(r) for r in rows) == [
        ("big.bin", True, 2 * 1024 * 1024),
        ("small.bin", False, len(TRICKY)),
    ]


@pytest.mark.flink
def test_oversized_file_is_skipped(
    batch_env: TableEnvironment, kind: str, folder_with_oversized_file: Path
) -> None:
    table = images(
        batch_env, folder_with_oversized_file, kind, max_file_size="1 mb", oversize_handling="skip"
    )
    assert [r[0] for r in collect(batch_env, f"SELECT name FROM {table}")] == ["small.bin"]


@pytest.mark.flink
def test_oversized_file_fails_the_job(
    batch_env: TableEnvironment, kind: str, folder_with_oversized_file: Path
) -> None:
    table = images(
        batch_env, folder_with_oversized_file, kind, max_file_size="1 mb", oversize_handling="fail"
    )
    with pytest.raises(Py4JJavaError) as failure:
        collect(batch_env, f"SELECT name, image FROM {table}")
    prefix = KINDS[kind][1]
    assert (
        f"big.bin is 2097152 bytes, larger than '{prefix}max-file-size' (1048576 bytes)."
        f" Raise '{prefix}max-file-size' or set '{prefix}oversize-handling' to 'null-row' or"
        " 'skip'." in str(failure.value)
    )


# --- metadata, layout and names ----------------------------------------------------------------


@pytest.mark.flink
def test_metadata_nested_directories_and_odd_names(
    batch_env: TableEnvironment, kind: str, tmp_path: Path
) -> None:
    root = tmp_path / "dir with 'quotes' and ü"
    expected = write_files(
        root,
        {
            "top.bin": TRICKY,
            "a/b/c/deep.bin": TRICKY * 2,
            "a/it's a \"tést\" ☃ file.jpg": TRICKY * 3,
        },
    )
    table = images(batch_env, root, kind)
    rows = collect(
        batch_env,
        f"SELECT path, name, size, CAST(mtime AS TIMESTAMP(3)), image FROM {table}",
    )
    assert {r[0]: sha256(bytes(r[4])) for r in rows} == expected
    for path, name, size, mtime, _ in rows:
        stat = os.stat(path)
        assert name == Path(path).name
        assert size == stat.st_size
        on_disk = datetime.fromtimestamp(stat.st_mtime, timezone.utc).replace(tzinfo=None)
        assert abs((mtime - on_disk).total_seconds()) < 1


@pytest.mark.flink
def test_partition_column_comes_from_directories(
    batch_env: TableEnvironment, kind: str, tmp_path: Path
) -> None:
    write_files(
        tmp_path,
        {
            "day=2024-01-01/a.bin": b"a",
            "day=2024-01-02/b.bin": b"bb",
            "day=2024-01-02/more/c.bin": b"ccc",
        },
    )
    table = f"partitioned_{next(_table_ids)}"
    batch_env.execute_sql(
        f"""CREATE TEMPORARY TABLE {table} (
              image BYTES,
              name STRING NOT NULL METADATA FROM 'file.name',
              `day` STRING
            ) PARTITIONED BY (`day`) WITH (
              {KINDS[kind][0]}, 'path' = {sql_string(str(tmp_path))}
            )"""
    )
    rows = collect(batch_env, f"SELECT `day`, name, image FROM {table}")
    assert sorted((r[0], r[1], bytes(r[2])) for r in rows) == [
        ("2024-01-01", "a.bin", b"a"),
        ("2024-01-02", "b.bin", b"bb"),
        ("2024-01-02", "c.bin", b"ccc"),
    ]
    # A filter on the partition column prunes folders before listing.
    query = f"SELECT name FROM {table} WHERE `day` = '2024-01-02'"
    assert "partitions=[{day=2024-01-02}]" in batch_env.explain_sql(query)
    assert sorted(r[0] for r in collect(batch_env, query)) == ["b.bin", "c.bin"]


# --- planning-time validation (no job runs) ----------------------------------------------------


# {p} is the prefix of the table's own options in DDL ("whole-file." for the format), {kind}
# "format" or "connector".
@pytest.mark.parametrize(
    "columns, options, expected",
    [
        (
            "image BYTES, extra STRING",
            "",
            ["The 'whole-file' {kind} expects exactly one physical column of type BYTES"
             " (VARBINARY) besides partition and metadata columns, but table"
             " default_catalog.default_database.bad has 2: [`image` BYTES, `extra` STRING]"],
        ),
        ("image STRING", "", ["has 1: [`image` STRING]"]),
        (
            "image BYTES NOT NULL",
            "",
            ["Column 'image' is declared BYTES NOT NULL, but '{p}oversize-handling' ="
             " 'null-row' emits NULL for files over '{p}max-file-size'"],
        ),
        (
            "image BYTES",
            "'{p}max-file-size' = '3 gb'",
            ["Option '{p}max-file-size' must be between 1 b and 2147483639 b, but was"
             " '3.000gb (3221225472 bytes)'"],
        ),
        (
            "image BYTES",
            "'{p}oversize-handling' = 'drop'",
            # Flink's enum option parser: the key and the values it accepts
            ["Could not parse value 'drop' for key '{p}oversize-handling'",
             "Expected one of: [[null-row, skip, fail]]"],
        ),
    ],
    ids=["two-columns", "string-column", "not-null-with-null-row", "too-large-cap", "bad-enum"],
)
@pytest.mark.flink
def test_invalid_tables_are_rejected_when_planned(
    batch_env: TableEnvironment,
    kind: str,
    tmp_path: Path,
    columns: str,
    options: str,
    expected: list[str],
) -> None:
    selector, prefix = KINDS[kind]
    with_clause = ", ".join(
        [selector, f"'path' = {sql_string(str(tmp_path))}"] + [options.format(p=prefix)] * bool(options)
    )
    batch_env.execute_sql("DROP TEMPORARY TABLE IF EXISTS bad")
    batch_env.execute_sql(f"CREATE TEMPORARY TABLE bad ({columns}) WITH ({with_clause})")
    with pytest.raises(Exception) as failure:
        batch_env.explain_sql("SELECT * FROM bad")
    for fragment in expected:
        assert fragment.format(p=prefix, kind=kind) in str(failure.value)


@pytest.mark.flink
def test_connector_rejects_an_empty_split(batch_env: TableEnvironment, tmp_path: Path) -> None:
    table = images(batch_env, tmp_path, "connector", split_max_files="0")
    with pytest.raises(Exception, match="Option 'source.split.max-files' must be at least 1, but was 0."):
        batch_env.explain_sql(f"SELECT * FROM {table}")


@pytest.mark.flink
def test_planner_estimates_one_row_per_file(batch_env: TableEnvironment, tmp_path: Path) -> None:
    write_files(tmp_path, {"a.bin": b"a", "b.bin": b"b", "sub/c.bin": b"c"})
    plan = batch_env.explain_sql(
        f"SELECT COUNT(*) FROM {images(batch_env, tmp_path)}", ExplainDetail.ESTIMATED_COST
    )
    [scan] = [line for line in plan.splitlines() if "TableSourceScan" in line and "rowcount" in line]
    assert "rowcount = 3.0," in scan  # without the format's statistics the planner assumes 1.0E8


# --- checkpoint restore (reader driven directly through the JVM gateway) ----------------------


@pytest.mark.flink
def test_restored_reader_skips_an_already_emitted_file(
    batch_env: TableEnvironment, tmp_path: Path
) -> None:
    """A split restored with one record after the offset must emit nothing."""
    (tmp_path / "one.bin").write_bytes(TRICKY)
    gateway = get_gateway()
    jvm = gateway.jvm  # the format jar is on its class path through use_format_jar(batch_env)
    handling = getattr(jvm, "dev.flinkimageudfs.format.WholeFileFormatOptions$OversizeHandling")
    bulk_format = jvm.dev.flinkimageudfs.format.WholeFileBulkFormat(
        None, True, 1 << 20, handling.NULL_ROW
    )
    position = jvm.org.apache.flink.connector.file.src.util.CheckpointedPosition

    def read(restored_position) -> list[bytes]:
        split = jvm.org.apache.flink.connector.file.src.FileSourceSplit(
            "0",
            jvm.org.apache.flink.core.fs.Path(str(tmp_path / "one.bin")),
            0,
            len(TRICKY),
            0,
            len(TRICKY),
            gateway.new_array(jvm.String, 0),
            restored_position,
        )
        config = jvm.org.apache.flink.configuration.Configuration()
        reader = bulk_format.restoreReader(config, split)
        records = []
        while (batch := reader.readBatch()) is not None:
            while (record := batch.next()) is not None:
                records.append(bytes(record.getRecord().getBinary(0)))
        reader.close()
        return records

    assert read(None) == [TRICKY]
    assert read(position(position.NO_OFFSET, 1)) == []


# --- the connector's multi-file splits -------------------------------------------------------


@pytest.mark.flink
def test_file_batch_split_survives_serialization(batch_env: TableEnvironment) -> None:
    gateway = get_gateway()
    jvm = gateway.jvm  # the jar is on the gateway's class path through use_format_jar(batch_env)
    Path_ = jvm.org.apache.flink.core.fs.Path
    names = ["a.jpg", "sub dir/it's ü.jpg", "day=1/c.jpg"]
    relative = gateway.new_array(jvm.String, len(names))
    sizes = gateway.new_array(gateway.jvm.long, len(names))
    times = gateway.new_array(gateway.jvm.long, len(names))
    for i, name in enumerate(names):
        relative[i], sizes[i], times[i] = name, 10 * (i + 1), 1_700_000_000_000 + i
    position = jvm.org.apache.flink.connector.file.src.util.CheckpointedPosition(2, 0)
    split = jvm.dev.flinkimageudfs.format.FileBatchSplit(
        "s-1", Path_("/data/my images"), relative, sizes, times, None
    ).updateWithCheckpointedPosition(position)
    serializer = jvm.dev.flinkimageudfs.format.FileBatchSplitSerializer.INSTANCE
    copy = serializer.deserialize(serializer.getVersion(), serializer.serialize(split))

    assert copy.getClass().getSimpleName() == "FileBatchSplit"
    assert copy.splitId() == "s-1" and copy.getReaderPosition().get().equals(position)
    assert [copy.filePath(i).getPath() for i in range(copy.fileCount())] == [
        f"/data/my images/{name}" for name in names
    ]
    assert [(copy.fileSize(i), copy.modificationTime(i)) for i in range(3)] == [
        (10, 1_700_000_000_000), (20, 1_700_000_000_001), (30, 1_700_000_000_002)
    ]
    assert copy.length() == 60 and copy.path().getPath() == "/data/my images/a.jpg"


# Shared with the UDF below, which runs in this process (PyFlink's loopback mode) and finds these
# module globals because cloudpickle pickles module-level functions by reference.
_FIRST_ROW_COMMITTED = threading.Event()
_FAILURE_INJECTED = threading.Event()


def _fail_once_after_a_checkpoint(name: str) -> str:
    time.sleep(0.1)  # rows trickle, so checkpoints complete while files are still unread
    if _FIRST_ROW_COMMITTED.is_set() and not _FAILURE_INJECTED.is_set():
        _FAILURE_INJECTED.set()
        raise RuntimeError("injected failure")
    return name


@pytest.mark.flink
def test_connector_reads_every_file_once_across_a_failure(tmp_path: Path) -> None:
    """A task fails after a checkpoint; the job restarts from the checkpointed split positions
    (a file inside a multi-file split) and the enumerator's pending splits. The collect sink is
    exactly-once with checkpoints, so a file re-read or lost shows in the rows."""
    names = [f"f{i:03d}.bin" for i in range(80)]
    write_files(tmp_path, {name: name.encode() for name in names})
    t_env = _environment(EnvironmentSettings.in_streaming_mode())
    config = t_env.get_config()
    config.set("python.executable", sys.executable)
    config.set("execution.checkpointing.interval", "300 ms")
    config.set("restart-strategy.type", "fixed-delay")
    config.set("restart-strategy.fixed-delay.attempts", "3")
    config.set("restart-strategy.fixed-delay.delay", "200 ms")
    # Small Python bundles hold the source back (it shares the task), so checkpoints find its
    # reader in the middle of a split.
    config.set("python.fn-execution.bundle.size", "5")
    config.set("python.fn-execution.bundle.time", "100")
    # udf() wraps the function; left undecorated, cloudpickle finds it by name in this module.
    t_env.create_temporary_function(
        "fail_once", udf(_fail_once_after_a_checkpoint, result_type=DataTypes.STRING())
    )
    table = images(t_env, tmp_path, "connector", monitor_interval="1 s", split_max_files="7")
    _FIRST_ROW_COMMITTED.clear()
    _FAILURE_INJECTED.clear()

    with streaming_rows(t_env, f"SELECT fail_once(name), image FROM {table}") as received:
        got = [received.get(timeout=120)]
        _FIRST_ROW_COMMITTED.set()  # a checkpoint has completed: arm the failure
        got += [received.get(timeout=120) for _ in names[1:]]
        time.sleep(3)  # later discovery rounds and checkpoints must not add rows
        assert received.empty()
    assert _FAILURE_INJECTED.is_set()
    assert sorted(got) == [(name, name.encode()) for name in names]


# --- streaming discovery -----------------------------------------------------------------------


@pytest.mark.flink
def test_streaming_source_picks_up_new_files(
    streaming_env: TableEnvironment, kind: str, tmp_path: Path
) -> None:
    table = images(streaming_env, tmp_path, kind, monitor_interval="1 s")
    with streaming_rows(streaming_env, f"SELECT name, image FROM {table}") as received:
        for i in range(3):
            content = TRICKY + os.urandom(1000 * i)
            # Flink's enumerator ignores names starting with '.', so the file appears atomically.
            hidden = tmp_path / f".part-{i}"
            hidden.write_bytes(content)
            hidden.rename(tmp_path / f"new-{i}.bin")
            start = time.perf_counter()
            assert received.get(timeout=60) == (f"new-{i}.bin", content)
            print(f"\nnew-{i}.bin seen after {time.perf_counter() - start:.2f} s")
        time.sleep(3)  # a few more discovery rounds must not re-emit anything
        assert received.empty()


# --- the shared ImageNet sample ----------------------------------------------------------------


@pytest.mark.skipif(not (SHARED / "images" / "imagenet-dev").is_dir(), reason=missing("imagenet-dev photos"))
@pytest.mark.flink
def test_imagenet_dev_folder(batch_env: TableEnvironment, kind: str) -> None:
    folder = SHARED / "images" / "imagenet-dev"
    expected = {}
    for line in (SHARED / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        if name.startswith("images/imagenet-dev/"):
            expected[str(SHARED / name)] = digest
    table = images(batch_env, folder, kind)

    start = time.perf_counter()
    # Flink SQL has no byte-length function for BYTES; ISO-8859-1 decodes one char per byte.
    [(count, total_size, total_bytes)] = collect(
        batch_env,
        f"SELECT COUNT(*), SUM(CAST(size AS BIGINT)),"
        f" SUM(CAST(CHAR_LENGTH(DECODE(image, 'ISO-8859-1')) AS BIGINT)) FROM {table}",
    )
    elapsed = time.perf_counter() - start
    print(f"\n500-JPEG COUNT(*)/SUM(byte length of image) job: {elapsed:.2f} s")

    disk_size = sum(p.stat().st_size for p in folder.iterdir())
    assert (count, total_size, total_bytes) == (500, disk_size, disk_size)
    # Hash in SQL (SHA256 accepts BYTES): shipping 54 MB of rows to Python takes ~20 s.
    rows = collect(batch_env, f"SELECT path, SHA256(image) FROM {table}")
    assert dict(rows) == expected and len(rows) == len(expected)


def test_sql_script_declares_the_same_columns_as_the_python_helper():
    from udfs.catalog import IMAGES_COLUMNS

    from conftest import REPO

    assert IMAGES_COLUMNS in (REPO / "sql" / "10_images.sql").read_text()


def test_missing_jar_without_sources_says_how_to_build_it(tmp_path, monkeypatch):
    """An install that carries neither the jar nor the Java sources (not from our wheel build)."""
    from udfs import jars

    monkeypatch.setattr(jars, "JAR", tmp_path / "udfs" / "lib" / "flink-whole-file-format.jar")
    monkeypatch.setattr(jars, "_SOURCES", tmp_path / "format" / "src" / "main")
    monkeypatch.setattr(jars, "_BUILD_SCRIPT", tmp_path / "format" / "build.sh")
    with pytest.raises(RuntimeError, match=r"no Java sources to build it from: reinstall from a wheel built by `pip wheel \.`"):
        jars.jar_path()


def test_installed_jar_without_sources_is_used_as_is(tmp_path, monkeypatch):
    """An install without sources: its jar is the jar, whatever the files' times say (installers
    write files in any order; here udfs/presets.py is newer than the provider jar)."""
    import os

    from udfs import jars

    jar = tmp_path / "udfs" / "lib" / "flink-openvino-model.jar"
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"PK")
    (tmp_path / "udfs" / "presets.py").write_text("")
    os.utime(jar, (0, 0))
    monkeypatch.setattr(jars, "_ROOT", tmp_path)
    monkeypatch.setattr(jars, "PROVIDER_JAR", jar)
    assert jars.provider_jar_path() == jar
