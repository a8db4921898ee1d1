"""Project documents end to end below the window: real files added, cited by page, watched, proposed, briefed."""

from __future__ import annotations

import os
from email.message import EmailMessage
from pathlib import Path

import pytest

from app.assistant.citations import context_chunks, find_citations
from app.assistant.extraction import MemoryExtractor, inbox_entries
from app.documents.facts import propose_from_document
from app.documents.library import (
    READER,
    add_files,
    outdated_documents,
    reindex_document,
    reread_documents,
    sync_folder,
    watch_folder,
)
from app.documents.parsing import DocumentRefused
from app.portability.brief import BriefOptions, compose_brief, render_html, render_markdown
from memory import DocumentAction, DocumentStatus, FactSource, HitKind, MemoryService, SearchMode
from tests.conftest import Run
from tests.document_files import qt_pdf, word_file
from tests.fakes import FakeModel

LIMIT = 200 * 1024 * 1024

CONTRACT_PAGES = [
    ["Services agreement between Acme GmbH and Northwind Consulting.", "Signed in Zurich."],
    ["Fees. The monthly retainer is 4,800 euros.", "Invoices are payable within 30 days."],
    ["Termination. Either party may end this agreement", "with sixty days written notice."],
]


@pytest.fixture
def files(tmp_path: Path, qapp: object) -> dict[str, Path]:
    folder = tmp_path / "client files"
    folder.mkdir()
    made = {
        "contract": folder / "contract.pdf",
        "sow": folder / "statement of work.docx",
        "notes": folder / "kickoff notes.md",
        "mail": folder / "budget.eml",
    }
    made["contract"].write_bytes(qt_pdf(CONTRACT_PAGES, title="Services agreement"))

    def sow(document: object) -> None:
        document.add_heading("Statement of work", 0)  # type: ignore[attr-defined]
        document.add_heading("Deliverables", 1)  # type: ignore[attr-defined]
        document.add_paragraph("A brand guide and twelve social media templates.")  # type: ignore[attr-defined]

    made["sow"].write_bytes(word_file(sow))
    made["notes"].write_text("# Kickoff\n\nDana Whitfield prefers a call on Mondays before 10.\n", "utf-8")
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Dana <dana@acme.example>", "me@example.com", "Budget for 2027"
    mail.set_content("The budget for 2027 is approved at 52,000 euros.")
    mail.add_attachment(
        b"Appendix: the print run is 5,000 copies.", maintype="text", subtype="plain", filename="appendix.txt"
    )
    made["mail"].write_bytes(mail.as_bytes())
    return made


def test_real_files_are_added_cited_by_page_and_bad_ones_named(
    service: MemoryService, files: dict[str, Path], tmp_path: Path
) -> None:
    project = service.create_project("Acme")
    scanned = tmp_path / "scan.pdf"
    scanned.write_bytes(qt_pdf([[]], rectangle_only=True))
    broken = tmp_path / "broken.docx"
    broken.write_bytes(b"not a zip at all")
    big = tmp_path / "huge.txt"
    big.write_bytes(b"x" * 2048)
    before = service.stats()
    report = add_files(
        service,
        project.id,
        [files["contract"], scanned, files["sow"], broken, tmp_path, files["notes"], files["mail"]],
        max_bytes=LIMIT,
    )
    assert sorted(d.filename for d in report.added) == [
        "appendix.txt",
        "budget.eml",
        "contract.pdf",
        "kickoff notes.md",
        "statement of work.docx",
    ]
    failed = dict(report.failed)
    assert "scanned" in failed["scan.pdf"] and "OCR" in failed["scan.pdf"]
    assert "not a Word document" in failed["broken.docx"] or "damaged" in failed["broken.docx"]
    assert "folder" in failed[tmp_path.name]
    assert "3 not added" in report.summary()
    assert service.stats()["documents"] == before["documents"] + 5

    # Keyword search answers before any vector exists, with the page the words are on.
    hit = service.search(project.id, "retainer euros", mode=SearchMode.BM25)[0]
    assert (hit.kind, hit.citation) == (HitKind.CHUNK, "D1 p.2")
    assert service.wait_for_index(120)
    context = service.build_context(project.id, "How long is the notice period to terminate?", 1000)
    assert context.items[0].citation == "D1 p.3"

    too_big = add_files(service, project.id, [big], max_bytes=1024)
    assert too_big.added == [] and "limit" in too_big.failed[0][1]
    again = add_files(service, project.id, [files["notes"]], max_bytes=LIMIT)
    assert again.added == [] and again.duplicates == [("kickoff notes.md", "D3")]


def test_a_cancelled_batch_keeps_what_was_added_and_stops(service: MemoryService, files: dict[str, Path]) -> None:
    project = service.create_project("Acme")
    seen: list[str] = []
    report = add_files(
        service,
        project.id,
        [files["notes"], files["contract"], files["sow"]],
        max_bytes=LIMIT,
        progress=lambda p: seen.append(p.current),
        cancelled=lambda: len(seen) >= 1,
    )
    assert report.cancelled and [d.filename for d in report.added] == ["kickoff notes.md"]
    assert [d.filename for d in service.list_documents(project.id)] == ["kickoff notes.md"]


def test_a_watched_folder_follows_new_changed_and_deleted_files(
    service: MemoryService, files: dict[str, Path], tmp_path: Path
) -> None:
    project = service.create_project("Acme")
    folder = watch_folder(service, project.id, files["notes"].parent)
    outside = tmp_path / "outside.md"
    outside.write_text("# Secret\n\nNot for this project: the password list.\n", "utf-8")
    os.symlink(outside, files["notes"].parent / "link.md")
    first = sync_folder(service, folder, max_bytes=LIMIT)
    assert sorted(d.filename for d in first.added) == [
        "appendix.txt",
        "budget.eml",
        "contract.pdf",
        "kickoff notes.md",
        "statement of work.docx",
    ]
    assert not [h for h in service.search(project.id, "password list", mode=SearchMode.BM25) if h.citation]
    assert sync_folder(service, folder, max_bytes=LIMIT).touched is False
    # A copy of a document the project holds is said to be there, not read again nor met with silence.
    (files["notes"].parent / "copy of notes.md").write_bytes(files["notes"].read_bytes())
    copied = sync_folder(service, folder, max_bytes=LIMIT)
    notes = next(d for d in first.added if d.filename == "kickoff notes.md")
    assert not copied.touched and [(name, d.id) for name, d in copied.already] == [("copy of notes.md", notes.id)]
    assert f"already in the project: copy of notes.md (as {notes.key})" in copied.summary()
    (files["notes"].parent / "copy of notes.md").unlink()

    files["notes"].write_text("# Kickoff\n\nDana Whitfield now prefers e-mail to calls.\n", "utf-8")
    files["sow"].unlink()
    second = sync_folder(service, folder, max_bytes=LIMIT)
    assert [d.filename for d in second.changed] == ["kickoff notes.md"]
    assert [d.filename for d in second.removed] == ["statement of work.docx"]
    texts = [h.text for h in service.search(project.id, "Dana prefers", mode=SearchMode.BM25) if h.citation]
    assert any("e-mail" in t for t in texts) and not any("Mondays" in t for t in texts)
    removed = second.removed[0]
    assert service.get_document(removed.id).status is DocumentStatus.REMOVED
    history = service.document_history(removed.id)
    assert history[-1].action is DocumentAction.REMOVED and "watched folder" in history[-1].detail

    # An unmounted drive is not the deletion of every file on it.
    files["notes"].parent.rename(tmp_path / "moved")
    gone = sync_folder(service, folder, max_bytes=LIMIT)
    assert not gone.touched and "nothing was changed" in gone.failed[0][1]
    assert len(service.list_documents(project.id)) == 4


def test_dossiers_own_data_folder_cannot_be_watched(service: MemoryService) -> None:
    project = service.create_project("Acme")
    with pytest.raises(DocumentRefused, match="Dossier's own data"):
        watch_folder(service, project.id, service.data_dir)


def test_reindex_reads_the_kept_original_again(service: MemoryService, files: dict[str, Path]) -> None:
    project = service.create_project("Acme")
    document = add_files(service, project.id, [files["contract"]], max_bytes=LIMIT).added[0]
    files["contract"].unlink()  # the user's copy is gone; the kept one is enough
    again = reindex_document(service, document.id)
    assert again.chunk_count == document.chunk_count
    assert service.document_history(document.id)[-1].action is DocumentAction.REINDEXED
    assert service.search(project.id, "sixty days notice", mode=SearchMode.BM25)[0].citation == "D1 p.3"


def test_citations_are_checked_against_the_answers_context(service: MemoryService, files: dict[str, Path]) -> None:
    project = service.create_project("Acme")
    add_files(service, project.id, [files["contract"]], max_bytes=LIMIT)
    context = service.build_context(project.id, "monthly retainer fee", 1000, mode=SearchMode.BM25)
    given = context_chunks(service, [item.key for item in context.items])
    answer = "The retainer is 4,800 euros [D1, p. 2]; see also [D1 p.9] and [D7 §2; D1 p.2]."
    found = find_citations(answer, given)
    assert [(c.key, c.valid) for c in found] == [
        ("D1 p.2", True),
        ("D1 p.9", False),
        ("D7 §2", False),
        ("D1 p.2", True),
    ]
    assert answer[found[0].start : found[0].end] == "[D1, p. 2]"
    assert found[0].chunk is not None and "4,800" in found[0].chunk.text
    # The forms models write are all checked, not only the exact one.
    loose = find_citations("[d1 page 2] [D1 pp. 2–3] [D1, p.2-2]", given)
    assert [(c.key, c.valid) for c in loose] == [
        ("D1 p.2", True),
        ("D1 p.2", True),
        ("D1 p.3", False),
        ("D1 p.2", True),
    ]


def test_facts_proposed_from_a_document_carry_its_page_into_the_inbox_and_the_brief(
    service: MemoryService, files: dict[str, Path]
) -> None:
    project = service.create_project("Acme")
    document = add_files(service, project.id, [files["contract"]], max_bytes=LIMIT).added[0]
    instructed = FakeModel(lambda turns, settings: '{"facts": [{"text": "Invoices are payable within 30 days"}]}')
    learning = propose_from_document(MemoryExtractor(service, instructed), document.id)
    proposals = service.list_proposals(project.id)
    assert proposals and all(p.source_document_id == document.id for p in proposals)
    by_text = {p.text: p for p in proposals}
    assert by_text["The monthly retainer is 4,800 euros."].source_location == "p.2"
    assert "Invoices are payable within 30 days" in by_text
    assert "proposals in the inbox" in learning.summary()
    entry = next(e for e in inbox_entries(service, project.id) if "4,800" in e.change)
    assert entry.source == "Services agreement (D1 p.2)"

    fact = service.accept_proposal(by_text["The monthly retainer is 4,800 euros."].id)
    assert fact is not None and fact.source is FactSource.DOCUMENT
    brief = compose_brief(service, project.id, BriefOptions())
    markdown, html = render_markdown(brief), render_html(brief)
    assert "from Services agreement, D1 p.2" in markdown and "from Services agreement, D1 p.2" in html
    assert "## Documents" in markdown and "contract.pdf, 3 pages" in markdown


def test_the_cli_manages_documents_with_clear_messages(run: Run, files: dict[str, Path], tmp_path: Path) -> None:
    run("project", "create", "Acme")
    run("project", "create", "Globex")
    code, out, err = run("doc", "add", "--project", "Acme", str(files["contract"]), str(tmp_path / "nope.pdf"))
    assert code == 2 and "Added 1 document (3 pages)" in out and "nope.pdf: not found" in out
    assert "Traceback" not in out + err
    code, out, _ = run("doc", "list", "--project", "Acme")
    assert code == 0 and "D1" in out and "Services agreement" in out and "3 p." in out
    code, out, _ = run("doc", "show", "D1")
    assert code == 0 and "[D1 p.2]" in out and "added" in out
    code, out, _ = run("search", "--project", "Acme", "monthly retainer")
    assert code == 0 and "[D1 p.2] Services agreement" in out
    code, out, err = run("doc", "remove", "D1", "--project", "Globex")
    assert code == 2 and "not a document of Globex" in out + err
    code, out, err = run("doc", "show", "D99")
    assert code == 2 and "No document 99" in out + err
    code, out, _ = run("doc", "propose", "D1", "--no-model")
    assert code == 0 and "in the inbox" in out
    code, out, _ = run("doc", "watch", "--project", "Acme", str(files["notes"].parent))
    assert code == 0 and "Watching W1" in out and "4 added" in out  # contract.pdf is already D1
    code, out, _ = run("doc", "reindex", "all", "--project", "Acme")  # after an update that reads documents better
    assert code == 0 and out.count("Re-read D") == 5 and "Re-read D1 Services agreement" in out
    assert run("doc", "reindex", "all")[0] == 2  # which project's?
    code, out, _ = run("doc", "remove", "D1")
    assert code == 0 and "Removed D1" in out
    code, out, _ = run("doc", "list", "--project", "Acme", "--all")
    assert "removed" in out
    code, out, err = run("doc", "propose", "D1", "--no-model")
    assert code == 2 and "was removed: there is nothing left to read" in err


def test_an_answer_citing_a_document_lists_its_sources_checked(service: MemoryService, files: dict[str, Path]) -> None:
    import io

    from app.assistant.conversation import ConversationFlow
    from cli.commands import _print_sources

    project = service.create_project("Acme")
    add_files(service, project.id, [files["contract"]], max_bytes=LIMIT)
    assert service.wait_for_index(120)
    model = FakeModel(lambda turns, settings: "The retainer is 4,800 euros [D1 p.2], payable in 30 days [D1 p.7].")
    flow = ConversationFlow(service, model)
    try:
        result = flow.ask(service.start_session(project.id).id, "What is the monthly retainer?")
    finally:
        flow.close()
    prompt = model.rendered()
    assert "[D1 p.2] (Services agreement) Fees. The monthly retainer is 4,800 euros." in prompt
    assert "cite it with its key" in prompt
    out = io.StringIO()
    _print_sources(service, result, out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Sources:"
    assert lines[1].startswith("  [D1 p.2] Services agreement (contract.pdf): “Fees. The monthly retainer")
    assert lines[2] == "  [D1 p.7] not a source: that passage was not in this answer's memory"


def test_proposals_read_from_documents_never_replace_each_other(service: MemoryService, tmp_path: Path) -> None:
    project = service.create_project("Acme")
    notes = tmp_path / "notes.md"
    notes.write_text("# Steering\n\nThe baseline report is now due on 7 May 2025 instead of 30 April.\n", "utf-8")
    sow = tmp_path / "sow.md"
    sow.write_text(
        "# Milestones\n\nThe client provides 24 months of data by 28 March 2025.\n\n"
        "The workshop report is delivered by 11 April 2025.\n",
        "utf-8",
    )
    first, second = add_files(service, project.id, [notes, sow], max_bytes=LIMIT).added
    extractor = MemoryExtractor(service)
    propose_from_document(extractor, first.id)
    propose_from_document(extractor, second.id)
    pending = service.list_proposals(project.id)
    assert any("7 May 2025" in p.text for p in pending)
    assert sum("2025" in p.text for p in pending) == 3
    assert not any("replaces" in p.reason for p in pending)
    assert service.list_proposals(project.id, status="rejected") == []


def test_copies_made_for_viewing_do_not_pile_up(service: MemoryService, files: dict[str, Path]) -> None:
    import tempfile
    import time as clock

    from app.documents.library import OPEN_COPY_HOURS, copy_to_open

    project = service.create_project("Acme")
    document = add_files(service, project.id, [files["notes"]], max_bytes=LIMIT).added[0]
    old = copy_to_open(service, document.id)
    stale = clock.time() - (OPEN_COPY_HOURS + 1) * 3600
    os.utime(old.parent, (stale, stale))
    fresh = copy_to_open(service, document.id)
    assert fresh.read_text("utf-8").startswith("# Kickoff") and not old.parent.exists()
    assert fresh.parent.parent == Path(tempfile.gettempdir())


def test_a_watched_folder_swapped_for_a_link_or_a_file_swapped_for_one_is_not_followed(
    service: MemoryService, files: dict[str, Path], tmp_path: Path
) -> None:
    from app.documents.parsing import parse_file

    acme, beta = service.create_project("Acme"), service.create_project("Beta")
    secret = tmp_path / "alpha.md"
    secret.write_text("# Alpha\n\nThe merger code is PINEAPPLE-42.\n", "utf-8")
    add_files(service, acme.id, [secret], max_bytes=LIMIT)
    watched = tmp_path / "beta files"
    watched.mkdir()
    (watched / "note.txt").write_text("A harmless note for Beta.", "utf-8")
    folder = watch_folder(service, beta.id, watched)
    assert len(sync_folder(service, folder, max_bytes=LIMIT).added) == 1

    # The folder itself replaced by a link to Dossier's data: nothing is synced, nothing removed.
    watched.rename(tmp_path / "moved")
    os.symlink(service.data_dir, watched)
    report = sync_folder(service, folder, max_bytes=LIMIT)
    assert not report.touched and "leads elsewhere" in report.failed[0][1]
    assert [d.filename for d in service.list_documents(beta.id)] == ["note.txt"]

    # A file listed as plain, then swapped for a link to another project's kept original.
    os.unlink(watched)
    (tmp_path / "moved").rename(watched)
    kept = service.document_original(service.list_documents(acme.id)[0].id)
    os.symlink(kept, watched / "swapped.md")
    with pytest.raises(DocumentRefused, match="link"):
        parse_file(watched / "swapped.md", max_bytes=LIMIT, inside=watched)
    sync_folder(service, folder, max_bytes=LIMIT)
    for mode in SearchMode:
        assert not [h for h in service.search(beta.id, "merger code PINEAPPLE", mode=mode) if "PINEAPPLE" in h.text]


def test_a_documents_logins_never_reach_the_inbox_and_its_removal_takes_its_proposals(
    service: MemoryService, tmp_path: Path
) -> None:
    project = service.create_project("Acme")
    access = tmp_path / "access.md"
    access.write_text(
        "# Access\n\n| System | User | Password | Notes |\n| --- | --- | --- | --- |\n"
        "| Acme VPN | dana.kim@acme.example | Tr0ub4dor-2026 | renewed on 3 March 2026 |\n"
        "| Jira Cloud | consultant@acme.example | Blue-Horse-77 | shared with Sam since May 2025 |\n\n"
        "# Milestones\n\nThe workshop report is delivered by 11 April 2025.\n",
        "utf-8",
    )
    [document] = add_files(service, project.id, [access], max_bytes=LIMIT).added
    propose_from_document(MemoryExtractor(service), document.id)
    pending = service.list_proposals(project.id)
    assert [p.text for p in pending] == ["The workshop report is delivered by 11 April 2025."]
    # Removed, the document takes what was read from it and never accepted.
    service.remove_document(document.id)
    assert service.list_proposals(project.id, status=None) == []


def test_a_long_document_proposes_its_strongest_sentences_wherever_they_are_and_no_definitions(
    service: MemoryService, tmp_path: Path
) -> None:
    project = service.create_project("Acme")
    contract = tmp_path / "contract.md"
    preamble = "\n\n".join(
        f"# Clause {n}\n\nThe Agency keeps the Client informed about the work on the brand in Clause {n}."
        for n in range(1, 30)
    )
    contract.write_text(
        "# Statement of Work 2026 between Acme Retail and Studio North\n\n"
        "# Definitions\n\n"
        "'Services' means the branding work described in Schedule 1, delivered from 3 March 2026.\n\n"
        "“Effective Date” means 1 March 2026.\n\n"
        f"{preamble}\n\n"
        "# Fees\n\nThe Client pays a monthly retainer of 4,800 euros, invoiced on 1 April 2026.\n\n"
        "# Delivery\n\nThe Agency delivers the final logo files to Dana Kim by 14 May 2026.\n",
        "utf-8",
    )
    [document] = add_files(service, project.id, [contract], max_bytes=LIMIT).added
    assert len(service.document_chunks(document.id)) > 5
    propose_from_document(MemoryExtractor(service), document.id, limit=2)
    assert sorted(p.text for p in service.list_proposals(project.id)) == [
        "The Agency delivers the final logo files to Dana Kim by 14 May 2026.",
        "The Client pays a monthly retainer of 4,800 euros, invoiced on 1 April 2026.",
    ]


def test_documents_an_older_version_read_are_read_again_and_the_cli_says_how(
    run: Run, data_dir: Path, embedder: object, files: dict[str, Path]
) -> None:
    run("project", "create", "Acme")
    with MemoryService.open(data_dir, embedder=embedder) as service:  # type: ignore[arg-type]
        [document] = add_files(service, 1, [files["contract"]], max_bytes=LIMIT).added
        assert document.reader == READER and outdated_documents(service, 1) == []
        exported = service.export_project(1)
        assert exported["documents"][0]["reader"] == READER
        # As a database from before readers were recorded (the migration gives them 0).
        with service._engines.writer.begin() as conn:
            conn.exec_driver_sql("UPDATE documents SET reader = 0")
        del exported["documents"][0]["reader"]  # and an export from before: optional, read as 0
        copy = service.import_project(exported, as_project="Acme (copy)")
        assert [d.reader for d in service.list_documents(copy.id)] == [0]
    code, out, _ = run("doc", "list", "--project", "Acme")
    assert code == 0 and "1 read by an older version" in out and "doc reindex all --project Acme" in out
    with MemoryService.open(data_dir, embedder=embedder) as service:  # type: ignore[arg-type]
        [old] = outdated_documents(service, 1)
        report = reread_documents(service, [old])
        assert [d.reader for d in report.added] == [READER] and not report.failed
        assert outdated_documents(service, 1) == []
        assert service.search(1, "monthly retainer", mode=SearchMode.BM25)[0].citation == "D1 p.2"
    code, out, _ = run("doc", "list", "--project", "Acme")
    assert code == 0 and "older version" not in out
