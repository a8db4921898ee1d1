"""Saves screenshots of the app into docs/screenshots/.

Run: ``.venv/bin/python scripts/screenshots.py`` (offscreen by default; under
Xvfb set QT_QPA_PLATFORM=xcb). First the window as a new user first sees it
(an empty data dir: the first-run guidance and the empty panels' hints).
Then a temporary data dir with a demo project whose first exchange is stored
as written here; the last answer is a real one, streamed by the bundled
default model (a tiny base model, so it is short and plain), with what the
turn taught ("Learned: …") and the status bar's real figures. Then Settings
at the catalogue of better models. Last, a project with its documents (a
contract drawn as a two-page PDF here, and a brand guide) and a stored answer
that cites them: a citation opened in the passage popup, the Documents tab
beside it, and an invented citation flagged.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QPoint, QRect, QUrl  # noqa: E402
from PySide6.QtGui import QColor, QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.config.paths import resolve_paths  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from memory import ItemKey, MemoryService, NewMessage, Role  # noqa: E402
from tests.document_files import qt_pdf  # noqa: E402  (the same Qt-drawn PDFs as the tests)
from ui.main_window import MainWindow  # noqa: E402
from ui.settings_dialog import SettingsDialog  # noqa: E402
from ui.tasks import TaskRunner  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def demo(service: MemoryService) -> int:
    acme = service.create_project("Acme Rebrand", "Logo, guidelines and the spring launch")
    service.create_project("Globex Logistics", "Warehouse software rollout")
    service.create_project("Initech Annual Report")
    service.add_fact(acme.id, "Jane Doe (marketing lead) signs off on all visuals", "contact", pinned=True)
    service.add_fact(acme.id, "The launch is due on 2027-03-01", "deadline", pinned=True)
    service.add_fact(acme.id, "We go with the teal logo, variant B", "decision")
    service.add_fact(acme.id, "The client prefers short emails with a clear ask", "preference")
    service.add_fact(acme.id, "Acme has 40 stores in the Benelux")
    service.add_fact(None, "I invoice monthly, net 30", "preference")
    service.set_voice(
        acme.id,
        tone="warm, direct",
        style_do=["Keep sentences short", "Open with the decision"],
        style_dont=["No jargon", "No exclamation marks"],
        vocabulary=["launch", "teal", "stores"],
    )
    old = service.start_session(acme.id, "Kickoff", started_at=datetime.now(UTC) - timedelta(days=6))
    service.add_messages(
        old.id,
        [
            NewMessage(Role.USER, "Kickoff notes: Jane wants the teal logo and a launch before March."),
            NewMessage(Role.ASSISTANT, "Noted: teal logo, launch before March."),
        ],
    )
    service.set_session_summary(old.id, "Kickoff: Jane chose the teal logo; the launch is planned before March.")
    session = service.start_session(acme.id, "Launch email draft")
    user, _ = service.add_messages(
        session.id,
        [
            NewMessage(Role.USER, "Draft a short launch email to Jane. The budget is now 45,000 euros."),
            NewMessage(
                Role.ASSISTANT,
                "Here is a draft in Acme's voice:\n\n**Subject:** Launch plan for 1 March\n\n"
                "Hi Jane,\n\nWe are set for the **1 March** launch with the teal logo (variant B). "
                "Next steps:\n\n1. Final visuals to you by 14 February\n2. Store posters printed in week 8\n\n"
                "| Item | Owner | Due |\n|---|---|---|\n| Visuals | Studio | 14 Feb |\n| Posters | Print shop | 21 Feb |\n\n"
                "Could you confirm by Friday?",
                context_item_keys=("fact:1", "fact:2", "fact:3", "voice:1"),
            ),
        ],
    )
    service.propose(acme.id, "add", "The budget is 45,000 euros", "decision", source_message_id=user.id)
    service.propose(
        acme.id,
        "update",
        "The launch is due on 2027-03-08",
        "deadline",
        target_fact_id=2,
        source_message_id=user.id,
        reason="Contradicts F2: The launch is due on “2027-03-01” → “2027-03-08”",
    )
    return session.id


def settle(app: QApplication, tasks: TaskRunner, rounds: int = 30) -> None:
    for _ in range(rounds):
        tasks.wait()
        app.processEvents()


def first_run(app: QApplication) -> None:
    """The window on an empty data dir, as a new user first sees it."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = resolve_paths(Path(tmp) / "data", env={"DOSSIER_MODELS_DIR": str(Path(tmp) / "models")})
        runtime = Runtime(paths, MemoryService.open(paths.data_dir))
        tasks = TaskRunner()
        window = MainWindow(runtime, tasks, load_model=False)
        window.resize(1280, 800)
        window.show()
        settle(app, tasks)
        window.grab().save(str(OUT / "first-run.png"))
        window.close()
        tasks.shutdown()
        runtime.close()


CONTRACT_PAGES = [
    [
        "SERVICES CONTRACT",
        "between Acme Retail B.V. and Studio North",
        "",
        "1. Fees",
        "The retainer fee is 4,800 euros per month,",
        "invoiced on the first working day of the month.",
    ],
    [
        "2. Late payment",
        "Invoices unpaid after 30 days carry interest",
        "of 1.5 percent per month until paid.",
        "",
        "3. Termination",
        "Either party may end this contract with",
        "sixty days written notice.",
    ],
]
BRAND_GUIDE = """# Acme brand guide

## Colour

The logo is teal (variant B) on white. Never place it on green.

## Voice

Short sentences, a clear ask, no exclamation marks.
"""


def cited_answer(app: QApplication) -> None:
    """A project's documents, and a stored answer citing them: one citation opened, an invented one flagged."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = resolve_paths(Path(tmp) / "data", env={"DOSSIER_MODELS_DIR": str(Path(tmp) / "models")})
        runtime = Runtime(paths, MemoryService.open(paths.data_dir))
        service = runtime.service
        acme = service.create_project("Acme Rebrand", "Logo, guidelines and the spring launch")
        service.create_project("Globex Logistics", "Warehouse software rollout")
        service.add_fact(acme.id, "Jane Doe (marketing lead) signs off on all visuals", "contact", pinned=True)
        files = Path(tmp) / "files"
        files.mkdir()
        (files / "services-contract.pdf").write_bytes(
            qt_pdf(CONTRACT_PAGES, title="Services contract, Acme and Studio North")
        )
        (files / "brand-guide.md").write_text(BRAND_GUIDE, encoding="utf-8")
        tasks = TaskRunner()
        window = MainWindow(runtime, tasks, load_model=False)
        window.resize(1400, 860)
        window.show()
        settle(app, tasks)
        window.documents.add_paths([files / "services-contract.pdf", files / "brand-guide.md"])
        documents = window.documents.list
        # Until both are read and their passages have vectors ("ready"; the tab checks each second).
        while documents.count() < 2 or any(
            not documents.item(i).text().endswith("ready") for i in range(documents.count())
        ):
            settle(app, tasks, 1)
            time.sleep(0.05)
        contract, guide = sorted(service.list_documents(acme.id), key=lambda d: d.id)
        chunks = service.document_chunks(contract.id) + service.document_chunks(guide.id)
        # A page may hold several passages: the late-payment one is the passage this answer was given.
        late = next(c for c in chunks if c.citation == f"{contract.key} p.2" and "Late payment" in c.heading_path)
        colour = next(c for c in chunks if c.citation == f"{guide.key} §2")
        session = service.start_session(acme.id, "Invoice question")
        service.add_messages(
            session.id,
            [
                NewMessage(Role.USER, "Acme paid the March invoice 45 days late. What can we charge, and what else?"),
                NewMessage(
                    Role.ASSISTANT,
                    "Under the contract, invoices unpaid after 30 days carry interest of **1.5% per month** "
                    f"until paid [{late.citation}]. For 45 days late on one month's retainer that is about "
                    f"72 euros.\n\nWhen you write to Jane, keep it short with a clear ask [{colour.citation}]. "
                    f"The contract also caps interest at 10% a year [{contract.key} p.5].",
                    context_item_keys=(
                        str(ItemKey.fact(1)),
                        str(ItemKey.chunk(late.id)),
                        str(ItemKey.chunk(colour.id)),
                    ),
                ),
            ],
        )
        window.reload_sessions()
        window.open_session(session.id)
        settle(app, tasks)
        window.chat.entries[-1].expanded = True
        window.chat.refresh()
        window.memory.setCurrentWidget(window.documents)
        window.documents.list.setCurrentRow(1)
        window.chat._on_anchor_clicked(QUrl(f"dossier:cite/1/{late.id}"))
        settle(app, tasks)
        dialog = window.documents.passage_dialog
        assert dialog is not None
        dialog.resize(520, 300)
        settle(app, tasks)
        # The popup is a window of its own: drawn where it opens, over the chat.
        shot = window.grab()
        popup = dialog.grab()
        painter = QPainter(shot)
        painter.drawPixmap(QPoint(330, 380), popup)
        painter.setPen(QColor("#707070"))  # offscreen windows have no frame: draw its edge
        painter.drawRect(QRect(QPoint(330, 380), popup.size()).adjusted(-1, -1, 0, 0))
        painter.end()
        shot.save(str(OUT / "cited-answer.png"))
        dialog.close()
        window.close()
        tasks.shutdown()
        runtime.close()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv)
    cited_answer(app)
    if "--documents-only" in sys.argv:  # only cited-answer.png: no model needed
        print(f"saved to {OUT}")
        return
    first_run(app)
    with tempfile.TemporaryDirectory() as tmp:
        paths = resolve_paths(Path(tmp) / "data", env={"DOSSIER_MODELS_DIR": str(Path(tmp) / "models")})
        runtime = Runtime(paths, MemoryService.open(paths.data_dir))
        runtime.update_settings(max_reply_tokens=60)
        session_id = demo(runtime.service)
        tasks = TaskRunner()
        window = MainWindow(runtime, tasks)
        window.resize(1400, 860)
        window.show()
        ready: list[str] = []
        window.model_ready.connect(ready.append)
        deadline = time.monotonic() + 40
        while not ready:
            settle(app, tasks, 1)
            if time.monotonic() > deadline:
                raise SystemExit(f"the model did not load: {window.model_label.text()} {window.banner.label.text()}")
        window.open_session(session_id)
        settle(app, tasks)
        answered: list[object] = []
        window.turn_finished.connect(answered.append)
        window.send("Jane confirmed the posters go to print on 21 February. When is the launch?")
        while not answered or window._turn is not None:
            settle(app, tasks, 1)
        while not window.chat.entries[-1].learning.startswith("Learned"):
            settle(app, tasks, 1)
        settle(app, tasks)
        window.chat.entries[-1].expanded = True
        window.chat.refresh()
        window.chat.input.setPlainText("Also mention the store posters")
        settle(app, tasks)
        window.grab().save(str(OUT / "main-window.png"))
        window.memory.setCurrentWidget(window.memory.inbox)
        settle(app, tasks)
        window.grab().save(str(OUT / "inbox.png"))
        dialog = SettingsDialog(runtime, tasks, 1, window)
        dialog.show()
        settle(app, tasks)
        dialog.scroll_area.ensureWidgetVisible(dialog.better_box)
        settle(app, tasks)
        dialog.grab().save(str(OUT / "model-catalogue.png"))
        bar = dialog.scroll_area.verticalScrollBar()
        bar.setValue(bar.maximum())  # the rest: remote endpoint, generation, memory, data
        settle(app, tasks)
        dialog.grab().save(str(OUT / "settings.png"))
        dialog.close()
        window.close()
        tasks.shutdown()
        runtime.close()
    print(f"saved to {OUT}")


if __name__ == "__main__":
    main()
