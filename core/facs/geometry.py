"""Rigid alignment for the AU engine: weighted similarity (Umeyama) on stable landmarks.

Stable points are those no AU in the catalogue moves (or barely): the nose bridge, the eye
corners, the temples and the upper forehead. Aligning on them removes head motion and
scale without absorbing expression into the pose.
"""

from __future__ import annotations

import numpy as np

# nose bridge, inner and outer eye corners, temples/upper face sides, upper forehead
STABLE_POINTS = np.array([6, 168, 197, 195, 133, 362, 33, 263, 127, 356, 162, 389, 234, 454, 10, 151],
                         dtype=np.int64)
STABLE_WEIGHTS = np.array([2.0, 2.0, 2.0, 1.5, 1.5, 1.5, 1.0, 1.0, 1.0, 1.0, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7])


def similarity(src: np.ndarray, dst: np.ndarray, w: np.ndarray | None = None
               ) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted least-squares similarity: s, R (3x3, det +1), t with dst ~= s * src @ R.T + t.

    Points with weight 0 (or NaN coordinates given weight 0) do not count.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    if w is None:
        w = np.ones(len(src))
    else:
        w = np.asarray(w, np.float64)
        keep = np.flatnonzero(w)
        if len(keep) < len(w):  # the AU solver aligns on 16 of 478 points: skip the rest
            src, dst, w = src[keep], dst[keep], w[keep]
    sw = w.sum()
    mu_s = w @ src / sw
    mu_d = w @ dst / sw
    a = src - mu_s
    b = dst - mu_d
    cov = (b * w[:, None]).T @ a / sw
    u, d, vt = np.linalg.svd(cov)
    e = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[2] = -1.0
    r = (u * e) @ vt
    var = (w * (a * a).sum(1)).sum() / sw
    s = float((d * e).sum() / var)
    t = mu_d - s * mu_s @ r.T
    return s, r, t


def rotation_to_euler(r: np.ndarray) -> tuple[float, float, float]:
    """OpenFace-style pitch (Rx), yaw (Ry), roll (Rz) in radians from R = Rx @ Ry @ Rz."""
    ry = float(np.arcsin(np.clip(r[0, 2], -1.0, 1.0)))
    rx = float(np.arctan2(-r[1, 2], r[2, 2]))
    rz = float(np.arctan2(-r[0, 1], r[0, 0]))
    return rx, ry, rz
