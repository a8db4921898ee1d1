"""Backups: one zip with a consistent database snapshot, the settings and a manifest.

A backup never holds secrets (API keys live in the keyring, not in the data
dir) and never the vector index (it is rebuilt from SQLite on restore). A
restore goes only into an empty data dir, and only after every check passed,
so a damaged backup leaves the target untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.files import WriteFailed, os_error_reason, replacing
from memory import DB_FILENAME, MemoryService, database_counts

FORMAT = "dossier-backup"
VERSION = 1
MANIFEST = "manifest.json"
SETTINGS = "settings.json"
MEMBERS = (DB_FILENAME, SETTINGS)
AUTO_PREFIX = "dossier-"
AUTO_INTERVAL = timedelta(days=1)


class BackupError(Exception):
    """A backup could not be written, or a file is not a sound backup; ``str(err)`` is fit to show."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    created_at: datetime
    counts: dict[str, int]
    files: dict[str, dict[str, Any]]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def create_backup(service: MemoryService, settings_file: Path, target: Path) -> BackupInfo:
    """Writes a backup zip to ``target`` (atomically: a failure leaves no file).

    Raises:
        BackupError: The target folder is missing or not writable, or the disk is full.
    """
    target = Path(target)
    if target.suffix.lower() != ".zip":
        raise BackupError(f"{target.name}: a backup file name ends in .zip")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a folder")
    if target.exists() and not target.is_file():
        raise BackupError(f"{target} is not a regular file")
    try:
        with tempfile.TemporaryDirectory(prefix="dossier-backup-") as work:
            snapshot = Path(work) / DB_FILENAME
            counts = service.snapshot_database(snapshot)
            files = {DB_FILENAME: snapshot}
            if settings_file.exists():
                files[SETTINGS] = settings_file
            manifest = {
                "format": FORMAT,
                "version": VERSION,
                "created_at": datetime.now(UTC).isoformat(),
                "counts": counts,
                "files": {name: {"sha256": _sha256(p), "bytes": p.stat().st_size} for name, p in files.items()},
            }
            with replacing(target) as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
                for name, path in files.items():
                    archive.write(path, name)
    except WriteFailed as err:
        raise BackupError(f"The backup could not be written to {target}: {err.reason}") from None
    except OSError as err:  # the snapshot, in the temporary folder
        raise BackupError(f"The backup could not be made: {os_error_reason(err)}") from None
    return BackupInfo(target, datetime.fromisoformat(manifest["created_at"]), counts, manifest["files"])


def verify_backup(path: Path, work: Path) -> BackupInfo:
    """Checks a backup and extracts it into ``work``.

    Raises:
        BackupError: Not a zip, no manifest, a missing, extra or altered file,
            or a database that fails its integrity check or its counts.
    """
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise BackupError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, OSError) as err:
        raise BackupError(f"{path} is not a Dossier backup (not a readable zip: {err})") from None
    with archive:
        names = set(archive.namelist())
        if MANIFEST not in names:
            raise BackupError(f"{path} is not a Dossier backup (no manifest)")
        try:
            manifest = json.loads(archive.read(MANIFEST))
        except (ValueError, zipfile.BadZipFile, OSError) as err:
            raise BackupError(f"{path}: the manifest is damaged ({err})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BackupError(f"{path} is not a Dossier backup")
        if manifest.get("version") != VERSION:
            raise BackupError(f"{path} was written by another version of Dossier (backup v{manifest.get('version')})")
        listed = manifest.get("files") or {}
        if DB_FILENAME not in listed or not set(listed) <= set(MEMBERS) or names != set(listed) | {MANIFEST}:
            raise BackupError(f"{path}: its files do not match its manifest")
        for name, expected in listed.items():
            out = work / name
            try:
                with archive.open(name) as source, out.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
            except (zipfile.BadZipFile, OSError, EOFError) as err:
                raise BackupError(f"{path}: {name} is damaged ({err})") from None
            if out.stat().st_size != expected.get("bytes") or _sha256(out) != expected.get("sha256"):
                raise BackupError(f"{path}: {name} was altered or truncated (checksum mismatch)")
    try:
        counts = database_counts(work / DB_FILENAME)
    except Exception as err:
        raise BackupError(f"{path}: {err}") from None
    if counts != manifest.get("counts"):
        raise BackupError(f"{path}: the database does not hold what the manifest says")
    return BackupInfo(path, datetime.fromisoformat(manifest["created_at"]), counts, listed)


def restore_backup(path: Path, data_dir: Path) -> BackupInfo:
    """Restores a backup into an empty data dir (the vector index is rebuilt on first open).

    Raises:
        BackupError: The data dir already has a database, or the backup
            fails a check. Nothing is written into the data dir then.
    """
    data_dir = Path(data_dir)
    # An empty folder, or one whose database was moved aside as damaged (the
    # rest of it, such as older backups, stays).
    if data_dir.exists() and (data_dir / DB_FILENAME).exists():
        raise BackupError(f"{data_dir} already has a database; restore into a new, empty data folder")
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    with tempfile.TemporaryDirectory(prefix=".dossier-restore-", dir=data_dir.parent) as work:
        info = verify_backup(path, Path(work))
        for name in info.files:
            source = Path(work) / name
            if name != DB_FILENAME and (data_dir / name).exists():
                continue  # the folder's own settings are kept
            os.chmod(source, 0o600)
            os.replace(source, data_dir / name)
    return info


def auto_backup_if_due(
    service: MemoryService, settings_file: Path, backups_dir: Path, keep: int, now: datetime | None = None
) -> Path | None:
    """Writes a daily backup into ``backups_dir`` and keeps the newest ``keep`` (0: off)."""
    if keep <= 0:
        return None
    now = now or datetime.now(UTC)
    backups_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(backups_dir, 0o700)
    existing = sorted(backups_dir.glob(f"{AUTO_PREFIX}*.zip"))
    if existing:
        newest = datetime.fromtimestamp(existing[-1].stat().st_mtime, UTC)
        if now - newest < AUTO_INTERVAL:
            return None
    target = backups_dir / f"{AUTO_PREFIX}{now:%Y%m%d-%H%M%S}.zip"
    create_backup(service, settings_file, target)
    for old in sorted(backups_dir.glob(f"{AUTO_PREFIX}*.zip"))[:-keep]:
        old.unlink(missing_ok=True)
    return target


def latest_backup(backups_dir: Path) -> Path | None:
    found = sorted(backups_dir.glob(f"{AUTO_PREFIX}*.zip")) if backups_dir.exists() else []
    return found[-1] if found else None
