"""Layers and the per-face CurveSet: extracted base + additive/override key layers + gains.

Evaluation order for one curve name at plate frame N:
    value = base[N]                              (extracted, filtered; edge values held)
    for each layer in order (muted ones skipped), if it has a curve for the name:
        additive:  value = value + layer_curve(N)
        override:  value = (1 - weight) * value + weight * layer_curve(N)
    AU curves:  value = clip(gain(N) * value, 0, 5)   (pose/gaze curves: no gain, no clamp)
gain(N) is the AU's static gain (`gains`, default 1), unless the AU has gain keys
(`gain_keys`: a keyframed Curve, same keys and interpolation as the layers): then it is that
curve at N clamped to 0..2, and the static gain is not used until the keys are deleted.
Missing base values (no face on that frame) stay NaN so the renderer knows to skip them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.curves.keys import Curve, Key

AU_MIN, AU_MAX = 0.0, 5.0
GAIN_MIN, GAIN_MAX, GAIN_WARN = 0.0, 2.0, 1.5
_AU_RE = re.compile(r"^AU(\d+)([LR]?)$")
#: how a CurveSet's base was extracted when nothing says otherwise (older projects)
DEFAULT_EXTRACTION = {"filter": "one_euro", "neutral_frame": None, "calibration": {}}
#: preset AU numbers that drive another curve (AU43 "eyes closed" is the AU45 blink curve)
AU_ALIASES = {43: 45}


def is_au(name: str) -> bool:
    """True for AU intensity curves (AU12, AU12L, ...): clamped to 0..5 and gain-scaled."""
    return _AU_RE.match(name) is not None


# OpenFace's CSV names of our gaze curves; curves CSVs written and read use them
OPENFACE_GAZE = {"gaze_x": "gaze_angle_x", "gaze_y": "gaze_angle_y"}


def openface_column(name: str) -> str:
    """A curve's column in an OpenFace-style CSV: AUxx_r for an AU, gaze_angle_x/y for the gaze
    curves (import-au and OpenFace readers know them by those names), else the curve's name."""
    return f"{name}_r" if is_au(name) else OPENFACE_GAZE.get(name, name)


def au_number(name: str) -> int | None:
    m = _AU_RE.match(name)
    return int(m.group(1)) if m else None


@dataclass
class Layer:
    """An edit layer. additive: adds its curves; override: blends towards them by weight."""

    name: str
    mode: str = "additive"  # "additive" | "override"
    weight: float = 1.0
    muted: bool = False
    curves: dict[str, Curve] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in ("additive", "override"):
            raise ValueError(f"layer {self.name!r}: mode must be 'additive' or 'override', got {self.mode!r}")
        if not 0.0 <= float(self.weight) <= 1.0:
            raise ValueError(f"layer {self.name!r}: weight must be within 0..1, got {self.weight}")
        self.weight = float(self.weight)

    def curve(self, name: str, create: bool = False) -> Curve | None:
        c = self.curves.get(name)
        if c is None and create:
            c = self.curves[name] = Curve()
        return c

    def copy(self) -> Layer:
        return Layer(self.name, self.mode, self.weight, self.muted, {n: c.copy() for n, c in self.curves.items()})

    def to_dict(self) -> dict:
        return {"name": self.name, "mode": self.mode, "weight": self.weight, "muted": self.muted,
                "curves": {n: c.to_list() for n, c in self.curves.items()}}

    @classmethod
    def from_dict(cls, d: Mapping) -> Layer:
        return cls(d["name"], d["mode"], float(d["weight"]), bool(d["muted"]),
                   {n: Curve.from_list(k) for n, k in d["curves"].items()})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layer) and self.to_dict() == other.to_dict()


class CurveSet:
    """All curves of one face (track) of one shot.

    base / base_extracted / base_raw are float64 arrays indexed by plate frame - first:
    `base` is what layers build on (it changes when a layer is baked into it or a filter is
    applied), `base_extracted` is the filtered extraction (for Reset to extracted),
    `base_raw` the unfiltered per-frame solve (so a filter can be changed without re-analysis).
    `extraction` says how the base was made: {"filter": one_euro | savgol | none,
    "neutral_frame": the chosen neutral plate frame or None (auto), "calibration": what the
    AU engine used (method, frame, the auto neutral's frames per region, any note)}.
    """

    def __init__(self, names: Sequence[str], frame_range: tuple[int, int],
                 base: Mapping[str, np.ndarray] | None = None,
                 base_raw: Mapping[str, np.ndarray] | None = None,
                 confidence: np.ndarray | None = None, success: np.ndarray | None = None,
                 layers: Iterable[Layer] = (), gains: Mapping[str, float] | None = None,
                 base_extracted: Mapping[str, np.ndarray] | None = None,
                 enable_smooth: bool = False, gain_keys: Mapping[str, Curve | Iterable[Key]] | None = None,
                 extraction: Mapping | None = None) -> None:
        self.names = list(names)
        self.extraction: dict = {**DEFAULT_EXTRACTION, **dict(extraction or {})}
        first, last = int(frame_range[0]), int(frame_range[1])
        if last < first:
            raise ValueError(f"frame range {first}..{last} is empty")
        self.frame_range = (first, last)
        n = last - first + 1
        self.base: dict[str, np.ndarray] = {}
        for name in self.names:
            arr = np.zeros(n) if base is None or name not in base else np.asarray(base[name], dtype=np.float64)
            if arr.shape != (n,):
                raise ValueError(f"base curve {name}: expected {n} values for frames {first}..{last}, got {arr.shape}")
            self.base[name] = arr.copy()
        src = base_extracted if base_extracted is not None else self.base
        self.base_extracted = {k: np.asarray(src[k], dtype=np.float64).copy() for k in self.names}
        raw = base_raw if base_raw is not None else self.base_extracted
        self.base_raw = {k: np.asarray(raw[k], dtype=np.float64).copy() for k in self.names if k in raw}
        self.confidence = None if confidence is None else np.asarray(confidence, dtype=np.float64).copy()
        self.success = None if success is None else np.asarray(success, dtype=bool).copy()
        self.layers: list[Layer] = list(layers)
        self.gains: dict[str, float] = {}
        for k, g in (gains or {}).items():
            self.set_gain(k, g)
        self.enable_smooth = bool(enable_smooth)
        self._base_version: dict[str, int] = dict.fromkeys(self.names, 0)
        self._cache: dict[str, tuple[tuple, np.ndarray]] = {}
        #: animated gains {AU name: Curve}; only AUs with at least one key are present
        self.gain_keys: dict[str, Curve] = {}
        self._gain_version: dict[str, int] = {}
        for k, c in (gain_keys or {}).items():
            self.set_gain_keys(k, c.keys if isinstance(c, Curve) else c)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_face_aus(cls, face: object, frame_indices: np.ndarray, keep_edits_from: CurveSet | None = None) -> CurveSet:
        """Build from core.facs FaceAUs (names, raw, filtered (T, K), confidence, success) and
        the analysed plate frames (ShotAnalysis.frame_indices). Frames missing between the first
        and last analysed one are NaN (no value), never shifted. `keep_edits_from` carries the
        layers, gains and smoothing of a previous CurveSet over (re-extraction keeps edits)."""
        fi = np.asarray(frame_indices, dtype=np.int64)
        if fi.size == 0:
            raise ValueError("no analysed frames")
        if np.any(np.diff(fi) <= 0):
            raise ValueError("analysed frame numbers must be increasing")
        names = list(face.names)  # type: ignore[attr-defined]
        filt = np.asarray(face.filtered, dtype=np.float64)  # type: ignore[attr-defined]
        raw = np.asarray(face.raw, dtype=np.float64)  # type: ignore[attr-defined]
        if filt.shape != (fi.size, len(names)) or raw.shape != filt.shape:
            raise ValueError(f"AU arrays have shape {filt.shape}/{raw.shape}, expected ({fi.size}, {len(names)})")
        first, last = int(fi[0]), int(fi[-1])
        pos = fi - first

        def spread(a: np.ndarray | None, fill: float | bool) -> np.ndarray | None:
            if a is None:
                return None
            a = np.asarray(a)
            out = np.full((last - first + 1,) + a.shape[1:], fill, dtype=np.float64 if fill is not False else bool)
            out[pos] = a
            return out

        filt_full = spread(filt, np.nan)
        raw_full = spread(raw, np.nan)
        assert filt_full is not None and raw_full is not None
        cs = cls(names, (first, last),
                 base={n: filt_full[:, i] for i, n in enumerate(names)},
                 base_raw={n: raw_full[:, i] for i, n in enumerate(names)},
                 confidence=spread(getattr(face, "confidence", None), 0.0),
                 success=spread(getattr(face, "success", None), False),
                 extraction=extraction_of(face))
        if keep_edits_from is not None:
            cs.take_edits_from(keep_edits_from)
        return cs

    def take_edits_from(self, other: CurveSet) -> list[str]:
        """Carry another CurveSet's edits (layers, gains, gain keys, smoothing, and what was
        baked or filtered into its base) onto this newly extracted one, in place: a filter
        change, a neutral change and re-analysis keep the artist's work. Returns the curves
        whose base edits were carried.

        A base edit (a baked layer, a Butterworth pass on the base) is carried as what it
        changed over the old extraction, per plate frame, added to the new extraction: the
        baked smile stays on top of the newly filtered or re-measured curve, as the layer did
        before it was baked. Frames the old range did not hold get no change."""
        carried = []
        lo = max(self.frame_range[0], other.frame_range[0])
        hi = min(self.frame_range[1], other.frame_range[1])
        for n in self.names:
            if n not in other.base or hi < lo:
                continue
            a, b = lo - other.frame_range[0], hi - other.frame_range[0] + 1
            delta = other.base[n][a:b] - other.base_extracted[n][a:b]
            delta[~np.isfinite(delta)] = 0.0
            if not delta.any():
                continue
            new = self.base[n].copy()
            new[lo - self.frame_range[0]:hi - self.frame_range[0] + 1] += delta
            self.set_base(n, new)
            carried.append(n)
        self.layers = [lay.copy() for lay in other.layers]
        self.gains = {k: g for k, g in other.gains.items() if k in self.base}
        self.gain_keys = {}
        for k, c in other.gain_keys.items():
            if k in self.base:
                self.set_gain_keys(k, c.keys)
        self.enable_smooth = other.enable_smooth
        self._cache.clear()
        return carried

    @property
    def n_frames(self) -> int:
        return self.frame_range[1] - self.frame_range[0] + 1

    def all_frames(self) -> np.ndarray:
        return np.arange(self.frame_range[0], self.frame_range[1] + 1)

    # ------------------------------------------------------------------ editing helpers
    def layer(self, name: str) -> Layer:
        for lay in self.layers:
            if lay.name == name:
                return lay
        raise KeyError(f"no layer named {name!r}")

    def layer_index(self, name: str) -> int:
        return self.layers.index(self.layer(name))

    def unique_layer_name(self, stem: str = "Layer") -> str:
        taken = {lay.name for lay in self.layers}
        i = 1
        while f"{stem} {i}" in taken:
            i += 1
        return f"{stem} {i}"

    def set_base(self, name: str, values: np.ndarray) -> None:
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (self.n_frames,):
            raise ValueError(f"base curve {name}: expected {self.n_frames} values, got {arr.shape}")
        self.base[name] = arr.copy()
        self._base_version[name] = self._base_version.get(name, 0) + 1

    def set_gain(self, name: str, gain: float) -> None:
        if not is_au(name):
            raise ValueError(f"{name}: gains apply to AU curves only")
        g = float(gain)
        if not GAIN_MIN <= g <= GAIN_MAX:
            raise ValueError(f"{name}: gain must be within {GAIN_MIN}..{GAIN_MAX}, got {g}")
        if g == 1.0:
            self.gains.pop(name, None)
        else:
            self.gains[name] = g

    def gain(self, name: str) -> float:
        """The static gain (1 when unset); an AU with gain keys uses gain_at() instead."""
        return self.gains.get(name, 1.0)

    def has_gain_keys(self, name: str) -> bool:
        """True when the AU's gain is animated (it has at least one gain key)."""
        c = self.gain_keys.get(name)
        return c is not None and len(c) > 0

    def check_gain_keys(self, name: str, keys: Iterable[Key]) -> list[Key]:
        """The keys as a list, or ValueError/KeyError when they cannot be the gain keys of `name`
        (not an AU curve of this set, a value outside 0..2, two keys on one frame)."""
        if name not in self.base:
            raise KeyError(f"no curve named {name!r}")
        if not is_au(name):
            raise ValueError(f"{name}: gains apply to AU curves only")
        out = list(keys)
        seen: set[int] = set()
        for k in out:
            if not isinstance(k, Key):
                raise ValueError(f"{name}: a gain key must be a Key, got {type(k).__name__}")
            if not GAIN_MIN <= k.value <= GAIN_MAX:
                raise ValueError(f"{name}: gain key on frame {k.frame} must be within {GAIN_MIN}..{GAIN_MAX}, "
                                 f"got {k.value}")
            if k.frame in seen:
                raise ValueError(f"{name}: two gain keys on frame {k.frame}")
            seen.add(k.frame)
        return out

    def set_gain_keys(self, name: str, keys: Iterable[Key]) -> None:
        """Replace the gain keys of an AU curve (no keys: back to the static gain)."""
        ks = self.check_gain_keys(name, keys)
        self._gain_version[name] = self._gain_version.get(name, 0) + 1
        if not ks:
            self.gain_keys.pop(name, None)
            return
        c = self.gain_keys.get(name)
        if c is None:
            self.gain_keys[name] = Curve(ks)
        else:
            c.set_keys(ks)

    def gain_at(self, name: str, frames: np.ndarray | Sequence[int] | int) -> np.ndarray:
        """The gain that multiplies curve `name` at plate `frames` (float64, the frames' shape):
        the gain keys clamped to 0..2 when the AU has any, else the static gain; 1 for
        curves that take no gain (pose, gaze)."""
        if name not in self.base:
            raise KeyError(f"no curve named {name!r}")
        x = _whole_frames(frames)
        if not is_au(name):
            return np.ones(x.shape)
        c = self.gain_keys.get(name)
        if c is None or len(c) == 0:
            return np.full(x.shape, self.gain(name))
        return np.clip(c.evaluate(x), GAIN_MIN, GAIN_MAX)

    # ------------------------------------------------------------------ evaluation
    def _base_at(self, name: str, frames: np.ndarray) -> np.ndarray:
        arr = self._smoothed_base(name) if self.enable_smooth else self.base[name]
        fr = np.asarray(frames)
        if fr.ndim == 1 and fr.size and int(fr[0]) >= self.frame_range[0] and int(fr[-1]) <= self.frame_range[1] \
                and fr.size == int(fr[-1]) - int(fr[0]) + 1 and (fr.size == 1 or bool(np.all(np.diff(fr) == 1))):
            a = int(fr[0]) - self.frame_range[0]  # contiguous and in order: a slice copy
            return arr[a:a + fr.size].copy()
        idx = np.clip(np.asarray(frames, dtype=np.int64) - self.frame_range[0], 0, self.n_frames - 1)
        return arr[idx]

    def _smoothed_base(self, name: str) -> np.ndarray:
        key = ("__smooth__", name)
        ver = self._base_version.get(name, 0)
        hit = self._cache.get(key)  # type: ignore[arg-type]
        if hit is not None and hit[0] == (ver, id(self.base[name])):
            return hit[1]
        from core.curves.ops import smooth_array

        out = smooth_array(self.base[name], radius=2)
        self._cache[key] = ((ver, id(self.base[name])), out)  # type: ignore[index]
        return out

    def _signature(self, name: str) -> tuple:
        parts: list = [self._base_version.get(name, 0), id(self.base[name]), self.gain(name), self.enable_smooth]
        gk = self.gain_keys.get(name)
        parts.append(None if gk is None else (self._gain_version.get(name, 0), id(gk), gk.version))
        for lay in self.layers:
            c = lay.curves.get(name)
            if c is not None and not lay.muted:
                parts.append((lay.mode, lay.weight, id(c), c.version))
        return tuple(parts)

    def _compose(self, name: str, frames: np.ndarray, contiguous: bool, clamp: bool = True) -> np.ndarray:
        val = self._base_at(name, frames)
        if val.base is not None:
            val = val.copy()
        for lay in self.layers:
            c = lay.curves.get(name)
            if c is None or lay.muted or len(c) == 0:
                continue
            lv = c.evaluate_range(int(frames[0]), int(frames[-1])) if contiguous else c.evaluate(frames)
            if lay.mode == "additive":
                val += lv
            else:
                val *= 1.0 - lay.weight
                val += lay.weight * lv
        if is_au(name):
            gk = self.gain_keys.get(name)
            if gk is not None and len(gk):
                g = gk.evaluate_range(int(frames[0]), int(frames[-1])) if contiguous else gk.evaluate(frames)
                val *= np.clip(g, GAIN_MIN, GAIN_MAX)
            else:
                g = self.gain(name)
                if g != 1.0:
                    val *= g
            if clamp:
                np.clip(val, AU_MIN, AU_MAX, out=val)
        return val

    def key_response(self, name: str, layer: str, frames: np.ndarray | Sequence[int]) -> np.ndarray:
        """How much the final value of `name` moves per unit change of a key value of `layer`
        at each of `frames`, before the AU clamp: the gain there times the layer's own weight
        (override) times what later override layers leave of it; 0 when the layer is muted."""
        x = _whole_frames(frames)
        g = self.gain_at(name, x)
        seen = False
        for lay in self.layers:
            if lay.name == layer:
                seen = True
                if lay.muted:
                    return np.zeros(x.shape)
                if lay.mode != "additive":
                    g = g * lay.weight
            elif seen:
                c = lay.curves.get(name)
                if c is not None and not lay.muted and len(c) and lay.mode != "additive":
                    g = g * (1.0 - lay.weight)
        return g

    def drag_delta(self, name: str, layer: str, frames: Iterable[int], dscreen: float) -> float:
        """The change of the key values of `layer` on `frames` (all by the same amount) that moves
        those keys by `dscreen` on the drawn curve, as a drag should: AU results are drawn
        clamped to 0..5, so the change is limited to keep every key's result within them (no
        hidden overshoot: a key dragged past 5 and back moves at once), and measured from what is
        drawn (a key already over the clamp moves from where it shows). A key in a frame with
        no face (no result) or one the layer cannot move follows the drag by its own value."""
        x = _whole_frames(np.asarray(sorted({int(f) for f in frames}), np.int64))
        d = float(dscreen)
        if x.size == 0 or d == 0.0:
            return d
        b = self.key_response(name, layer, x)
        u = self._compose(name, x, contiguous=False, clamp=False)
        ok = np.isfinite(u) & (np.abs(b) > 1e-9)
        if not ok.any():
            return d  # every key is in a frame with no face: move the values by the drag
        if is_au(name):
            r = np.clip(u[ok], AU_MIN, AU_MAX)  # where each key is drawn
            want = (np.clip(r + d, AU_MIN, AU_MAX) - u[ok]) / b[ok]
        else:
            want = np.full(int(ok.sum()), d) / b[ok]
        # one change for all the keys: the smallest one in the drag's direction (the first key to
        # reach the clamp stops the group), none when a key would have to move the other way
        sign = 1.0 if d > 0 else -1.0
        return sign * float(np.min(np.maximum(sign * want, 0.0)))

    def _evaluate_cached(self, name: str) -> np.ndarray:
        """Whole-range result from the cache (shared array: do not modify)."""
        sig = self._signature(name)
        hit = self._cache.get(name)
        if hit is not None and hit[0] == sig:
            return hit[1]
        val = self._compose(name, self.all_frames(), contiguous=True)
        self._cache[name] = (sig, val)
        return val

    def evaluate(self, name: str, frames: np.ndarray | Sequence[int] | None = None) -> np.ndarray:
        """Final values of one curve at plate `frames` (default: the whole analysed range).
        Whole-range results are cached per curve and recomputed only when an input changed."""
        if name not in self.base:
            raise KeyError(f"no curve named {name!r}")
        if frames is None:
            return self._evaluate_cached(name).copy()
        x = _whole_frames(frames)
        if x.size == 0:
            return np.zeros(0)
        return self._compose(name, x, contiguous=False)  # Curve.evaluate spots contiguous windows

    def evaluate_all(self, frames: np.ndarray | Sequence[int] | None = None) -> dict[str, np.ndarray]:
        return {n: self.evaluate(n, frames) for n in self.names}

    def evaluate_matrix(self, frames: np.ndarray | Sequence[int] | None = None) -> tuple[list[str], np.ndarray]:
        """(names, (K, N) array) of every curve."""
        if frames is not None:
            d = self.evaluate_all(frames)
            return list(self.names), np.stack([d[n] for n in self.names]) if self.names else np.zeros((0, 0))
        out = np.empty((len(self.names), self.n_frames))
        for i, n in enumerate(self.names):
            out[i] = self._evaluate_cached(n)
        return list(self.names), out

    def warnings(self) -> list[str]:
        """What an artist should know: gains above GAIN_WARN (static ones, and keyed ones with
        the plate frames where they are), layer curves for unknown names."""
        out = [f"{n}: gain {g:.2f} is above {GAIN_WARN} and may be non-physiological"
               for n, g in sorted(self.gains.items()) if g > GAIN_WARN and not self.has_gain_keys(n)]
        frames = self.all_frames()
        for n in sorted(self.gain_keys):
            if not self.has_gain_keys(n):
                continue
            g = self.gain_at(n, frames)
            hot = frames[g > GAIN_WARN]
            if hot.size:
                out.append(f"{n}: keyed gain up to {float(g.max()):.2f} is above {GAIN_WARN} at frames "
                           f"{frame_ranges(hot)} and may be non-physiological")
        for n in sorted(self.gains):
            if self.has_gain_keys(n) and self.gains[n] != 1.0:
                out.append(f"{n}: its static gain {self.gains[n]:.2f} (a slider or preset) is not used while the "
                           "curve has gain keys; delete the keys to use it")
        first, last = self.frame_range
        for lay in self.layers:
            missing = sorted(set(lay.curves) - set(self.names))
            if missing:
                out.append(f"layer {lay.name!r} has curves for unknown names: {', '.join(missing)}")
            # a key pasted or dragged past the analysed frames shapes nothing there is to render, and
            # Frame all does not show it
            outside = {n: c.frames[(c.frames < first) | (c.frames > last)] for n, c in lay.curves.items() if len(c)}
            outside = {n: f for n, f in outside.items() if f.size}
            if outside:
                where = "; ".join(f"{n} frame(s) {frame_ranges(f)}" for n, f in sorted(outside.items()))
                out.append(f"layer {lay.name!r} has keys outside the analysed frames {first}-{last}: {where}")
        return out

    # ------------------------------------------------------------------ presets
    def apply_preset(self, preset: Mapping) -> None:
        """Apply a micro-expression preset {"enable_smooth": bool, "au_gain": {AU number: gain}}.
        A gain for AU n applies to AUn, AUnL and AUnR (AU43 drives the AU45 curve)."""
        p = validate_preset(preset)
        if "enable_smooth" in p:
            self.enable_smooth = p["enable_smooth"]
        for au, g in p.get("au_gain", {}).items():
            for name in self.names:
                if au_number(name) == AU_ALIASES.get(au, au):
                    self.set_gain(name, g)

    def to_preset(self) -> dict:
        """The current gains and smoothing as a preset (bilateral names only; AU45 as 45)."""
        gains: dict[int, float] = {}
        for name, g in self.gains.items():
            n = au_number(name)
            if n is not None:
                gains.setdefault(n, g)
        return {"enable_smooth": self.enable_smooth, "au_gain": dict(sorted(gains.items()))}

    # ------------------------------------------------------------------ state
    def state(self) -> dict:
        """A comparable snapshot of everything an edit can change (for tests and undo checks)."""
        return {"names": list(self.names), "frame_range": self.frame_range, "enable_smooth": self.enable_smooth,
                "gains": dict(sorted(self.gains.items())), "layers": [lay.to_dict() for lay in self.layers],
                "gain_keys": {n: c.to_list() for n, c in sorted(self.gain_keys.items()) if len(c)},
                "base": {k: v.tobytes() for k, v in self.base.items()},
                "base_extracted": {k: v.tobytes() for k, v in self.base_extracted.items()},
                "base_raw": {k: v.tobytes() for k, v in self.base_raw.items()},
                "extraction": json.dumps(self.extraction, sort_keys=True)}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CurveSet):
            return False
        a, b = self.state(), other.state()
        ca, cb = self.confidence, other.confidence
        same_conf = (ca is None and cb is None) or (ca is not None and cb is not None and ca.tobytes() == cb.tobytes())
        sa, sb = self.success, other.success
        same_succ = (sa is None and sb is None) or (sa is not None and sb is not None and sa.tobytes() == sb.tobytes())
        return a == b and same_conf and same_succ

    #: curves with more keys than this are stored in the .npz rather than inline in the JSON
    INLINE_KEYS = 64

    def _big_curves(self) -> list[tuple[int, str, str]]:
        out = []
        for li, lay in enumerate(self.layers):
            for j, (n, c) in enumerate(lay.curves.items()):
                if len(c) > self.INLINE_KEYS:
                    out.append((li, n, f"keys_{li}_{j}"))
        return out

    def meta_dict(self) -> dict:
        """The JSON part of the persisted form (arrays, and long key lists, go to an .npz)."""
        big = {(li, n): ref for li, n, ref in self._big_curves()}
        layers = []
        for li, lay in enumerate(self.layers):
            d = {"name": lay.name, "mode": lay.mode, "weight": lay.weight, "muted": lay.muted, "curves": {}}
            for n, c in lay.curves.items():
                ref = big.get((li, n))
                d["curves"][n] = {"npz": ref, "count": len(c)} if ref else c.to_list()
            layers.append(d)
        out = {"names": list(self.names), "frame_range": list(self.frame_range),
               "enable_smooth": self.enable_smooth, "gains": dict(sorted(self.gains.items())), "layers": layers}
        gk = {n: c.to_list() for n, c in sorted(self.gain_keys.items()) if len(c)}
        if gk:  # optional field: files without animated gains read the same as before it existed
            out["gain_keys"] = gk
        out["extraction"] = self.extraction  # optional on reading: older files get DEFAULT_EXTRACTION
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """The array part of the persisted form: one (K, N) stack per kind."""
        out = {"base": np.stack([self.base[n] for n in self.names]) if self.names else np.zeros((0, self.n_frames)),
               "base_extracted": np.stack([self.base_extracted[n] for n in self.names]) if self.names
               else np.zeros((0, self.n_frames))}
        raw_names = [n for n in self.names if n in self.base_raw]
        out["base_raw"] = np.stack([self.base_raw[n] for n in raw_names]) if raw_names else np.zeros((0, self.n_frames))
        out["raw_mask"] = np.array([n in self.base_raw for n in self.names], dtype=bool)
        if self.confidence is not None:
            out["confidence"] = self.confidence
        if self.success is not None:
            out["success"] = self.success
        for li, n, ref in self._big_curves():
            out[ref] = self.layers[li].curves[n].to_array()
        return out

    @classmethod
    def from_parts(cls, meta: Mapping, arrays: Mapping[str, np.ndarray]) -> CurveSet:
        names = list(meta["names"])
        mask = np.asarray(arrays["raw_mask"], dtype=bool)
        raw_names = [n for n, m in zip(names, mask, strict=True) if m]
        cs = cls(names, tuple(meta["frame_range"]),
                 base={n: arrays["base"][i] for i, n in enumerate(names)},
                 base_extracted={n: arrays["base_extracted"][i] for i, n in enumerate(names)},
                 base_raw={n: arrays["base_raw"][i] for i, n in enumerate(raw_names)},
                 confidence=arrays.get("confidence"), success=arrays.get("success"),
                 layers=[_layer_from_parts(d, arrays) for d in meta["layers"]], gains=meta["gains"],
                 enable_smooth=meta["enable_smooth"],
                 gain_keys={n: Curve.from_list(k) for n, k in (meta.get("gain_keys") or {}).items()},
                 extraction=meta.get("extraction"))
        return cs


def _whole_frames(frames: np.ndarray | Sequence[int] | int) -> np.ndarray:
    """Plate frames as int64, a fractional one at its nearest frame (keys.nearest_frame's rule,
    over an array); a plain int64 cast truncated 2.7 to 2."""
    x = np.asarray(frames)
    if np.issubdtype(x.dtype, np.integer):
        return x.astype(np.int64, copy=False)
    return np.floor(x.astype(np.float64) + 0.5).astype(np.int64)


def extraction_of(face: object) -> dict:
    """The extraction record of a core.facs FaceAUs: its filter and a JSON-safe calibration summary."""
    cal = dict(getattr(face, "calibration", None) or {})
    summary: dict = {"method": cal.get("method")}
    if cal.get("frame") is not None:
        summary["frame"] = int(cal["frame"])
    if cal.get("neutral_frames"):
        summary["neutral_frames"] = [[int(f) for f in zone] for zone in cal["neutral_frames"]]
        summary["regions"] = list(cal.get("regions") or [])
    for key in ("note", "identity_weighted", "au_model", "eye_state"):
        if cal.get(key) is not None:
            summary[key] = cal[key]
    filt = getattr(face, "filter", None) or {}
    neutral = int(cal["frame"]) if cal.get("method") == "frame" and cal.get("frame") is not None else None
    return {"filter": str(filt.get("name", "one_euro")), "neutral_frame": neutral, "calibration": summary}


def frame_ranges(frames: Iterable[int]) -> str:
    """'3-7, 12, 20-21': sorted whole frames as inclusive runs (for messages)."""
    fs = sorted({int(f) for f in frames})
    runs: list[list[int]] = []
    for f in fs:
        if runs and f == runs[-1][1] + 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _layer_from_parts(d: Mapping, arrays: Mapping[str, np.ndarray]) -> Layer:
    curves = {}
    for n, k in d["curves"].items():
        if isinstance(k, Mapping):
            if k["npz"] not in arrays:
                raise KeyError(f"layer {d['name']!r} curve {n}: key array {k['npz']} is missing")
            c = Curve.from_array(arrays[k["npz"]])
            if len(c) != k["count"]:
                raise ValueError(f"layer {d['name']!r} curve {n}: {len(c)} keys stored, {k['count']} expected")
            curves[n] = c
        else:
            curves[n] = Curve.from_list(k)
    return Layer(d["name"], d["mode"], float(d["weight"]), bool(d["muted"]), curves)


# ---------------------------------------------------------------------- presets on disk
def validate_preset(preset: Mapping) -> dict:
    """Check a micro-expression preset ({"enable_smooth": bool, "au_gain": {AU: gain 0..2}}); AU
    keys may be ints, digit strings (JSON) or "AU12" as the API takes them. Raises ValueError
    naming every problem."""
    problems: list[str] = []
    out: dict = {}
    if not isinstance(preset, Mapping):
        raise ValueError(f"a preset must be an object, got {type(preset).__name__}")
    for k in preset:
        if k not in ("enable_smooth", "au_gain"):
            problems.append(f"unknown preset field {k!r}")
    if "enable_smooth" in preset:
        if not isinstance(preset["enable_smooth"], bool):
            problems.append(f"enable_smooth: expected true or false, got {preset['enable_smooth']!r}")
        else:
            out["enable_smooth"] = preset["enable_smooth"]
    gains = preset.get("au_gain", {})
    if not isinstance(gains, Mapping):
        problems.append(f"au_gain: expected an object, got {type(gains).__name__}")
        gains = {}
    out_g: dict[int, float] = {}
    for k, g in gains.items():
        m = re.fullmatch(r"(?:au)?0*(\d+)", str(k).strip(), flags=re.IGNORECASE)
        if m is None or isinstance(k, bool):
            side = re.fullmatch(r"(?:au)?0*(\d+)[lr]", str(k).strip(), flags=re.IGNORECASE)
            problems.append(f"au_gain[{k!r}]: " + ("a preset gains both sides of an AU; one side's gain is set "
                                                   "with `facsimile project gain --au " + str(k).upper() + "`"
                                                   if side else "expected an AU number, e.g. 12 or \"AU12\""))
            continue
        au = int(m.group(1))
        if isinstance(g, bool) or not isinstance(g, int | float):
            problems.append(f"au_gain[{k!r}]: expected a number, got {g!r}")
        elif not GAIN_MIN <= float(g) <= GAIN_MAX:
            problems.append(f"au_gain[{k!r}]: gain {g} is outside {GAIN_MIN}..{GAIN_MAX}")
        else:
            out_g[au] = float(g)
    if "au_gain" in preset:
        out["au_gain"] = out_g
    if problems:
        raise ValueError("invalid preset: " + "; ".join(problems))
    return out


def load_preset(path: str | Path) -> dict:
    """Read a preset JSON file (ValueError with every problem if invalid)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read preset {path}: {exc}") from exc
    return validate_preset(data)


def save_preset(path: str | Path, preset: Mapping) -> None:
    """Write a preset atomically (AU numbers as JSON object keys)."""
    from core.util.atomic import atomic_write_text

    p = validate_preset(preset)
    data: dict = {}
    if "enable_smooth" in p:
        data["enable_smooth"] = p["enable_smooth"]
    if "au_gain" in p:
        data["au_gain"] = {str(k): v for k, v in sorted(p["au_gain"].items())}
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
