"""Environment for PyFlink's Python workers.

On the embedded MiniCluster the workers run inside the client process (PyFlink's loopback mode),
behind a gRPC server that ``TableEnvironment.create`` starts. Importing OpenVINO there forks a
process that sends OpenVINO's usage telemetry; gRPC's fork handlers then log "Other threads are
currently calling into gRPC, skipping fork() handlers", preceded by absl's "All log messages
before absl::InitializeLog() is called are written to STDERR". gRPC reads these variables once,
when it starts: set them before the ``TableEnvironment`` is created (on a standalone cluster, in
the TaskManagers' environment, whose Python workers inherit it).
"""

from __future__ import annotations

import os
from typing import MutableMapping

GRPC_ENV = {
    "GRPC_ENABLE_FORK_SUPPORT": "false",  # no process a worker forks uses gRPC
    "GRPC_VERBOSITY": "ERROR",
}


def quiet_grpc(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set ``GRPC_ENV`` in ``environ`` where the user has not set the variables."""
    for key, value in GRPC_ENV.items():
        environ.setdefault(key, value)
