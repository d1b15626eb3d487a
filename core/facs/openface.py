"""Read OpenFace 2.x CSV files (FeatureExtraction / FaceLandmarkVidMulti output) into AU curves."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from core.errors import FacsimileError
from core.facs.catalogue import AU_IDS

AU_SLACK = 0.5  # intensity beyond 0..5 (regressor overshoot) clipped; further out is a damaged file


def read_openface_csv(path: str | Path) -> dict:
    """Curves per face from an OpenFace CSV (column names may carry OpenFace's leading spaces).

    Returns {'source', 'columns', 'faces': {face_id: {'frame', 'timestamp', 'success', 'confidence',
    'AU01'.. (intensity, NaN when absent), 'AU01_c'.., 'AU12L'/'AU12R' side columns if present,
    'pose_Rx', 'pose_Ry', 'pose_Rz', 'gaze_x', 'gaze_y'}}} with numpy arrays (file row order).
    A file without face_id (single-face FeatureExtraction) is face 0.

    Checked, each a FacsimileError naming the line and column: a file with no rows; text where a
    number belongs (an empty cell or NaN reads as missing); a frame number that is not a whole
    number >= 0 or appears twice for one face; an AU intensity outside OpenFace's 0..5 by more
    than AU_SLACK (regressor overshoot within it is clipped). Rows are put in frame order.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise FacsimileError(f"cannot read OpenFace CSV {path}: {exc}") from exc
    if not rows:
        raise FacsimileError(f"OpenFace CSV {path} is empty")
    header = [c.strip() for c in rows[0]]
    col = {c: i for i, c in enumerate(header)}
    if "frame" not in col or not any(c.startswith("AU") and c.endswith("_r") for c in header):
        raise FacsimileError(f"{path} is not an OpenFace CSV: it needs 'frame' and AUxx_r columns "
                             f"(found {', '.join(header[:8])}...)")
    lines = [i + 2 for i, r in enumerate(rows[1:]) if r and any(x.strip() for x in r)]
    data = [rows[i - 1] for i in lines]
    if not data:
        raise FacsimileError(f"OpenFace CSV {path} has a header but no rows")
    bad = [ln for ln, r in zip(lines, data, strict=True) if len(r) != len(header)]
    if bad:
        raise FacsimileError(f"OpenFace CSV {path}: line {bad[0]} has a different number of columns than the header")

    def num(x: str, line: int, c: int) -> float:
        t = x.strip()
        if t.lower() in ("", "nan"):
            return math.nan  # missing
        try:
            v = float(t)
        except ValueError:
            v = math.nan
        if not math.isfinite(v):
            raise FacsimileError(f"OpenFace CSV {path}: line {line}, column {header[c]}: {x.strip()!r} is not a number")
        return v

    values = np.array([[num(x, ln, c) for c, x in enumerate(r)] for ln, r in zip(lines, data, strict=True)],
                      np.float64).reshape(len(data), len(header))
    where = {name: i for i, name in enumerate(header)}
    frames = values[:, where["frame"]]
    odd = np.flatnonzero(~np.isfinite(frames) | (frames < 0) | (frames != np.round(frames)))
    if len(odd):
        raise FacsimileError(f"OpenFace CSV {path}: line {lines[odd[0]]}: frame {data[odd[0]][where['frame']].strip()!r} "
                             "is not a whole frame number >= 0")
    for c, name in enumerate(header):
        if name.startswith("AU") and name.endswith("_r"):
            v = values[:, c]
            out = np.flatnonzero(np.isfinite(v) & ((v < -AU_SLACK) | (v > 5.0 + AU_SLACK)))
            if len(out):
                raise FacsimileError(f"OpenFace CSV {path}: line {lines[out[0]]}, column {name}: {v[out[0]]:g} is "
                                     "outside the AU intensity scale 0..5")
            values[:, c] = np.clip(v, 0.0, 5.0)
    face_ids = values[:, col["face_id"]].astype(np.int64) if "face_id" in col else np.zeros(len(data), np.int64)
    wanted = {"frame": "frame", "timestamp": "timestamp", "success": "success", "confidence": "confidence",
              "pose_Rx": "pose_Rx", "pose_Ry": "pose_Ry", "pose_Rz": "pose_Rz",
              "pose_Tx": "pose_Tx", "pose_Ty": "pose_Ty", "pose_Tz": "pose_Tz",
              "gaze_x": "gaze_angle_x", "gaze_y": "gaze_angle_y"}
    faces: dict[int, dict] = {}
    for fid in sorted(set(face_ids.tolist())):
        rows_of = np.flatnonzero(face_ids == fid)
        order = rows_of[np.argsort(frames[rows_of], kind="stable")]  # frame order, whatever the file's
        seen, twice = set(), None
        for r in order:
            if frames[r] in seen:
                twice = r
                break
            seen.add(frames[r])
        if twice is not None:
            raise FacsimileError(f"OpenFace CSV {path}: line {lines[twice]}: frame {int(frames[twice])} of face {fid} "
                                 "appears twice")
        sel = order
        face: dict[str, np.ndarray] = {}
        for key, c in wanted.items():
            if c in col:
                face[key] = values[sel, col[c]]
        if "frame" in face:
            face["frame"] = face["frame"].astype(np.int64)
        if "success" in face:
            face["success"] = face["success"] > 0.5
        for c in header:
            if c.startswith("AU") and (c.endswith("_r") or c.endswith("_c")):
                name = c[:-2] if c.endswith("_r") else c
                face[name] = values[sel, col[c]]
        if "gaze_x" not in face and all(f"gaze_{e}_{a}" in col for e in (0, 1) for a in "xyz"):
            # older OpenFace files carry only the two eye gaze vectors: the angles as OpenFace
            # computes them (GazeAnalysis::GetGazeAngle), from the mean of the two vectors
            g = sum(values[sel][:, [col[f"gaze_{e}_{a}"] for a in "xyz"]] for e in (0, 1)) / 2.0
            face["gaze_x"] = np.arctan2(g[:, 0], -g[:, 2])
            face["gaze_y"] = np.arctan2(g[:, 1], -g[:, 2])
        for a in AU_IDS:  # AUs OpenFace does not estimate (none today) read as missing, not zero
            face.setdefault(f"AU{a:02d}", np.full(len(sel), np.nan))
        if "success" in face:
            for k, v in face.items():
                if k.startswith("AU") and not k.endswith("_c"):
                    v[~face["success"]] = np.nan
        faces[int(fid)] = face
    return {"source": str(path), "columns": header, "faces": faces}


def curves_to_json(curves: dict) -> dict:
    """JSON-safe form of read_openface_csv's result (NaN -> null)."""
    def conv(v: np.ndarray) -> list:
        if v.dtype == bool:
            return v.tolist()
        return [None if not math.isfinite(float(x)) else (int(x) if v.dtype.kind == "i" else round(float(x), 5))
                for x in v]

    return {"schema": 1, "source": curves["source"],
            "faces": {str(fid): {k: conv(v) for k, v in face.items()} for fid, face in curves["faces"].items()}}
