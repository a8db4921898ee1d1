"""The ``dossier`` command: no command opens the window, any command runs the CLI.

The window path imports only Qt before the window is on screen; the memory
layer and the CLI are imported after (see :mod:`ui.app`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ui.arguments import window_arguments

if TYPE_CHECKING:
    from app.portability.brief import Brief


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    args = list(sys.argv[1:] if argv is None else argv)
    window, data_dir = window_arguments(args)
    if window:
        from ui.app import run

        return run(data_dir, started=started)
    from cli import main as cli

    return cli.main(args, render_pdf=_render_pdf)


def _render_pdf(brief: Brief) -> bytes:
    # Imported when a PDF is asked for: other commands start without Qt.
    from ui.pdf import render_pdf_bytes

    return render_pdf_bytes(brief)


if __name__ == "__main__":
    sys.exit(main())
