"""Folders other programs write into: entries that cannot be listed or read as listed.

Through real Flink jobs (the pandas UDF and ML_PREDICT) over the ``whole-file`` connector: a
dangling symbolic link, a link loop, a FIFO and a link to a folder among good photos are skipped
(with a warning, counted), every photo is classified and the job succeeds. The connector's listing
options (follow links to folders, refuse what resolves outside the path) in small jobs. A file
that vanishes, shrinks, grows or becomes a FIFO between listing and reading, through the reader's
loader (``FileLoader``, driven through the gateway): a row with a NULL image and the reason, or a
skip, or a failure naming the option, as ``unreadable-handling`` says; never a blocked reader.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

import pytest
from py4j.java_gateway import get_field
from py4j.protocol import Py4JJavaError
from pyflink.java_gateway import get_gateway
from pyflink.table import EnvironmentSettings, TableEnvironment

from udfs import settings
from udfs.catalog import sql_string, use_format_jar
from udfs.progress import rest_url

from conftest import SHARED, needs_shared
from test_classify_flink import MOBILENET, classify_folder
from test_model_provider import predict_folder

pytestmark = pytest.mark.flink

PHOTOS = SHARED / "images" / "photos"
GOOD = ["hot_dog.jpg", "owl.jpg", "cat_1080p.jpg"]
SKIPPED_METRIC = ".skippedEntries"


@pytest.fixture
def messy_folder(tmp_path) -> Path:
    """Three good photos and every kind of entry that used to stop the listing or the reader."""
    folder = tmp_path / "images"
    folder.mkdir()
    for name in GOOD:
        shutil.copyfile(PHOTOS / name, folder / name)
    (folder / "dangling.jpg").symlink_to(tmp_path / "deleted.jpg")
    (folder / "loop_a.jpg").symlink_to(folder / "loop_b.jpg")
    (folder / "loop_b.jpg").symlink_to(folder / "loop_a.jpg")
    os.mkfifo(folder / "pipe.jpg")  # opening it for reading would block until a writer comes
    other = tmp_path / "other_folder"
    other.mkdir()
    shutil.copyfile(PHOTOS / GOOD[0], other / "behind_a_folder_link.jpg")
    (folder / "linked_folder").symlink_to(other, target_is_directory=True)
    return folder


@needs_shared
def test_bad_entries_are_skipped_by_the_udf_job(messy_folder):
    rows = classify_folder(messy_folder, MOBILENET)
    assert sorted(rows) == sorted(GOOD)
    assert all(row[-1] is None and row[0] for row in rows.values()), rows


@needs_shared
def test_bad_entries_are_skipped_by_the_ml_predict_job(messy_folder):
    rows = predict_folder(messy_folder, MOBILENET)
    assert sorted(rows) == sorted(GOOD)
    assert all(row[-1] is None and row[0] for row in rows.values()), rows


def skipped_entries_metric(base: str, job: str) -> float | None:
    """The source enumerator's skippedEntries (a JobManager operator metric), via REST."""
    def get(path: str):
        with urllib.request.urlopen(base + path, timeout=5) as response:
            return json.load(response)

    for vertex in get(f"/jobs/{job}")["vertices"]:
        metrics = get(f"/jobs/{job}/vertices/{vertex['id']}/jm-operator-metrics")
        names = [m["id"] for m in metrics if m["id"].endswith(SKIPPED_METRIC)]
        if names:
            return sum(float(m["value"]) for m in get(f"/jobs/{job}/vertices/{vertex['id']}/jm-operator-metrics?get="
                                                       + ",".join(names)))
    return None


@needs_shared
def test_a_watching_source_reads_past_bad_entries_and_counts_them(messy_folder):
    """A watching connector used to retry a failing listing forever and read nothing. Now it reads
    the three photos and counts the five entries it skipped, once, however often it lists again."""
    t_env = settings.table_environment("streaming")  # REST on a known port, metrics refreshed every second
    t_env.get_config().set("source.reader.close.timeout", "1000")
    use_format_jar(t_env)
    t_env.execute_sql(f"CREATE TEMPORARY TABLE watched (image BYTES, name STRING NOT NULL METADATA FROM 'file.name') "
                      f"WITH ('connector' = 'whole-file', 'path' = {sql_string(str(messy_folder))}, "
                      f"'source.monitor-interval' = '1 s')")
    result = t_env.execute_sql("SELECT name, image FROM watched")
    names, skipped = set(), None
    with result.collect() as rows:  # closing it cancels the job
        for name, data in rows:
            assert bytes(data) == (messy_folder / name).read_bytes()
            names.add(name)
            if len(names) == len(GOOD):
                break
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and skipped != 5:
            time.sleep(1)  # several listings later: still 5 (dangling, loop_a, loop_b, pipe, linked_folder)
            skipped = skipped_entries_metric(rest_url(t_env), str(result.get_job_client().get_job_id()))
    assert names == set(GOOD)
    assert skipped == 5


def listed_names(folder: Path, **options: str) -> list[str]:
    """The file names the connector lists under ``folder`` (contents not read)."""
    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    t_env.get_config().set("source.reader.close.timeout", "1000")
    use_format_jar(t_env)
    with_clause = ", ".join([f"'connector' = 'whole-file'", f"'path' = {sql_string(str(folder))}"]
                            + [f"{sql_string(k)} = {sql_string(v)}" for k, v in options.items()])
    t_env.execute_sql(f"CREATE TEMPORARY TABLE listed (image BYTES, name STRING NOT NULL METADATA FROM 'file.name') "
                      f"WITH ({with_clause})")
    try:
        with t_env.execute_sql("SELECT name FROM listed").collect() as rows:
            return sorted(row[0] for row in rows)
    finally:
        t_env.execute_sql("DROP TEMPORARY TABLE listed")


def test_links_to_folders_and_outside_the_path_follow_the_options(tmp_path):
    folder, outside = tmp_path / "table", tmp_path / "outside"
    (folder / "sub").mkdir(parents=True)
    outside.mkdir()
    (folder / "inside.jpg").write_bytes(b"x")
    (folder / "sub" / "deeper.jpg").write_bytes(b"x")
    (outside / "elsewhere.jpg").write_bytes(b"x")
    (folder / "link_to_elsewhere.jpg").symlink_to(outside / "elsewhere.jpg")
    (folder / "link_to_inside.jpg").symlink_to(folder / "inside.jpg")
    (folder / "link_to_outside_folder").symlink_to(outside, target_is_directory=True)
    (folder / "sub" / "link_to_parent").symlink_to(folder, target_is_directory=True)  # a loop once followed

    assert listed_names(folder) == ["deeper.jpg", "inside.jpg", "link_to_elsewhere.jpg", "link_to_inside.jpg"]
    assert listed_names(folder, **{"source.follow-directory-links": "true"}) == [
        "deeper.jpg", "elsewhere.jpg", "inside.jpg", "link_to_elsewhere.jpg", "link_to_inside.jpg"]
    assert listed_names(folder, **{"source.confine-to-path": "true"}) == ["deeper.jpg", "inside.jpg", "link_to_inside.jpg"]


# --- a file that changes between listing and reading ----------------------------------------------


@pytest.fixture(scope="module")
def loaders() -> dict:
    """The connector's FileLoader under each unreadable-handling: null-row, skip, fail."""
    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    use_format_jar(t_env)
    t_env.execute_sql("CREATE TEMPORARY TABLE loads_the_jar (image BYTES) WITH ('connector' = 'whole-file', 'path' = '/')")
    package = get_gateway().jvm.dev.flinkimageudfs.format
    handlings = {str(h): h for h in package.WholeFileFormatOptions.OversizeHandling.values()}
    return {name: package.FileLoader.forConnector(64 << 20, handlings["null-row"], handling)
            for name, handling in handlings.items()}


def read(file_loader, path: Path, listed_size: int) -> tuple[bytes | None, str | None] | None:
    """(bytes, problem) as the reader gets them for a file listed with ``listed_size`` bytes; None: skipped."""
    content = file_loader.read(get_gateway().jvm.org.apache.flink.core.fs.Path(str(path)), listed_size)
    if content is None:
        return None
    data = get_field(content, "bytes")
    return (None if data is None else bytes(data)), get_field(content, "problem")


@pytest.mark.parametrize(
    "change, problem",
    [
        ("unchanged", None),
        ("vanished", "the file vanished after it was listed"),
        ("shrank", "the file shrank from 1000 to 10 bytes after it was listed"),
        ("grew", "the file grew from 1000 to 2000 bytes after it was listed (was it still being written?)"),
        ("fifo", "the file is no longer a regular file (a FIFO, socket or device is never opened)"),
    ],
)
def test_a_file_changed_after_listing_gives_a_null_image_and_the_reason(loaders, tmp_path, change, problem):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff" + b"x" * 997)  # listed at 1000 bytes, then:
    if change == "vanished":
        path.unlink()
    elif change == "shrank":
        path.write_bytes(b"x" * 10)
    elif change == "grew":
        path.write_bytes(b"x" * 2000)
    elif change == "fifo":
        path.unlink()
        os.mkfifo(path)  # opened for reading, it would block until a writer comes: never opened
    data, reason = read(loaders["null-row"], path, 1000)
    assert reason == problem
    assert (data is None) == (problem is not None)
    if problem is None:
        assert len(data) == 1000
        return
    assert read(loaders["skip"], path, 1000) is None
    with pytest.raises(Py4JJavaError) as failure:
        read(loaders["fail"], path, 1000)
    message = failure.value.java_exception.getMessage()
    assert problem.removeprefix("the file ") in message and "Set 'unreadable-handling' to 'null-row' or 'skip'" in message
