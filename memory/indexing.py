"""Keeps the vector index derived from SQLite.

Every indexed row has a ``vec_current`` flag. A write clears it in the same
SQLite transaction as the change; only after the commit is the vector
written, and then the flag set again. A crash in between leaves a row whose
flag is clear, which :meth:`VectorIndexer.reconcile` repairs on the next
open, so nothing committed is ever missing from search for good.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from memory.embedding import Embedder
from memory.orm import ChatSessionRow, FactRow, MessageRow, ProjectRow
from memory.types import ReindexReport
from memory.vector_store import GLOBAL_COLLECTION, VectorStore, project_collection

log = logging.getLogger(__name__)

#: Rows embedded per round trip; bounds memory when a large import is indexed.
SYNC_BATCH = 256
#: Long messages are cut before embedding; the tokenizer keeps 256 tokens anyway.
EMBED_CHARS = 2_000

FACT_PREFIX, MESSAGE_PREFIX, SUMMARY_PREFIX = "f", "m", "s"


@dataclass(frozen=True)
class _Doc:
    """One row as the index sees it: where it belongs and what to embed (None: absent)."""

    vector_id: str
    collection: str
    text: str | None
    #: What the flag update must still match, so a concurrent edit is not marked current.
    fingerprint: str | None


def _fact_fingerprint(row: FactRow) -> str:
    return row.text + "\0" + row.status


def _message_fingerprint(row: MessageRow) -> str:
    return row.content


def _summary_fingerprint(row: ChatSessionRow) -> str:
    return row.summary


def _fact_doc(row: FactRow) -> _Doc:
    collection = GLOBAL_COLLECTION if row.project_id is None else project_collection(row.project_id)
    text = row.text if row.status == "active" else None
    return _Doc(f"{FACT_PREFIX}{row.id}", collection, text, _fact_fingerprint(row))


def _message_doc(row: MessageRow) -> _Doc:
    return _Doc(
        f"{MESSAGE_PREFIX}{row.id}",
        project_collection(row.project_id),
        row.content[:EMBED_CHARS],
        _message_fingerprint(row),
    )


def _summary_doc(row: ChatSessionRow) -> _Doc:
    return _Doc(
        f"{SUMMARY_PREFIX}{row.id}",
        project_collection(row.project_id),
        row.summary or None,
        _summary_fingerprint(row),
    )


_TABLES = (
    (FactRow, _fact_doc, _fact_fingerprint),
    (MessageRow, _message_doc, _message_fingerprint),
    (ChatSessionRow, _summary_doc, _summary_fingerprint),
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
    ) -> int:
        """Brings the given rows' vectors up to date; returns how many were embedded.

        Runs after the SQLite commit. If the index cannot be written, the
        rows stay marked stale and the next :meth:`reconcile` catches up:
        the user's write has succeeded either way.
        """
        try:
            return self._sync(list(fact_ids), list(message_ids), list(session_ids))
        except Exception:
            log.exception("vector index update failed; it will be repaired on the next reconcile")
            return 0

    def _sync(self, fact_ids: list[int], message_ids: list[int], session_ids: list[int]) -> int:
        embedded = 0
        for (table, to_doc, fingerprint), ids in zip(_TABLES, (fact_ids, message_ids, session_ids), strict=True):
            for start in range(0, len(ids), SYNC_BATCH):
                chunk = ids[start : start + SYNC_BATCH]
                with Session(self._writer) as s:
                    rows = s.scalars(select(table).where(table.id.in_(chunk))).all()
                    docs = [to_doc(row) for row in rows]
                embedded += self._apply(table, docs, fingerprint)
        return embedded

    def sync_stale(self) -> int:
        """Embeds or removes every row whose flag says the index may be behind."""
        total = 0
        for table, to_doc, fingerprint in _TABLES:
            while True:
                with Session(self._writer) as s:
                    rows = s.scalars(select(table).where(table.vec_current.is_(False)).limit(SYNC_BATCH)).all()
                    docs = [to_doc(row) for row in rows]
                if not docs:
                    break
                total += self._apply(table, docs, fingerprint)
        return total

    def _apply(self, table: type, docs: Sequence[_Doc], fingerprint) -> int:
        present = [d for d in docs if d.text is not None]
        absent = [d for d in docs if d.text is None]
        if present:
            vectors = self.embedder.embed([d.text for d in present if d.text is not None])
            by_collection: dict[str, list[int]] = defaultdict(list)
            for i, doc in enumerate(present):
                by_collection[doc.collection].append(i)
            for collection, rows in by_collection.items():
                self.store.upsert(collection, [present[i].vector_id for i in rows], vectors[rows])
        by_collection_absent: dict[str, list[str]] = defaultdict(list)
        for doc in absent:
            by_collection_absent[doc.collection].append(doc.vector_id)
        for collection, ids in by_collection_absent.items():
            self.store.delete(collection, ids)
        self._mark_current(table, docs, fingerprint)
        return len(present)

    def _mark_current(self, table: type, docs: Sequence[_Doc], fingerprint) -> None:
        expected = {parse_vector_id(d.vector_id)[1]: d.fingerprint for d in docs}
        with Session(self._writer) as s, s.begin():
            rows = s.scalars(select(table).where(table.id.in_(list(expected)))).all()
            unchanged = [r.id for r in rows if fingerprint(r) == expected[r.id]]
            if unchanged:
                s.execute(update(table).where(table.id.in_(unchanged)).values(vec_current=True))

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
            return ids

    def _mark_stale(self, vector_ids: Iterable[str]) -> None:
        grouped: dict[str, list[int]] = defaultdict(list)
        for vector_id in vector_ids:
            prefix, row_id = parse_vector_id(vector_id)
            grouped[prefix].append(row_id)
        tables = {FACT_PREFIX: FactRow, MESSAGE_PREFIX: MessageRow, SUMMARY_PREFIX: ChatSessionRow}
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
