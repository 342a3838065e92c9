"""``python -m udfs.cluster``: the command line of the standalone-cluster driver."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

import udfs.cluster
from udfs.cluster.errors import ClusterError
from udfs.cluster.pack import pack, pack_arguments
from udfs.cluster.prometheus import scrape_config
from udfs.cluster.standalone import DEFAULT_WORK_DIR, Cluster
from udfs.cluster.submit import SQL_RUNNER
from udfs.config_file import parse_key_values


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m udfs.cluster", description=udfs.cluster.__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR,
                        help=f"conf, logs, pid files and state (default {DEFAULT_WORK_DIR})")
    commands = parser.add_subparsers(dest="command", required=True)

    start = commands.add_parser("start", help="start a JobManager and TaskManagers, wait until ready")
    start.add_argument("-n", "--taskmanagers", type=int, default=1, help="number of TaskManagers (default 1)")
    start.add_argument("-s", "--slots", type=int,
                       help="slots per TaskManager (default: conf/cluster/config.yaml's taskmanager.numberOfTaskSlots)")
    start.add_argument("--port", type=int, help="REST port (default: conf/cluster/config.yaml's rest.port)")
    start.add_argument("-D", dest="defines", action="append", default=[], metavar="KEY=VALUE",
                       help="override a cluster option")
    start.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for all TaskManagers")
    start.add_argument("--ha", action="store_true",
                       help="high availability: a standby JobManager that takes over the running jobs when "
                            "the leader dies, and a ZooKeeper of the cluster's own (unless -D "
                            "high-availability.zookeeper.quorum=... names an ensemble)")
    start.add_argument("--standby-port", type=int, help="REST port of the standby JobManager (default: REST port + 1)")

    commands.add_parser("stop", help="stop the cluster; kill any of its processes still running")
    commands.add_parser("status", help="print REST /overview, the jobs and (--ha) the JobManagers")
    add = commands.add_parser("add-taskmanager", help="start one more TaskManager (e.g. after a crash)")
    add.add_argument("--timeout", type=float, default=120.0)
    add_jm = commands.add_parser("add-jobmanager",
                                 help="start one more (standby) JobManager of a --ha cluster, e.g. after a failover")
    add_jm.add_argument("--port", type=int, help="its REST port (default: a port of the cluster no JobManager uses)")
    add_jm.add_argument("--timeout", type=float, default=120.0)

    submit = commands.add_parser("submit", help="flink run a Python job (default: the SQL runner)")
    submit.add_argument("--job", type=Path, default=SQL_RUNNER, help="job file (default udfs/sql.py)")
    submit.add_argument("--python", help="python.executable of the workers (default: this python)")
    submit.add_argument("--pyarch", action="append", default=[], help="python.archives entry (see pack)")
    submit.add_argument("--pyfs", action="append", default=[], help="more python files/dirs to ship")
    submit.add_argument("-j", "--jar", action="append", default=[], help="extra jar for the job")
    submit.add_argument("-p", "--parallelism", type=int, default=2)
    submit.add_argument("-d", "--detached", action="store_true", help="return once submitted")
    submit.add_argument("-s", "--from-savepoint", metavar="PATH", help="resume from this savepoint (see stop-job)")
    submit.add_argument("-D", dest="defines", action="append", default=[], metavar="KEY=VALUE",
                        help="Flink option for this job (flink run -Dkey=value)")
    submit.add_argument("job_args", nargs=argparse.REMAINDER, help="after --: the job's arguments")

    stop_job = commands.add_parser("stop-job", help="stop a job with a savepoint; prints the savepoint's path")
    stop_job.add_argument("job_id")
    stop_job.add_argument("--savepoint-dir", required=True, help="where the savepoint goes (a path or URI)")
    stop_job.add_argument("--timeout", type=float, default=120.0)

    prometheus = commands.add_parser("prometheus-config", help="print a prometheus.yml for this cluster's reporters")
    prometheus.add_argument("--interval", default="5s", help="scrape interval (default 5s)")

    pack_cmd = commands.add_parser("pack", help="archive the venv for python.archives")
    pack_cmd.add_argument("--output", type=Path, default=DEFAULT_WORK_DIR.parent / "venv.tar.gz")
    pack_cmd.add_argument("--venv", type=Path, help="venv to pack (default: this python's)")
    return parser


def run(args: argparse.Namespace, defines: dict[str, str]) -> int:
    cluster = Cluster(args.work_dir)
    if args.command == "start":
        started = time.perf_counter()
        overview = cluster.start(taskmanagers=args.taskmanagers, slots=args.slots, port=args.port,
                                 overrides=defines, timeout=args.timeout, ha=args.ha, standby_port=args.standby_port)
        zookeeper = cluster.config().get("high-availability.zookeeper.quorum")
        ha = (f"; high availability: ZooKeeper {zookeeper}, JobManagers' REST ports {cluster.rest_ports} "
              "(leader and standby)" if args.ha else "")
        print(f"Flink {overview.get('flink-version')} cluster ready at {cluster.rest_url} in "
              f"{time.perf_counter() - started:.1f} s: {overview['taskmanagers']} TaskManager(s), "
              f"{overview['slots-total']} slots{ha}; logs in {cluster.log_dir}")
    elif args.command == "stop":
        killed = cluster.stop()
        print("cluster stopped" + (f" (killed leftover pids {killed})" if killed else ""))
    elif args.command == "status":
        overview = cluster.rest.overview()
        if overview is None:
            print(f"no cluster answers at {cluster.rest_url}")
            return 1
        status = {"rest": cluster.rest_url, "overview": overview, "jobs": cluster.rest.jobs()}
        if cluster.state.get("ha"):
            leader = cluster.leader()
            status["jobmanagers"] = [{"pid": pid, "rest.port": port, "leader": pid == leader}
                                     for pid, port in sorted(cluster.jobmanagers().items())]
        print(json.dumps(status, indent=2))
    elif args.command == "add-taskmanager":
        print(f"TaskManager {cluster.add_taskmanager(timeout=args.timeout)} registered")
    elif args.command == "add-jobmanager":
        pid = cluster.add_jobmanager(port=args.port, timeout=args.timeout)
        print(f"JobManager {pid} started (REST port {cluster.jobmanagers()[pid]})")
    elif args.command == "submit":
        if cluster.rest.overview() is None:
            raise ClusterError(f"no cluster answers at {cluster.rest_url}: python -m udfs.cluster start")
        job_args = args.job_args[1:] if args.job_args[:1] == ["--"] else args.job_args
        result = cluster.submit(job_args, job=args.job, python=args.python, archives=args.pyarch,
                                parallelism=args.parallelism, jars=args.jar, py_files=args.pyfs,
                                detached=args.detached, savepoint=args.from_savepoint, options=defines)
        return result.returncode
    elif args.command == "stop-job":
        print(cluster.rest.stop_with_savepoint(args.job_id, args.savepoint_dir, timeout=args.timeout))
    elif args.command == "prometheus-config":
        try:
            print(yaml.safe_dump(scrape_config(cluster.config(), args.interval), sort_keys=False), end="")
        except ValueError as error:
            raise ClusterError(str(error)) from None
    elif args.command == "pack":
        started = time.perf_counter()
        archive = pack(args.output, args.venv)
        size = archive.stat().st_size / 2**20
        print(f"packed {args.venv or sys.prefix} into {archive} ({size:.0f} MiB) in "
              f"{time.perf_counter() - started:.0f} s; submit with:")
        print(f"  python -m udfs.cluster submit --pyarch {archive}#venv --python venv/bin/python -- ...")
        print("  flink run ... " + " ".join(pack_arguments(archive)) + " ...")
    return 0


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    try:
        defines = parse_key_values(getattr(args, "defines", []), flag="-D")
    except ValueError as error:
        cli.error(str(error))
    try:
        return run(args, defines)
    except ClusterError as error:
        print(f"ERROR {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
