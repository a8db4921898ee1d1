"""One window per data folder: starting Dossier again brings the open window to the front.

Two windows on one data folder would each run the background indexing, the
automatic backups and the folder watching against the same files, and the
vector index is not made for two writers. A double-clicked launcher is the
usual way to get there, so a second start does what desktop apps do: it finds
the first one by a lock file in the data folder, asks it over a local socket to
come to the front, and quits. The command line is not held back: it is how
other tools change the memory while the window is open (the window picks the
changes up).

The socket lives in the user's private runtime folder where there is one, so
no other user can answer in the window's place. A lock that no window on this
machine answers for, and that Qt cannot tell is stale (an empty file, one
written on another machine that synced or copied the folder), is taken over:
such a file must never keep the user out of their own memory.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import time
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, QStandardPaths, QSysInfo, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from app.config.paths import WINDOW_SOCKET

log = logging.getLogger(__name__)

#: How long a second start waits, in all, for the first window to take its request.
ANSWER_MS = 5_000
#: What the window answers once it has come to the front.
ACK = b"shown\n"
#: Longer socket paths do not fit a Unix socket address (about 100 bytes).
MAX_SOCKET_PATH = 90


class Answer(enum.Enum):
    SHOWN = "the window came to the front"
    NOBODY = "no window listens for this folder on this machine"
    SILENT = "a window took the request but did not answer in time"


class WindowClaim(QObject):
    """The claim of this process to be the window of one data folder.

    Args:
        lock_path: The lock file, in the data folder it stands for.
    """

    #: Another start asked this window to come to the front.
    show_requested = Signal()

    def __init__(self, lock_path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.lock = QLockFile(str(lock_path))
        # A lock whose process is gone is taken over at once (Qt checks the process id);
        # a live one never goes stale, however long the window stays open.
        self.lock.setStaleLockTime(0)
        self.server_name = server_name(lock_path)
        self.server: QLocalServer | None = None

    def claim(self) -> bool:
        """Takes the data folder for this window; False when another window seems to have it.

        A folder where no lock can be written (one the user made read-only) has
        nothing to claim: the window opens there as it always did.
        """
        if self.lock.tryLock(0):
            self._listen()
            return True
        if self.lock.error() is not QLockFile.LockError.LockFailedError:
            log.info("no window lock in this data folder (%s); opening without one", self.lock.error().name)
            return True
        return False

    def take_over(self) -> bool:
        """Claims the folder from a lock that no window answers for and no live process here holds."""
        if self._held_by_a_process_here():
            return False
        log.warning("taking over a window lock no window answered for (empty, or written on another machine)")
        self.lock.removeStaleLockFile()
        return self.claim()

    def holder(self) -> int | None:
        """The process id of the window that holds the folder, if Qt can tell."""
        info = self.lock.getLockInfo()  # (pid, host, app), or empty when it cannot be read
        return int(info[0]) if info and int(info[0]) > 0 else None

    def hand_over(self) -> Answer:
        """Asks the window that holds the folder to come to the front."""
        socket = QLocalSocket()
        socket.connectToServer(self.server_name)
        deadline = time.monotonic() + ANSWER_MS / 1000
        if not socket.waitForConnected(ANSWER_MS):
            return Answer.NOBODY
        # A hung window's socket may still accept (the system does that): wait for its answer,
        # however it comes in, but not past the deadline.
        answer = b""
        while ACK not in answer and (left := deadline - time.monotonic()) > 0:
            if socket.waitForReadyRead(max(1, int(left * 1000))) or socket.bytesAvailable():
                answer += bytes(socket.readAll().data())
            elif socket.state() is not QLocalSocket.LocalSocketState.ConnectedState:
                break
        socket.abort()
        return Answer.SHOWN if ACK in answer else Answer.SILENT

    def release(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        self.lock.unlock()

    def _listen(self) -> None:
        QLocalServer.removeServer(self.server_name)  # a socket file left by a crash
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if server.listen(self.server_name):
            server.newConnection.connect(self._on_new_connection)
            self.server = server
        else:
            # This window still holds the folder; a second start is then told it did not answer.
            log.warning("the window cannot listen for other starts (%s)", server.errorString())

    def _held_by_a_process_here(self) -> bool:
        """Whether the lock names a process on this machine (Qt found it alive, or it would be stale)."""
        info = self.lock.getLockInfo()
        return bool(info) and info[1] == QSysInfo.machineHostName()

    def _on_new_connection(self) -> None:
        assert self.server is not None
        while (connection := self.server.nextPendingConnection()) is not None:
            # A connection is the request: the socket is this user's alone, and showing the
            # window is all it can ask for. The answer goes out before the socket closes.
            self.show_requested.emit()
            connection.disconnected.connect(connection.deleteLater)
            connection.write(ACK)
            connection.disconnectFromServer()


def server_name(lock_path: Path) -> str:
    """The window's socket for the data folder of ``lock_path``: the same for every spelling of its path."""
    try:
        canonical = lock_path.resolve()
    except (OSError, RuntimeError):  # a loop of links: the path as given still names one folder
        canonical = lock_path.absolute()
    # os.fsencode: a path that is not valid UTF-8 (bytes from the environment) still hashes.
    digest = hashlib.sha256(os.fsencode(canonical)).hexdigest()[:16]
    # Windows names pipes, not files: there the plain name is the pipe's, this user's alone.
    private = (
        QStandardPaths.writableLocation(QStandardPaths.StandardLocation.RuntimeLocation) if os.name == "posix" else ""
    )
    if private and len(os.fsencode(private)) + 32 <= MAX_SOCKET_PATH:
        return str(Path(private) / f"dossier-{digest}.socket")
    # No private runtime folder (XDG_RUNTIME_DIR unset, and Qt refused a /tmp/runtime-* another
    # user made): the data folder is the user's alone too, where its path is short enough.
    in_folder = canonical.parent / WINDOW_SOCKET
    if os.name == "posix" and len(os.fsencode(in_folder)) <= MAX_SOCKET_PATH:
        return str(in_folder)
    # In the shared temporary folder: named for the user, and only the user may connect.
    return f"dossier-{os.getuid() if hasattr(os, 'getuid') else 0}-{digest}"
