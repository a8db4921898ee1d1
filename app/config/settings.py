"""Typed application settings, stored as JSON beside the data.

Secrets never go here: remote API keys live in the OS keyring only.
A file from a newer or damaged version is set aside, not overwritten blindly.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from app.config.files import write_text
from app.errors import UserError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
BACKENDS = ("local", "remote")
#: Types of the settings whose default is None.
_OPTIONAL_TYPES: dict[str, type] = {"model_path": str, "last_project_id": int, "remote_base_url": str}


@dataclass(frozen=True)
class Settings:
    schema_version: int = SCHEMA_VERSION
    #: A GGUF file chosen by the user; None means the bundled default model.
    model_path: str | None = None
    threads: int = 0  # 0: let the engine pick from the CPU count
    context_length: int = 4096
    temperature: float = 0.7
    memory_budget_tokens: int = 1000
    #: Projects whose proposed memories are accepted without review.
    auto_accept_project_ids: tuple[int, ...] = field(default=())
    last_project_id: int | None = None
    #: Longest reply, in tokens.
    max_reply_tokens: int = 512
    #: An OpenAI-compatible endpoint (its API key is in the keyring, never here).
    remote_base_url: str | None = None
    remote_model: str = ""
    remote_context_length: int = 8192
    #: Which model serves chat and which serves background work
    #: (extraction, summaries, voice): "local" or "remote".
    chat_backend: str = "local"
    background_backend: str = "local"
    #: Propose memories from each turn (explicit "remember ..." always works).
    extraction_enabled: bool = True
    #: A session is summarised when idle this long, or after this many new messages.
    summary_idle_minutes: int = 30
    summary_every_messages: int = 40
    #: Daily automatic backups into the data dir's backups folder, keeping this
    #: many (0: off).
    auto_backup_keep: int = 0
    #: Project documents larger than this are refused (megabytes).
    document_max_mb: int = 200
    #: The main window's geometry (Qt's saveGeometry, base64).
    window_geometry: str = ""

    def __post_init__(self) -> None:
        for name in ("chat_backend", "background_backend"):
            if getattr(self, name) not in BACKENDS:
                raise ValueError(f"{name} must be one of {', '.join(BACKENDS)}")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Settings:
        defaults = cls()
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in raw:
                continue
            value = raw[f.name]
            default = getattr(defaults, f.name)
            optional = _OPTIONAL_TYPES.get(f.name)
            if isinstance(value, str) and not value.isprintable():
                # A path or address with a NUL or a control character cannot be used, only crash.
                log.warning("settings: ignoring %s=%r (unprintable characters)", f.name, value)
                continue
            if optional is not None and value is not None and not isinstance(value, optional):
                log.warning("settings: ignoring %s=%r (expected %s)", f.name, value, optional.__name__)
                continue
            if isinstance(default, tuple):
                value = tuple(value) if isinstance(value, list) else default
            elif default is not None and not isinstance(value, type(default)):
                if isinstance(default, float) and isinstance(value, int):
                    value = float(value)
                else:
                    log.warning("settings: ignoring %s=%r (expected %s)", f.name, value, type(default).__name__)
                    continue
            limits = _out_of_range(f.name, value)
            if limits is not None:
                log.warning("settings: ignoring %s=%r (expected %s to %s)", f.name, value, *limits)
                continue
            values[f.name] = value
        url = values.get("remote_base_url")
        try:
            netloc = urllib.parse.urlparse(url).netloc if url else ""
        except ValueError:  # e.g. "http://[::1": not an address at all
            log.warning("settings: ignoring remote_base_url=%r (not an address)", url)
            values.pop("remote_base_url")
            url, netloc = None, ""
        if url and "@" in netloc:
            # Written before credentials in addresses were refused: never keep a key in this file.
            parsed = urllib.parse.urlparse(url)
            values["remote_base_url"] = urllib.parse.urlunparse(
                parsed._replace(netloc=parsed.netloc.rpartition("@")[2])
            )
            log.warning("settings: removed the credentials from the remote endpoint address; set the key again")
        values["schema_version"] = SCHEMA_VERSION
        for name in ("chat_backend", "background_backend"):
            if values.get(name) not in (None, *BACKENDS):
                log.warning("settings: ignoring %s=%r (expected one of %s)", name, values[name], BACKENDS)
                del values[name]
        return cls(**values)


#: Sensible bounds: a hand-edited or restored file must not set a -5-token window,
#: a billion threads or a project id no database can hold.
_RANGES: dict[str, tuple[float, float]] = {
    "threads": (0, 512),
    "context_length": (256, 1 << 21),
    "temperature": (0.0, 2.0),
    "memory_budget_tokens": (0, 1 << 20),
    "auto_accept_project_ids": (1, 2**63 - 1),
    "last_project_id": (1, 2**63 - 1),
    "max_reply_tokens": (1, 1 << 17),
    "remote_context_length": (256, 1 << 21),
    "summary_idle_minutes": (1, 60 * 24 * 365),
    "summary_every_messages": (1, 100_000),
    "auto_backup_keep": (0, 3650),
    "document_max_mb": (1, 4096),
}


def _out_of_range(name: str, value: Any) -> tuple[float, float] | None:
    """The setting's range when ``value`` falls outside it (or is no number), else None."""
    limits = _RANGES.get(name)
    if limits is not None and not all(limits[0] <= v <= limits[1] for v in _numbers(value)):
        return limits
    return None


def _numbers(value: Any) -> list[Any]:
    """The numbers in a setting's value; anything else fails the range check (NaN compares false)."""
    if value is None:
        return []
    values = list(value) if isinstance(value, tuple) else [value]
    return [v if isinstance(v, int | float) and not isinstance(v, bool) else float("nan") for v in values]


def load_settings(path: Path) -> Settings:
    if not path.exists():
        return Settings()
    try:
        raw = json.loads(path.read_text("utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        version = raw.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError(f"its schema_version is not a number: {version!r}")
        if version > SCHEMA_VERSION:
            raise ValueError(f"written by a newer Dossier (schema {raw['schema_version']})")
        settings = Settings.from_dict(raw)
    except (OSError, ValueError, TypeError, RecursionError) as err:
        aside = path.with_suffix(".unreadable.json")
        log.warning("settings: %s is unreadable (%s); kept as %s, using defaults", path, err, aside)
        os.replace(path, aside)
        return Settings()
    return settings


def save_settings(path: Path, settings: Settings) -> None:
    """Writes atomically, readable by the owner only.

    Raises:
        WriteFailed: The file could not be written; the old settings stay.
    """
    data = asdict(settings)
    data["auto_accept_project_ids"] = list(settings.auto_accept_project_ids)
    write_text(path, json.dumps(data, indent=2))


class SettingsRefused(UserError):
    """A setting given out of its range (or empty where it must not be); nothing was saved."""


def check_changes(changes: dict[str, Any]) -> None:
    """Refuses what loading would throw away: a number out of its range, an empty remote model name.

    Raises:
        SettingsRefused: Naming the setting and its range.
    """
    for name, value in changes.items():
        limits = _out_of_range(name, value)
        if limits is not None:
            raise SettingsRefused(
                f"{name.replace('_', ' ')} must be between {limits[0]} and {limits[1]}, not {value!r}"
            )
    if "remote_model" in changes and not str(changes["remote_model"]).strip() and changes.get("remote_base_url"):
        raise SettingsRefused("Give the model name the endpoint expects")
