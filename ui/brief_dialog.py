"""Export Brief: choose what goes in, see it, save it as Markdown, HTML or PDF."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from PySide6.QtCore import QDate, QLocale, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.config.files import write_text
from app.portability.brief import (
    SECTION_TITLES,
    Brief,
    BriefOptions,
    Section,
    compose_brief,
    render_html,
    render_markdown,
)
from app.runtime import Runtime
from ui.pdf import render_pdf
from ui.tasks import TaskRunner


def _write_text(path: Path, text: str) -> Path:
    write_text(path, text)
    return path


def _write_pdf(brief: Brief, path: Path) -> Path:
    render_pdf(brief, path)
    return path


class BriefDialog(QDialog):
    def __init__(self, runtime: Runtime, tasks: TaskRunner, project_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export brief")
        self.runtime = runtime
        self.tasks = tasks
        self.project_id = project_id
        self.brief: Brief | None = None
        self.sections: dict[Section, QCheckBox] = {}
        options = QHBoxLayout()
        for section in (Section.FACTS, Section.TIMELINE, Section.VOICE, Section.SESSIONS, Section.DOCUMENTS):
            box = QCheckBox(SECTION_TITLES[section])
            box.setChecked(True)
            box.toggled.connect(self.refresh)
            self.sections[section] = box
            options.addWidget(box)
        self.include_global = QCheckBox("My global facts")
        self.include_global.toggled.connect(self.refresh)
        self.summary = QCheckBox("Executive summary by the model")
        self.summary.toggled.connect(self.refresh)
        self.use_since = QCheckBox("Sessions since")
        self.since = QDateEdit(QDate.currentDate().addMonths(-3))
        # The user's own date format (Qt's default here is a bare "d M yyyy").
        self.since.setDisplayFormat(QLocale().dateFormat(QLocale.FormatType.ShortFormat))
        self.since.setCalendarPopup(True)
        self.use_since.toggled.connect(self.refresh)
        self.since.dateChanged.connect(self.refresh)
        more = QHBoxLayout()
        for widget in (self.include_global, self.summary, self.use_since, self.since):
            more.addWidget(widget)
        more.addStretch(1)
        self.preview = QTextBrowser()
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        for label, fmt in (("Save Markdown…", "md"), ("Save HTML…", "html"), ("Save PDF…", "pdf")):
            button = QPushButton(label)
            button.clicked.connect(lambda _checked=False, f=fmt: self.save(f))
            buttons.addWidget(button)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(options)
        layout.addLayout(more)
        layout.addWidget(self.preview, 1)
        layout.addLayout(buttons)
        self.resize(820, 760)
        self.refresh()

    def options(self) -> BriefOptions:
        chosen = [s for s, box in self.sections.items() if box.isChecked()]
        if self.summary.isChecked():
            chosen.append(Section.SUMMARY)
        since = self.since.date().toPython() if self.use_since.isChecked() else None
        return BriefOptions(
            sections=tuple(chosen),
            since=since if isinstance(since, date) else None,
            include_global=self.include_global.isChecked(),
            summary=self.summary.isChecked(),
        )

    def refresh(self) -> None:
        options = self.options()
        self.status.setText("Composing…")
        model = self.runtime.background_model if options.summary else (lambda: None)
        task = self.tasks.run(
            "compose brief", lambda: compose_brief(self.runtime.service, self.project_id, options, model())
        )
        task.finished.connect(self._show)
        task.failed.connect(self.status.setText)

    def _show(self, brief: Brief) -> None:
        self.brief = brief
        self.preview.setHtml(render_html(brief))
        self.status.setText(" ".join(brief.notes))

    def save(self, fmt: str) -> None:
        if self.brief is None:
            return
        suffix = {"md": "Markdown (*.md)", "html": "HTML (*.html)", "pdf": "PDF (*.pdf)"}[fmt]
        default = f"{self.brief.title} brief.{fmt}"
        path, _ = QFileDialog.getSaveFileName(self, "Save brief", str(Path.home() / default), suffix)
        if not path:
            return
        self.save_to(Path(path), fmt)

    def save_to(self, path: Path, fmt: str) -> None:
        assert self.brief is not None
        try:
            self.runtime.paths.check_user_output(path)
        except OSError as refused:
            self.status.setText(str(refused))
            return
        if fmt == "pdf":
            task = self.tasks.run("save brief", _write_pdf, self.brief, path)
        else:
            text = render_markdown(self.brief) if fmt == "md" else render_html(self.brief)
            task = self.tasks.run("save brief", _write_text, path, text)
        task.finished.connect(lambda p: self.status.setText(f"Saved {p}"))
        task.failed.connect(self.status.setText)
