"""Session summaries: when a session closes, goes idle or grows long.

Long sessions are summarised map-reduce: each chunk that fits the model's
window is summarised, then the chunk summaries are merged. Without a model,
or when the model's summary is not grounded in the session's words, an
extractive summary (the session's most informative sentences, in order) is
stored instead, so every session gets a searchable summary.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from app.assistant.text import content_words, leave_out_secrets
from app.assistant.text import sentences as split_sentences
from app.llm import prompts
from app.llm.engine import EngineError, GenerationSettings, TextModel
from app.llm.prompt_format import ChatTurn
from memory import ChatSession, ConflictError, MemoryService, Message, NotFoundError, Role

log = logging.getLogger(__name__)

#: Share of a model summary's content words that must occur in the session.
GROUNDING = 0.6
EXTRACTIVE_SENTENCES = 5
SUMMARY_TOKENS = 200
_COMMAND = re.compile(r"\s*/\w")
_REMEMBER_COMMAND = re.compile(r"\s*/remember\s+(.+)", re.IGNORECASE | re.DOTALL)
#: "[F12]", "[S3]": keys of memory items, which mean nothing outside Dossier.
_MEMORY_REF = re.compile(r"\[[A-Z]\d+\]\s*")


def _transcript_line(message: Message) -> str:
    who = {Role.USER: "User", Role.ASSISTANT: "Assistant"}.get(message.role, message.speaker or "Other")
    return f"{who}: {' '.join(message.content.split())}"


def what_people_said(messages: Sequence[Message]) -> list[Message]:
    """The messages of people: no assistant text (it may be invented) and no commands.

    A ``/remember`` counts as what it says ("/remember X" is "X"); other
    commands are left out. A summary that briefs and memory rely on is built
    from these only.
    """
    said = []
    for m in messages:
        if m.role is Role.ASSISTANT:
            continue
        remembered = _REMEMBER_COMMAND.match(m.content)
        if remembered:
            said.append(replace(m, content=remembered.group(1)))
        elif not _COMMAND.match(m.content):
            said.append(m)
    return said


def extractive_summary(messages: Sequence[Message], sentences: int = EXTRACTIVE_SENTENCES) -> str:
    """The most informative sentences (frequent content words, numbers), in their original order.

    Only what people said counts (:func:`what_people_said`): an assistant's
    sentence may be the model's invention, and a ``/remember`` is not news.
    """
    candidates: list[tuple[int, str]] = []  # (position, sentence)
    questions: list[str] = []
    frequency: Counter[str] = Counter()
    seen: set[str] = set()
    position = 0
    for m in what_people_said(messages):
        # A summary goes into briefs and exports: a sentence holding a password stays out.
        said, _left_out = leave_out_secrets(_MEMORY_REF.sub("", m.content))
        for sentence in split_sentences(said):
            sentence = " ".join(sentence.split())
            if len(sentence.split()) < 3 or sentence.casefold() in seen:
                continue
            # A question is what someone wanted to know, not what the session established.
            if sentence.endswith("?"):
                questions.append(sentence)
                continue
            seen.add(sentence.casefold())
            words = content_words(sentence)
            frequency.update(words)
            candidates.append((position, sentence))
            position += 1
    if not candidates:
        # A session of questions and answers still had a subject: what was asked, said as asked
        # (the answers are the model's and may be invented).
        return f"Asked: {' '.join(questions[:sentences])}" if questions else ""

    def score(item: tuple[int, str]) -> float:
        _, sentence = item
        words = content_words(sentence)
        if not words:
            return 0.0
        informative = sum(frequency[w] for w in words) / math.sqrt(len(words))
        numbers = 1.5 if re.search(r"\d", sentence) else 1.0
        return informative * numbers

    best = sorted(candidates, key=score, reverse=True)[:sentences]
    chosen = [s if s[-1] in ".!?" else s + "." for _, s in sorted(best)]
    return " ".join(chosen)


class SessionSummarizer:
    """Writes session summaries; also a turn listener that catches sessions growing long.

    Args:
        service: The memory service.
        model: The background model, or None for extractive summaries only.
        idle_minutes: A session whose last message is older than this is summarised.
        every_messages: A session is re-summarised after this many new messages.
    """

    def __init__(
        self,
        service: MemoryService,
        model: TextModel | None = None,
        *,
        idle_minutes: int = 30,
        every_messages: int = 40,
    ) -> None:
        self.service = service
        self.model = model
        self.idle_minutes = idle_minutes
        self.every_messages = every_messages

    def after_turn(self, project_id: int, session_id: int, user: Message, assistant: Message) -> str | None:
        due = self.service.sessions_to_summarize(
            idle_before=datetime.now(UTC) - timedelta(minutes=self.idle_minutes),
            min_new_messages=self.every_messages,
            project_id=project_id,
        )
        for session in due:
            # Only the session that grew; others are left to the idle check.
            if session.id == session_id and not session.ended_at:
                self.summarize(session.id)
                return "session summary updated"
        return None

    def summarize_due(self, now: datetime | None = None) -> list[ChatSession]:
        """Summarises every ended, idle or grown session whose summary is missing or stale."""
        now = now or datetime.now(UTC)
        done = []
        for session in self.service.sessions_to_summarize(
            idle_before=now - timedelta(minutes=self.idle_minutes), min_new_messages=self.every_messages
        ):
            done.append(self.summarize(session.id))
        return done

    def close_session(self, session_id: int) -> ChatSession:
        """Ends a session and summarises it."""
        self.service.end_session(session_id)
        return self.summarize(session_id)

    def summarize(self, session_id: int) -> ChatSession:
        for _attempt in range(2):
            messages = self.service.list_messages(session_id)
            if not messages:
                return self.service.get_session(session_id)
            summary = self._model_summary(messages) if self.model is not None else ""
            # The model may repeat a secret it read: left out as from any text (the sentence, or
            # the pair of sentences, holding it).
            summary, _left_out = leave_out_secrets(summary)
            if not summary:
                summary = extractive_summary(messages)
            try:
                return self.service.set_session_summary(
                    session_id, summary, through_message_id=messages[-1].id, covering=len(messages)
                )
            except (ConflictError, NotFoundError):
                continue  # a message was deleted while it was written: write it again without
        return self.service.get_session(session_id)

    # ---------------------------------------------------------------- map-reduce

    def _model_summary(self, messages: Sequence[Message]) -> str:
        assert self.model is not None
        try:
            chunks = self._chunks([_transcript_line(m) for m in messages if not _COMMAND.match(m.content)])
            partials = [self._ask(prompts.SUMMARY_CHUNK, chunk) for chunk in chunks]
            summary = self._reduce([p for p in partials if p])
        except EngineError as err:
            log.warning("model summary failed, using an extractive one: %s", err)
            return ""
        # Grounded in what people said, not in the assistant's answers, which the model
        # may have invented (a "[F1] budget is 50k" that nobody confirmed).
        said = " ".join(m.content for m in what_people_said(messages))
        source = content_words(said)
        words = content_words(summary)
        if not words or len(words & source) / len(words) < GROUNDING:
            log.info("model summary not grounded in the session; using an extractive one")
            return ""
        if not set(re.findall(r"\d+", summary)) <= set(re.findall(r"\d+", said)):
            log.info("model summary has numbers nobody said; using an extractive one")
            return ""
        return _MEMORY_REF.sub("", summary)

    def _room(self) -> int:
        assert self.model is not None
        overhead = self.model.count_prompt([ChatTurn("system", prompts.SUMMARY_REDUCE), ChatTurn("user", "")])
        return max(256, self.model.context_length - SUMMARY_TOKENS - overhead - 16)

    def _chunks(self, lines: Sequence[str]) -> list[str]:
        assert self.model is not None
        room = self._room()
        chunks: list[str] = []
        current: list[str] = []
        used = 0
        for line in lines:
            cost = self.model.count_tokens(line) + 1
            if cost > room:  # one huge message: keep its start
                line = line[: room * 3]
                cost = self.model.count_tokens(line) + 1
            if current and used + cost > room:
                chunks.append("\n".join(current))
                current, used = [], 0
            current.append(line)
            used += cost
        if current:
            chunks.append("\n".join(current))
        return chunks

    def _reduce(self, partials: list[str]) -> str:
        if not partials:
            return ""
        if len(partials) == 1:
            return partials[0]
        groups = self._chunks(partials)
        merged = [self._ask(prompts.SUMMARY_REDUCE, group) for group in groups]
        merged = [m for m in merged if m]
        if len(merged) >= len(partials):  # no progress: stop rather than loop
            return " ".join(merged)
        return self._reduce(merged)

    def _ask(self, instruction: str, text: str) -> str:
        assert self.model is not None
        turns = [ChatTurn("system", instruction), ChatTurn("user", text)]
        settings = GenerationSettings(max_tokens=SUMMARY_TOKENS, temperature=0.2, seed=0, background=True)
        return self.model.generate(turns, settings).result().strip()
