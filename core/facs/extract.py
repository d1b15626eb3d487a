"""AU extraction for a shot: per track, align every frame, calibrate a neutral, solve, lift shut
eyes by appearance (core.facs.eyes), filter."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from core.errors import FacsimileError
from core.facs.calibrate import (
    MIN_AUTO_FRAMES,
    calibration_auto,
    calibration_canonical,
    calibration_from_frames,
    calibration_from_json,
    calibration_to_json,
)
from core.facs.catalogue import au_curve_names, catalogue, curve_names
from core.facs.eyes import lift_shut_eyes
from core.facs.filters import DEFAULTS, apply_filter
from core.facs.gaze import discount_upward_gaze
from core.facs.geometry import rotation_to_euler
from core.facs.model import (
    LANDMARK_NOISE,
    align,
    fit_confidence,
    fit_curves,
    model,
    model_version,
    neutral_gap,
    solve_aligned,
)
from core.util.report import HANDED_BACK

log = logging.getLogger(__name__)
PRESENCE_THRESHOLD = 1.0  # AUxx_c = 1 from intensity 1 (FACS trace, A) on
NOISY_FACE = 2.0  # a track whose landmarks jitter this many times LANDMARK_NOISE is said to be coarse
PROGRESS_EVERY = 64  # solved frames between progress calls


def filter_curves(raw: np.ndarray, names: list[str], fps: float, filter: str, *,
                  timestamps: np.ndarray | None = None, **params: float) -> np.ndarray:
    """The temporal filter on a raw solve (T, K) whose columns are `names` (AU curves clipped to
    0..5, each bilateral AU the max of its filtered sides); NaN rows (no face) stay NaN and are
    never bridged. timestamps: (T,) seconds of the rows (a variable frame rate plate's own
    frame times, ShotAnalysis.timestamps); None: evenly at fps. Used by extraction and, on the
    kept raw solve, by a filter change in a project (no re-analysis, no re-solve)."""
    out = apply_filter(raw, fps, filter, timestamps=timestamps, **params)
    idx = {n: i for i, n in enumerate(names)}
    au = [idx[n] for n in au_curve_names() if n in idx]
    out[:, au] = np.clip(out[:, au], 0.0, 5.0)
    for a in catalogue():
        if a.sided and {a.code, a.code + "L", a.code + "R"} <= idx.keys():
            out[:, idx[a.code]] = np.fmax(out[:, idx[a.code + "L"]], out[:, idx[a.code + "R"]])
    return out


def landmark_noise(aligned: np.ndarray, frames: np.ndarray) -> float:
    """The landmarks' noise in this track (IOD per coordinate, at least LANDMARK_NOISE): the
    robust spread of their second difference over consecutive frames (motion is smooth over
    three frames, detector jitter is not; the median keeps fast expressions out). A small or
    dim face jitters more in IOD units than the solve's LANDMARK_NOISE assumes, and that jitter
    read as AUs everywhere (short_hamilton_clip's stage faces, 16-35 px between the eyes:
    0.012-0.03). Fewer than MIN_AUTO_FRAMES consecutive triples: LANDMARK_NOISE."""
    frames = np.asarray(frames)
    trip = np.nonzero(frames[2:] - frames[:-2] == 2)[0]
    if len(trip) < MIN_AUTO_FRAMES:
        return LANDMARK_NOISE
    d2 = aligned[trip, :468, :2] - 2.0 * aligned[trip + 1, :468, :2] + aligned[trip + 2, :468, :2]
    return max(LANDMARK_NOISE, float(1.4826 * np.median(np.abs(d2)) / np.sqrt(6.0)))


def _canonical(calibration: dict) -> bool:
    """Measured from the canonical neutral (no neutral of the person's own): the solve then
    weights the residual by the identity spread (core.facs.model)."""
    return calibration["method"] == "canonical"


def solve_frame(landmarks: np.ndarray, calibration: dict) -> tuple[np.ndarray, float]:
    """AU intensities of one face in one frame, over au_curve_names() (0..5, bilateral = max(L, R)),
    and a fit confidence 0..1. landmarks: (478, 3) pixels; calibration: from a FaceAUs or
    core.facs.calibrate. NaN intensities and confidence 0 when the mesh is incomplete."""
    x = np.asarray(landmarks, np.float64)
    if x.shape != (478, 3) or not np.isfinite(x[:468]).all():
        return np.full(len(au_curve_names()), np.nan), 0.0
    m = model()
    neutral = calibration["neutral"] if calibration is not None else m.neutral
    canonical = calibration is None or _canonical(calibration)
    aligned = discount_upward_gaze(align(x, neutral)[0], neutral)
    noise = float((calibration or {}).get("landmark_noise") or LANDMARK_NOISE)  # the track's, when measured
    coef, rms = solve_aligned(aligned, neutral, identity=canonical, noise=noise)
    return fit_curves(coef, aligned, neutral_gap(neutral, canonical)), fit_confidence(rms)


def openface_au_columns() -> list[str]:
    """The AU columns of an OpenFace-style CSV, in order: AUxx_r, AUxx_c, then the side columns
    (AUxxL_r, AUxxR_r) of one-sided AUs. A CSV with no face found still has them (all 0, success
    0, as OpenFace writes failed frames), so every analysis CSV reads back with import-au."""
    cat = catalogue()
    return ([f"{a.code}_r" for a in cat] + [f"{a.code}_c" for a in cat]
            + [f"{a.code}{s}_r" for a in cat if a.sided for s in "LR"])


@dataclass
class FaceAUs:
    """AU curves of one face track over a shot.

    names: curve_names() (AU curves 0..5, then pose_Rx/Ry/Rz and gaze_x/y in radians);
    raw: (T, K) the per-frame solve (NaN where no face); filtered: (T, K) after `filter`;
    confidence: (T,) 0..1; success: (T,) bool; calibration: how the neutral was chosen
    (method, frame, neutral mesh in canonical units, per-basis offsets); timestamps: (T,)
    seconds of the rows from the plate's first frame (the filter's sample times on a variable
    frame rate plate; None: evenly at fps).
    """

    names: list[str]
    raw: np.ndarray
    filtered: np.ndarray
    confidence: np.ndarray
    success: np.ndarray
    calibration: dict
    fps: float = 25.0
    frame_indices: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    track_id: int = 0
    filter: dict = field(default_factory=lambda: {"name": "none"})

    def refilter(self, filter: str, **params: float) -> None:
        """Re-run the temporal filter on the raw solve (no re-analysis), on the rows' own times
        when known; AU curves stay in 0..5."""
        self.filtered = filter_curves(self.raw, self.names, self.fps, filter, timestamps=self.timestamps,
                                      **params).astype(np.float32)
        self.filter = {"name": filter, **({**DEFAULTS.get(filter, {}), **params})}

    def curve(self, name: str, filtered: bool = True) -> np.ndarray:
        try:
            i = self.names.index(name)
        except ValueError:
            raise FacsimileError(f"no curve {name!r}; known: {', '.join(self.names)}") from None
        return (self.filtered if filtered else self.raw)[:, i]

    def openface_columns(self) -> dict[str, np.ndarray]:
        """OpenFace 2.x AU columns: AUxx_r (filtered intensity), AUxx_c (1 from intensity 1), then
        AUxxL_r / AUxxR_r side columns for one-sided AUs. NaN where no face."""
        out: dict[str, np.ndarray] = {}
        for name in openface_au_columns():
            code, kind = name[:-2], name[-1]
            if kind == "c":
                v = self.curve(code)
                out[name] = np.where(np.isfinite(v), (v >= PRESENCE_THRESHOLD).astype(np.float32), np.nan
                                     ).astype(np.float32)
            else:
                out[name] = self.curve(code).astype(np.float32)
        return out

    def to_json(self) -> dict:
        """Curves (raw and filtered, null where no face), confidence, success, calibration, and
        the rows' times in seconds (to the microsecond) when known."""
        def col(a: np.ndarray) -> list:
            return [None if not math.isfinite(v) else round(float(v), 4) for v in a]

        n = len(self.success)
        return {
            "schema": 1,
            "track_id": int(self.track_id),
            "fps": float(self.fps),
            "frame_indices": (self.frame_indices if self.frame_indices is not None else np.arange(n)).tolist(),
            **({"timestamps": [round(float(v), 6) for v in self.timestamps]} if self.timestamps is not None else {}),
            "names": list(self.names),
            "raw": {nm: col(self.raw[:, i]) for i, nm in enumerate(self.names)},
            "filtered": {nm: col(self.filtered[:, i]) for i, nm in enumerate(self.names)},
            "filter": self.filter,
            "confidence": col(self.confidence),
            "success": [bool(s) for s in self.success],
            "calibration": calibration_to_json(self.calibration),
        }

    @classmethod
    def from_json(cls, data: dict) -> FaceAUs:
        try:
            names = list(data["names"])

            def arr(d: dict) -> np.ndarray:
                return np.array([[np.nan if v is None else v for v in d[nm]] for nm in names], np.float32).T

            return cls(names=names, raw=arr(data["raw"]), filtered=arr(data["filtered"]),
                       confidence=np.array([np.nan if v is None else v for v in data["confidence"]], np.float32),
                       success=np.array(data["success"], bool),
                       calibration=calibration_from_json(data["calibration"]), fps=float(data["fps"]),
                       frame_indices=np.array(data["frame_indices"], np.int64),
                       timestamps=np.array(data["timestamps"], np.float64) if data.get("timestamps") else None,
                       track_id=int(data.get("track_id", 0)), filter=data.get("filter", {"name": "none"}))
        except (KeyError, TypeError, ValueError) as exc:
            raise FacsimileError(f"AU curve JSON is incomplete or damaged: {exc}") from exc


def extract_shot(analysis, *, neutral: int | Mapping[int, int | None] | None = None,
                 filter: str | Mapping[int, str] = "one_euro", tracks: Iterable[int] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> list[FaceAUs]:
    """AU curves for every face track of a ShotAnalysis, one FaceAUs per track (track order).

    neutral: a plate frame number (as in analysis.frame_indices) showing the performer's
    neutral face, or {track id: frame or None} per face; None estimates the neutral from the
    shot ('auto'), or uses the canonical neutral when the track has fewer than
    MIN_AUTO_FRAMES frames (stills). If the track is absent at the chosen frame, its nearest
    present frame is used and recorded. filter: one name, or {track id: name} (missing tracks
    get One-Euro). tracks: only these track ids (the rest are not solved). progress(done,
    total): called every PROGRESS_EVERY solved frames (a GUI's progress bar; raising from it, as
    a cancelled job does, stops the solve).
    """
    m = model()
    version = model_version()
    names = curve_names()
    n_au = len(au_curve_names())
    t_count, f_count = analysis.present.shape
    fps = float(analysis.fps) if analysis.fps else 25.0
    wanted = None if tracks is None else {int(t) for t in tracks}
    # The neutral (a held state) is found on the stabilised landmarks; each frame is solved from
    # its own, so the curve filter is the only temporal filter on a curve
    per_frame = getattr(analysis, "solve_landmarks", None)
    eye_open = getattr(analysis, "eye_open", None)  # lifts shut eyes' AU45 (core.facs.eyes)
    out = []
    chosen = [f for f in range(f_count) if wanted is None or int(analysis.track_ids[f]) in wanted]
    total, done = len(chosen) * t_count, 0
    for f in chosen:
        track_id = int(analysis.track_ids[f])
        face_neutral = neutral.get(track_id) if isinstance(neutral, Mapping) else neutral
        face_filter = filter.get(track_id, "one_euro") if isinstance(filter, Mapping) else filter
        lm = np.asarray(analysis.landmarks[:, f], np.float64)
        ok = analysis.present[:, f] & np.isfinite(lm[:, :468]).all(axis=(1, 2))
        idx = np.nonzero(ok)[0]
        aligned = np.empty((len(idx), 478, 3))
        for j, t in enumerate(idx):
            aligned[j], _ = align(lm[t], m.neutral)
        if face_neutral is not None and len(idx):
            hits = np.nonzero(analysis.frame_indices == face_neutral)[0]
            if not len(hits):
                raise FacsimileError(
                    f"neutral frame {face_neutral} is outside the analysed range "
                    f"{int(analysis.frame_indices[0])}..{int(analysis.frame_indices[-1])}")
            t0 = int(idx[np.argmin(np.abs(idx - hits[0]))])
            near = np.nonzero(np.abs(idx - t0) <= 1)[0]
            cal = calibration_from_frames(aligned[near], frame=int(analysis.frame_indices[t0]))
            if t0 != hits[0]:
                cal["note"] = f"track {track_id} absent at frame {face_neutral}; nearest present frame used"
                log.warning("AU calibration: %s", cal["note"], extra=HANDED_BACK)
        elif len(idx):
            cal = calibration_auto(aligned)
            if "neutral_frames" in cal:  # positions among the present frames -> plate frame numbers
                cal["neutral_frames"] = [[int(analysis.frame_indices[idx[j]]) for j in zone]
                                         for zone in cal["neutral_frames"]]
        else:
            cal = calibration_canonical()
        cal["au_model"] = version  # which bases these curves were solved with
        raw = np.full((t_count, len(names)), np.nan, np.float32)
        conf = np.zeros(t_count, np.float32)
        canonical = _canonical(cal)
        rest_gap = neutral_gap(cal["neutral"], canonical)
        xs = np.empty((len(idx), 478, 3))
        for j, t in enumerate(idx):
            own = None if per_frame is None else np.asarray(per_frame[t, f], np.float64)
            src = own if own is not None and np.isfinite(own[:468]).all() else aligned[j]
            xs[j], _ = align(src, cal["neutral"])  # (re-)align onto this person's neutral
        noise = round(landmark_noise(xs, idx), 5)  # as recorded, so a re-solve from the record matches
        cal["landmark_noise"] = noise
        if noise >= NOISY_FACE * LANDMARK_NOISE:
            coarse = (f"landmarks jitter {noise:.3f} IOD ({noise / LANDMARK_NOISE:.1f}x a clean face's): "
                      "small movements do not read (a small, dim or soft face)")
            cal["note"] = f"{cal['note']}; {coarse}" if cal.get("note") else coarse
            log.warning("AU extraction, track %d: %s", track_id, coarse, extra=HANDED_BACK)
        for j, t in enumerate(idx):
            if progress is not None and j % PROGRESS_EVERY == 0:
                progress(done + int(t), total)
            x = discount_upward_gaze(xs[j], cal["neutral"])  # an upward look is not AU05
            coef, rms = solve_aligned(x, cal["neutral"], identity=canonical, noise=noise)
            raw[t, :n_au] = fit_curves(coef, x, rest_gap)
            lc = float(analysis.confidence[t, f]) if np.isfinite(analysis.confidence[t, f]) else 0.0
            conf[t] = fit_confidence(rms) * lc
        if eye_open is not None and len(idx) >= MIN_AUTO_FRAMES:
            sides = [names.index("AU45R"), names.index("AU45L")]
            raw[:, sides], cal["eye_state"] = lift_shut_eyes(raw[:, sides], eye_open[:, f], analysis.pose[:, f, 1])
            raw[:, names.index("AU45")] = np.fmax(raw[:, sides[0]], raw[:, sides[1]])
        raw[:, n_au:n_au + 3] = analysis.pose[:, f]
        raw[:, n_au + 3:n_au + 5] = analysis.gaze[:, f]
        raw[~ok, n_au:] = np.nan
        if not np.isfinite(analysis.pose[:, f]).any() and len(idx):
            # no pose from the analysis: use the alignment rotation (camera axes, OpenFace convention)
            for t in idx:
                _, pose = align(lm[t], m.neutral)
                raw[t, n_au:n_au + 3] = rotation_to_euler(pose.rotation)
        face = FaceAUs(names=list(names), raw=raw, filtered=raw.copy(), confidence=conf, success=ok.copy(),
                       calibration=cal, fps=fps, frame_indices=np.asarray(analysis.frame_indices),
                       timestamps=np.asarray(analysis.timestamps), track_id=track_id)
        face.refilter(face_filter)
        out.append(face)
        done += t_count
        if progress is not None:
            progress(done, total)
    return out
