"""SQLAlchemy tables. Rows never leave ``memory/``: see ``_convert.py``.

Schema changes go through an Alembic migration in ``memory/migrations``;
``test_migrations.py`` checks that the migrations and these classes agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC, so times compare across the app."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class ProjectRow(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200, collation="NOCASE"), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)


class FactRow(Base):
    __tablename__ = "facts"
    __table_args__ = (
        Index("ix_facts_project_status", "project_id", "status"),
        Index("ix_facts_pinned", "project_id", sqlite_where=text("pinned = 1")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: NULL marks a global fact.
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="active")
    source: Mapped[str] = mapped_column(String(20), default="manual")
    source_session_id: Mapped[int | None] = mapped_column(ForeignKey("chat_sessions.id", ondelete="SET NULL"))
    source_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    #: A document of the same project (no foreign key: see migration 0006).
    source_document_id: Mapped[int | None] = mapped_column(Integer)
    #: Where in the source document: "p.12" (a page) or "§3" (a section of a format without pages).
    source_location: Mapped[str] = mapped_column(String(40), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: False while the vector index may not match this row (see reconcile).
    vec_current: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class FactVersionRow(Base):
    __tablename__ = "fact_versions"
    __table_args__ = (UniqueConstraint("fact_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fact_id: Mapped[int] = mapped_column(ForeignKey("facts.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    pinned: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VoiceProfileRow(Base):
    __tablename__ = "voice_profiles"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    tone: Mapped[str] = mapped_column(Text, default="")
    style_do: Mapped[list[str]] = mapped_column(JSON, default=list)
    style_dont: Mapped[list[str]] = mapped_column(JSON, default=list)
    vocabulary: Mapped[list[str]] = mapped_column(JSON, default=list)
    samples: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatSessionRow(Base):
    __tablename__ = "chat_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    summary: Mapped[str] = mapped_column(Text, default="")
    #: The last message the summary covers; later messages make it stale.
    summary_through_message_id: Mapped[int | None] = mapped_column(Integer)
    #: Covers the summary's vector; a session without a summary has none.
    vec_current: Mapped[bool] = mapped_column(Boolean, default=True, index=True)


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_session_created", "session_id", "created_at", "id"),
        Index("ix_messages_session_id", "session_id", "id"),
        Index("ix_messages_project_external", "project_id", "external_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"))
    #: Copied from the session so that every query can filter by project cheaply.
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    speaker: Mapped[str] = mapped_column(String(200), default="")
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    external_id: Mapped[str | None] = mapped_column(String(200))
    context_item_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    vec_current: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class ProposalRow(Base):
    __tablename__ = "proposals"
    __table_args__ = (Index("ix_proposals_project_status", "project_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(20))
    target_fact_id: Mapped[int | None] = mapped_column(ForeignKey("facts.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20), default="fact")
    source_session_id: Mapped[int | None] = mapped_column(ForeignKey("chat_sessions.id", ondelete="SET NULL"))
    source_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    #: A document of the same project (no foreign key: see migration 0006).
    source_document_id: Mapped[int | None] = mapped_column(Integer)
    #: Where in the source document: "p.12" (a page) or "§3" (a section of a format without pages).
    source_location: Mapped[str] = mapped_column(String(40), default="", server_default="")
    #: Who filed it, if not Dossier itself: "mcp:Claude Desktop" (another AI tool over MCP).
    origin: Mapped[str] = mapped_column(String(100), default="", server_default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DatabaseIdentityRow(Base):
    """One row: a random id this database got when it was made (or restored).

    The vector index records the id it was built for, so an index left beside
    another database (a restore into a used folder) is never trusted.
    """

    __tablename__ = "database_identity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    database_id: Mapped[str] = mapped_column(String(64), nullable=False)


class WatchedFolderRow(Base):
    """A folder whose supported files are kept in step with a project's documents."""

    __tablename__ = "watched_folders"
    __table_args__ = (UniqueConstraint("project_id", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DocumentRow(Base):
    """A file given to a project: its extracted text and where its original is kept."""

    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_project_hash", "project_id", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(Text)
    media_type: Mapped[str] = mapped_column(String(100))
    #: Of the original's bytes: names the kept copy and finds a file added twice.
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    #: Page count of a paged format (PDF); None where a format has no pages.
    pages: Mapped[int | None] = mapped_column(Integer)
    #: "active", or "removed" (chunks gone from retrieval, the row and its history kept).
    status: Mapped[str] = mapped_column(String(20), default="active")
    #: The extracted text the chunks' offsets point into (read only when asked for).
    text: Mapped[str] = mapped_column(Text, deferred=True)
    details: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    #: The version of the app's reader (parser and passage cutting) that gave the passages;
    #: 0 for documents read before it was recorded. The app reads older ones again.
    reader: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    watched_folder_id: Mapped[int | None] = mapped_column(ForeignKey("watched_folders.id", ondelete="SET NULL"))
    #: The file's path inside its watched folder.
    watched_path: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DocumentChunkRow(Base):
    """A passage of a document, cited by its document and page (or section)."""

    __tablename__ = "document_chunks"
    __table_args__ = (Index("ix_document_chunks_document", "document_id", "ordinal"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    #: Copied from the document so that every query can filter by project cheaply.
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    page: Mapped[int | None] = mapped_column(Integer)
    section: Mapped[int] = mapped_column(Integer, default=1)
    heading_path: Mapped[str] = mapped_column(Text, default="")
    #: Character offsets into the document's extracted text.
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    vec_current: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class DocumentEventRow(Base):
    """What happened to a document, so a removed or changed file's history says so."""

    __tablename__ = "document_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
