"""Per-face neutral calibration: the mesh a person's expression is measured from.

A person's own face shape must not read as expression (naturally low brows are not AU4), so
the solver measures displacement from that person's neutral, found one of three ways:

- 'frame':     the aligned mesh of a chosen neutral frame (averaged with its present
               neighbours within +-1 frame to damp landmark jitter);
- 'auto':      estimated from the shot as OpenFace does with its person-specific neutral:
               the per-vertex median of the aligned meshes, then each AU's low percentile
               (10th) over the shot is taken as that AU's zero and folded back into the
               neutral mesh (neutral = median + sum_k p10_k * basis_k); needs MIN_AUTO_FRAMES;
- 'canonical': the shipped canonical neutral (stills, short shots): identity shape then
               partly reads as expression, which the calibration record says.
"""

from __future__ import annotations

import numpy as np

from core.facs.model import model, solve_aligned

LOW_PERCENTILE = 10.0
MIN_AUTO_FRAMES = 25


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
    base = np.median(aligned, axis=0)
    coef = np.array([solve_aligned(x, base, lo=-5.0)[0] for x in aligned])
    offsets = np.percentile(coef, LOW_PERCENTILE, axis=0)
    neutral = base + np.tensordot(offsets, m.bases, axes=1)
    return {"method": "auto", "frame": None, "neutral": neutral,
            "offsets": dict(zip(m.basis_names, offsets.round(4).tolist(), strict=True)), "n_frames": int(n)}


def calibration_to_json(cal: dict) -> dict:
    """JSON-safe copy (the neutral mesh as nested lists, canonical frame, IOD units)."""
    out = {k: v for k, v in cal.items() if k != "neutral"}
    out["neutral"] = np.round(np.asarray(cal["neutral"], float), 6).tolist()
    return out


def calibration_from_json(data: dict) -> dict:
    cal = dict(data)
    cal["neutral"] = np.asarray(data["neutral"], np.float64)
    return cal
