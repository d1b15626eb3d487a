"""Keyframed AU curves: keys, interpolation, layers, gains, filters, vectorised evaluation.

Frames are whole plate frames everywhere (curve frame N is plate frame N).

API (what the studio binds to)
------------------------------
Interp(StrEnum): CONSTANT, LINEAR, BEZIER            segment from a key to the next
TangentMode(StrEnum): AUTO (auto-clamped, monotone, no overshoot), FREE (one slope), BROKEN
Key(frame, value, interp=BEZIER, tangent_mode=AUTO, in_tangent=(-1, 0), out_tangent=(1, 0))
    frozen; key.replace(**changes); to_list()/from_list(). Tangents are handle offsets
    (dframes, dvalue); only their slope counts (non-weighted, as Maya's default).
Curve(keys=()):
    .keys -> tuple[Key] sorted, unique frames   .frames / .values -> arrays   len(curve)
    .version (bumped on every edit)   .key_index(frame) -> int | None   .key_at(frame)
    .evaluate(frames) -> float64 array (vectorised, any shape; constant extrapolation)
    .evaluate_range(first, last) -> cached array (edits recompute only the span they change)
    .slopes() -> (in, out) resolved slopes   .handles() -> [(in_offset, out_offset)] for drawing
    .to_list()/from_list() (JSON)  .to_array()/from_array() ((n, 8) float64, for the .npz)
    edits: set_keys(keys), insert_key(key), replace_key(frame, key), remove_frames(frames),
           move_keys(frames, dframe, dvalue) -> new frames (dframe snapped to whole frames)
Layer(name, mode="additive"|"override", weight=1.0 (0..1), muted=False, curves={name: Curve})
    .curve(name, create=False)
CurveSet(names, frame_range, base=None, base_raw=None, confidence=None, success=None,
         layers=(), gains=None, base_extracted=None, enable_smooth=False)
    CurveSet.from_face_aus(face: core.facs.FaceAUs, frame_indices, keep_edits_from=None) (gaps -> NaN)
    .names  .frame_range (first, last) plate frames  .all_frames()
    .base / .base_extracted / .base_raw: {name: (N,) float64} indexed by plate frame - first
    .layers: list[Layer]  .layer(name)  .layer_index(name)  .unique_layer_name()
    .gains {AU name: 0..2}  .gain(name) (static)  .set_gain(name, g)  .set_base(name, values)
    .gain_keys {AU name: Curve} (animated gain; replaces the static gain while it has keys)
    .set_gain_keys(name, keys) (empty: back to static)  .has_gain_keys(name)  .check_gain_keys(name, keys)
    .gain_at(name, frames) -> array (keys clamped to 0..2, else static; 1 for pose/gaze)
    .evaluate(name, frames=None) -> array   (None: whole range, cached per curve)
    .evaluate_all(frames=None) -> {name: array}   .evaluate_matrix(frames=None) -> (names, (K, N))
    .warnings() -> list[str] (gain > 1.5: "may be non-physiological"; keyed: with the frames, ...)
    .apply_preset({"enable_smooth": bool, "au_gain": {12: 0.8, 43: 1.5}}) (43 -> AU45)
    .to_preset() -> dict    .state() -> comparable snapshot
is_au(name), au_number(name), frame_ranges(frames) -> "3-7, 12"; load_preset(path), save_preset(path, preset), validate_preset(p)
ops: box_select(curve, f0, f1, v0, v1) -> frames; copy_keys({name: Curve}, {name: frames})
    -> Clipboard; paste_keys(curve, keys, target_frame, replace_range=False) -> keys;
    smooth_keys(curve, frames, strength, iterations) -> keys; smooth_array(values, radius);
    butterworth(values, cutoff_hz, fps, order=2) -> array (filtfilt);
    reduce_keys(frames, values, tol) -> keys (verified within tol); keys_from_samples(frames, values)
Evaluation order: base (+ additive layers | blend override layers by weight) in layer order,
then AU curves: gain (keyed gain at the frame, else static) and clamp to 0..5 (pose/gaze:
neither). NaN base (no face) stays NaN.
"""

from core.curves.curveset import (
    AU_ALIASES,
    AU_MAX,
    AU_MIN,
    GAIN_MAX,
    GAIN_MIN,
    GAIN_WARN,
    OPENFACE_GAZE,
    CurveSet,
    Layer,
    au_number,
    frame_ranges,
    is_au,
    load_preset,
    openface_column,
    save_preset,
    validate_preset,
)
from core.curves.keys import Curve, Interp, Key, TangentMode, drop_offset, moved_keys
from core.curves.ops import (
    Clipboard,
    box_select,
    butterworth,
    clipboard_for,
    copy_keys,
    keys_from_samples,
    paste_keys,
    paste_plan,
    reduce_keys,
    smooth_array,
    smooth_keys,
)

__all__ = [
    "AU_ALIASES", "AU_MAX", "AU_MIN", "GAIN_MAX", "GAIN_MIN", "GAIN_WARN", "OPENFACE_GAZE",
    "Clipboard", "Curve", "CurveSet", "Interp", "Key", "Layer", "TangentMode",
    "au_number", "box_select", "butterworth", "clipboard_for", "copy_keys", "drop_offset", "frame_ranges", "is_au", "keys_from_samples",
    "load_preset", "moved_keys", "openface_column", "paste_keys", "paste_plan", "reduce_keys", "save_preset", "smooth_array", "smooth_keys",
    "validate_preset",
]
