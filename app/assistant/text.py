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


#: Words that name a secret, singular or plural ("passwords", "API-keys", "PINs").
_SECRET_WORDS = re.compile(
    r"\b(passwords?|passwd|pwd|passcodes?|pass ?phrases?|pins?(?: codes?)?|api[ _-]?keys?|secrets?|tokens?|"
    r"credentials?|logins?|ibans?|card numbers?|credit cards?|cvvs?|cvcs?|(?:security|access|door|alarm|recovery|"
    r"backup|verification|2fa|otp|one-time) codes?|private keys?|ssh keys?|seed phrases?|account numbers?|"
    r"sort codes?|routing numbers?|wi-?fi keys?)\b",
    re.IGNORECASE,
)
#: Values shaped like a secret, whatever words surround them: provider key prefixes, an IBAN.
_SECRET_VALUES = re.compile(
    r"\b(?:sk|pk|rk)[-_](?:live|test|proj)?[-_]?[A-Za-z0-9]{8,}|\bgh[pousr]_[A-Za-z0-9]{20,}|\bAKIA[0-9A-Z]{16}\b|"
    r"\bxox[abpr]-[A-Za-z0-9-]{10,}|\bAIza[0-9A-Za-z_-]{30,}|\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b"
)
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")


def holds_secret(text: str) -> bool:
    """Whether ``text`` names or holds a secret: a password, key, PIN, account or card number.

    Dossier's memory goes into briefs, exports and other tools' context, so a
    secret never becomes a memory; it belongs in a password manager (Dossier
    keeps its own only in the OS keyring). Errs on the side of leaving a
    sentence out.
    """
    if _SECRET_WORDS.search(text) or _SECRET_VALUES.search(text):
        return True
    return any(_luhn(re.sub(r"\D", "", m.group(0))) for m in _CARD.finditer(text))


def _luhn(digits: str) -> bool:
    """A payment card number's check digit holds (13 to 19 digits)."""
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0
