"""The log file: what the app did and what went wrong, kept under the data folder.

Modules log through ``logging``; without a handler, Python prints warnings to
stderr, so llama.cpp's decode errors and index repairs landed in the user's
terminal and a packaged app lost them. The CLI and the window call
:func:`setup_logging` once they know the data folder.
"""

from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_FILENAME = "dossier.log"
MAX_LOG_BYTES = 2_000_000
KEEP_LOGS = 3


class _DossierLogFile(RotatingFileHandler):
    """Marks the handler as ours, so a second set-up replaces it instead of adding another."""


def setup_logging(logs_dir: Path) -> Path:
    """Sends INFO and above to a rotating file in ``logs_dir`` (0700 folder, 0600 files).

    Returns:
        The log file's path.
    """
    logs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = logs_dir / LOG_FILENAME
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _DossierLogFile)]:
        root.removeHandler(handler)
        handler.close()
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    handler = _DossierLogFile(path, maxBytes=MAX_LOG_BYTES, backupCount=KEEP_LOGS, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return path
