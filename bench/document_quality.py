"""Retrieval quality over project documents: planted facts, paraphrased questions, near-miss passages.

Run: ``.venv/bin/python bench/document_quality.py`` (about 2 minutes on 2 cores
for the two seeds; ``--seeds 1`` for one).

Each seed makes three client projects. Each holds eight documents generated
like ``bench/documents.py`` does (a 30-page contract, a 36-page report, a peer
benchmark and interview notes as PDFs drawn by Qt; a statement of work as
.docx; steering committee minutes as Markdown; two e-mails), 115 pages, and a
small chat memory with two pinned facts. Into the documents go 24 *planted
facts* (the late payment interest, the liability cap, the executive sponsor,
the go-live date...), each with a value whose text occurs once in the
project, in the section a real document would hold it. Each fact has three
*near misses*: the same subject with another client's value (in the
benchmark study), the same kind of value for another clause (in the same
document), and a mention of the subject without the value.

Each fact gets two *paraphrased* questions that share no word stem with any
wording of the fact (checked with the search index's own Porter tokenizer and
stopwords; they may share words with the section's heading, as real
questions do): 144 per seed, the set the target is about. Each also gets one
*direct* question in the fact's own terms ("What is the late payment interest
rate?"), printed for comparison. A question is answered when an item of
``build_context(project, question, 1000)`` is a passage whose text holds the
fact's value *and* whose citation points where it was planted (the page for
PDFs, the section for the other formats). Scored for the hybrid ranker and,
in the same run on the same data, for BM25 alone and vectors alone. Also
printed: the share of passages holding the value that were cited at the
right page or section, where the hybrid ranks the answer among passages, and
how many near misses shared the context. Target: hybrid >= 0.85 on
paraphrases on every seed, above both single rankers. The second seed is a
held-out check: nothing here is tuned to either.
"""

from __future__ import annotations

import argparse
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.documents import SPECS, STAFF, Fonts, Insert, PlannedDocument, compose, slug, write
from bench.synthetic import _filler
from memory import FactKind, MemoryService, NewMessage, Role, SearchMode
from memory.db import FTS_TOKENIZER
from memory.retrieval import content_terms

BUDGET = 1000
TARGET = 0.85
CLIENTS = ("Acme Logistics", "Globex Retail", "Initech Energy")
OTHER_CLIENTS = (
    "Northwind Foods", "Vandelay Industries", "Hooli Health", "Stark Freight", "Wayne Retail", "Tyrell Energy",
    "Soylent Systems", "Cyberdyne Transport", "Umbrella Pharma", "Oscorp Metals",
)  # fmt: skip
SPONSORS = (
    "Beatrix Lindqvist", "Conrad Abernathy", "Delphine Marchetti", "Emeka Okonkwo", "Fiona Gallagher",
    "Gustavo Herrera", "Helga Johannsen", "Isidore Fontaine", "Jasmine Thakur", "Kasimir Nowak",
    "Leopold Varga", "Marisol Quintero", "Niamh Callaghan", "Octavia Reyes", "Piotr Zielinski",
    "Rosalind Achebe", "Stellan Moberg", "Theodora Papadakis", "Ulrich Hoffmann", "Valentina Greco",
)  # fmt: skip
COUNTRIES = (
    "Ireland", "Scotland", "Belgium", "Luxembourg", "Sweden", "Denmark", "Austria", "Switzerland", "Singapore",
    "Ontario", "Finland", "Norway", "Portugal", "Spain", "Germany", "Poland",
)  # fmt: skip
PILOT_CITIES = (
    "Antwerp", "Bilbao", "Gdansk", "Graz", "Malmo", "Leeds", "Turin", "Utrecht", "Tampere", "Brno", "Cork",
    "Aarhus", "Lille", "Ghent", "Dresden",
)  # fmt: skip
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December",
)  # fmt: skip
WEEKDAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays")
TIMES = ("08:30", "09:00", "10:30", "13:00", "14:30", "16:00")
NUMBER_WORDS = {
    2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten",
    12: "twelve", 14: "fourteen", 15: "fifteen", 18: "eighteen", 20: "twenty", 21: "twenty-one",
    24: "twenty-four", 28: "twenty-eight", 30: "thirty", 36: "thirty-six", 45: "forty-five", 48: "forty-eight",
    60: "sixty", 72: "seventy-two", 75: "seventy-five", 90: "ninety", 120: "one hundred and twenty",
}  # fmt: skip

Value = Callable[[random.Random], str]


def counted(unit: str, choices: Sequence[int]) -> Value:
    """ "forty-five (45) days", as contracts write periods."""
    return lambda rng: (lambda n: f"{NUMBER_WORDS[n]} ({n}) {unit}")(rng.choice(choices))


def money(low: int, high: int, step: int) -> Value:
    return lambda rng: f"EUR {rng.randrange(low, high) * step:,}"


def percent(low: int, high: int, scale: int) -> Value:
    digits = len(str(scale)) - 1
    return lambda rng: f"{rng.randrange(low, high) / scale:.{digits}f}%"


def one_of(values: Sequence[str]) -> Value:
    return lambda rng: rng.choice(values)


DAYS = (10, 14, 15, 20, 21, 28, 30, 45, 60, 75, 90, 120)


@dataclass(frozen=True)
class Topic:
    name: str
    kind: str  # the document kind it is planted in (bench/documents.SPECS)
    section: str  # the section of that document ("" for an e-mail)
    value: Value
    statements: tuple[str, ...]  # "{v}" is the value
    questions: tuple[str, ...]  # paraphrases: no word stem in common with any statement
    direct: str  # a direct question in the fact's own terms (not its value), for comparison
    other_client: str  # "{client}" and "{v}": the same subject, another client's value
    other_clause: str  # "{v}": the same kind of value for another clause
    mention: str  # the subject without the value


TOPICS: tuple[Topic, ...] = (
    Topic("late interest", "msa", "Fees and Payment", percent(105, 300, 100),
          ("Overdue invoices bear late payment interest of {v} per month until settled in full.",
           "Any amount not paid when due accrues interest at {v} per month from the due date."),
          ("What surcharge can we add when the customer is slow to clear a bill?",
           "If our fees reach us behind schedule, how much extra do we charge over time?"),
          "What is the late payment interest rate?",
          "For comparison, the agreement of {client} sets late payment interest at {v} per month.",
          "An early settlement discount of {v} applies to invoices paid within ten days of issue.",
          "Late payment interest is reviewed with the finance team at each annual renewal."),
    Topic("payment period", "msa", "Invoicing", counted("days", DAYS),
          ("Undisputed invoices are payable within {v} of receipt.",
           "The Client shall pay each correct invoice within {v} after it is received."),
          ("How long does the customer have to settle what they owe us?",
           "What is the deadline for them to clear our bills?"),
          "Within how many days must invoices be paid?",
          "{client} pays its suppliers within {v} under its framework contract.",
          "Any dispute about an invoice must be raised within {v} of its date.",
          "Payment terms for change requests follow the same invoicing cycle."),
    Topic("termination notice", "msa", "Termination", counted("days", DAYS),
          ("Either party may terminate this Agreement for convenience by giving {v} written notice.",
           "This Agreement may be ended without cause on {v} notice in writing."),
          ("How far in advance must we warn them if we want to walk away from the contract?",
           "What lead time applies to quitting the engagement for no particular reason?"),
          "What notice period applies to terminating the agreement for convenience?",
          "{client} negotiated a notice period of {v} for ending its agreement.",
          "A party in material breach has {v} to remedy the breach after notice.",
          "Termination assistance is described in the exit plan."),
    Topic("liability cap", "msa", "Limitation of Liability", money(8, 60, 100_000),
          ("The Supplier's total aggregate liability under this Agreement is capped at {v}.",
           "Neither party's liability shall exceed {v} in aggregate for all claims."),
          ("What is the most we could ever have to pay out if something goes badly wrong?",
           "Up to what amount are we exposed if the client sues us?"),
          "What is the cap on the supplier's liability?",
          "In the contract of {client} the liability cap was set at {v}.",
          "Service credits in any contract year are limited to {v}.",
          "Liability for data protection breaches is dealt with separately."),
    Topic("insurance", "msa", "Insurance", money(2, 20, 500_000),
          ("The Supplier shall maintain professional indemnity insurance of not less than {v}.",
           "Professional indemnity cover of at least {v} must be kept in force throughout the term."),
          ("How much protection should our policy provide against claims of negligent advice?",
           "What sum has to be guaranteed by an underwriter for mistakes in our consulting work?"),
          "How much professional indemnity insurance must be maintained?",
          "{client} requires its advisers to hold professional indemnity insurance of {v}.",
          "Public liability insurance of {v} is also required for work on site.",
          "Certificates of insurance are provided on request."),
    Topic("governing law", "msa", "Governing Law", one_of(COUNTRIES),
          ("This Agreement is governed by the laws of {v}.",
           "The Agreement shall be construed in accordance with the law of {v}."),
          ("Which country's legal system applies to our contract with them?",
           "Under which jurisdiction would a court read our deal?"),
          "Which law governs the agreement?",
          "The framework agreement of {client} is governed by the laws of {v}.",
          "Any arbitration shall be seated in {v}.",
          "Nothing in this clause limits the right of either party to seek urgent relief."),
    Topic("confidentiality", "msa", "Confidentiality", counted("years", (2, 3, 4, 5, 6, 7, 8, 10)),
          ("The duty of confidentiality survives for {v} after this Agreement ends.",
           "Confidential Information must be protected for {v} following termination."),
          ("How long after the engagement are we bound to keep their secrets?",
           "For what period do we have to stay discreet about what they shared once the work is over?"),
          "How long does the duty of confidentiality survive?",
          "{client} only asks for {v} of confidentiality.",
          "Working papers are archived for {v} after the final report.",
          "Confidential Information excludes anything already in the public domain."),
    Topic("breach notification", "msa", "Data Protection", counted("hours", (12, 24, 36, 48, 72)),
          ("The Supplier shall notify the Client of any personal data breach within {v} of becoming aware of it.",
           "Personal data breaches must be reported to the Client no later than {v} after discovery."),
          ("How quickly do we have to tell them if customer records leak?",
           "What is our deadline for alerting them about a security incident involving individuals' information?"),
          "How soon must a personal data breach be notified?",
          "{client} expects breach notifications within {v}.",
          "Security incidents that involve no personal data are logged within {v}.",
          "Data processing details are set out in the processing annex."),
    Topic("price increase", "msa", "Fees and Payment", percent(20, 90, 10),
          ("Fees may be increased once a year by no more than {v}.",
           "Annual price adjustments are limited to {v}."),
          ("By how much can our charges go up each twelve months at most?",
           "What ceiling applies to raising our rates over time?"),
          "By how much may fees be increased each year?",
          "{client} accepted a yearly increase of {v}.",
          "Service credits accrue at {v} of the monthly charge for each missed target.",
          "Price reviews take place ahead of each renewal."),
    Topic("availability", "msa", "Service Levels",
          one_of(("99.5%", "99.6%", "99.7%", "99.75%", "99.8%", "99.85%", "99.9%", "99.95%", "99.99%")),
          ("The hosted platform shall be available {v} of the time in each calendar month.",
           "Monthly availability of the service must be at least {v}."),
          ("How much downtime is tolerated for the system we run for them?",
           "What uptime commitment did we make?"),
          "What availability must the hosted platform meet?",
          "The provider of {client} guarantees {v} availability.",
          "Support desk calls are answered within target in {v} of cases.",
          "Planned maintenance windows are excluded from the calculation."),
    Topic("incident response", "msa", "Service Levels", counted("minutes", (10, 15, 20, 30, 45, 60)),
          ("Priority 1 incidents receive a response within {v}, around the clock.",
           "Severity one faults are acknowledged within {v} at any hour."),
          ("How fast must someone react when the most critical kind of outage hits?",
           "What is our reaction time for a total outage?"),
          "What is the response time for Priority 1 incidents?",
          "The service desk of {client} answers urgent tickets within {v}.",
          "Priority 3 incidents receive a response within {v} during business hours.",
          "Incident priorities are agreed jointly with the service owner."),
    Topic("records retention", "msa", "Records and Audit", counted("years", (2, 3, 4, 5, 6, 7, 8, 10)),
          ("The Supplier shall retain all project records for {v} after completion.",
           "Project records are kept for {v} to allow for audits."),
          ("How long must documentation be archived once the engagement finishes?",
           "For what period do files have to be preserved for inspection?"),
          "How long must project records be retained?",
          "{client} keeps its records for {v}.",
          "Timesheets are stored for {v}.",
          "Audit rights may be exercised once per year."),
    Topic("non-solicitation", "msa", "Non-Solicitation", counted("months", (6, 9, 12, 18, 24)),
          ("Neither party shall solicit the other's staff for {v} after the Agreement ends.",
           "For {v} following termination, neither party may hire the other's employees."),
          ("How long are we barred from recruiting people who worked for them?",
           "What is the restriction period on poaching their team?"),
          "How long may neither party solicit the other's staff?",
          "{client} agreed a non-solicitation period of {v}.",
          "The warranty on deliverables lasts {v} from acceptance.",
          "The restriction does not apply to general job advertisements."),
    Topic("retainer", "sow", "Commercials", money(8, 40, 1_000),
          ("A fixed monthly retainer of {v} covers the advisory services.",
           "The Client pays a retainer of {v} per month for ongoing advice."),
          ("What flat sum is billed every four weeks regardless of hours worked?",
           "How much is our standing fee for being on call to them?"),
          "What is the monthly retainer?",
          "{client} pays a monthly retainer of {v} to its incumbent adviser.",
          "Travel and subsistence expenses are capped at {v} per month.",
          "The retainer is reviewed at the end of each phase."),
    Topic("day rate", "sow", "Commercials", money(95, 220, 10),
          ("Additional work is charged at a senior consultant day rate of {v}.",
           "Senior consultants are billed at {v} per day for work outside the fixed scope."),
          ("What do we invoice for one full shift of an experienced adviser?",
           "What is the price of a veteran adviser's time for a whole shift?"),
          "What is the senior consultant day rate?",
          "{client} pays senior consultants {v} per day.",
          "Junior analysts are charged at {v} per day.",
          "Day rates are fixed for the first contract year."),
    Topic("mobilisation fee", "sow", "Commercials", money(20, 95, 1_000),
          ("An upfront mobilisation fee of {v} is invoiced on signature.",
           "On signing, the Client pays a mobilisation fee of {v}."),
          ("How much do they owe us up front, before any work starts?",
           "How much is due at the very start of the engagement?"),
          "How much is the mobilisation fee?",
          "{client} paid a mobilisation fee of {v}.",
          "A completion bonus of {v} is payable on final acceptance.",
          "Mobilisation covers onboarding, access set-up and the kick-off workshop."),
    Topic("go-live", "sow", "Timeline and Milestones",
          lambda rng: f"{rng.randrange(1, 29)} {rng.choice(MONTHS)} 2027",
          ("Go-live of the new system is planned for {v}.",
           "The cut-over to production is scheduled for {v}."),
          ("When will users start working on the replacement platform?",
           "On what date is the switch to the replacement solution?"),
          "When is go-live of the new system?",
          "{client} went live with a similar platform on {v}.",
          "User acceptance testing starts on {v}.",
          "The go-live checklist is maintained by the transition lead."),
    Topic("sponsor", "sow", "Governance", one_of(SPONSORS),
          ("The executive sponsor for the programme is {v}, Chief Operating Officer.",
           "{v} acts as executive sponsor and chairs the steering committee."),
          ("Which senior leader champions this engagement on the client side?",
           "Who is the top-level backer of the initiative at the company?"),
          "Who is the executive sponsor of the programme?",
          "At {client}, the equivalent role was held by {v}.",
          "Day-to-day coordination sits with {v}, the programme manager.",
          "The availability of the sponsor has been limited during the budget cycle."),
    Topic("headcount", "report", "People and Organisation",
          lambda rng: f"{rng.randrange(40, 400)} FTEs",
          ("The target operating model reduces headcount by {v} across the shared service centres.",
           "Headcount falls by {v} once the new organisation design is in place."),
          ("How many roles will disappear under the proposed structure?",
           "How many jobs are expected to go?"),
          "By how much does the target operating model reduce headcount?",
          "{client} cut {v} in a comparable restructuring.",
          "A further {v} move into the new analytics team.",
          "Works council consultation must precede any change to headcount."),
    Topic("savings", "report", "Savings Opportunities", lambda rng: f"EUR {rng.randrange(15, 95) / 10:.1f} million",
          ("Annual run-rate savings are estimated at {v} by the third year.",
           "The programme is expected to deliver recurring savings of {v} per year."),
          ("How much cheaper will operating the business become when the changes land?",
           "What financial benefit does the transformation bring each twelve months?"),
          "What annual run-rate savings are estimated?",
          "{client} achieved savings of {v} with a similar programme.",
          "One-off implementation costs are estimated at {v}.",
          "Savings tracking is owned by the finance business partners."),
    Topic("churn", "report", "Customer Experience", percent(30, 150, 10),
          ("Customer churn reached {v} over the last financial year.",
           "The share of customers lost in the last financial year was {v}."),
          ("What proportion of buyers walked away from them recently?",
           "How many clients did they fail to keep?"),
          "What was customer churn over the last financial year?",
          "{client} reports churn of {v}.",
          "Complaint volumes rose by {v} in the same period.",
          "Churn is measured on active accounts only."),
    Topic("pilot site", "report", "Roadmap", one_of(PILOT_CITIES),
          ("The pilot will run in the {v} branch before the national rollout.",
           "{v} has been selected as the first pilot location."),
          ("Where will the trial take place before everyone else?",
           "Which office tests the new way of working ahead of the others?"),
          "Where will the pilot run?",
          "{client} piloted a similar model in {v}.",
          "A second wave will follow in {v}.",
          "Pilot success criteria will be agreed with the regional directors."),
    Topic("phase two budget", "email", "", money(30, 99, 10_000),
          ("The board approved a budget of {v} for phase two.",
           "Phase two has been funded with {v}, as approved by the board."),
          ("How much money was signed off for the next stage?",
           "What spending limit did the directors agree for the follow-on work?"),
          "What budget did the board approve for phase two?",
          "{client} spent {v} on a comparable second phase.",
          "Phase one closed with a total spend of {v}.",
          "Budget reporting will move to a monthly cadence."),
    Topic("steering committee", "minutes", "Next Meeting",
          lambda rng: f"{rng.choice(WEEKDAYS)} at {rng.choice(TIMES)}",
          ("The steering committee will meet on {v} every fortnight.",
           "Steering committee meetings move to {v}, every second week."),
          ("When does the governance board convene?",
           "At what time do the senior decision makers get together?"),
          "When will the steering committee meet?",
          "The committee of {client} sits on {v}.",
          "The working group meets on {v} for a weekly check-in.",
          "Steering committee papers are circulated two days in advance."),
)  # fmt: skip

#: The documents of a project: (kind, format, pages).
DOCUMENTS: tuple[tuple[str, str, int], ...] = (
    ("msa", "pdf", 30),
    ("report", "pdf", 36),
    ("study", "pdf", 16),
    ("notes", "pdf", 10),
    ("sow", "docx", 14),
    ("minutes", "md", 6),
    ("email", "eml", 1),
    ("email", "eml", 1),
)


def stems(texts: Sequence[str]) -> list[set[str]]:
    """Each text's content words as the search index stems them (its Porter tokenizer, its stopwords)."""
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE t USING fts5(body, tokenize='{FTS_TOKENIZER}')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    db.executemany(
        "INSERT INTO t(rowid, body) VALUES (?, ?)", [(n, " ".join(content_terms(s))) for n, s in enumerate(texts)]
    )
    out: list[set[str]] = [set() for _ in texts]
    for term, doc in db.execute("SELECT term, doc FROM v"):
        out[doc].add(term)
    db.close()
    return out


def check_paraphrases() -> None:
    """Raises if a question shares a word stem with a wording of its fact (the value left out)."""
    problems = []
    for topic in TOPICS:
        said = set().union(*stems([s.replace("{v}", "") for s in topic.statements]))
        for question, asked in zip(topic.questions, stems(topic.questions), strict=True):
            if asked & said:
                problems.append(f"{topic.name}: {question!r} shares {sorted(asked & said)}")
    if problems:
        raise ValueError("questions reuse the facts' words:\n" + "\n".join(problems))


@dataclass(frozen=True)
class Question:
    project: str
    topic: str
    variant: str  # "paraphrase" (scored against the target) or "direct"
    text: str
    value: str
    filename: str
    fmt: str
    page: int  # where the fact was planted (PDFs)
    section: int  # where the fact was planted (the other formats)
    near_misses: tuple[str, ...]  # the values of its near misses


def value_pattern(value: str) -> re.Pattern[str]:
    """The value as a whole token: "3.5%" must not match inside "13.5%", nor "Graz" inside "Grazia"."""
    return re.compile(rf"(?<![\w.]){re.escape(value)}(?!\w)")


@dataclass
class PlannedProject:
    name: str
    documents: list[tuple[PlannedDocument, bytes]]
    questions: list[Question]


def plan_project(name: str, seed: int, fonts: Fonts) -> PlannedProject:
    """One client's documents with every topic planted, and the questions about them."""
    rng = random.Random(f"{name}-{seed}")
    used: set[str] = set()

    def draw(topic: Topic) -> str:
        for _ in range(1000):
            value = topic.value(rng)
            if value not in used and not any(value in u or u in value for u in used):
                used.add(value)
                return value
        raise RuntimeError(f"no unused value left for {topic.name}")

    inserts: dict[int, list[Insert]] = defaultdict(list)  # by document index
    kinds = [kind for kind, _fmt, _pages in DOCUMENTS]
    planted: list[tuple[Topic, str, str, tuple[str, ...]]] = []  # topic, value, marker, near-miss values
    mention_targets = [i for i, kind in enumerate(kinds) if kind in ("msa", "sow", "report", "notes", "minutes")]
    for n, topic in enumerate(TOPICS):
        value, beside, elsewhere = draw(topic), draw(topic), draw(topic)
        home = kinds.index(topic.kind)
        marker = f"fact-{n}"
        inserts[home].append(Insert(topic.section, rng.choice(topic.statements).format(v=value), marker))
        # Near misses: another clause of the same kind in the same document, another client's value
        # in the benchmark study, and the subject without its value somewhere else.
        inserts[home].append(Insert(_any_section(rng, topic.kind), topic.other_clause.format(v=beside)))
        study = kinds.index("study")
        text = topic.other_client.format(client=rng.choice(OTHER_CLIENTS), v=elsewhere)
        inserts[study].append(Insert(_any_section(rng, "study"), _capitalise(text)))
        target = rng.choice(mention_targets)
        inserts[target].append(Insert(_any_section(rng, kinds[target]), topic.mention))
        planted.append((topic, value, marker, (beside, elsewhere)))

    documents: list[tuple[PlannedDocument, bytes]] = []
    for n, (kind, fmt, pages) in enumerate(DOCUMENTS):
        document = compose(
            rng, SPECS[kind], fmt=fmt, client=name, pages=pages, fonts=fonts, inserts=inserts[n], filename=""
        )
        document.filename = f"{slug(name)}-{n + 1}-{slug(document.title)}.{fmt}"
        if kind == "email":
            document.title = "Phase two budget" if n == kinds.index("email") else "Weekly update"
            document.sender = f"{rng.choice(STAFF)} <pmo@{slug(name)}.example>"
            document.sent = datetime(2026, 10, 1, 9, 0, tzinfo=UTC) + timedelta(days=n, minutes=rng.randrange(600))
        documents.append((document, write(document, fonts)))

    # Every planted and near-miss value must occur exactly once in the project's text.
    text = "\n".join(b.text for d, _ in documents for b in d.blocks)
    for topic, value, _marker, near in planted:
        for v in (value, *near):
            count = len(value_pattern(v).findall(text))
            if count != 1:
                raise RuntimeError(f"{name}: {topic.name} value {v!r} occurs {count} times")

    questions = []
    for topic, value, marker, near in planted:
        document = next(d for d, _ in documents if d.kind == topic.kind)
        page, section = document.where(marker)
        asked = [("paraphrase", q) for q in topic.questions] + [("direct", topic.direct)]
        for variant, question in asked:
            questions.append(
                Question(
                    name, topic.name, variant, question, value, document.filename, document.fmt, page, section, near
                )
            )
    return PlannedProject(name, documents, questions)


def _any_section(rng: random.Random, kind: str) -> str:
    sections = SPECS[kind].sections
    return rng.choice(sections) if sections else ""


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def ingest(service: MemoryService, plan: PlannedProject, folder: Path) -> tuple[int, dict[str, int]]:
    """Creates the project with a small chat memory and its documents; returns its id and document ids by file."""
    from app.documents.library import add_files

    project = service.create_project(plan.name)
    rng = random.Random(plan.name)
    start = datetime(2026, 9, 7, 9, 0, tzinfo=UTC)
    for s in range(8):
        session = service.start_session(project.id, f"Session {s + 1}", started_at=start + timedelta(days=7 * s))
        service.add_messages(
            session.id,
            [
                NewMessage(Role.USER if m % 2 == 0 else Role.OTHER, _filler(rng), "Me" if m % 2 == 0 else "Dana")
                for m in range(12)
            ],
        )
    service.add_fact(project.id, "Always copy the programme office on status emails.", FactKind.PREFERENCE, pinned=True)
    service.add_fact(project.id, "Never share draft pricing before legal review.", FactKind.DECISION, pinned=True)
    paths = []
    for document, data in plan.documents:
        path = folder / document.filename
        path.write_bytes(data)
        paths.append(path)
    report = add_files(service, project.id, paths, max_bytes=1 << 30)
    if report.failed or len(report.added) != len(paths):
        raise RuntimeError(f"{plan.name}: {report.summary()}")
    return project.id, {d.filename: d.id for d in report.added}


@dataclass
class Tally:
    answered: int = 0  # the value in a context passage cited where it was planted
    found: int = 0  # the value in a context passage
    questions: int = 0

    def rate(self) -> float:
        return self.answered / self.questions if self.questions else 0.0


FORMATS = ("pdf", "docx", "md", "eml")


def run_seed(seed: int) -> tuple[float, float]:
    """Prints one seed's figures; returns the hybrid's score on paraphrases and the best single ranker's."""
    fonts = Fonts()
    started = time.perf_counter()
    plans = [plan_project(name, seed, fonts) for name in CLIENTS]
    generation = time.perf_counter() - started
    tallies: dict[str, dict[str, Tally]] = {m.value: defaultdict(Tally) for m in SearchMode}
    ranks: list[int | None] = []  # the answer's rank among the passages of hybrid search (paraphrases)
    outranked = 0  # paraphrases whose answer a near miss outranked
    near_in_context: list[int] = []
    passages_in_context: list[int] = []
    with tempfile.TemporaryDirectory() as tmp, MemoryService.open(Path(tmp) / "data") as service:
        folder = Path(tmp) / "files"
        folder.mkdir()
        started = time.perf_counter()
        ids = {plan.name: ingest(service, plan, folder) for plan in plans}
        service.wait_for_index()
        ingest_seconds = time.perf_counter() - started
        passages = sum(len(service.document_chunks(d)) for _, by_file in ids.values() for d in by_file.values())
        texts: dict[str, tuple[str, int | None, int]] = {}

        def passage(key: str) -> tuple[str, int | None, int]:
            """(text, page, section) of the passage with this context key ("chunk:ID")."""
            if key not in texts:
                chunk = service.get_chunk(int(key.split(":")[1]))
                texts[key] = (chunk.text, chunk.page, chunk.section)
            return texts[key]

        for plan in plans:
            project_id, by_file = ids[plan.name]
            for q in plan.questions:
                value = value_pattern(q.value)
                near = [value_pattern(v) for v in q.near_misses]
                for mode in SearchMode:
                    context = service.build_context(project_id, q.text, BUDGET, mode=mode)
                    found = answered = False
                    near_count = shown = 0
                    for item in context.items:
                        if item.document_id is None:
                            continue
                        shown += 1
                        text, page, section = passage(item.key)
                        if value.search(text):
                            found = True
                            right_place = page == q.page if q.fmt == "pdf" else section == q.section
                            answered = answered or (item.document_id == by_file[q.filename] and right_place)
                        near_count += any(p.search(text) for p in near)
                    buckets = [q.variant] + ([f"paraphrase {q.fmt}"] if q.variant == "paraphrase" else [])
                    for bucket in buckets:
                        tally = tallies[mode.value][bucket]
                        tally.questions += 1
                        tally.found += found
                        tally.answered += answered
                    if mode is SearchMode.HYBRID and q.variant == "paraphrase":
                        near_in_context.append(near_count)
                        passages_in_context.append(shown)
                if q.variant != "paraphrase":
                    continue
                hits = [h for h in service.search(project_id, q.text, k=40) if h.document_id is not None]
                rank = next((n for n, h in enumerate(hits, 1) if value.search(passage(h.key)[0])), None)
                first_near = next(
                    (n for n, h in enumerate(hits, 1) if any(p.search(passage(h.key)[0]) for p in near)), None
                )
                ranks.append(rank)
                outranked += first_near is not None and (rank is None or first_near < rank)

    pages = sum(d.pages for p in plans for d, _ in p.documents)
    pdf_pages = sum(d.pages for p in plans for d, _ in p.documents if d.fmt == "pdf")
    paraphrases = tallies["hybrid"]["paraphrase"].questions
    print(
        f"seed {seed}: {len(plans)} projects, {sum(len(p.documents) for p in plans)} documents, {pages} pages "
        f"({pdf_pages} PDF pages), {passages:,} passages; {paraphrases} paraphrased questions and "
        f"{tallies['hybrid']['direct'].questions} direct ones; generated in {generation:.1f} s, "
        f"stored and embedded in {ingest_seconds:.1f} s"
    )
    header = f"{'ranker':<8}{'paraphrase':>11}{'direct':>8}{'citation ok':>13}   paraphrases by format:" + "".join(
        f"{f:>6}" for f in FORMATS
    )
    print(header)
    print("-" * len(header))
    for mode in ("bm25", "vector", "hybrid"):
        t = tallies[mode]
        found = t["paraphrase"].found + t["direct"].found
        cited = (t["paraphrase"].answered + t["direct"].answered) / max(found, 1)
        print(
            f"{mode:<8}{t['paraphrase'].rate():>11.3f}{t['direct'].rate():>8.3f}{cited:>13.3f}{'':<25}"
            + "".join(f"{t[f'paraphrase {f}'].rate():>6.3f}" for f in FORMATS)
        )
    counts = "".join(f"{tallies['hybrid'][f'paraphrase {f}'].questions:>6}" for f in FORMATS)
    print(f"{'questions':<8}{paraphrases:>11}{tallies['hybrid']['direct'].questions:>8}{'':<38}{counts}")
    hybrid = tallies["hybrid"]["paraphrase"].rate()
    best = max(tallies["bm25"]["paraphrase"].rate(), tallies["vector"]["paraphrase"].rate())

    def share(limit: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= limit) / len(ranks)

    print(
        f"hybrid ÷ best single ranker (paraphrases): {hybrid / max(best, 1e-9):.2f}; the answer among the passages "
        f"of hybrid search: 1st {share(1):.2f}, top 3 {share(3):.2f}, top 10 {share(10):.2f}, "
        f"top 40 {share(40):.2f}; a near miss above it {outranked / len(ranks):.2f}"
    )
    print(
        f"hybrid contexts (paraphrases): {statistics.fmean(passages_in_context):.1f} passages, "
        f"{statistics.fmean(near_in_context):.2f} of them near misses"
    )
    return hybrid, best


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="the second is the held-out check")
    args = parser.parse_args()
    check_paraphrases()
    results = [run_seed(seed) for seed in args.seeds]
    met = all(hybrid >= TARGET and hybrid > best for hybrid, best in results)
    print(
        f"target (answered >= {TARGET} within {BUDGET} tokens, hybrid above bm25 and vector, on every seed): "
        f"{'met' if met else 'NOT met'}"
    )
    return 0 if all(hybrid > best for hybrid, best in results) else 1


if __name__ == "__main__":
    sys.exit(main())
