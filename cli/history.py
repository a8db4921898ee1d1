"""``dossier history import``: conversations from ChatGPT and Claude exports into projects."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from app.runtime import Runtime
from cli.common import EXIT_OK, UsageError, _project
from cli.documents import _cancellable
from memory import local_time


def cmd_history(rt: Runtime, args: argparse.Namespace, out: TextIO) -> int:
    from app.history.exports import read_export
    from app.history.importer import already_imported, import_conversations, matching, suggest_projects

    conversations = read_export(Path(args.file))
    if args.list or args.project is None:
        if args.project is None and not args.list:
            raise UsageError("give --project P with --select ID… or --match TEXT or --all, or --list to see them")
        if not conversations:
            print("The export holds no conversations.", file=out)
            return EXIT_OK
        suggestions = suggest_projects(rt.service, conversations)
        imported = already_imported(rt.service, conversations)
        for conversation in conversations:
            when = f"{local_time(conversation.created_at):%Y-%m-%d}" if conversation.created_at else "undated   "
            suggested = suggestions[conversation.id]
            hint = f"  → {suggested.project_name}?" if suggested else ""
            if imported[conversation.id]:
                hint = f"  (already in {', '.join(imported[conversation.id])})"
            print(
                f"{conversation.id}  {when}  {len(conversation.turns):>5} messages  {conversation.title[:60]}{hint}",
                file=out,
            )
        print(f"({len(conversations)} conversations from {conversations[0].source})", file=out)
        return EXIT_OK
    project = _project(rt.service, args.project)
    if args.select:
        by_id = {c.id: c for c in conversations}
        unknown = [i for i in args.select if i not in by_id]
        if unknown:
            raise UsageError(f"not in this export: {', '.join(unknown[:5])} (--list shows the ids)")
        chosen = [by_id[i] for i in dict.fromkeys(args.select)]
    elif args.match:
        chosen = matching(conversations, args.match)
        if not chosen:
            raise UsageError(f"no conversation mentions {args.match!r} (--list shows them)")
    elif args.all:
        chosen = conversations
    else:
        raise UsageError("choose conversations: --select ID…, --match TEXT or --all")
    extractor = rt.extractor(None if args.no_model else rt.background_model()) if args.propose else None
    # A conversation about one client, imported into another as well, is that client's words in
    # the other's memory: said before it happens, so a wrong --all can be undone at once.
    found = already_imported(rt.service, chosen)
    for conversation in chosen:
        elsewhere = [name for name in found[conversation.id] if name != project.name]
        if elsewhere:
            print(
                f"Note: “{conversation.title[:60]}” is already in {', '.join(elsewhere)}; "
                f"it is imported into {project.name} too (dossier session delete removes it).",
                file=out,
            )

    def show(done: int, total: int, title: str) -> None:
        if title:
            print(f"[{done + 1}/{total}] {title[:70]}", file=sys.stderr)

    with _cancellable("conversation") as stop:
        report = import_conversations(
            rt.service, project.id, chosen, progress=show, cancelled=lambda: stop[0], extractor=extractor
        )
    print(f"{project.name}: {report.summary()}", file=out)
    if report.messages_added:
        print("Searchable by keyword now; meaning search follows.", file=out)
        from cli.commands import _finish_indexing

        _finish_indexing(rt.service)
    return EXIT_OK
