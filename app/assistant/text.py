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


#: Words that name a secret whatever surrounds them ("passwords", "API-keys", "door code"),
#: but not a topic ("password reset", "API key rotation policy").
_TOPICS = r"(?!\s+(?:reset|policy|policies|manager|rotation|strength|rules|change|expiry|complexity|page|field|form|"
_TOPICS += r"flow|screen|requirements?|management|vault|hygiene|audit|training)\b)"
_SECRET_WORDS = re.compile(
    r"\b(?:(?:passwords?|passwd|pwd|pw|passw0rds?|passcodes?|pass ?phrases?|api[ _-]?keys?|secret keys?|private keys?|"
    r"ssh keys?|seed phrases?|recovery phrases?|ibans?|card numbers?|cvvs?|cvcs?|account numbers?|sort codes?|"
    r"routing numbers?|wi-?fi keys?|passwort|kennwort|mot de passe|contraseña|"
    r"(?:security|access|door|gate|alarm|unlock|keypad|safe|lock|recovery|backup|verification|2fa|otp|one-time|pin)"
    r" (?:codes?|combinations?)|codes? for the (?:gate|door|alarm|safe)|pin codes?)" + _TOPICS + r")\b"
    r"|\bpass(?:word)?\s*(?:is|:)",
    re.IGNORECASE,
)
#: Words that name a secret only when a value is at hand ("the PINs are 4821 and 9912", not "pin the versions").
_WEAK_SECRET_WORDS = re.compile(
    r"\b(?:pins?|logins?|tokens?|credentials?|secrets?|combination)\b" + _TOPICS, re.IGNORECASE
)
#: A value: letters and digits mixed (six or more), a symbol inside a word, or four digits or more that are no year.
_VALUE = re.compile(
    r"(?=[\w!@#$%^&*+=~-]*\d)(?=[\w!@#$%^&*+=~-]*[A-Za-z])[\w!@#$%^&*+=~-]{6,}|\w+[!@#$%^&*+=~]\w*"
    r"|\b(?!(?:19|20)\d\d\b)\d{4,}\b"
)
#: Values shaped like a secret, whatever words surround them.
_SECRET_VALUES = re.compile(
    r"\b(?:sk|pk|rk)[-_](?:live|test|proj)?[-_]?[A-Za-z0-9]{8,}|\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_\w{20,}"
    r"|\bAKIA[0-9A-Z]{16}\b|\bxox[abpr]-[A-Za-z0-9-]{10,}|\bAIza[0-9A-Za-z_-]{30,}"
    r"|\beyJ[\w-]{8,}\.[\w-]{8,}(?:\.[\w-]+)?|(?<![\w/+])[A-Za-z0-9/+]{40}(?![\w/+])"
    r"|\w+://[^\s:/@]+:[^\s@/]+@|hooks\.slack\.com/services/|\b\d{3}-\d{2}-\d{4}\b"
)
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]){11,30}\b")
_CARD = re.compile(r"\b[3-6]\d{3}(?:[ .-]?\d){9,15}\b")


def holds_secret(text: str) -> bool:
    """Whether ``text`` names or holds a secret: a password, key, PIN, account or card number.

    Dossier's memory goes into briefs, exports and other tools' context, so a
    secret never becomes a memory; it belongs in a password manager (Dossier
    keeps its own only in the OS keyring). Errs on the side of leaving a
    sentence out: a word that only may name a secret ("PIN", "login",
    "tokens") counts when a value-like word is in the same text.
    """
    if _SECRET_WORDS.search(text) or _SECRET_VALUES.search(text):
        return True
    if _WEAK_SECRET_WORDS.search(text) and _VALUE.search(text):
        return True
    if any(_iban_checks(m.group(0)) for m in _IBAN.finditer(text)):
        return True
    return any(_luhn(re.sub(r"\D", "", m.group(0))) for m in _CARD.finditer(text))


def _iban_checks(candidate: str) -> bool:
    """An IBAN's own check (ISO 13616: mod 97), so that order numbers and SKUs of its shape do not count."""
    code = re.sub(r"[ -]", "", candidate).upper()
    if not 15 <= len(code) <= 34:
        return False
    digits = "".join(str(int(c, 36)) for c in code[4:] + code[:4])
    return int(digits) % 97 == 1


def _luhn(digits: str) -> bool:
    """A payment card number's check digit holds (13 to 19 digits)."""
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0
