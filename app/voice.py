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

from app import prompts
from app.engine import EngineError, GenerationSettings, TextModel
from app.extraction import content_words
from app.prompt_format import ChatTurn
from memory import InvalidInputError, VoiceProfile

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
_CONTRACTION = re.compile(r"\b\w+'(?:s|re|ll|ve|d|t|m)\b", re.IGNORECASE)
_GREETING = re.compile(r"^\s*(hi|hello|dear|hey|good (morning|afternoon|evening))\b[^\n]*", re.IGNORECASE)
_SIGN_OFF = re.compile(
    r"^\s*(best|kind regards|regards|cheers|thanks|thank you|warm regards|sincerely)\b[^\n]*$",
    re.IGNORECASE | re.MULTILINE,
)
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")


def analyse_samples(samples: Sequence[str]) -> VoiceProfile:
    """Traits that can be measured; ``project_id`` is 0 until the caller sets it."""
    texts = [s.strip() for s in samples if s.strip()]
    sentences = [s.strip() for t in texts for s in _SENTENCE.findall(t) if len(s.split()) >= 2]
    words_per_sentence = sum(len(s.split()) for s in sentences) / max(1, len(sentences))
    all_text = "\n".join(texts)
    word_count = max(1, len(all_text.split()))
    contractions = len(_CONTRACTION.findall(all_text)) / word_count
    exclamations = all_text.count("!") / max(1, len(sentences))
    style_do: list[str] = []
    style_dont: list[str] = []
    if words_per_sentence <= 14:
        style_do.append(f"Keep sentences short (about {round(words_per_sentence)} words)")
    elif words_per_sentence >= 24:
        style_do.append(f"Write full, flowing sentences (about {round(words_per_sentence)} words)")
    if contractions >= 0.02:
        style_do.append("Use contractions (we're, it's)")
        tone = "friendly and conversational"
    else:
        style_dont.append("Avoid contractions")
        tone = "formal and precise"
    if exclamations >= 0.2:
        style_do.append("Show enthusiasm; exclamation marks are fine")
    else:
        style_dont.append("Avoid exclamation marks")
    if not _EMOJI.search(all_text):
        style_dont.append("No emoji")
    greetings = Counter(m.group(0).strip().rstrip(",") for t in texts if (m := _GREETING.match(t)))
    if greetings:
        style_do.append(f'Open with "{greetings.most_common(1)[0][0]}"')
    sign_offs = Counter(m.group(0).strip().rstrip(",") for m in _SIGN_OFF.finditer(all_text))
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
        InvalidInputError: No sample has any text.
    """
    measured = analyse_samples(samples)
    if not measured.samples:
        raise InvalidInputError("Paste at least one sample text to learn the voice from")
    tone, do, dont, vocabulary = measured.tone, list(measured.style_do), list(measured.style_dont), []
    if model is not None:
        described = _ask_model(model, measured.samples)
        if described:
            tone = described.get("tone") or tone
            do += [d for d in described.get("do", []) if d not in do]
            dont += [d for d in described.get("dont", []) if d not in dont]
            vocabulary = described.get("vocabulary", [])
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
