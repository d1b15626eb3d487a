"""Temporal filters for AU curves: One-Euro (adaptive) and Savitzky-Golay, both zero phase.

A shot is filtered offline, whole, so nothing forces a causal filter: One-Euro runs forward
and backward and the two passes are averaged, which cancels its lag (a causal One-Euro put
blink onsets a few frames late, and edits computed from the curve missed them).
`zero_phase=False` gives the classic causal filter (for live preview of a growing signal).

Both run on each run of valid (finite) samples separately, so a gap with no face is never
bridged or smeared, and both leave NaN where the input is NaN.
"""

from __future__ import annotations

import math

import numpy as np

from core.errors import FacsimileError

FILTERS = ("none", "one_euro", "savgol")
DEFAULTS = {
    "one_euro": {"min_cutoff": 1.5, "beta": 0.5, "d_cutoff": 1.0, "zero_phase": True},
    "savgol": {"window_s": 0.2, "order": 2},
}


def _runs(valid: np.ndarray) -> list[tuple[int, int]]:
    v = np.r_[False, valid, False].astype(np.int8)
    d = np.diff(v)
    return list(zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0], strict=True))


def one_euro(x: np.ndarray, fps: float, min_cutoff: float = 1.5, beta: float = 0.5,
             d_cutoff: float = 1.0, zero_phase: bool = True) -> np.ndarray:
    """One-Euro filter (Casiez et al. 2012) of a 1-D signal sampled at fps; zero_phase averages
    a forward and a backward pass (no lag), otherwise the causal filter."""
    x = np.asarray(x, np.float64)
    fwd = _one_euro_causal(x, fps, min_cutoff, beta, d_cutoff)
    if not zero_phase:
        return fwd
    return 0.5 * (fwd + _one_euro_causal(x[::-1], fps, min_cutoff, beta, d_cutoff)[::-1])


def _one_euro_causal(x: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float) -> np.ndarray:
    out = np.full_like(x, np.nan, dtype=np.float64)
    te = 1.0 / fps

    def alpha(cutoff: float) -> float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / te)

    for a, b in _runs(np.isfinite(x)):
        prev = float(x[a])
        dprev = 0.0
        out[a] = prev
        for i in range(a + 1, b):
            dx = (float(x[i]) - prev) * fps
            ad = alpha(d_cutoff)
            dprev = ad * dx + (1 - ad) * dprev
            ac = alpha(min_cutoff + beta * abs(dprev))
            prev = ac * float(x[i]) + (1 - ac) * prev
            out[i] = prev
    return out


def savgol(x: np.ndarray, fps: float, window_s: float = 0.2, order: int = 2) -> np.ndarray:
    """Savitzky-Golay smoothing with a window of window_s seconds (odd, at least order + 2 samples)."""
    from scipy.signal import savgol_filter

    out = np.full_like(x, np.nan, dtype=np.float64)
    win = max(order + 2, int(round(window_s * fps)))
    win += 1 - win % 2
    for a, b in _runs(np.isfinite(x)):
        n = b - a
        w = min(win, n if n % 2 else n - 1)
        out[a:b] = x[a:b] if w <= order else savgol_filter(x[a:b], w, order, mode="interp")
    return out


def apply_filter(values: np.ndarray, fps: float, name: str, **params: float) -> np.ndarray:
    """Filter each column of a (T, K) array; unknown filter names raise FacsimileError."""
    if name not in FILTERS:
        raise FacsimileError(f"unknown AU filter {name!r}; choose one of {', '.join(FILTERS)}")
    values = np.asarray(values, np.float64)
    if name == "none":
        return values.copy()
    p = {**DEFAULTS[name], **params}
    fn = one_euro if name == "one_euro" else savgol
    try:
        return np.stack([fn(values[:, k], fps, **p) for k in range(values.shape[1])], axis=1) \
            if values.shape[1] else values.copy()
    except TypeError as exc:
        raise FacsimileError(f"bad parameters for the {name} filter: {exc}") from exc
