"""Real document files made by the tests that read them (no binary fixture is committed)."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence

import docx
import docx.document

# Qt draws the PDFs without a screen (set before any QApplication exists).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def qt_pdf(pages: Sequence[Sequence[str] | str], *, title: str = "", rectangle_only: bool = False) -> bytes:
    """A real PDF drawn by Qt (a QGuiApplication must exist): each page's lines, wrapped, top to bottom.

    A page is a list of lines or one paragraph; ``rectangle_only`` draws a box and no text (a scan).
    """
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt
    from PySide6.QtGui import QFont, QPageSize, QPainter, QPdfWriter

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setResolution(72)
    if title:
        writer.setTitle(title)
    painter = QPainter(writer)
    font = QFont()
    font.setPointSizeF(11)
    painter.setFont(font)
    for number, page in enumerate(pages):
        if number:
            writer.newPage()
        if rectangle_only:
            painter.drawRect(QRectF(60, 60, 300, 200))
            continue
        lines = [page] if isinstance(page, str) else list(page)
        top = 50.0
        for line in lines:
            box = painter.boundingRect(QRectF(50, top, 480, 700), Qt.TextFlag.TextWordWrap, line)
            painter.drawText(QRectF(50, top, 480, box.height() + 2), Qt.TextFlag.TextWordWrap, line)
            top += box.height() + 8
    painter.end()
    del writer  # finishes the PDF
    buffer.close()
    return bytes(data.data())


def word_file(build: Callable[[docx.document.Document], None]) -> bytes:
    """A real .docx made with python-docx: ``build`` fills the document."""
    document = docx.Document()
    build(document)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
