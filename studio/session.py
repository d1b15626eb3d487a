"""The studio's view-model: the open project, the current shot and frame, and the CurveDoc
adapter that turns editor gestures into core undo commands.

Nothing here computes: plates are read by core.media, analyses come from core.analysis,
curves are core.curves objects and edits are core.project commands on core's UndoStack.
The Session only holds "what is open and where the cursor is" and tells the widgets.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.errors import MediaError, ProjectError
from core.media.reader import names_image_sequence
from studio.frames import FrameCache, PlateFacts, open_reader

log = logging.getLogger(__name__)

VIDEO_EXTS = {".mp4", ".mov", ".mxf", ".avi", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".y4m"}
IMAGE_EXTS = {".exr", ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".dpx"}


class Session(QObject):
    """What is open: project (core.project.Project or None), shot, plate frames, analysis, curves."""

    projectChanged = Signal()
    shotChanged = Signal()
    frameChanged = Signal(int)
    dirtyChanged = Signal(bool)
    message = Signal(str)
    undoChanged = Signal()  # any push, undo or redo on the project's stack
    platesChanged = Signal()  # a plate record was replaced (a relink, or its undo/redo)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project: Any = None
        self.project_path: Path | None = None
        self.shot: Any = None
        self.shot_name: str = ""
        self.plate_path: Path | None = None
        self.frames: FrameCache | None = None
        self.analysis: Any = None
        self.doc: Any = None  # CurveDoc of the current shot/track
        self.undo: Any = None
        self.frame = 0
        self.first = 0
        self.last = 0
        self._readers: dict[str, FrameCache] = {}
        self._plates_seen: dict[str, int] = {}
        self._dirty = False
        self.untitled = True
        self.track: int | None = None

    # ------------------------------------------------------------------ opening
    def open(self, path: str | Path, shot: str | None = None) -> None:
        """Open a project folder / project.json, or a plain plate (video, image sequence or
        pattern like shot.####.exr), which becomes an in-memory project with one shot."""
        p = Path(path)
        is_pattern = names_image_sequence(p)
        if not p.exists() and not is_pattern:
            raise ProjectError(f"{p} does not exist; give a project folder (NAME.facsimile) or a video file")
        if (p.is_dir() and (p / "project.json").exists()) or p.name == "project.json":
            self.open_project(p if p.is_dir() else p.parent, shot)
        elif p.is_dir():
            raise ProjectError(f"{p} is a folder without a project.json; give a project folder or a plate file")
        elif is_pattern or p.suffix.lower() in VIDEO_EXTS or p.suffix.lower() in IMAGE_EXTS:
            self.open_plate(p, shot)
        else:
            raise MediaError(f"{p}: not a project folder and not a known video/image type ({p.suffix or 'no suffix'})")

    def open_project(self, folder: Path, shot: str | None = None, document: Path | None = None) -> None:
        """Load a project (or one of its autosave/backup documents) with core.project."""
        from core.project.model import Project

        project = Project.load(folder, document=document)
        self._readers = {}
        self.project = project
        self.project_path = Path(project.path)
        self.untitled = False
        self.plate_path = None
        # plates found beside a moved project are a change to the document: unsaved until saved
        self._after_project(shot, dirty=document is not None or bool(project.relocated))

    def open_plate(self, path: Path, shot: str | None = None) -> None:
        """A plate without a project: an unsaved in-memory project with the plate as one shot."""
        from core.project.model import Plate, Project

        frames = FrameCache(open_reader(path))
        plate = Plate.from_media(path)
        project = Project(Path(path).parent / f"{Path(path).stem}", name=Path(path).stem)
        project.add_plate(plate)
        project.new_shot(plate.id, 0, max(plate.frame_count - 1, 0), name=Path(path).stem)
        self._readers = {self._reader_key(Path(plate.path), plate): frames}
        self.project = project
        self.project_path = None
        self.untitled = True
        self.plate_path = Path(path)
        self._after_project(shot, dirty=False)

    def _after_project(self, shot: str | None, dirty: bool) -> None:
        from core.project.undo import UndoStack

        self.undo = UndoStack()
        self.undo.add_listener(self._undo_changed)
        self._plates_seen = self._plates_snapshot()
        self._dirty = not dirty  # force a dirtyChanged emit
        self.mark_dirty(dirty)
        self.projectChanged.emit()
        from core.project.workflow import resolve_shot

        # --shot as every command takes it: id, name (any case) or 1-based position
        target = (resolve_shot(self.project, shot) if shot is not None and self.project.shots
                  else self.project.shots[0] if self.project.shots else None)
        self.set_shot(target.id if target is not None else "")

    def _undo_changed(self, stack) -> None:
        self.mark_dirty(stack.is_dirty or self.untitled and stack.index > 0)
        if not self.follow_plates():
            self.follow_curves()
        self.undoChanged.emit()

    def _plates_snapshot(self) -> dict[str, int]:
        return {k: id(v) for k, v in self.project.plates.items()} if self.project is not None else {}

    def follow_plates(self) -> bool:
        """After a relink (or its undo/redo) replaced plate records: tell the views
        (platesChanged) and, when the current shot's plate is one of them, show its frames from
        the new file, keeping the face being edited and the frame. True when a plate changed."""
        snap = self._plates_snapshot()
        if snap == self._plates_seen:
            return False
        changed = {k for k in snap.keys() | self._plates_seen.keys() if snap.get(k) != self._plates_seen.get(k)}
        self._plates_seen = snap
        self.platesChanged.emit()
        shot = self.shot
        if shot is not None and shot.plate_id in changed:
            frame, track = self.frame, self.track
            self.set_shot(shot.id)
            if track is not None and track != self.track:
                self.set_track(track)
            self.set_frame(frame)
        self._prune_readers()
        return True

    def missing_plates(self) -> list[str]:
        """Ids of the project's plates whose file is not where the project says."""
        from core.project.plates import plate_missing

        return [pid for pid, pl in self.project.plates.items() if plate_missing(pl)] if self.project else []

    def interpret_plate(self, plate_id: str, **changes: Any) -> list[str]:
        """Set what a plate's files do not say (colorspace=, pixel_aspect=; core.project.plates.
        interpret_plate) as one step on the undo stack; returns its notes."""
        from core.project.plates import interpret_plate

        _plate, notes = interpret_plate(self.project, plate_id, stack=self.undo, **changes)
        for note in notes:
            log.warning(note)
        return notes

    def relink_plate(self, plate_id: str, path: str | Path, force: bool = False) -> tuple[list[str], list[str]]:
        """Point a plate at its file's new place, and every other missing plate found where the
        same move puts it (core.project.plates.relink_moved), as one step on the undo stack.
        Returns (plate ids relinked, notes). PlateMismatch when the file has another frame count,
        size or rate (the studio asks, then passes force); ProjectError for any other refusal."""
        from core.project.plates import relink_moved

        relinked, notes = relink_moved(self.project, plate_id, path, force=force, stack=self.undo)
        for note in notes:
            log.warning(note)
        return relinked, notes

    # ------------------------------------------------------------------ shots
    def shot_names(self) -> list[str]:
        return [s.name for s in self.project.shots] if self.project is not None else []

    def find_shot(self, key: str | None):
        """A shot by id or name (None when absent)."""
        if self.project is None or key is None:
            return None
        for s in self.project.shots:
            if s.id == key or s.name == key:
                return s
        return None

    def plate_of(self, shot: Any) -> Path | None:
        if shot is None or self.project is None:
            return None
        plate = self.project.plates.get(shot.plate_id)
        if plate is None:
            return None
        p = Path(plate.path)
        if not p.is_absolute() and self.project_path is not None:
            p = (self.project_path / p).resolve()
        return p

    def plate_record(self, shot: Any = None):
        shot = shot or self.shot
        return None if shot is None or self.project is None else self.project.plates.get(shot.plate_id)

    @staticmethod
    def _reader_key(path: Path, record: Any) -> str:
        """A frame cache is keyed by what its frames look like: the file (a relink makes another)
        and how it is read (colour space, pixel aspect)."""
        return (f"{path}|{getattr(record, 'hash', '')}|{getattr(record, 'colorspace', None)}|"
                f"{getattr(record, 'pixel_aspect', 1.0)}")

    def _prune_readers(self) -> None:
        """Drop the frame caches no plate record reads any more (after a relink or a new reading:
        each may hold hundreds of MB of decoded frames)."""
        if self.project is None:
            return
        live = {self._reader_key(self.plate_of(sh), self.plate_record(sh)) for sh in self.project.shots
                if self.plate_of(sh) is not None}
        for key in [k for k in self._readers if k not in live]:
            self._readers.pop(key).clear()

    def frames_for(self, path: Path, record: Any = None) -> FrameCache:
        """The frame cache of a plate file, one per path for the session. With the project's
        plate `record` the reader is opened by the first frame asked for (on the viewer's worker:
        a long camera original is read whole when opened), not here on the UI thread; a file
        that is not there at all is still reported at once."""
        key = self._reader_key(path, record)
        if key not in self._readers:
            facts = None
            if record is not None and int(getattr(record, "frame_count", 0) or 0) > 0:
                facts = PlateFacts(int(record.width), int(record.height), Fraction(record.fps), int(record.frame_count))
            pattern = names_image_sequence(path)
            if facts is None or facts.width <= 0 or facts.height <= 0:
                self._readers[key] = FrameCache(open_reader(path))
            elif not (path.parent.is_dir() if pattern else path.is_file()):
                raise MediaError(f"{path}: file not found (was the plate moved, or its drive unmounted?): "
                                 "File ▸ Relink plate… gives its new place")
            else:
                self._readers[key] = FrameCache.deferred(path, facts)
            if record is not None:
                self._readers[key].pixel_aspect = float(getattr(record, "pixel_aspect", 1.0))
                self._readers[key].colorspace = getattr(record, "colorspace", None)
        return self._readers[key]

    def set_shot(self, shot_id: str) -> None:
        """Make a shot current (by id or name): its plate, analysis and curves."""
        shot = self.find_shot(shot_id)
        self.shot = shot
        self.shot_name = shot.name if shot is not None else ""
        self.frames = None
        if shot is not None:
            plate = self.plate_of(shot)
            try:
                self.frames = self.frames_for(plate, self.plate_record(shot)) if plate is not None else None
            except MediaError as exc:
                self.message.emit(f"plate of {shot.name} cannot be read: {exc}")
                self.frames = None
        try:
            self.analysis = shot.analysis if shot is not None else None
        except ProjectError as exc:
            self.message.emit(str(exc))
            self.analysis = None
        # without the plate file (missing, unreadable) the record still gives the shot's frames,
        # so its curves can be looked at and edited until the plate is relinked
        record = self.plate_record(shot) if shot is not None else None
        n = self.frames.frame_count if self.frames is not None else max(int(getattr(record, "frame_count", 1)), 1)
        self.first = int(shot.frame_in) if shot is not None else 0
        self.last = min(int(shot.frame_out), n - 1) if shot is not None else 0
        self.first = min(self.first, self.last)
        self.track = None
        self._replace_doc(self._make_doc())
        self.frame = self.first
        self.shotChanged.emit()
        self.frameChanged.emit(self.frame)

    def fit_to_plate(self) -> bool:
        """Clamp the shot's range to its plate's frames once the reader is open (the project's
        record stood in until then, and the file may be shorter now). True when it changed."""
        if self.frames is None or not self.frames.is_open or self.frames.frame_count - 1 >= self.last:
            return False
        self.last = max(self.frames.frame_count - 1, 0)
        self.first = min(self.first, self.last)
        if self.frame > self.last:
            self.set_frame(self.last)
        return True

    def set_track(self, track: int) -> None:
        """Edit the curves of another face (track) of the current shot."""
        if self.shot is not None and track in self.shot.curves:
            self.track = track
            self._replace_doc(self._make_doc(track))
            self.shotChanged.emit()
            self.frameChanged.emit(self.frame)

    def follow_curves(self) -> bool:
        """Re-bind the editing CurveDoc when an undo step replaced or removed the current
        face's CurveSet (re-extraction, a new neutral or filter, or their undo/redo: core's
        SetCurveSet swaps the object), keeping the face (when it still has curves) and the
        frame; every view follows through shotChanged. True when the doc was re-bound."""
        shot = self.shot
        if shot is None:
            return False
        curves = shot.curves
        track = self.track if self.track in curves else None
        held = self.doc.cs if self.doc is not None else None
        if held is not None and track is not None and held is curves[track]:
            return False
        if held is None and not curves:
            return False
        self._replace_doc(self._make_doc(track))
        if self.doc is None:
            self.track = None
        self.shotChanged.emit()
        self.frameChanged.emit(self.frame)
        return True

    def _replace_doc(self, doc: Any) -> None:
        """Make `doc` the current CurveDoc; the previous one stops listening to the undo stack
        and is released (it no longer mirrors what the shot holds)."""
        old, self.doc = self.doc, doc
        if old is not None and old is not doc:
            old.detach()
            old.setParent(None)

    def _make_doc(self, track: int | None = None) -> Any:
        if self.shot is None or not self.shot.curves:
            return None
        from studio.curvedoc import CurveDoc

        track = sorted(self.shot.curves)[0] if track is None else track
        self.track = track
        plate = self.project.plates.get(self.shot.plate_id) if self.project is not None else None
        fps = float(plate.fps) if plate is not None and plate.fps else 24.0
        return CurveDoc(self.shot.curves[track], self.undo, parent=self, fps=fps)

    # ------------------------------------------------------------------ frame
    def set_frame(self, frame: int) -> None:
        """Move the cursor (clamped to the shot); every view follows through frameChanged."""
        f = int(min(max(int(frame), self.first), max(self.last, self.first)))
        if f != self.frame:
            self.frame = f
            self.frameChanged.emit(f)

    # ------------------------------------------------------------------ dirty state
    @property
    def dirty(self) -> bool:
        return self._dirty

    def mark_dirty(self, dirty: bool = True) -> None:
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirtyChanged.emit(dirty)

    def key_frames(self) -> np.ndarray:
        """Frames holding a key on any curve of the current shot (for the ruler and jump-to-key)."""
        if self.doc is None:
            return np.zeros(0, np.int64)
        return self.doc.all_key_frames()
