"""Prometheus scraping of the cluster: Flink's Prometheus reporter (a plugin the wheel ships in
``pyflink/plugins/metrics-prometheus``) serves ``/metrics`` from the JobManager and every
TaskManager, each on the first free port of ``metrics.reporter.<name>.port``; this module reads
that range from a cluster's configuration and writes the scrape configuration for it."""

from __future__ import annotations

from typing import Any, Mapping

REPORTER_FACTORY = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
DEFAULT_PORT = "9249"  # the reporter's default


def parse_ports(spec: str) -> list[int]:
    """``"9249-9251,9300"`` -> ``[9249, 9250, 9251, 9300]`` (Flink's port-range syntax)."""
    ports: list[int] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        first, _, last = part.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise ValueError(f"port range '{spec}': expected e.g. 9249-9259") from None
        if not 0 < low <= high < 65536:
            raise ValueError(f"port range '{spec}': expected ports within 1-65535, low to high")
        ports += range(low, high + 1)
    return ports


def reporter_ports(config: Mapping[str, str]) -> list[int]:
    """The ports the cluster's Prometheus reporter may listen on; [] when none is configured."""
    for key, value in config.items():
        if key.startswith("metrics.reporter.") and key.endswith(".factory.class") and value == REPORTER_FACTORY:
            name = key[len("metrics.reporter."):-len(".factory.class")]
            option = f"metrics.reporter.{name}.port"
            try:
                return parse_ports(config.get(option, DEFAULT_PORT))
            except ValueError as error:
                raise ValueError(f"'{option}': {error}") from None
    return []


def check_ports_suffice(config: Mapping[str, str], processes: int) -> None:
    """Each process takes one port of the range: fewer ports than processes leaves some unscraped."""
    ports = reporter_ports(config)
    if ports and len(ports) < processes:
        raise ValueError(f"the Prometheus reporter's port range has {len(ports)} port(s) for {processes} "
                         "processes (JobManager + TaskManagers): widen metrics.reporter.prom.port")


def scrape_config(config: Mapping[str, str], interval: str = "5s") -> dict[str, Any]:
    """A ``prometheus.yml`` scraping every port of the range on the cluster's hosts; ports that no
    process took show as ``up == 0`` targets."""
    ports = reporter_ports(config)
    if not ports:
        raise ValueError(f"no Prometheus reporter configured (metrics.reporter.<name>.factory.class: {REPORTER_FACTORY})")
    hosts = sorted({config.get("jobmanager.rpc.address", "localhost"), config.get("taskmanager.host", "localhost")})
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [{
            "job_name": "flink",
            "static_configs": [{"targets": [f"{host}:{port}" for host in hosts for port in ports]}],
        }],
    }
