"""Soak: condensed use for N minutes; resident memory and open file handles must level off.

Run: ``.venv/bin/python bench/soak.py --minutes 10`` (default 5).

The app as the desktop window composes it (``Runtime``: memory service with
the real SQLite, Chroma and ONNX embedder; conversation flow; extraction;
summaries), with a scripted model behind the same ``TextModel`` interface so
that the figures measure Dossier, not llama.cpp. A user works through three
client projects: turns (each proposing a fact), inbox reviews, fact edits,
searches, sessions ended and summarised, exports and briefs.

Every ``--sample-seconds`` it prints RSS and open file descriptors. The
baseline is the sample at the end of warm-up (a fifth of the run) in this
same run; the verdict compares the second half's growth with the first's:

* RSS levels off when it grows in the second half by no more than half of
  what it grew in the first half, or by less than 2% of the baseline.
* File handles level off when the second half's highest count is no more
  than the first half's plus 2.

It also prints RSS per 1,000 items stored, since the memory does grow with
data that is really there (Chroma keeps its vector index in RAM).
Exit status 1 when either does not level off.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.brief import compose_brief, render_markdown
from app.engine import GenerationSettings
from app.paths import AppPaths
from app.prompt_format import ChatTurn
from app.runtime import Runtime
from bench.synthetic import PEOPLE, TOPICS
from memory import MemoryService
from tests.fakes import FakeModel

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
        self.projects = [self.service.create_project(name).id for name in ("Acme", "Globex", "Initech")]
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


def verdict(samples: list[Sample], baseline: Sample) -> tuple[bool, bool, str]:
    after = [s for s in samples if s.seconds >= baseline.seconds]
    middle = after[len(after) // 2]
    last = after[-1]
    first_growth = middle.rss_mb - baseline.rss_mb
    second_growth = last.rss_mb - middle.rss_mb
    rss_ok = second_growth <= max(0.5 * first_growth, 0.02 * baseline.rss_mb)
    first_fds = max(s.fds for s in after if s.seconds <= middle.seconds)
    second_fds = max(s.fds for s in after if s.seconds >= middle.seconds)
    fds_ok = second_fds <= first_fds + 2
    items = last.items - baseline.items
    per_k = (last.rss_mb - baseline.rss_mb) / items * 1000 if items else 0.0
    text = (
        f"RSS: baseline {baseline.rss_mb:.0f} MB at {baseline.seconds:.0f} s; "
        f"+{first_growth:.1f} MB in the first half, +{second_growth:.1f} MB in the second "
        f"(ratio final/baseline {last.rss_mb / baseline.rss_mb:.3f}; {per_k:.2f} MB per 1,000 items stored) "
        f"-> {'levels off' if rss_ok else 'STILL GROWING'}\n"
        f"File handles: baseline {baseline.fds}; highest {first_fds} in the first half, {second_fds} in the second "
        f"-> {'levels off' if fds_ok else 'STILL GROWING'}"
    )
    return rss_ok, fds_ok, text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--sample-seconds", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    duration = args.minutes * 60
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="dossier-soak-") as tmp:
        paths = AppPaths(Path(tmp) / "data", Path(tmp) / "models")
        model = FakeModel(_scripted_reply, keep_prompts=1)
        with Runtime(paths, MemoryService.open(paths.data_dir), chat_model=model, background_model=model) as rt:
            rt.update_settings(summary_every_messages=20)
            work = Workload(rt, rng)
            started = time.monotonic()
            samples: list[Sample] = []
            next_sample = 0.0
            print(f"{'seconds':>8} {'RSS MB':>8} {'fds':>5} {'turns':>6} {'items':>7}")
            try:
                while (elapsed := time.monotonic() - started) < duration:
                    if elapsed >= next_sample:
                        sample = Sample(elapsed, rss_mb(), open_fds(), work.turns, items_stored(rt.service))
                        samples.append(sample)
                        print(
                            f"{sample.seconds:8.0f} {sample.rss_mb:8.1f} {sample.fds:5d} "
                            f"{sample.turns:6d} {sample.items:7d}",
                            flush=True,
                        )
                        next_sample += args.sample_seconds
                    work.step()
                samples.append(Sample(elapsed, rss_mb(), open_fds(), work.turns, items_stored(rt.service)))
            finally:
                work.close()
    warm_up = next(s for s in samples if s.seconds >= duration / 5)
    rss_ok, fds_ok, text = verdict(samples, warm_up)
    last = samples[-1]
    print(f"\n{last.turns:,} turns in {last.seconds / 60:.1f} min ({last.turns / last.seconds:.1f} per second)")
    print(text)
    return 0 if rss_ok and fds_ok else 1


if __name__ == "__main__":
    sys.exit(main())
