"""Puts the parts together for one data dir: paths, settings, memory, models, flows.

The CLI builds one per command; the desktop app builds one at start-up and
hands it to its windows. Models are made on first use, so opening a data dir
never waits for a model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from app.assistant.conversation import ConversationFlow
from app.assistant.extraction import MemoryExtractor
from app.assistant.summaries import SessionSummarizer
from app.config.keychain import Keychain
from app.config.paths import AppPaths, resolve_paths
from app.config.settings import Settings, check_changes, load_settings, save_settings
from app.llm.engine import EngineError, GenerationSettings, LocalEngine, TextModel
from app.llm.models import ModelStore, Progress
from app.llm.remote import RemoteModel, normalise_base_url
from memory import MemoryService, Message

log = logging.getLogger(__name__)


#: Settings whose change means the local model is loaded again.
LOCAL_MODEL_SETTINGS = frozenset({"model_path", "threads", "context_length"})
#: Settings whose change means the remote endpoint is connected again.
REMOTE_MODEL_SETTINGS = frozenset({"remote_base_url", "remote_model", "remote_context_length"})
#: Settings that change neither a model nor the chat flow.
WINDOW_ONLY_SETTINGS = frozenset({"last_project_id", "window_geometry", "auto_accept_project_ids"})


class Runtime:
    """Owns the memory service and the models of one data dir; close it when done."""

    def __init__(
        self,
        paths: AppPaths,
        service: MemoryService,
        *,
        keychain: Keychain | None = None,
        settings: Settings | None = None,
        chat_model: TextModel | None = None,
        background_model: TextModel | None = None,
    ) -> None:
        """
        Args:
            chat_model, background_model: Use these models instead of the ones the
                settings choose (tests hand in a fake; a caller may share one).
        """
        self.paths = paths
        self._chat_override = chat_model
        self._background_override = background_model
        self.service = service
        self.keychain = keychain or Keychain()
        self.settings = settings or load_settings(paths.settings_file)
        self.store = ModelStore(paths.models_dir)
        self._local: LocalEngine | None = None
        self._remote: RemoteModel | None = None
        self._flow: ConversationFlow | None = None
        self._lock = threading.RLock()
        self._backup_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        data_dir: str | Path | None = None,
        *,
        keychain: Keychain | None = None,
        open_service: Callable[[Path], MemoryService] = MemoryService.open,
    ) -> Runtime:
        paths = resolve_paths(data_dir)
        return cls(paths, open_service(paths.data_dir), keychain=keychain)

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._flow is not None:
                self._flow.close()
                self._flow = None
            for model in (self._local, self._remote):
                if model is not None:
                    model.close()
            self._local = self._remote = None
        self.service.close()

    # ---------------------------------------------------------------- settings

    def update_settings(self, **changes: Any) -> Settings:
        """Saves changed settings; models and flows are rebuilt on next use if they depend on them."""
        check_changes(changes)
        with self._lock:
            # The file is shared with the other front end (the CLI while the window runs):
            # changes apply to what it holds now, never to a copy read at start.
            file = self.paths.settings_file
            current = load_settings(file) if file.exists() else self.settings
            new = replace(current, **changes)
            save_settings(self.paths.settings_file, new)
            changed = {f.name for f in fields(Settings) if getattr(self.settings, f.name) != getattr(new, f.name)}
            if LOCAL_MODEL_SETTINGS & changed and self._local is not None:
                self._drop_flow()
                self._local.close()
                self._local = None
            if REMOTE_MODEL_SETTINGS & changed and self._remote is not None:
                self._drop_flow()
                self._remote.close()
                self._remote = None
            if changed - WINDOW_ONLY_SETTINGS:
                self._drop_flow()
            self.settings = new
            return new

    # ---------------------------------------------------------------- lifecycle

    def backup_if_due(self) -> Path | None:
        """The daily automatic backup, when one is due (``auto_backup_keep`` > 0).

        Called by both front ends: the CLI after each command, the window at start
        and then hourly; either way the newest ``auto_backup_keep`` are kept.

        Raises:
            BackupError: The backup could not be made; the caller says why.
        """
        from app.portability.backup import auto_backup_if_due

        # One at a time: two checks at once (start-up and a timer) would both find none due yet.
        with self._backup_lock:
            return auto_backup_if_due(
                self.service, self.paths.settings_file, self.paths.backups_dir, self.settings.auto_backup_keep
            )

    @staticmethod
    def changes_chat_model(changed: Iterable[str]) -> bool:
        """Whether changing these settings gives the chat another model (to load, and to show)."""
        return bool(set(changed) & (LOCAL_MODEL_SETTINGS | REMOTE_MODEL_SETTINGS | {"chat_backend"}))

    def _drop_flow(self) -> None:
        if self._flow is not None:
            self._flow.close()
            self._flow = None

    def delete_message(self, message_id: int) -> list[Message]:
        """Deletes a message for good (with the answers to it); the chat's prompt for its session forgets them too."""
        deleted = self.service.delete_message(message_id)
        with self._lock:
            flow = self._flow
        if flow is not None:
            flow.forget_session_cache(deleted[0].session_id)
        return deleted

    def auto_accepts(self, project_id: int) -> bool:
        return project_id in self.settings.auto_accept_project_ids

    # ---------------------------------------------------------------- models

    @property
    def local_model_path(self) -> Path:
        chosen = self.settings.model_path
        return Path(chosen) if chosen else self.store.default_path

    def ensure_local_model_file(self, progress: Progress | None = None) -> Path:
        """The chosen GGUF, assembling the bundled default first if it is the one chosen."""
        if self.settings.model_path:
            return Path(self.settings.model_path)
        return self.store.ensure_default(progress)

    def local_model(self, progress: Progress | None = None) -> LocalEngine:
        """The local engine (made once; the file is checked before loading).

        Raises:
            ModelUnavailableError: The file is missing, truncated or not GGUF.
            ModelStoreError: The bundled model could not be assembled.
        """
        with self._lock:
            if self._local is None:
                path = self.ensure_local_model_file(progress)
                self._local = LocalEngine(
                    path, context_length=self.settings.context_length, threads=self.settings.threads
                )
            return self._local

    def remote_endpoint_id(self) -> str | None:
        url = self.settings.remote_base_url
        return normalise_base_url(url) if url else None

    def remote_model(self) -> RemoteModel:
        with self._lock:
            if self._remote is None:
                endpoint = self.remote_endpoint_id()
                if endpoint is None or not self.settings.remote_model:
                    raise EngineError("No remote endpoint is set up (Settings → Model → Remote endpoint)")
                self._remote = RemoteModel(
                    endpoint,
                    self.settings.remote_model,
                    api_key=lambda: self.keychain.get_api_key(endpoint),
                    context_length=self.settings.remote_context_length,
                )
            return self._remote

    def _model_for(self, backend: str) -> TextModel:
        return self.remote_model() if backend == "remote" else self.local_model()

    def chat_model(self) -> TextModel:
        if self._chat_override is not None:
            return self._chat_override
        return self._model_for(self.settings.chat_backend)

    def background_model(self) -> TextModel | None:
        """The model for extraction and summaries, or None if it cannot be had (work then falls back)."""
        if self._background_override is not None:
            return self._background_override
        try:
            return self._model_for(self.settings.background_backend)
        except Exception as err:  # background work degrades instead of failing the chat
            log.warning("no background model: %s", err)
            return None

    # ---------------------------------------------------------------- flows

    def extractor(self, model: TextModel | None = None) -> MemoryExtractor:
        return MemoryExtractor(
            self.service,
            model,
            auto_accept=self.auto_accepts,
            use_model=self.settings.extraction_enabled,
        )

    def summarizer(self, model: TextModel | None = None) -> SessionSummarizer:
        return SessionSummarizer(
            self.service,
            model,
            idle_minutes=self.settings.summary_idle_minutes,
            every_messages=self.settings.summary_every_messages,
        )

    def conversation(self) -> ConversationFlow:
        """The chat flow with extraction and summaries after each turn."""
        with self._lock:
            if self._flow is None:
                chat = self.chat_model()
                background = self.background_model()
                extractor = self.extractor(background)
                self._flow = ConversationFlow(
                    self.service,
                    chat,
                    listeners=[extractor, self.summarizer(background)],
                    commands=extractor,
                    memory_budget_tokens=self.settings.memory_budget_tokens,
                    generation=GenerationSettings(
                        max_tokens=self.settings.max_reply_tokens, temperature=self.settings.temperature
                    ),
                )
            return self._flow
