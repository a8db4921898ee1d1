"""Keeps the vector index derived from SQLite.

Every indexed row has a ``vec_current`` flag. A write clears it in the same
SQLite transaction as the change; only after the commit is the vector
written, and then the flag set again. A crash in between leaves a row whose
flag is clear, which :meth:`VectorIndexer.reconcile` repairs on the next
open, so nothing committed is ever missing from search for good.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, func, select, update
from sqlalchemy.orm import Session

from memory.embedding import Embedder
from memory.orm import ChatSessionRow, DocumentChunkRow, FactRow, MessageRow, ProjectRow
from memory.types import IndexProgress, ReindexReport
from memory.vector_store import GLOBAL_COLLECTION, VectorStore, project_collection

log = logging.getLogger(__name__)

#: Rows embedded per round trip; bounds memory when a large import is indexed.
SYNC_BATCH = 256
#: Long messages are cut before embedding; the tokenizer keeps 256 tokens anyway.
EMBED_CHARS = 2_000

FACT_PREFIX, MESSAGE_PREFIX, SUMMARY_PREFIX, CHUNK_PREFIX = "f", "m", "s", "c"


@dataclass(frozen=True)
class _Doc:
    """One row as the index sees it: where it belongs and what to embed (None: absent)."""

    row_id: int
    vector_id: str
    collection: str
    text: str | None
    #: Values the flag update must still find, so a concurrent edit is not marked current.
    fingerprint: tuple[str, ...]


def _fact_doc(row: FactRow) -> _Doc:
    collection = GLOBAL_COLLECTION if row.project_id is None else project_collection(row.project_id)
    text = row.text if row.status == "active" else None
    return _Doc(row.id, f"{FACT_PREFIX}{row.id}", collection, text, (row.text, row.status))


def searchable_message_text(speaker: str, role: str, content: str) -> str:
    """What keyword and vector search see of a message: who said it, then what.

    Questions name people, and turns rarely repeat their speaker's name. The
    keyword index builds the same text in SQL (migration 0004's triggers).
    """
    return f"{speaker or role}: {content}"


def _message_doc(row: MessageRow) -> _Doc:
    collection = project_collection(row.project_id)
    text = searchable_message_text(row.speaker, row.role, row.content)[:EMBED_CHARS]
    return _Doc(row.id, f"{MESSAGE_PREFIX}{row.id}", collection, text, (row.content, row.speaker, row.role))


def _summary_doc(row: ChatSessionRow) -> _Doc:
    collection = project_collection(row.project_id)
    return _Doc(row.id, f"{SUMMARY_PREFIX}{row.id}", collection, row.summary or None, (row.summary,))


def searchable_chunk_text(heading_path: str, text: str) -> str:
    """What vector search sees of a document passage: its headings, then its text.

    A passage under "Fees › Late payment" rarely repeats those words. (The keyword
    index also holds the document's title: migration 0006's triggers.)
    """
    return f"{heading_path}: {text}" if heading_path else text


def _chunk_doc(row: DocumentChunkRow) -> _Doc:
    text = searchable_chunk_text(row.heading_path, row.text)[:EMBED_CHARS]
    return _Doc(row.id, f"{CHUNK_PREFIX}{row.id}", project_collection(row.project_id), text, (row.text,))


# Each indexed table, how to see a row as a document, and the columns of its fingerprint.
_TABLES: tuple[tuple[Any, Callable[[Any], _Doc], tuple[str, ...]], ...] = (
    (FactRow, _fact_doc, ("text", "status")),
    (MessageRow, _message_doc, ("content", "speaker", "role")),
    (ChatSessionRow, _summary_doc, ("summary",)),
    (DocumentChunkRow, _chunk_doc, ("text",)),
)


def parse_vector_id(vector_id: str) -> tuple[str, int]:
    return vector_id[0], int(vector_id[1:])


class VectorIndexer:
    def __init__(self, writer: Engine, embedder: Embedder, store: VectorStore) -> None:
        self._writer = writer
        self.embedder = embedder
        self.store = store

    def sync(
        self,
        *,
        fact_ids: Iterable[int] = (),
        message_ids: Iterable[int] = (),
        session_ids: Iterable[int] = (),
        chunk_ids: Iterable[int] = (),
    ) -> int:
        """Brings the given rows' vectors up to date; returns how many were embedded.

        Runs after the SQLite commit. If the index cannot be written, the
        rows stay marked stale and the next :meth:`reconcile` catches up:
        the user's write has succeeded either way.
        """
        try:
            return self._sync([list(fact_ids), list(message_ids), list(session_ids), list(chunk_ids)])
        except Exception as error:
            # Expected now and then (a concurrent reindex dropped the collection): one
            # line for the user's log, the traceback only for debugging.
            log.warning(
                "vector index update failed (%s: %s); it will be repaired on the next reconcile",
                type(error).__name__,
                error,
            )
            log.debug("vector index update failure", exc_info=True)
            return 0

    def _sync(self, ids_per_table: list[list[int]]) -> int:
        embedded = 0
        for (table, to_doc, columns), ids in zip(_TABLES, ids_per_table, strict=True):
            for start in range(0, len(ids), SYNC_BATCH):
                chunk = ids[start : start + SYNC_BATCH]
                with Session(self._writer) as s:
                    rows = s.scalars(select(table).where(table.id.in_(chunk))).all()
                    docs = [to_doc(row) for row in rows]
                embedded += self._apply(table, docs, columns)
        return embedded

    def sync_stale(self) -> int:
        """Embeds or removes every row whose flag says the index may be behind."""
        total = 0
        for table, to_doc, columns in _TABLES:
            while True:
                with Session(self._writer) as s:
                    rows = s.scalars(select(table).where(table.vec_current.is_(False)).limit(SYNC_BATCH)).all()
                    docs = [to_doc(row) for row in rows]
                if not docs:
                    break
                total += self._apply(table, docs, columns)
        return total

    def _apply(self, table: Any, docs: Sequence[_Doc], columns: tuple[str, ...]) -> int:
        present = [d for d in docs if d.text is not None]
        absent = [d for d in docs if d.text is None]
        if present:
            vectors = self.embedder.embed([d.text for d in present if d.text is not None])
            by_collection: dict[str, list[int]] = defaultdict(list)
            for i, doc in enumerate(present):
                by_collection[doc.collection].append(i)
            for collection, rows in by_collection.items():
                self.store.upsert(collection, [present[i].vector_id for i in rows], vectors[rows])
            # A row deleted while it was embedded (a document re-read, a fact purged) dropped its
            # vector before ours was written: drop ours. Checked after the upsert, so a deletion
            # committed later drops it itself.
            with Session(self._writer) as s:
                alive = set(s.scalars(select(table.id).where(table.id.in_([d.row_id for d in present]))))
            for doc in present:
                if doc.row_id not in alive:
                    self.store.delete(doc.collection, [doc.vector_id])
        by_collection_absent: dict[str, list[str]] = defaultdict(list)
        for doc in absent:
            by_collection_absent[doc.collection].append(doc.vector_id)
        for collection, ids in by_collection_absent.items():
            self.store.delete(collection, ids)
        self._mark_current(table, docs, columns)
        return len(present)

    def _mark_current(self, table: Any, docs: Sequence[_Doc], columns: tuple[str, ...]) -> None:
        if not docs:  # e.g. the rows were purged between their commit and this sync
            return
        statement = (
            update(table)
            .where(table.id == bindparam("doc_id"), *(getattr(table, c) == bindparam(c + "_then") for c in columns))
            .values(vec_current=True)
            .execution_options(synchronize_session=False)
        )
        params = [
            {"doc_id": d.row_id, **{c + "_then": v for c, v in zip(columns, d.fingerprint, strict=True)}} for d in docs
        ]
        with self._writer.begin() as conn:
            conn.execute(statement, params)

    def _expected_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        with Session(self._writer) as s:
            for project_id, n in s.execute(
                select(FactRow.project_id, func.count()).where(FactRow.status == "active").group_by(FactRow.project_id)
            ):
                name = GLOBAL_COLLECTION if project_id is None else project_collection(project_id)
                counts[name] += n
            for project_id, n in s.execute(select(MessageRow.project_id, func.count()).group_by(MessageRow.project_id)):
                counts[project_collection(project_id)] += n
            for project_id, n in s.execute(
                select(ChatSessionRow.project_id, func.count())
                .where(ChatSessionRow.summary != "")
                .group_by(ChatSessionRow.project_id)
            ):
                counts[project_collection(project_id)] += n
            for project_id, n in s.execute(
                select(DocumentChunkRow.project_id, func.count()).group_by(DocumentChunkRow.project_id)
            ):
                counts[project_collection(project_id)] += n
            for (project_id,) in s.execute(select(ProjectRow.id)):
                counts.setdefault(project_collection(project_id), 0)
        return counts

    def _expected_ids(self, collection: str) -> set[str]:
        with Session(self._writer) as s:
            if collection == GLOBAL_COLLECTION:
                facts = s.scalars(select(FactRow.id).where(FactRow.project_id.is_(None), FactRow.status == "active"))
                return {f"{FACT_PREFIX}{i}" for i in facts}
            project_id = int(collection.rsplit("-", 1)[1])
            ids = {
                f"{FACT_PREFIX}{i}"
                for i in s.scalars(
                    select(FactRow.id).where(FactRow.project_id == project_id, FactRow.status == "active")
                )
            }
            ids |= {
                f"{MESSAGE_PREFIX}{i}"
                for i in s.scalars(select(MessageRow.id).where(MessageRow.project_id == project_id))
            }
            ids |= {
                f"{SUMMARY_PREFIX}{i}"
                for i in s.scalars(
                    select(ChatSessionRow.id).where(
                        ChatSessionRow.project_id == project_id, ChatSessionRow.summary != ""
                    )
                )
            }
            ids |= {
                f"{CHUNK_PREFIX}{i}"
                for i in s.scalars(select(DocumentChunkRow.id).where(DocumentChunkRow.project_id == project_id))
            }
            return ids

    def _mark_stale(self, vector_ids: Iterable[str]) -> None:
        grouped: dict[str, list[int]] = defaultdict(list)
        for vector_id in vector_ids:
            prefix, row_id = parse_vector_id(vector_id)
            grouped[prefix].append(row_id)
        tables: dict[str, type[FactRow] | type[MessageRow] | type[ChatSessionRow] | type[DocumentChunkRow]] = {
            FACT_PREFIX: FactRow,
            MESSAGE_PREFIX: MessageRow,
            SUMMARY_PREFIX: ChatSessionRow,
            CHUNK_PREFIX: DocumentChunkRow,
        }
        with Session(self._writer) as s, s.begin():
            for prefix, ids in grouped.items():
                table = tables[prefix]
                s.execute(update(table).where(table.id.in_(ids)).values(vec_current=False))

    def reconcile(self) -> ReindexReport:
        """Repairs the index after a crash or outside damage.

        Embeds rows whose vector is missing or stale, then compares each
        collection's size with SQLite; only where they differ are ids listed,
        orphans dropped and missing vectors rebuilt.
        """
        started = time.perf_counter()
        embedded = self.sync_stale()
        removed = 0
        expected = self._expected_counts()
        for collection in self.store.collections():
            if collection != GLOBAL_COLLECTION and collection not in expected:
                removed += self.store.count(collection)
                self.store.drop(collection)
        for collection, n in expected.items():
            if self.store.count(collection) == n:
                continue
            want = self._expected_ids(collection)
            have = self.store.ids(collection)
            orphans = sorted(have - want)
            self.store.delete(collection, orphans)
            removed += len(orphans)
            self._mark_stale(want - have)
        embedded += self.sync_stale()
        return ReindexReport(embedded, removed, time.perf_counter() - started)

    def rebuild(self) -> ReindexReport:
        """Drops every collection and embeds everything again from SQLite."""
        started = time.perf_counter()
        removed = 0
        for collection in self.store.collections():
            removed += self.store.count(collection)
            self.store.drop(collection)
        with Session(self._writer) as s, s.begin():
            for table, _, _ in _TABLES:
                s.execute(update(table).values(vec_current=False))
        embedded = self.sync_stale()
        return ReindexReport(embedded, removed, time.perf_counter() - started)


class BackgroundIndexing:
    """Embeds committed rows on one worker thread, so a large write returns once SQLite has it.

    A row is searchable by keyword from its commit (FTS5 is kept in step by
    triggers in the same transaction); its vector follows here. The rows'
    ``vec_current`` flags stay clear until their vector is written, so a
    process killed meanwhile loses nothing: the next reconcile embeds the rest.

    Args:
        indexer: Writes the vectors.
        batch: Rows embedded per round: big enough for the embedder's throughput,
            small enough that progress moves and :meth:`close` is prompt.
    """

    def __init__(self, indexer: VectorIndexer, batch: int = SYNC_BATCH) -> None:
        self._indexer = indexer
        self._batch = batch
        # (sync()'s keyword for the rows' table, row ids), oldest first.
        self._queue: deque[tuple[str, list[int]]] = deque()
        self._pending = 0
        self._done = 0
        self._busy = False
        self._closed = False
        #: While above 0, queued rows wait: a batch being read gets both cores (see hold()).
        self._holds = 0
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(
        self,
        *,
        fact_ids: Iterable[int] = (),
        message_ids: Iterable[int] = (),
        session_ids: Iterable[int] = (),
        chunk_ids: Iterable[int] = (),
    ) -> None:
        """Queues rows whose vectors are to be written; returns at once."""
        work = [
            ("fact_ids", list(fact_ids)),
            ("message_ids", list(message_ids)),
            ("session_ids", list(session_ids)),
            ("chunk_ids", list(chunk_ids)),
        ]
        with self._changed:
            if self._closed:
                return  # the rows stay stale; the next open's reconcile embeds them
            for table, ids in work:
                for start in range(0, len(ids), self._batch):
                    chunk = ids[start : start + self._batch]
                    self._queue.append((table, chunk))
                    self._pending += len(chunk)
            if self._queue and self._thread is None:
                self._thread = threading.Thread(target=self._run, name="dossier-embedding", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Embedding waits until the block ends (the batch under way is finished first).

        Reading a batch of files competes with the embedder for the same cores: held,
        every file of the batch is keyword-searchable sooner, and the vectors follow.
        """
        with self._changed:
            self._holds += 1
        try:
            yield
        finally:
            with self._changed:
                self._holds -= 1
                self._changed.notify_all()

    def progress(self) -> IndexProgress:
        with self._changed:
            return IndexProgress(pending=self._pending, done=self._done)

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until every queued row has its vector; False if ``timeout`` (seconds) ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while self._pending or self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def close(self) -> None:
        """Stops after the batch under way; what is left stays stale for the next reconcile."""
        with self._changed:
            self._closed = True
            self._queue.clear()
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                while (not self._queue or self._holds) and not self._closed:
                    self._changed.wait()
                if self._closed:
                    self._pending = 0
                    self._changed.notify_all()
                    return
                table, ids = self._queue.popleft()
                self._busy = True
            # sync() logs and swallows index failures: the rows stay stale for reconcile.
            self._indexer.sync(**{table: ids})
            with self._changed:
                self._busy = False
                self._pending = max(self._pending - len(ids), 0)
                self._done = 0 if not self._pending else self._done + len(ids)
                self._changed.notify_all()
