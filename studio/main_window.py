"""The studio's main window: bin, viewer, transport, curve editor, inspector, identity
library, render queue; menus, shortcuts, status bar, autosave and crash recovery."""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path

from PySide6.QtCore import Qt, QThreadPool, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.errors import FacsimileError, ProjectError
from core.media.playback import plate_times
from core.paths import user_data_dir
from studio.curve_editor import CurveEditor
from studio.identity_panel import IdentityPanel
from studio.inspector import RENDER_DEFAULTS, Inspector
from studio.preview import LivePreview
from studio.project_bin import ProjectBin
from studio.render_queue import QueueItem, RenderQueue, RenderQueuePanel
from studio.session import Session
from studio.timeline import Transport, timecode
from studio.viewer import Viewer
from studio.workers import Worker, format_eta

log = logging.getLogger(__name__)

AUTOSAVE_TICK_MS = 5000


class MainWindow(QMainWindow):
    """Facsimile studio window. `session` holds what is open; widgets follow its signals."""

    def __init__(self, offer_recovery: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("Facsimile")
        self.offer_recovery = offer_recovery
        self.session = Session(self)
        self.autosaver = None
        self.job: Worker | None = None
        self._job_t0 = 0.0
        self._job_note: tuple[str, bool] | None = None
        self._undo_serial = 0  # counts pushes/undos/redos: a background curve step computed before an edit is stale

        # central: viewer over transport over curve editor
        self.viewer = Viewer()
        self.transport = Transport()
        self.curves = CurveEditor()
        self._doc_key: tuple | None = None  # (shot id, face) the graph editor shows, to keep its view for
        self.curves.bake_runner = self.bake_to_keys
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.setSpacing(0)
        tl.addWidget(self.viewer, 1)
        tl.addWidget(self.transport)
        split = QSplitter(Qt.Vertical)
        split.addWidget(top)
        split.addWidget(self.curves)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([560, 360])
        self.setCentralWidget(split)

        # docks
        self.bin = ProjectBin()
        self.identities = IdentityPanel()
        left = QTabWidget()
        left.addTab(self.bin, "Project")
        left.addTab(self.identities, "Identities")
        self.left_tabs = left
        self.inspector = Inspector()
        self.queue = RenderQueue()
        queue_note = None
        try:
            self.queue.set_path(self._queue_path())
        except ProjectError as exc:  # the studio still starts, with an empty queue
            log.error("%s", exc)
            queue_note = str(exc)
        self.queue_panel = RenderQueuePanel(self.queue)
        self.dock_left = self._dock("Bin", left, Qt.LeftDockWidgetArea)
        self.dock_inspector = self._dock("Inspector", self.inspector, Qt.RightDockWidgetArea)
        self.dock_queue = self._dock("Render queue", self.queue_panel, Qt.RightDockWidgetArea)
        self.resizeDocks([self.dock_left, self.dock_inspector], [230, 380], Qt.Horizontal)
        self.resizeDocks([self.dock_inspector, self.dock_queue], [620, 200], Qt.Vertical)

        # status bar: message, job progress + ETA + cancel, frame/timecode
        self.status_msg = QLabel("Ready")
        self.job_label = QLabel("")
        self.job_bar = QProgressBar()
        self.job_bar.setFixedWidth(180)
        self.job_eta = QLabel("")
        self.job_cancel = QPushButton("Cancel")
        self.job_cancel.clicked.connect(self.cancel_job)
        self.frame_label = QLabel("")
        self.frame_label.setObjectName("timecode")
        job = QWidget()
        jl = QHBoxLayout(job)
        jl.setContentsMargins(0, 0, 0, 0)
        for w in (self.job_label, self.job_bar, self.job_eta, self.job_cancel):
            jl.addWidget(w)
        self.job_widget = job
        job.hide()
        self.statusBar().addWidget(self.status_msg, 1)
        self.statusBar().addPermanentWidget(job)
        self.statusBar().addPermanentWidget(self.frame_label)

        self._missing: set[str] = set()  # plates whose file is gone (stat, on open and after a relink)
        self._plate_notes: dict[str, tuple[str, str]] = {}  # plate id -> (state, message) of its file's check
        self._facts_checked: object = None  # the frame cache whose opened file _check_opened_plate compared
        self._checks = QThreadPool(self)
        self._checks.setMaxThreadCount(1)
        self._build_menus()
        self._wire()
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_TICK_MS)
        self.autosave_timer.timeout.connect(self._autosave_tick)
        self.autosave_timer.start()
        if queue_note:
            self.show_message(queue_note, error=True)

    # ------------------------------------------------------------------ construction
    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(title.replace(" ", "_"))
        d.setWidget(widget)
        d.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable | QDockWidget.DockWidgetClosable)
        self.addDockWidget(area, d)
        return d

    def _act(self, menu, text: str, slot, keys=None, tip: str = "", checkable: bool = False) -> QAction:
        a = QAction(text, self)
        if keys:
            seqs = keys if isinstance(keys, list) else [keys]
            a.setShortcuts([QKeySequence(k) for k in seqs])
        if tip:
            a.setStatusTip(tip)
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._act(f, "Open project or plate…", self._open_dialog, QKeySequence.Open)
        self._act(f, "Save", self.save, QKeySequence.Save)
        self._act(f, "Save as…", self.save_as, QKeySequence.SaveAs)
        f.addSeparator()
        self._act(f, "Relink plate…", lambda: self.relink_plate(), tip="give a moved or renamed plate file's new "
                  "place (the current shot's plate, or the first missing one)")
        f.addSeparator()
        self._act(f, "Save screenshot…", self._screenshot_dialog)
        f.addSeparator()
        self._act(f, "Quit", self.close, QKeySequence.Quit)

        e = mb.addMenu("&Edit")
        self.act_undo = self._act(e, "Undo", self.undo, QKeySequence.Undo)
        self.act_redo = self._act(e, "Redo", self.redo, [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        e.addSeparator()
        self._act(e, "Copy keys", self.curves.copy)
        self._act(e, "Paste keys at cursor", self.curves.paste)
        self._act(e, "Delete selected keys", self.curves.delete_selected)

        v = mb.addMenu("&View")
        self._act(v, "Fit frame", self.viewer.fit, "Home")
        self._act(v, "1:1 pixels", self.viewer.one_to_one, "Ctrl+1")
        self._act(v, "Toggle plate / render (A/B)", self.viewer.toggle_ab, "Tab")
        self._act(v, "Wipe A|B", lambda: self.viewer.mode.setCurrentIndex(2), "Ctrl+W")
        v.addSeparator()
        for label, chk, key in (("Landmarks", self.viewer.chk_landmarks, "Shift+L"), ("Mesh", self.viewer.chk_mesh, "Shift+M"),
                                ("Mask", self.viewer.chk_mask, "Shift+K"), ("Track IDs", self.viewer.chk_ids, "Shift+T")):
            a = self._act(v, f"Overlay: {label}", chk.toggle, key, checkable=True)
            a.setChecked(chk.isChecked())
            chk.toggled.connect(a.setChecked)
        v.addSeparator()
        self._act(v, "Curves: lanes", lambda: self.curves.set_mode("lanes"))
        self._act(v, "Curves: overlay", lambda: self.curves.set_mode("overlay"))
        v.addSeparator()
        for d in (self.dock_left, self.dock_inspector, self.dock_queue):
            v.addAction(d.toggleViewAction())

        p = mb.addMenu("&Playback")
        self._act(p, "Play / stop", self.transport.toggle_play, "Space")
        self._act(p, "Play backwards (J)", lambda: self.transport.shuttle(-1), "J")
        self._act(p, "Stop (K); stopped, with the curve editor focused: set key", self._k_pressed, "K")
        self._act(p, "Play forwards (L)", lambda: self.transport.shuttle(1), "L")
        self._act(p, "Step back", lambda: self.transport.step(-1), "Left")
        self._act(p, "Step forward", lambda: self.transport.step(1), "Right")
        self._act(p, "Previous key", lambda: self.jump_key(-1), ",")
        self._act(p, "Next key", lambda: self.jump_key(1), ".")
        self._act(p, "Go to start", self.transport.go_start, "Ctrl+Left")
        self._act(p, "Go to end", self.transport.go_end, "Ctrl+Right")
        self._act(p, "Set in point", self.transport.set_in, "I")
        self._act(p, "Set out point", self.transport.set_out, "O")
        self._act(p, "Clear in and out points", self.transport.clear_in_out, "Alt+X")

        s = mb.addMenu("&Shot")
        self._act(s, "Analyse shot", self.analyse_shot, "Ctrl+Shift+A",
                  tip="Detect, track and measure faces, then extract AU curves (in the background)")
        self._act(s, "Add render to queue", self.queue_render, "Ctrl+R")
        self._act(s, "Add plate export (ProRes) to queue", lambda: self.queue_convert("mov"))
        self._act(s, "Add plate export (EXR) to queue", lambda: self.queue_convert("exr"))

        c = mb.addMenu("&Curves")
        self.curves_menu = c
        self.act_neutral_frame = self._act(
            c, "Use Current Frame as Neutral", self.use_frame_as_neutral,
            tip="Measure this face's AU curves from the current frame, where the performer is at rest "
                "(keys and gains are kept; one undo step)")
        self.act_neutral_auto = self._act(
            c, "Automatic Neutral", self.use_auto_neutral,
            tip="Measure this face's AU curves from the automatic neutral: per face region, the shot's "
                "frames at rest (keys and gains are kept; one undo step)")
        fm = c.addMenu("Curve Filter")
        self.filter_menu = fm
        self.filter_group = QActionGroup(self)
        self.filter_group.setExclusive(True)
        self.filter_actions: dict[str, QAction] = {}
        for key, label, tip in (
                ("one_euro", "One-Euro", "Adaptive low-pass: steady at rest, little lag on fast motion"),
                ("savgol", "Savitzky-Golay", "Polynomial smoothing over 0.2 s: keeps the height of peaks that long or longer; shorter blinks come out lower than with One-Euro"),
                ("none", "None", "The per-frame solve as measured (jitter included)")):
            a = self._act(fm, label, lambda _on=False, k=key: self.set_curve_filter(k),
                          tip=f"Filter this face's AU, pose and gaze curves: {tip} (one undo step)", checkable=True)
            self.filter_group.addAction(a)
            self.filter_actions[key] = a
        self._sync_curve_actions()

        h = mb.addMenu("&Help")
        self._act(h, "Keyboard shortcuts", self._shortcuts_help, "F1")
        self._act(h, "About Facsimile", lambda: QMessageBox.about(
            self, "Facsimile", "Facsimile studio: FACS AU curve extraction, editing and face re-rendering."))

    def _wire(self) -> None:
        s = self.session
        s.projectChanged.connect(self._project_changed)
        s.shotChanged.connect(self._shot_changed)
        s.frameChanged.connect(self._frame_changed)
        s.dirtyChanged.connect(lambda _d: self._update_title())
        s.message.connect(self.show_message)
        s.undoChanged.connect(self._undo_changed)
        self.transport.frameRequested.connect(s.set_frame)
        self.transport.jumpKey.connect(self.jump_key)
        self.curves.frameScrubbed.connect(s.set_frame)
        self.curves.faceChosen.connect(s.set_track)
        self.curves.message.connect(self.show_message)
        self.bin.shotActivated.connect(self._pick_shot)
        self.bin.relinkRequested.connect(self.relink_plate)
        self.bin.interpretRequested.connect(self.interpret_plate)
        s.platesChanged.connect(self._plates_changed)
        self.viewer.frameShown.connect(self._check_opened_plate)
        self.inspector.bind_session(s)
        self.inspector.gainChanged.connect(self._gain_changed)
        self.inspector.settingsChanged.connect(self._settings_changed)
        self.identities.assignRequested.connect(self._assign_identity)
        self.identities.addFromFrameRequested.connect(self._add_identity_from_frame)
        self.identities.templatesChanged.connect(self._identity_library_changed)
        self.identities.runner = self._identity_job
        self.queue.itemEnded.connect(self._queue_job_ended)

    # ------------------------------------------------------------------ opening / saving
    def _queue_path(self) -> Path:
        if self.session.project_path is not None:
            return self.session.project_path / "render_queue.json"
        return user_data_dir() / "studio" / "render_queue.json"

    def open_path(self, path: str | Path, shot: str | None = None, interactive: bool = True) -> None:
        """Open a project or plate; with a newer autosave, offer it (interactive only)."""
        p = Path(path)
        document = None
        if interactive and self.offer_recovery and p.is_dir() and (p / "project.json").exists():
            document = self._ask_recovery(p)
        if document is not None:
            self.session.open_project(p, shot, document=document)
        else:
            self.session.open(p, shot)
        # the project is open from here: it autosaves even when its queue file cannot be read
        self._attach_autosaver()
        try:
            self.queue.set_path(self._queue_path())
        except ProjectError as exc:  # the project itself opened: say so, with what to do about the queue
            log.error("%s", exc)
            self.show_message(f"the project is open, but {exc}", error=True)
            if interactive:
                QMessageBox.warning(self, "Render queue not loaded", f"The project is open, but {exc}.")

    def _ask_recovery(self, folder: Path) -> Path | None:
        from core.project.model import find_autosave

        cand = find_autosave(folder)
        if cand is None:
            return None
        ans = QMessageBox.question(
            self, "Recover autosave?",
            f"This project has an autosave newer than its last save:\n\n{cand.describe()}\n\n"
            "The studio may have closed unexpectedly. Open the autosave? (project.json is kept as it is "
            "until you save.)", QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        return cand.path if ans == QMessageBox.Yes else None

    def _attach_autosaver(self) -> None:
        from core.project.model import Autosaver

        self.autosaver = None
        if self.session.project is not None and not self.session.untitled and self.session.undo is not None:
            self.autosaver = Autosaver(self.session.project, interval_s=60.0, every_n_edits=50)
            self.autosaver.attach(self.session.undo)

    def _autosave_tick(self) -> None:
        a = self.autosaver
        if a is None:
            return
        if a.tick():
            self.show_message(f"autosaved {time.strftime('%H:%M:%S')}")
        elif a.last_error:
            self.show_message(f"autosave failed: {a.last_error}", error=True)

    def save(self) -> bool:
        s = self.session
        if s.project is None:
            return True
        if s.untitled:
            return self.save_as()
        return self._save_with(self._save_checked)

    def _save_checked(self) -> bool:
        """Save unless another session (a command, another studio) saved the project since it was
        opened here; then ask before saving over it (its version stays in backups/). Without the
        check a CLI edit made meanwhile was silently replaced."""
        from core.project.workflow import SavedElsewhere, save_project

        project = self.session.project
        try:
            save_project(project)
        except SavedElsewhere:
            ans = QMessageBox.question(
                self, "Saved by another session",
                f"{project.path} was saved by another session (a command or another studio) since you opened it "
                "here.\n\nSave your version over it? The other version stays in the project's backups "
                "(facsimile project recover). Cancel leaves both as they are: Save As keeps yours beside it.",
                QMessageBox.Save | QMessageBox.Cancel, QMessageBox.Cancel)
            if ans != QMessageBox.Save:
                self.show_message("not saved: the project was saved by another session", error=True)
                return False
            save_project(project, force=True)
        return True

    def _save_with(self, write) -> bool:
        """Run a project write (save, or save_as into another folder); on success the session is
        clean, the autosave clock restarts and the status says where it went. A write that
        returns False was declined by the user: nothing changes."""
        s = self.session
        try:
            if write() is False:
                return False
        except FacsimileError as exc:
            QMessageBox.critical(self, "Not saved", str(exc))
            return False
        if self.autosaver is not None:
            self.autosaver.saved()
        s.undo.set_clean()
        s.mark_dirty(False)
        self._refresh_warnings()  # e.g. plates found beside a moved project are the record now
        self.show_message(f"saved {s.project.path}")
        return True

    def save_as(self) -> bool:
        s = self.session
        if s.project is None:
            return True
        folder = QFileDialog.getSaveFileName(self, "Save project as", str(Path.cwd() / f"{s.project.name}.facsimile"),
                                             "Facsimile project (*.facsimile)")[0]
        if not folder:
            return False
        return self.save_to(folder)

    def save_to(self, folder: str | Path) -> bool:
        """Save the project into `folder` (NAME.facsimile) and make it the project's home."""
        from core.project.model import PROJECT_SUFFIX

        s = self.session
        p = Path(folder)
        if p.suffix != PROJECT_SUFFIX:
            p = p.with_name(p.name + PROJECT_SUFFIX)
        # every shot's analysis goes along, the shots never opened in this session too
        if not self._save_with(lambda: s.project.save_as(p)):
            return False
        s.untitled = False
        s.project_path = p
        self._update_title()  # the new folder's name
        self.queue.move_to(self._queue_path())  # the queue, a running render too, goes with the project
        self._attach_autosaver()
        return True

    def _open_dialog(self) -> None:
        if not self._maybe_save():
            return
        path = QFileDialog.getExistingDirectory(self, "Open project folder") if QApplication.keyboardModifiers() & Qt.ShiftModifier \
            else QFileDialog.getOpenFileName(self, "Open project (project.json) or plate", "",
                                             "Projects and plates (project.json *.mov *.mp4 *.mxf *.exr *.png *.tif *.tiff *.dpx);;All files (*)")[0]
        if path:
            try:
                self.open_path(path)
            except FacsimileError as exc:
                QMessageBox.critical(self, "Cannot open", str(exc))

    def _maybe_save(self) -> bool:
        """Ask about unsaved edits; False when the user cancels."""
        if not self.session.dirty:
            return True
        ans = QMessageBox.question(self, "Unsaved changes", "The project has unsaved changes. Save them?",
                                   QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        if ans == QMessageBox.Cancel:
            return False
        if ans == QMessageBox.Save:
            return self.save()
        return True

    def closeEvent(self, ev) -> None:  # noqa: N802 - Qt naming
        if not self._maybe_save():
            ev.ignore()
            return
        running = [w for w in (self.job, self.queue.worker) if w is not None]
        for w in running:
            w.cancel()
        if running:  # they stop at their next frame; a render keeps its finished frames (Start resumes)
            self.show_message("cancelling background work before closing…")
            QApplication.processEvents()
            for w in running:
                if not w.wait(30.0):
                    log.warning("%s did not stop within 30 s; closing anyway", w.name)
        self.transport.stop()
        self.viewer.shutdown()
        self.bin.shutdown()
        self._checks.clear()
        self._checks.waitForDone(5000)
        ev.accept()

    # ------------------------------------------------------------------ session -> widgets
    def _project_changed(self) -> None:
        self._doc_key = None  # another project: its shot of the same id is another shot
        self._reread_plate_files()
        # the project's own library when it names one, else the user's (as `facsimile project assign`)
        p = self.session.project
        self.identities.open_library(getattr(p, "library_path", None) if p is not None else None)
        self._update_title()

    def _shot_changed(self) -> None:
        s = self.session
        self.viewer.set_frames(s.frames)
        record = s.plate_record()
        if s.frames is None and record is not None and record.id in self._missing:
            self.viewer.show_notice(f"plate {record.id} is missing: File ▸ Relink plate… (or right-click it in the bin)")
        self.viewer.set_analysis(s.analysis)
        self.viewer.set_render_fn(LivePreview(s) if s.analysis is not None and s.doc is not None else None)
        fps = s.frames.info.fps if s.frames is not None else 25
        plate = s.plate_record()
        self.transport.set_range(s.first, s.last, fps, getattr(plate, "timecode", None))
        self.transport.times = plate_times(s.frames.reader) if s.frames is not None and s.frames.is_open else None
        doc = s.doc
        if doc is not None:
            doc.labels = {n: self._curve_label(n) for n in doc.names()}
            doc.changed.connect(self._doc_changed)
        # the same shot and face again (an undo, a filter or a neutral swapped its curves): the
        # graph editor keeps what the animator is looking at
        key = (s.shot.id, s.track) if s.shot is not None and doc is not None else None
        self.curves.set_doc(doc, keep_view=key is not None and key == self._doc_key)
        self._doc_key = key
        self.curves.set_faces(sorted(s.shot.curves) if s.shot is not None else [], s.track)
        self.inspector.set_curve_names(doc.names() if doc else [])
        if doc:
            self.inspector.set_gains(doc.gain_of_au)
        self.inspector.set_settings(getattr(s.shot, "render_settings", None))
        self._refresh_shot_info()
        self._refresh_warnings()
        self._sync_curve_actions()
        self.transport.set_keys(s.key_frames())
        self.bin.populate(s, self._missing)
        self._update_title()

    def _curve_label(self, name: str) -> str:
        from core.curves import au_number

        au = au_number(name)
        if au is None:
            return name
        facs, friendly = self.inspector.catalogue.get(au, (name, name))
        # the AU id first: the list is narrow and L/R must stay visible
        return f"{name} {friendly}" if friendly != name else name

    def _refresh_shot_info(self) -> None:
        s = self.session
        if s.shot is None:
            self.inspector.set_shot_info("No shot. File ▸ Open a project or a plate.")
            return
        an = s.analysis
        faces = f"{an.n_tracks} face track(s)" if an is not None else "not analysed (Shot ▸ Analyse)"
        curves = f", editing track {s.track}" if s.track is not None else ""
        cs = self._current_curveset()
        measured = tip = ""
        if cs is not None:  # the short form shows; the auto neutral's frames per region are the tooltip
            from core.project.workflow import calibration_summary

            measured = f"<br>AU curves: {html.escape(calibration_summary(cs, detail=False))}"
            tip = f"AU curves measured from: {calibration_summary(cs)}"
        self.inspector.set_shot_info(f"<b>{s.shot.name}</b> frames {s.first}–{s.last} · {faces}{curves}"
                                     + (f"<br>identity: {self._identity_label(s.shot.identity)}"
                                        if s.shot.identity else "") + measured, tip)

    def _identity_label(self, template_id: str) -> str:
        """'Name (id)' of an assigned template, or the bare id when the library lacks it."""
        lib = self.identities.library
        try:
            t = lib.get(template_id) if lib is not None else None
        except FacsimileError:
            t = None
        return f"{t.name} ({t.id})" if t is not None else f"{template_id} (not in the library)"

    def _refresh_warnings(self) -> None:
        s = self.session
        warns = self._plate_warnings()
        warns += list(s.doc.warnings()) if s.doc is not None else []
        settings = getattr(s.shot, "render_settings", {}) or {}
        if settings.get("mode") == "swap" and s.shot is not None and not s.shot.identity:
            warns.append("swap mode needs an identity: assign one from the Identities tab")
        if s.shot is not None and s.shot.identity and self.identities.library is not None:
            from studio.identity_panel import consent_warning

            try:
                t = self.identities.library.get(s.shot.identity)
                cw = consent_warning(t)
                if cw:
                    warns.append(f"identity {t.name}: {cw}")
            except FacsimileError as exc:
                warns.append(f"identity {s.shot.identity!r} is not in the library ({exc})")
        self.inspector.set_external_warnings(warns)
        if warns:
            self.show_message("⚠ " + warns[0], error=True)

    # ------------------------------------------------------------------ plate files
    def _plate_warnings(self) -> list[str]:
        """What is wrong with the project's plate files, the current shot's plate first."""
        s = self.session
        if s.project is None:
            return []
        current = getattr(s.shot, "plate_id", None)
        out = [f"plate {pid} was found beside the moved project ({s.project.plates[pid].path}, the same file): "
               "save the project to keep it" for pid in sorted(s.project.relocated)]
        for pid in sorted(s.project.plates, key=lambda k: k != current):
            if pid in self._missing:
                out.append(f"plate {pid} is missing ({s.project.plates[pid].path}): File ▸ Relink plate… "
                           "or right-click it in the bin")
            elif pid in self._plate_notes:
                out.append(self._plate_notes[pid][1])
        record = s.plate_record()
        if s.shot is not None and record is not None:
            from core.project.workflow import stale_curves

            stale = stale_curves(s.shot, record)  # e.g. its plate relinked to another length
            if stale:
                out.append(f"shot {s.shot.name}: {stale} (Shot ▸ Analyse shot)")
        return out

    def _check_plate_files(self) -> None:
        """Compare each plate file with the project's record (core.project.plates.check_plate: a
        quick hash of 8 MiB per file) on a worker: on a network share that takes its time, and
        opening a project must not wait for it. What differs joins the warnings."""
        proj = self.session.project
        if proj is None or self.session.untitled:
            return
        from core.project.plates import check_plate

        plates = [pl for pid, pl in proj.plates.items() if pid not in self._missing]
        w = Worker(lambda _progress, _cancelled: [check_plate(pl) for pl in plates], name="plate check", parent=self)
        w.finished.connect(lambda checks, proj=proj: self._plates_checked(proj, checks))
        w.ended.connect(w.deleteLater)
        w.start(self._checks)

    def _plates_checked(self, project, checks: list) -> None:
        if project is not self.session.project:
            return  # another project was opened meanwhile
        for c in checks:
            held = project.plates.get(c.plate_id)
            if c.state != "ok" and held is not None and held.path == c.path \
                    and self._plate_notes.get(c.plate_id, ("",))[0] != "different":  # the opened file said more
                self._plate_notes[c.plate_id] = (c.state, c.message)
        self._refresh_warnings()

    def _check_opened_plate(self, _frame: int, _path: str) -> None:
        """Once the viewer's worker has opened the current plate (the project's record stood in
        until then): a file with another frame count, size or rate than the record is not the
        one the shot was analysed on; say so, as a render would refuse it."""
        s = self.session
        frames, record = s.frames, s.plate_record()
        if frames is None or record is None or not frames.is_open or frames is self._facts_checked:
            return  # once per opened file, not on every frame shown while scrubbing
        self._facts_checked = frames
        self.transport.times = plate_times(frames.reader)  # a VFR plate plays at its own frame times
        from core.project.plates import fact_differences

        major, _minor = fact_differences(record, frames.reader.info)
        if s.fit_to_plate():
            self.transport.set_range(s.first, s.last, frames.info.fps, record.timecode)
        if major:
            self._plate_notes[record.id] = ("different", f"plate {record.id}: {record.path} is not the plate its "
                                            f"shots were analysed on: {'; '.join(major)}. File ▸ Relink plate… to "
                                            "the right file")
            self._refresh_warnings()

    def relink_plate(self, plate_id: str | None = None, path: str | Path | None = None) -> list[str]:
        """Ask for (or take) a plate's file at its new place and relink it, with every other missing
        plate found where the same move puts it; one undo step. A file with another frame count,
        size or rate is relinked only when the user says so (the shots must be analysed again).
        Returns the plate ids relinked."""
        from core.project.plates import PlateMismatch

        s = self.session
        if s.project is None or not s.project.plates:
            return []
        current = getattr(s.shot, "plate_id", None)
        if plate_id is None:  # the current shot's plate when it is missing, else the first missing, else it
            missing = sorted(self._missing)
            plate_id = current if current in self._missing or not missing else missing[0]
        pid = plate_id or next(iter(s.project.plates))
        record = s.project.plates[pid]
        if path is None:
            start = Path(record.path).parent
            while not start.is_dir() and start != start.parent:
                start = start.parent
            path = QFileDialog.getOpenFileName(
                self, f"Relink plate {pid} (was {Path(record.path).name})", str(start),
                "Plates (*.mov *.mp4 *.mxf *.exr *.png *.tif *.tiff *.dpx *.jpg);;All files (*)")[0]
            if not path:
                return []
        try:
            try:
                relinked, notes = s.relink_plate(pid, path)
            except PlateMismatch as exc:
                ans = QMessageBox.question(
                    self, "Relink to a different plate?",
                    f"{exc}\n\nRelink anyway? The shots on this plate must then be analysed again.",
                    QMessageBox.Yes | QMessageBox.Cancel, QMessageBox.Cancel)
                if ans != QMessageBox.Yes:
                    return []
                relinked, notes = s.relink_plate(pid, path, force=True)
        except FacsimileError as exc:
            QMessageBox.warning(self, "Cannot relink", str(exc))
            return []
        self.show_message(f"relinked plate{'s' if len(relinked) > 1 else ''} {', '.join(relinked)}"
                          + (f" ({'; '.join(notes)})" if notes else ""), error=bool(notes))
        return relinked

    def interpret_plate(self, plate_id: str, what: str, value=None) -> bool:
        """Ask for (or take `value`) a plate's colour space (what == "colorspace"; "auto": as its
        files say) or pixel aspect (what == "pixel_aspect"), and set it as one undo step."""
        from core.media.colour import colorspace_names

        s = self.session
        if s.project is None or plate_id not in s.project.plates:
            return False
        record = s.project.plates[plate_id]
        if value is None:
            if what == "colorspace":
                auto = "auto (as the files say)"
                items = [auto, *colorspace_names()]
                current = items.index(record.colorspace) if record.colorspace in items else 0
                value, ok = QInputDialog.getItem(
                    self, f"Colour space of plate {plate_id}",
                    "What the plate's pixels are (a camera log plate: its log; renders take the plate in it,\n"
                    "and faces are measured and shown through it):", items, current, False)
                value = "auto" if value == auto else value
            else:
                value, ok = QInputDialog.getDouble(
                    self, f"Pixel aspect of plate {plate_id}",
                    "Width of a pixel as shown, over its height (2 for a 2x anamorphic, 1 for square):",
                    record.pixel_aspect, 0.1, 10.0, 4)
            if not ok:
                return False
        try:
            notes = s.interpret_plate(plate_id, **{what: value})
        except FacsimileError as exc:
            QMessageBox.warning(self, "Cannot set", str(exc))
            return False
        new = s.project.plates[plate_id]
        self.show_message(f"plate {plate_id}: colour space {new.colorspace or 'as its files say'}, pixel aspect "
                          f"{new.pixel_aspect:.4g}" + (f" ({'; '.join(notes)})" if notes else ""), error=bool(notes))
        return True

    def _plates_changed(self) -> None:
        """A relink, or its undo or redo: what is missing and what differs is found again."""
        self._reread_plate_files()
        self._refresh_warnings()

    def _reread_plate_files(self) -> None:
        """Which plates are missing (a stat each), the quick-hash check of the rest started on its
        worker, and the bin showing both."""
        self._plate_notes = {}
        self._facts_checked = None
        self._missing = set(self.session.missing_plates())
        self._check_plate_files()
        self.bin.populate(self.session, self._missing)

    def _frame_changed(self, frame: int) -> None:
        self.viewer.request_frame(frame)
        self.transport.show_frame(frame)
        self.curves.set_frame(frame)
        fps = self.transport.fps
        self.frame_label.setText(f"{frame}  {timecode(frame, fps, self.transport.tc_start)}")

    def _doc_changed(self, _names: list) -> None:
        self.transport.set_keys(self.session.key_frames())
        if self.session.doc is not None:
            self.inspector.set_gains(self.session.doc.gain_of_au)
        self._refresh_warnings()
        if self.viewer.mode.currentIndex() != 0:
            self.viewer.request_frame(self.session.frame)

    def _update_title(self) -> None:
        s = self.session
        name = s.project.name if s.project is not None else "no project"
        where = "unsaved" if s.untitled else str(s.project_path or "")
        self.setWindowTitle(f"{'● ' if s.dirty else ''}{name} — {s.shot_name or '-'} — Facsimile ({where})")

    def show_message(self, text: str, error: bool = False) -> None:
        self.status_msg.setText(text)
        self.status_msg.setStyleSheet("color: #ffb347;" if error else "")

    # ------------------------------------------------------------------ actions
    def _pick_shot(self, shot_id: str) -> None:
        if self.session.shot is None or shot_id != self.session.shot.id:
            self.session.set_shot(shot_id)

    def undo(self) -> None:
        if self.session.undo is not None and self.session.undo.undo():
            self.show_message(f"undo ({self.session.undo.redo_text})")
            self._refresh_shot_info()  # an undone identity assignment

    def redo(self) -> None:
        if self.session.undo is not None and self.session.undo.redo():
            self.show_message(f"redo ({self.session.undo.undo_text})")
            self._refresh_shot_info()

    def _k_pressed(self) -> None:
        """K stops playback (the J/K/L habit) wherever the focus is; when already stopped, with
        the focus in the graph editor, it sets keys at the cursor."""
        if self.transport.playing:
            self.transport.stop()
        elif self.curves.isAncestorOf(QApplication.focusWidget()) if QApplication.focusWidget() else False:
            self.curves.set_key_at_cursor()

    def jump_key(self, direction: int) -> None:
        keys = self.session.key_frames()
        f = self.session.frame
        cand = keys[keys > f] if direction > 0 else keys[keys < f]
        if cand.size:
            self.session.set_frame(int(cand.min() if direction > 0 else cand.max()))

    def _gain_changed(self, au: int, gain: float) -> None:
        if self.session.doc is not None:
            self.session.doc.set_au_gain(au, gain)

    def _undo_changed(self) -> None:
        """Undo/redo can change the shot's render settings, identity or how its curves were
        measured (neutral, filter): show what the shot holds."""
        self._undo_serial += 1
        shot = self.session.shot
        if shot is None:
            return
        held = {**RENDER_DEFAULTS, **(getattr(shot, "render_settings", None) or {})}
        if held != self.inspector.settings:
            self.inspector.set_settings(shot.render_settings)
        self._refresh_shot_info()
        self._sync_curve_actions()

    def _settings_changed(self, settings: dict) -> None:
        s = self.session
        if s.shot is None:
            return
        from core.project.commands import SetShotFields

        old = s.shot.render_settings or {}
        changed = tuple(sorted(k for k in set(settings) | set(old) if settings.get(k) != old.get(k)))
        # a slider nudged by keys or wheel is one step per setting; a choice (a combo, a mask box) is a
        # step of its own (one merge id for every change made one undo take back all of them)
        sliding = changed and all(isinstance(settings.get(k), float) for k in changed)
        merge = ("render_settings", s.shot.id, changed) if sliding else None
        if not sliding:
            s.undo.end_merge()
        s.undo.push(SetShotFields(s.project, s.shot.id, merge_id=merge, render_settings=settings))
        self._refresh_warnings()
        if self.viewer.mode.currentIndex() != 0:
            self.viewer.request_frame(s.frame)

    def _assign_identity(self, template_id: str) -> None:
        """Assign a library template to the current shot, one undo step; the shot stores the
        template id, exactly as `facsimile project assign` does (core.project.workflow)."""
        s = self.session
        if s.shot is None:
            self.identities.show_error("no shot is open: open a project or a plate first")
            return
        from core.project.workflow import assign_identity

        try:
            t = assign_identity(s.project, s.shot, template_id, stack=s.undo)
        except FacsimileError as exc:
            self.identities.show_error(f"not assigned: {exc}")
            return
        self.show_message(f"{s.shot.name}: identity {t.name} ({t.id})")
        self._refresh_shot_info()
        self._refresh_warnings()

    def _identity_library_changed(self) -> None:
        self._refresh_shot_info()
        self._refresh_warnings()

    def _add_identity_from_frame(self) -> None:
        """Make a template from the plate frame under the viewer's cursor."""
        s = self.session
        if s.shot is None or s.frames is None:
            self.identities.show_error("no plate frame to take a face from: open a project or a plate first")
            return
        try:
            rgb = s.frames.get(s.frame)
        except FacsimileError as exc:
            self.identities.show_error(f"frame {s.frame} cannot be read: {exc}")
            return
        from core.media.aspect import desqueeze

        # a face is kept on square pixels: an anamorphic plate's frame is desqueezed first
        self.identities.add_from_frame(desqueeze(rgb, s.frames.pixel_aspect), f"{s.shot.name} frame {s.frame}")

    def _identity_job(self, name: str, task, on_done) -> Worker:
        """The identity panel's runner: a background job; a failure or cancel frees the panel."""
        w = self.run_job(name, task, on_done)
        w.failed.connect(self.identities.add_failed)
        w.cancelled.connect(lambda: self.identities.add_failed(f"{name}: cancelled"))
        return w

    # ------------------------------------------------------------------ long work
    def run_job(self, name: str, task, on_done=None) -> Worker:
        """Run `task(progress, cancelled)` in the thread pool with the status-bar progress, ETA and Cancel."""
        if self.job is not None:
            raise FacsimileError(f"{self.job.name} is still running; wait or cancel it first")
        w = Worker(task, name=name, parent=self)
        self.job = w
        self.job_label.setText(name)
        self.job_bar.setRange(0, 0)
        self.job_eta.setText("")
        self.job_widget.show()
        w.progressed.connect(self._job_progress)
        w.failed.connect(lambda msg: QMessageBox.warning(self, f"{name} failed", msg) if self.isVisible() else None)
        if on_done is not None:
            w.finished.connect(on_done)
        w.ended.connect(lambda state: self._job_ended(name, state))
        w.start()
        return w

    def _job_progress(self, done: int, total: int, eta: float) -> None:
        self.job_bar.setRange(0, max(total, 1))
        self.job_bar.setValue(done)
        self.job_eta.setText(format_eta(eta))

    def _job_ended(self, name: str, state: str) -> None:
        self.job = None
        self.job_widget.hide()
        note, self._job_note = self._job_note, None
        if note is not None:
            self.show_message(*note)
        else:
            self.show_message(f"{name}: {state}", error=state == "failed")

    def job_note(self, text: str, error: bool = False) -> None:
        """What a job's result handler has to say: shown at the job's end in place of the plain
        'NAME: done' (a show_message there would be replaced by it); outside a job, now."""
        if self.job is None:
            self.show_message(text, error=error)
        else:
            self._job_note = (text, error)

    def cancel_job(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.show_message(f"cancelling {self.job.name}…")

    def analyse_shot(self) -> None:
        """Analyse the current shot and extract its AU curves, off the GUI thread."""
        s = self.session
        if s.shot is None:
            return
        plate = s.plate_of(s.shot)
        from core.project.workflow import analysis_range

        try:  # the shot with its handles, as `facsimile project analyze` does, so a render of them finds the face
            first, stop = analysis_range(s.project, s.shot)
        except FacsimileError as exc:
            self.show_message(str(exc), error=True)
            return
        shot_id = s.shot.id
        if self.job is not None:  # one background job at a time: say so instead of raising out of the slot
            self.show_message(f"{self.job.name} is still running; wait or cancel it first", error=True)
            return

        shot = s.shot
        project = s.project
        record = s.plate_record(shot)
        par = record.pixel_aspect if record is not None else None  # an untagged anamorphic plate's, as set
        cs = record.colorspace if record is not None else None  # a camera log plate's, as set

        def task(progress, cancelled):
            from contextlib import nullcontext

            from core.analysis.analyzer import Analyzer
            from core.project.model import extract_curves
            from core.project.plates import open_fitting_plate

            # the file at the plate's path must still be the plate (not another clip put there)
            with (open_fitting_plate(record, f"analyse shot {shot.name}") if record is not None
                  else nullcontext(str(plate))) as source:
                analysis = Analyzer().analyze(source, frames=(first, stop), progress=progress, cancel=cancelled,
                                              pixel_aspect=par, colorspace=cs)
            try:
                from core.facs import extract_shot  # type: ignore[attr-defined]  # noqa: F401
            except ImportError:
                log.error("AU extraction (core.facs.extract_shot) is not available: the shot gets landmarks only")
                return analysis, {}, "AU extraction is not available in this build: no curves"
            # each face keeps its neutral frame and filter; its edits are carried over in done()
            return analysis, extract_curves(shot, keep_edits=False, analysis=analysis), ""

        def done(result) -> None:
            analysis, curvesets, note = result
            if s.project is not project or not any(x is shot for x in project.shots):
                # another project was opened (or the shot removed) while it ran: the result is not theirs
                self.job_note(f"Analyse {shot.name}: dropped, the project or shot it was for is no longer open "
                              "(nothing changed)", True)
                return
            for t, cs in curvesets.items():  # the edits as they are now (the artist may have keyed meanwhile)
                old = shot.curves.get(t)
                if old is not None:
                    cs.take_edits_from(old)
            self.apply_analysis(shot_id, analysis, curvesets)
            if note:
                self.job_note(note, error=True)

        self.run_job(f"Analyse {s.shot.name}", task, done)

    def apply_analysis(self, shot_id: str, analysis, curvesets: dict) -> None:
        """Store an analysis and its curves on a shot: one undo step that also puts the previous
        analysis back. Faces the new analysis no longer has lose their curves (as `project
        analyze` does), with a message when they had edits; Undo brings them back."""
        from core.project.commands import SetCurveSet
        from core.project.undo import Macro
        from core.project.workflow import SetAnalysis, curves_edited

        s = self.session
        shot = s.project.shot(shot_id)
        gone = sorted(set(shot.curves) - set(curvesets)) if curvesets else []
        edited = [t for t in gone if curves_edited(shot.curves[t])]
        s.undo.push(Macro(f"Analyse shot {shot.name}", [SetAnalysis(shot, analysis)]
                          + [SetCurveSet(shot, t, cs) for t, cs in curvesets.items()]
                          + [SetCurveSet(shot, t, None) for t in gone]))
        if gone:
            self.job_note(f"face track(s) {gone} are not in the new analysis: their curves were removed"
                          + (" (they had edits; Edit > Undo brings them back)" if edited else ""), error=bool(edited))
        s.mark_dirty(True)
        if s.shot is None or s.shot.id == shot_id:  # show it; an artist who moved to another shot stays there
            frame = s.frame
            s.set_shot(shot_id)
            s.set_frame(frame)
        else:
            self.job_note(f"Analyse {shot.name}: done; its curves are on shot {shot.name}", False)

    # ------------------------------------------------------------------ curve calibration
    def _current_curveset(self):
        """The CurveSet of the face being edited (None without a shot or curves)."""
        s = self.session
        if s.shot is None or s.track is None:
            return None
        return s.shot.curves.get(s.track)

    def _sync_curve_actions(self) -> None:
        """Curves menu: enabled with an analysed shot that has curves; the filter check shows the
        current face's filter (after a shot/face change, a filter step, undo or redo)."""
        cs = self._current_curveset()
        ok = cs is not None and self.session.analysis is not None
        for a in (self.act_neutral_frame, self.act_neutral_auto, *self.filter_actions.values()):
            a.setEnabled(ok)
        self.filter_menu.setEnabled(ok)
        current = cs.extraction.get("filter") if cs is not None else None
        for key, a in self.filter_actions.items():
            a.setChecked(key == current)

    def use_frame_as_neutral(self) -> Worker | None:
        """Re-measure the current face's AU curves from the current frame as its neutral (rest pose)."""
        from core.project.workflow import neutral_frame_command

        frame = self.session.frame
        cs = self._current_curveset()
        if cs is not None and cs.extraction.get("neutral_frame") == frame:
            self.show_message(f"frame {frame} is already this face's neutral")
            return None
        return self._run_curves_step(f"Neutral frame {frame}",
                                     lambda shot, t, progress: neutral_frame_command(shot, frame, t, progress))

    def use_auto_neutral(self) -> Worker | None:
        """Re-measure the current face's AU curves from the automatic neutral."""
        from core.project.workflow import neutral_frame_command

        cs = self._current_curveset()
        if cs is not None and cs.extraction.get("neutral_frame") is None \
                and (cs.extraction.get("calibration") or {}).get("method") in ("auto", "canonical"):
            self.show_message("this face is already measured from the automatic neutral")
            return None
        return self._run_curves_step("Automatic neutral",
                                     lambda shot, t, progress: neutral_frame_command(shot, None, t, progress))

    def set_curve_filter(self, name: str) -> Worker | None:
        """Filter the current face's curves with `name` (one_euro | savgol | none) from the kept raw solve."""
        from core.project.workflow import curve_filter_command

        cs = self._current_curveset()
        if cs is not None and cs.extraction.get("filter") == name:
            self._sync_curve_actions()
            return None
        return self._run_curves_step(f"Filter {name}", lambda shot, t, _progress: curve_filter_command(shot, name, t))

    def bake_to_keys(self, names: list[str], tol: float = 0.01) -> Worker | None:
        """The chosen curves as keys on the override layer 'Baked' (then the active layer), computed
        as a background job: key reduction over a long shot takes seconds per curve."""
        from core.project.commands import BakeToKeys, bake_keys

        doc = self.curves.doc
        if doc is None or not names:
            return None

        def make(shot, t, progress):
            cs = shot.curves[t]
            return BakeToKeys(cs, names, layer="Baked", tol=tol, keys=bake_keys(cs, names, tol, progress=progress))

        def after() -> None:
            if self.curves.doc is doc:
                self.curves.use_layer("Baked")
        return self._run_curves_step("Bake to keys", make, after, needs_analysis=False)

    def _run_curves_step(self, name: str, make, after=None, needs_analysis: bool = True) -> Worker | None:
        """Compute `make(shot, track, progress) -> Command` as a background job (status-bar progress
        bar and Cancel: progress raises once cancelled), then push it on the undo stack on the GUI
        thread and call `after()`. The result is dropped, with a status message, when the shot
        changed or the project was edited meanwhile."""
        s = self.session
        cs = self._current_curveset()
        if cs is None or (needs_analysis and s.analysis is None):
            self.show_message("no analysed shot with AU curves: Shot ▸ Analyse shot first", error=True)
            self._sync_curve_actions()
            return None
        project, shot, track, serial = s.project, s.shot, s.track, self._undo_serial

        def task(progress, cancelled):
            return make(shot, track, progress)

        def done(cmd) -> None:
            if s.project is not project or s.shot is not shot:
                self.job_note(f"{name}: dropped, the shot changed while it ran (nothing changed)", True)
                return
            if self._undo_serial != serial:
                self.job_note(f"{name}: dropped, the project was edited while it ran (nothing changed); "
                              "run it again", True)
                return
            s.undo.push(cmd)
            if after is not None:
                after()
            new = shot.curves.get(track)
            note = (new.extraction.get("calibration") or {}).get("note") if new is not None else None
            self.job_note(cmd.text + (f" ({note})" if note else ""), bool(note))

        def ended(state: str) -> None:
            self._sync_curve_actions()  # a failed or cancelled step puts the filter check back

        try:
            w = self.run_job(name, task, done)
        except FacsimileError as exc:
            self.show_message(str(exc), error=True)
            self._sync_curve_actions()
            return None
        w.ended.connect(ended)
        return w

    def _queue_job_ended(self, item_id: str, state: str) -> None:
        """Status bar: how a queued job ended, with its last note (core adds the edit's own notes after the
        missing-model ones; all are in the queue's status tooltip)."""
        try:
            it = self.queue.get(item_id)
        except KeyError:  # a job of a project no longer open: its own queue file has the rest
            self.show_message(f"render queue: a job of the project opened before {state}", error=state == "failed")
            return
        more = f" (+{len(it.notes) - 1} more in the queue)" if len(it.notes) > 1 else ""
        note = f": {it.notes[-1]}{more}" if it.notes else ""
        self.show_message(f"render queue: {it.label} {state}{note}", error=bool(it.notes) or state == "failed")

    def _make_folder(self, folder: Path, what: str) -> bool:
        """Create an output folder; False (with a message) where it cannot be (a read-only project)."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.show_message(f"{what} not queued: cannot create {folder}: {exc.strerror or exc}", error=True)
            return False
        return True

    def queue_render(self) -> QueueItem | None:
        """Queue a render of the current shot: the job `facsimile render` runs (core.render.delivery:
        consent check in swap mode, render id and watermark, sidecar metadata; resumable). A swap whose
        template has no valid consent record asks for an override reason, as the CLI's
        --override-consent takes one; without one the render is refused."""
        s = self.session
        if s.shot is None:
            return None
        if (s.untitled or s.dirty) and not self.save():  # the job reads the project as saved
            return None
        from core.identity.consent import ConsentError
        from core.render.delivery import prepare_render

        out = s.project_path / "renders" / f"{s.shot.name}.####.exr"
        if not self._make_folder(out.parent, "Render"):
            return None

        def prepare(override: str | None = None):  # the shot's range with its handles, numbered as the CLI does
            # the studio's own render of the shot, in the project's renders/: a render after an edit replaces it
            return prepare_render(str(s.project_path), str(out), shot=s.shot.id, override_consent=override,
                                  overwrite=True)

        try:
            try:
                spec = prepare()
            except ConsentError as exc:  # `facsimile render --override-consent REASON`, asked for here
                reason = self._ask_consent_override(str(exc))
                if reason is None:
                    raise
                spec = prepare(reason)
        except FacsimileError as exc:
            self.show_message(f"cannot render {s.shot.name}: {exc}", error=True)
            return None
        item = self.queue.add(QueueItem("render", f"Render {s.shot.name} {spec.first}-{spec.last}", spec.to_json()))
        self.dock_queue.show()
        return item

    def _ask_consent_override(self, problem: str) -> str | None:
        """The reason for rendering a swap without a valid consent record, or None (cancelled or empty).
        The reason, who gave it and when go into the render's metadata, as with the CLI's override."""
        head = problem.split("; record the person's consent")[0]
        reason, ok = QInputDialog.getText(
            self, "Render without consent?",
            f"{head}.\n\nRecord the person's consent in the Identity panel, or override: type who authorised "
            "this render and why. The reason, your user name and the time are written into the render's "
            "metadata (sidecar), where `facsimile verify` shows them.")
        return reason.strip() if ok and reason.strip() else None

    def queue_convert(self, kind: str) -> QueueItem | None:
        """Queue an export of the current plate range (ProRes 4444 .mov or EXR sequence)."""
        s = self.session
        if s.shot is None:
            return None
        from core.jobs.convert import prepare_convert

        base = s.project_path if s.project_path is not None else user_data_dir() / "exports"
        name = s.shot.name
        out = base / "exports" / (f"{name}.mov" if kind == "mov" else f"{name}.####.exr")
        if not self._make_folder(out.parent, "Export"):  # the studio's own folder beside the project
            return None
        try:  # what `facsimile convert` writes: the plate's colour space and alpha, its timecode
            record = s.plate_record()  # a camera log plate is exported as the project says it is
            spec = prepare_convert(s.plate_of(s.shot), out, (s.first, s.last),
                                   input_colorspace=getattr(record, "colorspace", None),
                                   pixel_aspect=getattr(record, "pixel_aspect", None))
        except FacsimileError as exc:
            self.show_message(f"cannot export {name}: {exc}", error=True)
            return None
        item = QueueItem("convert", f"Export {name} → {out.name}", spec.to_json())
        self.dock_queue.show()
        return self.queue.add(item)

    # ------------------------------------------------------------------ misc
    def _screenshot_dialog(self) -> None:
        from studio.app import grab_png

        path = QFileDialog.getSaveFileName(self, "Save screenshot", "studio.png", "PNG (*.png)")[0]
        if path:
            grab_png(self, path)
            self.show_message(f"screenshot saved: {path}")

    def _shortcuts_help(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", (
            "Transport: Space play/stop · J/K/L shuttle · ←/→ step · Ctrl+←/→ in/out or first/last · , . previous/next "
            "key · I/O in/out · Alt+X clear in/out\n"
            "Viewer: Home fit · Ctrl+1 1:1 · Tab plate/render · Ctrl+W wipe · Shift+L/M/K/T overlays\n"
            "Curves: S or K set key · Delete · F frame selection · A frame all · Ctrl+C/V copy/paste\n"
            "   drag keys (snap to frames) · drag empty space: box select · Alt/middle drag: pan · wheel: zoom\n"
            "Edit: Ctrl+Z undo · Ctrl+Shift+Z redo · Ctrl+S save"))
