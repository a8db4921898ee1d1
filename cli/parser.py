"""The command line's arguments: every command, its options and their help."""

from __future__ import annotations

import argparse
from typing import NoReturn

from cli.commands import (
    cmd_backup,
    cmd_brief,
    cmd_chat,
    cmd_context,
    cmd_export,
    cmd_fact,
    cmd_import,
    cmd_inbox,
    cmd_model,
    cmd_project,
    cmd_reindex,
    cmd_search,
    cmd_session,
    cmd_summarize,
    cmd_voice,
)
from cli.documents import cmd_doc
from cli.history import cmd_history
from cli.mcp import cmd_mcp
from memory import FactKind


class _ArgumentsRejected(Exception):
    def __init__(self, usage: str, message: str) -> None:
        super().__init__(message)
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # Raised rather than exiting, so main() reports it to the stream it was given.
        raise _ArgumentsRejected(self.format_usage(), message)


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
    p.add_argument("id", nargs="?", help="proposal id, or 'all' for every pending one")
    p.add_argument("--text", help="accept with this text instead")
    p.add_argument("--kind", choices=kinds, help="accept as this kind of fact instead")
    p.add_argument("--pin", action="store_true", help="accept and pin the fact")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_inbox, wants_runtime=True)

    session = commands.add_parser(
        "session", help="list a project's sessions, show one, or delete one or one of its messages"
    )
    session_actions = session.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = session_actions.add_parser("list")
    p.add_argument("--project", required=True)
    p = session_actions.add_parser("delete", help="delete a session and its messages for good")
    p.add_argument("--project", required=True, help="the project it is in (a check)")
    p.add_argument("id", type=int)
    p = session_actions.add_parser("show", help="a session's messages, with their ids")
    p.add_argument("--project", required=True, help="the project it is in (a check)")
    p.add_argument("id", type=int)
    p = session_actions.add_parser(
        "delete-message", help="delete one message for good (a password pasted by mistake, say)"
    )
    p.add_argument("--project", required=True, help="the project it is in (a check)")
    p.add_argument("id", type=int, help="the message's id (session show lists them)")
    session.set_defaults(handler=cmd_session, searches=True)

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
        help="any of: summary facts timeline voice sessions documents (default: all)",
    )
    p.add_argument("--since", metavar="YYYY-MM-DD", help="only sessions from this day on")
    p.add_argument("--global", dest="is_global", action="store_true", help="include your global facts")
    p.add_argument("--summary", action="store_true", help="add an executive summary written by the model")
    p.set_defaults(handler=cmd_brief, wants_runtime=True)

    doc = commands.add_parser("doc", help="add, list, show, remove or re-read a project's documents; watch folders")
    doc_actions = doc.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = doc_actions.add_parser("add", help="add files (PDF, Word .docx, Markdown, text, HTML, e-mail .eml)")
    p.add_argument("--project", required=True)
    p.add_argument("files", nargs="+", metavar="FILE")
    p = doc_actions.add_parser("list")
    p.add_argument("--project", required=True)
    p.add_argument("--all", action="store_true", help="include removed documents")
    p.add_argument("--json", action="store_true")
    p = doc_actions.add_parser("show", help="a document's details, history and passages")
    p.add_argument("id", help="e.g. D3 or 3")
    p.add_argument("--project", help="refuse a document of another project")
    p.add_argument("--text", action="store_true", help="print the extracted text")
    p.add_argument("--chunks", type=int, default=5, metavar="N", help="passages to show (default 5)")
    p.add_argument("--json", action="store_true")
    p = doc_actions.add_parser("remove", help="stop searching and citing a document (its history stays)")
    p.add_argument("id")
    p.add_argument("--project")
    p = doc_actions.add_parser("reindex", help="read a document's kept original again (or 'all' of a project's)")
    p.add_argument("id", help="a document id, or 'all' (with --project): every active document of the project")
    p.add_argument("--project")
    p = doc_actions.add_parser("propose", help="propose facts from a document into the inbox, with their page")
    p.add_argument("id")
    p.add_argument("--project")
    p.add_argument("--no-model", action="store_true", help="cues only")
    p = doc_actions.add_parser("watch", help="keep a folder's files in step with the project (no DIR: list)")
    p.add_argument("--project", required=True)
    p.add_argument("folder", nargs="?", metavar="DIR")
    p = doc_actions.add_parser("unwatch", help="stop watching a folder (its documents stay)")
    p.add_argument("--project", required=True)
    p.add_argument("folder_id", type=lambda v: int(v.lstrip("Ww")), metavar="W1")
    p = doc_actions.add_parser("sync", help="sync watched folders now: new, changed and deleted files")
    p.add_argument("--project", help="default: every project's folders")
    doc.set_defaults(handler=cmd_doc, wants_runtime=True)
    for name in ("add", "remove", "reindex", "watch", "sync"):
        # Writing passages needs the vector index; listing and showing them does not.
        doc_actions.choices[name].set_defaults(searches=True)

    history = commands.add_parser("history", help="import conversations from ChatGPT or Claude data exports")
    history_actions = history.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = history_actions.add_parser("import", help="list an export's conversations, or import chosen ones")
    p.add_argument("file", metavar="EXPORT", help="the export's zip, or its conversations.json")
    p.add_argument("--list", action="store_true", help="show the conversations and a suggested project for each")
    p.add_argument("--project", help="the project to import into")
    chosen = p.add_mutually_exclusive_group()
    chosen.add_argument("--select", nargs="+", metavar="ID", help="conversation ids from --list")
    chosen.add_argument("--match", metavar="TEXT", help="every conversation whose title or messages contain TEXT")
    chosen.add_argument("--all", action="store_true", help="every conversation")
    p.add_argument("--propose", action="store_true", help="also propose facts from what you said, into the inbox")
    p.add_argument("--no-model", action="store_true", help="with --propose: cues only")
    history.set_defaults(handler=cmd_history, wants_runtime=True, searches=True)

    p = commands.add_parser("mcp", help="serve a project's memory to Claude Desktop, Cursor and other MCP clients")
    p.add_argument("--project", help="the one project to serve (default: every active project, named per call)")
    p.add_argument("--read-only", action="store_true", help="offer no propose_memory tool")
    p.add_argument(
        "--http",
        type=int,
        metavar="PORT",
        help="serve Streamable HTTP on 127.0.0.1:PORT (0: any free port) with a token printed at start; default: stdio",
    )
    p.set_defaults(handler=cmd_mcp, searches=True)

    p = commands.add_parser("backup", help="write a consistent backup zip (safe while Dossier runs)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.zip")
    p.set_defaults(handler=cmd_backup, wants_runtime=True)

    p = commands.add_parser("restore", help="restore a backup into an empty data dir (use --data-dir)")
    p.add_argument("file", metavar="FILE.zip")
    return parser
