"""Studio graph editor behaviour animators rely on (offscreen, real core objects and a real H.264
plate as tests.test_studio): an undo or a curve swap keeps the view, playback follows the clock,
a key drop never eats another key, paste goes where it is told, drags stay within what is drawn,
keys in frames with no face drag by the mouse, and K stops playback."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from tests.test_studio import (  # noqa: E402
    _send,
    drag,
    key_widget_pos,
    view_widget_pos,
)


def _swap_curves(studio_win) -> None:
    """What a filter or neutral change does: one undo step replacing the face's CurveSet."""
    from core.curves import CurveSet
    from core.project.commands import SetCurveSet

    s = studio_win.session
    cs = s.doc.cs
    new = CurveSet.from_parts(cs.meta_dict(), cs.arrays())
    for name in new.names:
        new.set_base(name, new.base_extracted[name] * 0.5)
    s.undo.push(SetCurveSet(s.shot, s.track, new))


def test_a_curve_swap_and_its_undo_keep_the_graph_editors_view(studio_win):
    ed, s = studio_win.curves, studio_win.session
    s.doc.add_keys(["AU12L"], 10)
    ed.set_visible(["AU12L", "AU12R"])
    ed._fit(5, 20, 0, 3)
    ed.select({"AU12L": {10}})
    lanes = dict(ed.lanes)
    x0 = ed._x_range()
    y0 = ed.lanes["mouth"].box.viewRange()[1]

    def same_view() -> None:
        assert [n for n, v in ed.visible.items() if v] == ["AU12L", "AU12R"]
        assert ed.selection == {"AU12L": {10}}
        np.testing.assert_allclose(ed._x_range(), x0)
        np.testing.assert_allclose(ed.lanes["mouth"].box.viewRange()[1], y0)
        assert ed.lanes == lanes  # data set on the lanes there are, not ~90 new plot items

    _swap_curves(studio_win)
    assert ed.doc is s.doc and ed.doc.cs is s.shot.curves[s.track]
    same_view()
    # the lanes show the new curve
    np.testing.assert_allclose(ed.lanes["mouth"].drawn_res["AU12L"], s.doc.cs.evaluate("AU12L"))
    studio_win.undo()
    same_view()
    np.testing.assert_allclose(ed.lanes["mouth"].drawn_res["AU12L"], s.doc.cs.evaluate("AU12L"))
    studio_win.redo()
    same_view()
    # a key the swap took away leaves the selection
    studio_win.undo()
    studio_win.undo()
    assert ed.selection == {} and not s.doc.has_key("AU12L", 10)


def test_playback_follows_the_clock_and_drops_frames_when_drawing_is_slow(studio_win, qtbot):
    import time

    from core.media.playback import playback_frame

    assert playback_frame(0, 1.0, 25, 1, 0, 39) == 25
    assert playback_frame(30, 1.0, 25, 1, 0, 39) == 15  # loops in the range
    assert playback_frame(5, 0.4, 25, -2, 0, 39) == 25  # backwards at 2x
    s, tr = studio_win.session, studio_win.transport
    assert float(tr.fps) == 25
    s.set_frame(0)
    slow = []

    def draw_slowly(_f: int) -> None:  # a UI that takes 80 ms per frame: 12 frames a second
        slow.append(_f)
        time.sleep(0.08)

    s.frameChanged.connect(draw_slowly)
    try:
        t0 = time.perf_counter()
        tr.toggle_play()
        qtbot.wait(1000)
        label = tr.speed_label.text()
        tr.stop()
        dt = time.perf_counter() - t0
    finally:
        s.frameChanged.disconnect(draw_slowly)
    # the plate's 25 frames a second, not one frame per tick: frames in between were dropped
    assert s.frame >= 0.85 * 25 * dt - 2, (s.frame, dt)
    assert len(slow) < s.frame  # ... and some were never drawn
    assert "fps" in label and tr.achieved_fps is not None and tr.achieved_fps < 20
    assert tr.speed_label.text() == ""


def test_scrubbing_reads_each_aus_curves_once_and_keyed_gains_follow_the_frame(studio_win, monkeypatch):
    from core.project.commands import SetGainKey

    s, ins = studio_win.session, studio_win.inspector
    cs = s.doc.cs
    s.undo.push(SetGainKey(cs, ["AU12L", "AU12R"], 5, 0.5))
    s.undo.push(SetGainKey(cs, ["AU12L", "AU12R"], 25, 1.5))
    calls = []
    real = type(s.doc).names_for_au
    monkeypatch.setattr(type(s.doc), "names_for_au", lambda self, au: calls.append(au) or real(self, au))
    for f in range(0, 30):
        s.set_frame(f)
    assert len(calls) <= len(ins.rows)  # not 9 AUs x 30 frames
    s.set_frame(15)
    assert ins.rows[12].spin.value() == pytest.approx(1.0) and ins.rows[12].keyed
    s.set_frame(25)
    assert ins.rows[12].spin.value() == pytest.approx(1.5) and ins.rows[12].on_key
    assert ins.rows[1].spin.value() == pytest.approx(1.0) and not ins.rows[1].keyed


def _keys_of(doc, name: str) -> dict[int, float]:
    return {int(f): doc.key(name, int(f)).value for f in doc.key_frames(name)}


def test_a_dropped_key_stops_short_of_another_key_and_passes_over_keys_safely(studio_win, qtbot):
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtTest import QTest

    ed, doc, s = studio_win.curves, studio_win.session.doc, studio_win.session
    ed.set_visible(["AU12L"])
    ed.tree.clearSelection()
    doc.add_keys(["AU12L"], 10)
    doc.move_keys({"AU12L": [10]}, 0, 0.3)
    doc.add_keys(["AU12L"], 20)
    ed._fit(0, 30, 0, 5)
    qtbot.wait(10)
    before = _keys_of(doc, "AU12L")
    v = float(doc.result_values("AU12L", np.array([10]))[0])
    vp = ed.glw.viewport()
    # dropped on the other key's frame: it stops on the frame before, the other key is kept
    drag(vp, key_widget_pos(ed, "AU12L", 10), view_widget_pos(ed, "AU12L", 20.0, v), steps=10)
    keys = _keys_of(doc, "AU12L")
    assert sorted(keys) == [19, 20] and keys[20] == before[20]
    assert ed.selection == {"AU12L": {19}}
    studio_win.undo()
    assert _keys_of(doc, "AU12L") == before
    # passing over the other key in one drag and coming back leaves both keys
    u0 = s.undo.index
    _send(vp, QEvent.MouseButtonPress, key_widget_pos(ed, "AU12L", 10), Qt.LeftButton, Qt.LeftButton)
    for f in [*range(11, 25), *range(24, 9, -1)]:
        QTest.qWait(12)
        _send(vp, QEvent.MouseMove, view_widget_pos(ed, "AU12L", f, v), Qt.NoButton, Qt.LeftButton)
    _send(vp, QEvent.MouseButtonRelease, view_widget_pos(ed, "AU12L", 10, v), Qt.LeftButton, Qt.NoButton)
    assert sorted(_keys_of(doc, "AU12L")) == [10, 20] and _keys_of(doc, "AU12L")[20] == before[20]
    assert s.undo.index <= u0 + 1
    # past the other key, the key lands beyond it
    drag(vp, key_widget_pos(ed, "AU12L", 10), view_widget_pos(ed, "AU12L", 23.0, v), steps=10)
    assert sorted(_keys_of(doc, "AU12L")) == [20, 23]


def test_drop_offset_stops_short_of_every_curves_fixed_keys():
    from core.curves import drop_offset

    assert drop_offset({"a": [10]}, {"a": [20]}, 10) == 9
    assert drop_offset({"a": [10]}, {"a": [20]}, 12) == 12
    assert drop_offset({"a": [10]}, {"a": [5]}, -5) == -4
    assert drop_offset({"a": [10, 11]}, {"a": [20], "b": [13]}, 9) == 8  # 11+9 lands on 20
    assert drop_offset({"a": [10], "b": [3]}, {"a": [], "b": [8, 7]}, 5) == 3
    assert drop_offset({"a": [10]}, {"a": [11]}, 1) == 0


def _choose(ed, names: list[str]) -> None:
    from PySide6.QtCore import Qt

    for i in range(ed.tree.topLevelItemCount()):
        g = ed.tree.topLevelItem(i)
        for j in range(g.childCount()):
            it = g.child(j)
            it.setSelected(it.data(0, Qt.UserRole) in names)


def test_paste_goes_onto_the_chosen_curves_and_says_what_it_could_not_do(studio_win):
    ed, doc, s = studio_win.curves, studio_win.session.doc, studio_win.session
    doc.add_keys(["AU01"], 3)
    doc.add_keys(["AU01"], 5)
    doc.add_keys(["AU02"], 4)
    ed.select({"AU01": {3, 5}})
    ed.copy()
    # one copied curve onto every chosen curve
    _choose(ed, ["AU04", "AU05", "AU06"])
    s.set_frame(10)
    ed.paste()
    for n in ("AU04", "AU05", "AU06"):
        assert list(doc.key_frames(n)) == [10, 12], n
    assert list(doc.key_frames("AU01")) == [3, 5]
    assert ed.selection == {"AU04": {10, 12}, "AU05": {10, 12}, "AU06": {10, 12}}
    # N copied onto N chosen, in order
    ed.select({"AU01": {3, 5}, "AU02": {4}})
    ed.copy()
    _choose(ed, ["AU25", "AU26"])
    s.set_frame(20)
    ed.paste()
    assert list(doc.key_frames("AU25")) == [20, 22] and list(doc.key_frames("AU26")) == [21]
    # counts that do not match: onto the same names, and the status bar says so
    _choose(ed, ["AU25", "AU26", "AU04"])
    s.set_frame(30)
    ed.paste()
    assert list(doc.key_frames("AU01")) == [3, 5, 30, 32] and list(doc.key_frames("AU02")) == [4, 31]
    assert "2 curves copied, 3 chosen" in studio_win.status_msg.text()
    # past the end of the shot (frames 0..39): the keys beyond it are left out, and said so
    ed.tree.clearSelection()
    s.set_frame(38)
    ed.paste()
    assert list(doc.key_frames("AU01")) == [3, 5, 30, 32, 38] and list(doc.key_frames("AU02")) == [4, 31, 39]
    assert "1 pasted key past the shot's frames 0-39 left out" in studio_win.status_msg.text()


def test_paste_plan_and_clipboard_for():
    from core.curves import Clipboard, Key, clipboard_for, paste_plan

    assert paste_plan(["a"], ["x", "y"]) == ({"a": ["x", "y"]}, "")
    assert paste_plan(["a", "b"], ["x", "y"]) == ({"a": ["x"], "b": ["y"]}, "")
    assert paste_plan(["a", "b"], []) == ({"a": ["a"], "b": ["b"]}, "")
    plan, note = paste_plan(["a", "b"], ["x"])
    assert plan == {"a": ["a"], "b": ["b"]} and "2 curves copied, 1 chosen" in note
    cb = Clipboard({"a": (Key(0, 1.0), Key(5, 2.0))})
    out, dropped = clipboard_for(cb, {"a": ["x", "y"]}, 8, 0, 10)
    assert out.curves == {"x": (Key(0, 1.0),), "y": (Key(0, 1.0),)} and dropped == 2


def test_k_in_the_graph_stops_playback_and_keys_only_when_stopped(studio_win, qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    ed, doc, tr = studio_win.curves, studio_win.session.doc, studio_win.transport

    def nkeys() -> int:
        return sum(len(doc.key_frames(n)) for n in doc.names())

    ed.tree.clearSelection()
    ed.glw.setFocus()
    qtbot.waitUntil(lambda: ed.glw.hasFocus(), timeout=2000)
    QTest.keyClick(ed.glw, Qt.Key_L)
    qtbot.wait(100)
    assert tr.playing
    QTest.keyClick(ed.glw, Qt.Key_K)
    assert not tr.playing and nkeys() == 0
    QTest.keyClick(ed.glw, Qt.Key_K)
    assert nkeys() == len([n for n, v in ed.visible.items() if v]) > 0


def test_a_key_dragged_past_the_clamp_stays_within_what_is_drawn(studio_win, qtbot):
    ed, doc = studio_win.curves, studio_win.session.doc
    ed.set_visible(["AU12L"])
    ed.tree.clearSelection()
    doc.add_keys(["AU12L"], 10)
    ed.select({"AU12L": {10}})
    ed._fit(0, 30, -1, 8)  # values are fitted in the lanes with selected keys
    qtbot.wait(10)
    vp = ed.glw.viewport()

    def res() -> float:
        return float(doc.result_values("AU12L", np.array([10]))[0])

    def unclamped() -> float:
        return float(doc.base_values("AU12L", np.array([10]))[0]) + doc.key("AU12L", 10).value

    drag(vp, key_widget_pos(ed, "AU12L", 10), view_widget_pos(ed, "AU12L", 10, 7.5), steps=10)
    assert res() == pytest.approx(5.0) and unclamped() == pytest.approx(5.0, abs=1e-6)  # no hidden 7.5
    # back down by 1.0 from where the key is drawn: it moves at once
    ed._fit(0, 30, 3, 5.5)
    px = abs(view_widget_pos(ed, "AU12L", 10, 4.0).y() - view_widget_pos(ed, "AU12L", 10, 3.0).y())
    drag(vp, key_widget_pos(ed, "AU12L", 10), view_widget_pos(ed, "AU12L", 10, 4.0), steps=10)
    assert res() == pytest.approx(4.0, abs=max(0.05, 1.5 / px))  # whole-pixel mouse positions
    # and not below 0
    ed._fit(0, 30, -1, 5)
    drag(vp, key_widget_pos(ed, "AU12L", 10), view_widget_pos(ed, "AU12L", 10, -0.8), steps=10)
    assert res() == pytest.approx(0.0) and unclamped() == pytest.approx(0.0, abs=1e-6)


def test_a_key_with_no_face_is_drawn_hollow_at_its_value_and_drags_by_the_mouse(studio_win, qtbot):
    ed, s = studio_win.curves, studio_win.session
    cs = s.doc.cs
    base = cs.base_extracted["AU12L"].copy()
    base[18:24] = np.nan  # no face on frames 18..23
    cs.set_base("AU12L", base)
    cs.set_gain("AU12L", 0.4)
    doc = s.doc
    ed.set_visible(["AU12L"])
    ed.tree.clearSelection()
    doc.add_keys(["AU12L"], 20)
    ed.select({"AU12L": {20}})
    ed._fit(10, 30, -1, 6)
    ed.select({})
    qtbot.wait(10)
    lane = ed.lanes["mouth"]
    assert not np.isfinite(doc.result_values("AU12L", np.array([20]))[0])
    assert lane.nf_keys.isVisible() and list(lane.nf_keys.data["x"]) == [20.0]
    assert float(lane.nf_keys.data["y"][0]) == doc.key("AU12L", 20).value == 0.0
    # mouse positions are whole pixels: allow a pixel and a half of value (the lane's height varies)
    px = abs(view_widget_pos(ed, "AU12L", 20, 3.0).y() - view_widget_pos(ed, "AU12L", 20, 2.0).y())
    tol = max(0.05, 1.5 / px)
    drag(ed.glw.viewport(), key_widget_pos(ed, "AU12L", 20), view_widget_pos(ed, "AU12L", 20, 3.0), steps=10)
    assert doc.key("AU12L", 20).value == pytest.approx(3.0, abs=tol)  # by the drag, not by 1/gain (7.5)
    assert ed.selection == {"AU12L": {20}} and list(lane.sel_keys.data["y"]) == pytest.approx([3.0], abs=tol)
    ed.select({})
    assert float(lane.nf_keys.data["y"][0]) == pytest.approx(3.0, abs=tol)
