from __future__ import annotations

import pytest

from memory import (
    Actor,
    ConflictError,
    FactKind,
    FactStatus,
    InvalidInputError,
    MemoryService,
    NotFoundError,
    Role,
    SearchMode,
    VersionAction,
)


def test_projects_create_list_rename_archive(service: MemoryService) -> None:
    acme = service.create_project("Acme Rebrand", "Logo and guidelines")
    service.create_project("Globex Audit")
    assert [p.name for p in service.list_projects()] == ["Acme Rebrand", "Globex Audit"]
    assert service.get_project("acme rebrand").id == acme.id  # names ignore case
    assert service.get_project(str(acme.id)).id == acme.id

    renamed = service.rename_project(acme.id, "Acme 2027")
    assert renamed.name == "Acme 2027"
    service.archive_project(acme.id)
    assert [p.name for p in service.list_projects()] == ["Globex Audit"]
    assert len(service.list_projects(include_archived=True)) == 2


def test_project_names_are_unique_ignoring_case(service: MemoryService) -> None:
    service.create_project("Acme")
    with pytest.raises(ConflictError, match="already exists"):
        service.create_project("ACME")
    other = service.create_project("Other")
    with pytest.raises(ConflictError):
        service.rename_project(other.id, "acme")
    assert service.get_project(other.id).name == "Other"


@pytest.mark.parametrize("bad", ["", "   ", "a\x00b", "tab\there", "x" * 201, "two\nlines"])
def test_bad_project_names_are_refused(service: MemoryService, bad: str) -> None:
    with pytest.raises(InvalidInputError):
        service.create_project(bad)
    assert service.list_projects(include_archived=True) == []


def test_fact_lifecycle_keeps_every_version(service: MemoryService) -> None:
    project = service.create_project("Acme")
    fact = service.add_fact(project.id, "Budget is 40k EUR", FactKind.DECISION)
    assert fact.status is FactStatus.ACTIVE and fact.kind is FactKind.DECISION

    service.edit_fact(fact.id, "Budget is 55k EUR")
    service.pin_fact(fact.id)
    service.archive_fact(fact.id)
    assert service.list_facts(project.id) == []
    assert [f.id for f in service.list_facts(project.id, include_archived=True)] == [fact.id]
    service.restore_fact(fact.id)

    history = service.fact_history(fact.id)
    assert [v.action for v in history] == [
        VersionAction.CREATED,
        VersionAction.EDITED,
        VersionAction.PINNED,
        VersionAction.ARCHIVED,
        VersionAction.RESTORED,
    ]
    assert [v.version for v in history] == [1, 2, 3, 4, 5]
    assert history[0].text == "Budget is 40k EUR"
    assert history[1].text == "Budget is 55k EUR"

    restored = service.restore_fact_version(fact.id, 1)
    assert restored.text == "Budget is 40k EUR"
    assert restored.pinned is False
    last = service.fact_history(fact.id)[-1]
    assert (last.version, last.action, last.text) == (6, VersionAction.RESTORED, "Budget is 40k EUR")


def test_a_no_op_edit_writes_no_version(service: MemoryService) -> None:
    project = service.create_project("Acme")
    fact = service.add_fact(project.id, "Prefers email")
    service.edit_fact(fact.id, "  Prefers email  ")
    assert len(service.fact_history(fact.id)) == 1


def test_global_facts_show_in_every_project(service: MemoryService) -> None:
    a = service.create_project("A")
    b = service.create_project("B")
    mine = service.add_fact(None, "My day rate is 900 EUR", FactKind.PREFERENCE)
    service.add_fact(a.id, "A's secret launch code is ZEBRA")
    assert mine.is_global
    assert [f.text for f in service.list_facts(b.id)] == ["My day rate is 900 EUR"]
    assert [f.text for f in service.list_facts(b.id, include_global=False)] == []
    assert {f.text for f in service.list_facts(a.id)} == {"My day rate is 900 EUR", "A's secret launch code is ZEBRA"}
    assert [f.text for f in service.list_facts(None)] == ["My day rate is 900 EUR"]


def test_list_facts_filters(service: MemoryService) -> None:
    p = service.create_project("P")
    service.add_fact(p.id, "Call Dana before 10am", FactKind.CONTACT)
    service.add_fact(p.id, "Deliver draft by 3 March", FactKind.DEADLINE, pinned=True)
    service.add_fact(p.id, "100% of invoices by email")
    assert [f.kind for f in service.list_facts(p.id, kind="deadline")] == [FactKind.DEADLINE]
    assert [f.text for f in service.list_facts(p.id, contains="dana")] == ["Call Dana before 10am"]
    assert [f.text for f in service.list_facts(p.id, contains="100%")] == ["100% of invoices by email"]
    assert [f.text for f in service.list_facts(p.id, contains="_")] == []
    assert service.list_facts(p.id)[0].pinned  # pinned first


@pytest.mark.parametrize("bad", ["", "   ", "x" * 1_000_000, "nul\x00byte", "bell\x07", "esc\x1b[31m"])
def test_bad_fact_text_changes_nothing(service: MemoryService, bad: str) -> None:
    p = service.create_project("P")
    kept = service.add_fact(p.id, "Original")
    with pytest.raises(InvalidInputError):
        service.add_fact(p.id, bad)
    with pytest.raises(InvalidInputError):
        service.edit_fact(kept.id, bad)
    assert [f.text for f in service.list_facts(p.id)] == ["Original"]
    assert len(service.fact_history(kept.id)) == 1


def test_unknown_ids_raise_not_found(service: MemoryService) -> None:
    with pytest.raises(NotFoundError):
        service.get_project("nope")
    with pytest.raises(NotFoundError):
        service.add_fact(999, "x")
    with pytest.raises(NotFoundError):
        service.edit_fact(999, "x")
    with pytest.raises(NotFoundError):
        service.fact_history(999)
    p = service.create_project("P")
    fact = service.add_fact(p.id, "x")
    with pytest.raises(NotFoundError):
        service.restore_fact_version(fact.id, 7)
    with pytest.raises(InvalidInputError):
        service.add_fact(p.id, "x", "opinion")


def test_provenance_and_cross_project_sources(service: MemoryService) -> None:
    a = service.create_project("A")
    b = service.create_project("B")
    session = service.start_session(a.id, "Kick-off")
    message = service.add_message(session.id, Role.USER, "Our fiscal year starts in April.")
    fact = service.add_fact(a.id, "Fiscal year starts in April", source_message_id=message.id)
    assert (fact.source_session_id, fact.source_message_id, fact.source.value) == (
        session.id,
        message.id,
        "conversation",
    )
    with pytest.raises(InvalidInputError, match="another project"):
        service.add_fact(b.id, "stolen", source_message_id=message.id)


def test_purge_deletes_for_good(service: MemoryService) -> None:
    p = service.create_project("P")
    fact = service.add_fact(p.id, "Temporary note about the Zanzibar offsite")
    service.purge_fact(fact.id)
    with pytest.raises(NotFoundError):
        service.get_fact(fact.id)
    assert service.search(p.id, "Zanzibar offsite") == []


def test_voice_profile(service: MemoryService) -> None:
    p = service.create_project("P")
    assert service.get_voice(p.id).is_empty
    voice = service.set_voice(p.id, tone="Warm, direct", style_do=["Use first names"], vocabulary=["partners"])
    assert voice.tone == "Warm, direct" and voice.style_do == ("Use first names",)
    voice = service.set_voice(p.id, style_dont=["No jargon", "  "])
    assert voice.tone == "Warm, direct" and voice.style_dont == ("No jargon",)
    with pytest.raises(InvalidInputError):
        service.set_voice(p.id, tone="bad\x00")
    assert service.get_voice(p.id).tone == "Warm, direct"


def test_sessions_and_messages(service: MemoryService) -> None:
    p = service.create_project("P")
    s1 = service.start_session(p.id, "First")
    service.add_message(s1.id, Role.USER, "Hello", speaker="Me", external_id="slack-1")
    service.add_message(s1.id, "assistant", "Hi!", context_item_keys=["fact:1"])
    service.add_message(s1.id, Role.OTHER, "Client here", speaker="Dana")
    messages = service.list_messages(s1.id)
    assert [m.role for m in messages] == [Role.USER, Role.ASSISTANT, Role.OTHER]
    assert messages[0].external_id == "slack-1" and messages[1].context_item_keys == ("fact:1",)
    assert [m.content for m in service.list_messages(s1.id, limit=2)] == ["Hi!", "Client here"]
    service.set_session_summary(s1.id, "Greetings exchanged.")
    ended = service.end_session(s1.id)
    assert ended.ended_at is not None
    listed = service.list_sessions(p.id)
    assert listed[0].message_count == 3 and listed[0].summary == "Greetings exchanged."
    with pytest.raises(InvalidInputError):
        service.add_message(s1.id, "robot", "x")


def test_bad_message_in_a_batch_stores_none(service: MemoryService) -> None:
    from memory import NewMessage

    p = service.create_project("P")
    s = service.start_session(p.id)
    with pytest.raises(InvalidInputError, match="Message 2"):
        service.add_messages(s.id, [NewMessage(Role.USER, "ok"), NewMessage(Role.USER, "bad\x00")])
    assert service.list_messages(s.id) == []


def test_proposals_inbox(service: MemoryService) -> None:
    p = service.create_project("P")
    s = service.start_session(p.id)
    m = service.add_message(s.id, Role.USER, "Remember the budget is 40k.")
    add = service.propose(p.id, "add", "Budget is 40k", "decision", source_message_id=m.id)
    assert [x.id for x in service.list_proposals(p.id)] == [add.id]
    fact = service.accept_proposal(add.id)
    assert fact is not None and fact.source_message_id == m.id and fact.kind is FactKind.DECISION
    assert service.fact_history(fact.id)[0].actor is Actor.ASSISTANT
    assert service.list_proposals(p.id) == []

    # Rewritten before accepting, the words are the user's, and the history says so.
    edited = service.propose(p.id, "add", "Dana likes calls", "preference")
    kept = service.accept_proposal(edited.id, text="Dana prefers calls on Monday mornings")
    assert kept is not None and service.fact_history(kept.id)[0].actor is Actor.USER

    update = service.propose(p.id, "update", "Budget is 55k", target_fact_id=fact.id, reason="new figure")
    edited = service.accept_proposal(update.id, text="Budget is 60k")
    assert edited is not None and edited.text == "Budget is 60k"

    rejected = service.propose(p.id, "archive", target_fact_id=fact.id)
    service.reject_proposal(rejected.id)
    assert service.get_fact(fact.id).status is FactStatus.ACTIVE
    with pytest.raises(InvalidInputError, match="already rejected"):
        service.accept_proposal(rejected.id)
    with pytest.raises(InvalidInputError):
        service.propose(p.id, "update", "x")  # no target

    other = service.create_project("Other")
    with pytest.raises(InvalidInputError, match="another project"):
        service.propose(other.id, "archive", target_fact_id=fact.id)


def test_accepting_a_proposal_is_all_or_nothing(service: MemoryService, monkeypatch: pytest.MonkeyPatch) -> None:
    p = service.create_project("P")
    proposal = service.propose(p.id, "add", "Budget is 40k")

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    # Fail inside the transaction, after the proposal row was already changed.
    from memory import facts

    monkeypatch.setattr(facts, "record_version", disk_full)
    with pytest.raises(OSError):
        service.accept_proposal(proposal.id, text="Budget is 45k")
    monkeypatch.undo()
    assert [(x.id, x.status.value, x.text) for x in service.list_proposals(p.id)] == [
        (proposal.id, "pending", "Budget is 40k")
    ]
    assert service.list_facts(p.id) == []
    fact = service.accept_proposal(proposal.id)
    assert fact is not None and fact.text == "Budget is 40k"


def test_an_edit_of_what_changed_meanwhile_is_refused_not_saved_over_it(service: MemoryService) -> None:
    from memory import ConflictError

    p = service.create_project("P")
    opened = service.add_fact(p.id, "The budget is 85k NZD", "decision")
    service.edit_fact(opened.id, "The budget is 92k NZD")  # from the CLI, while the dialog was open
    with pytest.raises(ConflictError, match="changed elsewhere"):
        service.edit_fact(opened.id, "The budget is 85k NZD, confirmed", unless_changed_since=opened.updated_at)
    assert service.get_fact(opened.id).text == "The budget is 92k NZD"
    now = service.get_fact(opened.id)
    assert service.edit_fact(opened.id, "The budget is 95k NZD", unless_changed_since=now.updated_at).text == (
        "The budget is 95k NZD"
    )


def test_a_deleted_message_leaves_search_context_summary_and_inbox(service: MemoryService) -> None:
    from memory import NewMessage, ProposalStatus, SearchMode

    acme = service.create_project("Acme").id
    session = service.start_session(acme, "Kick-off")
    pasted, kept = service.add_messages(
        session.id,
        [
            NewMessage(Role.USER, "The staging login is admin with the password Tr0ub4dor-xylophone."),
            NewMessage(Role.USER, "The steering committee meets on Thursdays."),
        ],
    )
    service.set_session_summary(session.id, "Staging login shared; committee on Thursdays.", through_message_id=kept.id)
    waiting = service.propose(acme, "add", "Staging login is admin", source_message_id=pasted.id)
    decided = service.propose(acme, "add", "The staging server is the place to test", source_message_id=pasted.id)
    learnt = service.accept_proposal(decided.id)
    assert learnt is not None
    service.wait_for_index()
    for mode in SearchMode:
        assert any(pasted.id in h.message_ids for h in service.search(acme, "xylophone password", mode=mode))

    [deleted] = service.delete_message(pasted.id)
    service.wait_for_index()

    assert deleted.content.startswith("The staging login")
    assert [m.id for m in service.list_messages(session.id)] == [kept.id]
    for mode in SearchMode:
        assert all(pasted.id not in h.message_ids for h in service.search(acme, "xylophone password", mode=mode))
        assert all("xylophone" not in h.text for h in service.search(acme, "staging login", mode=mode))
    assert "xylophone" not in service.build_context(acme, "What is the staging password?", 1000).text
    assert service.get_session(session.id).summary == ""  # it covered the message: written again later
    assert [p.id for p in service.list_proposals(acme)] == []  # the waiting one went with it
    assert waiting.id not in [p.id for p in service.list_proposals(acme, status=ProposalStatus.REJECTED)]
    assert service.get_session(session.id).title == "Kick-off"  # not made from the message: kept
    fact = service.get_fact(learnt.id)  # what was accepted stays, without its link
    assert fact.text == "The staging server is the place to test" and fact.source_message_id is None
    with pytest.raises(NotFoundError):
        service.delete_message(pasted.id)
    # Nor does the database file or its write-ahead log keep the words on disk.
    for path in service.data_dir.glob("dossier.sqlite3*"):
        assert b"Tr0ub4dor-xylophone" not in path.read_bytes(), path.name


def test_deleting_a_users_message_takes_the_answers_to_it_its_rejected_proposals_and_a_title_made_from_it(
    service: MemoryService,
) -> None:
    from memory import NewMessage, ProposalStatus

    acme = service.create_project("Acme").id
    session = service.start_session(acme, "Zephyrion will buy Acme for 12M EUR…")
    said, answer, again, later, reply = service.add_messages(
        session.id,
        [
            NewMessage(Role.USER, "Zephyrion will buy Acme for 12M EUR; keep it quiet until the board meets."),
            NewMessage(Role.ASSISTANT, "Understood: Zephyrion buys Acme for 12M EUR."),
            NewMessage(Role.ASSISTANT, "Noted, 12M EUR from Zephyrion."),  # answered again
            NewMessage(Role.USER, "The board meets on 4 March."),
            NewMessage(Role.ASSISTANT, "Noted."),
        ],
    )
    rejected = service.propose(acme, "add", "Zephyrion will buy Acme for 12M EUR", source_message_id=said.id)
    service.reject_proposal(rejected.id)
    deleted = service.delete_message(said.id)
    assert [m.id for m in deleted] == [said.id, answer.id, again.id]
    assert [m.id for m in service.list_messages(session.id)] == [later.id, reply.id]
    assert service.list_proposals(acme, status=ProposalStatus.REJECTED) == []
    assert service.get_session(session.id).title == ""
    for mode in SearchMode:
        assert not [h for h in service.search(acme, "Zephyrion 12M", mode=mode) if "Zephyrion" in h.text]
    # An answer alone goes alone.
    assert [m.id for m in service.delete_message(reply.id)] == [reply.id]
    assert [m.id for m in service.list_messages(session.id)] == [later.id]
