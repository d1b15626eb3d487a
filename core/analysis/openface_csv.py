"""OpenFace 2.x FeatureExtraction-style CSV of a ShotAnalysis.

Columns, in OpenFace's order, limited to those this analysis fills honestly:
`frame, face_id, timestamp, confidence, success, gaze_0_x..z, gaze_1_x..z, gaze_angle_x,
gaze_angle_y, pose_Tx, pose_Ty, pose_Tz, pose_Rx, pose_Ry, pose_Rz, x_0..x_67, y_0..y_67,
X_0..X_67, Y_0..Y_67, Z_0..Z_67, p_scale, p_rx, p_ry, p_rz, p_tx, p_ty`, then any extra
columns (the AU engine's AUxx_r / AUxx_c). Not written: OpenFace's 56-point eye landmarks
(eye_lmk_*) and its PDM shape parameters p_0..p_33, which have no counterpart here.

As in OpenFace: `frame` is 1-based (plate frame number + 1), the header separates names with
", ", one row per face per frame ordered by frame then face_id, and a row whose face is not
found has success=0 and zeros elsewhere. A clip with no face at all gets success=0 rows for
face 0 so every frame is still listed. gaze_0 is the subject's right eye (image left); the gaze
vectors and angles are core.analysis.pose's (an iris ray onto an eyeball fixed in the head).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from core.analysis.landmarks68 import MP_TO_68
from core.analysis.pose import estimate_pose
from core.analysis.types import ShotAnalysis
from core.util.atomic import atomic_path

BASE_COLUMNS: list[str] = (
    ["frame", "face_id", "timestamp", "confidence", "success"]
    + [f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"]
    + ["gaze_angle_x", "gaze_angle_y", "pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
    + [f"{c}_{i}" for c in ("x", "y", "X", "Y", "Z") for i in range(68)]
    + ["p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty"]
)
_INT_COLUMNS = {"frame", "face_id", "success"}


def openface_rows(analysis: ShotAnalysis, track: int, t: int) -> np.ndarray:
    """The numeric values of BASE_COLUMNS for one face in one frame (zeros when absent)."""
    row = np.zeros(len(BASE_COLUMNS), np.float64)
    row[0] = analysis.frame_indices[t] + 1
    row[1] = analysis.track_ids[track] if analysis.n_tracks else 0
    row[2] = analysis.timestamps[t]
    if analysis.n_tracks == 0 or not analysis.present[t, track]:
        return row
    lm = analysis.landmarks[t, track].astype(np.float64)
    hp = estimate_pose(lm, analysis.width, analysis.height)
    row[3] = analysis.confidence[t, track]
    row[4] = 1
    row[5:11] = hp.gaze_vectors.reshape(-1)
    row[11:13] = analysis.gaze[t, track]
    row[13:16] = analysis.translation[t, track]
    row[16:19] = analysis.pose[t, track]
    k = 19
    p68 = lm[MP_TO_68]
    row[k:k + 68] = p68[:, 0]
    row[k + 68:k + 136] = p68[:, 1]
    mm = hp.points_mm[MP_TO_68]
    row[k + 136:k + 204] = mm[:, 0]
    row[k + 204:k + 272] = mm[:, 1]
    row[k + 272:k + 340] = mm[:, 2]
    k += 340
    row[k] = hp.scale
    row[k + 1:k + 4] = analysis.pose[t, track]
    row[k + 4:k + 6] = hp.offset[:2]
    return np.nan_to_num(row, nan=0.0)


def write_openface_csv(path: str | Path, analysis: ShotAnalysis,
                       extra_columns: Mapping[int, Mapping[str, np.ndarray]] | None = None) -> Path:
    """Write the CSV atomically; extra_columns maps track index -> {column -> (T,) values}."""
    extra_columns = extra_columns or {}
    extra_names: list[str] = []
    for cols in extra_columns.values():
        for name in cols:
            if name not in extra_names and name not in BASE_COLUMNS:
                extra_names.append(name)
    for f, cols in extra_columns.items():
        for name, values in cols.items():
            if np.shape(values) != (analysis.n_frames,):
                raise ValueError(f"extra column {name} of track {f} has shape {np.shape(values)}, "
                                 f"expected ({analysis.n_frames},)")
    n_faces = max(analysis.n_tracks, 1)
    columns = BASE_COLUMNS + extra_names
    buf = io.StringIO()
    buf.write(", ".join(columns) + "\n")
    int_cols = [i for i, c in enumerate(columns) if c in _INT_COLUMNS]
    ts_col = columns.index("timestamp")
    for t in range(analysis.n_frames):
        for f in range(n_faces):
            row = openface_rows(analysis, f, t)
            present = analysis.n_tracks > 0 and bool(analysis.present[t, f])
            extra = np.zeros(len(extra_names))
            if present and f in extra_columns:
                cols = extra_columns[f]
                for j, name in enumerate(extra_names):
                    if name in cols:
                        extra[j] = float(cols[name][t])
            values = np.nan_to_num(np.concatenate([row, extra]), nan=0.0)
            text = [f"{v:.6g}" for v in values]
            for i in int_cols:
                text[i] = str(int(values[i]))
            # seconds to the microsecond: 6 significant digits gave 10 ms steps past 1000 s (frames of a
            # long plate shared timestamps)
            text[ts_col] = f"{values[ts_col]:.6f}"
            buf.write(",".join(text) + "\n")
    target = Path(path)
    with atomic_path(target) as tmp:
        Path(tmp).write_text(buf.getvalue(), encoding="utf-8")
    return target
