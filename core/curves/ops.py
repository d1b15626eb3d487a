"""Curve operations: box selection, copy/paste, smoothing, Butterworth, key reduction, bake.

These are pure functions that return new key lists or arrays; the undo commands in
core.project.commands apply them so every edit can be undone exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import signal

from core.curves.keys import Curve, Interp, Key, TangentMode


def box_select(curve: Curve, frame_lo: float, frame_hi: float, value_lo: float, value_hi: float) -> list[int]:
    """Frames of the keys inside the rectangle [frame_lo, frame_hi] x [value_lo, value_hi]
    (bounds in any order, inclusive)."""
    f0, f1 = sorted((frame_lo, frame_hi))
    v0, v1 = sorted((value_lo, value_hi))
    return [k.frame for k in curve.keys if f0 <= k.frame <= f1 and v0 <= k.value <= v1]


@dataclass(frozen=True)
class Clipboard:
    """Copied keys per source curve name, frames relative to the earliest copied key."""

    curves: dict[str, tuple[Key, ...]]

    @property
    def names(self) -> list[str]:
        return list(self.curves)

    def is_empty(self) -> bool:
        return not any(self.curves.values())


def copy_keys(curves: dict[str, Curve], selection: dict[str, Iterable[int]]) -> Clipboard:
    """Copy the selected keys ({name: frames}) of `curves`; frames become relative to the
    earliest selected frame over all names, so a multi-curve paste keeps their timing."""
    picked = {n: [k for k in curves[n].keys if k.frame in set(selection[n])] for n in selection}
    all_frames = [k.frame for ks in picked.values() for k in ks]
    if not all_frames:
        return Clipboard({})
    origin = min(all_frames)
    return Clipboard({n: tuple(k.replace(frame=k.frame - origin) for k in ks) for n, ks in picked.items() if ks})


def paste_keys(curve: Curve, keys: Sequence[Key], target_frame: int, replace_range: bool = False) -> list[Key]:
    """New key list of `curve` with clipboard `keys` pasted at `target_frame` (their relative
    frames added to it). Pasted keys replace keys on the same frames; with replace_range,
    every existing key within the pasted span is removed first."""
    pasted = [k.replace(frame=k.frame + int(target_frame)) for k in keys]
    if not pasted:
        return list(curve.keys)
    lo, hi = min(k.frame for k in pasted), max(k.frame for k in pasted)
    taken = {k.frame for k in pasted}
    keep = [k for k in curve.keys
            if k.frame not in taken and not (replace_range and lo <= k.frame <= hi)]
    return sorted(keep + pasted, key=lambda k: k.frame)


def paste_plan(copied: Sequence[str], chosen: Sequence[str]) -> tuple[dict[str, list[str]], str]:
    """Which curves copied keys paste onto: {copied curve: [target curves]} and a note (empty
    when the paste does what was chosen). One copied curve pastes onto every chosen curve, N
    onto N chosen in order; with no choice, or counts that do not match, onto the same names."""
    copied, chosen = list(copied), list(dict.fromkeys(chosen))
    if chosen and len(copied) == 1:
        return {copied[0]: chosen}, ""
    if chosen and len(copied) == len(chosen):
        return {c: [t] for c, t in zip(copied, chosen, strict=True)}, ""
    note = "" if not chosen else (f"{len(copied)} curves copied, {len(chosen)} chosen: pasted onto the "
                                  f"copied curves ({', '.join(copied[:4])}{'…' if len(copied) > 4 else ''})")
    return {c: [c] for c in copied}, note


def clipboard_for(clipboard: Clipboard, plan: dict[str, list[str]], target_frame: int, first: int,
                  last: int) -> tuple[Clipboard, int]:
    """The clipboard as pasted by `plan` (keyed by target curve) at `target_frame`, without the
    keys that would land outside frames first..last; returns (clipboard, keys left out)."""
    out: dict[str, tuple[Key, ...]] = {}
    dropped = 0
    for src, targets in plan.items():
        keys = clipboard.curves.get(src, ())
        inside = tuple(k for k in keys if first <= k.frame + int(target_frame) <= last)
        for t in targets:
            dropped += len(keys) - len(inside)
            if inside:
                out[t] = inside
    return Clipboard(out), dropped


def smooth_array(values: np.ndarray, radius: int = 2) -> np.ndarray:
    """Gaussian-weighted moving average (edges reflected); NaNs are kept where they were."""
    v = np.asarray(values, dtype=np.float64)
    if radius <= 0 or v.size < 2:
        return v.copy()
    x = np.arange(-radius, radius + 1)
    w = np.exp(-0.5 * (x / (radius / 2.0 + 1e-9)) ** 2)
    w /= w.sum()
    nan = np.isnan(v)
    filled = np.where(nan, np.interp(np.arange(v.size), np.flatnonzero(~nan), v[~nan]) if (~nan).any() else 0.0, v)
    padded = np.pad(filled, radius, mode="reflect" if v.size > radius else "edge")
    out = np.convolve(padded, w, mode="valid")
    out[nan] = np.nan
    return out


def smooth_keys(curve: Curve, frames: Iterable[int], strength: float = 0.5, iterations: int = 1) -> list[Key]:
    """New key list with the selected keys' values pulled (by `strength` 0..1) towards a
    [1, 2, 1]/4 average with their neighbours; the curve's end keys stay put."""
    sel = set(int(f) for f in frames)
    keys = list(curve.keys)
    vals = np.array([k.value for k in keys])
    mask = np.array([k.frame in sel for k in keys])
    if len(keys) >= 3:
        mask[0] = mask[-1] = False
        for _ in range(max(1, int(iterations))):
            avg = vals.copy()
            avg[1:-1] = 0.25 * vals[:-2] + 0.5 * vals[1:-1] + 0.25 * vals[2:]
            vals = np.where(mask, vals + strength * (avg - vals), vals)
    return [k.replace(value=float(v)) if m else k for k, v, m in zip(keys, vals, mask, strict=True)]


def butterworth(values: np.ndarray, cutoff_hz: float, fps: float, order: int = 2) -> np.ndarray:
    """Zero-phase low-pass Butterworth (scipy filtfilt). NaN gaps are bridged linearly for
    the filter and stay NaN in the result. Raises ValueError for a cutoff at or above Nyquist."""
    v = np.asarray(values, dtype=np.float64)
    nyq = float(fps) / 2.0
    if not 0 < cutoff_hz < nyq:
        raise ValueError(f"Butterworth cutoff must be between 0 and {nyq:g} Hz (half the frame rate), got {cutoff_hz}")
    nan = np.isnan(v)
    if nan.all():
        return v.copy()
    filled = np.where(nan, np.interp(np.arange(v.size), np.flatnonzero(~nan), v[~nan]), v)
    if v.size < 2:
        return v.copy()
    b, a = signal.butter(int(order), cutoff_hz / nyq)
    # pad each end by odd reflection about the end value, repeated until the pad is long enough for
    # the filter to settle (several time constants): scipy's own padding is capped at the signal's
    # length, so a short span came back bent (a 2-key ramp 0..3 as -0.42, 0.25); a straight line is
    # its own odd reflection, so it passes unchanged
    want = max(3 * max(len(a), len(b)), int(np.ceil(2.0 * float(fps) / float(cutoff_hz))))
    padded, pad = filled, 0
    while pad < want:
        k = min(want - pad, padded.size - 1)
        padded = np.concatenate([2 * padded[0] - padded[k:0:-1], padded, 2 * padded[-1] - padded[-2:-k - 2:-1]])
        pad += k
    out = signal.filtfilt(b, a, padded, padlen=0)[pad:pad + v.size]
    out[nan] = np.nan
    return out


def keys_from_samples(frames: np.ndarray, values: np.ndarray, interp: Interp = Interp.LINEAR) -> list[Key]:
    """One key per sample (bake)."""
    return [Key(int(f), float(v), interp, TangentMode.AUTO) for f, v in zip(frames, values, strict=True)
            if not np.isnan(v)]


def _rdp(x: np.ndarray, y: np.ndarray, tol: float) -> list[int]:
    """Ramer-Douglas-Peucker on vertical distance (iterative); indices of kept samples."""
    keep = {0, len(x) - 1}
    stack = [(0, len(x) - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        xs = x[a + 1:b]
        line = y[a] + (y[b] - y[a]) * (xs - x[a]) / (x[b] - x[a])
        err = np.abs(y[a + 1:b] - line)
        i = int(np.argmax(err))
        if err[i] > tol:
            m = a + 1 + i
            keep.add(m)
            stack.append((a, m))
            stack.append((m, b))
    return sorted(keep)


def _refine(frames: np.ndarray, values: np.ndarray, idx: list[int], interp: Interp, tol: float) -> Curve:
    """Add, in every segment still out of tolerance, its worst sample, until the curve with
    `interp` keys is within tol everywhere."""
    chosen = np.zeros(len(frames), bool)
    chosen[idx] = True
    while True:
        sel = np.flatnonzero(chosen)
        c = Curve(Key(int(frames[i]), float(values[i]), interp, TangentMode.AUTO) for i in sel)
        err = np.abs(c.evaluate(frames) - values)
        err[chosen] = 0.0
        bad = err > tol
        if not bad.any():
            return c
        seg = np.searchsorted(sel, np.arange(len(frames)), side="right") - 1
        for s in np.unique(seg[bad]):
            m = np.flatnonzero(seg == s)
            chosen[m[int(np.argmax(err[m]))]] = True


def reduce_keys(frames: np.ndarray, values: np.ndarray, tol: float) -> list[Key]:
    """Few keys whose evaluated curve stays within `tol` of `values` at every frame.

    Greedy RDP gives a linear-key solution; it is also tried as auto-clamped Bezier keys
    (refined at the worst frame until within tol) and thinned by removing keys while still
    within tol; the candidate with fewest keys wins. The result is verified before returning.
    """
    f = np.asarray(frames, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(v)
    f, v = f[ok], v[ok]
    if f.size == 0:
        return []
    if f.size == 1 or np.ptp(v) <= tol:
        mid = float((v.max() + v.min()) / 2) if f.size > 1 else float(v[0])
        return [Key(int(f[0]), mid, Interp.LINEAR, TangentMode.AUTO)]
    tol = float(tol)
    eps = tol * 1e-6
    idx = _rdp(f.astype(np.float64), v, tol - eps)
    cands = [_refine(f, v, idx, Interp.LINEAR, tol), _refine(f, v, _rdp(f.astype(np.float64), v, 0.5 * tol),
                                                             Interp.BEZIER, tol)]
    best = None
    for c in cands:
        keys = list(c.keys)
        # thinning pass: drop interior keys while the curve stays within tolerance
        i = 1
        while i < len(keys) - 1 and len(keys) > 2:
            # only the keys around the one dropped: an auto tangent depends on its two neighbours,
            # so these give the whole curve's values between keys i-2 and i+2 exactly (a whole
            # curve per trial made baking a 1000-frame shot take 13 s on the UI thread)
            trial = Curve(keys[max(i - 3, 0):i] + keys[i + 1:i + 4])
            lo, hi = keys[max(i - 2, 0)].frame, keys[min(i + 2, len(keys) - 1)].frame
            m = (f >= lo) & (f <= hi)
            if np.all(np.abs(trial.evaluate(f[m]) - v[m]) <= tol):
                keys = keys[:i] + keys[i + 1:]
            else:
                i += 1
        if np.all(np.abs(Curve(keys).evaluate(f) - v) <= tol + 1e-12) and (best is None or len(keys) < len(best)):
            best = keys
    if best is None:  # cannot happen: every sample as a linear key is exact
        best = keys_from_samples(f, v)
    return best
