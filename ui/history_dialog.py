"""Import history: conversations from ChatGPT and Claude data exports into client projects.

Users have months of client work in other assistants. The dialog reads an
export (the zip the service sends, or its ``conversations.json``) on a worker
and lists its conversations, each with a tick and a project to go to, pre-set
from suggestions that are computed on a worker too (they embed text). Import
runs the ticked ones through the task runner, grouped by project: the progress
line names the conversation being imported, and Cancel stops after it (each
conversation is its own transaction, so what was imported stays). Importing
the same export again adds nothing twice; the importer knows the message ids.

The dialog is not modal: the window stays usable, and an import goes on when
the dialog is closed (its summary then reaches the status bar). Titles,
project names and messages come from files and other people: every widget
here shows them as plain text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QPainter,
    QPalette,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionComboBox,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.assistant.text import counted, shortened
from app.errors import USER_ERRORS
from app.history.exports import Conversation, read_export
from app.history.importer import HistoryReport, Suggestion, import_conversations, suggest_projects
from app.runtime import Runtime
from memory import Project, local_time
from ui.documents import dropped_paths
from ui.memory_panel import Kind
from ui.tasks import Task, TaskRunner
from ui.widgets import ProgressPanel

TITLE, PROJECT, MESSAGES, DATE, SOURCE = range(5)
HEADERS = ("Conversation", "Import into", "Messages", "Date", "From")
#: The project a row goes to (an id), on its Project cell; None: not imported.
PROJECT_ROLE = Qt.ItemDataRole.UserRole + 1
DONT_IMPORT = "— don't import —"
SOURCE_NAMES = {"chatgpt": "ChatGPT", "claude": "Claude"}
EXPORT_SUFFIXES = (".zip", ".json")
EXPORT_FILTER = "ChatGPT or Claude export (*.zip *.json);;All files (*)"
#: Typing in the filter waits this long before it searches (every message's text, on a worker).
FILTER_DELAY_MS = 200
#: The preview shows a conversation's first turns, each cut at this length.
PREVIEW_TURNS = 6
PREVIEW_CHARS = 600
HOW_TO_EXPORT = (
    "Bring your client work from ChatGPT or Claude. Ask the service for your data (ChatGPT: Settings › "
    "Data controls › Export data; Claude: Settings › Privacy › Export data); it sends you a zip. "
    "Choose that zip here, or drop it on this window."
)


@dataclass(frozen=True)
class LoadedExport:
    path: Path
    conversations: list[Conversation]
    #: The projects a conversation can go to (archived ones are not offered).
    projects: list[Project]
    #: Each conversation's title and text, casefolded once (on the worker) for the filter.
    haystacks: list[str]


@dataclass(frozen=True)
class ImportStep:
    """Progress: ``done`` conversations of ``total`` are imported, ``title`` is next."""

    done: int
    total: int
    title: str


@dataclass(frozen=True)
class ProjectImport:
    """What became of one project's share of an import."""

    project_id: int
    project_name: str
    report: HistoryReport | None = None
    #: Why its share stopped (the project was archived meanwhile, a message was refused).
    error: str | None = None

    @property
    def changed(self) -> bool:
        # A share that stopped with an error may have imported some conversations before it.
        if self.error is not None:
            return True
        return self.report is not None and bool(self.report.messages_added or self.report.outcomes)

    def line(self) -> str:
        if self.error is not None:
            return f"{self.project_name}: stopped: {self.error}"
        if self.report is None:
            return f"{self.project_name}: not imported (cancelled)."
        return f"{self.project_name}: {self.report.summary()}"


@dataclass
class ImportOutcome:
    results: list[ProjectImport] = field(default_factory=list)

    @property
    def messages_added(self) -> int:
        return sum(r.report.messages_added for r in self.results if r.report is not None)


def _haystack(conversation: Conversation) -> str:
    return "\n".join([conversation.title, *(t.text for t in conversation.turns)]).casefold()


def _read(runtime: Runtime, path: Path) -> LoadedExport:
    conversations = read_export(path)
    return LoadedExport(path, conversations, runtime.service.list_projects(), [_haystack(c) for c in conversations])


class _ShownRows(QSortFilterProxyModel):
    """The rows the filter lets through (by source row); None: all of them."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: set[int] | None = None

    def set_shown(self, shown: set[int] | None) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.9 on, where invalidateRowsFilter is deprecated
            self.beginFilterChange()
            self.shown = shown
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.shown = shown
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        return self.shown is None or source_row in self.shown


class _ProjectChooser(QStyledItemDelegate):
    """The Import into cell's editor: a combo of the projects plus "don't import".

    A delegate, not a combo per row: an export can hold thousands of
    conversations, and thousands of widgets would take seconds to make.
    """

    def __init__(self, dialog: HistoryImportDialog) -> None:
        super().__init__(dialog)
        self._dialog = dialog

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        # Drawn as a closed combo box, so that the column reads as a choice to make.
        box = QStyleOptionComboBox()
        box.rect = option.rect.adjusted(2, 2, -2, -2)
        box.state = option.state
        box.palette = option.palette
        if index.sibling(index.row(), TITLE).data(Qt.ItemDataRole.CheckStateRole) != Qt.CheckState.Checked.value:
            # Greyed: an unticked row is not imported, whatever it shows.
            box.state &= ~QStyle.StateFlag.State_Enabled
            greyed = QPalette(option.palette)
            greyed.setCurrentColorGroup(QPalette.ColorGroup.Disabled)
            box.palette = greyed
        box.currentText = str(index.data() or "")
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, box, painter, widget)
        style.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, box, painter, widget)

    def createEditor(
        self, parent: QWidget, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QWidget:
        combo = QComboBox(parent)
        combo.addItem(DONT_IMPORT, 0)  # project ids start at 1
        for project in self._dialog.projects.values():
            combo.addItem(project.name, project.id)
        # One pick is one choice, taken at once (picking a row's own project again ticks it).
        at = QPersistentModelIndex(index)
        combo.activated.connect(lambda _row, editor=combo: self._on_picked(editor, at))
        return combo

    def _on_picked(self, editor: QComboBox, index: QPersistentModelIndex) -> None:
        if index.isValid():
            self._dialog.choose_row(self._dialog.source_row(index), editor.currentData() or None)
        self.closeEditor.emit(editor)

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:
        if isinstance(editor, QComboBox):
            editor.setCurrentIndex(max(editor.findData(index.data(PROJECT_ROLE) or 0), 0))

    def setModelData(
        self, editor: QWidget, model: QAbstractItemModel, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        # Also called when the editor merely loses focus: only a changed choice is one.
        if isinstance(editor, QComboBox) and (editor.currentData() or None) != index.data(PROJECT_ROLE):
            self._dialog.choose_row(self._dialog.source_row(index), editor.currentData() or None)


class HistoryImportDialog(QDialog):
    """Choose an export, pick conversations and their projects, import them.

    Signals:
        memory_changed(project_id, kinds): a project's memory changed (the window's
            memory panel and sessions list reload), as :class:`ui.memory_panel.MemoryPanel`'s.
        noted(str): the import's summary, for the status bar.
    """

    memory_changed = Signal(object, object)
    noted = Signal(str)

    def __init__(
        self,
        runtime: Runtime,
        tasks: TaskRunner,
        current_project: Callable[[], int | None] = lambda: None,
        parent: QWidget | None = None,
    ) -> None:
        """
        Args:
            current_project: The project open in the window, asked when needed: a ticked
                conversation without a project goes there.
        """
        super().__init__(parent)
        self.setWindowTitle("Import ChatGPT or Claude history")
        self.setAcceptDrops(True)
        self.runtime = runtime
        self.tasks = tasks
        self.current_project = current_project
        self.export: LoadedExport | None = None
        self.projects: dict[int, Project] = {}
        #: Rows the user changed: a suggestion arriving late must not undo their choice.
        self._touched: set[int] = set()
        self._quiet = False
        #: Counts exports opened, so that a slow read or filter of an earlier one is dropped.
        self._generation = 0
        self._import: Task | None = None
        #: What the running import changes in each project's memory (proposals too when it proposes).
        self._kinds = frozenset({Kind.SESSIONS})

        # -- the export
        intro = QLabel(HOW_TO_EXPORT)
        intro.setWordWrap(True)
        self.choose_button = QPushButton("Choose export…")
        self.choose_button.clicked.connect(self._on_choose)
        self.path_label = QLabel("No export chosen.")
        self.path_label.setTextFormat(Qt.TextFormat.PlainText)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top = QHBoxLayout()
        top.addWidget(self.choose_button)
        top.addWidget(self.path_label, 1)
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # errors quote file names
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # -- the conversations
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter: title or text contains…")
        self.filter.setClearButtonEnabled(True)
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(FILTER_DELAY_MS)
        self._filter_timer.timeout.connect(self._on_filter_due)
        self.filter.textChanged.connect(self._filter_timer.start)
        self.select_all = QPushButton("Select all")
        self.select_all.setToolTip("Tick every conversation shown (those without a project go to the current one)")
        self.select_all.clicked.connect(self._on_select_all)
        self.select_none = QPushButton("Select none")
        self.select_none.setToolTip("Untick every conversation shown")
        self.select_none.clicked.connect(self._on_select_none)
        self.move_ticked = QComboBox()
        self.move_ticked.setToolTip("Send every ticked conversation to one project")
        self.move_ticked.activated.connect(self._on_move_ticked)
        tools = QHBoxLayout()
        tools.addWidget(self.filter, 1)
        tools.addWidget(self.select_all)
        tools.addWidget(self.select_none)
        tools.addWidget(self.move_ticked)

        self.model = QStandardItemModel(0, len(HEADERS), self)
        self.model.setHorizontalHeaderLabels(list(HEADERS))
        self.model.itemChanged.connect(self._on_item_changed)
        self.rows = _ShownRows()
        self.rows.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.rows)
        self.table.setItemDelegateForColumn(PROJECT, _ProjectChooser(self))
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.CurrentChanged
            | QAbstractItemView.EditTrigger.SelectedClicked
            | QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(TITLE, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(PROJECT, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(PROJECT, 200)
        # Fixed widths, not "resize to contents": that measures every row, and an export can have thousands.
        for column, width in ((MESSAGES, 80), (DATE, 100), (SOURCE, 80)):
            header.resizeSection(column, width)
        # Sortable by a click on a header; until then, in the export's own order.
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        self.preview.setPlaceholderText("The conversation you select shows here.")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.preview)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)

        # -- importing
        self.counts = QLabel()
        self.counts.setTextFormat(Qt.TextFormat.PlainText)
        self.propose = QCheckBox("Also propose facts from what I said")
        self.propose.setToolTip(
            "Read your own messages for facts worth remembering; they go to each project's Inbox for your review"
        )
        self.import_button = QPushButton("Import")
        self.import_button.setDefault(True)
        self.import_button.clicked.connect(self._on_import)
        close = QPushButton("Close")
        close.setAutoDefault(False)
        close.clicked.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.counts, 1)
        bottom.addWidget(self.propose)
        bottom.addWidget(self.import_button)
        bottom.addWidget(close)
        self.progress = ProgressPanel(
            "Stop after the conversation being imported; what was imported stays", self._on_cancel
        )
        self.progress_label, self.progress_bar = self.progress.label, self.progress.bar
        self.cancel_button = self.progress.cancel_button
        progress_layout = self.progress.layout()
        assert isinstance(progress_layout, QVBoxLayout)
        note = QLabel("You can close this window: the import goes on.")
        progress_layout.addWidget(note)
        self.progress.hide()
        self.report = QLabel()
        self.report.setTextFormat(Qt.TextFormat.PlainText)  # project names
        self.report.setWordWrap(True)
        self.report.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report.hide()

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addLayout(tools)
        layout.addWidget(split, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.report)
        layout.addLayout(bottom)
        self.resize(900, 640)
        self._fill_move_ticked()
        self._show_counts()

    # ---------------------------------------------------------------- the export

    def refresh_projects(self) -> None:
        """Lists the projects as they are now (the window calls it each time it shows the dialog)."""
        if not self.busy:  # an import under way has its projects already
            self.tasks.call(
                "list projects",
                self.runtime.service.list_projects,
                then=self._show_projects,
                on_error=self.status.setText,
                latest=(self, "projects"),
            )

    def _show_projects(self, projects: list[Project]) -> None:
        """The projects a conversation can go to; a choice of one archived since falls back to "don't import"."""
        self.projects = {p.id: p for p in projects}
        self._fill_move_ticked()
        for row in range(self.model.rowCount()):
            self._set_project(row, self.row_project(row))  # a renamed project shows its new name
        self._show_counts()

    def _on_choose(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Choose a ChatGPT or Claude export", str(Path.home()), EXPORT_FILTER
        )
        if name:
            self.open_export(Path(name))

    def open_export(self, path: Path) -> None:
        """Reads an export on a worker and lists its conversations (what Choose export… does)."""
        if self.busy:
            return
        self._generation += 1
        generation = self._generation
        # The list never mixes two exports, and an export that cannot be read leaves nothing to import.
        self._clear()
        self.path_label.setText(str(path))
        self.status.setText(f"Reading {path.name}…")
        self.tasks.call(
            "read history export",
            _read,
            self.runtime,
            path,
            then=self._on_export_read,
            on_error=partial(self._on_read_failed, generation),
            latest=(self, "read"),
        )

    def _clear(self) -> None:
        self.export = None
        self._touched.clear()
        self.rows.set_shown(None)
        self.model.removeRows(0, self.model.rowCount())
        self.preview.clear()
        self.report.hide()
        self._show_counts()

    def _on_read_failed(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self.status.setText(f"Nothing imported: {message}")

    def _on_export_read(self, loaded: LoadedExport) -> None:
        self.export = loaded
        self._show_projects(loaded.projects)
        with self._quietly():
            for conversation in loaded.conversations:
                self.model.appendRow(self._row(conversation))
        if not loaded.conversations:
            self.status.setText(f"{loaded.path.name} holds no conversations.")
            self._show_counts()
            return
        sources = sorted({SOURCE_NAMES.get(c.source, c.source) for c in loaded.conversations})
        self.status.setText(
            f"{counted(len(loaded.conversations), 'conversation')} from {' and '.join(sources)}. Suggesting projects "
            "(you can choose already)…"
        )
        if self.filter.text().strip():
            self._on_filter_due()
        self._show_counts()
        generation = self._generation
        self.tasks.call(
            "suggest projects",
            suggest_projects,
            self.runtime.service,
            loaded.conversations,
            then=partial(self._on_suggested, generation),
            on_error=partial(self._on_suggest_failed, generation),
            latest=(self, "suggest"),
        )

    def _row(self, conversation: Conversation) -> list[QStandardItem]:
        title = QStandardItem(shortened(conversation.title))
        title.setCheckable(True)
        title.setCheckState(Qt.CheckState.Unchecked)
        title.setEditable(False)
        project = QStandardItem(DONT_IMPORT)
        project.setData(None, PROJECT_ROLE)
        messages = QStandardItem()
        messages.setData(len(conversation.turns), Qt.ItemDataRole.DisplayRole)  # an int: sorts as a number
        messages.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        when = conversation.created_at
        date = QStandardItem(f"{local_time(when):%Y-%m-%d}" if when is not None else "—")
        source = QStandardItem(SOURCE_NAMES.get(conversation.source, conversation.source))
        for item in (messages, date, source):
            item.setEditable(False)
        return [title, project, messages, date, source]

    def _on_suggested(self, generation: int, suggestions: dict[str, Suggestion | None]) -> None:
        if generation != self._generation or self.export is None:
            return
        count = 0
        with self._quietly():
            for row, conversation in enumerate(self.export.conversations):
                suggestion = suggestions.get(conversation.id)
                if suggestion is None or suggestion.project_id not in self.projects or row in self._touched:
                    continue
                self._set_project(row, suggestion.project_id)
                self.model.item(row, TITLE).setCheckState(Qt.CheckState.Checked)
                self.model.item(row, PROJECT).setToolTip(
                    "Suggested: the conversation names this project"
                    if suggestion.score >= 1.0
                    else f"Suggested: close in meaning to this project ({suggestion.score:.2f})"
                )
                count += 1
        total = len(self.export.conversations)
        if not self.projects:
            self.status.setText(
                f"{counted(total, 'conversation')}. They go into client projects: create one first (File › New project…), "
                "then open this dialog again."
            )
            return
        others = "" if count == total else "; the others are set to “don't import”"
        self.status.setText(
            f"{counted(total, 'conversation')}. Dossier suggests a project for {count:,}{others}. Check each, then Import."
        )
        self._show_counts()

    def _on_suggest_failed(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self.status.setText(f"No suggestions ({message}): choose a project for each conversation to import.")

    # ---------------------------------------------------------------- choosing

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        """Changes made here are the dialog's own, not the user's (no touch, no follow-up)."""
        quiet, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = quiet

    def source_row(self, index: QModelIndex | QPersistentModelIndex) -> int:
        """The conversation (its place in the export) of a row of the table."""
        return self.rows.mapToSource(self.rows.index(index.row(), index.column())).row()

    def row_project(self, row: int) -> int | None:
        value = self.model.item(row, PROJECT).data(PROJECT_ROLE)
        return value if isinstance(value, int) and value in self.projects else None

    def is_ticked(self, row: int) -> bool:
        return self.model.item(row, TITLE).checkState() == Qt.CheckState.Checked

    def _set_project(self, row: int, project_id: int | None) -> None:
        item = self.model.item(row, PROJECT)
        with self._quietly():
            item.setData(project_id, PROJECT_ROLE)
            item.setText(self.projects[project_id].name if project_id in self.projects else DONT_IMPORT)

    def choose_row(self, row: int, project_id: int | None) -> None:
        """The user's choice of a project for a conversation (what its combo does); it ticks or unticks it."""
        self._touched.add(row)
        self._set_project(row, project_id)
        with self._quietly():
            self.model.item(row, TITLE).setCheckState(
                Qt.CheckState.Checked if project_id is not None else Qt.CheckState.Unchecked
            )
        self._show_counts()

    def _on_item_changed(self, item: QStandardItem) -> None:
        if self._quiet or item.column() != TITLE:
            return
        # The user ticked or unticked a conversation.
        row = item.row()
        self._touched.add(row)
        if self.is_ticked(row) and self.row_project(row) is None:
            self._set_project(row, self._default_project())
        self._show_counts()

    def _default_project(self) -> int | None:
        project_id = self.current_project()
        return project_id if project_id in self.projects else None

    def _shown_rows(self) -> list[int]:
        return [self.rows.mapToSource(self.rows.index(r, TITLE)).row() for r in range(self.rows.rowCount())]

    def _tick_shown(self, ticked: bool) -> None:
        default = self._default_project()
        with self._quietly():
            for row in self._shown_rows():
                self._touched.add(row)
                self.model.item(row, TITLE).setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
                if ticked and self.row_project(row) is None:
                    self._set_project(row, default)
        self._show_counts()

    def _on_select_all(self) -> None:
        self._tick_shown(True)

    def _on_select_none(self) -> None:
        self._tick_shown(False)

    def _fill_move_ticked(self) -> None:
        self.move_ticked.clear()
        self.move_ticked.addItem("Send the ticked ones to…", 0)
        for project in self.projects.values():
            self.move_ticked.addItem(project.name, project.id)
        self.move_ticked.setEnabled(bool(self.projects))

    def _on_move_ticked(self, index: int) -> None:
        project_id = self.move_ticked.itemData(index)
        self.move_ticked.setCurrentIndex(0)  # an action, not a state: ready for the next one
        if not project_id:
            return
        self.move_ticked_to(project_id)

    def move_ticked_to(self, project_id: int) -> None:
        """Sends every ticked conversation to one project (what "Send the ticked ones to…" does)."""
        for row in range(self.model.rowCount()):
            if self.is_ticked(row):
                self._touched.add(row)
                self._set_project(row, project_id)
        self._show_counts()

    def _on_filter_due(self) -> None:
        needle = self.filter.text().strip().casefold()
        if not needle or self.export is None:
            self.rows.set_shown(None)
            self._show_counts()
            return
        haystacks = self.export.haystacks

        def matching() -> set[int]:
            return {row for row, text in enumerate(haystacks) if needle in text}

        # Searched on a worker: a large export holds hundreds of megabytes of text.
        self.tasks.call(
            "filter conversations", matching, then=partial(self._on_filtered, self._generation), latest=(self, "filter")
        )

    def _on_filtered(self, generation: int, shown: set[int]) -> None:
        if generation == self._generation:
            self.rows.set_shown(shown)
            self._show_counts()

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self.export is None or not current.isValid():
            self.preview.clear()
            return
        conversation = self.export.conversations[self.source_row(current)]
        speaker = {"user": "You", "assistant": SOURCE_NAMES.get(conversation.source, "Assistant")}
        lines = [conversation.title, ""]
        for turn in conversation.turns[:PREVIEW_TURNS]:
            text = turn.text if len(turn.text) <= PREVIEW_CHARS else turn.text[:PREVIEW_CHARS] + "…"
            lines += [f"{speaker.get(turn.role, turn.role)}: {text}", ""]
        if len(conversation.turns) > PREVIEW_TURNS:
            lines.append(f"… and {len(conversation.turns) - PREVIEW_TURNS} more messages")
        self.preview.setPlainText("\n".join(lines))

    def chosen(self) -> list[tuple[int, list[Conversation]]]:
        """The ticked conversations that have a project, by project (in the order of their names)."""
        if self.export is None:
            return []
        groups: dict[int, list[Conversation]] = {}
        for row, conversation in enumerate(self.export.conversations):
            project_id = self.row_project(row)
            if project_id is not None and self.is_ticked(row):
                groups.setdefault(project_id, []).append(conversation)
        return sorted(groups.items(), key=lambda group: self.projects[group[0]].name.casefold())

    def _show_counts(self) -> None:
        total = self.model.rowCount()
        ticked = [row for row in range(total) if self.is_ticked(row)]
        ready = [row for row in ticked if self.row_project(row) is not None]
        projects = {self.row_project(row) for row in ready}
        parts = [counted(total, "conversation")] if total else []
        if total and self.rows.rowCount() != total:
            parts.append(f"{self.rows.rowCount():,} shown")
        if ready:
            parts.append(f"{len(ready):,} to import into {counted(len(projects), 'project')}")
        if len(ticked) > len(ready):
            parts.append(f"{len(ticked) - len(ready):,} ticked without a project: choose one")
        self.counts.setText(" · ".join(parts))
        self.import_button.setText(f"Import {len(ready):,}" if ready else "Import")
        self.import_button.setEnabled(bool(ready) and not self.busy)
        for widget in (self.select_all, self.select_none, self.filter):
            widget.setEnabled(bool(total) and not self.busy)
        self.move_ticked.setEnabled(bool(ticked) and bool(self.projects) and not self.busy)

    # ---------------------------------------------------------------- importing

    @property
    def busy(self) -> bool:
        """An import is running."""
        return self._import is not None

    def _on_import(self) -> None:
        self.import_chosen()

    def import_chosen(self) -> None:
        """Imports the ticked conversations into their projects in the background (what Import does)."""
        groups = self.chosen()
        if self.busy or not groups:
            return
        names = {project_id: self.projects[project_id].name for project_id, _ in groups}
        runtime, propose = self.runtime, self.propose.isChecked()
        total = sum(len(conversations) for _, conversations in groups)

        def work(task: Task) -> ImportOutcome:
            # Getting the model may mean loading it: on the worker, like the import itself.
            extractor = runtime.extractor(runtime.background_model()) if propose else None
            outcome = ImportOutcome()
            done_before = 0
            for project_id, conversations in groups:
                if task.cancel_requested.is_set():
                    outcome.results.append(ProjectImport(project_id, names[project_id]))
                    continue

                def step(done: int, _total: int, title: str, before: int = done_before) -> None:
                    if title:  # the last call says the share is done; the next share's first says more
                        task.token.emit(ImportStep(before + done, total, title))

                try:
                    report = import_conversations(
                        runtime.service,
                        project_id,
                        conversations,
                        progress=step,
                        cancelled=task.cancel_requested.is_set,
                        extractor=extractor,
                    )
                except USER_ERRORS as error:  # this project's share stops; the others go on
                    result = ProjectImport(project_id, names[project_id], error=str(error))
                else:
                    result = ProjectImport(project_id, names[project_id], report)
                outcome.results.append(result)
                task.token.emit(result)  # the project's sessions show while the next one imports
                done_before += len(conversations)
            return outcome

        self._kinds = frozenset({Kind.SESSIONS} | ({Kind.PROPOSALS, Kind.FACTS} if propose else set()))
        task = self.tasks.run_reporting("import history", work)
        self._import = task
        task.token.connect(self._on_import_progress)
        task.finished.connect(self._on_imported)
        task.failed.connect(self._on_import_failed)
        task.ended.connect(self._on_import_ended)
        self.report.hide()
        self.progress_label.setText(f"Importing {counted(total, 'conversation')}…")
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(0)
        self.cancel_button.setEnabled(True)
        self.progress.show()
        self._set_editable(False)

    def _set_editable(self, editable: bool) -> None:
        self.table.setEnabled(editable)
        self.choose_button.setEnabled(editable)
        self.propose.setEnabled(editable)
        self._show_counts()

    def _on_import_progress(self, step: object) -> None:
        if isinstance(step, ProjectImport):
            if step.changed:
                self.memory_changed.emit(step.project_id, self._kinds)
            return
        if not isinstance(step, ImportStep) or self._import is None or self._import.cancel_requested.is_set():
            return
        self.progress_label.setText(f"Importing {step.done + 1:,} of {step.total:,}: {shortened(step.title, 80)}")
        self.progress_bar.setValue(step.done)

    def _on_cancel(self) -> None:
        if self._import is not None:
            self._import.cancel()
            self.cancel_button.setEnabled(False)
            self.progress_label.setText("Stopping after the current conversation…")

    def _on_imported(self, outcome: ImportOutcome) -> None:
        lines = [result.line() for result in outcome.results]
        if outcome.messages_added:
            lines.append("Searchable by keyword now; meaning search follows in the background.")
        self.report.setText("\n".join(lines))
        self.report.show()
        self.noted.emit("History import: " + " ".join(lines))

    def _on_import_failed(self, message: str) -> None:
        self.report.setText(f"The import stopped: {message}")
        self.report.show()
        self.noted.emit(f"The history import stopped: {message}")

    def _on_import_ended(self) -> None:
        self._import = None
        self.progress.hide()
        self._set_editable(True)

    def shutdown(self) -> None:
        """The window is closing: the import stops after its current conversation."""
        if self._import is not None:
            self._import.cancel()

    # ---------------------------------------------------------------- an export dropped on the dialog

    def _dropped_export(self, paths: Sequence[Path]) -> Path | None:
        return paths[0] if len(paths) == 1 and paths[0].suffix.lower() in EXPORT_SUFFIXES else None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if not self.busy and self._dropped_export(dropped_paths(event.mimeData())):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if not self.busy and self._dropped_export(dropped_paths(event.mimeData())):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = self._dropped_export(dropped_paths(event.mimeData()))
        if path is not None and not self.busy:
            event.acceptProposedAction()
            self.open_export(path)
