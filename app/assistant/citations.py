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
