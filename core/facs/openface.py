"""Read OpenFace 2.x CSV files (FeatureExtraction / FaceLandmarkVidMulti output) into AU curves."""

from __future__ import annotations

import csv
import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from core.curves import OPENFACE_GAZE
from core.errors import FacsimileError
from core.facs.catalogue import AU_IDS

AU_SLACK = 0.5  # intensity beyond 0..5 (regressor overshoot) clipped; further out is a damaged file


_POSE_GAZE = {"frame", "face_id", "timestamp", "success", "confidence", "pose_Rx", "pose_Ry", "pose_Rz", "pose_Tx",
              "pose_Ty", "pose_Tz", "gaze_angle_x", "gaze_angle_y", "gaze_x", "gaze_y",
              *(f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz")}
_NAN = ("", "nan", "-nan", "+nan", "nan(ind)", "-nan(ind)", "1.#qnan", "-1.#ind", "1.#ind")  # glibc, MSVC


def _used(column: str) -> bool:
    """A column this reader takes; the rest (landmarks, shape parameters, a tool's own text
    columns) is neither parsed nor kept, so a long file costs memory for what it gives."""
    return column in _POSE_GAZE or (column.startswith("AU") and column[-2:] in ("_r", "_c"))


def _cell(v: float) -> str:
    return f"'{int(v)}'" if np.isfinite(v) and v == int(v) else f"'{v:g}'" if np.isfinite(v) else "(empty)"


def _parse(path: Path, reader) -> tuple[list[str], dict[str, int], list[int], np.ndarray]:
    """(header, {used column: its index in the values}, line number of each data row, (rows, used
    columns) float64), streamed a row at a time so only the columns read_openface_csv uses are held."""
    header = [c.strip() for c in next(reader, [])]
    if not header or not any(header):
        raise FacsimileError(f"OpenFace CSV {path} is empty")
    if "frame" not in header or not any(c.startswith("AU") and c.endswith("_r") for c in header):
        hint = " (a JSON file: import-au reads OpenFace CSVs)" if header[0].lstrip().startswith(("{", "[")) else ""
        raise FacsimileError(f"{path} is not an OpenFace CSV{hint}: it needs 'frame' and AUxx_r columns "
                             f"(found {', '.join(header[:8])}...)")
    used = [i for i, c in enumerate(header) if _used(c)]
    lines: list[int] = []
    rows: list[np.ndarray] = []
    for r in reader:
        if not r or not any(x.strip() for x in r):
            continue
        line = reader.line_num
        if len(r) != len(header):
            raise FacsimileError(f"OpenFace CSV {path}: line {line} has a different number of columns than the header")
        row = np.empty(len(used))
        for k, c in enumerate(used):
            t = r[c].strip()
            if t.lower() in _NAN:
                row[k] = math.nan  # missing
                continue
            try:
                v = float(t)
            except ValueError:
                v = math.nan
            if not math.isfinite(v):
                raise FacsimileError(f"OpenFace CSV {path}: line {line}, column {header[c]}: {t!r} is not a number")
            row[k] = v
        lines.append(line)
        rows.append(row)
    if not rows:
        raise FacsimileError(f"OpenFace CSV {path} has a header but no rows")
    where = {header[c]: k for k, c in enumerate(used)}
    return header, where, lines, np.array(rows, np.float64).reshape(len(rows), len(used))


def read_openface_csv(path: str | Path) -> dict:
    """Curves per face from an OpenFace CSV (column names may carry OpenFace's leading spaces).

    Returns {'source', 'columns', 'faces': {face_id: {'frame', 'timestamp', 'success', 'confidence',
    'AU01'.. (intensity, NaN when absent), 'AU01_c'.., 'AU12L'/'AU12R' side columns if present,
    'pose_Rx', 'pose_Ry', 'pose_Rz', 'gaze_x', 'gaze_y'}}} with numpy arrays (file row order).
    A file without face_id (single-face FeatureExtraction) is face 0.

    Checked, each a FacsimileError naming the line and column: a file with no rows; text where a
    number belongs (an empty cell or NaN reads as missing); a frame number that is not a whole
    number >= 0 or appears twice for one face; an AU intensity outside OpenFace's 0..5 by more
    than AU_SLACK (regressor overshoot within it is clipped); a face_id that is not a whole
    number >= 0. Rows are put in frame order. Where success is 0, AU intensities, pose and gaze
    are NaN (OpenFace writes zeros there). Only the columns named above are read, so a tool's
    own text columns do not matter. NaN may be written as glibc's or MSVC's forms (-nan, -nan(ind)).
    """
    path = Path(path)
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise FacsimileError(f"cannot read OpenFace CSV {path}: {exc}") from exc
    with fh:
        try:
            header, where, lines, values = _parse(path, csv.reader(fh))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise FacsimileError(f"cannot read OpenFace CSV {path}: {exc}") from exc
    frames = values[:, where["frame"]]
    odd = np.flatnonzero(~np.isfinite(frames) | (frames < 0) | (frames != np.round(frames)))
    if len(odd):
        raise FacsimileError(f"OpenFace CSV {path}: line {lines[odd[0]]}: frame {_cell(frames[odd[0]])} "
                             "is not a whole frame number >= 0")
    if "face_id" in where:
        fids = values[:, where["face_id"]]
        odd = np.flatnonzero(~np.isfinite(fids) | (fids < 0) | (fids != np.round(fids)))
        if len(odd):
            raise FacsimileError(f"OpenFace CSV {path}: line {lines[odd[0]]}: face_id {_cell(fids[odd[0]])} is not "
                                 "a whole face number >= 0")
    for name, c in where.items():
        if name.startswith("AU") and name.endswith("_r"):
            v = values[:, c]
            out = np.flatnonzero(np.isfinite(v) & ((v < -AU_SLACK) | (v > 5.0 + AU_SLACK)))
            if len(out):
                raise FacsimileError(f"OpenFace CSV {path}: line {lines[out[0]]}, column {name}: {v[out[0]]:g} is "
                                     "outside the AU intensity scale 0..5")
            values[:, c] = np.clip(v, 0.0, 5.0)
    face_ids = values[:, where["face_id"]].astype(np.int64) if "face_id" in where else np.zeros(len(lines), np.int64)
    wanted = {"frame": "frame", "timestamp": "timestamp", "success": "success", "confidence": "confidence",
              "pose_Rx": "pose_Rx", "pose_Ry": "pose_Ry", "pose_Rz": "pose_Rz",
              "pose_Tx": "pose_Tx", "pose_Ty": "pose_Ty", "pose_Tz": "pose_Tz",
              **OPENFACE_GAZE}
    if "gaze_angle_x" not in where:  # an older curves CSV of ours named the gaze curves plainly
        wanted.update(gaze_x="gaze_x", gaze_y="gaze_y")
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
            if c in where:
                face[key] = values[sel, where[c]]
        if "frame" in face:
            face["frame"] = face["frame"].astype(np.int64)
        if "success" in face:
            face["success"] = face["success"] > 0.5
        for c in where:
            if c.startswith("AU") and (c.endswith("_r") or c.endswith("_c")):
                name = c[:-2] if c.endswith("_r") else c
                face[name] = values[sel, where[c]]
        if "gaze_x" not in face and all(f"gaze_{e}_{a}" in where for e in (0, 1) for a in "xyz"):
            # older OpenFace files carry only the two eye gaze vectors: the angles as OpenFace
            # computes them (GazeAnalysis::GetGazeAngle), from the mean of the two vectors
            g = sum(values[sel][:, [where[f"gaze_{e}_{a}"] for a in "xyz"]] for e in (0, 1)) / 2.0
            face["gaze_x"] = np.arctan2(g[:, 0], -g[:, 2])
            face["gaze_y"] = np.arctan2(g[:, 1], -g[:, 2])
        for a in AU_IDS:  # AUs OpenFace does not estimate (none today) read as missing, not zero
            face.setdefault(f"AU{a:02d}", np.full(len(sel), np.nan))
        if "success" in face:
            # a failed frame carries no measurement: OpenFace writes zeros there, which as pose
            # read "facing the camera" and as gaze vectors an angle of 180 degrees
            for k, v in face.items():
                if k not in ("frame", "timestamp", "success", "confidence") and not k.endswith("_c"):
                    v[~face["success"]] = np.nan
        faces[int(fid)] = face
    return {"source": str(path), "columns": header, "faces": faces}


def curves_to_json(curves: dict) -> dict:
    """JSON-safe form of read_openface_csv's result (NaN -> null), self-describing: OpenFace numbers
    frames from 1, so each face also carries `plate_frame` (frame - 1, the plate's own 0-based
    number that Facsimile's curves, keys and renders use); the rate is the timestamps' when they
    step evenly."""
    def conv(v: np.ndarray) -> list:
        if v.dtype == bool:
            return v.tolist()
        return [None if not math.isfinite(float(x)) else (int(x) if v.dtype.kind == "i" else round(float(x), 6))
                for x in v]

    faces = {}
    fps = None
    for fid, face in curves["faces"].items():
        out = {k: conv(v) for k, v in face.items()}
        if "frame" in face:
            out = {"frame": out["frame"], "plate_frame": conv(face["frame"] - 1), **out}
            fps = fps or _rate(face["frame"], face.get("timestamp"))
        faces[str(fid)] = out
    return {"schema": 2, "source": str(Path(curves["source"]).absolute()),
            "frame": "OpenFace's frame number (1 = the plate's first frame); plate_frame = frame - 1",
            "fps": fps, "faces": faces}


_RATES = (Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30), Fraction(48),
          Fraction(50), Fraction(60000, 1001), Fraction(60), Fraction(100), Fraction(120000, 1001), Fraction(120))


def _rate(frames: np.ndarray, stamps: np.ndarray | None) -> float | None:
    """Frames per second from OpenFace's timestamps (seconds, rounded to the millisecond; frames in
    order), when consecutive frames step evenly (within that rounding); a standard rate within 0.1 %
    is given exactly (29.97 as 29.97003, not 29.999). None when they do not step evenly."""
    if stamps is None:
        return None
    step = np.diff(stamps)[np.diff(frames) == 1]
    step = step[np.isfinite(step) & (step > 0)]
    if len(step) < 2 or np.ptp(step) > 0.0015 + 0.05 * np.median(step):
        return None
    ok = np.isfinite(stamps)
    span = float(stamps[ok][-1] - stamps[ok][0])  # over the whole file: each stamp is off by up to 0.5 ms
    if span <= 0:
        return None
    fps = float(frames[ok][-1] - frames[ok][0]) / span
    near = min(_RATES, key=lambda r: abs(float(r) - fps))
    return round(float(near), 5) if abs(float(near) - fps) <= 1e-3 * fps else round(fps, 3)
