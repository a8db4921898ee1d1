"""ORM rows to the frozen dataclasses the service returns (Letta's ``to_pydantic``)."""

from __future__ import annotations

from memory.orm import (
    ChatSessionRow,
    FactRow,
    FactVersionRow,
    MessageRow,
    ProjectRow,
    ProposalRow,
    VoiceProfileRow,
)
from memory.types import (
    Actor,
    ChatSession,
    Fact,
    FactKind,
    FactSource,
    FactStatus,
    FactVersion,
    Message,
    Project,
    Proposal,
    ProposalAction,
    ProposalStatus,
    Role,
    VersionAction,
    VoiceProfile,
)


def to_project(row: ProjectRow) -> Project:
    return Project(row.id, row.name, row.description, row.created_at, row.archived)


def to_fact(row: FactRow) -> Fact:
    return Fact(
        id=row.id,
        project_id=row.project_id,
        text=row.text,
        kind=FactKind(row.kind),
        pinned=row.pinned,
        status=FactStatus(row.status),
        source=FactSource(row.source),
        source_session_id=row.source_session_id,
        source_message_id=row.source_message_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        source_document_id=row.source_document_id,
        source_location=row.source_location,
    )


def to_fact_version(row: FactVersionRow) -> FactVersion:
    return FactVersion(
        id=row.id,
        fact_id=row.fact_id,
        version=row.version,
        text=row.text,
        kind=FactKind(row.kind),
        pinned=row.pinned,
        status=FactStatus(row.status),
        actor=Actor(row.actor),
        action=VersionAction(row.action),
        created_at=row.created_at,
    )


def to_voice(row: VoiceProfileRow | None, project_id: int) -> VoiceProfile:
    if row is None:
        return VoiceProfile(project_id=project_id)
    return VoiceProfile(
        project_id=row.project_id,
        tone=row.tone,
        style_do=tuple(row.style_do),
        style_dont=tuple(row.style_dont),
        vocabulary=tuple(row.vocabulary),
        samples=tuple(row.samples),
        updated_at=row.updated_at,
    )


def to_session(row: ChatSessionRow, message_count: int = 0, last_message_id: int | None = None) -> ChatSession:
    return ChatSession(
        id=row.id,
        project_id=row.project_id,
        title=row.title,
        started_at=row.started_at,
        ended_at=row.ended_at,
        summary=row.summary,
        message_count=message_count,
        summary_through_message_id=row.summary_through_message_id,
        last_message_id=last_message_id,
    )


def to_message(row: MessageRow) -> Message:
    return Message(
        id=row.id,
        session_id=row.session_id,
        project_id=row.project_id,
        role=Role(row.role),
        speaker=row.speaker,
        content=row.content,
        created_at=row.created_at,
        external_id=row.external_id,
        context_item_keys=tuple(row.context_item_keys or ()),
    )


def to_proposal(row: ProposalRow) -> Proposal:
    return Proposal(
        id=row.id,
        project_id=row.project_id,
        action=ProposalAction(row.action),
        target_fact_id=row.target_fact_id,
        text=row.text,
        kind=FactKind(row.kind),
        source_session_id=row.source_session_id,
        source_message_id=row.source_message_id,
        status=ProposalStatus(row.status),
        reason=row.reason,
        created_at=row.created_at,
        decided_at=row.decided_at,
        source_document_id=row.source_document_id,
        source_location=row.source_location,
        origin=row.origin,
    )
