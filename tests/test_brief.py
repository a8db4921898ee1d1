"""Project briefs in Markdown, HTML and PDF (the PDF read back with pypdf)."""

from __future__ import annotations

import html.parser
import io
import os
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pypdf
import pytest

from app.llm.engine import GenerationSettings
from app.llm.prompt_format import ChatTurn
from app.portability.brief import (
    Brief,
    BriefFact,
    BriefOptions,
    Section,
    compose_brief,
    due_date,
    render_html,
    render_markdown,
)
from cli import main as cli
from memory import FactKind, MemoryService, local_time
from memory.embedding import MiniLMEmbedder
from tests.fakes import FakeModel
from ui.pdf import render_pdf, render_pdf_bytes

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

HOSTILE = "<script>alert('x')</script> # not a heading | a | b | **not bold** [not](a link)"
UNICODE = "Réunion à Zürich — 東京の会議 — ☕ — שלום עולם"
LONG = "https://example.com/" + "verylongpath" * 30


@pytest.fixture(autouse=True)
def _qt_application(qapp: object) -> object:
    # One QApplication for the whole run (pytest-qt's): a QGuiApplication made
    # here first would leave the UI tests unable to create widgets.
    return qapp


@pytest.fixture
def acme(service: MemoryService) -> int:
    p = service.create_project("Acme Rebrand", "Logo, guidelines & launch")
    other = service.create_project("Globex")
    service.add_fact(other.id, "Globex secret: merger with Initech in May")
    service.add_fact(None, "I invoice monthly", "preference")
    service.add_fact(p.id, "Jane Doe is the marketing lead", "contact", pinned=True)
    service.add_fact(p.id, "The client prefers short emails", "preference")
    service.add_fact(p.id, "Acme has 40 stores in the Benelux")
    service.add_fact(p.id, "The launch is due on 2027-03-01", "deadline")
    service.add_fact(p.id, "Photos are due on 14 January 2027", "deadline")
    service.add_fact(p.id, "We go with the teal logo", "decision")
    service.add_fact(p.id, HOSTILE, "note")
    service.add_fact(p.id, UNICODE, "note")
    service.add_fact(p.id, LONG, "note")
    archived = service.add_fact(p.id, "Old budget was 30k")
    service.archive_fact(archived.id)
    service.propose(p.id, "add", "Pending: Jane is leaving")
    service.set_voice(p.id, tone="warm, direct", style_do=["short sentences"])
    old = service.start_session(p.id, "Old kickoff", started_at=datetime(2026, 1, 5, tzinfo=UTC))
    service.add_message(old.id, "user", "The first kickoff was in January in Brussels.")
    recent = service.start_session(p.id, "Launch planning", started_at=datetime.now(UTC) - timedelta(days=2))
    service.add_message(recent.id, "user", "The launch party will be in Antwerp.")
    service.set_session_summary(recent.id, "Launch party planned in Antwerp.")
    return p.id


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)


def _flat(text: str) -> str:
    return "".join(text.split())


def test_every_section_in_all_formats(service: MemoryService, acme: int, tmp_path: Path) -> None:
    brief = compose_brief(service, acme)
    pdf = tmp_path / "brief.pdf"
    render_pdf(brief, pdf)
    outputs = {"md": render_markdown(brief), "html": render_html(brief), "pdf": _pdf_text(pdf)}
    for fmt, text in outputs.items():
        flat = _flat(text)
        for expected in [
            "Acme Rebrand",
            "Key facts",
            "Jane Doe is the marketing lead",
            "Acme has 40 stores in the Benelux",
            "Decisions and deadlines",
            "2027-03-01",
            "2027-01-14",
            "We go with the teal logo",
            "Client voice",
            "warm, direct",
            "Session summaries",
            "Launch party planned in Antwerp.",
            "The first kickoff was in January in Brussels.",  # no stored summary: extracted
        ]:
            assert _flat(expected) in flat, f"{fmt}: missing {expected!r}"
        for absent in ["Globex", "I invoice monthly", "Old budget", "Pending: Jane"]:
            assert _flat(absent) not in flat, f"{fmt}: {absent!r} must not be in the brief"
    # Deadlines in date order, pinned facts first within their kind.
    md = outputs["md"]
    assert md.index("2027-01-14") < md.index("2027-03-01")


def test_sections_since_and_global_options(service: MemoryService, acme: int) -> None:
    brief = compose_brief(
        service,
        acme,
        BriefOptions(
            sections=(Section.FACTS, Section.SESSIONS), since=date.today() - timedelta(days=7), include_global=True
        ),
    )
    md = render_markdown(brief)
    assert "I invoice monthly" in md and "(global)" in md
    assert "Antwerp" in md and "Brussels" not in md
    assert "Decisions and deadlines" not in md and "Client voice" not in md


def test_facts_are_data_not_markup(service: MemoryService, acme: int, tmp_path: Path) -> None:
    brief = compose_brief(service, acme)
    from PySide6.QtGui import QTextDocument

    document = QTextDocument()
    document.setMarkdown(render_markdown(brief))
    assert HOSTILE in document.toPlainText()  # a Markdown renderer shows it literally

    class Collector(html.parser.HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[str] = []
            self.text: list[str] = []

        def handle_starttag(self, tag: str, attrs: Sequence[tuple[str, str | None]]) -> None:
            self.tags.append(tag)

        def handle_data(self, data: str) -> None:
            self.text.append(data)

    page = render_html(brief)
    collector = Collector()
    collector.feed(page)
    assert "script" not in collector.tags and HOSTILE in "".join(collector.text)
    pdf = tmp_path / "b.pdf"
    render_pdf(brief, pdf)
    assert _flat(HOSTILE) in _flat(_pdf_text(pdf))


def test_unicode_and_long_facts_render_in_the_pdf(service: MemoryService, acme: int, tmp_path: Path) -> None:
    pdf = tmp_path / "b.pdf"
    render_pdf(compose_brief(service, acme), pdf)
    text = _pdf_text(pdf)
    for piece in ["Réunion", "Zürich", "東京", "会議", "☕"]:
        assert piece in text, f"{piece!r} did not render (is a CJK font installed? make installs one)"
    # Right-to-left text comes out in visual order; its letters are all there.
    assert set("שלוםעולם") <= set(text)
    assert LONG in _flat(text)  # wrapped, not cut off
    assert any(len(line) < len(LONG) for line in text.splitlines() if "verylongpath" in line)


def test_executive_summary_cites_only_the_briefs_facts(service: MemoryService, acme: int) -> None:
    def script(turns: Sequence[ChatTurn], settings: GenerationSettings) -> str:
        return (
            "Jane Doe leads marketing [F3]. The launch is on 1 March [F6]. "
            "Globex is merging [F1]. Something without a reference."
        )

    brief = compose_brief(service, acme, BriefOptions(summary=True), FakeModel(script))
    assert brief.executive_summary == "Jane Doe leads marketing [F3]. The launch is on 1 March [F6]."
    md = render_markdown(brief)
    assert "Generated by the model" in md and "[F3]" in md
    assert "Globex" not in md
    without = compose_brief(service, acme, BriefOptions(summary=True), None)
    assert without.executive_summary == "" and "Executive summary" not in render_markdown(without)
    # A base model would invent and cite the wrong facts: it is not asked, and why is told to the user, not the client.
    base = FakeModel(script)
    base.is_base_model = True
    skipped = compose_brief(service, acme, BriefOptions(summary=True), base)
    assert skipped.executive_summary == "" and base.prompts == []
    assert "base model" in skipped.notes[0] and "base model" not in render_markdown(skipped) + render_html(skipped)


def test_a_relative_date_typed_into_a_fact_is_placed_on_the_timeline_by_the_day_it_was_recorded(
    service: MemoryService,
) -> None:
    project = service.create_project("Acme").id
    freeze = service.add_fact(project, "Content freeze next Monday", "deadline")
    shoot = service.add_fact(project, "Photo shoot on 15 January 2027", "deadline")
    brief: Brief = compose_brief(service, project, BriefOptions(sections=(Section.TIMELINE,)))
    recorded = local_time(service.get_fact(freeze.id).updated_at).date()
    monday = recorded + timedelta(days=(7 - recorded.weekday()) % 7 or 7)
    assert [(f.ref, f.when) for f in brief.timeline] == [(f"F{freeze.id}", monday), (f"F{shoot.id}", date(2027, 1, 15))]


def test_a_brief_has_no_raw_chat_commands_or_inventions(service: MemoryService) -> None:
    from app.assistant.summaries import SessionSummarizer
    from app.portability.brief import SESSIONS_LABEL

    project = service.create_project("Acme").id
    service.add_fact(project, "Budget is 40k EUR")
    session = service.start_session(project, "Kick-off")
    for role, text in [
        ("user", "/remember Dana prefers calls on Mondays"),
        ("assistant", "Remembered as F2: Dana prefers calls on Mondays"),
        ("user", "What is the budget?"),
        ("assistant", "[F1] (decision) Budget is 50k EUR. We will launch in May with a big party."),
        ("user", "The launch moved to 3 June because of the audit."),
    ]:
        service.add_message(session.id, role, text)
    options = BriefOptions(sections=(Section.FACTS, Section.SESSIONS))
    for brief in (
        compose_brief(service, project, options),  # no stored summary: one is extracted for the brief
        # A model that repeats the assistant's invention: its summary is not kept.
        (
            SessionSummarizer(
                service, FakeModel(lambda t, s: "Budget is 50k EUR; the launch moved to 3 June.")
            ).summarize(session.id),
            compose_brief(service, project, options),
        )[1],
    ):
        text = render_markdown(brief) + render_html(brief)
        assert "3 June" in text and "40k EUR" in text and "Dana prefers calls on Mondays" in text
        for raw in ("50k", "/remember", "Remembered as", "(decision)", "big party", "What is the budget?"):
            assert raw not in text, raw
        assert SESSIONS_LABEL in render_markdown(brief)
    assert "50k" not in service.get_session(session.id).summary


def test_due_dates_are_read_from_text() -> None:
    recorded = date(2026, 11, 1)
    assert due_date("due 2027-03-01", recorded) == date(2027, 3, 1)
    assert due_date("report due on 14 September", recorded) == date(2027, 9, 14)
    assert due_date("by March 3, 2027", recorded) == date(2027, 3, 3)
    assert due_date("no date here", recorded) is None


def test_brief_command(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(
            ["--data-dir", str(tmp_path / "d"), *argv],
            out=out,
            err=err,
            open_service=lambda p, **options: MemoryService.open(p, embedder=embedder, **options),
            render_pdf=render_pdf_bytes,
        )
        return code, out.getvalue(), err.getvalue()

    run("project", "create", "Acme")
    run("fact", "add", "--project", "Acme", "--kind", "deadline", "Launch due 2027-03-01")
    for name in ("b.md", "b.html", "b.pdf"):
        code, out, _ = run("brief", "--project", "Acme", "-o", str(tmp_path / name))
        assert code == 0 and (tmp_path / name).stat().st_size > 0
    assert "Launchdue2027-03-01" in _flat(_pdf_text(tmp_path / "b.pdf"))
    assert run("brief", "--project", "Acme", "-o", str(tmp_path / "b.txt"))[0] == 2
    assert run("brief", "--project", "Acme", "-o", str(tmp_path / "c.md"), "--since", "yesterday")[0] == 2
    assert run("brief", "--project", "Acme", "-o", str(tmp_path / "c.md"), "--sections", "bogus")[0] == 2
    assert not (tmp_path / "c.md").exists()


def test_without_the_desktop_part_a_pdf_brief_is_refused_with_a_message(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    data = tmp_path / "bare"
    assert cli.main(["--data-dir", str(data), "project", "create", "Acme"], out=out, err=err) == 0
    code = cli.main(
        ["--data-dir", str(data), "brief", "--project", "Acme", "-o", str(tmp_path / "b.pdf")], out=out, err=err
    )
    assert code == 2 and "desktop part" in err.getvalue() and not (tmp_path / "b.pdf").exists()


def test_the_markdown_brief_reads_as_written_and_stays_data() -> None:
    """Only what Markdown would take for markup is escaped; a document title is data too."""
    readable = "R&D budget > 40k for the Q3_launch (C# team) | phase 2, 50% upfront!"
    planted = "Terms [click](https://evil.example) <img src=x> **now**"
    fact = BriefFact("F5", FactKind.FACT, readable, False, False, date(2026, 3, 9), source=f"{planted}, D2 p.3")
    brief = Brief("Acme #", "", datetime(2026, 3, 9, tzinfo=UTC), (Section.FACTS,), ((FactKind.FACT, (fact,)),))
    md = render_markdown(brief)
    assert f"- [F5] {readable} (from " in md  # the reference and the fact as typed
    from PySide6.QtGui import QTextDocument

    document = QTextDocument()
    document.setMarkdown(md)
    shown = document.toPlainText()
    assert "Acme #" in shown and readable in shown and planted in shown
    page = document.toHtml()
    assert "<img" not in page
    # A bare address may become a link, but no link hides where it goes behind other words.
    for target, words in re.findall(r'<a href="([^"]*)">(.*?)</a>', page):
        assert re.sub(r"<[^>]+>", "", words) == target


def test_a_password_kept_with_remember_never_reaches_the_brief(service: MemoryService) -> None:
    project = service.create_project("Harbourview", "Dental group; portal login is admin / Surf$Line77").id
    service.add_fact(project, "Flywheel staging password is Surf$Line77")
    service.add_fact(project, "The portal copy is due on 14 December 2026", "deadline")
    service.set_voice(project, tone="warm", style_do=["Sign off with the portal password Surf$Line77"])
    brief = compose_brief(service, project)
    text = render_markdown(brief) + render_html(brief)
    assert "Surf$Line77" not in text and "Surf\\\\$Line77" not in text
    assert "left out: a password or key" in text and "The portal copy is due on 14 December 2026" in text


def test_a_session_summary_giving_a_value_since_changed_is_marked_in_the_brief(service: MemoryService) -> None:
    """ "Our budget is 40k EUR" under a fact that now says 45k would read to the client as a contradiction."""
    project = service.create_project("Acme").id
    budget = service.add_fact(project, "Budget is 40k EUR excluding VAT.", "decision")
    launch = service.add_fact(project, "The launch is on 15 March 2027.", "deadline")
    kickoff = service.start_session(project, "Kick-off")
    service.add_message(
        kickoff.id, "user", "Our budget is 40,000 EUR excluding VAT and the launch is on 15 March 2027."
    )
    service.set_session_summary(kickoff.id, "Budget agreed at 40,000 EUR; launch on 15 March 2027.")
    later = service.start_session(project, "Photos")
    service.add_message(later.id, "user", "The warehouse photos are reshot in Rotterdam on 2 February.")
    service.set_session_summary(later.id, "Warehouse photos reshot in Rotterdam on 2 February.")
    service.edit_fact(budget.id, text="Budget is 45k EUR excluding VAT.")
    brief = compose_brief(service, project, BriefOptions(sections=(Section.FACTS, Section.SESSIONS)))
    marked = {s.title: s.since_changed for s in brief.sessions}
    assert marked == {"Kick-off": ((f"F{budget.id}", "Budget is 45k EUR excluding VAT."),), "Photos": ()}
    note = f"Since changed: F{budget.id} now reads “Budget is 45k EUR excluding VAT.”."
    assert note in render_markdown(brief) and "Since changed: F" in render_html(brief)
    assert f"F{launch.id} now reads" not in render_markdown(brief)  # unchanged facts are not named
