"""ChatGPT and Claude history in the window: the import dialog, its suggestions, progress, cancel and reports.

Driven through the real widgets over a real MemoryService, with exports made
by tests/history_exports.py. Uses tests/test_ui.py's window fixture, which
checks that no task or thread is left running.
"""

# ruff: noqa: F811  (each test takes the imported make_window fixture as an argument of the same name)

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from tests.fakes import FakeModel
from tests.history_exports import BASE, chatgpt_conversation, claude_conversation, export_zip
from tests.test_ui import WAIT, Env, _select_project, _settle, make_window  # noqa: F401  (a fixture)
from tests.test_ui_documents import drop
from ui.history_dialog import DONT_IMPORT, PROJECT, HistoryImportDialog

NOON = BASE + 12 * 3600  # the same date in any time zone the tests run in
ACME_TURNS = [
    ("user", "For Acme the launch budget is 48,000 euros, approved by Dana yesterday."),
    ("assistant", "Noted: 48,000 euros for the Acme launch."),
    ("user", "Draft the kickoff agenda for Acme's rebrand."),
    ("assistant", "1. Goals 2. Timeline 3. Budget"),
]
ACME = chatgpt_conversation("c-acme", "Acme launch", ACME_TURNS, start=NOON)
GLOBEX = chatgpt_conversation(
    "c-globex",
    "Globex pricing",
    [("user", "What should Globex pay per seat for 500 seats?"), ("assistant", "About 14 euros a seat.")],
    start=NOON + 3600,
)
SOURDOUGH = chatgpt_conversation(
    "c-bread", "Sourdough", [("user", "My sourdough starter smells of acetone")], start=NOON + 7200
)


def open_dialog(env: Env) -> HistoryImportDialog:
    """File › Import ChatGPT or Claude history…"""
    env.window.import_history_action.trigger()
    dialog = env.window.history_dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def listed(qtbot: object, dialog: HistoryImportDialog, count: int) -> None:
    """Until the export's ``count`` conversations are listed with their suggestions applied."""
    qtbot.waitUntil(  # type: ignore[attr-defined]
        lambda: dialog.model.rowCount() == count and "suggests a project" in dialog.status.text(), timeout=WAIT
    )


def table(dialog: HistoryImportDialog) -> list[tuple[str, ...]]:
    """The rows as shown (filtered and sorted): title, project, messages, date, source, and ✓ if ticked."""
    shown = []
    for row in range(dialog.rows.rowCount()):
        cells = tuple(str(dialog.rows.index(row, column).data()) for column in range(5))
        ticked = dialog.rows.index(row, 0).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked.value
        shown.append((*cells, "✓" if ticked else ""))
    return shown


def import_and_wait(qtbot: object, dialog: HistoryImportDialog) -> list[str]:
    """Presses Import and waits for the report; returns its lines."""
    assert dialog.import_button.isEnabled()
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]
    assert dialog.busy and dialog.progress.isVisible()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT)  # type: ignore[attr-defined]
    assert dialog.report.isVisible() and dialog.progress.isHidden()
    return dialog.report.text().splitlines()


def sessions_shown(env: Env) -> list[str]:
    """The titles in the window's sessions list (left)."""
    return [env.window.sessions.item(i).text().split("\n")[0] for i in range(env.window.sessions.count())]


def test_an_export_lists_its_conversations_with_suggested_projects(
    qtbot: object, make_window: object, tmp_path: Path
) -> None:
    env: Env = make_window(projects=("Acme", "Globex"))  # type: ignore[operator]
    qtbot.waitUntil(lambda: env.window.project_id == 1, timeout=WAIT)  # type: ignore[attr-defined]
    dialog = open_dialog(env)
    assert not dialog.import_button.isEnabled()
    dialog.open_export(export_zip(tmp_path / "chatgpt.zip", [ACME, GLOBEX, SOURDOUGH]))
    listed(qtbot, dialog, 3)
    assert table(dialog) == [
        ("Acme launch", "Acme", "4", "2026-01-01", "ChatGPT", "✓"),
        ("Globex pricing", "Globex", "2", "2026-01-01", "ChatGPT", "✓"),
        ("Sourdough", DONT_IMPORT, "1", "2026-01-01", "ChatGPT", ""),
    ]
    assert dialog.import_button.text() == "Import 2"
    assert dialog.counts.text() == "3 conversations · 2 to import into 2 projects"

    # The filter looks into the messages too; Select all ticks what it shows, into the project open.
    qtbot.keyClicks(dialog.filter, "ACETONE")  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: dialog.rows.rowCount() == 1, timeout=WAIT)  # type: ignore[attr-defined]
    dialog.table.setCurrentIndex(dialog.rows.index(0, 0))
    assert dialog.preview.toPlainText().startswith("Sourdough\n\nYou: My sourdough starter smells of acetone")
    dialog.select_all.click()
    assert table(dialog) == [("Sourdough", "Acme", "1", "2026-01-01", "ChatGPT", "✓")]
    assert dialog.counts.text() == "3 conversations · 1 shown · 3 to import into 2 projects"
    dialog.select_none.click()
    dialog.filter.clear()
    qtbot.waitUntil(lambda: dialog.rows.rowCount() == 3, timeout=WAIT)  # type: ignore[attr-defined]

    # Each row's chooser: "don't import" unticks it.
    index = dialog.rows.index(1, PROJECT)
    dialog.table.edit(index)
    chooser = dialog.table.indexWidget(index)
    assert isinstance(chooser, QComboBox)
    assert [chooser.itemText(i) for i in range(chooser.count())] == [DONT_IMPORT, "Acme", "Globex"]
    chooser.setCurrentIndex(0)
    chooser.activated.emit(0)
    assert table(dialog)[1] == ("Globex pricing", DONT_IMPORT, "2", "2026-01-01", "ChatGPT", "")
    assert dialog.import_button.text() == "Import 1"
    assert [c.id for _project, group in dialog.chosen() for c in group] == ["c-acme"]

    # A project made since shows when the dialog is opened again; the ticked ones can all go there.
    env.runtime.service.create_project("Initech")
    assert open_dialog(env) is dialog
    menu = dialog.move_ticked
    qtbot.waitUntil(lambda: menu.findText("Initech") > 0, timeout=WAIT)  # type: ignore[attr-defined]
    menu.activated.emit(menu.findText("Initech"))
    assert [row[1] for row in table(dialog)] == ["Initech", DONT_IMPORT, "Acme"]  # Sourdough: unticked
    assert menu.currentIndex() == 0 and dialog.import_button.text() == "Import 1"

    # Another export replaces the list; Claude's too.
    claude = claude_conversation("k-globex", "Globex seats", [("user", "Globex wants 500 seats by May.")])
    dialog.open_export(export_zip(tmp_path / "claude.zip", [claude], folder="data-2026/"))
    listed(qtbot, dialog, 1)
    assert table(dialog) == [("Globex seats", "Globex", "1", "2026-02-01", "Claude", "✓")]
    assert env.runtime.service.list_sessions(1) == []
    _settle(qtbot, env)


def test_conversations_go_to_their_projects_once_and_show_in_the_sessions_list(
    qtbot: object, make_window: object, tmp_path: Path
) -> None:
    env: Env = make_window(projects=("Acme", "Globex"))  # type: ignore[operator]
    qtbot.waitUntil(lambda: env.window.project_id == 1, timeout=WAIT)  # type: ignore[attr-defined]
    _settle(qtbot, env)
    dialog = open_dialog(env)
    dialog.open_export(export_zip(tmp_path / "chatgpt.zip", [ACME, GLOBEX, SOURDOUGH]))
    listed(qtbot, dialog, 3)
    assert import_and_wait(qtbot, dialog) == [
        "Acme: 1 conversation imported as sessions; 4 messages.",
        "Globex: 1 conversation imported as sessions; 2 messages.",
        "Searchable by keyword now; meaning search follows in the background.",
    ]
    assert env.window.statusBar().currentMessage().startswith("History import: Acme: 1 conversation")
    # The open project's sessions show at once, with the other project's in their own.
    qtbot.waitUntil(lambda: sessions_shown(env) == ["Acme launch"], timeout=WAIT)  # type: ignore[attr-defined]
    tab = env.window.memory.sessions.list
    qtbot.waitUntil(lambda: tab.count() == 1 and "Acme launch · 4 messages" in tab.item(0).text(), timeout=WAIT)  # type: ignore[attr-defined]
    service = env.runtime.service
    assert [s.title for s in service.list_sessions(2)] == ["Globex pricing"]

    # Importing again adds nothing.
    assert import_and_wait(qtbot, dialog) == [
        "Acme: Nothing new: 1 conversation already here.",
        "Globex: Nothing new: 1 conversation already here.",
    ]
    assert [len(service.list_sessions(p)) for p in (1, 2)] == [1, 1]
    assert service.list_sessions(1)[0].message_count == 4
    _select_project(env.window, "Globex")
    qtbot.waitUntil(lambda: sessions_shown(env) == ["Globex pricing"], timeout=WAIT)  # type: ignore[attr-defined]
    assert service.wait_for_index(120)
    _settle(qtbot, env)


def test_cancel_stops_after_the_conversation_being_imported(qtbot: object, make_window: object, tmp_path: Path) -> None:
    env: Env = make_window(projects=("Acme", "Globex"))  # type: ignore[operator]
    qtbot.waitUntil(lambda: env.window.project_id == 1, timeout=WAIT)  # type: ignore[attr-defined]
    service = env.runtime.service
    second = chatgpt_conversation("c-acme-2", "Acme logo", [("user", "Acme wants a teal logo.")], start=NOON)
    dialog = open_dialog(env)
    dialog.open_export(export_zip(tmp_path / "chatgpt.zip", [ACME, second, GLOBEX]))
    listed(qtbot, dialog, 3)
    importing, release = threading.Event(), threading.Event()
    real_import_session = service.import_session

    def held_back(*args: object, **kwargs: object) -> object:
        # The first conversation is being imported until the test lets it go.
        importing.set()
        assert release.wait(WAIT / 1000)
        return real_import_session(*args, **kwargs)  # type: ignore[arg-type]

    service.import_session = held_back  # type: ignore[method-assign]
    try:
        dialog.import_button.click()
        qtbot.waitUntil(importing.is_set, timeout=WAIT)  # type: ignore[attr-defined]
        qtbot.waitUntil(lambda: dialog.progress_label.text() == "Importing 1 of 3: Acme launch", timeout=WAIT)  # type: ignore[attr-defined]
        assert dialog.cancel_button.isEnabled() and not dialog.import_button.isEnabled()
        assert not dialog.table.isEnabled() and not dialog.choose_button.isEnabled()
        dialog.cancel_button.click()
        assert dialog.progress_label.text() == "Stopping after the current conversation…"
    finally:
        release.set()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT)  # type: ignore[attr-defined]
    assert dialog.report.text().splitlines() == [
        "Acme: 1 conversation imported as sessions; 4 messages; cancelled before the rest.",
        "Globex: not imported (cancelled).",
        "Searchable by keyword now; meaning search follows in the background.",
    ]
    assert [s.title for s in service.list_sessions(1)] == ["Acme launch"] and service.list_sessions(2) == []
    qtbot.waitUntil(lambda: sessions_shown(env) == ["Acme launch"], timeout=WAIT)  # type: ignore[attr-defined]
    assert dialog.import_button.isEnabled() and dialog.table.isEnabled()
    _settle(qtbot, env)


def test_a_damaged_export_says_why_and_imports_nothing(qtbot: object, make_window: object, tmp_path: Path) -> None:
    env: Env = make_window()  # type: ignore[operator]
    dialog = open_dialog(env)
    good = export_zip(tmp_path / "chatgpt.zip", [ACME, GLOBEX])
    dialog.open_export(good)
    listed(qtbot, dialog, 2)
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[:200])
    assert drop(dialog, [truncated]), "the dialog takes an export dropped on it"
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Nothing imported:"), timeout=WAIT)  # type: ignore[attr-defined]
    assert "truncated.zip: not a readable zip" in dialog.status.text()
    assert dialog.status.textFormat() == Qt.TextFormat.PlainText
    assert dialog.model.rowCount() == 0 and not dialog.import_button.isEnabled()
    assert not drop(dialog, [tmp_path / "notes.pdf"]), "only an export's zip or JSON"
    _settle(qtbot, env)
    assert env.runtime.service.list_sessions(1) == [] and not env.window.banner.isVisible()


def test_propose_facts_files_what_i_said_in_the_inbox(qtbot: object, make_window: object, tmp_path: Path) -> None:
    model = FakeModel(lambda turns, settings: '{"facts": []}')
    env: Env = make_window(model)  # type: ignore[operator]
    dialog = open_dialog(env)
    dialog.open_export(export_zip(tmp_path / "chatgpt.zip", [ACME]))
    listed(qtbot, dialog, 1)
    dialog.propose.setChecked(True)
    lines = import_and_wait(qtbot, dialog)
    assert lines[0].startswith("Acme: 1 conversation imported as sessions; 4 messages;")
    assert "1 proposal in the inbox" in lines[0]
    assert model.prompts, "the background model was asked too"
    inbox = env.window.memory.inbox.list
    qtbot.waitUntil(  # type: ignore[attr-defined]
        lambda: any("48,000" in inbox.item(i).text() for i in range(inbox.count())), timeout=WAIT
    )
    assert env.runtime.service.list_facts(1, include_global=False) == [], "proposals wait for review"
    _settle(qtbot, env)


def test_without_a_project_the_dialog_says_to_create_one(qtbot: object, make_window: object, tmp_path: Path) -> None:
    env: Env = make_window(projects=())  # type: ignore[operator]
    dialog = open_dialog(env)
    dialog.open_export(export_zip(tmp_path / "chatgpt.zip", [ACME]))
    qtbot.waitUntil(lambda: "create one first" in dialog.status.text(), timeout=WAIT)  # type: ignore[attr-defined]
    dialog.select_all.click()
    assert dialog.counts.text() == "1 conversation · 1 ticked without a project: choose one"
    assert not dialog.import_button.isEnabled()
    _settle(qtbot, env)
