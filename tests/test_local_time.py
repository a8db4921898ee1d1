"""Times are stored in UTC and read in the user's time zone.

A consultant in Los Angeles who says "the launch is tomorrow" at 22:30 on
9 March means the 10th, though it is already the 10th in UTC; the session
list, the context given to the model and the brief must say the 9th too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from app.assistant.extraction import MemoryExtractor
from app.portability.brief import compose_brief, render_markdown
from memory import MemoryService
from tests.conftest import Run

#: 22:30 on Monday 9 March 2026 in Los Angeles (UTC-7 after the change to summer time on the 8th).
EVENING_IN_LA = datetime(2026, 3, 10, 5, 30, tzinfo=UTC)


@pytest.fixture
def in_los_angeles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_relative_date_means_the_day_where_the_user_is(service: MemoryService, in_los_angeles: None) -> None:
    project = service.create_project("Acme").id
    session = service.start_session(project, started_at=EVENING_IN_LA)
    said = service.add_message(
        session.id, "user", "We agreed with Dana that the launch is tomorrow.", created_at=EVENING_IN_LA
    )
    MemoryExtractor(service, None).process(project, said)
    assert [p.text for p in service.list_proposals(project)] == [
        "We agreed with Dana that the launch is tomorrow (10 March 2026)."
    ]


def test_the_context_dates_what_it_quotes_in_local_time(service: MemoryService, in_los_angeles: None) -> None:
    project = service.create_project("Acme").id
    session = service.start_session(project, started_at=EVENING_IN_LA)
    service.add_message(
        session.id, "user", "The venue for the launch party is the Harbor Loft.", created_at=EVENING_IN_LA
    )
    context = service.build_context(project, "Where is the launch party?", 500)
    assert "- [2026-03-09] user: The venue for the launch party is the Harbor Loft." in context.text.splitlines()


def test_lists_and_briefs_show_the_local_day(run: Run, data_dir: object, in_los_angeles: None) -> None:
    assert run("project", "create", "Acme")[0] == 0
    with MemoryService.open(data_dir) as service:  # type: ignore[arg-type]
        project = service.list_projects()[0].id
        session = service.start_session(project, "Kick-off", started_at=EVENING_IN_LA)
        service.add_message(session.id, "user", "Kick-off held with Dana.", created_at=EVENING_IN_LA)
        service.set_session_summary(session.id, "Kick-off held with Dana.")
        brief = render_markdown(compose_brief(service, project))
    code, out, _ = run("session", "list", "--project", "Acme")
    assert code == 0
    assert "2026-03-09" in out and "2026-03-10" not in out
    assert "2026-03-09" in brief and "2026-03-10" not in brief
