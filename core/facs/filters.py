"""Temporal filters for AU curves: One-Euro (adaptive) and Savitzky-Golay, both zero phase.

A shot is filtered offline, whole, so nothing forces a causal filter: One-Euro runs forward
and backward and the two passes are averaged, which cancels its lag (a causal One-Euro put
blink onsets a few frames late, and edits computed from the curve missed them).
`zero_phase=False` gives the classic causal filter (for live preview of a growing signal).

Both run on each run of valid (finite) samples separately, so a gap with no face is never
bridged or smeared, and both leave NaN where the input is NaN.

Both work in seconds on the samples' own times when `timestamps` are given (a variable frame
rate phone plate: a stretch at 60 fps, a dropped frame): One-Euro takes each sample's own time
step, Savitzky-Golay fits its local polynomial over the samples within its window in seconds.
A step within the rounding of a time base (ROUNDING_S, or 1 % of a frame) of the nominal
1 / fps is taken as exactly 1 / fps, so an evenly sampled shot, even one whose timestamps are
rounded to the millisecond (Matroska), is filtered exactly as without timestamps.
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
# a time step this close to the nominal 1 / fps is the nominal step (pts rounded to a
# millisecond time base: 30 fps stored as 33, 33, 34 ms); also within 1 % of a frame
ROUNDING_S = 0.001
_EDGE_S = 1e-6  # samples this close to a Savitzky-Golay window's edge are inside it


def _runs(valid: np.ndarray) -> list[tuple[int, int]]:
    v = np.r_[False, valid, False].astype(np.int8)
    d = np.diff(v)
    return list(zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0], strict=True))


def _is_nominal(steps: np.ndarray | float, te: float) -> np.ndarray:
    """Which steps (seconds) are the nominal `te` within a time base's rounding (ROUNDING_S, or
    1 % of a frame)."""
    return np.abs(np.asarray(steps, np.float64) - te) <= max(ROUNDING_S, 0.01 * te)


def nominal_step(step: float, fps: float) -> float:
    """The time step between two samples as a filter should take it: exactly 1 / fps when
    `step` (seconds) is within a time base's rounding of it, else `step` itself."""
    te = 1.0 / fps
    return te if _is_nominal(step, te) else float(step)


def sample_steps(timestamps: np.ndarray | None, fps: float, n: int | None = None) -> np.ndarray | None:
    """(n - 1,) seconds between consecutive samples (nominal_step of each), or None when there
    are no timestamps or every step is the nominal 1 / fps (evenly sampled: the fps path).
    n: the samples expected; timestamps of another length, or not increasing, raise
    FacsimileError (curves and times would be misaligned)."""
    if timestamps is None:
        return None
    t = np.asarray(timestamps, np.float64).reshape(-1)
    if n is not None and len(t) != n:
        raise FacsimileError(f"{len(t)} timestamps for {n} samples: the curves and their times do not match")
    if len(t) < 2:
        return None
    if not np.isfinite(t).all() or np.any(np.diff(t) <= 0):
        raise FacsimileError("sample timestamps must be finite and increasing")
    te = 1.0 / fps
    steps = np.diff(t)
    regular = _is_nominal(steps, te)
    if regular.all():
        return None
    return np.where(regular, te, steps)


def one_euro(x: np.ndarray, fps: float, min_cutoff: float = 1.5, beta: float = 0.5,
             d_cutoff: float = 1.0, zero_phase: bool = True, timestamps: np.ndarray | None = None) -> np.ndarray:
    """One-Euro filter (Casiez et al. 2012) of a 1-D signal sampled at fps, or at `timestamps`
    (seconds, one per sample: each step's own dt); zero_phase averages a forward and a
    backward pass (no lag), otherwise the causal filter."""
    x = np.asarray(x, np.float64)
    steps = sample_steps(timestamps, fps, len(x))
    fwd = _one_euro_causal(x, fps, min_cutoff, beta, d_cutoff, steps)
    if not zero_phase:
        return fwd
    back = _one_euro_causal(x[::-1], fps, min_cutoff, beta, d_cutoff, None if steps is None else steps[::-1])
    return 0.5 * (fwd + back[::-1])


def _one_euro_causal(x: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float,
                     steps: np.ndarray | None = None) -> np.ndarray:
    """The causal pass; steps[i - 1] is the time from sample i - 1 to i (None: 1 / fps each)."""
    out = np.full_like(x, np.nan, dtype=np.float64)
    if steps is not None:
        return _one_euro_causal_uneven(x, out, min_cutoff, beta, d_cutoff, steps)
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


def _one_euro_causal_uneven(x: np.ndarray, out: np.ndarray, min_cutoff: float, beta: float, d_cutoff: float,
                            steps: np.ndarray) -> np.ndarray:
    """The causal pass with each sample's own time step (Casiez et al.'s alpha of Te = dt)."""
    tau_d = 1.0 / (2 * math.pi * d_cutoff)
    for a, b in _runs(np.isfinite(x)):
        prev = float(x[a])
        dprev = 0.0
        out[a] = prev
        for i in range(a + 1, b):
            te = float(steps[i - 1])
            dx = (float(x[i]) - prev) / te
            ad = 1.0 / (1.0 + tau_d / te)
            dprev = ad * dx + (1 - ad) * dprev
            ac = 1.0 / (1.0 + 1.0 / (2 * math.pi * (min_cutoff + beta * abs(dprev))) / te)
            prev = ac * float(x[i]) + (1 - ac) * prev
            out[i] = prev
    return out


def _savgol_frames(fps: float, window_s: float, order: int) -> int:
    """The window in nominal frames: window_s at fps, odd, at least order + 2."""
    win = max(order + 2, int(round(window_s * fps)))
    return win + 1 - win % 2


def savgol(x: np.ndarray, fps: float, window_s: float = 0.2, order: int = 2,
           timestamps: np.ndarray | None = None) -> np.ndarray:
    """Savitzky-Golay smoothing with a window of window_s seconds (odd, at least order + 2
    samples at fps). With uneven `timestamps` (seconds, one per sample) the local polynomial
    is fitted on the samples' own times over the same span in seconds."""
    x = np.asarray(x, np.float64)
    steps = sample_steps(timestamps, fps, len(x))
    if steps is not None:
        return _savgol_uneven(x[:, None], np.r_[0.0, np.cumsum(steps)], fps, window_s, order)[:, 0]
    from scipy.signal import savgol_filter

    out = np.full_like(x, np.nan, dtype=np.float64)
    win = _savgol_frames(fps, window_s, order)
    for a, b in _runs(np.isfinite(x)):
        n = b - a
        w = min(win, n if n % 2 else n - 1)
        out[a:b] = x[a:b] if w <= order else savgol_filter(x[a:b], w, order, mode="interp")
    return out


def _savgol_weights(t: np.ndarray, fps: float, span: float, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Savitzky-Golay on one run of samples at times t (seconds): (index (n, m), weight (n, m))
    with out[i] = sum(weight[i] * x[index[i]]). Sample i's window is the samples within
    +-span/2 of t[i]; where that reaches past the run's first (last) sample, the first (last)
    span seconds of the run, evaluated at t[i] (scipy's mode='interp', on a regular grid the
    same windows); a window of at most `order` + 1 samples keeps the sample as it is."""
    n = len(t)
    half = span / 2
    lo = np.searchsorted(t, t - half - _EDGE_S, "left")
    hi = np.searchsorted(t, t + half + _EDGE_S, "right")
    start = t - t[0] < half - _EDGE_S
    hi[start] = np.searchsorted(t, t[0] + span + _EDGE_S, "right")
    lo[start] = 0
    end = t[-1] - t < half - _EDGE_S
    lo[end] = np.searchsorted(t, t[-1] - span - _EDGE_S, "left")
    hi[end] = n
    m = int((hi - lo).max())
    index = np.minimum(lo[:, None] + np.arange(m), n - 1)
    inside = np.arange(m) < (hi - lo)[:, None]
    u = np.where(inside, (t[index] - t[:, None]) * fps, 0.0)  # in nominal frames: well conditioned
    p = min(order, m - 1)
    v = u[:, :, None] ** np.arange(p + 1) * inside[:, :, None]  # (n, m, p + 1), rows outside zero
    normal = np.einsum("nmi,nmj->nij", v, v)
    fits = (hi - lo) > order
    weight = np.zeros((n, m))
    if fits.any():
        e0 = np.zeros(p + 1)
        e0[0] = 1.0
        c = np.linalg.solve(normal[fits], np.broadcast_to(e0, (int(fits.sum()), p + 1))[..., None])[..., 0]
        weight[fits] = np.einsum("nmi,ni->nm", v[fits], c)
    keep = ~fits
    index[keep, 0] = np.nonzero(keep)[0]
    weight[keep, 0] = 1.0
    return index, weight


def _savgol_uneven(values: np.ndarray, t: np.ndarray, fps: float, window_s: float, order: int) -> np.ndarray:
    """Savitzky-Golay of each column of (T, K) values sampled at times t (seconds); the weights
    of a run of valid samples are computed once for all the columns that share it."""
    span = (_savgol_frames(fps, window_s, order) - 1) / fps
    out = np.full(values.shape, np.nan)
    cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for k in range(values.shape[1]):
        for a, b in _runs(np.isfinite(values[:, k])):
            if (a, b) not in cache:
                cache[(a, b)] = _savgol_weights(t[a:b], fps, span, order)
            index, weight = cache[(a, b)]
            out[a:b, k] = (weight * values[a:b, k][index]).sum(axis=1)
    return out


def apply_filter(values: np.ndarray, fps: float, name: str, *, timestamps: np.ndarray | None = None,
                 **params: float) -> np.ndarray:
    """Filter each column of a (T, K) array sampled at fps, or at `timestamps` (T,) seconds
    when given (None: evenly at fps); unknown filter names raise FacsimileError."""
    if name not in FILTERS:
        raise FacsimileError(f"unknown AU filter {name!r}; choose one of {', '.join(FILTERS)}")
    values = np.asarray(values, np.float64)
    if name == "none":
        return values.copy()
    p = {**DEFAULTS[name], **params}
    steps = sample_steps(timestamps, fps, len(values))
    try:
        if not values.shape[1]:
            return values.copy()
        if name == "savgol":
            if steps is not None:
                return _savgol_uneven(values, np.r_[0.0, np.cumsum(steps)], fps, **p)
            return np.stack([savgol(values[:, k], fps, **p) for k in range(values.shape[1])], axis=1)
        times = None if steps is None else timestamps
        return np.stack([one_euro(values[:, k], fps, **p, timestamps=times) for k in range(values.shape[1])], axis=1)
    except TypeError as exc:
        raise FacsimileError(f"bad parameters for the {name} filter: {exc}") from exc
