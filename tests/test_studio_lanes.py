"""The graph editor's plots are built once and reused (offscreen, real core objects and a real
H.264 plate as tests.test_studio): a Lanes/Overlay toggle shows the other mode's plots, built
while the app was idle, and a shot with other curves hands the lanes' plot items to its curves.
Either way the animator sees what a fresh editor would show (curves, colours, keys, ranges)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from PySide6.QtGui import QColor  # noqa: E402

from tests.test_studio import make_project, open_window  # noqa: E402

# the second shot: other AUs (no AU01/AU45 split, an AU15 and AU17), no gaze, fewer frames
OTHER = ["AU02", "AU04", "AU05", "AU06", "AU12L", "AU12R", "AU15", "AU17", "AU25", "pose_Rx", "pose_Rz"]


@pytest.fixture
def two_shots(tmp_path, studio_plate) -> Path:
    """make_project's shot sh010 (NAMES, frames 0..39) and sh020 (OTHER, frames 5..34, keyed)."""
    from core.curves import CurveSet
    from core.curves.curveset import Layer
    from core.curves.keys import Curve, Key
    from core.project.model import Project

    path = make_project(tmp_path, studio_plate)
    proj = Project.load(path)
    shot = proj.new_shot(proj.shots[0].plate_id, 5, 34, name="sh020")
    t = np.arange(30)
    base = {n: 2.0 + np.cos(t / (4.0 + i)) for i, n in enumerate(OTHER)}
    keys = {"AU15": Curve([Key(10, 0.5), Key(20, -0.25)])}
    shot.curves[0] = CurveSet(OTHER, (5, 34), base=base, layers=[Layer("Edit", curves=keys)])
    proj.save()
    return path


def _items(ed) -> set[int]:
    """Every curve item of both modes' plots, shown or spare."""
    return {id(it) for ls in ed._sets.values() for lane in ls.built.values() for it in lane.plot.listDataItems()}


def _looks(ed) -> dict:
    """What the animator sees of the shown plots: lanes, curves with colour, stacking, data; keys; ranges."""
    out = {"lanes": list(ed.lanes), "x": np.round(ed._x_range(), 6).tolist()}
    for ln, lane in ed.lanes.items():
        who = {id(it): (n, kind) for n, pair in lane.items.items() for kind, it in zip("br", pair, strict=True)}
        out[ln] = {
            "y": np.round(lane.box.viewRange()[1], 6).tolist(),
            "keys": sorted(zip(lane.hit_x.tolist(), np.round(lane.hit_y, 9).tolist(), strict=True)),
            "curves": [(n, base.opts["pen"].color().name(QColor.HexArgb), res.opts["pen"].color().name(),
                        base.isVisible(), res.isVisible(), list(res.xData), np.round(res.yData, 9).tolist())
                       for n, (base, res) in lane.items.items()],
            # which curve paints over which (Qt's stacking order of the plot's items)
            "stacking": [who[id(it)] for it in lane.box.childGroup.childItems() if id(it) in who],
        }
    return out


def _fresh_looks(qtbot, doc, mode: str) -> dict:
    """_looks of a new editor built for `doc` alone (the behaviour before plots were reused)."""
    from studio.curve_editor import CurveEditor

    fresh = CurveEditor()
    qtbot.addWidget(fresh)
    fresh.resize(900, 600)
    fresh.set_mode(mode)
    fresh.set_doc(doc)
    fresh.show()
    qtbot.waitExposed(fresh)
    looks = _looks(fresh)
    fresh.doc.changed.disconnect(fresh._doc_changed)
    return looks


def _wait_warm(qtbot, ed) -> None:
    """Until the hidden mode's plots are built for the doc's curves (idle steps)."""
    other = ed._sets["overlay" if ed.mode == "lanes" else "lanes"]
    qtbot.waitUntil(lambda: other.names == tuple(ed.doc.names()), timeout=10000)


def test_lanes_overlay_toggle_reuses_both_modes_plots_and_keeps_the_view(studio_win, qtbot):
    ed, s = studio_win.curves, studio_win.session
    lanes = dict(ed.lanes)
    _wait_warm(qtbot, ed)  # the overlay plot is built while idle, before the first toggle
    overlay = dict(ed._sets["overlay"].lanes)
    items = _items(ed)
    s.doc.add_keys(["AU12L", "AU25"], 12)
    ed.set_visible(["AU12L", "AU12R", "AU25", "AU01"])
    ed._fit(6, 30, 0, 3)
    ed.select({"AU12L": {12}})
    x0 = ed._x_range()

    ed.set_mode("overlay")
    assert list(ed.lanes) == ["curves"] and ed.lanes == overlay and ed.stack.currentWidget() is ed.glw
    assert _items(ed) == items  # no plot item was built
    np.testing.assert_allclose(ed._x_range(), x0)
    assert ed.selection == {"AU12L": {12}}
    assert [n for n, v in ed.visible.items() if v] == ["AU01", "AU12L", "AU12R", "AU25"]
    lane = ed.lanes["curves"]
    assert {n for n, (b, r) in lane.items.items() if r.isVisible()} == {"AU01", "AU12L", "AU12R", "AU25"}
    assert len(lane.sel_keys.data) == 1 and lane.sel_keys.data["x"][0] == 12

    # edits made in one mode show in the other: a moved key, another curve shown
    ed.move_selected(0, 0.5)
    ed.set_visible(["AU12L", "AU45L"])
    ed.set_mode("lanes")
    assert ed.lanes == lanes and _items(ed) == items
    np.testing.assert_allclose(ed._x_range(), x0)
    np.testing.assert_allclose(ed.lanes["mouth"].drawn_res["AU12L"], s.doc.cs.evaluate("AU12L"))
    assert ed.lanes["mouth"].items["AU12L"][1].isVisible() and not ed.lanes["mouth"].items["AU12R"][1].isVisible()
    assert ed.lanes["eyes"].items["AU45L"][1].isVisible()
    assert ed.selection == {"AU12L": {12}}
    # and each mode looks as a freshly built editor's would (values fitted, same x in view)
    ed.set_visible(None)
    for mode in ("overlay", "lanes"):
        ed.set_mode(mode)
        ed.select({})
        ed.frame_all()
        qtbot.wait(10)
        assert _looks(ed) == _fresh_looks(qtbot, s.doc, mode)


def test_a_shot_with_other_curves_takes_over_the_plot_items(two_shots, qtbot):
    with open_window(qtbot, two_shots) as win:
        ed, s = win.curves, win.session
        first, second = (sh.id for sh in s.project.shots)
        _wait_warm(qtbot, ed)
        win._pick_shot(second)
        _wait_warm(qtbot, ed)
        assert tuple(ed.doc.names()) == tuple(OTHER)
        labels = [ed.tree.topLevelItem(i).child(j).text(0) for i in range(ed.tree.topLevelItemCount())
                  for j in range(ed.tree.topLevelItem(i).childCount())]
        assert labels == [s.doc.label(n) for n in OTHER if n.startswith("AU")] + [
            s.doc.label(n) for n in OTHER if not n.startswith("AU")]
        assert _looks(ed) == _fresh_looks(qtbot, s.doc, "lanes")
        # back and forth: the items of both shots' curves exist already, none is built again
        items = _items(ed)
        for _ in range(2):
            for shot in (first, second):
                win._pick_shot(shot)
                assert _looks(ed) == _fresh_looks(qtbot, s.doc, "lanes")
                _wait_warm(qtbot, ed)
        assert _items(ed) == items
        assert set(ed.lanes) == {"brows", "eyes", "mouth", "head"}
        # the overlay, brought up to the new shot's curves at the toggle
        ed.set_mode("overlay")
        assert _looks(ed) == _fresh_looks(qtbot, s.doc, "overlay")
        win._pick_shot(first)
        assert _looks(ed) == _fresh_looks(qtbot, s.doc, "overlay")
        assert _items(ed) == items


def test_same_curves_in_other_frames_are_drawn_at_their_frames(two_shots, qtbot):
    """A curve whose values are those drawn already (same length, all zeros) but over other
    frames is still drawn again: at the new shot's frames."""
    from core.curves import CurveSet
    from core.project.model import Project

    proj = Project.load(two_shots)
    plate_id = proj.shots[0].plate_id
    for name, (f0, f1) in (("a", (0, 19)), ("b", (20, 39))):
        shot = proj.new_shot(plate_id, f0, f1, name=name)
        shot.curves[0] = CurveSet(["AU12", "AU25"], (f0, f1))
    proj.save()
    with open_window(qtbot, two_shots) as win:
        ed, s = win.curves, win.session
        for name, f0 in (("a", 0), ("b", 20)):
            win._pick_shot(s.find_shot(name).id)
            assert ed.lanes["mouth"].items["AU12"][1].xData[0] == f0


def test_the_inspector_keeps_the_gain_rows_of_aus_both_shots_have(two_shots, qtbot):
    with open_window(qtbot, two_shots) as win:
        s, insp = win.session, win.inspector
        first, second = (sh.id for sh in s.project.shots)
        rows = dict(insp.rows)
        win._pick_shot(second)
        assert list(insp.rows) == [2, 4, 5, 6, 12, 15, 17, 25]
        assert all(insp.rows[au] is rows[au] for au in insp.rows if au in rows)  # kept, not built again
        assert not any(r.parent() for au, r in rows.items() if au not in insp.rows)  # gone from the panel
        # in the panel in AU order, below the (hidden) note
        lay = insp.gains_layout
        shown = [lay.itemAt(i).widget() for i in range(lay.count())]
        assert shown == [insp.gains_empty] + list(insp.rows.values()) and insp.gains_empty.isHidden()
        # a gain edited on one shot shows as its own on the other
        s.doc.cs.set_gain("AU12L", 1.5)
        s.doc.cs.set_gain("AU12R", 1.5)
        win._pick_shot(first)
        assert insp.rows[12].spin.value() == pytest.approx(1.0)
        win._pick_shot(second)
        assert insp.rows[12].spin.value() == pytest.approx(1.5)


def _add_shots(path: Path, shots: dict[str, tuple[list[str], tuple[int, int], dict]]) -> None:
    """Add shots {name: (curve names, frames, keys {curve: [(frame, value)]})}; no names: no curves."""
    from core.curves import CurveSet
    from core.curves.curveset import Layer
    from core.curves.keys import Curve, Key
    from core.project.model import Project

    proj = Project.load(path)
    plate_id = proj.shots[0].plate_id
    for name, (names, (f0, f1), keys) in shots.items():
        shot = proj.new_shot(plate_id, f0, f1, name=name)
        if names:
            layers = [Layer("Edit", curves={n: Curve([Key(f, v) for f, v in k]) for n, k in keys.items()})]
            shot.curves[0] = CurveSet(names, (f0, f1), layers=layers)
    proj.save()


def test_a_quick_switch_and_back_lays_the_hidden_mode_out_again(two_shots, qtbot):
    """Overlay shown; a mouth-only shot, left before the idle build had filled the hidden lanes
    for it, then a shot with the first shot's curves: Lanes showed only the mouth lane (the
    lanes had been re-arranged but still said they were laid out for the first curves)."""
    _add_shots(two_shots, {"mouth": (["AU12", "AU25"], (0, 19), {})})
    with open_window(qtbot, two_shots) as win:
        ed, s = win.curves, win.session
        first = s.project.shots[0].id
        ed.set_mode("overlay")
        _wait_warm(qtbot, ed)
        win._pick_shot(s.find_shot("mouth").id)
        ed._warm_timer.stop()
        ed._warm_step()  # one idle step: the hidden lanes arranged for the mouth shot, not filled
        win._pick_shot(first)
        ed.set_mode("lanes")
        assert list(ed.lanes) == ["brows", "eyes", "mouth", "head"]
        ed.frame_all()
        assert _looks(ed) == _fresh_looks(qtbot, s.doc, "lanes")


def test_a_shot_without_curves_shows_no_lane_of_the_last_shot(two_shots, qtbot):
    """A shot with no curves after a mouth-only one showed the mouth lane, its curves and keys
    (a lane taken out of the layout but kept for later was still painted)."""
    _add_shots(two_shots, {"mouth": (["AU12", "AU25"], (0, 19), {"AU12": [(5, 1.0)]}), "none": ([], (0, 9), {})})
    with open_window(qtbot, two_shots) as win:
        ed, s = win.curves, win.session
        win._pick_shot(s.find_shot("mouth").id)
        win._pick_shot(s.find_shot("none").id)
        assert ed.lanes == {}
        assert not [ln for ls in ed._sets.values() for ln, lane in ls.built.items() if lane.plot.isVisible()]


def test_key_markers_take_the_colour_of_their_curve_in_the_next_shot(two_shots, qtbot):
    """AU02 keyed alike in two shots whose curve lists differ (so AU02 has another colour): the
    key markers kept the first shot's colour."""
    keys = {"AU02": [(5, 0.5), (12, 1.0)]}
    _add_shots(two_shots, {"A": (["AU01", "AU02"], (0, 19), keys), "B": (["AU02", "AU04"], (0, 19), keys)})
    with open_window(qtbot, two_shots) as win:
        ed, s = win.curves, win.session
        for name in ("A", "B"):
            win._pick_shot(s.find_shot(name).id)
            lane = ed.lanes["brows"]
            assert {b.color().name() for b in lane.keys.data["brush"]} == {ed.colours["AU02"]}, name
        assert ed.colours["AU02"] != ed.colours.get("AU01")


def test_gain_rows_of_aus_a_shot_lacks_are_deleted(two_shots, qtbot):
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    from studio.inspector import GainRow

    with open_window(qtbot, two_shots) as win:
        s = win.session
        first, second = (sh.id for sh in s.project.shots)

        def alive() -> int:
            QApplication.sendPostedEvents(None, QEvent.DeferredDelete)  # deleteLater runs
            return sum(isinstance(w, GainRow) for w in QApplication.allWidgets())

        win._pick_shot(second)
        win._pick_shot(first)
        n = alive()
        for _ in range(3):
            win._pick_shot(second)
            win._pick_shot(first)
        assert alive() <= n  # other windows' rows (earlier tests) may still be going; none more of ours
