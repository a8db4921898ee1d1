"""The chat: a transcript rendered as Markdown, and the input that grows with its text."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

#: Redraws of a streaming answer are batched to at most one per this many ms.
RENDER_INTERVAL_MS = 40
MEMORY_SCHEME = "dossier"


@dataclass
class ChatEntry:
    role: str  # "user", "assistant" or "other"
    text: str
    speaker: str = ""
    memory_keys: tuple[str, ...] = ()
    memory_labels: dict[str, str] = field(default_factory=dict)
    streaming: bool = False
    expanded: bool = False
    note: str = ""
    #: What the background step learnt from this turn ("Learned: 1 proposal in the inbox").
    learning: str = ""


def _escape_markdown(text: str) -> str:
    # The user's own words are shown as typed, not interpreted as markup.
    out = []
    for ch in text:
        out.append("\\" + ch if ch in "\\`*_[]<>#|~" else ch)
    return "".join(out).replace("\n", "  \n")


class ChatInput(QPlainTextEdit):
    """Enter sends, Shift+Enter starts a new line; the box grows up to eight lines."""

    submitted = Signal()

    MAX_LINES = 8

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Message Dossier… (Enter sends; Shift+Enter: new line)")
        self.setToolTip("Enter sends the message; Shift+Enter starts a new line")
        self.setTabChangesFocus(True)
        self.document().contentsChanged.connect(self._on_contents_changed)
        self._on_contents_changed()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.submitted.emit()
            return
        super().keyPressEvent(event)

    def _on_contents_changed(self) -> None:
        lines = max(1, min(self.MAX_LINES, int(self.document().size().height())))
        line_height = self.fontMetrics().lineSpacing()
        margins = self.contentsMargins().top() + self.contentsMargins().bottom()
        self.setFixedHeight(int(lines * line_height + 2 * self.document().documentMargin() + margins + 4))


class ChatView(QWidget):
    """Shows a session and takes the next message.

    Signals:
        send_requested(str): the user pressed Enter or Send.
        stop_requested(): the user pressed Stop.
        ask_again_requested(): run the last user message again.
        memory_item_activated(str): a memory item ("fact:12") was clicked.
    """

    send_requested = Signal(str)
    stop_requested = Signal()
    ask_again_requested = Signal()
    memory_item_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[ChatEntry] = []
        self.transcript = QTextBrowser()
        self.transcript.setOpenLinks(False)
        self.transcript.setOpenExternalLinks(False)
        self.transcript.anchorClicked.connect(self._on_anchor_clicked)
        self.input = ChatInput()
        self.input.submitted.connect(self._on_send)
        self.send_button = QPushButton("Send")
        self.send_button.clicked.connect(self._on_send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop_requested)
        self.stop_button.setEnabled(False)
        self.again_button = QPushButton("Ask again")
        self.again_button.setToolTip("Send your last message again for a new answer")
        self.again_button.clicked.connect(self.ask_again_requested)
        self.copy_button = QPushButton("Copy answer")
        self.copy_button.clicked.connect(self._on_copy)
        buttons = QHBoxLayout()
        for button in (self.copy_button, self.again_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.transcript, 1)
        layout.addWidget(self.input)
        layout.addLayout(buttons)
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_INTERVAL_MS)
        self._render_timer.timeout.connect(self.refresh)
        self.set_busy(False)

    # -- state
    def set_busy(self, busy: bool) -> None:
        self.stop_button.setEnabled(busy)
        self.send_button.setEnabled(not busy)
        self.again_button.setEnabled(not busy and any(e.role == "user" for e in self.entries))
        self.copy_button.setEnabled(not busy and bool(self.last_answer()))

    def set_entries(self, entries: list[ChatEntry]) -> None:
        self.entries = entries
        self.refresh()
        self.set_busy(not self.send_button.isEnabled())
        self.set_busy(False)

    def add_entry(self, entry: ChatEntry) -> ChatEntry:
        self.entries.append(entry)
        self.refresh()
        return entry

    def append_to_last(self, text: str) -> None:
        if self.entries:
            self.entries[-1].text += text
            if not self._render_timer.isActive():
                self._render_timer.start()

    def last_answer(self) -> str:
        for entry in reversed(self.entries):
            if entry.role == "assistant":
                return entry.text
        return ""

    def last_user_message(self) -> str:
        for entry in reversed(self.entries):
            if entry.role == "user":
                return entry.text
        return ""

    # -- rendering
    def to_markdown(self) -> str:
        parts: list[str] = []
        for index, entry in enumerate(self.entries):
            if entry.role == "user":
                parts.append(f"**You**\n\n{_escape_markdown(entry.text)}")
            elif entry.role == "other":
                parts.append(f"**{_escape_markdown(entry.speaker or 'Someone')}**\n\n{_escape_markdown(entry.text)}")
            else:
                body = entry.text or ("…" if entry.streaming else "")
                block = f"**Dossier**\n\n{body}"
                if entry.note:
                    block += f"\n\n*{_escape_markdown(entry.note)}*"
                if entry.learning:
                    block += f"\n\n*{_escape_markdown(entry.learning)}*"
                if entry.memory_keys and not entry.streaming:
                    arrow = "▾" if entry.expanded else "▸"
                    block += f"\n\n[memory used ({len(entry.memory_keys)}) {arrow}]({MEMORY_SCHEME}:toggle/{index})"
                    if entry.expanded:
                        for key in entry.memory_keys:
                            label = _escape_markdown(entry.memory_labels.get(key, key))
                            block += f"\n- [{label}]({MEMORY_SCHEME}:item/{key})"
                parts.append(block)
        return "\n\n---\n\n".join(parts)

    def refresh(self) -> None:
        scrollbar = self.transcript.verticalScrollBar()
        at_bottom = scrollbar.value() >= scrollbar.maximum() - 4
        self.transcript.setMarkdown(self.to_markdown())
        if at_bottom or (self.entries and self.entries[-1].streaming):
            self.transcript.moveCursor(QTextCursor.MoveOperation.End)
            scrollbar.setValue(scrollbar.maximum())

    # -- slots
    def _on_send(self) -> None:
        text = self.input.toPlainText().strip()
        if text and self.send_button.isEnabled():
            self.send_requested.emit(text)

    def _on_copy(self) -> None:
        QApplication.clipboard().setText(self.last_answer())

    def _on_anchor_clicked(self, url: QUrl) -> None:
        if url.scheme() != MEMORY_SCHEME:
            return
        kind, _, value = url.path().partition("/")
        if kind == "toggle" and value.isdigit() and int(value) < len(self.entries):
            entry = self.entries[int(value)]
            entry.expanded = not entry.expanded
            self.refresh()
        elif kind == "item":
            self.memory_item_activated.emit(value)
