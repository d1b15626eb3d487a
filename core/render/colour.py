"""Colour matching of the rendered face to the plate, inside a mask.

Methods: 'reinhard' (default): mean/std per channel in CIE LAB (cv2.meanStdDev), 'histogram':
per-channel CDF matching in LAB, 'none'. Images are RGB, uint8 or float32; the output has the
input's dtype. Display-referred pictures (uint8, float 0..1) use CIE LAB; float pictures with
values outside 0..1 (scene-linear plates, EXR) use Reinhard's log-LMS l-alpha-beta space,
which does not clip highlights (OpenCV's LAB conversion clamps to 0..1). `ColourSmoother` smooths the statistics over time so the face does
not flicker from frame to frame.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from core.errors import FacsimileError
from core.render.backend import is_gpu, like, to_numpy

METHODS = ("reinhard", "histogram", "none")


@dataclass
class ColourStats:
    """Per-channel LAB mean and standard deviation inside a mask."""

    mean: np.ndarray  # (3,) float64
    std: np.ndarray  # (3,) float64

    def to_dict(self) -> dict:
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}


_RGB2LMS = np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]])
_LMS2LAB = np.diag([1 / np.sqrt(3), 1 / np.sqrt(6), 1 / np.sqrt(2)]) @ np.array([[1, 1, 1], [1, 1, -2], [1, -1, 0]])
_LMS2RGB = np.linalg.inv(_RGB2LMS)
_LAB2LMS = np.linalg.inv(_LMS2LAB)
_EPS = 1e-6


def colour_space(*imgs: np.ndarray) -> str:
    """'lab' for display-referred pictures, 'lalphabeta' when a float picture leaves 0..1."""
    for im in imgs:
        if im.dtype != np.uint8 and (float(np.nanmin(im)) < 0.0 or float(np.nanmax(im)) > 1.0):
            return "lalphabeta"
    return "lab"


def to_lalphabeta(img: np.ndarray) -> np.ndarray:
    """Linear RGB (float, any range) -> Reinhard's l-alpha-beta (log10 LMS, decorrelated)."""
    lms = np.maximum(img.astype(np.float32) @ _RGB2LMS.T.astype(np.float32), _EPS)
    return np.log10(lms) @ _LMS2LAB.T.astype(np.float32)


def from_lalphabeta(lab: np.ndarray, dtype: np.dtype) -> np.ndarray:
    lms = np.power(10.0, lab.astype(np.float32) @ _LAB2LMS.T.astype(np.float32))
    return (lms @ _LMS2RGB.T.astype(np.float32)).astype(dtype)


def to_lab(img: np.ndarray) -> np.ndarray:
    """RGB uint8 or float 0..1 -> float32 LAB (L 0..100)."""
    f = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
    return cv2.cvtColor(np.clip(f, 0.0, 1.0), cv2.COLOR_RGB2LAB)


def from_lab(lab: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float32 LAB -> RGB in `dtype` (uint8 or float 0..1)."""
    rgb = np.clip(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB), 0.0, 1.0)
    if np.dtype(dtype) == np.uint8:
        return np.round(rgb * 255.0).astype(np.uint8)
    return rgb.astype(dtype)


def _mask_u8(mask: np.ndarray) -> np.ndarray:
    return (mask >= 0.5).astype(np.uint8) if mask.dtype != np.uint8 else (mask > 0).astype(np.uint8)


def _to(img: np.ndarray, space: str) -> np.ndarray:
    return to_lalphabeta(img) if space == "lalphabeta" else to_lab(img)


def _from(lab: np.ndarray, space: str, dtype: np.dtype) -> np.ndarray:
    return from_lalphabeta(lab, dtype) if space == "lalphabeta" else from_lab(lab, dtype)


def lab_stats(img: np.ndarray, mask: np.ndarray, space: str = "lab") -> ColourStats:
    """LAB (or l-alpha-beta) mean/std of `img` where `mask` >= 0.5; a clear error for an empty mask."""
    m = _mask_u8(mask)
    if not m.any():
        raise FacsimileError("colour match: the face mask is empty (no pixels to measure colour from)")
    mean, std = cv2.meanStdDev(np.ascontiguousarray(_to(img, space)), mask=m)
    return ColourStats(mean.ravel().astype(np.float64), std.ravel().astype(np.float64))


def reinhard(src: np.ndarray, src_mask: np.ndarray, dst_stats: ColourStats,
             src_stats: ColourStats | None = None, strength: float = 1.0, space: str = "lab") -> np.ndarray:
    """Move `src`'s LAB mean/std (measured inside src_mask) to `dst_stats` (Reinhard et al. 2001).

    The whole image is transformed (so feathered edges match too); strength 0..1 blends
    between no change and the full transfer.
    """
    s = src_stats or lab_stats(src, src_mask, space)
    lab = _to(src, space)
    scale = dst_stats.std / np.maximum(s.std, 1e-3)
    scale = np.clip(scale, 0.2, 5.0)
    out = (lab - s.mean.astype(np.float32)) * scale.astype(np.float32) + dst_stats.mean.astype(np.float32)
    if strength < 1.0:
        out = lab + (out - lab) * float(strength)
    return _from(out, space, src.dtype)


def histogram_match(src: np.ndarray, src_mask: np.ndarray, ref: np.ndarray, ref_mask: np.ndarray,
                    bins: int = 256, space: str = "lab") -> np.ndarray:
    """Match each LAB channel's histogram inside src_mask to ref's inside ref_mask."""
    ls, lr = _to(src, space), _to(ref, space)
    ms, mr = _mask_u8(src_mask).astype(bool), _mask_u8(ref_mask).astype(bool)
    if not ms.any() or not mr.any():
        raise FacsimileError("colour match: a face mask is empty (no pixels to match histograms on)")
    out = ls.copy()
    for c in range(3):
        a, b = ls[..., c], lr[..., c]
        lo = float(min(a[ms].min(), b[mr].min()))
        hi = float(max(a[ms].max(), b[mr].max())) + 1e-3
        edges = np.linspace(lo, hi, bins + 1)
        ha, _ = np.histogram(a[ms], edges)
        hb, _ = np.histogram(b[mr], edges)
        ca = np.cumsum(ha) / ha.sum()
        cb = np.cumsum(hb) / hb.sum()
        centres = 0.5 * (edges[:-1] + edges[1:])
        mapped = np.interp(ca, cb, centres)  # source bin -> reference value with the same CDF
        out[..., c] = np.interp(a, centres, mapped).astype(np.float32)
    return _from(out, space, src.dtype)


def match_colour(src: np.ndarray, src_mask: np.ndarray, ref: np.ndarray, ref_mask: np.ndarray,
                 method: str = "reinhard", smoother: ColourSmoother | None = None, strength: float = 1.0) -> np.ndarray:
    """Colour-match `src` (inside src_mask) to `ref` (inside ref_mask) with `method`.

    With a smoother, Reinhard uses temporally smoothed statistics of both images. The
    colour space follows `colour_space(src, ref)` (a smoother must not mix spaces).
    """
    if is_gpu(src):  # OpenCV path: host round trip (see core.render.backend)
        out = match_colour(to_numpy(src), to_numpy(src_mask), to_numpy(ref), to_numpy(ref_mask), method, smoother,
                           strength)
        return like(out, src)
    if method == "none":
        return src.copy()
    space = colour_space(src, ref)
    if method == "histogram":
        return histogram_match(src, src_mask, ref, ref_mask, space=space)
    if method != "reinhard":
        raise FacsimileError(f"unknown colour method {method!r}; choose one of {', '.join(METHODS)}")
    s, d = lab_stats(src, src_mask, space), lab_stats(ref, ref_mask, space)
    if smoother is not None:
        s, d = smoother.update(s, d)
    return reinhard(src, src_mask, d, src_stats=s, strength=strength, space=space)


class ColourSmoother:
    """Temporal smoothing of (source, target) colour statistics across frames.

    mode 'ema': exponential moving average with weight `alpha` for the new frame; mode
    'window': mean over the last `window` frames. Call reset() at a shot cut.
    """

    def __init__(self, mode: str = "ema", alpha: float = 0.25, window: int = 9) -> None:
        if mode not in ("ema", "window"):
            raise FacsimileError(f"unknown colour smoothing mode {mode!r}; use 'ema' or 'window'")
        if not 0.0 < alpha <= 1.0 or window < 1:
            raise FacsimileError("colour smoothing: alpha must be in (0, 1] and window >= 1")
        self.mode, self.alpha, self.window = mode, alpha, window
        self.reset()

    def reset(self) -> None:
        self._state: tuple[np.ndarray, ...] | None = None
        self._hist: deque[np.ndarray] = deque(maxlen=self.window)

    def update(self, src: ColourStats, dst: ColourStats) -> tuple[ColourStats, ColourStats]:
        """Add this frame's statistics; return the smoothed (source, target) statistics."""
        v = np.concatenate([src.mean, src.std, dst.mean, dst.std])
        if self.mode == "ema":
            self._state = (v,) if self._state is None else (self._state[0] + self.alpha * (v - self._state[0]),)
            s = self._state[0]
        else:
            self._hist.append(v)
            s = np.mean(np.stack(self._hist), axis=0)
        return ColourStats(s[0:3], s[3:6]), ColourStats(s[6:9], s[9:12])
