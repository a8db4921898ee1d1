"""Inbox proposals inside a caller's transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from memory.errors import InvalidInputError
from memory.orm import (
    ProposalRow,
)
from memory.rows import _existing
from memory.types import (
    ProposalStatus,
)


def pending_proposal(s: Session, proposal_id: int) -> ProposalRow:
    row = _existing(s, ProposalRow, proposal_id, "proposal")
    if row.status != ProposalStatus.PENDING.value:
        raise InvalidInputError(f"Proposal {proposal_id} was already {row.status}")
    return row
