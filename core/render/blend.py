"""Blending the rendered face into the plate: Poisson (default), Gaussian feather, or paste.

All methods take full-frame src (the rendered face in frame coordinates), dst (the plate)
and a mask (float 0..1), and return a new frame in dst's dtype.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.errors import FacsimileError
from core.render.backend import like, to_numpy, xp_for
from core.render.poisson import poisson_blend

METHODS = ("poisson", "feather", "none")


def _alpha(mask, ndim: int):
    xp = xp_for(mask)
    a = mask.astype(xp.float32)
    if mask.dtype == xp.uint8:
        a = a / 255.0
    return a[..., None] if ndim == 3 else a


def alpha_blend(src, dst, alpha):
    """src * alpha + dst * (1 - alpha), in dst's dtype."""
    xp = xp_for(dst)
    a = _alpha(alpha, dst.ndim)
    out = src.astype(xp.float32) * a + dst.astype(xp.float32) * (1.0 - a)
    if dst.dtype == xp.uint8:
        return xp.clip(xp.round(out), 0, 255).astype(xp.uint8)
    return out.astype(dst.dtype)


def feather_blend(src, dst, mask, radius: float = 8.0):
    """Fast preview blend: the mask blurred by a Gaussian of about `radius` pixels, then alpha."""
    m = to_numpy(mask).astype(np.float32)
    if mask.dtype == np.uint8:
        m /= 255.0
    if radius > 0:
        m = cv2.GaussianBlur(m, (0, 0), sigmaX=radius / 2.0, borderType=cv2.BORDER_CONSTANT)
    return alpha_blend(src, dst, like(m, dst))


def paste(src, dst, mask):
    """No blending: src where mask >= 0.5, dst elsewhere."""
    xp = xp_for(dst)
    hard = (_alpha(mask, dst.ndim) >= 0.5)
    return xp.where(hard, src, dst).astype(dst.dtype)


def blend(src, dst, mask, method: str = "poisson", mode: str = "normal", feather_radius: float = 8.0):
    """Blend with `method` ('poisson' with mode 'normal'|'mixed', 'feather', 'none')."""
    if method == "poisson":
        return poisson_blend(src, dst, mask, mode=mode)
    if method == "feather":
        return feather_blend(src, dst, mask, feather_radius)
    if method == "none":
        return paste(src, dst, mask)
    raise FacsimileError(f"unknown blend method {method!r}; choose one of {', '.join(METHODS)}")


def boundary_ring(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """bool ring of pixels on both sides of the mask's 0.5 contour."""
    m = (to_numpy(mask).astype(np.float32) >= (127.5 if mask.dtype == np.uint8 else 0.5)).astype(np.uint8)
    k = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    return (cv2.dilate(m, k) - cv2.erode(m, k)).astype(bool)


def seam_energy(result, mask, width: int = 1) -> float:
    """Mean squared gradient magnitude across the mask boundary (a visible seam raises it).

    Measured on the result (summed over channels) in a thin ring around the mask's 0.5
    contour; compare a blend against a plain paste of the same inputs."""
    img = to_numpy(result).astype(np.float32)
    if img.ndim == 2:
        img = img[..., None]
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    if gx.ndim == 2:
        gx, gy = gx[..., None], gy[..., None]
    e = (gx ** 2 + gy ** 2).sum(axis=2)
    ring = boundary_ring(mask, width)
    if not ring.any():
        raise FacsimileError("seam energy: the mask has no boundary")
    return float(e[ring].mean())
