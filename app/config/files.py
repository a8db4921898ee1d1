"""Files the user asked for (exports, briefs, backups, settings): written whole or not at all.

Each is written to a hidden ``.NAME.<random>.partial`` beside its target, flushed to
disk, then renamed over the target. A failure at any point (a full disk, a
folder that is not writable) removes the partial file and leaves whatever
was at the target before untouched.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from app.errors import UserError


class WriteFailed(UserError, OSError):
    """A file could not be written; ``str(err)`` is fit to show.

    An ``OSError``, so that code which already handles failed writes handles it.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} could not be written: {reason}. Nothing was saved there.")
        self.path = path
        self.reason = reason


def os_error_reason(err: OSError) -> str:
    """What went wrong, in words a user can act on."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if err.errno == errno.EROFS:
        return "the disk is read-only"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if err.errno == errno.ENOENT:
        return "the folder does not exist"
    return err.strerror or str(err)


def is_special(path: Path) -> bool:
    """A device, pipe or socket (``/dev/stdout``, ``/dev/null``): written to, never replaced."""
    try:
        return not stat.S_ISREG(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


@contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """Yields a binary handle whose content replaces ``path`` once the block ends without error.

    The new file is readable by its owner only.

    Raises:
        WriteFailed: Writing, flushing or renaming failed (an ``OSError`` in
            the block included); the partial file is gone.
    """
    path = Path(path)
    partial: Path | None = None
    try:
        # A fresh name, created exclusively (0600): a file or symlink planted where the
        # partial file would go is never opened, followed or overwritten.
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        partial = Path(name)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except OSError as err:
        raise WriteFailed(path, os_error_reason(err)) from None
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    """Replaces ``path`` with ``data``, or writes straight into a device or pipe.

    Raises:
        WriteFailed: See :func:`replacing`.
    """
    path = Path(path)
    if is_special(path):
        try:
            with path.open("wb") as handle:
                handle.write(data)
        except OSError as err:
            raise WriteFailed(path, os_error_reason(err)) from None
        return
    with replacing(path) as handle:
        handle.write(data)


def write_text(path: Path, text: str) -> None:
    """:func:`write_bytes` of ``text`` in UTF-8."""
    write_bytes(path, text.encode("utf-8"))
