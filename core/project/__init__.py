"""The project document: plates, shots, curves, persistence, undo/redo.

API (what the studio binds to)
------------------------------
Project(path, name=None); Project.create(path, name=None); Project.load(path, document=None)
    .path (NAME.facsimile folder) .name .plates {id: Plate} .shots [Shot] .library_path .settings
    .saved_at (unix time of the last save) .opened_from (backup/autosave it came from, or None)
    .add_plate(plate) .new_shot(plate_id, frame_in, frame_out, name=None, handles=0, timecode=None)
    .add_shot(shot, index=None) .shot(shot_id) .plate_of(shot) .new_shot_id() .state()
    .save() -> Path     atomic; previous project.json -> backups/ (newest 5 kept); clears autosave
    .autosave() -> Path writes autosave/project.json only
    .recovery_candidates() -> [RecoveryCandidate(kind, path, saved_at)] (newer autosave first)
    Project.load raises ProjectError listing EVERY problem ("shots[2].frame_in: expected an
    integer, got 'abc'"), refuses newer schemas, never writes, and names the newest backup.
extract_curves(shot, keep_edits=True) -> {track: CurveSet} (core.facs.extract_shot on shot.analysis;
    apply with commands.SetCurveSet; keep_edits carries layers/gains over a re-extraction)
find_autosave(path) -> RecoveryCandidate | None (newer than the last save); backups(path)
Autosaver(project, interval_s=120, every_n_edits=50): .attach(undo_stack) .tick(now) .note_edit()
    .last_error (autosave failures are reported there, edits stay pending)
Plate(id, path, fps: Fraction, frame_count, width, height, timecode=None, vfr=False, hash="")
    Plate.from_media(path) (core.media.reader.open_media) .frame_for_timecode(tc)
    .timecode_for_frame(n) .start_tc_frames
Shot(id, name, plate_id, frame_in, frame_out, handles=0, identity=None, render_settings={},
     curves={track: CurveSet}, timecode=None)
    .analysis (ShotAnalysis | None; lazily loaded; assigning marks it for saving)
    .has_analysis .range_with_handles .length
Editorial (core.project.editorial): detect_cuts(path, threshold=27, min_scene_len=15) ->
    [(first, last)]; shots_from_cut_detection(project, plate_id, ...); shots_from_ranges(...)
    import_cut_list(project, path.otio|.edl, plate_ids=None, handles=0) -> (shots, problems)
    shots_to_timeline(project, shots=None) -> otio Timeline; export_otio(project, path, shots=None)
UndoStack(limit=1000): push(cmd) (runs do()), undo(), redo(), can_undo, can_redo, undo_text,
    redo_text, set_clean(), is_clean, is_dirty, add_listener(fn(stack)), end_merge() (mouse up:
    closes a merge run; commands with equal merge_id merge until then), clear()
Commands (core.project.commands; each has do()/undo(); curve ones address (CurveSet, layer
name, curve name) and create the layer/curve when missing, undo removes them again):
    AddKey(cs, layer, name, key)  DeleteKeys(cs, layer, {name: frames})
    MoveKeys(cs, layer, {name: frames}, dframe, dvalue=0 or {name: dv}, merge_id=None) (cmd.compute.new_selection;
      a merged drag is re-applied from its start, so keys passed over survive)
    SetKeyValue(cs, layer, name, frame, value, merge_id=None)  SetInterp(cs, layer, {name: frames}, interp)
    SetTangents(cs, layer, name, frame, mode, in_tangent=None, out_tangent=None, merge_id=None)
    PasteKeys(cs, layer, clipboard, target_frame, name_map=None, replace_range=False)
    SmoothKeys(cs, layer, {name: frames}, strength=0.5, iterations=1)  ReduceKeys(cs, layer, names, tol)
    ButterworthKeys(cs, layer, names, cutoff_hz, fps, order=2, tol=None)
    ButterworthFilter(cs, names, cutoff_hz, fps, order=2, from_raw=False)  (base curves)
    BakeToKeys(cs, names, layer="Baked", tol=0.01)  BakeLayer(cs, layer_name)  ResetToExtracted(cs, names)
    SetGain(cs, name, gain, merge_id=None)  ApplyPreset(cs, preset)  SetBase(cs, {name: array})
    SetGainKey(cs, name | [names], frame, value, interp=BEZIER, merge_id=None)  (animated gain, 0..2)
    DeleteGainKeys(cs, name | [names], frames=None (all))  GainKeysCommand(cs, compute, text, merge_id)
    EditGain(cs, names, value, frame=None, merge_id=None): a gain slider's edit (keyed AU: key at
      frame; else the static gain)
    AddLayer(cs, Layer, index=None)  RemoveLayer(cs, name)  SetLayerProps(cs, name, merge_id, weight=, mode=,
    muted=, name=)  SetLayerWeight(cs, name, w, merge_id=None)
    SetShotFields(project, shot_id, merge_id=None, **fields)  SetShotRange(project, shot_id, in, out, handles=None)
    AddShot(project, shot)  RemoveShot(project, shot_id)  SetCurveSet(shot, track, cs | None)  Macro(text, [cmds])
A command that raises in push() is not recorded and leaves the state unchanged.
"""

from core.project.model import (
    BACKUP_COUNT,
    DOC_NAME,
    PROJECT_SUFFIX,
    Autosaver,
    Plate,
    Project,
    RecoveryCandidate,
    Shot,
    backups,
    extract_curves,
    file_hash,
    find_autosave,
    recovery_candidates,
)
from core.project.schema import SCHEMA_VERSION, validate
from core.project.undo import Command, Macro, UndoStack

__all__ = [
    "BACKUP_COUNT", "DOC_NAME", "PROJECT_SUFFIX", "SCHEMA_VERSION", "Autosaver", "Command", "Macro", "Plate",
    "Project", "RecoveryCandidate", "Shot", "UndoStack", "backups", "extract_curves", "file_hash", "find_autosave",
    "recovery_candidates", "validate",
]
