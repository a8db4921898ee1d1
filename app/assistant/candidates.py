"""Candidate memories found in a user's message without a model.

The default model is a tiny base model: asked for lasting facts, it answers
with nothing usable. So the first pass is a reader of cues, not a model: a
sentence becomes a candidate when the user says something about themselves,
their work or their client (first person, or a business subject such as a
budget or a deadline) *and* it carries something worth keeping: a date or
time, an amount, a contact, a name, a decision, a plan, an event that
happened, or a stated preference. Pleasantries, questions and remarks about
the listener ("That's great!", "How did it go?") are left alone.

Candidates are the user's own sentences, never rewritten, so nothing is
invented; a relative date ("yesterday", "last month") gets the date it meant
in brackets, taken from when the message was sent, because "yesterday" in a
fact read a month later is wrong.

Measured on real conversations by ``bench/extraction.py``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.assistant.text import EMAIL, holds_secret, sentences
from memory import FactKind

#: At most this many candidates per message, the best first: a chatty message must
#: not flood the inbox, and a consultant's kick-off note may state a budget, a deadline,
#: a contact and a preference at once (on real conversations 2, 3 and 4 propose within
#: 3% of each other: chat rarely has more than two such sentences).
MAX_PER_MESSAGE = 4
#: A sentence needs at least this many cue points (see ``_score``).
MIN_SCORE = 2
MIN_WORDS = 4
MAX_WORDS = 60


@dataclass(frozen=True)
class Candidate:
    """A memory the conversation suggests, before it is reconciled with what is known."""

    text: str
    kind: FactKind
    explicit: bool = False
    #: Cue points (see ``_score``): how much the sentence carries; 0 when not read by cues.
    score: int = 0


_FLAGS = re.IGNORECASE
_SELF = re.compile(
    r"\b(i|i'm|i’m|i've|i’ve|i'll|i’ll|i'd|i’d|im|ive|my|me|mine|we|we're|we’re|we've|we’ve|we'll|we’ll|our|ours|us)\b",
    _FLAGS,
)
_BUSINESS = re.compile(
    r"\b(budget|deadline|due|launch\w*|contract|invoice\w*|price|pricing|fee|rate|meeting|call|contact|"
    r"client|customer|kick-?off|milestone|deliverable|phone|e-?mail|address|office|team|manager|ceo|cfo|cto|"
    r"approved|signed|agreed|decided|policy|holiday|vacation|leave|off|meets|committee|board|steering|"
    r"files|print|delivery|shipment|release|go-live|workshop|review|presentation)\b",
    _FLAGS,
)
#: Sentences that are about the listener or only react to them.
_REACTION = re.compile(
    r"^(you|your|you're|you’re|you've|you’ve|u|that's|that’s|that is|this is|it's|it’s|it is|sounds|glad|congrats|"
    r"congratulations|thanks|thank|wow|awesome|great|cool|nice|amazing|aw+|oh+|ah+|hey|hi|hello|yeah|yep|yes|"
    r"no|nope|sure|ok|okay|haha\w*|lol|good|happy|so|what|how|why|when|where|who|hope|wishing|enjoy|keep|"
    r"let's|let’s|take care|bye|see you|same|totally|absolutely|definitely|agreed|exactly|true|right|omg)\b",
    _FLAGS,
)
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_TIME = re.compile(
    rf"\b(yesterday|today|tonight|tomorrow|ago|recently|lately|since|last (night|week|weekend|month|year|"
    rf"summer|winter|spring|fall|autumn|{_WEEKDAYS})|next (week|weekend|month|year|summer|winter|spring|fall|"
    rf"autumn|{_WEEKDAYS})|this (morning|week|weekend|month|year|summer|winter|spring|fall|autumn)|"
    rf"{_MONTHS}|{_WEEKDAYS}|(19|20)\d\d|\d{{1,2}}(st|nd|rd|th)\b|q[1-4]|end of|"
    rf"every (day|week|month|quarter|year|morning|{_WEEKDAYS})|weekly|monthly|quarterly|"
    rf"in (a|an|one|two|three|four|five|six|\d{{1,2}}) (days?|weeks?|months?))\b",
    _FLAGS,
)
#: "needs the files by next Friday", "due on 3 March": a dated obligation, whoever has it.
_DEADLINE = re.compile(
    rf"\b(by|before|until|due|deadline)\b.{{0,30}}\b(today|tomorrow|tonight|next \w+|this \w+|end of \w+|"
    rf"{_MONTHS}|{_WEEKDAYS}|\d{{1,2}}(st|nd|rd|th)?)\b",
    _FLAGS,
)
#: A calendar date, not a vague time ("recently").
_DATE = re.compile(
    rf"\b({_MONTHS}|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|{_WEEKDAYS}|tomorrow|next (week|month)|"
    rf"\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[./]\d{{1,2}}([./]\d{{2,4}})?)\b",
    _FLAGS,
)
_DATED_EVENT = re.compile(
    r"\b(launch\w*|go-live|goes live|kick-?off|release\w*|workshop|meeting|meets|presentation|review|"
    r"deliver\w*|ships?|shipping|opens?|opening|starts?|starting|ends?|visit|trip|conference|event)\b",
    _FLAGS,
)
_AMOUNT = re.compile(r"([$€£¥]\s?\d|\d[\d,.]*\s?(k|m|bn|%|eur|usd|gbp|chf|euros?|dollars?|pounds?)\b)", _FLAGS)
_NUMBER = re.compile(r"\b\d[\d,.:/-]*\b")
_CONTACT = re.compile(rf"({EMAIL}|\+?\d[\d ()-]{{7,}}\d)")
_DECISION = re.compile(
    r"\b(decided|agreed|approved|chose|chosen|going with|settled on|signed|confirmed|cancel(l)?ed|postponed|"
    r"moved to|switched|picked)\b",
    _FLAGS,
)
_PLAN = re.compile(
    r"\b(going to|gonna|planning|plan to|plans to|about to|will|'ll|’ll|intend|hoping to|want to|wanna|"
    r"looking forward|thinking (of|about)|considering|scheduled|booked|starting)\b",
    _FLAGS,
)
_PREFERENCE = re.compile(
    r"\b(love|loved|loves|like|liked|likes|enjoy|enjoyed|enjoys|favou?rite|fave|prefer|prefers|preferred|"
    r"hate|hated|hates|dislike|can't stand|can’t stand|passionate|fan of|into|allergic|never|always)\b",
    _FLAGS,
)
#: "Hank wants weekly status emails", "Jane said the tagline must stay short": what someone asks of the work.
_WISH = re.compile(
    r"\b(wants|needs|expects|requires|insists|asks for|asked for|must|mustn't|mustn’t|has to|have to|"
    r"should always|should never)\b",
    _FLAGS,
)
#: "Help me with tagline ideas", "Can you draft…": a request to the assistant, not a memory.
_REQUEST = re.compile(
    r"^(?:please\s+)?(?:help|write|draft|give|suggest|tell|show|create|make|summari[sz]e|explain|find|translate|"
    r"rewrite|generate|brainstorm|compose|prepare|proofread|can you|could you|would you|will you)\b",
    _FLAGS,
)
_STRONG_PREFERENCE = re.compile(
    r"\b(favou?rite|fave|prefer|prefers|preferred|dislike|dislikes|can't stand|can’t stand|allergic|rather)\b", _FLAGS
)
#: "I went", "we just finished", "I've started": something that happened.
_EVENT = re.compile(
    r"\b(i|we|i've|i’ve|we've|we’ve|i have|we have)\s+(just\s+|finally\s+|recently\s+|also\s+|actually\s+|"
    r"already\s+|even\s+)?(\w+ed|went|got|made|bought|saw|took|met|began|begun|won|ran|wrote|read|found|gave|"
    r"had|did|left|came|built|drew|grew|kept|sold|spent|taught|told|threw|held|heard|felt|became|been|gone|done|"
    r"seen|taken|written|drove|flew|swam|sang|rode|caught|brought|chose|paid|lost)\b",
    _FLAGS,
)
#: "Henrik is the real decision maker", "Markus signs the SOW": who holds a role at the client.
_ROLE = re.compile(
    r"\b(decision[- ]makers?|in charge of|responsible for|reports to|signs|signing|signatory|sign(?:s|ing)? off|"
    r"owner of|owns|point of contact|main contact|account manager|project lead|head of|sponsor)\b",
    _FLAGS,
)
#: "'Services' means the work described in Schedule 1": a contract's definitions, which
#: say what a word stands for, not what was agreed.
_DEFINITION = re.compile(
    r"^(?:the\s+)?[\"“‘'(]?[A-Z][\w /&-]{0,50}[\"”’')]?\s+(?:means|shall mean|refers to|is defined as|"
    r"has the meaning|shall have the meaning)\b",
)
#: "Staff training is on 9 December", "The review starts next Wednesday": a dated event,
#: which in a client's chat is the work's, whoever says it.
_DATED_STATEMENT = re.compile(
    r"\b(is|are|will be|starts?|begins?|ends?|takes place|happens?|runs?|falls on|moved to|"
    r"was moved|has moved|is due|are due)\b",
    _FLAGS,
)
#: "From: Dana <dana@…>", "Date: Tue, 6 May": an e-mail's header lines, read from a document.
_HEADER_LINE = re.compile(r"^(from|to|cc|bcc|date|subject|sent|reply-to)\s*:", _FLAGS)
#: "my sister is a nurse", "our dog is named Max", "I have two kids".
_POSSESSION = re.compile(
    r"\b(my|our)\s+(\w+\s+){0,3}(is|are|was|were|named|called|has|have|turned)\b|\bname(d|s)?\b|"
    r"\b(i|we)\s+(have|own|got)\s+(a|an|two|three|four|\d+)\b|\b(i|we)\s+(am|'m|’m|work|live|study)\b",
    _FLAGS,
)
#: "I'm volunteering", "we've been brainstorming": what the user is busy with.
_ACTIVITY = re.compile(
    r"\b(i'm|i’m|i am|we're|we’re|we are|i've been|i’ve been|we've been|we’ve been)\s+(also\s+|still\s+|now\s+|currently\s+|really\s+)?\w+ing\b",
    _FLAGS,
)
#: "Been tweaking a recipe", "Still working on the studio", "Went to Lisbon": chat drops the "I".
_IMPLICIT_SELF = re.compile(
    r"^(?:(?:just|still|finally|recently|also|currently|now|actually)\s+)?(?:been\s+\w+|working on|went|got|"
    r"started|finished|bought|visited|tried|made|took|spent|picked up|signed up|joined|learned|learnt|found|saw|"
    r"watched|read|wrote|painted|baked|cooked|ran|hiked|moved|had|gonna|going to|planning|thinking of|heading)\b",
    _FLAGS,
)
#: "Hey Nate, ", "Thanks, Maria! ", "Oh, ": what comes before the sentence proper.
_OPENER = re.compile(
    r"^(?:(?i:hey|hi|hello|oh|ah|yeah|yep|yes|yup|well|so|anyway|btw|by the way|thanks|thank you|haha|wow|ok|okay|"
    r"good news|great news|news|fyi|update|quick update|also|one more thing|don't forget|don’t forget|note|"
    r"reminder|heads up|by the way|for the record|just so you know)"
    r"\b[\s,!.:;-]*(?:[A-Z][a-z]+[,!.:;-]+\s*)?)+"
)
#: Capitalised only because they start a sentence.
_COMMON_STARTS = frozenset(
    "the a an this that these those it its there here he she they his her their some many most all every each "
    "people everyone nobody someone life art books music family friends nature which what".split()
)
_QUOTED = re.compile(r"[\"“][^\"”]{3,}[\"”]")
_WORD = re.compile(r"[\w'’-]+")


def guess_kind(text: str) -> FactKind:
    low = text.casefold()
    if re.search(r"\b(due|deadline|by (monday|tuesday|wednesday|thursday|friday|the end)|until)\b", low):
        return FactKind.DEADLINE
    if _DEADLINE.search(low) or (_DATE.search(low) and (_DATED_EVENT.search(low) or _DATED_STATEMENT.search(low))):
        # "We are launching on 3 March": a dated event belongs in the brief's timeline.
        return FactKind.DEADLINE
    if re.search(r"\b(decided|agreed|we will|we'll|going with|chose|approved)\b", low):
        return FactKind.DECISION
    if re.search(r"\b(prefers?|likes?|dislikes?|wants?|hates?|always|never|favou?rite|allergic|must|expects?)\b", low):
        return FactKind.PREFERENCE
    if re.search(r"(@|\bphone\b|\bemail\b|\bcontact\b|\+\d)", low):
        return FactKind.CONTACT
    return FactKind.FACT


def _proper_nouns(sentence: str) -> int:
    """Capitalised words past the first, other than "I" and its contractions."""
    words = _WORD.findall(sentence)[1:]
    return sum(1 for w in words if w[:1].isupper() and not re.fullmatch(r"I(['’]\w+)?", w))


def _score(sentence: str) -> int:
    """Cue points: what makes a sentence worth remembering."""
    low = sentence.casefold()
    points = 0
    points += 2 if _TIME.search(low) else 0
    points += 2 if _AMOUNT.search(low) or _CONTACT.search(sentence) else (1 if _NUMBER.search(low) else 0)
    points += 2 if _DECISION.search(low) else 0
    points += 1 if _PLAN.search(low) else 0
    points += 2 if _STRONG_PREFERENCE.search(low) else (1 if _PREFERENCE.search(low) or _WISH.search(low) else 0)
    points += 2 if _EVENT.search(low) or _ACTIVITY.search(low) or _IMPLICIT_SELF.match(low) else 0
    points += 1 if _POSSESSION.search(low) else 0
    points += 2 if _ROLE.search(low) else 0
    points += min(2, _proper_nouns(sentence)) + (1 if _QUOTED.search(sentence) else 0)
    return points


def _about_the_user(sentence: str) -> bool:
    """The user speaking of themselves or their work, not reacting to the listener."""
    if _REACTION.match(sentence.lstrip("\"'“‘( ")):
        return False
    if any(p.search(sentence) for p in (_SELF, _BUSINESS, _DEADLINE)) or _IMPLICIT_SELF.match(sentence):
        return True
    if _DATE.search(sentence) and _DATED_STATEMENT.search(sentence):
        return True
    # "Dana prefers calls", "Acme signed on Friday": a named person or company, with a cue.
    first = _WORD.match(sentence)
    named = first is not None and first.group(0)[:1].isupper() and first.group(0).casefold() not in _COMMON_STARTS
    return named and any(p.search(sentence) for p in (_PREFERENCE, _WISH, _DECISION, _CONTACT))


#: "…excluding VAT, and the launch deadline is…", "…fixed price; Hank signs": where one
#: sentence may hold two statements.
_CLAUSE_BREAK = re.compile(r"\s*;\s+|,?\s+and\s+(?=(?:the|our|my|their|his|her|we|i|[A-Z][\w'’-]*)\s)")
#: "Update from Jane: …": who said it, before what was said.
_ATTRIBUTION = re.compile(r"^(?i:(?:quick\s+)?update\s+)?(?i:from)\s+[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*)?\s*:\s*")


def _has_value(text: str) -> bool:
    return bool(_AMOUNT.search(text) or _CONTACT.search(text) or _DATE.search(text))


def _statements(sentence: str) -> list[str]:
    """The sentence, or its clauses when each states something with its own value.

    "Our budget is 40k EUR, and the launch deadline is 15 March" is two
    memories (a decision and a deadline), to accept, date and update apart;
    "I met Dana and her CFO on Friday" is one.
    """
    parts = [p.strip(" ,") for p in _CLAUSE_BREAK.split(sentence) if p and p.strip(" ,")]
    if len(parts) < 2 or not all(len(p.split()) >= MIN_WORDS and _has_value(p) for p in parts):
        return [sentence]
    end = sentence.rstrip()[-1:] if sentence.rstrip()[-1:] in ".!" else "."
    return [p[:1].upper() + p[1:] + ("" if p[-1:] in ".!" else end) for p in parts]


def find_candidates(
    message: str, sent_at: datetime | None = None, *, about_anyone: bool = False, limit: int = MAX_PER_MESSAGE
) -> list[Candidate]:
    """The message's sentences worth proposing as memories, best first.

    Args:
        message: What the user wrote (or a passage of a client's document).
        sent_at: When; relative dates in a candidate get the date they meant.
        about_anyone: Keep sentences about anyone, not only the user and their
            work (a contract's clauses speak of "the Client" and "the Agency").
        limit: How many to keep at most.

    Returns:
        At most ``limit`` candidates, in the text's own words.
    """
    if holds_secret(message):
        # The whole message: a word in one sentence guards the value in the next
        # ("I reset the Jira password. We changed it to Xy7#kLm9q.").
        return []
    scored: list[tuple[int, int, str]] = []
    said = [
        statement
        for sentence in sentences(message)
        for statement in _statements(_ATTRIBUTION.sub("", _OPENER.sub("", sentence).strip()))
    ]
    for position, sentence in enumerate(said):
        words = len(sentence.split())
        if not MIN_WORDS <= words <= MAX_WORDS or sentence.rstrip("\"'”’) ").endswith("?"):
            continue
        if _HEADER_LINE.match(sentence) or _REQUEST.match(sentence) or (about_anyone and _DEFINITION.match(sentence)):
            continue
        if not (about_anyone or _about_the_user(sentence)):
            continue
        score = _score(sentence)
        if score >= MIN_SCORE:
            scored.append((score, -position, sentence))
    best = sorted(scored, reverse=True)[:limit]
    found = []
    for points, _position, sentence in sorted(best, key=lambda item: -item[1]):
        text = dated(sentence.rstrip(), sent_at) if sent_at is not None else sentence.rstrip()
        text = text[:1].upper() + text[1:]
        found.append(Candidate(text, guess_kind(text), score=points))
    return found


_RELATIVE = re.compile(
    rf"\b(the day before yesterday|the day after tomorrow|yesterday|today|tonight|tomorrow|last night|last week|next week|last weekend|this weekend|"
    rf"next weekend|last month|next month|this month|last year|next year|this year|this morning|this afternoon|"
    rf"this evening|(last|next|this) ({_WEEKDAYS})|in (?:a|an|one|two|three|four|five|six|\d{{1,2}}) (?:days?|weeks?|months?))\b",
    _FLAGS,
)


_WEEKDAY_NUMBERS = {name: number for number, name in enumerate(_WEEKDAYS.split("|"))}
_COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
#: "due Friday", "on Tuesday": a weekday without last/next/this.
_BARE_WEEKDAY = re.compile(rf"\b(?:due|by|until|before|on|this coming)\s+({_WEEKDAYS})\b", _FLAGS)
#: "back on the 14th", "by the 3rd": a day of the month without its month.
_DAY_OF_MONTH = re.compile(
    rf"\b(?:on|by|until|till|before|after|from|since|due)\s+the\s+([1-9]|[12]\d|3[01])(?:st|nd|rd|th)\b"
    rf"(?!\s+(?:of\s+)?(?:{_MONTHS}))",
    _FLAGS,
)


def dated(text: str, sent_at: datetime) -> str:
    """``text`` with the first relative date followed by the date it meant, e.g. "yesterday (7 May 2023)"."""

    def day(d: datetime) -> str:
        return f"{d.day} {calendar.month_name[d.month]} {d.year}"

    def month(year: int, number: int) -> str:
        year, number = year + (number - 1) // 12, (number - 1) % 12 + 1
        return f"{calendar.month_name[number]} {year}"

    def meaning(phrase: str) -> str:
        period = re.fullmatch(r"in (\w+) (day|week|month)s?", phrase)
        if period:
            count = _COUNTS.get(period.group(1)) or int(period.group(1))
            if period.group(2) == "month":
                return month(sent_at.year, sent_at.month + count)
            return day(sent_at + timedelta(days=count * (7 if period.group(2) == "week" else 1)))
        which, _, name = phrase.partition(" ")
        if name in _WEEKDAY_NUMBERS:
            # "next Friday": the coming one; "last Saturday": the one before today.
            ahead = (_WEEKDAY_NUMBERS[name] - sent_at.weekday()) % 7
            if which == "last":
                return day(sent_at - timedelta(days=(7 - ahead) % 7 or 7))
            return day(sent_at + timedelta(days=ahead or 7))
        weekday_start = sent_at - timedelta(days=sent_at.weekday())
        saturday = weekday_start + timedelta(days=5)
        return {
            "the day before yesterday": day(sent_at - timedelta(days=2)),
            "the day after tomorrow": day(sent_at + timedelta(days=2)),
            "yesterday": day(sent_at - timedelta(days=1)),
            "today": day(sent_at),
            "tonight": day(sent_at),
            "this morning": day(sent_at),
            "this afternoon": day(sent_at),
            "this evening": day(sent_at),
            "tomorrow": day(sent_at + timedelta(days=1)),
            "last night": day(sent_at - timedelta(days=1)),
            "last week": f"week of {day(weekday_start - timedelta(days=7))}",
            "next week": f"week of {day(weekday_start + timedelta(days=7))}",
            "last weekend": f"weekend of {day(saturday - timedelta(days=7))}",
            "this weekend": f"weekend of {day(saturday)}",
            "next weekend": f"weekend of {day(saturday + timedelta(days=7))}",
            "last month": month(sent_at.year, sent_at.month - 1),
            "this month": month(sent_at.year, sent_at.month),
            "next month": month(sent_at.year, sent_at.month + 1),
            "last year": str(sent_at.year - 1),
            "this year": str(sent_at.year),
            "next year": str(sent_at.year + 1),
        }[phrase]

    def weekday(name: str, past: bool) -> str:
        number = _WEEKDAY_NUMBERS[name.casefold()]
        if past:
            return day(sent_at - timedelta(days=(sent_at.weekday() - number) % 7 or 7))
        return day(sent_at + timedelta(days=(number - sent_at.weekday()) % 7 or 7))

    def day_of_month(number: int, past: bool) -> str:
        # The nearest month, from this one on (or back, for something done), that has that
        # day: "by the 31st" on 29 November is 31 December.
        today = (sent_at.year, sent_at.month, sent_at.day)
        index = sent_at.year * 12 + sent_at.month - 1
        for _ in range(3):
            year, month_number = divmod(index, 12)
            month_number += 1
            when = (year, month_number, number)
            if number <= calendar.monthrange(year, month_number)[1] and (when <= today if past else when >= today):
                return f"{number} {calendar.month_name[month_number]} {year}"
            index += -1 if past else 1
        return ""

    found = [m for m in (_RELATIVE.search(text), _BARE_WEEKDAY.search(text), _DAY_OF_MONTH.search(text)) if m]
    if not found:
        return text
    first = min(found, key=lambda m: m.start())
    if first.re is _RELATIVE:
        meant = meaning(" ".join(first.group(0).casefold().split()))
    elif not _ends_a_date(text[first.end() :]):
        meant = ""  # "on the 4th floor", "the 15th of each month", "on Friday the 11th": not one day to name
    else:
        done = _told_as_done(text[: first.start()], first.group(0))
        meant = weekday(first.group(1), done) if first.re is _BARE_WEEKDAY else day_of_month(int(first.group(1)), done)
    return f"{text[: first.end()]} ({meant}){text[first.end() :]}" if meant else text


#: Words after a date that still leave it one day ("on the 14th at 10:00", "due Friday, and …").
_AFTER_A_DATE = frozenset("and or at to for with in when so but then as if we i he she they it please morning".split())
_PAST_WORDS = frozenset(
    "was were went had did met happened held took came got finished ended visited saw signed sent called spoke "
    "talked delivered launched closed started began left arrived".split()
)
_FUTURE_WORDS = frozenset(
    "is are will 'll be going gonna planned scheduled set due until by before starts begins opens launches runs "
    "meets goes arrives ends closes happens lands ships kicks comes leaves".split()
)


def _ends_a_date(rest: str) -> bool:
    """Whether what follows a day leaves it one day: not "floor", "round", "of each month", "the 11th"."""
    following = re.match(r"\s*([\w']+)", rest)
    if following is None:
        return True
    word = following.group(1).casefold()
    return word in _AFTER_A_DATE or bool(re.fullmatch(r"\d{1,2}(?:[:.]\d\d(?:am|pm)?|am|pm)", word))


def _told_as_done(before: str, phrase: str) -> bool:
    """Whether the words just before a date tell of something done ("was on", "I met Dana on")."""
    first = phrase.split()[0].casefold()
    if first in ("due", "by", "until", "before", "this"):
        return False
    if first == "since":
        return True
    words = re.findall(r"[\w']+", before.casefold())[-8:]
    if words and words[-1] == "back":
        # "Sarah was on holiday, back on the 6th": when someone returns, unless the return itself
        # is told as done ("came back on the 6th", "was back on the 6th").
        return len(words) > 1 and (words[-2] in _PAST_WORDS or words[-2].endswith("ed"))
    for n in range(len(words) - 1, -1, -1):
        word = words[n]
        if word in _FUTURE_WORDS:
            return False
        # "emailed", "kicked off": done, unless it describes ("is closed on", "will be finalised on").
        if word in _PAST_WORDS or word.endswith("ed"):
            return n == 0 or words[n - 1] not in ("is", "are", "be", "'s", "will", "gets", "get")
    return False


__all__ = ["Candidate", "dated", "find_candidates", "guess_kind", "sentences"]
