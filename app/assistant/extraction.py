"""Learning from the conversation without losing or silently rewriting what the user knows.

Three sources of candidate memories:

- explicit instructions, handled without a model: ``/remember …``,
  ``/forget …``, "remember that …", "forget that …";
- cues in the user's sentences (dates, amounts, contacts, decisions, plans,
  events, preferences; :mod:`app.assistant.candidates`), which need no model;
- a model reading each user message, with its output constrained to JSON by
  a schema (a llama.cpp grammar locally), so even a tiny model gives valid
  JSON. A candidate must be grounded in the user's words; whatever the model
  adds on its own is dropped.

Every candidate is reconciled against the project's facts: a duplicate
changes nothing, the same subject with new content becomes an update proposal
(flagged when it contradicts the old fact), anything else an add proposal.
Proposals wait in the review inbox unless the project auto-accepts them. An
explicit "remember" with nothing similar known is stored at once, and an
explicit "forget" with one clear match archives it (history keeps it).
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.assistant.candidates import Candidate, find_candidates, guess_kind
from app.assistant.text import (
    EMAIL,
    content_words,
    holds_secret,
    leave_out_secrets,
    negated,
    normalise,
    numbers,
    shareable,
    shortened,
    states_something,
)
from app.llm import prompts
from app.llm.engine import EngineError, GenerationSettings, TextModel
from app.llm.prompt_format import ChatTurn
from memory import (
    Actor,
    Fact,
    FactKind,
    FactSource,
    HitKind,
    InvalidInputError,
    MemoryService,
    Message,
    NotFoundError,
    Proposal,
    ProposalAction,
    SearchMode,
    local_time,
)

log = logging.getLogger(__name__)

#: Cosine similarity above which a candidate talks about the same thing as a fact.
SAME_SUBJECT = 0.72
#: A forget request matches a fact this well to archive it without asking.
FORGET_MATCH = 0.6
FORGET_MARGIN = 0.05
#: Share of a model candidate's content words that must come from the user's message.
GROUNDING = 0.7
MAX_CANDIDATES = 3
#: Short enough that three candidates always fit the token limit below (valid JSON).
MAX_CANDIDATE_CHARS = 120

EXTRACTION_SCHEMA = {
    "type": "object",
    "properties": {
        "facts": {
            "type": "array",
            "maxItems": MAX_CANDIDATES,
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "maxLength": MAX_CANDIDATE_CHARS},
                    "kind": {"type": "string", "enum": [k.value for k in FactKind]},
                },
                "required": ["text", "kind"],
            },
        }
    },
    "required": ["facts"],
}

_REMEMBER = re.compile(
    r"^\s*(?:/remember\s+|(?:please\s+|can you\s+|could you\s+)?(?:remember(?:\s+that)?|(?:make a )?note(?: of)?"
    r"\s+that)[\s:,]+)(?P<text>.+)$",
    re.IGNORECASE | re.DOTALL,
)
_FORGET = re.compile(
    r"^\s*(?:/forget\s+|(?:please\s+)?(?:forget|stop remembering)(?:\s+(?:that|about))?[\s:,]+)(?P<text>.+)$",
    re.IGNORECASE | re.DOTALL,
)


def word_diff(old: str, new: str) -> str:
    """What changed between two texts, word by word, as a person reads it in plain text.

    "The launch is on “14 September” → “30 September”": a replaced part as old → new,
    "(without “excluding VAT”)" for a removed one and "(adds “in two parts”)" for an
    added one, the rest as it stands.
    """
    a, b = old.split(), new.split()
    out: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        removed, added = " ".join(a[i1:i2]), " ".join(b[j1:j2])
        if op == "equal":
            out.append(removed)
        elif removed and added:
            out.append(f"“{removed}” → “{added}”")
        elif removed:
            out.append(f"(without “{removed}”)")
        else:
            out.append(f"(adds “{added}”)")
    return " ".join(out)


class ExtractionFailed(Exception):
    """The model step failed after the cue step had filed its candidates."""

    def __init__(self, cause: EngineError, outcomes: list[Outcome]) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.outcomes = outcomes


@dataclass(frozen=True)
class Reconciled:
    """What a candidate means against what is known."""

    outcome: str  # "duplicate", "add", "update", or "secret" (never proposed)
    target: Fact | None = None
    contradicts: bool = False
    similarity: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """What happened to one candidate, for the chat's confirmation and for tests."""

    candidate: Candidate
    reconciled: Reconciled
    fact: Fact | None = None
    proposal: Proposal | None = None


class MemoryExtractor:
    """Runs after each turn (a :class:`app.assistant.conversation.TurnListener`).

    Args:
        service: The memory service.
        model: The model for extraction (the background route); None for
            explicit instructions only.
        auto_accept: Whether a project's proposals are accepted without review.
        use_model: Whether to ask the model at all (the extraction setting).
    """

    def __init__(
        self,
        service: MemoryService,
        model: TextModel | None = None,
        *,
        auto_accept: Callable[[int], bool] = lambda _project_id: False,
        use_model: bool = True,
    ) -> None:
        self.service = service
        self.model = model
        self.auto_accept = auto_accept
        self.use_model = use_model

    # ---------------------------------------------------------------- turn listener

    def after_turn(self, project_id: int, session_id: int, user: Message, assistant: Message) -> str:
        """Learns from the user's message; returns what happened, for the user to see."""
        try:
            return learning_note(self.process(project_id, user, assistant.content))
        except ExtractionFailed as failure:
            # An outage must not read as "nothing to learn": say so; the cue step's work is kept.
            log.warning("extraction by the model skipped: %s", failure.cause)
            return f"{learning_note(failure.outcomes)}; the model step was skipped: {failure.cause}"

    def process(self, project_id: int, user: Message, reply: str = "", *, said_here: bool = True) -> list[Outcome]:
        """Handles one user message: an explicit instruction, or cues and the model.

        Args:
            said_here: Said to Dossier now. False for a message imported from another
                tool's history: its "Remember that…" or "Forget…" was said to that tool
                long ago, so it is read like any statement, into the inbox, and
                changes nothing by itself.

        Raises:
            ExtractionFailed: The model failed; it carries what the cues found.
        """
        forget = _FORGET.match(user.content) if said_here else None
        if forget:
            return self.forget(project_id, forget.group("text"), source_message_id=user.id)
        remember = _REMEMBER.match(user.content) if said_here else None
        if remember:
            text = _clean_candidate(remember.group("text"))
            if text:
                return [self.apply(project_id, Candidate(text, guess_kind(text), explicit=True), user.id)]
            return []
        if not states_something(user.content):
            return []
        # Cues first: they work with any model, and are applied before the model is
        # asked so that a failing model still leaves them in the inbox.
        # A sentence holding a password is left out, not the whole message: the holiday
        # and the contact said beside it are still learnt; the turn's note says what was not.
        said, left_out = leave_out_secrets(user.content)
        outcomes = [Outcome(Candidate(user.content, FactKind.FACT), Reconciled("secret"))] if left_out else []
        cued = find_candidates(said, local_time(user.created_at)) if said else []
        outcomes += [self.apply(project_id, candidate, user.id) for candidate in cued]
        if self.use_model and self.model is not None and said:
            try:
                from_model = self.extract(said, reply)
            except EngineError as err:
                raise ExtractionFailed(err, outcomes) from err
            seen = {normalise(c.text) for c in cued}
            for candidate in from_model:
                if normalise(candidate.text) not in seen and not _restates(candidate, cued):
                    outcomes.append(self.apply(project_id, candidate, user.id))
        return outcomes

    # ---------------------------------------------------------------- slash commands

    @staticmethod
    def is_command(text: str) -> bool:
        return bool(re.match(r"\s*/(remember|forget)\b", text, re.IGNORECASE))

    def run_command(self, project_id: int, text: str, source_message_id: int) -> str:
        forget = _FORGET.match(text)
        if forget:
            return describe(self.forget(project_id, forget.group("text"), source_message_id=source_message_id))
        remember = _REMEMBER.match(text)
        body = _clean_candidate(remember.group("text")) if remember else ""
        if not body and re.match(r"\s*/forget\b", text, re.IGNORECASE):
            return "Say what to forget, e.g. /forget the old budget."
        if not body:
            return "Say what to remember, e.g. /remember The client prefers email."
        return describe([self.apply(project_id, Candidate(body, guess_kind(body), explicit=True), source_message_id)])

    # ---------------------------------------------------------------- candidates

    def extract(self, message: str, reply: str = "") -> list[Candidate]:
        """Asks the model for the message's lasting facts; keeps the grounded ones.

        Raises:
            EngineError: The model failed; the caller decides whether to show or log it.
        """
        if self.model is None:
            return []
        turns = [
            ChatTurn("system", prompts.EXTRACTION),
            ChatTurn("user", prompts.EXTRACTION_INPUT.format(message=message, reply=reply[:1000])),
        ]
        settings = GenerationSettings(
            max_tokens=200, temperature=0.0, json_schema=EXTRACTION_SCHEMA, seed=0, background=True
        )
        raw = self.model.generate(turns, settings).result()
        return self.parse_candidates(raw, message)

    @staticmethod
    def parse_candidates(raw: str, message: str) -> list[Candidate]:
        try:
            payload = json.loads(raw, strict=False)
        except ValueError:
            # Cut off by the token limit: the grammar guarantees every finished item is valid.
            payload = {"facts": _complete_items(raw)}
        source_words = content_words(message)
        found: list[Candidate] = []
        for item in payload.get("facts", []) if isinstance(payload, dict) else []:
            if not isinstance(item, dict):
                continue
            text = _clean_candidate(str(item.get("text", "")))
            if not text or text.endswith("?") or len(text.split()) < 3:
                continue
            words = content_words(text)
            # The model may only restate what the user said, never add to it.
            if not words or len(words & source_words) / len(words) < GROUNDING:
                continue
            try:
                kind = FactKind(item.get("kind", "fact"))
            except ValueError:
                kind = guess_kind(text)
            if all(normalise(text) != normalise(c.text) for c in found):
                found.append(Candidate(text, kind))
        return found[:MAX_CANDIDATES]

    # ---------------------------------------------------------------- reconciliation

    def reconcile(self, project_id: int, candidate: Candidate) -> Reconciled:
        hits = self.service.search(project_id, candidate.text, k=8, mode=SearchMode.VECTOR)
        facts = [h for h in hits if h.kind is HitKind.FACT]
        wanted = normalise(candidate.text)
        for hit in facts:
            if normalise(hit.text) == wanted:
                return Reconciled("duplicate", self.service.get_fact(hit.fact_ids[0]), similarity=1.0)
        # A global fact is shown in every project: what is said in one client's chat (or read in
        # its documents) never changes it, or that client's words would reach all the others.
        facts = [h for h in facts if not h.is_global]
        if not facts:
            return Reconciled("add")
        best = max(facts, key=lambda h: h.parts.similarity or 0.0)
        similarity = best.parts.similarity or 0.0
        if similarity < SAME_SUBJECT:
            changed = next(
                (h for h in facts if _new_value_for(candidate.text, h.text, h.parts.similarity or 0.0)), None
            )
            if changed is None:
                return Reconciled("add", similarity=similarity)
            # "The budget went up to 52,000 euros" against "The budget is 45,000 euros".
            target = self.service.get_fact(changed.fact_ids[0])
            return Reconciled("update", target, contradicts=True, similarity=changed.parts.similarity or 0.0)
        target = self.service.get_fact(best.fact_ids[0])
        old_figures, new_figures = _as_figures(target.text), _as_figures(candidate.text)
        old_words, new_words = content_words(old_figures), content_words(new_figures)
        numbers_differ = numbers(old_figures) != numbers(new_figures)
        negation_flips = negated(target.text) != negated(candidate.text)
        adds_nothing = new_words <= old_words
        if adds_nothing and not numbers_differ and not negation_flips:
            # About the same thing, with no word, figure or "not" the fact lacks: a shorter way of
            # saying what is known ("The budget is 45,000 EUR" against "Budget is 45k EUR excluding
            # VAT (raised after scope call)"). As an update it would only drop the fact's details.
            return Reconciled("duplicate", target, similarity=similarity)
        replaces = bool(old_words - new_words) and bool(new_words - old_words)
        contradicts = numbers_differ or negation_flips or (replaces and similarity >= 0.8)
        return Reconciled("update", target, contradicts=contradicts, similarity=similarity)

    def apply(
        self,
        project_id: int,
        candidate: Candidate,
        source_message_id: int | None,
        *,
        source_document: tuple[int, str] | None = None,
        origin: str = "Mentioned in the conversation",
    ) -> Outcome:
        """Reconciles a candidate and files (or, where the user said so, stores) it.

        Args:
            source_document: The document and place it was read from, e.g. (3, "p.12").
            origin: Why an added fact is proposed, as the inbox shows it.
        """
        if not candidate.explicit and holds_secret(candidate.text):
            # Whatever found it (cues, a model, a document, another tool), a secret is not
            # offered as a memory: memory goes into briefs, exports and other tools' context.
            return Outcome(candidate, Reconciled("secret"))
        reconciled = self.reconcile(project_id, candidate)
        if reconciled.outcome == "duplicate":
            return Outcome(candidate, reconciled, fact=reconciled.target)
        pending = self.service.list_proposals(project_id)
        wanted = normalise(candidate.text)
        if any(normalise(p.text) == wanted for p in pending):  # already waiting in the inbox
            return Outcome(candidate, Reconciled("duplicate", reconciled.target, similarity=1.0))
        if candidate.explicit and reconciled.outcome == "add":
            fact = self.service.add_fact(
                project_id,
                candidate.text,
                candidate.kind,
                actor=Actor.USER,
                source=FactSource.CONVERSATION,
                source_message_id=source_message_id,
            )
            return Outcome(candidate, reconciled, fact=fact)
        # An older proposal giving the same thing another value is out of date: the newest
        # one replaces it, so the inbox never holds 45k, 48k and 52k for one budget.
        # A document states many values side by side (milestones, rates): none of them is a newer
        # value of another, nor of what was said in conversation. Only what is said supersedes.
        superseded = [] if source_document is not None else self._superseded_by(pending, candidate.text)
        # Only what was said later supersedes: an imported conversation of last year does not
        # replace what the user said this morning.
        superseded = [p for p in superseded if not self._said_before(source_message_id, p)]
        # What it replaces is said in full: a wrong guess can be seen, and the text added again.
        replaces = "".join(f" (replaces inbox #{p.id}: “{shortened(p.text)}”)" for p in superseded)
        if reconciled.outcome == "update":
            assert reconciled.target is not None
            old = reconciled.target
            verb = "Contradicts" if reconciled.contradicts else "Updates"
            reason = f"{verb} F{old.id}{replaces}: {word_diff(old.text, candidate.text)}"
            proposal = self.service.propose(
                project_id,
                ProposalAction.UPDATE,
                candidate.text,
                # A budget stays a budget: "Correction from Priya's email: …" is no contact.
                old.kind if old.kind is not FactKind.FACT else candidate.kind,
                target_fact_id=old.id,
                source_message_id=source_message_id,
                source_document=source_document,
                reason=reason,
            )
        else:
            proposal = self.service.propose(
                project_id,
                ProposalAction.ADD,
                candidate.text,
                candidate.kind,
                source_message_id=source_message_id,
                source_document=source_document,
                reason=("You asked to remember this" if candidate.explicit else origin) + replaces,
            )
        for old_proposal in superseded:
            try:
                self.service.reject_proposal(old_proposal.id)
            except InvalidInputError:  # decided meanwhile (the user, in the inbox): leave it so
                pass
        return self._maybe_accept(project_id, Outcome(candidate, reconciled, proposal=proposal))

    def _maybe_accept(self, project_id: int, outcome: Outcome) -> Outcome:
        if outcome.proposal is None or not self.auto_accept(project_id):
            return outcome
        fact = self.service.accept_proposal(outcome.proposal.id)
        return Outcome(outcome.candidate, outcome.reconciled, fact=fact, proposal=outcome.proposal)

    def _said_before(self, message_id: int | None, proposal: Proposal) -> bool:
        """Whether message ``message_id`` was said before the message ``proposal`` was read from."""
        if message_id is None or proposal.source_message_id is None:
            return False
        try:
            said = self.service.get_message(message_id).created_at
            earlier = self.service.get_message(proposal.source_message_id).created_at
        except NotFoundError:  # deleted meanwhile
            return False
        return said < earlier

    def _superseded_by(self, pending: Sequence[Proposal], text: str) -> list[Proposal]:
        """Of the pending add/update proposals, those that ``text`` gives a newer value for."""
        # The word checks first: only proposals that pass them are worth embedding.
        maybe = [
            p
            for p in pending
            if p.action is not ProposalAction.ARCHIVE
            and p.source_document_id is None
            and _gives_new_value(text, p.text)
        ]
        alike = self.service.similarity(text, [p.text for p in maybe])
        return [p for p, similarity in zip(maybe, alike, strict=True) if similarity >= NEW_VALUE_SIMILARITY]

    # ---------------------------------------------------------------- forget

    def forget(self, project_id: int, what: str, *, source_message_id: int | None = None) -> list[Outcome]:
        """Archives the fact that ``what`` clearly names, or proposes archiving the likely ones."""
        what = _clean_candidate(what)
        if not what:
            return []
        hits = self.service.search(project_id, what, k=8, mode=SearchMode.HYBRID)
        # Global facts belong to all projects; a forget in one project never touches them.
        facts = [h for h in hits if h.kind is HitKind.FACT and not h.is_global]
        facts.sort(key=lambda h: h.parts.similarity or 0.0, reverse=True)
        facts = [h for h in facts if (h.parts.similarity or 0.0) >= FORGET_MATCH * 0.75]
        candidate = Candidate(what, FactKind.FACT, explicit=True)
        if not facts:
            return []
        best = facts[0].parts.similarity or 0.0
        runner_up = (facts[1].parts.similarity or 0.0) if len(facts) > 1 else 0.0
        if best >= FORGET_MATCH and best - runner_up >= FORGET_MARGIN:
            fact = self.service.archive_fact(facts[0].fact_ids[0], actor=Actor.USER)
            return [Outcome(candidate, Reconciled("update", fact, similarity=best), fact=fact)]
        outcomes = []
        for hit in facts[:3]:
            proposal = self.service.propose(
                project_id,
                ProposalAction.ARCHIVE,
                target_fact_id=hit.fact_ids[0],
                source_message_id=source_message_id,
                reason=f"You asked to forget: {what}",
            )
            fact = self.service.get_fact(hit.fact_ids[0])
            outcomes.append(
                self._maybe_accept(
                    project_id,
                    Outcome(
                        candidate,
                        Reconciled("update", fact, similarity=hit.parts.similarity or 0.0),
                        proposal=proposal,
                    ),
                )
            )
        return outcomes


@dataclass(frozen=True)
class InboxEntry:
    """A pending proposal as the CLI and the window show it."""

    proposal: Proposal
    #: Why it was made, without the diff the reason may carry (``change`` has it, current).
    headline: str
    #: What accepting it does: "F12: [-old-] {+new+}", "forget F12: …", or the new fact.
    change: str
    #: The start of the message it came from, or "".
    source: str
    #: The fact an update or a forget would change, as it is now.
    target: Fact | None = None


def inbox_entries(service: MemoryService, project_id: int, snippet_chars: int = 160) -> list[InboxEntry]:
    """The project's pending proposals, each with its diff against the fact as it is now."""
    entries = []
    for p in service.list_proposals(project_id):
        target = service.get_fact(p.target_fact_id) if p.target_fact_id is not None else None
        current = target.text if target is not None else ""
        if p.action is ProposalAction.UPDATE:
            change = f"F{p.target_fact_id}: {word_diff(current, p.text)}"
        elif p.action is ProposalAction.ARCHIVE:
            change = f"forget F{p.target_fact_id}: {current}"
        else:
            change = p.text
        # The message is quoted as context for the proposal, never a password or key it held
        # (the proposal itself left that out already).
        source = shareable(service.get_message(p.source_message_id).content) if p.source_message_id is not None else ""
        if p.source_document_id is not None:
            document = service.get_document(p.source_document_id)
            source = f"{document.title} ({document.key} {p.source_location})".strip()
        if p.origin.startswith("mcp:"):
            source = f"via MCP, from {p.origin.removeprefix('mcp:')}" + (f": {source}" if source else "")
        headline = p.reason.split(":", 1)[0] if p.action is ProposalAction.UPDATE else p.reason
        entries.append(InboxEntry(p, headline, change, shortened(source, snippet_chars), target))
    return entries


def _complete_items(raw: str) -> list[object]:
    """The finished objects of a ``{"facts": [...`` answer that was cut off."""
    decoder = json.JSONDecoder(strict=False)
    position = raw.find("[")
    items: list[object] = []
    if position < 0:
        return items
    position += 1
    while True:
        while position < len(raw) and raw[position] in " \t\r\n,":
            position += 1
        if position >= len(raw) or raw[position] != "{":
            return items
        try:
            item, position = decoder.raw_decode(raw, position)
        except ValueError:
            return items
        items.append(item)


def _clean_candidate(text: str) -> str:
    text = " ".join(text.split()).strip(" \"'“”")
    return text[:1].upper() + text[1:] if text else ""


#: Below SAME_SUBJECT, a candidate still changes a fact when it gives the same thing a new value.
NEW_VALUE_SIMILARITY = 0.45
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
#: The values a thing can have, by kind: a new phone number does not replace an e-mail
#: address, nor a date an amount. A bare small number ("item 7", "phase 2") names a thing
#: rather than giving it a value, so it is none of them.
_VALUES = {
    "e-mail": re.compile(EMAIL, re.IGNORECASE),
    "phone": re.compile(r"\+\d[\d ()-]{6,}\d"),
    "amount": re.compile(
        r"[$€£¥]\s?\d[\d,.]*(?:\s?(?:k|m|bn)\b)?|"
        r"\b\d[\d,.]*\s?(?:%|(?:k|m|bn|eur|usd|gbp|chf|euros?|dollars?|pounds?)\b)|\b\d{1,3}(?:,\d{3})+\b",
        re.IGNORECASE,
    ),
    "date": re.compile(
        rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}|\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b",
        re.IGNORECASE,
    ),
}


_SCALES = {"k": 1e3, "m": 1e6, "bn": 1e9}


def _amount(written: str) -> str:
    """An amount as a number, however it is written: "45k", "45,000 EUR" and "€45,000" are one value."""
    number = re.search(r"\d[\d,.]*", written)
    assert number is not None
    digits = number.group(0).rstrip(".,")
    if "," in digits and "." in digits:
        # "4.500,00" and "4,500.00": the last mark is the decimal point, the other groups thousands.
        point = max(digits.rfind(","), digits.rfind("."))
        digits = digits[:point].replace(",", "").replace(".", "") + "." + digits[point + 1 :]
    elif re.fullmatch(r"\d{1,3}(?:,\d{3})+", digits) or re.fullmatch(r"\d{1,3}(?:\.\d{3}){2,}", digits):
        digits = digits.replace(",", "").replace(".", "")  # "45,000", "1.200.000"
    else:
        digits = digits.replace(",", ".")  # "3,5"
    try:
        value = float(digits)
    except ValueError:
        return "".join(written.casefold().split())
    unit = re.search(r"(bn|k|m|%)\s*$|(bn|k|m)\b", written[number.end() :].casefold())
    scale = (unit.group(1) or unit.group(2)) if unit else ""
    return f"{value * _SCALES.get(scale, 1):.6g}" + ("%" if scale == "%" else "")


def _as_figures(text: str) -> str:
    """``text`` with each amount written as its number: "45k EUR" and "EUR 45,000" both read "45000"."""
    return _VALUES["amount"].sub(lambda m: f" {_amount(m.group(0))} ", text)


def values_in(text: str) -> dict[str, set[str]]:
    """The values in ``text`` by kind (only the kinds it has): amounts as numbers, dates and addresses as written."""
    found = {
        kind: {_amount(v) if kind == "amount" else "".join(v.casefold().split()) for v in pattern.findall(text)}
        for kind, pattern in _VALUES.items()
    }
    return {kind: values for kind, values in found.items() if values}


def _new_value_for(candidate: str, fact: str, similarity: float) -> bool:
    """Whether ``candidate`` gives what ``fact`` is about a different amount, date or address.

    They must be alike by meaning (``similarity``), and :func:`_gives_new_value`.
    """
    return similarity >= NEW_VALUE_SIMILARITY and _gives_new_value(candidate, fact)


#: Words of when, not of what: two dated sentences sharing "Friday" or "November" are
#: about two things ("the review is on Friday", "the deposit was due last Friday").
_TIME_WORDS = frozenset(
    """monday tuesday wednesday thursday friday saturday sunday january february march april may june july
    august september october november december sept today tonight tomorrow yesterday week weeks weekend
    month months year years next last this morning afternoon evening night days quarter""".split()
)


def _gives_new_value(candidate: str, fact: str) -> bool:
    """Both carry a value of the same kind (amount, date, e-mail, phone), those values differ,
    and they share a word that names the thing (not a number, not a time): "budget", "Maria"."""
    values_new, values_old = values_in(candidate), values_in(fact)
    if not any(values_new[kind] != values_old[kind] for kind in values_new.keys() & values_old.keys()):
        return False
    shared = {
        w
        for w in content_words(candidate) & content_words(fact)
        if len(w) >= 4 and not any(c.isdigit() for c in w) and w not in _TIME_WORDS
    }
    return bool(shared)


def _restates(candidate: Candidate, others: Sequence[Candidate]) -> bool:
    """Whether the model's candidate only says again what a cued sentence says."""
    words = content_words(candidate.text)
    return any(words and len(words & content_words(o.text)) / len(words) >= 0.8 for o in others)


def learning_note(outcomes: Sequence[Outcome]) -> str:
    """What one turn taught, in a few words: "2 proposals in the inbox", "nothing new"."""
    proposed = sum(1 for o in outcomes if o.proposal is not None and o.fact is None)
    stored = sum(1 for o in outcomes if o.fact is not None and o.reconciled.outcome != "duplicate")
    known = sum(1 for o in outcomes if o.reconciled.outcome == "duplicate")
    secrets = sum(1 for o in outcomes if o.reconciled.outcome == "secret")
    parts = []
    if proposed:
        parts.append(f"{proposed} proposal{'s' if proposed != 1 else ''} in the inbox")
    if stored:
        parts.append(f"{stored} fact{'s' if stored != 1 else ''} remembered")
    if known and not parts:
        parts.append("already known")
    if secrets:
        parts.append(f"{secrets} left out: {'it looks' if secrets == 1 else 'they look'} like a password or key")
    return ", ".join(parts) or "nothing new"


def describe(outcomes: Sequence[Outcome]) -> str:
    """A one-line confirmation for the chat, e.g. after ``/remember``."""
    if not outcomes:
        return "I found nothing in memory to change."
    lines = []
    for o in outcomes:
        if o.proposal is not None and o.fact is None:
            lines.append(f"Proposed for your review (inbox #{o.proposal.id}): {o.proposal.reason}")
        elif o.reconciled.outcome == "duplicate" and o.fact is not None:
            lines.append(f"Already in memory as F{o.fact.id}.")
        elif o.fact is not None and o.fact.status.value == "archived":
            lines.append(f"Forgotten: F{o.fact.id} (restorable from its history).")
        elif o.fact is not None:
            lines.append(f"Remembered as F{o.fact.id}: {o.fact.text}")
    return " ".join(lines)


__all__ = [
    "EXTRACTION_SCHEMA",
    "Candidate",
    "ExtractionFailed",
    "InboxEntry",
    "MemoryExtractor",
    "Outcome",
    "Reconciled",
    "inbox_entries",
    "learning_note",
]
