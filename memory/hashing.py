"""SHA-256 of files, the one helper for every checksum Dossier takes (models, backups, the embedder)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

_BLOCK = 1024 * 1024


def sha256_file(path: Path, progress: Callable[[int, int | None], None] | None = None) -> str:
    """The file's SHA-256 as 64 hex digits, read in 1 MiB blocks.

    Args:
        progress: Called with (bytes done, bytes in all) after each block.
    """
    digest = hashlib.sha256()
    total = path.stat().st_size if progress else None
    done = 0
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
            if progress:
                done += len(block)
                progress(done, total)
    return digest.hexdigest()
