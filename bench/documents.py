"""Project documents: how fast a generated corpus becomes searchable, and ``build_context`` with it present.

Run: ``.venv/bin/python bench/documents.py`` (15 to 20 minutes on 2 cores;
``--quick`` for a look in under a minute).

A corpus of client documents is generated from a seed (by default 50 files
totalling 2,000 pages): PDFs drawn by Qt's PDF writer (``QPdfWriter`` and
``QPainter``, offscreen) with running headers and page footers, Word files
(python-docx), Markdown and e-mails (the standard library). The text is
consultancy prose in three registers (contract clauses, analysis, meeting
notes and mail) assembled from word lists, so the vocabulary varies.
Non-PDF formats count in *page equivalents*: they are paged with the same
fonts and page as the PDFs, so a page is the same amount of text in every
format. Generation is timed apart and is not part of any rate.

Printed next to baselines measured in the same run:

- pages per second until ``add_files`` returns (every passage keyword-searchable),
  next to parsing and chunking the same files alone;
- pages (and passages) per second until every passage has its vector
  (``wait_for_index``), next to the embedder's own rate on the same passage
  texts in batches of the indexer's size; the ratio is the figure to quote;
- ``build_context`` p50 and p95 (1,000 tokens) over ``--queries`` questions on a
  project holding the documents and a chat memory of 720 messages, next to a
  project holding the same chat memory and no documents, the two timed in
  turns, question by question, so both see the same machine.

This module is also the document generator of ``bench/document_quality.py``.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.retrieval_speed import TimedEmbedder
from bench.retrieval_speed import _percentiles as percentiles
from bench.synthetic import TOPICS as CHAT_TOPICS
from bench.synthetic import PlannedProject, generate_project
from memory import FactKind, MemoryService, NewMessage, Role
from memory.embedding import MiniLMEmbedder

# ---------------------------------------------------------------------------------------------- prose

#: People who speak in minutes and mail. Planted values never use these names.
STAFF = [
    "Amelia Hart", "Jonas Becker", "Farah Haddad", "Oliver Brandt", "Mei Lin Chow", "Samuel Adeyemi",
    "Ingrid Solberg", "Rafael Duarte", "Nadia Petrova", "Tobias Klein", "Hannah Moreau", "Kwame Asante",
    "Elena Vasquez", "Patrick Doyle", "Sanne de Vries", "Arjun Kapoor", "Lucia Bianchi", "Mikael Lund",
]  # fmt: skip
PROGRAMMES = [
    "Operations Transformation", "Finance Excellence", "Procurement Reset", "Customer Service Redesign",
    "Digital Core", "Supply Chain Renewal", "Cost Agility", "Shared Services", "Commercial Uplift",
]  # fmt: skip

WORDS: dict[str, tuple[str, ...]] = {
    "party": ("Supplier", "Client"),
    "instrument": ("Agreement", "Statement of Work", "schedule", "contract"),
    "l_verb": (
        "provide", "maintain", "document", "review", "deliver", "safeguard", "report on", "keep accurate records of",
        "cooperate on", "escalate", "remediate", "monitor", "coordinate", "supervise", "test", "update",
    ),
    "l_object": (
        "the Services", "all Deliverables", "the agreed Milestones", "any Change Request", "the Project Plan",
        "relevant security controls", "the Acceptance Criteria", "its subcontractors", "the governance arrangements",
        "the exit plan", "the Service Description", "access credentials", "the Key Personnel",
        "the transition activities", "third-party licences", "the risk register", "the quality plan",
        "the business continuity arrangements", "the asset inventory", "the training materials",
    ),
    "l_manner": (
        "with reasonable skill and care", "in accordance with Good Industry Practice", "without undue delay",
        "at its own cost", "in a timely and professional manner", "in line with the Client's policies",
        "to the reasonable satisfaction of the Client", "as set out in the relevant Statement of Work",
        "throughout the Term", "subject to the governance procedure", "in good faith",
        "using appropriately qualified personnel",
    ),
    "l_event": (
        "fails to meet an agreed Milestone", "becomes aware of a conflict of interest",
        "requires a change to the Services", "is prevented from performing by a Force Majeure Event",
        "identifies a material risk to delivery", "replaces any Key Personnel", "subcontracts any part of the Services",
        "receives a complaint from a regulator", "discovers a defect in a Deliverable",
    ),
    "l_remedy": (
        "request a remediation plan", "withhold approval of the relevant Deliverable",
        "escalate the matter to the steering committee", "suspend the affected Services",
        "require the replacement of the individual concerned", "refer the matter to the dispute resolution procedure",
        "appoint an independent expert",
    ),
    "l_request": (
        "change to the scope", "extension of the timetable", "substitution of personnel", "variation of this Agreement",
        "assignment of rights", "request for additional resources", "departure from the agreed methodology",
    ),
    "l_authority": (
        "authorised representatives of both parties", "the steering committee", "the Client's procurement lead",
        "the contract manager", "the programme board", "the Client's general counsel",
    ),
    "l_exception": (
        "a subcontractor performs the work", "the Client has approved the approach",
        "information is supplied by third parties", "the timetable changes", "the work is performed remotely",
    ),
    "l_connector": (
        "Without prejudice to its other rights", "For the avoidance of doubt", "Unless otherwise agreed",
        "Save as set out above", "In addition", "Notwithstanding the foregoing", "To the extent permitted by law",
    ),
    "l_exclusion": (
        "all implied warranties are excluded to the fullest extent permitted by law",
        "no party relies on any representation not set out here", "each party bears its own costs of negotiation",
        "no waiver is effective unless made in writing", "no third party has any right to enforce its terms",
    ),
    "l_warranty": (
        "it has full capacity to enter into this Agreement",
        "the Deliverables will not infringe the rights of any third party",
        "its personnel are suitably qualified and experienced",
        "it holds all consents required to perform the Services",
        "it will comply with all applicable anti-bribery laws",
    ),
    "l_notice": (
        "delivered by hand to the registered office", "sent by email to the nominated contact",
        "acknowledged by the receiving party", "received during business hours",
    ),
    "a_area": (
        "the month-end close", "supplier onboarding", "demand planning", "the order-to-cash cycle",
        "field service scheduling", "contract management", "the customer contact centre", "warehouse operations",
        "procurement governance", "management reporting", "the IT service desk", "capital allocation",
        "talent acquisition", "pricing discipline", "inventory control", "data quality", "the product roadmap process",
        "regional sales coverage", "vendor performance management", "the complaints process", "fleet utilisation",
        "travel and expense handling", "credit control",
    ),
    "a_finding": (
        "responsibilities overlap between the regional and central teams",
        "manual workarounds consume a large share of analyst time",
        "approval steps add little control but considerable delay", "the same data is keyed into several systems",
        "decisions are escalated far more often than the policy requires",
        "performance targets are not linked to customer outcomes",
        "spend is fragmented across too many small suppliers", "handovers between teams are poorly documented",
        "forecasts are revised late and rarely reconciled", "reporting packs are long but seldom used in decisions",
        "key knowledge sits with a handful of long-serving staff",
        "exceptions are handled by email rather than in the workflow tool",
        "service levels are measured inconsistently across sites",
        "the operating rhythm favours firefighting over planning", "ownership of master data is unclear",
        "customers often contact several teams about the same issue",
    ),
    "a_implication": (
        "the organisation could absorb growth without adding headcount",
        "quick wins are available before any system change", "governance needs to be simplified before automation",
        "the business case depends on adoption rather than technology", "benefits will be uneven across the regions",
        "a phased rollout carries less delivery risk", "leadership attention is the scarcest resource of the programme",
    ),
    "a_unit": (
        "finance function", "operations leadership team", "procurement team", "programme office", "regional management",
        "IT department", "commercial team", "HR business partners", "executive committee",
    ),
    "a_recommendation": (
        "consolidate the approval matrix", "standardise the core processes", "appoint a single owner for master data",
        "introduce a regular performance review", "retire the legacy reporting tools",
        "renegotiate the long tail of supplier contracts", "build a shared analytics capability",
        "redesign the escalation path", "pilot the new workflow with one business unit",
        "publish a simple service catalogue",
    ),
    "a_timing": (
        "within the first wave", "before the next budget round", "over the coming quarters",
        "as part of the transition", "ahead of the peak season", "once the new leadership team is in place",
    ),
    "a_source": (
        "Interviews with regional managers", "The process mining analysis", "Our survey of frontline staff",
        "Workshops with the finance team", "A sample of recent transactions", "Discussions with the executive team",
        "The document review", "Site visits",
    ),
    "a_connector": ("However", "At the same time", "More importantly", "As a result", "In contrast", "Equally"),
    "a_peers": (
        "comparable organisations", "sector peers", "the best-performing business units", "industry benchmarks",
        "similar-sized competitors",
    ),
    "a_assessment": (
        "fragmented", "broadly fit for purpose", "resource-intensive", "well regarded but slow", "under-invested",
        "heavily dependent on individuals", "more complex than necessary", "ahead of its peers in some respects",
    ),
    "a_driver": (
        "duplicated effort between teams", "unclear decision rights", "an ageing application landscape",
        "inconsistent data definitions", "a reactive planning culture", "limited management information",
    ),
    "a_effect": (
        "slows down every downstream step", "makes accountability hard to establish", "inflates the cost to serve",
        "erodes confidence in the numbers", "creates avoidable rework",
    ),
    "a_effect2": (
        "release capacity for higher-value work", "shorten cycle times noticeably",
        "improve the reliability of reporting", "reduce the dependency on key individuals",
        "make the savings more sustainable",
    ),
    "a_stakeholders": ("department heads", "site managers", "team leaders", "senior analysts", "account managers"),
    "m_question": (
        "the timeline still allows for user testing", "the data migration scope is final",
        "the regional teams have been briefed", "the change requests have been costed",
        "the vendor shortlist is complete", "legal has reviewed the latest draft",
    ),
    "m_action": (
        "update the risk log", "schedule the design workshops", "share the revised project plan",
        "confirm the interview schedule", "review the draft operating model", "prepare the options paper",
        "align the communication plan with HR", "collect baseline data from the sites", "refresh the benefits tracker",
        "book the room for the next workshop",
    ),
    "m_deadline": (
        "by the end of the week", "before the next meeting", "early next week", "by the end of the month",
        "ahead of the steering committee",
    ),
    "m_document": (
        "the updated plan", "the interview notes", "the draft findings", "the revised tracker", "the meeting notes",
        "the stakeholder map",
    ),
    "m_status": (
        "the first round of interviews is complete", "the data request has been answered in part",
        "the design workshops are on track", "the vendor demonstrations went well", "the pilot scope has been agreed",
    ),
    "m_thanks": (
        "the quick turnaround", "sending the draft so early", "your comments on the findings",
        "joining the workshop at short notice",
    ),
    "m_follow": (
        "I will fold your points into the next version", "let us discuss the open items on our next call",
        "the team will come back with a revised view", "we can close the remaining questions offline",
    ),
}  # fmt: skip
for _name, _words in WORDS.items():  # digits would collide with planted values (bench/document_quality.py)
    assert not any(re.search(r"\d", w) for w in _words), _name

REGISTERS: dict[str, tuple[str, ...]] = {
    "legal": (
        "The {party} shall {l_verb} {l_object} {l_manner}.",
        "Each party shall {l_verb} {l_object} {l_manner}.",
        "Nothing in this {instrument} obliges the {party} to {l_verb} {l_object}.",
        "Where the {party} {l_event}, the other party may {l_remedy}.",
        "Any {l_request} must be made in writing and approved by {l_authority}.",
        "The {party} remains responsible for {l_object} even where {l_exception}.",
        "{l_connector}, the {party} shall {l_verb} {l_object}.",
        "Except as expressly stated in this {instrument}, {l_exclusion}.",
        "The {party} warrants that {l_warranty}.",
        "Notices under this {instrument} are effective when {l_notice}.",
        "If the {party} {l_event}, it shall inform {l_authority} {m_deadline}.",
    ),
    "analysis": (
        "Our review of {a_area} found that {a_finding}.",
        "{a_source} indicated that {a_finding}.",
        "{a_connector}, {a_finding}.",
        "This suggests that {a_implication}.",
        "We recommend that the {a_unit} {a_recommendation} {a_timing}.",
        "Compared with {a_peers}, {a_area} remains {a_assessment}.",
        "The main driver is {a_driver}, which {a_effect}.",
        "Several {a_stakeholders} described {a_area} as {a_assessment}.",
        "Addressing {a_driver} would {a_effect2}.",
        "In practice, {a_finding}.",
    ),
    "meeting": (
        "{person} noted that {a_finding}.",
        "{person} asked whether {m_question}.",
        "The group agreed to {m_action} {m_deadline}.",
        "Action: {person} to {m_action} {m_deadline}.",
        "{person} will circulate {m_document} {m_deadline}.",
        "It was agreed that {a_implication}.",
        "{person} confirmed that {m_status}.",
        "Thanks for {m_thanks}; {m_follow}.",
        "{person} raised a concern that {a_finding}.",
        "{person} gave an update on {a_area}.",
        "Open questions remain on {a_area}.",
    ),
}
_SLOT = re.compile(r"\{(\w+)\}")
#: What each section is about: noun phrases its sentences use (sections not listed use the general lists).
SECTION_WORDS: dict[str, tuple[str, ...]] = {
    "Definitions and Interpretation": (
        "the defined terms", "the order of precedence", "the schedules", "the interpretation rules", "the headings",
    ),
    "Scope of Services": (
        "the scope of the Services", "the in-scope business units", "the excluded activities", "the service catalogue",
        "the service boundaries",
    ),
    "Term and Renewal": (
        "the initial term", "any renewal period", "the commencement date", "the extension options",
        "the renewal notice",
    ),
    "Fees and Payment": (
        "the fee schedule", "the agreed rates", "reimbursable expenses", "the payment milestones",
        "the pricing assumptions", "the treatment of taxes",
    ),
    "Invoicing": (
        "each invoice", "the invoicing calendar", "purchase order references", "credit notes", "the billing contact",
        "the supporting timesheets",
    ),
    "Service Levels": (
        "the service level targets", "the service credits", "the performance reports", "the measurement rules",
        "the support hours", "the incident classification",
    ),
    "Key Personnel": (
        "the Key Personnel", "the engagement partner", "the named specialists", "any replacement of personnel",
        "the staffing plan",
    ),
    "Confidentiality": (
        "Confidential Information", "the disclosure restrictions", "the return of confidential material",
        "the permitted recipients", "the handling of trade secrets",
    ),
    "Intellectual Property": (
        "the background materials", "the foreground rights", "the licence to the Deliverables", "third-party software",
        "the moral rights waivers",
    ),
    "Data Protection": (
        "personal data", "the processing instructions", "the sub-processors",
        "the technical and organisational measures", "the data subject requests", "international transfers",
    ),
    "Warranties": (
        "the warranties", "the remedies for defects", "the compliance with laws", "the virus checks",
        "the quality of the Deliverables",
    ),
    "Limitation of Liability": (
        "the exclusions of liability", "indirect losses", "the liability regime", "the indemnities",
        "the recoverable losses",
    ),
    "Insurance": (
        "the insurance policies", "the insurance certificates", "the insurers", "the policy renewals",
        "the insured risks",
    ),
    "Non-Solicitation": (
        "the employees of each party", "the recruitment restrictions", "the hiring of contractors",
        "the staff involved in the Services",
    ),
    "Records and Audit": (
        "the project records", "the audit rights", "the financial records", "the audit findings",
        "the access for auditors",
    ),
    "Termination": (
        "the termination rights", "the consequences of termination", "the termination assistance",
        "the events of default", "the wind-down of the Services",
    ),
    "Exit Management": (
        "the exit plan", "the handover of knowledge", "the transfer of data", "the replacement supplier",
        "the exit period",
    ),
    "Dispute Resolution": (
        "the escalation procedure", "any dispute", "the mediation process", "the expert determination",
        "the senior representatives",
    ),
    "Governing Law": (
        "the governing law", "the jurisdiction of the courts", "the choice of law", "the service of process",
    ),
    "General Provisions": (
        "the entire agreement", "the assignment of rights", "the severability clause", "the counterparts",
        "the variation procedure",
    ),
    "Background": ("the client's situation", "the earlier initiatives", "the trigger for the programme"),
    "Objectives": ("the programme objectives", "the success measures", "the target outcomes"),
    "Scope": ("the scope", "the business units in scope", "the out-of-scope items"),
    "Deliverables": ("the Deliverables", "the deliverable templates", "the draft reports", "the final report"),
    "Approach and Methodology": ("the diagnostic phase", "the design workshops", "the methodology", "the interviews"),
    "Timeline and Milestones": ("the milestones", "the project plan", "the critical path", "the phase gates"),
    "Governance": ("the steering committee", "the programme board", "the reporting lines", "the decision rights"),
    "Assumptions": ("the planning assumptions", "the client inputs", "the data availability"),
    "Dependencies": ("the dependencies", "the third-party inputs", "the client resources"),
    "Acceptance": ("the acceptance procedure", "the acceptance criteria", "the review period", "the sign-off"),
    "Commercials": ("the commercial model", "the fees", "the expenses policy", "the invoicing milestones"),
    "Risks": ("the delivery risks", "the risk owners", "the mitigations", "the contingency"),
    "Executive Summary": ("the key findings", "the headline recommendations", "the business case"),
    "Context and Objectives": ("the market context", "the mandate for the review", "the objectives of the review"),
    "Current State Assessment": ("the current processes", "the baseline performance", "the pain points"),
    "Operating Model": ("the operating model", "the organisation structure", "the process ownership"),
    "Procurement": ("procurement governance", "the supplier base", "the category strategies", "maverick spend"),
    "Finance": ("the month-end close", "the management accounts", "the budgeting cycle", "working capital"),
    "Technology Landscape": (
        "the application landscape", "the ERP platform", "the integration layer", "technical debt",
    ),
    "Customer Experience": (
        "the customer journey", "customer satisfaction", "the contact centre", "complaint handling",
    ),
    "People and Organisation": ("the organisation design", "spans and layers", "the workforce plan", "the skills gaps"),
    "Savings Opportunities": ("the savings levers", "the cost baseline", "the benefits tracking", "the quick wins"),
    "Roadmap": ("the implementation roadmap", "the rollout waves", "the sequencing", "the transition plan"),
    "Risks and Mitigations": ("the implementation risks", "the mitigation actions", "the change fatigue"),
    "Approach": ("the benchmarking approach", "the data sources", "the normalisation of the data"),
    "Peer Group": ("the peer group", "the comparator companies", "the sector sample"),
    "Commercial Terms": ("the commercial terms", "the pricing models", "the payment practices"),
    "Legal Terms": ("the contract terms", "the liability positions", "the legal protections"),
    "Delivery Models": ("the delivery models", "the offshore centres", "the managed services"),
    "Cost Benchmarks": ("the unit costs", "the cost per transaction", "the cost benchmarks"),
    "Observations": ("the main observations", "the outliers", "the lessons from peers"),
    "Attendees": ("the attendance", "the apologies", "the guests"),
    "Progress Update": ("the progress of the workstreams", "the status report", "the milestone tracker"),
    "Decisions": ("the decisions", "the open decisions", "the approvals"),
    "Risks and Issues": ("the risk log", "the issues list", "the escalations"),
    "Actions": ("the action log", "the overdue actions", "the new actions"),
    "Next Meeting": ("the next meeting", "the meeting schedule", "the agenda"),
    "Purpose": ("the purpose of the interviews", "the interview guide", "the interviewees"),
    "Interview Summary": ("the interview findings", "the interview programme", "the recurring comments"),
    "Themes": ("the emerging themes", "the common pain points", "the ideas for improvement"),
    "Quotes": ("the verbatim comments", "the quotes from managers"),
    "Follow-up": ("the follow-up questions", "the data requests", "the second interviews"),
}  # fmt: skip
for _name, _words in SECTION_WORDS.items():
    assert not any(re.search(r"\d", w) for w in _words), _name


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def sentence(rng: random.Random, register: str, topic: Sequence[str] = ()) -> str:
    """One sentence of consultancy prose in ``register`` ("legal", "analysis" or "meeting").

    ``topic``: noun phrases of the section being written; most sentences that
    name a subject take one, so a section reads as being about its subject.
    """
    template = rng.choice(REGISTERS[register])

    def fill(match: re.Match[str]) -> str:
        slot = match.group(1)
        if slot == "person":
            return rng.choice(STAFF).split()[0]
        if slot in ("l_object", "a_area") and topic and rng.random() < 0.6:
            return rng.choice(topic)
        return rng.choice(WORDS[slot])

    return _capitalised(_SLOT.sub(fill, template))


def paragraph(rng: random.Random, register: str, *, planted: Sequence[str] = (), topic: Sequence[str] = ()) -> str:
    """Three to six sentences of ``register``; ``planted`` sentences go in at random places."""
    parts = [sentence(rng, register, topic) for _ in range(rng.randint(3, 6))]
    for text in planted:
        parts.insert(rng.randrange(len(parts) + 1), text)
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------- documents


@dataclass(frozen=True)
class DocSpec:
    """A kind of client document: its title, sections and prose register."""

    kind: str
    title: str  # "{programme}" is filled in
    register: str
    sections: tuple[str, ...]
    subheadings: tuple[str, ...] = ("General", "Responsibilities", "Procedure", "Exceptions", "Reporting")
    #: False for e-mails: a greeting, paragraphs and a signature.
    headings: bool = True


SPECS: dict[str, DocSpec] = {
    "msa": DocSpec("msa", "Master Services Agreement", "legal", (
        "Definitions and Interpretation", "Scope of Services", "Term and Renewal", "Fees and Payment", "Invoicing",
        "Service Levels", "Key Personnel", "Confidentiality", "Intellectual Property", "Data Protection", "Warranties",
        "Limitation of Liability", "Insurance", "Non-Solicitation", "Records and Audit", "Termination",
        "Exit Management", "Dispute Resolution", "Governing Law", "General Provisions",
    ), ("General", "Obligations of the Supplier", "Obligations of the Client", "Procedure", "Exceptions", "Notices")),
    "sow": DocSpec("sow", "Statement of Work: {programme}", "legal", (
        "Background", "Objectives", "Scope", "Deliverables", "Approach and Methodology", "Timeline and Milestones",
        "Governance", "Assumptions", "Dependencies", "Acceptance", "Commercials", "Risks",
    )),
    "report": DocSpec("report", "{programme}: Diagnostic Report", "analysis", (
        "Executive Summary", "Context and Objectives", "Current State Assessment", "Operating Model", "Procurement",
        "Finance", "Technology Landscape", "Customer Experience", "People and Organisation", "Savings Opportunities",
        "Roadmap", "Risks and Mitigations",
    ), ("Findings", "Evidence", "Implications", "Recommendations", "Next Steps")),
    "study": DocSpec("study", "Peer Benchmark Study", "analysis", (
        "Approach", "Peer Group", "Commercial Terms", "Legal Terms", "Service Levels", "Delivery Models",
        "Cost Benchmarks", "Observations",
    ), ("Method", "Results", "Caveats", "Interpretation")),
    "minutes": DocSpec("minutes", "{programme}: Steering Committee Minutes", "meeting", (
        "Attendees", "Progress Update", "Decisions", "Risks and Issues", "Actions", "Next Meeting",
    ), ("Workstream A", "Workstream B", "Workstream C")),
    "notes": DocSpec("notes", "{programme}: Interview Notes", "meeting", (
        "Purpose", "Interview Summary", "Themes", "Quotes", "Follow-up",
    ), ("Finance", "Operations", "Sales", "IT")),
    "email": DocSpec("email", "{programme}: update", "meeting", (), headings=False),
}  # fmt: skip

#: Which document kinds each format is generated as.
KINDS_BY_FORMAT = {
    "pdf": ("msa", "report", "study", "sow", "notes"),
    "docx": ("sow", "report"),
    "md": ("minutes", "notes"),
    "eml": ("email",),
}
#: The format mix of a corpus, in order: mostly PDFs.
FORMAT_CYCLE = ("pdf", "pdf", "docx", "pdf", "md", "pdf", "pdf", "eml", "pdf", "pdf")
FORMAT_NAMES = {"pdf": "PDF", "docx": "DOCX", "md": "Markdown", "eml": "e-mail"}


@dataclass
class Block:
    kind: str  # "title" | "heading" | "subheading" | "paragraph"
    text: str
    #: The top-level section (1-based) it is in; 0 before the first heading.
    section: int
    #: The page it starts on (PDFs; page equivalents for the other formats).
    page: int = 0
    #: Markers of the planted sentences it holds.
    markers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Insert:
    """A sentence to plant in a named section; ``marker`` finds it again (None: a distractor)."""

    section: str
    text: str
    marker: str | None = None


@dataclass
class PlannedDocument:
    filename: str
    title: str
    fmt: str  # "pdf" | "docx" | "md" | "eml"
    kind: str
    client: str
    blocks: list[Block]
    pages: int
    #: The lines of every page as drawn: (block kind, y, text).
    layout: list[list[tuple[str, float, str]]] = field(repr=False, default_factory=list)
    sent: datetime = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
    sender: str = ""
    recipient: str = ""

    def where(self, marker: str) -> tuple[int, int]:
        """(page, top-level section) of the block holding ``marker``."""
        for block in self.blocks:
            if marker in block.markers:
                return block.page, block.section
        raise KeyError(marker)


# ---------------------------------------------------------------------------------------------- page layout

#: A4 in points; the PDF writer draws at 72 dpi so one unit is one point.
PAGE_W, PAGE_H = 595.0, 842.0
MARGIN_X, TOP, BOTTOM = 64.0, 84.0, 770.0
#: (point size, bold, space before, space after, line height) of each kind of block.
STYLES: dict[str, tuple[float, bool, float, float, float]] = {
    "title": (17.0, True, 0.0, 14.0, 22.0),
    "heading": (12.5, True, 12.0, 5.0, 16.0),
    "subheading": (11.0, True, 8.0, 3.0, 14.5),
    "paragraph": (10.5, False, 0.0, 7.0, 14.5),
    "running": (8.5, False, 0.0, 0.0, 11.0),
}
_qt_objects: list[Any] = []  # keeps the application and the metrics device alive


class Fonts:
    """Qt fonts and their metrics on a 72-dpi PDF device; word widths are cached."""

    def __init__(self) -> None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtCore import QBuffer, QByteArray, QIODevice
        from PySide6.QtGui import QFont, QFontMetricsF, QGuiApplication, QPdfWriter

        if QGuiApplication.instance() is None:
            _qt_objects.append(QGuiApplication([]))
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        device = QPdfWriter(buffer)
        device.setResolution(72)
        _qt_objects.extend((data, buffer, device))
        self.fonts: dict[str, Any] = {}
        self._metrics: dict[str, Any] = {}
        for kind, (size, bold, *_rest) in STYLES.items():
            font = QFont()
            font.setFamilies(["DejaVu Sans", "Noto Sans", "Liberation Sans"])
            font.setPointSizeF(size)
            font.setBold(bold)
            self.fonts[kind] = font
            self._metrics[kind] = QFontMetricsF(font, device)
        self._widths: dict[tuple[str, str], float] = {}

    def width(self, kind: str, word: str) -> float:
        key = (kind, word)
        found = self._widths.get(key)
        if found is None:
            found = self._widths[key] = self._metrics[kind].horizontalAdvance(word)
        return found

    def ascent(self, kind: str) -> float:
        return float(self._metrics[kind].ascent())

    def wrap(self, kind: str, text: str, width: float) -> list[str]:
        space = self.width(kind, " ")
        lines: list[str] = []
        current: list[str] = []
        used = 0.0
        for word in text.split():
            advance = self.width(kind, word)
            if current and used + space + advance > width:
                lines.append(" ".join(current))
                current, used = [word], advance
            else:
                used += (space if current else 0.0) + advance
                current.append(word)
        if current:
            lines.append(" ".join(current))
        return lines


class Layout:
    """Pages as the PDF writer draws them; a block never splits across pages, a heading keeps with its text."""

    def __init__(self, fonts: Fonts) -> None:
        self.fonts = fonts
        self.pages: list[list[tuple[str, float, str]]] = [[]]
        self.y = TOP

    def add(self, kind: str, text: str) -> int:
        """Places a block; returns the page (1-based) it is on."""
        _size, _bold, before, after, height = STYLES[kind]
        lines = self.fonts.wrap(kind, text, PAGE_W - 2 * MARGIN_X)
        needed = len(lines) * height + (3 * STYLES["paragraph"][4] if kind in ("heading", "subheading") else 0.0)
        if self.pages[-1] and self.y + before + needed > BOTTOM:
            self.pages.append([])
            self.y = TOP
        y = self.y + (before if self.pages[-1] else 0.0)
        for line in lines:
            self.pages[-1].append((kind, y, line))
            y += height
        self.y = y + after
        return len(self.pages)

    def snapshot(self) -> tuple[int, int, float]:
        return len(self.pages), len(self.pages[-1]), self.y

    def restore(self, state: tuple[int, int, float]) -> None:
        pages, lines, self.y = state
        del self.pages[pages:]
        del self.pages[-1][lines:]


#: Paragraphs a page holds on average (used only to size the first draft of a document).
_PARAGRAPHS_PER_PAGE = 5.0


def compose(
    rng: random.Random,
    spec: DocSpec,
    *,
    fmt: str,
    client: str,
    pages: int,
    fonts: Fonts,
    inserts: Sequence[Insert] = (),
    filename: str,
) -> PlannedDocument:
    """A document of ``spec`` that fills exactly ``pages`` pages, with ``inserts`` planted in their sections.

    Sections get a share of the page budget each (random weights); the last
    pages are filled with annex sections. Each planted sentence gets a
    paragraph of its own in its section, at a random place.
    """
    programme = rng.choice(PROGRAMMES)
    title = spec.title.format(programme=programme)
    layout = Layout(fonts)
    blocks: list[Block] = []

    def add(kind: str, text: str, section: int, markers: tuple[str, ...] = ()) -> None:
        page = layout.add(kind, text)
        blocks.append(Block(kind, text, section, page, markers))

    by_section: dict[str, list[Insert]] = {}
    for insert in inserts:
        if spec.headings and insert.section not in spec.sections:
            raise ValueError(f"{spec.kind} has no section {insert.section!r}")
        by_section.setdefault(insert.section if spec.headings else "", []).append(insert)

    if not spec.headings:  # an e-mail: a greeting, paragraphs, a signature
        add("paragraph", f"Dear {rng.choice(STAFF).split()[0]},", 1)
        planted = by_section.get("", [])
        count = max(len(planted) + 1, int(pages * _PARAGRAPHS_PER_PAGE * 0.7))
        slots = rng.sample(range(count), len(planted))
        for n in range(count):
            chosen = [p for p, slot in zip(planted, slots, strict=True) if slot == n]
            add(
                "paragraph",
                paragraph(rng, spec.register, planted=[p.text for p in chosen]),
                1,
                tuple(p.marker for p in chosen if p.marker),
            )
        _fill(rng, layout, blocks, spec, pages, section=1, annex=False)
        add("paragraph", f"Best regards, {rng.choice(STAFF)}", 1)
        return _finish(spec, fmt, client, title, filename, blocks, layout)

    add("title", title, 0)
    weights = [rng.uniform(0.5, 1.5) for _ in spec.sections]
    budget = pages * _PARAGRAPHS_PER_PAGE * 0.8
    for number, (name, weight) in enumerate(zip(spec.sections, weights, strict=True), start=1):
        planted = by_section.get(name, [])
        count = max(len(planted), 1, round(budget * weight / sum(weights)))
        add("heading", f"{number}. {name}", number)
        topic = SECTION_WORDS.get(name, ())
        slots = dict(zip(rng.sample(range(count), len(planted)), planted, strict=True))
        sub = 0
        for n in range(count):
            if count >= 6 and n and n % rng.randint(3, 5) == 0:
                sub += 1
                add("subheading", f"{number}.{sub} {spec.subheadings[(sub - 1) % len(spec.subheadings)]}", number)
            insert = slots.get(n)
            text = paragraph(rng, spec.register, planted=[insert.text] if insert else [], topic=topic)
            add("paragraph", text, number, (insert.marker,) if insert and insert.marker else ())
    _fill(rng, layout, blocks, spec, pages, section=len(spec.sections), annex=True)
    return _finish(spec, fmt, client, title, filename, blocks, layout)


def _fill(
    rng: random.Random, layout: Layout, blocks: list[Block], spec: DocSpec, pages: int, *, section: int, annex: bool
) -> None:
    """Adds paragraphs (and, in ``annex`` mode, annex sections) until the next one would start page ``pages + 1``."""
    in_annex = 0
    while True:
        state = layout.snapshot()
        added: list[Block] = []
        if annex and in_annex == 0:
            section += 1
            heading = f"Annex {chr(ord('A') + (section - len(spec.sections) - 1) % 26)}: "
            heading += " ".join(_capitalised(w) for w in rng.choice(WORDS["a_area"]).removeprefix("the ").split())
            added.append(Block("heading", heading, section, layout.add("heading", heading)))
            in_annex = rng.randint(4, 9)
        text = paragraph(rng, spec.register)
        added.append(Block("paragraph", text, section, layout.add("paragraph", text)))
        in_annex -= 1
        if len(layout.pages) > pages:
            layout.restore(state)
            return
        blocks.extend(added)


def _finish(
    spec: DocSpec, fmt: str, client: str, title: str, filename: str, blocks: list[Block], layout: Layout
) -> PlannedDocument:
    while len(layout.pages) > 1 and not layout.pages[-1]:
        layout.pages.pop()
    return PlannedDocument(filename, title, fmt, spec.kind, client, blocks, len(layout.pages), layout.pages)


# ---------------------------------------------------------------------------------------------- writers


def write_pdf(document: PlannedDocument, fonts: Fonts) -> bytes:
    """The document drawn page by page with QPainter on a QPdfWriter: running header, text, "Page n of N"."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QPointF
    from PySide6.QtGui import QPageLayout, QPageSize, QPainter, QPdfWriter

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setTitle(document.title)
    writer.setCreator("Dossier benchmark")
    writer.setResolution(72)
    writer.setPageLayout(
        QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait, QMarginsF(0, 0, 0, 0))
    )
    painter = QPainter(writer)
    running = f"{document.client} — {document.title}"
    total = len(document.layout)
    for number, lines in enumerate(document.layout, start=1):
        if number > 1:
            writer.newPage()
        painter.setFont(fonts.fonts["running"])
        painter.drawText(QPointF(MARGIN_X, 48.0), running)
        current = "running"
        for kind, y, text in lines:
            if kind != current:
                painter.setFont(fonts.fonts[kind])
                current = kind
            painter.drawText(QPointF(MARGIN_X, y + fonts.ascent(kind)), text)
        painter.setFont(fonts.fonts["running"])
        painter.drawText(QPointF(MARGIN_X, 800.0), f"Page {number} of {total}")
    painter.end()
    del writer  # finishes the PDF
    buffer.close()
    return bytes(data.data())


def write_docx(document: PlannedDocument) -> bytes:
    import docx

    out = docx.Document()
    out.core_properties.title = document.title
    out.core_properties.author = document.client
    for block in document.blocks:
        if block.kind == "title":
            out.add_heading(block.text, 0)
        elif block.kind == "heading":
            out.add_heading(block.text, 1)
        elif block.kind == "subheading":
            out.add_heading(block.text, 2)
        else:
            out.add_paragraph(block.text)
    stream = io.BytesIO()
    out.save(stream)
    return stream.getvalue()


def write_markdown(document: PlannedDocument) -> bytes:
    marks = {"title": "# ", "heading": "## ", "subheading": "### ", "paragraph": ""}
    return "\n\n".join(marks[b.kind] + b.text for b in document.blocks).encode() + b"\n"


def write_eml(document: PlannedDocument) -> bytes:
    message = EmailMessage()
    message["From"] = document.sender or "Amelia Hart <amelia.hart@consultancy.example>"
    message["To"] = document.recipient or "project-team@client.example"
    message["Date"] = format_datetime(document.sent)
    message["Subject"] = document.title
    message.set_content("\n\n".join(b.text for b in document.blocks) + "\n")
    return bytes(message)


def write(document: PlannedDocument, fonts: Fonts) -> bytes:
    if document.fmt == "pdf":
        return write_pdf(document, fonts)
    if document.fmt == "docx":
        return write_docx(document)
    if document.fmt == "md":
        return write_markdown(document)
    return write_eml(document)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# ---------------------------------------------------------------------------------------------- the speed corpus


@dataclass(frozen=True)
class GeneratedFile:
    path: Path
    fmt: str
    pages: int
    characters: int


def page_split(rng: random.Random, formats: Sequence[str], total: int) -> list[int]:
    """Pages per document: e-mails get one or two, the rest share the remainder by random weights."""
    pages = [rng.randint(1, 2) if f == "eml" else 0 for f in formats]
    others = [i for i, f in enumerate(formats) if f != "eml"]
    left = max(total - sum(pages), len(others))
    weights = {i: rng.lognormvariate(0.0, 0.6) for i in others}
    scale = sum(weights.values())
    for i in others:
        pages[i] = max(1, round(left * weights[i] / scale))
    if others:  # rounding: the largest document takes the difference
        pages[max(others, key=lambda i: pages[i])] += total - sum(pages)
    return pages


def generate_corpus(
    folder: Path, documents: int, pages: int, seed: int, client: str = "Acme Logistics"
) -> list[GeneratedFile]:
    """Writes ``documents`` files totalling about ``pages`` pages into ``folder``."""
    rng = random.Random(f"corpus-{seed}")
    fonts = Fonts()
    formats = [FORMAT_CYCLE[n % len(FORMAT_CYCLE)] for n in range(documents)]
    out: list[GeneratedFile] = []
    for n, (fmt, count) in enumerate(zip(formats, page_split(rng, formats, pages), strict=True)):
        spec = SPECS[rng.choice(KINDS_BY_FORMAT[fmt])]
        planned = compose(rng, spec, fmt=fmt, client=client, pages=count, fonts=fonts, filename="")
        planned.sent = datetime(2026, 3, 2, 9, 0, tzinfo=UTC) + timedelta(days=3 * n, minutes=rng.randrange(600))
        path = folder / f"{n + 1:02d}-{slug(planned.title)}.{fmt}"
        path.write_bytes(write(planned, fonts))
        out.append(GeneratedFile(path, fmt, planned.pages, sum(len(b.text) for b in planned.blocks)))
    return out


# ---------------------------------------------------------------------------------------------- measuring


def ingest_chat(service: MemoryService, project_id: int, plan: PlannedProject) -> int:
    for session in plan.sessions:
        stored = service.start_session(project_id, session.title, started_at=session.started_at)
        service.add_messages(
            stored.id, [NewMessage(Role(m.role), m.content, m.speaker, m.created_at) for m in session.messages]
        )
    service.add_fact(
        project_id, f"Always copy {plan.client_person} on status emails.", FactKind.PREFERENCE, pinned=True
    )
    service.add_fact(project_id, "Never share draft pricing before legal review.", FactKind.DECISION, pinned=True)
    return sum(len(s.messages) for s in plan.sessions)


QUESTION_TEMPLATES = (
    "What does the contract say about {l_object}?",
    "Who has to approve a {l_request}?",
    "What did the review find about {a_area}?",
    "What do we recommend for {a_area}?",
    "Which team should {a_recommendation}?",
    "What happens if the supplier {l_event}?",
    "Who will circulate {m_document}?",
    "Is {a_area} better than at {a_peers}?",
)


def queries(rng: random.Random, count: int) -> list[str]:
    """Questions about the documents (from their vocabulary) and about the chat memory (bench/synthetic.py)."""
    chat = [q for t in CHAT_TOPICS for q in (t.lexical, t.paraphrase)]
    out = chat[: count // 4]
    while len(out) < count:
        template = rng.choice(QUESTION_TEMPLATES)
        out.append(_SLOT.sub(lambda m: rng.choice(WORDS[m.group(1)]), template))
    return out


def timed_contexts(
    service: MemoryService, with_documents: int, without: int, questions: Sequence[str]
) -> tuple[list[float], list[float], int]:
    """Seconds per ``build_context`` call on each project, the two interleaved so both see the same machine.

    Also returns how many document passages the contexts of the first held.
    """
    for project_id in (with_documents, without):
        service.build_context(project_id, "warm-up question about the budget", 1000)
    timings: dict[int, list[float]] = {with_documents: [], without: []}
    passages = 0
    for n, question in enumerate(questions):
        for project_id in (with_documents, without) if n % 2 else (without, with_documents):
            started = time.perf_counter()
            context = service.build_context(project_id, question, 1000)
            timings[project_id].append(time.perf_counter() - started)
            if project_id == with_documents:
                passages += sum(1 for item in context.items if item.document_id is not None)
    return timings[with_documents], timings[without], passages


def main() -> int:
    from app.documents.chunking import chunk_document
    from app.documents.library import add_files
    from app.documents.parsing import parse_file
    from memory.indexing import EMBED_CHARS, SYNC_BATCH, searchable_chunk_text

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--documents", type=int, default=50)
    parser.add_argument("--pages", type=int, default=2000, help="pages in all (page equivalents for non-PDFs)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to wait before timing queries")
    parser.add_argument("--quick", action="store_true", help="8 documents, 60 pages, 40 queries, a small chat memory")
    args = parser.parse_args()
    sessions, per_session = 30, 24
    if args.quick:
        args.documents, args.pages, args.queries, args.settle = 8, 60, 40, 1.0
        sessions, per_session = 10, 12
    if args.documents < 1 or args.pages < args.documents:
        parser.error("need at least one document and one page per document")

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        started = time.perf_counter()
        files = generate_corpus(corpus, args.documents, args.pages, args.seed)
        generation = time.perf_counter() - started
        pages = sum(f.pages for f in files)
        pdf_pages = sum(f.pages for f in files if f.fmt == "pdf")
        by_format = ", ".join(
            f"{sum(1 for f in files if f.fmt == fmt)} {FORMAT_NAMES[fmt]}" for fmt in ("pdf", "docx", "md", "eml")
        )
        megabytes = sum(f.path.stat().st_size for f in files) / 1e6
        load = os.getloadavg()[0]
        print(
            f"corpus: {len(files)} documents ({by_format}), {pages:,} pages ({pdf_pages:,} PDF pages, "
            f"{pages - pdf_pages:,} page equivalents), {sum(f.characters for f in files) / 1e6:.1f} M characters, "
            f"{megabytes:.1f} MB; generated in {generation:.1f} s (seed {args.seed}; not counted below)",
            flush=True,
        )

        embedder = TimedEmbedder(MiniLMEmbedder())
        with MemoryService.open(Path(tmp) / "data", embedder=embedder) as service:
            warm = service.create_project("warm-up")  # loads the embedder and Chroma before anything is timed
            service.search(warm.id, "warm up")
            # Two projects with the same chat memory; the first gets the documents, the second is the baseline.
            project = service.create_project("Acme Logistics")
            baseline = service.create_project("Acme Logistics, no documents")
            plan = generate_project("Acme Logistics", args.seed, sessions=sessions, per_session=per_session)
            for project_id in (project.id, baseline.id):
                messages = ingest_chat(service, project_id, plan)
            service.wait_for_index()

            embedder.seconds = 0.0
            started = time.perf_counter()
            report = add_files(service, project.id, [f.path for f in files], max_bytes=1 << 30)
            searchable = time.perf_counter() - started
            service.wait_for_index()
            indexed = time.perf_counter() - started
            embedding_share = embedder.seconds / indexed
            if report.failed or len(report.added) != len(files):
                print(f"add_files did not add every file: {report.summary()}")
                return 1
            chunks = [c for d in report.added for c in service.document_chunks(d.id)]
            time.sleep(args.settle)
            questions = queries(random.Random(args.seed), args.queries)
            after, before, passages_in_context = timed_contexts(service, project.id, baseline.id, questions)

        # Baselines on the same files and passages, in the same run, after the service is closed.
        texts = [searchable_chunk_text(c.heading_path, c.text)[:EMBED_CHARS] for c in chunks]
        tokenizer = embedder.inner._runtime()[0]  # the bench reports what the model sees
        lengths = [len(e.ids) for e in tokenizer.encode_batch(texts)]
        started = time.perf_counter()
        for start in range(0, len(texts), SYNC_BATCH):
            embedder.inner.embed(texts[start : start + SYNC_BATCH])
        embed_alone = time.perf_counter() - started
        started = time.perf_counter()
        parsed_chunks = 0
        for f in files:
            parsed, _original = parse_file(f.path, max_bytes=1 << 30)
            parsed_chunks += len(chunk_document(parsed))
        parse_alone = time.perf_counter() - started

    n = len(chunks)
    cut = sum(1 for length in lengths if length > 256) / len(lengths)
    print(
        f"passages: {n:,} ({n / pages:.1f} per page), {statistics.fmean(lengths):.0f} MiniLM tokens on average "
        f"with their headings; {cut:.0%} longer than the 256 the model reads"
    )
    print(f"{'':<46}{'seconds':>9}{'pages/s':>10}{'passages/s':>12}")

    def row(label: str, seconds: float) -> None:
        print(f"{label:<46}{seconds:>9.1f}{pages / seconds:>10.1f}{n / seconds:>12.1f}")

    row("parsing and chunking alone (same files)", parse_alone)
    row("keyword-searchable (add_files returns)", searchable)
    row("fully embedded (wait_for_index returns)", indexed)
    row("the embedder alone (same passages, batches)", embed_alone)
    print(
        f"add_files ÷ parsing alone (time): {searchable / parse_alone:.2f}; embedding took {embedding_share:.0%} "
        f"of the time to fully embedded"
    )
    print(f"index rate ÷ embedder rate (passages/s, the figure to quote): {embed_alone / indexed:.2f}")
    print(
        f"machine load (1-minute average, 2 means both cores busy): {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    if parsed_chunks != n:
        print(f"warning: parsing alone gave {parsed_chunks} passages, add_files {n}")

    b50, b95 = percentiles(before)
    a50, a95 = percentiles(after)
    print(f"build_context, 1,000 tokens, {len(questions)} questions:     p50        p95")
    print(f"  no documents ({messages} chat messages){'':<7}{b50 * 1e3:>7.1f} ms {b95 * 1e3:>7.1f} ms")
    print(f"  the same, with the {n:,} passages{'':<10}{a50 * 1e3:>7.1f} ms {a95 * 1e3:>7.1f} ms")
    print(
        f"  with ÷ without: p50 {a50 / b50:.2f}, p95 {a95 / b95:.2f}; "
        f"passages per context: {passages_in_context / len(questions):.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
