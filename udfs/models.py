"""Download preset models into the local cache and find the model file a config refers to.

    python -m udfs.models fetch [resnet50] [--dest DIR]

Downloads stream into a temporary file beside the target while the sha256 is computed; only a
matching file is renamed into place (atomically), so an interrupted or tampered download never
leaves a file that looks valid.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

from udfs import presets
from udfs.config import MODEL_DIR, ClassifierConfig
from udfs.presets import ModelEntry

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(entry: ModelEntry, dest: Path = MODEL_DIR, *, timeout: float = 60.0) -> Path:
    """Make sure ``dest/<entry.file_name>`` holds the entry's verified model; return its path."""
    if entry.url is None:
        raise ValueError(
            f"{entry.name}: no public download URL; set classify.model-path to your copy of "
            f"{entry.file_name}"
        )
    target = Path(dest) / entry.file_name
    if target.is_file() and (entry.sha256 is None or sha256_of(target) == entry.sha256):
        log.info("%s: already present at %s", entry.name, target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("%s: downloading %s", entry.name, entry.url)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{entry.file_name}.", suffix=".part", delete=False) as part:
        try:
            digest = hashlib.sha256()
            with urllib.request.urlopen(entry.url, timeout=timeout) as response:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    digest.update(chunk)
                    part.write(chunk)
            part.close()
            if entry.sha256 is not None and digest.hexdigest() != entry.sha256:
                raise ValueError(
                    f"{entry.name}: sha256 mismatch for {entry.url}: expected {entry.sha256}, "
                    f"got {digest.hexdigest()}; download discarded"
                )
            os.replace(part.name, target)
        finally:
            if os.path.exists(part.name):
                os.unlink(part.name)
    return target


def resolve_model_path(config: ClassifierConfig) -> Path:
    """``classify.model-path`` if set, else the preset's file in the model cache."""
    if config.model_path is not None:
        return config.model_path
    cached = MODEL_DIR / config.preset.file_name
    if cached.is_file():
        return cached
    name = config.preset.name
    if config.preset.url is None:
        hint = f"set classify.model-path to your copy of {config.preset.file_name}"
    else:
        hint = f"run `python -m udfs.models fetch {name}` or set classify.model-path"
    raise ValueError(f"classify.model-path: not set and no cached model for preset '{name}' at {cached}; {hint}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m udfs.models", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_parser = commands.add_parser("fetch", help="download a preset's model and verify it")
    fetch_parser.add_argument("preset", nargs="?", default=presets.DEFAULT, choices=sorted(presets.PRESETS))
    fetch_parser.add_argument("--dest", type=Path, default=MODEL_DIR, help=f"directory (default {MODEL_DIR})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        print(fetch(presets.get_preset(args.preset), args.dest))
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
