"""Initial schema: projects, facts with versions, voice, sessions, messages,
proposals, and FTS5 indexes kept in step by triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from memory.orm import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen here on purpose; memory.db.FTS_TOKENIZER must stay equal to it.
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"

FTS_SQL = [
    f"CREATE VIRTUAL TABLE facts_fts USING fts5(body, tokenize='{FTS_TOKENIZER}')",
    f"CREATE VIRTUAL TABLE messages_fts USING fts5(body, tokenize='{FTS_TOKENIZER}')",
    f"CREATE VIRTUAL TABLE summaries_fts USING fts5(body, tokenize='{FTS_TOKENIZER}')",
    # Only active facts are searchable; archived ones stay in SQLite with their history.
    """CREATE TRIGGER facts_fts_insert AFTER INSERT ON facts WHEN new.status = 'active'
    BEGIN
        INSERT INTO facts_fts(rowid, body) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER facts_fts_update AFTER UPDATE OF text, status, project_id ON facts
    BEGIN
        DELETE FROM facts_fts WHERE rowid = old.id;
        INSERT INTO facts_fts(rowid, body) SELECT new.id, new.text WHERE new.status = 'active';
    END""",
    """CREATE TRIGGER facts_fts_delete AFTER DELETE ON facts
    BEGIN
        DELETE FROM facts_fts WHERE rowid = old.id;
    END""",
    """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
    BEGIN
        INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.content);
    END""",
    """CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages
    BEGIN
        DELETE FROM messages_fts WHERE rowid = old.id;
        INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.content);
    END""",
    """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
    BEGIN
        DELETE FROM messages_fts WHERE rowid = old.id;
    END""",
    """CREATE TRIGGER summaries_fts_insert AFTER INSERT ON chat_sessions WHEN new.summary != ''
    BEGIN
        INSERT INTO summaries_fts(rowid, body) VALUES (new.id, new.summary);
    END""",
    """CREATE TRIGGER summaries_fts_update AFTER UPDATE OF summary ON chat_sessions
    BEGIN
        DELETE FROM summaries_fts WHERE rowid = old.id;
        INSERT INTO summaries_fts(rowid, body) SELECT new.id, new.summary WHERE new.summary != '';
    END""",
    """CREATE TRIGGER summaries_fts_delete AFTER DELETE ON chat_sessions
    BEGIN
        DELETE FROM summaries_fts WHERE rowid = old.id;
    END""",
]


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200, collation="NOCASE"), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("archived", sa.Boolean, nullable=False),
    )
    op.create_table(
        "chat_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("vec_current", sa.Boolean, nullable=False, index=True),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "session_id",
            sa.Integer,
            sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("speaker", sa.String(200), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("context_item_keys", sa.JSON, nullable=False),
        sa.Column("vec_current", sa.Boolean, nullable=False, index=True),
    )
    op.create_index("ix_messages_session_created", "messages", ["session_id", "created_at", "id"])
    op.create_table(
        "facts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("pinned", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column(
            "source_session_id",
            sa.Integer,
            sa.ForeignKey("chat_sessions.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "source_message_id",
            sa.Integer,
            sa.ForeignKey("messages.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("vec_current", sa.Boolean, nullable=False, index=True),
    )
    op.create_index("ix_facts_project_status", "facts", ["project_id", "status"])
    op.create_table(
        "fact_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "fact_id",
            sa.Integer,
            sa.ForeignKey("facts.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("pinned", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(20), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("fact_id", "version"),
    )
    op.create_table(
        "voice_profiles",
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tone", sa.Text, nullable=False),
        sa.Column("style_do", sa.JSON, nullable=False),
        sa.Column("style_dont", sa.JSON, nullable=False),
        sa.Column("vocabulary", sa.JSON, nullable=False),
        sa.Column("samples", sa.JSON, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column(
            "target_fact_id",
            sa.Integer,
            sa.ForeignKey("facts.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column(
            "source_session_id",
            sa.Integer,
            sa.ForeignKey("chat_sessions.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "source_message_id",
            sa.Integer,
            sa.ForeignKey("messages.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("decided_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_proposals_project_status", "proposals", ["project_id", "status"])
    for statement in FTS_SQL:
        op.execute(statement)


def downgrade() -> None:
    for table in ("summaries_fts", "messages_fts", "facts_fts"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    for table in (
        "proposals",
        "voice_profiles",
        "fact_versions",
        "facts",
        "messages",
        "chat_sessions",
        "projects",
    ):
        op.drop_table(table)
