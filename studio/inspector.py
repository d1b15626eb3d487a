"""The inspector: per-AU gains with people's names, render settings, and warnings where the
user looks (top of the panel, amber).

Gains are core CurveSet gains (0..2, warning above 1.5); a bilateral AU's slider drives its L
and R curves too. Gains can be keyed (animated): the diamond beside each slider (or the row's
right-click menu) sets or deletes a gain key at the current frame. Once an AU has gain keys
its slider shows the gain at the time cursor and follows it, and moving the slider edits (or
adds) the key on that frame; a keyed gain's box is tinted (strong on a key frame). Every edit
is a core command (core.project.commands.EditGain / SetGainKey / DeleteGainKeys) pushed on
the session's undo stack, so it undoes; the panel only shows core's values. Without a session
(bind_session) the panel emits gainChanged for the static gain instead. Render settings are the shot's
render_settings dict with core.render.RenderSettings' field names (mode, blend, colour,
restore and restore_strength, the skin / brows / eyes / mouth_interior masks,
identity_strength), changed through an undoable command so they are saved with the project
and read by render jobs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QScrollArea,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)

_AU_RE = re.compile(r"^AU(\d+)([LR]?)$")
_AU_PREFIX = re.compile(r"^AU(\d+)")
GAIN_WARN = 1.5
#: spin box tint of a keyed gain: on a key frame, between keys
KEYED_ON_KEY = "background: #a8322d; color: white;"
KEYED_BETWEEN = "background: #5c3431;"

MASK_FIELDS = (("skin", "skin"), ("brows", "brows"), ("eyes", "eyes"), ("mouth inside", "mouth_interior"))
SETTING_KEYS = ("mode", "blend", "colour", "restore", "restore_strength", "skin", "brows", "eyes",
                "mouth_interior", "identity_strength")


def render_defaults() -> dict:
    """The render settings the inspector edits, with core.render.RenderSettings' defaults: the
    dict is the shot's render_settings, which render jobs read with RenderSettings.from_json."""
    from core.render.renderer import RenderSettings

    d = RenderSettings().to_json()
    return {k: d[k] for k in SETTING_KEYS}


RENDER_DEFAULTS = render_defaults()


def au_catalogue() -> dict[int, tuple[str, str]]:
    """{AU number: (FACS name, friendly name)} from core.facs.catalogue(); {} when it is not there yet."""
    try:
        from core.facs import catalogue  # type: ignore[attr-defined]
    except ImportError:
        return {}
    out: dict[int, tuple[str, str]] = {}
    try:
        for entry in catalogue():
            num = getattr(entry, "au", None) or getattr(entry, "number", None) or getattr(entry, "id", None)
            if isinstance(entry, dict):
                num = entry.get("au") or entry.get("number") or entry.get("id")
            try:
                num = int(str(num).upper().removeprefix("AU"))
            except (TypeError, ValueError):
                continue
            get = (lambda k, e=entry: e.get(k)) if isinstance(entry, dict) else (lambda k, e=entry: getattr(e, k, None))
            out[num] = (str(get("name") or f"AU{num}"), str(get("friendly") or get("friendly_name") or get("name") or f"AU{num}"))
    except Exception as exc:  # noqa: BLE001 - the panel still works with plain AU names
        log.warning("AU catalogue unavailable: %s", exc)
    return out


def restoration_models() -> list[tuple[str, bool]]:
    """[(model id, installed)] of the restorer family in core.runtime's model store, after "off"."""
    out = [("off", True)]
    try:
        from core.runtime.registry import ModelStore

        store = ModelStore()
        for m in store.manifests:
            if m.family == "restorer":
                out.append((m.id, store.status(m) == "installed"))
    except Exception as exc:  # noqa: BLE001 - shown as "off only" in the combo
        log.info("model store unavailable: %s", exc)
    return out


class GainRow(QWidget):
    """'Smile  AU12' label, slider 0..2, spin box, key button; emits changed(au_number, gain) on
    release/edit, keyRequested(au, action) from the key button and the right-click menu
    (action: "toggle", "set", "delete", "delete_all")."""

    changed = Signal(int, float)
    preview = Signal(int, float)
    keyRequested = Signal(int, str)

    def __init__(self, au: int, label: str, facs: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.au = au
        self.name = QLabel()
        self.name.setFixedWidth(130)  # fixed columns: the sliders line up
        # a long name ends in an ellipsis rather than cut mid-word; the tooltip has it whole
        self.name.setText(self.name.fontMetrics().elidedText(label, Qt.ElideRight, 130))
        self.name.setToolTip(f"{label} (AU{au}): {facs}")
        num = QLabel(f"AU{au}")
        num.setObjectName("dim")
        num.setFixedWidth(40)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 200)
        self.slider.setValue(100)
        self.slider.setToolTip("Gain 0..2 (1 = as performed; above 1.5 may look non-physiological)")
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, 2.0)
        self.spin.setSingleStep(0.05)
        self.spin.setDecimals(2)
        self.spin.setValue(1.0)
        self.spin.setKeyboardTracking(False)
        self.spin.setFixedWidth(58)
        self.key_btn = QToolButton()
        self.key_btn.setAutoRaise(True)
        self.key_btn.setFixedWidth(22)
        self.key_btn.clicked.connect(lambda: self.keyRequested.emit(self.au, "toggle"))
        self.keyed = False  # the gain has keys (animated)
        self.on_key = False  # ... and one on the current frame
        self._show_key_state()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.name)
        lay.addWidget(num)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.spin)
        lay.addWidget(self.key_btn)
        self.setContextMenuPolicy(Qt.CustomContextMenu)
        self.customContextMenuRequested.connect(lambda pos: self.menu().popup(self.mapToGlobal(pos)))
        self.slider.valueChanged.connect(lambda v: self._slid(v))
        self.slider.sliderReleased.connect(lambda: self.changed.emit(self.au, self.slider.value() / 100))
        self.spin.valueChanged.connect(lambda v: self.changed.emit(self.au, float(v)))

    def _slid(self, v: int) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(v / 100)
        self.spin.blockSignals(False)
        self._warn(v / 100)
        if not self.slider.isSliderDown():
            self.changed.emit(self.au, v / 100)

    def _warn(self, g: float) -> None:
        style = "color: #ffb347;" if g > GAIN_WARN else ""
        if self.name.styleSheet() != style:
            self.name.setStyleSheet(style)

    def set_gain(self, g: float, keyed: bool | None = None, on_key: bool | None = None) -> None:
        """Show a gain (and, when given, whether it is keyed and has a key on this frame)."""
        for w in (self.slider, self.spin):
            w.blockSignals(True)
        self.slider.setValue(int(round(g * 100)))
        self.spin.setValue(g)
        for w in (self.slider, self.spin):
            w.blockSignals(False)
        self._warn(g)
        if keyed is not None:
            state = (bool(keyed), bool(on_key) and bool(keyed))
            if state != (self.keyed, self.on_key):  # style sheets are costly to set per frame
                self.keyed, self.on_key = state
                self._show_key_state()

    def _show_key_state(self) -> None:
        if self.on_key:
            self.key_btn.setText("◆")
            self.key_btn.setToolTip("Gain key on this frame: click to delete it")
        else:
            self.key_btn.setText("◇")
            self.key_btn.setToolTip("Set a gain key at the current frame (the gain becomes animated)"
                                    + (": the gain is keyed on other frames" if self.keyed else ""))
        self.key_btn.setStyleSheet("color: #ff6a5c;" if self.keyed else "")
        self.spin.setStyleSheet(KEYED_ON_KEY if self.on_key else KEYED_BETWEEN if self.keyed else "")
        self.spin.setToolTip("Gain at the current frame (keyed)" if self.keyed else "Gain (static: not keyed)")

    def menu(self) -> QMenu:
        """The right-click menu (built fresh: its entries follow the key state)."""
        m = QMenu(self)
        a = m.addAction("Set gain key at current frame", lambda: self.keyRequested.emit(self.au, "set"))
        a = m.addAction("Delete gain key at current frame", lambda: self.keyRequested.emit(self.au, "delete"))
        a.setEnabled(self.on_key)
        a = m.addAction("Delete all gain keys (back to a static gain)",
                        lambda: self.keyRequested.emit(self.au, "delete_all"))
        a.setEnabled(self.keyed)
        return m


class Inspector(QWidget):
    """Gains, render settings and warnings of the current shot."""

    gainChanged = Signal(int, float)  # AU number, gain (emitted only without a bound session)
    settingsChanged = Signal(dict)  # the full render settings after a change

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.catalogue = au_catalogue()
        self.rows: dict[int, GainRow] = {}
        self._au_names: tuple[object, dict[int, list[str]]] = (None, {})  # (doc, curves of each AU)
        self.settings = dict(RENDER_DEFAULTS)
        self.session = None  # studio.session.Session once bound: gains are then read and edited through core
        self.warn_box = QLabel("")
        self.warn_box.setObjectName("warning")
        self.warn_box.setWordWrap(True)
        self.warn_box.hide()
        self.shot_label = QLabel("no shot")
        self.shot_label.setWordWrap(True)

        self.gains_box = QGroupBox("Expression gains")
        self.gains_layout = QVBoxLayout(self.gains_box)
        self.gains_layout.setSpacing(2)
        self.gains_empty = QLabel("Analyse the shot to get AU curves.")
        self.gains_empty.setObjectName("dim")
        self.gains_layout.addWidget(self.gains_empty)

        rbox = QGroupBox("Render")
        form = QFormLayout(rbox)
        self.mode = self._combo([("Edit (own face)", "edit"), ("Swap (identity)", "swap")], "mode")
        self.blend = self._combo([("Poisson", "poisson"), ("Gaussian feather (fast)", "gaussian"), ("None", "none")], "blend")
        self.colour = self._combo([("Reinhard (LAB)", "reinhard"), ("Histogram", "histogram"), ("None", "none")], "colour")
        self.models = restoration_models()
        self.restore = self._combo([(m if ok else f"{m} (not installed)", m) for m, ok in self.models], "restore")
        self.restore_strength = self._slider("restore_strength")
        self.shape_strength = self._slider("identity_strength")
        masks = QWidget()
        ml = QHBoxLayout(masks)
        ml.setContentsMargins(0, 0, 0, 0)
        self.mask_checks: dict[str, QCheckBox] = {}
        for label, key in MASK_FIELDS:
            c = QCheckBox(label)
            c.setChecked(bool(self.settings[key]))
            c.toggled.connect(lambda on, _k=key: self._set(_k, bool(on)))
            ml.addWidget(c)
            self.mask_checks[key] = c
        form.addRow("Mode", self.mode)
        form.addRow("Blend", self.blend)
        form.addRow("Colour", self.colour)
        form.addRow("Restoration", self.restore)
        form.addRow("Strength", self.restore_strength)
        form.addRow("Masks", masks)
        form.addRow("Identity shape", self.shape_strength)

        body = QWidget()
        bl = QVBoxLayout(body)
        bl.setContentsMargins(4, 4, 4, 4)
        bl.addWidget(self.warn_box)
        bl.addWidget(self.shot_label)
        bl.addWidget(self.gains_box)
        bl.addWidget(rbox)
        bl.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(scroll)

    # ------------------------------------------------------------------ widgets
    def _combo(self, items: list[tuple[str, str]], key: str) -> QComboBox:
        c = QComboBox()
        for label, value in items:
            c.addItem(label, value)
        c.currentIndexChanged.connect(lambda _i, _c=c, _k=key: self._set(_k, _c.currentData()))
        return c

    def _slider(self, key: str) -> QSlider:
        s = QSlider(Qt.Horizontal)
        s.setRange(0, 100)
        s.setValue(int(self.settings[key] * 100))
        s.sliderReleased.connect(lambda _s=s, _k=key: self._set(_k, _s.value() / 100))
        s.valueChanged.connect(lambda v, _s=s, _k=key: None if _s.isSliderDown() else self._set(_k, v / 100))
        return s

    def _set(self, key: str, value) -> None:
        if self.settings.get(key) == value:
            return
        self.settings[key] = value
        self.settingsChanged.emit(dict(self.settings))
        self._refresh_warnings()

    # ------------------------------------------------------------------ session
    def bind_session(self, session) -> None:
        """Read gains from the session's current CurveDoc at its current frame, follow the time
        cursor, and push gain edits (static or keyed) on its undo stack."""
        if self.session is session:
            return
        self.session = session
        session.frameChanged.connect(self.set_frame)

    def _find_session(self) -> None:
        """Bind to the session of the main window this panel sits in (its dock's parent), if any."""
        w = self.parentWidget()
        while w is not None and self.session is None:
            s = getattr(w, "session", None)
            if s is not None and hasattr(s, "frameChanged") and hasattr(s, "doc"):
                self.bind_session(s)
            w = w.parentWidget()

    def _doc(self):
        return getattr(self.session, "doc", None) if self.session is not None else None

    def _names(self, au: int) -> list[str]:
        """The curves of an AU (both sides of a bilateral one), cached per doc: a doc's curves
        never change, and asking for them per AU per frame was a third of a scrub's time."""
        doc = self._doc()
        if doc is None:
            return []
        if self._au_names[0] is not doc:
            self._au_names = (doc, {})
        cache = self._au_names[1]
        if au not in cache:
            cache[au] = doc.names_for_au(au)
        return cache[au]

    def frame(self) -> int:
        return int(getattr(self.session, "frame", 0)) if self.session is not None else 0

    def set_frame(self, _frame: int | None = None) -> None:
        """The time cursor moved: show each keyed AU's gain at the new frame (rows being dragged
        stay). A static gain does not change with the frame: every change to the curves comes
        through set_gains, which shows all rows."""
        self._show_doc_gains(skip_dragged=True, keyed_only=True)

    def _show_doc_gains(self, skip_dragged: bool = False, keyed_only: bool = False) -> bool:
        """Show core's gains at the current frame (`keyed_only`: just the rows shown as keyed)."""
        doc = self._doc()
        if doc is None:
            return False
        cs, f = doc.cs, self.frame()
        shown = False
        for au, row in self.rows.items():
            if keyed_only and not row.keyed:
                continue
            names = self._names(au)
            if not names or (skip_dragged and row.slider.isSliderDown()):
                continue
            keyed = any(cs.has_gain_keys(n) for n in names)
            on_key = any(n in cs.gain_keys and cs.gain_keys[n].key_index(f) is not None for n in names)
            row.set_gain(float(cs.gain_at(names[0], [f])[0]), keyed=keyed, on_key=on_key)
            shown = True
        if shown or not keyed_only:
            self._refresh_warnings()
        return True

    def _row_changed(self, au: int, gain: float) -> None:
        doc = self._doc()
        if doc is None:
            self.gainChanged.emit(au, gain)
            return
        from core.project.commands import EditGain

        names = self._names(au)
        cs = doc.cs
        f = self.frame()
        if not names or (all(abs(float(cs.gain_at(n, [f])[0]) - gain) < 1e-9 for n in names)):
            return
        self._push(EditGain(cs, names, gain, frame=f))

    def _key_requested(self, au: int, action: str) -> None:
        doc = self._doc()
        names = self._names(au)
        if doc is None or not names:
            return
        from core.project.commands import DeleteGainKeys, SetGainKey

        cs, f = doc.cs, self.frame()
        on_key = any(n in cs.gain_keys and cs.gain_keys[n].key_index(f) is not None for n in names)
        if action == "toggle":
            action = "delete" if on_key else "set"
        if action == "set":
            # key the gain the AU has now on this frame: the result does not jump
            self._push(SetGainKey(cs, names, f, float(cs.gain_at(names[0], [f])[0])))
        elif action == "delete" and on_key:
            self._push(DeleteGainKeys(cs, names, [f]))
        elif action == "delete_all" and any(cs.has_gain_keys(n) for n in names):
            self._push(DeleteGainKeys(cs, names))

    def _push(self, command) -> None:
        try:
            self.session.undo.push(command)
        except (KeyError, ValueError) as exc:  # refused by core: nothing changed
            log.warning("gain edit refused: %s", exc)
            if hasattr(self.session, "message"):
                self.session.message.emit(f"gain edit refused: {exc}")
        self._show_doc_gains()

    # ------------------------------------------------------------------ state in
    def set_curve_names(self, names: list[str]) -> None:
        """One gain row per AU (bilateral AUs once) in the catalogue's order. The rows of AUs
        shown already are kept (set_gains shows the new values): switching shots builds only the
        rows of AUs the last shot lacked, not ~25 rows of widgets each time."""
        if self.session is None:
            self._find_session()
        aus = sorted({int(m.group(1)) for n in names if (m := _AU_RE.match(n))})
        self.gains_empty.setVisible(not aus)
        if aus == list(self.rows):
            return
        old, self.rows = self.rows, {}
        for au, row in old.items():
            self.gains_layout.removeWidget(row)
            if au not in aus:
                row.setParent(None)
                row.deleteLater()  # unparented it would live on: a switch leaked the rows it dropped
        for au in aus:
            row = old.get(au)
            if row is None:
                facs, friendly = self.catalogue.get(au, (f"AU{au}", f"AU{au}"))
                row = GainRow(au, friendly, facs)
                row.changed.connect(self._row_changed)
                row.keyRequested.connect(self._key_requested)
            self.gains_layout.addWidget(row)
            self.rows[au] = row

    def set_gains(self, gain_of: Callable[[int], float]) -> None:
        """Show the gains: with a bound session core's gain at the current frame (keyed or
        static), else `gain_of(au)`."""
        if self._show_doc_gains():
            return
        for au, row in self.rows.items():
            row.set_gain(gain_of(au))

    def set_settings(self, settings: dict | None) -> None:
        """Show a shot's render settings (missing keys: defaults)."""
        self.settings = {**RENDER_DEFAULTS, **(settings or {})}
        for combo, key in ((self.mode, "mode"), (self.blend, "blend"), (self.colour, "colour"),
                           (self.restore, "restore")):
            combo.blockSignals(True)
            i = combo.findData(self.settings[key])
            if i < 0:
                combo.addItem(f"{self.settings[key]} (not installed)", self.settings[key])
                i = combo.count() - 1
            combo.setCurrentIndex(i)
            combo.blockSignals(False)
        for s, key in ((self.restore_strength, "restore_strength"), (self.shape_strength, "identity_strength")):
            s.blockSignals(True)
            s.setValue(int(round(float(self.settings[key]) * 100)))
            s.blockSignals(False)
        for m, c in self.mask_checks.items():
            c.blockSignals(True)
            c.setChecked(bool(self.settings[m]))
            c.blockSignals(False)
        self._refresh_warnings()

    def set_shot_info(self, text: str, tip: str = "") -> None:
        self.shot_label.setText(text)
        self.shot_label.setToolTip(tip)

    # ------------------------------------------------------------------ warnings
    def external_warnings(self) -> list[str]:
        """The warnings from core shown now (see set_external_warnings)."""
        return list(self._external)

    def set_external_warnings(self, warnings: list[str]) -> None:
        """Warnings from core (CurveSet.warnings(), identity consent, ...), merged with the panel's own."""
        self._external = list(warnings)
        self._refresh_warnings()

    def warnings(self) -> list[str]:
        out = list(getattr(self, "_external", []))
        model = self.settings.get("restore", "off")
        if model != "off" and not dict(self.models).get(model, False):
            out.append(f"restoration model {model!r} is not installed: the render runs without it "
                       "(facsimile models install DIR)")
        for au, row in self.rows.items():
            g = row.spin.value()
            said = any((m := _AU_PREFIX.match(w)) and int(m.group(1)) == au and "gain" in w for w in out)
            if g > GAIN_WARN and not said:
                out.append(f"{row.name.text()} (AU{au}) gain {g:.2f} is above {GAIN_WARN}: may look non-physiological")
        return out

    def _refresh_warnings(self) -> None:
        w = self.warnings()
        self.warn_box.setText("\n".join(f"⚠ {x}" for x in w))
        self.warn_box.setVisible(bool(w))
