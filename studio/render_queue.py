"""The render queue: jobs (render, convert/export, analysis) run one after another in a worker
thread, with progress, ETA and cancel; the queue is JSON beside the project and survives a
restart (a job that was running when the studio died comes back as "interrupted" and resumes
through core.jobs, which keeps finished frames).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.errors import FacsimileError, ProjectError
from core.util.atomic import atomic_write_text
from studio.workers import Task, Worker, format_eta

log = logging.getLogger(__name__)

SCHEMA = 1
STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")


@dataclass
class QueueItem:
    """One queued job. `spec` is the core job description (core.jobs.JobSpec JSON for render /
    convert, {"source": ...} for analysis)."""

    kind: str
    label: str
    spec: dict
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: str = "queued"
    done: int = 0
    total: int = 0
    message: str = ""
    created: float = field(default_factory=time.time)
    output: str = ""
    notes: list[str] = field(default_factory=list)  # what a finished render could not do (core's notes)


def job_task(item: QueueItem) -> Task:
    """The worker task for a queue item, bound to core: core.jobs.run_job for render/convert,
    core.analysis for analysis. Unknown kinds fail with a clear error."""
    if item.kind in ("render", "convert"):
        from core.jobs import JobSpec, run_job

        spec = JobSpec.from_json(dict(item.spec))
        total = spec.last - spec.first + 1

        def run(progress: Callable[[int, int], None], cancelled: Callable[[], bool]):
            done = [0]

            def step(n: int, _chunk_total: int) -> None:
                done[0] += int(n)
                progress(done[0], total)

            if spec.kind == "render":  # what `facsimile render` runs: sidecar metadata and notes too
                from core.render.delivery import run_render_job

                return run_render_job(spec, progress=step, cancel=cancelled)
            return str(run_job(spec, progress=step, cancel=cancelled))

        return run
    if item.kind == "analysis":
        def analyse(progress, cancelled):
            from core.analysis.analyzer import Analyzer

            return Analyzer().analyze(item.spec["source"], progress=progress, cancel=cancelled)

        return analyse
    raise FacsimileError(f"render queue: unknown job kind {item.kind!r}")


class RenderQueue(QObject):
    """Ordered jobs, persisted to `path` (JSON) on every change; runs one at a time."""

    changed = Signal()
    itemProgress = Signal(str, int, int, float)  # id, done, total, eta
    itemEnded = Signal(str, str)  # id, state
    resultReady = Signal(str, object)  # id, task result

    def __init__(self, path: Path | None = None, task_factory: Callable[[QueueItem], Task] = job_task,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path) if path else None
        self.items: list[QueueItem] = []
        self.task_factory = task_factory
        self.worker: Worker | None = None
        self.running_id: str | None = None
        # the running job's item and the queue file it belongs to: another project may be opened
        # while it runs, and its end is then written to its own project's queue, not this one
        self._running: tuple[QueueItem, Path | None] | None = None
        self.autorun = True
        if self.path is not None and self.path.exists():
            self.load()  # a damaged file is moved aside (ProjectError says where)

    # ------------------------------------------------------------------ persistence
    def load(self) -> None:
        """Read the queue; a job left 'running' by a crash becomes 'interrupted'."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            items = [QueueItem(**d) for d in data["items"]]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            # set aside, never written over: the queue starts empty and the file is kept for a look
            aside = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                self.path.replace(aside)
            except OSError as move_exc:
                self.path = None  # not attached: a new queue must not replace the unreadable file
                raise ProjectError(f"render queue {aside.with_name(aside.name.split('.damaged-')[0])} is damaged "
                                   f"({exc}) and could not be moved aside ({move_exc}); the queue is not saved "
                                   "this session") from exc
            raise ProjectError(f"render queue file was damaged ({exc}); it was moved aside to {aside} and the "
                               "queue starts empty") from exc
        for it in items:
            if it.state == "running":
                it.state = "interrupted"
                it.message = "the studio closed while this ran; Start resumes it"
        self.items = items
        self.changed.emit()

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"schema": SCHEMA, "items": [asdict(i) for i in self.items]}
        atomic_write_text(self.path, json.dumps(data, indent=2))

    def set_path(self, path: Path | None) -> None:
        """Attach to another project's queue file (loads it when present). A job still running
        goes on: it is no longer listed here, and how it ends is written to its own queue file.
        A damaged file raises ProjectError with the queue left empty and attached to `path`, so
        the queue starts anew there once the file is moved aside."""
        self.path = Path(path) if path else None
        self.items = []
        try:
            if self.path is not None and self.path.exists():
                self.load()
        finally:
            self.changed.emit()

    def move_to(self, path: Path | None) -> None:
        """The project was saved elsewhere (Save as): its queue, the running job too, goes along."""
        self.path = Path(path) if path else None
        if self._running is not None and any(it is self._running[0] for it in self.items):
            self._running = (self._running[0], self.path)
        self.save()
        self.changed.emit()

    def _item(self, item_id: str) -> QueueItem:
        """A listed item, or the running one (listed or not)."""
        if self._running is not None and self._running[0].id == item_id:
            return self._running[0]
        return self.get(item_id)

    # ------------------------------------------------------------------ editing
    def add(self, item: QueueItem, start: bool = True) -> QueueItem:
        self.items.append(item)
        self.save()
        self.changed.emit()
        if start and self.autorun:
            self.start_next()
        return item

    def get(self, item_id: str) -> QueueItem:
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)

    def remove(self, item_id: str) -> None:
        if item_id == self.running_id:
            raise FacsimileError("cancel the running job before removing it")
        self.items = [i for i in self.items if i.id != item_id]
        self.save()
        self.changed.emit()

    def requeue(self, item_id: str) -> None:
        it = self.get(item_id)
        if it.state != "running":
            it.state, it.message = "queued", ""
            self.save()
            self.changed.emit()
            self.start_next()

    # ------------------------------------------------------------------ running
    def start_next(self) -> bool:
        """Start the first queued/interrupted job if nothing runs. True when one started."""
        if self.worker is not None:
            return False
        nxt = next((i for i in self.items if i.state in ("queued", "interrupted")), None)
        if nxt is None:
            return False
        try:
            task = self.task_factory(nxt)
        except FacsimileError as exc:
            nxt.state, nxt.message = "failed", str(exc)
            self.save()
            self.changed.emit()
            self.itemEnded.emit(nxt.id, "failed")
            return self.start_next()
        w = Worker(task, name=nxt.label, parent=self)
        self.worker, self.running_id = w, nxt.id
        self._running = (nxt, self.path)
        nxt.state, nxt.message, nxt.notes = "running", "", []
        w.progressed.connect(lambda d, t, eta, _id=nxt.id: self._progress(_id, d, t, eta))
        w.failed.connect(lambda msg, _id=nxt.id: self._set_message(_id, msg))
        w.finished.connect(lambda res, _id=nxt.id: self._result(_id, res))
        w.ended.connect(lambda state, _id=nxt.id: self._ended(_id, state))
        self.save()
        self.changed.emit()
        w.start()
        return True

    def cancel(self, item_id: str) -> None:
        """Cancel a running job (it stops at its next frame) or drop a queued one to 'cancelled'."""
        it = self._item(item_id)
        if item_id == self.running_id and self.worker is not None:
            self.worker.cancel()
        elif it.state in ("queued", "interrupted"):
            it.state = "cancelled"
            self.save()
            self.changed.emit()

    def _progress(self, item_id: str, done: int, total: int, eta: float) -> None:
        it = self._item(item_id)
        it.done, it.total = done, total
        self.itemProgress.emit(item_id, done, total, eta)

    def _set_message(self, item_id: str, msg: str) -> None:
        self._item(item_id).message = msg

    def _result(self, item_id: str, result: object) -> None:
        it = self._item(item_id)
        if isinstance(result, str):
            it.output = result
        elif isinstance(result, dict) and "output" in result:  # a render: output, sidecar, notes
            it.output = str(result["output"])
            it.notes = [str(n) for n in result.get("notes") or []]
        self.resultReady.emit(item_id, result)

    def _ended(self, item_id: str, state: str) -> None:
        it = self._item(item_id)
        home = self._running[1] if self._running is not None else self.path
        it.state = state
        if state == "cancelled":
            it.message = "cancelled; finished frames are kept (Start resumes)"
        self.worker, self.running_id, self._running = None, None, None
        if any(x is it for x in self.items):
            self.save()
        else:  # its project is no longer the open one: its own queue file says how it ended
            self._write_to(home, it)
        self.changed.emit()
        self.itemEnded.emit(item_id, state)
        self.start_next()

    @staticmethod
    def _write_to(path: Path | None, item: QueueItem) -> None:
        """Put `item` (by id) into the queue file at `path`, the rest of it as it is."""
        if path is None:
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"schema": SCHEMA, "items": []}
            items = [d for d in data.get("items", []) if d.get("id") != item.id]
            i = next((k for k, d in enumerate(data.get("items", [])) if d.get("id") == item.id), len(items))
            items.insert(i, asdict(item))
            atomic_write_text(path, json.dumps({"schema": SCHEMA, "items": items}, indent=2))
        except (OSError, ValueError, AttributeError, FacsimileError) as exc:
            log.error("render queue %s: could not record that %s ended (%s): %s", path, item.label, item.state, exc)

    @property
    def busy(self) -> bool:
        return self.worker is not None


class RenderQueuePanel(QWidget):
    """Table of jobs with a progress bar, ETA and Cancel / Start / Remove per row."""

    COLS = ("Job", "Kind", "Status", "Progress", "ETA", "")

    def __init__(self, queue: RenderQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.table = QTableWidget(0, len(self.COLS))
        self.table.setHorizontalHeaderLabels(self.COLS)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)  # the dock is narrow: no column wider than it needs
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self._bars: dict[str, QProgressBar] = {}
        self._eta: dict[str, QTableWidgetItem] = {}
        start = QPushButton("Start / resume")
        start.setToolTip("Run queued and interrupted jobs")
        start.clicked.connect(self._start_selected)
        remove = QPushButton("Remove")
        remove.clicked.connect(self._remove_selected)
        bar = QHBoxLayout()
        bar.addWidget(start)
        bar.addWidget(remove)
        bar.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.table)
        lay.addLayout(bar)
        queue.changed.connect(self.rebuild)
        queue.itemProgress.connect(self._progress)
        self.rebuild()

    def rebuild(self) -> None:
        self.table.setRowCount(len(self.queue.items))
        self._bars, self._eta = {}, {}
        for r, it in enumerate(self.queue.items):
            name = QTableWidgetItem(it.label)
            name.setData(Qt.UserRole, it.id)
            name.setToolTip(it.message or it.output or it.label)
            self.table.setItem(r, 0, name)
            self.table.setItem(r, 1, QTableWidgetItem(it.kind))
            text = it.state + (f": {it.message}" if it.message and it.state == "failed" else "")
            if it.notes:
                text += f" ({len(it.notes)} note{'s' if len(it.notes) > 1 else ''})"
            st = QTableWidgetItem(text)
            st.setToolTip("\n".join([it.message] * bool(it.message) + [f"• {n}" for n in it.notes]) or it.state)
            self.table.setItem(r, 2, st)
            bar = QProgressBar()
            bar.setRange(0, max(it.total, 1))
            bar.setValue(it.done if it.total else (1 if it.state == "done" else 0))
            self.table.setCellWidget(r, 3, bar)
            self._bars[it.id] = bar
            eta = QTableWidgetItem("")
            self.table.setItem(r, 4, eta)
            self._eta[it.id] = eta
            cancel = QPushButton("Cancel")
            cancel.setEnabled(it.state in ("queued", "running", "interrupted"))
            cancel.clicked.connect(lambda _=False, _id=it.id: self.queue.cancel(_id))
            self.table.setCellWidget(r, 5, cancel)

    def _progress(self, item_id: str, done: int, total: int, eta: float) -> None:
        bar = self._bars.get(item_id)
        if bar is not None:
            bar.setRange(0, max(total, 1))
            bar.setValue(done)
        if item_id in self._eta:
            self._eta[item_id].setText(format_eta(eta))

    def _selected_ids(self) -> list[str]:
        rows = {i.row() for i in self.table.selectedIndexes()}
        return [self.table.item(r, 0).data(Qt.UserRole) for r in sorted(rows)]

    def _start_selected(self) -> None:
        ids = self._selected_ids()
        for i in ids:
            self.queue.requeue(i)
        if not ids:
            self.queue.start_next()

    def _remove_selected(self) -> None:
        for i in self._selected_ids():
            try:
                self.queue.remove(i)
            except FacsimileError as exc:
                log.warning("%s", exc)
