"""Studio inspector, keyable AU gains (offscreen): the key button and the right-click menu set
and delete gain keys at the time cursor, the slider follows the cursor once a gain is keyed
and edits the key on the current frame, keyed gains are marked, everything undoes, and the
keys are saved with the project. Real core objects and a real H.264 plate (tests.test_studio)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")


def _frames_of(cs, name: str) -> list[tuple[int, float]]:
    c = cs.gain_keys.get(name)
    return [] if c is None else [(k.frame, round(k.value, 6)) for k in c.keys]


def _drag_slider(row, value: float) -> None:
    """A slider gesture: press, move, release (one edit on release)."""
    row.slider.setSliderDown(True)
    row.slider.setValue(int(round(value * 100)))
    row.slider.setSliderDown(False)  # emits sliderReleased


def test_rows_have_friendly_names_facs_numbers_and_key_buttons(studio_win):
    ins = studio_win.inspector
    assert ins.session is studio_win.session  # bound to the window's session: follows its time cursor
    assert sorted(ins.rows) == [1, 2, 4, 5, 6, 12, 25, 26, 45]
    row = ins.rows[12]
    assert "AU12" in row.name.toolTip()
    assert row.key_btn.text() == "◇" and not row.keyed and row.spin.styleSheet() == ""
    # no keys: the slider is the static gain, exactly as before
    row.spin.setValue(0.7)
    cs = studio_win.session.doc.cs
    assert cs.gain("AU12L") == cs.gain("AU12R") == pytest.approx(0.7) and not cs.gain_keys
    studio_win.session.set_frame(20)
    assert row.spin.value() == pytest.approx(0.7)
    studio_win.undo()
    assert cs.gain("AU12L") == 1.0 and row.spin.value() == pytest.approx(1.0)


def test_key_button_slider_and_time_cursor(studio_win):
    s = studio_win.session
    cs = s.doc.cs
    ins = studio_win.inspector
    row = ins.rows[12]
    row.spin.setValue(0.8)  # static gain 0.8
    base = cs.evaluate("AU12L").copy()
    s.set_frame(10)
    row.key_btn.click()  # key the current gain on frame 10, both sides; the result does not jump
    assert _frames_of(cs, "AU12L") == _frames_of(cs, "AU12R") == [(10, 0.8)]
    np.testing.assert_allclose(cs.evaluate("AU12L"), base)
    assert row.keyed and row.on_key and row.key_btn.text() == "◆"
    assert row.spin.styleSheet() != ""  # a keyed gain is visibly marked
    # on another frame the slider edits (creates) the key there: one undo step per gesture
    s.set_frame(30)
    assert row.keyed and not row.on_key and row.key_btn.text() == "◇" and row.spin.styleSheet() != ""
    n = s.undo.index
    _drag_slider(row, 1.8)
    assert s.undo.index == n + 1
    assert _frames_of(cs, "AU12L") == _frames_of(cs, "AU12R") == [(10, 0.8), (30, 1.8)]
    assert cs.gain("AU12L") == pytest.approx(0.8)  # the static gain is left alone
    assert row.on_key
    # the slider follows the time cursor: it shows core's gain at each frame
    for f in (0, 10, 17, 20, 30, 39):
        s.set_frame(f)
        assert row.spin.value() == pytest.approx(float(cs.gain_at("AU12L", [f])[0]), abs=0.006)
        assert row.on_key == (f in (10, 30))
    # the rendered values use the animated gain (the preview and renders evaluate core's CurveSet)
    g = cs.gain_at("AU12L", cs.all_frames())
    assert g[10] == pytest.approx(0.8) and g[35] == pytest.approx(1.8) and 0.8 < g[20] < 1.8
    np.testing.assert_allclose(cs.evaluate("AU12L"), np.clip(base / 0.8 * g, 0, 5))
    # keyed gains above 1.5 warn, with the frames
    assert any("keyed gain" in w and "at frames" in w for w in ins.warnings())
    assert ins.warn_box.isVisibleTo(ins)
    # the key button on a key frame deletes that key; undo brings it back
    s.set_frame(30)
    row.key_btn.click()
    assert _frames_of(cs, "AU12L") == [(10, 0.8)] and not row.on_key
    studio_win.undo()
    assert _frames_of(cs, "AU12L") == [(10, 0.8), (30, 1.8)] and row.on_key
    # undo everything: the static gain 1.0 of the file, no keys
    while s.undo.can_undo:
        studio_win.undo()
    assert cs.gain_keys == {} and cs.gain("AU12L") == 1.0
    assert not row.keyed and row.key_btn.text() == "◇" and row.spin.value() == pytest.approx(1.0)


def test_context_menu_and_save_round_trip(studio_win, studio_project):
    from core.project import Project

    s = studio_win.session
    cs = s.doc.cs
    row = studio_win.inspector.rows[45]  # AU45L / AU45R
    s.set_frame(5)
    menu = row.menu()
    texts = [a.text() for a in menu.actions()]
    assert texts[0] == "Set gain key at current frame"
    assert not menu.actions()[1].isEnabled() and not menu.actions()[2].isEnabled()
    menu.actions()[0].trigger()
    s.set_frame(25)
    row.spin.setValue(0.3)
    assert _frames_of(cs, "AU45L") == [(5, 1.0), (25, 0.3)]
    menu = row.menu()
    assert menu.actions()[1].isEnabled() and menu.actions()[2].isEnabled()
    assert studio_win.save()  # saved: closing asks nothing
    loaded = Project.load(studio_project).shots[0].curves[0]
    assert _frames_of(loaded, "AU45R") == [(5, 1.0), (25, 0.3)]
    np.testing.assert_array_equal(loaded.evaluate("AU45R"), cs.evaluate("AU45R"))
    menu.actions()[2].trigger()  # delete all: back to the static gain
    assert "AU45L" not in cs.gain_keys and not row.keyed and row.spin.value() == pytest.approx(1.0)
    studio_win.undo()
    assert _frames_of(cs, "AU45L") == [(5, 1.0), (25, 0.3)] and row.on_key
    assert studio_win.save()
