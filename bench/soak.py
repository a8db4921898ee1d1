"""Soak: condensed use for N minutes; resident memory and open file handles must level off.

Run: ``.venv/bin/python bench/soak.py --minutes 10`` (default 5).

The app as the desktop window composes it (``Runtime``: memory service with
the real SQLite, Chroma and ONNX embedder; conversation flow; extraction;
summaries), with a scripted model behind the same ``TextModel`` interface so
that the figures measure Dossier, not llama.cpp. A user works through three
client projects: turns (each proposing a fact), inbox reviews, fact edits,
searches, sessions ended and summarised, exports and briefs.

Every ``--sample-seconds`` it prints RSS and open file descriptors.

Memory grows with the data it holds (SQLite's page caches fill as the
database grows; Chroma keeps its vector index in RAM), so "levels off" is
judged against a baseline measured in the same run: once the soak ends, a
fresh process opens the same data dir and runs the same workload for a
minute. What the soak holds beyond that is what use, not data, has piled up:

* RSS levels off when the soak's final RSS is within 5% of the fresh process's.
* File handles level off when the second half's highest count is no more
  than the first half's plus 2.

Exit status 1 when either does not level off.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config.paths import AppPaths
from app.llm.engine import GenerationSettings
from app.llm.prompt_format import ChatTurn
from app.portability.brief import compose_brief, render_markdown
from app.runtime import Runtime
from bench.synthetic import PEOPLE, TOPICS
from memory import MemoryService
from tests.fakes import FakeModel

PROJECTS = ("Acme", "Globex", "Initech")
QUESTIONS = [
    "What is the status of the {t}?",
    "Who signs off the {t}, and by when?",
    "Draft a short update for {p} about the {t}.",
]


def _scripted_reply(turns: Sequence[ChatTurn], settings: GenerationSettings) -> str:
    message = turns[-1].content
    if settings.json_schema is not None:
        # Extraction: the message's own statement, so it is grounded and gets proposed.
        statement = message.split(". ")[0].rstrip(".")
        return json.dumps({"facts": [{"text": statement, "kind": "fact"}]})
    return "Here is what I know. " + " ".join(message.split()[:40])


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_mb: float
    fds: int
    turns: int
    items: int


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def items_stored(service: MemoryService) -> int:
    counts = service.stats()
    return counts["facts"] + counts["messages"] + counts["proposals"]


class Workload:
    """One user's condensed day, one step at a time."""

    def __init__(self, rt: Runtime, rng: random.Random) -> None:
        self.rt = rt
        self.service = rt.service
        self.rng = rng
        self.flow = rt.conversation()
        existing = {p.name: p.id for p in self.service.list_projects()}
        self.projects = [existing.get(name) or self.service.create_project(name).id for name in PROJECTS]
        self.sessions = {p: self.service.start_session(p).id for p in self.projects}
        self.turns = 0

    def step(self) -> None:
        rng, service = self.rng, self.service
        project = rng.choice(self.projects)
        topic, person = rng.choice(TOPICS), rng.choice(PEOPLE)
        statement = (
            rng.choice(topic.statements).format(v=topic.value(rng))
            + " "
            + rng.choice(QUESTIONS).format(t=topic.name, p=person)
        )
        result = self.flow.ask(self.sessions[project], statement)
        if result.background is not None:
            result.background.result()  # as a user does, who waits for the answer and then reads it
        self.turns += 1

        for proposal in service.list_proposals(project)[:3]:
            if rng.random() < 0.7:
                service.accept_proposal(proposal.id)
            else:
                service.reject_proposal(proposal.id)
        facts = service.list_facts(project)
        if facts and rng.random() < 0.5:
            fact = rng.choice(facts)
            service.edit_fact(fact.id, f"{fact.text.split(' (')[0]} (checked {self.turns})")
        for _ in range(2):
            service.search(project, rng.choice([rng.choice(TOPICS).lexical, rng.choice(TOPICS).paraphrase]))
        if self.turns % 15 == 0:  # the user moves on: the session ends and is summarised
            self.rt.summarizer().close_session(self.sessions[project])
            self.sessions[project] = service.start_session(project).id
        if self.turns % 40 == 0:
            json.dumps(service.export_project(project))
            render_markdown(compose_brief(service, project))

    def close(self) -> None:
        self.flow.close()


def verdict(samples: list[Sample], fresh: Sample) -> tuple[bool, bool, str]:
    warm = next(s for s in samples if s.seconds >= samples[-1].seconds / 5)
    after = [s for s in samples if s.seconds >= warm.seconds]
    middle, last = after[len(after) // 2], after[-1]
    rss_ok = last.rss_mb <= fresh.rss_mb * 1.05
    first_fds = max(s.fds for s in after if s.seconds <= middle.seconds)
    second_fds = max(s.fds for s in after if s.seconds >= middle.seconds)
    fds_ok = second_fds <= first_fds + 2
    text = (
        f"RSS after warm-up ({warm.seconds:.0f} s): {warm.rss_mb:.0f} MB; +{middle.rss_mb - warm.rss_mb:.1f} MB "
        f"in the first half, +{last.rss_mb - middle.rss_mb:.1f} MB in the second, as the data grew from "
        f"{warm.items:,} to {last.items:,} items\n"
        f"RSS at the end: {last.rss_mb:.0f} MB; a fresh process on the same data after {fresh.seconds:.0f} s "
        f"of the same use: {fresh.rss_mb:.0f} MB; ratio {last.rss_mb / fresh.rss_mb:.3f} "
        f"-> {'levels off' if rss_ok else 'STILL GROWING'}\n"
        f"File handles: {warm.fds} after warm-up; highest {first_fds} in the first half, {second_fds} in the "
        f"second; {fresh.fds} in the fresh process -> {'levels off' if fds_ok else 'STILL GROWING'}"
    )
    return rss_ok, fds_ok, text


def soak(data_dir: Path, seconds: float, sample_seconds: float, seed: int, quiet: bool = False) -> list[Sample]:
    """Runs the workload on ``data_dir`` for ``seconds``; returns the samples, the last at the very end."""
    model = FakeModel(_scripted_reply, keep_prompts=1)
    paths = AppPaths(data_dir, data_dir.parent / "models")
    samples: list[Sample] = []
    with Runtime(paths, MemoryService.open(paths.data_dir), chat_model=model, background_model=model) as rt:
        rt.update_settings(summary_every_messages=20)
        work = Workload(rt, random.Random(seed))
        started = time.monotonic()
        next_sample = 0.0

        def sample(elapsed: float) -> Sample:
            return Sample(elapsed, rss_mb(), open_fds(), work.turns, items_stored(rt.service))

        try:
            while (elapsed := time.monotonic() - started) < seconds:
                if elapsed >= next_sample:
                    samples.append(sample(elapsed))
                    if not quiet:
                        s = samples[-1]
                        print(f"{s.seconds:8.0f} {s.rss_mb:8.1f} {s.fds:5d} {s.turns:6d} {s.items:7d}", flush=True)
                    next_sample += sample_seconds
                work.step()
            samples.append(sample(elapsed))
        finally:
            work.close()
            model.close()
    return samples


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--sample-seconds", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--fresh", metavar="DATA_DIR", help=argparse.SUPPRESS)  # the baseline's own process
    args = parser.parse_args(argv)

    if args.fresh:
        last = soak(Path(args.fresh), args.minutes * 60, args.sample_seconds, args.seed + 1, quiet=True)[-1]
        print(json.dumps(last.__dict__))
        return 0

    with tempfile.TemporaryDirectory(prefix="dossier-soak-") as tmp:
        data_dir = Path(tmp) / "data"
        print(f"{'seconds':>8} {'RSS MB':>8} {'fds':>5} {'turns':>6} {'items':>7}")
        samples = soak(data_dir, args.minutes * 60, args.sample_seconds, args.seed)
        last = samples[-1]
        print(f"\n{last.turns:,} turns in {last.seconds / 60:.1f} min ({last.turns / last.seconds:.1f} per second)")
        print("baseline: a fresh process on the same data, for one minute of the same use…", flush=True)
        probe = subprocess.run(
            [sys.executable, __file__, "--fresh", str(data_dir), "--minutes", "1", "--seed", str(args.seed)],
            capture_output=True,
            text=True,
            check=True,
        )
        fresh = Sample(**json.loads(probe.stdout.strip().splitlines()[-1]))
    rss_ok, fds_ok, text = verdict(samples, fresh)
    print(text)
    return 0 if rss_ok and fds_ok else 1


if __name__ == "__main__":
    sys.exit(main())
