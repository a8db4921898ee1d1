"""Small pieces several windows share."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QHBoxLayout, QPushButton


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
