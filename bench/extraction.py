"""Automatic learning on real conversations: does a proposal land where a person saw a fact?

Run: ``.venv/bin/python bench/extraction.py [--data ../shared/eval/locomo-dev.json]
[--model-turns 80]`` (a few minutes). The data set is not part of this repository
(CC BY-NC 4.0, see its README); without it the benchmark says so and exits 0.

Gold: each LoCoMo session's ``observation`` annotations list, per speaker, the
facts stated in the talk with the ``dia_id`` of the turn they come from.
``speaker_a`` is the user: their turns go through ``MemoryExtractor.process``
one by one, as a chat would send them (each project is one conversation, each
session one session), with the turn's own date; ``speaker_b``'s turns are
stored as the other side and never learnt from. A user turn is a *gold turn*
when at least one of ``speaker_a``'s observations points at it.

Match rule: a proposal made on a gold turn *finds* it when the MiniLM cosine
similarity between the proposal's text and one of that turn's gold facts is
at least ``MATCH`` (0.40). The rule is calibrated in every run and printed:
the 99th percentile of the similarity between a turn and the gold facts of an
unrelated turn, which should stay below it.

Figures, for the model-free step alone over every user turn, and for the
default pipeline (cues plus the bundled model) over a sample of turns, next
to the model-free step on the same sample:

- found: share of gold turns that got a matching proposal (target >= 0.60);
- off-gold: share of proposals made on turns without gold (target <= 0.25);
- as references, proposing every user turn verbatim (the rule's ceiling and
  the base rate of turns without gold).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.assistant.candidates import find_candidates  # noqa: E402
from app.assistant.extraction import MemoryExtractor  # noqa: E402
from app.llm.engine import LocalEngine, TextModel  # noqa: E402
from app.llm.models import ModelStore  # noqa: E402
from bench.conversation_memory import DEFAULT_DATA, session_time  # noqa: E402
from memory import MemoryService, Role  # noqa: E402
from memory.embedding import MiniLMEmbedder  # noqa: E402

MATCH = 0.40
TARGETS = (0.60, 0.25)


@dataclass
class UserTurn:
    conversation: int
    session: int
    text: str
    sent_at: datetime
    gold: list[str]
    #: The other side's turns before this one in its session, in order.
    before: list[tuple[str, str]] = field(default_factory=list)


def load_turns(data: list[dict[str, Any]]) -> list[UserTurn]:
    """Every ``speaker_a`` turn with the observations that point at it."""
    turns = []
    for number, sample in enumerate(data):
        talk = sample["conversation"]
        user = talk["speaker_a"]
        gold: dict[str, list[str]] = {}
        for observations in sample["observation"].values():
            for fact, ids in observations.get(user, []):
                for dia_id in re.split(r"[;, ]+", " ".join(ids) if isinstance(ids, list) else str(ids)):
                    if dia_id:
                        gold.setdefault(dia_id, []).append(fact)
        sessions = sorted(int(k.split("_")[1]) for k in talk if re.fullmatch(r"session_\d+", k))
        for session in sessions:
            sent_at = session_time(talk[f"session_{session}_date_time"])
            others: list[tuple[str, str]] = []
            for turn in talk[f"session_{session}"]:
                if turn["speaker"] == user:
                    turns.append(UserTurn(number, session, turn["text"], sent_at, gold.get(turn["dia_id"], []), others))
                    others = []
                else:
                    others.append((turn["speaker"], turn["text"]))
    return turns


@dataclass
class Score:
    proposals: int
    found: float
    off_gold: float

    def row(self, label: str) -> str:
        return f"| {label} | {self.proposals} | {self.found:.3f} | {self.off_gold:.3f} |"


class Judge:
    """The match rule, with the gold facts' vectors computed once."""

    def __init__(self, embedder: MiniLMEmbedder, turns: list[UserTurn]) -> None:
        self.embedder = embedder
        facts = sorted({fact for turn in turns for fact in turn.gold})
        self.vectors = dict(zip(facts, embedder.embed(facts), strict=True))

    def score(self, turns: list[UserTurn], proposals: list[tuple[int, str]], among: list[int] | None = None) -> Score:
        """``proposals`` as (index into ``turns``, text), made on the turns ``among`` (default: all)."""
        vectors = self.embedder.embed([text for _, text in proposals]) if proposals else []
        found: set[int] = set()
        off_gold = 0
        for (index, _text), vector in zip(proposals, vectors, strict=True):
            gold = turns[index].gold
            if not gold:
                off_gold += 1
            elif max(float(np.dot(vector, self.vectors[fact])) for fact in gold) >= MATCH:
                found.add(index)
        gold_turns = sum(1 for i in (among if among is not None else range(len(turns))) if turns[i].gold)
        return Score(len(proposals), len(found) / max(1, gold_turns), off_gold / max(1, len(proposals)))

    def unrelated_percentile(self, turns: list[UserTurn], q: float = 99) -> float:
        """Similarity between a gold turn's text and another turn's gold facts, at percentile ``q``."""
        rng = random.Random(0)
        gold_turns = [turn for turn in turns if turn.gold]
        texts = self.embedder.embed([turn.text for turn in gold_turns])
        values = []
        for vector, turn in zip(texts, gold_turns, strict=True):
            other = rng.choice(gold_turns)
            if other is not turn:
                values.append(max(float(np.dot(vector, self.vectors[fact])) for fact in other.gold))
        return float(np.percentile(values, q))


def through_extractor(
    turns: list[UserTurn], indices: list[int], embedder: MiniLMEmbedder, model: TextModel | None, folder: Path
) -> list[tuple[int, str]]:
    """Sends the chosen user turns through ``MemoryExtractor.process``; returns what it proposed."""
    service = MemoryService.open(folder, embedder=embedder)
    extractor = MemoryExtractor(service, model, use_model=model is not None)
    projects: dict[int, int] = {}
    sessions: dict[tuple[int, int], int] = {}
    proposals: list[tuple[int, str]] = []
    try:
        for done, index in enumerate(indices, start=1):
            turn = turns[index]
            if turn.conversation not in projects:
                projects[turn.conversation] = service.create_project(f"Conversation {turn.conversation + 1}").id
            project = projects[turn.conversation]
            key = (turn.conversation, turn.session)
            if key not in sessions:
                sessions[key] = service.start_session(project, f"Session {turn.session}", started_at=turn.sent_at).id
            for speaker, text in turn.before:
                service.add_message(sessions[key], Role.OTHER, text, speaker=speaker, created_at=turn.sent_at)
            message = service.add_message(sessions[key], Role.USER, turn.text, created_at=turn.sent_at)
            before = {p.id for p in service.list_proposals(project)}
            extractor.process(project, message)
            for proposal in service.list_proposals(project):
                if proposal.id not in before:
                    proposals.append((index, proposal.text))
            if model is not None and done % 10 == 0:
                print(f"  model: {done}/{len(indices)} turns", file=sys.stderr)
    finally:
        service.close()
    return proposals


def cue_proposals(turns: list[UserTurn], indices: list[int]) -> list[tuple[int, str]]:
    return [(i, c.text) for i in indices for c in find_candidates(turns[i].text, turns[i].sent_at)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model-turns", type=int, default=80, help="user turns sent through the default model")
    parser.add_argument("--no-model", action="store_true", help="only the model-free step")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"skipped: {args.data} is not here (the LoCoMo eval set; see ../shared/eval/README.md)")
        return 0
    import json

    turns = load_turns(json.loads(args.data.read_text(encoding="utf-8")))
    embedder = MiniLMEmbedder()
    embedder.load()
    judge = Judge(embedder, turns)
    everything = list(range(len(turns)))
    print(f"{len(turns)} user turns, {sum(1 for t in turns if t.gold)} with gold facts")
    print(
        f"match rule: cosine >= {MATCH:.2f}; unrelated pairs, 99th percentile: {judge.unrelated_percentile(turns):.3f}"
    )
    print()
    print("| step (turns) | proposals | found | off-gold |")
    print("| --- | --- | --- | --- |")
    whole: Callable[[list[int]], list[tuple[int, str]]] = lambda idx: [(i, turns[i].text) for i in idx]  # noqa: E731
    print(judge.score(turns, whole(everything)).row(f"every turn verbatim, reference ({len(turns)})"))
    print(judge.score(turns, cue_proposals(turns, everything)).row(f"cue step alone, raw candidates ({len(turns)})"))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        free = through_extractor(turns, everything, embedder, None, Path(tmp) / "cues")
        rate = len(turns) / (time.perf_counter() - started)
        print(judge.score(turns, free).row(f"model-free extractor, after reconciliation ({len(turns)})"))
        free_score = judge.score(turns, free)
        model_score = None
        if not args.no_model:
            rng = random.Random(11)
            sample = sorted(rng.sample(everything, min(args.model_turns, len(everything))))
            sample_turns = set(sample)
            on_sample = [p for p in free if p[0] in sample_turns]
            print(judge.score(turns, on_sample, sample).row(f"model-free extractor ({len(sample)})"))
            model_path = ModelStore(Path(tmp) / "models").ensure_default()
            engine = LocalEngine(model_path, context_length=2048)
            engine.load().result()
            started = time.perf_counter()
            with_model = through_extractor(turns, sample, embedder, engine, Path(tmp) / "model")
            model_seconds = (time.perf_counter() - started) / len(sample)
            engine.close()
            model_score = judge.score(turns, with_model, sample)
            print(model_score.row(f"default pipeline: cues + bundled model ({len(sample)})"))
            print()
            print(f"default pipeline: {model_seconds:.2f} s per user turn (model step included)")
    print(f"model-free extractor: {rate:.0f} user turns/s (reconciliation against the project's facts included)")
    found, off_gold = TARGETS
    met = free_score.found >= found and free_score.off_gold <= off_gold
    print(f"target: found >= {found:.2f} with off-gold <= {off_gold:.2f}: {'met' if met else 'NOT met'} (model-free)")
    if model_score is not None:
        met = model_score.found >= found and model_score.off_gold <= off_gold
        print(f"target: {'met' if met else 'NOT met'} (default pipeline, sample)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
