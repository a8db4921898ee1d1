"""``MemoryService``: the one way into a data dir's memory.

Every public method owns its unit of work (``with Session(...) as s,
s.begin():``), validates input before writing, and returns frozen
dataclasses. Writes that change indexed text clear the row's ``vec_current``
flag inside the transaction and refresh the vector after commit.

Over 600 lines on purpose: this is the facade, one public method per operation
(about 45 over projects, facts, voice, sessions, messages, proposals, search,
context, export and the index), each owning its transaction and its input
checks. The work inside a transaction lives in ``db``, ``rows``, ``facts``,
``sessions``, ``proposals``, ``retrieval``, ``portable`` and ``indexing``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, case, delete, func, or_, select
from sqlalchemy import text as sql
from sqlalchemy.exc import DatabaseError, IntegrityError
from sqlalchemy.orm import Session

from memory import convert, portable
from memory.db import (
    _COUNTED_ROWS,
    BUSY_TIMEOUT_MS,
    DB_FILENAME,
    INDEX_DIRNAME,
    KEYWORD_SOURCES,
    Engines,
    _keep_damaged_wal,
    check_database_file,
    create_engines,
    damaged_keyword_tables,
    database_counts,
    read_only_uri,
    rebuild_keyword_tables,
    upgrade_to_head,
)
from memory.documents import (
    check_new_document,
    chunk_counts,
    clean_filename,
    document_row,
    drop_chunks,
    forget_original,
    insert_chunks,
    keep_original,
    original_path,
    read_original,
    record,
    replace_chunks,
    sha256_of,
    to_chunk,
    to_document,
    to_event,
    to_watched_folder,
    watched_folder_row,
)
from memory.embedding import Embedder, MiniLMEmbedder
from memory.errors import ConflictError, CorruptDatabaseError, InvalidInputError, NotFoundError
from memory.facts import apply_change, insert_fact
from memory.indexing import CHUNK_PREFIX, FACT_PREFIX, MESSAGE_PREFIX, SUMMARY_PREFIX, BackgroundIndexing, VectorIndexer
from memory.orm import (
    ChatSessionRow,
    DatabaseIdentityRow,
    DocumentChunkRow,
    DocumentEventRow,
    DocumentRow,
    FactRow,
    FactVersionRow,
    MessageRow,
    ProjectRow,
    ProposalRow,
    VoiceProfileRow,
    WatchedFolderRow,
    utcnow,
)
from memory.proposals import pending_proposal
from memory.retrieval import TermFrequencies, assemble_context, hybrid_search
from memory.rows import _refuse_taken_name, fact_row, message_row, project_row, session_row
from memory.sessions import to_session
from memory.tokens import EstimatedTokenCounter, TokenCounter
from memory.types import (
    Actor,
    ChatSession,
    Context,
    Document,
    DocumentAction,
    DocumentChunk,
    DocumentEvent,
    DocumentStatus,
    Fact,
    FactKind,
    FactSource,
    FactStatus,
    FactVersion,
    IndexProgress,
    Message,
    NewDocument,
    NewMessage,
    Project,
    Proposal,
    ProposalAction,
    ProposalStatus,
    ReindexReport,
    Role,
    SearchHit,
    SearchMode,
    VersionAction,
    VoiceProfile,
    WatchedFolder,
)
from memory.validation import (
    MAX_FACT_CHARS,
    MAX_LIST_ITEMS,
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
    MAX_QUERY_CHARS,
    MAX_SAMPLE_CHARS,
    clean_name,
    clean_text,
    is_row_id,
    parse_enum,
    strip_control,
)
from memory.vector_store import GLOBAL_COLLECTION, ChromaVectorStore, VectorStore, project_collection

log = logging.getLogger(__name__)


#: The file in the index folder naming the database id the index was built for.
INDEX_IDENTITY_FILE = "built-for-database"
#: A write of more messages than this (a transcript, not a turn) returns once SQLite has
#: it; the vectors follow in the background. A turn's few messages are embedded inline.
INLINE_EMBED_MAX = 16


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return utcnow()
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


RowT = TypeVar("RowT")
T = TypeVar("T")


def _discard_index(path: Path, why: str) -> None:
    log.warning("the vector index at %s is damaged (%s); discarding it", path, why)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _titled_after(title: str, content: str) -> bool:
    """Whether a session's title was made from this message (its start, maybe "Forget: …", cut with "…")."""
    start = title.removesuffix("…").rstrip()
    start = re.sub(r"^(?:Remember|Forget): ", "", start)
    said = re.sub(r"^/(?:remember|forget)\b\s*", "", " ".join(content.split()), flags=re.IGNORECASE)
    return bool(start) and said.startswith(start)


def _same_words(text: str) -> str:
    """A fact's words for comparing two facts: case, spacing and a final full stop aside."""
    return " ".join(text.casefold().split()).rstrip(".!")


class MemoryService:
    """Facts, voice, sessions, proposals and retrieval for every project of a data dir.

    Use :meth:`open`; pass fakes for ``embedder`` or ``vector_store`` in tests
    that do not need the real ones. Safe to call from several threads.
    """

    def __init__(
        self,
        data_dir: Path,
        engines: Engines,
        indexer: VectorIndexer,
        token_counter: TokenCounter,
        *,
        owns_index: bool = False,
    ) -> None:
        """
        Args:
            owns_index: The vector store is the service's own Chroma folder, which it
                may discard and rebuild when damaged (never a store handed in).
        """
        self.data_dir = data_dir
        self._engines = engines
        self._indexer = indexer
        self._background = BackgroundIndexing(indexer)
        self._term_frequencies = TermFrequencies()
        self.token_counter = token_counter
        self._owns_index = owns_index
        #: What the latest reconcile found and did (the front ends say what was repaired).
        self.last_repair: ReindexReport | None = None
        #: What opening found that the user must hear (changes that may be lost).
        self.warnings: list[str] = []

    # ---------------------------------------------------------------- lifecycle

    @classmethod
    def open(
        cls,
        data_dir: Path | str,
        *,
        embedder: Embedder | None = None,
        vector_store: VectorStore | None = None,
        token_counter: TokenCounter | None = None,
        reconcile: bool = True,
        vectors: bool = True,
    ) -> MemoryService:
        """Opens (creating if needed) the memory in ``data_dir``.

        Applies pending migrations, then reconciles the indexes with SQLite
        unless ``reconcile`` is false. With ``vectors`` false only the keyword
        index is checked: the vector store (and its import, most of a short
        command's start-up) waits until something needs it, and the next open
        that searches reconciles it. Writes meanwhile are safe: a row waiting
        for its vector keeps its stale flag.

        Raises:
            ModelFileError: The bundled embedding model is missing or damaged.
        """
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        db_path = data_dir / DB_FILENAME
        if db_path.exists():
            check_database_file(db_path)
        else:
            # Created private up front; SQLite gives its -wal and -shm files this mode too.
            os.close(os.open(db_path, os.O_WRONLY | os.O_CREAT, 0o600))
        warnings = _keep_damaged_wal(db_path)
        engines = create_engines(db_path)
        try:
            try:
                upgrade_to_head(engines.writer)
            except DatabaseError as err:
                raise CorruptDatabaseError(db_path, str(err.orig or err)) from None
            embedder = embedder or MiniLMEmbedder()
            store = vector_store or ChromaVectorStore(data_dir / INDEX_DIRNAME, embedder)
        except BaseException:
            engines.dispose()
            raise
        indexer = VectorIndexer(engines.writer, embedder, store)
        service = cls(
            data_dir, engines, indexer, token_counter or EstimatedTokenCounter(), owns_index=vector_store is None
        )
        service.warnings = warnings
        if reconcile:
            try:
                if vectors:
                    service.reconcile()
                else:
                    service.last_repair = ReindexReport(0, 0, 0.0, keyword_rebuilt=service.repair_keyword_index())
            except BaseException:
                service.close()
                raise
        return service

    def close(self) -> None:
        # Rows still waiting for a vector keep their stale flag; the next open embeds them.
        self._background.close()
        self._indexer.store.close()
        self._engines.dispose()

    def __enter__(self) -> MemoryService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> Session:
        return Session(self._engines.reader, expire_on_commit=False)

    def _write(self) -> Session:
        return Session(self._engines.writer, expire_on_commit=False)

    # ---------------------------------------------------------------- projects

    def create_project(self, name: str, description: str = "") -> Project:
        """Raises: InvalidInputError, ConflictError (the name is taken, ignoring case)."""
        name = clean_name(name, "Project name")
        description = clean_text(description, "Description", max_chars=MAX_FACT_CHARS, allow_empty=True)
        try:
            with self._write() as s, s.begin():
                _refuse_taken_name(s, name)
                row = ProjectRow(name=name, description=description, created_at=utcnow(), archived=False)
                s.add(row)
                s.flush()
                return convert.to_project(row)
        except IntegrityError:
            raise ConflictError(f"A project named {name!r} already exists") from None

    def list_projects(self, *, include_archived: bool = False) -> list[Project]:
        with self._read() as s:
            query = select(ProjectRow).order_by(ProjectRow.name)
            if not include_archived:
                query = query.where(ProjectRow.archived.is_(False))
            return [convert.to_project(r) for r in s.scalars(query)]

    def get_project(self, ref: int | str) -> Project:
        """Looks a project up by id, or by name (ignoring case).

        Raises:
            NotFoundError: No such project.
        """
        with self._read() as s:
            return convert.to_project(project_row(s, ref))

    def rename_project(self, project_id: int, new_name: str) -> Project:
        new_name = clean_name(new_name, "Project name")
        try:
            with self._write() as s, s.begin():
                row = project_row(s, project_id)
                _refuse_taken_name(s, new_name, project_id)
                row.name = new_name
                s.flush()
                return convert.to_project(row)
        except IntegrityError:
            raise ConflictError(f"A project named {new_name!r} already exists") from None

    def archive_project(self, project_id: int, archived: bool = True) -> Project:
        with self._write() as s, s.begin():
            row = project_row(s, project_id)
            row.archived = archived
            return convert.to_project(row)

    # ---------------------------------------------------------------- facts

    def add_fact(
        self,
        project_id: int | None,
        text: str,
        kind: FactKind | str = FactKind.FACT,
        *,
        pinned: bool = False,
        actor: Actor = Actor.USER,
        source: FactSource = FactSource.MANUAL,
        source_message_id: int | None = None,
    ) -> Fact:
        """Adds a fact to a project, or a global fact when ``project_id`` is None.

        Args:
            source_message_id: The message the fact was learnt from; it must
                belong to the same project.

        Raises:
            InvalidInputError: Empty, too long or control characters; a
                source message from another project.
            NotFoundError: No such project or message.
        """
        text = clean_text(text, "Fact", max_chars=MAX_FACT_CHARS)
        kind = parse_enum(FactKind, kind, "Fact kind")
        with self._write() as s, s.begin():
            fact = convert.to_fact(insert_fact(s, project_id, text, kind, pinned, actor, source, source_message_id))
        self._indexer.sync(fact_ids=[fact.id])
        return fact

    def fact_saying(self, project_id: int | None, text: str) -> Fact | None:
        """The active fact of a project (or global, for None) with these words, case and spacing aside.

        For the user's own "add": saying a known fact again should name it, not
        store it twice. (A scan of the project's facts: for one request, not a bulk load.)
        """
        said = _same_words(text)
        with self._read() as s:
            rows = s.scalars(
                select(FactRow).where(
                    FactRow.project_id.is_(None) if project_id is None else FactRow.project_id == project_id,
                    FactRow.status == FactStatus.ACTIVE.value,
                )
            )
            return next((convert.to_fact(row) for row in rows if _same_words(row.text) == said), None)

    def _change_fact(
        self,
        fact_id: int,
        action: VersionAction,
        actor: Actor,
        *,
        text: str | None = None,
        kind: FactKind | None = None,
        pinned: bool | None = None,
        status: FactStatus | None = None,
        unless_changed_since: datetime | None = None,
    ) -> Fact:
        with self._write() as s, s.begin():
            row = fact_row(s, fact_id)
            if unless_changed_since is not None and row.updated_at != unless_changed_since:
                raise ConflictError(
                    f"F{fact_id} was changed elsewhere since you opened it (it now reads “{row.text[:80]}”); "
                    "your edit was not saved: open it again to edit what it says now"
                )
            apply_change(s, row, action, actor, text=text, kind=kind, pinned=pinned, status=status)
            fact = convert.to_fact(row)
            reindex = not row.vec_current
        if reindex:
            self._indexer.sync(fact_ids=[fact_id])
        return fact

    def edit_fact(
        self,
        fact_id: int,
        text: str | None = None,
        kind: FactKind | str | None = None,
        *,
        actor: Actor = Actor.USER,
        unless_changed_since: datetime | None = None,
    ) -> Fact:
        """Changes a fact's text or kind; the old text stays in its history.

        Args:
            unless_changed_since: The fact's ``updated_at`` when the user opened it to edit;
                if someone changed it since (the CLI, another window), nothing is saved.

        Raises:
            ConflictError: It changed since ``unless_changed_since``.
        """
        new_text = None if text is None else clean_text(text, "Fact", max_chars=MAX_FACT_CHARS)
        new_kind = None if kind is None else parse_enum(FactKind, kind, "Fact kind")
        return self._change_fact(
            fact_id,
            VersionAction.EDITED,
            actor,
            text=new_text,
            kind=new_kind,
            unless_changed_since=unless_changed_since,
        )

    def pin_fact(self, fact_id: int, pinned: bool = True, *, actor: Actor = Actor.USER) -> Fact:
        action = VersionAction.PINNED if pinned else VersionAction.UNPINNED
        return self._change_fact(fact_id, action, actor, pinned=pinned)

    def archive_fact(self, fact_id: int, *, actor: Actor = Actor.USER) -> Fact:
        """Archives (the app's "delete"): hidden from search and context, kept with its history."""
        return self._change_fact(fact_id, VersionAction.ARCHIVED, actor, status=FactStatus.ARCHIVED)

    def restore_fact(self, fact_id: int, *, actor: Actor = Actor.USER) -> Fact:
        """Brings an archived fact back."""
        return self._change_fact(fact_id, VersionAction.RESTORED, actor, status=FactStatus.ACTIVE)

    def restore_fact_version(self, fact_id: int, version: int, *, actor: Actor = Actor.USER) -> Fact:
        """Makes an earlier version current again, as a new version."""
        with self._read() as s:
            old = (
                s.scalar(
                    select(FactVersionRow).where(FactVersionRow.fact_id == fact_id, FactVersionRow.version == version)
                )
                if is_row_id(fact_id) and is_row_id(version)
                else None
            )
            if old is None:
                fact_row(s, fact_id)
                raise NotFoundError(f"Fact {fact_id} has no version {version}")
            text, kind, pinned = old.text, FactKind(old.kind), old.pinned
        return self._change_fact(
            fact_id,
            VersionAction.RESTORED,
            actor,
            text=text,
            kind=kind,
            pinned=pinned,
            status=FactStatus.ACTIVE,
        )

    def purge_fact(self, fact_id: int) -> None:
        """Deletes a fact and its history for good; only on the user's explicit request."""
        with self._write() as s, s.begin():
            row = fact_row(s, fact_id)
            project_id = row.project_id
            s.delete(row)
        collection = GLOBAL_COLLECTION if project_id is None else project_collection(project_id)
        self._indexer.store.delete(collection, [f"{FACT_PREFIX}{fact_id}"])

    def get_fact(self, fact_id: int) -> Fact:
        with self._read() as s:
            return convert.to_fact(fact_row(s, fact_id))

    def list_facts(
        self,
        project_id: int | None,
        *,
        include_global: bool = True,
        include_archived: bool = False,
        kind: FactKind | str | None = None,
        contains: str | None = None,
    ) -> list[Fact]:
        """A project's facts (pinned first, then newest), or only global ones for None."""
        with self._read() as s:
            scope: ColumnElement[bool]
            if project_id is None:
                scope = FactRow.project_id.is_(None)
            else:
                project_row(s, project_id)
                scope = FactRow.project_id == project_id
                if include_global:
                    scope = or_(scope, FactRow.project_id.is_(None))
            query = select(FactRow).where(scope)
            if not include_archived:
                query = query.where(FactRow.status == FactStatus.ACTIVE.value)
            if kind is not None:
                query = query.where(FactRow.kind == parse_enum(FactKind, kind, "Fact kind").value)
            if contains:
                needle = contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                query = query.where(FactRow.text.ilike(f"%{needle}%", escape="\\"))
            query = query.order_by(FactRow.pinned.desc(), FactRow.updated_at.desc(), FactRow.id.desc())
            return [convert.to_fact(r) for r in s.scalars(query)]

    def fact_history(self, fact_id: int) -> list[FactVersion]:
        """Every version of a fact, oldest first."""
        with self._read() as s:
            fact_row(s, fact_id)
            rows = s.scalars(
                select(FactVersionRow).where(FactVersionRow.fact_id == fact_id).order_by(FactVersionRow.version)
            )
            return [convert.to_fact_version(r) for r in rows]

    # ---------------------------------------------------------------- voice

    def get_voice(self, project_id: int) -> VoiceProfile:
        with self._read() as s:
            project_row(s, project_id)
            return convert.to_voice(s.get(VoiceProfileRow, project_id), project_id)

    def set_voice(
        self,
        project_id: int,
        *,
        tone: str | None = None,
        style_do: Sequence[str] | None = None,
        style_dont: Sequence[str] | None = None,
        vocabulary: Sequence[str] | None = None,
        samples: Sequence[str] | None = None,
    ) -> VoiceProfile:
        """Updates the given parts of a project's voice profile; None leaves a part as it is."""

        def clean_list(values: Sequence[str] | None, what: str, max_chars: int) -> list[str] | None:
            if values is None:
                return None
            if isinstance(values, str) or len(values) > MAX_LIST_ITEMS:
                raise InvalidInputError(f"{what} must be a list of at most {MAX_LIST_ITEMS} entries")
            return [clean_text(v, what, max_chars=max_chars) for v in values if str(v).strip()]

        new_tone = None if tone is None else clean_text(tone, "Tone", max_chars=MAX_FACT_CHARS, allow_empty=True)
        parts = {
            "style_do": clean_list(style_do, "Style rule", MAX_FACT_CHARS),
            "style_dont": clean_list(style_dont, "Style rule", MAX_FACT_CHARS),
            "vocabulary": clean_list(vocabulary, "Vocabulary entry", MAX_NAME_CHARS),
            "samples": clean_list(samples, "Sample text", MAX_SAMPLE_CHARS),
        }
        with self._write() as s, s.begin():
            project_row(s, project_id)
            row = s.get(VoiceProfileRow, project_id)
            if row is None:
                row = VoiceProfileRow(
                    project_id=project_id, tone="", style_do=[], style_dont=[], vocabulary=[], samples=[]
                )
                s.add(row)
            if new_tone is not None:
                row.tone = new_tone
            for name, value in parts.items():
                if value is not None:
                    setattr(row, name, value)
            row.updated_at = utcnow()
            s.flush()
            return convert.to_voice(row, project_id)

    # ---------------------------------------------------------------- sessions and messages

    def start_session(self, project_id: int, title: str = "", *, started_at: datetime | None = None) -> ChatSession:
        title = clean_text(title, "Session title", max_chars=MAX_NAME_CHARS, allow_empty=True)
        with self._write() as s, s.begin():
            project_row(s, project_id)
            row = ChatSessionRow(
                project_id=project_id,
                title=title,
                started_at=_aware(started_at),
                summary="",
                vec_current=True,
            )
            s.add(row)
            s.flush()
            return convert.to_session(row)

    def get_session(self, session_id: int) -> ChatSession:
        with self._read() as s:
            return to_session(s, session_row(s, session_id))

    def list_sessions(self, project_id: int) -> list[ChatSession]:
        """A project's sessions, newest first."""
        with self._read() as s:
            project_row(s, project_id)
            stats = {
                session_id: (count, last)
                for session_id, count, last in s.execute(
                    select(MessageRow.session_id, func.count(), func.max(MessageRow.id))
                    .where(MessageRow.project_id == project_id)
                    .group_by(MessageRow.session_id)
                )
            }
            rows = s.scalars(
                select(ChatSessionRow)
                .where(ChatSessionRow.project_id == project_id)
                .order_by(ChatSessionRow.started_at.desc(), ChatSessionRow.id.desc())
            )
            return [convert.to_session(r, *stats.get(r.id, (0, None))) for r in rows]

    def sessions_to_summarize(
        self, *, idle_before: datetime, min_new_messages: int, project_id: int | None = None
    ) -> list[ChatSession]:
        """Sessions whose summary is missing or stale and that are ended, idle, or have grown.

        A session qualifies when it has messages after its summary and it was
        ended, its last message is older than ``idle_before``, or at least
        ``min_new_messages`` arrived since the summary.
        """
        covered = func.coalesce(ChatSessionRow.summary_through_message_id, 0)
        new_messages = func.sum(case((MessageRow.id > covered, 1), else_=0))
        query = (
            select(
                ChatSessionRow,
                func.count(MessageRow.id),
                func.max(MessageRow.id),
                func.max(MessageRow.created_at),
                new_messages,
            )
            .join(MessageRow, MessageRow.session_id == ChatSessionRow.id)
            .group_by(ChatSessionRow.id)
            .order_by(ChatSessionRow.id)
        )
        if project_id is not None:
            query = query.where(ChatSessionRow.project_id == project_id)
        found = []
        with self._read() as s:
            for row, count, last_id, last_at, new in s.execute(query):
                if not new:
                    continue
                idle = last_at is not None and _aware(last_at) < _aware(idle_before)
                if row.ended_at is not None or new >= min_new_messages or idle:
                    found.append(convert.to_session(row, count, last_id))
        return found

    def rename_session(self, session_id: int, title: str) -> ChatSession:
        title = clean_text(title, "Session title", max_chars=MAX_NAME_CHARS, allow_empty=True)
        with self._write() as s, s.begin():
            row = session_row(s, session_id)
            row.title = title
            return to_session(s, row)

    def delete_session(self, session_id: int) -> ChatSession:
        """Deletes a session and its messages for good (one in the wrong project, say); only on the user's request.

        Facts and proposals learnt from it stay, without their link to it.
        Returns the session as it was.
        """
        with self._write() as s, s.begin():
            row = session_row(s, session_id)
            session = to_session(s, row)
            message_ids = list(s.scalars(select(MessageRow.id).where(MessageRow.session_id == session_id)))
            s.delete(row)  # its messages go with it (ON DELETE CASCADE), and their keyword rows by trigger
        vector_ids = [f"{MESSAGE_PREFIX}{i}" for i in message_ids] + [f"{SUMMARY_PREFIX}{session_id}"]
        self._drop_vectors(session.project_id, vector_ids, "a deleted session's")
        return session

    def delete_message(self, message_id: int) -> list[Message]:
        """Deletes one message for good (a password pasted by mistake, say); only on the user's request.

        A message of the user's takes the answers to it along (the assistant's
        messages right after it), which may repeat it. They leave search and every
        later context. Proposals filed from them that wait in the inbox or were
        rejected go too (their words are theirs); facts accepted from them stay,
        without their link. A summary of the session that covered them is cleared
        (the next one is written without them), and so is a title made from one.

        Returns:
            The messages deleted, as they were: the one asked for first.
        """
        with self._write() as s, s.begin():
            row = message_row(s, message_id)
            rows = [row]
            if row.role == Role.USER.value:
                for later in s.scalars(
                    select(MessageRow)
                    .where(MessageRow.session_id == row.session_id, MessageRow.id > row.id)
                    .order_by(MessageRow.id)
                ):
                    if later.role != Role.ASSISTANT.value:
                        break
                    rows.append(later)
            deleted = [convert.to_message(r) for r in rows]
            ids = [r.id for r in rows]
            session = session_row(s, row.session_id)
            summary_cleared = bool(session.summary) and (session.summary_through_message_id or 0) >= min(ids)
            if summary_cleared:
                session.summary = ""
                session.summary_through_message_id = None
                session.vec_current = True  # nothing left to embed: its vector goes below
            if any(_titled_after(session.title, r.content) for r in rows):
                session.title = ""
            s.execute(
                delete(ProposalRow).where(
                    ProposalRow.source_message_id.in_(ids),
                    ProposalRow.status.in_((ProposalStatus.PENDING.value, ProposalStatus.REJECTED.value)),
                )
            )
            for r in rows:
                s.delete(r)  # its keyword row goes by trigger
        vector_ids = [f"{MESSAGE_PREFIX}{i}" for i in ids] + (
            [f"{SUMMARY_PREFIX}{row.session_id}"] if summary_cleared else []
        )
        self._drop_vectors(deleted[0].project_id, vector_ids, "a deleted message's")
        # The write-ahead log still holds the pages as they were, message and all, until they are
        # copied back into the file: done now, not at some later checkpoint (readers may delay it).
        self._checkpoint()
        return deleted

    def _checkpoint(self) -> None:
        """Copies the write-ahead log into the database file and empties it, if no reader is in the way."""
        import sqlite3

        try:
            connection = sqlite3.connect(self.data_dir / DB_FILENAME, timeout=BUSY_TIMEOUT_MS / 1000)
            try:
                busy = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            finally:
                connection.close()
        except sqlite3.Error as error:
            busy, reason = 1, str(error)
        else:
            reason = "a reader was in the way"
        if busy:
            log.info("the log keeps deleted pages until the next checkpoint (%s)", reason)

    def message_ids(self, session_id: int) -> list[int]:
        """A session's message ids, in order (a cheap check that a cached copy of it is current)."""
        with self._read() as s:
            return list(
                s.scalars(select(MessageRow.id).where(MessageRow.session_id == session_id).order_by(MessageRow.id))
            )

    def end_session(self, session_id: int, *, ended_at: datetime | None = None) -> ChatSession:
        with self._write() as s, s.begin():
            row = session_row(s, session_id)
            row.ended_at = _aware(ended_at)
            return to_session(s, row)

    def set_session_summary(
        self,
        session_id: int,
        summary: str,
        *,
        through_message_id: int | None = None,
        covering: int | None = None,
        background: bool = False,
    ) -> ChatSession:
        """Stores a session's summary (indexed for search).

        Args:
            through_message_id: The last message the summary covers, so that
                :meth:`sessions_to_summarize` knows when it goes stale.
            covering: How many messages, up to that one, it was written from: if
                one of them was deleted meanwhile, the summary is not stored.
            background: Write its vector on the indexing thread (an import of many
                sessions), not before returning.

        Raises:
            ConflictError: A message it was written from was deleted meanwhile.
        """
        summary = clean_text(summary, "Summary", max_chars=MAX_MESSAGE_CHARS, allow_empty=True)
        with self._write() as s, s.begin():
            row = session_row(s, session_id)
            if through_message_id is not None:
                message = message_row(s, through_message_id)
                if message.session_id != session_id:
                    raise InvalidInputError("The summary's last message belongs to another session")
                if covering is not None and covering != s.scalar(
                    select(func.count()).where(MessageRow.session_id == session_id, MessageRow.id <= through_message_id)
                ):
                    # Written from a message deleted since (a password, say): it must not keep it.
                    raise ConflictError("A message of the session was deleted while its summary was written")
            row.summary_through_message_id = through_message_id
            changed = row.summary != summary
            if changed:
                row.summary = summary
                row.vec_current = False
            session = to_session(s, row)
        if changed and background:
            self._background.submit(session_ids=[session_id])
        elif changed:
            self._indexer.sync(session_ids=[session_id])
        return session

    def add_message(
        self,
        session_id: int,
        role: Role | str,
        content: str,
        *,
        speaker: str = "",
        created_at: datetime | None = None,
        external_id: str | None = None,
        context_item_keys: Sequence[str] = (),
    ) -> Message:
        """Stores one message; see :meth:`add_messages` for many at once."""
        message = NewMessage(
            role=parse_enum(Role, role, "Role"),
            content=content,
            speaker=speaker,
            created_at=created_at,
            external_id=external_id,
            context_item_keys=tuple(context_item_keys),
        )
        return self.add_messages(session_id, [message])[0]

    def add_messages(self, session_id: int, messages: Sequence[NewMessage]) -> list[Message]:
        """Stores messages in one transaction, in the given order (a transcript import).

        Raises:
            InvalidInputError: A message is empty, too long or has control
                characters; nothing is stored then.
        """
        return self._store_messages(self._clean_messages(messages), session_id=session_id)[1]

    def import_session(
        self,
        project_id: int,
        title: str,
        messages: Sequence[NewMessage],
        *,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
    ) -> tuple[ChatSession, list[Message]]:
        """Adds a whole past conversation as an ended session, in one transaction (a history import).

        Searchable by keyword on return; the vectors follow in the background.
        """
        title = clean_text(title, "Session title", max_chars=MAX_NAME_CHARS, allow_empty=True)
        cleaned = self._clean_messages(messages)
        new_session = dict(title=title, started_at=_aware(started_at), ended_at=ended_at and _aware(ended_at))
        return self._store_messages(cleaned, project_id=project_id, new_session=new_session)

    def sessions_of_external_ids(self, project_id: int, external_ids: Sequence[str]) -> dict[str, int]:
        """Which of these external ids the project's messages already carry, and in which session.

        How a re-import recognises what it brought before.
        """
        found: dict[str, int] = {}
        with self._read() as s:
            project_row(s, project_id)
            wanted = list(dict.fromkeys(external_ids))
            for start in range(0, len(wanted), 500):
                rows = s.execute(
                    select(MessageRow.external_id, MessageRow.session_id).where(
                        MessageRow.project_id == project_id,
                        MessageRow.external_id.in_(wanted[start : start + 500]),
                    )
                )
                found.update((external_id, session_id) for external_id, session_id in rows if external_id)
        return found

    def _clean_messages(self, messages: Sequence[NewMessage]) -> list[dict[str, Any]]:
        cleaned = []
        for n, m in enumerate(messages, start=1):
            where = f"Message {n}" if len(messages) > 1 else "Message"
            cleaned.append(
                dict(
                    role=parse_enum(Role, m.role, f"{where} role").value,
                    content=clean_text(m.content, where, max_chars=MAX_MESSAGE_CHARS),
                    speaker=clean_text(m.speaker, f"{where} speaker", max_chars=MAX_NAME_CHARS, allow_empty=True),
                    created_at=_aware(m.created_at),
                    external_id=None
                    if m.external_id is None
                    else clean_text(m.external_id, f"{where} external id", max_chars=MAX_NAME_CHARS),
                    context_item_keys=list(m.context_item_keys),
                )
            )
        return cleaned

    def _store_messages(
        self,
        cleaned: list[dict[str, Any]],
        *,
        session_id: int | None = None,
        project_id: int | None = None,
        new_session: dict[str, Any] | None = None,
    ) -> tuple[ChatSession, list[Message]]:
        with self._write() as s, s.begin():
            if new_session is not None:
                assert project_id is not None
                project_row(s, project_id)
                session = ChatSessionRow(project_id=project_id, summary="", vec_current=True, **new_session)
                s.add(session)
                s.flush()
            else:
                assert session_id is not None
                session = session_row(s, session_id)
            rows = [
                MessageRow(session_id=session.id, project_id=session.project_id, vec_current=False, **values)
                for values in cleaned
            ]
            s.add_all(rows)
            s.flush()
            stored = [convert.to_message(r) for r in rows]
            # A new session holds exactly these messages; an existing one's counts are not needed.
            stored_session = (
                convert.to_session(session, len(rows), rows[-1].id if rows else None)
                if new_session is not None
                else convert.to_session(session)
            )
        ids = [m.id for m in stored]
        if len(ids) > INLINE_EMBED_MAX:
            self._background.submit(message_ids=ids)
        else:
            self._indexer.sync(message_ids=ids)
        return stored_session, stored

    def list_messages(self, session_id: int, *, limit: int | None = None) -> list[Message]:
        """A session's messages in order; with ``limit``, only the last ones."""
        with self._read() as s:
            session_row(s, session_id)
            query = select(MessageRow).where(MessageRow.session_id == session_id)
            if limit is not None:
                query = query.order_by(MessageRow.created_at.desc(), MessageRow.id.desc()).limit(limit)
                return [convert.to_message(r) for r in reversed(list(s.scalars(query)))]
            query = query.order_by(MessageRow.created_at, MessageRow.id)
            return [convert.to_message(r) for r in s.scalars(query)]

    def get_message(self, message_id: int) -> Message:
        with self._read() as s:
            return convert.to_message(message_row(s, message_id))

    # ---------------------------------------------------------------- proposals (the review inbox)

    def propose(
        self,
        project_id: int,
        action: ProposalAction | str,
        text: str = "",
        kind: FactKind | str = FactKind.FACT,
        *,
        target_fact_id: int | None = None,
        source_message_id: int | None = None,
        source_document: tuple[int, str] | None = None,
        reason: str = "",
        origin: str = "",
    ) -> Proposal:
        """Files a proposed memory change for the user to review.

        Args:
            source_document: The project document it was read from and where
                in it, as (document id, "p.3" or "§2").
            origin: Who filed it, if not Dossier itself ("mcp:Claude Desktop").

        Raises:
            InvalidInputError: An add or update without text, an update or
                archive without a target, or a target or source from another project.
        """
        action = parse_enum(ProposalAction, action, "Proposal action")
        kind = parse_enum(FactKind, kind, "Fact kind")
        if action is not ProposalAction.ARCHIVE:
            text = clean_text(text, "Proposed fact", max_chars=MAX_FACT_CHARS)
        reason = clean_text(reason, "Reason", max_chars=MAX_FACT_CHARS, allow_empty=True)
        origin = clean_text(origin, "Origin", max_chars=100, allow_empty=True)
        if action is not ProposalAction.ADD and target_fact_id is None:
            raise InvalidInputError(f"An {action.value} proposal needs the fact it changes")
        with self._write() as s, s.begin():
            project_row(s, project_id)
            if target_fact_id is not None:
                target = fact_row(s, target_fact_id)
                if target.project_id is None:
                    # Accepted, it would carry this project's words into every other one.
                    raise InvalidInputError(
                        "A global fact is changed in the Facts panel, not by a proposal of one project"
                    )
                if target.project_id != project_id:
                    raise InvalidInputError("The target fact belongs to another project")
            source_session_id = None
            if source_message_id is not None:
                message = message_row(s, source_message_id)
                if message.project_id != project_id:
                    raise InvalidInputError("The source message belongs to another project")
                source_session_id = message.session_id
            document_id, location = None, ""
            if source_document is not None:
                document = document_row(s, source_document[0])
                if document.project_id != project_id:
                    raise InvalidInputError("The source document belongs to another project")
                document_id, location = document.id, strip_control(source_document[1])[:40]
            row = ProposalRow(
                project_id=project_id,
                action=action.value,
                target_fact_id=target_fact_id,
                text=text,
                kind=kind.value,
                source_session_id=source_session_id,
                source_message_id=source_message_id,
                status=ProposalStatus.PENDING.value,
                reason=reason,
                created_at=utcnow(),
                source_document_id=document_id,
                source_location=location,
                origin=origin,
            )
            s.add(row)
            s.flush()
            return convert.to_proposal(row)

    def list_proposals(
        self, project_id: int, status: ProposalStatus | str | None = ProposalStatus.PENDING
    ) -> list[Proposal]:
        with self._read() as s:
            project_row(s, project_id)
            query = select(ProposalRow).where(ProposalRow.project_id == project_id)
            if status is not None:
                query = query.where(ProposalRow.status == parse_enum(ProposalStatus, status, "Status").value)
            return [convert.to_proposal(r) for r in s.scalars(query.order_by(ProposalRow.id))]

    def accept_proposal(
        self,
        proposal_id: int,
        *,
        text: str | None = None,
        kind: FactKind | str | None = None,
        pinned: bool | None = None,
    ) -> Fact | None:
        """Applies a proposal, optionally as the user corrected it.

        Args:
            text: The fact's words, if the user rewrote them.
            kind: The fact's kind, if the user chose another than the proposed one.
            pinned: Whether the fact is pinned (for an update, None keeps its pin).

        Returns:
            The added or changed fact; None if an update's or archive's target is gone.
        """
        edited = None if text is None else clean_text(text, "Proposed fact", max_chars=MAX_FACT_CHARS)
        chosen = None if kind is None else parse_enum(FactKind, kind, "Fact kind")
        # One transaction: the proposal is never marked accepted without its change, or the reverse.
        with self._write() as s, s.begin():
            row = pending_proposal(s, proposal_id)
            # Accepted as proposed, the words are the assistant's; rewritten first, the user's.
            changed_by_user = (edited is not None and edited != row.text) or (
                chosen is not None and chosen.value != row.kind
            )
            actor = Actor.USER if changed_by_user else Actor.ASSISTANT
            if edited is not None:
                row.text = edited
            if chosen is not None:
                row.kind = chosen.value
            row.status = ProposalStatus.ACCEPTED.value
            row.decided_at = utcnow()
            kind = FactKind(row.kind)
            target = None if row.target_fact_id is None else s.get(FactRow, row.target_fact_id)
            if row.action == ProposalAction.ADD.value:
                target = insert_fact(
                    s,
                    row.project_id,
                    row.text,
                    kind,
                    bool(pinned),
                    actor,
                    FactSource.CONVERSATION,
                    row.source_message_id,
                    None
                    if row.source_document_id is None or s.get(DocumentRow, row.source_document_id) is None
                    else (row.source_document_id, row.source_location),
                )
            elif target is not None and row.action == ProposalAction.UPDATE.value:
                apply_change(s, target, VersionAction.EDITED, actor, text=row.text, kind=kind, pinned=pinned)
            elif target is not None:
                apply_change(s, target, VersionAction.ARCHIVED, actor, status=FactStatus.ARCHIVED)
            fact = None if target is None else convert.to_fact(target)
            reindex = target is not None and not target.vec_current
        if reindex and fact is not None:
            self._indexer.sync(fact_ids=[fact.id])
        return fact

    def reject_proposal(self, proposal_id: int) -> Proposal:
        with self._write() as s, s.begin():
            row = pending_proposal(s, proposal_id)
            row.status = ProposalStatus.REJECTED.value
            row.decided_at = utcnow()
            return convert.to_proposal(row)

    # ---------------------------------------------------------------- documents

    def add_document(self, project_id: int, new: NewDocument, *, watched: tuple[int, str] | None = None) -> Document:
        """Keeps a parsed file: its original, its text and its chunks.

        Returns once SQLite has it (keyword search finds its passages at once);
        the chunks' vectors follow in the background.

        Args:
            watched: The watched folder it came from and its path inside it.

        Raises:
            InvalidInputError: No text, or chunks that do not match the text.
            ConflictError: The same content is already a document of this project.
        """
        check_new_document(new)
        filename = clean_filename(new.filename)
        title = " ".join(strip_control(new.title).split())[:MAX_NAME_CHARS] or filename
        sha = sha256_of(new.original)
        # Kept before the commit: a crash leaves an unused copy, never a document without its original.
        keep_original(self.data_dir, sha, new.media_type, new.original)
        try:
            with self._write() as s, s.begin():
                project_row(s, project_id)
                same = s.scalar(
                    select(DocumentRow).where(
                        DocumentRow.project_id == project_id,
                        DocumentRow.sha256 == sha,
                        DocumentRow.status == DocumentStatus.ACTIVE.value,
                    )
                )
                if same is not None:
                    raise ConflictError(f"{filename} is already in this project as {same.title!r} (D{same.id})")
                if watched is not None and watched_folder_row(s, watched[0]).project_id != project_id:
                    raise InvalidInputError("The watched folder belongs to another project")
                now = utcnow()
                row = DocumentRow(
                    project_id=project_id,
                    title=title,
                    filename=filename,
                    media_type=new.media_type[:100],
                    sha256=sha,
                    size=len(new.original),
                    pages=new.pages,
                    status=DocumentStatus.ACTIVE.value,
                    text=new.text,
                    details=dict(new.details),
                    reader=new.reader,
                    watched_folder_id=None if watched is None else watched[0],
                    watched_path=None if watched is None else watched[1],
                    added_at=now,
                    updated_at=now,
                )
                s.add(row)
                s.flush()
                chunk_ids = insert_chunks(s, row, new)
                record(s, row.id, DocumentAction.ADDED, "from the watched folder" if watched else "")
                document = to_document(row, len(chunk_ids), len(chunk_ids))
        except BaseException:
            with self._read() as s:
                forget_original(s, self.data_dir, sha, new.media_type)
            raise
        self._background.submit(chunk_ids=chunk_ids)
        return document

    def replace_document(
        self, document_id: int, new: NewDocument, *, action: DocumentAction = DocumentAction.CHANGED
    ) -> Document:
        """Gives a document new content (its watched file changed) or new chunks (re-indexed), in one transaction.

        Passages whose text and place did not change keep their ids (and vectors), so
        older answers' citations still resolve; the others leave search with the commit.
        The history records the change.
        """
        check_new_document(new)
        sha = sha256_of(new.original)
        with self._read() as s:
            document_row(s, document_id)
        keep_original(self.data_dir, sha, new.media_type, new.original)
        with self._write() as s, s.begin():
            row = document_row(s, document_id)
            old_sha, old_type = row.sha256, row.media_type
            row.title = " ".join(strip_control(new.title).split())[:MAX_NAME_CHARS] or row.filename
            row.media_type, row.sha256, row.size, row.pages = new.media_type[:100], sha, len(new.original), new.pages
            row.text, row.details, row.reader = new.text, dict(new.details), new.reader
            row.status, row.removed_at, row.updated_at = DocumentStatus.ACTIVE.value, None, utcnow()
            s.flush()
            chunk_ids, gone = replace_chunks(s, row, new)
            record(s, row.id, action, "" if old_sha == sha else "new content")
            document = to_document(row, *chunk_counts(s, [row.id]).get(row.id, (0, 0)))
            if (old_sha, old_type) != (sha, row.media_type):
                forget_original(s, self.data_dir, old_sha, old_type)
        self._drop_chunk_vectors(gone)
        self._background.submit(chunk_ids=chunk_ids)
        return document

    def remove_document(self, document_id: int, *, detail: str = "removed by the user") -> Document:
        """Takes a document out of search and context; its row and history stay, its text and kept original go.

        A file added to the wrong client and removed must not travel on in that
        project's exports and backups.
        """
        with self._write() as s, s.begin():
            row = document_row(s, document_id)
            if row.status == DocumentStatus.REMOVED.value:
                return to_document(row)
            gone = drop_chunks(s, row.id)
            row.status, row.removed_at, row.updated_at = DocumentStatus.REMOVED.value, utcnow(), utcnow()
            row.text = ""
            # What was read from it and never became a fact goes with it; accepted facts are the user's.
            s.execute(
                delete(ProposalRow).where(
                    ProposalRow.source_document_id == row.id, ProposalRow.status != ProposalStatus.ACCEPTED.value
                )
            )
            record(s, row.id, DocumentAction.REMOVED, strip_control(detail)[:500])
            s.flush()
            forget_original(s, self.data_dir, row.sha256, row.media_type)
            document = to_document(row)
        self._drop_chunk_vectors(gone)
        return document

    def _drop_chunk_vectors(self, gone: Sequence[tuple[int, int]]) -> None:
        by_project: dict[int, list[str]] = {}
        for project_id, chunk_id in gone:
            by_project.setdefault(project_id, []).append(f"{CHUNK_PREFIX}{chunk_id}")
        for project_id, vector_ids in by_project.items():
            self._drop_vectors(project_id, vector_ids, "a removed document's")

    def _drop_vectors(self, project_id: int, vector_ids: Sequence[str], whose: str) -> None:
        """Deletes rows' vectors after their rows went; a failure only leaves orphans for reconcile."""
        try:
            self._indexer.store.delete(project_collection(project_id), list(vector_ids))
        except Exception as error:  # the next reconcile drops the orphans
            log.warning("could not drop %s vectors yet (%s)", whose, error)

    def list_documents(self, project_id: int, *, include_removed: bool = False) -> list[Document]:
        """A project's documents, newest first."""
        with self._read() as s:
            project_row(s, project_id)
            query = select(DocumentRow).where(DocumentRow.project_id == project_id)
            if not include_removed:
                query = query.where(DocumentRow.status == DocumentStatus.ACTIVE.value)
            rows = list(s.scalars(query.order_by(DocumentRow.added_at.desc(), DocumentRow.id.desc())))
            counts = chunk_counts(s, [r.id for r in rows])
            return [to_document(r, *counts.get(r.id, (0, 0))) for r in rows]

    def get_document(self, document_id: int) -> Document:
        with self._read() as s:
            row = document_row(s, document_id)
            return to_document(row, *chunk_counts(s, [row.id]).get(row.id, (0, 0)))

    def find_document(self, project_id: int, original: bytes) -> Document | None:
        """The active document of this project with exactly this content, if any."""
        with self._read() as s:
            row = s.scalar(
                select(DocumentRow).where(
                    DocumentRow.project_id == project_id,
                    DocumentRow.sha256 == sha256_of(original),
                    DocumentRow.status == DocumentStatus.ACTIVE.value,
                )
            )
            return None if row is None else to_document(row)

    def document_text(self, document_id: int) -> str:
        with self._read() as s:
            return document_row(s, document_id).text

    def document_chunks(self, document_id: int) -> list[DocumentChunk]:
        with self._read() as s:
            document_row(s, document_id)
            rows = s.scalars(
                select(DocumentChunkRow)
                .where(DocumentChunkRow.document_id == document_id)
                .order_by(DocumentChunkRow.ordinal)
            )
            return [to_chunk(r) for r in rows]

    def get_chunk(self, chunk_id: int) -> DocumentChunk:
        with self._read() as s:
            row = s.get(DocumentChunkRow, chunk_id) if is_row_id(chunk_id) else None
            if row is None:
                raise NotFoundError(f"No document passage {chunk_id}")
            return to_chunk(row)

    def document_history(self, document_id: int) -> list[DocumentEvent]:
        with self._read() as s:
            document_row(s, document_id)
            rows = s.scalars(
                select(DocumentEventRow)
                .where(DocumentEventRow.document_id == document_id)
                .order_by(DocumentEventRow.id)
            )
            return [to_event(r) for r in rows]

    def document_original(self, document_id: int) -> Path:
        """The kept copy of an active document's original file.

        Raises:
            NotFoundError: No such document, it was removed, or its copy is missing.
        """
        with self._read() as s:
            row = document_row(s, document_id)
            if row.status != DocumentStatus.ACTIVE.value:
                raise NotFoundError(f"Document {document_id} was removed; its original is no longer kept")
            sha, media_type = row.sha256, row.media_type
        path = original_path(self.data_dir, sha, media_type)
        if read_original(self.data_dir, sha, media_type) is None:
            raise NotFoundError(
                f"The kept original of document {document_id} is missing or was changed since it was added ({path})"
            )
        return path

    def add_watched_folder(self, project_id: int, path: str) -> WatchedFolder:
        """Records a folder whose files the app keeps in step with the project's documents."""
        path = clean_text(path, "Folder", max_chars=4096)
        with self._write() as s, s.begin():
            project_row(s, project_id)
            existing = s.scalar(
                select(WatchedFolderRow).where(WatchedFolderRow.project_id == project_id, WatchedFolderRow.path == path)
            )
            if existing is not None:
                return to_watched_folder(existing)
            row = WatchedFolderRow(project_id=project_id, path=path, added_at=utcnow())
            s.add(row)
            s.flush()
            return to_watched_folder(row)

    def list_watched_folders(self, project_id: int | None = None) -> list[WatchedFolder]:
        """One project's watched folders, or every project's for None."""
        with self._read() as s:
            query = select(WatchedFolderRow)
            if project_id is not None:
                project_row(s, project_id)
                query = query.where(WatchedFolderRow.project_id == project_id)
            return [to_watched_folder(r) for r in s.scalars(query.order_by(WatchedFolderRow.id))]

    def remove_watched_folder(self, folder_id: int) -> None:
        """Stops watching; the documents that came from it stay."""
        with self._write() as s, s.begin():
            s.delete(watched_folder_row(s, folder_id))

    def mark_folder_synced(self, folder_id: int) -> WatchedFolder:
        with self._write() as s, s.begin():
            row = watched_folder_row(s, folder_id)
            row.synced_at = utcnow()
            return to_watched_folder(row)

    def watched_documents(self, folder_id: int) -> list[Document]:
        """The active documents that came from a watched folder."""
        with self._read() as s:
            watched_folder_row(s, folder_id)
            rows = s.scalars(
                select(DocumentRow).where(
                    DocumentRow.watched_folder_id == folder_id, DocumentRow.status == DocumentStatus.ACTIVE.value
                )
            )
            return [to_document(r) for r in rows]

    # ---------------------------------------------------------------- retrieval

    def search(
        self,
        project_id: int,
        query: str,
        k: int = 10,
        *,
        include_global: bool = True,
        mode: SearchMode | str = SearchMode.HYBRID,
    ) -> list[SearchHit]:
        """Hybrid search over a project's facts, session summaries and messages.

        Global facts are included (and marked ``is_global``) unless
        ``include_global`` is false. No other project's data is ever returned.
        ``mode`` picks a single ranker instead of the fusion (for measurement).
        """
        mode = parse_enum(SearchMode, mode, "Search mode")
        query = clean_text(query, "Query", max_chars=MAX_QUERY_CHARS)
        if not 1 <= k <= 1000:
            raise InvalidInputError("k must be between 1 and 1000")

        def search() -> list[SearchHit]:
            with self._read() as s:
                project_row(s, project_id)
                return hybrid_search(
                    s,
                    self._indexer,
                    self._term_frequencies,
                    project_id,
                    query,
                    k,
                    include_global=include_global,
                    mode=mode,
                )

        return self._searching(search)

    def build_context(
        self,
        project_id: int,
        user_message: str,
        budget_tokens: int = 1000,
        *,
        mode: SearchMode | str = SearchMode.HYBRID,
        token_counter: TokenCounter | None = None,
    ) -> Context:
        """The memory block for one turn: voice, pinned facts, then retrieved items.

        Control characters in ``user_message`` are ignored for retrieval
        rather than refused: the message is the user's turn, not stored data.

        Args:
            token_counter: Counts with this tokenizer (the model's own) instead
                of the service's default.
        """
        if budget_tokens < 1:
            raise InvalidInputError("The context budget must be at least one token")
        mode = parse_enum(SearchMode, mode, "Search mode")
        query = strip_control(user_message).strip()[:MAX_QUERY_CHARS]
        return self._searching(
            lambda: self._context(project_id, query, budget_tokens, mode, token_counter or self.token_counter)
        )

    def _context(
        self, project_id: int, query: str, budget_tokens: int, mode: SearchMode, counter: TokenCounter
    ) -> Context:
        # One read transaction: the block is consistent and pays one session's overhead.
        with self._read() as s:
            project_row(s, project_id)
            voice = convert.to_voice(s.get(VoiceProfileRow, project_id), project_id)
            pinned = [
                convert.to_fact(row)
                for owner in (FactRow.project_id == project_id, FactRow.project_id.is_(None))
                for row in s.scalars(
                    select(FactRow)
                    .where(owner, FactRow.pinned.is_(True), FactRow.status == FactStatus.ACTIVE.value)
                    .order_by(FactRow.id)
                )
            ]
            hits = (
                hybrid_search(
                    s, self._indexer, self._term_frequencies, project_id, query, 40, mode=mode, for_context=True
                )
                if query
                else []
            )
        return assemble_context(project_id, voice, pinned, hits, budget_tokens, counter)

    # ---------------------------------------------------------------- portability and index

    def export_project(self, project_id: int) -> dict[str, Any]:
        """The project as a versioned JSON-ready document (see docs/format.md)."""
        with self._read() as s:
            return portable.export_project(s, project_row(s, project_id), self.data_dir)

    def import_project(self, document: Any, *, as_project: str | None = None) -> Project:
        """Creates a new project from an export document, in one transaction.

        Raises:
            ImportFormatError: The document is malformed; the message names the JSON path.
            ConflictError: The project name is taken (pass ``as_project``).
        """
        parsed = portable.parse_document(document)
        name = clean_name(as_project if as_project is not None else parsed.name, "Project name")
        try:
            with self._write() as s, s.begin():
                _refuse_taken_name(s, name, hint="; import it under another name")
                project_row, ids = portable.insert_project(s, parsed, name, self.data_dir)
                project = convert.to_project(project_row)
        except BaseException as error:
            # Originals are kept before the insert; one the failed import brought goes again.
            with self._read() as s:
                for entry in parsed.document.get("documents", []):
                    if entry["ref"] in parsed.originals:
                        forget_original(s, self.data_dir, entry["sha256"], entry["media_type"])
            if isinstance(error, IntegrityError):
                raise ConflictError(f"A project named {name!r} already exists; import it under another name") from None
            raise
        self._background.submit(**ids)
        return project

    def reconcile(self) -> ReindexReport:
        """Repairs the vector index from SQLite (run on open).

        An index Chroma cannot read at all (a damaged ``chroma.sqlite3``, a
        file where its folder should be) is discarded and rebuilt from
        SQLite; the report says so. The index is derived data (ids and
        vectors, no text), so nothing is lost; SQLite is untouched.
        """
        keyword_rebuilt = self.repair_keyword_index()
        # An index marked for this database is trusted as it is (no write at every open).
        mark_index = self._owns_index and not self._index_marked_ours()
        try:
            if mark_index and self._indexer.store.collections():
                # Built for another database (a restore into a used folder, a copied
                # folder) or before indexes were marked: equal counts prove nothing.
                log.warning("the vector index was not built for this database; rebuilding it")
                report = self._indexer.rebuild()
            else:
                report = self._indexer.reconcile()
        except Exception as error:
            if not self._owns_index:  # a store handed in is not ours to throw away
                raise
            path = self.data_dir / INDEX_DIRNAME
            self._indexer.store.close()
            _discard_index(path, f"{type(error).__name__}: {error}")
            self._indexer.store = ChromaVectorStore(path, self._indexer.embedder)
            report = replace(self._indexer.rebuild(), rebuilt=True)
            log.warning("vector index rebuilt from the database: %d items in %.1f s", report.embedded, report.seconds)
            mark_index = True
        if mark_index:
            self._mark_index_ours()
        self.last_repair = replace(report, keyword_rebuilt=keyword_rebuilt)
        return self.last_repair

    def _database_id(self) -> str:
        with self._read() as s:
            return s.scalars(select(DatabaseIdentityRow.database_id)).one()

    def _index_marked_ours(self) -> bool:
        marker = self.data_dir / INDEX_DIRNAME / INDEX_IDENTITY_FILE
        try:
            return marker.read_text("utf-8").strip() == self._database_id()
        except (FileNotFoundError, NotADirectoryError):
            return False

    def _mark_index_ours(self) -> None:
        folder = self.data_dir / INDEX_DIRNAME
        folder.mkdir(mode=0o700, exist_ok=True)
        marker = folder / INDEX_IDENTITY_FILE
        marker.write_text(self._database_id(), "utf-8")
        os.chmod(marker, 0o600)

    def repair_keyword_index(self, *, force: bool = False) -> tuple[str, ...]:
        """Rebuilds keyword (FTS5) tables whose index is damaged (all of them with ``force``).

        They are derived from the facts, messages and summaries they index, like the
        vector index, so nothing is lost. Returns the tables rebuilt.
        """
        if force:
            tables = list(KEYWORD_SOURCES)
        else:
            with self._engines.reader.connect() as conn:
                tables = damaged_keyword_tables(conn.exec_driver_sql)
        if tables:
            import sqlite3

            # A fresh connection: a pooled one may hold the damaged index's structure in
            # its FTS5 cache. One transaction, so a crash leaves the old index, never half.
            fresh = sqlite3.connect(self.database_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            try:
                fresh.execute("BEGIN IMMEDIATE")
                rebuild_keyword_tables(fresh.execute, tables)
                fresh.execute("COMMIT")
            except BaseException:
                if fresh.in_transaction:
                    fresh.execute("ROLLBACK")
                raise
            finally:
                fresh.close()
            self._engines.reader.dispose()  # idle connections forget the old index
        if tables and not force:
            log.warning("keyword index damaged in %s; rebuilt from the database", ", ".join(tables))
        return tuple(tables)

    def _searching(self, search: Callable[[], T]) -> T:
        """Runs a keyword-using read; a damaged keyword index is rebuilt once and the read retried."""
        try:
            return search()
        except DatabaseError:
            if not self.repair_keyword_index():
                raise
            return search()

    def indexing_held(self) -> AbstractContextManager[None]:
        """A block during which background embedding waits (a batch of files being read gets the cores).

        Rows committed meanwhile are keyword-searchable at once; their vectors follow when it ends.
        """
        return self._background.hold()

    def index_progress(self) -> IndexProgress:
        """How many committed rows still wait for their vector (they are keyword-searchable already)."""
        return self._background.progress()

    def wait_for_index(self, timeout: float | None = None) -> bool:
        """Blocks until every committed row has its vector; False if ``timeout`` seconds ran out first."""
        return self._background.wait(timeout)

    def reindex(self) -> ReindexReport:
        """Rebuilds the keyword index and the vector index from scratch."""
        self.repair_keyword_index(force=True)
        return self._indexer.rebuild()

    @property
    def database_path(self) -> Path:
        return self.data_dir / DB_FILENAME

    def snapshot_database(self, target: Path) -> dict[str, int]:
        """Copies the database to ``target`` with SQLite's online backup API.

        The copy is consistent even while other connections write (they wait
        for, or are copied after, each step). Returns the copy's row counts.
        """
        import sqlite3

        self.repair_keyword_index()  # a backup must not carry a damaged index along
        target.unlink(missing_ok=True)
        source = sqlite3.connect(read_only_uri(self.database_path), uri=True, timeout=30)
        try:
            destination = sqlite3.connect(target)
            try:
                source.backup(destination)
                destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                destination.close()
        finally:
            source.close()
        os.chmod(target, 0o600)
        return database_counts(target)

    def similarity(self, text: str, others: Sequence[str]) -> list[float]:
        """How alike ``text`` is to each of ``others`` by meaning (cosine of their vectors, -1 to 1).

        For comparing what is not indexed, such as pending proposals; nothing is stored.
        """
        if not others:
            return []
        vectors = self._indexer.embedder.embed([text, *others])
        return [float(v) for v in vectors[1:] @ vectors[0]]

    def similarity_table(self, texts: Sequence[str], others: Sequence[str]) -> list[list[float]]:
        """:meth:`similarity` of each of ``texts`` to each of ``others``, embedding each text once."""
        if not texts or not others:
            return [[] for _ in texts]
        vectors = self._indexer.embedder.embed([*texts, *others])
        table = vectors[: len(texts)] @ vectors[len(texts) :].T
        return [[float(v) for v in row] for row in table]

    def fingerprint(self, project_id: int | None) -> tuple[object, ...]:
        """A value that changes whenever what a window shows of a project changes, whoever changed it.

        The window compares it now and then, so that a fact added from the CLI or a
        proposal filed over MCP shows without a restart. A few indexed aggregates:
        cheap enough to ask every few seconds.
        """
        queries = [
            # Names and archived flags too: a project renamed or archived from the CLI.
            "SELECT count(*), max(id), group_concat(id || char(31) || name || char(31) || archived, char(30)) "
            "FROM projects",
            "SELECT count(*), max(updated_at) FROM facts WHERE project_id = :p OR project_id IS NULL",
            "SELECT count(*), max(id), max(decided_at) FROM proposals WHERE project_id = :p",
            "SELECT count(*), max(id), max(ended_at), sum(length(summary)), sum(length(title)) "
            "FROM chat_sessions WHERE project_id = :p",
            "SELECT count(*), max(id) FROM messages WHERE project_id = :p",  # count: one deleted elsewhere
            "SELECT count(*), max(updated_at) FROM documents WHERE project_id = :p",
            "SELECT max(updated_at) FROM voice_profiles WHERE project_id = :p",
        ]
        with self._read() as s:
            return tuple(tuple(s.execute(sql(q), {"p": project_id}).one()) for q in queries)

    def stats(self) -> dict[str, int]:
        """Row counts, for backups' manifests and the CLI."""
        with self._read() as s:
            return {
                table.__tablename__: s.scalar(select(func.count()).select_from(table)) or 0 for table in _COUNTED_ROWS
            }
