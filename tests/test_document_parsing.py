"""Project documents: real files made here (Qt PDFs, python-docx, zip bombs, e-mails) parsed and chunked.

No binary fixture is committed: every PDF, Word file and archive is generated
by the test that reads it.
"""

from __future__ import annotations

import bisect
import io
import os
import pickle
import sys
import zipfile
from email.message import EmailMessage
from pathlib import Path

import docx
import pypdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.documents.chunking import Chunk, chunk_document, section_level
from app.documents.parsing import (
    DOCX,
    EML,
    HTML,
    MARKDOWN,
    MEDIA_TYPES,
    PDF,
    TEXT,
    Block,
    DocumentRefused,
    ParsedDocument,
    media_type_for,
    parse_bytes,
    parse_file,
)
from app.errors import USER_ERRORS
from tests.document_files import qt_pdf, word_file

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# ---------------------------------------------------------------------------
# Makers of real files


@pytest.fixture
def qt(qapp: object) -> object:
    # pytest-qt's one QApplication for the run (as tests/test_brief.py): a bare
    # QGuiApplication made here would leave the window tests unable to make widgets.
    return qapp


def encrypted(pdf: bytes, *, user: str, owner: str = "owner") -> bytes:
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(pdf))
    writer.encrypt(user_password=user, owner_password=owner, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def rezip(original: bytes, replace: dict[str, bytes]) -> bytes:
    """The same archive with some members' contents replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, replace.get(info.filename, source.read(info.filename)))
    return out.getvalue()


def refusal(data: bytes, filename: str) -> str:
    with pytest.raises(DocumentRefused) as caught:
        parse_bytes(data, filename)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{Path(filename).name}: ")
    return message


# ---------------------------------------------------------------------------
# Properties every parse and every chunking must have


def check_offsets(parsed: ParsedDocument) -> None:
    assert isinstance(parsed.text, str) and parsed.blocks
    assert parsed.text == "\n\n".join(block.text for block in parsed.blocks)
    position = 0
    for block in parsed.blocks:
        assert parsed.text[block.start : block.end] == block.text
        # Stripped, but code keeps its first line's indentation.
        assert block.start >= position and block.text.strip() and block.text == block.text.rstrip().strip("\n")
        assert block.kind in ("heading", "paragraph", "list", "table", "running")
        assert block.kind != "running" or block.page is not None  # only a PDF's pages have running lines
        assert (1 <= block.level <= 6) if block.kind == "heading" else block.level == 0
        assert (block.page is not None) == (parsed.pages is not None)
        assert not any(ord(c) < 32 and c not in "\n\t" for c in block.text)
        position = block.end


def check_chunks(parsed: ParsedDocument, chunks: list[Chunk]) -> None:
    """Offsets, order, no blank chunk, no chunk across a page, every content character covered (linear checks)."""
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    blocks = parsed.blocks
    starts = [block.start for block in blocks]
    for chunk in chunks:
        assert chunk.text == parsed.text[chunk.start : chunk.end] and chunk.text.strip()
        assert chunk.section >= 1
        index = max(bisect.bisect_right(starts, chunk.start) - 1, 0)
        pages = set()
        while index < len(blocks) and blocks[index].start < chunk.end:
            if blocks[index].end > chunk.start:
                pages.add(blocks[index].page)
            index += 1
        assert pages == {chunk.page}, "a chunk crosses a page"
    covered: list[tuple[int, int]] = []  # the union of the chunks' ranges
    for chunk in chunks:
        if covered and chunk.start <= covered[-1][1]:
            covered[-1] = (covered[-1][0], max(covered[-1][1], chunk.end))
        else:
            covered.append((chunk.start, chunk.end))
    covered_starts = [start for start, _ in covered]
    for block in blocks:
        if block.kind not in ("heading", "running"):
            index = bisect.bisect_right(covered_starts, block.start) - 1
            assert index >= 0 and block.end <= covered[index][1], f"not covered: {block.text[:60]!r}"


def parsed_and_chunked(data: bytes, filename: str, **options: int) -> tuple[ParsedDocument, list[Chunk]]:
    parsed = parse_bytes(data, filename)
    check_offsets(parsed)
    chunks = chunk_document(parsed, **options)
    check_chunks(parsed, chunks)
    return parsed, chunks


# ---------------------------------------------------------------------------
# PDF

CONTRACT_PAGES = [
    ["1. SCOPE OF WORK", "The agency redesigns the Acme logo in three phases over six months.", "Apples."],
    ["2. Fees and Payment", "Invoices are due within thirty days of receipt by the client.", "Bananas."],
    ["Confidentiality", "Neither party discloses the information of the other party.", "Cherries."],
]


def test_pdf_blocks_carry_the_page_their_text_was_drawn_on(qt: object) -> None:
    parsed, chunks = parsed_and_chunked(qt_pdf(CONTRACT_PAGES, title="Master Services Agreement"), "msa.pdf")

    assert parsed.media_type == PDF and parsed.pages == 3 and parsed.title == "Master Services Agreement"
    for page, lines in enumerate(CONTRACT_PAGES, start=1):
        for line in lines:
            holding = [b for b in parsed.blocks if line in b.text]
            assert len(holding) == 1 and holding[0].page == page, line
    headings = [(b.text, b.level, b.page) for b in parsed.blocks if b.kind == "heading"]
    # Numbered or ALL CAPS (level 1), Title Case (level 2); a ligature font's "fi" reads as "fi".
    assert headings == [("1. SCOPE OF WORK", 1, 1), ("2. Fees and Payment", 1, 2), ("Confidentiality", 2, 3)]
    assert [c.page for c in chunks] == [1, 2, 3]
    assert chunks[1].text.startswith("2. Fees and Payment") and chunks[1].heading_path == "2. Fees and Payment"


def test_a_pdf_heading_right_after_a_full_sentence_starts_its_own_section(qt: object) -> None:
    pages = [
        [
            "2. Services",
            "The Supplier provides warehouse consulting as set out in each statement of work.",
            "3. Fees and Payment",
            "The day rate is EUR 1,350. Invoices are payable within 45 days.",
            "4. Term and Termination",
            "This Agreement runs for 18 months; either party may end it with 60 days notice.",
        ]
    ]
    parsed, chunks = parsed_and_chunked(qt_pdf(pages), "msa.pdf")
    headings = [b.text for b in parsed.blocks if b.kind == "heading"]
    assert headings == ["2. Services", "3. Fees and Payment", "4. Term and Termination"]
    by_heading = {c.heading_path: c.text for c in chunks}
    assert "EUR 1,350" in by_heading["3. Fees and Payment"]
    assert "60 days notice" in by_heading["4. Term and Termination"]


def test_a_long_pdf_keeps_every_page_apart(qt: object) -> None:
    topics = ["Kickoff Meeting", "Discovery Phase", "Logo Design", "Brand Guidelines", "Website", "Launch", "Review"]
    pages = [
        [
            topic,
            f"Milestone number {n} of the rebrand is {topic.lower()}, with its own acceptance criteria.",
            "Acme Corp Confidential",  # a running footer in Title Case: on every page, never a heading
            f"Page {n} of 7",
        ]
        for n, topic in enumerate(topics, start=1)
    ]
    parsed, chunks = parsed_and_chunked(qt_pdf(pages), "plan.pdf", target_tokens=20, overlap_tokens=4)

    assert parsed.pages == 7 and parsed.title == "Kickoff Meeting"  # no metadata title: the first heading
    assert [(b.text, b.page) for b in parsed.blocks if b.kind == "heading"] == [
        (topic, n) for n, topic in enumerate(topics, start=1)
    ]
    for n in range(1, 8):
        [block] = [b for b in parsed.blocks if f"Milestone number {n} " in b.text]
        assert block.page == n
        assert {c.page for c in chunks if f"Milestone number {n} " in c.text} == {n}
        assert {c.heading_path for c in chunks if c.page == n} == {topics[n - 1]}
        assert f"Page {n} of 7" in parsed.text  # the text keeps the page's furniture; passages leave it out
        assert not any("Page " in c.text or "Confidential" in c.text for c in chunks)
    assert [b.text for b in parsed.blocks if b.kind == "running"].count("Acme Corp Confidential") == 7
    assert {c.page for c in chunks} == set(range(1, 8))


def test_a_heading_under_a_running_header_is_found_and_the_header_stays_out_of_passages(qt: object) -> None:
    sections = [
        ("1. Services", "The Supplier provides warehouse consulting as set out in each statement of work."),
        ("2. Fees and Payment", "Invoices are payable within forty-five days of receipt."),
        ("3. Termination", "Either party may end this Agreement on ninety days written notice."),
        ("4. Liability", "The Supplier's total liability is capped at EUR 2,000,000."),
    ]
    pages = [
        ["Acme Logistics · Master Services Agreement · Confidential", heading, body, f"Page {n} of 4"]
        for n, (heading, body) in enumerate(sections, start=1)
    ]
    parsed, chunks = parsed_and_chunked(qt_pdf(pages), "msa.pdf")

    assert [(b.text, b.page) for b in parsed.blocks if b.kind == "heading"] == [
        (heading, n) for n, (heading, _) in enumerate(sections, start=1)
    ]
    for n, (heading, body) in enumerate(sections, start=1):
        [chunk] = [c for c in chunks if c.page == n]
        assert chunk.heading_path == heading and chunk.text == f"{heading}\n\n{body}"
    assert parsed.text.count("Master Services Agreement · Confidential") == 4


def test_a_two_page_documents_running_header_stays_out_of_passages_too(qt: object) -> None:
    header = "Borealis Freight · Master Services Agreement · Confidential"
    pages = [
        [header, "1. Services", "The Supplier moves freight between Oslo and Hamburg every week.", "Page 1 of 2"],
        [header, "2. Fees", "The monthly fee is EUR 12,000, invoiced in advance.", "Page 2 of 2"],
    ]
    parsed, chunks = parsed_and_chunked(qt_pdf(pages), "borealis.pdf")
    assert [c.heading_path for c in chunks] == ["1. Services", "2. Fees"]
    assert not any("Confidential" in c.text or "Page " in c.text for c in chunks)
    assert parsed.text.count(header) == 2


def test_lines_that_only_look_alike_at_the_foot_of_pages_stay_searchable(qt: object) -> None:
    def prose(topic: str) -> str:
        return f"The parties agree the {topic} below, delivered by the project team in the agreed order and scope."

    pages = [
        ["1. Scope", prose("scope"), "Fees for phase 1: 30,000 EUR"],
        ["2. Timeline", prose("timeline")],
        ["3. Phase 2", prose("second phase"), "Fees for phase 2: 15,000 EUR"],
    ]
    parsed, chunks = parsed_and_chunked(qt_pdf(pages), "fees.pdf")
    assert [b for b in parsed.blocks if b.kind == "running"] == []
    assert any("30,000 EUR" in c.text and c.page == 1 for c in chunks)
    assert any("15,000 EUR" in c.text and c.page == 3 for c in chunks)

    milestones = [[f"Milestone {n} due 2025-0{n + 2}-14", prose(f"step {n}"), f"Page {n} of 4"] for n in range(1, 5)]
    parsed, chunks = parsed_and_chunked(qt_pdf(milestones), "plan.pdf")
    for n in range(1, 5):
        assert any(f"Milestone {n} due 2025-0{n + 2}-14" in c.text for c in chunks if c.page == n)
        assert not any(f"Page {n} of 4" in c.text for c in chunks)


def test_numbers_and_sentences_at_a_pages_edge_that_only_look_like_furniture_stay_in_passages(qt: object) -> None:
    def body(topic: str) -> str:
        return f"This phase covers the {topic}, delivered by the project team in the agreed order and scope."

    # "Phase N" on page N + 1: not the page's number.
    pages = [["Proposal", body("overview")]] + [
        [f"Phase {n} scope", body(f"work of phase {n}"), f"Phase {n} fee: 12,500 EUR, payable on acceptance."]
        for n in range(1, 4)
    ]
    _, chunks = parsed_and_chunked(qt_pdf(pages), "proposal.pdf")
    for n in range(1, 4):
        assert any(f"Phase {n} fee: 12,500 EUR" in c.text for c in chunks if c.page == n + 1)

    _, chunks = parsed_and_chunked(
        qt_pdf([["Invoice 114", "Consulting days in November, as agreed.", "22200"]]), "i.pdf"
    )
    assert any("22200" in c.text for c in chunks)  # a total, not a page number

    letter = [
        ["Dear Dana,", "Here is the statement of work for the rebrand.", "Please sign and return by 3 March."],
        ["The fees are in the annex.", "Kind regards, Sam", "Please sign and return by 3 March."],
    ]
    _, chunks = parsed_and_chunked(qt_pdf(letter), "letter.pdf")
    assert {c.page for c in chunks if "Please sign and return by 3 March." in c.text} == {1, 2}


def test_a_pdf_of_page_furniture_alone_is_still_searchable_one_passage_a_page(qt: object) -> None:
    pages = [["ACME CONFIDENTIAL", f"Page {n} of 6"] for n in range(1, 7)]
    parsed, chunks = parsed_and_chunked(qt_pdf(pages), "cover-sheets.pdf")
    assert {b.kind for b in parsed.blocks} == {"running"}
    assert [c.page for c in chunks] == [1, 2, 3, 4, 5, 6]
    assert all("ACME CONFIDENTIAL" in c.text for c in chunks)


def test_password_protected_pdf_is_refused_and_one_without_a_user_password_is_read(qt: object) -> None:
    pdf = qt_pdf(CONTRACT_PAGES)
    message = refusal(encrypted(pdf, user="secret"), "contract.pdf")
    assert message == "contract.pdf: password-protected; remove the password and add it again"

    opened = parse_bytes(encrypted(pdf, user=""), "contract.pdf")
    assert "Invoices are due within thirty days" in opened.text and opened.pages == 3


def test_pdf_without_a_text_layer_says_it_is_scanned(qt: object) -> None:
    message = refusal(qt_pdf([[], []], rectangle_only=True), "scan.pdf")
    assert message == "scan.pdf: scanned: no text to read; OCR is not available"


def test_damaged_pdfs_are_refused_without_a_traceback(qt: object) -> None:
    pdf = qt_pdf(CONTRACT_PAGES)
    assert "damaged or incomplete PDF" in refusal(pdf[: len(pdf) // 2], "cut.pdf")
    assert "damaged or not a PDF" in refusal(os.urandom(4000), "noise.pdf")
    # A PDF signature and an end marker around garbage: past the first check, pypdf itself fails.
    assert "damaged or not a PDF" in refusal(b"%PDF-1.7\n" + os.urandom(3000) + b"\n%%EOF\n", "garbage.pdf")
    # A page tree that points at itself: pypdf recurses or loops; either way a refusal, not a crash.
    looped = (
        b"%PDF-1.4\n1 0 obj <</Type/Catalog/Pages 2 0 R>> endobj\n"
        b"2 0 obj <</Type/Pages/Kids[2 0 R]/Count 1>> endobj\n"
        b"trailer <</Root 1 0 R>>\n%%EOF\n"
    )
    with pytest.raises(DocumentRefused):
        parse_bytes(looped, "loop.pdf")


# ---------------------------------------------------------------------------
# Word


def build_statement_of_work(document: docx.document.Document) -> None:
    document.add_paragraph("Statement of Work", style="Title")
    document.add_heading("Scope", level=1)
    document.add_paragraph("The agency delivers the brand refresh described below.")
    document.add_paragraph("A new logo", style="List Bullet")
    document.add_paragraph("Brand guidelines", style="List Bullet")
    table = document.add_table(rows=3, cols=2)
    for row, (item, price) in enumerate([("Item", "Price"), ("Logo", "4,000"), ("Guidelines", "2,500")]):
        table.cell(row, 0).text = item
        table.cell(row, 1).text = price
    document.add_paragraph("Prices exclude VAT.")
    document.add_heading("Deliverables", level=2)
    document.add_paragraph("Files in SVG and PNG.")
    document.add_heading("Fees", level=1)
    document.add_paragraph("Half on signature, half on delivery.")


def test_word_document_keeps_order_headings_lists_and_tables() -> None:
    parsed, chunks = parsed_and_chunked(word_file(build_statement_of_work), "sow.docx", target_tokens=30)

    assert parsed.media_type == DOCX and parsed.pages is None and parsed.title == "Statement of Work"
    assert [(b.kind, b.text) for b in parsed.blocks] == [
        ("heading", "Statement of Work"),
        ("heading", "Scope"),
        ("paragraph", "The agency delivers the brand refresh described below."),
        ("list", "A new logo\nBrand guidelines"),
        ("table", "Item | Price\nLogo | 4,000\nGuidelines | 2,500"),
        ("paragraph", "Prices exclude VAT."),
        ("heading", "Deliverables"),
        ("paragraph", "Files in SVG and PNG."),
        ("heading", "Fees"),
        ("paragraph", "Half on signature, half on delivery."),
    ]
    # Title outranks Heading 1.
    assert [b.level for b in parsed.blocks if b.kind == "heading"] == [1, 2, 3, 2]
    by_text = {c.text.split("\n\n")[-1]: c for c in chunks}
    assert by_text["Files in SVG and PNG."].heading_path == "Statement of Work › Scope › Deliverables"
    # The single Title is not a section: sections number the Heading 1s.
    assert by_text["Files in SVG and PNG."].section == 1
    assert by_text["Half on signature, half on delivery."].section == 2
    assert by_text["Half on signature, half on delivery."].text.startswith("Fees\n\n")


def test_word_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            zeros = bytes(1 << 20)
            for _ in range(300):  # 300 MB of zeros, about 300 KB stored
                member.write(zeros)
    assert len(bomb.getvalue()) < 1_000_000

    # Refused from the declared sizes, before anything is unpacked (so it is quick, whatever the load).
    message = refusal(bomb.getvalue(), "bomb.docx")
    assert "zip bomb" in message and "MB" in message


def test_word_parts_each_under_the_bomb_check_that_add_up_to_gigabytes_of_trees_are_refused() -> None:
    """Header parts of just under 10 MB each: python-docx parses every one (188 MB of them took 4.4 GB)."""
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        filler = b"<w:hdr>" + b"<w:p/>" * 1_500_000 + b"</w:hdr>"  # 9 MB, under the ratio check's threshold
        for n in range(4):
            archive.writestr(f"word/header{n + 1}.xml", filler)
    assert len(many.getvalue()) < 2_000_000
    message = refusal(many.getvalue(), "headers.docx")
    assert "text and layout parts unpack to" in message and "at most 32 MB" in message


def test_hostile_or_broken_word_archives_are_refused() -> None:
    assert "damaged or not a Word document" in refusal(b"just some text, not a zip", "notes.docx")
    old_word = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)
    assert "old Word format (.doc)" in refusal(old_word, "letter.docx")

    without_document = io.BytesIO()
    with zipfile.ZipFile(without_document, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
    assert "damaged or not a Word document" in refusal(without_document.getvalue(), "empty.docx")

    escaping = io.BytesIO(word_file(build_statement_of_work))
    with zipfile.ZipFile(escaping, "a") as archive:
        archive.writestr("../../outside.xml", "<x/>")
    assert "unsafe path" in refusal(escaping.getvalue(), "escape.docx")

    crowded = io.BytesIO()
    with zipfile.ZipFile(crowded, "w") as archive:
        archive.writestr("word/document.xml", "<x/>")
        for n in range(10_001):
            archive.writestr(f"word/media/{n}.xml", b"")
    assert "10,002 parts" in refusal(crowded.getvalue(), "crowded.docx")

    broken_xml = rezip(word_file(build_statement_of_work), {"word/document.xml": b"<w:document><unclosed"})
    assert "damaged or not a Word document" in refusal(broken_xml, "broken.docx")


def test_word_xml_entities_are_never_expanded_nor_fetched(tmp_path: Path) -> None:
    """python-docx parses with resolve_entities=False, and libxml2 caps entity amplification besides."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    original = word_file(lambda document: document.add_paragraph("PLACEHOLDER"))
    with zipfile.ZipFile(io.BytesIO(original)) as archive:
        xml = archive.read("word/document.xml").decode()
    declaration, rest = xml.split("?>", 1)

    entities = '<!ENTITY a "AAAAAAAAAA">' + "".join(
        f'<!ENTITY {name} "{("&" + previous + ";") * 10}">'
        for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
    laughs = declaration + f"?><!DOCTYPE w:document [{entities}]>" + rest.replace("PLACEHOLDER", "Start &i; end")
    try:
        parsed = parse_bytes(rezip(original, {"word/document.xml": laughs.encode()}), "laughs.docx")
        assert "AAAAAAAAAA" not in parsed.text and len(parsed.text) < 100  # left unexpanded
    except DocumentRefused as refused:  # libxml2 >= 2.11 stops the amplification itself
        assert "damaged or not a Word document" in str(refused)

    external = f'<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
    fetching = declaration + "?>" + external + rest.replace("PLACEHOLDER", "Before &xxe; after")
    parsed = parse_bytes(rezip(original, {"word/document.xml": fetching.encode()}), "xxe.docx")
    assert "TOP-SECRET" not in parsed.text and parsed.text.startswith("Before")


def test_word_text_in_content_controls_insertions_and_nested_tables() -> None:
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    def build(document: docx.document.Document) -> None:
        document.add_paragraph("Intro")
        body = document.element.body
        body.insert(
            len(body) - 1,
            parse_xml(
                f"<w:sdt {nsdecls('w')}><w:sdtContent><w:p><w:r><w:t>Inside a control</w:t></w:r></w:p>"
                "</w:sdtContent></w:sdt>"
            ),
        )
        body.insert(
            len(body) - 1,
            parse_xml(
                f"<w:p {nsdecls('w')}><w:r><w:t>Kept </w:t></w:r><w:ins w:id='1' w:author='a'><w:r><w:t>inserted"
                "</w:t></w:r></w:ins><w:del w:id='2' w:author='a'><w:r><w:delText>deleted</w:delText></w:r></w:del>"
                "<w:r><w:instrText>PAGE</w:instrText></w:r></w:p>"
            ),
        )
        outer = document.add_table(rows=1, cols=2)
        outer.cell(0, 0).text = "Outer"
        outer.cell(0, 1).add_table(rows=1, cols=1).cell(0, 0).text = "Nested"

    parsed = parse_bytes(word_file(build), "controls.docx")
    check_offsets(parsed)
    assert [b.text for b in parsed.blocks] == ["Intro", "Inside a control", "Kept inserted", "Outer | Nested"]


# ---------------------------------------------------------------------------
# Markdown and text

MARKDOWN_SOW = """\ufeff# Statement of Work

The agency delivers a brand refresh.
Second line of the same paragraph.

Scope
=====

- Logo
- Guidelines
  continued on the next line

- Launch kit

| Item | Price |
|------|------:|
| Logo | 4,000 |

```python
def total(prices):
    return sum(prices)  # kept verbatim
```

Deliverables
------------

> Files in SVG and PNG.

***

## Fees ##
Half on signature.
"""


def test_markdown_headings_lists_tables_and_code() -> None:
    parsed, chunks = parsed_and_chunked(MARKDOWN_SOW.encode("utf-8"), "sow.md", target_tokens=12, overlap_tokens=2)

    assert parsed.media_type == MARKDOWN and parsed.title == "Statement of Work"
    assert [(b.kind, b.level, b.text) for b in parsed.blocks] == [
        ("heading", 1, "Statement of Work"),
        ("paragraph", 0, "The agency delivers a brand refresh. Second line of the same paragraph."),
        ("heading", 1, "Scope"),
        ("list", 0, "- Logo\n- Guidelines continued on the next line\n- Launch kit"),
        ("table", 0, "Item | Price\nLogo | 4,000"),
        ("paragraph", 0, "def total(prices):\n    return sum(prices)  # kept verbatim"),
        ("heading", 2, "Deliverables"),
        ("paragraph", 0, "Files in SVG and PNG."),
        ("heading", 2, "Fees"),
        ("paragraph", 0, "Half on signature."),
    ]
    last = chunks[-1]
    assert last.text == "Fees\n\nHalf on signature." and last.heading_path == "Scope › Fees" and last.section == 2


def test_text_in_legacy_encodings_is_read_without_crashing() -> None:
    parsed = parse_bytes("# Café – déjà vu\n\n“Quoted” text €5".encode("cp1252"), "legacy.md")
    assert parsed.title == "Café – déjà vu" and parsed.blocks[1].text == "“Quoted” text €5"
    # 0x81 is undefined in cp1252: Latin-1 reads it (and the control character it is goes).
    assert parse_bytes(b"caf\xe9 \x81ok", "odd.txt").text == "café ok"
    assert parse_bytes("Grüße".encode("utf-16"), "wide.txt").text == "Grüße"
    assert "binary data" in refusal(b"abc\x00\x01\x02def", "blob.txt")


def test_plain_text_paragraphs_and_clean_up() -> None:
    raw = b"First line\r\nstill first.\r\n\r\n\r\nSecond\x07 paragraph\x00 with\ttabs   and  spaces.\n\n  \n"
    parsed, chunks = parsed_and_chunked(raw, "notes.txt")
    assert parsed.media_type == TEXT and parsed.title == "notes"
    assert [b.text for b in parsed.blocks] == ["First line still first.", "Second paragraph with tabs and spaces."]
    assert len(chunks) == 1 and chunks[0].section == 1 and chunks[0].heading_path == ""
    assert "no text to read" in refusal(b" \n\n\t\n", "blank.txt")


# ---------------------------------------------------------------------------
# HTML


def test_html_skips_scripts_and_styles_and_keeps_tables() -> None:
    page = b"""<!doctype html><html><head><meta charset="iso-8859-1"><title>Brand &amp; Voice</title>
    <style>p { color: red }</style><script>var secret = "do not index";</script></head>
    <body><h1>Brand guide</h1><p>Use the <b>teal</b> logo &mdash; always.<br><br>Never stretch it.</p>
    <script>document.write("<p>nor this</p>")</script>
    <h2>Colours</h2><table><tr><th>Name</th><th>Hex</th></tr><tr><td>Teal</td><td>#008080</td></tr></table>
    <ul><li>Caf\xe9 font</li><li>Second <em>item</em><ul><li>nested</li></ul></li></ul><div>End&nbsp;note</div>
    </body></html>"""
    parsed, chunks = parsed_and_chunked(page, "guide.html")

    assert parsed.media_type == HTML and parsed.title == "Brand & Voice"
    assert [(b.kind, b.text) for b in parsed.blocks] == [
        ("heading", "Brand guide"),
        ("paragraph", "Use the teal logo — always."),
        ("paragraph", "Never stretch it."),
        ("heading", "Colours"),
        ("table", "Name | Hex\nTeal | #008080"),
        ("list", "Café font\nSecond item\nnested"),
        ("paragraph", "End note"),
    ]
    assert "secret" not in parsed.text and "color" not in parsed.text and "nor this" not in parsed.text
    assert chunks[-1].heading_path == "Brand guide › Colours"


# ---------------------------------------------------------------------------
# E-mail


def test_email_headers_body_and_attachments(qt: object) -> None:
    pdf = qt_pdf(CONTRACT_PAGES)
    forwarded = EmailMessage()
    forwarded["From"] = "legal@acme.example"
    forwarded["Subject"] = "Signed contract"
    forwarded.set_content("Signed copy attached earlier.")

    message = EmailMessage()
    message["From"] = "Jane Doe <jane@acme.example>"
    message["To"] = "me@studio.example"
    message["Cc"] = "boss@acme.example"
    message["Date"] = "Tue, 03 Feb 2026 10:00:00 +0100"
    message["Subject"] = "Réunion à Zürich — contrat"
    message.set_content("Hello,\n\nthe contract is attached.\n\nJane")
    message.add_alternative("<p>Hello,</p><p>the <b>HTML</b> version.</p>", subtype="html")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="../../contract.pdf")
    message.add_attachment("Call notes: budget 40k.", filename="notes.txt")
    message.add_attachment(b"\x89PNG\r\n\x1a\n" + bytes(64), maintype="image", subtype="png", filename="logo.png")
    message.add_attachment(forwarded)
    raw = bytes(message)
    assert b"=?utf-8?" in raw  # the subject really is RFC 2047 encoded

    parsed, _ = parsed_and_chunked(raw, "mail.eml")
    assert parsed.media_type == EML and parsed.title == "Réunion à Zürich — contrat"
    assert parsed.metadata["From"] == "Jane Doe <jane@acme.example>" and parsed.metadata["Cc"] == "boss@acme.example"
    assert parsed.blocks[0].text == (
        "From: Jane Doe <jane@acme.example>\nTo: me@studio.example\nCc: boss@acme.example\n"
        "Date: Tue, 03 Feb 2026 10:00:00 +0100\nSubject: Réunion à Zürich — contrat"
    )
    assert [b.text for b in parsed.blocks[1:]] == ["Hello,", "the contract is attached.", "Jane"]  # plain preferred
    assert "HTML" not in parsed.text
    assert parsed.metadata["skipped_attachments"] == "logo.png"

    names = [a.filename for a in parsed.attachments]
    assert names == ["contract.pdf", "notes.txt", "Signed contract.eml"]  # no path survives in a name
    attached = {a.filename: parse_bytes(a.data, a.filename) for a in parsed.attachments}
    assert attached["contract.pdf"].pages == 3 and "thirty days" in attached["contract.pdf"].text
    assert attached["notes.txt"].text == "Call notes: budget 40k."
    assert attached["Signed contract.eml"].title == "Signed contract"
    assert hash(parsed) == hash(parse_bytes(raw, "mail.eml")) and parsed == parse_bytes(raw, "mail.eml")


def test_email_with_only_an_html_body() -> None:
    message = EmailMessage()
    message["From"] = "jane@acme.example"
    message["Subject"] = "Colours"
    message.set_content("<html><head><style>x{}</style></head><body><h2>Teal</h2><p>Use #008080.</p>", subtype="html")
    parsed = parse_bytes(bytes(message), "colours.eml")
    check_offsets(parsed)
    assert [(b.kind, b.text) for b in parsed.blocks[1:]] == [("heading", "Teal"), ("paragraph", "Use #008080.")]
    assert "not an e-mail" in refusal(b"just words, no headers at all", "fake.eml")

    empty_plain = EmailMessage()
    empty_plain["Subject"] = "Agenda"
    empty_plain.set_content("\n")
    empty_plain.add_alternative("<ol><li>Budget</li><li>Dates</li></ol>", subtype="html")
    parsed = parse_bytes(bytes(empty_plain), "agenda.eml")
    assert [(b.kind, b.text) for b in parsed.blocks[1:]] == [("list", "Budget\nDates")] and not parsed.attachments


# ---------------------------------------------------------------------------
# Types and files


def test_media_types_by_suffix_and_signature() -> None:
    assert set(MEDIA_TYPES) == {".pdf", ".docx", ".md", ".markdown", ".txt", ".text", ".html", ".htm", ".eml"}
    assert media_type_for("a.PDF", b"%PDF-1.7") == PDF
    assert media_type_for("scan.txt", b"%PDF-1.4\n") == PDF  # the signature wins
    assert media_type_for("noname", b"PK\x03\x04....word/document.xml") == DOCX
    assert media_type_for("sheet.xlsx", b"PK\x03\x04....xl/workbook.xml") is None
    assert media_type_for("notes.txt", b"PK\x03\x04....xl/workbook.xml") is None
    assert media_type_for("broken.pdf", b"garbage") == PDF  # reading it says "damaged"
    assert media_type_for("page.htm", b"<html>") == HTML
    assert media_type_for("data.xyz", b"hello") is None

    message = refusal(b"col1,col2", "data.xyz")
    assert message == (
        "data.xyz: unsupported type (.xyz); Dossier reads PDF, Word (.docx), Markdown, text, HTML and e-mail (.eml)"
    )
    assert "its contents are a ZIP archive" in refusal(b"PK\x03\x04" + bytes(100), "notes.txt")


def test_refusals_are_user_errors_that_survive_pickling() -> None:
    error = DocumentRefused("contract\n.pdf", "password-protected;\nremove it")
    assert isinstance(error, USER_ERRORS) and error.name == "contract\n.pdf" and error.reason.startswith("password")
    assert str(error) == "contract .pdf: password-protected; remove it"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.name, copy.reason, str(copy)) == (error.name, error.reason, str(error))


def test_parse_file_reads_a_file_and_returns_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "brief.md"
    path.write_bytes(b"# Brief\n\nHello.")
    parsed, data = parse_file(path, max_bytes=1000)
    assert data == b"# Brief\n\nHello." and parsed.title == "Brief"


def test_parse_file_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    def refused(path: Path, max_bytes: int = 1_000_000) -> str:
        with pytest.raises(DocumentRefused) as caught:
            parse_file(path, max_bytes=max_bytes)
        return str(caught.value)

    folder = tmp_path / "folder"
    folder.mkdir()
    assert refused(folder) == "folder: is a folder, not a file; add the files inside it"
    assert refused(tmp_path / "gone.pdf") == "gone.pdf: not found; it may have been moved or deleted"

    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 2_500_000)
    assert refused(big, max_bytes=1_000_000) == "big.txt: too large (2.5 MB; the limit is 1 MB)"
    assert refused(big, max_bytes=2_499_999) == "big.txt: too large (2,500,000 bytes; the limit is 2,499,999 bytes)"

    if sys.platform != "win32":
        link = tmp_path / "link.md"
        link.symlink_to(folder, target_is_directory=True)
        assert refused(link) == "link.md: is a folder, not a file; add the files inside it"
        pipe = tmp_path / "pipe.txt"
        os.mkfifo(pipe)
        assert "not a regular file" in refused(pipe)  # and the read did not block


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root (or Windows) reads a chmod 000 file")
def test_parse_file_refuses_an_unreadable_file(tmp_path: Path) -> None:
    locked = tmp_path / "locked.txt"
    locked.write_text("secret")
    locked.chmod(0)
    try:
        with pytest.raises(DocumentRefused, match=r"^locked\.txt: cannot be read: permission denied$"):
            parse_file(locked, max_bytes=1000)
    finally:
        locked.chmod(0o600)


# ---------------------------------------------------------------------------
# Chunking


def make_document(blocks: list[tuple[str, str, int | None, int]]) -> ParsedDocument:
    """A ParsedDocument from (kind, text, page, level) tuples, offsets computed as the parser does."""
    made: list[Block] = []
    position = 0
    for kind, text, page, level in blocks:
        made.append(Block(kind, text, position, position + len(text), page, level))
        position += len(text) + 2
    paged = any(page is not None for _, _, page, _ in blocks)
    pages = max((page or 0) for _, _, page, _ in blocks) if paged else None
    return ParsedDocument("t", TEXT, "\n\n".join(b.text for b in made), tuple(made), pages)


def test_a_long_paragraph_is_cut_at_sentences_with_overlap() -> None:
    sentences = [f"Sentence number {n} says something about the rebrand budget." for n in range(200)]
    parsed = make_document([("heading", "Budget", None, 1), ("paragraph", " ".join(sentences), None, 0)])
    chunks = chunk_document(parsed, target_tokens=50, overlap_tokens=10)
    check_chunks(parsed, chunks)

    assert len(chunks) > 20 and all(len(c.text) <= 200 for c in chunks)
    assert chunks[0].text.startswith("Budget\n\nSentence number 0 ")  # the heading opens the first piece
    assert all(c.heading_path == "Budget" for c in chunks)
    for before, after in zip(chunks, chunks[1:], strict=False):
        shared = before.end - after.start
        assert 0 < shared <= 40 + 20, "pieces overlap by about overlap_tokens"
        assert before.text.endswith(".")  # cut at a sentence's end
        assert not after.text[0].isspace() and parsed.text[after.start - 1] == " "  # starts at a word


def test_a_block_without_spaces_is_still_cut_and_covered() -> None:
    parsed = make_document([("paragraph", "x" * 5000, None, 0), ("paragraph", "tail", None, 0)])
    chunks = chunk_document(parsed, target_tokens=100, overlap_tokens=0)
    check_chunks(parsed, chunks)
    assert all(len(c.text) <= 400 for c in chunks) and sum(len(c.text) for c in chunks) == 5000 + len("\n\ntail")


def test_headings_give_paths_and_sections_and_small_blocks_are_gathered() -> None:
    parsed = make_document(
        [
            ("paragraph", "Preamble before any heading.", None, 0),
            ("heading", "Contract", None, 1),
            ("heading", "Scope", None, 2),
            ("paragraph", "Design.", None, 0),
            ("paragraph", "Print.", None, 0),
            ("heading", "Deliverables", None, 3),
            ("list", "Logo\nGuide", None, 0),
            ("heading", "Fees", None, 2),
            ("table", "Item | Price\nLogo | 4,000", None, 0),
            ("heading", "Term", None, 2),
            ("paragraph", "One year.", None, 0),
        ]
    )
    assert section_level(parsed.blocks) == 2
    chunks = chunk_document(parsed)
    check_chunks(parsed, chunks)
    assert [(c.text, c.heading_path, c.section) for c in chunks] == [
        ("Preamble before any heading.", "", 1),
        ("Contract\n\nScope\n\nDesign.\n\nPrint.", "Contract › Scope", 1),
        ("Deliverables\n\nLogo\nGuide", "Contract › Scope › Deliverables", 1),
        ("Fees\n\nItem | Price\nLogo | 4,000", "Contract › Fees", 2),
        ("Term\n\nOne year.", "Contract › Term", 3),
    ]


def test_a_heading_at_the_foot_of_a_page_stays_in_the_path_only() -> None:
    parsed = make_document(
        [
            ("paragraph", "Page one text.", 1, 0),
            ("heading", "Payment", 1, 2),
            ("paragraph", "Page two text.", 2, 0),
        ]
    )
    chunks = chunk_document(parsed)
    check_chunks(parsed, chunks)
    assert [(c.text, c.page, c.heading_path) for c in chunks] == [
        ("Page one text.", 1, ""),
        ("Page two text.", 2, "Payment"),
    ]


def test_edge_documents_and_arguments() -> None:
    only_headings = make_document([("heading", "A", None, 1), ("heading", "B", None, 2)])
    assert [(c.text, c.heading_path) for c in chunk_document(only_headings)] == [("A", "A"), ("B", "A › B")]
    huge_heading = make_document([("heading", "H" * 3000, None, 1)])
    chunks = chunk_document(huge_heading, target_tokens=100, overlap_tokens=10)
    assert len(chunks) > 1 and all(len(c.text) <= 400 for c in chunks)
    for target, overlap in ((0, 0), (10, -1)):
        with pytest.raises(ValueError):
            chunk_document(only_headings, target_tokens=target, overlap_tokens=overlap)
    # An overlap as large as the target is halved, not refused, and the pieces still advance.
    long = make_document([("paragraph", "word " * 2000, None, 0)])
    pieces = chunk_document(long, target_tokens=10, overlap_tokens=40)
    assert 200 < len(pieces) < 2000 and all(len(c.text) <= 40 for c in pieces)


def test_chunking_two_thousand_pages_keeps_every_page_and_section() -> None:
    paragraph = " ".join(f"Clause {n} binds the parties to deliver on time." for n in range(12))
    blocks: list[tuple[str, str, int | None, int]] = []
    for page in range(1, 2001):
        blocks.append(("heading", f"Section {page}", page, 1))
        blocks += [("paragraph", paragraph, page, 0)] * 4
        blocks.append(("paragraph", paragraph * 6, page, 0))  # one block to cut
    parsed = make_document(blocks)
    # Its speed is measured by bench/documents.py (parsing and chunking alone), not timed here.
    chunks = chunk_document(parsed)
    assert len({c.page for c in chunks}) == 2000 and chunks[-1].section == 2000
    check_chunks(parsed, chunks)


MARKDOWN_LINES = st.one_of(
    st.sampled_from(["", "", "# Title", "## Part", "### Sub", "Heading", "====", "----", "- item", "1. step"]),
    st.sampled_from(["| a | b |", "|---|---|", "```", "> quote", "***", "  indented", "text."]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MARKDOWN_LINES, max_size=40), st.integers(min_value=2, max_value=60))
def test_any_markdown_parses_and_chunks_with_exact_offsets(lines: list[str], target: int) -> None:
    data = "\n".join(lines).encode("utf-8")
    try:
        parsed = parse_bytes(data, "random.md")
    except DocumentRefused as refused:
        assert refused.reason in ("no text to read", "binary data, not text")
        return
    check_offsets(parsed)
    chunks = chunk_document(parsed, target_tokens=target, overlap_tokens=target // 3)
    check_chunks(parsed, chunks)
    assert chunks and all(c.section <= max(1, len(parsed.blocks)) for c in chunks)


def test_hostile_word_and_markdown_files_are_read_or_refused() -> None:
    """Many styles times many paragraphs (python-docx scanned the styles for each paragraph), and a
    Markdown line of blanks that made the table check backtrack: both once took minutes."""
    base = word_file(lambda document: [document.add_paragraph(f"Paragraph {n}") for n in range(2_000)])
    with zipfile.ZipFile(io.BytesIO(base)) as archive:
        styles = archive.read("word/styles.xml").decode()

    def with_styles(count: int) -> bytes:
        extra = "".join(
            f'<w:style w:type="paragraph" w:styleId="S{n}"><w:name w:val="S{n}"/></w:style>' for n in range(count)
        )
        return rezip(base, {"word/styles.xml": styles.replace("</w:styles>", extra + "</w:styles>").encode()})

    assert len(parse_bytes(with_styles(4_000), "styles.docx").blocks) == 2_000
    assert "styles; more than a real document has" in refusal(with_styles(6_000), "bomb.docx")
    parsed = parse_bytes(("a|b\n" + " " * 200_000 + "x|\n").encode(), "blanks.md")
    assert parsed.text.startswith("a|b")


def _pdf_sharing_one_stream(pages: int, text: bytes, drawing: bytes = b"") -> bytes:
    """A hand-made PDF whose pages all draw the same compressed content stream (its text, then ``drawing``)."""
    import zlib

    stream = zlib.compress(b"BT /F1 1 Tf 0 0 Td (" + text + b") Tj ET\n" + drawing, 9)
    kids = " ".join(f"{3 + n} 0 R" for n in range(pages))
    content, font = 3 + pages, 4 + pages
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        *(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
            for _ in range(pages)
        ),
        f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode() + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_a_few_kilobytes_of_pdf_drawing_megabytes_of_text_is_refused() -> None:
    """One compressed stream shared by every page would become tens of thousands of passages."""
    normal = parse_bytes(_pdf_sharing_one_stream(2, b"Invoices are due within thirty days. " * 20), "small.pdf")
    assert normal.pages == 2 and "Invoices are due within thirty days." in normal.text
    bomb = _pdf_sharing_one_stream(10, b"Lorem ipsum dolor sit amet. " * 40_000)
    assert len(bomb) < 20_000
    message = refusal(bomb, "bomb.pdf")
    assert message.startswith("bomb.pdf: page 1 holds 1,1") and "more than a page can show" in message


def test_a_small_pdf_drawing_a_large_page_on_every_page_is_refused_before_it_floods_memory() -> None:
    """Each page under the page limit, together far beyond what the file's bytes can hold as real text."""
    flood = _pdf_sharing_one_stream(200, b"Lorem ipsum dolor sit amet. " * 3_200)  # 89,600 characters a page
    assert len(flood) < 40_000
    message = refusal(flood, "flood.pdf")
    assert "far more than a real document holds" in message


def test_a_small_pdf_whose_pages_draw_millions_of_operations_is_refused_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A few words per page over a long drawing: a small file that would keep a core busy for hours."""
    import time

    from app.documents import parsing

    slow = _pdf_sharing_one_stream(400, b"Hello client", drawing=b"0 0 m\n" * 60_000)
    assert len(slow) < 100_000
    started = time.monotonic()
    plain = parse_bytes(_pdf_sharing_one_stream(3, b"Invoices are due within thirty days."), "plain.pdf")
    # Scaled down, the same rule: a grace period, then an allowance per page read.
    monkeypatch.setattr(parsing, "PDF_READ_GRACE_SECONDS", max(1.0, 20 * (time.monotonic() - started)))
    monkeypatch.setattr(parsing, "PDF_READ_SECONDS_PER_PAGE", 0.001)
    assert (
        plain.pages == 3
        and parse_bytes(_pdf_sharing_one_stream(3, b"Invoices are due within thirty days."), "plain.pdf").text
        == plain.text
    )
    started = time.monotonic()
    message = refusal(slow, "slow.pdf")
    assert "s a page): its pages draw far more than their text" in message
    assert time.monotonic() - started < 60, "refused long before its 400 pages were read"


def test_an_email_header_too_long_to_decode_safely_is_refused_before_it_is_decoded() -> None:
    """Thousands of encoded words in a Subject: decoding them takes memory growing with the square of the length."""
    subject = "=?utf-8?q?a?= " * 25_000
    mail = f"From: dana@acme.example\r\nTo: me@agency.example\r\nSubject: {subject}\r\n\r\nHello.\r\n".encode()
    message = refusal(mail, "subject.eml")
    assert "Subject header holds 350,000 characters" in message
    normal = parse_bytes(
        b"From: dana@acme.example\r\nSubject: =?utf-8?q?Budget_f=C3=BCr_Phase_2?=\r\n\r\nThe budget is 40k.\r\n",
        "budget.eml",
    )
    assert normal.metadata["Subject"] == "Budget für Phase 2"


def test_html_whose_tags_never_close_is_read_as_text_without_rescanning() -> None:
    """Unclosed tags, comments and stray "</": a browser shows them as text; Python's parser rescanned them."""
    for opener in ("<a ", "<!--", "<![CDATA[", "</", "<?"):
        markup = "<html><body><p>Quarterly report</p><p>" + opener * 50_000 + "</p></body></html>"
        parsed = parse_bytes(markup.encode(), "odd.html")
        assert parsed.text.startswith("Quarterly report"), opener
    closed = parse_bytes(b"<p>Kept <!-- a comment --> and <b>bold</b> &lt;as it was&gt;</p>", "fine.html")
    assert closed.text == "Kept and bold <as it was>"


def _pdf_of_nested_forms(depth: int, fan: int, leaf: bytes) -> bytes:
    """One page drawing a form that draws the next one ``fan`` times, ``depth`` deep, the last drawing ``leaf``."""
    import zlib

    font, first = 4, 5
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {font} 0 R >> "
        f"/XObject << /X0 {first} 0 R >> >> /Contents {first + depth + 1} 0 R >>".encode(),
        font: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    for level in range(depth + 1):
        body = b"/X Do " * fan if level < depth else b"BT /F1 1 Tf (a) Tj ET " + leaf
        resources = f"/XObject << /X {first + level + 1} 0 R >>" if level < depth else f"/Font << /F1 {font} 0 R >>"
        packed = zlib.compress(body)
        objects[first + level] = (
            f"<< /Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << {resources} >> "
            f"/Filter /FlateDecode /Length {len(packed)} >>\nstream\n".encode()
            + packed
            + b"\nendstream"
        )
    text = b"BT /F1 12 Tf 72 720 Td (Quarterly report) Tj ET /X0 Do"
    objects[first + depth + 1] = f"<< /Length {len(text)} >>\nstream\n".encode() + text + b"\nendstream"
    out, offsets = bytearray(b"%PDF-1.4\n"), {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n".encode() + objects[number] + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offsets[n]:010d} 00000 n \n".encode() for n in sorted(objects))
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_a_tiny_pdf_of_forms_drawing_forms_is_refused_before_any_text_is_read() -> None:
    """1.6 KB that draws a 20 KB form a thousand times over: the sizes say so before pypdf reads a page."""
    nested = _pdf_of_nested_forms(3, 10, b"0 0 m " * 3_500)
    assert len(nested) < 3_000
    message = refusal(nested, "forms.pdf")
    assert "page 1 draws 21 MB of instructions" in message
    plain = parse_bytes(_pdf_of_nested_forms(1, 2, b"0 0 m "), "logo.pdf")  # a logo drawn twice: fine
    assert plain.pages == 1 and "Quarterly report" in plain.text
