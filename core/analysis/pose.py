"""Head pose, translation and gaze from the 478 landmarks, in OpenFace 2.x conventions.

Conventions (checked against OpenFace's wiki "Output Format" and a real OpenFace CSV):
- Camera space: x to the image right, y down, z away from the camera, millimetres.
- pose_Rx, pose_Ry, pose_Rz (pitch, yaw, roll), radians, with R = Rx @ Ry @ Rz rotating
  the head model (x right, y down, z away, nose towards -z) into camera space. So pose_Rx > 0
  is the head pitched down (chin towards the chest), pose_Ry > 0 turns the nose towards the
  image left (the subject's right), pose_Rz > 0 rolls the image-right side of the face down.
- pose_T: the head model's origin (centroid of the 68-point subset) in camera space, from
  OpenFace's nominal intrinsics when no calibration is known: fx = 500 * W / 640,
  fy = 500 * H / 480, f = (fx + fy) / 2, principal point at the image centre.
- Gaze vectors point from the eye into the scene in camera space (looking into the lens is
  about (0, 0, -1)); gaze_angle_x = atan2(gx, -gz) (> 0 looking towards the image right),
  gaze_angle_y = atan2(gy, -gz) (> 0 looking down), from the mean of the two eyes' vectors.
  Eye 0 is the subject's right eye (the image-left eye in an unmirrored frontal view).

Method: a similarity (Umeyama) fit of MediaPipe's canonical face to stable landmarks (eye
corners, nose, forehead, temples; not the mouth, brows or jaw, which move with expression)
gives rotation and scale under weak perspective; depth comes from scale and the focal length.
Gaze uses an eyeball model: the iris centre, expressed in the head frame, sits on a sphere of
radius 12 mm centred behind the midpoint of the eye corners.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from core.analysis.canonical import canonical_model_mm
from core.analysis.landmarks68 import MP_TO_68

# Landmarks that move little with expression (MediaPipe indices).
STABLE_POINTS = np.array([
    33, 133, 263, 362,  # eye corners
    168, 6, 197, 195, 5, 4, 1, 2, 98, 327, 129, 358,  # nose
    10, 151, 9, 108, 337, 109, 338, 67, 297,  # forehead
    234, 454, 127, 356, 93, 323, 116, 345, 123, 352,  # temples, cheekbones
], dtype=np.int64)

EYEBALL_RADIUS_MM = 12.0
# MediaPipe's canonical face is pitched 0.117 rad (6.7 degrees) relative to OpenFace's mean face
# (PDM): fitting it to the 3D landmarks of a real OpenFace 2.x CSV (shared reference file, 100
# frames) reads pitch 0.117 lower than OpenFace's pose_Rx, with a spread of 0.002 and yaw/roll
# within 0.015. The model is turned by this much so a neutral, level head reads 0 as in OpenFace.
OPENFACE_PITCH_OFFSET = 0.117
RIGHT_EYE = (33, 133, 468)  # outer corner, inner corner, iris centre (subject's right)
LEFT_EYE = (263, 362, 473)


def nominal_focal(width: int, height: int) -> float:
    """OpenFace's default focal length in pixels when the camera is not calibrated."""
    return (500.0 * width / 640.0 + 500.0 * height / 480.0) / 2.0


@cache
def reference_model() -> tuple[np.ndarray, np.ndarray]:
    """(468, 3) head model in mm (OpenFace frame and neutral pitch, origin at its 68-point
    centroid) and that origin in the canonical model's coordinates."""
    m = canonical_model_mm() @ matrix_from_euler(np.array([-OPENFACE_PITCH_OFFSET, 0.0, 0.0])).T
    origin = m[MP_TO_68].mean(axis=0)
    return m - origin, origin


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity (s, R, t) minimising |dst - (s R src + t)|^2; R is a proper rotation."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(cov)
    sgn = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sgn[2] = -1.0
    r = u @ np.diag(sgn) @ vt
    var = (a ** 2).sum() / len(src)
    s = float((d * sgn).sum() / max(var, 1e-12))
    t = mu_d - s * r @ mu_s
    return s, r, t


def euler_from_matrix(r: np.ndarray) -> np.ndarray:
    """(pitch, yaw, roll) with r = Rx(pitch) @ Ry(yaw) @ Rz(roll) (OpenFace's order)."""
    yaw = np.arcsin(np.clip(r[0, 2], -1.0, 1.0))
    pitch = np.arctan2(-r[1, 2], r[2, 2])
    roll = np.arctan2(-r[0, 1], r[0, 0])
    return np.array([pitch, yaw, roll])


def matrix_from_euler(e: np.ndarray) -> np.ndarray:
    """Rx(e0) @ Ry(e1) @ Rz(e2)."""
    a, b, c = (float(v) for v in e)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rx @ ry @ rz


class HeadPose:
    """Everything pose-related for one face in one frame."""

    __slots__ = ("rotation", "euler", "translation", "scale", "offset", "gaze_vectors", "gaze_angles", "points_mm")

    def __init__(self, rotation, euler, translation, scale, offset, gaze_vectors, gaze_angles, points_mm):
        self.rotation = rotation
        self.euler = euler
        self.translation = translation
        self.scale = scale
        self.offset = offset
        self.gaze_vectors = gaze_vectors
        self.gaze_angles = gaze_angles
        self.points_mm = points_mm


def estimate_pose(landmarks: np.ndarray, width: int, height: int, focal: float | None = None) -> HeadPose:
    """Pose, translation (mm), gaze and camera-space points (mm) from (478, 3) plate-pixel landmarks."""
    lm = np.asarray(landmarks, np.float64)
    model, _ = reference_model()
    s, r, t = umeyama(model[STABLE_POINTS], lm[STABLE_POINTS])
    f = float(focal) if focal else nominal_focal(width, height)
    cx, cy = width / 2.0, height / 2.0
    tz = f / max(s, 1e-9)
    trans = np.array([(t[0] - cx) * tz / f, (t[1] - cy) * tz / f, tz])
    # camera-space points: depth from the landmark z relative to the fitted origin
    z_cam = tz + (lm[:, 2] - t[2]) / s
    pts = np.stack([(lm[:, 0] - cx) * z_cam / f, (lm[:, 1] - cy) * z_cam / f, z_cam], axis=1)
    # gaze: landmarks in the head frame (mm)
    head = (lm - t) @ r / s
    vecs = []
    for outer, inner, iris in (RIGHT_EYE, LEFT_EYE):
        centre = (head[outer] + head[inner]) / 2.0
        off = head[iris, :2] - centre[:2]
        n = np.linalg.norm(off)
        lim = 0.95 * EYEBALL_RADIUS_MM
        if n > lim:
            off = off * (lim / n)
        g = np.array([off[0], off[1], -np.sqrt(EYEBALL_RADIUS_MM ** 2 - off @ off)])
        g = r @ (g / np.linalg.norm(g))
        vecs.append(g)
    vecs = np.array(vecs)
    mean = vecs.mean(0)
    angles = np.array([np.arctan2(mean[0], -mean[2]), np.arctan2(mean[1], -mean[2])])
    return HeadPose(rotation=r, euler=euler_from_matrix(r), translation=trans, scale=s, offset=t,
                    gaze_vectors=vecs, gaze_angles=angles, points_mm=pts)
