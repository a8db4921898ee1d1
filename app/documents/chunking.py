"""A parsed document cut into chunks for retrieval, each knowing its page, section and headings.

A chunk is a range of :attr:`ParsedDocument.text` (``chunk.text ==
parsed.text[chunk.start:chunk.end]``), so an answer can quote it and point
back into the original. Chunks follow the structure: consecutive blocks under
the same heading and on the same page, up to a target size; a heading opens
the chunk of the text below it; only a block too large for one chunk is cut,
at sentence ends where it can be, with some overlap so that no sentence loses
its context at the cut.

Sizes are estimated tokens: ``ceil(characters / 4)``. That is one of the two
rules of :class:`memory.tokens.EstimatedTokenCounter`, which takes the larger
of it and a word-and-punctuation count: for prose the two agree within about
5%, but that counter gives a table of prices some 40% more and dense
punctuation up to 70% more, so a budget counted with it should leave room.
The character rule needs no model and works on offsets, so chunking is linear
in the document's length.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass

from app.documents.parsing import Block, ParsedDocument

#: Characters a token is estimated to have.
CHARS_PER_TOKEN = 4
#: Separates the headings of a chunk's heading path.
PATH_SEPARATOR = " › "
#: A heading longer than this is cut in a heading path (the chunk keeps it whole).
_MAX_PATH_HEADING = 80

# Where a new sentence (or line) begins: after . ! ? … (and closing quotes or brackets) and whitespace,
# or after a line break. The match's end is the first character of the next sentence.
_SENTENCE_START = re.compile(r"(?:[.!?…][\"'”’)\]]*\s+|\s*\n\s*)(?=\S)")
_WORD_START = re.compile(r"\s+(?=\S)")


@dataclass(frozen=True)
class Chunk:
    ordinal: int  # 0.. in document order
    text: str  # == parsed.text[start:end]
    start: int
    end: int
    page: int | None  # chunks never cross a PDF page
    section: int  # 1-based top-level section, for citing documents without pages ("§3")
    heading_path: str  # "Statement of Work › Scope › Deliverables", "" when none


def estimate_tokens(characters: int) -> int:
    return math.ceil(characters / CHARS_PER_TOKEN)


def section_level(blocks: tuple[Block, ...] | list[Block]) -> int:
    """The heading level that numbers sections: the smallest present, unless only one heading has it.

    A single heading of the smallest level is the document's title ("# Statement
    of Work" above "## Scope", "## Fees"; Word's Title above its Heading 1s):
    numbering by it would put everything in §1, so the next level numbers the
    sections instead. 0 when there are no headings.
    """
    counts: dict[int, int] = {}
    for block in blocks:
        if block.kind == "heading":
            counts[block.level] = counts.get(block.level, 0) + 1
    levels = sorted(counts)
    if not levels:
        return 0
    if counts[levels[0]] == 1 and len(levels) > 1:
        return levels[1]
    return levels[0]


#: A chunk's target size. Small on purpose: a chunk is embedded as one vector, and
#: a one-sentence fact in a 300-token chunk is drowned by the rest (bench/document_quality.py:
#: paraphrased questions answered 0.25 at 300 tokens, 0.38 at 120; direct ones 0.90, 0.92),
#: and a 1,000-token context holds 8 small chunks instead of 4 large ones.
TARGET_TOKENS = 120
OVERLAP_TOKENS = 30


def chunk_document(
    parsed: ParsedDocument, *, target_tokens: int = TARGET_TOKENS, overlap_tokens: int = OVERLAP_TOKENS
) -> list[Chunk]:
    """Cuts a parsed document into chunks of about ``target_tokens``; see the module's docstring.

    Guarantees: every chunk is a non-blank range of ``parsed.text`` on one page;
    every character of every block but headings and running lines (a PDF
    page's header or footer, the same on every page) is in at least one chunk;
    chunks are in document order. A chunk of headings alone is made only for a
    document that has nothing but headings (otherwise a heading lives on in
    the heading path of the chunks below it, and a chunk that is only a
    heading would be found by search and say nothing).

    The overlap is at most half the target (a smaller target with the default
    overlap is not an error).

    Raises:
        ValueError: ``target_tokens`` is not positive, or ``overlap_tokens`` is negative.
    """
    if target_tokens < 1:
        raise ValueError("target_tokens must be positive")
    if overlap_tokens < 0:
        raise ValueError("overlap_tokens cannot be negative")
    overlap = min(overlap_tokens, target_tokens // 2)
    target, overlap = target_tokens * CHARS_PER_TOKEN, overlap * CHARS_PER_TOKEN
    # A document of nothing but page furniture (and headings): those lines are its content.
    return _Chunker(parsed, target, overlap).run() or _Chunker(parsed, target, overlap, furniture=True).run()


class _Chunker:
    """One pass over the blocks, gathering the current chunk as a range [start, end) of the text."""

    def __init__(self, parsed: ParsedDocument, target: int, overlap: int, *, furniture: bool = False) -> None:
        """``furniture``: chunk running lines as content (by default they are left out)."""
        self.text = parsed.text
        self.blocks = [b for b in parsed.blocks if furniture or b.kind != "running"]
        self.target = target  # in characters
        self.overlap = overlap
        self.section_level = section_level(parsed.blocks)
        self.chunks: list[Chunk] = []
        self.sections = 0  # section headings seen so far
        self.path: list[tuple[int, str]] = []  # (level, heading) from the top
        # The chunk being gathered: None, or headings only, or headings and content.
        self.start: int | None = None
        self.end = 0
        self.page: int | None = None
        self.content = False
        self.chunk_path = ""
        self.chunk_section = 1

    def run(self) -> list[Chunk]:
        for block in self.blocks:
            # A heading as large as a chunk is content: too big for a prefix, and cut like any block.
            if block.kind == "heading" and len(block.text) <= self.target:
                self._heading(block)
            else:
                self._content(block)
        self._close()
        if not self.chunks:  # a document of headings only: each is a chunk
            self.sections, self.path = 0, []
            for block in self.blocks:
                self._heading(block)
                self._begin_content()
                self._close()
        return self.chunks

    def _heading(self, block: Block) -> None:
        if self.content:
            self._close()
        elif self.start is not None and block.page != self.page:
            self.start = None  # headings left at the foot of a page live on in the path only
        if block.level == self.section_level:
            self.sections += 1
        while self.path and self.path[-1][0] >= block.level:
            self.path.pop()
        heading = block.text if len(block.text) <= _MAX_PATH_HEADING else block.text[: _MAX_PATH_HEADING - 1] + "…"
        self.path.append((block.level, heading))
        if self.start is None:
            self.start, self.page = block.start, block.page
        self.end = block.end

    def _begin_content(self) -> None:
        """The chunk gets its first content: its path and section are the ones in force here."""
        self.content = True
        self.chunk_path = PATH_SEPARATOR.join(text for _, text in self.path)
        self.chunk_section = max(1, self.sections)

    def _content(self, block: Block) -> None:
        if self.start is not None and (
            block.page != self.page or (self.content and block.end - self.start > self.target)
        ):
            self._close()  # also drops headings alone at the foot of the previous page
        if self.start is None:
            self.start, self.page = block.start, block.page
        if not self.content:
            self._begin_content()
        if block.end - self.start <= self.target or block.end - block.start <= self.target:
            self.end = block.end
            return
        # Too large even alone: cut at sentence ends with overlap; the first piece keeps the headings before it.
        pieces = _pieces(self.text, self.start, block.end, self.target, self.overlap)
        for piece_start, piece_end in pieces[:-1]:
            self.start, self.end, self.content = piece_start, piece_end, True
            self._close()
        self.start, self.end, self.content = pieces[-1][0], pieces[-1][1], True

    def _close(self) -> None:
        if self.start is not None and self.content and self.text[self.start : self.end].strip():
            self.chunks.append(
                Chunk(
                    ordinal=len(self.chunks),
                    text=self.text[self.start : self.end],
                    start=self.start,
                    end=self.end,
                    page=self.page,
                    section=self.chunk_section,
                    heading_path=self.chunk_path,
                )
            )
        self.start, self.content = None, False


def _pieces(text: str, start: int, end: int, target: int, overlap: int) -> list[tuple[int, int]]:
    """``text[start:end]`` as ranges of at most ``target`` characters that cover it, overlapping by about ``overlap``.

    A piece ends before a sentence's start where there is one in the second
    half of its room, else before a word, else anywhere. The next begins at
    the first word that starts ``overlap`` characters before that end, so
    consecutive pieces share a few words. Each piece advances by at least half
    of ``target - overlap``, so the count is linear in the length.
    """
    span = text[start:end]
    sentences = [m.end() for m in _SENTENCE_START.finditer(span)]
    words = [m.end() for m in _WORD_START.finditer(span)]
    length = len(span)
    leading = length - len(span.lstrip())  # code keeps its indentation: a piece must reach past it
    pieces: list[tuple[int, int]] = []
    begin = 0
    while length - begin > target:
        earliest = max(begin + overlap + max(1, (target - overlap) // 2), leading + 1)
        limit = max(begin + target, earliest)
        cut = _last_in(sentences, earliest, limit) or _last_in(words, earliest, limit) or limit
        following = cut
        if overlap:
            after = _first_in(words, cut - overlap, cut - 1)
            following = after if after is not None else max(cut - overlap, begin + 1)
            while following < cut and span[following].isspace():
                following += 1
        if following < cut:
            # The next piece begins inside this one, so the whitespace at the cut can be left off.
            finish = cut
            while span[finish - 1].isspace():
                finish -= 1
        else:
            # No overlap: this piece keeps the whitespace up to the next piece's first character.
            while following < length and span[following].isspace():
                following += 1
            finish = following
        pieces.append((start + begin, start + finish))
        begin = following
    if begin < length:
        pieces.append((start + begin, start + length))
    return pieces


def _last_in(positions: list[int], low: int, high: int) -> int | None:
    """The largest position in [low, high], or None."""
    index = bisect.bisect_right(positions, high) - 1
    return positions[index] if index >= 0 and positions[index] >= low else None


def _first_in(positions: list[int], low: int, high: int) -> int | None:
    """The smallest position in [low, high], or None."""
    index = bisect.bisect_left(positions, low)
    return positions[index] if index < len(positions) and positions[index] <= high else None
