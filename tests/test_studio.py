"""Studio (PySide6 + pyqtgraph) tests, offscreen: key drag, box select, undo/redo, scrub ->
viewer, render queue with cancel and restart, autosave recovery, unsaved-close prompt, and
the `facsimile studio --screenshot` hook. Real core objects and real media throughout: the
plate is an H.264 file encoded here from skimage's public-domain astronaut."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

N_FRAMES = 60
SIZE = 192
NAMES = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU12L", "AU12R", "AU25", "AU26", "AU45L", "AU45R",
         "pose_Rx", "pose_Ry", "gaze_x"]


def make_plate(path: Path, n: int = N_FRAMES, size: int = SIZE, fps: int = 25) -> Path:
    """An H.264 plate where frame i is the astronaut shifted by 2*i pixels (so frames differ)."""
    from tests.mediagen import make_astronaut_plate

    return make_astronaut_plate(path, n, fps=fps, size=size, gop=12)


def make_project(folder: Path, plate_path: Path) -> Path:
    """A saved project with one shot and a CurveSet (smooth synthetic base curves) on track 0."""
    from core.curves import CurveSet
    from core.project.model import Plate, Project

    proj = Project.create(folder / "test.facsimile")
    plate = proj.add_plate(Plate.from_media(plate_path))
    shot = proj.new_shot(plate.id, 0, plate.frame_count - 1, name="sh010")
    t = np.arange(plate.frame_count)
    base = {n: (1.5 + 1.2 * np.sin(t / (6.0 + i))) if n.startswith("AU") else 0.1 * np.sin(t / 9.0 + i)
            for i, n in enumerate(NAMES)}
    shot.curves[0] = CurveSet(NAMES, (0, plate.frame_count - 1), base=base)
    proj.save()
    return proj.path


@pytest.fixture(scope="module")
def plate(tmp_path_factory) -> Path:
    return make_plate(tmp_path_factory.mktemp("plate") / "astro.mp4")


@pytest.fixture
def project(tmp_path, plate) -> Path:
    return make_project(tmp_path, plate)


@contextlib.contextmanager
def open_window(qtbot, project: Path):
    """The main window on `project`, shown and exposed; closed without the save prompt after.

    Not qtbot.addWidget: qtbot closes its widgets before a fixture's teardown, and a dirty
    window would then open the modal "save changes?" prompt and hang a failed test."""
    from studio.app import ensure_app
    from studio.main_window import MainWindow

    ensure_app()
    w = MainWindow(offer_recovery=False)
    try:
        w.resize(1400, 900)
        w.open_path(project, interactive=False)
        w.show()
        qtbot.waitExposed(w)
        yield w
    finally:
        _close_clean(w)


@pytest.fixture
def win(qtbot, project):
    with open_window(qtbot, project) as w:
        yield w


def _close_clean(w) -> None:
    """Close a window without the unsaved-edits prompt (test teardown)."""
    if w.session is not None:
        w.session.mark_dirty(False)
    w.close()
    w.deleteLater()


# ---------------------------------------------------------------------- mouse helpers
def _send(widget, etype, pos: QPointF, button, buttons, mods=Qt.NoModifier) -> None:
    gp = widget.mapToGlobal(pos.toPoint())
    ev = QMouseEvent(etype, pos, QPointF(gp), button, buttons, mods)
    QApplication.sendEvent(widget, ev)


def drag(widget, p0: QPoint | QPointF, p1: QPoint | QPointF, steps: int = 8, mods=Qt.NoModifier) -> None:
    """Press at p0, move in steps with the button held (QTest.mouseMove cannot hold buttons), release at p1."""
    p0, p1 = QPointF(p0), QPointF(p1)
    _send(widget, QEvent.MouseButtonPress, p0, Qt.LeftButton, Qt.LeftButton, mods)
    for i in range(1, steps + 1):
        p = p0 + (p1 - p0) * (i / steps)
        QTest.qWait(11)  # pyqtgraph drops mouse moves closer than 10 ms (mouseRateLimit 100/s)
        _send(widget, QEvent.MouseMove, p, Qt.NoButton, Qt.LeftButton, mods)
    _send(widget, QEvent.MouseButtonRelease, p1, Qt.LeftButton, Qt.NoButton, mods)


def click(widget, p: QPoint | QPointF, mods=Qt.NoModifier) -> None:
    p = QPointF(p)
    _send(widget, QEvent.MouseButtonPress, p, Qt.LeftButton, Qt.LeftButton, mods)
    _send(widget, QEvent.MouseButtonRelease, p, Qt.LeftButton, Qt.NoButton, mods)


def key_widget_pos(editor, name: str, frame: int) -> QPointF:
    sp = editor.key_scene_pos(name, frame)
    return QPointF(editor.glw.mapFromScene(sp))


def view_widget_pos(editor, name: str, frame: float, value: float) -> QPointF:
    return QPointF(editor.view_pos_to_widget(name, frame, value))


# ---------------------------------------------------------------------- curve editor
def test_opens_project_with_curves(win):
    doc = win.session.doc
    assert doc is not None and doc.names() == NAMES
    assert set(win.curves.lanes) == {"brows", "eyes", "mouth", "head"}
    assert win.viewer.frames is not None and win.viewer.frames.frame_count == N_FRAMES
    # gains rows exist for every AU, named (FACS number visible)
    assert {1, 2, 4, 5, 6, 12, 25, 26, 45} <= set(win.inspector.rows)


def test_drag_key_snaps_and_undoes_in_one_step(win, qtbot):
    ed, doc = win.curves, win.session.doc
    ed.set_frame(20)
    ed.set_visible(["AU12L"])
    ed.tree.clearSelection()
    doc.add_keys(["AU12L"], 20)
    ed.frame_all()
    qtbot.wait(10)
    before_value = float(doc.result_values("AU12L", np.array([20]))[0])
    n_undo = win.session.undo.index
    vp = ed.glw.viewport()
    p0 = key_widget_pos(ed, "AU12L", 20)
    target = view_widget_pos(ed, "AU12L", 26.3, before_value + 0.4)
    drag(vp, p0, target, steps=10)
    keys = doc.key_frames("AU12L")
    assert list(keys) == [26], f"key should land on whole frame 26, got {keys}"
    # the Edit layer is additive: the key is an offset over the extracted curve, raised by the
    # vertical mouse motion (0.4) and carried to frame 26 by the horizontal one
    assert doc.key("AU12L", 26).value == pytest.approx(0.4, abs=0.08)
    after = float(doc.result_values("AU12L", np.array([26]))[0])
    base26 = float(doc.base_values("AU12L", np.array([26]))[0])
    assert after == pytest.approx(base26 + doc.key("AU12L", 26).value, abs=1e-9)
    assert ed.selection == {"AU12L": {26}}
    assert win.session.undo.index == n_undo + 1, "a drag must be one undo step"
    assert win.session.dirty
    win.undo()
    assert list(doc.key_frames("AU12L")) == [20]
    win.redo()
    assert list(doc.key_frames("AU12L")) == [26]


def test_multi_curve_drag_with_different_gains_is_one_undo_step(win, qtbot):
    """Keys of curves with different gains (so different layer offsets per screen offset) dragged
    together: each follows the mouse on screen, and the whole drag is a single undo step."""
    ed, doc = win.curves, win.session.doc
    ed.set_visible(["AU01", "AU02"])
    doc.set_au_gain(2, 0.5)
    doc.add_keys(["AU01", "AU02"], 20)
    ed.frame_all()
    qtbot.wait(10)
    ed.select({"AU01": {20}, "AU02": {20}})
    n_undo = win.session.undo.index
    vp = ed.glw.viewport()
    p0 = key_widget_pos(ed, "AU01", 20)
    v0 = float(doc.result_values("AU01", np.array([20]))[0])
    drag(vp, p0, view_widget_pos(ed, "AU01", 24.2, v0 + 0.3), steps=12)
    assert ed.selection == {"AU01": {24}, "AU02": {24}}
    assert list(doc.key_frames("AU01")) == [24] and list(doc.key_frames("AU02")) == [24]
    # screen offset 0.3 -> layer offset 0.3 / gain: 0.3 for AU01 (gain 1), 0.6 for AU02 (gain 0.5)
    assert doc.key("AU01", 24).value == pytest.approx(0.3, abs=0.06)
    assert doc.key("AU02", 24).value == pytest.approx(2 * doc.key("AU01", 24).value, abs=1e-9)
    assert win.session.undo.index == n_undo + 1, "a multi-curve drag must be one undo step"
    win.undo()
    assert list(doc.key_frames("AU01")) == [20] and list(doc.key_frames("AU02")) == [20]
    assert doc.key("AU02", 20).value == pytest.approx(0.0)
    win.redo()
    assert doc.key("AU02", 24).value == pytest.approx(2 * doc.key("AU01", 24).value, abs=1e-9)


def test_box_select_and_delete_and_shortcut_undo(win, qtbot):
    ed, doc = win.curves, win.session.doc
    ed.set_visible(["AU01", "AU02"])
    for f in (10, 20, 30, 40):
        doc.add_keys(["AU01", "AU02"], f)
    ed.frame_all()
    qtbot.wait(10)
    vp = ed.glw.viewport()
    lane = ed.lanes["brows"]
    (y0, y1) = lane.box.viewRange()[1]
    # box from frame 15 to 35 over the whole value range of the brows lane
    a = QPointF(ed.glw.mapFromScene(lane.box.mapViewToScene(QPointF(15, y1 - 0.01 * (y1 - y0)))))
    b = QPointF(ed.glw.mapFromScene(lane.box.mapViewToScene(QPointF(35, y0 + 0.01 * (y1 - y0)))))
    drag(vp, a, b)
    assert ed.selection == {"AU01": {20, 30}, "AU02": {20, 30}}
    ed.glw.setFocus()
    ed.delete_selected()
    assert list(doc.key_frames("AU01")) == [10, 40]
    win.act_undo.trigger()
    assert list(doc.key_frames("AU01")) == [10, 20, 30, 40]
    win.act_redo.trigger()
    assert list(doc.key_frames("AU02")) == [10, 40]


def test_click_select_interp_and_copy_paste(win):
    ed, doc = win.curves, win.session.doc
    ed.set_visible(["AU25"])
    doc.add_keys(["AU25"], 5)
    doc.add_keys(["AU25"], 15)
    ed.frame_all()
    click(ed.glw.viewport(), key_widget_pos(ed, "AU25", 15))
    assert ed.selection == {"AU25": {15}}
    ed.set_interp("constant")
    assert doc.key("AU25", 15).interp.value == "constant"
    ed.select({"AU25": {5, 15}})
    ed.copy()
    ed.set_frame(40)
    ed.paste()
    assert list(doc.key_frames("AU25")) == [5, 15, 40, 50]


def test_gain_slider_goes_through_undo_and_warns(win):
    doc = win.session.doc
    row = win.inspector.rows[12]
    row.spin.setValue(1.8)
    assert doc.cs.gain("AU12L") == pytest.approx(1.8) and doc.cs.gain("AU12R") == pytest.approx(1.8)
    assert any("1.5" in w for w in win.inspector.warnings())
    assert win.inspector.warn_box.isVisibleTo(win.inspector)
    win.undo()
    assert doc.cs.gain("AU12L") == pytest.approx(1.0)


def test_undo_of_a_render_setting_shows_in_the_inspector(win):
    """The inspector shows what the shot holds after undo/redo, not what was last clicked."""
    combo = win.inspector.blend
    before = win.session.shot.render_settings.get("blend", combo.currentData())
    other = next(combo.itemData(i) for i in range(combo.count()) if combo.itemData(i) != before)
    combo.setCurrentIndex(combo.findData(other))
    assert win.session.shot.render_settings["blend"] == other
    win.undo()
    assert win.session.shot.render_settings.get("blend", before) == before
    assert combo.currentData() == before
    win.redo()
    assert combo.currentData() == other


def test_each_render_setting_change_is_its_own_undo_step(win):
    """Every render-setting change of a shot shared one merge id, so one undo took back all of
    them since the shot was opened (Blend, then Colour: both went)."""
    def other(combo):
        return next(combo.itemData(i) for i in range(combo.count()) if combo.itemData(i) != combo.currentData())

    blend, colour = win.inspector.blend, win.inspector.colour
    b0, c0 = blend.currentData(), colour.currentData()
    b1, c1 = other(blend), other(colour)
    blend.setCurrentIndex(blend.findData(b1))
    win.session.set_frame(5)
    colour.setCurrentIndex(colour.findData(c1))
    win.undo()
    assert (blend.currentData(), colour.currentData()) == (b1, c0)
    win.undo()
    assert (blend.currentData(), colour.currentData()) == (b0, c0)


def test_in_and_out_points_belong_to_their_shot(win):
    """In/out set on one shot stayed on the next: go-to-end landed on the old out point and play
    stopped there. Another range clears them; Alt+X clears them by hand."""
    t = win.transport
    win.session.set_frame(5)
    t.set_in()
    win.session.set_frame(20)
    t.set_out()
    assert t._bounds() == (5, 20) and t.ruler.in_out == (5, 20)
    t.clear_in_out()
    assert t._bounds() == (t.first, t.last) and t.ruler.in_out is None
    t.set_in()
    t.set_range(t.first + 1, t.last, t.fps)
    assert t.in_point is None and t.ruler.in_out is None


def test_key_drag_redraws_only_the_dragged_curve_and_long_curves_are_downsampled(qtbot):
    """40 curves x 10,000 frames: moving one curve's key gives new data to that result curve only
    (every other item keeps the very array it showed), and the items clip to the view with peak
    downsampling, so a one-frame spike is still drawn when 10,000 frames share ~1,000 pixels."""
    from core.curves import CurveSet
    from core.project.undo import UndoStack
    from studio.curve_editor import CurveEditor
    from studio.curvedoc import CurveDoc

    n = 10_000
    names = [f"AU{a:02d}{s}" for a in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20) for s in ("", "L", "R")][:37]
    names += ["pose_Rx", "pose_Ry", "gaze_x"]
    t = np.arange(n)
    base = {nm: 1.5 + np.sin(t / (20 + 3 * i)) for i, nm in enumerate(names)}
    base["AU01"][7777] = 4.75  # a one-frame spike
    doc = CurveDoc(CurveSet(names, (0, n - 1), base=base), UndoStack())
    ed = CurveEditor()
    qtbot.addWidget(ed)
    ed.resize(1400, 700)
    ed.set_doc(doc)
    ed.show()
    qtbot.waitExposed(ed)
    doc.add_keys(names, 5000)
    items = {nm: it for lane in ed.lanes.values() for nm, it in lane.items.items()}
    assert len(items) == 40
    shown = {nm: (b.yData, r.yData) for nm, (b, r) in items.items()}
    ed.select({"AU12L": {5000}})
    ed.move_selected(3, 0.5)
    assert list(doc.key_frames("AU12L")) == [5003]
    for nm, (b, r) in items.items():
        assert b.yData is shown[nm][0], f"{nm}: extracted curve was set again"
        if nm != "AU12L":
            assert r.yData is shown[nm][1], f"{nm}: result curve was set again though it did not change"
    new = items["AU12L"][1].yData
    assert new is not shown["AU12L"][1]
    np.testing.assert_allclose(new, doc.result_values("AU12L", t))
    assert new[5003] == pytest.approx(base["AU12L"][5003] + 0.5)
    # clip to view + peak downsampling, applied after PlotItem.addItem (which imposes its own modes)
    ed.frame_all()
    qtbot.wait(20)
    b, r = items["AU01"]
    assert r.opts["clipToView"] and r.opts["autoDownsample"] and r.opts["downsampleMethod"] == "peak"
    drawn_x, drawn_y = r.curve.getData()
    lane_px = ed.lanes["brows"].box.width()
    assert drawn_x.size <= 1.5 * lane_px, f"{drawn_x.size} points drawn for {lane_px:.0f} pixels"
    assert drawn_y.max() == pytest.approx(4.75), "peak downsampling must keep the one-frame spike"
    # zoomed in, the items clip to the view on their own (no re-evaluation)
    ed._first_lane().box.setXRange(7700, 7900, padding=0)
    qtbot.wait(20)
    drawn_x, _ = r.curve.getData()
    assert drawn_x.min() >= 7690 and drawn_x.max() <= 7910 and drawn_x.size >= 190


# ---------------------------------------------------------------------- scrub / viewer
def test_scrub_moves_viewer_frame_accurately(win, qtbot):
    from core.media.reader import open_media

    ed = win.curves
    lane = ed._first_lane()
    lane.cursor.setValue(33.4)
    lane.cursor.sigDragged.emit(lane.cursor)
    qtbot.waitUntil(lambda: win.viewer.current_frame == 33, timeout=3000)
    assert win.session.frame == 33 and win.transport.frame == 33
    assert all(int(ln.cursor.value()) == 33 for ln in ed.lanes.values())
    qtbot.waitUntil(lambda: win.viewer.shown_path == "full", timeout=3000)
    with open_media(win.session.plate_of(win.session.shot)) as r:
        np.testing.assert_array_equal(win.viewer._a, r.read_rgb8(33))
    # ruler click scrubs too
    ruler = win.transport.ruler
    x = ruler._x(12)
    click(ruler, QPointF(x, ruler.height() / 2))
    qtbot.waitUntil(lambda: win.viewer.current_frame == 12, timeout=3000)
    # transport step and jump to key
    win.session.doc.add_keys(["AU45L"], 50)
    win.transport.step(1)
    assert win.session.frame == 13
    win.jump_key(1)
    assert win.session.frame == 50


def test_bin_thumbnails_arrive_from_a_worker(win, qtbot, plate):
    """Opening a project does not decode its shots' first frames on the UI thread: each shot's
    icon arrives from the bin's worker, a shrunken copy of the plate's frame."""
    from core.media.reader import open_media
    from studio.frames import FrameCache
    from studio.project_bin import THUMB, thumbnail_rgb

    b = win.bin
    b.wait_thumbnails()
    root = b.tree.invisibleRootItem()
    shots = [root.child(i) for i in range(root.childCount()) if root.child(i).text(0) == "Shots"][0]
    items = [shots.child(j) for j in range(shots.childCount())]
    assert items
    qtbot.waitUntil(lambda: all(not it.icon(0).isNull() for it in items), timeout=10000)
    with open_media(plate) as own:
        small = thumbnail_rgb(FrameCache(own), 3)
    assert small.shape[1] <= 2 * THUMB.width() and small.shape[0] <= 2 * THUMB.height()
    with open_media(plate) as r:
        full = r.read_rgb8(3)
    import cv2

    ref = cv2.resize(full, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(small, ref)


def test_frame_cache_is_bounded_by_bytes_as_well_as_frames(plate):
    """48 cached frames are 1.2 GB at 4K per opened plate: the viewer's cache also stops at a
    byte budget (here three frames' worth), keeps the most recently used, and returns exactly
    what the reader decodes."""
    from core.media.reader import open_media
    from studio.frames import FrameCache

    with open_media(plate) as reader, open_media(plate) as check:
        one = reader.read_rgb8(0).nbytes
        cache = FrameCache(reader, capacity=48, max_bytes=3 * one)
        for i in (0, 1, 2, 3, 1, 4, 5):
            np.testing.assert_array_equal(cache.get(i), check.read_rgb8(i))
            assert cache.nbytes <= 3 * one
        assert [i for i in range(6) if cache.cached(i) is not None] == [1, 4, 5]
        tiny = FrameCache(reader, max_bytes=1)  # a budget under one frame still keeps an A/B pair
        tiny.get(0)
        tiny.get(1)
        assert tiny.cached(0) is not None and tiny.cached(1) is not None


def test_viewer_decodes_and_renders_off_the_ui_thread_newest_request_first(win, qtbot):
    """A 4K frame's decode and render take 0.2-1 s; the UI thread must not wait for them. With a
    renderer that takes 0.3 s a frame, a scrub over ten frames returns at once, the event loop
    keeps running meanwhile, frames the cursor passed before their turn came are skipped, the
    last frame asked for is the one left on screen, and an older result never replaces it."""
    import threading

    v = win.viewer
    v.wait_idle()
    rendered: list[tuple[int, bool]] = []
    threads: set[int] = set()

    def slow(i, rgb, fast):
        threads.add(threading.get_ident())
        time.sleep(0.3)
        rendered.append((i, fast))
        return 255 - rgb

    v.set_render_fn(slow)
    v.mode.setCurrentIndex(1)
    v.wait_idle()
    shown: list[tuple[int, str]] = []
    v.frameShown.connect(lambda f, path: shown.append((f, path)))
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(20)
    t0 = time.perf_counter()
    for f in range(1, 11):
        win.session.set_frame(f)
    assert time.perf_counter() - t0 < 0.25, "scrubbing ten frames must not wait for their renders"
    qtbot.waitUntil(lambda: (10, "full") in shown, timeout=15000)
    timer.stop()
    v.wait_idle()
    qtbot.wait(50)
    assert threading.get_ident() not in threads, "the render ran on the UI thread"
    assert len(ticks) >= 10, "the event loop stalled while frames rendered"
    skipped = [f for f in range(2, 10) if (f, True) not in rendered]
    assert len(skipped) >= 5, f"frames the cursor passed were rendered anyway: {rendered}"
    assert v.current_frame == 10 and v.shown_path == "full"
    np.testing.assert_array_equal(v._b, 255 - v._a)
    # a result that comes back after a newer frame was shown is dropped
    v._rest.setInterval(10_000)
    win.session.set_frame(3)  # queued on the worker...
    v.show_frame(7, fast=False)  # ...while frame 7 is shown synchronously (newer)
    v.wait_idle()
    qtbot.wait(100)
    assert v.current_frame == 7 and shown[-1] == (7, "full")
    # the plate goes while a request is out and the rest timer runs: nothing of it comes back
    v._rest.setInterval(50)
    win.session.set_frame(5)
    v.set_frames(None)
    qtbot.wait(300)
    v.wait_idle()
    qtbot.wait(50)
    assert v.current_frame == -1 and shown[-1] == (7, "full")
    assert "cannot be shown" not in v.notice.textItem.toPlainText()


def test_selecting_a_shot_opens_its_plate_on_the_viewers_worker(qtbot, project, monkeypatch):
    """Opening a long-GOP camera original reads the whole file, so selecting a shot must not
    open its plate on the UI thread: the timeline is set up from the project's plate record and
    the viewer's worker opens the reader for the first frame. A plate file that is gone is
    still reported at once, in the status bar, and the viewer shows no plate."""
    import threading

    import studio.frames as frames_mod

    real = frames_mod.open_reader
    opened_on_ui: list[bool] = []

    def recording(path):
        opened_on_ui.append(threading.current_thread() is threading.main_thread())
        return real(path)

    monkeypatch.setattr(frames_mod, "open_reader", recording)
    with open_window(qtbot, project) as w:
        frames = w.session.frames
        assert frames is not None and frames.frame_count == N_FRAMES and w.session.last == N_FRAMES - 1
        qtbot.waitUntil(lambda: w.viewer.current_frame >= 0, timeout=20000)
        w.viewer.wait_idle()
        assert frames.is_open and opened_on_ui == [False]
        assert frames.info.width == SIZE and frames.info.frame_count == N_FRAMES  # the reader's own facts now
    gone = project.parent / "moved_away.mp4"
    plate_path = Path(frames.reader.info.path)
    plate_path.rename(gone)
    try:
        messages: list[str] = []
        with open_window(qtbot, project) as w:
            w.session.message.connect(messages.append)
            w.session.set_shot(w.session.shot.id)
            assert w.session.frames is None
            assert any("file not found" in m for m in messages), messages
    finally:
        gone.rename(plate_path)


def _plate_items(w) -> dict[str, str]:
    """Plate id -> its text in the bin."""
    from studio.project_bin import PLATE_ROLE

    root = w.bin.tree.invisibleRootItem()
    group = [root.child(i) for i in range(root.childCount()) if root.child(i).text(0) == "Plates"][0]
    return {group.child(j).data(0, PLATE_ROLE): group.child(j).text(0) for j in range(group.childCount())}


def test_a_moved_plate_is_relinked_from_the_studio(qtbot, tmp_path, plate, monkeypatch):
    """A project whose plate moved opens with the plate marked missing (bin, warnings); Relink
    plate… with the file's new place shows its frames again, as one undo step; a file of
    another length is relinked only when the user says so, and the timeline follows it."""
    import shutil

    day = tmp_path / "day1"
    day.mkdir()
    own = shutil.copy(plate, day / "astro.mp4")
    project = make_project(tmp_path, Path(own))
    shutil.move(day, tmp_path / "raid")
    with open_window(qtbot, project) as w:
        s = w.session
        assert s.frames is None and w._missing == {"astro"}
        assert s.last == N_FRAMES - 1  # the curves stay on the recorded frames, editable meanwhile
        assert _plate_items(w) == {"astro": "astro (missing)"}
        assert any("plate astro is missing" in m for m in w.inspector.external_warnings())
        assert "Relink plate" in w.viewer.notice.toPlainText()
        depth = s.undo.index
        assert w.relink_plate(path=tmp_path / "raid" / "astro.mp4") == ["astro"]
        assert s.frames is not None and s.last == N_FRAMES - 1 and _plate_items(w) == {"astro": "astro"}
        qtbot.waitUntil(lambda: w.viewer.current_frame >= 0, timeout=20000)
        assert not any("plate astro" in m for m in w.inspector.external_warnings())
        assert s.undo.index == depth + 1 and s.dirty
        w.undo()
        assert s.frames is None and _plate_items(w) == {"astro": "astro (missing)"}
        w.redo()
        assert s.frames is not None
        # another cut of the plate: asked about, and nothing changes unless the user says yes
        shorter = make_plate(tmp_path / "astro_short.mp4", n=40)
        asked: list[str] = []
        monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.Cancel)
        assert w.relink_plate("astro", shorter) == []
        assert "frame count 40 (the project has 60)" in asked[0] and s.last == N_FRAMES - 1
        monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Yes)
        assert w.relink_plate("astro", shorter) == ["astro"]
        assert s.plate_record().frame_count == 40 and s.last == 39 and w.transport.last == 39
        # the shot's curves were made on the 60-frame cut: the inspector says to analyse it again
        assert any("curves cover frames 0-59 but the shot with handles is 0-39" in m
                   for m in w.inspector.external_warnings())
        s.mark_dirty(False)


def test_a_project_moved_with_its_plate_opens_on_it(qtbot, tmp_path, plate):
    """Project and plate moved together (another mount point): the plate is found beside the
    project (same hash), its frames show, and the project counts as changed until saved."""
    import shutil

    (tmp_path / "a").mkdir()
    own = Path(shutil.copy(plate, tmp_path / "a" / "astro.mp4"))
    project = make_project(tmp_path / "a", own)
    shutil.move(tmp_path / "a", tmp_path / "b")
    with open_window(qtbot, tmp_path / "b" / project.name) as w:
        s = w.session
        assert s.frames is not None and s.dirty and not w._missing
        assert any("found beside the moved project" in m for m in w.inspector.external_warnings())
        qtbot.waitUntil(lambda: w.viewer.current_frame >= 0, timeout=20000)
        assert w.save() and not s.dirty
        assert not any("moved project" in m for m in w.inspector.external_warnings())


def test_a_plate_changed_on_disk_is_reported_once_opened(qtbot, tmp_path, plate):
    """The studio checks plate files against the project on a worker after opening: a re-graded
    file (same frames, other pixels) is noted; a shorter cut at the same path is named as not the
    analysed plate once the viewer's worker has opened it, and the timeline ends at its last frame."""
    import shutil

    own = Path(shutil.copy(plate, tmp_path / "astro.mp4"))
    project = make_project(tmp_path, own)
    from tests.mediagen import make_astronaut_plate

    make_astronaut_plate(own, N_FRAMES, fps=25, size=SIZE, gop=12, crf=30)  # a re-export: same facts, other bytes
    with open_window(qtbot, project) as w:
        qtbot.waitUntil(lambda: "astro" in w._plate_notes, timeout=10000)
        assert w._plate_notes["astro"][0] == "changed"
        assert any("changed since it was added" in m for m in w.inspector.external_warnings())
    make_plate(own, n=40)
    with open_window(qtbot, project) as w:
        s = w.session
        assert s.last == N_FRAMES - 1  # the record, until the reader opens
        qtbot.waitUntil(lambda: w._plate_notes.get("astro", ("",))[0] == "different", timeout=20000)
        assert "frame count 40 (the project has 60)" in w._plate_notes["astro"][1]
        assert s.last == 39 and w.transport.last == 39
        assert any("not the plate its shots were analysed on" in m for m in w.inspector.external_warnings())


def test_an_anamorphic_plate_is_shown_desqueezed_under_its_landmarks(qtbot, tmp_path):
    """A 2x anamorphic plate is shown at its shown width (pixel aspect 2), the landmarks of its
    analysis (on the desqueezed picture) lie on the face, and its thumbnail is desqueezed too."""
    from fractions import Fraction

    import cv2
    from skimage.data import astronaut

    from core.analysis.analyzer import Analyzer
    from core.project.model import Plate, Project
    from studio.project_bin import thumbnail_rgb
    from tests.mediagen import make_video

    img = cv2.resize(astronaut(), (96, 192), interpolation=cv2.INTER_AREA)
    plate_path = make_video(tmp_path / "ana.mp4", 4, 96, 192, fps=24, image=lambda i: img,
                            sample_aspect=Fraction(2))
    proj = Project.create(tmp_path / "ana.facsimile")
    plate = proj.add_plate(Plate.from_media(plate_path))
    shot = proj.new_shot(plate.id, 0, 3, name="sh")
    shot.analysis = Analyzer(max_faces=1).analyze(str(plate_path))
    proj.save()
    with open_window(qtbot, proj.path) as w:
        qtbot.waitUntil(lambda: w.viewer.current_frame >= 0, timeout=20000)
        v = w.viewer
        assert v.pixel_aspect == 2.0 and "pixel aspect 2" in v.info.text()
        rect = v.image.mapRectToParent(v.image.boundingRect())
        assert (round(rect.width()), round(rect.height())) == (192, 192)
        x, y = v.lm_item.getData()
        assert 40 < np.nanmedian(x) < 150 and np.nanmax(x) < 192  # on the face of the desqueezed picture
        thumb = thumbnail_rgb(w.session.frames, 0)
        assert abs(thumb.shape[1] / thumb.shape[0] - 1.0) < 0.05


def test_a_log_plate_is_shown_through_its_colour_space(qtbot, tmp_path):
    """A camera log plate set to its colour space (the bin's Colour space…) is shown as a display
    picture; as its files say (sRGB) it is the flat log picture. One undo step switches back."""
    import cv2
    from skimage.data import astronaut

    from core.media.colour import convert_colorspace
    from core.project.model import Plate, Project

    ref = cv2.resize(astronaut(), (128, 128), interpolation=cv2.INTER_AREA)
    log = convert_colorspace(ref, "sRGB - Texture", "ARRI LogC3 (EI800)")
    for k in range(2):
        cv2.imwrite(str(tmp_path / f"log.{1001 + k}.png"),
                    np.ascontiguousarray((np.clip(log, 0, 1) * 65535 + 0.5).astype(np.uint16)[:, :, ::-1]))
    proj = Project.create(tmp_path / "log.facsimile")
    plate = proj.add_plate(Plate.from_media(tmp_path / "log.####.png"))
    proj.new_shot(plate.id, 0, 1, name="sh")
    proj.save()
    with open_window(qtbot, proj.path) as w:
        s = w.session

        def shown() -> np.ndarray:
            w.viewer.wait_idle()
            qtbot.waitUntil(lambda: w.viewer._a is not None, timeout=10000)
            return w.viewer._a.astype(int)

        assert np.abs(shown() - ref).mean() > 20  # log codes shown as sRGB
        assert w.interpret_plate(plate.id, "colorspace", "ARRI LogC3 (EI800)")
        assert s.project.plates[plate.id].colorspace == "ARRI LogC3 (EI800)" and s.dirty
        w.viewer.show_frame(0)
        assert np.abs(shown() - ref).mean() < 2.0
        assert "ARRI LogC3 (EI800) shown as sRGB" in w.viewer.info.text()  # the viewer says how it shows it
        w.undo()
        assert s.project.plates[plate.id].colorspace is None
        w.viewer.show_frame(0)
        assert np.abs(shown() - ref).mean() > 20
        assert "shown as sRGB" not in w.viewer.info.text()
        assert len(s._readers) == 1  # the other reading's decoded frames are not kept


def test_viewer_wipe_and_overlay_toggles(win):
    v = win.viewer
    v.mode.setCurrentIndex(2)
    v.show_frame(10)
    assert "no renderer" in v.notice.textItem.toPlainText()
    v.set_render_fn(lambda i, rgb, fast: 255 - rgb)
    v.wipe_line.setValue(SIZE // 2)
    v.show_frame(10)
    img = v.image.image
    np.testing.assert_array_equal(img[:, : SIZE // 2], v._a[:, : SIZE // 2])
    np.testing.assert_array_equal(img[:, SIZE // 2:], 255 - v._a[:, SIZE // 2:])
    v.toggle_ab()
    assert v.mode.currentIndex() == 1


def test_viewer_paints_the_frames_own_8bit_values(qtbot):
    """The viewer puts a frame's 8-bit values on screen as they are: a dim frame is not stretched
    to the display range and nothing is rescaled (the frame goes up without levels, pyqtgraph's
    cheapest path). Checked on the painted viewport, at the centre of flat colour blocks."""
    from PySide6.QtCore import QRectF

    from studio.viewer import Viewer

    v = Viewer()
    qtbot.addWidget(v)
    v.resize(640, 480)
    v.show()
    qtbot.waitExposed(v)
    rng = np.random.default_rng(3)
    colours = rng.integers(4, 100, size=(6, 8, 3), dtype=np.uint8)  # dim: max under 100
    frame = np.ascontiguousarray(np.repeat(np.repeat(colours, 24, axis=0), 24, axis=1))  # 144 x 192
    v.image.setImage(np.zeros_like(frame))  # a first image, so _compose keeps the view below
    v._a, v._b = frame, None
    v._compose()
    v.vb.setRange(QRectF(0, 0, frame.shape[1], frame.shape[0]), padding=0)
    QApplication.processEvents()
    shot = v.view.grab().toImage()
    for by in range(colours.shape[0]):
        for bx in range(colours.shape[1]):
            scene = v.vb.mapViewToScene(QPointF(bx * 24 + 12, by * 24 + 12))
            px = v.view.mapFromScene(scene)
            c = shot.pixelColor(px)
            assert (c.red(), c.green(), c.blue()) == tuple(int(x) for x in colours[by, bx]), (by, bx)


# ---------------------------------------------------------------------- render queue
def test_render_queue_cancel_midway_and_restart(qtbot, tmp_path, plate):
    from core.jobs import JobSpec
    from studio.app import ensure_app
    from studio.render_queue import QueueItem, RenderQueue

    ensure_app()
    qpath = tmp_path / "render_queue.json"
    q = RenderQueue(qpath)
    (tmp_path / "out").mkdir()  # core refuses a missing output folder (unmounted drive); the export dialog picks one
    spec = JobSpec.create(kind="convert", source=str(plate), output=str(tmp_path / "out" / "astro.####.exr"),
                          frames=(0, N_FRAMES - 1), chunk_size=10)
    item = q.add(QueueItem("convert", "export astro", spec.to_json()))
    qtbot.waitUntil(lambda: item.done >= 2, timeout=20000)
    q.cancel(item.id)
    qtbot.waitUntil(lambda: item.state == "cancelled", timeout=20000)
    assert q.worker is None
    assert 0 < item.done < N_FRAMES
    saved = json.loads(qpath.read_text())
    assert saved["items"][0]["state"] == "cancelled"
    written = sorted((tmp_path / "out").glob("astro.*.exr"))
    assert 0 < len(written) < N_FRAMES
    # a job that was running when the studio died comes back as interrupted, and resumes
    saved["items"][0]["state"] = "running"
    qpath.write_text(json.dumps(saved))
    q2 = RenderQueue(qpath)
    assert q2.items[0].state == "interrupted"
    q2.start_next()
    qtbot.waitUntil(lambda: q2.items[0].state in ("done", "failed"), timeout=60000)
    assert q2.items[0].state == "done", q2.items[0].message
    assert len(sorted((tmp_path / "out").glob("astro.*.exr"))) == N_FRAMES


def test_a_queue_render_after_an_export_does_not_crash_the_studio():
    """Regression: onnxruntime's module init, first run on one of Qt's pooled threads (the render
    queue's worker, after an export had used it), deleted the wrong Python thread state and
    killed the process with a segmentation fault. The studio imports its native modules on the
    UI thread at start-up (studio.app.preload_native_modules). Run in a fresh interpreter, as
    the rest of this suite has imported them long before."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           str(root / "tests" / "test_studio.py"), "-k",
                           "test_render_queue_cancel_midway_and_restart or test_queue_render_is_the_cli_render"],
                          cwd=root, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 passed" in proc.stdout


def test_worker_cancel_ends_cleanly(qtbot):
    import threading

    from studio.app import ensure_app
    from studio.workers import Worker

    ensure_app()
    gate = threading.Event()

    def task(progress, cancelled):
        for i in range(1000):
            progress(i, 1000)
            gate.set()
            if cancelled():
                return None
            threading.Event().wait(0.002)
        return "finished"

    w = Worker(task, "t")
    ends = []
    w.ended.connect(ends.append)
    w.start()
    assert gate.wait(5)
    w.cancel()
    qtbot.waitUntil(lambda: ends == ["cancelled"], timeout=5000)


# ---------------------------------------------------------------------- safety
def test_autosave_then_recovery_dialog(qtbot, project, monkeypatch):
    from core.project.model import find_autosave
    from studio.main_window import MainWindow

    w = MainWindow(offer_recovery=True)
    try:
        w.open_path(project, interactive=False)
        w.session.doc.add_keys(["AU04"], 7)
        w.autosaver.interval_s = 0.0
        w._autosave_tick()
        w._autosave_tick()
        assert find_autosave(project) is not None
    finally:
        _close_clean(w)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[1]) or QMessageBox.Yes)
    w2 = MainWindow(offer_recovery=True)
    try:
        w2.open_path(project, interactive=True)
        assert asked and "autosave" in asked[0].lower()
        assert list(w2.session.doc.key_frames("AU04")) == [7]
        assert w2.session.dirty
    finally:
        _close_clean(w2)


def test_close_with_unsaved_edits_asks(win, monkeypatch):
    win.session.doc.add_keys(["AU05"], 3)
    assert win.session.dirty
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Cancel)
    assert not win.close()
    assert win.isVisible()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Save)
    assert win.close()
    from core.project.model import Project

    assert list(Project.load(win.session.project_path).shots[0].curves[0].layer("Edit").curves["AU05"].frames) == [3]


def test_saving_over_another_sessions_save_asks_first(win, monkeypatch):
    """The studio saved with Project.save directly: a CLI edit made while the studio was open
    was silently replaced. Now it asks; Cancel keeps the other session's file, Save keeps it
    in backups/."""
    import json

    from core.cli import main
    from core.project.model import Project

    folder = win.session.project_path
    win.session.doc.add_keys(["AU05"], 3)
    assert main(["-q", "project", "set", str(folder), "--shot", win.session.shot.name, "blend=gaussian"]) == 0
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.Cancel)
    assert not win.save()
    assert asked and "saved by another session" in asked[0] and win.session.dirty
    assert Project.load(folder).shots[0].render_settings.get("blend") == "gaussian"
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Save)
    assert win.save() and not win.session.dirty
    assert list(Project.load(folder).shots[0].curves[0].layer("Edit").curves["AU05"].frames) == [3]
    backups = [json.loads(b.read_text()) for b in (folder / "backups").glob("project-*.json")]
    assert any(b["shots"][0]["render_settings"].get("blend") == "gaussian" for b in backups)
    win.session.doc.add_keys(["AU05"], 4)
    asked.clear()
    assert win.save() and not asked  # its own last save is no other session's


# ---------------------------------------------------------------------- CLI screenshot
def test_screenshot_cli_plain_plate(plate, tmp_path):
    from core.cli import main

    out = tmp_path / "shot.png"
    rc = main(["studio", str(plate), "--screenshot", str(out), "--frame", "17", "--size", "1200x760"])
    assert rc == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    assert (img.width(), img.height()) == (1200, 760)


def test_screenshot_cli_bad_shot_is_a_clear_error(project, tmp_path, capsys):
    from core.cli import main

    rc = main(["studio", str(project), "--shot", "nope", "--screenshot", str(tmp_path / "x.png")])
    assert rc != 0
    assert "no shot 'nope'" in capsys.readouterr().err


def test_studio_takes_shot_as_every_command_does(project, tmp_path):
    """--shot by name in any case or by position, as `project` and `render` take it (the studio
    and its pre-check had a lookup of their own that matched the exact name only)."""
    from core.cli import main
    from core.project import Project

    name = Project.load(project).shots[0].name
    for key in (name.upper(), "1"):
        out = tmp_path / f"s_{key}.png"
        assert main(["studio", str(project), "--shot", key, "--screenshot", str(out)]) == 0, key
        assert out.stat().st_size > 20000


# ---------------------------------------------------------------------- live render (real face)
@pytest.fixture(scope="module")
def face_project(tmp_path_factory) -> Path:
    """d0.mp4 (shared media) frames 34-46 analysed, with AU curves extracted by core."""
    import os

    from core.project import workflow as wf

    media = Path(os.environ.get("FACSIMILE_SHARED_MEDIA", Path(__file__).resolve().parents[2] / "shared" / "media"))
    clip = media / "clips" / "d0.mp4"
    if not clip.exists():
        pytest.skip(f"shared test media not available: {clip} (see ../shared/media/MEDIA.md)")
    proj = wf.create_project(tmp_path_factory.mktemp("face") / "d0.facsimile", plates=[clip], whole_plate_shot=False)
    shot = wf.add_shot_range(proj, None, 34, 46, name="sh010")
    wf.analyze_shot(proj, shot, max_faces=1)
    try:
        wf.extract_shot_curves(shot)
    except wf.CurvesUnavailable as exc:
        pytest.skip(str(exc))
    proj.save()
    return proj.path


def test_live_render_fast_while_scrubbing_full_at_rest(qtbot, face_project):
    """The viewer's render side is core's Renderer on the in-memory edit: an unsaved brow key
    changes the brows; scrubbing shows the fast path (Gaussian, half size) then the full path."""
    with open_window(qtbot, face_project) as w:
        v, doc = w.viewer, w.session.doc
        assert v.render_fn is not None
        v.mode.setCurrentIndex(1)  # render (B)
        v.show_frame(40)
        same = v._b.copy()
        np.testing.assert_array_equal(same, v._a)  # no edit yet: edit mode renders the plate as is
        doc.add_keys(["AU01", "AU02"], 40)
        ed = w.curves
        ed.select({"AU01": {40}, "AU02": {40}})
        ed.move_selected(0, 2.0)  # brows up by 2 intensity units, not saved
        shown: list[tuple[int, str]] = []
        v.frameShown.connect(lambda f, path: shown.append((f, path)))
        v._rest.setInterval(1500)  # a slow rest, so this loaded test machine shows the preview first
        w.session.set_frame(39)
        w.session.set_frame(40)
        # decoded and rendered on the viewer's worker: nothing is shown before the UI thread
        # returns to its event loop
        assert not shown
        qtbot.waitUntil(lambda: (40, "preview") in shown, timeout=10000)
        assert v.render_fn.last_info.get("face")
        assert v._b.shape == v._a.shape
        qtbot.waitUntil(lambda: (40, "full") in shown, timeout=10000)
        assert shown.index((40, "preview")) < shown.index((40, "full")) and v.shown_path == "full"
        diff = np.abs(v._b.astype(int) - v._a.astype(int)).sum(axis=2)
        ys, xs = np.nonzero(diff > 12)
        assert ys.size > 200, "the brow edit must change pixels"
        lm = v.render_fn._landmarks(40)
        brow_y = lm[[70, 63, 105, 66, 107, 336, 296, 334, 293, 300], 1].mean()
        mouth_y = lm[[13, 14], 1].mean()
        assert np.median(ys) < (brow_y + mouth_y) / 2, "the change is in the upper face, around the brows"


def test_queue_render_is_the_cli_render_with_metadata_and_notes(qtbot, tmp_path):
    """The studio's Render queues the job `facsimile render` runs (core.render.delivery): unsaved
    edits are saved first, the frames carry the render id's watermark, the sidecar is written,
    and the render's notes (no occlusion model; an AU25 key the lips alone cannot reach) show
    in the queue; the viewer says the AU25 one on the frame as soon as it is keyed."""
    from core.delivery.provenance import verify
    from core.project import Project
    from core.project import workflow as wf
    from tests.mediagen import analysed_astronaut_project

    (tmp_path / "p").mkdir()
    path = analysed_astronaut_project(tmp_path / "p", 6)
    proj = Project.load(path)
    wf.extract_shot_curves(proj.shots[0])
    proj.save()
    with open_window(qtbot, path) as w:
        doc = w.session.doc
        doc.add_keys(["AU25"], 2)
        doc.move_keys({"AU25": [2]}, 0, 5.0 - float(doc.result_values("AU25", np.array([2]))[0]))
        assert w.session.dirty
        v = w.viewer  # the viewer says at once what the render notes will say for the shot
        v.mode.setCurrentIndex(1)
        v.show_frame(2)
        notice = v.notice.textItem.toPlainText()  # a pyqtgraph TextItem drawn over the picture
        assert "AU25 5.0 renders as" in notice and "key AU26 (jaw drop) with it" in notice
        item = w.queue_render()
        assert item is not None and not w.session.dirty  # saved: the job renders what is on screen
        qtbot.waitUntil(lambda: item.state in ("done", "failed"), timeout=120000)
        assert item.state == "done", item.message
        frames = sorted((path / "renders").glob("sh.*.exr"))
        assert len(frames) == 6
        report = verify(frames[2])
        assert report["watermark"]["present"] and report["watermark"]["matches_render_id"], report
        assert report["sidecar"]["found"] and report["sidecar"]["matches_render_id"], report
        notes = "\n".join(item.notes)
        assert "no occlusion model ran" in notes
        assert "AU25 (lips part) asks for up to 5.0 but renders at most" in notes
        assert "on frames 0-5" in notes and "key AU26 (jaw drop) with it" in notes  # one key holds the value
        # the queue says there are notes and lists them in the status tooltip; the status bar shows the last
        w.queue_panel.rebuild()
        status = w.queue_panel.table.item(0, 2)
        assert status.text() == "done (2 notes)" and "• AU25 (lips part)" in status.toolTip()
        assert "AU25 (lips part)" in w.status_msg.text()


def test_studio_analyses_and_renders_a_shot_with_its_handles(qtbot, tmp_path):
    """A shot cut with handles (EDL import): the studio analyses and renders it over the same frames
    as `facsimile project analyze` and `facsimile render` (range with handles, cut-in numbered
    start + handles), so the handle frames of a render find their face."""
    from core.project import Plate, Project

    (tmp_path / "p").mkdir()
    plate_path = make_plate(tmp_path / "p" / "astro.mp4", n=12, size=256)
    proj = Project.create(tmp_path / "p" / "h.facsimile")
    plate = proj.add_plate(Plate.from_media(plate_path))
    proj.new_shot(plate.id, 4, 7, name="sh010", handles=2)
    proj.save()
    with open_window(qtbot, proj.path) as w:
        assert (w.session.first, w.session.last) == (4, 7)  # the artist works on the cut
        w.analyse_shot()
        qtbot.waitUntil(lambda: w.job is None, timeout=60000)
        shot = w.session.shot
        assert list(shot.analysis.frame_indices) == list(range(2, 10))
        item = w.queue_render()
        assert item is not None and (item.spec["first"], item.spec["last"]) == (2, 9)
        assert item.spec["writer"]["handles"]["head"] == 2
        w.queue.cancel(item.id)
        qtbot.waitUntil(lambda: item.state in ("cancelled", "done", "failed"), timeout=60000)


def test_queue_render_of_a_swap_without_consent_asks_for_an_override_reason(qtbot, tmp_path, monkeypatch):
    """A swap whose template has no consent record: the studio asks for the reason the CLI's
    --override-consent takes. Cancelled (or empty), nothing is queued and the status bar says why;
    with a reason, the job renders and its sidecar records the override, the reason and who."""
    import json

    from PySide6.QtWidgets import QInputDialog
    from skimage.data import astronaut

    from core.delivery.sidecar import sidecar_path
    from core.identity import Library
    from core.project import Project
    from tests.mediagen import analysed_astronaut_project

    (tmp_path / "p").mkdir()
    path = analysed_astronaut_project(tmp_path / "p", 3)
    proj = Project.load(path)
    tpl = Library(proj.library_path).add("Eileen", [astronaut()])  # no consent recorded
    proj.shots[0].identity = tpl.id
    proj.shots[0].render_settings = {"mode": "swap"}
    proj.save()
    asked = []
    with open_window(qtbot, path) as w:
        monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: asked.append(a[2]) or ("", False))
        assert w.queue_render() is None and w.queue.items == []
        assert "has no consent record" in asked[0] and "metadata" in asked[0]
        assert "no consent record" in w.status_msg.text()
        monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("  ", True))  # an empty reason is none
        assert w.queue_render() is None
        reason = "performer's agent approved by phone, 2026-11-30 (J. Doe)"
        monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: (reason, True))
        item = w.queue_render()
        assert item is not None
        qtbot.waitUntil(lambda: item.state in ("done", "failed"), timeout=120000)
        assert item.state == "done", item.message
        assert len(sorted((path / "renders").glob("sh.*.exr"))) == 3
        doc = json.loads(sidecar_path(path / "renders" / "sh.####.exr").read_text())
        assert doc["consent"]["status"] == "override" and doc["consent"]["override_reason"] == reason
        assert doc["consent"]["override_by"]
