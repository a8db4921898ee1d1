"""Importing a ChatGPT export: messages per second until keyword-searchable, and until every vector exists.

Run: ``.venv/bin/python bench/history_import.py [--messages 10000] [--seed 7]``.

A synthetic ChatGPT export (conversations.json in a zip, the real format: a
message tree per conversation, see app/history/exports.py) with ``--messages``
messages over conversations of 10-80 turns is imported into one project through
``app.history.importer.import_conversations`` (sessions, extractive summaries).
Printed: reading the export, the import until every message is keyword-searchable
(target: 10,000 messages in 30 s or less on this machine's 2 cores), the time
until every vector exists, and the embedder's own rate on the same texts in the
same batches, measured in the same run (the ratio is the figure to compare
across machines). A keyword search for a word planted in the last message is
checked right after the import returns.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.history.exports import read_export  # noqa: E402
from app.history.importer import import_conversations  # noqa: E402
from memory import MemoryService, SearchMode  # noqa: E402
from memory.embedding import MiniLMEmbedder  # noqa: E402
from memory.indexing import SYNC_BATCH  # noqa: E402
from tests.history_exports import chatgpt_conversation, export_zip  # noqa: E402

TARGET_SECONDS = 30.0
SUBJECTS = "invoice launch budget rebrand supplier audit contract pricing onboarding roadmap hiring logo".split()
VERBS = "review draft approve move cancel confirm estimate schedule compare summarise".split()
WHEN = "Monday|next week|before the board meeting|by Friday|in March|after the audit".split("|")


def sentence(rng: random.Random) -> str:
    subject, verb, when = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(WHEN)
    amount = f"{rng.randint(2, 90) * 1000:,} euros"
    return f"Can you {verb} the {subject} plan {when}? The figure we discussed was {amount}."


def build_export(path: Path, messages: int, seed: int) -> tuple[int, str]:
    rng = random.Random(seed)
    conversations, made = [], 0
    while made < messages:
        size = min(rng.randint(10, 80), messages - made)
        turns = [("user" if n % 2 == 0 else "assistant", sentence(rng)) for n in range(size)]
        made += size
        conversations.append(chatgpt_conversation(f"conv-{len(conversations)}", f"Thread {len(conversations)}", turns))
    planted = "zebrafishmarker"
    last = conversations[-1]["mapping"]
    last[conversations[-1]["current_node"]]["message"]["content"]["parts"] = [f"The {planted} budget is final."]
    export_zip(path, conversations)
    return len(conversations), planted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    embedder = MiniLMEmbedder()
    embedder.load()
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "chatgpt-export.zip"
        count, planted = build_export(export, args.messages, args.seed)
        with MemoryService.open(Path(tmp) / "data", embedder=embedder) as service:
            project = service.create_project("Import")
            service.search(project.id, "warm up the index", mode=SearchMode.HYBRID)
            started = time.perf_counter()
            conversations = read_export(export)
            read = time.perf_counter() - started
            report = import_conversations(service, project.id, conversations)
            searchable = time.perf_counter() - started
            found = service.search(project.id, planted, mode=SearchMode.BM25)
            assert found and planted in found[0].text, "the last message is not keyword-searchable on return"
            service.wait_for_index()
            embedded = time.perf_counter() - started
        texts = [f"{t.role}: {t.text}" for c in conversations for t in c.turns]
        started = time.perf_counter()
        for start in range(0, len(texts), SYNC_BATCH):
            embedder.embed(texts[start : start + SYNC_BATCH])
        embedder_seconds = time.perf_counter() - started
    n = report.messages_added
    keyword_rate, vector_rate, embedder_rate = n / searchable, n / embedded, n / embedder_seconds
    verdict = "met" if searchable <= TARGET_SECONDS * args.messages / 10_000 else "NOT met"
    print(f"{n:,} messages in {count} conversations ({report.sessions_added} sessions, summarised)")
    print(f"reading the export: {read:.2f} s")
    print(
        f"keyword-searchable after {searchable:.1f} s ({keyword_rate:,.0f} messages/s); target ≤ 30 s per 10,000: {verdict}"
    )
    print(
        f"every vector after {embedded:.1f} s ({vector_rate:,.0f} messages/s); the embedder alone: "
        f"{embedder_rate:,.0f} texts/s (ratio {vector_rate / embedder_rate:.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
