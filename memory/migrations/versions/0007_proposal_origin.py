"""Where a proposal came from besides its source: "mcp:Claude Desktop" for one filed by
another AI tool over MCP ("" for Dossier's own), so the inbox can say who asked.

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


def downgrade() -> None:
    op.drop_column("proposals", "origin")
