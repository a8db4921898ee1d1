"""A deterministic stand-in for a model, behind the same TextModel interface.

Its replies come from a script (a function of the prompt), its tokens are
words, and it runs on its own thread like the real engines, so the flow's
streaming, cancel and storage logic are exercised for real.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from app.llm.engine import CancelToken, EngineError, Generation, GenerationSettings
from app.llm.prompt_format import ChatTurn, TranscriptFormat

Script = Callable[[Sequence[ChatTurn], GenerationSettings], str]


def echo_last_message(turns: Sequence[ChatTurn], settings: GenerationSettings) -> str:
    return f"You said: {turns[-1].content}"


class FakeModel:
    def __init__(
        self,
        script: Script = echo_last_message,
        *,
        context_length: int = 4096,
        delay: float = 0.0,
        fail: bool = False,
        keep_prompts: int | None = None,
    ) -> None:
        """
        Args:
            keep_prompts: How many of the latest prompts to keep for inspection
                (None: all; a long soak keeps one, so that the fake does not grow).
        """
        self.script = script
        self.keep_prompts = keep_prompts
        self._context_length = context_length
        self.delay = delay
        self.fail = fail
        self.prompts: list[list[ChatTurn]] = []
        self.settings: list[GenerationSettings] = []
        self._format = TranscriptFormat()
        self._threads: list[threading.Thread] = []

    name = "fake"
    is_base_model = False
    leaves_the_machine = False

    @property
    def context_length(self) -> int:
        return self._context_length

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def count_prompt(self, turns: Sequence[ChatTurn]) -> int:
        return self.count_tokens(self._format.render(turns).text)

    def rendered(self, index: int = -1) -> str:
        return self._format.render(self.prompts[index]).text

    def generate(
        self, turns: Sequence[ChatTurn], settings: GenerationSettings, cancel: CancelToken | None = None
    ) -> Generation:
        self.prompts.append(list(turns))
        self.settings.append(settings)
        if self.keep_prompts is not None:
            del self.prompts[: -self.keep_prompts], self.settings[: -self.keep_prompts]
        self._threads = [t for t in self._threads if t.is_alive()]
        generation = Generation(cancel)

        def produce() -> None:
            if self.fail:
                generation.fail(EngineError("The fake model failed"))
                return
            try:
                words = self.script(turns, settings).split(" ")
            except Exception as error:  # a broken script fails its generation, never hangs the test
                generation.fail(EngineError(f"the fake model's script failed: {error!r}"))
                return
            produced = []
            for i, word in enumerate(words):
                if generation.cancel_token.cancelled:
                    generation.stats.finish_reason = "cancel"
                    break
                piece = word if i == 0 else " " + word
                produced.append(piece)
                generation.stats.completion_tokens += 1
                generation.emit(piece)
                time.sleep(self.delay)
            else:
                generation.stats.finish_reason = "stop"
            generation.finish("".join(produced).strip())

        thread = threading.Thread(target=produce, daemon=True)
        self._threads.append(thread)
        thread.start()
        return generation

    def close(self) -> None:
        for thread in self._threads:
            thread.join()
