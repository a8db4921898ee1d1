"""Concurrent writers and readers on one memory service: nothing locked, nothing lost.

8 threads x 500 mixed operations (the UI's edits while background extraction
and summaries write): every edit of the shared fact lands in its history.
The full 500 per thread take over two minutes here, so ``make test`` runs 120
per thread unless ``DOSSIER_STRESS=1``.
"""

from __future__ import annotations

import os
import random
import threading
import time

from app.assistant.extraction import Candidate, MemoryExtractor
from app.assistant.summaries import SessionSummarizer
from memory import FactKind, MemoryService


def test_eight_threads_of_mixed_operations_lose_nothing(service: MemoryService) -> None:
    threads, operations = 8, 500 if os.environ.get("DOSSIER_STRESS") == "1" else 120
    project = service.create_project("Busy")
    shared = service.add_fact(project.id, "Shared fact, version 0")
    sessions = [service.start_session(project.id, f"worker {n}") for n in range(threads)]
    errors: list[BaseException] = []
    edits: list[str] = []
    added: list[int] = []
    messages = [0] * threads
    summaries = [0] * threads
    extractor = MemoryExtractor(service, None)
    summarizer = SessionSummarizer(service, None)
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        rng = random.Random(n)
        start.wait()
        try:
            for i in range(operations):
                op = rng.random()
                if op < 0.25:
                    text = f"Shared fact, edit {n}-{i}"
                    service.edit_fact(shared.id, text)
                    with lock:
                        edits.append(text)
                elif op < 0.45:
                    fact = service.add_fact(project.id, f"Worker {n} learnt thing {i}")
                    with lock:
                        added.append(fact.id)
                elif op < 0.65:
                    service.add_message(sessions[n].id, "user", f"Worker {n} says message {i}")
                    messages[n] += 1
                elif op < 0.7:
                    # Background extraction, through its own code: reconcile, then file a proposal.
                    outcome = extractor.apply(
                        project.id, Candidate(f"Client {n} confirmed item {i}", FactKind.FACT), None
                    )
                    fact = service.accept_proposal(outcome.proposal.id)  # the user, in the inbox
                    with lock:
                        added.append(fact.id)  # type: ignore[union-attr]
                elif op < 0.75:
                    summarizer.summarize(sessions[n].id)  # a background summary of this worker's session
                    summaries[n] += messages[n] > 0  # an empty session gets none
                elif op < 0.9:
                    service.search(project.id, f"thing {i}", k=5)
                else:
                    service.build_context(project.id, f"what did worker {n} say?", 300)
        except BaseException as error:  # collected and reported by the test
            errors.append(error)

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - started
    print(
        f"\n{threads} threads x {operations} operations in {seconds:.1f} s; {len(edits)} edits of one fact, "
        f"{len(added)} facts added, {sum(messages)} messages, {sum(summaries)} summaries; {len(errors)} errors"
    )
    assert errors == [], errors[:3]
    history = service.fact_history(shared.id)
    assert sorted(v.text for v in history[1:]) == sorted(edits)  # every edit landed, none lost
    assert service.get_fact(shared.id).text == history[-1].text
    assert {f.id for f in service.list_facts(project.id, include_global=False)} >= set(added)
    for n, session in enumerate(sessions):
        stored = service.get_session(session.id)
        assert stored.message_count == messages[n]
        assert bool(stored.summary) == (summaries[n] > 0)
    assert service.reconcile().embedded == 0  # the index kept up with every write


def test_meaning_search_sees_what_another_process_wrote_without_a_restart(service: MemoryService) -> None:
    """The window and ``dossier mcp`` (or a CLI command) share one data folder; each sees the other's vectors."""
    import subprocess
    import sys
    from pathlib import Path

    project = service.create_project("Shared")
    service.add_fact(project.id, "Kickoff is in the Rotterdam office")
    assert service.search(project.id, "where do we meet", mode="vector")  # this process has loaded the index
    writer = (
        "import sys; from memory import MemoryService\n"
        "with MemoryService.open(sys.argv[1]) as other:\n"
        "    other.add_fact(1, 'Our printer is a small family firm in Leeds')\n"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", writer, str(service.data_dir)], check=True, cwd=root, timeout=300)
    hits = service.search(project.id, "which company produces our brochures", k=3, mode="vector")
    assert "Leeds" in hits[0].text
