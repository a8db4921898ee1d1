"""Starts the desktop app: a window at once, the memory as soon as it is open, the model after.

Importing the memory layer (SQLAlchemy, Alembic, NumPy) and opening the data
dir take about two seconds on a small machine, so this module imports only Qt:
it shows a window saying what is happening, opens the data dir on a worker
thread, then puts the real window in its place. The model keeps loading in
the background after that; projects and memory are usable meanwhile.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui.platform_check import check_platform

if TYPE_CHECKING:
    from ui.single_instance import WindowClaim

EXIT_AFTER_SHOWN = "DOSSIER_EXIT_AFTER_SHOWN"


class StartupWindow(QMainWindow):
    """What the user sees while the data dir opens (usually one or two seconds)."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Dossier")
        self.resize(1280, 800)
        self.message = QLabel("Opening your memory…")
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # it quotes paths and errors
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        busy = QProgressBar()
        busy.setRange(0, 0)
        busy.setMaximumWidth(320)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addStretch(1)
        layout.addWidget(self.message)
        layout.addWidget(busy, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(1)
        self.setCentralWidget(page)
        self.busy = busy
        self.choices: list[QPushButton] = []

    def show_failure(self, message: str) -> None:
        self.busy.hide()
        self.message.setText(f"Dossier could not open its data folder:\n\n{message}")

    def show_damaged(
        self, message: str, has_backup: bool, on_restore: Callable[[], None], on_fresh: Callable[[], None]
    ) -> None:
        """Offers to restore the latest backup, or to start with an empty memory."""
        self.busy.hide()
        self.message.setText(message)
        central = self.centralWidget()
        layout = central.layout() if central is not None else None
        assert isinstance(layout, QBoxLayout)
        choices = [("Restore the latest backup", on_restore)] if has_backup else []
        choices.append(("Start with an empty memory", on_fresh))
        self.choices = []
        for label, slot in choices:
            button = QPushButton(label)
            button.clicked.connect(slot)
            layout.insertWidget(layout.count() - 1, button, 0, Qt.AlignmentFlag.AlignHCenter)
            self.choices.append(button)

    def show_busy(self, message: str) -> None:
        for button in self.choices:
            button.hide()
        self.message.setText(message)
        self.busy.show()


class _Opener(QObject):
    opened = Signal(object)
    failed = Signal(str)
    #: The database was damaged and moved aside: (what to tell the user, latest backup or "").
    damaged = Signal(str, str)

    def start(self, data_dir: str | Path | None) -> threading.Thread:
        def work() -> None:
            try:
                from app.config.paths import resolve_paths
                from app.portability.recovery import recover_from_damage
                from app.runtime import Runtime
                from memory import CorruptDatabaseError, MemoryService, MemoryServiceError

                try:
                    # The index is reconciled by the window once it shows the projects.
                    runtime = Runtime.open(data_dir, open_service=lambda p: MemoryService.open(p, reconcile=False))
                except CorruptDatabaseError as error:
                    recovery = recover_from_damage(resolve_paths(data_dir), error)
                    self.damaged.emit(recovery.message, str(recovery.backup or ""))
                    return
                except (MemoryServiceError, OSError) as error:
                    self.failed.emit(str(error))
                    return
                import ui.main_window  # noqa: F401  (imported here, off the GUI thread)

                self.opened.emit(runtime)
            except Exception as error:  # shown in the window instead of a silent exit
                traceback.print_exc()
                self.failed.emit(f"Unexpected error: {error}")

        thread = threading.Thread(target=work, name="dossier-open", daemon=True)
        thread.start()
        return thread


def _since_launch(started: float) -> float:
    """Seconds since the process was launched (DOSSIER_LAUNCHED_AT, set by the benchmark) or since ``started``."""
    launched = os.environ.get("DOSSIER_LAUNCHED_AT")
    if launched:
        return time.time() - float(launched)
    return time.perf_counter() - started


def run(data_dir: str | Path | None = None, *, started: float | None = None) -> int:
    """Opens the window for a data dir and runs until it is closed.

    With ``DOSSIER_EXIT_AFTER_SHOWN=1`` (used by ``bench/startup.py``) it prints
    when the window was shown and when the memory was usable, then quits.
    """
    started = started if started is not None else time.perf_counter()
    os.umask(0o077)
    if isinstance(data_dir, str) and not (data_dir.strip() and data_dir.isprintable()):
        # Bytes that are not UTF-8 arrive as lone surrogates: neither Qt, SQLite nor Chroma takes them.
        print("dossier: --data-dir is empty or has characters that cannot be used in a folder name", file=sys.stderr)
        return 2
    if QApplication.instance() is None:
        # Qt aborts the whole process, with a misleading hint, when its platform plugin
        # cannot load: say what is missing first.
        problem = check_platform()
        if problem is not None:
            print(problem.message, file=sys.stderr)
            return 1
    # The window reads no Qt options from its command line (only --data-dir, read above), and
    # an argument that is not UTF-8 crashes Qt's own parsing: Qt gets the program's name alone.
    app = QApplication.instance() or QApplication(
        [sys.argv[0] if sys.argv and sys.argv[0].isprintable() else "dossier"]
    )
    app.setApplicationName("Dossier")
    claim = _claim_data_folder(data_dir)
    if claim is None:
        return 0
    startup = StartupWindow()
    startup.show()
    app.processEvents()  # the window is on screen (mapped) from here
    shown_after = _since_launch(started)
    state: dict[str, Any] = {}
    opener = _Opener()

    def on_opened(runtime: Any) -> None:
        from app.config.logs import setup_logging
        from ui.main_window import MainWindow
        from ui.tasks import TaskRunner

        setup_logging(runtime.paths.logs_dir)

        tasks = TaskRunner()
        window = MainWindow(runtime, tasks, reconcile_index=True)
        if not runtime.settings.window_geometry:
            window.setGeometry(startup.geometry())
        state.update(runtime=runtime, tasks=tasks, window=window)
        window.show()
        startup.hide()
        if os.environ.get(EXIT_AFTER_SHOWN):

            def report() -> None:
                usable_after = _since_launch(started)
                print(f"window shown after {shown_after:.3f} s; projects listed after {usable_after:.3f} s", flush=True)
                QTimer.singleShot(0, window.close)

            window.projects_loaded.connect(report)

    def on_failed(message: str) -> None:
        startup.show_failure(message)
        if os.environ.get(EXIT_AFTER_SHOWN):
            print(f"failed: {message}", flush=True)
            QTimer.singleShot(0, startup.close)

    threads: list[threading.Thread] = []

    def on_damaged(message: str, backup: str) -> None:
        def fresh() -> None:
            startup.show_busy("Opening an empty memory…")
            threads.append(opener.start(data_dir))

        def restore() -> None:
            startup.show_busy("Restoring the latest backup…")

            def work() -> None:
                from app.config.paths import resolve_paths
                from app.portability.backup import BackupError, restore_backup

                try:
                    restore_backup(Path(backup), resolve_paths(data_dir).data_dir)
                except BackupError as error:
                    opener.failed.emit(str(error))
                    return
                opener.start(data_dir).join()

            thread = threading.Thread(target=work, name="dossier-restore", daemon=True)
            thread.start()
            threads.append(thread)

        startup.show_damaged(message, bool(backup), restore, fresh)

    def on_show_requested() -> None:
        shown = state.get("window", startup)
        if shown.isMinimized():
            shown.showNormal()
        shown.show()
        shown.raise_()
        shown.activateWindow()
        # A dialog the user left open (New project, Settings) stays on top of its window.
        dialog = QApplication.activeModalWidget()
        if dialog is not None:
            dialog.raise_()
            dialog.activateWindow()
        logging.getLogger(__name__).info("brought to the front: Dossier was started again on this data folder")

    if claim is not True:
        claim.show_requested.connect(on_show_requested)
    opener.opened.connect(on_opened)
    opener.failed.connect(on_failed)
    opener.damaged.connect(on_damaged)
    threads.append(opener.start(data_dir))
    code = app.exec()
    for thread in threads:
        thread.join()
    if "window" in state:
        state["window"].stop()
        state["tasks"].shutdown()
        state["runtime"].close()
    if claim is not True:
        claim.release()
    return code


def _claim_data_folder(data_dir: str | Path | None) -> WindowClaim | Literal[True] | None:
    """Makes this the one window of its data folder, or hands over to the window that is.

    Returns:
        The claim to hold while the window runs; True when there is nothing to
        claim (the folder cannot be told or written yet: the opener then reports
        why, or opens it as it is); None when another window has the folder and
        this start should quit.
    """
    from app.config.paths import resolve_paths
    from ui.single_instance import Answer, WindowClaim

    try:
        paths = resolve_paths(data_dir)
    except (OSError, ValueError):
        return True  # opening it will fail with the reason, in the window
    try:
        claim = WindowClaim(paths.window_lock)
        if claim.claim():
            return claim
        answer = claim.hand_over()
        if answer is Answer.NOBODY and claim.take_over():
            return claim
    except Exception:  # the guard must never be what keeps the user out of their memory
        logging.getLogger(__name__).exception("could not claim the data folder for this window")
        return True
    if answer is Answer.SHOWN:
        print(f"Dossier is already open on {paths.data_dir}; its window was brought to the front.", file=sys.stderr)
        return None
    holder = claim.holder()
    message = (
        f"Dossier is already open on this data folder ({paths.data_dir})"
        + (f", in process {holder}," if holder else "")
        + " and did not answer. Close that window first, or wait for it to finish what it is doing."
    )
    print(message, file=sys.stderr)
    QMessageBox.information(None, "Dossier is already open", message)
    return None
