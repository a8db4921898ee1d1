"""Crash safety: a writer process is SIGKILLed at random moments, round after round.

After every kill the data dir is reopened and checked: SQLite's integrity
check passes; every write the writer reported as committed is there; no
write is visible in part (a fact without its history, part of a message
batch, part of an imported transcript); and the vector index agrees with
SQLite. ``make test`` runs a few rounds; ``DOSSIER_STRESS=1`` runs 100.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from memory import DB_FILENAME, MemoryService, NotFoundError
from memory.embedding import MiniLMEmbedder
from tests.crash_writer import IMPORT_MESSAGES, PROJECT

ROUNDS = 100 if os.environ.get("DOSSIER_STRESS") == "1" else 8
REPO = Path(__file__).resolve().parents[1]


def read_events(log: Path) -> list[dict[str, Any]]:
    """The log's complete lines; a line cut by the kill is not an event."""
    events = []
    for line in log.read_text().splitlines(keepends=True):
        if line.endswith("\n"):
            events.append(json.loads(line))
    return events


def run_and_kill(data_dir: Path, log: Path, seed: int, rng: random.Random) -> str:
    """Starts the writer and kills it: mostly while writing, sometimes while it opens the data dir."""
    lines_before = len(log.read_text().splitlines()) if log.exists() else 0
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_writer", str(data_dir), str(log), str(seed)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        if rng.random() < 0.25:
            moment = "start-up"
            time.sleep(rng.uniform(0.0, 2.5))
        else:
            moment = "writing"
            deadline = time.monotonic() + 60
            while not (log.exists() and len(log.read_text().splitlines()) > lines_before):
                if child.poll() is not None:
                    raise AssertionError(f"the writer died on its own: {child.stderr.read().decode()[-2000:]}")
                assert time.monotonic() < deadline, "the writer never got ready"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.05, 4.0))
        if child.poll() is not None:
            raise AssertionError(f"the writer died on its own: {child.stderr.read().decode()[-2000:]}")
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
        assert child.stderr is not None
        child.stderr.close()
    return moment


@dataclass
class Audit:
    confirmed: int = 0
    lost: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)


def audit(service: MemoryService, events: list[dict[str, Any]]) -> Audit:
    """Compares the memory with what the writer attempted and confirmed."""
    result = Audit()
    done_tags = {e["tag"] for e in events if e["kind"] == "done"}
    attempts = {e["tag"]: e for e in events if e["kind"] == "attempt"}
    in_flight = [e for tag, e in attempts.items() if tag not in done_tags]

    # What each fact's text may be now: the last confirmed text, or an edit in flight after it.
    acceptable: dict[int, set[str]] = {}
    confirmed_texts: dict[int, list[str]] = defaultdict(list)
    for event in events:
        if event["kind"] == "done" and event["op"] in ("add_fact", "edit_fact"):
            acceptable[event["id"]] = {event["text"]}
            confirmed_texts[event["id"]].append(event["text"])
        elif event["kind"] == "attempt" and event["op"] == "edit_fact" and event["tag"] not in done_tags:
            acceptable.setdefault(event["id"], set()).add(event["text"])

    for event in events:
        if event["kind"] != "done":
            continue
        result.confirmed += 1
        tag = event["tag"]
        try:
            if event["op"] in ("add_fact", "edit_fact"):
                fact = service.get_fact(event["id"])
                history = [v.text for v in service.fact_history(fact.id)]
                if event["text"] not in history or fact.text not in acceptable[fact.id]:
                    result.lost.append(f"{tag}: fact {fact.id} is {fact.text!r}, history {history}")
            elif event["op"] == "add_messages":
                stored = [service.get_message(i).content for i in event["ids"]]
                if stored != event["contents"]:
                    result.lost.append(f"{tag}: messages {event['ids']} differ")
            elif event["op"] == "import":
                project = service.get_project(event["id"])
                (session,) = service.list_sessions(project.id)
                if project.name != event["name"] or session.message_count != IMPORT_MESSAGES:
                    result.lost.append(f"{tag}: import {project.name} has {session.message_count} messages")
        except NotFoundError as err:
            result.lost.append(f"{tag}: {err}")

    # Nothing visible in part, and nothing that was never attempted.
    crash = service.get_project(PROJECT)
    added_texts = {e["text"] for e in attempts.values() if e["op"] == "add_fact"}
    for fact in service.list_facts(crash.id):
        history = service.fact_history(fact.id)
        if not history or history[-1].text != fact.text or history[0].text not in added_texts:
            result.partial.append(f"fact {fact.id}: {fact.text!r} with history {[v.text for v in history]}")
    batches: dict[str, int] = defaultdict(int)
    for session in service.list_sessions(crash.id):
        for message in service.list_messages(session.id):
            batches[message.content.split(" ", 1)[0]] += 1
    for tag, count in batches.items():
        if tag not in attempts or count != len(attempts[tag]["contents"]):
            result.partial.append(f"batch {tag}: {count} messages visible")
    for project in service.list_projects():
        if project.name.startswith("Import "):
            sessions = service.list_sessions(project.id)
            counts = [s.message_count for s in sessions]
            if counts != [IMPORT_MESSAGES] or len(service.list_facts(project.id)) != 1:
                result.partial.append(f"{project.name}: sessions {counts}")
    assert all(e["op"] in ("add_fact", "edit_fact", "add_messages", "import") for e in in_flight)
    return result


def integrity(db_path: Path) -> str:
    connection = sqlite3.connect(db_path)
    try:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        connection.close()


def test_kill_9_loses_no_committed_write(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "writes.log"
    rng = random.Random(20261128)
    moments: dict[str, int] = defaultdict(int)
    result = Audit()
    for round_no in range(ROUNDS):
        moments[run_and_kill(data_dir, log, round_no, rng)] += 1
        if not (data_dir / DB_FILENAME).exists():
            continue  # killed before the database was created
        assert integrity(data_dir / DB_FILENAME) == "ok", f"round {round_no}"
        with MemoryService.open(data_dir, embedder=embedder) as service:  # reconciles the index
            events = read_events(log)
            if not any(e["kind"] == "ready" for e in events):
                continue
            result = audit(service, events)
            assert result.lost == [], f"round {round_no}: {result.lost[:5]}"
            assert result.partial == [], f"round {round_no}: {result.partial[:5]}"
            again = service.reconcile()
            assert (again.embedded, again.removed) == (0, 0), f"round {round_no}: index disagrees after reopen"
    assert result.confirmed > ROUNDS, "the writer hardly wrote anything"
    print(
        f"\ncrash safety: {ROUNDS} rounds ({moments['writing']} killed while writing, "
        f"{moments['start-up']} while starting), {result.confirmed:,} writes confirmed, {len(result.lost)} lost"
    )


@pytest.mark.parametrize("line", ['{"kind": "attempt"', '{"kind": "done", "op": "add_fact", "tag": "x"'])
def test_a_line_cut_by_the_kill_is_not_an_event(tmp_path: Path, line: str) -> None:
    log = tmp_path / "writes.log"
    log.write_text('{"kind": "ready", "seed": "1"}\n' + line)
    assert read_events(log) == [{"kind": "ready", "seed": "1"}]
