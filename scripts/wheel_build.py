"""The project's build backend: setuptools, plus what makes a wheel work on its own.

* ``BuildPy`` (setuptools' ``build_py`` command, named in pyproject.toml) compiles both jars with
  the checkout's own scripts (``format/build.sh``, ``provider/build.sh``: javac against PyFlink's
  jars; the provider packs OpenVINO's native libraries, JNA and libturbojpeg) straight into the
  wheel's ``udfs/lib``, and copies the files the package reads besides its modules (``sql/*.sql``,
  ``conf/job.yaml``) into ``udfs/data`` (found by ``udfs.package_data``); ``BdistWheel`` tags the
  wheel with this platform rather than "any", since the provider jar carries its native libraries.
* Building a wheel therefore needs PyFlink's jars and OpenVINO's libraries: ``get_requires_for_build_wheel``
  adds ``apache-flink-libraries`` (the jars alone, no Python dependencies) and ``openvino``, in the
  versions ``[project] dependencies`` asks for. Editable installs and sdists do not need them (a
  checkout builds its jars on demand, see ``udfs.jars``), so their requirements stay
  setuptools alone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  every other hook is setuptools' own
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py
from setuptools.errors import ExecError

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
JAR_SCRIPTS = ("format/build.sh", "provider/build.sh")
DATA_FILES = ("sql/*.sql", "conf/job.yaml")  # checkout-relative; the wheel's copies keep the path
# What the jar builds import, by the name of the [project] dependency whose version range they take.
_JAR_BUILD_REQUIREMENTS = {"apache-flink": "apache-flink-libraries", "openvino": "openvino"}


def get_requires_for_build_wheel(config_settings=None) -> list[str]:
    return _setuptools.get_requires_for_build_wheel(config_settings) + jar_build_requirements()


def jar_build_requirements() -> list[str]:
    """``apache-flink-libraries`` and ``openvino`` with the version ranges of the project's
    dependencies on ``apache-flink`` and ``openvino``."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    requirements = []
    for dependency in dependencies:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*([<>=!~].*)?", dependency.strip())
        if match and match.group(1) in _JAR_BUILD_REQUIREMENTS:
            requirements.append(_JAR_BUILD_REQUIREMENTS[match.group(1)] + (match.group(2) or ""))
    if len(requirements) != len(_JAR_BUILD_REQUIREMENTS):
        raise ExecError(f"pyproject.toml: [project] dependencies must name {sorted(_JAR_BUILD_REQUIREMENTS)}")
    return requirements


def java_environment() -> dict[str, str]:
    """This environment with $JAVA_HOME/bin first on PATH, if set; a JDK's javac and jar must be
    found, or the build stops here saying so."""
    env = {**os.environ, "PYTHON": sys.executable}
    if env.get("JAVA_HOME"):
        env["PATH"] = os.pathsep.join([str(Path(env["JAVA_HOME"]) / "bin"), env.get("PATH", "")])
    missing = [tool for tool in ("javac", "jar") if shutil.which(tool, path=env.get("PATH")) is None]
    if missing:
        raise ExecError(
            f"building the flink-image-udfs wheel compiles its two jars and needs a JDK 11+: {' and '.join(missing)} "
            "not found on PATH (nor in $JAVA_HOME/bin). Install one (e.g. apt-get install openjdk-17-jdk-headless) "
            "or set JAVA_HOME."
        )
    return env


class BuildPy(build_py):
    """``build_py`` that also builds the jars and copies the data files into a (non-editable) build."""

    def run(self) -> None:
        super().run()
        self._added: list[str] = []
        if self.editable_mode:  # the checkout's own sql/, conf/ and on-demand jars serve
            return
        package = Path(self.build_lib) / "udfs"
        for built in (package / "lib", package / "data"):  # nothing left from an earlier build
            shutil.rmtree(built, ignore_errors=True)
        env = java_environment() | {"JAR_DIR": str(package / "lib")}
        for script in JAR_SCRIPTS:
            print(f"building {script} (javac)", flush=True)
            result = subprocess.run(["bash", str(ROOT / script)], env=env, stdout=subprocess.PIPE, text=True)
            jar = Path(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else None
            if result.returncode != 0 or jar is None or not jar.is_file():
                raise ExecError(f"{script} failed (exit status {result.returncode}); its messages are above")
            self._added.append(str(jar))
        for pattern in DATA_FILES:
            for source in sorted(ROOT.glob(pattern)):
                target = package / "data" / source.relative_to(ROOT)
                self.mkpath(str(target.parent))
                self.copy_file(str(source), str(target))
                self._added.append(str(target))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return super().get_outputs(include_bytecode) + getattr(self, "_added", [])


class BdistWheel(bdist_wheel):
    """``bdist_wheel`` tagged ``py3-none-<this platform>`` (unless ``--plat-name`` says otherwise)."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.plat_name_supplied:
            self.plat_name, self.plat_name_supplied = sysconfig.get_platform(), True
