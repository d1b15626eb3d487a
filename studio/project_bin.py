"""The project bin: plates and shots with thumbnails; double-click (or select) a shot to open it."""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

log = logging.getLogger(__name__)
THUMB = QSize(96, 54)


def rgb_to_pixmap(rgb: np.ndarray, size: QSize = THUMB) -> QPixmap:
    """A scaled QPixmap of an RGB8 image (letterboxed into `size`)."""
    rgb = np.ascontiguousarray(rgb[..., :3])
    h, w = rgb.shape[:2]
    img = QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()
    return QPixmap.fromImage(img).scaled(size, Qt.KeepAspectRatio, Qt.SmoothTransformation)


class ProjectBin(QWidget):
    """Tree of plates and shots. shotActivated(shot_id) when the user picks a shot."""

    shotActivated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Name", "Frames"])
        self.tree.setIconSize(THUMB)
        self.tree.setColumnWidth(0, 210)
        self.tree.itemActivated.connect(self._activated)
        self.tree.itemClicked.connect(self._activated)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.tree)
        self._thumbs: dict[str, QPixmap] = {}

    def populate(self, session) -> None:
        """Rebuild from the session's project (thumbnails: first frame of each shot, via core.media)."""
        self.tree.clear()
        proj = session.project
        if proj is None:
            return
        plates = QTreeWidgetItem(self.tree, ["Plates", ""])
        shots = QTreeWidgetItem(self.tree, ["Shots", ""])
        for pid, plate in proj.plates.items():
            it = QTreeWidgetItem(plates, [pid, f"{plate.frame_count} @ {float(plate.fps):.3g}"])
            it.setToolTip(0, f"{plate.path}\n{plate.width}x{plate.height}, timecode {plate.timecode or '00:00:00:00'}")
        for shot in proj.shots:
            flags = []
            if shot.has_analysis:
                flags.append("analysed")
            if shot.curves:
                flags.append(f"{len(shot.curves)} face{'s' if len(shot.curves) > 1 else ''}")
            it = QTreeWidgetItem(shots, [shot.name, f"{shot.frame_in}-{shot.frame_out}"])
            it.setData(0, Qt.UserRole, shot.id)
            it.setToolTip(0, f"{shot.name} ({shot.id}) plate {shot.plate_id}" + (f"\n{', '.join(flags)}" if flags else ""))
            pix = self._thumb(session, shot)
            if pix is not None:
                it.setIcon(0, QIcon(pix))
            if shot.id == getattr(session.shot, "id", None):
                self.tree.setCurrentItem(it)
        plates.setExpanded(True)
        shots.setExpanded(True)

    def _thumb(self, session, shot) -> QPixmap | None:
        key = f"{shot.plate_id}:{shot.frame_in}"
        if key in self._thumbs:
            return self._thumbs[key]
        try:
            plate = session.plate_of(shot)
            frames = session.frames_for(plate)
            pix = rgb_to_pixmap(frames.get(int(shot.frame_in)))
        except Exception as exc:  # noqa: BLE001 - a missing thumbnail must not stop the bin
            log.warning("no thumbnail for shot %s: %s", shot.name, exc)
            return None
        self._thumbs[key] = pix
        return pix

    def _activated(self, item: QTreeWidgetItem, _col: int = 0) -> None:
        sid = item.data(0, Qt.UserRole)
        if sid:
            self.shotActivated.emit(sid)
