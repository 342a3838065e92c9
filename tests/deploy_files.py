"""Reading deploy/: the Dockerfile's instructions, the FlinkDeployment manifest, and the map from
paths inside the image to where the same files are in this checkout."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml

from conftest import REPO

DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
MANIFEST = DEPLOY / "flink-deployment.yaml"
DASHBOARD = DEPLOY / "grafana" / "flink-image-udfs.json"


@cache
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") and not pending:
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            if pending.strip():
                logical.append(pending.strip())
            pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def build_args() -> dict[str, str]:
    """``ARG NAME=default`` values."""
    return dict(arguments.split("=", 1) for kind, arguments in dockerfile() if kind == "ARG" and "=" in arguments)


def run_commands() -> str:
    return "\n".join(arguments for kind, arguments in dockerfile() if kind == "RUN")


def final_stage() -> list[tuple[str, str]]:
    stages = [i for i, (kind, _) in enumerate(dockerfile()) if kind == "FROM"]
    return dockerfile()[stages[-1]:]


def copied_from_checkout() -> dict[str, Path]:
    """Image path -> checkout path of every ``COPY <src> <dst>`` of the final stage."""
    copies = {}
    for kind, arguments in final_stage():
        if kind == "COPY" and not arguments.startswith("--from"):
            source, destination = arguments.split()
            copies[destination] = REPO / source
    return copies


def model_dir() -> str:
    """Where the Dockerfile puts the fetched model (``udfs.models fetch ... --dest``)."""
    return re.search(r"udfs\.models fetch \S+ --dest (\S+)", run_commands()).group(1)


@cache
def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


def job_args() -> list[str]:
    return [str(arg) for arg in manifest()["spec"]["job"]["args"]]


def local_path(image_path: str, models: Path) -> str:
    """``image_path`` as a path of this checkout (``models``: where the model is fetched here)."""
    for prefix, local in [*copied_from_checkout().items(), (model_dir(), models)]:
        if image_path == prefix or image_path.startswith(prefix + "/"):
            return str(local) + image_path[len(prefix):]
    return image_path


def local_job_args(models: Path) -> list[str]:
    """The manifest's job arguments with image paths mapped to this checkout (also inside
    ``--set key=/path`` values)."""
    mapped = []
    for arg in job_args():
        key, sep, value = arg.partition("=")
        mapped.append(key + sep + local_path(value, models) if sep else local_path(arg, models))
    return mapped
