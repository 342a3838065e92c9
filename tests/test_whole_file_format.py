"""Integration tests of the ``whole-file`` format: real Flink jobs on the embedded MiniCluster."""

from __future__ import annotations

import hashlib
import itertools
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from py4j.protocol import Py4JJavaError
from pyflink.java_gateway import get_gateway
from pyflink.table import EnvironmentSettings, TableEnvironment

from udfs.catalog import create_images_table, sql_string, use_format_jar

from conftest import SHARED

pytestmark = pytest.mark.flink

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


def images(t_env: TableEnvironment, path: Path, **options: str) -> str:
    """Create a fresh images table over ``path``; returns its (unique) name."""
    return create_images_table(t_env, str(path), f"images_{next(_table_ids)}", **options)


def collect(t_env: TableEnvironment, sql: str) -> list:
    with t_env.execute_sql(sql).collect() as rows:
        return list(rows)


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
def test_each_file_is_one_byte_exact_row(
    batch_env: TableEnvironment, tmp_path: Path, files: dict[str, bytes]
) -> None:
    expected = write_files(tmp_path, files)
    assert read_shas(batch_env, images(batch_env, tmp_path)) == expected


def test_empty_file_is_one_row_with_empty_bytes(
    batch_env: TableEnvironment, tmp_path: Path
) -> None:
    (tmp_path / "empty.bin").write_bytes(b"")
    rows = collect(batch_env, f"SELECT name, image, size FROM {images(batch_env, tmp_path)}")
    assert [(r[0], bytes(r[1]), r[2]) for r in rows] == [("empty.bin", b"", 0)]


# --- files over 'whole-file.max-file-size' ----------------------------------------------------


@pytest.fixture
def folder_with_oversized_file(tmp_path: Path) -> Path:
    write_files(tmp_path, {"small.bin": TRICKY, "big.bin": os.urandom(2 * 1024 * 1024)})
    return tmp_path


def test_oversized_file_gives_null_row(
    batch_env: TableEnvironment, folder_with_oversized_file: Path
) -> None:
    table = images(batch_env, folder_with_oversized_file, max_file_size="1 mb")
    rows = collect(batch_env, f"SELECT name, image IS NULL, size FROM {table}")
    assert sorted(tuple(r) for r in rows) == [
        ("big.bin", True, 2 * 1024 * 1024),
        ("small.bin", False, len(TRICKY)),
    ]


def test_oversized_file_is_skipped(
    batch_env: TableEnvironment, folder_with_oversized_file: Path
) -> None:
    table = images(
        batch_env, folder_with_oversized_file, max_file_size="1 mb", oversize_handling="skip"
    )
    assert [r[0] for r in collect(batch_env, f"SELECT name FROM {table}")] == ["small.bin"]


def test_oversized_file_fails_the_job(
    batch_env: TableEnvironment, folder_with_oversized_file: Path
) -> None:
    table = images(
        batch_env, folder_with_oversized_file, max_file_size="1 mb", oversize_handling="fail"
    )
    with pytest.raises(Py4JJavaError) as failure:
        collect(batch_env, f"SELECT name, image FROM {table}")
    message = str(failure.value)
    assert "big.bin is 2097152 bytes" in message
    assert "Raise 'whole-file.max-file-size'" in message


# --- metadata, layout and names ----------------------------------------------------------------


def test_metadata_nested_directories_and_odd_names(
    batch_env: TableEnvironment, tmp_path: Path
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
    table = images(batch_env, root)
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


def test_partition_column_comes_from_directories(
    batch_env: TableEnvironment, tmp_path: Path
) -> None:
    write_files(tmp_path, {"day=2024-01-01/a.bin": b"a", "day=2024-01-02/b.bin": b"bb"})
    table = f"partitioned_{next(_table_ids)}"
    batch_env.execute_sql(
        f"""CREATE TEMPORARY TABLE {table} (
              image BYTES,
              name STRING NOT NULL METADATA FROM 'file.name',
              `day` STRING
            ) PARTITIONED BY (`day`) WITH (
              'connector' = 'filesystem',
              'path' = {sql_string(str(tmp_path))},
              'format' = 'whole-file'
            )"""
    )
    rows = collect(batch_env, f"SELECT `day`, name, image FROM {table}")
    assert sorted((r[0], r[1], bytes(r[2])) for r in rows) == [
        ("2024-01-01", "a.bin", b"a"),
        ("2024-01-02", "b.bin", b"bb"),
    ]


# --- planning-time validation (no job runs) ----------------------------------------------------


@pytest.mark.parametrize(
    "columns, options, expected",
    [
        (
            "image BYTES, extra STRING",
            "",
            "expects exactly one physical column of type BYTES (VARBINARY) besides partition"
            " and metadata columns, but table default_catalog.default_database.bad has 2:"
            " [`image` BYTES, `extra` STRING]",
        ),
        ("image STRING", "", "has 1: [`image` STRING]"),
        ("image BYTES NOT NULL", "", "'whole-file.oversize-handling' = 'null-row' emits NULL"),
        ("image BYTES", ", 'whole-file.max-file-size' = '3 gb'", "must be between 1 b and"),
        ("image BYTES", ", 'whole-file.oversize-handling' = 'drop'", "drop"),
    ],
    ids=["two-columns", "string-column", "not-null-with-null-row", "too-large-cap", "bad-enum"],
)
def test_invalid_tables_are_rejected_when_planned(
    batch_env: TableEnvironment, tmp_path: Path, columns: str, options: str, expected: str
) -> None:
    batch_env.execute_sql("DROP TEMPORARY TABLE IF EXISTS bad")
    batch_env.execute_sql(
        f"CREATE TEMPORARY TABLE bad ({columns}) WITH ('connector' = 'filesystem',"
        f" 'path' = {sql_string(str(tmp_path))}, 'format' = 'whole-file'{options})"
    )
    with pytest.raises(Exception) as failure:
        batch_env.explain_sql("SELECT * FROM bad")
    assert expected in str(failure.value)


# --- checkpoint restore (reader driven directly through the JVM gateway) ----------------------


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


# --- streaming discovery -----------------------------------------------------------------------


def _drain(rows: Iterator, into: queue.Queue) -> None:
    try:
        for row in rows:
            into.put((row[0], bytes(row[1])))
    except Exception:  # the job was cancelled
        pass


def test_streaming_source_picks_up_new_files(
    streaming_env: TableEnvironment, tmp_path: Path
) -> None:
    table = images(streaming_env, tmp_path, monitor_interval="1 s")
    result = streaming_env.execute_sql(f"SELECT name, image FROM {table}")
    rows = result.collect()
    received: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_drain, args=(rows, received), daemon=True)
    reader.start()
    try:
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
    finally:
        # PyFlink's CompletableFuture.result() takes no timeout: wait for it in a helper thread.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(result.get_job_client().cancel().result).result(timeout=60)
        rows.close()
        reader.join(timeout=60)
    assert not reader.is_alive()


# --- the shared ImageNet sample ----------------------------------------------------------------


@pytest.mark.skipif(not (SHARED / "images" / "imagenet-dev").is_dir(), reason="no ../shared")
def test_imagenet_dev_folder(batch_env: TableEnvironment) -> None:
    folder = SHARED / "images" / "imagenet-dev"
    expected = {}
    for line in (SHARED / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        if name.startswith("images/imagenet-dev/"):
            expected[str(SHARED / name)] = digest
    table = images(batch_env, folder)

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
    """An install that carries neither the jar nor the Java sources (a wheel built too early)."""
    from udfs import format_jar

    monkeypatch.setattr(format_jar, "JAR", tmp_path / "udfs" / "lib" / "flink-whole-file-format.jar")
    monkeypatch.setattr(format_jar, "_SOURCES", tmp_path / "format" / "src" / "main")
    monkeypatch.setattr(format_jar, "_BUILD_SCRIPT", tmp_path / "format" / "build.sh")
    with pytest.raises(RuntimeError, match=r"no Java sources to build it from: in a checkout, run `bash format/build.sh` before `pip install \.`"):
        format_jar.jar_path()
