"""Non-square pixels (anamorphic plates): the square-pixel working picture and back.

An anamorphic plate stores a picture squeezed horizontally: a pixel is `pixel_aspect` times as
wide as it is tall when shown (2.0 for a 2x anamorphic lens, 1.33 for DVCPRO HD's 1440x1080).
Face geometry (landmarks, meshes, AU bases, poses) is only meaningful on square pixels, so
faces are measured on the picture desqueezed to `square_width` columns, and the landmarks of
an analysis are in that square space (x = plate x * pixel_aspect). Pixels are written on the
plate's own grid: a render changes the desqueezed picture and only its change is squeezed back
(core.render.renderer), so what it does not touch stays the plate bit for bit.
"""

from __future__ import annotations

import numpy as np


def is_square(pixel_aspect: float) -> bool:
    """True for square pixels (what needs no resampling)."""
    return abs(float(pixel_aspect) - 1.0) < 1e-3


def square_width(width: int, pixel_aspect: float) -> int:
    """Columns of the desqueezed (square-pixel) picture of a plate `width` pixels wide."""
    return int(width) if is_square(pixel_aspect) else max(1, int(round(int(width) * float(pixel_aspect))))


def desqueeze(image: np.ndarray, pixel_aspect: float) -> np.ndarray:
    """The picture on square pixels: `image` resampled to square_width columns (same rows)."""
    if is_square(pixel_aspect):
        return image
    import cv2  # here: the reader asks is_square while probing, which needs no OpenCV

    h, w = image.shape[:2]
    sw = square_width(w, pixel_aspect)
    return cv2.resize(image, (sw, h), interpolation=cv2.INTER_CUBIC if sw > w else cv2.INTER_AREA)


def squeeze(image: np.ndarray, width: int) -> np.ndarray:
    """A square-pixel picture (or a change to one) back onto the plate's `width` columns."""
    h, w = image.shape[:2]
    if w == width:
        return image
    import cv2

    return cv2.resize(image, (int(width), h), interpolation=cv2.INTER_AREA if w > width else cv2.INTER_CUBIC)


def to_square(points: np.ndarray, pixel_aspect: float) -> np.ndarray:
    """Plate pixel coordinates (x, y[, z]) -> square-pixel ones (x * pixel_aspect)."""
    out = np.array(points, dtype=np.float64 if np.asarray(points).dtype == np.float64 else np.float32)
    if not is_square(pixel_aspect):
        out[..., 0] *= float(pixel_aspect)
    return out


def to_plate(points: np.ndarray, pixel_aspect: float) -> np.ndarray:
    """Square-pixel coordinates -> the plate's own pixel coordinates (x / pixel_aspect)."""
    out = np.array(points, dtype=np.float64 if np.asarray(points).dtype == np.float64 else np.float32)
    if not is_square(pixel_aspect):
        out[..., 0] /= float(pixel_aspect)
    return out
