"""The memory panel: facts, the review inbox, the client's voice and past sessions.

Every read and write goes through the task runner; the panel only shows
results. ``memory_changed`` reloads the tabs that show what changed. The
Documents tab is :mod:`ui.documents`, on the same base class (:class:`MemoryTab`);
the window adds it with :meth:`MemoryPanel.add_tab`.

Over 600 lines: five small tabs on one base class and their two dialogs; each
tab is under 150 lines, and they are read together.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.assistant.extraction import InboxEntry, inbox_entries
from app.assistant.voice import learn_voice
from app.runtime import Runtime
from memory import (
    ChatSession,
    ConflictError,
    Fact,
    FactKind,
    FactVersion,
    HitKind,
    ItemKey,
    ItemKind,
    Proposal,
    ProposalAction,
    SearchHit,
    VoiceProfile,
    local_time,
)
from ui.tasks import R, Task, TaskRunner
from ui.widgets import HintedList, button_row

KEY_ROLE = Qt.ItemDataRole.UserRole


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def memory_list() -> HintedList:
    """A tab's list: wrapped rows, and a hint while it is empty."""
    widget = HintedList()
    widget.set_hint(NO_PROJECT_HINT)  # until a project is shown
    widget.setWordWrap(True)
    widget.setSpacing(3)
    widget.setAlternatingRowColors(True)
    return widget


NO_PROJECT_HINT = "Pick a client project on the left, or create one (File › New project…)."
NO_FACTS_HINT = (
    "Nothing known about this client yet.\n\nPress Add below, type /remember … in the chat, "
    "or accept what Dossier proposes in the Inbox."
)
NO_PROPOSALS_HINT = (
    "No proposals waiting.\n\nWhen you mention a date, an amount, a contact, a decision or a "
    "preference in the chat, Dossier proposes it here."
)
NO_SESSIONS_HINT = "No conversations with this client yet. Each one appears here, with its summary."


class Kind(enum.StrEnum):
    """What part of a project's memory changed (Anki's OpChanges, in small)."""

    FACTS = "facts"
    PROPOSALS = "proposals"
    SESSIONS = "sessions"
    VOICE = "voice"
    DOCUMENTS = "documents"


class MemoryTab(QWidget):
    """A tab that runs its work through the shared task runner and reports errors.

    It reloads when ``memory_changed`` says that what it shows (``shows``) changed
    for its project, and says what it changed itself on ``changed``.
    """

    error = Signal(str)
    #: (project id, frozenset of Kind) this tab changed.
    changed = Signal(object, object)
    shows: frozenset[Kind] = frozenset()

    def __init__(self, runtime: Runtime, tasks: TaskRunner) -> None:
        super().__init__()
        self.runtime = runtime
        self.tasks = tasks
        self.project_id: int | None = None

    def call(self, name: str, fn: Callable[..., R], *args: Any, then: Callable[[R], None] | None = None) -> Task:
        return self.tasks.call(name, fn, *args, then=then, on_error=self.error.emit)

    def load(self, name: str, fn: Callable[..., R], *args: Any, then: Callable[[R], None]) -> Task:
        """Like :meth:`call`, for what this tab shows: only the newest load of ``name`` is shown,
        and only while the tab still shows the project it was loaded for."""
        project_id = self.project_id

        def show(result: R) -> None:
            if self.project_id == project_id:
                then(result)

        return self.tasks.call(name, fn, *args, then=show, on_error=self.error.emit, latest=(self, name))

    def set_project(self, project_id: int | None) -> None:
        self.project_id = project_id
        self.reload()

    def reload(self) -> None:
        raise NotImplementedError

    def on_memory_changed(self, project_id: int | None, kinds: frozenset[Kind]) -> None:
        # A global fact shows in every project: a change with no project reaches all.
        if kinds & self.shows and (project_id is None or project_id == self.project_id):
            self.reload()

    def _changed(self, *kinds: Kind) -> None:
        self.changed.emit(self.project_id, frozenset(kinds))


@dataclass(frozen=True)
class FactValues:
    text: str
    kind: FactKind
    pinned: bool


class FactDialog(QDialog):
    """A fact's text, kind and pin: the brief's "Decisions and deadlines" comes from the kind."""

    def __init__(self, title: str, prompt: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText(prompt)
        self.kind = QComboBox()
        for kind in FactKind:
            self.kind.addItem(kind.value.capitalize(), kind.value)
        self.pinned = QCheckBox("Pinned: always in the assistant's memory")
        form = QFormLayout()
        form.addRow("Kind", self.kind)
        form.addRow("", self.pinned)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(prompt))
        layout.addWidget(self.text, 1)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def set_values(self, values: FactValues) -> None:
        self.text.setPlainText(values.text)
        self.kind.setCurrentIndex(max(self.kind.findData(values.kind.value), 0))
        self.pinned.setChecked(values.pinned)

    def values(self) -> FactValues:
        return FactValues(self.text.toPlainText(), FactKind(self.kind.currentData()), self.pinned.isChecked())


class FactsTab(MemoryTab):
    shows = frozenset({Kind.FACTS})

    def __init__(self, runtime: Runtime, tasks: TaskRunner) -> None:
        super().__init__(runtime, tasks)
        self.kind = QComboBox()
        self.kind.addItem("All kinds", None)
        for kind in FactKind:
            self.kind.addItem(kind.value.capitalize(), kind.value)
        self.kind.currentIndexChanged.connect(self.reload)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search facts")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.reload)
        self.show_archived = QPushButton("Archived")
        self.show_archived.setCheckable(True)
        self.show_archived.toggled.connect(self.reload)
        self.list = memory_list()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.itemDoubleClicked.connect(self._on_edit)
        buttons, self.buttons = button_row(
            ("Add", self._on_add),
            ("Edit", self._on_edit),
            ("Pin", self._on_pin),
            ("Archive", self._on_archive),
            ("History", self._on_history),
        )
        top = QHBoxLayout()
        top.addWidget(self.kind)
        top.addWidget(self.search, 1)
        top.addWidget(self.show_archived)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.facts: dict[int, Fact] = {}
        self._pending_key: str | None = None

    def reload(self) -> None:
        if self.project_id is None:
            self.list.clear()
            self.list.set_hint(NO_PROJECT_HINT)
            return
        filtered = bool(self.search.text().strip() or self.kind.currentData())
        self.list.set_hint("No fact matches; clear the search or pick all kinds." if filtered else NO_FACTS_HINT)
        self.load(
            "load facts",
            lambda pid, kind, text, archived: self.runtime.service.list_facts(
                pid, kind=kind, contains=text or None, include_archived=archived
            ),
            self.project_id,
            self.kind.currentData(),
            self.search.text().strip(),
            self.show_archived.isChecked(),
            then=self._show,
        )

    def _show(self, facts: list[Fact]) -> None:
        self.list.blockSignals(True)
        selected = self.selected_key()
        self.list.clear()
        self.facts = {f.id: f for f in facts}
        for fact in facts:
            marks = ("★ " if fact.pinned else "") + ("global · " if fact.is_global else "")
            status = " (archived)" if fact.status.value == "archived" else ""
            item = QListWidgetItem(f"{marks}[F{fact.id}] {fact.kind.value}: {fact.text}{status}")
            item.setData(KEY_ROLE, str(ItemKey.fact(fact.id)))
            if fact.is_global:
                item.setToolTip("A global fact: yours, shown in every project")
            if fact.status.value == "archived":
                item.setForeground(QColor("gray"))
            self.list.addItem(item)
        self.list.blockSignals(False)
        pending, self._pending_key = self._pending_key, None
        if pending and self.select_key(pending):
            return
        if selected:
            self.select_key(selected)

    def select_when_shown(self, key: str) -> None:
        """Selects the item now if it is listed, else clears the filters and selects it after reloading."""
        if self.select_key(key):
            return
        self._pending_key = key
        self.kind.setCurrentIndex(0)
        self.search.clear()
        self.show_archived.setChecked(True)
        self.reload()

    def selected_key(self) -> str | None:
        item = self.list.currentItem()
        return item.data(KEY_ROLE) if item else None

    def select_key(self, key: str) -> bool:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(KEY_ROLE) == key:
                self.list.setCurrentItem(item)
                self.list.scrollToItem(item)
                return True
        return False

    def _selected_fact(self) -> Fact | None:
        key = self.selected_key()
        parsed = ItemKey.parse(key) if key else None
        return self.facts.get(parsed.id) if parsed is not None and parsed.kind is ItemKind.FACT else None

    def _after_change(self, _result: object = None) -> None:
        self._changed(Kind.FACTS)

    def _on_add(self) -> None:
        if self.project_id is None:
            self.error.emit("Create or pick a client project first: facts belong to a project.")
            return
        dialog = FactDialog("Add a fact", "What should Dossier know about this client?", self)
        dialog.set_values(FactValues("", FactKind(self.kind.currentData() or "fact"), False))
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.add(dialog.values())

    def add(self, values: FactValues) -> None:
        """Adds a fact with its kind and pin (what the Add dialog does)."""
        if self.project_id is None or not values.text.strip():
            return
        self.call("add fact", self._add_unless_known, self.project_id, values, then=self._after_change)

    def _add_unless_known(self, project_id: int, values: FactValues) -> Fact:
        """Adds the fact, unless one already says it (named in the banner; nothing is stored twice)."""
        known = self.runtime.service.fact_saying(project_id, values.text)
        if known is not None:
            raise ConflictError(f"F{known.id} already says this; nothing was added.")
        return self.runtime.service.add_fact(project_id, values.text, values.kind, pinned=values.pinned)

    def _on_edit(self, *_args: object) -> None:
        fact = self._selected_fact()
        if fact is None:
            return
        dialog = FactDialog(f"Edit F{fact.id}", "The fact (its old text stays in the history):", self)
        dialog.set_values(FactValues(fact.text, fact.kind, fact.pinned))
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.save_edit(fact, dialog.values())

    def save_edit(self, fact: Fact, values: FactValues | str) -> None:
        """Saves what changed of a fact's text, kind and pin (what the Edit dialog does)."""
        if isinstance(values, str):
            values = FactValues(values, fact.kind, fact.pinned)
        text = values.text.strip()
        new_text = text if text and text != fact.text else None
        new_kind = values.kind if values.kind is not fact.kind else None
        if new_text is None and new_kind is None and values.pinned == fact.pinned:
            return
        service = self.runtime.service

        def save() -> Fact:
            # What the dialog showed is what is edited: a change made meanwhile elsewhere is not overwritten.
            changed = (
                service.edit_fact(fact.id, new_text, new_kind, unless_changed_since=fact.updated_at)
                if new_text or new_kind
                else fact
            )
            return service.pin_fact(fact.id, values.pinned) if values.pinned != changed.pinned else changed

        self.call("edit fact", save, then=self._after_change)

    def _on_pin(self) -> None:
        fact = self._selected_fact()
        if fact is not None:
            self.call("pin fact", self.runtime.service.pin_fact, fact.id, not fact.pinned, then=self._after_change)

    def _on_archive(self) -> None:
        fact = self._selected_fact()
        if fact is None:
            return
        if fact.status.value == "archived":
            self.call("restore fact", self.runtime.service.restore_fact, fact.id, then=self._after_change)
        else:
            self.call("archive fact", self.runtime.service.archive_fact, fact.id, then=self._after_change)

    def _on_history(self) -> None:
        fact = self._selected_fact()
        if fact is not None:
            self.call("fact history", self.runtime.service.fact_history, fact.id, then=self._show_history)

    def _show_history(self, versions: list[FactVersion]) -> None:
        if not versions:
            return
        dialog = HistoryDialog(versions, self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.chosen is not None:
            self.call(
                "restore version",
                self.runtime.service.restore_fact_version,
                versions[0].fact_id,
                dialog.chosen,
                then=self._after_change,
            )


def version_line(version: FactVersion, before: FactVersion | None) -> str:
    """ "v2 · 2026-11-29 10:02 · user edited · decision (was deadline), pinned", then the text."""
    kind = version.kind.value + (f" (was {before.kind.value})" if before and before.kind is not version.kind else "")
    pin = "pinned" if version.pinned else ""
    head = f"v{version.version} · {local_time(version.created_at):%Y-%m-%d %H:%M} · {version.actor.value} "
    return head + f"{version.action.value} · {', '.join(p for p in (kind, pin) if p)}\n{version.text}"


class HistoryDialog(QDialog):
    """A fact's versions, newest first; "Restore" brings the selected one back."""

    def __init__(self, versions: list[FactVersion], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"History of F{versions[0].fact_id}")
        self.chosen: int | None = None
        self.list = QListWidget()
        self.list.setWordWrap(True)
        for n in range(len(versions) - 1, -1, -1):
            item = QListWidgetItem(version_line(versions[n], versions[n - 1] if n else None))
            item.setData(KEY_ROLE, versions[n].version)
            self.list.addItem(item)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        restore = buttons.addButton("Restore this version", QDialogButtonBox.ButtonRole.AcceptRole)
        restore.clicked.connect(self._on_restore)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(buttons)
        self.resize(520, 360)

    def _on_restore(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.chosen = int(item.data(KEY_ROLE))
            self.accept()


class InboxTab(MemoryTab):
    count_changed = Signal(int)
    # A proposal read from a document names it (title and key), and a re-read can retitle it.
    shows = frozenset({Kind.PROPOSALS, Kind.DOCUMENTS})

    def __init__(self, runtime: Runtime, tasks: TaskRunner) -> None:
        super().__init__(runtime, tasks)
        self.list = memory_list()
        self.proposals: dict[int, Proposal] = {}
        self.targets: dict[int, Fact | None] = {}
        buttons, _ = button_row(
            ("Accept", self._on_accept), ("Edit, then accept", self._on_edit_accept), ("Reject", self._on_reject)
        )
        # On a row of their own: the panel keeps a third of the window, and five buttons would widen it.
        bulk, _ = button_row(("Accept all", self._on_accept_all), ("Reject all", self._on_reject_all))
        layout = QVBoxLayout(self)
        hint = QLabel("Memories the assistant proposed. Nothing here is known until you accept it.")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addLayout(bulk)

    def reload(self) -> None:
        if self.project_id is None:
            self.list.clear()
            self.list.set_hint(NO_PROJECT_HINT)
            self.count_changed.emit(0)
            return
        self.list.set_hint(NO_PROPOSALS_HINT)
        self.load("load inbox", self._load, self.project_id, then=self._show)

    def _load(self, project_id: int) -> list[InboxEntry]:
        return inbox_entries(self.runtime.service, project_id)

    def _show(self, entries: list[InboxEntry]) -> None:
        # A reload (a proposal filed over MCP meanwhile) keeps the one the user had picked.
        picked = self._selected()
        self.list.clear()
        self.proposals = {}
        self.targets = {}
        for entry in entries:
            proposal = entry.proposal
            self.proposals[proposal.id] = proposal
            self.targets[proposal.id] = entry.target
            if proposal.action is ProposalAction.ADD:
                body = f"New {proposal.kind.value}: {entry.change}"
            elif proposal.action is ProposalAction.UPDATE:
                body = f"Update {entry.change}"
            else:
                body = entry.change[:1].upper() + entry.change[1:]
            lines = [f"#{proposal.id} {body}", entry.headline, f"From: “{entry.source}”" if entry.source else ""]
            item = QListWidgetItem("\n".join(line for line in lines if line))
            item.setData(KEY_ROLE, proposal.id)
            self.list.addItem(item)
            if picked is not None and proposal.id == picked.id:
                self.list.setCurrentItem(item)
        self.count_changed.emit(len(entries))

    def _selected(self) -> Proposal | None:
        item = self.list.currentItem()
        return self.proposals.get(item.data(KEY_ROLE)) if item else None

    def _after(self, _result: object = None) -> None:
        self._changed(Kind.PROPOSALS, Kind.FACTS)

    def _on_accept(self) -> None:
        proposal = self._selected()
        if proposal is not None:
            self.call("accept", self.runtime.service.accept_proposal, proposal.id, then=self._after)

    def _on_edit_accept(self) -> None:
        proposal = self._selected()
        if proposal is None or proposal.action is ProposalAction.ARCHIVE:
            return
        dialog = self.edit_dialog(proposal)
        if dialog.exec():
            self.accept_edited(proposal, dialog.values())

    def edit_dialog(self, proposal: Proposal) -> FactDialog:
        """The fact dialog filled with the proposal: its words, its kind, and for an update the fact's pin."""
        dialog = FactDialog("Edit, then accept", "The fact as it should be kept:", self)
        target = self.targets.get(proposal.id)
        dialog.set_values(FactValues(proposal.text, proposal.kind, target.pinned if target is not None else False))
        return dialog

    def accept_edited(self, proposal: Proposal, chosen: FactValues) -> None:
        """What OK in the "Edit, then accept" dialog does."""
        if not chosen.text.strip():
            return
        self.call(
            "accept edited",
            lambda: self.runtime.service.accept_proposal(
                proposal.id, text=chosen.text, kind=chosen.kind, pinned=chosen.pinned
            ),
            then=self._after,
        )

    def _on_reject(self) -> None:
        proposal = self._selected()
        if proposal is not None:
            self.call("reject", self.runtime.service.reject_proposal, proposal.id, then=self._after)

    def _on_accept_all(self) -> None:
        self._decide_all("accept all", self.runtime.service.accept_proposal)

    def _on_reject_all(self) -> None:
        count = len(self.proposals)
        if count and confirm(self, "Reject all", f"Reject all {count} proposals in the inbox? None becomes memory."):
            self.reject_all()

    def reject_all(self) -> None:
        """Rejects every proposal shown (a document read into the inbox can file dozens)."""
        self._decide_all("reject all", self.runtime.service.reject_proposal)

    def _decide_all(self, what: str, decide: Callable[[int], object]) -> None:
        """Accepts or rejects every proposal shown, in one background task."""
        ids = list(self.proposals)
        if ids:
            self.call(what, lambda: [decide(i) for i in ids], then=self._after)


class VoiceTab(MemoryTab):
    shows = frozenset({Kind.VOICE})

    def __init__(self, runtime: Runtime, tasks: TaskRunner) -> None:
        super().__init__(runtime, tasks)
        self.tone = QLineEdit()
        self.do = QPlainTextEdit()
        self.dont = QPlainTextEdit()
        self.vocabulary = QLineEdit()
        for box in (self.do, self.dont):
            box.setPlaceholderText("One rule per line")
            box.setMaximumHeight(90)
        form = QFormLayout()
        form.addRow("Tone", self.tone)
        form.addRow("Do", self.do)
        form.addRow("Don't", self.dont)
        form.addRow("Vocabulary", self.vocabulary)
        self.samples = QPlainTextEdit()
        self.samples.setPlaceholderText(
            "Paste sample texts by the client (emails, posts), separated by a line with ---"
        )
        learn = QPushButton("Learn from samples (preview)")
        learn.clicked.connect(self._on_learn)
        save = QPushButton("Save voice")
        save.clicked.connect(self._on_save)
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Samples"))
        layout.addWidget(self.samples, 1)
        row = QHBoxLayout()
        row.addWidget(learn)
        row.addStretch(1)
        row.addWidget(save)
        layout.addLayout(row)
        layout.addWidget(self.status)

    def reload(self) -> None:
        if self.project_id is not None:
            self.load("load voice", self.runtime.service.get_voice, self.project_id, then=self.show_profile)

    def show_profile(self, voice: VoiceProfile) -> None:
        self.tone.setText(voice.tone)
        self.do.setPlainText("\n".join(voice.style_do))
        self.dont.setPlainText("\n".join(voice.style_dont))
        self.vocabulary.setText(", ".join(voice.vocabulary))
        if voice.samples:
            self.samples.setPlainText("\n---\n".join(voice.samples))

    def _sample_list(self) -> list[str]:
        return [s.strip() for s in self.samples.toPlainText().split("\n---\n") if s.strip()]

    def _on_learn(self) -> None:
        if self.project_id is None:
            return
        self.status.setText("Reading the samples…")
        project_id, samples = self.project_id, self._sample_list()
        task = self.call(
            "learn voice",
            lambda: learn_voice(project_id, samples, self.runtime.background_model()),
            then=self._on_learned,
        )
        task.failed.connect(lambda _m: self.status.setText(""))

    def _on_learned(self, voice: VoiceProfile) -> None:
        self.show_profile(voice)
        self.status.setText("Preview: edit it, then press Save voice.")

    def _on_save(self) -> None:
        project_id = self.project_id
        if project_id is None:
            return

        def saved(voice: VoiceProfile) -> None:
            self.show_profile(voice)
            self.status.setText("Saved.")

        self.call(
            "save voice",
            lambda: self.runtime.service.set_voice(
                project_id,
                tone=self.tone.text(),
                style_do=_lines(self.do.toPlainText()),
                style_dont=_lines(self.dont.toPlainText()),
                vocabulary=[v.strip() for v in self.vocabulary.text().split(",") if v.strip()],
                samples=self._sample_list(),
            ),
            then=saved,
        )


class SessionsTab(MemoryTab):
    shows = frozenset({Kind.SESSIONS})
    open_requested = Signal(int)

    def __init__(self, runtime: Runtime, tasks: TaskRunner) -> None:
        super().__init__(runtime, tasks)
        self.list = memory_list()
        self.list.itemDoubleClicked.connect(lambda item: self.open_requested.emit(item.data(KEY_ROLE)))
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)

    def reload(self) -> None:
        if self.project_id is None:
            self.list.clear()
            self.list.set_hint(NO_PROJECT_HINT)
            return
        self.list.set_hint(NO_SESSIONS_HINT)
        self.load("load sessions", self.runtime.service.list_sessions, self.project_id, then=self._show)

    def _show(self, sessions: list[ChatSession]) -> None:
        self.list.clear()
        for s in sessions:
            summary = s.summary or "(no summary yet)"
            item = QListWidgetItem(
                f"{local_time(s.started_at):%Y-%m-%d} · {s.title or 'Untitled'} · {s.message_count} messages\n{summary}"
            )
            item.setData(KEY_ROLE, s.id)
            self.list.addItem(item)


#: Where a search hit's session is kept on its list item (its key is under KEY_ROLE).
SESSION_ROLE = Qt.ItemDataRole.UserRole + 1
SNIPPET_CHARS = 220


def _hit_heading(hit: SearchHit) -> str:
    when = f" · {local_time(hit.timestamp):%Y-%m-%d}" if hit.timestamp else ""
    if hit.kind is HitKind.FACT:
        kind = hit.fact_kind.value if hit.fact_kind else "fact"
        return f"Fact F{hit.fact_ids[0]} ({kind}{', global' if hit.is_global else ''}){when}"
    if hit.kind is HitKind.SUMMARY:
        return f"Summary of session {hit.session_id}{when}"
    if hit.kind is HitKind.CHUNK:
        return f"Passage [{hit.citation}] of {hit.source_title}"
    return f"Conversation, session {hit.session_id}{when}"


class SearchTab(MemoryTab):
    """The same hybrid search as ``dossier search``: facts, session summaries, conversations and documents."""

    #: (memory key, its session or None) for a hit the user opened.
    open_requested = Signal(str, object)

    def __init__(self, runtime: Runtime, tasks: TaskRunner) -> None:
        super().__init__(runtime, tasks)
        self.query = QLineEdit()
        self.query.setPlaceholderText("Search this client's memory (facts, summaries, conversations, documents)")
        self.query.setClearButtonEnabled(True)
        self.query.returnPressed.connect(self.reload)
        self.results = memory_list()
        self.results.itemActivated.connect(self._on_open)
        self.results.itemDoubleClicked.connect(self._on_open)
        self.note = QLabel("Type what you want to find and press Enter. Open a result to see it in place.")
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.query)
        layout.addWidget(self.note)
        layout.addWidget(self.results, 1)

    def reload(self) -> None:
        text = self.query.text().strip()
        self.results.set_hint(
            NO_PROJECT_HINT if self.project_id is None else (f"Nothing found for “{text}”." if text else "")
        )
        if self.project_id is None or not text:
            self.results.clear()
            return
        self.load("search memory", self.runtime.service.search, self.project_id, text, 20, then=self._show)

    def _show(self, hits: list[SearchHit]) -> None:
        self.results.clear()
        for hit in hits:
            body = " ".join(hit.text.split())
            snippet = body if len(body) <= SNIPPET_CHARS else body[:SNIPPET_CHARS] + " …"
            item = QListWidgetItem(f"{_hit_heading(hit)}\n{snippet}")
            item.setData(KEY_ROLE, hit.key)
            item.setData(SESSION_ROLE, hit.session_id)
            self.results.addItem(item)
        self.note.setText(f"{len(hits)} found." if hits else "Nothing found in this project's memory.")

    def _on_open(self, item: QListWidgetItem) -> None:
        self.open_requested.emit(item.data(KEY_ROLE), item.data(SESSION_ROLE))


class MemoryPanel(QTabWidget):
    """The dock's tabs; errors from any tab arrive on ``error``.

    ``memory_changed(project_id, kinds)`` is the one way to say memory changed,
    whoever changed it (a tab, a turn, the background): each tab reloads if it
    shows one of ``kinds`` for that project.
    """

    error = Signal(str)
    memory_changed = Signal(object, object)

    def __init__(self, runtime: Runtime, tasks: TaskRunner) -> None:
        super().__init__()
        # Every tab stays in sight ("Inbox (3)" included): on a narrow panel the titles
        # are shortened ("Sess…", full name in the tooltip) rather than tabs hidden
        # behind scroll arrows.
        self.setUsesScrollButtons(False)
        self.tabBar().setElideMode(Qt.TextElideMode.ElideRight)
        self.facts = FactsTab(runtime, tasks)
        self.inbox = InboxTab(runtime, tasks)
        self.voice = VoiceTab(runtime, tasks)
        self.sessions = SessionsTab(runtime, tasks)
        self.search = SearchTab(runtime, tasks)
        self.addTab(self.facts, "Facts")
        self.addTab(self.inbox, "Inbox")
        self.addTab(self.voice, "Voice")
        self.addTab(self.sessions, "Sessions")
        self.addTab(self.search, "Search")
        self.tabs: list[MemoryTab] = []
        for tab in (self.facts, self.inbox, self.voice, self.sessions, self.search):
            self._join(tab)
        for index, name in enumerate(("Facts", "Inbox", "Voice", "Sessions", "Search")):
            self.setTabToolTip(index, name)
        self.inbox.count_changed.connect(self._on_inbox_count)

    def _join(self, tab: MemoryTab) -> None:
        self.tabs.append(tab)
        tab.error.connect(self.error)
        tab.changed.connect(self.memory_changed)
        self.memory_changed.connect(tab.on_memory_changed)

    def add_tab(self, tab: MemoryTab, title: str, tooltip: str = "") -> None:
        """Adds a tab that lives in its own module (Documents), wired like the built-in ones."""
        index = self.addTab(tab, title)
        self.setTabToolTip(index, tooltip or title)
        self._join(tab)
        tab.set_project(self.facts.project_id)

    def set_project(self, project_id: int | None) -> None:
        for tab in self.tabs:
            tab.set_project(project_id)

    def _on_inbox_count(self, count: int) -> None:
        self.setTabText(1, f"Inbox ({count})" if count else "Inbox")

    def show_item(self, key: str) -> None:
        """Selects a memory item (``fact:12``) in the Facts tab."""
        parsed = ItemKey.parse(key)
        if parsed is None:
            return
        if parsed.kind is ItemKind.FACT:
            self.setCurrentWidget(self.facts)
            self.facts.select_when_shown(key)
        elif parsed.kind in (ItemKind.MESSAGES, ItemKind.SUMMARY):
            self.setCurrentWidget(self.sessions)
        elif parsed.kind is ItemKind.VOICE:
            self.setCurrentWidget(self.voice)


def confirm(parent: QWidget, title: str, text: str) -> bool:
    """Asks Yes or No. The question names projects and files: shown as text, never as markup."""
    box = QMessageBox(
        QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent
    )
    box.setTextFormat(Qt.TextFormat.PlainText)
    return box.exec() == QMessageBox.StandardButton.Yes
