"""The desktop window, driven through its real widgets over a real MemoryService.

Logic tests use the deterministic fake model; one test streams from the real
default model. Every test checks that no task or worker thread is left running.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import functools
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QUrl

from app.config.paths import resolve_paths
from app.llm.engine import LocalEngine
from app.runtime import Runtime
from memory import INDEX_DIRNAME, MemoryService, ProposalAction
from memory.embedding import MiniLMEmbedder
from tests.fakes import FakeModel
from ui.main_window import MainWindow
from ui.memory_panel import HistoryDialog, Kind
from ui.tasks import TaskRunner

#: A bound for a condition to come true, not a guess at how long it takes: with the
#: other core busy, a step that takes 0.2 s alone can take several seconds.
WAIT = 120_000


class Env:
    def __init__(self, window: MainWindow, runtime: Runtime, tasks: TaskRunner, model: FakeModel | None) -> None:
        self.window = window
        self.runtime = runtime
        self.tasks = tasks
        self.model = model
        self.results: list[object] = []
        window.turn_finished.connect(self.results.append)

    def result(self, qtbot: object, timeout: int = WAIT) -> object:
        qtbot.waitUntil(lambda: bool(self.results), timeout=timeout)  # type: ignore[attr-defined]
        qtbot.waitUntil(lambda: self.window._turn is None, timeout=timeout)  # type: ignore[attr-defined]
        return self.results[-1]


def _make_env(tmp_path: Path, embedder: MiniLMEmbedder, models_dir: Path, model: object) -> tuple[Runtime, TaskRunner]:
    paths = resolve_paths(tmp_path / "data", env={"DOSSIER_MODELS_DIR": str(models_dir)})
    runtime = Runtime(
        paths, MemoryService.open(paths.data_dir, embedder=embedder), chat_model=model, background_model=model
    )
    return runtime, TaskRunner()


@pytest.fixture
def make_window(qtbot: object, tmp_path: Path, embedder: MiniLMEmbedder, models_dir: Path) -> Iterator[object]:
    made: list[Env] = []
    threads_before = {t.ident for t in threading.enumerate()}

    def make(model: object | None = None, projects: Sequence[str] = ("Acme",)) -> Env:
        fake = model if model is not None else FakeModel(delay=0.01)
        runtime, tasks = _make_env(tmp_path, embedder, models_dir, fake)
        for name in projects:
            runtime.service.create_project(name)
        window = MainWindow(runtime, tasks, load_model=False)
        qtbot.addWidget(window)  # type: ignore[attr-defined]
        window.show()
        env = Env(window, runtime, tasks, fake if isinstance(fake, FakeModel) else None)
        made.append(env)
        qtbot.waitUntil(lambda: window.project_id is not None or not projects, timeout=WAIT)  # type: ignore[attr-defined]
        return env

    yield make
    for env in made:
        env.window.close()
        assert env.tasks.shutdown(WAIT), "a task was still running"
        env.runtime.close()
        if env.model is not None:
            env.model.close()
    leftover = [
        t
        for t in threading.enumerate()
        if t.ident not in threads_before
        and t.is_alive()
        and not isinstance(t, threading._DummyThread)
        and not t.name.startswith(("Thread-", "dossier-llama"))  # chromadb's and the shared engine's
    ]
    assert leftover == [], f"threads left running: {leftover}"


def _settle(qtbot: object, env: Env) -> None:
    """Waits until every task has ended and its results have reached the widgets."""
    qtbot.waitUntil(lambda: env.tasks.active == 0, timeout=WAIT)  # type: ignore[attr-defined]


def _select_project(window: MainWindow, name: str) -> None:
    for row in range(window.projects.count()):
        if window.projects.item(row).text() == name:
            window.projects.setCurrentRow(row)


def _facts_shown(env: Env) -> list[str]:
    facts = env.window.memory.facts.list
    return [facts.item(i).text() for i in range(facts.count())]


def test_a_message_streams_in_and_is_stored(qtbot: object, make_window: object) -> None:
    env = make_window(FakeModel(lambda t, s: "one two three four five six seven eight", delay=0.05))
    env.runtime.service.add_fact(1, "Jane Doe is the contact at Acme")
    seen_partial = []
    env.window.chat.input.setPlainText("Who is the contact at Acme?")
    qtbot.keyClick(env.window.chat.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(env.window.chat.entries and env.window.chat.entries[-1].text), timeout=WAIT)
    seen_partial.append(env.window.chat.entries[-1].text)
    result = env.result(qtbot)
    assert seen_partial[0] != result.text, "the answer arrived in one piece, not streamed"
    assert env.window.chat.entries[-1].text == "one two three four five six seven eight"
    assert env.window.chat.input.toPlainText() == ""
    assert "fact:1" in env.window.chat.entries[-1].memory_keys
    assert "memory used (" in env.window.chat.to_markdown()
    session_id = env.window.session_id
    assert [m.content for m in env.runtime.service.list_messages(session_id)][0] == "Who is the contact at Acme?"
    assert "Context:" in env.window.context_label.text()


def test_shift_enter_makes_a_new_line(qtbot: object, make_window: object) -> None:
    env = make_window()
    box = env.window.chat.input
    qtbot.keyClicks(box, "first")
    qtbot.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(box, "second")
    assert box.toPlainText() == "first\nsecond" and env.window._turn is None


def test_stop_keeps_the_partial_answer(qtbot: object, make_window: object) -> None:
    env = make_window(FakeModel(lambda t, s: " ".join(f"w{i}" for i in range(200)), delay=0.05))
    env.window.send("Tell me everything")
    qtbot.waitUntil(lambda: len(env.window.chat.entries[-1].text.split()) >= 3, timeout=WAIT)
    qtbot.mouseClick(env.window.chat.stop_button, Qt.MouseButton.LeftButton)
    result = env.result(qtbot)
    assert result.cancelled and 3 <= len(result.text.split()) < 200
    assert env.window.chat.entries[-1].note == "Stopped."
    assert env.window.chat.send_button.isEnabled() and not env.window.chat.stop_button.isEnabled()


def test_stop_before_the_first_word_leaves_nothing_behind(qtbot: object, make_window: object) -> None:
    started, stopped = threading.Event(), threading.Event()

    def slow(turns: object, settings: object) -> str:
        # Still reading the prompt: the first word comes only after the user pressed Stop.
        started.set()
        assert stopped.wait(WAIT / 1000)
        return "late answer"

    env = make_window(FakeModel(slow))
    env.window.chat.input.setPlainText("Tell me everything")
    env.window.chat._on_send()
    qtbot.waitUntil(started.is_set, timeout=WAIT)  # type: ignore[attr-defined]
    env.window.stop()
    stopped.set()
    qtbot.waitUntil(lambda: env.window._turn is None, timeout=WAIT)  # type: ignore[attr-defined]
    assert env.window.chat.entries == [] and env.window.chat.input.toPlainText() == "Tell me everything"
    assert "nothing was stored" in env.window.statusBar().currentMessage()
    assert not env.window.chat.again_button.isEnabled()
    assert all(s.message_count == 0 for s in env.runtime.service.list_sessions(1))


def test_a_failed_turn_keeps_the_text_and_shows_the_error(qtbot: object, make_window: object) -> None:
    env = make_window(FakeModel(fail=True))
    env.window.chat.input.setPlainText("Please draft the kickoff email")
    env.window.chat._on_send()
    qtbot.waitUntil(lambda: env.window.banner.isVisible(), timeout=WAIT)
    assert "fake model failed" in env.window.banner.label.text()
    assert env.window.chat.input.toPlainText() == "Please draft the kickoff email"
    assert env.window.chat.entries == []
    qtbot.waitUntil(lambda: env.window._turn is None, timeout=WAIT)
    assert all(s.message_count == 0 for s in env.runtime.service.list_sessions(1))


def test_accepting_a_proposal_shows_the_fact(qtbot: object, make_window: object) -> None:
    env = make_window()
    env.runtime.service.propose(1, ProposalAction.ADD, "The budget is 45,000 euros", "decision")
    inbox = env.window.memory.inbox
    inbox.reload()
    qtbot.waitUntil(lambda: inbox.list.count() == 1, timeout=WAIT)
    assert env.window.memory.tabText(1) == "Inbox (1)"
    inbox.list.setCurrentRow(0)
    inbox._on_accept()
    qtbot.waitUntil(lambda: any("The budget is 45,000 euros" in t for t in _facts_shown(env)), timeout=WAIT)
    qtbot.waitUntil(lambda: env.window.memory.tabText(1) == "Inbox", timeout=WAIT)


def test_the_whole_inbox_can_be_rejected_and_nothing_becomes_memory(qtbot: object, make_window: object) -> None:
    env = make_window()
    for text in ("Notice period: 30 days.", "Fee: EUR 4,000.", "Contact: dana@acme.example."):
        env.runtime.service.propose(1, ProposalAction.ADD, text, "fact")
    inbox = env.window.memory.inbox
    inbox.reload()
    qtbot.waitUntil(lambda: inbox.list.count() == 3, timeout=WAIT)
    inbox.reject_all()
    qtbot.waitUntil(lambda: inbox.list.count() == 0 and env.window.memory.tabText(1) == "Inbox", timeout=WAIT)
    assert env.runtime.service.list_proposals(1) == [] and env.runtime.service.list_facts(1) == []


def test_editing_a_fact_records_its_history(qtbot: object, make_window: object) -> None:
    env = make_window()
    env.runtime.service.add_fact(1, "The budget is 40,000 euros")
    facts = env.window.memory.facts
    facts.reload()
    qtbot.waitUntil(lambda: facts.list.count() == 1, timeout=WAIT)
    facts.list.setCurrentRow(0)
    facts.save_edit(facts._selected_fact(), "The budget is 45,000 euros")  # what the Edit dialog does
    qtbot.waitUntil(lambda: any("45,000" in t for t in _facts_shown(env)), timeout=WAIT)
    history = env.runtime.service.fact_history(1)
    assert [v.text for v in history] == ["The budget is 40,000 euros", "The budget is 45,000 euros"]
    env.runtime.service.edit_fact(1, kind="decision")
    env.runtime.service.pin_fact(1)
    history = env.runtime.service.fact_history(1)
    dialog = HistoryDialog(history)
    qtbot.addWidget(dialog)
    assert dialog.list.count() == 4 and "40,000" in dialog.list.item(3).text()
    # Newest first; a change of kind or pin shows, not only a change of words.
    assert dialog.list.item(1).text().split("\n")[0].endswith("user edited · decision (was fact)")
    assert dialog.list.item(0).text().split("\n")[0].endswith("user pinned · decision, pinned")
    dialog.list.setCurrentRow(3)
    dialog._on_restore()
    assert dialog.chosen == 1


def test_two_projects_never_show_each_others_memory(qtbot: object, make_window: object) -> None:
    env = make_window(projects=("Acme", "Globex"))
    service = env.runtime.service
    service.add_fact(1, "Acme secret: the teal logo")
    service.add_fact(2, "Globex secret: merger in May")
    service.propose(2, ProposalAction.ADD, "Globex pending: new CFO")
    window = env.window

    # Acme is shown first, perhaps loaded before the facts were written: switching
    # projects is what loads a project's memory.
    for name, mine, theirs in (("Globex", "Globex secret", "Acme secret"), ("Acme", "Acme secret", "Globex")):
        _select_project(window, name)
        qtbot.waitUntil(lambda m=mine: any(m in t for t in _facts_shown(env)), timeout=WAIT)
        _settle(qtbot, env)
        assert not any(theirs in t for t in _facts_shown(env))
        inbox = window.memory.inbox.list
        texts = [inbox.item(i).text() for i in range(inbox.count())]
        assert all(("Globex" in t) == (name == "Globex") for t in texts)


def test_a_slow_load_for_the_project_left_never_shows_in_the_one_selected(qtbot: object, make_window: object) -> None:
    # Workers finish in any order; on a busy machine the load for the project the user
    # just left can arrive after the load for the one now selected.
    env = make_window(projects=("Acme", "Globex"))
    service = env.runtime.service
    service.add_fact(1, "Acme secret: the teal logo")
    service.add_fact(2, "Globex secret: merger in May")
    qtbot.waitUntil(lambda: env.window.project_id == 1, timeout=WAIT)
    _settle(qtbot, env)
    release = threading.Event()
    real_list_facts = service.list_facts

    def held_back_for_acme(project_id: int, **kwargs: object) -> object:
        if project_id == 1:
            assert release.wait(WAIT / 1000)
        return real_list_facts(project_id, **kwargs)

    service.list_facts = held_back_for_acme  # type: ignore[method-assign]
    env.window.memory.facts.reload()
    _select_project(env.window, "Globex")
    qtbot.waitUntil(lambda: any("Globex secret" in t for t in _facts_shown(env)), timeout=WAIT)
    release.set()
    _settle(qtbot, env)
    shown = _facts_shown(env)
    assert any("Globex secret" in t for t in shown) and not any("Acme secret" in t for t in shown)


def test_clicking_a_memory_item_selects_it_in_the_panel(qtbot: object, make_window: object) -> None:
    env = make_window()
    env.runtime.service.add_fact(1, "Jane Doe is the contact at Acme")
    env.window.chat._on_anchor_clicked(QUrl("dossier:item/fact:1"))
    qtbot.waitUntil(lambda: env.window.memory.facts.selected_key() == "fact:1", timeout=WAIT)
    assert env.window.memory.currentWidget() is env.window.memory.facts


def test_export_brief_dialog_previews_and_saves(qtbot: object, make_window: object, tmp_path: Path) -> None:
    from ui.brief_dialog import BriefDialog

    env = make_window()
    env.runtime.service.add_fact(1, "Jane Doe is the contact at Acme", "contact")
    dialog = BriefDialog(env.runtime, env.tasks, 1)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.brief is not None, timeout=WAIT)
    assert "Jane Doe is the contact at Acme" in dialog.preview.toPlainText()
    dialog.save_to(tmp_path / "brief.md", "md")
    qtbot.waitUntil(lambda: (tmp_path / "brief.md").exists(), timeout=WAIT)
    assert "Jane Doe" in (tmp_path / "brief.md").read_text()
    dialog.save_to(tmp_path / "gone" / "brief.pdf", "pdf")
    qtbot.waitUntil(lambda: "could not be written" in dialog.status.text(), timeout=WAIT)
    assert "the folder does not exist" in dialog.status.text()
    dialog.close()


def test_a_damaged_search_index_is_rebuilt_and_the_window_says_so(
    qtbot: object, tmp_path: Path, embedder: MiniLMEmbedder, models_dir: Path
) -> None:
    paths = resolve_paths(tmp_path / "data", env={"DOSSIER_MODELS_DIR": str(models_dir)})
    with MemoryService.open(paths.data_dir, embedder=embedder) as service:
        project = service.create_project("Acme")
        service.add_fact(project.id, "Jane Doe is the head of logistics at Acme.")
    (paths.data_dir / INDEX_DIRNAME / "chroma.sqlite3").write_bytes(b"not a database" * 1000)
    model = FakeModel()
    # As ui.app opens it: without reconciling; the window reconciles once the projects show.
    runtime = Runtime(paths, MemoryService.open(paths.data_dir, embedder=embedder, reconcile=False), chat_model=model)
    tasks = TaskRunner()
    window = MainWindow(runtime, tasks, load_model=False, reconcile_index=True)
    qtbot.addWidget(window)  # type: ignore[attr-defined]
    window.show()
    try:
        qtbot.waitUntil(lambda: "rebuilt" in window.statusBar().currentMessage(), timeout=WAIT)  # type: ignore[attr-defined]
        assert "Nothing was lost" in window.statusBar().currentMessage()
        hit = runtime.service.search(project.id, "who runs the supply chain")[0]
        assert "Jane Doe" in hit.text and hit.parts.vector_rank == 1
    finally:
        window.close()
        assert tasks.shutdown(WAIT)
        runtime.close()
        model.close()


def test_the_real_default_model_streams_into_the_window(
    qtbot: object, make_window: object, local_engine: LocalEngine
) -> None:
    env = make_window(local_engine)
    env.runtime.service.add_fact(1, "The Q3 report is due on 14 September.", pinned=True)
    env.window.runtime.update_settings(max_reply_tokens=40)
    tokens: list[object] = []
    env.window.send("When is the Q3 report due?")
    env.window._turn.token.connect(tokens.append)
    result = env.result(qtbot, timeout=60_000)
    assert result.text and not result.cancelled
    assert sum(1 for t in tokens if type(t).__name__ == "Token") >= 1
    assert env.window.chat.entries[-1].text == result.text


def test_many_results_cross_threads_without_losing_references(qtbot: object) -> None:
    """Guards against PySide6 6.12.0, which dropped a reference to True per queued object signal."""
    import gc
    import sys

    emitted = 5000
    tasks = TaskRunner()
    received: list[object] = []
    finished: list[object] = []
    # Earlier tests leave cyclic garbage holding references to True; a collection
    # during the wait would move the count by thousands, so collect first and hold
    # collections off while counting.
    gc.collect()
    gc.disable()
    try:
        before = sys.getrefcount(True)
        task = tasks.stream("many tokens", lambda _task: ((i, i % 2 == 0, None) for i in range(emitted)))
        task.token.connect(received.append)
        task.finished.connect(finished.append)
        qtbot.waitUntil(lambda: len(received) == emitted and bool(finished or task.done.is_set()), timeout=WAIT)
        assert tasks.shutdown(WAIT)
        received.clear()
        after = sys.getrefcount(True)
    finally:
        gc.enable()
    # The bug loses one reference per signal; other live threads move the count by a few.
    assert abs(after - before) < 100, (before, after)


def test_the_status_bar_shows_meaning_search_catching_up_after_an_import(
    qtbot: object, tmp_path: Path, embedder: MiniLMEmbedder, models_dir: Path
) -> None:
    from tests.test_background_index import HeldBackEmbedder, transcript

    held = HeldBackEmbedder(embedder)
    runtime, tasks = _make_env(tmp_path, held, models_dir, FakeModel())  # type: ignore[arg-type]
    window = MainWindow(runtime, tasks, load_model=False)
    qtbot.addWidget(window)  # type: ignore[attr-defined]
    try:
        runtime.service.import_project(transcript(200, {}))
        qtbot.waitUntil(lambda: "Indexing for meaning search" in window.index_label.text(), timeout=WAIT)  # type: ignore[attr-defined]
        assert "left" in window.index_label.text()
    finally:
        held.release.set()
    qtbot.waitUntil(lambda: window.index_label.text() == "", timeout=WAIT)  # type: ignore[attr-defined]
    window.close()
    assert tasks.shutdown(WAIT)
    runtime.close()


def test_the_window_refuses_to_back_up_or_save_a_brief_over_its_own_database(
    qtbot: object, make_window: object
) -> None:
    from ui.brief_dialog import BriefDialog

    env = make_window()
    database = env.runtime.paths.data_dir / "dossier.sqlite3"
    before = database.read_bytes()[:100]
    env.window.back_up_to(database)
    assert env.window.banner.isVisible() and "data folder" in env.window.banner.label.text()
    dialog = BriefDialog(env.runtime, env.tasks, 1)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.brief is not None, timeout=WAIT)
    dialog.save_to(database, "md")
    assert "data folder" in dialog.status.text()
    _settle(qtbot, env)
    assert database.read_bytes()[:100] == before and env.runtime.service.list_projects()


def test_file_dialogs_start_in_the_home_folder_not_where_the_app_was_started(
    qtbot: object, make_window: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QFileDialog

    env = make_window()
    _settle(qtbot, env)
    asked: list[str] = []

    def save_nothing(parent: object, caption: str, directory: str, *rest: object) -> tuple[str, str]:
        asked.append(directory)
        return "", ""

    def open_nothing(parent: object, caption: str, directory: str, *rest: object) -> tuple[list[str], str]:
        asked.append(directory)
        return [], ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_nothing))
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(open_nothing))
    env.window._on_backup()
    env.window.documents._on_add_files()
    assert len(asked) == 2
    backup, documents = (Path(a) for a in asked)
    assert backup.parent == Path.home() and backup.name.startswith("Dossier backup ") and backup.suffix == ".zip"
    assert documents == Path.home()


def test_the_settings_dialog_refuses_a_key_inside_the_endpoint_address(qtbot: object, make_window: object) -> None:
    from ui.settings_dialog import SettingsDialog

    env = make_window()
    dialog = SettingsDialog(env.runtime, env.tasks, env.window.project_id)
    qtbot.addWidget(dialog)
    dialog.remote_url.setText("https://me:sk-SECRET-2@api.example.invalid/v1")
    dialog._on_save()
    assert "keyring" in dialog.error.text()
    _settle(qtbot, env)
    assert env.runtime.settings.remote_base_url is None
    assert (
        "sk-SECRET-2" not in env.runtime.paths.settings_file.read_text()
        if env.runtime.paths.settings_file.exists()
        else True
    )


def test_settings_offer_a_catalogue_and_the_models_of_local_servers(
    qtbot: object, make_window: object, model_server: str, chat_server: int, default_model_path: Path
) -> None:
    from app.llm.catalogue import CatalogueModel
    from app.llm.models import default_model
    from ui.settings_dialog import SettingsDialog

    env = make_window()
    size = default_model_path.stat().st_size
    tiny = CatalogueModel(
        "tiny", "Tiny test model", "tiny.gguf", f"{model_server}/models/tiny.gguf", default_model().sha256,
        size, "Apache-2.0", True, "Checking the catalogue",
    )  # fmt: skip
    huge = CatalogueModel(
        "huge", "Huge test model", "huge.gguf", f"{model_server}/models/huge.gguf", "0" * 64,
        2**50, "Research only", False, "Never fits",
    )  # fmt: skip
    dialog = SettingsDialog(
        env.runtime, env.tasks, 1, catalogue_entries=[tiny, huge], local_servers=(("Ollama", chat_server),)
    )
    qtbot.addWidget(dialog)
    assert "fits this computer" in dialog.catalogue_rows["tiny"].text()
    assert "needs more memory" in dialog.catalogue_rows["huge"].text()
    assert "not for commercial use" in dialog.catalogue_rows["huge"].text()
    downloaded = env.runtime.store.models_dir / "tiny.gguf"
    try:
        dialog.catalogue_buttons["tiny"].click()  # one click: the resumable downloader, checked by sha256
        qtbot.waitUntil(lambda: dialog.model.currentData() == str(downloaded), timeout=WAIT)  # type: ignore[attr-defined]
        assert dialog.sha.text() == default_model().sha256 and dialog.error.text() == ""
    finally:
        _settle(qtbot, env)
        downloaded.unlink(missing_ok=True)
    dialog.find_servers_button.click()
    qtbot.waitUntil(lambda: dialog.servers.count() == 2, timeout=WAIT)  # type: ignore[attr-defined]
    dialog.servers.setCurrentIndex(1)
    dialog.use_server_button.click()
    assert dialog.remote_url.text() == f"http://127.0.0.1:{chat_server}/v1"
    assert dialog.remote_model.text() == "qwen2.5:7b-instruct"
    assert dialog.changes()["chat_backend"] == "remote"


def test_copy_answer_waits_for_an_answer_and_picking_a_project_answers_the_guide(
    qtbot: object, make_window: object
) -> None:
    env = make_window(projects=())
    window = env.window
    assert not window.chat.copy_button.isEnabled()
    window.chat.input.setPlainText("Hello")
    window.chat._on_send()  # no project yet: the status bar says what to do
    assert "Pick a client project" in window.statusBar().currentMessage()
    env.runtime.service.create_project("Acme")
    window.reload_projects()
    qtbot.waitUntil(lambda: window.project_id is not None, timeout=WAIT)  # type: ignore[attr-defined]
    assert window.statusBar().currentMessage() == ""
    window.send("Hello")
    env.result(qtbot)
    assert window.chat.copy_button.isEnabled()


def test_ask_again_replaces_the_answer_in_place(qtbot: object, make_window: object) -> None:
    answers = iter(["First answer.", "Second answer."])
    env = make_window(FakeModel(lambda t, s: '{"facts": []}' if s.json_schema else next(answers)))
    env.window.send("When is the launch?")
    env.result(qtbot)
    _settle(qtbot, env)
    env.window.chat.again_button.click()
    qtbot.waitUntil(lambda: env.window.chat.entries[-1].text == "Second answer.", timeout=WAIT)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: env.window._turn is None, timeout=WAIT)  # type: ignore[attr-defined]
    assert [(e.role, e.text) for e in env.window.chat.entries] == [
        ("user", "When is the launch?"),
        ("assistant", "Second answer."),
    ]
    messages = env.runtime.service.list_messages(env.window.session_id)
    assert [m.content for m in messages] == ["When is the launch?", "First answer.", "Second answer."]
    env.window._show_messages(messages)  # the session shown again, as after a restart
    assert [e.text for e in env.window.chat.entries] == ["When is the launch?", "Second answer."]
    assert env.window.chat.entries[-1].note == "Answered again."


def test_a_message_deleted_from_the_chat_is_gone_from_the_session_and_the_next_prompt(
    qtbot: object, make_window: object
) -> None:
    from PySide6.QtGui import QTextCursor

    env = make_window(FakeModel(lambda t, s: '{"facts": []}' if s.json_schema else "Noted."))
    window, chat = env.window, env.window.chat
    window.send("The staging password is Tr0ub4dor-xylophone.")
    env.result(qtbot)
    _settle(qtbot, env)
    window.send("The steering committee meets on Thursdays.")
    env.result(qtbot)
    _settle(qtbot, env)
    assert all(entry.message_ids for entry in chat.entries)
    # Right-click on the first message: the menu offers to delete the one under the pointer.
    first = chat.transcript.cursorRect(QTextCursor(chat.transcript.document().findBlockByNumber(1))).center()
    assert chat.entry_at(first) is chat.entries[0]
    menu = chat.message_menu(first)
    delete = next(a for a in menu.actions() if a.text() == "Delete this message…")
    assert delete.isEnabled()
    menu.deleteLater()
    window.delete_message(chat.entries[0].message_ids)  # what the action does once confirmed
    qtbot.waitUntil(lambda: len(chat.entries) == 2, timeout=WAIT)  # type: ignore[attr-defined]
    _settle(qtbot, env)
    # The answer to it went too; the other exchange is shown as it was, not as an answer given again.
    assert "xylophone" not in chat.to_markdown() and chat.entries[1].note == ""
    assert [e.role for e in chat.entries] == ["user", "assistant"]
    stored = env.runtime.service.list_messages(window.session_id)
    assert all("xylophone" not in m.content for m in stored) and len(stored) == 2
    window.send("What did I tell you?")
    env.result(qtbot)
    _settle(qtbot, env)
    assert env.model is not None and "xylophone" not in env.model.rendered()
    assert "steering committee" in env.model.rendered()  # the session's other turns are still there


def test_a_message_deleted_by_another_process_leaves_the_open_window_and_its_next_prompt(
    qtbot: object, make_window: object
) -> None:
    env = make_window(FakeModel(lambda t, s: '{"facts": []}' if s.json_schema else "Noted."))
    window, chat = env.window, env.window.chat
    for text in ("The staging password is Tr0ub4dor-xylophone.", "The steering committee meets on Thursdays."):
        window.send(text)
        env.result(qtbot)
        _settle(qtbot, env)
    pasted = chat.entries[0].message_ids[0]
    script = "import sys; from memory import MemoryService\nwith MemoryService.open(sys.argv[1]) as other:\n    other.delete_message(int(sys.argv[2]))\n"
    done = subprocess.run(
        [sys.executable, "-c", script, str(env.runtime.paths.data_dir), str(pasted)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    window._on_changes_poll()  # what the 3-second check does
    qtbot.waitUntil(lambda: len(chat.entries) == 2, timeout=WAIT)  # type: ignore[attr-defined]
    assert "xylophone" not in chat.to_markdown()
    window.send("What did I tell you?")
    env.result(qtbot)
    _settle(qtbot, env)
    assert env.model is not None and "xylophone" not in env.model.rendered()
    assert "steering committee" in env.model.rendered()


def test_settings_that_change_the_chat_model_reload_it_and_others_do_not(qtbot: object, make_window: object) -> None:
    from ui.settings_dialog import SettingsDialog

    env = make_window()
    reloads: list[bool] = []
    for edit in (
        lambda d: (d.temperature.setValue(0.3), d.document_max_mb.setValue(50)),  # no model change
        lambda d: (d.remote_url.setText("http://127.0.0.1:11434/v1"), d.remote_model.setText("llama3.2")),
    ):
        dialog = SettingsDialog(env.runtime, env.tasks, 1)
        qtbot.addWidget(dialog)
        changed: list[bool] = []
        dialog.model_changed.connect(functools.partial(changed.append, True))
        edit(dialog)
        dialog._on_save()
        qtbot.waitUntil(lambda d=dialog: d.result() == 1, timeout=WAIT)  # type: ignore[attr-defined]
        reloads.append(bool(changed))
    assert reloads == [False, True]
    assert env.runtime.settings.document_max_mb == 50


def test_the_window_makes_the_daily_backup_too(qtbot: object, make_window: object) -> None:
    env = make_window(projects=())
    backups = env.runtime.paths.backups_dir
    assert not list(backups.glob("*.zip")) if backups.exists() else True  # off by default
    env.runtime.update_settings(auto_backup_keep=2)
    env.window.backup_if_due()  # what the window does at start and hourly
    qtbot.waitUntil(lambda: len(list(backups.glob("*.zip"))) == 1, timeout=WAIT)  # type: ignore[attr-defined]
    _settle(qtbot, env)
    env.window.backup_if_due()  # not due again the same day
    _settle(qtbot, env)
    assert len(list(backups.glob("*.zip"))) == 1


def test_one_signal_says_memory_changed_and_each_panel_reloads_what_it_shows(
    qtbot: object, make_window: object
) -> None:

    env = make_window(projects=("Acme", "Globex"))
    _select_project(env.window, "Acme")
    qtbot.waitUntil(lambda: env.window.project_id == 1, timeout=WAIT)  # type: ignore[attr-defined]
    _settle(qtbot, env)
    memory = env.window.memory
    env.runtime.service.add_fact(1, "Acme's launch is on 3 March")
    memory.memory_changed.emit(2, frozenset({Kind.FACTS}))  # another project: nothing to reload here
    _settle(qtbot, env)
    assert _facts_shown(env) == []
    memory.memory_changed.emit(1, frozenset({Kind.PROPOSALS}))  # not what the Facts tab shows
    _settle(qtbot, env)
    assert _facts_shown(env) == []
    memory.memory_changed.emit(1, frozenset({Kind.FACTS}))
    qtbot.waitUntil(lambda: len(_facts_shown(env)) == 1, timeout=WAIT)  # type: ignore[attr-defined]
    # A decision in the inbox changes facts too: the Facts tab follows without being told by hand.
    proposal = env.runtime.service.propose(1, "add", "Dana is the new contact", "contact")
    memory.inbox.reload()
    qtbot.waitUntil(lambda: memory.inbox.list.count() == 1, timeout=WAIT)  # type: ignore[attr-defined]
    memory.inbox.list.setCurrentRow(0)
    memory.inbox._on_accept()
    qtbot.waitUntil(lambda: len(_facts_shown(env)) == 2, timeout=WAIT)  # type: ignore[attr-defined]
    assert memory.inbox.list.count() == 0 and proposal.id


def test_the_projects_pane_filters_and_tells_the_window_what_is_selected(qtbot: object, make_window: object) -> None:
    env = make_window(projects=("Acme Rebrand", "Globex", "Initech"))
    pane = env.window.projects_pane
    qtbot.waitUntil(lambda: pane.projects.count() == 3, timeout=WAIT)  # type: ignore[attr-defined]
    pane.project_filter.setText("glob")
    visible = [pane.projects.item(i).text() for i in range(3) if not pane.projects.item(i).isHidden()]
    assert visible == ["Globex"]
    _select_project(env.window, "Initech")
    assert env.window.project_id == pane.current_id == 3 and env.window.turns.project_id == 3


def test_names_from_files_and_servers_show_as_text_never_as_markup(qtbot: object, make_window: object) -> None:
    from PySide6.QtCore import Qt as QtCore_Qt

    env = make_window()
    hostile = '<img src="/etc/passwd"><b>Boss</b>'
    env.window._on_model_loaded(hostile)  # a GGUF's own name field
    assert "&lt;img" in env.window.model_label.text() and "<img" not in env.window.model_label.text()
    env.window.show_error(f"No project {hostile!r}")
    assert env.window.banner.label.textFormat() == QtCore_Qt.TextFormat.PlainText
    from app.llm.catalogue import LocalServer
    from ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(env.runtime, env.tasks, 1, catalogue_entries=[])
    qtbot.addWidget(dialog)
    dialog._on_servers_found([LocalServer("Ollama", "http://127.0.0.1:1/v1", ())])
    assert dialog.servers_note.textFormat() == QtCore_Qt.TextFormat.PlainText
    dialog._on_servers_found([LocalServer("Ollama", "http://127.0.0.1:1/v1", (hostile,))])
    assert dialog.servers.itemText(0) == f"Ollama: {hostile}"


def test_the_base_model_label_links_to_a_better_model(qtbot: object, make_window: object) -> None:
    env = make_window()
    env.window._on_model_loaded("gemma-3-270m (base model: weak answers)")
    assert "Get a better model" in env.window.model_label.text()
    env.window._on_model_loaded("Qwen2.5 1.5B Instruct")
    assert env.window.model_label.text() == "Model: Qwen2.5 1.5B Instruct"


def test_remember_shows_in_the_inbox_at_once_not_after_the_background_step(qtbot: object, make_window: object) -> None:
    release = threading.Event()

    def held_back(turns: object, settings: object) -> str:
        # Only background work (extraction, summaries) asks the model after a /remember.
        assert release.wait(WAIT / 1000)
        return "[]"

    env = make_window(FakeModel(held_back))
    env.runtime.service.add_fact(1, "Dana prefers calls on Mondays", "preference")
    try:
        env.window.send("/remember Dana prefers calls on Tuesdays")  # a change: proposed for review
        result = env.result(qtbot)
        assert "inbox" in result.text, result.text
        inbox = env.window.memory.inbox.list
        qtbot.waitUntil(lambda: inbox.count() == 1, timeout=WAIT)  # type: ignore[attr-defined]
        assert "Tuesdays" in inbox.item(0).text()
        assert "1" in env.window.memory.tabText(env.window.memory.indexOf(env.window.memory.inbox))
    finally:
        release.set()


def test_each_answer_says_what_was_learnt_from_the_turn(qtbot: object, make_window: object) -> None:
    env = make_window(FakeModel(lambda t, s: '{"facts": []}' if s.json_schema else "Noted."))
    env.window.send("Our new contact at Acme is Dana Fischer, dana.fischer@acme.example.")
    env.result(qtbot)
    answer = env.window.chat.entries[-1]
    qtbot.waitUntil(lambda: answer.learning.startswith("Learned"), timeout=WAIT)  # type: ignore[attr-defined]
    assert answer.learning == "Learned: 1 proposal in the inbox"
    assert "Learned: 1 proposal in the inbox" in env.window.chat.transcript.toPlainText()
    inbox = env.window.memory.inbox.list
    qtbot.waitUntil(lambda: inbox.count() == 1, timeout=WAIT)  # type: ignore[attr-defined]
    assert "Dana Fischer" in inbox.item(0).text()
    env.window.send("Thanks, that sounds great!")
    env.result(qtbot)
    answer = env.window.chat.entries[-1]
    qtbot.waitUntil(lambda: answer.learning == "Learned: nothing new", timeout=WAIT)  # type: ignore[attr-defined]


def test_a_facts_kind_and_pin_are_set_in_add_and_edit(qtbot: object, make_window: object) -> None:
    from memory import FactKind
    from ui.memory_panel import FactDialog, FactValues

    env = make_window()
    facts = env.window.memory.facts
    dialog = FactDialog("Add a fact", "What should Dossier know?")
    qtbot.addWidget(dialog)
    dialog.text.setPlainText("Launch is on 14 March")
    dialog.kind.setCurrentIndex(dialog.kind.findData("deadline"))
    dialog.pinned.setChecked(True)
    facts.add(dialog.values())  # what OK in the Add dialog does
    qtbot.waitUntil(lambda: any("deadline: Launch is on 14 March" in t for t in _facts_shown(env)), timeout=WAIT)
    fact = env.runtime.service.list_facts(1)[0]
    assert fact.kind is FactKind.DEADLINE and fact.pinned
    facts.select_key(f"fact:{fact.id}")
    dialog.set_values(FactValues(fact.text, fact.kind, fact.pinned))  # as Edit opens it
    dialog.kind.setCurrentIndex(dialog.kind.findData("decision"))
    dialog.pinned.setChecked(False)
    facts.save_edit(fact, dialog.values())  # what OK in the Edit dialog does
    qtbot.waitUntil(lambda: env.runtime.service.get_fact(fact.id).kind is FactKind.DECISION, timeout=WAIT)
    qtbot.waitUntil(lambda: not env.runtime.service.get_fact(fact.id).pinned, timeout=WAIT)
    assert env.runtime.service.get_fact(fact.id).text == "Launch is on 14 March"


def test_edit_then_accept_sets_the_kind_and_keeps_an_updated_facts_pin(qtbot: object, make_window: object) -> None:
    from memory import FactKind, ProposalAction

    env = make_window()
    service = env.runtime.service
    launch = service.add_fact(1, "Launch is on 14 March", "fact", pinned=True)
    service.propose(1, "update", "Launch is on 21 March", target_fact_id=launch.id)
    service.propose(1, "add", "Dana prefers calls on Mondays")
    inbox = env.window.memory.inbox
    inbox.reload()
    qtbot.waitUntil(lambda: len(inbox.proposals) == 2, timeout=WAIT)  # type: ignore[attr-defined]
    update, new = sorted(inbox.proposals.values(), key=lambda p: p.action is not ProposalAction.UPDATE)
    dialog = inbox.edit_dialog(update)
    qtbot.addWidget(dialog)
    assert dialog.text.toPlainText() == "Launch is on 21 March" and dialog.pinned.isChecked()
    dialog.kind.setCurrentIndex(dialog.kind.findData("deadline"))
    inbox.accept_edited(update, dialog.values())
    qtbot.waitUntil(lambda: service.get_fact(launch.id).kind is FactKind.DEADLINE, timeout=WAIT)  # type: ignore[attr-defined]
    changed = service.get_fact(launch.id)
    assert changed.text == "Launch is on 21 March" and changed.pinned
    dialog = inbox.edit_dialog(new)
    qtbot.addWidget(dialog)
    assert not dialog.pinned.isChecked()
    dialog.text.setPlainText("Dana prefers calls on Monday mornings")
    dialog.kind.setCurrentIndex(dialog.kind.findData("preference"))
    dialog.pinned.setChecked(True)
    inbox.accept_edited(new, dialog.values())
    qtbot.waitUntil(lambda: len(service.list_facts(1)) == 2, timeout=WAIT)  # type: ignore[attr-defined]
    added = next(f for f in service.list_facts(1) if f.id != launch.id)
    assert (added.text, added.kind, added.pinned) == (
        "Dana prefers calls on Monday mornings",
        FactKind.PREFERENCE,
        True,
    )


def test_adding_a_fact_the_project_already_has_names_it_and_stores_nothing(qtbot: object, make_window: object) -> None:
    from memory import FactKind
    from ui.memory_panel import FactValues

    env = make_window()
    known = env.runtime.service.add_fact(1, "Budget is 40k EUR.")
    env.window.memory.facts.add(FactValues("budget is  40k EUR", FactKind.FACT, False))
    qtbot.waitUntil(lambda: env.window.banner.isVisible(), timeout=WAIT)  # type: ignore[attr-defined]
    assert f"F{known.id} already says this" in env.window.banner.label.text()
    _settle(qtbot, env)
    assert [f.id for f in env.runtime.service.list_facts(1)] == [known.id]


def test_adding_a_fact_without_a_project_says_what_to_do(qtbot: object, make_window: object) -> None:
    env = make_window(projects=())
    env.window.memory.facts._on_add()
    qtbot.waitUntil(lambda: env.window.banner.isVisible(), timeout=WAIT)
    assert "project" in env.window.banner.label.text()


def test_a_model_error_banner_goes_when_a_model_loads(qtbot: object, make_window: object) -> None:
    env = make_window()
    env.window._on_model_failed("The file is not a GGUF model")
    assert env.window.banner.isVisible()
    env.window.show_error("Could not reach the endpoint")  # about something else: stays
    env.window._on_model_failed("The file is not a GGUF model")
    env.window._on_model_loaded("gemma3 270m")
    assert not env.window.banner.isVisible()
    env.window.show_error("Could not save the brief")
    env.window._on_model_loaded("gemma3 270m")
    assert env.window.banner.isVisible(), "an error about something else stays until dismissed"


def test_the_archive_button_says_what_it_will_do(qtbot: object, make_window: object) -> None:
    env = make_window(projects=("Acme", "Globex"))
    env.runtime.service.archive_project(2)
    env.window.show_archived.setChecked(True)
    names = lambda: [env.window.projects.item(i).text() for i in range(env.window.projects.count())]  # noqa: E731
    qtbot.waitUntil(lambda: "Globex (archived)" in names(), timeout=WAIT)
    _select_project(env.window, "Globex (archived)")
    assert env.window.archive_button.text() == "Unarchive"
    _select_project(env.window, "Acme")
    assert env.window.archive_button.text() == "Archive"


def test_archiving_the_open_project_leaves_it_instead_of_keeping_its_chat_open(
    qtbot: object, make_window: object
) -> None:
    env = make_window(projects=("Acme", "Globex"))
    window = env.window
    _select_project(window, "Globex")
    window.send("The Globex budget is 12k USD.")
    env.result(qtbot)
    _settle(qtbot, env)
    assert window.project_id == 2 and window.chat.entries
    env.runtime.service.archive_project(2)
    window.projects_pane.reload()  # what Archive does once confirmed
    qtbot.waitUntil(lambda: window.project_id is None, timeout=WAIT)  # type: ignore[attr-defined]
    _settle(qtbot, env)
    assert window.chat.entries == [] and window.sessions.count() == 0
    assert window.memory.facts.project_id is None and window.archive_button.text() == "Archive"
    window.send("Another message for Globex")  # with no project open, nothing is stored anywhere
    _settle(qtbot, env)
    assert [s.message_count for s in env.runtime.service.list_sessions(2)] == [2]


def test_the_window_title_names_the_project_and_a_data_folder_that_is_not_the_usual_one(
    qtbot: object, make_window: object
) -> None:
    env = make_window(projects=("Acme", "Globex"))
    window, folder = env.window, env.runtime.paths.data_dir
    qtbot.waitUntil(lambda: window.windowTitle() == f"Acme — Dossier ({folder})", timeout=WAIT)  # type: ignore[attr-defined]
    _select_project(window, "Globex")
    assert window.windowTitle() == f"Globex — Dossier ({folder})"
    env.runtime.service.rename_project(2, "Globex Audit")
    window.projects_pane.reload()
    qtbot.waitUntil(lambda: window.windowTitle() == f"Globex Audit — Dossier ({folder})", timeout=WAIT)  # type: ignore[attr-defined]


def test_memory_share_never_reads_zero_when_memory_was_used() -> None:
    from ui.chat_controller import memory_share

    assert memory_share(3, 1_000) == "<1%" and memory_share(0, 1_000) == "0%" and memory_share(250, 1_000) == "25%"


def test_the_brief_dialog_shows_dates_in_the_users_format(qtbot: object, make_window: object) -> None:
    from PySide6.QtCore import QLocale

    from ui.brief_dialog import BriefDialog

    env = make_window()
    dialog = BriefDialog(env.runtime, env.tasks, 1)
    qtbot.addWidget(dialog)
    assert dialog.since.displayFormat() == QLocale().dateFormat(QLocale.FormatType.ShortFormat)
    qtbot.waitUntil(lambda: dialog.brief is not None, timeout=WAIT)


def test_leaving_a_session_summarises_it_in_the_background(qtbot: object, make_window: object) -> None:
    env = make_window(FakeModel(lambda t, s: "Noted: the budget is 40k and the launch is in March."))
    env.window.send("The budget is 40k and the launch is in March.")
    env.result(qtbot)
    first = env.window.session_id
    env.window.new_session()  # Ctrl+N ends the session being left
    qtbot.waitUntil(lambda: bool(env.runtime.service.get_session(first).summary), timeout=WAIT)  # type: ignore[attr-defined]
    session = env.runtime.service.get_session(first)
    assert session.ended_at is not None
    sessions = env.window.memory.sessions.list
    qtbot.waitUntil(  # type: ignore[attr-defined]
        lambda: any("no summary yet" not in sessions.item(i).text() for i in range(sessions.count())), timeout=WAIT
    )


def test_sessions_due_a_summary_are_summarised_when_the_window_opens(
    qtbot: object, tmp_path: Path, embedder: MiniLMEmbedder, models_dir: Path
) -> None:
    model = FakeModel(lambda t, s: "A short summary.")
    runtime, tasks = _make_env(tmp_path, embedder, models_dir, model)
    project = runtime.service.create_project("Acme")
    session = runtime.service.start_session(project.id, "Old call")
    runtime.service.add_message(session.id, "user", "We agreed on weekly status emails.")
    runtime.service.end_session(session.id)  # ended, as by closing the window, never summarised
    window = MainWindow(runtime, tasks, load_model=False)
    qtbot.addWidget(window)  # type: ignore[attr-defined]
    try:
        qtbot.waitUntil(lambda: bool(runtime.service.get_session(session.id).summary), timeout=WAIT)  # type: ignore[attr-defined]
    finally:
        window.close()
        assert tasks.shutdown(WAIT)
        runtime.close()
        model.close()


def test_closing_the_window_ends_the_open_session(qtbot: object, make_window: object) -> None:
    env = make_window()
    env.window.send("Hello")
    env.result(qtbot)
    session_id = env.window.session_id
    env.window.close()
    assert env.runtime.service.get_session(session_id).ended_at is not None


def test_ctrl_f_searches_facts_summaries_and_conversations_and_opens_the_source(
    qtbot: object, make_window: object
) -> None:
    from memory import NewMessage, Role

    env = make_window()
    service = env.runtime.service
    fact = service.add_fact(1, "The marketing budget is capped at 40,000 EUR.", "decision")
    session = service.start_session(1, "Planning call")
    service.add_messages(session.id, [NewMessage(Role.OTHER, "The product launch moved to 14 March.", "Dana")])
    window = env.window
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    search = window.memory.search
    assert window.memory.currentWidget() is search
    results = search.results

    def find(query: str, wanted: str) -> int:
        search.query.setText(query)
        qtbot.keyClick(search.query, Qt.Key.Key_Return)
        qtbot.waitUntil(  # type: ignore[attr-defined]
            lambda: any(wanted in results.item(i).text() for i in range(results.count())), timeout=WAIT
        )
        return next(i for i in range(results.count()) if wanted in results.item(i).text())

    # Words the fact does not contain: the window's search is the hybrid one, not a text filter.
    row = find("how much can we spend", "40,000 EUR")
    search.results.itemActivated.emit(results.item(row))
    qtbot.waitUntil(lambda: window.memory.facts.selected_key() == f"fact:{fact.id}", timeout=WAIT)  # type: ignore[attr-defined]

    row = find("when is the launch", "14 March")
    search.results.itemActivated.emit(results.item(row))
    qtbot.waitUntil(lambda: window.session_id == session.id, timeout=WAIT)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: any("14 March" in e.text for e in window.chat.entries), timeout=WAIT)  # type: ignore[attr-defined]


def test_the_first_run_says_what_to_do_with_the_action_one_click_away(qtbot: object, make_window: object) -> None:
    env = make_window(projects=())
    window = env.window
    qtbot.waitUntil(lambda: window.empty_state.isVisible(), timeout=WAIT)  # type: ignore[attr-defined]
    assert window.create_first_project.isVisible() and "client project" in window.create_first_project.text()
    window.chat.input.setPlainText("Hello, what do you know?")
    window.chat._on_send()
    assert not window.banner.isVisible(), "a first step, not an error"
    assert window.chat.input.toPlainText() == "Hello, what do you know?" and window.chat.entries == []
    env.runtime.service.create_project("Acme")
    window.reload_projects()
    qtbot.waitUntil(lambda: not window.empty_state.isVisible(), timeout=WAIT)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: window.project_id is not None, timeout=WAIT)  # type: ignore[attr-defined]


def test_empty_memory_panels_say_what_to_do(qtbot: object, make_window: object) -> None:
    from ui.memory_panel import NO_FACTS_HINT, NO_PROJECT_HINT, NO_PROPOSALS_HINT, NO_SESSIONS_HINT

    env = make_window(projects=())
    memory = env.window.memory
    _settle(qtbot, env)
    assert memory.facts.list.hint == memory.inbox.list.hint == memory.sessions.list.hint == NO_PROJECT_HINT
    errors: list[str] = []
    memory.facts.error.connect(errors.append)
    memory.facts._on_add()  # no project: a message saying what to do, never silence
    assert errors and "project" in errors[0]
    env.runtime.service.create_project("Acme")
    env.window.reload_projects()
    qtbot.waitUntil(lambda: env.window.project_id is not None, timeout=WAIT)  # type: ignore[attr-defined]
    _settle(qtbot, env)
    assert memory.facts.list.hint == NO_FACTS_HINT and memory.facts.list.count() == 0
    assert memory.facts.buttons["Add"].isEnabled()  # the action is one click away
    assert memory.inbox.list.hint == NO_PROPOSALS_HINT and memory.sessions.list.hint == NO_SESSIONS_HINT
    memory.facts.search.setText("budget")
    _settle(qtbot, env)
    assert "No fact matches" in memory.facts.list.hint


def test_a_small_screen_keeps_the_chat_usable(qtbot: object, make_window: object) -> None:
    env = make_window()
    window = env.window
    session = env.runtime.service.start_session(1, "A very long session title about the spring launch and the budget")
    env.runtime.service.add_message(session.id, "user", "hello")
    window.reload_sessions()
    qtbot.waitUntil(lambda: window.sessions.count() == 1, timeout=WAIT)  # type: ignore[attr-defined]
    window.resize(1024, 640)
    qtbot.waitUntil(lambda: window.width() <= 1024, timeout=WAIT)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: window.chat.width() >= 0.9 * window.dock.width(), timeout=WAIT)  # type: ignore[attr-defined]
    assert window.sessions.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    assert window.sessions.item(0).text().endswith("1 message")


def test_a_session_can_be_deleted_from_the_window(qtbot: object, make_window: object) -> None:
    from memory import NewMessage, Role

    env = make_window(projects=("Acme",))
    _select_project(env.window, "Acme")
    qtbot.waitUntil(lambda: env.window.project_id == 1, timeout=WAIT)  # type: ignore[attr-defined]
    service = env.runtime.service
    session, _ = service.import_session(1, "Wrong client's call", [NewMessage(Role.USER, "Globex pays 9,000 euros")])
    env.window.memory.memory_changed.emit(1, frozenset({Kind.SESSIONS}))
    qtbot.waitUntil(lambda: env.window.sessions.count() == 1, timeout=WAIT)  # type: ignore[attr-defined]
    env.window.open_session(session.id)
    qtbot.waitUntil(lambda: env.window.session_id == session.id, timeout=WAIT)  # type: ignore[attr-defined]
    env.window.delete_session(session.id)
    qtbot.waitUntil(lambda: env.window.sessions.count() == 0, timeout=WAIT)  # type: ignore[attr-defined]
    assert env.window.session_id is None
    assert service.list_sessions(1) == [] and not service.search(1, "Globex pays euros", mode="bm25")
    _settle(qtbot, env)


def test_every_memory_tab_stays_in_sight(qtbot: object, make_window: object) -> None:
    """With a count on the Inbox tab and the Documents tab added, no tab hides behind scroll arrows.

    At the default width every title is whole; on a small screen titles may be
    shortened, never pushed out of sight.
    """
    env = make_window()
    window = env.window
    memory = window.memory
    for n in range(12):
        env.runtime.service.propose(1, "add", f"Proposal {n}")
    memory.memory_changed.emit(1, frozenset({Kind.PROPOSALS}))
    qtbot.waitUntil(lambda: memory.tabText(1) == "Inbox (12)", timeout=WAIT)  # type: ignore[attr-defined]
    assert memory.tabToolTip(memory.count() - 1) == "Documents"
    for width in (1400, 1024):
        window.resize(width, 700)
        qtbot.waitUntil(lambda w=width: window.width() <= w, timeout=WAIT)  # type: ignore[attr-defined]
        _settle(qtbot, env)
        bar = memory.tabBar()
        titles = [memory.tabText(i) for i in range(memory.count())]
        hidden = [t for i, t in enumerate(titles) if not bar.rect().contains(bar.tabRect(i))]
        assert not hidden, f"at {width} px these tabs are out of sight: {hidden}"
        if width == 1400:
            cut = [t for i, t in enumerate(titles) if bar.tabRect(i).width() < bar.tabSizeHint(i).width()]
            assert not cut, f"at {width} px these titles are shortened: {cut}"


def test_a_stored_answer_lists_what_it_was_given_in_words(qtbot: object, make_window: object) -> None:
    """Reopened from history, "memory used" reads each item back (from this project only), never a raw key."""
    env = make_window(projects=("Acme", "Globex"))
    service = env.runtime.service
    budget = service.add_fact(1, "The budget is 40k EUR", "decision")
    gone = service.add_fact(1, "Old venue: the Harbor Loft")
    foreign = service.add_fact(2, "Globex merges with Initech in May")
    session = service.start_session(1, "Budget")
    said = service.add_message(session.id, "user", "Dana approved the budget on Monday.")
    service.add_message(
        session.id,
        "assistant",
        "The budget is 40k EUR.",
        context_item_keys=(
            f"fact:{budget.id}",
            f"fact:{gone.id}",
            f"fact:{foreign.id}",
            f"messages:{said.id}-{said.id}",
            "voice:1",
        ),
    )
    service.purge_fact(gone.id)
    _select_project(env.window, "Acme")
    qtbot.waitUntil(lambda: env.window.project_id == 1, timeout=WAIT)  # type: ignore[attr-defined]
    env.window.open_session(session.id)
    chat = env.window.chat
    qtbot.waitUntil(  # type: ignore[attr-defined]
        lambda: len(chat.entries) == 2 and len(chat.entries[-1].memory_labels) == 5, timeout=WAIT
    )
    chat.entries[-1].expanded = True
    chat.refresh()
    shown = chat.transcript.toPlainText()
    assert f"[F{budget.id}] (decision) The budget is 40k EUR" in shown
    assert "user: Dana approved the budget on Monday." in shown
    assert "A fact no longer in memory" in shown and "The client's voice" in shown
    assert "Initech" not in shown  # another project's fact is never read back here
    assert "fact:" not in shown and "messages:" not in shown


def test_switching_project_leaves_the_last_projects_error_and_figures_behind(
    qtbot: object, make_window: object
) -> None:
    env = make_window(projects=("Acme", "Globex"))
    window = env.window
    _select_project(window, "Acme")
    qtbot.waitUntil(lambda: window.project_id == 1, timeout=WAIT)  # type: ignore[attr-defined]
    window.show_error("Acme: the brief could not be written")
    window.context_label.setText("Context: 507 of 4,096 tokens (memory 38%)")
    window.show_error("The model file is damaged — choose another model in Settings.", about="model")
    _select_project(window, "Globex")
    qtbot.waitUntil(lambda: window.project_id == 2, timeout=WAIT)  # type: ignore[attr-defined]
    assert window.banner.isVisible() and "model" in window.banner.label.text()  # about the model: stays
    assert window.context_label.text() == ""
    window.show_error("Acme: the brief could not be written")
    _select_project(window, "Acme")
    qtbot.waitUntil(lambda: window.project_id == 1, timeout=WAIT)  # type: ignore[attr-defined]
    assert not window.banner.isVisible()


def test_what_another_process_changes_shows_in_the_open_window(qtbot: object, make_window: object) -> None:
    """A proposal filed over MCP, a fact added from the CLI: the panels show them without a restart."""
    env = make_window()
    window = env.window
    _settle(qtbot, env)
    env.runtime.service.propose(1, "add", "Proposal 0")
    window.memory.memory_changed.emit(1, frozenset({Kind.PROPOSALS}))
    qtbot.waitUntil(lambda: window.memory.inbox.list.count() == 1, timeout=WAIT)  # type: ignore[attr-defined]
    window.memory.inbox.list.setCurrentRow(0)
    script = (
        "import sys; from memory import MemoryService\n"
        "with MemoryService.open(sys.argv[1]) as other:\n"
        "    other.propose(1, 'add', 'Dana prefers calls on Mondays')\n"
        "    other.add_fact(1, 'The launch is on 3 March', 'deadline')\n"
        "    other.create_project('Initech')\n"
        "    other.rename_project(1, 'Acme Dental')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(env.runtime.paths.data_dir)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    qtbot.waitUntil(lambda: window.memory.inbox.list.count() == 2, timeout=WAIT)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: any("3 March" in t for t in _facts_shown(env)), timeout=WAIT)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: window.projects.count() == 2, timeout=WAIT)  # type: ignore[attr-defined]
    names = lambda: {window.projects.item(i).text() for i in range(window.projects.count())}  # noqa: E731
    qtbot.waitUntil(lambda: "Acme Dental" in names(), timeout=WAIT)  # type: ignore[attr-defined]
    assert window.memory.inbox.list.currentItem().text().startswith("#1 ")  # the pick survives the reload
