"""Citations of document passages in an answer: found, and checked against what the answer was given.

The model is shown each passage with its key (``[D3 p.12]``) and asked to cite
it. A citation whose key was not in the answer's context is flagged, never
shown as a source: a small model invents plausible keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from memory import DocumentChunk, ItemKey, ItemKind, MemoryService, NotFoundError

# "[D3 p.12]", "[D3, p. 12]", "[D3 §2]", and several in one bracket: "[D3 p.12; D4 p.2]".
_BRACKET = re.compile(r"\[((?:\s*D\d{1,9}\s*,?\s*(?:p\.?\s*\d{1,6}|§\s*\d{1,6})\s*[;,]?)+)\]")
_ONE = re.compile(r"D(\d{1,9})\s*,?\s*(?:p\.?\s*(\d{1,6})|§\s*(\d{1,6}))")


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
    by_key = {chunk.citation: chunk for chunk in given}
    found = []
    for bracket in _BRACKET.finditer(text):
        for one in _ONE.finditer(bracket.group(1)):
            key = normal_key(int(one.group(1)), one.group(2), one.group(3))
            found.append(Citation(key, bracket.start(), bracket.end(), by_key.get(key)))
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
