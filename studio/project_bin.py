"""The project bin: plates and shots with thumbnails; double-click (or select) a shot to open it.
A plate whose file is not where the project says is marked missing; its context menu (and
File > Relink plate…) asks for the file's new place.

Thumbnails are decoded on a worker thread, from the session's frame cache of the plate: reaching
a shot's first frame can mean opening and indexing a long plate and decoding a GOP of 4K frames,
seconds per shot that opening a project must not freeze the window for. A shot shows its icon
when its frame arrives."""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QMenu, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from studio.frames import FrameCache
from studio.workers import Worker

log = logging.getLogger(__name__)
THUMB = QSize(96, 54)
PLATE_ROLE = Qt.UserRole + 2  # a plate item's plate id
MISSING = QColor("#ffb347")


def rgb_to_pixmap(rgb: np.ndarray, size: QSize = THUMB) -> QPixmap:
    """A scaled QPixmap of an RGB8 image (letterboxed into `size`)."""
    rgb = np.ascontiguousarray(rgb[..., :3])
    h, w = rgb.shape[:2]
    img = QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()
    return QPixmap.fromImage(img).scaled(size, Qt.KeepAspectRatio, Qt.SmoothTransformation)


def thumbnail_rgb(frames: FrameCache, frame: int, size: QSize = THUMB) -> np.ndarray:
    """Frame `frame` of a plate shrunk to twice `size` (sharp on high-DPI screens); run on the
    bin's worker thread. `frames` is the session's cache of the plate, so the thumbnail and
    the viewer share one reader (a deferred one opens here, off the UI thread) and the shot's
    first frame is decoded once."""
    import cv2

    rgb = frames.get(min(max(int(frame), 0), max(frames.frame_count - 1, 0)))
    h, w = rgb.shape[:2]
    par = frames.pixel_aspect  # an anamorphic plate's thumbnail is desqueezed, as the viewer shows it
    shown = w * par
    s = min(1.0, 2 * size.width() / shown, 2 * size.height() / h)
    if s < 1.0 or par != 1.0:
        rgb = cv2.resize(rgb, (max(1, round(shown * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb[..., :3])


class ProjectBin(QWidget):
    """Tree of plates and shots. shotActivated(shot_id) when the user picks a shot;
    relinkRequested(plate_id) from a plate's context menu."""

    shotActivated = Signal(str)
    relinkRequested = Signal(str)
    interpretRequested = Signal(str, str)  # plate id, "colorspace" | "pixel_aspect"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Name", "Frames"])
        self.tree.setIconSize(THUMB)
        self.tree.setColumnWidth(0, 210)
        self.tree.itemActivated.connect(self._activated)
        self.tree.itemClicked.connect(self._activated)
        self.tree.setContextMenuPolicy(Qt.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.tree)
        self._thumbs: dict[str, QPixmap] = {}
        self._asked: set[str] = set()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)

    def populate(self, session, missing: set[str] | frozenset[str] = frozenset()) -> None:
        """Rebuild from the session's project (thumbnails: first frame of each shot, via core.media);
        `missing`: ids of plates whose file is gone, marked for relinking."""
        self.tree.clear()
        proj = session.project
        if proj is None:
            return
        plates = QTreeWidgetItem(self.tree, ["Plates", ""])
        shots = QTreeWidgetItem(self.tree, ["Shots", ""])
        for pid, plate in proj.plates.items():
            gone = pid in missing
            it = QTreeWidgetItem(plates, [f"{pid} (missing)" if gone else pid,
                                          f"{plate.frame_count} @ {float(plate.fps):.3g}"])
            it.setData(0, PLATE_ROLE, pid)
            tip = (f"{plate.path}\n{plate.width}x{plate.height}, timecode {plate.timecode or '00:00:00:00'}"
                   f"\ncolour space {plate.colorspace or 'as its files say'}"
                   + (f", pixel aspect {plate.pixel_aspect:.4g}" if plate.pixel_aspect != 1.0 else "")
                   + "\nRight-click: relink, colour space, pixel aspect")
            if gone:
                it.setForeground(0, QBrush(MISSING))
                tip = f"MISSING: no file at {plate.path}\nRight-click ▸ Relink plate… to give its new place\n" + tip
            it.setToolTip(0, tip)
        for shot in proj.shots:
            flags = []
            if shot.has_analysis:
                flags.append("analysed")
            if shot.curves:
                flags.append(f"{len(shot.curves)} face{'s' if len(shot.curves) > 1 else ''}")
            it = QTreeWidgetItem(shots, [shot.name, f"{shot.frame_in}-{shot.frame_out}"])
            record = session.plate_record(shot)
            key = f"{shot.plate_id}:{getattr(record, 'path', '')}:{getattr(record, 'hash', '')}:{shot.frame_in}"
            it.setData(0, Qt.UserRole, shot.id)
            it.setData(0, Qt.UserRole + 1, key)
            it.setToolTip(0, f"{shot.name} ({shot.id}) plate {shot.plate_id}" + (f"\n{', '.join(flags)}" if flags else ""))
            pix = self._thumb(session, shot, key)
            if pix is not None:
                it.setIcon(0, QIcon(pix))
            if shot.id == getattr(session.shot, "id", None):
                self.tree.setCurrentItem(it)
        plates.setExpanded(True)
        shots.setExpanded(True)

    def _thumb(self, session, shot, key: str) -> QPixmap | None:
        """The shot's thumbnail (`key`: its plate and first frame) if made already; else it is
        queued on the bin's worker (None now). A failure is logged by the worker."""
        if key in self._thumbs:
            return self._thumbs[key]
        if key not in self._asked:
            try:
                plate = session.plate_of(shot)
                frames = session.frames_for(plate, session.plate_record(shot)) if plate is not None else None
            except Exception as exc:  # noqa: BLE001 - a missing thumbnail must not stop the bin
                log.warning("no thumbnail for shot %s: %s", shot.name, exc)
                self._asked.add(key)  # said once; a relinked plate makes another key
                return None
            if frames is None:
                return None
            self._asked.add(key)
            frame = int(shot.frame_in)
            w = Worker(lambda _progress, _cancelled: thumbnail_rgb(frames, frame), name=f"thumbnail of {key}",
                       parent=self)
            w.finished.connect(lambda rgb, key=key: self._thumb_ready(key, rgb))
            w.ended.connect(w.deleteLater)
            w.start(self._pool)
        return None

    def _thumb_ready(self, key: str, rgb: np.ndarray) -> None:
        pix = rgb_to_pixmap(rgb)
        self._thumbs[key] = pix
        root = self.tree.invisibleRootItem()
        for i in range(root.childCount()):
            group = root.child(i)
            for j in range(group.childCount()):
                it = group.child(j)
                if it.data(0, Qt.UserRole + 1) == key:
                    it.setIcon(0, QIcon(pix))

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Drop the thumbnails not started and wait for the one being decoded (window closing)."""
        self._pool.clear()
        self._pool.waitForDone(timeout_ms)

    def wait_thumbnails(self, timeout_ms: int = 30000) -> bool:
        """Block until queued thumbnails are decoded (their icons then arrive through the event loop)."""
        return bool(self._pool.waitForDone(timeout_ms))

    def _context_menu(self, pos) -> None:
        item = self.tree.itemAt(pos)
        pid = item.data(0, PLATE_ROLE) if item is not None else None
        if not pid:
            return
        menu = QMenu(self)
        menu.addAction("Relink plate…", lambda: self.relinkRequested.emit(pid))
        menu.addAction("Colour space…", lambda: self.interpretRequested.emit(pid, "colorspace"))
        menu.addAction("Pixel aspect…", lambda: self.interpretRequested.emit(pid, "pixel_aspect"))
        menu.exec(self.tree.viewport().mapToGlobal(pos))

    def _activated(self, item: QTreeWidgetItem, _col: int = 0) -> None:
        sid = item.data(0, Qt.UserRole)
        if sid:
            self.shotActivated.emit(sid)
