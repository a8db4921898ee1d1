"""A client's file read into structured text: headings, paragraphs, lists and tables, with PDF pages.

Pure and model-free: bytes in, a :class:`ParsedDocument` out, or a
:class:`DocumentRefused` whose message says in one line why the file cannot be
read and what to do. Every block knows its character range in the document's
text (``parsed.text[block.start:block.end] == block.text``), so chunks cut from
it (:mod:`app.documents.chunking`) can cite the page or the section.

Reads PDF (pypdf), Word .docx (python-docx), Markdown, plain text, HTML (the
standard library's parser) and e-mail .eml (the standard library's ``email``).
Files are hostile until read: a zip bomb posing as .docx, a PDF that sends
pypdf into a recursion, an e-mail with a thousand nested parts all end as a
refusal, never as a traceback or an exhausted machine.
"""

from __future__ import annotations

import codecs
import contextvars
import email
import email.header
import email.policy
import errno
import io
import logging
import os
import re
import stat
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import Any

from app.errors import UserError

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MARKDOWN = "text/markdown"
TEXT = "text/plain"
HTML = "text/html"
EML = "message/rfc822"

MEDIA_TYPES: dict[str, str] = {
    ".pdf": PDF,
    ".docx": DOCX,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".txt": TEXT,
    ".text": TEXT,
    ".html": HTML,
    ".htm": HTML,
    ".eml": EML,
}
"""File name suffix (lower case, with the dot) -> media type, for every format Dossier reads."""

#: The suffix a file of each media type is given when it has none (an e-mail attachment without a name).
_SUFFIX_FOR: dict[str, str] = {
    PDF: ".pdf",
    DOCX: ".docx",
    MARKDOWN: ".md",
    TEXT: ".txt",
    HTML: ".html",
    EML: ".eml",
}

UNSUPPORTED = "Dossier reads PDF, Word (.docx), Markdown, text, HTML and e-mail (.eml)"

# Limits for the zip inside a .docx: far above any real document, far below what would exhaust memory.
#: Far more than the densest real page (a page of 6-point text holds about 20,000): a
#: few kilobytes of PDF can draw one compressed stream of megabytes on every page,
#: which would become tens of thousands of passages.
MAX_PDF_PAGE_CHARS = 100_000
#: Text per byte of the file, and the least allowed whatever the file's size.
MAX_PDF_CHARS_PER_BYTE = 20
MIN_PDF_TEXT_ALLOWANCE = 2_000_000
#: Reading a PDF may take this long, plus the per-page allowance below, before it is refused.
#: A page can draw a stream of millions of operations and show a few words: a small file can
#: then keep a core busy for hours (a real page reads in well under a tenth of a second here).
PDF_READ_GRACE_SECONDS = 60.0
PDF_READ_SECONDS_PER_PAGE = 1.0
#: Drawing instructions a page may hold, its forms counted each time they are drawn (a form
#: drawn ten times by a form drawn ten times is a hundred), and a whole document: checked
#: before any text is read. A page of text holds tens of kilobytes; 1.6 KB of nested forms
#: took 137 s to read.
MAX_PDF_PAGE_DRAWING = 8_000_000
MAX_PDF_DRAWING = 256_000_000
MAX_DOCX_UNPACKED_BYTES = 200_000_000
#: Of that, the XML parts python-docx parses into trees (about twenty times their size in
#: memory): a few megabytes for a long report; 188 MB of header parts took 4.4 GB.
MAX_DOCX_XML_BYTES = 32_000_000
MAX_DOCX_MEMBERS = 10_000
_MAX_DOCX_RATIO = 100
_RATIO_CHECK_FROM = 10_000_000
#: How deep an e-mail's parts may nest before the rest is ignored (real mail nests a few levels).
_MAX_MIME_DEPTH = 50
#: A PDF heading is a short line: longer ones are prose, whatever their capitals.
_MAX_HEADING_CHARS = 80
_MAX_TITLE_CHARS = 200


class DocumentRefused(UserError):
    """A file Dossier will not read; ``str(err)`` is one line for the user: ``"name: reason"``."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name, reason)  # args stay (name, reason) so the error pickles
        self.name = name
        self.reason = reason

    def __str__(self) -> str:
        return f"{_one_line(self.name)}: {_one_line(self.reason)}"


@dataclass(frozen=True)
class Block:
    """One heading, paragraph, list or table; ``start``/``end`` index into :attr:`ParsedDocument.text`."""

    kind: str  # "heading" | "paragraph" | "list" | "table" | "running" (a PDF page's running header or footer)
    text: str
    start: int
    end: int
    page: int | None  # 1-based physical page (PDF only)
    level: int = 0  # 1..6 for headings, 0 otherwise


@dataclass(frozen=True)
class Attachment:
    """A file inside an e-mail that Dossier reads too; it becomes a document of its own."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    media_type: str
    text: str  # every block's text joined by "\n\n"
    blocks: tuple[Block, ...]
    pages: int | None  # PDF page count; None for formats without pages
    attachments: tuple[Attachment, ...] = ()
    # Left out of the hash (a dict has none) but compared.
    metadata: dict[str, str] = field(default_factory=dict, hash=False)


# ---------------------------------------------------------------------------
# Entry points


def media_type_for(filename: str, head: bytes) -> str | None:
    """The media type of a file by its name's suffix, confirmed or overridden by its first bytes.

    ``head`` is the start of the file (a few KB are enough) or all of it. A PDF
    signature wins over any suffix; a ZIP archive is a Word document only when
    named .docx or when its first entries are Word's; any other archive, and an
    unknown suffix without a signature, is unsupported (``None``). A .pdf or
    .docx without its signature keeps its type so that reading it says "damaged".
    """
    by_suffix = MEDIA_TYPES.get(_suffix(filename))
    if b"%PDF-" in head[:1024]:  # readers accept the signature anywhere in the first KB
        return PDF
    if head.startswith(b"PK\x03\x04"):
        return DOCX if by_suffix == DOCX or b"word/" in head[:65536] else None
    return by_suffix


def parse_bytes(data: bytes, filename: str) -> ParsedDocument:
    """Reads a file's bytes as the format its name and contents say.

    Raises:
        DocumentRefused: Unsupported, damaged, password-protected, scanned, hostile or without text.
    """
    name = _display_name(filename)
    media_type = media_type_for(filename, data[:65536])
    if media_type is None:
        suffix = _suffix(filename) or "no suffix"
        if suffix in MEDIA_TYPES:
            raise DocumentRefused(
                name, f"unsupported type ({suffix}, but its contents are a ZIP archive); {UNSUPPORTED}"
            )
        raise DocumentRefused(name, f"unsupported type ({suffix}); {UNSUPPORTED}")
    if media_type == PDF:
        return _parse_pdf(data, name)
    if media_type == DOCX:
        return _parse_docx(data, name)
    if media_type == EML:
        return _parse_eml(data, name)
    if media_type == HTML:
        return _parse_html(_decode_html(data, name), name)
    if media_type == MARKDOWN:
        return _parse_markdown(_decode_text(data, name), name)
    return _parse_plain(_decode_text(data, name), name)


def parse_file(path: Path, *, max_bytes: int, inside: Path | None = None) -> tuple[ParsedDocument, bytes]:
    """Reads and parses a file; returns the parsed document and the file's bytes (to keep the original).

    Reading is :func:`read_file`'s, with the same refusals.
    """
    data = read_file(path, max_bytes=max_bytes, inside=inside)
    return parse_bytes(data, path.name), data


def read_file(path: Path, *, max_bytes: int, inside: Path | None = None) -> bytes:
    """A file's bytes, read as a document's must be.

    Refuses, with a message for the user, a missing file, a folder (or a link
    to one), anything that is not a regular file (a FIFO would block the read),
    an unreadable file and one over ``max_bytes``.

    Args:
        inside: A folder the file must really be in (a watched folder): a symlink,
            or a path that leads elsewhere by now, is refused, never followed.
    """
    name = _display_name(path.name or str(path))
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    if inside is not None:
        # Listed as a plain file, but it may have been swapped for a link since (to another
        # project's kept original, to ~/.ssh): the last step is never followed, and the rest
        # of the path must still lead into the folder.
        flags |= getattr(os, "O_NOFOLLOW", 0)
        if not path.parent.resolve().is_relative_to(inside.resolve()):
            raise DocumentRefused(name, "is no longer inside the watched folder")
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise DocumentRefused(name, "not found; it may have been moved or deleted") from None
    except IsADirectoryError:
        raise DocumentRefused(name, "is a folder, not a file; add the files inside it") from None
    except PermissionError:
        if path.is_dir():  # Windows cannot open a folder at all
            raise DocumentRefused(name, "is a folder, not a file; add the files inside it") from None
        raise DocumentRefused(name, "cannot be read: permission denied") from None
    except OSError as exc:
        if inside is not None and exc.errno == errno.ELOOP:
            raise DocumentRefused(
                name, "is a link now, not a file; links in a watched folder are not followed"
            ) from None
        raise DocumentRefused(name, f"cannot be read ({exc.strerror or exc})") from None
    # Checked on the open file, not the name: the name could be swapped between a check and the read.
    try:
        info = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise DocumentRefused(name, f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise DocumentRefused(name, "is a folder, not a file; add the files inside it")
        raise DocumentRefused(name, "is not a regular file (a device or a pipe)")
    with open(fd, "rb") as file:
        if info.st_size > max_bytes:
            raise DocumentRefused(name, _too_large(info.st_size, max_bytes))
        try:
            data = file.read(max_bytes + 1)
        except OSError as exc:
            raise DocumentRefused(name, f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:  # it grew after the size check
        raise DocumentRefused(name, _too_large(len(data), max_bytes))
    return data


# ---------------------------------------------------------------------------
# Text clean-up and the block builder

_NEWLINES = str.maketrans({"\r": "\n", "\x0b": "\n", "\x0c": "\n", "\x85": "\n", "\u2028": "\n", "\u2029": "\n"})
# C0 and C1 controls except \t and \n, lone surrogates (they cannot be stored as UTF-8), BOMs, non-characters.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff]")
_BLANK_LINES = re.compile(r"\n[ \t\xa0]*\n\s*")


def _clean(text: str) -> str:
    """Line breaks as \\n, no control characters but \\n and \\t."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").translate(_NEWLINES))


def _one_line(text: str) -> str:
    return " ".join(_clean(text).split())


def _lines(text: str) -> str:
    """Whitespace normalised within each line; empty lines dropped; line breaks kept."""
    return "\n".join(line for line in (" ".join(raw.split()) for raw in text.split("\n")) if line)


def _verbatim(text: str) -> str:
    """Code and pre-formatted text: indentation and blank lines kept, trailing spaces and outer blank lines dropped."""
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def _display_name(filename: str) -> str:
    name = filename.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return _one_line(name) or "document"


def _suffix(filename: str) -> str:
    return PurePosixPath(filename.replace("\\", "/")).suffix.lower()


def _stem(name: str) -> str:
    return PurePosixPath(name).stem or name


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f}".removesuffix(".0") + " MB"


def _too_large(size: int, limit: int) -> str:
    shown, allowed = _megabytes(size), _megabytes(limit)
    if shown == allowed:
        shown, allowed = f"{size:,} bytes", f"{limit:,} bytes"
    return f"too large ({shown}; the limit is {allowed})"


class _Builder:
    """Collects blocks in order, giving each its range in the joined text; drops empty ones."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._end = 0

    def add(self, kind: str, text: str, *, page: int | None = None, level: int = 0, layout: str = "flow") -> None:
        """Adds a block; ``layout`` says how to normalise: "flow" (one line), "lines" (list, table) or "verbatim"."""
        cleaned = _clean(text)
        if kind == "heading" or layout == "flow":
            cleaned = " ".join(cleaned.split())
        elif layout == "lines":
            cleaned = _lines(cleaned)
        else:
            cleaned = _verbatim(cleaned)
        if not cleaned.strip():
            return
        level = min(max(level, 1), 6) if kind == "heading" else 0
        start = self._end + 2 if self.blocks else 0
        self.blocks.append(Block(kind, cleaned, start, start + len(cleaned), page, level))
        self._end = start + len(cleaned)

    def first_heading(self, level: int | None = None) -> str:
        for block in self.blocks:
            if block.kind == "heading" and (level is None or block.level == level):
                return block.text
        return ""

    def document(
        self,
        name: str,
        media_type: str,
        *,
        title: str,
        pages: int | None = None,
        attachments: tuple[Attachment, ...] = (),
        metadata: dict[str, str] | None = None,
    ) -> ParsedDocument:
        if not self.blocks:
            raise DocumentRefused(name, "no text to read")
        title = _one_line(title) or _stem(name)
        if len(title) > _MAX_TITLE_CHARS:
            title = title[: _MAX_TITLE_CHARS - 1].rstrip() + "…"
        return ParsedDocument(
            title=title,
            media_type=media_type,
            text="\n\n".join(block.text for block in self.blocks),
            blocks=tuple(self.blocks),
            pages=pages,
            attachments=attachments,
            metadata=dict(metadata or {}),
        )


#: Control bytes that text does not use (tab, line breaks, form feed and escape are left out).
_BINARY_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20)])


def _decode_text(data: bytes, name: str, charset: str | None = None) -> str:
    """Text bytes as str: a BOM decides, then ``charset`` if given, then UTF-8, then cp1252, then Latin-1."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE, whose BOM begins it
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="replace")
    sample = data[:8192]
    # Text has at most a stray control character; binary data (an image, an archive) is full of them.
    if (len(sample) - len(sample.translate(None, _BINARY_BYTES))) * 20 > len(sample):
        raise DocumentRefused(name, "binary data, not text")
    if charset:
        try:
            return data.decode(charset, errors="replace")
        except LookupError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:  # five bytes cp1252 leaves undefined
        return data.decode("latin-1")


# ---------------------------------------------------------------------------
# PDF

_pypdf_quiet_lock = threading.Lock()
_pypdf_quiet_count = 0
_pypdf_saved_level = logging.NOTSET


class _QuietPypdf:
    """pypdf logs a warning for every oddity of a PDF; quiet it during parses, thread-safely.

    The level is set on the shared "pypdf" logger, so concurrent parses count
    themselves in and the last one out restores the level it found.
    """

    def __enter__(self) -> None:
        global _pypdf_quiet_count, _pypdf_saved_level
        with _pypdf_quiet_lock:
            if _pypdf_quiet_count == 0:
                logger = logging.getLogger("pypdf")
                _pypdf_saved_level = logger.level
                logger.setLevel(logging.ERROR)
            _pypdf_quiet_count += 1

    def __exit__(self, *exc_info: object) -> None:
        global _pypdf_quiet_count
        with _pypdf_quiet_lock:
            _pypdf_quiet_count -= 1
            if _pypdf_quiet_count == 0:
                logging.getLogger("pypdf").setLevel(_pypdf_saved_level)


def _parse_pdf(data: bytes, name: str) -> ParsedDocument:
    import pypdf

    damaged = "damaged or not a PDF; open it in a PDF reader and save a new copy"
    if b"%PDF-" not in data[:1024]:
        raise DocumentRefused(name, damaged)
    if b"%%EOF" not in data[-65536:]:
        # Cut short (an interrupted download or copy): pypdf might recover some pages and
        # silently lose the rest, so the file is refused instead. Real files end with the marker.
        raise DocumentRefused(name, "damaged or incomplete PDF (its end is missing); get a complete copy")
    with _QuietPypdf():
        try:
            reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                try:
                    opened = bool(reader.decrypt(""))
                except Exception:  # an unsupported cipher: the user's fix is the same
                    opened = False
                if not opened:
                    raise DocumentRefused(name, "password-protected; remove the password and add it again")
            page_texts = []
            # Real PDFs hold a few characters of text per byte at most; one small file drawing the
            # same compressed stream on hundreds of pages would become a flood of passages.
            allowed = max(MIN_PDF_TEXT_ALLOWANCE, MAX_PDF_CHARS_PER_BYTE * len(data))
            drawn = 0
            _refuse_heavy_drawing(reader, name)
            started = time.monotonic()
            for number, page in enumerate(reader.pages, start=1):
                text = _clean(page.extract_text() or "").translate(_LIGATURES)
                spent = time.monotonic() - started
                if spent > PDF_READ_GRACE_SECONDS + PDF_READ_SECONDS_PER_PAGE * number:
                    raise DocumentRefused(
                        name,
                        f"reading it took {spent:.0f} s by page {number} ({spent / number:.1f} s a page): its "
                        "pages draw far more than their text; it is not a document Dossier reads",
                    )
                drawn += len(text)
                if len(text) > MAX_PDF_PAGE_CHARS:
                    raise DocumentRefused(
                        name,
                        f"page {number} holds {len(text):,} characters, more than a page can show; "
                        "it is not a document Dossier reads",
                    )
                if drawn > allowed:
                    raise DocumentRefused(
                        name,
                        f"its {len(data):,} bytes draw over {allowed:,} characters of text by page {number}, "
                        "far more than a real document holds; it is not one Dossier reads",
                    )
                page_texts.append(text)
            info = _pdf_info(reader)
        except DocumentRefused:
            raise
        except Exception:
            # pypdf raises many types for a broken file (PdfReadError, KeyError, ValueError,
            # RecursionError for a self-referencing tree...): all mean the same to the user.
            raise DocumentRefused(name, damaged) from None
    if not page_texts:
        raise DocumentRefused(name, "no text to read (the PDF has no pages)")
    if not any(text.strip() for text in page_texts):
        raise DocumentRefused(name, "scanned: no text to read; OCR is not available")
    builder = _Builder()
    running = _running_lines(page_texts)
    furniture = _furniture_lines(page_texts)
    for number, text in enumerate(page_texts, start=1):
        _pdf_page_blocks(builder, text, number, len(page_texts), running, furniture)
    metadata = {"author": info["author"]} if info["author"] else {}
    title = info["title"] or builder.first_heading() or _stem(name)
    return builder.document(name, PDF, title=title, pages=len(page_texts), metadata=metadata)


def _refuse_heavy_drawing(reader: Any, name: str) -> None:
    """Refuses a PDF whose pages draw far more than text needs, from its streams' sizes, before reading any.

    Counts the decompressed bytes text extraction would interpret: each page's
    content, plus each form it draws ("/Fm1 Do") as many times as it is drawn,
    down through forms drawing forms (each form measured once).
    """
    measured: dict[int, int] = {}
    total = 0

    def cost(data: bytes, resources: Any, depth: int) -> int:
        spent = len(data)
        forms = resources.get("/XObject") if resources is not None else None
        if forms is None or depth > 12:
            return spent
        for form_name, ref in forms.get_object().items():
            uses = len(
                re.findall(rb"/" + re.escape(str(form_name)[1:].encode("latin-1", "replace")) + rb"\s*Do\b", data)
            )
            if not uses:
                continue
            form = ref.get_object()
            if form.get("/Subtype") != "/Form":
                continue
            key = id(form)
            if key not in measured:
                measured[key] = MAX_PDF_PAGE_DRAWING + 1  # a form that draws itself costs no less
                measured[key] = cost(form.get_data(), form.get("/Resources") or resources, depth + 1)
            spent += uses * measured[key]
            if spent > MAX_PDF_PAGE_DRAWING:
                break
        return spent

    for number, page in enumerate(reader.pages, start=1):
        contents = page.get("/Contents")
        if contents is None:
            continue
        contents = contents.get_object()
        streams = [c.get_object() for c in contents] if isinstance(contents, list) else [contents]
        data = b"\n".join(stream.get_data() for stream in streams)
        spent = cost(data, page.get("/Resources"), 0)
        total += spent
        if spent > MAX_PDF_PAGE_DRAWING or total > MAX_PDF_DRAWING:
            raise DocumentRefused(
                name,
                f"page {number} draws {spent / 1e6:,.0f} MB of instructions ({total / 1e6:,.0f} MB so far) for "
                "its text; far more than a document holds, and not one Dossier reads",
            )


def _pdf_info(reader: Any) -> dict[str, str]:
    """Title and author from the PDF's metadata, empty when missing or unreadable."""
    try:
        meta = reader.metadata
        title, author = (meta.title, meta.author) if meta is not None else (None, None)
    except Exception:  # a damaged info dictionary is no reason to refuse the text
        title = author = None
    return {"title": _one_line(str(title or "")), "author": _one_line(str(author or ""))}


# Fonts draw "fi" as one glyph and pypdf reads it back as one character; a search for "fi" must find it.
_LIGATURES = str.maketrans(
    {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb06": "st"}
)
_NUMBERED_HEADING = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){0,5})\.?\s+(\S.*)$")
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?\d+(?:\s*(?:of|/)\s*\d+)?$", re.IGNORECASE)
_SMALL_WORDS = frozenset("a an and as at but by for from in into nor of on or per the to via vs with".split())
_SENTENCE_END = re.compile(r"[.!?:;][\"'”’)\]]*$")


def _running_lines(page_texts: list[str]) -> set[str]:
    """Lines at the top or bottom of most pages (running headers, footers): never headings.

    Numbers are masked, so "Acme SOW 3" and "Acme SOW 4" are the same line; the
    price is that a document with one "Chapter N Overview" per page loses
    those headings (as headings only: their text stays).
    """
    if len(page_texts) < 3:
        return set()
    counts = _edge_line_counts(page_texts, lambda line, _page: _digits_masked(line))
    return {line for line, count in counts.items() if count * 2 >= len(page_texts)}


def _furniture_lines(page_texts: list[str]) -> set[str]:
    """Running lines left out of passages: the same words at the top or bottom of most pages.

    Stricter than :func:`_running_lines`, whose lines only lose the right to be
    headings: here only the page's own number and the page count may differ
    ("Acme MSA · Page 3 of 30"), so "Fees for phase 1: 30,000 EUR" at the foot of
    one page and "Fees for phase 2: 15,000 EUR" at the foot of another stay
    searchable, and a clause cannot hide behind look-alikes on other pages.
    """
    counts = _edge_line_counts(page_texts, lambda line, page: _page_masked(line, page, len(page_texts)))
    # Word for word on two pages is evidence enough for a two-page letter's header, not for a
    # sentence ("Please sign and return by 3 March.") that its author put on both.
    return {
        line
        for line, count in counts.items()
        if count >= 2 and count * 2 >= len(page_texts) and (len(page_texts) > 2 or not _SENTENCE_END.search(line))
    }


def _page_lines(text: str) -> list[str]:
    """A page's lines, spaces collapsed (empty lines kept: they end paragraphs)."""
    return [" ".join(raw.split()) for raw in text.split("\n")]


def _edge_indices(lines: list[str]) -> set[int]:
    """Where a page's first two and last two non-empty lines are: where running lines stand."""
    filled = [index for index, line in enumerate(lines) if line]
    return set(filled[:2] + filled[-2:])


def _edge_line_counts(page_texts: list[str], mask: Callable[[str, int], str]) -> dict[str, int]:
    """On how many pages each edge line stands, as ``mask(line, page number)`` reads it."""
    counts: dict[str, int] = {}
    for number, text in enumerate(page_texts, start=1):
        lines = _page_lines(text)
        for line in {mask(lines[index], number) for index in _edge_indices(lines)}:
            counts[line] = counts.get(line, 0) + 1
    return counts


def _page_masked(line: str, page: int, pages: int) -> str:
    """The line with the page's number and the page count as #."""
    return re.sub(r"\d+", lambda m: "#" if int(m.group(0)) in (page, pages) else m.group(0), line)


def _is_page_number(line: str, page: int, pages: int) -> bool:
    """ "7", "Page 7", "7 / 30", "Page 7 of 30" on page 7 of 30; not a total or a year that looks like one."""
    if not _PAGE_NUMBER.match(line):
        return False
    numbers = [int(n) for n in re.findall(r"\d+", line)]
    return numbers[0] == page and all(n == pages for n in numbers[1:])


def _digits_masked(line: str) -> str:
    return re.sub(r"\d+", "#", line)


def _heading_level(line: str) -> int:
    """The level of a line that looks like a heading, 0 for one that does not.

    Short, without a sentence's final punctuation, and numbered ("2.1 Scope",
    level by depth), ALL CAPS (level 1) or Title Case (level 2).
    """
    if len(line) > _MAX_HEADING_CHARS or _SENTENCE_END.search(line) or line.endswith(","):
        return 0
    if _PAGE_NUMBER.match(line) or not any(word.isalpha() and len(word) > 1 for word in re.findall(r"\w+", line)):
        return 0
    numbered = _NUMBERED_HEADING.match(line)
    if numbered:
        rest = numbered.group(2)
        if rest[0].isupper() and len(rest.split()) <= 12:
            return min(numbered.group(1).count(".") + 1, 6)
        return 0
    words = line.split()
    if len(words) > 10:
        return 0
    letters = [c for c in line if c.isalpha()]
    if len(letters) >= 3 and all(c.isupper() for c in letters):
        return 1
    if not words[0][0].isupper():
        return 0
    for word in words[1:]:
        first = word.lstrip("(\"'“‘[")[:1]
        if first and first.isalpha() and not first.isupper() and word.casefold() not in _SMALL_WORDS:
            return 0
    return 2


def _pdf_page_blocks(
    builder: _Builder, text: str, page: int, pages: int, running: set[str], furniture: set[str]
) -> None:
    """One page's text as paragraphs and headings.

    pypdf gives lines, often without blank lines between paragraphs, so a
    paragraph also ends at a line that ends a sentence and is clearly shorter
    than the page's full lines. A heading is a heading-like line that starts
    a paragraph and is followed, on the same page, by a line that does not
    continue it in lower case. Every line ends in some block: nothing is lost.

    A furniture line (see :func:`_furniture_lines`) among a page's first or
    last two lines, or a page number there, is a block of its own ("running"):
    kept in the text, left out of passages (it would be a sixth of a passage,
    the same on every page), and never glued to the heading below it, which
    is then found at the top of a page too.
    """
    lines = _page_lines(text)
    edges = _edge_indices(lines)
    width = max((len(line) for line in lines), default=0)
    following = [""] * len(lines)  # the next non-empty line after each line
    for index in range(len(lines) - 1, 0, -1):
        following[index - 1] = lines[index] or following[index]
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            builder.add("paragraph", _join_pdf_lines(paragraph), page=page)
            paragraph.clear()

    for index, line in enumerate(lines):
        if not line:
            flush()
            continue
        if index in edges and (_is_page_number(line, page, pages) or _page_masked(line, page, pages) in furniture):
            flush()
            builder.add("running", line, page=page)
            continue
        # A heading right after a full-width line that ends a sentence ("…in each SOW." then
        # "3. Fees and Payment") starts a new block too; only a sentence's middle cannot hold one.
        sentence_ended = bool(paragraph) and bool(_SENTENCE_END.search(paragraph[-1]))
        if (not paragraph or sentence_ended) and _digits_masked(line) not in running:
            after = following[index]
            level = _heading_level(line) if after and not after[0].islower() else 0
            if level:
                flush()
                builder.add("heading", line, page=page, level=level)
                continue
        paragraph.append(line)
        if width >= 40 and len(line) < 0.7 * width and _SENTENCE_END.search(line):
            flush()
    flush()


def _join_pdf_lines(lines: list[str]) -> str:
    """A paragraph's lines joined; a word broken by a hyphen at a line's end is joined whole, hyphen kept."""
    out: list[str] = []
    for line in lines:
        if out and len(out[-1]) > 1 and out[-1][-1] == "-" and out[-1][-2].isalpha() and line[:1].islower():
            out[-1] += line
        else:
            out.append(line)
    return " ".join(out)


# ---------------------------------------------------------------------------
# Word (.docx)

#: Real documents have hundreds of styles; tens of thousands only make reading slow.
MAX_DOCX_STYLES = 5_000
#: The file being read, for messages raised deep inside.
_DOCX_NAME: contextvars.ContextVar[str] = contextvars.ContextVar("docx_name", default="document.docx")
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
#: lxml has no type information here: its elements are Any.
_Element = Any


def _check_zip(data: bytes, name: str) -> None:
    """Refuses an archive that is not a plausible Word document before anything decompresses it.

    The sizes checked are the ones the archive declares; :mod:`zipfile` stops
    decompressing a member at its declared size (and then fails its CRC
    check), so an archive cannot unpack to more than it declares.
    """
    damaged = "damaged or not a Word document (.docx); open it in Word and save a new copy"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, KeyError):
        raise DocumentRefused(name, damaged) from None
    if len(members) > MAX_DOCX_MEMBERS:
        raise DocumentRefused(
            name, f"refused: its archive has {len(members):,} parts (at most {MAX_DOCX_MEMBERS:,} allowed)"
        )
    total = xml = 0
    for member in members:
        parts = member.filename.replace("\\", "/").split("/")
        if member.filename.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", member.filename):
            raise DocumentRefused(name, "refused: its archive has a part with an unsafe path")
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _RATIO_CHECK_FROM and ratio > _MAX_DOCX_RATIO:
            raise DocumentRefused(
                name,
                f"refused: a part of its archive unpacks {ratio:,.0f} times larger than it is stored"
                f" ({_megabytes(member.file_size)}); this looks like a zip bomb, not a Word document",
            )
        total += member.file_size
        if member.filename.lower().endswith((".xml", ".rels")):
            xml += member.file_size
    if xml > MAX_DOCX_XML_BYTES:
        raise DocumentRefused(
            name,
            f"refused: its text and layout parts unpack to {_megabytes(xml)} (at most "
            f"{_megabytes(MAX_DOCX_XML_BYTES)} allowed; a long report has a few)",
        )
    if total > MAX_DOCX_UNPACKED_BYTES:
        raise DocumentRefused(
            name,
            f"refused: it unpacks to {_megabytes(total)} (at most {_megabytes(MAX_DOCX_UNPACKED_BYTES)} allowed)",
        )
    if "word/document.xml" not in {member.filename for member in members}:
        raise DocumentRefused(name, damaged)


def _parse_docx(data: bytes, name: str) -> ParsedDocument:
    """A Word document, after :func:`_check_zip` has vetted its archive.

    XML safety: python-docx parses every part with its own lxml parser,
    ``XMLParser(remove_blank_text=True, resolve_entities=False)`` (docx/oxml/parser.py
    and docx/opc/oxml.py, python-docx 1.2), so entities declared in a DTD are
    never expanded and external ones (``SYSTEM "file:///..."``) never loaded;
    lxml's defaults add no network access and no DTD loading, and libxml2
    (2.11 and later) refuses a "billion laughs" amplification before anything
    expands. tests/test_document_parsing.py checks both attacks.
    """
    if data.startswith(_OLE_SIGNATURE):
        # Both an old .doc and a password-protected .docx are OLE containers.
        raise DocumentRefused(
            name, "password-protected or in the old Word format (.doc); save it as .docx without a password"
        )
    _check_zip(data, name)
    import docx

    builder = _Builder()
    token = _DOCX_NAME.set(name)
    try:
        document = docx.Document(io.BytesIO(data))
        _docx_body(document, builder)
        properties = document.core_properties
        core_title, author = _one_line(properties.title or ""), _one_line(properties.author or "")
    except DocumentRefused:
        raise
    except Exception:  # python-docx and lxml raise many types for a broken package
        raise DocumentRefused(
            name, "damaged or not a Word document (.docx); open it in Word and save a new copy"
        ) from None
    finally:
        _DOCX_NAME.reset(token)
    title = core_title or builder.first_heading(1) or builder.first_heading() or _stem(name)
    return builder.document(name, DOCX, title=title, metadata={"author": author} if author else {})


def _docx_body(document: Any, builder: _Builder) -> None:
    """The body's paragraphs and tables in document order (python-docx lists them apart)."""
    from docx.oxml.ns import qn
    from docx.text.paragraph import Paragraph

    paragraph_tag, table_tag = qn("w:p"), qn("w:tbl")
    items: list[str] = []
    styles = len(document.styles.element.findall(qn("w:style")))
    if styles > MAX_DOCX_STYLES:
        raise DocumentRefused(_DOCX_NAME.get(), f"{styles:,} styles; more than a real document has (a hostile file?)")
    # A paragraph's style is looked up through every style of the document (python-docx scans
    # them for the default one): resolved once per style id, so reading stays linear.
    kinds: dict[str | None, tuple[str, int]] = {}

    def flush_list() -> None:
        if items:
            builder.add("list", "\n".join(items), layout="lines")
            items.clear()

    for element in _docx_children(document.element.body):
        if element.tag == paragraph_tag:
            text = _docx_text(element)
            style_id = element.style  # the paragraph's own style id, None for the default
            own_numbering = element.pPr is not None and element.pPr.numPr is not None
            if style_id not in kinds:
                kinds[style_id] = _docx_paragraph_kind(Paragraph(element, document), element, own_numbering=False)
            kind, level = kinds[style_id]
            if own_numbering and kind == "paragraph":
                kind = "list"
            if kind == "list":
                if text.strip():
                    items.append(" ".join(text.split()))
                continue
            flush_list()
            builder.add(kind, text, level=level)
        elif element.tag == table_tag:
            flush_list()
            builder.add("table", "\n".join(_docx_table_rows(element)), layout="lines")
    flush_list()


def _docx_children(element: _Element) -> Iterator[_Element]:
    """Children, looking through content controls and custom XML (they wrap paragraphs, tables, rows and cells)."""
    from docx.oxml.ns import qn

    wrappers = {qn("w:sdt"), qn("w:customXml"), qn("w:sdtContent")}
    stack = [iter(element)]
    while stack:  # iterative: a hostile file can nest wrappers deeply
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif child.tag in wrappers:
            stack.append(iter(child))
        elif isinstance(child.tag, str):
            yield child


def _docx_paragraph_kind(paragraph: Any, element: _Element, *, own_numbering: bool = True) -> tuple[str, int]:
    """("heading", level), ("list", 0) or ("paragraph", 0), from the style (and the styles it is based on).

    Word's Title outranks Heading 1, so Title is level 1 and Heading N is N + 1.
    """
    try:
        style = paragraph.style
    except Exception:  # a style that cannot be resolved: a plain paragraph
        style = None
    numbered = own_numbering and element.pPr is not None and element.pPr.numPr is not None
    for _ in range(10):  # base styles can form a cycle in a hostile file
        if style is None:
            break
        style_name = str(style.name or "")
        heading = _HEADING_STYLE.match(style_name)
        if heading:
            return "heading", min(int(heading.group(1)) + 1, 6)
        if style_name.casefold() == "title":
            return "heading", 1
        if style_name.casefold().startswith("list"):
            return "list", 0
        style_ppr = style.element.pPr
        numbered = numbered or (style_ppr is not None and style_ppr.numPr is not None)
        style = style.base_style
    return ("list", 0) if numbered else ("paragraph", 0)


def _docx_text(element: _Element) -> str:
    """The text of a paragraph, cell or table: runs, hyperlinks, fields' results and tracked insertions.

    Read from the XML rather than python-docx's ``Paragraph.text``, which skips
    text inside tracked insertions. Deleted text (``w:delText``) and field codes
    (``w:instrText``) are not ``w:t``, so they stay out; the fallback copy of a
    text box (``mc:Fallback``) is skipped so its text is not read twice. An
    entity reference is a node of its own (python-docx does not resolve them), not text.
    """
    from docx.oxml.ns import qn

    text_tag, paragraph_tag = qn("w:t"), qn("w:p")
    breaks = {qn("w:br"), qn("w:cr")}
    fallback = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
    out: list[str] = []
    stack: list[Any] = [element]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
            continue
        tag = node.tag
        if not isinstance(tag, str) or tag == fallback:  # comments, processing instructions, entities
            continue
        if tag == text_tag:
            out.append(str(node.text or ""))
        elif tag == qn("w:tab"):
            out.append("\t")
        elif tag in breaks:
            out.append("\n")
        elif tag == qn("w:noBreakHyphen"):
            out.append("-")
        else:
            if tag == paragraph_tag and node is not element:
                stack.append("\n")  # after the nested paragraph's children
            stack.extend(reversed(list(node)))
    return "".join(out)


def _docx_table_rows(table: _Element) -> list[str]:
    """Rows as "cell | cell"; a nested table's text stays inside its cell."""
    from docx.oxml.ns import qn

    row_tag, cell_tag = qn("w:tr"), qn("w:tc")
    rows: list[str] = []
    for row in _docx_children(table):
        if row.tag != row_tag:
            continue
        cells = [" ".join(_docx_text(cell).split()) for cell in _docx_children(row) if cell.tag == cell_tag]
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


# ---------------------------------------------------------------------------
# Markdown and plain text

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_1 = re.compile(r"^ {0,3}=+[ \t]*$")
_SETEXT_2 = re.compile(r"^ {0,3}-+[ \t]*$")
_RULE = re.compile(r"^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]+|$)")
# On the stripped line, and without blanks inside the repeated group: backtracking stays linear
# (blanks on both sides of a repeated group made a line of spaces take quadratic time).
_TABLE_DELIMITER = re.compile(r"^\|?\s*:?-+:?(?:\s*\|\s*:?-+:?)*\s*\|?$")
_QUOTE = re.compile(r"^ {0,3}(?:>[ ]?)+")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _parse_plain(text: str, name: str) -> ParsedDocument:
    builder = _Builder()
    for paragraph in _BLANK_LINES.split(_clean(text)):
        builder.add("paragraph", paragraph)
    return builder.document(name, TEXT, title=_stem(name))


def _table_row(line: str) -> str:
    row = line.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return " | ".join(cell.strip() for cell in _CELL_SPLIT.split(row))


def _parse_markdown(text: str, name: str) -> ParsedDocument:
    """CommonMark's block structure, near enough: headings (ATX and setext), lists, tables, fences, quotes.

    Inline markup (emphasis, links) is left as written: it is the text the user wrote.
    """
    builder = _Builder()
    lines = _clean(text).split("\n")
    paragraph: list[str] = []
    items: list[str] = []
    rows: list[str] = []
    blank_in_list = False

    def flush_paragraph() -> None:
        if paragraph:
            builder.add("paragraph", "\n".join(paragraph))
            paragraph.clear()

    def flush_list() -> None:
        nonlocal blank_in_list
        if items:
            builder.add("list", "\n".join(items), layout="lines")
            items.clear()
        blank_in_list = False

    def flush_table() -> None:
        if rows:
            builder.add("table", "\n".join(rows), layout="lines")
            rows.clear()

    def flush_all() -> None:
        flush_paragraph()
        flush_list()
        flush_table()

    index = 0
    while index < len(lines):
        line = _QUOTE.sub("", lines[index])
        index += 1
        fence = _FENCE.match(line)
        if fence:
            flush_all()
            marker = fence.group(1)
            closing = re.compile(r"^ {0,3}" + re.escape(marker[0]) + "{" + str(len(marker)) + r",}[ \t]*$")
            code: list[str] = []
            while index < len(lines) and not closing.match(lines[index]):
                code.append(lines[index])
                index += 1
            index += 1  # the closing fence (or past the end when the fence is never closed)
            builder.add("paragraph", "\n".join(code), layout="verbatim")
            continue
        stripped = line.strip()
        if not stripped:
            flush_paragraph()
            flush_table()
            blank_in_list = bool(items)
            continue
        heading = _ATX.match(line)
        if heading:
            flush_all()
            builder.add("heading", heading.group(2) or "", level=len(heading.group(1)))
            continue
        if paragraph and (_SETEXT_1.match(line) or _SETEXT_2.match(line)):
            builder.add("heading", " ".join(paragraph), level=1 if "=" in line else 2)
            paragraph.clear()
            continue
        if _RULE.match(line):
            flush_all()
            continue
        following = lines[index] if index < len(lines) else ""
        if "|" in stripped and (
            rows or stripped.startswith("|") or ("|" in following and _TABLE_DELIMITER.match(following.strip()))
        ):
            flush_paragraph()
            flush_list()
            if not _TABLE_DELIMITER.match(line.strip()):
                rows.append(_table_row(line))
            continue
        flush_table()
        if _LIST_ITEM.match(line):
            flush_paragraph()
            items.append(stripped)
            blank_in_list = False
            continue
        if items and (line[:1] in (" ", "\t") or not blank_in_list):
            items[-1] += " " + stripped  # the item's continuation line
            blank_in_list = False
            continue
        flush_list()
        paragraph.append(stripped)
    flush_all()
    title = builder.first_heading(1) or builder.first_heading() or _stem(name)
    return builder.document(name, MARKDOWN, title=title)


# ---------------------------------------------------------------------------
# HTML

_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_:.+-]+)""", re.IGNORECASE)
_SKIPPED_TAGS = frozenset({"script", "style", "template"})
#: What may be in <head>: anything else means the body has begun (a missing </head>).
_HEAD_TAGS = frozenset({"title", "meta", "link", "base", "style", "script", "noscript", "template", "head", "html"})
_BLOCK_TAGS = frozenset(
    """p div section article header footer main aside nav blockquote dl dt dd figure figcaption address hr
    form fieldset legend details summary hgroup center body html""".split()
)
_HEADING_TAGS = {f"h{n}": n for n in range(1, 7)}


def _decode_html(data: bytes, name: str) -> str:
    """HTML bytes as str: a BOM, else the charset a <meta> declares, else UTF-8 (cp1252 if it is not)."""
    declared = _META_CHARSET.search(data[:4096])
    charset = declared.group(1).decode("ascii").lower() if declared else None
    if charset and charset.startswith(("utf-16", "utf-32")):
        charset = None  # a byte stream that declares UTF-16 in ASCII is not UTF-16 (the HTML standard agrees)
    if charset:
        try:
            codecs.lookup(charset)
        except LookupError:
            charset = None
    return _decode_text(data, name, charset)


class _HtmlBlocks(HTMLParser):
    """HTML to blocks with the standard library's tolerant parser (no tree, so no depth limit).

    Text goes to the innermost open container: a table cell, else a list item,
    else the current paragraph or heading. Block tags end a paragraph outside
    containers and are a space inside them. Entities are unescaped by the
    parser (``convert_charrefs``).
    """

    def __init__(self, builder: _Builder) -> None:
        super().__init__(convert_charrefs=True)
        self.builder = builder
        self.title = ""
        self._title: list[str] | None = None
        self._skip = 0
        self._in_head = False
        self._pieces: list[str] = []
        self._heading = 0
        self._pre = 0
        self._lists = 0
        self._items: list[str] = []
        self._item: list[str] | None = None
        self._tables = 0
        self._rows: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    # The containers text can go into, innermost first.
    def _container(self) -> list[str] | None:
        if self._cell is not None:
            return self._cell
        return self._item

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip += 1
            return
        if tag == "title":
            self._title = [] if not self.title else None
            return
        if tag == "head":
            self._in_head = True
            return
        if tag not in _HEAD_TAGS:
            self._in_head = False
        self._open_or_close(tag, opening=True)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip = max(0, self._skip - 1)
            return
        if tag == "title":
            if self._title is not None:
                self.title = " ".join("".join(self._title).split())
            self._title = None
            return
        if tag == "head":
            self._in_head = False
            return
        self._open_or_close(tag, opening=False)

    def _open_or_close(self, tag: str, *, opening: bool) -> None:
        container = self._container()
        if tag in ("td", "th", "caption"):
            if self._tables:
                self._end_cell()
                if opening:
                    self._cell = []
            return
        if tag == "tr":
            if self._tables:
                self._end_row()
            return
        if tag == "table":
            if opening:
                if self._tables:  # nested: its rows become rows of the outer table
                    self._end_row()
                else:
                    self._end_list()
                    self._flush()
                self._tables += 1
            elif self._tables:
                self._end_row()
                self._tables -= 1
                if not self._tables:
                    self.builder.add("table", "\n".join(self._rows), layout="lines")
                    self._rows.clear()
            return
        if self._cell is not None:  # structure inside a cell is text of the cell
            self._cell.append(" ")
            return
        if tag in ("ul", "ol", "menu"):
            self._end_item()
            if opening:
                if not self._lists:
                    self._flush()
                self._lists += 1
            elif self._lists:
                self._lists -= 1
                if not self._lists:
                    self._end_list()
            return
        if tag == "li":
            self._end_item()
            if opening:
                if not self._lists:
                    self._flush()
                self._item = []
            return
        if container is not None:
            container.append(" ")
            return
        if tag in _HEADING_TAGS:
            self._flush()
            self._heading = _HEADING_TAGS[tag] if opening else 0
        elif tag == "pre":
            self._flush()
            self._pre = self._pre + 1 if opening else max(0, self._pre - 1)
        elif tag == "br":
            self._pieces.append("\n")
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._title is not None:
            self._title.append(data)
            return
        if self._in_head:
            return
        if not self._pre:
            # Source line breaks are spaces; only <br> breaks a line.
            data = re.sub(r"\s+", " ", data)
        if self._cell is not None:
            self._cell.append(data)
        elif self._tables and data.strip():  # text in a table but outside any cell
            self._cell = [data]
        elif self._item is not None:
            self._item.append(data)
        elif self._lists and data.strip():
            self._item = [data]
        else:
            self._pieces.append(data)

    def _flush(self) -> None:
        text = "".join(self._pieces)
        self._pieces.clear()
        if self._heading:
            self.builder.add("heading", text, level=self._heading)
        elif self._pre:
            self.builder.add("paragraph", text, layout="verbatim")
        else:
            # <br><br> is how much HTML mail separates paragraphs.
            for paragraph in _BLANK_LINES.split(text):
                self.builder.add("paragraph", paragraph)

    def _end_cell(self) -> None:
        if self._cell is not None:
            if self._row is None:
                self._row = []
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None

    def _end_row(self) -> None:
        self._end_cell()
        if self._row is not None and any(self._row):
            self._rows.append(" | ".join(self._row))
        self._row = None

    def _end_item(self) -> None:
        if self._item is not None:
            text = " ".join("".join(self._item).split())
            if text:
                self._items.append(text)
            self._item = None

    def _end_list(self) -> None:
        self._end_item()
        if self._items:
            self.builder.add("list", "\n".join(self._items), layout="lines")
            self._items.clear()

    def close(self) -> None:
        super().close()
        if self._tables:
            self._end_row()
            self.builder.add("table", "\n".join(self._rows), layout="lines")
            self._rows.clear()
            self._tables = 0
        self._end_list()
        self._flush()


#: "</" not starting an end tag ("</ ", "<//", "</3"): a browser shows or skips it; Python's parser
#: rescans the rest of the document at each one (800 KB of "</" took 41 s).
_BOGUS_END_TAG = re.compile(r"</(?![A-Za-z>])")
#: Where a tag, comment, CDATA section or declaration begins (see :func:`_unclosed_as_text`).
_OPENER_OF_MARKUP = re.compile(r"<(?:!--|!\[CDATA\[|[!?A-Za-z])")
#: Reading HTML may take this long, plus the allowance per megabyte, before it is refused.
HTML_READ_GRACE_SECONDS = 30.0
HTML_READ_SECONDS_PER_MB = 10.0
_HTML_CHUNK = 64 * 1024


def _unclosed_as_text(markup: str) -> str:
    """``markup`` with each "<" that nothing after it closes written as text ("&lt;").

    A tag, comment or CDATA section that never ends is text to a browser; Python's
    parser (before 3.13.4) searches the rest of the document again at each one,
    so thousands of them take minutes. What is closed somewhere later is left alone.
    """
    closes = {"<!--": markup.rfind("-->"), "<![CDATA[": markup.rfind("]]>")}
    last_gt = markup.rfind(">")

    def escape(opener: re.Match[str]) -> str:
        found = opener.group(0)
        if opener.start() > closes.get(found, last_gt):
            return "&lt;" + found[1:]
        return found

    return _OPENER_OF_MARKUP.sub(escape, markup)


def _html_into(builder: _Builder, markup: str, name: str = "") -> str:
    """Adds the HTML's blocks to ``builder``; returns its <title>.

    Raises:
        DocumentRefused: Reading it takes far longer than its size warrants.
    """
    parser = _HtmlBlocks(builder)
    text = _unclosed_as_text(_BOGUS_END_TAG.sub("&lt;/", _clean(markup)))
    started = time.monotonic()
    for offset in range(0, len(text), _HTML_CHUNK):
        parser.feed(text[offset : offset + _HTML_CHUNK])
        spent = time.monotonic() - started
        if spent > HTML_READ_GRACE_SECONDS + HTML_READ_SECONDS_PER_MB * offset / 1e6:
            raise DocumentRefused(
                name or "HTML",
                f"reading its markup took {spent:.0f} s by {offset / 1e6:.1f} MB; it is not HTML Dossier reads",
            )
    parser.close()
    return parser.title


def _parse_html(markup: str, name: str) -> ParsedDocument:
    builder = _Builder()
    try:
        title = _html_into(builder, markup, name)
    except DocumentRefused:
        raise
    except Exception:  # the parser is tolerant; this is a guard, not an expected path
        raise DocumentRefused(name, "damaged HTML that cannot be read") from None
    title = title or builder.first_heading(1) or builder.first_heading() or _stem(name)
    return builder.document(name, HTML, title=title)


# ---------------------------------------------------------------------------
# E-mail (.eml)

_HEADERS = ("From", "To", "Cc", "Date", "Subject")
_ATTACHABLE_TYPES = frozenset({*MEDIA_TYPES.values(), "application/x-pdf"})


def _parse_eml(data: bytes, name: str) -> ParsedDocument:
    try:
        message = email.message_from_bytes(data, policy=email.policy.default)
    except Exception:
        raise DocumentRefused(name, "damaged or not an e-mail") from None
    _refuse_huge_headers(message, name)
    metadata = {key: value for key in _HEADERS if (value := _header(message, key))}
    if not metadata:
        raise DocumentRefused(name, "not an e-mail (no From, To, Date or Subject header)")
    builder = _Builder()
    builder.add("paragraph", "\n".join(f"{key}: {value}" for key, value in metadata.items()), layout="lines")
    body = _body(message, ("plain", "html"))
    text = _part_text(body) if body is not None else ""
    if body is not None and body.get_content_subtype() == "plain" and not text.strip():
        # An empty plain-text alternative beside a real HTML one (some mailers send that).
        html_body = _body(message, ("html",))
        if html_body is not None:
            body, text = html_body, _part_text(html_body)
    if body is not None and body.get_content_subtype() == "html":
        _html_into(builder, text, name)
    else:
        for paragraph in _BLANK_LINES.split(_clean(text)):
            builder.add("paragraph", paragraph)
    attachments, skipped = _attachments(message, body)
    if skipped:
        metadata["skipped_attachments"] = ", ".join(skipped)
    return builder.document(name, EML, title=metadata.get("Subject", ""), attachments=attachments, metadata=metadata)


#: Real headers are short (a long References chain is a few thousand characters); the
#: standard library's decoding of one made of thousands of encoded words takes memory
#: that grows with the square of its length (350 KB of Subject took 4.6 GB).
MAX_HEADER_CHARS = 32_000


def _refuse_huge_headers(message: Message, name: str) -> None:
    """Refuses an e-mail with a header of any of its parts too long to decode safely, before any is decoded."""
    for part in message.walk():
        for key, value in part.raw_items():
            if len(value) > MAX_HEADER_CHARS:
                raise DocumentRefused(
                    name,
                    f"its {_one_line(key)[:40]} header holds {len(value):,} characters, far more than an "
                    "e-mail's; it is not one Dossier reads",
                )


def _body(message: Message, preference: tuple[str, ...]) -> Message | None:
    """The part that is the message's text, by the standard library's rules (attachments are not)."""
    try:
        return message.get_body(preferencelist=preference) if isinstance(message, EmailMessage) else None
    except Exception:  # a malformed structure: no body, the headers still read
        return None


def _header(message: Message, key: str) -> str:
    """A header decoded (RFC 2047) on one line; "" when missing; the raw text when it cannot be decoded."""
    try:
        value = message.get(key)
        return _one_line(str(value)) if value is not None else ""
    except Exception:  # a malformed header the default policy cannot parse
        pass
    try:
        raw = message.get_all(key) or []
        return _one_line(str(email.header.make_header(email.header.decode_header(str(raw[0]))))) if raw else ""
    except Exception:
        return ""


def _part_text(part: Message) -> str:
    """A text part's content as str, with its declared charset if Python knows it."""
    try:
        if isinstance(part, EmailMessage):
            content = part.get_content()
            if isinstance(content, str):
                return content
    except Exception:  # an unknown charset or a broken transfer encoding
        pass
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset()
    try:
        return payload.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _attachment_name(part: Message, number: int, media_type: str | None) -> str:
    try:
        filename = part.get_filename() or ""
    except Exception:
        filename = ""
    # Only the last path component: an attachment named "../../x.pdf" stays a name.
    filename = _one_line(filename.replace("\\", "/").rsplit("/", 1)[-1]).strip(". ")[:200]
    if not filename:
        filename = f"attachment-{number}"
    if media_type is not None and _suffix(filename) not in MEDIA_TYPES:
        filename += _SUFFIX_FOR[media_type]
    return filename


#: Attachments of one e-mail read as documents; the rest are listed as skipped.
MAX_ATTACHMENTS = 50


def _attachments(message: Message, body: Message | None) -> tuple[tuple[Attachment, ...], list[str]]:
    """Attached files of supported types, and the names of the others.

    A text part without a file name that is not marked as an attachment is an
    alternative of the body (the HTML beside the plain text): not a file.
    A forwarded message (message/rfc822) is an .eml of its own.
    """
    found: list[Attachment] = []
    skipped: list[str] = []
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        content_type = part.get_content_type()
        if content_type == EML and part is not message:
            attachment = _forwarded(part, len(found) + len(skipped) + 1)
            if attachment is not None:
                found.append(attachment)
            continue
        if part.is_multipart():
            if depth < _MAX_MIME_DEPTH and content_type.startswith("multipart/"):
                payload = part.get_payload()
                if isinstance(payload, list):
                    stack.extend((child, depth + 1) for child in reversed(payload) if isinstance(child, Message))
            continue
        if part is body:
            continue
        try:
            disposition = part.get_content_disposition()
            filename = part.get_filename()
        except Exception:
            disposition, filename = None, None
        if not filename and disposition != "attachment" and part.get_content_maintype() == "text":
            continue
        media_type = MEDIA_TYPES.get(_suffix(filename or ""))
        if media_type is None and content_type in _ATTACHABLE_TYPES:
            media_type = PDF if content_type == "application/x-pdf" else content_type
        number = len(found) + len(skipped) + 1
        if media_type is None:
            skipped.append(_attachment_name(part, number, None) if filename else content_type)
            continue
        data = _attachment_bytes(part, media_type)
        if data and len(found) < MAX_ATTACHMENTS:
            found.append(Attachment(_attachment_name(part, number, media_type), data))
        elif data:  # thousands of attachments is a flood, not correspondence
            skipped.append(_attachment_name(part, number, media_type) + " (too many attachments)")
    return tuple(found), skipped


def _attachment_bytes(part: Message, media_type: str) -> bytes:
    if media_type in (TEXT, MARKDOWN):
        # Decoded with the part's charset and stored as UTF-8, which is what reading it back tries first.
        return _part_text(part).encode("utf-8")
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        return b""
    return payload if isinstance(payload, bytes) else b""


def _forwarded(part: Message, number: int) -> Attachment | None:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message):
        return None
    try:
        data = inner.as_bytes()
    except Exception:
        return None
    try:
        has_name = bool(part.get_filename())
    except Exception:
        has_name = False
    if has_name:
        return Attachment(_attachment_name(part, number, EML), data)
    subject = re.sub(r"[^\w .,()&'-]+", "", _header(inner, "Subject")).strip(". ")[:100]
    return Attachment(f"{subject or f'message-{number}'}.eml", data)
