"""Project actions as plain functions: what `facsimile project ...` runs, callable by the studio
and by scripts too. Nothing here re-implements an algorithm: plates come from
core.media.reader, analysis from core.analysis.Analyzer, AU curves from extract_curves
(core.facs), cut lists from core.project.editorial.

Every edit goes through a core command pushed on an UndoStack (the caller's, or a private one
when none is given), so the studio gets undo for free and a failing edit changes nothing.
Callers save with `project.save()` (atomic, previous version kept in backups/).

API
---
open_project(path, ignore_autosave=False) -> Project  (refuses when a newer autosave exists)
save_project(project) -> Path   (refuses when project.json changed on disk since it was loaded)
create_project(path, name=None, plates=(), whole_plate_shot=True) -> Project (saved)
project_info(project) -> dict          project_warnings(project) -> [str]
resolve_shot(project, key) -> Shot     resolve_track(shot, track=None) -> int
resolve_curve(cs, name) -> str
add_shot_range(project, plate_id, first, last, name=None, handles=0, stack=None) -> Shot
add_shots_from_cut_list(project, path, plate_id=None, handles=0, stack=None) -> (shots, problems)
add_shots_from_cut_detection(project, plate_id, threshold=27, min_scene_len=15, handles=0, stack=None)
trim_shot(project, shot, first, last, handles=None, stack=None);  remove_shot(project, shot, stack=None)
analyze_shot(project, shot, analyzer=None, max_faces=8, progress=None, cancel=None, stack=None) -> ShotAnalysis
extract_shot_curves(shot, stack=None) -> ExtractResult (raises CurvesUnavailable when core.facs lacks it)
set_neutral_frame(shot, frame | None, track=None, stack=None) -> CurveSet  (None: automatic neutral)
set_curve_filter(shot, "one_euro" | "savgol" | "none", track=None (all faces), stack=None) -> [tracks]
neutral_frame_command(...), curve_filter_command(...) -> Command  (the same, computed but not pushed)
calibration_summary(cs) -> str   (how a face's curves were measured: neutral, filter; the AU model if not the installed one)
set_key(shot, curve, frame, value, layer="Edit", interp="bezier", track=None, stack=None) -> (track, name)
    (the key's own value on its layer: an additive layer adds it to the curve)
key_value(shot, curve, frame, value, layer="Edit", interp="bezier", track=None, stack=None) -> (track, name, layer key)
    (a key that makes the curve read `value` at `frame`, as the studio's graph shows it)
set_gain(shot, au, gain, track=None, stack=None, frame=None) -> [names]  (frame: a gain key)
delete_gain_keys(shot, au, frames=None, track=None, stack=None) -> [names]
apply_preset(shot, preset: dict | path, track=None, stack=None) -> dict
assign_identity(project, shot, template, library=None, stack=None) -> Template
parse_assignments(["mode=swap", ...]) -> dict;  set_render_settings(project, shot, updates, stack=None) -> dict
curve_table(project, shot, track=None, frames=None) -> CurveTable; write_curves(table, path) -> Path
recover_project(path, use="autosave" | backup number) -> Project (saved)
relink_plate(project, plate_id, media, force=False, stack=None) -> (Plate, notes)   (core.project.plates)
relink_folder(project, old_folder, new_folder, stack=None) -> (relinked, not found)
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from core.curves import (
    OPENFACE_GAZE,
    CurveSet,
    Interp,
    Key,
    au_number,
    is_au,
    load_preset,
    openface_column,
    validate_preset,
)
from core.curves.curveset import AU_ALIASES
from core.errors import FacsimileError, MediaError, ProjectError
from core.project.model import (
    DOC_NAME,
    PROJECT_SUFFIX,
    Plate,
    Project,
    RecoveryCandidate,
    Shot,
    backups,
    extract_curves,
    find_autosave,
)
from core.project.plates import (
    check_plate,
    is_pattern,
    open_fitting_plate,
    plate_missing,
    relink_folder,
    relink_plate,
)
from core.project.undo import Command, Macro, UndoStack

log = logging.getLogger(__name__)

DEFAULT_LAYER = "Edit"


class CurvesUnavailable(ProjectError):
    """The AU engine (core.facs.extract_shot) is missing: the analysis is kept, curves are not made."""


# ---------------------------------------------------------------------- commands local to workflows
class SetAnalysis(Command):
    """Attach a ShotAnalysis to a shot (undo puts the previous one back)."""

    def __init__(self, shot: Shot, analysis: Any) -> None:
        self.shot, self.new = shot, analysis
        # the previous analysis is held in memory, not only by its file name: saves after this
        # collect the file as unreferenced, and an undo then brings back what is in memory
        try:
            old = shot.analysis
        except Exception as exc:  # a damaged or missing file: undo puts back the reference only
            log.warning("shot %s: its previous analysis could not be read (%s); undo restores its file name only",
                        shot.name, exc)
            old = shot._analysis
        self.old = (old, shot._analysis_file, shot._analysis_dirty)
        self.text = f"Analyse shot {shot.name}"

    def do(self) -> None:
        self.shot.analysis = self.new

    def undo(self) -> None:
        self.shot._analysis, self.shot._analysis_file, self.shot._analysis_dirty = self.old


class SetLibraryPath(Command):
    """Point the project at an identity library folder."""

    def __init__(self, project: Project, path: str | None) -> None:
        self.project, self.new, self.old = project, path, project.library_path
        self.text = "Set identity library"

    def do(self) -> None:
        self.project.library_path = self.new

    def undo(self) -> None:
        self.project.library_path = self.old


def _push(stack: UndoStack | None, cmd: Command) -> Command:
    """Run a command on the caller's stack (or a private one); its ValueError/KeyError (bad
    input found while applying) becomes a ProjectError and nothing is changed."""
    try:
        return (stack if stack is not None else UndoStack()).push(cmd)
    except (ValueError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise ProjectError(str(msg)) from exc


# ---------------------------------------------------------------------- opening, creating, recovering
def project_folder(path: str | Path, must_exist: bool = False) -> Path:
    """The NAME.facsimile folder a user means by `path` (the folder, its project.json, or the
    name without the suffix). must_exist: a ProjectError that says what `path` is when no such
    folder exists (a plate or a plain folder given by mistake read "PATH.facsimile does not exist")."""
    p = Path(path)
    if p.name == DOC_NAME:
        p = p.parent
    given = p
    if p.suffix != PROJECT_SUFFIX and not (p / DOC_NAME).exists():
        p = p.with_name(p.name + PROJECT_SUFFIX)
    if must_exist and not p.is_dir():
        if given.exists() and given != p:
            what = "a folder with no project.json in it" if given.is_dir() else "a file, not a project folder"
            raise ProjectError(f"{given} is {what}: give a project folder (NAME.facsimile), or make one with "
                               f"`facsimile project create NAME --plate {given if given.is_file() else 'PLATE'}`")
        raise ProjectError(f"no project at {p}: the folder does not exist")
    return p.absolute()


def autosave_notice(path: str | Path) -> str | None:
    """A warning when the project has an autosave newer than its last save, else None."""
    cand = find_autosave(project_folder(path))
    if cand is None:
        return None
    return (f"{project_folder(path)} has an {cand.describe()} that is newer than its last save "
            f"(a session ended without saving); see it with `facsimile project recover {project_folder(path)}` "
            f"and restore it with `facsimile project recover {project_folder(path)} --use autosave`")


def open_project(path: str | Path, ignore_autosave: bool = False) -> Project:
    """Load a project for editing. Refuses (ProjectError) when an autosave newer than the last
    save exists, so its work is never silently bypassed; `ignore_autosave` edits the saved
    version anyway (the next save keeps that autosave as a backup, nothing is deleted)."""
    folder = project_folder(path, must_exist=True)
    notice = autosave_notice(folder)
    if notice and not ignore_autosave:
        raise ProjectError(notice + "; or pass --ignore-autosave to edit the saved version "
                                    "(the autosave is then kept as a backup)")
    if notice:
        log.warning("%s; editing the saved version as asked", notice)
    return Project.load(folder)


class SavedElsewhere(ProjectError):
    """project.json was saved by another session since this copy was loaded."""


def save_project(project: Project, force: bool = False) -> Path:
    """Save, refusing (SavedElsewhere) when project.json was saved by someone else (the studio,
    another command) since this copy was loaded, so neither side's work is silently
    overwritten. The check and the save hold the folder's write lock together, so two sessions
    cannot both pass the check. force: save anyway (the other version stays in backups/)."""
    from core.project.lock import project_lock

    with project_lock(project.path) if project.path.is_dir() else contextlib.nullcontext():
        on_disk = project.path / DOC_NAME
        if not force and on_disk.exists() and project.opened_from is None:
            try:
                disk_saved = float(json.loads(on_disk.read_text(encoding="utf-8"))["saved_at"])
            except (OSError, ValueError, KeyError, TypeError):
                disk_saved = None
            if disk_saved is not None and abs(disk_saved - project.saved_at) > 1e-6:
                raise SavedElsewhere(f"{project.path} was saved by another session while this edit ran; nothing was "
                                     "saved: run the command again")
        return project.save()


def save_analyses(project: Project, shots: Sequence[Shot]) -> tuple[Path, list[str]]:
    """Save a project after analysing `shots`. When another session saved it meanwhile (an
    analysis runs for minutes, an edit elsewhere takes a second), save_project refuses, which
    threw the analyses away; they are instead carried into the project as it is on disk now
    (the same shot, same plate and frames; its curves extracted there again, keeping that
    session's edits). The carrying (seconds of re-extraction) runs outside the folder's lock,
    so the studio's saves are not held up; it is redone if yet another save came meanwhile.
    Returns (where it was saved, names of shots whose analysis could not be carried: removed or
    re-ranged by the other session)."""
    try:
        return save_project(project), []
    except SavedElsewhere:
        pass
    for _attempt in range(5):
        fresh = Project.load(project.path)
        lost: list[str] = []
        for shot in shots:
            other = next((s for s in fresh.shots if s.id == shot.id), None)
            if other is None or (other.plate_id, other.frame_in, other.frame_out, other.handles) != \
                    (shot.plate_id, shot.frame_in, shot.frame_out, shot.handles):
                lost.append(shot.name)
                continue
            other.analysis = shot.analysis
            if shot.curves:
                extract_shot_curves(other)
        try:
            path = save_project(fresh)  # checks, under the lock, that nobody saved since `fresh` was read
        except SavedElsewhere:
            continue
        log.warning("%s was saved by another session while the analysis ran: the analyses were added to that "
                    "version%s", project.path, f" (not those of {', '.join(lost)}: changed there; analyse again)"
                    if lost else "")
        return path, lost
    raise ProjectError(f"{project.path} kept being saved by another session; the analyses were not saved: "
                       "run the command again")


def create_project(path: str | Path, name: str | None = None, plates: Sequence[str | Path] = (),
                   whole_plate_shot: bool = True, pixel_aspect: float | None = None,
                   colorspace: str | None = None) -> Project:
    """Create and save a new project folder with the given plates (read with
    Plate.from_media). With exactly one plate and `whole_plate_shot`, one shot covers it.
    `pixel_aspect` sets the plates' pixel aspect where their files do not say it (untagged
    anamorphic plates); None keeps each file's tag. `colorspace` likewise (camera log plates: an
    OCIO name). Nothing is written when a plate cannot be read."""
    p = Path(path)
    if not str(path).strip() or not p.name:
        raise ProjectError(f"{str(path)!r} is no project folder name: give one, e.g. show.facsimile")
    if p.suffix != PROJECT_SUFFIX and p.is_dir() and not (p / DOC_NAME).exists() and name:
        p = p / f"{_safe_name(name)}{PROJECT_SUFFIX}"  # an existing folder + a name: create inside it
    proj = Project.create(p, name)
    if proj.path.exists() and any(proj.path.iterdir()):
        raise ProjectError(f"{proj.path} exists and is not empty: choose another path")
    for media in plates:
        plate = read_plate(media, taken=set(proj.plates))
        if pixel_aspect is not None:
            plate.pixel_aspect = float(pixel_aspect)
        if colorspace:
            from core.media.colour import resolve_colorspace

            plate.colorspace = resolve_colorspace(colorspace)
        proj.add_plate(plate)
    if whole_plate_shot and len(proj.plates) == 1:
        plate = next(iter(proj.plates.values()))
        if plate.frame_count < 1:
            raise MediaError(f"plate {plate.path} has no frames")
        add_shot_range(proj, plate.id, 0, plate.frame_count - 1, name=plate.id)
    proj.save()
    return proj


def _safe_name(name: str) -> str:
    s = re.sub(r"[^\w.\-]+", "_", name.strip()).strip("._")
    if not s:
        raise ProjectError(f"{name!r} cannot be used as a project folder name")
    return s


def read_plate(media: str | Path, taken: Iterable[str] = (), plate_id: str | None = None) -> Plate:
    """A Plate from a media file or sequence pattern, with an id not in `taken`."""
    m = Path(media)
    if not m.exists() and not any(ch in m.name for ch in "#%@"):
        raise MediaError(f"plate not found: {m}")
    taken = set(taken)
    base = plate_id or _plate_stem(m)
    pid, i = base, 2
    while pid in taken:
        pid, i = f"{base}_{i}", i + 1
    return Plate.from_media(m, plate_id=pid)


def _plate_stem(p: Path) -> str:
    stem = re.sub(r"[._]?(#+|%0?\d*d|@+)$", "", Path(p.stem).stem if is_pattern(p) else p.stem)
    return stem or p.stem


def recovery_options(path: str | Path) -> tuple[RecoveryCandidate | None, list[RecoveryCandidate]]:
    """(newer autosave or None, backups newest first) of a project."""
    folder = project_folder(path)
    return find_autosave(folder), backups(folder)


def recover_project(path: str | Path, use: str | int) -> tuple[Project, RecoveryCandidate]:
    """Make the autosave (use="autosave") or backup number `use` (1 = newest) the project's
    saved state. The replaced project.json goes to backups/ first, so this can be undone with
    another recover."""
    folder = project_folder(path)
    auto, backs = recovery_options(folder)
    if use == "autosave":
        if auto is None:
            raise ProjectError(f"{folder} has no autosave newer than its last save: nothing to recover")
        cand = auto
    else:
        try:
            n = int(use)
        except (TypeError, ValueError) as exc:
            raise ProjectError(f"--use expects 'autosave' or 'backup N', got {use!r}") from exc
        if not 1 <= n <= len(backs):
            raise ProjectError(f"{folder} has {len(backs)} backup(s): choose a number from 1 (newest) "
                               f"to {len(backs)}" if backs else f"{folder} has no backups")
        cand = backs[n - 1]
    proj = Project.load(folder, document=cand.path)
    proj.save()
    return proj, cand


# ---------------------------------------------------------------------- lookups
def resolve_shot(project: Project, key: str) -> Shot:
    """A shot by id, by unique name (case-insensitive), or by 1-based position."""
    for s in project.shots:
        if s.id == key:
            return s
    hits = [s for s in project.shots if s.name.lower() == key.lower()]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise ProjectError(f"{len(hits)} shots are named {key!r} ({', '.join(s.id for s in hits)}): use the id")
    if key.isdigit() and 1 <= int(key) <= len(project.shots):
        return project.shots[int(key) - 1]
    listing = ", ".join(f"{s.id} ({s.name})" for s in project.shots) or "none yet"
    raise ProjectError(f"no shot {key!r} in {project.path}; shots: {listing}")


def resolve_track(shot: Shot, track: int | None = None) -> int:
    """The face track an edit addresses: `track` if given, else the shot's render track when it
    has curves, else its only track."""
    if not shot.curves:
        raise ProjectError(f"shot {shot.name!r} has no AU curves yet: run `facsimile project analyze` on it first")
    tracks = sorted(shot.curves)
    if track is not None:
        if int(track) not in shot.curves:
            raise ProjectError(f"shot {shot.name!r} has no curves for track {track}; tracks: "
                               + ", ".join(map(str, tracks)))
        return int(track)
    render_track = int(shot.render_settings.get("track", 0))
    if render_track in shot.curves:
        return render_track
    if len(tracks) == 1:
        return tracks[0]
    raise ProjectError(f"shot {shot.name!r} has {len(tracks)} face tracks ({', '.join(map(str, tracks))}): "
                       "choose one with --track")


def resolve_curve(cs: CurveSet, name: str) -> str:
    """A curve name of `cs` from what a user typed: exact, case-insensitive, or by AU number
    ('au12', '12', 'AU6' for AU06, '12L')."""
    if name in cs.base:
        return name
    name = {col: curve for curve, col in OPENFACE_GAZE.items()}.get(name.strip().lower(), name)  # the CSV's names
    low = {n.lower(): n for n in cs.names}
    if name.lower() in low:
        return low[name.lower()]
    m = re.fullmatch(r"(?:au)?0*(\d+)([lr]?)", name.strip(), flags=re.IGNORECASE)
    if m:
        num, side = int(m.group(1)), m.group(2).upper()
        # '12' is the bilateral AU12 (the old test 'endswith("") == False' matched nothing)
        hits = [n for n in cs.names if au_number(n) == num and (n.endswith(side) if side else n[-1] not in "LR")]
        if len(hits) == 1:
            return hits[0]
    raise ProjectError(f"no curve {name!r}; curves: {', '.join(cs.names)}")


# ---------------------------------------------------------------------- info
def curves_edited(cs: CurveSet) -> bool:
    """True when the artist changed anything over the extraction (keys, gains, smoothing, base)."""
    if cs.gains or cs.gain_keys or cs.enable_smooth or any(len(c) for lay in cs.layers for c in lay.curves.values()):
        return True
    return any(not np.array_equal(cs.base[n], cs.base_extracted[n], equal_nan=True) for n in cs.names)


def _library(project: Project, library: str | Path | None = None) -> Any:
    from core.identity.library import Library

    if library and not Path(library).is_dir():  # a mistyped --library found "no template" there
        raise ProjectError(f"library {library}: no such folder")
    return Library(library or project.library_path or None)


def project_warnings(project: Project, check_hash: bool = True) -> list[str]:
    """What a user should know before rendering: gains above GAIN_WARN, missing or changed
    plate files, identities missing from the library, a newer autosave."""
    out: list[str] = []
    notice = autosave_notice(project.path)
    if notice:
        out.append(notice)
    for pid, old in sorted(project.relocated.items()):
        out.append(f"plate {pid}: not at {old}; found beside the moved project at {project.plates[pid].path} (the "
                   "same file) and used from there: save the project to keep it")
    for pl in project.plates.values():
        check = check_plate(pl, check_hash=check_hash)
        if check.state != "ok":
            out.append(check.message)
    lib = None
    for s in project.shots:
        if s.lost_analysis and not s.has_analysis:
            out.append(f"shot {s.name}: its analysis file {s.lost_analysis} is missing; its curves and edits are kept, "
                       "but a neutral or filter change needs the analysis: `facsimile project analyze "
                       f"{project.path} --shot {s.id}` (edits are kept)")
        for t, cs in sorted(s.curves.items()):
            out.extend(f"shot {s.name} track {t}: {w}" for w in cs.warnings())
        if s.identity:
            try:
                lib = lib or _library(project)
                lib.get(s.identity)
            except FacsimileError as exc:
                out.append(f"shot {s.name}: identity template {s.identity!r} is missing: {exc}")
        pl = project.plates.get(s.plate_id)
        if pl is not None:
            a, b = s.range_with_handles
            stale = stale_curves(s, pl)
            if stale:
                out.append(f"shot {s.name}: {stale} (`facsimile project analyze {project.path} --shot {s.id}`)")
            if a < 0 or b >= pl.frame_count:
                out.append(f"shot {s.name}: range with handles {a}-{b} runs past the plate (0-{pl.frame_count - 1}); "
                           "analysis uses the frames that exist")
    return out


def stale_curves(shot: Shot, plate: Plate) -> str | None:
    """What is wrong when a shot's curves do not cover its range with handles on its plate (the
    shot was trimmed, or the plate relinked to another length), else None."""
    a, b = shot.range_with_handles
    want = (max(0, a), min(plate.frame_count - 1, b))
    stale = sorted({cs.frame_range for cs in shot.curves.values() if cs.frame_range != want})
    if not stale:
        return None
    return (f"curves cover frames {stale[0][0]}-{stale[0][1]} but the shot with handles is {want[0]}-{want[1]}: "
            "analyse it again")


def project_info(project: Project, check_hash: bool = True) -> dict:
    """A JSON-able description of the project (what `facsimile project info` prints)."""
    plates = []
    for pl in project.plates.values():
        plates.append({"id": pl.id, "path": pl.path, "fps": str(pl.fps), "fps_float": float(pl.fps),
                       "frames": pl.frame_count, "width": pl.width, "height": pl.height,
                       "timecode": pl.timecode or "00:00:00:00", "vfr": pl.vfr, "pixel_aspect": pl.pixel_aspect,
                       "colorspace": pl.colorspace, "missing": plate_missing(pl)})
    shots = []
    for s in project.shots:
        pl = project.plates.get(s.plate_id)
        tc_in = tc_out = None
        if pl is not None:
            tc_in, tc_out = pl.timecode_for_frame(s.frame_in), pl.timecode_for_frame(s.frame_out)
        shots.append({
            "id": s.id, "name": s.name, "plate": s.plate_id, "frame_in": s.frame_in, "frame_out": s.frame_out,
            "length": s.length, "handles": s.handles, "range_with_handles": list(s.range_with_handles),
            "timecode_in": tc_in, "timecode_out": tc_out, "analysed": s.has_analysis,
            "tracks": sorted(s.curves), "identity": s.identity, "render_settings": dict(s.render_settings),
            "curves_edited": {str(t): curves_edited(cs) for t, cs in sorted(s.curves.items())},
            "curve_frames": {str(t): list(cs.frame_range) for t, cs in sorted(s.curves.items())},
            "gains": {str(t): dict(cs.gains) for t, cs in sorted(s.curves.items()) if cs.gains},
            "gain_keys": {str(t): {n: [[k.frame, k.value] for k in c.keys] for n, c in sorted(cs.gain_keys.items())}
                          for t, cs in sorted(s.curves.items()) if cs.gain_keys},
        })
    return {"path": str(project.path), "name": project.name, "saved_at": project.saved_at,
            "library": project.library_path, "plates": plates, "shots": shots,
            "warnings": project_warnings(project, check_hash=check_hash)}


# ---------------------------------------------------------------------- shots
def _check_plate(project: Project, plate_id: str | None) -> Plate:
    if plate_id is None:
        if len(project.plates) == 1:
            return next(iter(project.plates.values()))
        raise ProjectError("the project has " + (f"{len(project.plates)} plates ({', '.join(project.plates)}): "
                                                 "choose one with --plate" if project.plates else
                                                 "no plates: add one with `facsimile project create --plate`"))
    if plate_id not in project.plates:
        raise ProjectError(f"no plate {plate_id!r} in the project; plates: {', '.join(project.plates) or 'none'}")
    return project.plates[plate_id]


def _push_added(project: Project, added: list[Shot], text: str, stack: UndoStack | None) -> None:
    """Re-add shots an editorial function added directly as one undoable step."""
    from core.project.commands import AddShot

    for s in added:
        project.shots.remove(s)
    if added:
        _push(stack, Macro(text, [AddShot(project, s) for s in added]))


def add_shot_range(project: Project, plate_id: str | None, first: int, last: int, name: str | None = None,
                   handles: int = 0, stack: UndoStack | None = None) -> Shot:
    """Add a shot of plate frames first..last (inclusive)."""
    from core.project.commands import AddShot

    plate = _check_plate(project, plate_id)
    if not 0 <= first <= last < plate.frame_count:
        raise ProjectError(f"range {first}-{last} is not within plate {plate.id} (frames 0-{plate.frame_count - 1})")
    if handles < 0:
        raise ProjectError("handles must be 0 or more")
    same = [sh for sh in project.shots if name and sh.name.lower() == name.lower()]  # --shot ignores case
    if same:
        raise ProjectError(f"a shot is named {name!r} already ({same[0].id}, frames {same[0].frame_in}-"
                           f"{same[0].frame_out}): choose another name, so --shot can tell them apart")
    sid = project.new_shot_id()
    shot = Shot(sid, name or project.unique_shot_name(sid), plate.id, int(first), int(last), int(handles),
                timecode=plate.timecode_for_frame(first))
    _push(stack, AddShot(project, shot))
    return shot


def add_shots_from_cut_list(project: Project, path: str | Path, plate_id: str | None = None, handles: int = 0,
                            stack: UndoStack | None = None) -> tuple[list[Shot], list[str]]:
    """Shots from a CMX 3600 .edl or .otio matched to the plate(s) by source timecode
    (editorial.import_cut_list); events that match no plate come back as problems."""
    from core.project.editorial import import_cut_list

    ids = [_check_plate(project, plate_id).id] if plate_id is not None else None
    added, problems = import_cut_list(project, path, plate_ids=ids, handles=handles)
    _push_added(project, added, f"Import cut list {Path(path).name}", stack)
    return added, problems


def add_shots_from_cut_detection(project: Project, plate_id: str | None, threshold: float = 27.0,
                                 min_scene_len: int = 15, handles: int = 0,
                                 stack: UndoStack | None = None) -> list[Shot]:
    """One shot per scene PySceneDetect finds in the plate (editorial.shots_from_cut_detection).
    A scene a shot of the plate already covers exactly (a detection run again) adds nothing."""
    from core.project.editorial import shots_from_cut_detection

    if not threshold > 0:
        raise ProjectError(f"the cut detection threshold must be above 0 (got {threshold}; default 27)")
    if min_scene_len < 1:
        raise ProjectError(f"the shortest scene must be at least 1 frame (got {min_scene_len})")
    plate = _check_plate(project, plate_id)
    if plate_missing(plate):
        raise MediaError(f"cannot detect cuts: plate {plate.id} file missing: {plate.path}")
    had = {(s.frame_in, s.frame_out) for s in project.shots if s.plate_id == plate.id}
    added = shots_from_cut_detection(project, plate.id, threshold=threshold, min_scene_len=min_scene_len,
                                     handles=handles)
    again = [s for s in added if (s.frame_in, s.frame_out) in had]
    for s in again:
        project.shots.remove(s)
    if again:
        log.info("%d scene(s) of plate %s are shots already: not added again", len(again), plate.id)
    added = [s for s in added if s not in again]
    _push_added(project, added, "Detect cuts", stack)
    return added


def trim_shot(project: Project, shot: Shot, first: int, last: int, handles: int | None = None,
              stack: UndoStack | None = None) -> Shot:
    """Change a shot's in/out (plate frames, inclusive) and optionally its handles. Keys stay on
    their plate frames; info warns when the curves no longer cover the new range."""
    from core.project.commands import SetShotRange

    plate = project.plate_of(shot)
    if not 0 <= first <= last < plate.frame_count:
        raise ProjectError(f"range {first}-{last} is not within plate {plate.id} (frames 0-{plate.frame_count - 1})")
    if handles is not None and handles < 0:
        raise ProjectError(f"handles must be 0 or more (got {handles})")
    _push(stack, SetShotRange(project, shot.id, first, last, handles=handles))
    return shot


def remove_shot(project: Project, shot: Shot, stack: UndoStack | None = None) -> None:
    """Remove a shot from the project (its analysis and curves stay in the backups)."""
    from core.project.commands import RemoveShot

    _push(stack, RemoveShot(project, shot.id))


# ---------------------------------------------------------------------- analysis
def analysis_range(project: Project, shot: Shot) -> tuple[int, int]:
    """Half-open plate frame range analysed for a shot: its range with handles, clipped to the plate."""
    plate = project.plate_of(shot)
    a, b = shot.range_with_handles
    a, b = max(0, a), min(plate.frame_count - 1, b)
    if b < a:
        raise ProjectError(f"shot {shot.name}: range {shot.frame_in}-{shot.frame_out} is outside plate {plate.id} "
                           f"(frames 0-{plate.frame_count - 1})")
    return a, b + 1


def analyze_shot(project: Project, shot: Shot, analyzer: Any = None, max_faces: int = 8,
                 progress: Callable[[int, int], None] | None = None, cancel: Callable[[], bool] | None = None,
                 stack: UndoStack | None = None) -> Any:
    """Run core.analysis.Analyzer on the shot's frames (with handles) of its plate and attach
    the ShotAnalysis to the shot (undoable). An interruption (KeyboardInterrupt,
    UserCancelled) leaves the shot untouched."""
    plate = project.plate_of(shot)
    if plate_missing(plate):
        raise MediaError(f"cannot analyse shot {shot.name}: plate {plate.id} file missing: {plate.path}")
    if analyzer is None:
        from core.analysis.analyzer import Analyzer

        analyzer = Analyzer(max_faces=max_faces)
    frames = analysis_range(project, shot)
    with open_fitting_plate(plate, f"analyse shot {shot.name}") as reader:  # another clip at its path: refused
        analysis = analyzer.analyze(reader, frames=frames, progress=progress, cancel=cancel,
                                    pixel_aspect=plate.pixel_aspect, colorspace=plate.colorspace)
    if analysis.n_frames and int(analysis.frame_indices[0]) != frames[0]:
        raise ProjectError(f"shot {shot.name}: the analysis starts at frame {int(analysis.frame_indices[0])}, "
                           f"expected {frames[0]}: not stored")
    _push(stack, SetAnalysis(shot, analysis))
    return analysis


@dataclass
class ExtractResult:
    tracks: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)  # tracks no longer in the analysis
    removed_edited: list[int] = field(default_factory=list)


def extract_shot_curves(shot: Shot, stack: UndoStack | None = None) -> ExtractResult:
    """Extract AU curves from the shot's analysis (project.extract_curves, keeping layers and
    gains of tracks that exist already) and attach them as one undoable step. Tracks the new
    analysis no longer has are removed (reported; the previous save keeps them in backups/).
    Raises CurvesUnavailable when the AU engine is missing (the analysis stays)."""
    from core.project.commands import SetCurveSet

    try:
        from core.facs import extract_shot  # noqa: F401
    except ImportError as exc:
        raise CurvesUnavailable(
            f"AU curves could NOT be extracted for shot {shot.name!r}: the AU engine (core.facs.extract_shot) is not "
            f"available in this build ({exc}). The analysis was kept; once the engine is installed run "
            f"`facsimile project analyze {shot._root or 'PATH'} --shot {shot.id} --extract-only`") from exc
    new = extract_curves(shot, keep_edits=True)
    res = ExtractResult(tracks=sorted(new))
    cmds: list[Command] = [SetCurveSet(shot, t, cs) for t, cs in sorted(new.items())]
    for t in sorted(set(shot.curves) - set(new)):
        res.removed.append(t)
        if curves_edited(shot.curves[t]):
            res.removed_edited.append(t)
        cmds.append(SetCurveSet(shot, t, None))
    _push(stack, Macro(f"Extract curves of {shot.name}", cmds))
    return res


def _analysed_fps(shot: Shot) -> float:
    a = shot.analysis
    fps = float(getattr(a, "fps", 0) or 0) if a is not None else 0.0
    return fps if fps > 0 else 25.0


def _analysed_times(shot: Shot, frames: np.ndarray) -> np.ndarray | None:
    """Seconds of plate frames `frames` from the shot's analysis (a variable frame rate plate's
    own frame times, for the curve filter); frames the analysis did not record are placed
    between its neighbours (their rows hold no value and are never filtered) or, outside its
    range, a nominal frame apart. None when there is no analysis or it has no times."""
    a = shot.analysis
    fi = np.asarray(getattr(a, "frame_indices", ()), np.int64) if a is not None else np.zeros(0, np.int64)
    ts = np.asarray(getattr(a, "timestamps", ()), np.float64) if a is not None else np.zeros(0)
    if len(fi) < 2 or ts.shape != fi.shape or not np.isfinite(ts).all():
        return None
    f = np.asarray(frames, np.int64)
    step = 1.0 / _analysed_fps(shot)
    return np.where(f < fi[0], ts[0] + (f - fi[0]) * step,
                    np.where(f > fi[-1], ts[-1] + (f - fi[-1]) * step, np.interp(f, fi, ts)))


def calibration_summary(cs: CurveSet | Mapping, detail: bool = True) -> str:
    """One line saying how a face's AU curves were measured (neutral and filter), for the CLI and
    the studio's inspector, from a CurveSet or its extraction record (core.curves.curveset.
    extraction_of for a FaceAUs); detail=False leaves out the auto neutral's frames per region."""
    from core.curves.curveset import frame_ranges

    ext = cs.extraction if isinstance(cs, CurveSet) else cs
    cal = ext.get("calibration") or {}
    method = cal.get("method")
    if method == "frame":
        how = f"neutral frame {cal.get('frame')}"
    elif method == "auto":
        zones = cal.get("neutral_frames") or []
        regions = cal.get("regions") or [f"region {i + 1}" for i in range(len(zones))]
        how = "auto neutral"
        if detail and zones:
            how += " (" + "; ".join(f"{r} {frame_ranges(z)}" for r, z in zip(regions, zones, strict=False)) + ")"
    elif method == "canonical":
        how = "canonical neutral (too few frames for an automatic one" + (
            ": face shape may read as expression)" if detail else ")")
    else:
        how = "neutral not recorded (extracted before this was kept)"
    line = f"{how}; filter {ext.get('filter', 'one_euro')}" + (f"; note: {cal['note']}" if cal.get("note") else "")
    return line + _eye_state_note(cal) + _stale_model_note(cal)


def _eye_state_note(calibration: Mapping) -> str:
    """'; eyes read shut by appearance on N frames (...)' when the open-eye check lifted any
    (core.facs.eyes), so a user comparing AU45 with the lid landmarks knows why it reads 5."""
    lifted = (calibration.get("eye_state") or {}).get("frames_lifted") or [0, 0]
    if not sum(lifted):
        return ""
    return f"; eyes read shut by appearance on {lifted[0]} (right) / {lifted[1]} (left) frames"


def _stale_model_note(calibration: Mapping) -> str:
    """'; solved with AU model X, ...' when a face's curves were solved with other AU bases than the
    ones installed (its values then differ from a fresh extraction of the same plate), else ''."""
    from core.facs.model import model_version

    used = calibration.get("au_model")
    if not used:
        return ""  # extracted before the model version was recorded: nothing to compare
    current = model_version()
    if used == current:
        return ""
    return (f"; solved with AU model {used}, installed is {current}: choose the neutral again "
            "(`facsimile project calibrate --neutral auto` or a frame; in the studio, Curves > Automatic "
            "Neutral) to re-solve them with it, edits kept")


def neutral_frame_command(shot: Shot, frame: int | None, track: int | None = None,
                          progress: Callable[[int, int], None] | None = None) -> Command:
    """The undoable step that measures one face's AU curves from its neutral at plate frame
    `frame` (a frame where the performer is at rest), or with None from the automatic
    per-region neutral: re-solved from the kept landmarks (no re-analysis of the images),
    layers, gains and the filter kept. Computes now (about a second per 1000 frames), changes
    nothing until pushed: a GUI computes it off its main thread and pushes it there, with
    `progress` (done, total) for its progress bar and Cancel (core.facs.extract_shot)."""
    from core.project.commands import SetCurveSet

    t = resolve_track(shot, track)
    analysis = shot.analysis
    if analysis is None:
        raise ProjectError(f"shot {shot.name!r} has not been analysed yet: analyse it first")
    fi = np.asarray(analysis.frame_indices)
    if frame is not None:
        frame = int(frame)
        if not len(fi) or not fi[0] <= frame <= fi[-1]:
            raise ProjectError(f"neutral frame {frame} is outside shot {shot.name}'s analysed frames "
                               f"{int(fi[0]) if len(fi) else '-'}-{int(fi[-1]) if len(fi) else '-'}")
    new = extract_curves(shot, keep_edits=True, neutral={t: frame}, tracks=[t], progress=progress).get(t)
    if new is None:
        raise ProjectError(f"shot {shot.name!r}: track {t} is not in the analysis; analyse the shot again")
    cmd = SetCurveSet(shot, t, new)
    cmd.text = f"Neutral of {shot.name} face {t}: " + ("auto" if frame is None else f"frame {frame}")
    return cmd


def set_neutral_frame(shot: Shot, frame: int | None, track: int | None = None,
                      stack: UndoStack | None = None) -> CurveSet:
    """neutral_frame_command, pushed (one undoable step). Returns the face's new CurveSet."""
    cmd = neutral_frame_command(shot, frame, track)
    _push(stack, cmd)
    new = cmd.new  # type: ignore[attr-defined]
    note = new.extraction.get("calibration", {}).get("note")
    if note:
        log.warning("shot %s: %s", shot.name, note)
    return new


def curve_filter_command(shot: Shot, filter: str, track: int | None = None) -> Command:
    """The undoable step that filters the AU, pose and gaze curves of one face (or, with track
    None, every face) with `filter` (one_euro | savgol | none), from the kept per-frame solve:
    no re-analysis and no re-solve. Layers and gains are kept; like a re-extraction, the base
    becomes the newly filtered extraction."""
    from core.curves.curveset import DEFAULT_EXTRACTION
    from core.project.commands import SetCurveSet
    from core.project.schema import EXTRACTION_FILTERS

    try:
        from core.facs import filter_curves
    except ImportError as exc:
        raise CurvesUnavailable(f"the AU engine (core.facs) is not available in this build: {exc}") from exc
    if filter not in EXTRACTION_FILTERS:
        raise ProjectError(f"filter must be one of {', '.join(EXTRACTION_FILTERS)}, got {filter!r}")
    tracks = [resolve_track(shot, track)] if track is not None else sorted(shot.curves)
    if not tracks:
        raise ProjectError(f"shot {shot.name!r} has no curves yet: analyse it first")
    fps = _analysed_fps(shot)
    cmds: list[Command] = []
    for t in tracks:
        cs = shot.curves[t]
        names = [n for n in cs.names if n in cs.base_raw]
        if not names:
            raise ProjectError(f"shot {shot.name!r} face {t}: no per-frame solve is kept (imported curves?); "
                               "extract the curves again to filter them")
        raw = np.stack([cs.base_raw[n] for n in names], axis=1)
        out = filter_curves(raw, names, fps, filter, timestamps=_analysed_times(shot, cs.all_frames()))
        filtered = {n: out[:, i] for i, n in enumerate(names)}
        base = {n: filtered.get(n, cs.base_extracted[n]) for n in cs.names}
        new = CurveSet(cs.names, cs.frame_range, base=base, base_raw=cs.base_raw, confidence=cs.confidence,
                       success=cs.success, extraction={**DEFAULT_EXTRACTION, **cs.extraction, "filter": filter})
        new.take_edits_from(cs)
        cmds.append(SetCurveSet(shot, t, new))
    return Macro(f"Filter {shot.name}: {filter}", cmds)


def set_curve_filter(shot: Shot, filter: str, track: int | None = None, stack: UndoStack | None = None) -> list[int]:
    """curve_filter_command, pushed (one undoable step); returns the tracks changed."""
    cmd = curve_filter_command(shot, filter, track)
    _push(stack, cmd)
    return [c.track for c in cmd.commands]  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- curve edits
def set_key(shot: Shot, curve: str, frame: int, value: float, layer: str = DEFAULT_LAYER,
            interp: str | Interp = Interp.BEZIER, track: int | None = None,
            stack: UndoStack | None = None) -> tuple[int, str]:
    """Add (or replace) a key on `layer` of the curve at plate frame `frame`. Returns (track, curve name)."""
    from core.project.commands import AddKey

    t, cs, name, ip = _key_target(shot, curve, track, interp, value)
    if is_au(name) and abs(float(value)) > 5.0:  # an AU is 0..5 (an additive layer's key may take some away)
        raise ProjectError(f"{name} key {value} is outside the AU scale: 0..5 (FACS A-E), -5..5 on an additive "
                           "layer")
    _check_key_frame(shot, frame)
    _push(stack, AddKey(cs, layer, name, Key(int(frame), float(value), ip)))
    return t, name


def _key_target(shot: Shot, curve: str, track: int | None, interp: str | Interp,
                value: float) -> tuple[int, CurveSet, str, Interp]:
    """(track, CurveSet, curve name, interpolation) a key goes to; ProjectError for a bad
    interpolation or a value that is not a finite number."""
    t = resolve_track(shot, track)
    cs = shot.curves[t]
    name = resolve_curve(cs, curve)
    try:
        ip = Interp(str(interp).lower())
    except ValueError as exc:
        raise ProjectError(f"interpolation must be one of {', '.join(i.value for i in Interp)}, got {interp!r}") from exc
    if not math.isfinite(float(value)):
        raise ProjectError(f"key value must be a finite number, got {value}")
    return t, cs, name, ip


def _check_key_frame(shot: Shot, frame: int) -> None:
    a, b = shot.range_with_handles
    if not a <= int(frame) <= b:
        raise ProjectError(f"frame {frame} is outside shot {shot.name} ({a}-{b} with handles)")


def key_value(shot: Shot, curve: str, frame: int, value: float, layer: str = DEFAULT_LAYER,
              interp: str | Interp = Interp.BEZIER, track: int | None = None,
              stack: UndoStack | None = None) -> tuple[int, str, float]:
    """Key the curve so that it reads `value` at plate `frame` (after the layers and the AU's
    gain, as the studio's graph shows it): the key on `layer` that does so is worked out and
    set (on the additive Edit layer, the difference from what the curve reads there). Returns
    (track, curve name, the layer key's value). Refused where no key on the layer can reach the
    value: no face on that frame, a gain of 0, a layer above that overrides the curve, a muted layer."""
    from core.curves import Curve, Layer
    from core.project.commands import AddKey, pre_gain

    t, cs, name, ip = _key_target(shot, curve, track, interp, value)
    v = float(value)
    if is_au(name) and not 0.0 <= v <= 5.0:
        raise ProjectError(f"{name} value {value} is outside the AU scale 0..5 (FACS A-E)")
    _check_key_frame(shot, frame)
    f = int(frame)
    layers = list(cs.layers)
    if not any(lay.name == layer for lay in layers):
        layers.append(Layer(layer))  # AddKey creates it, additive, on top
    target = next(lay for lay in layers if lay.name == layer)
    if target.muted:
        raise ProjectError(f"layer {layer!r} is muted: a key there changes nothing; unmute it or key another layer")

    at = np.array([f])
    gain = float(cs.gain_at(name, at)[0])
    kept = [k for k in (target.curves[name].keys if name in target.curves else ()) if k.frame != f]

    def reads(x: float) -> float:  # the curve at f, gain applied, before the 0..5 clamp, with key x on the layer
        tried = Curve([*kept, Key(f, x, ip)])
        return float(pre_gain(cs, name, at, layers=layers, swap=(target, tried))[0]) * gain

    r0, r1 = reads(0.0), reads(1.0)
    if not (math.isfinite(r0) and math.isfinite(r1)):
        raise ProjectError(f"{name} has no value at frame {f} (no face was measured there); "
                           "key the layer itself with --layer-value")
    if abs(r1 - r0) < 1e-9:
        raise ProjectError(f"no key on layer {layer!r} changes {name} at frame {f}: its gain is 0 there or a layer "
                           "above overrides it")
    x = (v - r0) / (r1 - r0)
    _push(stack, AddKey(cs, layer, name, Key(f, x, ip)))
    return t, name, x


def _au_targets(cs: CurveSet, au: int | str) -> list[str]:
    """Curves an AU number addresses: AUn, AUnL, AUnR (43 drives the AU45 blink curve); a full
    curve name addresses that curve only."""
    s = str(au).strip()
    m = re.fullmatch(r"(?:au)?0*(\d+)", s, flags=re.IGNORECASE)
    if m is None:
        return [resolve_curve(cs, s)]
    num = AU_ALIASES.get(int(m.group(1)), int(m.group(1)))
    hits = [n for n in cs.names if au_number(n) == num]
    if not hits:
        raise ProjectError(f"no curve for AU{int(m.group(1))}; AU curves: {', '.join(n for n in cs.names if is_au(n))}")
    return hits


def set_gain(shot: Shot, au: int | str, gain: float, track: int | None = None,
             stack: UndoStack | None = None, frame: int | None = None) -> list[str]:
    """Set an AU's gain (0..2) on every curve of that AU (both sides). Without `frame` this is
    the static gain (used while the AU has no gain keys); with `frame` it keys the animated
    gain at that plate frame (adding or editing the key there). Returns the curve names."""
    from core.project.commands import SetGain, SetGainKey

    cs = shot.curves[resolve_track(shot, track)]
    names = _au_targets(cs, au)
    if not math.isfinite(float(gain)):
        raise ProjectError(f"gain must be a finite number, got {gain}")
    if frame is None:
        _push(stack, Macro(f"Set AU{au} gain", [SetGain(cs, n, float(gain)) for n in names]))
    else:
        a, b = shot.range_with_handles
        if not a <= int(frame) <= b:
            raise ProjectError(f"frame {frame} is outside shot {shot.name} ({a}-{b} with handles)")
        _push(stack, SetGainKey(cs, names, int(frame), float(gain)))
    return names


def delete_gain_keys(shot: Shot, au: int | str, frames: Iterable[int] | None = None, track: int | None = None,
                     stack: UndoStack | None = None) -> list[str]:
    """Delete an AU's gain keys on `frames` (None: all: the static gain applies again), both
    sides. Returns the curve names."""
    from core.project.commands import DeleteGainKeys

    cs = shot.curves[resolve_track(shot, track)]
    names = _au_targets(cs, au)
    keyed = {n: {k.frame for k in cs.gain_keys[n].keys} for n in names if cs.has_gain_keys(n)}
    wanted = None if frames is None else {int(f) for f in frames}
    if not any(wanted is None or fs & wanted for fs in keyed.values()):
        where = "" if wanted is None else " at frame " + ", ".join(str(f) for f in sorted(wanted))
        raise ProjectError(f"{', '.join(names)} has no gain key{where}: nothing to delete")
    _push(stack, DeleteGainKeys(cs, names, frames))
    return names


def apply_preset(shot: Shot, preset: Mapping | str | Path, track: int | None = None,
                 stack: UndoStack | None = None) -> dict:
    """Apply a micro-expression preset ({"enable_smooth": bool, "au_gain": {"12": 0.8}}, or a
    path to its JSON file) as one undo step. Returns the validated preset."""
    from core.project.commands import ApplyPreset

    try:
        p = load_preset(preset) if isinstance(preset, str | Path) else validate_preset(preset)
    except ValueError as exc:
        raise ProjectError(str(exc)) from exc
    cs = shot.curves[resolve_track(shot, track)]
    known = {AU_ALIASES.get(n, n) for n in p.get("au_gain", {})}
    missing = sorted(n for n in known if not any(au_number(c) == n for c in cs.names))
    if missing:
        log.warning("preset gains for AU%s have no curve in shot %s (ignored)", ", AU".join(map(str, missing)),
                    shot.name)
    _push(stack, ApplyPreset(cs, p))
    return p


# ---------------------------------------------------------------------- identity, render settings
def assign_identity(project: Project, shot: Shot, template: str, library: str | Path | None = None,
                    stack: UndoStack | None = None) -> Any:
    """Assign an identity template (by id, id prefix or name) that must exist in the library
    (`library`, else the project's, else the user's default). Records the library folder in
    the project when given. Returns the Template."""
    from core.project.commands import SetShotFields

    lib = _library(project, library)
    t = lib.get(template)
    cmds: list[Command] = [SetShotFields(project, shot.id, identity=t.id)]
    if library is not None and project.library_path != str(Path(library).resolve()):
        cmds.append(SetLibraryPath(project, str(Path(library).resolve())))
    _push(stack, Macro(f"Assign {t.name} to {shot.name}", cmds))
    return t


def render_settings_fields() -> dict[str, type]:
    """RenderSettings field names and their types."""
    from core.render.renderer import RenderSettings

    types = {"str": str, "bool": bool, "float": float, "int": int}
    return {f.name: types.get(str(f.type), str) for f in fields(RenderSettings)}


def _coerce(name: str, text: Any, kind: type) -> Any:
    if not isinstance(text, str):
        return text
    try:
        if kind is bool:
            low = text.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            return int(text)
        if kind is float:
            v = float(text)
            if not math.isfinite(v):
                raise ValueError
            return v
    except ValueError as exc:
        what = {bool: "true or false", int: "an integer", float: "a number"}[kind]
        raise ProjectError(f"render setting {name}: expected {what}, got {text!r}") from exc
    return text


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    """['mode=swap', 'feather=0.1'] -> {'mode': 'swap', 'feather': 0.1}, typed by RenderSettings;
    unknown names are an error that lists the known ones."""
    known = render_settings_fields()
    out: dict[str, Any] = {}
    bad = []
    for item in items:
        if "=" not in item:
            raise ProjectError(f"{item!r}: expected key=value, e.g. mode=swap")
        k, v = item.split("=", 1)
        k = k.strip().replace("-", "_")
        if k not in known:
            bad.append(k)
            continue
        out[k] = _coerce(k, v.strip(), known[k])
    if bad:
        raise ProjectError(f"unknown render setting(s): {', '.join(bad)}; known: {', '.join(known)}")
    return out


def set_render_settings(project: Project, shot: Shot, updates: Mapping[str, Any],
                        stack: UndoStack | None = None) -> dict:
    """Merge `updates` into the shot's render settings, validated as a whole by
    RenderSettings.from_json (a bad value changes nothing). Returns the stored settings."""
    from core.project.commands import SetShotFields
    from core.render.renderer import RenderSettings

    known = render_settings_fields()
    unknown = sorted(set(updates) - set(known))
    if unknown:
        raise ProjectError(f"unknown render setting(s): {', '.join(unknown)}; known: {', '.join(known)}")
    merged = dict(shot.render_settings)
    merged.update({k: _coerce(k, v, known[k]) for k, v in updates.items()})
    RenderSettings.from_json(merged)  # raises FacsimileError naming each bad field
    if "track" in updates and shot.curves and int(merged["track"]) not in shot.curves:
        raise ProjectError(f"shot {shot.name!r} has no face track {merged['track']}; tracks: "
                           + ", ".join(map(str, sorted(shot.curves))))
    _push(stack, SetShotFields(project, shot.id, render_settings=merged))
    return merged


# ---------------------------------------------------------------------- evaluated curves out
@dataclass
class CurveTable:
    """Evaluated curves of one track of a shot: plate frames, seconds, base and edited values."""

    shot: str
    track: int
    fps: Fraction
    frames: np.ndarray
    timestamps: np.ndarray
    names: list[str]
    base: np.ndarray  # (K, N): base curves (what layers build on; no gain, no clamp)
    edited: np.ndarray  # (K, N): final values (layers, gain, clamp)
    confidence: np.ndarray
    success: np.ndarray

    def to_json(self) -> dict:
        def clean(a: np.ndarray) -> list:
            return [None if not math.isfinite(x) else round(float(x), 6) for x in a]

        return {"shot": self.shot, "track": self.track, "fps": str(self.fps),
                "frames": [int(f) for f in self.frames], "timestamps": clean(self.timestamps),
                "confidence": clean(self.confidence), "success": [bool(s) for s in self.success],
                "curves": {n: {"base": clean(self.base[i]), "edited": clean(self.edited[i])}
                           for i, n in enumerate(self.names)}}

    def csv_text(self) -> str:
        """OpenFace-style CSV (', ' separated header; `frame` 1-based as OpenFace writes it,
        `plate_frame` the 0-based plate frame keys use): edited values as AUxx_r, base as AUxx_r_base."""
        buf = io.StringIO()
        cols = ["frame", "face_id", "timestamp", "confidence", "success", "plate_frame"]
        cols += [openface_column(n) for n in self.names] + [f"{openface_column(n)}_base" for n in self.names]
        buf.write(", ".join(cols) + "\n")
        w = csv.writer(buf, lineterminator="\n")
        for j, f in enumerate(self.frames):
            row: list = [int(f) + 1, self.track, f"{self.timestamps[j]:.6f}", f"{self.confidence[j]:.3f}",
                         int(bool(self.success[j])), int(f)]
            row += [f"{v:.6f}" if math.isfinite(v) else "nan" for v in self.edited[:, j]]
            row += [f"{v:.6f}" if math.isfinite(v) else "nan" for v in self.base[:, j]]
            w.writerow(row)
        return buf.getvalue()


def curve_table(project: Project, shot: Shot, track: int | None = None,
                frames: tuple[int, int] | None = None) -> CurveTable:
    """Evaluate every curve of a track of the shot on its analysed frames (or `frames`,
    inclusive plate frames; frames outside the analysed range have no value: NaN, success 0)."""
    t = resolve_track(shot, track)
    cs = shot.curves[t]
    lo, hi = frames if frames is not None else cs.frame_range
    if hi < lo:
        raise ProjectError(f"frame range {lo}-{hi} is empty")
    n = project.plate_of(shot).frame_count
    if n and (lo < 0 or hi >= n):  # frames the plate has not got (70-200 of 78 wrote 123 rows of nan)
        raise ProjectError(f"frames {lo}-{hi} are outside plate {shot.plate_id} (frames 0-{n - 1})")
    fr = np.arange(int(lo), int(hi) + 1)
    fps = project.plate_of(shot).fps
    ts = fr / float(fps)
    if shot.has_analysis:
        a = shot.analysis
        idx = {int(f): i for i, f in enumerate(a.frame_indices)}
        ts = np.array([a.timestamps[idx[int(f)]] if int(f) in idx else f / float(fps) for f in fr])
    names, edited = cs.evaluate_matrix(fr)
    edited = np.where(fr >= cs.frame_range[0], np.where(fr <= cs.frame_range[1], edited, np.nan), np.nan)
    pos = np.clip(fr - cs.frame_range[0], 0, cs.n_frames - 1)
    inside = (fr >= cs.frame_range[0]) & (fr <= cs.frame_range[1])
    if not inside.all():
        log.warning("shot %s: frames %d-%d are asked for, the curves cover %d-%d: %d frame(s) outside have no value "
                    "(nan, success 0)", shot.name, lo, hi, cs.frame_range[0], cs.frame_range[1], int((~inside).sum()))
    base = np.stack([np.where(inside, cs.base[n][pos], np.nan) for n in names]) if names else np.zeros((0, fr.size))
    conf = np.where(inside, cs.confidence[pos], 0.0) if cs.confidence is not None else np.zeros(fr.size)
    if cs.success is not None:
        succ = np.where(inside, cs.success[pos], False)
    else:
        succ = inside & np.all(np.isfinite(base), axis=0) if names else inside
    return CurveTable(shot.name, t, fps, fr, np.asarray(ts, float), names, base, edited, conf, succ)


def write_curves(table: CurveTable, path: str | Path) -> Path:
    """Write a CurveTable as .csv (OpenFace-style) or .json, atomically."""
    from core.util.atomic import atomic_write_text

    p = Path(path)
    ext = p.suffix.lower()
    if ext == ".csv":
        atomic_write_text(p, table.csv_text())
    elif ext == ".json":
        atomic_write_text(p, json.dumps(table.to_json(), indent=1) + "\n")
    else:
        raise ProjectError(f"{p}: curves are written as .csv or .json")
    return p


__all__ = [
    "CurveTable", "CurvesUnavailable", "ExtractResult", "SetAnalysis", "SetLibraryPath", "add_shot_range",
    "calibration_summary", "curve_filter_command", "neutral_frame_command",
    "add_shots_from_cut_detection", "add_shots_from_cut_list", "analysis_range", "analyze_shot", "apply_preset",
    "assign_identity", "autosave_notice", "create_project", "curve_table", "curves_edited", "extract_shot_curves",
    "open_project", "parse_assignments", "plate_missing", "project_folder", "project_info", "project_warnings",
    "read_plate", "recover_project", "relink_folder", "relink_plate", "remove_shot", "SavedElsewhere", "save_analyses", "save_project", "trim_shot", "recovery_options", "render_settings_fields", "resolve_curve",
    "resolve_shot", "resolve_track", "delete_gain_keys", "set_curve_filter", "set_gain", "set_key", "key_value", "set_neutral_frame",
    "set_render_settings", "write_curves",
]
