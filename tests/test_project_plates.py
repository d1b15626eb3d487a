"""Plate files against the project's record (core.project.plates): a moved plate is relinked,
a replaced one is told apart from a re-graded one, and a render never runs on frames its
shot was not analysed on. Real PyAV files and image sequences throughout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path, PurePath

import pytest

from core.cli import main
from core.errors import FacsimileError, ProjectError
from core.project import Project, UndoStack
from core.project import workflow as wf
from core.project.plates import (
    PlateMismatch,
    check_plate,
    fact_differences,
    moved_roots,
    relink_folder,
    relink_moved,
    relink_plate,
)
from tests.mediagen import analysed_astronaut_project, make_astronaut_plate, make_sequence, make_video


@pytest.fixture()
def show(tmp_path: Path) -> Project:
    """A saved project of two plates under tmp/day1 (A001: 30 frames TC 01:00:00:00, B002: 20 frames)
    with a shot on A001."""
    day = tmp_path / "day1"
    day.mkdir()
    a = make_video(day / "A001.mov", frames=30, fps=24, timecode="01:00:00:00", gop=12)
    (day / "cam").mkdir()
    b = make_video(day / "cam" / "B002.mov", frames=20, fps=24, gop=10)
    proj = wf.create_project(tmp_path / "show", plates=[a, b], whole_plate_shot=False)
    wf.add_shot_range(proj, "A001", 5, 24, name="sh010")
    proj.save()
    return Project.load(proj.path)


def test_check_tells_missing_replaced_and_regraded_plates_apart(show: Project, tmp_path: Path) -> None:
    from core.media.reader import open_media

    a = show.plates["A001"]
    with open_media(a.path) as m:
        assert check_plate(a, m).state == "ok"
    # the same frame count, size, rate and timecode, other pixels: a re-grade, the shots still fit
    make_video(a.path, frames=30, fps=24, timecode="01:00:00:00", gop=12, options={"crf": "30"})
    with open_media(a.path) as m:
        check = check_plate(a, m)
    assert check.state == "changed" and check.fits and "re-grade" in check.message
    # another cut of the plate: six frames fewer; its frames are not the analysed ones
    make_video(a.path, frames=24, fps=24, timecode="01:00:00:00", gop=12)
    with open_media(a.path) as m:
        check = check_plate(a, m)
    assert check.state == "different" and not check.fits
    assert check.differences == ("frame count 24 (the project has 30)",)
    Path(a.path).unlink()
    check = check_plate(a)
    assert check.state == "missing" and "relink" in check.message
    assert any("file missing" in w for w in wf.project_warnings(show))


def test_relink_a_moved_plate_takes_its_hash_and_undoes(show: Project, tmp_path: Path) -> None:
    from core.project.plates import interpret_plate

    interpret_plate(show, "A001", colorspace="ARRI LogC3 (EI800)", pixel_aspect=2.0)
    old = show.plates["A001"]
    moved = tmp_path / "elsewhere" / "A001_v1.mov"
    moved.parent.mkdir()
    shutil.move(old.path, moved)
    assert check_plate(old).state == "missing"
    stack = UndoStack()
    plate, notes = relink_plate(show, "A001", moved, stack=stack)
    assert notes == [] and plate.path == str(moved.resolve()) and show.plates["A001"] is plate
    assert (plate.frame_count, plate.width, plate.timecode, plate.hash) == (30, 320, "01:00:00:00", old.hash)
    # what the user said of the plate (not in its files) moves with it
    assert (plate.colorspace, plate.pixel_aspect) == ("ARRI LogC3 (EI800)", 2.0)
    assert check_plate(plate).state == "ok" and wf.project_warnings(show) == []
    stack.undo()
    assert show.plates["A001"] is old
    stack.redo()
    show.save()
    assert Project.load(show.path).plates["A001"].path == str(moved.resolve())


def test_relink_refuses_a_file_that_does_not_fit_and_changes_nothing(show: Project, tmp_path: Path) -> None:
    before = show.plates["A001"]
    shorter = make_video(tmp_path / "A001_short.mov", frames=24, fps=25, timecode="01:00:00:00")
    with pytest.raises(ProjectError) as err:
        relink_plate(show, "A001", shorter)
    msg = str(err.value)
    assert "frame count 24 (the project has 30)" in msg and "frame rate 25" in msg and "sh010" in msg
    assert show.plates["A001"] is before
    # with force the record follows the file and the shots are named for analysing again
    stack = UndoStack()
    plate, notes = relink_plate(show, "A001", shorter, force=True, stack=stack)
    assert plate.frame_count == 24 and any("analyse shots sh010 again" in n for n in notes)
    stack.undo()
    # a different start timecode alone fits (frames are counted from the file's start), and is said
    other_tc = make_video(tmp_path / "A001_tc.mov", frames=30, fps=24, timecode="02:00:00:00", gop=12)
    plate, notes = relink_plate(show, "A001", other_tc)
    assert notes == ["plate A001: start timecode 02:00:00:00 (the project has 01:00:00:00)"]
    with pytest.raises(ProjectError, match="does not exist"):
        relink_plate(show, "A001", tmp_path / "nope.mov")
    with pytest.raises(ProjectError, match="no plate 'Z9'"):
        relink_plate(show, "Z9", other_tc)


def test_relink_folder_finds_every_missing_plate_in_one_undo_step(show: Project, tmp_path: Path) -> None:
    shutil.move(tmp_path / "day1", tmp_path / "mnt_day1")
    assert all(check_plate(p).state == "missing" for p in show.plates.values())
    stack = UndoStack()
    relinked, not_found = relink_folder(show, tmp_path / "day1", tmp_path / "mnt_day1", stack=stack)
    assert relinked == ["A001", "B002"] and not_found == []
    assert show.plates["B002"].path == str((tmp_path / "mnt_day1" / "cam" / "B002.mov").resolve())
    assert len(stack) == 1 and wf.project_warnings(show) == []
    stack.undo()
    assert all(check_plate(p).state == "missing" for p in show.plates.values())
    # a plate that is not at the new place either is reported and left as it was
    (tmp_path / "mnt_day1" / "cam" / "B002.mov").unlink()
    relinked, not_found = relink_folder(show, tmp_path / "day1", tmp_path / "mnt_day1")
    assert relinked == ["A001"] and not_found == ["B002"]
    with pytest.raises(ProjectError, match="no plate of the project was found"):
        relink_folder(show, tmp_path / "day1", tmp_path / "empty")


def test_locating_one_moved_plate_finds_the_others_in_the_same_tree(show: Project, tmp_path: Path) -> None:
    assert moved_roots("/mnt/a/show/day1/A.mov", "/Volumes/raid/show/day1/A_v2.mov") == \
        (PurePath("/mnt/a"), PurePath("/Volumes/raid"))
    assert moved_roots("/a/day1/A.mov", "/a/day1_copy/A.mov") == (PurePath("/a/day1"), PurePath("/a/day1_copy"))
    shutil.move(tmp_path / "day1", tmp_path / "raid")
    stack = UndoStack()
    relinked, notes = relink_moved(show, "A001", tmp_path / "raid" / "A001.mov", stack=stack)
    assert relinked == ["A001", "B002"] and notes == [] and len(stack) == 1
    assert wf.project_warnings(show) == []
    stack.undo()
    assert all(check_plate(p).state == "missing" for p in show.plates.values())
    # another plate found there that does not fit is left missing and named, never forced
    make_video(tmp_path / "raid" / "cam" / "B002.mov", frames=7, fps=24)
    relinked, notes = relink_moved(show, "A001", tmp_path / "raid" / "A001.mov")
    assert relinked == ["A001"] and len(notes) == 1 and "plate B002 is at" in notes[0] and "frame count 7" in notes[0]
    assert check_plate(show.plates["B002"]).state == "missing"
    with pytest.raises(PlateMismatch) as err:
        relink_moved(show, "B002", tmp_path / "raid" / "cam" / "B002.mov")
    assert err.value.differences == ["frame count 7 (the project has 20)"]


def test_relink_an_image_sequence(tmp_path: Path) -> None:
    seq = make_sequence(tmp_path / "v1", frames=4)
    proj = wf.create_project(tmp_path / "s", plates=[seq])
    shutil.move(tmp_path / "v1", tmp_path / "v2")
    assert check_plate(proj.plates["shot"]).state == "missing"
    relinked, _ = relink_folder(proj, tmp_path / "v1", tmp_path / "v2")
    assert relinked == ["shot"] and check_plate(proj.plates["shot"]).state == "ok"
    assert proj.plates["shot"].path.endswith("v2/shot.####.png")
    # picking one file of the sequence (what a file dialog gives) keeps the plate a sequence
    shutil.move(tmp_path / "v2", tmp_path / "v4")
    plate, _ = relink_plate(proj, "shot", tmp_path / "v4" / "shot.1002.png")
    assert plate.path.endswith("v4/shot.####.png") and plate.frame_count == 4
    shorter = make_sequence(tmp_path / "v3", frames=3)
    with pytest.raises(ProjectError, match="frame count 3"):
        relink_plate(proj, "shot", shorter)


def test_cli_relink(show: Project, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    shutil.move(tmp_path / "day1", tmp_path / "mnt")
    rc = main(["project", "info", str(show.path), "--json"])
    info = json.loads(capsys.readouterr().out)
    assert rc == 0 and sum("relink" in w for w in info["warnings"]) == 2
    rc = main(["project", "relink", str(show.path), "--plate", "A001", str(tmp_path / "mnt" / "A001.mov"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["relinked"] == {"A001": str((tmp_path / "mnt" / "A001.mov").resolve())}
    rc = main(["project", "relink", str(show.path), "--folder", str(tmp_path / "day1"), str(tmp_path / "mnt")])
    out, _ = capsys.readouterr()
    assert rc == 0 and "plate B002 -> " in out
    assert wf.project_warnings(Project.load(show.path)) == []
    # a file that does not fit: one clear line, project.json untouched
    before = (show.path / "project.json").read_bytes()
    wrong = make_video(tmp_path / "wrong.mov", frames=5, fps=24)
    rc = main(["project", "relink", str(show.path), "--plate", "B002", str(wrong)])
    _, err = capsys.readouterr()
    assert rc != 0 and "frame count 5 (the project has 20)" in err
    assert (show.path / "project.json").read_bytes() == before


def test_fact_differences_of_a_reader(show: Project) -> None:
    from core.media.reader import open_media

    with open_media(show.plates["B002"].path) as m:
        assert fact_differences(show.plates["A001"], m.info) == (
            ["frame count 20 (the project has 30)"], ["start timecode none (the project has 01:00:00:00)"])


def test_render_refuses_a_replaced_plate_and_notes_a_regraded_one(tmp_path: Path) -> None:
    from core.render.delivery import prepare_render, render_shot

    folder = analysed_astronaut_project(tmp_path, 6)
    plate = Path(Project.load(folder).plates["plate"].path)
    # re-graded: same frames, other pixels -> renders, and says so in its metadata
    make_astronaut_plate(plate, 6)
    out = tmp_path / "r.mov"
    result = render_shot(str(folder), str(out), frames=(0, 1))
    assert any("changed since it was added" in n for n in result["notes"])
    doc = json.loads(Path(result["sidecar"]).read_text())
    assert any("changed since it was added" in n for n in doc["notes"])
    # replaced by a shorter cut: refused before anything is written
    make_astronaut_plate(plate, 4)
    with pytest.raises(FacsimileError, match=r"frame count 4 \(the project has 6\)"):
        prepare_render(str(folder), str(tmp_path / "r2.mov"), frames=(0, 1))
    assert not (tmp_path / "r2.mov").exists()


def test_a_project_moved_with_its_plates_finds_them_beside_it(tmp_path: Path) -> None:
    """A show tree copied or mounted elsewhere (project and plates together): plates missing at
    their recorded path are taken from the same place relative to the project when the file there
    has the recorded hash; used in memory and said, kept once saved. Another file there is not used."""
    show = tmp_path / "a" / "show"
    (show / "plates").mkdir(parents=True)
    a = make_video(show / "plates" / "A001.mov", frames=12, fps=24)
    b = make_video(show / "plates" / "B002.mov", frames=10, fps=24)
    seq = make_sequence(show / "plates" / "C003", frames=3)
    proj = wf.create_project(show / "ep", plates=[a, b, seq])
    doc = json.loads((proj.path / "project.json").read_text())
    assert [pl["relative_path"] for pl in doc["plates"]] == ["../plates/A001.mov", "../plates/B002.mov",
                                                             "../plates/C003/shot.####.png"]
    shutil.move(tmp_path / "a", tmp_path / "b")
    moved = tmp_path / "b" / "show"
    make_video(moved / "plates" / "B002.mov", frames=10, fps=24, options={"crf": "35"})  # not the recorded file
    loaded = Project.load(moved / "ep.facsimile")
    assert loaded.relocated == {"A001": str(a), "shot": seq}
    assert loaded.plates["A001"].path == str(moved / "plates" / "A001.mov")
    assert loaded.plates["shot"].path == str(moved / "plates" / "C003" / "shot.####.png")
    assert loaded.plates["B002"].path == str(b)  # another file at its place: left missing
    warns = wf.project_warnings(loaded)
    assert sum("found beside the moved project" in w for w in warns) == 2
    assert any(w.startswith("plate B002: file missing") for w in warns)
    loaded.save()
    assert loaded.relocated == {}
    again = Project.load(moved / "ep.facsimile")
    assert again.relocated == {} and again.plates["A001"].path == str(moved / "plates" / "A001.mov")


def test_a_moved_project_renders_from_the_plate_beside_it(tmp_path: Path) -> None:
    from core.render.delivery import render_shot

    (tmp_path / "a").mkdir()
    analysed_astronaut_project(tmp_path / "a", 3)
    shutil.move(tmp_path / "a", tmp_path / "b")
    result = render_shot(str(tmp_path / "b" / "p.facsimile"), str(tmp_path / "r.mov"), frames=(0, 1))
    assert any("found beside the moved project" in n and str(tmp_path / "b" / "plate.mp4") in n
               for n in result["notes"])
    doc = json.loads(Path(result["sidecar"]).read_text())
    assert doc["inputs"]["plate"]["path"] == str(tmp_path / "b" / "plate.mp4")


def test_another_clip_copied_over_a_plate_is_named_so_and_not_analysed(show: Project, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    """Another clip copied to a plate's path (354 frames at 30 fps over 30 at 24): `project info`
    called it a re-grade ("same frame count, size and rate") without opening it, and `project
    analyze` analysed its first 30 frames as the shot's. Now the check opens a file whose hash
    differs, and analysis refuses it as a render does; the shot keeps what it had."""
    a = show.plates["A001"]
    make_video(a.path, frames=40, fps=30, timecode="01:00:00:00", gop=12)
    check = check_plate(a)  # no reader given: opened because the hash differs
    assert check.state == "different" and "frame count 40" in check.message and "re-grade" not in check.message
    assert any("frame count 40" in w for w in wf.project_warnings(show))
    shot = next(s for s in show.shots if s.name == "sh010")
    with pytest.raises(ProjectError, match="cannot analyse shot sh010.*frame rate 30"):
        wf.analyze_shot(show, shot)
    assert shot.analysis is None
    assert main(["project", "analyze", str(show.path)]) != 0
    assert "frame count 40" in capsys.readouterr().err
    assert all(s.analysis is None for s in Project.load(show.path).shots)
    # a re-grade (same facts) is still told apart without a reader
    make_video(a.path, frames=30, fps=24, timecode="01:00:00:00", gop=12, options={"crf": "30"})
    assert check_plate(a).state == "changed"
