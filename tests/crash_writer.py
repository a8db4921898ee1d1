"""The writer that tests/test_crash_safety.py kills: ``python -m tests.crash_writer DATA_DIR LOG SEED``.

It writes to the memory as the app does (facts added and edited, messages
stored in batches, transcripts imported) until it is killed. Around each
write it appends a line to LOG: ``attempt`` before the call, ``done`` once
the call has returned, i.e. once the write is committed. One ``os.write`` on
an O_APPEND descriptor per line, so a kill leaves at most one half line,
at the end, which the reader ignores.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path
from typing import Any

from memory import MemoryService, NewMessage, Role

PROJECT = "Crash"
IMPORT_MESSAGES = 150
WORDS = "budget launch carrier invoice warehouse contract review deadline rebrand supplier pallet audit".split()


def transcript(name: str, tag: str) -> dict[str, Any]:
    return {
        "format": "dossier.project",
        "version": 1,
        "project": {"name": name},
        "facts": [{"text": f"Imported fact of {tag}."}],
        "sessions": [
            {
                "ref": 1,
                "title": f"Transcript {tag}",
                "messages": [
                    {"role": "other", "speaker": "Client", "content": f"{tag} line {i + 1}/{IMPORT_MESSAGES}"}
                    for i in range(IMPORT_MESSAGES)
                ],
            }
        ],
    }


def main(data_dir: str, log_path: str, seed: str) -> None:
    rng = random.Random(int(seed))
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def record(**event: Any) -> None:
        os.write(log, (json.dumps(event) + "\n").encode())

    def words(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    service = MemoryService.open(Path(data_dir))
    try:
        project = next((p for p in service.list_projects() if p.name == PROJECT), None)
        project = project or service.create_project(PROJECT)
        session = service.start_session(project.id, f"round {seed}")
        record(kind="ready", seed=seed)
        n = 0
        while True:
            n += 1
            tag = f"s{seed}n{n}"
            facts = service.list_facts(project.id)
            roll = rng.random()
            if roll < 0.35 or not facts:
                text = f"Fact {tag}: {words(rng.randint(3, 30))}."
                record(kind="attempt", op="add_fact", tag=tag, text=text)
                fact = service.add_fact(project.id, text)
                record(kind="done", op="add_fact", tag=tag, id=fact.id, text=text)
            elif roll < 0.6:
                target = rng.choice(facts)
                text = f"Edited {tag}: {words(rng.randint(3, 30))}."
                record(kind="attempt", op="edit_fact", tag=tag, id=target.id, text=text)
                service.edit_fact(target.id, text)
                record(kind="done", op="edit_fact", tag=tag, id=target.id, text=text)
            elif roll < 0.95:
                size = rng.randint(1, 6)
                contents = [f"{tag} message {i + 1}/{size} {words(rng.randint(5, 60))}" for i in range(size)]
                record(kind="attempt", op="add_messages", tag=tag, contents=contents)
                stored = service.add_messages(session.id, [NewMessage(Role.USER, c) for c in contents])
                record(kind="done", op="add_messages", tag=tag, ids=[m.id for m in stored], contents=contents)
            else:
                name = f"Import {tag}"
                record(kind="attempt", op="import", tag=tag, name=name)
                imported = service.import_project(transcript(name, tag))
                record(kind="done", op="import", tag=tag, name=name, id=imported.id)
    finally:
        service.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
