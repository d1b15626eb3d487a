"""The analysis result every later stage reads (FACS solve, curves, render, studio).

Arrays are indexed [t, f]: t is the position in the analysed frame range, f the track
(a stable identity across the shot). Missing values are NaN; `present` says whether the
track's face was found (detected or tracked) in that frame. Frames with no face are kept
(marked), never dropped, so t always maps to plate frame `frame_indices[t]`.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from core.errors import ProjectError
from core.util.npz import NPZ_ERRORS, describe_npz_error

N_LANDMARKS = 478

_ARRAYS = (
    "frame_indices",
    "timestamps",
    "track_ids",
    "present",
    "confidence",
    "bbox",
    "landmarks",
    "pose",
    "translation",
    "gaze",
    "embeddings",
)
# arrays an analysis may lack (older files, stills): name -> shape after (frames, tracks)
_OPTIONAL = {"solve_landmarks": (N_LANDMARKS, 3), "eye_open": (2,)}


@dataclass
class ShotAnalysis:
    """Per-frame, per-track face analysis of one plate range.

    Coordinates are plate pixels: landmarks x, y in pixels of the (rotation-corrected) frame,
    desqueezed for an anamorphic plate (meta["pixel_aspect"] = p != 1: x = plate x * p, and
    `width` is the desqueezed width; core.media.aspect);
    z in the same pixel units (MediaPipe's normalised z times the frame width), positive away
    from the camera. Pose is OpenFace's: pose_Rx (pitch), pose_Ry (yaw), pose_Rz (roll) in
    radians; translation in millimetres in camera space (approximate, from a nominal focal
    length). Gaze is OpenFace's gaze_angle_x, gaze_angle_y in radians.
    """

    width: int
    height: int
    fps: Fraction
    frame_indices: np.ndarray  # (T,) int64 plate frame numbers
    timestamps: np.ndarray  # (T,) float64 seconds from the plate's first frame
    track_ids: np.ndarray  # (F,) int64
    present: np.ndarray  # (T, F) bool
    confidence: np.ndarray  # (T, F) float32 0..1
    bbox: np.ndarray  # (T, F, 4) float32 x0, y0, x1, y1
    landmarks: np.ndarray  # (T, F, 478, 3) float32
    pose: np.ndarray  # (T, F, 3) float32 radians
    translation: np.ndarray  # (T, F, 3) float32 mm
    gaze: np.ndarray  # (T, F, 2) float32 radians
    embeddings: np.ndarray  # (F, D) float32 identity embedding per track (mean over its frames)
    source: str = ""
    meta: dict = field(default_factory=dict)
    # (T, F, 478, 3) float32: each frame's landmarks before the temporal stabilisation that
    # `landmarks` (drawn, posed, rendered, and the AU neutral) went through. The AU solve reads
    # these, so the only temporal filter on a curve is the one the user picks (a blink is 2-3
    # frames; filtering the landmarks too cut its peak). None when nothing was stabilised, or in
    # analyses written before it existed: the solve then reads `landmarks`.
    solve_landmarks: np.ndarray | None = None
    # (T, F, 2) float32: per frame and eye (subject's right, left), how strongly a trained
    # open-eye detector fires on the eye (core.analysis.eyestate); NaN where it was not checked.
    # The AU solve lifts a shut eye's AU45 with it (core.facs.eyes). None in analyses written
    # before it existed, and for stills.
    eye_open: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return int(self.frame_indices.shape[0])

    @property
    def n_tracks(self) -> int:
        return int(self.track_ids.shape[0])

    @property
    def pixel_aspect(self) -> float:
        """The plate's pixel aspect the landmarks were desqueezed by (1.0: plate pixels as they are)."""
        return float(self.meta.get("pixel_aspect", 1.0))

    @classmethod
    def empty(cls, width: int, height: int, fps: Fraction, frame_indices: np.ndarray, timestamps: np.ndarray,
              n_tracks: int = 0, embedding_dim: int = 128, source: str = "") -> ShotAnalysis:
        """An analysis with every value missing, to be filled frame by frame."""
        t = len(frame_indices)
        f = n_tracks
        nan = np.float32(np.nan)
        return cls(
            width=width, height=height, fps=Fraction(fps),
            frame_indices=np.asarray(frame_indices, dtype=np.int64),
            timestamps=np.asarray(timestamps, dtype=np.float64),
            track_ids=np.arange(f, dtype=np.int64),
            present=np.zeros((t, f), bool),
            confidence=np.zeros((t, f), np.float32),
            bbox=np.full((t, f, 4), nan, np.float32),
            landmarks=np.full((t, f, N_LANDMARKS, 3), nan, np.float32),
            pose=np.full((t, f, 3), nan, np.float32),
            translation=np.full((t, f, 3), nan, np.float32),
            gaze=np.full((t, f, 2), nan, np.float32),
            embeddings=np.full((f, embedding_dim), nan, np.float32),
            source=source,
        )

    def save(self, path: str | Path) -> None:
        """Write to a compressed .npz (no pickle), atomically."""
        from core.util.atomic import atomic_path

        header = {
            "width": self.width, "height": self.height,
            "fps": [self.fps.numerator, self.fps.denominator],
            "source": self.source, "meta": self.meta, "schema": 1,
        }
        buf = io.BytesIO()
        extra = {k: getattr(self, k) for k in _OPTIONAL if getattr(self, k) is not None}
        np.savez_compressed(buf, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
                            **{k: getattr(self, k) for k in _ARRAYS}, **extra)
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> ShotAnalysis:
        """Read a file written by save(); a damaged file raises ProjectError."""
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(bytes(z["header"]).decode())
                arrays = {k: z[k] for k in _ARRAYS}
                optional = {k: z[k] for k in _OPTIONAL if k in z.files}
                t_f = arrays["landmarks"].shape[:2]
                for k, tail in _OPTIONAL.items():
                    if k in optional and optional[k].shape != t_f + tail:
                        raise ValueError(f"{k} {optional[k].shape} do not match {t_f + tail} (frames, tracks)")
        except (*NPZ_ERRORS, json.JSONDecodeError) as exc:
            raise ProjectError(f"analysis file {path} is damaged or incomplete: {describe_npz_error(exc)}") from exc
        return cls(width=int(header["width"]), height=int(header["height"]),
                   fps=Fraction(*header["fps"]), source=header.get("source", ""),
                   meta=header.get("meta", {}), **optional, **arrays)
