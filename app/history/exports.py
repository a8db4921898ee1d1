"""Reading ChatGPT and Claude data exports into plain conversations.

Both services export a zip holding ``conversations.json`` (the user may also
hand us the JSON itself):

- **ChatGPT**: a list of conversations, each a tree of nodes in ``mapping``
  (``parent``/``children``); the branch the user last saw ends at
  ``current_node``. A node's ``message`` has ``author.role`` (user, assistant,
  system, tool), ``content.parts`` (text, or objects for images and files) and
  ``create_time`` (seconds since 1970). Edits and regenerated answers are
  sibling branches: only the current one is the conversation as it stands.
- **Claude**: a list of conversations with ``uuid``, ``name``, ``created_at``
  and ``chat_messages`` (``uuid``, ``sender`` human/assistant, ``text`` and/or
  ``content`` blocks, ``created_at``, ``attachments`` with their
  ``extracted_content``). Newer exports link messages by
  ``parent_message_uuid`` and name the branch's last message in
  ``current_leaf_message_uuid``.

An export is untrusted input: sizes are checked before anything is unpacked,
and anything that is not one of these shapes gets a message, not a traceback.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.errors import UserError

#: The largest conversations.json read (years of daily chats are far less). JSON takes about 25
#: times its size in memory once parsed, so this also bounds what a hostile file can cost.
MAX_EXPORT_BYTES = 256 << 20
#: A JSON export compresses about tenfold; a thousandfold is a zip bomb.
MAX_RATIO = 100
#: One message's text at most (Dossier's own limit is the same).
MAX_MESSAGE_CHARS = 2_000_000
#: Walking a ChatGPT tree stops here: no real conversation is this long, a forged cycle is.
MAX_TREE_NODES = 1_000_000


class HistoryRefused(UserError):
    """The file is not a ChatGPT or Claude export Dossier can read; ``str(err)`` says why."""


@dataclass(frozen=True)
class Turn:
    #: "user" or "assistant".
    role: str
    text: str
    #: The message's id in the source (kept as its external id: a re-import skips it).
    source_id: str
    created_at: datetime | None


@dataclass(frozen=True)
class Conversation:
    #: "chatgpt" or "claude".
    source: str
    #: The conversation's id in the source.
    id: str
    title: str
    created_at: datetime | None
    turns: tuple[Turn, ...]

    @property
    def ended_at(self) -> datetime | None:
        times = [t.created_at for t in self.turns if t.created_at is not None]
        return max(times) if times else self.created_at


def _storable(value: datetime) -> datetime | None:
    """The time in UTC, or None where UTC has no such day (year 1 at +14:00, say): no date then."""
    try:
        moved = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        return None
    return moved if 1 < moved.year < 9999 else None


def _from_epoch(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return _storable(datetime.fromtimestamp(float(value), UTC))
    except (OverflowError, OSError, ValueError):
        return None


def _from_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return _storable(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


#: Session titles are names: one line, at most this long, no direction controls.
MAX_TITLE_CHARS = 200
_DIRECTION_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def _title(raw: Any) -> str:
    """A conversation's title as a session's: one line, no direction controls, cut to fit."""
    text = " ".join(_clean(str(raw or "")).translate(_DIRECTION_CONTROLS).split())
    return text[:MAX_TITLE_CHARS].rstrip() or "Untitled conversation"


def _clean(text: str) -> str:
    # Control characters other than tab and newlines cannot be stored (nor shown safely).
    cleaned = "".join(ch for ch in text if ch in "\t\n\r" or not (ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F))
    return "".join(ch for ch in cleaned if not 0xD800 <= ord(ch) <= 0xDFFF).strip()[:MAX_MESSAGE_CHARS]


# ---------------------------------------------------------------- ChatGPT


def _chatgpt_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if not isinstance(content, dict):
        return ""
    pieces: list[str] = []
    for part in content.get("parts") or []:
        if isinstance(part, str):
            pieces.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            pieces.append(part["text"])  # multimodal text parts; images and files carry none
    if not pieces and isinstance(content.get("text"), str):
        pieces.append(content["text"])  # code and some tool content types
    return _clean("\n".join(pieces))


def _chatgpt_branch(mapping: dict[str, Any], current: Any) -> list[dict[str, Any]]:
    """The nodes from the root to ``current`` (the branch the user last saw)."""
    if not isinstance(current, str) or current not in mapping:
        # No current node: follow the last child at each step (the newest edit).
        roots = [k for k, n in mapping.items() if isinstance(n, dict) and not n.get("parent")]
        path: list[dict[str, Any]] = []
        node_id: Any = roots[0] if roots else None
        seen: set[str] = set()
        while isinstance(node_id, str) and node_id in mapping and node_id not in seen and len(seen) < MAX_TREE_NODES:
            seen.add(node_id)
            node = mapping[node_id]
            if not isinstance(node, dict):
                break
            path.append(node)
            children = node.get("children")
            node_id = children[-1] if isinstance(children, list) and children else None
        return path
    path, node_id, seen = [], current, set[str]()
    while isinstance(node_id, str) and node_id in mapping and node_id not in seen and len(seen) < MAX_TREE_NODES:
        seen.add(node_id)
        node = mapping[node_id]
        if not isinstance(node, dict):
            break
        path.append(node)
        node_id = node.get("parent")
    return path[::-1]


def _chatgpt(raw: dict[str, Any], n: int) -> Conversation:
    mapping = raw.get("mapping")
    if not isinstance(mapping, dict):
        raise HistoryRefused(f"conversation {n + 1} has no message tree (mapping)")
    turns = []
    for node in _chatgpt_branch(mapping, raw.get("current_node")):
        message = node.get("message")
        if not isinstance(message, dict):
            continue
        author = message.get("author") or {}
        role = author.get("role") if isinstance(author, dict) else None
        metadata = message.get("metadata") or {}
        hidden = isinstance(metadata, dict) and metadata.get("is_visually_hidden_from_conversation")
        # System prompts and tool traffic are not what the user read; a tool result shown to the user is
        # usually repeated in the assistant's next answer.
        if role not in ("user", "assistant") or hidden:
            continue
        if role == "assistant" and message.get("recipient") not in (None, "all"):
            continue  # a call to a tool (browsing, code), not an answer
        text = _chatgpt_text(message)
        if not text:
            continue  # image-only or attachment-only turns carry no words to remember
        source_id = str(message.get("id") or node.get("id") or "")
        turns.append(Turn(role, text, source_id, _from_epoch(message.get("create_time"))))
    conversation_id = str(raw.get("conversation_id") or raw.get("id") or f"chatgpt-{n + 1}")
    title = _title(raw.get("title"))
    return Conversation("chatgpt", conversation_id, title, _from_epoch(raw.get("create_time")), tuple(turns))


# ---------------------------------------------------------------- Claude


def _claude_text(message: dict[str, Any]) -> str:
    blocks = message.get("content")
    pieces: list[str] = []
    if isinstance(blocks, list):
        for block in blocks:
            # "thinking", "tool_use" and "tool_result" blocks are not what was said.
            if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
                pieces.append(block["text"])
    if not pieces and isinstance(message.get("text"), str):
        pieces.append(message["text"])
    for attachment in message.get("attachments") or []:
        if isinstance(attachment, dict) and isinstance(attachment.get("extracted_content"), str):
            name = attachment.get("file_name") or "attachment"
            pieces.append(f"[Attached: {name}]\n{attachment['extracted_content']}")
    return _clean("\n\n".join(pieces))


def _claude_branch(messages: list[dict[str, Any]], leaf: Any) -> list[dict[str, Any]]:
    by_id = {m["uuid"]: m for m in messages if isinstance(m, dict) and isinstance(m.get("uuid"), str)}
    if not isinstance(leaf, str) or leaf not in by_id or not any("parent_message_uuid" in m for m in by_id.values()):
        return [m for m in messages if isinstance(m, dict)]  # a linear export: every message, in order
    path: list[dict[str, Any]] = []
    node_id: Any = leaf
    seen: set[str] = set()
    while isinstance(node_id, str) and node_id in by_id and node_id not in seen:
        seen.add(node_id)
        path.append(by_id[node_id])
        node_id = by_id[node_id].get("parent_message_uuid")
    return path[::-1]


def _claude(raw: dict[str, Any], n: int) -> Conversation:
    messages = raw.get("chat_messages")
    if not isinstance(messages, list):
        raise HistoryRefused(f"conversation {n + 1} has no chat_messages list")
    turns = []
    for message in _claude_branch(messages, raw.get("current_leaf_message_uuid")):
        sender = message.get("sender")
        role = {"human": "user", "user": "user", "assistant": "assistant"}.get(
            sender if isinstance(sender, str) else ""
        )
        if role is None:
            continue
        text = _claude_text(message)
        if text:
            turns.append(Turn(role, text, str(message.get("uuid") or ""), _from_iso(message.get("created_at"))))
    conversation_id = str(raw.get("uuid") or f"claude-{n + 1}")
    title = _title(raw.get("name"))
    return Conversation("claude", conversation_id, title, _from_iso(raw.get("created_at")), tuple(turns))


# ---------------------------------------------------------------- files


def _read_zip(path: Path, max_bytes: int) -> bytes:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise HistoryRefused(f"{path.name}: not a readable zip ({error})") from None
    with archive:
        members = [i for i in archive.infolist() if Path(i.filename).name == "conversations.json"]
        if not members:
            raise HistoryRefused(f"{path.name}: no conversations.json inside; is this a ChatGPT or Claude export?")
        info = min(members, key=lambda i: len(i.filename))  # the top-level one, not a per-conversation mirror
        if info.flag_bits & 0x1:
            raise HistoryRefused(f"{path.name}: conversations.json is encrypted")
        if info.file_size > max_bytes:
            raise HistoryRefused(f"{path.name}: conversations.json would be {info.file_size:,} bytes, over the limit")
        if info.file_size > (8 << 20) and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise HistoryRefused(f"{path.name}: conversations.json expands too much to be an export (a zip bomb?)")
        try:
            with archive.open(info) as member:
                data = member.read(max_bytes + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as error:
            raise HistoryRefused(f"{path.name}: the zip is damaged or truncated ({error})") from None
    if len(data) > max_bytes:
        raise HistoryRefused(f"{path.name}: conversations.json holds more than it declares")
    return data


def read_export(path: Path, *, max_bytes: int = MAX_EXPORT_BYTES) -> list[Conversation]:
    """The conversations of a ChatGPT or Claude export (the zip, or its conversations.json).

    Raises:
        HistoryRefused: Missing, unreadable, damaged, too large, or not one of the two formats.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
        size = path.stat().st_size
    except FileNotFoundError:
        raise HistoryRefused(f"{path}: no such file") from None
    except IsADirectoryError:
        raise HistoryRefused(f"{path}: is a folder; give the export's zip or its conversations.json") from None
    except OSError as error:
        raise HistoryRefused(f"{path}: cannot be read ({error.strerror or error})") from None
    if head.startswith(b"PK"):
        data = _read_zip(path, max_bytes)
    else:
        if size > max_bytes:
            raise HistoryRefused(f"{path.name}: {size:,} bytes, over the limit for an export")
        data = path.read_bytes()
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise HistoryRefused(f"{path.name}: not UTF-8 text; is this a ChatGPT or Claude export?") from None
    except (json.JSONDecodeError, RecursionError, ValueError) as error:
        raise HistoryRefused(f"{path.name}: not valid JSON ({str(error)[:200]}); is the file complete?") from None
    if isinstance(document, dict) and isinstance(document.get("conversations"), list):
        document = document["conversations"]  # some exports wrap the list
    if not isinstance(document, list):
        raise HistoryRefused(f"{path.name}: not a list of conversations; is this a ChatGPT or Claude export?")
    conversations = []
    for n, raw in enumerate(document):
        if not isinstance(raw, dict):
            raise HistoryRefused(f"{path.name}: conversation {n + 1} is not an object")
        if "mapping" not in raw and "chat_messages" not in raw:
            raise HistoryRefused(
                f"{path.name}: conversation {n + 1} is neither ChatGPT's (mapping) nor Claude's (chat_messages) format"
            )
        try:
            conversations.append(_chatgpt(raw, n) if "mapping" in raw else _claude(raw, n))
        except (TypeError, AttributeError, KeyError, IndexError, ValueError):
            # A shape no exporter writes (a list where an id goes, say): refused, not a traceback.
            raise HistoryRefused(f"{path.name}: conversation {n + 1} is not shaped like an export's") from None
    return conversations
