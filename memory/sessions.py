"""Chat sessions inside a caller's transaction."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from memory import convert
from memory.orm import (
    ChatSessionRow,
    MessageRow,
)
from memory.types import (
    ChatSession,
)


def to_session(s: Session, row: ChatSessionRow) -> ChatSession:
    count, last = s.execute(select(func.count(), func.max(MessageRow.id)).where(MessageRow.session_id == row.id)).one()
    return convert.to_session(row, count or 0, last)
