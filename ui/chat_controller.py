"""One chat turn in the window: sending, streaming in, stopping, asking again, and what the turn taught.

The window owns the widgets and the project; this controller owns the turn:
the running task, its cancel token, the text sent (given back if the turn
fails) and the answer "Ask again" is replacing. It reports on signals, so the
window decides what a new session, an error or changed memory means for the
rest of the screen.

An answer's citations are checked against the passages it was given: they are
loaded on the worker, right after the turn's context for an answer streaming in
and from the stored context keys for a session shown from history.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.assistant.citations import context_chunks, given_labels
from app.assistant.conversation import ContextReady, SessionStarted, Token, TurnResult
from app.llm.engine import CancelToken
from app.runtime import Runtime
from memory import ItemKey, ItemKind, MemoryService, Message, NotFoundError, Role
from ui.chat import ChatEntry, ChatView, Passage, memory_label
from ui.tasks import Task, TaskRunner


@dataclass(frozen=True)
class GivenPassages:
    """The document passages among an answer's context keys, as they are kept now."""

    passages: tuple[Passage, ...]
    #: Some were given but are gone since (their document was removed or re-read).
    lost: bool


def chunk_keys(item_keys: Iterable[str]) -> list[str]:
    return [key for key in item_keys if (parsed := ItemKey.parse(key)) is not None and parsed.kind is ItemKind.CHUNK]


def load_passages(service: MemoryService, item_keys: Iterable[str]) -> GivenPassages:
    """The passages (with their documents' titles) among ``item_keys``; reads memory, so call it on a worker."""
    keys = chunk_keys(item_keys)
    documents: dict[int, tuple[str, str] | None] = {}
    passages = []
    for chunk in context_chunks(service, keys):
        if chunk.document_id not in documents:
            try:
                document = service.get_document(chunk.document_id)
                documents[chunk.document_id] = (document.title, document.filename)
            except NotFoundError:
                documents[chunk.document_id] = None
        named = documents[chunk.document_id]
        if named is not None:
            passages.append(Passage(chunk, *named))
    return GivenPassages(tuple(passages), lost=len(passages) < len(keys))


def _with_passages(service: MemoryService, events: Iterable[object]) -> Iterator[object]:
    """A turn's events, with the passages of its context right after the context (on the worker)."""
    for event in events:
        yield event
        if isinstance(event, ContextReady):
            yield load_passages(service, (item.key for item in event.context.items))


class ChatController(QObject):
    """Runs the turns of the chat shown in ``chat``.

    Signals:
        session_started(int): the first turn started a session.
        turn_finished(TurnResult): an answer is stored (or stopped) and shown.
        learned(): the background step after a turn is done (memory may have changed).
        ended(): the turn is over, whatever happened.
        failed(str): the turn failed; nothing was stored and the text is back in the box.
        context_changed(str), speed_changed(str): the status bar's figures for this turn.
        noted(str): a note for the status bar (a turn stopped before its first word).
    """

    session_started = Signal(int)
    turn_finished = Signal(object)
    learned = Signal()
    ended = Signal()
    failed = Signal(str)
    context_changed = Signal(str)
    speed_changed = Signal(str)
    #: A word for the status bar, not an error.
    noted = Signal(str)

    def __init__(self, runtime: Runtime, tasks: TaskRunner, chat: ChatView) -> None:
        super().__init__(chat)
        self.runtime = runtime
        self.tasks = tasks
        self.chat = chat
        self.project_id: int | None = None
        self.session_id: int | None = None
        #: The running turn, if any.
        self.task: Task | None = None
        self._cancel: CancelToken | None = None
        self._sent_text = ""
        #: The answer on screen that "Ask again" is replacing, until the new one is stored.
        self._answer_replaced: ChatEntry | None = None
        self._labels: dict[str, str] = {}

    @property
    def busy(self) -> bool:
        return self.task is not None

    def send(self, text: str) -> None:
        """Sends a message in the current project (starting a session if needed) and streams the answer in."""
        project_id, session_id = self.project_id, self.session_id
        if self.task is not None or project_id is None:
            return
        self._sent_text = text
        self.chat.input.clear()
        self.chat.add_entry(ChatEntry("user", text))
        self.chat.add_entry(ChatEntry("assistant", "", streaming=True))
        cancel = self._begin()

        def run_turn(task: Task) -> Any:
            flow = self.runtime.conversation()
            if session_id is None:
                yield from _with_passages(self.runtime.service, flow.run_first_turn(project_id, text, cancel))
            else:
                yield from _with_passages(self.runtime.service, flow.run_turn(session_id, text, cancel))

        self._start("answer", run_turn)

    def ask_again(self) -> None:
        """Answers the last question anew, in place: the question is not posted a second time."""
        entries = self.chat.entries
        session_id = self.session_id
        if self.task is not None or session_id is None or len(entries) < 2:
            return
        if entries[-1].role != "assistant" or entries[-2].role != "user":
            return
        text, self._answer_replaced = entries[-2].text, entries[-1]
        entries[-1] = ChatEntry("assistant", "", streaming=True)
        self.chat.refresh()
        cancel = self._begin()

        def run_turn(task: Task) -> Any:
            flow = self.runtime.conversation()
            yield from _with_passages(self.runtime.service, flow.run_turn(session_id, text, cancel, again=True))

        self._start("answer again", run_turn)

    def stop(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    def show_messages(self, messages: list[Message]) -> None:
        """Shows a stored session; of answers given again, the later one (as the model's prompt has it)."""
        entries: list[ChatEntry] = []
        for m in messages:
            role = {Role.USER: "user", Role.ASSISTANT: "assistant"}.get(m.role, "other")
            entry = ChatEntry(role, m.content, speaker=m.speaker, memory_keys=m.context_item_keys, message_ids=(m.id,))
            if role == "assistant" and entries and entries[-1].role == "assistant":
                entry.note = "Answered again."
                entry.message_ids = (*entries[-1].message_ids, m.id)
                entries[-1] = entry
            else:
                entries.append(entry)
        # Citations wait for their passages (read on a worker), then link or are flagged;
        # "memory used" waits for what its items say now.
        answered = [entry for entry in entries if entry.role == "assistant" and entry.memory_keys]
        cited = [entry for entry in answered if chunk_keys(entry.memory_keys)]
        for entry in cited:
            entry.passages_known = False
        self.chat.set_entries(entries)
        if answered and self.project_id is not None:
            service, project_id = self.runtime.service, self.project_id
            self.tasks.call(
                "load what the answers were given",
                lambda: [
                    (load_passages(service, entry.memory_keys), given_labels(service, project_id, entry.memory_keys))
                    for entry in answered
                ],
                then=functools.partial(self._on_given_loaded, answered),
                on_error=self.failed.emit,
                latest=(self, "passages"),
            )

    def _on_given_loaded(
        self, entries: Sequence[ChatEntry], loaded: Sequence[tuple[GivenPassages, dict[str, str]]]
    ) -> None:
        for entry, (given, labels) in zip(entries, loaded, strict=True):
            entry.passages, entry.passages_lost, entry.passages_known = given.passages, given.lost, True
            entry.memory_labels = {key: memory_label(text) for key, text in labels.items()}
        if any(shown is entry for shown in self.chat.entries for entry in entries):
            self.chat.refresh()

    # ---------------------------------------------------------------- the task

    def _begin(self) -> CancelToken:
        self.chat.set_busy(True)
        self._cancel = CancelToken()
        return self._cancel

    def _start(self, name: str, run_turn: Any) -> None:
        self.task = self.tasks.stream(name, run_turn)
        self.task.token.connect(self._on_event)
        self.task.failed.connect(self._on_failed)
        self.task.finished.connect(self._on_ended)

    def _on_event(self, event: object) -> None:
        if isinstance(event, SessionStarted):
            if self.session_id != event.session.id:
                self.session_id = event.session.id
                self.session_started.emit(event.session.id)
        elif isinstance(event, ContextReady):
            report = event.report
            self.context_changed.emit(
                f"Context: {report.prompt_tokens:,} of {report.window_tokens:,} tokens "
                f"(memory {memory_share(report.memory_tokens, report.prompt_tokens)})"
            )
            self._labels = {item.key: memory_label(item.text) for item in event.context.items}
        elif isinstance(event, GivenPassages):
            entry = self.chat.entries[-1]
            entry.passages, entry.passages_lost = event.passages, event.lost
        elif isinstance(event, Token):
            self.chat.append_to_last(event.text)
        elif isinstance(event, TurnResult):
            self._on_result(event)

    def _on_result(self, result: TurnResult) -> None:
        if result.cancelled and result.assistant_message is None:
            # Stopped before a word came: nothing was stored, so nothing stays on screen.
            self._take_back()
            self.noted.emit("Stopped before the answer began; nothing was stored.")
            return
        entry = self.chat.entries[-1]
        entry.streaming = False
        entry.text = result.text
        if result.assistant_message is not None:
            earlier = self._answer_replaced.message_ids if self._answer_replaced is not None else ()
            entry.message_ids = (*earlier, result.assistant_message.id)
        if result.user_message is not None and len(self.chat.entries) >= 2 and not self.chat.entries[-2].message_ids:
            self.chat.entries[-2].message_ids = (result.user_message.id,)
        entry.memory_keys = result.report.memory_keys
        entry.memory_labels = dict(self._labels)
        if result.cancelled:
            entry.note = "Stopped."
        self.chat.refresh()
        rate = result.stats.tokens_per_second
        self.speed_changed.emit(f"{rate:.1f} tokens/s" if rate else "")
        if result.background is not None:
            entry.learning = "Learning from this turn…"
            self.chat.refresh()
            self.tasks.call(
                "learn from the turn",
                result.background.result,
                then=functools.partial(self._on_learned, entry),
                on_error=functools.partial(self._on_learning_failed, entry),
            )
        self.turn_finished.emit(result)

    def _on_learning_failed(self, entry: ChatEntry, message: str) -> None:
        entry.learning = "Learning from this turn failed; see the banner."
        if any(shown is entry for shown in self.chat.entries):
            self.chat.refresh()
        self.failed.emit(message)

    def _on_learned(self, entry: ChatEntry, notes: tuple[str, ...]) -> None:
        entry.learning = "Learned: " + ("; ".join(notes) or "nothing new")
        if any(shown is entry for shown in self.chat.entries):  # not if another session is shown now
            self.chat.refresh()
        self.learned.emit()

    def _on_failed(self, message: str) -> None:
        self._take_back()
        self.failed.emit(message)
        self._on_ended()

    def _take_back(self) -> None:
        """Nothing of the turn was stored: the screen shows the session as it is stored."""
        replaced, self._answer_replaced = self._answer_replaced, None
        entries = self.chat.entries
        if replaced is not None and entries and entries[-1].streaming:
            # Asked again: the earlier answer is still the stored one; show it again.
            entries[-1] = replaced
            self.chat.refresh()
            return
        # Take the turn off the screen and give the text back.
        if len(entries) >= 2 and entries[-1].role == "assistant" and entries[-1].streaming:
            del entries[-2:]
            self.chat.refresh()
        if not self.chat.input.toPlainText().strip():
            self.chat.input.setPlainText(self._sent_text)

    def _on_ended(self, _result: object = None) -> None:
        # A task either fails or finishes, never both: this runs once per turn.
        self._answer_replaced = None
        self.task = None
        self._cancel = None
        self.chat.set_busy(False)
        self.ended.emit()


def memory_share(part: int, whole: int) -> str:
    """A share of the prompt, as the status bar shows it: "<1%" rather than a misleading "0%"."""
    if part <= 0:
        return "0%"
    percent = part * 100 / max(whole, 1)
    return "<1%" if percent < 1 else f"{percent:.0f}%"
