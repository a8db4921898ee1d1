"""The values :class:`memory.MemoryService` takes and returns.

They are frozen dataclasses so that nothing outside ``memory/`` can hold an
ORM row, mutate it, or trigger lazy loads from another thread.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class FactKind(enum.StrEnum):
    FACT = "fact"
    PREFERENCE = "preference"
    DECISION = "decision"
    DEADLINE = "deadline"
    CONTACT = "contact"
    NOTE = "note"


class FactStatus(enum.StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class FactSource(enum.StrEnum):
    """Where a fact came from (its provenance)."""

    MANUAL = "manual"
    CONVERSATION = "conversation"
    IMPORT = "import"
    DOCUMENT = "document"


class Actor(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    IMPORT = "import"


class VersionAction(enum.StrEnum):
    CREATED = "created"
    EDITED = "edited"
    PINNED = "pinned"
    UNPINNED = "unpinned"
    ARCHIVED = "archived"
    RESTORED = "restored"


class Role(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    #: A third person in an imported transcript (a client on a call, say).
    OTHER = "other"


class ProposalAction(enum.StrEnum):
    ADD = "add"
    UPDATE = "update"
    ARCHIVE = "archive"


class ProposalStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class SearchMode(enum.StrEnum):
    """Which rankers a search fuses; single rankers exist to measure the hybrid."""

    HYBRID = "hybrid"
    BM25 = "bm25"
    VECTOR = "vector"


class HitKind(enum.StrEnum):
    FACT = "fact"
    SUMMARY = "summary"
    MESSAGES = "messages"
    #: A passage of a project document.
    CHUNK = "chunk"


class ItemKind(enum.StrEnum):
    FACT = "fact"
    SUMMARY = "summary"
    MESSAGES = "messages"
    VOICE = "voice"
    CHUNK = "chunk"


@dataclass(frozen=True)
class ItemKey:
    """Names one memory item: ``fact:12``, ``summary:3`` (a session's), ``messages:40-41``, ``voice:7``, ``chunk:9``.

    Stored and passed around as its string (an answer keeps the keys of the
    memory it was given); built and read only through this type.
    """

    kind: ItemKind
    #: The fact, the session, the first and last message, or the voice's project.
    ids: tuple[int, ...]

    @classmethod
    def fact(cls, fact_id: int) -> ItemKey:
        return cls(ItemKind.FACT, (fact_id,))

    @classmethod
    def summary(cls, session_id: int) -> ItemKey:
        return cls(ItemKind.SUMMARY, (session_id,))

    @classmethod
    def messages(cls, first: int, last: int | None = None) -> ItemKey:
        return cls(ItemKind.MESSAGES, (first,) if last is None or last == first else (first, last))

    @classmethod
    def voice(cls, project_id: int) -> ItemKey:
        return cls(ItemKind.VOICE, (project_id,))

    @classmethod
    def chunk(cls, chunk_id: int) -> ItemKey:
        return cls(ItemKind.CHUNK, (chunk_id,))

    @classmethod
    def parse(cls, text: str) -> ItemKey | None:
        """The key a string names, or None for anything else."""
        kind, _, rest = text.partition(":")
        try:
            ids = tuple(int(part) for part in rest.split("-"))
            return cls(ItemKind(kind), ids) if 1 <= len(ids) <= 2 else None
        except ValueError:
            return None

    @property
    def id(self) -> int:
        """The first id: the fact's, the session's, the first message's, the project's, the chunk's."""
        return self.ids[0]

    def __str__(self) -> str:
        return f"{self.kind.value}:" + "-".join(str(i) for i in self.ids)


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    description: str
    created_at: datetime
    archived: bool


@dataclass(frozen=True)
class Fact:
    id: int
    #: ``None`` for a global fact (the user's own, shown in every project).
    project_id: int | None
    text: str
    kind: FactKind
    pinned: bool
    status: FactStatus
    source: FactSource
    source_session_id: int | None
    source_message_id: int | None
    created_at: datetime
    updated_at: datetime
    #: The project document the fact was read from, and where in it ("p.12", "§3").
    source_document_id: int | None = None
    source_location: str = ""

    @property
    def is_global(self) -> bool:
        return self.project_id is None


@dataclass(frozen=True)
class FactVersion:
    id: int
    fact_id: int
    version: int
    text: str
    kind: FactKind
    pinned: bool
    status: FactStatus
    actor: Actor
    action: VersionAction
    created_at: datetime


@dataclass(frozen=True)
class VoiceProfile:
    project_id: int
    tone: str = ""
    style_do: tuple[str, ...] = ()
    style_dont: tuple[str, ...] = ()
    vocabulary: tuple[str, ...] = ()
    samples: tuple[str, ...] = ()
    updated_at: datetime | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.tone or self.style_do or self.style_dont or self.vocabulary or self.samples)


@dataclass(frozen=True)
class ChatSession:
    id: int
    project_id: int
    title: str
    started_at: datetime
    ended_at: datetime | None
    summary: str
    message_count: int = 0
    #: The last message the summary covers (None: no summary, or one set by hand).
    summary_through_message_id: int | None = None
    #: Id of the session's last message (None: no messages).
    last_message_id: int | None = None

    @property
    def summary_is_stale(self) -> bool:
        return self.last_message_id is not None and self.summary_through_message_id != self.last_message_id


@dataclass(frozen=True)
class Message:
    id: int
    session_id: int
    project_id: int
    role: Role
    speaker: str
    content: str
    created_at: datetime
    external_id: str | None
    #: For assistant messages: the memory items that were in its context,
    #: as item keys such as ``"fact:12"`` or ``"messages:40-41"``.
    context_item_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewMessage:
    """One message to store, e.g. a line of an imported transcript."""

    role: Role
    content: str
    speaker: str = ""
    created_at: datetime | None = None
    external_id: str | None = None
    context_item_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Proposal:
    id: int
    project_id: int
    action: ProposalAction
    target_fact_id: int | None
    text: str
    kind: FactKind
    source_session_id: int | None
    source_message_id: int | None
    status: ProposalStatus
    #: Why the proposal was made, e.g. "contradicts fact 12".
    reason: str
    created_at: datetime
    decided_at: datetime | None
    #: The project document the proposal was read from, and where in it ("p.12", "§3").
    source_document_id: int | None = None
    source_location: str = ""
    #: Who filed it, if not Dossier itself: "mcp:Claude Desktop" (another AI tool over MCP).
    origin: str = ""


@dataclass(frozen=True)
class ScoreParts:
    """How a hit earned its place, for display and for tuning."""

    fused: float
    bm25_rank: int | None = None
    vector_rank: int | None = None
    similarity: float | None = None
    #: BM25 relative to the query's best lexical match (0 to 1).
    lexical: float = 0.0
    pinned_boost: float = 0.0
    recency_boost: float = 0.0
    #: The key of the hit this message follows, when it joined as that hit's reply.
    reply_to: str | None = None


@dataclass(frozen=True)
class SearchHit:
    kind: HitKind
    #: Stable key of the item: ``fact:12``, ``summary:3`` or ``messages:40-42``.
    key: str
    text: str
    score: float
    parts: ScoreParts
    project_id: int | None
    fact_ids: tuple[int, ...] = ()
    message_ids: tuple[int, ...] = ()
    external_ids: tuple[str, ...] = ()
    session_id: int | None = None
    timestamp: datetime | None = None
    is_global: bool = False
    fact_kind: FactKind | None = None
    pinned: bool = False
    speaker: str = ""
    #: For a document chunk: its document, and where it is cited from ("D3 p.12").
    document_id: int | None = None
    citation: str = ""
    #: The document's title and the chunk's headings ("Contract › Fees").
    source_title: str = ""


class ContextSource(enum.StrEnum):
    VOICE = "voice"
    PINNED = "pinned"
    RETRIEVED = "retrieved"


@dataclass(frozen=True)
class ContextItem:
    source: ContextSource
    key: str
    text: str
    tokens: int
    kind: HitKind | None = None
    fact_ids: tuple[int, ...] = ()
    message_ids: tuple[int, ...] = ()
    external_ids: tuple[str, ...] = ()
    is_global: bool = False
    #: For a document chunk: the key an answer cites it by ("D3 p.12").
    citation: str = ""
    document_id: int | None = None


@dataclass(frozen=True)
class Context:
    """The memory block for one turn."""

    project_id: int
    items: tuple[ContextItem, ...]
    text: str
    tokens: int
    budget_tokens: int
    #: Items that were relevant but did not fit the budget.
    dropped: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class IndexProgress:
    """How far the background embedding of committed rows has come.

    Rows are searchable by keyword from their commit; ``pending`` of them are
    still waiting for their vector (meaning search finds them once it exists).
    """

    pending: int
    #: Rows embedded since the queue was last empty.
    done: int

    @property
    def idle(self) -> bool:
        return self.pending == 0


@dataclass(frozen=True)
class ReindexReport:
    embedded: int
    removed: int
    seconds: float
    #: The index could not be read and was rebuilt from SQLite.
    rebuilt: bool = False
    #: Keyword tables whose damaged index was rebuilt from the rows they index.
    keyword_rebuilt: tuple[str, ...] = ()


def local_time(value: datetime) -> datetime:
    """``value`` in the user's time zone, for showing and for reading what was said.

    Times are stored in UTC; a session started at 22:30 in Los Angeles was
    started on the 9th there, whatever day it already was in UTC, and
    "tomorrow" said then meant the 10th. A naive value is taken as local.
    """
    return value.astimezone()


def citation_key(document_id: int, page: int | None, section: int) -> str:
    """How answers cite a passage: ``D3 p.12`` (a page), or ``D3 §2`` (a section of a format without pages)."""
    return f"D{document_id} {location_label(page, section)}"


def location_label(page: int | None, section: int) -> str:
    return f"p.{page}" if page is not None else f"§{section}"


class DocumentStatus(enum.StrEnum):
    ACTIVE = "active"
    #: Gone from retrieval (removed by the user, or deleted from a watched folder); history kept.
    REMOVED = "removed"


class DocumentAction(enum.StrEnum):
    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"
    REINDEXED = "reindexed"


@dataclass(frozen=True)
class NewChunk:
    """A passage to store; ``text`` is ``document text[start:end]``."""

    ordinal: int
    text: str
    start: int
    end: int
    page: int | None
    section: int = 1
    heading_path: str = ""


@dataclass(frozen=True)
class NewDocument:
    """A parsed file to store with its original bytes (the app layer parses; memory keeps)."""

    filename: str
    title: str
    media_type: str
    original: bytes
    text: str
    chunks: tuple[NewChunk, ...]
    pages: int | None = None
    details: tuple[tuple[str, str], ...] = ()
    #: The app's reader version that made ``chunks`` (see ``Document.reader``).
    reader: int = 0


@dataclass(frozen=True)
class Document:
    id: int
    project_id: int
    title: str
    filename: str
    media_type: str
    sha256: str
    size: int
    pages: int | None
    status: DocumentStatus
    added_at: datetime
    updated_at: datetime
    removed_at: datetime | None
    chunk_count: int = 0
    #: Chunks still waiting for their vector (keyword-searchable already).
    chunks_pending: int = 0
    details: tuple[tuple[str, str], ...] = ()
    watched_folder_id: int | None = None
    watched_path: str | None = None
    #: Which version of the app's reader gave its passages (0: not recorded, an old one).
    reader: int = 0

    @property
    def key(self) -> str:
        """How the user and answers name it: ``D3``."""
        return f"D{self.id}"


@dataclass(frozen=True)
class DocumentChunk:
    id: int
    document_id: int
    project_id: int
    ordinal: int
    text: str
    start: int
    end: int
    page: int | None
    section: int
    heading_path: str

    @property
    def citation(self) -> str:
        return citation_key(self.document_id, self.page, self.section)

    @property
    def location(self) -> str:
        return location_label(self.page, self.section)


@dataclass(frozen=True)
class DocumentEvent:
    document_id: int
    action: DocumentAction
    detail: str
    created_at: datetime


@dataclass(frozen=True)
class WatchedFolder:
    id: int
    project_id: int
    path: str
    added_at: datetime
    synced_at: datetime | None
