"""Identity library panel: template thumbnails, add from files or from the current frame,
consent / rights fields, quality warnings, assign to the current shot.

A view on core.identity's `Library` (add / list / get / rename / set_consent / remove): the
panel computes nothing. Adding a template runs face analysis (about a second, a few more the
first time while the models load); it goes through `runner` (the main window's background
job helper) when one is set, else it runs inline. Every error from core is shown in the
panel's status line, never raised into Qt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from core.errors import FacsimileError

log = logging.getLogger(__name__)

ID_ROLE = Qt.UserRole
STATUS_ROLE = Qt.UserRole + 1
THUMB = 56
STATUS_COLOURS = {"valid": "#7bd88f", "expired": "#ff7b6b", "none": "#ffb347"}
STATUS_TEXT = {"valid": "consent valid", "expired": "consent expired", "none": "no consent"}
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.exr *.bmp *.webp);;All files (*)"

# runner(name, task(progress, cancelled) -> result, on_done(result)): the main window's run_job
Runner = Callable[[str, Callable[..., Any], Callable[[Any], None]], Any]


def consent_status(template: Any) -> str:
    """'valid' | 'expired' | 'none' | 'damaged' for a core.identity Template."""
    return str(template.summary().get("consent_status", "none"))


def quality_warnings(template: Any) -> list[str]:
    """The quality warnings core recorded for each source of a template (deduplicated)."""
    out: list[str] = []
    for src in (template.meta.get("quality") or {}).get("sources", []) or []:
        for w in src.get("warnings", []) or []:
            text = f"{src['source']}: {w}" if src.get("source") else str(w)
            if text not in out:
                out.append(text)
    return out


def consent_warning(template: Any) -> str | None:
    """What a render would say about this template's consent record, or None when it is valid."""
    st = consent_status(template)
    if st == "none":
        return "no consent record: a render with this template is refused unless overridden with a reason"
    if st == "expired":
        return f"the consent ended on {template.consent.until}: renders are refused unless overridden with a reason"
    if st == "damaged":
        return "the consent record is damaged (unreadable): record it again below; renders are refused until then"
    return None


class IdentityPanel(QWidget):
    """The library of identity templates; assignRequested(template_id) for the current shot."""

    assignRequested = Signal(str)
    addFromFrameRequested = Signal()
    templatesChanged = Signal()  # added, renamed, consent changed or removed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library: Any = None
        self.runner: Runner | None = None
        self.busy = False
        self.last_error = ""
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("padding: 0px;")  # see self.warnings: wrapped error lines must not clip
        self.status.setContentsMargins(4, 3, 4, 3)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSpacing(2)
        self.list.setUniformItemSizes(True)
        self.list.currentItemChanged.connect(self._show_selected)

        self.btn_files = QPushButton("Add from files…")
        self.btn_files.setToolTip("Make a template from one or more pictures of the same person (near frontal, "
                                  "eyes open, sharp); the consent fields below are recorded with it")
        self.btn_files.clicked.connect(self._add_files_dialog)
        self.btn_frame = QPushButton("Add from frame")
        self.btn_frame.setToolTip("Make a template from the face in the viewer's current frame")
        self.btn_frame.clicked.connect(self.addFromFrameRequested.emit)
        self.btn_assign = QPushButton("Assign to shot")
        self.btn_assign.setToolTip("Use the selected template as the current shot's identity (undoable)")
        self.btn_assign.clicked.connect(self._assign)
        self.btn_remove = QPushButton("Remove")
        self.btn_remove.setToolTip("Move the selected template to the library's .trash folder")
        self.btn_remove.clicked.connect(self._remove)

        self.name = QLineEdit()
        self.name.setPlaceholderText("template name (Enter renames)")
        self.name.editingFinished.connect(self._rename)
        self.info = QLabel("")
        self.info.setObjectName("dim")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.consent_by = QLineEdit()
        self.consent_by.setPlaceholderText("the person who consented")
        self.consent_use = QLineEdit()
        self.consent_use.setPlaceholderText("agreed use, e.g. feature X, post only")
        self.consent_until = QLineEdit()
        self.consent_until.setPlaceholderText("YYYY-MM-DD (empty: no end date)")
        self.consent_note = QLineEdit()
        self.consent_note.setPlaceholderText("release form reference, rights holder…")
        self.consent_edited = False  # typed since the selection filled them: they go with a new template
        self._filling = False
        for f in (self.consent_by, self.consent_use, self.consent_until, self.consent_note):
            f.textChanged.connect(self._consent_typed)
        self.consent_info = QLabel("")
        self.consent_info.setObjectName("dim")
        self.consent_info.setWordWrap(True)
        self.btn_consent = QPushButton("Record consent")
        self.btn_consent.setToolTip("Record these consent fields on the selected template")
        self.btn_consent.clicked.connect(self._record_consent)
        self.btn_withdraw = QPushButton("Withdraw consent")
        self.btn_withdraw.setToolTip("Remove the selected template's consent record")
        self.btn_withdraw.clicked.connect(self._withdraw_consent)
        self.warnings = QLabel("")
        self.warnings.setObjectName("warning")
        self.warnings.setWordWrap(True)
        # the theme's QSS padding is not counted by QLabel's height-for-width (wrapped lines are
        # clipped): the same room as plain contents margins, which are counted
        self.warnings.setStyleSheet("padding: 0px;")
        self.warnings.setContentsMargins(4, 3, 4, 3)
        self.warnings.hide()

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Name", self.name)
        form.addRow("", self.info)
        consent_box = QGroupBox("Consent and rights")
        cf = QFormLayout(consent_box)
        cf.addRow("Consented by", self.consent_by)
        cf.addRow("Use", self.consent_use)
        cf.addRow("Until", self.consent_until)
        cf.addRow("Note", self.consent_note)
        cf.addRow("", self.consent_info)
        cb = QHBoxLayout()
        cb.addWidget(self.btn_consent)
        cb.addWidget(self.btn_withdraw)
        cf.addRow(cb)
        b1 = QHBoxLayout()
        b1.addWidget(self.btn_files)
        b1.addWidget(self.btn_frame)
        b2 = QHBoxLayout()
        b2.addWidget(self.btn_assign)
        b2.addWidget(self.btn_remove)
        details = QWidget()
        dl = QVBoxLayout(details)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addLayout(form)
        dl.addWidget(self.warnings)
        dl.addWidget(consent_box)
        dl.addStretch(1)
        # the details scroll: a short dock must not force the main window's layout taller
        self.details = QScrollArea()
        self.details.setWidget(details)
        self.details.setWidgetResizable(True)
        self.details.setFrameShape(QFrame.NoFrame)
        self.details.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.list.setMinimumHeight(THUMB + 12)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.list, 2)
        lay.addLayout(b1)
        lay.addWidget(self.status)
        lay.addWidget(self.details, 3)
        lay.addLayout(b2)
        self.open_library(None)

    # ------------------------------------------------------------------ library
    def open_library(self, path: str | Path | None) -> None:
        """Open the identity library at `path` (None: the user's default library folder)."""
        from core.identity import Library

        if self.library is not None and path is not None and Path(path) == self.library.path:
            self.refresh()
            return
        if self.library is not None and path is None:
            from core.identity import default_library_dir

            if self.library.path == default_library_dir():
                self.refresh()
                return
        self.library = Library(path)  # the folder is created on the first add
        self._set_status(f"Library: {self.library.path}")
        self.refresh()

    def templates(self) -> list[Any]:
        """The library's templates (empty when it cannot be listed; the reason is in the status)."""
        if self.library is None:
            return []
        try:
            return self.library.list()
        except (OSError, FacsimileError) as exc:
            self.show_error(f"the library {self.library.path} cannot be listed: {exc}")
            return []

    def refresh(self, select: str | None = None) -> None:
        """Re-list the templates; keep (or move to) the selection `select` (a template id)."""
        keep = select or self.selected_id()
        self.list.blockSignals(True)
        self.list.clear()
        current = None
        for t in self.templates():
            st = consent_status(t)
            it = QListWidgetItem(f"{t.name}\n{STATUS_TEXT[st]}")
            it.setData(ID_ROLE, t.id)
            it.setData(STATUS_ROLE, st)
            it.setForeground(QBrush(QColor(STATUS_COLOURS[st])))
            pix = QPixmap(str(t.path / "texture.png"))
            if not pix.isNull():
                it.setIcon(QIcon(pix.scaled(THUMB, THUMB, Qt.KeepAspectRatio, Qt.SmoothTransformation)))
            it.setToolTip(f"{t.name} ({t.id})\n{STATUS_TEXT[st]}")
            self.list.addItem(it)
            if t.id == keep:
                current = it
        self.list.blockSignals(False)
        if self.library is not None and self.library.problems:
            self.show_error("damaged templates skipped: " + "; ".join(self.library.problems))
        if current is None and self.list.count():
            current = self.list.item(0)
        self.list.setCurrentItem(current)
        self._show_selected(current)

    def selected_id(self) -> str | None:
        it = self.list.currentItem()
        return str(it.data(ID_ROLE)) if it is not None else None

    def select(self, template_id: str) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(ID_ROLE) == template_id:
                self.list.setCurrentRow(i)
                return

    def selected(self) -> Any:
        """The selected Template, or None."""
        tid = self.selected_id()
        if tid is None or self.library is None:
            return None
        try:
            return self.library.get(tid)
        except FacsimileError as exc:
            self.show_error(str(exc))
            return None

    # ------------------------------------------------------------------ status
    def _set_status(self, text: str, style: str = "dim") -> None:
        self.status.setText(text)
        self.status.setObjectName(style)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)

    def show_error(self, text: str) -> None:
        """Show a problem in the panel's status line (error style) and log it."""
        self.last_error = text
        log.warning("identity library: %s", text)
        self._set_status(text, "error")

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        for b in (self.btn_files, self.btn_frame):
            b.setEnabled(not busy)

    # ------------------------------------------------------------------ details
    def _show_selected(self, item: QListWidgetItem | None, _prev: Any = None) -> None:
        has = item is not None
        for w in (self.btn_assign, self.btn_remove, self.btn_consent, self.btn_withdraw, self.name):
            w.setEnabled(has)
        if not has:
            self.name.clear()
            if not self.consent_edited:  # a removed template's record must not go with the next new one
                self._filling = True
                for f in (self.consent_by, self.consent_use, self.consent_until, self.consent_note):
                    f.clear()
                self._filling = False
            self.info.setText("No template selected." if self.list.count() else
                              "The library is empty: add a template from files or from the current frame.")
            self.consent_info.setText("")
            self.warnings.hide()
            return
        t = self.selected()
        if t is None:
            return
        self.name.setText(t.name)
        n_src = len(t.meta.get("sources", []))
        self.info.setText(f"id {t.id} · {n_src} source{'s' if n_src != 1 else ''} · created {t.created[:10]}")
        try:
            c = t.consent
        except FacsimileError:  # damaged: shown empty, to be recorded again (the warning says so)
            c = None
        self._filling = True
        for field, value in ((self.consent_by, c.consented_by if c else ""), (self.consent_use, c.use if c else ""),
                             (self.consent_until, (c.until or "") if c else ""),
                             (self.consent_note, c.note if c else "")):
            field.setText(value)
        self._filling = False
        self.consent_edited = False
        self.consent_info.setText(f"recorded by {c.recorded_by} on {c.recorded_at[:10]}" if c else
                                  "no consent record")
        self.btn_withdraw.setEnabled(c is not None)
        warns = quality_warnings(t)
        cw = consent_warning(t)
        if cw:
            warns.insert(0, cw)
        self.warnings.setText("\n".join(f"⚠ {w}" for w in warns))
        self.warnings.setVisible(bool(warns))

    def _consent_typed(self, _text: str) -> None:
        if not self._filling:
            self.consent_edited = True

    def consent_from_fields(self) -> Any:
        """A core Consent from the fields; None when they are all empty; FacsimileError when incomplete."""
        from core.identity import Consent

        by, use = self.consent_by.text().strip(), self.consent_use.text().strip()
        until, note = self.consent_until.text().strip(), self.consent_note.text().strip()
        if not (by or use or until or note):
            return None
        return Consent(consented_by=by, use=use, until=until or None, note=note)

    # ------------------------------------------------------------------ add
    def _add_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Identity source images", "", IMAGE_FILTER)
        if files:
            self.add_from_files([Path(f) for f in files])

    def add_from_files(self, files: Sequence[str | Path], name: str | None = None) -> Any:
        """Make a template from image files (name: the first file's stem unless given)."""
        files = [Path(f) for f in files]
        if not files:
            self.show_error("choose at least one picture")
            return None
        return self.add_images(name or files[0].stem, files)

    def add_from_frame(self, rgb: np.ndarray, name: str) -> Any:
        """Make a template from one RGB frame (the viewer's current plate frame)."""
        return self.add_images(name, [np.asarray(rgb)])

    def add_images(self, name: str, images: Sequence[str | Path | np.ndarray]) -> Any:
        """core Library.add with the consent fields; inline it returns the Template (None on
        error, the reason in the status); through `runner` it returns None and selects the
        new template when the job ends."""
        if self.library is None:
            self.show_error("no identity library is open")
            return None
        if self.busy:
            self.show_error("a template is already being made; wait for it to finish")
            return None
        try:
            # the fields go with the new template only when typed for it, never the selected one's record
            consent = self.consent_from_fields() if self.consent_edited else None
        except FacsimileError as exc:
            self.show_error(f"consent not recorded, template not made: {exc}")
            return None
        lib, images = self.library, list(images)

        def task(_progress: Any = None, _cancelled: Any = None) -> Any:
            try:
                return lib.add(name, images, consent=consent)
            except (FacsimileError, OSError) as exc:
                return exc

        self._set_busy(True)
        self._set_status(f"Making template {name!r}: analysing {len(images)} picture(s)…")
        if self.runner is not None:
            try:
                self.runner(f"Identity template {name}", task, self._added)
            except FacsimileError as exc:
                self._set_busy(False)
                self.show_error(str(exc))
            return None
        QApplication.setOverrideCursor(Qt.WaitCursor)
        QApplication.processEvents()
        try:
            result = task()
        finally:
            QApplication.restoreOverrideCursor()
        return self._added(result)

    def add_failed(self, message: str) -> None:
        """The runner's job failed or was cancelled: say so and accept new adds again."""
        self._added(FacsimileError(message))

    def _added(self, result: Any) -> Any:
        self._set_busy(False)
        if isinstance(result, BaseException):
            self.show_error(f"template not made: {result}")
            return None
        self.last_error = ""
        st = consent_status(result)
        self.refresh(select=result.id)
        self._set_status(f"Added {result.name} ({result.id}), {STATUS_TEXT[st]}.")
        self.templatesChanged.emit()
        return result

    # ------------------------------------------------------------------ edit
    def _rename(self) -> None:
        t = self.selected()
        new = self.name.text().strip()
        if t is None or not new or new == t.name:
            return
        self.rename(t.id, new)

    def rename(self, template_id: str, name: str) -> bool:
        """Change a template's display name (its id stays, so shots keep it)."""
        try:
            t = self.library.rename(template_id, name)
        except FacsimileError as exc:
            self.show_error(f"not renamed: {exc}")
            return False
        self.refresh(select=t.id)
        self._set_status(f"Renamed to {t.name}.")
        self.templatesChanged.emit()
        return True

    def _record_consent(self) -> None:
        t = self.selected()
        if t is None:
            return
        try:
            c = self.consent_from_fields()
            if c is None:
                raise FacsimileError("fill in who consented and the agreed use first")
            t = self.library.set_consent(t.id, c)
        except FacsimileError as exc:
            self.show_error(f"consent not recorded: {exc}")
            return
        self.refresh(select=t.id)
        self._set_status(f"Consent recorded for {t.name}: {STATUS_TEXT[consent_status(t)]}.")
        self.templatesChanged.emit()

    def _withdraw_consent(self) -> None:
        t = self.selected()
        if t is None:
            return
        try:
            t = self.library.set_consent(t.id, None)
        except FacsimileError as exc:
            self.show_error(f"consent not withdrawn: {exc}")
            return
        self.refresh(select=t.id)
        self._set_status(f"Consent withdrawn for {t.name}.")
        self.templatesChanged.emit()

    def _remove(self) -> None:
        t = self.selected()
        if t is None:
            return
        try:
            dest = self.library.remove(t.id)
        except FacsimileError as exc:
            self.show_error(f"not removed: {exc}")
            return
        self.refresh()
        self._set_status(f"{t.name} moved to {dest}.")
        self.templatesChanged.emit()

    def _assign(self) -> None:
        tid = self.selected_id()
        if tid is not None:
            self.assignRequested.emit(tid)
