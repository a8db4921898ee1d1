"""The one way widgets run work off the GUI thread.

``TaskRunner.run(fn)`` calls ``fn`` on a worker thread and reports back by
signals on a :class:`Task`: ``finished(result)`` or ``failed(message)``.
``TaskRunner.stream(fn)`` does the same for a function that returns an
iterator (a conversation turn): each item arrives as ``token(item)``; and
``TaskRunner.run_reporting(fn)`` for one that reports progress itself and
watches for a cancel (adding files).
Signals cross threads queued, so slots always run on the GUI thread. A task
starts when control returns to the event loop: connect to it right after
creating it.

Errors a user can cause (bad input, a missing model, an endpoint down) reach
``failed`` as their message; anything else is logged with its traceback and
reported as an unexpected error, so the window stays usable either way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from app.errors import USER_ERRORS

#: What a task's function returns: ``then`` gets it, so its type is checked against ``fn``'s.
R = TypeVar("R")

log = logging.getLogger(__name__)

#: Errors whose message is meant for the user: the app's one list, and a file the
#: system refused (a folder gone, a permission), which the user can fix too.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (*USER_ERRORS, OSError)


class Task(QObject):
    """One piece of background work; connect to its signals before it can finish."""

    token = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    #: Emitted last; the runner lets go of the task only when it arrives, so the
    #: task outlives the delivery of its other (queued) signals.
    ended = Signal()

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.cancel_requested = threading.Event()
        self.done = threading.Event()

    def cancel(self) -> None:
        self.cancel_requested.set()


class _Job(QRunnable):
    def __init__(self, task: Task, body: Callable[[Task], Any]) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._task = task
        self._body = body

    def run(self) -> None:
        task = self._task
        try:
            result = self._body(task)
        except EXPECTED_ERRORS as error:
            task.failed.emit(str(error))
        except Exception as error:  # reported, not raised: a worker must never take the app down
            log.exception("task %s failed", task.name)
            task.failed.emit(f"Unexpected error in {task.name}: {error}")
        else:
            task.finished.emit(result)
        finally:
            task.done.set()
            task.ended.emit()


class TaskRunner(QObject):
    """Runs tasks on its own thread pool and knows which are still running."""

    def __init__(self, max_threads: int = 4, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool()
        self._pool.setMaxThreadCount(max_threads)
        self._active: set[Task] = set()
        self._pending: list[_Job] = []
        self._closed = False
        self._lock = threading.Lock()
        #: The newest task started under each ``latest`` key (see :meth:`call`).
        self._latest: dict[object, Task] = {}

    def _start(self, name: str, body: Callable[[Task], Any]) -> Task:
        task = Task(name)
        if self._closed:
            # After shutdown nothing new runs: its slots may belong to deleted widgets
            # and its services may be closed.
            return task
        task.ended.connect(self._on_task_ended)
        with self._lock:
            self._active.add(task)
            self._pending.append(_Job(task, body))
        # The job starts when control returns to the event loop, so the caller's
        # connections to the task's signals are in place before it can emit them.
        QTimer.singleShot(0, self._start_pending)
        return task

    def _start_pending(self) -> None:
        with self._lock:
            pending, self._pending = ([] if self._closed else self._pending), []
        for job in pending:
            self._pool.start(job)

    def _on_task_ended(self) -> None:
        task = self.sender()
        with self._lock:
            self._active.discard(task)

    def run(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        """Calls ``fn(*args, **kwargs)`` on a worker; its return value goes to ``finished``."""
        return self._start(name, lambda _task: fn(*args, **kwargs))

    def call(
        self,
        name: str,
        fn: Callable[..., R],
        *args: Any,
        then: Callable[[R], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        latest: object = None,
    ) -> Task:
        """:meth:`run` with its result and error handlers connected.

        Args:
            latest: A key naming what the result is shown in (a list, a panel). Only the
                newest task started under that key reaches ``then``: workers finish in
                any order, and a load for the project the user just left must not
                overwrite the load for the project now selected.
        """
        task = self.run(name, fn, *args)
        if latest is not None:
            self._latest[latest] = task
            task.ended.connect(lambda key=latest, done=task: self._forget_latest(key, done))
        if then is not None:
            if latest is None:
                task.finished.connect(then)
            else:
                task.finished.connect(
                    lambda result, key=latest, mine=task: self._deliver_latest(key, mine, then, result)
                )
        if on_error is not None:
            task.failed.connect(on_error)
        return task

    def _deliver_latest(self, key: object, task: Task, then: Callable[[R], None], result: R) -> None:
        if self._latest.get(key) is task:
            then(result)

    def _forget_latest(self, key: object, task: Task) -> None:
        if self._latest.get(key) is task:
            del self._latest[key]

    def stream(self, name: str, fn: Callable[[Task], Iterable[Any]]) -> Task:
        """Calls ``fn(task)`` on a worker and sends each item it yields to ``token``.

        ``finished`` gets None at the end. ``fn`` receives the task so it can
        watch ``task.cancel_requested``.
        """

        def body(task: Task) -> None:
            for item in fn(task):
                task.token.emit(item)

        return self._start(name, body)

    def run_with_progress(self, name: str, fn: Callable[[Callable[[int, int | None], None]], Any]) -> Task:
        """Calls ``fn(progress)``; each ``progress(done, total)`` arrives as ``token((done, total))``."""
        return self.run_reporting(name, lambda task: fn(lambda done, total: task.token.emit((done, total))))

    def run_reporting(self, name: str, fn: Callable[[Task], Any]) -> Task:
        """Calls ``fn(task)`` on a worker; its return value goes to ``finished``.

        For work that reports as it goes and can stop early (adding a batch of
        files): ``fn`` sends progress with ``task.token.emit(…)`` and checks
        ``task.cancel_requested`` between steps.
        """
        return self._start(name, fn)

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._active)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Waits for running and queued tasks, then refuses new ones (closing the window)."""
        done = self.wait(timeout_ms)
        self._closed = True
        return done

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Blocks until every task has ended (for shutdown and tests).

        Their finished and failed signals are delivered when the event loop runs next.
        """
        self._start_pending()
        return self._pool.waitForDone(timeout_ms)
