"""Studio Curves menu, offscreen with a real analysis: a face's neutral (the current frame or
the automatic one) and its curve filter are re-measured in a background job, pushed as one
undo step, and every view (curve editor, inspector line, filter check) follows do/undo/redo.

The plate is skimage's public-domain astronaut, who smiles in every frame. With 12 frames
(fewer than an automatic neutral needs) the face is measured from the canonical neutral and
the smile reads AU12 at the top of the scale; with one of those smiling frames as the
neutral the same smile is the rest pose and AU12 reads 0."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from core.facs.model import model_version  # noqa: E402
from tests.test_studio import make_plate, make_project, open_window  # noqa: E402

N_FRAMES = 12
SIZE = 256
NEUTRAL = 7  # a plate frame of the (constant) smile
JOB_MS = 10000


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> Path:
    """A saved project: the astronaut plate (shifted 1 px a frame) as shot 1, analysed with AU
    curves extracted by core; shot 2 (frames 0-5) is not analysed."""
    from core.project import workflow as wf

    root = tmp_path_factory.mktemp("calib")
    plate = make_plate(root / "astro.mp4", n=N_FRAMES, size=SIZE)
    proj = wf.create_project(root / "astro.facsimile", plates=[plate])
    shot = proj.shots[0]
    wf.analyze_shot(proj, shot, max_faces=1)
    try:
        wf.extract_shot_curves(shot)
    except wf.CurvesUnavailable as exc:
        pytest.skip(str(exc))
    wf.add_shot_range(proj, None, 0, 5, name="sh020")
    proj.save()
    return proj.path


@pytest.fixture
def project(tmp_path, analysed) -> Path:
    """A fresh copy per test (the window's autosaver may write into the folder)."""
    return Path(shutil.copytree(analysed, tmp_path / analysed.name))


def _au12(cs) -> np.ndarray:
    return np.asarray(cs.evaluate("AU12"), float)


def _wait_job(qtbot, w) -> None:
    qtbot.waitUntil(lambda: w.job is None, timeout=JOB_MS)


def test_current_frame_as_neutral_then_automatic_with_undo_redo(qtbot, project):
    with open_window(qtbot, project) as w:
        s = w.session
        shot, track = s.shot, s.track
        before = shot.curves[track]
        assert before.extraction["neutral_frame"] is None
        assert before.extraction["calibration"]["method"] == "canonical"
        assert np.nanmean(_au12(before)) > 2.0, "the canonical neutral reads the smile as AU12"
        info = w.inspector.shot_label
        assert "AU curves: canonical neutral" in info.text()
        assert w.act_neutral_frame.isEnabled() and w.act_neutral_auto.isEnabled()
        base_before = {n: a.copy() for n, a in before.base.items()}
        s.doc.add_keys(["AU01"], 3)  # an edit: kept through the re-measure
        n_undo = s.undo.index

        s.set_frame(NEUTRAL)
        w.act_neutral_frame.trigger()
        assert w.job is not None and w.job_widget.isVisibleTo(w), "computed in a background job"
        assert shot.curves[track] is before, "nothing changes before the job ends"
        _wait_job(qtbot, w)
        new = shot.curves[track]
        assert new is not before
        assert new.extraction["neutral_frame"] == NEUTRAL
        assert new.extraction["calibration"] == {"method": "frame", "frame": NEUTRAL, "au_model": model_version()}
        assert np.nanmax(_au12(new)) < 0.5, "a smiling frame as the neutral: the smile reads no AU12"
        assert list(new.layer("Edit").curves["AU01"].frames) == [3]
        assert s.undo.index == n_undo + 1
        # every view follows the new CurveSet, the cursor stays where it was
        assert s.doc.cs is new and w.curves.doc is s.doc
        res_item = next(lane.items["AU12"][1] for lane in w.curves.lanes.values() if "AU12" in lane.items)
        np.testing.assert_allclose(res_item.yData, _au12(new))
        assert s.frame == NEUTRAL and w.transport.frame == NEUTRAL
        assert f"AU curves: neutral frame {NEUTRAL}; filter one_euro" in info.text()
        assert f"Neutral of {shot.name} face {track}: frame {NEUTRAL}" in w.status_msg.text()

        w.act_undo.trigger()
        assert shot.curves[track] is before and s.doc.cs is before
        assert before.extraction["neutral_frame"] is None
        for n, a in base_before.items():
            np.testing.assert_array_equal(before.base[n], a)
        np.testing.assert_allclose(
            next(lane.items["AU12"][1] for lane in w.curves.lanes.values() if "AU12" in lane.items).yData,
            _au12(before))
        assert "canonical neutral" in info.text() and "neutral frame" not in info.text()
        w.act_redo.trigger()
        assert shot.curves[track] is new and s.doc.cs is new
        assert f"neutral frame {NEUTRAL}" in info.text()

        # back to the automatic neutral (canonical here: too few frames for an automatic one)
        w.act_neutral_auto.trigger()
        _wait_job(qtbot, w)
        auto = shot.curves[track]
        assert auto is not new and auto.extraction["neutral_frame"] is None
        assert auto.extraction["calibration"]["method"] == "canonical"
        assert np.nanmean(_au12(auto)) > 2.0
        assert "canonical neutral" in info.text()
        w.undo()
        assert shot.curves[track] is new and f"neutral frame {NEUTRAL}" in info.text()


def test_curve_filter_actions_and_check_follow_undo(qtbot, project):
    with open_window(qtbot, project) as w:
        s = w.session
        shot, track = s.shot, s.track
        before = shot.curves[track]
        acts = w.filter_actions
        assert set(acts) == {"one_euro", "savgol", "none"}
        assert acts["one_euro"].isChecked() and not acts["savgol"].isChecked()
        s.doc.add_keys(["AU12L"], 4)

        acts["none"].trigger()
        _wait_job(qtbot, w)
        raw = shot.curves[track]
        assert raw is not before and raw.extraction["filter"] == "none"
        assert raw.extraction["calibration"] == before.extraction["calibration"], "the neutral is kept"
        # no filter: the base is the kept per-frame solve (AU curves clipped to 0..5)
        np.testing.assert_allclose(raw.base["AU12L"], np.clip(before.base_raw["AU12L"], 0, 5))
        assert list(raw.layer("Edit").curves["AU12L"].frames) == [4]
        assert acts["none"].isChecked() and not acts["one_euro"].isChecked()
        assert "filter none" in w.inspector.shot_label.text()
        assert s.doc.cs is raw

        acts["savgol"].trigger()
        _wait_job(qtbot, w)
        sg = shot.curves[track]
        assert sg.extraction["filter"] == "savgol" and acts["savgol"].isChecked()
        assert "filter savgol" in w.inspector.shot_label.text()

        w.undo()
        assert shot.curves[track] is raw and acts["none"].isChecked() and not acts["savgol"].isChecked()
        w.undo()
        assert shot.curves[track] is before and acts["one_euro"].isChecked()
        assert "filter one_euro" in w.inspector.shot_label.text()
        w.redo()
        assert shot.curves[track] is raw and acts["none"].isChecked()
        n_undo = s.undo.index
        acts["none"].trigger()  # the filter it has already: nothing to do
        assert w.job is None and s.undo.index == n_undo and acts["none"].isChecked()


def test_result_dropped_when_the_shot_changes_or_the_curves_are_edited_meanwhile(qtbot, project):
    with open_window(qtbot, project) as w:
        s = w.session
        shot, track = s.shot, s.track
        before = shot.curves[track]
        n_undo = s.undo.index
        # the job's result reaches the GUI thread through the event loop, so these edits come first
        w.act_neutral_frame.trigger()
        s.set_shot("sh020")
        _wait_job(qtbot, w)
        assert shot.curves[track] is before and s.undo.index == n_undo
        assert "dropped" in w.status_msg.text() and "shot changed" in w.status_msg.text()
        assert not w.act_neutral_frame.isEnabled() and not w.filter_menu.isEnabled(), "sh020 is not analysed"

        s.set_shot(shot.id)
        assert w.act_neutral_frame.isEnabled()
        s.set_frame(NEUTRAL)
        w.act_neutral_frame.trigger()
        s.doc.add_keys(["AU04"], 2)
        _wait_job(qtbot, w)
        assert shot.curves[track] is before
        assert "dropped" in w.status_msg.text() and "edited" in w.status_msg.text()
        assert list(before.layer("Edit").curves["AU04"].frames) == [2]


def test_curves_menu_disabled_without_an_analysis(qtbot, tmp_path):
    """Curves without an analysis (nothing to re-solve from): the menu is off."""
    plate = make_plate(tmp_path / "astro.mp4", n=6, size=96)
    with open_window(qtbot, make_project(tmp_path, plate)) as w:
        assert w.session.doc is not None and w.session.analysis is None
        assert not w.act_neutral_frame.isEnabled() and not w.act_neutral_auto.isEnabled()
        assert not any(a.isEnabled() for a in w.filter_actions.values())
        assert "AU curves: neutral not recorded" in w.inspector.shot_label.text()
        assert w.use_frame_as_neutral() is None and w.job is None


def test_analysing_again_keeps_the_edits_and_the_faces_choices(qtbot, project):
    """Shot > Analyse shot on a shot whose face has a chosen neutral, another filter and keys: the
    new curves come from the new analysis, the keys, gains, neutral frame and filter stay, and
    the whole step undoes at once."""
    with open_window(qtbot, project) as w:
        s = w.session
        shot, track = s.shot, s.track
        s.set_frame(NEUTRAL)
        w.act_neutral_frame.trigger()
        _wait_job(qtbot, w)
        w.filter_actions["savgol"].trigger()
        _wait_job(qtbot, w)
        s.doc.add_keys(["AU01"], 3)
        s.doc.set_au_gain(12, 0.5)
        before = shot.curves[track]
        old_analysis = shot.analysis
        # curves of a face the new analysis will not have (from an earlier analysis), with an edit
        from core.curves import CurveSet
        from core.project.commands import SetCurveSet

        ghost = CurveSet(before.names, before.frame_range, base=before.base, gains={"AU12": 1.5})
        s.undo.push(SetCurveSet(shot, 9, ghost))
        w.analyse_shot()
        qtbot.waitUntil(lambda: w.job is None, timeout=60000)
        new = shot.curves[track]
        assert new is not before and s.doc.cs is new and shot.analysis is not old_analysis
        assert new.extraction["neutral_frame"] == NEUTRAL and new.extraction["filter"] == "savgol"
        assert list(new.layer("Edit").curves["AU01"].frames) == [3] and new.gain("AU12") == 0.5
        assert np.nanmax(np.asarray(new.base["AU12"], float)) < 0.5  # still measured from the smile
        assert 9 not in shot.curves and "face track(s) [9] are not in the new analysis" in w.status_msg.text()
        assert "Undo brings them back" in w.status_msg.text()
        w.undo()  # one step: the previous analysis and every face's previous curves
        assert shot.curves[track] is before and shot.curves[9] is ghost and shot.analysis is old_analysis
