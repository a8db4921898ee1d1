"""``dossier doc``: a project's documents from the command line."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from app.assistant.text import counted
from app.runtime import Runtime
from cli.common import EXIT_OK, EXIT_USAGE, UsageError, _print_json, _project
from memory import Document, DocumentStatus, MemoryService, local_time

if TYPE_CHECKING:
    from app.documents.library import Progress


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def _kind(document: Document) -> str:
    return Path(document.filename).suffix.lstrip(".").upper() or document.media_type


def _line(document: Document) -> str:
    pages = f"{document.pages} p." if document.pages else counted(document.chunk_count, "part")
    state = "ready" if document.status.value == "active" else document.status.value
    if document.status.value == "active" and document.chunks_pending:
        state = f"indexing ({document.chunks_pending} of {document.chunk_count} passages left)"
    return (
        f"{document.key:<5} {document.title[:48]:<48} {_kind(document):<5} {pages:>9} {_size(document.size):>9} "
        f"{local_time(document.added_at):%Y-%m-%d}  {state}"
    )


def _printer(err: TextIO) -> Callable[[Progress], None]:
    def show(progress: Progress) -> None:
        if progress.current:
            print(f"[{progress.done + 1}/{progress.total}] reading {progress.current}", file=err)

    return show


@contextmanager
def _cancellable(unit: str = "file") -> Iterator[list[bool]]:
    """Ctrl+C asks the batch to stop after the current ``unit`` (a second one stops at once)."""
    flag = [False]
    previous = signal.getsignal(signal.SIGINT)

    def ask(signum: int, frame: object) -> None:
        if flag[0]:
            raise KeyboardInterrupt
        flag[0] = True
        print(f"Stopping after the current {unit} (Ctrl+C again to stop now)…", file=sys.stderr)

    try:
        signal.signal(signal.SIGINT, ask)
    except ValueError:  # not the main thread (tests): no signal handling, nothing to restore
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait_for_vectors(service: MemoryService, err: TextIO) -> None:
    from cli.commands import _finish_indexing

    _finish_indexing(service)


def cmd_doc(rt: Runtime, args: argparse.Namespace, out: TextIO) -> int:
    # Imported here: the parsers (pypdf, python-docx) would slow every other command's start.
    from app.documents.library import add_files, is_outdated, reread_documents, watch_folder

    service = rt.service
    max_bytes = rt.settings.document_max_mb * 1024 * 1024
    action = args.action
    if action == "add":
        project = _project(service, args.project)
        with _cancellable() as stop:
            report = add_files(
                service,
                project.id,
                [Path(f) for f in args.files],
                max_bytes=max_bytes,
                progress=_printer(sys.stderr),
                cancelled=lambda: stop[0],
            )
        for document in report.added:
            print(_line(document), file=out)
        print(report.summary(), file=out)
        if report.added:
            print("Searchable by keyword now; meaning search follows.", file=out)
            _wait_for_vectors(service, sys.stderr)
        return EXIT_USAGE if report.failed else EXIT_OK
    if action == "list":
        documents = service.list_documents(_project(service, args.project).id, include_removed=args.all)
        if args.json:
            _print_json(documents, out)
        elif not documents:
            print("No documents yet: dossier doc add --project P FILE…", file=out)
        for document in documents:
            print(_line(document), file=out)
        outdated = [d for d in documents if is_outdated(d)]
        if outdated and not args.json:
            # The window reads them again when the project is opened; the CLI says how.
            print(
                f"{len(outdated)} read by an older version of Dossier: "
                f"dossier doc reindex all --project {args.project} cuts them into passages answers find better.",
                file=out,
            )
        return EXIT_OK
    if action == "show":
        document = _document(service, args.id, args.project)
        if args.json:
            _print_json(
                {
                    "document": document,
                    "history": service.document_history(document.id),
                    "chunks": service.document_chunks(document.id),
                },
                out,
            )
            return EXIT_OK
        print(_line(document), file=out)
        print(f"file: {document.filename} ({document.media_type}), sha256 {document.sha256}", file=out)
        for key, value in document.details:
            print(f"{key}: {value}", file=out)
        if document.watched_path:
            print(f"from the watched folder, as {document.watched_path}", file=out)
        if document.status.value == "active":
            print(f"original: {service.document_original(document.id)}", file=out)
        for event in service.document_history(document.id):
            detail = f" ({event.detail})" if event.detail else ""
            print(f"  {local_time(event.created_at):%Y-%m-%d %H:%M} {event.action.value}{detail}", file=out)
        if args.text:
            print(service.document_text(document.id), file=out)
        else:
            for chunk in service.document_chunks(document.id)[: args.chunks]:
                heading = f" {chunk.heading_path} —" if chunk.heading_path else ""
                print(f"  [{chunk.citation}]{heading} {' '.join(chunk.text.split())[:120]}", file=out)
        return EXIT_OK
    if action == "remove":
        document = _document(service, args.id, args.project)
        removed = service.remove_document(document.id)
        print(f"Removed {removed.key} {removed.title}: no longer searched or cited (its history stays)", file=out)
        return EXIT_OK
    if action == "reindex":
        if args.id.strip().casefold() == "all":
            # After an update that reads documents better (smaller passages, page furniture left out).
            if args.project is None:
                raise UsageError("reindex all needs --project: the project whose documents to read again")
            documents = service.list_documents(_project(service, args.project).id)
        else:
            documents = [_document(service, args.id, args.project)]
        if not documents:
            print("The project has no documents to read again.", file=out)
        with _cancellable("document") as stop:
            report = reread_documents(service, documents, cancelled=lambda: stop[0])
        for reread in report.added:
            print(f"Re-read {reread.key} {reread.title}: {reread.chunk_count} passages", file=out)
        for name, why in report.failed:  # a lost original: said, and the others still read
            print(f"{name}: not re-read: {why}", file=out)
        _wait_for_vectors(service, sys.stderr)
        return EXIT_OK
    if action == "propose":
        from app.documents.facts import propose_from_document

        document = _document(service, args.id, args.project)
        if document.status is DocumentStatus.REMOVED:
            raise UsageError(f"{document.key} {document.title} was removed: there is nothing left to read")
        extractor = rt.extractor(None if args.no_model else rt.background_model())
        with _cancellable("passage") as stop:
            learning = propose_from_document(extractor, document.id, cancelled=lambda: stop[0])
        print(f"{document.key} {document.title}: {learning.summary()}", file=out)
        if any(o.proposal is not None for o in learning.outcomes):
            print(f"Review them: dossier inbox --project {document.project_id}", file=out)
        return EXIT_OK
    if action == "watch":
        project = _project(service, args.project)
        if args.folder is None:
            folders = service.list_watched_folders(project.id)
            if not folders:
                print("No watched folders: dossier doc watch --project P DIR", file=out)
            for folder in folders:
                synced = f"synced {local_time(folder.synced_at):%Y-%m-%d %H:%M}" if folder.synced_at else "never synced"
                print(f"W{folder.id}  {folder.path}  ({synced})", file=out)
            return EXIT_OK
        folder = watch_folder(service, project.id, Path(args.folder))
        print(f"Watching W{folder.id}: {folder.path}", file=out)
        return _sync(rt, project.id, max_bytes, out)
    if action == "unwatch":
        project = _project(service, args.project)
        if args.folder_id not in {f.id for f in service.list_watched_folders(project.id)}:
            raise UsageError(f"W{args.folder_id} is not a watched folder of {project.name}")
        service.remove_watched_folder(args.folder_id)
        print(f"Stopped watching W{args.folder_id}; its documents stay", file=out)
        return EXIT_OK
    if action == "sync":
        project_id = None if args.project is None else _project(service, args.project).id
        return _sync(rt, project_id, max_bytes, out)
    raise UsageError(f"unknown action {action}")


def _sync(rt: Runtime, project_id: int | None, max_bytes: int, out: TextIO) -> int:
    from app.documents.library import sync_project_folders

    with _cancellable() as stop:
        reports = sync_project_folders(
            rt.service, project_id, max_bytes=max_bytes, progress=_printer(sys.stderr), cancelled=lambda: stop[0]
        )
    if not reports:
        print("No watched folders.", file=out)
    for report in reports:
        print(report.summary(), file=out)
    if any(r.added or r.changed for r in reports):
        _wait_for_vectors(rt.service, sys.stderr)
    return EXIT_USAGE if any(r.failed for r in reports) else EXIT_OK


def _document(service: MemoryService, ref: str, project: str | None) -> Document:
    text = ref.strip()
    digits = text[1:] if text[:1] in ("D", "d") else text
    if not digits.isdigit():
        raise UsageError(f"not a document id: {ref!r} (dossier doc list --project P shows them, e.g. D3)")
    document = service.get_document(int(digits))
    if project is not None and document.project_id != _project(service, project).id:
        raise UsageError(f"{document.key} is not a document of {project}")
    return document
