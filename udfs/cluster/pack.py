"""A relocatable archive of a virtualenv for ``python.archives`` (``-pyarch``): the TaskManagers'
Python workers run its interpreter and packages, with no pip and no internet on the workers."""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

from udfs.cluster.errors import ClusterError

# Java parts of the wheel: the TaskManager has them already; Python workers need only pyflink's
# Python modules.
_PACK_EXCLUDE = ("pyflink/lib", "pyflink/opt", "pyflink/plugins", "pyflink/examples", "pyflink/licenses",
                 "pyflink/log", "pyflink/conf")  # pyflink/bin stays: the workers run its pyflink-udf-runner.sh


def pack(output: Path, venv: Path | None = None) -> Path:
    """Archive the virtual environment ``venv`` (default: this interpreter's) as a ``.tar.gz``
    whose top level is the venv itself (``bin/``, ``lib/``, ``pyvenv.cfg``), for
    ``python.archives`` / ``-pyarch <archive>#venv`` with ``-pyexec venv/bin/python``.

    The interpreter inside stays a link to the base Python (``pyvenv.cfg``'s ``home``): the
    archive runs on TaskManagers that have the same base Python at the same path (same image),
    and carries every package of the venv: no pip, no internet on the workers."""
    venv = Path(venv or sys.prefix).resolve()
    if not (venv / "pyvenv.cfg").exists():
        raise ClusterError(f"{venv} is not a virtual environment (no pyvenv.cfg)")
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    site = next((venv / "lib").glob("python3*/site-packages"), None)

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        name = info.name
        if "__pycache__" in name.split("/"):
            return None
        if site is not None:
            rel_site = str(site.relative_to(venv))
            for excluded in _PACK_EXCLUDE:
                if name == f"{rel_site}/{excluded}" or name.startswith(f"{rel_site}/{excluded}/"):
                    return None
        return info

    partial = output.with_name(output.name + ".part")
    with tarfile.open(partial, "w:gz", compresslevel=1) as archive:
        for child in sorted(venv.iterdir()):
            if child == output or child == partial:
                continue
            archive.add(child, arcname=child.name, filter=keep)
    partial.replace(output)
    return output


def pack_arguments(archive: Path, name: str = "venv") -> list[str]:
    return ["-pyarch", f"{archive}#{name}", "-pyexec", f"{name}/bin/python"]
