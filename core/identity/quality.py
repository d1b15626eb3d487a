"""Quality gates for identity-template sources, with clear reasons.

A template is only as good as its source: the face must be large enough, near frontal,
eyes open, sharp, and unambiguous (one face, or the user says which). Each gate measures
something scale-free so it does not depend on the picture's resolution:
- size: the face mesh's bounding box (largest side) in pixels;
- pose: |yaw| and |pitch| from the analysis package's head pose (OpenFace convention);
- eyes: lid opening / eye width per eye (MediaPipe 159-145 / 33-133 and 386-374 / 263-362);
- blur: how much Laplacian energy a 1-pixel Gaussian removes from the face crop normalised
  to 128 px. A sharp face loses most of it (ratio >= ~4, paintings included), a blurred
  one little (ratio ~2), whatever the picture's contrast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from core.errors import NoFaceError


class QualityError(NoFaceError):
    """A source image cannot make a template (too small, turned away, eyes closed, blurred,
    several faces...). The message lists every reason and what to do."""


@dataclass(frozen=True)
class QualityLimits:
    """Thresholds of the gates (defaults suit a template texture; all can be overridden)."""

    min_face_px: float = 100.0  # refuse below (face mesh bounding box, largest side)
    warn_face_px: float = 200.0  # warn below: the texture will be upsampled
    max_yaw_deg: float = 25.0
    max_pitch_deg: float = 25.0
    min_eye_open: float = 0.10  # lid gap / eye width, per eye
    min_sharpness: float = 3.2  # Laplacian energy ratio (see module docstring)
    warn_mouth_open: float = 0.25  # inner lip gap / mouth width


@dataclass
class QualityReport:
    """What was measured on one face of one source, and whether it passed."""

    faces: int
    face_index: int
    face_px: float
    inter_ocular_px: float
    pitch_deg: float
    yaw_deg: float
    roll_deg: float
    eye_open: tuple[float, float]  # subject's right, left
    sharpness: float
    mouth_open: float = 0.0  # inner lip gap / mouth width (a neutral face is near 0)
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.reasons

    def score(self) -> float:
        """Higher is better: frontal, sharp, large, mouth closed (picks the texture source)."""
        return (-abs(self.yaw_deg) - abs(self.pitch_deg) + 4.0 * min(self.sharpness, 8.0)
                + 10.0 * min(self.face_px / 400.0, 1.0) - 40.0 * self.mouth_open)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["eye_open"] = [round(float(v), 3) for v in self.eye_open]
        for k in ("face_px", "inter_ocular_px", "pitch_deg", "yaw_deg", "roll_deg", "sharpness", "mouth_open"):
            d[k] = round(float(d[k]), 3)
        d["passed"] = self.passed
        return d


def eye_openness(landmarks: np.ndarray) -> tuple[float, float]:
    """Lid gap over eye width for the subject's right and left eye (the analyser's lid aperture)."""
    from core.analysis.eyestate import lid_aperture

    right, left = lid_aperture(np.asarray(landmarks, np.float64))
    return float(right), float(left)


def mouth_openness(landmarks: np.ndarray) -> float:
    """Inner lip gap (13-14) over mouth width (78-308)."""
    p = np.asarray(landmarks, np.float64)[:, :2]
    return float(np.linalg.norm(p[13] - p[14]) / max(np.linalg.norm(p[78] - p[308]), 1e-6))


def sharpness(image: np.ndarray, bbox: np.ndarray, size: int = 128) -> float:
    """Laplacian energy of the face crop (largest side `size` px) over that after a 1 px blur."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2GRAY)
    h, w = gray.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in bbox)
    crop = gray[max(0, y0):min(h, y1), max(0, x0):min(w, x1)].astype(np.float32)
    if crop.size < 16:
        return 0.0
    s = size / max(crop.shape)
    crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    e = float(cv2.Laplacian(crop, cv2.CV_32F).var())
    e_blur = float(cv2.Laplacian(cv2.GaussianBlur(crop, (0, 0), 1.0), cv2.CV_32F).var())
    return e / max(e_blur, 1e-6)


def assess(image: np.ndarray, face, n_faces: int, face_index: int,
           limits: QualityLimits = QualityLimits(), index_given: bool = False) -> QualityReport:
    """Measure one analysed face (an analysis FaceResult) against the gates."""
    lm = np.asarray(face.landmarks, np.float64)
    pitch, yaw, roll = (float(np.degrees(v)) for v in face.pose)
    rep = QualityReport(
        faces=n_faces, face_index=face_index, face_px=float(face.size),
        inter_ocular_px=float(np.linalg.norm(lm[33, :2] - lm[263, :2])),
        pitch_deg=pitch, yaw_deg=yaw, roll_deg=roll, eye_open=eye_openness(lm),
        sharpness=sharpness(image, face.bbox), mouth_open=mouth_openness(lm))
    if n_faces > 1 and not index_given:
        rep.reasons.append(f"{n_faces} faces in the picture: say which one to use (face index 0..{n_faces - 1}, "
                           "largest first)")
    if rep.face_px < limits.min_face_px:
        rep.reasons.append(f"face too small: {rep.face_px:.0f} px (needs at least {limits.min_face_px:.0f} px); "
                           "use a closer or higher-resolution picture")
    elif rep.face_px < limits.warn_face_px:
        rep.warnings.append(f"small face ({rep.face_px:.0f} px): the template texture is upsampled and will look soft")
    if abs(yaw) > limits.max_yaw_deg or abs(pitch) > limits.max_pitch_deg:
        rep.reasons.append(f"face too far from frontal: yaw {yaw:+.0f} deg, pitch {pitch:+.0f} deg (limit "
                           f"{limits.max_yaw_deg:.0f}/{limits.max_pitch_deg:.0f}); use a picture facing the camera")
    if min(rep.eye_open) < limits.min_eye_open:
        rep.reasons.append(f"eyes closed or nearly closed (openness right {rep.eye_open[0]:.2f}, left "
                           f"{rep.eye_open[1]:.2f}, needs {limits.min_eye_open:.2f}); use a picture with open eyes")
    if rep.mouth_open > limits.warn_mouth_open:
        rep.warnings.append(f"mouth open ({rep.mouth_open:.2f}): the template's neutral face will have an open mouth; "
                            "a neutral, closed-mouth picture works best")
    if rep.sharpness < limits.min_sharpness:
        rep.reasons.append(f"face blurred (sharpness {rep.sharpness:.2f}, needs {limits.min_sharpness:.2f}); "
                           "use a sharper picture (no motion blur, in focus)")
    return rep
