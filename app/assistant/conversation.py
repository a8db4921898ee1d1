"""One chat turn, from the user's message to the stored answer.

user message → ``build_context`` → prompt fitted to the model's window →
streamed answer → both messages stored (the answer with the keys of the
memory items it was given) → background extraction and summaries.

The prompt keeps a stable prefix so llama.cpp reuses its KV cache: the system
text, the client's voice and pinned facts come first, then earlier turns
exactly as they were sent (each with the memory it was given), and only the
newest memory sits next to the new message. When the window fills up, the
oldest half of the history is replaced by a short note in one step, so the
prefix changes once and then stays stable again.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from app.assistant.text import holds_secret, shareable
from app.errors import InputRefused
from app.llm import prompts
from app.llm.engine import CancelToken, GenerationSettings, GenerationStats, TextModel
from app.llm.prompt_format import ChatTurn
from memory import (
    ChatSession,
    Context,
    ContextItem,
    ContextSource,
    MemoryService,
    Message,
    NewMessage,
    Role,
    render_context,
)

log = logging.getLogger(__name__)

#: Share of the window the memory block may take at most, whatever the budget says.
MAX_MEMORY_SHARE = 0.4
#: Characters of each dropped user message kept in the "earlier in this session" note.
EARLIER_NOTE_CHARS = 160
EARLIER_NOTE_MAX_CHARS = 1200
#: Sessions whose prompt state stays in memory. The window lives for days and a user
#: chats in many sessions; one left out is rebuilt from SQLite when it comes back.
CACHED_SESSIONS = 16


class TurnListener(Protocol):
    """Work to do after a turn is stored (extraction, summaries); runs in the background."""

    def after_turn(self, project_id: int, session_id: int, user: Message, assistant: Message) -> str | None:
        """Does the work; returns a few words for the user about what it did, or None."""
        ...


class CommandHandler(Protocol):
    """Handles slash commands such as ``/remember`` without asking the model."""

    def is_command(self, text: str) -> bool: ...

    def run_command(self, project_id: int, text: str, source_message_id: int) -> str:
        """Carries out the command; returns the confirmation shown as the answer."""
        ...


@dataclass(frozen=True)
class PromptReport:
    prompt_tokens: int
    window_tokens: int
    reply_tokens: int
    memory_tokens: int
    history_turns: int
    dropped_turns: int
    retrieval_seconds: float
    prompt_seconds: float
    memory_keys: tuple[str, ...]


@dataclass(frozen=True)
class ContextReady:
    context: Context
    report: PromptReport


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class TurnResult:
    user_message: Message | None
    assistant_message: Message | None
    text: str
    stats: GenerationStats
    report: PromptReport
    cancelled: bool
    #: Extraction and summary work started after the turn (None if nothing was stored);
    #: its result is what that work says it did, e.g. ``("2 proposals in the inbox",)``.
    background: Future[tuple[str, ...]] | None = None


@dataclass(frozen=True)
class SessionStarted:
    """The first event of a turn that began a new session."""

    session: ChatSession


TurnEvent = SessionStarted | ContextReady | Token | TurnResult

#: A new session is titled with the start of its first message.
TITLE_CHARS = 60


def session_title(message: str) -> str:
    """The message's start, cut at a word with "…" when it is longer than ``TITLE_CHARS``.

    A message that names or holds a secret gives no title: titles go into briefs and lists.
    """
    text = " ".join(message.split())
    command = re.match(r"/(remember|forget)\b\s*", text, re.IGNORECASE)
    if command and text[command.end() :]:
        # "/forget Sarah's holiday" is a request, not a title: "Forget: Sarah's holiday".
        text = f"{command.group(1).capitalize()}: {text[command.end() :]}"
    if holds_secret(text):
        return "Untitled session"
    if len(text) <= TITLE_CHARS:
        return text
    cut = text[: TITLE_CHARS - 1]
    if " " in cut and not text[TITLE_CHARS - 1].isspace():
        cut = cut[: cut.rindex(" ")]  # not in the middle of a word ("…end the Acm")
    return cut.rstrip(" ,;:-") + "…"


@dataclass
class _Exchange:
    """One earlier turn as it was put in the prompt."""

    user: str
    notes: str
    notes_keys: tuple[str, ...]
    reply: str
    message_ids: tuple[int, ...] = ()
    notes_tokens: int = 0


@dataclass(frozen=True)
class _FittedPrompt:
    """A prompt that fits the window, and what went into it."""

    turns: list[ChatTurn]
    new_turn: ChatTurn
    #: Voice and pinned items, and the new memory, that survived the fitting.
    stable: list[ContextItem]
    fresh: list[ContextItem]
    #: The prompt's length in the model's own tokens (counted once, while fitting).
    tokens: int
    history_turns: int
    dropped_turns: int


@dataclass
class _SessionPrompt:
    exchanges: list[_Exchange] = field(default_factory=list)
    #: Exchanges before this index were replaced by ``earlier_note``.
    first_kept: int = 0
    earlier_note: str = ""


def _role_turn(message: Message) -> str:
    if message.role is Role.OTHER:
        return f"{message.speaker or 'Someone'}: {message.content}"
    return message.content


class ConversationFlow:
    """Runs turns for any number of sessions; one turn at a time per session.

    Args:
        service: The memory service.
        model: The model that answers (local or remote).
        listeners: Called in the background after each stored turn.
        memory_budget_tokens: Tokens of memory in the prompt (capped by a share of the
            window). Memory given in earlier turns still counts while those turns are
            in the prompt, but each turn may add at least a third of the budget, so a
            long conversation neither starves new questions nor re-reads old memory.
        generation: Reply settings (length, temperature).
        system_text: The system instructions (see :mod:`app.llm.prompts`).
    """

    def __init__(
        self,
        service: MemoryService,
        model: TextModel,
        *,
        listeners: Sequence[TurnListener] = (),
        memory_budget_tokens: int = 1000,
        generation: GenerationSettings | None = None,
        system_text: str = prompts.SYSTEM,
        commands: CommandHandler | None = None,
    ) -> None:
        self.service = service
        self.model = model
        self.listeners = list(listeners)
        self.memory_budget_tokens = memory_budget_tokens
        self.generation = generation or GenerationSettings()
        self.system_text = system_text
        self.commands = commands
        self._sessions: OrderedDict[int, _SessionPrompt] = OrderedDict()  # least recently used first
        self._busy: set[int] = set()
        self._lock = threading.Lock()
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dossier-background")

    def close(self, *, wait: bool = True) -> None:
        """Finishes (or with ``wait=False`` abandons queued) background work and stops its thread."""
        self._background.shutdown(wait=True, cancel_futures=not wait)

    def forget_session_cache(self, session_id: int) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    # ---------------------------------------------------------------- the turn

    def run_first_turn(self, project_id: int, message: str, cancel: CancelToken | None = None) -> Iterator[TurnEvent]:
        """Starts a session titled after ``message``, yields :class:`SessionStarted`, then runs the turn.

        Raises:
            InputRefused: An empty message (no session is started).
            NotFoundError: No such project.
        """
        if not message.strip():
            raise InputRefused("The message is empty")
        session = self.service.start_session(project_id, session_title(message))
        yield SessionStarted(session)
        yield from self.run_turn(session.id, message, cancel)

    def run_turn(
        self, session_id: int, message: str, cancel: CancelToken | None = None, *, again: bool = False
    ) -> Iterator[TurnEvent]:
        """Runs one turn; yields :class:`ContextReady`, then :class:`Token`\\ s, then one :class:`TurnResult`.

        Nothing is stored until the model has answered: a failure leaves the
        session as it was (the caller keeps the user's text). A cancelled turn
        is stored with the part of the answer that arrived, if any.

        With ``again``, ``message`` must be the session's last question: it is
        answered anew without being stored twice, and the new answer replaces
        the last one in the prompt (both stay in the session's history).

        Raises:
            InputRefused: An empty message, or one too long for the model's window.
            NotFoundError: No such session.
            EngineError: The model could not answer.
        """
        text = message.strip()
        if not text:
            raise InputRefused("The message is empty")
        cancel = cancel or CancelToken()
        with self._lock:
            if session_id in self._busy:
                raise InputRefused("This session is already answering a message")
            self._busy.add(session_id)
        try:
            yield from self._turn(session_id, text, cancel, again)
        finally:
            with self._lock:
                self._busy.discard(session_id)

    def _turn(self, session_id: int, text: str, cancel: CancelToken, again: bool = False) -> Iterator[TurnEvent]:
        session = self.service.get_session(session_id)
        if again:
            yield from self._again(session.project_id, session_id, text, cancel)
            return
        if self.commands is not None and self.commands.is_command(text):
            yield self._command_turn(session.project_id, session_id, text)
            return
        yield from self._answer(session.project_id, session_id, text, cancel)

    def _answer(
        self, project_id: int, session_id: int, text: str, cancel: CancelToken, asked: Message | None = None
    ) -> Iterator[TurnEvent]:
        """Asks the model; stores the question (unless ``asked``, already stored) and the answer."""
        state = self._session_state(session_id)
        started = time.perf_counter()
        window = self.model.context_length
        budget = max(1, min(self.memory_budget_tokens, int(window * MAX_MEMORY_SHARE)))
        context = self.service.build_context(project_id, text, budget, token_counter=_CounterAdapter(self.model))
        retrieval_seconds = time.perf_counter() - started

        stable = [item for item in context.items if item.source is not ContextSource.RETRIEVED]
        in_prompt = self._keys_in_prompt(state)
        history_ids = {i for ex in state.exchanges[state.first_kept :] for i in ex.message_ids}
        fresh = [
            item
            for item in context.items
            if item.source is ContextSource.RETRIEVED
            and item.key not in in_prompt
            # This session's own messages are already in the prompt as history.
            and not (item.message_ids and set(item.message_ids) <= history_ids)
        ]
        present = sum(item.tokens for item in stable) + sum(
            ex.notes_tokens for ex in state.exchanges[state.first_kept :]
        )
        allowance = max(budget - present, budget // 3)
        while fresh and sum(item.tokens for item in fresh) > allowance:
            fresh.pop()  # the least relevant go first
        fitted = self._fit(state, stable, fresh, text)
        prompt_seconds = time.perf_counter() - started - retrieval_seconds
        turns, kept_fresh = fitted.turns, fitted.fresh
        memory_keys = _unique(
            [i.key for i in fitted.stable]
            + [k for ex in state.exchanges[state.first_kept :] for k in ex.notes_keys]
            + [i.key for i in kept_fresh]
        )
        memory_text = "\n".join(filter(None, [render_context(fitted.stable), fitted.new_turn.notes]))
        report = PromptReport(
            prompt_tokens=fitted.tokens,
            window_tokens=window,
            reply_tokens=self.generation.max_tokens,
            memory_tokens=self.model.count_tokens(memory_text),
            history_turns=fitted.history_turns,
            dropped_turns=fitted.dropped_turns,
            retrieval_seconds=retrieval_seconds,
            prompt_seconds=prompt_seconds,
            memory_keys=memory_keys,
        )
        yield ContextReady(context, report)

        generation = self.model.generate(turns, self.generation, cancel)
        for piece in generation:
            yield Token(piece)
        reply = generation.text
        cancelled = generation.stats.finish_reason == "cancel"

        user_message = assistant_message = None
        background = None
        if reply or not cancelled:
            if not reply:
                reply = "(no answer)"
            answer = NewMessage(Role.ASSISTANT, reply, context_item_keys=memory_keys)
            if asked is None:
                user_message, assistant_message = self.service.add_messages(
                    session_id, [NewMessage(Role.USER, text), answer]
                )
            else:
                user_message, (assistant_message,) = asked, self.service.add_messages(session_id, [answer])
            state.exchanges.append(
                _Exchange(
                    text,
                    fitted.new_turn.notes,
                    tuple(i.key for i in kept_fresh),
                    reply,
                    (user_message.id, assistant_message.id),
                    sum(item.tokens for item in kept_fresh),
                )
            )
            if asked is None:  # asked again: nothing new was said to learn from
                background = self._after_turn(project_id, session_id, user_message, assistant_message)
        yield TurnResult(
            user_message=user_message,
            assistant_message=assistant_message,
            text=reply,
            stats=generation.stats,
            report=report,
            cancelled=cancelled,
            background=background,
        )

    def _again(self, project_id: int, session_id: int, text: str, cancel: CancelToken) -> Iterator[TurnEvent]:
        """Answers the session's last question anew (see :meth:`run_turn`)."""
        state = self._session_state(session_id)
        last = state.exchanges[-1] if len(state.exchanges) > state.first_kept else None
        if last is None or not last.message_ids or " ".join(last.user.split()) != " ".join(text.split()):
            raise InputRefused("Only the last question of the session can be asked again")
        if self.commands is not None and self.commands.is_command(text):
            raise InputRefused("A command is not asked again; send it anew if you mean it")
        question = self.service.get_message(last.message_ids[0])
        # Answered as if the earlier answer had not been given; put back if nothing is stored.
        state.exchanges.pop()
        result: TurnResult | None = None
        try:
            for event in self._answer(project_id, session_id, text, cancel, question):
                if isinstance(event, TurnResult):
                    result = event
                yield event
        finally:
            if result is None or result.assistant_message is None:
                state.exchanges.append(last)

    def _command_turn(self, project_id: int, session_id: int, text: str) -> TurnResult:
        assert self.commands is not None
        user_message = self.service.add_message(session_id, Role.USER, text)
        reply = self.commands.run_command(project_id, text, user_message.id)
        assistant_message = self.service.add_message(session_id, Role.ASSISTANT, reply)
        with self._lock:
            state = self._sessions.get(session_id)
        if state is not None:
            state.exchanges.append(_Exchange(text, "", (), reply, (user_message.id, assistant_message.id)))
        report = PromptReport(0, self.model.context_length, 0, 0, 0, 0, 0.0, 0.0, ())
        stats = GenerationStats(finish_reason="command")
        return TurnResult(user_message, assistant_message, reply, stats, report, cancelled=False)

    def ask(self, session_id: int, message: str, cancel: CancelToken | None = None) -> TurnResult:
        """Runs a turn to the end and returns its result (for scripts and tests)."""
        result = None
        for event in self.run_turn(session_id, message, cancel):
            if isinstance(event, TurnResult):
                result = event
        assert result is not None
        return result

    def _after_turn(
        self, project_id: int, session_id: int, user: Message, assistant: Message
    ) -> Future[tuple[str, ...]] | None:
        if not self.listeners:
            return None

        def run() -> tuple[str, ...]:
            notes = []
            for listener in self.listeners:
                try:
                    note = listener.after_turn(project_id, session_id, user, assistant)
                except Exception:  # one failing listener must not stop the others or the chat
                    log.exception("after-turn work failed (%s)", type(listener).__name__)
                    note = "background work failed (details in the log)"
                if note:
                    notes.append(note)
            return tuple(notes)

        try:
            return self._background.submit(run)
        except RuntimeError:  # closed while answering
            return None

    # ---------------------------------------------------------------- prompt

    def _session_state(self, session_id: int) -> _SessionPrompt:
        with self._lock:
            state = self._sessions.get(session_id)
            if state is not None:
                self._sessions.move_to_end(session_id)
        if state is not None and not {i for e in state.exchanges for i in e.message_ids} <= set(
            self.service.message_ids(session_id)
        ):
            # A message was deleted since (from the CLI, say): the cached prompt still holds it.
            state = None
        if state is None:
            state = _SessionPrompt()
            pending_user: list[str] = []
            pending_ids: list[int] = []
            for m in self.service.list_messages(session_id):
                if m.role is Role.ASSISTANT and not pending_user and state.exchanges:
                    # "Ask again": a later answer to the same question replaces the earlier one.
                    last = state.exchanges[-1]
                    last.reply, last.message_ids = m.content, (*last.message_ids[:-1], m.id)
                elif m.role is Role.ASSISTANT:
                    ids = (*pending_ids, m.id)
                    state.exchanges.append(_Exchange("\n".join(pending_user), "", (), m.content, ids))
                    pending_user, pending_ids = [], []
                else:
                    pending_user.append(_role_turn(m))
                    pending_ids.append(m.id)
            if pending_user:
                state.exchanges.append(_Exchange("\n".join(pending_user), "", (), "", tuple(pending_ids)))
            with self._lock:
                self._sessions[session_id] = state
                while len(self._sessions) > CACHED_SESSIONS:
                    self._sessions.popitem(last=False)
        return state

    def _keys_in_prompt(self, state: _SessionPrompt) -> set[str]:
        return {k for ex in state.exchanges[state.first_kept :] for k in ex.notes_keys}

    def _system_turn(self, stable: Sequence[ContextItem], earlier_note: str) -> ChatTurn:
        parts = [self.system_text]
        memory = self._memory_block(stable)
        if memory:
            parts.append(memory)
        if earlier_note:
            parts.append(prompts.EARLIER_TURNS.format(summary=earlier_note))
        return ChatTurn("system", "\n\n".join(parts))

    def _memory_block(self, items: Sequence[ContextItem]) -> str:
        """The memory given with a turn; sent to another computer, without what holds a secret.

        The user's own message is theirs to send; a password recalled from an old
        session is not, so a remote model reads "[left out: a password or key]".
        """
        block = render_context(items)
        return shareable(block, one_item=False) if self.model.leaves_the_machine else block

    def _history(self, state: _SessionPrompt) -> list[ChatTurn]:
        turns: list[ChatTurn] = []
        for ex in state.exchanges[state.first_kept :]:
            if ex.user:
                turns.append(ChatTurn("user", ex.user, notes=ex.notes))
            if ex.reply:
                turns.append(ChatTurn("assistant", ex.reply))
        return turns

    def _fit(
        self,
        state: _SessionPrompt,
        stable: list[ContextItem],
        fresh: list[ContextItem],
        text: str,
    ) -> _FittedPrompt:
        """Builds the prompt and shrinks it until it and the reply fit the window.

        Order of sacrifice: the oldest half of the history (replaced by a
        note), then the newest memory from its least relevant end, then pinned
        facts and voice. The new message itself is never shortened.
        """
        room = self.model.context_length - self.generation.max_tokens
        # Refused before any history is given up: a message that cannot fit even
        # alone must not cost the session its earlier turns.
        if self.model.count_prompt([self._system_turn([], ""), ChatTurn("user", text)]) > room:
            raise self._too_long()
        dropped_before = state.first_kept
        while True:
            system_turn = self._system_turn(stable, state.earlier_note)
            history = self._history(state)
            new_turn = ChatTurn("user", text, notes=self._memory_block(fresh) if fresh else "")
            turns = [system_turn, *history, new_turn]
            tokens = self.model.count_prompt(turns)
            if tokens <= room:
                return _FittedPrompt(
                    turns, new_turn, stable, fresh, tokens, len(history), state.first_kept - dropped_before
                )
            kept = len(state.exchanges) - state.first_kept
            if kept > 0:
                cut = state.first_kept + max(1, (kept + 1) // 2)
                state.earlier_note = _earlier_note(state.earlier_note, state.exchanges[state.first_kept : cut])
                state.first_kept = cut
            elif fresh:
                fresh = fresh[:-1]
            elif stable:
                stable = stable[:-1]
            elif state.earlier_note:
                state.earlier_note = ""
            else:
                raise self._too_long()

    def _too_long(self) -> InputRefused:
        return InputRefused(
            f"The message is too long for the model's window of {self.model.context_length:,} tokens "
            f"(with room for a {self.generation.max_tokens}-token answer). Shorten it or pick a model "
            "with a larger context."
        )


def _earlier_note(previous: str, dropped: Sequence[_Exchange]) -> str:
    lines = [previous] if previous else []
    for ex in dropped:
        if ex.user:
            first = " ".join(ex.user.split())
            lines.append(first[:EARLIER_NOTE_CHARS] + ("…" if len(first) > EARLIER_NOTE_CHARS else ""))
    note = " / ".join(lines)
    # Keep the newest part when the note itself grows too long.
    return note[-EARLIER_NOTE_MAX_CHARS:]


def _unique(keys: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(keys))


class _CounterAdapter:
    """Lets the memory service count tokens with the answering model's tokenizer."""

    def __init__(self, model: TextModel) -> None:
        self._model = model

    def count(self, text: str) -> int:
        return self._model.count_tokens(text)


__all__ = [
    "ContextReady",
    "ConversationFlow",
    "PromptReport",
    "Token",
    "TurnEvent",
    "TurnListener",
    "TurnResult",
]
