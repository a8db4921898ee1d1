"""The ``dossier`` command line.

Every command a user can get wrong ends in a one-line message on stderr and
exit code 2, never a traceback; nothing is written before input is checked.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, cast

from app.assistant.conversation import ContextReady, SessionStarted, Token, TurnResult
from app.assistant.extraction import inbox_entries
from app.assistant.voice import learn_voice
from app.config.files import is_special, write_bytes, write_text
from app.config.logs import setup_logging
from app.config.paths import resolve_paths
from app.errors import USER_ERRORS, UserError
from app.llm import catalogue
from app.llm.engine import CancelToken, EngineError
from app.llm.gguf import GGUFError, read_gguf
from app.llm.models import default_model
from app.portability.backup import BackupError, create_backup, restore_backup
from app.portability.recovery import open_warnings, recover_from_damage, repair_notes
from app.runtime import Runtime
from memory import (
    CorruptDatabaseError,
    FactKind,
    MemoryService,
    Project,
)

if TYPE_CHECKING:
    from app.portability.brief import Brief

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
MAX_IMPORT_BYTES = 512 * 1024 * 1024


#: What a terminal would act on or hide, never printed raw: C0 and C1 controls (but tab and
#: newline), DEL, and bidirectional overrides that reorder what the eye reads.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class TerminalSafe:
    """A text stream that writes every unprintable character as its ``\\uXXXX`` escape.

    Stored text may hold what came from elsewhere (an imported proposal's reason, a
    model's answer); printed raw, ESC and BEL sequences could retitle, recolour or
    rewrite the user's terminal. Inside a JSON string the escape means the same
    character, so ``--json`` output stays valid and lossless.
    """

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        return self._inner.write(_UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))

    def flush(self) -> None:
        self._inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class UsageError(UserError):
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


def _read_json(path: Path) -> Any:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    if size > MAX_IMPORT_BYTES:
        raise UsageError(f"{path}: too large to import ({size:,} bytes)")
    try:
        # utf-8-sig: editors on Windows start UTF-8 files with a byte-order mark.
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise UsageError(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    except RecursionError:
        raise UsageError(f"{path}: nested too deeply to be a Dossier export") from None
    except ValueError as err:  # e.g. a number of more digits than Python will read
        raise UsageError(f"{path}: not a Dossier export ({' '.join(str(err).split())[:200]})") from None


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
    write_text(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"Exported {document['project']['name']} to {path}", file=out)
    return EXIT_OK


def cmd_import(service: MemoryService, args: argparse.Namespace, out: TextIO) -> int:
    project = service.import_project(_read_json(Path(args.file)), as_project=args.as_project)
    print(f"Imported project {project.id}: {project.name} (searchable by keyword now)", file=out)
    _finish_indexing(service)
    return EXIT_OK


def _finish_indexing(service: MemoryService) -> None:
    """Waits for the vectors of what was just written, saying how far it is.

    Ctrl+C stops waiting: the rows keep their stale flag and the next start embeds them.
    """
    if service.index_progress().idle:
        return
    show = _progress_printer("Indexing for meaning search")
    try:
        while not service.wait_for_index(timeout=1.0):
            progress = service.index_progress()
            show(progress.done, progress.done + progress.pending)
    except KeyboardInterrupt:
        print("Stopped waiting; the rest is indexed the next time Dossier opens.", file=sys.stderr)
        return
    show(1, 1)


def cmd_reindex(service: MemoryService, args: argparse.Namespace, out: TextIO) -> int:
    report = service.reindex()
    print(f"Reindexed: the keyword index, and {report.embedded} vectors in {report.seconds:.1f} s", file=out)
    return EXIT_OK


def cmd_chat(rt: Runtime, args: argparse.Namespace, out: TextIO) -> int:
    project = _project(rt.service, args.project)
    if args.session is not None:
        session = rt.service.get_session(args.session)
        if session.project_id != project.id:
            raise UsageError(f"Session {session.id} belongs to another project")
    # The model is checked before a new session is made, so a broken one leaves nothing behind.
    if rt.settings.chat_backend == "local":
        rt.ensure_local_model_file(_progress_printer("Preparing the bundled model (once)"))
    flow = rt.conversation()
    if getattr(flow.model, "is_base_model", False):
        print(f"(model: {flow.model.name}, a base model not tuned to chat; answers will be weak)", file=sys.stderr)
    cancel = CancelToken()
    events = (
        flow.run_first_turn(project.id, args.message, cancel)
        if args.session is None
        else flow.run_turn(session.id, args.message, cancel)
    )
    result = None
    try:
        for event in events:
            if isinstance(event, SessionStarted):
                session = event.session
            elif isinstance(event, ContextReady) and args.show_context:
                print(f"--- memory used ({len(event.report.memory_keys)} items) ---", file=out)
                print(event.context.text or "(none)", file=out)
                print("---", file=out)
            elif isinstance(event, Token):
                out.write(event.text)
                out.flush()
            elif isinstance(event, TurnResult):
                result = event
    except KeyboardInterrupt:
        cancel.cancel()
        raise
    assert result is not None
    if result.stats.finish_reason == "command":
        out.write(result.text)
    out.write("\n")
    rate = result.stats.tokens_per_second
    print(
        f"(session {session.id}; {result.stats.completion_tokens} tokens"
        + (f", {rate:.1f} tokens/s" if rate else "")
        + ")",
        file=sys.stderr,
    )
    if result.background is not None:
        # The answer is out; say why the terminal is still busy instead of hanging silently.
        print("(learning from this turn…)", file=sys.stderr, flush=True)
        notes = result.background.result()
        pending = len(rt.service.list_proposals(project.id))
        learned = "; ".join(notes) or "nothing new"
        print(
            f"(learned: {learned}; {pending} pending in the inbox: dossier inbox)"
            if pending
            else f"(learned: {learned})",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_inbox(rt: Runtime, args: argparse.Namespace, out: TextIO) -> int:
    service = rt.service
    project = _project(service, args.project)
    if args.action == "accept":
        ids = [p.id for p in service.list_proposals(project.id)] if args.id == "all" else [_int(args.id)]
        for proposal_id in ids:
            _in_project(service, project, proposal_id)
            fact = service.accept_proposal(proposal_id, text=args.text)
            print(f"Accepted #{proposal_id}" + (f" → F{fact.id}: {fact.text}" if fact else ""), file=out)
        return EXIT_OK
    if args.action == "reject":
        proposal_id = _int(args.id)
        _in_project(service, project, proposal_id)
        service.reject_proposal(proposal_id)
        print(f"Rejected #{proposal_id}", file=out)
        return EXIT_OK
    if args.json:
        _print_json(service.list_proposals(project.id), out)
        return EXIT_OK
    entries = inbox_entries(service, project.id)
    if not entries:
        print("The inbox is empty.", file=out)
    for e in entries:
        p = e.proposal
        print(f"#{p.id:<4} {p.action.value:<7} {p.kind.value:<10} {e.headline}", file=out)
        print(f"      {e.change}", file=out)
        if e.source:
            print(f"      from: {e.source}", file=out)
    return EXIT_OK


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"not a proposal id: {value!r}") from None


def _in_project(service: MemoryService, project: Project, proposal_id: int) -> None:
    if proposal_id not in {p.id for p in service.list_proposals(project.id, status=None)}:
        raise UsageError(f"Proposal {proposal_id} is not in project {project.name}'s inbox")


def cmd_summarize(rt: Runtime, args: argparse.Namespace, out: TextIO) -> int:
    if (args.session is None) == (not args.due):
        raise UsageError("give either --session ID or --due")
    if args.session is not None:
        rt.service.get_session(args.session)
    summarizer = rt.summarizer(None if args.extractive else rt.background_model())
    if args.due:
        done = summarizer.summarize_due()
        print(f"Summarised {len(done)} session(s)" + "".join(f"\n  {s.id}: {s.summary}" for s in done), file=out)
        return EXIT_OK
    session = summarizer.summarize(args.session)
    print(session.summary or "(the session has no messages)", file=out)
    return EXIT_OK


def _progress_printer(label: str) -> Callable[[int, int | None], None]:
    last = [-1]

    def show(done: int, total: int | None) -> None:
        percent = int(done * 100 / total) if total else -1
        if percent != last[0] and (percent % 10 == 0 or percent < 0):
            last[0] = percent
            where = f"{percent}%" if percent >= 0 else f"{done / 1e6:.0f} MB"
            print(f"{label}: {where}", file=sys.stderr)

    return show


def cmd_model(rt: Runtime, args: argparse.Namespace, out: TextIO) -> int:
    settings = rt.settings
    if args.action == "list":
        rt.store.ensure_default(_progress_printer("Preparing the bundled model"))
        current = rt.local_model_path.resolve()
        for model in rt.store.list_models():
            mark = "*" if model.path.resolve() == current else " "
            kind = "base model, not tuned to chat" if not model.info.looks_instruction_tuned else "chat model"
            note = " (bundled default)" if model.is_default else ""
            print(f"{mark} {model.path.name}  {model.size_bytes / 1e6:.0f} MB  {kind}{note}", file=out)
        if settings.model_path and not Path(settings.model_path).resolve().is_relative_to(rt.store.models_dir):
            print(f"* {settings.model_path} (outside the models folder)", file=out)
        if settings.remote_base_url:
            print(
                f"  remote: {settings.remote_model} at {settings.remote_base_url} "
                f"(chat: {settings.chat_backend}, background: {settings.background_backend})",
                file=out,
            )
        return EXIT_OK
    if args.action == "use":
        if args.path == "default":
            rt.update_settings(model_path=None, chat_backend="local", background_backend="local")
            print(f"Using the bundled default model. {default_model().description}", file=out)
            return EXIT_OK
        path = Path(args.path).expanduser()
        if not path.is_absolute() and not path.exists():
            path = rt.store.models_dir / path
        try:
            info = read_gguf(path)
        except GGUFError as err:
            raise UsageError(str(err)) from None
        rt.update_settings(model_path=str(path.resolve()), chat_backend="local", background_backend="local")
        kind = "a chat model" if info.looks_instruction_tuned else "a base model (not tuned to chat)"
        print(f"Using {info.name} ({path.name}), {kind}", file=out)
        return EXIT_OK
    if args.action == "catalogue":
        memory = catalogue.machine_memory()
        print(f"This machine has {memory / 2**30:.1f} GB of memory." if memory else "Memory size unknown.", file=out)
        for entry in catalogue.CATALOGUE:
            fits = {True: "fits this machine", False: "too big for this machine", None: ""}[entry.fits(memory)]
            use = "" if entry.commercial_use else "; NOT for commercial use"
            print(
                f"\n{entry.id}: {entry.name}\n  {entry.size_bytes / 1e9:.1f} GB download, "
                f"needs {entry.ram_bytes / 2**30:.1f} GB of memory ({fits})\n"
                f"  licence: {entry.licence}{use}\n  {entry.good_for}\n"
                f"  dossier model download {entry.id}",
                file=out,
            )
        return EXIT_OK
    if args.action == "servers":
        servers = catalogue.find_local_servers()
        if not servers:
            print("No Ollama (port 11434) or LM Studio (port 1234) server is running on this machine.", file=out)
        for server in servers:
            print(f"{server.name} at {server.base_url}: {', '.join(server.models) or 'no models'}", file=out)
            for name in server.models[:1]:
                print(f"  use it: dossier model remote {server.base_url} --model {name}", file=out)
        return EXIT_OK
    if args.action == "download":
        chosen = catalogue.find(args.url)
        if chosen is not None:
            args.url, args.sha256 = chosen.url, chosen.sha256
        path = rt.store.download(args.url, sha256=args.sha256, progress=_progress_printer("Downloading"))
        print(f"Downloaded {path.name} to {path.parent}; use it with: dossier model use {path.name}", file=out)
        return EXIT_OK
    if args.action == "remote":
        from app.llm.remote import normalise_base_url

        try:
            endpoint = normalise_base_url(args.url)
        except EngineError as err:
            raise UsageError(str(err)) from None
        if args.api_key_stdin:
            rt.keychain.set_api_key(endpoint, sys.stdin.readline())
        chat = "remote" if args.route in ("chat", "both") else "local"
        background = "remote" if args.route in ("background", "both") else "local"
        rt.update_settings(
            remote_base_url=endpoint,
            remote_model=args.model_name,
            remote_context_length=args.context,
            chat_backend=chat,
            background_backend=background,
        )
        print(f"Remote endpoint {endpoint} ({args.model_name}); chat: {chat}, background: {background}", file=out)
        return EXIT_OK
    return EXIT_OK


def cmd_voice(rt: Runtime, args: argparse.Namespace, out: TextIO) -> int:
    project = _project(rt.service, args.project)
    if args.action == "show":
        _print_json(rt.service.get_voice(project.id), out)
        return EXIT_OK
    samples = []
    for name in args.files:
        try:
            samples.append(Path(name).read_text("utf-8"))
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"{name}: cannot read it as UTF-8 text ({err})") from None
    model = None if args.no_model else rt.background_model()
    profile = learn_voice(project.id, samples, model)
    if args.save:
        profile = rt.service.set_voice(
            project.id,
            tone=profile.tone,
            style_do=list(profile.style_do),
            style_dont=list(profile.style_dont),
            vocabulary=list(profile.vocabulary),
            samples=list(profile.samples),
        )
        print(f"Saved the voice of {project.name}:", file=out)
    _print_json({k: v for k, v in _jsonable(profile).items() if k != "samples"}, out)
    return EXIT_OK


def cmd_brief(rt: Runtime, args: argparse.Namespace, out: TextIO) -> int:
    from app.portability.brief import ALL_SECTIONS, BriefOptions, compose_brief, parse_sections, render

    project = _project(rt.service, args.project)
    path = Path(args.output)
    fmt = args.format or {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".pdf": "pdf"}.get(
        path.suffix.lower()
    )
    if fmt is None:
        raise UsageError(f"{path.name}: give --format md, html or pdf (or a file name ending in one)")
    since = None
    if args.since:
        try:
            since = date.fromisoformat(args.since)
        except ValueError:
            raise UsageError(f"--since: not a date: {args.since!r} (expected YYYY-MM-DD)") from None
    try:
        sections = parse_sections(args.sections) if args.sections else None
    except ValueError as err:
        raise UsageError(f"--sections: {err}") from None
    options = BriefOptions(
        sections=sections or ALL_SECTIONS, since=since, include_global=args.is_global, summary=args.summary
    )
    model = rt.background_model() if args.summary else None
    brief = compose_brief(rt.service, project.id, options, model)
    if fmt == "pdf" and args.render_pdf is None:
        raise UsageError("PDF briefs are drawn by the desktop part of Dossier, which is not here; write .md or .html")
    if fmt == "pdf" and is_special(path):
        raise UsageError(f"{path} is not a regular file; write the PDF to a file")
    write_bytes(path, args.render_pdf(brief) if fmt == "pdf" else render(brief, fmt).encode("utf-8"))
    for note in brief.notes:
        print(f"({note})", file=sys.stderr)
    print(f"Wrote the brief of {project.name} to {path}", file=out)
    return EXIT_OK


def _describe_counts(counts: dict[str, int]) -> str:
    """``{"chat_sessions": 3}`` as "3 chat sessions", for backup and restore messages."""
    return ", ".join(f"{n:,} {table.replace('_', ' ')}" for table, n in counts.items())


def cmd_backup(rt: Runtime, args: argparse.Namespace, out: TextIO) -> int:
    info = create_backup(rt.service, rt.paths.settings_file, Path(args.output))
    print(f"Backed up to {info.path}: {_describe_counts(info.counts)}", file=out)
    return EXIT_OK


def run_restore(args: argparse.Namespace, out: TextIO, open_service: Callable[..., MemoryService]) -> int:
    # Not created here: a refused restore leaves no folder behind.
    paths = resolve_paths(args.data_dir, create=False)
    info = restore_backup(Path(args.file), paths.data_dir)
    # Opening reconciles: the vector index, which backups leave out, is rebuilt from SQLite.
    with open_service(paths.data_dir) as service:
        restored = service.stats()
    print(
        f"Restored the backup of {info.created_at:%Y-%m-%d %H:%M} UTC into {paths.data_dir}: "
        f"{_describe_counts(restored)}",
        file=out,
    )
    if info.suggestion:
        print(info.suggestion, file=out)
    return EXIT_OK


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dossier",
        description="Dossier: a local assistant that knows each client project. Run it without a command to open the window.",
    )
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
    p.set_defaults(handler=cmd_search, searches=True)

    p = commands.add_parser("context", help="show the memory block a message would get")
    p.add_argument("--project", required=True)
    p.add_argument("message")
    p.add_argument("--budget", type=int, default=1000, help="tokens (default 1000)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_context, searches=True)

    p = commands.add_parser("export", help="write a project to a JSON file")
    p.add_argument("--project", required=True)
    p.add_argument("-o", "--output", required=True, metavar="FILE.json")
    p.set_defaults(handler=cmd_export)

    p = commands.add_parser("import", help="create a project from an exported JSON file")
    p.add_argument("file", metavar="FILE.json")
    p.add_argument("--as-project", metavar="NAME", help="import under another name")
    p.set_defaults(handler=cmd_import)

    p = commands.add_parser("reindex", help="rebuild the vector index from the database")
    p.set_defaults(handler=cmd_reindex, searches=True)

    p = commands.add_parser("chat", help="send a message and stream the answer")
    p.add_argument("--project", required=True)
    p.add_argument("--session", type=int, help="continue this session (default: a new one)")
    p.add_argument("--show-context", action="store_true", help="print the memory the answer was given")
    p.add_argument("message")
    p.set_defaults(handler=cmd_chat, wants_runtime=True, searches=True)

    p = commands.add_parser("inbox", help="review proposed memories")
    p.add_argument("--project", required=True)
    p.add_argument("action", nargs="?", choices=["list", "accept", "reject"], default="list")
    p.add_argument("id", nargs="?", help="proposal id (accept also takes 'all')")
    p.add_argument("--text", help="accept with this text instead")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_inbox, wants_runtime=True)

    p = commands.add_parser("summarize", help="(re)write a session's summary")
    p.add_argument("--session", type=int)
    p.add_argument("--due", action="store_true", help="every ended, idle or grown session with a stale summary")
    p.add_argument("--extractive", action="store_true", help="without the model")
    p.set_defaults(handler=cmd_summarize, wants_runtime=True)

    model = commands.add_parser("model", help="list, choose or download models; set up a remote endpoint")
    model_actions = model.add_subparsers(dest="action", required=True, parser_class=_Parser)
    model_actions.add_parser("list")
    p = model_actions.add_parser("use", help="a GGUF file (path or name in the models folder), or 'default'")
    p.add_argument("path")
    model_actions.add_parser("catalogue", help="instruction-tuned models to download, and which fit this machine")
    model_actions.add_parser("servers", help="find Ollama or LM Studio running on this machine, and their models")
    p = model_actions.add_parser("download", help="fetch a GGUF by URL, or a catalogue model by its id")
    p.add_argument("url", help="a https:// link to a .gguf file, or an id from 'dossier model catalogue'")
    p.add_argument("--sha256")
    p = model_actions.add_parser("remote", help="use an OpenAI-compatible endpoint")
    p.add_argument("url", help="e.g. http://127.0.0.1:11434/v1")
    p.add_argument("--model", dest="model_name", required=True, help="the model name the endpoint expects")
    p.add_argument("--api-key-stdin", action="store_true", help="read the API key from stdin into the keyring")
    p.add_argument("--route", choices=["chat", "background", "both"], default="both")
    p.add_argument("--context", type=int, default=8192, help="the model's context window in tokens")
    model.set_defaults(handler=cmd_model, wants_runtime=True)

    voice = commands.add_parser("voice", help="show a project's voice, or learn it from sample texts")
    voice_actions = voice.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = voice_actions.add_parser("show")
    p.add_argument("--project", required=True)
    p = voice_actions.add_parser("learn")
    p.add_argument("--project", required=True)
    p.add_argument("files", nargs="+", metavar="SAMPLE.txt")
    p.add_argument("--save", action="store_true", help="save the proposed profile (default: only show it)")
    p.add_argument("--no-model", action="store_true", help="measure the samples only")
    voice.set_defaults(handler=cmd_voice, wants_runtime=True)

    p = commands.add_parser("brief", help="export a project brief as Markdown, HTML or PDF")
    p.add_argument("--project", required=True)
    p.add_argument("--format", choices=["md", "html", "pdf"], help="default: from the file name")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument(
        "--sections",
        nargs="+",
        metavar="SECTION",
        help="any of: summary facts timeline voice sessions (default: all)",
    )
    p.add_argument("--since", metavar="YYYY-MM-DD", help="only sessions from this day on")
    p.add_argument("--global", dest="is_global", action="store_true", help="include your global facts")
    p.add_argument("--summary", action="store_true", help="add an executive summary written by the model")
    p.set_defaults(handler=cmd_brief, wants_runtime=True)

    p = commands.add_parser("backup", help="write a consistent backup zip (safe while Dossier runs)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.zip")
    p.set_defaults(handler=cmd_backup, wants_runtime=True)

    p = commands.add_parser("restore", help="restore a backup into an empty data dir (use --data-dir)")
    p.add_argument("file", metavar="FILE.zip")
    return parser


def _say_repairs(runtime: Runtime, err: TextIO) -> None:
    """What opening the data folder found damaged: rebuilt indexes, and changes that may be lost."""
    for line in open_warnings(runtime.service, runtime.paths) + repair_notes(runtime.service.last_repair):
        print(f"dossier: {line}", file=err)


def _auto_backup(runtime: Runtime, err: TextIO) -> None:
    try:
        runtime.backup_if_due()
    except BackupError as error:  # the command itself succeeded; say why the backup did not
        print(f"dossier: automatic backup skipped: {error}", file=err)


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    open_service: Callable[..., MemoryService] = MemoryService.open,
    no_command: Callable[[argparse.Namespace], int] | None = None,
    render_pdf: Callable[[Brief], bytes] | None = None,
) -> int:
    """Runs one command.

    Args:
        render_pdf: Draws a brief as PDF (Qt's, from the desktop part: this layer
            imports no Qt); without it ``brief -o x.pdf`` says PDF is not available.
        no_command: What to do when no command is given (the desktop entry
            point opens the window); by default the help is printed.
    """
    out = cast(TextIO, TerminalSafe(out or sys.stdout))
    err = cast(TextIO, TerminalSafe(err or sys.stderr))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _ArgumentsRejected as rejected:
        err.write(rejected.usage)
        print(f"dossier: error: {rejected}", file=err)
        return EXIT_USAGE
    except SystemExit as done:  # --help
        return int(done.code or 0)
    args.render_pdf = render_pdf
    if args.command is None:
        if no_command is not None:
            return no_command(args)
        parser.print_help(out)
        return EXIT_OK
    # Files Dossier creates (database, index, exports) are the user's alone.
    os.umask(0o077)
    try:
        if args.data_dir is not None and not args.data_dir.strip():
            raise UsageError("--data-dir is empty; give a folder, or leave the option out for the default one")
        if args.data_dir is not None and not args.data_dir.isprintable():
            # Bytes that are not UTF-8 arrive as lone surrogates; SQLite and Chroma cannot take them.
            raise UsageError("--data-dir has characters that cannot be used in a folder name here")
        if args.command == "restore":
            return run_restore(args, out, open_service)
        paths = resolve_paths(args.data_dir)
        setup_logging(paths.logs_dir)
        if getattr(args, "output", None):
            # Before anything is opened or written; the command then writes to exactly the
            # path that was checked ("~" expanded), not to another spelling of it.
            args.output = str(paths.check_user_output(args.output))
        # Only commands that search need the vector index reconciled before they run;
        # the others start without loading it (a third of a second, most of their start-up).
        with Runtime(paths, open_service(paths.data_dir, vectors=getattr(args, "searches", False))) as runtime:
            _say_repairs(runtime, err)
            target = runtime if getattr(args, "wants_runtime", False) else runtime.service
            # Commands write their notes to sys.stderr; that is ``err`` here.
            with contextlib.redirect_stderr(err):
                code = int(args.handler(target, args, out))
            _auto_backup(runtime, err)
            return code
    except CorruptDatabaseError as error:
        print(f"dossier: {recover_from_damage(resolve_paths(args.data_dir), error).message}", file=err)
        return EXIT_USAGE
    except USER_ERRORS as error:
        print(f"dossier: {error}", file=err)
        return EXIT_USAGE
    except OSError as error:
        print(f"dossier: {error.strerror or error}: {error.filename or ''}".rstrip(": "), file=err)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
