"""Locate (and build on demand) the project's jars for Flink SQL.

* ``whole-file``: the format jar (``format/build.sh``), small, needed by the images table;
* ``openvino``: the ``openvino`` model provider for ``CREATE MODEL`` / ``ML_PREDICT``
  (``provider/build.sh``), self-contained: JNA and OpenVINO's CPU libraries inside (~32 MB).

``python -m udfs.jars [whole-file|openvino]`` prints a jar's path, for SQL-client users:
``ADD JAR '<path>'`` or ``sql-client.sh -j <path>``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
_BUILD_SCRIPT = _ROOT / "format" / "build.sh"
_SOURCES = _ROOT / "format" / "src" / "main"
JAR = _ROOT / "udfs" / "lib" / "flink-whole-file-format.jar"
PROVIDER_JAR = _ROOT / "udfs" / "lib" / "flink-openvino-model.jar"


@dataclass(frozen=True)
class _Jar:
    path: Path
    build_script: Path
    sources: tuple[Path, ...]  # files and folders whose change makes the jar stale

    def is_stale(self) -> bool:
        if not self.path.exists():
            return True
        built = self.path.stat().st_mtime
        files = [f for source in self.sources for f in ([source] if source.is_file() else source.rglob("*"))]
        return any(f.is_file() and f.stat().st_mtime > built for f in files)

    def build(self) -> Path:
        """The jar, built with its script first if missing or stale (in a checkout: an installed
        wheel has no sources, and carries the jar its build compiled)."""
        has_sources = self.build_script.exists() and any(self.sources[0].rglob("*.java"))
        if not has_sources and self.path.exists():
            return self.path
        if not self.is_stale():
            return self.path
        if not has_sources:
            raise RuntimeError(
                f"{self.path} is missing and this install has no Java sources to build it from: "
                "reinstall from a wheel built by `pip wheel .` (which compiles the jars), or use `pip install -e .`"
            )
        result = subprocess.run(
            ["bash", str(self.build_script)],
            env={**os.environ, "PYTHON": sys.executable},
            capture_output=True,
            text=True,
        )
        if result.returncode != 0 or not self.path.exists():
            raise RuntimeError(f"building {self.path.name} failed:\n{result.stderr.strip()}")
        return self.path


def _format_jar() -> _Jar:  # read at call time: tests point these module globals elsewhere
    return _Jar(JAR, _BUILD_SCRIPT, (_SOURCES,))


def _provider_jar() -> _Jar:
    udfs = _ROOT / "udfs"
    return _Jar(
        PROVIDER_JAR,
        _ROOT / "provider" / "build.sh",
        (_ROOT / "provider" / "src" / "main", _ROOT / "provider" / "build.sh", udfs / "presets.py",
         udfs / "config.py", udfs / "preset_data.py", udfs / "rules.py", udfs / "labels"),
    )


def jar_path() -> Path:
    """Return the format jar, building it with ``format/build.sh`` if missing or stale."""
    return _format_jar().build()


def jar_url() -> str:
    """Return the format jar as a ``file://`` URL, as ``pipeline.jars`` expects."""
    return jar_path().as_uri()


def provider_jar_path() -> Path:
    """Return the ``openvino`` model provider jar, building it with ``provider/build.sh`` if
    missing or stale (needs the apt packages libjna-java, libjna-jni and libturbojpeg0)."""
    return _provider_jar().build()


_JARS = {"whole-file": jar_path, "openvino": provider_jar_path}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m udfs.jars", description=__doc__.splitlines()[0])
    parser.add_argument("jar", nargs="?", choices=sorted(_JARS), default="whole-file",
                        help="whole-file (the format, default) or openvino (the model provider)")
    print(_JARS[parser.parse_args(argv).jar]())


if __name__ == "__main__":
    main()
