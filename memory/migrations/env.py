"""Alembic environment: migrations run on a connection the service passes in."""

from __future__ import annotations

from alembic import context

from memory.orm import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when alembic's own CLI is pointed here
    raise RuntimeError("Run migrations through memory.db.upgrade_to_head()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables
)
with context.begin_transaction():
    context.run_migrations()
