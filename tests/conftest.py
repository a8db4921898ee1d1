"""Shared fixtures: the real embedding model once per run, a real data dir per test."""

from __future__ import annotations

import http.server
import io
import os
import threading
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pytest

from cli import main as cli
from memory import MemoryService
from memory.embedding import MiniLMEmbedder
from tests.servers import ChatServer, ModelServer
from ui.pdf import render_pdf_bytes

# A CI log should say which builds of the native parts it ran against.
_REPORTED_PACKAGES = ("PySide6-Essentials", "shiboken6", "chromadb", "llama_cpp_python", "SQLAlchemy", "onnxruntime")


def pytest_report_header() -> str:
    versions = []
    for name in _REPORTED_PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} not installed")
    return "dossier parts: " + ", ".join(versions)


#: Where the run puts HOME and the XDG folders: nothing may be written there.
_FAKE_HOME_VARIABLES = ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")


@pytest.fixture(scope="session", autouse=True)
def _no_test_touches_the_real_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test, and every process it starts, gets temporary data, models and home folders.

    Tests that want a data or models folder name their own; anything that falls
    back to the defaults lands in this run's temporary folders, never in the
    user's ``~/.local/share/Dossier``. The fake home must be empty at the end:
    a write there is a test writing outside its temporary folders.
    """
    root = tmp_path_factory.mktemp("environment")
    home = root / "home"
    home.mkdir()
    saved = {name: os.environ.get(name) for name in (*_FAKE_HOME_VARIABLES, "DOSSIER_HOME", "DOSSIER_MODELS_DIR")}
    os.environ["HOME"] = str(home)
    for name in _FAKE_HOME_VARIABLES[1:]:
        os.environ[name] = str(home / name.lower())
    os.environ["DOSSIER_HOME"] = str(root / "dossier-home")
    os.environ["DOSSIER_MODELS_DIR"] = str(root / "dossier-models")
    yield home
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    assert written == [], f"tests wrote into the home folder: {written[:10]}"


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    model = MiniLMEmbedder()
    model.load()
    return model


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def service(data_dir: Path, embedder: MiniLMEmbedder) -> Iterator[MemoryService]:
    with MemoryService.open(data_dir, embedder=embedder) as svc:
        yield svc


#: Runs the CLI in-process on the test's data dir: ``(exit code, stdout, stderr)``.
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(data_dir: Path, embedder: MiniLMEmbedder) -> Run:
    def opener(path: Path, **options: bool) -> MemoryService:
        return MemoryService.open(path, embedder=embedder, **options)

    def _run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(
            ["--data-dir", str(data_dir), *argv], out=out, err=err, open_service=opener, render_pdf=render_pdf_bytes
        )
        return code, out.getvalue(), err.getvalue()

    return _run


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding the bundled default model, assembled once per run."""
    from app.llm.models import ModelStore

    folder = tmp_path_factory.mktemp("models")
    ModelStore(folder).ensure_default()
    return folder


@pytest.fixture(scope="session")
def default_model_path(models_dir: Path) -> Path:
    from app.llm.models import ModelStore

    return ModelStore(models_dir).default_path


@pytest.fixture(scope="session")
def local_engine(default_model_path: Path) -> Iterator[object]:
    """The real default model (gemma3 270M base), loaded once per run."""
    from app.llm.engine import LocalEngine

    engine = LocalEngine(default_model_path, context_length=2048, threads=2)
    engine.load().result()
    yield engine
    engine.close()


@pytest.fixture
def model_server(default_model_path: Path) -> Iterator[str]:
    ModelServer.payload = default_model_path.read_bytes()
    ModelServer.drop_after = None
    ModelServer.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ModelServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def chat_server() -> Iterator[int]:
    ChatServer.models = ["llama3.2:3b", "qwen2.5:7b-instruct"]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ChatServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()
