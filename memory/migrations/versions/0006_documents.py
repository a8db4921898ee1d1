"""Project documents: files given to a project, their chunks (cited by page or
section), their history, watched folders, and document provenance on facts and
proposals. Chunks are keyword-searchable through ``chunks_fts``, kept in step
by triggers like the other keyword tables.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from memory.orm import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Frozen here on purpose; memory.db.FTS_TOKENIZER must stay equal to it.
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"

# What keyword search sees of a chunk: its document's title and headings, then its
# text (a question may name the contract or the section rather than its words).
# memory.db.KEYWORD_SOURCES and memory.indexing.searchable_chunk_text build the same.
_BODY = (
    "(SELECT title FROM documents WHERE documents.id = {row}.document_id) || ' › ' || "
    "{row}.heading_path || ': ' || {row}.text"
)

_SQL = [
    f"CREATE VIRTUAL TABLE chunks_fts USING fts5(body, tokenize='{FTS_TOKENIZER}')",
    "CREATE VIRTUAL TABLE chunks_fts_vocab USING fts5vocab(chunks_fts, row)",
    f"""CREATE TRIGGER chunks_fts_insert AFTER INSERT ON document_chunks
    BEGIN
        INSERT INTO chunks_fts(rowid, body) VALUES (new.id, {_BODY.format(row="new")});
    END""",
    f"""CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text, heading_path ON document_chunks
    BEGIN
        DELETE FROM chunks_fts WHERE rowid = old.id;
        INSERT INTO chunks_fts(rowid, body) VALUES (new.id, {_BODY.format(row="new")});
    END""",
    """CREATE TRIGGER chunks_fts_delete AFTER DELETE ON document_chunks
    BEGIN
        DELETE FROM chunks_fts WHERE rowid = old.id;
    END""",
]


def _project() -> sa.Column[int]:
    return sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "watched_folders",
        sa.Column("id", sa.Integer, primary_key=True),
        _project(),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("added_at", UTCDateTime, nullable=False),
        sa.Column("synced_at", UTCDateTime, nullable=True),
        sa.UniqueConstraint("project_id", "path"),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer, primary_key=True),
        _project(),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("pages", sa.Integer, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column(
            "watched_folder_id", sa.Integer, sa.ForeignKey("watched_folders.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("watched_path", sa.Text, nullable=True),
        sa.Column("added_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("removed_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_documents_project_hash", "documents", ["project_id", "sha256"])
    op.create_table(
        "document_chunks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
        _project(),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("page", sa.Integer, nullable=True),
        sa.Column("section", sa.Integer, nullable=False),
        sa.Column("heading_path", sa.Text, nullable=False),
        sa.Column("start", sa.Integer, nullable=False),
        sa.Column("end", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("vec_current", sa.Boolean, nullable=False),
    )
    op.create_index("ix_document_chunks_document", "document_chunks", ["document_id", "ordinal"])
    op.create_index("ix_document_chunks_project_id", "document_chunks", ["project_id"])
    op.create_index("ix_document_chunks_vec_current", "document_chunks", ["vec_current"])
    op.create_table(
        "document_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    # Plain ALTER TABLE: batch mode would rebuild the tables and lose their FTS triggers.
    for table in ("facts", "proposals"):
        # No foreign key: SQLite adds one only by rebuilding the table (losing its FTS
        # triggers), and documents are never deleted alone (removal keeps the row).
        op.add_column(table, sa.Column("source_document_id", sa.Integer, nullable=True))
        op.add_column(table, sa.Column("source_location", sa.String(40), nullable=False, server_default=""))
    for statement in _SQL:
        op.execute(statement)


def downgrade() -> None:
    for name in ("chunks_fts_delete", "chunks_fts_update", "chunks_fts_insert"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS chunks_fts_vocab")
    op.execute("DROP TABLE IF EXISTS chunks_fts")
    for table in ("facts", "proposals"):
        op.drop_column(table, "source_location")
        op.drop_column(table, "source_document_id")
    op.drop_table("document_events")
    op.drop_table("document_chunks")
    op.drop_table("documents")
    op.drop_table("watched_folders")
