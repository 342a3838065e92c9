"""TaskManager memory budgets against what a slot's classifier needs outside the JVM heap, as
``bench/memory.py`` measured it (the table in deploy/README.md): managed memory per slot holds the
UDF path's Python worker, task off-heap memory per slot holds OpenVINO, TurboJPEG and JNA inside
the JVM (ML_PREDICT), each with the documented headroom. Flink's own memory calculation (the
wheel's BashJavaUtils, as taskmanager.sh runs it) splits the standalone cluster's configuration and
the Kubernetes manifest's."""

from __future__ import annotations

import re

import pytest

from udfs.cluster.conf import merged_config, taskmanager_memory

from deploy_files import DEPLOY, manifest

pytestmark = pytest.mark.flink  # BashJavaUtils runs in a JVM (about 2 s each)

MIB = 2**20
HEADROOM = 1.25  # deploy/README.md, "Memory": budget per slot = measured peak x 1.25
MIN_TASK_HEAP_MIB = 512  # rows in flight, Arrow batches and (ML_PREDICT) image bytes live on the heap


def measured_peaks() -> dict[str, int]:
    """{path: largest native peak per slot in MiB over the presets and precisions} from the table
    bench.memory prints, as deploy/README.md holds it."""
    rows = re.findall(r"^\| (\w+) \| (\w+) \| (udf|ml_predict) \| (\d+) \|", (DEPLOY / "README.md").read_text(), flags=re.M)
    assert {path for _, _, path, _ in rows} == {"udf", "ml_predict"}, "deploy/README.md: no memory table"
    return {path: max(int(mib) for _, _, p, mib in rows if p == path) for path in ("udf", "ml_predict")}


def assert_budgets_hold(config: dict[str, str]) -> dict[str, float]:
    slots = int(config["taskmanager.numberOfTaskSlots"])
    memory = {key: value / MIB for key, value in taskmanager_memory(config).items()}
    peaks = measured_peaks()
    per_slot = {"managed": memory["taskmanager.memory.managed.size"] / slots,
                "task off-heap": memory["taskmanager.memory.task.off-heap.size"] / slots}
    assert per_slot["managed"] >= HEADROOM * peaks["udf"], (per_slot, peaks)
    assert per_slot["task off-heap"] >= HEADROOM * peaks["ml_predict"], (per_slot, peaks)
    assert memory["taskmanager.memory.task.heap.size"] >= MIN_TASK_HEAP_MIB, memory
    return per_slot


def test_standalone_cluster_budgets_hold_the_measured_native_peaks():
    print(f"per slot (MiB): {assert_budgets_hold(merged_config())}")


def test_kubernetes_taskmanager_budgets_hold_the_measured_native_peaks():
    spec = manifest()["spec"]
    config = {key: str(value) for key, value in spec["flinkConfiguration"].items()}
    # the operator makes the pod's memory the TaskManager's process size
    config["taskmanager.memory.process.size"] = spec["taskManager"]["resource"]["memory"]
    print(f"per slot (MiB): {assert_budgets_hold(config)}")
