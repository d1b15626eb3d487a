"""Long work off the GUI thread: a QRunnable that reports progress, ETA and can be cancelled.

A task is a plain callable `fn(progress, cancelled) -> result` where `progress(done, total)`
reports work and `cancelled()` returns True once the user pressed Cancel; core's long
functions take the same two callbacks (Analyzer.analyze(source, progress=, cancel=)).
A task that notices the cancel raises core.errors.UserCancelled (or simply returns): the
worker then emits `cancelled`, never `failed`.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from core.errors import FacsimileError, UserCancelled

log = logging.getLogger(__name__)

Task = Callable[[Callable[[int, int], None], Callable[[], bool]], Any]


class Worker(QObject):
    """One cancellable task on the global QThreadPool; signals arrive on the GUI thread."""

    progressed = Signal(int, int, float)  # done, total, eta seconds (-1 unknown)
    finished = Signal(object)  # result
    failed = Signal(str)  # one line for the user
    cancelled = Signal()
    ended = Signal(str)  # "done" | "failed" | "cancelled", always last

    def __init__(self, task: Task, name: str = "task", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._task = task
        self._cancel = threading.Event()
        self._over = threading.Event()  # set when the task has returned or raised (its signals are sent)
        self._started = 0.0
        self.state = "queued"
        self._runnable: QRunnable | None = None

    # --- control -------------------------------------------------------------------------
    def start(self, pool: QThreadPool | None = None) -> None:
        """Queue the task on `pool` (default: the global pool)."""
        worker = self

        class _Run(QRunnable):
            def run(self_inner) -> None:  # noqa: N805 - Qt naming
                worker._run()

        self._runnable = _Run()
        self._runnable.setAutoDelete(False)
        self.state = "running"
        (pool or QThreadPool.globalInstance()).start(self._runnable)

    def cancel(self) -> None:
        """Ask the task to stop at its next check; it ends with `cancelled`."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait(self, timeout_s: float) -> bool:
        """Block until the task is over (True) or `timeout_s` passed (False); a worker never
        started is over. Closing the studio cancels, then waits, so no thread emits into
        deleted objects."""
        return self._runnable is None or self._over.wait(timeout_s)

    # --- thread side ---------------------------------------------------------------------
    def _progress(self, done: int, total: int) -> None:
        elapsed = time.monotonic() - self._started
        eta = elapsed * (total - done) / done if done > 0 and total > 0 else -1.0
        self.progressed.emit(int(done), int(total), float(eta))
        if self._cancel.is_set():
            raise UserCancelled(f"{self.name} cancelled")

    def _run(self) -> None:
        try:
            self._run_task()
        finally:
            self._over.set()

    def _run_task(self) -> None:
        self._started = time.monotonic()
        try:
            result = self._task(self._progress, self._cancel.is_set)
        except UserCancelled:
            self.state = "cancelled"
            self.cancelled.emit()
            self.ended.emit("cancelled")
            return
        except FacsimileError as exc:
            self.state = "failed"
            log.error("%s failed: %s", self.name, exc)
            self.failed.emit(str(exc))
            self.ended.emit("failed")
            return
        except Exception as exc:  # noqa: BLE001 - reported to the user, never swallowed
            self.state = "failed"
            log.error("%s failed:\n%s", self.name, traceback.format_exc())
            self.failed.emit(f"{type(exc).__name__}: {exc}")
            self.ended.emit("failed")
            return
        if self._cancel.is_set():
            self.state = "cancelled"
            self.cancelled.emit()
            self.ended.emit("cancelled")
            return
        self.state = "done"
        self.finished.emit(result)
        self.ended.emit("done")


def format_eta(seconds: float) -> str:
    """'ETA 1:05' style text; '' when unknown."""
    if seconds < 0:
        return ""
    s = int(round(seconds))
    return f"ETA {s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"ETA {s // 60}:{s % 60:02d}"
