"""GGUF checks, the bundled model, and downloads from a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.engine import LocalEngine, ModelUnavailableError
from app.gguf import GGUFError, read_gguf
from app.models import ModelStore, ModelStoreError, default_model


def test_reads_the_default_models_header(default_model_path: Path) -> None:
    info = read_gguf(default_model_path)
    assert info.architecture == "gemma3"
    assert info.expected_bytes == info.size_bytes == default_model_path.stat().st_size
    assert info.chat_template is None and not info.looks_instruction_tuned  # a base model


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda src, dst: dst.write_bytes(src.read_bytes()[:100_000_000]), "truncated"),
        (lambda src, dst: dst.write_bytes(src.read_bytes()[:2000]), "truncated"),
        (lambda src, dst: dst.write_text("not a model at all"), "not a GGUF"),
        (lambda src, dst: None, "does not exist"),
    ],
)
def test_bad_model_files_are_reported_before_loading(
    default_model_path: Path, tmp_path: Path, make: object, message: str
) -> None:
    bad = tmp_path / "bad.gguf"
    make(default_model_path, bad)  # type: ignore[operator]
    with pytest.raises(GGUFError, match=message):
        read_gguf(bad)
    with pytest.raises(ModelUnavailableError, match=message):
        LocalEngine(bad)


def test_default_model_is_assembled_once_with_progress_and_checksum(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    seen: list[tuple[int, int | None]] = []
    path = store.ensure_default(lambda done, total: seen.append((done, total)))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == default_model().sha256
    assert seen[-1][0] == seen[-1][1] == path.stat().st_size and len(seen) > 10
    mtime = path.stat().st_mtime_ns
    assert store.ensure_default() == path and path.stat().st_mtime_ns == mtime  # not redone
    assert not list(store.models_dir.glob("*.part"))
    # A damaged copy (wrong size) is made again.
    with path.open("r+b") as handle:
        handle.truncate(1000)
    store.ensure_default()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == default_model().sha256


class _ModelServer(http.server.BaseHTTPRequestHandler):
    """Serves one file with Range support; can drop the first transfer halfway."""

    payload = b""
    drop_after: int | None = None
    requests: list[str | None] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        type(self).requests.append(self.headers.get("Range"))
        if self.path != "/models/tiny.gguf":
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
            if start >= len(self.payload):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(self.payload) - 1}/{len(self.payload)}")
        else:
            self.send_response(200)
        body = self.payload[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if type(self).drop_after is not None:
            cut = type(self).drop_after
            type(self).drop_after = None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(2)  # the connection dies mid-transfer
            return
        self.wfile.write(body)


@pytest.fixture
def model_server(default_model_path: Path) -> Iterator[str]:
    _ModelServer.payload = default_model_path.read_bytes()
    _ModelServer.drop_after = None
    _ModelServer.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ModelServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_download_resumes_after_an_interrupted_transfer(model_server: str, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    _ModelServer.drop_after = 40_000_000
    progress: list[int] = []
    path = store.download(
        f"{model_server}/models/tiny.gguf",
        sha256=default_model().sha256,
        progress=lambda done, total: progress.append(done),
    )
    assert path.name == "tiny.gguf"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == default_model().sha256
    # The second request asked only for what was missing.
    assert _ModelServer.requests[0] is None
    assert _ModelServer.requests[1] == "bytes=40000000-"
    assert not list(store.models_dir.glob("*.part"))
    assert [m.path.name for m in store.list_models()] == ["tiny.gguf"]


def test_a_partial_file_is_never_a_model_and_is_resumed_by_the_next_call(model_server: str, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    _ModelServer.drop_after = 10_000_000
    with pytest.raises(ModelStoreError, match="run it again"):
        store.download(f"{model_server}/models/tiny.gguf", retries=0)
    assert store.list_models() == [] and (store.models_dir / "tiny.gguf.part").stat().st_size == 10_000_000
    path = store.download(f"{model_server}/models/tiny.gguf", sha256=default_model().sha256)
    assert _ModelServer.requests[-1] == "bytes=10000000-"
    assert read_gguf(path).architecture == "gemma3"


def test_download_refuses_bad_input_and_wrong_checksums(model_server: str, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    with pytest.raises(ModelStoreError, match="Not a download link"):
        store.download("ftp://example.com/x.gguf")
    with pytest.raises(ModelStoreError, match="64 hexadecimal"):
        store.download(f"{model_server}/models/tiny.gguf", sha256="abc")
    with pytest.raises(ModelStoreError, match="HTTP 404"):
        store.download(f"{model_server}/models/missing.gguf")
    with pytest.raises(ModelStoreError, match="does not match the expected sha256"):
        store.download(f"{model_server}/models/tiny.gguf", sha256="0" * 64)
    assert not (store.models_dir / "tiny.gguf").exists() and not list(store.models_dir.glob("*.part"))
