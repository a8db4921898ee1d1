"""ChatGPT and Claude data exports made to match the real formats (no copy of anyone's data)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

BASE = 1_767_225_600.0  # 2026-01-01 00:00 UTC


def chatgpt_node(
    node_id: str, parent: str | None, role: str | None, parts: list[Any], t: float, **extra: Any
) -> dict[str, Any]:
    message = None
    if role is not None:
        message = {
            "id": node_id,
            "author": {"role": role, "name": None, "metadata": {}},
            "create_time": t,
            "update_time": None,
            "content": {"content_type": "text", "parts": parts},
            "status": "finished_successfully",
            "metadata": extra.pop("metadata", {}),
            "recipient": extra.pop("recipient", "all"),
        }
    return {"id": node_id, "message": message, "parent": parent, "children": [], **extra}


def chatgpt_conversation(
    conversation_id: str, title: str, turns: list[tuple[str, str]], *, start: float = BASE
) -> dict[str, Any]:
    """A linear conversation as ChatGPT exports it: a root, a hidden system message, then the turns."""
    mapping: dict[str, Any] = {"root": chatgpt_node("root", None, None, [], start)}
    mapping["sys"] = chatgpt_node(
        "sys", "root", "system", [""], start, metadata={"is_visually_hidden_from_conversation": True}
    )
    parent = "sys"
    for n, (role, text) in enumerate(turns):
        node_id = f"{conversation_id}-m{n}"
        mapping[node_id] = chatgpt_node(node_id, parent, role, [text], start + 60 * (n + 1))
        mapping[parent]["children"].append(node_id)
        parent = node_id
    mapping["root"]["children"] = ["sys"]
    return {
        "title": title,
        "create_time": start,
        "update_time": start + 60 * len(turns),
        "mapping": mapping,
        "current_node": parent,
        "conversation_id": conversation_id,
        "id": conversation_id,
        "is_archived": False,
    }


def claude_conversation(
    uuid: str, name: str, turns: list[tuple[str, str]], *, start: str = "2026-02-01T09:00:00"
) -> dict[str, Any]:
    messages = []
    for n, (role, text) in enumerate(turns):
        messages.append(
            {
                "uuid": f"{uuid}-m{n}",
                "text": text,
                "content": [{"type": "text", "text": text}],
                "sender": "human" if role == "user" else "assistant",
                "created_at": f"{start[:-2]}{n % 60:02d}.000000Z",
                "updated_at": f"{start[:-2]}{n % 60:02d}.000000Z",
                "attachments": [],
                "files": [],
            }
        )
    return {
        "uuid": uuid,
        "name": name,
        "created_at": start + ".000000Z",
        "updated_at": start + ".000000Z",
        "account": {"uuid": "acct-1"},
        "chat_messages": messages,
    }


def export_zip(path: Path, conversations: list[dict[str, Any]], *, folder: str = "") -> Path:
    """The export as the service sends it: a zip with conversations.json (and a user file)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{folder}conversations.json", json.dumps(conversations, ensure_ascii=False))
        archive.writestr(f"{folder}user.json", json.dumps({"id": "user-1"}))
    return path


def zip_bomb(path: Path) -> Path:
    """A zip whose conversations.json unpacks to far more than any export (a few hundred KB on disk)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("conversations.json", "w", force_zip64=True) as member:
            block = b" " * (1 << 20)
            for _ in range(300):
                member.write(block)
    path.write_bytes(buffer.getvalue())
    return path
