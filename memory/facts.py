"""Facts inside a caller's transaction: inserting with a first version, changing with a new version."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from memory.errors import InvalidInputError
from memory.orm import (
    DocumentRow,
    FactRow,
    FactVersionRow,
    utcnow,
)
from memory.rows import message_row, project_row
from memory.types import (
    Actor,
    FactKind,
    FactSource,
    FactStatus,
    VersionAction,
)
from memory.validation import is_row_id


def insert_fact(
    s: Session,
    project_id: int | None,
    text: str,
    kind: FactKind,
    pinned: bool,
    actor: Actor,
    source: FactSource,
    source_message_id: int | None,
    source_document: tuple[int, str] | None = None,
) -> FactRow:
    """Adds a fact and its first version inside the caller's transaction.

    Args:
        source_document: The project document (id, location such as "p.3") it was read from.
    """
    if project_id is not None:
        project_row(s, project_id)
    source_session_id = None
    if source_message_id is not None:
        message = message_row(s, source_message_id)
        if message.project_id != project_id:
            raise InvalidInputError("The source message belongs to another project")
        source_session_id = message.session_id
        source = FactSource.CONVERSATION
    now = utcnow()
    row = FactRow(
        project_id=project_id,
        text=text,
        kind=kind.value,
        pinned=pinned,
        status=FactStatus.ACTIVE.value,
        source=source.value,
        source_session_id=source_session_id,
        source_message_id=source_message_id,
        created_at=now,
        updated_at=now,
        vec_current=False,
    )
    if source_document is not None:
        document = s.get(DocumentRow, source_document[0]) if is_row_id(source_document[0]) else None
        if document is None or document.project_id != project_id:
            raise InvalidInputError("The source document belongs to another project")
        row.source = FactSource.DOCUMENT.value
        row.source_document_id, row.source_location = document.id, source_document[1][:40]
    s.add(row)
    s.flush()
    record_version(s, row, actor, VersionAction.CREATED)
    return row


def record_version(s: Session, row: FactRow, actor: Actor, action: VersionAction) -> None:
    last = s.scalar(select(func.max(FactVersionRow.version)).where(FactVersionRow.fact_id == row.id))
    s.add(
        FactVersionRow(
            fact_id=row.id,
            version=(last or 0) + 1,
            text=row.text,
            kind=row.kind,
            pinned=row.pinned,
            status=row.status,
            actor=actor.value,
            action=action.value,
            created_at=utcnow(),
        )
    )


def apply_change(
    s: Session,
    row: FactRow,
    action: VersionAction,
    actor: Actor,
    *,
    text: str | None = None,
    kind: FactKind | None = None,
    pinned: bool | None = None,
    status: FactStatus | None = None,
) -> None:
    """Changes a fact inside the caller's transaction, recording a version if anything changed."""
    before = (row.text, row.kind, row.pinned, row.status)
    if text is not None:
        row.text = text
    if kind is not None:
        row.kind = kind.value
    if pinned is not None:
        row.pinned = pinned
    if status is not None:
        row.status = status.value
    if (row.text, row.kind, row.pinned, row.status) == before:
        return
    if (row.text, row.status) != (before[0], before[3]):
        row.vec_current = False
    row.updated_at = utcnow()
    record_version(s, row, actor, action)
