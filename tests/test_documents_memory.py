"""Project documents in the memory service: kept, searchable at once, cited, removable, isolated."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from memory import (
    ConflictError,
    DocumentAction,
    DocumentStatus,
    FactSource,
    HitKind,
    InvalidInputError,
    MemoryService,
    NewChunk,
    NewDocument,
    NotFoundError,
    ProposalAction,
    SearchMode,
)
from memory.embedding import MiniLMEmbedder

PAGES = [
    "The retainer fee is 4,800 euros per month, invoiced on the first working day.",
    "Late payment: invoices unpaid after 30 days carry interest of 1.5 percent monthly.",
    "Either party may end the agreement with sixty days written notice to the other.",
]


def contract(pages: list[str] = PAGES, original: bytes = b"%PDF-1.7 contract bytes") -> NewDocument:
    """A three-page document as the app's parser would hand it over: one chunk per page."""
    text = "\n\n".join(pages)
    chunks, start = [], 0
    for n, page in enumerate(pages):
        chunks.append(NewChunk(n, page, start, start + len(page), page=n + 1, section=1, heading_path="Terms"))
        start += len(page) + 2
    return NewDocument(
        filename="contract.pdf",
        title="Services contract",
        media_type="application/pdf",
        original=original,
        text=text,
        chunks=tuple(chunks),
        pages=len(pages),
    )


def test_a_document_is_searchable_by_keyword_at_once_and_cited_by_page(service: MemoryService) -> None:
    project = service.create_project("Acme")
    document = service.add_document(project.id, contract())
    assert (document.key, document.pages, document.chunk_count, document.status) == (
        "D1",
        3,
        3,
        DocumentStatus.ACTIVE,
    )
    hits = service.search(project.id, "late payment interest", mode=SearchMode.BM25)
    assert hits[0].kind is HitKind.CHUNK
    assert hits[0].citation == f"D{document.id} p.2"
    assert "1.5 percent" in hits[0].text
    assert hits[0].source_title == "Services contract › Terms"

    assert service.wait_for_index(60)
    hits = service.search(project.id, "how much notice do we need to give to terminate", mode=SearchMode.VECTOR)
    assert hits[0].citation == f"D{document.id} p.3"
    context = service.build_context(project.id, "What is the monthly retainer?", 1000)
    cited = [item for item in context.items if item.citation]
    assert cited[0].citation == f"D{document.id} p.1"
    assert f"[D{document.id} p.1] (Services contract › Terms) The retainer fee is 4,800 euros" in context.text


def test_the_original_is_kept_private_and_the_same_content_is_refused_twice(service: MemoryService) -> None:
    project = service.create_project("Acme")
    document = service.add_document(project.id, contract())
    original = service.document_original(document.id)
    assert original.read_bytes() == b"%PDF-1.7 contract bytes"
    assert original.suffix == ".pdf" and original.stem == document.sha256
    assert stat.S_IMODE(original.stat().st_mode) == 0o600
    assert stat.S_IMODE(original.parent.parent.stat().st_mode) == 0o700
    with pytest.raises(ConflictError, match="already in this project as 'Services contract' \\(D1\\)"):
        service.add_document(project.id, contract())
    assert len(service.list_documents(project.id)) == 1
    other = service.create_project("Globex")
    assert service.add_document(other.id, contract()).id == 2  # another project may hold the same file


def test_chunks_that_do_not_match_the_text_store_nothing(service: MemoryService) -> None:
    project = service.create_project("Acme")
    good = contract()
    bad_offsets = NewDocument(**{**good.__dict__, "chunks": (NewChunk(0, "x", 0, 10_000, page=1),)})
    bad_page = NewDocument(**{**good.__dict__, "chunks": (NewChunk(0, "x", 0, 5, page=9),)})
    for bad in (bad_offsets, bad_page, NewDocument(**{**good.__dict__, "text": "  "})):
        with pytest.raises(InvalidInputError):
            service.add_document(project.id, bad)
    assert service.list_documents(project.id, include_removed=True) == []
    assert not any((service.data_dir / "documents").rglob("*.pdf"))


def test_removing_a_document_takes_it_out_of_search_and_keeps_its_history(service: MemoryService) -> None:
    project = service.create_project("Acme")
    document = service.add_document(project.id, contract())
    original = service.document_original(document.id)
    assert service.wait_for_index(60)
    removed = service.remove_document(document.id)
    assert removed.status is DocumentStatus.REMOVED and removed.removed_at is not None
    for mode in SearchMode:
        assert not [h for h in service.search(project.id, "retainer fee euros", mode=mode) if h.kind is HitKind.CHUNK]
    assert not original.exists()
    assert [e.action for e in service.document_history(document.id)] == [DocumentAction.ADDED, DocumentAction.REMOVED]
    assert service.list_documents(project.id) == []
    assert [d.id for d in service.list_documents(project.id, include_removed=True)] == [document.id]
    with pytest.raises(NotFoundError, match="was removed"):
        service.document_original(document.id)
    assert service.reconcile().removed == 0  # the vectors went with the chunks


def test_a_document_removed_from_the_wrong_client_leaves_nothing_of_its_words_in_that_clients_export(
    service: MemoryService,
) -> None:
    right, wrong = service.create_project("Acme"), service.create_project("Borealis")
    service.add_document(right.id, contract())
    misfiled = service.add_document(wrong.id, contract())  # the same file, given to the wrong client too
    service.remove_document(misfiled.id)
    assert service.document_text(misfiled.id) == ""
    exported = service.export_project(wrong.id)
    [entry] = exported["documents"]
    assert entry["status"] == "removed" and entry["text"] == "" and entry["original_base64"] is None
    assert "retainer" not in json.dumps(exported).casefold()
    assert "retainer" in json.dumps(service.export_project(right.id)).casefold()  # Acme's copy is untouched


def test_a_changed_document_answers_with_its_new_text_only(service: MemoryService) -> None:
    project = service.create_project("Acme")
    document = service.add_document(project.id, contract())
    changed = contract([PAGES[0].replace("4,800", "5,200"), *PAGES[1:]], original=b"%PDF-1.7 amended")
    service.replace_document(document.id, changed)
    assert service.wait_for_index(60)
    texts = [h.text for h in service.search(project.id, "retainer fee per month") if h.kind is HitKind.CHUNK]
    assert any("5,200" in t for t in texts) and not any("4,800" in t for t in texts)
    assert [e.action for e in service.document_history(document.id)][-1] is DocumentAction.CHANGED
    assert service.document_original(document.id).read_bytes() == b"%PDF-1.7 amended"


def test_no_passage_of_one_project_reaches_another(service: MemoryService) -> None:
    acme, globex = service.create_project("Acme"), service.create_project("Globex")
    service.add_document(acme.id, contract())
    assert service.wait_for_index(60)
    for mode in SearchMode:
        assert not [h for h in service.search(globex.id, "retainer fee late payment notice", mode=mode) if h.citation]
    assert "retainer" not in service.build_context(globex.id, "retainer fee late payment", 1000).text


def test_a_fact_proposed_from_a_document_keeps_its_page(service: MemoryService) -> None:
    acme, globex = service.create_project("Acme"), service.create_project("Globex")
    document = service.add_document(acme.id, contract())
    proposal = service.propose(
        acme.id, ProposalAction.ADD, "Retainer is 4,800 euros a month", source_document=(document.id, "p.1")
    )
    assert (proposal.source_document_id, proposal.source_location) == (document.id, "p.1")
    fact = service.accept_proposal(proposal.id)
    assert fact is not None
    assert (fact.source, fact.source_document_id, fact.source_location) == (FactSource.DOCUMENT, document.id, "p.1")
    with pytest.raises(InvalidInputError, match="another project"):
        service.propose(globex.id, ProposalAction.ADD, "Leaked", source_document=(document.id, "p.1"))


def test_a_kill_before_the_vectors_loses_nothing(data_dir: Path, embedder: MiniLMEmbedder) -> None:
    with MemoryService.open(data_dir, embedder=embedder) as service:
        project = service.create_project("Acme")
        service._background.close()  # as if the process died before embedding
        service.add_document(project.id, contract())
        assert service.get_document(1).chunks_pending == 3
    with MemoryService.open(data_dir, embedder=embedder) as service:
        assert service.last_repair is not None and service.last_repair.embedded == 3
        assert service.get_document(1).chunks_pending == 0
        hits = service.search(project.id, "ending the agreement", mode=SearchMode.VECTOR)
        assert hits[0].citation == "D1 p.3"


def test_a_planted_symlink_where_an_original_goes_is_replaced_not_followed(
    service: MemoryService, tmp_path: Path
) -> None:
    project = service.create_project("Acme")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    document = contract()
    from memory.documents import original_path, sha256_of

    target = original_path(service.data_dir, sha256_of(document.original), document.media_type)
    target.parent.mkdir(parents=True)
    os.symlink(victim, target)
    service.add_document(project.id, document)
    assert victim.read_text() == "keep me"
    assert not target.is_symlink() and target.read_bytes() == document.original


def _without_time(document: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in document.items() if k != "exported_at"}


def test_export_and_import_carry_documents_losslessly(
    service: MemoryService, tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    project = service.create_project("Acme")
    kept = service.add_document(project.id, contract())
    gone = service.add_document(project.id, contract(["Superseded draft terms."], original=b"old draft"))
    service.remove_document(gone.id)
    proposal = service.propose(project.id, ProposalAction.ADD, "Retainer 4,800", source_document=(kept.id, "p.1"))
    service.accept_proposal(proposal.id)
    exported = service.export_project(project.id)
    assert exported["version"] == 2
    assert [d["status"] for d in exported["documents"]] == ["active", "removed"]
    assert exported["documents"][1]["original_base64"] is None

    with MemoryService.open(tmp_path / "other", embedder=embedder) as other:
        imported = other.import_project(exported)
        again = other.export_project(imported.id)
        assert _without_time(again) == _without_time(exported)
        document = other.list_documents(imported.id)[0]
        assert other.document_original(document.id).read_bytes() == b"%PDF-1.7 contract bytes"
        assert other.wait_for_index(60)
        hits = other.search(imported.id, "interest on late invoices", mode=SearchMode.VECTOR)
        assert hits[0].citation == f"D{document.id} p.2"
        fact = other.list_facts(imported.id)[0]
        assert (fact.source_document_id, fact.source_location) == (document.id, "p.1")


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["documents"][0].update(original_base64="QUJD"), "original_base64"),
        (lambda d: d["documents"][0].update(original_base64="not base64!"), "original_base64"),
        (lambda d: d["documents"][0]["chunks"][0].update(end=10**6), "chunks[0]"),
        (lambda d: d["documents"][0]["chunks"][0].update(page=99), "chunks[0]"),
        (lambda d: d["documents"][0].update(status="removed", chunks=[]), "original_base64"),
        (lambda d: d["documents"][0].update(size=7), "size"),
        (lambda d: d["documents"][0].update(filename="Contract\u202efdp.hta"), "filename"),
        (lambda d: d["documents"][0].update(media_type="application/hta"), "media_type"),
        (lambda d: d["documents"][0].update(pages=2**64), "pages"),
        (lambda d: d["documents"].append({**d["documents"][0], "ref": 2, "chunks": []}), "documents[1]"),
        (lambda d: d["facts"].append({"text": "x", "source_document_ref": 7}), "source_document_ref"),
    ],
)
def test_a_forged_document_in_an_export_is_refused_and_stores_nothing(
    service: MemoryService, mutate: object, path: str
) -> None:
    project = service.create_project("Acme")
    service.add_document(project.id, contract())
    exported = service.export_project(project.id)
    mutate(exported)  # type: ignore[operator]
    from memory import ImportFormatError

    with pytest.raises(ImportFormatError) as error:
        service.import_project(exported, as_project="Forged")
    assert path in str(error.value)
    assert [p.name for p in service.list_projects()] == ["Acme"]


def test_passages_that_did_not_change_keep_their_ids_through_a_change_or_a_reread(service: MemoryService) -> None:
    project = service.create_project("Acme")
    document = service.add_document(project.id, contract())
    before = {c.text: c.id for c in service.document_chunks(document.id)}
    changed = contract([PAGES[0], PAGES[1].replace("30 days", "45 days"), PAGES[2]], original=b"%PDF amended")
    service.replace_document(document.id, changed)
    after = {c.text: c.id for c in service.document_chunks(document.id)}
    assert after[PAGES[0]] == before[PAGES[0]] and after[PAGES[2]] == before[PAGES[2]]
    assert PAGES[1] not in after and after[changed.chunks[1].text] not in before.values()
    assert [c.ordinal for c in service.document_chunks(document.id)] == [0, 1, 2]
    assert service.get_document(document.id).chunk_count == 3
    assert service.wait_for_index(60)
    assert service.reconcile().removed == 0
    hits = service.search(project.id, "interest on invoices unpaid after 45 days", mode=SearchMode.VECTOR)
    assert hits[0].citation == f"D{document.id} p.2" and "45 days" in hits[0].text


def test_a_proposal_filed_by_another_tool_says_so_in_the_inbox_and_the_export(
    service: MemoryService, tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    from app.assistant.extraction import inbox_entries

    project = service.create_project("Acme")
    proposal = service.propose(
        project.id, ProposalAction.ADD, "Jane prefers calls", reason="said in Cursor", origin="mcp:Cursor"
    )
    assert proposal.origin == "mcp:Cursor"
    assert inbox_entries(service, project.id)[0].source == "via MCP, from Cursor"
    exported = service.export_project(project.id)
    assert exported["proposals"][0]["origin"] == "mcp:Cursor"
    with MemoryService.open(tmp_path / "other", embedder=embedder) as other:
        imported = other.import_project(exported)
        assert other.list_proposals(imported.id)[0].origin == "mcp:Cursor"
    with pytest.raises(InvalidInputError, match="Origin"):
        service.propose(project.id, ProposalAction.ADD, "x y z", origin="mcp:\x07bell")


def test_a_kept_original_changed_or_linked_in_the_data_folder_is_never_passed_on(
    service: MemoryService, tmp_path: Path
) -> None:
    from app.portability.backup import create_backup

    project = service.create_project("Acme")
    document = service.add_document(project.id, contract())
    kept = service.document_original(document.id)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / kept.name).write_bytes(b"SSH PRIVATE KEY")
    # The kept original's folder replaced by a link to a folder elsewhere holding a file of that name.
    folder = kept.parent
    folder.rename(tmp_path / "moved")
    os.symlink(outside, folder)
    with pytest.raises(NotFoundError, match="missing or was changed"):
        service.document_original(document.id)
    assert service.export_project(project.id)["documents"][0]["original_base64"] is None
    info = create_backup(service, tmp_path / "settings.json", tmp_path / "backup.zip")
    assert not [name for name in info.files if name.startswith("documents/")]
    service.remove_document(document.id)
    assert (outside / kept.name).read_bytes() == b"SSH PRIVATE KEY"  # nothing deleted through the link


def test_a_documents_forged_hash_never_names_a_file_outside_the_originals(
    service: MemoryService, tmp_path: Path
) -> None:
    """Whatever got into the database (the restore checks refuse it), removal deletes nothing outside."""
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's own file", "utf-8")
    project = service.create_project("Acme")
    document = service.add_document(project.id, contract())
    # documents/<first two characters>/<hash>: with ".." first, the path climbs out of the data folder.
    forged = os.path.relpath(victim, service.data_dir)
    assert forged.startswith("..")
    with service._engines.writer.begin() as conn:
        conn.exec_driver_sql("UPDATE documents SET sha256 = ?, media_type = 'x/none'", (forged,))
    service.remove_document(document.id)
    assert victim.read_text("utf-8") == "the user's own file"
