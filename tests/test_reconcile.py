"""The vector index is derived from SQLite and repairs itself on open."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from memory import MemoryService, Role
from memory.db import DB_FILENAME, INDEX_DIRNAME
from memory.embedding import MiniLMEmbedder
from memory.vector_store import ChromaVectorStore, project_collection


class CrashingStore(ChromaVectorStore):
    """Behaves as if the process died right after each SQLite commit: no vector is written."""

    def upsert(self, collection: str, ids: Sequence[str], vectors: np.ndarray) -> None:
        raise RuntimeError("simulated crash before the vector write")


def test_writes_survive_a_lost_vector_write_and_are_indexed_on_reopen(data_dir: Path, embedder: MiniLMEmbedder) -> None:
    store = CrashingStore(data_dir / INDEX_DIRNAME, embedder)
    with MemoryService.open(data_dir, embedder=embedder, vector_store=store) as service:
        project = service.create_project("Acme")
        fact = service.add_fact(project.id, "The marketing budget is capped at 40,000 EUR.")
        session = service.start_session(project.id)
        message = service.add_message(session.id, Role.USER, "Our office dog is called Biscuit.")
        # Committed: listed, and found by words, but not yet by meaning.
        assert service.get_fact(fact.id).text.startswith("The marketing budget")
        assert service.search(project.id, "budget capped")[0].fact_ids == (fact.id,)
        assert all(h.parts.vector_rank is None for h in service.search(project.id, "How much money can we spend?"))

    with MemoryService.open(data_dir, embedder=embedder) as service:
        hit = service.search(project.id, "How much money can we spend on ads?")[0]
        assert hit.fact_ids == (fact.id,) and hit.parts.vector_rank == 1
        pet = service.search(project.id, "what is the name of the pet animal at work")[0]
        assert pet.message_ids == (message.id,) and pet.parts.vector_rank is not None


def test_orphans_are_dropped_and_missing_vectors_rebuilt(data_dir: Path, embedder: MiniLMEmbedder) -> None:
    with MemoryService.open(data_dir, embedder=embedder) as service:
        project = service.create_project("Acme")
        keep = service.add_fact(project.id, "Invoices go to accounts@acme.example.")
        gone = service.add_fact(project.id, "Temporary fact that a crash half-purged.")
    # A purge committed in SQLite whose vector delete never happened:
    with sqlite3.connect(data_dir / DB_FILENAME) as db:
        db.execute("DELETE FROM fact_versions WHERE fact_id = ?", (gone.id,))
        db.execute("DELETE FROM facts WHERE id = ?", (gone.id,))
    store = ChromaVectorStore(data_dir / INDEX_DIRNAME, embedder)
    assert f"f{gone.id}" in store.ids(project_collection(project.id))
    store.close()

    with MemoryService.open(data_dir, embedder=embedder) as service:
        report = service.reconcile()  # already done on open; a second run finds nothing
        assert (report.embedded, report.removed) == (0, 0)
    store = ChromaVectorStore(data_dir / INDEX_DIRNAME, embedder)
    assert store.ids(project_collection(project.id)) == {f"f{keep.id}"}
    # Outside damage: the whole collection disappears.
    store.drop(project_collection(project.id))
    store.close()
    with MemoryService.open(data_dir, embedder=embedder) as service:
        assert service.search(project.id, "where do bills get sent")[0].parts.vector_rank == 1


def test_reindex_rebuilds_everything(service: MemoryService) -> None:
    project = service.create_project("Acme")
    service.add_fact(project.id, "Fact one about onboarding.")
    service.add_fact(None, "A global fact about my working hours.")
    session = service.start_session(project.id)
    service.add_message(session.id, Role.USER, "A message about onboarding.")
    service.set_session_summary(session.id, "We talked about onboarding.")
    report = service.reindex()
    assert report.embedded == 4 and report.removed == 4
    hits = service.search(project.id, "onboarding", k=10)
    assert {h.kind.value for h in hits} == {"fact", "messages", "summary"}
    assert all(h.parts.vector_rank is not None for h in hits)


def test_large_id_lists_are_sent_to_chroma_in_chunks(
    data_dir: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import memory.vector_store as vector_store

    monkeypatch.setattr(vector_store, "ID_BATCH", 7)  # Chroma's real limit is ~32k variables
    store = ChromaVectorStore(data_dir / INDEX_DIRNAME, embedder)
    ids = [f"m{n}" for n in range(25)]
    store.upsert("dossier-project-1", ids, embedder.embed([f"note {n}" for n in range(25)]))
    assert sorted(store.vectors("dossier-project-1", ids)) == sorted(ids)
    store.delete("dossier-project-1", ids[:20])
    assert store.ids("dossier-project-1") == set(ids[20:])
    store.close()


def test_syncing_rows_that_are_gone_is_quiet(service: MemoryService, caplog: pytest.LogCaptureFixture) -> None:
    """A fact purged between its commit and its vector sync leaves nothing to do, and no error."""
    with caplog.at_level("ERROR"):
        assert service._indexer.sync(fact_ids=[9_999], message_ids=[9_998]) == 0
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_an_index_built_for_another_database_is_rebuilt_even_with_equal_counts(
    tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    """A restore into a folder that kept its index: same counts, other texts."""
    from app.portability.backup import create_backup, restore_backup
    from memory import DB_FILENAME

    cats, lunch = tmp_path / "cats", tmp_path / "lunch"
    with MemoryService.open(cats, embedder=embedder) as service:
        project = service.create_project("Home")
        service.add_fact(project.id, "The cat's name is Biscuit.")
        service.add_fact(project.id, "The dentist appointment is on Monday.")
        create_backup(service, tmp_path / "none.json", tmp_path / "cats.zip")
    with MemoryService.open(lunch, embedder=embedder) as service:
        project = service.create_project("Home")
        service.add_fact(project.id, "Lunch order: two falafel wraps, no onions.")
        service.add_fact(project.id, "Our dog Rex needs a new collar.")
    # The lunch folder loses its database but keeps its vector index; the cats backup goes in.
    (lunch / DB_FILENAME).unlink()
    for suffix in ("-wal", "-shm"):
        (lunch / (DB_FILENAME + suffix)).unlink(missing_ok=True)
    restore_backup(tmp_path / "cats.zip", lunch)
    with MemoryService.open(lunch, embedder=embedder) as service:
        hits = service.search(1, "what is the pet called", k=1, mode="vector")
        assert hits and "Biscuit" in hits[0].text
