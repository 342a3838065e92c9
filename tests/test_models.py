import hashlib
import http.server
import threading
from dataclasses import replace

import pytest

from udfs import models
from udfs.config import load_config
from udfs.presets import get_preset

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
    return replace(get_preset("resnet50"), url=f"{url}/model.onnx", sha256=sha256, file_name="model.onnx")


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


def test_resolve_explicit_path():
    config = load_config({"classify.model-path": "/models/r.onnx"})
    assert str(models.resolve_model_path(config)) == "/models/r.onnx"


def test_resolve_cached_file(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "MODEL_DIR", tmp_path)
    (tmp_path / "resnet50-v1-7.onnx").write_bytes(b"x")
    assert models.resolve_model_path(load_config({})) == tmp_path / "resnet50-v1-7.onnx"


def test_resolve_missing_tells_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "MODEL_DIR", tmp_path)
    with pytest.raises(ValueError, match=r"run `python -m udfs.models fetch resnet50` or set classify.model-path"):
        models.resolve_model_path(load_config({}))
