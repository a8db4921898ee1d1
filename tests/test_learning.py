"""Automatic learning without a capable model: cues in the user's words become proposals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from app.assistant.candidates import dated, find_candidates
from app.assistant.conversation import ConversationFlow
from app.assistant.extraction import MemoryExtractor, inbox_entries
from app.assistant.text import holds_secret, leave_out_secrets
from app.llm.engine import GenerationSettings
from app.llm.prompt_format import ChatTurn
from memory import FactKind, MemoryService
from tests.fakes import FakeModel

#: What a consultant tells the assistant in a first week, and what they say around it.
STATEMENTS = {
    "The budget for phase two is 40,000 EUR, approved by their CFO.": FactKind.DECISION,
    "We are launching the new site on 3 March.": FactKind.DEADLINE,  # a dated event: the brief's timeline
    "Our new contact at Acme is Dana Fischer, dana.fischer@acme.example.": FactKind.CONTACT,
    "I'm on holiday from 10 to 24 August, so no calls then.": FactKind.FACT,
    "Dana prefers short emails over calls.": FactKind.PREFERENCE,
}
SMALL_TALK = [
    "Thanks, that sounds great!",
    "How are you doing today?",
    "Can you draft an email to Dana about the launch?",
    "That is really helpful, thank you so much.",
    "Ok.",
]


@pytest.fixture()
def project(service: MemoryService) -> int:
    return service.create_project("Acme").id


def test_cues_find_statements_and_leave_small_talk(service: MemoryService) -> None:
    for message, kind in STATEMENTS.items():
        found = find_candidates(message)
        assert [c.text for c in found] == [message], message  # the user's words, never rewritten
        assert found[0].kind is kind, message
    for message in SMALL_TALK:
        assert find_candidates(message) == [], message


def test_a_greeting_before_a_statement_is_left_out_and_questions_are_skipped() -> None:
    found = find_candidates("Hey Nate! Good news: Acme's budget for the rebrand is 40,000 euros. Any plans?")
    assert [c.text for c in found] == ["Acme's budget for the rebrand is 40,000 euros."]


def test_statements_without_their_i_are_found_too() -> None:
    # Chat drops the subject: these are the user speaking of themselves all the same.
    for message in (
        "Been tweaking the onboarding deck to make it shorter.",
        "Still working on the Acme proposal, due next Friday.",
        "Went to the Ghent warehouse yesterday with Dana.",
        "Finally signed up for the Lisbon conference in May.",
    ):
        assert [c.text for c in find_candidates(message)] == [message], message
    for message in ("Went well, thanks!", "Got it.", "Sounds like a plan to me."):
        assert find_candidates(message) == [], message


def test_a_weekday_or_a_day_of_the_month_alone_gets_its_date_too() -> None:
    sunday = datetime(2026, 11, 29, 10, tzinfo=UTC)
    assert dated("The SOW is due Friday.", sunday) == "The SOW is due Friday (4 December 2026)."
    assert dated("I met Dana on Friday.", sunday) == "I met Dana on Friday (27 November 2026)."  # told as done
    assert dated("Henrik is back on the 14th.", sunday) == "Henrik is back on the 14th (14 December 2026)."
    # A return is ahead unless it is itself told as done, whatever the sentence said before it.
    assert dated("Sarah was on holiday, back on the 6th.", sunday).endswith("the 6th (6 December 2026).")
    assert dated("Dana had surgery, back on Monday.", sunday).endswith("Monday (30 November 2026).")
    assert dated("Sarah came back on the 6th.", sunday).endswith("the 6th (6 November 2026).")
    assert dated("Pay by the 31st.", sunday) == "Pay by the 31st (31 December 2026)."  # November has no 31st
    assert dated("We went there on the 30th.", sunday) == "We went there on the 30th (30 October 2026)."
    # What the words right before the day say decides, not a verb elsewhere in the sentence.
    assert dated("We signed the SOW and the invoice is due Friday.", sunday).endswith("Friday (4 December 2026).")
    assert dated("The Q1 review was on the 14th.", sunday) == "The Q1 review was on the 14th (14 November 2026)."
    assert dated("Markus emailed me on Tuesday.", sunday) == "Markus emailed me on Tuesday (24 November 2026)."
    assert dated("The office is closed on the 24th.", sunday) == "The office is closed on the 24th (24 December 2026)."
    assert dated("It was signed and work starts on Monday.", sunday).endswith("Monday (30 November 2026).")
    assert dated("Dana is on leave since the 20th.", sunday).endswith("the 20th (20 November 2026).")
    assert dated("We met the day before yesterday.", sunday).endswith("yesterday (27 November 2026).")
    unchanged = ("The launch is on the 14th of March.", "The 2nd floor is closed.", "Friday was fun.")
    unchanged += ("Meet on the 4th floor.", "Pay on the 15th of each month.", "Call on Friday the 11th.")
    unchanged += ("The workshop is on Friday 11 December.",)
    for text in unchanged:
        assert dated(text, sunday) == text, text


def test_a_kick_off_note_gives_each_of_its_statements_apart_and_requests_are_not_memories() -> None:
    """A consultant's note states a budget, a deadline, a contact and a wish at once: each is a memory of its own."""
    sunday = datetime(2026, 11, 29, 10, tzinfo=UTC)
    note = (
        "Kick-off notes for Globex. Our budget is 12k USD excluding VAT, and the audit report is due on "
        "30 January 2027. The main contact is Hank Scorpio. Hank wants weekly status emails on Mondays."
    )
    found = [(c.text, c.kind) for c in find_candidates(note, sunday)]
    assert found == [
        ("Our budget is 12k USD excluding VAT.", FactKind.FACT),
        ("The audit report is due on 30 January 2027.", FactKind.DEADLINE),
        ("The main contact is Hank Scorpio.", FactKind.CONTACT),
        ("Hank wants weekly status emails on Mondays.", FactKind.PREFERENCE),
    ]
    update = find_candidates("Update from Jane: the budget is now 50k EUR, and the launch moves to 1 April 2027.")
    assert [c.text for c in update] == ["The budget is now 50k EUR.", "The launch moves to 1 April 2027."]
    # One statement with two parts stays one; what the user asks of the assistant is no memory.
    assert [c.text for c in find_candidates("I met Dana and her CFO in Ghent on Friday.", sunday)] == [
        "I met Dana and her CFO in Ghent on Friday (27 November 2026)."
    ]
    for request in ("Help me with tagline ideas for Acme Rebrand.", "Please write the kick-off agenda for Monday."):
        assert find_candidates(request, sunday) == [], request
    assert [c.kind for c in find_candidates("Jane said the tagline must stay under 6 words.")] == [FactKind.PREFERENCE]


def test_who_holds_a_role_is_proposed_and_an_emails_header_lines_are_not() -> None:
    found = find_candidates("Henrik is the real decision maker on the budget, not Dana.")
    assert [c.text for c in found] == ["Henrik is the real decision maker on the budget, not Dana."]
    header = "From: Dana Weber <dana@acme.example>\nTo: Priya Raman <priya@acme.example>\nDate: Tue, 06 May 2025"
    assert find_candidates(header, about_anyone=True) == []


def test_relative_dates_get_the_date_they_meant() -> None:
    sunday = datetime(2026, 11, 29, 10, tzinfo=UTC)
    assert dated("I met their CMO yesterday.", sunday) == "I met their CMO yesterday (28 November 2026)."
    assert dated("The audit was last month.", sunday) == "The audit was last month (October 2026)."
    assert dated("We sign next week.", sunday) == "We sign next week (week of 30 November 2026)."
    assert dated("Nothing relative here.", sunday) == "Nothing relative here."
    jan = datetime(2027, 1, 5, tzinfo=UTC)
    assert dated("Fees rose last month", jan) == "Fees rose last month (December 2026)"
    found = find_candidates("I went to the Acme offices yesterday and met their new CMO.", sunday)
    assert found[0].text == "I went to the Acme offices yesterday (28 November 2026) and met their new CMO."


def test_ordinary_messages_reach_the_inbox_with_a_note_per_turn(service: MemoryService, project: int) -> None:
    # The bundled model is a tiny base model: it answers the extraction prompt with nothing.
    def empty_extraction(turns: Sequence[ChatTurn], settings: GenerationSettings) -> str:
        return '{"facts": []}' if settings.json_schema is not None else "Noted."

    model = FakeModel(empty_extraction)
    session = service.start_session(project)
    flow = ConversationFlow(service, model, listeners=[MemoryExtractor(service, model)])
    notes = {}
    try:
        for message in [*STATEMENTS, *SMALL_TALK]:
            result = flow.ask(session.id, message)
            assert result.background is not None
            notes[message] = result.background.result()
    finally:
        flow.close()
    proposals = service.list_proposals(project)
    assert sorted(p.text for p in proposals) == sorted(STATEMENTS)
    assert all(p.source_message_id is not None for p in proposals)
    for message in STATEMENTS:
        assert notes[message] == ("1 proposal in the inbox",), message
    for message in SMALL_TALK:
        assert notes[message] == ("nothing new",), message
    # Said again, it is not filed twice.
    again = MemoryExtractor(service, None).process(
        project, service.add_message(session.id, "user", *list(STATEMENTS)[:1])
    )
    assert again and again[0].proposal is None and len(service.list_proposals(project)) == len(STATEMENTS)


def test_a_failing_model_is_reported_and_the_cues_are_kept(service: MemoryService, project: int) -> None:
    model = FakeModel(fail=True)
    extractor = MemoryExtractor(service, model)
    session = service.start_session(project)
    user = service.add_message(session.id, "user", "We decided to drop the print campaign.")
    assistant = service.add_message(session.id, "assistant", "Noted.")
    note = extractor.after_turn(project, session.id, user, assistant)
    model.close()
    assert note.startswith("1 proposal in the inbox; the model step was skipped: ")
    assert [p.text for p in service.list_proposals(project)] == ["We decided to drop the print campaign."]


def test_what_a_new_user_said_in_a_first_week_is_found_and_secrets_are_not() -> None:
    sunday = datetime(2026, 11, 29, 10, tzinfo=UTC)
    found = {
        message: [(c.text, c.kind) for c in find_candidates(message, sunday)]
        for message in (
            "The print shop needs the files by next Friday.",
            "The steering committee meets every first Monday of the month.",
            "Don't forget: the poster deadline is 21 February.",
            "The Wi-Fi password at their office is Acme2027!",
            "Their API key for the staging server is sk-123456.",
        )
    }
    assert found["The print shop needs the files by next Friday."] == [
        ("The print shop needs the files by next Friday (4 December 2026).", FactKind.DEADLINE)
    ]
    assert found["The steering committee meets every first Monday of the month."]
    assert found["Don't forget: the poster deadline is 21 February."] == [
        ("The poster deadline is 21 February.", FactKind.DEADLINE)
    ]
    assert found["The Wi-Fi password at their office is Acme2027!"] == []
    assert found["Their API key for the staging server is sk-123456."] == []
    assert dated("I saw them last Saturday.", sunday) == "I saw them last Saturday (28 November 2026)."


def test_dated_things_said_in_passing_are_found_and_dated() -> None:
    """What a new user said and got "nothing new" for, or a fact cut at "Dr.", or a date left undated."""
    sunday = datetime(2026, 11, 29, 10, tzinfo=UTC)

    def found(message: str) -> list[tuple[str, FactKind]]:
        return [(c.text, c.kind) for c in find_candidates(message, sunday)]

    assert found("Store staff training is on 9 December.") == [
        ("Store staff training is on 9 December.", FactKind.DEADLINE)
    ]
    assert found("Staff training is next Wednesday.") == [
        ("Staff training is next Wednesday (2 December 2026).", FactKind.DEADLINE)
    ]
    assert found("The board review is due in two weeks.") == [
        ("The board review is due in two weeks (13 December 2026).", FactKind.DEADLINE)
    ]
    assert [text for text, _ in found("We met the client this morning to sign the contract.")] == [
        "We met the client this morning (29 November 2026) to sign the contract."
    ]
    assert [
        text for text, _ in found("The budget is 22,000 EUR and Dr. Kim signs it. The go-live is next Friday.")
    ] == [
        "The budget is 22,000 EUR and Dr. Kim signs it.",
        "The go-live is next Friday (4 December 2026).",
    ]
    assert (
        dated("Renewal in 3 months, review in a week.", sunday)
        == "Renewal in 3 months (February 2027), review in a week."
    )
    assert found("The weather is nice today.") == []


SECRETS = (
    "Got the new API keys from Acme yesterday: sk-live-4f1d2c9a7b6e.",
    "Been rotating the passwords all week, admin one is now Hunter2024 for the Acme portal.",
    "Got the PINs for the Ghent office safe last week: 4821 and 9912.",
    "I reset the Jira password for Acme this morning. We changed it to Xy7#kLm9q yesterday.",
    "We finally got the staging credentials from Dana. I saved them as admin / Sommer2025! for now.",
    "Le code de la porte est 4512.",
    "ANTHROPIC_API_KEY=sk-ant-api03-x9Kf_2LmQ-pZ7rT4vB8nW1cY6hJ3sD5gA0eU",
    "Please wire the deposit to DE89 3704 0044 0532 0130 00 by Friday.",
    "The door code for the Ghent warehouse is 4821.",
    "Their IBAN is NL91 ABNA 0417 1643 00 for the deposit.",
    "I paid the venue with the card 4111 1111 1111 1111 on Monday.",
    "We moved the deploy key to ghp_16C7e42F292c6912E7710c838347Ae178B4a for the pipeline.",
    "The portal pw is Hunter2-2026 until Friday.",
    "Gate code for the Berlin office: 4471#.",
    "The Berlin office alarm combination is 7788.",
    "Their staging token is eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U.",
    "The database is at postgres://admin:S3cr3t!@db.acme.example/prod for the migration.",
    "Das Passwort für das Portal ist Sonne123.",
    "Their IBAN is nl91-abna-0417-1643-00 for the deposit.",
    "Dana's SSN is 078-05-1120, for the payroll form.",
    # Phrasings an attacker tried that once got through.
    "The SFTP passkey is Welcome2Acme.",
    "The passphrase is correct horse battery staple.",
    "SFTP user acme_ftp, Xk9#mQ2v for the uploads.",
    "Credentials: user admin, password sunflower.",
    "Router login admin/admin, as shipped.",
    "Run mysql -u root -pS3cretPass acme to check.",
    "I ssh to deploy@acme.io with Winter2025!",
    "Use P@ssw0rd! to log into the portal.",
    "Their webhook secret is secret_4f8a9b2c7d1e.",
    "The new password for the Acme server is summer.",
    "The router login is admin with password letmein.",
    "The admin credentials are admin and correcthorsebatterystaple.",
    "The passcode for the office is 7391.",
    "Admin pw bluebird for the old router.",
    "Credentials: bluebird",
    "The VPN shared key is bluebird.",
    "Password for the staging site: acme",
    # Found by an attack trial: who to sign in as and with what, a code with a dash, a code read out.
    "Sign into the Acme portal as jdoe with Sunflower2024.",
    "Bremen warehouse door code is 4471-9920, and Jens meets us at the gate.",
    "The alarm code is four four seven one.",
)
NOT_SECRETS = (
    "Log in as a guest with your laptop.",
    "Use cost code 4471-9920 for travel.",
    "One, two, three, four: the steps of the plan.",
    "The budget for the rebrand is 40,000 euros.",
    "Call Dana on +44 20 7946 0958 before the steering committee.",
    "Invoice 2026-114 is due on 3 March.",
    "Our order number is 4111 1111 1111 1112 for the banners.",
    "I redesigned the login page for Acme last week.",
    "We agreed the design tokens in Figma on Monday.",
    "I sent the credentials deck to Dana yesterday.",
    "Our budget for the password reset redesign is 40k EUR.",
    "Please pin the dependency versions before the release.",
    "Our purchase order is GB12345678901234 for the banners.",
    "Join the steering call with meeting id 845 2231 9987 4410.",
    "A combination of factors delayed the launch to 2027.",
    # A word for a secret with no secret beside it is a topic, not a secret.
    "Got the API-keys from Dana for the staging server.",
    "Dana needs to reset her password before the workshop.",
    "Credential stuffing attacks rose 40% in 2024.",
    "Token limits: 200k for Claude, 128k for GPT-4o.",
    "Fix merged in 9fceb02d0ae598e95dc970b74767f19372d61af8 yesterday.",
    "The EAN for the Acme starter kit is 4046869589696.",
    "Our office is at postal code 10115 in Berlin.",
    "Ticket ACME-1234 tracks the login bug.",
    "We recommended passkeys over passwords for Acme.",
    "The login page for admin/editor roles ships Friday.",
    "The account team hit 120% of target in FY2025!",
    "The Acme-2025! campaign launched on the portal.",
    "Access to the C#/.NET8 repo was granted to Dana.",
    # An e-mail address beside "account" or "card" is a contact, not a password.
    "Our account manager at Acme is Jane Doe, jane.doe@acme.com, since May.",
    "Key account contact at Acme: Tom Berg, tom.berg@acme.com",
    "Send the card designs to design@acme.com by Friday.",
    "The Jira project key is ACME2.",
    "The password policy for Acme is 12 characters minimum.",
    "Credentials for the portal are in the vault.",
)


def test_a_secret_is_told_apart_from_an_ordinary_statement() -> None:
    for text in SECRETS:
        assert holds_secret(text), text
    for text in NOT_SECRETS:
        assert not holds_secret(text), text


def test_no_step_proposes_a_secret_and_the_turn_says_so(service: MemoryService, project: int) -> None:
    said = "By the way the Acme wifi password is Hunter2024 since Monday."

    def restating(turns: Sequence[ChatTurn], settings: GenerationSettings) -> str:
        # An instructed model that restates the secret: grounded in the user's words, so only the secret check stops it.
        return '{"facts": [{"text": "The Acme wifi password is Hunter2024", "kind": "fact"}]}'

    model = FakeModel(restating)
    extractor = MemoryExtractor(service, model)
    session = service.start_session(project)
    try:
        for message in (*SECRETS, said):
            user = service.add_message(session.id, "user", message)
            note = extractor.after_turn(project, session.id, user, service.add_message(session.id, "assistant", "Ok."))
            assert "like a password or key" in note or note == "nothing new", (message, note)
        assert note == "1 left out: it looks like a password or key"
        # The model is never shown a sentence holding a secret, nor asked about a message that is only one.
        assert not any("Hunter2024" in turn.content for prompt in model.prompts for turn in prompt)
    finally:
        model.close()
    assert service.list_proposals(project) == []
    # Without a model too, the turn says why nothing was learnt.
    user = service.add_message(session.id, "user", SECRETS[0])
    note = MemoryExtractor(service, None).after_turn(
        project, session.id, user, service.add_message(session.id, "assistant", "Ok.")
    )
    assert note == "1 left out: it looks like a password or key"
    # What the user asks for in so many words is theirs to decide.
    outcome = MemoryExtractor(service, None).process(
        project, service.add_message(session.id, "user", "/remember The shared drive password is in 1Password.")
    )
    assert outcome and outcome[0].fact is not None


def test_a_new_value_for_a_known_thing_is_an_update_not_a_new_fact(service: MemoryService, project: int) -> None:
    from memory import ProposalAction

    budget = service.add_fact(project, "The budget is 45,000 euros", "decision")
    email = service.add_fact(project, "Maria's email is maria@acme.example", "contact")
    service.add_fact(project, "Acme has 40 stores in the Benelux")
    extractor = MemoryExtractor(service, None)
    session = service.start_session(project)
    for message in (
        "The budget went up to 52,000 euros.",
        "Maria's email changed, it's now m.lopez@acme-group.example.",
        "We opened 3 new offices in Lisbon this year.",  # a number, but about something else
        "Acme confirmed item 7 of the order.",  # a number that names a thing is no value of it
        "Acme confirmed item 2 of the order.",
    ):
        extractor.process(project, service.add_message(session.id, "user", message))
    proposals = {p.text: p for p in service.list_proposals(project)}
    raised = proposals["The budget went up to 52,000 euros."]
    assert raised.action is ProposalAction.UPDATE and raised.target_fact_id == budget.id
    assert raised.reason.startswith(f"Contradicts F{budget.id}")
    moved = proposals["Maria's email changed, it's now m.lopez@acme-group.example."]
    assert moved.action is ProposalAction.UPDATE and moved.target_fact_id == email.id
    offices = next(p for text, p in proposals.items() if "Lisbon" in text)
    assert offices.action is ProposalAction.ADD
    items = [p for text, p in proposals.items() if "item" in text]
    assert len(items) == 2 and all(p.action is ProposalAction.ADD for p in items)  # neither replaced the other


def test_a_bare_command_says_what_it_needs(service: MemoryService, project: int) -> None:
    extractor = MemoryExtractor(service, None)
    session = service.start_session(project)
    message = service.add_message(session.id, "user", "/forget")
    assert extractor.run_command(project, "/forget", message.id).startswith("Say what to forget")
    assert extractor.run_command(project, "/remember", message.id).startswith("Say what to remember")


def test_a_newer_value_replaces_the_pending_proposal_for_the_same_thing(service: MemoryService, project: int) -> None:
    from memory import ProposalStatus

    service.add_fact(project, "The budget is 45,000 euros", "decision")
    extractor = MemoryExtractor(service, None)
    session = service.start_session(project)
    for message in (
        "The budget went up to 48,000 euros.",
        "Update: the budget is now 52,000 euros.",
        "Jane's phone number is +49 30 1234567.",  # another thing of the same client: stays
    ):
        extractor.process(project, service.add_message(session.id, "user", message))
    pending = service.list_proposals(project)
    assert sorted(p.text for p in pending) == [
        "Jane's phone number is +49 30 1234567.",
        "The budget is now 52,000 euros.",
    ]
    newest = next(p for p in pending if "52,000" in p.text)
    older = [p for p in service.list_proposals(project, status=ProposalStatus.REJECTED)]
    assert [p.text for p in older] == ["The budget went up to 48,000 euros."]
    assert f"replaces inbox #{older[0].id}: “The budget went up to 48,000 euros.”" in newest.reason
    # A conversation of last year, imported now, replaces nothing said since: both wait for the user.
    from datetime import UTC, datetime

    imported = service.start_session(project, "Imported", started_at=datetime(2025, 10, 9, tzinfo=UTC))
    old_news = service.add_message(
        imported.id, "other", "The budget is 30,000 euros.", created_at=datetime(2025, 10, 9, tzinfo=UTC)
    )
    extractor.process(project, old_news, said_here=False)
    assert newest.id in [p.id for p in service.list_proposals(project)]


def test_two_dated_things_neither_replace_each_other_nor_a_known_fact(service: MemoryService, project: int) -> None:
    """Sharing a weekday or a month is not being about the same thing (a new user lost a proposal this way)."""
    from datetime import UTC, datetime

    from memory import ProposalAction, ProposalStatus

    sunday = datetime(2026, 11, 29, 10, tzinfo=UTC)
    launch = service.add_fact(project, "The launch is on 30 November 2026", "deadline")
    extractor = MemoryExtractor(service, None)
    session = service.start_session(project)
    for message in (
        "The review is on Friday.",
        "The deposit was due last Friday.",
        "We signed the contract with Acme on 28 November.",
    ):
        extractor.process(project, service.add_message(session.id, "user", message, created_at=sunday))
    pending = service.list_proposals(project)
    assert sorted(p.text for p in pending) == [
        "The deposit was due last Friday (27 November 2026).",
        "The review is on Friday (4 December 2026).",
        "We signed the contract with Acme on 28 November.",
    ]
    assert all(p.action is ProposalAction.ADD for p in pending)
    assert service.list_proposals(project, status=ProposalStatus.REJECTED) == []
    assert service.get_fact(launch.id).text == "The launch is on 30 November 2026"


def test_a_value_of_another_kind_is_a_new_fact_not_a_replacement(service: MemoryService, project: int) -> None:
    """A phone number does not replace an e-mail address, nor a date an amount; a new amount does replace one."""
    from memory import ProposalAction

    email = service.add_fact(project, "Dana's email is dana@acme.example.", "contact")
    budget = service.add_fact(project, "The budget for phase two is 40,000 EUR.", "decision")
    extractor = MemoryExtractor(service, None)
    session = service.start_session(project)
    for message in ("Dana's phone is +49 30 1234567.", "The budget for phase two is now 45,000 EUR."):
        extractor.process(project, service.add_message(session.id, "user", message))
    pending = {p.text: p for p in service.list_proposals(project)}
    assert pending["Dana's phone is +49 30 1234567."].action is ProposalAction.ADD
    raised = pending["The budget for phase two is now 45,000 EUR."]
    assert raised.action is ProposalAction.UPDATE and raised.target_fact_id == budget.id
    assert service.get_fact(email.id).text == "Dana's email is dana@acme.example."


def test_an_amount_written_another_way_is_the_same_amount(service: MemoryService, project: int) -> None:
    """ "45k", "45,000 EUR" and "EUR 45,000" are one figure: no contradiction, and no update that drops details."""
    from memory import ProposalAction

    budget = service.add_fact(project, "Budget is 45k EUR excluding VAT (raised after scope call).", "decision")
    extractor = MemoryExtractor(service, None)
    session = service.start_session(project)
    said = extractor.process(project, service.add_message(session.id, "user", "The budget is 45,000 EUR."))
    assert [o.reconciled.outcome for o in said] == ["duplicate"] and service.list_proposals(project) == []
    extractor.process(project, service.add_message(session.id, "user", "The budget is now 50k EUR excluding VAT."))
    [raised] = service.list_proposals(project)
    assert raised.action is ProposalAction.UPDATE and raised.target_fact_id == budget.id
    assert raised.reason.startswith("Contradicts F")


def test_a_secret_leaves_out_its_sentence_not_the_rest_of_the_message(service: MemoryService, project: int) -> None:
    from datetime import UTC, datetime

    extractor = MemoryExtractor(service, None)
    session = service.start_session(project)
    said = (
        "Sarah is on holiday from 20 December, so Tom Reyes approves the invoices. "
        "The staging password is Tulip-4471. Call Tom on +44 20 7946 0958 if it is urgent."
    )
    user = service.add_message(session.id, "user", said, created_at=datetime(2026, 11, 29, 10, tzinfo=UTC))
    note = extractor.after_turn(project, session.id, user, service.add_message(session.id, "assistant", "Ok."))
    texts = [p.text for p in service.list_proposals(project)]
    assert "Sarah is on holiday from 20 December, so Tom Reyes approves the invoices." in texts
    assert not any("Tulip" in t for t in texts)
    assert "left out: it looks like a password or key" in note and "in the inbox" in note
    # The inbox quotes the message each proposal came from, never the password in it.
    quoted = [entry.source for entry in inbox_entries(service, project)]
    assert quoted and all("Tulip" not in q and "Sarah is on holiday" in q for q in quoted)
    # A clause of its own news in the password's sentence stays; one that names the secret does not.
    assert leave_out_secrets(
        "Also the WordPress admin password is Tulip-4471 and Priya is on holiday from 14 December."
    ) == (
        "Priya is on holiday from 14 December.",
        1,
    )
    # A word in one sentence guards the value in the next: both go.
    assert leave_out_secrets("I reset the Jira password. It is now Xy7#kLm9q. The launch is on 3 March.") == (
        "The launch is on 3 March.",
        2,
    )


def test_a_change_reads_as_plain_words_in_the_inbox() -> None:
    from app.assistant.extraction import word_diff

    assert word_diff("Budget is 45k EUR, excluding VAT", "Budget is 52k EUR") == (
        "Budget is “45k EUR, excluding VAT” → “52k EUR”"
    )
    assert word_diff("Launch in Antwerp", "Launch in Antwerp with a party") == "Launch in Antwerp (adds “with a party”)"
    assert word_diff("Call Dana on Monday mornings", "Call Dana") == "Call Dana (without “on Monday mornings”)"


def _said_without_a_model(service: MemoryService, project: int, said: str) -> None:
    """The user says ``said`` in a new session; the model-free step learns from it."""
    session = service.start_session(project)
    MemoryExtractor(service, None).process(project, service.add_message(session.id, "user", said))


def test_what_one_client_says_never_changes_a_global_fact(service: MemoryService, project: int) -> None:
    """A global fact shows in every project: a proposal changing it would carry one client's words to all."""
    from memory import InvalidInputError

    rate = service.add_fact(None, "My day rate is 1200 EUR", "preference")
    said = "My day rate for the confidential Acme takeover of Globex is 1500 EUR."
    _said_without_a_model(service, project, said)
    assert all(p.target_fact_id != rate.id for p in service.list_proposals(project))
    assert service.get_fact(rate.id).text == "My day rate is 1200 EUR"
    with pytest.raises(InvalidInputError, match="global fact"):
        service.propose(project, "update", said, target_fact_id=rate.id)


def test_an_update_keeps_the_kind_of_what_it_updates(service: MemoryService, project: int) -> None:
    budget = service.add_fact(project, "The budget is 105k NZD", "decision")
    _said_without_a_model(service, project, "Correction from Priya's email: the budget is 101k NZD, not 105k.")
    (update,) = service.list_proposals(project)
    assert update.target_fact_id == budget.id and update.kind is FactKind.DECISION  # not a "contact"


def test_a_voice_sample_keeps_no_password() -> None:
    from app.assistant.voice import analyse_samples

    measured = analyse_samples(
        ["Hi Dana, the login is admin / Xy7#kLm9qZ for now. Thanks for the quick turnaround, talk soon!"]
    )
    kept = " ".join(measured.samples)
    assert "Xy7#kLm9qZ" not in kept and "Thanks for the quick turnaround" in kept
