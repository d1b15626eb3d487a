"""Lids that follow an upward look are gaze, not AU05/AU07.

The lids ride on the eyeball: when the eyes turn up, the upper and lower lid margins rise with
the iris (d12.mp4's eye-rolls, frames 75-87: 0.8-0.96 of the iris's rise, r 0.85-0.94), and
the geometric solve read AU05 and AU07 at 5 on every upward look, where a FACS coder scores
neither (AU05 needs sclera shown above the iris). A neutral picked while the person looks down
likewise made every look at the camera read AU05 (d3.mp4 frames 0 and 180: 3.5, 5.0).

So before the solve each lid's rise is reduced by its share of the eyes' upward turn (the part
of the turn beyond the landmarks' noise), never below the lid's neutral height: only a raise
is taken back, so closure is never made.

The turn is read off the iris edge that no lid moves. MediaPipe's iris is five points (centre,
the two sides, top, bottom) and follows what the lids leave visible: a raised upper lid lifts
its top point and centre but not its bottom point (on the image round trip, AU05 at 5 lifts
the top 0.03-0.045 IOD, the centre 0.015-0.025, the bottom under 0.005), a raised lower lid
lifts its bottom point (AU07 at 5: bottom 0.02-0.036, top 0.004-0.012). A turning eye moves
all of them. So the upward turn is the smaller rise of the top and bottom points, per eye,
averaged over both eyes (they turn together). Downward looks are left: a closing lid drags
every iris point down with it.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from core.facs.model import LANDMARK_NOISE, model

# the subject's right eye (landmark 33 is its outer corner); the left is the mirror image
RIGHT_IRIS_TOP, RIGHT_IRIS_BOTTOM = 470, 472
# (landmarks, share of the lid margin's rise): the lid margins, less near the corners, and the
# lid skin the margins carry part way (as the AU05 and AU07 bases move it)
RIGHT_LIDS = (
    ((161, 160, 159, 158, 157, 163, 144, 145, 153, 154), 1.0),
    ((246, 173, 7, 155), 0.5),
    ((27, 28, 29, 30, 56), 0.6),
    ((22, 23, 24, 110), 0.3),
)
LID_FOLLOW = 0.9  # a lid margin's rise per unit of the iris's rise in an upward look
# a turn is only evidence beyond the landmarks' noise: the iris edges also jitter, and the far
# edge still follows a lid a little (AU07 at 5 lifts the iris's top point 0.004-0.012 IOD)
TURN_MARGIN = LANDMARK_NOISE


@cache
def _field() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lid points, their share of the lid margin's rise, iris [[top, bottom] per eye]), both eyes."""
    mirror = model().mirror
    pts, share = [], []
    for group, s in RIGHT_LIDS:
        for p in group:
            pts += [p, int(mirror[p])]
            share += [s, s]
    eyes = np.array([[RIGHT_IRIS_TOP, RIGHT_IRIS_BOTTOM], [mirror[RIGHT_IRIS_TOP], mirror[RIGHT_IRIS_BOTTOM]]])
    return np.array(pts), np.array(share, np.float64), eyes


def upward_turn(aligned: np.ndarray, neutral: np.ndarray) -> float:
    """How far the eyes have turned up from the neutral's gaze (IOD of iris travel, > 0 up), read
    off the iris edge no lid moved (the smaller rise of the iris's top and bottom points) and
    averaged over both eyes. Canonical frame (y points down); NaN without iris points."""
    _, _, eyes = _field()
    rise = neutral[eyes, 1] - aligned[eyes, 1]
    return float(rise.min(axis=1).mean())


def discount_upward_gaze(aligned: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """aligned (478, 3) with the lids' share of an upward look taken back, each lid point at most
    down to its neutral height."""
    turn = upward_turn(aligned, neutral) - TURN_MARGIN
    if not np.isfinite(turn) or turn <= 0.0:
        return aligned
    pts, share, _ = _field()
    lid_rise = neutral[pts, 1] - aligned[pts, 1]  # > 0: the point is above its neutral height
    back = np.clip(np.minimum(LID_FOLLOW * turn * share, lid_rise), 0.0, None)
    if not back.any():
        return aligned
    out = np.array(aligned, copy=True)
    out[pts, 1] += back
    return out
