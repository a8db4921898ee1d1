"""Checks on user-supplied values, run before anything is written."""

from __future__ import annotations

import re
import unicodedata
from enum import Enum
from typing import TypeVar

from memory.errors import InvalidInputError

MAX_NAME_CHARS = 200
MAX_FACT_CHARS = 10_000
MAX_MESSAGE_CHARS = 2_000_000
MAX_QUERY_CHARS = 4_000
#: A voice profile's lists (rules, vocabulary, samples): entries each, and a sample's length.
MAX_LIST_ITEMS = 200
MAX_SAMPLE_CHARS = 20_000
#: SQLite's largest integer: ids and version numbers beyond it cannot exist.
MAX_ROW_ID = 2**63 - 1

# C0 controls other than tab, newline and carriage return, DEL, and the C1 controls
# (U+0080-U+009F: U+009B is a terminal's CSI, U+0085 a line break some tools honour).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Bidirectional embeddings, overrides and isolates: in a name they can make one
# project look like another. Free text keeps them (right-to-left writing may need
# them); the command line escapes them when it prints.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")

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
    """``value`` without the control characters and lone UTF-16 halves :func:`clean_text` refuses."""
    return _SURROGATE.sub("", _CONTROL.sub("", value))


def clean_name(value: object, what: str = "Name") -> str:
    """A name as stored: one line, NFC, visible, without bidi or invisible format characters.

    Raises:
        InvalidInputError: Saying which rule the name breaks.
    """
    name = unicodedata.normalize("NFC", clean_text(value, what, max_chars=MAX_NAME_CHARS))
    if "\n" in name or "\r" in name or "\t" in name:
        raise InvalidInputError(f"{what} must be on one line")
    match = _BIDI.search(name)
    if match:
        raise InvalidInputError(
            f"{what} contains a text-direction control (U+{ord(match.group()):04X}) at position {match.start()}"
        )
    # Zero-width, format and other default-ignorable characters (U+200B, U+FEFF, U+034F,
    # variation selectors, Hangul fillers…) make look-alike names; the zero-width joiner
    # stays, as emoji sequences need it.
    hidden = next((c for c in name if _invisible(c)), None)
    if hidden is not None:
        raise InvalidInputError(f"{what} contains an invisible character (U+{ord(hidden):04X})")
    if not any(not c.isspace() and unicodedata.category(c) not in ("Cf", "Mn", "Me") for c in name):
        raise InvalidInputError(f"{what} has nothing visible in it")
    if name.isascii() and name.isdigit():
        raise InvalidInputError(f"{what} of digits only would read as a project id; add a word")
    return name


# Unicode's default-ignorable code points outside category Cf, and blanks that draw nothing.
_IGNORABLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2065\u2800\u3164\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]"
)


def _invisible(char: str) -> bool:
    return (unicodedata.category(char) == "Cf" and char != "\u200d") or bool(_IGNORABLE.match(char))


def is_hidden(char: str, *, in_file_name: bool = False) -> bool:
    """A character that changes how text reads without showing: a direction control or an invisible one.

    Args:
        in_file_name: The zero-width joiner counts too: no emoji sequence in a file name needs
            it, and there hidden characters can disguise the name's type ("Contract\u202efdp.hta").
    """
    return bool(_BIDI.match(char)) or _invisible(char) or (in_file_name and char == "\u200d")


def name_key(name: str) -> str:
    """What two names must differ in to be told apart: compatibility forms, case and spacing folded.

    Letters of other scripts that look alike (Cyrillic "А" for Latin "A") are not folded:
    that needs Unicode's confusables table.
    """
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def parse_enum(enum_type: type[E], value: object, what: str) -> E:
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum_type)
        raise InvalidInputError(f"{what} must be one of: {allowed} (got {value!r})") from None


def is_row_id(value: object) -> bool:
    """Whether ``value`` could be a row id or a version number (a whole number SQLite can hold)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ROW_ID
