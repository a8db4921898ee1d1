"""Citations of document passages in an answer: found, and checked against what the answer was given.

The model is shown each passage with its key (``[D3 p.12]``) and asked to cite
it. A citation whose key was not in the answer's context is flagged, never
shown as a source: a small model invents plausible keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from memory import DocumentChunk, FactKind, FactStatus, ItemKey, ItemKind, MemoryService, NotFoundError, local_time

# "[D3 p.12]", "[D3, p. 12]", "[d3 page 12]", "[D3 pp. 2–3]", "[D3 §2]", and several in one
# bracket: "[D3 p.12; D4 p.2]". Models write all of these; each must be checked, not only the exact form.
_PLACE = r"(?:(?:pp?\.?|pages?)\s*\d{1,6}(?:\s*[-–—]\s*\d{1,6})?|§\s*\d{1,6})"
_BRACKET = re.compile(rf"\[((?:\s*D\d{{1,9}}\s*,?\s*{_PLACE}\s*[;,]?)+)\]", re.IGNORECASE)
_ONE = re.compile(
    r"D(\d{1,9})\s*,?\s*(?:(?:pp?\.?|pages?)\s*(\d{1,6})(?:\s*[-–—]\s*(\d{1,6}))?|§\s*(\d{1,6}))",
    re.IGNORECASE,
)
#: A page range cites each of its pages, up to this many.
MAX_RANGE = 5


@dataclass(frozen=True)
class Citation:
    """One cited key in an answer, where it is, and the passage it names if the answer was given it."""

    key: str
    #: Character span of the whole bracket in the answer.
    start: int
    end: int
    chunk: DocumentChunk | None

    @property
    def valid(self) -> bool:
        return self.chunk is not None


def normal_key(document_id: int, page: str | None, section: str | None) -> str:
    return f"D{document_id} p.{int(page)}" if page is not None else f"D{document_id} §{int(section or 0)}"


def find_citations(text: str, given: Iterable[DocumentChunk]) -> list[Citation]:
    """Every citation in ``text``, each matched to a passage of ``given`` (the answer's context) or flagged."""
    # A page can hold several passages the answer was given: a citation of the page names the
    # first of them, the most relevant (a context lists its passages best first).
    by_key: dict[str, DocumentChunk] = {}
    for chunk in given:
        by_key.setdefault(chunk.citation, chunk)
    found = []
    for bracket in _BRACKET.finditer(text):
        for one in _ONE.finditer(bracket.group(1)):
            document, first, last, section = one.groups()
            if section is not None:
                keys = [normal_key(int(document), None, section)]
            else:
                end = int(last) if last is not None and int(first) <= int(last) < int(first) + MAX_RANGE else int(first)
                keys = [normal_key(int(document), str(page), None) for page in range(int(first), end + 1)]
            found += [Citation(key, bracket.start(), bracket.end(), by_key.get(key)) for key in keys]
    return found


def context_chunks(service: MemoryService, item_keys: Iterable[str]) -> list[DocumentChunk]:
    """The passages among an answer's context keys (``chunk:9``) that still exist."""
    chunks = []
    for raw in item_keys:
        key = ItemKey.parse(raw)
        if key is None or key.kind is not ItemKind.CHUNK:
            continue
        try:
            chunks.append(service.get_chunk(key.id))
        except NotFoundError:  # re-read or removed since: no longer a source
            continue
    return chunks


def given_labels(service: MemoryService, project_id: int, item_keys: Iterable[str]) -> dict[str, str]:
    """How "memory used" names each item a stored answer was given, as it reads now.

    An answer keeps only the keys of its context (``fact:12``, ``messages:40-41``);
    shown again from history, each is read back, from this project only. A fact
    since changed shows its current text; one gone says so, never its raw key.
    Document passages are left out: their popup reads them (:func:`context_chunks`).
    """
    labels: dict[str, str] = {}
    for raw in item_keys:
        key = ItemKey.parse(raw)
        if key is None or key.kind is ItemKind.CHUNK:
            continue
        try:
            labels[raw] = _label(service, project_id, key)
        except NotFoundError:
            labels[raw] = _GONE[key.kind]
    return labels


_GONE = {
    ItemKind.FACT: "A fact no longer in memory",
    ItemKind.SUMMARY: "A session summary no longer kept",
    ItemKind.MESSAGES: "Messages no longer kept",
    ItemKind.VOICE: "The client's voice",
}


def _label(service: MemoryService, project_id: int, key: ItemKey) -> str:
    if key.kind is ItemKind.VOICE:
        return _GONE[ItemKind.VOICE]
    if key.kind is ItemKind.FACT:
        fact = service.get_fact(key.id)
        if fact.project_id not in (project_id, None):
            raise NotFoundError(f"fact {key.id} is not this project's")
        kind = "" if fact.kind is FactKind.FACT else f"({fact.kind.value}) "
        archived = " (archived since)" if fact.status is not FactStatus.ACTIVE else ""
        return f"[F{fact.id}] {kind}{fact.text}{archived}"
    if key.kind is ItemKind.SUMMARY:
        session = service.get_session(key.id)
        if session.project_id != project_id or not session.summary:
            raise NotFoundError(f"session {key.id} has no summary of this project's")
        return f"[Session {session.id} summary] {session.summary}"
    first = service.get_message(key.ids[0])
    if first.project_id != project_id:
        raise NotFoundError("messages of another project")
    messages = [m for m in service.list_messages(first.session_id) if first.id <= m.id <= key.ids[-1]]
    said = " / ".join(f"{m.speaker or m.role.value}: {m.content}" for m in messages)
    return f"[{local_time(messages[0].created_at):%Y-%m-%d}] {said}"
