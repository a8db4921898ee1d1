"""Each database gets a random id; the vector index records the id it was built for.

Reconcile compared only counts, so an index kept beside another database with the
same counts (a restore into a folder that kept its ``vector-index``) went on
answering with the old vectors. Now an index built for another id is rebuilt.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "database_identity",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("database_id", sa.String(64), nullable=False),
    )
    op.execute("INSERT INTO database_identity (id, database_id) VALUES (1, lower(hex(randomblob(16))))")


def downgrade() -> None:
    op.drop_table("database_identity")
