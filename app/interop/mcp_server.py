"""An MCP server over Dossier's memory: other AI tools read one client project, and propose.

Claude Desktop, Cursor and other MCP clients reach a client's memory here
instead of keeping a copy of their own. What they may do is narrow on purpose:

- **Scope.** A server serves one project (with the user's global facts, marked
  as global) or, started without one, the projects Dossier lists as active,
  each named per call. An id or a name outside the scope is answered exactly
  like one that does not exist, so a client learns nothing about the rest.
- **Writes are proposals.** ``propose_memory`` files an inbox proposal that
  records which client sent it; only the user, in Dossier, makes it a fact.
  A read-only server does not offer the tool at all.
- **No cache.** Every call reads the data folder anew through the memory
  service, so what the window or the CLI adds meanwhile is seen at once.
- **No secrets.** A client may be a cloud service: a sentence holding a password,
  key or account number (a chat message, a fact the user typed) leaves as
  ``[left out: a password or key]``, never as itself.

The tools' work is in :class:`MemoryTools`: plain synchronous methods over the
memory service, which is thread-safe (the SDK runs synchronous tools on worker
threads). :func:`build_server` registers them with the SDK's ``MCPServer``.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import json
import logging
import os
import select
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from types import FrameType
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as ASGIScope

from app.assistant.text import holds_secret, shareable
from app.errors import USER_ERRORS, UserError
from app.portability.brief import BriefOptions, compose_brief, render_markdown
from memory import (
    Fact,
    FactVersion,
    HitKind,
    MemoryService,
    NotFoundError,
    Project,
    ProposalAction,
    SearchHit,
)

log = logging.getLogger(__name__)

#: Search results per call: each is model context for the client, so a page, not a dump.
MAX_RESULTS = 50
#: A hit's text is cut here: one pasted transcript could otherwise fill a client's window.
MAX_HIT_CHARS = 4_000
#: Facts per ``list_facts`` answer, for the same reason; filters narrow a longer list.
MAX_LISTED_FACTS = 500
#: The largest memory block ``get_context`` builds (a large model's whole window).
MAX_BUDGET_TOKENS = 32_000
#: ``get_context``'s message; retrieval reads its start, but a megabyte is a mistake, not a turn.
MAX_CONTEXT_MESSAGE_CHARS = 20_000
#: Pending proposals from MCP clients per project: past this, a looping client
#: would bury the user's inbox, so it is told to wait for their review.
MAX_PENDING_FROM_MCP = 200
#: A client's name as the inbox shows it ("via MCP, from …"); it is the client's own claim.
MAX_CLIENT_NAME_CHARS = 60
UNKNOWN_CLIENT = "unknown client"
ORIGIN_PREFIX = "mcp:"

T = TypeVar("T")


class ToolRefused(UserError):
    """A call the server answers with a message: out of scope, or an argument it does not take."""


def client_label(name: object) -> str:
    """The client's self-declared name, as the inbox may show it: printable, one line, short."""
    text = name if isinstance(name, str) else ""
    # isprintable() drops controls, bidi overrides and zero-width characters, which
    # could disguise one client as another in the user's inbox.
    text = " ".join("".join(c for c in text if c.isprintable()).split())
    return text[:MAX_CLIENT_NAME_CHARS].strip() or UNKNOWN_CLIENT


def _shown(ref: object) -> str:
    """A caller's value quoted in a message: short, its control characters escaped (repr)."""
    if isinstance(ref, int):
        return str(ref)
    text = str(ref)
    return repr(text[:80] + ("…" if len(text) > 80 else ""))


def _same(text: str) -> str:
    """What two memories must differ in to be two: case and spacing aside."""
    return " ".join(text.split()).casefold()


def _date(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _clip(text: str) -> tuple[str, bool]:
    text = shareable(text)
    return (text, False) if len(text) <= MAX_HIT_CHARS else (text[:MAX_HIT_CHARS] + "…", True)


def _fact(fact: Fact) -> dict[str, Any]:
    described: dict[str, Any] = {
        "id": fact.id,
        "key": f"fact:{fact.id}",
        "text": shareable(fact.text),
        "kind": fact.kind.value,
        "pinned": fact.pinned,
        "global": fact.is_global,
        "status": fact.status.value,
        "source": fact.source.value,
        "created_at": _date(fact.created_at),
        "updated_at": _date(fact.updated_at),
    }
    if fact.source_document_id is not None:
        described["document"] = f"D{fact.source_document_id} {fact.source_location}".strip()
    return described


def _version(version: FactVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "action": version.action.value,
        "actor": version.actor.value,
        "text": shareable(version.text),
        "kind": version.kind.value,
        "pinned": version.pinned,
        "status": version.status.value,
        "at": _date(version.created_at),
    }


def _source(hit: SearchHit) -> dict[str, Any]:
    """Where a hit comes from, in the terms the user sees in Dossier."""
    if hit.kind is HitKind.CHUNK:
        return {
            "type": "document",
            "document": f"D{hit.document_id}",
            "title": shareable(hit.source_title),  # a file's own title can name its password
            "citation": hit.citation,
        }
    if hit.kind is HitKind.FACT:
        return {
            "type": "global fact" if hit.is_global else "fact",
            "fact_ids": list(hit.fact_ids),
            "fact_kind": hit.fact_kind.value if hit.fact_kind else None,
            "pinned": hit.pinned,
        }
    if hit.kind is HitKind.SUMMARY:
        return {"type": "session summary", "session_id": hit.session_id}
    return {
        "type": "conversation",
        "session_id": hit.session_id,
        "speaker": hit.speaker,
        "message_ids": list(hit.message_ids),
    }


def _hit(hit: SearchHit) -> dict[str, Any]:
    text, cut = _clip(hit.text)
    described: dict[str, Any] = {
        "key": hit.key,
        "kind": hit.kind.value,
        "date": _date(hit.timestamp),
        "text": text,
        "source": _source(hit),
        "external_ids": list(hit.external_ids),
        "global": hit.is_global,
        "score": round(hit.score, 4),
    }
    if cut:
        described["truncated"] = True
    return described


class MemoryTools:
    """What the MCP tools do, over the memory service, for the projects in scope.

    Args:
        project_id: The one project this server serves, or None for every active
            project (each call then names one, checked by :meth:`named_project`).
    """

    def __init__(self, service: MemoryService, project_id: int | None) -> None:
        self.service = service
        self.project_id = project_id

    # ---------------------------------------------------------------- scope

    def scoped_project(self) -> Project:
        """The server's own project, read anew: a rename shows, an archive ends access."""
        assert self.project_id is not None
        try:
            project = self.service.get_project(self.project_id)
        except NotFoundError:
            project = None
        if project is None or project.archived:
            raise ToolRefused("The project this server was started for is archived in Dossier; nothing to serve")
        return project

    def named_project(self, ref: str | int) -> Project:
        """An active project by name or id; anything else, whatever the reason, is "no such project"."""
        active = {p.id: p for p in self.service.list_projects()}
        try:
            found: Project | None = self.service.get_project(ref)
        except USER_ERRORS:
            # Not found, a control character, a name that is also another's id: one
            # answer for all, so a caller cannot tell an archived project from none.
            found = None
        if found is None or found.id not in active:
            raise ToolRefused(f"No project {_shown(ref)} here; list_projects names the ones this server serves")
        return active[found.id]

    def list_projects(self) -> dict[str, Any]:
        projects = self.service.list_projects()
        return {
            "projects": [
                {"id": p.id, "name": shareable(p.name), "description": shareable(p.description)} for p in projects
            ]
        }

    # ---------------------------------------------------------------- reading

    def search(self, project: Project, query: str, k: int) -> dict[str, Any]:
        if not 1 <= k <= MAX_RESULTS:
            raise ToolRefused(f"k must be between 1 and {MAX_RESULTS}")
        hits = self.service.search(project.id, query, k)
        return {"project": project.name, "results": [_hit(h) for h in hits]}

    def context(self, project: Project, message: str, budget_tokens: int) -> dict[str, Any]:
        if not 1 <= budget_tokens <= MAX_BUDGET_TOKENS:
            raise ToolRefused(f"budget_tokens must be between 1 and {MAX_BUDGET_TOKENS:,}")
        if len(message) > MAX_CONTEXT_MESSAGE_CHARS:
            raise ToolRefused(
                f"The message is too long ({len(message):,} characters; the limit is {MAX_CONTEXT_MESSAGE_CHARS:,})"
            )
        if not message.strip():
            raise ToolRefused("The message is empty; give the message the context is for")
        context = self.service.build_context(project.id, message, budget_tokens)
        return {
            "project": project.name,
            "text": shareable(context.text, one_item=False),
            "tokens": context.tokens,
            "budget_tokens": context.budget_tokens,
            "items": [
                {
                    "key": item.key,
                    "source": item.source.value,
                    "kind": item.kind.value if item.kind else None,
                    "text": shareable(item.text),
                    "tokens": item.tokens,
                    "global": item.is_global,
                    "citation": item.citation or None,
                    "external_ids": list(item.external_ids),
                }
                for item in context.items
            ],
            "dropped": list(context.dropped),
        }

    def facts(self, project: Project, kind: str | None, pinned: bool | None) -> dict[str, Any]:
        facts = self.service.list_facts(project.id, kind=kind)
        if pinned is not None:
            facts = [f for f in facts if f.pinned == pinned]
        return {
            "project": project.name,
            "count": len(facts),
            "facts": [_fact(f) for f in facts[:MAX_LISTED_FACTS]],
            "truncated": len(facts) > MAX_LISTED_FACTS,
        }

    def fact(self, project: Project, fact_id: int) -> dict[str, Any]:
        try:
            fact: Fact | None = self.service.get_fact(fact_id)
        except NotFoundError:
            fact = None
        # Another project's fact gets the very answer a missing id gets: no hint that it exists.
        if fact is None or fact.project_id not in (project.id, None):
            raise ToolRefused(f"No fact {_shown(fact_id)} in this project")
        return {"fact": _fact(fact), "history": [_version(v) for v in self.service.fact_history(fact.id)]}

    def brief(self, project: Project, include_global: bool) -> str:
        # No model: the brief is the confirmed memory, not a generated summary of it.
        brief = compose_brief(self.service, project.id, BriefOptions(include_global=include_global))
        return shareable(render_markdown(brief), one_item=False)

    # ---------------------------------------------------------------- the one write: a proposal

    def propose(self, project: Project, text: str, kind: str, reason: str, client: str) -> dict[str, Any]:
        if holds_secret(text) or holds_secret(reason):
            raise ToolRefused(
                "Not filed: it looks like a password, key or account number. Dossier keeps no secrets in its "
                "memory (memory goes into briefs, exports and other tools' context)"
            )
        pending = self.service.list_proposals(project.id)
        if sum(p.origin.startswith(ORIGIN_PREFIX) for p in pending) >= MAX_PENDING_FROM_MCP:
            raise ToolRefused(
                f"{MAX_PENDING_FROM_MCP} proposals from MCP clients already wait in this project's inbox; "
                "ask the user to review them in Dossier first"
            )
        # A client that retries a call it thinks was lost must not file the memory twice.
        wanted = _same(text)
        known = next((f for f in self.service.list_facts(project.id) if _same(f.text) == wanted), None)
        if known is not None:
            return {
                "status": "already known",
                "fact_id": known.id,
                "project": project.name,
                "note": "Dossier already has this as a fact; nothing was filed.",
            }
        waiting = next((p for p in pending if p.action is ProposalAction.ADD and _same(p.text) == wanted), None)
        if waiting is not None:
            return {
                "proposal_id": waiting.id,
                "status": waiting.status.value,
                "project": project.name,
                "note": "The same memory already waits in Dossier's inbox; nothing new was filed.",
            }
        client = "an MCP client" if holds_secret(client) else client  # a name is shown and exported
        proposal = self.service.propose(
            project.id, ProposalAction.ADD, text, kind, reason=reason, origin=ORIGIN_PREFIX + client
        )
        return {
            "proposal_id": proposal.id,
            "status": proposal.status.value,
            "project": project.name,
            "note": "Filed in Dossier's inbox. It becomes memory only if the user accepts it there.",
        }


def _answer(work: Callable[[], T]) -> T:
    """Runs a tool's work; what a user can fix becomes a tool error with its message.

    Anything else is a bug: logged with its traceback (to the log file, never to
    stdout, the stdio transport's channel), and answered without internals.
    """
    try:
        return work()
    except USER_ERRORS as error:
        raise ToolError(str(error)) from None
    except Exception:
        log.exception("an MCP tool failed")
        raise ToolError("Dossier could not do this: an internal error (details are in Dossier's log)") from None


def client_name(ctx: Context[Any, Any]) -> str:
    """The calling client's name from its handshake (``clientInfo``), or "unknown client"."""
    params = ctx.request_context.session.client_params
    return client_label(params.client_info.name if params is not None else None)


# Argument types, with the descriptions and bounds clients show their models.
ProjectRef = Annotated[
    str | int, Field(description="The project's name or id, as list_projects gives them (required on this server)")
]
Query = Annotated[str, Field(description="What to look for, in plain words")]
ResultCount = Annotated[int, Field(ge=1, le=MAX_RESULTS, description="How many results (1 to 50)")]
Message = Annotated[str, Field(description="The message the memory is for, e.g. the user's request")]
Budget = Annotated[
    int, Field(ge=1, le=MAX_BUDGET_TOKENS, description="The most tokens the memory block may take (default 1000)")
]
KindFilter = Annotated[
    str | None, Field(description="Only this kind: fact, preference, decision, deadline, contact or note")
]
PinnedFilter = Annotated[bool | None, Field(description="Only pinned (true) or only unpinned (false) facts")]
FactId = Annotated[int, Field(description="The fact's id (as list_facts and search_memory give it)")]
ProposedText = Annotated[str, Field(description="The memory to propose, one self-contained statement")]
Kind = Annotated[str, Field(description="fact, preference, decision, deadline, contact or note")]
Reason = Annotated[str, Field(description="Why it is worth remembering; the user sees this when reviewing")]
WithGlobal = Annotated[bool, Field(description="Include the user's global facts")]

_READS = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_PROPOSES = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)

SEARCH_DOC = (
    "Search the client project's memory: confirmed facts (and the user's global facts, marked global), "
    "session summaries, past messages and document passages. Each result has its key, kind, date, text, "
    "source (for a document passage its title and citation, e.g. 'D3 p.12') and external ids."
)
CONTEXT_DOC = (
    "The memory block Dossier would give its own assistant for this message: the client's voice, pinned "
    "facts, then the most relevant memory, packed into the token budget. Returns the block's text and its items."
)
FACTS_DOC = "The project's confirmed facts (and the user's global ones, marked global), pinned first, then newest."
FACT_DOC = "One fact with its history: every version, who changed it, and when."
PROPOSE_DOC = (
    "Propose a new memory for this client. It goes to Dossier's review inbox, marked as coming from this "
    "client over MCP; it becomes a fact only if the user accepts it. Nothing is written to memory directly."
)
BRIEF_DOC = (
    "The project's brief as Markdown: description, key facts by kind, decisions and deadlines, "
    "the client's voice, session summaries and documents."
)
PROJECTS_DOC = "The client projects this server serves (name, id, description); other tools take one of them."


def build_server(service: MemoryService, project: Project | None, *, read_only: bool = False) -> MCPServer[Any]:
    """An MCP server over ``project`` (or over every active project, named per call).

    Nothing is cached: each tool call reads through ``service``.
    """
    tools = MemoryTools(service, project.id if project is not None else None)
    if project is not None:
        instructions = (
            f"Dossier's memory of the client project {project.name!r}: what the user confirmed, past sessions "
            "and the client's documents. Facts marked global are the user's own, shown in every project."
        )
    else:
        instructions = (
            "Dossier's memory of the user's client projects. Call list_projects first; every other tool "
            "takes the project's name or id. Facts marked global are the user's own, shown in every project."
        )
    if not read_only:
        instructions += " New memories can only be proposed; the user reviews them in Dossier."
    server: MCPServer[Any] = MCPServer("Dossier", instructions=instructions, log_level="WARNING")
    if project is not None:
        _register_scoped(server, tools, read_only)
    else:
        _register_unscoped(server, tools, read_only)
    return server


def _register_scoped(server: MCPServer[Any], tools: MemoryTools, read_only: bool) -> None:
    """The tools of a one-project server: none takes a project, so none can name another."""
    here = tools.scoped_project

    @server.tool(description=SEARCH_DOC, annotations=_READS)
    def search_memory(query: Query, k: ResultCount = 10) -> dict[str, Any]:
        return _answer(lambda: tools.search(here(), query, k))

    @server.tool(description=CONTEXT_DOC, annotations=_READS)
    def get_context(message: Message, budget_tokens: Budget = 1000) -> dict[str, Any]:
        return _answer(lambda: tools.context(here(), message, budget_tokens))

    @server.tool(description=FACTS_DOC, annotations=_READS)
    def list_facts(kind: KindFilter = None, pinned: PinnedFilter = None) -> dict[str, Any]:
        return _answer(lambda: tools.facts(here(), kind, pinned))

    @server.tool(description=FACT_DOC, annotations=_READS)
    def get_fact(id: FactId) -> dict[str, Any]:
        return _answer(lambda: tools.fact(here(), id))

    @server.tool(description=BRIEF_DOC, annotations=_READS, structured_output=False)
    def get_brief(include_global: WithGlobal = False) -> str:
        return _answer(lambda: tools.brief(here(), include_global))

    if read_only:
        return

    @server.tool(description=PROPOSE_DOC, annotations=_PROPOSES)
    def propose_memory(
        text: ProposedText, ctx: Context[Any, Any], kind: Kind = "fact", reason: Reason = ""
    ) -> dict[str, Any]:
        return _answer(lambda: tools.propose(here(), text, kind, reason, client_name(ctx)))


def _register_unscoped(server: MCPServer[Any], tools: MemoryTools, read_only: bool) -> None:
    """The tools of a server over every active project: each takes the project, checked on every call."""
    named = tools.named_project

    @server.tool(description=PROJECTS_DOC, annotations=_READS)
    def list_projects() -> dict[str, Any]:
        return _answer(tools.list_projects)

    @server.tool(description=SEARCH_DOC, annotations=_READS)
    def search_memory(project: ProjectRef, query: Query, k: ResultCount = 10) -> dict[str, Any]:
        return _answer(lambda: tools.search(named(project), query, k))

    @server.tool(description=CONTEXT_DOC, annotations=_READS)
    def get_context(project: ProjectRef, message: Message, budget_tokens: Budget = 1000) -> dict[str, Any]:
        return _answer(lambda: tools.context(named(project), message, budget_tokens))

    @server.tool(description=FACTS_DOC, annotations=_READS)
    def list_facts(project: ProjectRef, kind: KindFilter = None, pinned: PinnedFilter = None) -> dict[str, Any]:
        return _answer(lambda: tools.facts(named(project), kind, pinned))

    @server.tool(description=FACT_DOC, annotations=_READS)
    def get_fact(project: ProjectRef, id: FactId) -> dict[str, Any]:
        return _answer(lambda: tools.fact(named(project), id))

    @server.tool(description=BRIEF_DOC, annotations=_READS, structured_output=False)
    def get_brief(project: ProjectRef, include_global: WithGlobal = False) -> str:
        return _answer(lambda: tools.brief(named(project), include_global))

    if read_only:
        return

    @server.tool(description=PROPOSE_DOC, annotations=_PROPOSES)
    def propose_memory(
        project: ProjectRef, text: ProposedText, ctx: Context[Any, Any], kind: Kind = "fact", reason: Reason = ""
    ) -> dict[str, Any]:
        return _answer(lambda: tools.propose(named(project), text, kind, reason, client_name(ctx)))


# -------------------------------------------------------------------- transports


class _StdinUntilStopped(io.RawIOBase):
    """File descriptor 0, read until end of file or until :meth:`stop` (called from a signal handler).

    The SDK reads stdin on a worker thread that cannot be cancelled, so a stop
    signal alone would wait for the client's next line forever. Each read here
    waits on stdin and on a wake-up pipe at once; :meth:`stop` writes to the
    pipe and the read returns end of file, which ends the server as a client
    closing stdin does.
    """

    def __init__(self) -> None:
        super().__init__()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        ready, _, _ = select.select([0, self._wake_read], [], [])
        if self._wake_read in ready:
            return 0
        data = os.read(0, len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # already woken: the pipe is full or closed
            os.write(self._wake_write, b"x")

    def close(self) -> None:
        if not self.closed:
            os.close(self._wake_read)
            os.close(self._wake_write)
        super().close()


@contextlib.contextmanager
def _signals_handled(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """SIGINT and SIGTERM go to ``handler`` meanwhile (only the main thread may set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def serve_stdio(server: MCPServer[Any]) -> None:
    """Serves over stdin and stdout until the client closes stdin, or SIGINT or SIGTERM.

    While it serves, the SDK points file descriptor 1 at stderr and writes the
    protocol to a private copy, so a stray print (ours or a library's) cannot
    corrupt the channel. Returns normally on a signal, so the caller closes
    the data folder as usual.
    """
    if os.name != "posix":  # select() takes pipes on POSIX only; elsewhere a signal ends the process
        server.run("stdio")
        return
    stdin = _StdinUntilStopped()
    saved = sys.stdin
    # The SDK serves sys.stdin's buffer as it is when sys.stdin is not file descriptor 0 itself.
    sys.stdin = io.TextIOWrapper(io.BufferedReader(stdin), encoding="utf-8", errors="replace")
    try:
        with _signals_handled(lambda signum, frame: stdin.stop()):
            server.run("stdio")
    finally:
        sys.stdin = saved
        stdin.close()


def loopback_socket(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1 only (``port`` 0: any free one).

    Bound before the server starts, so the address printed is the real one and
    a client may connect at once (connections wait in the backlog).

    Raises:
        OSError: The port is taken or not allowed.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
    except BaseException:
        sock.close()
        raise
    return sock


class BearerTokenGate:
    """An ASGI wrapper: HTTP requests without ``Authorization: Bearer <token>`` get 401, nothing else.

    The token is compared in constant time. Lifespan events pass, so the MCP
    app starts and stops with the server.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"bearer {token}".encode()

    def _authorised(self, scope: ASGIScope) -> bool:
        values = [v for k, v in scope.get("headers", ()) if k.lower() == b"authorization"]
        if len(values) != 1:
            return False
        given = values[0].strip()
        scheme, _, rest = given.partition(b" ")
        return hmac.compare_digest(scheme.lower() + b" " + rest.strip(), self._expected)

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or (scope["type"] == "http" and self._authorised(scope)):
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps(
            {"error": "invalid_token", "error_description": "Give the token Dossier printed: Authorization: Bearer …"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer error="invalid_token"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def serve_http(server: MCPServer[Any], sock: socket.socket, token: str) -> None:
    """Serves Streamable HTTP at ``/mcp`` on ``sock`` until SIGINT or SIGTERM; every request needs ``token``."""
    import uvicorn

    # The SDK also checks Host and Origin against loopback names (DNS rebinding) for this host.
    app = BearerTokenGate(server.streamable_http_app(host="127.0.0.1"), token)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    # uvicorn shuts down gracefully on SIGINT and SIGTERM, then raises the signal again for
    # the handler it found; that handler ignores it, so this returns and the caller closes
    # the data folder (the default would end the process first, or raise KeyboardInterrupt).
    with _signals_handled(lambda signum, frame: None):
        uvicorn.Server(config).run(sockets=[sock])
