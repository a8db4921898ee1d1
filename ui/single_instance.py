"""One window per data folder: starting Dossier again brings the open window to the front.

Two windows on one data folder would each run the background indexing, the
automatic backups and the folder watching against the same files, and the
vector index is not made for two writers. A double-clicked launcher is the
usual way to get there, so a second start does what desktop apps do: it finds
the first one by a lock file in the data folder, asks it over a local socket to
come to the front, and quits. The command line is not held back: it is how
other tools change the memory while the window is open (the window picks the
changes up).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

#: How long a second start waits for the first window to take its request.
ANSWER_MS = 5_000
#: What the window answers once it has come to the front.
ACK = b"shown\n"


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
        # Unix sockets live in the temporary folder, which is shared: the name carries the
        # user and the data folder, and only this user may connect.
        digest = hashlib.sha256(str(lock_path.resolve()).encode()).hexdigest()[:16]
        self.server_name = f"dossier-{os.getuid() if hasattr(os, 'getuid') else 0}-{digest}"
        self.server: QLocalServer | None = None

    def claim(self) -> bool:
        """Takes the data folder for this window; False when another window has it."""
        if not self.lock.tryLock(0):
            return False
        QLocalServer.removeServer(self.server_name)  # a socket file left by a crash
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if server.listen(self.server_name):
            server.newConnection.connect(self._on_new_connection)
            self.server = server
        # Without the socket this window still holds the folder; a second start then says so.
        return True

    def holder(self) -> int | None:
        """The process id of the window that holds the folder, if Qt can tell."""
        info = self.lock.getLockInfo()  # (pid, host, app), or empty when there is no lock
        return int(info[0]) if info and int(info[0]) > 0 else None

    def hand_over(self) -> bool:
        """Asks the window that holds the folder to come to the front; True once it says it did."""
        socket = QLocalSocket()
        socket.connectToServer(self.server_name)
        if not socket.waitForConnected(ANSWER_MS):
            return False
        # A hung window's socket may still accept (the system does that): wait for its answer.
        answer = b""
        while ACK not in answer and socket.waitForReadyRead(ANSWER_MS):
            answer += bytes(socket.readAll().data())
        answer += bytes(socket.readAll().data())
        socket.abort()
        return ACK in answer

    def release(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        self.lock.unlock()

    def _on_new_connection(self) -> None:
        assert self.server is not None
        while (connection := self.server.nextPendingConnection()) is not None:
            # A connection is the request: the socket is this user's alone, and showing the
            # window is all it can ask for. The answer goes out before the socket closes.
            self.show_requested.emit()
            connection.disconnected.connect(connection.deleteLater)
            connection.write(ACK)
            connection.disconnectFromServer()
