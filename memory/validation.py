"""Checks on user-supplied values, run before anything is written."""

from __future__ import annotations

import re
from enum import Enum
from typing import TypeVar

from memory.errors import InvalidInputError

MAX_NAME_CHARS = 200
MAX_FACT_CHARS = 10_000
MAX_MESSAGE_CHARS = 2_000_000
MAX_QUERY_CHARS = 4_000

# C0 controls other than tab, newline and carriage return, plus DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Halves of UTF-16 pairs on their own: JSON's \ud800 escapes decode to them, and no
# UTF-8 encoder (SQLite's, the tokenizer's) accepts them.
_SURROGATE = re.compile(r"[\ud800-\udfff]")

E = TypeVar("E", bound=Enum)


def clean_text(value: object, what: str, *, max_chars: int, allow_empty: bool = False) -> str:
    """Returns ``value`` stripped, or raises :class:`InvalidInputError` saying why not."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be text")
    text = value.strip()
    if not text and not allow_empty:
        raise InvalidInputError(f"{what} is empty")
    if len(text) > max_chars:
        raise InvalidInputError(f"{what} is too long ({len(text):,} characters; the limit is {max_chars:,})")
    match = _CONTROL.search(text)
    if match:
        raise InvalidInputError(
            f"{what} contains a control character (U+{ord(match.group()):04X}) at position {match.start()}"
        )
    match = _SURROGATE.search(text)
    if match:
        raise InvalidInputError(
            f"{what} contains an invalid character (U+{ord(match.group()):04X}, half of a UTF-16 pair) "
            f"at position {match.start()}"
        )
    return text


def strip_control(value: str) -> str:
    """``value`` without the control characters :func:`clean_text` refuses."""
    return _CONTROL.sub("", value)


def clean_name(value: object, what: str = "Name") -> str:
    name = clean_text(value, what, max_chars=MAX_NAME_CHARS)
    if "\n" in name or "\r" in name or "\t" in name:
        raise InvalidInputError(f"{what} must be on one line")
    return name


def parse_enum(enum_type: type[E], value: object, what: str) -> E:
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum_type)
        raise InvalidInputError(f"{what} must be one of: {allowed} (got {value!r})") from None
