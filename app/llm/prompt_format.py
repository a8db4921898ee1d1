"""Turns a conversation into the prompt one model expects.

Three sources, in order of preference: the chat template stored in the GGUF
file; a known format for the file's architecture when the model is
instruction-tuned but ships no template; and a plain transcript with stop
sequences for base models, so they continue as the assistant instead of
echoing the prompt.

A rendered prompt is a sequence of pieces marked trusted (the format's own
markup) or not (everything people wrote: memory, messages). The local engine
tokenizes untrusted pieces with special-token parsing off, so a fact that
contains ``<start_of_turn>`` or ``<|im_start|>`` stays text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from app.llm import prompts

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatTurn:
    role: Role
    content: str
    #: Memory retrieved for this user turn; each format places it its own way.
    notes: str = ""


@dataclass(frozen=True)
class PromptPiece:
    text: str
    #: True for the format's markup; False for data, never parsed for special tokens.
    trusted: bool


@dataclass(frozen=True)
class RenderedPrompt:
    pieces: tuple[PromptPiece, ...]
    stop: tuple[str, ...]
    #: Whether the tokenizer should add the model's BOS token itself.
    add_bos: bool = True
    #: Lines of the form "Name:", and a blank line after some text, also end the
    #: reply (base models invent speakers and wander off).
    stop_at_speaker_lines: bool = False

    @property
    def text(self) -> str:
        return "".join(piece.text for piece in self.pieces)


class PromptFormat(Protocol):
    @property
    def name(self) -> str: ...

    def render(self, turns: Sequence[ChatTurn]) -> RenderedPrompt: ...


def user_content(turn: ChatTurn) -> str:
    """A user turn with its memory, for formats that have no place for notes."""
    if not turn.notes:
        return turn.content
    return f"{prompts.TURN_MEMORY_HEADING}\n{turn.notes}\n\n{prompts.TURN_MESSAGE_HEADING}\n{turn.content}"


class _Builder:
    def __init__(self) -> None:
        self.pieces: list[PromptPiece] = []

    def markup(self, text: str) -> None:
        self._add(text, True)

    def data(self, text: str) -> None:
        self._add(text, False)

    def _add(self, text: str, trusted: bool) -> None:
        if not text:
            return
        if self.pieces and self.pieces[-1].trusted == trusted:
            self.pieces[-1] = PromptPiece(self.pieces[-1].text + text, trusted)
        else:
            self.pieces.append(PromptPiece(text, trusted))


def _merge_system(turns: Sequence[ChatTurn]) -> tuple[str, list[ChatTurn]]:
    system = "\n\n".join(t.content for t in turns if t.role == "system")
    return system, [t for t in turns if t.role != "system"]


class TranscriptFormat:
    """For base models: a preamble, notes, and "Consultant:"/"Assistant:" lines."""

    name = "transcript"

    def render(self, turns: Sequence[ChatTurn]) -> RenderedPrompt:
        system, rest = _merge_system(turns)
        b = _Builder()
        b.markup(prompts.TRANSCRIPT_PREAMBLE + "\n\n")
        if system:
            b.data(system)
            b.markup("\n\n")
        for turn in rest:
            if turn.role == "user":
                if turn.notes:
                    b.markup(f"{prompts.TRANSCRIPT_NOTES}:\n")
                    b.data(turn.notes)
                    b.markup("\n\n")
                b.markup(f"{prompts.TRANSCRIPT_USER}: ")
                b.data(_one_paragraph(turn.content))
                b.markup("\n")
            else:
                b.markup(f"{prompts.TRANSCRIPT_ASSISTANT}: ")
                b.data(_one_paragraph(turn.content))
                b.markup("\n")
        b.markup(f"{prompts.TRANSCRIPT_ASSISTANT}:")
        return RenderedPrompt(
            tuple(b.pieces),
            stop=(
                f"\n{prompts.TRANSCRIPT_USER}:",
                f"\n{prompts.TRANSCRIPT_ASSISTANT}:",
                f"\n{prompts.TRANSCRIPT_NOTES}:",
            ),
            stop_at_speaker_lines=True,
        )


def _one_paragraph(text: str) -> str:
    # A blank line would read as the end of the turn to a base model.
    return re.sub(r"\n\s*\n+", "\n", text.strip())


class GemmaFormat:
    name = "gemma"

    def render(self, turns: Sequence[ChatTurn]) -> RenderedPrompt:
        system, rest = _merge_system(turns)
        b = _Builder()
        first_user = True
        for turn in rest:
            role = "user" if turn.role == "user" else "model"
            b.markup(f"<start_of_turn>{role}\n")
            if role == "user" and first_user and system:
                # Gemma has no system role; its own template puts it in the first user turn.
                b.data(system + "\n\n")
            if role == "user":
                first_user = False
                _user_with_notes(b, turn)
            else:
                b.data(turn.content)
            b.markup("<end_of_turn>\n")
        b.markup("<start_of_turn>model\n")
        return RenderedPrompt(tuple(b.pieces), stop=("<end_of_turn>",))


@dataclass(frozen=True)
class TaggedFormat:
    """Formats where every turn is ``open(role) content close`` (ChatML, Phi-3)."""

    name: str
    #: Opens a turn; ``{role}`` is replaced by system, user or assistant.
    open_tag: str
    close_tag: str
    stop: tuple[str, ...]
    add_bos: bool = True

    def render(self, turns: Sequence[ChatTurn]) -> RenderedPrompt:
        b = _Builder()
        for turn in turns:
            b.markup(self.open_tag.format(role=turn.role))
            if turn.role == "user":
                _user_with_notes(b, turn)
            else:
                b.data(turn.content)
            b.markup(self.close_tag)
        b.markup(self.open_tag.format(role="assistant"))
        return RenderedPrompt(tuple(b.pieces), stop=self.stop, add_bos=self.add_bos)


CHATML = TaggedFormat("chatml", "<|im_start|>{role}\n", "<|im_end|>\n", ("<|im_end|>",), add_bos=False)
PHI3 = TaggedFormat("phi3", "<|{role}|>\n", "<|end|>\n", ("<|end|>", "<|endoftext|>"))


def _user_with_notes(b: _Builder, turn: ChatTurn) -> None:
    if turn.notes:
        b.markup(prompts.TURN_MEMORY_HEADING + "\n")
        b.data(turn.notes)
        b.markup(f"\n\n{prompts.TURN_MESSAGE_HEADING}\n")
    b.data(turn.content)


_SENTINEL = "\ue000{}\ue001"
_SENTINEL_RE = re.compile("\ue000(\\d+)\ue001")


class TemplateFormat:
    """The GGUF's own Jinja chat template.

    The template is rendered with placeholders for every message, then the
    placeholders are replaced by the data as untrusted pieces, so the
    template's markup and the people's text never mix.
    """

    name = "template"

    def __init__(self, template: str, bos_token: str, eos_token: str) -> None:
        # Imported here so that the transcript and known formats need no Jinja.
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._formatter = Jinja2ChatFormatter(template=template, bos_token=bos_token, eos_token=eos_token)
        self._bos = bos_token
        self._eos = eos_token

    def render(self, turns: Sequence[ChatTurn]) -> RenderedPrompt:
        contents = [user_content(t) if t.role == "user" else t.content for t in turns]
        messages = [{"role": t.role, "content": _SENTINEL.format(i)} for i, t in enumerate(turns)]
        try:
            rendered = self._formatter(messages=messages).prompt  # type: ignore[arg-type]  # plain dicts are what it reads
        except Exception as err:  # templates raise for shapes they do not support
            raise ValueError(f"the model's chat template failed: {err}") from err
        b = _Builder()
        position = 0
        seen = set()
        for match in _SENTINEL_RE.finditer(rendered):
            b.markup(rendered[position : match.start()])
            index = int(match.group(1))
            seen.add(index)
            b.data(contents[index])
            position = match.end()
        b.markup(rendered[position:])
        if seen != set(range(len(turns))):
            raise ValueError("the model's chat template dropped or altered a message")
        stop = (self._eos,) if self._eos else ()
        add_bos = not (self._bos and rendered.startswith(self._bos))
        return RenderedPrompt(tuple(b.pieces), stop=stop, add_bos=add_bos)


#: Instruction-tuned models without a template, by GGUF architecture.
KNOWN_FORMATS: dict[str, PromptFormat] = {
    "gemma": GemmaFormat(),
    "gemma2": GemmaFormat(),
    "gemma3": GemmaFormat(),
    "qwen2": CHATML,
    "qwen2moe": CHATML,
    "qwen3": CHATML,
    "qwen3moe": CHATML,
    "phi3": PHI3,
}


def choose_format(
    *,
    architecture: str,
    chat_template: str | None,
    instruction_tuned: bool,
    bos_token: str = "",
    eos_token: str = "",
) -> PromptFormat:
    """Picks the prompt format for a model, as described in the module docstring."""
    if chat_template:
        try:
            candidate = TemplateFormat(chat_template, bos_token, eos_token)
            candidate.render([ChatTurn("system", "s"), ChatTurn("user", "u"), ChatTurn("assistant", "a")])
            return candidate
        except Exception:  # a template this renderer cannot run: fall back below
            pass
    if instruction_tuned and architecture in KNOWN_FORMATS:
        return KNOWN_FORMATS[architecture]
    return TranscriptFormat()
