"""The ``dossier`` command line.

Every command a user can get wrong ends in a one-line message on stderr and
exit code 2, never a traceback; nothing is written before input is checked.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, NoReturn, TextIO

from app.paths import resolve_paths
from memory import (
    FactKind,
    MemoryService,
    MemoryServiceError,
    Project,
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
MAX_IMPORT_BYTES = 512 * 1024 * 1024


class UsageError(Exception):
    """Bad input found by the CLI itself (a missing file, unreadable JSON)."""


class _ArgumentsRejected(Exception):
    def __init__(self, usage: str, message: str) -> None:
        super().__init__(message)
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # Raised rather than exiting, so main() reports it to the stream it was given.
        raise _ArgumentsRejected(self.format_usage(), message)


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _print_json(value: Any, out: TextIO) -> None:
    json.dump(_jsonable(value), out, indent=2, ensure_ascii=False)
    out.write("\n")


def _project(service: MemoryService, ref: str) -> Project:
    return service.get_project(ref)


def _write_file_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> Any:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    if size > MAX_IMPORT_BYTES:
        raise UsageError(f"{path}: too large to import ({size:,} bytes)")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise UsageError(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None


# ---------------------------------------------------------------- commands


def cmd_project(service: MemoryService, args: argparse.Namespace, out: TextIO) -> int:
    if args.action == "create":
        project = service.create_project(args.name, args.description)
        print(f"Created project {project.id}: {project.name}", file=out)
    elif args.action == "list":
        projects = service.list_projects(include_archived=args.all)
        if args.json:
            _print_json(projects, out)
        else:
            for p in projects:
                flag = " (archived)" if p.archived else ""
                print(f"{p.id:>4}  {p.name}{flag}", file=out)
    elif args.action == "rename":
        project = service.rename_project(_project(service, args.project).id, args.new_name)
        print(f"Renamed project {project.id} to {project.name}", file=out)
    elif args.action == "archive":
        project = service.archive_project(_project(service, args.project).id, archived=not args.undo)
        print(f"{'Unarchived' if args.undo else 'Archived'} project {project.name}", file=out)
    return EXIT_OK


def _print_fact(fact: Any, out: TextIO) -> None:
    marks = ("*" if fact.pinned else " ") + ("G" if fact.is_global else " ")
    status = "" if fact.status.value == "active" else f" [{fact.status.value}]"
    print(f"{fact.id:>5} {marks} {fact.kind.value:<10} {fact.text}{status}", file=out)


def cmd_fact(service: MemoryService, args: argparse.Namespace, out: TextIO) -> int:
    action = args.action
    if action == "add":
        if args.is_global == bool(args.project):
            raise UsageError("give either --project P or --global")
        project_id = None if args.is_global else _project(service, args.project).id
        fact = service.add_fact(project_id, args.text, args.kind, pinned=args.pin)
        print(f"Added fact {fact.id}", file=out)
    elif action == "list":
        project_id = None if args.is_global else _project(service, args.project).id
        facts = service.list_facts(project_id, include_archived=args.all, kind=args.kind, contains=args.search)
        if args.json:
            _print_json(facts, out)
        else:
            for fact in facts:
                _print_fact(fact, out)
    elif action == "edit":
        if args.text is None and args.kind is None:
            raise UsageError("give the new text, --kind, or both")
        _print_fact(service.edit_fact(args.id, args.text, args.kind), out)
    elif action == "archive":
        _print_fact(service.archive_fact(args.id), out)
    elif action == "restore":
        fact = (
            service.restore_fact_version(args.id, args.version)
            if args.version is not None
            else service.restore_fact(args.id)
        )
        _print_fact(fact, out)
    elif action == "pin":
        _print_fact(service.pin_fact(args.id, not args.off), out)
    elif action == "history":
        versions = service.fact_history(args.id)
        if args.json:
            _print_json(versions, out)
            return EXIT_OK
        for v in versions:
            print(
                f"v{v.version:<3} {v.created_at:%Y-%m-%d %H:%M} {v.actor.value:<9} {v.action.value:<9} "
                f"{v.kind.value:<10} {'*' if v.pinned else ' '} {v.text}",
                file=out,
            )
    return EXIT_OK


def cmd_search(service: MemoryService, args: argparse.Namespace, out: TextIO) -> int:
    hits = service.search(_project(service, args.project).id, args.query, k=args.k)
    if args.json:
        _print_json(hits, out)
        return EXIT_OK
    if not hits:
        print("No matches.", file=out)
    for hit in hits:
        where = "global " if hit.is_global else ""
        when = f" {hit.timestamp:%Y-%m-%d}" if hit.timestamp else ""
        ext = f" ext={','.join(hit.external_ids)}" if hit.external_ids else ""
        text = " ".join(hit.text.split())
        print(f"{hit.score:.4f}  {where}{hit.key}{when}{ext}\n        {text[:300]}", file=out)
    return EXIT_OK


def cmd_context(service: MemoryService, args: argparse.Namespace, out: TextIO) -> int:
    context = service.build_context(_project(service, args.project).id, args.message, args.budget)
    if args.json:
        _print_json(context, out)
    else:
        print(context.text, file=out)
        print(f"\n({context.tokens} of {context.budget_tokens} tokens, {len(context.items)} items)", file=out)
    return EXIT_OK


def cmd_export(service: MemoryService, args: argparse.Namespace, out: TextIO) -> int:
    document = service.export_project(_project(service, args.project).id)
    path = Path(args.output)
    _write_file_atomically(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"Exported {document['project']['name']} to {path}", file=out)
    return EXIT_OK


def cmd_import(service: MemoryService, args: argparse.Namespace, out: TextIO) -> int:
    project = service.import_project(_read_json(Path(args.file)), as_project=args.as_project)
    print(f"Imported project {project.id}: {project.name}", file=out)
    return EXIT_OK


def cmd_reindex(service: MemoryService, args: argparse.Namespace, out: TextIO) -> int:
    report = service.reindex()
    print(f"Reindexed: {report.embedded} vectors in {report.seconds:.1f} s", file=out)
    return EXIT_OK


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dossier", description="Dossier: a local assistant that knows each client project.")
    parser.add_argument("--data-dir", metavar="DIR", help="data folder (default: $DOSSIER_HOME or the user data dir)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    kinds = [k.value for k in FactKind]

    project = commands.add_parser("project", help="create, list, rename or archive projects")
    project_actions = project.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = project_actions.add_parser("create")
    p.add_argument("name")
    p.add_argument("--description", default="")
    p = project_actions.add_parser("list")
    p.add_argument("--all", action="store_true", help="include archived projects")
    p.add_argument("--json", action="store_true")
    p = project_actions.add_parser("rename")
    p.add_argument("project")
    p.add_argument("new_name")
    p = project_actions.add_parser("archive")
    p.add_argument("project")
    p.add_argument("--undo", action="store_true", help="unarchive")
    project.set_defaults(handler=cmd_project)

    fact = commands.add_parser("fact", help="add, list, edit, archive, restore, pin facts; show history")
    fact_actions = fact.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = fact_actions.add_parser("add")
    p.add_argument("--project", help="project name or id")
    p.add_argument("--global", dest="is_global", action="store_true", help="a fact of yours for every project")
    p.add_argument("--kind", choices=kinds, default="fact")
    p.add_argument("--pin", action="store_true")
    p.add_argument("text")
    p = fact_actions.add_parser("list")
    scope = p.add_mutually_exclusive_group(required=True)
    scope.add_argument("--project")
    scope.add_argument("--global", dest="is_global", action="store_true")
    p.add_argument("--kind", choices=kinds)
    p.add_argument("--search", help="only facts containing this text")
    p.add_argument("--all", action="store_true", help="include archived facts")
    p.add_argument("--json", action="store_true")
    p = fact_actions.add_parser("edit")
    p.add_argument("id", type=int)
    p.add_argument("text", nargs="?")
    p.add_argument("--kind", choices=kinds)
    p = fact_actions.add_parser("archive")
    p.add_argument("id", type=int)
    p = fact_actions.add_parser("restore", help="unarchive, or with --version bring an old version back")
    p.add_argument("id", type=int)
    p.add_argument("--version", type=int)
    p = fact_actions.add_parser("pin")
    p.add_argument("id", type=int)
    p.add_argument("--off", action="store_true", help="unpin")
    p = fact_actions.add_parser("history")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true")
    fact.set_defaults(handler=cmd_fact)

    p = commands.add_parser("search", help="hybrid search of a project's memory")
    p.add_argument("--project", required=True)
    p.add_argument("query")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_search)

    p = commands.add_parser("context", help="show the memory block a message would get")
    p.add_argument("--project", required=True)
    p.add_argument("message")
    p.add_argument("--budget", type=int, default=1000, help="tokens (default 1000)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_context)

    p = commands.add_parser("export", help="write a project to a JSON file")
    p.add_argument("--project", required=True)
    p.add_argument("-o", "--output", required=True, metavar="FILE.json")
    p.set_defaults(handler=cmd_export)

    p = commands.add_parser("import", help="create a project from an exported JSON file")
    p.add_argument("file", metavar="FILE.json")
    p.add_argument("--as-project", metavar="NAME", help="import under another name")
    p.set_defaults(handler=cmd_import)

    p = commands.add_parser("reindex", help="rebuild the vector index from the database")
    p.set_defaults(handler=cmd_reindex)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    open_service: Callable[[Path], MemoryService] = MemoryService.open,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _ArgumentsRejected as rejected:
        err.write(rejected.usage)
        print(f"dossier: error: {rejected}", file=err)
        return EXIT_USAGE
    except SystemExit as done:  # --help
        return int(done.code or 0)
    if args.command is None:
        parser.print_help(out)
        return EXIT_OK
    # Files Dossier creates (database, index, exports) are the user's alone.
    os.umask(0o077)
    try:
        paths = resolve_paths(args.data_dir)
        with open_service(paths.data_dir) as service:
            return int(args.handler(service, args, out))
    except (MemoryServiceError, UsageError) as error:
        print(f"dossier: {error}", file=err)
        return EXIT_USAGE
    except OSError as error:
        print(f"dossier: {error.strerror or error}: {error.filename or ''}".rstrip(": "), file=err)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
