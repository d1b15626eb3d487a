"""Studio graph editor, layers and curve tools (offscreen): the layer picker chooses where keys go,
layers are added, muted, weighted, baked and deleted, and the context menu's tools (smooth,
reduce keys, Butterworth on the extracted curve, bake to keys, reset to extracted) are core
commands: one undo step each. Real core objects and a real H.264 plate (tests.test_studio)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")


def _picker(ed) -> list[str]:
    return [ed.layer_box.itemText(i) for i in range(ed.layer_box.count())]


def test_layers_from_the_picker_and_its_menu(studio_win):
    ed, doc, cs = studio_win.curves, studio_win.session.doc, studio_win.session.doc.cs
    assert _picker(ed) == ["Edit"] and doc.layer == "Edit"
    doc.add_keys(["AU12L"], 10)
    doc.move_keys({"AU12L": [10]}, 0, 0.5)
    assert [lay.name for lay in cs.layers] == ["Edit"]
    ed._layer_op("new", "override")
    assert doc.layer == "Override 1" and _picker(ed) == ["Edit", "Override 1 (override)"]
    assert ed.layer_box.currentText().startswith("Override 1")
    doc.add_keys(["AU12L"], 20)
    assert list(doc.key_frames("AU12L")) == [20] and len(cs.layer("Edit").curves["AU12L"]) == 1
    # the picker switches the layer the keys are drawn and set on
    ed.layer_box.activated.emit(0)
    assert doc.layer == "Edit" and list(doc.key_frames("AU12L")) == [10]
    ed.layer_box.activated.emit(1)
    before = cs.evaluate("AU12L").copy()
    ed._layer_op("mute")
    assert cs.layer("Override 1").muted and "(muted)" in _picker(ed)[1] and ed.act_mute.isChecked()
    assert not np.allclose(cs.evaluate("AU12L"), before)
    studio_win.session.undo.undo()
    assert not cs.layer("Override 1").muted and _picker(ed)[1] == "Override 1 (override)"
    doc.set_layer_weight(0.25)
    assert cs.layer("Override 1").weight == 0.25
    # bake the top layer: the base takes what was seen, the layers go, the edit layer is next
    seen = cs.evaluate("AU12L").copy()
    ed._layer_op("bake")
    assert cs.layers == [] and _picker(ed) == ["Edit"] and doc.layer == "Edit"
    np.testing.assert_allclose(cs.evaluate("AU12L"), seen, atol=1e-12)
    studio_win.session.undo.undo()
    assert [lay.name for lay in cs.layers] == ["Edit", "Override 1"] and _picker(ed)[1] == "Override 1 (override)"
    ed.layer_box.activated.emit(1)
    ed._layer_op("delete")
    assert [lay.name for lay in cs.layers] == ["Edit"] and doc.layer == "Edit"


def test_curve_tools_are_one_undo_step_each(studio_win, qtbot):
    ed, doc, cs = studio_win.curves, studio_win.session.doc, studio_win.session.doc.cs
    undo = studio_win.session.undo
    ed.set_visible(["AU01"])
    ed.tree.clearSelection()
    extracted = cs.base_extracted["AU01"].copy()
    # bake to keys: the curve as it reads, keyed on the override layer 'Baked', which becomes active;
    # a background job (a 1000-frame shot froze the window for 13 s)
    ed.select({})
    ed.bake_to_keys()
    assert studio_win.job is not None and studio_win.job.name == "Bake to keys"
    qtbot.waitUntil(lambda: studio_win.job is None, timeout=30000)
    assert doc.layer == "Baked" and "Baked (override)" in _picker(ed)
    assert len(doc.key_frames("AU01")) >= 3
    np.testing.assert_allclose(cs.evaluate("AU01"), np.clip(extracted, 0, 5), atol=0.011)
    n_before = len(doc.key_frames("AU01"))
    ed.reduce_keys(0.2)
    assert 2 <= len(doc.key_frames("AU01")) < n_before
    undo.undo()
    assert len(doc.key_frames("AU01")) == n_before
    frames = list(doc.key_frames("AU01"))
    ed.select({"AU01": set(frames[1:-1])})
    keyed = [doc.key("AU01", f).value for f in frames]
    ed.smooth_selected()
    assert [doc.key("AU01", f).value for f in frames] != keyed
    undo.undo()
    # a Butterworth pass on the extracted curve (kept through a filter change, see core tests)
    ed.filter_base(1.0)
    assert not np.allclose(cs.base["AU01"], extracted)
    assert np.abs(np.diff(cs.base["AU01"], 2)).max() < np.abs(np.diff(extracted, 2)).max()
    ed.reset_to_extracted()
    np.testing.assert_array_equal(cs.base["AU01"], extracted)
    assert "AU01" not in cs.layer("Baked").curves
    undo.undo()
    assert "AU01" in cs.layer("Baked").curves
    # undoing the bake takes its layer away: keys set next go on the edit layer, not on a new
    # additive layer that was still called 'Baked'
    while any(lay.name == "Baked" for lay in cs.layers):
        undo.undo()
    assert doc.layer == "Edit" and not any(t.startswith("Baked") for t in _picker(ed))
    doc.add_keys(["AU01"], 5)
    assert [lay.name for lay in cs.layers] == ["Edit"]


def test_a_second_face_is_picked_for_editing(studio_win):
    """Nothing in the studio called Session.set_track: a shot's second face could not be edited."""
    from core.project.commands import SetCurveSet

    s, ed = studio_win.session, studio_win.curves
    assert not ed.face_box.isVisibleTo(ed)  # one face: no picker
    other = s.shot.curves[0].__class__(s.shot.curves[0].names, s.shot.curves[0].frame_range)
    s.undo.push(SetCurveSet(s.shot, 3, other))
    s.set_shot(s.shot.id)
    assert ed.face_box.isVisibleTo(ed) and [ed.face_box.itemText(i) for i in range(ed.face_box.count())] == \
        ["Face 0", "Face 3"]
    ed.face_box.activated.emit(1)
    assert s.track == 3 and s.doc.cs is other and ed.face_box.currentText() == "Face 3"


def test_frame_all_frames_time_and_frame_selection_takes_keys_with_no_face(studio_win):
    """The Frame all button and A passed Qt's clicked/triggered(bool) as x_too=False, so they
    framed only values; F on keys in frames with no face raised 'Cannot set range [nan, nan]'
    into the event loop."""
    from PySide6.QtWidgets import QToolButton

    ed, doc, cs = studio_win.curves, studio_win.session.doc, studio_win.session.doc.cs
    first, last = doc.frame_range()
    button = next(b for b in ed.findChildren(QToolButton) if b.text() == "Frame all")
    action = next(a for a in ed.actions() if a.text() == "Frame all")
    for trigger in (button.click, action.trigger):
        ed._first_lane().box.setXRange(first + 10, first + 15, padding=0)
        trigger()
        x0, x1 = ed._first_lane().box.viewRange()[0]
        assert x0 <= first and x1 >= last, (trigger, x0, x1)
    cs.base["AU01"][5:9] = np.nan  # no face on those frames
    doc.add_keys(["AU01"], first + 6)
    assert np.isnan(doc.result_values("AU01", np.array([first + 6]))[0])
    y_before = ed._first_lane().box.viewRange()[1]
    ed.select({"AU01": {first + 6}})
    ed.frame_selection()  # raised
    x0, x1 = ed._first_lane().box.viewRange()[0]
    assert x0 < first + 6 < x1 and x1 - x0 < 10 and ed._first_lane().box.viewRange()[1] == y_before
