"""The OpenAI-compatible backend against llama-cpp-python's own server on loopback, and the keyring."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import keyring
import keyring.backend
import pytest

from app.assistant.extraction import EXTRACTION_SCHEMA
from app.config.keychain import Keychain, KeychainError
from app.llm.engine import CancelToken, GenerationSettings
from app.llm.prompt_format import ChatTurn
from app.llm.remote import RemoteError, RemoteModel
from app.runtime import Runtime
from memory import DB_FILENAME, MemoryService
from memory.embedding import MiniLMEmbedder
from tests.conftest import Run

SECRET = "sk-test-4f1d2c9a7b6e5d4c3b2a1908f7e6d5c4"


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend that keeps secrets in this process only."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(default_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(default_model_path),
                "--model_alias",
                "gemma-270m",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
                "--n_threads",
                "2",
                # The base model has no template; the server's fallback (llama-2) often yields nothing.
                "--chat_format",
                "gemma",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/models", timeout=2):
                break
        except OSError:
            if process.poll() is not None:
                pytest.fail("the llama.cpp server exited:\n" + log.read_text(errors="replace")[-2000:])
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("the llama.cpp server did not start")
    yield base
    process.terminate()
    process.wait(timeout=30)


def test_streams_a_chat_answer_from_the_endpoint(llama_server: str) -> None:
    model = RemoteModel(llama_server, "gemma-270m", context_length=2048)
    assert "gemma-270m" in model.list_models()
    generation = model.generate([ChatTurn("user", "Say hello.")], GenerationSettings(max_tokens=30, seed=1))
    pieces = list(generation)
    model.close()
    assert len(pieces) >= 2 and generation.text == "".join(pieces).strip()
    assert generation.stats.completion_tokens == len(pieces)


def test_schema_constrained_output_and_cancel(llama_server: str) -> None:
    model = RemoteModel(llama_server, "gemma-270m", context_length=2048)
    turns = [ChatTurn("system", "List the facts as JSON."), ChatTurn("user", "Jane Doe is the contact at Acme.")]
    raw = model.generate(turns, GenerationSettings(max_tokens=150, seed=0, json_schema=EXTRACTION_SCHEMA)).result()
    jsonschema.validate(json.loads(raw, strict=False), EXTRACTION_SCHEMA)
    cancel = CancelToken()
    generation = model.generate([ChatTurn("user", "Tell a long story.")], GenerationSettings(max_tokens=400), cancel)
    next(generation)
    started = time.perf_counter()
    cancel.cancel()
    list(generation)
    assert time.perf_counter() - started < 0.2 and generation.stats.finish_reason == "cancel"
    model.close()


def test_an_endpoint_that_is_down_gives_a_clear_error() -> None:
    model = RemoteModel(f"http://127.0.0.1:{_free_port()}", "x", timeout=3)
    with pytest.raises(RemoteError, match="Cannot reach"):
        model.generate([ChatTurn("user", "hi")], GenerationSettings(max_tokens=5)).result()
    model.close()


def test_without_a_keyring_backend_the_message_says_what_to_do() -> None:
    from keyring.backends import fail

    keychain = Keychain(fail.Keyring())
    assert not keychain.available
    with pytest.raises(KeychainError, match="No system keyring"):
        keychain.set_api_key("http://x/v1", SECRET)


def test_the_api_key_lives_only_in_the_keyring(
    llama_server: str, tmp_path: Path, embedder: MiniLMEmbedder, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOSSIER_MODELS_DIR", str(models_dir))
    backend = MemoryKeyring()
    data_dir = tmp_path / "data"
    with Runtime.open(
        data_dir,
        keychain=Keychain(backend),
        open_service=lambda p, **options: MemoryService.open(p, embedder=embedder, **options),
    ) as rt:
        rt.keychain.set_api_key(llama_server, SECRET)
        rt.update_settings(
            remote_base_url=llama_server, remote_model="gemma-270m", chat_backend="remote", background_backend="remote"
        )
        project = rt.service.create_project("Acme")
        rt.service.add_fact(project.id, "Jane Doe is the contact at Acme.")
        session = rt.service.start_session(project.id)
        result = rt.conversation().ask(session.id, "Remember that the budget is 40,000 euros.")
        assert result.text and result.assistant_message is not None
        result.background.result()
        rt.service.export_project(project.id)
    assert backend.secrets == {("Dossier", f"endpoint:{llama_server}"): SECRET}
    leaked = [path for path in data_dir.rglob("*") if path.is_file() and SECRET.encode() in path.read_bytes()]
    assert leaked == []
    assert os.stat(data_dir).st_mode & 0o777 == 0o700


def test_a_whole_session_with_a_key_leaves_it_nowhere_but_the_keyring(
    llama_server: str,
    run: Run,
    data_dir: Path,
    tmp_path: Path,
    models_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every file under the data dir, every output file (backups unzipped), every log record."""
    monkeypatch.setenv("DOSSIER_MODELS_DIR", str(models_dir))
    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    caplog.set_level(logging.DEBUG)
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    try:
        monkeypatch.setattr(sys, "stdin", io.StringIO(SECRET + "\n"))
        printed = [
            run("project", "create", "Acme"),
            run("fact", "add", "--project", "Acme", "Jane Doe is the contact at Acme."),
            run("model", "remote", llama_server, "--model", "gemma-270m", "--api-key-stdin"),
            run("chat", "--project", "Acme", "Remember that the budget is 40,000 euros."),
            run("inbox", "--project", "Acme"),
            run("summarize", "--due"),
            run("export", "--project", "Acme", "--output", str(outputs / "acme.json")),
            run("brief", "--project", "Acme", "--output", str(outputs / "acme.md")),
            run("brief", "--project", "Acme", "--output", str(outputs / "acme.pdf")),
            run("backup", "--output", str(outputs / "backup.zip")),
        ]
    finally:
        keyring.set_keyring(previous)
    assert [code for code, _, _ in printed] == [0] * len(printed), printed
    assert backend.secrets == {("Dossier", f"endpoint:{llama_server}"): SECRET}

    files = [p for p in [*data_dir.rglob("*"), *outputs.rglob("*")] if p.is_file()]
    contents = {str(p): p.read_bytes() for p in files}
    for archive in [*outputs.glob("*.zip"), *(data_dir / "backups").glob("*.zip")]:
        with zipfile.ZipFile(archive) as opened:
            contents |= {f"{archive}!{name}": opened.read(name) for name in opened.namelist()}
    contents |= {f"printed {i}": (out + err).encode() for i, (_, out, err) in enumerate(printed)}
    contents["log"] = "\n".join(r.getMessage() for r in caplog.records).encode()
    assert len(contents) > 10 and any(name.endswith(f"!{DB_FILENAME}") for name in contents)
    leaked = [name for name, data in contents.items() if SECRET.encode() in data or SECRET[3:20].encode() in data]
    assert leaked == []

    assert os.stat(data_dir).st_mode & 0o777 == 0o700
    loose = {
        str(p.relative_to(data_dir)): oct(p.stat().st_mode & 0o777)
        for p in data_dir.rglob("*")
        if p.stat().st_mode & 0o777 != (0o700 if p.is_dir() else 0o600)
    }
    assert loose == {}
