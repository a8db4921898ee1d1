"""Who said a message is part of what search sees.

Questions name people ("What did Melanie paint?"), and a transcript's turns
rarely repeat the speaker's own name. The keyword index now holds
``speaker: content`` (the role, ``user`` or ``assistant``, where a message has
no speaker), and every message's vector is marked stale so the next reconcile
embeds the same text. The stored content is unchanged.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Frozen here on purpose; memory.indexing.searchable_message_text must stay equal to it.
_LABELLED = "(CASE WHEN {row}.speaker != '' THEN {row}.speaker ELSE {row}.role END) || ': ' || {row}.content"

_TRIGGERS = [
    f"""CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
    BEGIN
        INSERT INTO messages_fts(rowid, body) VALUES (new.id, {_LABELLED.format(row="new")});
    END""",
    f"""CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, speaker, role ON messages
    BEGIN
        DELETE FROM messages_fts WHERE rowid = old.id;
        INSERT INTO messages_fts(rowid, body) VALUES (new.id, {_LABELLED.format(row="new")});
    END""",
]

_OLD_TRIGGERS = [
    """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
    BEGIN
        INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.content);
    END""",
    """CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages
    BEGIN
        DELETE FROM messages_fts WHERE rowid = old.id;
        INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.content);
    END""",
]


def _replace_triggers(triggers: list[str], body: str) -> None:
    op.execute("DROP TRIGGER IF EXISTS messages_fts_insert")
    op.execute("DROP TRIGGER IF EXISTS messages_fts_update")
    for statement in triggers:
        op.execute(statement)
    op.execute("DELETE FROM messages_fts")
    op.execute(f"INSERT INTO messages_fts(rowid, body) SELECT messages.id, {body} FROM messages")
    op.execute("UPDATE messages SET vec_current = 0")


def upgrade() -> None:
    _replace_triggers(_TRIGGERS, _LABELLED.format(row="messages"))


def downgrade() -> None:
    _replace_triggers(_OLD_TRIGGERS, "messages.content")
