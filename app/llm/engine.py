"""Text models behind one small interface: the local llama.cpp engine and remote endpoints.

A :class:`TextModel` turns chat turns into a :class:`Generation`, a plain
iterator of text pieces. The work runs on a thread the model owns, so the
caller (the CLI, or a UI worker) only waits on a queue and a cancel takes
effect at once, even while llama.cpp is still reading a long prompt.

Over 600 lines on purpose: the engine's thread, its KV-cache reuse, the reply
filter and the cancel paths work on one llama.cpp context and its lock.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from app.errors import UserError
from app.llm.gguf import GGUFError, GGUFInfo, read_gguf
from app.llm.prompt_format import ChatTurn, PromptFormat, RenderedPrompt, choose_format

log = logging.getLogger(__name__)

#: How often a waiting consumer looks at its cancel flag.
_POLL_SECONDS = 0.02


class EngineError(UserError):
    """A model could not be loaded or could not answer; ``str(err)`` is fit to show."""


class ModelUnavailableError(EngineError):
    """The model file is missing, truncated or not GGUF (checked before loading)."""


class CancelToken:
    """Set by whoever wants a generation to stop; read by the engine."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class GenerationSettings:
    max_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.95
    repeat_penalty: float = 1.1
    seed: int | None = None
    #: Constrains the output to JSON matching this schema (a llama.cpp grammar locally).
    json_schema: dict[str, Any] | None = None
    #: Background work (extraction, summaries): queued behind chat, and it must
    #: leave the chat's cached prompt in llama.cpp's KV cache as it found it.
    background: bool = False


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Prompt tokens llama.cpp did not have to evaluate again (its KV cache).
    cached_prompt_tokens: int = 0
    time_to_first_token: float | None = None
    seconds: float = 0.0
    #: "stop", "length", "cancel", "echo" or "error".
    finish_reason: str = ""

    @property
    def tokens_per_second(self) -> float:
        if self.time_to_first_token is None or self.completion_tokens < 2:
            return 0.0
        decoding = self.seconds - self.time_to_first_token
        return (self.completion_tokens - 1) / decoding if decoding > 0 else 0.0


_DONE = object()


@dataclass
class _Failure:
    error: BaseException


class Generation(Iterator[str]):
    """Text pieces as the model produces them; ``text`` and ``stats`` when done.

    Iterating blocks only on a queue. :meth:`cancel` (from any thread) ends the
    iteration within one poll interval; the producer stops at its next check.
    """

    def __init__(self, cancel: CancelToken | None = None) -> None:
        self.cancel_token = cancel or CancelToken()
        self.stats = GenerationStats()
        self._queue: queue.Queue[object] = queue.Queue()
        self._pieces: list[str] = []
        self._final_text: str | None = None
        self._finished = False

    # -- producer side: the engine's thread (any TextModel's, the tests' fake included)
    def emit(self, piece: str) -> None:
        self._queue.put(piece)

    def finish(self, final_text: str | None = None) -> None:
        self._final_text = final_text
        self._queue.put(_DONE)

    def fail(self, error: BaseException) -> None:
        self._queue.put(_Failure(error))

    # -- consumer side
    def cancel(self) -> None:
        self.cancel_token.cancel()

    @property
    def done(self) -> bool:
        return self._finished

    @property
    def text(self) -> str:
        """The reply so far; once finished, the final reply (echo cut off, trimmed)."""
        if self._finished and self._final_text is not None:
            return self._final_text
        return "".join(self._pieces)

    def __iter__(self) -> Generation:
        return self

    def __next__(self) -> str:
        while not self._finished:
            if self.cancel_token.cancelled:
                self._finished = True
                self.stats.finish_reason = "cancel"
                self._final_text = "".join(self._pieces).strip()
                break
            try:
                item = self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if item is _DONE:
                self._finished = True
                break
            if isinstance(item, _Failure):
                self._finished = True
                self.stats.finish_reason = "error"
                raise item.error
            assert isinstance(item, str)
            self._pieces.append(item)
            return item
        raise StopIteration

    def result(self) -> str:
        """Consumes the rest and returns the final text."""
        for _ in self:
            pass
        return self.text


class TextModel(Protocol):
    """What the conversation flow needs from a model, local or remote."""

    @property
    def name(self) -> str: ...

    @property
    def context_length(self) -> int: ...

    @property
    def is_base_model(self) -> bool:
        """True for models that were not tuned to chat (they continue text)."""
        ...

    @property
    def leaves_the_machine(self) -> bool:
        """True when what it is sent goes to another computer (an endpoint the user set up)."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def count_prompt(self, turns: Sequence[ChatTurn]) -> int: ...

    def generate(
        self, turns: Sequence[ChatTurn], settings: GenerationSettings, cancel: CancelToken | None = None
    ) -> Generation: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------- reply filtering

_SPEAKER_PREFIX = re.compile(r"[A-Z][A-Za-z .'-]{0,30}")
_SPEAKER_LINE = re.compile(r"\n[A-Z][A-Za-z .'-]{0,30}:")
_ECHO_PROBE_CHARS = 24


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


class ReplyFilter:
    """Ends a base model's reply where it starts another speaker's line or echoes its prompt.

    Text after a newline is held back until it is clearly not a speaker line
    such as "Client:", so such a line is never shown.
    """

    def __init__(self, *, stop_at_speaker_lines: bool, echo_sources: Sequence[str] = ()) -> None:
        self.stop_at_speaker_lines = stop_at_speaker_lines
        self._probes = sorted(
            {_normalise(s)[:_ECHO_PROBE_CHARS] for s in echo_sources if len(_normalise(s)) >= _ECHO_PROBE_CHARS}
        )
        self.text = ""
        self._emitted = 0
        self.stopped: str | None = None

    def feed(self, piece: str) -> str:
        """Adds generated text; returns what may be shown now."""
        if self.stopped:
            return ""
        if not self.text.strip():
            # Leading blank lines are not the start of an answer.
            piece = (self.text + piece).lstrip()
            self.text = ""
        self.text += piece
        if self.stop_at_speaker_lines:
            match = _SPEAKER_LINE.search(self.text)
            blank = self.text.find("\n\n")
            cuts = [c for c in (match.start() if match else -1, blank) if c >= 0]
            if cuts:
                self.text = self.text[: max(min(cuts), self._emitted)]
                self.stopped = "stop"
        if self._probes:
            folded = _normalise(self.text)
            # Only a probe that ends in the new text can be new, so search the tail only.
            start = max(0, len(folded) - len(piece) - _ECHO_PROBE_CHARS - 2)
            for probe in self._probes:
                at = folded.find(probe, start)
                if at >= 0:
                    # What was shown stays: the stored answer is always the one the user saw.
                    cut = _cut_at_normalised(self.text, at)
                    self.text = cut if len(cut) >= self._emitted else self.text[: self._emitted]
                    self.stopped = "echo"
                    break
        safe = len(self.text)
        if self.stop_at_speaker_lines and not self.stopped:
            newline = self.text.rfind("\n")
            if newline >= 0:
                tail = self.text[newline + 1 :]
                if tail == "" or _SPEAKER_PREFIX.fullmatch(tail):
                    safe = newline
        out = self.text[self._emitted : safe] if safe > self._emitted else ""
        self._emitted = max(self._emitted, safe)
        return out

    def finish(self) -> str:
        out = self.text[self._emitted :]
        self._emitted = len(self.text)
        return out

    @property
    def final_text(self) -> str:
        return self.text.strip()


def _cut_at_normalised(text: str, normalised_index: int) -> str:
    """The prefix of ``text`` whose normalised form has ``normalised_index`` characters."""
    if normalised_index == 0:
        return ""
    for end in range(len(text) + 1):
        # The marker keeps trailing whitespace from collapsing away in the count.
        if len(_normalise(text[:end] + "\0")) > normalised_index:
            return text[:end]
    return text


# ---------------------------------------------------------------- local engine


@dataclass(order=True)
class _Job:
    priority: int
    sequence: int
    run: Callable[[], None] = field(compare=False)
    future: Future[None] = field(default_factory=Future, compare=False)


_STOP_PRIORITY = 99


class LocalEngine:
    """One llama.cpp model, used by one thread that this object owns.

    The file is checked (:func:`app.llm.gguf.read_gguf`) in the constructor, so a
    missing or damaged model is reported before llama.cpp sees it. Loading
    happens on the model thread; :meth:`load` returns a future for it.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        context_length: int = 4096,
        threads: int = 0,
        batch_size: int = 512,
    ) -> None:
        try:
            self.info: GGUFInfo = read_gguf(model_path)
        except GGUFError as err:
            raise ModelUnavailableError(str(err)) from None
        self.path = Path(model_path)
        _route_llama_logs_to_logging()
        trained = self.info.trained_context_length
        self._n_ctx = min(context_length, trained) if trained else context_length
        self._threads = threads or max(1, (os.cpu_count() or 2))
        self._batch = batch_size
        self._llm: Any = None
        self._vocab: Any = None
        self._vocab_lock = threading.Lock()
        self._format: PromptFormat | None = None
        self._grammars: dict[str, Any] = {}
        self._jobs: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._sequence = itertools.count()
        self._current_cancel: CancelToken | None = None
        self._abort_callback: Any = None
        self._load_future: Future[None] | None = None
        #: The tokens of the most recent prompt (for benchmarks and diagnostics).
        self.last_prompt_tokens: list[int] = []
        self._thread = threading.Thread(target=self._serve, name="dossier-llama", daemon=True)
        self._thread.start()

    # -- identity
    @property
    def name(self) -> str:
        return self.info.name

    @property
    def context_length(self) -> int:
        return self._n_ctx

    @property
    def is_base_model(self) -> bool:
        return not self.info.looks_instruction_tuned

    @property
    def leaves_the_machine(self) -> bool:
        return False

    @property
    def format_name(self) -> str:
        return self.prompt_format.name

    # -- model thread
    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job.priority == _STOP_PRIORITY:
                break
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                job.run()
                job.future.set_result(None)
            except BaseException as err:  # handed to whoever waits on the future
                job.future.set_exception(err)
        self._llm = None

    def _submit(self, run: Callable[[], None], priority: int = 0) -> Future[None]:
        if not self._thread.is_alive():
            raise EngineError("The model has been closed")
        job = _Job(priority, next(self._sequence), run)
        self._jobs.put(job)
        return job.future

    def load(self) -> Future[None]:
        """Starts loading the weights on the model thread (once); returns its future."""
        if self._load_future is None:
            self._load_future = self._submit(self._load_now)
        return self._load_future

    def _load_now(self) -> None:
        if self._llm is not None:
            return
        import llama_cpp

        started = time.perf_counter()
        try:
            self._llm = llama_cpp.Llama(
                str(self.path),
                n_ctx=self._n_ctx,
                n_threads=self._threads,
                n_batch=self._batch,
                verbose=False,
            )
        except Exception as err:  # llama.cpp reports a bad file only as "failed to load"
            raise ModelUnavailableError(f"{self.path.name} could not be loaded: {err}") from None
        self._install_abort_callback(llama_cpp)
        log.info("loaded %s in %.1f s", self.path.name, time.perf_counter() - started)

    def _install_abort_callback(self, llama_cpp: Any) -> None:
        # Lets a cancel interrupt llama.cpp in the middle of reading a long prompt.
        def should_abort(_data: ctypes.c_void_p) -> bool:
            token = self._current_cancel
            return token is not None and token.cancelled

        try:
            self._abort_callback = llama_cpp.ggml_abort_callback(should_abort)
            llama_cpp.llama_set_abort_callback(self._llm._ctx.ctx, self._abort_callback, None)
        except Exception:  # an older binding: cancel then waits for the next token
            self._abort_callback = None

    def close(self) -> None:
        """Stops the model thread after its current job and frees the model."""
        if self._current_cancel is not None:
            self._current_cancel.cancel()
        if self._thread.is_alive():
            self._jobs.put(_Job(_STOP_PRIORITY, next(self._sequence), lambda: None))
            self._thread.join()
        self._vocab = None

    # -- tokens
    def _vocab_model(self) -> Any:
        with self._vocab_lock:
            if self._vocab is None:
                import llama_cpp

                # A vocab-only load reads the tokenizer in milliseconds, so counting
                # works while the weights are still loading.
                self._vocab = llama_cpp.Llama(str(self.path), vocab_only=True, verbose=False)
            return self._vocab

    @property
    def prompt_format(self) -> PromptFormat:
        if self._format is None:
            vocab = self._vocab_model()
            bos = _token_text(vocab, vocab.token_bos())
            eos = _token_text(vocab, vocab.token_eos())
            self._format = choose_format(
                architecture=self.info.architecture,
                chat_template=self.info.chat_template,
                instruction_tuned=self.info.looks_instruction_tuned,
                bos_token=bos,
                eos_token=eos,
            )
        return self._format

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        return len(self._vocab_model().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def tokenize_prompt(self, prompt: RenderedPrompt) -> list[int]:
        """Markup with special tokens parsed; data with special tokens left as text."""
        vocab = self._vocab_model()
        tokens: list[int] = [vocab.token_bos()] if prompt.add_bos else []
        for piece in prompt.pieces:
            tokens += vocab.tokenize(piece.text.encode("utf-8"), add_bos=False, special=piece.trusted)
        return tokens

    def count_prompt(self, turns: Sequence[ChatTurn]) -> int:
        return len(self.tokenize_prompt(self.prompt_format.render(turns)))

    # -- generation
    def generate(
        self,
        turns: Sequence[ChatTurn],
        settings: GenerationSettings,
        cancel: CancelToken | None = None,
    ) -> Generation:
        prompt = self.prompt_format.render(turns)
        echo_sources: list[str] = []
        if self.is_base_model:
            # A base model tends to repeat what it read; its prompt's lines are what it must not echo.
            echo_sources = [line for piece in prompt.pieces if not piece.trusted for line in piece.text.splitlines()]
        return self.generate_from_prompt(prompt, settings, cancel, echo_sources=echo_sources)

    def generate_from_prompt(
        self,
        prompt: RenderedPrompt,
        settings: GenerationSettings,
        cancel: CancelToken | None = None,
        *,
        echo_sources: Sequence[str] = (),
    ) -> Generation:
        tokens = self.tokenize_prompt(prompt)
        self.last_prompt_tokens = tokens
        limit = self._n_ctx - settings.max_tokens
        if len(tokens) > self._n_ctx - 1:
            raise EngineError(
                f"The prompt has {len(tokens):,} tokens; the model's window is {self._n_ctx:,}. Shorten the message."
            )
        max_tokens = settings.max_tokens if len(tokens) <= limit else self._n_ctx - len(tokens)
        generation = Generation(cancel)
        reply_filter = ReplyFilter(stop_at_speaker_lines=prompt.stop_at_speaker_lines, echo_sources=echo_sources)
        grammar = self._grammar(settings.json_schema) if settings.json_schema is not None else None
        self.load()
        self._submit(
            lambda: self._run_generation(tokens, max_tokens, settings, prompt.stop, grammar, reply_filter, generation),
            priority=1 if settings.background else 0,
        )
        return generation

    def _grammar(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            from llama_cpp.llama_grammar import LlamaGrammar

            self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    def _run_generation(
        self,
        tokens: list[int],
        max_tokens: int,
        settings: GenerationSettings,
        stop: Sequence[str],
        grammar: Any,
        reply_filter: ReplyFilter,
        generation: Generation,
    ) -> None:
        cancel = generation.cancel_token
        stats = generation.stats
        stats.prompt_tokens = len(tokens)
        started = time.perf_counter()
        if cancel.cancelled:
            generation.finish()
            return
        try:
            from llama_cpp import StoppingCriteriaList

            self._load_now()
            llm = self._llm
            saved_chat_state = None
            if settings.background and llm.n_tokens > 0:
                # Set back afterwards, so the next chat turn still finds its prefix cached.
                saved_chat_state = llm.save_state()
            stats.cached_prompt_tokens = _common_prefix(llm, tokens)
            self._current_cancel = cancel
            stream = llm.create_completion(
                tokens,
                max_tokens=max_tokens,
                temperature=settings.temperature,
                top_p=settings.top_p,
                repeat_penalty=settings.repeat_penalty,
                seed=settings.seed,
                stop=list(stop),
                grammar=grammar,
                stream=True,
                stopping_criteria=StoppingCriteriaList([lambda _ids, _logits: cancel.cancelled]),
            )
            finish = ""
            for chunk in stream:
                choice = chunk["choices"][0]
                piece = choice.get("text") or ""
                if piece:
                    if stats.time_to_first_token is None:
                        stats.time_to_first_token = time.perf_counter() - started
                    stats.completion_tokens += 1
                    shown = reply_filter.feed(piece)
                    if shown:
                        generation.emit(shown)
                finish = choice.get("finish_reason") or finish
                if reply_filter.stopped or cancel.cancelled:
                    break
            # Streamed chunks are not tokens (llama-cpp-python merges held-back text); the cache is exact.
            # (The last sampled token is never evaluated, hence the +1.)
            stats.completion_tokens = max(stats.completion_tokens, llm.n_tokens - len(tokens) + 1)
            rest = reply_filter.finish()
            if rest and not cancel.cancelled:
                generation.emit(rest)
            stats.finish_reason = (
                "cancel" if cancel.cancelled else reply_filter.stopped or ("length" if finish == "length" else "stop")
            )
            stats.seconds = time.perf_counter() - started
            if saved_chat_state is not None:
                llm.load_state(saved_chat_state)
            generation.finish(reply_filter.final_text)
        except RuntimeError as err:
            if cancel.cancelled:
                # Aborted mid-prompt: the KV cache may hold half a batch, so start clean next time.
                self._llm.reset()
                stats.finish_reason = "cancel"
                stats.seconds = time.perf_counter() - started
                generation.finish(reply_filter.final_text)
            else:
                generation.fail(EngineError(f"The model failed while answering: {err}"))
        except EngineError as err:
            generation.fail(err)
        except Exception as err:  # reported to the consumer instead of killing the model thread
            log.exception("generation failed")
            generation.fail(EngineError(f"The model failed while answering: {err}"))
        finally:
            self._current_cancel = None


def _common_prefix(llm: Any, tokens: Sequence[int]) -> int:
    cached = llm.n_tokens
    n = 0
    for a, b in zip(llm.input_ids[:cached], tokens, strict=False):
        if a != b:
            break
        n += 1
    return n


def _token_text(vocab: Any, token: int) -> str:
    if token < 0:
        return ""
    try:
        raw: bytes = vocab.detokenize([token], special=True)
    except TypeError:  # older bindings have no `special`
        raw = vocab.detokenize([token])
    return raw.decode("utf-8", errors="ignore")


_llama_log_callback: Any = None


def _route_llama_logs_to_logging() -> None:
    """llama.cpp prints its progress to stderr; send it to the log instead, once per process."""
    global _llama_log_callback
    if _llama_log_callback is not None:
        return
    import llama_cpp
    import llama_cpp.llama

    llama_log = logging.getLogger("dossier.llama_cpp")

    def forward(level: int, text: bytes, _data: ctypes.c_void_p) -> None:
        message = text.decode("utf-8", errors="replace").rstrip()
        if message:
            # ggml levels: 1 debug, 2 info, 3 warn, 4 error, 5 continued. Its warnings are
            # about tuning (cache sizes, a vocab-only load), so only errors reach the log's default view.
            llama_log.log(logging.WARNING if level == 4 else logging.DEBUG, "%s", message)

    _llama_log_callback = llama_cpp.llama_log_callback(forward)
    llama_cpp.llama_log_set(_llama_log_callback, ctypes.c_void_p(0))
