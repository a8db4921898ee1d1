"""Retrieval speed: ``build_context`` latency and ingest rate at 1k, 10k and 100k items.

Run: ``.venv/bin/python bench/retrieval_speed.py`` (10 to 15 minutes on 2 cores;
``--sizes 1000 10000`` for a quick look).

One project grows to each size (one fact in ten, the rest messages in
sessions of 50) beside two noise projects. At each size it prints p50 and p95
of ``build_context`` (1000-token budget) next to a floor measured in the same
run over the same vectors: a brute-force numpy cosine top-40 (matrix product
plus argpartition), which is what any vector search must at least pay without
an index. Query embedding, SQLite and packing are on top of that floor in
``build_context``; the embed time alone is printed too. At each size it also
times the integrity check every open runs (``check_database_file``) next to
reading the database file through. Queries are timed
after a short settle (``--settle``), since Chroma keeps persisting its index in
background threads for a while after a bulk ingest. Targets on 2 cores:
p95 <= 50 ms at 100k items, ingest >= 300 items/s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.synthetic import PEOPLE, TOPICS, _sentence
from memory import FactKind, MemoryService, NewMessage, Role
from memory.db import check_database_file
from memory.embedding import MiniLMEmbedder
from memory.vector_store import project_collection

SESSION_SIZE = 50
QUERIES = 150


def _texts(rng: random.Random, n: int) -> list[str]:
    """Distinct, chat-like texts (a number makes each unique, as real messages are)."""
    out = []
    for i in range(n):
        sentence = _sentence(rng)
        if rng.random() < 0.3:
            topic = rng.choice(TOPICS)
            sentence += " " + topic.statements[0].format(v=topic.value(rng))
        out.append(f"{sentence} ({rng.choice(PEOPLE).split()[0]}, #{i})")
    return out


def ingest(service: MemoryService, project_id: int, rng: random.Random, count: int) -> tuple[float, float]:
    """Adds ``count`` items (10% facts, 90% messages).

    Returns:
        Seconds until every item was stored and keyword-searchable, and until every
        vector was written too (sessions' messages are embedded in the background).
    """
    texts = _texts(rng, count)
    facts, messages = texts[: count // 10], texts[count // 10 :]
    started = time.perf_counter()
    for text in facts:
        service.add_fact(project_id, text, FactKind.NOTE)
    for start in range(0, len(messages), SESSION_SIZE):
        session = service.start_session(project_id, f"Session {start // SESSION_SIZE}")
        chunk = messages[start : start + SESSION_SIZE]
        service.add_messages(
            session.id, [NewMessage(Role.USER if i % 2 else Role.OTHER, t, "Dana") for i, t in enumerate(chunk)]
        )
    searchable = time.perf_counter() - started
    service.wait_for_index()
    return searchable, time.perf_counter() - started


class TimedEmbedder:
    """The real embedder, with the time spent in it counted (same protocol)."""

    def __init__(self, inner: MiniLMEmbedder) -> None:
        self.inner = inner
        self.seconds = 0.0

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - started


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _open_check(path: Path, repeats: int = 3) -> tuple[float, float]:
    """Median seconds of the integrity check run at every open, and of reading the file through.

    Reading every byte once is what any whole-file check must at least pay;
    both run with the file in the page cache (a cold cache adds the disk).
    """
    checks, reads = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        check_database_file(path)
        checks.append(time.perf_counter() - started)
        started = time.perf_counter()
        with path.open("rb") as handle:
            while handle.read(1 << 20):
                pass
        reads.append(time.perf_counter() - started)
    return statistics.median(checks), statistics.median(reads)


def _project_vectors(service: MemoryService, project_id: int) -> np.ndarray:
    store = service._indexer.store  # the bench reads the index it measures
    collection = project_collection(project_id)
    return np.stack(list(store.vectors(collection, sorted(store.ids(collection))).values()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--noise", type=int, default=2_000, help="items in each of two noise projects")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--settle", type=float, default=10.0, help="seconds to wait after ingest (Chroma persists in the background)"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    queries = [q for t in TOPICS for q in (t.lexical, t.paraphrase)] + _texts(rng, QUERIES)
    queries = queries[:QUERIES]

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        embedder = TimedEmbedder(MiniLMEmbedder())
        with MemoryService.open(data_dir, embedder=embedder) as service:
            for name in ("Noise A", "Noise B"):
                noise = service.create_project(name)
                ingest(service, noise.id, rng, args.noise)
            project = service.create_project("Measured")
            tokenizer = embedder.inner._runtime()[0]  # report what was embedded
            sample = _texts(random.Random(args.seed), 500)
            mean_tokens = sum(len(e.ids) for e in tokenizer.encode_batch(sample)) / len(sample)
            print(f"items average {mean_tokens:.0f} tokens (MiniLM tokenizer); noise: 2 projects x {args.noise:,}")
            print(
                f"{'items':>8} {'ingest/s':>9} {'vectors/s':>10} {'ctx p50':>9} {'ctx p95':>9} {'floor p50':>10} {'floor p95':>10} "
                f"{'p95/floor':>10} {'embed p50':>10} {'embed share':>12} {'store/s':>8}"
            )
            have = 0
            for size in sorted(args.sizes):
                embedder.seconds = 0.0
                searchable, seconds = ingest(service, project.id, rng, size - have)
                rate = (size - have) / searchable
                vector_rate = (size - have) / seconds
                embed_share = embedder.seconds / seconds
                # What SQLite, FTS5 and Chroma sustain once the embedding is set aside.
                store_rate = (size - have) / max(seconds - embedder.seconds, 1e-9)
                have = size
                time.sleep(args.settle)
                service.build_context(project.id, "warm-up question about the budget", 1000)

                timings = []
                for query in queries:
                    started = time.perf_counter()
                    service.build_context(project.id, query, 1000)
                    timings.append(time.perf_counter() - started)

                c50, c95 = _percentiles(timings)
                print(
                    f"{size:>8,} items: keyword-searchable at {rate:.0f}/s, vectors at {vector_rate:.0f}/s, build_context p50 {c50 * 1e3:.1f} ms p95 {c95 * 1e3:.1f} ms",
                    flush=True,
                )

                # The floor, over the same vectors, in the same run.
                matrix = _project_vectors(service, project.id)
                query_vectors = embedder.inner.embed(queries)
                embed_times, floor = [], []
                for query, vector in zip(queries, query_vectors, strict=True):
                    started = time.perf_counter()
                    embedder.inner.embed([query])
                    embed_times.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    scores = matrix @ vector
                    top = np.argpartition(-scores, 40)[:40]
                    top[np.argsort(-scores[top])]
                    floor.append(time.perf_counter() - started)
                f50, f95 = _percentiles(floor)
                e50, _ = _percentiles(embed_times)
                print(
                    f"{size:>8,} {rate:>9.0f} {vector_rate:>10.0f} {c50 * 1e3:>7.1f}ms {c95 * 1e3:>7.1f}ms {f50 * 1e3:>8.2f}ms "
                    f"{f95 * 1e3:>8.2f}ms {c95 / f95:>10.1f} {e50 * 1e3:>8.1f}ms {embed_share:>11.0%} {store_rate:>8.0f}",
                    flush=True,
                )
                check, read = _open_check(service.database_path)
                megabytes = service.database_path.stat().st_size / 1e6
                print(
                    f"{size:>8,} items: check at open {check * 1e3:.0f} ms for a {megabytes:.0f} MB database "
                    f"(reading the file: {read * 1e3:.0f} ms; ratio {check / read:.1f})",
                    flush=True,
                )
    print("targets on 2 cores: ctx p95 <= 50 ms at 100,000 items; ingest >= 300 items/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
