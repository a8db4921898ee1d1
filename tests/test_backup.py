"""Backup and restore: lossless round trip, damage refused, consistent while writing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import threading
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.config.paths import WINDOW_LOCK
from app.config.settings import Settings, load_settings, save_settings
from app.portability.backup import BackupError, auto_backup_if_due, create_backup, restore_backup
from cli import main as cli
from memory import DB_FILENAME, MemoryService, NewMessage, Role
from memory.embedding import MiniLMEmbedder
from tests.conftest import Run


def _fill(service: MemoryService) -> None:
    acme = service.create_project("Acme", "Rebrand – Zürich, 東京")
    other = service.create_project("Globex")
    fact = service.add_fact(acme.id, "Budget is 40,000 EUR 🎉", "decision", pinned=True)
    service.edit_fact(fact.id, "Budget is 45,000 EUR")
    service.add_fact(None, "I invoice monthly", "preference")
    service.add_fact(other.id, "Globex secret: merger in May")
    session = service.start_session(acme.id, "Kickoff")
    messages = service.add_messages(
        session.id,
        [
            NewMessage(Role.USER, "The launch is on 3 April."),
            NewMessage(Role.ASSISTANT, "Noted.", context_item_keys=("fact:1",)),
        ],
    )
    service.set_session_summary(session.id, "Launch on 3 April.", through_message_id=messages[-1].id)
    service.propose(acme.id, "add", "Jane prefers email", source_message_id=messages[0].id)
    service.set_voice(acme.id, tone="warm", style_do=["short sentences"])


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    connection = sqlite3.connect(path)
    tables = [
        name
        for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        # A restored database gets a new identity on purpose (see restore_backup).
        if not name.startswith(("sqlite_", "alembic")) and "_fts" not in name and name != "database_identity"
    ]
    rows = {t: connection.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}
    connection.close()
    return rows


def test_round_trip_restores_every_row_and_rebuilds_the_index(
    tmp_path: Path, service: MemoryService, embedder: MiniLMEmbedder
) -> None:
    _fill(service)
    settings_file = tmp_path / "settings.json"
    save_settings(settings_file, Settings(temperature=0.3, auto_accept_project_ids=(1,)))
    info = create_backup(service, settings_file, tmp_path / "backup.zip")
    assert info.counts["facts"] == 3 and info.counts["fact_versions"] == 4
    restored_dir = tmp_path / "restored"
    info = restore_backup(tmp_path / "backup.zip", restored_dir)
    assert _rows(restored_dir / DB_FILENAME) == _rows(service.database_path)
    # The settings come back, but for the trust to file proposals unread, which the user gives again.
    assert load_settings(restored_dir / "settings.json") == Settings(temperature=0.3)
    assert info.suggestion is not None and "until you turn that on again" in info.suggestion
    with MemoryService.open(restored_dir, embedder=embedder) as restored:
        acme = restored.get_project("Acme")
        hits = restored.search(acme.id, "how much is the budget")
        assert hits[0].key == "fact:1"  # the vector index was rebuilt from SQLite
        assert all("Globex" not in h.text for h in hits)
    assert oct(restored_dir.stat().st_mode & 0o777) == "0o700"
    assert oct((restored_dir / DB_FILENAME).stat().st_mode & 0o777) == "0o600"


def _tamper(source: Path, target: Path, name: str, change: bytes) -> None:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            dst.writestr(item, data + change if item.filename == name else data)


def test_damaged_backups_are_refused_and_the_target_stays_untouched(tmp_path: Path, service: MemoryService) -> None:
    _fill(service)
    good = tmp_path / "good.zip"
    create_backup(service, tmp_path / "no-settings.json", good)
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    altered = tmp_path / "altered.zip"
    _tamper(good, altered, DB_FILENAME, b"extra bytes")
    bogus = tmp_path / "bogus.zip"
    bogus.write_text("hello")
    for bad, message in [
        (truncated, "not a readable zip|damaged"),
        (altered, "altered or truncated"),
        (bogus, "not a Dossier backup"),
        (tmp_path / "missing.zip", "no such file"),
    ]:
        target = tmp_path / f"target-{bad.stem}"
        with pytest.raises(BackupError, match=message):
            restore_backup(bad, target)
        assert not target.exists() or not any(target.iterdir())
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / DB_FILENAME).write_bytes(b"mine")
    with pytest.raises(BackupError, match="already has a database"):
        restore_backup(good, busy)
    assert [p.name for p in busy.iterdir()] == [DB_FILENAME] and (busy / DB_FILENAME).read_bytes() == b"mine"


def test_backup_is_consistent_while_another_thread_writes(tmp_path: Path, service: MemoryService) -> None:
    project = service.create_project("Busy")
    session = service.start_session(project.id)
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            service.add_messages(session.id, [NewMessage(Role.USER, f"message {n}"), NewMessage(Role.ASSISTANT, "ok")])
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        infos = [create_backup(service, tmp_path / "none.json", tmp_path / f"b{i}.zip") for i in range(3)]
    finally:
        stop.set()
        thread.join()
    for i, info in enumerate(infos):
        restore_backup(info.path, tmp_path / f"r{i}")
        assert info.counts["messages"] % 2 == 0  # pairs are written in one transaction: never half of one


def test_automatic_backups_are_daily_and_pruned(tmp_path: Path, service: MemoryService) -> None:
    _fill(service)
    folder = tmp_path / "backups"
    assert auto_backup_if_due(service, tmp_path / "s.json", folder, keep=0) is None
    first = auto_backup_if_due(service, tmp_path / "s.json", folder, keep=2)
    assert first is not None and auto_backup_if_due(service, tmp_path / "s.json", folder, keep=2) is None
    import os

    day = timedelta(days=1).total_seconds()
    for step in (1, 2):
        newest = sorted(folder.glob("*.zip"))[-1]
        os.utime(newest, (newest.stat().st_mtime - 2 * day, newest.stat().st_mtime - 2 * day))
        later = datetime.now(UTC) + timedelta(seconds=step)
        assert auto_backup_if_due(service, tmp_path / "s.json", folder, keep=2, now=later) is not None
    assert len(list(folder.glob("*.zip"))) == 2


def test_backup_and_restore_commands(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    def opener(path: Path, **options: bool) -> MemoryService:
        return MemoryService.open(path, embedder=embedder, **options)

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        return cli.main(list(argv), out=out, err=err, open_service=opener), out.getvalue(), err.getvalue()

    source = tmp_path / "source"
    assert run("--data-dir", str(source), "project", "create", "Acme")[0] == 0
    assert run("--data-dir", str(source), "fact", "add", "--project", "Acme", "Budget is 40k")[0] == 0
    code, out, _ = run("--data-dir", str(source), "backup", "-o", str(tmp_path / "b.zip"))
    assert code == 0 and "1 project, 1 fact, 1 fact version" in out
    code, out, _ = run("--data-dir", str(tmp_path / "empty"), "restore", str(tmp_path / "b.zip"))
    assert code == 0 and "1 project," in out and "1 projects" not in out
    code, out, _ = run("--data-dir", str(tmp_path / "empty"), "search", "--project", "Acme", "budget")
    assert code == 0 and "Budget is 40k" in out
    code, _, err = run("--data-dir", str(tmp_path / "empty"), "restore", str(tmp_path / "b.zip"))
    assert code == 2 and "already has a database" in err
    code, _, err = run("--data-dir", str(source), "backup", "-o", str(tmp_path / "nowhere" / "b.zip"))
    assert code == 2 and "is not a folder" in err


def test_a_damaged_database_is_moved_aside_and_the_latest_backup_offered(run: Run, data_dir: Path) -> None:
    assert run("project", "create", "Acme")[0] == 0
    assert run("fact", "add", "--project", "Acme", "Budget is 40k")[0] == 0
    backups = data_dir / "backups"
    backups.mkdir()
    # As a daily automatic backup would be (the backups folder is no place for -o).
    assert run("backup", "-o", str(data_dir.parent / "daily.zip"))[0] == 0
    (data_dir.parent / "daily.zip").rename(backups / "dossier-20261128-120000.zip")
    database = data_dir / DB_FILENAME
    damaged = bytearray(database.read_bytes())
    damaged[:16] = b"garbage garbage!"
    database.write_bytes(bytes(damaged))
    code, _, err = run("project", "list")
    assert code == 2 and "damaged" in err and "moved aside" in err and "Traceback" not in err
    assert "dossier-20261128-120000.zip" in err and "restore" in err
    moved = list((data_dir / "damaged").iterdir())
    assert [m.read_bytes() for m in moved if m.name.startswith(DB_FILENAME)] == [bytes(damaged)]  # never overwritten
    assert not database.exists()
    # The window offers the same restore while it holds the folder's lock file.
    (data_dir / WINDOW_LOCK).write_text(f"{os.getpid()}\nDossier\nlocalhost\n")
    code, out, err = run("restore", str(backups / "dossier-20261128-120000.zip"))
    assert code == 0, err
    code, out, _ = run("fact", "list", "--project", "Acme")
    assert code == 0 and "Budget is 40k" in out
    code, out, _ = run("search", "--project", "Acme", "budget")
    assert "Budget is 40k" in out  # the index was rebuilt for the restored database


def test_a_backup_carries_the_documents_originals_and_a_forged_one_is_refused(
    tmp_path: Path, service: MemoryService, embedder: MiniLMEmbedder
) -> None:
    from memory import NewChunk, NewDocument

    project = service.create_project("Acme")
    text = "The statement of work covers twelve weeks of discovery."
    new = NewDocument(
        filename="sow.md",
        title="Statement of work",
        media_type="text/markdown",
        original=b"# Statement of work\n\n" + text.encode(),
        text=text,
        chunks=(NewChunk(0, text, 0, len(text), page=None),),
    )
    document = service.add_document(project.id, new)
    removed = service.add_document(project.id, NewDocument(**{**new.__dict__, "original": b"an older draft"}))
    service.remove_document(removed.id)
    backup = tmp_path / "backup.zip"
    create_backup(service, tmp_path / "settings.json", backup)
    with zipfile.ZipFile(backup) as archive:
        originals = [n for n in archive.namelist() if n.startswith("documents/")]
    assert originals == [f"documents/{document.sha256[:2]}/{document.sha256}.md"]

    target = tmp_path / "restored"
    restore_backup(backup, target)
    with MemoryService.open(target, embedder=embedder) as restored:
        path = restored.document_original(document.id)
        assert path.read_bytes() == new.original
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert restored.search(project.id, "twelve weeks of discovery")[0].citation == f"D{document.id} §1"

    # An entry named for one content but holding another, and a file no document uses.
    for forged_name, forged_body in (
        (originals[0], b"swapped content"),
        (f"documents/ab/{'ab' * 32}.pdf", b"stowaway"),
    ):
        forged = tmp_path / "forged.zip"
        with zipfile.ZipFile(backup) as source, zipfile.ZipFile(forged, "w") as out:
            manifest = json.loads(source.read("manifest.json"))
            for name in source.namelist():
                if name not in ("manifest.json", forged_name):
                    out.writestr(name, source.read(name))
            out.writestr(forged_name, forged_body)
            manifest["files"][forged_name] = {
                "sha256": hashlib.sha256(forged_body).hexdigest(),
                "bytes": len(forged_body),
            }
            out.writestr("manifest.json", json.dumps(manifest))
        with pytest.raises(BackupError, match="does not hold the document|no document of its database uses"):
            restore_backup(forged, tmp_path / f"forged-{len(forged_body)}")
        assert not (tmp_path / f"forged-{len(forged_body)}").exists()
