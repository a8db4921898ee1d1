"""Adding files to a project's documents: parse, chunk, keep; batches, watched folders, re-indexing.

Each file is its own unit: one that cannot be read is reported with the
reason and stores nothing, and the batch goes on. Long work reports progress
and stops between files when cancelled; what was added before stays.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from app.documents.chunking import chunk_document
from app.documents.parsing import MEDIA_TYPES, DocumentRefused, ParsedDocument, parse_bytes, parse_file, read_file
from app.errors import USER_ERRORS
from memory import (
    Document,
    DocumentAction,
    DocumentStatus,
    MemoryService,
    NewChunk,
    NewDocument,
    WatchedFolder,
    is_hidden,
)

log = logging.getLogger(__name__)

#: E-mails inside e-mails inside e-mails: deeper than this is not correspondence.
MAX_ATTACHMENT_DEPTH = 3
#: The version of how documents are read into passages. Raise it with any change to
#: parsing or passage cutting that should reach documents already added: those read
#: by an older reader are read again when their project is opened (:func:`reread_outdated`).
#: 1: passages of about 300 tokens. 2: about 120 tokens, page furniture left out.
READER = 2


@dataclass(frozen=True)
class Progress:
    """Where a batch is: ``done`` of ``total`` files, working on ``current``."""

    done: int
    total: int
    current: str


ProgressCallback = Callable[[Progress], None]
CancelCheck = Callable[[], bool]


@dataclass
class BatchReport:
    added: list[Document] = field(default_factory=list)
    #: (file name, why it was not added), in the order tried.
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: Files whose content the project already holds (file name, the document's key).
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False

    def summary(self) -> str:
        """One paragraph for the user: what was added, what was not and why."""
        pages = sum(d.pages or 0 for d in self.added)
        parts = [
            f"Added {len(self.added)} document{'s' if len(self.added) != 1 else ''}"
            + (f" ({pages} pages)" if pages else "")
        ]
        if self.duplicates:
            parts.append("already here: " + ", ".join(f"{name} ({key})" for name, key in self.duplicates))
        if self.failed:
            parts.append(f"{len(self.failed)} not added: " + "; ".join(f"{n}: {why}" for n, why in self.failed))
        if self.cancelled:
            parts.append("cancelled before the rest")
        return "; ".join(parts) + "."


def to_new_document(parsed: ParsedDocument, filename: str, original: bytes) -> NewDocument:
    chunks = chunk_document(parsed)
    details = tuple(sorted((str(k), str(v)) for k, v in parsed.metadata.items()))
    return NewDocument(
        filename=filename,
        title=parsed.title,
        media_type=parsed.media_type,
        original=original,
        text=parsed.text,
        chunks=tuple(
            NewChunk(c.ordinal, c.text, c.start, c.end, page=c.page, section=c.section, heading_path=c.heading_path)
            for c in chunks
        ),
        pages=parsed.pages,
        details=details,
        reader=READER,
    )


def _keep(
    service: MemoryService,
    project_id: int,
    parsed: ParsedDocument,
    filename: str,
    original: bytes,
    report: BatchReport,
    *,
    watched: tuple[int, str] | None = None,
    depth: int = 0,
) -> None:
    """Stores one parsed file, then its attachments as documents of their own."""
    existing = service.find_document(project_id, original)
    if existing is not None:
        report.duplicates.append((filename, existing.key))
    else:
        report.added.append(
            service.add_document(project_id, to_new_document(parsed, filename, original), watched=watched)
        )
    if depth >= MAX_ATTACHMENT_DEPTH:
        return
    for attachment in parsed.attachments:
        name = f"{filename} › {attachment.filename}"
        try:
            inner = parse_bytes(attachment.data, attachment.filename)
            _keep(service, project_id, inner, attachment.filename, attachment.data, report, depth=depth + 1)
        except USER_ERRORS as error:
            report.failed.append((name, _reason(error, attachment.filename)))


def _reason(error: BaseException, name: str) -> str:
    if isinstance(error, DocumentRefused):
        return error.reason
    text = str(error)
    return text[len(name) + 2 :] if text.startswith(f"{name}: ") else text


def add_files(
    service: MemoryService,
    project_id: int,
    paths: Sequence[Path],
    *,
    max_bytes: int,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> BatchReport:
    """Adds files to a project's documents, each on its own; returns what happened to every one.

    Raises:
        NotFoundError: No such project (nothing is tried).
    """
    service.get_project(project_id)
    report = BatchReport()
    with service.indexing_held():  # every file keyword-searchable sooner; vectors after the batch
        _add_each(service, project_id, paths, max_bytes, progress, cancelled, report)
    if progress is not None and not report.cancelled:
        progress(Progress(len(paths), len(paths), ""))
    return report


def _add_each(
    service: MemoryService,
    project_id: int,
    paths: Sequence[Path],
    max_bytes: int,
    progress: ProgressCallback | None,
    cancelled: CancelCheck | None,
    report: BatchReport,
) -> None:
    def add(path: Path) -> None:
        parsed, original = parse_file(path, max_bytes=max_bytes)
        _keep(service, project_id, parsed, path.name, original, report)

    _each(paths, add, lambda path: (path.name, path.name), progress, cancelled, report)


T = TypeVar("T")


def _each(
    items: Sequence[T],
    work: Callable[[T], None],
    names: Callable[[T], tuple[str, str]],
    progress: ProgressCallback | None,
    cancelled: CancelCheck | None,
    report: BatchReport,
) -> None:
    """Runs ``work`` on each item in turn; one that fails is noted in ``report`` and the rest go on.

    Args:
        names: An item's (file name, as the report names it).
    """
    for n, item in enumerate(items):
        if cancelled is not None and cancelled():
            report.cancelled = True
            break
        filename, shown = names(item)
        if progress is not None:
            progress(Progress(n, len(items), filename))
        try:
            work(item)
        except USER_ERRORS as error:
            report.failed.append((shown, _reason(error, filename)))
        except Exception as error:  # a parser bug must not cost the rest of the batch
            log.exception("reading %s failed", shown)
            report.failed.append((shown, f"could not be read ({type(error).__name__})"))


def reindex_document(service: MemoryService, document_id: int) -> Document:
    """Reads a document's kept original again (a newer parser, a changed chunking) and replaces its passages."""
    document = service.get_document(document_id)
    original = service.document_original(document_id).read_bytes()
    parsed = parse_bytes(original, document.filename)
    return service.replace_document(
        document_id, to_new_document(parsed, document.filename, original), action=DocumentAction.REINDEXED
    )


def is_outdated(document: Document) -> bool:
    """An active document whose passages an older reader cut (read it again to update them)."""
    return document.status is DocumentStatus.ACTIVE and document.reader < READER


def outdated_documents(service: MemoryService, project_id: int) -> list[Document]:
    """The project's documents whose passages an older reader cut."""
    return [d for d in service.list_documents(project_id) if is_outdated(d)]


def reread_documents(
    service: MemoryService,
    documents: Sequence[Document],
    *,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> BatchReport:
    """Reads documents again from their kept originals; one that fails (its original lost) does not stop the rest.

    ``added`` lists the documents read again.
    """
    report = BatchReport()
    _each(
        documents,
        lambda document: report.added.append(reindex_document(service, document.id)),
        lambda document: (document.filename, f"{document.key} {document.filename}"),
        progress,
        cancelled,
        report,
    )
    return report


@dataclass
class SyncReport:
    folder: str
    added: list[Document] = field(default_factory=list)
    changed: list[Document] = field(default_factory=list)
    removed: list[Document] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False
    #: Files whose content the project already holds as another document: (path in the folder, that document).
    already: list[tuple[str, Document]] = field(default_factory=list)

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.changed)} changed", f"{len(self.removed)} removed"]
        text = f"{self.folder}: " + ", ".join(parts)
        if self.already:
            text += "; already in the project: " + "; ".join(f"{name} (as {d.key})" for name, d in self.already)
        if self.failed:
            text += "; not read: " + "; ".join(f"{name}: {why}" for name, why in self.failed)
        if self.cancelled:
            text += "; cancelled"
        return text + "."


def _supported(name: str) -> bool:
    return Path(name).suffix.lower() in MEDIA_TYPES


def folder_files(root: Path, *, skip: Path | None = None) -> dict[str, Path]:
    """The supported files under ``root`` by their path inside it.

    Hidden entries and symlinks are skipped (a symlink could lead the sync out of
    the folder the user chose, to ``~/.ssh`` say), and so is ``skip`` (Dossier's
    own data folder, whose kept originals must not come back as new documents).
    """
    found: dict[str, Path] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and not Path(folder, d).is_symlink() and Path(folder, d).resolve() != skip
        )
        for name in sorted(files):
            path = Path(folder, name)
            if name.startswith(".") or path.is_symlink() or not path.is_file() or not _supported(name):
                continue
            found[path.relative_to(root).as_posix()] = path
    return found


def sync_folder(
    service: MemoryService,
    folder: WatchedFolder,
    *,
    max_bytes: int,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> SyncReport:
    """Brings a project's documents in step with a watched folder: new, changed (by content) and deleted files.

    A folder that is missing or unreadable (an unmounted drive) changes nothing:
    its absence is not a deletion of every file in it.
    """
    root = Path(folder.path)
    report = SyncReport(folder.path)
    if not root.is_dir() or not os.access(root, os.R_OK | os.X_OK):
        report.failed.append((folder.path, "the folder is missing or cannot be read; nothing was changed"))
        return report
    # Watched as its resolved path: if that now leads elsewhere (the folder, or a folder above
    # it, replaced by a link), or into Dossier's own data, the folder is not synced at all.
    resolved, data_dir = root.resolve(), service.data_dir.resolve()
    if resolved != root or resolved == data_dir or data_dir in resolved.parents:
        report.failed.append((folder.path, "the folder now leads elsewhere (a link?); nothing was changed"))
        return report
    files = folder_files(root, skip=data_dir)
    known = {d.watched_path: d for d in service.watched_documents(folder.id) if d.watched_path}
    names = sorted(files)
    for n, relative in enumerate(names):
        if cancelled is not None and cancelled():
            report.cancelled = True
            return report
        if progress is not None:
            progress(Progress(n, len(names), relative))
        try:
            _sync_file(service, folder, relative, files[relative], known.get(relative), max_bytes, report)
        except USER_ERRORS as error:
            report.failed.append((relative, _reason(error, Path(relative).name)))
        except Exception as error:
            log.exception("syncing %s failed", files[relative])
            report.failed.append((relative, f"could not be read ({type(error).__name__})"))
    for relative, document in known.items():
        if relative not in files:
            report.removed.append(
                service.remove_document(document.id, detail=f"deleted from the watched folder {folder.path}")
            )
    service.mark_folder_synced(folder.id)
    return report


def _sync_file(
    service: MemoryService,
    folder: WatchedFolder,
    relative: str,
    path: Path,
    known: Document | None,
    max_bytes: int,
    report: SyncReport,
) -> None:
    # Read once, the careful way (no link followed, nothing but a regular file, at most max_bytes):
    # the file listed a moment ago may be a link to a pipe or to /dev/zero by now.
    original = read_file(path, max_bytes=max_bytes, inside=Path(folder.path))
    if known is not None and hashlib.sha256(original).hexdigest() == known.sha256:
        return  # unchanged
    parsed = parse_bytes(original, path.name)
    if known is not None:
        new = to_new_document(parsed, known.filename, original)
        report.changed.append(service.replace_document(known.id, new))
        return
    held = service.find_document(folder.project_id, original)
    if held is not None:
        report.already.append((relative, held))  # added by hand before, say: said, not read twice
        return
    batch = BatchReport()
    new = to_new_document(parsed, path.name, original)
    batch.added.append(service.add_document(folder.project_id, new, watched=(folder.id, relative)))
    for attachment in parsed.attachments:
        try:
            inner = parse_bytes(attachment.data, attachment.filename)
            _keep(service, folder.project_id, inner, attachment.filename, attachment.data, batch, depth=1)
        except USER_ERRORS as error:
            batch.failed.append((f"{relative} › {attachment.filename}", _reason(error, attachment.filename)))
    report.added.extend(batch.added)
    report.failed.extend(batch.failed)


def sync_project_folders(
    service: MemoryService,
    project_id: int | None,
    *,
    max_bytes: int,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> list[SyncReport]:
    """Syncs every watched folder of a project (of every project for None)."""
    return [
        sync_folder(service, folder, max_bytes=max_bytes, progress=progress, cancelled=cancelled)
        for folder in service.list_watched_folders(project_id)
    ]


def watch_folder(service: MemoryService, project_id: int, path: Path) -> WatchedFolder:
    """Starts watching a folder (its absolute, resolved path).

    Raises:
        DocumentRefused: Not a readable folder, or Dossier's own data folder.
    """
    resolved = path.expanduser().resolve()
    if not resolved.is_dir():
        raise DocumentRefused(str(path), "not a folder")
    data_dir = service.data_dir.resolve()
    if resolved == data_dir or data_dir in resolved.parents:
        raise DocumentRefused(str(path), "this folder holds Dossier's own data; watch a folder of your files instead")
    return service.add_watched_folder(project_id, str(resolved))


def supported_suffixes() -> Iterable[str]:
    return sorted(MEDIA_TYPES)


OPEN_PREFIX = "dossier-open-"
#: A viewer has long read its copy by then; older copies of client files are not left lying in /tmp.
OPEN_COPY_HOURS = 12


def _forget_old_copies() -> None:
    """Deletes this user's copies made for viewing more than :data:`OPEN_COPY_HOURS` ago."""
    cutoff = time.time() - OPEN_COPY_HOURS * 3600
    for folder in Path(tempfile.gettempdir()).glob(f"{OPEN_PREFIX}*"):
        try:
            info = folder.lstat()
            if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and info.st_mtime < cutoff:
                shutil.rmtree(folder)
        except OSError:
            continue  # another process's, or gone meanwhile


def copy_to_open(service: MemoryService, document_id: int) -> Path:
    """A read-only copy of a document's original, under its own file name, for the system viewer.

    The kept original is named by its content's hash and must never change
    (backups check it): a viewer or editor that saves in place would alter it.
    The copy sits in a new private temporary folder (0700), so two documents
    of the same name never clash and no other user can plant a file there.

    Raises:
        NotFoundError: No such document, it was removed, or its kept copy is missing.
    """
    source = service.document_original(document_id)
    # The kept copy's suffix is its type's (memory names it so), never the name's: a viewer
    # launched on "Contract\u202efdp.hta" would run it. Direction and invisible marks go too.
    stem = Path(service.get_document(document_id).filename).stem
    stem = "".join(c for c in stem if not is_hidden(c, in_file_name=True)).strip() or "document"
    name = stem + source.suffix
    _forget_old_copies()
    folder = Path(tempfile.mkdtemp(prefix=OPEN_PREFIX))
    target = folder / name
    shutil.copyfile(source, target)
    os.chmod(target, 0o400)
    return target
