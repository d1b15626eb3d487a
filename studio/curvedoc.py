"""CurveDoc: the curve editor's window on one core CurveSet, and the only place where editor
gestures become core undo commands (core.project.commands on core.project.undo.UndoStack).

Keys live in the active edit layer (default "Edit", additive, created by the first key);
the editor draws them on the final (evaluated) curve so that what you drag is what renders.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.curves import (
    Clipboard,
    CurveSet,
    Interp,
    Key,
    TangentMode,
    au_number,
    clipboard_for,
    copy_keys,
    is_au,
    paste_plan,
)
from core.project import commands as cmd
from core.project.undo import Macro, UndoStack

log = logging.getLogger(__name__)

DEFAULT_LAYER = "Edit"


class CurveDoc(QObject):
    """Editor-facing API over (CurveSet, edit layer, UndoStack). `changed(names)` after any
    change (an empty list means "maybe everything", e.g. after undo)."""

    changed = Signal(list)
    #: copied keys, one for the whole studio (as Maya's key clipboard): a doc is replaced when the
    #: shot, the face or the extraction changes, and copied keys must paste onto the next one
    _clipboard: Clipboard | None = None

    @property
    def clipboard(self) -> Clipboard | None:
        return CurveDoc._clipboard

    @clipboard.setter
    def clipboard(self, value: Clipboard | None) -> None:
        CurveDoc._clipboard = value

    def __init__(self, cs: CurveSet, undo: UndoStack, layer: str = DEFAULT_LAYER, parent: QObject | None = None,
                 fps: float = 24.0) -> None:
        super().__init__(parent)
        self.cs = cs
        self.undo = undo
        self.layer = layer
        self.fps = float(fps)  # the plate's rate, for filters given in Hz
        self._own_push = False
        self._drag_id: object | None = None
        self._drag_seq = 0
        self.labels: dict[str, str] = {}
        undo.add_listener(self._stack_changed)

    def detach(self) -> None:
        """Stop listening to the undo stack (the shot or track was switched)."""
        try:
            self.undo.remove_listener(self._stack_changed)
        except ValueError:
            pass

    # ------------------------------------------------------------------ reading
    def names(self) -> list[str]:
        return list(self.cs.names)

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def frame_range(self) -> tuple[int, int]:
        return self.cs.frame_range

    def base_values(self, name: str, frames: np.ndarray) -> np.ndarray | None:
        """The extracted curve (before layers and gain) at `frames`."""
        base = self.cs.base_extracted.get(name)
        if base is None:
            return None
        idx = np.clip(np.asarray(frames, np.int64) - self.cs.frame_range[0], 0, self.cs.n_frames - 1)
        return base[idx]

    def result_values(self, name: str, frames: np.ndarray) -> np.ndarray:
        """The final curve (base + layers, gain, clamp) at `frames`, evaluated by core."""
        return self.cs.evaluate(name, np.asarray(frames, np.int64))

    def result_curve(self, name: str, frames: np.ndarray | None = None) -> np.ndarray:
        """The final curve at `frames` (default: every frame of the range), as result_values but
        read from core's whole-range evaluation (cached per curve and recomputed only when one of
        its inputs changed), so redrawing an unchanged curve costs no evaluation."""
        if frames is None:
            return self.cs.evaluate(name)
        idx = np.asarray(frames, np.int64) - self.cs.frame_range[0]
        if idx.size and (idx.min() < 0 or idx.max() >= self.cs.n_frames):
            return self.result_values(name, frames)  # keys outside the analysed range
        return self.cs.evaluate(name)[idx]

    def _layer_curve(self, name: str):
        try:
            return self.cs.layer(self.layer).curves.get(name)
        except KeyError:
            return None

    def key_frames(self, name: str) -> np.ndarray:
        c = self._layer_curve(name)
        return c.frames if c is not None else np.zeros(0, np.int64)

    def key_values(self, name: str) -> np.ndarray:
        """The values of the active layer's keys of `name`, in frame order (as key_frames)."""
        c = self._layer_curve(name)
        return np.array([k.value for k in c.keys], float) if c is not None else np.zeros(0)

    def has_key(self, name: str, frame: int) -> bool:
        c = self._layer_curve(name)
        return c is not None and c.key_index(frame) is not None

    def all_key_frames(self) -> np.ndarray:
        try:
            lay = self.cs.layer(self.layer)
        except KeyError:
            return np.zeros(0, np.int64)
        fs = [c.frames for c in lay.curves.values() if len(c)]
        return np.unique(np.concatenate(fs)) if fs else np.zeros(0, np.int64)

    def key(self, name: str, frame: int) -> Key | None:
        c = self._layer_curve(name)
        return None if c is None else c.key_at(frame)

    def handles(self, name: str, frames: Iterable[int]) -> list[tuple[int, tuple, bool]]:
        """[(frame, (in_offset, out_offset), is_bezier)] for keys on `frames` (display offsets)."""
        c = self._layer_curve(name)
        if c is None or len(c) == 0:
            return []
        hs = c.handles()
        keys = c.keys
        out = []
        for f in frames:
            i = c.key_index(int(f))
            if i is None:
                continue
            g = self._value_scale(name, int(f))
            bez = keys[i].interp is Interp.BEZIER or (i > 0 and keys[i - 1].interp is Interp.BEZIER)
            (ix, iy), (ox, oy) = hs[i]
            out.append((int(f), ((ix, iy * g), (ox, oy * g)), bez))
        return out

    def value_bounds(self, name: str) -> tuple[float, float]:
        vals = [self.cs.evaluate(name)]
        b = self.cs.base_extracted.get(name)
        if b is not None:
            vals.append(b)
        v = np.concatenate(vals)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return (0.0, 1.0)
        return (float(v.min()), float(v.max()))

    def warnings(self) -> list[str]:
        return self.cs.warnings()

    # ------------------------------------------------------------------ pushing
    def _push(self, command, names: Iterable[str] | None) -> object:
        self._own_push = True
        try:
            out = self.undo.push(command)
        finally:
            self._own_push = False
        self.changed.emit(sorted(names) if names is not None else [])
        return out

    def _stack_changed(self, _stack) -> None:
        if self.layer != DEFAULT_LAYER and self.layer not in [lay.name for lay in self.cs.layers]:
            # an undo took the active layer away (a bake to keys, a new layer): keys set next go
            # on the default layer, not on a new additive layer of the old name
            self.layer = DEFAULT_LAYER
        if not self._own_push:
            self.changed.emit([])

    def _value_scale(self, name: str, frame: int | None = None) -> float:
        """Screen value change per layer value change (the AU gain at `frame`: keyed gains vary over
        time), so a dragged key follows the mouse."""
        if not is_au(name):
            return 1.0
        if frame is not None and self.cs.has_gain_keys(name):
            g = float(self.cs.gain_at(name, np.array([int(frame)]))[0])
        else:
            g = self.cs.gain(name)
        return g if g > 1e-6 else 1.0

    # ------------------------------------------------------------------ editing
    def add_keys(self, names: Iterable[str], frame: int) -> None:
        """Key the chosen curves at `frame` without changing their value there."""
        subs = []
        names = list(names)
        for n in names:
            c = self._layer_curve(n)
            v = float(c.evaluate(np.array([frame]))[0]) if c is not None and len(c) else 0.0
            subs.append(cmd.AddKey(self.cs, self.layer, n, Key(int(frame), v)))
        if subs:
            self._push(subs[0] if len(subs) == 1 else Macro(f"Set key at {frame}", subs), names)

    def delete_keys(self, selection: Mapping[str, Iterable[int]]) -> None:
        self._push(cmd.DeleteKeys(self.cs, self.layer, selection), selection.keys())

    def begin_drag(self) -> None:
        """Start a gesture: the following moves merge into one undo step."""
        self._drag_seq += 1
        self._drag_id = ("drag", id(self), self._drag_seq)

    def end_drag(self) -> None:
        self.undo.end_merge()
        self._drag_id = None

    def move_keys(self, selection: Mapping[str, Iterable[int]], dframe: int, dvalue: float) -> dict[str, set[int]]:
        """Move the selected keys by whole frames and by `dvalue` on screen; returns the new selection."""
        sel = {n: sorted(int(f) for f in fr) for n, fr in selection.items() if fr}
        if not sel:
            return {}
        # one command for every curve (dvalue turned per curve into a layer value change by core:
        # the gain, layer weights and the 0..5 clamp of what is drawn) so that the whole drag
        # merges into a single undo step
        dv = {n: self.cs.drag_delta(n, self.layer, sel[n], float(dvalue)) for n in sel}
        c = cmd.MoveKeys(self.cs, self.layer, sel, dframe, dv, merge_id=self._drag_id)
        self._push(c, sel.keys())
        return {n: set(fr) for n, fr in c.compute.new_selection.items()}

    def set_interp(self, selection: Mapping[str, Iterable[int]], interp: str) -> None:
        self._push(cmd.SetInterp(self.cs, self.layer, selection, Interp(interp)), selection.keys())

    def set_tangent_mode(self, selection: Mapping[str, Iterable[int]], mode: str) -> None:
        m = TangentMode(mode)
        subs = [cmd.SetTangents(self.cs, self.layer, n, int(f), m) for n, fr in selection.items() for f in fr]
        if subs:
            self._push(Macro(f"Tangents {m.value}", subs), selection.keys())

    def set_tangent(self, name: str, frame: int, side: str, offset: tuple[float, float]) -> None:
        """Drag a handle: FREE (mirrored) unless the key is BROKEN."""
        k = self.key(name, frame)
        if k is None:
            return
        g = self._value_scale(name, frame)
        off = (float(offset[0]), float(offset[1]) / g)
        mode = TangentMode.BROKEN if k.tangent_mode is TangentMode.BROKEN else TangentMode.FREE
        kw = {"in_tangent": off} if side == "in" else {"out_tangent": off}
        if k.interp is not Interp.BEZIER and side == "out":
            pass
        self._push(cmd.SetTangents(self.cs, self.layer, name, frame, mode, merge_id=(self._drag_id, "tan"), **kw),
                   [name])

    def copy(self, selection: Mapping[str, Iterable[int]]) -> None:
        try:
            lay = self.cs.layer(self.layer)
        except KeyError:
            return
        self.clipboard = copy_keys(dict(lay.curves), {n: list(f) for n, f in selection.items()})

    def paste(self, frame: int, targets: list[str]) -> tuple[dict[str, set[int]], list[str]]:
        """Paste the clipboard at `frame` onto the chosen `targets` (core.curves.paste_plan: one
        copied curve onto every target, N onto N in order, else onto the copied names); keys
        that would land outside the shot are left out. Returns (the pasted keys {curve: frames},
        notes for the animator: a paste that is not what was chosen, keys left out)."""
        if self.clipboard is None or self.clipboard.is_empty():
            return {}, []
        plan, note = paste_plan(self.clipboard.names, [t for t in targets if t in self.cs.names])
        first, last = self.frame_range()
        clip, dropped = clipboard_for(self.clipboard, plan, int(frame), first, last)
        notes = [note] if note else []
        if dropped:
            notes.append(f"{dropped} pasted key{'s' if dropped != 1 else ''} past the shot's frames "
                         f"{first}-{last} left out")
        if clip.is_empty():
            return {}, notes
        self._push(cmd.PasteKeys(self.cs, self.layer, clip, frame), clip.names)
        # clipboard frames are relative to the first copied key
        return {n: {int(k.frame) + int(frame) for k in ks} for n, ks in clip.curves.items()}, notes

    # ------------------------------------------------------------------ curve tools and layers
    def layer_names(self) -> list[str]:
        """The shot's edit layers, bottom first, with the active one even before its first key."""
        names = [lay.name for lay in self.cs.layers]
        return names if self.layer in names else names + [self.layer]

    def layer_info(self, name: str) -> tuple[str, float, bool] | None:
        """(mode, weight, muted) of a layer, None while it does not exist yet."""
        try:
            lay = self.cs.layer(name)
        except KeyError:
            return None
        return lay.mode, lay.weight, lay.muted

    def set_layer(self, name: str) -> None:
        """Key on another layer (created, additive, by its first key)."""
        if name != self.layer:
            self.layer = name
            self.changed.emit([])

    def new_layer(self, mode: str = "additive") -> str:
        """Add an empty layer on top and make it the active one; returns its name."""
        from core.curves import Layer

        name = self.cs.unique_layer_name("Override" if mode == "override" else "Layer")
        self.layer = name
        self._push(cmd.AddLayer(self.cs, Layer(name, mode)), None)
        return name

    def set_layer_muted(self, muted: bool) -> None:
        if self.layer_info(self.layer) is not None:
            self._push(cmd.SetLayerProps(self.cs, self.layer, muted=bool(muted)), None)

    def set_layer_weight(self, weight: float) -> None:
        if self.layer_info(self.layer) is not None:
            self._push(cmd.SetLayerWeight(self.cs, self.layer, weight, merge_id=("weight", id(self))), None)

    def remove_layer(self) -> None:
        """Delete the active layer (undoable); the next one down becomes active."""
        if self.layer_info(self.layer) is None:
            return
        names = [lay.name for lay in self.cs.layers]
        i = names.index(self.layer)
        self._push(cmd.RemoveLayer(self.cs, self.layer), None)
        rest = [lay.name for lay in self.cs.layers]
        self.layer = rest[max(0, i - 1)] if rest else DEFAULT_LAYER
        self.changed.emit([])

    def bake_layer(self) -> None:
        """Merge the base and the layers up to the active one into the base (muted ones stay)."""
        if self.layer_info(self.layer) is None:
            return
        self._push(cmd.BakeLayer(self.cs, self.layer), None)
        rest = [lay.name for lay in self.cs.layers]
        self.layer = rest[0] if rest else DEFAULT_LAYER
        self.changed.emit([])

    def smooth_keys(self, selection: Mapping[str, Iterable[int]], strength: float = 0.5) -> None:
        sel = {n: list(fr) for n, fr in selection.items() if fr}
        if sel:
            self._push(cmd.SmoothKeys(self.cs, self.layer, sel, strength), sel.keys())

    def reduce_keys(self, names: Iterable[str], tol: float) -> None:
        names = [n for n in names if self._layer_curve(n) is not None]
        if names:
            self._push(cmd.ReduceKeys(self.cs, self.layer, names, float(tol)), names)

    def filter_base(self, names: Iterable[str], cutoff_hz: float) -> None:
        """Butterworth low-pass of the extracted curves (kept through a filter or neutral change)."""
        names = list(names)
        if names:
            self._push(cmd.ButterworthFilter(self.cs, names, float(cutoff_hz), self.fps), names)

    def bake_to_keys(self, names: Iterable[str], tol: float = 0.01) -> str:
        """The curves as they read now (before gain) as keys on the override layer 'Baked', which
        becomes the active layer: the performance itself can then be edited key by key."""
        names = list(names)
        if names:
            self.layer = "Baked"
            self._push(cmd.BakeToKeys(self.cs, names, layer="Baked", tol=float(tol)), names)
        return self.layer

    def reset_to_extracted(self, names: Iterable[str]) -> None:
        """The extraction again for these curves: their keys on every layer, gains and base edits go."""
        names = list(names)
        if names:
            self._push(cmd.ResetToExtracted(self.cs, names), names)

    # ------------------------------------------------------------------ gains
    def names_for_au(self, au: int) -> list[str]:
        return [n for n in self.cs.names if au_number(n) == au]

    def gain_of_au(self, au: int) -> float:
        names = self.names_for_au(au)
        return self.cs.gain(names[0]) if names else 1.0

    def set_au_gain(self, au: int, gain: float) -> None:
        """Gain of an AU (both sides when it has L/R curves), one undo step per slider gesture."""
        names = self.names_for_au(au)
        subs = [cmd.SetGain(self.cs, n, gain) for n in names if abs(self.cs.gain(n) - gain) > 1e-9]
        if subs:
            self._push(subs[0] if len(subs) == 1 else Macro(f"Set AU{au} gain", subs), names)
