"""Backups: one zip with a consistent database snapshot, the settings, the kept
originals of the project documents, and a manifest.

A backup never holds secrets (API keys live in the keyring, not in the data
dir) and never the vector index (it is rebuilt from SQLite on restore). A
restore goes only into an empty data dir, and only after every check passed,
so a damaged backup leaves the target untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from app.config.files import WriteFailed, os_error_reason, replacing
from app.config.paths import WINDOW_LOCK, WINDOW_SOCKET
from app.errors import UserError
from memory import (
    DB_FILENAME,
    ORIGINALS_DIRNAME,
    MemoryService,
    database_counts,
    originals_of_database,
    read_original,
)
from memory.hashing import sha256_file

FORMAT = "dossier-backup"
#: Version 2 adds the documents' originals; version 1 backups are still read.
VERSION = 2
READABLE_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
SETTINGS = "settings.json"
MEMBERS = (DB_FILENAME, SETTINGS)
#: Limits checked before anything is extracted (a zip's declared sizes) and while it is.
MAX_DATABASE_BYTES = 16 << 30
MAX_SETTINGS_BYTES = 1 << 20
MAX_MANIFEST_BYTES = 1 << 20
MEMBER_LIMITS = {DB_FILENAME: MAX_DATABASE_BYTES, SETTINGS: MAX_SETTINGS_BYTES}
#: A document's original (the largest the setting allows).
MAX_ORIGINAL_BYTES = 4 << 30
#: An original's entry: its content's hash names it (checked on restore).
_ORIGINAL_ENTRY = re.compile(rf"^{ORIGINALS_DIRNAME}/([0-9a-f]{{2}})/([0-9a-f]{{64}})(\.[a-z0-9]{{1,10}})?$")
#: A SQLite file compresses a few times over; a thousandfold is a zip bomb. Small
#: entries (mostly empty pages) may compress more without costing anything.
MAX_RATIO = 200
RATIO_FREE_BYTES = 8 << 20
#: The whole backup: what its entries unpack to against the zip's own size. Originals
#: (PDF, DOCX) hardly compress, the database a few times; entries each under MAX_RATIO
#: could still add up to a disk's worth from a small file.
MAX_TOTAL_RATIO = 50
#: Left free on the disk after the scratch copy of a restore.
DISK_MARGIN_BYTES = 512 << 20
AUTO_PREFIX = "dossier-"
AUTO_INTERVAL = timedelta(days=1)


class BackupError(UserError):
    """A backup could not be written, or a file is not a sound backup; ``str(err)`` is fit to show."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    created_at: datetime
    counts: dict[str, int]
    files: dict[str, dict[str, Any]]
    #: What a restore did not apply and the user may want to (a remote endpoint).
    suggestion: str | None = None


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
            # Exactly the originals the snapshot's documents use, each as it was added: one lost,
            # changed in place or replaced by a link is left out (its text and passages are in the
            # database), so that a backup never carries a stranger's file nor fails its own restore.
            for name, (sha, media_type) in sorted(originals_of_database(snapshot).items()):
                kept = read_original(service.data_dir, sha, media_type)
                if kept is not None:
                    copy = Path(work) / name
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    copy.write_bytes(kept)
                    files[name] = copy
            created_at = datetime.now(UTC)
            file_entries = {name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for name, p in files.items()}
            manifest = {
                "format": FORMAT,
                "version": VERSION,
                "created_at": created_at.isoformat(),
                "counts": counts,
                "files": file_entries,
            }
            with replacing(target) as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
                for name, path in files.items():
                    archive.write(path, name)
    except WriteFailed as err:
        raise BackupError(f"The backup could not be written to {target}: {err.reason}") from None
    except OSError as err:  # the snapshot, in the temporary folder
        raise BackupError(f"The backup could not be made: {os_error_reason(err)}") from None
    return BackupInfo(target, created_at, counts, file_entries)


#: What reading a damaged or odd zip entry raises: bad headers, a broken deflate stream
#: (zlib.error), a truncated file, an unsupported method or an encrypted entry.
_ZIP_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


def _in_its_folder(name: str) -> bool:
    """An original's entry sits in the folder its hash's first two digits name, as Dossier writes it."""
    match = _ORIGINAL_ENTRY.match(name)
    return match is not None and match.group(1) == match.group(2)[:2]


def _member_info(archive: zipfile.ZipFile, name: str, limit: int, path: Path) -> zipfile.ZipInfo:
    """The entry ``name``, refused unless it can be read safely within ``limit`` bytes."""
    info = archive.getinfo(name)
    if info.flag_bits & 0x1:
        raise BackupError(f"{path}: {name} is encrypted; Dossier never writes encrypted backups")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise BackupError(f"{path}: {name} uses a compression method Dossier does not write")
    if info.file_size > limit:
        raise BackupError(f"{path}: {name} would be {info.file_size:,} bytes, over the {limit:,} a backup may hold")
    if info.file_size > RATIO_FREE_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise BackupError(f"{path}: {name} expands {info.file_size // max(info.compress_size, 1):,}-fold (a zip bomb?)")
    return info


def _copy_limited(source: IO[bytes], sink: IO[bytes], limit: int) -> int:
    """Copies at most ``limit`` bytes; more than that means the entry lied about its size."""
    copied = 0
    while block := source.read(1 << 20):
        copied += len(block)
        if copied > limit:
            raise BackupError("an entry holds more than it declares")
        sink.write(block)
    return copied


def _manifest_files(manifest: dict[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not all(
        isinstance(entry, dict)
        and isinstance(entry.get("sha256"), str)
        and isinstance(entry.get("bytes"), int)
        and not isinstance(entry.get("bytes"), bool)
        for entry in listed.values()
    ):
        raise BackupError(f"{path}: the manifest's file list is malformed")
    return listed


def _manifest_time(manifest: dict[str, Any], path: Path) -> datetime:
    try:
        created = datetime.fromisoformat(manifest["created_at"])
    except (KeyError, TypeError, ValueError):
        raise BackupError(f"{path}: the manifest has no valid creation time") from None
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def _check_total_size(path: Path, work: Path, unpacked: int) -> None:
    """Refuses a backup whose entries together unpack to far more than its size, or than the disk has free."""
    packed = path.stat().st_size
    if unpacked > RATIO_FREE_BYTES and unpacked > MAX_TOTAL_RATIO * max(packed, 1):
        raise BackupError(
            f"{path}: its {packed:,} bytes would unpack to {unpacked:,} ({unpacked // max(packed, 1):,}-fold; "
            "a zip bomb?)"
        )
    free = shutil.disk_usage(work).free
    if unpacked + DISK_MARGIN_BYTES > free:
        raise BackupError(
            f"{path}: restoring it needs {unpacked + DISK_MARGIN_BYTES:,} bytes of free disk space, "
            f"and {free:,} are free; make room and try again"
        )


def _check_database(path: Path, work: Path, originals: set[str]) -> dict[str, int]:
    """The extracted database's row counts, once its schema is Dossier's and it uses every original listed."""
    try:
        counts = database_counts(work / DB_FILENAME)
        used = originals_of_database(work / DB_FILENAME)
    except Exception as err:
        raise BackupError(f"{path}: {err}") from None
    if not originals <= used.keys():
        raise BackupError(f"{path}: it holds files no document of its database uses")
    return counts


def verify_backup(path: Path, work: Path) -> BackupInfo:
    """Checks a backup and extracts it into ``work``, a scratch folder.

    A backup is untrusted input: sizes and compression ratios are checked
    before anything is extracted, every entry is copied with a byte limit, and
    the database must have exactly Dossier's schema at a revision this Dossier
    knows (no extra trigger, view or table), besides its checksums and counts.

    Raises:
        BackupError: Not a zip, no manifest, a missing, extra, altered,
            encrypted or oversized file, or a database that fails its
            integrity check, its schema check or its counts.
    """
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise BackupError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise BackupError(f"{path} is not a Dossier backup (not a readable zip: {err})") from None
    with archive:
        names = archive.namelist()
        if MANIFEST not in names:
            raise BackupError(f"{path} is not a Dossier backup (no manifest)")
        if len(names) != len(set(names)):
            raise BackupError(f"{path}: an entry appears twice")
        try:
            _member_info(archive, MANIFEST, MAX_MANIFEST_BYTES, path)
            manifest = json.loads(archive.read(MANIFEST))
        except (*_ZIP_READ_ERRORS, RecursionError) as err:
            raise BackupError(f"{path}: the manifest is damaged ({err})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BackupError(f"{path} is not a Dossier backup")
        if manifest.get("version") not in READABLE_VERSIONS or isinstance(manifest.get("version"), bool):
            raise BackupError(f"{path} was written by another version of Dossier (backup v{manifest.get('version')})")
        listed = _manifest_files(manifest, path)
        created_at = _manifest_time(manifest, path)
        counts: dict[str, int] | None = None
        originals = {name for name in listed if _ORIGINAL_ENTRY.match(name)}
        if (
            DB_FILENAME not in listed
            or not set(listed) <= set(MEMBERS) | originals
            or set(names) != set(listed) | {MANIFEST}
            or any(not _in_its_folder(name) for name in originals)
        ):
            raise BackupError(f"{path}: its files do not match its manifest")
        infos = {
            name: _member_info(archive, name, MEMBER_LIMITS.get(name, MAX_ORIGINAL_BYTES), path) for name in listed
        }
        _check_total_size(path, work, sum(info.file_size for info in infos.values()))
        # The database first: it is checked and says which originals it uses before any is unpacked.
        for name, expected in sorted(listed.items(), key=lambda item: item[0] in originals):
            if name in originals and counts is None:
                counts = _check_database(path, work, originals)
            limit = MEMBER_LIMITS.get(name, MAX_ORIGINAL_BYTES)
            info = infos[name]
            if info.file_size != expected["bytes"]:
                raise BackupError(f"{path}: {name} was altered or truncated (size mismatch)")
            out = work / name
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as source, out.open("wb") as sink:
                    _copy_limited(source, sink, min(limit, info.file_size))
            except _ZIP_READ_ERRORS as err:
                raise BackupError(f"{path}: {name} is damaged ({err})") from None
            except BackupError as err:
                raise BackupError(f"{path}: {name}: {err}") from None
            if out.stat().st_size != expected["bytes"] or sha256_file(out) != expected["sha256"]:
                raise BackupError(f"{path}: {name} was altered or truncated (checksum mismatch)")
            if name in originals and Path(name).name[:64] != expected["sha256"]:
                raise BackupError(f"{path}: {name} does not hold the document its name says")
    if counts is None:
        counts = _check_database(path, work, originals)
    if counts != manifest.get("counts"):
        raise BackupError(f"{path}: the database does not hold what the manifest says")
    return BackupInfo(path, created_at, counts, listed)


#: What a data folder may already hold for a restore into it: nothing, or what Dossier
#: leaves in a folder whose database was moved aside as damaged.
RESTORABLE_LEFTOVERS = frozenset({"backups", "damaged", "logs", "vector-index", SETTINGS, WINDOW_LOCK, WINDOW_SOCKET})


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate
    return Path(tempfile.gettempdir())


def _make_settings_local(source: Path) -> str | None:
    """Rewrites the backup's settings without a remote endpoint or model file; returns what was left out, in words.

    A backup is not allowed to send the user's memory anywhere: a remote endpoint
    it names becomes a suggestion the user confirms with ``dossier model remote``.
    """
    from app.config.settings import Settings, save_settings

    try:
        raw = json.loads(source.read_text("utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not an object")
        settings = Settings.from_dict(raw)
    except (OSError, ValueError, TypeError, RecursionError) as err:
        raise BackupError(f"the settings in the backup are unreadable ({err})") from None
    suggestions = []
    if settings.remote_base_url or "remote" in (settings.chat_backend, settings.background_backend):
        suggestions.append(
            f"The backup named a remote endpoint ({settings.remote_base_url or 'no URL'}, model "
            f"{settings.remote_model or 'none'}); it was not enabled. If you trust it, set it again with "
            "`dossier model remote URL --model NAME`."
        )
    if settings.model_path:
        # Which file llama.cpp loads is the user's choice on this machine, not a backup's.
        suggestions.append(
            f"The backup chose the model file {settings.model_path}; the bundled model is used until you "
            "choose one with `dossier model use`."
        )
    if settings.auto_accept_project_ids:
        # Filing proposals as facts unread is a trust the user gives here, not one a backup brings.
        suggestions.append(
            "The backup let proposals of some projects become facts without review; here they wait "
            "in the inbox until you turn that on again."
        )
    suggestion = " ".join(suggestions) or None
    local = replace(
        settings,
        auto_accept_project_ids=(),
        model_path=None,
        remote_base_url=None,
        remote_model="",
        chat_backend="local",
        background_backend="local",
        window_geometry="",
    )
    save_settings(source, local)
    return suggestion


def _renew_database_identity(database: Path) -> None:
    """A restored database is a new one: no vector index built before it may be trusted."""
    import sqlite3

    connection = sqlite3.connect(database)
    try:
        if connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'database_identity'").fetchone():
            with connection:
                connection.execute("UPDATE database_identity SET database_id = lower(hex(randomblob(16)))")
    finally:
        connection.close()


def _forget_watched_folders(database: Path) -> str | None:
    """Drops the backup's watched folders; returns what was left out, in words.

    Which of this computer's folders feed a project is the user's choice here,
    not a backup's: a forged one could name ~/Documents and have its files read
    into memory (and from there into briefs, exports and other AI tools). The
    documents they brought stay, as documents of no folder.
    """
    import sqlite3

    connection = sqlite3.connect(database)
    try:
        if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'watched_folders'").fetchone():
            return None
        paths = [str(p) for (p,) in connection.execute("SELECT path FROM watched_folders ORDER BY id")]
        if not paths:
            return None
        with connection:
            connection.execute("UPDATE documents SET watched_folder_id = NULL WHERE watched_folder_id IS NOT NULL")
            connection.execute("DELETE FROM watched_folders")
    finally:
        connection.close()
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return (
        f"The backup watched {len(paths)} folder{'s' if len(paths) != 1 else ''} ({shown}); "
        "none is watched here until you choose it again with `dossier doc watch --project P DIR` "
        "(the documents they brought are kept)."
    )


def restore_backup(path: Path, data_dir: Path) -> BackupInfo:
    """Restores a backup into an empty data dir (the vector index is rebuilt on first open).

    Every check runs in a scratch folder first; only then is the data dir created
    (0700) and the database and settings moved in. Settings come back local,
    and no folder is watched: a remote endpoint or watched folder in the backup
    is reported in ``BackupInfo.suggestion``.

    Raises:
        BackupError: The data dir holds a database or anything that is not
            Dossier's, or the backup fails a check. Nothing is written into
            the data dir then, and a missing one is not created.
    """
    data_dir = Path(data_dir)
    if any(parent.exists() and not parent.is_dir() for parent in data_dir.parents):
        raise BackupError(f"{data_dir} cannot be a folder: a file stands in its path")
    if data_dir.exists():
        if not data_dir.is_dir():
            raise BackupError(f"{data_dir} is not a folder")
        if (data_dir / DB_FILENAME).exists():
            raise BackupError(f"{data_dir} already has a database; restore into a new, empty data folder")
        # A leftover that is a link would have the restored data written somewhere else.
        strangers = sorted(p.name for p in data_dir.iterdir() if p.name not in RESTORABLE_LEFTOVERS or p.is_symlink())
        if strangers:
            raise BackupError(
                f"{data_dir} is not empty ({', '.join(strangers[:3])}); restore into a new, empty data folder"
            )
    # On the data folder's own file system, so that the checked files can be moved in (a data
    # folder may be a mount of its own, where a move from its parent fails).
    scratch_root = data_dir if data_dir.is_dir() else _existing_ancestor(data_dir.parent)
    with tempfile.TemporaryDirectory(prefix=".dossier-restore-", dir=scratch_root) as work:
        info = verify_backup(path, Path(work))
        _renew_database_identity(Path(work) / DB_FILENAME)
        suggestions = [_forget_watched_folders(Path(work) / DB_FILENAME)]
        if SETTINGS in info.files:
            suggestions.append(_make_settings_local(Path(work) / SETTINGS))
        suggestion = " ".join(s for s in suggestions if s) or None
        data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)
        for name in info.files:
            source = Path(work) / name
            if name == SETTINGS and (data_dir / name).exists():
                continue  # the folder's own settings are kept
            target = data_dir / name
            if name != DB_FILENAME and name != SETTINGS:  # an original, in its private folders
                for folder in (data_dir / ORIGINALS_DIRNAME, target.parent):
                    folder.mkdir(mode=0o700, exist_ok=True)
            os.chmod(source, 0o600)
            os.replace(source, target)
    return replace(info, suggestion=suggestion)


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
