"""The SQLite engine and its migrations.

Two engines share one connection pool: ``reader`` begins transactions
deferred, ``writer`` begins them ``IMMEDIATE``. A deferred transaction that
later writes must upgrade its lock, and SQLite answers such an upgrade with
SQLITE_BUSY at once, without waiting for the busy timeout; taking the write
lock at BEGIN lets the timeout do its work, so concurrent writers queue
instead of failing with "database is locked".
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from memory import convert
from memory.documents import check_kept_name
from memory.errors import CorruptDatabaseError, InvalidInputError, MemoryServiceError
from memory.orm import (
    ChatSessionRow,
    DocumentChunkRow,
    DocumentRow,
    FactRow,
    FactVersionRow,
    MessageRow,
    ProjectRow,
    ProposalRow,
    VoiceProfileRow,
)
from memory.types import DocumentStatus, FactVersion, VoiceProfile

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: The search index's tokenizer; migrations and the query-term probe must agree.
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"
BUSY_TIMEOUT_MS = 30_000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Engines:
    reader: Engine
    writer: Engine

    def dispose(self) -> None:
        self.reader.dispose()


def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event, not pysqlite, decide when and how to BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys = ON")
    # Persistent once set; repeating it per connection is a no-op read.
    cursor.execute("PRAGMA journal_mode = WAL")
    # WAL + NORMAL survives a killed process; only a power cut may lose the last commits.
    cursor.execute("PRAGMA synchronous = NORMAL")
    # What the user deletes (a message holding a password) is overwritten with zeros, not left
    # in free pages of the file.
    cursor.execute("PRAGMA secure_delete = ON")
    # A private scratch table with the same tokenizer as the search index, so
    # retrieval can learn how FTS5 stems a query's words (see retrieval.py).
    cursor.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_terms USING fts5(body, tokenize='{FTS_TOKENIZER}')")
    cursor.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_terms_vocab USING fts5vocab(temp, query_terms, instance)"
    )
    cursor.close()


def _on_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def create_engines(db_path: Path) -> Engines:
    """Open (creating if needed) the database file and return its engines."""
    engine = create_engine(
        # Built, not parsed: a folder named "a?b", "a#b" or "100%" is a path, not a URL query.
        URL.create("sqlite", database=str(db_path)),
        pool_size=8,
        max_overflow=16,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return Engines(reader=engine, writer=engine.execution_options(sqlite_begin="IMMEDIATE"))


def alembic_config() -> Any:
    """Alembic's configuration for our migrations (Alembic is imported only when needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest schema revision, from the migration files' names ("0005_….py" is "0005").

    Read without Alembic, whose import is a tenth of a second of every command's
    start-up; a test checks that it agrees with Alembic's own head.
    """
    names = [p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py")]
    assert names, "memory/migrations has no revisions"
    return max(names)


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every schema revision this Dossier can open (and upgrade from)."""
    from alembic.script import ScriptDirectory

    return frozenset(s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except OperationalError:  # no such table: a new database
            return None


def upgrade_to_head(engine: Engine, revision: str = "head") -> None:
    """Apply pending migrations (no-op when the database is current).

    Raises:
        MemoryServiceError: The database was written by a newer Dossier.
    """
    current = current_revision(engine)
    if revision == "head" and current == head_revision():
        return
    from alembic import command

    if current is not None and current not in known_revisions():
        raise MemoryServiceError(
            f"This data folder was written by a newer version of Dossier (schema {current}); update Dossier to open it."
        )
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def check_schema(connection: Any) -> None:
    """Accepts only the schema Dossier itself creates at the file's revision.

    A database from elsewhere (a backup) is data, never code: an extra trigger,
    view, index or table, or a changed definition, could act on every later
    write (copy one project's facts into another, say). Statistics tables
    (``sqlite_stat*``) are SQLite's own and are left out of the comparison.

    Raises:
        InvalidInputError: No schema revision, one newer than this Dossier, or
            any object that differs from Dossier's schema at that revision.
    """
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        row = None
    if row is None:
        raise InvalidInputError("Not a Dossier database (it has no schema version)")
    revision = str(row[0])
    if revision not in known_revisions():
        raise InvalidInputError(
            f"The database was written by a newer version of Dossier (schema {revision}); update Dossier first"
        )
    found = _schema_objects(connection)
    expected = _reference_schema(revision)
    foreign = sorted(f"{kind} {name}" for kind, name, _table, _sql in found - expected)
    missing = sorted(f"{kind} {name}" for kind, name, _table, _sql in expected - found)
    if foreign or missing:
        detail = "; ".join(
            part
            for part in (
                f"not Dossier's: {', '.join(foreign[:5])}" if foreign else "",
                f"missing or changed: {', '.join(missing[:5])}" if missing else "",
            )
            if part
        )
        raise InvalidInputError(f"The database's schema is not Dossier's ({detail})")


#: SQLite's statistics tables (made by ANALYZE), exactly as SQLite defines them: data for
#: the query planner, not code. A table of that name with any other definition is foreign.
_STATISTICS_TABLES = frozenset(
    {
        ("sqlite_stat1", "CREATE TABLE sqlite_stat1(tbl,idx,stat)"),
        ("sqlite_stat4", "CREATE TABLE sqlite_stat4(tbl,idx,neq,nlt,ndlt,sample)"),
    }
)


def _schema_objects(connection: Any) -> frozenset[tuple[str, str, str, str]]:
    # Exact names, never a LIKE pattern: in LIKE "_" matches any character, and a
    # trigger named sqlite1stat_x would slip past "sqlite_stat%".
    rows = connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
    objects = ((kind, name, table, " ".join((sql or "").split())) for kind, name, table, sql in rows)
    return frozenset(o for o in objects if not (o[0] == "table" and (o[1], o[3]) in _STATISTICS_TABLES))


@functools.cache
def _reference_schema(revision: str) -> frozenset[tuple[str, str, str, str]]:
    """The schema objects a database made by this Dossier has at ``revision``."""
    with tempfile.TemporaryDirectory(prefix="dossier-schema-") as work:
        path = Path(work) / "reference.sqlite3"
        engines = create_engines(path)
        try:
            upgrade_to_head(engines.writer, revision)
        finally:
            engines.dispose()
        connection = sqlite3.connect(path)
        try:
            return _schema_objects(connection)
        finally:
            connection.close()


#: Each keyword (FTS5) table and what fills it, as the triggers of the latest migration
#: do (tests/test_reliability.py checks that a rebuild reproduces the triggers' rows).
KEYWORD_SOURCES = {
    "facts_fts": "SELECT id, text FROM facts WHERE status = 'active'",
    "messages_fts": (
        "SELECT id, (CASE WHEN speaker != '' THEN speaker ELSE role END) || ': ' || content FROM messages"
    ),
    "summaries_fts": "SELECT id, summary FROM chat_sessions WHERE summary != ''",
    "chunks_fts": (
        "SELECT c.id, d.title || ' › ' || c.heading_path || ': ' || c.text "
        "FROM document_chunks AS c JOIN documents AS d ON d.id = c.document_id"
    ),
}


def damaged_keyword_tables(execute: Callable[[str], Any]) -> list[str]:
    """The keyword tables whose index fails FTS5's own integrity check.

    A garbled block of an FTS5 index passes SQLite's quick check, then makes
    searches fail or quietly miss rows.

    Args:
        execute: Runs one SQL statement (a connection's ``execute`` or ``exec_driver_sql``).
    """
    damaged = []
    for table in KEYWORD_SOURCES:
        try:
            execute(f"INSERT INTO {table}({table}) VALUES('integrity-check')")
        except Exception:
            damaged.append(table)
    return damaged


def rebuild_keyword_tables(execute: Callable[[str], Any], tables: Sequence[str]) -> None:
    """Empties keyword tables through their shadow tables and refills them (in the caller's transaction).

    The shadow tables are plain tables, so this works even when the index is too
    damaged for FTS5 to load (a garbled structure record or config), and the
    schema stays exactly as the migrations made it.
    """
    # An empty index's own records (averages, structure, config), as this SQLite writes them.
    execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.blank_fts USING fts5(body, tokenize='{FTS_TOKENIZER}')")
    for table in tables:
        for shadow in ("data", "idx", "content", "docsize", "config"):
            execute(f"DELETE FROM {table}_{shadow}")
        execute(f"INSERT INTO {table}_data(id, block) SELECT id, block FROM temp.blank_fts_data")
        execute(f"INSERT INTO {table}_config(k, v) SELECT k, v FROM temp.blank_fts_config")
        execute(f"INSERT INTO {table}(rowid, body) {KEYWORD_SOURCES[table]}")
    execute("DROP TABLE temp.blank_fts")


_WAL_MAGIC = (0x377F0682, 0x377F0683)
_WAL_HEADER = 32
_FRAME_HEADER = 24


def _wal_checksum(data: bytes, s0: int, s1: int, big_endian: bool) -> tuple[int, int]:
    """SQLite's WAL checksum over ``data`` (a multiple of 8 bytes), continued from (s0, s1)."""
    words = struct.iter_unpack(">II" if big_endian else "<II", data)
    for x0, x1 in words:
        s0 = (s0 + x0 + s1) & 0xFFFFFFFF
        s1 = (s1 + x1 + s0) & 0xFFFFFFFF
    return s0, s1


def wal_damage(database: Path) -> str | None:
    """Why SQLite would silently drop committed changes from the database's write-ahead log, or None.

    SQLite ignores a WAL whose header is damaged, and every frame from the first
    one whose checksum fails: what was committed there vanishes without an error.
    Read before any connection opens the database (the first writer resets the log).
    Frames with other salts are a previous generation's leftovers, which is normal.
    """
    wal = database.with_name(database.name + "-wal")
    try:
        data = wal.read_bytes()
    except FileNotFoundError:
        return None
    if not data:
        return None
    if len(data) < _WAL_HEADER:
        return "its write-ahead log is cut short"
    magic, _version, page_size, _checkpoint, salt1, salt2, c1, c2 = struct.unpack(">8I", data[:_WAL_HEADER])
    big_endian = magic == _WAL_MAGIC[1]
    if magic not in _WAL_MAGIC or _wal_checksum(data[:24], 0, 0, big_endian) != (c1, c2):
        return "the header of its write-ahead log is damaged"
    frame = _FRAME_HEADER + page_size
    s0, s1 = c1, c2
    for offset in range(_WAL_HEADER, len(data) - frame + 1, frame):
        header = data[offset : offset + _FRAME_HEADER]
        _page, _commit, frame_salt1, frame_salt2, f1, f2 = struct.unpack(">6I", header)
        if (frame_salt1, frame_salt2) != (salt1, salt2):
            return None
        s0, s1 = _wal_checksum(header[:8], s0, s1, big_endian)
        s0, s1 = _wal_checksum(data[offset + _FRAME_HEADER : offset + frame], s0, s1, big_endian)
        if (s0, s1) != (f1, f2):
            return "a frame of its write-ahead log is damaged"
    return None


def read_only_uri(path: Path) -> str:
    """An SQLite URI that opens ``path`` read-only, whatever characters the path holds."""
    return Path(path).absolute().as_uri() + "?mode=ro"


# ---------------------------------------------------------------- the database file

#: Rows that belong to one project and point at rows that must be of the same one
#: (a proposal aimed at another project's fact would let that project's inbox edit it).
_SAME_PROJECT = (
    "SELECT 1 FROM messages m JOIN chat_sessions c ON c.id = m.session_id WHERE m.project_id != c.project_id",
    "SELECT 1 FROM proposals p JOIN facts f ON f.id = p.target_fact_id "
    "WHERE f.project_id IS NOT NULL AND f.project_id != p.project_id",
    "SELECT 1 FROM proposals p JOIN chat_sessions c ON c.id = p.source_session_id WHERE c.project_id != p.project_id",
    "SELECT 1 FROM proposals p JOIN messages m ON m.id = p.source_message_id WHERE m.project_id != p.project_id",
    "SELECT 1 FROM facts f JOIN chat_sessions c ON c.id = f.source_session_id "
    "WHERE f.project_id IS NOT NULL AND c.project_id != f.project_id",
    "SELECT 1 FROM facts f JOIN messages m ON m.id = f.source_message_id "
    "WHERE f.project_id IS NOT NULL AND m.project_id != f.project_id",
)
#: The same for documents, their passages, and what was read from them.
_SAME_PROJECT_DOCUMENTS = (
    "SELECT 1 FROM document_chunks c JOIN documents d ON d.id = c.document_id WHERE c.project_id != d.project_id",
    "SELECT 1 FROM facts f JOIN documents d ON d.id = f.source_document_id "
    "WHERE f.project_id IS NOT NULL AND f.project_id != d.project_id",
    "SELECT 1 FROM proposals p JOIN documents d ON d.id = p.source_document_id WHERE p.project_id != d.project_id",
    "SELECT 1 FROM documents d JOIN watched_folders w ON w.id = d.watched_folder_id WHERE w.project_id != d.project_id",
)
#: Counters that go on counting up (a fact's versions) must leave room to do so.
MAX_STORED_VERSION = 1_000_000_000

DB_FILENAME = "dossier.sqlite3"

#: Tables a backup's manifest and :meth:`MemoryService.stats` count (the vector
#: index is derived, so it is not backed up).
_COUNTED_ROWS = (
    ProjectRow,
    FactRow,
    FactVersionRow,
    ChatSessionRow,
    MessageRow,
    ProposalRow,
    VoiceProfileRow,
    DocumentRow,
    DocumentChunkRow,
)
COUNTED_TABLES = tuple(row.__tablename__ for row in _COUNTED_ROWS)

SQLITE_MAGIC = b"SQLite format 3\x00"

INDEX_DIRNAME = "vector-index"

#: What a data folder holds once Dossier has run in it (an empty database beside them is damage).
_SIGNS_OF_USE = (INDEX_DIRNAME, "backups", "settings.json", "damaged")


def check_database_file(path: Path) -> None:
    """Fails fast, without writing, when a database file is damaged.

    Reads the header and the schema. An empty file is a new database, unless the
    folder shows it was in use.

    Raises:
        CorruptDatabaseError: Not SQLite, a damaged header or schema.
    """
    import sqlite3

    if not path.exists():
        return
    if path.stat().st_size == 0:
        # Empty is new only where nothing else says the folder was in use: an emptied
        # database beside an index or backups is damage, not a fresh start.
        if any((path.parent / name).exists() for name in _SIGNS_OF_USE):
            raise CorruptDatabaseError(path, "the database file is empty, though this data folder was in use")
        return
    with path.open("rb") as handle:
        if handle.read(16) != SQLITE_MAGIC:
            raise CorruptDatabaseError(path, "not an SQLite database")
    try:
        connection = sqlite3.connect(read_only_uri(path), uri=True)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            verdict = connection.execute("PRAGMA quick_check(1)").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.DatabaseError as err:
        raise CorruptDatabaseError(path, str(err)) from None
    if verdict != "ok":
        raise CorruptDatabaseError(path, verdict)


def _keep_damaged_wal(database: Path) -> list[str]:
    """Copies a damaged write-ahead log aside before SQLite discards it, and says what that means."""
    damage = wal_damage(database)
    if damage is None:
        return []
    aside = database.parent / "damaged"
    aside.mkdir(mode=0o700, exist_ok=True)
    kept = aside / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{database.name}-wal"
    shutil.copy2(database.with_name(database.name + "-wal"), kept)
    os.chmod(kept, 0o600)
    log.warning("the database's write-ahead log is damaged (%s); kept as %s", damage, kept)
    return [
        f"The database was not closed cleanly and {damage}: the most recent changes may be lost. "
        f"The log was kept as {kept}."
    ]


def check_rows(path: Path) -> None:
    """Accepts only rows Dossier can read and would have written.

    A database of an older schema (a backup made before documents existed, say)
    is checked as it will be read: on a copy brought up to date first. Its
    schema has been checked already (:func:`check_schema`), so only Dossier's own
    migrations run on it.

    Raises:
        InvalidInputError: Naming what is wrong.
    """
    import sqlite3

    connection = sqlite3.connect(read_only_uri(path), uri=True)
    try:
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        revision = None
    finally:
        connection.close()
    if revision is None or revision[0] == head_revision():
        _check_rows(path)
        return
    with tempfile.TemporaryDirectory(prefix=".dossier-check-") as scratch:
        copy = Path(scratch) / DB_FILENAME
        shutil.copyfile(path, copy)
        engines = create_engines(copy)
        try:
            upgrade_to_head(engines.writer)
        except Exception as err:  # a revision no migration knows: not a database Dossier wrote
            raise InvalidInputError(f"The database's schema version cannot be brought up to date ({err})") from None
        finally:
            engines.dispose()
        _check_rows(copy)


def _check_rows(path: Path) -> None:
    """The row checks of :func:`check_rows`, on a database of the current schema.

    Every row is read and converted exactly as the app reads it (dates, kinds,
    text encoding, voice lists), so what passes here cannot fail later; then
    references must hold and stay inside their project.

    Raises:
        InvalidInputError: Naming what is wrong.
    """
    import sqlite3

    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(read_only_uri(path), uri=True), poolclass=NullPool
    )
    readers: tuple[tuple[Any, Callable[[Any], object]], ...] = (
        (ProjectRow, convert.to_project),
        (FactRow, convert.to_fact),
        (FactVersionRow, convert.to_fact_version),
        (ChatSessionRow, convert.to_session),
        (MessageRow, convert.to_message),
        (ProposalRow, convert.to_proposal),
        (VoiceProfileRow, lambda row: convert.to_voice(row, row.project_id)),
    )
    try:
        with Session(engine) as s:
            for model, read in readers:
                for row in s.scalars(select(model)).yield_per(1_000):
                    _check_row(read(row), model.__tablename__)
            connection = s.connection()
            if connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                raise InvalidInputError("The database has rows that refer to rows that do not exist")
            present = {name for (name,) in connection.exec_driver_sql("SELECT name FROM sqlite_master")}
            for query in _SAME_PROJECT + (_SAME_PROJECT_DOCUMENTS if "documents" in present else ()):
                if connection.exec_driver_sql(query + " LIMIT 1").first() is not None:
                    raise InvalidInputError("The database has rows that point into another project")
            if "documents" in present:
                # Raw SQL: a backup from before a document column existed still reads.
                for sha256, media_type, status in connection.exec_driver_sql(
                    "SELECT sha256, media_type, status FROM documents"
                ):
                    try:
                        check_kept_name(sha256, media_type)
                    except InvalidInputError:
                        raise InvalidInputError(
                            "The database has a document whose stored hash or type is not one Dossier writes"
                        ) from None
                    if status not in {s.value for s in DocumentStatus}:
                        raise InvalidInputError("The database has a document whose status is not one Dossier writes")
            counts = connection.exec_driver_sql(
                "SELECT (SELECT count(*) FROM alembic_version), (SELECT count(*) FROM database_identity WHERE id = 1), "
                "(SELECT count(*) FROM database_identity)"
            ).one()
            if tuple(counts) != (1, 1, 1):
                raise InvalidInputError("The database's version or identity records are not Dossier's")
    except InvalidInputError:
        raise
    except Exception as err:  # any value the app could not read: a date, a kind, bytes, a type
        cause = getattr(err, "orig", None) or err
        detail = " ".join(str(cause).split())[:200]
        raise InvalidInputError(f"The database has values Dossier could not read ({detail})") from None
    finally:
        engine.dispose()


def _check_row(value: object, table: str) -> None:
    """What conversion alone does not check: version numbers with room to count up, voice lists of text."""
    if isinstance(value, FactVersion) and not (
        isinstance(value.version, int) and 0 < value.version <= MAX_STORED_VERSION
    ):
        raise InvalidInputError(f"The database has a version number in {table} that is not one or out of range")
    if isinstance(value, VoiceProfile):
        lists = (value.style_do, value.style_dont, value.vocabulary, value.samples)
        if not all(isinstance(item, str) for entries in lists for item in entries):
            raise InvalidInputError(f"The database has a voice list in {table} that is not a list of texts")


def database_counts(path: Path) -> dict[str, int]:
    """Checks a database file's integrity and counts its rows, without opening a service.

    Raises:
        InvalidInputError: The file is not a SQLite database, fails
            ``PRAGMA integrity_check``, or lacks Dossier's tables.
    """
    import sqlite3

    try:
        connection = sqlite3.connect(read_only_uri(path), uri=True)
    except sqlite3.Error as err:
        raise InvalidInputError(f"The database cannot be opened: {err}") from None
    try:
        # Nothing in a file from elsewhere runs: no function in a view or trigger is trusted.
        connection.execute("PRAGMA trusted_schema = OFF")
        verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise InvalidInputError(f"The database is damaged: {verdict}")
        check_schema(connection)
        # A backup from before a table existed (documents, say) counts what it has.
        present = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        counts = {
            t: connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in COUNTED_TABLES if t in present
        }
    except sqlite3.Error as err:
        raise InvalidInputError(f"Not a Dossier database: {err}") from None
    finally:
        connection.close()
    check_rows(path)
    return counts
