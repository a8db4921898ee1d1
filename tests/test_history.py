"""ChatGPT and Claude exports into projects: the current branch only, never twice, bad files refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.assistant.extraction import MemoryExtractor
from app.history.exports import read_export
from app.history.importer import import_conversations, matching, suggest_projects
from memory import HitKind, MemoryService, Role, SearchMode
from tests.conftest import Run
from tests.history_exports import (
    BASE,
    chatgpt_conversation,
    chatgpt_node,
    claude_conversation,
    export_zip,
    zip_bomb,
)

ACME_TURNS = [
    ("user", "For Acme the launch budget is 48,000 euros, approved by Dana yesterday."),
    ("assistant", "Noted: 48,000 euros for the Acme launch."),
    ("user", "Draft the kickoff agenda for Acme's rebrand."),
    ("assistant", "1. Goals 2. Timeline 3. Budget"),
]


def branched_chatgpt() -> dict[str, object]:
    """An edited question: two answers on two branches; the user last saw the second."""
    conversation = chatgpt_conversation("c-branch", "Globex pricing", [("user", "What should Globex pay per seat?")])
    mapping = conversation["mapping"]
    assert isinstance(mapping, dict)
    first = "c-branch-m0"
    mapping["old-answer"] = chatgpt_node(
        "old-answer", first, "assistant", ["About 20 euros, the old plan."], BASE + 120
    )
    mapping["edit"] = chatgpt_node(
        "edit", "sys", "user", ["What should Globex pay per seat for 500 seats?"], BASE + 180
    )
    mapping["tool-call"] = chatgpt_node(
        "tool-call", "edit", "assistant", ["search('seat pricing')"], BASE + 200, recipient="browser"
    )
    mapping["tool"] = chatgpt_node("tool", "tool-call", "tool", ["results…"], BASE + 210)
    mapping["image"] = chatgpt_node(
        "image",
        "tool",
        "user",
        [{"content_type": "image_asset_pointer", "asset_pointer": "file-service://x"}],
        BASE + 220,
    )
    mapping["new-answer"] = chatgpt_node(
        "new-answer",
        "image",
        "assistant",
        [{"content_type": "text", "text": "For 500 seats: 14 € — ça marche, 東京 too."}],
        BASE + 240,
    )
    mapping[first]["children"].append("old-answer")
    mapping["sys"]["children"].append("edit")
    for parent, child in (("edit", "tool-call"), ("tool-call", "tool"), ("tool", "image"), ("image", "new-answer")):
        mapping[parent]["children"].append(child)
    conversation["current_node"] = "new-answer"
    return conversation


def test_a_chatgpt_export_follows_the_branch_the_user_saw(tmp_path: Path) -> None:
    path = export_zip(
        tmp_path / "chatgpt.zip", [chatgpt_conversation("c-acme", "Acme launch", ACME_TURNS), branched_chatgpt()]
    )
    acme, globex = read_export(path)
    assert (acme.source, acme.id, acme.title, len(acme.turns)) == ("chatgpt", "c-acme", "Acme launch", 4)
    assert [t.role for t in acme.turns] == ["user", "assistant", "user", "assistant"]
    assert acme.turns[0].created_at is not None and acme.turns[0].created_at.year == 2026
    assert [t.text for t in globex.turns] == [
        "What should Globex pay per seat for 500 seats?",
        "For 500 seats: 14 € — ça marche, 東京 too.",
    ]
    assert [t.source_id for t in globex.turns] == ["edit", "new-answer"]
    (json_only,) = read_export(_write(tmp_path / "conversations.json", [branched_chatgpt()]))
    assert json_only == globex


def test_a_claude_export_keeps_text_and_attachments_and_leaves_out_thinking(tmp_path: Path) -> None:
    conversation = claude_conversation(
        "k-1", "Initech audit", [("user", "The audit starts on 3 March."), ("assistant", "Got it.")]
    )
    messages = conversation["chat_messages"]
    assert isinstance(messages, list)
    messages[1]["content"] = [
        {"type": "thinking", "thinking": "private reasoning"},
        {"type": "tool_use", "name": "search", "input": {}},
        {"type": "text", "text": "Got it: 3 March."},
    ]
    messages[0]["attachments"] = [{"file_name": "scope.txt", "extracted_content": "Scope: payroll only."}]
    messages.append(
        {"uuid": "k-1-empty", "text": "", "content": [], "sender": "human", "created_at": "2026-02-01T09:05:00Z"}
    )
    (parsed,) = read_export(export_zip(tmp_path / "claude.zip", [conversation], folder="data-2026/"))
    assert (parsed.source, parsed.title) == ("claude", "Initech audit")
    assert parsed.turns[0].text == "The audit starts on 3 March.\n\n[Attached: scope.txt]\nScope: payroll only."
    assert parsed.turns[1].text == "Got it: 3 March." and "private" not in parsed.turns[1].text
    assert len(parsed.turns) == 2  # the empty message carries nothing


def test_imports_are_searchable_at_once_summarised_and_never_doubled(service: MemoryService, tmp_path: Path) -> None:
    project = service.create_project("Acme")
    conversations = read_export(
        export_zip(tmp_path / "chatgpt.zip", [chatgpt_conversation("c-acme", "Acme launch", ACME_TURNS)])
    )
    report = import_conversations(service, project.id, conversations)
    assert (report.sessions_added, report.messages_added) == (1, 4)
    hit = service.search(project.id, "launch budget Dana", mode=SearchMode.BM25)[0]
    assert hit.kind is HitKind.MESSAGES and "c-acme-m0" in hit.external_ids
    (session,) = service.list_sessions(project.id)
    assert session.title == "Acme launch" and session.ended_at is not None
    assert "48,000" in session.summary and session.started_at.year == 2026
    messages = service.list_messages(session.id)
    assert [m.role for m in messages] == [Role.USER, Role.ASSISTANT, Role.USER, Role.ASSISTANT]
    assert messages[0].created_at.timestamp() == BASE + 60

    again = import_conversations(service, project.id, conversations)
    assert (again.sessions_added, again.messages_added, again.unchanged) == (0, 0, 1)
    grown = chatgpt_conversation("c-acme", "Acme launch", [*ACME_TURNS, ("user", "Dana moved the launch to 12 May.")])
    later = import_conversations(service, project.id, [read_export(_write(tmp_path / "c.json", [grown]))[0]])
    assert (later.sessions_added, later.messages_added, later.extended) == (0, 1, 1)
    (session,) = service.list_sessions(project.id)
    assert session.message_count == 5 and "12 May" in session.summary
    assert service.wait_for_index(120)


def test_facts_can_be_proposed_from_what_the_user_said(service: MemoryService, tmp_path: Path) -> None:
    project = service.create_project("Acme")
    conversations = [read_export(_write(tmp_path / "c.json", [chatgpt_conversation("c-acme", "Acme", ACME_TURNS)]))[0]]
    report = import_conversations(service, project.id, conversations, extractor=MemoryExtractor(service))
    proposals = service.list_proposals(project.id)
    assert any("48,000" in p.text for p in proposals) and "1 proposal in the inbox" in report.summary()
    source = service.get_message(next(p for p in proposals if "48,000" in p.text).source_message_id or 0)
    assert source.external_id == "c-acme-m0"


def test_suggestions_come_from_names_and_meaning(service: MemoryService, tmp_path: Path) -> None:
    acme = service.create_project("Acme", "Rebrand and product launch")
    service.add_fact(acme.id, "The launch budget is 48,000 euros")
    globex = service.create_project("Globex", "SaaS pricing strategy")
    service.add_fact(globex.id, "Globex sells seats to mid-size companies")
    conversations = read_export(
        _write(
            tmp_path / "c.json",
            [
                chatgpt_conversation("c1", "Kickoff", [("user", "Plan the Acme kickoff meeting")]),
                chatgpt_conversation(
                    "c2", "Per-seat price", [("user", "How should we price software seats for companies?")]
                ),
                chatgpt_conversation("c3", "Sourdough", [("user", "My sourdough starter smells of acetone")]),
            ],
        )
    )
    suggested = suggest_projects(service, conversations)
    assert suggested["c1"] is not None and (suggested["c1"].project_id, suggested["c1"].score) == (acme.id, 1.0)
    assert suggested["c2"] is not None and suggested["c2"].project_id == globex.id
    assert suggested["c3"] is None
    assert [c.id for c in matching(conversations, "SOURDOUGH")] == ["c3"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"%PDF-1.7 not an export"), "not UTF-8|not valid JSON"),
        (lambda p: p.write_text('{"hello": 1}'), "not a list of conversations"),
        (lambda p: p.write_text('[{"title": "x", "messages": []}]'), "neither ChatGPT's"),
        (lambda p: p.write_text('[{"title": "x", "mapping": ['), "not valid JSON"),
        (lambda p: p.write_text("[" * 100_000), "not valid JSON"),
        (lambda p: zip_bomb(p), "zip bomb|over the limit"),
        (
            lambda p: p.write_bytes(
                export_zip(p.with_suffix(".tmp"), [chatgpt_conversation("c", "t", ACME_TURNS)]).read_bytes()[:200]
            ),
            "not a readable zip|damaged",
        ),
        (lambda p: export_zip(p, []) and _drop_member(p), "no conversations.json"),
        (lambda p: p.mkdir(), "is a folder"),
    ],
)
def test_bad_exports_get_a_message_and_store_nothing(run: Run, tmp_path: Path, make: object, message: str) -> None:
    run("project", "create", "Acme")
    path = tmp_path / "export.zip"
    make(path)  # type: ignore[operator]
    code, out, err = run("history", "import", str(path), "--project", "Acme", "--all")
    assert code == 2, out + err
    assert "Traceback" not in out + err
    import re

    assert re.search(message, out + err), out + err
    code, out, _ = run("search", "--project", "Acme", "budget")
    assert "No matches." in out


def test_a_forged_cycle_in_a_chatgpt_tree_ends(tmp_path: Path) -> None:
    conversation = chatgpt_conversation("c-loop", "Loop", [("user", "hello there friend")])
    mapping = conversation["mapping"]
    assert isinstance(mapping, dict)
    mapping["root"]["parent"] = "c-loop-m0"  # root ← message ← … ← root
    (parsed,) = read_export(_write(tmp_path / "c.json", [conversation]))
    assert [t.text for t in parsed.turns] == ["hello there friend"]


def test_the_cli_lists_and_imports_chosen_conversations(run: Run, tmp_path: Path) -> None:
    run("project", "create", "Acme", "--description", "Rebrand and launch")
    path = export_zip(
        tmp_path / "export.zip",
        [
            chatgpt_conversation("c-acme", "Acme launch", ACME_TURNS),
            chatgpt_conversation("c-other", "Holiday", [("user", "Find flights to Lisbon")]),
        ],
    )
    code, out, _ = run("history", "import", str(path), "--list")
    assert code == 0 and "c-acme" in out and "→ Acme?" in out and "(2 conversations from chatgpt)" in out
    code, out, _ = run("history", "import", str(path), "--project", "Acme", "--select", "c-acme")
    assert code == 0 and "1 conversation imported as sessions; 4 messages" in out
    code, out, _ = run("history", "import", str(path), "--list")
    assert "Acme launch  (already in Acme)" in out
    code, out, err = run("history", "import", str(path), "--project", "Acme", "--select", "nope")
    assert code == 2 and "not in this export: nope" in out + err
    code, out, _ = run("history", "import", str(path), "--project", "Acme", "--match", "acme")
    assert code == 0 and "Nothing new: 1 conversation already here" in out
    run("project", "create", "Globex")
    code, out, _ = run("history", "import", str(path), "--project", "Globex", "--select", "c-acme")
    assert code == 0 and "“Acme launch” is already in Acme; it is imported into Globex too" in out
    code, out, err = run("history", "import", str(path), "--project", "Acme")
    assert code == 2 and "--select" in out + err


def _chatgpt_with(path: Path, root: dict[str, object], **nodes: object) -> Path:
    mapping: dict[str, object] = {"root": {"id": "root", "parent": None, **root}, **nodes}
    return _write(path, [{"title": "odd", "mapping": mapping}])


def _claude_with(path: Path, message: dict[str, object]) -> Path:
    return _write(path, [{"uuid": "c", "name": "odd", "chat_messages": [message], "current_leaf_message_uuid": "y"}])


def _write(path: Path, conversations: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps(conversations, ensure_ascii=False), "utf-8")
    return path


def _drop_member(path: Path) -> bool:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("user.json", "{}")
    return True


def test_odd_titles_and_ids_are_made_storable_not_refused(service: MemoryService, tmp_path: Path) -> None:
    conversation = chatgpt_conversation("c-long", "Q3\u202e plan\n" + "x" * 300, [("user", "Budget is 9,000 euros")])
    mapping = conversation["mapping"]
    assert isinstance(mapping, dict)
    mapping["c-long-m0"]["message"]["id"] = "id-" + "9" * 400
    (parsed,) = read_export(_write(tmp_path / "c.json", [conversation]))
    assert len(parsed.title) == 200 and parsed.title.startswith("Q3 plan x") and "\u202e" not in parsed.title
    project = service.create_project("Acme")
    report = import_conversations(service, project.id, [parsed])
    assert report.messages_added == 1
    (message,) = service.list_messages(service.list_sessions(project.id)[0].id)
    assert message.external_id is not None and message.external_id.startswith("sha256:")
    assert import_conversations(service, project.id, [parsed]).summary() == "Nothing new: 1 conversation already here."


def test_a_conversation_imported_into_the_wrong_project_can_be_deleted_and_leaves_no_trace(
    run: Run, tmp_path: Path
) -> None:
    run("project", "create", "Northwind")
    run("project", "create", "Harbor Bank")
    path = export_zip(
        tmp_path / "export.zip",
        [
            chatgpt_conversation(
                "c-kyc", "Harbor Bank KYC vendors", [("user", "Harbor Bank uses Onfido for KYC checks")]
            )
        ],
    )
    run("history", "import", str(path), "--project", "Northwind", "--all")
    code, out, _ = run("session", "list", "--project", "Northwind")
    assert code == 0 and "Harbor Bank KYC vendors" in out
    code, out, err = run("session", "delete", "--project", "Harbor Bank", "1")
    assert code == 2 and "not in project Harbor Bank" in out + err
    code, out, _ = run("session", "delete", "--project", "Northwind", "1")
    assert code == 0 and "Deleted session 1 (Harbor Bank KYC vendors, 1 message)" in out
    for mode in ("search", "context"):
        code, out, _ = run(mode, "--project", "Northwind", "which KYC vendor does the bank use?")
        assert "Onfido" not in out
    code, out, _ = run("history", "import", str(path), "--project", "Harbor Bank", "--all")
    assert code == 0 and "1 conversation imported" in out
    code, out, _ = run("search", "--project", "Harbor Bank", "KYC vendor Onfido")
    assert "Onfido" in out


def test_dates_no_calendar_can_hold_are_dropped_not_a_traceback(run: Run, tmp_path: Path) -> None:
    run("project", "create", "Acme")
    conversation = claude_conversation("k-t", "Times", [("user", "Budget is 9,000 euros"), ("assistant", "ok")])
    conversation["created_at"] = "0001-01-01T00:00:00+14:00"
    messages = conversation["chat_messages"]
    assert isinstance(messages, list)
    messages[1]["created_at"] = "9999-12-31T23:59:59-14:00"
    path = export_zip(tmp_path / "times.zip", [conversation])
    code, out, err = run("history", "import", str(path), "--project", "Acme", "--all")
    assert code == 0 and "2 messages" in out and "Traceback" not in err


def test_a_title_holding_a_key_is_not_kept(service: MemoryService, tmp_path: Path) -> None:
    from app.history.importer import SECRET_TITLE

    key = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx"
    conversation = chatgpt_conversation("c-key", f"Staging login {key}", [("user", "The staging server is up.")])
    (parsed,) = read_export(_write(tmp_path / "c.json", [conversation]))
    project = service.create_project("Acme")
    import_conversations(service, project.id, [parsed])
    (session,) = service.list_sessions(project.id)
    assert session.title == SECRET_TITLE and key not in session.summary


@pytest.mark.parametrize(
    "make",
    [
        lambda p: _claude_with(p, {"uuid": ["x"], "parent_message_uuid": "y"}),
        lambda p: _chatgpt_with(p, {"children": 5}),
        lambda p: _chatgpt_with(p, {"children": ["b"]}, b="oops"),
        lambda p: _chatgpt_with(p, {"children": {"k": 1}}),
    ],
)
def test_shapes_no_exporter_writes_import_nothing_without_a_traceback(run: Run, tmp_path: Path, make: object) -> None:
    """Each of these once ended in a traceback; a conversation with no message it can read brings nothing."""
    run("project", "create", "Acme")
    path = make(tmp_path / "odd.json")  # type: ignore[operator]
    code, out, err = run("history", "import", str(path), "--list")
    assert code == 0 and "odd" in out and "Traceback" not in out + err
    code, out, err = run("history", "import", str(path), "--project", "Acme", "--all")
    assert code == 0 and "Nothing to import" in out and "Traceback" not in out + err
    assert run("session", "list", "--project", "Acme")[1].strip() in ("", "No sessions yet.")


def test_an_imported_remember_or_forget_is_read_not_obeyed(service: MemoryService, tmp_path: Path) -> None:
    """Said to another tool long ago: into the inbox at most, never straight into memory or out of it."""
    project = service.create_project("Acme")
    launch = service.add_fact(project.id, "The Acme launch is on 3 March", "deadline")
    turns = [
        ("user", "Remember that the Acme VPN password is Xy7#kLm9qZ and the card is 4111 1111 1111 1111"),
        ("user", "Forget the Acme launch date"),
        ("user", "Remember that Dana Kim approves the invoices from 1 April."),
    ]
    (parsed,) = read_export(_write(tmp_path / "c.json", [chatgpt_conversation("c-old", "Old chat", turns)]))
    import_conversations(service, project.id, [parsed], extractor=MemoryExtractor(service))
    assert [f.text for f in service.list_facts(project.id)] == [launch.text]  # nothing added, nothing archived
    pending = [p.text for p in service.list_proposals(project.id)]
    assert not any("Xy7" in t or "4111" in t for t in pending)
    assert any("Dana Kim approves the invoices" in t for t in pending)
