"""Identity library panel: template thumbnails, add from files or from the current frame,
consent / rights fields, quality warnings, assign to the current shot.

Binds to core.identity's `Library(path)` (add / list / get / rename / remove). Until that
module exists the panel says so and its buttons are disabled: nothing is faked.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.paths import user_data_dir

log = logging.getLogger(__name__)


def library_class() -> Any:
    """core.identity.Library, or None when it is not available in this build."""
    try:
        from core.identity import Library  # type: ignore[attr-defined]
    except ImportError:
        return None
    return Library


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        if isinstance(obj, dict) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            return getattr(obj, n)
    return default


class IdentityPanel(QWidget):
    """The library of identity templates. assignRequested(template_name) for the current shot."""

    assignRequested = Signal(str)
    addFromFrameRequested = Signal()
    consentMissing = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library: Any = None
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.IconMode)
        self.list.setIconSize(QSize(72, 72))
        self.list.setResizeMode(QListWidget.Adjust)
        self.list.setSpacing(4)
        self.list.currentItemChanged.connect(self._show_selected)
        self.btn_files = QPushButton("Add from files…")
        self.btn_files.clicked.connect(self._add_files)
        self.btn_frame = QPushButton("Add from frame")
        self.btn_frame.setToolTip("Make a template from the face in the viewer's current frame")
        self.btn_frame.clicked.connect(self.addFromFrameRequested.emit)
        self.btn_assign = QPushButton("Assign to shot")
        self.btn_assign.clicked.connect(self._assign)
        self.btn_remove = QPushButton("Remove")
        self.btn_remove.clicked.connect(self._remove)
        self.name = QLineEdit()
        self.name.editingFinished.connect(self._rename)
        self.consent = QCheckBox("Consent on file")
        self.rights = QLineEdit()
        self.rights.setPlaceholderText("rights holder / licence / release reference")
        self.quality = QLabel("")
        self.quality.setObjectName("warning")
        self.quality.setWordWrap(True)
        self.quality.hide()
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("", self.consent)
        form.addRow("Rights", self.rights)
        b1 = QHBoxLayout()
        b1.addWidget(self.btn_files)
        b1.addWidget(self.btn_frame)
        b2 = QHBoxLayout()
        b2.addWidget(self.btn_assign)
        b2.addWidget(self.btn_remove)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.status)
        lay.addWidget(self.list, 1)
        lay.addLayout(b1)
        lay.addLayout(form)
        lay.addWidget(self.quality)
        lay.addLayout(b2)
        self.open_library(None)

    def open_library(self, path: str | Path | None) -> None:
        """Open the identity library at `path` (default: the user's library folder)."""
        cls = library_class()
        if cls is None:
            self.library = None
            self.status.setText("Identity library unavailable: core.identity is not in this build.")
            self.status.setObjectName("warning")
            for b in (self.btn_files, self.btn_frame, self.btn_assign, self.btn_remove):
                b.setEnabled(False)
            return
        lib_path = Path(path) if path else user_data_dir() / "library"
        try:
            self.library = cls(lib_path)
        except Exception as exc:  # noqa: BLE001 - shown in the panel
            self.library = None
            self.status.setText(f"Cannot open the identity library {lib_path}: {exc}")
            return
        self.status.setText(f"Library: {lib_path}")
        self.status.setObjectName("dim")
        self.refresh()

    def refresh(self) -> None:
        self.list.clear()
        if self.library is None:
            return
        try:
            templates = list(self.library.list())
        except Exception as exc:  # noqa: BLE001
            self.status.setText(f"Library cannot be listed: {exc}")
            return
        for t in templates:
            name = str(_get(t, "name", default=t))
            it = QListWidgetItem(name)
            it.setData(Qt.UserRole, name)
            thumb = _get(t, "thumbnail_path", "thumbnail", default=None)
            if thumb and Path(str(thumb)).exists():
                it.setIcon(QIcon(str(thumb)))
            if not _get(t, "consent", default=False):
                it.setToolTip("no consent record")
            self.list.addItem(it)

    def _template(self, name: str) -> Any:
        return self.library.get(name) if self.library is not None else None

    def _show_selected(self, item: QListWidgetItem | None, _prev=None) -> None:
        if item is None or self.library is None:
            return
        t = self._template(item.data(Qt.UserRole))
        self.name.setText(str(_get(t, "name", default="")))
        self.consent.setChecked(bool(_get(t, "consent", default=False)))
        self.rights.setText(str(_get(t, "rights", "rights_note", default="") or ""))
        warns = list(_get(t, "quality_warnings", "warnings", default=[]) or [])
        if not _get(t, "consent", default=False):
            warns.append("no consent record: a swap render with this template will carry a warning")
        self.quality.setText("\n".join(f"⚠ {w}" for w in warns))
        self.quality.setVisible(bool(warns))

    def _add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Identity source images", "", "Images (*.png *.jpg *.jpeg *.tif *.tiff *.exr)")
        if files:
            self.add_from_files([Path(f) for f in files])

    def add_from_files(self, files: list[Path], name: str | None = None) -> Any:
        """Create a template from image files (core.identity does the work)."""
        if self.library is None:
            return None
        t = self.library.add(name or files[0].stem, files, consent=self.consent.isChecked(), rights=self.rights.text())
        self.refresh()
        return t

    def _rename(self) -> None:
        item = self.list.currentItem()
        if item is None or self.library is None:
            return
        old, new = item.data(Qt.UserRole), self.name.text().strip()
        if new and new != old:
            self.library.rename(old, new)
            self.refresh()

    def _remove(self) -> None:
        item = self.list.currentItem()
        if item is not None and self.library is not None:
            self.library.remove(item.data(Qt.UserRole))
            self.refresh()

    def _assign(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.assignRequested.emit(item.data(Qt.UserRole))
