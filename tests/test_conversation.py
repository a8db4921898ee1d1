"""The conversation flow, extraction and summaries over a real memory service.

The model is a deterministic fake behind the TextModel interface, except
where a test says it uses the real default model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from app.assistant.conversation import ContextReady, ConversationFlow, Token, TurnResult, session_title
from app.assistant.extraction import MemoryExtractor, word_diff
from app.assistant.summaries import SessionSummarizer, extractive_summary
from app.assistant.voice import learn_voice
from app.errors import InputRefused
from app.llm.engine import CancelToken, EngineError, GenerationSettings, LocalEngine
from app.llm.prompt_format import ChatTurn
from memory import FactStatus, MemoryService, ProposalAction, Role
from tests.fakes import FakeModel


@pytest.fixture
def project(service: MemoryService) -> int:
    p = service.create_project("Acme")
    service.add_fact(p.id, "The Q3 report is due on 14 September.", "deadline", pinned=True)
    service.add_fact(p.id, "The main contact at Acme is Jane Doe, head of logistics.", "contact")
    service.add_fact(p.id, "Acme runs three warehouses near the port of Rotterdam.")
    return p.id


def test_a_turn_streams_and_stores_both_messages_with_the_memory_it_used(service: MemoryService, project: int) -> None:
    model = FakeModel()
    session = service.start_session(project)
    flow = ConversationFlow(service, model)
    events = list(flow.run_turn(session.id, "Who is the main contact at Acme?"))
    flow.close()
    assert isinstance(events[0], ContextReady) and isinstance(events[-1], TurnResult)
    tokens = [e.text for e in events if isinstance(e, Token)]
    assert len(tokens) > 3 and "".join(tokens) == "You said: Who is the main contact at Acme?"
    prompt = model.rendered()
    assert "Jane Doe" in prompt and "14 September" in prompt  # retrieved and pinned memory
    user, assistant = service.list_messages(session.id)
    assert (user.role, assistant.role) == (Role.USER, Role.ASSISTANT)
    assert assistant.content == events[-1].text
    assert "fact:1" in assistant.context_item_keys and "fact:2" in assistant.context_item_keys
    assert events[-1].report.memory_keys == assistant.context_item_keys


def test_the_prompt_prefix_stays_stable_from_turn_to_turn(service: MemoryService, project: int) -> None:
    model = FakeModel()
    session = service.start_session(project)
    flow = ConversationFlow(service, model)
    flow.ask(session.id, "Who is the main contact at Acme?")
    service.add_fact(project, "The brand colour of Acme is teal.")
    flow.ask(session.id, "What is the brand colour of Acme?")
    flow.close()
    first, second = model.prompts
    assert second[: len(first)] == first  # turn 1's prompt, unchanged, is turn 2's prefix
    # The new memory sits next to the new message; what turn 1 was given is not repeated,
    # nor are this session's own messages, which are in the history already.
    assert "teal" in second[-1].notes and "teal" not in second[0].content
    assert "Jane Doe" not in second[-1].notes and "M1" not in second[-1].notes


def test_sessions_left_out_of_the_prompt_cache_come_back_from_sqlite(service: MemoryService, project: int) -> None:
    from app.assistant.conversation import CACHED_SESSIONS

    model = FakeModel()
    flow = ConversationFlow(service, model)
    try:
        first = service.start_session(project)
        flow.ask(first.id, "The kickoff with Globex is on Monday the 3rd.")
        for n in range(CACHED_SESSIONS + 2):  # more sessions than the cache keeps
            flow.ask(service.start_session(project).id, f"Unrelated question {n}")
        assert len(flow._sessions) == CACHED_SESSIONS
        flow.ask(first.id, "When is the kickoff?")
    finally:
        flow.close()
    assert "The kickoff with Globex is on Monday the 3rd." in model.rendered()  # rebuilt, history intact


def test_history_is_dropped_before_the_new_message(service: MemoryService, project: int) -> None:
    model = FakeModel(context_length=400)
    session = service.start_session(project)
    flow = ConversationFlow(service, model, generation=GenerationSettings(max_tokens=50))
    for i in range(12):
        result = flow.ask(session.id, f"Note number {i}: " + "details " * 20)
        assert result.report.prompt_tokens <= 350
    assert result.report.dropped_turns > 0 or any("Earlier in this session" in t.content for t in model.prompts[-1])
    assert model.prompts[-1][-1].content.startswith("Note number 11:")
    with pytest.raises(InputRefused, match="too long"):
        list(flow.run_turn(session.id, "word " * 600))
    flow.close()
    assert len(service.list_messages(session.id)) == 24  # the refused message stored nothing


def test_cancel_stores_the_partial_answer_and_failure_stores_nothing(service: MemoryService, project: int) -> None:
    session = service.start_session(project)
    slow = FakeModel(lambda turns, s: "one two three four five six seven eight nine ten", delay=0.05)
    flow = ConversationFlow(service, slow)
    cancel = CancelToken()
    seen = []
    for event in flow.run_turn(session.id, "Tell me a story", cancel):
        if isinstance(event, Token):
            seen.append(event.text)
            if len(seen) == 3:
                cancel.cancel()
        if isinstance(event, TurnResult):
            result = event
    flow.close()
    slow.close()
    assert result.cancelled and result.text == "one two three"
    assert [m.content for m in service.list_messages(session.id)] == ["Tell me a story", "one two three"]

    failing = ConversationFlow(service, FakeModel(fail=True))
    with pytest.raises(EngineError):
        list(failing.run_turn(session.id, "Are you there?"))
    failing.close()
    assert len(service.list_messages(session.id)) == 2


def _json_script(payload: dict) -> FakeModel:
    def script(turns: Sequence[ChatTurn], settings: GenerationSettings) -> str:
        if settings.json_schema is not None:
            return json.dumps(payload)
        return "Noted."

    return FakeModel(script)


def test_extraction_proposes_grounded_facts_with_provenance(service: MemoryService, project: int) -> None:
    model = _json_script(
        {
            "facts": [
                {"text": "The client likes the blue logo best", "kind": "preference"},
                {"text": "Acme plans to open an office on Mars", "kind": "fact"},  # not in the message
                {"text": "Who knows?", "kind": "note"},
            ]
        }
    )
    session = service.start_session(project)
    flow = ConversationFlow(service, model, listeners=[MemoryExtractor(service, model)])
    # No cue in it (no date, amount, name or event): only the model finds this one.
    result = flow.ask(session.id, "Honestly the client likes the blue logo best.")
    assert result.background.result() == ("1 proposal in the inbox",)
    proposals = service.list_proposals(project)
    assert [p.text for p in proposals] == ["The client likes the blue logo best"]
    assert proposals[0].source_message_id == result.user_message.id
    fact = service.accept_proposal(proposals[0].id)
    assert fact.source_message_id == result.user_message.id and fact.source_session_id == session.id
    # Where the cues and the model find the same thing, it is proposed once, in the user's words.
    model.script = _json_script(
        {"facts": [{"text": "Acme's budget for the rebrand is 40,000 euros", "kind": "fact"}]}
    ).script
    result = flow.ask(session.id, "Good news: Acme's budget for the rebrand is 40,000 euros.")
    assert result.background.result() == ("1 proposal in the inbox",)
    flow.close()
    assert [p.text for p in service.list_proposals(project)] == ["Acme's budget for the rebrand is 40,000 euros."]


def test_reconciliation_duplicates_updates_and_contradictions(service: MemoryService, project: int) -> None:
    extractor = MemoryExtractor(service)
    from app.assistant.extraction import Candidate
    from memory import FactKind

    dup = extractor.apply(project, Candidate("The Q3 report is due on 14 September.", FactKind.DEADLINE), None)
    assert dup.reconciled.outcome == "duplicate" and dup.proposal is None
    changed = extractor.apply(project, Candidate("The Q3 report is due on 30 September.", FactKind.DEADLINE), None)
    assert changed.reconciled.outcome == "update" and changed.reconciled.contradicts
    assert changed.proposal.action is ProposalAction.UPDATE and changed.proposal.target_fact_id == 1
    assert "“14” → “30”" in changed.proposal.reason and changed.proposal.reason.startswith("Contradicts F1")
    new = extractor.apply(project, Candidate("The CEO of Acme enjoys sailing on weekends.", FactKind.FACT), None)
    assert new.reconciled.outcome == "add" and new.proposal.action is ProposalAction.ADD
    # The same proposal twice is filed once.
    again = extractor.apply(project, Candidate("The CEO of Acme enjoys sailing on weekends.", FactKind.FACT), None)
    assert again.proposal is None and len(service.list_proposals(project)) == 2
    assert service.get_fact(1).text == "The Q3 report is due on 14 September."  # nothing rewritten silently


def test_explicit_instructions_and_auto_accept(service: MemoryService, project: int) -> None:
    model = FakeModel()
    session = service.start_session(project)
    extractor = MemoryExtractor(service, None, auto_accept=lambda pid: pid == project)
    flow = ConversationFlow(service, model, listeners=[extractor], commands=extractor)
    remembered = flow.ask(session.id, "/remember Jane prefers phone calls on Tuesdays")
    assert remembered.text.startswith("Remembered as F4") and model.prompts == []  # no model for commands
    fact = service.get_fact(4)
    assert fact.source_message_id == remembered.user_message.id and fact.kind.value == "preference"
    natural = flow.ask(session.id, "Please remember that the kickoff is in Utrecht.")
    natural.background.result()
    assert any(f.text == "The kickoff is in Utrecht." for f in service.list_facts(project))
    forgot = flow.ask(session.id, "/forget Jane prefers phone calls on Tuesdays")
    flow.close()
    assert forgot.text.startswith("Forgotten: F4") and service.get_fact(4).status is FactStatus.ARCHIVED
    # An update to a known fact goes through the inbox, auto-accepted for this project.
    outcome = extractor.process(
        project, service.add_message(session.id, "user", "remember that the Q3 report is due on 21 September")
    )
    assert outcome[0].fact is not None and outcome[0].fact.text == "The Q3 report is due on 21 September"
    assert service.fact_history(1)[-1].text == "The Q3 report is due on 21 September"


def test_summaries_extractive_and_map_reduce(service: MemoryService, project: int) -> None:
    session = service.start_session(project)
    lines = [
        ("user", "The client wants the rebrand live by 1 March."),
        ("assistant", "Understood, I will plan backwards from 1 March."),
        ("user", "Jane Doe approved a budget of 40,000 euros for the rebrand."),
        ("user", "The warehouse photos must be reshot in Rotterdam."),
    ] * 6
    for role, text in lines:
        service.add_message(session.id, role, text)
    extractive = extractive_summary(service.list_messages(session.id))
    assert "40,000" in extractive and "1 March" in extractive
    calls: list[str] = []

    def script(turns: Sequence[ChatTurn], settings: GenerationSettings) -> str:
        calls.append(turns[0].content[:20])
        return "Jane Doe approved a budget of 40,000 euros; the rebrand is due 1 March in Rotterdam."

    summarizer = SessionSummarizer(service, FakeModel(script, context_length=300), every_messages=10)
    due = service.sessions_to_summarize(idle_before=service.get_session(session.id).started_at, min_new_messages=10)
    assert [s.id for s in due] == [session.id]
    summarized = summarizer.summarize(session.id)
    assert len(calls) > 2, "a long session is summarised in chunks, then merged"
    assert "40,000" in summarized.summary and not summarized.summary_is_stale
    assert service.sessions_to_summarize(idle_before=summarized.started_at, min_new_messages=1) == []
    hits = service.search(project, "rebrand budget approved")
    assert any(h.key == f"summary:{session.id}" for h in hits)
    # An ungrounded model summary is replaced by the extractive one.
    made_up = SessionSummarizer(service, FakeModel(lambda t, s: "Zebras dance quietly under purple moons."))
    assert "40,000" in made_up.summarize(session.id).summary
    # A session of questions only still says what it was about; answers never count.
    asked = service.start_session(service.create_project("Questions only").id)
    service.add_message(asked.id, "user", "What is the notice period for termination in the SOW?")
    service.add_message(asked.id, "assistant", "10 days.")
    assert extractive_summary(service.list_messages(asked.id)) == (
        "Asked: What is the notice period for termination in the SOW?"
    )


def test_learn_voice_from_samples(service: MemoryService, project: int) -> None:
    samples = [
        "Hi Jane,\nQuick update: the photos are done. We're on track!\nCheers,\nTom",
        "Hi Jane,\nThe budget's approved. We're starting Monday!\nCheers,\nTom",
    ]
    profile = learn_voice(project, samples)
    assert profile.tone == "friendly and conversational"
    assert any("Hi Jane" in rule for rule in profile.style_do) and any("Cheers" in r for r in profile.style_do)
    assert profile.samples == tuple(s.strip() for s in samples)
    assert service.get_voice(project).is_empty  # a proposal only; nothing saved
    with pytest.raises(InputRefused):
        learn_voice(project, ["   "])


def test_learned_voice_keeps_only_what_the_samples_show(project: int, local_engine: LocalEngine) -> None:
    # Curly apostrophes, as pasted from a mail client; the greeting and sign-off share lines with text.
    samples = [
        "Hi Sam, we’re on track for Friday. It’s been a busy week, but we’ll get the drafts to you by Thursday. "
        "Let’s chat if anything’s unclear. Cheers, Ana",
        "Hey team, quick one: we’ve moved the review to Monday. Don’t worry about the slides, I’ll handle them. "
        "Cheers, Ana",
        "Hi Sam, thanks for the notes! We’re updating the copy now and you’ll have it tomorrow. Cheers, Ana",
    ]
    instructed = _json_script(
        {
            "tone": "...",
            "do": ["...", "Be concise and concrete", "Use exclamation marks freely"],
            "dont": ["...", "Avoid contractions", "string"],
            "vocabulary": ["...", "drafts", "synergy"],
        }
    )
    for model in (None, local_engine, instructed):  # the bundled base model, then one that fills in junk
        profile = learn_voice(project, samples, model)
        rules = [*profile.style_do, *profile.style_dont]
        assert profile.tone == "friendly and conversational", model
        assert "Use contractions (we're, it's)" in profile.style_do
        assert not any("..." in r or r == "string" for r in rules), rules
        assert not any("avoid contractions" in r.casefold() or "exclamation marks freely" in r for r in rules), rules
        assert 'Open with "Hi Sam"' in profile.style_do and 'Sign off with "Cheers, Ana"' in profile.style_do
        assert "..." not in profile.vocabulary and "synergy" not in profile.vocabulary
    assert "Be concise and concrete" in profile.style_do and "drafts" in profile.vocabulary  # the instructed model's
    instructed.close()


def test_real_default_model_turn_with_memory(service: MemoryService, project: int, local_engine: LocalEngine) -> None:
    session = service.start_session(project)
    flow = ConversationFlow(
        service, local_engine, generation=GenerationSettings(max_tokens=40, seed=4), memory_budget_tokens=300
    )
    first = flow.ask(session.id, "When is the Q3 report due?")
    second = flow.ask(session.id, "Who is the main contact?")
    flow.close()
    assert first.text and second.text and "Consultant:" not in second.text
    assert second.stats.cached_prompt_tokens >= first.stats.prompt_tokens * 0.8
    assert len(service.list_messages(session.id)) == 4


def test_only_statements_are_read_for_facts() -> None:
    from app.assistant.text import states_something

    assert not states_something("When is the Q3 report due? And who signs it?")
    assert not states_something("Hi!")
    assert states_something("Thanks. The launch moved to 3 April. Can you update the plan?")


def test_word_diff() -> None:
    assert word_diff("due on 14 September", "due on 30 September") == "due on “14” → “30” September"


def test_an_unclear_forget_asks_instead_of_archiving(service: MemoryService, project: int) -> None:
    service.add_fact(project, "Jane Doe prefers phone calls in the morning.")
    service.add_fact(project, "Jane Doe prefers phone calls on Fridays.")
    extractor = MemoryExtractor(service)
    outcomes = extractor.forget(project, "Jane Doe prefers phone calls")
    assert outcomes and all(o.proposal is not None and o.proposal.action is ProposalAction.ARCHIVE for o in outcomes)
    assert all(f.status is FactStatus.ACTIVE for f in service.list_facts(project))
    assert extractor.forget(project, "the colour of the sky on Neptune") == []


def test_sessions_are_summarised_when_ended_idle_or_grown(service: MemoryService, project: int) -> None:
    from datetime import UTC, datetime, timedelta

    summarizer = SessionSummarizer(service, None, idle_minutes=30, every_messages=4)
    grown = service.start_session(project)
    flow = ConversationFlow(service, FakeModel(), listeners=[summarizer])
    first = flow.ask(grown.id, "The launch moved to 3 April because of the printer.")
    first.background.result()
    assert service.get_session(grown.id).summary == ""  # two messages: not grown yet
    second = flow.ask(grown.id, "Jane Doe signed the 40,000 euro budget today.")
    second.background.result()
    flow.close()
    assert "3 April" in service.get_session(grown.id).summary  # grown to four messages
    ended = service.start_session(project)
    service.add_message(ended.id, "user", "The warehouse photos are due on 9 May.")
    idle = service.start_session(project)
    old = datetime.now(UTC) - timedelta(hours=2)
    service.add_message(idle.id, "user", "Budget review with finance happens monthly.", created_at=old)
    summarizer.close_session(ended.id)
    assert "9 May" in service.get_session(ended.id).summary
    done = summarizer.summarize_due()
    assert [s.id for s in done] == [idle.id] and "monthly" in done[0].summary
    assert summarizer.summarize_due() == []


def test_a_cut_off_extraction_keeps_its_finished_items() -> None:
    message = "Jane Doe approved the budget of 40,000 euros and the launch is on 3 April."
    raw = '{"facts": [{"text": "Jane Doe approved the budget of 40,000 euros", "kind": "decision"}, {"text": "The lau'
    candidates = MemoryExtractor.parse_candidates(raw, message)
    assert [c.text for c in candidates] == ["Jane Doe approved the budget of 40,000 euros"]
    assert MemoryExtractor.parse_candidates("not json", message) == []


def test_asking_again_answers_anew_without_posting_the_question_twice(service: MemoryService, project: int) -> None:
    answers = iter(["The first answer.", "A better answer.", "Next one."])
    model = FakeModel(lambda turns, settings: next(answers))
    session = service.start_session(project)
    flow = ConversationFlow(service, model)
    first = flow.ask(session.id, "When is the launch?")
    again = None
    for event in flow.run_turn(session.id, "When is the launch?", again=True):
        if isinstance(event, TurnResult):
            again = event
    assert again is not None and again.text == "A better answer." and again.background is None
    assert again.user_message.id == first.user_message.id
    assert "The first answer." not in " ".join(t.content for t in model.prompts[-1])
    with pytest.raises(InputRefused, match="last question"):
        list(flow.run_turn(session.id, "Something else?", again=True))
    flow.ask(session.id, "And the budget?")
    history = " ".join(t.content for t in model.prompts[-1])
    assert "A better answer." in history and "The first answer." not in history
    flow.close()
    stored = [(m.role.value, m.content) for m in service.list_messages(session.id)]
    assert stored[:3] == [
        ("user", "When is the launch?"),
        ("assistant", "The first answer."),
        ("assistant", "A better answer."),
    ]
    # Rebuilt from SQLite (a restart), the prompt still holds the later answer only.
    rebuilt = FakeModel(lambda turns, settings: "ok")
    fresh = ConversationFlow(service, rebuilt)
    fresh.ask(session.id, "Thanks")
    fresh.close()
    history = " ".join(t.content for t in rebuilt.prompts[-1])
    assert "A better answer." in history and "The first answer." not in history


def test_a_first_turn_starts_its_session_and_says_so(service: MemoryService, project: int) -> None:
    from app.assistant.conversation import SessionStarted

    flow = ConversationFlow(service, FakeModel(lambda t, s: "Hello."))
    before = len(service.list_sessions(project))
    with pytest.raises(InputRefused):
        list(flow.run_first_turn(project, "   "))
    assert len(service.list_sessions(project)) == before  # nothing started for nothing
    events = list(flow.run_first_turn(project, "  Kickoff   agenda for Acme: budget, launch and the\nposters " * 2))
    flow.close()
    assert isinstance(events[0], SessionStarted) and isinstance(events[-1], TurnResult)
    session = events[0].session
    assert session.title == "Kickoff agenda for Acme: budget, launch and the posters…"  # cut at a word
    assert [m.session_id for m in (events[-1].user_message, events[-1].assistant_message)] == [session.id] * 2


def test_a_session_title_is_the_first_message_cut_at_a_word() -> None:
    assert session_title("  When is the   Q3 report due? ") == "When is the Q3 report due?"
    long = "How much notice do we need to give if we want to end the Acme Logistics contract early?"
    title = session_title(long)
    assert title == "How much notice do we need to give if we want to end the…"
    assert len(title) <= 60 and long.startswith(title[:-1])
    assert session_title("x" * 80) == "x" * 59 + "…"  # one endless word is cut where it must be
    # A first message that is a command names what it asked for, not the command.
    assert session_title("/forget Sarah's holiday") == "Forget: Sarah's holiday"
    assert session_title("/remember Dana prefers calls") == "Remember: Dana prefers calls"


def test_a_secret_said_in_passing_stays_out_of_summaries_and_titles(service: MemoryService, project: int) -> None:
    said = "The Acme VPN password is Tr0ub4dor-2026 and the IBAN for invoices is DE89 3704 0044 0532 0130 00."
    assert session_title(said) == "Untitled session"
    session = service.start_session(project, session_title(said))
    for text in (said, "The client wants the rebrand live by 1 March.", "Jane Doe approved a budget of 40,000 euros."):
        service.add_message(session.id, "user", text)
    assert "Tr0ub4dor" not in extractive_summary(service.list_messages(session.id))

    def repeating(turns: Sequence[ChatTurn], settings: GenerationSettings) -> str:
        return "The VPN password is Tr0ub4dor-2026. Jane Doe approved 40,000 euros for a rebrand live by 1 March."

    summary = SessionSummarizer(service, FakeModel(repeating)).summarize(session.id).summary
    assert "Tr0ub4dor" not in summary and "40,000 euros" in summary


def test_a_remote_model_is_never_sent_a_password_recalled_from_memory(service: MemoryService, project: int) -> None:
    """The user's own message is theirs to send; a password from an old session, recalled as memory, is not."""
    old = service.start_session(project, "Staging")
    service.add_message(
        old.id, "user", "The staging server password is Tulip-4471. The staging server is in Frankfurt."
    )
    for leaves, shown in ((False, True), (True, False)):
        model = FakeModel()
        model.leaves_the_machine = leaves  # type: ignore[misc]
        flow = ConversationFlow(service, model)
        list(flow.run_turn(service.start_session(project).id, "Where is the staging server?"))
        flow.close()
        prompt = model.rendered()
        assert "Frankfurt" in prompt
        assert ("Tulip-4471" in prompt) is shown
        assert ("[left out: a password or key]" in prompt) is not shown


def test_a_summary_written_while_a_message_is_deleted_does_not_keep_it(service: MemoryService, project: int) -> None:
    """The summary is written again without the message, not stored with it."""
    session = service.start_session(project)
    pasted = service.add_message(session.id, "user", "The acquisition target is Zephyrion GmbH, keep it quiet.")
    service.add_message(session.id, "user", "The launch moved to 3 June because of the audit.")
    calls: list[int] = []

    def script(turns: Sequence[ChatTurn], settings: GenerationSettings) -> str:
        calls.append(1)
        if len(calls) == 1:
            service.delete_message(pasted.id)  # deleted while the model writes the summary
        prompt = " ".join(t.content for t in turns)
        return ("Zephyrion GmbH is the target; " if "Zephyrion" in prompt else "") + "the launch moved to 3 June."

    summarized = SessionSummarizer(service, FakeModel(script)).summarize(session.id)
    assert "3 June" in summarized.summary and "Zephyrion" not in summarized.summary
    assert "Zephyrion" not in service.get_session(session.id).summary
