"""How much memory a cluster's processes hold, from /proc and the JVM's Native Memory Tracking:
what sizing (``bench.memory``) and the cancel-storm test read."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

# TaskManager JVM options for reading its native memory: NMT accounts for what the JVM allocates
# itself, and pre-touching makes the committed heap resident from the start
NMT_FLAGS = "-XX:NativeMemoryTracking=summary -XX:+AlwaysPreTouch"


def status_mib(pid: int, field: str) -> float | None:
    """A ``kB`` field of ``/proc/<pid>/status`` (VmHWM, VmRSS, RssAnon...) in MiB; None when gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def nmt_committed_mib(pid: int) -> float | None:
    """The committed total of the JVM's Native Memory Tracking (heap, metaspace, threads, code, GC,
    direct buffers...: everything the JVM allocates itself)."""
    result = subprocess.run(["jcmd", str(pid), "VM.native_memory", "summary"], capture_output=True, text=True,
                            timeout=60)
    found = re.search(r"Total: reserved=(\d+)KB, committed=(\d+)KB", result.stdout)
    return int(found.group(2)) / 1024 if found else None


def untracked_mib(pid: int) -> float | None:
    """Anonymous resident memory the JVM does not account for: native allocations of libraries."""
    committed = nmt_committed_mib(pid)
    anonymous = status_mib(pid, "RssAnon")
    return None if committed is None or anonymous is None else anonymous - committed
