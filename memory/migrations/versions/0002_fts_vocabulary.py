"""Retrieval at scale: FTS5 vocabulary tables and two indexes.

- fts5vocab tables give per-term document counts, so retrieval can drop a
  query's most common terms when matching them would make FTS5 score a
  large share of the corpus (see memory/retrieval.py);
- messages(session_id, id) makes "is anything between these two messages?" a seek;
- a partial index finds pinned facts without scanning a project's facts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("facts_fts", "messages_fts", "summaries_fts")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"CREATE VIRTUAL TABLE {table}_vocab USING fts5vocab({table}, row)")
    op.create_index("ix_messages_session_id", "messages", ["session_id", "id"])
    op.create_index("ix_facts_pinned", "facts", ["project_id"], sqlite_where=sa.text("pinned = 1"))


def downgrade() -> None:
    op.drop_index("ix_facts_pinned", "facts")
    op.drop_index("ix_messages_session_id", "messages")
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}_vocab")
