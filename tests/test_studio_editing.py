"""Studio graph editor behaviour animators rely on (offscreen, real core objects and a real H.264
plate as tests.test_studio): an undo or a curve swap keeps the view, playback follows the clock,
a key drop never eats another key, paste goes where it is told, drags stay within what is drawn,
keys in frames with no face drag by the mouse, and K stops playback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from tests.test_studio import (  # noqa: E402
    make_plate,
    make_project,
    open_window,
)


@pytest.fixture(scope="module")
def plate(tmp_path_factory) -> Path:
    return make_plate(tmp_path_factory.mktemp("plate") / "astro.mp4", n=40)


@pytest.fixture
def win(qtbot, tmp_path, plate):
    with open_window(qtbot, make_project(tmp_path, plate)) as w:
        yield w


def _swap_curves(win) -> None:
    """What a filter or neutral change does: one undo step replacing the face's CurveSet."""
    from core.curves import CurveSet
    from core.project.commands import SetCurveSet

    s = win.session
    cs = s.doc.cs
    new = CurveSet.from_parts(cs.meta_dict(), cs.arrays())
    for name in new.names:
        new.set_base(name, new.base_extracted[name] * 0.5)
    s.undo.push(SetCurveSet(s.shot, s.track, new))


def test_a_curve_swap_and_its_undo_keep_the_graph_editors_view(win):
    ed, s = win.curves, win.session
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

    _swap_curves(win)
    assert ed.doc is s.doc and ed.doc.cs is s.shot.curves[s.track]
    same_view()
    # the lanes show the new curve
    np.testing.assert_allclose(ed.lanes["mouth"].drawn_res["AU12L"], s.doc.cs.evaluate("AU12L"))
    win.undo()
    same_view()
    np.testing.assert_allclose(ed.lanes["mouth"].drawn_res["AU12L"], s.doc.cs.evaluate("AU12L"))
    win.redo()
    same_view()
    # a key the swap took away leaves the selection
    win.undo()
    win.undo()
    assert ed.selection == {} and not s.doc.has_key("AU12L", 10)


def test_playback_follows_the_clock_and_drops_frames_when_drawing_is_slow(win, qtbot):
    import time

    from core.media.playback import playback_frame

    assert playback_frame(0, 1.0, 25, 1, 0, 39) == 25
    assert playback_frame(30, 1.0, 25, 1, 0, 39) == 15  # loops in the range
    assert playback_frame(5, 0.4, 25, -2, 0, 39) == 25  # backwards at 2x
    s, tr = win.session, win.transport
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


def test_scrubbing_reads_each_aus_curves_once_and_keyed_gains_follow_the_frame(win, monkeypatch):
    from core.project.commands import SetGainKey

    s, ins = win.session, win.inspector
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

