"""``classify_file``'s reading of a path (``udfs.image_files``) and the classifier fed paths: the
same predictions and errors as fed the bytes, and an error row, never a hang or a crash, for a
path that names no readable regular file."""

from __future__ import annotations

import os
import threading

import pytest

from udfs.image_files import NULL_PATH_ERROR, FileReadError, local_path, read_image_file

from test_classifier import make_classifier, png  # noqa: F401 (make_classifier is a fixture)


@pytest.mark.parametrize("path, expected", [
    ("/data/a.jpg", "/data/a.jpg"),
    ("file:/data/a b.jpg", "/data/a b.jpg"),  # how the images table's path column writes local files
    ("file:///data/a.jpg", "/data/a.jpg"),
    ("file://localhost/data/a.jpg", "/data/a.jpg"),
])
def test_local_paths_and_file_uris(path, expected):
    assert str(local_path(path)) == expected


@pytest.mark.parametrize("path, message", [
    ("s3://bucket/a.jpg", "reads local files only"),
    ("hdfs://namenode/a.jpg", "reads local files only"),
    ("file://otherhost/a.jpg", "not a local file (host 'otherhost')"),
    ("images/a.jpg", "not an absolute path"),
    ("file:a.jpg", "not an absolute path"),
])
def test_other_locations_are_refused_naming_why(path, message):
    with pytest.raises(FileReadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        local_path(path)


def test_reads_a_regular_file_up_to_the_limit(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x" * 100)
    assert read_image_file(str(tmp_path / "a.jpg"), max_bytes=100) == b"x" * 100
    assert read_image_file(f"file:{tmp_path}/a.jpg", max_bytes=100) == b"x" * 100
    with pytest.raises(FileReadError, match=r"^too many bytes: 100 > max 99$"):  # the bytes path's text
        read_image_file(str(tmp_path / "a.jpg"), max_bytes=99)


def test_missing_files_directories_fifos_and_devices_are_errors_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo")  # no writer: a blocking open or read would wait for ever
    (tmp_path / "locked.jpg").write_bytes(b"x")
    (tmp_path / "locked.jpg").chmod(0)
    cases = {
        str(tmp_path / "missing.jpg"): "No such file or directory",
        str(tmp_path): "not a regular file",
        str(tmp_path / "fifo"): "not a regular file",
        "/dev/zero": "not a regular file",  # endless: must not be read
    }
    if os.geteuid() != 0:  # root reads any file
        cases[str(tmp_path / "locked.jpg")] = "Permission denied"
    outcome: dict[str, str] = {}

    def read_all() -> None:
        for path in cases:
            with pytest.raises(FileReadError) as error:
                read_image_file(path, max_bytes=1 << 20)
            outcome[path] = str(error.value)

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    reader.join(30)
    assert not reader.is_alive(), "reading a FIFO or device blocked"
    for path, message in cases.items():
        assert outcome[path] == f"cannot read '{path}': {message}"


def test_classifier_fed_paths_gives_what_it_gives_fed_the_bytes(make_classifier, tmp_path):  # noqa: F811
    contents = [png((0, 0, 255)), b"garbage", png((255, 0, 0)), b""]
    paths = []
    for i, data in enumerate(contents):
        (tmp_path / f"{i}.img").write_bytes(data)
        paths.append(f"file:{tmp_path}/{i}.img")
    missing = str(tmp_path / "missing.png")
    with make_classifier() as classifier:
        from_bytes = classifier.classify(contents)
        from_paths = classifier.classify_files(paths + [None, missing, str(tmp_path)])
    assert from_paths[:4] == from_bytes  # labels, scores and error texts alike
    assert from_paths[0].label == "class 0" and from_paths[1].error.startswith("not an image")
    assert [p.error for p in from_paths[4:]] == [
        NULL_PATH_ERROR, f"cannot read '{missing}': No such file or directory",
        f"cannot read '{tmp_path}': not a regular file"]


def test_a_read_that_never_ends_fails_the_call_naming_the_stage(make_classifier, monkeypatch, tmp_path):  # noqa: F811
    """A file whose read hangs (a dead network mount, say): the stall guard fails the call, and
    its message says a file was being read."""
    import udfs.classifier
    from udfs.stall import CallStalledError

    read = udfs.classifier.read_image_file
    release = threading.Event()

    def stuck_on_third(path, *args):
        if path.endswith("third.png"):
            release.wait()
        return read(path, *args)

    monkeypatch.setattr(udfs.classifier, "read_image_file", stuck_on_third)
    for name in ("first", "second", "third"):
        (tmp_path / f"{name}.png").write_bytes(png((0, 0, 255)))
    classifier = make_classifier(**{"classify.call-timeout": "1 s"})
    with pytest.raises(CallStalledError, match="while reading, decoding and resizing image 3 of 3"):
        classifier.classify_files([str(tmp_path / f"{name}.png") for name in ("first", "second", "third")])
    classifier.close()
    release.set()
