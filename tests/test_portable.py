from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from memory import (
    ConflictError,
    FactKind,
    ImportFormatError,
    MemoryService,
    NewMessage,
    Role,
)
from memory.embedding import MiniLMEmbedder
from memory.portable import schema

T0 = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)


def _rich_project(service: MemoryService) -> int:
    p = service.create_project("Acme Rebrand", "Logo, guidelines, launch")
    service.add_fact(None, "My rate is 900 EUR a day", FactKind.PREFERENCE)  # global: not exported
    s1 = service.start_session(p.id, "Kick-off", started_at=T0)
    msgs = service.add_messages(
        s1.id,
        [
            NewMessage(Role.OTHER, "Budget is 40k. Ünïcödé ✓ 日本語 مرحبا", "Dana", T0, "call-1"),
            NewMessage(Role.USER, "Noted.", "Me", T0 + timedelta(minutes=1)),
        ],
    )
    f1 = service.add_fact(p.id, "Budget is 40k EUR", FactKind.DECISION, source_message_id=msgs[0].id)
    service.edit_fact(f1.id, "Budget is 45k EUR")
    service.pin_fact(f1.id)
    f2 = service.add_fact(p.id, "<script>alert(1)</script> | # not markup", FactKind.NOTE)
    service.archive_fact(f2.id)
    service.set_session_summary(s1.id, "Agreed the budget.")
    service.end_session(s1.id, ended_at=T0 + timedelta(hours=1))
    s2 = service.start_session(p.id, "Follow-up", started_at=T0 + timedelta(days=2))
    service.add_message(
        s2.id,
        Role.ASSISTANT,
        "Your budget is 45k.",
        created_at=T0 + timedelta(days=2),
        context_item_keys=[
            f"voice:{p.id}",
            f"fact:{f1.id}",
            f"messages:{msgs[0].id}-{msgs[1].id}",
            f"summary:{s1.id}",
            "fact:1",
        ],
    )
    service.set_voice(p.id, tone="Crisp", style_do=["Lead with numbers"], samples=["Hi Dana, quick update…"])
    service.propose(p.id, "update", "Budget is 50k EUR", target_fact_id=f1.id, source_message_id=msgs[0].id)
    rejected = service.propose(p.id, "add", "Dana likes golf")
    service.reject_proposal(rejected.id)
    return p.id


def _strip_volatile(document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    document.pop("exported_at")
    return document


def test_export_matches_its_schema(service: MemoryService) -> None:
    document = service.export_project(_rich_project(service))
    Draft202012Validator(schema()).validate(document)
    assert all(f["text"] != "My rate is 900 EUR a day" for f in document["facts"])


def test_round_trip_into_an_empty_data_dir_is_lossless(
    service: MemoryService, tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    project_id = _rich_project(service)
    original = service.export_project(project_id)
    text = json.dumps(original)  # through real JSON, as the CLI does
    with MemoryService.open(tmp_path / "other", embedder=embedder) as fresh:
        imported = fresh.import_project(json.loads(text))
        again = fresh.export_project(imported.id)
        assert _strip_volatile(again) == _strip_volatile(original)
        # Every row came across: compare the service's own views too.
        old_facts = service.list_facts(project_id, include_global=False, include_archived=True)
        new_facts = fresh.list_facts(imported.id, include_global=False, include_archived=True)
        assert [(f.text, f.kind, f.pinned, f.status, f.created_at, f.updated_at) for f in old_facts] == [
            (f.text, f.kind, f.pinned, f.status, f.created_at, f.updated_at) for f in new_facts
        ]
        for old, new in zip(old_facts, new_facts, strict=True):
            strip = [
                (v.version, v.text, v.kind, v.pinned, v.status, v.actor, v.action, v.created_at)
                for v in service.fact_history(old.id)
            ]
            assert strip == [
                (v.version, v.text, v.kind, v.pinned, v.status, v.actor, v.action, v.created_at)
                for v in fresh.fact_history(new.id)
            ]
        # The reference to the global fact was dropped; the others point at the new rows.
        follow_up = fresh.list_sessions(imported.id)[0]
        keys = fresh.list_messages(follow_up.id)[0].context_item_keys
        assert keys[0] == f"voice:{imported.id}" and len(keys) == 4
        # The imported memory is searchable by words straight away, and by meaning once embedded.
        assert fresh.search(imported.id, "Ünïcödé")[0].external_ids == ("call-1",)
        assert fresh.wait_for_index(120)
        assert fresh.search(imported.id, "how much money do we have")[0].text.startswith("Budget is 45k")


def test_import_a_long_transcript(service: MemoryService) -> None:
    document = {
        "format": "dossier.project",
        "version": 1,
        "project": {"name": "Transcript"},
        "facts": [],
        "sessions": [
            {
                "ref": 1,
                "title": "Workshop",
                "messages": [
                    {
                        "ref": n + 1,
                        "role": "other" if n % 2 else "user",
                        "speaker": f"Speaker {n % 5}",
                        "content": f"Line {n}: we discussed work package {n} and milestone M{n // 50}.",
                        "created_at": (T0 + timedelta(seconds=n)).isoformat(),
                        "external_id": f"line-{n}",
                    }
                    for n in range(3000)
                ],
            }
        ],
    }
    project = service.import_project(document)
    session = service.list_sessions(project.id)[0]
    assert session.message_count == 3000
    hit = service.search(project.id, "work package 2718")[0]
    assert "line-2718" in hit.external_ids


def test_name_conflicts_need_a_new_name(service: MemoryService) -> None:
    document = service.export_project(_rich_project(service))
    with pytest.raises(ConflictError, match="another name"):
        service.import_project(document)
    copy_ = service.import_project(document, as_project="Acme copy")
    assert copy_.name == "Acme copy"


def _minimal() -> dict[str, Any]:
    return {
        "format": "dossier.project",
        "version": 1,
        "project": {"name": "Min"},
        "facts": [{"ref": 1, "text": "ok"}],
        "sessions": [{"ref": 1, "messages": [{"ref": 1, "role": "user", "content": "hi"}]}],
    }


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.update(version=3), "$.version"),
        (lambda d: d.update(format="something"), "$.format"),
        (lambda d: d["facts"][0].update(kind="opinion"), "$.facts[0].kind"),
        (lambda d: d["facts"][0].update(text=""), "$.facts[0].text"),
        (lambda d: d["facts"][0].update(text="bad\x00"), "$.facts[0].text"),
        (lambda d: d["facts"][0].update(text="x" * 1_000_000), "$.facts[0].text"),
        (lambda d: d["facts"][0].update(source_message_ref=9), "$.facts[0].source_message_ref"),
        (lambda d: d["sessions"][0]["messages"][0].update(role="robot"), "$.sessions[0].messages[0].role"),
        (
            lambda d: d["sessions"][0]["messages"][0].update(created_at="2026-13-45T99:99"),
            "$.sessions[0].messages[0].created_at",
        ),
        (
            lambda d: d["sessions"][0]["messages"].append({"ref": 1, "role": "user", "content": "dup"}),
            "$.sessions[0].messages[1].ref",
        ),
        (lambda d: d.pop("facts"), "$"),
        (lambda d: d["project"].update(name=7), "$.project.name"),
        (lambda d: d.update(extra=True), "$"),
    ],
)
def test_malformed_documents_name_the_json_path_and_change_nothing(
    service: MemoryService, mutate: Any, path: str
) -> None:
    service.create_project("Existing")
    document = _minimal()
    mutate(document)
    with pytest.raises(ImportFormatError) as error:
        service.import_project(document)
    assert error.value.json_path == path
    assert str(error.value).startswith(path)
    assert [p.name for p in service.list_projects(include_archived=True)] == ["Existing"]


def test_not_an_object(service: MemoryService) -> None:
    with pytest.raises(ImportFormatError):
        service.import_project([1, 2, 3])
