"""The main window: projects and sessions, the chat, and the memory panel.

The window shell: the projects list is :mod:`ui.projects_pane`, a turn is run
by :mod:`ui.chat_controller`, the memory panel reloads on its ``memory_changed``
signal, the project's documents are :mod:`ui.documents` (files dropped on the
window go there), and the error banner is in :mod:`ui.widgets`. Still here, under
700 lines: the sessions list, the menus, model loading, and the hourly
summaries and backups.
"""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeySequence,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QProgressDialog,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.assistant.conversation import TurnResult
from app.assistant.text import counted
from app.config.paths import default_data_dir
from app.portability.recovery import open_warnings, repair_notes
from app.runtime import Runtime
from memory import ChatSession, ItemKey, ItemKind, Message, NotFoundError, ReindexReport, local_time
from ui.chat import ChatEntry, ChatView, Passage
from ui.chat_controller import ChatController
from ui.documents import DocumentsTab, dropped_paths
from ui.history_dialog import HistoryImportDialog
from ui.memory_panel import KEY_ROLE, Kind, MemoryPanel, confirm
from ui.projects_pane import ProjectsPane
from ui.tasks import R, Task, TaskRunner
from ui.widgets import ErrorBanner

log = logging.getLogger(__name__)

INDEX_POLL_MS = 500
#: How often the open project is checked for changes made outside this window (the CLI, MCP).
CHANGES_POLL_MS = 3000
BASE_MODEL_NOTE = " (base model: weak answers)"
#: What a turn and the learning after it may change.
TURN_CHANGES = frozenset({Kind.FACTS, Kind.PROPOSALS, Kind.SESSIONS})
SUMMARY_CHECK_MS = 60 * 60 * 1000
#: The most of the window's width the docked memory panel keeps when space is short.
MEMORY_SHARE = 0.34


class MainWindow(QMainWindow):
    """Everything a user sees. Services come in through the constructor.

    Args:
        runtime: The data dir's runtime (memory service, models, settings).
        tasks: Runs all memory, index and model work off the GUI thread.
        load_model: Prepare and load the model once the projects are listed (off
            for tests that use their own model).
        reconcile_index: Bring the vector index in step with the database once
            the projects are listed (the data dir was opened without it, to be quick).
    """

    turn_finished = Signal(object)
    model_ready = Signal(str)
    projects_loaded = Signal()

    def __init__(
        self, runtime: Runtime, tasks: TaskRunner, *, load_model: bool = True, reconcile_index: bool = False
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.tasks = tasks
        self._project_id: int | None = None
        self.history_dialog: HistoryImportDialog | None = None
        self.setWindowTitle("Dossier")
        self.resize(1280, 800)

        # -- left: projects and sessions
        self.projects_pane = ProjectsPane(runtime, tasks)
        self.projects_pane.selected.connect(self._on_project_selected)
        self.projects_pane.loaded.connect(self._on_projects_loaded)
        self.projects_pane.error.connect(self.show_error)
        # The pane's widgets, by the names the rest of the window (and its tests) use.
        self.projects = self.projects_pane.projects
        self.show_archived = self.projects_pane.show_archived
        self.archive_button = self.projects_pane.archive_button
        self.sessions = QListWidget()
        # Long titles wrap instead of asking for a horizontal scrollbar.
        self.sessions.setWordWrap(True)
        self.sessions.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.sessions.itemActivated.connect(self._on_session_activated)
        self.sessions.itemClicked.connect(self._on_session_activated)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.projects_pane, 2)
        left_layout.addWidget(QLabel("<b>Sessions</b>"))
        left_layout.addWidget(self.sessions, 3)
        row = QHBoxLayout()
        new_session = QPushButton("New session")
        new_session.clicked.connect(self.new_session)
        rename_session = QPushButton("Rename")
        rename_session.clicked.connect(self._on_rename_session)
        delete_session = QPushButton("Delete")
        delete_session.setToolTip("Delete the selected session and its messages (facts learnt from it stay)")
        delete_session.clicked.connect(self._on_delete_session)
        row.addWidget(new_session)
        row.addWidget(rename_session)
        row.addWidget(delete_session)
        left_layout.addLayout(row)

        # -- centre: the chat, and what to do first when there is no project yet
        self.empty_state = QWidget()
        empty_layout = QVBoxLayout(self.empty_state)
        welcome = QLabel(
            "<h3>Start with a client project</h3>"
            "<p>Dossier keeps a separate memory for each client: the facts you confirm, "
            "their voice and your past sessions. Nothing of one client reaches another.</p>"
        )
        welcome.setWordWrap(True)
        self.create_first_project = QPushButton("Create your first client project…")
        self.create_first_project.clicked.connect(self._on_new_project)
        empty_layout.addWidget(welcome)
        empty_layout.addWidget(self.create_first_project, 0, Qt.AlignmentFlag.AlignLeft)
        self.empty_state.hide()
        self.banner = ErrorBanner()
        self.chat = ChatView()
        self.turns = ChatController(runtime, tasks, self.chat)
        self.chat.send_requested.connect(self.send)
        self.chat.stop_requested.connect(self.stop)
        self.chat.ask_again_requested.connect(self._on_ask_again)
        self.turns.session_started.connect(lambda _id: self.reload_sessions())
        self.turns.turn_finished.connect(self._on_turn_finished)
        self.turns.learned.connect(self._turn_changed_memory)
        self.turns.failed.connect(self.show_error)
        self.turns.noted.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.turns.ended.connect(self._on_turn_ended)
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.addWidget(self.banner)
        centre_layout.addWidget(self.empty_state)
        centre_layout.addWidget(self.chat, 1)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(centre)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 700])
        self.setCentralWidget(splitter)

        # -- right: the memory panel
        self.memory = MemoryPanel(runtime, tasks)
        self.memory.error.connect(self.show_error)
        self.memory.memory_changed.connect(self._on_memory_changed)
        self.memory.sessions.open_requested.connect(self.open_session)
        self.memory.search.open_requested.connect(self._on_search_hit_opened)
        self.documents = DocumentsTab(runtime, tasks)
        self.memory.add_tab(self.documents, "Docs", "Documents")
        self.documents.noted.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self.chat.memory_item_activated.connect(self._on_memory_item)
        self.chat.passage_activated.connect(self._on_passage_activated)
        self.chat.delete_requested.connect(self._on_delete_message)
        # Files dropped anywhere on the window become the project's documents.
        self.setAcceptDrops(True)
        self.dock = QDockWidget("Memory", self)
        self.dock.setObjectName("memory-dock")
        self.dock.setWidget(self.memory)
        # The tabs' button rows would otherwise set a minimum wider than a small screen allows.
        self.memory.setMinimumWidth(260)
        self.dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.resizeDocks([self.dock], [420], Qt.Orientation.Horizontal)

        # -- status bar
        self.model_label = QLabel("Model: not loaded")
        self.model_label.setTextFormat(Qt.TextFormat.RichText)  # names are escaped: they come from files
        self.model_label.linkActivated.connect(self._on_model_link)
        self.speed_label = QLabel("")
        self.context_label = QLabel("")
        self.turns.speed_changed.connect(self.speed_label.setText)
        self.turns.context_changed.connect(self.context_label.setText)
        self.index_label = QLabel("")
        for label in (self.index_label, self.speed_label, self.context_label):
            label.setTextFormat(Qt.TextFormat.PlainText)
        for label in (self.index_label, self.model_label, self.speed_label, self.context_label):
            self.statusBar().addPermanentWidget(label)
        # Large imports return once they are keyword-searchable; their vectors follow on
        # the memory's own worker. Reading its progress is a lock and two integers.
        self._index_timer = QTimer(self)
        self._index_timer.setInterval(INDEX_POLL_MS)
        self._index_timer.timeout.connect(self._on_index_poll)
        self._index_timer.start()
        # What the CLI, an MCP client or another window changes shows here too: the open
        # project's fingerprint is read every few seconds and the panels reload when it moved.
        self._seen: tuple[int | None, tuple[object, ...] | None] = (None, None)
        self._changes_timer = QTimer(self)
        self._changes_timer.setInterval(CHANGES_POLL_MS)
        self._changes_timer.timeout.connect(self._on_changes_poll)
        self._changes_timer.start()
        self._summarizing = False
        self._summary_timer = QTimer(self)
        self._summary_timer.setInterval(SUMMARY_CHECK_MS)
        self._summary_timer.timeout.connect(self.summarize_due_sessions)
        self._summary_timer.timeout.connect(self.backup_if_due)

        self._make_actions()
        self._restore_geometry()
        self.reload_projects()
        self._start_after_projects = (reconcile_index, load_model)
        self.projects_loaded.connect(self._on_first_projects)

    def _on_first_projects(self) -> None:
        # Projects first: the index check and the model load compete for the CPU and the GIL.
        self.projects_loaded.disconnect(self._on_first_projects)
        for warning in open_warnings(self.runtime.service, self.runtime.paths):
            self.show_error(warning)
        reconcile, load_model = self._start_after_projects
        # Sessions that ended, went idle or grew since their summary: once the model is
        # ready (the summaries use it), then every SUMMARY_CHECK_MS.
        if load_model:
            self.model_ready.connect(lambda _name: self.summarize_due_sessions())
        else:
            QTimer.singleShot(0, self.summarize_due_sessions)
        self._summary_timer.start()
        QTimer.singleShot(0, self.backup_if_due)
        if reconcile:
            self.statusBar().showMessage("Checking the search index…")
            self.call("reconcile index", self.runtime.service.reconcile, then=self._on_reconciled)
        if load_model:
            QTimer.singleShot(0, self.prepare_model)

    def _on_reconciled(self, report: ReindexReport) -> None:
        notes = repair_notes(report)
        if notes:
            self.statusBar().showMessage(" ".join(notes), 15000)
            return
        items = f"{report.embedded:,} item" + ("" if report.embedded == 1 else "s")
        self.statusBar().showMessage(f"Search index updated ({items})" if report.embedded else "", 5000)

    def _on_index_poll(self) -> None:
        progress = self.runtime.service.index_progress()
        if progress.idle:
            self.index_label.setText("")
            return
        self.index_label.setText(f"Indexing for meaning search: {progress.pending:,} left")
        self.index_label.setToolTip("Everything is searchable by keyword already; meaning search catches up.")

    def _on_changes_poll(self) -> None:
        project_id = self.project_id
        if project_id is None:
            return
        self.tasks.call(
            "check for changes",
            self.runtime.service.fingerprint,
            project_id,
            then=functools.partial(self._on_fingerprint, project_id),
            # A failed check (the database busy a moment) is tried again at the next poll.
            on_error=lambda message: log.info("change check failed: %s", message),
            latest=(self, "changes"),
        )

    def _on_fingerprint(self, project_id: int, seen: tuple[object, ...]) -> None:
        if project_id != self.project_id:
            return
        known_project, known = self._seen
        self._seen = (project_id, seen)
        if known == seen and known_project == project_id:
            return
        # The first look at a project reloads too: what changed between its panels' loads and
        # this look would otherwise never show.
        if known is None or known[0] != seen[0]:
            self.reload_projects()  # a project imported or created elsewhere
        self.memory.memory_changed.emit(project_id, frozenset(Kind))
        self.reload_sessions()
        if self.session_id is not None and self._turn is None:
            # A message of the open session deleted elsewhere (the CLI) must leave the screen too.
            session_id = self.session_id
            self.load(
                "check messages",
                self.runtime.service.message_ids,
                session_id,
                then=functools.partial(self._on_message_ids, session_id),
            )

    def _on_message_ids(self, session_id: int, stored: list[int]) -> None:
        shown = {i for entry in self.chat.entries for i in entry.message_ids}
        if session_id == self.session_id and self._turn is None and not shown <= set(stored):
            self._load_messages(session_id)

    # ---------------------------------------------------------------- helpers

    def call(self, name: str, fn: Callable[..., R], *args: Any, then: Callable[[R], None] | None = None) -> Task:
        return self.tasks.call(name, fn, *args, then=then, on_error=self.show_error)

    def load(self, name: str, fn: Callable[..., R], *args: Any, then: Callable[[R], None]) -> Task:
        """Like :meth:`call`, for what the window shows: only the newest load of ``name`` is shown."""
        return self.tasks.call(name, fn, *args, then=then, on_error=self.show_error, latest=(self, name))

    def show_error(self, message: str, about: str | None = None) -> None:
        self.banner.show_message(message, about)
        self.statusBar().showMessage(message, 8000)

    def _make_actions(self) -> None:
        def action(menu: Any, text: str, slot: Callable[[], object], shortcut: Any = None) -> QAction:
            act = QAction(text, self)
            if shortcut is not None:
                act.setShortcut(QKeySequence(shortcut))
            act.triggered.connect(slot)
            menu.addAction(act)
            return act

        file_menu = self.menuBar().addMenu("&File")
        action(file_menu, "New project…", self._on_new_project)
        self.export_action = action(file_menu, "Export brief…", self.export_brief, "Ctrl+E")
        self.import_history_action = action(file_menu, "Import ChatGPT or Claude history…", self.import_history)
        action(file_menu, "Back up…", self._on_backup)
        action(file_menu, "Settings…", self.open_settings, QKeySequence.StandardKey.Preferences)
        action(file_menu, "Open data folder", self._on_open_data_folder)
        action(file_menu, "Show logs", self._on_show_logs)
        file_menu.addSeparator()
        action(file_menu, "Quit", self.close, QKeySequence.StandardKey.Quit)
        session_menu = self.menuBar().addMenu("&Session")
        self.new_session_action = action(session_menu, "New session", self.new_session, "Ctrl+N")
        action(session_menu, "Focus the message box", self.focus_input, "Ctrl+L")
        action(session_menu, "Search memory", self.focus_memory_search, "Ctrl+F")
        action(session_menu, "Stop answering", self.stop, "Esc")

    def focus_input(self) -> None:
        self.chat.input.setFocus()

    def focus_memory_search(self) -> None:
        """Ctrl+F: the hybrid search over this client's memory (as ``dossier search``)."""
        self.dock.show()
        self.memory.setCurrentWidget(self.memory.search)
        self.memory.search.query.setFocus()
        self.memory.search.query.selectAll()

    def _on_search_hit_opened(self, key: str, session_id: int | None) -> None:
        parsed = ItemKey.parse(key)
        if parsed is not None and parsed.kind in (ItemKind.MESSAGES, ItemKind.SUMMARY) and session_id is not None:
            self.open_session(session_id)
        if parsed is not None and parsed.kind is ItemKind.CHUNK:
            self.documents.show_chunk(parsed.id)
            return
        self.memory.show_item(key)

    # ---------------------------------------------------------------- model

    def prepare_model(self) -> None:
        """Assembles the default model on first run (with a progress dialog), then loads it."""
        if self.runtime.settings.chat_backend == "remote":
            self.model_label.setText(f"Model: {html.escape(self.runtime.settings.remote_model)} (remote)")
            return
        self.model_label.setText("Model: preparing…")
        progress = QProgressDialog("Preparing the bundled model (first run only)…", "", 0, 100, self)
        progress.setCancelButton(None)
        progress.setWindowTitle("Dossier")
        progress.setMinimumDuration(400)
        progress.setAutoClose(True)
        task = self.tasks.run_with_progress("prepare model", self.runtime.ensure_local_model_file)
        task.token.connect(lambda p: progress.setValue(int(p[0] * 100 / p[1])) if p[1] else None)

        def prepared(_path: object) -> None:
            progress.close()
            self._load_model()

        def failed(message: str) -> None:
            progress.close()
            self._on_model_failed(message)

        task.finished.connect(prepared)
        task.failed.connect(failed)

    def _load_model(self) -> None:
        self.model_label.setText("Model: loading…")

        def load() -> str:
            engine = self.runtime.local_model()
            engine.load().result()
            return engine.name + (BASE_MODEL_NOTE if engine.is_base_model else "")

        self.call("load model", load, then=self._on_model_loaded).failed.connect(self._on_model_failed)

    def _on_model_loaded(self, name: str) -> None:
        if name.endswith(BASE_MODEL_NOTE):
            # The one place a new user sees why answers are weak: the way out is one click away.
            self.model_label.setText(f'Model: {html.escape(name)} · <a href="settings">Get a better model…</a>')
        else:
            self.model_label.setText(f"Model: {html.escape(name)}")
        self.banner.clear("model")
        self.model_ready.emit(name)

    def _on_model_link(self, _target: str) -> None:
        self.open_settings()

    def _on_model_failed(self, message: str) -> None:
        self.model_label.setText("Model: unavailable")
        self.show_error(f"{message} — choose another model in Settings.", about="model")

    # ---------------------------------------------------------------- projects

    def reload_projects(self) -> None:
        self.projects_pane.reload()

    def _on_new_project(self) -> None:
        self.projects_pane.new_project()

    def _on_projects_loaded(self, count: int) -> None:
        self._show_title()  # a renamed project
        self.empty_state.setVisible(count == 0 and not self.show_archived.isChecked())
        self.projects_loaded.emit()

    def _show_title(self) -> None:
        """ "Acme Rebrand — Dossier", with the data folder when it is not the usual one (two windows, two folders)."""
        item = self.projects.currentItem()
        name = item.text().removesuffix(" (archived)") if item is not None and self.project_id is not None else ""
        folder = self.runtime.paths.data_dir
        where = "" if folder == default_data_dir().expanduser().resolve() else f" ({folder})"
        self.setWindowTitle(f"{name} — Dossier{where}" if name else f"Dossier{where}")

    def _on_project_selected(self, project_id: int | None) -> None:
        self.statusBar().clearMessage()  # a "pick a project" guide is answered
        if project_id == self.project_id:
            return
        self._leave_session()
        self.project_id = project_id
        self._show_title()
        self.session_id = None
        self.chat.set_entries([])
        # What was said about the last project (an error, its last turn's figures) is not about this one;
        # a problem with the model is, and stays.
        self.banner.clear(None)
        self.context_label.setText("")
        self.speed_label.setText("")
        self.memory.set_project(project_id)
        self.reload_sessions()
        if project_id is not None and project_id != self.runtime.settings.last_project_id:
            self.call("remember project", lambda: self.runtime.update_settings(last_project_id=project_id))

    # ---------------------------------------------------------------- sessions

    def reload_sessions(self) -> None:
        if self.project_id is None:
            self.sessions.clear()
            return
        project_id = self.project_id
        self.load(
            "load sessions",
            self.runtime.service.list_sessions,
            project_id,
            then=lambda sessions: self._show_sessions(sessions) if project_id == self.project_id else None,
        )

    def _show_sessions(self, sessions: list[ChatSession]) -> None:
        self.sessions.clear()
        for s in sessions:
            item = QListWidgetItem(
                f"{s.title or 'Untitled'}\n{local_time(s.started_at):%Y-%m-%d %H:%M} · "
                f"{s.message_count} message{'' if s.message_count == 1 else 's'}"
            )
            item.setData(KEY_ROLE, s.id)
            self.sessions.addItem(item)
            if s.id == self.session_id:
                self.sessions.setCurrentItem(item)

    def _guide_to_a_project(self) -> None:
        """Not an error: the first thing to do, with the action one click away."""
        if self.projects.count() == 0:
            self.empty_state.show()
            self.create_first_project.setFocus()
        self.statusBar().showMessage("Pick a client project, or create one, to start chatting.", 8000)

    def new_session(self) -> None:
        if self.project_id is None:
            self._guide_to_a_project()
            return
        self._leave_session()
        self.session_id = None
        self.sessions.clearSelection()
        self.chat.set_entries([])
        self.focus_input()

    def _on_session_activated(self, item: QListWidgetItem) -> None:
        session_id = item.data(KEY_ROLE)
        if session_id != self.session_id:
            self.open_session(session_id)

    def open_session(self, session_id: int) -> None:
        if self._turn is not None:
            return
        if session_id != self.session_id:
            self._leave_session()
        self.session_id = session_id
        self._load_messages(session_id)

    def _load_messages(self, session_id: int) -> None:
        """Shows the session's messages as stored, unless another session is open by the time they come."""
        self.load(
            "load messages",
            self.runtime.service.list_messages,
            session_id,
            then=lambda messages: self._show_messages(messages) if session_id == self.session_id else None,
        )

    def _show_messages(self, messages: list[Message]) -> None:
        self.turns.show_messages(messages)

    def _on_rename_session(self) -> None:
        item = self.sessions.currentItem()
        if item is None:
            return
        title, ok = QInputDialog.getText(self, "Rename session", "Title:", text=item.text().split("\n")[0])
        if ok:
            self.call(
                "rename session",
                self.runtime.service.rename_session,
                item.data(KEY_ROLE),
                title,
                then=lambda _s: self.memory.memory_changed.emit(self.project_id, frozenset({Kind.SESSIONS})),
            )

    def _on_delete_session(self) -> None:
        item = self.sessions.currentItem()
        if item is None or self._turn is not None:
            return
        title = item.text().split("\n")[0]
        if confirm(self, "Delete session", f"Delete the session {title!r} and its messages for good?"):
            self.delete_session(item.data(KEY_ROLE))

    def delete_session(self, session_id: int) -> None:
        """Deletes a session (say, one imported into the wrong project); the chat leaves it if it was open."""
        if session_id == self.session_id:
            self.session_id = None
            self.chat.set_entries([])
        self.call(
            "delete session",
            self.runtime.service.delete_session,
            session_id,
            then=lambda _s: self.memory.memory_changed.emit(self.project_id, frozenset({Kind.SESSIONS})),
        )

    def _on_delete_message(self, entry: ChatEntry) -> None:
        if not entry.message_ids or self._turn is not None:
            return
        if entry.role == "user":
            what = "your message and the answer to it"
        elif entry.role == "assistant":
            what = "this answer" + (" (and the answers it replaced)" if len(entry.message_ids) > 1 else "")
        else:
            what = "this message"
        waiting = sum(1 for p in self.memory.inbox.proposals.values() if p.source_message_id in entry.message_ids)
        goes = "goes" if waiting == 1 else "go"
        proposals = f"The {counted(waiting, 'proposal')} from it waiting in the inbox {goes} too; " if waiting else ""
        if confirm(
            self,
            "Delete message",
            f"Delete {what} for good? It leaves the session, search and what the assistant is given. "
            f"{proposals}facts you accepted from it stay (edit or archive them under Facts). "
            "Backups made before keep it.",
        ):
            self.delete_message(entry.message_ids)

    def delete_message(self, message_ids: Sequence[int]) -> None:
        """Deletes a shown message (all the ids one entry stands for), then shows the session as stored."""
        session_id = self.session_id

        def delete() -> None:
            for message_id in message_ids:
                try:
                    self.runtime.delete_message(message_id)
                except NotFoundError:
                    pass  # an answer that went with the message before it

        self.call("delete message", delete, then=lambda _none: self._after_message_deleted(session_id))

    def _after_message_deleted(self, session_id: int | None) -> None:
        self.memory.memory_changed.emit(self.project_id, frozenset({Kind.SESSIONS, Kind.PROPOSALS, Kind.FACTS}))
        if session_id is not None and session_id == self.session_id:
            self._load_messages(session_id)
        self.statusBar().showMessage("Message deleted.", 10000)

    # ---------------------------------------------------------------- a turn (ui.chat_controller runs it)

    @property
    def project_id(self) -> int | None:
        return self._project_id

    @project_id.setter
    def project_id(self, value: int | None) -> None:
        self._project_id = self.turns.project_id = value

    @property
    def session_id(self) -> int | None:
        return self.turns.session_id

    @session_id.setter
    def session_id(self, value: int | None) -> None:
        self.turns.session_id = value

    @property
    def _turn(self) -> Task | None:
        return self.turns.task

    def send(self, text: str) -> None:
        """Sends a message (starting a session if needed) and streams the answer in."""
        if self.turns.busy:
            return
        if self.project_id is None:
            self._guide_to_a_project()  # the text stays in the box
            return
        self.banner.hide()
        self.turns.send(text)

    def stop(self) -> None:
        self.turns.stop()

    def _on_ask_again(self) -> None:
        self.banner.hide()
        self.turns.ask_again()

    def _on_turn_finished(self, result: TurnResult) -> None:
        # The turn itself may have changed memory (/remember, /forget): show it now, and
        # again once the background has learnt from it. Sessions follow when it ends.
        self.memory.memory_changed.emit(self.project_id, TURN_CHANGES - {Kind.SESSIONS})
        self.turn_finished.emit(result)

    def _on_turn_ended(self) -> None:
        # Answered, stopped or failed: a session may have started or grown either way.
        self.memory.memory_changed.emit(self.project_id, frozenset({Kind.SESSIONS}))

    # ---------------------------------------------------------------- summaries

    def _leave_session(self) -> None:
        """Ends the session being left and summarises it in the background (extractive without a model)."""
        session_id = self.session_id
        if session_id is None:
            return
        runtime = self.runtime

        def close() -> object:
            return runtime.summarizer(runtime.background_model()).close_session(session_id)

        self.call("summarize the session", close, then=lambda _s: self._on_summaries_written())

    def backup_if_due(self) -> None:
        """The daily automatic backup (at start, then hourly), as the CLI makes after its commands."""

        def skipped(message: str) -> None:
            log.warning("automatic backup skipped: %s", message)
            self.statusBar().showMessage(f"Automatic backup skipped: {message}", 15000)

        self.tasks.call("automatic backup", self.runtime.backup_if_due, then=self._on_backed_up, on_error=skipped)

    def _on_backed_up(self, path: Path | None) -> None:
        if path is not None:
            self.statusBar().showMessage(f"Backed up to {path.name}", 8000)

    def summarize_due_sessions(self) -> None:
        """Summarises ended, idle or grown sessions whose summary is missing or stale (at start, then hourly)."""
        if self._summarizing:
            return
        self._summarizing = True
        runtime = self.runtime

        def summarize() -> object:
            return runtime.summarizer(runtime.background_model()).summarize_due()

        def done(_result: object = None) -> None:
            self._summarizing = False
            self._on_summaries_written()

        task = self.call("summarize due sessions", summarize, then=done)
        task.failed.connect(lambda _message: setattr(self, "_summarizing", False))

    def _on_summaries_written(self) -> None:
        # Summaries may have been written for any project (the hourly run covers all).
        self.memory.memory_changed.emit(None, frozenset({Kind.SESSIONS}))

    def _turn_changed_memory(self) -> None:
        self.memory.memory_changed.emit(self.project_id, TURN_CHANGES)

    def _on_memory_changed(self, project_id: int | None, kinds: frozenset[Kind]) -> None:
        # The session list on the left shows sessions too (titles, counts, summaries).
        if Kind.SESSIONS in kinds and (project_id is None or project_id == self.project_id):
            self.reload_sessions()

    def _on_memory_item(self, key: str) -> None:
        parsed = ItemKey.parse(key)
        if parsed is not None and parsed.kind is ItemKind.CHUNK:
            self.documents.show_chunk(parsed.id)  # a passage no longer among the answer's
            return
        self.dock.show()
        self.memory.show_item(key)

    def _on_passage_activated(self, passage: Passage) -> None:
        self.documents.show_passage(passage)

    # ---------------------------------------------------------------- documents dropped on the window

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = dropped_paths(event.mimeData())
        if not paths:
            return
        event.acceptProposedAction()
        # The progress and the list are in the Documents tab: show it (without a project,
        # the tab says to pick one).
        self.dock.show()
        self.memory.setCurrentWidget(self.documents)
        self.documents.add_paths(paths)

    # ---------------------------------------------------------------- dialogs

    def open_settings(self) -> None:
        from ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.runtime, self.tasks, self.project_id, self)
        dialog.model_changed.connect(self.prepare_model)
        dialog.exec()

    def export_brief(self) -> None:
        if self.project_id is None:
            self.show_error("Pick a project to export its brief.")
            return
        from ui.brief_dialog import BriefDialog

        BriefDialog(self.runtime, self.tasks, self.project_id, self).exec()

    def import_history(self) -> HistoryImportDialog:
        """Shows the one history import dialog; not modal, so an import can run while the user works."""
        if self.history_dialog is None:
            self.history_dialog = HistoryImportDialog(self.runtime, self.tasks, lambda: self.project_id, self)
            self.history_dialog.memory_changed.connect(self.memory.memory_changed)
            self.history_dialog.noted.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.history_dialog.refresh_projects()
        self.history_dialog.show()
        self.history_dialog.raise_()
        self.history_dialog.activateWindow()
        return self.history_dialog

    def _on_backup(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        # In the home folder, not wherever the app was started from (with `make run`, the source tree).
        default = Path.home() / f"Dossier backup {date.today():%Y-%m-%d}.zip"
        path, _ = QFileDialog.getSaveFileName(self, "Back up Dossier", str(default), "Zip files (*.zip)")
        if path:
            self.back_up_to(Path(path))

    def back_up_to(self, path: Path) -> None:
        try:
            self.runtime.paths.check_user_output(path)
        except OSError as refused:
            self.show_error(str(refused))
            return
        from app.portability.backup import create_backup

        self.call(
            "backup",
            create_backup,
            self.runtime.service,
            self.runtime.paths.settings_file,
            path,
            then=lambda info: self.statusBar().showMessage(f"Backed up to {info.path}", 8000),
        )

    def _on_show_logs(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.runtime.paths.logs_dir)))

    def _on_open_data_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.runtime.paths.data_dir)))

    # ---------------------------------------------------------------- window state

    def _restore_geometry(self) -> None:
        saved = self.runtime.settings.window_geometry
        if saved:
            self.restoreGeometry(QByteArray.fromBase64(saved.encode("ascii")))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # The chat is what the window is for: on a small screen the memory panel gives
        # way first, down to MEMORY_SHARE of the width, instead of squeezing the chat.
        widest = int(self.width() * MEMORY_SHARE)
        if self.dock.isVisible() and not self.dock.isFloating() and self.dock.width() > widest:
            self.resizeDocks([self.dock], [widest], Qt.Orientation.Horizontal)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.stop()
        self.documents.shutdown()
        if self.history_dialog is not None:
            self.history_dialog.shutdown()
        self._index_timer.stop()
        self._summary_timer.stop()
        if self.session_id is not None:
            # Ended now, summarised at the next start: closing must not wait for a model.
            try:
                self.runtime.service.end_session(self.session_id)
            except Exception as error:  # the window closes whatever happens
                log.warning("could not end session %s: %s", self.session_id, error)
        geometry = bytes(self.saveGeometry().toBase64().data()).decode("ascii")
        try:
            self.runtime.update_settings(window_geometry=geometry)
        except OSError as error:
            log.warning("could not save the window geometry: %s", error)
        super().closeEvent(event)
