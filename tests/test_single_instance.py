"""One window per data folder: a second start brings the first window to the front and quits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.config.paths import WINDOW_LOCK
from ui.single_instance import WindowClaim

ROOT = Path(__file__).resolve().parent.parent
#: Generous: the first window opens the memory and loads the model while the other core is busy.
WAIT_S = 240.0


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def test_a_second_claim_on_a_folder_asks_the_first_to_show_itself(qtbot: object, tmp_path: Path) -> None:
    first, second = WindowClaim(tmp_path / WINDOW_LOCK), WindowClaim(tmp_path / WINDOW_LOCK)
    try:
        assert first.claim()
        assert not second.claim()
        assert second.holder() == os.getpid()
        # The second start is another process, so that this one's event loop can answer it.
        ask = (
            "import sys\n"
            "from pathlib import Path\n"
            "from ui.single_instance import WindowClaim\n"
            "sys.exit(0 if WindowClaim(Path(sys.argv[1])).hand_over() else 3)\n"
        )
        with qtbot.waitSignal(first.show_requested, timeout=120_000):  # type: ignore[attr-defined]
            asking = subprocess.Popen([sys.executable, "-c", ask, str(tmp_path / WINDOW_LOCK)], cwd=ROOT)
        qtbot.waitUntil(lambda: asking.poll() is not None, timeout=120_000)  # type: ignore[attr-defined]
        assert asking.returncode == 0, "the first window answered"
    finally:
        first.release()
    third = WindowClaim(tmp_path / WINDOW_LOCK)
    assert third.claim(), "a closed window gives the folder back"
    third.release()


def test_windows_on_different_folders_do_not_meet(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one, other = WindowClaim(tmp_path / "a" / WINDOW_LOCK), WindowClaim(tmp_path / "b" / WINDOW_LOCK)
    try:
        assert one.claim() and other.claim()
        assert one.server_name != other.server_name
    finally:
        one.release()
        other.release()


def test_the_lock_of_a_window_that_crashed_is_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / WINDOW_LOCK
    crash = (
        "import os, sys\n"
        "from PySide6.QtCore import QLockFile\n"
        "held = QLockFile(sys.argv[1])\n"
        "assert held.tryLock(0)\n"
        "os._exit(0)  # no unlock: as if the window had crashed\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(lock)], check=True, timeout=120)
    assert lock.exists()
    claim = WindowClaim(lock)
    try:
        assert claim.claim()
    finally:
        claim.release()


def test_starting_the_app_again_brings_the_open_window_forward(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "DOSSIER_MODELS_DIR": str(tmp_path / "models")}
    command = [sys.executable, "-m", "dossier", "--data-dir", str(data_dir)]
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = data_dir / "logs" / "dossier.log"
    try:
        # The log is set up once the memory is open: from then on the window is the real one.
        _wait_for(lambda: log.exists() or first.poll() is not None, "the first window to open its memory")
        assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
        second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=WAIT_S)
        assert second.returncode == 0, second.stderr
        assert "already open" in second.stderr and str(data_dir) in second.stderr
        _wait_for(lambda: "brought to the front" in log.read_text(), "the first window to take the request")
        assert first.poll() is None, "the first window keeps running"
    finally:
        first.kill()
        first.wait(timeout=60)
