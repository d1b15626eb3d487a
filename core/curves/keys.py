"""Keyframes and keyframed curves: constant, linear and Bezier segments, vectorised evaluation.

Frames are whole plate frames (curve frame N is plate frame N). Bezier segments use
non-weighted tangents, like Maya's default: a tangent is a slope (dvalue per frame), the
handle offsets (dframes, dvalue) only give its direction, and the segment is the cubic
Hermite between the two keys with those slopes. AUTO tangents are auto-clamped
(Fritsch-Butland harmonic slopes, zero at extrema and at the ends), so a Bezier segment
between AUTO keys is monotone and never overshoots the key values. Before the first key and
after the last key the curve holds the end values (constant extrapolation).

A Curve caches its evaluation over the last frame range asked for and, after an edit,
re-evaluates only the frames that edit can change (the span between the keys around it).
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Interp(StrEnum):
    """How the segment from a key to the next one is interpolated."""

    CONSTANT = "constant"
    LINEAR = "linear"
    BEZIER = "bezier"


class TangentMode(StrEnum):
    """AUTO: auto-clamped, computed from the neighbours (no overshoot). FREE: user-set, in and
    out share one slope. BROKEN: in and out slopes are independent."""

    AUTO = "auto"
    FREE = "free"
    BROKEN = "broken"


_INTERP_CODE = {Interp.CONSTANT: 0, Interp.LINEAR: 1, Interp.BEZIER: 2}
_MODE_CODE = {TangentMode.AUTO: 0, TangentMode.FREE: 1, TangentMode.BROKEN: 2}


@dataclass(frozen=True)
class Key:
    """One keyframe. Frozen: edit a curve through its methods (or the undo commands) so the
    evaluation cache stays right. Tangents are handle offsets (dframes, dvalue): in_tangent
    points left (dframes < 0), out_tangent right (dframes > 0); for AUTO keys they are
    ignored by evaluation (see Curve.slopes() / Curve.handles())."""

    frame: int
    value: float
    interp: Interp = Interp.BEZIER
    tangent_mode: TangentMode = TangentMode.AUTO
    in_tangent: tuple[float, float] = (-1.0, 0.0)
    out_tangent: tuple[float, float] = (1.0, 0.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "frame", nearest_frame(self.frame))
        object.__setattr__(self, "value", float(self.value))
        if not math.isfinite(self.value):
            raise ValueError(f"key on frame {self.frame}: value must be a finite number, got {self.value}")
        object.__setattr__(self, "interp", Interp(self.interp))
        object.__setattr__(self, "tangent_mode", TangentMode(self.tangent_mode))
        object.__setattr__(self, "in_tangent", (float(self.in_tangent[0]), float(self.in_tangent[1])))
        object.__setattr__(self, "out_tangent", (float(self.out_tangent[0]), float(self.out_tangent[1])))
        self._set_row()

    def _set_row(self) -> None:
        # the key as one row of Curve's per-key arrays (not a field: equality and hashing ignore
        # it), made once here so rebuilding a curve's arrays after an edit is one numpy call
        object.__setattr__(self, "_row", (self.frame, self.value, _INTERP_CODE[self.interp],
                                          _MODE_CODE[self.tangent_mode], *self.in_tangent, *self.out_tangent))

    @classmethod
    def _make(cls, frame: int, value: float, interp: Interp, mode: TangentMode, it: tuple[float, float],
              ot: tuple[float, float]) -> Key:
        """Fast constructor for already-validated fields (bulk loading)."""
        k = object.__new__(cls)
        k.__dict__.update(frame=frame, value=value, interp=interp, tangent_mode=mode, in_tangent=it, out_tangent=ot)
        k._set_row()
        return k

    def replace(self, **changes: object) -> Key:
        """A copy with some fields changed (frame snapped to a whole frame)."""
        return dataclasses.replace(self, **changes)

    def to_list(self) -> list:
        """Compact JSON form: [frame, value, interp, mode, in_dx, in_dy, out_dx, out_dy]."""
        return [self.frame, self.value, self.interp.value, self.tangent_mode.value,
                self.in_tangent[0], self.in_tangent[1], self.out_tangent[0], self.out_tangent[1]]

    @classmethod
    def from_list(cls, data: Sequence) -> Key:
        return cls(float(data[0]), float(data[1]), Interp(data[2]), TangentMode(data[3]),
                   (float(data[4]), float(data[5])), (float(data[6]), float(data[7])))


def nearest_frame(x: float) -> int:
    """The whole frame nearest `x`, halves up (2.5 -> 3, -0.5 -> 0): how keys, drags and curve
    lookups snap a fractional frame (Python's round() sends halves to even: 2.5 -> 2, 3.5 -> 4)."""
    return math.floor(float(x) + 0.5)


def _slope(t: tuple[float, float]) -> float:
    dx, dy = t
    if abs(dx) < 1e-9:
        dx = 1e-9 if dx >= 0 else -1e-9
    return dy / dx


def moved_keys(keys: Sequence[Key], frames: Iterable[int], dframe: float, dvalue: float = 0.0
               ) -> tuple[list[Key], list[int]]:
    """`keys` (sorted, unique frames) with those on `frames` moved by (dframe snapped to a whole
    frame, dvalue); moved keys replace unmoved keys they land on. Returns (the new keys sorted by
    frame, the moved keys' new frames sorted). Curve.move_keys on a key list, without a Curve."""
    # keys are sorted: the selected and the landed-on keys are found by binary search and
    # taken out by index, so a drag of a few keys on long curves costs no pass over every key
    out = list(keys)
    df = nearest_frame(dframe)
    moved = []
    for f in sorted({int(f) for f in frames}, reverse=True):
        i = bisect.bisect_left(out, f, key=_FRAME)
        if i < len(out) and out[i].frame == f:
            k = out.pop(i)
            moved.append(k.replace(frame=k.frame + df, value=k.value + dvalue))
    for k in moved:  # a moved key replaces an unmoved key it lands on
        i = bisect.bisect_left(out, k.frame, key=_FRAME)
        if i < len(out) and out[i].frame == k.frame:
            out[i] = k
        else:
            out.insert(i, k)
    return out, sorted(k.frame for k in moved)


def drop_offset(moving: Mapping[str, Iterable[int]], fixed: Mapping[str, Iterable[int]], dframe: int) -> int:
    """The frame offset nearest `dframe` (from it back towards 0) at which no key of `moving`
    {curve: frames} lands on a frame of `fixed` {curve: frames of its keys that stay}: a
    dragged key stops short of a neighbour instead of replacing it (as Maya's Graph Editor
    never eats a key on a drop). Offsets passing over a neighbour are fine; only landing is not."""
    taken = {n: {int(f) for f in fixed.get(n, ())} for n in moving}
    frames = {n: [int(f) for f in fr] for n, fr in moving.items()}
    d = int(dframe)
    step = -1 if d > 0 else 1
    while d != 0 and any(f + d in taken[n] for n, fr in frames.items() for f in fr):
        d += step
    return d


_FRAME = operator.attrgetter("frame")  # a key's frame, for sorting and binary search


def _same_run(a: Sequence[Key], b: Sequence[Key]) -> int:
    """How many leading items of a and b are the same objects."""
    diff = list(map(operator.is_not, a, b))
    return diff.index(True) if True in diff else len(diff)


class Curve:
    """A keyframed curve: keys sorted by frame with unique frames.

    Mutate only through set_keys / insert_key / remove_frames / replace_key / move_keys;
    `version` increases on every change (caches elsewhere key on it).
    """

    def __init__(self, keys: Iterable[Key] = ()) -> None:
        self._keys: list[Key] = []
        self.version = 0
        self._coef: tuple[np.ndarray, ...] | None = None
        self._cache_frames: tuple[int, int] | None = None  # contiguous [first, last]
        self._cache_values: np.ndarray | None = None
        self._dirty: tuple[int, int] | None = None  # frame span to recompute in the cache
        self.set_keys(keys)

    # ------------------------------------------------------------------ reading
    @property
    def keys(self) -> tuple[Key, ...]:
        return tuple(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Curve) and self._keys == other._keys

    def __repr__(self) -> str:
        return f"Curve({len(self._keys)} keys)"

    @property
    def frames(self) -> np.ndarray:
        return self._arr[0].copy()

    @property
    def values(self) -> np.ndarray:
        return self._arr[1].copy()

    def _rebuild_arrays(self) -> None:
        """Per-key arrays (frames, values, interp codes, tangent modes, user in/out slopes),
        rebuilt once per edit so evaluation set-up is vectorised."""
        ks = self._keys
        n = len(ks)
        rows = np.fromiter(itertools.chain.from_iterable([k._row for k in ks]), np.float64, count=8 * n).reshape(n, 8)
        with np.errstate(divide="ignore", invalid="ignore"):
            dxi = np.where(np.abs(rows[:, 4]) < 1e-9, np.where(rows[:, 4] >= 0, 1e-9, -1e-9), rows[:, 4])
            dxo = np.where(np.abs(rows[:, 6]) < 1e-9, np.where(rows[:, 6] >= 0, 1e-9, -1e-9), rows[:, 6])
        self._arr = (rows[:, 0].astype(np.int64), rows[:, 1].copy(), rows[:, 2].astype(np.int8),
                     rows[:, 3].astype(np.int8), rows[:, 5] / dxi, rows[:, 7] / dxo)

    def key_index(self, frame: int) -> int | None:
        """Index of the key on `frame`, or None."""
        frames = self._arr[0]
        i = int(np.searchsorted(frames, int(frame)))
        if i < len(frames) and frames[i] == int(frame):
            return i
        return None

    def key_at(self, frame: int) -> Key | None:
        i = self.key_index(frame)
        return None if i is None else self._keys[i]

    def copy(self) -> Curve:
        return Curve(self._keys)

    # ------------------------------------------------------------------ editing
    def _span_around(self, lo_frame: int, hi_frame: int) -> tuple[int, int]:
        """Frames whose value can change when keys in [lo_frame, hi_frame] change: AUTO
        slopes depend on neighbours, so from two keys before to two keys after."""
        frames = self._arr[0]
        if len(frames) == 0:
            return (lo_frame, hi_frame)
        i0 = int(np.searchsorted(frames, lo_frame)) - 2
        i1 = int(np.searchsorted(frames, hi_frame, side="right")) + 1
        a = frames[max(i0, 0)] if i0 >= 0 else -(2**62)
        b = frames[min(i1, len(frames) - 1)] if i1 < len(frames) else 2**62
        return (int(min(a, lo_frame)), int(max(b, hi_frame)))

    def _touch(self, span: tuple[int, int] | None) -> None:
        self.version += 1
        self._coef = None
        if span is None or self._cache_frames is None:
            self._dirty = (-(2**62), 2**62) if self._cache_frames is not None else None
            return
        if self._dirty is None:
            self._dirty = span
        else:
            self._dirty = (min(self._dirty[0], span[0]), max(self._dirty[1], span[1]))

    def _edit(self, new_keys: list[Key], changed_frames: Iterable[int], checked: bool = False) -> None:
        """Set the keys and mark the frames the change can reach; checked: new_keys are known to be
        sorted with unique frames."""
        changed = list(changed_frames)
        if changed:
            lo, hi = min(changed), max(changed)
            before = self._span_around(lo, hi)
        if not checked:
            new_keys = sorted(new_keys, key=_FRAME)
            for a, b in zip(new_keys, new_keys[1:], strict=False):
                if a.frame == b.frame:
                    raise ValueError(f"two keys on frame {a.frame}")
        self._keys = new_keys
        self._rebuild_arrays()
        if not changed:
            self._touch(None)
            return
        after = self._span_around(lo, hi)
        self._touch((min(before[0], after[0]), max(before[1], after[1])))

    def set_keys(self, keys: Iterable[Key]) -> None:
        """Replace all keys (keys on the same frame: the last one wins).

        Only the frames the change can reach are marked for re-evaluation (the keys that
        differ, two keys either side for AUTO slopes, as in _edit): an undo step or a drag
        re-applied from its start replaces whole key lists, and re-evaluating every frame of
        every touched curve made a 40-curve drag several times slower. Keys equal to those
        already set change nothing."""
        new = list(keys)
        frames = list(map(_FRAME, new))
        if not all(map(operator.lt, frames, itertools.islice(frames, 1, None))):
            by_frame = {k.frame: k for k in new}
            new = [by_frame[f] for f in sorted(by_frame)]
        old = self._keys
        if new == old and old:
            return
        if not old or not new:
            self._keys = new
            self._rebuild_arrays()
            self._touch(None)
            return
        # most keys are the very objects already set: skip the common head and tail by identity
        # (C-level scans), then compare what lies between by frame
        head = _same_run(new, old)
        tail = _same_run(new[::-1], old[::-1])
        tail = min(tail, len(new) - head, len(old) - head)
        was = {k.frame: k for k in old[head:len(old) - tail]}
        changed = set()
        for k in new[head:len(new) - tail]:
            o = was.pop(k.frame, None)
            if o is not k and o != k:
                changed.add(k.frame)
        changed.update(was)  # frames whose key is gone
        self._edit(new, changed, checked=True)

    def insert_key(self, key: Key) -> None:
        """Add a key, replacing any key on the same frame."""
        keys = [k for k in self._keys if k.frame != key.frame] + [key]
        self._edit(keys, [key.frame])

    def replace_key(self, frame: int, key: Key) -> None:
        """Replace the key on `frame` with `key` (which may sit on another frame)."""
        if self.key_index(frame) is None:
            raise KeyError(f"no key on frame {frame}")
        keys = [k for k in self._keys if k.frame not in (frame, key.frame)] + [key]
        self._edit(keys, [frame, key.frame])

    def remove_frames(self, frames: Iterable[int]) -> None:
        drop = {int(f) for f in frames}
        keys = [k for k in self._keys if k.frame not in drop]
        self._edit(keys, drop & {k.frame for k in self._keys})

    def move_keys(self, frames: Iterable[int], dframe: float, dvalue: float = 0.0) -> list[int]:
        """Move the keys on `frames` by (dframe snapped to a whole frame, dvalue). Moved keys
        replace unmoved keys they land on. Returns the new frames of the moved keys."""
        sel = {int(f) for f in frames}
        keys, targets = moved_keys(self._keys, sel, dframe, dvalue)
        self._edit(keys, list(sel) + targets, checked=True)
        return targets

    # ------------------------------------------------------------------ tangents
    def slopes(self) -> tuple[np.ndarray, np.ndarray]:
        """(in_slope, out_slope) per key in value per frame, with AUTO keys resolved."""
        n = len(self._keys)
        f = self._arr[0].astype(np.float64)
        v = self._arr[1]
        auto = np.zeros(n)
        if n >= 3:
            h = np.diff(f)
            d = np.diff(v) / h
            d0, d1 = d[:-1], d[1:]
            h0, h1 = h[:-1], h[1:]
            w1 = 2 * h1 + h0
            w2 = h1 + 2 * h0
            same = (d0 * d1) > 0
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                m = (w1 + w2) / (w1 / d0 + w2 / d1)
            auto[1:-1] = np.where(same, m, 0.0)
        _, _, _, mode, user_in, user_out = self._arr
        ins = np.where(mode == 0, auto, np.where(mode == 1, user_out, user_in))
        outs = np.where(mode == 0, auto, user_out)
        return ins, outs

    def handles(self) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        """Handle offsets (in, out) for display: resolved slopes, one third of the
        neighbouring segment long in frames (user-set FREE/BROKEN offsets are kept)."""
        ins, outs = self.slopes()
        f = self.frames
        out = []
        for i, k in enumerate(self._keys):
            if k.tangent_mode is not TangentMode.AUTO:
                out.append((k.in_tangent, k.out_tangent))
                continue
            lin = (f[i] - f[i - 1]) / 3.0 if i > 0 else 1.0
            lout = (f[i + 1] - f[i]) / 3.0 if i + 1 < len(f) else 1.0
            out.append(((-lin, -lin * ins[i]), (lout, lout * outs[i])))
        return out

    # ------------------------------------------------------------------ evaluation
    def _coefficients(self) -> tuple[np.ndarray, ...]:
        """Per segment: start frame, length, interp code and cubic Hermite coefficients in
        u = (frame - f0) / length: value = ((c3 u + c2) u + c1) u + c0."""
        if self._coef is not None:
            return self._coef
        f = self._arr[0].astype(np.float64)
        v = self._arr[1]
        n = len(f)
        if n < 2:
            self._coef = (f, v)
            return self._coef
        ins, outs = self.slopes()
        h = np.diff(f)
        v0, v1 = v[:-1], v[1:]
        m0 = outs[:-1] * h
        m1 = ins[1:] * h
        code = self._arr[2][:-1]
        c0 = v0.copy()
        c1 = np.where(code == 2, m0, np.where(code == 1, v1 - v0, 0.0))
        c2 = np.where(code == 2, 3 * (v1 - v0) - 2 * m0 - m1, 0.0)
        c3 = np.where(code == 2, 2 * (v0 - v1) + m0 + m1, 0.0)
        self._coef = (f, v, h, c0, c1, c2, c3)
        return self._coef

    def _eval_raw(self, frames: np.ndarray) -> np.ndarray:
        xin = np.asarray(frames, dtype=np.float64)
        x = xin.reshape(-1)
        return self._eval_flat(x).reshape(xin.shape)

    def _eval_flat(self, x: np.ndarray) -> np.ndarray:
        coef = self._coefficients()
        n = len(coef[0])
        if n == 0:
            return np.zeros(x.shape)
        if n == 1:
            return np.full(x.shape, coef[1][0])
        f, v, h, c0, c1, c2, c3 = coef
        i = np.searchsorted(f, x, side="right") - 1
        np.clip(i, 0, n - 2, out=i)
        u = (x - f[i]) / h[i]
        np.clip(u, 0.0, 1.0, out=u)
        y = ((c3[i] * u + c2[i]) * u + c1[i]) * u + c0[i]
        y[x >= f[-1]] = v[-1]
        return y

    def _eval_span(self, first: int, last: int) -> np.ndarray:
        """Values on the contiguous frames first..last: segment lookup by run lengths
        instead of a binary search per frame."""
        coef = self._coefficients()
        n = len(coef[0])
        if n < 2:
            return self._eval_raw(np.arange(first, last + 1))
        f, v, h, c0, c1, c2, c3 = coef
        fi = self._arr[0]
        a, b = max(first, int(fi[0])), min(last, int(fi[-1]) - 1)
        out = np.empty(last - first + 1)
        out[: max(0, min(a, last + 1) - first)] = v[0]
        if b >= a:
            # segments s0..s1 cover frames a..b; every frame's segment by run lengths
            s0 = int(np.searchsorted(fi, a, side="right")) - 1
            s1 = int(np.searchsorted(fi, b, side="right")) - 1
            starts = fi[s0:s1 + 1].copy()
            starts[0] = a
            lens = np.diff(np.append(starts, b + 1))
            seg = np.repeat(np.arange(s0, s1 + 1, dtype=np.intp), lens)
            u = np.arange(a, b + 1, dtype=np.float64)
            u -= np.repeat(f[s0:s1 + 1], lens)
            u /= np.repeat(h[s0:s1 + 1], lens)  # a division, as _eval_flat: both give the same bits
            t = np.empty_like(u)
            y = np.take(c3, seg)
            y *= u
            y += np.take(c2, seg, out=t)
            y *= u
            y += np.take(c1, seg, out=t)
            y *= u
            y += np.take(c0, seg, out=t)
            out[a - first: b - first + 1] = y
        tail = max(int(fi[-1]), first)
        if tail <= last:
            out[tail - first:] = v[-1]
        return out

    def evaluate(self, frames: np.ndarray | Sequence[int] | int) -> np.ndarray:
        """Values at `frames` (any shape; float64). A curve with no keys evaluates to 0."""
        x = np.asarray(frames)
        if x.ndim == 1 and x.size > 1 and np.issubdtype(x.dtype, np.integer):
            lo, hi = int(x[0]), int(x[-1])
            if hi - lo + 1 == x.size and bool(np.all(np.diff(x) == 1)):  # contiguous
                if self._cache_frames == (lo, hi):
                    return self.evaluate_range(lo, hi).copy()
                return self._eval_span(lo, hi)  # another window: do not evict the cached range
        return self._eval_raw(x)

    def evaluate_range(self, first: int, last: int) -> np.ndarray:
        """Values on frames first..last (inclusive), cached; after an edit only the span
        it can change is recomputed. The returned array is the cache: do not modify it."""
        rng = (int(first), int(last))
        if self._cache_frames != rng or self._cache_values is None:
            self._cache_frames = rng
            self._cache_values = self._eval_span(rng[0], rng[1])
            self._dirty = None
        elif self._dirty is not None:
            a = max(self._dirty[0], rng[0])
            b = min(self._dirty[1], rng[1])
            if a <= b:
                vals = self._cache_values.copy()  # callers may still hold the previous array
                vals[a - rng[0]:b - rng[0] + 1] = self._eval_span(a, b)
                self._cache_values = vals
            self._dirty = None
        return self._cache_values

    # ------------------------------------------------------------------ persistence
    def to_list(self) -> list[list]:
        return [k.to_list() for k in self._keys]

    @classmethod
    def from_list(cls, data: Sequence[Sequence]) -> Curve:
        return cls(Key.from_list(k) for k in data)

    def to_array(self) -> np.ndarray:
        """(n, 8) float64: frame, value, interp code, mode code, in dx, in dy, out dx, out dy
        (exact: frames are integers far below 2**53)."""
        ks = self._keys
        out = np.empty((len(ks), 8))
        for i, k in enumerate(ks):
            out[i] = (k.frame, k.value, _INTERP_CODE[k.interp], _MODE_CODE[k.tangent_mode],
                      k.in_tangent[0], k.in_tangent[1], k.out_tangent[0], k.out_tangent[1])
        return out

    @classmethod
    def from_array(cls, a: np.ndarray) -> Curve:
        """Inverse of to_array(); ValueError for a malformed array."""
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != 8:
            raise ValueError(f"key array must have shape (n, 8), got {a.shape}")
        if a.size and (np.any(a[:, 0] != np.round(a[:, 0])) or not np.isin(a[:, 2], (0, 1, 2)).all()
                       or not np.isin(a[:, 3], (0, 1, 2)).all()):
            raise ValueError("key array holds a non-integer frame or an unknown interpolation/tangent code")
        if a.size and not np.isfinite(a[:, 1]).all():
            raise ValueError("key array holds a non-finite value")
        interps = list(_INTERP_CODE)
        modes = list(_MODE_CODE)
        mk = Key._make
        return cls(mk(int(r[0]), r[1], interps[int(r[2])], modes[int(r[3])], (r[4], r[5]), (r[6], r[7]))
                   for r in a.tolist())
