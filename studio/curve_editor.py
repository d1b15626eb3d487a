"""The curve editor: AU lanes (brows / eyes / mouth / head) or one overlaid graph, in pyqtgraph.

It shows, for every visible curve, the extracted base (dashed) and the edited result
(solid), the keys of the active edit layer sitting on the result, and Bezier handles of the
selected keys. Every edit goes through the `CurveDoc` (studio.session), which turns it into
a core undo command; the editor only draws and interprets the mouse and keyboard.

Mouse (as in Maya's Graph Editor / Nuke's Curve Editor): click a key to select (Shift adds,
Ctrl toggles), drag keys (frames snap to whole frames), drag on empty space for a box
selection, drag a handle to set a tangent, Alt+drag or middle-drag to pan, wheel or
right-drag to zoom, drag the orange time cursor to scrub. Keys: S or K set key, Delete,
F frame selection, A frame all, Ctrl+C / Ctrl+V, right-click for interpolation.

Only the visible frame range is evaluated (at most ~2 samples per screen pixel), and
PlotDataItems use clipToView + autoDownsample, so 40 curves x 10,000 frames stay smooth.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsRectItem,
    QHBoxLayout,
    QMenu,
    QSplitter,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.theme import GROUP_COLOURS

log = logging.getLogger(__name__)

GROUPS = ("brows", "eyes", "mouth", "head")
_AU_RE = re.compile(r"^AU(\d+)([LR]?)$")
_GROUP_OF_AU = {1: "brows", 2: "brows", 4: "brows", 5: "eyes", 6: "eyes", 7: "eyes", 43: "eyes", 45: "eyes",
                46: "eyes", 9: "mouth", 10: "mouth", 12: "mouth", 13: "mouth", 14: "mouth", 15: "mouth",
                16: "mouth", 17: "mouth", 18: "mouth", 20: "mouth", 22: "mouth", 23: "mouth", 24: "mouth",
                25: "mouth", 26: "mouth", 27: "mouth", 28: "mouth"}
HIT_PX = 7.0


def curve_group(name: str) -> str:
    """Which lane a curve belongs to: AU by its muscle region, gaze with the eyes, pose with the head."""
    m = _AU_RE.match(name)
    if m:
        return _GROUP_OF_AU.get(int(m.group(1)), "mouth")
    low = name.lower()
    if "gaze" in low:
        return "eyes"
    return "head"


Selection = dict[str, set[int]]


class _LaneBox(pg.ViewBox):
    """ViewBox whose left button edits (select, drag keys/handles, box select) instead of panning."""

    def __init__(self, editor: CurveEditor, lane: str) -> None:
        super().__init__(enableMenu=False)
        self.editor = editor
        self.lane = lane
        self._drag: tuple | None = None
        self.rubber = QGraphicsRectItem(0, 0, 1, 1)
        self.rubber.setPen(QPen(QColor(232, 145, 45), 0, Qt.DashLine))
        self.rubber.setBrush(QColor(232, 145, 45, 35))
        self.rubber.setZValue(1e9)
        self.rubber.hide()
        self.addItem(self.rubber, ignoreBounds=True)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph naming
        if ev.button() == Qt.LeftButton:
            ev.accept()
            self.editor._click(self, self.mapSceneToView(ev.scenePos()), ev.modifiers())
        elif ev.button() == Qt.RightButton:
            ev.accept()
            self.editor._context_menu(ev.screenPos())
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - pyqtgraph naming
        if ev.button() != Qt.LeftButton or ev.modifiers() & Qt.AltModifier:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        p = self.mapSceneToView(ev.scenePos())
        if ev.isStart():
            p0 = self.mapSceneToView(ev.buttonDownScenePos())
            self._drag = self.editor._drag_start(self, p0, ev.modifiers())
        if self._drag is None:
            return
        self.editor._drag_move(self, self._drag, p)
        if ev.isFinish():
            self.editor._drag_end(self, self._drag, p, ev.modifiers())
            self._drag = None


class _Keys(pg.ScatterPlotItem):
    """Key markers: clicks fall through to the lane (which selects), not pyqtgraph's point picking."""

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph naming
        ev.ignore()


class _Cursor(pg.InfiniteLine):
    """The time cursor: draggable anywhere except over a key or handle, which the lane drags instead
    (a key set with S sits on the cursor and must still be draggable)."""

    def __init__(self, editor: CurveEditor, lane_name: str, **kw) -> None:
        super().__init__(**kw)
        self.editor = editor
        self.lane_name = lane_name

    def _over_key(self, scene_pos) -> bool:
        lane = self.editor.lanes.get(self.lane_name)
        if lane is None:
            return False
        p = lane.box.mapSceneToView(scene_pos)
        return self.editor._hit_handle(lane, p) is not None or self.editor._hit_key(lane, p) is not None

    def hoverEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph naming
        if not ev.isExit() and self._over_key(ev.scenePos()):
            self.setMouseHover(False)
            return
        super().hoverEvent(ev)

    def mouseDragEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph naming
        if ev.isStart() and self._over_key(ev.buttonDownScenePos()):
            ev.ignore()
            return
        super().mouseDragEvent(ev)


class _Lane:
    """One plot (a group lane, or the single overlay plot) and its per-curve items."""

    def __init__(self, editor: CurveEditor, name: str) -> None:
        self.name = name
        self.box = _LaneBox(editor, name)
        self.plot = pg.PlotItem(viewBox=self.box)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("left", name)
        self.plot.hideButtons()
        self.cursor = _Cursor(editor, name, angle=90, movable=True, pen=pg.mkPen((232, 145, 45), width=2),
                                      hoverPen=pg.mkPen((255, 190, 90), width=3))
        self.cursor.setZValue(100)
        self.plot.addItem(self.cursor, ignoreBounds=True)
        self.handles = pg.PlotCurveItem(pen=pg.mkPen((220, 220, 220, 180), width=1), connect="pairs")
        self.handle_pts = pg.ScatterPlotItem(size=7, symbol="s", pen=pg.mkPen("#dddddd"), brush=pg.mkBrush("#444"))
        self.handles.setZValue(60)
        self.handle_pts.setZValue(61)
        self.plot.addItem(self.handles, ignoreBounds=True)
        self.plot.addItem(self.handle_pts, ignoreBounds=True)
        self.items: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem, pg.ScatterPlotItem]] = {}
        self.handle_index: list[tuple[str, int, str]] = []  # (curve, frame, "in"|"out") per handle point


class CurveEditor(QWidget):
    """Graph editor over a CurveDoc. Signals: frameScrubbed(frame) when the user moves the cursor."""

    frameScrubbed = Signal(int)
    selectionChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = None
        self.selection: Selection = {}
        self.frame = 0
        self.mode = "lanes"
        self.visible: dict[str, bool] = {}
        self.colours: dict[str, str] = {}
        self.lanes: dict[str, _Lane] = {}
        self.last_redraw_ms = 0.0
        self._refresh_pending = False
        self._moving = False

        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setMinimumWidth(150)
        self.tree.setMaximumWidth(260)
        self.tree.itemChanged.connect(self._tree_changed)
        self.tree.itemSelectionChanged.connect(self._tree_selected)
        self.tree.setSelectionMode(QTreeWidget.ExtendedSelection)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.ci.setSpacing(0)
        self.glw.setFocusPolicy(Qt.StrongFocus)

        def btn(text: str, tip: str, slot, checkable: bool = False) -> QToolButton:
            b = QToolButton(text=text)
            b.setToolTip(tip)
            b.setCheckable(checkable)
            b.clicked.connect(slot)
            return b

        self.btn_lanes = btn("Lanes", "One lane per group: brows, eyes, mouth, head", lambda: self.set_mode("lanes"), True)
        self.btn_overlay = btn("Overlay", "All visible curves in one graph", lambda: self.set_mode("overlay"), True)
        self.btn_lanes.setChecked(True)
        tools = QHBoxLayout()
        tools.setContentsMargins(2, 2, 2, 2)
        for b in (self.btn_lanes, self.btn_overlay,
                  btn("Key", "Set key at the cursor on the chosen curves (S / K)", self.set_key_at_cursor),
                  btn("Constant", "Constant interpolation for the selected keys", lambda: self.set_interp("constant")),
                  btn("Linear", "Linear interpolation for the selected keys", lambda: self.set_interp("linear")),
                  btn("Bezier", "Bezier (auto tangents) for the selected keys", lambda: self.set_interp("bezier")),
                  btn("Frame sel", "Frame the selected keys (F)", self.frame_selection),
                  btn("Frame all", "Frame all visible curves (A)", self.frame_all)):
            tools.addWidget(b)
        tools.addStretch(1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(0)
        rl.addLayout(tools)
        rl.addWidget(self.glw, 1)
        split = QSplitter()
        split.addWidget(self.tree)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.refresh)
        self._build_actions()

    # ------------------------------------------------------------------ setup
    def _build_actions(self) -> None:
        def act(text: str, keys: Iterable[str], slot) -> None:
            a = QAction(text, self)
            a.setShortcuts([QKeySequence(k) for k in keys])
            a.setShortcutContext(Qt.WidgetWithChildrenShortcut)
            a.triggered.connect(slot)
            self.addAction(a)

        act("Set key", ["S"], self.set_key_at_cursor)  # K: the window routes it here when the editor has focus
        act("Delete keys", ["Delete", "Backspace"], self.delete_selected)
        act("Frame selection", ["F"], self.frame_selection)
        act("Frame all", ["A"], self.frame_all)
        act("Copy keys", [QKeySequence.Copy], self.copy)
        act("Paste keys", [QKeySequence.Paste], self.paste)

    def set_doc(self, doc) -> None:
        """Show the curves of a CurveDoc (None clears the editor)."""
        if self.doc is not None:
            try:
                self.doc.changed.disconnect(self._doc_changed)
            except (RuntimeError, TypeError):
                pass
        self.doc = doc
        self.selection = {}
        self.visible = {}
        self.colours = {}
        self.tree.blockSignals(True)
        self.tree.clear()
        if doc is not None:
            doc.changed.connect(self._doc_changed)
            groups: dict[str, QTreeWidgetItem] = {}
            counts: dict[str, int] = {}
            for name in doc.names():
                g = curve_group(name)
                if g not in groups:
                    groups[g] = QTreeWidgetItem(self.tree, [g.capitalize()])
                    groups[g].setFlags(groups[g].flags() | Qt.ItemIsUserCheckable | Qt.ItemIsAutoTristate)
                    groups[g].setExpanded(True)
                pal = GROUP_COLOURS.get(g, GROUP_COLOURS["other"])
                self.colours[name] = pal[counts.get(g, 0) % len(pal)]
                counts[g] = counts.get(g, 0) + 1
                it = QTreeWidgetItem(groups[g], [doc.label(name)])
                it.setData(0, Qt.UserRole, name)
                it.setFlags(it.flags() | Qt.ItemIsUserCheckable)
                it.setCheckState(0, Qt.Checked)
                it.setForeground(0, QColor(self.colours[name]))
                self.visible[name] = True
        self.tree.blockSignals(False)
        self._rebuild()
        self.frame_all()

    def set_mode(self, mode: str) -> None:
        """'lanes' (one plot per group) or 'overlay' (one plot)."""
        self.mode = mode
        self.btn_lanes.setChecked(mode == "lanes")
        self.btn_overlay.setChecked(mode == "overlay")
        x = self._x_range()
        self._rebuild()
        if x is not None:
            self._first_lane().box.setXRange(*x, padding=0)
        self.frame_all(x_too=x is None)

    def _rebuild(self) -> None:
        self.glw.clear()
        self.lanes = {}
        if self.doc is None:
            return
        names = self.doc.names()
        lane_names = [g for g in GROUPS if any(curve_group(n) == g for n in names)] if self.mode == "lanes" else ["curves"]
        other = [g for g in {curve_group(n) for n in names} if g not in GROUPS]
        if self.mode == "lanes":
            lane_names += other
        first = None
        for i, ln in enumerate(lane_names):
            lane = _Lane(self, ln)
            self.glw.addItem(lane.plot, row=i, col=0)
            if first is None:
                first = lane
            else:
                lane.box.setXLink(first.box)
            lane.plot.getAxis("left").setWidth(44)
            lane.plot.getAxis("left").enableAutoSIPrefix(False)  # AU intensities read as they are, no "x0.001"
            if i < len(lane_names) - 1:
                lane.plot.getAxis("bottom").setStyle(showValues=False)  # frame numbers once, under the last lane
            lane.cursor.sigDragged.connect(lambda line, _l=lane: self._cursor_dragged(line))
            lane.box.sigXRangeChanged.connect(self._schedule)
            for name in names:
                if self.mode == "lanes" and curve_group(name) != ln:
                    continue
                col = QColor(self.colours[name])
                base_col = QColor(col)
                base_col.setAlpha(110)
                base = pg.PlotDataItem(pen=pg.mkPen(base_col, width=1, style=Qt.DashLine))
                res = pg.PlotDataItem(pen=pg.mkPen(col, width=1.6))
                for item in (base, res):
                    item.setClipToView(True)
                    item.setDownsampling(auto=True, method="peak")
                    # unchanged curves are blitted from a cache while a drag repaints the graph
                    item.curve.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
                keys = _Keys(size=8, symbol="d", pen=pg.mkPen("#111"), brush=pg.mkBrush(col))
                keys.setZValue(50)
                lane.plot.addItem(base)
                lane.plot.addItem(res)
                lane.plot.addItem(keys, ignoreBounds=True)
                lane.items[name] = (base, res, keys)
            self.lanes[ln] = lane
        for lane in self.lanes.values():
            lane.cursor.setValue(self.frame)
        self._apply_visibility()
        self.refresh()

    def _first_lane(self) -> _Lane:
        return next(iter(self.lanes.values()))

    def _x_range(self) -> tuple[float, float] | None:
        if not self.lanes:
            return None
        return tuple(self._first_lane().box.viewRange()[0])

    # ------------------------------------------------------------------ list
    def _tree_changed(self, item: QTreeWidgetItem, _col: int) -> None:
        name = item.data(0, Qt.UserRole)
        if name is None:
            return
        self.visible[name] = item.checkState(0) == Qt.Checked
        self._apply_visibility()
        self.refresh()

    def _tree_selected(self) -> None:
        self._apply_visibility()

    def chosen_curves(self) -> list[str]:
        """Curves the S key sets keys on: those selected in the list, else those with selected
        keys, else every visible curve."""
        names = [it.data(0, Qt.UserRole) for it in self.tree.selectedItems() if it.data(0, Qt.UserRole)]
        if not names:
            names = [n for n, s in self.selection.items() if s]
        if not names:
            names = [n for n, v in self.visible.items() if v]
        return names

    def set_visible(self, names: Iterable[str] | None) -> None:
        """Show only `names` (None: all)."""
        wanted = None if names is None else set(names)
        self.tree.blockSignals(True)
        for i in range(self.tree.topLevelItemCount()):
            g = self.tree.topLevelItem(i)
            for j in range(g.childCount()):
                it = g.child(j)
                name = it.data(0, Qt.UserRole)
                vis = wanted is None or name in wanted
                self.visible[name] = vis
                it.setCheckState(0, Qt.Checked if vis else Qt.Unchecked)
        self.tree.blockSignals(False)
        self._apply_visibility()
        self.refresh()

    def _apply_visibility(self) -> None:
        highlighted = {it.data(0, Qt.UserRole) for it in self.tree.selectedItems()}
        for lane in self.lanes.values():
            for name, (base, res, keys) in lane.items.items():
                vis = self.visible.get(name, True)
                for it in (base, res, keys):
                    it.setVisible(vis)
                res.setPen(pg.mkPen(self.colours[name], width=3 if name in highlighted else 1.6))

    # ------------------------------------------------------------------ drawing
    def _schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def _visible_frames(self, lane: _Lane) -> np.ndarray:
        first, last = self.doc.frame_range()
        x0, x1 = lane.box.viewRange()[0]
        a = max(first, int(np.floor(x0)) - 1)
        b = min(last, int(np.ceil(x1)) + 1)
        if b < a:
            return np.zeros(0, np.int64)
        px = max(lane.box.width(), 100.0)
        step = max(1, int((b - a + 1) / px))  # about one sample per screen pixel
        frames = np.arange(a, b + 1, step, dtype=np.int64)
        if frames[-1] != b:
            frames = np.append(frames, b)
        return frames

    def refresh(self, names: Iterable[str] | None = None) -> None:
        """Redraw curves (all, or only `names`) over the visible frames."""
        if self.doc is None:
            return
        t0 = time.perf_counter()
        only = None if names is None else set(names)
        for lane in self.lanes.values():
            frames = self._visible_frames(lane)
            for name, (base, res, keys) in lane.items.items():
                if (only is not None and name not in only) or not self.visible.get(name, True):
                    continue
                if frames.size == 0:
                    base.setData([], [])
                    res.setData([], [])
                    keys.clear()
                    continue
                b = self.doc.base_values(name, frames)
                if b is None:
                    base.setData([], [])
                else:
                    base.setData(frames, b, connect="finite")
                res.setData(frames, self.doc.result_values(name, frames), connect="finite")
                self._draw_keys(lane, name, keys, frames)
            self._draw_handles(lane)
        self.last_redraw_ms = (time.perf_counter() - t0) * 1e3

    def _draw_keys(self, lane: _Lane, name: str, item: pg.ScatterPlotItem, frames: np.ndarray) -> None:
        kf = self.doc.key_frames(name)
        if kf.size:
            kf = kf[(kf >= frames[0] - 1) & (kf <= frames[-1] + 1)]
        if kf.size == 0:
            item.clear()
            return
        ky = self.doc.result_values(name, kf)
        sel = self.selection.get(name, set())
        col = self.colours[name]
        brushes = [pg.mkBrush("#ff9a1f") if int(f) in sel else pg.mkBrush(col) for f in kf]
        sizes = [11 if int(f) in sel else 8 for f in kf]
        item.setData(x=kf.astype(float), y=np.nan_to_num(ky), brush=brushes, size=sizes)

    def _draw_handles(self, lane: _Lane) -> None:
        segs, pts, index = [], [], []
        for name, frames in self.selection.items():
            if name not in lane.items or not self.visible.get(name, True) or not frames:
                continue
            for f, (hin, hout), bezier in self.doc.handles(name, sorted(frames)):
                if not bezier:
                    continue
                y = float(np.nan_to_num(self.doc.result_values(name, np.array([f]))[0]))
                for side, (dx, dy) in (("in", hin), ("out", hout)):
                    segs += [(f, y), (f + dx, y + dy)]
                    pts.append((f + dx, y + dy))
                    index.append((name, int(f), side))
        if segs:
            s = np.asarray(segs, float)
            lane.handles.setData(s[:, 0], s[:, 1], connect="pairs")
            p = np.asarray(pts, float)
            lane.handle_pts.setData(x=p[:, 0], y=p[:, 1])
        else:
            lane.handles.setData([], [])
            lane.handle_pts.clear()
        lane.handle_index = index

    def _doc_changed(self, names: list) -> None:
        if self._moving:
            return  # move_selected redraws once with the moved selection
        self.selection = {n: {f for f in fs if self.doc.has_key(n, f)} for n, fs in self.selection.items()}
        self.refresh(names or None)

    # ------------------------------------------------------------------ time cursor
    def set_frame(self, frame: int) -> None:
        """Move the time cursor in every lane (no signal)."""
        self.frame = int(frame)
        for lane in self.lanes.values():
            lane.cursor.blockSignals(True)
            lane.cursor.setValue(self.frame)
            lane.cursor.blockSignals(False)

    def _cursor_dragged(self, line: pg.InfiniteLine) -> None:
        first, last = self.doc.frame_range() if self.doc else (0, 0)
        f = int(min(max(round(line.value()), first), last))
        self.set_frame(f)
        self.frameScrubbed.emit(f)

    # ------------------------------------------------------------------ hit tests
    def _hit_key(self, lane: _Lane, p: QPointF) -> tuple[str, int] | None:
        pxw, pxh = lane.box.viewPixelSize()
        best, best_d = None, HIT_PX
        for name, (_b, _r, keys) in lane.items.items():
            if not self.visible.get(name, True):
                continue
            data = keys.data
            if len(data) == 0:
                continue
            d = np.hypot((data["x"] - p.x()) / pxw, (data["y"] - p.y()) / pxh)
            i = int(np.argmin(d))
            if d[i] < best_d:
                best, best_d = (name, int(round(data["x"][i]))), float(d[i])
        return best

    def _hit_handle(self, lane: _Lane, p: QPointF) -> tuple[str, int, str] | None:
        data = lane.handle_pts.data
        if len(data) == 0:
            return None
        pxw, pxh = lane.box.viewPixelSize()
        d = np.hypot((data["x"] - p.x()) / pxw, (data["y"] - p.y()) / pxh)
        i = int(np.argmin(d))
        return lane.handle_index[i] if d[i] < HIT_PX else None

    # ------------------------------------------------------------------ mouse
    def _click(self, box: _LaneBox, p: QPointF, mods) -> None:
        self.glw.setFocus()
        lane = self.lanes[box.lane]
        hit = self._hit_key(lane, p)
        if hit is None:
            if not mods & (Qt.ShiftModifier | Qt.ControlModifier):
                self.select({})
            return
        name, f = hit
        sel = {n: set(s) for n, s in self.selection.items()} if mods & (Qt.ShiftModifier | Qt.ControlModifier) else {}
        cur = sel.setdefault(name, set())
        if mods & Qt.ControlModifier and f in cur:
            cur.discard(f)
        else:
            cur.add(f)
        self.select(sel)

    def _drag_start(self, box: _LaneBox, p0: QPointF, mods) -> tuple | None:
        self.glw.setFocus()
        lane = self.lanes[box.lane]
        h = self._hit_handle(lane, p0)
        if h is not None:
            return ("handle", h)
        hit = self._hit_key(lane, p0)
        if hit is not None:
            name, f = hit
            if f not in self.selection.get(name, set()):
                if mods & Qt.ShiftModifier:
                    sel = {n: set(s) for n, s in self.selection.items()}
                    sel.setdefault(name, set()).add(f)
                else:
                    sel = {name: {f}}
                self.select(sel)
            self.doc.begin_drag()
            return ("keys", p0, [0, 0.0])
        return ("box", p0)

    def _drag_move(self, box: _LaneBox, drag: tuple, p: QPointF) -> None:
        if drag[0] == "keys":
            p0, applied = drag[1], drag[2]
            df = int(round(p.x() - p0.x()))
            dv = float(p.y() - p0.y())
            ddf, ddv = df - applied[0], dv - applied[1]
            if ddf == 0 and abs(ddv) < 1e-12:
                return
            self.move_selected(ddf, ddv)
            applied[0], applied[1] = df, dv
        elif drag[0] == "handle":
            name, f, side = drag[1]
            y = float(np.nan_to_num(self.doc.result_values(name, np.array([f]))[0]))
            dx, dy = p.x() - f, p.y() - y
            if side == "in":
                dx = min(dx, -1e-3)
            else:
                dx = max(dx, 1e-3)
            self.doc.set_tangent(name, f, side, (dx, dy))
        else:
            r = QRectF(drag[1], p).normalized()
            box.rubber.setRect(r)
            box.rubber.show()

    def _drag_end(self, box: _LaneBox, drag: tuple, p: QPointF, mods) -> None:
        if drag[0] in ("keys", "handle"):
            self.doc.end_drag()
            return
        box.rubber.hide()
        r = QRectF(drag[1], p).normalized()
        lane = self.lanes[box.lane]
        sel = {n: set(s) for n, s in self.selection.items()} if mods & (Qt.ShiftModifier | Qt.ControlModifier) else {}
        for name, (_b, _r, keys) in lane.items.items():
            if not self.visible.get(name, True):
                continue
            data = keys.data
            if len(data) == 0:
                continue
            inside = (data["x"] >= r.left()) & (data["x"] <= r.right()) & (data["y"] >= r.top()) & (data["y"] <= r.bottom())
            frames = {int(round(x)) for x in data["x"][inside]}
            if mods & Qt.ControlModifier:
                sel.setdefault(name, set()).difference_update(frames)
            elif frames:
                sel.setdefault(name, set()).update(frames)
        self.select(sel)

    def _context_menu(self, screen_pos) -> None:
        m = QMenu(self)
        for label, interp in (("Constant", "constant"), ("Linear", "linear"), ("Bezier", "bezier")):
            m.addAction(f"Interpolation: {label}", lambda i=interp: self.set_interp(i))
        m.addSeparator()
        for label, mode in (("Auto (clamped)", "auto"), ("Free", "free"), ("Broken", "broken")):
            m.addAction(f"Tangents: {label}", lambda md=mode: self.set_tangent_mode(md))
        m.addSeparator()
        m.addAction("Set key (S)", self.set_key_at_cursor)
        m.addAction("Delete keys (Del)", self.delete_selected)
        m.addAction("Frame selection (F)", self.frame_selection)
        m.addAction("Frame all (A)", self.frame_all)
        m.popup(screen_pos.toPoint() if hasattr(screen_pos, "toPoint") else screen_pos)

    # ------------------------------------------------------------------ public editing API
    def select(self, selection: Selection) -> None:
        """Replace the key selection {curve: {frames}}."""
        self.selection = {n: set(s) for n, s in selection.items() if s}
        self.refresh(set(self.selection) | set(self._drawn_selected()))
        self.selectionChanged.emit()

    def _drawn_selected(self) -> set[str]:
        return set(self.doc.names()) if self.doc else set()

    def selected_count(self) -> int:
        return sum(len(s) for s in self.selection.values())

    def move_selected(self, dframe: int, dvalue: float) -> None:
        """Move the selected keys (one mergeable undo step while a drag lasts)."""
        if not self.selection or self.doc is None:
            return
        t0 = time.perf_counter()
        self._moving = True
        try:
            self.selection = self.doc.move_keys(self.selection, int(dframe), float(dvalue))
        finally:
            self._moving = False
        self.refresh(list(self.selection))
        self.last_redraw_ms = (time.perf_counter() - t0) * 1e3

    def set_key_at_cursor(self) -> None:
        if self.doc is None:
            return
        names = self.chosen_curves()
        self.doc.add_keys(names, self.frame)
        self.select({n: {self.frame} for n in names})

    def delete_selected(self) -> None:
        if self.doc is not None and self.selection:
            self.doc.delete_keys(self.selection)
            self.select({})

    def set_interp(self, interp: str) -> None:
        if self.doc is not None and self.selection:
            self.doc.set_interp(self.selection, interp)

    def set_tangent_mode(self, mode: str) -> None:
        if self.doc is not None and self.selection:
            self.doc.set_tangent_mode(self.selection, mode)

    def copy(self) -> None:
        if self.doc is not None and self.selection:
            self.doc.copy(self.selection)

    def paste(self) -> None:
        if self.doc is not None:
            pasted = self.doc.paste(self.frame, self.chosen_curves())
            if pasted:
                self.select(pasted)

    def frame_selection(self) -> None:
        """Fit the view to the selected keys (all curves when nothing is selected)."""
        if not self.selection or self.doc is None:
            self.frame_all()
            return
        xs, ys = [], []
        for name, frames in self.selection.items():
            f = np.array(sorted(frames))
            xs += [f.min(), f.max()]
            y = self.doc.result_values(name, f)
            ys += [np.nanmin(y), np.nanmax(y)]
        self._fit(min(xs) - 2, max(xs) + 2, min(ys), max(ys))

    def frame_all(self, x_too: bool = True) -> None:
        """Fit every lane to its visible curves over the whole frame range."""
        if self.doc is None or not self.lanes:
            return
        first, last = self.doc.frame_range()
        for lane in self.lanes.values():
            lo, hi = np.inf, -np.inf
            for name in lane.items:
                if not self.visible.get(name, True):
                    continue
                lo_n, hi_n = self.doc.value_bounds(name)
                lo, hi = min(lo, lo_n), max(hi, hi_n)
            if not np.isfinite(lo):
                lo, hi = 0.0, 1.0
            if hi - lo < 1e-3:
                hi = lo + 1.0
            lane.box.setYRange(lo, hi, padding=0.08)
        if x_too:
            self._first_lane().box.setXRange(first, last, padding=0.01)
        self.refresh()

    def _fit(self, x0: float, x1: float, y0: float, y1: float) -> None:
        if y1 - y0 < 1e-3:
            y0, y1 = y0 - 0.5, y1 + 0.5
        self._first_lane().box.setXRange(x0, x1, padding=0.05)
        for lane in self.lanes.values():
            if any(n in lane.items for n in self.selection):
                lane.box.setYRange(y0, y1, padding=0.1)
        self.refresh()

    def key_scene_pos(self, name: str, frame: int) -> QPointF:
        """Scene position of a key (tests drive the mouse with it)."""
        for lane in self.lanes.values():
            if name in lane.items:
                y = float(np.nan_to_num(self.doc.result_values(name, np.array([frame]))[0]))
                return lane.box.mapViewToScene(QPointF(frame, y))
        raise KeyError(name)

    def view_pos_to_widget(self, name: str, frame: float, value: float):
        """Widget (glw viewport) coordinates of a point in the lane that shows `name`."""
        for lane in self.lanes.values():
            if name in lane.items:
                sp = lane.box.mapViewToScene(QPointF(frame, value))
                return self.glw.mapFromScene(sp)
        raise KeyError(name)
