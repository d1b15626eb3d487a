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

Drawing is incremental so 40 curves x 10,000 frames stay smooth: each PlotDataItem holds
its whole curve and clips it to the view with peak downsampling (~1 point per pixel); an edit
sets data only on the curves whose values changed, and key markers are two scatters per lane.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence, QPen, QPixmapCache
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsItem,
    QGraphicsRectItem,
    QHBoxLayout,
    QInputDialog,
    QMenu,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.curves import drop_offset
from studio.theme import GROUP_COLOURS

log = logging.getLogger(__name__)

GROUPS = ("brows", "eyes", "mouth", "head")
_AU_RE = re.compile(r"^AU(\d+)([LR]?)$")
_GROUP_OF_AU = {1: "brows", 2: "brows", 4: "brows", 5: "eyes", 6: "eyes", 7: "eyes", 43: "eyes", 45: "eyes",
                46: "eyes", 9: "mouth", 10: "mouth", 12: "mouth", 13: "mouth", 14: "mouth", 15: "mouth",
                16: "mouth", 17: "mouth", 18: "mouth", 20: "mouth", 22: "mouth", 23: "mouth", 24: "mouth",
                25: "mouth", 26: "mouth", 27: "mouth", 28: "mouth"}
HIT_PX = 7.0
SELECTED_KEY = "#ff9a1f"
NO_FACE_KEY = "#9a9a9a"  # hollow: a key in frames with no face, drawn at its layer value (no result there)
CURVE_WIDTH = 1.0  # 1 px polylines draw ~5x faster than wider (segmented) pens
HIGHLIGHT_WIDTH = 3.0
CACHE_MAX_MB = 320  # pixmap cache for the curves' paint caches (Qt's default is 10 MB)
WARM_CURVES = 4  # curves whose plot items one idle step builds for the hidden mode (~10-20 ms)
MIN_VALUE_SPAN = 1e-4  # the smallest range of values a lane shows (a curve of 100 spans 1e6 views at most)
DOWNSAMPLE_PX = 2.0  # peak downsampling: min and max of every 2 screen pixels, i.e. ~1 point per pixel


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


def _show(item: QGraphicsItem, on: bool) -> None:
    if item.isVisible() != on:
        item.setVisible(on)


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
    """One plot (a group lane, or the single overlay plot) and its per-curve items.

    Each curve has a base and a result PlotDataItem; the key markers of all the lane's curves
    are two ScatterPlotItems (unselected keys in their curve's colour, selected keys in orange)
    updated in place, so a drag touches the dragged curves and one small scatter, nothing else."""

    def __init__(self, editor: CurveEditor, name: str) -> None:
        self.name = name
        self.box = _LaneBox(editor, name)
        self.plot = pg.PlotItem(viewBox=self.box)
        # values in view never span less than MIN_VALUE_SPAN: curves need no dynamic range clipping
        self.box.setLimits(minYRange=MIN_VALUE_SPAN)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("left", name)
        self.plot.hideButtons()
        self.plot.setClipToView(True)
        self.plot.setDownsampling(auto=True, mode="peak")
        for ax in ("left", "bottom"):
            # axes (and their grid lines, which span the plot) only change with the view range:
            # blit them from a cache while keys are dragged instead of replaying their pictures
            self.plot.getAxis(ax).setCacheMode(QGraphicsItem.DeviceCoordinateCache)
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
        self.keys = _Keys(size=8, symbol="d", pen=pg.mkPen("#111"))
        self.sel_keys = _Keys(size=11, symbol="d", pen=pg.mkPen("#111"), brush=pg.mkBrush(SELECTED_KEY))
        self.nf_keys = _Keys(size=8, symbol="d", pen=pg.mkPen(NO_FACE_KEY, width=1.5), brush=pg.mkBrush(0, 0, 0, 0))
        self.keys.setZValue(50)
        self.nf_keys.setZValue(50)
        self.sel_keys.setZValue(51)
        self.plot.addItem(self.keys, ignoreBounds=True)
        self.plot.addItem(self.nf_keys, ignoreBounds=True)
        self.plot.addItem(self.sel_keys, ignoreBounds=True)
        self.items: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}
        # what each item shows now, so unchanged curves are not handed to pyqtgraph again
        self.drawn_base: dict[str, np.ndarray] = {}
        self.drawn_res: dict[str, np.ndarray] = {}
        # per curve: its keys (frames as float, values on the result curve); the scatters cull to the view
        # ... and which keys sit in frames with no face (no result): drawn hollow at their own value
        self.key_data: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        # every drawn key of the lane, for hit tests and box selection: x, y, owner index into hit_names
        self.hit_x = np.zeros(0)
        self.hit_y = np.zeros(0)
        self.hit_owner = np.zeros(0, np.int64)
        self.hit_names: list[str] = []
        self.unsel_sig: tuple | None = None
        self.handle_index: list[tuple[str, int, str]] = []  # (curve, frame, "in"|"out") per handle point
        self.spare: list[tuple[pg.PlotDataItem, pg.PlotDataItem]] = []  # hidden items of curves gone, for reuse


class _LaneSet:
    """The plots of one mode ('lanes' or 'overlay') in their own GraphicsLayoutWidget.

    Both sets are kept once built: a Lanes/Overlay toggle shows the other widget and brings its
    lanes up to date (data only where it changed), and a shot with other curves hands the
    existing plot items to its curves, instead of building ~90 plot items again."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.ci.setSpacing(0)
        self.glw.setFocusPolicy(Qt.StrongFocus)
        self.lanes: dict[str, _Lane] = {}  # the lanes shown, top to bottom
        self.built: dict[str, _Lane] = {}  # every lane built for this mode, shown or not
        self.names: tuple[str, ...] | None = None  # the curves the lanes are laid out for (None: not yet)

    def lane_names(self, names: Iterable[str]) -> list[str]:
        """The lanes `names` need, top to bottom (one per group, or the overlay's one)."""
        names = list(names)
        if self.mode != "lanes":
            return ["curves"] if names else []
        present = {curve_group(n) for n in names}
        return [g for g in GROUPS if g in present] + sorted(g for g in present if g not in GROUPS)

    def members(self, lane: str, names: Iterable[str]) -> list[str]:
        """The curves of `names` that `lane` shows."""
        return [n for n in names if self.mode != "lanes" or curve_group(n) == lane]


class CurveEditor(QWidget):
    """Graph editor over a CurveDoc. Signals: frameScrubbed(frame) when the user moves the cursor."""

    frameScrubbed = Signal(int)
    selectionChanged = Signal()
    faceChosen = Signal(int)  # the artist picked another face (track) of the shot to edit
    message = Signal(str)  # something the animator should read in the status bar

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = None
        self.bake_runner = None  # callable(names): bake as a background job (the main window sets it)
        self.selection: Selection = {}
        self.frame = 0
        self.mode = "lanes"
        self.visible: dict[str, bool] = {}
        self.colours: dict[str, str] = {}
        self.lanes: dict[str, _Lane] = {}
        self.last_redraw_ms = 0.0
        self._moving = False
        self._frames_cache: tuple | None = None
        self._live: set[str] = set()
        self._cache_ok = False
        self._brushes: dict = {}

        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setMinimumWidth(150)
        self.tree.setMaximumWidth(260)
        self.tree.itemChanged.connect(self._tree_changed)
        self.tree.itemSelectionChanged.connect(self._tree_selected)
        self.tree.setSelectionMode(QTreeWidget.ExtendedSelection)
        self._sets = {m: _LaneSet(m) for m in ("lanes", "overlay")}
        self.stack = QStackedWidget()
        for ls in self._sets.values():
            self.stack.addWidget(ls.glw)
        self.glw = self._sets["lanes"].glw  # the shown mode's plots (tests drive the mouse in it)
        self._drawn_range: tuple[int, int] | None = None  # the frame range the lanes' data are for
        self._warm_timer = QTimer(self)  # builds the hidden mode's plots step by step (_warm_step)
        self._warm_timer.setSingleShot(True)
        self._warm_timer.setInterval(40)
        self._warm_timer.timeout.connect(self._warm_step)

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
                  # lambda: a clicked(bool) would arrive as frame_all's x_too=False and frame only values
                  btn("Frame all", "Frame all visible curves (A)", lambda: self.frame_all())):
            tools.addWidget(b)
        tools.addStretch(1)
        # the active edit layer: keys are set, drawn and dragged on it (as Maya's active animation layer)
        self.layer_box = QComboBox()
        self.layer_box.setToolTip("Edit layer the keys go on (additive layers add to the curve, override "
                                  "layers replace it by their weight); the menu beside it adds, mutes, bakes "
                                  "and deletes layers")
        self.layer_box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.layer_box.setMinimumContentsLength(6)
        self.layer_box.activated.connect(lambda i: self.doc is not None and self.doc.set_layer(
            self.layer_box.itemData(i)))
        self.layer_menu_btn = QToolButton(text="Layers")
        self.layer_menu_btn.setPopupMode(QToolButton.InstantPopup)
        self.layer_menu_btn.setToolTip("New, mute, bake or delete edit layers")
        lm = QMenu(self.layer_menu_btn)
        lm.addAction("New additive layer", lambda: self._layer_op("new", "additive"))
        lm.addAction("New override layer", lambda: self._layer_op("new", "override"))
        self.act_mute = lm.addAction("Mute layer", lambda: self._layer_op("mute"))
        self.act_mute.setCheckable(True)
        lm.addAction("Layer weight…", lambda: self._layer_op("weight"))
        lm.addAction("Bake layer into the extracted curves", lambda: self._layer_op("bake"))
        lm.addAction("Delete layer", lambda: self._layer_op("delete"))
        self.layer_menu_btn.setMenu(lm)
        # which face's curves are shown and edited, when the shot has more than one
        self.face_box = QComboBox()
        self.face_box.setToolTip("Face (track) whose curves are shown and edited; the inspector's render "
                                 "settings say which face is rendered")
        self.face_box.activated.connect(lambda i: self.faceChosen.emit(int(self.face_box.itemData(i))))
        self.face_box.hide()
        layer_row = QHBoxLayout()
        layer_row.setContentsMargins(2, 2, 2, 2)
        layer_row.addWidget(self.layer_box, 1)
        layer_row.addWidget(self.layer_menu_btn)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(0)
        rl.addLayout(tools)
        rl.addWidget(self.stack, 1)
        left = QWidget()  # the layer the keys go on, above the curves they go on
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.setSpacing(0)
        ll.addWidget(self.face_box)
        ll.addLayout(layer_row)
        ll.addWidget(self.tree, 1)
        left.setMaximumWidth(self.tree.maximumWidth())
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self._build_actions()
        self._sync_layers()

    # ------------------------------------------------------------------ setup
    def _build_actions(self) -> None:
        def act(text: str, keys: Iterable[str], slot) -> None:
            a = QAction(text, self)
            a.setShortcuts([QKeySequence(k) for k in keys])
            a.setShortcutContext(Qt.WidgetWithChildrenShortcut)
            a.triggered.connect(slot)
            self.addAction(a)

        act("Set key", ["S"], self.set_key_at_cursor)  # K: the window routes it here when stopped and the editor has focus
        act("Delete keys", ["Delete", "Backspace"], self.delete_selected)
        act("Frame selection", ["F"], self.frame_selection)
        act("Frame all", ["A"], lambda: self.frame_all())  # not triggered(bool) as x_too
        act("Copy keys", [QKeySequence.Copy], self.copy)
        act("Paste keys", [QKeySequence.Paste], self.paste)

    def set_doc(self, doc, keep_view: bool = False) -> None:
        """Show the curves of a CurveDoc (None clears the editor).

        `keep_view`: the doc is a new one for the same shot and face (an undo, a filter or a
        neutral change swaps the CurveSet): when it has the same curves, the visible set, the
        selection (its keys that still exist), the active layer and the view ranges stay as the
        animator left them. The plot items are never built again for a new doc: with the same
        curves only their data is set, with other curves (another shot) the lanes' items are
        handed to the new curves, since building ~90 plot items costs half a second of UI time."""
        old = self.doc
        if old is not None:
            try:
                old.changed.disconnect(self._doc_changed)
            except (RuntimeError, TypeError):
                pass
        same_curves = old is not None and doc is not None and old.names() == doc.names() and bool(self.lanes)
        keep = keep_view and same_curves and old.frame_range() == doc.frame_range()
        self.doc = doc
        if doc is not None:
            doc.changed.connect(self._doc_changed)
            if doc.frame_range() != self._drawn_range:
                # other frames: a curve with the same values (all zeros) must still be drawn again
                for ls in self._sets.values():
                    for lane in ls.built.values():
                        lane.drawn_base.clear()
                        lane.drawn_res.clear()
                self._drawn_range = doc.frame_range()
        if same_curves:
            self._relabel_tree()
            if keep:
                if old.layer != doc.layer and old.layer in [lay.name for lay in doc.cs.layers]:
                    doc.layer = old.layer
                self.selection = {n: {f for f in fs if doc.has_key(n, f)} for n, fs in self.selection.items()}
                self.selection = {n: fs for n, fs in self.selection.items() if fs}
            else:
                self.selection = {}
            self._sync_layers()
            if keep:
                self.refresh()
            else:
                self.set_visible(None)
                self.frame_all()
            self.selectionChanged.emit()
            return
        self.selection = {}
        self._fill_tree()
        self._sync_layers()
        self._show_set(self.mode)
        self.frame_all()  # ranges first, then each item's data, once
        self.selectionChanged.emit()

    def _fill_tree(self) -> None:
        """The curve list (by group, all checked) and each curve's colour, for the doc's curves."""
        doc = self.doc
        self.visible = {}
        self.colours = {}
        self.tree.blockSignals(True)
        self.tree.clear()
        if doc is not None:
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
        self._brushes = {n: pg.mkBrush(c) for n, c in self.colours.items()}

    def _relabel_tree(self) -> None:
        """The list's curve items take the doc's labels (the curves themselves are unchanged)."""
        self.tree.blockSignals(True)
        for i in range(self.tree.topLevelItemCount()):
            g = self.tree.topLevelItem(i)
            for j in range(g.childCount()):
                it = g.child(j)
                label = self.doc.label(it.data(0, Qt.UserRole))
                if it.text(0) != label:
                    it.setText(0, label)
        self.tree.blockSignals(False)

    def set_mode(self, mode: str) -> None:
        """'lanes' (one plot per group) or 'overlay' (one plot); the frames in view stay."""
        had_focus = self.glw.hasFocus()
        self.mode = mode
        self.btn_lanes.setChecked(mode == "lanes")
        self.btn_overlay.setChecked(mode == "overlay")
        x = self._x_range()
        self._show_set(mode)
        if had_focus:
            self.glw.setFocus()
        if x is not None and self.lanes:
            box = self._first_lane().box
            if not np.allclose(box.viewRange()[0], x):
                box.setXRange(*x, padding=0)
        self.frame_all(x_too=x is None)  # values fitted, then the data set where it changed

    def _show_set(self, mode: str) -> None:
        """Show `mode`'s plots, laid out for the doc's curves, with the visible curves, highlight
        and cursor of now (they were left as they were while hidden). Their data, keys and handles
        wait for the caller's refresh, after it has set the view range: pyqtgraph redoes an
        item's display data on each change of range."""
        ls = self._sets[mode]
        names = tuple(self.doc.names()) if self.doc is not None else ()
        if ls.names != names:
            self._lay_out(ls, names)
        self.lanes = ls.lanes
        self.glw = ls.glw
        if self.stack.currentWidget() is not ls.glw:
            self.stack.setCurrentWidget(ls.glw)
        self.set_frame(self.frame)
        self._live = set()
        self._apply_visibility()
        self._update_caching()
        self._warm_timer.start()

    def _warm_step(self) -> None:
        """Build a little more of the hidden mode's plots for the doc's curves (a lane, or a few
        curves' items, ~10-20 ms), a step per timer tick while the UI is idle, so that the first
        Lanes/Overlay toggle finds them built and only sets their data."""
        ls = self._sets["overlay" if self.mode == "lanes" else "lanes"]
        names = tuple(self.doc.names()) if self.doc is not None else ()
        if ls.names == names:
            return
        lane_names = ls.lane_names(names)
        missing = [ln for ln in lane_names if ln not in ls.built]
        if missing:
            ls.built[missing[0]] = self._new_lane(missing[0])
        elif list(ls.lanes) != lane_names:
            self._arrange(ls, lane_names)
        else:
            todo = WARM_CURVES
            for ln in lane_names:
                lane = ls.built[ln]
                short = len(ls.members(ln, names)) - len(lane.items) - len(lane.spare)
                for _ in range(min(max(short, 0), todo)):
                    lane.spare.append(self._new_items(lane))
                    todo -= 1
            if todo == WARM_CURVES:  # every item there: hand them to the curves (pens, no data yet)
                self._lay_out(ls, names)
                return
        self._warm_timer.start()

    def _lay_out(self, ls: _LaneSet, names: tuple[str, ...]) -> None:
        """Give `ls` a lane per group of `names` (one lane in overlay mode) holding their curves.
        Lanes of the same group are kept, and each lane's plot items go to its new curves (pen and
        data set); only items a lane lacks are built, and those left over are hidden for later."""
        lane_names = ls.lane_names(names)
        if list(ls.lanes) != lane_names:
            self._arrange(ls, lane_names)
        for ln, lane in ls.lanes.items():
            self._fill_lane(lane, ls.members(ln, names))
        ls.names = names

    def _arrange(self, ls: _LaneSet, lane_names: list[str]) -> None:
        """Show these lanes of `ls`, top to bottom (built when new), frames linked to the first.
        The curves they hold are then no longer those `ls` was laid out for (its `names`): the
        caller fills them (_lay_out), and until then a doc with the old names lays out again."""
        ls.glw.clear()
        ls.lanes = {}
        ls.names = None
        for ln, lane in ls.built.items():
            # a lane taken out of the layout stays in `built` for later; hidden, or the view
            # still paints it (an empty shot showed the last shot's lane), and hidden before
            # addItem: hiding one already laid out squashes the others
            lane.plot.setVisible(ln in lane_names)
        first = None
        for i, ln in enumerate(lane_names):
            lane = ls.built.get(ln)
            if lane is None:
                lane = ls.built[ln] = self._new_lane(ln)
            ls.glw.addItem(lane.plot, row=i, col=0)
            lane.box.setXLink(first.box if first is not None else None)
            first = first or lane
            # frame numbers once, under the last lane
            lane.plot.getAxis("bottom").setStyle(showValues=i == len(lane_names) - 1)
            ls.lanes[ln] = lane

    def _new_lane(self, name: str) -> _Lane:
        lane = _Lane(self, name)
        lane.plot.getAxis("left").setWidth(44)
        lane.plot.getAxis("left").enableAutoSIPrefix(False)  # AU intensities read as they are, no "x0.001"
        lane.cursor.sigDragged.connect(lambda line: self._cursor_dragged(line))
        lane.box.sigResized.connect(self._update_caching)
        return lane

    def _fill_lane(self, lane: _Lane, names: list[str]) -> None:
        """Hand `lane`'s curve items to `names` (those it shows already keep theirs)."""
        wanted = set(names)
        for name in [n for n in lane.items if n not in wanted]:
            base, res = lane.items.pop(name)
            for item in (base, res):
                item.setData([], [])
                item.hide()
            lane.spare.append((base, res))
            for cache in (lane.drawn_base, lane.drawn_res, lane.key_data):
                cache.pop(name, None)
        items: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}
        for i, name in enumerate(names):
            pair = lane.items.get(name) or (lane.spare.pop() if lane.spare else self._new_items(lane))
            base, res = pair
            if getattr(res, "colour", None) != self.colours[name]:
                res.colour = self.colours[name]
                lane.unsel_sig = None  # the key markers take the curve's new colour too
                col = QColor(res.colour)
                base_col = QColor(col)
                base_col.setAlpha(110)
                base.setPen(pg.mkPen(base_col, width=1, style=Qt.DashLine))
                res.setPen(pg.mkPen(col, width=CURVE_WIDTH))
            # stacked in the curves' order, as if built in it (below keys and handles)
            base.setZValue(2e-3 * i)
            res.setZValue(2e-3 * i + 1e-3)
            items[name] = pair
        lane.items = items

    def _new_items(self, lane: _Lane) -> tuple[pg.PlotDataItem, pg.PlotDataItem]:
        """A curve's base (dashed) and result items in `lane`, without pen colour or data."""
        # each item holds its whole curve; pyqtgraph clips it to the view and keeps the
        # extremes of every DOWNSAMPLE_PX pixels (peak), so pan and zoom cost no evaluation
        # and a blink stays visible when 10,000 frames share a thousand pixels
        # and no dynamic range limit: it would redo every curve's display data on each change of
        # the values in view (frame all, a Lanes/Overlay toggle), to clip curves spanning a
        # million views' height, which the lane's minimum value range (_Lane) rules out
        base = pg.PlotDataItem(pen=None, autoDownsampleFactor=1.0 / DOWNSAMPLE_PX, dynamicRangeLimit=None)
        res = pg.PlotDataItem(pen=None, autoDownsampleFactor=1.0 / DOWNSAMPLE_PX, dynamicRangeLimit=None)
        for item in (base, res):
            lane.plot.addItem(item)  # PlotItem.addItem imposes the plot's clip/downsample modes,
            item.setClipToView(True)  # so set ours after adding
            item.setDownsampling(auto=True, method="peak")
        return base, res

    # ------------------------------------------------------------------ paint caching
    def _update_caching(self, *_args) -> None:
        """Let every curve blit from a pixmap cache (Qt's DeviceCoordinateCache) while it does not
        change, so a drag or the moving time cursor repaints only the dragged curves. Qt keeps
        those pixmaps in QPixmapCache, whose default 10 MB holds a few lanes' curves at most (and a
        thrashing cache is slower than none): the limit is raised to what the lanes need, and
        caching is off when that would pass CACHE_MAX_MB (very large screens)."""
        dpr = self.devicePixelRatioF()
        need_kb = sum(2 * len(lane.items) * lane.box.width() * lane.box.height() * 4 * dpr * dpr
                      for lane in self.lanes.values()) / 1024 * 1.25 + 2048
        self._cache_ok = 0 < need_kb <= CACHE_MAX_MB * 1024
        if self._cache_ok and QPixmapCache.cacheLimit() < need_kb:
            QPixmapCache.setCacheLimit(int(need_kb))
        self._set_live(self._live)

    def _set_live(self, names: set[str]) -> None:
        """Result curves in `names` (being dragged: their cache would be rebuilt each step) draw
        directly; the others, and every extracted base, use their cache."""
        self._live = set(names)
        on, off = QGraphicsItem.DeviceCoordinateCache, QGraphicsItem.NoCache
        for lane in self.lanes.values():
            for name, (base, res) in lane.items.items():
                for item, mode in ((base.curve, on if self._cache_ok else off),
                                   (res.curve, on if self._cache_ok and name not in self._live else off)):
                    if item.cacheMode() != mode:
                        item.setCacheMode(mode)

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
            for name, (base, res) in lane.items.items():
                vis = self.visible.get(name, True)
                for it in (base, res):
                    if it.isVisible() != vis:
                        it.setVisible(vis)
                width = HIGHLIGHT_WIDTH if name in highlighted else CURVE_WIDTH
                if res.opts["pen"].widthF() != width:
                    res.setPen(pg.mkPen(self.colours[name], width=width))

    # ------------------------------------------------------------------ drawing
    def _frames(self) -> tuple[np.ndarray, np.ndarray]:
        """Every frame of the doc's range (int, and float for pyqtgraph), shared by all items."""
        rng = self.doc.frame_range()
        if self._frames_cache is None or self._frames_cache[0] != rng:
            f = np.arange(rng[0], rng[1] + 1, dtype=np.int64)
            self._frames_cache = (rng, f, f.astype(np.float64))
        return self._frames_cache[1], self._frames_cache[2]

    def refresh(self, names: Iterable[str] | None = None, results_only: bool = False) -> None:
        """Redraw curves (all, or only `names`; `results_only`: their extracted base is unchanged).

        Only what changed is handed to pyqtgraph: an item gets new data only when its values
        differ from what it shows (core caches each curve's whole-range evaluation per version,
        so an unchanged curve costs an array compare), and the key markers of a lane are one
        scatter update. The view range needs no refresh: the items clip and downsample."""
        if self.doc is None:
            return
        t0 = time.perf_counter()
        only = None if names is None else set(names)
        for lane in self.lanes.values():
            touched = False
            for name, (base, res) in lane.items.items():
                if only is not None and name not in only:
                    continue
                touched = True
                if not self.visible.get(name, True):
                    lane.key_data.pop(name, None)
                    continue
                self._draw_curve(lane, name, base, res, results_only)
            if touched:
                self._update_keys(lane)
                self._draw_handles(lane)
        self.last_redraw_ms = (time.perf_counter() - t0) * 1e3

    def _draw_curve(self, lane: _Lane, name: str, base: pg.PlotDataItem, res: pg.PlotDataItem,
                    results_only: bool = False) -> None:
        frames, x = self._frames()
        if not results_only or name not in lane.drawn_base:
            b = self.doc.base_values(name, frames)
            if b is None:
                if lane.drawn_base.pop(name, None) is not None:
                    base.setData([], [])
            else:
                old = lane.drawn_base.get(name)
                if old is None or not np.array_equal(old, b, equal_nan=True):
                    base.setData(x, b, connect="finite")
                    lane.drawn_base[name] = b
        y = self.doc.result_curve(name)
        old = lane.drawn_res.get(name)
        if old is None or not np.array_equal(old, y, equal_nan=True):
            res.setData(x, y, connect="finite")
            lane.drawn_res[name] = y
        kf = self.doc.key_frames(name)
        i = kf - frames[0]
        if kf.size and i.min() >= 0 and i.max() < y.size:
            ky = y[i]
        else:
            ky = self.doc.result_curve(name, kf) if kf.size else np.zeros(0)
        nf = ~np.isfinite(ky)
        if nf.any():  # no face there: the key shows (hollow) at its own value, where a drag moves it
            ky = np.where(nf, self.doc.key_values(name), ky)
        lane.key_data[name] = (kf.astype(float), ky, nf)

    def _update_keys(self, lane: _Lane) -> None:
        """Both key scatters of a lane from its per-curve key data and the selection (the
        unselected one is left alone when its points did not change, as during a drag)."""
        xs, ys, owners, sels, nfs = [], [], [], [], []
        names: list[str] = []
        for name, (kf, ky, nf) in lane.key_data.items():
            if not kf.size or not self.visible.get(name, True):
                continue
            sel = self.selection.get(name)
            owners.append(np.full(kf.size, len(names), np.int64))
            names.append(name)
            xs.append(kf)
            ys.append(ky)
            nfs.append(nf)
            sels.append(np.isin(kf, np.fromiter(sel, float, len(sel))) if sel else np.zeros(kf.size, bool))
        if names:
            x, y, own, sel = np.concatenate(xs), np.concatenate(ys), np.concatenate(owners), np.concatenate(sels)
            nf = np.concatenate(nfs)
        else:
            x, y, own, sel = np.zeros(0), np.zeros(0), np.zeros(0, np.int64), np.zeros(0, bool)
            nf = np.zeros(0, bool)
        lane.hit_x, lane.hit_y, lane.hit_owner, lane.hit_names = x, y, own, names
        un = ~sel & ~nf
        hollow = ~sel & nf
        sig = (x[un].tobytes(), y[un].tobytes(), tuple(names[i] for i in np.unique(own[un])), own[un].tobytes(),
               x[hollow].tobytes(), y[hollow].tobytes())
        if sig != lane.unsel_sig:
            lane.unsel_sig = sig
            if un.any():
                brushes = [self._brushes[names[i]] for i in own[un]]
                lane.keys.setData(x=x[un], y=y[un], brush=brushes)
            else:
                lane.keys.clear()
            if hollow.any():
                lane.nf_keys.setData(x=x[hollow], y=y[hollow])
            else:
                lane.nf_keys.clear()
            _show(lane.nf_keys, bool(hollow.any()))
        if sel.any():
            lane.sel_keys.setData(x=x[sel], y=y[sel])
        elif len(lane.sel_keys.data):
            lane.sel_keys.clear()
        _show(lane.keys, bool(un.any()))  # an empty scatter still costs a paint call
        _show(lane.sel_keys, bool(sel.any()))

    def _draw_handles(self, lane: _Lane) -> None:
        segs, pts, index = [], [], []
        for name, frames in self.selection.items():
            if name not in lane.items or not self.visible.get(name, True) or not frames:
                continue
            for f, (hin, hout), bezier in self.doc.handles(name, sorted(frames)):
                if not bezier:
                    continue
                y = self._key_y(name, f, self._result_at(lane, name, f))
                for side, (dx, dy) in (("in", hin), ("out", hout)):
                    segs += [(f, y), (f + dx, y + dy)]
                    pts.append((f + dx, y + dy))
                    index.append((name, int(f), side))
        if segs:
            s = np.asarray(segs, float)
            lane.handles.setData(s[:, 0], s[:, 1], connect="pairs")
            p = np.asarray(pts, float)
            lane.handle_pts.setData(x=p[:, 0], y=p[:, 1])
        elif lane.handle_index:
            lane.handles.setData([], [])
            lane.handle_pts.clear()
        _show(lane.handles, bool(segs))
        _show(lane.handle_pts, bool(segs))
        lane.handle_index = index

    def _key_y(self, name: str, frame: int, result: float | None = None) -> float:
        """Where a key is drawn: on the result curve, or at its own value in a frame with no
        face (no result)."""
        y = float(self.doc.result_values(name, np.array([int(frame)]))[0]) if result is None else float(result)
        if np.isfinite(y):
            return y
        k = self.doc.key(name, int(frame))
        return float(k.value) if k is not None else 0.0

    def _result_at(self, lane: _Lane, name: str, frame: int) -> float:
        """The drawn result curve's value at `frame` (evaluated when outside the range or not drawn)."""
        y = lane.drawn_res.get(name)
        i = int(frame) - self.doc.frame_range()[0]
        if y is not None and 0 <= i < y.size:
            return float(y[i])
        return float(self.doc.result_values(name, np.array([int(frame)]))[0])

    def _doc_changed(self, names: list) -> None:
        if self._moving:
            return  # move_selected redraws once with the moved selection
        if not names:  # a layer may have come or gone (undo, a layer command)
            self._sync_layers()
        kept = {n: {f for f in fs if self.doc.has_key(n, f)} for n, fs in self.selection.items()}
        self.selection = {n: fs for n, fs in kept.items() if fs}
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
        if lane.hit_x.size == 0:
            return None
        pxw, pxh = lane.box.viewPixelSize()
        d = np.hypot((lane.hit_x - p.x()) / pxw, (lane.hit_y - p.y()) / pxh)
        i = int(np.argmin(d))
        if d[i] >= HIT_PX:
            return None
        return lane.hit_names[int(lane.hit_owner[i])], int(round(lane.hit_x[i]))

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
            # the keys that stay put, as the drag begins: a dragged key stops short of them
            moving = {n: set(fr) for n, fr in self.selection.items()}
            fixed = {n: {int(k) for k in self.doc.key_frames(n)} - fr for n, fr in moving.items()}
            return ("keys", p0, [0, 0.0], moving, fixed)
        return ("box", p0)

    def _drag_move(self, box: _LaneBox, drag: tuple, p: QPointF) -> None:
        if drag[0] == "keys":
            p0, applied = drag[1], drag[2]
            df = drop_offset(drag[3], drag[4], int(round(p.x() - p0.x())))
            dv = float(p.y() - p0.y())
            ddf, ddv = df - applied[0], dv - applied[1]
            if ddf == 0 and abs(ddv) < 1e-12:
                return
            self.move_selected(ddf, ddv)
            applied[0], applied[1] = df, dv
        elif drag[0] == "handle":
            name, f, side = drag[1]
            y = self._key_y(name, f)
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
        x, y = lane.hit_x, lane.hit_y
        inside = (x >= r.left()) & (x <= r.right()) & (y >= r.top()) & (y <= r.bottom())
        for i, name in enumerate(lane.hit_names):
            frames = {int(round(f)) for f in x[inside & (lane.hit_owner == i)]}
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
        m.addAction("Smooth selected keys", self.smooth_selected)
        m.addAction("Reduce keys…", lambda: self.reduce_keys())
        m.addSeparator()
        m.addAction("Butterworth filter (extracted curve)…", lambda: self.filter_base())
        m.addAction("Bake to keys (override layer 'Baked')", self.bake_to_keys)
        m.addAction("Reset to extracted", self.reset_to_extracted)
        m.addSeparator()
        m.addAction("Frame selection (F)", self.frame_selection)
        m.addAction("Frame all (A)", lambda: self.frame_all())
        m.popup(screen_pos.toPoint() if hasattr(screen_pos, "toPoint") else screen_pos)

    # ------------------------------------------------------------------ curve tools (core commands via the doc)
    def smooth_selected(self) -> None:
        if self.doc is not None and self.selection:
            self.doc.smooth_keys(self.selection)

    def reduce_keys(self, tol: float | None = None) -> None:
        """Fewest keys within `tol` of the chosen curves' layer keys (asked when not given)."""
        if self.doc is None:
            return
        if tol is None:
            tol, ok = QInputDialog.getDouble(self, "Reduce keys", "Keep the curve within (AU intensity):",
                                             0.05, 0.001, 1.0, 3)
            if not ok:
                return
        self.doc.reduce_keys(self.chosen_curves(), tol)
        self.select({})

    def filter_base(self, cutoff_hz: float | None = None) -> None:
        """Butterworth low-pass of the chosen curves' extracted base (cutoff asked when not given)."""
        if self.doc is None:
            return
        nyq = self.doc.fps / 2.0
        if cutoff_hz is None:
            cutoff_hz, ok = QInputDialog.getDouble(
                self, "Butterworth filter", f"Cutoff (Hz, below {nyq:g}): lower is smoother", min(3.0, nyq * 0.5),
                0.1, nyq - 0.01, 2)
            if not ok:
                return
        try:
            self.doc.filter_base(self.chosen_curves(), cutoff_hz)
        except ValueError as exc:
            log.warning("Butterworth filter: %s", exc)

    def bake_to_keys(self) -> None:
        """Bake the chosen curves to keys: through `bake_runner` (the main window's background
        job, with progress and Cancel) when there is one, else here."""
        if self.doc is None:
            return
        if self.bake_runner is not None:
            self.bake_runner(self.chosen_curves())
            return
        self.doc.bake_to_keys(self.chosen_curves())
        self.use_layer(self.doc.layer)

    def use_layer(self, name: str) -> None:
        """Make `name` the active layer (keys set next go on it) and show it in the picker."""
        if self.doc is not None:
            self.doc.layer = name
            self.select({})
            self._sync_layers()

    def reset_to_extracted(self) -> None:
        if self.doc is not None:
            self.doc.reset_to_extracted(self.chosen_curves())
            self.select({})

    def _layer_op(self, op: str, mode: str = "additive") -> None:
        d = self.doc
        if d is None:
            return
        try:
            if op == "new":
                d.new_layer(mode)
            elif op == "mute":
                info = d.layer_info(d.layer)
                d.set_layer_muted(not (info and info[2]))
            elif op == "weight":
                info = d.layer_info(d.layer)
                if info is None:
                    return
                w, ok = QInputDialog.getDouble(self, "Layer weight", f"Weight of {d.layer} (0..1):", info[1], 0.0, 1.0, 2)
                if ok:
                    d.set_layer_weight(w)
            elif op == "bake":
                d.bake_layer()
            elif op == "delete":
                d.remove_layer()
        except ValueError as exc:  # e.g. baking a muted layer: the command says why
            log.warning("%s", exc)
        self.select({})
        self._sync_layers()

    def set_faces(self, tracks: list[int], current: int | None) -> None:
        """The shot's faces with curves; the picker shows only when there is a choice."""
        box = self.face_box
        box.blockSignals(True)
        box.clear()
        for t in tracks:
            box.addItem(f"Face {t}", int(t))
        if current is not None:
            box.setCurrentIndex(max(0, box.findData(int(current))))
        box.blockSignals(False)
        box.setVisible(len(tracks) > 1)

    def _sync_layers(self) -> None:
        """The layer picker shows the doc's layers (mode, muted) with the active one chosen."""
        box = self.layer_box
        box.blockSignals(True)
        box.clear()
        if self.doc is not None:
            for name in self.doc.layer_names():
                info = self.doc.layer_info(name)
                tag = "" if info is None else (" (override)" if info[0] == "override" else "") + (
                    " (muted)" if info[2] else "")
                box.addItem(name + tag, name)
            box.setCurrentIndex(max(0, box.findData(self.doc.layer)))
            info = self.doc.layer_info(self.doc.layer)
            self.act_mute.setChecked(bool(info and info[2]))
        box.setEnabled(self.doc is not None)
        self.layer_menu_btn.setEnabled(self.doc is not None)
        box.blockSignals(False)

    # ------------------------------------------------------------------ public editing API
    def select(self, selection: Selection) -> None:
        """Replace the key selection {curve: {frames}}."""
        self.selection = {n: set(s) for n, s in selection.items() if s}
        if self.doc is not None:
            for lane in self.lanes.values():  # the curves are unchanged: only markers and handles
                self._update_keys(lane)
                self._draw_handles(lane)
        self.selectionChanged.emit()

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
        if set(self.selection) != self._live:
            self._set_live(set(self.selection))
        self.refresh(list(self.selection), results_only=True)
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
        """Paste copied keys at the cursor onto the curves chosen in the list (none chosen: onto
        the copied curves); what did not go as chosen is said in the status bar (message)."""
        if self.doc is None:
            return
        chosen = [it.data(0, Qt.UserRole) for it in self.tree.selectedItems() if it.data(0, Qt.UserRole)]
        pasted, notes = self.doc.paste(self.frame, chosen)
        if pasted:
            self.select(pasted)
        if notes:
            self.message.emit("paste: " + "; ".join(notes))

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
            ys += [float(v) for v in y if np.isfinite(v)]  # keys in frames with no face have no value
        self._fit(min(xs) - 2, max(xs) + 2, min(ys, default=np.nan), max(ys, default=np.nan))

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
        """Frames x0..x1 in view, and values y0..y1 in the lanes of the selection (values left as
        they are when not finite: keys only in frames with no face)."""
        if y1 - y0 < 1e-3:
            y0, y1 = y0 - 0.5, y1 + 0.5
        self._first_lane().box.setXRange(x0, x1, padding=0.05)
        for lane in self.lanes.values() if np.isfinite(y0) and np.isfinite(y1) else ():
            if any(n in lane.items for n in self.selection):
                lane.box.setYRange(y0, y1, padding=0.1)
        self.refresh()

    def key_scene_pos(self, name: str, frame: int) -> QPointF:
        """Scene position of a key (tests drive the mouse with it)."""
        for lane in self.lanes.values():
            if name in lane.items:
                y = self._key_y(name, frame)
                return lane.box.mapViewToScene(QPointF(frame, y))
        raise KeyError(name)

    def view_pos_to_widget(self, name: str, frame: float, value: float):
        """Widget (glw viewport) coordinates of a point in the lane that shows `name`."""
        for lane in self.lanes.values():
            if name in lane.items:
                sp = lane.box.mapViewToScene(QPointF(frame, value))
                return self.glw.mapFromScene(sp)
        raise KeyError(name)
