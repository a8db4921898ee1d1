"""Migrations and the ORM agree, and every older schema opens and upgrades."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from memory import MemoryService, MemoryServiceError
from memory.db import DB_FILENAME, alembic_config, create_engines, current_revision, head_revision, upgrade_to_head
from memory.embedding import MiniLMEmbedder
from memory.orm import Base


def test_migrated_schema_matches_the_orm(tmp_path: Path) -> None:
    engines = create_engines(tmp_path / "db.sqlite3")
    upgrade_to_head(engines.writer)
    with engines.reader.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # FTS5 tables live outside the ORM on purpose (triggers keep them in step).
    diff = [d for d in diff if not (d[0] == "remove_table" and "_fts" in d[1].name)]
    assert diff == []
    engines.dispose()


def test_wal_and_foreign_keys_are_on(service: MemoryService) -> None:
    with sqlite3.connect(service.data_dir / DB_FILENAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with service._engines.reader.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def legacy_database(path: Path, revision: str) -> None:
    """A database at an older ``revision``, holding the project "Old client" with one fact (id 1)."""
    engines = create_engines(path)
    upgrade_to_head(engines.writer, revision)
    assert current_revision(engines.reader) == revision
    with engines.writer.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO projects (id, name, description, created_at, archived) "
            "VALUES (1, 'Old client', '', '2025-01-01 00:00:00', 0)"
        )
        conn.exec_driver_sql(
            "INSERT INTO facts (id, project_id, text, kind, pinned, status, source, created_at, updated_at, vec_current) "
            "VALUES (1, 1, 'Legacy fact about invoices', 'fact', 0, 'active', 'manual', "
            "'2025-01-01 00:00:00', '2025-01-01 00:00:00', 0)"
        )
    engines.dispose()


@pytest.mark.parametrize(
    "revision", [s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()]
)
def test_a_database_at_every_older_revision_opens_and_upgrades(
    tmp_path: Path, revision: str, embedder: MiniLMEmbedder
) -> None:
    data_dir = tmp_path / "old"
    data_dir.mkdir()
    legacy_database(data_dir / DB_FILENAME, revision)
    with MemoryService.open(data_dir, embedder=embedder) as service:
        assert current_revision(service._engines.reader) == head_revision()
        assert service.list_facts(1)[0].text == "Legacy fact about invoices"
        assert service.search(1, "billing documents")[0].fact_ids == (1,)  # reconciled into the index


def test_a_newer_database_is_refused_clearly(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    data_dir = tmp_path / "newer"
    with MemoryService.open(data_dir, embedder=embedder):
        pass
    with sqlite3.connect(data_dir / DB_FILENAME) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999_future'")
    with pytest.raises(MemoryServiceError, match="newer version of Dossier"):
        MemoryService.open(data_dir, embedder=embedder)


def test_query_probe_uses_the_index_tokenizer(service: MemoryService) -> None:
    """retrieval stems query words with memory.db's tokenizer; the index must use the same."""
    from memory.db import FTS_TOKENIZER

    with sqlite3.connect(service.data_dir / DB_FILENAME) as db:
        for (sql,) in db.execute(
            "SELECT sql FROM sqlite_master WHERE name IN ('facts_fts', 'messages_fts', 'summaries_fts')"
        ):
            assert f"tokenize='{FTS_TOKENIZER}'" in sql


def test_messages_stored_before_speaker_search_are_found_by_speaker(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    data_dir = tmp_path / "old"
    data_dir.mkdir()
    engines = create_engines(data_dir / DB_FILENAME)
    upgrade_to_head(engines.writer, "0003")
    with engines.writer.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO projects (id, name, description, created_at, archived) "
            "VALUES (1, 'Old client', '', '2025-01-01 00:00:00', 0)"
        )
        conn.exec_driver_sql(
            "INSERT INTO chat_sessions (id, project_id, title, started_at, summary, vec_current) "
            "VALUES (1, 1, 'Call', '2025-01-01 00:00:00', '', 1)"
        )
        conn.exec_driver_sql(
            "INSERT INTO messages (id, session_id, project_id, role, speaker, content, created_at, "
            "context_item_keys, vec_current) VALUES (1, 1, 1, 'other', 'Priya', 'The invoices go out monthly.', "
            "'2025-01-01 00:00:00', '[]', 1)"
        )
    engines.dispose()
    with MemoryService.open(data_dir, embedder=embedder) as service:
        assert service.search(1, "Priya", mode="bm25")[0].message_ids == (1,)
        assert service.search(1, "What did Priya say?", mode="vector")[0].message_ids == (1,)
        assert service.get_message(1).content == "The invoices go out monthly."


def test_the_head_read_from_file_names_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()
