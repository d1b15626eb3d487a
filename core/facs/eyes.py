"""Shut eyes read as shut: the lid landmarks' AU45 lifted to full closure where the image shows
no open eye.

MediaPipe leaves a gap between the lids of a shut eye (0.02-0.08 IOD against 0.17 at rest), so
the geometric solve reads a blink or a held closure at 2.5-4.7 instead of 5, and a swap driven
by the curves blinks only part way. core.analysis.eyestate stores, per frame and eye, how
strongly OpenCV's trained open-eye detector fires on the eye (NaN where it was not checked).
That evidence has no absolute scale (it depends on the plate and the person), so it is read as
a fraction of the same face's own open-eye level (REFERENCE_PERCENTILE of its checked frames).

The detector also stays quiet on open eyes it was not trained for (a narrow eye looking far
sideways, lids lowered in a squint or a downward look), so appearance alone never closes an
eye: an eye is lifted only where the landmarks already read most of a closure (AU45 from
LANDMARK_FROM, fully from LANDMARK_FULL) *and* the detector sees at most a small fraction of
the face's open-eye level (fully at RATIO_SHUT, not at all from RATIO_OPEN). Between those
the lift is proportional. Open eyes, partial closures, faces whose open eyes the detector
hardly sees (reference under MIN_REFERENCE windows) and heads turned past MAX_YAW (the
cascade was trained on frontal eyes; a turned eye fires less whatever its state) keep the
landmark reading.
"""

from __future__ import annotations

import numpy as np

REFERENCE_PERCENTILE = 90
MIN_REFERENCE = 20.0  # open-eye windows below which the detector is too weak on this face to judge
MIN_CHECKED = 8  # checked frames needed for a reference
RATIO_SHUT, RATIO_OPEN = 0.05, 0.10
LANDMARK_FROM, LANDMARK_FULL = 2.5, 3.5
FULL = 5.0
MAX_YAW = np.radians(30.0)


def lift_shut_eyes(au45: np.ndarray, evidence: np.ndarray, yaw: np.ndarray | None = None
                   ) -> tuple[np.ndarray, dict]:
    """au45: (T, 2) per-frame AU45R, AU45L from the landmark solve (NaN without a face);
    evidence: (T, 2) open-eye evidence of the same eyes (core.analysis.eyestate, NaN where not
    checked); yaw: (T,) head yaw in radians (frames turned past MAX_YAW are left). Returns the
    lifted (T, 2) and a record {open_reference: [r, l] or None per eye, frames_lifted: [r, l]}
    for the calibration."""
    out = np.array(au45, np.float64, copy=True)
    ev = np.array(evidence, np.float64, copy=True)
    if yaw is not None:
        ev[~(np.abs(np.asarray(yaw, np.float64)) <= MAX_YAW)] = np.nan  # NaN yaw: not known to be frontal
    record: dict = {"open_reference": [None, None], "frames_lifted": [0, 0]}
    for eye in (0, 1):
        checked = ev[:, eye][np.isfinite(ev[:, eye])]
        if len(checked) < MIN_CHECKED:
            continue
        ref = float(np.percentile(checked, REFERENCE_PERCENTILE))
        if ref < MIN_REFERENCE:
            continue
        record["open_reference"][eye] = round(ref, 1)
        s = out[:, eye]
        ratio = ev[:, eye] / ref
        w_app = np.clip((RATIO_OPEN - ratio) / (RATIO_OPEN - RATIO_SHUT), 0.0, 1.0)
        w_lm = np.clip((s - LANDMARK_FROM) / (LANDMARK_FULL - LANDMARK_FROM), 0.0, 1.0)
        w = np.where(np.isfinite(ratio) & np.isfinite(s) & (s < FULL), w_app * w_lm, 0.0)
        lifted = w > 0
        out[lifted, eye] = s[lifted] + w[lifted] * (FULL - s[lifted])
        record["frames_lifted"][eye] = int(lifted.sum())
    return out, record
