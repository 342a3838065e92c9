"""deploy/ without Docker or Kubernetes (neither exists here): the container image definition, the
FlinkDeployment and the Grafana dashboard parse, and agree with each other, with the installed
Flink and with the README's commands. tests/test_cluster.py runs the manifest's job arguments
through the same entry class on a real cluster."""

from __future__ import annotations

import json
import re

import pytest

from udfs.cluster.conf import CLUSTER_CONF, flink_home
from udfs.cluster.prometheus import reporter_ports
from udfs.config import load_config
from udfs.config_file import read_config_file
from udfs.presets import get_preset

from conftest import REPO
from deploy_files import (DASHBOARD, DEPLOY, build_args, copied_from_checkout, dockerfile, final_stage, job_args,
                          manifest, model_dir, run_commands)

PYTHON_DRIVER = "org.apache.flink.client.python.PythonDriver"


@pytest.fixture(scope="module")
def flink_version() -> str:
    from pyflink.version import __version__

    return __version__


def runner_args() -> list[str]:
    """The SQL runner's arguments: what follows PythonDriver's ``-pym udfs.sql``."""
    args = job_args()
    assert args[:2] == ["-pym", "udfs.sql"], "PythonDriver options first, then the runner's arguments"
    return args[2:]


def scripts(args: list[str]) -> list[str]:
    """``-i``/``-f`` scripts in run order, as ``sql/<name>``."""
    return [f"sql/{value.rsplit('/', 1)[-1]}" for flag, value in zip(args, args[1:]) if flag in ("-i", "-f")]


def test_manifest_runs_the_wheels_flink_version(flink_version):
    spec = manifest()["spec"]
    assert (manifest()["apiVersion"], manifest()["kind"]) == ("flink.apache.org/v1beta1", "FlinkDeployment")
    major_minor = "_".join(flink_version.split(".")[:2])
    assert spec["flinkVersion"] == f"v{major_minor}"
    jar = f"flink-python-{flink_version}.jar"
    assert spec["job"]["jarURI"] == f"local:///opt/flink/opt/{jar}"
    assert (flink_home() / "opt" / jar).is_file(), "the Flink image's opt/ holds the same jar as the wheel's"
    assert spec["job"]["entryClass"] == PYTHON_DRIVER


def test_image_is_the_same_flink_and_pyflink(flink_version):
    assert build_args()["FLINK_IMAGE"].startswith(f"flink:{flink_version}-")
    assert f'pip install --no-cache-dir "apache-flink=={flink_version}"' in run_commands()
    assert "pip install --no-cache-dir ." in run_commands(), "the wheel build puts both jars into the package"


def test_build_stage_copies_what_the_wheel_build_reads():
    """pyproject.toml, the package, and what MANIFEST.in lists for the sdist (the Java sources,
    the build scripts and backend, the data files)."""
    needed = {"pyproject.toml", "MANIFEST.in", "README.md", "udfs"}
    for line in (REPO / "MANIFEST.in").read_text().splitlines():
        if line.split()[:1] in (["graft"], ["include"]):
            needed |= {path.split("/")[0] for path in line.split()[1:]}
    stages = [i for i, (kind, _) in enumerate(dockerfile()) if kind == "FROM"] + [len(dockerfile())]
    [build] = [dockerfile()[start:end] for start, end in zip(stages, stages[1:]) if dockerfile()[start][1].endswith(" AS build")]
    copied = {source for kind, arguments in build if kind == "COPY" for source in arguments.split()[:-1]}
    assert needed <= copied, needed - copied


def test_python_is_the_images_virtualenv():
    venv = re.search(r"python3 -m venv (\S+)", run_commands()).group(1)
    config = manifest()["spec"]["flinkConfiguration"]
    assert config["python.client.executable"] == config["python.executable"] == f"{venv}/bin/python"
    assert ("COPY", f"--from=build {venv} {venv}") in final_stage()
    assert not any(flag in job_args() for flag in ("-pyfs", "-pyarch", "-pyexec")), "nothing shipped with the job"


def test_job_reads_files_the_image_holds():
    from udfs.sql import parse_args

    args = parse_args(runner_args())
    copies = copied_from_checkout()
    for path in [args.conf, *args.init, *args.file]:
        folder = next((dst for dst in copies if str(path).startswith(dst + "/")), None)
        assert folder is not None, f"{path}: not copied into the image"
        assert (copies[folder] / str(path)[len(folder) + 1:]).is_file(), path


def test_model_is_the_one_baked_into_the_image():
    from udfs.sql import parse_args

    options = parse_args(runner_args()).options  # --set KEY=VALUE entries
    preset = get_preset(options.get("classify.model", read_config_file(REPO / "conf" / "job.yaml")["classify.model"]))
    assert preset.name == build_args()["MODEL"]
    assert options["classify.model-path"] == f"{model_dir()}/{preset.file_name}"
    assert ("COPY", f"--from=build {model_dir()} {model_dir()}") in final_stage()
    load_config({k: v for k, v in options.items() if k != "classify.model-path"})  # valid options


def test_scripts_are_the_readmes():
    """The manifest runs the scripts the README's cluster command runs, in the same order."""
    readme_commands = [scripts(block.split()) for block in re.findall(r"(?:-[if] sql/\S+\s*(?:\\\s*)?)+",
                                                                        (REPO / "README.md").read_text())]
    assert scripts(runner_args()) in readme_commands


def test_prometheus_reporter_as_on_the_standalone_cluster():
    config = {key: str(value) for key, value in manifest()["spec"]["flinkConfiguration"].items()}
    local = read_config_file(CLUSTER_CONF)
    factory = "metrics.reporter.prom.factory.class"
    assert config[factory] == local[factory]
    annotations = manifest()["spec"]["podTemplate"]["metadata"]["annotations"]
    assert reporter_ports(config) == [int(annotations["prometheus.io/port"])]


def test_pods_use_glibc_malloc_with_the_clusters_arena_limit():
    """Flink's images preload jemalloc unless DISABLE_JEMALLOC=true; with it a TaskManager aborted
    as ML_PREDICT started. The arena limit is the one udfs.cluster gives its processes."""
    from udfs.cluster import Cluster

    container = manifest()["spec"]["podTemplate"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["DISABLE_JEMALLOC"] == "true"
    assert env["MALLOC_ARENA_MAX"] == Cluster(REPO / "unused", base_env={}).env()["MALLOC_ARENA_MAX"]


def test_kubernetes_high_availability_keeps_its_state_on_the_shared_volume():
    """A JobManager pod that dies is replaced and recovers the job: Kubernetes HA, with job graphs
    and checkpoints on the volume every pod mounts (not in a pod's own file system)."""
    spec = manifest()["spec"]
    config = spec["flinkConfiguration"]
    assert config["high-availability.type"] == "kubernetes"
    assert spec["serviceAccount"], "leader election edits ConfigMaps: the operator's service account may"
    (container,) = spec["podTemplate"]["spec"]["containers"]
    mounts = [mount["mountPath"] for mount in container["volumeMounts"]]
    for key in ("high-availability.storageDir", "execution.checkpointing.dir", "execution.checkpointing.savepoint-dir"):
        path = config[key].removeprefix("file://")
        assert any(path.startswith(mount + "/") for mount in mounts), f"{key}: {config[key]} is on no shared volume"
    claims = {volume["persistentVolumeClaim"]["claimName"] for volume in spec["podTemplate"]["spec"]["volumes"]}
    assert claims, "the state outlives the pods only on a persistent volume"
    assert spec["jobManager"].get("replicas", 1) >= 1


def test_grafana_dashboard_queries_the_udfs_metrics():
    """Each classify_* metric the dashboard queries is one the UDF registers (the cluster test runs
    every query against a real Prometheus)."""
    registered = set(re.findall(r'metrics\.(?:counter|gauge|distribution)\("(\w+)"',
                                (REPO / "udfs" / "functions.py").read_text()))
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"_classify_(\w+)", target["expr"])}
    assert queried and queried <= registered, queried - registered


def test_deploy_readme_builds_and_applies_these_files():
    text = (DEPLOY / "README.md").read_text()
    built = re.findall(r"docker build -f (\S+)", text)
    applied = re.findall(r"kubectl apply -f (\S+)", text)
    assert built and applied
    assert {REPO / path for path in built} == {DEPLOY / "Dockerfile"}
    assert DEPLOY / "flink-deployment.yaml" in {REPO / path for path in applied}


def test_capacity_table_is_consistent():
    """Each row's images/s per core is 1000 / its CPU ms per image (as ``bench.capacity`` prints),
    for every model preset the benchmarks run, in f32 and bf16, and ResNet-50 in int8."""
    from bench.capacity import table

    text = (DEPLOY / "README.md").read_text()
    rows = re.findall(r"^\| (\w+) \| (f32|bf16|int8) \| ([\d.]+) \| (\d+) \|", text, flags=re.M)
    assert {(model, precision) for model, precision, _, _ in rows} == {
        (model, precision) for model in ("resnet50", "efficientnet_lite0", "mobilenet_v2_quant") for precision in ("f32", "bf16")
    } | {("resnet50", "int8")}
    for model, precision, cpu_ms, per_core in rows:
        result = {"meta": {"model": model, "precision_used": precision, "timestamp": "2026-01-01T00:00:00",
                           "images": 800, "repeats": 2,
                           "machine": {"load_avg_at_start": [1.0], "cpu": "x", "cores": 2, "isa": []}},
                  "rows": [{"key": "flink-batch", "cpu_ms_per_image": float(cpu_ms)}]}
        assert f"| {model} | {precision} | {cpu_ms} | {per_core} |" in table([result])
