"""Small pieces several windows share."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)


class HintedList(QListWidget):
    """A list that, while empty, says what belongs in it and how to get it there."""

    def __init__(self) -> None:
        super().__init__()
        self._hint = ""

    @property
    def hint(self) -> str:
        return self._hint

    def set_hint(self, text: str) -> None:
        if text != self._hint:
            self._hint = text
            self.viewport().update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.count() or not self._hint:
            return
        painter = QPainter(self.viewport())
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        area = self.viewport().rect().adjusted(16, 16, -16, -16)
        painter.drawText(
            area, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap, self._hint
        )
        painter.end()


def button_row(*buttons: tuple[str, Callable[[], None]]) -> tuple[QHBoxLayout, dict[str, QPushButton]]:
    """A row of push buttons, each (label, slot); also returns them by label."""
    row = QHBoxLayout()
    made: dict[str, QPushButton] = {}
    for label, slot in buttons:
        button = QPushButton(label)
        button.clicked.connect(slot)
        row.addWidget(button)
        made[label] = button
    return row, made


class ErrorBanner(QWidget):
    """A dismissable message above the chat; the window stays usable."""

    def __init__(self) -> None:
        super().__init__()
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # messages quote names and paths
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        #: What the shown message is about ("model", …), so that fixing it can take it away.
        self.about: str | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        # The close button draws its own background on some styles (white on hover): keep it
        # transparent so the white cross always shows on the red.
        self.setStyleSheet(
            "ErrorBanner { background: #b3261e; } QLabel { color: white; }"
            " QToolButton { color: white; background: transparent; border: none; font-weight: bold; padding: 2px 6px; }"
            " QToolButton:hover { background: rgba(255, 255, 255, 0.25); border-radius: 3px; }"
        )
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.hide()

    def show_message(self, text: str, about: str | None = None) -> None:
        self.label.setText(text)
        self.about = about
        self.show()

    def clear(self, about: str | None) -> None:
        """Hides the message if it is about ``about`` (its cause was just fixed; None: no cause named)."""
        if self.about == about:
            self.hide()
            self.about = None


class ProgressPanel(QWidget):
    """Long work under way: a line saying what (plain text: names are data), a bar, and Cancel."""

    def __init__(self, cancel_tip: str, on_cancel: Callable[[], None]) -> None:
        super().__init__()
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAutoDefault(False)
        self.cancel_button.setToolTip(cancel_tip)
        self.cancel_button.clicked.connect(on_cancel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.hide()
