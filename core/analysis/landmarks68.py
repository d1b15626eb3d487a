"""MediaPipe 478-point mesh -> the 68-point iBUG 300-W layout OpenFace and dlib use.

iBUG order: 0-16 jaw (subject's right ear to left ear via the chin), 17-21 right brow and
22-26 left brow (outer to inner / inner to outer, left to right in the image), 27-30 nose
bridge to tip, 31-35 nostril base, 36-41 right eye, 42-47 left eye (from the outer/inner
corner clockwise in the image), 48-59 outer lip, 60-67 inner lip. The jaw is the nearest
points on MediaPipe's face oval (which runs a little higher on the cheeks than iBUG's jaw).
"""

from __future__ import annotations

import numpy as np

MP_TO_68 = np.array([
    127, 234, 93, 132, 58, 172, 136, 176, 152, 400, 365, 397, 288, 361, 323, 454, 356,  # jaw 0-16
    70, 63, 105, 66, 107,  # right brow 17-21
    336, 296, 334, 293, 300,  # left brow 22-26
    168, 197, 5, 4,  # nose bridge 27-30
    98, 97, 2, 326, 327,  # nostrils 31-35
    33, 160, 158, 133, 153, 144,  # right eye 36-41
    362, 385, 387, 263, 373, 380,  # left eye 42-47
    61, 39, 37, 0, 267, 269, 291,  # upper outer lip 48-54
    405, 314, 17, 84, 181,  # lower outer lip 55-59
    78, 81, 13, 311, 308, 402, 14, 178,  # inner lip 60-67
], dtype=np.int64)

assert MP_TO_68.shape == (68,)


def to_68(landmarks: np.ndarray) -> np.ndarray:
    """(..., 478, C) -> (..., 68, C)."""
    return np.asarray(landmarks)[..., MP_TO_68, :]
