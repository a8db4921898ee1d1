"""Conversations from other assistants into a project: sessions with their original times, never twice.

Each conversation becomes an ended session titled as it was, its messages
keeping their roles, times and source ids (as external ids). A re-import of
the same export adds nothing; a conversation that went on since adds only its
new messages, to the session it came in as. Imported sessions are summarised
extractively (no model needed), and facts can be proposed into the inbox from
what the user said, each pointing at its message.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.assistant.extraction import ExtractionFailed, MemoryExtractor, Outcome
from app.assistant.summaries import extractive_summary
from app.assistant.text import counted, holds_secret
from app.history.exports import Conversation
from memory import MemoryService, Message, NewMessage, Role

#: A conversation is suggested for a project from this similarity of meaning on.
SUGGEST_FROM = 0.30
#: The title of an imported conversation whose own title held a password or key.
SECRET_TITLE = "Imported conversation (its title held a secret)"
#: What of a conversation shows what it is about: its title and its first user messages.
PROFILE_CHARS = 600


@dataclass(frozen=True)
class Suggestion:
    project_id: int
    project_name: str
    #: Cosine similarity of meaning (1.0 where the conversation names the project).
    score: float


def _conversation_profile(conversation: Conversation) -> str:
    said = " ".join(t.text for t in conversation.turns if t.role == "user")
    return f"{conversation.title}. {said}"[:PROFILE_CHARS]


def suggest_projects(service: MemoryService, conversations: Sequence[Conversation]) -> dict[str, Suggestion | None]:
    """For each conversation (by id), the project it most likely belongs to, or None; the user decides.

    A conversation that names a project wins it outright; otherwise the most
    similar project by meaning (its name, description and facts), if similar enough.
    """
    projects = service.list_projects()
    if not projects or not conversations:
        return {c.id: None for c in conversations}
    profiles = []
    for project in projects:
        facts = " ".join(f.text for f in service.list_facts(project.id, include_global=False)[:15])
        profiles.append(f"{project.name}. {project.description} {facts}"[:PROFILE_CHARS])
    texts = [_conversation_profile(c) for c in conversations]
    table = service.similarity_table(texts, profiles)
    suggestions: dict[str, Suggestion | None] = {}
    for conversation, text, row in zip(conversations, texts, table, strict=True):
        named = [
            p
            for p in projects
            if re.search(rf"(?<!\w){re.escape(p.name)}(?!\w)", text, re.IGNORECASE) and len(p.name) >= 3
        ]
        if len(named) == 1:
            suggestions[conversation.id] = Suggestion(named[0].id, named[0].name, 1.0)
            continue
        best = max(range(len(projects)), key=lambda i: row[i])
        suggestions[conversation.id] = (
            Suggestion(projects[best].id, projects[best].name, row[best]) if row[best] >= SUGGEST_FROM else None
        )
    return suggestions


@dataclass
class HistoryReport:
    sessions_added: int = 0
    messages_added: int = 0
    #: Messages skipped because an earlier import brought them.
    messages_known: int = 0
    #: Conversations with nothing new.
    unchanged: int = 0
    #: Conversations that went on since and got their new messages.
    extended: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    cancelled: bool = False

    def summary(self) -> str:
        if not (self.sessions_added or self.messages_added or self.cancelled):
            here = f"{self.unchanged} conversation{'s' if self.unchanged != 1 else ''} already here"
            return f"Nothing new: {here}." if self.unchanged else "Nothing to import."
        parts = [
            f"{self.sessions_added} conversation{'s' if self.sessions_added != 1 else ''} imported as sessions",
            counted(self.messages_added, "message"),
        ]
        if self.extended:
            parts.append(f"{self.extended} continued with their new messages")
        if self.unchanged:
            parts.append(f"{self.unchanged} already here")
        proposed = sum(1 for o in self.outcomes if o.proposal is not None)
        if proposed:
            parts.append(f"{counted(proposed, 'proposal')} in the inbox")
        if self.cancelled:
            parts.append("cancelled before the rest")
        return "; ".join(parts) + "."


#: Dossier keeps external ids up to this long; a longer source id is kept as its hash.
MAX_EXTERNAL_ID = 200


def _external_id(conversation: Conversation, n: int, source_id: str) -> str:
    # A message without an id of its own is named by its place in its conversation.
    external = " ".join((source_id or f"{conversation.id}#{n}").split())
    if len(external) > MAX_EXTERNAL_ID or not external.isprintable():
        external = "sha256:" + hashlib.sha256(external.encode("utf-8", "surrogatepass")).hexdigest()
    return external


def import_conversations(
    service: MemoryService,
    project_id: int,
    conversations: Sequence[Conversation],
    *,
    progress: Callable[[int, int, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    extractor: MemoryExtractor | None = None,
) -> HistoryReport:
    """Imports conversations into a project; each is its own transaction, so a cancel keeps what was done.

    Args:
        extractor: Also propose facts from what the user said (into the inbox, with their message).
    """
    service.get_project(project_id)
    report = HistoryReport()
    ids = [_external_id(c, n, t.source_id) for c in conversations for n, t in enumerate(c.turns)]
    known = service.sessions_of_external_ids(project_id, ids)
    for done, conversation in enumerate(conversations):
        if cancelled is not None and cancelled():
            report.cancelled = True
            break
        if progress is not None:
            progress(done, len(conversations), conversation.title)
        fresh = [
            NewMessage(
                Role(turn.role),
                turn.text,
                created_at=turn.created_at,
                external_id=_external_id(conversation, n, turn.source_id),
            )
            for n, turn in enumerate(conversation.turns)
            if _external_id(conversation, n, turn.source_id) not in known
        ]
        report.messages_known += len(conversation.turns) - len(fresh)
        if not fresh:
            report.unchanged += bool(conversation.turns)
            continue
        earlier = next(
            (
                known[_external_id(conversation, n, t.source_id)]
                for n, t in enumerate(conversation.turns)
                if _external_id(conversation, n, t.source_id) in known
            ),
            None,
        )
        if earlier is not None:
            stored = service.add_messages(earlier, fresh)
            session_id = earlier
            report.extended += 1
            everything = service.list_messages(session_id)
        else:
            session, stored = service.import_session(
                project_id,
                # A title is shown in lists, briefs and to other AI tools: one holding a key stays out.
                SECRET_TITLE if holds_secret(conversation.title) else conversation.title,
                fresh,
                started_at=conversation.created_at or fresh[0].created_at,
                ended_at=conversation.ended_at,
            )
            session_id = session.id
            report.sessions_added += 1
            everything = stored
        report.messages_added += len(stored)
        summary = extractive_summary(everything)
        if summary:
            service.set_session_summary(session_id, summary, through_message_id=everything[-1].id, background=True)
        if extractor is not None:
            report.outcomes += _propose(extractor, project_id, stored)
    if progress is not None and not report.cancelled:
        progress(len(conversations), len(conversations), "")
    return report


def _propose(extractor: MemoryExtractor, project_id: int, messages: Sequence[Message]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for message in messages:
        if message.role is Role.USER:
            try:
                outcomes += extractor.process(project_id, message, said_here=False)
            except ExtractionFailed as failure:  # the model failed: keep what the cues found, go on without it
                outcomes += failure.outcomes
                extractor.model = None
    return outcomes


def already_imported(service: MemoryService, conversations: Sequence[Conversation]) -> dict[str, list[str]]:
    """For each conversation (by id), the projects that already hold any of its messages.

    Shown before importing, so that a conversation is not copied into a second client by mistake.
    """
    ids = {_external_id(c, n, t.source_id): c.id for c in conversations for n, t in enumerate(c.turns)}
    found: dict[str, list[str]] = {c.id: [] for c in conversations}
    for project in service.list_projects(include_archived=True):
        for external_id in service.sessions_of_external_ids(project.id, list(ids)):
            names = found[ids[external_id]]
            if project.name not in names:
                names.append(project.name)
    return found


def matching(conversations: Sequence[Conversation], text: str) -> list[Conversation]:
    """The conversations whose title or messages contain ``text`` (ignoring case)."""
    needle = text.casefold()
    return [
        c for c in conversations if needle in c.title.casefold() or any(needle in t.text.casefold() for t in c.turns)
    ]
