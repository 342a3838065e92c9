"""A real Prometheus server (Debian package ``prometheus``) for the tests: started on a free port with
a given scrape configuration and its own data dir, queried through its HTTP API, always stopped."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml


class PrometheusServer:
    def __init__(self, scrape_config: dict[str, Any], directory: Path, port: int):
        self.binary = shutil.which("prometheus")
        if self.binary is None:
            raise FileNotFoundError("prometheus not found (apt-get install -y prometheus; .ci/run does it)")
        self.directory = directory
        self.url = f"http://localhost:{port}"
        directory.mkdir(parents=True, exist_ok=True)
        self.config_file = directory / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(scrape_config, sort_keys=False))
        self.log = open(directory / "prometheus.log", "w")
        self.process = subprocess.Popen(
            [self.binary, f"--config.file={self.config_file}", f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address=localhost:{port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited {self.process.returncode}: {self.logs()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise TimeoutError(f"prometheus not ready within {timeout} s: {self.logs()[-2000:]}")

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query: the ``result`` list of a vector (``metric`` labels + ``value``)."""
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.loads(response.read())
        if answer["status"] != "success":
            raise RuntimeError(f"{promql}: {answer}")
        return answer["data"]["result"]

    def scalar(self, promql: str) -> float | None:
        """The value of a query that yields one series (e.g. a ``sum``), or None when it yields none."""
        result = self.query(promql)
        if len(result) > 1:
            raise AssertionError(f"{promql}: expected one series, got {len(result)}")
        return float(result[0]["value"][1]) if result else None

    def logs(self) -> str:
        self.log.flush()
        return (self.directory / "prometheus.log").read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()
