"""``dossier mcp``: the memory served to other AI tools, talked to with the MCP SDK's own client.

Each server is a real ``python -m cli … mcp`` subprocess on one data folder, and
the embedding model loads in each, so the module starts four, most shared by
several tests: a stdio server over one project (spoken to as Claude Desktop
does, with the initialize handshake), an HTTP server over every active project
(spoken to as a 2026 client does, without one), a short-lived read-only one,
and one spoken to in raw JSON lines to see that stdout carries nothing else.
Meanwhile this process keeps the memory service open on the same folder, as
the window would be.

The SDK's client is async; a blocking portal runs it on a thread of its own,
so each test calls tools plainly and waits on their answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, Implementation

from app.assistant.extraction import inbox_entries
from app.assistant.text import shareable
from memory import FactKind, MemoryService, NewChunk, NewDocument, Project, Role
from memory.embedding import MiniLMEmbedder
from tests.conftest import Run

ROOT = Path(__file__).resolve().parents[1]
#: Longest wait for a server to start or answer: a busy CI machine, never a sleep.
PATIENCE = 90.0


@dataclass
class Memory:
    """The data folder the servers share, and what the tests know is in it."""

    folder: Path
    service: MemoryService
    acme: Project
    globex: Project
    archived: Project
    budget_fact: int
    deadline_fact: int
    global_fact: int
    globex_fact: int
    archived_fact: int


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMEmbedder) -> Iterator[Memory]:
    folder = tmp_path_factory.mktemp("mcp") / "data"
    with MemoryService.open(folder, embedder=embedder) as service:
        acme = service.create_project("Acme Rebrand", "Logo, guidelines, launch")
        budget = service.add_fact(acme.id, "Budget is 40k EUR", FactKind.DECISION)
        service.edit_fact(budget.id, "Budget is 45k EUR, excluding VAT")
        deadline = service.add_fact(acme.id, "Launch is on 3 March", FactKind.DEADLINE, pinned=True)
        own = service.add_fact(None, "I invoice monthly", FactKind.PREFERENCE)
        session = service.start_session(acme.id, "Kickoff")
        service.add_message(
            session.id,
            Role.OTHER,
            "Can the budget stretch to the extra print run?",
            speaker="Jane",
            external_id="slack:C1/42",
        )
        service.set_session_summary(session.id, "Kickoff: the budget ceiling and the print run were discussed.")
        staging = service.start_session(acme.id, "Staging")
        service.add_message(
            staging.id, Role.USER, "The staging server password is Tulip-4471. The staging server moves to Frankfurt."
        )
        service.add_fact(acme.id, "Staging server admin login: admin / Sommer2025!", FactKind.NOTE)
        notes = "The staging server moves to Frankfurt in the spring."
        service.add_document(
            acme.id,
            NewDocument(
                filename="staging.txt",
                title="Staging server password: Xy7kLm9qZ",  # a file's own title, read from it
                media_type="text/plain",
                original=notes.encode(),
                text=notes,
                chunks=(NewChunk(0, notes, 0, len(notes), page=None),),
            ),
        )
        page = "The fixed fee for the rebrand is a budget of 45,000 EUR, payable in two parts."
        service.add_document(
            acme.id,
            NewDocument(
                filename="contract.pdf",
                title="Services contract",
                media_type="application/pdf",
                original=b"%PDF-1.7 contract",
                text=page,
                chunks=(NewChunk(0, page, 0, len(page), page=12, heading_path="Fees"),),
                pages=12,
            ),
        )
        globex = service.create_project("Globex")
        secret = service.add_fact(globex.id, "Globex budget secret: merger with Initech", FactKind.NOTE)
        archived = service.create_project("Hidden Archive")
        old = service.add_fact(archived.id, "Hidden archive budget of 9 million", FactKind.NOTE)
        archived = service.archive_project(archived.id)
        assert service.wait_for_index(PATIENCE)
        yield Memory(folder, service, acme, globex, archived, budget.id, deadline.id, own.id, secret.id, old.id)


class Session:
    """One MCP client connection, called from the test's thread."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, client: Client) -> None:
        self.portal, self.client = portal, client

    def tool_names(self) -> set[str]:
        return {t.name for t in self.portal.call(self.client.list_tools).tools}

    def schema(self, tool: str) -> dict[str, Any]:
        return next(t.input_schema for t in self.portal.call(self.client.list_tools).tools if t.name == tool)

    def call(self, tool: str, **arguments: Any) -> CallToolResult:
        return self.portal.call(self.client.call_tool, tool, arguments)

    def ok(self, tool: str, **arguments: Any) -> Any:
        result = self.call(tool, **arguments)
        assert not result.is_error, _text(result)
        return result.structured_content if result.structured_content is not None else _text(result)

    def refused(self, tool: str, **arguments: Any) -> str:
        result = self.call(tool, **arguments)
        assert result.is_error, _text(result)
        return _text(result)


def _text(result: CallToolResult) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


@contextlib.contextmanager
def connected(client: Any) -> Iterator[Session]:
    """Runs ``client`` (an async context manager giving a Client) on a portal thread, closed at the end."""
    with anyio.from_thread.start_blocking_portal() as portal, portal.wrap_async_context_manager(client) as entered:
        yield Session(portal, entered)


def _environment() -> dict[str, str]:
    # The SDK hands a stdio server only a few variables by default; the test's fake
    # HOME, data and models folders (conftest) must reach it too.
    return dict(os.environ)


@contextlib.asynccontextmanager
async def stdio(folder: Path, *options: str, name: str, errlog: Path) -> AsyncIterator[Client]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "cli", "--data-dir", str(folder), "mcp", *options],
        env=_environment(),
        cwd=ROOT,
    )
    with errlog.open("a") as errors:
        transport = stdio_client(params, errlog=errors)
        # mode="legacy": the initialize handshake, as Claude Desktop and Cursor speak it today.
        async with Client(
            transport,
            client_info=Implementation(name=name, version="1.0"),
            mode="legacy",
            read_timeout_seconds=PATIENCE,
        ) as client:
            yield client


@contextlib.asynccontextmanager
async def over_http(url: str, token: str, name: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=PATIENCE) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(
            transport, client_info=Implementation(name=name, version="2.0"), read_timeout_seconds=PATIENCE
        ) as client:
            yield client


@pytest.fixture(scope="module")
def claude(memory: Memory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """A stdio server over Acme Rebrand, its client named as Claude Desktop names itself (with hostile bytes)."""
    errlog = tmp_path_factory.mktemp("stdio") / "stderr.txt"
    with connected(
        stdio(memory.folder, "--project", "acme rebrand", name="Claude\u202e Desktop\x1b\x07", errlog=errlog)
    ) as session:
        yield session
    assert "serving project Acme Rebrand over stdio" in errlog.read_text()
    assert "Traceback" not in errlog.read_text()


@dataclass
class HttpServer:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    stderr: bytes


def _read_until(process: subprocess.Popen[bytes], pattern: re.Pattern[bytes]) -> tuple[re.Match[bytes], bytes]:
    """Reads the process's stderr until ``pattern`` shows, it exits, or PATIENCE runs out."""
    assert process.stderr is not None
    seen, deadline = b"", time.monotonic() + PATIENCE
    while (match := pattern.search(seen)) is None:
        ready, _, _ = select.select([process.stderr], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(process.stderr.fileno(), 65536) if ready else b""
        if not chunk:
            process.kill()
            process.wait()
            raise AssertionError(f"the server did not start: {seen.decode(errors='replace')}")
        seen += chunk
    return match, seen


@pytest.fixture(scope="module")
def http_server(memory: Memory) -> Iterator[HttpServer]:
    """An HTTP server over every active project, on a free loopback port it picks itself."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "--data-dir", str(memory.folder), "mcp", "--http", "0"],
        cwd=ROOT,
        env=_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        match, seen = _read_until(process, re.compile(rb"at (http://127\.0\.0\.1:\d+/mcp).*\n.*Bearer ([\w-]+)'"))
        yield HttpServer(match[1].decode(), match[2].decode(), process, seen)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=PATIENCE)
        # It stops cleanly on SIGTERM, and writes nothing to stdout; the token is never in a file.
        assert process.returncode == 0, err
        assert out == b"" and b"stopped" in err
        token = match[2]
        assert not any(token in p.read_bytes() for p in memory.folder.rglob("*") if p.is_file())
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.fixture(scope="module")
def cursor(http_server: HttpServer) -> Iterator[Session]:
    with connected(over_http(http_server.url, http_server.token, "Cursor")) as session:
        yield session


# ------------------------------------------------------------------ one project, over stdio


def test_a_project_server_offers_its_tools_and_none_takes_a_project(claude: Session) -> None:
    assert claude.tool_names() == {
        "search_memory",
        "get_context",
        "list_facts",
        "get_fact",
        "get_brief",
        "propose_memory",
    }
    for tool in claude.tool_names():
        assert "project" not in claude.schema(tool).get("properties", {}), tool


def test_search_returns_facts_summaries_messages_and_passages_with_their_sources(
    claude: Session, memory: Memory
) -> None:
    results = claude.ok("search_memory", query="budget", k=20)["results"]
    by_kind = {r["kind"]: r for r in results}
    assert set(by_kind) >= {"fact", "summary", "messages", "chunk"}
    passage = by_kind["chunk"]
    assert passage["source"]["title"] == "Services contract › Fees"
    assert re.fullmatch(r"D\d+ p\.12", passage["source"]["citation"])
    assert "45,000 EUR" in passage["text"] and passage["date"]
    message = by_kind["messages"]
    assert message["external_ids"] == ["slack:C1/42"] and message["source"]["speaker"] == "Jane"
    assert any(r["key"] == f"fact:{memory.budget_fact}" for r in results)
    # Nothing of another project, whatever matches the words.
    assert not any("Globex" in r["text"] or "Hidden" in r["text"] for r in results)
    # A global fact comes marked as the user's own.
    mine = claude.ok("search_memory", query="how do I invoice", k=5)["results"]
    assert any(r["key"] == f"fact:{memory.global_fact}" and r["global"] for r in mine)


def test_context_is_the_block_a_dossier_turn_gets(claude: Session, memory: Memory) -> None:
    message = "How much budget is left for the launch?"
    given = claude.ok("get_context", message=message, budget_tokens=400)
    expected = memory.service.build_context(memory.acme.id, message, 400)
    assert given["text"] == shareable(expected.text, one_item=False)  # what holds a secret left out
    assert [item["key"] for item in given["items"]] == [item.key for item in expected.items]
    assert given["tokens"] <= 400
    assert any(item["key"] == f"fact:{memory.deadline_fact}" and item["source"] == "pinned" for item in given["items"])


def test_no_password_leaves_through_any_tool(claude: Session, memory: Memory) -> None:
    """A client may be a cloud service: what holds a secret is left out, the rest of the memory is not."""
    answers = [
        claude.ok("search_memory", query="staging server password", k=10),
        claude.ok("get_context", message="Where does the staging server go, and how do I log in?", budget_tokens=800),
        claude.ok("list_facts"),
        claude.ok("get_brief"),
    ]
    shown = json.dumps(answers, ensure_ascii=False)
    assert "Tulip-4471" not in shown and "Sommer2025" not in shown and "Xy7kLm9qZ" not in shown
    assert "[left out: a password or key]" in shown and "The staging server moves to Frankfurt." in shown


def test_facts_are_listed_filtered_and_shown_with_their_history(claude: Session, memory: Memory) -> None:
    listed = claude.ok("list_facts")["facts"]
    assert {f["id"] for f in listed} >= {memory.budget_fact, memory.deadline_fact, memory.global_fact}
    assert not {memory.globex_fact, memory.archived_fact} & {f["id"] for f in listed}
    assert next(f for f in listed if f["id"] == memory.global_fact)["global"] is True
    assert [f["id"] for f in claude.ok("list_facts", kind="deadline")["facts"]] == [memory.deadline_fact]
    assert [f["id"] for f in claude.ok("list_facts", pinned=True)["facts"]] == [memory.deadline_fact]
    shown = claude.ok("get_fact", id=memory.budget_fact)
    assert shown["fact"]["text"] == "Budget is 45k EUR, excluding VAT"
    assert [(v["version"], v["action"], v["text"]) for v in shown["history"]] == [
        (1, "created", "Budget is 40k EUR"),
        (2, "edited", "Budget is 45k EUR, excluding VAT"),
    ]
    assert claude.ok("get_fact", id=memory.global_fact)["fact"]["global"] is True


def test_no_id_or_argument_reaches_outside_the_project(claude: Session, memory: Memory) -> None:
    missing = claude.refused("get_fact", id=987654)
    for other in (memory.globex_fact, memory.archived_fact):
        # Another project's fact is answered exactly like one that does not exist.
        assert claude.refused("get_fact", id=other) == missing.replace("987654", str(other))
    for hostile in (10**30, -1, 0, 2**63):
        assert f"No fact {hostile} in this project" in claude.refused("get_fact", id=hostile)
    # A project argument is not part of these tools; passing one changes nothing.
    for name in ("Globex", str(memory.globex.id), "Hidden Archive", "'; DROP TABLE facts; --"):
        found = claude.ok("search_memory", query="budget secret merger Initech million", project=name)
        assert found["project"] == "Acme Rebrand"
        assert not any("Initech" in r["text"] or "9 million" in r["text"] for r in found["results"])
    context = claude.ok("get_context", message="Globex merger with Initech; hidden archive 9 million")
    assert "Initech" not in context["text"] and "9 million" not in context["text"]
    brief = claude.ok("get_brief", include_global=True)
    assert brief.startswith("# Acme Rebrand") and "I invoice monthly" in brief
    assert "Initech" not in brief and "9 million" not in brief
    assert "I invoice monthly" not in claude.ok("get_brief")


def test_bad_arguments_are_tool_errors_and_the_server_keeps_answering(claude: Session, memory: Memory) -> None:
    refusals = {
        "empty query": claude.refused("search_memory", query="   "),
        "k too large": claude.refused("search_memory", query="budget", k=51),
        "k zero": claude.refused("search_memory", query="budget", k=0),
        "k not a number": claude.refused("search_memory", query="budget", k="many"),
        "escape in query": claude.refused("search_memory", query="budget\x1b[31m"),
        "huge query": claude.refused("search_memory", query="budget " * 2000),
        "unknown kind": claude.refused("list_facts", kind="gossip"),
        "zero budget": claude.refused("get_context", message="budget", budget_tokens=0),
        "huge message": claude.refused("get_context", message="x" * 20_001),
        "empty message": claude.refused("get_context", message=""),
        "huge text": claude.refused("propose_memory", text="y" * 10_001, kind="fact", reason=""),
        "control text": claude.refused("propose_memory", text="Ring \x07 twice", kind="fact", reason=""),
        "unknown proposal kind": claude.refused("propose_memory", text="A thing", kind="rumour", reason=""),
        "a secret": claude.refused("propose_memory", text="The Acme portal password is Hunter2024", kind="fact"),
        "a secret as the reason": claude.refused(
            "propose_memory", text="Dana runs the portal", kind="fact", reason="Her VPN password is Hunter2024"
        ),
        "fact id as text": claude.refused("get_fact", id="seven"),
        "no id": claude.refused("get_fact"),
    }
    expected = {
        "empty query": "Query is empty",
        "k too large": "less than or equal to 50",
        "k zero": "greater than or equal to 1",
        "k not a number": "valid integer",
        "escape in query": "control character (U+001B)",
        "huge query": "Query is too long",
        "unknown kind": "Fact kind must be one of",
        "zero budget": "greater than or equal to 1",
        "huge message": "message is too long",
        "empty message": "message is empty",
        "huge text": "Proposed fact is too long",
        "control text": "control character (U+0007)",
        "unknown proposal kind": "Fact kind must be one of",
        "a secret": "looks like a password, key or account number",
        "a secret as the reason": "looks like a password, key or account number",
        "fact id as text": "valid integer",
        "no id": "Field required",
    }
    for case, message in refusals.items():
        assert expected[case] in message, (case, message)
        assert "Traceback" not in message and 'File "' not in message, (case, message)
    assert claude.ok("search_memory", query="budget", k=1)["results"]
    assert not any("Hunter2024" in p.text for p in memory.service.list_proposals(memory.acme.id))


def test_a_proposal_waits_in_the_inbox_with_its_client_and_changes_no_fact(claude: Session, memory: Memory) -> None:
    facts_before = memory.service.list_facts(memory.acme.id, include_archived=True)
    listed_before = claude.ok("list_facts")["count"]
    filed = claude.ok(
        "propose_memory", text="Jane prefers calls on Tuesdays", kind="preference", reason="She said so today"
    )
    assert filed["status"] == "pending"
    entry = next(e for e in inbox_entries(memory.service, memory.acme.id) if e.proposal.id == filed["proposal_id"])
    assert entry.proposal.origin == "mcp:Claude Desktop"  # its name, without the escape and bidi bytes it sent
    assert entry.source == "via MCP, from Claude Desktop"
    assert (entry.proposal.text, entry.proposal.kind, entry.headline) == (
        "Jane prefers calls on Tuesdays",
        FactKind.PREFERENCE,
        "She said so today",
    )
    assert memory.service.list_facts(memory.acme.id, include_archived=True) == facts_before
    assert claude.ok("list_facts")["count"] == listed_before
    # The same memory again (a client retrying) files nothing new; a known fact is not proposed.
    again = claude.ok("propose_memory", text="jane prefers  calls on tuesdays", kind="preference", reason="")
    assert again["proposal_id"] == filed["proposal_id"]
    known = claude.ok("propose_memory", text="Launch is on 3 March", kind="deadline", reason="")
    assert (known["status"], known["fact_id"]) == ("already known", memory.deadline_fact)
    assert len(memory.service.list_proposals(memory.acme.id)) == 1


def test_a_fact_added_by_another_process_is_seen_at_once(claude: Session, memory: Memory) -> None:
    fact = memory.service.add_fact(memory.acme.id, "The printer is Offset Bros in Leeds", FactKind.CONTACT)
    assert fact.id in {f["id"] for f in claude.ok("list_facts", kind="contact")["facts"]}
    assert claude.ok("get_fact", id=fact.id)["fact"]["text"] == fact.text
    found = claude.ok("search_memory", query="printer Leeds", k=3)["results"]
    assert found[0]["key"] == f"fact:{fact.id}"
    memory.service.archive_fact(fact.id)
    assert fact.id not in {f["id"] for f in claude.ok("list_facts")["facts"]}


def test_meaning_search_finds_a_fact_added_by_another_process(claude: Session, memory: Memory) -> None:
    fact = memory.service.add_fact(memory.acme.id, "Our printer is a small family firm in Leeds", FactKind.CONTACT)
    query = "which company produces our brochures"
    try:
        # The query finds it by meaning alone (no shared word) where the vector was written...
        assert f"fact:{fact.id}" in [h.key for h in memory.service.search(memory.acme.id, query, 5)]
        # ...and should in the running server too.
        assert f"fact:{fact.id}" in [r["key"] for r in claude.ok("search_memory", query=query, k=5)["results"]]
    finally:
        memory.service.archive_fact(fact.id)


# ------------------------------------------------------------------ every project, over HTTP


def test_http_refuses_requests_without_the_token(http_server: HttpServer) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {http_server.token}x"},
        {"Authorization": f"Basic {http_server.token}"},
        {"Authorization": http_server.token},
    ):
        response = httpx2.post(http_server.url, json=ping, headers=headers, timeout=PATIENCE)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
    # The SDK's client with a wrong token gets no session either.
    with pytest.raises(Exception):  # noqa: B017 (the SDK's error type for a refused connection is not public)
        with connected(over_http(http_server.url, "wrong-token", "Intruder")):
            pass
    assert re.search(rb"^dossier mcp: .*Bearer", http_server.stderr, re.M)


def _outward_address() -> str | None:
    """This machine's address on its default route, if it has one (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routed like any outside address, never reached
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_http_listens_on_loopback_only(http_server: HttpServer) -> None:
    port = int(http_server.url.rsplit(":", 1)[1].split("/")[0])
    address = _outward_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    with pytest.raises(OSError), socket.create_connection((address, port), timeout=PATIENCE):
        pass


def test_every_tool_names_its_project_and_only_active_ones_are_reachable(cursor: Session, memory: Memory) -> None:
    assert "list_projects" in cursor.tool_names() and "propose_memory" in cursor.tool_names()
    projects = cursor.ok("list_projects")["projects"]
    assert [p["name"] for p in projects] == ["Acme Rebrand", "Globex"]
    for tool in cursor.tool_names() - {"list_projects"}:
        assert "project" in cursor.schema(tool)["required"], tool
    assert "Field required" in cursor.refused("list_facts")
    # By name (any case) or id, as text or number.
    for ref in ("Globex", "globex", str(memory.globex.id), memory.globex.id):
        assert memory.globex_fact in {f["id"] for f in cursor.ok("list_facts", project=ref)["facts"]}
    hostile = [
        "Hidden Archive",
        str(memory.archived.id),
        memory.archived.id,
        "Nope",
        "987654",
        10**30,
        "'; DROP TABLE projects; --",
        "Acme Rebrand' OR '1'='1",
        "Globex\u202e",
        "Glo\u200bbex",
        "Globex\x00",
        "%",
        "",
    ]
    for ref in hostile:
        for tool, arguments in (
            ("list_facts", {}),
            ("search_memory", {"query": "budget"}),
            ("get_context", {"message": "budget"}),
            ("get_brief", {}),
            ("get_fact", {"id": memory.archived_fact}),
            ("propose_memory", {"text": "Planted", "kind": "fact", "reason": ""}),
        ):
            message = cursor.refused(tool, project=ref, **arguments)
            assert "here; list_projects names the ones this server serves" in message, (ref, tool, message)
            assert "Hidden" not in message or "Hidden" in str(ref), message
    # The archived project's proposals stayed out, and a fact of one project is not found through another.
    assert memory.service.list_proposals(memory.archived.id) == []
    missing = cursor.refused("get_fact", project="Acme Rebrand", id=987654)
    assert cursor.refused("get_fact", project="Acme Rebrand", id=memory.globex_fact) == missing.replace(
        "987654", str(memory.globex_fact)
    )
    assert cursor.ok("get_fact", project="Globex", id=memory.globex_fact)["fact"]["text"].startswith("Globex")
    found = cursor.ok("search_memory", project="Globex", query="merger", k=5)
    assert found["project"] == "Globex" and "Initech" in found["results"][0]["text"]
    assert "Acme" not in cursor.ok("get_brief", project="Globex")


def test_a_proposal_over_http_carries_the_client_name_from_the_request(cursor: Session, memory: Memory) -> None:
    filed = cursor.ok("propose_memory", project="Globex", text="Initech's CFO is Bill", kind="contact", reason="")
    (proposal,) = memory.service.list_proposals(memory.globex.id)
    assert (proposal.id, proposal.origin) == (filed["proposal_id"], "mcp:Cursor")


# ------------------------------------------------------------------ read-only, and start-up refusals


def test_a_read_only_server_does_not_offer_proposals(memory: Memory, tmp_path: Path) -> None:
    server = stdio(memory.folder, "--project", str(memory.acme.id), "--read-only", name="Reader", errlog=tmp_path / "e")
    with connected(server) as reader:
        assert "propose_memory" not in reader.tool_names()
        assert "Unknown tool" in reader.refused("propose_memory", text="Planted", kind="fact", reason="")
        assert reader.ok("list_facts")["project"] == "Acme Rebrand"
    assert "read-only" in (tmp_path / "e").read_text()


def test_stdout_carries_nothing_but_the_protocol(memory: Memory) -> None:
    """From start-up (the data folder opening) to exit, every stdout line is a JSON-RPC message."""
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get_fact", "arguments": {"id": "x"}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "list_facts", "arguments": {}}},
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "--data-dir", str(memory.folder), "mcp", "--project", "Acme Rebrand"],
        cwd=ROOT,
        env=_environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("".join(json.dumps(r) + "\n" for r in requests).encode())
        process.stdin.flush()
        received = b""
        while received.count(b"\n") < 4:  # a client waits for its answers before it closes stdin
            ready, _, _ = select.select([process.stdout], [], [], PATIENCE)
            chunk = os.read(process.stdout.fileno(), 65536) if ready else b""
            assert chunk, f"no answer from the server, after {received!r}"
            received += chunk
        # Closing stdin (communicate does) is how a client ends a stdio server.
        rest, errors = process.communicate(timeout=PATIENCE)
        answers = [json.loads(line) for line in (received + rest).decode().splitlines()]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, errors
    assert sorted(a["id"] for a in answers) == [1, 2, 3, 4]
    by_id = {a["id"]: a for a in answers}
    assert by_id[3]["result"]["isError"] and not by_id[4]["result"]["isError"]
    assert b"serving project Acme Rebrand" in errors and b"stopped" in errors


def test_the_command_refuses_what_it_cannot_serve(run: Run) -> None:
    run("project", "create", "Old client")
    run("project", "archive", "Old client")
    code, out, err = run("mcp", "--project", "Nobody")
    assert (code, out) == (2, "") and "No project 'Nobody'" in err
    code, _, err = run("mcp", "--project", "Old client")
    assert code == 2 and "archived" in err
    code, _, err = run("mcp", "--http", "70000")
    assert code == 2 and "not a port" in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, _, err = run("mcp", "--http", str(taken.getsockname()[1]))
    assert code == 2 and "cannot listen on 127.0.0.1" in err
