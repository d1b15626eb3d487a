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
So the rotation is measured against the line of sight to the face, not the optical axis: a face
off the image centre that faces the lens reads yaw 0.

Gaze follows OpenFace 2.x (GazeAnalysis::EstimateGaze): a ray through the iris centre's image
position meets an eyeball sphere (radius 12 mm) whose centre is fixed in the head, and the gaze
is the unit vector from the centre to that point. The centre is the eye corners' midpoint as the
image shows it plus an offset from the head model (`eyeball_offsets`, 8.4 mm behind the corners;
OpenFace's model puts it 7 mm behind). The iris landmark's z is not used (MediaPipe gives all five
iris points one guessed depth). The ray runs along the camera's z (orthographic), as the pose fit
does: gaze and head rotation are then in the same frame, looking into the lens reads (0, 0, -1)
wherever the face is in the picture, and each eye is measured on its own (eyes that converge on
something nearer than the lens read converged). A ray from the camera centre through the pixel
would put the gaze in a frame the pose is not in, and lean on the nominal focal length, which a
crop or a long lens gets wrong. A ray that misses the sphere (the iris landmark further from the
centre than the radius) takes the sphere's point closest to it: the eye looking across the view.
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
# Per eye: outer corner, inner corner, upper and lower lid midpoints, iris centre (MediaPipe
# indices); eye 0 is the subject's right.
RIGHT_EYE = (33, 133, 159, 145, 468)
LEFT_EYE = (263, 362, 386, 374, 473)
EYES = (RIGHT_EYE, LEFT_EYE)


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


@cache
def eyeball_offsets() -> np.ndarray:
    """(2, 3) mm in the head frame: each eyeball's centre minus its eye corners' midpoint (eye 0
    the subject's right), from the head model. An eye looking straight ahead has its pupil in the
    lid opening (across: the corners' midpoint; up/down and in depth: the lid midpoints' mean, the
    lids resting on the eyeball round the cornea), and the centre lies EYEBALL_RADIUS_MM straight
    behind it. That is 8.4 mm behind the corners' midpoint and 0.5 mm above it."""
    m, _ = reference_model()
    out = []
    for outer, inner, upper, lower, _ in EYES:
        corners = (m[outer] + m[inner]) / 2.0
        lids = (m[upper] + m[lower]) / 2.0
        pupil = np.array([corners[0], lids[1], lids[2]])
        out.append(pupil + np.array([0.0, 0.0, EYEBALL_RADIUS_MM]) - corners)
    out = np.array(out)
    out.flags.writeable = False  # cached: shared by every call
    return out


def ray_sphere(origin: np.ndarray, direction: np.ndarray, centre: np.ndarray,
               radius: float) -> tuple[np.ndarray, bool]:
    """Where a ray first meets a sphere, and True; where it misses, the sphere's point closest
    to the ray (on the line from the centre to the ray's nearest point), and False."""
    d = np.asarray(direction, np.float64) / np.linalg.norm(direction)
    oc = np.asarray(origin, np.float64) - centre
    b = float(d @ oc)
    disc = b * b - float(oc @ oc) + radius * radius
    if disc >= 0.0:
        return origin + d * (-b - np.sqrt(disc)), True
    near = oc - d * b  # the ray's closest point, relative to the centre (never at the centre here)
    return centre + near * (radius / np.linalg.norm(near)), False


def eye_gaze(landmarks: np.ndarray, scale: float, rotation: np.ndarray, eye: int) -> tuple[np.ndarray, bool]:
    """One eye's unit gaze vector (camera axes) from (478, 3) plate-pixel landmarks and the pose
    fit's scale (pixels per mm) and rotation, and whether the iris ray met the eyeball (eye 0 the
    subject's right). Only the landmarks' image x, y are read."""
    outer, inner, _, _, iris = EYES[eye]
    lm = np.asarray(landmarks, np.float64)
    centre = np.append((lm[outer, :2] + lm[inner, :2]) / (2.0 * scale), 0.0) + rotation @ eyeball_offsets()[eye]
    origin = np.append(lm[iris, :2] / scale, centre[2] - 2.0 * EYEBALL_RADIUS_MM)  # in front of the eye
    point, hit = ray_sphere(origin, np.array([0.0, 0.0, 1.0]), centre, EYEBALL_RADIUS_MM)
    return (point - centre) / EYEBALL_RADIUS_MM, hit


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
    # gaze: an orthographic ray through each iris pixel onto an eyeball fixed in the head
    vecs = np.array([eye_gaze(lm, s, r, e)[0] for e in range(2)])
    mean = vecs.mean(0)
    angles = np.array([np.arctan2(mean[0], -mean[2]), np.arctan2(mean[1], -mean[2])])
    return HeadPose(rotation=r, euler=euler_from_matrix(r), translation=trans, scale=s, offset=t,
                    gaze_vectors=vecs, gaze_angles=angles, points_mm=pts)
