"""Dossier's memory service: facts, voice, sessions and retrieval per client project.

Nothing here imports Qt, ``app`` or ``ui``; everything returned is a frozen dataclass.
"""

from memory.errors import (
    ConflictError,
    ImportFormatError,
    InvalidInputError,
    MemoryServiceError,
    ModelFileError,
    NotFoundError,
)
from memory.retrieval import render_context
from memory.service import MemoryService
from memory.tokens import EstimatedTokenCounter, TokenCounter
from memory.types import (
    Actor,
    ChatSession,
    Context,
    ContextItem,
    ContextSource,
    Fact,
    FactKind,
    FactSource,
    FactStatus,
    FactVersion,
    HitKind,
    Message,
    NewMessage,
    Project,
    Proposal,
    ProposalAction,
    ProposalStatus,
    ReindexReport,
    Role,
    ScoreParts,
    SearchHit,
    SearchMode,
    VersionAction,
    VoiceProfile,
)

__all__ = [
    "Actor",
    "ChatSession",
    "ConflictError",
    "Context",
    "ContextItem",
    "ContextSource",
    "EstimatedTokenCounter",
    "Fact",
    "FactKind",
    "FactSource",
    "FactStatus",
    "FactVersion",
    "HitKind",
    "ImportFormatError",
    "InvalidInputError",
    "MemoryService",
    "MemoryServiceError",
    "Message",
    "ModelFileError",
    "NewMessage",
    "NotFoundError",
    "Project",
    "Proposal",
    "ProposalAction",
    "ProposalStatus",
    "ReindexReport",
    "Role",
    "ScoreParts",
    "SearchHit",
    "SearchMode",
    "TokenCounter",
    "VersionAction",
    "VoiceProfile",
    "render_context",
]
