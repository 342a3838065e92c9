"""Locate (and build on demand) the jar of the ``whole-file`` Flink SQL format.

``python -m udfs.format_jar`` prints the jar path, for SQL-client users:
``ADD JAR '<path>'`` or ``sql-client.sh -j <path>``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
_BUILD_SCRIPT = _ROOT / "format" / "build.sh"
_SOURCES = _ROOT / "format" / "src" / "main"
JAR = _ROOT / "udfs" / "lib" / "flink-whole-file-format.jar"


def _is_stale() -> bool:
    if not JAR.exists():
        return True
    built = JAR.stat().st_mtime
    return any(f.stat().st_mtime > built for f in _SOURCES.rglob("*") if f.is_file())


def jar_path() -> Path:
    """Return the format jar, building it with ``format/build.sh`` if missing or stale."""
    if not _is_stale():
        return JAR
    if not _BUILD_SCRIPT.exists() or not any(_SOURCES.rglob("*.java")):
        # A wheel carries the jar only if it was built before the wheel (package data).
        raise RuntimeError(
            f"{JAR} is missing and this install has no Java sources to build it from: in a "
            "checkout, run `bash format/build.sh` before `pip install .` (or use `pip install -e .`)"
        )
    result = subprocess.run(
        ["bash", str(_BUILD_SCRIPT)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not JAR.exists():
        raise RuntimeError(f"building {JAR.name} failed:\n{result.stderr.strip()}")
    return JAR


def jar_url() -> str:
    """Return the jar as a ``file://`` URL, as ``pipeline.jars`` expects."""
    return jar_path().as_uri()


if __name__ == "__main__":
    print(jar_path())
