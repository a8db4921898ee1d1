""" "Learn voice from samples": pasted texts become a proposed voice profile for the user to edit.

The profile is never saved here; the caller shows it and saves what the user
keeps. Measurable traits (sentence length, contractions, greetings,
characteristic words) are found without a model; a model, when there is one,
adds a description of the tone, constrained to JSON.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Sequence

from app.assistant.text import content_words, shareable
from app.errors import InputRefused
from app.llm import prompts
from app.llm.engine import EngineError, GenerationSettings, TextModel
from app.llm.prompt_format import ChatTurn
from memory import VoiceProfile

log = logging.getLogger(__name__)

VOICE_SCHEMA = {
    "type": "object",
    "properties": {
        "tone": {"type": "string", "maxLength": 120},
        "do": {"type": "array", "maxItems": 5, "items": {"type": "string", "maxLength": 120}},
        "dont": {"type": "array", "maxItems": 5, "items": {"type": "string", "maxLength": 120}},
        "vocabulary": {"type": "array", "maxItems": 10, "items": {"type": "string", "maxLength": 40}},
    },
    "required": ["tone", "do", "dont", "vocabulary"],
}
MAX_SAMPLES = 20
MAX_SAMPLE_CHARS = 5000
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_CONTRACTION = re.compile(r"\b\w+['’](?:s|re|ll|ve|d|t|m)\b", re.IGNORECASE)
#: The greeting itself ("Hi Sam"), not the sentence that follows it on the same line.
_GREETING = re.compile(
    r"^\s*((?:hi|hello|dear|hey|good (?:morning|afternoon|evening))\b[^,.!?:\n]{0,30})", re.IGNORECASE
)
#: A sign-off on its own line or ending the text after a sentence ("… tomorrow. Cheers, Ana").
_SIGN_OFF = re.compile(
    r"(?:^|(?<=[.!?])\s+)((?:best|kind regards|regards|cheers|thanks|thank you|warm regards|sincerely)\b"
    r"[^\n.!?]{0,30})\s*$",
    re.IGNORECASE | re.MULTILINE,
)
#: Fewer words than this in all samples, and an absence (no contractions) says nothing.
MIN_WORDS_FOR_ABSENCE = 40
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")


def analyse_samples(samples: Sequence[str]) -> VoiceProfile:
    """Traits that can be measured; ``project_id`` is 0 until the caller sets it.

    A sample's sentences holding a password or an account number are left out
    (the samples are kept with the voice, exported and shown to the model).
    """
    texts = [shareable(s.strip()) for s in samples if s.strip()]
    sentences = [s.strip() for t in texts for s in _SENTENCE.findall(t) if len(s.split()) >= 2]
    words_per_sentence = sum(len(s.split()) for s in sentences) / max(1, len(sentences))
    all_text = "\n".join(texts)
    word_count = max(1, len(all_text.split()))
    contractions = len(_CONTRACTION.findall(all_text)) / word_count
    exclamations = all_text.count("!") / max(1, len(sentences))
    style_do: list[str] = []
    style_dont: list[str] = []
    enough = word_count >= MIN_WORDS_FOR_ABSENCE
    if words_per_sentence <= 14:
        style_do.append(f"Keep sentences short (about {round(words_per_sentence)} words)")
    elif words_per_sentence >= 24:
        style_do.append(f"Write full, flowing sentences (about {round(words_per_sentence)} words)")
    tone = ""
    if contractions >= 0.02:
        style_do.append("Use contractions (we're, it's)")
        tone = "friendly and conversational"
    elif contractions == 0 and enough:
        style_dont.append("Avoid contractions")
        tone = "formal and precise"
    if exclamations >= 0.2:
        style_do.append("Show enthusiasm; exclamation marks are fine")
    elif exclamations == 0 and enough:
        style_dont.append("Avoid exclamation marks")
    if not _EMOJI.search(all_text) and enough:
        style_dont.append("No emoji")
    greetings = Counter(" ".join(m.group(1).split()) for t in texts if (m := _GREETING.match(t)))
    if greetings:
        style_do.append(f'Open with "{greetings.most_common(1)[0][0]}"')
    sign_offs = Counter(" ".join(m.group(1).split()).rstrip(",") for m in _SIGN_OFF.finditer(all_text))
    if sign_offs:
        style_do.append(f'Sign off with "{sign_offs.most_common(1)[0][0]}"')
    frequency: Counter[str] = Counter()
    for text in texts:
        frequency.update(w for w in content_words(text) if len(w) > 3 and not w.isdigit())
    vocabulary = [w for w, n in frequency.most_common(10) if n >= 2]
    return VoiceProfile(
        project_id=0,
        tone=tone,
        style_do=tuple(style_do),
        style_dont=tuple(style_dont),
        vocabulary=tuple(vocabulary),
        samples=tuple(t[:MAX_SAMPLE_CHARS] for t in texts[:MAX_SAMPLES]),
    )


def learn_voice(project_id: int, samples: Sequence[str], model: TextModel | None = None) -> VoiceProfile:
    """A proposed profile from sample texts (not saved).

    Raises:
        InputRefused: No sample has any text.
    """
    measured = analyse_samples(samples)
    if not measured.samples:
        raise InputRefused("Paste at least one sample text to learn the voice from")
    tone, do, dont = measured.tone, list(measured.style_do), list(measured.style_dont)
    vocabulary: list[str] = []
    # A base model cannot follow the instruction: it fills the schema with "...". Its
    # description would be noise that ends up in briefs, so only the measured traits count.
    if model is not None and not getattr(model, "is_base_model", False):
        described = _ask_model(model, measured.samples)
        if described:
            model_tone = _strings([described.get("tone")])
            tone = model_tone[0] if model_tone else tone
            do += [d for d in _strings(described.get("do")) if d not in do and not _contradicts(d, measured, True)]
            dont += [
                d for d in _strings(described.get("dont")) if d not in dont and not _contradicts(d, measured, False)
            ]
            vocabulary = _strings(described.get("vocabulary"))
    sample_words = content_words(" ".join(measured.samples))
    # Words the model claims as characteristic must occur in the samples.
    vocabulary = [v for v in vocabulary if content_words(v) and content_words(v) <= sample_words]
    return VoiceProfile(
        project_id=project_id,
        tone=" ".join(tone.split())[:200],
        style_do=tuple(" ".join(d.split()) for d in do if d.strip())[:10],
        style_dont=tuple(" ".join(d.split()) for d in dont if d.strip())[:10],
        vocabulary=tuple(dict.fromkeys([*vocabulary, *measured.vocabulary]))[:15],
        samples=measured.samples,
    )


def _strings(value: object) -> list[str]:
    """The real texts in a model's answer: placeholders such as "..." or "string" dropped."""
    items = value if isinstance(value, list) else []
    kept = []
    for item in items:
        if not isinstance(item, str):
            continue
        text = " ".join(item.split())
        letters = re.findall(r"[^\W\d_]{2,}", text)
        if letters and text.casefold().strip(" .") not in _PLACEHOLDERS:
            kept.append(text)
    return kept


_PLACEHOLDERS = frozenset({"string", "text", "tone", "rule", "word", "n/a", "none", "null", "example", "etc"})


def _contradicts(rule: str, measured: VoiceProfile, to_follow: bool) -> bool:
    """Whether a model's rule says the opposite of a measured trait (e.g. "avoid contractions" for texts full of them)."""
    low = rule.casefold()
    for trait in ("contraction", "exclamation", "emoji"):
        if trait not in low:
            continue
        measured_do = any(trait in r.casefold() for r in measured.style_do)
        measured_dont = any(trait in r.casefold() for r in measured.style_dont)
        negated = bool(re.search(r"\b(avoid|no|never|don't|do not|without)\b", low))
        says_use = to_follow and not negated  # a "dont" rule never asks for the trait
        if (says_use and not measured_do) or (not says_use and not measured_dont):
            return True
    return False


def _ask_model(model: TextModel, samples: Sequence[str]) -> dict[str, object] | None:
    text = "\n\n---\n\n".join(s[:1500] for s in samples[:5])
    turns = [ChatTurn("system", prompts.VOICE), ChatTurn("user", text)]
    settings = GenerationSettings(max_tokens=220, temperature=0.0, json_schema=VOICE_SCHEMA, seed=0, background=True)
    try:
        raw = model.generate(turns, settings).result()
        payload = json.loads(raw, strict=False)
    except (EngineError, ValueError) as err:
        log.warning("voice description skipped: %s", err)
        return None
    return payload if isinstance(payload, dict) else None
