"""Briefs as PDF, drawn by Qt: the one part of a brief that needs Qt, so it lives with the window.

The CLI writes PDFs too: the ``dossier`` entry point hands :func:`render_pdf_bytes`
to it, so that the application layer never imports Qt.
"""

from __future__ import annotations

import os
from pathlib import Path

from app.config.files import write_bytes
from app.portability.brief import PRINT_CSS, Brief, render_html

#: Families tried in order for each character: Latin and RTL first, then CJK, then symbols.
PDF_FONT_FAMILIES = ["DejaVu Sans", "Noto Sans", "Droid Sans Fallback", "Noto Sans CJK SC", "Symbola"]


def render_pdf(brief: Brief, target: Path) -> None:
    """Writes the brief as a PDF to ``target``, whole or not at all.

    Raises:
        WriteFailed: The file could not be written (a full disk, say).
    """
    write_bytes(target, render_pdf_bytes(brief))


def render_pdf_bytes(brief: Brief) -> bytes:
    """Renders the HTML brief to PDF with Qt (QTextDocument, QPdfWriter); works headless.

    Rendered in memory, because QPdfWriter does not report a failed write:
    writing the bytes ourselves is what lets a full disk be noticed.
    Needs a Qt application: the caller's, or one made here on the offscreen
    platform when the process has none (the CLI). That one is a QApplication,
    not a bare QGuiApplication, so that windows made later in the same
    process (tests, a window opened after a CLI call) still work.
    """
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF
    from PySide6.QtGui import (
        QFont,
        QGuiApplication,
        QPageLayout,
        QPageSize,
        QPdfWriter,
        QTextDocument,
        QTextOption,
    )

    if QGuiApplication.instance() is None:
        from PySide6.QtWidgets import QApplication

        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        global _pdf_app
        _pdf_app = QApplication([])
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setTitle(f"{brief.title} — brief")
    writer.setCreator("Dossier")
    writer.setResolution(300)
    writer.setPageLayout(
        QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait, QMarginsF(18, 18, 18, 18))
    )
    document = QTextDocument()
    font = QFont()
    font.setFamilies(PDF_FONT_FAMILIES)
    font.setPointSizeF(10.5)
    # Ligatures (ﬁ, ﬀ) would make text copied or searched from the PDF differ from the facts.
    for feature in ("liga", "clig"):
        font.setFeature(QFont.Tag(feature), 0)
    document.setDefaultFont(font)
    document.setDefaultStyleSheet(PRINT_CSS)
    option = document.defaultTextOption()
    # A long unbroken string (a URL, an id) wraps instead of running off the page.
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    document.setDefaultTextOption(option)
    document.setHtml(render_html(brief))
    # Lay out with the PDF's resolution, so point sizes mean points on the page.
    document.documentLayout().setPaintDevice(writer)
    document.setPageSize(writer.pageLayout().paintRectPixels(writer.resolution()).size().toSizeF())
    document.print_(writer)
    del writer  # finishes the PDF
    buffer.close()
    return bytes(data.data())


_pdf_app: object | None = None
