"""Eye state from appearance: how much of an open eye the image shows, per eye and frame.

MediaPipe's mesh never closes a shut eye all the way (it regresses toward an average face: on
real blinks the aligned lid gap stays at 0.02-0.08 IOD against 0.17 at rest), so lid landmarks
alone read a blink as half closed. OpenCV ships a trained open-eye detector (the Viola-Jones
cascade `haarcascade_eye.xml`, in opencv-contrib-python's data folder) that fires densely on
an open eye (iris, sclera, lid rims) and hardly at all on a shut one. Each eye is cut out
level (rotated by the line through its corners), scaled so that its width is half the crop,
contrast-equalised, and scanned at every position and scale with no grouping: the number of
windows that fire is the evidence. Its scale depends on the plate and the person (about
100-280 on the shared clips' open eyes, 0-17 on their shut ones), so it is only ever read
against the same face's own open-eye level over the shot (core.facs.eyes). The scan costs
6-10 ms an eye, so a track only checks an eye whose lids are closing (aperture under
CHECK_FRACTION of its running median) and, for that reference level, every REFERENCE_EVERY-th
frame (EyeStateSampler).
"""

from __future__ import annotations

import threading
from collections import deque

import cv2
import numpy as np

# subject's right eye (image left in a frontal view), then the left: corner landmark pairs
EYE_CORNERS = ((33, 133), (362, 263))
LID_CENTRES = ((159, 145), (386, 374))  # upper and lower lid centre of each eye
CHECK_FRACTION = 0.8  # check an eye whose aperture is under this fraction of the track's running median
REFERENCE_EVERY = 6  # and every this many frames of a track, for its open-eye reference
CROP = 64  # crop side in pixels; the eye's corner-to-corner width is half of it
MIN_EYE_PX = 12.0  # an eye narrower than this on the plate carries too little to judge
_CASCADE_FILE = "haarcascade_eye.xml"
_local = threading.local()  # a CascadeClassifier is not safe to share between threads


def _cascade() -> cv2.CascadeClassifier:
    c = getattr(_local, "cascade", None)
    if c is None:
        path = cv2.data.haarcascades + _CASCADE_FILE
        c = cv2.CascadeClassifier(path)
        if c.empty():
            raise RuntimeError(f"OpenCV's eye cascade {path} could not be loaded")
        _local.cascade = c
    return c


def eye_crop(gray: np.ndarray, points: np.ndarray, eye: int) -> np.ndarray | None:
    """The level, width-normalised CROP x CROP crop of one eye (0 = subject's right, 1 = left)
    from a uint8 grayscale plate and the face's (478, 2+) pixel landmarks; None when the eye is
    too small, not finite, or its crop leaves the frame."""
    a, b = EYE_CORNERS[eye]
    p, q = np.asarray(points[a, :2], np.float64), np.asarray(points[b, :2], np.float64)
    if not (np.isfinite(p).all() and np.isfinite(q).all()):
        return None
    d = q - p
    width = float(np.hypot(*d))
    if width < MIN_EYE_PX:
        return None
    centre = (p + q) / 2
    h, w = gray.shape[:2]
    half = width  # crop side = 2 eye widths
    if centre[0] - half < 0 or centre[1] - half < 0 or centre[0] + half > w or centre[1] + half > h:
        return None
    ux = d / width  # eye axis; the right eye's corners run outer -> inner, the left's inner -> outer
    if ux[0] < 0:
        ux = -ux
    uy = np.array([-ux[1], ux[0]])
    s = (CROP / 2) / width
    m = np.array([[ux[0] * s, ux[1] * s, 0.0], [uy[0] * s, uy[1] * s, 0.0]])
    m[:, 2] = CROP / 2 - m[:, :2] @ centre
    crop = cv2.warpAffine(gray, m, (CROP, CROP), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return cv2.equalizeHist(crop)


def lid_aperture(points: np.ndarray) -> np.ndarray:
    """(2,) lid gap over corner-to-corner width of each eye [right, left], from the landmarks."""
    out = np.full(2, np.nan)
    for eye, ((a, b), (u, v)) in enumerate(zip(EYE_CORNERS, LID_CENTRES, strict=True)):
        width = float(np.hypot(*(points[a, :2] - points[b, :2])))
        if width > 0:
            out[eye] = float(np.hypot(*(points[u, :2] - points[v, :2]))) / width
    return out


def open_eye_evidence(gray: np.ndarray, points: np.ndarray, eyes: tuple[bool, bool] = (True, True)) -> np.ndarray:
    """(2,) float32, [subject's right eye, left eye]: how many windows of the open-eye cascade
    fire on the eye's crop (see the module docstring); NaN where eye_crop gives none or the eye
    is not asked for (`eyes`)."""
    out = np.full(2, np.nan, np.float32)
    for eye in (0, 1):
        if not eyes[eye]:
            continue
        crop = eye_crop(gray, points, eye)
        if crop is None:
            continue
        rects, _levels, _weights = _cascade().detectMultiScale3(
            crop, scaleFactor=1.05, minNeighbors=0, minSize=(20, 20), outputRejectLevels=True)
        out[eye] = len(rects)
    return out


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """uint8 grayscale of an RGB uint8 frame (what open_eye_evidence reads)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


class FrameGray:
    """A frame's grayscale, converted on first use and kept (one frame, several faces)."""

    def __init__(self, rgb: np.ndarray) -> None:
        self.rgb, self.gray = rgb, None

    def __call__(self) -> np.ndarray:
        if self.gray is None:
            self.gray = to_gray(self.rgb)
        return self.gray


class EyeStateSampler:
    """Per face track: which eyes of a frame get the appearance check (see the module docstring).
    Call with the frame's grayscale (or a function giving it, so frames that need no check
    never convert) and the face's landmarks; returns open_eye_evidence, NaN where unchecked."""

    def __init__(self, window: int = 90) -> None:
        self.apertures: deque[np.ndarray] = deque(maxlen=window)  # the running median's window
        self.count = 0

    def __call__(self, gray, points: np.ndarray) -> np.ndarray:
        ap = lid_aperture(points)
        self.apertures.append(ap)
        median = np.nanmedian(np.array(self.apertures), axis=0)
        reference = self.count % REFERENCE_EVERY == 0
        self.count += 1
        want = tuple(bool(reference or not (ap[e] >= CHECK_FRACTION * median[e])) for e in (0, 1))
        if not any(want):
            return np.full(2, np.nan, np.float32)
        return open_eye_evidence(gray() if callable(gray) else gray, points, want)
