"""Where a proposal came from besides its source: "mcp:Claude Desktop" for one filed by
another AI tool over MCP ("" for Dossier's own), so the inbox can say who asked; and an
index finding a project's messages by external id (a re-import recognises what it brought).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE: batch mode would rebuild the table.
    op.add_column("proposals", sa.Column("origin", sa.String(100), nullable=False, server_default=""))
    op.create_index("ix_messages_project_external", "messages", ["project_id", "external_id"])


def downgrade() -> None:
    op.drop_index("ix_messages_project_external", "messages")
    op.drop_column("proposals", "origin")
