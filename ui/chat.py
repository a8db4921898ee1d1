"""The chat: a transcript rendered as Markdown, and the input that grows with its text.

An answer's citations of document passages (``[D3 p.12]``) are checked against
the passages that answer was given: a valid one becomes a link to the passage,
an invented one is struck through and marked "not a source", never a link.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from PySide6.QtCore import QMimeData, QPoint, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.assistant.citations import find_citations
from memory import DocumentChunk, ItemKey

#: Redraws of a streaming answer are batched to at most one per this many ms.
RENDER_INTERVAL_MS = 40
MEMORY_SCHEME = "dossier"
#: Answers are the model's text, and a model repeats what it read: Markdown, but no raw HTML
#: (an ``<a href>`` or ``<img>`` in an answer shows as the text it is).
MARKDOWN_FEATURES = QTextDocument.MarkdownFeature.MarkdownDialectGitHub | QTextDocument.MarkdownFeature.MarkdownNoHTML
#: The mark after a flagged citation, and what it says on hover.
NOT_A_SOURCE = "(not a source)"
#: For an answer some of whose passages are gone since: the citation may have named one of them.
CANNOT_CHECK = "(cannot be checked)"
FLAG_TIPS = {
    NOT_A_SOURCE: "Not among the passages this answer was given: the model invented it, or took it from "
    "earlier in the conversation. Check it before you rely on it.",
    CANNOT_CHECK: "Not among this answer's passages that are still kept: it may name one removed or "
    "read again since, or the model invented it. Check it before you rely on it.",
}
#: A citation as the transcript shows it (struck through when flagged): "[D3 p.12]", "[D3 §2]".
_SHOWN_CITATION = re.compile(r"\[D\d+ (?:p\.\d+|§\d+)\]")
#: Code blocks and code spans: a citation-like text inside code is code, not a citation.
_CODE = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)|`[^`\n]*`", re.DOTALL)


def memory_label(text: str) -> str:
    """An item under "memory used": one line, cut at 140 characters."""
    line = " ".join(text.split()).removeprefix("- ")
    return line[:140] + ("…" if len(line) > 140 else "")


@dataclass(frozen=True)
class Passage:
    """A document passage an answer was given: what its citation links to and the popup shows."""

    chunk: DocumentChunk
    #: The document's title and file name.
    title: str
    filename: str

    @property
    def source(self) -> str:
        """The document's title and the passage's headings: "Services contract › Fees"."""
        headings = self.chunk.heading_path
        # A Markdown or Word file's first heading is usually its title: not said twice.
        if headings == self.title or headings.startswith(f"{self.title} › "):
            headings = headings[len(self.title) :].removeprefix(" › ")
        return " › ".join(part for part in (self.title, headings) if part)

    @property
    def label(self) -> str:
        """How "memory used" lists it: as a passage given during the turn is listed."""
        return memory_label(f"[{self.chunk.citation}] ({self.source}) {self.chunk.text}")

    @property
    def key(self) -> str:
        return str(ItemKey.chunk(self.chunk.id))


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
    #: The document passages this answer was given: its valid citations link to them.
    passages: tuple[Passage, ...] = ()
    #: False while they are being loaded (a session from history): citations then show as
    #: written, neither linked nor flagged, rather than flagged for a moment.
    passages_known: bool = True
    #: Some passage this answer was given is no longer kept (its document removed or re-read).
    passages_lost: bool = False
    #: The stored messages it shows (an answer given again stands for the earlier ones too);
    #: empty while it is not stored yet.
    message_ids: tuple[int, ...] = ()


def _escape_markdown(text: str) -> str:
    # The user's own words are shown as typed, not interpreted as markup.
    out = []
    for ch in text:
        out.append("\\" + ch if ch in "\\`*_[]<>#|~" else ch)
    return "".join(out).replace("\n", "  \n")


def _has_local_files(mime: QMimeData) -> bool:
    return mime.hasUrls() and any(url.isLocalFile() for url in mime.urls())


def cite_links(text: str, entry: ChatEntry, index: int) -> tuple[str, bool]:
    """An answer's Markdown with each citation checked: a link to its passage, or flagged.

    A link names the entry and the passage (``dossier:cite/3/9``), and a click is
    checked against that entry's passages: a link the model wrote itself leads
    nowhere. Returns the Markdown and whether any citation was flagged.
    """
    if not entry.passages_known:
        return text, False
    citations = find_citations(text, (p.chunk for p in entry.passages))
    code = [match.span() for match in _CODE.finditer(text)]
    out: list[str] = []
    at = 0
    flagged = False
    for (start, end), group in itertools.groupby(citations, key=lambda c: (c.start, c.end)):
        if any(first <= start < last for first, last in code):
            continue
        before = text[at:start]
        # "![…](…)" is an image: a "!" just before a citation stays a "!".
        out.append(before[:-1] + "\\!" if before.endswith("!") else before)
        pieces = []
        for citation in group:
            shown = _escape_markdown(f"[{citation.key}]")
            if citation.chunk is not None:
                url = f"{MEMORY_SCHEME}:cite/{index}/{citation.chunk.id}"
                pieces.append(f'[{shown}]({url} "Show the quoted passage")')
            else:
                pieces.append(f"~~{shown}~~ *{CANNOT_CHECK if entry.passages_lost else NOT_A_SOURCE}*")
                flagged = True
        out.append(" ".join(pieces))
        at = end
    out.append(text[at:])
    return "".join(out), flagged


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

    # Files dragged over the box are for the project's documents, not text to paste:
    # ignored here, the drag goes on to the window, which adds them.
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _has_local_files(event.mimeData()):
            event.ignore()
            return
        super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if _has_local_files(event.mimeData()):
            event.ignore()
            return
        super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        if _has_local_files(event.mimeData()):
            event.ignore()
            return
        super().dropEvent(event)

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
        passage_activated(Passage): a citation, or a passage under "memory used", was clicked.
        delete_requested(ChatEntry): "Delete this message…" was chosen on a stored message.
    """

    send_requested = Signal(str)
    stop_requested = Signal()
    ask_again_requested = Signal()
    memory_item_activated = Signal(str)
    passage_activated = Signal(object)
    delete_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[ChatEntry] = []
        self.transcript = QTextBrowser()
        self.transcript.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.transcript.customContextMenuRequested.connect(self._on_context_menu)
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
        return self._render()[0]

    def _render(self) -> tuple[str, bool]:
        """The transcript's Markdown, and whether a citation in it is flagged."""
        parts: list[str] = []
        flagged = False
        for index, entry in enumerate(self.entries):
            if entry.role == "user":
                parts.append(f"**You**\n\n{_escape_markdown(entry.text)}")
            elif entry.role == "other":
                parts.append(f"**{_escape_markdown(entry.speaker or 'Someone')}**\n\n{_escape_markdown(entry.text)}")
            else:
                body, flags = cite_links(entry.text, entry, index)
                flagged = flagged or flags
                block = f"**Dossier**\n\n{body or ('…' if entry.streaming else '')}"
                if entry.note:
                    block += f"\n\n*{_escape_markdown(entry.note)}*"
                if entry.learning:
                    block += f"\n\n*{_escape_markdown(entry.learning)}*"
                if entry.memory_keys and not entry.streaming:
                    arrow = "▾" if entry.expanded else "▸"
                    block += f"\n\n[memory used ({len(entry.memory_keys)}) {arrow}]({MEMORY_SCHEME}:toggle/{index})"
                    if entry.expanded:
                        passages = {p.key: p.label for p in entry.passages}
                        for key in entry.memory_keys:
                            label = _escape_markdown(entry.memory_labels.get(key) or passages.get(key, key))
                            block += f"\n- [{label}]({MEMORY_SCHEME}:item/{key})"
                parts.append(block)
        return "\n\n---\n\n".join(parts), flagged

    def refresh(self) -> None:
        scrollbar = self.transcript.verticalScrollBar()
        at_bottom = scrollbar.value() >= scrollbar.maximum() - 4
        markdown, flagged = self._render()
        self.transcript.document().setMarkdown(markdown, MARKDOWN_FEATURES)
        if flagged:
            self._mark_flagged()
        if at_bottom or (self.entries and self.entries[-1].streaming):
            self.transcript.moveCursor(QTextCursor.MoveOperation.End)
            scrollbar.setValue(scrollbar.maximum())

    def _mark_flagged(self) -> None:
        """Colours each flagged citation and its marker, and explains them on hover.

        Markdown has no tooltips: the flag is drawn by the Markdown (struck
        through, then the marker) and explained here, on the rendered text.
        """
        document = self.transcript.document()
        marked: list[tuple[int, int, str]] = []
        block = document.begin()
        while block.isValid():
            struck: tuple[int, int] | None = None
            fragments = block.begin()
            while not fragments.atEnd():
                fragment = fragments.fragment()
                text = fragment.text()
                if fragment.charFormat().fontStrikeOut() and _SHOWN_CITATION.fullmatch(text):
                    struck = (fragment.position(), fragment.length())
                elif struck is not None and text.strip() in FLAG_TIPS:
                    end = fragment.position() + fragment.length()
                    marked.append((struck[0], end - struck[0], FLAG_TIPS[text.strip()]))
                    struck = None
                elif not text.isspace():
                    struck = None
                fragments += 1
            block = block.next()
        cursor = QTextCursor(document)
        for position, length, tip in marked:
            look = QTextCharFormat()
            look.setToolTip(tip)
            look.setForeground(QColor("#b3261e"))
            cursor.setPosition(position)
            cursor.setPosition(position + length, QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(look)

    def entry_at(self, position: QPoint) -> ChatEntry | None:
        """The entry shown at ``position`` (in the transcript's viewport), if any.

        Entries are drawn one after the other, a horizontal rule between two:
        the rules above the point say which one it is.
        """
        block = self.transcript.cursorForPosition(position).block()
        if not self.entries or not block.isValid():
            return None
        index = 0
        previous = block.previous()
        while previous.isValid():
            index += previous.blockFormat().hasProperty(QTextFormat.Property.BlockTrailingHorizontalRulerWidth)
            previous = previous.previous()
        return self.entries[index] if index < len(self.entries) else None

    def message_menu(self, position: QPoint) -> QMenu:
        """The transcript's context menu at ``position``: copy and select, and deleting the message there."""
        menu = self.transcript.createStandardContextMenu(position)
        entry = self.entry_at(position)
        menu.addSeparator()
        delete = menu.addAction("Delete this message…")
        # Only what is stored, and not while an answer is being written.
        delete.setEnabled(entry is not None and bool(entry.message_ids) and self.send_button.isEnabled())
        delete.triggered.connect(lambda: self.delete_requested.emit(entry))
        return menu

    # -- slots
    def _on_context_menu(self, position: QPoint) -> None:
        menu = self.message_menu(position)
        menu.exec(self.transcript.viewport().mapToGlobal(position))
        menu.deleteLater()

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
        elif kind == "cite":
            passage = self._cited(value)
            if passage is not None:
                self.passage_activated.emit(passage)
        elif kind == "item":
            given = [p for e in self.entries for p in e.passages if p.key == value]
            if given:
                self.passage_activated.emit(given[0])
            else:
                self.memory_item_activated.emit(value)

    def _cited(self, value: str) -> Passage | None:
        """The passage a citation link names, if that answer was given it."""
        entry_index, _, chunk_id = value.partition("/")
        if not (entry_index.isdigit() and chunk_id.isdigit()) or int(entry_index) >= len(self.entries):
            return None
        entry = self.entries[int(entry_index)]
        return next((p for p in entry.passages if p.chunk.id == int(chunk_id)), None)
