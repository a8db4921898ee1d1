"""The client projects list: filter, select, create, rename, archive and unarchive.

The window learns which project is selected from ``selected`` and whether
there are any from ``loaded``; everything it reads or writes goes through the
task runner.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.runtime import Runtime
from memory import Project
from ui.memory_panel import KEY_ROLE, confirm
from ui.tasks import TaskRunner
from ui.widgets import button_row


class ProjectsPane(QWidget):
    """Signals:
    selected(object): the project now selected (its id), or None.
    loaded(int): the list was (re)loaded with this many projects.
    error(str): something went wrong that the user should see.
    """

    selected = Signal(object)
    loaded = Signal(int)
    error = Signal(str)

    def __init__(self, runtime: Runtime, tasks: TaskRunner) -> None:
        super().__init__()
        self.runtime = runtime
        self.tasks = tasks
        #: The project selected, as this list knows it.
        self.current_id: int | None = None
        self.project_filter = QLineEdit()
        self.project_filter.setPlaceholderText("Filter projects")
        self.project_filter.setClearButtonEnabled(True)
        self.project_filter.textChanged.connect(self._on_filter)
        self.show_archived = QCheckBox("Show archived")
        self.show_archived.toggled.connect(self.reload)
        self.projects = QListWidget()
        self.projects.currentItemChanged.connect(self._on_current_changed)
        buttons, made = button_row(
            ("New", self.new_project), ("Rename", self._on_rename), ("Archive", self._on_archive)
        )
        self.archive_button = made["Archive"]
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Projects</b>"))
        layout.addWidget(self.project_filter)
        layout.addWidget(self.projects, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.show_archived)

    def reload(self) -> None:
        self.tasks.call(
            "load projects",
            lambda archived: self.runtime.service.list_projects(include_archived=archived),
            self.show_archived.isChecked(),
            then=self._show,
            on_error=self.error.emit,
            latest=(self, "load projects"),
        )

    def new_project(self) -> None:
        name, ok = QInputDialog.getText(self, "New project", "Client project name:")
        if ok and name.strip():
            self.tasks.call(
                "create project",
                self.runtime.service.create_project,
                name,
                then=self._on_created,
                on_error=self.error.emit,
            )

    def _show(self, projects: list[Project], select: int | None = None) -> None:
        wanted = select or self.current_id or self.runtime.settings.last_project_id
        self.projects.blockSignals(True)
        self.projects.clear()
        for p in projects:
            item = QListWidgetItem(p.name + (" (archived)" if p.archived else ""))
            item.setData(KEY_ROLE, p.id)
            item.setToolTip(p.description)
            self.projects.addItem(item)
        self.projects.blockSignals(False)
        self._on_filter(self.project_filter.text())
        for row in range(self.projects.count()):
            if self.projects.item(row).data(KEY_ROLE) == wanted:
                self.projects.setCurrentRow(row)
                break
        else:
            if self.projects.count() and wanted is None:
                self.projects.setCurrentRow(0)
        # The list was rebuilt with signals blocked: the window follows what it shows now. A project
        # just archived is gone from it, and the window leaves it rather than open another
        # client's chat in its place.
        self._on_current_changed(self.projects.currentItem())
        self.loaded.emit(len(projects))

    def _on_filter(self, text: str) -> None:
        needle = text.casefold().strip()
        for row in range(self.projects.count()):
            item = self.projects.item(row)
            item.setHidden(bool(needle) and needle not in item.text().casefold())

    def _on_current_changed(self, current: QListWidgetItem | None, _previous: object = None) -> None:
        # The button says what it will do: an archived project is unarchived.
        archived = current is not None and current.text().endswith("(archived)")
        self.archive_button.setText("Unarchive" if archived else "Archive")
        project_id = current.data(KEY_ROLE) if current else None
        if project_id != self.current_id:
            self.current_id = project_id
            self.selected.emit(project_id)

    def _on_created(self, project: Project) -> None:
        self.project_filter.clear()
        self.tasks.call(
            "load projects",
            lambda: self.runtime.service.list_projects(include_archived=self.show_archived.isChecked()),
            then=lambda projects: self._show(projects, select=project.id),
            on_error=self.error.emit,
        )

    def _on_rename(self) -> None:
        item = self.projects.currentItem()
        if item is None:
            return
        name, ok = QInputDialog.getText(
            self, "Rename project", "New name:", text=item.text().removesuffix(" (archived)")
        )
        if ok and name.strip():
            self.tasks.call(
                "rename project",
                self.runtime.service.rename_project,
                item.data(KEY_ROLE),
                name,
                then=lambda _p: self.reload(),
                on_error=self.error.emit,
            )

    def _on_archive(self) -> None:
        item = self.projects.currentItem()
        if item is None:
            return
        archived = item.text().endswith("(archived)")
        if not archived and not confirm(self, "Archive project", f"Archive {item.text()}? Its memory is kept."):
            return
        self.tasks.call(
            "archive project",
            self.runtime.service.archive_project,
            item.data(KEY_ROLE),
            not archived,
            then=lambda _p: self.reload(),
            on_error=self.error.emit,
        )
