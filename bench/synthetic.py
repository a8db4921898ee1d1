"""A synthetic multi-project, multi-session memory with known answers.

Each client project gets sessions of everyday project chatter. Into them go
*planted facts* (a budget, a launch date, a contact…), stated in one session
and, for about half of them, changed in a later one. Other messages mention
the same subject without the answer, to mislead keyword search. Each planted
fact gets two questions: one that shares words with the answer ("lexical")
and one that only shares meaning ("paraphrase"). The gold answer is the
message that states the *latest* value.

Everything is generated from a seed, so runs are comparable.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

PEOPLE = [
    "Dana Whitfield", "Marco Rossi", "Aiko Tanaka", "Priya Raman", "Lena Vogel", "Tomás Ortega",
    "Grace Okafor", "Henrik Dahl", "Sofia Marin", "Yusuf Demir", "Chloé Bernard", "Ravi Menon",
]  # fmt: skip
CITIES = ["Lisbon", "Rotterdam", "Osaka", "Montreal", "Krakow", "Nairobi", "Austin", "Lyon", "Bergen", "Porto"]
COLOURS = ["teal", "burgundy", "mustard yellow", "navy blue", "coral", "forest green", "charcoal", "lavender"]
TOOLS = ["Jira", "Asana", "Trello", "Linear", "Monday", "Basecamp", "ClickUp", "Notion"]
CLOUDS = ["AWS", "Azure", "Google Cloud", "Hetzner", "OVHcloud", "DigitalOcean"]
LANGUAGES = ["German", "French", "Spanish", "Japanese", "Portuguese", "Dutch", "Italian", "Polish"]
TIMEZONES = ["Central European", "Pacific", "Eastern", "Japan Standard", "British Summer", "India Standard"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
COMPETITORS = ["Brightline", "Northwind", "Vandelay", "Stark Logistics", "Hooli", "Pied Piper", "Soylent"]
KPIS = [
    "newsletter sign-ups", "qualified sales leads", "app store rating", "repeat purchase rate",
    "time on page", "demo bookings", "churn reduction",
]  # fmt: skip
STYLES = [
    "playful and informal",
    "formal and reserved",
    "bold and punchy",
    "calm and reassuring",
    "technical and precise",
]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "September", "October", "November"]


def _money(rng: random.Random) -> str:
    return f"{rng.choice(['EUR', 'USD', 'GBP'])} {rng.randrange(15, 400) * 1000:,}"


def _date(rng: random.Random) -> str:
    return f"{rng.randrange(1, 29)} {rng.choice(MONTHS)}"


def _code(rng: random.Random) -> str:
    return f"PO-{rng.randrange(10000, 99999)}"


def _email(rng: random.Random) -> str:
    return f"{rng.choice(['ap', 'billing', 'invoices', 'finance', 'payables'])}{rng.randrange(1, 99)}@client.example"


@dataclass(frozen=True)
class Topic:
    name: str
    value: Callable[[random.Random], str]
    statements: tuple[str, ...]  # "{v}" is the value
    mentions: tuple[str, ...]  # the subject without the answer
    lexical: str
    paraphrase: str
    #: Whether the value is a distinctive name or code a user would look up by itself.
    entity: bool = False


TOPICS: tuple[Topic, ...] = (
    Topic("budget", _money,
          ("The approved budget for the project is {v}.", "Finance signed off on a total budget of {v}."),
          ("We should revisit the budget once the scope settles.", "Can someone check how much of the budget the agency fees use?"),
          "What is the approved budget?", "How much money can we spend in total?"),
    Topic("launch", _date,
          ("The launch date is {v}.", "We go live on {v}, that's final."),
          ("Marketing keeps asking about the launch date.", "Let's not promise a launch date in the newsletter yet."),
          "When is the launch date?", "When does the product become available to customers?"),
    Topic("contact", lambda r: r.choice(PEOPLE),
          ("Our main point of contact on the client side is {v}.", "From now on {v} is the client contact for everything."),
          ("We need a clearer point of contact on their side.", "The contact list in the CRM is out of date."),
          "Who is our main point of contact?", "Who should I talk to at the client when something comes up?", entity=True),
    Topic("colour", lambda r: r.choice(COLOURS),
          ("The primary brand colour is {v}.", "They picked {v} as the main brand colour."),
          ("The brand colour debate took most of the workshop.", "Print proofs will show whether the brand colour works."),
          "What is the primary brand colour?", "Which shade should dominate the designs?"),
    Topic("meeting", lambda r: r.choice(WEEKDAYS),
          ("Weekly status meetings are on {v} mornings.", "We moved the weekly status meeting to {v}."),
          ("The status meeting ran long again.", "Please send agenda items before the status meeting."),
          "Which day is the weekly status meeting?", "On what day do we have our regular check-in call?"),
    Topic("invoices", _email,
          ("Invoices must be emailed to {v}.", "Send all invoices to {v} from now on."),
          ("The last invoice was paid late.", "Our invoices need the new VAT line."),
          "Where do we send invoices?", "Which address should bills go to?", entity=True),
    Topic("po", _code,
          ("The purchase order number is {v}.", "Quote purchase order {v} on every document."),
          ("Procurement is still issuing the purchase order.", "Without a purchase order nothing gets paid."),
          "What is the purchase order number?", "Which reference must appear on our paperwork so they pay us?", entity=True),
    Topic("cloud", lambda r: r.choice(CLOUDS),
          ("Their infrastructure is hosted on {v}.", "They are migrating all hosting to {v}."),
          ("Hosting costs came up in the IT review.", "Their infrastructure team is understaffed."),
          "Where is their infrastructure hosted?", "Which cloud provider runs their servers?", entity=True),
    Topic("team", lambda r: str(r.randrange(3, 60)),
          ("The client team working with us has {v} people.", "Their project team has grown to {v} people."),
          ("The client team is hard to get hold of in August.", "Their team structure changed after the reorg."),
          "How many people are on the client team?", "How big is the group we collaborate with over there?"),
    Topic("signatory", lambda r: r.choice(PEOPLE),
          ("Contracts are signed by {v}, their general counsel.", "{v} now signs all contracts on their side."),
          ("The contract redlines are taking forever.", "Legal wants to review the contract template again."),
          "Who signs the contracts?", "Whose signature do we need on legal agreements?", entity=True),
    Topic("tone", lambda r: r.choice(STYLES),
          ("They want all copy to sound {v}.", "The copy tone should be {v} from now on."),
          ("The copy for the landing page needs another pass.", "Their copy guidelines are twelve pages long."),
          "What tone should the copy have?", "How should our writing come across to readers?"),
    Topic("competitor", lambda r: r.choice(COMPETITORS),
          ("Their main competitor is {v}.", "They now see {v} as the main competitor."),
          ("Competitor analysis is due next sprint.", "Every competitor is cutting prices this quarter."),
          "Who is their main competitor?", "Which rival company worries them the most?", entity=True),
    Topic("kpi", lambda r: r.choice(KPIS),
          ("Success will be measured by {v}.", "The one KPI that matters to them is {v}."),
          ("The KPI dashboard is broken again.", "We should agree on how success gets reported."),
          "How will success be measured?", "What number will they look at to judge whether the campaign worked?"),
    Topic("office", lambda r: r.choice(CITIES),
          ("Their headquarters are in {v}.", "They relocated the headquarters to {v}."),
          ("The headquarters team approves all big decisions.", "Visiting the headquarters needs a badge two weeks ahead."),
          "Where are their headquarters?", "In which city is the client based?", entity=True),
    Topic("draft", _date,
          ("The first draft is due on {v}.", "They pushed the first draft deadline to {v}."),
          ("The first draft still has placeholder images.", "Who owns the first draft review?"),
          "When is the first draft due?", "By when do they expect to see an initial version?"),
    Topic("tracker", lambda r: r.choice(TOOLS),
          ("They track all tasks in {v}.", "Task tracking moved to {v} last week."),
          ("Half the tasks are not tracked anywhere.", "Please close your finished tasks before Friday."),
          "Which tool do they track tasks in?", "What project management software does the client use?", entity=True),
    Topic("language", lambda r: r.choice(LANGUAGES),
          ("All deliverables must be written in {v}.", "Deliverables now need to be in {v} as well."),
          ("The deliverables folder is a mess.", "Translation of deliverables is not in the budget."),
          "Which language must deliverables be written in?", "In what language should we produce the documents?"),
    Topic("timezone", lambda r: r.choice(TIMEZONES),
          ("Their team works on {v} time.", "Their team switched to working on {v} time."),
          ("Time zone differences make calls awkward.", "Put the time zone on every meeting invite."),
          "Which time zone does their team work in?", "What hours are they on, clock-wise?"),
    Topic("terms", lambda r: str(r.choice([15, 30, 45, 60, 90])),
          ("Payment terms are net {v} days.", "They renegotiated payment terms to net {v} days."),
          ("Payment terms came up in the procurement call.", "Our payment reminders are too aggressive."),
          "What are the payment terms?", "How long do they take to pay what they owe us?"),
    Topic("approver", lambda r: r.choice(PEOPLE),
          ("Any spend above ten thousand needs sign-off from {v}.", "Big expenses now need approval from {v}."),
          ("The approval chain slows everything down.", "Who approves spend is unclear since the reorg."),
          "Who approves big spend?", "Whose permission do we need before buying something expensive?", entity=True),
)  # fmt: skip

ENTITY_QUESTIONS = (
    "What do we know about {v}?",
    "Remind me where {v} came up.",
    "What was the context for {v}?",
)
FILLER = (
    "I'll send the revised {thing} by {day}.",
    "Did anyone review the {thing} yet?",
    "The {team} team is blocked on the {thing}.",
    "Thanks, that {thing} looks much better now.",
    "Can we move our {thing} sync to {day} afternoon?",
    "I left comments on the {thing} in the shared folder.",
    "The {thing} needs sign-off from {team} before we continue.",
    "Quick reminder that the {thing} workshop starts at {hour}.",
    "We're running a bit behind on the {thing} but nothing serious.",
    "Could you resend the {thing}? The link expired.",
    "Great progress on the {thing} this week, well done.",
    "Let's park the {thing} discussion until {day}.",
    "The {thing} from {team} arrived, looks solid.",
    "Heads up: {person} is out of office until {day}.",
    "I booked a room for the {thing} review at {hour}.",
    "No news from {team} about the {thing} so far.",
)
THINGS = [
    "wireframes", "style guide", "persona deck", "sitemap", "media plan", "press kit", "user survey", "moodboard",
    "roadmap", "content calendar", "pitch deck", "onboarding flow", "FAQ page", "packaging mock-ups", "video script",
    "analytics report", "SEO audit", "stakeholder map", "risk register", "test plan",
]  # fmt: skip
TEAMS = ["design", "legal", "IT", "sales", "product", "brand", "operations", "HR", "web", "social media"]
HOURS = ["9:30", "10:00", "11:15", "13:00", "14:30", "16:00"]


@dataclass
class PlannedMessage:
    role: str
    speaker: str
    content: str
    created_at: datetime
    #: (topic name, version) when this message states a planted fact's value.
    plants: tuple[str, int] | None = None


@dataclass
class PlannedSession:
    title: str
    started_at: datetime
    messages: list[PlannedMessage] = field(default_factory=list)


@dataclass(frozen=True)
class Question:
    project: str
    topic: str
    variant: str  # "lexical", "paraphrase" or "entity"
    text: str
    changed: bool  # the planted value was changed in a later session


@dataclass
class PlannedProject:
    name: str
    client_person: str
    sessions: list[PlannedSession]
    questions: list[Question]
    #: Latest version number per topic (1, or 2 if it changed).
    latest: dict[str, int]


def _sentence(rng: random.Random) -> str:
    return rng.choice(FILLER).format(
        thing=rng.choice(THINGS),
        day=rng.choice(WEEKDAYS),
        team=rng.choice(TEAMS),
        hour=rng.choice(HOURS),
        person=rng.choice(PEOPLE).split()[0],
    )


def _filler(rng: random.Random) -> str:
    """A chat message: one to three sentences, as people write them."""
    return " ".join(_sentence(rng) for _ in range(rng.choice((1, 1, 2, 2, 3))))


def _embed_in_chatter(rng: random.Random, sentence: str) -> str:
    """The sentence that matters, with zero to two everyday sentences around it."""
    parts = [_sentence(rng) for _ in range(rng.choice((0, 1, 1, 2)))]
    parts.insert(rng.randrange(len(parts) + 1), sentence)
    return " ".join(parts)


def generate_project(name: str, seed: int, *, sessions: int = 30, per_session: int = 24) -> PlannedProject:
    rng = random.Random(f"{name}-{seed}")
    client_person = rng.choice(PEOPLE)
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC) + timedelta(days=rng.randrange(0, 10))
    planned = [PlannedSession(f"{name} session {i + 1}", start + timedelta(days=3 * i)) for i in range(sessions)]
    for session in planned:
        for j in range(per_session):
            mine = j % 2 == 0
            session.messages.append(
                PlannedMessage(
                    "user" if mine else "other",
                    "Me" if mine else client_person,
                    _filler(rng),
                    session.started_at + timedelta(minutes=2 * j),
                )
            )

    questions: list[Question] = []
    latest: dict[str, int] = {}
    for topic in TOPICS:
        first = rng.randrange(0, sessions - 8)
        changed = rng.random() < 0.5
        values = [topic.value(rng)]
        while changed and len(values) < 2:
            candidate = topic.value(rng)
            if candidate != values[0]:
                values.append(candidate)
        slots = [first] + ([rng.randrange(first + 3, sessions)] if changed else [])
        for version, (session_index, value) in enumerate(zip(slots, values, strict=True), start=1):
            template = topic.statements[0] if version == 1 else topic.statements[1]
            message = rng.choice([m for m in planned[session_index].messages if m.plants is None])
            message.content = _embed_in_chatter(rng, template.format(v=value))
            message.plants = (topic.name, version)
        latest[topic.name] = len(values)
        for mention in topic.mentions:
            for _ in range(2):
                message = rng.choice(rng.choice(planned).messages)
                if message.plants is None:
                    message.content = _embed_in_chatter(rng, mention)
        questions.append(Question(name, topic.name, "lexical", topic.lexical, changed))
        questions.append(Question(name, topic.name, "paraphrase", topic.paraphrase, changed))
        if topic.entity:
            lookup = rng.choice(ENTITY_QUESTIONS).format(v=values[-1])
            questions.append(Question(name, topic.name, "entity", lookup, changed))
    return PlannedProject(name, client_person, planned, questions, latest)
