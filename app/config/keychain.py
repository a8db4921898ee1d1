"""API keys for remote endpoints, kept in the operating system's keyring only.

They are never written to settings, logs, exports or backups: settings name
the endpoint, and the key is looked up here when a request is made.
"""

from __future__ import annotations

from typing import Any

import keyring
import keyring.errors
from keyring.backends import fail

from app.errors import UserError

SERVICE = "Dossier"

NO_BACKEND_MESSAGE = (
    "No system keyring is available, so Dossier cannot store an API key safely. "
    "Install and unlock one (GNOME Keyring or KWallet on Linux; macOS and Windows have one built in), "
    "or use a local model or an endpoint without a key."
)


class KeychainError(UserError):
    """The keyring refused or is missing; ``str(err)`` is fit to show."""


class Keychain:
    """Stores one secret per endpoint id.

    Args:
        backend: A keyring backend; the system's by default. Tests pass their own.
    """

    def __init__(self, backend: Any | None = None) -> None:
        self._backend = backend

    @property
    def backend(self) -> Any:
        return self._backend if self._backend is not None else keyring.get_keyring()

    @property
    def available(self) -> bool:
        backend = self.backend
        if isinstance(backend, fail.Keyring):
            return False
        return getattr(backend, "priority", 1) > 0

    def _require(self) -> Any:
        if not self.available:
            raise KeychainError(NO_BACKEND_MESSAGE)
        return self.backend

    def set_api_key(self, endpoint_id: str, key: str) -> None:
        key = key.strip()
        if not key:
            raise KeychainError("The API key is empty")
        try:
            self._require().set_password(SERVICE, _user(endpoint_id), key)
        except keyring.errors.KeyringError as err:
            raise KeychainError(f"The keyring refused to store the key: {err}") from None

    def get_api_key(self, endpoint_id: str) -> str | None:
        if not self.available:
            return None
        try:
            key: str | None = self.backend.get_password(SERVICE, _user(endpoint_id))
            return key
        except keyring.errors.KeyringError as err:
            raise KeychainError(f"The keyring could not be read: {err}") from None


def _user(endpoint_id: str) -> str:
    return f"endpoint:{endpoint_id}"
