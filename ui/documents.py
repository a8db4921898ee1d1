"""The Documents tab: a client project's files, and the popup that shows a cited passage.

Users give a project its files (a contract, a statement of work, notes,
e-mails); answers then cite their passages by page. Adding, syncing watched
folders and re-reading run off the GUI thread through the task runner, one at
a time in a queue: the progress line says which file is read, and Cancel
stops after the current file. The tab reloads when the work is done and, while
it shows a document whose passages wait for their vectors ("indexing…"),
whenever the memory's background embedding moves.

The current project's watched folders are synced when it is opened, then every
:data:`SYNC_EVERY_MS`; never two syncs of a project at once.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.documents.facts import DocumentLearning, propose_from_document
from app.documents.library import (
    BatchReport,
    Progress,
    SyncReport,
    add_files,
    copy_to_open,
    is_outdated,
    reindex_document,
    reread_documents,
    sync_project_folders,
)
from app.documents.library import watch_folder as start_watching
from app.documents.parsing import DOCX, EML, HTML, MARKDOWN, MEDIA_TYPES, PDF, TEXT, UNSUPPORTED
from app.runtime import Runtime
from memory import Document, DocumentChunk, DocumentEvent, DocumentStatus, ItemKey, WatchedFolder, local_time
from ui.chat import Passage
from ui.chat_controller import load_passages
from ui.memory_panel import KEY_ROLE, NO_PROJECT_HINT, Kind, MemoryTab, confirm, memory_list
from ui.tasks import Task, TaskRunner
from ui.widgets import HintedList, ProgressPanel, button_row

#: How often the open project's watched folders are synced while the window runs.
SYNC_EVERY_MS = 2 * 60 * 1000
#: How often the tab looks at the background embedding while it shows "indexing…".
INDEX_CHECK_MS = 1000
#: What a change to documents may change in what the panel shows.
DOCUMENT_CHANGES = frozenset({Kind.DOCUMENTS})
FILE_FILTER = "Documents (" + " ".join(f"*{suffix}" for suffix in sorted(MEDIA_TYPES)) + ");;All files (*)"
TYPE_NAMES = {PDF: "PDF", DOCX: "Word", MARKDOWN: "Markdown", TEXT: "Text", HTML: "HTML", EML: "E-mail"}

NO_DOCUMENTS_HINT = (
    "No documents for this client yet.\n\nPress Add files… or drop files here: contracts, statements of "
    "work, brand guides, notes, e-mails. Answers then cite them by page."
)
NO_FOLDERS_HINT = "No watched folders. Watch folder… keeps this project's documents in step with a folder."


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def document_status(document: Document) -> str:
    if document.status is DocumentStatus.REMOVED:
        return "removed"
    return "indexing…" if document.chunks_pending else "ready"


def document_line(document: Document) -> str:
    """A document's row: its key and title, then type, pages, size, date and status."""
    pages = "—" if document.pages is None else f"{document.pages} page{'' if document.pages == 1 else 's'}"
    kind = TYPE_NAMES.get(document.media_type, document.media_type)
    details = [kind, pages, human_size(document.size), f"added {local_time(document.added_at):%Y-%m-%d}"]
    return f"{document.key} · {document.title}\n{' · '.join(details)} · {document_status(document)}"


def dropped_paths(mime: QMimeData) -> list[Path]:
    """The local files (and folders) a drag carries; links to web pages are not files."""
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()] if mime.hasUrls() else []


def unsupported(paths: Sequence[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Splits off files whose suffix names a format Dossier does not read.

    Refused here, not read first: a dropped video could be hundreds of
    megabytes. A file without a suffix (or a folder) goes on to the reader,
    which can tell a PDF by its contents and says why a folder is not a file.
    """
    kept, refused = [], []
    for path in paths:
        suffix = path.suffix.lower()
        if suffix and suffix not in MEDIA_TYPES and not path.is_dir():
            refused.append((path.name, f"unsupported type ({suffix})"))
        else:
            kept.append(path)
    return kept, refused


class JobKind(enum.Enum):
    ADD = "add"
    SYNC = "sync"
    REINDEX = "re-index"
    #: Documents an older version read, read again after an update.
    REREAD = "read again"
    PROPOSE = "propose facts"


@dataclass
class Job:
    """One piece of document work waiting in, or running from, the tab's queue."""

    kind: JobKind
    project_id: int
    #: What the progress line says before the first file ("Adding 3 files…").
    label: str
    #: Runs on a worker; reports ``Progress`` on the task's token and watches its cancel flag.
    work: Callable[[Task], object]
    #: A periodic sync reports briefly, in the status bar; one the user asked for, in full.
    automatic: bool = False

    @property
    def cancellable(self) -> bool:
        return self.kind is not JobKind.REINDEX  # one file, read in one go


class PassageDialog(QDialog):
    """A cited passage as the answer was given it: the document, the page or section, the headings, the text."""

    open_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Quoted passage")
        self.passage: Passage | None = None
        # Titles and text come from the user's files: shown as text, never as markup.
        self.source = QLabel()
        self.location = QLabel()
        for label in (self.source, self.location):
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.source.font()
        font.setBold(True)
        self.source.setFont(font)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.open_button = buttons.addButton("Open original", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(self._on_open)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.source)
        layout.addWidget(self.location)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
        self.resize(560, 380)

    def show_passage(self, passage: Passage) -> None:
        self.passage = passage
        chunk = passage.chunk
        self.source.setText(f"{passage.title} ({passage.filename})")
        where = f"page {chunk.page}" if chunk.page is not None else f"section {chunk.section}"
        headings = f" · {chunk.heading_path}" if chunk.heading_path else ""
        self.location.setText(f"[{chunk.citation}] · {where}{headings}")
        self.setWindowTitle(f"Quoted passage: {chunk.citation}")
        self.text.setPlainText(chunk.text)

    def _on_open(self) -> None:
        if self.passage is not None:
            self.open_requested.emit(self.passage.chunk.document_id)


class DocumentDialog(QDialog):
    """A document's passages (as answers cite them) and its history."""

    def __init__(
        self, document: Document, chunks: list[DocumentChunk], events: list[DocumentEvent], parent: QWidget | None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{document.key} · {document.title}")
        self.passages = QListWidget()
        self.passages.setWordWrap(True)
        self.passages.setAlternatingRowColors(True)
        for chunk in chunks:
            heading = f" · {chunk.heading_path}" if chunk.heading_path else ""
            self.passages.addItem(QListWidgetItem(f"[{chunk.citation}]{heading}\n{chunk.text}"))
        self.history = QListWidget()
        self.history.setWordWrap(True)
        for event in events:
            detail = f": {event.detail}" if event.detail else ""
            self.history.addItem(
                QListWidgetItem(f"{local_time(event.created_at):%Y-%m-%d %H:%M} · {event.action.value}{detail}")
            )
        tabs = QTabWidget()
        tabs.addTab(self.passages, f"Passages ({len(chunks)})")
        tabs.addTab(self.history, "History")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs, 1)
        layout.addWidget(buttons)
        self.resize(600, 460)


class DocumentsTab(MemoryTab):
    """The project's documents and watched folders, and the queue of work on them.

    Signals:
        noted(str): a short report for the status bar (an error goes to ``error``, for the banner).
    """

    shows = DOCUMENT_CHANGES
    noted = Signal(str)

    def __init__(self, runtime: Runtime, tasks: TaskRunner) -> None:
        super().__init__(runtime, tasks)
        self.setAcceptDrops(True)
        #: Opens a file in the user's viewer; a test hands in its own.
        self.open_url: Callable[[QUrl], object] = QDesktopServices.openUrl
        self.documents: dict[int, Document] = {}
        self.folders: dict[int, WatchedFolder] = {}
        self.passage_dialog: PassageDialog | None = None

        self.list = memory_list()
        self.list.itemDoubleClicked.connect(self._on_details)
        self.show_removed = QPushButton("Removed")
        self.show_removed.setCheckable(True)
        self.show_removed.setToolTip("Also list removed documents (their history is kept)")
        self.show_removed.toggled.connect(self._load_documents)
        top = QHBoxLayout()
        note = QLabel("Files answers can cite by page.")
        note.setWordWrap(True)
        top.addWidget(note, 1)
        top.addWidget(self.show_removed)
        # Two rows: six buttons in one cut their labels in the dock's default width.
        buttons, self.buttons = button_row(
            ("Add files…", self._on_add_files), ("Open", self._on_open), ("Details", self._on_details)
        )
        more_buttons, more = button_row(
            ("Re-index", self._on_reindex), ("Propose facts", self._on_propose), ("Remove", self._on_remove)
        )
        self.buttons.update(more)
        self.buttons["Propose facts"].setToolTip(
            "Read the document for facts worth remembering; they go to the Inbox with their page, for your review"
        )
        self.buttons["Open"].setToolTip("Open the original file")
        self.buttons["Details"].setToolTip("The document's passages and history")
        self.buttons["Re-index"].setToolTip("Read the kept original again and replace its passages")

        # -- the progress of the work under way
        self.progress = ProgressPanel("Stop after the file being read; what was added stays", self._on_cancel)
        self.progress_label, self.progress_bar = self.progress.label, self.progress.bar
        self.cancel_button = self.progress.cancel_button

        # -- watched folders
        self.folder_list = HintedList()
        self.folder_list.setWordWrap(True)
        self.folder_list.set_hint(NO_FOLDERS_HINT)
        folder_buttons, self.folder_buttons = button_row(
            ("Watch folder…", self._on_watch_folder),
            ("Stop watching", self._on_stop_watching),
            ("Sync now", self._on_sync_now),
        )
        folders = QWidget()
        folders_layout = QVBoxLayout(folders)
        folders_layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Watched folders</b>")
        folders_layout.addWidget(title)
        folders_layout.addWidget(self.folder_list, 1)
        folders_layout.addLayout(folder_buttons)

        documents = QWidget()
        documents_layout = QVBoxLayout(documents)
        documents_layout.setContentsMargins(0, 0, 0, 0)
        documents_layout.addLayout(top)
        documents_layout.addWidget(self.list, 1)
        documents_layout.addLayout(buttons)
        documents_layout.addLayout(more_buttons)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(documents)
        split.addWidget(folders)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.progress)
        layout.addWidget(split, 1)

        # -- the queue: one job at a time
        self._queue: list[Job] = []
        self._running: tuple[Job, Task] | None = None
        self._sync_timer = QTimer(self)
        self._sync_timer.setInterval(SYNC_EVERY_MS)
        self._sync_timer.timeout.connect(self._on_sync_due)
        #: Set when a project is opened: its folders are synced once they are listed,
        #: and its documents read by an older version are read again.
        self._sync_when_listed = False
        self._reread_when_listed = False
        # While "indexing…" shows: the background embedding's last seen progress, and
        # whether the list was reloaded since it went idle (once is enough: a passage
        # whose vector failed stays pending until the next start, and must not make
        # the tab reload every second).
        self._index_timer = QTimer(self)
        self._index_timer.setInterval(INDEX_CHECK_MS)
        self._index_timer.timeout.connect(self._on_index_check)
        self._index_seen: tuple[int, int] | None = None
        self._reloaded_when_idle = False

    # ---------------------------------------------------------------- showing

    def set_project(self, project_id: int | None) -> None:
        changed = project_id != self.project_id
        super().set_project(project_id)
        if not changed:
            return
        self._sync_when_listed = self._reread_when_listed = project_id is not None
        if project_id is None:
            self._sync_timer.stop()
        else:
            self._sync_timer.start()

    def reload(self) -> None:
        if self.project_id is None:
            self.list.clear()
            self.folder_list.clear()
            self.documents, self.folders = {}, {}
            self.list.set_hint(NO_PROJECT_HINT)
            self._index_timer.stop()
            return
        self._load_documents()
        self.load(
            "load watched folders", self.runtime.service.list_watched_folders, self.project_id, then=self._show_folders
        )

    def _load_documents(self) -> None:
        if self.project_id is None:
            return
        self.list.set_hint(NO_DOCUMENTS_HINT)
        service = self.runtime.service
        self.load(
            "load documents",
            lambda pid, removed: service.list_documents(pid, include_removed=removed),
            self.project_id,
            self.show_removed.isChecked(),
            then=self._show,
        )

    def _show(self, documents: list[Document]) -> None:
        selected = self._selected()
        self.list.clear()
        self.documents = {d.id: d for d in documents}
        for document in documents:
            item = QListWidgetItem(document_line(document))
            item.setData(KEY_ROLE, document.id)
            item.setToolTip(document.filename)
            if document.status is DocumentStatus.REMOVED:
                item.setForeground(QColor("gray"))
            self.list.addItem(item)
            if selected is not None and document.id == selected.id:
                self.list.setCurrentItem(item)
        if self._reread_when_listed:
            self._reread_when_listed = False
            self._reread_outdated([d for d in documents if is_outdated(d)])
        if any(d.chunks_pending and d.status is DocumentStatus.ACTIVE for d in documents):
            if not self._index_timer.isActive():
                self._index_seen, self._reloaded_when_idle = None, False
                self._index_timer.start()
        else:
            self._index_timer.stop()

    def _show_folders(self, folders: list[WatchedFolder]) -> None:
        self.folder_list.clear()
        self.folders = {f.id: f for f in folders}
        for folder in folders:
            synced = f"synced {folder.synced_at:%Y-%m-%d %H:%M}" if folder.synced_at else "not synced yet"
            item = QListWidgetItem(f"{folder.path}\n{synced}")
            item.setData(KEY_ROLE, folder.id)
            self.folder_list.addItem(item)
        if self._sync_when_listed:
            self._sync_when_listed = False
            if folders:
                self.sync(automatic=True)

    def _on_index_check(self) -> None:
        # Reading the progress is a lock and two integers (the window's status bar does it too).
        progress = self.runtime.service.index_progress()
        seen = (progress.pending, progress.done)
        if seen != self._index_seen:
            self._index_seen = seen
            self._reloaded_when_idle = progress.idle
            self._load_documents()
        elif progress.idle and not self._reloaded_when_idle:
            self._reloaded_when_idle = True
            self._load_documents()

    def _selected(self) -> Document | None:
        item = self.list.currentItem()
        return self.documents.get(item.data(KEY_ROLE)) if item is not None else None

    def select_document(self, document_id: int) -> bool:
        for row in range(self.list.count()):
            if self.list.item(row).data(KEY_ROLE) == document_id:
                self.list.setCurrentRow(row)
                return True
        return False

    # ---------------------------------------------------------------- adding

    def _on_add_files(self) -> None:
        if self._needs_project():
            return
        names, _ = QFileDialog.getOpenFileNames(self, "Add documents to this project", str(Path.home()), FILE_FILTER)
        if names:
            self.add_paths([Path(name) for name in names])

    def add_paths(self, paths: Sequence[Path]) -> None:
        """Adds files to the current project in the background (what Add files… and a drop do)."""
        if self._needs_project() or not paths:
            return
        assert self.project_id is not None
        service, project_id = self.runtime.service, self.project_id
        max_bytes = self.runtime.settings.document_max_mb * 1024 * 1024
        chosen = list(paths)

        def work(task: Task) -> BatchReport:
            # Sorted here, not on the GUI thread: telling a folder from a file asks the disk.
            kept, refused = unsupported(chosen)
            report = BatchReport()
            if kept:
                report = add_files(
                    service,
                    project_id,
                    kept,
                    max_bytes=max_bytes,
                    progress=task.token.emit,
                    cancelled=task.cancel_requested.is_set,
                )
            report.failed[:0] = refused
            return report

        label = f"Adding {len(chosen)} file{'s' if len(chosen) != 1 else ''}…"
        self._enqueue(Job(JobKind.ADD, project_id, label, work))

    def _report_batch(self, report: BatchReport) -> None:
        message = report.summary()
        if any(reason.startswith("unsupported type") for _name, reason in report.failed):
            message += f" {UNSUPPORTED}."
        if report.failed:
            self.error.emit(message)
        else:
            self.noted.emit(message)

    # ---------------------------------------------------------------- watched folders

    def _on_watch_folder(self) -> None:
        if self._needs_project():
            return
        folder = QFileDialog.getExistingDirectory(self, "Watch a folder: its files become this project's documents")
        if folder:
            self.watch(Path(folder))

    def watch(self, path: Path) -> None:
        """Starts watching a folder, then syncs it (what Watch folder… does)."""
        if self._needs_project():
            return
        assert self.project_id is not None

        def watching(_folder: WatchedFolder) -> None:
            self.reload()
            self.sync(automatic=False)

        self.call("watch folder", start_watching, self.runtime.service, self.project_id, path, then=watching)

    def _on_stop_watching(self) -> None:
        item = self.folder_list.currentItem()
        folder = self.folders.get(item.data(KEY_ROLE)) if item is not None else None
        if folder is None:
            return

        def stopped(_result: object) -> None:
            self.noted.emit(f"Stopped watching {folder.path}; its documents stay.")
            self.reload()

        self.call("stop watching", self.runtime.service.remove_watched_folder, folder.id, then=stopped)

    def _on_sync_now(self) -> None:
        if not self._needs_project():
            self.sync(automatic=False)

    def _on_sync_due(self) -> None:
        if self.folders:
            self.sync(automatic=True)

    def sync(self, *, automatic: bool) -> None:
        """Brings the project's documents in step with its watched folders, in the background."""
        project_id = self.project_id
        if project_id is None:
            return
        jobs = [job for job in self._queue] + ([self._running[0]] if self._running else [])
        if any(job.kind is JobKind.SYNC and job.project_id == project_id for job in jobs):
            if not automatic:
                self.noted.emit("The watched folders are being synced already.")
            return
        service = self.runtime.service
        max_bytes = self.runtime.settings.document_max_mb * 1024 * 1024

        def work(task: Task) -> list[SyncReport]:
            return sync_project_folders(
                service,
                project_id,
                max_bytes=max_bytes,
                progress=task.token.emit,
                cancelled=task.cancel_requested.is_set,
            )

        self._enqueue(Job(JobKind.SYNC, project_id, "Checking the watched folders…", work, automatic=automatic))

    def _report_sync(self, job: Job, reports: list[SyncReport]) -> None:
        worth = [r for r in reports if r.touched or r.failed or r.cancelled]
        if not worth:
            if not job.automatic:
                self.noted.emit("The watched folders are in step: nothing changed.")
            return
        message = "Watched folders: " + " ".join(r.summary() for r in worth)
        if any(r.failed for r in worth) and not job.automatic:
            self.error.emit(message)
        else:
            # A periodic sync says so briefly: a drive left unmounted must not raise a
            # banner every two minutes.
            self.noted.emit(message)

    # ---------------------------------------------------------------- one document

    def _on_open(self) -> None:
        document = self._selected()
        if document is not None:
            self.open_original(document.id)

    def open_original(self, document_id: int) -> None:
        """Opens a read-only copy of a document's original in the user's viewer (the kept one must not change)."""
        self.call("open original", copy_to_open, self.runtime.service, document_id, then=self._open_path)

    def _open_path(self, path: Path) -> None:
        if not self.open_url(QUrl.fromLocalFile(str(path))):
            self.error.emit(f"No application could open {path.name}.")

    def _on_details(self, *_args: object) -> None:
        document = self._selected()
        if document is None:
            return
        service = self.runtime.service
        self.call(
            "document details",
            lambda: (service.document_chunks(document.id), service.document_history(document.id)),
            then=lambda loaded: self._show_details(document, *loaded),
        )

    def _show_details(self, document: Document, chunks: list[DocumentChunk], events: list[DocumentEvent]) -> None:
        DocumentDialog(document, chunks, events, self).exec()

    def _on_reindex(self) -> None:
        document = self._selected()
        if document is not None and document.status is DocumentStatus.ACTIVE:
            self.reindex(document.id)

    def reindex(self, document_id: int) -> None:
        """Reads a document's kept original again and replaces its passages, in the background."""
        document = self.documents.get(document_id)
        if self.project_id is None or document is None:
            return
        service = self.runtime.service
        label = f"Re-reading {document.key} ({document.filename})…"
        self._enqueue(
            Job(JobKind.REINDEX, self.project_id, label, lambda _task: reindex_document(service, document_id))
        )

    def _reread_outdated(self, outdated: list[Document]) -> None:
        """Reads again, in the background, the documents an older version of Dossier cut into passages."""
        if self.project_id is None or not outdated:
            return
        service = self.runtime.service

        def work(task: Task) -> BatchReport:
            return reread_documents(service, outdated, progress=task.token.emit, cancelled=task.cancel_requested.is_set)

        count = f"{len(outdated)} document{'s' if len(outdated) != 1 else ''}"
        self._enqueue(Job(JobKind.REREAD, self.project_id, f"Reading {count} again for this version…", work))

    def _on_propose(self) -> None:
        document = self._selected()
        if document is not None and document.status is DocumentStatus.ACTIVE:
            self.propose_facts(document.id)

    def propose_facts(self, document_id: int) -> None:
        """Files facts read from a document in the Inbox (never straight into memory), in the background."""
        document = self.documents.get(document_id)
        if self.project_id is None or document is None:
            return
        runtime = self.runtime

        def work(task: Task) -> DocumentLearning:
            return propose_from_document(
                runtime.extractor(runtime.background_model()),
                document_id,
                progress=lambda done, total: task.token.emit(Progress(done, total, f"passage {done + 1}")),
                cancelled=task.cancel_requested.is_set,
            )

        label = f"Reading {document.key} ({document.filename}) for facts…"
        self._enqueue(Job(JobKind.PROPOSE, self.project_id, label, work))

    def _on_remove(self) -> None:
        document = self._selected()
        if document is None or document.status is DocumentStatus.REMOVED:
            return
        text = (
            f"Remove {document.key} “{document.title}” from this project?\n\nAnswers will no longer use or cite it, "
            "and its kept copy is deleted. Its history stays."
        )
        if confirm(self, "Remove document", text):
            self.remove(document.id)

    def remove(self, document_id: int) -> None:
        """Takes a document out of the project (what Remove does once confirmed)."""
        project_id = self.project_id

        def removed(document: Document) -> None:
            self.noted.emit(f"Removed {document.key} ({document.filename}).")
            self.changed.emit(project_id, DOCUMENT_CHANGES)

        self.call("remove document", self.runtime.service.remove_document, document_id, then=removed)

    # ---------------------------------------------------------------- passages

    def show_passage(self, passage: Passage) -> None:
        """Shows a cited passage in the one passage popup (a second click updates it)."""
        if self.passage_dialog is None:
            self.passage_dialog = PassageDialog(self.window())
            self.passage_dialog.open_requested.connect(self.open_original)
        self.passage_dialog.show_passage(passage)
        self.passage_dialog.show()
        self.passage_dialog.raise_()
        self.passage_dialog.activateWindow()

    def show_chunk(self, chunk_id: int) -> None:
        """Loads a passage (a search hit, a passage under "memory used") and shows it."""
        service = self.runtime.service

        def show(passages: tuple[Passage, ...]) -> None:
            if passages:
                self.show_passage(passages[0])
            else:
                self.noted.emit("That passage is no longer kept: its document was removed or read again since.")

        self.call(
            "load passage",
            lambda: load_passages(service, [str(ItemKey.chunk(chunk_id))]).passages,
            then=show,
        )

    # ---------------------------------------------------------------- the queue

    def _enqueue(self, job: Job) -> None:
        self._queue.append(job)
        if self._running is None:
            self._start_next()
        else:
            self._show_progress(None)

    def _start_next(self) -> None:
        if not self._queue:
            self._running = None
            self.progress.hide()
            return
        job = self._queue.pop(0)
        task = self.tasks.run_reporting(f"documents: {job.kind.value}", job.work)
        self._running = (job, task)
        task.token.connect(self._on_progress)
        task.finished.connect(lambda result, done=job: self._on_job_done(done, result))
        task.failed.connect(self.error.emit)
        task.ended.connect(self._on_job_ended)
        self.progress_bar.setRange(0, 0)  # busy until the first file is counted
        self.cancel_button.setEnabled(job.cancellable)
        self._show_progress(None)
        self.progress.show()

    def _show_progress(self, progress: Progress | None) -> None:
        if self._running is None:
            return
        job, task = self._running
        if task.cancel_requested.is_set():
            line = "Stopping after the current file…"
        elif progress is None or not progress.current:
            line = job.label
        else:
            verb = {
                JobKind.SYNC: "Checking",
                JobKind.PROPOSE: "Reading for facts",
                JobKind.REREAD: "Reading again",
            }.get(job.kind, "Reading")
            line = f"{verb} {progress.done + 1} of {progress.total}: {progress.current}"
        waiting = len(self._queue)
        self.progress_label.setText(line + (f" ({waiting} more waiting)" if waiting else ""))
        if progress is not None and progress.total:
            self.progress_bar.setRange(0, progress.total)
            self.progress_bar.setValue(progress.done)

    def _on_progress(self, progress: object) -> None:
        if isinstance(progress, Progress):
            self._show_progress(progress)

    def _on_cancel(self) -> None:
        if self._running is not None:
            self._running[1].cancel()
            self.cancel_button.setEnabled(False)
            self._show_progress(None)

    def _on_job_done(self, job: Job, result: object) -> None:
        if job.kind is JobKind.REREAD and isinstance(result, BatchReport):
            read = f"Read {len(result.added)} document{'s' if len(result.added) != 1 else ''} again"
            message = f"{read}: this version cuts them into passages that answers find and cite better."
            if result.failed:
                message += " Not read again: " + "; ".join(f"{n}: {why}" for n, why in result.failed) + "."
            (self.error if result.failed else self.noted).emit(message)
            touched = bool(result.added)
        elif job.kind is JobKind.ADD and isinstance(result, BatchReport):
            self._report_batch(result)
            touched = bool(result.added)
        elif job.kind is JobKind.SYNC and isinstance(result, list):
            self._report_sync(job, result)
            touched = any(report.touched for report in result)
        elif isinstance(result, Document):
            self.noted.emit(f"Read {result.key} ({result.filename}) again: {result.chunk_count} passages.")
            touched = True
        elif isinstance(result, DocumentLearning):
            self.noted.emit(f"From the document: {result.summary()}.")
            self.changed.emit(job.project_id, frozenset({Kind.PROPOSALS, Kind.FACTS}))
            return
        else:
            touched = True
        if touched:
            self.changed.emit(job.project_id, DOCUMENT_CHANGES)
        elif job.project_id == self.project_id:
            self.reload()  # the watched folders' "synced" times

    def _on_job_ended(self) -> None:
        self._start_next()

    @property
    def busy(self) -> bool:
        """Document work is running or waiting."""
        return self._running is not None or bool(self._queue)

    def shutdown(self) -> None:
        """The window is closing: nothing new starts, and the work under way stops after its file."""
        self._sync_timer.stop()
        self._index_timer.stop()
        self._queue.clear()
        if self._running is not None:
            self._running[1].cancel()

    # ---------------------------------------------------------------- helpers

    def _needs_project(self) -> bool:
        if self.project_id is None:
            self.error.emit("Create or pick a client project first: documents belong to a project.")
            return True
        return False

    # Files dropped on the tab are added to the project shown.
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = dropped_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)
