"""Lifecycle of a standalone session cluster started from the wheel's own scripts: start a JobManager
and N TaskManagers, add one, wait until ready, stop and sweep up whatever is left.

With high availability (``ha=True``, ``start --ha``) the cluster also runs a ZooKeeper of its own
(:mod:`udfs.cluster.zookeeper`, unless ``high-availability.zookeeper.quorum`` names an ensemble)
and two JobManagers, a leader and a standby (Flink's standalone HA: one ``masters`` line each);
when the leader dies the standby takes over and recovers the running jobs from their last
checkpoints. Job graphs, checkpoint pointers and blobs go to ``high-availability.storageDir``
under the work dir.

Conf, logs (the TaskManagers' stdout = the ``print`` sink in ``log/*.out``), pid files and a small
state file live in a work dir, found by the scripts through ``FLINK_CONF_DIR``, ``FLINK_LOG_DIR``
and ``FLINK_PID_DIR``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from udfs.cluster.conf import (HA_STORAGE, flink_home, free_port, int_option, merged_config, taskmanager_memory,
                               with_high_availability, write_conf_dir)
from udfs.cluster.errors import ClusterError
from udfs.cluster.processes import ALL_KINDS, JOBMANAGER, TASKMANAGER, ZOOKEEPER, command_line, find_processes
from udfs.cluster.prometheus import check_ports_suffice
from udfs.cluster.rest import RestClient
from udfs.cluster.submit import flink_run_command
from udfs.cluster.zookeeper import ZooKeeperServer, leader_rest_port
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
    def rest_ports(self) -> list[int]:
        """The REST port of each JobManager (leader and standbys), as started."""
        state = self.state
        return state.get("rest.ports") or [state.get("rest.port", 8081)]

    @property
    def rest_address(self) -> str:
        """``host:port`` of a JobManager's REST API: with several, the first that answers (any of
        them serves the leader's API; a dead one's port refuses at once)."""
        host = self.state.get("rest.address", "localhost")
        ports = self.rest_ports
        if len(ports) > 1:
            for port in ports:
                if RestClient(f"http://{host}:{port}").overview() is not None:
                    return f"{host}:{port}"
        return f"{host}:{ports[0]}"

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
        # glibc gives each new thread that contends for malloc an arena of its own (up to 8 per
        # core) and rarely returns their free pages: measured in tests/test_cancel_storm.py, 30
        # ML_PREDICT jobs on one TaskManager grew its native memory by ~6 MiB per job, flat with
        # 2 arenas (Flink's Docker images switch to jemalloc for the same reason)
        env.setdefault("MALLOC_ARENA_MAX", "2")
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
              overrides: Mapping[str, str] | None = None, timeout: float = 120.0, ha: bool = False,
              standby_port: int | None = None) -> dict[str, Any]:
        """Start a JobManager and ``taskmanagers`` TaskManagers with ``slots`` slots each (default:
        ``taskmanager.numberOfTaskSlots``); returns REST ``/overview`` once all have registered.
        ``ha``: also a standby JobManager whose REST API listens on ``standby_port`` (default: the
        REST port + 1), and a ZooKeeper of the cluster's own unless the configuration names a
        ``high-availability.zookeeper.quorum``; HA state from an earlier cluster in this work dir
        is cleared (stopping a cluster ends its jobs, with or without HA)."""
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
        own_zookeeper = ha and "high-availability.zookeeper.quorum" not in config
        zookeeper_port = free_port() if own_zookeeper else None
        if ha:
            config = with_high_availability(config, self.work_dir, zookeeper_port)
        try:
            rest_port = int_option(config, "rest.port", 8081)
            rest_ports = [rest_port, standby_port or rest_port + 1] if ha else [rest_port]
            check_ports_suffice(config, processes=len(rest_ports) + taskmanagers)
            state = {
                "rest.address": config.get("rest.address", "localhost"),
                "rest.port": rest_port,
                "rest.ports": rest_ports,
                "taskmanagers": taskmanagers,
                "slots": int_option(config, "taskmanager.numberOfTaskSlots", 1),
                "ha": ha,
                "zookeeper.port": zookeeper_port,
            }
        except ValueError as error:
            raise ClusterError(str(error)) from None
        if state["slots"] < 1:
            raise ClusterError(f"taskmanager.numberOfTaskSlots must be at least 1, got {state['slots']}")
        if len(set(rest_ports)) < len(rest_ports):
            raise ClusterError(f"--standby-port must differ from the REST port {rest_port}")
        try:
            taskmanager_memory(config)  # what taskmanager.sh would refuse after start-cluster.sh returned
        except ValueError as error:
            raise ClusterError(str(error)) from None
        for folder in (self.work_dir, self.log_dir, self.pid_dir):
            folder.mkdir(parents=True, exist_ok=True)
        write_conf_dir(self.conf_dir, config, taskmanagers, jobmanager_ports=rest_ports)
        (self.work_dir / STATE_FILE).write_text(json.dumps(state, indent=2))
        taken = [p for p in rest_ports if RestClient(f"http://{state['rest.address']}:{p}").overview() is not None]
        if taken:
            raise ClusterError(f"port {taken[0]} is taken by another Flink (or server): "
                               "use --port / --standby-port / -D rest.port=...")
        if ha:
            shutil.rmtree(self.work_dir / HA_STORAGE, ignore_errors=True)  # job graphs, blobs of an earlier cluster
        if own_zookeeper:
            self.zookeeper.start(zookeeper_port, self.env())
        self._run_script("start-cluster.sh")
        return self.wait_ready(taskmanagers, timeout=timeout)

    @property
    def zookeeper(self) -> ZooKeeperServer:
        return ZooKeeperServer(self.conf_dir, self.work_dir / "zookeeper", self.log_dir / "zookeeper.log")

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

    def add_jobmanager(self, port: int | None = None, timeout: float = 120.0) -> int:
        """Start one more JobManager of a cluster started with ``ha`` (a new standby, e.g. after
        the leader died and the standby took over) with its REST API on ``port`` (default: the
        first of the cluster's REST ports no JobManager uses). Returns its pid once its REST API
        answers."""
        state = self.state
        if not state.get("ha"):
            raise ClusterError("add-jobmanager needs a cluster started with --ha: without high availability "
                               "a second JobManager would be a second, separate cluster")
        in_use = set(self.jobmanagers().values())
        if port is None:
            port = next((p for p in self.rest_ports if p not in in_use), None)
            if port is None:
                raise ClusterError(f"every REST port of the cluster ({self.rest_ports}) has a JobManager: pass --port")
        elif port in in_use:
            raise ClusterError(f"a JobManager of this cluster already uses REST port {port}")
        try:
            check_ports_suffice(self.config(), processes=len(self.processes((JOBMANAGER, TASKMANAGER))) + 1)
        except ValueError as error:
            raise ClusterError(str(error)) from None
        host = state.get("rest.address", "localhost")
        self._run_script("jobmanager.sh", "start", host, str(port), timeout=60)
        if port not in self.rest_ports:
            state["rest.ports"] = [*self.rest_ports, port]
            (self.work_dir / STATE_FILE).write_text(json.dumps(state, indent=2))
        rest = RestClient(f"http://{host}:{port}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = next((pid for pid, p in self.jobmanagers().items() if p == port), None)
            if pid is not None and rest.overview() is not None:
                return pid
            time.sleep(0.5)
        raise ClusterError(f"the JobManager on REST port {port} did not answer within {timeout:.0f} s; logs: {self.log_dir}")

    def jobmanagers(self) -> dict[int, int]:
        """{pid: REST port} of this cluster's JobManagers."""
        default = self.rest_ports[0]
        ports = {}
        for pid in self.processes((JOBMANAGER,)):
            # jobmanager.sh passes a master line's port as `-D rest.port=<port>`
            given = [a.split("=", 1)[1] for a in command_line(pid) if a.startswith("rest.port=")]
            ports[pid] = int(given[-1]) if given else default
        return ports

    def leader(self) -> int | None:
        """The pid of the leading JobManager of a ``--ha`` cluster, as ZooKeeper names it (a leader
        killed with kill -9 stays named until its ZooKeeper session expires); None while there is
        none. (Any JobManager's REST API serves the leader's jobs, but its ``/jobmanager/*`` pages
        describe the process that answers, so they cannot tell.)"""
        config = self.config()
        if config.get("high-availability.type") != "zookeeper":
            raise ClusterError("leader() needs a cluster started with --ha")
        port = leader_rest_port(config["high-availability.zookeeper.quorum"],
                                config.get("high-availability.zookeeper.path.root", "/flink"),
                                config.get("high-availability.cluster-id", "/default"), env=self.env())
        return next((pid for pid, p in self.jobmanagers().items() if p == port), None)

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
        self._stop_zookeeper()
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

    def _stop_zookeeper(self, timeout: float = 10.0) -> None:
        """SIGTERM the ZooKeeper of ``start --ha`` (after the JobManagers, which stop-cluster.sh
        stopped) and wait for it: not a leftover, so not among the pids ``stop`` reports."""
        for pid in self.processes((ZOOKEEPER,)):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while self.processes((ZOOKEEPER,)) and time.monotonic() < deadline:
            time.sleep(0.2)

    # jobs -------------------------------------------------------------------------------------
    def submit_command(self, job_args: list[str], **options: Any) -> list[str]:
        """``flink run`` against this cluster; ``options`` as in :func:`flink_run_command`."""
        return flink_run_command(self.script("flink"), self.rest_address, job_args, **options)

    def submit(self, job_args: list[str], timeout: float | None = None, **options: Any) -> subprocess.CompletedProcess:
        """Run ``flink run`` (the job's client) and wait for it; its output goes to ours."""
        return subprocess.run(self.submit_command(job_args, **options), env=self.env(), text=True, timeout=timeout)
