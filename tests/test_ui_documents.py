"""Project documents in the window: the Documents tab, drops, progress and cancel, watched folders, citations.

Driven through the real widgets over a real MemoryService with real files
(Markdown, text, and a two-page PDF drawn by Qt); the model is the
deterministic fake, scripted to cite. Uses tests/test_ui.py's window fixture,
which checks that no task or thread is left running.
"""

# ruff: noqa: F811  (each test takes the imported make_window fixture as an argument of the same name)

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QTextDocument
from PySide6.QtWidgets import QApplication, QWidget

from app.llm.engine import GenerationSettings
from app.llm.prompt_format import ChatTurn
from tests.document_files import qt_pdf
from tests.fakes import FakeModel
from tests.test_ui import WAIT, Env, _select_project, _settle, make_window  # noqa: F401  (a fixture)
from ui.chat import NOT_A_SOURCE
from ui.documents import DocumentsTab

PAGES = [
    "Services contract. The retainer fee is 4,800 euros per month, invoiced on the first working day.",
    "Late payment. Invoices unpaid after 30 days carry interest of 1.5 percent monthly.",
]


def contract_pdf(folder: Path) -> Path:
    path = folder / "contract.pdf"
    path.write_bytes(qt_pdf(PAGES, title="Services contract"))
    return path


def note(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def rows(tab: DocumentsTab) -> list[str]:
    return [tab.list.item(i).text() for i in range(tab.list.count())]


def drop(target: QWidget, paths: Sequence[Path]) -> bool:
    """Drags files over ``target`` and drops them, as a file manager does; returns whether the drag was taken."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = target.rect().center()
    enter = QDragEnterEvent(
        centre, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(target, enter)
    event = QDropEvent(
        QPointF(centre), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(target, event)
    return enter.isAccepted() and event.isAccepted()


def noted(tab: DocumentsTab) -> list[str]:
    """Collects what the tab reports for the status bar (which shows each for a few seconds only)."""
    seen: list[str] = []
    tab.noted.connect(seen.append)
    return seen


def wait_ready(qtbot: object, tab: DocumentsTab, count: int) -> None:
    """Until the tab lists ``count`` documents, every one ready (its passages have their vectors)."""
    qtbot.waitUntil(  # type: ignore[attr-defined]
        lambda: len(rows(tab)) == count and all(r.endswith("· ready") for r in rows(tab)), timeout=WAIT
    )


def test_files_added_from_the_tab_show_their_type_pages_and_become_ready(
    qtbot: object, make_window: object, tmp_path: Path
) -> None:
    env: Env = make_window()  # type: ignore[operator]
    tab = env.window.documents
    assert env.window.memory.tabText(env.window.memory.indexOf(tab)) == "Docs"
    _settle(qtbot, env)
    assert "No documents for this client yet" in tab.list.hint
    notes = noted(tab)
    tab.add_paths([contract_pdf(tmp_path), note(tmp_path, "kickoff.md", "# Kickoff\n\nJane wants the teal logo.")])
    qtbot.waitUntil(lambda: len(rows(tab)) == 2, timeout=WAIT)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: bool(notes), timeout=WAIT)  # type: ignore[attr-defined]
    assert notes == ["Added 2 documents (2 pages)."]
    assert env.window.statusBar().currentMessage() == notes[0]
    wait_ready(qtbot, tab, 2)
    pdf = next(r for r in rows(tab) if "Services contract" in r)
    markdown = next(r for r in rows(tab) if "Kickoff" in r)
    assert "PDF · 2 pages ·" in pdf and "KB" in pdf
    assert "Markdown · — ·" in markdown and "bytes" in markdown
    assert not env.window.banner.isVisible() and tab.progress.isHidden()

    # Details: the passages as answers cite them, and the history.
    from ui.documents import DocumentDialog

    document = next(d for d in tab.documents.values() if d.title == "Services contract")
    service = env.runtime.service
    dialog = DocumentDialog(document, service.document_chunks(document.id), service.document_history(document.id), None)
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    passages = [dialog.passages.item(i).text() for i in range(dialog.passages.count())]
    assert any(p.startswith(f"[{document.key} p.2]") and "1.5 percent" in p for p in passages)
    assert "added" in dialog.history.item(0).text()

    # Re-index reads the kept original again.
    tab.select_document(document.id)
    tab._on_reindex()
    qtbot.waitUntil(lambda: len(notes) == 2, timeout=WAIT)  # type: ignore[attr-defined]
    assert notes[1].startswith(f"Read {document.key} (contract.pdf) again:")
    assert [e.action.value for e in service.document_history(document.id)] == ["added", "reindexed"]
    wait_ready(qtbot, tab, 2)


def test_a_drop_adds_the_good_files_and_reports_the_bad_ones(
    qtbot: object, make_window: object, tmp_path: Path
) -> None:
    env: Env = make_window()  # type: ignore[operator]
    window, tab = env.window, env.window.documents
    good = note(tmp_path, "meeting-notes.txt", "Weekly call moved to Tuesdays at 10.")
    video = tmp_path / "launch.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" * 100)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7 nothing after this")
    assert drop(window, [good, video, broken]), "the window takes files dropped on it"
    assert window.memory.currentWidget() is tab, "the Documents tab shows what happens to them"
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=WAIT)  # type: ignore[attr-defined]
    message = window.banner.label.text()
    assert "Added 1 document" in message and "2 not added" in message
    assert "launch.mp4: unsupported type (.mp4)" in message and "broken.pdf: damaged" in message
    assert "Dossier reads PDF" in message
    qtbot.waitUntil(lambda: len(rows(tab)) == 1, timeout=WAIT)  # type: ignore[attr-defined]
    assert "meeting-notes" in rows(tab)[0] and "Text" in rows(tab)[0]

    # Onto the tab itself (the dock may float on its own), and a drop of nothing it reads.
    window.banner.hide()
    assert drop(tab, [note(tmp_path / "more", "brand.md", "# Brand\n\nTeal, never green.")])
    qtbot.waitUntil(lambda: len(rows(tab)) == 2, timeout=WAIT)  # type: ignore[attr-defined]
    assert not window.banner.isVisible()
    drop(window, [video])
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=WAIT)  # type: ignore[attr-defined]
    assert "launch.mp4: unsupported type" in window.banner.label.text()

    # Dropped on the message box: for the documents (the box passes it on), not text to paste.
    box = window.chat.input
    assert drop(box.viewport(), [note(tmp_path / "more", "call.txt", "Call notes: posters in week 8.")])
    qtbot.waitUntil(lambda: len(rows(tab)) == 3, timeout=WAIT)  # type: ignore[attr-defined]
    assert box.toPlainText() == ""
    _settle(qtbot, env)


def test_cancel_stops_after_the_file_being_read(qtbot: object, make_window: object, tmp_path: Path) -> None:
    env: Env = make_window()  # type: ignore[operator]
    tab = env.window.documents
    service = env.runtime.service
    files = [note(tmp_path, f"note-{n}.md", f"# Note {n}\n\nPoint number {n} of the plan.") for n in range(3)]
    reading, release = threading.Event(), threading.Event()
    real_find = service.find_document

    def held_back(project_id: int, original: bytes) -> object:
        # The first file is being read until the test lets it go.
        reading.set()
        assert release.wait(WAIT / 1000)
        return real_find(project_id, original)

    service.find_document = held_back  # type: ignore[method-assign]
    env.window.memory.setCurrentWidget(tab)  # as after pressing Add files…
    notes = noted(tab)
    try:
        tab.add_paths(files)
        qtbot.waitUntil(reading.is_set, timeout=WAIT)  # type: ignore[attr-defined]
        qtbot.waitUntil(lambda: tab.progress_label.text() == "Reading 1 of 3: note-0.md", timeout=WAIT)  # type: ignore[attr-defined]
        assert tab.progress.isVisible() and tab.cancel_button.isEnabled()
        tab.cancel_button.click()
        assert tab.progress_label.text() == "Stopping after the current file…"
    finally:
        release.set()
    qtbot.waitUntil(lambda: not tab.busy, timeout=WAIT)  # type: ignore[attr-defined]
    assert notes == ["Added 1 document; cancelled before the rest."]
    assert tab.progress.isHidden()
    qtbot.waitUntil(lambda: len(rows(tab)) == 1, timeout=WAIT)  # type: ignore[attr-defined]
    assert [d.filename for d in service.list_documents(1)] == ["note-0.md"]


def test_remove_takes_a_document_out_and_keeps_its_history(qtbot: object, make_window: object, tmp_path: Path) -> None:
    env: Env = make_window()  # type: ignore[operator]
    tab = env.window.documents
    tab.add_paths([note(tmp_path, "sow.md", "# Statement of work\n\nPhase one: the logo.")])
    wait_ready(qtbot, tab, 1)
    document = next(iter(tab.documents.values()))
    notes = noted(tab)
    tab.remove(document.id)  # what Remove does once confirmed
    qtbot.waitUntil(lambda: len(rows(tab)) == 0, timeout=WAIT)  # type: ignore[attr-defined]
    assert notes == [f"Removed {document.key} (sow.md)."]
    tab.show_removed.setChecked(True)
    qtbot.waitUntil(lambda: len(rows(tab)) == 1, timeout=WAIT)  # type: ignore[attr-defined]
    assert rows(tab)[0].endswith("· removed")
    assert [e.action.value for e in env.runtime.service.document_history(document.id)] == ["added", "removed"]
    tab.select_document(document.id)
    tab._on_open()  # the original is no longer kept: said, not a crash
    qtbot.waitUntil(lambda: env.window.banner.isVisible(), timeout=WAIT)  # type: ignore[attr-defined]
    assert "no longer kept" in env.window.banner.label.text()


def _citing_model(cites: list[str]) -> FakeModel:
    """Answers by citing the keys in ``cites`` (filled in once the document exists), and one invented key."""

    def answer(turns: Sequence[ChatTurn], settings: GenerationSettings) -> str:
        if settings.json_schema:
            return '{"facts": []}'
        given = " ".join(f"[{key}]" for key in cites)
        return f"Late payment costs 1.5 percent a month {given}; the fee is fixed [D77 p.4]. <b>Really</b>."

    return FakeModel(answer, delay=0.01)


def _cited_answer(qtbot: object, make_window: object, tmp_path: Path) -> tuple[Env, int]:
    cites: list[str] = []
    env: Env = make_window(_citing_model(cites))  # type: ignore[operator]
    tab = env.window.documents
    tab.add_paths([contract_pdf(tmp_path)])
    wait_ready(qtbot, tab, 1)
    document = next(iter(tab.documents.values()))
    cites.append(f"{document.key} p.2")
    env.window.send("What happens when an invoice is paid late?")
    env.result(qtbot)
    _settle(qtbot, env)
    return env, document.id


def _anchors(document: QTextDocument) -> dict[str, str]:
    """Each link in the rendered transcript: its text -> its target."""
    found: dict[str, str] = {}
    block = document.begin()
    while block.isValid():
        fragments = block.begin()
        while not fragments.atEnd():
            fragment = fragments.fragment()
            if fragment.charFormat().isAnchor():
                found[fragment.text()] = fragment.charFormat().anchorHref()
            fragments += 1
        block = block.next()
    return found


def _struck(document: QTextDocument) -> dict[str, str]:
    """Each struck-through text in the rendered transcript -> its tooltip."""
    found: dict[str, str] = {}
    block = document.begin()
    while block.isValid():
        fragments = block.begin()
        while not fragments.atEnd():
            fragment = fragments.fragment()
            if fragment.charFormat().fontStrikeOut():
                found[fragment.text()] = fragment.charFormat().toolTip()
            fragments += 1
        block = block.next()
    return found


def _check_citations(qtbot: object, env: Env, document_id: int) -> None:
    chat = env.window.chat
    key = f"D{document_id}"
    rendered = chat.transcript.document()
    links = _anchors(rendered)
    assert f"[{key} p.2]" in links and links[f"[{key} p.2]"].startswith("dossier:cite/")
    assert "[D77 p.4]" not in links, "an invented citation is never a link"
    struck = _struck(rendered)
    assert "[D77 p.4]" in struck and "invented" in struck["[D77 p.4]"]
    assert NOT_A_SOURCE in chat.transcript.toPlainText()
    assert "<b>Really</b>" in chat.transcript.toPlainText(), "an answer's markup shows as text"

    chat._on_anchor_clicked(QUrl(links[f"[{key} p.2]"]))
    dialog = env.window.documents.passage_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.source.text() == "Services contract (contract.pdf)"
    assert dialog.location.text().startswith(f"[{key} p.2] · page 2")
    assert "1.5 percent monthly" in dialog.text.toPlainText()
    opened: list[QUrl] = []
    env.window.documents.open_url = lambda url: opened.append(url) or True
    dialog.open_button.click()
    qtbot.waitUntil(lambda: bool(opened), timeout=WAIT)  # type: ignore[attr-defined]
    shown = Path(opened[0].toLocalFile())
    # A read-only copy under the file's own name: a viewer saving in place cannot alter the kept original.
    assert shown.name == "contract.pdf" and shown.read_bytes()[:5] == b"%PDF-"
    assert shown.stat().st_mode & 0o777 == 0o400
    assert shown != env.runtime.service.document_original(document_id)
    dialog.close()

    # "memory used" lists the passage with its key and its document's title.
    answer = chat.entries[-1]
    answer.expanded = True
    chat.refresh()
    assert f"[{key} p.2] (Services contract)" in chat.transcript.toPlainText()


def test_a_cited_passage_is_a_link_and_an_invented_one_is_flagged(
    qtbot: object, make_window: object, tmp_path: Path
) -> None:
    env, document_id = _cited_answer(qtbot, make_window, tmp_path)
    _check_citations(qtbot, env, document_id)
    # A link the model wrote itself, to a passage it was not given, leads nowhere.
    env.window.chat._on_anchor_clicked(QUrl("dossier:cite/1/999"))
    env.window.chat._on_anchor_clicked(QUrl("dossier:cite/0/1"))
    assert not env.window.documents.passage_dialog.isVisible()


def test_a_session_from_history_keeps_its_citation_links(qtbot: object, make_window: object, tmp_path: Path) -> None:
    env, document_id = _cited_answer(qtbot, make_window, tmp_path)
    session_id = env.window.session_id
    env.window.new_session()
    assert env.window.chat.entries == []
    _settle(qtbot, env)
    env.window.open_session(session_id)  # as after a restart: the answer's stored context keys
    qtbot.waitUntil(  # type: ignore[attr-defined]
        lambda: len(env.window.chat.entries) == 2 and env.window.chat.entries[-1].passages_known, timeout=WAIT
    )
    _check_citations(qtbot, env, document_id)

    # Removed since: the answer's citations can no longer be checked, and say so.
    env.runtime.service.remove_document(document_id)
    env.window.open_session(session_id)
    qtbot.waitUntil(lambda: env.window.chat.entries[-1].passages_lost, timeout=WAIT)  # type: ignore[attr-defined]
    assert not any(
        href.startswith("dossier:cite/") for href in _anchors(env.window.chat.transcript.document()).values()
    )
    assert "(cannot be checked)" in env.window.chat.transcript.toPlainText()


def test_search_finds_a_passage_and_opens_it(qtbot: object, make_window: object, tmp_path: Path) -> None:
    env: Env = make_window()  # type: ignore[operator]
    tab = env.window.documents
    tab.add_paths([contract_pdf(tmp_path)])
    wait_ready(qtbot, tab, 1)
    search = env.window.memory.search
    search.query.setText("late payment interest")
    search.reload()
    results = search.results
    qtbot.waitUntil(lambda: results.count() > 0, timeout=WAIT)  # type: ignore[attr-defined]
    row = next(i for i in range(results.count()) if "Passage [D" in results.item(i).text())
    assert "p.2] of Services contract" in results.item(row).text()
    results.itemActivated.emit(results.item(row))
    qtbot.waitUntil(lambda: tab.passage_dialog is not None and tab.passage_dialog.isVisible(), timeout=WAIT)  # type: ignore[attr-defined]
    assert "page 2" in tab.passage_dialog.location.text()
    tab.passage_dialog.close()


def test_watched_folders_sync_when_opened_and_when_asked(qtbot: object, make_window: object, tmp_path: Path) -> None:
    env: Env = make_window()  # type: ignore[operator]
    tab = env.window.documents
    folder = tmp_path / "client-share"
    note(folder, "brief.md", "# Brief\n\nThe launch is in March.")
    notes = noted(tab)
    tab.watch(folder)
    qtbot.waitUntil(lambda: tab.folder_list.count() == 1 and len(rows(tab)) == 1, timeout=WAIT)  # type: ignore[attr-defined]
    assert str(folder) in tab.folder_list.item(0).text()
    qtbot.waitUntil(lambda: any("1 added" in n for n in notes), timeout=WAIT)  # type: ignore[attr-defined]
    _settle(qtbot, env)

    note(folder, "minutes.txt", "Minutes: the budget is 45,000 euros.")
    tab.sync(automatic=False)
    tab.sync(automatic=False)  # never two at once
    assert notes[-1] == "The watched folders are being synced already."
    qtbot.waitUntil(lambda: len(rows(tab)) == 2, timeout=WAIT)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: not tab.busy, timeout=WAIT)  # type: ignore[attr-defined]

    # Deleted from the folder: gone from the project at the next periodic sync.
    (folder / "brief.md").unlink()
    tab._on_sync_due()  # what the timer does every two minutes
    qtbot.waitUntil(lambda: len(rows(tab)) == 1, timeout=WAIT)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: any("1 removed" in n for n in notes), timeout=WAIT)  # type: ignore[attr-defined]

    tab.folder_list.setCurrentRow(0)
    tab._on_stop_watching()
    qtbot.waitUntil(lambda: tab.folder_list.count() == 0, timeout=WAIT)  # type: ignore[attr-defined]
    assert len(rows(tab)) == 1, "the documents from a folder stay when it is no longer watched"
    _settle(qtbot, env)


def test_a_watched_folder_is_synced_when_its_project_is_opened(
    qtbot: object, make_window: object, tmp_path: Path
) -> None:
    env: Env = make_window(projects=("Acme", "Globex"))  # type: ignore[operator]
    folder = tmp_path / "globex"
    note(folder, "plan.md", "# Plan\n\nRollout in three waves.")
    env.runtime.service.add_watched_folder(2, str(folder.resolve()))
    tab = env.window.documents
    _settle(qtbot, env)
    assert rows(tab) == []
    _select_project(env.window, "Globex")
    qtbot.waitUntil(lambda: len(rows(tab)) == 1, timeout=WAIT)  # type: ignore[attr-defined]
    assert "Plan" in rows(tab)[0]
    _settle(qtbot, env)


def test_two_projects_never_show_each_others_documents(qtbot: object, make_window: object, tmp_path: Path) -> None:
    env: Env = make_window(projects=("Acme", "Globex"))  # type: ignore[operator]
    tab = env.window.documents
    tab.add_paths([note(tmp_path / "acme", "acme-secret.md", "# Acme secret\n\nThe teal logo.")])
    wait_ready(qtbot, tab, 1)
    _select_project(env.window, "Globex")
    qtbot.waitUntil(lambda: env.window.project_id == 2, timeout=WAIT)  # type: ignore[attr-defined]
    _settle(qtbot, env)
    assert rows(tab) == []
    tab.add_paths([note(tmp_path / "globex", "globex-secret.md", "# Globex secret\n\nMerger in May.")])
    wait_ready(qtbot, tab, 1)
    assert "Globex secret" in rows(tab)[0]
    for name, mine, theirs in (("Acme", "Acme secret", "Globex secret"), ("Globex", "Globex secret", "Acme secret")):
        _select_project(env.window, name)
        qtbot.waitUntil(lambda m=mine: any(m in r for r in rows(tab)), timeout=WAIT)  # type: ignore[attr-defined]
        _settle(qtbot, env)
        assert not any(theirs in r for r in rows(tab))


def test_facts_proposed_from_a_document_arrive_in_the_inbox_with_their_page(
    qtbot: object, make_window: object, tmp_path: Path
) -> None:
    env: Env = make_window()  # type: ignore[operator]
    tab = env.window.documents
    _settle(qtbot, env)
    tab.add_paths([contract_pdf(tmp_path)])
    wait_ready(qtbot, tab, 1)
    notes = noted(tab)
    tab.list.setCurrentRow(0)
    tab.buttons["Propose facts"].click()
    inbox = env.window.memory.inbox
    qtbot.waitUntil(lambda: inbox.list.count() >= 1 and bool(notes), timeout=WAIT)  # type: ignore[attr-defined]
    assert "in the inbox" in notes[-1]
    proposals = env.runtime.service.list_proposals(1)
    assert proposals and all(p.source_document_id == 1 and p.source_location.startswith("p.") for p in proposals)
    assert any(p.source_location == "p.1" and "4,800" in p.text for p in proposals)
    assert env.window.memory.tabText(1).startswith("Inbox (")


def test_opening_a_project_reads_again_what_an_older_version_read(
    qtbot: object, make_window: object, tmp_path: Path
) -> None:
    from app.documents.library import READER, add_files

    env: Env = make_window(projects=("Acme", "Globex"))  # type: ignore[operator]
    service = env.runtime.service
    [document] = add_files(service, 2, [contract_pdf(tmp_path)], max_bytes=10**8).added
    with service._engines.writer.begin() as conn:  # as read before this version
        conn.exec_driver_sql("UPDATE documents SET reader = 0")
    noted: list[str] = []
    env.window.documents.noted.connect(noted.append)
    _select_project(env.window, "Globex")
    qtbot.waitUntil(lambda: service.get_document(document.id).reader == READER, timeout=WAIT)  # type: ignore[attr-defined]
    _settle(qtbot, env)
    qtbot.waitUntil(lambda: any("Read 1 document again" in n for n in noted), timeout=WAIT)  # type: ignore[attr-defined]
    assert service.search(2, "late payment interest", mode="bm25")[0].citation == f"{document.key} p.2"
