"""``dossier mcp``: serve a client project's memory to other AI tools over MCP (stdio or HTTP)."""

from __future__ import annotations

import argparse
import secrets
import sys
from typing import TextIO

from cli.common import EXIT_OK, UsageError, _project
from memory import MemoryService, Project


def cmd_mcp(service: MemoryService, args: argparse.Namespace, out: TextIO) -> int:
    # Imported here: the SDK and its web stack would slow every other command's start.
    from app.interop.mcp_server import build_server, loopback_socket, serve_http, serve_stdio

    project: Project | None = None
    if args.project is not None:
        project = _project(service, args.project)
        if project.archived:
            raise UsageError(f"Project {project.name} is archived; unarchive it first: dossier project archive --undo")
    if args.http is not None and not 0 <= args.http <= 65535:
        raise UsageError(f"--http: not a port: {args.http} (0 to 65535; 0 picks a free one)")
    server = build_server(service, project, read_only=args.read_only)
    what = f"project {project.name}" if project is not None else "every active project"
    mode = "read-only" if args.read_only else "reads, and proposals to the inbox"
    if args.http is None:
        # stdout is the protocol's channel from here on: every note goes to stderr.
        print(f"dossier mcp: serving {what} over stdio ({mode})", file=sys.stderr, flush=True)
        serve_stdio(server)
    else:
        try:
            sock = loopback_socket(args.http)
        except OSError as error:
            raise UsageError(
                f"--http {args.http}: cannot listen on 127.0.0.1 ({error.strerror or error}); "
                "choose another port, or 0 for any free one"
            ) from None
        # A new token each start, never written to a file: only who can read this terminal can connect.
        token = secrets.token_urlsafe(32)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
        print(f"dossier mcp: serving {what} over Streamable HTTP at {url} ({mode})", file=sys.stderr)
        print(
            f"dossier mcp: send the header 'Authorization: Bearer {token}' (shown once; a new one each start)",
            file=sys.stderr,
            flush=True,
        )
        with sock:
            serve_http(server, sock, token)
    print("dossier mcp: stopped", file=sys.stderr)
    return EXIT_OK
