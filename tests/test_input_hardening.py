"""Input a careless user or a hostile file brings: a one-line message and exit 2, nothing stored changed."""

from __future__ import annotations

import copy
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memory import DB_FILENAME, ConflictError, InvalidInputError, MemoryService
from tests.conftest import Run

HUGE = "99999999999999999999"


@pytest.fixture
def acme(run: Run) -> None:
    assert run("project", "create", "Acme")[0] == 0
    assert run("fact", "add", "--project", "Acme", "Budget is 40k EUR")[0] == 0


def _snapshot(run: Run, folder: Path) -> str:
    target = folder / "snapshot.json"
    assert run("export", "--project", "Acme", "-o", str(target))[0] == 0
    document = json.loads(target.read_text())
    return json.dumps({k: v for k, v in document.items() if k != "exported_at"}, sort_keys=True)


@pytest.mark.parametrize(
    "argv",
    [
        ["fact", "edit", HUGE, "x"],
        ["fact", "history", HUGE],
        ["fact", "archive", HUGE],
        ["fact", "restore", "1", "--version", HUGE],
        ["search", "--project", HUGE, "budget"],
        ["chat", "--project", "Acme", "--session", HUGE, "hello"],
        ["summarize", "--session", HUGE],
        ["fact", "edit", "-3", "x"],
    ],
)
def test_ids_no_database_can_hold_are_not_found_not_a_traceback(
    run: Run, acme: None, argv: list[str], tmp_path: Path
) -> None:
    before = _snapshot(run, tmp_path)
    code, _, err = run(*argv)
    assert code == 2 and "Traceback" not in err and err.startswith("dossier: "), err
    assert len(err.strip().splitlines()) == 1
    assert _snapshot(run, tmp_path) == before


def _export(run: Run, tmp_path: Path) -> dict[str, Any]:
    target = tmp_path / "acme.json"
    assert run("export", "--project", "Acme", "-o", str(target))[0] == 0
    return json.loads(target.read_text())


PROPOSAL = {"action": "add", "text": "x", "kind": "fact", "status": "pending", "reason": "", "created_at": None}

BAD_IMPORTS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "a version of 1e20": (lambda d: d["facts"][0]["history"][0].update(version=1e20), "version"),
    "a time past year 9999 in UTC": (
        lambda d: d["facts"][0].update(created_at="9999-12-31T23:59:59-01:00"),
        "out of range",
    ),
    "a time before year 1 in UTC": (
        lambda d: d["facts"][0].update(created_at="0001-01-01T00:00:00+01:00"),
        "out of range",
    ),
    "a reason with half a UTF-16 pair": (lambda d: d.update(proposals=[dict(PROPOSAL, reason="\ud800")]), "reason"),
    "a reason with terminal escapes": (
        lambda d: d.update(proposals=[dict(PROPOSAL, reason="\x1b]0;owned\x07\x1b[31mred")]),
        "control character",
    ),
    "a reason with a C1 control": (lambda d: d.update(proposals=[dict(PROPOSAL, reason="a\x9bb")]), "U+009B"),
    "an add proposal without text": (lambda d: d.update(proposals=[dict(PROPOSAL, text="   ")]), "empty"),
    "an empty version": (lambda d: d["facts"][0]["history"][0].update(text=""), "empty"),
    "5,000 style rules": (
        lambda d: d.update(voice={"style_do": ["Be brief"] * 5000, "style_dont": [], "vocabulary": []}),
        "at most",
    ),
    "a 100,000-character vocabulary entry": (
        lambda d: d.update(voice={"style_do": [], "style_dont": [], "vocabulary": ["v" * 100_000]}),
        "too long",
    ),
    "a memory key that points nowhere": (
        lambda d: d.update(
            sessions=[
                {
                    "ref": 1,
                    "title": "t",
                    "messages": [{"ref": 1, "role": "assistant", "content": "hi", "context_item_keys": ["fact:77"]}],
                }
            ]
        ),
        "points to nothing",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_IMPORTS))
def test_import_refuses_what_typing_refuses(run: Run, acme: None, tmp_path: Path, case: str) -> None:
    edit, expected = BAD_IMPORTS[case]
    document = copy.deepcopy(_export(run, tmp_path))
    for proposal in [*document.get("proposals", []), PROPOSAL]:
        proposal["created_at"] = proposal["created_at"] or "2026-01-01T00:00:00+00:00"
    edit(document)
    for proposal in document.get("proposals", []):
        proposal["created_at"] = proposal["created_at"] or "2026-01-01T00:00:00+00:00"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document), encoding="utf-8")
    code, _, err = run("import", str(bad), "--as-project", "Copy")
    assert code == 2 and expected in err and "Traceback" not in err, err
    assert "Copy" not in run("project", "list")[1]


def test_json_nested_200000_deep_is_refused_in_one_line(run: Run, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    code, _, err = run("import", str(deep))
    assert code == 2 and "nested too deeply" in err and "Traceback" not in err


def test_stored_escape_sequences_print_escaped(run: Run, acme: None, data_dir: Path, embedder: Any) -> None:
    with MemoryService.open(data_dir, embedder=embedder) as service:
        project = service.get_project("Acme")
        session = service.start_session(project.id, "Call")
        # Free text keeps direction controls (right-to-left writing may need them).
        service.add_message(session.id, "other", "Fine \u202eevil\u202c here", speaker="Eve")
        service.propose(project.id, "add", "Budget is 45k EUR", reason="placeholder")
    # A reason stored by an older Dossier, before imports were validated like typing.
    with sqlite3.connect(data_dir / DB_FILENAME) as db:
        db.execute("UPDATE proposals SET reason = ?", ("\x1b]0;owned\x07\x1b[2J\u009b31m",))
    db.close()
    code, out, _ = run("search", "--project", "Acme", "evil")
    assert code == 0 and "\u202e" not in out and "\\u202e" in out
    code, out, _ = run("inbox", "--project", "Acme")
    assert code == 0 and "\\u001b]0;owned\\u0007" in out
    assert not any(c in out for c in "\x1b\x07\u009b")
    code, out, _ = run("inbox", "--project", "Acme", "--json")
    assert json.loads(out)[0]["reason"] == "\x1b]0;owned\x07\x1b[2J\u009b31m", "JSON output stays lossless"


def test_a_project_named_like_an_id_is_not_silently_taken_for_it(run: Run, acme: None, data_dir: Path) -> None:
    code, _, err = run("project", "create", "1")
    assert code == 2 and "digits only" in err
    # A name of digits stored by an older Dossier: the ambiguity is refused, not resolved silently.
    with sqlite3.connect(data_dir / DB_FILENAME) as db:
        db.execute(
            "INSERT INTO projects (id, name, description, created_at, archived) VALUES (7, '1', '', '2026-01-01', 0)"
        )
    db.close()
    code, _, err = run("fact", "add", "--project", "1", "Which project is this?")
    assert code == 2 and "name the one you mean" in err
    assert run("fact", "add", "--project", "Acme", "Clearly Acme")[0] == 0


@pytest.mark.parametrize("reference", ["²", "١", "\udcff", "1\u0000"])
def test_project_references_that_are_not_ascii_digits_or_names_are_not_found(
    run: Run, acme: None, reference: str
) -> None:
    code, _, err = run("fact", "add", "--project", reference, "Goes nowhere")
    assert code == 2 and "Traceback" not in err
    code, out, _ = run("fact", "list", "--project", "Acme")
    assert "Goes nowhere" not in out


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Ärger", "ärger"),
        ("Café", "Cafe\u0301"),
        ("ＡＣＭＥ GmbH", "acme gmbh"),
        ("Straße", "STRASSE"),
        ("Acme Corp", "Acme  Corp"),
        ("Acme Corp", " acme corp "),
    ],
)
def test_look_alike_project_names_are_one_name(service: MemoryService, first: str, second: str) -> None:
    project = service.create_project(first)
    with pytest.raises(ConflictError):
        service.create_project(second)
    assert service.get_project(second).id == project.id


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("\u200b", "invisible"),
        ("Ac\u200bme", "invisible"),
        ("\ufeffAcme", "invisible"),
        ("x\u202ey", "text-direction"),
        ("a\u0085b", "control"),
        ("\u0301", "nothing visible"),
        ("Ac\u034fme", "invisible"),
        ("Acme\ufe0f", "invisible"),
        ("Acme\u3164", "invisible"),
        ("Acme\u115f", "invisible"),
        ("Acme\u2800", "invisible"),
        ("10", "digits only"),
    ],
)
def test_invisible_and_disguising_names_are_refused(service: MemoryService, name: str, says: str) -> None:
    with pytest.raises(InvalidInputError, match=says):
        service.create_project(name)
    assert service.list_projects() == []


def test_names_are_stored_composed(service: MemoryService) -> None:
    assert service.create_project("Cafe\u0301").name == "Café"


def test_a_key_inside_an_endpoint_address_is_refused_and_never_stored(run: Run, data_dir: Path) -> None:
    code, out, err = run("model", "remote", "http://me:sk-SECRET-1@127.0.0.1:9/v1", "--model", "m")
    assert code == 2 and "keyring" in err and "sk-SECRET-1" not in err
    settings_file = data_dir / "settings.json"
    assert not settings_file.exists() or "sk-SECRET-1" not in settings_file.read_text()
    code, out, _ = run("model", "list")
    assert "sk-SECRET-1" not in out


def test_a_key_left_in_old_settings_is_dropped_on_load(tmp_path: Path) -> None:
    from app.config.settings import load_settings

    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"remote_base_url": "http://me:sk-OLD@10.9.8.7:8080/v1", "remote_model": "m"}))
    assert load_settings(path).remote_base_url == "http://10.9.8.7:8080/v1"


def test_an_empty_data_dir_option_is_refused_not_the_default_folder(run: Run, tmp_path: Path) -> None:
    for argv in (["--data-dir", "", "project", "list"], ["--data-dir", " ", "restore", str(tmp_path / "x.zip")]):
        code, _, err = run(*argv)
        assert code == 2 and "--data-dir is empty" in err


def test_a_read_only_or_foreign_data_folder_is_not_chmodded(tmp_path: Path) -> None:
    from app.config.paths import ensure_private_dir

    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o500)
    read_only.chmod(0o500)
    ensure_private_dir(read_only)
    assert read_only.stat().st_mode & 0o777 == 0o500, "narrowing only: a read-only folder stays readable"
    if os.getuid() == 0:  # only root can hand a folder to someone else
        foreign = tmp_path / "foreign"
        foreign.mkdir()
        foreign.chmod(0o755)
        os.chown(foreign, 65534, 65534)
        ensure_private_dir(foreign)
        assert foreign.stat().st_mode & 0o777 == 0o755
    wide = tmp_path / "wide"
    wide.mkdir()
    wide.chmod(0o755)
    ensure_private_dir(wide)
    assert wide.stat().st_mode & 0o777 == 0o700
    read_only.chmod(0o700)


def test_a_failed_vector_write_logs_one_line_not_a_traceback(
    service: MemoryService, caplog: pytest.LogCaptureFixture
) -> None:
    project = service.create_project("Acme")

    class Broken:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("collection was dropped by a concurrent reindex")

    service._indexer.store, real = Broken(), service._indexer.store  # type: ignore[assignment]
    try:
        fact = service.add_fact(project.id, "Budget is 40k EUR")
    finally:
        service._indexer.store = real
    assert service.get_fact(fact.id).text == "Budget is 40k EUR"
    failures = [r for r in caplog.records if "vector index update failed" in r.getMessage()]
    assert failures and all(r.exc_info is None for r in failures)


def test_an_imported_history_version_leaves_room_to_count_up(run: Run, acme: None, tmp_path: Path) -> None:
    document = _export(run, tmp_path)
    document["facts"][0]["history"][0]["version"] = 2**63 - 1
    bad = tmp_path / "version.json"
    bad.write_text(json.dumps(document))
    code, _, err = run("import", str(bad), "--as-project", "Copy")
    assert code == 2 and "version" in err and "1,000,000" in err


def test_an_import_error_quoting_a_huge_value_stays_one_short_line(run: Run, acme: None, tmp_path: Path) -> None:
    document = _export(run, tmp_path)
    document["sessions"] = {"a": "x" * 5_000_000}
    bad = tmp_path / "huge.json"
    bad.write_text(json.dumps(document))
    code, _, err = run("import", str(bad), "--as-project", "Copy")
    assert code == 2 and len(err) < 1_000 and len(err.strip().splitlines()) == 1


def test_settings_out_of_range_are_ignored_with_the_default_kept(tmp_path: Path) -> None:
    from app.config.settings import Settings, load_settings

    path = tmp_path / "settings.json"
    hostile = {
        "context_length": -5,
        "max_reply_tokens": -1,
        "threads": 10**9,
        "auto_backup_keep": -3,
        "last_project_id": 10**20,
        "auto_accept_project_ids": [1, "x", [2], None],
        "temperature": 0.4,
    }
    path.write_text(json.dumps(hostile))
    loaded, defaults = load_settings(path), Settings()
    assert loaded.temperature == 0.4, "what is sound is kept"
    for name in ("context_length", "max_reply_tokens", "threads", "auto_backup_keep", "last_project_id"):
        assert getattr(loaded, name) == getattr(defaults, name), name
    assert loaded.auto_accept_project_ids == ()


def test_a_time_python_reads_but_sqlite_does_not_still_backs_up(run: Run, acme: None, tmp_path: Path) -> None:
    document = _export(run, tmp_path)
    document["facts"][0]["created_at"] = document["facts"][0]["updated_at"] = "9999-12-31T23:59:59.999999+00:00"
    late = tmp_path / "late.json"
    late.write_text(json.dumps(document))
    assert run("import", str(late), "--as-project", "Late")[0] == 0
    code, _, err = run("backup", "-o", str(tmp_path / "b.zip"))
    assert code == 0, "the user's own data can always be backed up: " + err
    code, _, err = run("--data-dir", str(tmp_path / "restored"), "restore", str(tmp_path / "b.zip"))
    assert code == 0, err


@pytest.mark.parametrize(
    "settings_text",
    [
        '{"schema_version": "9"}',
        '{"schema_version": null}',
        '{"remote_base_url": "http://[::1"}',
        '{"model_path": "a\\u0000b"}',
    ],
)
def test_a_hand_edited_settings_file_never_stops_a_command(run: Run, data_dir: Path, settings_text: str) -> None:
    assert run("project", "create", "Acme")[0] == 0
    (data_dir / "settings.json").write_text(settings_text)
    for argv in (["project", "list"], ["model", "list"]):
        code, out, err = run(*argv)
        assert code == 0 and "Traceback" not in err, (argv, err)


def test_an_import_with_a_number_python_will_not_read_is_refused(run: Run, tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    huge.write_text('{"format": "dossier.project", "version": ' + "9" * 5_001 + "}")
    code, _, err = run("import", str(huge))
    assert code == 2 and "Traceback" not in err and len(err) < 1_000
