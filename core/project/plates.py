"""Plate files against the project's record of them: is the file there, is it the one the
shots were analysed on, and pointing a plate at its new place (relinking) when it moved.

A project records each plate's path, frame count, size, rate, timecode and a quick hash
(core.project.model.file_hash). Shots, analyses and curves are counted in that plate's
frames, so a plate file that now has another frame count, size or rate does not fit them:
renders refuse it and relinking to it needs `force`. A file with the same facts but another
hash (a re-grade, a re-export, a copy through another codec) fits; it is reported, not refused.

API
---
plate_missing(plate) -> bool
fact_differences(plate, facts) -> (major, minor)   (lists of "frame count 90 (the project has 100)")
check_plate(plate, media=None, check_hash=True) -> PlateCheck
open_fitting_plate(plate, what) -> reader   (PlateMismatch when the file does not fit the record)
relink_plate(project, plate_id, media, force=False, stack=None) -> (Plate, notes)
    (media: a file, a sequence pattern, or one file of a sequence when the plate is one)
relink_moved(project, plate_id, media, force=False, stack=None) -> (relinked ids, notes)
    (the plate, and every other missing plate found where that move puts it: one undo step)
relink_folder(project, old_folder, new_folder, force=False, stack=None) -> (relinked ids, not found ids)
moved_roots(old_path, new_path) -> (old folder, new folder)
interpret_plate(project, plate_id, colorspace=KEEP, pixel_aspect=KEEP, stack=None) -> (Plate, notes)
    (what the files do not say: a camera log plate's colour space, an untagged anamorphic's aspect)
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path, PurePath
from typing import Any

from core.errors import ProjectError
from core.project.model import Plate, Project, file_hash, media_hash
from core.project.undo import Command, Macro, UndoStack


class PlateMismatch(ProjectError):
    """A file offered for a plate has another frame count, size or rate than the plate's record
    (`differences`); relinking to it anyway needs force."""

    def __init__(self, message: str, differences: list[str]) -> None:
        super().__init__(message)
        self.differences = differences


def is_pattern(path: str | Path) -> bool:
    """True for an image-sequence pattern (shot.####.exr, shot.%04d.exr, shot.@@@@.exr), not a
    file that merely has such a character in its name (core.media.reader.names_image_sequence)."""
    from core.media.reader import names_image_sequence

    return names_image_sequence(path)


def plate_missing(plate: Plate) -> bool:
    """True when the plate's media cannot be found (sequences: no member file)."""
    p = Path(plate.path)
    if is_pattern(p):
        if not p.parent.is_dir():
            return True
        pre = re.split(r"#|%|@", p.name, maxsplit=1)[0]
        return not any(f.name.startswith(pre) for f in p.parent.iterdir())
    return not p.exists()


def fact_differences(plate: Plate, facts: Any) -> tuple[list[str], list[str]]:
    """How media facts (a reader's info or a Plate: frame_count, width, height, fps, timecode)
    differ from the project's record of the plate. Major ones (frame count, size, rate) mean the
    shots' frames, analyses and curves do not fit the file; minor ones (start timecode, pixel
    aspect) change only the timecode a render is stamped with or the aspect it is tagged with
    (an analysis keeps the aspect its landmarks were measured at)."""
    major: list[str] = []
    minor: list[str] = []
    n = int(getattr(facts, "frame_count", 0) or 0)
    if n != int(plate.frame_count):
        major.append(f"frame count {n} (the project has {plate.frame_count})")
    w, h = int(getattr(facts, "width", 0) or 0), int(getattr(facts, "height", 0) or 0)
    if (w, h) != (int(plate.width), int(plate.height)):
        major.append(f"size {w}x{h} (the project has {plate.width}x{plate.height})")
    fps = Fraction(getattr(facts, "fps", 0) or 0)
    if fps != plate.fps:
        major.append(f"frame rate {float(fps):.6g} (the project has {float(plate.fps):.6g})")
    par = float(getattr(facts, "pixel_aspect", 1.0) or 1.0)
    if abs(par - plate.pixel_aspect) > 1e-3:
        minor.append(f"pixel aspect {par:.4g} (the project has {plate.pixel_aspect:.4g})")
    tc = getattr(facts, "timecode", None) or None
    if tc != (plate.timecode or None):
        minor.append(f"start timecode {tc or 'none'} (the project has {plate.timecode or 'none'})")
    return major, minor


@dataclass(frozen=True)
class PlateCheck:
    """What check_plate found. state: "ok", "missing", "unreadable", "different" (the frames do
    not fit the record: `differences`) or "changed" (same facts, other content: a re-grade or a
    re-export; the shots still fit)."""

    plate_id: str
    path: str
    state: str
    message: str = ""
    differences: tuple[str, ...] = field(default=())

    @property
    def fits(self) -> bool:
        """True when the shots' frames fit the file (it is there, and its facts are the record's)."""
        return self.state in ("ok", "changed")


def check_plate(plate: Plate, media: Any = None, check_hash: bool = True) -> PlateCheck:
    """Compare a plate file with the project's record: present, same facts (when `media`, an open
    reader of it, is given: opening is the caller's choice, as it reads a long-GOP file whole) and
    same quick hash. A file whose hash differs is opened to compare its facts when `media` was not
    given, so the answer tells a re-grade ("changed") from another clip ("different"). Never
    raises for a file problem; the answer says what it is."""
    pid, path = plate.id, plate.path
    if plate_missing(plate):
        return PlateCheck(pid, path, "missing", f"plate {pid}: file missing: {path} (relink it: "
                          f"`facsimile project relink PROJECT --plate {pid} NEW_PATH`)")
    if media is not None:
        major, _minor = fact_differences(plate, media.info)
        if major:
            return PlateCheck(pid, path, "different",
                              f"plate {pid}: {path} is not the plate its shots were analysed on: "
                              + "; ".join(major) + ". Relink the plate to the right file, or analyse its shots again "
                              "after `facsimile project relink PROJECT --plate ID PATH --force`", tuple(major))
    if check_hash and plate.hash:
        try:
            digest = media_hash(path, media) if media is not None else (file_hash(path) if Path(path).is_file()
                                                                         else None)
        except OSError as exc:
            return PlateCheck(pid, path, "unreadable", f"plate {pid}: cannot read {path}: {exc.strerror or exc}")
        if digest is not None and digest != plate.hash:
            if media is None:  # another file: is it even the same length, size and rate?
                from core.errors import MediaError
                from core.media.reader import open_media

                try:
                    with open_media(path) as reader:
                        facts = check_plate(plate, reader, check_hash=False)
                    return facts if facts.state == "different" else _changed(pid, path)
                except (MediaError, OSError) as exc:
                    return PlateCheck(pid, path, "unreadable", f"plate {pid}: cannot read {path}: {exc}")
            return _changed(pid, path)
    return PlateCheck(pid, path, "ok")


def _changed(pid: str, path: str) -> PlateCheck:
    return PlateCheck(pid, path, "changed", f"plate {pid}: {path} changed since it was added (same frame "
                      "count, size and rate: a re-grade or re-export?); frames may not match the analysis")


def open_fitting_plate(plate: Plate, what: str) -> Any:
    """An open reader of the plate's file, its facts checked against the project's record: a file
    of another frame count, size or rate raises PlateMismatch (`what` says what was refused), so
    nothing is analysed or rendered on frames that are not the shots' frames."""
    from core.errors import MediaError
    from core.media.reader import open_media

    gone = check_plate(plate, check_hash=False)
    if gone.state == "missing":  # said with the way on (relink), not the reader's "file not found"
        raise MediaError(f"cannot {what}: {gone.message}")
    reader = open_media(plate.path)
    check = check_plate(plate, reader, check_hash=False)
    if not check.fits:
        reader.close()
        raise PlateMismatch(f"cannot {what}: {check.message}", list(check.differences))
    return reader


class RelinkPlate(Command):
    """Replace a plate's record (path, hash, facts) with another; undo puts the old one back."""

    def __init__(self, project: Project, new: Plate) -> None:
        if new.id not in project.plates:
            raise KeyError(f"no plate {new.id!r} in the project")
        self.project, self.new, self.old = project, new, project.plates[new.id]
        self.text = f"Relink plate {new.id}"

    def do(self) -> None:
        self.project.plates[self.new.id] = self.new

    def undo(self) -> None:
        self.project.plates[self.old.id] = self.old


def _relink_command(project: Project, plate_id: str, media: str | Path, force: bool) -> tuple[RelinkPlate, list[str]]:
    """The command relinking one plate, and its notes; ProjectError when the file does not fit."""
    if plate_id not in project.plates:
        raise ProjectError(f"no plate {plate_id!r} in the project (plates: {', '.join(sorted(project.plates))})")
    old = project.plates[plate_id]
    m = Path(media)
    if not m.exists() and not is_pattern(m):
        raise ProjectError(f"cannot relink plate {plate_id}: {m} does not exist")
    if is_pattern(old.path) and not is_pattern(m):
        from core.media.reader import sequence_pattern

        m = Path(sequence_pattern(m) or m)  # one file of the sequence picked: the plate stays a sequence
    new = Plate.from_media(m, plate_id=plate_id)
    # what the user said the files do not say stays with the plate: its colour space, and its
    # pixel aspect unless the new file is tagged with one
    new.colorspace = old.colorspace
    if new.pixel_aspect == 1.0:
        new.pixel_aspect = old.pixel_aspect
    major, minor = fact_differences(old, new)
    shots = [s.name for s in project.shots if s.plate_id == plate_id]
    notes = [f"plate {plate_id}: {d}" for d in minor]
    if major:
        if not force:
            raise PlateMismatch(f"{m} does not fit plate {plate_id}: " + "; ".join(major)
                                + (f". Shots {', '.join(shots)} were analysed on the recorded frames" if shots else "")
                                + ". Pick the right file, or relink with --force and analyse the shots again", major)
        notes.append(f"plate {plate_id} relinked to a file that differs ({'; '.join(major)}): analyse "
                     + (f"shots {', '.join(shots)} again" if shots else "its shots again"))
    return RelinkPlate(project, new), notes


def relink_plate(project: Project, plate_id: str, media: str | Path, force: bool = False,
                 stack: UndoStack | None = None) -> tuple[Plate, list[str]]:
    """Point plate `plate_id` at `media` (a moved or renamed file, or a sequence pattern), taking
    its hash and facts. The file must have the recorded frame count, size and rate (the shots'
    analyses and curves are counted in those frames) unless `force`. Returns the new record and
    notes (a different start timecode; with force, the shots to analyse again). Undoable."""
    cmd, notes = _relink_command(project, plate_id, media, force)
    (stack if stack is not None else UndoStack()).push(cmd)
    return cmd.new, notes


def moved_roots(old_path: str | Path, new_path: str | Path) -> tuple[PurePath, PurePath]:
    """The folders a move maps, one onto the other: the two paths' folders less their longest
    common tail (/mnt/a/show/day1/A.mov -> /Volumes/raid/show/day1/A.mov maps /mnt/a onto
    /Volumes/raid), so plates in sibling folders of the same tree are found too."""
    old, new = list(PurePath(old_path).parent.parts), list(Path(new_path).parent.parts)
    while len(old) > 1 and len(new) > 1 and old[-1] == new[-1]:
        old.pop()
        new.pop()
    return PurePath(*old), PurePath(*new)


def relink_moved(project: Project, plate_id: str, media: str | Path, force: bool = False,
                 stack: UndoStack | None = None) -> tuple[list[str], list[str]]:
    """Relink plate `plate_id` to `media` (see relink_plate) and, as a file browser's "locate"
    does, every other missing plate found at the same place in the tree `media` moved to (see
    moved_roots). One undo step. Returns (ids relinked, notes); a missing plate found there that
    does not fit its record is left missing and named in the notes, never forced."""
    cmd, notes = _relink_command(project, plate_id, media, force)
    commands: list[Command] = [cmd]
    relinked = [plate_id]
    old_root, new_root = moved_roots(project.plates[plate_id].path, cmd.new.path)
    if old_root != new_root:
        for pid, plate in sorted(project.plates.items()):
            target = _moved_path(plate.path, old_root, Path(new_root))
            if pid == plate_id or target is None or not plate_missing(plate):
                continue
            if plate_missing(Plate(pid, str(target), plate.fps, 0, 0, 0)):
                continue
            try:
                other, other_notes = _relink_command(project, pid, target, False)
            except ProjectError as exc:
                notes.append(f"plate {pid} is at {target} but was not relinked: {exc}")
                continue
            commands.append(other)
            relinked.append(pid)
            notes += other_notes
    (stack if stack is not None else UndoStack()).push(
        cmd if len(commands) == 1 else Macro(f"Relink {len(commands)} plates", commands))
    return relinked, notes


def _moved_path(path: str, old: PurePath, new: Path) -> Path | None:
    p = PurePath(path)
    try:
        return new / p.relative_to(old)
    except ValueError:
        return None


def relink_folder(project: Project, old_folder: str | Path, new_folder: str | Path, force: bool = False,
                  only_missing: bool = True, stack: UndoStack | None = None) -> tuple[list[str], list[str]]:
    """Relink every plate under `old_folder` to the same relative place under `new_folder` (a
    drive mounted elsewhere, a shot folder moved): one undo step, all or nothing. With
    `only_missing` (default), plates still found where they were are left alone. Returns (ids
    relinked, ids under old_folder with no file at the new place). ProjectError when a file
    found does not fit its plate (PlateMismatch, see relink_plate) or when none is found."""
    old, new = PurePath(old_folder), Path(new_folder)
    commands: list[Command] = []
    relinked: list[str] = []
    not_found: list[str] = []
    for pid, plate in sorted(project.plates.items()):
        target = _moved_path(plate.path, old, new)
        if target is None or (only_missing and not plate_missing(plate)):
            continue
        if plate_missing(Plate(pid, str(target), plate.fps, 0, 0, 0)):
            not_found.append(pid)
            continue
        cmd, _notes = _relink_command(project, pid, target, force)
        commands.append(cmd)
        relinked.append(pid)
    if not commands:
        raise ProjectError(f"no plate of the project was found under {new}"
                           + (f" (looked for {', '.join(not_found)})" if not_found else
                              f" (no {'missing ' if only_missing else ''}plate is under {old})"))
    (stack if stack is not None else UndoStack()).push(
        commands[0] if len(commands) == 1 else Macro(f"Relink {len(commands)} plates", commands))
    return relinked, not_found


KEEP = object()  # interpret_plate: leave this part of the interpretation as it is


def interpret_plate(project: Project, plate_id: str, colorspace: Any = KEEP, pixel_aspect: Any = KEEP,
                    stack: UndoStack | None = None) -> tuple[Plate, list[str]]:
    """Say what a plate's files do not: its colour space (an OCIO name of the built-in config, e.g.
    "ARRI LogC3 (EI800)" for a LogC camera plate; None or "auto": as the files say) and its pixel
    aspect (2 for an untagged 2x anamorphic). Renders then take the plate in that colour space and
    tag that aspect; analyses measure faces on it. Undoable; returns the new record and notes
    (shots whose analysis was measured at another pixel aspect, to analyse again)."""
    from core.media.colour import resolve_colorspace

    if plate_id not in project.plates:
        raise ProjectError(f"no plate {plate_id!r} in the project (plates: {', '.join(sorted(project.plates))})")
    old = project.plates[plate_id]
    changes: dict[str, Any] = {}
    if colorspace is not KEEP:
        name = None if colorspace in (None, "", "auto") else str(colorspace)
        changes["colorspace"] = resolve_colorspace(name) if name else None
    if pixel_aspect is not KEEP:
        par = float(pixel_aspect)
        if not 0.1 <= par <= 10:
            raise ProjectError(f"pixel aspect {pixel_aspect} is outside 0.1-10")
        changes["pixel_aspect"] = 1.0 if abs(par - 1.0) < 1e-3 else par
    new = dataclasses.replace(old, **changes)
    notes: list[str] = []
    if new.pixel_aspect != old.pixel_aspect:
        stale = [s.name for s in project.shots if s.plate_id == plate_id and s.has_analysis
                 and abs(float(s.analysis.pixel_aspect) - new.pixel_aspect) > 1e-3]
        if stale:
            notes.append(f"shots {', '.join(stale)} were analysed at another pixel aspect: analyse them again "
                         "(until then they render as analysed)")
    if new.colorspace != old.colorspace:
        # an analysis records the reading it measured on (older ones: the plate's before this change)
        analysed = [s.name for s in project.shots if s.plate_id == plate_id and s.has_analysis
                    and (s.analysis.meta or {}).get("colorspace", old.colorspace) != new.colorspace]
        if analysed:
            notes.append(f"shots {', '.join(analysed)} were analysed on the plate read the other way: analysing "
                         "them again measures the faces on the new reading")
    cmd = RelinkPlate(project, new)
    cmd.text = f"Interpret plate {plate_id}"
    (stack if stack is not None else UndoStack()).push(cmd)
    return new, notes
