"""`facsimile project ...` on real files: plates encoded with PyAV (counter frames with a tmcd
timecode, astronaut frames for a real face), shots by range / EDL / cut detection, analysis,
key/gain/preset edits with undo and save/load round trips, render settings, recovery."""

from __future__ import annotations

import csv
import io
import json
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from core.cli import main
from core.curves import CurveSet
from core.errors import ProjectError
from core.project import Project, UndoStack
from core.project import workflow as wf
from core.project.commands import SetCurveSet
from tests.mediagen import make_astronaut_plate, make_video

AU_NAMES = ["AU01", "AU04", "AU12", "AU45", "pose_Rx"]


def _facs_available() -> bool:
    try:
        from core.facs import extract_shot  # noqa: F401
    except ImportError:
        return False
    return True


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    rc = main(["project", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def run_json(capsys: pytest.CaptureFixture, *argv: str) -> dict:
    rc, out, err = run(capsys, *argv, "--json")
    assert rc == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def plate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 counter frames at 24 fps starting at 01:00:00:00 (reel A001)."""
    return make_video(tmp_path_factory.mktemp("plates") / "A001.mov", frames=120, fps=24, timecode="01:00:00:00",
                      gop=24)


@pytest.fixture(scope="module")
def astro_plate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """14 frames of the astronaut photograph drifting right, 24 fps, TC 10:00:00:00."""
    return make_astronaut_plate(tmp_path_factory.mktemp("astro") / "astro.mov", 14, timecode="10:00:00:00")


def _with_curves(tmp_path: Path, plate: Path) -> Path:
    """A saved project whose shot 'sh010' (frames 20-59) has a CurveSet on track 0 (the form
    extraction makes: base = extracted, no edits)."""
    folder = wf.create_project(tmp_path / "show", plates=[plate], whole_plate_shot=False).path
    proj = Project.load(folder)
    shot = wf.add_shot_range(proj, "A001", 20, 59, name="sh010", handles=2)
    first, last = shot.range_with_handles
    n = last - first + 1
    t = np.linspace(0, 1, n)
    base = {name: (1.0 + np.sin(2 * np.pi * t * (i + 1))) for i, name in enumerate(AU_NAMES)}
    UndoStack().push(SetCurveSet(shot, 0, CurveSet(AU_NAMES, (first, last), base=base,
                                                   confidence=np.full(n, 0.9), success=np.ones(n, bool))))
    proj.save()
    return folder


# ---------------------------------------------------------------------- create, info, shots
def test_create_then_info(tmp_path: Path, plate: Path, capsys: pytest.CaptureFixture) -> None:
    made = run_json(capsys, "create", str(tmp_path / "ep101"), "--plate", str(plate))
    folder = Path(made["path"])
    assert folder.name == "ep101.facsimile" and (folder / "project.json").is_file()
    info = run_json(capsys, "info", str(folder))
    assert info["name"] == "ep101"
    (pl,) = info["plates"]
    assert (pl["id"], pl["frames"], pl["width"], pl["height"], pl["fps"], pl["timecode"]) == \
        ("A001", 120, 320, 240, "24", "01:00:00:00")
    (sh,) = info["shots"]
    assert (sh["frame_in"], sh["frame_out"], sh["analysed"], sh["tracks"]) == (0, 119, False, [])
    assert sh["timecode_in"] == "01:00:00:00" and sh["timecode_out"] == "01:00:04:23"
    assert info["warnings"] == []
    rc, out, _ = run(capsys, "info", str(folder))
    assert rc == 0 and "120 frames" in out and "not analysed" in out
    # creating over an existing project is refused, nothing touched
    before = (folder / "project.json").read_bytes()
    rc, _, err = run(capsys, "create", str(folder))
    assert rc == 4 and "already holds a project" in err
    assert (folder / "project.json").read_bytes() == before
    # a plate that is not there: one clear line, no folder created
    rc, _, err = run(capsys, "create", str(tmp_path / "bad"), "--plate", str(tmp_path / "nope.mov"))
    assert rc == 3 and "plate not found" in err and not (tmp_path / "bad.facsimile").exists()


def test_info_warns_about_missing_plate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    clip = make_video(tmp_path / "gone.mov", frames=10, fps=24)
    folder = wf.create_project(tmp_path / "p", plates=[clip]).path
    clip.unlink()
    info = run_json(capsys, "info", str(folder))
    assert info["plates"][0]["missing"] is True
    assert any("file missing" in w for w in info["warnings"])


EDL = """TITLE: cli test
FCM: NON-DROP FRAME

001  A001     V     C        01:00:01:00 01:00:02:00 00:00:00:00 00:00:01:00
* FROM CLIP NAME: sh010

002  A001     V     C        01:00:03:12 01:00:04:00 00:00:01:00 00:00:01:12
* FROM CLIP NAME: sh020

003  B002     V     C        05:00:00:00 05:00:01:00 00:00:01:12 00:00:02:12
* FROM CLIP NAME: elsewhere
"""


def test_shots_by_range_edl_and_otio_export(tmp_path: Path, plate: Path, capsys: pytest.CaptureFixture) -> None:
    folder = run_json(capsys, "create", str(tmp_path / "cut"), "--plate", str(plate), "--no-shot")["path"]
    res = run_json(capsys, "shots", folder, "--plate", "A001", "--range", "100-110", "--name", "tail", "--handles", "3")
    assert [(s["name"], s["frame_in"], s["frame_out"], s["handles"], s["timecode"]) for s in res["shots"]] == \
        [("tail", 100, 110, 3, "01:00:04:04")]
    edl = tmp_path / "cut.edl"
    edl.write_text(EDL)
    rc, out, err = run(capsys, "shots", folder, "--plate", "A001", "--edl", str(edl), "--handles", "4")
    assert rc == 0, err
    assert "event 3" in err and "05:00:00:00" in err  # the unmatched event is reported, not dropped silently
    proj = Project.load(folder)
    assert [(s.name, s.frame_in, s.frame_out, s.handles) for s in proj.shots] == [
        ("tail", 100, 110, 3), ("sh010", 24, 47, 4), ("sh020", 84, 95, 4)]
    # a range outside the plate is a clear error and changes nothing
    before = (Path(folder) / "project.json").read_bytes()
    rc, _, err = run(capsys, "shots", folder, "--range", "100-200")
    assert rc == 4 and "not within plate A001" in err
    assert (Path(folder) / "project.json").read_bytes() == before
    # export the shot list and read it back through OTIO
    out_otio = tmp_path / "shots.otio"
    assert run_json(capsys, "export-otio", folder, str(out_otio))["shots"] == 3
    import opentimelineio as otio

    clips = list(otio.adapters.read_from_file(str(out_otio)).find_clips())
    assert [c.name for c in clips] == ["tail", "sh010", "sh020"]
    assert otio.opentime.to_timecode(clips[1].source_range.start_time, 24) == "01:00:01:00"
    # ... and into another project through --edl FILE.otio
    other = run_json(capsys, "create", str(tmp_path / "conform"), "--plate", str(plate), "--no-shot")["path"]
    res = run_json(capsys, "shots", other, "--edl", str(out_otio), "--handles", "2")
    assert [(s["name"], s["frame_in"], s["frame_out"]) for s in res["shots"]] == [
        ("tail", 100, 110), ("sh010", 24, 47), ("sh020", 84, 95)]
    # the same cut list again adds nothing, and is no error (a conform script re-runs it)
    rc, out, err = run(capsys, "shots", other, "--edl", str(out_otio))
    assert rc == 0 and "nothing added" in out and "covers the same frames already" in err
    assert len(Project.load(other).shots) == 3


def test_shots_by_cut_detection(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "twoscenes.mp4"
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=Fraction(25))
        st.width, st.height, st.pix_fmt = 160, 120, "yuv420p"
        rng = np.random.default_rng(3)
        scenes = [np.clip(rng.normal(0, 25, (120, 160, 3)) + colour, 0, 255)
                  for colour in ((200, 60, 40), (30, 90, 210))]  # a different scene from frame 30 on
        for i in range(50):
            img = np.roll(scenes[i >= 30], i, axis=1).astype(np.uint8)
            for pkt in st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                c.mux(pkt)
        for pkt in st.encode():
            c.mux(pkt)
    folder = wf.create_project(tmp_path / "cuts", plates=[path], whole_plate_shot=False).path
    res = run_json(capsys, "shots", str(folder), "--detect-cuts", "--handles", "2")
    assert [(s["frame_in"], s["frame_out"]) for s in res["shots"]] == [(0, 29), (30, 49)]
    # run again: the scenes are shots already (it added two more of each); nonsense settings refused
    res = run_json(capsys, "shots", str(folder), "--detect-cuts", "--handles", "2")
    assert res["shots"] == [] and len(Project.load(folder).shots) == 2
    for bad in (["--threshold", "-1"], ["--min-scene-len", "0"]):
        assert main(["project", "shots", str(folder), "--detect-cuts", *bad]) == 4


# ---------------------------------------------------------------------- analysis
def test_analyze_astronaut_shot(tmp_path: Path, astro_plate: Path, capsys: pytest.CaptureFixture) -> None:
    if not _facs_available():
        pytest.skip("core.facs.extract_shot (the AU engine) is not importable: AU curve extraction cannot run; "
                    "test_analyze_without_au_engine covers the loud failure")
    folder = wf.create_project(tmp_path / "astro", plates=[astro_plate], whole_plate_shot=False).path
    wf.add_shot_range(proj := Project.load(folder), None, 2, 11, name="face", handles=1)
    proj.save()
    res = run_json(capsys, "analyze", str(folder), "--shot", "face", "--max-faces", "2")
    (entry,) = res["shots"]
    assert entry["frames"] == 12 and entry["faces"] >= 1 and entry["curves"]
    track = entry["curves"][0]
    proj = Project.load(folder)
    shot = proj.shots[0]
    assert shot.has_analysis and list(shot.analysis.frame_indices) == list(range(1, 13))
    cs = shot.curves[track]
    assert cs.frame_range == (1, 12) and "AU12" in cs.names
    assert np.isfinite(cs.evaluate("AU12")).all()  # a face on every frame: a value on every frame
    # edits (a key, a gain on both sides) survive a re-extraction from the stored analysis
    assert run(capsys, "key", str(folder), "--shot", "face", "--curve", "AU12", "--frame", "6", "--layer-value",
               "-0.5")[0] == 0
    assert run(capsys, "gain", str(folder), "--shot", "face", "--au", "12", "--gain", "0.5")[0] == 0
    assert run(capsys, "analyze", str(folder), "--shot", "face", "--extract-only")[0] == 0
    cs = Project.load(folder).shots[0].curves[track]
    assert {n: cs.gain(n) for n in cs.names if n.startswith("AU12")} == {"AU12": 0.5, "AU12L": 0.5, "AU12R": 0.5}
    assert [(k.frame, k.value) for k in cs.layer("Edit").curves["AU12"].keys] == [(6, -0.5)]
    info = run_json(capsys, "info", str(folder), "--no-hash")
    assert info["shots"][0]["analysed"] and info["shots"][0]["curves_edited"] == {str(track): True}
    out = tmp_path / "face.csv"
    assert run(capsys, "curves", str(folder), "--shot", "face", "--out", str(out))[0] == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text()), skipinitialspace=True))
    assert len(rows) == 12 and [int(r["plate_frame"]) for r in rows] == list(range(1, 13))
    r6 = rows[5]
    expect = np.clip((float(r6["AU12_r_base"]) - 0.5) * 0.5, 0, 5)
    assert float(r6["AU12_r"]) == pytest.approx(expect, abs=1e-5)
    # the CSV reads back with import-au, gaze included (it was named gaze_x, which OpenFace readers do not know)
    from core.facs.openface import read_openface_csv

    back = read_openface_csv(out)["faces"][track]
    assert back["gaze_x"] == pytest.approx([float(r["gaze_angle_x"]) for r in rows])
    assert back["AU12"] == pytest.approx([float(r["AU12_r"]) for r in rows]) and back["frame"][0] == 2


def test_analyze_without_au_engine(tmp_path: Path, astro_plate: Path, capsys: pytest.CaptureFixture,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import core.facs

    if hasattr(core.facs, "extract_shot"):  # a build without the AU engine
        monkeypatch.delattr(core.facs, "extract_shot")
    folder = wf.create_project(tmp_path / "astro", plates=[astro_plate], whole_plate_shot=False).path
    wf.add_shot_range(proj := Project.load(folder), None, 2, 11, name="face", handles=1)
    proj.save()
    rc, out, err = run(capsys, "analyze", str(folder), "--shot", "face")
    assert rc != 0 and "could NOT be extracted" in err and "--extract-only" in err
    shot = Project.load(folder).shots[0]
    assert shot.has_analysis and not shot.curves  # the analysis was stored, no curves invented
    a = shot.analysis
    assert list(a.frame_indices) == list(range(1, 13)) and a.n_tracks >= 1 and a.present[:, 0].all()


def test_analyze_interrupted_leaves_project_as_it_was(tmp_path: Path, astro_plate: Path,
                                                      capsys: pytest.CaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import core.cli.cmd_project as cmd

    folder = wf.create_project(tmp_path / "astro", plates=[astro_plate]).path
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    real = cmd._progress_bar

    def ctrl_c_bar(desc: str):  # the user presses Ctrl+C while the 4th frame is analysed
        bar, progress = real(desc)

        def hit(done: int, total: int) -> None:
            progress(done, total)
            if done >= 4:
                raise KeyboardInterrupt

        return bar, hit

    monkeypatch.setattr(cmd, "_progress_bar", ctrl_c_bar)
    rc, _, err = run(capsys, "analyze", str(folder), "--all")
    assert rc == 130 and "interrupted" in err and "left as it was" in err
    after = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before


# ---------------------------------------------------------------------- edits
def test_key_gain_preset_undo_and_roundtrip(tmp_path: Path, plate: Path, capsys: pytest.CaptureFixture) -> None:
    folder = _with_curves(tmp_path, plate)
    original = Project.load(folder).state()
    assert run(capsys, "key", str(folder), "--shot", "sh010", "--curve", "au12", "--frame", "30", "--layer-value",
               "0.5", "--interp", "linear")[0] == 0
    assert run(capsys, "key", str(folder), "--shot", "sh010", "--curve", "AU12", "--frame", "40", "--layer-value",
               "0.25")[0] == 0
    rc, _, err = run(capsys, "gain", str(folder), "--shot", "sh010", "--au", "4", "--gain", "1.8")
    assert rc == 0 and "non-physiological" in err
    preset = tmp_path / "subtle.json"
    preset.write_text(json.dumps({"enable_smooth": True, "au_gain": {"4": 1.2, "12": 0.8, "43": 1.5}}))
    assert run(capsys, "preset", str(folder), str(preset), "--shot", "sh010")[0] == 0

    proj = Project.load(folder)
    cs = proj.shots[0].curves[0]
    keys = cs.layer("Edit").curves["AU12"].keys
    assert [(k.frame, k.value, k.interp.value) for k in keys] == [(30, 0.5, "linear"), (40, 0.25, "bezier")]
    assert cs.gains == {"AU04": 1.2, "AU12": 0.8, "AU45": 1.5} and cs.enable_smooth
    # evaluated: (smoothed base + key layer) * gain, clamped; the CSV/JSON export says the same
    expect = np.clip((cs._smoothed_base("AU12")[30 - 18] + 0.5) * 0.8, 0, 5)
    assert cs.evaluate("AU12", [30])[0] == pytest.approx(expect)
    table = run_json(capsys, "curves", str(folder), "--shot", "sh010")
    assert table["frames"][0] == 18 and table["frames"][-1] == 61
    assert table["curves"]["AU12"]["edited"][30 - 18] == pytest.approx(expect, abs=1e-6)
    assert table["curves"]["AU12"]["base"][30 - 18] == pytest.approx(cs.base["AU12"][12], abs=1e-6)
    out = tmp_path / "c.csv"
    assert run(capsys, "curves", str(folder), "--shot", "sh010", "--out", str(out))[0] == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text()), skipinitialspace=True))
    row = next(r for r in rows if r["plate_frame"] == "30")
    assert int(row["frame"]) == 31 and float(row["AU12_r"]) == pytest.approx(expect, abs=1e-5)
    assert float(row["timestamp"]) == pytest.approx(30 / 24, abs=1e-6) and "pose_Rx_base" in row

    # the same edits through the API with one undo stack: undo all -> exactly the original
    proj = Project.load(folder)
    stack = UndoStack()
    shot = proj.shots[0]
    wf.set_key(shot, "AU01", 25, 1.0, stack=stack)
    wf.set_gain(shot, 12, 0.3, stack=stack)
    wf.apply_preset(shot, {"enable_smooth": False, "au_gain": {"1": 0.5}}, stack=stack)
    wf.set_render_settings(proj, shot, {"mode": "swap"}, stack=stack)
    edited = proj.state()
    while stack.undo():
        pass
    assert proj.state() == Project.load(folder).state() != original
    while stack.redo():
        pass
    assert proj.state() == edited
    proj.save()
    assert Project.load(folder).state() == edited

    info = run_json(capsys, "info", str(folder))
    assert info["shots"][0]["curves_edited"] == {"0": True}
    # bad edits: one line, nothing saved
    before = (folder / "project.json").read_bytes()
    for argv, msg in ((["key", str(folder), "--shot", "sh010", "--curve", "AU99", "--frame", "30", "--value", "1"],
                       "no curve 'AU99'"),
                      (["key", str(folder), "--shot", "sh010", "--curve", "AU12", "--frame", "500", "--value", "1"],
                       "outside shot"),
                      (["gain", str(folder), "--shot", "sh010", "--au", "12", "--gain", "3"], "within 0.0..2.0"),
                      (["gain", str(folder), "--shot", "nope", "--au", "12", "--gain", "1"], "no shot 'nope'")):
        rc, _, err = run(capsys, *argv)
        assert rc == 4 and msg in err and err.count("\n") == 1, err
    assert (folder / "project.json").read_bytes() == before


def test_key_value_is_what_the_curve_reads(tmp_path: Path, plate: Path, capsys: pytest.CaptureFixture) -> None:
    """`project key --value V` makes the curve read V at the frame, after the layers, the gain and
    the base smoothing, as the studio's graph shows it; it printed "key AU12 = 0" while it had
    added 0 to the curve on the additive Edit layer, so the guide's "take the smile out at
    frame 10" changed nothing. --layer-value keeps the key's own value on its layer."""
    folder = _with_curves(tmp_path, plate)
    assert run(capsys, "gain", str(folder), "--shot", "sh010", "--au", "12", "--gain", "0.8")[0] == 0
    preset = tmp_path / "smooth.json"
    preset.write_text(json.dumps({"enable_smooth": True}))
    assert run(capsys, "preset", str(folder), str(preset), "--shot", "sh010")[0] == 0
    res = run_json(capsys, "key", str(folder), "--shot", "sh010", "--curve", "AU12", "--frame", "30", "--value", "0")
    assert res["value"] == pytest.approx(0.0, abs=1e-9) and res["layer_value"] < 0
    res = run_json(capsys, "key", str(folder), "--shot", "sh010", "--curve", "AU12", "--frame", "45", "--value", "4")
    assert res["value"] == pytest.approx(4.0, abs=1e-9)
    cs = Project.load(folder).shots[0].curves[0]
    assert cs.evaluate("AU12", [30, 45]) == pytest.approx([0.0, 4.0], abs=1e-9)
    # a key between the two keeps both: each reads what it was given
    assert run(capsys, "key", str(folder), "--shot", "sh010", "--curve", "AU12", "--frame", "38", "--value", "2.5",
               "--interp", "linear")[0] == 0
    cs = Project.load(folder).shots[0].curves[0]
    assert cs.evaluate("AU12", [30, 38, 45]) == pytest.approx([0.0, 2.5, 4.0], abs=1e-9)
    # an override layer keyed by value reads its value too
    assert run(capsys, "key", str(folder), "--shot", "sh010", "--curve", "AU01", "--frame", "25", "--value", "3",
               "--layer", "Hold")[0] == 0
    assert Project.load(folder).shots[0].curves[0].evaluate("AU01", [25])[0] == pytest.approx(3.0, abs=1e-9)
    for argv, msg in ((["--value", "7"], "outside the AU scale"),
                      (["--layer-value", "9"], "outside the AU scale")):
        rc, _, err = run(capsys, "key", str(folder), "--shot", "sh010", "--curve", "AU12", "--frame", "30", *argv)
        assert rc != 0 and msg in err, (argv, err)
    with pytest.raises(SystemExit):
        run(capsys, "key", str(folder), "--shot", "sh010", "--curve", "AU12", "--frame", "30", "--value", "1",
            "--layer-value", "1")
    # no face measured on the frame: no value to reach
    proj = Project.load(folder)
    cs = proj.shots[0].curves[0]
    gap = cs.base["AU12"].copy()
    gap[50 - cs.frame_range[0]] = np.nan
    cs.set_base("AU12", gap)
    cs.base_extracted["AU12"] = gap.copy()
    proj.save()
    rc, _, err = run(capsys, "key", str(folder), "--shot", "sh010", "--curve", "AU12", "--frame", "50", "--value", "1")
    assert rc != 0 and "no value at frame 50" in err and "--layer-value" in err


def test_gain_warning_in_info(tmp_path: Path, plate: Path, capsys: pytest.CaptureFixture) -> None:
    folder = _with_curves(tmp_path, plate)
    assert run(capsys, "gain", str(folder), "--shot", "sh010", "--au", "AU12", "--gain", "1.7")[0] == 0
    info = run_json(capsys, "info", str(folder), "--no-hash")
    assert any("AU12: gain 1.70" in w and "non-physiological" in w for w in info["warnings"])


def test_set_render_settings(tmp_path: Path, plate: Path, capsys: pytest.CaptureFixture) -> None:
    folder = wf.create_project(tmp_path / "p", plates=[plate]).path
    before = (folder / "project.json").read_bytes()
    rc, _, err = run(capsys, "set", str(folder), "--shot", "A001", "mode=bogus")
    assert rc != 0 and "mode must be one of edit, swap (got 'bogus')" in err
    rc, _, err = run(capsys, "set", str(folder), "--shot", "A001", "colour_space=acescg")
    assert rc == 4 and "unknown render setting" in err and "blend" in err
    rc, _, err = run(capsys, "set", str(folder), "--shot", "A001", "feather=lots")
    assert rc == 4 and "feather: expected a number" in err
    assert (folder / "project.json").read_bytes() == before
    res = run_json(capsys, "set", str(folder), "--shot", "A001", "mode=swap", "blend=gaussian", "skin=off",
                   "feather=0.1")
    assert res["render_settings"] == {"mode": "swap", "blend": "gaussian", "skin": False, "feather": 0.1}
    from core.render.renderer import RenderSettings

    rs = RenderSettings.from_json(Project.load(folder).shots[0].render_settings)
    assert (rs.mode, rs.blend, rs.skin, rs.feather, rs.colour) == ("swap", "gaussian", False, 0.1, "reinhard")


def test_assign_needs_a_template_in_the_library(tmp_path: Path, plate: Path, capsys: pytest.CaptureFixture) -> None:
    folder = wf.create_project(tmp_path / "p", plates=[plate]).path
    lib = tmp_path / "library"
    lib.mkdir()
    rc, _, err = run(capsys, "assign", str(folder), "--shot", "A001", "--template", "eileen", "--library", str(lib))
    assert rc == 4 and "no identity template 'eileen'" in err
    assert Project.load(folder).shots[0].identity is None


def test_assign_real_template(tmp_path: Path, plate: Path, capsys: pytest.CaptureFixture) -> None:
    from skimage.data import astronaut

    from core.identity.library import Library

    t = Library(tmp_path / "library").add("Eileen Collins", [astronaut()])
    folder = wf.create_project(tmp_path / "p", plates=[plate]).path
    res = run_json(capsys, "assign", str(folder), "--shot", "A001", "--template", "eileen collins",
                   "--library", str(tmp_path / "library"))
    assert res["identity"] == t.id
    proj = Project.load(folder)
    assert proj.shots[0].identity == t.id and proj.library_path == str((tmp_path / "library").resolve())
    assert run_json(capsys, "info", str(folder), "--no-hash")["warnings"] == []
    # the template disappears from the library: info says so
    Library(tmp_path / "library").remove(t.id)
    warns = run_json(capsys, "info", str(folder), "--no-hash")["warnings"]
    assert any("identity template" in w and "missing" in w for w in warns)


# ---------------------------------------------------------------------- recovery
def test_newer_autosave_blocks_edits_and_recover_offers_it(tmp_path: Path, plate: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    folder = _with_curves(tmp_path, plate)
    # a studio session edits, autosaves, then crashes without saving
    studio = Project.load(folder)
    wf.set_gain(studio.shots[0], 12, 0.4)
    studio.autosave()
    saved = (folder / "project.json").read_bytes()
    rc, _, err = run(capsys, "gain", str(folder), "--shot", "sh010", "--au", "4", "--gain", "0.9")
    assert rc == 4 and f"facsimile project recover {folder}" in err and "--use autosave" in err
    assert (folder / "project.json").read_bytes() == saved
    assert any("autosave" in w for w in run_json(capsys, "info", str(folder), "--no-hash")["warnings"])
    listing = run_json(capsys, "recover", str(folder))
    assert listing["autosave"] is not None and listing["backups"]
    rc, out, _ = run(capsys, "recover", str(folder))
    assert "--use autosave" in out
    assert run(capsys, "recover", str(folder), "--use", "autosave")[0] == 0
    proj = Project.load(folder)
    assert proj.shots[0].curves[0].gains == {"AU12": 0.4}
    assert not (folder / "autosave" / "project.json").exists()
    # edits work again, and the version the recovery replaced is backup 1
    assert run(capsys, "gain", str(folder), "--shot", "sh010", "--au", "4", "--gain", "0.9")[0] == 0
    assert run(capsys, "recover", str(folder), "--use", "backup", "2")[0] == 0
    assert Project.load(folder).shots[0].curves[0].gains == {}
    rc, _, err = run(capsys, "recover", str(folder), "--use", "backup", "99")
    assert rc == 4 and "backup(s)" in err


def test_ignore_autosave_keeps_it_as_backup(tmp_path: Path, plate: Path, capsys: pytest.CaptureFixture) -> None:
    folder = _with_curves(tmp_path, plate)
    studio = Project.load(folder)
    wf.set_gain(studio.shots[0], 12, 0.4)
    studio.autosave()
    assert run(capsys, "gain", str(folder), "--shot", "sh010", "--au", "4", "--gain", "0.9",
               "--ignore-autosave")[0] == 0
    assert Project.load(folder).shots[0].curves[0].gains == {"AU04": 0.9}
    kept = [b for b in (folder / "backups").glob("*-autosave.json")]
    assert len(kept) == 1  # the crashed session's work is kept, recoverable as a backup
    doc = Project.load(folder, document=kept[0])
    assert doc.shots[0].curves[0].gains == {"AU12": 0.4}


def test_edit_refused_when_saved_meanwhile(tmp_path: Path, plate: Path) -> None:
    folder = _with_curves(tmp_path, plate)
    mine = wf.open_project(folder)
    other = Project.load(folder)  # the studio saves while this edit runs
    wf.set_gain(other.shots[0], 12, 0.7)
    other.save()
    wf.set_gain(mine.shots[0], 4, 0.2)
    with pytest.raises(wf.ProjectError, match="saved by another session"):
        wf.save_project(mine)
    assert Project.load(folder).shots[0].curves[0].gains == {"AU12": 0.7}


def test_image_sequence_plate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tests.mediagen import make_sequence

    pattern = make_sequence(tmp_path / "seq", "plate", "exr", frames=6, start=1001, fps=Fraction(25),
                            timecode="02:00:00:00")
    made = run_json(capsys, "create", str(tmp_path / "exr"), "--name", "EXR job", "--plate", pattern)
    info = run_json(capsys, "info", made["path"])
    (pl,) = info["plates"]
    assert (pl["id"], pl["frames"], pl["fps"], pl["missing"]) == ("plate", 6, "25", False)
    assert info["name"] == "EXR job" and info["shots"][0]["frame_out"] == 5
    for f in (tmp_path / "seq").iterdir():
        f.unlink()
    info = run_json(capsys, "info", made["path"])
    assert info["plates"][0]["missing"] and any("file missing" in w for w in info["warnings"])


def test_analyze_shot_without_face(tmp_path: Path, plate: Path, capsys: pytest.CaptureFixture) -> None:
    folder = wf.create_project(tmp_path / "noface", plates=[plate], whole_plate_shot=False).path
    proj = Project.load(folder)
    wf.add_shot_range(proj, "A001", 10, 15, name="empty")
    wf.add_shot_range(proj, "A001", 20, 25, name="other")
    proj.save()
    rc, out, err = run(capsys, "analyze", str(folder))
    assert rc == 4 and "2 shots" in err  # several shots: say which
    rc, out, err = run(capsys, "analyze", str(folder), "--shot", "empty")
    assert rc == 0 and "no face found in 6 frame(s)" in err and "0 face(s)" in out
    proj = Project.load(folder)
    assert proj.shots[0].has_analysis and proj.shots[0].analysis.n_tracks == 0 and not proj.shots[0].curves
    assert not proj.shots[1].has_analysis


def test_info_warns_when_shot_range_changed_after_analysis(tmp_path: Path, plate: Path) -> None:
    from core.project.commands import SetShotRange

    folder = _with_curves(tmp_path, plate)
    proj = Project.load(folder)
    assert not any("analyse it again" in w for w in wf.project_warnings(proj, check_hash=False))
    UndoStack().push(SetShotRange(proj, proj.shots[0].id, 20, 80))
    warns = wf.project_warnings(proj, check_hash=False)
    assert any("curves cover frames 18-61 but the shot with handles is 18-82" in w for w in warns)


def test_trim_and_remove_shot(tmp_path: Path, plate: Path, capsys: pytest.CaptureFixture) -> None:
    folder = _with_curves(tmp_path, plate)
    assert run_json(capsys, "trim", str(folder), "--shot", "sh010", "--range", "22-50", "--handles", "0") == \
        {"shot": "sh001", "frame_in": 22, "frame_out": 50, "handles": 0}
    proj = Project.load(folder)
    assert (proj.shots[0].frame_in, proj.shots[0].frame_out, proj.shots[0].curves[0].frame_range) == (22, 50, (18, 61))
    rc, _, err = run(capsys, "trim", str(folder), "--shot", "sh010", "--range", "22-500")
    assert rc == 4 and "not within plate" in err
    assert run(capsys, "remove-shot", str(folder), "--shot", "sh010")[0] == 0
    assert Project.load(folder).shots == []
    assert run(capsys, "recover", str(folder), "--use", "backup", "1")[0] == 0
    assert [s.name for s in Project.load(folder).shots] == ["sh010"]


def test_gain_keys_from_the_cli(tmp_path: Path, plate: Path, capsys: pytest.CaptureFixture) -> None:
    folder = _with_curves(tmp_path, plate)  # sh010: frames 20-59, handles 2 -> curves on 18..61
    assert run(capsys, "gain", str(folder), "--shot", "sh010", "--au", "12", "--gain", "0.5")[0] == 0  # static
    static = Project.load(folder).shots[0].curves[0].evaluate("AU12")
    rc, out, err = run(capsys, "gain", str(folder), "--shot", "sh010", "--curve", "AU12", "--value", "1.3",
                       "--frame", "30")
    assert rc == 0 and "gain key 1.3 at frame 30 on AU12" in out and not err
    data = run_json(capsys, "gain", str(folder), "--shot", "sh010", "--curve", "AU12", "--value", "1.9",
                    "--frame", "50")
    assert data["frame"] == 50 and data["curves"] == ["AU12"]
    cs = Project.load(folder).shots[0].curves[0]
    assert [(k.frame, k.value) for k in cs.gain_keys["AU12"].keys] == [(30, 1.3), (50, 1.9)]
    assert cs.gain("AU12") == 0.5  # the static gain is kept, the keys replace it while they exist
    f = cs.all_frames()
    g = cs.gain_at("AU12", f)
    assert g[f == 18][0] == pytest.approx(1.3) and g[f == 61][0] == pytest.approx(1.9)
    base = cs.base["AU12"]
    np.testing.assert_allclose(cs.evaluate("AU12"), np.clip(base * g, 0, 5))
    # the exported curves (what a render's sidecar holds) carry the animated gain
    table = run_json(capsys, "curves", str(folder), "--shot", "sh010")
    np.testing.assert_allclose(table["curves"]["AU12"]["edited"], np.clip(base * g, 0, 5), atol=1e-6)
    # warnings say where the keyed gain is above 1.5
    info = run_json(capsys, "info", str(folder), "--no-hash")
    w = next(w for w in info["warnings"] if "AU12: keyed gain" in w)
    hot = f[g > 1.5]
    assert f"at frames {hot[0]}-61" in w and info["shots"][0]["gain_keys"]["0"]["AU12"] == [[30, 1.3], [50, 1.9]]
    # a static gain while keyed is kept, with a notice that the keys win
    rc, _, err = run(capsys, "gain", str(folder), "--shot", "sh010", "--au", "12", "--gain", "0.7")
    assert rc == 0 and "have gain keys" in err
    # delete one key, then all: the static gain applies again
    assert run(capsys, "gain", str(folder), "--shot", "sh010", "--au", "12", "--delete-keys", "--frame", "50")[0] == 0
    assert [k.frame for k in Project.load(folder).shots[0].curves[0].gain_keys["AU12"].keys] == [30]
    assert run(capsys, "gain", str(folder), "--shot", "sh010", "--au", "12", "--delete-keys")[0] == 0
    cs = Project.load(folder).shots[0].curves[0]
    assert cs.gain_keys == {} and cs.gain("AU12") == 0.7
    np.testing.assert_allclose(cs.evaluate("AU12"), static * 0.7 / 0.5)
    # bad gain-key edits: one line, nothing saved
    before = (folder / "project.json").read_bytes()
    for argv, msg in ((["--value", "2.5", "--frame", "30"], "within 0.0..2.0"),
                      (["--value", "1.0", "--frame", "500"], "outside shot"),
                      (["--frame", "30"], "give the gain"),
                      (["--value", "1", "--delete-keys"], "takes no --gain"),
                      (["--delete-keys", "--frame", "3"], "no gain key at frame 3: nothing to delete"),
                      (["--delete-keys"], "no gain key: nothing to delete")):
        rc, _, err = run(capsys, "gain", str(folder), "--shot", "sh010", "--curve", "AU12", *argv)
        assert rc == 4 and msg in err and err.count("\n") == 1, err
    assert (folder / "project.json").read_bytes() == before


def test_project_folder_without_suffix_is_edited_in_place(tmp_path: Path) -> None:
    """A project folder renamed without `.facsimile` is still that project: edits go into it,
    not into a new `NAME.facsimile` folder beside it."""
    from core.cli import main
    from core.project import Project
    from tests.mediagen import make_video

    plate = make_video(tmp_path / "p.mp4", frames=6)
    assert main(["project", "create", str(tmp_path / "a.facsimile"), "--plate", str(plate)]) == 0
    moved = tmp_path / "renamed"
    (tmp_path / "a.facsimile").rename(moved)
    shot = Project.load(moved).shots[0].id
    assert main(["project", "set", str(moved), "--shot", shot, "mode=swap"]) == 0
    assert not (tmp_path / "renamed.facsimile").exists()
    assert Project.load(moved).shots[0].render_settings["mode"] == "swap"


_SIGNAL_DRIVER = r"""
import sys, time
from pathlib import Path
import core.cli.cmd_project as cmd
from core.cli import main
from core.errors import ProjectError

marker = Path(sys.argv[1])
real = cmd._progress_bar
calls = []

def bar_then_wait(desc):  # the second shot is under way: say so, then keep working until signalled
    bar, progress = real(desc)
    calls.append(desc)

    def hit(done, total):
        progress(done, total)
        if len(calls) == 2 and done >= 2:
            marker.write_text("second shot")
            for _ in range(600):
                time.sleep(0.1)

    return bar, hit

cmd._progress_bar = bar_then_wait
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_a_terminate_or_hangup_signal_keeps_the_finished_shots(tmp_path: Path, astro_plate: Path,
                                                               signame: str) -> None:
    """A farm's SIGTERM (or `timeout`, systemd, a closed terminal's SIGHUP) during `analyze --all`
    killed the process and lost the shots already analysed; it now stops as Ctrl-C does: the
    finished shot is saved and the exit code is 128 + the signal."""
    import os
    import signal
    import subprocess
    import sys
    import time

    folder = wf.create_project(tmp_path / "astro", plates=[astro_plate], whole_plate_shot=False).path
    proj = Project.load(folder)
    wf.add_shot_range(proj, None, 0, 5, name="one")
    wf.add_shot_range(proj, None, 6, 13, name="two")
    proj.save()
    driver = tmp_path / "driver.py"
    driver.write_text(_SIGNAL_DRIVER)
    marker = tmp_path / "marker"
    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(repo))
    sig = getattr(signal, signame)

    def default_disposition() -> None:
        # A runner started under nohup ignores SIGHUP, the child inherits that, and the CLI rightly
        # leaves an ignored signal ignored (its user asked to survive a hangup): give the child the
        # default a terminal session has, so the test does not depend on how it was started.
        signal.signal(sig, signal.SIG_DFL)

    proc = subprocess.Popen([sys.executable, str(driver), str(marker), "project", "analyze", str(folder), "--all"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=repo,
                            preexec_fn=default_disposition)
    deadline = time.monotonic() + 240
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), proc.communicate(timeout=60)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert "interrupted while analysing shot 'two'" in err and "saved: one" in err and signame in err
    assert "Traceback" not in err
    shots = {s.name: s for s in Project.load(folder).shots}
    assert shots["one"].has_analysis and not shots["two"].has_analysis


def test_shots_options_the_chosen_way_ignores_are_refused(tmp_path: Path, plate: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    """`shots --detect-cuts --name foo` and `shots --range 0-10 --threshold 5` ignored the option;
    `--handles 500` on a 120-frame plate was accepted."""
    folder = str(wf.create_project(tmp_path / "s", plates=[plate], whole_plate_shot=False).path)
    rc, _, err = run(capsys, "shots", folder, "--detect-cuts", "--name", "foo")
    assert rc == 1 and "--name names the one shot of --range" in err
    rc, _, err = run(capsys, "shots", folder, "--range", "0-10", "--threshold", "5")
    assert rc == 1 and "--threshold tunes --detect-cuts" in err
    rc, _, err = run(capsys, "shots", folder, "--range", "0-10", "--handles", "500")
    assert rc == 4 and "--handles 500 is as long as the plate itself (120 frames)" in err
    rc, _, err = run(capsys, "shots", folder, "--range", "0-10", "--handles", "-1")
    assert rc == 4 and "give 0 or more" in err
    assert Project.load(folder).shots == []
    rc, _, err = run(capsys, "shots", folder, "--range", "2-10", "--handles", "5", "--name", "a")
    assert rc == 0 and "warning: plate A001 has only 2 head" in err
    assert [s.name for s in Project.load(folder).shots] == ["a"]


def test_exit_codes_follow_the_documented_table(tmp_path: Path, plate: Path, capsys: pytest.CaptureFixture,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/cli.md: 4 for a shot, frame or value that does not fit; measured were 1 for `render
    --shot nosuch`, `render --frames 40-200`, `project set mode=swapp`, `library show nobody`, and
    5 (a model file problem) for `models install` of an empty folder, which is 1 ("any other error")."""
    folder = str(wf.create_project(tmp_path / "p", plates=[plate]).path)
    out = str(tmp_path / "r.mov")
    assert main(["render", folder, "--shot", "nosuch", "--out", out]) == 4
    assert "no shot 'nosuch'" in capsys.readouterr().err
    assert main(["render", folder, "--frames", "40-200", "--out", out]) == 4
    assert "--frames 40-200 is outside the plate" in capsys.readouterr().err
    rc, _, err = run(capsys, "set", folder, "--shot", "A001", "mode=swapp")
    assert rc == 4 and "swapp" in err
    assert run(capsys, "set", folder, "--shot", "A001", "foo=bar")[0] == 4
    (tmp_path / "lib").mkdir()
    assert main(["library", "show", "nobody", "--library", str(tmp_path / "lib")]) == 4
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("FACSIMILE_HOME", str(tmp_path / "home"))
    assert main(["models", "install", str(tmp_path / "empty")]) == 1
    assert "holds no files to install" in capsys.readouterr().err
    assert not (tmp_path / "r.mov").exists()


def test_curve_names_as_users_type_them_and_paths_that_are_no_project(tmp_path: Path, plate: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    """`--curve 12` was refused (the AU-number rule matched nothing without a side) and the
    curves CSV's own gaze_angle_x was unknown; a plate or a plain folder given as the project
    read 'PATH.facsimile: the folder does not exist'."""
    from core.project.workflow import resolve_curve

    cs = CurveSet(["AU06", "AU12", "AU12L", "AU12R", "gaze_x", "gaze_y"], (0, 3))
    assert [resolve_curve(cs, n) for n in ("12", "au12", "AU6", "12l", "12R", "gaze_angle_x", "GAZE_ANGLE_Y")] == [
        "AU12", "AU12", "AU06", "AU12L", "AU12R", "gaze_x", "gaze_y"]
    with pytest.raises(ProjectError, match="no curve '99'"):
        resolve_curve(cs, "99")
    (tmp_path / "folder").mkdir()
    for path, says in ((tmp_path / "folder", "is a folder with no project.json in it"),
                       (plate, "is a file, not a project folder"),
                       (tmp_path / "none", "no project at .*none.facsimile: the folder does not exist")):
        for action in (["info"], ["set", "--shot", "a", "blend=none"]):
            rc, _out, err = run(capsys, action[0], str(path), *action[1:])
            assert rc == 4 and re.search(says, err), (action, err)
