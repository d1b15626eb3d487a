"""The inspector: per-AU gains with people's names, render settings, and warnings where the
user looks (top of the panel, amber).

Gains are core CurveSet gains (0..2, warning above 1.5), changed through the CurveDoc so they
undo; a bilateral AU's slider drives its L and R curves too. Render settings are the shot's
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
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)

_AU_RE = re.compile(r"^AU(\d+)([LR]?)$")
GAIN_WARN = 1.5

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
    """'Smile  AU12' label, slider 0..2, spin box; emits changed(au_number, gain) on release/edit."""

    changed = Signal(int, float)
    preview = Signal(int, float)

    def __init__(self, au: int, label: str, facs: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.au = au
        self.name = QLabel(f"{label}")
        self.name.setToolTip(f"AU{au}: {facs}")
        self.name.setFixedWidth(130)  # fixed columns: the sliders line up
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
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.name)
        lay.addWidget(num)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.spin)
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
        self.name.setStyleSheet("color: #ffb347;" if g > GAIN_WARN else "")

    def set_gain(self, g: float) -> None:
        for w in (self.slider, self.spin):
            w.blockSignals(True)
        self.slider.setValue(int(round(g * 100)))
        self.spin.setValue(g)
        for w in (self.slider, self.spin):
            w.blockSignals(False)
        self._warn(g)


class Inspector(QWidget):
    """Gains, render settings and warnings of the current shot."""

    gainChanged = Signal(int, float)  # AU number, gain
    settingsChanged = Signal(dict)  # the full render settings after a change

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.catalogue = au_catalogue()
        self.rows: dict[int, GainRow] = {}
        self.settings = dict(RENDER_DEFAULTS)
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

    # ------------------------------------------------------------------ state in
    def set_curve_names(self, names: list[str]) -> None:
        """Build one gain row per AU (bilateral AUs once) in the catalogue's order."""
        for row in self.rows.values():
            row.setParent(None)
        self.rows = {}
        aus = sorted({int(m.group(1)) for n in names if (m := _AU_RE.match(n))})
        self.gains_empty.setVisible(not aus)
        for au in aus:
            facs, friendly = self.catalogue.get(au, (f"AU{au}", f"AU{au}"))
            row = GainRow(au, friendly, facs)
            row.changed.connect(self.gainChanged.emit)
            self.gains_layout.addWidget(row)
            self.rows[au] = row

    def set_gains(self, gain_of: Callable[[int], float]) -> None:
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

    def set_shot_info(self, text: str) -> None:
        self.shot_label.setText(text)

    # ------------------------------------------------------------------ warnings
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
            text = f"AU{au}"
            if g > GAIN_WARN and not any(w.startswith(text) and "gain" in w for w in out):
                out.append(f"{row.name.text()} (AU{au}) gain {g:.2f} is above {GAIN_WARN}: may look non-physiological")
        return out

    def _refresh_warnings(self) -> None:
        w = self.warnings()
        self.warn_box.setText("\n".join(f"⚠ {x}" for x in w))
        self.warn_box.setVisible(bool(w))
