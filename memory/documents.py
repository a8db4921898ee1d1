"""Project documents inside a caller's transaction, and the folder of kept originals.

The app layer parses a file into text and chunks; memory keeps the result, the
original's bytes (content-addressed, private) and the document's history.
A removed document keeps its row and history; its chunks leave the database,
and with them keyword and vector search.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import tempfile
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from memory.errors import InvalidInputError, NotFoundError
from memory.orm import DocumentChunkRow, DocumentEventRow, DocumentRow, WatchedFolderRow, utcnow
from memory.types import (
    Document,
    DocumentAction,
    DocumentChunk,
    DocumentEvent,
    DocumentStatus,
    NewDocument,
    WatchedFolder,
)
from memory.validation import MAX_NAME_CHARS, is_row_id, strip_control

#: The data dir's folder of originals, one file per distinct content.
ORIGINALS_DIRNAME = "documents"
#: Text of one document; beyond this a file is a corpus, not a document.
MAX_DOCUMENT_CHARS = 50_000_000
MAX_CHUNKS = 200_000


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: The formats documents come in, and the suffix each kept original gets. The suffix comes from the
#: type Dossier read the file as, never from its name: a viewer launched on "contract.hta" would run it.
SUFFIXES = {
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "text/markdown": ".md",
    "text/plain": ".txt",
    "text/html": ".html",
    "message/rfc822": ".eml",
}


def check_media_type(media_type: str, what: str) -> None:
    if media_type not in SUFFIXES:
        raise InvalidInputError(f"{what}: not a document type Dossier reads ({media_type[:100]!r})")


_SHA256 = re.compile(r"[0-9a-f]{64}")

log = logging.getLogger(__name__)


def check_kept_name(sha256: str, media_type: str) -> None:
    """Refuses a hash or type no document of Dossier's has.

    The kept copy's path is made of them: a forged row (in a backup, say) holding
    "../../.ssh/authorized_keys" as its hash must never name a file outside the
    originals' folder, to read, to back up or to delete.

    Raises:
        InvalidInputError: Not 64 lowercase hex digits, or not a type Dossier reads.
    """
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise InvalidInputError("A document's stored hash is not a SHA-256 in hex")
    check_media_type(media_type, "A document's stored type")


def is_kept_name(sha256: object, media_type: object) -> bool:
    """Whether :func:`check_kept_name` accepts them (values read raw from a database file)."""
    if not isinstance(sha256, str) or not isinstance(media_type, str):
        return False
    try:
        check_kept_name(sha256, media_type)
    except InvalidInputError:
        return False
    return True


def original_name(sha256: str, media_type: str) -> str:
    """The kept copy's file name: the content's hash with its type's suffix (system viewers need one).

    Raises:
        InvalidInputError: See :func:`check_kept_name`.
    """
    check_kept_name(sha256, media_type)
    return sha256 + SUFFIXES[media_type]


def original_path(data_dir: Path, sha256: str, media_type: str) -> Path:
    """Raises: InvalidInputError: See :func:`check_kept_name`."""
    return data_dir / ORIGINALS_DIRNAME / sha256[:2] / original_name(sha256, media_type)


def _real_folders(data_dir: Path, target: Path) -> bool:
    """Every folder from the originals' folder down to ``target``'s is a real folder, not a link."""
    folder = data_dir / ORIGINALS_DIRNAME
    for step in (folder, *(p for p in target.parents if folder in p.parents)):
        try:
            if not stat.S_ISDIR(os.lstat(step).st_mode):
                return False
        except OSError:
            return False
    return True


def read_original(data_dir: Path, sha256: str, media_type: str) -> bytes | None:
    """A kept original's bytes, if it is still exactly what was added; None otherwise.

    The data folder is not trusted blindly: a link planted in it (to ~/.ssh, say) is
    never followed, and content changed in place is not passed on as the original.
    """
    try:
        target = original_path(data_dir, sha256, media_type)
    except InvalidInputError:
        return None
    if not _real_folders(data_dir, target):
        return None
    try:
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with open(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return None
        data = file.read()
    return data if sha256_of(data) == sha256 else None


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.is_symlink() or not path.is_dir():
        raise InvalidInputError(f"{path} is not a folder Dossier made; move it away and try again")


def keep_original(data_dir: Path, sha256: str, media_type: str, data: bytes) -> Path:
    """Writes the original once per content (atomically, 0600); an existing copy is checked, not trusted."""
    target = original_path(data_dir, sha256, media_type)
    _private_dir(data_dir / ORIGINALS_DIRNAME)
    _private_dir(target.parent)
    if read_original(data_dir, sha256, media_type) is not None:
        return target
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".adding-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)
        # rename() replaces a planted symlink itself, never the file it points to.
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def forget_original(s: Session, data_dir: Path, sha256: str, media_type: str) -> None:
    """Deletes a kept original that no active document (of any project) still uses."""
    users = s.scalars(
        select(DocumentRow.media_type).where(
            DocumentRow.sha256 == sha256, DocumentRow.status == DocumentStatus.ACTIVE.value
        )
    )
    if media_type in set(users):
        return
    try:
        target = original_path(data_dir, sha256, media_type)
    except InvalidInputError:
        log.warning("a document row names no kept original Dossier wrote; nothing deleted")
        return
    if _real_folders(data_dir, target):  # never delete through a planted link
        target.unlink(missing_ok=True)


def check_new_document(new: NewDocument) -> None:
    """Refuses what no parser of ours produces: offsets outside the text, chunks out of order."""
    check_media_type(new.media_type, new.filename)
    if not new.text.strip():
        raise InvalidInputError(f"{new.filename}: no text to read")
    if len(new.text) > MAX_DOCUMENT_CHARS:
        raise InvalidInputError(f"{new.filename}: too much text ({len(new.text):,} characters)")
    if not new.chunks or len(new.chunks) > MAX_CHUNKS:
        raise InvalidInputError(f"{new.filename}: between 1 and {MAX_CHUNKS:,} chunks are needed")
    for n, chunk in enumerate(new.chunks):
        if chunk.ordinal != n or not 0 <= chunk.start < chunk.end <= len(new.text) or not chunk.text.strip():
            raise InvalidInputError(f"{new.filename}: chunk {n} does not match the document's text")
        if chunk.page is not None and not (1 <= chunk.page <= (new.pages or 0)):
            raise InvalidInputError(f"{new.filename}: chunk {n} is on page {chunk.page} of {new.pages}")


def clean_filename(filename: str) -> str:
    name = strip_control(Path(filename).name).strip() or "document"
    return name[:MAX_NAME_CHARS]


def insert_chunks(s: Session, row: DocumentRow, new: NewDocument) -> list[int]:
    rows = [
        DocumentChunkRow(
            document_id=row.id,
            project_id=row.project_id,
            ordinal=chunk.ordinal,
            page=chunk.page,
            section=chunk.section,
            heading_path=strip_control(chunk.heading_path)[:1000],
            start=chunk.start,
            end=chunk.end,
            text=chunk.text,
            vec_current=False,
        )
        for chunk in new.chunks
    ]
    s.add_all(rows)
    s.flush()
    return [r.id for r in rows]


def replace_chunks(s: Session, row: DocumentRow, new: NewDocument) -> tuple[list[int], list[tuple[int, int]]]:
    """Gives a document the passages of its new content, keeping the rows of passages that did not change.

    An answer names the passages it was given by id (``chunk:9``): a re-read
    or a small edit elsewhere in the file must not orphan its citations, nor
    re-embed text whose vector is already written.

    Returns:
        The ids of new passages (to embed), and (project, id) of deleted ones.
    """
    old: dict[tuple[str, int | None, int, str], list[DocumentChunkRow]] = {}
    for stored in s.scalars(
        select(DocumentChunkRow).where(DocumentChunkRow.document_id == row.id).order_by(DocumentChunkRow.ordinal)
    ):
        old.setdefault((stored.text, stored.page, stored.section, stored.heading_path), []).append(stored)
    fresh = []
    for chunk in new.chunks:
        same = old.get((chunk.text, chunk.page, chunk.section, strip_control(chunk.heading_path)[:1000]))
        if same:
            kept = same.pop(0)
            kept.ordinal, kept.start, kept.end = chunk.ordinal, chunk.start, chunk.end
        else:
            fresh.append(chunk)
    gone = [(c.project_id, c.id) for rows in old.values() for c in rows]
    for _project, chunk_id in gone:
        s.execute(delete(DocumentChunkRow).where(DocumentChunkRow.id == chunk_id))
    s.flush()
    partial = NewDocument(**{**new.__dict__, "chunks": tuple(fresh)})
    return insert_chunks(s, row, partial), gone


def record(s: Session, document_id: int, action: DocumentAction, detail: str = "") -> None:
    s.add(DocumentEventRow(document_id=document_id, action=action.value, detail=detail, created_at=utcnow()))


def drop_chunks(s: Session, document_id: int) -> list[tuple[int, int]]:
    """Deletes a document's chunks; returns (project, chunk id) of each, for the vector index."""
    gone = [
        (p, c)
        for c, p in s.execute(
            select(DocumentChunkRow.id, DocumentChunkRow.project_id).where(DocumentChunkRow.document_id == document_id)
        )
    ]
    s.execute(delete(DocumentChunkRow).where(DocumentChunkRow.document_id == document_id))
    return gone


def document_row(s: Session, document_id: int) -> DocumentRow:
    row = s.get(DocumentRow, document_id) if is_row_id(document_id) else None
    if row is None:
        raise NotFoundError(f"No document {document_id}")
    return row


def watched_folder_row(s: Session, folder_id: int) -> WatchedFolderRow:
    row = s.get(WatchedFolderRow, folder_id) if is_row_id(folder_id) else None
    if row is None:
        raise NotFoundError(f"No watched folder {folder_id}")
    return row


def to_document(row: DocumentRow, chunk_count: int = 0, chunks_pending: int = 0) -> Document:
    return Document(
        id=row.id,
        project_id=row.project_id,
        title=row.title,
        filename=row.filename,
        media_type=row.media_type,
        sha256=row.sha256,
        size=row.size,
        pages=row.pages,
        status=DocumentStatus(row.status),
        added_at=row.added_at,
        updated_at=row.updated_at,
        removed_at=row.removed_at,
        chunk_count=chunk_count,
        chunks_pending=chunks_pending,
        details=tuple(sorted((str(k), str(v)) for k, v in (row.details or {}).items())),
        watched_folder_id=row.watched_folder_id,
        watched_path=row.watched_path,
        reader=row.reader or 0,
    )


def chunk_counts(s: Session, document_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(chunks, chunks waiting for their vector) per document."""
    if not document_ids:
        return {}
    rows = s.execute(
        select(
            DocumentChunkRow.document_id,
            func.count(),
            func.sum(func.iif(DocumentChunkRow.vec_current, 0, 1)),
        )
        .where(DocumentChunkRow.document_id.in_(document_ids))
        .group_by(DocumentChunkRow.document_id)
    )
    return {doc: (int(n), int(pending or 0)) for doc, n, pending in rows}


def to_chunk(row: DocumentChunkRow) -> DocumentChunk:
    return DocumentChunk(
        id=row.id,
        document_id=row.document_id,
        project_id=row.project_id,
        ordinal=row.ordinal,
        text=row.text,
        start=row.start,
        end=row.end,
        page=row.page,
        section=row.section,
        heading_path=row.heading_path,
    )


def to_event(row: DocumentEventRow) -> DocumentEvent:
    return DocumentEvent(row.document_id, DocumentAction(row.action), row.detail, row.created_at)


def to_watched_folder(row: WatchedFolderRow) -> WatchedFolder:
    return WatchedFolder(row.id, row.project_id, row.path, row.added_at, row.synced_at)


def originals_of_database(database: Path) -> dict[str, tuple[str, str]]:
    """The kept originals a database file's active documents use, as ``documents/ab/<sha256>.pdf`` paths.

    For backups: read from the snapshot itself, so a backup holds exactly the
    originals of the database it carries. A database from before documents has none.

    Returns:
        Each original's path in the data folder, with its (sha256, media type).
    """
    import sqlite3

    from memory.db import read_only_uri

    connection = sqlite3.connect(read_only_uri(database), uri=True)
    try:
        if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'documents'").fetchone():
            return {}
        rows = connection.execute("SELECT sha256, media_type FROM documents WHERE status = 'active'").fetchall()
    finally:
        connection.close()
    # A row naming no original Dossier wrote is refused by the backup's row check; here it names nothing.
    return {
        f"{ORIGINALS_DIRNAME}/{sha[:2]}/{original_name(sha, media_type)}": (sha, media_type)
        for sha, media_type in rows
        if is_kept_name(sha, media_type)
    }
