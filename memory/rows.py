"""Finding rows by id inside a caller's transaction, with NotFoundError naming what is missing."""

from __future__ import annotations

import unicodedata
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from memory.errors import ConflictError, InvalidInputError, NotFoundError
from memory.orm import (
    ChatSessionRow,
    FactRow,
    MessageRow,
    ProjectRow,
)
from memory.validation import (
    MAX_NAME_CHARS,
    clean_text,
    is_row_id,
    name_key,
)

RowT = TypeVar("RowT")


def project_row(s: Session, ref: int | str) -> ProjectRow:
    row: ProjectRow | None
    if isinstance(ref, int):
        row = s.get(ProjectRow, ref) if is_row_id(ref) else None
    else:
        # A name, or the ASCII digits of an id; text a name cannot hold names nothing.
        ref = clean_text(ref, "Project", max_chars=MAX_NAME_CHARS)
        wanted = unicodedata.normalize("NFC", ref)
        row = s.scalar(select(ProjectRow).where(ProjectRow.name == wanted))
        if row is None:  # SQLite's NOCASE folds ASCII only: "ärger" finds "Ärger" here
            key = name_key(wanted)
            row = next((r for r in s.scalars(select(ProjectRow)) if name_key(r.name) == key), None)
        digits = ref.strip()
        if digits.isascii() and digits.isdigit() and is_row_id(int(digits)):
            by_id = s.get(ProjectRow, int(digits))
            if row is None:
                row = by_id
            elif by_id is not None and by_id.id != row.id:
                # A project named "1" must not hide project 1, nor the reverse.
                raise InvalidInputError(
                    f"{digits!r} is the name of project {row.id} and the id of project {by_id.id} "
                    f"({by_id.name!r}); name the one you mean"
                )
    if row is None:
        raise NotFoundError(f"No project {ref!r}")
    return row


def fact_row(s: Session, fact_id: int) -> FactRow:
    return _existing(s, FactRow, fact_id, "fact")


def session_row(s: Session, session_id: int) -> ChatSessionRow:
    return _existing(s, ChatSessionRow, session_id, "session")


def message_row(s: Session, message_id: int) -> MessageRow:
    return _existing(s, MessageRow, message_id, "message")


def _refuse_taken_name(s: Session, name: str, own_id: int | None = None, hint: str = "") -> None:
    """ConflictError when another project's name differs from ``name`` only in case or Unicode form."""
    key = name_key(name)
    for other_id, other, archived in s.execute(select(ProjectRow.id, ProjectRow.name, ProjectRow.archived)):
        if other_id != own_id and name_key(other) == key:
            # An archived project is out of sight: say where the name went.
            where = " (archived: unarchive it to use it again)" if archived else ""
            raise ConflictError(f"A project named {other!r} already exists{where}{hint}")


def _existing(s: Session, model: type[RowT], row_id: int, what: str) -> RowT:
    """The row with ``row_id``, or NotFoundError naming it."""
    # An id SQLite cannot hold (a typo of twenty digits) names nothing, and must not overflow.
    row = s.get(model, row_id) if is_row_id(row_id) else None
    if row is None:
        raise NotFoundError(f"No {what} {row_id}")
    return row
