"""Read OpenFace 2.x CSV files (FeatureExtraction / FaceLandmarkVidMulti output) into AU curves."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from core.errors import FacsimileError
from core.facs.catalogue import AU_IDS


def read_openface_csv(path: str | Path) -> dict:
    """Curves per face from an OpenFace CSV (column names may carry OpenFace's leading spaces).

    Returns {'source', 'columns', 'faces': {face_id: {'frame', 'timestamp', 'success', 'confidence',
    'AU01'.. (intensity, NaN when absent), 'AU01_c'.., 'AU12L'/'AU12R' side columns if present,
    'pose_Rx', 'pose_Ry', 'pose_Rz', 'gaze_x', 'gaze_y'}}} with numpy arrays (file row order).
    A file without face_id (single-face FeatureExtraction) is face 0.
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
    data = [r for r in rows[1:] if r and any(x.strip() for x in r)]
    bad = [i + 2 for i, r in enumerate(data) if len(r) != len(header)]
    if bad:
        raise FacsimileError(f"OpenFace CSV {path}: line {bad[0]} has a different number of columns than the header")

    def num(x: str) -> float:
        try:
            return float(x)
        except ValueError:
            return math.nan

    values = np.array([[num(x) for x in r] for r in data], np.float64).reshape(len(data), len(header))
    face_ids = values[:, col["face_id"]].astype(np.int64) if "face_id" in col else np.zeros(len(data), np.int64)
    wanted = {"frame": "frame", "timestamp": "timestamp", "success": "success", "confidence": "confidence",
              "pose_Rx": "pose_Rx", "pose_Ry": "pose_Ry", "pose_Rz": "pose_Rz",
              "pose_Tx": "pose_Tx", "pose_Ty": "pose_Ty", "pose_Tz": "pose_Tz",
              "gaze_x": "gaze_angle_x", "gaze_y": "gaze_angle_y"}
    faces: dict[int, dict] = {}
    for fid in sorted(set(face_ids.tolist())):
        sel = face_ids == fid
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
            face.setdefault(f"AU{a:02d}", np.full(int(sel.sum()), np.nan))
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
