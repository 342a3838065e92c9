"""A wheel that works on its own: ``pip wheel .`` compiles both jars into it and ships the SQL
scripts and conf/job.yaml; installed in a new virtual environment, ``flink-image-sql --script``
classifies the sample images from a folder outside the checkout, the checkout not on sys.path.

The wheel is built as users build it (pip's isolated build environment: apache-flink-libraries and
openvino come from the index). The new environment gets the wheel alone (``--no-deps``) and reaches
its dependencies through a .pth line naming this environment's site-packages: installing
apache-flink and the rest into it from the index would add ~2 minutes and ~540 MB of downloads to
every run; ``pip check`` there still proves the wheel's declared dependencies are satisfied.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

from udfs import sql as sql_runner
from udfs.package_data import data_path

from conftest import REPO, SHARED, needs_shared, subprocess_env

MOBILENET = SHARED / "models" / "mobilenet_v2_1.0_224_quant.tflite"
SAMPLES = REPO / "samples" / "images"


def load_backend():
    spec = importlib.util.spec_from_file_location("wheel_build", REPO / "scripts" / "wheel_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- fast: the build backend and the script sets ------------------------------------------------------


def test_wheel_build_requires_the_jars_inputs_in_the_dependencies_versions():
    tomllib = pytest.importorskip("tomllib")
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    flink = next(d for d in dependencies if d.startswith("apache-flink"))
    openvino = next(d for d in dependencies if d.startswith("openvino"))
    assert load_backend().jar_build_requirements() == [
        flink.replace("apache-flink", "apache-flink-libraries", 1), openvino]


def test_wheel_build_without_a_jdk_says_what_to_install(tmp_path, monkeypatch):
    backend = load_backend()
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(Exception, match=r"needs a JDK 11\+: javac and jar not found on PATH .*"
                                        r"apt-get install openjdk-17-jdk-headless\) or set JAVA_HOME"):
        backend.java_environment()


def test_script_sets_name_shipped_scripts_and_put_extra_scripts_before_the_last():
    for init, script in sql_runner.SCRIPT_SETS.values():
        assert all((REPO / "sql" / name).is_file() for name in (*init, script))
    sql = REPO / "sql"
    args = sql_runner.parse_args(["--script", "classify", "-i", "knobs.sql", "-f", "more.sql", "--set", "classify.top-k=3"])
    assert args.init == [sql / "10_images.sql", sql / "20_functions.sql", sql / "29_sinks.sql", Path("knobs.sql")]
    assert args.file == [Path("more.sql"), sql / "30_classify.sql"]
    assert args.options == {"classify.top-k": "3"}


def test_data_path_prefers_the_installed_copy(tmp_path, monkeypatch):
    from udfs import package_data

    assert data_path("conf/job.yaml") == REPO / "conf" / "job.yaml"  # a checkout: no udfs/data
    (tmp_path / "udfs" / "data" / "sql").mkdir(parents=True)
    monkeypatch.setattr(package_data, "_PACKAGE", tmp_path / "udfs")
    assert data_path("sql") == tmp_path / "udfs" / "data" / "sql"
    assert data_path("conf/job.yaml") == tmp_path / "conf" / "job.yaml"


# --- the wheel, built and installed -------------------------------------------------------------------


def run(command: list, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, f"{command}: exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> dict:
    """A new environment (no system site-packages) with the wheel built from this checkout."""
    root = tmp_path_factory.mktemp("wheel")
    started = time.monotonic()
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", root / "dist", REPO], 1200)
    build_seconds = time.monotonic() - started
    [wheel] = (root / "dist").glob("flink_image_udfs-*.whl")
    assert wheel.name.endswith("-py3-none-linux_x86_64.whl"), "tagged for the natives in the provider jar"
    contents = set(zipfile.ZipFile(wheel).namelist())
    assert {"udfs/lib/flink-whole-file-format.jar", "udfs/lib/flink-openvino-model.jar", "udfs/data/conf/job.yaml",
            *(f"udfs/data/sql/{p.name}" for p in (REPO / "sql").glob("*.sql"))} <= contents

    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], 120)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel], 300)
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], 60).stdout.strip())
    # This environment's packages, not the checkout: its editable install is a .pth file in there,
    # and the .pth files of a folder that a .pth line adds are not read.
    dependencies = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    (site / "zz_dependencies.pth").write_text("".join(f"{path}\n" for path in dependencies))
    run([sys.executable, "-m", "pip", "--python", python, "check"], 120)

    env = {key: value for key, value in subprocess_env().items() if key != "PYTHONPATH"}
    where = json.loads(run([python, "-c", "import json, sys, udfs; print(json.dumps([udfs.__file__, sys.path]))"],
                           60, cwd=root, env=env).stdout)
    assert Path(where[0]).is_relative_to(site), where[0]
    assert REPO not in {(root / entry).resolve() for entry in where[1]}, where[1]  # '' is the cwd: root

    images = root / "images"
    shutil.copytree(SAMPLES, images)
    return {"root": root, "bin": venv / "bin", "site": site, "env": env, "images": images,
            "build_seconds": build_seconds, "setup_seconds": time.monotonic() - started}


def classify_with_the_wheel(installed: dict, script: str, output: Path, arguments: list[str]) -> list[dict]:
    """``flink-image-sql --script <script> <arguments>`` of the installed wheel, from outside the
    checkout; the JSON lines it writes."""
    result = run([installed["bin"] / "flink-image-sql", "--script", script, *arguments], 900, cwd=installed["root"],
                 env=installed["env"] | {"IMAGES_DIR": str(installed["images"]), "OUTPUT_DIR": str(output)})
    last_script = sql_runner.SCRIPT_SETS[script][1]
    assert f"({installed['site'] / 'udfs' / 'data' / 'sql' / last_script}:" in result.stdout, result.stdout
    return [json.loads(line) for file in sorted(output.rglob("*")) if file.is_file() and not file.name.startswith(".")
            for line in file.read_text().splitlines()]


def assert_classified(rows: list[dict], images: Path) -> None:
    by_name = {Path(row["path"]).name: row for row in rows}
    assert sorted(by_name) == sorted(p.name for p in images.iterdir()) and len(rows) == len(by_name)
    assert all(row["error"] is None and row["label"] for row in rows), rows
    assert by_name["hot_dog.jpg"]["label"] == "hotdog"


@needs_shared
@pytest.mark.slow
@pytest.mark.flink
def test_installed_wheel_classifies_with_the_pandas_udf(installed_wheel, tmp_path, measured):
    started = time.monotonic()
    model = ["--set", "classify.model=mobilenet_v2_quant", "--set", f"classify.model-path={MOBILENET}"]
    rows = classify_with_the_wheel(installed_wheel, "classify", tmp_path / "out", model)
    measured(f"[wheel] built in {installed_wheel['build_seconds']:.0f} s, installed and checked after "
             f"{installed_wheel['setup_seconds']:.0f} s; --script classify ran in {time.monotonic() - started:.0f} s")
    assert_classified(rows, installed_wheel["images"])


@pytest.mark.slow
@pytest.mark.flink
def test_installed_wheel_uses_its_own_jars(installed_wheel):
    """``python -m udfs.jars`` of the install names the wheel's jars (nothing to build them from)."""
    lib = installed_wheel["site"] / "udfs" / "lib"
    for jar, name in [("whole-file", "flink-whole-file-format.jar"), ("openvino", "flink-openvino-model.jar")]:
        located = run([installed_wheel["bin"] / "python", "-m", "udfs.jars", jar], 60, cwd=installed_wheel["root"],
                      env=installed_wheel["env"])
        assert located.stdout.strip() == str(lib / name)
