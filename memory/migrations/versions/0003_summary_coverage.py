"""Sessions remember which message their summary reaches.

A summary is redone only when messages arrived after it, so closing, idling
or growing a session re-summarises it once, not on every check.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE: batch mode would rebuild the table and lose its FTS triggers.
    op.add_column("chat_sessions", sa.Column("summary_through_message_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("chat_sessions", "summary_through_message_id")
