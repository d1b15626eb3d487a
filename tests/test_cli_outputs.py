"""Commands that write a file do not replace what they should not: an existing file without
--overwrite, their own input, a project's document, or an earlier analysis left half in place."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.cli import main
from tests.mediagen import analysed_astronaut_project, make_astronaut_plate


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("proj")
    proj = analysed_astronaut_project(folder, 4)
    assert main(["project", "analyze", str(proj)]) == 0
    return proj


def test_export_otio_never_writes_over_the_project_or_an_existing_file(project, tmp_path):
    """`project export-otio P P/project.json` replaced the project's document with a timeline (the
    last edit was in no backup); any existing OUT was replaced silently, any extension taken."""
    work = tmp_path / "w.facsimile"
    shutil.copytree(project, work)
    doc = (work / "project.json").read_bytes()
    for overwrite in ([], ["--overwrite"]):
        assert main(["project", "export-otio", str(work), str(work / "project.json"), *overwrite]) != 0
    assert (work / "project.json").read_bytes() == doc
    assert main(["project", "export-otio", str(work), str(tmp_path / "cut.txt")]) != 0
    out = tmp_path / "cut.otio"
    assert main(["project", "export-otio", str(work), str(out)]) == 0
    first = out.read_bytes()
    out.write_text("the editor's own timeline")
    assert main(["project", "export-otio", str(work), str(out)]) != 0
    assert out.read_text() == "the editor's own timeline"
    assert main(["project", "export-otio", str(work), str(out), "--overwrite"]) == 0
    assert out.read_bytes() == first


def test_import_au_does_not_replace_its_input_or_an_existing_output(tmp_path):
    """`import-au victim.csv -o victim.csv` turned the CSV into JSON; an existing -o was replaced."""
    assert main(["analyze", str(make_astronaut_plate(tmp_path / "a.mp4", 3)), "-o", str(tmp_path / "an")]) == 0
    csv = tmp_path / "an" / "a.csv"  # an OpenFace-style CSV of a real analysis
    before = csv.read_bytes()
    for overwrite in ([], ["--overwrite"]):
        assert main(["import-au", str(csv), "-o", str(csv), *overwrite]) != 0
    assert csv.read_bytes() == before
    out = tmp_path / "c.json"
    out.write_text("{}")
    assert main(["import-au", str(csv), "-o", str(out)]) != 0 and out.read_text() == "{}"
    assert main(["import-au", str(csv), "-o", str(out), "--overwrite"]) == 0
    assert "faces" in json.loads(out.read_text())


def test_project_curves_refuses_an_existing_file(project, tmp_path):
    out = tmp_path / "c.csv"
    assert main(["project", "curves", str(project), "--shot", "sh001", "-o", str(out)]) == 0
    out.write_text("keep")
    assert main(["project", "curves", str(project), "--shot", "sh001", "-o", str(out)]) != 0
    assert out.read_text() == "keep"
    assert main(["project", "curves", str(project), "--shot", "sh001", "-o", str(out), "--overwrite"]) == 0
    assert out.read_text().startswith("frame")


def test_analyze_into_a_folder_with_an_earlier_analysis(tmp_path):
    """A second input analysed into the same folder left the first one's aus.json and CSV beside
    the new analysis.npz; and a failed analysis left an empty folder behind."""
    a = make_astronaut_plate(tmp_path / "a.mp4", 3)
    b = make_astronaut_plate(tmp_path / "b.mp4", 3)
    out = tmp_path / "an"
    assert main(["analyze", str(a), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "analysis.npz", "aus.json"]
    assert main(["analyze", str(b), "-o", str(out)]) != 0  # refused: the earlier analysis stays whole
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "analysis.npz", "aus.json"]
    assert main(["analyze", str(b), "-o", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["analysis.npz", "aus.json", "b.csv"]
    assert main(["analyze", str(tmp_path / "a.mp4"), "-o", str(tmp_path / "x"), "--frames", "50-60"]) != 0
    assert not (tmp_path / "x").exists()


def test_bad_values_are_refused_with_a_message_not_a_traceback(project, tmp_path, capsys):
    """Probed on the CLI: each of these was an 'internal error' (a Python exception) or was taken
    and then quietly changed (a key of 99 reported as set, then clamped to 5; a mistyped model id
    rendered without its stage and exit 0; curves of frames the plate has not got written as nan)."""
    cases = [
        (["project", "create", ""], "no project folder name"),
        (["project", "trim", str(project), "--shot", "sh001", "--range", "1-2", "--handles", "-1"], "handles"),
        (["project", "key", str(project), "--shot", "sh001", "--curve", "AU12", "--frame", "1", "--value", "99"],
         "outside the AU scale"),
        (["project", "curves", str(project), "--shot", "sh001", "--frames", "2-200"], "outside plate"),
        (["render", str(project), "--out", str(tmp_path / "r.mov"), "--restore", "gpen_bfr_51"], "unknown model"),
        (["render", str(project), "--out", str(tmp_path / "r.mov"), "--occlusion", "bogus"], "unknown model"),
    ]
    for argv, says in cases:
        capsys.readouterr()
        code = main(argv)
        err = capsys.readouterr().err
        assert code not in (0, 2) and says in err and "internal error" not in err, (argv, code, err)
    assert not (tmp_path / "r.mov").exists()


def test_a_damaged_project_value_is_named(project, tmp_path, capsys):
    """A negative frame_in passed the check and failed later in OTIO ('value cannot be negative'),
    a NaN pixel aspect was taken and printed as nan (and as invalid JSON by --json), and another
    program's JSON (app "otherapp") opened as a project."""
    for edit, says in (((lambda d: d["shots"][0].update(frame_in=-10)), "frame_in"),
                       ((lambda d: d["plates"][0].update(pixel_aspect=float("nan"))), "pixel_aspect"),
                       ((lambda d: d.update(app="otherapp")), "otherapp")):
        work = tmp_path / f"w_{says}.facsimile"
        shutil.copytree(project, work)
        doc = json.loads((work / "project.json").read_text())
        edit(doc)
        (work / "project.json").write_text(json.dumps(doc))
        capsys.readouterr()
        assert main(["project", "info", str(work)]) == 4
        assert says in capsys.readouterr().err


def test_a_no_face_analysis_csv_reads_back_with_import_au(tmp_path):
    """With no face found the CSV had no AU columns (365 columns against 421), so import-au
    refused it as "not an OpenFace CSV". It now has them, 0 with success 0, as OpenFace writes."""
    import numpy as np

    from tests.mediagen import make_video

    clip = make_video(tmp_path / "noface.mp4", frames=4)  # counter frames: no face
    assert main(["analyze", str(clip), "-o", str(tmp_path / "an")]) == 0
    with_face = tmp_path / "face"
    assert main(["analyze", str(make_astronaut_plate(tmp_path / "a.mp4", 2)), "-o", str(with_face)]) == 0
    head = (tmp_path / "an" / "noface.csv").read_text().splitlines()[0]
    assert head == (with_face / "a.csv").read_text().splitlines()[0]
    assert main(["import-au", str(tmp_path / "an" / "noface.csv"), "-o", str(tmp_path / "c.json")]) == 0
    face = json.loads((tmp_path / "c.json").read_text())["faces"]["0"]
    assert face["success"] == [False] * 4 and all(v is None for v in face["AU12"])
    assert np.isnan(np.array(face["AU12"], float)).all()


def test_a_damaged_project_points_to_the_recover_command(project, tmp_path, capsys):
    """The message named a Python call (`Project.load(path, document=...)`); a byte-order mark,
    which Windows editors add, was refused with Python's "decode using utf-8-sig"."""
    work = tmp_path / "d.facsimile"
    shutil.copytree(project, work)
    assert main(["project", "gain", str(work), "--shot", "sh001", "--au", "12", "--gain", "1.2"]) == 0  # a backup
    doc = (work / "project.json").read_bytes()
    (work / "project.json").write_bytes(b"\xef\xbb\xbf" + doc)
    assert main(["project", "info", str(work)]) == 0
    (work / "project.json").write_bytes(doc[: len(doc) // 2])
    capsys.readouterr()
    assert main(["project", "info", str(work)]) == 4
    err = capsys.readouterr().err
    assert f"facsimile project recover {work} --use backup 1" in err and "Project.load" not in err
    assert main(["project", "recover", str(work), "--use", "backup", "1"]) == 0
    assert main(["project", "info", str(work)]) == 0


def test_a_preset_file_takes_au_keys_as_the_docs_write_them(project, tmp_path, capsys):
    """docs/api.md writes au_gain keys as 12, "12" or "AU12"; a preset file with "AU12" was refused
    ("expected an AU number"), and a side key got no hint of how to gain one side."""
    work = tmp_path / "p.facsimile"
    shutil.copytree(project, work)
    preset = tmp_path / "calm.json"
    preset.write_text(json.dumps({"enable_smooth": True, "au_gain": {"AU12": 0.5, "4": 1.2}}))
    assert main(["project", "preset", str(work), str(preset), "--shot", "sh001"]) == 0
    preset.write_text(json.dumps({"au_gain": {"12L": 0.5}}))
    capsys.readouterr()
    assert main(["project", "preset", str(work), str(preset), "--shot", "sh001"]) != 0
    assert "project gain --au 12L" in capsys.readouterr().err


def test_rendering_a_shot_without_a_face_exits_6(tmp_path, capsys):
    """The docs' exit code for "no usable face where one is needed" is 6; render said 1."""
    from tests.mediagen import make_video

    clip = make_video(tmp_path / "noface.mp4", frames=3)
    proj = tmp_path / "n.facsimile"
    assert main(["project", "create", str(proj), "--plate", str(clip)]) == 0
    assert main(["project", "analyze", str(proj)]) == 0
    capsys.readouterr()
    assert main(["render", str(proj), "--out", str(tmp_path / "r.mov")]) == 6
    assert "no face" in capsys.readouterr().err


def test_a_mistyped_library_folder_is_named(project, tmp_path, capsys):
    """`library --library nonexistent list` said no templates and exit 0, as did a file given as
    the library; `project assign --library` found no template there."""
    for argv in (["library", "--library", str(tmp_path / "nope"), "list"],
                 ["project", "assign", str(project), "--shot", "sh001", "--template", "x", "--library",
                  str(tmp_path / "nope")]):
        capsys.readouterr()
        assert main(argv) not in (0, 2)
        assert "nope" in capsys.readouterr().err


def test_prores_422_of_an_odd_width_plate_is_refused_before_rendering(tmp_path, capsys):
    """It failed in every chunk, each saying "run again to resume", which could only fail again."""
    from tests.mediagen import make_video

    clip = make_video(tmp_path / "odd.mp4", frames=2, width=321, height=240, pix_fmt="yuv444p")
    proj = tmp_path / "o.facsimile"
    assert main(["project", "create", str(proj), "--plate", str(clip)]) == 0
    assert main(["project", "analyze", str(proj)]) == 0
    capsys.readouterr()
    assert main(["render", str(proj), "--out", str(tmp_path / "r.mov"), "--codec", "prores422hq"]) == 3
    assert "even width" in capsys.readouterr().err and not (tmp_path / ".facsimile-jobs").exists()


def test_a_past_consent_date_is_said_and_a_folder_is_no_image(tmp_path, caplog, capsys):
    """`library consent --until 2001-01-01` was taken without a word (every render would refuse the
    template later); compare-faces given a folder said "image not found"."""
    import cv2
    import skimage.data

    still = tmp_path / "a.png"
    cv2.imwrite(str(still), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    lib = tmp_path / "lib"
    with caplog.at_level("WARNING", logger="facsimile"):
        assert main(["library", "--library", str(lib), "add", "A", str(still), "--consent-by", "A",
                     "--consent-use", "test", "--consent-until", "2001-01-01"]) == 0
    assert "has passed" in caplog.text
    capsys.readouterr()
    assert main(["compare-faces", str(tmp_path), str(still)]) != 0
    assert "is a folder" in capsys.readouterr().err
