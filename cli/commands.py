"""The commands: each takes the memory service or the runtime, the parsed arguments and stdout."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from app.assistant.citations import context_chunks, find_citations
from app.assistant.conversation import ContextReady, SessionStarted, Token, TurnResult
from app.assistant.extraction import MemoryExtractor, inbox_entries
from app.assistant.text import counted, shortened
from app.assistant.voice import learn_voice
from app.config.files import is_special, write_bytes, write_text
from app.config.paths import resolve_paths
from app.config.settings import check_changes
from app.llm import catalogue
from app.llm.engine import CancelToken, EngineError
from app.llm.gguf import GGUFError, read_gguf
from app.llm.models import default_model
from app.portability.backup import create_backup, restore_backup
from app.runtime import Runtime
from cli.common import (
    EXIT_OK,
    UsageError,
    _describe_counts,
    _int,
    _jsonable,
    _print_json,
    _progress_printer,
    _project,
    _read_json,
    read_at_most,
)
from memory import (
    MemoryService,
    Message,
    Project,
    Role,
    local_time,
)


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
            if not projects:
                print('No projects yet. Create one: dossier project create "Client name"', file=sys.stderr)
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
        known = service.fact_saying(project_id, args.text)
        if known is not None:
            raise UsageError(f"F{known.id} already says this ({known.text}); nothing was added")
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
            if not facts:
                print(
                    "No facts match."
                    if args.kind or args.search
                    else "Nothing known yet: dossier fact add …, or /remember … in a chat.",
                    file=sys.stderr,
                )
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
                f"v{v.version:<3} {local_time(v.created_at):%Y-%m-%d %H:%M} {v.actor.value:<9} {v.action.value:<9} "
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
        when = f" {local_time(hit.timestamp):%Y-%m-%d}" if hit.timestamp else ""
        ext = f" ext={','.join(hit.external_ids)}" if hit.external_ids else ""
        cited = f" [{hit.citation}] {hit.source_title}" if hit.citation else ""
        text = " ".join(hit.text.split())
        print(f"{hit.score:.4f}  {where}{hit.key}{when}{ext}{cited}\n        {text[:300]}", file=out)
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
    # A new session leaves the last one, as a new session in the window does: it ends and gets its summary
    # (a session continued with --session after it ended gets its summary brought up to date).
    left = (
        next(
            (
                s
                for s in rt.service.list_sessions(project.id)
                if s.message_count and (s.ended_at is None or s.summary_is_stale)
            ),
            None,
        )
        if args.session is None
        else None
    )
    flow = rt.conversation()
    if getattr(flow.model, "is_base_model", False) and not MemoryExtractor.is_command(args.message):
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
    _print_sources(rt.service, result, out)
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
    if left is not None and (left.summary_is_stale or not left.summary):
        print(f"(summarising session {left.id}, which this one follows…)", file=sys.stderr, flush=True)
        summarizer = rt.summarizer(rt.background_model())
        summarised = summarizer.close_session(left.id) if left.ended_at is None else summarizer.summarize(left.id)
        summary = shortened(summarised.summary, 100) or "nothing to summarise: no statement or question of its own"
        print(f"(session {left.id} summarised: {summary})", file=sys.stderr)
    elif left is not None:
        rt.service.end_session(left.id)
    return EXIT_OK


def _print_sources(service: MemoryService, result: TurnResult, out: TextIO) -> None:
    """The document passages an answer cites, each checked against what it was given."""
    if result.assistant_message is None:
        return
    given = context_chunks(service, result.assistant_message.context_item_keys)
    cited = find_citations(result.text, given)
    if not cited:
        return
    print("Sources:", file=out)
    for key in dict.fromkeys(c.key for c in cited):
        citation = next(c for c in cited if c.key == key)
        if citation.chunk is None:
            print(f"  [{key}] not a source: that passage was not in this answer's memory", file=out)
            continue
        document = service.get_document(citation.chunk.document_id)
        quote = " ".join(citation.chunk.text.split())
        print(f"  [{key}] {document.title} ({document.filename}): “{quote[:160]}”", file=out)


def cmd_inbox(rt: Runtime, args: argparse.Namespace, out: TextIO) -> int:
    service = rt.service
    project = _project(service, args.project)
    if args.action == "accept":
        for proposal_id in _decided(service, project, args.id, "accept", out):
            fact = service.accept_proposal(proposal_id, text=args.text, kind=args.kind, pinned=args.pin or None)
            print(f"Accepted #{proposal_id}" + (f" → F{fact.id}: {fact.text}" if fact else ""), file=out)
        return EXIT_OK
    if args.action == "reject":
        if args.text is not None or args.kind is not None or args.pin:
            raise UsageError("--text, --kind and --pin go with accept (the fact as it should be kept), not with reject")
        for proposal_id in _decided(service, project, args.id, "reject", out):
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


def _decided(service: MemoryService, project: Project, ref: str | None, verb: str, out: TextIO) -> Iterator[int]:
    """The proposals an accept or reject names: one id, or 'all' pending; each checked to be the project's."""
    ids = [p.id for p in service.list_proposals(project.id)] if ref == "all" else [_int(ref)]
    if not ids:
        print(f"The inbox is empty: nothing to {verb}.", file=out)
    for proposal_id in ids:
        _in_project(service, project, proposal_id)
        yield proposal_id


def _in_project(service: MemoryService, project: Project, proposal_id: int) -> None:
    if proposal_id not in {p.id for p in service.list_proposals(project.id, status=None)}:
        raise UsageError(f"Proposal {proposal_id} is not in project {project.name}'s inbox")


def cmd_session(service: MemoryService, args: argparse.Namespace, out: TextIO) -> int:
    project = _project(service, args.project)
    if args.action == "list":
        for session in service.list_sessions(project.id):
            summary = " ".join(session.summary.split())[:100] or "(no summary yet)"
            print(
                f"{session.id:<5} {local_time(session.started_at):%Y-%m-%d}  {session.message_count:>4} messages  "
                f"{session.title or 'Untitled'}\n      {summary}",
                file=out,
            )
        return EXIT_OK
    if args.action == "delete-message":
        message = service.get_message(args.id)
        if message.project_id != project.id:
            raise UsageError(f"Message {message.id} is not in project {project.name}")
        answers = len(service.delete_message(message.id)) - 1
        # Never echo what was deleted: it was deleted for holding a password, say.
        print(
            f"Deleted message {message.id} ({_speaker(message)}, {local_time(message.created_at):%Y-%m-%d %H:%M})"
            + (f" and the {counted(answers, 'answer')} to it" if answers else "")
            + f" from session {message.session_id}; proposals from it went with it, facts accepted from it stay",
            file=out,
        )
        return EXIT_OK
    session = service.get_session(args.id)
    if session.project_id != project.id:
        raise UsageError(f"Session {session.id} is not in project {project.name}")
    if args.action == "show":
        print(f"Session {session.id}: {session.title or 'Untitled'}", file=out)
        for message in service.list_messages(session.id):
            print(
                f"{message.id:<6} {local_time(message.created_at):%Y-%m-%d %H:%M}  {_speaker(message)}: "
                f"{' '.join(message.content.split())}",
                file=out,
            )
        return EXIT_OK
    deleted = service.delete_session(session.id)
    print(
        f"Deleted session {deleted.id} ({deleted.title or 'Untitled'}, {counted(deleted.message_count, 'message')}) "
        f"from {project.name}; facts learnt from it stay",
        file=out,
    )
    return EXIT_OK


def _speaker(message: Message) -> str:
    """Who said it, as a transcript names them: "You", "Dossier", or the speaker's name."""
    if message.role is Role.USER:
        return "You"
    if message.role is Role.ASSISTANT:
        return "Dossier"
    return message.speaker or "Someone"


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
    if session.summary:
        print(session.summary, file=out)
    elif session.message_count:
        print("(nothing to summarise: no statement or question of its own, only commands or answers)", file=out)
    else:
        print("(the session has no messages)", file=out)
    return EXIT_OK


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
        elif "://" not in args.url:
            ids = ", ".join(m.id for m in catalogue.CATALOGUE)
            raise UsageError(
                f"{args.url!r} is neither a link nor a catalogue model ({ids}); see: dossier model catalogue"
            )
        path = rt.store.download(args.url, sha256=args.sha256, progress=_progress_printer("Downloading"))
        print(f"Downloaded {path.name} to {path.parent}; use it with: dossier model use {path.name}", file=out)
        return EXIT_OK
    if args.action == "remote":
        from app.llm.remote import normalise_base_url

        try:
            endpoint = normalise_base_url(args.url)
        except EngineError as err:
            raise UsageError(str(err)) from None
        if not args.model_name.strip():
            raise UsageError("--model: give the model name the endpoint expects")
        chat = "remote" if args.route in ("chat", "both") else "local"
        background = "remote" if args.route in ("background", "both") else "local"
        changes = {
            "remote_base_url": endpoint,
            "remote_model": args.model_name,
            "remote_context_length": args.context,
            "chat_backend": chat,
            "background_backend": background,
        }
        check_changes(changes)  # before the key is stored: a refused command stores nothing
        if args.api_key_stdin:
            rt.keychain.set_api_key(endpoint, sys.stdin.readline())
        rt.update_settings(**changes)
        print(f"Remote endpoint {endpoint} ({args.model_name}); chat: {chat}, background: {background}", file=out)
        return EXIT_OK
    return EXIT_OK


#: A voice sample file read at most this far (a sample is kept to 20,000 characters anyway).
MAX_SAMPLE_BYTES = 1_000_000


def cmd_voice(rt: Runtime, args: argparse.Namespace, out: TextIO) -> int:
    project = _project(rt.service, args.project)
    if args.action == "show":
        _print_json(rt.service.get_voice(project.id), out)
        return EXIT_OK
    samples = []
    for name in args.files:
        try:
            samples.append(read_at_most(Path(name), MAX_SAMPLE_BYTES).decode("utf-8"))
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
    by_suffix = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".pdf": "pdf"}.get(
        path.suffix.lower()
    )
    fmt = args.format or by_suffix
    if args.format and by_suffix and args.format != by_suffix:
        raise UsageError(
            f"--format {args.format} does not match {path.name}; name the file for it, or leave --format out"
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
        f"Restored the backup of {local_time(info.created_at):%Y-%m-%d %H:%M} into {paths.data_dir}: "
        f"{_describe_counts(restored)}",
        file=out,
    )
    if info.suggestion:
        print(info.suggestion, file=out)
    return EXIT_OK
