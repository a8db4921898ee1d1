"""Settings: the model (local file, download, or remote endpoint), generation, auto-accept, data folder."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.config.keychain import KeychainError
from app.llm.catalogue import (
    CATALOGUE,
    KNOWN_SERVERS,
    CatalogueModel,
    LocalServer,
    find_local_servers,
    machine_memory,
)
from app.llm.engine import CancelToken
from app.llm.models import InstalledModel, default_model
from app.llm.remote import RemoteError, normalise_base_url
from app.runtime import Runtime
from ui.tasks import TaskRunner


def _catalogue_text(entry: CatalogueModel, memory: int | None) -> str:
    fits = entry.fits(memory)
    if fits is None:
        room = ""
    elif fits or memory is None:
        room = ' · <span style="color:#1b6e20">fits this computer</span>'
    else:
        room = (
            f' · <span style="color:#b3261e">needs more memory than this computer has ({memory / 2**30:.0f} GB)</span>'
        )
    use = "" if entry.commercial_use else ' · <b style="color:#b3261e">not for commercial use</b>'
    return (
        f"<b>{html.escape(entry.name)}</b> · {entry.size_bytes / 1e9:.1f} GB · needs {entry.ram_bytes / 2**30:.1f} GB "
        f"of memory{room}<br>Licence: {html.escape(entry.licence)}{use}<br>{html.escape(entry.good_for)}"
    )


class SettingsDialog(QDialog):
    model_changed = Signal()

    def __init__(
        self,
        runtime: Runtime,
        tasks: TaskRunner,
        project_id: int | None,
        parent: QWidget | None = None,
        *,
        catalogue_entries: Sequence[CatalogueModel] = CATALOGUE,
        local_servers: tuple[tuple[str, int], ...] = KNOWN_SERVERS,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.runtime = runtime
        self.tasks = tasks
        self.project_id = project_id
        self._download_cancel: CancelToken | None = None
        self._local_servers = local_servers
        settings = runtime.settings

        # -- local model
        self.model = QComboBox()
        self.model.setMinimumWidth(360)
        self.model_note = QLabel(default_model().description)
        self.model_note.setWordWrap(True)
        browse = QPushButton("Pick a GGUF file…")
        browse.clicked.connect(self._on_browse)
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://huggingface.co/…/resolve/main/model.gguf")
        self.sha = QLineEdit()
        self.sha.setPlaceholderText("sha256 (optional)")
        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self._on_download)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        local = QGroupBox("Local model")
        form = QFormLayout(local)
        row = QHBoxLayout()
        row.addWidget(self.model, 1)
        row.addWidget(browse)
        form.addRow("Model", row)
        form.addRow("", self.model_note)
        row = QHBoxLayout()
        row.addWidget(self.url, 1)
        row.addWidget(self.sha)
        row.addWidget(self.download_button)
        form.addRow("Download", row)
        form.addRow("", self.progress)

        # -- better models: the catalogue and servers already running here
        better = self.better_box = QGroupBox("Get a better model")
        better_layout = QVBoxLayout(better)
        memory = machine_memory()
        self.catalogue_rows: dict[str, QLabel] = {}
        self.catalogue_buttons: dict[str, QPushButton] = {}
        for entry in catalogue_entries:
            row = QHBoxLayout()
            label = QLabel(_catalogue_text(entry, memory))
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            get = QPushButton("Download")
            get.setToolTip(f"{entry.url}\nsha256 {entry.sha256}")
            get.clicked.connect(lambda _checked=False, e=entry: self._on_download_entry(e))
            row.addWidget(label, 1)
            row.addWidget(get)
            better_layout.addLayout(row)
            self.catalogue_rows[entry.id] = label
            self.catalogue_buttons[entry.id] = get
        servers_row = QHBoxLayout()
        self.find_servers_button = QPushButton("Find Ollama or LM Studio on this computer")
        self.find_servers_button.clicked.connect(self._on_find_servers)
        self.servers = QComboBox()
        self.servers.setVisible(False)
        self.use_server_button = QPushButton("Use")
        self.use_server_button.setVisible(False)
        self.use_server_button.clicked.connect(self._on_use_server)
        servers_row.addWidget(self.find_servers_button)
        servers_row.addWidget(self.servers, 1)
        servers_row.addWidget(self.use_server_button)
        better_layout.addLayout(servers_row)
        self.servers_note = QLabel()
        # Model names come from whatever answers on those ports: shown as text, never as markup.
        self.servers_note.setTextFormat(Qt.TextFormat.PlainText)
        self.servers_note.setWordWrap(True)
        better_layout.addWidget(self.servers_note)

        # -- remote endpoint
        remote = QGroupBox("Remote endpoint (OpenAI-compatible: Ollama, LM Studio, vLLM, llama.cpp server, OpenAI)")
        form_remote = QFormLayout(remote)
        self.remote_url = QLineEdit(settings.remote_base_url or "")
        self.remote_url.setPlaceholderText("http://127.0.0.1:11434/v1")
        self.remote_model = QLineEdit(settings.remote_model)
        self.remote_context = QSpinBox()
        self.remote_context.setRange(512, 1_000_000)
        self.remote_context.setValue(settings.remote_context_length)
        self.api_key = QLineEdit()
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText(
            "kept in the system keyring only"
            if runtime.keychain.available
            else "no system keyring: keys cannot be stored"
        )
        self.api_key.setEnabled(runtime.keychain.available)
        self.chat_backend = QComboBox()
        self.background_backend = QComboBox()
        for combo, value in (
            (self.chat_backend, settings.chat_backend),
            (self.background_backend, settings.background_backend),
        ):
            combo.addItem("Local model", "local")
            combo.addItem("Remote endpoint", "remote")
            combo.setCurrentIndex(0 if value == "local" else 1)
        form_remote.addRow("Address", self.remote_url)
        form_remote.addRow("Model name", self.remote_model)
        form_remote.addRow("Context (tokens)", self.remote_context)
        form_remote.addRow("API key", self.api_key)
        form_remote.addRow("Chat uses", self.chat_backend)
        form_remote.addRow("Background work uses", self.background_backend)

        # -- generation and memory
        general = QGroupBox("Generation and memory")
        form_general = QFormLayout(general)
        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("automatic")
        self.threads.setValue(settings.threads)
        self.context = QSpinBox()
        self.context.setRange(512, 131072)
        self.context.setSingleStep(512)
        self.context.setValue(settings.context_length)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(settings.temperature)
        self.auto_accept = QCheckBox("Accept proposed memories for this project without review")
        self.auto_accept.setEnabled(project_id is not None)
        self.auto_accept.setChecked(project_id is not None and project_id in settings.auto_accept_project_ids)
        form_general.addRow("Threads", self.threads)
        form_general.addRow("Context length", self.context)
        form_general.addRow("Temperature", self.temperature)
        form_general.addRow("", self.auto_accept)
        self.document_max_mb = QSpinBox()
        self.document_max_mb.setRange(1, 4096)
        self.document_max_mb.setSuffix(" MB")
        self.document_max_mb.setValue(settings.document_max_mb)
        self.document_max_mb.setToolTip("Larger files are refused when added to a project's documents")
        form_general.addRow("Largest document", self.document_max_mb)

        data = QGroupBox("Data")
        data_row = QHBoxLayout(data)
        folder = QLabel(str(runtime.paths.data_dir))
        folder.setTextFormat(Qt.TextFormat.PlainText)
        data_row.addWidget(folder, 1)
        open_folder = QPushButton("Open")
        open_folder.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.runtime.paths.data_dir)))
        )
        data_row.addWidget(open_folder)

        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b3261e")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._on_save)
        buttons.rejected.connect(self.reject)
        # Scrolls on small screens instead of growing past them.
        content = QWidget()
        boxes = QVBoxLayout(content)
        for box in (local, better, remote, general, data):
            boxes.addWidget(box)
        scroll = self.scroll_area = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(760, 720)
        self._load_models()

    def _load_models(self) -> None:
        task = self.tasks.run("list models", self.runtime.store.list_models)
        task.finished.connect(self._show_models)
        task.failed.connect(self.error.setText)

    def _show_models(self, models: list[InstalledModel]) -> None:
        self.model.clear()
        self.model.addItem("Bundled default: Gemma 3 270M (base model, weak answers)", None)
        for m in models:
            if m.is_default:
                continue
            kind = "chat" if m.info.looks_instruction_tuned else "base model"
            self.model.addItem(f"{m.path.name} ({m.size_bytes / 1e9:.1f} GB, {kind})", str(m.path))
        chosen = self.runtime.settings.model_path
        if chosen and self.model.findData(chosen) < 0:
            self.model.addItem(Path(chosen).name, chosen)
        self.model.setCurrentIndex(max(0, self.model.findData(chosen)) if chosen else 0)

    def _on_browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Pick a GGUF model", str(Path.home()), "GGUF models (*.gguf)")
        if path:
            self.model.addItem(Path(path).name, path)
            self.model.setCurrentIndex(self.model.count() - 1)

    def _on_download(self) -> None:
        if self._download_cancel is not None:
            self._download_cancel.cancel()
            return
        url = self.url.text().strip()
        if not url:
            return
        self._download_cancel = CancelToken()
        cancel, sha = self._download_cancel, self.sha.text().strip() or None
        self.progress.setVisible(True)
        self.progress.setValue(0)
        self.download_button.setText("Cancel")
        task = self.tasks.run_with_progress(
            "download model",
            lambda progress: self.runtime.store.download(url, sha256=sha, progress=progress, cancel=cancel),
        )
        task.token.connect(self._on_progress)
        task.finished.connect(self._on_downloaded)
        task.failed.connect(self._on_download_failed)

    def _on_download_entry(self, entry: CatalogueModel) -> None:
        if self._download_cancel is not None:
            self.error.setText("A download is running; cancel it first.")
            return
        self.url.setText(entry.url)
        self.sha.setText(entry.sha256)
        self._on_download()

    def _on_find_servers(self) -> None:
        self.find_servers_button.setEnabled(False)
        self.servers_note.setText("Looking on this computer…")
        task = self.tasks.run("find local servers", find_local_servers, self._local_servers)
        task.finished.connect(self._on_servers_found)
        task.failed.connect(self.servers_note.setText)

    def _on_servers_found(self, servers: list[LocalServer]) -> None:
        self.find_servers_button.setEnabled(True)
        self.servers.clear()
        for server in servers:
            for name in server.models:
                self.servers.addItem(f"{server.name}: {name}", (server.base_url, name))
        found = self.servers.count() > 0
        self.servers.setVisible(found)
        self.use_server_button.setVisible(found)
        if found:
            self.servers_note.setText("Pick a model and press Use: it fills in the remote endpoint below.")
        elif servers:
            self.servers_note.setText(f"{servers[0].name} is running but offers no models yet; add one there first.")
        else:
            ports = ", ".join(f"{name} (port {port})" for name, port in self._local_servers)
            self.servers_note.setText(f"Nothing is running on this computer: looked for {ports}.")

    def _on_use_server(self) -> None:
        chosen = self.servers.currentData()
        if not chosen:
            return
        base_url, name = chosen
        self.remote_url.setText(base_url)
        self.remote_model.setText(name)
        for combo in (self.chat_backend, self.background_backend):
            combo.setCurrentIndex(combo.findData("remote"))
        self.servers_note.setText(f"Chat will use {name} once you save.")

    def _on_progress(self, value: tuple[int, int | None]) -> None:
        done, total = value
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(done * 1000 / total))
        else:
            self.progress.setRange(0, 0)

    def _on_downloaded(self, path: Path) -> None:
        self._download_cancel = None
        self.download_button.setText("Download")
        self.progress.setVisible(False)
        self.model.addItem(path.name, str(path))
        self.model.setCurrentIndex(self.model.count() - 1)

    def _on_download_failed(self, message: str) -> None:
        self._download_cancel = None
        self.download_button.setText("Download")
        self.progress.setVisible(False)
        self.error.setText(message)

    def changes(self) -> dict[str, Any]:
        settings = self.runtime.settings
        accepted = set(settings.auto_accept_project_ids)
        if self.project_id is not None:
            (accepted.add if self.auto_accept.isChecked() else accepted.discard)(self.project_id)
        wanted = {
            "model_path": self.model.currentData(),
            "threads": self.threads.value(),
            "document_max_mb": self.document_max_mb.value(),
            "context_length": self.context.value(),
            "temperature": round(self.temperature.value(), 2),
            "auto_accept_project_ids": tuple(sorted(accepted)),
            "remote_base_url": self.remote_url.text().strip() or None,
            "remote_model": self.remote_model.text().strip(),
            "remote_context_length": self.remote_context.value(),
            "chat_backend": self.chat_backend.currentData(),
            "background_backend": self.background_backend.currentData(),
        }
        return {k: v for k, v in wanted.items() if getattr(settings, k) != v}

    def _on_save(self) -> None:
        changes = self.changes()
        key = self.api_key.text().strip()
        if "remote" in (changes.get("chat_backend"), changes.get("background_backend")) and not (
            changes.get("remote_base_url") or self.runtime.settings.remote_base_url
        ):
            self.error.setText("Give the remote endpoint's address, or keep the local model.")
            return
        if changes.get("remote_base_url"):
            try:
                changes["remote_base_url"] = normalise_base_url(changes["remote_base_url"])
            except RemoteError as refused:
                self.error.setText(str(refused))
                return

        def save() -> None:
            if changes:
                self.runtime.update_settings(**changes)
            if key:
                endpoint = self.runtime.remote_endpoint_id()
                if endpoint is None:
                    raise KeychainError("Set the endpoint's address before its key")
                self.runtime.keychain.set_api_key(endpoint, key)

        task = self.tasks.run("save settings", save)
        task.finished.connect(lambda _r: self._on_saved(changes))
        task.failed.connect(self.error.setText)

    def _on_saved(self, changes: dict[str, Any]) -> None:
        if Runtime.changes_chat_model(changes):
            self.model_changed.emit()
        self.accept()
