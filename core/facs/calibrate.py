"""Per-face neutral calibration: the mesh a person's expression is measured from.

A person's own face shape must not read as expression (naturally low brows are not AU4), so
the solver measures displacement from that person's neutral, found one of three ways:

- 'frame':     the aligned mesh of a chosen neutral frame (averaged with its present
               neighbours within +-1 frame to damp landmark jitter);
- 'auto':      estimated from the shot: the mean of the 10% of frames (at least 3) whose
               aligned mesh is nearest the canonical neutral, i.e. the least expressive ones
               (their plate frame numbers in `neutral_frames`); needs MIN_AUTO_FRAMES. Like
               OpenFace's person-specific neutral, it assumes the shot holds some neutral frames;
               a shot that never relaxes needs a chosen neutral frame instead;
- 'canonical': the shipped canonical neutral (stills, short shots): identity shape then
               partly reads as expression, which the calibration record says.
"""

from __future__ import annotations

import numpy as np

from core.facs.model import model

MIN_AUTO_FRAMES = 25
NEUTRAL_FRACTION = 0.1  # share of a shot's frames averaged into an 'auto' neutral


def calibration_canonical() -> dict:
    return {"method": "canonical", "frame": None, "neutral": model().neutral.copy(),
            "offsets": None, "n_frames": 0}


def calibration_from_frames(aligned: np.ndarray, frame: int | None = None) -> dict:
    """Neutral from aligned meshes (N, 478, 3) (all of the shot's present frames, in order)."""
    return {"method": "frame", "frame": frame, "neutral": np.mean(aligned, axis=0),
            "offsets": None, "n_frames": int(len(aligned))}


def calibration_auto(aligned: np.ndarray) -> dict:
    """Robust per-shot neutral from every present frame's aligned mesh (N, 478, 3)."""
    m = model()
    n = len(aligned)
    if n < MIN_AUTO_FRAMES:
        cal = calibration_canonical()
        cal["note"] = f"only {n} frames with a face (< {MIN_AUTO_FRAMES}): canonical neutral used"
        return cal
    # a person's identity shape is a constant offset from the canonical neutral and expressions
    # add to it, so the frames nearest the canonical neutral (weighted landmark distance, after
    # each frame's own alignment) are the person's least expressive ones. Their mean is an
    # observed face, never an extrapolated mesh. (A per-basis low-percentile fold-back, as in
    # OpenFace, was tried: the signed solves of the correlated detector responses saturate on
    # real footage and turned a smiling shot's neutral frames into AU23/AU6 at 5.)
    w = m.elem_w.reshape(478, 3)
    dist = np.array([np.sqrt((w * (x - m.neutral) ** 2).sum()) for x in aligned])
    k = max(3, int(round(n * NEUTRAL_FRACTION)))
    pick = np.sort(np.argsort(dist, kind="stable")[:k])
    return {"method": "auto", "frame": None, "neutral": aligned[pick].mean(axis=0), "offsets": None,
            "n_frames": int(n), "neutral_frames": pick.tolist()}


def calibration_to_json(cal: dict) -> dict:
    """JSON-safe copy (the neutral mesh as nested lists, canonical frame, IOD units)."""
    out = {k: v for k, v in cal.items() if k != "neutral"}
    out["neutral"] = np.round(np.asarray(cal["neutral"], float), 6).tolist()
    return out


def calibration_from_json(data: dict) -> dict:
    cal = dict(data)
    cal["neutral"] = np.asarray(data["neutral"], np.float64)
    return cal
