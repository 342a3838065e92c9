"""The provider's native libraries come only from a folder of this user, checked file by file.

Another local user can create the extraction folder first (it has a predictable name under
/tmp) and put their own code there. Through real ML_PREDICT jobs (``python -m udfs.sql``, one JVM
each, native folder chosen with FLINK_IMAGE_UDFS_NATIVE_DIR): a planted folder open to everyone,
holding a symbolic link and a non-library under the libraries' names and an old unfinished
extraction, is closed, cleaned and refilled from the jar, and the job runs; a native folder that
is a symbolic link is refused with a message saying what to do.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from udfs.jars import provider_jar_path

from conftest import REPO, SHARED, model_options, needs_shared, subprocess_env

pytestmark = [pytest.mark.flink, needs_shared]

PHOTOS = SHARED / "images" / "photos"
SQL = REPO / "sql"
MODEL_SCRIPTS = ["-i", str(SQL / "10_images.sql"), "-i", str(SQL / "21_model.sql"), "-i", str(SQL / "29_sinks.sql"), "-f", str(SQL / "31_ml_predict.sql")]


def manifest() -> tuple[str, dict[str, str]]:
    """The jar's fingerprint and {library: SHA-256}."""
    with zipfile.ZipFile(provider_jar_path()) as jar:
        lines = jar.read("dev/flinkimageudfs/model/native/linux-x86-64/MANIFEST").decode().splitlines()
    return lines[0], {name: sha256 for sha256, name in (line.split() for line in lines[1:])}


def run_ml_predict(images: Path, output: Path, native_dir: Path) -> subprocess.CompletedProcess:
    mobilenet = model_options("mobilenet_v2_quant")
    variables = {"IMAGES_DIR": str(images), "OUTPUT_DIR": str(output), "MODEL_PRESET": "mobilenet_v2_quant",
                 "MODEL_PATH": mobilenet["classify.model-path"], "FLINK_IMAGE_UDFS_NATIVE_DIR": str(native_dir)}
    return subprocess.run([sys.executable, "-m", "udfs.sql", *MODEL_SCRIPTS], cwd=REPO, env=subprocess_env(**variables),
                          capture_output=True, text=True, timeout=400)


@pytest.fixture
def images(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("hot_dog.jpg", "owl.jpg") if (PHOTOS / "owl.jpg").exists() else sorted(p.name for p in PHOTOS.iterdir())[:2]:
        (folder / name).write_bytes((PHOTOS / name).read_bytes())
    return folder


def test_a_planted_folder_is_closed_and_its_files_replaced_never_loaded(tmp_path, images):
    fingerprint, sums = manifest()
    native = tmp_path / "native"
    planted = native / fingerprint
    planted.mkdir(parents=True)
    for folder in (native, planted):
        folder.chmod(0o777)  # as another user's umask or a chmod would leave it
    openvino_c = next(name for name in sums if name.startswith("libopenvino_c.so"))
    core = next(name for name in sums if name.startswith("libopenvino.so"))
    payload = tmp_path / "payload.txt"
    payload.write_text("not a library: whoever planted this wants it loaded\n")
    (planted / openvino_c).symlink_to(payload)
    (planted / core).write_text("not a library either\n")
    stale = planted / f".{core}.12345.part"
    stale.write_bytes(b"half an extraction")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))

    result = run_ml_predict(images, tmp_path / "out", native)
    assert result.returncode == 0, result.stderr[-4000:]
    rows = [line for file in (tmp_path / "out").rglob("*") if file.is_file() and not file.name.startswith((".", "_"))
            for line in file.read_text().splitlines()]
    assert len(rows) == 2 and all('"error":null' in row.replace(" ", "") for row in rows), rows

    for folder in (native, planted):
        assert stat.S_IMODE(folder.lstat().st_mode) == 0o700, folder
    for name, sha256 in sums.items():
        library = planted / name
        assert library.is_file() and not library.is_symlink(), name
        assert hashlib.sha256(library.read_bytes()).hexdigest() == sha256, name
    assert not stale.exists(), "an unfinished extraction older than an hour is removed"
    assert payload.read_text().startswith("not a library"), "the link was replaced, its target left alone"


def test_a_native_folder_that_is_a_symbolic_link_is_refused(tmp_path, images):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    native = tmp_path / "native"
    native.symlink_to(elsewhere)
    result = run_ml_predict(images, tmp_path / "out", native)
    assert result.returncode != 0
    assert (f"refusing to load native libraries from {native}: it is a symbolic link; remove it, or choose another "
            f"folder with the JVM option -Dflink-image-udfs.native-dir=<folder> or the environment variable "
            f"FLINK_IMAGE_UDFS_NATIVE_DIR") in result.stderr, result.stderr[-4000:]
    assert not any(elsewhere.iterdir()), "nothing extracted through the link"
