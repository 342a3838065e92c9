"""Reading the image file a path names, for ``classify_file(path)``: local files only, checked
before a byte is read. The images table's connector makes the same kind of checks when it loads a
file into the ``image`` column (``classify_resnet50(image)``); here the Python worker reads it.

Why a second way in at all: moving each image's bytes from the JVM to the Python worker (Arrow,
Beam's gRPC data plane and PyFlink's copies on the way) costs about 0.9 CPU ms per image and
~650 MB of worker memory (bench/README.md, "Where the rest goes: moving the image bytes to
Python"). A path costs neither.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from udfs import rules

NULL_PATH_ERROR = "path is NULL"


class FileReadError(Exception):
    """The path names no local regular file that can be read within the size limit."""


def local_path(path: str) -> Path:
    """``/a/b``, ``file:/a/b`` or ``file:///a/b`` (how the images table's ``path`` column writes
    local files) as an absolute local path; anything else raises FileReadError."""
    location = path
    if location.startswith("file:"):
        location = location[len("file:"):]
        if location.startswith("//"):  # file://<authority>/path: only an empty or local authority
            authority, _, rest = location[2:].partition("/")
            if authority not in ("", "localhost"):
                raise FileReadError(f"cannot read '{path}': not a local file (host '{authority}')")
            location = "/" + rest
    elif "://" in location:
        raise FileReadError(
            f"cannot read '{path}': classify_file reads local files only; classify_resnet50(image) "
            "reads any file system through the images table")
    if not location.startswith("/"):
        raise FileReadError(f"cannot read '{path}': not an absolute path")
    return Path(location)


def read_image_file(path: str, max_bytes: int) -> bytes:
    """The content of the regular file ``path`` names, at most ``max_bytes`` (``classify.max-image-bytes``:
    a bigger file gets the error a too big image gets). Never blocks on a FIFO or device: the file
    is opened non-blocking and must be a regular file before anything is read."""
    location = local_path(path)
    try:
        fd = os.open(location, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise FileReadError(f"cannot read '{path}': {error.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileReadError(f"cannot read '{path}': not a regular file")
        if info.st_size > max_bytes:
            raise FileReadError(rules.error("too_many_bytes", size=info.st_size, max=max_bytes))
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as file:
        try:
            # the size fstat gave, + 1: a file that grew since is read on (and refused past the limit)
            data = file.read(info.st_size + 1)
            if len(data) > info.st_size:
                data += file.read(max_bytes + 1 - len(data))
        except OSError as error:
            raise FileReadError(f"cannot read '{path}': {error.strerror}") from None
    if len(data) > max_bytes:
        raise FileReadError(rules.error("too_many_bytes", size=len(data), max=max_bytes))
    return data
