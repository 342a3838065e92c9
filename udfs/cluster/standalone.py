"""Lifecycle of a standalone session cluster started from the wheel's own scripts: start a JobManager
and N TaskManagers, add one, wait until ready, stop and sweep up whatever is left.

Conf, logs (the TaskManagers' stdout = the ``print`` sink in ``log/*.out``), pid files and a small
state file live in a work dir, found by the scripts through ``FLINK_CONF_DIR``, ``FLINK_LOG_DIR``
and ``FLINK_PID_DIR``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from udfs.cluster.conf import flink_home, int_option, merged_config, write_conf_dir
from udfs.cluster.errors import ClusterError
from udfs.cluster.processes import ALL_KINDS, JOBMANAGER, TASKMANAGER, find_processes
from udfs.cluster.prometheus import check_ports_suffice
from udfs.cluster.rest import RestClient
from udfs.cluster.submit import flink_run_command
from udfs.config_file import read_config_file

DEFAULT_WORK_DIR = Path(
    os.environ.get(
        "FLINK_IMAGE_UDFS_CLUSTER_DIR",
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "flink-image-udfs" / "cluster",
    )
)
STATE_FILE = "cluster.json"


class Cluster:
    """A standalone cluster whose conf, logs, pid files and state live in ``work_dir``."""

    def __init__(self, work_dir: Path | str = DEFAULT_WORK_DIR, base_env: Mapping[str, str] | None = None):
        """``base_env``: environment the cluster's scripts and daemons start from (os.environ)."""
        self.work_dir = Path(work_dir).expanduser().resolve()
        self.base_env = base_env
        self.conf_dir = self.work_dir / "conf"
        self.log_dir = self.work_dir / "log"
        self.pid_dir = self.work_dir / "pid"

    # where it is -------------------------------------------------------------------------------
    @property
    def state(self) -> dict[str, Any]:
        """What ``start`` recorded: REST address and port, TaskManagers, slots per TaskManager."""
        path = self.work_dir / STATE_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    @property
    def rest_address(self) -> str:
        state = self.state
        return f"{state.get('rest.address', 'localhost')}:{state.get('rest.port', 8081)}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.rest_address}"

    @property
    def rest(self) -> RestClient:
        return RestClient(self.rest_url)

    def config(self) -> dict[str, str]:
        """The Flink options the cluster was started with (its generated ``config.yaml``)."""
        if not (self.conf_dir / "config.yaml").exists():
            raise ClusterError(f"no cluster was started in {self.work_dir}: python -m udfs.cluster start")
        return read_config_file(self.conf_dir / "config.yaml")

    def env(self) -> dict[str, str]:
        """The base environment plus the variables that point Flink's scripts here."""
        env = dict(os.environ if self.base_env is None else self.base_env)
        env.update(
            FLINK_HOME=str(flink_home()),
            FLINK_CONF_DIR=str(self.conf_dir),
            FLINK_LOG_DIR=str(self.log_dir),
            FLINK_PID_DIR=str(self.pid_dir),
            # the wheel's bin scripts run find_flink_home.py with `python` from PATH, and
            # `flink run -py` starts the client with $PYFLINK_CLIENT_EXECUTABLE
            PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            PYFLINK_CLIENT_EXECUTABLE=sys.executable,
        )
        return env

    def script(self, name: str) -> str:
        return str(flink_home() / "bin" / name)

    def _run_script(self, name: str, *args: str, timeout: float = 120) -> None:
        result = subprocess.run([self.script(name), *args], env=self.env(), capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode != 0:
            raise ClusterError(f"{name} {' '.join(args)} failed:\n{result.stdout}{result.stderr}")

    # lifecycle ------------------------------------------------------------------------------
    def start(self, taskmanagers: int = 1, slots: int | None = None, port: int | None = None,
              overrides: Mapping[str, str] | None = None, timeout: float = 120.0) -> dict[str, Any]:
        """Start a JobManager and ``taskmanagers`` TaskManagers with ``slots`` slots each (default:
        ``taskmanager.numberOfTaskSlots``); returns REST ``/overview`` once all have registered."""
        if taskmanagers < 1:
            raise ClusterError(f"--taskmanagers must be at least 1, got {taskmanagers}")
        overrides = dict(overrides or {})
        if port is not None:
            overrides["rest.port"] = str(port)
        if slots is not None:
            overrides["taskmanager.numberOfTaskSlots"] = str(slots)
        if self.state and self.rest.overview() is not None:
            raise ClusterError(f"a cluster already answers at {self.rest_url}; stop it first")
        config = merged_config(overrides)
        try:
            check_ports_suffice(config, processes=1 + taskmanagers)
            state = {
                "rest.address": config.get("rest.address", "localhost"),
                "rest.port": int_option(config, "rest.port", 8081),
                "taskmanagers": taskmanagers,
                "slots": int_option(config, "taskmanager.numberOfTaskSlots", 1),
            }
        except ValueError as error:
            raise ClusterError(str(error)) from None
        if state["slots"] < 1:
            raise ClusterError(f"taskmanager.numberOfTaskSlots must be at least 1, got {state['slots']}")
        for folder in (self.work_dir, self.log_dir, self.pid_dir):
            folder.mkdir(parents=True, exist_ok=True)
        write_conf_dir(self.conf_dir, config, taskmanagers)
        (self.work_dir / STATE_FILE).write_text(json.dumps(state, indent=2))
        if self.rest.overview() is not None:
            raise ClusterError(f"port {state['rest.port']} is taken by another Flink (or server): "
                               "use --port / -D rest.port=...")
        self._run_script("start-cluster.sh")
        return self.wait_ready(taskmanagers, timeout=timeout)

    def wait_ready(self, taskmanagers: int | None = None, timeout: float = 120.0) -> dict[str, Any]:
        """Wait until exactly ``taskmanagers`` (default: as started) TaskManagers with all their
        slots are registered; returns REST ``/overview``."""
        taskmanagers = self.state.get("taskmanagers", 1) if taskmanagers is None else taskmanagers
        slots = taskmanagers * self.state.get("slots", 1)
        deadline = time.monotonic() + timeout
        overview = None
        while time.monotonic() < deadline:
            overview = self.rest.overview()
            if overview and overview.get("taskmanagers") == taskmanagers and overview.get("slots-total") == slots:
                return overview
            if not self.processes(kinds=(JOBMANAGER,)):
                break  # the JobManager died
            time.sleep(0.5)
        raise ClusterError(
            f"cluster at {self.rest_url} not ready within {timeout:.0f} s "
            f"(wanted {taskmanagers} TaskManager(s), {slots} slots; /overview: {overview}); "
            f"logs: {self.log_dir}"
        )

    def add_taskmanager(self, timeout: float = 120.0) -> str:
        """Start one more TaskManager (after a crash, or for more slots); returns its id once it
        has registered with the JobManager."""
        try:
            check_ports_suffice(self.config(), processes=len(self.processes((JOBMANAGER, TASKMANAGER))) + 1)
        except ValueError as error:
            raise ClusterError(str(error)) from None
        known = {tm["id"] for tm in self.rest.taskmanagers()}
        self._run_script("taskmanager.sh", "start", timeout=60)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = [tm["id"] for tm in self.rest.taskmanagers() if tm["id"] not in known]
            if new:
                return new[0]
            time.sleep(0.5)
        raise ClusterError(f"the new TaskManager did not register within {timeout:.0f} s; logs: {self.log_dir}")

    def processes(self, kinds: Iterable[str] = ALL_KINDS) -> dict[int, str]:
        """{pid: kind} of this cluster's JVMs and Python workers."""
        return find_processes(self.conf_dir, kinds)

    def taskmanager_pids(self) -> list[int]:
        return sorted(self.processes((TASKMANAGER,)))

    def stop(self, timeout: float = 30.0) -> list[int]:
        """``stop-cluster.sh``, then SIGTERM/SIGKILL whatever process of this cluster is left.
        Returns the pids that had to be killed."""
        if self.conf_dir.exists():
            try:
                subprocess.run([self.script("stop-cluster.sh")], env=self.env(), capture_output=True,
                               text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        killed: list[int] = []
        deadline = time.monotonic() + 10
        leftovers = self.processes()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in leftovers:
                try:
                    os.kill(pid, sig)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            while leftovers and time.monotonic() < deadline:
                time.sleep(0.2)
                leftovers = self.processes()
            if not leftovers:
                break
            deadline = time.monotonic() + 5
        for pid_file in self.pid_dir.glob("*.pid") if self.pid_dir.exists() else []:
            pid_file.unlink(missing_ok=True)
        return sorted(set(killed))

    # jobs -------------------------------------------------------------------------------------
    def submit_command(self, job_args: list[str], **options: Any) -> list[str]:
        """``flink run`` against this cluster; ``options`` as in :func:`flink_run_command`."""
        return flink_run_command(self.script("flink"), self.rest_address, job_args, **options)

    def submit(self, job_args: list[str], timeout: float | None = None, **options: Any) -> subprocess.CompletedProcess:
        """Run ``flink run`` (the job's client) and wait for it; its output goes to ours."""
        return subprocess.run(self.submit_command(job_args, **options), env=self.env(), text=True, timeout=timeout)
