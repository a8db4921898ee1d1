"""The one root of the errors a user can cause and fix, for both front ends.

Every error of the app layer whose message is written for the user derives
from :class:`UserError`; with the memory layer's own root (which cannot derive
from anything in ``app``), :data:`USER_ERRORS` is what the CLI turns into a
one-line message with exit code 2 and what the window shows in its banner.
Anything else is a bug: logged with its traceback.
"""

from __future__ import annotations

from memory import MemoryServiceError


class UserError(Exception):
    """Something the user can cause and fix; ``str(err)`` is the message to show."""


class InputRefused(UserError):
    """A request the app layer refuses as given: an empty message, a question that cannot be asked again."""


USER_ERRORS: tuple[type[Exception], ...] = (UserError, MemoryServiceError)
