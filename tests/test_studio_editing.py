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

from tests.test_studio import make_plate, make_project, open_window  # noqa: E402


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
