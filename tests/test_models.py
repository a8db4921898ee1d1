"""GGUF checks, the bundled model, and downloads from a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from app.llm.engine import LocalEngine, ModelUnavailableError
from app.llm.gguf import GGUFError, read_gguf
from app.llm.models import ModelStore, ModelStoreError, default_model
from tests.servers import ModelServer


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


def test_download_resumes_after_an_interrupted_transfer(model_server: str, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    ModelServer.drop_after = 40_000_000
    progress: list[int] = []
    path = store.download(
        f"{model_server}/models/tiny.gguf",
        sha256=default_model().sha256,
        progress=lambda done, total: progress.append(done),
    )
    assert path.name == "tiny.gguf"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == default_model().sha256
    # The second request asked only for what was missing.
    assert ModelServer.requests[0] is None
    assert ModelServer.requests[1] == "bytes=40000000-"
    assert not list(store.models_dir.glob("*.part"))
    assert [m.path.name for m in store.list_models()] == ["tiny.gguf"]


def test_a_partial_file_is_never_a_model_and_is_resumed_by_the_next_call(model_server: str, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    ModelServer.drop_after = 10_000_000
    with pytest.raises(ModelStoreError, match="run it again"):
        store.download(f"{model_server}/models/tiny.gguf", retries=0)
    assert store.list_models() == [] and (store.models_dir / "tiny.gguf.part").stat().st_size == 10_000_000
    path = store.download(f"{model_server}/models/tiny.gguf", sha256=default_model().sha256)
    assert ModelServer.requests[-1] == "bytes=10000000-"
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


def test_offline_a_download_says_no_network(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    # ".invalid" never resolves (RFC 6761): what a machine without a network sees for every host.
    with pytest.raises(ModelStoreError, match=r"^No network: dossier-test\.invalid could not be reached") as refused:
        store.download("https://dossier-test.invalid/models/tiny.gguf", retries=1)
    assert "resumed" not in str(refused.value)
    with pytest.raises(ModelStoreError, match="could not start"):  # a server that refuses is not "no network"
        store.download("http://127.0.0.1:9/models/tiny.gguf", retries=0)


def test_the_catalogue_is_pinned_and_says_what_fits() -> None:
    from app.llm.catalogue import CATALOGUE, find, machine_memory

    assert len(CATALOGUE) >= 2 and len({m.id for m in CATALOGUE}) == len(CATALOGUE)
    for entry in CATALOGUE:
        assert entry.url.startswith("https://huggingface.co/") and entry.url.endswith("/" + entry.file_name)
        assert len(entry.sha256) == 64 and int(entry.sha256, 16) >= 0
        assert entry.size_bytes > 100_000_000 and entry.ram_bytes > entry.size_bytes
        assert entry.licence and entry.good_for and find(entry.id) is entry
        assert entry.fits(entry.ram_bytes) is True and entry.fits(entry.ram_bytes - 1) is False
        assert entry.fits(None) is None
    assert any(m.commercial_use for m in CATALOGUE)
    memory = machine_memory()
    assert memory is None or memory > 2**28


def test_local_chat_servers_are_found_with_their_models(chat_server: int, model_server: str) -> None:
    from app.llm.catalogue import find_local_servers

    other_http = int(model_server.rsplit(":", 1)[1])  # answers, but not with a model list
    found = find_local_servers((("Ollama", chat_server), ("LM Studio", 9), ("Something else", other_http)))
    assert [(s.name, s.base_url, s.models) for s in found] == [
        ("Ollama", f"http://127.0.0.1:{chat_server}/v1", ("llama3.2:3b", "qwen2.5:7b-instruct"))
    ]
