"""Generation speed through the conversation flow, against bare llama-cpp-python in the same run.

Run: ``.venv/bin/python bench/generation.py`` (about 3 minutes on 2 cores).

Three figures, each with its baseline measured here and now:

1. Decode speed: tokens/s of answers streamed through ``ConversationFlow``
   (retrieval, prompt fitting, reply filter, storage) ÷ tokens/s of a bare
   ``Llama.create_completion`` on the same model, the same prompt tokens
   and the same sampling settings. Target >= 0.95.
2. Time to first token on turn 2 of a conversation whose memory block is
   about 1,500 tokens ÷ the same on turn 1. Turn 2 reuses llama.cpp's KV
   cache for everything turn 1 sent (its memory included), even though
   background extraction used the same model in between. Target <= 0.5.
3. The share of a turn's latency spent in memory retrieval (``build_context``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.assistant.conversation import ConversationFlow, Token, TurnResult
from app.assistant.extraction import MemoryExtractor
from app.llm.engine import GenerationSettings, LocalEngine
from app.llm.models import ModelStore
from bench.synthetic import PEOPLE, TOPICS, _date, _money
from memory import MemoryService
from memory.embedding import MiniLMEmbedder

CONTEXT = 4096
MEMORY_BUDGET = 1500
DECODE_QUESTIONS = [
    "Write a detailed status update for the client about every open workstream.",
    "Draft a long email to the client explaining the project plan, phase by phase.",
    "Tell me everything you know about the client, in detail.",
]
QUESTIONS = [
    ("What do we know about the warehouse relocation?", "And which deadlines and budgets depend on it?"),
    ("Summarise where the rebrand stands.", "Who approved what, and when?"),
    ("What did the client decide about the logistics software?", "What are the open risks for that?"),
]


def _facts(rng: random.Random, n: int) -> list[str]:
    templates = [
        "{p} confirmed that the {t} needs sign-off from finance before {d}.",
        "The budget for the {t} is {m}, approved by {p}.",
        "{p} prefers weekly written updates on the {t}, sent on Mondays.",
        "The {t} depends on the warehouse relocation finishing by {d}.",
        "Risk: the {t} may slip if the vendor contract is not renewed by {d}.",
        "{p} decided to run the {t} in two phases, the first costing {m}.",
    ]
    return [
        rng.choice(templates).format(p=rng.choice(PEOPLE), t=rng.choice(TOPICS), d=_date(rng), m=_money(rng))
        for _ in range(n)
    ]


def _turn(flow: ConversationFlow, session_id: int, message: str) -> tuple[float, TurnResult, float, float]:
    """Runs a turn as a caller sees it.

    Returns:
        (seconds to the first token, result, total seconds, seconds from the first token
        to the stored result, which is what decoding costs through the flow)
    """
    started = time.perf_counter()
    first = None
    result = None
    for event in flow.run_turn(session_id, message):
        if isinstance(event, Token) and first is None:
            first = time.perf_counter()
        elif isinstance(event, TurnResult):
            result = event
    assert result is not None
    end = time.perf_counter()
    if first is None:
        return end - started, result, end - started, 0.0
    return first - started, result, end - started, end - first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="decode-speed rounds (flow and bare alternate)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model_path = ModelStore(Path(tmp) / "models").ensure_default()
        embedder = MiniLMEmbedder()
        embedder.load()
        service = MemoryService.open(Path(tmp) / "data", embedder=embedder)
        engine = LocalEngine(model_path, context_length=CONTEXT, threads=args.threads)
        engine.load().result()
        rng = random.Random(7)
        project = service.create_project("Bench client")
        for text in _facts(rng, 160):
            service.add_fact(project.id, text)
        settings = GenerationSettings(max_tokens=96, temperature=0.7, repeat_penalty=1.1)
        flow = ConversationFlow(
            service,
            engine,
            listeners=[MemoryExtractor(service, engine)],
            memory_budget_tokens=MEMORY_BUDGET,
            generation=settings,
        )

        # -- 2 and 3: time to first token, turn 2 vs turn 1, and the retrieval share.
        ttft_1, ttft_2, engine_1, engine_2, memory_tokens, cached, shares = [], [], [], [], [], [], []
        for first_question, second_question in QUESTIONS:
            session = service.start_session(project.id)
            t1, r1, total1, _ = _turn(flow, session.id, first_question)
            if r1.background is not None:
                r1.background.result()  # extraction ran on the same model between the turns
            t2, r2, total2, _ = _turn(flow, session.id, second_question)
            if r2.background is not None:
                r2.background.result()
            ttft_1.append(t1)
            ttft_2.append(t2)
            engine_1.append(r1.stats.time_to_first_token or t1)
            engine_2.append(r2.stats.time_to_first_token or t2)
            memory_tokens.append(r1.report.memory_tokens)
            cached.append(r2.stats.cached_prompt_tokens / max(1, r2.stats.prompt_tokens))
            shares += [r1.report.retrieval_seconds / total1, r2.report.retrieval_seconds / total2]

        # -- 1: decode speed, flow vs bare llama-cpp-python on the same prompt tokens.
        import llama_cpp

        bare = llama_cpp.Llama(str(model_path), n_ctx=CONTEXT, n_threads=args.threads, verbose=False)
        # A small project, so each round is mostly decoding rather than reading a long prompt.
        small = service.create_project("Decode client")
        for text in _facts(rng, 8):
            service.add_fact(small.id, text)
        session = service.start_session(small.id)
        flow.listeners = []
        flow_tokens = flow_seconds = bare_tokens = bare_seconds = 0.0
        for round_number in range(args.rounds):
            seed = 100 + round_number
            flow.generation = GenerationSettings(max_tokens=128, temperature=0.7, repeat_penalty=1.1, seed=seed)
            flow.forget_session_cache(session.id)
            _, result, _, streaming = _turn(flow, session.id, DECODE_QUESTIONS[round_number % len(DECODE_QUESTIONS)])
            produced = result.stats.completion_tokens
            if produced < 3 or streaming <= 0:
                continue
            flow_tokens += produced - 1
            flow_seconds += streaming
            # The same prompt tokens and sampling, for exactly as many tokens, without the flow.
            first = None
            count = 0
            for _chunk in bare.create_completion(
                list(engine.last_prompt_tokens),
                max_tokens=produced,
                temperature=0.7,
                repeat_penalty=1.1,
                seed=seed,
                stream=True,
            ):
                count += 1
                if first is None:
                    first = time.perf_counter()
            end = time.perf_counter()
            # Chunks are not tokens (held-back text is merged); llama.cpp's own count is exact.
            generated = bare.n_tokens - len(engine.last_prompt_tokens) + 1
            if first is not None and generated > 1:
                bare_tokens += generated - 1
                bare_seconds += end - first
        flow.close()
        engine.close()
        service.close()

    flow_rate = flow_tokens / flow_seconds if flow_seconds else 0.0
    bare_rate = bare_tokens / bare_seconds if bare_seconds else 0.0
    ratio = flow_rate / bare_rate if bare_rate else 0.0
    p50 = statistics.median
    ttft_ratio = p50(ttft_2) / p50(ttft_1)
    print(f"model: {model_path.name}, {args.threads} threads, context {CONTEXT}")
    print()
    print("decode speed (tokens/s, after the first token)")
    print(f"  through the flow   {flow_rate:8.1f}   ({int(flow_tokens)} tokens)")
    print(f"  bare llama-cpp     {bare_rate:8.1f}   ({int(bare_tokens)} tokens)")
    print(f"  ratio              {ratio:8.3f}   target >= 0.95: {'met' if ratio >= 0.95 else 'not met'}")
    print()
    print(f"time to first token (memory block p50 {p50(memory_tokens):.0f} tokens, {len(QUESTIONS)} conversations)")
    print(f"  turn 1 p50         {p50(ttft_1) * 1000:8.0f} ms   (model alone {p50(engine_1) * 1000:.0f} ms)")
    print(f"  turn 2 p50         {p50(ttft_2) * 1000:8.0f} ms   (model alone {p50(engine_2) * 1000:.0f} ms)")
    print(f"  turn 2 prompt reused from the KV cache: {p50(cached) * 100:.0f}%")
    print(f"  ratio              {ttft_ratio:8.3f}   target <= 0.5: {'met' if ttft_ratio <= 0.5 else 'not met'}")
    print()
    print(f"retrieval share of turn latency: p50 {p50(shares) * 100:.1f}%, max {max(shares) * 100:.1f}%")


if __name__ == "__main__":
    main()
