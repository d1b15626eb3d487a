"""Choosing how a face's AU curves are measured (issue 4, items 3 and 4, as a user reaches them):
the neutral frame (or the automatic neutral) and the temporal filter, per face, from the CLI
(`facsimile analyze --neutral/--filter`, `facsimile project calibrate`) and the project API,
re-solved from the kept analysis with edits kept, undoable, saved with the project.

The plate is the astronaut portrait drifting sideways (a real face, always smiling): measured
from the canonical neutral her smile reads as AU12; measured from one of her own frames it
does not, which tells the two calibrations apart on real landmarks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.errors import ProjectError
from core.facs.model import model_version
from core.project import Project, UndoStack
from core.project import workflow as wf
from core.project.schema import validate
from tests.mediagen import make_astronaut_plate

pytest.importorskip("core.facs")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved project whose shot 'face' (plate frames 2-17) is analysed, with curves."""
    root = tmp_path_factory.mktemp("calib")
    plate = make_astronaut_plate(root / "astro.mov", 18, crf=14)
    folder = wf.create_project(root / "astro", plates=[plate], whole_plate_shot=False).path
    proj = Project.load(folder)
    shot = wf.add_shot_range(proj, None, 2, 17, name="face")
    wf.analyze_shot(proj, shot)
    wf.extract_shot_curves(shot)
    proj.save()
    return folder


def _copy(folder: Path, tmp_path: Path) -> Project:
    import shutil

    dst = tmp_path / folder.name
    shutil.copytree(folder, dst)
    return Project.load(dst)


def _au12(cs) -> float:
    return float(np.nanmean(cs.base["AU12"]))


def test_curves_record_the_au_model_and_say_when_it_changed(analysed: Path, tmp_path: Path) -> None:
    """Each face's curves record which AU bases solved them (a hash of resources/facs/canonical.npz),
    in the project and in the analysis JSON; curves solved with other bases (a project made before
    an update) say so in their summary, and re-solving them (a neutral choice) measures them with
    the installed bases, keeping the edits."""
    from core.curves.curveset import extraction_of
    from core.facs import extract_shot

    proj = _copy(analysed, tmp_path)
    shot = proj.shots[0]
    (track,) = sorted(shot.curves)
    cs = shot.curves[track]
    assert cs.extraction["calibration"]["au_model"] == model_version()
    assert len(model_version()) == 12 and int(model_version(), 16) >= 0
    face = extract_shot(shot.analysis, filter="none")[0]
    assert face.to_json()["calibration"]["au_model"] == model_version()
    assert extraction_of(face)["calibration"]["au_model"] == model_version()
    assert "AU model" not in wf.calibration_summary(cs)

    wf.set_key(shot, "AU12", 6, -0.5)
    cs.extraction["calibration"]["au_model"] = "0123456789ab"  # as if solved before a basis update
    proj.save()
    reopened = Project.load(proj.path).shots[0].curves[track]
    summary = wf.calibration_summary(reopened)
    assert "solved with AU model 0123456789ab" in summary and model_version() in summary
    assert "--neutral auto" in summary
    proj = Project.load(proj.path)
    shot = proj.shots[0]
    render_of_stale = _render_models(proj, tmp_path / "stale.mov")
    assert render_of_stale["curves_solved_with"] == "0123456789ab" and render_of_stale["version"] == model_version()
    new = wf.set_neutral_frame(shot, None)
    assert new.extraction["calibration"]["au_model"] == model_version()
    assert "AU model" not in wf.calibration_summary(new)
    assert [(k.frame, k.value) for k in new.layer("Edit").curves["AU12"].keys] == [(6, -0.5)]
    proj.save()
    assert _render_models(proj, tmp_path / "fresh.mov")["curves_solved_with"] == model_version()


def _render_models(proj: Project, out: Path) -> dict:
    """The render sidecar's AU-model entry for two frames of the project's shot."""
    from core.delivery.sidecar import sidecar_path
    from core.render.delivery import render_shot

    render_shot(str(proj.path), str(out), frames=(6, 7), chunk=2)
    doc = json.loads(sidecar_path(out).read_text())
    return {m["stage"]: m for m in doc["models"]}["au_model"]


def test_neutral_frame_and_filter_through_the_project(analysed: Path, tmp_path: Path) -> None:
    proj = _copy(analysed, tmp_path)
    shot = proj.shots[0]
    (track,) = sorted(shot.curves)
    cs0 = shot.curves[track]
    # 16 frames: too few for an automatic neutral, so the canonical one; the smile reads as AU12
    assert cs0.extraction["calibration"]["method"] == "canonical" and cs0.extraction["neutral_frame"] is None
    assert cs0.extraction["filter"] == "one_euro" and _au12(cs0) > 2.0
    stack = UndoStack()
    wf.set_key(shot, "AU12", 6, -0.5, stack=stack)
    wf.set_gain(shot, 12, 0.5, stack=stack)
    before = shot.curves[track].state()

    new = wf.set_neutral_frame(shot, 8, stack=stack)
    assert shot.curves[track] is new and new.extraction["neutral_frame"] == 8
    assert new.extraction["calibration"] == {"method": "frame", "frame": 8, "au_model": model_version()}
    assert _au12(new) < 0.5  # her own smiling frame is the neutral: no smile is left to read
    assert [(k.frame, k.value) for k in new.layer("Edit").curves["AU12"].keys] == [(6, -0.5)] and new.gain("AU12") == 0.5
    assert "neutral frame 8; filter one_euro" == wf.calibration_summary(new)
    stack.undo()
    assert shot.curves[track].state() == before
    stack.redo()

    assert wf.set_curve_filter(shot, "none", stack=stack) == [track]
    cs = shot.curves[track]
    np.testing.assert_array_equal(cs.base["AU12"], cs.base_raw["AU12"])  # no filter: the per-frame solve
    assert cs.extraction["neutral_frame"] == 8 and cs.gain("AU12") == 0.5
    wf.set_curve_filter(shot, "savgol", stack=stack)
    cs = shot.curves[track]
    assert cs.extraction["filter"] == "savgol"
    # filtered, from the same kept solve (the head pose jitters from frame to frame)
    assert not np.allclose(cs.base["pose_Rx"], cs.base_raw["pose_Rx"])
    np.testing.assert_array_equal(cs.base_raw["AU12"], new.base_raw["AU12"])

    # saved with the project, and a re-extraction from the stored analysis keeps both choices
    proj.save()
    again = Project.load(proj.path).shots[0]
    assert again.curves[track].extraction["neutral_frame"] == 8 and again.curves[track].extraction["filter"] == "savgol"
    wf.extract_shot_curves(again)
    assert again.curves[track].extraction["neutral_frame"] == 8 and again.curves[track].extraction["filter"] == "savgol"
    assert again.curves[track].extraction["calibration"]["method"] == "frame"

    # back to the automatic choice (canonical for so short a shot)
    auto = wf.set_neutral_frame(again, None)
    assert auto.extraction["neutral_frame"] is None and auto.extraction["calibration"]["method"] == "canonical"
    assert auto.extraction["filter"] == "savgol"


def test_bad_choices_change_nothing(analysed: Path, tmp_path: Path) -> None:
    proj = _copy(analysed, tmp_path)
    shot = proj.shots[0]
    state = {t: cs.state() for t, cs in shot.curves.items()}
    with pytest.raises(ProjectError, match="outside shot face's analysed frames 2-17"):
        wf.set_neutral_frame(shot, 40)
    with pytest.raises(ProjectError, match="filter must be one of"):
        wf.set_curve_filter(shot, "gaussian")
    with pytest.raises(ProjectError, match="track"):
        wf.set_neutral_frame(shot, 5, track=7)
    assert {t: cs.state() for t, cs in shot.curves.items()} == state


def test_a_neutral_change_and_a_bake_report_progress_and_stop_when_cancelled(analysed: Path, tmp_path: Path) -> None:
    """The studio computes these off its main thread; its Cancel did nothing for 14 s on a
    1000-frame shot, because neither took a progress callback (a cancelled job raises from it)."""
    from core.errors import UserCancelled
    from core.project.commands import BakeToKeys, bake_keys

    proj = _copy(analysed, tmp_path)
    shot = proj.shots[0]
    state = {t: cs.state() for t, cs in shot.curves.items()}
    seen: list[tuple[int, int]] = []
    cmd = wf.neutral_frame_command(shot, 5, progress=lambda d, n: seen.append((d, n)))
    assert seen and seen[-1][0] == seen[-1][1] > 0 and [d for d, _ in seen] == sorted(d for d, _ in seen)

    def cancel(done: int, total: int) -> None:
        raise UserCancelled("cancelled")
    with pytest.raises(UserCancelled):
        wf.neutral_frame_command(shot, 5, progress=cancel)
    cs = shot.curves[min(shot.curves)]
    names = ["AU12", "AU06"]
    seen.clear()
    keys = bake_keys(cs, names, 0.01, progress=lambda d, n: seen.append((d, n)))
    assert seen == [(1, 2), (2, 2)]
    with pytest.raises(UserCancelled):
        bake_keys(cs, names, 0.01, progress=cancel)
    assert {t: c.state() for t, c in shot.curves.items()} == state  # computing changes nothing
    # precomputed keys make the same step as computing them when it is done
    stack = UndoStack()
    stack.push(BakeToKeys(cs, names, keys=keys))
    baked = {n: list(cs.layer("Baked").curves[n].keys) for n in names}
    stack.undo()
    stack.push(BakeToKeys(cs, names))
    assert {n: list(cs.layer("Baked").curves[n].keys) for n in names} == baked
    assert cmd.text.startswith("Neutral of face")


def test_project_calibrate_cli(analysed: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = _copy(analysed, tmp_path).path
    rc = main(["project", "calibrate", str(folder), "--shot", "face", "--neutral", "5", "--filter", "savgol",
               "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    (ext,) = json.loads(out)["faces"].values()
    assert ext["neutral_frame"] == 5 and ext["filter"] == "savgol" and ext["calibration"]["frame"] == 5
    rc = main(["project", "calibrate", str(folder), "--shot", "face", "--neutral", "auto"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "canonical neutral" in out and "filter savgol" in out
    cs = next(iter(Project.load(folder).shots[0].curves.values()))
    assert cs.extraction["neutral_frame"] is None and cs.extraction["filter"] == "savgol"
    for argv, message in ((["--neutral", "soon"], "plate frame number or 'auto'"),
                          ([], "give --neutral FRAME"),
                          (["--neutral", "99"], "outside shot face's analysed frames")):
        rc = main(["project", "calibrate", str(folder), "--shot", "face", *argv])
        out, err = capsys.readouterr()
        assert rc != 0 and message in err, err


def test_analyze_neutral_and_filter(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    clip = make_astronaut_plate(tmp_path / "astro.mov", 6, crf=14)
    out = tmp_path / "out"
    assert main(["analyze", str(clip), "--out", str(out), "--neutral", "3", "--filter", "none"]) == 0
    capsys.readouterr()
    (face,) = json.loads((out / "aus.json").read_text())["faces"]
    assert face["calibration"]["method"] == "frame" and face["calibration"]["frame"] == 3
    assert face["filter"]["name"] == "none" and face["filtered"]["AU12"] == face["raw"]["AU12"]
    assert max(face["raw"]["AU12"]) < 0.5
    # a neutral outside the clip is refused before any analysis, and nothing is written
    out2 = tmp_path / "out2"
    assert main(["analyze", str(clip), "--out", str(out2), "--neutral", "9"]) != 0
    assert "--neutral 9 is outside the analysed frames 0-5" in capsys.readouterr().err
    assert not (out2 / "analysis.npz").exists()


def test_project_file_extraction_field(analysed: Path) -> None:
    doc = json.loads((analysed / "project.json").read_text())
    entry = doc["shots"][0]["curves"][0]
    assert entry["extraction"]["filter"] == "one_euro"
    assert validate(doc) == []
    entry["extraction"] = {"filter": "gaussian", "neutral_frame": "x"}
    problems = validate(doc)
    assert any("extraction.filter: must be one of one_euro, savgol, none, got 'gaussian'" in p for p in problems)
    assert any("extraction.neutral_frame: expected an integer" in p for p in problems)
    del entry["extraction"]  # files written before the field existed are valid and read as before
    assert validate(doc) == []


def test_reanalysis_over_another_range_drops_a_lost_neutral(analysed: Path, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """A face measured from frame 3, then the shot trimmed to 6-15 and analysed again: frame 3 is
    gone, so the face goes back to the automatic neutral, says so, and the analysis succeeds."""
    proj = _copy(analysed, tmp_path)
    shot = proj.shots[0]
    (track,) = sorted(shot.curves)
    wf.set_neutral_frame(shot, 3)
    wf.trim_shot(proj, shot, 6, 15)
    wf.analyze_shot(proj, shot)
    with caplog.at_level("WARNING"):
        wf.extract_shot_curves(shot)
    cs = shot.curves[track]
    assert cs.extraction["neutral_frame"] is None and cs.extraction["calibration"]["method"] == "canonical"
    assert "neutral frame 3 is outside the new analysis (6-15)" in caplog.text
    # a neutral chosen explicitly outside the analysis is still an error
    with pytest.raises(ProjectError, match="outside shot face's analysed frames 6-15"):
        wf.set_neutral_frame(shot, 3)


def test_an_analysis_survives_another_sessions_save_made_while_it_ran(analysed: Path, tmp_path: Path) -> None:
    """`project analyze` ran for its minutes, another session saved a one-field edit meanwhile,
    and the analysis was thrown away ("saved by another session ... run the command again").
    It is carried into that session's version instead, whose edits stay (a key on the same
    shot included: the curves are extracted there again)."""
    from core.curves import Key
    from core.project.commands import AddKey

    proj = _copy(analysed, tmp_path)
    shot = proj.shots[0]
    track = min(shot.curves)
    wf.analyze_shot(proj, shot)  # this session: a (re-)analysis, not saved yet
    wf.extract_shot_curves(shot)
    other = Project.load(proj.path)  # another session, meanwhile: a setting and a key, saved
    other.shots[0].render_settings = {**other.shots[0].render_settings, "blend": "gaussian"}
    UndoStack().push(AddKey(other.shots[0].curves[track], "Edit", "AU12", Key(9, 1.5)))
    wf.save_project(other)
    path, lost = wf.save_analyses(proj, [shot])
    assert lost == [] and path == proj.path / "project.json"
    back = Project.load(proj.path)
    assert back.shots[0].render_settings["blend"] == "gaussian"
    assert [k.frame for k in back.shots[0].curves[track].layer("Edit").curves["AU12"].keys] == [9]
    assert back.shots[0].has_analysis and back.shots[0].analysis.n_frames == shot.analysis.n_frames
    # a shot the other session re-ranged cannot take an analysis of other frames: said, not saved
    other = Project.load(proj.path)
    wf.trim_shot(other, other.shots[0], 3, 15)
    wf.save_project(other)
    _, lost = wf.save_analyses(proj, [shot])
    assert lost == ["face"]
