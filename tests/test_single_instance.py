"""One window per data folder: a second start brings the first window to the front and quits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.config.paths import WINDOW_LOCK
from ui.single_instance import Answer, WindowClaim, server_name

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
            "from ui.single_instance import Answer, WindowClaim\n"
            "sys.exit(0 if WindowClaim(Path(sys.argv[1])).hand_over() is Answer.SHOWN else 3)\n"
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


def _hold_lock(lock: Path) -> subprocess.Popen[str]:
    """A live process on this machine that holds the lock and never listens (a window that lost its socket)."""
    hold = (
        "import sys, time\n"
        "from PySide6.QtCore import QLockFile\n"
        "held = QLockFile(sys.argv[1])\n"
        "assert held.tryLock(0)\n"
        "print('held', flush=True)\n"
        "time.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, str(lock)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_lock_nobody_answers_for_is_taken_over_unless_a_process_here_holds_it(
    qtbot: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtCore import QSysInfo

    from ui.app import _claim_data_folder

    lock = tmp_path / WINDOW_LOCK
    for left_behind in (
        "",  # empty: Qt cannot read it, so never calls it stale
        f"4242\npython3.11\nold-laptop-not-{QSysInfo.machineHostName()}\nmachine\nboot\n",  # a synced folder
    ):
        lock.write_text(left_behind)
        claim = _claim_data_folder(tmp_path)
        assert isinstance(claim, WindowClaim), repr(left_behind)
        claim.release()
    shown: list[str] = []
    monkeypatch.setattr("ui.app.QMessageBox.information", lambda _parent, _title, text: shown.append(text))
    holder = _hold_lock(lock)
    try:
        claim = WindowClaim(lock)
        assert not claim.claim() and claim.hand_over() is Answer.NOBODY
        assert not claim.take_over(), "a live process here holds it"
        assert _claim_data_folder(tmp_path) is None
        assert shown and f"in process {holder.pid}" in shown[0] and "did not answer" in shown[0]
    finally:
        holder.kill()
        holder.wait(timeout=60)


def test_a_folder_where_no_lock_can_be_written_still_opens(tmp_path: Path) -> None:
    claim = WindowClaim(tmp_path / "not-there" / WINDOW_LOCK)
    assert claim.claim(), "nothing to claim is no reason to keep the window shut"
    claim.release()
    odd = Path(os.fsdecode(b"/tmp/dossier-\xff-folder")) / WINDOW_LOCK  # not UTF-8, as from the environment
    assert server_name(odd).startswith(("/", "dossier-"))


def test_a_socket_that_never_answers_is_given_up_on_in_time(qtbot: object, tmp_path: Path) -> None:
    lock = tmp_path / WINDOW_LOCK
    drip = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from PySide6.QtCore import QCoreApplication\n"
        "from PySide6.QtNetwork import QLocalServer\n"
        "from ui.single_instance import server_name\n"
        "app = QCoreApplication([])\n"
        "server = QLocalServer()\n"
        "QLocalServer.removeServer(server_name(Path(sys.argv[1])))\n"
        "assert server.listen(server_name(Path(sys.argv[1])))\n"
        "print('listening', flush=True)\n"
        "assert server.waitForNewConnection(120_000)\n"
        "connection = server.nextPendingConnection()\n"
        "for _ in range(100):  # a byte now and then, never the answer\n"
        "    connection.write(b'.')\n"
        "    connection.waitForBytesWritten(1000)\n"
        "    time.sleep(0.5)\n"
    )
    dripping = subprocess.Popen([sys.executable, "-c", drip, str(lock)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert dripping.stdout is not None and dripping.stdout.readline().strip() == "listening"
        began = time.monotonic()
        assert WindowClaim(lock).hand_over() is Answer.SILENT
        assert time.monotonic() - began < 30, "the wait has a deadline"
    finally:
        dripping.kill()
        dripping.wait(timeout=60)


def test_a_data_folder_name_that_is_not_utf8_is_refused_with_a_message(tmp_path: Path) -> None:
    bad = os.fsencode(tmp_path) + b"/bad\xffdir"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"dossier", b"--data-dir", bad],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=WAIT_S,
    )
    assert done.returncode == 2, done.stderr  # not Qt's crash (139)
    assert b"cannot be used in a folder name" in done.stderr and b"Traceback" not in done.stderr
    assert not os.path.exists(bad)


def test_without_a_private_runtime_folder_the_socket_lives_in_the_data_folder(
    qtbot: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not in the shared temporary folder, where another user could make the name first."""
    import ui.single_instance as single_instance

    monkeypatch.setattr(single_instance.QStandardPaths, "writableLocation", lambda _where: "")
    lock = tmp_path / WINDOW_LOCK
    assert server_name(lock) == str(tmp_path.resolve() / "window.socket")
    claim = WindowClaim(lock)
    try:
        assert claim.claim() and claim.server is not None
        assert (tmp_path / "window.socket").exists()
    finally:
        claim.release()
