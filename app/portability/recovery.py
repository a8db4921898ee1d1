"""What happens when the database file is damaged: it is moved aside, never overwritten.

The damaged file keeps its bytes (for the user, or for a recovery tool); a new,
empty database takes its place on the next start, and the latest automatic
backup is offered for restoring.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.config.paths import AppPaths
from app.portability.backup import latest_backup
from memory import DB_FILENAME, INDEX_DIRNAME, CorruptDatabaseError, MemoryService, ReindexReport

DAMAGED_DIR = "damaged"


def quarantine_database(data_dir: Path) -> Path:
    """Moves the database (and its -wal/-shm files) into ``damaged/``; returns the new path.

    The derived vector index is removed too: it describes the damaged database.
    """
    target_dir = data_dir / DAMAGED_DIR
    target_dir.mkdir(mode=0o700, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = target_dir / f"{DB_FILENAME}.{stamp}"
    n = 1
    while target.exists():
        n += 1
        target = target_dir / f"{DB_FILENAME}.{stamp}-{n}"
    for suffix in ("", "-wal", "-shm"):
        source = data_dir / f"{DB_FILENAME}{suffix}"
        if source.exists():
            os.replace(source, Path(f"{target}{suffix}"))
    shutil.rmtree(data_dir / INDEX_DIRNAME, ignore_errors=True)
    return target


@dataclass(frozen=True)
class Recovery:
    """A damaged database moved aside, and what to tell the user."""

    #: The newest automatic backup, offered for restoring, or None.
    backup: Path | None
    message: str


def recover_from_damage(paths: AppPaths, error: CorruptDatabaseError) -> Recovery:
    """Moves the damaged database aside and finds the latest backup to offer (CLI and window)."""
    moved = quarantine_database(paths.data_dir)
    backup = latest_backup(paths.backups_dir)
    lines = [
        f"{error}.",
        f"It was moved aside, unchanged, to {moved}; Dossier will start with an empty memory.",
    ]
    if backup is not None:
        lines.append(
            f"The latest backup is {backup}. Restore it now, before any other command starts the empty memory: "
            f"dossier --data-dir {paths.data_dir} restore {backup}"
        )
    else:
        lines.append("There is no automatic backup in this data folder; restore one you made with 'dossier restore'.")
    return Recovery(backup, "\n".join(lines))


def repair_notes(report: ReindexReport | None) -> list[str]:
    """What a reconcile found damaged and rebuilt, in the words the CLI and the window both use."""
    if report is None:
        return []
    notes = []
    if report.keyword_rebuilt:
        notes.append("The keyword search index was damaged; it was rebuilt from your memory. Nothing was lost.")
    if report.rebuilt:
        items = f"{report.embedded:,} item" + ("" if report.embedded == 1 else "s")
        notes.append(f"The search index was damaged; it was rebuilt from your memory ({items}). Nothing was lost.")
    return notes


def open_warnings(service: MemoryService, paths: AppPaths) -> list[str]:
    """What opening found that may have cost the user data, with where the latest backup is."""
    backup = latest_backup(paths.backups_dir)
    where = f" The latest backup is {backup}." if backup else ""
    return [f"{warning}{where}" for warning in service.warnings]
