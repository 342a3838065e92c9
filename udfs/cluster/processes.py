"""Finding a cluster's processes on this machine by its conf dir, so that stopping one cluster never
touches another (other clusters, other users' jobs)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

JOBMANAGER = "StandaloneSessionClusterEntrypoint"
TASKMANAGER = "TaskManagerRunner"
PYTHON_WORKER = "pyflink.fn_execution.beam.beam_boot"  # module a Python UDF worker runs
ZOOKEEPER = "ZooKeeperServerMain"  # the ZooKeeper of `start --ha` (its zoo.cfg is in the conf dir)
ALL_KINDS = (JOBMANAGER, TASKMANAGER, PYTHON_WORKER, ZOOKEEPER)


def find_processes(conf_dir: Path, kinds: Iterable[str] = ALL_KINDS) -> dict[int, str]:
    """{pid: kind} of the processes started with ``conf_dir``: JobManager/TaskManager and ZooKeeper
    JVMs (their command line names it) and Python UDF workers (they inherit ``FLINK_CONF_DIR``; a TaskManager
    killed with SIGKILL leaves them orphaned)."""
    kinds = tuple(kinds)
    marker = str(conf_dir)
    found: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = [a.decode(errors="replace") for a in (proc / "cmdline").read_bytes().split(b"\0")]
            ours = any(a == marker or a.endswith(marker) or marker + "/" in a for a in args)
            if not ours and any(PYTHON_WORKER in a for a in args):
                ours = f"FLINK_CONF_DIR={marker}".encode() in (proc / "environ").read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked, or is not ours to read
            continue
        if ours:
            kind = next((k for k in kinds if any(a.endswith(k) for a in args)), None)
            if kind:
                found[int(proc.name)] = kind
    return found


def command_line(pid: int) -> list[str]:
    """The arguments of process ``pid`` ([] once it has ended)."""
    try:
        return [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return []
