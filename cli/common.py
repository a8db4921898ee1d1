"""What the command line's modules share: safe terminal output, usage errors, JSON, lookups, progress."""

from __future__ import annotations

import json
import re
import stat
import sys
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

from app.assistant.text import counted
from app.errors import UserError
from memory import (
    MemoryService,
    Project,
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


MAX_IMPORT_BYTES = 512 * 1024 * 1024


#: What a terminal would act on or hide, never printed raw: C0 and C1 controls (but tab and
#: newline), DEL, and bidirectional overrides that reorder what the eye reads.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class TerminalSafe:
    """A text stream that writes every unprintable character as its ``\\uXXXX`` escape.

    Stored text may hold what came from elsewhere (an imported proposal's reason, a
    model's answer); printed raw, ESC and BEL sequences could retitle, recolour or
    rewrite the user's terminal. Inside a JSON string the escape means the same
    character, so ``--json`` output stays valid and lossless.
    """

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        return self._inner.write(_UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))

    def flush(self) -> None:
        self._inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class UsageError(UserError):
    """Bad input found by the CLI itself (a missing file, unreadable JSON)."""


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _print_json(value: Any, out: TextIO) -> None:
    json.dump(_jsonable(value), out, indent=2, ensure_ascii=False)
    out.write("\n")


def _project(service: MemoryService, ref: str) -> Project:
    return service.get_project(ref)


def read_at_most(path: Path, limit: int) -> bytes:
    """A file's bytes, refused past ``limit`` (read, not trusted from its size: it may grow meanwhile).

    A device or a pipe has no size to check first, and /dev/zero would fill the memory:
    only regular files are read.

    Raises:
        UsageError: Longer than ``limit``, or not a regular file.
        FileNotFoundError: No such file.
    """
    if not stat.S_ISREG(path.stat().st_mode):
        raise UsageError(f"{path}: not a regular file")
    with path.open("rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"{path}: too large ({limit:,} bytes at most)")
    return data


def _read_json(path: Path) -> Any:
    try:
        data = read_at_most(path, MAX_IMPORT_BYTES)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    try:
        # utf-8-sig: editors on Windows start UTF-8 files with a byte-order mark.
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise UsageError(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    except RecursionError:
        raise UsageError(f"{path}: nested too deeply to be a Dossier export") from None
    except ValueError as err:  # e.g. a number of more digits than Python will read
        raise UsageError(f"{path}: not a Dossier export ({' '.join(str(err).split())[:200]})") from None


def _int(value: str | None) -> int:
    if value is None:
        raise UsageError("give the proposal's id (dossier inbox --project P lists them)")
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"not a proposal id: {value!r}") from None


def _progress_printer(label: str) -> Callable[[int, int | None], None]:
    last = [-1]

    def show(done: int, total: int | None) -> None:
        percent = int(done * 100 / total) if total else -1
        if percent != last[0] and (percent % 10 == 0 or percent < 0):
            last[0] = percent
            where = f"{percent}%" if percent >= 0 else f"{done / 1e6:.0f} MB"
            print(f"{label}: {where}", file=sys.stderr)

    return show


def _describe_counts(counts: dict[str, int]) -> str:
    """``{"projects": 1, "chat_sessions": 3, "facts": 0}`` as "1 project, 3 chat sessions", for backup and restore messages.

    Tables are named in the plural; what there is none of is left out.
    """
    nouns = {table: table.replace("_", " ") for table in counts}
    said = [counted(n, nouns[table][:-1], nouns[table]) for table, n in counts.items() if n]
    return ", ".join(said) or "nothing yet (an empty memory)"
