"""Errors the memory service raises on purpose.

Every error a caller can cause (bad input, unknown ids, malformed imports)
is a :class:`MemoryServiceError`, so the CLI and the UI can show its message
instead of a traceback. Anything else escaping the service is a bug.
"""

from __future__ import annotations


class MemoryServiceError(Exception):
    """Base of the errors a user can cause; ``str(err)`` is fit to show."""


class NotFoundError(MemoryServiceError):
    """A project, fact, session, message or proposal does not exist."""


class InvalidInputError(MemoryServiceError):
    """A value was rejected before anything was written."""


class ConflictError(MemoryServiceError):
    """The write would break a uniqueness rule (e.g. two projects with one name)."""


#: How much of an import problem a one-line message quotes.
MAX_MESSAGE_CHARS = 300


class ImportFormatError(InvalidInputError):
    """An import file is not a valid Dossier export.

    Attributes:
        json_path: Where in the document the problem is, e.g. ``$.facts[3].kind``.
    """

    def __init__(self, message: str, json_path: str = "$") -> None:
        # Schema messages quote the offending value, which may be megabytes long.
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS] + "…"
        super().__init__(f"{json_path[:MAX_MESSAGE_CHARS]}: {message}")
        self.json_path = json_path


class ModelFileError(MemoryServiceError):
    """A bundled model or tokenizer file is missing or fails its checksum."""


class CorruptDatabaseError(MemoryServiceError):
    """The database file is not a readable SQLite database (damaged or not Dossier's).

    Attributes:
        path: The damaged file, left exactly as it was.
    """

    def __init__(self, path: object, detail: str) -> None:
        super().__init__(f"The database {path} is damaged ({detail})")
        self.path = path
