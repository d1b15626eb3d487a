"""Per-face neutral calibration: the mesh a person's expression is measured from.

A person's own face shape must not read as expression (naturally low brows are not AU4), so
the solver measures displacement from that person's neutral, found one of three ways:

- 'frame':     the aligned mesh of a chosen neutral frame (averaged with its present
               neighbours within +-1 frame to damp landmark jitter);
- 'auto':      estimated from the shot, region by region (each eye, each brow, the mouth and
               jaw, the rest): per region, the median of the 10% of frames (at least 3) whose
               region is nearest the canonical neutral and at rest,
               i.e. the least expressive ones for that region, blended across regions with
               smooth weights. Per region because
               expressions rarely coincide: a blink's frame can have the most neutral mouth, a
               smile's the most neutral eyes; one whole-face choice would put the closed eye
               into the neutral. Like OpenFace's person-specific neutral, it assumes the shot
               relaxes each region at some point; a shot that never does needs a chosen frame;
- 'canonical': the shipped canonical neutral (stills, short shots): identity shape then
               partly reads as expression, which the calibration record says. The solve
               weights each landmark by how little neutral faces differ there (the identity
               spread shipped with the canonical), so less of it does.
"""

from __future__ import annotations

import numpy as np

from core.facs.model import model

MIN_AUTO_FRAMES = 25
NEUTRAL_FRACTION = 0.1  # share of a shot's frames whose median is an 'auto' neutral
# weight of a region's motion (squared displacement between the frames either side) against its
# distance from the canonical neutral: a neutral is a held, relaxed state, while a face passing
# through a near-canonical shape on its way into or out of an expression is not at rest
REST_WEIGHT = 4.0


def calibration_canonical() -> dict:
    return {"method": "canonical", "frame": None, "neutral": model().neutral.copy(),
            "offsets": None, "n_frames": 0, "identity_weighted": True}


def calibration_from_frames(aligned: np.ndarray, frame: int | None = None) -> dict:
    """Neutral from aligned meshes (N, 478, 3) (all of the shot's present frames, in order)."""
    return {"method": "frame", "frame": frame, "neutral": np.mean(aligned, axis=0),
            "offsets": None, "n_frames": int(len(aligned))}


# Regions of the 'auto' neutral: centres (canonical x, y in IOD; +x subject's left, +y down) and
# widths of Gaussian weights: left eye, right eye, left brow, right brow, mouth and jaw; whatever
# they leave uncovered is one more region (nose, cheeks, outline).
ZONE_CENTRES = np.array([[0.5, 0.0], [-0.5, 0.0], [0.55, -0.32], [-0.55, -0.32], [0.0, 1.05]])
ZONE_WIDTHS = np.array([0.22, 0.22, 0.22, 0.22, 0.4])
# (upper lid, lower lid) landmarks of the two eyes, in the order of the eye and brow regions, and the
# share of the eye's usual open gap under which a frame's lids count as lowered (_open_lids_only)
LOWERED = 0.7
EYE_LIDS = (([385, 386, 387], [380, 374, 373]), ([158, 159, 160], [153, 145, 144]))


def zone_weights(neutral: np.ndarray) -> np.ndarray:
    """(Z, 478) weights of each landmark in each calibration region (columns sum to 1)."""
    xy = np.asarray(neutral)[:, :2]
    w = np.exp(-0.5 * ((xy[None] - ZONE_CENTRES[:, None]) ** 2).sum(-1) / ZONE_WIDTHS[:, None] ** 2)
    w = np.vstack([w, np.clip(1.0 - w.sum(0), 0.0, None)])
    return w / np.maximum(w.sum(0, keepdims=True), 1e-12)


def calibration_auto(aligned: np.ndarray) -> dict:
    """Robust per-shot neutral from every present frame's aligned mesh (N, 478, 3)."""
    m = model()
    n = len(aligned)
    if n < MIN_AUTO_FRAMES:
        cal = calibration_canonical()
        cal["note"] = f"only {n} frame(s) with a face (< {MIN_AUTO_FRAMES}): canonical neutral used"
        return cal
    # a person's identity shape is a constant offset from the canonical neutral and expressions
    # add to it, so per region the frames nearest the canonical neutral (weighted landmark
    # distance, after each frame's own alignment) are the person's least expressive ones. Their
    # per-coordinate median is the neutral: it stays within the observed faces (never an
    # extrapolated mesh), and one expressive frame among the picks does not move it (d12.mp4's
    # mouth picks hold a broad smile; with the mean, its rest frames read AU15 1.6 and AU23 0.9).
    # (A per-basis low-percentile fold-back, as in OpenFace, was tried: signed solves of
    # correlated bases saturate on real footage.)
    #
    # The canonical neutral is an average face, so a person whose corners turn down at rest is
    # nearer to it in the middle of a smile's onset than at rest; frames in motion are therefore
    # penalised (d0.mp4: the mouth neutral came from the smile's onset and offset, and the rest
    # frames read AU15 at 2.1; at rest they read 0.8).
    w = m.elem_w.reshape(478, 3)
    d2 = ((aligned - m.neutral) ** 2 * w).sum(-1)  # (N, 478)
    before = np.r_[0, np.arange(n - 1)]
    after = np.r_[np.arange(1, n), n - 1]
    d2 = d2 + REST_WEIGHT * ((aligned[after] - aligned[before]) ** 2 * w).sum(-1)
    k = max(3, int(round(n * NEUTRAL_FRACTION)))
    zones = zone_weights(m.neutral)
    neutral = np.zeros((478, 3))
    picks = []
    for z, zw in enumerate(zones):
        score = d2 @ zw
        if z < 2 * len(EYE_LIDS):  # each eye, and each brow, whose region reaches the upper lid
            score = _open_lids_only(score, aligned, *EYE_LIDS[z % len(EYE_LIDS)], m.neutral, k)
        pick = np.sort(np.argsort(score, kind="stable")[:k])
        neutral += zw[:, None] * np.median(aligned[pick], axis=0)
        picks.append(pick.tolist())
    return {"method": "auto", "frame": None, "neutral": neutral, "offsets": None,
            "n_frames": int(n), "neutral_frames": picks,
            "regions": ["left eye", "right eye", "left brow", "right brow", "mouth and jaw", "rest"]}


def _open_lids_only(score: np.ndarray, aligned: np.ndarray, upper: list[int], lower: list[int],
                    canonical: np.ndarray, k: int) -> np.ndarray:
    """An eye or brow region's scores with the frames whose lids are lowered taken out (inf).

    An eye at rest is open, and blinks, squints and downward looks only ever lower the lid, but
    the region's distance from the canonical also counts the brows, the corners and the cheek:
    d3.mp4's left-eye neutral came from a held downward look (lid gap 0.07-0.09 IOD against 0.15
    at rest), so her ordinary open eye read AU05 2-4 and her squeezed wink AU45 2.5. A frame is
    lowered when its lid gap is under LOWERED of the eye's usual open gap: the shot's upper
    quartile, or the canonical's gap where that is smaller (a shot of mostly wide eyes, d6.mp4,
    keeps its resting frames)."""
    gap = (aligned[:, lower, 1] - aligned[:, upper, 1]).mean(axis=1)
    usual = min(float(np.percentile(gap, 75)), float((canonical[lower, 1] - canonical[upper, 1]).mean()))
    keep = gap >= LOWERED * usual
    return np.where(keep, score, np.inf) if keep.sum() >= k else score


def calibration_to_json(cal: dict) -> dict:
    """JSON-safe copy (the neutral mesh as nested lists, canonical frame, IOD units)."""
    out = {k: v for k, v in cal.items() if k != "neutral"}
    out["neutral"] = np.round(np.asarray(cal["neutral"], float), 6).tolist()
    return out


def calibration_from_json(data: dict) -> dict:
    cal = dict(data)
    cal["neutral"] = np.asarray(data["neutral"], np.float64)
    return cal
