"""Small pieces several windows share."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QPushButton


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
