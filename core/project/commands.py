"""Undoable edits of curves and shots. Each command records exactly what it changes (the
key lists of the curves it touches, base arrays, gains, layers, shot fields) on its first
do(), and undo() puts those back, so undo/redo is exact.

Curve commands address a curve by (CurveSet, layer name, curve name); the layer and the curve
are created on first edit when missing (and removed again by undo).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from core.curves import (
    Clipboard,
    Curve,
    CurveSet,
    Interp,
    Key,
    Layer,
    TangentMode,
    butterworth,
    keys_from_samples,
    moved_keys,
    paste_keys,
    reduce_keys,
    smooth_keys,
)
from core.project.model import Project, Shot
from core.project.undo import Command, Macro

_MISSING = object()


# ---------------------------------------------------------------------- key edits
class CurveKeysCommand(Command):
    """Generic edit of the key lists of some curves of one layer. `compute(cs) -> {name: keys}`
    runs on the first do(); redo re-applies the recorded result."""

    def __init__(self, cs: CurveSet, layer: str, compute: Callable[[CurveSet], Mapping[str, Sequence[Key]]],
                 text: str = "Edit keys", merge_id: object | None = None, layer_mode: str = "additive") -> None:
        self.cs = cs
        self.layer = layer
        self.compute = compute
        self.text = text
        self.merge_id = merge_id
        self.layer_mode = layer_mode
        self.before: dict[str, tuple[Key, ...] | None] | None = None
        self.after: dict[str, tuple[Key, ...]] | None = None
        self.created_layer: Layer | None = None
        self.result: object = None

    def _layer(self, create: bool) -> Layer | None:
        try:
            return self.cs.layer(self.layer)
        except KeyError:
            if not create:
                return None
            if self.created_layer is None:
                self.created_layer = Layer(self.layer, self.layer_mode)
            self.cs.layers.append(self.created_layer)
            return self.created_layer

    def do(self) -> None:
        if self.after is None:
            lay = self._layer(create=False)
            snapshot_layers = list(self.cs.layers)
            try:
                new = {n: tuple(k) for n, k in self.compute(self.cs).items()}
            except Exception:
                self.cs.layers[:] = snapshot_layers
                raise
            for n in new:
                if n not in self.cs.base:
                    raise KeyError(f"no curve named {n!r}")
            self.before = {}
            for n in new:
                c = lay.curves.get(n) if lay is not None else None
                self.before[n] = None if c is None else c.keys
            self.after = new
        lay = self._layer(create=True)
        assert lay is not None
        for n, keys in self.after.items():
            lay.curve(n, create=True).set_keys(keys)  # type: ignore[union-attr]

    def undo(self) -> None:
        assert self.before is not None
        lay = self.cs.layer(self.layer)
        for n, keys in self.before.items():
            if keys is None:
                lay.curves.pop(n, None)
            else:
                lay.curve(n, create=True).set_keys(keys)  # type: ignore[union-attr]
        if self.created_layer is not None and lay is self.created_layer:
            self.cs.layers.remove(lay)

    def merge(self, other: Command) -> bool:
        if not isinstance(other, CurveKeysCommand) or other.cs is not self.cs or other.layer != self.layer:
            return False
        if other.created_layer is not None or self.before is None or other.before is None:
            return False
        assert self.after is not None and other.after is not None
        if isinstance(self.compute, _MoveCompute) and isinstance(other.compute, _MoveCompute) \
                and other.compute.sel == {n: sorted(f) for n, f in self.compute.new_selection.items()}:
            # one drag: re-apply the total offset to the keys as they were when it began, so
            # keys passed over on the way are not eaten
            total = _MoveCompute(self.layer, self.compute.sel, self.compute.dframe + other.compute.dframe,
                                 {n: self.compute.dvalue[n] + other.compute.dvalue.get(n, 0.0)
                                  for n in self.compute.sel})
            lay = self.cs.layer(self.layer)
            new = {n: tuple(k) for n, k in total.apply(self.before).items()}  # from the drag's start
            for n, keys in new.items():
                lay.curve(n, create=True).set_keys(keys)  # type: ignore[union-attr]
            self.compute, self.after = total, new
            other.compute.new_selection = total.new_selection
            return True
        for n, keys in other.before.items():
            if n not in self.before:
                self.before[n] = keys
        self.after.update(other.after)
        self.result = other.result
        return True


def _keys(cs: CurveSet, layer: str, name: str) -> list[Key]:
    try:
        c = cs.layer(layer).curves.get(name)
    except KeyError:
        return []
    return list(c.keys) if c is not None else []


def _curve(cs: CurveSet, layer: str, name: str) -> Curve:
    return Curve(_keys(cs, layer, name))


def AddKey(cs: CurveSet, layer: str, name: str, key: Key) -> CurveKeysCommand:  # noqa: N802
    """Insert a key (replacing one on the same frame)."""
    return CurveKeysCommand(cs, layer, lambda c: {name: [k for k in _keys(c, layer, name) if k.frame != key.frame]
                                                  + [key]}, f"Add key on {name} at {key.frame}")


def DeleteKeys(cs: CurveSet, layer: str, selection: Mapping[str, Iterable[int]]) -> CurveKeysCommand:  # noqa: N802
    sel = {n: {int(f) for f in fr} for n, fr in selection.items()}
    return CurveKeysCommand(cs, layer, lambda c: {n: [k for k in _keys(c, layer, n) if k.frame not in fr]
                                                  for n, fr in sel.items()}, "Delete keys")


class _MoveCompute:
    def __init__(self, layer: str, selection: Mapping[str, Iterable[int]], dframe: float,
                 dvalue: float | Mapping[str, float]) -> None:
        self.layer, self.dframe = layer, int(round(dframe))
        self.sel = {n: sorted({int(f) for f in fr}) for n, fr in selection.items()}
        if isinstance(dvalue, Mapping):
            self.dvalue = {n: float(dvalue.get(n, 0.0)) for n in self.sel}
        else:
            self.dvalue = dict.fromkeys(self.sel, float(dvalue))
        self.new_selection: dict[str, list[int]] = {}

    def __call__(self, cs: CurveSet) -> dict[str, list[Key]]:
        return self.apply({n: _keys(cs, self.layer, n) for n in self.sel})

    def apply(self, start: Mapping[str, Sequence[Key] | None]) -> dict[str, list[Key]]:
        """The moved key lists of the selected curves, starting from `start` {name: keys}."""
        out = {}
        for n, frames in self.sel.items():
            out[n], self.new_selection[n] = moved_keys(start.get(n) or (), frames, self.dframe, self.dvalue[n])
        return out


def MoveKeys(cs: CurveSet, layer: str, selection: Mapping[str, Iterable[int]], dframe: float,  # noqa: N802
             dvalue: float | Mapping[str, float] = 0.0, merge_id: object | None = None) -> CurveKeysCommand:
    """Move selected keys by whole frames (dframe is snapped) and by dvalue (one number, or
    {name: dvalue} when curves move by different amounts, e.g. divided by their gain). While
    dragging, push one MoveKeys per mouse move with the same merge_id, the selection as it
    is now and the delta from the previous move; the drag is one undo step, and the merged
    move is always re-applied from the drag's start (keys passed over are not eaten; a key is
    only replaced by one dropped on its frame). cmd.compute.new_selection: the moved frames."""
    comp = _MoveCompute(layer, selection, dframe, dvalue)
    return CurveKeysCommand(cs, layer, comp, "Move keys", merge_id=merge_id)


def SetKeyValue(cs: CurveSet, layer: str, name: str, frame: int, value: float,  # noqa: N802
                merge_id: object | None = None) -> CurveKeysCommand:
    def compute(c: CurveSet) -> dict:
        keys = _keys(c, layer, name)
        if not any(k.frame == frame for k in keys):
            raise KeyError(f"{name}: no key on frame {frame}")
        return {name: [k.replace(value=float(value)) if k.frame == frame else k for k in keys]}
    return CurveKeysCommand(cs, layer, compute, f"Set {name} key value", merge_id=merge_id)


def SetInterp(cs: CurveSet, layer: str, selection: Mapping[str, Iterable[int]], interp: Interp) -> CurveKeysCommand:  # noqa: N802
    sel = {n: {int(f) for f in fr} for n, fr in selection.items()}
    return CurveKeysCommand(cs, layer, lambda c: {n: [k.replace(interp=Interp(interp)) if k.frame in fr else k
                                                      for k in _keys(c, layer, n)] for n, fr in sel.items()},
                            f"Set interpolation to {Interp(interp).value}")


def SetTangents(cs: CurveSet, layer: str, name: str, frame: int, mode: TangentMode,  # noqa: N802
                in_tangent: tuple[float, float] | None = None, out_tangent: tuple[float, float] | None = None,
                merge_id: object | None = None) -> CurveKeysCommand:
    """Set a key's tangent mode and handles. FREE keeps in/out on one line (given the out
    handle, the in handle is mirrored to the same slope, keeping its length)."""
    mode = TangentMode(mode)

    def compute(c: CurveSet) -> dict:
        keys = _keys(c, layer, name)
        out = []
        found = False
        for i, k in enumerate(keys):
            if k.frame != frame:
                out.append(k)
                continue
            found = True
            it, ot = k.in_tangent, k.out_tangent
            if k.tangent_mode is TangentMode.AUTO:
                # an auto key's stored handles are placeholders: start from the handles it shows
                # (its resolved slope), so unifying or breaking them leaves the curve's shape as it was
                it, ot = Curve(keys).handles()[i]
            it = in_tangent if in_tangent is not None else it
            ot = out_tangent if out_tangent is not None else ot
            if mode is TangentMode.FREE:
                src = ot if out_tangent is not None or in_tangent is None else (-it[0], -it[1])
                slope = src[1] / src[0] if abs(src[0]) > 1e-9 else 0.0
                ln = abs(it[0]) if abs(it[0]) > 1e-9 else 1.0
                ot = (abs(src[0]) if abs(src[0]) > 1e-9 else 1.0, slope * (abs(src[0]) if abs(src[0]) > 1e-9 else 1.0))
                it = (-ln, -ln * slope)
            out.append(k.replace(tangent_mode=mode, in_tangent=it, out_tangent=ot))
        if not found:
            raise KeyError(f"{name}: no key on frame {frame}")
        return {name: out}
    return CurveKeysCommand(cs, layer, compute, "Set tangents", merge_id=merge_id)


def PasteKeys(cs: CurveSet, layer: str, clipboard: Clipboard, target_frame: int,  # noqa: N802
              name_map: Mapping[str, str] | None = None, replace_range: bool = False) -> CurveKeysCommand:
    """Paste copied keys at target_frame; name_map sends a source curve to another AU (e.g.
    {"AU12L": "AU12R"}); a single copied curve pastes onto the one target named in name_map."""
    nm = dict(name_map or {})
    return CurveKeysCommand(
        cs, layer, lambda c: {nm.get(n, n): paste_keys(_curve(c, layer, nm.get(n, n)), ks, target_frame, replace_range)
                              for n, ks in clipboard.curves.items()}, "Paste keys")


def SmoothKeys(cs: CurveSet, layer: str, selection: Mapping[str, Iterable[int]], strength: float = 0.5,  # noqa: N802
               iterations: int = 1) -> CurveKeysCommand:
    sel = {n: list(fr) for n, fr in selection.items()}
    return CurveKeysCommand(cs, layer, lambda c: {n: smooth_keys(_curve(c, layer, n), fr, strength, iterations)
                                                  for n, fr in sel.items()}, "Smooth keys")


def ReduceKeys(cs: CurveSet, layer: str, names: Iterable[str], tol: float) -> CurveKeysCommand:  # noqa: N802
    """Replace each curve's keys by the fewest keys within `tol` of its current evaluation over
    its key span."""
    names = list(names)

    def compute(c: CurveSet) -> dict:
        out = {}
        for n in names:
            cur = _curve(c, layer, n)
            if len(cur) < 3:
                out[n] = list(cur.keys)
                continue
            f = np.arange(int(cur.frames[0]), int(cur.frames[-1]) + 1)
            out[n] = reduce_keys(f, cur.evaluate(f), tol)
        return out
    return CurveKeysCommand(cs, layer, compute, f"Reduce keys (tolerance {tol:g})")


def ButterworthKeys(cs: CurveSet, layer: str, names: Iterable[str], cutoff_hz: float, fps: float,  # noqa: N802
                    order: int = 2, tol: float | None = None) -> CurveKeysCommand:
    """Low-pass a keyed curve: bake it over its key span, filter (filtfilt) and key it again
    (every frame, or reduced to `tol`)."""
    names = list(names)

    def compute(c: CurveSet) -> dict:
        out = {}
        for n in names:
            cur = _curve(c, layer, n)
            if len(cur) < 2:
                out[n] = list(cur.keys)
                continue
            f = np.arange(int(cur.frames[0]), int(cur.frames[-1]) + 1)
            v = butterworth(cur.evaluate(f), cutoff_hz, fps, order)
            out[n] = reduce_keys(f, v, tol) if tol else keys_from_samples(f, v)
        return out
    return CurveKeysCommand(cs, layer, compute, "Butterworth filter keys")


def bake_keys(cs: CurveSet, names: Iterable[str], tol: float | None = 0.01, frames: tuple[int, int] | None = None,
              progress: Callable[[int, int], None] | None = None) -> dict[str, list[Key]]:
    """The keys BakeToKeys puts on its layer: each curve's current result before gain and clamp
    over `frames` (default: the shot), one key per frame or reduced to `tol`. Reads `cs`, changes
    nothing, so a GUI computes it off its main thread; progress(done, total) after each curve
    (raising from it, as a cancelled job does, stops the bake)."""
    names = list(names)
    lo, hi = frames or cs.frame_range
    f = np.arange(lo, hi + 1)
    out = {}
    for i, n in enumerate(names):
        v = pre_gain(cs, n, f)
        out[n] = reduce_keys(f, v, tol) if tol else keys_from_samples(f, v)
        if progress is not None:
            progress(i + 1, len(names))
    return out


def BakeToKeys(cs: CurveSet, names: Iterable[str], layer: str = "Baked", tol: float | None = 0.01,  # noqa: N802
               frames: tuple[int, int] | None = None, keys: Mapping[str, list[Key]] | None = None) -> CurveKeysCommand:
    """Key the current result (before gain and clamp) of each curve on an override layer at
    weight 1, one key per frame or reduced to `tol`: the extracted performance becomes
    editable keys. The layer is created (override) if missing. keys: bake_keys' result, computed
    beforehand (off a GUI's main thread), instead of computing it when the command is done."""
    names = list(names)
    if keys is not None:
        done = {n: list(keys[n]) for n in names}
        return CurveKeysCommand(cs, layer, lambda c: done, "Bake to keys", layer_mode="override")
    return CurveKeysCommand(cs, layer, lambda c: bake_keys(c, names, tol, frames), "Bake to keys",
                            layer_mode="override")


def pre_gain(cs: CurveSet, name: str, frames: np.ndarray, layers: Sequence[Layer] | None = None,
             smooth: bool | None = None, swap: tuple[Layer, Curve] | None = None) -> np.ndarray:
    """Base + layers without gain and clamp, at plate `frames`. What-ifs without touching `cs`:
    `layers` in place of its layers (a bake: those up to the baked one), `smooth` False for the
    unsmoothed base, `swap` (layer, curve) for that layer's curve of `name` (a key being tried)."""
    if smooth is None or smooth == cs.enable_smooth:
        val = cs._base_at(name, frames).astype(np.float64)
    else:
        arr = cs.base[name] if not smooth else cs._smoothed_base(name)
        val = arr[np.clip(np.asarray(frames, np.int64) - cs.frame_range[0], 0, cs.n_frames - 1)].astype(np.float64)
    for lay in cs.layers if layers is None else layers:
        c = swap[1] if swap is not None and lay is swap[0] else lay.curves.get(name)
        if c is None or lay.muted or len(c) == 0:
            continue
        lv = c.evaluate(frames)
        val = val + lv if lay.mode == "additive" else (1 - lay.weight) * val + lay.weight * lv
    return val


# ---------------------------------------------------------------------- base, gain, layers
class SetBase(Command):
    """Replace base arrays (filters, bake, reset)."""

    def __init__(self, cs: CurveSet, new: Mapping[str, np.ndarray], text: str = "Edit base curve") -> None:
        self.cs, self.text = cs, text
        self.new = {n: np.asarray(v, dtype=np.float64).copy() for n, v in new.items()}
        self.old = {n: cs.base[n].copy() for n in new}

    def do(self) -> None:
        for n, v in self.new.items():
            self.cs.set_base(n, v)

    def undo(self) -> None:
        for n, v in self.old.items():
            self.cs.set_base(n, v)


def ButterworthFilter(cs: CurveSet, names: Iterable[str], cutoff_hz: float, fps: float,  # noqa: N802
                      order: int = 2, from_raw: bool = False) -> SetBase:
    """Low-pass the base curves (filtfilt); from_raw filters the unfiltered solve instead."""
    src = cs.base_raw if from_raw else cs.base
    return SetBase(cs, {n: butterworth(src.get(n, cs.base[n]), cutoff_hz, fps, order) for n in names},
                   f"Butterworth {cutoff_hz:g} Hz")


class SetGain(Command):
    def __init__(self, cs: CurveSet, name: str, gain: float, merge_id: object | None = None) -> None:
        self.cs, self.name, self.gain, self.merge_id = cs, name, float(gain), merge_id
        self.old = cs.gain(name)
        self.text = f"Set {name} gain"

    def do(self) -> None:
        self.cs.set_gain(self.name, self.gain)

    def undo(self) -> None:
        self.cs.set_gain(self.name, self.old)

    def merge(self, other: Command) -> bool:
        if isinstance(other, SetGain) and other.cs is self.cs and other.name == self.name:
            self.gain = other.gain
            return True
        return False


class GainKeysCommand(Command):
    """Edit the gain keys (animated gains) of some AU curves. `compute(cs) -> {name: keys}` runs
    on the first do() and every result is checked before anything changes; undo puts the
    recorded keys back (none: the static gain again), so undo/redo is exact."""

    def __init__(self, cs: CurveSet, compute: Callable[[CurveSet], Mapping[str, Sequence[Key]]],
                 text: str = "Edit gain keys", merge_id: object | None = None) -> None:
        self.cs, self.compute, self.text, self.merge_id = cs, compute, text, merge_id
        self.before: dict[str, tuple[Key, ...]] | None = None
        self.after: dict[str, tuple[Key, ...]] | None = None

    def do(self) -> None:
        if self.after is None:
            new = {n: tuple(self.cs.check_gain_keys(n, k)) for n, k in self.compute(self.cs).items()}
            self.before = {n: (self.cs.gain_keys[n].keys if n in self.cs.gain_keys else ()) for n in new}
            self.after = new
        for n, keys in self.after.items():
            self.cs.set_gain_keys(n, keys)

    def undo(self) -> None:
        assert self.before is not None
        for n, keys in self.before.items():
            self.cs.set_gain_keys(n, keys)

    def merge(self, other: Command) -> bool:
        if not isinstance(other, GainKeysCommand) or other.cs is not self.cs:
            return False
        assert self.before is not None and self.after is not None
        assert other.before is not None and other.after is not None
        for n, keys in other.before.items():
            self.before.setdefault(n, keys)
        self.after.update(other.after)
        return True


def _gain_names(names: str | Iterable[str]) -> list[str]:
    return [names] if isinstance(names, str) else list(names)


def SetGainKey(cs: CurveSet, names: str | Iterable[str], frame: int, value: float,  # noqa: N802
               interp: Interp = Interp.BEZIER, merge_id: object | None = None) -> GainKeysCommand:
    """Key the gain of one AU curve (or several: both sides) at `frame` (0..2). A key already on
    that frame keeps its interpolation and tangents and takes the new value."""
    ns = _gain_names(names)
    frame, value = int(frame), float(value)

    def compute(c: CurveSet) -> dict:
        out = {}
        for n in ns:
            keys = list(c.gain_keys[n].keys) if n in c.gain_keys else []
            old = next((k for k in keys if k.frame == frame), None)
            new = old.replace(value=value) if old is not None else Key(frame, value, Interp(interp))
            out[n] = [k for k in keys if k.frame != frame] + [new]
        return out
    label = ns[0] if len(ns) == 1 else ", ".join(ns)
    return GainKeysCommand(cs, compute, f"Set {label} gain key at {frame}", merge_id=merge_id)


def DeleteGainKeys(cs: CurveSet, names: str | Iterable[str],  # noqa: N802
                   frames: Iterable[int] | None = None) -> GainKeysCommand:
    """Delete the gain keys on `frames` (None: all of them: back to the static gain)."""
    ns = _gain_names(names)
    drop = None if frames is None else {int(f) for f in frames}

    def compute(c: CurveSet) -> dict:
        out = {}
        for n in ns:
            keys = list(c.gain_keys[n].keys) if n in c.gain_keys else []
            if n not in c.base:
                raise KeyError(f"no curve named {n!r}")
            out[n] = [] if drop is None else [k for k in keys if k.frame not in drop]
        return out
    return GainKeysCommand(cs, compute, "Delete gain keys")


def EditGain(cs: CurveSet, names: str | Iterable[str], value: float, frame: int | None = None,  # noqa: N802
             merge_id: object | None = None) -> Command:
    """What a gain slider does: when the AU's gain is animated (any of `names` has gain keys)
    key it at `frame` (edits the key there or adds one); otherwise set the static gain."""
    ns = _gain_names(names)
    if frame is not None and any(cs.has_gain_keys(n) for n in ns):
        return SetGainKey(cs, ns, int(frame), value, merge_id=merge_id)
    subs: list[Command] = [SetGain(cs, n, value) for n in ns]
    if len(subs) == 1:
        subs[0].merge_id = merge_id
        return subs[0]
    m = Macro(f"Set {', '.join(ns)} gain", subs)
    m.merge_id = merge_id
    return m


class AddLayer(Command):
    def __init__(self, cs: CurveSet, layer: Layer, index: int | None = None) -> None:
        if any(lay.name == layer.name for lay in cs.layers):
            raise ValueError(f"a layer named {layer.name!r} exists already")
        self.cs, self.layer, self.index = cs, layer, index
        self.text = f"Add layer {layer.name}"

    def do(self) -> None:
        self.cs.layers.insert(len(self.cs.layers) if self.index is None else self.index, self.layer)

    def undo(self) -> None:
        self.cs.layers.remove(self.layer)


class RemoveLayer(Command):
    def __init__(self, cs: CurveSet, name: str) -> None:
        self.cs, self.layer = cs, cs.layer(name)
        self.index = cs.layers.index(self.layer)
        self.text = f"Remove layer {name}"

    def do(self) -> None:
        self.cs.layers.remove(self.layer)

    def undo(self) -> None:
        self.cs.layers.insert(self.index, self.layer)


class SetLayerProps(Command):
    """Change a layer's weight, mode, muted flag or name (merges while a slider is dragged)."""

    def __init__(self, cs: CurveSet, layer_name: str, /, merge_id: object | None = None, **props: object) -> None:
        name = layer_name  # positional only, so `name=` is free for a rename
        bad = set(props) - {"weight", "mode", "muted", "name"}
        if bad:
            raise ValueError(f"unknown layer properties: {', '.join(sorted(bad))}")
        self.cs, self.layer, self.merge_id = cs, cs.layer(name), merge_id
        if "weight" in props and not 0.0 <= float(props["weight"]) <= 1.0:  # type: ignore[arg-type]
            raise ValueError(f"layer weight must be within 0..1, got {props['weight']}")
        if "mode" in props and props["mode"] not in ("additive", "override"):
            raise ValueError(f"layer mode must be 'additive' or 'override', got {props['mode']!r}")
        if "name" in props:
            if not isinstance(props["name"], str) or not props["name"].strip():
                raise ValueError(f"a layer name must be a non-empty string, got {props['name']!r}")
            if props["name"] != name and any(lay.name == props["name"] for lay in cs.layers):
                raise ValueError(f"a layer named {props['name']!r} exists already")
        self.new = dict(props)
        self.old = {k: getattr(self.layer, k) for k in props}
        self.text = f"Layer {name}: " + ", ".join(sorted(props))

    def do(self) -> None:
        for k, v in self.new.items():
            setattr(self.layer, k, float(v) if k == "weight" else v)  # type: ignore[arg-type]

    def undo(self) -> None:
        for k, v in self.old.items():
            setattr(self.layer, k, v)

    def merge(self, other: Command) -> bool:
        if isinstance(other, SetLayerProps) and other.layer is self.layer and set(other.new) == set(self.new):
            self.new = other.new
            return True
        return False


def SetLayerWeight(cs: CurveSet, name: str, weight: float, merge_id: object | None = None) -> SetLayerProps:  # noqa: N802
    return SetLayerProps(cs, name, merge_id=merge_id, weight=float(weight))


class BakeLayer(Command):
    """Merge the base and layers up to and including `name` into the base curves (no gain, no
    clamp) and remove those layers; the layers above keep working on the new base."""

    def __init__(self, cs: CurveSet, name: str) -> None:
        self.cs = cs
        idx = cs.layer_index(name)
        if cs.layers[idx].muted:
            raise ValueError(f"layer {name!r} is muted: unmute it to bake it (a muted layer adds nothing)")
        # muted layers below are not part of what is seen, so they are neither baked nor removed:
        # they stay, muted, for the artist to use or delete
        self.removed = [lay for lay in cs.layers[: idx + 1] if not lay.muted]
        names = sorted({n for lay in self.removed for n in lay.curves if n in cs.base})
        frames = cs.all_frames()
        # the unsmoothed base: base smoothing (a display/evaluation option) stays an option
        new = {n: pre_gain(cs, n, frames, layers=self.removed, smooth=False) for n in names}
        self.set_base = SetBase(cs, new, "Bake layer")
        self.before: list[Layer] = []  # the layers as they were when it was done (do)
        self.text = f"Bake layer {name}"

    def do(self) -> None:
        self.before = list(self.cs.layers)
        self.set_base.do()
        self.cs.layers[:] = [lay for lay in self.before if not any(lay is r for r in self.removed)]

    def undo(self) -> None:
        self.cs.layers[:] = self.before
        self.set_base.undo()


class ResetToExtracted(Command):
    """Back to the extraction for `names`: base = extracted, their layer curves removed, gain 1
    (static gain and gain keys)."""

    def __init__(self, cs: CurveSet, names: Iterable[str]) -> None:
        self.cs = cs
        self.names = list(names)
        self.old_base = {n: cs.base[n].copy() for n in self.names}
        self.old_gain = {n: cs.gains.get(n) for n in self.names}
        self.old_gain_keys = {n: cs.gain_keys[n].keys for n in self.names if n in cs.gain_keys}
        self.old_curves = [(lay, {n: lay.curves[n] for n in self.names if n in lay.curves}) for lay in cs.layers]
        self.text = "Reset to extracted"
        self.old_order: list[tuple[Layer, list[str]]] = []

    def do(self) -> None:
        self.old_order = [(lay, list(lay.curves)) for lay, _ in self.old_curves]
        for n in self.names:
            self.cs.set_base(n, self.cs.base_extracted[n])
            self.cs.gains.pop(n, None)
            if n in self.old_gain_keys:
                self.cs.set_gain_keys(n, ())
        for lay, curves in self.old_curves:
            for n in curves:
                lay.curves.pop(n, None)

    def undo(self) -> None:
        for n in self.names:
            self.cs.set_base(n, self.old_base[n])
            if self.old_gain[n] is None:
                self.cs.gains.pop(n, None)
            else:
                self.cs.gains[n] = self.old_gain[n]  # type: ignore[assignment]
            if n in self.old_gain_keys:
                self.cs.set_gain_keys(n, self.old_gain_keys[n])
        for (lay, curves), (_, order) in zip(self.old_curves, self.old_order, strict=True):
            # in their old order: the saved project (and its .npz key arrays) is the same as before
            merged = {**lay.curves, **curves}
            lay.curves.clear()
            lay.curves.update({n: merged[n] for n in order if n in merged})
            lay.curves.update(merged)


class ApplyPreset(Command):
    """Apply a micro-expression preset (gains, smoothing) as one undo step."""

    def __init__(self, cs: CurveSet, preset: Mapping) -> None:
        self.cs, self.preset = cs, dict(preset)
        self.old = (dict(cs.gains), cs.enable_smooth)
        self.text = "Apply preset"

    def do(self) -> None:
        self.cs.apply_preset(self.preset)

    def undo(self) -> None:
        self.cs.gains.clear()
        self.cs.gains.update(self.old[0])
        self.cs.enable_smooth = self.old[1]


# ---------------------------------------------------------------------- shots
class SetShotFields(Command):
    """Change shot fields (name, frame_in, frame_out, handles, identity, render_settings,
    timecode). Keys stay on their plate frames whatever the range."""

    _ALLOWED = {"name", "frame_in", "frame_out", "handles", "identity", "render_settings", "timecode"}

    def __init__(self, project: Project, shot_id: str, merge_id: object | None = None, **fields: object) -> None:
        bad = set(fields) - self._ALLOWED
        if bad:
            raise ValueError(f"unknown shot fields: {', '.join(sorted(bad))}")
        self.shot = project.shot(shot_id)
        fi = int(fields.get("frame_in", self.shot.frame_in))  # type: ignore[arg-type]
        fo = int(fields.get("frame_out", self.shot.frame_out))  # type: ignore[arg-type]
        if fo < fi:
            raise ValueError(f"shot {self.shot.name}: frame_out {fo} is before frame_in {fi}")
        if int(fields.get("handles", self.shot.handles)) < 0:  # type: ignore[arg-type]
            raise ValueError("handles must be >= 0")
        self.merge_id = merge_id
        self.new = {k: (dict(v) if isinstance(v, dict) else v) for k, v in fields.items()}
        self.old = {k: getattr(self.shot, k) for k in fields}
        self.text = f"Shot {self.shot.name}: " + ", ".join(sorted(fields))

    def do(self) -> None:
        for k, v in self.new.items():
            setattr(self.shot, k, dict(v) if isinstance(v, dict) else v)

    def undo(self) -> None:
        for k, v in self.old.items():
            setattr(self.shot, k, v)

    def merge(self, other: Command) -> bool:
        if isinstance(other, SetShotFields) and other.shot is self.shot and set(other.new) == set(self.new):
            self.new = other.new
            return True
        return False


def SetShotRange(project: Project, shot_id: str, frame_in: int, frame_out: int,  # noqa: N802
                 handles: int | None = None, merge_id: object | None = None) -> SetShotFields:
    fields: dict = {"frame_in": int(frame_in), "frame_out": int(frame_out)}
    if handles is not None:
        fields["handles"] = int(handles)
    return SetShotFields(project, shot_id, merge_id=merge_id, **fields)


class AddShot(Command):
    def __init__(self, project: Project, shot: Shot, index: int | None = None) -> None:
        self.project, self.shot, self.index = project, shot, index
        self.text = f"Add shot {shot.name}"

    def do(self) -> None:
        self.project.add_shot(self.shot, self.index)

    def undo(self) -> None:
        self.project.shots.remove(self.shot)


class RemoveShot(Command):
    def __init__(self, project: Project, shot_id: str) -> None:
        self.project, self.shot = project, project.shot(shot_id)
        self.index = project.shots.index(self.shot)
        self.text = f"Remove shot {self.shot.name}"

    def do(self) -> None:
        self.project.shots.remove(self.shot)

    def undo(self) -> None:
        self.project.shots.insert(self.index, self.shot)


class SetCurveSet(Command):
    """Attach (or replace, or with None remove) the CurveSet of a shot's track."""

    def __init__(self, shot: Shot, track: int, cs: CurveSet | None) -> None:
        self.shot, self.track, self.new = shot, int(track), cs
        self.old = shot.curves.get(self.track, _MISSING)
        self.text = "Set curves"

    def do(self) -> None:
        if self.new is None:
            self.shot.curves.pop(self.track, None)
        else:
            self.shot.curves[self.track] = self.new

    def undo(self) -> None:
        if self.old is _MISSING:
            self.shot.curves.pop(self.track, None)
        else:
            self.shot.curves[self.track] = self.old  # type: ignore[assignment]


__all__ = [
    "AddKey", "AddLayer", "AddShot", "ApplyPreset", "BakeLayer", "BakeToKeys", "ButterworthFilter",
    "ButterworthKeys", "Command", "CurveKeysCommand", "DeleteGainKeys", "DeleteKeys", "EditGain",
    "GainKeysCommand", "Macro", "MoveKeys", "PasteKeys",
    "ReduceKeys", "RemoveLayer", "RemoveShot", "ResetToExtracted", "SetBase", "SetCurveSet", "SetGain", "SetGainKey",
    "SetInterp", "SetKeyValue", "SetLayerProps", "SetLayerWeight", "SetShotFields", "SetShotRange",
    "SetTangents", "SmoothKeys",
]
