"""Hybrid retrieval (FTS5 BM25 + vectors, fused) and context assembly.

Candidates come from both rankers (the union of their top lists). Every
candidate then gets its real cosine similarity to the query (vectors are
fetched for those BM25 found alone) and its BM25 score relative to the
best lexical match, and the two are combined convexly. This beat
reciprocal-rank fusion on ``bench/retrieval_quality.py``: RRF rewards
items that rank moderately in both lists, such as messages that mention a
subject without answering it, over the clear winner of one list. Pinned
facts and recent items get small boosts on top. Constants here are tuned
by that benchmark.

Over 600 lines on purpose: candidate gathering, scoring and packing into a
budget are one algorithm whose steps share their intermediate data; split,
each part would need the others' internals.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from memory.indexing import CHUNK_PREFIX, FACT_PREFIX, MESSAGE_PREFIX, SUMMARY_PREFIX, VectorIndexer
from memory.orm import ChatSessionRow, DocumentChunkRow, DocumentRow, FactRow, MessageRow
from memory.tokens import TokenCounter
from memory.types import (
    Context,
    ContextItem,
    ContextSource,
    Fact,
    FactKind,
    HitKind,
    ItemKey,
    Role,
    ScoreParts,
    SearchHit,
    SearchMode,
    VoiceProfile,
    citation_key,
    local_time,
)
from memory.vector_store import GLOBAL_COLLECTION, project_collection

log = logging.getLogger(__name__)

#: Candidates taken from each ranker before fusion.
CANDIDATES = 30
#: Weight of cosine similarity against relative BM25 in the fused score.
SEMANTIC_WEIGHT = 0.8
PIN_BOOST = 0.05
#: Taken off the assistant's own messages: a model's words (which a small model may
#: invent) must not outrank what the user said or confirmed about the same thing.
ASSISTANT_PENALTY = 0.1
#: Added for the newest candidate, scaled down linearly to 0 for the oldest.
RECENCY_WEIGHT = 0.03
#: Vector hits below this similarity are noise, not candidates.
MIN_SIMILARITY = 0.15
MAX_TERMS = 24
#: Documents FTS5 may have to score per table and query before common terms are dropped.
POSTINGS_BUDGET = 2_000
#: A message joins an adjacent hit only if it scores at least this share of it.
MERGE_RATIO = 0.6
#: The message after each of this many best message hits becomes a candidate, at
#: ``REPLY_RATIO`` of that hit's score: a reply often completes what the hit began
#: ("Who played at the party?" "Matt Patterson, he was great") without sharing its
#: words. Measured on real conversations (bench/conversation_memory.py): single-hop
#: recall 0.84 -> 0.87, all 0.77 -> 0.79; about as good for 2-4 hits and ratios 0.7-0.9,
#: but 4 hits took the synthetic set under its 0.85; the turn *before* a hit too (0.77)
#: and more hits (6: 0.78) cost more budget than they found.
REPLY_SEEDS = 2
REPLY_RATIO = 0.8
HIT_TEXT_CHARS = 1_500

_STOPWORDS = frozenset(
    """a about above after again all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just me more
    most my no nor not now of off on once only or other our ours out over own same she should so
    some such than that the their theirs them then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would
    you your yours""".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


def content_terms(query: str) -> list[str]:
    """The query's words worth matching: stopwords go unless nothing else is left."""
    words = [w.lower() for w in _WORD.findall(query)]
    content = [w for w in words if w not in _STOPWORDS] or words
    return list(dict.fromkeys(content))[:MAX_TERMS]


def fts_match(terms: Sequence[str]) -> str | None:
    """A safe FTS5 expression matching any of ``terms`` in the text column.

    User text never reaches FTS5's syntax: every term is a quoted bare word,
    so quotes, ``*``, ``NEAR`` or unbalanced parentheses are only words.
    """
    if not terms:
        return None
    return "{body} : (" + " OR ".join(f'"{t}"' for t in terms) + ")"


def _stems(session: Session, terms: Sequence[str]) -> list[set[str]]:
    """How the index's tokenizer stems each term (a word can give several tokens)."""
    session.execute(
        text("INSERT INTO temp.query_terms(rowid, body) VALUES (:n, :term)"),
        [{"n": n, "term": term} for n, term in enumerate(terms)],
    )
    stems: list[set[str]] = [set() for _ in terms]
    for stem, n in session.execute(text("SELECT term, doc FROM temp.query_terms_vocab")):
        stems[n].add(stem)
    session.execute(text("DELETE FROM temp.query_terms"))
    return stems


class TermFrequencies:
    """Recent per-term document counts of one database (a service owns one).

    They only steer query cost, so a minute's lag is harmless.
    """

    def __init__(self, ttl_seconds: float = 60.0, max_entries: int = 50_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: dict[tuple[str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def lookup(self, session: Session, table: str, stems: set[str]) -> dict[str, int]:
        now = time.monotonic()
        found: dict[str, int] = {}
        with self._lock:
            for stem in stems:
                entry = self._entries.get((table, stem))
                if entry and now - entry[0] < self._ttl:
                    found[stem] = entry[1]
        missing = sorted(stems - found.keys())
        if missing:
            names = ", ".join(f":t{i}" for i in range(len(missing)))
            counts: dict[str, int] = dict(
                session.execute(
                    text(f"SELECT term, doc FROM {table}_vocab WHERE term IN ({names})"),
                    {f"t{i}": stem for i, stem in enumerate(missing)},
                ).all()
            )
            with self._lock:
                if len(self._entries) > self._max:
                    self._entries.clear()
                for stem in missing:
                    found[stem] = counts.get(stem, 0)
                    self._entries[(table, stem)] = (now, found[stem])
        return found


def affordable_terms(
    session: Session, frequencies: TermFrequencies, table: str, terms: Sequence[str], stems: Sequence[set[str]]
) -> list[str]:
    """The rarest terms whose postings fit ``POSTINGS_BUDGET`` (always at least one).

    BM25 must score every document an OR query matches, and a common term
    can match most of a large project while adding little to the ranking
    (its IDF is low); this is the cost-aware pruning of WAND-style engines.
    """
    if len(terms) <= 1:
        return list(terms)
    frequency = frequencies.lookup(session, table, set().union(*stems))
    cost = [max((frequency.get(stem, 0) for stem in group), default=0) for group in stems]
    chosen: list[str] = []
    spent = 0
    for n in sorted(range(len(terms)), key=lambda i: (cost[i], i)):
        if chosen and spent + cost[n] > POSTINGS_BUDGET:
            break
        chosen.append(terms[n])
        spent += cost[n]
    return chosen


@dataclass
class _Candidate:
    vector_id: str
    bm25_rank: int | None = None
    vector_rank: int | None = None
    similarity: float | None = None
    #: BM25 relative to the best lexical match of this query (0 to 1).
    lexical: float = 0.0


# Each FTS table and the table whose ids its rowids are (each has a project_id column).
_FTS_SOURCES = {
    "facts_fts": "facts",
    "messages_fts": "messages",
    "summaries_fts": "chat_sessions",
    "chunks_fts": "document_chunks",
}


def _bm25(
    session: Session, table: str, match: str, prefix: str, project_id: int, include_global: bool
) -> list[tuple[str, float]]:
    """Best matches of the project first, with FTS5's BM25 turned positive (higher is better).

    The project filter is a join on the source table rather than a scope
    term inside the MATCH: a scope term's doclist is the whole project, and
    intersecting with it costs more than the terms themselves once a project
    is large, while the terms' cost is already bounded by ``POSTINGS_BUDGET``.
    """
    owner = "src.project_id = :project"
    if include_global and table == "facts_fts":
        owner = f"({owner} OR src.project_id IS NULL)"
    rows = session.execute(
        text(
            f"SELECT {table}.rowid, bm25({table}) AS score FROM {table} "
            f"JOIN {_FTS_SOURCES[table]} AS src ON src.id = {table}.rowid "
            f"WHERE {table} MATCH :match AND {owner} ORDER BY score LIMIT :n"
        ),
        {"match": match, "project": project_id, "n": CANDIDATES},
    )
    return [(f"{prefix}{rowid}", -score) for rowid, score in rows]


def _render_messages(rows: Sequence[MessageRow]) -> str:
    lines = []
    for row in rows:
        # "other" only says the speaker is neither the user nor the assistant: the name says more.
        if row.speaker:
            who = row.speaker if row.role == "other" else f"{row.speaker} ({row.role})"
        else:
            who = row.role
        content = row.content
        if len(content) > HIT_TEXT_CHARS:
            content = content[:HIT_TEXT_CHARS] + " …"
        lines.append(f"{who}: {content}")
    return "\n".join(lines)


def _fill_similarities(
    indexer: VectorIndexer, project_id: int, query_vector: np.ndarray, candidates: dict[str, _Candidate]
) -> None:
    """Gives candidates found by BM25 alone their cosine similarity too."""
    missing = [vid for vid, c in candidates.items() if c.similarity is None]
    if not missing:
        return
    stored = indexer.store.vectors(project_collection(project_id), missing)
    global_ids = [vid for vid in missing if vid not in stored and vid[0] == FACT_PREFIX]
    stored |= indexer.store.vectors(GLOBAL_COLLECTION, global_ids)
    for vector_id, stored_vector in stored.items():
        candidates[vector_id].similarity = float(stored_vector @ query_vector)


def _any_global_fact(session: Session) -> bool:
    # A SQLite seek is cheaper than a round trip to an empty Chroma collection.
    found = session.execute(text("SELECT 1 FROM facts WHERE project_id IS NULL AND status = 'active' LIMIT 1"))
    return found.first() is not None


def _keywords_only(error: Exception) -> SearchMode:
    log.warning("vector index unreadable (%s: %s); ranking by keywords only", type(error).__name__, error)
    return SearchMode.BM25


def hybrid_search(
    session: Session,
    indexer: VectorIndexer,
    frequencies: TermFrequencies,
    project_id: int,
    query: str,
    k: int,
    *,
    include_global: bool = True,
    mode: SearchMode = SearchMode.HYBRID,
    for_context: bool = False,
) -> list[SearchHit]:
    """Ranks a project's facts, session summaries, messages and document passages for ``query``.

    ``for_context``: for a turn's context, not a list of search results. The
    best message hits then bring the message that answered them (see
    ``REPLY_SEEDS``), and messages of Dossier's own chats that hold nothing to
    build on are left out (see :func:`_worth_building_on`).
    """
    candidates: dict[str, _Candidate] = {}
    vector = None
    if mode is not SearchMode.BM25:
        vector = indexer.embedder.embed([query])[0]
        with_global = include_global and _any_global_fact(session)
        try:
            vector_hits = indexer.store.query(project_collection(project_id), vector, CANDIDATES)
            if with_global:
                vector_hits += indexer.store.query(GLOBAL_COLLECTION, vector, CANDIDATES // 4)
        except Exception as error:
            # The index is derived and may be damaged until the next reconcile rebuilds
            # it; keyword ranking over SQLite still answers. Measuring one ranker alone
            # must not quietly become the other.
            if mode is SearchMode.VECTOR:
                raise
            vector, vector_hits, mode = None, [], _keywords_only(error)
        vector_hits = [h for h in vector_hits if h[1] >= MIN_SIMILARITY]
        vector_hits.sort(key=lambda h: (-h[1], h[0]))
        for rank, (vector_id, similarity) in enumerate(vector_hits[:CANDIDATES], start=1):
            candidates[vector_id] = _Candidate(vector_id, vector_rank=rank, similarity=similarity)

    terms = content_terms(query)
    if mode is not SearchMode.VECTOR and terms:
        stems = _stems(session, terms)
        lexical = []
        for table, prefix in (
            ("facts_fts", FACT_PREFIX),
            ("messages_fts", MESSAGE_PREFIX),
            ("summaries_fts", SUMMARY_PREFIX),
            ("chunks_fts", CHUNK_PREFIX),
        ):
            match = fts_match(affordable_terms(session, frequencies, table, terms, stems))
            if match:
                lexical += _bm25(session, table, match, prefix, project_id, include_global)
        lexical.sort(key=lambda h: (-h[1], h[0]))
        best = lexical[0][1] if lexical and lexical[0][1] > 0 else 1.0
        for rank, (vector_id, score) in enumerate(lexical[:CANDIDATES], start=1):
            candidate = candidates.setdefault(vector_id, _Candidate(vector_id))
            candidate.bm25_rank = rank
            candidate.lexical = max(score, 0.0) / best
        if vector is not None:
            try:
                _fill_similarities(indexer, project_id, vector, candidates)
            except Exception as error:
                mode = _keywords_only(error)

    ids: dict[str, list[int]] = defaultdict(list)
    for vector_id in candidates:
        ids[vector_id[0]].append(int(vector_id[1:]))

    # Rows are re-checked against the project here, so a stale or foreign
    # vector can never surface another project's data.
    facts = {
        r.id: r
        for r in session.scalars(select(FactRow).where(FactRow.id.in_(ids[FACT_PREFIX]), FactRow.status == "active"))
        if r.project_id == project_id or (include_global and r.project_id is None)
    }
    messages = {
        r.id: r
        for r in session.scalars(
            select(MessageRow).where(MessageRow.id.in_(ids[MESSAGE_PREFIX]), MessageRow.project_id == project_id)
        )
        if not for_context or _worth_building_on(r)
    }
    summaries = {
        r.id: r
        for r in session.scalars(
            select(ChatSessionRow).where(
                ChatSessionRow.id.in_(ids[SUMMARY_PREFIX]),
                ChatSessionRow.project_id == project_id,
                ChatSessionRow.summary != "",
            )
        )
    }

    # A chunk exists only while its document is active (removal deletes its chunks).
    chunks = {
        chunk.id: (chunk, document)
        for chunk, document in session.execute(
            select(DocumentChunkRow, DocumentRow)
            .join(DocumentRow, DocumentRow.id == DocumentChunkRow.document_id)
            .where(
                DocumentChunkRow.id.in_(ids[CHUNK_PREFIX]),
                DocumentChunkRow.project_id == project_id,
                DocumentRow.project_id == project_id,
                DocumentRow.status == "active",
            )
        )
    }

    def timestamp(vector_id: str) -> datetime | None:
        prefix, row_id = vector_id[0], int(vector_id[1:])
        if prefix == FACT_PREFIX and row_id in facts:
            return facts[row_id].updated_at
        if prefix == MESSAGE_PREFIX and row_id in messages:
            return messages[row_id].created_at
        if prefix == SUMMARY_PREFIX and row_id in summaries:
            row = summaries[row_id]
            return row.ended_at or row.started_at
        if prefix == CHUNK_PREFIX and row_id in chunks:
            return chunks[row_id][1].updated_at
        return None

    live = {vid: c for vid, c in candidates.items() if timestamp(vid) is not None}
    times = [timestamp(vid).timestamp() for vid in live]  # type: ignore[union-attr]
    oldest, newest = (min(times), max(times)) if times else (0.0, 0.0)
    span = newest - oldest

    if mode is SearchMode.HYBRID:
        weights = (SEMANTIC_WEIGHT, 1.0 - SEMANTIC_WEIGHT)
    else:
        weights = (1.0, 0.0) if mode is SearchMode.VECTOR else (0.0, 1.0)
    scored: dict[str, ScoreParts] = {}
    for vector_id, c in live.items():
        if mode is SearchMode.HYBRID and c.similarity is None:
            # Its vector is still being written (a fresh import): rank it by its words
            # alone rather than as if it meant nothing.
            fused = c.lexical
        else:
            fused = weights[0] * (c.similarity or 0.0) + weights[1] * c.lexical
        pin = PIN_BOOST if vector_id[0] == FACT_PREFIX and facts[int(vector_id[1:])].pinned else 0.0
        said_by_model = vector_id[0] == MESSAGE_PREFIX and messages[int(vector_id[1:])].role == Role.ASSISTANT.value
        penalty = ASSISTANT_PENALTY if said_by_model else 0.0
        age = timestamp(vector_id).timestamp() - oldest  # type: ignore[union-attr]
        recency = RECENCY_WEIGHT * (age / span) if span > 0 else 0.0
        scored[vector_id] = ScoreParts(
            fused=fused + pin + recency - penalty,
            bm25_rank=c.bm25_rank,
            vector_rank=c.vector_rank,
            similarity=c.similarity,
            lexical=c.lexical,
            pinned_boost=pin,
            recency_boost=recency,
        )

    hits: list[SearchHit] = []
    for fact_id, row in facts.items():
        parts = scored[f"{FACT_PREFIX}{fact_id}"]
        hits.append(
            SearchHit(
                kind=HitKind.FACT,
                key=str(ItemKey.fact(fact_id)),
                text=row.text,
                score=parts.fused,
                parts=parts,
                project_id=row.project_id,
                fact_ids=(fact_id,),
                timestamp=row.updated_at,
                is_global=row.project_id is None,
                fact_kind=FactKind(row.kind),
                pinned=row.pinned,
            )
        )
    for session_id, session_row in summaries.items():
        parts = scored[f"{SUMMARY_PREFIX}{session_id}"]
        hits.append(
            SearchHit(
                kind=HitKind.SUMMARY,
                key=str(ItemKey.summary(session_id)),
                text=session_row.summary,
                score=parts.fused,
                parts=parts,
                project_id=project_id,
                session_id=session_id,
                timestamp=session_row.ended_at or session_row.started_at,
            )
        )
    for chunk_id, (chunk, document) in chunks.items():
        parts = scored[f"{CHUNK_PREFIX}{chunk_id}"]
        hits.append(
            SearchHit(
                kind=HitKind.CHUNK,
                key=str(ItemKey.chunk(chunk_id)),
                text=chunk.text if len(chunk.text) <= HIT_TEXT_CHARS else chunk.text[:HIT_TEXT_CHARS] + " …",
                score=parts.fused,
                parts=parts,
                project_id=project_id,
                timestamp=document.updated_at,
                document_id=document.id,
                citation=citation_key(document.id, chunk.page, chunk.section),
                source_title=_source_title(document.title, chunk.heading_path),
            )
        )
    ranked = hits + [
        _message_hit([row], scored[f"{MESSAGE_PREFIX}{message_id}"]) for message_id, row in messages.items()
    ]
    ranked.sort(key=lambda h: (-h.score, h.key))
    if for_context:
        seeds = [h for h in ranked if h.kind is HitKind.MESSAGES][:REPLY_SEEDS]
        ranked = sorted(ranked + _replies(session, seeds, messages), key=lambda h: (-h.score, h.key))
    return _merge_adjacent_messages(session, ranked, messages, k)


def _worth_building_on(row: MessageRow) -> bool:
    """Whether a message may enter a turn's context.

    Not an answer of Dossier's own model: a small model invents figures and
    citations, and fed back as memory they would come back as facts (briefs
    leave them out for the same reason). Not a message of the user's made of
    questions only that names nothing (no number, no name): it holds no
    answer, yet matches the same question asked again better than the
    passage that answers it. Messages brought in from
    elsewhere (an import, another tool's history: they have an external id)
    are kept, their answers ranked down as the assistant's.
    """
    if row.external_id:
        return True
    if row.role == Role.ASSISTANT.value:
        return False
    return row.role != Role.USER.value or not _only_questions(row.content) or _names_something(row.content)


_GREETING = re.compile(r"^\s*(?:hi|hey|hello|thanks|thank you|ok|okay|so|and)\b[^.!?]{0,30}[.!?,]\s*", re.IGNORECASE)
_QUESTION_START = frozenset(
    "what what's whats who who's whom whose when where why how which is are am was were do does did can could will "
    "would should shall may might have has had any anything".split()
)
_TAG_QUESTION = re.compile(
    r",\s*(?:isn't|aren't|wasn't|weren't|didn't|doesn't|don't|won't|right|correct|no|yes)\b[^?]*\?+!*\s*$", re.I
)


def _sentences_after_greeting(text: str) -> list[str]:
    """The sentences of ``text``, a greeting before them left out ("Hi! What did we decide?")."""
    return [p for p in re.split(r"(?<=[.!?…])\s+|\n+", _GREETING.sub("", text.strip())) if p.strip()]


def _only_questions(text: str) -> bool:
    """Every sentence of ``text`` asks something ("Who signs? And when?"); a statement among them counts.

    A greeting before the question ("Hi! What did we decide?") is not a statement.
    """
    parts = _sentences_after_greeting(text)
    return bool(parts) and all(p.rstrip("\"'”’)! ").endswith("?") for p in parts)


def _names_something(text: str) -> bool:
    """A question that still says something: a number, a name, an address, or a statement with a question mark.

    "Can you note the budget is 40k?", "Did Henrik sign?", "Acme wants a fixed price?", "The budget is
    approved, isn't it?", "should I cc dana@acme.com?".
    """
    if re.search(r"\d|@|://", text) or _TAG_QUESTION.search(text):
        return True
    for sentence in _sentences_after_greeting(text):
        words = re.findall(r"[\w'’-]+", sentence)
        while words and words[0].casefold() in ("and", "or", "but", "so", "also", "then"):
            words = words[1:]
        if not words:
            continue
        if words[0].casefold() not in _QUESTION_START:
            return True  # worded as a statement, asked with a question mark
        if any(
            w[:1].isupper() and w not in ("I", "I'm", "I’m", "I've", "I’ve", "I'll", "I’ll", "I'd", "I’d")
            for w in words[1:]
        ):
            return True
    return False


def _replies(session: Session, seeds: Sequence[SearchHit], messages: dict[int, MessageRow]) -> list[SearchHit]:
    """The message after each seed in its session, as hits scored ``REPLY_RATIO`` of the seed's.

    A message already among the candidates keeps its own score, and the
    assistant's words never come in this way (they rank below what people
    said; a small model's reply may be invented). Found rows are added to
    ``messages``, where the merging of adjacent hits looks them up.
    """
    following = _adjacent_in_session(session, [hit.message_ids[-1] for hit in seeds], after=True)
    after = {seed: reply for seed, reply in following.items() if reply is not None and reply not in messages}
    if not after:
        return []
    rows = {r.id: r for r in session.scalars(select(MessageRow).where(MessageRow.id.in_(after.values())))}
    hits = []
    for seed in seeds:
        row = rows.get(after.get(seed.message_ids[-1], -1))
        if row is None or row.id in messages or row.project_id != seed.project_id or row.role == Role.ASSISTANT.value:
            continue
        if not _worth_building_on(row):
            continue
        messages[row.id] = row
        hits.append(_message_hit([row], ScoreParts(fused=seed.score * REPLY_RATIO, reply_to=seed.key)))
    return hits


def _source_title(title: str, heading_path: str) -> str:
    """ "Contract › Fees", without saying the title twice when the first heading repeats it."""
    if heading_path == title or heading_path.startswith(f"{title} › "):
        return heading_path
    return " › ".join(part for part in (title, heading_path) if part)


def _message_hit(rows: Sequence[MessageRow], parts: ScoreParts) -> SearchHit:
    ids = tuple(r.id for r in rows)
    return SearchHit(
        kind=HitKind.MESSAGES,
        key=str(ItemKey.messages(ids[0], ids[-1])),
        text=_render_messages(rows),
        score=parts.fused,
        parts=parts,
        project_id=rows[0].project_id,
        message_ids=ids,
        external_ids=tuple(r.external_id for r in rows if r.external_id),
        session_id=rows[0].session_id,
        timestamp=rows[-1].created_at,
        speaker=rows[0].speaker,
    )


def _adjacent_in_session(session: Session, message_ids: Sequence[int], *, after: bool) -> dict[int, int | None]:
    """For each message, the id of the message right after (or before) it in its session (one seek each)."""
    if not message_ids:
        return {}
    names = ", ".join(f":m{i}" for i in range(len(message_ids)))
    nearest, relation = ("min", ">") if after else ("max", "<")
    rows = session.execute(
        text(
            f"SELECT m.id, (SELECT {nearest}(n.id) FROM messages AS n "
            f"WHERE n.session_id = m.session_id AND n.id {relation} m.id) "
            f"FROM messages AS m WHERE m.id IN ({names})"
        ),
        {f"m{i}": mid for i, mid in enumerate(message_ids)},
    )
    return dict(rows.all())


def _merge_adjacent_messages(
    session: Session, ranked: list[SearchHit], messages: dict[int, MessageRow], k: int
) -> list[SearchHit]:
    """Takes the best ``k`` hits, joining a message to an adjacent taken one.

    A question and its answer, or a fact stated across two turns, then
    come back as one hit listing every message (and external id) it covers.
    A message only joins if it would have made the top ``k`` on its own and
    scores at least ``MERGE_RATIO`` of the hit it joins, so weak neighbours
    do not pad strong hits. Messages are ordered by id within a session.
    """
    previous = _adjacent_in_session(session, sorted(messages), after=False) if len(messages) > 1 else {}
    taken: list[SearchHit] = []
    by_session: dict[int, list[int]] = defaultdict(list)  # positions in `taken`
    for hit in ranked:
        joined = False
        if hit.kind is HitKind.MESSAGES and hit.session_id is not None:
            mid = hit.message_ids[0]
            for i in by_session[hit.session_id]:
                other = taken[i]
                if hit.score < MERGE_RATIO * other.score:
                    continue
                if previous.get(mid) == other.message_ids[-1] or previous.get(other.message_ids[0]) == mid:
                    rows = sorted((messages[m] for m in (*other.message_ids, mid)), key=lambda r: r.id)
                    taken[i] = _message_hit(rows, other.parts)
                    joined = True
                    break
        if not joined:
            if len(taken) == k:
                break
            if hit.kind is HitKind.MESSAGES and hit.session_id is not None:
                by_session[hit.session_id].append(len(taken))
            taken.append(hit)
    return taken


def _voice_text(voice: VoiceProfile) -> str:
    lines = []
    if voice.tone:
        lines.append(f"Tone: {voice.tone}")
    if voice.style_do:
        lines.append("Do: " + "; ".join(voice.style_do))
    if voice.style_dont:
        lines.append("Don't: " + "; ".join(voice.style_dont))
    if voice.vocabulary:
        lines.append("Vocabulary: " + ", ".join(voice.vocabulary))
    return "\n".join(lines)


def _one_line(value: str) -> str:
    # Data stays data: a newline inside an item must not start a line that
    # looks like a heading or another item of the memory block.
    return " ".join(value.split())


def _fact_line(fact_id: int, kind: FactKind, is_global: bool, body: str) -> str:
    tag = f"F{fact_id}" + (", global" if is_global else "")
    label = "" if kind is FactKind.FACT else f"({kind.value}) "
    return f"- [{tag}] {label}{_one_line(body)}"


def _hit_line(hit: SearchHit) -> str:
    date = local_time(hit.timestamp).date().isoformat() if hit.timestamp else ""
    if hit.kind is HitKind.FACT:
        assert hit.fact_kind is not None
        return _fact_line(hit.fact_ids[0], hit.fact_kind, hit.is_global, hit.text)
    if hit.kind is HitKind.SUMMARY:
        return f"- [Session {hit.session_id} summary, {date}] {_one_line(hit.text)}"
    if hit.kind is HitKind.CHUNK:
        return f"- [{hit.citation}] ({_one_line(hit.source_title)}) {_one_line(hit.text)}"
    # No message ids: nothing asks the model to cite messages, and on a budget of
    # short turns the "M1234, " of every line cost about one item in twenty.
    body = " / ".join(_one_line(line) for line in hit.text.split("\n"))
    return f"- [{date}] {body}"


SECTION_TITLES = {
    ContextSource.VOICE: "### Client voice",
    ContextSource.PINNED: "### Pinned facts",
    ContextSource.RETRIEVED: "### Relevant memory",
}


def render_context(items: Sequence[ContextItem]) -> str:
    sections: list[str] = []
    current: ContextSource | None = None
    for item in items:
        if item.source is not current:
            sections.append(SECTION_TITLES[item.source])
            current = item.source
        sections.append(item.text)
    return "\n".join(sections)


def assemble_context(
    project_id: int,
    voice: VoiceProfile,
    pinned: Sequence[Fact],
    hits: Sequence[SearchHit],
    budget_tokens: int,
    counter: TokenCounter,
) -> Context:
    """Packs voice, pinned facts, then hits (best first) into ``budget_tokens``.

    Items that do not fit are skipped, and smaller later ones may still fit;
    the order is fixed by the inputs, so equal inputs give equal blocks.
    """
    wanted: list[ContextItem] = []
    voice_text = _voice_text(voice)
    if voice_text:
        wanted.append(
            ContextItem(ContextSource.VOICE, str(ItemKey.voice(project_id)), voice_text, counter.count(voice_text))
        )
    pinned_ids = set()
    for fact in pinned:
        line = _fact_line(fact.id, fact.kind, fact.is_global, fact.text)
        pinned_ids.add(fact.id)
        wanted.append(
            ContextItem(
                ContextSource.PINNED,
                str(ItemKey.fact(fact.id)),
                line,
                counter.count(line),
                kind=HitKind.FACT,
                fact_ids=(fact.id,),
                is_global=fact.is_global,
            )
        )
    seen_bodies: set[str] = set()
    for hit in hits:
        if hit.kind is HitKind.FACT and hit.fact_ids[0] in pinned_ids:
            continue
        # The same words said twice add nothing but cost budget twice.
        body = " ".join(hit.text.split()).casefold()
        if body in seen_bodies:
            continue
        seen_bodies.add(body)
        line = _hit_line(hit)
        wanted.append(
            ContextItem(
                ContextSource.RETRIEVED,
                hit.key,
                line,
                counter.count(line),
                kind=hit.kind,
                fact_ids=hit.fact_ids,
                message_ids=hit.message_ids,
                external_ids=hit.external_ids,
                is_global=hit.is_global,
                citation=hit.citation,
                document_id=hit.document_id,
            )
        )

    chosen: list[ContextItem] = []
    dropped: list[str] = []
    used = 0
    sections_used: set[ContextSource] = set()
    for item in wanted:
        header = 0 if item.source in sections_used else counter.count(SECTION_TITLES[item.source]) + 1
        cost = item.tokens + header + 1  # +1 for the newline between lines
        if used + cost <= budget_tokens:
            chosen.append(item)
            used += cost
            sections_used.add(item.source)
        else:
            dropped.append(item.key)

    rendered = render_context(chosen)
    total = counter.count(rendered)
    # A real tokenizer is not exactly additive over lines; trim from the end if needed.
    while chosen and total > budget_tokens:
        dropped.append(chosen.pop().key)
        rendered = render_context(chosen)
        total = counter.count(rendered)
    return Context(
        project_id=project_id,
        items=tuple(chosen),
        text=rendered,
        tokens=total,
        budget_tokens=budget_tokens,
        dropped=tuple(dropped),
    )
