"""Shared fixtures: the real embedding model once per run, a real data dir per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from memory import MemoryService
from memory.embedding import MiniLMEmbedder


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
