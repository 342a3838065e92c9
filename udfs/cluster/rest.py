"""Flink's REST API (the one the web UI uses): cluster overview, jobs, cancel, stop with a savepoint.
https://nightlies.apache.org/flink/flink-docs-stable/docs/ops/rest_api/"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from udfs.cluster.errors import ClusterError


class RestClient:
    def __init__(self, url: str):
        self.url = url

    def request(self, path: str, method: str = "GET", body: Any = None, timeout: float = 5.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"} if data else {})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def get(self, path: str, timeout: float = 5.0) -> Any:
        return self.request(path, timeout=timeout)

    def overview(self) -> dict[str, Any] | None:
        """``/overview``, or None when nothing (or something that is not Flink) answers."""
        try:
            return self.get("/overview", timeout=2.0)
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def jobs(self) -> list[dict[str, Any]]:
        return self.get("/jobs/overview")["jobs"]

    def taskmanagers(self) -> list[dict[str, Any]]:
        return self.get("/taskmanagers")["taskmanagers"]

    def cancel(self, job_id: str) -> None:
        self.request(f"/jobs/{job_id}?mode=cancel", method="PATCH")

    def stop_with_savepoint(self, job_id: str, directory: str, timeout: float = 120.0) -> str:
        """Take a savepoint into ``directory`` and stop the job (``flink stop -p``, no drain: a
        streaming source is not told its input ended, so the job can resume from the savepoint).
        Returns the savepoint's path for ``flink run -s``."""
        trigger = self.request(f"/jobs/{job_id}/stop", method="POST",
                               body={"targetDirectory": directory, "drain": False})["request-id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.get(f"/jobs/{job_id}/savepoints/{trigger}")
            if status["status"]["id"] == "COMPLETED":
                operation = status["operation"]
                if "failure-cause" in operation:
                    cause = operation["failure-cause"].get("stack-trace", "").splitlines()
                    raise ClusterError(f"savepoint of job {job_id} failed: {cause[0] if cause else operation}")
                return operation["location"]
            time.sleep(0.5)
        raise ClusterError(f"savepoint of job {job_id} not done within {timeout:.0f} s")
