"""The viewer: frame-accurate plate / render display with zoom, pan, overlays and an A/B wipe.

Frames are in plate pixel coordinates whatever the display path: the preview (fast) path
shows a half-resolution image stretched over the same rectangle and skips the renderer's
full quality; when the cursor rests (debounce timer) the full path draws the frame at full
resolution. The render side is a pluggable callable `render_fn(frame, plate_rgb, fast) ->
rgb`; until a renderer is plugged in the render side shows the plate with a notice.

Interactive requests (scrubbing, edits, view changes) are decoded and rendered on one worker
thread, newest request first: a 4K frame's decode and render take 0.2-1 s, and the UI thread
must never wait for them. Requests that a newer one overtakes before they start are skipped,
and a result never replaces a newer one already on screen. `show_frame` still does the same
work synchronously, for scripts, screenshots and tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, QRunnable, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGraphicsPathItem,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.errors import FacsimileError
from studio.frames import FrameCache

log = logging.getLogger(__name__)

RenderFn = Callable[[int, np.ndarray, bool], np.ndarray]
FrameJob = Callable[[], tuple[np.ndarray, np.ndarray | None, str]]


class _Results(QObject):
    """Carries a worker's finished frame to the UI thread (a queued signal)."""

    ready = Signal(object)


class _FrameRun(QRunnable):
    """One frame request on the viewer's single worker thread; skipped if a newer one exists."""

    def __init__(self, viewer: Viewer, seq: int, job: FrameJob, index: int, fast: bool, t0: float) -> None:
        super().__init__()
        self._viewer, self._seq, self._job = viewer, seq, job
        self._index, self._fast, self._t0 = index, fast, t0

    def run(self) -> None:
        v = self._viewer
        if self._seq != v._seq:
            return  # overtaken before it started: the newest request is what the user wants
        try:
            out: Any = self._job()
        except FacsimileError as exc:  # a damaged frame: said in the viewer, the picture kept
            out = exc
        except Exception as exc:  # noqa: BLE001 - reported in the viewer and the log
            log.exception("frame %d could not be shown", self._index)
            out = exc
        try:
            v._results.ready.emit((self._seq, self._index, self._fast, out, self._t0))
        except RuntimeError:  # the viewer was closed meanwhile
            pass

VIEW_MODES = ("Plate (A)", "Render (B)", "Wipe A|B")


def mesh_edges() -> np.ndarray:
    """(E, 2) unique edges of the face mesh triangles, for the wireframe overlay."""
    from core.facs.mesh import triangles

    tri = triangles()
    e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    e.sort(axis=1)
    return np.unique(e, axis=0)


class Viewer(QWidget):
    """Plate/render viewer. Signals: frameShown(frame, path) after pixels are set."""

    frameShown = Signal(int, str)
    fullPathDelay_ms = 120

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.frames: FrameCache | None = None
        self.analysis = None
        self.render_fn: RenderFn | None = None
        self.current_frame = -1
        self.shown_path = ""
        self.last_latency_ms = 0.0
        self._a: np.ndarray | None = None
        self._b: np.ndarray | None = None
        self._edges: np.ndarray | None = None
        self._pending = -1
        self._seq = 0  # frame requests made, shown synchronously or not
        self._shown_seq = 0  # the request whose pixels are on screen
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # one worker: requests run in order, renders never overlap
        self._results = _Results(self)
        self._results.ready.connect(self._frame_ready)

        self.view = pg.GraphicsView()
        self.vb = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.vb.setBackgroundColor("#111111")
        self.view.setCentralItem(self.vb)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.vb.addItem(self.image)
        self.mask_item = QGraphicsPathItem()
        self.mask_item.setBrush(QBrush(QColor(232, 145, 45, 55)))
        self.mask_item.setPen(QPen(QColor(232, 145, 45, 200), 0))
        self.vb.addItem(self.mask_item)
        self.mesh_item = pg.PlotCurveItem(pen=pg.mkPen((90, 200, 255, 110), width=1), connect="pairs")
        self.vb.addItem(self.mesh_item)
        self.lm_item = pg.ScatterPlotItem(size=2.5, pen=None, brush=pg.mkBrush(120, 255, 140, 220), pxMode=True)
        self.vb.addItem(self.lm_item)
        self.id_items: list[pg.TextItem] = []
        self.box_items: list[pg.PlotCurveItem] = []
        self.wipe_line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen(ACCENT_PEN, width=2))
        self.wipe_line.setVisible(False)
        self.wipe_line.sigPositionChanged.connect(self._recompose)
        self.vb.addItem(self.wipe_line)
        self.notice = pg.TextItem("", color="#ffb347", anchor=(0, 0))
        self.vb.addItem(self.notice)

        self.mode = QComboBox()
        self.mode.addItems(VIEW_MODES)
        self.mode.setToolTip("A/B: plate, render, or a wipe between them (drag the line). Toggle: Tab")
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.chk_landmarks = QCheckBox("Landmarks")
        self.chk_mesh = QCheckBox("Mesh")
        self.chk_mask = QCheckBox("Mask")
        self.chk_ids = QCheckBox("Track IDs")
        self.chk_landmarks.setChecked(True)
        self.chk_ids.setChecked(True)
        for c in (self.chk_landmarks, self.chk_mesh, self.chk_mask, self.chk_ids):
            c.toggled.connect(self._update_overlays)
        fit = QToolButton(text="Fit")
        fit.setToolTip("Fit the frame in the viewer (Home)")
        fit.clicked.connect(self.fit)
        one = QToolButton(text="1:1")
        one.setToolTip("One plate pixel per screen pixel")
        one.clicked.connect(self.one_to_one)
        self.info = QLabel("no plate")
        self._info_text, self._info_cs = "", None  # the plate's line, and the colour space it names
        self.info.setObjectName("dim")

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        for w in (self.mode, self.chk_landmarks, self.chk_mesh, self.chk_mask, self.chk_ids):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.info)
        bar.addWidget(fit)
        bar.addWidget(one)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(bar)
        lay.addWidget(self.view, 1)

        self._rest = QTimer(self)
        self._rest.setSingleShot(True)
        self._rest.setInterval(self.fullPathDelay_ms)
        self._rest.timeout.connect(self._show_full_pending)

    # --- inputs ---------------------------------------------------------------------------
    def set_frames(self, frames: FrameCache | None) -> None:
        """Plate to show (None clears the viewer)."""
        self.frames = frames
        self.current_frame = -1
        self._a = self._b = None
        self._seq += 1
        self._shown_seq = self._seq  # results of the previous plate still in flight are dropped
        self._pending = -1  # and a rest timer still running does not ask the new plate for that frame
        self._rest.stop()
        if frames is None:
            self.image.clear()
            self.info.setText("no plate")
            return
        info = frames.info
        par = self.pixel_aspect
        self._info_text = (f"{info.width}x{info.height}  {float(info.fps):.3f} fps"
                           + (f"  pixel aspect {par:.4g} (shown desqueezed)" if par != 1.0 else ""))
        self._info_cs = None
        self.info.setText(self._info_text)
        self.wipe_line.setValue(info.width * par / 2)

    @property
    def pixel_aspect(self) -> float:
        """How wide the plate's pixels are shown: an anamorphic plate is shown desqueezed, in the
        same square-pixel space as its analysis' landmarks."""
        return float(getattr(self.frames, "pixel_aspect", 1.0) or 1.0) if self.frames is not None else 1.0

    def _overlay_scale(self) -> float:
        """x scale from the analysis' landmark space to the view (1 unless the analysis was made
        at another pixel aspect than the plate is shown at, e.g. before the plate was tagged)."""
        an_par = float(getattr(self.analysis, "pixel_aspect", 1.0) or 1.0)
        return self.pixel_aspect / an_par

    def show_notice(self, text: str) -> None:
        """A line of text over the picture (e.g. why there is none)."""
        self.notice.setText(text)

    def set_analysis(self, analysis) -> None:
        """ShotAnalysis whose landmarks, mask and track ids are overlaid (None: no overlays)."""
        self.analysis = analysis
        self._update_overlays()

    def set_render_fn(self, fn: RenderFn | None) -> None:
        """Plug the renderer in (the B side); None shows the plate on the B side with a notice."""
        self.render_fn = fn
        if self.current_frame >= 0:
            self.show_frame(self.current_frame)

    # --- display --------------------------------------------------------------------------
    def request_frame(self, index: int) -> None:
        """Scrub: ask for `index` on the preview path now (off the UI thread), then on the full
        path once the cursor rests."""
        index = self._clamp(index)
        if index < 0:
            return
        self._submit(index, fast=True)
        self._pending = index
        self._rest.start()

    def _show_full_pending(self) -> None:
        if self._pending >= 0:
            self._submit(self._pending, fast=False)

    def _clamp(self, index: int) -> int:
        if self.frames is None:
            return -1
        return int(min(max(index, 0), max(self.frames.frame_count - 1, 0)))

    def _submit(self, index: int, fast: bool) -> None:
        """Queue frame `index` on the worker; its inputs are gathered now, on this thread."""
        if self.frames is None:
            return
        self._seq += 1
        self._pool.start(_FrameRun(self, self._seq, self._frame_job(index, fast), index, fast, time.perf_counter()))

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Drop queued frame requests and wait for the one running (the window is closing)."""
        self._rest.stop()
        self._seq += 1
        self._shown_seq = self._seq
        self._pool.waitForDone(timeout_ms)

    def wait_idle(self, timeout_ms: int = 30000) -> bool:
        """Block until the worker has finished (tests, scripts and closing); True if it did."""
        return bool(self._pool.waitForDone(timeout_ms))

    def show_frame(self, index: int, fast: bool = False) -> None:
        """Decode (or take from cache) frame `index` and display it now, on this thread; fast =
        preview path. Interactive callers use request_frame."""
        index = self._clamp(index)
        if index < 0:
            return
        t0 = time.perf_counter()
        self._seq += 1
        seq = self._seq
        plate, b, note = self._frame_job(index, fast)()
        self._display(seq, index, fast, plate, b, note, t0)

    def _frame_job(self, index: int, fast: bool) -> FrameJob:
        """The work of showing frame `index`: decode, and render when the B side shows.

        The renderer's inputs (the curves being edited, the shot's settings) are read here, when
        the request is made, so the worker never reads what the UI thread is changing; an edit
        made meanwhile is the next request's. Returns (plate, render or None, notice)."""
        frames, mode, fn = self.frames, self.mode.currentIndex(), self.render_fn
        render: Callable[[np.ndarray], tuple[np.ndarray, str]] | None = None
        failed = ""
        if mode != 0 and fn is not None:
            prepare = getattr(fn, "prepare", None)
            if prepare is not None:
                try:
                    render = prepare(index, fast)
                except Exception as exc:  # noqa: BLE001 - shown in the viewer, logged
                    log.error("render of frame %d failed: %s", index, exc)
                    failed = f"render failed: {exc}"
            else:
                def render(plate: np.ndarray) -> tuple[np.ndarray, str]:
                    out = fn(index, plate, fast)
                    return out, (getattr(fn, "last_info", None) or {}).get("note") or ""

        def job() -> tuple[np.ndarray, np.ndarray | None, str]:
            plate = frames.get(index)
            if mode == 0:
                return plate, None, ""
            if fn is None:
                return plate, plate, "render: no renderer available — showing the plate"
            if render is None:
                return plate, plate, failed
            try:
                b, note = render(plate)
            except Exception as exc:  # noqa: BLE001 - shown in the viewer, logged
                log.error("render of frame %d failed: %s", index, exc)
                return plate, plate, f"render failed: {exc}"
            return plate, b, note

        return job

    def _frame_ready(self, result: tuple) -> None:
        seq, index, fast, out, t0 = result
        if seq <= self._shown_seq:
            return  # a newer frame is on screen already (or the plate changed)
        if isinstance(out, Exception):
            self._shown_seq = seq
            self.notice.setText(f"frame {index} cannot be shown: {out}")
            return
        plate, b, note = out
        self._display(seq, index, fast, plate, b, note, t0)

    def _display(self, seq: int, index: int, fast: bool, plate: np.ndarray, b: np.ndarray | None,
                 note: str, t0: float) -> None:
        self._shown_seq = seq
        self._a, self._b = plate, b
        self.notice.setText(note)
        cs = getattr(self.frames, "known_display_colorspace", None)
        if cs != self._info_cs:  # known once a frame was read: an HDR or log plate says so
            from core.media.colour import display_note

            self._info_cs = cs
            self.info.setText(self._info_text + (f"  {display_note(cs)}" if cs else ""))
        self.current_frame = index
        self.shown_path = "preview" if fast else "full"
        self._compose()
        self._update_overlays()
        self.last_latency_ms = (time.perf_counter() - t0) * 1e3
        self.frameShown.emit(index, self.shown_path)

    def _compose(self) -> None:
        a, b = self._a, self._b
        if a is None:
            return
        mode = self.mode.currentIndex()
        if mode == 0 or b is None:
            img = a
        elif mode == 1:
            img = b
        else:
            x = int(np.clip(self.wipe_line.value() / self.pixel_aspect, 0, a.shape[1]))
            img = a.copy()
            img[:, x:] = b[:, x:]
        h, w = img.shape[:2]
        first = self.image.image is None
        # 8-bit frames go up as they are: pyqtgraph then wraps them in a QImage directly, where
        # levels (0, 255), the same pixels, send every frame through its lookup (4K paint 35 -> 10
        # ms on the UI thread). The whole frame is shown, also while scrubbing: a strided
        # half-size view cost more to paint (28 ms at 4K) than the full contiguous frame.
        # bench/studio.py's "viewer paint" lines measure both side by side.
        self.image.setImage(img, autoLevels=False, levels=None if img.dtype == np.uint8 else (0, 255))
        self.image.setRect(QRectF(0, 0, w * self.pixel_aspect, h))  # anamorphic: shown desqueezed
        if first:
            self.fit()

    def _recompose(self) -> None:
        if self._a is not None:
            self._compose()

    def _mode_changed(self, mode: int) -> None:
        self.wipe_line.setVisible(mode == 2)
        if self.current_frame >= 0:
            self._submit(self.current_frame, fast=False)

    def toggle_ab(self) -> None:
        """Flip between plate and render (from wipe: to plate)."""
        self.mode.setCurrentIndex(1 if self.mode.currentIndex() != 1 else 0)

    def fit(self) -> None:
        """Frame the whole plate."""
        if self.frames is not None:
            info = self.frames.info
            self.vb.setRange(QRectF(0, 0, info.width * self.pixel_aspect, info.height), padding=0.02)

    def one_to_one(self) -> None:
        """One plate pixel per screen pixel, keeping the view centre."""
        if self.frames is None:
            return
        c = self.vb.viewRect().center()
        w, h = self.vb.width(), self.vb.height()
        self.vb.setRange(xRange=(c.x() - w / 2, c.x() + w / 2), yRange=(c.y() - h / 2, c.y() + h / 2), padding=0)

    # --- overlays -------------------------------------------------------------------------
    def _analysis_row(self) -> int:
        an = self.analysis
        if an is None or self.current_frame < 0 or an.n_frames == 0:
            return -1
        t = int(np.searchsorted(an.frame_indices, self.current_frame))
        if t < an.n_frames and int(an.frame_indices[t]) == self.current_frame:
            return t
        return -1

    def _update_overlays(self) -> None:
        t = self._analysis_row()
        an = self.analysis
        for it in self.id_items + self.box_items:
            self.vb.removeItem(it)
        self.id_items, self.box_items = [], []
        if t < 0:
            self.lm_item.clear()
            self.mesh_item.setData([], [])
            self.mask_item.setPath(QPainterPath())
            return
        present = np.flatnonzero(an.present[t])
        sx = self._overlay_scale()
        lms = [an.landmarks[t, f] * np.array([sx, 1.0, 1.0], np.float32) if sx != 1.0 else an.landmarks[t, f]
               for f in present]
        if self.chk_landmarks.isChecked() and lms:
            pts = np.concatenate([lm[:, :2] for lm in lms])
            self.lm_item.setData(pos=pts)
        else:
            self.lm_item.clear()
        if self.chk_mesh.isChecked() and lms:
            if self._edges is None:
                self._edges = mesh_edges()
            segs = np.concatenate([lm[self._edges.ravel(), :2] for lm in lms])
            self.mesh_item.setData(segs[:, 0], segs[:, 1], connect="pairs")
        else:
            self.mesh_item.setData([], [])
        path = QPainterPath()
        if self.chk_mask.isChecked() and lms:
            from core.facs.mesh import face_oval_loop

            loop = face_oval_loop()
            for lm in lms:
                poly = lm[loop, :2]
                if np.isnan(poly).any():
                    continue
                path.moveTo(float(poly[0, 0]), float(poly[0, 1]))
                for x, y in poly[1:]:
                    path.lineTo(float(x), float(y))
                path.closeSubpath()
        self.mask_item.setPath(path)
        if self.chk_ids.isChecked():
            for f in present:
                x0, y0, x1, y1 = (float(v) for v in an.bbox[t, f])
                x0, x1 = x0 * sx, x1 * sx
                if np.isnan([x0, y0, x1, y1]).any():
                    continue
                box = pg.PlotCurveItem([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0],
                                       pen=pg.mkPen((232, 145, 45, 200), width=1))
                label = pg.TextItem(f"track {int(an.track_ids[f])}  {float(an.confidence[t, f]):.2f}",
                                    color="#f0a040", anchor=(0, 1))
                label.setPos(x0, y0)
                self.vb.addItem(box)
                self.vb.addItem(label)
                self.box_items.append(box)
                self.id_items.append(label)

    def keyPressEvent(self, ev) -> None:  # noqa: N802 - Qt naming
        if ev.key() == Qt.Key_Home:
            self.fit()
        else:
            super().keyPressEvent(ev)


ACCENT_PEN = (232, 145, 45)
