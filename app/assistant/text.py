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


#: A title, an abbreviation or an initial: its dot ends no sentence ("Dr. Kim signs on Friday").
_ABBREVIATION = re.compile(
    r"(?:^|[\s(])(?:Dr|Mr|Mrs|Ms|Mx|Prof|Sr|Jr|St|Mt|vs|approx|Inc|Ltd|Corp|Co|No|Nr|Dept|Ave|ca|cf|"
    r"e\.g|i\.e|[A-Z])\.$"
)


def sentences(text: str) -> list[str]:
    """The text's sentences (split after . ! ? and at line breaks), stripped, none empty."""
    found: list[str] = []
    for line in re.split(r"\n+", text.strip()):  # a line break always ends a sentence
        in_line: list[str] = []
        for piece in filter(None, (p.strip() for p in _SENTENCE_END.split(line))):
            if in_line and in_line[-1].endswith(".") and _ABBREVIATION.search(in_line[-1]):
                in_line[-1] = f"{in_line[-1]} {piece}"
            else:
                in_line.append(piece)
        found += in_line
    return found


def states_something(message: str) -> bool:
    """Whether a message has a statement in it, not only questions and greetings."""
    return any(len(s.split()) >= 3 and not s.endswith("?") for s in sentences(message))


#: Words for a secret, in the languages consultants write in; a secret only with a value at hand.
_SECRET_WORDS = re.compile(
    r"(?<![\w-])(?:passwords?|passwd|pwd|pw|passw0rds?|passcodes?|pass ?phrases?|pins?|logins?|log in as|"
    r"creds|credentials?|tokens?|secrets?|api[ _-]?keys?|(?:secret|private|ssh|wi-?fi|license|licence) keys?|(?<!project )key is|"
    r"(?:security|access|door|gate|alarm|unlock|keypad|safe|lock|storage|building|entry|recovery|backup|"
    r"verification|2fa|otp|one-time|pin|wifi|wi-fi) (?:codes?|combos?|combinations?)|codes? (?:to|for) the \w+|"
    r"combos?|combinations?|seed phrases?|recovery phrases?|ibans?|card(?: numbers?)?|cvvs?|cvcs?|expiry|"
    r"account(?: numbers?| no\.?)?|acct|routing|sort codes?|social security|ssns?|"
    r"passw(?:o|ö)rt(?:e|er)?|kennw(?:o|ö)rt(?:e|er)?|zugangsdaten|t(?:ü|ue)rcode|kontonummer|blz|"
    r"mots? de passe|mdp|code (?:de|du|d')\s?\w*|identifiants|contrase(?:ñ|n)as?|clave|c(?:ó|o)digo|senhas?|"
    r"wachtwoord(?:en)?|toegangscode|l(?:ö|o)senord(?:et)?|has(?:ł|l)o|parola|salasana|codice|code wi-?fi|otp|"
    r"passport(?: number| no\.?)?|tax id|ni number|national insurance|bsb)(?![\w-])",
    re.IGNORECASE,
)
#: Words after "password is" that say something about it rather than give it.
_SAYS_ABOUT = (
    r"required|needed|reset|changed|expired|missing|wrong|incorrect|valid|invalid|set|stored|shared|sent|"
    r"managed|rotated|protected|weak|strong|the|not|in|on|with|for|a|an|same|case|enough|too|also|now|still"
)
_NOT_A_VALUE = rf"(?!(?:{_SAYS_ABOUT})\b)"
#: After a secret word with no value shape of its own ("the password for X is …"), a few more words.
_NOT_A_PLAIN_VALUE = (
    rf"(?!(?:{_SAYS_ABOUT}|being|been|due|kept|saved|updated|different|available|unknown|attached|below|above|"
    r"here|there|policy|manager|vault|requirements?)\b)"
)
#: Values shaped like a secret, whatever words surround them.
_SECRET_VALUES = re.compile(
    r"\bsk[-_][A-Za-z0-9_-]{16,}|\b(?:pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}|\bgh[pousr]_[A-Za-z0-9]{20,}"
    r"|\bgithub_pat_\w{20,}|\bglpat-[\w-]{16,}|\bhf_[A-Za-z0-9]{20,}|\bAKIA[0-9A-Z]{16}\b|\bxox[abpr]-[A-Za-z0-9-]{10,}"
    r"|\bAIza[0-9A-Za-z_-]{30,}|\beyJ[\w-]{8,}\.[\w-]{8,}(?:\.[\w-]+)?|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|(?<![\w/+])(?=[A-Za-z0-9/+]*[A-Z])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*\d)[A-Za-z0-9/+]{40}(?![\w/+])"
    r"|\w+(?:\+\w+)?://[^\s:/@]+:[^\s@/]+@|hooks\.slack\.com/services/"
    r"|(?i:\b(?:password|passwort|kennwort|mot de passe|contrase(?:ñ|n)a|senha|wachtwoord|l(?:ö|o)senord(?:et)?|"
    r"salasana|has(?:ł|l)o|pass|pw|pwd|pass ?(?:key|code|phrase))\s*(?::|=|\bis\b|\best\b|\bist\b|\bes\b|\bé\b|\bon\b|\blautet\b|\bär\b)\s*"
    + _NOT_A_VALUE
    + r"[^\s.,;]{3,})"
    r"|(?i:password|passwd|pwd|pass|user id|uid)\s*=\s*[^;\s]+"
    r"|\bsecret_[A-Za-z0-9]{8,}|\bmysql(?:dump|admin)?\b[^\n]*?\s-p[^\s-]\S{2,}|\s--password[= ]\S{3,}"
    r"|(?i:\b(?:user(?:name)?|login)\s*[:=]?\s*\S+\s*[,;/]\s*(?:password|passwd|pwd|pw|pass)\s*[:=]?\s*\S{3,})"
    r"|\b[A-Z0-9_]*(?:PASSWORD|PASSWD|PASS|PWD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY|ACCESS_KEY)[A-Z0-9_]*\s*[=:]\s*\S+"
    # "The new password for the Acme server is summer", "Credentials: bluebird", "shared key is …":
    # a plain word is a password too, once it is said to be one.
    r"|(?i:\b(?:password|passcode|passphrase|pw|pwd|credentials?|creds|(?:pre-?shared|shared|wi-?fi|wpa2?|vpn) key)s?"
    r"(?:\s+(?:for|of|to|on|at)\s+(?:[\w.-]+\s+){0,3}?[\w.-]+)?\s*(?::|=|\bis\b|\bare\b)\s*"
    + _NOT_A_PLAIN_VALUE
    + r"[^\s.,;]{3,})"
    r"|(?i:\bwith (?:the )?(?:password|passcode|pw|pwd)\s+" + _NOT_A_PLAIN_VALUE + r"[^\s.,;]{3,})"
    # "Sign into the Acme portal as jdoe with Sunflower2024": who, then what to type.
    r"|(?i:\b(?:log|sign)\s?(?:in|on)(?:to)?\b[^.\n]{0,60}?\bas\s+\S+\s+(?:with|using|and)\s+(?:the\s+)?"
    r"(?:password\s+)?(?=[^\s.,;]*[\d!@#$%^&*])[^\s.,;]{4,})"
    r"|(?i:\b(?:pw|pwd)\s+" + _NOT_A_PLAIN_VALUE + r"[A-Za-z0-9!@#$%^&*]{4,})"
)
#: A value beside a secret word: a word mixing letters and digits (or with a symbol inside), a
#: quoted phrase, "user / password" or "user:password".
_VALUE = re.compile(
    r"(?<![\w-])(?=[\w!@#$^&*=~.-]*\d)(?=[\w!@#$^&*=~.-]*[A-Za-z])(?![\d.,]+(?:k|m|bn|x|st|nd|rd|th|pm|am|s)\b)"
    r"(?!\d+-[a-z]+\b)(?!v?\d+(?:\.\d+)+\b)(?![qQ][1-4]\b)(?![fF][yY]\d{2,4}\b)(?![A-Za-z]+-\d+[a-z]?\b)[\w!@#$^&*=~.-]*\w"
    r"(?<=[\w!@#$^&*=~.-]{5})"
    r"|\w[!@#$^&*=~]+\w|(?<!\w)['\"‘“][^'\"’”]{3,}['\"’”](?!\w)"
    r"|\b\w+\s*/\s*\w+[!@#$^&*]?(?=\W|$)(?<=\d|[!@#$^&*])|\b\w+:\w+@|\b[a-z]+:[a-z]+\b"
    r"|(?i:\b(admin|root|administrator|guest|sa|pi|ubnt|user)\s*/\s*(?:\1|admin|root|password|pass|changeme|default|guest)\b)",
)
#: A word shaped like a chosen password (upper and lower case, a digit and a symbol, 8 to 64
#: characters), which is a secret where the text is about getting into something. Hyphens
#: and dots end it: "Acme-2025!" and "v2.1-Beta!" are names, not passwords.
_PASSWORD_SHAPED = re.compile(
    r"(?<![\w@/:.-])(?=[^\s]*[A-Z])(?=[^\s]*[a-z])(?=[^\s]*\d)(?=[^\s]*[!@#$%^&*?~+=])"
    r"[A-Za-z\d!@#$%^&*?~+=]{8,64}(?![\w@/:.-])"
)
_ACCESS = re.compile(
    r"(?i)\b(?:ssh|sftp|ftp|vpn|rdp|log ?(?:in|on)(?:to)?|sign ?in(?:to)?|portal|server|router|wi-?fi|console|"
    r"account|user(?:name)?|admin|root|unlock|access)\b"
)
#: Words for a secret that is a number: a PIN, a code, an account.
_NUMBER_SECRET_WORDS = re.compile(
    r"(?<![\w-])(?<!postal )(?<!zip )(?<!post )(?<!area )(?<!country )(?<!source )(?<!promo )(?<!discount )"
    r"(?<!project )(?<!cost )(?<!tax )(?<!dress )(?:pins?|codes?(?! review| freeze| base| of conduct)|combos?|combinations?|codice|t(?:ü|ue)rcode|toegangscode|otp|account(?: numbers?| no\.?)?|"
    r"acct|routing|aba|bsb|sort codes?|kontonummer|blz|social security(?: number)?|ssns?|passport(?: number| no\.?)?|"
    r"tax id|cvvs?|cvcs?|card)(?![\w-])",
    re.IGNORECASE,
)
#: A number that may be such a secret: 4 to 12 digits (no year, no amount), "1-9-8-4", "20-00-00", "123-45-6789".
_SECRET_NUMBER = re.compile(
    r"(?<![\w.,/€$£¥-])(?!(?:19|20)\d\d\b)\d{4,12}#?(?![\w,%/-]|\.\d|\s*(?:%|(?i:k|m|eur|usd|gbp|chf|euros?|dollars?|pounds?|lines|users|items|people)\b|€|\$))"
    r"|(?<![\w.,/-])\d(?:-\d){3,}(?![\w-])|\b\d{2}-\d{2}-\d{2}\b|\b\d{3}-\d{2}-\d{4}\b|\b\d{2}-\d{7}\b|\b\d{3}-\d{3}\b"
    # "4471-9920"; "four four seven one", as a code is read out over the phone.
    r"|\b\d{3,6}-\d{3,6}\b"
    r"|(?i:\b(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)(?:[\s,-]+(?:zero|oh|one|two|three|four|five|"
    r"six|seven|eight|nine)){3,}\b)"
)
_EMAIL = re.compile(EMAIL)
#: IBAN lengths by country (ISO 13616), for the countries consultants bill most.
_IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24,
    "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24,
    "SI": 19, "SK": 24, "SM": 27, "AE": 23, "SA": 24, "TR": 26, "IL": 23, "QA": 29, "BR": 29,
}  # fmt: skip
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]{1,4}){3,8}")
_CARD = re.compile(r"\b(?:\d{4}[ .-]\d{4}[ .-]\d{4}[ .-]\d{4}|\d{4}[ .-]\d{6}[ .-]\d{5}|\d{15,16})\b")


def holds_secret(text: str) -> bool:
    """Whether ``text`` holds a secret: a password, key, PIN, account or card number.

    Dossier's memory goes into briefs, exports and other tools' context, so a
    secret never becomes a memory; it belongs in a password manager (Dossier
    keeps its own only in the OS keyring). A value shaped like a key, an IBAN
    (its own check and length) or a card number (prefix and Luhn) counts on
    its own; a word that names a secret ("password", "PIN", "Kennwort")
    counts when a value stands beside it in the same text. Callers pass a
    whole message or passage, so a word in one sentence guards the value in
    the next ("I reset the Jira password. It is now Xy7#kLm9q.").
    """
    if _SECRET_VALUES.search(text):
        return True
    # An e-mail address is a contact, not a password beside "account" or "card" ("jane@acme.com").
    unmailed = _EMAIL.sub(" ", text)
    if _SECRET_WORDS.search(unmailed) and _VALUE.search(unmailed):
        return True
    if _NUMBER_SECRET_WORDS.search(text) and _SECRET_NUMBER.search(text):
        return True
    if _ACCESS.search(text) and _PASSWORD_SHAPED.search(text):
        return True
    if any(_an_iban(m.group(0)) for m in _IBAN.finditer(text)):
        return True
    return any(_a_card(re.sub(r"\D", "", m.group(0))) for m in _CARD.finditer(text))


def leave_out_secrets(text: str, mark: str = "") -> tuple[str, int]:
    """``text`` without its sentences that hold a secret, and how many were left out.

    A sentence goes when it holds one itself, when it and its neighbour do
    together ("I reset the Jira password." "It is now Xy7#kLm9q."), or when it
    names a secret beside one that holds it. If what is left still holds one (a
    word and its value further apart), nothing is left.

    Args:
        mark: Put in place of each sentence left out ("" drops it silently).
    """
    if not holds_secret(text):
        return text, 0
    parts = sentences(text)
    out = {n for n, part in enumerate(parts) if holds_secret(part)}
    for n in range(len(parts) - 1):
        if n not in out and n + 1 not in out and holds_secret(f"{parts[n]} {parts[n + 1]}"):
            out |= {n, n + 1}
    # A sentence naming the secret beside one holding it is about it too ("We got the credentials.").
    out |= {n for n in range(len(parts)) if {n - 1, n + 1} & out and _SECRET_WORDS.search(parts[n])}
    # Of a sentence that goes, a clause of its own news stays: "the admin password is X
    # and Priya is on holiday from 14 December" still says when Priya is away.
    saved = {n: _clauses_without_secrets(parts[n]) for n in out}
    kept = [
        (f"{saved[n]} {mark}".strip() if saved[n] else mark) if n in out else part
        for n, part in enumerate(parts)
        if mark or n not in out or saved[n]
    ]
    left = " ".join(kept)
    if holds_secret(left):
        return mark, len(parts)
    return left, len(out)


_CLAUSE_BREAK = re.compile(r";\s*|,?\s+(?:and|but|also|plus|while)\s+(?=[A-Z]|(?:we|i|he|she|they|the|our|their)\b)")


def _clauses_without_secrets(sentence: str) -> str:
    """The clauses of ``sentence`` that neither hold nor name a secret (four words or more)."""
    clauses = _CLAUSE_BREAK.split(sentence)
    if len(clauses) < 2:
        return ""
    kept = [
        c.strip().rstrip(".,;")
        for c in clauses
        if len(c.split()) >= 4 and not holds_secret(c) and not _SECRET_WORDS.search(c)
    ]
    if not kept or holds_secret(" ".join(kept)):
        return ""
    return ". ".join(k[:1].upper() + k[1:] for k in kept) + "."


#: What a reader outside Dossier (a client, another AI tool) gets in place of a sentence holding a secret.
LEFT_OUT = "[left out: a password or key]"


def shareable(text: str, *, one_item: bool = True) -> str:
    """``text`` with each sentence holding a secret replaced by ``LEFT_OUT``.

    Args:
        one_item: ``text`` is one memory (a fact, a hit): judged whole, as a word on one
            line guards the value on the next. False for a document of many items (a
            brief, a context block), judged line by line so that its layout stays.
    """
    if not holds_secret(text):
        return text
    shared = "\n".join(leave_out_secrets(line, LEFT_OUT)[0] for line in text.split("\n"))
    if one_item and holds_secret(shared):
        return leave_out_secrets(shared, LEFT_OUT)[0]
    return shared


def _an_iban(found: str) -> bool:
    """The IBAN at the start of ``found``: its country's length and its mod-97 check (ISO 13616)."""
    code = re.sub(r"[ -]", "", found)
    country = code[:2].upper()
    length = _IBAN_LENGTHS.get(country)
    if length is None or len(code) < length or not code[:2].isupper() and not code[:2].islower():
        return False
    code = code[:length].upper()
    if not code.isalnum():
        return False
    digits = "".join(str(int(c, 36)) for c in code[4:] + code[:4])
    return int(digits) % 97 == 1


def _a_card(digits: str) -> bool:
    """A payment card: a card network's prefix and length, and Luhn's check digit."""
    prefixes = ("4", "34", "37", "51", "52", "53", "54", "55", "2221", "6011", "65")
    if len(digits) not in (15, 16) or not digits.startswith(prefixes):
        return False
    return _luhn(digits)


def _luhn(digits: str) -> bool:
    """A payment card number's check digit holds (13 to 19 digits)."""
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def shortened(text: str, limit: int = 120) -> str:
    """``text`` on one line, cut to ``limit`` characters with "…" where it was cut."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def counted(n: int, noun: str, plural: str = "") -> str:
    """ "1 proposal", "3 proposals" (``plural`` where adding an "s" is wrong)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
