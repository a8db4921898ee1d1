"""The CLI, in-process (fast) and once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from memory import MemoryService, ProposalAction
from memory.embedding import MiniLMEmbedder
from tests.conftest import Run


def test_project_and_fact_commands(run: Run) -> None:
    assert run("project", "create", "Acme", "--description", "Rebrand")[0] == 0
    code, out, _ = run("project", "list", "--json")
    assert code == 0 and json.loads(out)[0]["name"] == "Acme"
    assert run("fact", "add", "--project", "Acme", "--kind", "decision", "Budget is 40k EUR")[1].startswith(
        "Added fact 1"
    )
    assert run("fact", "add", "--global", "I invoice monthly")[0] == 0
    assert run("fact", "edit", "1", "Budget is 45k EUR")[0] == 0
    assert run("fact", "pin", "1")[0] == 0
    code, out, _ = run("fact", "list", "--project", "acme", "--json")
    facts = json.loads(out)
    assert [(f["text"], f["pinned"], f["project_id"]) for f in facts] == [
        ("Budget is 45k EUR", True, 1),
        ("I invoice monthly", False, None),
    ]
    assert run("fact", "archive", "1")[0] == 0
    assert run("fact", "restore", "1", "--version", "1")[0] == 0
    code, out, _ = run("fact", "history", "1")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == ["v1", "v2", "v3", "v4", "v5"]
    assert run("project", "rename", "Acme", "Acme Corp")[0] == 0
    assert run("project", "archive", "Acme Corp")[0] == 0
    assert run("project", "list")[1] == ""


def test_search_and_context(run: Run) -> None:
    run("project", "create", "Acme")
    run("fact", "add", "--project", "Acme", "The marketing budget is capped at 40,000 EUR.")
    code, out, _ = run("search", "--project", "Acme", "how much can we spend", "--json")
    hits = json.loads(out)
    assert code == 0 and hits[0]["kind"] == "fact" and hits[0]["parts"]["vector_rank"] == 1
    code, out, _ = run("context", "--project", "Acme", "what's the budget?", "--budget", "200")
    assert code == 0 and "40,000 EUR" in out and "of 200 tokens" in out
    code, out, _ = run("context", "--project", "Acme", "budget", "--json")
    assert json.loads(out)["items"][0]["key"] == "fact:1"


def test_export_import_round_trip(run: Run, tmp_path: Path) -> None:
    run("project", "create", "Acme")
    run("fact", "add", "--project", "Acme", "Budget is 40k")
    target = tmp_path / "acme.json"
    assert run("export", "--project", "Acme", "-o", str(target))[0] == 0
    assert json.loads(target.read_text())["facts"][0]["text"] == "Budget is 40k"
    code, _, err = run("import", str(target))
    assert code == 2 and "already exists" in err
    code, out, _ = run("import", str(target), "--as-project", "Acme copy")
    assert code == 0 and "Acme copy" in out


BAD_INPUTS = [
    (["fact", "add", "--project", "Nope", "x"], "No project 'Nope'"),
    (["fact", "add", "--project", "Acme", ""], "Fact is empty"),
    (["fact", "add", "--project", "Acme", "x" * 1_000_000], "too long"),
    (["fact", "add", "--project", "Acme", "a\x07b"], "control character"),
    (["fact", "add", "--project", "Acme", "--global", "x"], "either --project"),
    (["fact", "edit", "999", "x"], "No fact 999"),
    (["fact", "edit", "abc", "x"], "invalid int value"),
    (["fact", "add", "--project", "Acme", "--kind", "opinion", "x"], "invalid choice"),
    (["search", "--project", "Acme", '"unbalanced NEAR( *'], None),
    (["search", "--project", "Acme", ""], "Query is empty"),
    (["search", "--project", "Acme", "x", "-k", "0"], "k must be"),
    (["context", "--project", "Acme", "x", "--budget", "0"], "budget"),
    (["import", "/does/not/exist.json"], "no such file"),
    (["project", "create", "Acme"], "already exists"),
    (["project", "frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUTS)
def test_bad_input_exits_2_with_a_message_and_changes_nothing(
    run: Run, argv: list[str], message: str | None, tmp_path: Path
) -> None:
    run("project", "create", "Acme")
    run("fact", "add", "--project", "Acme", "Keep me")
    before = run("export", "--project", "Acme", "-o", str(tmp_path / "before.json"))
    code, _, err = run(*argv)
    if message is None:  # FTS syntax is just text: a normal search
        assert code == 0
    else:
        assert code == 2, err
        assert message in err
        assert "Traceback" not in err
    code, out, _ = run("fact", "list", "--project", "Acme", "--json")
    assert [f["text"] for f in json.loads(out)] == ["Keep me"]
    assert before[0] == 0


def _document_with_message(content_json: str) -> bytes:
    """An export whose one message has ``content_json`` as its raw JSON string body."""
    document = {
        "format": "dossier.project",
        "version": 1,
        "project": {"name": "X"},
        "facts": [],
        "sessions": [{"ref": 1, "messages": [{"role": "user", "content": "CONTENT"}]}],
    }
    return json.dumps(document).replace('"CONTENT"', f'"{content_json}"').encode()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON (line 1, column 2"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b'{"format": "dossier.project",\x00 "version": 1}', "not valid JSON (line 1, column 30"),
        (b'{"format": "dossier.project", "version": 1, "project": {"name": "caf\xe9"}}', "not UTF-8 text (byte 68)"),
        (_document_with_message("before\\u0000after"), "$.sessions[0].messages[0].content: contains a control"),
        (_document_with_message("lone \\ud800 half"), "$.sessions[0].messages[0].content: contains an invalid"),
        (json.dumps({"format": "dossier.project", "version": 9}).encode(), "$.version: unsupported version 9"),
        (b'{"format": "dossier.project", "version": 2e0}', "$.version: unsupported version 2.0"),
        (
            json.dumps(
                {
                    "format": "dossier.project",
                    "version": 1,
                    "project": {"name": "X"},
                    "facts": [{"text": "a", "kind": "nope"}],
                    "sessions": [],
                }
            ).encode(),
            "$.facts[0].kind",
        ),
    ],
)
def test_bad_import_files(run: Run, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "in.json"
    path.write_bytes(content)
    code, _, err = run("import", str(path))
    assert code == 2 and message in err and "Traceback" not in err
    assert json.loads(run("project", "list", "--all", "--json")[1]) == []


def test_an_export_saved_with_a_byte_order_mark_still_imports(run: Run, tmp_path: Path) -> None:
    run("project", "create", "Acme")
    run("fact", "add", "--project", "Acme", "Jane Doe is the contact.")
    exported = tmp_path / "acme.json"
    assert run("export", "--project", "Acme", "--output", str(exported))[0] == 0
    exported.write_bytes(b"\xef\xbb\xbf" + exported.read_bytes())  # as Notepad saves UTF-8
    code, out, err = run("import", str(exported), "--as-project", "Acme again")
    assert code == 0, err
    assert "Jane Doe" in run("fact", "list", "--project", "Acme again")[1]


def test_real_subprocess_entry_point(tmp_path: Path) -> None:
    env = {**os.environ, "DOSSIER_HOME": str(tmp_path / "home")}
    ok = subprocess.run(
        [sys.executable, "-m", "cli", "project", "create", "Sub"], env=env, capture_output=True, text=True, timeout=120
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "cli", "fact", "add", "--project", "Missing", "x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "No project 'Missing'" in bad.stderr and "Traceback" not in bad.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "cli", "project", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert "Sub" in listed.stdout
    assert oct((tmp_path / "home").stat().st_mode & 0o777) == "0o700"


@pytest.fixture
def with_models(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOSSIER_MODELS_DIR", str(models_dir))
    return models_dir


def test_chat_inbox_and_summarize(run: Run, with_models: Path, data_dir: Path, embedder: MiniLMEmbedder) -> None:
    run("project", "create", "Acme")
    run("fact", "add", "--project", "Acme", "--pin", "The Q3 report is due on 14 September.")
    code, out, err = run("chat", "--project", "Acme", "--show-context", "When is the Q3 report due?")
    assert code == 0
    # Learning after the answer is announced, then what it found, instead of a silent wait.
    assert "(learning from this turn…)\n(learned: nothing new)" in err, err
    assert "a base model not tuned to chat; answers will be weak" in err
    assert "--- memory used (1 items) ---" in out and "[F1] The Q3 report is due on 14 September." in out
    answer = out.split("---\n", 2)[-1].strip()
    assert answer and "Consultant:" not in answer
    code, out, err = run("chat", "--project", "Acme", "--session", "1", "/remember Jane prefers email")
    assert code == 0 and "Remembered as F2: Jane prefers email" in out
    assert "answers will be weak" not in err  # no model answered a command
    code, out, _ = run("chat", "--project", "Acme", "--session", "1", "/remember The Q3 report is due on 30 September")
    assert code == 0 and "Proposed for your review (inbox #1)" in out  # a question proposes nothing
    code, out, _ = run("inbox", "--project", "Acme")
    assert (
        code == 0 and "#1" in out and "on “14 September.” → “30 September”" in out and "from: /remember The Q3" in out
    )
    assert run("inbox", "--project", "Acme", "accept", "99")[0] == 2
    code, out, _ = run("inbox", "--project", "Acme", "accept", "1", "--kind", "deadline", "--pin")
    assert code == 0 and "F1: The Q3 report is due on 30 September" in out
    code, out, _ = run("fact", "list", "--project", "Acme", "--json")
    due = next(f for f in json.loads(out) if f["id"] == 1)
    assert due["kind"] == "deadline" and due["pinned"]
    assert run("inbox", "--project", "Acme", "reject", "1")[0] == 2  # already decided
    code, out, _ = run("summarize", "--session", "1", "--extractive")
    assert code == 0 and "30 September" in out
    assert run("summarize")[0] == 2
    code, out, _ = run("summarize", "--due", "--extractive")
    assert code == 0 and out.startswith("Summarised 0 session(s)")  # the summary above is current
    assert run("chat", "--project", "Acme", "--session", "42", "hi")[0] == 2
    # A new session leaves session 1, which has grown since its summary: it ends and is summarised, as in the window.
    assert run("chat", "--project", "Acme", "--session", "1", "/remember Dana signs the SOW")[0] == 0
    code, _, err = run("chat", "--project", "Acme", "/remember The kick-off is on 3 March")
    assert code == 0 and "(summarising session 1, which this one follows…)\n(session 1 summarised: " in err, err
    with MemoryService.open(data_dir, embedder=embedder) as service:
        first, second = service.get_session(1), service.get_session(2)
    assert first.ended_at is not None and not first.summary_is_stale and second.ended_at is None


def test_model_commands(run: Run, with_models: Path, tmp_path: Path) -> None:
    code, out, _ = run("model", "list")
    assert code == 0 and "gemma-3-270m-q4_k_m.gguf" in out and "base model, not tuned to chat" in out
    fake = tmp_path / "fake.gguf"
    fake.write_text("not a model")
    code, _, err = run("model", "use", str(fake))
    assert code == 2 and "not a GGUF model file" in err
    code, _, err = run("model", "download", "not-a-url")
    assert code == 2 and "neither a link nor a catalogue model" in err
    code, out, _ = run("model", "use", "gemma-3-270m-q4_k_m.gguf")
    assert code == 0 and "a base model (not tuned to chat)" in out
    code, _, err = run("model", "remote", "localhost:1234", "--model", "x")
    assert code == 2 and "Not an endpoint address" in err


@pytest.mark.parametrize(("damage", "message"), [(2000, "truncated"), (0, "not a GGUF")])
def test_a_chosen_model_damaged_later_is_reported_and_nothing_is_stored(
    run: Run, with_models: Path, tmp_path: Path, default_model_path: Path, damage: int, message: str
) -> None:
    chosen = tmp_path / "chosen.gguf"
    chosen.hardlink_to(default_model_path)  # a copy without copying; `model use` resolves symlinks
    assert run("model", "use", str(chosen))[0] == 0
    run("project", "create", "Acme")
    chosen.unlink()
    chosen.write_bytes(default_model_path.read_bytes()[:damage] if damage else b"<html>404</html>")
    code, _, err = run("chat", "--project", "Acme", "Hello?")
    assert code == 2 and message in err and "Traceback" not in err
    assert run("export", "--project", "Acme", "--output", str(tmp_path / "acme.json"))[0] == 0
    exported = json.loads((tmp_path / "acme.json").read_text())
    assert [m for session in exported["sessions"] for m in session["messages"]] == []


def test_writing_to_a_device_never_replaces_it(run: Run, tmp_path: Path) -> None:
    """``-o /dev/stdout`` and the like are written to, not swapped for a regular file."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    run("project", "create", "Acme")
    received: list[bytes] = []

    def read() -> None:
        with fifo.open("rb") as handle:
            received.append(handle.read())

    import threading

    reader = threading.Thread(target=read)
    reader.start()
    code, _, err = run("export", "--project", "Acme", "-o", str(fifo))
    reader.join(timeout=30)
    assert code == 0, err
    assert fifo.is_fifo() and b'"name": "Acme"' in received[0]


def test_listing_commands_start_without_the_vector_index_or_migrations(
    tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    # Start-up is measured by bench/cli_startup.py; this checks the cause: what a listing loads.
    data = tmp_path / "data"
    with MemoryService.open(data, embedder=embedder) as service:
        service.add_fact(service.create_project("Acme").id, "The launch is on 3 March")
    probe = (
        "import sys\n"
        "from cli import main as cli\n"
        f"code = cli.main(['--data-dir', {str(data)!r}, 'fact', 'list', '--project', 'Acme'])\n"
        "print(code, sorted(m for m in ('chromadb', 'alembic', 'onnxruntime', 'llama_cpp') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert "The launch is on 3 March" in done.stdout
    assert done.stdout.strip().endswith("0 []"), done.stdout


def test_model_catalogue_and_local_servers(run: Run) -> None:
    code, out, _ = run("model", "catalogue")
    assert code == 0 and "GB of memory" in out
    assert "qwen2.5-1.5b-instruct: Qwen2.5 1.5B Instruct" in out and "licence: Apache-2.0" in out
    assert "dossier model download qwen2.5-1.5b-instruct" in out and "NOT for commercial use" in out
    code, out, _ = run("model", "servers")
    assert code == 0 and ("No Ollama (port 11434) or LM Studio (port 1234)" in out or " at http://127.0.0.1:" in out)


def test_empty_listings_say_what_to_do_and_an_unknown_model_id_is_named(run: Run) -> None:
    code, out, err = run("project", "list")
    assert code == 0 and out == "" and "dossier project create" in err
    run("project", "create", "Acme")
    code, out, err = run("fact", "list", "--project", "Acme")
    assert code == 0 and out == "" and "Nothing known yet" in err
    code, _, err = run("model", "download", "qwen9")
    assert code == 2 and "'qwen9' is neither a link nor a catalogue model" in err and "qwen2.5-1.5b-instruct" in err


def test_paths_and_ids_the_user_got_wrong_are_usage_errors(run: Run, tmp_path: Path) -> None:
    run("project", "create", "Acme")
    code, out, err = run("inbox", "--project", "Acme", "accept")
    assert code == 2 and "give the proposal's id" in err and "Traceback" not in err
    code, out, _ = run("inbox", "--project", "Acme", "accept", "all")
    assert code == 0 and "nothing to accept" in out
    code, out, _ = run("inbox", "--project", "Acme", "reject", "all")
    assert code == 0 and "nothing to reject" in out
    code, _, err = run("inbox", "--project", "Acme", "reject", "all", "--text", "something")
    assert code == 2 and "go with accept" in err
    code, _, err = run("inbox", "--project", "Acme", "reject", "all", "--pin")
    assert code == 2 and "go with accept" in err
    code, _, err = run("import", str(tmp_path))
    assert code == 2 and "not a regular file" in err
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    done = subprocess.run(
        [sys.executable, "-m", "cli", "--data-dir", str(a_file), "project", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr


def test_python_m_ui_takes_only_a_data_folder(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "ui", "project", "list"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "usage: python -m ui [--data-dir DIR]" in done.stderr


def test_settings_out_of_range_and_mismatched_formats_are_refused_and_nothing_changes(run: Run, tmp_path: Path) -> None:
    run("project", "create", "Acme")
    for argv, says in (
        (("model", "remote", "http://127.0.0.1:11434/v1", "--model", ""), "give the model name"),
        (("model", "remote", "http://127.0.0.1:11434/v1", "--model", "llama3", "--context", "-1"), "between 256"),
        (("brief", "--project", "Acme", "--format", "html", "-o", str(tmp_path / "b.pdf")), "does not match b.pdf"),
    ):
        code, _, err = run(*argv)
        assert code == 2 and says in err, (argv, err)
    code, out, _ = run("model", "list")
    assert code == 0 and "remote:" not in out  # no endpoint was saved
    assert not (tmp_path / "b.pdf").exists()


def test_the_whole_inbox_can_be_rejected_at_once(run: Run, data_dir: Path, embedder: MiniLMEmbedder) -> None:
    run("project", "create", "Acme")
    with MemoryService.open(data_dir, embedder=embedder) as service:
        [acme] = service.list_projects()
        for text in ("Notice period: 30 days.", "Fee: EUR 4,000.", "Contact: dana@acme.example."):
            service.propose(acme.id, ProposalAction.ADD, text, "fact", reason="read from a document")
    code, out, _ = run("inbox", "--project", "Acme", "reject", "all")
    assert code == 0 and out.splitlines() == ["Rejected #1", "Rejected #2", "Rejected #3"]
    code, out, _ = run("inbox", "--project", "Acme")
    assert code == 0 and "The inbox is empty." in out


def test_a_device_or_a_pipe_is_refused_as_an_import_and_a_voice_sample(run: Run) -> None:
    run("project", "create", "Acme")
    code, out, err = run("import", "/dev/zero")
    assert code == 2 and "not a regular file" in out + err and "Traceback" not in out + err
    code, out, err = run("voice", "learn", "--project", "Acme", "/dev/zero", "--no-model")
    assert code == 2 and "not a regular file" in out + err and "Traceback" not in out + err


def test_a_session_is_shown_with_its_message_ids_and_one_message_can_be_deleted(
    run: Run, data_dir: Path, embedder: MiniLMEmbedder
) -> None:
    from memory import NewMessage, Role

    run("project", "create", "Acme")
    run("project", "create", "Globex")
    with MemoryService.open(data_dir, embedder=embedder) as service:
        session = service.start_session(1, "Kick-off")
        pasted, kept = service.add_messages(
            session.id,
            [
                NewMessage(Role.USER, "The staging password is Tr0ub4dor-xylophone."),
                NewMessage(Role.OTHER, "Thanks, noted.", "Dana"),
            ],
        )
    code, out, _ = run("session", "show", "--project", "Acme", str(session.id))
    assert code == 0 and f"{pasted.id:<6}" in out and "You: The staging password" in out
    assert f"{kept.id:<6}" in out and "Dana: Thanks, noted." in out
    code, _, err = run("session", "delete-message", "--project", "Globex", str(pasted.id))
    assert code == 2 and "not in project Globex" in err
    code, out, _ = run("session", "delete-message", "--project", "Acme", str(pasted.id))
    assert code == 0 and f"Deleted message {pasted.id} (You, " in out
    assert "xylophone" not in out  # what was deleted is not printed again
    code, out, _ = run("search", "--project", "Acme", "staging password xylophone")
    assert code == 0 and "xylophone" not in out
    code, out, _ = run("session", "show", "--project", "Acme", str(session.id))
    assert "xylophone" not in out and "Dana: Thanks, noted." in out
    code, _, err = run("session", "delete-message", "--project", "Acme", str(pasted.id))
    assert code == 2 and "Traceback" not in err


def test_adding_a_fact_the_project_already_has_is_refused_and_an_archived_projects_name_is_explained(
    run: Run,
) -> None:
    run("project", "create", "Acme")
    assert run("fact", "add", "--project", "Acme", "Budget is 40k EUR.")[0] == 0
    code, _, err = run("fact", "add", "--project", "Acme", "budget is 40K eur")
    assert code == 2 and "F1 already says this (Budget is 40k EUR.); nothing was added" in err
    code, out, _ = run("fact", "list", "--project", "Acme")
    assert out.count("Budget is 40k") == 1
    run("project", "create", "Globex Audit")
    run("project", "archive", "Globex Audit")
    code, _, err = run("project", "create", "globex audit")
    assert code == 2 and "already exists (archived: unarchive it to use it again)" in err


def test_output_piped_into_a_reader_that_stops_early_ends_quietly(data_dir: Path, embedder: MiniLMEmbedder) -> None:
    """`dossier … | head`: no "Broken pipe" message, no traceback, exit code 0."""
    from memory import NewMessage, Role

    with MemoryService.open(data_dir, embedder=embedder) as service:
        project = service.create_project("Acme")
        session = service.start_session(project.id, "Long")
        service.add_messages(
            session.id, [NewMessage(Role.USER, f"Line {n} of a long session, said for the pipe.") for n in range(4_000)]
        )
    reader = subprocess.Popen(
        [sys.executable, "-m", "dossier", "--data-dir", str(data_dir), "session", "show", "--project", "Acme", "1"],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None and reader.stdout.readline().startswith(b"Session 1")
    reader.stdout.close()  # as `head -1` does
    _, err = reader.communicate(timeout=300)
    assert reader.returncode == 0 and b"Broken pipe" not in err and b"Traceback" not in err, err
