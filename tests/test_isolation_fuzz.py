"""Isolation fuzzing: no search, context, brief, export, inbox or document list of one project shows another's memory.

Hypothesis builds random worlds of projects over a shared vocabulary, so
that other projects' items are always tempting matches, in one real data dir
that keeps growing from case to case. Every text stored for a project
carries that project's marker word; a project's outputs may hold its own
markers and global facts' markers, never another project's. Ids are checked
too. ``DOSSIER_STRESS=1`` tries more cases.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.assistant.extraction import inbox_entries
from app.portability.brief import BriefOptions, compose_brief, render_html, render_markdown
from memory import (
    FactKind,
    InvalidInputError,
    MemoryService,
    NewChunk,
    NewDocument,
    NewMessage,
    NotFoundError,
    ProposalAction,
    Role,
    SearchMode,
)
from memory.embedding import MiniLMEmbedder

CASES = 300 if os.environ.get("DOSSIER_STRESS") == "1" else 40
VOCABULARY = (
    "budget invoice contract deadline launch warehouse carrier rebrand audit supplier "
    "logo tone meeting Monday Rotterdam Jane pricing renewal"
).split()

#: A project's marker word; every text stored for a project carries its marker.
MARKER = re.compile(r"zz\d+qq")

words = st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=8).map(" ".join)


@st.composite
def project_plans(draw: st.DrawFn) -> dict[str, object]:
    return {
        "facts": draw(st.lists(st.tuples(words, st.sampled_from(list(FactKind)), st.booleans()), max_size=5)),
        "sessions": draw(
            st.lists(
                st.tuples(st.lists(st.tuples(st.sampled_from([Role.USER, Role.ASSISTANT]), words), max_size=4), words),
                max_size=2,
            )
        ),
        "tone": draw(st.one_of(st.none(), words)),
        "proposals": draw(st.lists(words, max_size=2)),
        "steal_fact": draw(st.booleans()),
        "documents": draw(st.lists(st.lists(words, min_size=1, max_size=3), max_size=2)),
        "steal_document": draw(st.booleans()),
    }


def document_of(paragraphs: list[str], marker: str, serial: int) -> NewDocument:
    """A document whose every passage carries the project's marker (one passage per page)."""
    pages = [f"{text} {marker}" for text in paragraphs]
    text = "\n\n".join(pages)
    chunks, start = [], 0
    for n, page in enumerate(pages):
        chunks.append(NewChunk(n, page, start, start + len(page), page=n + 1, heading_path=f"Clause {marker}"))
        start += len(page) + 2
    return NewDocument(
        filename=f"contract-{marker}.pdf",
        title=f"Contract {marker}",
        media_type="application/pdf",
        original=f"%PDF {marker} {serial}".encode(),
        text=text,
        chunks=tuple(chunks),
        pages=len(pages),
    )


@dataclass
class Owned:
    """What one project holds, to check its outputs against."""

    project_id: int
    markers: set[str] = field(default_factory=set)
    fact_ids: set[int] = field(default_factory=set)
    message_ids: set[int] = field(default_factory=set)
    session_ids: set[int] = field(default_factory=set)
    document_ids: set[int] = field(default_factory=set)


def test_no_project_ever_sees_another_projects_memory(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    serial = itertools.count(1)
    global_markers: set[str] = set()
    global_fact_ids: set[int] = set()
    cases = 0
    checks = 0

    def marker() -> str:
        return f"zz{next(serial)}qq"

    with MemoryService.open(tmp_path / "data", embedder=embedder) as service:

        def build(plans: list[dict[str, object]], global_words: list[str]) -> list[Owned]:
            for text in global_words:
                m = marker()
                global_fact_ids.add(service.add_fact(None, f"{text} {m}").id)
                global_markers.add(m)
            owned = []
            for plan in plans:
                m = marker()
                project = service.create_project(f"Project {m}", f"Client {m}")
                mine = Owned(project.id, {m})
                for text, kind, pinned in plan["facts"]:  # type: ignore[attr-defined]
                    mine.fact_ids.add(service.add_fact(project.id, f"{text} {m}", kind, pinned=pinned).id)
                for messages, summary in plan["sessions"]:  # type: ignore[attr-defined]
                    session = service.start_session(project.id, f"Call {m}")
                    mine.session_ids.add(session.id)
                    stored = service.add_messages(session.id, [NewMessage(role, f"{t} {m}") for role, t in messages])
                    mine.message_ids |= {s.id for s in stored}
                    if stored:
                        service.set_session_summary(session.id, f"{summary} {m}", through_message_id=stored[-1].id)
                if plan["tone"]:
                    service.set_voice(project.id, tone=f"{plan['tone']} {m}", samples=[f"Sample {m}"])
                for text in plan["proposals"]:  # type: ignore[attr-defined]
                    service.propose(project.id, ProposalAction.ADD, f"{text} {m}")
                for paragraphs in plan["documents"]:  # type: ignore[attr-defined]
                    document = service.add_document(project.id, document_of(paragraphs, m, next(serial)))
                    mine.document_ids.add(document.id)
                owned.append(mine)
            # Someone tries to point a proposal at another project's fact: refused.
            for plan, mine, other in zip(plans, owned, owned[1:], strict=False):
                if plan["steal_fact"] and other.fact_ids:
                    target = min(other.fact_ids)
                    try:
                        service.propose(
                            mine.project_id, ProposalAction.UPDATE, f"stolen {marker()}", target_fact_id=target
                        )
                    except (InvalidInputError, NotFoundError):
                        pass
                    else:
                        raise AssertionError("a proposal was allowed to target another project's fact")
                if plan["steal_document"] and other.document_ids:
                    try:
                        service.propose(
                            mine.project_id,
                            ProposalAction.ADD,
                            f"stolen {marker()}",
                            source_document=(min(other.document_ids), "p.1"),
                        )
                    except (InvalidInputError, NotFoundError):
                        pass
                    else:
                        raise AssertionError("a proposal was allowed to cite another project's document")
            return owned

        def outputs(mine: Owned, queries: list[str]) -> dict[str, str]:
            """Every way a project's memory leaves the service, as text, plus id checks."""
            nonlocal checks
            texts: dict[str, str] = {}
            for query in queries:
                hits = [h for mode in SearchMode for h in service.search(mine.project_id, query, 50, mode=mode)]
                for hit in hits:
                    checks += 1
                    assert hit.project_id == mine.project_id or hit.is_global, hit
                    assert set(hit.fact_ids) <= mine.fact_ids | global_fact_ids, hit
                    assert set(hit.message_ids) <= mine.message_ids, hit
                    assert hit.session_id is None or hit.session_id in mine.session_ids, hit
                    assert hit.document_id is None or hit.document_id in mine.document_ids, hit
                    texts[f"search {query!r} {hit.key}"] = f"{hit.text} {hit.source_title} {hit.citation}"
                context = service.build_context(mine.project_id, query, 2_000)
                checks += 1
                for item in context.items:
                    assert set(item.fact_ids) <= mine.fact_ids | global_fact_ids, item
                    assert set(item.message_ids) <= mine.message_ids, item
                    assert item.document_id is None or item.document_id in mine.document_ids, item
                texts[f"context {query!r}"] = context.text
            for include_global in (False, True):
                brief = compose_brief(service, mine.project_id, BriefOptions(include_global=include_global))
                texts[f"brief md global={include_global}"] = render_markdown(brief)
                texts[f"brief html global={include_global}"] = render_html(brief)
            texts["export"] = json.dumps(service.export_project(mine.project_id), ensure_ascii=False)
            texts["inbox"] = "\n".join(f"{e.change} {e.proposal.text}" for e in inbox_entries(service, mine.project_id))
            for proposal in service.list_proposals(mine.project_id):
                assert proposal.project_id == mine.project_id
                assert proposal.source_document_id is None or proposal.source_document_id in mine.document_ids
            documents = service.list_documents(mine.project_id, include_removed=True)
            assert {d.id for d in documents} == mine.document_ids
            texts["documents"] = "\n".join(f"{d.title} {d.filename} {service.document_text(d.id)}" for d in documents)
            checks += 4
            return texts

        @settings(
            max_examples=CASES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(
            plans=st.lists(project_plans(), min_size=2, max_size=3),
            global_words=st.lists(words, max_size=1),
            queries=st.lists(words, min_size=1, max_size=3),
        )
        def case(plans: list[dict[str, object]], global_words: list[str], queries: list[str]) -> None:
            nonlocal cases
            cases += 1
            owned = build(plans, global_words)
            for mine in owned:
                # Another project's marker as a query too: the strongest pull there is.
                bait = [next(iter(o.markers)) for o in owned if o is not mine]
                allowed = mine.markers | global_markers
                for where, text in outputs(mine, queries + bait).items():
                    leaked = sorted(set(MARKER.findall(text)) - allowed)
                    assert not leaked, f"project {mine.project_id}'s {where} shows {leaked}:\n{text[:2000]}"

        case()
        projects = len(service.list_projects())
    assert cases == CASES
    print(f"\nisolation fuzzing: {cases} cases tried, {projects} projects in one data dir, {checks:,} outputs checked")
