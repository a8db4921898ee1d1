"""The window's only arguments, read without importing Qt (the launcher asks before choosing)."""

from __future__ import annotations

from collections.abc import Sequence


def window_arguments(args: Sequence[str]) -> tuple[bool, str | None]:
    """True (and the data dir, if given) when ``args`` name no command: ``[--data-dir DIR]``."""
    if not args:
        return True, None
    if len(args) == 2 and args[0] == "--data-dir":
        return True, args[1]
    if len(args) == 1 and args[0].startswith("--data-dir="):
        return True, args[0].split("=", 1)[1]
    return False, None
