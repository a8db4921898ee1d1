"""Word-level helpers the assistant's steps share: content words, numbers, negation, normal form.

Extraction compares candidates with facts with them; summaries and the learned
voice check that a model's text is grounded in the user's words with them.
"""

from __future__ import annotations

import re

_STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been being it its this that
    these those there here we you they he she i me my our your their his her them us do does did have has had
    will would shall should can could may might must not no yes so than then too very just also about into over
    please remember forget note client project""".split()
)
_NEGATIONS = frozenset({"not", "no", "never", "don't", "doesn't", "won't", "isn't", "aren't", "cannot", "can't"})
_WORD = re.compile(r"[\w'@.-]+", re.UNICODE)
#: An e-mail address, as both the cue step and the value comparison read one.
EMAIL = r"[\w.+-]+@[\w-]+\.[\w.]+"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*")


def content_words(text: str) -> set[str]:
    return {w.strip(".'-").casefold() for w in _WORD.findall(text)} - _STOPWORDS - {""}


def numbers(text: str) -> set[str]:
    return set(_NUMBER.findall(text))


def negated(text: str) -> bool:
    return bool({w.casefold() for w in _WORD.findall(text)} & _NEGATIONS)


def normalise(text: str) -> str:
    return " ".join(text.casefold().rstrip(".!").split())


def sentences(text: str) -> list[str]:
    """The text's sentences (split after . ! ? and at line breaks), stripped, none empty."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def states_something(message: str) -> bool:
    """Whether a message has a statement in it, not only questions and greetings."""
    return any(len(s.split()) >= 3 and not s.endswith("?") for s in sentences(message))
