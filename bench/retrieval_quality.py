"""Retrieval quality: BM25 alone vs vectors alone vs the hybrid, on synthetic memory.

Run: ``.venv/bin/python bench/retrieval_quality.py`` (about a minute).

Prints recall@10 (a gold message is among the top 10 hits) and recall within
a 1000-token context (a gold message is in ``build_context``'s block), per
ranker, split by question style, plus how often a changed fact's *old* value
reached the context without the new one ("stale"). Exits 1 if the hybrid
does not beat both single rankers on context recall.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.synthetic import PlannedProject, generate_project
from memory import FactKind, MemoryService, NewMessage, Role, SearchMode

PROJECTS = ["Acme Rebrand", "Globex Audit", "Initech Portal", "Umbrella Launch"]
BUDGET = 1000


def ingest(service: MemoryService, plan: PlannedProject) -> tuple[int, dict[tuple[str, int], int]]:
    project = service.create_project(plan.name)
    planted: dict[tuple[str, int], int] = {}
    for session in plan.sessions:
        stored = service.start_session(project.id, session.title, started_at=session.started_at)
        messages = service.add_messages(
            stored.id,
            [NewMessage(Role(m.role), m.content, m.speaker, m.created_at) for m in session.messages],
        )
        for planned, message in zip(session.messages, messages, strict=True):
            if planned.plants:
                planted[planned.plants] = message.id
    # Facts the user keeps by hand compete for the same budget.
    service.add_fact(
        project.id, f"Always copy {plan.client_person} on status emails.", FactKind.PREFERENCE, pinned=True
    )
    service.add_fact(project.id, "Never share draft pricing before legal review.", FactKind.DECISION, pinned=True)
    service.add_fact(project.id, "Prefer short bullet-point updates over long prose.", FactKind.PREFERENCE)
    return project.id, planted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--per-session", type=int, default=24)
    args = parser.parse_args()

    plans = [
        generate_project(name, args.seed, sessions=args.sessions, per_session=args.per_session) for name in PROJECTS
    ]
    with tempfile.TemporaryDirectory() as tmp, MemoryService.open(Path(tmp)) as service:
        started = time.perf_counter()
        ids = {plan.name: ingest(service, plan) for plan in plans}
        service.wait_for_index()
        items = sum(len(s.messages) for p in plans for s in p.sessions)
        print(
            f"data set: {len(plans)} projects, {sum(len(p.sessions) for p in plans)} sessions, {items} messages, "
            f"{sum(len(p.questions) for p in plans)} questions (seed {args.seed}); ingest {time.perf_counter() - started:.1f} s"
        )

        latest = {plan.name: plan.latest for plan in plans}
        totals: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        stale: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        leaks = 0
        for plan in plans:
            project_id, planted = ids[plan.name]
            for question in plan.questions:
                gold = planted[(question.topic, latest[plan.name][question.topic])]
                old = planted.get((question.topic, 1)) if question.changed else None
                for mode in SearchMode:
                    hits = service.search(project_id, question.text, k=10, mode=mode)
                    leaks += sum(1 for h in hits if h.project_id not in (project_id, None))
                    in_top = any(gold in h.message_ids for h in hits)
                    context = service.build_context(project_id, question.text, BUDGET, mode=mode)
                    in_context_ids = {m for item in context.items for m in item.message_ids}
                    in_context = gold in in_context_ids
                    for bucket in ("all", question.variant, "changed" if question.changed else "unchanged"):
                        totals[mode.value][f"{bucket}@10"][0] += in_top
                        totals[mode.value][f"{bucket}@10"][1] += 1
                        totals[mode.value][f"{bucket}@ctx"][0] += in_context
                        totals[mode.value][f"{bucket}@ctx"][1] += 1
                    if old is not None:
                        stale[mode.value][0] += old in in_context_ids and not in_context
                        stale[mode.value][1] += 1

    def rate(mode: str, key: str) -> float:
        hit, n = totals[mode][key]
        return hit / n if n else 0.0

    header = (
        f"{'ranker':<8} {'recall@10':>10} {'ctx@1000':>9} {'lexical@ctx':>12} {'paraphr@ctx':>12} "
        f"{'entity@ctx':>11} {'changed@ctx':>12} {'stale':>6}"
    )
    print(header)
    print("-" * len(header))
    for mode in ("bm25", "vector", "hybrid"):
        s_hit, s_n = stale[mode]
        print(
            f"{mode:<8} {rate(mode, 'all@10'):>10.3f} {rate(mode, 'all@ctx'):>9.3f} {rate(mode, 'lexical@ctx'):>12.3f} "
            f"{rate(mode, 'paraphrase@ctx'):>12.3f} {rate(mode, 'entity@ctx'):>11.3f} "
            f"{rate(mode, 'changed@ctx'):>12.3f} {s_hit / max(s_n, 1):>6.3f}"
        )
    hybrid = rate("hybrid", "all@ctx")
    best_single = max(rate("bm25", "all@ctx"), rate("vector", "all@ctx"))
    print(f"hybrid ÷ best single ranker (context recall): {hybrid / max(best_single, 1e-9):.2f}")
    print(f"cross-project hits: {leaks}")
    ok = (
        hybrid > best_single
        and rate("hybrid", "all@10") > max(rate("bm25", "all@10"), rate("vector", "all@10"))
        and leaks == 0
    )
    print(
        f"target (hybrid beats both; aim >= 0.80 within {BUDGET} tokens): {'met' if ok and hybrid >= 0.8 else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
