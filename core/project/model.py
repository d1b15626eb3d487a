"""The project document: plates, shots, curves; saving, loading, backups and autosave.

On disk a project is a folder `NAME.facsimile/`:
    project.json            schema-versioned document (validated on load; no pickle anywhere)
    arrays/<hash>.npz       curve arrays (base, extracted, raw, confidence), content-addressed
    analysis/<shot>-<tok>.npz   ShotAnalysis of each shot (core.analysis.types)
    backups/project-<time>.json the previous N saves of project.json (their arrays are kept)
    autosave/project.json   the autosave slot
Every write is atomic (core.util.atomic). A document that cannot be read (damaged, from a
newer schema) is refused with a message and left untouched, and the newest backup is offered.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from core.curves import CurveSet
from core.errors import FacsimileError, ProjectError, UserCancelled
from core.project.lock import project_lock
from core.project.schema import APP, SCHEMA_VERSION, validate
from core.util.atomic import atomic_path, atomic_write_text
from core.util.npz import NPZ_ERRORS, describe_npz_error
from core.util.report import HANDED_BACK

log = logging.getLogger(__name__)

PROJECT_SUFFIX = ".facsimile"
DOC_NAME = "project.json"
BACKUP_COUNT = 5
_SAFE_REL = re.compile(r"^(arrays|analysis)/[A-Za-z0-9_.\-]+\.npz$")


def file_hash(path: str | Path, chunk: int = 4 << 20) -> str:
    """Quick identity of a media file: sha256 of its size, first and last 4 MiB."""
    p = Path(path)
    h = hashlib.sha256()
    size = p.stat().st_size
    h.update(str(size).encode())
    with open(p, "rb") as fh:
        h.update(fh.read(chunk))
        if size > chunk:
            fh.seek(max(size - chunk, chunk))
            h.update(fh.read(chunk))
    return "q" + h.hexdigest()[:32]


def media_hash(path: str | Path, media: Any) -> str:
    """The plate hash of open media: file_hash of a file; of an image-sequence pattern (no file),
    its length and the quick hashes of its first and last members (a re-rendered head or tail
    changes it)."""
    if Path(path).is_file():
        return file_hash(path)
    n = int(media.info.frame_count)
    first, last = media.file_of(0), media.file_of(max(n - 1, 0))
    h = hashlib.sha256(f"seq:{n}:{file_hash(first)}:{file_hash(last)}".encode())
    return "s" + h.hexdigest()[:32]


def _relative_path(plate_path: str, project_path: Path) -> dict:
    """{"relative_path": the plate's path from the project folder} for project.json, or {} when
    there is none (another drive)."""
    try:
        return {"relative_path": Path(os.path.relpath(plate_path, project_path)).as_posix()}
    except ValueError:
        return {}


def _locate_beside(project: Project, relative: Mapping[str, str | None]) -> dict[str, str]:
    """Plates missing at their recorded path but found at the same place relative to the project
    folder, with the recorded hash (the project moved with its plates: a show tree copied or
    mounted elsewhere): the plate is used from there, in memory until the project is saved and
    logged. Returns {plate id: the recorded path}. A file there with another hash is left alone."""
    from core.project.plates import plate_missing

    found: dict[str, str] = {}
    for pid, plate in project.plates.items():
        rel = relative.get(pid)
        if not rel or not plate.hash or not plate_missing(plate):
            continue
        candidate = Path(os.path.abspath(project.path / rel))
        if str(candidate) == plate.path:
            continue
        moved = Plate(pid, str(candidate), plate.fps, plate.frame_count, plate.width, plate.height,
                      plate.timecode, plate.vfr, plate.hash, plate.pixel_aspect, plate.colorspace)
        if plate_missing(moved):
            continue
        try:
            digest = file_hash(candidate) if candidate.is_file() else Plate.from_media(candidate, pid).hash
        except (OSError, FacsimileError) as exc:
            log.warning("plate %s: %s is where the moved project puts it but cannot be read: %s", pid, candidate, exc)
            continue
        if digest != plate.hash:
            log.warning("plate %s: %s is where the moved project puts it, but another file (hash differs): not used",
                        pid, candidate)
            continue
        # handed back in project.relocated: project_warnings and the render's notes say it, once a command
        log.warning("plate %s: not at %s; found beside the moved project at %s (the same file) and used from there; "
                    "save the project to keep it", pid, plate.path, candidate, extra=HANDED_BACK)
        found[pid] = plate.path
        project.plates[pid] = moved
    return found


def _tc_to_frames(tc: str, fps: Fraction) -> int:
    import opentimelineio as otio

    try:
        return int(round(otio.opentime.from_timecode(tc, float(fps)).value))
    except ValueError as exc:
        raise ProjectError(f"'{tc}' is not a valid timecode at {float(fps):.3f} fps: {exc}") from exc


def _frames_to_tc(frames: int, fps: Fraction, drop_frame: bool = False) -> str:
    """`frames` since 00:00:00:00 as a timecode; drop-frame only when asked (OpenTimelineIO
    infers drop-frame from a 29.97/59.94 rate, so a non-drop plate's frames came out as ;-drop
    timecode 3 s 18 frames later in an hour, in `project info` and every render's tmcd)."""
    import opentimelineio as otio

    return otio.opentime.to_timecode(otio.opentime.RationalTime(frames, float(fps)), float(fps), bool(drop_frame))


@dataclass
class Plate:
    """A source clip. `timecode` is the start timecode of frame 0 (None: 00:00:00:00).
    VFR plates keep their nominal fps here; frames are always counted in decode order."""

    id: str
    path: str
    fps: Fraction
    frame_count: int
    width: int
    height: int
    timecode: str | None = None
    vfr: bool = False
    hash: str = ""
    pixel_aspect: float = 1.0  # anamorphic plates: a pixel's shown width / height (core.media.aspect)
    # the plate's colour space when its files do not say it (a camera log plate: "ARRI LogC3
    # (EI800)"); None: read as core.media.colour.plate_colorspace decides (sRGB or the EXR's tag)
    colorspace: str | None = None

    def __post_init__(self) -> None:
        self.fps = Fraction(self.fps)
        self.pixel_aspect = float(self.pixel_aspect)

    @classmethod
    def from_media(cls, path: str | Path, plate_id: str | None = None) -> Plate:
        """Read the plate's facts with core.media.reader.open_media (frame count, fps,
        timecode, size) and hash it."""
        try:
            from core.media.reader import open_media  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ProjectError("cannot read plate facts: core.media.reader is not available in this build") from exc
        with contextlib.ExitStack() as stack:
            m = open_media(path)
            if hasattr(m, "__exit__"):
                stack.enter_context(m)  # type: ignore[arg-type]
            info = m.info
            digest = media_hash(path, m)
        return cls(id=plate_id or Path(path).stem, path=str(Path(path).resolve()), fps=Fraction(info.fps),
                   frame_count=int(info.frame_count), width=int(info.width), height=int(info.height),
                   timecode=getattr(info, "timecode", None) or None, vfr=bool(getattr(info, "vfr", False)),
                   hash=digest, pixel_aspect=float(getattr(info, "pixel_aspect", 1.0) or 1.0))

    @property
    def start_tc_frames(self) -> int:
        """Frames from 00:00:00:00 to the plate's first frame."""
        return _tc_to_frames(self.timecode, self.fps) if self.timecode else 0

    def frame_for_timecode(self, tc: str) -> int:
        """Plate frame shown at timecode `tc` (may be outside 0..frame_count-1)."""
        return _tc_to_frames(tc, self.fps) - self.start_tc_frames

    def timecode_for_frame(self, frame: int) -> str:
        """The timecode of plate frame `frame`, drop-frame when the plate's own is (`;`)."""
        return _frames_to_tc(self.start_tc_frames + int(frame), self.fps, ";" in (self.timecode or ""))

    def to_dict(self) -> dict:
        return {"id": self.id, "path": self.path, "fps": [self.fps.numerator, self.fps.denominator],
                "frame_count": self.frame_count, "width": self.width, "height": self.height,
                "timecode": self.timecode, "vfr": self.vfr, "hash": self.hash, "pixel_aspect": self.pixel_aspect,
                "colorspace": self.colorspace}

    @classmethod
    def from_dict(cls, d: dict) -> Plate:
        return cls(d["id"], d["path"], Fraction(*d["fps"]), d["frame_count"], d["width"], d["height"],
                   d["timecode"], d["vfr"], d["hash"], d.get("pixel_aspect", 1.0), d.get("colorspace"))


@dataclass(eq=False)
class Shot:
    """A range of a plate: frame_in..frame_out inclusive (plate frames), plus handles.
    Curves are keyed by track index and use plate frames, so trimming a shot never moves keys."""

    id: str
    name: str
    plate_id: str
    frame_in: int
    frame_out: int
    handles: int = 0
    identity: str | None = None
    render_settings: dict = field(default_factory=dict)
    curves: dict[int, CurveSet] = field(default_factory=dict)
    timecode: str | None = None  # the shot's record/source timecode label from an edit, if any
    _analysis: Any = field(default=None, repr=False)
    _analysis_file: str | None = field(default=None, repr=False)
    lost_analysis: str | None = field(default=None, repr=False)  # the analysis file found missing at load
    _analysis_dirty: bool = field(default=False, repr=False)
    _root: Path | None = field(default=None, repr=False)

    @property
    def analysis(self) -> Any:
        """The shot's ShotAnalysis, loaded from its .npz on first use (None if not analysed)."""
        if self._analysis is None and self._analysis_file and self._root is not None:
            from core.analysis.types import ShotAnalysis

            self._analysis = ShotAnalysis.load(self._root / self._analysis_file)
        return self._analysis

    @analysis.setter
    def analysis(self, value: Any) -> None:
        self._analysis = value
        self._analysis_dirty = True
        if value is None:
            self._analysis_file = None

    @property
    def has_analysis(self) -> bool:
        return self._analysis is not None or self._analysis_file is not None

    @property
    def range_with_handles(self) -> tuple[int, int]:
        return (self.frame_in - self.handles, self.frame_out + self.handles)

    @property
    def length(self) -> int:
        return self.frame_out - self.frame_in + 1

    def state(self) -> dict:
        """Comparable snapshot (tests, undo checks)."""
        return {"id": self.id, "name": self.name, "plate_id": self.plate_id, "frame_in": self.frame_in,
                "frame_out": self.frame_out, "handles": self.handles, "identity": self.identity,
                "render_settings": json.dumps(self.render_settings, sort_keys=True), "timecode": self.timecode,
                "curves": {t: cs.state() for t, cs in sorted(self.curves.items())},
                "analysis": self._analysis_file if not self._analysis_dirty else id(self._analysis)}


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (a Windows editor's) is no damage
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{path} is damaged (not UTF-8 text)") from exc
    except OSError as exc:
        raise ProjectError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{path} is damaged: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc


@dataclass
class RecoveryCandidate:
    """A document that can be opened instead of project.json: an autosave or a backup."""

    kind: str  # "autosave" | "backup"
    path: Path
    saved_at: float

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.saved_at))
        return f"{self.kind} from {when} ({self.path})"


class Project:
    """The project document. Create with Project.create(path) or Project.load(path)."""

    def __init__(self, path: str | Path, name: str | None = None) -> None:
        p = Path(path)
        if p.suffix != PROJECT_SUFFIX:
            p = p.with_name(p.name + PROJECT_SUFFIX)
        self.path = p
        self.name = name or p.name[: -len(PROJECT_SUFFIX)]
        self.plates: dict[str, Plate] = {}
        self.shots: list[Shot] = []
        self.library_path: str | None = None
        self.settings: dict = {}
        self.saved_at: float = 0.0
        self.opened_from: Path | None = None  # a backup/autosave this document came from
        self.backup_count = BACKUP_COUNT
        self._owns_autosave = False  # this session wrote (or recovered from) the autosave slot
        # plates not at their recorded path but found, the same file, where the project moved to:
        # {plate id: the recorded path}; in memory until saved (see _locate_beside)
        self.relocated: dict[str, str] = {}

    # ------------------------------------------------------------------ content
    @classmethod
    def create(cls, path: str | Path, name: str | None = None) -> Project:
        """A new, empty project (nothing written until save())."""
        proj = cls(path, name)
        if (proj.path / DOC_NAME).exists():
            raise ProjectError(f"{proj.path} already holds a project: open it instead")
        return proj

    def add_plate(self, plate: Plate) -> Plate:
        if plate.id in self.plates:
            raise ProjectError(f"a plate with id {plate.id!r} is already in the project")
        self.plates[plate.id] = plate
        return plate

    def new_shot_id(self, stem: str = "sh") -> str:
        taken = {s.id for s in self.shots}
        i = len(self.shots) + 1
        while f"{stem}{i:03d}" in taken:
            i += 1
        return f"{stem}{i:03d}"

    def unique_shot_name(self, name: str) -> str:
        """`name`, or with _2, _3 ... when a shot has it already: every `--shot NAME` command needs
        names to tell shots apart (two 'smile' shots made every one of them fail)."""
        taken = {s.name.lower() for s in self.shots}  # --shot matches names in any case
        if name.lower() not in taken:
            return name
        i = 2
        while f"{name}_{i}".lower() in taken:
            i += 1
        return f"{name}_{i}"

    def add_shot(self, shot: Shot, index: int | None = None) -> Shot:
        if shot.plate_id not in self.plates:
            raise ProjectError(f"shot {shot.name!r}: no plate with id {shot.plate_id!r} in the project")
        if any(s.id == shot.id for s in self.shots):
            raise ProjectError(f"a shot with id {shot.id!r} is already in the project")
        if shot.frame_out < shot.frame_in:
            raise ProjectError(f"shot {shot.name!r}: frame_out {shot.frame_out} is before frame_in {shot.frame_in}")
        shot._root = self.path
        self.shots.insert(len(self.shots) if index is None else index, shot)
        return shot

    def new_shot(self, plate_id: str, frame_in: int, frame_out: int, name: str | None = None,
                 handles: int = 0, timecode: str | None = None) -> Shot:
        """Add a shot from manual in/out plate frames."""
        sid = self.new_shot_id()
        return self.add_shot(Shot(sid, self.unique_shot_name(name or sid), plate_id, int(frame_in), int(frame_out),
                                  int(handles), timecode=timecode))

    def shot(self, shot_id: str) -> Shot:
        for s in self.shots:
            if s.id == shot_id:
                return s
        raise KeyError(f"no shot with id {shot_id!r}")

    def plate_of(self, shot: Shot) -> Plate:
        return self.plates[shot.plate_id]

    def state(self) -> dict:
        """Comparable snapshot of the whole document."""
        return {"name": self.name, "library_path": self.library_path,
                "settings": json.dumps(self.settings, sort_keys=True),
                "plates": {k: p.to_dict() for k, p in sorted(self.plates.items())},
                "shots": [s.state() for s in self.shots]}

    # ------------------------------------------------------------------ saving
    def _write_arrays(self, cs: CurveSet) -> str:
        data = _npz_bytes(cs.arrays())
        digest = hashlib.sha256(data).hexdigest()[:24]
        rel = f"arrays/{digest}.npz"
        target = self.path / rel
        if not target.exists():
            with atomic_path(target) as tmp:
                Path(tmp).write_bytes(data)
        return rel

    def _write_analysis(self, shot: Shot) -> str | None:
        """The analysis file the document refers to: the shot's own while it is on disk, else a
        new one written from memory. An undo can bring back an analysis whose file a later save
        collected as unreferenced; it is held in memory (workflow.SetAnalysis), and written again."""
        if not shot._analysis_dirty and (shot._analysis_file is None or (self.path / shot._analysis_file).exists()):
            return shot._analysis_file
        if shot._analysis is None:
            if shot._analysis_file is not None:  # removed by hand: a reference to it would not open
                log.error("shot %s: its analysis file %s is gone from %s and no copy is in memory; the shot is "
                          "saved without an analysis (its curves are kept): analyse it again", shot.name,
                          shot._analysis_file, self.path)
            return None
        rel = f"analysis/{shot.id}-{os.urandom(4).hex()}.npz"
        shot._analysis.save(self.path / rel)
        return rel

    def _document(self, saved_at: float) -> dict:
        """Write the arrays this document refers to and return it (nothing else written)."""
        for sub in ("arrays", "analysis", "backups", "autosave"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        shots = []
        for s in self.shots:
            s._root = self.path
            s._analysis_file, s._analysis_dirty = self._write_analysis(s), False
            curves = []
            for track, cs in sorted(s.curves.items()):
                entry = {"track": int(track), "arrays": self._write_arrays(cs)}
                entry.update(cs.meta_dict())
                curves.append(entry)
            shots.append({"id": s.id, "name": s.name, "plate_id": s.plate_id, "frame_in": s.frame_in,
                          "frame_out": s.frame_out, "handles": s.handles, "timecode": s.timecode,
                          "identity": s.identity, "render_settings": s.render_settings,
                          "analysis": s._analysis_file, "curves": curves})
        return {"schema": SCHEMA_VERSION, "app": APP, "name": self.name, "saved_at": saved_at,
                "library_path": self.library_path, "settings": self.settings,
                "plates": [{**p.to_dict(), **_relative_path(p.path, self.path)} for p in self.plates.values()],
                "shots": shots}

    def save(self) -> Path:
        """Save to project.json (atomically), keeping the previous version in backups/ (the
        newest `backup_count` are kept) and clearing the autosave slot. Holds the folder's
        write lock (core.project.lock) throughout, so two sessions' saves never interleave."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProjectError(f"cannot create the project folder {self.path}: {exc.strerror or exc}") from exc
        with project_lock(self.path):
            return self._save_locked()

    def _save_locked(self) -> Path:
        now = max(time.time(), self.saved_at + 1e-6)
        try:
            doc = self._document(now)
            text = json.dumps(doc, indent=1) + "\n"
            target = self.path / DOC_NAME
            if target.exists():
                stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + f"-{int((now % 1) * 1e6):06d}"
                (self.path / "backups").mkdir(exist_ok=True)
                with atomic_path(self.path / "backups" / f"project-{stamp}.json") as tmp:  # a killed copy is swept
                    shutil.copy2(target, tmp)
            atomic_write_text(target, text)
        except FacsimileError as exc:
            raise ProjectError(f"the project was not saved: {exc}") from exc
        except OSError as exc:
            raise ProjectError(f"the project was not saved: cannot write in {self.path}: {exc.strerror or exc}") from exc
        self.saved_at = now
        self.opened_from = None
        self.relocated = {}  # the plates' new places are the record now
        self._retire_autosave()
        self._rotate_backups()
        self._collect_garbage()
        return target

    def save_as(self, path: str | Path) -> Path:
        """Save into another project folder (NAME.facsimile) and make it this project's home.
        Every shot's analysis goes with it, opened or not (each is copied from the old folder),
        so the new folder opens on its own; the old folder is left as it was."""
        new = Path(path)
        if new.suffix != PROJECT_SUFFIX:
            new = new.with_name(new.name + PROJECT_SUFFIX)
        if new.resolve() == self.path.resolve():
            return self.save()
        if (new / DOC_NAME).exists():
            raise ProjectError(f"{new} holds a project already; choose another name or open it")
        try:
            (new / "analysis").mkdir(parents=True, exist_ok=True)
            for shot in self.shots:
                if shot._analysis is None and shot._analysis_file and not shot._analysis_dirty:
                    src = self.path / shot._analysis_file
                    if not src.exists():
                        raise ProjectError(f"shot {shot.name!r}: its analysis {src} is missing; the project "
                                           f"was not saved as {new}")
                    with atomic_path(new / shot._analysis_file) as tmp:
                        shutil.copyfile(src, tmp)
        except OSError as exc:
            raise ProjectError(f"the project was not saved as {new}: {exc.strerror or exc}") from exc
        old_path, old_roots = self.path, [s._root for s in self.shots]
        owned = self._owns_autosave
        self.path = new
        self._owns_autosave = False  # the new folder has no autosave of ours
        for shot in self.shots:
            shot._root = new
        try:
            return self.save()
        except ProjectError:
            self.path, self._owns_autosave = old_path, owned
            for shot, root in zip(self.shots, old_roots, strict=True):
                shot._root = root
            raise

    def autosave(self) -> Path:
        """Write the autosave slot (autosave/project.json); project.json is not touched."""
        self.path.mkdir(parents=True, exist_ok=True)
        if not self._owns_autosave:
            # the slot holds another session's autosave (a crash the user did not recover from):
            # it is set aside as a backup, never written over
            self._retire_autosave()
        try:
            with project_lock(self.path):  # its arrays must not meet another session's garbage collection
                doc = self._document(time.time())
                doc["autosave_of"] = self.saved_at
                target = self.path / "autosave" / DOC_NAME
                atomic_write_text(target, json.dumps(doc, indent=1) + "\n")
            self._owns_autosave = True
        except FacsimileError as exc:
            raise ProjectError(f"autosave failed: {exc}") from exc
        return target

    def _retire_autosave(self) -> None:
        """After a save the autosave slot is out of date. If this session wrote it (or
        recovered from it) it goes; an autosave left by another session (a crash the user did
        not recover from) is kept as a backup instead of being deleted."""
        slot = self.path / "autosave" / DOC_NAME
        if not slot.exists():
            return
        with contextlib.suppress(OSError):
            if self._owns_autosave:
                slot.unlink()
            else:
                t = _saved_at(slot) or slot.stat().st_mtime
                stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(t)) + f"-{int((t % 1) * 1e6):06d}"
                os.replace(slot, self.path / "backups" / f"project-{stamp}-autosave.json")
        self._owns_autosave = False

    def _rotate_backups(self) -> None:
        backups = sorted((self.path / "backups").glob("project-*.json"))
        for old in backups[: max(0, len(backups) - self.backup_count)]:
            with contextlib.suppress(OSError):
                old.unlink()

    def _collect_garbage(self) -> None:
        """Remove array/analysis files that no kept document (project, backups, autosave)
        refers to. A document that cannot be read keeps everything (nothing is guessed)."""
        docs = [self.path / DOC_NAME, *sorted((self.path / "backups").glob("project-*.json")),
                self.path / "autosave" / DOC_NAME]
        referenced: set[str] = set()
        for d in docs:
            if not d.exists():
                continue
            try:
                referenced |= _referenced_files(_read_json(d))
            except (ProjectError, AttributeError, TypeError):
                return
        for sub in ("arrays", "analysis"):
            for f in (self.path / sub).glob("*.npz"):
                if f"{sub}/{f.name}" not in referenced:
                    with contextlib.suppress(OSError):
                        f.unlink()

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path, document: str | Path | None = None) -> Project:
        """Open a project folder (or its project.json). `document` opens a backup or the
        autosave instead; the project then counts as unsaved until save(). Nothing on disk
        is changed by loading; a damaged or newer document raises ProjectError that names
        every problem and the newest backup to try."""
        p = Path(path)
        if p.name == DOC_NAME:
            p = p.parent
        if not p.is_dir() and p.suffix != PROJECT_SUFFIX and p.with_name(p.name + PROJECT_SUFFIX).is_dir():
            p = p.with_name(p.name + PROJECT_SUFFIX)
        if not p.is_dir():
            raise ProjectError(f"no project at {p}: the folder does not exist")
        doc_path = Path(document) if document is not None else p / DOC_NAME
        if not doc_path.exists():
            raise ProjectError(f"{p} holds no {DOC_NAME}{_offer(p)}")
        try:
            doc = _read_json(doc_path)
        except ProjectError as exc:
            raise ProjectError(f"{exc}; the file was left as it is{_offer(p)}") from exc
        if isinstance(doc, dict) and isinstance(doc.get("schema"), int) and doc["schema"] > SCHEMA_VERSION:
            raise ProjectError(
                f"{doc_path} was written by a newer Facsimile (project schema {doc['schema']}, this version reads "
                f"up to {SCHEMA_VERSION}): open it with that version; the file was left as it is" + _offer(p))
        problems = validate(doc)
        if not problems:
            for i, sh in enumerate(doc["shots"]):
                refs = ([("analysis", sh["analysis"])] if sh["analysis"] else []) + [
                    (f"curves[{j}].arrays", c["arrays"]) for j, c in enumerate(sh["curves"])]
                for what, rel in refs:
                    if not _SAFE_REL.match(rel):
                        problems.append(f"shots[{i}].{what}: {rel!r} is not a file inside the project")
                    elif not (p / rel).is_file() and what != "analysis":
                        # (a missing analysis loses no edit: the shot opens without it, see below)
                        problems.append(f"shots[{i}].{what}: the file {rel} is missing")
        if problems:
            raise ProjectError(f"{doc_path} cannot be opened ({len(problems)} problem"
                               f"{'s' if len(problems) > 1 else ''}; the file was left as it is):\n  "
                               + "\n  ".join(problems) + _offer(p))
        proj = cls(p, doc["name"])
        proj.path = p  # an existing project folder keeps its name, even without the .facsimile suffix
        proj.library_path = doc.get("library_path")
        proj.settings = doc.get("settings", {})
        proj.saved_at = float(doc["saved_at"]) if document is None else 0.0
        proj.opened_from = None if document is None else doc_path
        slot = p / "autosave" / DOC_NAME
        proj._owns_autosave = slot.exists() and doc_path.resolve() == slot.resolve()
        for pd in doc["plates"]:
            proj.plates[pd["id"]] = Plate.from_dict(pd)
        proj.relocated = _locate_beside(proj, {pd["id"]: pd.get("relative_path") for pd in doc["plates"]})
        errors = []
        for i, sd in enumerate(doc["shots"]):
            shot = Shot(sd["id"], sd["name"], sd["plate_id"], sd["frame_in"], sd["frame_out"], sd["handles"],
                        identity=sd["identity"], render_settings=sd["render_settings"],
                        timecode=sd.get("timecode"))
            shot._analysis_file = sd["analysis"]
            shot._root = p
            if shot._analysis_file and not (p / shot._analysis_file).is_file():
                # deleted or lost by hand: every backup written since refers to it too, so refusing
                # made the project and its backups unopenable. Curves and edits are all here; only
                # a re-solve needs the landmarks (project_warnings says to analyse again)
                shot.lost_analysis, shot._analysis_file = shot._analysis_file, None
                log.warning("shot %s: its analysis file %s is missing; opened without it (curves and edits kept): "
                            "analyse the shot again to re-solve its curves", shot.name, shot.lost_analysis)
            for j, cd in enumerate(sd["curves"]):
                try:
                    with np.load(p / cd["arrays"], allow_pickle=False) as z:
                        arrays = {k: z[k] for k in z.files}
                    shot.curves[cd["track"]] = CurveSet.from_parts(cd, arrays)
                except NPZ_ERRORS as exc:
                    errors.append(f"shots[{i}].curves[{j}]: {cd['arrays']} is damaged: {describe_npz_error(exc)}")
            proj.shots.append(shot)
        if errors:
            raise ProjectError(f"{doc_path} cannot be opened (the files were left as they are):\n  "
                               + "\n  ".join(errors) + _offer(p))
        return proj

    # ------------------------------------------------------------------ recovery
    def recovery_candidates(self) -> list[RecoveryCandidate]:
        return recovery_candidates(self.path)


def _referenced_files(doc: dict) -> set[str]:
    out: set[str] = set()
    for sh in doc.get("shots", []):
        if sh.get("analysis"):
            out.add(sh["analysis"])
        for c in sh.get("curves", []):
            out.add(c.get("arrays"))
    return out


def _saved_at(path: Path) -> float | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return float(doc["saved_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def backups(path: str | Path) -> list[RecoveryCandidate]:
    """The project's backups, newest first (unreadable ones are skipped)."""
    out = []
    for b in sorted((Path(path) / "backups").glob("project-*.json"), reverse=True):
        t = _saved_at(b)
        if t is not None:
            out.append(RecoveryCandidate("backup", b, t))
    return out


def find_autosave(path: str | Path) -> RecoveryCandidate | None:
    """The autosave, if it is newer than the last save (or the last save cannot be read).
    Offer it to the user; never apply it silently."""
    p = Path(path)
    slot = p / "autosave" / DOC_NAME
    if not slot.exists():
        return None
    t = _saved_at(slot)
    if t is None:
        return None
    saved = _saved_at(p / DOC_NAME)
    if saved is not None and saved >= t:
        return None
    return RecoveryCandidate("autosave", slot, t)


def recovery_candidates(path: str | Path) -> list[RecoveryCandidate]:
    """What can be opened instead of project.json: a newer autosave first, then backups."""
    auto = find_autosave(path)
    return ([auto] if auto else []) + backups(path)


def _offer(path: Path) -> str:
    cands = recovery_candidates(path)
    if not cands:
        return ""
    use = "autosave" if cands[0].kind == "autosave" else "backup 1"  # backups come newest first
    return (f"\nnewest recovery option: {cands[0].describe()}: restore it with `facsimile project recover "
            f"{path} --use {use}` (the damaged file is kept)")


class Autosaver:
    """Autosave driven by the caller: tick(now) from a UI timer, note_edit() from the undo
    stack (attach(stack) wires that). Saves when `interval_s` passed since the last autosave
    with edits pending, or after `every_n_edits` edits."""

    def __init__(self, project: Project, interval_s: float = 120.0, every_n_edits: int = 50) -> None:
        self.project = project
        self.interval_s = float(interval_s)
        self.every_n_edits = int(every_n_edits)
        self.pending = 0
        self.last_autosave: float | None = None
        self.last_error: str | None = None

    def attach(self, stack: Any) -> None:
        """Count undo-stack steps (a merged drag counts once; undo and redo count)."""
        seen = {"index": stack.index}

        def on_change(s: Any) -> None:
            if s.index != seen["index"]:
                seen["index"] = s.index
                self.note_edit()

        stack.add_listener(on_change)

    def note_edit(self) -> bool:
        self.pending += 1
        if self.every_n_edits > 0 and self.pending >= self.every_n_edits:
            return self._save(time.monotonic())
        return False

    def tick(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if self.last_autosave is None:
            self.last_autosave = now
        if self.pending and now - self.last_autosave >= self.interval_s:
            return self._save(now)
        return False

    def saved(self, now: float | None = None) -> None:
        """The project was saved: nothing is pending, and the next autosave waits a full interval
        (an autosave after a clean save made every later CLI edit refuse the project)."""
        self.pending = 0
        self.last_autosave = time.monotonic() if now is None else now

    def _save(self, now: float) -> bool:
        try:
            self.project.autosave()
        except ProjectError as exc:
            self.last_error = str(exc)  # the caller shows it; edits stay pending
            return False
        self.pending = 0
        self.last_autosave = now
        self.last_error = None
        return True


def extract_curves(shot: Shot, keep_edits: bool = True, *, neutral: Mapping[int, int | None] | None = None,
                   filter: Mapping[int, str] | None = None, tracks: Iterable[int] | None = None,
                   analysis: Any = None, progress: Callable[[int, int], None] | None = None) -> dict[int, CurveSet]:
    """CurveSets for every track of the shot's analysis via core.facs.extract_shot (list index
    = track position in analysis.track_ids). With keep_edits, layers and gains of the shot's
    current curves are carried over. Each face keeps its extraction settings (neutral frame,
    filter) unless `neutral` / `filter` ({track: value}) say otherwise; a neutral of None is
    the automatic one. tracks: only these. analysis: a new analysis of the shot not yet stored
    on it (the studio analyses off its GUI thread) instead of shot.analysis. progress(done, total):
    see core.facs.extract_shot (a cancelled job raises from it). Does not modify the shot: apply
    with commands.SetCurveSet (undoable)."""
    analysis = shot.analysis if analysis is None else analysis
    if analysis is None:
        raise ProjectError(f"shot {shot.name!r} has not been analysed yet: analyse it first")
    try:
        from core.facs import extract_shot  # type: ignore[attr-defined]
    except ImportError as exc:
        raise ProjectError("AU extraction (core.facs.extract_shot) is not available in this build") from exc
    ids = [int(t) for t in analysis.track_ids]
    neutral_of: dict[int, int | None] = {}
    filter_of: dict[int, str] = {}
    fi = np.asarray(analysis.frame_indices)
    for t in ids:
        old = shot.curves.get(t)
        kept = old.extraction.get("neutral_frame") if old is not None else None
        if kept is not None and (not len(fi) or not fi[0] <= int(kept) <= fi[-1]):
            # the shot was analysed again over another range: the chosen rest frame is gone
            log.warning("shot %s face %d: its neutral frame %d is outside the new analysis (%s-%s); "
                        "measured from the automatic neutral instead", shot.name, t, int(kept),
                        int(fi[0]) if len(fi) else "-", int(fi[-1]) if len(fi) else "-")
            kept = None
        neutral_of[t] = kept
        filter_of[t] = old.extraction.get("filter", "one_euro") if old is not None else "one_euro"
    neutral_of.update({int(k): v for k, v in (neutral or {}).items()})
    filter_of.update({int(k): v for k, v in (filter or {}).items()})
    try:
        faces = extract_shot(analysis, neutral=neutral_of, filter=filter_of, tracks=tracks, progress=progress)
    except UserCancelled:
        raise
    except FacsimileError as exc:
        raise ProjectError(f"shot {shot.name!r}: {exc}") from exc
    out: dict[int, CurveSet] = {}
    for face in faces:
        track = int(face.track_id)
        old = shot.curves.get(track) if keep_edits else None
        out[track] = CurveSet.from_face_aus(face, analysis.frame_indices, keep_edits_from=old)
    return out


def shots_with_plates(project: Project) -> Iterable[tuple[Shot, Plate]]:
    for s in project.shots:
        yield s, project.plates[s.plate_id]
