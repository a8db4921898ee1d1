"""Project export and import as versioned JSON (``docs/format.md``).

Refs in a document are positions (1, 2, …) per kind, not database ids, so
exporting, importing into an empty data dir and exporting again gives the
same document. Context keys inside messages (``fact:12``) are translated to
refs on export and back to the new ids on import; keys pointing outside the
project (global facts) are dropped, since a project export never carries them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from memory.documents import (
    MAX_CHUNKS,
    MAX_DOCUMENT_CHARS,
    keep_original,
    read_original,
    sha256_of,
)
from memory.errors import ImportFormatError, InvalidInputError
from memory.orm import (
    ChatSessionRow,
    DocumentChunkRow,
    DocumentEventRow,
    DocumentRow,
    FactRow,
    FactVersionRow,
    MessageRow,
    ProjectRow,
    ProposalRow,
    VoiceProfileRow,
    utcnow,
)
from memory.types import ItemKey, ItemKind
from memory.validation import (
    MAX_FACT_CHARS,
    MAX_LIST_ITEMS,
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
    MAX_ROW_ID,
    MAX_SAMPLE_CHARS,
    clean_text,
    is_hidden,
    is_row_id,
)

FORMAT = "dossier.project"
VERSION = 2
#: Versions an import reads: 1 has no documents.
READABLE_VERSIONS = (1, 2)
#: The highest history version an import may bring (a fact edited a million times is not one).
MAX_VERSION = 1_000_000


@cache
def schema(version: int = VERSION) -> dict[str, Any]:
    path = f"schema/project-export.v{version}.json"
    loaded: dict[str, Any] = json.loads(files("memory").joinpath(path).read_text("utf-8"))
    return loaded


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _translate_key(key: str, maps: dict[str, dict[int, int]]) -> str | None:
    """Rewrites ``fact:12`` / ``summary:3`` / ``messages:40-41`` through id maps; None if unmapped."""
    if key == "voice":  # an export's voice key names no project
        return key
    parsed = ItemKey.parse(key)
    if parsed is None:
        return None
    if parsed.kind is ItemKind.VOICE:
        return "voice"
    if parsed.kind.value not in maps:
        return None
    mapped = [maps[parsed.kind.value].get(i) for i in parsed.ids]
    if any(m is None for m in mapped):
        return None
    return str(ItemKey(parsed.kind, tuple(m for m in mapped if m is not None)))


def _export_documents(
    s: Session, project: ProjectRow, data_dir: Path
) -> tuple[list[dict[str, Any]], dict[int, int], dict[int, int]]:
    """The project's documents, and refs by document id and by chunk id."""
    documents = list(
        s.scalars(select(DocumentRow).where(DocumentRow.project_id == project.id).order_by(DocumentRow.id))
    )
    document_ref = {row.id: n for n, row in enumerate(documents, start=1)}
    chunk_ref: dict[int, int] = {}
    exported = []
    for row in documents:
        chunks = list(
            s.scalars(
                select(DocumentChunkRow)
                .where(DocumentChunkRow.document_id == row.id)
                .order_by(DocumentChunkRow.ordinal)
            )
        )
        for chunk in chunks:
            chunk_ref[chunk.id] = len(chunk_ref) + 1
        events = s.scalars(
            select(DocumentEventRow).where(DocumentEventRow.document_id == row.id).order_by(DocumentEventRow.id)
        )
        original = None
        if row.status == "active":
            # Only the original as it was added: a lost, changed or linked copy is left out
            # (the text and passages still travel), never exported in its place.
            kept = read_original(data_dir, row.sha256, row.media_type)
            original = None if kept is None else base64.b64encode(kept).decode("ascii")
        exported.append(
            {
                "ref": document_ref[row.id],
                "title": row.title,
                "filename": row.filename,
                "media_type": row.media_type,
                "sha256": row.sha256,
                "size": row.size,
                "pages": row.pages,
                "status": row.status,
                "details": dict(row.details or {}),
                "reader": row.reader or 0,
                "watched_path": row.watched_path,
                "added_at": _iso(row.added_at),
                "updated_at": _iso(row.updated_at),
                "removed_at": _iso(row.removed_at),
                # A removed document's words stay behind (those removed before its text was cleared too).
                "text": row.text if row.status == "active" else "",
                "original_base64": original,
                "chunks": [
                    {
                        "ref": chunk_ref[c.id],
                        "page": c.page,
                        "section": c.section,
                        "heading_path": c.heading_path,
                        "start": c.start,
                        "end": c.end,
                    }
                    for c in chunks
                ],
                "history": [{"action": e.action, "detail": e.detail, "created_at": _iso(e.created_at)} for e in events],
            }
        )
    return exported, document_ref, chunk_ref


def export_project(s: Session, project: ProjectRow, data_dir: Path) -> dict[str, Any]:
    sessions = list(
        s.scalars(
            select(ChatSessionRow)
            .where(ChatSessionRow.project_id == project.id)
            .order_by(ChatSessionRow.started_at, ChatSessionRow.id)
        )
    )
    messages = list(
        s.scalars(
            select(MessageRow).where(MessageRow.project_id == project.id).order_by(MessageRow.created_at, MessageRow.id)
        )
    )
    facts = list(s.scalars(select(FactRow).where(FactRow.project_id == project.id).order_by(FactRow.id)))
    versions = list(
        s.scalars(
            select(FactVersionRow)
            .join(FactRow, FactRow.id == FactVersionRow.fact_id)
            .where(FactRow.project_id == project.id)
            .order_by(FactVersionRow.fact_id, FactVersionRow.version)
        )
    )
    proposals = list(
        s.scalars(select(ProposalRow).where(ProposalRow.project_id == project.id).order_by(ProposalRow.id))
    )
    voice = s.get(VoiceProfileRow, project.id)

    session_ref = {row.id: n for n, row in enumerate(sessions, start=1)}
    by_session: dict[int, list[MessageRow]] = {row.id: [] for row in sessions}
    for message in messages:
        by_session[message.session_id].append(message)
    message_ref: dict[int, int] = {}
    for row in sessions:
        for message in by_session[row.id]:
            message_ref[message.id] = len(message_ref) + 1
    fact_ref = {row.id: n for n, row in enumerate(facts, start=1)}
    documents, document_ref, chunk_ref = _export_documents(s, project, data_dir)
    maps = {"fact": fact_ref, "summary": session_ref, "messages": message_ref, "chunk": chunk_ref}
    history: dict[int, list[FactVersionRow]] = {}
    for version in versions:
        history.setdefault(version.fact_id, []).append(version)

    def keys(row: MessageRow) -> list[str]:
        return [k for k in (_translate_key(key, maps) for key in row.context_item_keys or []) if k]

    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": _iso(utcnow()),
        "project": {
            "name": project.name,
            "description": project.description,
            "created_at": _iso(project.created_at),
            "archived": project.archived,
        },
        "voice": None
        if voice is None
        else {
            "tone": voice.tone,
            "style_do": list(voice.style_do),
            "style_dont": list(voice.style_dont),
            "vocabulary": list(voice.vocabulary),
            "samples": list(voice.samples),
            "updated_at": _iso(voice.updated_at),
        },
        "sessions": [
            {
                "ref": session_ref[row.id],
                "title": row.title,
                "started_at": _iso(row.started_at),
                "ended_at": _iso(row.ended_at),
                "summary": row.summary,
                "messages": [
                    {
                        "ref": message_ref[m.id],
                        "role": m.role,
                        "speaker": m.speaker,
                        "content": m.content,
                        "created_at": _iso(m.created_at),
                        "external_id": m.external_id,
                        "context_item_keys": keys(m),
                    }
                    for m in by_session[row.id]
                ],
            }
            for row in sessions
        ],
        "facts": [
            {
                "ref": fact_ref[row.id],
                "text": row.text,
                "kind": row.kind,
                "pinned": row.pinned,
                "status": row.status,
                "source": row.source,
                "source_session_ref": session_ref.get(row.source_session_id or 0),
                "source_message_ref": message_ref.get(row.source_message_id or 0),
                "source_document_ref": document_ref.get(row.source_document_id or 0),
                "source_location": row.source_location,
                "created_at": _iso(row.created_at),
                "updated_at": _iso(row.updated_at),
                "history": [
                    {
                        "version": v.version,
                        "text": v.text,
                        "kind": v.kind,
                        "pinned": v.pinned,
                        "status": v.status,
                        "actor": v.actor,
                        "action": v.action,
                        "created_at": _iso(v.created_at),
                    }
                    for v in history.get(row.id, [])
                ],
            }
            for row in facts
        ],
        "proposals": [
            {
                "action": row.action,
                "target_fact_ref": fact_ref.get(row.target_fact_id or 0),
                "text": row.text,
                "kind": row.kind,
                "source_session_ref": session_ref.get(row.source_session_id or 0),
                "source_message_ref": message_ref.get(row.source_message_id or 0),
                "source_document_ref": document_ref.get(row.source_document_id or 0),
                "source_location": row.source_location,
                "origin": row.origin,
                "status": row.status,
                "reason": row.reason,
                "created_at": _iso(row.created_at),
                "decided_at": _iso(row.decided_at),
            }
            for row in proposals
        ],
        "documents": documents,
    }


# ------------------------------------------------------------------ import


@dataclass
class ParsedProject:
    """A validated document, ready to insert."""

    name: str
    document: dict[str, Any]
    times: dict[str, datetime] = field(default_factory=dict)
    #: Decoded originals by document ref (checked against their sha256).
    originals: dict[int, bytes] = field(default_factory=dict)


_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _json_path(parts: Any) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def parse_document(document: Any) -> ParsedProject:
    """Checks a document against the schema and the rules the schema cannot say.

    Raises:
        ImportFormatError: With the JSON path of the first problem.
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    if not isinstance(document, dict):
        raise ImportFormatError("a Dossier export is a JSON object", "$")
    if document.get("format") != FORMAT:
        raise ImportFormatError(f"not a Dossier project export (format must be {FORMAT!r})", "$.format")
    version = document.get("version")
    # 2.0 == 2 in Python, but no exporter writes it (and it would name no schema file).
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise ImportFormatError(
            f"unsupported version {version!r}; this Dossier reads versions "
            + " and ".join(str(v) for v in READABLE_VERSIONS),
            "$.version",
        )
    error = best_match(Draft202012Validator(schema(version)).iter_errors(document))
    if error is not None:
        raise ImportFormatError(error.message, _json_path(error.absolute_path))

    times: dict[str, datetime] = {}

    def when(value: Any, path: str) -> datetime | None:
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
            # Stored as UTC: a time whose UTC day falls outside years 1-9999 cannot be kept.
            parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except ValueError:
            raise ImportFormatError(f"not an ISO 8601 date and time: {value!r}", path) from None
        except OverflowError:
            raise ImportFormatError(f"out of range once taken to UTC: {value!r}", path) from None
        times[path] = parsed
        return parsed

    def text(value: Any, path: str, max_chars: int, allow_empty: bool = True) -> None:
        try:
            clean_text(value, "text", max_chars=max_chars, allow_empty=allow_empty)
        except InvalidInputError as err:
            raise ImportFormatError(str(err).removeprefix("text "), path) from None

    def claim(ref: Any, seen: set[int], what: str, path: str) -> None:
        if ref is None:
            return
        # Versions go on counting up after the import; refs are only positions in the file.
        limit = MAX_VERSION if what == "version" else MAX_ROW_ID
        if not is_row_id(ref) or ref > limit:
            raise ImportFormatError(f"a {what} number is a whole number from 1 to {limit:,}, not {ref!r}", path)
        if ref in seen:
            raise ImportFormatError(f"duplicate {what} ref {ref}", path)
        seen.add(ref)

    project = document["project"]
    text(project["name"], "$.project.name", MAX_NAME_CHARS, allow_empty=False)
    text(project.get("description", ""), "$.project.description", MAX_FACT_CHARS)
    when(project.get("created_at"), "$.project.created_at")

    session_refs: set[int] = set()
    message_refs: set[int] = set()
    for i, session in enumerate(document["sessions"]):
        base = f"$.sessions[{i}]"
        claim(session["ref"], session_refs, "session", f"{base}.ref")
        text(session.get("title", ""), f"{base}.title", MAX_NAME_CHARS)
        text(session.get("summary", ""), f"{base}.summary", MAX_MESSAGE_CHARS)
        when(session.get("started_at"), f"{base}.started_at")
        when(session.get("ended_at"), f"{base}.ended_at")
        for j, message in enumerate(session["messages"]):
            mbase = f"{base}.messages[{j}]"
            claim(message.get("ref"), message_refs, "message", f"{mbase}.ref")
            text(message["content"], f"{mbase}.content", MAX_MESSAGE_CHARS, allow_empty=False)
            text(message.get("speaker", ""), f"{mbase}.speaker", MAX_NAME_CHARS)
            if message.get("external_id") is not None:
                text(message["external_id"], f"{mbase}.external_id", MAX_NAME_CHARS, allow_empty=False)
            when(message.get("created_at"), f"{mbase}.created_at")

    document_refs: set[int] = set()
    active_hashes: set[str] = set()
    chunk_refs: set[int] = set()
    originals: dict[int, bytes] = {}
    for i, entry in enumerate(document.get("documents", [])):
        base = f"$.documents[{i}]"
        claim(entry["ref"], document_refs, "document", f"{base}.ref")
        text(entry["title"], f"{base}.title", MAX_NAME_CHARS)
        text(entry["filename"], f"{base}.filename", MAX_NAME_CHARS, allow_empty=False)
        text(entry["text"], f"{base}.text", MAX_DOCUMENT_CHARS, allow_empty=entry["status"] == "removed")
        for key in ("added_at", "updated_at", "removed_at"):
            when(entry.get(key), f"{base}.{key}")
        for j, event in enumerate(entry.get("history", [])):
            when(event.get("created_at"), f"{base}.history[{j}].created_at")
            text(event.get("detail", ""), f"{base}.history[{j}].detail", 500)
        encoded = entry.get("original_base64")
        if encoded is not None:
            try:
                original = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise ImportFormatError("not base64", f"{base}.original_base64") from None
            if sha256_of(original) != entry["sha256"]:
                raise ImportFormatError("the original does not match its sha256", f"{base}.original_base64")
            if entry["status"] == "removed":
                raise ImportFormatError("a removed document keeps no original", f"{base}.original_base64")
            if entry.get("size", len(original)) != len(original):
                raise ImportFormatError(f"the original has {len(original):,} bytes", f"{base}.size")
            if entry["sha256"] in active_hashes:
                raise ImportFormatError("the same file is already a document of this export", base)
            active_hashes.add(entry["sha256"])
            originals[entry["ref"]] = original
        # An active document without its original (lost before the export) keeps its text and passages.
        if any(is_hidden(c, in_file_name=True) for c in entry["filename"] + entry["title"]):
            raise ImportFormatError("direction or invisible format characters in a name", f"{base}.filename")
        for key, value in (entry.get("details") or {}).items():
            text(key, f"{base}.details", 100, allow_empty=False)
            text(value, f"{base}.details.{key[:40]}", 1000)
        if entry.get("watched_path") is not None:
            text(entry["watched_path"], f"{base}.watched_path", 4096)
        chunks = entry["chunks"]
        if len(chunks) > MAX_CHUNKS or (entry["status"] == "active" and not chunks):
            raise ImportFormatError(f"an active document has 1 to {MAX_CHUNKS:,} chunks", f"{base}.chunks")
        if entry["status"] == "removed" and chunks:
            raise ImportFormatError("a removed document has no chunks", f"{base}.chunks")
        for j, chunk in enumerate(chunks):
            cbase = f"{base}.chunks[{j}]"
            claim(chunk["ref"], chunk_refs, "chunk", f"{cbase}.ref")
            if (
                not chunk["start"] < chunk["end"] <= len(entry["text"])
                or not entry["text"][chunk["start"] : chunk["end"]].strip()
            ):
                raise ImportFormatError("the chunk's offsets do not hold text of the document", cbase)
            if chunk.get("page") is not None and chunk["page"] > (entry.get("pages") or 0):
                raise ImportFormatError(f"page {chunk['page']} of a {entry.get('pages')}-page document", cbase)
            text(chunk.get("heading_path", ""), f"{cbase}.heading_path", 1000)

    fact_refs: set[int] = set()
    for i, fact in enumerate(document["facts"]):
        base = f"$.facts[{i}]"
        claim(fact.get("ref"), fact_refs, "fact", f"{base}.ref")
        text(fact["text"], f"{base}.text", MAX_FACT_CHARS, allow_empty=False)
        for key, known in (
            ("source_session_ref", session_refs),
            ("source_message_ref", message_refs),
            ("source_document_ref", document_refs),
        ):
            if fact.get(key) is not None and fact[key] not in known:
                raise ImportFormatError(f"refers to {fact[key]}, which is not in the document", f"{base}.{key}")
        when(fact.get("created_at"), f"{base}.created_at")
        when(fact.get("updated_at"), f"{base}.updated_at")
        seen_versions: set[int] = set()
        for j, version in enumerate(fact.get("history", [])):
            vbase = f"{base}.history[{j}]"
            claim(version["version"], seen_versions, "version", f"{vbase}.version")
            # Restoring a version makes it the fact's text: empty is refused as when typed.
            text(version["text"], f"{vbase}.text", MAX_FACT_CHARS, allow_empty=False)
            when(version["created_at"], f"{vbase}.created_at")

    # A memory key that points nowhere is an error (docs/format.md), not silently dropped.
    identity = {
        "fact": {r: r for r in fact_refs},
        "summary": {r: r for r in session_refs},
        "messages": {r: r for r in message_refs},
        "chunk": {r: r for r in chunk_refs},
    }
    for i, session in enumerate(document["sessions"]):
        for j, message in enumerate(session["messages"]):
            for k, key in enumerate(message.get("context_item_keys", [])):
                if _translate_key(key, identity) is None:
                    path = f"$.sessions[{i}].messages[{j}].context_item_keys[{k}]"
                    raise ImportFormatError(f"{key!r} points to nothing in the document", path)

    for i, proposal in enumerate(document.get("proposals", [])):
        base = f"$.proposals[{i}]"
        # Accepting an add or update makes its text a fact: empty is refused as when typed.
        text(proposal.get("text", ""), f"{base}.text", MAX_FACT_CHARS, allow_empty=proposal["action"] == "archive")
        text(proposal.get("reason", ""), f"{base}.reason", MAX_FACT_CHARS)
        text(proposal.get("origin", ""), f"{base}.origin", 100)
        for key, known in (
            ("target_fact_ref", fact_refs),
            ("source_session_ref", session_refs),
            ("source_message_ref", message_refs),
            ("source_document_ref", document_refs),
        ):
            if proposal.get(key) is not None and proposal[key] not in known:
                raise ImportFormatError(f"refers to {proposal[key]}, which is not in the document", f"{base}.{key}")
        if proposal["action"] != "add" and proposal.get("target_fact_ref") is None:
            raise ImportFormatError(f"an {proposal['action']} proposal needs target_fact_ref", base)
        when(proposal.get("created_at"), f"{base}.created_at")
        when(proposal.get("decided_at"), f"{base}.decided_at")

    voice = document.get("voice")
    if voice:
        text(voice.get("tone", ""), "$.voice.tone", MAX_FACT_CHARS)
        # The limits of the voice editor (MemoryService.set_voice), not looser ones.
        for key, max_chars in (
            ("style_do", MAX_FACT_CHARS),
            ("style_dont", MAX_FACT_CHARS),
            ("vocabulary", MAX_NAME_CHARS),
            ("samples", MAX_SAMPLE_CHARS),
        ):
            values = voice.get(key, [])
            if len(values) > MAX_LIST_ITEMS:
                raise ImportFormatError(f"at most {MAX_LIST_ITEMS} entries", f"$.voice.{key}")
            for j, value in enumerate(values):
                text(value, f"$.voice.{key}[{j}]", max_chars)
        when(voice.get("updated_at"), "$.voice.updated_at")

    return ParsedProject(name=project["name"].strip(), document=document, times=times, originals=originals)


def _insert_documents(
    s: Session, parsed: ParsedProject, project: ProjectRow, data_dir: Path
) -> tuple[dict[int, int], dict[int, int]]:
    """Inserts the documents (keeping their originals); returns new ids by document ref and by chunk ref."""
    now = utcnow()
    document_ids: dict[int, int] = {}
    chunk_ids: dict[int, int] = {}
    for i, entry in enumerate(parsed.document.get("documents", [])):
        base = f"$.documents[{i}]"
        original = parsed.originals.get(entry["ref"])
        if original is not None:
            keep_original(data_dir, entry["sha256"], entry["media_type"], original)
        row = DocumentRow(
            project_id=project.id,
            title=entry["title"].strip(),
            filename=entry["filename"].strip(),
            media_type=entry["media_type"],
            sha256=entry["sha256"],
            size=entry.get("size", 0 if original is None else len(original)),
            pages=entry.get("pages"),
            status=entry["status"],
            text=entry["text"],
            details=dict(entry.get("details", {})),
            reader=entry.get("reader", 0),
            watched_path=entry.get("watched_path"),
            added_at=parsed.times.get(f"{base}.added_at", now),
            updated_at=parsed.times.get(f"{base}.updated_at", now),
            removed_at=parsed.times.get(f"{base}.removed_at"),
        )
        s.add(row)
        s.flush()
        document_ids[entry["ref"]] = row.id
        for n, chunk in enumerate(entry["chunks"]):
            chunk_row = DocumentChunkRow(
                document_id=row.id,
                project_id=project.id,
                ordinal=n,
                page=chunk.get("page"),
                section=chunk.get("section", 1),
                heading_path=chunk.get("heading_path", ""),
                start=chunk["start"],
                end=chunk["end"],
                text=entry["text"][chunk["start"] : chunk["end"]],
                vec_current=False,
            )
            s.add(chunk_row)
            s.flush()
            chunk_ids[chunk["ref"]] = chunk_row.id
        s.add_all(
            DocumentEventRow(
                document_id=row.id,
                action=event["action"],
                detail=event.get("detail", ""),
                created_at=parsed.times.get(f"{base}.history[{j}].created_at", now),
            )
            for j, event in enumerate(entry.get("history", []))
        )
    return document_ids, chunk_ids


def insert_project(
    s: Session, parsed: ParsedProject, name: str, data_dir: Path
) -> tuple[ProjectRow, dict[str, list[int]]]:
    """Inserts a parsed document as a new project (its documents' originals into ``data_dir``).

    Returns:
        The project row, and the ids to index as ``fact_ids``, ``message_ids``,
        ``session_ids`` and ``chunk_ids``.
    """
    doc, times = parsed.document, parsed.times
    now = utcnow()

    def at(path: str) -> datetime:
        return times.get(path, now)

    project = ProjectRow(
        name=name,
        description=doc["project"].get("description", "").strip(),
        created_at=at("$.project.created_at"),
        archived=doc["project"].get("archived", False),
    )
    s.add(project)
    s.flush()

    session_ids: dict[int, int] = {}
    message_ids: dict[int, int] = {}
    pending_keys: list[tuple[int, list[str]]] = []
    for i, session in enumerate(doc["sessions"]):
        base = f"$.sessions[{i}]"
        session_row = ChatSessionRow(
            project_id=project.id,
            title=session.get("title", "").strip(),
            started_at=at(f"{base}.started_at"),
            ended_at=times.get(f"{base}.ended_at"),
            summary=session.get("summary", "").strip(),
            vec_current=not session.get("summary", "").strip(),
        )
        s.add(session_row)
        s.flush()
        session_ids[session["ref"]] = session_row.id
        values = [
            {
                "session_id": session_row.id,
                "project_id": project.id,
                "role": m["role"],
                "speaker": m.get("speaker", "").strip(),
                "content": m["content"].strip(),
                "created_at": at(f"{base}.messages[{j}].created_at"),
                "external_id": (m.get("external_id") or "").strip() or None,
                "context_item_keys": [],
                "vec_current": False,
            }
            for j, m in enumerate(session["messages"])
        ]
        if values:
            new_ids = s.scalars(insert(MessageRow).returning(MessageRow.id, sort_by_parameter_order=True), values).all()
            if session_row.summary:
                # An exported summary covered its session as exported; do not redo it.
                session_row.summary_through_message_id = new_ids[-1]
            for m, new_id in zip(session["messages"], new_ids, strict=True):
                if m.get("ref") is not None:
                    message_ids[m["ref"]] = new_id
                if m.get("context_item_keys"):
                    pending_keys.append((new_id, m["context_item_keys"]))

    document_ids, chunk_ids = _insert_documents(s, parsed, project, data_dir)
    fact_ids: dict[int, int] = {}
    for i, fact in enumerate(doc["facts"]):
        base = f"$.facts[{i}]"
        created = at(f"{base}.created_at")
        row = FactRow(
            project_id=project.id,
            text=fact["text"].strip(),
            kind=fact.get("kind", "fact"),
            pinned=fact.get("pinned", False),
            status=fact.get("status", "active"),
            source=fact.get("source", "import"),
            source_session_id=session_ids.get(fact.get("source_session_ref") or 0),
            source_message_id=message_ids.get(fact.get("source_message_ref") or 0),
            source_document_id=document_ids.get(fact.get("source_document_ref") or 0),
            source_location=fact.get("source_location", ""),
            created_at=created,
            updated_at=times.get(f"{base}.updated_at", created),
            vec_current=False,
        )
        s.add(row)
        s.flush()
        if fact.get("ref") is not None:
            fact_ids[fact["ref"]] = row.id
        history = fact.get("history") or [
            {
                "version": 1,
                "text": row.text,
                "kind": row.kind,
                "pinned": row.pinned,
                "status": row.status,
                "actor": "import",
                "action": "created",
            }
        ]
        s.add_all(
            FactVersionRow(
                fact_id=row.id,
                version=v["version"],
                text=v["text"],
                kind=v["kind"],
                pinned=v["pinned"],
                status=v["status"],
                actor=v["actor"],
                action=v["action"],
                created_at=times.get(f"{base}.history[{j}].created_at", created),
            )
            for j, v in enumerate(history)
        )

    maps = {"fact": fact_ids, "summary": session_ids, "messages": message_ids, "chunk": chunk_ids}
    for message_id, keys in pending_keys:
        translated = [k for k in (_translate_key(key, maps) for key in keys) if k]
        if translated:
            s.get_one(MessageRow, message_id).context_item_keys = [
                str(ItemKey.voice(project.id)) if k == "voice" else k for k in translated
            ]

    for i, proposal in enumerate(doc.get("proposals", [])):
        base = f"$.proposals[{i}]"
        s.add(
            ProposalRow(
                project_id=project.id,
                action=proposal["action"],
                target_fact_id=fact_ids.get(proposal.get("target_fact_ref") or 0),
                text=proposal.get("text", "").strip(),
                kind=proposal.get("kind", "fact"),
                source_session_id=session_ids.get(proposal.get("source_session_ref") or 0),
                source_message_id=message_ids.get(proposal.get("source_message_ref") or 0),
                source_document_id=document_ids.get(proposal.get("source_document_ref") or 0),
                source_location=proposal.get("source_location", ""),
                origin=proposal.get("origin", ""),
                status=proposal["status"],
                reason=proposal.get("reason", ""),
                created_at=at(f"{base}.created_at"),
                decided_at=times.get(f"{base}.decided_at"),
            )
        )

    voice = doc.get("voice")
    if voice is not None:
        s.add(
            VoiceProfileRow(
                project_id=project.id,
                tone=voice.get("tone", ""),
                style_do=list(voice.get("style_do", [])),
                style_dont=list(voice.get("style_dont", [])),
                vocabulary=list(voice.get("vocabulary", [])),
                samples=list(voice.get("samples", [])),
                updated_at=at("$.voice.updated_at"),
            )
        )
    s.flush()
    return project, {
        "fact_ids": list(s.scalars(select(FactRow.id).where(FactRow.project_id == project.id))),
        "message_ids": list(s.scalars(select(MessageRow.id).where(MessageRow.project_id == project.id))),
        "session_ids": list(session_ids.values()),
        "chunk_ids": list(chunk_ids.values()),
    }
