"""Damage from outside: a full disk, a broken vector index, megabyte messages.

The full-disk tests mount a real 1 MiB tmpfs (they need root, as on CI) and
fill it, so the failures are the kernel's own ENOSPC, not a patched write.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.assistant.conversation import ConversationFlow, TurnResult
from app.config.files import WriteFailed
from app.config.settings import Settings, save_settings
from app.errors import InputRefused
from memory import MemoryService, NewMessage, Role
from memory.db import DB_FILENAME, INDEX_DIRNAME
from memory.embedding import MiniLMEmbedder
from tests.conftest import Run
from tests.fakes import FakeModel

# ---------------------------------------------------------------- a full disk

FREE_BYTES = 16 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB filesystem, unmounted afterwards."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(disk: Path, leave_free: int = FREE_BYTES) -> None:
    """Fills ``disk`` to the last block, then frees about ``leave_free`` bytes."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as err:
            assert err.errno == errno.ENOSPC
    os.truncate(filler, max(0, filler.stat().st_size - leave_free))


def _random_words(rng: random.Random, n: int) -> str:
    # Random words compress poorly, so a zip of them cannot squeeze into the space left.
    return " ".join(
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(n)
    )


@pytest.mark.parametrize(
    ("target", "argv"),
    [
        ("acme.json", ["export", "--project", "Acme", "--output"]),
        ("brief.md", ["brief", "--project", "Acme", "--format", "md", "--output"]),
        ("brief.pdf", ["brief", "--project", "Acme", "--format", "pdf", "--output"]),
        ("backup.zip", ["backup", "--output"]),
    ],
)
def test_a_full_disk_fails_cleanly_and_keeps_the_previous_file(
    run: Run, small_disk: Path, target: str, argv: list[str]
) -> None:
    rng = random.Random(7)
    assert run("project", "create", "Acme")[0] == 0
    for _ in range(12):
        assert run("fact", "add", "--project", "Acme", _random_words(rng, 900))[0] == 0
    before = json.loads(run("project", "list", "--json")[1])
    previous = small_disk / target
    previous.write_bytes(b"the previous export, which must survive")
    fill(small_disk)

    code, _, err = run(*argv, str(previous))

    assert code == 2, err
    assert "the disk is full" in err and "Traceback" not in err
    assert previous.read_bytes() == b"the previous export, which must survive"
    assert sorted(p.name for p in small_disk.iterdir()) == sorted(["filler", target])  # no partial file
    assert json.loads(run("project", "list", "--json")[1]) == before
    # With room again, the same command succeeds: the failure left nothing in the way.
    (small_disk / "filler").unlink()
    assert run(*argv, str(previous))[0] == 0
    assert previous.stat().st_size > FREE_BYTES


def test_settings_on_a_full_disk_keep_the_old_file(small_disk: Path) -> None:
    path = small_disk / "settings.json"
    save_settings(path, Settings(threads=3))
    old = path.read_bytes()
    fill(small_disk, leave_free=0)
    with pytest.raises(WriteFailed, match="the disk is full"):
        save_settings(path, Settings(threads=4, remote_model="m" * 100_000))
    assert path.read_bytes() == old
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "settings.json"]


# ---------------------------------------------------------------- a damaged vector index

FACTS = [
    "The budget for the rebrand is 45,000 euros.",
    "Jane Doe is the head of logistics at Acme.",
    "Acme's warehouses are near the port of Rotterdam.",
    "The Q3 report is due on 14 September.",
    "Acme prefers invoices in PDF, sent on the first of the month.",
]
#: Paraphrases that share no keyword with their fact: only the vectors can find them.
BY_MEANING = {
    "how much money can we spend": 0,
    "who runs the supply chain": 1,
    "where do they store goods": 2,
}


def _damage(index: Path, how: str) -> None:
    if how == "garbage database":
        (index / "chroma.sqlite3").write_bytes(b"not a database " * 4096)
    elif how == "truncated database":
        data = (index / "chroma.sqlite3").read_bytes()
        (index / "chroma.sqlite3").write_bytes(data[: len(data) // 3])
    elif how == "scrambled vector files":
        rng = random.Random(3)
        files = list(index.rglob("*.bin"))
        assert files
        for path in files:
            path.write_bytes(rng.randbytes(max(64, path.stat().st_size)))
    elif how == "a file instead of the folder":
        shutil.rmtree(index)
        index.write_text("oops")
    elif how == "folder deleted":
        shutil.rmtree(index)
    else:
        raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "garbage database",
        "truncated database",
        "scrambled vector files",
        "a file instead of the folder",
        "folder deleted",
    ],
)
def test_a_damaged_index_is_rebuilt_from_sqlite(data_dir: Path, embedder: MiniLMEmbedder, how: str) -> None:
    with MemoryService.open(data_dir, embedder=embedder) as service:
        project = service.create_project("Acme")
        ids = [service.add_fact(project.id, text).id for text in FACTS]
        session = service.start_session(project.id)
        service.add_messages(session.id, [NewMessage(Role.USER, "We met the carrier on Monday.")])
        counts = service.stats()
    _damage(data_dir / INDEX_DIRNAME, how)

    # The window opens without reconciling and reconciles once the projects show; the CLI on open.
    with MemoryService.open(data_dir, embedder=embedder, reconcile=False) as service:
        # Before the rebuild, a search or a turn's context still answers from SQLite by keyword.
        assert service.search(project.id, "Rotterdam warehouses")[0].fact_ids == (ids[2],)
        context = service.build_context(project.id, "When is the Q3 report due?")
        assert any(item.fact_ids == (ids[3],) for item in context.items), context.items
        report = service.reconcile()
        assert report.rebuilt == (how in ("garbage database", "truncated database", "a file instead of the folder"))
        assert service.stats() == counts  # SQLite untouched
        for query, fact in BY_MEANING.items():
            best = service.search(project.id, query)[0]
            assert best.fact_ids == (ids[fact],) and best.parts.vector_rank == 1, (query, best)
        again = service.reconcile()
        assert (again.embedded, again.removed, again.rebuilt) == (0, 0, False)  # the index agrees with SQLite
    with MemoryService.open(data_dir, embedder=embedder) as service:
        assert service.search(project.id, "who runs the supply chain")[0].fact_ids == (ids[1],)


# ---------------------------------------------------------------- megabyte messages

MEGABYTE = 1_000_000


def _megabyte_text() -> str:
    line = "The quarterly logistics review covers warehouse throughput and port delays. "
    return (line * (MEGABYTE // len(line) + 1))[:MEGABYTE].strip()


def test_a_megabyte_message_is_stored_found_and_exported_whole(service: MemoryService) -> None:
    big = _megabyte_text()
    project = service.create_project("Acme")
    session = service.start_session(project.id)
    stored = service.add_message(session.id, Role.USER, big)
    assert len(service.get_message(stored.id).content) == len(big)

    hit = service.search(project.id, "port delays")[0]
    assert hit.message_ids == (stored.id,) and len(hit.text) < 5_000  # a snippet, not the megabyte
    context = service.build_context(project.id, "port delays", 500)
    assert 0 < context.tokens <= 500

    document = service.export_project(project.id)
    copy = service.import_project(document, as_project="Acme copy")
    (copied,) = service.list_messages(service.list_sessions(copy.id)[0].id)
    assert copied.content == big


def test_a_megabyte_chat_message_is_refused_and_costs_the_session_nothing(service: MemoryService) -> None:
    project = service.create_project("Acme")
    session = service.start_session(project.id)
    model = FakeModel()
    flow = ConversationFlow(service, model)
    try:
        list(flow.run_turn(session.id, "Hello, the kickoff is on Monday."))
        started = time.perf_counter()
        with pytest.raises(InputRefused, match="too long for the model's window"):
            list(flow.run_turn(session.id, _megabyte_text()))
        refused_in = time.perf_counter() - started
        assert len(service.list_messages(session.id)) == 2  # the first turn only
        result = [e for e in flow.run_turn(session.id, "When is the kickoff?") if isinstance(e, TurnResult)][0]
        assert result.text
        assert "the kickoff is on Monday" in model.rendered()  # the earlier turn is still in the prompt
        assert len(model.prompts) == 2  # the refused message never reached the model
    finally:
        flow.close()
    print(f"1 MB chat message refused in {refused_in:.2f} s")


def _garble_keyword_index(database: Path, table: str = "facts_fts") -> None:
    import sqlite3

    with sqlite3.connect(database) as db:
        block_id, block = max(
            db.execute(f"SELECT id, block FROM {table}_data WHERE length(block) > 20"), key=lambda r: len(r[1])
        )
        garbled = bytearray(block)
        for i in range(4, min(len(garbled), 40)):
            garbled[i] ^= 0x5A
        db.execute(f"UPDATE {table}_data SET block = ? WHERE id = ?", (bytes(garbled), block_id))
    db.close()


def _keyword_rows(database: Path) -> dict[str, list[tuple[int, str]]]:
    import sqlite3

    from memory.db import KEYWORD_SOURCES

    with sqlite3.connect(database) as db:
        rows = {t: sorted(db.execute(f"SELECT rowid, body FROM {t}")) for t in KEYWORD_SOURCES}
    db.close()
    return rows


KEYWORD_DAMAGE = {
    "a garbled leaf block": _garble_keyword_index,
    "a garbled structure record": lambda db: _sql(
        db, "UPDATE facts_fts_data SET block = randomblob(length(block)) WHERE id = 10"
    ),
    "a wrong config version": lambda db: _sql(db, "UPDATE messages_fts_config SET v = 99 WHERE k = 'version'"),
    "an emptied index": lambda db: _sql(db, "DELETE FROM messages_fts_data"),
}


def _sql(database: Path, statement: str) -> None:
    import sqlite3

    with sqlite3.connect(database) as db:
        db.execute(statement)
    db.close()


@pytest.mark.parametrize("damage", sorted(KEYWORD_DAMAGE))
def test_every_kind_of_keyword_index_damage_is_rebuilt(run: Run, data_dir: Path, damage: str) -> None:
    assert run("project", "create", "Acme")[0] == 0
    for n in range(12):
        assert run("fact", "add", "--project", "Acme", f"Budget line {n} for the logo refresh")[0] == 0
    with MemoryService.open(data_dir, reconcile=False) as service:
        session = service.start_session(1, "Call")
        service.add_message(session.id, "other", "The printer is out of toner again", speaker="Dana")
    database = data_dir / DB_FILENAME
    healthy = _keyword_rows(database)
    KEYWORD_DAMAGE[damage](database)
    code, out, err = run("project", "list")
    assert code == 0 and "keyword search index was damaged" in err and "Traceback" not in err, err
    assert _keyword_rows(database) == healthy
    code, out, err = run("search", "--project", "Acme", "toner")
    assert code == 0 and "printer is out of toner" in out


def test_a_damaged_keyword_index_is_found_rebuilt_and_said(run: Run, data_dir: Path, tmp_path: Path) -> None:
    assert run("project", "create", "Acme")[0] == 0
    for n in range(40):
        assert run("fact", "add", "--project", "Acme", f"Budget line {n} for the logo refresh")[0] == 0
    database = data_dir / DB_FILENAME
    healthy = _keyword_rows(database)
    _garble_keyword_index(database)
    code, out, err = run("search", "--project", "Acme", "budget logo", "-k", "50")
    assert code == 0 and "keyword search index was damaged" in err and "Traceback" not in err, err
    assert out.count("Budget line") >= 30, "the facts are found again"
    assert _keyword_rows(database) == healthy, "rebuilt exactly as the triggers fill it"
    # A backup taken after damage carries a sound index.
    _garble_keyword_index(database)
    assert run("backup", "-o", str(tmp_path / "b.zip"))[0] == 0
    code, _, err = run("--data-dir", str(tmp_path / "restored"), "restore", str(tmp_path / "b.zip"))
    assert code == 0, err
    assert _keyword_rows(tmp_path / "restored" / DB_FILENAME) == healthy


def test_reindex_rebuilds_the_keyword_index_too(run: Run, data_dir: Path) -> None:
    assert run("project", "create", "Acme")[0] == 0
    for n in range(40):
        assert run("fact", "add", "--project", "Acme", f"Budget line {n} for the logo refresh")[0] == 0
    healthy = _keyword_rows(data_dir / DB_FILENAME)
    with MemoryService.open(data_dir, reconcile=False) as service:
        _garble_keyword_index(data_dir / DB_FILENAME)
        report = service.reindex()
    assert report.embedded >= 40 and _keyword_rows(data_dir / DB_FILENAME) == healthy


def test_an_emptied_database_in_a_used_folder_is_damage_not_a_fresh_start(run: Run, data_dir: Path) -> None:
    assert run("project", "create", "Acme")[0] == 0
    assert run("fact", "add", "--project", "Acme", "Budget is 40k")[0] == 0
    (data_dir / DB_FILENAME).write_bytes(b"")
    for suffix in ("-wal", "-shm"):
        (data_dir / (DB_FILENAME + suffix)).unlink(missing_ok=True)
    code, _, err = run("project", "list")
    assert code == 2 and "empty" in err and "moved aside" in err and "Traceback" not in err, err
    assert any((data_dir / "damaged").iterdir()), "the empty file is kept aside, as any damaged database"
    # As promised, Dossier then starts with an empty memory (not a loop of "damaged").
    for _ in range(2):
        code, out, err = run("project", "list")
        assert code == 0 and "Acme" not in out, err
    assert run("project", "create", "Fresh start")[0] == 0


def _crashed_copy(service: MemoryService, target: Path) -> Path:
    """The database files as a kill would leave them: the last commits only in the write-ahead log."""
    target.mkdir()
    for suffix in ("", "-wal"):
        shutil.copy2(service.database_path.with_name(DB_FILENAME + suffix), target / (DB_FILENAME + suffix))
    return target


def test_committed_changes_lost_to_a_damaged_write_ahead_log_are_said(
    run: Run, tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    with MemoryService.open(tmp_path / "live", embedder=embedder) as service:
        project = service.create_project("Acme")
        for n in range(20):
            service.add_fact(project.id, f"Decision {n}: approved")
        healthy = _crashed_copy(service, tmp_path / "healthy")
        damaged = _crashed_copy(service, tmp_path / "damaged-log")
    wal = damaged / (DB_FILENAME + "-wal")
    raw = bytearray(wal.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    wal.write_bytes(bytes(raw))

    code, out, err = run("--data-dir", str(healthy), "fact", "list", "--project", "Acme")
    assert code == 0 and out.count("Decision") == 20 and "may be lost" not in err

    code, out, err = run("--data-dir", str(damaged), "fact", "list", "--project", "Acme")
    assert "may be lost" in err and "write-ahead log is damaged" in err and "Traceback" not in err, err
    kept = list((damaged / "damaged").glob("*-wal"))
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(raw), "the damaged log is kept for a specialist"


def test_warnings_go_to_the_log_file_not_the_terminal(
    run: Run, data_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import logging

    assert run("project", "list")[0] == 0
    # What llama.cpp reports when a decode is aborted by Stop, routed through logging.
    logging.getLogger("dossier.llama_cpp").warning("ggml_backend_sched_graph_compute_async failed with error -1")
    log_file = data_dir / "logs" / "dossier.log"
    assert "graph_compute_async failed" in log_file.read_text()
    assert "graph_compute_async" not in capfd.readouterr().err
    assert log_file.stat().st_mode & 0o777 == 0o600
