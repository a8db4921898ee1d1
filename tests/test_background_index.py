"""Large writes return once SQLite has them; vectors follow on a worker, crash-safe."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memory import MemoryService
from memory.db import DB_FILENAME
from memory.embedding import MiniLMEmbedder
from memory.service import INLINE_EMBED_MAX

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 300


class HeldBackEmbedder:
    """The real embedder, except that the background worker waits for ``release`` first."""

    def __init__(self, real: MiniLMEmbedder) -> None:
        self.real = real
        self.release = threading.Event()

    @property
    def dimension(self) -> int:
        return self.real.dimension

    @property
    def model_id(self) -> str:
        return self.real.model_id

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if threading.current_thread().name == "dossier-embedding":
            assert self.release.wait(WAIT_S)
        return self.real.embed(texts)


_SUBJECTS = (
    "The venue booking",
    "Our ad budget",
    "The logo sketch",
    "The press release",
    "The caterer's quote",
    "The design review",
    "The shipping invoice",
    "The hiring plan",
    "The website copy",
    "The trade fair stand",
    "The legal contract",
    "The photo shoot",
    "The newsletter",
)
_STATES = (
    "needs another look",
    "was approved",
    "moved back",
    "is on track",
    "got cheaper",
    "needs a signature",
    "is still open",
    "was cancelled",
    "came in late",
    "looks great",
    "is blocked",
)
_WHEN = ("today", "this week", "before Easter", "by Friday", "next month", "after the audit", "in June")


def transcript(n: int, planted: dict[int, tuple[str, str]]) -> dict[str, Any]:
    """An export document with one session of ``n`` turns; ``planted`` puts (speaker, text) at turn numbers."""
    messages = []
    for i in range(n):
        # Varied turns: thousands of near-identical ones are a worst case for approximate
        # (HNSW) search, which this test is not about.
        said = f"{_SUBJECTS[i % 13]} {_STATES[i // 13 % 11]} {_WHEN[i // 143 % 7]}, said in turn {i}."
        speaker, content = planted.get(i, ("Sam" if i % 2 else "Ana", said))
        messages.append(
            {
                "ref": i + 1,
                "role": "other",
                "speaker": speaker,
                "content": content,
                "created_at": f"2026-05-04T10:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
                "external_id": f"T{i}",
                "context_item_keys": [],
            }
        )
    return {
        "format": "dossier.project",
        "version": 1,
        "project": {"name": "Transcript"},
        "voice": None,
        "sessions": [{"ref": 1, "title": "Call", "started_at": "2026-05-04T10:00:00+00:00", "messages": messages}],
        "facts": [],
    }


def test_an_import_is_keyword_searchable_at_once_and_meaning_searchable_once_embedded(
    tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    held = HeldBackEmbedder(embedder)
    planted = {7: ("Priya", "Our cat is called Biscuit and she sleeps on the printer.")}
    with MemoryService.open(tmp_path / "data", embedder=held) as service:
        try:
            _import_then_search(service, held, planted)
        finally:
            held.release.set()


def _import_then_search(service: MemoryService, held: HeldBackEmbedder, planted: dict[int, tuple[str, str]]) -> None:
    if True:
        project = service.import_project(transcript(INLINE_EMBED_MAX * 3, planted))
        # The import returned while no vector could be written (its messages, and its session).
        assert service.index_progress().pending >= INLINE_EMBED_MAX * 3
        hits = service.search(project.id, "Biscuit", mode="bm25")
        assert hits and hits[0].external_ids == ("T7",)
        assert service.search(project.id, "Biscuit")[0].external_ids == ("T7",), "hybrid finds it by keyword"
        by_meaning = service.search(project.id, "what is the name of the pet", k=3, mode="vector")
        assert all("T7" not in h.external_ids for h in by_meaning), "no vector exists yet"

        held.release.set()
        assert service.wait_for_index(WAIT_S)
        assert service.index_progress().idle
        by_meaning = service.search(project.id, "what is the name of the pet", k=3, mode="vector")
        assert by_meaning[0].external_ids == ("T7",)


def test_a_turns_few_messages_are_embedded_before_the_write_returns(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    held = HeldBackEmbedder(embedder)  # never released: nothing may depend on the worker
    with MemoryService.open(tmp_path / "data", embedder=held) as service:
        project = service.create_project("P")
        session = service.start_session(project.id)
        service.add_message(session.id, "user", "The kickoff moved to the lighthouse venue.")
        assert service.index_progress().idle
        assert service.search(project.id, "where is the kickoff meeting held", k=1, mode="vector")
        held.release.set()


_CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from tests.test_background_index import transcript
from memory import MemoryService
service = MemoryService.open(Path(sys.argv[1]))
planted = {int(sys.argv[2]) - 1: ("Priya", "The last thing said: the vault code is kept by Oskar.")}
service.import_project(transcript(int(sys.argv[2]), planted))
print(service.index_progress().pending, flush=True)
service.wait_for_index()
"""


def test_a_kill_during_background_embedding_loses_nothing(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    data_dir = tmp_path / "data"
    turns = 2_000
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(data_dir), str(turns), str(ROOT)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    pending_when_returned = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait(WAIT_S)
    assert pending_when_returned > 0
    with sqlite3.connect(data_dir / DB_FILENAME) as db:
        stored, stale = db.execute("SELECT count(*), sum(vec_current = 0) FROM messages").fetchone()
    db.close()
    assert stored == turns, "the import was committed whole before it returned"
    assert stale > 0, "the kill came before the vectors were done"

    with MemoryService.open(data_dir, embedder=embedder) as service:
        project = service.list_projects()[0]
        hits = service.search(project.id, "who keeps the code for the safe", k=3, mode="vector")
        assert hits[0].external_ids == (f"T{turns - 1}",)
    with sqlite3.connect(data_dir / DB_FILENAME) as db:
        assert db.execute("SELECT count(*) FROM messages WHERE vec_current = 0").fetchone()[0] == 0
    db.close()


def test_held_indexing_waits_and_then_embeds_everything(service: MemoryService) -> None:
    from memory import NewMessage, Role

    project = service.create_project("Batch")
    session = service.start_session(project.id)
    with service.indexing_held():
        service.add_messages(session.id, [NewMessage(Role.USER, f"line {n} about invoices") for n in range(40)])
        assert not service.wait_for_index(0.5)  # held: nothing embedded yet
        assert service.index_progress().pending == 40
        assert service.search(project.id, "invoices", mode="bm25")  # searchable by keyword meanwhile
    assert service.wait_for_index(120)
    assert service.index_progress().idle
