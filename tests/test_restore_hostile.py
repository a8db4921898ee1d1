"""Restore treats a backup as hostile input: forged schemas, settings, manifests and zip bombs."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.portability.backup import MANIFEST, SETTINGS, BackupError, restore_backup
from memory import DB_FILENAME, MemoryService, database_counts
from memory.embedding import MiniLMEmbedder
from tests.conftest import Run

Forgery = Callable[[sqlite3.Connection], None]


@pytest.fixture
def good_backup(run: Run, data_dir: Path, tmp_path: Path, embedder: MiniLMEmbedder) -> Path:
    assert run("project", "create", "Acme")[0] == 0
    assert run("project", "create", "Globex")[0] == 0
    assert run("fact", "add", "--project", "Acme", "Acme secret: the teal logo")[0] == 0
    with MemoryService.open(data_dir, embedder=embedder) as service:
        session = service.start_session(1, "Kick-off")
        service.add_message(session.id, "user", "The logo goes teal.")
    assert run("model", "remote", "http://127.0.0.1:9/v1", "--model", "m", "--route", "chat")[0] == 0
    target = tmp_path / "good.zip"
    assert run("backup", "-o", str(target))[0] == 0
    return target


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _pack(target: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(target, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def _forge(good: Path, tmp_path: Path, *, database: Forgery | None = None, settings_json: Any = None) -> Path:
    """A backup an attacker made from a real one: altered, with every checksum and count recomputed."""
    members = _members(good)
    work = tmp_path / "forge"
    work.mkdir(exist_ok=True)
    db_path = work / DB_FILENAME
    db_path.write_bytes(members[DB_FILENAME])
    if database is not None:
        connection = sqlite3.connect(db_path)
        database(connection)
        connection.commit()
        connection.close()
    members[DB_FILENAME] = db_path.read_bytes()
    if settings_json is not None:
        members[SETTINGS] = json.dumps(settings_json).encode()
    manifest = json.loads(members[MANIFEST])
    for name in (DB_FILENAME, SETTINGS):
        if name in members:
            manifest["files"][name] = {"sha256": hashlib.sha256(members[name]).hexdigest(), "bytes": len(members[name])}
    try:
        manifest["counts"] = database_counts(db_path)
    except Exception:
        pass  # a database the check refuses keeps the old counts; it is refused either way
    members[MANIFEST] = json.dumps(manifest).encode()
    return _pack(tmp_path / "forged.zip", members)


FORGED_SCHEMAS: dict[str, str] = {
    "a trigger copying facts into another project": (
        "CREATE TRIGGER leak AFTER INSERT ON facts BEGIN "
        "INSERT INTO facts (project_id, text, kind, pinned, status, source, created_at, updated_at, vec_current) "
        "VALUES (2, new.text, new.kind, 0, 'active', 'manual', new.created_at, new.updated_at, 0); END"
    ),
    "a view": "CREATE VIEW everything AS SELECT * FROM facts",
    "a table": "CREATE TABLE extra (x)",
    "an index": "CREATE INDEX ix_extra ON facts (text)",
    "a changed trigger": (
        "DROP TRIGGER messages_fts_insert; CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages "
        "BEGIN INSERT INTO messages_fts(rowid, body) VALUES (new.id, 'x'); END"
    ),
    "no schema version": "DROP TABLE alembic_version",
    # In SQL's LIKE, "_" matches any character: a name like this once slipped past the check.
    "a trigger named like a statistics table": (
        "CREATE TRIGGER sqlite1stat_spy AFTER INSERT ON facts BEGIN "
        "UPDATE projects SET description = description || new.text; END"
    ),
    "a view named like a statistics table": "CREATE VIEW sqlite0stat AS SELECT * FROM facts",
    "a statistics table of its own design": "CREATE TABLE zzzzzz_stat3(a INTEGER REFERENCES projects(id), p TEXT); "
    "INSERT INTO zzzzzz_stat3 VALUES (1, 'hidden'); PRAGMA writable_schema = ON; "
    "UPDATE sqlite_master SET name = 'sqlite_stat3', tbl_name = 'sqlite_stat3', "
    "sql = replace(sql, 'zzzzzz_stat3', 'sqlite_stat3') WHERE name = 'zzzzzz_stat3'",
    "a newer schema version": "UPDATE alembic_version SET version_num = '9999_future'",
}


def _refused_restore(run: Run, good_backup: Path, tmp_path: Path, sql: str) -> str:
    """Restores a backup forged with ``sql``; checks it is refused in one line with nothing written."""
    forged = _forge(good_backup, tmp_path, database=lambda c: c.executescript(sql))
    target = tmp_path / "restored"
    code, _, err = run("--data-dir", str(target), "restore", str(forged))
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not target.exists(), "a refused restore leaves no folder behind"
    return err


@pytest.mark.parametrize("forgery", sorted(FORGED_SCHEMAS))
def test_a_backup_whose_schema_is_not_dossiers_is_refused_before_anything_is_written(
    run: Run, good_backup: Path, tmp_path: Path, forgery: str
) -> None:
    err = _refused_restore(run, good_backup, tmp_path, FORGED_SCHEMAS[forgery])
    assert "schema" in err.lower() or "newer version" in err, err
    target = tmp_path / "restored"
    # The same folder takes a sound backup afterwards.
    code, out, err = run("--data-dir", str(target), "restore", str(good_backup))
    assert code == 0, err


def test_a_backup_cannot_point_the_chat_at_a_remote_server(run: Run, good_backup: Path, tmp_path: Path) -> None:
    forged = _forge(
        good_backup,
        tmp_path,
        settings_json={
            "schema_version": 1,
            "chat_backend": "remote",
            "background_backend": "remote",
            "remote_base_url": "http://203.0.113.9/v1",
            "remote_model": "harvester",
            "threads": 2,
            "auto_accept_project_ids": [1, 2],
        },
    )
    target = tmp_path / "restored"
    code, out, err = run("--data-dir", str(target), "restore", str(forged))
    assert code == 0, err
    assert "203.0.113.9" in out and "was not enabled" in out
    # Facts filed unread is the user's trust here, not the backup's.
    assert "wait in the inbox until you turn that on again" in out
    assert json.loads((target / SETTINGS).read_text())["auto_accept_project_ids"] == []
    restored = json.loads((target / SETTINGS).read_text())
    assert restored["chat_backend"] == restored["background_backend"] == "local"
    assert restored["remote_base_url"] is None and restored["remote_model"] == ""
    assert restored["threads"] == 2, "local settings come back"
    assert (target / SETTINGS).stat().st_mode & 0o777 == 0o600


def test_the_users_own_remote_endpoint_also_comes_back_as_a_suggestion(
    run: Run, good_backup: Path, tmp_path: Path
) -> None:
    target = tmp_path / "restored"
    code, out, err = run("--data-dir", str(target), "restore", str(good_backup))
    assert code == 0, err
    assert "127.0.0.1:9" in out and json.loads((target / SETTINGS).read_text())["chat_backend"] == "local"


def test_a_zip_bomb_is_refused_from_its_declared_sizes(good_backup: Path, tmp_path: Path) -> None:
    members = _members(good_backup)
    members[DB_FILENAME] = bytes(64 << 20)  # 64 MiB of zeros: about 64 KiB deflated
    manifest = json.loads(members[MANIFEST])
    manifest["files"][DB_FILENAME] = {"sha256": hashlib.sha256(members[DB_FILENAME]).hexdigest(), "bytes": 64 << 20}
    members[MANIFEST] = json.dumps(manifest).encode()
    bomb = _pack(tmp_path / "bomb.zip", members)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(BackupError, match="zip bomb"):
        restore_backup(bomb, tmp_path / "restored")
    assert not (tmp_path / "restored").exists()


def test_entries_each_under_the_ratio_that_add_up_to_a_disks_worth_are_refused_before_any_is_unpacked(
    good_backup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small zip of stowaway originals, each compressing less than a bomb would, still unpacking to gigabytes."""
    import app.portability.backup as backup

    members = _members(good_backup)
    manifest = json.loads(members[MANIFEST])
    for _ in range(4):
        body = os.urandom(48_000) + bytes(6 << 20)  # about 100-fold each: under the per-entry limit
        sha = hashlib.sha256(body).hexdigest()
        name = f"documents/{sha[:2]}/{sha}.pdf"
        members[name] = body
        manifest["files"][name] = {"sha256": sha, "bytes": len(body)}
    members[MANIFEST] = json.dumps(manifest).encode()
    forged = _pack(tmp_path / "stowaways.zip", members)
    unpacked: list[str] = []
    real_copy = backup._copy_limited
    monkeypatch.setattr(
        backup,
        "_copy_limited",
        lambda source, sink, limit: unpacked.append(Path(sink.name).name) or real_copy(source, sink, limit),
    )
    with pytest.raises(BackupError, match="would unpack to .*a zip bomb"):
        restore_backup(forged, tmp_path / "restored")
    assert unpacked == [] and not (tmp_path / "restored").exists()
    # Within the ratio, the stowaways are still refused before they are unpacked: no document uses them.
    monkeypatch.setattr(backup, "MAX_TOTAL_RATIO", 1_000)
    with pytest.raises(BackupError, match="no document of its database uses"):
        restore_backup(forged, tmp_path / "restored")
    assert sorted(unpacked) == [DB_FILENAME, SETTINGS]  # no original
    # And a backup the disk has no room for says so.
    monkeypatch.setattr(backup, "DISK_MARGIN_BYTES", 1 << 60)
    with pytest.raises(BackupError, match="needs .* bytes of free disk space"):
        restore_backup(good_backup, tmp_path / "restored")
    assert not (tmp_path / "restored").exists()


def test_a_huge_manifest_is_refused_before_it_is_read(good_backup: Path, tmp_path: Path) -> None:
    members = _members(good_backup)
    manifest = json.loads(members[MANIFEST])
    manifest["padding"] = " " * (3 << 20)
    members[MANIFEST] = json.dumps(manifest).encode()
    with pytest.raises(BackupError, match="manifest"):
        restore_backup(_pack(tmp_path / "big.zip", members), tmp_path / "restored")


MANIFEST_EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "files as a list": lambda m: m.update(files=[DB_FILENAME]),
    "files holding a string": lambda m: m.update(files={DB_FILENAME: "x"}),
    "no created_at": lambda m: m.pop("created_at"),
    "created_at invalid": lambda m: m.update(created_at="yesterday"),
    "created_at a number": lambda m: m.update(created_at=17),
    "bytes a string": lambda m: m["files"][DB_FILENAME].update(bytes="12"),
}


@pytest.mark.parametrize("edit", sorted(MANIFEST_EDITS))
def test_a_malformed_manifest_gets_a_message_not_a_traceback(
    run: Run, good_backup: Path, tmp_path: Path, edit: str
) -> None:
    members = _members(good_backup)
    manifest = json.loads(members[MANIFEST])
    MANIFEST_EDITS[edit](manifest)
    members[MANIFEST] = json.dumps(manifest).encode()
    forged = _pack(tmp_path / "edited.zip", members)
    code, _, err = run("--data-dir", str(tmp_path / "restored"), "restore", str(forged))
    assert code == 2 and "Traceback" not in err and "manifest" in err, err
    assert not (tmp_path / "restored").exists()


def _mark_encrypted(path: Path, name: str) -> Path:
    """Sets the "encrypted" flag of an entry in its local and central headers (zipfile never writes it)."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo(name).header_offset
    raw[offset + 6] |= 0x1
    start = raw.find(b"PK\x01\x02")
    while start != -1:
        length = int.from_bytes(raw[start + 28 : start + 30], "little")
        if raw[start + 46 : start + 46 + length] == name.encode():
            raw[start + 8] |= 0x1
        start = raw.find(b"PK\x01\x02", start + 4)
    path.write_bytes(bytes(raw))
    return path


def test_encrypted_and_unusually_compressed_entries_are_refused(good_backup: Path, tmp_path: Path) -> None:
    members = _members(good_backup)
    with pytest.raises(BackupError, match="compression method"):
        restore_backup(_pack(tmp_path / "lzma.zip", members, zipfile.ZIP_LZMA), tmp_path / "a")
    encrypted = _mark_encrypted(_pack(tmp_path / "encrypted.zip", members), DB_FILENAME)
    with pytest.raises(BackupError, match="encrypted"):
        restore_backup(encrypted, tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_folder_with_files_that_are_not_dossiers_is_refused(good_backup: Path, tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "thesis.docx").write_text("mine")
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(good_backup, target)
    assert sorted(p.name for p in target.iterdir()) == ["thesis.docx"]


# ---------------------------------------------------------------- fuzzing


def _mutations(good: bytes) -> st.SearchStrategy[bytes]:
    flip = st.tuples(st.integers(0, len(good) - 1), st.integers(1, 255)).map(
        lambda p: good[: p[0]] + bytes([good[p[0]] ^ p[1]]) + good[p[0] + 1 :]
    )
    truncate = st.integers(0, len(good) - 1).map(lambda n: good[:n])
    return st.one_of(flip, truncate, st.lists(flip, min_size=2, max_size=4).map(lambda xs: xs[-1]))


#: ``make test`` tries 40 mutated backups; ``make stress`` (DOSSIER_STRESS=1) tries 500.
FUZZ_CASES = 500 if os.environ.get("DOSSIER_STRESS") == "1" else 40


@settings(max_examples=FUZZ_CASES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_backups_never_give_a_traceback_a_stray_write_or_a_foreign_schema(
    good_backup: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    good = good_backup.read_bytes()
    kind = data.draw(st.sampled_from(["bytes", "manifest", "schema", "compression"]))
    root = tmp_path_factory.mktemp("fuzz")
    candidate = root / "candidate.zip"
    if kind == "bytes":
        candidate.write_bytes(data.draw(_mutations(good)))
    elif kind == "manifest":
        members = _members(good_backup)
        manifest = json.loads(members[MANIFEST])
        key = data.draw(st.sampled_from(sorted(manifest)))
        manifest[key] = data.draw(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.just([]), st.just({})))
        members[MANIFEST] = json.dumps(manifest).encode()
        _pack(candidate, members)
    elif kind == "schema":
        statement = data.draw(st.sampled_from(sorted(FORGED_SCHEMAS.values())))
        _forge(good_backup, root, database=lambda c: c.executescript(statement)).rename(candidate)
    else:
        method = data.draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]))
        _pack(candidate, _members(good_backup), method)
    before = sorted(p.name for p in root.iterdir())
    target = root / "restored"
    try:
        restore_backup(candidate, target)
    except BackupError:
        assert not target.exists()
        assert sorted(p.name for p in root.iterdir()) == before, "nothing written outside the scratch folder"
        return
    # Accepted: then it is a database with exactly Dossier's schema.
    database_counts(target / DB_FILENAME)
    assert sorted(p.name for p in root.iterdir()) == sorted([*before, "restored"])


def test_a_backup_cannot_choose_the_model_file_or_absurd_numbers(run: Run, good_backup: Path, tmp_path: Path) -> None:
    forged = _forge(
        good_backup,
        tmp_path,
        settings_json={"model_path": "/etc/passwd", "context_length": -5, "threads": 10**9, "temperature": 0.2},
    )
    target = tmp_path / "restored"
    code, out, err = run("--data-dir", str(target), "restore", str(forged))
    assert code == 0 and "/etc/passwd" in out and "dossier model use" in out, err
    restored = json.loads((target / SETTINGS).read_text())
    assert restored["model_path"] is None and restored["context_length"] > 0 and restored["threads"] < 1000
    assert restored["temperature"] == 0.2


def test_a_restore_target_whose_leftovers_are_links_is_refused(good_backup: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "vector-index").symlink_to(victim, target_is_directory=True)
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(good_backup, target)
    assert list(victim.iterdir()) == []


def test_a_file_in_the_target_path_is_a_clear_refusal(good_backup: Path, tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="a file stands in its path"):
        restore_backup(good_backup, good_backup / "sub")


_DOCUMENT = (
    "INSERT INTO documents (id, project_id, title, filename, media_type, sha256, size, pages, status, text, "
    "details, watched_folder_id, watched_path, added_at, updated_at, removed_at) VALUES (1, 1, 'Notes', "
    "'notes.txt', '{type}', '{sha}', 5, NULL, 'active', 'notes', '{{}}', NULL, NULL, '2026-01-01 00:00:00', "
    "'2026-01-01 00:00:00', NULL)"
)
FORGED_ROWS: dict[str, str] = {
    "a time that is not a time": "UPDATE facts SET created_at = 'garbage' WHERE id = 1",
    "a kind that is no kind": "UPDATE facts SET kind = 'evil' WHERE id = 1",
    "a fact of a project that does not exist": "PRAGMA foreign_keys = OFF; UPDATE facts SET project_id = 42",
    "an impossible day": "UPDATE projects SET created_at = '2024-02-30 00:00:00'",
    "hour 24": "UPDATE facts SET updated_at = '2024-01-01 24:00:00'",
    "bytes that are not UTF-8": "UPDATE facts SET text = CAST(x'41ff42' AS TEXT)",
    "a second schema version": "INSERT INTO alembic_version VALUES ('zzzz')",
    "no identity": "DELETE FROM database_identity",
    "two identities": "INSERT INTO database_identity (id, database_id) VALUES (5, 'abc')",
    "a voice list of numbers": "INSERT OR REPLACE INTO voice_profiles "
    "(project_id, tone, style_do, style_dont, vocabulary, samples, updated_at) "
    "VALUES (1, 'x', '[1, {\"a\": null}]', '[]', '[]', '[]', '2024-01-01 00:00:00')",
    "a version with no room to count up": "UPDATE fact_versions SET version = 9223372036854775807",
    "a proposal aimed at another project's fact": "INSERT INTO proposals "
    "(project_id, action, target_fact_id, text, kind, status, reason, created_at) "
    "VALUES (2, 'update', 1, 'Acme secret LEAKED', 'fact', 'pending', '', '2024-01-01 00:00:00')",
    "a message filed under another project": "INSERT INTO messages "
    "(session_id, project_id, role, speaker, content, created_at, context_item_keys, vec_current) "
    "SELECT id, 2, 'user', '', 'swordfish', '2024-01-01 00:00:00', '[]', 0 FROM chat_sessions LIMIT 1",
    "a list that is no list": "UPDATE voice_profiles SET style_do = '{' ; INSERT OR IGNORE INTO voice_profiles "
    "(project_id, tone, style_do, style_dont, vocabulary, samples, updated_at) "
    "VALUES (1, '', '{', '[]', '[]', '[]', '2026-01-01 00:00:00')",
    "text where a number goes": "UPDATE fact_versions SET version = 'one'",
    # A kept original's path is made of its hash and type: removing this document or
    # syncing its folder would delete the file the "hash" leads to.
    "a document whose hash is a path": _DOCUMENT.format(
        sha="../../../../../../tmp/victim/authorized_keys", type="text/plain"
    ),
    "a document of a type Dossier does not read": _DOCUMENT.format(sha="ab" * 32, type="application/x-anything"),
    "a document's passage filed under another project": _DOCUMENT.format(sha="ab" * 32, type="text/plain")
    + "; INSERT INTO document_chunks (document_id, project_id, ordinal, page, section, heading_path, start, end, "
    "text, vec_current) VALUES (1, 2, 0, NULL, 1, '', 0, 5, 'notes', 0)",
}


@pytest.mark.parametrize("forgery", sorted(FORGED_ROWS))
def test_a_backup_whose_rows_dossier_could_not_read_is_refused(
    run: Run, good_backup: Path, tmp_path: Path, forgery: str
) -> None:
    assert "The database" in _refused_restore(run, good_backup, tmp_path, FORGED_ROWS[forgery])


def test_a_restored_backup_watches_no_folder_until_the_user_chooses_it_again(
    run: Run, good_backup: Path, tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    private = tmp_path / "private"
    private.mkdir()
    (private / "notes.txt").write_text("Merger with Initech, do not tell Acme.", "utf-8")
    forged = _forge(
        good_backup,
        tmp_path,
        database=lambda c: c.execute(
            "INSERT INTO watched_folders (project_id, path, added_at) VALUES (1, ?, '2026-01-01 00:00:00')",
            (str(private),),
        ),
    )
    target = tmp_path / "restored"
    code, out, err = run("--data-dir", str(target), "restore", str(forged))
    assert code == 0, err
    assert f"watched 1 folder ({private})" in out and "dossier doc watch" in out
    code, out, _ = run("--data-dir", str(target), "doc", "sync")
    with MemoryService.open(target, embedder=embedder) as service:
        assert service.list_watched_folders() == [] and service.list_documents(1) == []
        assert not service.search(1, "Initech merger", mode="bm25")


@pytest.mark.parametrize("revision", ["0001", "0005", "0007"])
def test_a_backup_made_by_an_older_dossier_restores_and_upgrades(
    run: Run, good_backup: Path, tmp_path: Path, embedder: MiniLMEmbedder, revision: str
) -> None:
    """Backups outlive versions: one made before documents (or before today's schema) still restores."""
    from tests.test_migrations import legacy_database

    old = tmp_path / "old" / DB_FILENAME
    old.parent.mkdir()
    legacy_database(old, revision)
    members = _members(good_backup)
    members[DB_FILENAME] = old.read_bytes()
    manifest = json.loads(members[MANIFEST])
    manifest["files"][DB_FILENAME] = {
        "sha256": hashlib.sha256(members[DB_FILENAME]).hexdigest(),
        "bytes": len(members[DB_FILENAME]),
    }
    manifest["counts"] = database_counts(old)
    members[MANIFEST] = json.dumps(manifest).encode()
    target = tmp_path / "restored"
    code, out, err = run("--data-dir", str(target), "restore", str(_pack(tmp_path / "old.zip", members)))
    assert code == 0, err
    with MemoryService.open(target, embedder=embedder) as service:
        assert service.list_facts(1)[0].text == "Legacy fact about invoices"
        assert service.search(1, "billing")[0].fact_ids == (1,)


def test_a_restore_works_in_the_data_folders_own_file_system(
    good_backup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data folder that is a mount of its own: the checked files are moved within it, never across."""
    import tempfile

    import app.portability.backup as backup

    scratch: list[Path] = []
    real = tempfile.TemporaryDirectory

    def recorded(*args: Any, **kwargs: Any) -> tempfile.TemporaryDirectory[str]:
        scratch.append(Path(kwargs["dir"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(backup.tempfile, "TemporaryDirectory", recorded)
    target = tmp_path / "mounted"
    target.mkdir()
    restore_backup(good_backup, target)
    assert scratch == [target] and (target / DB_FILENAME).exists()
    assert sorted(p.name for p in target.iterdir()) == [DB_FILENAME, SETTINGS]  # no scratch left behind
